/*
 * spool.h: the queue's durable message store (owned by the queue process).
 *
 * A message is two files named by its queue id: <id>.msg (the content) and
 * <id>.env (the envelope).  Both are written in tmp/, made durable, and
 * renamed into their state directory, the envelope last; the directory is
 * fsynced before the commit is reported (spool.c: the four commit steps,
 * which the queue batches across messages).  A message exists in a state exactly when its
 * envelope file is there, so a crash at any moment leaves either a whole
 * message or leftovers of one never acknowledged.  docs/spool.md has the
 * layout and the recovery rules.
 */
#ifndef SEKISHO_SPOOL_H
#define SEKISHO_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "envelope.h"

enum spool_state {
	SPOOL_INCOMING = 0,	/* accepted, waiting for the scanner */
	SPOOL_QUEUE,		/* ready for delivery */
	SPOOL_HOLD,		/* held by the administrator */
	SPOOL_CORRUPT,		/* unreadable envelopes, kept for the admin */
	SPOOL_NSTATES
};

struct spool {
	int	 dirfd;
	int	 tmpfd;
	int	 statefd[SPOOL_NSTATES];
	uint64_t last_id;
};

typedef void (*spool_recover_cb)(enum spool_state, struct envelope *, void *);

const char *spool_state_name(enum spool_state);
const char *spool_fname(char *, size_t, const char *, const char *);
bool	 spool_is_fname(const char *, const char *);
int	 spool_open(struct spool *, const char *, char *, size_t);
void	 spool_close(struct spool *);
void	 spool_id_new(struct spool *, char *);
int	 spool_body_create(struct spool *, char *);
int	 spool_body_create_as(struct spool *, const char *);
int	 spool_body_link(struct spool *, enum spool_state, const char *,
	    const char *);
bool	 spool_exists(struct spool *, enum spool_state, const char *);
int	 spool_stage(struct spool *, const struct envelope *, char *, size_t);
int	 spool_sync(struct spool *, char *, size_t);
int	 spool_publish(struct spool *, enum spool_state, const char *, char *,
	    size_t);
void	 spool_unpublish(struct spool *, enum spool_state, const char *);
int	 spool_sync_state(struct spool *, enum spool_state, char *, size_t);
int	 spool_commit(struct spool *, enum spool_state, const struct envelope *,
	    char *, size_t);
int	 spool_rewrite(struct spool *, enum spool_state,
	    const struct envelope *, char *, size_t);
int	 spool_move(struct spool *, enum spool_state, enum spool_state,
	    const char *, char *, size_t);
void	 spool_abort(struct spool *, const char *);
int	 spool_body_open(struct spool *, enum spool_state, const char *);
int	 spool_recover(struct spool *, spool_recover_cb, void *);
int	 spool_remove(struct spool *, enum spool_state, const char *);

#endif
