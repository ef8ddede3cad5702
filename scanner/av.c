/*
 * av.c: the antivirus engine behind one small interface (av.h), with two
 * backends: libclamav in process and clamd over its socket (INSTREAM).
 *
 * libclamav: av_open() runs in the scanner parent before the workers are
 * forked.  It builds one engine (limits, signature database, compile); the
 * workers inherit it copy-on-write and only read it (apart from libclamav's
 * small clean-file cache).  Every scan maps the caller's buffer (no copy)
 * and scans it with archive, mail and document parsing on, all-match off,
 * and the heuristics for limits (and encrypted archives when asked), so a
 * limit or an encrypted archive is a verdict of its own rather than a
 * silent "clean".  A real signature match outranks those heuristics.
 *
 * clamd: av_open() resolves the address (no DNS in the workers) and checks
 * that clamd answers PING and VERSION; each scan is one connection with
 * "zINSTREAM" and length-prefixed chunks, under one deadline enforced with
 * SO_SNDTIMEO/SO_RCVTIMEO (a worker scans one message at a time, so a
 * blocking socket is fine).
 *
 * This file owns the engines it returns; the only global state is
 * libclamav's own (cl_init, its message callback), set up once.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <clamav.h>

#include "av.h"
#include "log.h"
#include "netc.h"
#include "util.h"
#include "xmalloc.h"

/* Bytes per INSTREAM chunk. */
#define AV_CLAMD_CHUNK		(64 * 1024)
/* Longest clamd reply we read (a virus name and a few words). */
#define AV_CLAMD_REPLY		1024
/* Deadline when timeout_ms is 0 (libclamav's own default scan time). */
#define AV_DEF_TIMEOUT_MS	120000

/* The prefixes of libclamav's verdicts that are not viruses. */
#define AV_HEUR_ENCRYPTED	"Heuristics.Encrypted."
#define AV_HEUR_LIMITS		"Heuristics.Limits.Exceeded"

struct av_ops {
	int	(*scan)(struct av_engine *, const void *, size_t,
		    struct av_result *);
	void	(*close)(struct av_engine *);
};

struct av_engine {
	const struct av_ops *ops;
	enum av_kind	 kind;
	uint64_t	 max_scan_size;
	uint64_t	 max_file_size;
	unsigned	 timeout_ms;
	char		 version[256];
	unsigned	 sigs;
	/* libclamav */
	struct cl_engine *cl;
	struct cl_scan_options opts;
	struct cl_stat	 dbstat;
	bool		 have_stat;
	/* clamd */
	struct netc_addr addr;
	char		*addrname;
};

static int	av_cl_scan(struct av_engine *, const void *, size_t,
		    struct av_result *);
static void	av_cl_close(struct av_engine *);
static int	av_clamd_scan(struct av_engine *, const void *, size_t,
		    struct av_result *);
static void	av_clamd_close(struct av_engine *);

static const struct av_ops av_cl_ops = { av_cl_scan, av_cl_close };
static const struct av_ops av_clamd_ops = { av_clamd_scan, av_clamd_close };

/* av_verdict_name: the verdict as a word for logs and tracking records. */
const char *
av_verdict_name(enum av_verdict v)
{
	switch (v) {
	case AV_CLEAN:		return "clean";
	case AV_INFECTED:	return "infected";
	case AV_ENCRYPTED:	return "encrypted";
	case AV_TOO_LARGE:	return "too-large";
	case AV_ERROR:		return "error";
	}
	return "unknown";
}

/* av_set: fill a result (the name is cut to fit, never left unterminated). */
static int
av_set(struct av_result *res, enum av_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
av_set(struct av_result *res, enum av_verdict v, const char *fmt, ...)
{
	va_list	 ap;

	res->verdict = v;
	va_start(ap, fmt);
	(void)vsnprintf(res->name, sizeof(res->name), fmt, ap);
	va_end(ap);
	return 0;
}

/* av_classify: the verdict for a detection name (either backend). */
static int
av_classify(struct av_result *res, const char *name)
{
	enum av_verdict	 v = AV_INFECTED;

	if (strncmp(name, AV_HEUR_ENCRYPTED, strlen(AV_HEUR_ENCRYPTED)) == 0)
		v = AV_ENCRYPTED;
	else if (strncmp(name, AV_HEUR_LIMITS, strlen(AV_HEUR_LIMITS)) == 0)
		v = AV_TOO_LARGE;
	return av_set(res, v, "%s", name);
}

/* av_precheck: the byte limits, before any work (1: result set). */
static int
av_precheck(const struct av_engine *e, size_t len, struct av_result *res)
{
	if (e->max_file_size != 0 && len > e->max_file_size) {
		av_set(res, AV_TOO_LARGE, AV_HEUR_LIMITS ".MaxFileSize");
		return 1;
	}
	if (e->max_scan_size != 0 && len > e->max_scan_size) {
		av_set(res, AV_TOO_LARGE, AV_HEUR_LIMITS ".MaxScanSize");
		return 1;
	}
	return 0;
}

/*
 * av_open: build the engine the configuration asks for; NULL and a reason
 * in err when the database does not load or clamd does not answer.
 */
static struct av_engine *av_cl_open(const struct av_conf *, char *, size_t);
static struct av_engine *av_clamd_open(const struct av_conf *, char *,
    size_t);

struct av_engine *
av_open(const struct av_conf *conf, char *err, size_t errlen)
{
	struct av_engine *e;

	switch (conf->kind) {
	case AV_LIBCLAMAV:
		e = av_cl_open(conf, err, errlen);
		break;
	case AV_CLAMD:
		e = av_clamd_open(conf, err, errlen);
		break;
	default:
		snprintf(err, errlen, "av_open: unknown engine kind %d",
		    (int)conf->kind);
		return NULL;
	}
	if (e == NULL)
		return NULL;
	e->kind = conf->kind;
	e->max_scan_size = conf->max_scan_size;
	e->max_file_size = conf->max_file_size;
	e->timeout_ms = conf->timeout_ms ? conf->timeout_ms :
	    AV_DEF_TIMEOUT_MS;
	return e;
}

/* av_close: free an engine (in the process that built it, not a worker). */
void
av_close(struct av_engine *e)
{
	if (e == NULL)
		return;
	e->ops->close(e);
	free(e->addrname);
	free(e);
}

/*
 * av_version: the engine and database versions as clamd's VERSION gives
 * them: "ClamAV 1.4.6/27450/Sun Nov 10 09:35:52 2024", or "ClamAV 1.4.6"
 * when only unofficial signature files (no CVD) are loaded.
 */
const char *
av_version(const struct av_engine *e)
{
	return e->version;
}

/* av_signatures: signatures loaded (libclamav; 0 for clamd). */
unsigned
av_signatures(const struct av_engine *e)
{
	return e->sigs;
}

/*
 * av_db_changed: 1 when a file in the database directory changed since
 * the engine was loaded (time to av_open a new one), else 0.  clamd
 * reloads by itself: always 0.
 */
int
av_db_changed(struct av_engine *e)
{
	if (e->kind != AV_LIBCLAMAV || !e->have_stat)
		return 0;
	return cl_statchkdir(&e->dbstat) == 1;
}

/*
 * av_scan: scan one buffer (a whole message or one decoded part).  Always
 * fills res and returns 0: a scan that could not be done is AV_ERROR.
 */
int
av_scan(struct av_engine *e, const void *data, size_t len,
    struct av_result *res)
{
	memset(res, 0, sizeof(*res));
	if (len == 0)
		return av_set(res, AV_CLEAN, "%s", "");
	if (av_precheck(e, len, res))
		return 0;
	return e->ops->scan(e, data, len, res);
}

/* ---- libclamav ---------------------------------------------------- */

/* av_cl_msg: libclamav's messages into our log, one line each. */
static void
av_cl_msg(enum cl_msg severity, const char *fullmsg, const char *msg,
    void *ctx)
{
	char	 line[512];
	size_t	 n;

	(void)fullmsg;
	(void)ctx;
	str_lcpy(line, msg != NULL ? msg : "", sizeof(line));
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (severity == CL_MSG_ERROR)
		log_warnx("libclamav: %s", line);
	else if (severity == CL_MSG_WARN)
		log_info("libclamav: %s", line);
	else
		log_debug("libclamav: %s", line);
}

/* av_cl_init: libclamav's process-wide setup, once. */
static int
av_cl_init(char *err, size_t errlen)
{
	static bool	 done;
	cl_error_t	 rc;

	if (done)
		return 0;
	cl_set_clcb_msg(av_cl_msg);
	if ((rc = cl_init(CL_INIT_DEFAULT)) != CL_SUCCESS) {
		snprintf(err, errlen, "av_open: cl_init: %s", cl_strerror(rc));
		return -1;
	}
	done = true;
	return 0;
}

/* av_cl_limits: the configured limits into the engine (0: keep default). */
static int
av_cl_limits(struct cl_engine *cl, const struct av_conf *conf, char *err,
    size_t errlen)
{
	const struct {
		enum cl_engine_field	 field;
		long long		 value;
		const char		*name;
	} set[] = {
		{ CL_ENGINE_MAX_SCANSIZE, (long long)conf->max_scan_size,
		    "max_scan_size" },
		{ CL_ENGINE_MAX_FILESIZE, (long long)conf->max_file_size,
		    "max_file_size" },
		{ CL_ENGINE_MAX_RECURSION, conf->max_recursion,
		    "max_recursion" },
		{ CL_ENGINE_MAX_FILES, conf->max_files, "max_files" },
		{ CL_ENGINE_MAX_SCANTIME, conf->timeout_ms, "timeout" },
	};
	cl_error_t	 rc;
	size_t		 i;

	for (i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		if (set[i].value == 0)
			continue;
		if (set[i].value < 0) {
			snprintf(err, errlen, "av_open: %s out of range",
			    set[i].name);
			return -1;
		}
		rc = cl_engine_set_num(cl, set[i].field, set[i].value);
		if (rc != CL_SUCCESS) {
			snprintf(err, errlen, "av_open: %s: %s", set[i].name,
			    cl_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/* av_cl_version: the engine and database versions, in clamd's format. */
static void
av_cl_version(struct av_engine *e)
{
	long long	 dbver, dbtime;
	time_t		 t;
	struct tm	 tm;
	char		 date[64];
	int		 gerr;

	dbver = cl_engine_get_num(e->cl, CL_ENGINE_DB_VERSION, &gerr);
	if (gerr != CL_SUCCESS)
		dbver = 0;
	dbtime = cl_engine_get_num(e->cl, CL_ENGINE_DB_TIME, &gerr);
	if (gerr != CL_SUCCESS)
		dbtime = 0;
	if (dbver <= 0) {
		/* Only unofficial databases (no CVD): no version to give. */
		snprintf(e->version, sizeof(e->version), "ClamAV %s",
		    cl_retver());
		return;
	}
	t = (time_t)dbtime;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		str_lcpy(date, "?", sizeof(date));
	snprintf(e->version, sizeof(e->version), "ClamAV %s/%lld/%s",
	    cl_retver(), dbver, date);
}

/* av_cl_options: the scan options, fixed for the engine's life. */
static void
av_cl_options(struct cl_scan_options *o, bool block_encrypted)
{
	memset(o, 0, sizeof(*o));
	/* Heuristics on: limits and encryption become verdicts. */
	o->general = CL_SCAN_GENERAL_HEURISTICS;
	/* Every parser: archives, mail, OLE2, PDF, HTML, PE, ELF, ... */
	o->parse = ~(uint32_t)0;
	o->heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
	if (block_encrypted)
		o->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
		    CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	o->mail = 0;
	o->dev = 0;
}

/* av_cl_load: load and compile the database into a fresh engine. */
static int
av_cl_load(struct av_engine *e, const struct av_conf *conf, char *err,
    size_t errlen)
{
	cl_error_t	 rc;
	unsigned	 sigs = 0;

	if (conf->tmpdir != NULL &&
	    (rc = cl_engine_set_str(e->cl, CL_ENGINE_TMPDIR, conf->tmpdir))
	    != CL_SUCCESS) {
		snprintf(err, errlen, "av_open: tmpdir: %s", cl_strerror(rc));
		return -1;
	}
	if (av_cl_limits(e->cl, conf, err, errlen) == -1)
		return -1;
	rc = cl_load(conf->dbdir, e->cl, &sigs, CL_DB_STDOPT);
	if (rc != CL_SUCCESS) {
		snprintf(err, errlen, "av_open: cl_load %s: %s", conf->dbdir,
		    cl_strerror(rc));
		return -1;
	}
	if (sigs == 0) {
		/* An engine without signatures would pass everything. */
		snprintf(err, errlen, "av_open: no signatures in %s",
		    conf->dbdir);
		return -1;
	}
	if ((rc = cl_engine_compile(e->cl)) != CL_SUCCESS) {
		snprintf(err, errlen, "av_open: cl_engine_compile: %s",
		    cl_strerror(rc));
		return -1;
	}
	e->sigs = sigs;
	return 0;
}

/* av_cl_open: a compiled libclamav engine over conf->dbdir. */
static struct av_engine *
av_cl_open(const struct av_conf *conf, char *err, size_t errlen)
{
	struct av_engine *e;

	if (conf->dbdir == NULL || conf->dbdir[0] == '\0') {
		snprintf(err, errlen, "av_open: no database directory");
		return NULL;
	}
	if (av_cl_init(err, errlen) == -1)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->ops = &av_cl_ops;
	if ((e->cl = cl_engine_new()) == NULL) {
		snprintf(err, errlen, "av_open: cl_engine_new failed");
		free(e);
		return NULL;
	}
	if (av_cl_load(e, conf, err, errlen) == -1) {
		av_close(e);
		return NULL;
	}
	/* Watch the directory for av_db_changed(); failure only logs. */
	if (cl_statinidir(conf->dbdir, &e->dbstat) == CL_SUCCESS)
		e->have_stat = true;
	else
		log_warnx("av_open: cannot watch %s for changes", conf->dbdir);
	av_cl_options(&e->opts, conf->block_encrypted);
	av_cl_version(e);
	return e;
}

/* av_cl_close: free the engine and the directory watch. */
static void
av_cl_close(struct av_engine *e)
{
	if (e->have_stat)
		cl_statfree(&e->dbstat);
	e->have_stat = false;
	if (e->cl != NULL)
		cl_engine_free(e->cl);
	e->cl = NULL;
}

/* av_cl_scan: scan the buffer in place with the engine's options. */
static int
av_cl_scan(struct av_engine *e, const void *data, size_t len,
    struct av_result *res)
{
	struct cl_scan_options opts = e->opts;
	cl_fmap_t	*map;
	const char	*virname = NULL;
	unsigned long	 scanned = 0;
	cl_error_t	 rc;

	if ((map = cl_fmap_open_memory(data, len)) == NULL)
		return av_set(res, AV_ERROR, "libclamav: cannot map %zu bytes",
		    len);
	rc = cl_scanmap_callback(map, NULL, &virname, &scanned, e->cl, &opts,
	    NULL);
	cl_fmap_close(map);
	switch (rc) {
	case CL_CLEAN:
		return av_set(res, AV_CLEAN, "%s", "");
	case CL_VIRUS:
		return av_classify(res, virname != NULL ? virname : "unnamed");
	case CL_EMAXSIZE:
	case CL_EMAXFILES:
	case CL_EMAXREC:
	case CL_ETIMEOUT:
		return av_set(res, AV_TOO_LARGE, "libclamav: %s",
		    cl_strerror(rc));
	default:
		return av_set(res, AV_ERROR, "libclamav: %s", cl_strerror(rc));
	}
}

/* ---- clamd -------------------------------------------------------- */

/*
 * av_clamd_reply: read one NUL-terminated reply (or up to EOF) into buf,
 * without the terminator and trailing newline; -1 with errno.
 */
static int
av_clamd_reply(int fd, char *buf, size_t size, int64_t deadline)
{
	size_t	 len = 0;
	ssize_t	 n;

	while (len + 1 < size) {
		if ((n = netc_recv(fd, buf + len, size - 1 - len, deadline)) ==
		    -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\0', len) != NULL)
			break;
	}
	buf[len] = '\0';	/* stops at the first NUL anyway */
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0) {
		errno = ECONNRESET;
		return -1;
	}
	return 0;
}

/* av_clamd_cmd: one command on its own connection, its reply in buf. */
static int
av_clamd_cmd(const struct av_engine *e, const char *cmd, char *buf,
    size_t size, int64_t deadline)
{
	int	 fd, rc, saved;

	if ((fd = netc_connect(&e->addr, deadline)) == -1)
		return -1;
	rc = netc_send(fd, cmd, strlen(cmd) + 1, deadline);
	if (rc == 0)
		rc = av_clamd_reply(fd, buf, size, deadline);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* av_clamd_open: remember the address; clamd must answer PING, VERSION. */
static struct av_engine *
av_clamd_open(const struct av_conf *conf, char *err, size_t errlen)
{
	struct av_engine *e;
	char		 reply[AV_CLAMD_REPLY], nerr[400];
	int64_t		 deadline;

	if (conf->clamd == NULL || conf->clamd[0] == '\0') {
		snprintf(err, errlen, "av_open: no clamd address");
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->ops = &av_clamd_ops;
	e->addrname = xstrdup(conf->clamd);
	if (netc_resolve(conf->clamd, &e->addr, nerr, sizeof(nerr)) == -1) {
		snprintf(err, errlen, "av_open: clamd: %s", nerr);
		goto fail;
	}
	deadline = netc_now_ms() +
	    (conf->timeout_ms ? conf->timeout_ms : AV_DEF_TIMEOUT_MS);
	if (av_clamd_cmd(e, "zPING", reply, sizeof(reply), deadline) == -1) {
		snprintf(err, errlen, "av_open: clamd %s: PING: %s",
		    conf->clamd, strerror(errno));
		goto fail;
	}
	if (strcmp(reply, "PONG") != 0) {
		snprintf(err, errlen, "av_open: clamd %s: PING answered "
		    "\"%.64s\"", conf->clamd, reply);
		goto fail;
	}
	if (av_clamd_cmd(e, "zVERSION", reply, sizeof(reply), deadline)
	    == -1) {
		snprintf(err, errlen, "av_open: clamd %s: VERSION: %s",
		    conf->clamd, strerror(errno));
		goto fail;
	}
	str_lcpy(e->version, reply, sizeof(e->version));
	return e;
fail:
	av_close(e);
	return NULL;
}

/* av_clamd_close: nothing is held between scans. */
static void
av_clamd_close(struct av_engine *e)
{
	(void)e;
}

/*
 * av_clamd_parse: clamd's INSTREAM answer.  "stream: OK",
 * "stream: NAME FOUND" (NAME may carry "(md5:size)" with
 * ExtendedDetectionInfo), "... ERROR", of which "INSTREAM size limit
 * exceeded" means too large.
 */
static int
av_clamd_parse(const char *reply, struct av_result *res)
{
	char	 name[sizeof(res->name)];
	size_t	 len;
	char	*p;

	if (strncmp(reply, "stream: ", 8) == 0)
		reply += 8;
	len = strlen(reply);
	if (strcmp(reply, "OK") == 0)
		return av_set(res, AV_CLEAN, "%s", "");
	if (len > 6 && strcmp(reply + len - 6, " FOUND") == 0) {
		if (len - 6 >= sizeof(name))
			len = sizeof(name) + 6 - 1;
		memcpy(name, reply, len - 6);
		name[len - 6] = '\0';
		if ((p = strrchr(name, '(')) != NULL && p != name &&
		    strchr(p, ':') != NULL && p[strlen(p) - 1] == ')')
			*p = '\0';
		return av_classify(res, name);
	}
	if (strstr(reply, "size limit exceeded") != NULL)
		return av_set(res, AV_TOO_LARGE, "clamd: %s", reply);
	return av_set(res, AV_ERROR, "clamd: %s", reply);
}

/* av_clamd_stream: "zINSTREAM", the chunks, the empty chunk (-1: errno). */
static int
av_clamd_stream(int fd, const void *data, size_t len, int64_t deadline)
{
	const char	*p = data;
	uint32_t	 hdr;
	size_t		 n;

	if (netc_send(fd, "zINSTREAM", sizeof("zINSTREAM"), deadline)
	    == -1)
		return -1;
	while (len > 0) {
		n = len < AV_CLAMD_CHUNK ? len : AV_CLAMD_CHUNK;
		hdr = htonl((uint32_t)n);
		if (netc_send(fd, &hdr, sizeof(hdr), deadline) == -1 ||
		    netc_send(fd, p, n, deadline) == -1)
			return -1;
		p += n;
		len -= n;
	}
	hdr = 0;
	return netc_send(fd, &hdr, sizeof(hdr), deadline);
}

/* av_clamd_scan: one INSTREAM session for the buffer. */
static int
av_clamd_scan(struct av_engine *e, const void *data, size_t len,
    struct av_result *res)
{
	char	 reply[AV_CLAMD_REPLY];
	int64_t	 deadline = netc_now_ms() + e->timeout_ms;
	int	 fd, sent, got, serr;

	if ((fd = netc_connect(&e->addr, deadline)) == -1)
		return av_set(res, AV_ERROR, "clamd %s: connect: %s",
		    e->addrname, strerror(errno));
	sent = av_clamd_stream(fd, data, len, deadline);
	serr = errno;
	/*
	 * clamd answers and hangs up as soon as the stream is over its
	 * StreamMaxLength: read its reply even when sending failed.
	 */
	got = sent == 0 || serr == EPIPE || serr == ECONNRESET ?
	    av_clamd_reply(fd, reply, sizeof(reply), deadline) : -1;
	if (got == -1 && sent == 0)
		serr = errno;
	close(fd);
	if (got == -1)
		return av_set(res, AV_ERROR, "clamd %s: %s: %s", e->addrname,
		    sent == -1 ? "send" : "reply", strerror(serr));
	return av_clamd_parse(reply, res);
}

/*
 * av_disable_cache: libclamav keeps an MD5 of every file it found clean
 * and skips it next time; a benchmark that scans the same messages again
 * and again turns that off to measure real scans.  0, or -1 (clamd, or
 * libclamav refused).
 */
int
av_disable_cache(struct av_engine *e)
{
	if (e->kind != AV_LIBCLAMAV || e->cl == NULL)
		return -1;
	return cl_engine_set_num(e->cl, CL_ENGINE_DISABLE_CACHE, 1) ==
	    CL_SUCCESS ? 0 : -1;
}
