/*
 * ipc_types.h: every inter-process message type of sekisho, in one list.
 *
 * The enum is generated from IMSG_TYPES so that ipc_type_name() (ipc.c)
 * can never disagree with it.  Names follow IMSG_<AREA>_<VERB>; the area
 * is the process or subsystem that owns the request.
 *
 * Values are only meaningful between processes built from the same tree
 * (all sekisho daemons on one host come from one build and speak over
 * Unix sockets); they are not a stable wire format across versions, so
 * insert new types where they belong, grouped by area.
 *
 * LATER ISSUES: add your message types here, one X(IMSG_<AREA>_<VERB>)
 * line each, in a block for your area (QUEUE, SMTP, MTA, SCAN, IPP, EUQ,
 * CONF, ...), with a comment giving the payload layout in ipc_add_* terms,
 * e.g. "u64 reqid, str name, fd spool".  Requests that expect a reply
 * carry a u64 request id first (STYLE.md).
 */
#ifndef SEKISHO_IPC_TYPES_H
#define SEKISHO_IPC_TYPES_H

#define IMSG_TYPES(X)							\
	/* Control: supervisor (manager, smtpd parent) <-> services, */ \
	/* and sekishoctl <-> manager. */				\
	X(IMSG_CTL_PING)	/* u64 reqid */				\
	X(IMSG_CTL_PONG)	/* u64 reqid */				\
	X(IMSG_CTL_RELOAD)	/* u64 reqid */				\
	X(IMSG_CTL_SHUTDOWN)	/* u64 reqid */				\
	X(IMSG_CTL_STATUS)	/* u64 reqid; reply CTL_RESULT */	\
	X(IMSG_CTL_RESULT)	/* u64 reqid, u32 status, str text */	\
	X(IMSG_CTL_LOG_VERBOSE)	/* u64 reqid, u32 log level */		\
	/* smtpd parent -> smtp. */					\
	X(IMSG_SMTP_LISTENER)	/* u8 kind (0 smtp, 1 smtps), str */	\
				/* address, u16 port, fd socket */	\
	X(IMSG_SMTP_SHUTDOWN)	/* u8 mode (0 graceful, 1 forced) */	\
	/* smtp <-> queue; peerid is the smtp session id. */		\
	X(IMSG_QUEUE_MSG_CREATE)   /* (empty) */			\
	X(IMSG_QUEUE_MSG_CREATED)  /* u8 status (QUEUE_CREATE_*), */	\
				   /* str qid or error; fd content */	\
				   /* file (write) when ok */		\
	X(IMSG_QUEUE_MSG_COMMIT)   /* str qid, data envelope text */	\
				   /* (envelope_format) */		\
	X(IMSG_QUEUE_MSG_COMMITTED) /* str qid, u8 ok, str error */	\
	X(IMSG_QUEUE_MSG_ABORT)	   /* str qid */			\
	X(IMSG_QUEUE_SPOOL_SPACE)  /* u8 low, u64 free bytes, u64 */	\
				   /* QueueMinFreeMB in bytes (queue */	\
				   /* -> smtp, when it changes) */	\
	/* parent -> queue, and sekishoctl <-> queue (queue.sock). */	\
	X(IMSG_QUEUE_CTL_LISTENER) /* fd: listening queue.sock */	\
	X(IMSG_QUEUE_CTL_LIST)	/* u64 reqid, str state ("" all), str */ \
				/* sender, str rcpt (substrings, "" */	\
				/* any), u64 min age seconds */	\
	X(IMSG_QUEUE_CTL_SHOW)	/* u64 reqid, str qid */		\
	X(IMSG_QUEUE_CTL_ENTRY)	/* u64 reqid, str json object: one */	\
				/* message (docs/sekishoctl.md) */	\
	X(IMSG_QUEUE_CTL_HOLD)	/* u64 reqid, str qid */		\
	X(IMSG_QUEUE_CTL_RELEASE) /* u64 reqid, str qid */		\
	X(IMSG_QUEUE_CTL_DELETE) /* u64 reqid, str qid */		\
	X(IMSG_QUEUE_CTL_FLUSH)	/* u64 reqid, str qid ("" all); each */ \
				/* request ends with IMSG_CTL_RESULT */	\
	/* The quarantine (docs/quarantine.md); entries come as */	\
	/* IMSG_QUEUE_CTL_ENTRY, each request ends with CTL_RESULT. */	\
	X(IMSG_QUEUE_CTL_QLIST)	/* u64 reqid, str area, str sender, */	\
				/* str rcpt ("" any), u64 since µs, */	\
				/* u64 until µs (0 open), u64 limit */	\
				/* (0 all) */				\
	X(IMSG_QUEUE_CTL_QSHOW)	/* u64 reqid, str id */			\
	X(IMSG_QUEUE_CTL_QRELEASE) /* u64 reqid, str id */		\
	X(IMSG_QUEUE_CTL_QDELETE) /* u64 reqid, str id */		\
	X(IMSG_QUEUE_CTL_QEXPORT) /* u64 reqid, str id */		\
	X(IMSG_QUEUE_CTL_QCONTENT) /* u64 reqid, u64 size; fd the */	\
				/* content (read only), before the */	\
				/* result of an IMSG_QUEUE_CTL_QEXPORT */ \
	/* queue <-> mta (docs/delivery.md). */				\
	X(IMSG_MTA_DELIVER)	/* u64 reqid, str qid, str sender, u8 */ \
				/* flags, u64 size, str domain, u32 n, */ \
				/* n * (u32 index, str rcpt); fd body */ \
	X(IMSG_MTA_RESULT)	/* u64 reqid, u32 n, n * (u32 index, */	\
				/* u8 class, str dsn, str remote, */	\
				/* str reply) */			\
	/* queue <-> scanner (run/scanner.sock, docs/scanner.md); the */ \
	/* scanner parent relays the same messages to its workers.  */ \
	X(IMSG_SCAN_OUTPUT)	/* u64 reqid; fd: an empty file (read */	\
				/* and write) for the modified copies */ \
				/* and notifications; sent just before */ \
				/* the IMSG_SCAN_REQUEST of that reqid */ \
	X(IMSG_SCAN_REQUEST)	/* u64 reqid, data envelope text; fd */	\
				/* the message content (read) */	\
	X(IMSG_SCAN_RESULT)	/* u64 reqid, then scan_reply_encode() */ \
				/* (common/scan_proto.h) */		\
	X(IMSG_SCAN_DNS)	/* worker to parent: u64 qid, u32 type */ \
				/* (enum dns_type), str name */	\
	X(IMSG_SCAN_DNS_ANSWER)	/* u64 qid, u32 status (enum */		\
				/* dns_status), u32 n, n x str record */ \
	X(IMSG_SCAN_STATUS)	/* u64 reqid, str "": the scanner's */	\
				/* state, answered as a queue.sock */	\
				/* show: IMSG_QUEUE_CTL_ENTRY (JSON) */	\
				/* then IMSG_CTL_RESULT */		\
	/* The IP profiler (run/ipprofiler.sock, docs/ipprofiler.md): */ \
	/* smtp -> queue -> ipprofiler, the queue relays and caches; */ \
	/* on the smtp <-> queue link reqid is the smtp session id. */	\
	X(IMSG_IPP_CHECK)	/* u64 reqid, str ip: is it blocked? */	\
	X(IMSG_IPP_VERDICT)	/* u64 reqid, then ipp_verdict_encode() */ \
				/* (common/ipp_proto.h) */		\
	X(IMSG_IPP_EVENT)	/* ipp_event_encode(): what one client */ \
				/* did; no reply */			\
	/* sekishoctl/manager -> ipprofiler: answered like a queue.sock */ \
	/* list: IMSG_QUEUE_CTL_ENTRY (JSON) each, then IMSG_CTL_RESULT */ \
	X(IMSG_IPP_CTL_LIST)	/* u64 reqid, str filter ("" all, or */	\
				/* an address or network it contains) */ \
	X(IMSG_IPP_CTL_BLOCK)	/* u64 reqid, str address or network, */ \
				/* u8 permanent, u32 minutes (0: */	\
				/* keep_tempblocked_mins), str reason */ \
	X(IMSG_IPP_CTL_UNBLOCK)	/* u64 reqid, str address or network */	\
	X(IMSG_IPP_CTL_EXPLAIN)	/* u64 reqid, str ip: one ENTRY (JSON) */ \
	/* sekishoctl -> sekisho-manager (run/manager.sock, */		\
	/* docs/manager.md); reload is IMSG_CTL_RELOAD {u64 reqid}. */	\
	X(IMSG_MGR_STATUS)	/* u64 reqid, str service ("" all): */	\
				/* IMSG_QUEUE_CTL_ENTRY (JSON) per */	\
				/* service, then IMSG_CTL_RESULT */	\
	X(IMSG_MGR_START)	/* u64 reqid, str service; the result */ \
				/* once it runs (or failed to) */	\
	X(IMSG_MGR_STOP)	/* u64 reqid, str service; the result */ \
				/* once it stopped (or was killed) */	\
	X(IMSG_MGR_RESTART)	/* u64 reqid, str service; stop, then */ \
				/* start; the result once it runs */	\
	/* manager parent <-> its link process (manager/daemon/mlink.c) */ \
	X(IMSG_LINK_INFO)	/* link: u32 conn; the controller asks */ \
				/* for this host's state */		\
	X(IMSG_LINK_PUSH)	/* link: u32 conn, data bundle to apply */ \
	X(IMSG_LINK_REPLY)	/* parent: u32 conn, data key=value */	\
				/* reply (agent_proto.h) */		\
	X(IMSG_LINK_SYNC)	/* parent: str host, str address, u16 */ \
				/* port, str fingerprint, u64 version, */ \
				/* data bundle ("" when none) */	\
	X(IMSG_LINK_RESULT)	/* link: str host, str result, str */	\
				/* error, data the host's key=value */	\
	X(IMSG_MGR_SYNC)	/* u64 reqid: contact every registered */ \
				/* host now; IMSG_QUEUE_CTL_ENTRY (JSON) */ \
				/* per host, then IMSG_CTL_RESULT */	\
	X(IMSG_MGR_HOSTS)	/* u64 reqid: the registered hosts and */ \
				/* what each said: an ENTRY (JSON) per */ \
				/* host, then IMSG_CTL_RESULT */	\
	/* New areas below this line. */

enum imsg_type {
	IMSG_NONE = 0,		/* never valid on the wire */
#define IMSG_TYPE_ENUM_(name)	name,
	IMSG_TYPES(IMSG_TYPE_ENUM_)
#undef IMSG_TYPE_ENUM_
	IMSG_MAX		/* one past the last valid type */
};

#endif
