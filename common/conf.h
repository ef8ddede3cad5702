/*
 * conf.h: the typed configuration of a sekisho host.
 *
 * conf_load() reads imss.ini, tsmtpd.ini and foxdns.ini from one
 * configuration directory into struct sekisho_conf.  What each file may
 * contain is declared as data in conf_schema.c: one row per key with its
 * section, exact name, type, default (as text, parsed by the same code as
 * a value from the file), valid range, a one-line description and the
 * field it fills.  The same tables drive validation, defaults, conf_free,
 * the generated reference (docs/config.md, tools/confdoc.c) and the tests,
 * so adding a key is one table row plus one struct field.
 *
 * Unknown sections and keys are warnings; invalid values, missing list
 * items and missing files are errors.  All of them go to a struct diag as
 * "file:line: message".  Of policy.ini only [scan] is read here; its
 * [rule "NAME"] sections belong to the scan server (scanner/policy.c),
 * which validates them.
 */
#ifndef SEKISHO_CONF_H
#define SEKISHO_CONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "ini.h"
#include "netaddr.h"
#include "util.h"

/* An IP address value; family AF_UNSPEC when the value was empty. */
struct conf_ip {
	int			 family;	/* AF_INET, AF_INET6, AF_UNSPEC */
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	}			 addr;
	char			 text[INET6_ADDRSTRLEN];	/* canonical */
};

/* A comma-separated list of IP addresses. */
struct conf_iplist {
	struct conf_ip		*v;
	size_t			 n;
};

/* "host[:port]" or "[v6]:port"; host NULL when the value was empty. */
struct conf_hostport {
	char			*host;		/* without brackets */
	int			 port;
};

/* The items of an indexed list (XCount=N, X0..X(N-1)); n is N. */
struct conf_strlist {
	char			**v;
	size_t			 n;
};

/* [Routes]: where mail for a domain goes instead of its MX hosts. */
enum conf_route_kind {
	CONF_ROUTE_SMTP = 0,	/* host[:port], A/AAAA, no MX lookup */
	CONF_ROUTE_MAILDIR,	/* maildir:/path, one Maildir per recipient */
};

enum conf_tls_policy {
	CONF_TLS_NONE = 0,	/* never STARTTLS */
	CONF_TLS_MAY,		/* STARTTLS when offered, any certificate */
	CONF_TLS_ENCRYPT,	/* STARTTLS required, any certificate */
	CONF_TLS_VERIFY,	/* STARTTLS required, certificate verified */
};

struct conf_route {
	char			*domain;	/* example.com or .example.com */
	int			 kind;		/* enum conf_route_kind */
	char			*host;		/* SMTP: name or IP, no brackets */
	int			 port;		/* SMTP */
	char			*path;		/* MAILDIR: absolute */
	int			 tls;		/* enum conf_tls_policy, or -1:
						   [SmtpClient] TlsPolicy */
	unsigned		 line;		/* where it was set */
};

struct conf_routes {
	struct conf_route	*v;
	size_t			 n;
};

/* imss.ini: host, paths, users, manager, logging. */
struct conf_imss {
	/* [general] */
	char			*data_dir;
	char			*run_dir;
	char			*hostname;		/* "" = system host name */
	char			*admin_email;
	/* [users] */
	char			*manager_user;
	char			*smtpd_user;
	char			*queue_user;
	char			*scanner_user;
	char			*ipprofiler_user;
	char			*euq_user;
	/* [imss_manager] */
	struct conf_ip		 scanner_ip_addr;	/* seed 21 */
	long long		 console_port;
	struct conf_ip		 console_address;	/* unset: no console */
	char			*console_users_file;
	char			*console_cert_file;
	char			*console_key_file;
	long long		 agent_port;
	char			*services;	/* conf_services_parse */
	long long		 service_stop_timeout;	/* seconds, seed 34 */
	long long		 restart_backoff_max;	/* seconds */
	long long		 notify_interval_mins;	/* 0 = no notices */
	char			*notify_from;	/* "" = postmaster@host */
	long long		 notify_disk_percent;	/* 0 = off */
	long long		 notify_queue_messages;	/* 0 = off */
	long long		 notify_restart_count;	/* 0 = off */
	long long		 central_sync_interval;	/* seconds */
	long long		 notify_check_interval;	/* seconds */
	/* [logging] */
	int			 log_level;		/* enum log_level */
	char			*log_dir;	/* "" = <data_dir>/log */
	long long		 max_log_size_mb;	/* seed 36 */
	long long		 tracking_retention_days;
};

/* tsmtpd.ini: the SMTP front end and delivery. */
struct conf_tsmtpd {
	/* [SmtpServer] */
	struct conf_iplist	 bind_address;
	long long		 port;
	long long		 smtps_port;		/* 0 = off */
	bool			 check_dot_in_mail_address;	/* seed 3 */
	long long		 recv_buffer_size;	/* seed 6; 8196 if 0 */
	bool			 disable_svr_ssl_support;	/* seed 17 */
	bool			 disable_add_default_domain_to_sender; /* 18 */
	char			*default_domain;	/* "" = host name */
	char			*nrs_reject_msg;	/* seed 22 */
	char			*rbl_check_domain;	/* seed 22 */
	struct conf_strlist	 nrs_zones;		/* empty = off */
	long long		 nrs_timeout;		/* seconds */
	struct conf_strlist	 ldap_lookup_approved_list;	/* seed 24 */
	long long		 shut_down_mode;	/* seed 34 */
	struct conf_strlist	 accepted_domains;	/* patterns */
	struct netaddr_list	 relay_networks;
	long long		 max_msg_size;		/* bytes */
	long long		 max_rcpt_per_msg;
	long long		 max_errors_per_session;
	long long		 max_connections;
	long long		 max_connections_per_ip;	/* 0 = none */
	long long		 command_timeout;	/* seconds */
	long long		 data_timeout;		/* seconds */
	long long		 queue_min_free_mb;	/* spool reserve, MB */
	bool			 group_commit;	/* docs/spool.md */
	char			*tls_cert_file;
	char			*tls_key_file;
	/* [SmtpClient] */
	struct conf_hostport	 smart_host;		/* host NULL = MX */
	long long		 max_dns_mx_to_try;	/* seed 20 */
	char			*fail_notify_msg_subject;	/* seed 7 */
	char			*fail_notif_msg;		/* seed 7 */
	char			*helo_name;		/* "" = host name */
	char			*dns_servers;		/* "" = resolv.conf */
	int			 tls_policy;	/* enum conf_tls_policy */
	char			*tls_ca_file;
	long long		 connect_timeout;	/* seconds */
	long long		 reply_timeout;		/* seconds */
	long long		 data_done_timeout;	/* seconds */
	long long		 max_connections_per_destination;
	long long		 max_messages_per_connection;
	long long		 max_messages_per_minute_per_destination;
	long long		 connection_cache_seconds;	/* 0 = no reuse */
	long long		 retry_min_seconds;
	long long		 retry_max_seconds;
	long long		 queue_lifetime_hours;
	long long		 delay_warning_hours;	/* 0 = off */
	long long		 bounce_attach_limit;	/* bytes */
	/* [Routes] */
	struct conf_routes	 routes;
};

/* foxdns.ini: the IP profiler (docs/ipprofiler.md). */
enum conf_ipp_kind {			/* one rule section each */
	CONF_IPP_SPAM = 0,
	CONF_IPP_VIRUS,
	CONF_IPP_DHA,			/* directory harvest */
	CONF_IPP_BOUNCE,		/* mail from the null sender */
	CONF_IPP_NKINDS
};

enum conf_ipp_action {
	CONF_IPP_LOG = 0,		/* log that the rule matched, only */
	CONF_IPP_TEMP,			/* block for keep_tempblocked_mins */
	CONF_IPP_PERM,			/* block until removed */
};

struct conf_ipp_rule {
	bool			 enabled;
	long long		 window_mins;
	long long		 min_total;	/* judge from this many on */
	long long		 rate;		/* percent bad; 0 = not used */
	long long		 count;		/* bad ones; 0 = not used */
	int			 action;	/* enum conf_ipp_action */
};

struct conf_foxdns {
	/* [foxdns] */
	bool			 enabled;
	bool			 profile_relay_clients;
	long long		 keep_tempblocked_mins;	/* seed 1 */
	char			*temp_block_reply;
	char			*perm_block_reply;
	long long		 check_cache_secs;
	long long		 check_timeout_ms;
	long long		 max_tracked_ips;
	struct netaddr_list	 approved_ips;
	struct netaddr_list	 blocked_ips;
	char			*approved_list_file;	/* "" = none */
	char			*blocked_list_file;	/* "" = none */
	char			*database;
	struct conf_iplist	 dns_address;
	long long		 dns_port;		/* 0 = off */
	char			*dns_zone;
	/* [spam], [virus], [dha], [bounce] */
	struct conf_ipp_rule	 rule[CONF_IPP_NKINDS];
};

/* policy.ini: whether messages are scanned at all (rules: policy.c). */
struct conf_policy {
	/* [scan] */
	bool			 scan_enabled;
	long long		 workers;		/* 0 = one per core */
	long long		 scan_timeout;		/* seconds, wall */
	long long		 scan_cpu_seconds;
	long long		 worker_memory_mb;
	long long		 max_scan_failures;
	long long		 scan_retry_seconds;
	char			*failure_area;
	char			*archive_area;
	long long		 max_depth;
	long long		 max_parts;
	long long		 max_expanded_mb;
	long long		 max_ratio;
	long long		 max_text_kb;
	/* [antivirus] */
	bool			 av_enabled;
	int			 av_engine;	/* enum conf_av_engine */
	char			*av_database_dir;
	char			*av_clamd_address;
	long long		 av_max_scan_mb;
	long long		 av_max_file_mb;
	long long		 av_max_recursion;
	long long		 av_max_files;
	long long		 av_timeout;
	bool			 av_block_encrypted;
	int			 av_on_error;	/* enum conf_av_outcome */
	int			 av_on_encrypted;
	int			 av_on_too_large;
	char			*av_outcome_area;
	bool			 spam_enabled;
	double			 spam_level_high;
	double			 spam_level_medium;
	double			 spam_level_low;
	bool			 spam_add_headers;
	char			*spam_package_dir;
	bool			 spam_sender_auth;
	bool			 spam_dns_lists;
	long long		 spam_dns_timeout;
	long long		 spam_dns_cache_seconds;
	char			*spam_psl;
	int			 spam_rspamd;	/* enum conf_rspamd */
	char			*spam_rspamd_address;
	long long		 spam_rspamd_timeout;
};

enum conf_rspamd {
	CONF_RSPAMD_OFF = 0,
	CONF_RSPAMD_COMBINE,
	CONF_RSPAMD_ONLY,
};

enum conf_av_engine {
	CONF_AV_LIBCLAMAV = 0,
	CONF_AV_CLAMD,
};

enum conf_av_outcome {
	CONF_AV_TEMPFAIL = 0,
	CONF_AV_DELIVER,
	CONF_AV_QUARANTINE,
	CONF_AV_DELETE,
};

struct sekisho_conf {
	char			*confdir;	/* absolute */
	struct conf_imss	 imss;
	struct conf_tsmtpd	 tsmtpd;
	struct conf_foxdns	 foxdns;
	struct conf_policy	 policy;
};

/* The schema (conf_schema.c). */
enum conf_type {
	CONF_T_BOOL,		/* bool */
	CONF_T_INT,		/* long long in [min, max] */
	CONF_T_STR,		/* char *, at most max bytes */
	CONF_T_PATH,		/* char *, made absolute */
	CONF_T_ENUM,		/* int: index into words */
	CONF_T_IP,		/* struct conf_ip */
	CONF_T_IPLIST,		/* struct conf_iplist, at most max items */
	CONF_T_HOSTPORT,	/* struct conf_hostport */
	CONF_T_DOMAIN,		/* char *, a DNS host or domain name */
	CONF_T_USER,		/* char *, a system user name */
	CONF_T_LIST,		/* struct conf_strlist of elem, count in [min, max] */
	CONF_T_NETLIST,		/* struct netaddr_list: addresses and CIDR nets */
	CONF_T_DOMAINLIST,	/* struct conf_strlist: domain patterns */
	CONF_T_SCORE,		/* double in [min, max], at most two
				   decimals ("5", "4.5", "12.25") */
};

#define CONF_F_EMPTY		0x01	/* an empty value is allowed */
#define CONF_F_ZERO_DEFAULT	0x02	/* INT: 0 means zero_means */

struct conf_key {
	const char		*name;		/* exact spelling */
	enum conf_type		 type;
	enum conf_type		 elem;		/* CONF_T_LIST items */
	const char		*def;		/* default, as text */
	long long		 min, max;
	long long		 zero_means;	/* INT 0 value; HOSTPORT port */
	unsigned		 flags;
	const char *const	*words;		/* ENUM, NULL-terminated */
	size_t			 off;		/* in struct sekisho_conf */
	const char		*desc;		/* one line */
};

/*
 * A section whose keys are names the administrator chooses (the domains of
 * [Routes]): every entry is handed to parse(); free() releases what the
 * entries built.  The syntax texts feed docs/config.md.
 */
struct conf_map {
	const char		*key_syntax;
	const char		*value_syntax;
	const char		*example;	/* "key = value" for templates */
	int			(*parse)(struct sekisho_conf *, const char *,
				    const char *, unsigned, char *, size_t);
	void			(*free)(struct sekisho_conf *);
};

struct conf_section {
	const char		*name;		/* as documented */
	const char		*desc;
	const struct conf_key	*keys;
	size_t			 nkeys;
	const struct conf_map	*map;		/* or NULL */
};

struct conf_file {
	const char		*name;		/* "tsmtpd.ini" */
	const char		*desc;
	bool			 required;
	const struct conf_section *sections;
	size_t			 nsections;
	/* Checks across keys after the values are in; returns errors. */
	int			(*check)(const struct sekisho_conf *,
				    const struct ini *, struct diag *);
};

extern const struct conf_file	conf_files[];
extern const size_t		conf_nfiles;

int	 conf_load(const char *, struct sekisho_conf *, struct diag *);
void	 conf_free(struct sekisho_conf *);
int	 conf_apply(struct sekisho_conf *, const struct conf_file *,
	    const struct ini *, struct diag *);
const struct conf_file *conf_file_find(const char *);
const char *conf_type_name(const struct conf_key *);
const char *conf_valid_text(const struct conf_key *, char *, size_t);
int	 conf_parse_value(struct sekisho_conf *, const struct conf_key *,
	    const char *, char *, size_t);
void	 conf_free_value(struct sekisho_conf *, const struct conf_key *);
void	 conf_value_text(const struct sekisho_conf *, const struct conf_key *,
	    struct buf *);
const struct conf_key *conf_key_find(const struct conf_file *, const char *,
	    const char *);
int	 conf_route_parse(struct sekisho_conf *, const char *, const char *,
	    unsigned, char *, size_t);
void	 conf_routes_free(struct sekisho_conf *);
const struct conf_route *conf_route_find(const struct conf_routes *,
	    const char *);
const char *conf_tls_policy_name(int);

/*
 * The services sekisho-manager may supervise, by the names [imss_manager]
 * services uses ("smtpd" runs the program sekisho-smtpd); bit i of a mask
 * from conf_services_parse() is conf_service_names[i].
 */
#define CONF_NSERVICES		4
extern const char *const	conf_service_names[CONF_NSERVICES];
int	 conf_service_index(const char *);
bool	 conf_services_parse(const char *, unsigned *, char *, size_t);

/* The value of a CONF_F_ZERO_DEFAULT integer after "0" was resolved. */
#define CONF_RECV_BUFFER_DEFAULT	8196

#endif
