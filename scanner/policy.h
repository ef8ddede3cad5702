/*
 * policy.h: the scanning policy: policy.ini rules, keyword lists, and
 * the decision they make for one message (docs/policy.md).
 *
 * policy_load() reads and validates policy.ini and the keyword lists it
 * names (keywords/NAME.txt), compiling every pattern once (PCRE2, UTF,
 * JIT).  policy_eval() applies the rules to one analysed message (struct
 * scan_msg) and its envelope, and returns one decision per group of
 * recipients: recipients for whom the same rules matched share a group,
 * every recipient is in exactly one group (seed 9).  The decision is data
 * only (intercept, modifications, notifications, the matched rules and
 * attachments); carrying it out on the message is another module's work.
 *
 * A struct policy is read-only after loading; a result points into it
 * (rule names, keys, arguments), so the policy must outlive its results.
 */
#ifndef SEKISHO_POLICY_H
#define SEKISHO_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "scan.h"

#define POLICY_PASSED_TEXT	"Passed sekisho scan"	/* seed 30 */
#define POLICY_TEXT_MAX		512	/* final_text, limit texts */

/* Bounds on patterns (seed 27): rematch.h. */

/* The direction of one recipient, decided by the caller (accepted domains). */
enum policy_dir {
	POLICY_INBOUND = 1,
	POLICY_OUTBOUND = 2,
};

/* The envelope of the message being evaluated. */
struct policy_env {
	const char		*sender;	/* bare address, "" for <> */
	const char *const	*rcpts;		/* bare addresses */
	const enum policy_dir	*dirs;		/* per recipient */
	size_t			 nrcpts;
	const char		*skip_rule;	/* a released message is not
						   subject to this rule, or
						   NULL */
};

/* Intercept actions: exactly one per group. */
enum policy_intercept {
	POLICY_DELIVER = 0,
	POLICY_DELETE,
	POLICY_QUARANTINE,		/* arg: the area */
	POLICY_CHANGE_RCPT,		/* arg: the new recipient */
};

/* Modifications and notifications: any number per group, in rule order. */
enum policy_action_kind {
	POLICY_A_TAG_SUBJECT = 0,	/* arg: the tag text */
	POLICY_A_STAMP_TOP,		/* arg: text, or template name */
	POLICY_A_STAMP_BOTTOM,
	POLICY_A_STRIP,			/* the parts of hits[hit] */
	POLICY_A_BCC,			/* arg: the address */
	POLICY_A_ARCHIVE,
	POLICY_A_NOTIFY_SENDER,		/* arg: the template name */
	POLICY_A_NOTIFY_RCPTS,
	POLICY_A_NOTIFY_ADMIN,
};

/* Why a pattern match could not be completed. */
#define POLICY_LIMIT_MATCH	0x01	/* match, depth, heap or JIT stack */
#define POLICY_LIMIT_ERROR	0x02	/* any other matching error */

/* One condition of a matched rule that matched, and where it is written. */
struct policy_cond_hit {
	const char		*key;	/* as written: "body", "header.2" */
	const char		*file;	/* the keyword list or policy.ini */
	unsigned		 line;	/* of the pattern, or of the key */
};

/* One matched rule. */
struct policy_hit {
	const char		*rule;		/* its name (UTF-8) */
	size_t			 rule_index;	/* in evaluation order */
	struct policy_cond_hit	*conds;
	size_t			 nconds;
	size_t			*parts;		/* scan_msg.parts indices that
						   the attachment conditions
						   matched, ascending (seed 4) */
	size_t			 nparts;
};

struct policy_action {
	enum policy_action_kind	 kind;
	const char		*arg;		/* NULL for STRIP, ARCHIVE */
	bool			 template;	/* stamp: arg is a template */
	size_t			 hit;		/* the rule: index in hits */
};

/* Where the first pattern limit of a group was hit. */
struct policy_limit {
	const char		*rule;
	const char		*key;
	const char		*file;		/* the pattern's list */
	unsigned		 line;
	int			 code;		/* PCRE2 error code */
};

/* The decision for one group of recipients. */
struct policy_group {
	size_t			*rcpts;		/* indices into env.rcpts */
	size_t			 nrcpts;
	struct policy_hit	*hits;		/* matched rules, in order */
	size_t			 nhits;
	enum policy_intercept	 intercept;
	const char		*intercept_arg;
	size_t			 intercept_hit;	/* the deciding rule, or
						   SIZE_MAX for the default */
	struct policy_action	*actions;
	size_t			 nactions;
	size_t			*strip_parts;	/* union of every STRIP */
	size_t			 nstrip_parts;
	unsigned		 limits;	/* POLICY_LIMIT_* */
	struct policy_limit	 limit;		/* the first one */
	char			 final_text[POLICY_TEXT_MAX];
};

struct policy_result {
	struct policy_group	*groups;
	size_t			 ngroups;
	unsigned		 limits;	/* of every group */
};

/* In-memory keyword lists, looked up before the directory (tests, fuzz). */
struct policy_kwfile {
	const char		*name;		/* NAME of keywords: NAME */
	const void		*data;
	size_t			 len;
};

/* Where policy_load_buf() finds the keyword lists a rule names. */
struct policy_src {
	const char		*kwdir;		/* NAME.txt files, or NULL */
	const struct policy_kwfile *kwfiles;
	size_t			 nkwfiles;
};

struct policy;

struct policy	*policy_load(const char *, struct diag *);
struct policy	*policy_load_buf(const char *, const void *, size_t,
		    const struct policy_src *, struct diag *);
void		 policy_free(struct policy *);
size_t		 policy_nrules(const struct policy *);
const char	*policy_rule_name(const struct policy *, size_t);
int		 policy_eval(const struct policy *, const struct scan_msg *,
		    const struct policy_env *, struct policy_result *);
void		 policy_result_free(struct policy_result *);
const char	*policy_spam_exempt(const struct policy *,
		    const struct scan_msg *, const char *);
size_t		 policy_nexempts(const struct policy *);
#define POLICY_SPAM_APPROVED	1
#define POLICY_SPAM_BLOCKED	2
int		 policy_spam_sender(const struct policy *, const char *);
const char	*policy_intercept_name(enum policy_intercept);
const char	*policy_action_name(enum policy_action_kind);

#endif
