/*
 * test_htmltext.c: the visible text of HTML (scanner/htmltext.c).
 *
 * Tables of HTML and the text a reader sees: tags, block and inline
 * layout, character references, script/style/comments, broken markup;
 * then the output bound, invalid UTF-8 and inputs built to make a naive
 * parser quadratic.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "htmltext.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

/* One HTML input and its visible text. */
struct ht_case {
	const char	*name;
	const char	*html;
	const char	*want;
};

/* extract: the visible text of html (NUL-terminated), at most max bytes. */
static char *
extract(const char *html, size_t len, size_t max, bool *fitted)
{
	struct buf	 b;
	bool		 ok;

	buf_init(&b, SIZE_MAX);
	ok = htmltext_extract(html, len, max, &b);
	if (fitted != NULL)
		*fitted = ok;
	return buf_take_str(&b);
}

/* run: every case of a table. */
static void
run(const struct ht_case *c, size_t n)
{
	size_t	 i;
	char	*got;

	for (i = 0; i < n; i++) {
		got = extract(c[i].html, strlen(c[i].html), SIZE_MAX, NULL);
		CHECKF(strcmp(got, c[i].want) == 0, "%s: got \"%s\", want "
		    "\"%s\"", c[i].name, got, c[i].want);
		free(got);
	}
}

/* Tags: inline ones join, block ones break lines, cells are spaced. */
static void
t_tags(void)
{
	static const struct ht_case cases[] = {
		{ "plain", "please wire transfer now",
		  "please wire transfer now" },
		{ "inline joined", "<b>wire</b><i>transfer</i>",
		  "wiretransfer" },
		{ "inline spaced", "<b>wire</b> <i>transfer</i>",
		  "wire transfer" },
		{ "inline set", "<span>a</span><a href=x>b</a><font color=red>c"
		  "</font><em>d</em><strong>e</strong><u>f</u><small>g</small>"
		  "<big>h</big><sub>i</sub><sup>j</sup><code>k</code>",
		  "abcdefghijk" },
		{ "upper case", "<B>wire</B><BR>TRANSFER", "wire\nTRANSFER" },
		{ "document",
		  "<html><body><p>please <b>wire</b> <i>transfer</i> "
		  "now</p></body></html>\r\n", "please wire transfer now" },
		{ "br", "wire<br>\r\ntransfer", "wire\ntransfer" },
		{ "br forms", "a<br/>b<br />c</br>d", "a\nb\nc\nd" },
		{ "blocks", "<div>a</div><p>b</p><h1>c</h1><li>d<li>e"
		  "<blockquote>f</blockquote><pre>g</pre>h<hr>i",
		  "a\nb\nc\nd\ne\nf\ng\nh\ni" },
		{ "blank lines collapse", "<p>a</p>\n\n<p></p><br><br><div>"
		  "</div>b", "a\nb" },
		{ "table", "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th>"
		  "<td>d</td></tr></table>", "a b\nc d" },
		{ "leading and trailing", "  <p> \n a \t </p>  <br> ", "a" },
		{ "tag attributes", "<a href=\"http://x/\" title='t' data-x=y "
		  "checked>link</a>", "link" },
		{ "gt in attribute", "x<a title=\"y>z\" alt='q>r'>w</a>",
		  "xw" },
		{ "unknown tags", "<o:p>a</o:p><custom-el x=1>b</custom-el>",
		  "ab" },
		{ "long tag name", "<blockquoteblockquote>a</x>b", "ab" },
		{ "head text kept", "<head><meta charset=utf-8>"
		  "<title>T</title>stray</head><body>b</body>", "T\nstray\nb" },
		{ "img alt", "<img src=a.png alt=\"Logo &amp; co\">Welcome",
		  "Logo & co Welcome" },
		{ "img alt first", "<img alt=one ALT=two>", "one" },
		{ "img no alt", "a<img src=x>b", "ab" },
		{ "other alt", "a<area alt=x>b", "ab" },
	};

	run(cases, nitems(cases));
}

/* Character references: numeric, named, legacy, unknown. */
static void
t_refs(void)
{
	static const struct ht_case cases[] = {
		{ "hex", "&#x81F3;&#x6025;", "至急" },
		{ "decimal", "&#36865;&#37329;&#12434;", "送金を" },
		{ "upper X", "&#X41;&#x61", "Aa" },
		{ "amp", "a &amp; b &lt;c&gt; &quot;d&quot; &apos;",
		  "a & b <c> "
		  "\"d\" '" },
		{ "nbsp joins", "wire&nbsp;transfer", "wire transfer" },
		{ "nbsp runs", "a&nbsp;&nbsp; &nbsp;b", "a b" },
		{ "latin1", "caf&eacute; cr&egrave;me &Uuml;ber &szlig; &yuml;",
		  "café crème Über ß ÿ" },
		{ "typographic", "&ndash;&mdash;&lsquo;&rsquo;&ldquo;&rdquo;"
		  "&hellip;&bull;&euro;&trade;&TRADE;",
		  "–—‘’“”…•€™™" },
		{ "greek, math", "&alpha;&Omega;&rarr;&le;&infin;", "αΩ→≤∞" },
		{ "html5 ascii",
		  "&colon;&lpar;&rpar;&sol;&period;&commat;&num;",
		  ":()/.@#" },
		{ "latin extended-a", "&scaron;&Ccaron;&lstrok;&eogon;",
		  "šČłę" },
		{ "legacy without ;", "&copy 2024 &amp co &lt&gt",
		  "© 2024 & co <>" },
		{ "legacy prefix", "&notit; &notin; &ampx", "¬it; ∉ &x" },
		{ "needs ;", "&hellip &mdash x", "&hellip &mdash x" },
		{ "case matters", "&AMP; &Amp; &COPY;", "& &Amp; ©" },
		{ "unknown kept", "&foo; &bar &; & x &",
		  "&foo; &bar &; & x &" },
		{ "too long", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;",
		  "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;" },
		{ "no digits", "&#; &#x; &#xg; &#a", "&#; &#x; &#xg; &#a" },
		{ "zero", "a&#0;b", "a\xef\xbf\xbd" "b" },
		{ "surrogate", "&#xD800;&#57343;", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "out of range", "&#x110000;&#99999999999999999999;",
		  "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "max", "&#x10FFFF;", "\xf4\x8f\xbf\xbf" },
		{ "cp1252", "&#150;&#128;&#153;&#x81;", "–€™\xc2\x81" },
		{ "refs are text", "&lt;b&gt;x&lt;/b&gt; &#60;i>",
		  "<b>x</b> <i>" },
		{ "space refs", "a&#9;&#10;&#13;&#32;&#x3000;b", "a b" },
		{ "invisible", "wi&shy;re tr&#x200B;an&zwj;s&#xFEFF;fer "
		  "&ZeroWidthSpace;&lrm;x", "wire transfer x" },
		{ "attribute legacy", "<img alt=\"&amp=&ampx &copy;\">",
		  "&amp=&ampx ©" },
	};

	run(cases, nitems(cases));
}

/* Hidden content and comments; raw-text elements. */
static void
t_hidden(void)
{
	static const struct ht_case cases[] = {
		{ "script", "a<script>var x = '<b>no</b>';</script>b", "ab" },
		{ "script end in string",
		  "<script>x=\"</scr\"+\"ipt>\";</script>"
		  "after", "after" },
		{ "script upper", "<SCRIPT type=x>no</Script >yes", "yes" },
		{ "script self-closed", "<script/>no</script>yes", "yes" },
		{ "script not ended", "a<script>no more", "a" },
		{ "style", "<style>p { color: red }</style>text", "text" },
		{ "template iframe", "<template>t</template><iframe>i</iframe>"
		  "<noembed>e</noembed><noframes>f</noframes>x", "x" },
		{ "noscript shown", "<noscript>shown</noscript>", "shown" },
		{ "comment", "a<!-- hidden <b>x</b> -->b", "ab" },
		{ "comment short", "a<!-->b<!--->c<!---->d", "abcd" },
		{ "comment bang", "a<!-- x --!>b", "ab" },
		{ "comment dashes", "a<!-- x -- y --->b", "ab" },
		{ "conditional", "a<!--[if mso]>outlook<![endif]-->b", "ab" },
		{ "downlevel revealed", "<![if !mso]>shown<![endif]>",
		  "shown" },
		{ "doctype", "<!DOCTYPE html PUBLIC \"-//W3C//DTD\">x", "x" },
		{ "cdata", "a<![CDATA[hidden]]>b", "ab" },
		{ "pi", "<?xml version=\"1.0\"?>x", "x" },
		{ "title", "<title>T &amp; <b>U</b></title>x",
		  "T & <b>U</b>\nx" },
		{ "textarea", "<textarea>a&lt;b<i>c</textarea>", "a<b<i>c" },
		{ "xmp", "<xmp>a&amp;<b></xmp>", "a&amp;<b>" },
		{ "plaintext", "a<plaintext>b</plaintext><i>&amp;", "a\n"
		  "b</plaintext><i>&amp;" },
	};

	run(cases, nitems(cases));
}

/* Broken markup: what a browser shows, and the end of the input. */
static void
t_garbage(void)
{
	static const struct ht_case cases[] = {
		{ "nested brackets", "<<b>>", "<>" },
		{ "lt space", "a < b and c<3", "a < b and c<3" },
		{ "lt lt", "a<<<b", "a<<" },
		{ "tag in tag name", "a<b<i>c", "ac" },
		{ "empty end tag", "a</>b", "ab" },
		{ "bogus end", "a</ x>b</3>c", "abc" },
		{ "lone gt", "a>b", "a>b" },
		{ "end lt", "text<", "text<" },
		{ "end lt slash", "text</", "text</" },
		{ "end bang", "text<!", "text" },
		{ "open tag", "text <a href=\"never closed", "text" },
		{ "open tag no quote", "text <a href=x", "text" },
		{ "open end tag", "text </b", "text" },
		{ "open comment", "text<!-- never closed", "text" },
		{ "open comment dash", "text<!--", "text" },
		{ "open bogus", "text<!doctype", "text" },
		{ "open pi", "text<?php", "text" },
		{ "nul dropped", "wi\0re", "wire" },
		{ "empty", "", "" },
		{ "only tags", "<p><br><div></div>", "" },
	};
	size_t	 i;
	char	*got;

	/* As table rows but with explicit lengths (NUL inside). */
	for (i = 0; i < nitems(cases); i++) {
		size_t len = strlen(cases[i].html);

		if (strcmp(cases[i].name, "nul dropped") == 0)
			len = 5;
		got = extract(cases[i].html, len, SIZE_MAX, NULL);
		CHECKF(strcmp(got, cases[i].want) == 0, "%s: got \"%s\", want "
		    "\"%s\"", cases[i].name, got, cases[i].want);
		free(got);
	}
}

/* Unicode white space collapses; invalid UTF-8 comes out as U+FFFD. */
static void
t_utf8(void)
{
	static const struct ht_case cases[] = {
		{ "nbsp literal", "wire\xc2\xa0transfer", "wire transfer" },
		{ "ideographic", "至急\xe3\x80\x80\xe3\x80\x80送金",
		  "至急 送金" },
		{ "en space", "a\xe2\x80\x82\xe2\x80\x83" "b", "a b" },
		{ "bad byte", "a\xff" "b", "a\xef\xbf\xbd" "b" },
		{ "truncated", "a\xe3\x81", "a\xef\xbf\xbd\xef\xbf\xbd" },
		{ "overlong", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "encoded surrogate", "\xed\xa0\x80",
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "beyond", "\xf4\x90\x80\x80",
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "4 byte", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "bad in alt", "<img alt=\"\xfe\">", "\xef\xbf\xbd" },
		{ "controls kept", "a\x01" "b\x7f", "a\x01" "b\x7f" },
	};
	static const uint8_t junk[] = {
		0xff, '<', 0xc3, 'b', '>', 0xe3, 0x81, '&', '#', 0xf0, 0x9f,
		'<', '!', '-', '-', 0x80, '-', '-', '>', 0xed, 0xbf, 0xbf, 0xc2,
	};
	char	*got;

	run(cases, nitems(cases));
	got = extract((const char *)junk, sizeof(junk), SIZE_MAX, NULL);
	CHECK(g_utf8_validate(got, -1, NULL));
	free(got);
}

/* The output bound: whole characters, no trailing separator, a prefix. */
static void
t_bound(void)
{
	static const char html[] = "<p>至急 送金</p><p>wire transfer</p>";
	char	*all, *got;
	size_t	 max, alen;
	bool	 fitted;
	struct buf b;

	all = extract(html, strlen(html), SIZE_MAX, &fitted);
	CHECK(fitted);
	CHECK_STREQ(all, "至急 送金\nwire transfer");
	alen = strlen(all);
	for (max = 0; max <= alen + 2; max++) {
		got = extract(html, strlen(html), max, &fitted);
		CHECKF(strlen(got) <= max && strncmp(got, all,
		    strlen(got)) == 0 && g_utf8_validate(got, -1, NULL),
		    "max %zu: \"%s\"", max, got);
		CHECKF(fitted == (max >= alen), "max %zu: fitted %d", max,
		    fitted);
		CHECKF(strlen(got) == 0 || (got[strlen(got) - 1] != ' ' &&
		    got[strlen(got) - 1] != '\n'), "max %zu: \"%s\"", max, got);
		free(got);
	}
	got = extract(html, strlen(html), 4, NULL);
	CHECK_STREQ(got, "至");
	free(got);
	got = extract(html, strlen(html), 10, NULL);
	CHECK_STREQ(got, "至急 送");
	free(got);

	/* Appends after what is there, within the buffer's own limit. */
	buf_init(&b, 9);
	CHECK(buf_addstr(&b, "x:"));
	CHECK(!htmltext_extract("<b>abcdefghij</b>", 17, 100, &b));
	CHECK_STREQ(buf_cstr(&b), "x:abcdefg");
	buf_free(&b);
	free(all);
}

/* cpu: CPU seconds used so far. */
static double
cpu(void)
{
	return (double)clock() / CLOCKS_PER_SEC;
}

/* Huge and hostile inputs: bounded output, linear time. */
static void
t_huge(void)
{
	static const char *const units[] = {
		"<a", "<", "&", "&#", "&amp", "&#x1", "<!--", "<!", "</",
		"<a b='", "<a b=\"x\" ", "<script>", "</scrip", "<title>",
		"<img alt=", "x ", "\xe3\x81\x82", "\xff", "<<b>>", "-->",
		"&nbsp;", "<p>",
	};
	size_t	 i, k, ulen, n = 4 * 1024 * 1024;
	char	*in, *got;
	double	 t0, t;

	in = xmalloc(n + 1);
	for (i = 0; i < nitems(units); i++) {
		ulen = strlen(units[i]);
		for (k = 0; k + ulen <= n; k += ulen)
			memcpy(in + k, units[i], ulen);
		t0 = cpu();
		got = extract(in, k, 1024 * 1024, NULL);
		t = cpu() - t0;
		CHECKF(t < 5.0 && strlen(got) <= 1024 * 1024 &&
		    g_utf8_validate(got, -1, NULL), "unit \"%s\": %.2f s, "
		    "%zu bytes", units[i], t, strlen(got));
		free(got);
	}
	/* 1 MiB of text, 100 bytes kept. */
	memset(in, 'a', n);
	got = extract(in, n, 100, NULL);
	CHECK_INTEQ(strlen(got), 100);
	free(got);
	free(in);
}

TEST_MAIN(t_tags, t_refs, t_hidden, t_garbage, t_utf8, t_bound, t_huge)
