/*
 * test_ini.c: the INI reader: syntax, quoting, line ends, UTF-8, limits,
 * and the exact "file:line: message" form of every diagnostic.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "diag.h"
#include "ini.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

/* parse: run the reader over a buffer named t.ini. */
static int
parse(struct ini *ini, struct diag *d, const char *s, size_t len)
{
	diag_init(d);
	return ini_parse_buf(ini, "t.ini", s, len, d);
}

/* Accepted input: the value of one key after parsing. */
static void
t_values(void)
{
	static const struct {
		const char	*name, *in, *sec, *key, *want;
	} cases[] = {
		{ "plain", "[s]\nk=v\n", "s", "k", "v" },
		{ "blanks", "[s]\n  k  =   v w  \n", "s", "k", "v w" },
		{ "tabs", "[s]\n\tk\t=\tv\t\n", "s", "k", "v" },
		{ "empty", "[s]\nk=\n", "s", "k", "" },
		{ "empty blanks", "[s]\nk =   \n", "s", "k", "" },
		{ "no final LF", "[s]\nk=v", "s", "k", "v" },
		{ "CRLF", "[s]\r\nk=v\r\n", "s", "k", "v" },
		{ "CRLF no final", "[s]\r\nk=v\r", "s", "k", "v" },
		{ "BOM", "\xef\xbb\xbf[s]\nk=v\n", "s", "k", "v" },
		{ "semicolon in value", "[s]\nk=a;b # c\n", "s", "k", "a;b # c" },
		{ "URL", "[s]\nu=http://x/?a=b#f\n", "s", "u", "http://x/?a=b#f" },
		{ "second = kept", "[s]\nk=a=b\n", "s", "k", "a=b" },
		{ "comment ;", "[s]\n; k=x\nk=v\n", "s", "k", "v" },
		{ "comment #", "[s]\n  # k=x\nk=v\n", "s", "k", "v" },
		{ "quoted", "[s]\nk=\"  a b  \"\n", "s", "k", "  a b  " },
		{ "quoted escapes", "[s]\nk=\"a\\\"b\\\\c\"\n", "s", "k",
		    "a\"b\\c" },
		{ "quoted then blanks", "[s]\nk=\"x\"   \n", "s", "k", "x" },
		{ "quoted empty", "[s]\nk=\"\"\n", "s", "k", "" },
		{ "quoted ;", "[s]\nk=\";#\"\n", "s", "k", ";#" },
		{ "inner quote", "[s]\nk=a \"b\"\n", "s", "k", "a \"b\"" },
		{ "case key", "[s]\nPort=25\n", "s", "pORT", "25" },
		{ "case section", "[SmtpServer]\nk=v\n", "smtpserver", "K", "v" },
		{ "section blanks", "[  s  ]  \nk=v\n", "s", "k", "v" },
		{ "key charset", "[s]\na.b-c_D9=v\n", "s", "a.b-c_D9", "v" },
		{ "UTF-8 value", "[s]\nk=\xe6\x97\xa5\xe6\x9c\xac\n", "s", "k",
		    "\xe6\x97\xa5\xe6\x9c\xac" },
		{ "4-byte UTF-8", "[s]\nk=\xf0\x9f\x98\x80\n", "s", "k",
		    "\xf0\x9f\x98\x80" },
		{ "U+10FFFF", "[s]\nk=\xf4\x8f\xbf\xbf\n", "s", "k",
		    "\xf4\x8f\xbf\xbf" },
		{ "UTF-8 section", "[\xe6\x97\xa5]\nk=v\n", "\xe6\x97\xa5", "k",
		    "v" },
		{ "merge", "[a]\nx=1\n[b]\ny=2\n[A]\nz=3\n", "a", "z", "3" },
		{ "tab in value", "[s]\nk=a\tb\n", "s", "k", "a\tb" },
	};
	struct ini	 ini;
	struct diag	 d;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		int rc = parse(&ini, &d, cases[i].in, strlen(cases[i].in));

		CHECKF(rc == 0 && d.nitems == 0, "%s: rc %d, %s", cases[i].name,
		    rc, d.nitems ? d.items[0].text : "");
		CHECKF(ini_get(&ini, cases[i].sec, cases[i].key) != NULL &&
		    strcmp(ini_get(&ini, cases[i].sec, cases[i].key),
		    cases[i].want) == 0, "%s: got \"%s\"", cases[i].name,
		    ini_get(&ini, cases[i].sec, cases[i].key) ?
		    ini_get(&ini, cases[i].sec, cases[i].key) : "(null)");
		ini_free(&ini);
		diag_free(&d);
	}
}

/* Rejected input: the exact first diagnostic, and how many errors. */
static void
t_errors(void)
{
	static char longline[INI_MAX_LINE + 16];
	static const struct {
		const char	*name, *in;
		size_t		 len;	/* 0: strlen */
		size_t		 nerr;
		const char	*want;
	} cases[] = {
		{ "key before section", "k=v\n[s]\n", 0, 1,
		  "t.ini:1: key \"k\" is outside of any section (a [section] "
		  "header must come first)" },
		{ "missing =", "[s]\nfoo bar\n", 0, 1,
		  "t.ini:2: missing \"=\" in foo bar (expected \"key = value\")" },
		{ "missing key", "[s]\n = v\n", 0, 1,
		  "t.ini:2: missing key name before \"=\"" },
		{ "bad key", "[s]\na b=v\n", 0, 1,
		  "t.ini:2: invalid key name \"a b\" (at most 128 of letters, "
		  "digits, \"_\", \".\", \"-\")" },
		{ "bad key utf8", "[s]\n\xc3\xa9=v\n", 0, 1, NULL },
		{ "header no ]", "[s\nk=v\n", 0, 1,
		  "t.ini:1: bad section header [s: missing \"]\"" },
		{ "header junk", "[s] x\nk=v\n", 0, 1,
		  "t.ini:1: bad section header [s] x: text after \"]\"" },
		{ "header inline comment", "[s] ; c\n", 0, 1, NULL },
		{ "header empty", "[ ]\n", 0, 1,
		  "t.ini:1: bad section header: empty section name" },
		{ "header [[", "[[s]\n", 0, 1, NULL },
		{ "duplicate", "[s]\nPort=1\n\n; x\nport=2\n", 0, 1,
		  "t.ini:5: duplicate key \"port\" in [s] (first set on line 2)" },
		{ "duplicate merged", "[s]\nk=1\n[t]\nk=2\n[S]\nK=3\n", 0, 1,
		  "t.ini:6: duplicate key \"K\" in [s] (first set on line 2)" },
		{ "unterminated", "[s]\nk=\"abc\n", 0, 1,
		  "t.ini:2: k: unterminated quoted value (the closing quote "
		  "must be on the same line)" },
		{ "after quote", "[s]\nk=\"a\" b\n", 0, 1,
		  "t.ini:2: k: text after the closing quote" },
		{ "bad escape", "[s]\nk=\"a\\n\"\n", 0, 1,
		  "t.ini:2: k: bad escape in quoted value (only \\\" and \\\\ "
		  "are allowed)" },
		{ "escaped close", "[s]\nk=\"a\\\"\n", 0, 1, NULL },
		{ "NUL", "[s]\nk=a\0b\n", 9, 1, "t.ini:2: NUL byte in line" },
		{ "bare CR", "[s]\nk=a\rb\n", 0, 1,
		  "t.ini:2: carriage return inside a line (line ends must be "
		  "LF or CRLF)" },
		{ "control", "[s]\nk=a\x1b[0m\n", 0, 1,
		  "t.ini:2: control character 0x1b in line" },
		{ "DEL", "[s]\nk=\x7f\n", 0, 1,
		  "t.ini:2: control character 0x7f in line" },
		{ "latin1", "[s]\nk=caf\xe9\n", 0, 1,
		  "t.ini:2: invalid UTF-8 (byte 6 of the line)" },
		{ "overlong 2", "[s]\nk=\xc0\xaf\n", 0, 1, NULL },
		{ "overlong 3", "[s]\nk=\xe0\x80\xaf\n", 0, 1, NULL },
		{ "overlong 4", "[s]\nk=\xf0\x80\x80\xaf\n", 0, 1, NULL },
		{ "surrogate", "[s]\nk=\xed\xa0\x80\n", 0, 1, NULL },
		{ "above 10FFFF", "[s]\nk=\xf4\x90\x80\x80\n", 0, 1, NULL },
		{ "F5", "[s]\nk=\xf5\x80\x80\x80\n", 0, 1, NULL },
		{ "truncated", "[s]\nk=\xe6\x97\n", 0, 1, NULL },
		{ "lone continuation", "[s]\nk=\x80\n", 0, 1, NULL },
		{ "BOM twice", "\xef\xbb\xbf\xef\xbb\xbf[s]\n", 0, 1, NULL },
		{ "all reported", "k=1\n[s]\nx\n[\n[t]\ny=\"\n", 0, 4, NULL },
		{ "line numbers CRLF", "[s]\r\n\r\nk\r\n", 0, 1,
		  "t.ini:3: missing \"=\" in k (expected \"key = value\")" },
		{ "long line", longline, 0, 1,
		  "t.ini:2: line too long (8193 bytes, at most 8192)" },
	};
	struct ini	 ini;
	struct diag	 d;
	size_t		 i, len;
	int		 rc;

	memcpy(longline, "[s]\nk=", 6);
	memset(longline + 6, 'x', INI_MAX_LINE + 1 - 2);
	longline[INI_MAX_LINE + 5] = '\n';
	for (i = 0; i < nitems(cases); i++) {
		len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		rc = parse(&ini, &d, cases[i].in, len);
		CHECKF(rc == -1, "%s", cases[i].name);
		CHECKF(d.nerrors == cases[i].nerr && d.nwarnings == 0,
		    "%s: %zu errors, %zu warnings", cases[i].name, d.nerrors,
		    d.nwarnings);
		CHECKF(d.nitems > 0 && strncmp(d.items[0].text, "t.ini:", 6) ==
		    0 && d.items[0].sev == DIAG_ERROR, "%s", cases[i].name);
		if (cases[i].want != NULL && d.nitems > 0)
			CHECKF(strcmp(d.items[0].text, cases[i].want) == 0,
			    "%s: got \"%s\"", cases[i].name, d.items[0].text);
		ini_free(&ini);
		diag_free(&d);
	}
}

/* Lines around a bad one are kept; a bad header hides its keys quietly. */
static void
t_recovery(void)
{
	struct ini	 ini;
	struct diag	 d;
	const char	*in = "[a]\nx=1\nbad\ny=2\n[b\nz=3\n[c]\nw=4\n";

	CHECK(parse(&ini, &d, in, strlen(in)) == -1);
	CHECK_INTEQ(d.nerrors, 2);
	CHECK_STREQ(ini_get(&ini, "a", "x"), "1");
	CHECK_STREQ(ini_get(&ini, "a", "y"), "2");
	CHECK(ini_get(&ini, "a", "z") == NULL);
	CHECK_STREQ(ini_get(&ini, "c", "w"), "4");
	CHECK_INTEQ(ini.nsections, 2);
	ini_free(&ini);
	diag_free(&d);
}

/* Order, spelling as written, lines and merged sections. */
static void
t_model(void)
{
	struct ini	 ini;
	struct diag	 d;
	const struct ini_entry *e;
	const char	*in = "; c\n[SmtpServer]\nPort = 25\n[Other]\n"
	    "a=1\n[smtpSERVER]\nBindAddress=::1\n";

	CHECK(parse(&ini, &d, in, strlen(in)) == 0);
	CHECK_INTEQ(ini.nsections, 2);
	CHECK_STREQ(ini.sections[0].name, "SmtpServer");
	CHECK_INTEQ(ini.sections[0].line, 2);
	CHECK_INTEQ(ini.nentries, 3);
	CHECK_STREQ(ini.entries[2].key, "BindAddress");
	CHECK_INTEQ(ini.entries[2].section, 0);
	CHECK_INTEQ(ini.entries[2].line, 7);
	e = ini_find(&ini, "SMTPSERVER", "port");
	CHECK(e != NULL && e->line == 3 && strcmp(e->key, "Port") == 0);
	CHECK(ini_find(&ini, "nosuch", "port") == NULL);
	CHECK(ini_section_find(&ini, "other") != NULL);
	CHECK(ini_section_find(&ini, "none") == NULL);
	ini_free(&ini);
	diag_free(&d);

	/* An empty buffer and a comment-only buffer are fine. */
	CHECK(parse(&ini, &d, "", 0) == 0 && ini.nentries == 0);
	ini_free(&ini);
	CHECK(parse(&ini, &d, "\xef\xbb\xbf", 3) == 0);
	ini_free(&ini);
	CHECK(parse(&ini, &d, "# only\n;\n\n", 10) == 0 && d.nitems == 0);
	ini_free(&ini);
	diag_free(&d);
}

/* Many keys: the hash index still finds every one and every duplicate. */
static void
t_many(void)
{
	struct ini	 ini;
	struct diag	 d;
	struct buf	 b;
	const char	*v;
	char		 sec[16], k[16];
	int		 i, ok = 1;

	buf_init(&b, INI_MAX_FILE);
	for (i = 0; i < 5000; i++)
		buf_printf(&b, "[s%d]\nkey%d=%d\n", i % 37, i, i);
	buf_printf(&b, "[S3]\nKEY3=dup\n");
	diag_init(&d);
	CHECK(ini_parse_buf(&ini, "m.ini", b.data, b.len, &d) == -1);
	CHECK_INTEQ(d.nerrors, 1);
	CHECK(diag_find(&d, "duplicate key \"KEY3\" in [s3] (first set on "
	    "line 8)") != NULL);
	for (i = 0; i < 5000; i++) {
		(void)str_printf(sec, sizeof(sec), "s%d", i % 37);
		(void)str_printf(k, sizeof(k), "KEY%d", i);
		v = ini_get(&ini, sec, k);
		if (v == NULL || atoi(v) != i)
			ok = 0;
	}
	CHECK(ok);
	ini_free(&ini);
	diag_free(&d);
	buf_free(&b);
}

/* More diagnostics than DIAG_MAX: counted, not all stored. */
static void
t_diag_cap(void)
{
	struct ini	 ini;
	struct diag	 d;
	struct buf	 b;
	int		 i;

	buf_init(&b, INI_MAX_FILE);
	for (i = 0; i < 500; i++)
		buf_addstr(&b, "junk\n");
	diag_init(&d);
	CHECK(ini_parse_buf(&ini, "c.ini", b.data, b.len, &d) == -1);
	CHECK_INTEQ(d.nerrors, 500);
	CHECK_INTEQ(d.nitems, DIAG_MAX);
	CHECK_INTEQ(d.dropped, 500 - DIAG_MAX);
	CHECK_STREQ(d.items[DIAG_MAX - 1].text,
	    "c.ini:100: missing \"=\" in junk (expected \"key = value\")");
	ini_free(&ini);
	diag_free(&d);
	buf_free(&b);
}

/* Files: missing, too large, not regular, and the path as the prefix. */
static void
t_files(void)
{
	char		 dir[] = "/tmp/sekisho-ini.XXXXXX";
	char		*path, *want;
	struct ini	 ini;
	struct diag	 d;
	FILE		*f;
	int		 i;

	CHECK(mkdtemp(dir) != NULL);
	path = xasprintf("%s/none.ini", dir);
	diag_init(&d);
	CHECK(ini_parse_file(&ini, path, &d) == -1);
	want = xasprintf("%s: cannot open: No such file or directory", path);
	CHECK(d.nitems == 1 && strcmp(d.items[0].text, want) == 0);
	free(want);
	ini_free(&ini);
	diag_free(&d);

	CHECK((f = fopen(path, "w")) != NULL);
	fputs("[s]\r\nk = v\r\nx\r\n", f);
	fclose(f);
	CHECK(ini_parse_file(&ini, path, &d) == -1);
	want = xasprintf("%s:3: missing \"=\" in x (expected \"key = "
	    "value\")", path);
	CHECK(d.nitems == 1 && strcmp(d.items[0].text, want) == 0);
	CHECK_STREQ(ini_get(&ini, "S", "K"), "v");
	free(want);
	ini_free(&ini);
	diag_free(&d);

	CHECK((f = fopen(path, "w")) != NULL);
	for (i = 0; i < INI_MAX_FILE / 64 + 1; i++)
		fprintf(f, ";%62d\n", i);
	fclose(f);
	CHECK(ini_parse_file(&ini, path, &d) == -1);
	CHECK(d.nitems == 1 && strstr(d.items[0].text, "file too large") !=
	    NULL && strncmp(d.items[0].text, path, strlen(path)) == 0);
	ini_free(&ini);
	diag_free(&d);
	unlink(path);

	CHECK(ini_parse_file(&ini, dir, &d) == -1);
	want = xasprintf("%s: not a regular file", dir);
	CHECK(d.nitems == 1 && strcmp(d.items[0].text, want) == 0);
	free(want);
	ini_free(&ini);
	diag_free(&d);
	rmdir(dir);
	free(path);
}

/* The UTF-8 validator on its own. */
static void
t_utf8(void)
{
	static const struct {
		const char	*s;
		int		 ok;
	} cases[] = {
		{ "", 1 }, { "abc", 1 }, { "\xc2\x80", 1 }, { "\xdf\xbf", 1 },
		{ "\xe0\xa0\x80", 1 }, { "\xef\xbf\xbf", 1 },
		{ "\xed\x9f\xbf", 1 }, { "\xee\x80\x80", 1 },
		{ "\xf0\x90\x80\x80", 1 }, { "\xf4\x8f\xbf\xbf", 1 },
		{ "\xc1\xbf", 0 }, { "\xc2", 0 }, { "\xc2\x41", 0 },
		{ "\xe0\x9f\xbf", 0 }, { "\xed\xa0\x80", 0 },
		{ "\xed\xbf\xbf", 0 }, { "\xf0\x8f\xbf\xbf", 0 },
		{ "\xf4\x90\x80\x80", 0 }, { "\xf8\x88\x80\x80\x80", 0 },
		{ "\xff", 0 }, { "\xe6\x97\xa5\xe6", 0 }, { "\xbf", 0 },
	};
	size_t	 i;

	for (i = 0; i < nitems(cases); i++)
		CHECKF(ini_utf8_valid(cases[i].s, strlen(cases[i].s)) ==
		    cases[i].ok, "case %zu", i);
	CHECK(ini_key_valid("Ab0_.-"));
	CHECK(!ini_key_valid(""));
	CHECK(!ini_key_valid("a/b"));
}

TEST_MAIN(t_values, t_errors, t_recovery, t_model, t_many, t_diag_cap,
    t_files, t_utf8)
