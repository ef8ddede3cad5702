/*
 * test_agent_proto.c: the controller-to-host link's wire format
 * (manager/agent_proto.c): frames fed a byte at a time, the length and
 * type limits, frames back to back; the key=value lines with every rule
 * at its boundary, unknown keys kept, set/get and the encode-parse round
 * trip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

/* hdr: a frame header (length of type + payload, then the type). */
static void
hdr(uint8_t h[5], uint32_t len, uint8_t type)
{
	h[0] = (uint8_t)(len >> 24);
	h[1] = (uint8_t)(len >> 16);
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len;
	h[4] = type;
}

/* t_frame_split: every proper prefix needs more bytes; the whole parses. */
static void
t_frame_split(void)
{
	struct buf	 b;
	const uint8_t	*p;
	uint8_t		 type;
	size_t		 plen, used, i;
	char		 err[128];

	buf_init(&b, 1024);
	CHECK(agent_frame_add(&b, AGENT_REPLY, "ok=1\n", 5));
	CHECK_INTEQ(b.len, 10);
	for (i = 0; i < b.len; i++)
		CHECKF(agent_frame_parse(b.data, i, &type, &p, &plen, &used,
		    err, sizeof(err)) == 0, "prefix %zu", i);
	CHECK_INTEQ(agent_frame_parse(b.data, b.len, &type, &p, &plen, &used,
	    err, sizeof(err)), 1);
	CHECK_INTEQ(type, AGENT_REPLY);
	CHECK_INTEQ(plen, 5);
	CHECK_INTEQ(used, 10);
	CHECK(memcmp(p, "ok=1\n", 5) == 0);

	/* An empty payload: length 1, the type alone. */
	buf_reset(&b);
	CHECK(agent_frame_add(&b, AGENT_INFO, NULL, 0));
	CHECK_INTEQ(b.len, 5);
	for (i = 0; i < b.len; i++)
		CHECKF(agent_frame_parse(b.data, i, &type, &p, &plen, &used,
		    err, sizeof(err)) == 0, "prefix %zu", i);
	CHECK_INTEQ(agent_frame_parse(b.data, b.len, &type, &p, &plen, &used,
	    err, sizeof(err)), 1);
	CHECK_INTEQ(type, AGENT_INFO);
	CHECK_INTEQ(plen, 0);
	CHECK_INTEQ(used, 5);
	buf_free(&b);
}

/* t_frame_limits: exact maximum, one over, zero, unknown types. */
static void
t_frame_limits(void)
{
	static const uint8_t bad_types[] = { 0, 3, 0x80, 0x82, 0xff };
	struct buf	 b;
	const uint8_t	*p;
	uint8_t		 type, h[5], *big;
	size_t		 plen, used, i, max = AGENT_FRAME_MAX;
	char		 err[128];

	/* Exact maximum: encoded, parsed whole, and its prefix waits. */
	big = xcalloc(max + 4, 1);
	hdr(big, (uint32_t)max, AGENT_PUSH);
	CHECK_INTEQ(agent_frame_parse(big, max + 3, &type, &p, &plen, &used,
	    err, sizeof(err)), 0);
	CHECK_INTEQ(agent_frame_parse(big, max + 4, &type, &p, &plen, &used,
	    err, sizeof(err)), 1);
	CHECK_INTEQ(plen, max - 1);
	CHECK_INTEQ(used, max + 4);
	CHECK(p == big + 5);
	buf_init(&b, max + 4);
	CHECK(agent_frame_add(&b, AGENT_PUSH, big + 5, max - 1));
	CHECK_INTEQ(b.len, max + 4);
	CHECK(memcmp(b.data, big, max + 4) == 0);
	/* One over: refused by the encoder, and by the parser at once. */
	buf_reset(&b);
	CHECK(!agent_frame_add(&b, AGENT_PUSH, big, max));
	CHECK_INTEQ(b.len, 0);
	hdr(h, (uint32_t)max + 1, AGENT_PUSH);
	CHECK_INTEQ(agent_frame_parse(h, 4, &type, &p, &plen, &used, err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "over the limit") != NULL);
	hdr(h, 0xffffffffU, AGENT_PUSH);
	CHECK_INTEQ(agent_frame_parse(h, 5, &type, &p, &plen, &used, err,
	    sizeof(err)), -1);
	buf_free(&b);
	free(big);

	hdr(h, 0, AGENT_INFO);
	CHECK_INTEQ(agent_frame_parse(h, 5, &type, &p, &plen, &used, err,
	    sizeof(err)), -1);
	CHECK_STREQ(err, "frame length 0");

	for (i = 0; i < nitems(bad_types); i++) {
		hdr(h, 1, bad_types[i]);
		CHECKF(agent_frame_parse(h, 5, &type, &p, &plen, &used, err,
		    sizeof(err)) == -1, "type 0x%02x", bad_types[i]);
		CHECKF(strstr(err, "unknown frame type") != NULL, "%s", err);
		/* Refused with the type byte, before the payload arrives. */
		hdr(h, 100, bad_types[i]);
		CHECKF(agent_frame_parse(h, 5, &type, &p, &plen, &used, err,
		    sizeof(err)) == -1, "type 0x%02x", bad_types[i]);
	}
	/* The encoder refuses an unknown type too. */
	buf_init(&b, 64);
	CHECK(!agent_frame_add(&b, 0x7f, "x", 1));
	/* And a buffer whose limit is too small, leaving it unchanged. */
	buf_free(&b);
	buf_init(&b, 8);
	CHECK(agent_frame_add(&b, AGENT_INFO, "ab", 2));
	CHECK(!agent_frame_add(&b, AGENT_INFO, "ab", 2));
	CHECK_INTEQ(b.len, 7);
	buf_free(&b);
	buf_init(&b, 6);
	CHECK(!agent_frame_add(&b, AGENT_INFO, "ab", 2));
	CHECK_INTEQ(b.len, 0);
	buf_free(&b);
}

/* t_frame_stream: two frames back to back, then a partial third. */
static void
t_frame_stream(void)
{
	struct buf	 b;
	const uint8_t	*p;
	uint8_t		 type;
	size_t		 plen, used, off = 0;
	char		 err[128];

	buf_init(&b, 1024);
	CHECK(agent_frame_add(&b, AGENT_INFO, "a=1\n", 4));
	CHECK(agent_frame_add(&b, AGENT_PUSH, "BUNDLE", 6));
	CHECK(agent_frame_add(&b, AGENT_REPLY, "x=y\n", 4));
	b.len -= 2;

	CHECK_INTEQ(agent_frame_parse(b.data, b.len, &type, &p, &plen, &used,
	    err, sizeof(err)), 1);
	CHECK_INTEQ(type, AGENT_INFO);
	CHECK_INTEQ(plen, 4);
	CHECK(memcmp(p, "a=1\n", 4) == 0);
	off += used;
	CHECK_INTEQ(agent_frame_parse(b.data + off, b.len - off, &type, &p,
	    &plen, &used, err, sizeof(err)), 1);
	CHECK_INTEQ(type, AGENT_PUSH);
	CHECK_INTEQ(plen, 6);
	CHECK(memcmp(p, "BUNDLE", 6) == 0);
	off += used;
	CHECK_INTEQ(agent_frame_parse(b.data + off, b.len - off, &type, &p,
	    &plen, &used, err, sizeof(err)), 0);
	buf_free(&b);
}

/* kv_try: agent_kv_parse on a C string. */
static int
kv_try(const char *s, struct agent_kv *kv, char *err, size_t errlen)
{
	return agent_kv_parse((const uint8_t *)s, strlen(s), kv, err, errlen);
}

/* t_kv_boundaries: each rule of the key=value format at its edge. */
static void
t_kv_boundaries(void)
{
	static const struct {
		const char	*name, *text, *err;
	} bad[] = {
		{ "key 33", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1\n",
		    "line 1: key too long" },
		{ "upper-case key", "ok=1\nKey=1\n", "line 2: bad character "
		    "in key" },
		{ "dash in key", "a-b=1\n", "line 1: bad character in key" },
		{ "space in key", "a b=1\n", "line 1: bad character in key" },
		{ "empty key", "=1\n", "line 1: empty key" },
		{ "missing =", "a=1\nb=2\nnoequals\n", "line 3: missing '='" },
		{ "empty line", "a=1\n\n", "line 2: missing '='" },
		{ "no final newline", "a=1\nb=2", "line 2: missing final "
		    "newline" },
		{ "duplicate", "a=1\nb=2\na=3\n", "line 3: duplicate key a" },
		{ "0x1f in value", "a=x\x1fy\n", "line 1: bad character in "
		    "value" },
		{ "0x7f in value", "a=x\x7fy\n", "line 1: bad character in "
		    "value" },
		{ "tab in value", "a=\t\n", "line 1: bad character in value" },
		{ "CR in value", "a=1\r\n", "line 1: bad character in value" },
		{ "8-bit value", "a=\xc3\xa9\n", "line 1: bad character in "
		    "value" },
	};
	struct agent_kv	 kv;
	struct buf	 b;
	char		 err[256], key[40], *val;
	size_t		 i;

	/* Key of 32 characters accepted; 33 refused (in the table). */
	memset(key, 'k', 32);
	key[32] = '\0';
	val = xasprintf("%s=v\n", key);
	CHECK_INTEQ(kv_try(val, &kv, err, sizeof(err)), 0);
	CHECK_STREQ(agent_kv_get(&kv, key), "v");
	free(val);

	/* Value of 256 bytes accepted; 257 refused. */
	val = xmalloc(AGENT_VAL_MAX + 8);
	memcpy(val, "v=", 2);
	memset(val + 2, '~', AGENT_VAL_MAX);
	memcpy(val + 2 + AGENT_VAL_MAX, "\n", 2);
	CHECK_INTEQ(kv_try(val, &kv, err, sizeof(err)), 0);
	CHECK_INTEQ(strlen(agent_kv_get(&kv, "v")), AGENT_VAL_MAX);
	memset(val + 2, ' ', AGENT_VAL_MAX + 1);
	memcpy(val + 3 + AGENT_VAL_MAX, "\n", 2);
	CHECK_INTEQ(kv_try(val, &kv, err, sizeof(err)), -1);
	CHECK(strncmp(err, "line 1: value too long", 22) == 0);
	CHECK_INTEQ(kv.n, 0);
	free(val);

	/* 32 lines accepted; 33 refused; an empty value and payload fine. */
	buf_init(&b, 4096);
	for (i = 0; i < AGENT_KV_MAX; i++)
		CHECK(buf_printf(&b, "k%zu=%s\n", i, i % 2 ? "" : "= x ="));
	CHECK_INTEQ(agent_kv_parse(b.data, b.len, &kv, err, sizeof(err)), 0);
	CHECK_INTEQ(kv.n, AGENT_KV_MAX);
	CHECK_STREQ(agent_kv_get(&kv, "k0"), "= x =");
	CHECK_STREQ(agent_kv_get(&kv, "k1"), "");
	CHECK(buf_printf(&b, "k%d=1\n", AGENT_KV_MAX));
	CHECK_INTEQ(agent_kv_parse(b.data, b.len, &kv, err, sizeof(err)), -1);
	CHECK(strncmp(err, "line 33: ", 9) == 0);
	buf_free(&b);
	CHECK_INTEQ(agent_kv_parse((const uint8_t *)"", 0, &kv, err,
	    sizeof(err)), 0);
	CHECK_INTEQ(kv.n, 0);

	for (i = 0; i < nitems(bad); i++) {
		err[0] = '\0';
		CHECKF(kv_try(bad[i].text, &kv, err, sizeof(err)) == -1, "%s",
		    bad[i].name);
		CHECKF(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0,
		    "%s: %s", bad[i].name, err);
		CHECKF(kv.n == 0, "%s", bad[i].name);
	}
	/* A NUL byte inside a value (not expressible as a C string). */
	CHECK_INTEQ(agent_kv_parse((const uint8_t *)"a=x\0y\n", 6, &kv, err,
	    sizeof(err)), -1);
}

/* t_kv_unknown: a reader keeps keys it does not know (seed 31). */
static void
t_kv_unknown(void)
{
	struct agent_kv	 kv;
	char		 err[128];
	size_t		 i;

	CHECK_INTEQ(kv_try("version=3\nfuture_thing=yes\nbundle_version=7\n",
	    &kv, err, sizeof(err)), 0);
	CHECK_INTEQ(kv.n, 3);
	CHECK_STREQ(agent_kv_get(&kv, "version"), "3");
	CHECK_STREQ(agent_kv_get(&kv, "future_thing"), "yes");
	CHECK_STREQ(agent_kv_get(&kv, "bundle_version"), "7");
	CHECK(agent_kv_get(&kv, "absent") == NULL);
	for (i = kv.n; i < AGENT_KV_MAX; i++)
		CHECKF(kv.e[i].k[0] == '\0' && kv.e[i].v[0] == '\0',
		    "entry %zu", i);
}

/* t_kv_set: set, replace, setf, the limits, and encode-parse. */
static void
t_kv_set(void)
{
	struct agent_kv	 kv, back;
	struct buf	 b;
	char		 err[128], big[AGENT_VAL_MAX + 2], key[16];
	size_t		 i;

	memset(&kv, 0, sizeof(kv));
	CHECK(agent_kv_set(&kv, "result", "ok"));
	CHECK(agent_kv_setf(&kv, "version", "%d", 42));
	CHECK(agent_kv_set(&kv, "result", "applied"));
	CHECK_INTEQ(kv.n, 2);
	CHECK_STREQ(agent_kv_get(&kv, "result"), "applied");
	CHECK_STREQ(agent_kv_get(&kv, "version"), "42");
	/* A value replaced by a shorter one leaves no stale bytes. */
	CHECK(agent_kv_set(&kv, "result", "x"));
	CHECK(kv.e[0].v[2] == '\0');

	CHECK(!agent_kv_set(&kv, "Bad", "1"));
	CHECK(!agent_kv_set(&kv, "", "1"));
	CHECK(!agent_kv_set(&kv, "k", "line\nbreak"));
	CHECK(!agent_kv_set(&kv, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1"));
	CHECK(agent_kv_set(&kv, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(!agent_kv_set(&kv, "big", big));
	CHECK(!agent_kv_setf(&kv, "big", "%s", big));
	big[AGENT_VAL_MAX] = '\0';
	CHECK(agent_kv_setf(&kv, "big", "%s", big));
	CHECK(!agent_kv_setf(&kv, "big", "%sy", big));
	CHECK_INTEQ(strlen(agent_kv_get(&kv, "big")), AGENT_VAL_MAX);
	CHECK(agent_kv_set(&kv, "error", "can't: \"quoted\" = fine"));
	for (i = kv.n; i < AGENT_KV_MAX; i++) {
		CHECK(str_printf(key, sizeof(key), "fill%zu", i));
		CHECK(agent_kv_setf(&kv, key, "%zu", i));
	}
	CHECK_INTEQ(kv.n, AGENT_KV_MAX);
	CHECK(!agent_kv_set(&kv, "one_more", "1"));
	CHECK(agent_kv_set(&kv, "result", "still replaceable"));

	buf_init(&b, 1 << 16);
	CHECK(agent_kv_encode(&kv, &b));
	CHECK_INTEQ(agent_kv_parse(b.data, b.len, &back, err, sizeof(err)),
	    0);
	CHECK(memcmp(&kv, &back, sizeof(kv)) == 0);
	buf_free(&b);
	/* A buffer too small refuses and is left unchanged. */
	buf_init(&b, 20);
	CHECK(buf_addstr(&b, "xy"));
	CHECK(!agent_kv_encode(&kv, &b));
	CHECK_INTEQ(b.len, 2);
	buf_free(&b);
}

TEST_MAIN(t_frame_split, t_frame_limits, t_frame_stream, t_kv_boundaries,
    t_kv_unknown, t_kv_set)
