/*
 * ctl_quar.c: sekishoctl quarantine: the quarantine, through the queue
 * process's control socket (run_dir/queue.sock, smtpd/queue_ctl_quar.c),
 * exchanged as the queue commands' are (ctl_req.c).
 *
 *	sekishoctl [-c DIR] [--json] quarantine list [--area A] [--sender S]
 *	    [--rcpt R] [--since T] [--until T] [--limit N]
 *	sekishoctl [-c DIR] [--json] quarantine show|release|delete ID
 *	sekishoctl [-c DIR] quarantine export ID [-o FILE]
 *
 * Filters and times are the tracking log's (track_filter_set, as for log
 * query): T is ISO 8601, seconds since the epoch, "now" or a span before
 * now ("-2h").  An export receives a descriptor on the stored message and
 * copies it, byte for byte, to FILE or standard output.  Exit codes as
 * for the queue commands: 0 success, 1 failure, 2 usage.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc.h"
#include "log.h"
#include "sekishoctl.h"
#include "track.h"
#include "util.h"

#define QR_AREA_MAX	64

/* The quarantine's part of a request (ctl_req.arg). */
struct qrcmd {
	const char	*area, *sender, *rcpt;	/* list filters, "" any */
	int64_t		 since, until;	/* µs, 0 open */
	uint64_t	 limit;		/* 0 all */
	const char	*out;		/* export: FILE, NULL for stdout */
	int		 fd;		/* export: the content, or -1 */
	uint64_t	 size;		/* export: its announced size */
};

/* qr_usage: the quarantine commands' usage; exit code 2. */
static int
qr_usage(void)
{
	fprintf(stderr, "usage: sekishoctl [-c confdir] [--json] quarantine "
	    "list [--area A] [--sender S]\n"
	    "           [--rcpt R] [--since T] [--until T] [--limit N]\n"
	    "       sekishoctl [-c confdir] [--json] quarantine "
	    "show|release|delete ID\n"
	    "       sekishoctl [-c confdir] quarantine export ID [-o FILE]\n");
	return 2;
}

/*
 * qr_unit: the length of the character at p (valid UTF-8, as JSON
 * strings are) and the terminal cells it takes: East Asian wide and
 * fullwidth characters two, control characters (shown as '?') and the
 * rest one.
 */
static size_t
qr_unit(const unsigned char *p, size_t *cells, bool *ctrl)
{
	uint32_t c = p[0];
	size_t	 n = 1;

	if (c >= 0xf0)
		c &= 0x07;
	else if (c >= 0xe0)
		c &= 0x0f;
	else if (c >= 0xc0)
		c &= 0x1f;
	while (n < 4 && (p[n] & 0xc0) == 0x80)
		c = c << 6 | (p[n++] & 0x3f);
	*ctrl = c < 0x20 || (c >= 0x7f && c <= 0x9f);
	*cells = (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf &&
	    c != 0x303f) || (c >= 0xac00 && c <= 0xd7a3) ||
	    (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) ||
	    (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) ||
	    (c >= 0x1f300 && c <= 0x1f64f) || (c >= 0x20000 && c <= 0x3fffd) ?
	    2 : 1;
	return n;
}

/*
 * qr_col: s for a table column width terminal cells wide: control
 * characters become '?', a longer value is cut with "…", a shorter one
 * padded with spaces (with pad).
 */
static const char *
qr_col(char *buf, size_t len, const char *s, size_t width, bool pad)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "-");
	size_t	 o = 0, used = 0, total = 0, n, cells, i;
	bool	 ctrl;

	for (i = 0; p[i] != '\0'; i += n, total += cells)
		n = qr_unit(p + i, &cells, &ctrl);
	while (*p != '\0' && o + 8 < len) {
		n = qr_unit(p, &cells, &ctrl);
		if (total > width && used + cells + 1 > width)
			break;
		if (ctrl)
			buf[o++] = '?';
		else {
			memcpy(buf + o, p, n);
			o += n;
		}
		used += cells;
		p += n;
	}
	if (total > width && o + 4 < len) {
		memcpy(buf + o, "\xe2\x80\xa6", 3);	/* … */
		o += 3;
		used++;
	}
	while (pad && used < width && o + 1 < len) {
		buf[o++] = ' ';
		used++;
	}
	buf[o] = '\0';
	return buf;
}

/* qr_when: a unix time as local "YYYY-mm-dd HH:MM". */
static const char *
qr_when(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
		(void)str_printf(buf, len, "%lld", (long long)t);
	return buf;
}

/* qr_entry_check: an entry has every documented field and type. */
static const char *
qr_entry_check(const json_t *o, const struct ctl_req *r)
{
	const struct qrcmd *c = r->arg;
	const json_t	*rs;
	const char	*id;
	size_t		 i;

	if (!json_is_object(o))
		return "entry is not a JSON object";
	if (!ctl_jhas(o, "id", JSON_STRING, false) ||
	    !ctl_jhas(o, "qid", JSON_STRING, false) ||
	    !ctl_jhas(o, "time", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "area", JSON_STRING, false) ||
	    !ctl_jhas(o, "sender", JSON_STRING, true) ||
	    !ctl_jhas(o, "subject", JSON_STRING, true) ||
	    !ctl_jhas(o, "rule", JSON_STRING, true) ||
	    !ctl_jhas(o, "reason", JSON_STRING, true) ||
	    !ctl_jhas(o, "size", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "nrcpt", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "recipients", JSON_ARRAY, false) ||
	    !json_is_boolean(json_object_get(o, "truncated")))
		return "entry lacks a field or has a wrong type";
	id = ctl_jstr(o, "id");
	if (!ctl_id_ok(id))
		return "entry has a malformed quarantine id";
	if (r->id[0] != '\0' && strcmp(id, r->id) != 0)
		return "entry names another message";
	if (c->area[0] != '\0' && strcmp(ctl_jstr(o, "area"), c->area) != 0)
		return "entry in an area that was not asked for";
	rs = json_object_get(o, "recipients");
	for (i = 0; i < json_array_size(rs); i++)
		if (!json_is_string(json_array_get(rs, i)))
			return "entry has a malformed recipient";
	return NULL;
}

/* qr_list_header: the column titles of quarantine list. */
static void
qr_list_header(void)
{
	char	 c[6][128];

	printf("%s  %s  %s  %s  %s  %s  RULE\n",
	    qr_col(c[0], sizeof(c[0]), "QUARANTINE ID", 16, true),
	    qr_col(c[1], sizeof(c[1]), "TIME", 16, true),
	    qr_col(c[2], sizeof(c[2]), "AREA", 12, true),
	    qr_col(c[3], sizeof(c[3]), "SENDER", 24, true),
	    qr_col(c[4], sizeof(c[4]), "RECIPIENTS", 24, true),
	    qr_col(c[5], sizeof(c[5]), "SUBJECT", 30, true));
}

/* qr_list_row: one quarantined message as a table row. */
static void
qr_list_row(const json_t *o)
{
	const json_t *rs = json_object_get(o, "recipients");
	const char *sender = ctl_jstr(o, "sender");
	char	 c[7][256], when[32], rcpt[256];
	long long n = ctl_jint(o, "nrcpt");

	rcpt[0] = '\0';
	if (json_array_size(rs) > 0)
		str_lcpy(rcpt, json_string_value(json_array_get(rs, 0)),
		    sizeof(rcpt));
	if (n > 1)
		(void)str_printf(rcpt + strlen(rcpt), sizeof(rcpt) -
		    strlen(rcpt), " +%lld", n - 1);
	printf("%s  %s  %s  %s  %s  %s  %s\n",
	    ctl_jstr(o, "id"),
	    qr_col(c[1], sizeof(c[1]), qr_when(when, sizeof(when),
	    (time_t)ctl_jint(o, "time")), 16, true),
	    qr_col(c[2], sizeof(c[2]), ctl_jstr(o, "area"), 12, true),
	    qr_col(c[3], sizeof(c[3]), sender != NULL ? sender : "<>", 24,
	    true),
	    qr_col(c[4], sizeof(c[4]), rcpt[0] ? rcpt : "-", 24, true),
	    qr_col(c[5], sizeof(c[5]), ctl_jstr(o, "subject"), 30, true),
	    qr_col(c[6], sizeof(c[6]), ctl_jstr(o, "rule"), 40, false));
}

/* qr_show_field: one "Name:  value" line of quarantine show. */
static void
qr_show_field(const char *name, const char *value)
{
	char	 buf[8192];

	printf("%-15s %s\n", name, ctl_safe(buf, sizeof(buf), value));
}

/* qr_show: one quarantined message as a readable block. */
static void
qr_show(const json_t *o)
{
	const json_t *rs = json_object_get(o, "recipients");
	char	 buf[8192], size[32];
	size_t	 i;

	qr_show_field("Quarantine ID:", ctl_jstr(o, "id"));
	qr_show_field("Area:", ctl_jstr(o, "area"));
	qr_show_field("Rule:", ctl_jstr(o, "rule"));
	qr_show_field("Reason:", ctl_jstr(o, "reason"));
	qr_show_field("Quarantined:", ctl_time(buf, sizeof(buf),
	    (time_t)ctl_jint(o, "time")));
	qr_show_field("Queue ID:", ctl_jstr(o, "qid"));
	if (ctl_jint(o, "size") < 1024)
		printf("%-15s %lld bytes\n", "Size:", ctl_jint(o, "size"));
	else
		printf("%-15s %lld bytes (%s)\n", "Size:", ctl_jint(o,
		    "size"), ctl_size(size, sizeof(size), ctl_jint(o,
		    "size")));
	qr_show_field("Sender:", ctl_jstr(o, "sender") != NULL ?
	    ctl_jstr(o, "sender") : "<>");
	qr_show_field("Subject:", ctl_jstr(o, "subject"));
	printf("%-15s %lld%s\n", "Recipients:", ctl_jint(o, "nrcpt"),
	    json_is_true(json_object_get(o, "truncated")) ? " (list "
	    "truncated)" : "");
	for (i = 0; i < json_array_size(rs); i++)
		printf("  %s\n", ctl_safe(buf, sizeof(buf),
		    json_string_value(json_array_get(rs, i))));
}

/*
 * qr_content: the IMSG_QUEUE_CTL_QCONTENT of an export (any other reply
 * is malformed); 0, or 1.
 */
static int
qr_content(struct ctl_req *r, struct ipc_msg_in *m)
{
	struct qrcmd	*c = r->arg;
	uint64_t	 reqid, size;

	if (m->type != IMSG_QUEUE_CTL_QCONTENT)
		return ctl_malformed(r, ipc_type_name(m->type));
	if (!ipc_get_u64(m, &reqid) || !ipc_get_u64(m, &size) || !ipc_end(m))
		return ctl_malformed(r, "bad content message");
	if (reqid != CTL_REQID || r->cmd->type != IMSG_QUEUE_CTL_QEXPORT ||
	    c->fd != -1)
		return ctl_malformed(r, "unexpected content");
	if ((c->fd = ipc_msg_take_fd(m)) == -1)
		return ctl_malformed(r, "content without a descriptor");
	c->size = size;
	return 0;
}

/*
 * qr_export_write: an export's success: copy the received content to
 * FILE or stdout; the exit code.
 */
static int
qr_export_write(struct ctl_req *r)
{
	struct qrcmd	*c = r->arg;
	struct stat	 sb;
	uint64_t	 n = 0;
	int		 out = STDOUT_FILENO, saved;

	if (c->fd == -1)
		return ctl_malformed(r, "no content");
	if (fstat(c->fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size != c->size)
		return ctl_malformed(r, "the content is not the announced "
		    "file");
	if (c->out != NULL && (out = open(c->out, O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		fprintf(stderr, "sekishoctl: %s: %s\n", c->out,
		    strerror(errno));
		return 1;
	}
	fflush(stdout);
	if (fd_copy_range(c->fd, 0, c->size, out, &n) == -1 ||
	    (c->out != NULL && (fsync(out) == -1 || close(out) == -1))) {
		saved = errno;
		fprintf(stderr, "sekishoctl: export %s to %s: %s\n", r->id,
		    c->out != NULL ? c->out : "standard output",
		    strerror(saved));
		if (c->out != NULL) {
			(void)close(out);
			(void)unlink(c->out);
		}
		return 1;
	}
	if (c->out != NULL)
		printf("%s: %llu bytes written to %s\n", r->id,
		    (unsigned long long)n, c->out);
	return 0;
}

/* qr_list_filters: the filters of a quarantine list request. */
static void
qr_list_filters(struct ipc_msg *m, const struct ctl_req *r)
{
	const struct qrcmd *c = r->arg;

	ipc_add_str(m, c->area);
	ipc_add_str(m, c->sender);
	ipc_add_str(m, c->rcpt);
	ipc_add_u64(m, (uint64_t)c->since);
	ipc_add_u64(m, (uint64_t)c->until);
	ipc_add_u64(m, c->limit);
}

/* How the quarantine commands ask and show (ctl_req.c). */
static const struct ctl_view qr_view = {
	.sock = "queue.sock",
	.daemon = "sekisho-smtpd",
	.idkey = "id",
	.filters = qr_list_filters,
	.check = qr_entry_check,
	.header = qr_list_header,
	.row = qr_list_row,
	.show = qr_show,
	.other = qr_content,
};

/* qr_area_ok: an area name as the policy writes it. */
static bool
qr_area_ok(const char *s)
{
	size_t	 n = strlen(s);

	return n > 0 && n <= QR_AREA_MAX && strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "_.-") == n;
}

/*
 * qr_list_opts: the filters of quarantine list (argv after "list"); 0,
 * or 2 after saying what is wrong.  Times, substrings and the limit go
 * through the tracking log's parser, so they read as in log query.
 */
static int
qr_list_opts(struct ctl_req *r, int argc, char **argv)
{
	static const char *const opts[][2] = {
		{ "--since", "since" }, { "--until", "until" },
		{ "--sender", "sender" }, { "--rcpt", "rcpt" },
		{ "--limit", "limit" },
	};
	struct qrcmd	*c = r->arg;
	struct track_filter f;
	char	 err[256];
	size_t	 k;
	int	 i;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			r->json = true;
			continue;
		}
		if (i + 1 >= argc)
			return qr_usage();
		if (strcmp(argv[i], "--area") == 0) {
			if (!qr_area_ok(argv[++i])) {
				fprintf(stderr, "sekishoctl: --area: an area "
				    "name (letters, digits, '_', '.', '-'; at "
				    "most 64)\n");
				return 2;
			}
			c->area = argv[i];
			continue;
		}
		for (k = 0; k < nitems(opts); k++)
			if (strcmp(argv[i], opts[k][0]) == 0)
				break;
		if (k == nitems(opts))
			return qr_usage();
		if (!track_filter_set(&f, opts[k][1], argv[++i], track_now(),
		    err, sizeof(err))) {
			fprintf(stderr, "sekishoctl: %s\n", err);
			return 2;
		}
	}
	if (f.since != 0 && f.until != 0 && f.since >= f.until) {
		fprintf(stderr, "sekishoctl: --until must be later than "
		    "--since\n");
		return 2;
	}
	c->sender = f.sender != NULL ? f.sender : "";
	c->rcpt = f.rcpt != NULL ? f.rcpt : "";
	c->since = f.since;
	c->until = f.until;
	c->limit = f.limit;
	return 0;
}

/*
 * qr_id_opts: the arguments of show, release, delete and export (argv
 * after the command): the id, --json, and export's -o FILE; 0 or 2.
 */
static int
qr_id_opts(struct ctl_req *r, int argc, char **argv)
{
	struct qrcmd	*c = r->arg;
	bool		 export = r->cmd->type == IMSG_QUEUE_CTL_QEXPORT;
	const char	*id = NULL;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			r->json = !export;
		else if ((strcmp(argv[i], "-o") == 0 ||
		    strcmp(argv[i], "--output") == 0) && export &&
		    i + 1 < argc &&
		    c->out == NULL)
			c->out = argv[++i];
		else if (argv[i][0] == '-' || id != NULL)
			return qr_usage();
		else
			id = argv[i];
	}
	if (id == NULL)
		return qr_usage();
	if (!ctl_id_ok(id)) {
		fprintf(stderr, "sekishoctl: %s: not a quarantine id (16 "
		    "lower-case hex digits)\n", id);
		return 2;
	}
	r->id = id;
	return 0;
}

/* cmd_quarantine: sekishoctl quarantine ...; argv starts after it. */
int
cmd_quarantine(const char *confdir, int argc, char **argv, bool json)
{
	static const struct ctl_cmd cmds[] = {
		{ "list", IMSG_QUEUE_CTL_QLIST, CTL_LIST, NULL },
		{ "show", IMSG_QUEUE_CTL_QSHOW, CTL_SHOW, NULL },
		{ "release", IMSG_QUEUE_CTL_QRELEASE, CTL_ACTION, NULL },
		{ "delete", IMSG_QUEUE_CTL_QDELETE, CTL_ACTION, NULL },
		{ "export", IMSG_QUEUE_CTL_QEXPORT, CTL_ACTION,
		    qr_export_write },
	};
	struct qrcmd	 c = { .area = "", .sender = "", .rcpt = "", .fd = -1 };
	struct ctl_req	 r = { .view = &qr_view, .id = "", .arg = &c };
	int		 rv;

	if (argc < 1 ||
	    (r.cmd = ctl_cmd_find(cmds, nitems(cmds), argv[0])) == NULL)
		return qr_usage();
	/* An export writes the message itself, never JSON. */
	r.json = json && r.cmd->type != IMSG_QUEUE_CTL_QEXPORT;
	rv = r.cmd->kind == CTL_LIST ? qr_list_opts(&r, argc - 1, argv + 1) :
	    qr_id_opts(&r, argc - 1, argv + 1);
	if (rv == 0)
		rv = ctl_req_run(confdir, &r);
	if (c.fd != -1)
		close(c.fd);
	return rv;
}
