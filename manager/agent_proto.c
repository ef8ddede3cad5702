/*
 * agent_proto.c: the frames and key=value replies of the link between
 * the central controller and a scanner host's manager (agent_proto.h,
 * docs/central.md "The push").
 *
 * Owns nothing but the wire format: the length-prefixed frame and the
 * strict key=value line format.  Both parsers take bytes from the other
 * end of a network link, so they never read past what they were given
 * and refuse anything the format does not allow, saying where.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent_proto.h"

/* The big-endian length before the type byte. */
#define AGENT_HDR_LEN	4

/* agent_type_ok: whether t is one of enum agent_msg. */
static bool
agent_type_ok(uint8_t t)
{
	switch (t) {
	case AGENT_INFO:
	case AGENT_PUSH:
	case AGENT_REPLY:
		return true;
	default:
		return false;
	}
}

/*
 * agent_frame_parse: the frame at the start of data.  The length and the
 * type are checked as soon as their bytes are there, so a peer cannot make
 * us wait for (and buffer) a frame we would refuse anyway.
 */
int
agent_frame_parse(const uint8_t *data, size_t avail, uint8_t *type,
    const uint8_t **payload, size_t *plen, size_t *used, char *err,
    size_t errlen)
{
	uint32_t	 len;

	if (avail < AGENT_HDR_LEN)
		return 0;
	len = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
	    (uint32_t)data[2] << 8 | (uint32_t)data[3];
	if (len == 0)
		return str_fail(err, errlen, "frame length 0");
	if (len > AGENT_FRAME_MAX)
		return str_fail(err, errlen, "frame length %lu over the "
		    "limit of %lu", (unsigned long)len,
		    (unsigned long)AGENT_FRAME_MAX);
	if (avail == AGENT_HDR_LEN)
		return 0;
	if (!agent_type_ok(data[AGENT_HDR_LEN]))
		return str_fail(err, errlen, "unknown frame type 0x%02x",
		    data[AGENT_HDR_LEN]);
	if (avail - AGENT_HDR_LEN < len)
		return 0;
	*type = data[AGENT_HDR_LEN];
	*payload = data + AGENT_HDR_LEN + 1;
	*plen = (size_t)len - 1;
	*used = AGENT_HDR_LEN + (size_t)len;
	return 1;
}

/*
 * agent_frame_add: append one frame; false (the buffer unchanged) when
 * the payload is too long, the type unknown or the buffer's limit is hit.
 */
bool
agent_frame_add(struct buf *b, uint8_t type, const void *payload, size_t len)
{
	uint8_t	 hdr[AGENT_HDR_LEN + 1];
	size_t	 old = b->len;
	uint32_t n;

	if (len > AGENT_FRAME_MAX - 1 || !agent_type_ok(type))
		return false;
	n = (uint32_t)(len + 1);
	hdr[0] = (uint8_t)(n >> 24);
	hdr[1] = (uint8_t)(n >> 16);
	hdr[2] = (uint8_t)(n >> 8);
	hdr[3] = (uint8_t)n;
	hdr[4] = type;
	if (!buf_add(b, hdr, sizeof(hdr)) || !buf_add(b, payload, len)) {
		b->len = old;
		return false;
	}
	return true;
}

/* agent_key_ok: whether the len bytes at k are an allowed key. */
static bool
agent_key_ok(const char *k, size_t len)
{
	size_t	 i;

	if (len == 0 || len > AGENT_KEY_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		    (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return true;
}

/* agent_val_ok: whether the len bytes at v are an allowed value. */
static bool
agent_val_ok(const char *v, size_t len)
{
	size_t	 i;

	if (len > AGENT_VAL_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return false;
	return true;
}

/* agent_kv_find: the index of key in kv, or -1. */
static int
agent_kv_find(const struct agent_kv *kv, const char *key)
{
	size_t	 i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->e[i].k, key) == 0)
			return (int)i;
	return -1;
}

/*
 * agent_kv_line: check one line (without its newline) and add it to kv;
 * -1 with the reason (line number included) otherwise.
 */
static int
agent_kv_line(struct agent_kv *kv, size_t lineno, const char *s, size_t len,
    char *err, size_t errlen)
{
	const char	*eq;
	size_t		 klen, vlen;

	if ((eq = memchr(s, '=', len)) == NULL)
		return str_fail(err, errlen, "line %zu: missing '='",
		    lineno);
	klen = (size_t)(eq - s);
	vlen = len - klen - 1;
	if (klen == 0)
		return str_fail(err, errlen, "line %zu: empty key", lineno);
	if (klen > AGENT_KEY_MAX)
		return str_fail(err, errlen, "line %zu: key too long "
		    "(%zu bytes, at most %d)", lineno, klen, AGENT_KEY_MAX);
	if (!agent_key_ok(s, klen))
		return str_fail(err, errlen, "line %zu: bad character in "
		    "key (allowed: a-z 0-9 _)", lineno);
	if (vlen > AGENT_VAL_MAX)
		return str_fail(err, errlen, "line %zu: value too long "
		    "(%zu bytes, at most %d)", lineno, vlen, AGENT_VAL_MAX);
	if (!agent_val_ok(eq + 1, vlen))
		return str_fail(err, errlen, "line %zu: bad character in "
		    "value (allowed: printable ASCII)", lineno);
	memcpy(kv->e[kv->n].k, s, klen);
	kv->e[kv->n].k[klen] = '\0';
	if (agent_kv_find(kv, kv->e[kv->n].k) != -1)
		return str_fail(err, errlen, "line %zu: duplicate key %s",
		    lineno, kv->e[kv->n].k);
	memcpy(kv->e[kv->n].v, eq + 1, vlen);
	kv->e[kv->n].v[vlen] = '\0';
	kv->n++;
	return 0;
}

/*
 * agent_kv_parse: the key=value lines of a payload into kv (entries past
 * kv->n zeroed); 0, or -1 with kv empty and the reason in err.
 */
int
agent_kv_parse(const uint8_t *data, size_t len, struct agent_kv *kv,
    char *err, size_t errlen)
{
	const char	*s = (const char *)data, *nl;
	size_t		 off = 0, lineno = 0;

	memset(kv, 0, sizeof(*kv));
	while (off < len) {
		lineno++;
		if (lineno > AGENT_KV_MAX) {
			memset(kv, 0, sizeof(*kv));
			return str_fail(err, errlen, "line %zu: more than "
			    "%d lines", lineno, AGENT_KV_MAX);
		}
		if ((nl = memchr(s + off, '\n', len - off)) == NULL) {
			memset(kv, 0, sizeof(*kv));
			return str_fail(err, errlen, "line %zu: missing "
			    "final newline", lineno);
		}
		if (agent_kv_line(kv, lineno, s + off, (size_t)(nl - s) - off,
		    err, errlen) == -1) {
			memset(kv, 0, sizeof(*kv));
			return -1;
		}
		off = (size_t)(nl - s) + 1;
	}
	return 0;
}

/* agent_kv_set: set key to value, replacing an existing value. */
bool
agent_kv_set(struct agent_kv *kv, const char *key, const char *value)
{
	size_t	 klen, vlen;
	int	 i;

	klen = strnlen(key, AGENT_KEY_MAX + 1);
	vlen = strnlen(value, AGENT_VAL_MAX + 1);
	if (!agent_key_ok(key, klen) || !agent_val_ok(value, vlen))
		return false;
	if ((i = agent_kv_find(kv, key)) == -1) {
		if (kv->n >= AGENT_KV_MAX)
			return false;
		i = (int)kv->n++;
		memcpy(kv->e[i].k, key, klen + 1);
	}
	/* value may point into kv itself; unused bytes stay zero. */
	memmove(kv->e[i].v, value, vlen);
	memset(kv->e[i].v + vlen, 0, sizeof(kv->e[i].v) - vlen);
	return true;
}

/* agent_kv_setf: agent_kv_set with a formatted value; false if truncated. */
bool
agent_kv_setf(struct agent_kv *kv, const char *key, const char *fmt, ...)
{
	char	 v[AGENT_VAL_MAX + 2];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0 || n > AGENT_VAL_MAX)
		return false;
	return agent_kv_set(kv, key, v);
}

/* agent_kv_get: the value of key, NULL if absent. */
const char *
agent_kv_get(const struct agent_kv *kv, const char *key)
{
	int	 i;

	if ((i = agent_kv_find(kv, key)) == -1)
		return NULL;
	return kv->e[i].v;
}

/* agent_kv_encode: append kv as lines; false (b unchanged) if b refuses. */
bool
agent_kv_encode(const struct agent_kv *kv, struct buf *b)
{
	size_t	 i, old = b->len;

	for (i = 0; i < kv->n; i++) {
		if (!buf_addstr(b, kv->e[i].k) || !buf_add(b, "=", 1) ||
		    !buf_addstr(b, kv->e[i].v) || !buf_add(b, "\n", 1)) {
			b->len = old;
			return false;
		}
	}
	return true;
}
