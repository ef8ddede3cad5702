/*
 * bundle.h: versioned, signed configuration bundles (central controller).
 *
 * A bundle carries the shared configuration files of one configuration
 * directory from the central controller to a scanner host: the
 * controller makes one (bundle_create), the host checks it
 * (bundle_verify) and installs it (bundle_apply).  docs/central.md
 * describes the format, the keys, the versioning and how an apply stays
 * atomic across a crash.
 *
 * Framing (all integers big-endian, every length checked against what
 * is left and against the limits below):
 *
 *	"SEKISHO-BUNDLE 1\n"		magic line with the format version
 *	u64 version			monotonically increasing
 *	u64 created			unix time
 *	8 bytes key id			first 8 bytes of SHA-256(raw public key)
 *	u32 nfiles
 *	nfiles times:
 *	    u16 pathlen, path		relative, sorted strictly ascending
 *	    u32 mode			permission bits, within 0666
 *	    u32 len, bytes
 *	u8 'S', u8 64, signature	Ed25519 over every byte before 'S'
 */
#ifndef SEKISHO_BUNDLE_H
#define SEKISHO_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "diag.h"
#include "util.h"

#define BUNDLE_MAGIC		"SEKISHO-BUNDLE 1\n"
#define BUNDLE_MAGIC_PREFIX	"SEKISHO-BUNDLE "
#define BUNDLE_KEYID_LEN	8
#define BUNDLE_SIG_LEN		64
#define BUNDLE_MAX_FILES	256		/* files in one bundle */
#define BUNDLE_MAX_FILE		(4 * 1024 * 1024)	/* bytes of one file */
#define BUNDLE_MAX_SIZE		(16 * 1024 * 1024)	/* the whole bundle */
#define BUNDLE_PATH_MAX		128		/* bytes of a relative path */
#define BUNDLE_NAME_MAX		64		/* bytes of one component */

/* What bundle_apply keeps beside the files, inside confdir. */
#define BUNDLE_VERSION_FILE	".bundle-version"
#define BUNDLE_FLOOR_FILE	".bundle-floor"		/* highest ever applied */
#define BUNDLE_JOURNAL_FILE	".bundle-journal"
#define BUNDLE_LOCK_FILE	".bundle-lock"

/* The key pair sekishoctl config keygen writes into its directory. */
#define BUNDLE_PRIVKEY_NAME	"bundle.key"
#define BUNDLE_PUBKEY_NAME	"bundle.pub"

struct bundle_file {
	char		*path;		/* relative, checked by bundle_path_ok */
	uint32_t	 mode;		/* permission bits */
	uint8_t		*data;
	size_t		 len;
};

struct bundle {
	uint64_t	 version;
	uint64_t	 created;
	uint8_t		 keyid[BUNDLE_KEYID_LEN];
	struct bundle_file *files;	/* sorted by path */
	size_t		 nfiles;
};

/*
 * An extra check of the staged configuration before it replaces the old
 * one (the scan server's policy loader in sekishoctl); returns 0 or -1
 * with the reasons in the diag.
 */
typedef int	(*bundle_check_fn)(const char *, struct diag *);

int	 bundle_create(const char *, uint64_t, EVP_PKEY *, struct buf *,
	    char *, size_t);
struct bundle *bundle_parse(const uint8_t *, size_t, size_t *, char *,
	    size_t);
struct bundle *bundle_verify(const uint8_t *, size_t, EVP_PKEY *const *,
	    size_t, uint64_t, char *, size_t);
int	 bundle_apply(const struct bundle *, const char *, bundle_check_fn,
	    char *, size_t);
int	 bundle_recover(const char *, char *, size_t);
bool	 bundle_pending(const char *);
int	 bundle_applied_version(const char *, uint64_t *, char *, size_t);
int	 bundle_replay_floor(const char *, uint64_t *, char *, size_t);
int	 bundle_rollback(const char *, bundle_check_fn, char *, size_t);
void	 bundle_free(struct bundle *);
bool	 bundle_path_ok(const char *, size_t);

int	 bundle_keygen(const char *, char *, size_t);
EVP_PKEY *bundle_key_load(const char *, bool, char *, size_t);
void	 bundle_keyid(EVP_PKEY *, uint8_t [BUNDLE_KEYID_LEN]);
void	 bundle_keyid_text(const uint8_t [BUNDLE_KEYID_LEN], char *, size_t);

#endif
