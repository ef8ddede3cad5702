/*
 * enrol.c: the certificates of the central controller's push: the
 * controller's authority, a host's certificate request, the enrolment
 * file that answers it, and the TLS 1.3 contexts of the link (enrol.h,
 * docs/central.md "Enrolment").
 *
 * Owns CONFDIR/central/{ca,controller}.{key,crt} and the files of
 * CONFDIR/agent/ (bundle.c makes central/bundle.key and bundle.pub).
 * Both text formats travel between machines and are parsed strictly:
 * bounded by ENROL_FILE_MAX, no NUL bytes, one known header line, the
 * keys in their order, then exactly the expected PEM blocks (base64 lines
 * only: no PEM headers, so never an encrypted block and never a password
 * prompt), then nothing but white space.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "bundle.h"
#include "enrol.h"
#include "tls.h"
#include "xmalloc.h"

#define ENROL_REQUEST_MAGIC	"SEKISHO-ENROL-REQUEST 1"
#define ENROL_REQUEST_PREFIX	"SEKISHO-ENROL-REQUEST "
#define ENROL_FILE_MAGIC	"SEKISHO-ENROL 1"
#define ENROL_FILE_PREFIX	"SEKISHO-ENROL "
#define ENROL_CA_CN_PREFIX	"sekisho central CA "
#define ENROL_CA_DAYS		3650	/* the authority and the controller */
#define ENROL_HOST_DAYS		825
#define ENROL_BACKDATE		300	/* seconds, for slow clocks */
#define ENROL_PEM_LINE_MAX	76
#define ENROL_CN_MAX		128

#define ENROL_CA_KEY		"ca.key"
#define ENROL_CA_CRT		"ca.crt"
#define ENROL_CTL_KEY		"controller.key"
#define ENROL_CTL_CRT		"controller.crt"
#define ENROL_AGENT_KEY		"agent.key"
#define ENROL_AGENT_CRT		"agent.crt"

/* The files of central/ enrol_central_init makes (and refuses to replace). */
static const char *const enrol_central_files[] = {
	ENROL_CA_KEY, ENROL_CA_CRT, ENROL_CTL_KEY, ENROL_CTL_CRT,
	BUNDLE_PRIVKEY_NAME, BUNDLE_PUBKEY_NAME,
};

struct enrol_ext {
	int		 nid;
	const char	*value;
};

static const struct enrol_ext enrol_ca_exts[] = {
	{ NID_basic_constraints, "critical,CA:TRUE" },
	{ NID_key_usage, "critical,keyCertSign,cRLSign" },
	{ NID_subject_key_identifier, "hash" },
};

static const struct enrol_ext enrol_controller_exts[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "clientAuth" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
};

/* A host's certificate also names its address (subjectAltName). */
static const struct enrol_ext enrol_host_exts[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "serverAuth" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
};

enum enrol_pem {
	ENROL_PEM_KEY,		/* private key */
	ENROL_PEM_PUBKEY,
	ENROL_PEM_CERT,
	ENROL_PEM_REQ,
};

/* A cursor over request or enrolment file text, for its error messages. */
struct enrol_text {
	const char	*what;		/* "request" or "enrolment file" */
	const char	*p;
	size_t		 left;
	unsigned	 line;		/* of the line read last */
	char		*err;
	size_t		 errlen;
};

/* enrol_fail: format the reason into err, drop OpenSSL's errors; -1. */
static int __attribute__((format(printf, 3, 4)))
enrol_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	ERR_clear_error();
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* enrol_no_password: the PEM password callback: there is none. */
static int
enrol_no_password(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/*
 * ------------------------------------------------------------------------
 * Names, addresses, ports.
 * ------------------------------------------------------------------------
 */

/* enrol_name_ok: a host or controller name: 1..63 of [A-Za-z0-9.-]. */
bool
enrol_name_ok(const char *s)
{
	size_t	 i, n;

	if (s == NULL)
		return false;
	n = strnlen(s, ENROL_NAME_MAX + 1);
	if (n == 0 || n > ENROL_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '.' && c != '-')
			return false;
	}
	return true;
}

/*
 * enrol_address_canon: the canonical text of a numeric IPv4 or IPv6 host
 * address (not the unspecified one: the controller connects to it).
 */
static bool
enrol_address_canon(const char *s, char *out, size_t outlen)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		if (a4.s_addr == htonl(INADDR_ANY))
			return false;
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) != NULL;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		if (IN6_IS_ADDR_UNSPECIFIED(&a6))
			return false;
		return inet_ntop(AF_INET6, &a6, out, (socklen_t)outlen) != NULL;
	}
	return false;
}

/* enrol_port_parse: strict decimal 1..65535, no sign, no leading zero. */
static bool
enrol_port_parse(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;
	size_t	 i;

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/*
 * enrol_cn: the subject's only entry, a common name without NUL bytes,
 * into out; false for any other subject.
 */
static bool
enrol_cn(const X509_NAME *name, char *out, size_t outlen)
{
	const X509_NAME_ENTRY *e;
	const ASN1_STRING *d;
	int	 len;

	if (name == NULL || X509_NAME_entry_count(name) != 1 ||
	    (e = X509_NAME_get_entry(name, 0)) == NULL ||
	    OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != NID_commonName ||
	    (d = X509_NAME_ENTRY_get_data(e)) == NULL)
		return false;
	len = ASN1_STRING_length(d);
	if (len <= 0 || (size_t)len >= outlen ||
	    memchr(ASN1_STRING_get0_data(d), '\0', (size_t)len) != NULL)
		return false;
	memcpy(out, ASN1_STRING_get0_data(d), (size_t)len);
	out[len] = '\0';
	return true;
}

/* enrol_cn_is: whether the subject is exactly CN=want. */
static bool
enrol_cn_is(const X509_NAME *name, const char *want)
{
	char	 cn[ENROL_CN_MAX];

	return enrol_cn(name, cn, sizeof(cn)) && strcmp(cn, want) == 0;
}

/*
 * ------------------------------------------------------------------------
 * Files.
 * ------------------------------------------------------------------------
 */

/* enrol_mkdir: dir, made 0700 when missing; it must be a directory. */
static int
enrol_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return enrol_fail(err, errlen, "%s: %s", dir, strerror(errno));
	if (lstat(dir, &st) == -1)
		return enrol_fail(err, errlen, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return enrol_fail(err, errlen, "%s: not a directory", dir);
	return 0;
}

/* enrol_exists: whether path exists (-1 with err when that is unknown). */
static int
enrol_exists(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return enrol_fail(err, errlen, "%s: %s", path, strerror(errno));
}

/* enrol_pem: obj as PEM in a new memory BIO; NULL on failure. */
static BIO *
enrol_pem(enum enrol_pem kind, void *obj)
{
	BIO	*bio;
	int	 ok = 0;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	switch (kind) {
	case ENROL_PEM_KEY:
		ok = PEM_write_bio_PrivateKey(bio, obj, NULL, NULL, 0, NULL,
		    NULL);
		break;
	case ENROL_PEM_PUBKEY:
		ok = PEM_write_bio_PUBKEY(bio, obj);
		break;
	case ENROL_PEM_CERT:
		ok = PEM_write_bio_X509(bio, obj);
		break;
	case ENROL_PEM_REQ:
		ok = PEM_write_bio_X509_REQ(bio, obj);
		break;
	}
	if (ok != 1) {
		BIO_free(bio);
		ERR_clear_error();
		return NULL;
	}
	return bio;
}

/* enrol_pem_save: obj as PEM into path (atomically, with mode). */
static int
enrol_pem_save(enum enrol_pem kind, void *obj, const char *path,
    unsigned mode, char *err, size_t errlen)
{
	BIO	*bio;
	char	*data;
	long	 n;
	int	 rc = 0;

	if ((bio = enrol_pem(kind, obj)) == NULL ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0)
		rc = enrol_fail(err, errlen, "%s: cannot encode as PEM", path);
	else if (file_write_atomic(path, data, (size_t)n, mode) == -1)
		rc = enrol_fail(err, errlen, "%s: %s", path, strerror(errno));
	BIO_free(bio);
	return rc;
}

/* enrol_pem_add: obj as PEM appended to out; false when it does not fit. */
static bool
enrol_pem_add(enum enrol_pem kind, void *obj, struct buf *out)
{
	BIO	*bio;
	char	*data;
	long	 n;
	bool	 ok;

	if ((bio = enrol_pem(kind, obj)) == NULL)
		return false;
	n = BIO_get_mem_data(bio, &data);
	ok = n > 0 && buf_add(out, data, (size_t)n);
	BIO_free(bio);
	return ok;
}

/* enrol_cert_load: a PEM certificate from path. */
static X509 *
enrol_cert_load(const char *path, char *err, size_t errlen)
{
	FILE	*f;
	X509	*x;

	if ((f = fopen(path, "re")) == NULL) {
		(void)enrol_fail(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	x = PEM_read_X509(f, NULL, enrol_no_password, NULL);
	fclose(f);
	if (x == NULL)
		(void)enrol_fail(err, errlen, "%s: not a PEM certificate",
		    path);
	return x;
}

/* enrol_keygen: a new Ed25519 key. */
static EVP_PKEY *
enrol_keygen(char *err, size_t errlen)
{
	EVP_PKEY *key;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		(void)enrol_fail(err, errlen, "cannot generate an Ed25519 key");
	return key;
}

/*
 * ------------------------------------------------------------------------
 * Certificates.
 * ------------------------------------------------------------------------
 */

/* enrol_serial: a random positive 128-bit serial number. */
static bool
enrol_serial(X509 *x)
{
	uint8_t	 b[16];
	BIGNUM	*bn;
	bool	 ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return false;
	b[0] = (b[0] & 0x7f) | 0x40;	/* positive, all 16 bytes used */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return false;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

/* enrol_ext_add: one extension, as openssl.cnf would write it. */
static bool
enrol_ext_add(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ex;
	bool	 ok;

	if ((ex = X509V3_EXT_conf_nid(NULL, v3, nid, value)) == NULL)
		return false;
	ok = X509_add_ext(x, ex, -1) == 1;
	X509_EXTENSION_free(ex);
	return ok;
}

/*
 * enrol_cert_new: a certificate CN=cn for key, issued by icert and signed
 * with ikey (icert NULL: self-signed), valid from a little before now for
 * days, with the extensions exts and, if san is not NULL, that
 * subjectAltName.  NULL on failure.
 */
static X509 *
enrol_cert_new(const char *cn, EVP_PKEY *key, X509 *icert, EVP_PKEY *ikey,
    int days, const struct enrol_ext *exts, size_t nexts, const char *san)
{
	X509V3_CTX v3;
	X509	*x;
	size_t	 i;
	bool	 ok;

	if ((x = X509_new()) == NULL)
		return NULL;
	ok = X509_set_version(x, X509_VERSION_3) == 1 && enrol_serial(x) &&
	    X509_NAME_add_entry_by_NID(X509_get_subject_name(x),
	    NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	    0) == 1 &&
	    X509_set_issuer_name(x, X509_get_subject_name(icert != NULL ?
	    icert : x)) == 1 &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -ENROL_BACKDATE) != NULL &&
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) != NULL &&
	    X509_set_pubkey(x, key) == 1;
	X509V3_set_ctx(&v3, icert != NULL ? icert : x, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&v3);
	for (i = 0; ok && i < nexts; i++)
		ok = enrol_ext_add(x, &v3, exts[i].nid, exts[i].value);
	if (ok && san != NULL)
		ok = enrol_ext_add(x, &v3, NID_subject_alt_name, san);
	if (ok)
		ok = X509_sign(x, ikey, NULL) > 0;
	if (!ok) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	return x;
}

/* enrol_req_new: a certificate request CN=name signed with key. */
static X509_REQ *
enrol_req_new(const char *name, EVP_PKEY *key)
{
	X509_REQ *req;

	if ((req = X509_REQ_new()) == NULL)
		return NULL;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req),
	    NID_commonName, MBSTRING_UTF8, (const unsigned char *)name, -1, -1,
	    0) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, NULL) <= 0) {
		X509_REQ_free(req);
		ERR_clear_error();
		return NULL;
	}
	return req;
}

/*
 * enrol_chain_ok: whether cert verifies against ca alone, for purpose;
 * why gets the verifier's reason when not.
 */
static bool
enrol_chain_ok(X509 *cert, X509 *ca, int purpose, char *why, size_t whylen)
{
	X509_STORE	*st;
	X509_STORE_CTX	*ctx = NULL;
	bool		 ok = false;

	str_lcpy(why, "out of memory", whylen);
	if ((st = X509_STORE_new()) != NULL &&
	    (ctx = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, cert, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, purpose) == 1) {
		X509_STORE_CTX_set_depth(ctx, 1);
		ok = X509_verify_cert(ctx) == 1;
		if (!ok)
			str_lcpy(why, X509_verify_cert_error_string(
			    X509_STORE_CTX_get_error(ctx)), whylen);
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return ok;
}

/* enrol_fingerprint: the lower-case hex SHA-256 of the certificate's DER. */
void
enrol_fingerprint(X509 *x, char out[ENROL_FPR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	out[0] = '\0';
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &n) != 1 ||
	    n * 2 != ENROL_FPR_LEN) {
		ERR_clear_error();
		return;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * ------------------------------------------------------------------------
 * The controller's authority.
 * ------------------------------------------------------------------------
 */

/* enrol_central_fresh: none of central/'s files exists yet. */
static int
enrol_central_fresh(const char *dir, char *err, size_t errlen)
{
	size_t	 i;
	char	*p;
	int	 e;

	for (i = 0; i < nitems(enrol_central_files); i++) {
		p = xasprintf("%s/%s", dir, enrol_central_files[i]);
		e = enrol_exists(p, err, errlen);
		if (e == 1)
			(void)enrol_fail(err, errlen, "%s: exists (the "
			    "controller's authority is made already)", p);
		free(p);
		if (e != 0)
			return -1;
	}
	return 0;
}

/* enrol_central_write: the authority's and the controller's files. */
static int
enrol_central_write(const char *dir, EVP_PKEY *cakey, X509 *ca,
    EVP_PKEY *ckey, X509 *ctl, char *err, size_t errlen)
{
	const struct {
		const char	*name;
		enum enrol_pem	 kind;
		void		*obj;
		unsigned	 mode;
	} f[] = {
		{ ENROL_CA_KEY, ENROL_PEM_KEY, cakey, 0600 },
		{ ENROL_CA_CRT, ENROL_PEM_CERT, ca, 0644 },
		{ ENROL_CTL_KEY, ENROL_PEM_KEY, ckey, 0600 },
		{ ENROL_CTL_CRT, ENROL_PEM_CERT, ctl, 0644 },
	};
	size_t	 i, j;
	char	*p;
	int	 rc = 0;

	for (i = 0; rc == 0 && i < nitems(f); i++) {
		p = xasprintf("%s/%s", dir, f[i].name);
		rc = enrol_pem_save(f[i].kind, f[i].obj, p, f[i].mode, err,
		    errlen);
		free(p);
	}
	if (rc == 0 && bundle_keygen(dir, err, errlen) == -1)
		rc = -1;
	/* A half-made authority would block the next try: remove it. */
	for (j = 0; rc == -1 && j < i; j++) {
		p = xasprintf("%s/%s", dir, f[j].name);
		(void)unlink(p);
		free(p);
	}
	return rc;
}

/*
 * enrol_central_init: make confdir/central/ with the authority (ca.key,
 * ca.crt), the controller's client certificate (controller.key,
 * controller.crt, CN=name) and the bundle signing pair; refuses when any
 * of these files exists.
 */
int
enrol_central_init(const char *confdir, const char *name, char *err,
    size_t errlen)
{
	EVP_PKEY *cakey = NULL, *ckey = NULL;
	X509	*ca = NULL, *ctl = NULL;
	char	*dir, cn[ENROL_CN_MAX];
	int	 rc = -1;

	if (errlen > 0)
		err[0] = '\0';
	if (!enrol_name_ok(name))
		return enrol_fail(err, errlen, "controller name \"%s\": not 1 "
		    "to 63 of A-Z a-z 0-9 . - (not starting with . or -)",
		    name != NULL ? name : "");
	(void)str_printf(cn, sizeof(cn), "%s%s", ENROL_CA_CN_PREFIX, name);
	dir = xasprintf("%s/%s", confdir, ENROL_CENTRAL_DIR);
	if (enrol_mkdir(dir, err, errlen) == -1 ||
	    enrol_central_fresh(dir, err, errlen) == -1 ||
	    (cakey = enrol_keygen(err, errlen)) == NULL ||
	    (ckey = enrol_keygen(err, errlen)) == NULL)
		goto out;
	if ((ca = enrol_cert_new(cn, cakey, NULL, cakey, ENROL_CA_DAYS,
	    enrol_ca_exts, nitems(enrol_ca_exts), NULL)) == NULL ||
	    (ctl = enrol_cert_new(name, ckey, ca, cakey, ENROL_CA_DAYS,
	    enrol_controller_exts, nitems(enrol_controller_exts),
	    NULL)) == NULL) {
		(void)enrol_fail(err, errlen, "cannot make the authority's "
		    "certificates");
		goto out;
	}
	rc = enrol_central_write(dir, cakey, ca, ckey, ctl, err, errlen);
out:
	X509_free(ca);
	X509_free(ctl);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(ckey);
	free(dir);
	return rc;
}

/*
 * ------------------------------------------------------------------------
 * The request (host side).
 * ------------------------------------------------------------------------
 */

/* enrol_agent_key: agent/agent.key, loaded, or made when it is missing. */
static EVP_PKEY *
enrol_agent_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key;
	int	 e;

	if ((e = enrol_exists(path, err, errlen)) == -1)
		return NULL;
	if (e == 1)
		return bundle_key_load(path, true, err, errlen);
	if ((key = enrol_keygen(err, errlen)) == NULL)
		return NULL;
	if (enrol_pem_save(ENROL_PEM_KEY, key, path, 0600, err, errlen) == -1) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/* enrol_request_text: the request file for req into out. */
static int
enrol_request_text(struct buf *out, const char *name, const char *address,
    uint16_t port, X509_REQ *req, char *err, size_t errlen)
{
	size_t	 start = out->len;

	if (!buf_printf(out, "%s\nname=%s\naddress=%s\nport=%u\n",
	    ENROL_REQUEST_MAGIC, name, address, (unsigned)port) ||
	    !enrol_pem_add(ENROL_PEM_REQ, req, out)) {
		out->len = start;
		return enrol_fail(err, errlen, "the request does not fit in "
		    "its buffer");
	}
	return 0;
}

/*
 * enrol_agent_request: make confdir/agent/agent.key (or keep the one a
 * previous request made) and write the request file for name, the host's
 * address and agent port into out; refuses once agent.crt is installed.
 */
int
enrol_agent_request(const char *confdir, const char *name,
    const char *address, uint16_t port, struct buf *out, char *err,
    size_t errlen)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	char	*dir, *keyp, *crtp, addr[64];
	int	 e, rc = -1;

	if (errlen > 0)
		err[0] = '\0';
	if (!enrol_name_ok(name))
		return enrol_fail(err, errlen, "host name \"%s\": not 1 to 63 "
		    "of A-Z a-z 0-9 . - (not starting with . or -)",
		    name != NULL ? name : "");
	if (address == NULL || *address == '\0')
		return enrol_fail(err, errlen, "set [imss_manager] "
		    "scanner_ip_addr in imss.ini first");
	if (!enrol_address_canon(address, addr, sizeof(addr)))
		return enrol_fail(err, errlen, "scanner_ip_addr \"%s\": not a "
		    "numeric IPv4 or IPv6 host address", address);
	if (port == 0)
		return enrol_fail(err, errlen, "agent port 0: not a port");
	dir = xasprintf("%s/%s", confdir, ENROL_AGENT_DIR);
	keyp = xasprintf("%s/%s", dir, ENROL_AGENT_KEY);
	crtp = xasprintf("%s/%s", dir, ENROL_AGENT_CRT);
	if (enrol_mkdir(dir, err, errlen) == -1 ||
	    (e = enrol_exists(crtp, err, errlen)) == -1)
		goto out;
	if (e == 1) {
		(void)enrol_fail(err, errlen, "%s exists: already enrolled; "
		    "remove %s/ to enrol again", crtp, dir);
		goto out;
	}
	if ((key = enrol_agent_key(keyp, err, errlen)) == NULL)
		goto out;
	if ((req = enrol_req_new(name, key)) == NULL) {
		(void)enrol_fail(err, errlen, "cannot make the certificate "
		    "request");
		goto out;
	}
	rc = enrol_request_text(out, name, addr, port, req, err, errlen);
out:
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	free(dir);
	free(keyp);
	free(crtp);
	return rc;
}

/*
 * ------------------------------------------------------------------------
 * Parsing the two text formats.
 * ------------------------------------------------------------------------
 */

/* enrol_text_fail: "what: line N: reason" into err; returns -1. */
static int __attribute__((format(printf, 2, 3)))
enrol_text_fail(struct enrol_text *t, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return enrol_fail(t->err, t->errlen, "%s: line %u: %s", t->what,
	    t->line, msg);
}

/*
 * enrol_text_line: the next line, without its newline (the last line of
 * the text may lack one); -1 when the text has ended.
 */
static int
enrol_text_line(struct enrol_text *t, const char **s, size_t *n)
{
	const char *nl;

	t->line++;
	if (t->left == 0)
		return enrol_text_fail(t, "missing (the text ends early)");
	*s = t->p;
	if ((nl = memchr(t->p, '\n', t->left)) == NULL) {
		*n = t->left;
		t->p += t->left;
		t->left = 0;
	} else {
		*n = (size_t)(nl - t->p);
		t->p = nl + 1;
		t->left -= *n + 1;
	}
	if (*n > 0 && (*s)[*n - 1] == '\r')
		return enrol_text_fail(t, "carriage return (convert the file "
		    "to LF line ends)");
	return 0;
}

/* enrol_text_start: size, NUL bytes and the header line of the text. */
static int
enrol_text_start(struct enrol_text *t, const uint8_t *data, size_t len,
    const char *magic, const char *prefix)
{
	const uint8_t *z;
	const char *s;
	size_t	 n;

	if (len > ENROL_FILE_MAX)
		return enrol_fail(t->err, t->errlen, "%s: too large (%zu "
		    "bytes, at most %d)", t->what, len, ENROL_FILE_MAX);
	if (len == 0)
		return enrol_fail(t->err, t->errlen, "%s: empty", t->what);
	if ((z = memchr(data, '\0', len)) != NULL)
		return enrol_fail(t->err, t->errlen, "%s: NUL byte at offset "
		    "%zu", t->what, (size_t)(z - data));
	t->p = (const char *)data;
	t->left = len;
	t->line = 0;
	if (enrol_text_line(t, &s, &n) == -1)
		return -1;
	if (n == strlen(magic) && memcmp(s, magic, n) == 0)
		return 0;
	if (n >= strlen(prefix) && memcmp(s, prefix, strlen(prefix)) == 0)
		return enrol_text_fail(t, "unsupported format version "
		    "(expected \"%s\")", magic);
	return enrol_text_fail(t, "not a sekisho %s (expected \"%s\")",
	    t->what, magic);
}

/* enrol_text_field: the line "key=VALUE", its value into val. */
static int
enrol_text_field(struct enrol_text *t, const char *key, char *val,
    size_t vallen)
{
	const char *s;
	size_t	 n, k = strlen(key);

	if (enrol_text_line(t, &s, &n) == -1)
		return -1;
	if (n < k + 1 || memcmp(s, key, k) != 0 || s[k] != '=')
		return enrol_text_fail(t, "expected %s=", key);
	if (n == k + 1)
		return enrol_text_fail(t, "%s: empty", key);
	if (n - k - 1 >= vallen)
		return enrol_text_fail(t, "%s: too long", key);
	memcpy(val, s + k + 1, n - k - 1);
	val[n - k - 1] = '\0';
	return 0;
}

/* enrol_text_head: the lines name=, address= and port=, checked. */
static int
enrol_text_head(struct enrol_text *t, char name[ENROL_NAME_MAX + 1],
    char address[64], uint16_t *port)
{
	char	 v[64], canon[64];

	if (enrol_text_field(t, "name", name, ENROL_NAME_MAX + 1) == -1)
		return -1;
	if (!enrol_name_ok(name))
		return enrol_text_fail(t, "name: not 1 to 63 of A-Z a-z 0-9 "
		    ". - (not starting with . or -)");
	if (enrol_text_field(t, "address", address, 64) == -1)
		return -1;
	if (!enrol_address_canon(address, canon, sizeof(canon)))
		return enrol_text_fail(t, "address: not a numeric IPv4 or "
		    "IPv6 host address");
	if (strcmp(canon, address) != 0)
		return enrol_text_fail(t, "address: not in canonical form "
		    "(%s)", canon);
	if (enrol_text_field(t, "port", v, sizeof(v)) == -1)
		return -1;
	if (!enrol_port_parse(v, strlen(v), port))
		return enrol_text_fail(t, "port: not a number from 1 to 65535 "
		    "(no sign, no leading zero)");
	return 0;
}

/* enrol_base64_line: whether s (n bytes) is one line of PEM base64. */
static bool
enrol_base64_line(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > ENROL_PEM_LINE_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '+' && c != '/' && c != '=')
			return false;
	}
	return true;
}

/*
 * enrol_text_pem: the next PEM block, which must have label: its BEGIN
 * line right here, then base64 lines, then its END line; its DER bytes
 * (OPENSSL_free them) and *line the number of its BEGIN line.
 */
static unsigned char *
enrol_text_pem(struct enrol_text *t, const char *label, long *derlen,
    unsigned *line)
{
	char	 begin[64], end[64], *name = NULL, *header = NULL;
	const char *start = t->p, *s;
	unsigned char *der = NULL;
	size_t	 n;
	BIO	*bio;
	bool	 ok;

	(void)str_printf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	(void)str_printf(end, sizeof(end), "-----END %s-----", label);
	if (enrol_text_line(t, &s, &n) == -1)
		return NULL;
	*line = t->line;
	if (n != strlen(begin) || memcmp(s, begin, n) != 0) {
		(void)enrol_text_fail(t, "expected \"%s\"", begin);
		return NULL;
	}
	for (;;) {
		if (t->left == 0) {
			t->line++;
			(void)enrol_text_fail(t, "missing \"%s\"", end);
			return NULL;
		}
		if (enrol_text_line(t, &s, &n) == -1)
			return NULL;
		if (n == strlen(end) && memcmp(s, end, n) == 0)
			break;
		if (!enrol_base64_line(s, n)) {
			(void)enrol_text_fail(t, "not a line of base64 in the "
			    "%s block (PEM headers are not allowed)", label);
			return NULL;
		}
	}
	if ((bio = BIO_new_mem_buf(start, (int)(t->p - start))) == NULL) {
		(void)enrol_text_fail(t, "out of memory");
		return NULL;
	}
	ok = PEM_read_bio(bio, &name, &header, &der, derlen) == 1 &&
	    strcmp(name, label) == 0 && header[0] == '\0' && *derlen > 0;
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (!ok) {
		OPENSSL_free(der);
		t->line = *line;
		(void)enrol_text_fail(t, "the %s block is not valid base64",
		    label);
		return NULL;
	}
	return der;
}

/* enrol_obj_free: release what enrol_text_obj decoded. */
static void
enrol_obj_free(enum enrol_pem kind, void *obj)
{
	switch (kind) {
	case ENROL_PEM_KEY:
	case ENROL_PEM_PUBKEY:
		EVP_PKEY_free(obj);
		break;
	case ENROL_PEM_CERT:
		X509_free(obj);
		break;
	case ENROL_PEM_REQ:
		X509_REQ_free(obj);
		break;
	}
}

/*
 * enrol_text_obj: the next PEM block (label), decoded as kind (a public
 * key, a certificate or a request), every DER byte of it; what names it
 * in the error.
 */
static void *
enrol_text_obj(struct enrol_text *t, enum enrol_pem kind, const char *label,
    const char *what, unsigned *line)
{
	const unsigned char *p;
	unsigned char *der;
	void	*obj = NULL;
	long	 len;

	if ((der = enrol_text_pem(t, label, &len, line)) == NULL)
		return NULL;
	p = der;
	switch (kind) {
	case ENROL_PEM_PUBKEY:
		obj = d2i_PUBKEY(NULL, &p, len);
		break;
	case ENROL_PEM_CERT:
		obj = d2i_X509(NULL, &p, len);
		break;
	case ENROL_PEM_REQ:
		obj = d2i_X509_REQ(NULL, &p, len);
		break;
	case ENROL_PEM_KEY:
		break;		/* never from outside */
	}
	if (obj != NULL && p != der + len) {
		enrol_obj_free(kind, obj);
		obj = NULL;
	}
	OPENSSL_free(der);
	if (obj == NULL) {
		t->line = *line;
		(void)enrol_text_fail(t, "%s does not parse", what);
	}
	return obj;
}

/* enrol_text_end: nothing but white space after the last block. */
static int
enrol_text_end(struct enrol_text *t)
{
	size_t	 i;

	for (i = 0; i < t->left; i++) {
		if (t->p[i] == '\n')
			t->line++;
		else if (t->p[i] != ' ' && t->p[i] != '\t' && t->p[i] != '\r') {
			t->line++;
			return enrol_text_fail(t, "trailing data after the "
			    "last PEM block");
		}
	}
	return 0;
}

/* enrol_request_free: release a parsed request (NULL is fine). */
void
enrol_request_free(struct enrol_request *r)
{
	if (r == NULL)
		return;
	X509_REQ_free(r->req);
	free(r);
}

/* enrol_request_check: the CSR's key, signature and subject. */
static int
enrol_request_check(struct enrol_text *t, struct enrol_request *r,
    unsigned line)
{
	EVP_PKEY *key;

	t->line = line;
	if ((key = X509_REQ_get0_pubkey(r->req)) == NULL ||
	    EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return enrol_text_fail(t, "the certificate request's key is "
		    "not Ed25519");
	if (X509_REQ_verify(r->req, key) != 1)
		return enrol_text_fail(t, "the certificate request's signature "
		    "does not verify");
	if (!enrol_cn_is(X509_REQ_get_subject_name(r->req), r->name))
		return enrol_text_fail(t, "the certificate request's subject "
		    "is not CN=%s", r->name);
	return 0;
}

/*
 * enrol_request_parse: a request file, checked: its fields, and a
 * certificate request for an Ed25519 key, signed by it, CN=name.  NULL
 * with the reason in err.
 */
struct enrol_request *
enrol_request_parse(const uint8_t *data, size_t len, char *err,
    size_t errlen)
{
	struct enrol_text t = { .what = "request", .err = err,
	    .errlen = errlen };
	struct enrol_request *r;
	unsigned line = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (enrol_text_start(&t, data, len, ENROL_REQUEST_MAGIC,
	    ENROL_REQUEST_PREFIX) == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	if (enrol_text_head(&t, r->name, r->address, &r->port) == -1 ||
	    (r->req = enrol_text_obj(&t, ENROL_PEM_REQ, "CERTIFICATE REQUEST",
	    "the certificate request", &line)) == NULL ||
	    enrol_text_end(&t) == -1 || enrol_request_check(&t, r, line) == -1)
		goto fail;
	return r;
fail:
	ERR_clear_error();
	enrol_request_free(r);
	return NULL;
}

/* enrol_file_free: release a parsed enrolment file (NULL is fine). */
void
enrol_file_free(struct enrol_file *f)
{
	if (f == NULL)
		return;
	X509_free(f->cert);
	X509_free(f->ca);
	EVP_PKEY_free(f->bundle);
	free(f);
}

/* enrol_file_blocks: the three PEM blocks of an enrolment file. */
static int
enrol_file_blocks(struct enrol_text *t, struct enrol_file *f,
    unsigned line[3])
{
	if ((f->cert = enrol_text_obj(t, ENROL_PEM_CERT, "CERTIFICATE",
	    "the host certificate", &line[0])) == NULL ||
	    (f->ca = enrol_text_obj(t, ENROL_PEM_CERT, "CERTIFICATE",
	    "the CA certificate", &line[1])) == NULL ||
	    (f->bundle = enrol_text_obj(t, ENROL_PEM_PUBKEY, "PUBLIC KEY",
	    "the bundle key", &line[2])) == NULL)
		return -1;
	if (EVP_PKEY_get_id(f->bundle) != EVP_PKEY_ED25519) {
		t->line = line[2];
		return enrol_text_fail(t, "the bundle key is not Ed25519");
	}
	return enrol_text_end(t);
}

/* enrol_file_check: the CA, and the host certificate against it. */
static int
enrol_file_check(struct enrol_text *t, struct enrol_file *f,
    const unsigned line[3])
{
	EVP_PKEY *key;
	char	 cn[ENROL_CN_MAX], why[128];

	t->line = line[1];
	(void)str_printf(cn, sizeof(cn), "%s%s", ENROL_CA_CN_PREFIX,
	    f->controller);
	if (!enrol_cn_is(X509_get_subject_name(f->ca), cn))
		return enrol_text_fail(t, "the CA's subject is not CN=%s", cn);
	if (X509_check_ca(f->ca) != 1 ||
	    X509_check_issued(f->ca, f->ca) != X509_V_OK ||
	    X509_verify(f->ca, X509_get0_pubkey(f->ca)) != 1)
		return enrol_text_fail(t, "the CA certificate is not a "
		    "self-signed CA (CA:TRUE)");
	t->line = line[0];
	if ((key = X509_get0_pubkey(f->cert)) == NULL ||
	    EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return enrol_text_fail(t, "the host certificate's key is not "
		    "Ed25519");
	if (!enrol_cn_is(X509_get_subject_name(f->cert), f->name))
		return enrol_text_fail(t, "the host certificate's subject is "
		    "not CN=%s", f->name);
	if (X509_check_ip_asc(f->cert, f->address, 0) != 1)
		return enrol_text_fail(t, "the host certificate is not for "
		    "address %s", f->address);
	if (!enrol_chain_ok(f->cert, f->ca, X509_PURPOSE_SSL_SERVER, why,
	    sizeof(why)))
		return enrol_text_fail(t, "the host certificate does not "
		    "verify against the CA: %s", why);
	return 0;
}

/*
 * enrol_file_parse: an enrolment file, checked as far as it can be
 * without the host's key (enrol.h).  NULL with the reason in err.
 */
struct enrol_file *
enrol_file_parse(const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct enrol_text t = { .what = "enrolment file", .err = err,
	    .errlen = errlen };
	struct enrol_file *f;
	unsigned line[3] = { 0, 0, 0 };

	if (errlen > 0)
		err[0] = '\0';
	if (enrol_text_start(&t, data, len, ENROL_FILE_MAGIC,
	    ENROL_FILE_PREFIX) == -1)
		return NULL;
	f = xcalloc(1, sizeof(*f));
	if (enrol_text_head(&t, f->name, f->address, &f->port) == -1 ||
	    enrol_text_field(&t, "controller", f->controller,
	    sizeof(f->controller)) == -1)
		goto fail;
	if (!enrol_name_ok(f->controller)) {
		(void)enrol_text_fail(&t, "controller: not 1 to 63 of A-Z a-z "
		    "0-9 . - (not starting with . or -)");
		goto fail;
	}
	if (enrol_file_blocks(&t, f, line) == -1 ||
	    enrol_file_check(&t, f, line) == -1)
		goto fail;
	return f;
fail:
	ERR_clear_error();
	enrol_file_free(f);
	return NULL;
}

/*
 * ------------------------------------------------------------------------
 * Issuing (controller) and installing (host).
 * ------------------------------------------------------------------------
 */

/* enrol_issue_load: the authority's key and certificate, the controller's
 * name and the bundle key, from central/. */
static int
enrol_issue_load(const char *dir, EVP_PKEY **cakey, X509 **ca,
    char controller[ENROL_NAME_MAX + 1], EVP_PKEY **bkey, char *err,
    size_t errlen)
{
	char	*kp, *cp, *tp, *bp;
	X509	*ctl = NULL;
	int	 rc = -1;

	kp = xasprintf("%s/%s", dir, ENROL_CA_KEY);
	cp = xasprintf("%s/%s", dir, ENROL_CA_CRT);
	tp = xasprintf("%s/%s", dir, ENROL_CTL_CRT);
	bp = xasprintf("%s/%s", dir, BUNDLE_PUBKEY_NAME);
	if ((*cakey = bundle_key_load(kp, true, err, errlen)) == NULL ||
	    (*ca = enrol_cert_load(cp, err, errlen)) == NULL ||
	    (ctl = enrol_cert_load(tp, err, errlen)) == NULL ||
	    (*bkey = bundle_key_load(bp, false, err, errlen)) == NULL)
		goto out;
	if (X509_check_private_key(*ca, *cakey) != 1)
		(void)enrol_fail(err, errlen, "%s: not the key of %s", kp, cp);
	else if (!enrol_cn(X509_get_subject_name(ctl), controller,
	    ENROL_NAME_MAX + 1) || !enrol_name_ok(controller))
		(void)enrol_fail(err, errlen, "%s: subject is not CN=NAME", tp);
	else
		rc = 0;
out:
	X509_free(ctl);
	free(kp);
	free(cp);
	free(tp);
	free(bp);
	return rc;
}

/*
 * enrol_issue: the host certificate for a parsed request, issued by the
 * authority in confdir/central/, and the enrolment file carrying it into
 * out; fpr gets its fingerprint.
 */
int
enrol_issue(const char *confdir, const struct enrol_request *req,
    struct buf *out, char fpr[ENROL_FPR_LEN + 1], char *err, size_t errlen)
{
	EVP_PKEY *cakey = NULL, *bkey = NULL, *key;
	X509	*ca = NULL, *host = NULL;
	char	*dir, controller[ENROL_NAME_MAX + 1], canon[64], san[80];
	size_t	 start = out->len;
	int	 rc = -1;

	fpr[0] = '\0';
	if (errlen > 0)
		err[0] = '\0';
	if (req == NULL || req->req == NULL || !enrol_name_ok(req->name) ||
	    !enrol_address_canon(req->address, canon, sizeof(canon)) ||
	    req->port == 0 || (key = X509_REQ_get0_pubkey(req->req)) == NULL ||
	    EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return enrol_fail(err, errlen, "not a valid request");
	(void)str_printf(san, sizeof(san), "IP:%s", canon);
	dir = xasprintf("%s/%s", confdir, ENROL_CENTRAL_DIR);
	if (enrol_issue_load(dir, &cakey, &ca, controller, &bkey, err,
	    errlen) == -1)
		goto out;
	if ((host = enrol_cert_new(req->name, key, ca, cakey, ENROL_HOST_DAYS,
	    enrol_host_exts, nitems(enrol_host_exts), san)) == NULL) {
		(void)enrol_fail(err, errlen, "cannot issue the certificate of "
		    "%s", req->name);
		goto out;
	}
	if (!buf_printf(out, "%s\nname=%s\naddress=%s\nport=%u\n"
	    "controller=%s\n", ENROL_FILE_MAGIC, req->name, canon,
	    (unsigned)req->port, controller) ||
	    !enrol_pem_add(ENROL_PEM_CERT, host, out) ||
	    !enrol_pem_add(ENROL_PEM_CERT, ca, out) ||
	    !enrol_pem_add(ENROL_PEM_PUBKEY, bkey, out)) {
		out->len = start;
		(void)enrol_fail(err, errlen, "the enrolment file does not fit "
		    "in its buffer");
		goto out;
	}
	enrol_fingerprint(host, fpr);
	rc = 0;
out:
	X509_free(host);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(bkey);
	free(dir);
	return rc;
}

/* enrol_install_write: ca.crt, bundle.pub, then agent.crt into dir. */
static int
enrol_install_write(const char *dir, const struct enrol_file *f, char *err,
    size_t errlen)
{
	char	*p;
	int	 rc;

	p = xasprintf("%s/%s", dir, ENROL_CA_CRT);
	rc = enrol_pem_save(ENROL_PEM_CERT, f->ca, p, 0644, err, errlen);
	free(p);
	if (rc == -1)
		return -1;
	p = xasprintf("%s/%s", dir, BUNDLE_PUBKEY_NAME);
	rc = enrol_pem_save(ENROL_PEM_PUBKEY, f->bundle, p, 0644, err, errlen);
	free(p);
	if (rc == -1)
		return -1;
	/* Last: agent.crt is what makes the host enrolled. */
	p = xasprintf("%s/%s", dir, ENROL_AGENT_CRT);
	rc = enrol_pem_save(ENROL_PEM_CERT, f->cert, p, 0644, err, errlen);
	free(p);
	return rc;
}

/*
 * enrol_install: check an enrolment file against confdir/agent/agent.key
 * and install its certificates and bundle key into agent/ (a second
 * install, with a new certificate for the same key, replaces them).
 */
int
enrol_install(const char *confdir, const uint8_t *data, size_t len,
    char *err, size_t errlen)
{
	struct enrol_file *f;
	EVP_PKEY *key = NULL;
	char	*dir, *keyp;
	int	 rc = -1;

	if ((f = enrol_file_parse(data, len, err, errlen)) == NULL)
		return -1;
	dir = xasprintf("%s/%s", confdir, ENROL_AGENT_DIR);
	keyp = xasprintf("%s/%s", dir, ENROL_AGENT_KEY);
	if ((key = bundle_key_load(keyp, true, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_eq(key, X509_get0_pubkey(f->cert)) != 1) {
		(void)enrol_fail(err, errlen, "the enrolment file's "
		    "certificate is not for %s (was the request made on this "
		    "host?)", keyp);
		goto out;
	}
	rc = enrol_install_write(dir, f, err, errlen);
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	enrol_file_free(f);
	free(dir);
	free(keyp);
	return rc;
}

/*
 * ------------------------------------------------------------------------
 * TLS contexts.
 * ------------------------------------------------------------------------
 */

/* enrol_ctx_identity: our certificate and key (mode checked) into ctx. */
static int
enrol_ctx_identity(SSL_CTX *ctx, const char *crtp, const char *keyp,
    char *err, size_t errlen)
{
	EVP_PKEY *key;
	int	 ok;

	if (SSL_CTX_use_certificate_file(ctx, crtp, SSL_FILETYPE_PEM) != 1) {
		(void)tls_ctx_fail(NULL, err, errlen, "certificate", crtp);
		return -1;
	}
	if ((key = bundle_key_load(keyp, true, err, errlen)) == NULL)
		return -1;
	ok = SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(key);
	if (!ok) {
		(void)tls_ctx_fail(NULL, err, errlen, "private key does not "
		    "match the certificate:", keyp);
		return -1;
	}
	return 0;
}

/*
 * enrol_ctx_new: a TLS 1.3-only context, no resumption, no
 * renegotiation, with dir's certificate crt and key, trusting dir/ca.crt
 * alone, the peer verified at depth 1 for purpose.
 */
static SSL_CTX *
enrol_ctx_new(const SSL_METHOD *method, const char *dir, const char *crt,
    const char *keyname, int purpose, int mode, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	char	*crtp, *keyp, *cap;

	if (errlen > 0)
		err[0] = '\0';
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(method)) == NULL)
		return tls_ctx_fail(NULL, err, errlen, "SSL_CTX_new", dir);
	crtp = xasprintf("%s/%s", dir, crt);
	keyp = xasprintf("%s/%s", dir, keyname);
	cap = xasprintf("%s/%s", dir, ENROL_CA_CRT);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 0) != 1)
		ctx = tls_ctx_fail(ctx, err, errlen, "TLS 1.3 only for", dir);
	else if (enrol_ctx_identity(ctx, crtp, keyp, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	} else if (SSL_CTX_load_verify_locations(ctx, cap, NULL) != 1)
		ctx = tls_ctx_fail(ctx, err, errlen, "CA certificate", cap);
	else if (SSL_CTX_set_purpose(ctx, purpose) != 1)
		ctx = tls_ctx_fail(ctx, err, errlen, "verify purpose for",
		    dir);
	else {
		SSL_CTX_set_verify(ctx, mode, NULL);
		SSL_CTX_set_verify_depth(ctx, 1);
	}
	free(crtp);
	free(keyp);
	free(cap);
	return ctx;
}

/*
 * enrol_agent_ctx: the host's server context (agent/): TLS 1.3, its
 * certificate, a client certificate from the controller's authority
 * required (clientAuth).
 */
SSL_CTX *
enrol_agent_ctx(const char *confdir, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX	*ctx;
	char	*dir, *cap;

	dir = xasprintf("%s/%s", confdir, ENROL_AGENT_DIR);
	cap = xasprintf("%s/%s", dir, ENROL_CA_CRT);
	ctx = enrol_ctx_new(TLS_server_method(), dir, ENROL_AGENT_CRT,
	    ENROL_AGENT_KEY, X509_PURPOSE_SSL_CLIENT,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, err, errlen);
	if (ctx != NULL) {
		if ((names = SSL_load_client_CA_file(cap)) == NULL)
			ctx = tls_ctx_fail(ctx, err, errlen, "CA names from",
			    cap);
		else
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	free(dir);
	free(cap);
	return ctx;
}

/*
 * enrol_central_ctx: the controller's client context (central/): TLS
 * 1.3, its client certificate, the host's certificate verified against
 * the authority (serverAuth); the caller pins the host's fingerprint.
 */
SSL_CTX *
enrol_central_ctx(const char *confdir, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	char	*dir;

	dir = xasprintf("%s/%s", confdir, ENROL_CENTRAL_DIR);
	ctx = enrol_ctx_new(TLS_client_method(), dir, ENROL_CTL_CRT,
	    ENROL_CTL_KEY, X509_PURPOSE_SSL_SERVER, SSL_VERIFY_PEER, err,
	    errlen);
	free(dir);
	return ctx;
}
