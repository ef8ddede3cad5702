/*
 * hosts.h: the scanner hosts a central controller pushes to
 * (docs/central.md "Hosts").
 *
 * The registry, CONFDIR/central/hosts, is what the administrator decided
 * (sekishoctl central host add|remove): one host per line,
 *
 *	NAME ADDRESS PORT FINGERPRINT REGISTERED
 *
 * separated by single spaces: the host's name (enrol_name_ok), the
 * numeric address and port the controller connects to (the host's
 * scanner_ip_addr and agent_port, seed 21), the SHA-256 fingerprint of
 * the certificate the controller issued to it (64 lower-case hex digits;
 * the host must present exactly that certificate), and when it was
 * registered (unix seconds).  Lines starting with '#' and empty lines
 * are skipped; anything else that does not parse fails the whole load
 * with file:line.  At most HOSTS_MAX hosts; names, and address with port,
 * are unique.
 *
 * The state, DATA_DIR/central/hosts.json, is what the manager last heard
 * from each host: a JSON object keyed by host name, each value
 *
 *	{ "last_attempt": T, "last_contact": T or 0, "result": "ok" |
 *	  "applied" | "refused" | "unreachable" | "error", "error": "...",
 *	  "info": { the host's last AGENT_REPLY key=value pairs } }
 *
 * Each contact replaces the host's entry whole, so nothing a host stopped
 * reporting survives an upgrade (seed 31).  Written atomically (temporary
 * file, fsync, rename) by the manager; read by sekishoctl.
 */
#ifndef SEKISHO_HOSTS_H
#define SEKISHO_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "enrol.h"

#define HOSTS_FILE	"hosts"
#define HOSTS_STATE	"hosts.json"
#define HOSTS_MAX	1024

struct host_entry {
	char		 name[ENROL_NAME_MAX + 1];
	char		 address[64];
	uint16_t	 port;
	char		 fpr[ENROL_FPR_LEN + 1];
	int64_t		 registered;
};

struct host_reg {
	struct host_entry *v;
	size_t		 n;
};

/* Missing file: an empty registry. */
int	 hosts_load(const char *, struct host_reg *, char *, size_t);
int	 hosts_parse(const char *, size_t, const char *, struct host_reg *,
	    char *, size_t);
int	 hosts_save(const char *, const struct host_reg *, char *, size_t);
int	 hosts_add(struct host_reg *, const struct host_entry *, char *,
	    size_t);
bool	 hosts_remove(struct host_reg *, const char *);
const struct host_entry *hosts_find(const struct host_reg *, const char *);
void	 hosts_free(struct host_reg *);

/* One host for sekishoctl and the console: its registry fields, then
 * what hosts.json says of it (st, may be NULL). */
json_t	*hosts_entry_json(const struct host_entry *, const json_t *);

#endif
