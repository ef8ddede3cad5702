/*
 * test_av.c: the antivirus engine (scanner/av.c), libclamav and clamd.
 *
 * Nothing comes from the network.  The signature database is built at test
 * time in a temporary directory: sigtool --md5 of the EICAR test file
 * (Eicar-Test-Signature) and of clamav-testfiles' clam.exe
 * (ClamAV-Test-File, the file every clamav-testfiles sample carries).
 * Archives (zip, tar.gz, nesting, encrypted zip) are built with libarchive
 * and mail with a few lines of base64/quoted-printable here.  Every file of
 * /usr/share/clamav-testfiles that clamscan detects with the same database
 * must be detected by av_scan() too.  The clamd backend is checked against
 * a real clamd started in the foreground on a private Unix socket, and
 * against a scripted fake clamd on loopback TCP for chunking, reply
 * parsing and the deadline.  Without sigtool, clamscan, clamd or
 * clamav-testfiles the test is skipped (77).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "av.h"
#include "avmsg.h"
#include "mime.h"
#include "log.h"
#include "test.h"
#include "util.h"

#define TESTFILES	"/usr/share/clamav-testfiles"
#define EICAR		"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-" \
			"ANTIVIRUS-TEST-FILE!$H+H*"
#define EICAR_SIG	"Eicar-Test-Signature"
#define CLAM_SIG	"ClamAV-Test-File"

static char	 tmpdir[256];
static char	 dbdir[300];

/* ---- helpers ------------------------------------------------------- */

/* prog_path: the program in PATH, /usr/bin or /usr/sbin, or NULL. */
static const char *
prog_path(const char *name, char *out, size_t size)
{
	const char	*dirs[] = { "/usr/bin", "/usr/sbin", "/usr/local/bin",
			    "/usr/local/sbin" };
	const char	*path = getenv("PATH");
	char		 d[512];
	size_t		 i, n;

	while (path != NULL && *path != '\0') {
		n = strcspn(path, ":");
		if (n > 0 && n < sizeof(d)) {
			memcpy(d, path, n);
			d[n] = '\0';
			if (str_printf(out, size, "%s/%s", d, name) &&
			    access(out, X_OK) == 0)
				return out;
		}
		path += n + (path[n] == ':');
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (str_printf(out, size, "%s/%s", dirs[i], name) &&
		    access(out, X_OK) == 0)
			return out;
	}
	return NULL;
}

/* run_out: run a program, its stdout into out (NUL-terminated); status. */
static int
run_out(char *const argv[], struct buf *out)
{
	pid_t	 pid;
	int	 p[2], st, fd;
	char	 chunk[4096];
	ssize_t	 n;

	if (pipe(p) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		close(p[0]);
		dup2(p[1], 1);
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0)
		buf_add(out, chunk, (size_t)n);
	close(p[0]);
	(void)buf_cstr(out);
	if (pid == -1 || waitpid(pid, &st, 0) == -1)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool
write_file(const char *path, const void *data, size_t len)
{
	FILE	*f;
	bool	 ok;

	if ((f = fopen(path, "w")) == NULL)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/* read_file: a whole file (caller frees), NULL when unreadable. */
static char *
read_file(const char *path, size_t *lenp)
{
	struct buf	 b;
	char		 chunk[65536];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	buf_init(&b, (size_t)1 << 30);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	*lenp = b.len;
	(void)buf_cstr(&b);
	return (char *)b.data;
}

/* pattern: len deterministic bytes that no signature matches. */
static char *
pattern(size_t len, uint32_t seed)
{
	char	*p = malloc(len + 1);
	size_t	 i;

	for (i = 0; i < len; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		p[i] = (char)(seed & 0xff);
	}
	p[len] = '\0';
	return p;
}

/* ---- archives (libarchive, in memory) ------------------------------ */

struct member {
	const char	*name;
	const void	*data;
	size_t		 len;
};

static int
arch_open_cb(struct archive *a, void *ctx)
{
	(void)a;
	(void)ctx;
	return ARCHIVE_OK;
}

static la_ssize_t
arch_write_cb(struct archive *a, void *ctx, const void *data, size_t len)
{
	(void)a;
	return buf_add(ctx, data, len) ? (la_ssize_t)len : -1;
}

enum arch_kind { ARCH_ZIP, ARCH_TGZ, ARCH_ZIP_ENCRYPTED };

/* arch_build: an archive of the members, into out (buf_init'ed). */
static bool
arch_build(enum arch_kind kind, const struct member *m, size_t n,
    struct buf *out)
{
	struct archive		*a = archive_write_new();
	struct archive_entry	*ent;
	size_t			 i;
	bool			 ok = true;

	if (kind == ARCH_TGZ) {
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_gzip(a);
	} else {
		archive_write_set_format_zip(a);
		if (kind == ARCH_ZIP_ENCRYPTED &&
		    (archive_write_set_options(a, "zip:encryption=zipcrypt")
		    != ARCHIVE_OK ||
		    archive_write_set_passphrase(a, "sekisho") != ARCHIVE_OK))
			ok = false;
	}
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, out, arch_open_cb, arch_write_cb, NULL)
	    != ARCHIVE_OK)
		ok = false;
	for (i = 0; ok && i < n; i++) {
		ent = archive_entry_new();
		archive_entry_set_pathname(ent, m[i].name);
		archive_entry_set_size(ent, (la_int64_t)m[i].len);
		archive_entry_set_filetype(ent, AE_IFREG);
		archive_entry_set_perm(ent, 0644);
		archive_entry_set_mtime(ent, 1700000000, 0);
		if (archive_write_header(a, ent) != ARCHIVE_OK ||
		    archive_write_data(a, m[i].data, m[i].len) !=
		    (la_ssize_t)m[i].len)
			ok = false;
		archive_entry_free(ent);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		ok = false;
	if (!ok)
		fprintf(stderr, "arch_build: %s\n", archive_error_string(a));
	archive_write_free(a);
	return ok;
}

/* arch1: an archive of one member (caller buf_free's). */
static struct buf
arch1(enum arch_kind kind, const char *name, const void *data, size_t len)
{
	struct member	 m = { name, data, len };
	struct buf	 b;

	buf_init(&b, (size_t)1 << 30);
	CHECKF(arch_build(kind, &m, 1, &b), "%s", name);
	return b;
}

/* ---- mail ---------------------------------------------------------- */

static void
b64(struct buf *out, const void *data, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t	 i, col = 0;
	uint32_t v;
	char	 q[4];

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		buf_add(out, q, 4);
		if ((col += 4) >= 76) {
			buf_addstr(out, "\r\n");
			col = 0;
		}
	}
	if (col > 0)
		buf_addstr(out, "\r\n");
}

/* qp: quoted-printable, every non-alphanumeric byte as =XX. */
static void
qp(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t	 i, col = 0;
	char	 tok[4];

	for (i = 0; i < len; i++) {
		if ((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' &&
		    p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9'))
			snprintf(tok, sizeof(tok), "%c", p[i]);
		else
			snprintf(tok, sizeof(tok), "=%02X", p[i]);
		if (col + strlen(tok) > 75) {
			buf_addstr(out, "=\r\n");
			col = 0;
		}
		buf_addstr(out, tok);
		col += strlen(tok);
	}
	buf_addstr(out, "\r\n");
}

/* mail: a message with a text part and one attachment in the encoding. */
static struct buf
mail(const char *cte, const char *fname, const void *data, size_t len)
{
	struct buf	 b;

	buf_init(&b, (size_t)1 << 30);
	buf_printf(&b, "From: <a@example.com>\r\nTo: <b@example.org>\r\n"
	    "Subject: test\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_b1\"\r\n\r\n"
	    "--=_b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "See the attachment.\r\n\r\n"
	    "--=_b1\r\nContent-Type: application/octet-stream; "
	    "name=\"%s\"\r\nContent-Disposition: attachment; "
	    "filename=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n",
	    fname, fname, cte);
	if (strcmp(cte, "base64") == 0)
		b64(&b, data, len);
	else
		qp(&b, data, len);
	buf_addstr(&b, "--=_b1--\r\n");
	return b;
}

/* ---- database ------------------------------------------------------ */

/* sig_line: "md5:size:NAME\n" for a file, from sigtool --md5. */
static bool
sig_line(const char *sigtool, const char *file, const char *name,
    struct buf *db)
{
	char	*argv[] = { (char *)sigtool, "--md5", (char *)file, NULL };
	struct buf out;
	char	*p, *q;
	bool	 ok = false;

	buf_init(&out, 65536);
	if (run_out(argv, &out) == 0 && out.len > 0) {
		/* "hash:size:filename\n": keep hash:size, rename. */
		p = strchr((char *)out.data, ':');
		q = p != NULL ? strchr(p + 1, ':') : NULL;
		if (q != NULL) {
			*q = '\0';
			buf_printf(db, "%s:%s\n", (char *)out.data, name);
			ok = true;
		}
	}
	buf_free(&out);
	return ok;
}

/*
 * db_build: tmpdir/db with test.hdb (sigtool --md5 of the EICAR file and
 * of clam.exe) and test.ndb: EICAR as a body signature at offset 0, as
 * the EICAR definition allows trailing bytes (libclamav's
 * quoted-printable decoder ends the part with a newline, so the hash of
 * such an attachment is not EICAR's).
 */
static bool
db_build(const char *sigtool)
{
	char		 eicar[300], hdb[320], ndb[320];
	struct buf	 db;
	size_t		 i;
	bool		 ok;

	snprintf(dbdir, sizeof(dbdir), "%s/db", tmpdir);
	snprintf(eicar, sizeof(eicar), "%s/eicar.com", tmpdir);
	snprintf(hdb, sizeof(hdb), "%s/test.hdb", dbdir);
	snprintf(ndb, sizeof(ndb), "%s/test.ndb", dbdir);
	if (mkdir(dbdir, 0755) == -1 ||
	    !write_file(eicar, EICAR, strlen(EICAR)))
		return false;
	buf_init(&db, 65536);
	ok = sig_line(sigtool, eicar, EICAR_SIG, &db) &&
	    sig_line(sigtool, TESTFILES "/clam.exe", CLAM_SIG, &db) &&
	    write_file(hdb, db.data, db.len);
	buf_reset(&db);
	buf_addstr(&db, EICAR_SIG ":0:0:");
	for (i = 0; i < strlen(EICAR); i++)
		buf_printf(&db, "%02x", (unsigned char)EICAR[i]);
	buf_addstr(&db, "\n");
	ok = ok && write_file(ndb, db.data, db.len);
	buf_free(&db);
	return ok;
}

/* ---- engine helpers ------------------------------------------------ */

static void
conf_default(struct av_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->kind = AV_LIBCLAMAV;
	c->dbdir = dbdir;
	c->tmpdir = tmpdir;
	c->max_scan_size = 100 * 1024 * 1024;
	c->max_file_size = 25 * 1024 * 1024;
	c->max_recursion = 17;
	c->max_files = 10000;
	c->timeout_ms = 60000;
}

static struct av_engine *
open_or_report(const struct av_conf *c)
{
	struct av_engine *e;
	char		 err[512];

	if ((e = av_open(c, err, sizeof(err))) == NULL)
		fprintf(stderr, "av_open: %s\n", err);
	CHECK(e != NULL);
	return e;
}

/* expect: scan and check the verdict and, if given, the name's start. */
static void
expect(struct av_engine *e, const char *what, const void *data, size_t len,
    enum av_verdict v, const char *prefix)
{
	struct av_result r;

	CHECKF(av_scan(e, data, len, &r) == 0, "%s", what);
	CHECKF(r.verdict == v, "%s: %s (%s), want %s", what,
	    av_verdict_name(r.verdict), r.name, av_verdict_name(v));
	if (prefix != NULL)
		CHECKF(strncmp(r.name, prefix, strlen(prefix)) == 0,
		    "%s: name \"%s\", want \"%s...\"", what, r.name, prefix);
}

/* ---- the samples shared by libclamav and clamd --------------------- */

struct sample {
	const char	*what;
	struct buf	 data;
	enum av_verdict	 verdict;
	const char	*prefix;
};

#define NSAMPLES	16
static struct sample samples[NSAMPLES];
static size_t nsamples;

static void
sample_add(const char *what, struct buf b, enum av_verdict v,
    const char *prefix)
{
	if (nsamples >= NSAMPLES)
		abort();
	samples[nsamples].what = what;
	samples[nsamples].data = b;
	samples[nsamples].verdict = v;
	samples[nsamples].prefix = prefix;
	nsamples++;
}

static struct buf
bytes(const void *data, size_t len)
{
	struct buf	 b;

	buf_init(&b, (size_t)1 << 30);
	buf_add(&b, data, len);
	return b;
}

/* samples_build: EICAR in every wrapping, and clean look-alikes. */
static void
samples_build(void)
{
	const char	*text = "Hello,\r\n\r\nnothing to see here.\r\n";
	char		*noise = pattern(200000, 7);
	struct member	 mix[3] = {
		{ "readme.txt", text, strlen(text) },
		{ "noise.bin", noise, 200000 },
		{ "eicar.com", EICAR, strlen(EICAR) },
	};
	struct buf	 zip, tgz, inner, b;

	sample_add("plain", bytes(EICAR, strlen(EICAR)), AV_INFECTED,
	    EICAR_SIG);
	zip = arch1(ARCH_ZIP, "eicar.com", EICAR, strlen(EICAR));
	sample_add("zip", zip, AV_INFECTED, EICAR_SIG);
	tgz = arch1(ARCH_TGZ, "dir/eicar.com", EICAR, strlen(EICAR));
	sample_add("tar.gz", tgz, AV_INFECTED, EICAR_SIG);
	b = arch1(ARCH_TGZ, "inner.zip", zip.data, zip.len);
	sample_add("zip in tar.gz", b, AV_INFECTED, EICAR_SIG);
	inner = arch1(ARCH_ZIP, "a.tar.gz", tgz.data, tgz.len);
	b = arch1(ARCH_ZIP, "b.zip", inner.data, inner.len);
	buf_free(&inner);
	sample_add("tar.gz in zip in zip", b, AV_INFECTED, EICAR_SIG);
	buf_init(&b, (size_t)1 << 30);
	CHECK(arch_build(ARCH_ZIP, mix, 3, &b));
	sample_add("zip, third member", b, AV_INFECTED, EICAR_SIG);
	sample_add("mail base64", mail("base64", "eicar.com", EICAR,
	    strlen(EICAR)), AV_INFECTED, EICAR_SIG);
	sample_add("mail quoted-printable", mail("quoted-printable",
	    "eicar.txt", EICAR, strlen(EICAR)), AV_INFECTED, EICAR_SIG);
	sample_add("mail base64 zip", mail("base64", "eicar.zip", zip.data,
	    zip.len), AV_INFECTED, EICAR_SIG);
	/* Clean: text, noise, a zip and a mail with clean members. */
	sample_add("clean text", bytes(text, strlen(text)), AV_CLEAN, NULL);
	sample_add("clean noise", bytes(noise, 200000), AV_CLEAN, NULL);
	buf_init(&b, (size_t)1 << 30);
	CHECK(arch_build(ARCH_ZIP, mix, 2, &b));
	sample_add("clean zip", b, AV_CLEAN, NULL);
	sample_add("clean mail", mail("base64", "noise.bin", noise, 200000),
	    AV_CLEAN, NULL);
	/* EICAR, cut short by one byte, is not EICAR. */
	sample_add("clean eicar-1", bytes(EICAR, strlen(EICAR) - 1),
	    AV_CLEAN, NULL);
	free(noise);
}

static void
samples_free(void)
{
	size_t	 i;

	for (i = 0; i < nsamples; i++)
		buf_free(&samples[i].data);
	nsamples = 0;
}

static void
samples_check(struct av_engine *e, const char *backend)
{
	char	 what[128];
	size_t	 i;

	for (i = 0; i < nsamples; i++) {
		snprintf(what, sizeof(what), "%s: %s", backend,
		    samples[i].what);
		expect(e, what, samples[i].data.data, samples[i].data.len,
		    samples[i].verdict, samples[i].prefix);
	}
}

/* ---- the message in two views (avmsg.c) ---------------------------- */

/*
 * differ: a mail with clam.exe attached in a way GMime decodes but
 * libclamav's own mail parser (0.103 to 1.x) does not: the boundary as
 * an RFC 2231 parameter, or quoted-printable on one 2,000-byte line.
 */
static struct buf
differ(bool rfc2231, const void *data, size_t len)
{
	const unsigned char *p = data;
	struct buf	 b;
	size_t		 i;

	buf_init(&b, (size_t)1 << 30);
	buf_printf(&b, "From: <a@example.com>\r\nTo: <b@example.org>\r\n"
	    "Subject: test\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary%s=\"XX\"\r\n\r\n"
	    "--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX\r\n"
	    "Content-Type: application/octet-stream; name=a.exe\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n", rfc2231 ? "*" : "",
	    rfc2231 ? "base64" : "quoted-printable");
	if (rfc2231)
		b64(&b, data, len);
	else {
		for (i = 0; i < len; i++)
			buf_printf(&b, "=%02X", p[i]);
		buf_addstr(&b, "\r\n");
	}
	buf_addstr(&b, "--XX--\r\n");
	return b;
}

/*
 * t_avmsg: avmsg_analyse() scans the raw message and each decoded part:
 * what only GMime decodes is still found, a finding names the virus in
 * msg.virus, and a clean message stays clean with one scan per leaf.
 */
static void
t_avmsg(void)
{
	struct av_conf		 c;
	struct av_engine	*e;
	struct scan_limits	 lim;
	struct scan_msg		 m;
	struct avmsg_result	 r;
	struct av_result	 raw;
	struct buf		 b;
	char			*exe, err[256];
	size_t			 len, i;

	conf_default(&c);
	if ((e = open_or_report(&c)) == NULL)
		return;
	CHECK(mime_init(err, sizeof(err)) == 0);
	mime_limits_default(&lim);
	if ((exe = read_file(TESTFILES "/clam.exe", &len)) == NULL) {
		CHECK(!"read clam.exe");
		av_close(e);
		return;
	}
	for (i = 0; i < 2; i++) {
		b = differ(i == 0, exe, len);
		(void)av_scan(e, b.data, b.len, &raw);
		if (raw.verdict != AV_CLEAN)
			fprintf(stderr, "test_av: note: libclamav now reads "
			    "the %s mail itself\n", i == 0 ? "RFC 2231" :
			    "long-line QP");
		CHECK(avmsg_analyse(e, b.data, b.len, &lim, &m, &r, err,
		    sizeof(err)) == 0);
		CHECKF(r.av.verdict == AV_INFECTED && m.virus != NULL &&
		    strncmp(m.virus, CLAM_SIG, strlen(CLAM_SIG)) == 0,
		    "two views %zu: %s (%s)", i, av_verdict_name(r.av.verdict),
		    r.av.name);
		/* Found in the raw message or the first part: no more scans. */
		CHECK(r.scans >= 1 && r.scans <= 3);
		scan_msg_free(&m);
		buf_free(&b);
	}
	/* A clean mail: the raw message and both leaves, nothing found. */
	b = mail("base64", "noise.bin", "just noise", 10);
	CHECK(avmsg_analyse(e, b.data, b.len, &lim, &m, &r, err,
	    sizeof(err)) == 0);
	CHECK(r.av.verdict == AV_CLEAN && m.virus == NULL);
	CHECKF(r.scans == 3, "clean mail: %u scans", r.scans);
	scan_msg_free(&m);
	buf_free(&b);
	/* No engine: the analysis alone. */
	b = differ(false, exe, len);
	CHECK(avmsg_analyse(NULL, b.data, b.len, &lim, &m, &r, err,
	    sizeof(err)) == 0);
	CHECK(r.av.verdict == AV_CLEAN && r.scans == 0 && m.virus == NULL &&
	    m.nparts == 2);
	scan_msg_free(&m);
	buf_free(&b);
	free(exe);
	mime_shutdown();
	av_close(e);
}

/* ---- libclamav ----------------------------------------------------- */

/* t_libclamav_samples: EICAR everywhere it hides, clean stays clean. */
static void
t_libclamav_samples(void)
{
	struct av_conf	 c;
	struct av_engine *e;

	conf_default(&c);
	if ((e = open_or_report(&c)) == NULL)
		return;
	samples_check(e, "libclamav");
	av_close(e);
}

/* t_libclamav_version: engine version, signatures, database changes. */
static void
t_libclamav_version(void)
{
	struct av_conf	 c;
	struct av_engine *e, *e2;
	char		 dir2[320], path[400], *line;
	size_t		 len;

	/* A copy of the database, so adding to it leaves dbdir alone. */
	snprintf(dir2, sizeof(dir2), "%s/db2", tmpdir);
	CHECK(mkdir(dir2, 0755) == 0);
	snprintf(path, sizeof(path), "%s/test.hdb", dbdir);
	line = read_file(path, &len);
	CHECK(line != NULL);
	snprintf(path, sizeof(path), "%s/test.hdb", dir2);
	CHECK(line != NULL && write_file(path, line, len));
	free(line);
	conf_default(&c);
	c.dbdir = dir2;
	if ((e = open_or_report(&c)) == NULL)
		return;
	CHECKF(strncmp(av_version(e), "ClamAV 1.", 9) == 0, "%s",
	    av_version(e));
	CHECK_INTEQ(av_signatures(e), 2);
	CHECK_INTEQ(av_db_changed(e), 0);
	expect(e, "old db: noise", "just some text", 14, AV_CLEAN, NULL);
	expect(e, "empty buffer", "", 0, AV_CLEAN, NULL);
	/* A new signature file: a reload sees it, the old engine not. */
	sleep(1);	/* cl_statchkdir compares mtimes in seconds */
	snprintf(path, sizeof(path), "%s/more.ndb", dir2);
	line = "Sekisho-Test-Body:0:*:6a75737420736f6d652074657874\n";
	CHECK(write_file(path, line, strlen(line)));
	CHECK_INTEQ(av_db_changed(e), 1);
	e2 = open_or_report(&c);
	if (e2 != NULL) {
		CHECK_INTEQ(av_signatures(e2), 3);
		expect(e2, "new db: body sig", "just some text", 14,
		    AV_INFECTED, "Sekisho-Test-Body");
		expect(e2, "new db: eicar", EICAR, strlen(EICAR), AV_INFECTED,
		    EICAR_SIG);
		CHECK_INTEQ(av_db_changed(e2), 0);
	}
	expect(e, "old db still serves", "just some text", 14, AV_CLEAN,
	    NULL);
	av_close(e);
	av_close(e2);
}

/* t_libclamav_open_errors: no directory, no signatures, bad kinds. */
static void
t_libclamav_open_errors(void)
{
	struct av_conf	 c;
	char		 err[512], empty[320];
	struct av_engine *e;

	conf_default(&c);
	c.dbdir = "/nonexistent/sekisho-db";
	err[0] = '\0';
	e = av_open(&c, err, sizeof(err));
	CHECK(e == NULL);
	CHECKF(strstr(err, "cl_load") != NULL, "%s", err);
	av_close(e);

	snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
	CHECK(mkdir(empty, 0755) == 0);
	c.dbdir = empty;
	err[0] = '\0';
	e = av_open(&c, err, sizeof(err));
	CHECK(e == NULL);
	CHECKF(err[0] != '\0', "%s", "no reason");
	av_close(e);

	c.dbdir = NULL;
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	c.kind = (enum av_kind)7;
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "kind") != NULL, "%s", err);
}

/* t_libclamav_encrypted: an encrypted zip is its own verdict on request. */
static void
t_libclamav_encrypted(void)
{
	struct av_conf	 c;
	struct av_engine *e;
	struct buf	 enc, enc_eicar, m;
	const char	*text = "a secret";

	enc = arch1(ARCH_ZIP_ENCRYPTED, "secret.txt", text, strlen(text));
	enc_eicar = arch1(ARCH_ZIP_ENCRYPTED, "eicar.com", EICAR,
	    strlen(EICAR));
	m = mail("base64", "secret.zip", enc.data, enc.len);
	conf_default(&c);
	c.block_encrypted = true;
	if ((e = open_or_report(&c)) != NULL) {
		expect(e, "encrypted zip", enc.data, enc.len, AV_ENCRYPTED,
		    "Heuristics.Encrypted.Zip");
		expect(e, "encrypted zip, eicar", enc_eicar.data,
		    enc_eicar.len, AV_ENCRYPTED, "Heuristics.Encrypted");
		expect(e, "mail with encrypted zip", m.data, m.len,
		    AV_ENCRYPTED, "Heuristics.Encrypted");
		av_close(e);
	}
	c.block_encrypted = false;
	if ((e = open_or_report(&c)) != NULL) {
		/* Nothing readable inside: clean, as libclamav sees it. */
		expect(e, "encrypted zip, not blocked", enc.data, enc.len,
		    AV_CLEAN, NULL);
		av_close(e);
	}
	buf_free(&enc);
	buf_free(&enc_eicar);
	buf_free(&m);
}

/* t_libclamav_limits: every limit gives AV_TOO_LARGE, a virus wins. */
static void
t_libclamav_limits(void)
{
	struct av_conf	 c;
	struct av_engine *e;
	char		*big = pattern(64 * 1024, 3), *text = malloc(64 * 1024);
	struct member	 many[8], mix[2];
	struct buf	 zbig, tbig, zmany, nest, tmp, zmix;
	char		 names[8][16];
	int		 i;

	/* Text compresses: the zip is small, its member is not. */
	for (i = 0; i < 64 * 1024; i++)
		text[i] = "clean text\n"[i % 11];
	zbig = arch1(ARCH_ZIP, "big.txt", text, 64 * 1024);
	tbig = arch1(ARCH_TGZ, "big.txt", text, 64 * 1024);
	for (i = 0; i < 8; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d.txt", i);
		many[i].name = names[i];
		many[i].data = names[i];
		many[i].len = strlen(names[i]);
	}
	buf_init(&zmany, (size_t)1 << 30);
	CHECK(arch_build(ARCH_ZIP, many, 8, &zmany));
	/* eicar.com in 5 levels of zip. */
	nest = arch1(ARCH_ZIP, "eicar.com", EICAR, strlen(EICAR));
	for (i = 0; i < 4; i++) {
		tmp = arch1(ARCH_ZIP, "n.zip", nest.data, nest.len);
		buf_free(&nest);
		nest = tmp;
	}
	mix[0] = (struct member){ "big.tar.gz", tbig.data, tbig.len };
	mix[1] = (struct member){ "eicar.com", EICAR, strlen(EICAR) };
	buf_init(&zmix, (size_t)1 << 30);
	CHECK(arch_build(ARCH_ZIP, mix, 2, &zmix));

	conf_default(&c);
	c.max_file_size = 16 * 1024;
	if ((e = open_or_report(&c)) != NULL) {
		expect(e, "buffer > max_file_size", big, 64 * 1024,
		    AV_TOO_LARGE, "Heuristics.Limits.Exceeded.MaxFileSize");
		/*
		 * A tar member over the limit is not scanned: limit hit.  (A
		 * zip member is cut to max_file_size and its head scanned,
		 * libclamav's choice, so the zip's verdict is clean.)
		 */
		expect(e, "tar member > max_file_size", tbig.data, tbig.len,
		    AV_TOO_LARGE, "Heuristics.Limits.Exceeded");
		expect(e, "zip: tar.gz > max_file_size, then eicar", zmix.data,
		    zmix.len, AV_INFECTED, EICAR_SIG);
		av_close(e);
	}
	conf_default(&c);
	c.max_scan_size = 32 * 1024;
	if ((e = open_or_report(&c)) != NULL) {
		expect(e, "buffer > max_scan_size", big, 64 * 1024,
		    AV_TOO_LARGE, "Heuristics.Limits.Exceeded.MaxScanSize");
		expect(e, "expanded > max_scan_size", zbig.data, zbig.len,
		    AV_TOO_LARGE, "Heuristics.Limits.Exceeded");
		av_close(e);
	}
	conf_default(&c);
	c.max_files = 3;
	if ((e = open_or_report(&c)) != NULL) {
		expect(e, "members > max_files", zmany.data, zmany.len,
		    AV_TOO_LARGE, "Heuristics.Limits.Exceeded");
		av_close(e);
	}
	conf_default(&c);
	c.max_recursion = 3;
	if ((e = open_or_report(&c)) != NULL) {
		expect(e, "nesting > max_recursion", nest.data, nest.len,
		    AV_TOO_LARGE, "Heuristics.Limits.Exceeded");
		av_close(e);
	}
	conf_default(&c);
	if ((e = open_or_report(&c)) != NULL) {
		expect(e, "5 levels of zip, default limits", nest.data,
		    nest.len, AV_INFECTED, EICAR_SIG);
		av_close(e);
	}
	buf_free(&zbig);
	buf_free(&tbig);
	buf_free(&zmany);
	buf_free(&nest);
	buf_free(&zmix);
	free(big);
	free(text);
}

/* testfiles_detected: clamscan's "path: NAME FOUND" lines, as text. */
static bool
testfiles_detected(struct buf *out)
{
	char	 clamscan[512];
	/* The limits and options of conf_default(). */
	char	*argv[] = { clamscan, "--no-summary", "--infected", "-d",
		    dbdir, "--max-scansize=100M", "--max-filesize=25M",
		    "--max-recursion=17", "--max-files=10000",
		    "--max-scantime=60000", "--alert-exceeds-max=yes",
		    TESTFILES, NULL };

	if (prog_path("clamscan", clamscan, sizeof(clamscan)) == NULL)
		return false;
	buf_init(out, (size_t)1 << 24);
	/* 1: something was found, as it should be. */
	return run_out(argv, out) == 1;
}

/*
 * testfiles_check: every file clamscan detects, av_scan detects with the
 * same name; returns how many.
 */
static int
testfiles_check(struct av_engine *e, const char *backend,
    const struct buf *found)
{
	char		 path[512], key[600], want[300], what[600];
	const char	*line, *p;
	struct av_result r;
	struct dirent	*de;
	DIR		*d;
	char		*data;
	size_t		 len;
	int		 n = 0;

	if ((d = opendir(TESTFILES)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", TESTFILES, de->d_name);
		snprintf(what, sizeof(what), "%s: %s", backend, path);
		/* clamscan's verdict for this path. */
		snprintf(key, sizeof(key), "%s: ", path);
		line = strstr((const char *)found->data, key);
		if (line == NULL)
			continue;
		line += strlen(key);
		p = strstr(line, " FOUND");
		if (p == NULL || (size_t)(p - line) >= sizeof(want))
			continue;
		memcpy(want, line, (size_t)(p - line));
		want[p - line] = '\0';
		if ((data = read_file(path, &len)) == NULL) {
			CHECKF(0, "%s: unreadable", what);
			continue;
		}
		CHECKF(av_scan(e, data, len, &r) == 0, "%s", what);
		CHECKF(r.verdict == AV_INFECTED && strcmp(r.name, want) == 0,
		    "%s: %s (%s), clamscan: %s", what,
		    av_verdict_name(r.verdict), r.name, want);
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

/* t_libclamav_testfiles: what clamscan detects, av_scan detects. */
static void
t_libclamav_testfiles(void)
{
	struct av_conf	 c;
	struct av_engine *e;
	struct buf	 found;
	int		 n;

	CHECK(testfiles_detected(&found));
	conf_default(&c);
	if ((e = open_or_report(&c)) != NULL) {
		n = testfiles_check(e, "libclamav", &found);
		fprintf(stderr, "libclamav: %d clamav-testfiles detected\n",
		    n);
		/* The package has some 45 samples of clam.exe. */
		CHECKF(n >= 40, "only %d", n);
		av_close(e);
	}
	buf_free(&found);
}

/* ---- a fake clamd on loopback TCP ---------------------------------- */

/*
 * fake_serve: one connection.  INSTREAM data must be bytes i % 251; the
 * first byte of the data picks the answer.
 */
static void
fake_serve(int fd)
{
	char		 cmd[16], reply[128];
	uint32_t	 hdr, n, i, total = 0;
	unsigned char	 chunk[65536 * 2];
	unsigned char	 mode = 0;
	bool		 good = true;
	size_t		 got;
	ssize_t		 r;

	for (got = 0; got < sizeof(cmd); got++)
		if (read(fd, cmd + got, 1) != 1 || cmd[got] == '\0')
			break;
	if (strcmp(cmd, "zPING") == 0) {
		(void)write(fd, "PONG", 5);
		return;
	}
	if (strcmp(cmd, "zVERSION") == 0) {
		(void)write(fd, "ClamAV 9.9.9/1/fake\n", 21);
		return;
	}
	for (;;) {
		if (read(fd, &hdr, 4) != 4)
			return;
		n = ntohl(hdr);
		if (n == 0)
			break;
		if (n > sizeof(chunk))
			return;
		for (got = 0; got < n; got += (size_t)r)
			if ((r = read(fd, chunk + got, n - got)) <= 0)
				return;
		if (total == 0)
			mode = chunk[0];
		for (i = 0; i < n; i++)
			if (mode == 0 && chunk[i] != (total + i) % 251)
				good = false;
		total += n;
	}
	if (mode == 'S') {
		sleep(3);
		return;
	}
	if (mode == 'F')
		snprintf(reply, sizeof(reply), "stream: Eicar-Test-Signature"
		    "(44d88612fea8a8f36de82e1278abb02f:68) FOUND");
	else if (mode == 'E')
		snprintf(reply, sizeof(reply), "stream: "
		    "Heuristics.Encrypted.Zip FOUND");
	else if (mode == 'L')
		snprintf(reply, sizeof(reply), "INSTREAM size limit "
		    "exceeded. ERROR");
	else if (mode == 'X')
		snprintf(reply, sizeof(reply), "stream: Can't allocate "
		    "memory ERROR");
	else
		snprintf(reply, sizeof(reply), "stream: %s",
		    good && total == 300000 ? "OK" : "Corrupt ERROR");
	(void)write(fd, reply, strlen(reply) + 1);
}

/* fake_start: a forked fake clamd; its port. */
static int
fake_start(pid_t *pid)
{
	struct sockaddr_in sin;
	socklen_t	 slen = sizeof(sin);
	int		 s, c, one = 1;

	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(s, 16) == -1 ||
	    getsockname(s, (struct sockaddr *)&sin, &slen) == -1) {
		close(s);
		return -1;
	}
	if ((*pid = fork()) == 0) {
		for (;;) {
			if ((c = accept(s, NULL, NULL)) == -1)
				_exit(0);
			fake_serve(c);
			close(c);
		}
	}
	close(s);
	return ntohs(sin.sin_port);
}

/* t_clamd_fake: framing, reply parsing and the deadline, over TCP. */
static void
t_clamd_fake(void)
{
	struct av_conf	 c;
	struct av_engine *e;
	char		 addr[64], err[512];
	unsigned char	*data = malloc(300000);
	struct av_result r;
	pid_t		 pid;
	int		 port, i;
	int64_t		 t0;

	for (i = 0; i < 300000; i++)
		data[i] = (unsigned char)(i % 251);
	if ((port = fake_start(&pid)) <= 0) {
		CHECKF(0, "%s", "fake clamd did not start");
		free(data);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.kind = AV_CLAMD;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	c.clamd = addr;
	c.timeout_ms = 1000;
	e = open_or_report(&c);
	if (e != NULL) {
		CHECK_STREQ(av_version(e), "ClamAV 9.9.9/1/fake");
		CHECK_INTEQ(av_signatures(e), 0);
		CHECK_INTEQ(av_db_changed(e), 0);
		/* 300000 bytes in five chunks, reassembled intact. */
		expect(e, "fake: chunks", data, 300000, AV_CLEAN, NULL);
		data[0] = 'F';
		expect(e, "fake: found", data, 100, AV_INFECTED, NULL);
		CHECK(av_scan(e, data, 100, &r) == 0);
		CHECK_STREQ(r.name, "Eicar-Test-Signature");
		data[0] = 'E';
		expect(e, "fake: encrypted", data, 100, AV_ENCRYPTED,
		    "Heuristics.Encrypted.Zip");
		data[0] = 'L';
		expect(e, "fake: size limit", data, 100, AV_TOO_LARGE,
		    "clamd: INSTREAM size limit");
		data[0] = 'X';
		expect(e, "fake: error", data, 100, AV_ERROR,
		    "clamd: Can't allocate");
		data[0] = 'S';
		t0 = (int64_t)time(NULL);
		expect(e, "fake: no reply in time", data, 100, AV_ERROR,
		    "clamd 127.0.0.1");
		CHECK((int64_t)time(NULL) - t0 <= 2);
		av_close(e);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	/* Nobody listening any more: av_open fails, av_scan errs. */
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "PING") != NULL, "%s", err);
	/* Well-formed addresses get as far as PING. */
	c.clamd = "[::1]:1";
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "PING") != NULL, "%s", err);
	c.clamd = "unix:/nonexistent/clamd.sock";
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "PING") != NULL, "%s", err);
	c.clamd = "no-port";
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "clamd: bad address") != NULL, "%s", err);
	c.clamd = "::1:3310";
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	c.clamd = "unix:relative";
	CHECK(av_open(&c, err, sizeof(err)) == NULL);
	free(data);
}

/* ---- a real clamd on a private Unix socket ------------------------- */

/* clamd_start: clamd in the foreground with our database; its pid. */
static pid_t
clamd_start(const char *clamd, const char *sock)
{
	char		 conf[320], log[320], cf[2048];
	char		*argv[] = { (char *)clamd, "--foreground", "-c", conf,
			    NULL };
	struct stat	 st;
	pid_t		 pid;
	int		 i, fd;

	snprintf(conf, sizeof(conf), "%s/clamd.conf", tmpdir);
	snprintf(log, sizeof(log), "%s/clamd.log", tmpdir);
	snprintf(cf, sizeof(cf),
	    "DatabaseDirectory %s\nLocalSocket %s\nLocalSocketMode 600\n"
	    "FixStaleSocket yes\nForeground yes\nLogFile %s\nLogVerbose yes\n"
	    "TemporaryDirectory %s\nStreamMaxLength 4M\nMaxThreads 2\n"
	    "AlertEncrypted yes\nScanMail yes\nScanArchive yes\n"
	    "SelfCheck 0\n", dbdir, sock, log, tmpdir);
	if (!write_file(conf, cf, strlen(cf)))
		return -1;
	if ((pid = fork()) == 0) {
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600))
		    != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	/* The socket appears once the database is loaded. */
	for (i = 0; i < 600; i++) {
		if (stat(sock, &st) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50 * 1000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

/* t_clamd_real: the same samples and testfiles through clamd. */
static void
t_clamd_real(void)
{
	struct av_conf	 c;
	struct av_engine *e = NULL;
	char		 clamd[512], sock[320], addr[340], err[512];
	char		*big;
	struct buf	 found;
	pid_t		 pid;
	int		 n, i;

	if (prog_path("clamd", clamd, sizeof(clamd)) == NULL) {
		CHECKF(0, "%s", "clamd not found");
		return;
	}
	snprintf(sock, sizeof(sock), "%s/clamd.sock", tmpdir);
	if ((pid = clamd_start(clamd, sock)) == -1) {
		CHECKF(0, "clamd did not start: see %s/clamd.log", tmpdir);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.kind = AV_CLAMD;
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	c.clamd = addr;
	c.timeout_ms = 30000;
	/* The socket may exist a moment before clamd accepts. */
	for (i = 0; i < 100 && e == NULL; i++) {
		if ((e = av_open(&c, err, sizeof(err))) == NULL)
			usleep(100 * 1000);
	}
	CHECKF(e != NULL, "%s", err);
	if (e != NULL) {
		CHECKF(strncmp(av_version(e), "ClamAV 1.", 9) == 0, "%s",
		    av_version(e));
		samples_check(e, "clamd");
		big = pattern(5 * 1024 * 1024, 11);
		expect(e, "clamd: over StreamMaxLength", big, 5 * 1024 * 1024,
		    AV_TOO_LARGE, "clamd: INSTREAM size limit exceeded");
		free(big);
		CHECK(testfiles_detected(&found));
		n = testfiles_check(e, "clamd", &found);
		fprintf(stderr, "clamd: %d clamav-testfiles detected\n", n);
		CHECKF(n >= 40, "only %d", n);
		buf_free(&found);
		av_close(e);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* t_clamd_encrypted: AlertEncrypted gives AV_ENCRYPTED; our byte limit. */
static void
t_clamd_encrypted(void)
{
	struct av_conf	 c;
	struct av_engine *e;
	char		 clamd[512], sock[320], addr[340], err[512];
	struct buf	 enc;
	char		*big;
	pid_t		 pid;
	int		 i;

	if (prog_path("clamd", clamd, sizeof(clamd)) == NULL)
		return;
	snprintf(sock, sizeof(sock), "%s/clamd2.sock", tmpdir);
	if ((pid = clamd_start(clamd, sock)) == -1) {
		CHECKF(0, "clamd did not start: see %s/clamd.log", tmpdir);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.kind = AV_CLAMD;
	snprintf(addr, sizeof(addr), "unix:%s", sock);
	c.clamd = addr;
	c.timeout_ms = 30000;
	c.max_file_size = 1000;
	e = NULL;
	for (i = 0; i < 100 && e == NULL; i++)
		if ((e = av_open(&c, err, sizeof(err))) == NULL)
			usleep(100 * 1000);
	CHECKF(e != NULL, "%s", err);
	enc = arch1(ARCH_ZIP_ENCRYPTED, "secret.txt", "a secret", 8);
	big = pattern(4000, 5);
	if (e != NULL) {
		expect(e, "clamd: encrypted zip", enc.data, enc.len,
		    AV_ENCRYPTED, "Heuristics.Encrypted.Zip");
		/* Our own byte limit applies before anything is sent. */
		expect(e, "clamd: > max_file_size", big, 4000, AV_TOO_LARGE,
		    "Heuristics.Limits.Exceeded.MaxFileSize");
		av_close(e);
	}
	buf_free(&enc);
	free(big);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* ---- main ---------------------------------------------------------- */

static void
t_all(void)
{
	t_libclamav_samples();
	t_libclamav_version();
	t_libclamav_open_errors();
	t_libclamav_encrypted();
	t_libclamav_limits();
	t_libclamav_testfiles();
	t_avmsg();
	t_clamd_fake();
	t_clamd_real();
	t_clamd_encrypted();
}

int
main(void)
{
	char		 sigtool[512], prog[512];
	const char	*tmp = getenv("TMPDIR");
	struct stat	 st;
	int		 rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_av", true, LOG_LVL_WARN);
	if (prog_path("sigtool", sigtool, sizeof(sigtool)) == NULL ||
	    prog_path("clamscan", prog, sizeof(prog)) == NULL ||
	    prog_path("clamd", prog, sizeof(prog)) == NULL ||
	    stat(TESTFILES "/clam.exe", &st) == -1) {
		fprintf(stderr, "test_av: skipped: needs sigtool, clamscan "
		    "(clamav), clamd (clamav-daemon) and " TESTFILES
		    " (clamav-testfiles); run scripts/install-deps.sh\n");
		return 77;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/sekisho-av.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* clamd may run as another user: let it into the directory. */
	chmod(tmpdir, 0755);
	if (!db_build(sigtool)) {
		fprintf(stderr, "test_av: cannot build the database\n");
		test_rmtree(tmpdir);
		return 1;
	}
	samples_build();
	t_all();
	samples_free();
	test_rmtree(tmpdir);
	rc = test_failures == 0 ? 0 : 1;
	fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
	return rc;
}
