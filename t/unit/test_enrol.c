/*
 * test_enrol.c: the certificates of the central controller's push
 * (manager/enrol.c): the whole enrolment in temporary directories
 * (central init, agent request, parse, issue, install), the key file
 * modes, every way a request or an enrolment file is refused, and the
 * TLS 1.3 link over a socketpair: it comes up between the controller and
 * its host, and fails for a client certificate of another controller's
 * authority, for a host certificate used as a client, and for the
 * controller's certificate used as a server.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "enrol.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

static char	 root[] = "/tmp/test_enrol.XXXXXX";
static char	*ctl, *ctl2, *host, *host2, *host3;
static char	 host_fpr[ENROL_FPR_LEN + 1];

/* path: a file under root; caller frees. */
static char *
path(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

/* mode_of: a file's permission bits (-1 if it is missing). */
static int
mode_of(const char *dir, const char *rel)
{
	struct stat st;
	char	*p = path(dir, rel);
	int	 m = -1;

	if (stat(p, &st) == 0)
		m = (int)(st.st_mode & 07777);
	free(p);
	return m;
}

/* request: the request file of dir's host as a string; NULL if refused. */
static char *
request(const char *dir, const char *name, const char *addr, uint16_t port,
    char *err, size_t errlen)
{
	struct buf b;

	buf_init(&b, ENROL_FILE_MAX);
	if (enrol_agent_request(dir, name, addr, port, &b, err, errlen) == -1) {
		buf_free(&b);
		return NULL;
	}
	return buf_take_str(&b);
}

/* issue: the enrolment file ctldir issues for a request text. */
static char *
issue(const char *ctldir, const char *req, char fpr[ENROL_FPR_LEN + 1])
{
	struct enrol_request *r;
	struct buf b;
	char	 err[256];

	r = enrol_request_parse((const uint8_t *)req, strlen(req), err,
	    sizeof(err));
	CHECKF(r != NULL, "%s", err);
	if (r == NULL)
		return NULL;
	buf_init(&b, ENROL_FILE_MAX);
	CHECKF(enrol_issue(ctldir, r, &b, fpr, err, sizeof(err)) == 0, "%s",
	    err);
	enrol_request_free(r);
	return buf_take_str(&b);
}

/* subst: text with the first from replaced by to; aborts if absent. */
static char *
subst(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);

	if (at == NULL)
		abort();
	return xasprintf("%.*s%s%s", (int)(at - text), text, to,
	    at + strlen(from));
}

/* flip_before: text with a base64 character 10 bytes before mark changed. */
static char *
flip_before(const char *text, const char *mark)
{
	const char *at = strstr(text, mark);
	char	*t = xstrdup(text);
	size_t	 i;

	if (at == NULL || at - text < 10)
		abort();
	i = (size_t)(at - text) - 10;
	t[i] = t[i] == 'A' ? 'B' : 'A';
	return t;
}

/* block: the PEM block of label number n (0-based) in text; caller frees. */
static char *
block(const char *text, const char *label, int n)
{
	char	*b = xasprintf("-----BEGIN %s-----\n", label);
	char	*e = xasprintf("-----END %s-----\n", label);
	const char *s = text, *t;
	char	*r;

	for (;;) {
		if ((s = strstr(s, b)) == NULL)
			abort();
		if (n-- == 0)
			break;
		s++;
	}
	if ((t = strstr(s, e)) == NULL)
		abort();
	r = xstrndup(s, (size_t)(t - s) + strlen(e));
	free(b);
	free(e);
	return r;
}

/* t_setup: the temporary directories and two controllers. */
static void
t_setup(void)
{
	char	 err[256];

	if (mkdtemp(root) == NULL)
		abort();
	(void)signal(SIGPIPE, SIG_IGN);
	ctl = path(root, "ctl");
	ctl2 = path(root, "ctl2");
	host = path(root, "host");
	host2 = path(root, "host2");
	host3 = path(root, "host3");
	if (mkdir(ctl, 0755) == -1 || mkdir(ctl2, 0755) == -1 ||
	    mkdir(host, 0755) == -1 || mkdir(host2, 0755) == -1 ||
	    mkdir(host3, 0755) == -1)
		abort();
	CHECKF(enrol_central_init(ctl, "central1", err, sizeof(err)) == 0,
	    "%s", err);
	/* Another controller with the same name but its own authority. */
	CHECKF(enrol_central_init(ctl2, "central1", err, sizeof(err)) == 0,
	    "%s", err);
}

/* t_name_ok: the names of hosts and controllers. */
static void
t_name_ok(void)
{
	static const struct {
		const char	*name;
		bool		 ok;
	} cases[] = {
		{ "scan1", true }, { "scan-1.example.com", true },
		{ "A", true }, { "0", true },
		{ "", false }, { ".scan", false }, { "-scan", false },
		{ "scan_1", false }, { "scan 1", false }, { "scan/1", false },
		{ "sc\xc3\xa4n", false },
		{ "123456789012345678901234567890123456789012345678901234567890"
		    "123", true },
		{ "123456789012345678901234567890123456789012345678901234567890"
		    "1234", false },
	};
	size_t	 i;

	for (i = 0; i < nitems(cases); i++)
		CHECKF(enrol_name_ok(cases[i].name) == cases[i].ok, "%s",
		    cases[i].name);
	CHECK(!enrol_name_ok(NULL));
}

/* t_central: central/'s files, their modes, and no second init. */
static void
t_central(void)
{
	static const char *const keys[] = { "central/ca.key",
	    "central/controller.key", "central/bundle.key" };
	static const char *const pub[] = { "central/ca.crt",
	    "central/controller.crt", "central/bundle.pub" };
	char	 err[256];
	size_t	 i;

	CHECK_INTEQ(mode_of(ctl, "central"), 0700);
	for (i = 0; i < nitems(keys); i++)
		CHECKF(mode_of(ctl, keys[i]) == 0600, "%s", keys[i]);
	for (i = 0; i < nitems(pub); i++)
		CHECKF(mode_of(ctl, pub[i]) == 0644, "%s", pub[i]);
	CHECK(enrol_central_init(ctl, "central1", err, sizeof(err)) == -1);
	CHECKF(strstr(err, "ca.key: exists") != NULL, "%s", err);
	CHECK(enrol_central_init(host3, "bad name", err, sizeof(err)) == -1);
	CHECK(mode_of(host3, "central") == -1);
}

/* t_request: the request text and its parse; the key is kept. */
static void
t_request(void)
{
	struct enrol_request *r, *r2;
	char	 err[256], *a, *b;

	a = request(host, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	CHECKF(a != NULL, "%s", err);
	CHECK_INTEQ(mode_of(host, "agent"), 0700);
	CHECK_INTEQ(mode_of(host, "agent/agent.key"), 0600);
	b = request(host, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	CHECKF(b != NULL, "%s", err);
	if (a == NULL || b == NULL)
		goto out;
	CHECK(strncmp(a, "SEKISHO-ENROL-REQUEST 1\nname=scan1\n"
	    "address=192.0.2.10\nport=8443\n-----BEGIN CERTIFICATE REQUEST-----"
	    "\n", 91) == 0);
	r = enrol_request_parse((uint8_t *)a, strlen(a), err, sizeof(err));
	r2 = enrol_request_parse((uint8_t *)b, strlen(b), err, sizeof(err));
	CHECKF(r != NULL && r2 != NULL, "%s", err);
	if (r != NULL && r2 != NULL) {
		CHECK_STREQ(r->name, "scan1");
		CHECK_STREQ(r->address, "192.0.2.10");
		CHECK_INTEQ(r->port, 8443);
		/* A repeated request reuses agent.key. */
		CHECK(EVP_PKEY_eq(X509_REQ_get0_pubkey(r->req),
		    X509_REQ_get0_pubkey(r2->req)) == 1);
	}
	enrol_request_free(r);
	enrol_request_free(r2);
	free(b);
	/* IPv6, written in its canonical form. */
	b = request(host2, "scan2", "2001:DB8:0::7", 1, err, sizeof(err));
	CHECKF(b != NULL && strstr(b, "\naddress=2001:db8::7\nport=1\n") !=
	    NULL, "%s", b != NULL ? b : err);
out:
	free(a);
	free(b);
}

/* t_request_refused: what enrol_agent_request does not accept. */
static void
t_request_refused(void)
{
	static const struct {
		const char	*name;
		const char	*addr;
		uint16_t	 port;
		const char	*want;
	} cases[] = {
		{ "scan3", "", 8443, "set [imss_manager] scanner_ip_addr in "
		    "imss.ini first" },
		{ "scan3", NULL, 8443, "scanner_ip_addr in imss.ini first" },
		{ "scan3", "scan3.example.com", 8443, "not a numeric" },
		{ "scan3", "192.0.2.1/24", 8443, "not a numeric" },
		{ "scan3", "0.0.0.0", 8443, "not a numeric" },
		{ "scan3", "192.0.2.1", 0, "not a port" },
		{ "scan 3", "192.0.2.1", 8443, "not 1 to 63" },
	};
	char	 err[256], *t;
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		t = request(host3, cases[i].name, cases[i].addr, cases[i].port,
		    err, sizeof(err));
		CHECKF(t == NULL && strstr(err, cases[i].want) != NULL,
		    "case %zu: %s", i, err);
		free(t);
	}
	CHECK(mode_of(host3, "agent") == -1);
}

/* request_refused: a request text is refused with want in the reason. */
static void
request_refused(const char *what, const char *text, size_t len,
    const char *want)
{
	struct enrol_request *r;
	char	 err[256];

	r = enrol_request_parse((const uint8_t *)text, len, err, sizeof(err));
	CHECKF(r == NULL && strstr(err, want) != NULL, "%s: %s", what, err);
	CHECKF(ERR_peek_error() == 0, "%s: OpenSSL errors left", what);
	enrol_request_free(r);
}

/* parse_ok: whether the request parser accepts the text. */
static bool
parse_ok(const char *text, size_t len)
{
	struct enrol_request *r;
	char	 err[256];

	r = enrol_request_parse((const uint8_t *)text, len, err, sizeof(err));
	CHECKF(r != NULL, "%s", err);
	enrol_request_free(r);
	return r != NULL;
}

/* pem_of: der as a PEM block of label; caller frees. */
static char *
pem_of(const char *label, const unsigned char *der, long len)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*data, *r;
	long	 n;

	if (bio == NULL || PEM_write_bio(bio, label, "", der, len) <= 0)
		abort();
	n = BIO_get_mem_data(bio, &data);
	r = xstrndup(data, (size_t)n);
	BIO_free(bio);
	return r;
}

/* req_text: a request text around a CSR for key CN=cn, with extra bytes
 * after its DER when extra. */
static char *
req_text(EVP_PKEY *key, const EVP_MD *md, const char *cn, bool extra)
{
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL, *d2;
	char	*pem, *t;
	int	 n;

	if (req == NULL || X509_NAME_add_entry_by_NID(
	    X509_REQ_get_subject_name(req), NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, md) <= 0 ||
	    (n = i2d_X509_REQ(req, &der)) <= 0)
		abort();
	d2 = xmalloc((size_t)n + 2);
	memcpy(d2, der, (size_t)n);
	d2[n] = 0x05;		/* an ASN.1 NULL after the request */
	d2[n + 1] = 0x00;
	pem = pem_of("CERTIFICATE REQUEST", d2, n + (extra ? 2 : 0));
	t = xasprintf("SEKISHO-ENROL-REQUEST 1\nname=%s\naddress=192.0.2.10\n"
	    "port=8443\n%s", cn, pem);
	free(pem);
	free(d2);
	OPENSSL_free(der);
	X509_REQ_free(req);
	return t;
}

/* t_request_parse: every way the request parser refuses a request. */
static void
t_request_parse(void)
{
	static const struct {
		const char	*from;
		const char	*to;
		const char	*want;
	} edits[] = {
		{ "SEKISHO-ENROL-REQUEST 1", "SEKISHO-ENROL-REQUEST 2",
		    "line 1: unsupported format version" },
		{ "SEKISHO-ENROL-REQUEST 1", "HELLO", "line 1: not a sekisho" },
		{ "name=scan1", "name=-scan1", "line 2: name" },
		{ "name=scan1", "name=scan_1", "line 2: name" },
		{ "name=scan1", "name=", "line 2: name: empty" },
		{ "name=scan1\n", "", "line 2: expected name=" },
		{ "name=scan1\naddress=192.0.2.10\n",
		    "address=192.0.2.10\nname=scan1\n",
		    "line 2: expected name=" },
		{ "name=scan1", "name=scan2", "subject is not CN=scan2" },
		{ "address=192.0.2.10", "address=192.0.2.300",
		    "line 3: address" },
		{ "address=192.0.2.10", "address=host.example.com",
		    "line 3: address" },
		{ "address=192.0.2.10", "address=2001:DB8::1",
		    "line 3: address: not in canonical form (2001:db8::1)" },
		{ "address=192.0.2.10", "address= 192.0.2.10",
		    "line 3: address" },
		{ "port=8443", "port=0", "line 4: port" },
		{ "port=8443", "port=65536", "line 4: port" },
		{ "port=8443", "port=08443", "line 4: port" },
		{ "port=8443", "port=+8443", "line 4: port" },
		{ "port=8443", "port=-1", "line 4: port" },
		{ "port=8443", "port=8443 ", "line 4: port" },
		{ "port=8443", "port=123456", "line 4: port" },
		{ "port=8443\n", "port=8443\nextra=1\n", "line 5: expected" },
		{ "-----BEGIN CERTIFICATE REQUEST-----\n",
		    "-----BEGIN CERTIFICATE REQUEST-----\n"
		    "Proc-Type: 4,ENCRYPTED\n",
		    "line 6: not a line of base64" },
		{ "-----BEGIN CERTIFICATE REQUEST-----",
		    "-----BEGIN CERTIFICATE-----", "line 5: expected" },
		{ "-----END CERTIFICATE REQUEST-----\n", "", "missing" },
		{ "\n", "\r\n", "line 1: carriage return" },
	};
	char	*a, *t, *csr, err[256];
	size_t	 i, len;

	a = request(host, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	if (a == NULL) {
		CHECKF(false, "%s", err);
		return;
	}
	for (i = 0; i < nitems(edits); i++) {
		t = subst(a, edits[i].from, edits[i].to);
		request_refused(edits[i].want, t, strlen(t), edits[i].want);
		free(t);
	}
	/* A bad signature: one base64 character of it changed. */
	t = flip_before(a, "-----END CERTIFICATE REQUEST-----");
	request_refused("signature", t, strlen(t), "signature does not verify");
	free(t);
	/* Trailing data, a second block, a NUL byte, nothing, too much. */
	t = xasprintf("%sx\n", a);
	request_refused("trailing", t, strlen(t), "trailing data");
	free(t);
	csr = block(a, "CERTIFICATE REQUEST", 0);
	t = xasprintf("%s%s", a, csr);
	request_refused("two blocks", t, strlen(t), "trailing data");
	free(t);
	free(csr);
	t = xstrdup(a);
	len = strlen(t);
	t[20] = '\0';
	request_refused("NUL", t, len, "NUL byte at offset 20");
	free(t);
	request_refused("empty", "", 0, "request: empty");
	t = xmalloc(ENROL_FILE_MAX + 1);
	memset(t, '\n', ENROL_FILE_MAX + 1);
	memcpy(t, a, strlen(a));
	request_refused("large", t, ENROL_FILE_MAX + 1, "too large");
	free(t);
	/* Truncated anywhere: refused, never read past the end. */
	for (len = 0; len + 1 < strlen(a); len += 7) {
		t = xmalloc(len > 0 ? len : 1);
		memcpy(t, a, len);
		request_refused("truncated", t, len, "request: ");
		free(t);
	}
	/* Not Ed25519; bytes after the DER; bad base64. */
	{
		EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

		if (ec == NULL || ed == NULL)
			abort();
		t = req_text(ec, EVP_sha256(), "scan1", false);
		request_refused("EC", t, strlen(t), "line 5: the certificate "
		    "request's key is not Ed25519");
		free(t);
		t = req_text(ed, NULL, "scan1", false);
		CHECK(parse_ok(t, strlen(t)));
		free(t);
		t = req_text(ed, NULL, "scan1", true);
		request_refused("extra DER", t, strlen(t), "line 5: the "
		    "certificate request does not parse");
		free(t);
		t = req_text(ed, NULL, "scan1.example", false);
		t[strlen("SEKISHO-ENROL-REQUEST 1\nname=scan")] = '2';
		request_refused("CN", t, strlen(t), "is not CN=scan2.example");
		free(t);
		EVP_PKEY_free(ec);
		EVP_PKEY_free(ed);
	}
	t = subst(a, "-----BEGIN CERTIFICATE REQUEST-----\n",
	    "-----BEGIN CERTIFICATE REQUEST-----\nAA==AA==\n");
	request_refused("base64", t, strlen(t), "line 5: the CERTIFICATE "
	    "REQUEST block is not valid base64");
	free(t);
	/* White space after the block and no final newline are fine. */
	t = xasprintf("%s\n \t\n", a);
	CHECK(parse_ok(t, strlen(t)));
	CHECK(parse_ok(a, strlen(a) - 1));
	free(t);
	free(a);
}

/* install_refused: an enrolment file is refused with want in the reason. */
static void
install_refused(const char *what, const char *dir, const char *text,
    size_t len, const char *want)
{
	char	 err[256];

	CHECKF(enrol_install(dir, (const uint8_t *)text, len, err,
	    sizeof(err)) == -1 && strstr(err, want) != NULL, "%s: %s", what,
	    err);
	CHECKF(ERR_peek_error() == 0, "%s: OpenSSL errors left", what);
	CHECKF(mode_of(dir, "agent/agent.crt") == -1, "%s: installed", what);
}

/*
 * t_install_refused: an enrolment file for another host's key, one with
 * a certificate of another authority, tampered ones, a bad header; and
 * the checks of ca.key's mode.
 */
static void
t_install_refused(void)
{
	char	*req, *req2, *e, *e2, *t, *ca, *ca2, fpr[ENROL_FPR_LEN + 1];
	char	 err[256];

	req = request(host, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	req2 = request(host2, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	if (req == NULL || req2 == NULL)
		abort();
	e = issue(ctl, req, fpr);
	e2 = issue(ctl2, req, fpr);
	if (e == NULL || e2 == NULL)
		abort();
	CHECK(strncmp(e, "SEKISHO-ENROL 1\nname=scan1\naddress=192.0.2.10\n"
	    "port=8443\ncontroller=central1\n-----BEGIN CERTIFICATE-----\n",
	    88) == 0);
	/* Made for host's key: host2 refuses it. */
	install_refused("wrong key", host2, e, strlen(e),
	    "/agent/agent.key (was the request made on this host?)");
	/* No agent.key at all. */
	install_refused("no key", host3, e, strlen(e), "agent.key");
	/* Host certificate of ctl2, CA of ctl (same controller name). */
	ca = block(e, "CERTIFICATE", 1);
	ca2 = block(e2, "CERTIFICATE", 1);
	t = subst(e2, ca2, ca);
	install_refused("other CA", host, t, strlen(t),
	    "line 6: the host certificate does not verify against the CA");
	free(t);
	/* The host certificate's signature changed. */
	t = flip_before(e, "-----END CERTIFICATE-----");
	install_refused("tampered", host, t, strlen(t), "line 6: the host "
	    "certificate does not verify against the CA: certificate "
	    "signature failure");
	free(t);
	t = subst(e, "SEKISHO-ENROL 1", "SEKISHO-ENROL 2");
	install_refused("version", host, t, strlen(t),
	    "enrolment file: line 1: unsupported format version");
	free(t);
	t = subst(e, "SEKISHO-ENROL 1", "SEKISHO-ENROL-REQUEST 1");
	install_refused("header", host, t, strlen(t), "line 1: not a sekisho");
	free(t);
	t = subst(e, "controller=central1", "controller=central2");
	install_refused("controller", host, t, strlen(t),
	    "the CA's subject is not CN=sekisho central CA central2");
	free(t);
	t = subst(e, "name=scan1", "name=scan2");
	install_refused("name", host, t, strlen(t),
	    "the host certificate's subject is not CN=scan2");
	free(t);
	t = subst(e, "address=192.0.2.10", "address=192.0.2.11");
	install_refused("address", host, t, strlen(t),
	    "not for address 192.0.2.11");
	free(t);
	t = subst(e, "-----BEGIN PUBLIC KEY-----",
	    "-----BEGIN CERTIFICATE-----");
	install_refused("blocks", host, t, strlen(t), "expected");
	free(t);
	t = subst(e, ca, "");
	install_refused("no CA", host, t, strlen(t), "expected");
	free(t);
	t = xasprintf("%s%s", e, ca);
	install_refused("trailing", host, t, strlen(t), "trailing data");
	free(t);
	install_refused("empty", host, "", 0, "enrolment file: empty");
	{
		EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		unsigned char *der = NULL;
		char	*pk, *ecpem;
		int	 n;

		if (ec == NULL || (n = i2d_PUBKEY(ec, &der)) <= 0)
			abort();
		pk = block(e, "PUBLIC KEY", 0);
		ecpem = pem_of("PUBLIC KEY", der, n);
		t = subst(e, pk, ecpem);
		install_refused("EC bundle key", host, t, strlen(t),
		    "the bundle key is not Ed25519");
		free(t);
		free(pk);
		free(ecpem);
		OPENSSL_free(der);
		EVP_PKEY_free(ec);
	}
	t = xstrdup(e);
	t[strlen(t) - 40] = '\0';
	install_refused("NUL", host, t, strlen(e), "NUL byte");
	free(t);
	/* A request file is not an enrolment file. */
	install_refused("request", host, req, strlen(req), "not a sekisho");
	/* ca.key readable by others: no issue. */
	t = path(ctl, "central/ca.key");
	CHECK(chmod(t, 0640) == 0);
	free(e2);
	e2 = NULL;
	{
		struct enrol_request *r;
		struct buf b;

		r = enrol_request_parse((uint8_t *)req, strlen(req), err,
		    sizeof(err));
		buf_init(&b, ENROL_FILE_MAX);
		CHECK(r != NULL && enrol_issue(ctl, r, &b, fpr, err,
		    sizeof(err)) == -1 && strstr(err, "ca.key: private key "
		    "readable by group or others") != NULL && b.len == 0);
		/* A buffer too small leaves it as it was. */
		CHECK(chmod(t, 0600) == 0);
		buf_free(&b);
		buf_init(&b, 1000);
		CHECK(r != NULL && enrol_issue(ctl, r, &b, fpr, err,
		    sizeof(err)) == -1 && strstr(err, "does not fit") !=
		    NULL && b.len == 0);
		buf_free(&b);
		enrol_request_free(r);
	}
	free(t);
	free(ca);
	free(ca2);
	free(e);
	free(req);
	free(req2);
}

/* t_install: the happy path's end: installed, fingerprint, modes. */
static void
t_install(void)
{
	char	*req, *e, *p, fpr[ENROL_FPR_LEN + 1], fpr2[65], err[256];
	X509	*x = NULL;
	FILE	*f;
	size_t	 i;

	req = request(host, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	CHECKF(req != NULL, "%s", err);
	if (req == NULL)
		return;
	e = issue(ctl, req, fpr);
	CHECK_INTEQ(strlen(fpr), ENROL_FPR_LEN);
	for (i = 0; i < strlen(fpr); i++)
		CHECK(strchr("0123456789abcdef", fpr[i]) != NULL);
	CHECKF(enrol_install(host, (uint8_t *)e, strlen(e), err,
	    sizeof(err)) == 0, "%s", err);
	CHECK_INTEQ(mode_of(host, "agent/agent.key"), 0600);
	CHECK_INTEQ(mode_of(host, "agent/agent.crt"), 0644);
	CHECK_INTEQ(mode_of(host, "agent/ca.crt"), 0644);
	CHECK_INTEQ(mode_of(host, "agent/bundle.pub"), 0644);
	p = path(host, "agent/agent.crt");
	if ((f = fopen(p, "r")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	free(p);
	CHECK(x != NULL);
	enrol_fingerprint(x, fpr2);
	CHECK_STREQ(fpr2, fpr);
	X509_free(x);
	str_lcpy(host_fpr, fpr, sizeof(host_fpr));
	/* Enrolled: no new request; a new certificate installs over it. */
	free(req);
	req = request(host, "scan1", "192.0.2.10", 8443, err, sizeof(err));
	CHECKF(req == NULL && strstr(err, "already enrolled; remove") !=
	    NULL, "%s", err);
	request_refused("enrolment file", e, strlen(e), "not a sekisho");
	CHECKF(enrol_install(host, (uint8_t *)e, strlen(e), err,
	    sizeof(err)) == 0, "%s", err);
	free(e);
	free(req);
}

/*
 * handshake: a TLS handshake between a client and a server context over
 * a socketpair, both sides non-blocking; true when both complete.  *sv
 * gets the server's verify result, fpr (if not NULL) the fingerprint of
 * the server's certificate as the client saw it.
 */
static bool
handshake(SSL_CTX *cctx, SSL_CTX *sctx, long *sv, char *fpr)
{
	SSL	*c, *s;
	X509	*x;
	int	 fds[2], rc[2] = { 0, 0 }, i, j, r, e;
	SSL	*ssl[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1 ||
	    fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(fds[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	if (c == NULL || s == NULL || SSL_set_fd(c, fds[0]) != 1 ||
	    SSL_set_fd(s, fds[1]) != 1)
		abort();
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	ssl[0] = c;
	ssl[1] = s;
	for (i = 0; i < 1000 && (rc[0] != 1 || rc[1] != 1) &&
	    rc[0] != -1 && rc[1] != -1; i++)
		for (j = 0; j < 2; j++) {
			if (rc[j] != 0)
				continue;
			if ((r = SSL_do_handshake(ssl[j])) == 1)
				rc[j] = 1;
			else if ((e = SSL_get_error(ssl[j], r)) !=
			    SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				rc[j] = -1;
		}
	*sv = SSL_get_verify_result(s);
	if (fpr != NULL) {
		fpr[0] = '\0';
		if ((x = SSL_get1_peer_certificate(c)) != NULL) {
			enrol_fingerprint(x, fpr);
			X509_free(x);
		}
	}
	if (rc[0] == 1 && rc[1] == 1)
		CHECK(SSL_version(c) == TLS1_3_VERSION &&
		    SSL_get0_peer_certificate(s) != NULL);
	SSL_free(c);
	SSL_free(s);
	close(fds[0]);
	close(fds[1]);
	ERR_clear_error();
	return rc[0] == 1 && rc[1] == 1;
}

/* ctx_with: a context with dir's certificate and key, trusting cafile. */
static SSL_CTX *
ctx_with(bool server, const char *dir, const char *crt, const char *key,
    const char *cafile)
{
	SSL_CTX	*ctx;
	char	*c = path(dir, crt), *k = path(dir, key);

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL ||
	    SSL_CTX_use_certificate_file(ctx, c, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
		abort();
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	free(c);
	free(k);
	return ctx;
}

/* t_tls: the link comes up between a controller and its host only. */
static void
t_tls(void)
{
	SSL_CTX	*agent, *central, *central2, *bad;
	char	 err[256], fpr[ENROL_FPR_LEN + 1], *ca;
	long	 sv;

	agent = enrol_agent_ctx(host, err, sizeof(err));
	CHECKF(agent != NULL, "%s", err);
	central = enrol_central_ctx(ctl, err, sizeof(err));
	CHECKF(central != NULL, "%s", err);
	central2 = enrol_central_ctx(ctl2, err, sizeof(err));
	CHECKF(central2 != NULL, "%s", err);
	CHECK(enrol_agent_ctx(host2, err, sizeof(err)) == NULL &&
	    strstr(err, "agent.crt") != NULL);
	CHECK(enrol_central_ctx(host, err, sizeof(err)) == NULL);
	if (agent == NULL || central == NULL || central2 == NULL)
		return;
	CHECK(SSL_CTX_get_min_proto_version(agent) == TLS1_3_VERSION &&
	    SSL_CTX_get_max_proto_version(agent) == TLS1_3_VERSION);
	CHECK(SSL_CTX_get_min_proto_version(central) == TLS1_3_VERSION &&
	    SSL_CTX_get_max_proto_version(central) == TLS1_3_VERSION);

	CHECK(handshake(central, agent, &sv, fpr));
	CHECK_INTEQ(sv, X509_V_OK);
	CHECK_STREQ(fpr, host_fpr);

	/* The other controller (same name, other authority). */
	CHECK(!handshake(central2, agent, &sv, NULL));
	/* Its client certificate, even when it trusts our authority. */
	ca = path(ctl, "central/ca.crt");
	bad = ctx_with(false, ctl2, "central/controller.crt",
	    "central/controller.key", ca);
	CHECK(!handshake(bad, agent, &sv, NULL));
	CHECK(sv != X509_V_OK);
	SSL_CTX_free(bad);
	/* The host's certificate (serverAuth only) as a client. */
	bad = ctx_with(false, host, "agent/agent.crt", "agent/agent.key", ca);
	CHECK(!handshake(bad, agent, &sv, NULL));
	CHECK_INTEQ(sv, X509_V_ERR_INVALID_PURPOSE);
	SSL_CTX_free(bad);
	/* The controller's certificate (clientAuth only) as a server. */
	bad = ctx_with(true, ctl, "central/controller.crt",
	    "central/controller.key", ca);
	CHECK(!handshake(central, bad, &sv, NULL));
	SSL_CTX_free(bad);
	free(ca);
	SSL_CTX_free(agent);
	SSL_CTX_free(central);
	SSL_CTX_free(central2);
}

/* t_cleanup: remove the temporary directories. */
static void
t_cleanup(void)
{
	(void)test_rmtree(root);
	free(ctl);
	free(ctl2);
	free(host);
	free(host2);
	free(host3);
}

TEST_MAIN(t_setup, t_name_ok, t_central, t_request, t_request_refused,
    t_request_parse, t_install_refused, t_install, t_tls, t_cleanup)
