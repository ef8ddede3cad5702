/*
 * test_policy.c: the policy engine (scanner/policy.c): policy.ini and
 * keyword list validation with file:line errors, every condition and its
 * boundary, any/all, scope per recipient and grouping, the decision
 * rules, the shipped etc/ policy and lists, and the pattern limits.
 * Messages are built here as struct scan_msg values (no MIME parsing).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "diag.h"
#include "ini.h"
#include "policy.h"
#include "scan.h"
#include "util.h"
#include "xmalloc.h"
#include "test.h"

#ifndef SEKISHO_SOURCE_DIR
#error "t/CMakeLists.txt defines SEKISHO_SOURCE_DIR for test_policy"
#endif

#define S(x)	((char *)(x))

/* A keyword list every test may use. */
static const char kw_words[] =
    "# test list\n"
    "#!caseless\n"
    "\\bfree money\\b\n"
    "#!case-sensitive\n"
    "Viagra\n";
static const char kw_ja[] =
    "# Japanese keywords (seed 12)\n"
    "社外秘\n"
    "極秘\n";
static const char kw_bad[] =
    "ok\n"
    "(unclosed\n";
static const char kw_evil[] =
    "^(a+)+$\n";

static const struct policy_kwfile kwfiles[] = {
	{ "words", kw_words, sizeof(kw_words) - 1 },
	{ "ja", kw_ja, sizeof(kw_ja) - 1 },
	{ "bad", kw_bad, sizeof(kw_bad) - 1 },
	{ "evil", kw_evil, sizeof(kw_evil) - 1 },
	{ "empty", "# nothing\n", 10 },
};
static const struct policy_src src = { NULL, kwfiles, nitems(kwfiles) };

/* load: a policy from text; diagnostics in d (initialised here). */
static struct policy *
load(const char *text, struct diag *d)
{
	diag_init(d);
	return policy_load_buf("policy.ini", text, strlen(text), &src, d);
}

/*
 * The standard message.  Parts:
 *   0 body text, 1 report.pdf (text "confidential numbers"),
 *   2 setup.exe (x-dosexec, 100000), 3 bundle.zip, 4 inner/tool.EXE in
 *   the zip (x-dosexec, 5000), 5 photo.jpg (300000).
 */
static struct scan_header std_headers[] = {
	{ S("From"), S("alice@example.org") },
	{ S("To"), S("bob@example.com, carol@example.com") },
	{ S("Cc"), S("dave@example.com") },
	{ S("Subject"), S("Quarterly report") },
	{ S("X-Mailer"), S("BulkMailer 2.0") },
};
static struct scan_part std_parts[] = {
	{ -1, 0, false, true, false, false, NULL, S("text/plain"), S("utf-8"),
	  S("text/plain"), 30, S("Hello, please find attached.\r\n"), 30, 0, NULL, 0 },
	{ -1, 0, true, false, false, false, S("report.pdf"),
	  S("application/pdf"), NULL, S("application/pdf"), 2048,
	  S("confidential numbers"), 20, 0, NULL, 0 },
	{ -1, 0, true, false, false, false, S("setup.exe"),
	  S("application/octet-stream"), NULL, S("application/x-dosexec"),
	  100000, NULL, 0, 0, NULL, 0 },
	{ -1, 0, true, false, false, false, S("bundle.zip"),
	  S("application/zip"), NULL, S("application/zip"), 4000, NULL, 0, 0, NULL, 0 },
	{ 3, 1, true, false, false, true, S("inner/tool.EXE"), NULL, NULL,
	  S("application/x-dosexec"), 5000, NULL, 0, 0, NULL, 0 },
	{ -1, 0, true, false, false, false, S("photo.jpg"), S("image/jpeg"),
	  NULL, S("image/jpeg"), 300000, NULL, 0, 0, NULL, 0 },
};

static void
std_msg(struct scan_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->headers = std_headers;
	m->nheaders = nitems(std_headers);
	m->subject = S("Quarterly report");
	m->parts = std_parts;
	m->nparts = nitems(std_parts);
	m->size = 500000;
	m->nhdr_rcpts = 3;
}

/* A message with only a subject and a body text. */
static void
text_msg(struct scan_msg *m, struct scan_part *body, const char *subject,
    const char *text)
{
	memset(m, 0, sizeof(*m));
	memset(body, 0, sizeof(*body));
	body->parent = -1;
	body->body_text = true;
	body->content_type = S("text/plain");
	body->text = S(text);
	body->textlen = strlen(text);
	m->subject = S(subject);
	m->parts = body;
	m->nparts = 1;
	m->size = 1000;
	m->nhdr_rcpts = 1;
}

static const char *const two_rcpts[] = { "bob@example.com",
    "carol@example.com" };
static const enum policy_dir two_in[] = { POLICY_INBOUND, POLICY_INBOUND };

/* eval1: evaluate for two inbound recipients; one group expected. */
static const struct policy_group *
eval1(const struct policy *p, const struct scan_msg *m,
    struct policy_result *res)
{
	struct policy_env env = { "alice@example.org", two_rcpts, two_in, 2,
	    NULL };

	if (policy_eval(p, m, &env, res) != 0 || res->ngroups != 1)
		return NULL;
	return &res->groups[0];
}

/* parts_text: "1,4" for a list of part indices. */
static const char *
parts_text(char *buf, size_t sz, const size_t *v, size_t n)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		char	 one[32];

		(void)str_printf(one, sizeof(one), "%s%zu", i ? "," : "", v[i]);
		str_lcat(buf, one, sz);
	}
	return buf;
}

/* Every condition and its boundary on the standard message. */
static const struct {
	const char	*keys;		/* the rule's body */
	bool		 match;
	const char	*parts;		/* matched parts when it matches */
} cond_cases[] = {
	/* attachment name: case-insensitive globs, archive members too */
	{ "attachment_name = *.exe", true, "2,4" },
	{ "attachment_name = *.EXE", true, "2,4" },
	{ "attachment_name = setup.???", true, "2" },
	{ "attachment_name = *.doc, *.xls", false, "" },
	{ "attachment_name = *.exe\nattachment_in_archive = exclude", true,
	  "2" },
	{ "attachment_name = *.exe\nattachment_in_archive = only", true, "4" },
	{ "attachment_name = *.pdf\nattachment_in_archive = only", false, "" },
	/* true type (libmagic) */
	{ "attachment_true_type = application/x-dosexec", true, "2,4" },
	{ "attachment_true_type = application/x-ms*", false, "" },
	{ "attachment_true_type = image/*", true, "5" },
	/* attachment size boundaries */
	{ "attachment_size = > 99999", true, "2,5" },
	{ "attachment_size = > 100000", true, "5" },
	{ "attachment_size = >= 100000", true, "2,5" },
	{ "attachment_size = > 97K", true, "2,5" },
	{ "attachment_size = > 1M", false, "" },
	{ "attachment_size = < 4000", true, "1" },
	{ "attachment_size = <= 4000", true, "1,3" },
	{ "attachment_size = < 2048", false, "" },
	/* attachment count: top-level attachments (1, 2, 3, 5) */
	{ "attachment_count = > 3", true, "" },
	{ "attachment_count = > 4", false, "" },
	{ "attachment_count = = 4", true, "" },
	/* text of attachments, per part */
	{ "attachment_text = pattern: confidential", true, "1" },
	{ "attachment_text = pattern: nowhere", false, "" },
	/* subject, body, headers, content */
	{ "subject = pattern: (?i)quarterly", true, "" },
	{ "subject = pattern: quarterly", false, "" },
	{ "body = pattern: please find", true, "" },
	{ "body = pattern: confidential", false, "" },
	{ "content = pattern: confidential", true, "" },
	{ "content = pattern: Quarterly", true, "" },
	{ "headers = pattern: ^X-Mailer: Bulk", true, "" },
	{ "headers = pattern: ^Subject: Annual", false, "" },
	/* one header: present, matching */
	{ "header = X-Mailer", true, "" },
	{ "header = x-mailer", true, "" },
	{ "header = X-Missing", false, "" },
	{ "header = X-Mailer pattern: ^Bulk", true, "" },
	{ "header = X-Mailer pattern: ^Mass", false, "" },
	{ "header = X-Mailer keywords: empty", false, "" },
	/* message size boundary */
	{ "message_size = > 499999", true, "" },
	{ "message_size = > 500000", false, "" },
	{ "message_size = >= 500000", true, "" },
	/* recipients: To/Cc has 3, the envelope 2 */
	{ "recipient_count = header > 2", true, "" },
	{ "recipient_count = header > 3", false, "" },
	{ "recipient_count = envelope > 2", false, "" },
	{ "recipient_count = envelope >= 2", true, "" },
	{ "empty_subject = yes", false, "" },
	{ "scan_limits = any", false, "" },
	/* no condition: every message in scope */
	{ "tag_subject = [x]", true, "" },
	/* any / all */
	{ "match = all\nattachment_name = *.exe\nattachment_size = > 50000",
	  true, "2" },
	{ "match = all\nattachment_name = *.exe\nattachment_size = > 500000",
	  false, "" },
	{ "match = all\nattachment_name = *.pdf\nattachment_true_type = "
	  "application/x-dosexec", false, "" },
	{ "match = any\nattachment_name = *.pdf\nattachment_size = > 200000",
	  true, "1,5" },
	{ "match = all\nsubject = pattern: (?i)quarterly\nattachment_name = "
	  "*.pdf", true, "1" },
	{ "match = all\nsubject = pattern: nope\nattachment_name = *.pdf",
	  false, "" },
	{ "match = any\nsubject = pattern: nope\nmessage_size = > 1", true,
	  "" },
	{ "match = any\nsubject = pattern: nope\nbody = pattern: nope", false,
	  "" },
	{ "match = all\nbody = pattern: Hello\nbody.2 = pattern: attached",
	  true, "" },
	{ "match = all\nbody = pattern: Hello\nbody.2 = pattern: absent",
	  false, "" },
};

static void
t_conditions(void)
{
	struct policy_result res;
	const struct policy_group *g;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	char		 text[1024], got[256];
	size_t		 i;

	std_msg(&m);
	for (i = 0; i < nitems(cond_cases); i++) {
		(void)str_printf(text, sizeof(text), "[rule \"c\"]\n%s\n",
		    cond_cases[i].keys);
		p = load(text, &d);
		CHECKF(p != NULL, "case %zu: %s", i, d.nitems ?
		    d.items[0].text : "");
		if (p == NULL) {
			diag_free(&d);
			continue;
		}
		g = eval1(p, &m, &res);
		CHECKF(g != NULL, "case %zu", i);
		if (g != NULL) {
			CHECKF((g->nhits == 1) == cond_cases[i].match,
			    "case %zu: %s: nhits %zu", i, cond_cases[i].keys,
			    g->nhits);
			if (g->nhits == 1)
				CHECKF(strcmp(parts_text(got, sizeof(got),
				    g->hits[0].parts, g->hits[0].nparts),
				    cond_cases[i].parts) == 0,
				    "case %zu: %s: parts \"%s\" want \"%s\"", i,
				    cond_cases[i].keys, got,
				    cond_cases[i].parts);
		}
		policy_result_free(&res);
		policy_free(p);
		diag_free(&d);
	}
}

/* Errors name file:line and say what is wrong. */
static const struct {
	const char	*text;
	const char	*want;
} err_cases[] = {
	{ "[rule \"a\"]\nsubjet = pattern: x\n",
	  "policy.ini:2: unknown key \"subjet\" in rule \"a\"" },
	{ "[rule]\nenabled = 1\n", "policy.ini:1: bad rule header [rule]" },
	{ "[rule a]\n", "policy.ini:1: bad rule header" },
	{ "[rule \"\"]\n", "policy.ini:1: bad rule header" },
	{ "[rule \"a\"b\"]\n", "policy.ini:1: bad rule header" },
	{ "[rules]\n", "policy.ini:1: bad rule header [rules]" },
	{ "[rule \"a\"]\n\nspam_score = >= 5\n",
	  "policy.ini:3: unknown key \"spam_score\"" },
	{ "[rule \"a\"]\nspam = extreme\n",
	  "policy.ini:2: spam: expected high, medium or low" },
	{ "[rule \"a\"]\nspam = 0\n",
	  "policy.ini:2: spam: expected high, medium or low" },
	{ "[rule \"a\"]\nspam = 5x\n",
	  "policy.ini:2: spam: expected high, medium or low" },
	{ "[spam_exemption \"x\"]\nintercept = delete\n",
	  "policy.ini:2: \"intercept\" cannot be used in spam exemption "
	  "\"x\"" },
	{ "[spam_exemption \"x\"]\nspam = high\n",
	  "policy.ini:2: \"spam\" cannot be used in spam exemption" },
	{ "[spam_exemption x]\nsubject = pattern: a\n",
	  "policy.ini:1: bad spam_exemption header [spam_exemption x]" },
	{ "[spam_senders]\napproved = nobody\n",
	  "policy.ini:2: approved: \"nobody\" is not an address pattern" },
	{ "[spam_senders]\nallowed = a@b.c\n",
	  "policy.ini:2: unknown key \"allowed\" in [spam_senders]" },
	{ "[spam_exemption \"x\"]\nsubject = pattern: a\n"
	  "[spam_exemption \"x\"]\nbody = pattern: b\n",
	  "policy.ini:3: [spam_exemption \"x\"] is written twice" },
	{ "[rule \"a\"]\nvirus = no\n",
	  "policy.ini:2: virus: expected yes, or signature names" },
	{ "[rule \"a\"]\nsubject = pattern: (x\n",
	  "policy.ini:2: subject: bad pattern: missing closing parenthesis" },
	{ "[rule \"a\"]\nsubject = regex x\n",
	  "policy.ini:2: subject: expected \"keywords: NAME" },
	{ "[rule \"a\"]\nbody = keywords: nosuch\n",
	  "policy.ini:2: keyword list \"nosuch\": no keyword directory" },
	{ "[rule \"a\"]\nbody = keywords: ../etc\n",
	  "policy.ini:2: body: bad keyword list name \"../etc\"" },
	{ "[rule \"a\"]\nbody = keywords: bad\n",
	  "keywords/bad.txt:2: bad pattern: missing closing parenthesis" },
	{ "[rule \"a\"]\norder = 1\n[rule \"b\"]\n",
	  "policy.ini:3: rule \"b\" has no order" },
	{ "[rule \"a\"]\norder = 5\n[rule \"b\"]\norder = 5\n",
	  "policy.ini:4: order 5 is also the order of rule \"a\"" },
	{ "[rule \"a\"]\norder = 0\n", "policy.ini:2: order: expected" },
	{ "[rule \"a\"]\ndirection = sideways\n",
	  "policy.ini:2: direction: expected inbound, outbound or both" },
	{ "[rule \"a\"]\nmatch = most\n", "policy.ini:2: match: expected" },
	{ "[rule \"a\"]\nintercept = bounce\n",
	  "policy.ini:2: intercept: expected deliver" },
	{ "[rule \"a\"]\nintercept = quarantine\n",
	  "policy.ini:2: intercept: quarantine needs an area name" },
	{ "[rule \"a\"]\nintercept = quarantine ../x\n",
	  "policy.ini:2: intercept: quarantine needs an area name" },
	{ "[rule \"a\"]\nintercept = change_recipient nobody\n",
	  "policy.ini:2: intercept: change_recipient needs an address" },
	{ "[rule \"a\"]\nintercept = delete now\n",
	  "policy.ini:2: intercept: expected deliver" },
	{ "[rule \"a\"]\nbcc = a@example.com, not an address\n",
	  "policy.ini:2: bcc: \"not an address\" is not an address" },
	{ "[rule \"a\"]\nattachment_size = 10M\n",
	  "policy.ini:2: attachment_size: expected \"> 10M\"" },
	{ "[rule \"a\"]\nattachment_size = > 10X\n",
	  "policy.ini:2: attachment_size: expected" },
	{ "[rule \"a\"]\nmessage_size = > 99999999999999999999\n",
	  "policy.ini:2: message_size: expected" },
	{ "[rule \"a\"]\nrecipient_count = > 10\n",
	  "policy.ini:2: recipient_count: expected \"header > 10\"" },
	{ "[rule \"a\"]\nempty_subject = no\n",
	  "policy.ini:2: empty_subject: expected yes" },
	{ "[rule \"a\"]\nscan_limits = depth, weather\n",
	  "policy.ini:2: scan_limits: unknown limit \"weather\"" },
	{ "[rule \"a\"]\nattachment_in_archive = maybe\n",
	  "policy.ini:2: attachment_in_archive: expected include" },
	{ "[rule \"a\"]\nattachment_name = *.exe,,*.com\n",
	  "policy.ini:2: attachment_name: expected a list" },
	{ "[rule \"a\"]\nbody. = pattern: x\n",
	  "policy.ini:2: unknown key \"body.\"" },
	{ "[rule \"a\"]\nbody.x.y = pattern: x\n",
	  "policy.ini:2: unknown key \"body.x.y\"" },
	{ "[rule \"a\"]\nenabled.2 = yes\n",
	  "policy.ini:2: unknown key \"enabled.2\"" },
	{ "[rule \"a\"]\nheader = : x\n", "policy.ini:2: header: expected" },
	{ "[rule \"a\"]\nnotify_admin = ../../etc/passwd\n",
	  "policy.ini:2: notify_admin: expected a template name" },
	{ "[rule \"a\"]\nstamp_top = template:\n",
	  "policy.ini:2: stamp_top: bad template name" },
	{ "[rule \"a\"]\nsenders = example.com\n",
	  "policy.ini:2: senders: \"example.com\" is not an address pattern" },
	{ "[rule \"a\"]\nenabled = perhaps\n",
	  "policy.ini:2: enabled: expected yes or no" },
	{ "[rule \"a\"]\nenabled = 1\nenabled = 0\n",
	  "policy.ini:3: duplicate key \"enabled\"" },
	{ "[rule \"a\"]\norder = 1\n[rule \"b\"]\norder = 2\n"
	  "[ RULE \"A\" ]\nenabled = no\n",
	  "policy.ini:5: [RULE \"A\"] is written twice (first on line 1)" },
	{ "[rule \"a\"]\ntag_subject =\n",
	  "policy.ini:2: tag_subject: expected text" },
};

static void
t_errors(void)
{
	struct policy	*p;
	struct diag	 d;
	size_t		 i;

	for (i = 0; i < nitems(err_cases); i++) {
		p = load(err_cases[i].text, &d);
		CHECKF(p == NULL, "case %zu loaded", i);
		CHECKF(diag_find(&d, err_cases[i].want) != NULL,
		    "case %zu: want \"%s\", got \"%s\"", i, err_cases[i].want,
		    d.nitems ? d.items[0].text : "(nothing)");
		policy_free(p);
		diag_free(&d);
	}

	/* A warning alone does not fail the load. */
	p = load("[rule \"a\"]\nsubject = pattern: x\nstrip_attachments = yes\n"
	    "body = keywords: empty\n", &d);
	CHECK(p != NULL);
	CHECK(d.nerrors == 0 && d.nwarnings == 2);
	CHECK(diag_find(&d, "policy.ini:3: strip_attachments: rule \"a\" has "
	    "no attachment condition") != NULL);
	CHECK(diag_find(&d, "keywords/empty.txt: no patterns") != NULL);
	policy_free(p);
	diag_free(&d);

	/* Every error is reported, not just the first. */
	p = load("[rule \"a\"]\nmatch = x\ndirection = y\n[rule \"b\"]\n"
	    "spam_score = >= 5\n", &d);
	CHECK(p == NULL && d.nerrors == 3);
	policy_free(p);
	diag_free(&d);

	/* Other sections ([scan]) are conf.c's; an empty file is a policy. */
	p = load("[scan]\nenabled = 0\n", &d);
	CHECK(p != NULL && policy_nrules(p) == 0 && d.nitems == 0);
	policy_free(p);
	diag_free(&d);
}

/* Keyword lists on disk: errors name the list's path and line. */
static void
t_keyword_files(void)
{
	struct policy_src dsrc = { NULL, NULL, 0 };
	struct policy_result res;
	const struct policy_group *g;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	char		 dir[] = "/tmp/test_policy.XXXXXX", *path, *want;
	const char	*ini = "[rule \"k\"]\nbody = keywords: mine\n";
	FILE		*fp;

	CHECK(mkdtemp(dir) != NULL);
	dsrc.kwdir = dir;
	diag_init(&d);
	p = policy_load_buf("policy.ini", ini, strlen(ini), &dsrc, &d);
	want = xasprintf("policy.ini:2: keyword list %s/mine.txt: No such "
	    "file", dir);
	CHECK(p == NULL && diag_find(&d, want) != NULL);
	free(want);
	diag_free(&d);

	path = xasprintf("%s/mine.txt", dir);
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	fputs("#!caseless\n\xef\xbb\xbf" "ok\nbad\xff\n", fp);
	fclose(fp);
	diag_init(&d);
	p = policy_load_buf("policy.ini", ini, strlen(ini), &dsrc, &d);
	want = xasprintf("%s:3: invalid UTF-8", path);
	CHECK(p == NULL && diag_find(&d, want) != NULL);
	free(want);
	diag_free(&d);

	fp = fopen(path, "w");
	fputs("# comment\r\n#!caseless\r\n  wire\\s+transfer  \r\n", fp);
	fclose(fp);
	diag_init(&d);
	p = policy_load_buf("policy.ini", ini, strlen(ini), &dsrc, &d);
	CHECK(p != NULL && d.nitems == 0);
	text_msg(&m, &body, "hi", "Please WIRE   Transfer now");
	g = p != NULL ? eval1(p, &m, &res) : NULL;
	CHECK(g != NULL && g->nhits == 1 && g->hits[0].nconds == 1);
	if (g != NULL && g->nhits == 1) {
		want = xasprintf("%s", path);
		CHECK_STREQ(g->hits[0].conds[0].file, want);
		CHECK_INTEQ(g->hits[0].conds[0].line, 3);
		free(want);
	}
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
	free(path);
	test_rmtree(dir);
}

/* Keyword list case handling and which pattern matched. */
static void
t_keywords(void)
{
	static const struct {
		const char	*subject;
		bool		 match;
		unsigned	 line;
	} cases[] = {
		{ "FREE MONEY inside", true, 3 },
		{ "freemoney", false, 0 },
		{ "cheap Viagra", true, 5 },
		{ "cheap viagra", false, 0 },	/* case-sensitive line */
	};
	struct policy_result res;
	const struct policy_group *g;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	size_t		 i;

	p = load("[rule \"kw\"]\nsubject = keywords: words\n", &d);
	CHECK(p != NULL);
	for (i = 0; p != NULL && i < nitems(cases); i++) {
		text_msg(&m, &body, cases[i].subject, "");
		g = eval1(p, &m, &res);
		CHECKF(g != NULL && (g->nhits == 1) == cases[i].match,
		    "case %zu", i);
		if (g != NULL && g->nhits == 1) {
			CHECK_STREQ(g->hits[0].conds[0].key, "subject");
			CHECK_STREQ(g->hits[0].conds[0].file,
			    "keywords/words.txt");
			CHECKF(g->hits[0].conds[0].line == cases[i].line,
			    "case %zu line %u", i, g->hits[0].conds[0].line);
		}
		policy_result_free(&res);
	}
	policy_free(p);
	diag_free(&d);
}

/* Scope: direction, sender and recipient patterns, exceptions. */
static void
t_scope(void)
{
	static const struct {
		const char	*keys;
		const char	*sender;
		const char	*rcpt;
		enum policy_dir	 dir;
		bool		 applies;
	} cases[] = {
		{ "direction = inbound", "a@x.org", "b@example.com",
		  POLICY_INBOUND, true },
		{ "direction = inbound", "a@x.org", "b@example.com",
		  POLICY_OUTBOUND, false },
		{ "direction = outbound", "a@x.org", "b@example.com",
		  POLICY_OUTBOUND, true },
		{ "direction = both", "a@x.org", "b@example.com",
		  POLICY_OUTBOUND, true },
		{ "senders = *", "", "b@example.com", POLICY_INBOUND, true },
		{ "senders = <>", "", "b@example.com", POLICY_INBOUND, true },
		{ "senders = <>", "a@x.org", "b@example.com", POLICY_INBOUND,
		  false },
		{ "senders = @x.org", "a@X.ORG", "b@example.com",
		  POLICY_INBOUND, true },
		{ "senders = @x.org", "a@sub.x.org", "b@example.com",
		  POLICY_INBOUND, false },
		{ "senders = .x.org", "a@sub.x.org", "b@example.com",
		  POLICY_INBOUND, true },
		{ "senders = .x.org", "a@x.org", "b@example.com",
		  POLICY_INBOUND, false },
		{ "senders = *@*.x.org", "a@deep.sub.x.org", "b@example.com",
		  POLICY_INBOUND, true },
		{ "senders = Alice@Example.org", "alice@example.org",
		  "b@example.com", POLICY_INBOUND, true },
		{ "senders = sales-*@example.org", "sales-eu@example.org",
		  "b@example.com", POLICY_INBOUND, true },
		{ "senders = sales-*@example.org", "support@example.org",
		  "b@example.com", POLICY_INBOUND, false },
		{ "senders = @x.org, @y.org", "a@y.org", "b@example.com",
		  POLICY_INBOUND, true },
		{ "except_senders = @x.org", "a@x.org", "b@example.com",
		  POLICY_INBOUND, false },
		{ "except_senders = @x.org", "a@y.org", "b@example.com",
		  POLICY_INBOUND, true },
		{ "recipients = @example.com", "a@x.org", "b@example.com",
		  POLICY_INBOUND, true },
		{ "recipients = @example.com", "a@x.org", "b@example.net",
		  POLICY_INBOUND, false },
		{ "recipients = @example.com\nexcept_recipients = "
		  "postmaster@example.com", "a@x.org",
		  "postmaster@example.com", POLICY_INBOUND, false },
		{ "enabled = no", "a@x.org", "b@example.com", POLICY_INBOUND,
		  false },
	};
	struct policy_result res;
	struct policy_env env;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	char		 text[512];
	size_t		 i;

	memset(&env, 0, sizeof(env));
	text_msg(&m, &body, "s", "b");
	for (i = 0; i < nitems(cases); i++) {
		const char *rc[1] = { cases[i].rcpt };
		enum policy_dir dir[1] = { cases[i].dir };

		(void)str_printf(text, sizeof(text), "[rule \"s\"]\n%s\n",
		    cases[i].keys);
		p = load(text, &d);
		CHECKF(p != NULL, "case %zu", i);
		if (p == NULL) {
			diag_free(&d);
			continue;
		}
		env.sender = cases[i].sender;
		env.rcpts = rc;
		env.dirs = dir;
		env.nrcpts = 1;
		CHECK(policy_eval(p, &m, &env, &res) == 0);
		CHECKF(res.ngroups == 1 && (res.groups[0].nhits == 1) ==
		    cases[i].applies, "case %zu: %s", i, cases[i].keys);
		policy_result_free(&res);
		policy_free(p);
		diag_free(&d);
	}
}

/*
 * seed 9: rules with different scopes, one of them "archive": every
 * recipient gets exactly one outcome, recipients with the same rules
 * share a group, and nobody loses the message.
 */
static void
test_seed09_every_recipient_one_outcome(void)
{
	static const char *const rcpts[] = {
		"x@a.example", "y@b.example", "z@c.example", "w@a.example",
		"out@partner.example",
	};
	static const enum policy_dir dirs[] = {
		POLICY_INBOUND, POLICY_INBOUND, POLICY_INBOUND, POLICY_INBOUND,
		POLICY_OUTBOUND,
	};
	struct policy_env env = { "s@sender.example", rcpts, dirs, 5, NULL };
	struct policy_result res;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	size_t		 seen[5] = { 0 }, i, j;

	p = load("[rule \"Archive A\"]\nrecipients = @a.example\n"
	    "archive = yes\n"
	    "[rule \"Tag B\"]\nrecipients = @b.example\ntag_subject = [B]\n"
	    "[rule \"Outbound disclaimer\"]\ndirection = outbound\n"
	    "stamp_bottom = template:disclaimer\n"
	    "[rule \"Never\"]\nsubject = pattern: nothing-like-this\n"
	    "intercept = delete\n", &d);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	text_msg(&m, &body, "hello", "text");
	CHECK(policy_eval(p, &m, &env, &res) == 0);
	CHECK_INTEQ(res.ngroups, 4);
	for (i = 0; i < res.ngroups; i++)
		for (j = 0; j < res.groups[i].nrcpts; j++)
			seen[res.groups[i].rcpts[j]]++;
	for (i = 0; i < 5; i++)
		CHECKF(seen[i] == 1, "recipient %zu in %zu groups", i, seen[i]);
	for (i = 0; i < res.ngroups; i++) {
		const struct policy_group *g = &res.groups[i];

		/* Nobody's copy is intercepted: all are delivered. */
		CHECK(g->intercept == POLICY_DELIVER);
		if (g->rcpts[0] == 0) {
			CHECK_INTEQ(g->nrcpts, 2);
			CHECK_INTEQ(g->rcpts[1], 3);
			CHECK(g->nactions == 1 &&
			    g->actions[0].kind == POLICY_A_ARCHIVE);
			CHECK_STREQ(g->final_text, "Delivered");
		} else if (g->rcpts[0] == 1) {
			CHECK(g->nactions == 1 &&
			    g->actions[0].kind == POLICY_A_TAG_SUBJECT);
			CHECK_STREQ(g->actions[0].arg, "[B]");
		} else if (g->rcpts[0] == 2) {
			CHECK_INTEQ(g->nhits, 0);
			CHECK_STREQ(g->final_text, POLICY_PASSED_TEXT);
		} else {
			CHECK_INTEQ(g->rcpts[0], 4);
			CHECK(g->nactions == 1 && g->actions[0].kind ==
			    POLICY_A_STAMP_BOTTOM && g->actions[0].template);
			CHECK_STREQ(g->actions[0].arg, "disclaimer");
			CHECK_STREQ(g->hits[0].rule, "Outbound disclaimer");
		}
	}
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
}

/*
 * seed 4: three attachments, one matches a rule with several conditions:
 * the hit and the strip action name exactly that attachment.
 */
static void
test_seed04_only_matching_attachment(void)
{
	struct scan_part parts[] = {
		{ -1, 0, false, true, false, false, NULL, S("text/plain"),
		  S("utf-8"), S("text/plain"), 5, S("hello"), 5, 0, NULL, 0 },
		{ -1, 0, true, false, false, false, S("notes.txt"),
		  S("text/plain"), NULL, S("text/plain"), 900, S("notes"), 5,
		  0, NULL, 0 },
		{ -1, 0, true, false, false, false, S("invoice.pdf.exe"),
		  S("application/pdf"), NULL, S("application/x-dosexec"),
		  70000, NULL, 0, 0, NULL, 0 },
		{ -1, 0, true, false, false, false, S("big.exe"),
		  S("application/octet-stream"), NULL, S("text/plain"), 90000,
		  NULL, 0, 0, NULL, 0 },
	};
	struct policy_result res;
	const struct policy_group *g;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	char		 got[64];

	memset(&m, 0, sizeof(m));
	m.parts = parts;
	m.nparts = nitems(parts);
	m.subject = S("files");
	p = load("[rule \"Strip disguised programs\"]\nmatch = all\n"
	    "attachment_name = *.exe\n"
	    "attachment_true_type = application/x-dosexec\n"
	    "attachment_size = > 1K\nstrip_attachments = yes\n"
	    "notify_recipients = stripped\n", &d);
	CHECK(p != NULL && d.nitems == 0);
	g = p != NULL ? eval1(p, &m, &res) : NULL;
	CHECK(g != NULL && g->nhits == 1);
	if (g != NULL && g->nhits == 1) {
		CHECK_STREQ(parts_text(got, sizeof(got), g->hits[0].parts,
		    g->hits[0].nparts), "2");
		CHECK_STREQ(parts_text(got, sizeof(got), g->strip_parts,
		    g->nstrip_parts), "2");
		CHECK_INTEQ(g->hits[0].nconds, 3);
		CHECK(g->intercept == POLICY_DELIVER);
		CHECK(g->nactions == 2 && g->actions[0].kind ==
		    POLICY_A_STRIP && g->actions[1].kind ==
		    POLICY_A_NOTIFY_RCPTS);
	}
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
}

/* seed 14: only a missing or blank subject is "empty". */
static void
test_seed14_empty_subject(void)
{
	static const struct {
		const char	*subject;	/* NULL: no Subject: at all */
		bool		 empty;
	} cases[] = {
		{ NULL, true },
		{ "", true },
		{ "   ", true },
		{ " \t\r\n", true },
		{ "\xe3\x80\x80", true },	/* ideographic space */
		{ "Hello\r\n", false },		/* ended in CRLF: not empty */
		{ "Hello \r\n ", false },	/* folded, trailing blanks */
		{ "x", false },
		{ "件名", false },
	};
	struct policy_result res;
	const struct policy_group *g;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	size_t		 i;

	p = load("[rule \"No subject\"]\nempty_subject = yes\n", &d);
	CHECK(p != NULL);
	for (i = 0; p != NULL && i < nitems(cases); i++) {
		text_msg(&m, &body, "", "body");
		m.subject = S(cases[i].subject);
		g = eval1(p, &m, &res);
		CHECKF(g != NULL && (g->nhits == 1) == cases[i].empty,
		    "case %zu", i);
		policy_result_free(&res);
	}
	policy_free(p);
	diag_free(&d);
}

/* seed 42: the recipient count counts what the rule says. */
static void
test_seed42_header_vs_envelope_count(void)
{
	static const char *const rc[] = { "a@x.example", "b@x.example",
	    "c@x.example", "d@x.example", "e@x.example" };
	static const enum policy_dir dirs[] = { POLICY_INBOUND, POLICY_INBOUND,
	    POLICY_INBOUND, POLICY_INBOUND, POLICY_INBOUND };
	static const struct {
		const char	*keys;
		size_t		 hdr;
		bool		 match;
	} cases[] = {
		/* one To/Cc address, five envelope recipients (Bcc) */
		{ "recipient_count = header > 3", 1, false },
		{ "recipient_count = envelope > 3", 1, true },
		/* ten To/Cc addresses, five envelope recipients */
		{ "recipient_count = header > 3", 10, true },
		{ "recipient_count = envelope > 5", 10, false },
		{ "recipient_count = envelope >= 5", 10, true },
		{ "recipient_count = HEADER = 10", 10, true },
	};
	struct policy_env env = { "s@y.example", rc, dirs, 5, NULL };
	struct policy_result res;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	char		 text[256];
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		(void)str_printf(text, sizeof(text), "[rule \"n\"]\n%s\n",
		    cases[i].keys);
		p = load(text, &d);
		CHECKF(p != NULL, "case %zu", i);
		text_msg(&m, &body, "s", "b");
		m.nhdr_rcpts = cases[i].hdr;
		if (p != NULL) {
			CHECK(policy_eval(p, &m, &env, &res) == 0);
			CHECKF(res.ngroups == 1 && res.groups[0].nrcpts == 5 &&
			    (res.groups[0].nhits == 1) == cases[i].match,
			    "case %zu", i);
			policy_result_free(&res);
		}
		policy_free(p);
		diag_free(&d);
	}
}

/* seed 12: Japanese rule names and Japanese keyword lists. */
static void
test_seed12_japanese_rules_and_keywords(void)
{
	struct policy_result res;
	const struct policy_group *g;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;

	p = load("[rule \"社外秘メールの隔離\"]\n"
	    "content = keywords: ja\nintercept = quarantine 機密\n", &d);
	CHECK(p == NULL && diag_find(&d, "policy.ini:3: intercept: "
	    "quarantine needs an area name") != NULL);
	diag_free(&d);

	p = load("; 日本語のコメント\n"
	    "[rule \"社外秘メールの隔離\"]\n"
	    "content = keywords: ja\n"
	    "subject.2 = pattern: 至急\n"
	    "tag_subject = 【社外秘】\n"
	    "intercept = quarantine confidential\n", &d);
	CHECK(p != NULL && d.nitems == 0);
	if (p == NULL)
		return;
	CHECK_STREQ(policy_rule_name(p, 0), "社外秘メールの隔離");
	text_msg(&m, &body, "会議のお知らせ", "この資料は社外秘です。\r\n");
	g = eval1(p, &m, &res);
	CHECK(g != NULL && g->nhits == 1);
	if (g != NULL && g->nhits == 1) {
		CHECK_STREQ(g->hits[0].rule, "社外秘メールの隔離");
		CHECK_STREQ(g->hits[0].conds[0].file, "keywords/ja.txt");
		CHECK_INTEQ(g->hits[0].conds[0].line, 2);
		CHECK(g->intercept == POLICY_QUARANTINE);
		CHECK_STREQ(g->final_text, "Quarantined (confidential)");
		CHECK_STREQ(g->actions[0].arg, "【社外秘】");
	}
	policy_result_free(&res);
	text_msg(&m, &body, "【至急】ご確認ください", "本文");
	g = eval1(p, &m, &res);
	CHECK(g != NULL && g->nhits == 1 && g->hits[0].nconds == 1);
	if (g != NULL && g->nhits == 1)
		CHECK_STREQ(g->hits[0].conds[0].key, "subject.2");
	policy_result_free(&res);
	text_msg(&m, &body, "会議", "公開資料です");
	g = eval1(p, &m, &res);
	CHECK(g != NULL && g->nhits == 0);
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
}

/* seed 38 (and 12, 30): the shipped etc/ policy and lists load and work. */
static void
test_seed38_shipped_lists_applied(void)
{
	static const struct {
		const char	*body;
		const char	*rule;		/* NULL: nothing matches */
		const char	*final;
	} cases[] = {
		{ "this is a SEKISHO-SAMPLE-RACISM-TEST message",
		  "Offensive language", "Quarantined (offensive)" },
		{ "sekisho-sample-sexism-test", "Offensive language",
		  "Quarantined (offensive)" },
		{ "see: sekisho-sample-defamation-test.", "Offensive language",
		  "Quarantined (offensive)" },
		{ "誹謗中傷サンプル語句を含む", "Offensive language",
		  "Quarantined (offensive)" },
		{ "an ordinary message", NULL, POLICY_PASSED_TEXT },
	};
	struct policy_result res;
	const struct policy_group *g;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	size_t		 i;

	diag_init(&d);
	p = policy_load(SEKISHO_SOURCE_DIR "/etc", &d);
	diag_print(&d, stderr);
	CHECK(p != NULL && d.nitems == 0);
	if (p == NULL) {
		diag_free(&d);
		return;
	}
	CHECK(policy_nrules(p) >= 5);
	CHECK_STREQ(policy_rule_name(p, 6), "社外秘メールの外部送信");
	for (i = 0; i < nitems(cases); i++) {
		text_msg(&m, &body, "hello", cases[i].body);
		g = eval1(p, &m, &res);
		CHECKF(g != NULL && g->nhits == (cases[i].rule ? 1u : 0u),
		    "case %zu", i);
		if (g != NULL && g->nhits == 1)
			CHECK_STREQ(g->hits[0].rule, cases[i].rule);
		if (g != NULL)
			CHECK_STREQ(g->final_text, cases[i].final);
		policy_result_free(&res);
	}
	/* The executable rule strips only the programs of the std message. */
	{
		char	 got[64];

		std_msg(&m);
		g = eval1(p, &m, &res);
		CHECK(g != NULL && g->nhits >= 1);
		if (g != NULL && g->nhits >= 1) {
			CHECK_STREQ(g->hits[0].rule,
			    "Block executable attachments");
			CHECK_STREQ(parts_text(got, sizeof(got),
			    g->strip_parts, g->nstrip_parts), "2,4");
			CHECK(g->intercept == POLICY_DELIVER);
		}
		policy_result_free(&res);
	}
	policy_free(p);
	diag_free(&d);
}

/* seed 30: a message that matched nothing "Passed sekisho scan". */
static void
test_seed30_passed_text(void)
{
	struct policy_result res;
	const struct policy_group *g;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;

	std_msg(&m);
	p = load("", &d);
	CHECK(p != NULL);
	g = p != NULL ? eval1(p, &m, &res) : NULL;
	CHECK(g != NULL && g->nhits == 0 && g->nrcpts == 2 &&
	    g->intercept == POLICY_DELIVER && g->nactions == 0);
	if (g != NULL)
		CHECK_STREQ(g->final_text, "Passed sekisho scan");
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
}

/*
 * The decision: rules in order, the first intercept other than deliver
 * decides, modifications and notifications accumulate (duplicates once),
 * "final" stops the walk, "order" sorts.
 */
static void
t_decision(void)
{
	struct policy_result res;
	const struct policy_group *g;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;

	std_msg(&m);
	p = load("[rule \"delete\"]\norder = 30\nintercept = delete\n"
	    "notify_admin = deleted\n"
	    "[rule \"tag\"]\norder = 10\ntag_subject = [T]\nbcc = "
	    "audit@example.com\n"
	    "[rule \"quarantine\"]\norder = 20\nintercept = quarantine q1\n"
	    "tag_subject = [T]\nbcc = AUDIT@example.com, b@example.com\n"
	    "[rule \"disabled\"]\norder = 5\nenabled = no\n"
	    "intercept = delete\n", &d);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK_STREQ(policy_rule_name(p, 0), "disabled");
	CHECK_STREQ(policy_rule_name(p, 1), "tag");
	g = eval1(p, &m, &res);
	CHECK(g != NULL && g->nhits == 3);
	if (g != NULL && g->nhits == 3) {
		CHECK_STREQ(g->hits[0].rule, "tag");
		CHECK_STREQ(g->hits[1].rule, "quarantine");
		CHECK_STREQ(g->hits[2].rule, "delete");
		CHECK(g->intercept == POLICY_QUARANTINE);
		CHECK_STREQ(g->intercept_arg, "q1");
		CHECK_INTEQ(g->intercept_hit, 1);
		CHECK_STREQ(g->final_text, "Quarantined (q1)");
		/* [T] once, audit@ once, b@, the admin notice */
		CHECK_INTEQ(g->nactions, 4);
		CHECK(g->actions[0].kind == POLICY_A_TAG_SUBJECT &&
		    g->actions[0].hit == 0);
		CHECK(g->actions[1].kind == POLICY_A_BCC);
		CHECK(g->actions[2].kind == POLICY_A_BCC);
		CHECK_STREQ(g->actions[2].arg, "b@example.com");
		CHECK(g->actions[3].kind == POLICY_A_NOTIFY_ADMIN &&
		    g->actions[3].hit == 2);
		CHECK_STREQ(policy_action_name(g->actions[3].kind),
		    "notify_admin");
		CHECK_STREQ(policy_intercept_name(g->intercept), "quarantine");
	}
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);

	/* final = yes: an exemption rule stops the rules after it. */
	p = load("[rule \"exempt partner\"]\nsenders = @example.org\n"
	    "final = yes\n"
	    "[rule \"delete all\"]\nintercept = delete\n"
	    "[rule \"change\"]\nintercept = change_recipient "
	    "review@example.com\n", &d);
	CHECK(p != NULL);
	g = p != NULL ? eval1(p, &m, &res) : NULL;
	CHECK(g != NULL && g->nhits == 1 && g->intercept == POLICY_DELIVER);
	if (g != NULL)
		CHECK_STREQ(g->final_text, "Delivered");
	policy_result_free(&res);
	{
		struct policy_env env = { "x@elsewhere.example", two_rcpts,
		    two_in, 2, NULL };

		CHECK(p != NULL && policy_eval(p, &m, &env, &res) == 0);
		CHECK(res.ngroups == 1 && res.groups[0].intercept ==
		    POLICY_DELETE && res.groups[0].nhits == 2);
		policy_result_free(&res);
	}
	policy_free(p);
	diag_free(&d);
}

/*
 * seed 27: a catastrophic-backtracking pattern is stopped by the match
 * limit: a defined "limit" outcome naming the list and line, quickly.
 */
static void
test_seed27_pattern_match_limit(void)
{
	struct policy_result res;
	const struct policy_group *g;
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	struct timespec	 t0, t1;
	char		 text[64];
	double		 secs;

	memset(text, 'a', 40);
	text[40] = '!';
	text[41] = '\0';
	p = load("[rule \"evil\"]\nbody = keywords: evil\n"
	    "[rule \"inline\"]\nsubject = pattern: (x+x+)+y\n"
	    "[rule \"fine\"]\nbody = pattern: a!\n", &d);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	text_msg(&m, &body, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    text);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	g = eval1(p, &m, &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECKF(secs < 2.0, "took %.3f s", secs);
	CHECK(g != NULL);
	if (g != NULL) {
		CHECK(g->limits & POLICY_LIMIT_MATCH);
		CHECK(res.limits & POLICY_LIMIT_MATCH);
		CHECK_STREQ(g->limit.rule, "evil");
		CHECK_STREQ(g->limit.key, "body");
		CHECK_STREQ(g->limit.file, "keywords/evil.txt");
		CHECK_INTEQ(g->limit.line, 1);
		/* The limited rules did not match; the others still ran. */
		CHECK(g->nhits == 1);
		if (g->nhits == 1)
			CHECK_STREQ(g->hits[0].rule, "fine");
	}
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
}

/* scan_limits: archive limits, encryption, malformed parts. */
static void
t_scan_limits(void)
{
	static const struct {
		const char	*keys;
		unsigned	 msg, part;
		bool		 match;
		const char	*parts;
	} cases[] = {
		{ "scan_limits = any", 0, 0, false, "" },
		{ "scan_limits = any", SCAN_LIMIT_TIME, 0, true, "" },
		{ "scan_limits = encrypted", SCAN_LIMIT_ENCRYPTED,
		  SCAN_LIMIT_ENCRYPTED, true, "3" },
		{ "scan_limits = depth, ratio", SCAN_LIMIT_ENCRYPTED,
		  SCAN_LIMIT_ENCRYPTED, false, "" },
		{ "scan_limits = malformed", SCAN_LIMIT_MALFORMED, 0, true,
		  "" },
	};
	struct scan_part parts[nitems(std_parts)];
	struct policy_result res;
	const struct policy_group *g;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	char		 text[256], got[64];
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		std_msg(&m);
		memcpy(parts, std_parts, sizeof(parts));
		m.parts = parts;
		m.limits = cases[i].msg;
		parts[3].limits = cases[i].part;
		(void)str_printf(text, sizeof(text), "[rule \"l\"]\n%s\n"
		    "intercept = quarantine unscannable\n", cases[i].keys);
		p = load(text, &d);
		CHECKF(p != NULL, "case %zu", i);
		g = p != NULL ? eval1(p, &m, &res) : NULL;
		CHECKF(g != NULL && (g->nhits == 1) == cases[i].match,
		    "case %zu", i);
		if (g != NULL && g->nhits == 1)
			CHECK_STREQ(parts_text(got, sizeof(got),
			    g->hits[0].parts, g->hits[0].nparts),
			    cases[i].parts);
		if (p != NULL)
			policy_result_free(&res);
		policy_free(p);
		diag_free(&d);
	}
}

/* conf.c leaves policy.ini's rule sections to the scan server. */
static void
t_conf_tolerates_rules(void)
{
	const char *text = "[scan]\nenabled = 0\n[rule \"a\"]\nfoo = 1\n"
	    "[rule \"社外秘\"]\nsubject = pattern: x\n[other]\nx = 1\n";
	struct sekisho_conf c;
	struct diag	 d;
	struct ini	 ini;

	diag_init(&d);
	CHECK(ini_parse_buf(&ini, "policy.ini", text, strlen(text), &d) == 0);
	memset(&c, 0, sizeof(c));
	c.confdir = xstrdup("/etc/sekisho");
	CHECK(conf_apply(&c, conf_file_find("policy.ini"), &ini, &d) == 0);
	CHECK(!c.policy.scan_enabled);
	CHECK_INTEQ(d.nwarnings, 1);
	CHECK(diag_find(&d, "policy.ini:7: unknown section [other]") != NULL);
	conf_free(&c);
	ini_free(&ini);
	diag_free(&d);
}

/* Bad envelopes are refused; no recipients means no groups. */
static void
t_env(void)
{
	struct policy_env env = { "a@b.example", NULL, NULL, 1, NULL };
	struct policy_result res;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;

	std_msg(&m);
	p = load("[rule \"a\"]\ntag_subject = x\n", &d);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK(policy_eval(p, &m, &env, &res) == -1 && res.ngroups == 0);
	{
		const char *rc[1] = { "b@c.example" };
		enum policy_dir dir[1] = { (enum policy_dir)0 };

		env.rcpts = rc;
		env.dirs = dir;
		CHECK(policy_eval(p, &m, &env, &res) == -1);
	}
	env.nrcpts = 0;
	CHECK(policy_eval(p, &m, &env, &res) == 0 && res.ngroups == 0);
	policy_result_free(&res);
	policy_free(p);
	diag_free(&d);
}

/*
 * quarantined: whether the rule "cond + intercept = quarantine" holds
 * for m (-1: the rule does not load or the evaluation failed).
 */
static int
quarantined(const char *cond, const struct scan_msg *m)
{
	struct policy_env env = { "alice@example.org", two_rcpts, two_in, 2,
	    NULL };
	struct policy_result res;
	struct policy	*p;
	struct diag	 d;
	char		 text[256];
	int		 rv = -1;

	if (!str_printf(text, sizeof(text), "[rule \"c\"]\n%s\n"
	    "intercept = quarantine held\n", cond))
		return -1;
	if ((p = load(text, &d)) != NULL &&
	    policy_eval(p, m, &env, &res) == 0) {
		if (res.ngroups == 1)
			rv = res.groups[0].intercept == POLICY_QUARANTINE;
		policy_result_free(&res);
	}
	policy_free(p);
	diag_free(&d);
	return rv;
}

/* The antivirus finding as a condition: any, or by signature name. */
static void
t_virus(void)
{
	static const struct {
		const char	*rule;
		const char	*virus;
		bool		 hit;
	} cases[] = {
		{ "virus = yes", "Eicar-Test-Signature", true },
		{ "virus = yes", NULL, false },
		{ "virus = Eicar*, Win.*", "Eicar-Test-Signature", true },
		{ "virus = win.trojan.*", "Win.Trojan.Agent-1", true },
		{ "virus = Win.*", "Eicar-Test-Signature", false },
	};
	struct scan_part body;
	struct scan_msg	 m;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		text_msg(&m, &body, "s", "b");
		m.virus = (char *)cases[i].virus;
		CHECKF(quarantined(cases[i].rule, &m) == cases[i].hit,
		    "case %zu", i);
	}
}

/*
 * t_spam: the spam condition reads the verdict made before the rules
 * (levels, a score, a blocked sender); exemptions (seed 12) and the
 * sender lists are their own sections.
 */
static void
t_spam(void)
{
	static const struct {
		const char		*cond;
		enum scan_spam_verdict	 verdict;
		double			 score;
		unsigned		 levels;
		bool			 hit;
	} cases[] = {
		{ "spam = high", SCAN_SPAM_SCORED, 4.5, SCAN_SPAM_HIGH, true },
		{ "spam = medium", SCAN_SPAM_SCORED, 4.5, SCAN_SPAM_HIGH,
		  false },
		{ "spam = LOW", SCAN_SPAM_SCORED, 12, SCAN_SPAM_LOW |
		  SCAN_SPAM_MEDIUM | SCAN_SPAM_HIGH, true },
		{ "spam = 7.5", SCAN_SPAM_SCORED, 7.5, 0, true },
		{ "spam = 7.5", SCAN_SPAM_SCORED, 7.4, 0, false },
		{ "spam = high", SCAN_SPAM_UNCHECKED, 0, 0, false },
		{ "spam = high", SCAN_SPAM_EXEMPT, 0, 0, false },
		{ "spam = low", SCAN_SPAM_APPROVED, 0, 0, false },
		{ "spam = low", SCAN_SPAM_BLOCKED, 0, 0, true },
		{ "spam = 999", SCAN_SPAM_BLOCKED, 0, 0, true },
	};
	struct scan_part body;
	struct scan_msg	 m;
	struct policy	*p;
	struct diag	 d;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		text_msg(&m, &body, "s", "b");
		m.spam = cases[i].verdict;
		m.spam_score = cases[i].score;
		m.spam_levels = cases[i].levels;
		CHECKF(quarantined(cases[i].cond, &m) == cases[i].hit,
		    "case %zu", i);
	}

	/* Exemptions: Japanese names and patterns, sender scope, order. */
	p = load("[rule \"r\"]\nsubject = pattern: x\n"
	    "[spam_exemption \"取引先の見積書\"]\n"
	    "subject = pattern: お見積り\nsenders = @partner.example.jp\n"
	    "[spam_exemption \"off\"]\nenabled = no\n"
	    "subject = pattern: .\n"
	    "[spam_exemption \"both\"]\nmatch = all\n"
	    "subject = pattern: 請求書\nbody = pattern: 株式会社\n"
	    "[spam_senders]\napproved = boss@spammer.example\n"
	    "blocked = @spammer.example\nblocked.2 = *@*.bulk.example\n",
	    &d);
	diag_print(&d, stderr);
	CHECK(p != NULL && policy_nrules(p) == 1 && policy_nexempts(p) == 3);
	if (p != NULL) {
		text_msg(&m, &body, "【お見積り】第12号", "本文");
		CHECK_STREQ(policy_spam_exempt(p, &m, "a@partner.example.jp"),
		    "取引先の見積書");
		CHECK(policy_spam_exempt(p, &m, "a@other.example.jp") ==
		    NULL);
		text_msg(&m, &body, "請求書の送付", "株式会社サンプル");
		CHECK_STREQ(policy_spam_exempt(p, &m, ""), "both");
		text_msg(&m, &body, "請求書の送付", "個人");
		CHECK(policy_spam_exempt(p, &m, "") == NULL);
		CHECK(policy_spam_sender(p, "boss@spammer.example") ==
		    POLICY_SPAM_APPROVED);
		CHECK(policy_spam_sender(p, "x@spammer.example") ==
		    POLICY_SPAM_BLOCKED);
		CHECK(policy_spam_sender(p, "x@a.bulk.example") ==
		    POLICY_SPAM_BLOCKED);
		CHECK(policy_spam_sender(p, "x@bulk.example") == 0);
		CHECK(policy_spam_sender(p, "") == 0);
	}
	policy_free(p);
	diag_free(&d);
}

TEST_MAIN(t_conditions, t_errors, t_keyword_files, t_keywords, t_scope,
    test_seed09_every_recipient_one_outcome,
    test_seed04_only_matching_attachment, test_seed14_empty_subject,
    test_seed42_header_vs_envelope_count,
    test_seed12_japanese_rules_and_keywords,
    test_seed38_shipped_lists_applied, test_seed30_passed_text, t_decision,
    test_seed27_pattern_match_limit, t_scan_limits, t_conf_tolerates_rules, t_env, t_virus, t_spam)
