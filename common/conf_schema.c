/*
 * conf_schema.c: what imss.ini, tsmtpd.ini and foxdns.ini may contain.
 *
 * One row per key: exact name (the spelling is a contract with operators:
 * see SEED-FEATURES.md), type, default as text, range, the field of
 * struct sekisho_conf it fills, and a one-line description that ends up
 * in docs/config.md.  Adding a key is one row here plus one field in
 * conf.h.  CONF_FIELD checks at compile time that the field has the C type
 * the row's kind stores, so a row cannot write the wrong thing.
 */
#include <stddef.h>
#include <string.h>

#include "conf.h"
#include "util.h"

/* offsetof(struct sekisho_conf, f), or a compile error if f is not a T. */
#define CONF_FIELD(f, T)						\
	(offsetof(struct sekisho_conf, f) +				\
	0 * sizeof(_Generic(((struct sekisho_conf *)0)->f, T: 1)))

#define C_BOOL(n, d, f, s)						\
	{ .name = n, .type = CONF_T_BOOL, .def = d,			\
	  .off = CONF_FIELD(f, bool), .desc = s }
#define C_INT(n, d, lo, hi, f, s)					\
	{ .name = n, .type = CONF_T_INT, .def = d, .min = lo, .max = hi, \
	  .off = CONF_FIELD(f, long long), .desc = s }
#define C_INTZ(n, lo, hi, z, f, s)					\
	{ .name = n, .type = CONF_T_INT, .def = "0", .min = lo, .max = hi, \
	  .zero_means = z, .flags = CONF_F_ZERO_DEFAULT,		\
	  .off = CONF_FIELD(f, long long), .desc = s }
#define C_SCORE(n, d, lo, hi, f, s)					\
	{ .name = n, .type = CONF_T_SCORE, .def = d, .min = lo, .max = hi, \
	  .off = CONF_FIELD(f, double), .desc = s }
#define C_STR(n, d, maxlen, fl, f, s)					\
	{ .name = n, .type = CONF_T_STR, .def = d, .max = maxlen,	\
	  .flags = fl, .off = CONF_FIELD(f, char *), .desc = s }
#define C_TYPED(n, t, d, fl, f, s)					\
	{ .name = n, .type = t, .def = d, .max = 4095, .flags = fl,	\
	  .off = CONF_FIELD(f, char *), .desc = s }
#define C_ENUM(n, d, w, f, s)						\
	{ .name = n, .type = CONF_T_ENUM, .def = d, .words = w,		\
	  .off = CONF_FIELD(f, int), .desc = s }
#define C_IP(n, d, fl, f, s)						\
	{ .name = n, .type = CONF_T_IP, .def = d, .flags = fl,		\
	  .off = CONF_FIELD(f, struct conf_ip), .desc = s }
#define C_IPLIST(n, d, maxn, fl, f, s)					\
	{ .name = n, .type = CONF_T_IPLIST, .def = d, .max = maxn,	\
	  .flags = fl, .off = CONF_FIELD(f, struct conf_iplist), .desc = s }
#define C_HOSTPORT(n, d, port, fl, f, s)				\
	{ .name = n, .type = CONF_T_HOSTPORT, .def = d,			\
	  .zero_means = port, .flags = fl,				\
	  .off = CONF_FIELD(f, struct conf_hostport), .desc = s }
#define C_LIST(n, e, maxn, f, s)					\
	{ .name = n, .type = CONF_T_LIST, .elem = e, .def = "0",	\
	  .min = 0, .max = maxn,					\
	  .off = CONF_FIELD(f, struct conf_strlist), .desc = s }

#define C_NETLIST(n, d, fl, f, s)					\
	{ .name = n, .type = CONF_T_NETLIST, .def = d, .flags = fl,	\
	  .off = CONF_FIELD(f, struct netaddr_list), .desc = s }
#define C_DOMAINLIST(n, d, maxn, fl, f, s)				\
	{ .name = n, .type = CONF_T_DOMAINLIST, .def = d, .max = maxn,	\
	  .flags = fl, .off = CONF_FIELD(f, struct conf_strlist), .desc = s }

#define SECTION(n, d, k)	{ n, d, k, nitems(k), NULL }
#define MAP_SECTION(n, d, m)	{ n, d, NULL, 0, m }

static const char *const tls_policies[] = {
	"none", "may", "encrypt", "verify", NULL  /* enum conf_tls_policy */
};

static const char *const av_engines[] = {
	"libclamav", "clamd", NULL	/* enum conf_av_engine */
};

static const char *const spam_rspamd_modes[] = {
	"off", "combine", "only", NULL	/* enum conf_rspamd */
};

static const char *const av_outcomes[] = {
	"tempfail", "deliver", "quarantine", "delete", NULL /* conf_av_outcome */
};

static const char *const log_levels[] = {
	"err", "warn", "info", "debug", NULL	/* order of enum log_level */
};

/* imss.ini */

static const struct conf_key imss_general[] = {
	C_TYPED("data_dir", CONF_T_PATH, "/var/lib/sekisho", 0,
	    imss.data_dir,
	    "Spool, databases and quarantine live here."),
	C_TYPED("run_dir", CONF_T_PATH, "/run/sekisho", 0, imss.run_dir,
	    "Sockets and pid files live here."),
	C_TYPED("hostname", CONF_T_DOMAIN, "", CONF_F_EMPTY, imss.hostname,
	    "Host name used in SMTP greetings and generated mail; empty: "
	    "the system host name."),
	C_STR("admin_email", "postmaster", 254, 0, imss.admin_email,
	    "Address that receives administrator notifications."),
};

static const struct conf_key imss_users[] = {
	C_TYPED("manager_user", CONF_T_USER, "_sekisho-mgr", 0,
	    imss.manager_user,
	    "System user of the manager's console and API process."),
	C_TYPED("smtpd_user", CONF_T_USER, "_sekisho-smtpd", 0,
	    imss.smtpd_user,
	    "System user of the SMTP protocol and delivery processes."),
	C_TYPED("queue_user", CONF_T_USER, "_sekisho-queue", 0,
	    imss.queue_user,
	    "System user of the queue process (owner of the spool)."),
	C_TYPED("scanner_user", CONF_T_USER, "_sekisho-scan", 0,
	    imss.scanner_user, "System user of the scan server."),
	C_TYPED("ipprofiler_user", CONF_T_USER, "_sekisho-ipp", 0,
	    imss.ipprofiler_user, "System user of the IP profiler."),
	C_TYPED("euq_user", CONF_T_USER, "_sekisho-euq", 0, imss.euq_user,
	    "System user of the end-user quarantine portal."),
};

static const struct conf_key imss_manager[] = {
	C_IP("scanner_ip_addr", "", CONF_F_EMPTY, imss.scanner_ip_addr,
	    "Set on a scanner host: the address the central controller "
	    "uses to connect to this scanner host (seed 21)."),
	C_INT("console_port", "8445", 1, 65535, imss.console_port,
	    "TCP port of the administration console and JSON API (HTTPS)."),
	C_IP("console_address", "127.0.0.1", CONF_F_EMPTY,
	    imss.console_address,
	    "Address the administration console and JSON API listen on; "
	    "empty: no console."),
	C_TYPED("console_users_file", CONF_T_PATH, "console.users", 0,
	    imss.console_users_file,
	    "The console's administrators and their password hashes "
	    "(sekishoctl console passwd NAME)."),
	C_TYPED("console_cert_file", CONF_T_PATH, "tls/server.crt", 0,
	    imss.console_cert_file,
	    "Certificate chain (PEM) of the console's HTTPS."),
	C_TYPED("console_key_file", CONF_T_PATH, "tls/server.key", 0,
	    imss.console_key_file, "Private key (PEM) of console_cert_file."),
	C_INT("agent_port", "8446", 1, 65535, imss.agent_port,
	    "TCP port on which the manager accepts the central "
	    "controller's configuration pushes (mutual TLS)."),
	C_STR("services", "smtpd, scanner, ipprofiler, euq", 200, CONF_F_EMPTY,
	    imss.services,
	    "Comma-separated services sekisho-manager starts and supervises "
	    "(of smtpd, scanner, ipprofiler, euq; those whose program is not "
	    "installed are skipped); empty: none."),
	C_INT("service_stop_timeout", "150", 1, 3600,
	    imss.service_stop_timeout,
	    "Seconds a stopping service may take before the manager kills it "
	    "(seed 34)."),
	C_INT("restart_backoff_max", "60", 1, 3600, imss.restart_backoff_max,
	    "Longest wait, in seconds, before the manager restarts a service "
	    "that died (the wait starts at 1 and doubles with each death)."),
	C_INT("notify_interval_mins", "10", 0, 1440,
	    imss.notify_interval_mins,
	    "System event notices to admin_email (seed 23): at most one per "
	    "event kind and service in this many minutes (later events are "
	    "counted and summarised in the next notice); 0: no notices."),
	C_STR("notify_from", "", 254, CONF_F_EMPTY, imss.notify_from,
	    "Sender (envelope and From:) of the system event notices; "
	    "empty: postmaster@<hostname>."),
	C_INT("notify_disk_percent", "90", 0, 100, imss.notify_disk_percent,
	    "Notify when the file system of data_dir is this full, in "
	    "percent (checked every minute); 0: never."),
	C_INT("notify_queue_messages", "5000", 0, 10000000,
	    imss.notify_queue_messages,
	    "Notify when this many messages wait in the spool (queue and "
	    "incoming; checked every minute); 0: never."),
	C_INT("notify_restart_count", "5", 0, 1000, imss.notify_restart_count,
	    "Notify when a service died this many times in a row, each run "
	    "shorter than a minute; 0: never."),
	C_INT("notify_check_interval", "60", 5, 3600,
	    imss.notify_check_interval,
	    "Seconds between the manager's checks of the disk of data_dir, "
	    "the queue and the scan server's failed scans (the notices of "
	    "notify_disk_percent, notify_queue_messages and failed scans)."),
	C_INT("central_sync_interval", "60", 10, 86400,
	    imss.central_sync_interval,
	    "On a central controller: seconds between two contacts with "
	    "every registered scanner host (its state is recorded, and the "
	    "published bundle is pushed to a host that has an older one); "
	    "sekishoctl central sync contacts them at once."),
};

static const struct conf_key imss_logging[] = {
	C_ENUM("level", "info", log_levels, imss.log_level,
	    "Least important level that is logged."),
	C_INT("max_log_size_mb", "100", 100, 99999, imss.max_log_size_mb,
	    "Maximum log file size per service, in MB (seed 36)."),
	C_TYPED("log_dir", CONF_T_PATH, "", CONF_F_EMPTY, imss.log_dir,
	    "Directory of the services' log files (<service>.log, written by "
	    "sekisho-manager); empty: <data_dir>/log."),
	C_INT("tracking_retention_days", "90", 1, 3650,
	    imss.tracking_retention_days,
	    "Days the message-tracking log keeps its events."),
};

static const struct conf_section imss_sections[] = {
	SECTION("general", "Host identity and the directories sekisho uses.",
	    imss_general),
	SECTION("users", "The system user of each service (privilege "
	    "separation: one user per trust domain).", imss_users),
	SECTION("imss_manager", "The per-host manager and its link to the "
	    "central controller.", imss_manager),
	SECTION("logging", "Logging of every service.", imss_logging),
};

/* tsmtpd.ini */

static const struct conf_key tsmtpd_server[] = {
	C_IPLIST("BindAddress", "127.0.0.1", 64, 0, tsmtpd.bind_address,
	    "Comma-separated IPv4/IPv6 addresses the SMTP service listens "
	    "on."),
	C_INT("Port", "25", 1, 65535, tsmtpd.port, "SMTP port."),
	C_INT("SmtpsPort", "465", 0, 65535, tsmtpd.smtps_port,
	    "SMTP over TLS port; 0 turns it off."),
	C_BOOL("CheckDotInMailAddress", "1",
	    tsmtpd.check_dot_in_mail_address,
	    "1: reject addresses with a dot right before \"@\" (a.@x) or two "
	    "dots in a row (a..b@x) with 501; 0: accept them (seed 3)."),
	C_INTZ("RecvBufferSize", 512, 4096, CONF_RECV_BUFFER_DEFAULT,
	    tsmtpd.recv_buffer_size,
	    "Receive buffer size for the DATA phase, in bytes (seed 6)."),
	C_BOOL("DisableSvrSSLSupport", "0", tsmtpd.disable_svr_ssl_support,
	    "1: do not offer or accept STARTTLS and do not listen on "
	    "SmtpsPort (seed 17)."),
	C_BOOL("DisableAddDefaultDomainToSender", "0",
	    tsmtpd.disable_add_default_domain_to_sender,
	    "1: leave a sender address without a domain as it is; 0: append "
	    "DefaultDomain (seed 18)."),
	C_TYPED("DefaultDomain", CONF_T_DOMAIN, "", CONF_F_EMPTY,
	    tsmtpd.default_domain,
	    "Domain appended to a sender without one; empty: the host name."),
	C_STR("NrsRejectMsg", "Client host %CLIENT_IP% blocked using "
	    "%RBL_CHECK_DOMAIN%", 400, 0, tsmtpd.nrs_reject_msg,
	    "Reply text when the reputation (DNSBL) check rejects a client; "
	    "tokens %CLIENT_IP%, %RBL_CHECK_DOMAIN% (seed 22)."),
	C_STR("RblCheckDomain", "http://www.mail-abuse.com/cgi-bin/lookup?"
	    "ip_address=%CLIENT_IP%", 400, CONF_F_EMPTY,
	    tsmtpd.rbl_check_domain,
	    "Lookup URL that replaces %RBL_CHECK_DOMAIN% in NrsRejectMsg; "
	    "token %CLIENT_IP% (seed 22)."),
	C_DOMAINLIST("NrsZones", "", 16, CONF_F_EMPTY, tsmtpd.nrs_zones,
	    "Reputation (DNSBL) zones asked about every client at connect, "
	    "e.g. \"zen.spamhaus.org\"; a client listed in any of them is "
	    "refused with 554 and NrsRejectMsg; empty: no reputation "
	    "check."),
	C_INT("NrsTimeout", "5", 1, 30, tsmtpd.nrs_timeout,
	    "Seconds the reputation check may take; a client whose lookups "
	    "do not finish in time is let in (fail open)."),
	C_LIST("LdapLookupApprovedList", CONF_T_DOMAIN, 1000,
	    tsmtpd.ldap_lookup_approved_list,
	    "Recipient domains accepted without an LDAP query (seed 24)."),
	C_INT("ShutDownMode", "0", 0, 1, tsmtpd.shut_down_mode,
	    "0: graceful stop (finish sessions); 1: forced stop (seed 34)."),
	C_DOMAINLIST("AcceptedDomains", "", 10000, CONF_F_EMPTY,
	    tsmtpd.accepted_domains,
	    "Domains this gateway receives mail for (inbound); mail from "
	    "clients outside RelayNetworks to other domains is refused."),
	C_NETLIST("RelayNetworks", "127.0.0.0/8, ::1", CONF_F_EMPTY,
	    tsmtpd.relay_networks,
	    "Clients allowed to send to any domain (outbound relay)."),
	C_INT("MaxMsgSize", "20971520", 1024, 2147483647, tsmtpd.max_msg_size,
	    "Largest message accepted, in bytes (SIZE and DATA; 552 above)."),
	C_INT("MaxRcptPerMsg", "100", 1, 10000, tsmtpd.max_rcpt_per_msg,
	    "Recipients per message; more get 452."),
	C_INT("MaxErrorsPerSession", "10", 1, 1000,
	    tsmtpd.max_errors_per_session,
	    "Client errors in one session before it is closed with 421."),
	C_INT("MaxConnections", "1000", 1, 100000, tsmtpd.max_connections,
	    "Simultaneous SMTP connections in total; more get 421."),
	C_INT("MaxConnectionsPerIP", "20", 0, 100000,
	    tsmtpd.max_connections_per_ip,
	    "Simultaneous SMTP connections from one client address; 0: no "
	    "limit."),
	C_INT("CommandTimeout", "300", 1, 3600, tsmtpd.command_timeout,
	    "Seconds a client may take to send its next command, from our "
	    "reply to the end of its command line, however it trickles in "
	    "(RFC 5321 4.5.3.2); more get 421."),
	C_INT("DataTimeout", "180", 1, 3600, tsmtpd.data_timeout,
	    "Seconds allowed between two reads during DATA; the whole "
	    "transfer may also take at most DataTimeout plus one second per "
	    "KB received (an average of 1 KB/s); more get 421."),
	C_INT("QueueMinFreeMB", "100", 0, 1048576, tsmtpd.queue_min_free_mb,
	    "Free space (MB) the spool's file system must keep for accepted "
	    "mail; below it MAIL and DATA get 452 4.3.1 (at most 5% of the "
	    "file system's size is asked for); 0: only a full disk is "
	    "refused."),
	C_BOOL("GroupCommit", "1", tsmtpd.group_commit,
	    "1: messages that end their DATA in the same turn of the queue's "
	    "loop share one syncfs and one directory fsync, each still "
	    "answered 250 only once its own data is durable; 0: each message "
	    "is committed on its own (for comparison: one commit per "
	    "message, like Postfix)."),
	C_TYPED("TlsCertFile", CONF_T_PATH, "tls/server.crt", 0,
	    tsmtpd.tls_cert_file,
	    "Server certificate chain (PEM) for STARTTLS and SMTPS."),
	C_TYPED("TlsKeyFile", CONF_T_PATH, "tls/server.key", 0,
	    tsmtpd.tls_key_file, "Private key (PEM) of TlsCertFile."),
};

static const struct conf_key tsmtpd_client[] = {
	C_HOSTPORT("SmartHost", "", 25, CONF_F_EMPTY, tsmtpd.smart_host,
	    "Relay all outbound mail through this host; empty: deliver to "
	    "the recipient domain's MX hosts."),
	C_INT("MaxDNSMxToTry", "5", 1, 100, tsmtpd.max_dns_mx_to_try,
	    "At most this many MX hosts are tried per delivery attempt "
	    "(seed 20)."),
	C_STR("FailNotifyMsgSubject", "Delivery Final Failure Notice", 900, 0,
	    tsmtpd.fail_notify_msg_subject,
	    "Subject of non-delivery reports (seed 7)."),
	C_STR("FailNotifMsg", "Can not deliver the message you sent. Will "
	    "not retry.", 4000, 0, tsmtpd.fail_notif_msg,
	    "Text of non-delivery reports (seed 7)."),
	C_TYPED("HeloName", CONF_T_DOMAIN, "", CONF_F_EMPTY,
	    tsmtpd.helo_name,
	    "Name sent in EHLO/HELO; empty: the host name."),
	C_STR("DnsServers", "", 1000, CONF_F_EMPTY, tsmtpd.dns_servers,
	    "DNS servers for delivery, \"ip[:port],...\"; empty: those of "
	    "/etc/resolv.conf."),
	C_ENUM("TlsPolicy", "may", tls_policies, tsmtpd.tls_policy,
	    "STARTTLS towards next hops: none; may (when offered); encrypt "
	    "(required); verify (required, certificate checked against "
	    "TlsCAFile and the host name). [Routes] may override it."),
	C_TYPED("TlsCAFile", CONF_T_PATH,
	    "/etc/ssl/certs/ca-certificates.crt", 0, tsmtpd.tls_ca_file,
	    "Trusted CA certificates (PEM) for TlsPolicy=verify."),
	C_INT("ConnectTimeout", "30", 1, 600, tsmtpd.connect_timeout,
	    "Seconds to wait for a TCP connection to a next hop."),
	C_INT("ReplyTimeout", "300", 1, 3600, tsmtpd.reply_timeout,
	    "Seconds to wait for the greeting and each reply "
	    "(RFC 5321 4.5.3.2)."),
	C_INT("DataDoneTimeout", "600", 1, 3600, tsmtpd.data_done_timeout,
	    "Seconds to wait for the reply to the end of the message."),
	C_INT("MaxConnectionsPerDestination", "10", 1, 1000,
	    tsmtpd.max_connections_per_destination,
	    "Simultaneous connections to one next hop."),
	C_INT("MaxMessagesPerConnection", "100", 1, 100000,
	    tsmtpd.max_messages_per_connection,
	    "Messages sent over one connection before it is closed."),
	C_INT("MaxMessagesPerMinutePerDestination", "0", 0, 100000,
	    tsmtpd.max_messages_per_minute_per_destination,
	    "At most this many messages (N) started towards one next hop "
	    "per minute, spread evenly: a token bucket refilled at N/60 a "
	    "second that holds ceil(N/60) tokens, at least 1; messages over "
	    "the rate wait in the mta; 0: no limit."),
	C_INT("ConnectionCacheSeconds", "5", 0, 300,
	    tsmtpd.connection_cache_seconds,
	    "Seconds an idle connection is kept for the next message to the "
	    "same next hop; 0: no reuse."),
	C_INT("RetryMinSeconds", "300", 1, 86400, tsmtpd.retry_min_seconds,
	    "First retry delay after a temporary failure; it doubles after "
	    "each failure."),
	C_INT("RetryMaxSeconds", "4000", 1, 604800, tsmtpd.retry_max_seconds,
	    "Longest retry delay."),
	C_INT("QueueLifetimeHours", "120", 1, 8760,
	    tsmtpd.queue_lifetime_hours,
	    "A recipient still failing temporarily after this long is "
	    "bounced."),
	C_INT("DelayWarningHours", "4", 0, 8760, tsmtpd.delay_warning_hours,
	    "Send the sender one delay warning after this long; 0: never."),
	C_INT("BounceAttachLimit", "50000", 0, 10485760,
	    tsmtpd.bounce_attach_limit,
	    "Largest original message attached whole to a non-delivery "
	    "report; larger ones get their headers only."),
};

static const struct conf_map tsmtpd_routes_map = {
	"a domain: example.com (exactly) or .example.com (its subdomains)",
	"host, host:port or [IPv6]:port (its A/AAAA records, no MX lookup), "
	"or maildir:/path (local delivery, one Maildir per recipient below "
	"/path); then optionally tls=none|may|encrypt|verify",
	"example.com = mail.internal.example:25 tls=verify",
	conf_route_parse, conf_routes_free,
};

static const struct conf_section tsmtpd_sections[] = {
	SECTION("SmtpServer", "The SMTP front end: listening, protocol checks "
	    "and reply texts.", tsmtpd_server),
	SECTION("SmtpClient", "Outbound delivery and non-delivery reports.",
	    tsmtpd_client),
	MAP_SECTION("Routes", "Per-domain next hops; the longest matching "
	    "entry wins over SmartHost and MX lookup.", &tsmtpd_routes_map),
};

/* foxdns.ini */

static const char *const ipp_actions[] = {
	"log", "temp", "perm", NULL	/* enum conf_ipp_action */
};

static const struct conf_key foxdns_foxdns[] = {
	C_BOOL("enabled", "1", foxdns.enabled,
	    "1: sekisho-smtpd asks the IP profiler about every client at "
	    "connect and reports what each client does; 0: neither."),
	C_BOOL("profile_relay_clients", "0", foxdns.profile_relay_clients,
	    "1: clients in tsmtpd.ini RelayNetworks are checked and counted "
	    "by the profiler like any other; 0: they are neither, so the "
	    "organisation's own servers are never blocked for outbound mail "
	    "that bounces or is judged spam (NrsZones are never asked about "
	    "them either way)."),
	C_INT("keep_tempblocked_mins", "60", 1, 525600,
	    foxdns.keep_tempblocked_mins,
	    "Temporarily blocked IP addresses are unblocked automatically "
	    "after this many minutes (seed 1)."),
	C_STR("temp_block_reply", "450 4.7.1 Client host %CLIENT_IP% is "
	    "temporarily blocked: %REASON%", 400, 0,
	    foxdns.temp_block_reply,
	    "Reply at connect to a temporarily blocked client: a 4xx code, "
	    "optionally an enhanced status, and text; tokens %CLIENT_IP%, "
	    "%REASON%."),
	C_STR("perm_block_reply", "554 5.7.1 Client host %CLIENT_IP% is "
	    "blocked: %REASON%", 400, 0, foxdns.perm_block_reply,
	    "Reply at connect to a permanently blocked client: a 5xx code, "
	    "optionally an enhanced status, and text; tokens %CLIENT_IP%, "
	    "%REASON%."),
	C_INT("check_cache_secs", "30", 0, 3600, foxdns.check_cache_secs,
	    "Seconds sekisho-smtpd keeps the profiler's answer about one "
	    "address (dropped at once when that address does something); "
	    "0: ask at every connection."),
	C_INT("check_timeout_ms", "2000", 50, 30000, foxdns.check_timeout_ms,
	    "Milliseconds a new connection waits for the profiler's answer; "
	    "without one it is let in (fail open)."),
	C_INT("max_tracked_ips", "100000", 100, 10000000,
	    foxdns.max_tracked_ips,
	    "Client addresses whose recent behaviour is kept in memory; "
	    "beyond it the least recently seen are forgotten."),
	C_NETLIST("approved_ips", "", CONF_F_EMPTY, foxdns.approved_ips,
	    "Addresses and networks never blocked (IPv4, IPv6, CIDR); they "
	    "win over every block."),
	C_NETLIST("blocked_ips", "", CONF_F_EMPTY, foxdns.blocked_ips,
	    "Addresses and networks always blocked (permanently)."),
	C_TYPED("approved_list_file", CONF_T_PATH, "", CONF_F_EMPTY,
	    foxdns.approved_list_file,
	    "File of more approved addresses or networks, one per line "
	    "(# comments); empty: none."),
	C_TYPED("blocked_list_file", CONF_T_PATH, "", CONF_F_EMPTY,
	    foxdns.blocked_list_file,
	    "File of more blocked addresses or networks, one per line, each "
	    "optionally followed by a reason (# comments); empty: none."),
	C_TYPED("database", CONF_T_PATH, "", CONF_F_EMPTY, foxdns.database,
	    "The profiler's SQLite database (blocks); empty: "
	    "<data_dir>/ipprofiler/ipprofiler.db."),
	C_IPLIST("dns_address", "127.0.0.1", 16, 0, foxdns.dns_address,
	    "Addresses the DNSBL responder listens on (UDP and TCP)."),
	C_INT("dns_port", "0", 0, 65535, foxdns.dns_port,
	    "Port of the DNSBL responder; 0: no responder."),
	C_TYPED("dns_zone", CONF_T_DOMAIN, "bl.sekisho.invalid", 0,
	    foxdns.dns_zone,
	    "Zone the DNSBL responder serves the block list under."),
};

#define IPP_RULE(k, d_en, d_win, d_tot, d_rate, d_cnt, d_act, what)			\
	C_BOOL("enabled", d_en, foxdns.rule[k].enabled,			\
	    "1: this rule judges every client address."),		\
	C_INT("window_mins", d_win, 1, 10080, foxdns.rule[k].window_mins, \
	    "Minutes of behaviour the rule looks back over."),		\
	C_INT("min_total", d_tot, 1, 1000000, foxdns.rule[k].min_total,	\
	    "The rule judges an address only once it has at least this " \
	    "many " what " in the window."),				\
	C_INT("rate", d_rate, 0, 100, foxdns.rule[k].rate,		\
	    "Block when at least this percentage of them is bad; 0: no " \
	    "rate condition."),						\
	C_INT("count", d_cnt, 0, 1000000, foxdns.rule[k].count,		\
	    "Block when at least this many of them are bad; 0: no count " \
	    "condition."),						\
	C_ENUM("action", d_act, ipp_actions, foxdns.rule[k].action,	\
	    "log: only log; temp: block for keep_tempblocked_mins; perm: " \
	    "block until removed.")

static const struct conf_key foxdns_spam[] = {
	IPP_RULE(CONF_IPP_SPAM, "1", "60", "20", "50", "0", "temp",
	    "scanned messages"),
};

static const struct conf_key foxdns_virus[] = {
	IPP_RULE(CONF_IPP_VIRUS, "1", "60", "5", "0", "5", "temp",
	    "scanned messages"),
};

static const struct conf_key foxdns_dha[] = {
	IPP_RULE(CONF_IPP_DHA, "1", "60", "10", "0", "5", "temp",
	    "recipients"),
};

static const struct conf_key foxdns_bounce[] = {
	IPP_RULE(CONF_IPP_BOUNCE, "1", "60", "50", "80", "0", "temp",
	    "messages"),
};

static const struct conf_section foxdns_sections[] = {
	SECTION("foxdns", "The IP profiler.", foxdns_foxdns),
	SECTION("spam", "Spam runs: of the messages scanned from one "
	    "address, how many were spam.", foxdns_spam),
	SECTION("virus", "Virus outbreaks: of the messages scanned from one "
	    "address, how many carried a virus.", foxdns_virus),
	SECTION("dha", "Directory harvest: of the recipients one address "
	    "tried, how many do not exist.", foxdns_dha),
	SECTION("bounce", "Bounce floods: of the messages from one address, "
	    "how many came from the null sender.", foxdns_bounce),
};

/* policy.ini */

static const struct conf_key policy_scan[] = {
	C_BOOL("enabled", "1", policy.scan_enabled,
	    "1: every message is scanned before delivery (it waits in the "
	    "queue while no scanner runs); 0: messages are delivered "
	    "without scanning."),
	C_INT("workers", "0", 0, 256, policy.workers,
	    "Scan worker processes, each scanning one message at a time; "
	    "0: one per CPU core."),
	C_INT("scan_timeout", "120", 1, 3600, policy.scan_timeout,
	    "Wall-clock seconds one scan may take; a worker still busy then "
	    "is killed and the scan counts as failed (seed 27)."),
	C_INT("scan_cpu_seconds", "60", 1, 3600, policy.scan_cpu_seconds,
	    "CPU seconds one scan may use (seed 27)."),
	C_INT("worker_memory_mb", "1024", 64, 65536, policy.worker_memory_mb,
	    "Address space limit of a scan worker in MiB (seed 27); not "
	    "applied in sanitizer builds."),
	C_INT("max_scan_failures", "3", 1, 100, policy.max_scan_failures,
	    "Failed scans of one message (worker crashed or hit a limit) "
	    "before it is held in the failure_area quarantine and the "
	    "administrator is notified."),
	C_INT("scan_retry_seconds", "30", 1, 86400, policy.scan_retry_seconds,
	    "Seconds before a message whose scan failed is scanned again."),
	C_STR("failure_area", "scan-failure", 64, 0, policy.failure_area,
	    "Quarantine area of messages that failed max_scan_failures "
	    "scans (letters, digits, '_', '-')."),
	C_STR("archive_area", "archive", 64, 0, policy.archive_area,
	    "Quarantine area that the archive action saves copies into "
	    "(seed 9; letters, digits, '_', '-')."),
	C_INT("max_depth", "8", 1, 64, policy.max_depth,
	    "MIME and archive nesting analysed (seed 15); deeper is the "
	    "scan_limits condition's \"depth\"."),
	C_INT("max_parts", "1000", 1, 100000, policy.max_parts,
	    "MIME parts plus archive members analysed (\"count\")."),
	C_INT("max_expanded_mb", "100", 1, 4096, policy.max_expanded_mb,
	    "MiB decoded from parts and archives in total (\"size\")."),
	C_INT("max_ratio", "100", 2, 100000, policy.max_ratio,
	    "Expanded to compressed size ratio of an archive member "
	    "(\"ratio\")."),
	C_INT("max_text_kb", "1024", 1, 65536, policy.max_text_kb,
	    "KiB of text kept per part for content conditions."),
};

static const struct conf_key policy_antivirus[] = {
	C_BOOL("enabled", "1", policy.av_enabled,
	    "1: every message is checked for malware before the rules run "
	    "(the virus condition); 0: no antivirus."),
	C_ENUM("engine", "libclamav", av_engines, policy.av_engine,
	    "libclamav: the engine is loaded into the scan server and shared "
	    "by its workers; clamd: ask a clamd daemon (INSTREAM)."),
	C_TYPED("database_dir", CONF_T_PATH, "/var/lib/clamav", 0,
	    policy.av_database_dir,
	    "ClamAV signature databases (libclamav); a directory without "
	    "signatures stops the scan server at start."),
	C_STR("clamd_address", "unix:/run/clamav/clamd.ctl", 512, 0,
	    policy.av_clamd_address,
	    "clamd's socket: unix:/path, host:port or [v6addr]:port."),
	C_INT("max_scan_mb", "100", 1, 4096, policy.av_max_scan_mb,
	    "MiB the engine reads from one message, archives expanded."),
	C_INT("max_file_mb", "25", 1, 4096, policy.av_max_file_mb,
	    "MiB of one file (the message, a part or a member) the engine "
	    "scans; larger is \"too large\"."),
	C_INT("max_recursion", "18", 1, 64, policy.av_max_recursion,
	    "Archive and embedded-object nesting the engine follows; the "
	    "message is the first level, so 18 reaches what clamscan's "
	    "default of 17 reaches in a file."),
	C_INT("max_files", "10000", 1, 1000000, policy.av_max_files,
	    "Files in one message the engine scans."),
	C_INT("timeout", "60", 1, 3600, policy.av_timeout,
	    "Seconds one antivirus check may take (also the clamd "
	    "connection's deadline)."),
	C_BOOL("block_encrypted", "1", policy.av_block_encrypted,
	    "1: encrypted archives and documents are \"encrypted\" (see "
	    "on_encrypted); 0: they are scanned as far as possible."),
	C_ENUM("on_error", "tempfail", av_outcomes, policy.av_on_error,
	    "When the check fails: tempfail (scan again later; after "
	    "max_scan_failures held in failure_area), deliver, quarantine "
	    "(in outcome_area) or delete."),
	C_ENUM("on_encrypted", "quarantine", av_outcomes,
	    policy.av_on_encrypted,
	    "When a message holds an encrypted archive or document."),
	C_ENUM("on_too_large", "quarantine", av_outcomes,
	    policy.av_on_too_large,
	    "When a message goes past max_scan_mb, max_file_mb, "
	    "max_recursion, max_files or timeout."),
	C_STR("outcome_area", "unscannable", 64, 0, policy.av_outcome_area,
	    "Quarantine area of the quarantine outcomes above."),
};

static const struct conf_key policy_antispam[] = {
	C_BOOL("enabled", "1", policy.spam_enabled,
	    "1: every message is scored by the active spam rule package "
	    "before the rules run (the spam condition); 0: no spam scoring."),
	C_SCORE("level_high", "4", 1, 1000, policy.spam_level_high,
	    "Score at which a message is spam at the high catch rate (the "
	    "lowest threshold: most spam caught, most risk)."),
	C_SCORE("level_medium", "6", 1, 1000, policy.spam_level_medium,
	    "Score at which a message is spam at the medium catch rate."),
	C_SCORE("level_low", "9", 1, 1000, policy.spam_level_low,
	    "Score at which a message is spam at the low catch rate (the "
	    "highest threshold: fewest false positives)."),
	C_BOOL("add_headers", "1", policy.spam_add_headers,
	    "1: delivered mail carries X-Sekisho-Spam-Score and "
	    "X-Sekisho-Spam-Rules; 0: no headers."),
	C_TYPED("package_dir", CONF_T_PATH, "spamrules", 0,
	    policy.spam_package_dir,
	    "Where rule packages are installed (sekishoctl rules update) and "
	    "the active one is found; relative to the configuration "
	    "directory."),
	C_BOOL("sender_auth", "1", policy.spam_sender_auth,
	    "1: SPF, DKIM and DMARC are checked for every message (the spf, "
	    "dkim, dmarc conditions, the rules' signals and an "
	    "Authentication-Results header); 0: not checked."),
	C_BOOL("dns_lists", "1", policy.spam_dns_lists,
	    "1: the client address and the hosts of the message's links are "
	    "looked up in the DNS blocklists that the rule package's "
	    "dnsbl() and uribl() rules name; 0: no list is asked."),
	C_INT("dns_timeout", "5", 1, 60, policy.spam_dns_timeout,
	    "Seconds a scan waits for its DNS answers (blocklists, SPF, "
	    "DKIM, DMARC); what has not come is a temporary error."),
	C_INT("dns_cache_seconds", "300", 0, 86400,
	    policy.spam_dns_cache_seconds,
	    "Seconds the scan server keeps a DNS answer for its workers "
	    "(negative answers at most 60); 0: no cache."),
	C_ENUM("rspamd", "off", spam_rspamd_modes, policy.spam_rspamd,
	    "Ask an rspamd too: off; combine (its score is added to the "
	    "package's); only (its score alone, the package is not used).  "
	    "When rspamd cannot be asked, combine scores with the package "
	    "alone and only leaves the message unscored."),
	C_STR("rspamd_address", "127.0.0.1:11333", 300, 0,
	    policy.spam_rspamd_address,
	    "rspamd's normal worker: host:port, [v6addr]:port or "
	    "unix:/path."),
	C_INT("rspamd_timeout", "15", 1, 120, policy.spam_rspamd_timeout,
	    "Seconds one rspamd check may take."),
	C_TYPED("public_suffix_list", CONF_T_PATH,
	    "/usr/share/publicsuffix/public_suffix_list.dat", 0,
	    policy.spam_psl,
	    "The public suffix list DMARC finds organizational domains with "
	    "(Debian package publicsuffix)."),
};

static const struct conf_section policy_sections[] = {
	SECTION("scan", "Whether and how messages are scanned (the "
	    "sekisho-scanner service); the rules are [rule \"NAME\"] "
	    "sections (docs/policy.md).", policy_scan),
	SECTION("antivirus", "Malware scanning (ClamAV) before the rules; "
	    "the rules see it as the virus condition (docs/scanner.md).",
	    policy_antivirus),
	SECTION("antispam", "Spam scoring before the rules; the rules see "
	    "it as the spam condition (docs/antispam.md).", policy_antispam),
};

/* conf_check_port_pair: error if two port keys of one section collide. */
static int
conf_check_port_pair(const struct ini *ini, struct diag *d,
    const char *section, const char *k1, long long v1, const char *k2,
    long long v2)
{
	const struct ini_entry *e;

	if (v1 == 0 || v1 != v2)
		return 0;
	e = ini_find(ini, section, k2);
	if (e == NULL)
		e = ini_find(ini, section, k1);
	diag_add(d, DIAG_ERROR, ini->file, e != NULL ? e->line : 0,
	    "%s and %s are both %lld (they must differ)", k1, k2, v1);
	return 1;
}

const char *const conf_service_names[CONF_NSERVICES] = {
	"smtpd", "scanner", "ipprofiler", "euq",
};

/* conf_service_index: the index of a service name, or -1. */
int
conf_service_index(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONF_NSERVICES; i++)
		if (strcmp(name, conf_service_names[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * conf_services_parse: a services list ("smtpd, scanner": names separated
 * by commas and blanks, each at most once) as a mask of
 * conf_service_names; false with the reason in err.
 */
bool
conf_services_parse(const char *s, unsigned *mask, char *err, size_t esz)
{
	char	 word[64], q[DIAG_QUOTE_MAX];
	size_t	 n;
	int	 i;

	*mask = 0;
	for (;;) {
		s += strspn(s, ", \t");
		if (*s == '\0')
			return true;
		n = strcspn(s, ", \t");
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, s, n);
		word[n] = '\0';
		s += strcspn(s, ", \t");
		if ((i = conf_service_index(word)) == -1) {
			(void)str_printf(err, esz, "unknown service \"%s\" "
			    "(one of smtpd, scanner, ipprofiler, euq)",
			    diag_quote(q, sizeof(q), word));
			return false;
		}
		if (*mask & (1u << i)) {
			(void)str_printf(err, esz, "%s is named twice", word);
			return false;
		}
		*mask |= 1u << i;
	}
}

/* imss_check: cross-key rules of imss.ini, and the services list. */
static int
imss_check(const struct sekisho_conf *c, const struct ini *ini,
    struct diag *d)
{
	const struct ini_entry *e;
	unsigned int mask;
	char	 err[200];
	int	 n;

	n = conf_check_port_pair(ini, d, "imss_manager", "console_port",
	    c->imss.console_port, "agent_port", c->imss.agent_port);
	if (!conf_services_parse(c->imss.services, &mask, err, sizeof(err))) {
		e = ini_find(ini, "imss_manager", "services");
		diag_add(d, DIAG_ERROR, ini->file, e != NULL ? e->line : 0,
		    "services: %s", err);
		n++;
	}
	return n;
}

/* tsmtpd_check: cross-key rules of tsmtpd.ini. */
static int
tsmtpd_check(const struct sekisho_conf *c, const struct ini *ini,
    struct diag *d)
{
	return conf_check_port_pair(ini, d, "SmtpServer", "Port",
	    c->tsmtpd.port, "SmtpsPort", c->tsmtpd.smtps_port);
}

/* policy_check: the spam levels rise from high to low catch rate. */
static int
policy_check(const struct sekisho_conf *c, const struct ini *ini,
    struct diag *d)
{
	const struct conf_policy *p = &c->policy;
	const struct ini_entry *e;

	if (p->spam_level_high <= p->spam_level_medium &&
	    p->spam_level_medium <= p->spam_level_low)
		return 0;
	if ((e = ini_find(ini, "antispam", "level_medium")) == NULL &&
	    (e = ini_find(ini, "antispam", "level_high")) == NULL)
		e = ini_find(ini, "antispam", "level_low");
	diag_add(d, DIAG_ERROR, ini->file, e != NULL ? e->line : 0,
	    "[antispam] level_high (%g) <= level_medium (%g) <= level_low "
	    "(%g) must hold: a higher catch rate has a lower threshold",
	    p->spam_level_high, p->spam_level_medium, p->spam_level_low);
	return 1;
}

const struct conf_file conf_files[] = {
	{ "imss.ini", "The host: paths, system users, the manager and "
	    "logging.", true, imss_sections, nitems(imss_sections),
	    imss_check },
	{ "tsmtpd.ini", "The SMTP service: the front end ([SmtpServer]) and "
	    "delivery ([SmtpClient]).", true, tsmtpd_sections,
	    nitems(tsmtpd_sections), tsmtpd_check },
	{ "foxdns.ini", "The IP profiler.", true, foxdns_sections,
	    nitems(foxdns_sections), NULL },
	{ "policy.ini", "The scanning policy: the scan server's settings "
	    "and the rules.", false, policy_sections, nitems(policy_sections),
	    policy_check },
};
const size_t conf_nfiles = nitems(conf_files);
