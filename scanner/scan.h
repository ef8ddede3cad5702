/*
 * scan.h: what the scanner knows about one message, between the MIME
 * analysis (mime.c: GMime, libmagic, libarchive) and the policy engine
 * (policy.c: rules, conditions, keyword lists).
 *
 * mime.c fills a struct scan_msg from the raw message; policy.c reads it
 * and never sees GMime.  Every string is UTF-8 (decoded from RFC 2047,
 * RFC 2231 and the part's charset) and NUL-terminated; lengths are given
 * where text may hold NULs.  Limits that were hit are recorded, not
 * fatal: a malformed message is analysed as far as it goes.
 */
#ifndef SEKISHO_SCAN_H
#define SEKISHO_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One header field, as decoded text. */
struct scan_header {
	char		*name;		/* as written, e.g. "Subject" */
	char		*value;		/* RFC 2047 decoded, unfolded, UTF-8 */
};

/* Why a part (or the whole message) was not analysed completely. */
#define SCAN_LIMIT_DEPTH	0x01	/* nesting deeper than allowed */
#define SCAN_LIMIT_COUNT	0x02	/* too many parts or members */
#define SCAN_LIMIT_SIZE		0x04	/* expanded size over the limit */
#define SCAN_LIMIT_RATIO	0x08	/* compression ratio over the limit */
#define SCAN_LIMIT_ENCRYPTED	0x10	/* encrypted archive or member */
#define SCAN_LIMIT_MALFORMED	0x20	/* could not be parsed (fully) */
#define SCAN_LIMIT_TIME		0x40	/* the scan's time budget ran out */

/*
 * One leaf of the MIME tree, or one member of an archive attached to it
 * (then in_archive is set and parent names the archive's part).
 */
struct scan_part {
	int		 parent;	/* index of the containing part, -1 */
	int		 depth;		/* 0 for top-level parts */
	bool		 attachment;	/* a file: has a name or is not text */
	bool		 body_text;	/* a text/plain or text/html body part */
	bool		 html;		/* text/html */
	bool		 in_archive;
	char		*filename;	/* decoded name, or NULL */
	char		*content_type;	/* declared, lower case, no params */
	char		*charset;	/* declared charset, or NULL */
	char		*true_type;	/* libmagic MIME type, or NULL */
	uint64_t	 size;		/* decoded bytes */
	char		*text;		/* UTF-8 text of the part (body text,
					   or text found in the attachment) */
	size_t		 textlen;
	unsigned	 limits;	/* SCAN_LIMIT_* hit for this part */
	char		**alt_names;	/* the other names it is given */
	size_t		 nalt_names;	/* (mime.c mime_alt_names) */
};

/* The spam verdict, decided before the rules (scanjob.c, spam.c). */
enum scan_spam_verdict {
	SCAN_SPAM_UNCHECKED = 0,	/* antispam off, or not for this mail */
	SCAN_SPAM_SCORED,		/* spam_score and spam_levels hold */
	SCAN_SPAM_EXEMPT,		/* a [spam_exemption] matched */
	SCAN_SPAM_APPROVED,		/* the sender is on approved_senders */
	SCAN_SPAM_BLOCKED,		/* the sender is on blocked_senders:
					   spam at every level */
};

/* scan_msg.spam_levels: the catch rates at which the message is spam. */
#define SCAN_SPAM_LOW		0x1	/* score >= [antispam] level_low */
#define SCAN_SPAM_MEDIUM	0x2	/* score >= level_medium */
#define SCAN_SPAM_HIGH		0x4	/* score >= level_high (the lowest
					   threshold: the highest catch rate) */

struct scan_msg {
	struct scan_header *headers;
	size_t		 nheaders;
	char		*subject;	/* decoded, NULL when there is none */
	struct scan_part *parts;
	size_t		 nparts;
	uint64_t	 size;		/* bytes of the raw message */
	size_t		 nhdr_rcpts;	/* addresses in To: and Cc: */
	unsigned	 limits;	/* SCAN_LIMIT_* hit anywhere */
	char		*virus;		/* the antivirus engine's finding
					   (a signature name), or NULL */
	enum scan_spam_verdict spam;
	double		 spam_score;
	unsigned	 spam_levels;	/* SCAN_SPAM_LOW | ... */
	/* Sender authentication (auth.c), RFC 8601 words; "" not checked. */
	char		 spf[16];
	char		 dkim[16];
	char		 dmarc[16];
	char		 dmarc_policy[16];	/* reject, quarantine, none */
};

/* Limits for the analysis (from the scanner's configuration). */
struct scan_limits {
	int		 max_depth;		/* MIME and archive nesting */
	size_t		 max_parts;		/* parts + archive members */
	uint64_t	 max_expanded;		/* bytes decoded in total */
	uint64_t	 max_ratio;		/* expanded / compressed */
	size_t		 max_text;		/* text kept per part */
};

/* A comparison in a rule ("attachment_size > 10M", "size >= 5K"). */
enum scan_cmp { CMP_GT = 0, CMP_GE, CMP_LT, CMP_LE, CMP_EQ };

/* scan_cmp_eval: v compared with n. */
static inline bool
scan_cmp_eval(enum scan_cmp c, uint64_t v, uint64_t n)
{
	switch (c) {
	case CMP_GT:	return v > n;
	case CMP_GE:	return v >= n;
	case CMP_LT:	return v < n;
	case CMP_LE:	return v <= n;
	case CMP_EQ:	return v == n;
	}
	return false;
}

void	 scan_msg_free(struct scan_msg *);

#endif
