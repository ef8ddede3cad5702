/*
 * sekishoctl: the administrator's command-line client.
 *
 * Offline, on the configuration files themselves:
 *
 *	sekishoctl [-c DIR] config check	every problem as file:line
 *	sekishoctl [-c DIR] config get FILE SECTION KEY
 *						the value in force (default
 *						applied, paths absolute)
 *	sekishoctl config keygen DIR
 *	sekishoctl [-c DIR] config bundle create|verify|apply|rollback ...
 *						signed configuration bundles
 *						(ctl_bundle.c)
 *	sekishoctl version
 *
 * The mail queue, through the queue process's control socket
 * (run_dir/queue.sock, smtpd/queue_ctl.c; the exchange itself is
 * ctl_req.c):
 *
 *	sekishoctl [-c DIR] [--json] queue list [--state S] [--from SUBSTR]
 *	    [--to SUBSTR] [--older SECONDS]
 *	sekishoctl [-c DIR] [--json] queue show|hold|release|delete QID
 *	sekishoctl [-c DIR] [--json] queue flush [QID]
 *
 * The quarantine, over the same socket (ctl_quar.c):
 *
 *	sekishoctl [-c DIR] [--json] quarantine list [--area A] [--sender S]
 *	    [--rcpt R] [--since T] [--until T] [--limit N]
 *	sekishoctl [-c DIR] [--json] quarantine show|release|delete ID
 *	sekishoctl [-c DIR] quarantine export ID [-o FILE]
 *
 * The scanner's state, antivirus engine and database versions, over its
 * socket (run_dir/scanner.sock, ctl_scanner.c):
 *
 *	sekishoctl [-c DIR] [--json] scanner status
 *
 * The IP profiler's blocks, over its socket (run_dir/ipprofiler.sock,
 * ctl_ipp.c):
 *
 *	sekishoctl [-c DIR] [--json] ipprofiler list [ADDR[/LEN]]
 *	sekishoctl [-c DIR] [--json] ipprofiler block ADDR[/LEN] [--perm]
 *	    [--minutes N] [--reason TEXT]
 *	sekishoctl [-c DIR] [--json] ipprofiler unblock ADDR[/LEN]
 *	sekishoctl [-c DIR] [--json] ipprofiler explain ADDR
 *	sekishoctl [-c DIR] [--json] ipprofiler reload
 *
 * The spam rule packages, on the files of [antispam] package_dir
 * (ctl_rules.c):
 *
 *	sekishoctl [-c DIR] [--json] rules status|rollback
 *	sekishoctl [-c DIR] [--json] rules update FROM
 *
 * The services of this host, through sekisho-manager's socket
 * (run_dir/manager.sock, ctl_mgr.c):
 *
 *	sekishoctl [-c DIR] [--json] status [SERVICE]
 *	sekishoctl [-c DIR] [--json] start|stop|restart SERVICE
 *	sekishoctl [-c DIR] [--json] reload
 *
 * The administrators of the manager's console and JSON API, in
 * [imss_manager] console_users_file (ctl_console.c):
 *
 *	sekishoctl [-c DIR] console passwd NAME [--stdin]
 *	sekishoctl [-c DIR] console remove NAME
 *	sekishoctl [-c DIR] [--json] console users
 *
 * Human-readable output by default, JSON with --json.  Exit codes: 0
 * success, 1 failure (invalid configuration, unknown key, no such
 * message, refused, daemon not running, malformed reply), 2 usage.
 * docs/sekishoctl.md is the reference.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "sekishoctl.h"
#include "util.h"
#include "xmalloc.h"

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION	"unknown"
#endif

static bool	 json_out;		/* --json */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sekishoctl [-c confdir] [--json] status "
	    "[SERVICE]\n"
	    "       sekishoctl [-c confdir] [--json] start|stop|restart "
	    "SERVICE\n"
	    "       sekishoctl [-c confdir] [--json] reload\n"
	    "       sekishoctl [-c confdir] config check\n"
	    "       sekishoctl [-c confdir] config get FILE SECTION KEY\n"
	    "       sekishoctl config keygen DIR\n"
	    "       sekishoctl [-c confdir] config bundle create --key PRIV "
	    "--version N [-o FILE]\n"
	    "       sekishoctl [-c confdir] config bundle verify|apply "
	    "--pubkey PUB FILE\n"
	    "       sekishoctl [-c confdir] config bundle rollback\n"
	    "       sekishoctl [-c confdir] central init [--name NAME]\n"
	    "       sekishoctl [-c confdir] central host add REQUEST "
	    "[-o FILE]\n"
	    "       sekishoctl [-c confdir] central host remove NAME\n"
	    "       sekishoctl [-c confdir] [--json] central "
	    "hosts|sync\n"
	    "       sekishoctl [-c confdir] [--json] central publish "
	    "[--version N]\n"
	    "       sekishoctl [-c confdir] agent request [--name NAME] "
	    "[-o FILE]\n"
	    "       sekishoctl [-c confdir] agent enrol FILE\n"
	    "       sekishoctl [-c confdir] console passwd NAME [--stdin]\n"
	    "       sekishoctl [-c confdir] console remove NAME\n"
	    "       sekishoctl [-c confdir] [--json] console users\n"
	    "       sekishoctl [-c confdir] [--json] queue list [--state "
	    "queue|hold|incoming]\n"
	    "           [--from SUBSTR] [--to SUBSTR] [--older SECONDS]\n"
	    "       sekishoctl [-c confdir] [--json] queue "
	    "show|hold|release|delete QID\n"
	    "       sekishoctl [-c confdir] [--json] queue flush [QID]\n"
	    "       sekishoctl [-c confdir] [--json] quarantine list "
	    "[--area A] [--sender S]\n"
	    "           [--rcpt R] [--since T] [--until T] [--limit N]\n"
	    "       sekishoctl [-c confdir] [--json] quarantine "
	    "show|release|delete ID\n"
	    "       sekishoctl [-c confdir] quarantine export ID "
	    "[-o FILE]\n"
	    "       sekishoctl [-c confdir] [--json] log query [--since T] "
	    "[--until T]\n"
	    "           [--from S] [--to S] [--subject S] [--qid Q] [--rule S]"
	    "\n           [--action S] [--event KINDS] [--limit N] [--oldest] "
	    "[--messages]\n"
	    "       sekishoctl [-c confdir] [--json] scanner status\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler list "
	    "[ADDR[/LEN]]\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler block "
	    "ADDR[/LEN] [--perm]\n"
	    "           [--minutes N] [--reason TEXT]\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler "
	    "unblock ADDR[/LEN]\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler "
	    "explain ADDR|reload\n"
	    "       sekishoctl [-c confdir] [--json] rules "
	    "status|rollback\n"
	    "       sekishoctl [-c confdir] [--json] rules update FROM\n"
	    "       sekishoctl version\n");
	exit(2);
}

/* ctl_load: the configuration, diagnostics to stderr; -1 if invalid. */
int
ctl_load(const char *confdir, struct sekisho_conf *conf, bool quiet)
{
	struct diag	 d;
	int		 rv;

	diag_init(&d);
	rv = conf_load(confdir, conf, &d);
	if (!quiet || rv == -1)
		diag_print(&d, stderr);
	if (rv == -1)
		fprintf(stderr, "sekishoctl: %s: configuration invalid (%zu "
		    "error%s)\n", confdir, d.nerrors, d.nerrors == 1 ? "" : "s");
	diag_free(&d);
	return rv;
}

/* cmd_config_check: report every problem; 0 when there are no errors. */
static int
cmd_config_check(const char *confdir)
{
	struct sekisho_conf conf;

	if (ctl_load(confdir, &conf, false) == -1)
		return 1;
	printf("%s: configuration OK\n", confdir);
	conf_free(&conf);
	return 0;
}

/* cmd_config_get: print one key's value in force. */
static int
cmd_config_get(const char *confdir, const char *file, const char *section,
    const char *key)
{
	struct sekisho_conf	 conf;
	const struct conf_file	*f;
	const struct conf_key	*k;
	struct buf		 b;

	if ((f = conf_file_find(file)) == NULL) {
		fprintf(stderr, "sekishoctl: unknown configuration file %s\n",
		    file);
		return 1;
	}
	if ((k = conf_key_find(f, section, key)) == NULL) {
		fprintf(stderr, "sekishoctl: %s: no key %s in [%s]\n", file,
		    key, section);
		return 1;
	}
	if (ctl_load(confdir, &conf, true) == -1)
		return 1;
	buf_init(&b, 1 << 20);
	conf_value_text(&conf, k, &b);
	printf("%s\n", buf_cstr(&b));
	buf_free(&b);
	conf_free(&conf);
	return 0;
}

/*
 * ------------------------------------------------------------------------
 * queue: requests to the queue process over run_dir/queue.sock.
 * ------------------------------------------------------------------------
 */

/* The list filters of a queue command (ctl_req.arg); "" any. */
struct qfilter {
	const char	*state, *from, *to;
	uint64_t	 older;
};

/* ctl_jmalloc: jansson's allocator: never NULL, like xmalloc. */
static void *
ctl_jmalloc(size_t n)
{
	return xmalloc(n > 0 ? n : 1);
}

/* ctl_safe: s for a terminal: control bytes become '?', cut at len. */
const char *
ctl_safe(char *buf, size_t len, const char *s)
{
	size_t	 i;

	if (s == NULL)
		s = "-";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
		    s[i];
	buf[i] = '\0';
	return buf;
}

/* ctl_age: a duration as 45s, 12m, 3h05m or 2d04h. */
const char *
ctl_age(char *buf, size_t len, long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		(void)str_printf(buf, len, "%llds", secs);
	else if (secs < 3600)
		(void)str_printf(buf, len, "%lldm", secs / 60);
	else if (secs < 86400)
		(void)str_printf(buf, len, "%lldh%02lldm", secs / 3600,
		    secs % 3600 / 60);
	else
		(void)str_printf(buf, len, "%lldd%02lldh", secs / 86400,
		    secs % 86400 / 3600);
	return buf;
}

/* ctl_size: bytes as 512, 1.2K, 3.4M or 1.1G. */
const char *
ctl_size(char *buf, size_t len, long long n)
{
	if (n < 1024)
		(void)str_printf(buf, len, "%lld", n);
	else if (n < 1024 * 1024)
		(void)str_printf(buf, len, "%.1fK", n / 1024.0);
	else if (n < 1024LL * 1024 * 1024)
		(void)str_printf(buf, len, "%.1fM", n / (1024.0 * 1024));
	else
		(void)str_printf(buf, len, "%.1fG", n / (1024.0 * 1024 * 1024));
	return buf;
}

/* ctl_time: a unix time in local time with its offset. */
const char *
ctl_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		(void)str_printf(buf, len, "%lld", (long long)t);
	return buf;
}

/* ctl_jhas: whether o[key] exists with the type (or null if nullable). */
bool
ctl_jhas(const json_t *o, const char *key, int type, bool nullable)
{
	const json_t *v = json_object_get(o, key);

	return v != NULL && (json_typeof(v) == (json_type)type ||
	    (nullable && json_is_null(v)));
}

/* ctl_rcpt_check: one recipient object of an entry is well-formed. */
static bool
ctl_rcpt_check(const json_t *r)
{
	return json_is_object(r) &&
	    ctl_jhas(r, "address", JSON_STRING, false) &&
	    ctl_jhas(r, "state", JSON_STRING, false) &&
	    ctl_jhas(r, "attempts", JSON_INTEGER, false) &&
	    ctl_jhas(r, "next", JSON_INTEGER, false) &&
	    ctl_jhas(r, "dsn", JSON_STRING, true) &&
	    ctl_jhas(r, "remote", JSON_STRING, true) &&
	    ctl_jhas(r, "reply", JSON_STRING, true);
}

/* ctl_entry_check: an entry has every field we show, typed as documented. */
static const char *
ctl_entry_check(const json_t *o, const struct ctl_req *r)
{
	const struct qfilter *f = r->arg;
	const json_t	*rs;
	const char	*qid, *st;
	size_t		 i;

	if (!json_is_object(o))
		return "entry is not a JSON object";
	if (!ctl_jhas(o, "qid", JSON_STRING, false) ||
	    !ctl_jhas(o, "state", JSON_STRING, false) ||
	    !ctl_jhas(o, "received", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "age", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "size", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "sender", JSON_STRING, true) ||
	    !ctl_jhas(o, "helo", JSON_STRING, true) ||
	    !ctl_jhas(o, "client_ip", JSON_STRING, true) ||
	    !ctl_jhas(o, "tls", JSON_STRING, true) ||
	    !ctl_jhas(o, "nrcpt", JSON_INTEGER, false) ||
	    !ctl_jhas(o, "recipients", JSON_ARRAY, false))
		return "entry lacks a field or has a wrong type";
	qid = json_string_value(json_object_get(o, "qid"));
	st = json_string_value(json_object_get(o, "state"));
	if (!ctl_id_ok(qid))
		return "entry has a malformed queue id";
	if (strcmp(st, "queue") != 0 && strcmp(st, "hold") != 0 &&
	    strcmp(st, "incoming") != 0)
		return "entry has an unknown state";
	if (r->id[0] != '\0' && strcmp(qid, r->id) != 0)
		return "entry names another message";
	if (f->state[0] != '\0' && strcmp(st, f->state) != 0)
		return "entry in a state that was not asked for";
	rs = json_object_get(o, "recipients");
	for (i = 0; i < json_array_size(rs); i++)
		if (!ctl_rcpt_check(json_array_get(rs, i)))
			return "entry has a malformed recipient";
	return NULL;
}

/* ctl_jstr: o[key] as a C string, NULL for null. */
const char *
ctl_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ctl_jint: o[key] as an integer. */
long long
ctl_jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* ctl_last_dsn: the status to show for a message: a pending one's first. */
static const char *
ctl_last_dsn(const json_t *rs)
{
	const char *dsn = NULL, *d;
	size_t	 i;

	for (i = 0; i < json_array_size(rs); i++) {
		const json_t *r = json_array_get(rs, i);

		if ((d = ctl_jstr(r, "dsn")) == NULL)
			continue;
		if (strcmp(ctl_jstr(r, "state"), "pending") == 0)
			return d;
		if (dsn == NULL)
			dsn = d;
	}
	return dsn != NULL ? dsn : "-";
}

/* ctl_list_header: the column titles of queue list. */
static void
ctl_list_header(void)
{
	printf("%-16s  %-8s  %6s  %6s  %-28s  %5s  %-28s  %s\n", "QUEUE ID",
	    "STATE", "AGE", "SIZE", "SENDER", "RCPTS", "FIRST RECIPIENT",
	    "DSN");
}

/* ctl_list_row: one message of queue list as a table row. */
static void
ctl_list_row(const json_t *o)
{
	const json_t *rs = json_object_get(o, "recipients");
	const char *sender = ctl_jstr(o, "sender"), *first = "-";
	char	 age[32], size[32], sbuf[256], rbuf[256], dbuf[32];

	if (json_array_size(rs) > 0)
		first = ctl_jstr(json_array_get(rs, 0), "address");
	printf("%-16s  %-8s  %6s  %6s  %-28s  %5lld  %-28s  %s\n",
	    ctl_jstr(o, "qid"), ctl_jstr(o, "state"),
	    ctl_age(age, sizeof(age), ctl_jint(o, "age")),
	    ctl_size(size, sizeof(size), ctl_jint(o, "size")),
	    sender != NULL ? ctl_safe(sbuf, sizeof(sbuf), sender) : "<>",
	    ctl_jint(o, "nrcpt"), ctl_safe(rbuf, sizeof(rbuf), first),
	    ctl_safe(dbuf, sizeof(dbuf), ctl_last_dsn(rs)));
}

/* ctl_show_field: one "Name:  value" line of queue show. */
static void
ctl_show_field(const char *name, const char *value)
{
	char	 buf[8192];

	printf("%-12s %s\n", name, ctl_safe(buf, sizeof(buf), value));
}

/* ctl_show_rcpt: one recipient of queue show. */
static void
ctl_show_rcpt(const json_t *r, time_t now)
{
	char	 buf[8192], when[64], in[32];
	long long next = ctl_jint(r, "next");

	printf("  %s\n", ctl_safe(buf, sizeof(buf), ctl_jstr(r, "address")));
	printf("    state %s, attempts %lld", ctl_jstr(r, "state"),
	    ctl_jint(r, "attempts"));
	if (strcmp(ctl_jstr(r, "state"), "pending") == 0) {
		if (next <= (long long)now)
			printf(", next attempt now");
		else
			printf(", next attempt %s (in %s)",
			    ctl_time(when, sizeof(when), (time_t)next),
			    ctl_age(in, sizeof(in), next - (long long)now));
	}
	printf(", dsn %s\n", ctl_safe(buf, sizeof(buf), ctl_jstr(r, "dsn")));
	if (ctl_jstr(r, "remote") != NULL)
		printf("    remote %s\n", ctl_safe(buf, sizeof(buf),
		    ctl_jstr(r, "remote")));
	if (ctl_jstr(r, "reply") != NULL)
		printf("    reply  %s\n", ctl_safe(buf, sizeof(buf),
		    ctl_jstr(r, "reply")));
}

/* ctl_show: one message as a readable block. */
static void
ctl_show(const json_t *o)
{
	const json_t *rs = json_object_get(o, "recipients");
	char	 buf[128], age[32];
	time_t	 now = time(NULL);
	size_t	 i;

	ctl_show_field("Queue ID:", ctl_jstr(o, "qid"));
	ctl_show_field("State:", ctl_jstr(o, "state"));
	ctl_time(buf, sizeof(buf), (time_t)ctl_jint(o, "received"));
	printf("%-12s %s (%s ago)\n", "Received:", buf,
	    ctl_age(age, sizeof(age), ctl_jint(o, "age")));
	printf("%-12s %lld bytes\n", "Size:", ctl_jint(o, "size"));
	ctl_show_field("Sender:", ctl_jstr(o, "sender") ? ctl_jstr(o,
	    "sender") : "<>");
	ctl_show_field("HELO:", ctl_jstr(o, "helo"));
	ctl_show_field("Client:", ctl_jstr(o, "client_ip"));
	if (ctl_jstr(o, "client_name") != NULL)
		ctl_show_field("Client name:", ctl_jstr(o, "client_name"));
	ctl_show_field("TLS:", ctl_jstr(o, "tls"));
	if (ctl_jstr(o, "auth") != NULL)
		ctl_show_field("Auth:", ctl_jstr(o, "auth"));
	printf("%-12s %lld%s\n", "Recipients:", ctl_jint(o, "nrcpt"),
	    json_is_true(json_object_get(o, "truncated")) ? " (list "
	    "truncated)" : "");
	for (i = 0; i < json_array_size(rs); i++)
		ctl_show_rcpt(json_array_get(rs, i), now);
}

/* ctl_list_filters: the filters of a queue list request. */
static void
ctl_list_filters(struct ipc_msg *m, const struct ctl_req *r)
{
	const struct qfilter *f = r->arg;

	ipc_add_str(m, f->state);
	ipc_add_str(m, f->from);
	ipc_add_str(m, f->to);
	ipc_add_u64(m, f->older);
}

/* How the queue commands ask and show (ctl_req.c). */
static const struct ctl_view ctl_queue_view = {
	.sock = "queue.sock",
	.daemon = "sekisho-smtpd",
	.idkey = "qid",
	.filters = ctl_list_filters,
	.check = ctl_entry_check,
	.header = ctl_list_header,
	.row = ctl_list_row,
	.show = ctl_show,
};

/* ctl_qid_arg: a queue id argument, or a usage error. */
static const char *
ctl_qid_arg(const char *s)
{
	if (!ctl_id_ok(s)) {
		fprintf(stderr, "sekishoctl: %s: not a queue id (16 lower-case "
		    "hex digits)\n", s);
		exit(2);
	}
	return s;
}

/* ctl_list_opts: the filters of queue list (argv after "list"). */
static void
ctl_list_opts(struct qfilter *f, int argc, char **argv)
{
	long long v;
	int	 i;

	for (i = 0; i < argc; i++) {
		const char *o = argv[i], *val;

		if (strcmp(o, "--json") == 0) {
			json_out = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		val = argv[++i];
		if (strcmp(o, "--state") == 0) {
			if (strcmp(val, "queue") != 0 && strcmp(val, "hold") != 0 &&
			    strcmp(val, "incoming") != 0) {
				fprintf(stderr, "sekishoctl: --state: one of "
				    "queue, hold, incoming\n");
				exit(2);
			}
			f->state = val;
		} else if (strcmp(o, "--from") == 0)
			f->from = val;
		else if (strcmp(o, "--to") == 0)
			f->to = val;
		else if (strcmp(o, "--older") == 0) {
			if (!str_to_ll(val, 0, 100LL * 365 * 86400, &v)) {
				fprintf(stderr, "sekishoctl: --older: seconds "
				    "(a number)\n");
				exit(2);
			}
			f->older = (uint64_t)v;
		} else
			usage();
	}
}

/* ctl_id_args: the arguments after a command naming a message. */
static const char *
ctl_id_args(int argc, char **argv)
{
	const char *id = NULL;
	int	 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json_out = true;
		else if (argv[i][0] == '-' || id != NULL)
			usage();
		else
			id = argv[i];
	}
	return id;
}

/* cmd_queue: sekishoctl queue ...; argv starts after "queue". */
static int
cmd_queue(const char *confdir, int argc, char **argv)
{
	static const struct ctl_cmd cmds[] = {
		{ "list", IMSG_QUEUE_CTL_LIST, CTL_LIST, NULL },
		{ "show", IMSG_QUEUE_CTL_SHOW, CTL_SHOW, NULL },
		{ "hold", IMSG_QUEUE_CTL_HOLD, CTL_ACTION, NULL },
		{ "release", IMSG_QUEUE_CTL_RELEASE, CTL_ACTION, NULL },
		{ "delete", IMSG_QUEUE_CTL_DELETE, CTL_ACTION, NULL },
		{ "flush", IMSG_QUEUE_CTL_FLUSH, CTL_ACTION, NULL },
	};
	struct qfilter	 f = { .state = "", .from = "", .to = "" };
	struct ctl_req	 r = { .view = &ctl_queue_view, .id = "", .arg = &f };
	const char	*id;

	if (argc < 1 ||
	    (r.cmd = ctl_cmd_find(cmds, nitems(cmds), argv[0])) == NULL)
		usage();
	if (r.cmd->kind == CTL_LIST)
		ctl_list_opts(&f, argc - 1, argv + 1);
	else if ((id = ctl_id_args(argc - 1, argv + 1)) != NULL)
		r.id = ctl_qid_arg(id);
	else if (r.cmd->type != IMSG_QUEUE_CTL_FLUSH)
		usage();
	r.json = json_out;
	return ctl_req_run(confdir, &r);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*confdir = SEKISHO_CONFDIR;
	int		 ch;

	log_init("sekishoctl", true, LOG_LVL_WARN);
	json_set_alloc_funcs(ctl_jmalloc, free);
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			confdir = optarg;
			break;
		case 'j':
			json_out = true;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 1 && strcmp(argv[0], "version") == 0) {
		printf("sekisho %s\n", SEKISHO_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "config") == 0 &&
	    strcmp(argv[1], "check") == 0)
		return cmd_config_check(confdir);
	if (argc == 5 && strcmp(argv[0], "config") == 0 &&
	    strcmp(argv[1], "get") == 0)
		return cmd_config_get(confdir, argv[2], argv[3], argv[4]);
	if (argc >= 2 && strcmp(argv[0], "config") == 0 &&
	    (strcmp(argv[1], "keygen") == 0 || strcmp(argv[1], "bundle") == 0))
		return cmd_config_bundle(confdir, argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "log") == 0)
		return cmd_log(confdir, argc - 1, argv + 1, json_out);
	if (argc >= 1 && strcmp(argv[0], "queue") == 0) {
		/* Our own messages say what failed; not the ipc layer's. */
		log_setlevel(LOG_LVL_ERR);
		return cmd_queue(confdir, argc - 1, argv + 1);
	}
	if (argc >= 1 && strcmp(argv[0], "quarantine") == 0) {
		log_setlevel(LOG_LVL_ERR);
		return cmd_quarantine(confdir, argc - 1, argv + 1, json_out);
	}
	if (argc >= 1 && strcmp(argv[0], "rules") == 0)
		return cmd_rules(confdir, argc - 1, argv + 1, json_out);
	if (argc >= 1 && strcmp(argv[0], "ipprofiler") == 0) {
		log_setlevel(LOG_LVL_ERR);
		return cmd_ipprofiler(confdir, argc - 1, argv + 1, json_out);
	}
	if (argc >= 1 && (strcmp(argv[0], "status") == 0 ||
	    strcmp(argv[0], "start") == 0 || strcmp(argv[0], "stop") == 0 ||
	    strcmp(argv[0], "restart") == 0 ||
	    strcmp(argv[0], "reload") == 0)) {
		log_setlevel(LOG_LVL_ERR);
		return cmd_service(confdir, argc, argv, json_out);
	}
	if (argc >= 1 && (strcmp(argv[0], "central") == 0 ||
	    strcmp(argv[0], "agent") == 0)) {
		log_setlevel(LOG_LVL_ERR);
		return cmd_central(confdir, argc, argv, json_out);
	}
	if (argc >= 1 && strcmp(argv[0], "console") == 0)
		return cmd_console(confdir, argc, argv, json_out);
	if (argc >= 1 && strcmp(argv[0], "scanner") == 0) {
		log_setlevel(LOG_LVL_ERR);
		return cmd_scanner(confdir, argc - 1, argv + 1, json_out);
	}
	usage();
}
