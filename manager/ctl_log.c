/*
 * ctl_log.c: sekishoctl log query: the message-tracking log.
 *
 *	sekishoctl [-c DIR] [--json] log query [--since T] [--until T]
 *	    [--from S] [--to S] [--subject S] [--qid Q] [--rule S]
 *	    [--action S] [--event KINDS] [--limit N] [--oldest] [--messages]
 *
 * The database belongs to the queue process; this opens it read-only
 * (WAL: reading never blocks the writer).  Filters are the tracking
 * layer's own (track_filter_set); times are ISO 8601, seconds since the
 * epoch, or "-2h"-style spans.  --messages prints one line per message
 * and recipient with its last event (the outcome) instead of every event.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "sekishoctl.h"
#include "track.h"
#include "util.h"

static const struct option log_opts[] = {
	{ "since", required_argument, NULL, 's' },
	{ "until", required_argument, NULL, 'u' },
	{ "from", required_argument, NULL, 'f' },
	{ "to", required_argument, NULL, 't' },
	{ "subject", required_argument, NULL, 'S' },
	{ "qid", required_argument, NULL, 'q' },
	{ "rule", required_argument, NULL, 'r' },
	{ "action", required_argument, NULL, 'a' },
	{ "event", required_argument, NULL, 'e' },
	{ "limit", required_argument, NULL, 'l' },
	{ "oldest", no_argument, NULL, 'o' },
	{ "messages", no_argument, NULL, 'm' },
	{ NULL, 0, NULL, 0 }
};

/* The filter key of each option (track_filter_set). */
static const char *
log_key(int ch)
{
	switch (ch) {
	case 's': return "since";
	case 'u': return "until";
	case 'f': return "sender";
	case 't': return "rcpt";
	case 'S': return "subject";
	case 'q': return "qid";
	case 'r': return "rule";
	case 'a': return "action";
	case 'e': return "event";
	case 'l': return "limit";
	}
	return NULL;
}

/* log_when: a microsecond time as local "YYYY-mm-dd HH:MM:SS". */
static const char *
log_when(char *buf, size_t len, int64_t us)
{
	time_t	 t = (time_t)(us / 1000000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		str_lcpy(buf, "?", len);
	return buf;
}

/* log_s: a printable value ("-" for none). */
static const char *
log_s(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

/* log_json_str: set key to s, or null. */
static void
log_json_str(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, s != NULL ? json_string(s) : json_null());
}

/* log_row: one event. */
static bool
log_row(const struct track_row *r, void *arg)
{
	bool	*json = arg;
	char	 when[32], *text;
	json_t	*o;

	if (!*json) {
		printf("%s  %s  %-12s %s -> %s  %s%s%s%s%s\n",
		    log_when(when, sizeof(when), r->time), r->qid,
		    track_kind_name(r->kind), log_s(r->sender[0] ? r->sender :
		    "<>"), log_s(r->rcpt), r->action ? r->action : "",
		    r->rule ? " rule=" : "", r->rule ? r->rule : "",
		    r->dsn ? " dsn=" : "", r->dsn ? r->dsn : "");
		return true;
	}
	o = json_object();
	json_object_set_new(o, "time", json_integer(r->time / 1000000));
	json_object_set_new(o, "qid", json_string(r->qid));
	json_object_set_new(o, "event", json_string(track_kind_name(r->kind)));
	log_json_str(o, "sender", r->sender);
	log_json_str(o, "rcpt", r->rcpt);
	log_json_str(o, "subject", r->subject);
	log_json_str(o, "rule", r->rule);
	log_json_str(o, "action", r->action);
	log_json_str(o, "relay", r->relay);
	log_json_str(o, "dsn", r->dsn);
	log_json_str(o, "detail", r->detail);
	if ((text = json_dumps(o, JSON_COMPACT)) != NULL) {
		printf("%s\n", text);
		free(text);
	}
	json_decref(o);
	return true;
}

/* log_outcome: one recipient's last event (--messages). */
static bool
log_outcome(const struct track_outcome *r, void *arg)
{
	bool	*json = arg;
	char	 when[32], *text;
	json_t	*o;

	if (!*json) {
		/* A message-level line has no verdict of its own. */
		printf("%s  %s  %s -> %s  %s%s%s%s%s\n",
		    log_when(when, sizeof(when), r->time), r->qid,
		    log_s(r->sender[0] ? r->sender : "<>"), log_s(r->rcpt),
		    track_kind_name(r->kind), r->dsn ? " dsn=" : "",
		    r->dsn ? r->dsn : "",
		    r->rcpt == NULL && r->scan_action == NULL ? "" : "  scan: ",
		    r->scan_action ? r->scan_action :
		    r->rcpt == NULL ? "" : "not scanned");
		return true;
	}
	o = json_object();
	json_object_set_new(o, "time", json_integer(r->time / 1000000));
	json_object_set_new(o, "qid", json_string(r->qid));
	log_json_str(o, "sender", r->sender);
	log_json_str(o, "subject", r->subject);
	log_json_str(o, "rcpt", r->rcpt);
	json_object_set_new(o, "outcome", json_string(track_kind_name(r->kind)));
	log_json_str(o, "dsn", r->dsn);
	log_json_str(o, "relay", r->relay);
	log_json_str(o, "detail", r->detail);
	log_json_str(o, "scan", r->scan_action);
	if ((text = json_dumps(o, JSON_COMPACT)) != NULL) {
		printf("%s\n", text);
		free(text);
	}
	json_decref(o);
	return true;
}

/* cmd_log: sekishoctl log query ...; argv starts after "log". */
int
cmd_log(const char *confdir, int argc, char **argv, bool json)
{
	struct sekisho_conf	 conf;
	struct track_filter	 f;
	struct track		*t;
	char			 path[4096], err[256];
	bool			 messages = false, ok;
	int			 ch;

	if (argc < 1 || strcmp(argv[0], "query") != 0) {
		fprintf(stderr, "usage: sekishoctl log query [options]\n");
		return 2;
	}
	memset(&f, 0, sizeof(f));
	f.newest_first = true;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", log_opts, NULL)) != -1) {
		if (ch == 'o')
			f.newest_first = false;
		else if (ch == 'm')
			messages = true;
		else if (log_key(ch) == NULL)
			return 2;
		else if (!track_filter_set(&f, log_key(ch), optarg,
		    track_now(), err, sizeof(err))) {
			fprintf(stderr, "sekishoctl: %s\n", err);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sekishoctl: log query: unexpected %s\n",
		    argv[optind]);
		return 2;
	}
	if (ctl_load(confdir, &conf, true) == -1)
		return 1;
	if (!str_printf(path, sizeof(path), "%s/db/track.db",
	    conf.imss.data_dir)) {
		conf_free(&conf);
		return 1;
	}
	conf_free(&conf);
	if ((t = track_open_readonly(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sekishoctl: %s: %s\n", path, err);
		return 1;
	}
	ok = messages ? track_query_messages(t, &f, log_outcome, &json) :
	    track_query(t, &f, log_row, &json);
	if (!ok)
		fprintf(stderr, "sekishoctl: log query: %s\n", track_error(t));
	track_close(t);
	return ok ? 0 : 1;
}
