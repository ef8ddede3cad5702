/*
 * ipprules.h: the IP profiler's memory: what each client address did
 * lately, the rules of foxdns.ini applied to it, the blocks in force and
 * the approved and blocked lists (docs/ipprofiler.md).
 *
 * Behaviour is kept per address in per-minute buckets of the event
 * counters (common/ipp_proto.h), only as far back as the longest enabled
 * rule window, for at most max_tracked_ips addresses (the least recently
 * seen are forgotten first).  A rule of one kind (spam, virus, dha,
 * bounce) matches an address when, summed over its window, total >=
 * min_total and (rate == 0 || bad * 100 >= rate * total) and (count == 0
 * || bad >= count); its action logs, or blocks for keep_tempblocked_mins,
 * or blocks for good.  A block clears the address's counters.
 *
 * A block is an address or a network with a kind, a reason, its creation
 * time and its expiry (0: permanent).  The blocks of the lists
 * (blocked_ips, blocked_list_file) come with the configuration and are
 * never stored; the others (rules, the administrator) are reported to the
 * owner through struct ipp_hooks so it can store them (ippstore.c).
 * A verdict never reports an expired block, even before ipp_rules_expire()
 * has removed it.
 *
 * Nothing here reads a clock: every call that needs the time takes now
 * (unix seconds), so the tests can drive time.  Addresses come from
 * outside and may be chosen by an attacker: the tables hash them with a
 * per-process random key.
 */
#ifndef SEKISHO_IPPRULES_H
#define SEKISHO_IPPRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "ipp_proto.h"
#include "netaddr.h"

#define IPP_BUCKETS_MAX		64	/* minutes kept per address; beyond,
					   the two oldest are merged */
#define IPP_LIST_FILE_MAX	(64 * 1024 * 1024)	/* bytes of a list */
#define IPP_MINUTES_MAX		5256000	/* an administrator's block: 10
					   years */

/* Why an address is blocked: a rule, the administrator or a list. */
enum ipp_kind {
	IPP_K_SPAM = CONF_IPP_SPAM,
	IPP_K_VIRUS = CONF_IPP_VIRUS,
	IPP_K_DHA = CONF_IPP_DHA,
	IPP_K_BOUNCE = CONF_IPP_BOUNCE,
	IPP_K_ADMIN,
	IPP_K_BLOCKED_IPS,		/* foxdns.ini blocked_ips */
	IPP_K_BLOCKED_FILE,		/* blocked_list_file */
	IPP_NKINDS
};

struct ipp_block {
	struct netaddr	 addr;		/* an address or a network */
	bool		 permanent;
	enum ipp_kind	 kind;
	int64_t		 created;	/* unix seconds; 0: unknown (lists) */
	int64_t		 expires;	/* unix seconds; 0: permanent */
	char		 reason[IPP_REASON_MAX + 1];
};

/*
 * Told about every change of a stored block (not the lists'): added or
 * replaced (blocked), removed because it expired or the administrator
 * removed it (unblocked).  May be NULL.
 */
struct ipp_hooks {
	void		(*blocked)(void *, const struct ipp_block *);
	void		(*unblocked)(void *, const struct ipp_block *);
	void		*arg;
};

/* A list entry or a stored block found by ipp_rules_snapshot(). */
struct ipp_ref {
	struct netaddr	 addr;
	bool		 listed;	/* from the lists, not stored */
};

enum ipp_unblock {
	IPP_UNBLOCK_OK = 0,		/* a stored block was removed */
	IPP_UNBLOCK_NONE,		/* no such block */
	IPP_UNBLOCK_LISTED,		/* only the lists block it */
};

struct ipp_lists;
struct ipp_rules;
struct blzone;

const char	*ipp_kind_name(enum ipp_kind);
bool		 ipp_kind_parse(const char *, enum ipp_kind *);
const char	*ipp_rule_problem(const struct conf_ipp_rule *);
bool		 ipp_reason_ok(const char *);
void		 ipp_time_iso(char *, size_t, int64_t);
const char	*ipp_addr_parse(struct netaddr *, const char *, char *,
		    size_t);

struct ipp_lists *ipp_lists_load(const struct conf_foxdns *, struct diag *);
void		 ipp_lists_free(struct ipp_lists *);
size_t		 ipp_lists_count(const struct ipp_lists *);

struct ipp_rules *ipp_rules_new(const struct ipp_hooks *);
void		 ipp_rules_free(struct ipp_rules *);
void		 ipp_rules_configure(struct ipp_rules *,
		    const struct conf_foxdns *, struct ipp_lists *);
void		 ipp_rules_event(struct ipp_rules *, const struct ipp_event *,
		    int64_t);
void		 ipp_rules_verdict(struct ipp_rules *, const struct netaddr *,
		    int64_t, struct ipp_verdict *);
void		 ipp_rules_block(struct ipp_rules *, const struct ipp_block *);
void		 ipp_rules_restore(struct ipp_rules *,
		    const struct ipp_block *);
enum ipp_unblock ipp_rules_unblock(struct ipp_rules *, const struct netaddr *);
bool		 ipp_rules_approved(const struct ipp_rules *,
		    const struct netaddr *);
size_t		 ipp_rules_expire(struct ipp_rules *, int64_t);
int64_t		 ipp_rules_next_expiry(const struct ipp_rules *);
size_t		 ipp_rules_prune(struct ipp_rules *, int64_t);
size_t		 ipp_rules_ntracked(const struct ipp_rules *);
size_t		 ipp_rules_nblocks(const struct ipp_rules *);
json_t		*ipp_rules_explain(struct ipp_rules *, const struct netaddr *,
		    int64_t);
json_t		*ipp_block_json(const struct ipp_block *);
size_t		 ipp_rules_snapshot(const struct ipp_rules *,
		    const struct netaddr *, struct ipp_ref **);
bool		 ipp_rules_ref_get(const struct ipp_rules *,
		    const struct ipp_ref *, int64_t, struct ipp_block *);
struct blzone	*ipp_rules_zone(const struct ipp_rules *, const char *,
		    int64_t);

#endif
