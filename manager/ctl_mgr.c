/*
 * ctl_mgr.c: sekishoctl status, start, stop, restart and reload: the
 * services of this host, through sekisho-manager's socket
 * (run_dir/manager.sock, manager/daemon/managerd.c), exchanged as the
 * queue commands' are (ctl_req.c).
 *
 *	sekishoctl [-c DIR] [--json] status [SERVICE]
 *	sekishoctl [-c DIR] [--json] start|stop|restart SERVICE
 *	sekishoctl [-c DIR] [--json] reload
 *
 * status shows a row per service (state, pid, uptime, restarts after
 * deaths, the users its processes run as).  start, stop and restart
 * return when the manager has done it: a stop at worst when the service
 * was killed at [imss_manager] service_stop_timeout, so the wait for an
 * answer is that long plus a margin.  reload makes the manager re-read
 * the configuration and signal the services.  A service name is checked
 * here first.  Exit codes: 0 success, 1 failure (refused, the service
 * did not start, the manager not running), 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "ipc.h"
#include "sekishoctl.h"
#include "util.h"

#define MC_MARGIN_MS	30000	/* beyond the stop timeout */

/* mc_usage: the service commands' usage; exit code 2. */
static int
mc_usage(void)
{
	fprintf(stderr, "usage: sekishoctl [-c confdir] [--json] status "
	    "[SERVICE]\n"
	    "       sekishoctl [-c confdir] [--json] start|stop|restart "
	    "SERVICE\n"
	    "       sekishoctl [-c confdir] [--json] reload\n"
	    "SERVICE: smtpd, scanner, ipprofiler or euq\n");
	return 2;
}

/* mc_jnum: o[key] is an integer >= 0, or null when nullable. */
static bool
mc_jnum(const json_t *o, const char *key, bool nullable)
{
	return (ctl_jhas(o, key, JSON_INTEGER, false) &&
	    ctl_jint(o, key) >= 0) ||
	    (nullable && ctl_jhas(o, key, JSON_NULL, false));
}

/* mc_jbool: o[key] is true or false. */
static bool
mc_jbool(const json_t *o, const char *key)
{
	return ctl_jhas(o, key, JSON_TRUE, false) ||
	    ctl_jhas(o, key, JSON_FALSE, false);
}

/* mc_users_ok: users is an array of strings. */
static bool
mc_users_ok(const json_t *users)
{
	size_t	 i;

	if (!json_is_array(users))
		return false;
	for (i = 0; i < json_array_size(users); i++)
		if (!json_is_string(json_array_get(users, i)))
			return false;
	return true;
}

/* mc_check: why a status entry cannot be trusted, or NULL. */
static const char *
mc_check(const json_t *o, const struct ctl_req *r)
{
	static const char *const states[] = { "running", "stopped",
	    "stopping", "restarting" };
	const char	*st;
	size_t		 i;

	if (!json_is_object(o) || !ctl_jhas(o, "service", JSON_STRING, false) ||
	    !ctl_jhas(o, "program", JSON_STRING, false) ||
	    !ctl_jhas(o, "state", JSON_STRING, false) ||
	    !ctl_jhas(o, "log", JSON_STRING, false) ||
	    !ctl_jhas(o, "last_exit", JSON_STRING, true) ||
	    !mc_jbool(o, "enabled") || !mc_jbool(o, "installed") ||
	    !mc_jnum(o, "pid", true) || !mc_jnum(o, "started", true) ||
	    !mc_jnum(o, "uptime", true) || !mc_jnum(o, "restarts", false) ||
	    !mc_jnum(o, "restart_in", true) ||
	    !mc_users_ok(json_object_get(o, "users")))
		return "entry lacks a field or has a wrong type";
	if (conf_service_index(ctl_jstr(o, "service")) == -1)
		return "entry names an unknown service";
	if (r->id[0] != '\0' && strcmp(r->id, ctl_jstr(o, "service")) != 0)
		return "entry names another service";
	st = ctl_jstr(o, "state");
	for (i = 0; i < nitems(states); i++)
		if (strcmp(st, states[i]) == 0)
			break;
	if (i == nitems(states))
		return "entry has an unknown state";
	if ((i == 0 || i == 2) != ctl_jhas(o, "pid", JSON_INTEGER, false))
		return "entry's pid does not match its state";
	return NULL;
}

/* mc_header: the column titles of status. */
static void
mc_header(void)
{
	printf("%-10s  %-16s  %7s  %7s  %8s  %s\n", "SERVICE", "STATE",
	    "PID", "UPTIME", "RESTARTS", "USER");
}

/* mc_state: the state column: "restarting in 4s", "disabled", ... */
static const char *
mc_state(char *buf, size_t len, const json_t *o)
{
	const char *st = ctl_jstr(o, "state");
	char	 in[32];

	if (strcmp(st, "restarting") == 0 && ctl_jhas(o, "restart_in",
	    JSON_INTEGER, false))
		(void)str_printf(buf, len, "restarting in %s", ctl_age(in,
		    sizeof(in), ctl_jint(o, "restart_in")));
	else if (strcmp(st, "stopped") == 0 &&
	    json_is_false(json_object_get(o, "enabled")))
		(void)str_printf(buf, len, "disabled");
	else
		(void)str_printf(buf, len, "%s", st);
	return buf;
}

/* mc_row: one service as a table row. */
static void
mc_row(const json_t *o)
{
	const json_t	*users = json_object_get(o, "users");
	char		 name[32], state[48], pid[24], up[32], u[512];
	char		 who[1024];
	size_t		 i;

	who[0] = '\0';
	for (i = 0; i < json_array_size(users); i++) {
		ctl_safe(u, sizeof(u), json_string_value(json_array_get(users,
		    i)));
		if (i > 0)
			str_lcat(who, ",", sizeof(who));
		str_lcat(who, u, sizeof(who));
	}
	if (ctl_jhas(o, "pid", JSON_INTEGER, false))
		(void)str_printf(pid, sizeof(pid), "%lld", ctl_jint(o, "pid"));
	else
		str_lcpy(pid, "-", sizeof(pid));
	if (ctl_jhas(o, "uptime", JSON_INTEGER, false))
		ctl_age(up, sizeof(up), ctl_jint(o, "uptime"));
	else
		str_lcpy(up, "-", sizeof(up));
	printf("%-10s  %-16s  %7s  %7s  %8lld  %s\n",
	    ctl_safe(name, sizeof(name), ctl_jstr(o, "service")),
	    mc_state(state, sizeof(state), o), pid, up,
	    ctl_jint(o, "restarts"), who[0] != '\0' ? who : "-");
}

/* mc_filters: status: the service asked about ("" all). */
static void
mc_filters(struct ipc_msg *m, const struct ctl_req *r)
{
	ipc_add_str(m, r->id);
}

/* mc_args: start, stop, restart: the service; reload: nothing. */
static void
mc_args(struct ipc_msg *m, const struct ctl_req *r)
{
	if (r->cmd->type != IMSG_CTL_RELOAD)
		ipc_add_str(m, r->id);
}

/* mc_timeout: a stop may take service_stop_timeout before the answer. */
static int
mc_timeout(const struct sekisho_conf *conf)
{
	return (int)conf->imss.service_stop_timeout * 1000 + MC_MARGIN_MS;
}

static const struct ctl_view mc_view = {
	.sock = "manager.sock",
	.daemon = "sekisho-manager",
	.idkey = "service",
	.filters = mc_filters,
	.args = mc_args,
	.check = mc_check,
	.header = mc_header,
	.row = mc_row,
	.allowed = "the user sekisho-manager runs as",
	.timeout_ms = mc_timeout,
};

/* cmd_service: status, start, stop, restart, reload; argv[0] is which. */
int
cmd_service(const char *confdir, int argc, char **argv, bool json)
{
	static const struct ctl_cmd cmds[] = {
		{ "status", IMSG_MGR_STATUS, CTL_LIST, NULL },
		{ "start", IMSG_MGR_START, CTL_ACTION, NULL },
		{ "stop", IMSG_MGR_STOP, CTL_ACTION, NULL },
		{ "restart", IMSG_MGR_RESTART, CTL_ACTION, NULL },
		{ "reload", IMSG_CTL_RELOAD, CTL_ACTION, NULL },
	};
	struct ctl_req	 r = { .view = &mc_view, .id = "", .json = json };
	const char	*word = NULL;
	char		 safe[64];
	int		 i;

	if (argc < 1 ||
	    (r.cmd = ctl_cmd_find(cmds, nitems(cmds), argv[0])) == NULL)
		return mc_usage();
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			r.json = true;
		else if (argv[i][0] == '-' || word != NULL)
			return mc_usage();
		else
			word = argv[i];
	}
	if ((r.cmd->type == IMSG_CTL_RELOAD && word != NULL) ||
	    (r.cmd->kind == CTL_ACTION && r.cmd->type != IMSG_CTL_RELOAD &&
	    word == NULL))
		return mc_usage();
	if (word != NULL && conf_service_index(word) == -1) {
		fprintf(stderr, "sekishoctl: unknown service %s (one of smtpd, "
		    "scanner, ipprofiler, euq)\n", ctl_safe(safe, sizeof(safe),
		    word));
		return 2;
	}
	if (word != NULL)
		r.id = word;
	return ctl_req_run(confdir, &r);
}
