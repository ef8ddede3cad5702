/*
 * av.h: the antivirus engine, libclamav in process or clamd over a socket.
 *
 * The scanner parent calls av_open() once (libclamav: load and compile the
 * signature database) before it forks its workers, so every worker shares
 * the compiled engine copy-on-write; a worker calls av_scan() for the raw
 * message and for each decoded part.  Nothing here blocks longer than the
 * configured timeout, and nothing keeps state between scans.
 *
 * Reload: av_open() a second engine from the new database while the old one
 * keeps serving, fork the next workers with the new one, let the old
 * workers finish their message, then av_close() the old engine in the
 * parent.  A worker never calls av_close() on the engine it inherited (it
 * would write to every page of it and so copy the whole engine); it exits.
 */
#ifndef SEKISHO_AV_H
#define SEKISHO_AV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum av_kind {
	AV_LIBCLAMAV = 0,	/* libclamav in the scanner itself */
	AV_CLAMD,		/* a clamd over its Unix or TCP socket */
};

enum av_verdict {
	AV_CLEAN = 0,
	AV_INFECTED,		/* name: the signature that matched */
	AV_ENCRYPTED,		/* encrypted archive or document (only when
				   block_encrypted, or clamd's AlertEncrypted) */
	AV_TOO_LARGE,		/* a size, file count, depth or time limit */
	AV_ERROR,		/* could not scan: name says why */
};

struct av_result {
	enum av_verdict	 verdict;
	char		 name[256];	/* virus name, limit hit or failure */
};

/*
 * Configuration.  Limits of 0 keep libclamav's default (max_scan_size
 * 400 MiB, max_file_size 100 MiB, max_recursion 17, max_files 10000,
 * timeout 120 s); with clamd the byte limits are checked before sending and
 * clamd's own limits (StreamMaxLength, MaxFileSize, ...) apply in addition.
 */
struct av_conf {
	enum av_kind	 kind;
	const char	*dbdir;		/* libclamav: signature directory */
	const char	*tmpdir;	/* libclamav: its temporary files (mail
					   parts, some archives); NULL: $TMPDIR
					   or /tmp.  Must stay writable. */
	const char	*clamd;		/* "unix:/path", "host:port",
					   "[v6addr]:port" */
	uint64_t	 max_scan_size;	/* bytes scanned per message */
	uint64_t	 max_file_size;	/* bytes of one file or member */
	unsigned	 max_recursion;	/* archive and embedded nesting */
	unsigned	 max_files;	/* members scanned per message */
	unsigned	 timeout_ms;	/* per av_scan() */
	bool		 block_encrypted; /* encrypted archives -> AV_ENCRYPTED */
};

struct av_engine;

struct av_engine *av_open(const struct av_conf *, char *, size_t);
void		 av_close(struct av_engine *);
int		 av_disable_cache(struct av_engine *);
const char	*av_version(const struct av_engine *);
unsigned	 av_signatures(const struct av_engine *);
int		 av_db_changed(struct av_engine *);
int		 av_scan(struct av_engine *, const void *, size_t,
		    struct av_result *);
const char	*av_verdict_name(enum av_verdict);

#endif
