/*
 * ctl_central.c: sekishoctl central ... and agent ..., the enrolment of
 * scanner hosts with a central controller and the push
 * (docs/central.md "Enrolment", "The push", "Hosts").
 *
 * On the controller:
 *	central init [--name NAME]		authority, certificate, keys
 *	central host add REQUEST [-o FILE]	register a host, issue its
 *						certificate (enrolment file)
 *	central host remove NAME
 *	central hosts				registry and what each said
 *	central publish [--version N]		a new bundle of this
 *						configuration, then a sync
 *	central sync				contact every host now
 * On a scanner host:
 *	agent request [--name NAME] [-o FILE]	key and certificate request
 *	agent enrol FILE			install the enrolment file
 *
 * The registry and the enrolment files are read and written here; the
 * contacts are the manager's (IMSG_MGR_SYNC over manager.sock), whose
 * results are shown and also kept in DATA_DIR/central/hosts.json.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bundle.h"
#include "enrol.h"
#include "hosts.h"
#include "ipc.h"
#include "sekishoctl.h"
#include "util.h"
#include "xmalloc.h"

#define CC_SYNC_TIMEOUT_MS	120000	/* a round: every host, in parallel */

static int __attribute__((noreturn))
cc_usage(void)
{
	fprintf(stderr,
	    "usage: sekishoctl [-c confdir] central init [--name NAME]\n"
	    "       sekishoctl [-c confdir] central host add REQUEST "
	    "[-o FILE]\n"
	    "       sekishoctl [-c confdir] central host remove NAME\n"
	    "       sekishoctl [-c confdir] [--json] central hosts\n"
	    "       sekishoctl [-c confdir] [--json] central publish "
	    "[--version N]\n"
	    "       sekishoctl [-c confdir] [--json] central sync\n"
	    "       sekishoctl [-c confdir] agent request [--name NAME] "
	    "[-o FILE]\n"
	    "       sekishoctl [-c confdir] agent enrol FILE\n");
	exit(2);
}

/* cc_name: the host's name: --name, [general] hostname, or the system's. */
static bool
cc_name(const struct sekisho_conf *conf, const char *opt, char *buf,
    size_t len)
{
	if (opt != NULL)
		str_lcpy(buf, opt, len);
	else if (conf->imss.hostname[0] != '\0')
		str_lcpy(buf, conf->imss.hostname, len);
	else if (gethostname(buf, len) == -1)
		buf[0] = '\0';
	else
		buf[len - 1] = '\0';
	if (!enrol_name_ok(buf)) {
		fprintf(stderr, "sekishoctl: \"%s\" cannot be a host name here "
		    "(1 to %d of A-Z a-z 0-9 . -): give --name NAME\n", buf,
		    ENROL_NAME_MAX);
		return false;
	}
	return true;
}

/* cc_write: data into path (atomically, mode) or stdout when NULL. */
static int
cc_write(const char *path, const struct buf *b, unsigned mode)
{
	if (path == NULL) {
		if (fd_write_all(STDOUT_FILENO, b->data, b->len) == -1) {
			fprintf(stderr, "sekishoctl: stdout: %s\n",
			    strerror(errno));
			return 1;
		}
		return 0;
	}
	if (file_write_atomic(path, b->data, b->len, mode) == -1) {
		fprintf(stderr, "sekishoctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* cc_opts: --name/-o/--version style options; the one operand. */
static const char *
cc_opts(int argc, char **argv, const char **name, const char **out,
    long long *version)
{
	const char	*operand = NULL;
	int		 i;

	for (i = 0; i < argc; i++) {
		const char *o = argv[i];

		if (o[0] != '-') {
			if (operand != NULL)
				cc_usage();
			operand = o;
		} else if (strcmp(o, "--json") == 0)
			continue;
		else if (i + 1 >= argc)
			cc_usage();
		else if (strcmp(o, "--name") == 0 && name != NULL)
			*name = argv[++i];
		else if (strcmp(o, "-o") == 0 && out != NULL)
			*out = argv[++i];
		else if (strcmp(o, "--version") == 0 && version != NULL) {
			if (!str_to_ll(argv[++i], 1, INT64_MAX, version))
				cc_usage();
		} else
			cc_usage();
	}
	return operand;
}

/* ---- controller ---------------------------------------------------------- */

static int
cc_init(const char *confdir, const struct sekisho_conf *conf, int argc,
    char **argv)
{
	const char	*opt = NULL;
	char		 name[ENROL_NAME_MAX + 1], err[512];

	if (cc_opts(argc, argv, &opt, NULL, NULL) != NULL)
		cc_usage();
	if (!cc_name(conf, opt, name, sizeof(name)))
		return 1;
	if (enrol_central_init(confdir, name, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: central init: %s\n", err);
		return 1;
	}
	printf("%s/%s: central controller \"%s\": certificate authority, "
	    "client certificate and bundle signing key created\n"
	    "Register each scanner host with: sekishoctl central host add "
	    "REQUEST\n", confdir, ENROL_CENTRAL_DIR, name);
	return 0;
}

static int
cc_host_add(const char *confdir, int argc, char **argv)
{
	struct host_reg	 reg = { NULL, 0 };
	struct host_entry e;
	struct enrol_request *req;
	struct buf	 out;
	const char	*file, *outpath = NULL;
	char		 err[512], *data;
	size_t		 len;
	int		 rc = 1;

	if ((file = cc_opts(argc, argv, NULL, &outpath, NULL)) == NULL)
		cc_usage();
	if ((data = file_read(file, ENROL_FILE_MAX, &len)) == NULL) {
		fprintf(stderr, "sekishoctl: %s: %s\n", file, errno == EFBIG ?
		    "too large for a request" : strerror(errno));
		return 1;
	}
	req = enrol_request_parse((const uint8_t *)data, len, err,
	    sizeof(err));
	free(data);
	if (req == NULL) {
		fprintf(stderr, "sekishoctl: %s: %s\n", file, err);
		return 1;
	}
	if (hosts_load(confdir, &reg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		enrol_request_free(req);
		return 1;
	}
	memset(&e, 0, sizeof(e));
	str_lcpy(e.name, req->name, sizeof(e.name));
	str_lcpy(e.address, req->address, sizeof(e.address));
	e.port = req->port;
	e.registered = (int64_t)time(NULL);
	buf_init(&out, ENROL_FILE_MAX);
	/* The checks of the registry first: nothing is issued in vain. */
	memset(e.fpr, '0', ENROL_FPR_LEN);
	if (hosts_add(&reg, &e, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		goto done;
	}
	(void)hosts_remove(&reg, e.name);
	if (enrol_issue(confdir, req, &out, e.fpr, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: central host add: %s\n", err);
		goto done;
	}
	if (hosts_add(&reg, &e, err, sizeof(err)) == -1 ||
	    hosts_save(confdir, &reg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		goto done;
	}
	if ((rc = cc_write(outpath, &out, 0644)) == 0)
		fprintf(outpath != NULL ? stdout : stderr, "registered %s at "
		    "%s port %u (certificate %.16s...); on that host: "
		    "sekishoctl agent enrol %s\n", e.name, e.address, e.port,
		    e.fpr, outpath != NULL ? outpath : "FILE");
done:
	buf_free(&out);
	hosts_free(&reg);
	enrol_request_free(req);
	return rc;
}

static int
cc_host_remove(const char *confdir, int argc, char **argv)
{
	struct host_reg	 reg = { NULL, 0 };
	char		 err[512];
	int		 rc = 1;

	if (argc != 1 || argv[0][0] == '-')
		cc_usage();
	if (hosts_load(confdir, &reg, err, sizeof(err)) == -1)
		fprintf(stderr, "sekishoctl: %s\n", err);
	else if (!hosts_remove(&reg, argv[0]))
		fprintf(stderr, "sekishoctl: no host %s is registered\n",
		    enrol_name_ok(argv[0]) ? argv[0] : "by that name");
	else if (hosts_save(confdir, &reg, err, sizeof(err)) == -1)
		fprintf(stderr, "sekishoctl: %s\n", err);
	else {
		printf("removed %s: the controller no longer contacts it (its "
		    "certificate stays valid until it expires)\n", argv[0]);
		rc = 0;
	}
	hosts_free(&reg);
	return rc;
}

/* cc_published: the version of the published bundle, 0 when none. */
static uint64_t
cc_published(const struct sekisho_conf *conf)
{
	struct bundle	*b;
	char		*p, *data, err[256];
	size_t		 len, used;
	uint64_t	 v = 0;

	p = xasprintf("%s/central/bundle", conf->imss.data_dir);
	if ((data = file_read(p, BUNDLE_MAX_SIZE, &len)) != NULL &&
	    (b = bundle_parse((const uint8_t *)data, len, &used, err,
	    sizeof(err))) != NULL) {
		v = b->version;
		bundle_free(b);
	}
	free(data);
	free(p);
	return v;
}

/* cc_engines: the engines column of a host's info. */
static const char *
cc_engines(char *buf, size_t len, const json_t *info)
{
	const char	*av = ctl_jstr(info, "av_engine");
	const char	*avv = ctl_jstr(info, "av_version");
	const char	*sp = ctl_jstr(info, "spam_rules_version");
	const char	*sc = ctl_jstr(info, "scanner");
	char		 a[128], b[128], s[128];

	if (sc != NULL && strcmp(sc, "running") != 0) {
		(void)str_printf(buf, len, "scanner %s", ctl_safe(a, sizeof(a),
		    sc));
		return buf;
	}
	(void)str_printf(buf, len, "av %s%s%s, rules %s",
	    av != NULL ? ctl_safe(a, sizeof(a), av) : "?",
	    avv != NULL ? " " : "", avv != NULL ? ctl_safe(b, sizeof(b), avv) :
	    "", sp != NULL ? ctl_safe(s, sizeof(s), sp) : "?");
	return buf;
}

/* cc_host_row: one host as a table row. */
static void
cc_host_row(const json_t *o, uint64_t published, time_t now)
{
	const json_t	*info = json_object_get(o, "info");
	const char	*applied = ctl_jstr(info, "applied_version");
	const char	*product = ctl_jstr(info, "product");
	const char	*result = ctl_jstr(o, "result");
	char		 addr[96], seen[48], cfg[64], eng[400], n[80], p[80];
	long long	 last = json_is_integer(json_object_get(o,
	    "last_contact")) ? ctl_jint(o, "last_contact") : 0;

	(void)str_printf(addr, sizeof(addr), "%s:%lld", ctl_jstr(o, "address"),
	    ctl_jint(o, "port"));
	if (last > 0) {
		ctl_age(seen, sizeof(seen), (long long)now - last);
		str_lcat(seen, " ago", sizeof(seen));
	} else
		str_lcpy(seen, "never", sizeof(seen));
	(void)str_printf(cfg, sizeof(cfg), "%s/%llu", applied != NULL ?
	    ctl_safe(n, sizeof(n), applied) : "?",
	    (unsigned long long)published);
	printf("%-16s  %-22s  %-10s  %-11s  %-9s  %-8s  %s\n",
	    ctl_safe(n, sizeof(n), ctl_jstr(o, "host")), addr, seen,
	    result != NULL ? ctl_safe(p, sizeof(p), result) : "-", cfg,
	    product != NULL ? ctl_safe(eng, sizeof(eng), product) : "?",
	    last > 0 ? cc_engines(eng, sizeof(eng), info) : "-");
	if (result != NULL && strcmp(result, "ok") != 0 &&
	    strcmp(result, "applied") != 0 &&
	    ctl_jstr(o, "error") != NULL && ctl_jstr(o, "error")[0] != '\0')
		printf("%-16s  %s\n", "", ctl_safe(eng, sizeof(eng),
		    ctl_jstr(o, "error")));
}

static int
cc_hosts(const char *confdir, const struct sekisho_conf *conf, bool json)
{
	struct host_reg	 reg = { NULL, 0 };
	json_error_t	 je;
	json_t		*state, *arr, *o;
	uint64_t	 published;
	char		*p, err[512], *text;
	size_t		 i;
	time_t		 now = time(NULL);

	if (hosts_load(confdir, &reg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return 1;
	}
	p = xasprintf("%s/central/%s", conf->imss.data_dir, HOSTS_STATE);
	if ((state = json_load_file(p, 0, &je)) == NULL && access(p, F_OK) ==
	    0)
		fprintf(stderr, "sekishoctl: %s: %s (ignored)\n", p, je.text);
	free(p);
	published = cc_published(conf);
	arr = json_array();
	for (i = 0; i < reg.n; i++)
		if ((o = hosts_entry_json(&reg.v[i], json_object_get(state,
		    reg.v[i].name))) != NULL)
			json_array_append_new(arr, o);
	if (json) {
		o = json_pack("{s:I, s:o}", "published", (json_int_t)published,
		    "hosts", arr);
		if (o == NULL || (text = json_dumps(o, JSON_INDENT(2))) ==
		    NULL) {
			fprintf(stderr, "sekishoctl: out of memory\n");
			exit(1);
		}
		printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		printf("%-16s  %-22s  %-10s  %-11s  %-9s  %-8s  %s\n", "HOST",
		    "ADDRESS", "CONTACT", "RESULT", "CONFIG", "PRODUCT",
		    "ENGINES");
		for (i = 0; i < json_array_size(arr); i++)
			cc_host_row(json_array_get(arr, i), published, now);
		printf("%zu host%s registered; published configuration "
		    "version %llu\n", reg.n, reg.n == 1 ? "" : "s",
		    (unsigned long long)published);
		json_decref(arr);
	}
	json_decref(state);
	hosts_free(&reg);
	return 0;
}

/* ---- central sync over manager.sock --------------------------------------- */

/* cs_check: why a sync entry cannot be trusted, or NULL. */
static const char *
cs_check(const json_t *o, const struct ctl_req *r)
{
	(void)r;
	if (!json_is_object(o) || !ctl_jhas(o, "host", JSON_STRING, false) ||
	    !ctl_jhas(o, "result", JSON_STRING, false) ||
	    !ctl_jhas(o, "error", JSON_STRING, false) ||
	    !ctl_jhas(o, "info", JSON_OBJECT, false) ||
	    !enrol_name_ok(ctl_jstr(o, "host")))
		return "entry lacks a field or has a wrong type";
	return NULL;
}

static void
cs_header(void)
{
	printf("%-16s  %-11s  %-8s  %s\n", "HOST", "RESULT", "APPLIED",
	    "DETAIL");
}

static void
cs_row(const json_t *o)
{
	const json_t	*info = json_object_get(o, "info");
	const char	*applied = ctl_jstr(info, "applied_version");
	char		 h[80], r[40], a[40], e[600];

	printf("%-16s  %-11s  %-8s  %s\n", ctl_safe(h, sizeof(h),
	    ctl_jstr(o, "host")), ctl_safe(r, sizeof(r), ctl_jstr(o, "result")),
	    applied != NULL ? ctl_safe(a, sizeof(a), applied) : "-",
	    ctl_safe(e, sizeof(e), ctl_jstr(o, "error")));
}

static void
cs_args(struct ipc_msg *m, const struct ctl_req *r)
{
	(void)m;
	(void)r;
}

static int
cs_timeout(const struct sekisho_conf *conf)
{
	(void)conf;
	return CC_SYNC_TIMEOUT_MS;
}

static const struct ctl_view cs_view = {
	.sock = "manager.sock",
	.daemon = "sekisho-manager",
	.idkey = "host",
	.filters = cs_args,
	.args = cs_args,
	.check = cs_check,
	.header = cs_header,
	.row = cs_row,
	.allowed = "the user sekisho-manager runs as",
	.timeout_ms = cs_timeout,
};

static int
cc_sync(const char *confdir, bool json)
{
	static const struct ctl_cmd cmd = { "sync", IMSG_MGR_SYNC, CTL_LIST,
	    NULL };
	struct ctl_req	 r = { .view = &cs_view, .cmd = &cmd, .id = "",
	    .json = json };

	return ctl_req_run(confdir, &r);
}

/*
 * cc_publish: a new bundle of this configuration, signed with the
 * controller's key, as DATA_DIR/central/bundle; then a sync.  The
 * version is the higher of the last one plus 1 and the current time, so
 * it keeps growing across a reinstalled controller.
 */
static int
cc_publish(const char *confdir, const struct sekisho_conf *conf, int argc,
    char **argv, bool json)
{
	EVP_PKEY	*key;
	struct buf	 b;
	long long	 version = 0;
	uint64_t	 v, last;
	char		*kp, *dir, *path, err[512];
	int		 rc;

	if (cc_opts(argc, argv, NULL, NULL, &version) != NULL)
		cc_usage();
	last = cc_published(conf);
	if (version == 0) {
		v = (uint64_t)time(NULL);
		version = (long long)(last + 1 > v ? last + 1 : v);
	} else if ((uint64_t)version <= last) {
		fprintf(stderr, "sekishoctl: --version %lld is not newer than "
		    "the published version %llu\n", version,
		    (unsigned long long)last);
		return 1;
	}
	kp = xasprintf("%s/%s/%s", confdir, ENROL_CENTRAL_DIR,
	    BUNDLE_PRIVKEY_NAME);
	key = bundle_key_load(kp, true, err, sizeof(err));
	free(kp);
	if (key == NULL) {
		fprintf(stderr, "sekishoctl: %s (is this a central controller? "
		    "sekishoctl central init)\n", err);
		return 1;
	}
	rc = bundle_create(confdir, (uint64_t)version, key, &b, err,
	    sizeof(err));
	EVP_PKEY_free(key);
	if (rc == -1) {
		fprintf(stderr, "sekishoctl: %s: cannot create the bundle: %s\n",
		    confdir, err);
		return 1;
	}
	dir = xasprintf("%s/central", conf->imss.data_dir);
	path = xasprintf("%s/bundle", dir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "sekishoctl: %s: %s\n", dir, strerror(errno));
		rc = 1;
	} else
		rc = cc_write(path, &b, 0600);
	buf_free(&b);
	free(path);
	free(dir);
	if (rc != 0)
		return rc;
	if (!json)
		printf("published configuration version %lld\n", version);
	return cc_sync(confdir, json);
}

/* ---- scanner host -------------------------------------------------------- */

static int
cc_request(const char *confdir, const struct sekisho_conf *conf, int argc,
    char **argv)
{
	const char	*opt = NULL, *out = NULL;
	char		 name[ENROL_NAME_MAX + 1], err[512];
	struct buf	 b;
	int		 rc;

	if (cc_opts(argc, argv, &opt, &out, NULL) != NULL)
		cc_usage();
	if (!cc_name(conf, opt, name, sizeof(name)))
		return 1;
	buf_init(&b, ENROL_FILE_MAX);
	if (enrol_agent_request(confdir, name,
	    conf->imss.scanner_ip_addr.family == AF_UNSPEC ? "" :
	    conf->imss.scanner_ip_addr.text, (uint16_t)conf->imss.agent_port,
	    &b, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: agent request: %s\n", err);
		buf_free(&b);
		return 1;
	}
	if ((rc = cc_write(out, &b, 0644)) == 0 && out != NULL)
		printf("%s: enrolment request of %s (%s port %lld); on the "
		    "controller: sekishoctl central host add %s\n", out, name,
		    conf->imss.scanner_ip_addr.text, conf->imss.agent_port,
		    out);
	buf_free(&b);
	return rc;
}

static int
cc_enrol(const char *confdir, int argc, char **argv)
{
	const char	*file;
	char		 err[512], *data;
	size_t		 len;
	int		 rc;

	if ((file = cc_opts(argc, argv, NULL, NULL, NULL)) == NULL)
		cc_usage();
	if ((data = file_read(file, ENROL_FILE_MAX, &len)) == NULL) {
		fprintf(stderr, "sekishoctl: %s: %s\n", file, strerror(errno));
		return 1;
	}
	rc = enrol_install(confdir, (const uint8_t *)data, len, err,
	    sizeof(err));
	free(data);
	if (rc == -1) {
		fprintf(stderr, "sekishoctl: %s: %s\n", file, err);
		return 1;
	}
	printf("%s/%s: enrolled; run \"sekishoctl reload\" (or start "
	    "sekisho-manager) to accept the controller's pushes\n", confdir,
	    ENROL_AGENT_DIR);
	return 0;
}

/* cmd_central: central ... and agent ...; argv[0] is which. */
int
cmd_central(const char *confdir, int argc, char **argv, bool json)
{
	struct sekisho_conf conf;
	int		 rc;

	if (argc < 2)
		cc_usage();
	if (strcmp(argv[0], "central") == 0) {
		if (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "host") !=
		    0 && strcmp(argv[1], "hosts") != 0 && strcmp(argv[1],
		    "publish") != 0 && strcmp(argv[1], "sync") != 0)
			cc_usage();
		if (strcmp(argv[1], "host") == 0 && (argc < 3 ||
		    (strcmp(argv[2], "add") != 0 &&
		    strcmp(argv[2], "remove") != 0)))
			cc_usage();
	} else if (strcmp(argv[0], "agent") != 0 ||
	    (strcmp(argv[1], "request") != 0 && strcmp(argv[1], "enrol") != 0))
		cc_usage();
	if (ctl_load(confdir, &conf, true) == -1)
		return 1;
	if (strcmp(argv[1], "init") == 0)
		rc = cc_init(confdir, &conf, argc - 2, argv + 2);
	else if (strcmp(argv[1], "host") == 0 && strcmp(argv[2], "add") == 0)
		rc = cc_host_add(confdir, argc - 3, argv + 3);
	else if (strcmp(argv[1], "host") == 0)
		rc = cc_host_remove(confdir, argc - 3, argv + 3);
	else if (strcmp(argv[1], "hosts") == 0) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0))
			cc_usage();
		rc = cc_hosts(confdir, &conf, json || argc == 3);
	} else if (strcmp(argv[1], "publish") == 0)
		rc = cc_publish(confdir, &conf, argc - 2, argv + 2, json);
	else if (strcmp(argv[1], "sync") == 0) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json") != 0))
			cc_usage();
		rc = cc_sync(confdir, json || argc == 3);
	} else if (strcmp(argv[1], "request") == 0)
		rc = cc_request(confdir, &conf, argc - 2, argv + 2);
	else
		rc = cc_enrol(confdir, argc - 2, argv + 2);
	conf_free(&conf);
	return rc;
}
