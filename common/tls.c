/*
 * tls.c: OpenSSL server and client contexts and TLS facts for logs and
 * headers.
 *
 * Owns the TLS policy (protocol versions, ciphers, options) so that every
 * listener of every sekisho program gets the same one.  Errors are
 * returned as text; nothing here logs or exits.
 *
 * Session resumption is off (no tickets, no server-side cache): the
 * context is built once in the parent and lives for the life of the
 * daemon, so a ticket key would never rotate and would weaken forward
 * secrecy for every TLS 1.2 session, while SMTP sessions are long and few
 * per client, so resumption saves almost nothing.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "util.h"

/*
 * tls_error_text: the OpenSSL error queue as one line ("" when empty),
 * into buf; the queue is cleared.
 */
const char *
tls_error_text(char *buf, size_t size)
{
	unsigned long	 e;
	char		 one[256];
	size_t		 n;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		n = strlen(buf);
		if (n > 0 && n + 2 < size)
			str_lcat(buf, "; ", size);
		str_lcat(buf, one, size);
	}
	return buf;
}

/*
 * tls_ctx_fail: put "what file: openssl errors" ("what: ..." without a
 * file) into err, free ctx (may be NULL), return NULL.
 */
SSL_CTX *
tls_ctx_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what,
    const char *file)
{
	char	 ossl[512];

	tls_error_text(ossl, sizeof(ossl));
	if (file != NULL)
		(void)str_printf(err, errlen, "%s %s: %s", what, file,
		    ossl[0] != '\0' ? ossl : "failed");
	else
		(void)str_printf(err, errlen, "%s: %s", what,
		    ossl[0] != '\0' ? ossl : "failed");
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * tls_server_ctx_new: a server context with the sekisho TLS policy, the
 * certificate chain from certfile and the key from keyfile (PEM), checked
 * to belong together.  NULL with the reason in err on failure.
 */
SSL_CTX *
tls_server_ctx_new(const char *certfile, const char *keyfile, char *err,
    size_t errlen)
{
	SSL_CTX		*ctx;
	uint64_t	 opts;

	if (errlen > 0)
		err[0] = '\0';
	ERR_clear_error();
	if (certfile == NULL || *certfile == '\0' || keyfile == NULL ||
	    *keyfile == '\0') {
		(void)str_printf(err, errlen, "no certificate or key file");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return tls_ctx_fail(NULL, err, errlen, "SSL_CTX_new", NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return tls_ctx_fail(ctx, err, errlen, "minimum protocol", NULL);
	if (!SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_TLS12))
		return tls_ctx_fail(ctx, err, errlen, "cipher list", NULL);
	opts = SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET;
	SSL_CTX_set_options(ctx, opts);
	/* TLS 1.3 sends tickets even with SSL_OP_NO_TICKET (stateful ones). */
	if (!SSL_CTX_set_num_tickets(ctx, 0))
		return tls_ctx_fail(ctx, err, errlen, "session tickets", NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Idle sessions are the common case; do not hold buffers for them. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, certfile) != 1)
		return tls_ctx_fail(ctx, err, errlen, "certificate", certfile);
	if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
		/* Loading checks the key against the certificate already. */
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			return tls_ctx_fail(ctx, err, errlen, "private key does "
			    "not match the certificate:", keyfile);
		return tls_ctx_fail(ctx, err, errlen, "private key", keyfile);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_ctx_fail(ctx, err, errlen,
		    "private key does not match the certificate:", keyfile);
	return ctx;
}

/*
 * tls_client_ctx_new: the outbound client context: TLS 1.2+, AEAD suites,
 * the CA certificates of cafile (PEM) trusted when cafile is given (NULL
 * or "": no verification is possible with this context).  The
 * verification mode stays SSL_VERIFY_NONE: tls_client_ssl_new decides per
 * connection.  NULL with the reason in err on failure.
 */
SSL_CTX *
tls_client_ctx_new(const char *cafile, char *err, size_t errlen)
{
	SSL_CTX		*ctx;

	if (errlen > 0)
		err[0] = '\0';
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return tls_ctx_fail(NULL, err, errlen, "SSL_CTX_new", NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return tls_ctx_fail(ctx, err, errlen, "minimum protocol", NULL);
	if (!SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_CLIENT_TLS12))
		return tls_ctx_fail(ctx, err, errlen, "cipher list", NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (cafile != NULL && *cafile != '\0' &&
	    SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
		return tls_ctx_fail(ctx, err, errlen, "CA certificates", cafile);
	return ctx;
}

/*
 * tls_client_ssl_new: one client connection to host (a DNS name or an IP
 * address): SNI for a name; with verify, the peer must chain to the
 * context's CA certificates and match host (the handshake fails
 * otherwise).  NULL with the reason in err on failure.
 */
SSL *
tls_client_ssl_new(SSL_CTX *ctx, const char *host, bool verify, char *err,
    size_t errlen)
{
	X509_VERIFY_PARAM	*param;
	unsigned char		 ip[16];
	bool			 is_ip;
	SSL			*ssl;
	char			 ossl[256];

	if (errlen > 0)
		err[0] = '\0';
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL) {
		(void)str_printf(err, errlen, "SSL_new: %s",
		    tls_error_text(ossl, sizeof(ossl)));
		return NULL;
	}
	is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (!is_ip && *host != '\0' && !SSL_set_tlsext_host_name(ssl, host))
		goto fail;
	if (!verify)
		return ssl;
	param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 :
	    X509_VERIFY_PARAM_set1_host(param, host, 0) != 1)
		goto fail;
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return ssl;
fail:
	(void)str_printf(err, errlen, "peer name %s: %s", host,
	    tls_error_text(ossl, sizeof(ossl)));
	SSL_free(ssl);
	return NULL;
}

/*
 * tls_version_cipher: "TLSv1.3 TLS_AES_256_GCM_SHA384" for an established
 * connection, into buf.  False (buf "") when there is none or it is cut.
 */
bool
tls_version_cipher(SSL *ssl, char *buf, size_t size)
{
	const char	*cipher;

	if (size > 0)
		buf[0] = '\0';
	if (ssl == NULL || (cipher = SSL_get_cipher_name(ssl)) == NULL ||
	    strcmp(cipher, "(NONE)") == 0)
		return false;
	if (!str_printf(buf, size, "%s %s", SSL_get_version(ssl), cipher)) {
		if (size > 0)
			buf[0] = '\0';
		return false;
	}
	return true;
}

/*
 * tls_bev_error_text: the OpenSSL errors an openssl bufferevent collected,
 * as one line separated by "; " ("" when there are none).
 */
char *
tls_bev_error_text(struct bufferevent *bev, char *buf, size_t size)
{
	unsigned long	 e;
	char		 one[256];

	if (size > 0)
		buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		if (buf[0] != '\0')
			str_lcat(buf, "; ", size);
		str_lcat(buf, one, size);
	}
	return buf;
}
