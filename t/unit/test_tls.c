/*
 * test_tls.c: common/tls.c: the server context policy, key/certificate
 * checks and the version/cipher text, with key pairs made at test time
 * and handshakes over in-memory BIO pairs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "test.h"
#include "tls.h"

static char	 tmpdir[] = "/tmp/sekisho-test-tls.XXXXXX";
static char	 cert_path[256], key_path[256], key2_path[256], junk_path[256];

/* write_key: a new P-256 key to path; returns it. */
static EVP_PKEY *
write_key(const char *path)
{
	EVP_PKEY	*k = EVP_EC_gen("P-256");
	FILE		*f = fopen(path, "w");

	if (k == NULL || f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL,
	    0, NULL, NULL))
		abort();
	fclose(f);
	return k;
}

/* write_cert: a self-signed certificate for key to path. */
static void
write_cert(const char *path, EVP_PKEY *k)
{
	X509	*x = X509_new();
	FILE	*f = fopen(path, "w");

	if (x == NULL || f == NULL)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"mx.example", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (!X509_sign(x, k, EVP_sha256()) || !PEM_write_X509(f, x))
		abort();
	fclose(f);
	X509_free(x);
}

static void
setup(void)
{
	EVP_PKEY	*k, *k2;
	FILE		*f;

	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(cert_path, sizeof(cert_path), "%s/server.crt", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/server.key", tmpdir);
	snprintf(key2_path, sizeof(key2_path), "%s/other.key", tmpdir);
	snprintf(junk_path, sizeof(junk_path), "%s/junk.pem", tmpdir);
	k = write_key(key_path);
	k2 = write_key(key2_path);
	write_cert(cert_path, k);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	if ((f = fopen(junk_path, "w")) == NULL)
		abort();
	fputs("-----BEGIN CERTIFICATE-----\nnot base64 !!!\n"
	    "-----END CERTIFICATE-----\n", f);
	fclose(f);
}

static void
t_ctx_ok(void)
{
	char	 err[512];
	SSL_CTX	*ctx;

	ctx = tls_server_ctx_new(cert_path, key_path, err, sizeof(err));
	CHECKF(ctx != NULL, "%s", err);
	if (ctx == NULL)
		return;
	CHECK_INTEQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	CHECK(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	CHECK(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	CHECK(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	CHECK(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
	CHECK_INTEQ(SSL_CTX_get_num_tickets(ctx), 0);
	CHECK_INTEQ(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
	SSL_CTX_free(ctx);
}

static void
t_ctx_errors(void)
{
	static const struct {
		const char	*name, *cert, *key, *want;
	} cases[] = {
		{ "mismatch", cert_path, key2_path, "does not match" },
		{ "no cert file", "/nonexistent/c.pem", key_path,
		    "certificate /nonexistent/c.pem" },
		{ "no key file", cert_path, "/nonexistent/k.pem",
		    "private key /nonexistent/k.pem" },
		{ "junk cert", junk_path, key_path, "certificate" },
		{ "key as cert", key_path, key_path, "certificate" },
		{ "empty names", "", "", "no certificate or key file" },
	};
	char	 err[512];
	size_t	 i;
	SSL_CTX	*ctx;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ctx = tls_server_ctx_new(cases[i].cert, cases[i].key, err,
		    sizeof(err));
		CHECKF(ctx == NULL, "%s", cases[i].name);
		CHECKF(strstr(err, cases[i].want) != NULL, "%s: \"%s\"",
		    cases[i].name, err);
		SSL_CTX_free(ctx);
	}
	/* A short error buffer is cut, never overrun. */
	memset(err, 'x', sizeof(err));
	CHECK(tls_server_ctx_new(cert_path, key2_path, err, 8) == NULL);
	CHECK_INTEQ(strlen(err), 7);
}

/* handshake: run a client against ctx over a BIO pair; true if it worked. */
static bool
handshake(SSL_CTX *sctx, int client_max, char *vc, size_t vclen)
{
	SSL_CTX	*cctx = SSL_CTX_new(TLS_client_method());
	SSL	*srv = SSL_new(sctx), *cli = SSL_new(cctx);
	BIO	*b1, *b2;
	int	 i, rs = 0, rc = 0;
	bool	 ok = false;

	if (client_max != 0)
		SSL_set_max_proto_version(cli, client_max);
	SSL_set_security_level(cli, 0);
	BIO_new_bio_pair(&b1, 0, &b2, 0);
	SSL_set_bio(srv, b1, b1);
	SSL_set_bio(cli, b2, b2);
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	for (i = 0; i < 20; i++) {
		if (rc != 1)
			rc = SSL_do_handshake(cli);
		if (rs != 1)
			rs = SSL_do_handshake(srv);
		if (rc == 1 && rs == 1) {
			ok = true;
			break;
		}
		if ((rc != 1 && SSL_get_error(cli, rc) != SSL_ERROR_WANT_READ) ||
		    (rs != 1 && SSL_get_error(srv, rs) != SSL_ERROR_WANT_READ))
			break;
	}
	if (vc != NULL)
		tls_version_cipher(ok ? srv : NULL, vc, vclen);
	SSL_free(srv);
	SSL_free(cli);
	SSL_CTX_free(cctx);
	return ok;
}

static void
t_handshake(void)
{
	char	 err[512], vc[128];
	SSL_CTX	*ctx;

	if ((ctx = tls_server_ctx_new(cert_path, key_path, err,
	    sizeof(err))) == NULL) {
		CHECKF(0, "%s", err);
		return;
	}
	CHECK(handshake(ctx, 0, vc, sizeof(vc)));
	CHECKF(strncmp(vc, "TLSv1.3 TLS_", 12) == 0, "%s", vc);
	CHECK(handshake(ctx, TLS1_2_VERSION, vc, sizeof(vc)));
	CHECKF(strncmp(vc, "TLSv1.2 ECDHE-ECDSA-", 20) == 0, "%s", vc);
	CHECKF(strstr(vc, "GCM") != NULL || strstr(vc, "CHACHA") != NULL,
	    "%s", vc);
	/* Older protocols are refused. */
	CHECK(!handshake(ctx, TLS1_1_VERSION, vc, sizeof(vc)));
	CHECK_STREQ(vc, "");
	/* Cut, not overrun, in a short buffer; NULL connection: "". */
	CHECK(!tls_version_cipher(NULL, vc, sizeof(vc)));
	CHECK_STREQ(vc, "");
	SSL_CTX_free(ctx);
}

static void
teardown(void)
{
	test_rmtree(tmpdir);
}

TEST_MAIN(setup, t_ctx_ok, t_ctx_errors, t_handshake, teardown)
