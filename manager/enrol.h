/*
 * enrol.h: the certificates of the central controller's push
 * (docs/central.md "Enrolment").
 *
 * The controller has its own certificate authority.  It issues one client
 * certificate to itself (the pusher) and one server certificate to each
 * scanner host it registers.  The private keys never leave the machine
 * that made them: a host sends a certificate request, the controller
 * answers with an enrolment file.  All keys are Ed25519; the TLS link is
 * TLS 1.3 only, both sides authenticated.
 *
 *   controller  CONFDIR/central/  (0700)
 *	ca.key ca.crt			the authority (CA:TRUE, 10 years)
 *	controller.key controller.crt	its client certificate (clientAuth)
 *	bundle.key bundle.pub		the bundle signing pair (bundle.h)
 *	hosts				the registered hosts (hosts.h)
 *   scanner host  CONFDIR/agent/  (0700)
 *	agent.key			made by enrol_agent_request
 *	agent.crt ca.crt bundle.pub	from the enrolment file
 *
 * Private keys are 0600, everything else 0644, each written to a
 * temporary name, fsynced and renamed.
 *
 * Request file (host to controller), text:
 *	SEKISHO-ENROL-REQUEST 1
 *	name=NAME		[A-Za-z0-9.-], 1..63, the host's name
 *	address=IP		the host's scanner_ip_addr (seed 21)
 *	port=N			its agent_port
 *	-----BEGIN CERTIFICATE REQUEST----- ... (CN=NAME, Ed25519)
 *
 * Enrolment file (controller to host), text:
 *	SEKISHO-ENROL 1
 *	name=NAME
 *	address=IP
 *	port=N
 *	controller=NAME		the controller's name (its CA's CN)
 *	host certificate PEM, CA certificate PEM, bundle public key PEM
 *
 * Both parsers are strict (one known header line, the keys in this order,
 * then exactly the PEM blocks) and bounded by ENROL_FILE_MAX.
 */
#ifndef SEKISHO_ENROL_H
#define SEKISHO_ENROL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"

#define ENROL_CENTRAL_DIR	"central"
#define ENROL_AGENT_DIR		"agent"
#define ENROL_FILE_MAX		(64 * 1024)
#define ENROL_NAME_MAX		63
#define ENROL_FPR_LEN		64	/* hex SHA-256 of a certificate's DER */

struct enrol_request {
	char		 name[ENROL_NAME_MAX + 1];
	char		 address[64];	/* numeric IPv4 or IPv6 */
	uint16_t	 port;
	X509_REQ	*req;		/* signature checked by the parser */
};

bool	 enrol_name_ok(const char *);

/* Controller: make central/ with the authority, its client certificate and
 * the bundle key pair; refuses when central/ already holds any of them. */
int	 enrol_central_init(const char *, const char *, char *, size_t);

/* Host: make agent/agent.key (kept when it exists and agent.crt does not)
 * and write the request file into the buffer. */
int	 enrol_agent_request(const char *, const char *, const char *,
	    uint16_t, struct buf *, char *, size_t);

struct enrol_request *enrol_request_parse(const uint8_t *, size_t, char *,
	    size_t);
void	 enrol_request_free(struct enrol_request *);

/* A parsed enrolment file: every check that needs no agent key done
 * (the host certificate verifies against the CA for serverAuth, its CN
 * and IP address are the file's; the bundle key is Ed25519). */
struct enrol_file {
	char		 name[ENROL_NAME_MAX + 1];
	char		 address[64];
	uint16_t	 port;
	char		 controller[ENROL_NAME_MAX + 1];
	X509		*cert;		/* the host's */
	X509		*ca;		/* self-signed, CA:TRUE */
	EVP_PKEY	*bundle;	/* the bundle signing key */
};

struct enrol_file *enrol_file_parse(const uint8_t *, size_t, char *, size_t);
void	 enrol_file_free(struct enrol_file *);

/* Controller: issue the host's certificate (CN=name, IP SAN = address,
 * serverAuth, 825 days) and write the enrolment file; fpr gets the new
 * certificate's fingerprint. */
int	 enrol_issue(const char *, const struct enrol_request *, struct buf *,
	    char [ENROL_FPR_LEN + 1], char *, size_t);

/* Host: check an enrolment file against agent/agent.key and install it. */
int	 enrol_install(const char *, const uint8_t *, size_t, char *, size_t);

void	 enrol_fingerprint(X509 *, char [ENROL_FPR_LEN + 1]);

/* TLS 1.3 contexts, peer certificate required and verified against the
 * authority: the host's server (the peer must be a clientAuth
 * certificate) and the controller's client (serverAuth). */
SSL_CTX	*enrol_agent_ctx(const char *, char *, size_t);
SSL_CTX	*enrol_central_ctx(const char *, char *, size_t);

#endif
