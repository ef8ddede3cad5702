/*
 * ctl_scanner.c: sekishoctl scanner status, over the scanner's socket
 * (run_dir/scanner.sock, scanner/daemon/scannerd.c status_send).
 *
 * The answer is one JSON object: the scanner's version, pid and start,
 * when the policy (and the antivirus engine) was last loaded, its workers
 * and what they are doing, the scans answered and failed, and the
 * antivirus engine with its engine and database versions, signature
 * count and database (null when antivirus is off), and the spam rule
 * package in force (null when antispam is off).  Every field is
 * checked before it is shown (ctl_req.c treats the reply as untrusted).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ipc.h"
#include "sekishoctl.h"
#include "util.h"

static const char *const sc_ints[] = {
	"pid", "started", "loaded", "rules", "workers", "running", "busy",
	"waiting", "scanned", "failed",
};

/* sc_check: why the status object cannot be trusted, or NULL. */
static const char *
sc_check(const json_t *o, const struct ctl_req *r)
{
	const json_t	*av;
	size_t		 i;

	(void)r;
	if (!json_is_object(o) || !ctl_jhas(o, "version", JSON_STRING, false) ||
	    !ctl_jhas(o, "antivirus", JSON_OBJECT, true) ||
	    !ctl_jhas(o, "antispam", JSON_OBJECT, true))
		return "status is not a scanner status object";
	for (i = 0; i < nitems(sc_ints); i++)
		if (!ctl_jhas(o, sc_ints[i], JSON_INTEGER, false) ||
		    ctl_jint(o, sc_ints[i]) < 0)
			return "status field missing or not a count";
	av = json_object_get(o, "antivirus");
	if (json_is_object(av) && (!ctl_jhas(av, "engine", JSON_STRING, false) ||
	    !ctl_jhas(av, "version", JSON_STRING, false) ||
	    !ctl_jhas(av, "signatures", JSON_INTEGER, false) ||
	    !ctl_jhas(av, "database", JSON_STRING, false) ||
	    !ctl_jhas(av, "loaded", JSON_INTEGER, false) ||
	    (strcmp(ctl_jstr(av, "engine"), "libclamav") != 0 &&
	    strcmp(ctl_jstr(av, "engine"), "clamd") != 0)))
		return "antivirus field missing or unknown engine";
	av = json_object_get(o, "antispam");
	if (json_is_object(av) && (!ctl_jhas(av, "version", JSON_STRING,
	    false) || !ctl_jhas(av, "rules", JSON_INTEGER, false) ||
	    !ctl_jhas(av, "package_dir", JSON_STRING, false)))
		return "antispam field missing";
	return NULL;
}

/* sc_show: the status, one aspect per line. */
static void
sc_show(const json_t *o)
{
	const json_t	*av = json_object_get(o, "antivirus");
	const json_t	*as = json_object_get(o, "antispam");
	char		 a[512], b[512], t1[64], t2[64];

	printf("%-10s sekisho-scanner %s, pid %lld, running since %s\n",
	    "scanner", ctl_safe(a, sizeof(a), ctl_jstr(o, "version")),
	    ctl_jint(o, "pid"), ctl_time(t1, sizeof(t1),
	    (time_t)ctl_jint(o, "started")));
	printf("%-10s %lld rules, loaded %s\n", "policy",
	    ctl_jint(o, "rules"), ctl_time(t2, sizeof(t2),
	    (time_t)ctl_jint(o, "loaded")));
	printf("%-10s %lld configured, %lld running, %lld busy; %lld "
	    "messages waiting\n", "workers", ctl_jint(o, "workers"),
	    ctl_jint(o, "running"), ctl_jint(o, "busy"),
	    ctl_jint(o, "waiting"));
	printf("%-10s %lld answered, %lld failed (worker died or hit a "
	    "limit) since the start\n", "scans", ctl_jint(o, "scanned"),
	    ctl_jint(o, "failed"));
	if (!json_is_object(as))
		printf("%-10s off\n", "antispam");
	else
		printf("%-10s rule package %s, %lld rules (%s)\n", "antispam",
		    ctl_safe(a, sizeof(a), ctl_jstr(as, "version")),
		    ctl_jint(as, "rules"), ctl_safe(b, sizeof(b),
		    ctl_jstr(as, "package_dir")));
	if (!json_is_object(av)) {
		printf("%-10s off\n", "antivirus");
		return;
	}
	printf("%-10s %s (%s), %lld signatures\n", "antivirus",
	    ctl_safe(a, sizeof(a), ctl_jstr(av, "version")),
	    ctl_jstr(av, "engine"), ctl_jint(av, "signatures"));
	printf("%-10s %s, loaded %s\n", "database",
	    ctl_safe(b, sizeof(b), ctl_jstr(av, "database")),
	    ctl_time(t1, sizeof(t1), (time_t)ctl_jint(av, "loaded")));
}

static const struct ctl_view sc_view = {
	.sock = "scanner.sock",
	.daemon = "sekisho-scanner",
	.idkey = "id",
	.check = sc_check,
	.show = sc_show,
};

/* cmd_scanner: sekishoctl scanner status; argv starts after "scanner". */
int
cmd_scanner(const char *confdir, int argc, char **argv, bool json)
{
	static const struct ctl_cmd status = {
		"status", IMSG_SCAN_STATUS, CTL_SHOW, NULL
	};
	struct ctl_req	 r = { .view = &sc_view, .cmd = &status, .id = "",
	    .json = json };

	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		r.json = true;
		argc--;
	}
	if (argc != 1 || strcmp(argv[0], "status") != 0) {
		fprintf(stderr, "usage: sekishoctl [-c confdir] [--json] "
		    "scanner status\n");
		return 2;
	}
	return ctl_req_run(confdir, &r);
}
