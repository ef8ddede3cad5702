/*
 * mime.h: MIME analysis of one raw message into a struct scan_msg.
 *
 * GMime 3 parses the message (headers, RFC 2047 and RFC 2231, transfer
 * encodings), libmagic names the true type of every leaf and archive
 * member, libarchive opens attached archives in memory.  Nothing here
 * touches the file system after mime_init().
 */
#ifndef SEKISHO_MIME_H
#define SEKISHO_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "scan.h"

/* Defaults for struct scan_limits (the scanner's configuration may differ). */
#define MIME_DEF_DEPTH		8
#define MIME_DEF_PARTS		1000
#define MIME_DEF_EXPANDED	(100ULL * 1024 * 1024)
#define MIME_DEF_RATIO		100
#define MIME_DEF_TEXT		(1024 * 1024)

/* Told of one decoded MIME leaf (mime_analyse_leaves). */
typedef void	(*mime_leaf_fn)(void *, const struct scan_part *,
		    const uint8_t *, size_t);

int	 mime_init(char *, size_t);
void	 mime_shutdown(void);
void	 mime_limits_default(struct scan_limits *);
int	 mime_analyse(const void *, size_t, const struct scan_limits *,
	    struct scan_msg *, char *, size_t);
int	 mime_analyse_leaves(const void *, size_t, const struct scan_limits *,
	    mime_leaf_fn, void *, struct scan_msg *, char *, size_t);

#endif
