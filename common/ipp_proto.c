/*
 * ipp_proto.c: events and verdicts between sekisho-smtpd and
 * sekisho-ipprofiler (ipp_proto.h).
 */
#include <string.h>

#include "ipc.h"
#include "ipp_proto.h"
#include "util.h"

static const char *const counter_names[IPP_C_MAX] = {
	"connections", "messages", "recipients", "unknown_recipients",
	"null_sender", "protocol_errors", "scanned", "spam", "virus",
};

static const char *const state_names[IPP_NSTATES] = {
	"clean", "approved", "temporary", "permanent",
};

const char *
ipp_counter_name(enum ipp_counter c)
{
	return (unsigned)c < IPP_C_MAX ? counter_names[c] : "?";
}

const char *
ipp_state_name(enum ipp_state s)
{
	return (unsigned)s < IPP_NSTATES ? state_names[s] : "?";
}

/* ipp_event_empty: true when every counter is zero. */
bool
ipp_event_empty(const struct ipp_event *e)
{
	size_t	 i;

	for (i = 0; i < IPP_C_MAX; i++)
		if (e->c[i] != 0)
			return false;
	return true;
}

/* ipp_ip_parse: one address (not a network) as text. */
bool
ipp_ip_parse(struct netaddr *a, const char *s)
{
	return netaddr_parse(a, s, strlen(s)) == NETADDR_OK && a->plen == 128;
}

/* Wire: str ip, u32 n, n x u32 counter (n == IPP_C_MAX). */
void
ipp_event_encode(struct ipc_msg *m, const struct ipp_event *e)
{
	char	 ip[NETADDR_STRLEN];
	size_t	 i;

	if (!netaddr_format(ip, sizeof(ip), &e->ip))
		ip[0] = '\0';
	ipc_add_str(m, ip);
	ipc_add_u32(m, IPP_C_MAX);
	for (i = 0; i < IPP_C_MAX; i++)
		ipc_add_u32(m, e->c[i]);
}

bool
ipp_event_decode(struct ipc_msg_in *m, struct ipp_event *e)
{
	char		 ip[IPP_IP_MAX];
	uint32_t	 n;
	size_t		 i;

	memset(e, 0, sizeof(*e));
	if (!ipc_get_str(m, ip, sizeof(ip)) || !ipp_ip_parse(&e->ip, ip) ||
	    !ipc_get_u32(m, &n) || n != IPP_C_MAX)
		return false;
	for (i = 0; i < IPP_C_MAX; i++)
		if (!ipc_get_u32(m, &e->c[i]) || e->c[i] > IPP_COUNTER_MAX)
			return false;
	return ipc_end(m);
}

/* Wire: u8 state, u64 expires, str reason. */
void
ipp_verdict_encode(struct ipc_msg *m, const struct ipp_verdict *v)
{
	ipc_add_u8(m, (uint8_t)v->state);
	ipc_add_u64(m, v->expires);
	ipc_add_str(m, v->reason);
}

bool
ipp_verdict_decode(struct ipc_msg_in *m, struct ipp_verdict *v)
{
	uint8_t	 st;
	size_t	 i;

	memset(v, 0, sizeof(*v));
	if (!ipc_get_u8(m, &st) || st >= IPP_NSTATES ||
	    !ipc_get_u64(m, &v->expires) ||
	    !ipc_get_str(m, v->reason, sizeof(v->reason)) || !ipc_end(m))
		return false;
	for (i = 0; v->reason[i] != '\0'; i++)
		if ((unsigned char)v->reason[i] < 0x20 || v->reason[i] == 0x7f)
			return false;
	v->state = st;
	return true;
}
