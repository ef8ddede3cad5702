/*
 * scanjob.c: one message through the whole scan (scanjob.h): MIME
 * analysis, the policy's decision per group of recipients, the modified
 * copy of each group that needs one, and the notifications.
 *
 * The output file is shared with the queue; it is written with pwrite()
 * at offsets counted here, so the descriptor's position does not matter.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "actions.h"
#include "auth.h"
#include "avmsg.h"
#include "dnsbl.h"
#include "envelope.h"
#include "log.h"
#include "mime.h"
#include "notify.h"
#include "rspamd.h"
#include "scanjob.h"
#include "spam.h"
#include "util.h"
#include "xmalloc.h"

#define SCANJOB_OUT_SLACK	(16 * 1024 * 1024)	/* copy > original */

/* One scan in progress. */
struct job {
	const struct scanjob_ctx *cx;
	struct envelope		 env;
	const char		*raw;
	size_t			 len;
	struct scan_msg		 msg;
	int			 outfd;
	uint64_t		 outpos;
	char			**tmpl;		/* stamp texts loaded */
	size_t			 ntmpl;
	/* An antivirus outcome that decides for every recipient. */
	int			 av_override;	/* -1, or a SCAN_* intercept */
	char			 av_text[POLICY_TEXT_MAX];	/* why */
	/* The spam verdict (msg.spam): the score's rules, or who decided. */
	struct spam_result	 spam;
	const char		*spam_exempt;	/* the exemption's name */
	char			*spam_hdrs;	/* X-Sekisho-Spam-*, or NULL */
	struct auth_result	 auth;		/* SPF, DKIM, DMARC */
	bool			 authed;	/* auth holds a result */
	struct rspamd_result	 rspamd;	/* [antispam] rspamd */
	int			 rspamd_state;	/* 0 not asked, 1 answered,
						   -1 failed */
	char			 rspamd_err[256];
};

#define SCANJOB_SPAM_PREFIX	"X-Sekisho-Spam-"
#define SCANJOB_SPAM_LIST_MAX	1000	/* bytes of rule names shown */

/* scanjob_limits: the MIME analysis limits of the [scan] settings. */
void
scanjob_limits(const struct conf_policy *c, struct scan_limits *l)
{
	mime_limits_default(l);
	l->max_depth = (int)c->max_depth;
	l->max_parts = (size_t)c->max_parts;
	l->max_expanded = (uint64_t)c->max_expanded_mb * 1024 * 1024;
	l->max_ratio = (uint64_t)c->max_ratio;
	l->max_text = (size_t)c->max_text_kb * 1024;
}

/* scanjob_ctx_init: the shared context from the configuration. */
void
scanjob_ctx_init(struct scanjob_ctx *cx, const struct sekisho_conf *conf,
    const struct policy *policy, struct av_engine *av,
    const struct spam_rules *spam, int tmpl_fd)
{
	const struct conf_policy *c = &conf->policy;
	const char *a = conf->imss.admin_email;

	memset(cx, 0, sizeof(*cx));
	cx->conf = conf;
	cx->policy = policy;
	cx->av = av;
	cx->spam = spam;
	cx->tmpl_fd = tmpl_fd;
	scanjob_limits(c, &cx->limits);
	if (conf->imss.hostname[0] != '\0')
		str_lcpy(cx->hostname, conf->imss.hostname,
		    sizeof(cx->hostname));
	else if (gethostname(cx->hostname, sizeof(cx->hostname)) == -1 ||
	    cx->hostname[0] == '\0')
		str_lcpy(cx->hostname, "localhost", sizeof(cx->hostname));
	cx->hostname[sizeof(cx->hostname) - 1] = '\0';
	if (strchr(a, '@') != NULL)
		str_lcpy(cx->admin, a, sizeof(cx->admin));
	else if (!str_printf(cx->admin, sizeof(cx->admin), "%s@%s", a,
	    conf->tsmtpd.default_domain[0] != '\0' ?
	    conf->tsmtpd.default_domain : cx->hostname))
		str_lcpy(cx->admin, "postmaster", sizeof(cx->admin));
}

/* job_out: append len bytes to the output file; the slice in sl. */
static int
job_out(struct job *j, const void *p, size_t len, struct scan_slice *sl)
{
	const char *c = p;
	size_t	 done = 0;
	ssize_t	 n;

	sl->off = j->outpos;
	while (done < len) {
		n = pwrite(j->outfd, c + done, len - done,
		    (off_t)(j->outpos + done));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	j->outpos += len;
	sl->len = len;
	return 0;
}

/* job_stamp: the text of stamp template name (actions_template_fn). */
static const char *
job_stamp(const char *name, void *arg)
{
	struct job *j = arg;
	char	*t;
	size_t	 len;

	if (j->cx->tmpl_fd == -1 || !notify_name_valid(name) ||
	    (t = file_read_at(j->cx->tmpl_fd, name, NOTIFY_TEMPLATE_MAX,
	    &len)) == NULL)
		return NULL;
	j->tmpl = xreallocarray(j->tmpl, j->ntmpl + 1, sizeof(*j->tmpl));
	j->tmpl[j->ntmpl++] = t;
	return t;
}

/* rcpt_dir: inbound when the recipient's domain is one we accept. */
static enum policy_dir
rcpt_dir(const struct sekisho_conf *conf, const char *rcpt)
{
	const struct conf_strlist *l = &conf->tsmtpd.accepted_domains;
	const char *at = strrchr(rcpt, '@');
	size_t	 i;

	for (i = 0; at != NULL && i < l->n; i++)
		if (addr_domain_match(l->v[i], at + 1))
			return POLICY_INBOUND;
	return POLICY_OUTBOUND;
}

/* hit_action: what rule h did in group g, for the tracking log. */
static char *
hit_action(const struct policy_group *g, size_t h)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b, SCAN_PROTO_MAX_TEXT);
	if (g->intercept_hit == h) {
		buf_addstr(&b, policy_intercept_name(g->intercept));
		if (g->intercept_arg != NULL)
			buf_printf(&b, " %s", g->intercept_arg);
	}
	for (i = 0; i < g->nactions; i++)
		if (g->actions[i].hit == h)
			buf_printf(&b, "%s%s", b.len ? ", " : "",
			    policy_action_name(g->actions[i].kind));
	if (b.len == 0)
		buf_addstr(&b, "matched");
	return buf_take_str(&b);
}

/* hit_conds: the conditions of a matched rule that matched, and where. */
static char *
hit_conds(const struct policy_hit *h)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b, SCAN_PROTO_MAX_TEXT);
	for (i = 0; i < h->nconds; i++)
		if (!buf_printf(&b, "%s%s (%s:%u)", i ? ", " : "",
		    h->conds[i].key, h->conds[i].file, h->conds[i].line))
			break;
	return buf_take_str(&b);
}

/*
 * part_name: what the recipient knows a matched part as: an archive
 * member is named with the attachment that holds it, which is what a
 * strip removes ("tools.zip (bin/tool.exe)").  NULL if it has no name.
 */
static char *
part_name(const struct scan_msg *m, size_t idx)
{
	const struct scan_part *p = &m->parts[idx], *top = p;

	while (top->in_archive && top->parent >= 0 &&
	    (size_t)top->parent < m->nparts)
		top = &m->parts[top->parent];
	if (top == p || top->filename == NULL)
		return p->filename != NULL ? xstrdup(p->filename) : NULL;
	if (p->filename == NULL)
		return xstrdup(top->filename);
	return xasprintf("%s (%s)", top->filename, p->filename);
}

/*
 * job_spam_names: the scored rules that hit, separated by sep, cut at a
 * rule boundary after SCANJOB_SPAM_LIST_MAX bytes ("...").
 */
static void
job_spam_names(const struct job *j, const char *sep, struct buf *b)
{
	size_t	 i, start = b->len;

	for (i = 0; i < j->spam.nhits; i++) {
		if (b->len - start > SCANJOB_SPAM_LIST_MAX) {
			buf_printf(b, "%s...", sep);
			return;
		}
		buf_printf(b, "%s%s", i > 0 ? sep : "", j->spam.hits[i].name);
	}
}

/* job_rspamd_text: "rspamd=4.2: SYMBOL(2),..." after sep. */
static void
job_rspamd_text(const struct job *j, const char *sep, struct buf *b)
{
	size_t	 i;

	buf_printf(b, "%srspamd=%.1f", sep, j->rspamd.score);
	for (i = 0; i < j->rspamd.nsymbols && i < 10; i++)
		buf_printf(b, "%s%s", i == 0 ? ": " : ",", j->rspamd.symbols[i]);
}

/* job_spam_text: the spam verdict, for the tracking log's detail. */
static void
job_spam_text(const struct job *j, struct buf *b)
{
	const char *sep = b->len > 0 ? "; " : "";

	if (j->authed) {
		buf_printf(b, "%sspf=%s dkim=%s dmarc=%s%s%s%s", sep,
		    j->auth.spf, j->auth.dkim, j->auth.dmarc,
		    j->auth.dmarc_policy[0] != '\0' ? " (p=" : "",
		    j->auth.dmarc_policy, j->auth.dmarc_policy[0] != '\0' ?
		    ")" : "");
		sep = "; ";
	}
	switch (j->msg.spam) {
	case SCAN_SPAM_SCORED:
		buf_printf(b, "%sspam=%.1f", sep, j->msg.spam_score);
		if (j->spam.nhits > 0 || j->rspamd_state == 1) {
			buf_addstr(b, " (");
			job_spam_names(j, ",", b);
			if (j->rspamd_state == 1)
				job_rspamd_text(j, j->spam.nhits > 0 ?
				    "; " : "", b);
			buf_addstr(b, ")");
		}
		if (j->rspamd_state == -1)
			buf_printf(b, "; rspamd not asked (%s)", j->rspamd_err);
		break;
	case SCAN_SPAM_UNCHECKED:
		if (j->rspamd_state == -1)
			buf_printf(b, "%sspam: not scored (%s)", sep,
			    j->rspamd_err);
		break;
	case SCAN_SPAM_EXEMPT:
		buf_printf(b, "%sspam: exempt (%s)", sep, j->spam_exempt);
		break;
	case SCAN_SPAM_APPROVED:
		buf_printf(b, "%sspam: approved sender", sep);
		break;
	case SCAN_SPAM_BLOCKED:
		buf_printf(b, "%sspam: blocked sender", sep);
		break;
	default:
		break;
	}
}

/*
 * limits_text: what the antivirus found or could not do, and what the
 * analysis or the patterns could not do.
 */
static char *
limits_text(const struct job *j, const struct policy_group *g)
{
	const struct scan_msg *m = &j->msg;
	static const struct { unsigned bit; const char *name; } names[] = {
		{ SCAN_LIMIT_DEPTH, "depth" }, { SCAN_LIMIT_COUNT, "count" },
		{ SCAN_LIMIT_SIZE, "size" }, { SCAN_LIMIT_RATIO, "ratio" },
		{ SCAN_LIMIT_ENCRYPTED, "encrypted" },
		{ SCAN_LIMIT_MALFORMED, "malformed" },
		{ SCAN_LIMIT_TIME, "time" },
	};
	struct buf	 b;
	size_t		 i;
	bool		 first;

	buf_init(&b, SCAN_PROTO_MAX_TEXT);
	if (m->virus != NULL)
		buf_printf(&b, "virus=%s", m->virus);
	else if (j->av_text[0] != '\0')
		buf_printf(&b, "antivirus: %s", j->av_text);
	job_spam_text(j, &b);
	for (i = 0, first = true; i < nitems(names); i++) {
		if ((m->limits & names[i].bit) == 0)
			continue;
		buf_printf(&b, "%s%s", !first ? "," : b.len ? "; limits=" :
		    "limits=", names[i].name);
		first = false;
	}
	if (g->limits != 0)
		buf_printf(&b, "%spattern limit in rule \"%s\" %s (%s:%u)",
		    b.len ? "; " : "", g->limit.rule, g->limit.key,
		    g->limit.file, g->limit.line);
	return buf_take_str(&b);
}

/* join: the strings v[0..n) separated by ", ". */
static char *
join(const char *const *v, size_t n)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b, NOTIFY_VALUE_MAX);
	for (i = 0; i < n; i++)
		if (v[i] != NULL && !buf_printf(&b, "%s%s", b.len ? ", " : "",
		    v[i]))
			break;
	return buf_take_str(&b);
}

/*
 * job_notify: build the notification of action a of group g and add it
 * to r.  A notification that cannot be built is logged and left out:
 * the message itself is still carried out.
 */
static void
job_notify(struct job *j, const struct policy_group *g,
    const struct policy_action *a, struct scan_reply *r)
{
	char			 esc[3][LOG_ESC_MAX];
	const struct policy_hit	*h = &g->hits[a->hit];
	struct notify_template	*t = NULL;
	struct notify_tokens	 tok;
	struct scan_notif	*n;
	struct scan_slice	 sl;
	struct buf		 b;
	const char		**to;
	char			**names, *rcpts, *atts, err[256];
	size_t			 i, nto = 0;

	to = xcalloc(g->nrcpts + 1, sizeof(*to));
	names = xcalloc(h->nparts + 1, sizeof(*names));
	for (i = 0; i < g->nrcpts; i++)
		to[i] = j->env.rcpt[g->rcpts[i]].addr;
	rcpts = join(to, g->nrcpts);
	for (i = 0; i < h->nparts; i++)
		names[i] = part_name(&j->msg, h->parts[i]);
	atts = join((const char *const *)names, h->nparts);
	for (i = 0; i < h->nparts; i++)
		free(names[i]);
	switch (a->kind) {
	case POLICY_A_NOTIFY_SENDER:
		/* Never to the null sender (seed 11). */
		if (j->env.sender[0] != '\0')
			to[nto++] = j->env.sender;
		break;
	case POLICY_A_NOTIFY_RCPTS:
		nto = g->nrcpts;
		break;
	default:
		to[nto++] = j->cx->admin;
		break;
	}
	buf_init(&b, NOTIFY_TEMPLATE_MAX * 4 + NOTIFY_VALUE_MAX * 8);
	if (nto == 0) {
		log_kv(LOG_LVL_INFO, "event=notification-skipped qid=%s rule=%s "
		    "reason=\"null sender\"", j->env.id,
		    log_esc(esc[0], LOG_ESC_MAX, h->rule));
		goto done;
	}
	memset(&tok, 0, sizeof(tok));
	tok.sender = j->env.sender;
	tok.recipients = rcpts;
	tok.subject = j->msg.subject;
	tok.rule_name = h->rule;
	tok.attachment = atts;
	tok.client_ip = j->env.client_ip;
	tok.qid = j->env.id;
	tok.action = g->final_text;
	tok.virus_name = j->msg.virus;
	tok.area = g->intercept == POLICY_QUARANTINE ? g->intercept_arg : NULL;
	tok.date = j->env.received;
	if (j->cx->tmpl_fd == -1) {
		str_lcpy(err, "no templates directory", sizeof(err));
		goto fail;
	}
	if ((t = notify_template_load(j->cx->tmpl_fd, a->arg, err,
	    sizeof(err))) == NULL ||
	    notify_build(t, &tok, j->cx->admin, to, nto, j->cx->hostname, &b,
	    err, sizeof(err)) == -1)
		goto fail;
	if (job_out(j, b.data, b.len, &sl) == -1) {
		str_printf(err, sizeof(err), "output: %s", strerror(errno));
		goto fail;
	}
	r->notifs = xreallocarray(r->notifs, r->nnotifs + 1,
	    sizeof(*r->notifs));
	n = &r->notifs[r->nnotifs++];
	memset(n, 0, sizeof(*n));
	n->kind = a->kind == POLICY_A_NOTIFY_SENDER ? SCAN_NOTIFY_SENDER :
	    a->kind == POLICY_A_NOTIFY_RCPTS ? SCAN_NOTIFY_RCPTS :
	    SCAN_NOTIFY_ADMIN;
	n->rule = xstrdup(h->rule);
	n->to = xcalloc(nto, sizeof(*n->to));
	for (i = 0; i < nto; i++)
		n->to[i] = xstrdup(to[i]);
	n->nto = nto;
	n->body = sl;
	goto done;
fail:
	log_kv(LOG_LVL_WARN, "event=notification-failed qid=%s rule=%s "
	    "template=%s err=%s", j->env.id, log_esc(esc[0], LOG_ESC_MAX, h->rule),
	    log_esc(esc[1], LOG_ESC_MAX, a->arg), log_esc(esc[2], LOG_ESC_MAX, err));
done:
	if (t != NULL)
		notify_template_free(t);
	buf_free(&b);
	free(rcpts);
	free(atts);
	free(names);
	free(to);
}

/*
 * job_hdr_drop: actions_drop_fn: a header field of the message that our
 * verdict headers replace: X-Sekisho-Spam-*, and Authentication-Results
 * in the name of this host (RFC 8601, section 5).
 */
static bool
job_hdr_drop(const char *line, size_t len, void *arg)
{
	static const char ar[] = "Authentication-Results:";
	const struct job *j = arg;
	const char	*id = j->cx->hostname, *p;
	size_t		 n = strlen(SCANJOB_SPAM_PREFIX), idlen = strlen(id);

	if (len > n && strncasecmp(line, SCANJOB_SPAM_PREFIX, n) == 0)
		return true;
	n = sizeof(ar) - 1;
	if (!j->authed || len <= n || strncasecmp(line, ar, n) != 0)
		return false;
	for (p = line + n; p < line + len && (*p == ' ' || *p == '\t'); p++)
		;
	return (size_t)(line + len - p) >= idlen &&
	    strncasecmp(p, id, idlen) == 0 && (p + idlen == line + len ||
	    strchr("; \t\r\n(", p[idlen]) != NULL);
}

/*
 * job_copy: the group's copy into the output file: the modifications of
 * pg, and the spam headers in place of any the message came with.
 */
static int
job_copy(struct job *j, const struct policy_group *pg, struct scan_slice *sl,
    char *err, size_t errlen)
{
	struct buf	 b, h;
	const void	*out = j->raw;
	size_t		 outlen = j->len;
	int		 rv = 0;

	buf_init(&b, j->len * 2 + SCANJOB_OUT_SLACK);
	buf_init(&h, j->len * 2 + SCANJOB_OUT_SLACK);
	if (actions_modifies(pg)) {
		rv = actions_apply(j->raw, j->len, &j->msg, pg, job_stamp, j,
		    &b, err, errlen);
		out = b.data;
		outlen = b.len;
	}
	if (rv == 0 && j->spam_hdrs != NULL) {
		if (!actions_headers(out, outlen, job_hdr_drop, j,
		    j->spam_hdrs, &h)) {
			str_lcpy(err, "copy with spam headers too large",
			    errlen);
			rv = -1;
		}
		out = h.data;
		outlen = h.len;
	}
	if (rv == 0 && job_out(j, out, outlen, sl) == -1) {
		str_printf(err, errlen, "output: %s", strerror(errno));
		rv = -1;
	}
	buf_free(&b);
	buf_free(&h);
	return rv;
}

/*
 * job_auth: SPF, DKIM and DMARC ([antispam] sender_auth), for the rules'
 * spf, dkim, dmarc and dmarc_policy conditions and the spam rules'
 * signals.  Not for authenticated submissions, nor without DNS.
 */
static void
job_auth(struct job *j)
{
	struct auth_input in;
	struct scan_msg	*m = &j->msg;

	if (!j->cx->conf->policy.spam_sender_auth || j->cx->dns == NULL ||
	    j->env.auth != NULL)
		return;
	memset(&in, 0, sizeof(in));
	in.client_ip = j->env.client_ip;
	in.helo = j->env.helo;
	in.mail_from = j->env.sender != NULL ? j->env.sender : "";
	in.raw = j->raw;
	in.len = j->len;
	in.authserv_id = j->cx->hostname;
	in.dns = j->cx->dns;
	auth_check(&in, &j->auth);
	j->authed = true;
	str_lcpy(m->spf, j->auth.spf, sizeof(m->spf));
	str_lcpy(m->dkim, j->auth.dkim, sizeof(m->dkim));
	str_lcpy(m->dmarc, j->auth.dmarc, sizeof(m->dmarc));
	str_lcpy(m->dmarc_policy, j->auth.dmarc_policy,
	    sizeof(m->dmarc_policy));
}

/*
 * job_dns_lists: the DNS blocklists the package's dnsbl() and uribl()
 * rules name, asked (all at once) about the client address and the hosts
 * of the message's links; the zones that listed them in sig.  Not for
 * authenticated submissions (their address says nothing about spam).
 */
static void
job_dns_lists(struct job *j, struct spam_signals *sig, const char **dnsbl,
    const char **uribl)
{
	const struct spam_rules *r = j->cx->spam;
	const char	*zones[DNSBL_MAX_ZONES];
	char		**uris, **hosts, host[256];
	size_t		 nz, nu, nh = 0, i, n;

	if (!j->cx->conf->policy.spam_dns_lists || j->cx->dns == NULL)
		return;
	nz = spam_rules_zones(r, false, zones, DNSBL_MAX_ZONES);
	if (nz > 0 && j->env.auth == NULL && j->env.client_ip != NULL) {
		n = dnsbl_check(j->cx->dns, j->env.client_ip, zones, nz, dnsbl);
		dnsbl[n] = NULL;
		sig->dnsbl = dnsbl;
	}
	if ((nz = spam_rules_zones(r, true, zones, DNSBL_MAX_ZONES)) == 0)
		return;
	nu = spam_uris(&j->msg, &uris);
	hosts = xcalloc(nu + 1, sizeof(*hosts));
	for (i = 0; i < nu; i++) {
		if (!spam_uri_host(uris[i], host, sizeof(host)))
			continue;
		for (n = 0; n < nh && strcmp(hosts[n], host) != 0; n++)
			;
		if (n == nh)
			hosts[nh++] = xstrdup(host);
	}
	n = dnsbl_check_hosts(j->cx->dns, hosts, nh, zones, nz, uribl);
	uribl[n] = NULL;
	sig->uribl = uribl;
	spam_uris_free(hosts, nh);
	spam_uris_free(uris, nu);
}

/*
 * job_rspamd: ask rspamd ([antispam] rspamd); its verdict in j->rspamd
 * (rspamd_state 1), or the reason it failed (-1, logged).
 */
static void
job_rspamd(struct job *j)
{
	const struct conf_policy *c = &j->cx->conf->policy;
	struct rspamd_input in;
	const char	**rcpts;
	char		 esc[LOG_ESC_MAX];
	size_t		 i;

	rcpts = xcalloc(j->env.nrcpt + 1, sizeof(*rcpts));
	for (i = 0; i < j->env.nrcpt; i++)
		rcpts[i] = j->env.rcpt[i].addr;
	memset(&in, 0, sizeof(in));
	in.client_ip = j->env.client_ip;
	in.helo = j->env.helo;
	in.mail_from = j->env.sender != NULL ? j->env.sender : "";
	in.rcpts = rcpts;
	in.nrcpts = j->env.nrcpt;
	in.qid = j->env.id;
	in.hostname = j->cx->hostname;
	in.raw = j->raw;
	in.len = j->len;
	if (rspamd_check(j->cx->rspamd, (unsigned)c->spam_rspamd_timeout *
	    1000, &in, &j->rspamd, j->rspamd_err,
	    sizeof(j->rspamd_err)) == 0)
		j->rspamd_state = 1;
	else {
		j->rspamd_state = -1;
		log_kv(LOG_LVL_WARN, "event=rspamd-failed qid=%s err=%s",
		    j->env.id, log_esc(esc, sizeof(esc), j->rspamd_err));
	}
	free(rcpts);
}

/*
 * job_spam: the spam verdict, before the rules: the sender lists, then
 * the exemptions, then the active package's score (msg.spam*).  With
 * [antispam] add_headers, the X-Sekisho-Spam-* lines for delivered
 * copies.
 */
static void
job_spam(struct job *j)
{
	const struct conf_policy *c = &j->cx->conf->policy;
	struct scan_msg	*m = &j->msg;
	const char	*sender = j->env.sender != NULL ? j->env.sender : "";
	const char	*dnsbl[DNSBL_MAX_ZONES + 1], *uribl[DNSBL_MAX_ZONES + 1];
	struct spam_signals sig;
	struct buf	 b;

	if (j->cx->spam == NULL)
		return;
	memset(&sig, 0, sizeof(sig));
	if (j->authed) {
		sig.spf = j->auth.spf;
		sig.dkim = j->auth.dkim;
		sig.dmarc = j->auth.dmarc;
		sig.dmarc_policy = j->auth.dmarc_policy[0] != '\0' ?
		    j->auth.dmarc_policy : NULL;
	}
	switch (policy_spam_sender(j->cx->policy, sender)) {
	case POLICY_SPAM_APPROVED:
		m->spam = SCAN_SPAM_APPROVED;
		break;
	case POLICY_SPAM_BLOCKED:
		m->spam = SCAN_SPAM_BLOCKED;
		m->spam_levels = SCAN_SPAM_LOW | SCAN_SPAM_MEDIUM |
		    SCAN_SPAM_HIGH;
		break;
	default:
		if ((j->spam_exempt = policy_spam_exempt(j->cx->policy, m,
		    sender)) != NULL) {
			m->spam = SCAN_SPAM_EXEMPT;
			break;
		}
		if (c->spam_rspamd != CONF_RSPAMD_ONLY) {
			job_dns_lists(j, &sig, dnsbl, uribl);
			spam_eval(j->cx->spam, m, &sig, &j->spam);
		}
		if (j->cx->rspamd != NULL)
			job_rspamd(j);
		if (c->spam_rspamd == CONF_RSPAMD_ONLY && j->rspamd_state != 1)
			return;		/* not scored: no verdict, no headers */
		m->spam = SCAN_SPAM_SCORED;
		m->spam_score = j->spam.score + (j->rspamd_state == 1 ?
		    j->rspamd.score : 0);
		if (m->spam_score >= c->spam_level_high)
			m->spam_levels |= SCAN_SPAM_HIGH;
		if (m->spam_score >= c->spam_level_medium)
			m->spam_levels |= SCAN_SPAM_MEDIUM;
		if (m->spam_score >= c->spam_level_low)
			m->spam_levels |= SCAN_SPAM_LOW;
		break;
	}
	if (!c->spam_add_headers)
		return;
	buf_init(&b, SCAN_PROTO_MAX_TEXT);
	if (j->authed && j->auth.header != NULL)
		buf_addstr(&b, j->auth.header);
	buf_addstr(&b, SCANJOB_SPAM_PREFIX "Score: ");
	switch (m->spam) {
	case SCAN_SPAM_SCORED:
		buf_printf(&b, "%.1f%s%s%s\r\n", m->spam_score,
		    m->spam_levels ? " (spam at " : "",
		    m->spam_levels & SCAN_SPAM_LOW ? "low, medium and high "
		    "catch rates" : m->spam_levels & SCAN_SPAM_MEDIUM ?
		    "medium and high catch rates" : m->spam_levels ?
		    "high catch rate" : "", m->spam_levels ? ")" : "");
		/* Rule names are ASCII: folded at commas. */
		buf_addstr(&b, SCANJOB_SPAM_PREFIX "Rules: ");
		job_spam_names(j, ",\r\n\t", &b);
		if (j->rspamd_state == 1)
			job_rspamd_text(j, j->spam.nhits > 0 ? ",\r\n\t" : "",
			    &b);
		buf_addstr(&b, j->spam.nhits == 0 && j->rspamd_state != 1 ?
		    "none\r\n" : "\r\n");
		break;
	case SCAN_SPAM_EXEMPT:
		buf_addstr(&b, "exempt\r\n");
		break;
	case SCAN_SPAM_APPROVED:
		buf_addstr(&b, "approved sender\r\n");
		break;
	default:
		buf_addstr(&b, "blocked sender\r\n");
		break;
	}
	j->spam_hdrs = buf_take_str(&b);
}

/* job_group: the answer for one group; -1 with err when it failed. */
static int
job_group(struct job *j, const struct policy_group *pg, struct scan_group *g,
    struct scan_reply *r, char *err, size_t errlen)
{
	size_t		 i;

	g->rcpts = xcalloc(pg->nrcpts, sizeof(*g->rcpts));
	for (i = 0; i < pg->nrcpts; i++)
		g->rcpts[i] = (uint32_t)pg->rcpts[i];
	g->nrcpts = pg->nrcpts;
	g->intercept = (uint8_t)pg->intercept;
	g->intercept_arg = xstrdup(pg->intercept_arg ? pg->intercept_arg : "");
	g->intercept_rule = xstrdup(pg->intercept_hit < pg->nhits ?
	    pg->hits[pg->intercept_hit].rule : "");
	g->final_text = xstrdup(pg->final_text);
	g->limits = limits_text(j, pg);
	g->hits = xcalloc(pg->nhits + 1, sizeof(*g->hits));
	for (i = 0; i < pg->nhits; i++) {
		g->hits[i].rule = xstrdup(pg->hits[i].rule);
		g->hits[i].action = hit_action(pg, i);
		g->hits[i].conds = hit_conds(&pg->hits[i]);
		g->nhits++;
	}
	g->bcc = xcalloc(pg->nactions + 1, sizeof(*g->bcc));
	for (i = 0; i < pg->nactions; i++) {
		if (pg->actions[i].kind == POLICY_A_BCC &&
		    j->av_override == -1)
			g->bcc[g->nbcc++] = xstrdup(pg->actions[i].arg);
		if (pg->actions[i].kind == POLICY_A_ARCHIVE)
			g->archive = true;
	}
	if (j->av_override != -1) {
		/* The antivirus could not clear it: no rule delivers it. */
		g->intercept = (uint8_t)j->av_override;
		free(g->intercept_arg);
		free(g->intercept_rule);
		free(g->final_text);
		g->intercept_rule = xstrdup("");
		if (g->intercept == SCAN_QUARANTINE) {
			g->intercept_arg = xstrdup(
			    j->cx->conf->policy.av_outcome_area);
			g->final_text = xasprintf("Quarantined (%s)",
			    g->intercept_arg);
		} else {
			g->intercept_arg = xstrdup("");
			g->final_text = xstrdup("Deleted");
		}
	}
	/* A copy is made only when it will be delivered or archived. */
	if ((g->archive || g->nbcc > 0 || g->intercept == SCAN_DELIVER ||
	    g->intercept == SCAN_CHANGE_RCPT) && (actions_modifies(pg) ||
	    j->spam_hdrs != NULL)) {
		if (job_copy(j, pg, &g->content, err, errlen) == -1)
			return -1;
		g->modified = true;
	}
	for (i = 0; i < pg->nactions; i++)
		if (pg->actions[i].kind == POLICY_A_NOTIFY_SENDER ||
		    pg->actions[i].kind == POLICY_A_NOTIFY_RCPTS ||
		    pg->actions[i].kind == POLICY_A_NOTIFY_ADMIN)
			job_notify(j, pg, &pg->actions[i], r);
	return 0;
}

/*
 * job_av: the outcome of the antivirus verdict r (avmsg.c: the raw
 * message and each decoded part).  A finding is msg.virus, for the
 * rules' virus condition; a check that could not clear the message takes
 * the configured outcome.  -1 with err: the outcome is "tempfail" (the
 * scan fails and is retried).
 */
static int
job_av(struct job *j, const struct av_result *r, char *err, size_t errlen)
{
	const struct conf_policy *c = &j->cx->conf->policy;
	int		 outcome;

	j->av_override = -1;
	switch (r->verdict) {
	case AV_CLEAN:
	case AV_INFECTED:
		return 0;
	case AV_ENCRYPTED:
		outcome = c->av_on_encrypted;
		break;
	case AV_TOO_LARGE:
		outcome = c->av_on_too_large;
		break;
	default:
		outcome = c->av_on_error;
		break;
	}
	str_printf(j->av_text, sizeof(j->av_text), "%s%s%s",
	    av_verdict_name(r->verdict), r->name[0] ? " " : "", r->name);
	switch (outcome) {
	case CONF_AV_DELIVER:
		return 0;
	case CONF_AV_QUARANTINE:
		j->av_override = SCAN_QUARANTINE;
		return 0;
	case CONF_AV_DELETE:
		j->av_override = SCAN_DELETE;
		return 0;
	}
	str_printf(err, errlen, "antivirus: %s", j->av_text);
	return -1;
}

/*
 * job_verdict: what the message is, for the IP profiler's counters (the
 * queue reports it per client address): spam when scored at [antispam]
 * level_medium or above (a blocked sender is the administrator's word
 * about a sender address, not a score), virus when the antivirus found
 * one.
 */
static uint8_t
job_verdict(const struct job *j)
{
	uint8_t	 v = 0;

	if (j->msg.spam == SCAN_SPAM_SCORED &&
	    (j->msg.spam_levels & SCAN_SPAM_MEDIUM) != 0)
		v |= SCAN_VERDICT_SPAM;
	if (j->msg.virus != NULL)
		v |= SCAN_VERDICT_VIRUS;
	return v;
}

/* job_eval: analyse, evaluate and answer; -1 with err on failure. */
static int
job_eval(struct job *j, struct scan_reply *r, char *err, size_t errlen)
{
	struct policy_result	 res;
	struct policy_env	 penv;
	struct avmsg_result	 avr;
	const char		**rcpts;
	enum policy_dir		*dirs;
	size_t			 i;
	int			 rv = -1;

	if (avmsg_analyse(j->cx->av, j->raw, j->len, &j->cx->limits, &j->msg,
	    &avr, err, errlen) == -1 || job_av(j, &avr.av, err, errlen) == -1)
		return -1;
	job_auth(j);
	job_spam(j);
	rcpts = xcalloc(j->env.nrcpt + 1, sizeof(*rcpts));
	dirs = xcalloc(j->env.nrcpt + 1, sizeof(*dirs));
	for (i = 0; i < j->env.nrcpt; i++) {
		rcpts[i] = j->env.rcpt[i].addr;
		dirs[i] = rcpt_dir(j->cx->conf, rcpts[i]);
	}
	memset(&penv, 0, sizeof(penv));
	penv.sender = j->env.sender;
	penv.rcpts = rcpts;
	penv.dirs = dirs;
	penv.nrcpts = j->env.nrcpt;
	penv.skip_rule = j->env.skiprule;
	if (policy_eval(j->cx->policy, &j->msg, &penv, &res) == -1) {
		str_lcpy(err, "policy evaluation refused the envelope", errlen);
		goto done;
	}
	r->subject = xstrdup(j->msg.subject ? j->msg.subject : "");
	r->groups = xcalloc(res.ngroups + 1, sizeof(*r->groups));
	for (i = 0; i < res.ngroups; i++) {
		r->ngroups++;
		if (job_group(j, &res.groups[i], &r->groups[i], r, err,
		    errlen) == -1) {
			policy_result_free(&res);
			goto done;
		}
	}
	policy_result_free(&res);
	rv = 0;
done:
	free(rcpts);
	free(dirs);
	return rv;
}

/*
 * scanjob_run: scan the message whose envelope text is envtext and whose
 * content is infd; modified copies and notifications go to outfd.  r is
 * the answer: SCAN_STATUS_OK with every recipient in one group, or
 * SCAN_STATUS_FAILED with the reason (never a silent pass).
 */
void
scanjob_run(const struct scanjob_ctx *cx, const void *envtext,
    size_t envlen, int infd, int outfd, struct scan_reply *r)
{
	struct job	 j;
	struct stat	 st;
	struct timespec	 t0, t1;
	void		*map = NULL;
	char		 err[256];
	size_t		 i;

	memset(r, 0, sizeof(*r));
	memset(&j, 0, sizeof(j));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	j.cx = cx;
	j.outfd = outfd;
	if (envelope_parse(&j.env, envtext, envlen, err, sizeof(err)) == -1) {
		char why[300];

		str_printf(why, sizeof(why), "bad envelope: %s", err);
		scan_reply_fail(r, why);
		return;
	}
	if (fstat(infd, &st) == -1) {
		str_printf(err, sizeof(err), "fstat: %s", strerror(errno));
		goto fail;
	}
	if ((uint64_t)st.st_size > SCANJOB_MAX_MESSAGE) {
		str_lcpy(err, "message too large to scan", sizeof(err));
		goto fail;
	}
	j.len = (size_t)st.st_size;
	j.raw = "";
	if (j.len > 0) {
		map = mmap(NULL, j.len, PROT_READ, MAP_PRIVATE, infd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			str_printf(err, sizeof(err), "mmap: %s",
			    strerror(errno));
			goto fail;
		}
		j.raw = map;
	}
	if (job_eval(&j, r, err, sizeof(err)) == -1)
		goto fail;
	r->status = SCAN_STATUS_OK;
	r->reason = xstrdup("");
	r->verdict = job_verdict(&j);
	goto done;
fail:
	scan_reply_fail(r, err);
done:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->usec = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000);
	if (map != NULL)
		munmap(map, j.len);
	for (i = 0; i < j.ntmpl; i++)
		free(j.tmpl[i]);
	free(j.tmpl);
	scan_msg_free(&j.msg);
	spam_result_free(&j.spam);
	rspamd_result_free(&j.rspamd);
	free(j.spam_hdrs);
	if (j.authed)
		auth_result_free(&j.auth);
	envelope_clear(&j.env);
}
