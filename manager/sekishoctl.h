/*
 * sekishoctl.h: what the modules of sekishoctl share.
 */
#ifndef SEKISHO_SEKISHOCTL_H
#define SEKISHO_SEKISHOCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"

/* Must be at least the queue's QUEUE_CTL_MAX_PAYLOAD (smtpd/queue.h). */
#define CTL_MAX_PAYLOAD		(1024 * 1024)
#define CTL_TIMEOUT_MS		30000	/* per reply message */
#define CTL_REQID		1	/* one request per connection */

struct ipc_msg;
struct ipc_msg_in;
struct ctl_req;

/* What a command's answer holds (ctl_req.c reads it accordingly). */
enum ctl_kind {
	CTL_LIST,		/* entries, then their count */
	CTL_SHOW,		/* exactly one entry */
	CTL_ACTION,		/* the result only */
};

/* One command of queue.sock: a row of a command table. */
struct ctl_cmd {
	const char	*name;		/* list, show, hold, ... */
	uint32_t	 type;		/* IMSG_QUEUE_CTL_* */
	enum ctl_kind	 kind;
	/* An action's success instead of printing its text; or NULL. */
	int		(*done)(struct ctl_req *);
};

/* How one family of commands (queue, quarantine, scanner) asks and shows. */
struct ctl_view {
	const char	*sock;		/* in run_dir: "queue.sock", ... */
	const char	*daemon;	/* who answers: "sekisho-smtpd", ... */
	const char	*idkey;		/* the id's key in --json results */
	/* The list filters, after the request id. */
	void		(*filters)(struct ipc_msg *, const struct ctl_req *);
	/*
	 * Another payload than the id for a command that is not a list
	 * (after the request id), or NULL: the id as a string.
	 */
	void		(*args)(struct ipc_msg *, const struct ctl_req *);
	/* Why an entry cannot be trusted, or NULL. */
	const char	*(*check)(const json_t *, const struct ctl_req *);
	void		(*header)(void);	/* list: column titles */
	void		(*row)(const json_t *);	/* list: one entry */
	void		(*show)(const json_t *);	/* show: the entry */
	/* Another reply than ENTRY or RESULT, or NULL; 0, or 1 (failed). */
	int		(*other)(struct ctl_req *, struct ipc_msg_in *);
	/* Who may connect, for "permission denied" (NULL: the queue user). */
	const char	*allowed;
	/* How long a reply may take, from the configuration (NULL: */
	/* CTL_TIMEOUT_MS). */
	int		(*timeout_ms)(const struct sekisho_conf *);
};

/* One request over a control socket and what came back so far. */
struct ctl_req {
	const struct ctl_view *view;
	const struct ctl_cmd *cmd;
	const char	*id;		/* "" for none */
	bool		 json;		/* --json */
	void		*arg;		/* the family's own part */
	uint64_t	 nentries;	/* received so far */
	const char	*sockpath;	/* while ctl_req_run runs */
	int		 timeout_ms;	/* per reply, while it runs */
};

int	 ctl_load(const char *, struct sekisho_conf *, bool);
const char *ctl_safe(char *, size_t, const char *);
const char *ctl_age(char *, size_t, long long);
const char *ctl_size(char *, size_t, long long);
const char *ctl_time(char *, size_t, time_t);
bool	 ctl_jhas(const json_t *, const char *, int, bool);
const char *ctl_jstr(const json_t *, const char *);
long long ctl_jint(const json_t *, const char *);

/* ctl_req.c */
bool	 ctl_id_ok(const char *);
const struct ctl_cmd *ctl_cmd_find(const struct ctl_cmd *, size_t,
	    const char *);
int	 ctl_malformed(const struct ctl_req *, const char *);
int	 ctl_req_run(const char *, struct ctl_req *);

int	 cmd_log(const char *, int, char **, bool);
int	 cmd_quarantine(const char *, int, char **, bool);
int	 cmd_scanner(const char *, int, char **, bool);
int	 cmd_rules(const char *, int, char **, bool);
int	 cmd_ipprofiler(const char *, int, char **, bool);
int	 cmd_service(const char *, int, char **, bool);
int	 cmd_config_bundle(const char *, int, char **);
int	 cmd_central(const char *, int, char **, bool);
int	 cmd_console(const char *, int, char **, bool);

#endif
