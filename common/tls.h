/*
 * tls.h: the TLS settings of sekisho, in one place (OpenSSL 3).
 *
 * tls_server_ctx_new() builds the server context every TLS listener uses:
 * TLS 1.2 and newer, forward-secret AEAD ciphers for TLS 1.2 and the
 * library's TLS 1.3 suites, the server's cipher order, no compression, no
 * renegotiation, no session resumption.  The privileged parent calls it
 * before it forks, so the key is read while it still can, and the
 * children only ever use the finished context.
 *
 * tls_client_ctx_new() builds the context of the outbound SMTP client (the
 * mta process): TLS 1.2 and newer, the same AEAD suites (plus DHE for old
 * peers), no compression, no renegotiation, the trusted CA certificates
 * loaded when a file is given.  It sets no verification mode: the policy
 * (none/may/encrypt/verify) is chosen per connection, and so are SNI and
 * the expected host name (tls_client_ssl_new).
 */
#ifndef SEKISHO_TLS_H
#define SEKISHO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* TLS 1.2: ECDHE key exchange with AEAD ciphers only. */
#define TLS_CIPHERS_TLS12						\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

/* The client accepts these too: DHE for peers without ECDHE. */
#define TLS_CIPHERS_CLIENT_TLS12					\
	TLS_CIPHERS_TLS12 ":"						\
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:"		\
	"DHE-RSA-CHACHA20-POLY1305"

SSL_CTX	*tls_server_ctx_new(const char *, const char *, char *, size_t);
SSL_CTX	*tls_client_ctx_new(const char *, char *, size_t);
SSL	*tls_client_ssl_new(SSL_CTX *, const char *, bool, char *, size_t);
bool	 tls_version_cipher(SSL *, char *, size_t);
const char *tls_error_text(char *, size_t);
SSL_CTX	*tls_ctx_fail(SSL_CTX *, char *, size_t, const char *, const char *);

struct bufferevent;
char	*tls_bev_error_text(struct bufferevent *, char *, size_t);

#endif
