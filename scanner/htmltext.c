/*
 * htmltext.c: the visible text of an HTML document, for keyword rules.
 *
 * A single forward pass modelled on the HTML 5 tokenizer (not the tree
 * builder: no element stack, so nothing to grow or recurse on).  Every
 * byte is looked at a bounded number of times; a construct left open at
 * the end of the input (tag, comment, quoted attribute) swallows the rest
 * of it, as in a browser, and is never re-scanned as text.
 *
 * What a reader sees is kept:
 *  - text, with character references decoded: numeric ones (invalid,
 *    surrogate and out-of-range values become U+FFFD, &#128;-&#159; are
 *    read as Windows-1252 as browsers do) and the named ones in ht_ents
 *    (HTML 4, HTML 5's ASCII punctuation, spaces and invisible
 *    characters, typographic marks, Latin Extended-A letters); HTML 5's
 *    legacy names also work without ';' ("&copy 2024"); unknown names
 *    stay literally;
 *  - text in <head> outside <title> too: a browser moves it into the
 *    body, so dropping it would hide text a reader sees;
 *  - <title>, <textarea> (references decoded), <xmp>, <plaintext> (as
 *    written);
 *  - the alt text of <img>, set off by spaces: mail readers that block
 *    images show it instead.
 * What a reader does not see is dropped: tags and their attributes,
 * comments (<!-- -->, and <!...>, <?...>, CDATA up to the first '>' as a
 * browser reads them in HTML), the content of <script>, <style>,
 * <template>, <iframe>, <noembed> and <noframes>, and characters that
 * render as nothing (NUL, soft hyphen, zero-width and bidi controls).
 *
 * Layout: inline tags produce nothing ("<b>wire</b><i>transfer</i>" is
 * "wiretransfer"), block tags (ht_tags) a line break, table cells a
 * space.  Runs of white space (ASCII, no-break and the other Unicode
 * spaces) become one space, runs of line breaks one "\n", and there is
 * none at either end.  The output is valid UTF-8 without NULs even when
 * the input is not (bad bytes become U+FFFD).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "htmltext.h"
#include "log.h"
#include "util.h"

/* Longest tag name looked up (longer ones are inline, unknown). */
#define HT_TAG_MAX	10
/* Bounds on entity names in ht_ents, legacy ones (no ';'): ht_check. */
#define HT_ENT_MAX	24
#define HT_LEGACY_MAX	6
/* A code point no UTF-8 sequence decodes to: the bytes were invalid. */
#define HT_BAD		0xffffffffU

/* What a pending separator will be when the next character comes. */
enum ht_pend {
	HT_PEND_NONE = 0,
	HT_PEND_SPACE,
	HT_PEND_LINE,
};

/* How text between tags is read. */
enum ht_mode {
	HT_MODE_TEXT,		/* references decoded */
	HT_MODE_ATTR,		/* an attribute value: stricter legacy rule */
	HT_MODE_RAW,		/* as written (<xmp>, <plaintext>) */
};

/* What a tag does to the text. */
enum ht_kind {
	HT_INLINE = 0,		/* nothing (b, i, span, a, unknown tags) */
	HT_LINE,		/* a line break, start and end tag */
	HT_CELL,		/* a space (td, th) */
	HT_IMG,			/* its alt text */
	HT_SKIP,		/* content up to the end tag is not shown */
	HT_RCDATA,		/* content is text, references decoded */
	HT_RAWTEXT,		/* content is text as written */
	HT_PLAIN,		/* the rest of the document is text */
};

/* One extraction in progress. */
struct ht {
	struct buf	*out;
	size_t		 max;		/* bytes this call may append */
	size_t		 n;		/* bytes appended */
	enum ht_pend	 pend;
	bool		 full;		/* max reached: stop */
};

/* One tag as scanned (name lower case, "" when too long). */
struct ht_tag {
	char		 name[HT_TAG_MAX + 1];
	bool		 end;		/* </name ...> */
	bool		 closed;	/* its '>' came before the end */
	bool		 hasalt;
	size_t		 next;		/* index past the tag */
	size_t		 alt;		/* first alt value: p[alt..altend) */
	size_t		 altend;
};

/* Tags that are not inline; sorted (strcmp) for ht_kind_of. */
static const struct {
	const char	*name;
	enum ht_kind	 kind;
} ht_tags[] = {
	{ "address", HT_LINE }, { "article", HT_LINE }, { "aside", HT_LINE },
	{ "blockquote", HT_LINE }, { "body", HT_LINE }, { "br", HT_LINE },
	{ "caption", HT_LINE }, { "center", HT_LINE }, { "dd", HT_LINE },
	{ "details", HT_LINE }, { "dialog", HT_LINE }, { "dir", HT_LINE },
	{ "div", HT_LINE }, { "dl", HT_LINE }, { "dt", HT_LINE },
	{ "fieldset", HT_LINE }, { "figcaption", HT_LINE },
	{ "figure", HT_LINE }, { "footer", HT_LINE }, { "form", HT_LINE },
	{ "frameset", HT_LINE }, { "h1", HT_LINE }, { "h2", HT_LINE },
	{ "h3", HT_LINE }, { "h4", HT_LINE }, { "h5", HT_LINE },
	{ "h6", HT_LINE }, { "head", HT_LINE }, { "header", HT_LINE },
	{ "hgroup", HT_LINE }, { "hr", HT_LINE }, { "html", HT_LINE },
	{ "iframe", HT_SKIP }, { "img", HT_IMG }, { "legend", HT_LINE },
	{ "li", HT_LINE }, { "listing", HT_LINE }, { "main", HT_LINE },
	{ "menu", HT_LINE }, { "nav", HT_LINE }, { "noembed", HT_SKIP },
	{ "noframes", HT_SKIP }, { "ol", HT_LINE }, { "option", HT_LINE },
	{ "p", HT_LINE }, { "plaintext", HT_PLAIN }, { "pre", HT_LINE },
	{ "script", HT_SKIP }, { "section", HT_LINE }, { "select", HT_LINE },
	{ "style", HT_SKIP }, { "summary", HT_LINE }, { "table", HT_LINE },
	{ "tbody", HT_LINE }, { "td", HT_CELL }, { "template", HT_SKIP },
	{ "textarea", HT_RCDATA }, { "tfoot", HT_LINE }, { "th", HT_CELL },
	{ "thead", HT_LINE }, { "title", HT_RCDATA }, { "tr", HT_LINE },
	{ "ul", HT_LINE }, { "xmp", HT_RAWTEXT },
};

/* &#128;-&#159; as Windows-1252 (HTML 5); 0: the value stands. */
static const uint16_t ht_cp1252[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/*
 * Named character references, sorted (memcmp) for ht_entity; legacy: also
 * recognised without ';'.  Generated from HTML 5's table (Python's
 * html.entities.html5): every HTML 4 name, the ASCII punctuation, spaces,
 * invisible characters, common typographic marks, Latin Extended-A.
 */
static const struct ht_ent {
	const char	*name;
	uint16_t	 cp;
	uint8_t		 legacy;
} ht_ents[] = {
	{ "AElig", 0x00c6, 1 }, { "AMP", 0x0026, 1 },
	{ "Aacute", 0x00c1, 1 }, { "Abreve", 0x0102, 0 },
	{ "Acirc", 0x00c2, 1 }, { "Agrave", 0x00c0, 1 },
	{ "Alpha", 0x0391, 0 }, { "Amacr", 0x0100, 0 },
	{ "Aogon", 0x0104, 0 }, { "ApplyFunction", 0x2061, 0 },
	{ "Aring", 0x00c5, 1 }, { "Atilde", 0x00c3, 1 },
	{ "Auml", 0x00c4, 1 }, { "Beta", 0x0392, 0 }, { "COPY", 0x00a9, 1 },
	{ "Cacute", 0x0106, 0 }, { "Ccaron", 0x010c, 0 },
	{ "Ccedil", 0x00c7, 1 }, { "Ccirc", 0x0108, 0 },
	{ "Cdot", 0x010a, 0 }, { "CenterDot", 0x00b7, 0 },
	{ "Chi", 0x03a7, 0 }, { "Dagger", 0x2021, 0 },
	{ "Dcaron", 0x010e, 0 }, { "Delta", 0x0394, 0 },
	{ "DiacriticalGrave", 0x0060, 0 }, { "Dstrok", 0x0110, 0 },
	{ "ENG", 0x014a, 0 }, { "ETH", 0x00d0, 1 }, { "Eacute", 0x00c9, 1 },
	{ "Ecaron", 0x011a, 0 }, { "Ecirc", 0x00ca, 1 },
	{ "Edot", 0x0116, 0 }, { "Egrave", 0x00c8, 1 },
	{ "Emacr", 0x0112, 0 }, { "Eogon", 0x0118, 0 },
	{ "Epsilon", 0x0395, 0 }, { "Eta", 0x0397, 0 },
	{ "Euml", 0x00cb, 1 }, { "GT", 0x003e, 1 }, { "Gamma", 0x0393, 0 },
	{ "Gbreve", 0x011e, 0 }, { "Gcedil", 0x0122, 0 },
	{ "Gcirc", 0x011c, 0 }, { "Gdot", 0x0120, 0 }, { "Hat", 0x005e, 0 },
	{ "Hcirc", 0x0124, 0 }, { "Hstrok", 0x0126, 0 },
	{ "IJlig", 0x0132, 0 }, { "Iacute", 0x00cd, 1 },
	{ "Icirc", 0x00ce, 1 }, { "Idot", 0x0130, 0 },
	{ "Igrave", 0x00cc, 1 }, { "Imacr", 0x012a, 0 },
	{ "InvisibleComma", 0x2063, 0 }, { "InvisibleTimes", 0x2062, 0 },
	{ "Iogon", 0x012e, 0 }, { "Iota", 0x0399, 0 },
	{ "Itilde", 0x0128, 0 }, { "Iuml", 0x00cf, 1 },
	{ "Jcirc", 0x0134, 0 }, { "Kappa", 0x039a, 0 },
	{ "Kcedil", 0x0136, 0 }, { "LT", 0x003c, 1 },
	{ "Lacute", 0x0139, 0 }, { "Lambda", 0x039b, 0 },
	{ "Lcaron", 0x013d, 0 }, { "Lcedil", 0x013b, 0 },
	{ "Lmidot", 0x013f, 0 }, { "Lstrok", 0x0141, 0 },
	{ "MediumSpace", 0x205f, 0 }, { "Mu", 0x039c, 0 },
	{ "Nacute", 0x0143, 0 }, { "Ncaron", 0x0147, 0 },
	{ "Ncedil", 0x0145, 0 }, { "NegativeMediumSpace", 0x200b, 0 },
	{ "NegativeThickSpace", 0x200b, 0 },
	{ "NegativeThinSpace", 0x200b, 0 },
	{ "NegativeVeryThinSpace", 0x200b, 0 }, { "NewLine", 0x000a, 0 },
	{ "NoBreak", 0x2060, 0 }, { "NonBreakingSpace", 0x00a0, 0 },
	{ "Ntilde", 0x00d1, 1 }, { "Nu", 0x039d, 0 }, { "OElig", 0x0152, 0 },
	{ "Oacute", 0x00d3, 1 }, { "Ocirc", 0x00d4, 1 },
	{ "Odblac", 0x0150, 0 }, { "Ograve", 0x00d2, 1 },
	{ "Omacr", 0x014c, 0 }, { "Omega", 0x03a9, 0 },
	{ "Omicron", 0x039f, 0 }, { "Oslash", 0x00d8, 1 },
	{ "Otilde", 0x00d5, 1 }, { "Ouml", 0x00d6, 1 }, { "Phi", 0x03a6, 0 },
	{ "Pi", 0x03a0, 0 }, { "Prime", 0x2033, 0 }, { "Psi", 0x03a8, 0 },
	{ "QUOT", 0x0022, 1 }, { "REG", 0x00ae, 1 }, { "Racute", 0x0154, 0 },
	{ "Rcaron", 0x0158, 0 }, { "Rcedil", 0x0156, 0 },
	{ "Rho", 0x03a1, 0 }, { "Sacute", 0x015a, 0 },
	{ "Scaron", 0x0160, 0 }, { "Scedil", 0x015e, 0 },
	{ "Scirc", 0x015c, 0 }, { "Sigma", 0x03a3, 0 },
	{ "THORN", 0x00de, 1 }, { "TRADE", 0x2122, 0 }, { "Tab", 0x0009, 0 },
	{ "Tau", 0x03a4, 0 }, { "Tcaron", 0x0164, 0 },
	{ "Tcedil", 0x0162, 0 }, { "Theta", 0x0398, 0 },
	{ "ThinSpace", 0x2009, 0 }, { "Tstrok", 0x0166, 0 },
	{ "Uacute", 0x00da, 1 }, { "Ubreve", 0x016c, 0 },
	{ "Ucirc", 0x00db, 1 }, { "Udblac", 0x0170, 0 },
	{ "Ugrave", 0x00d9, 1 }, { "Umacr", 0x016a, 0 },
	{ "UnderBar", 0x005f, 0 }, { "Uogon", 0x0172, 0 },
	{ "Upsilon", 0x03a5, 0 }, { "Uring", 0x016e, 0 },
	{ "Utilde", 0x0168, 0 }, { "Uuml", 0x00dc, 1 },
	{ "VerticalLine", 0x007c, 0 }, { "VeryThinSpace", 0x200a, 0 },
	{ "Wcirc", 0x0174, 0 }, { "Xi", 0x039e, 0 }, { "Yacute", 0x00dd, 1 },
	{ "Ycirc", 0x0176, 0 }, { "Yuml", 0x0178, 0 },
	{ "Zacute", 0x0179, 0 }, { "Zcaron", 0x017d, 0 },
	{ "Zdot", 0x017b, 0 }, { "ZeroWidthSpace", 0x200b, 0 },
	{ "Zeta", 0x0396, 0 }, { "aacute", 0x00e1, 1 },
	{ "abreve", 0x0103, 0 }, { "acirc", 0x00e2, 1 },
	{ "acute", 0x00b4, 1 }, { "aelig", 0x00e6, 1 }, { "af", 0x2061, 0 },
	{ "agrave", 0x00e0, 1 }, { "alefsym", 0x2135, 0 },
	{ "alpha", 0x03b1, 0 }, { "amacr", 0x0101, 0 }, { "amp", 0x0026, 1 },
	{ "and", 0x2227, 0 }, { "ang", 0x2220, 0 }, { "aogon", 0x0105, 0 },
	{ "apos", 0x0027, 0 }, { "aring", 0x00e5, 1 }, { "ast", 0x002a, 0 },
	{ "asymp", 0x2248, 0 }, { "atilde", 0x00e3, 1 },
	{ "auml", 0x00e4, 1 }, { "bdquo", 0x201e, 0 }, { "beta", 0x03b2, 0 },
	{ "bigstar", 0x2605, 0 }, { "blacksquare", 0x25aa, 0 },
	{ "brvbar", 0x00a6, 1 }, { "bsol", 0x005c, 0 },
	{ "bull", 0x2022, 0 }, { "bullet", 0x2022, 0 },
	{ "cacute", 0x0107, 0 }, { "cap", 0x2229, 0 },
	{ "caret", 0x2041, 0 }, { "ccaron", 0x010d, 0 },
	{ "ccedil", 0x00e7, 1 }, { "ccirc", 0x0109, 0 },
	{ "cdot", 0x010b, 0 }, { "cedil", 0x00b8, 1 }, { "cent", 0x00a2, 1 },
	{ "centerdot", 0x00b7, 0 }, { "check", 0x2713, 0 },
	{ "chi", 0x03c7, 0 }, { "cir", 0x25cb, 0 }, { "circ", 0x02c6, 0 },
	{ "clubs", 0x2663, 0 }, { "colon", 0x003a, 0 },
	{ "comma", 0x002c, 0 }, { "commat", 0x0040, 0 },
	{ "cong", 0x2245, 0 }, { "copy", 0x00a9, 1 },
	{ "copysr", 0x2117, 0 }, { "crarr", 0x21b5, 0 },
	{ "cross", 0x2717, 0 }, { "cup", 0x222a, 0 },
	{ "curren", 0x00a4, 1 }, { "dArr", 0x21d3, 0 },
	{ "dagger", 0x2020, 0 }, { "darr", 0x2193, 0 },
	{ "dash", 0x2010, 0 }, { "dcaron", 0x010f, 0 },
	{ "ddagger", 0x2021, 0 }, { "deg", 0x00b0, 1 },
	{ "delta", 0x03b4, 0 }, { "diams", 0x2666, 0 },
	{ "divide", 0x00f7, 1 }, { "dollar", 0x0024, 0 },
	{ "dstrok", 0x0111, 0 }, { "eacute", 0x00e9, 1 },
	{ "ecaron", 0x011b, 0 }, { "ecirc", 0x00ea, 1 },
	{ "edot", 0x0117, 0 }, { "egrave", 0x00e8, 1 },
	{ "emacr", 0x0113, 0 }, { "empty", 0x2205, 0 },
	{ "emsp", 0x2003, 0 }, { "emsp13", 0x2004, 0 },
	{ "emsp14", 0x2005, 0 }, { "eng", 0x014b, 0 }, { "ensp", 0x2002, 0 },
	{ "eogon", 0x0119, 0 }, { "epsilon", 0x03b5, 0 },
	{ "equals", 0x003d, 0 }, { "equiv", 0x2261, 0 },
	{ "eta", 0x03b7, 0 }, { "eth", 0x00f0, 1 }, { "euml", 0x00eb, 1 },
	{ "euro", 0x20ac, 0 }, { "excl", 0x0021, 0 }, { "exist", 0x2203, 0 },
	{ "female", 0x2640, 0 }, { "flat", 0x266d, 0 },
	{ "fnof", 0x0192, 0 }, { "forall", 0x2200, 0 },
	{ "frac12", 0x00bd, 1 }, { "frac14", 0x00bc, 1 },
	{ "frac34", 0x00be, 1 }, { "frasl", 0x2044, 0 },
	{ "gamma", 0x03b3, 0 }, { "gbreve", 0x011f, 0 },
	{ "gcirc", 0x011d, 0 }, { "gdot", 0x0121, 0 }, { "ge", 0x2265, 0 },
	{ "grave", 0x0060, 0 }, { "gt", 0x003e, 1 }, { "hArr", 0x21d4, 0 },
	{ "hairsp", 0x200a, 0 }, { "half", 0x00bd, 0 },
	{ "harr", 0x2194, 0 }, { "hcirc", 0x0125, 0 },
	{ "hearts", 0x2665, 0 }, { "hellip", 0x2026, 0 },
	{ "horbar", 0x2015, 0 }, { "hstrok", 0x0127, 0 },
	{ "hybull", 0x2043, 0 }, { "hyphen", 0x2010, 0 },
	{ "iacute", 0x00ed, 1 }, { "ic", 0x2063, 0 }, { "icirc", 0x00ee, 1 },
	{ "iexcl", 0x00a1, 1 }, { "igrave", 0x00ec, 1 },
	{ "ijlig", 0x0133, 0 }, { "imacr", 0x012b, 0 },
	{ "image", 0x2111, 0 }, { "imath", 0x0131, 0 },
	{ "incare", 0x2105, 0 }, { "infin", 0x221e, 0 },
	{ "inodot", 0x0131, 0 }, { "int", 0x222b, 0 },
	{ "iogon", 0x012f, 0 }, { "iota", 0x03b9, 0 },
	{ "iquest", 0x00bf, 1 }, { "isin", 0x2208, 0 }, { "it", 0x2062, 0 },
	{ "itilde", 0x0129, 0 }, { "iuml", 0x00ef, 1 },
	{ "jcirc", 0x0135, 0 }, { "kappa", 0x03ba, 0 },
	{ "kcedil", 0x0137, 0 }, { "kgreen", 0x0138, 0 },
	{ "lArr", 0x21d0, 0 }, { "lacute", 0x013a, 0 },
	{ "lambda", 0x03bb, 0 }, { "lang", 0x27e8, 0 },
	{ "laquo", 0x00ab, 1 }, { "larr", 0x2190, 0 },
	{ "lbrace", 0x007b, 0 }, { "lbrack", 0x005b, 0 },
	{ "lcaron", 0x013e, 0 }, { "lcedil", 0x013c, 0 },
	{ "lceil", 0x2308, 0 }, { "lcub", 0x007b, 0 },
	{ "ldquo", 0x201c, 0 }, { "ldquor", 0x201e, 0 }, { "le", 0x2264, 0 },
	{ "lfloor", 0x230a, 0 }, { "lmidot", 0x0140, 0 },
	{ "lowast", 0x2217, 0 }, { "lowbar", 0x005f, 0 },
	{ "loz", 0x25ca, 0 }, { "lpar", 0x0028, 0 }, { "lrm", 0x200e, 0 },
	{ "lsaquo", 0x2039, 0 }, { "lsqb", 0x005b, 0 },
	{ "lsquo", 0x2018, 0 }, { "lsquor", 0x201a, 0 },
	{ "lstrok", 0x0142, 0 }, { "lt", 0x003c, 1 }, { "macr", 0x00af, 1 },
	{ "male", 0x2642, 0 }, { "mdash", 0x2014, 0 },
	{ "micro", 0x00b5, 1 }, { "midast", 0x002a, 0 },
	{ "middot", 0x00b7, 1 }, { "minus", 0x2212, 0 },
	{ "mldr", 0x2026, 0 }, { "mu", 0x03bc, 0 }, { "nabla", 0x2207, 0 },
	{ "nacute", 0x0144, 0 }, { "napos", 0x0149, 0 },
	{ "natural", 0x266e, 0 }, { "nbsp", 0x00a0, 1 },
	{ "ncaron", 0x0148, 0 }, { "ncedil", 0x0146, 0 },
	{ "ndash", 0x2013, 0 }, { "ne", 0x2260, 0 }, { "ni", 0x220b, 0 },
	{ "nldr", 0x2025, 0 }, { "not", 0x00ac, 1 }, { "notin", 0x2209, 0 },
	{ "nsub", 0x2284, 0 }, { "ntilde", 0x00f1, 1 }, { "nu", 0x03bd, 0 },
	{ "num", 0x0023, 0 }, { "numsp", 0x2007, 0 },
	{ "oacute", 0x00f3, 1 }, { "ocirc", 0x00f4, 1 },
	{ "odblac", 0x0151, 0 }, { "oelig", 0x0153, 0 },
	{ "ograve", 0x00f2, 1 }, { "oline", 0x203e, 0 },
	{ "omacr", 0x014d, 0 }, { "omega", 0x03c9, 0 },
	{ "omicron", 0x03bf, 0 }, { "oplus", 0x2295, 0 },
	{ "or", 0x2228, 0 }, { "ordf", 0x00aa, 1 }, { "ordm", 0x00ba, 1 },
	{ "oslash", 0x00f8, 1 }, { "otilde", 0x00f5, 1 },
	{ "otimes", 0x2297, 0 }, { "ouml", 0x00f6, 1 },
	{ "para", 0x00b6, 1 }, { "part", 0x2202, 0 },
	{ "percnt", 0x0025, 0 }, { "period", 0x002e, 0 },
	{ "permil", 0x2030, 0 }, { "perp", 0x22a5, 0 }, { "phi", 0x03c6, 0 },
	{ "phone", 0x260e, 0 }, { "pi", 0x03c0, 0 }, { "piv", 0x03d6, 0 },
	{ "plus", 0x002b, 0 }, { "plusmn", 0x00b1, 1 },
	{ "pound", 0x00a3, 1 }, { "prime", 0x2032, 0 },
	{ "prod", 0x220f, 0 }, { "prop", 0x221d, 0 }, { "psi", 0x03c8, 0 },
	{ "puncsp", 0x2008, 0 }, { "quest", 0x003f, 0 },
	{ "quot", 0x0022, 1 }, { "rArr", 0x21d2, 0 },
	{ "racute", 0x0155, 0 }, { "radic", 0x221a, 0 },
	{ "rang", 0x27e9, 0 }, { "raquo", 0x00bb, 1 }, { "rarr", 0x2192, 0 },
	{ "rbrace", 0x007d, 0 }, { "rbrack", 0x005d, 0 },
	{ "rcaron", 0x0159, 0 }, { "rcedil", 0x0157, 0 },
	{ "rceil", 0x2309, 0 }, { "rcub", 0x007d, 0 },
	{ "rdquo", 0x201d, 0 }, { "rdquor", 0x201d, 0 },
	{ "real", 0x211c, 0 }, { "reg", 0x00ae, 1 }, { "rfloor", 0x230b, 0 },
	{ "rho", 0x03c1, 0 }, { "rlm", 0x200f, 0 }, { "rpar", 0x0029, 0 },
	{ "rsaquo", 0x203a, 0 }, { "rsqb", 0x005d, 0 },
	{ "rsquo", 0x2019, 0 }, { "rsquor", 0x2019, 0 },
	{ "sacute", 0x015b, 0 }, { "sbquo", 0x201a, 0 },
	{ "scaron", 0x0161, 0 }, { "scedil", 0x015f, 0 },
	{ "scirc", 0x015d, 0 }, { "sdot", 0x22c5, 0 }, { "sect", 0x00a7, 1 },
	{ "semi", 0x003b, 0 }, { "sharp", 0x266f, 0 }, { "shy", 0x00ad, 1 },
	{ "sigma", 0x03c3, 0 }, { "sigmaf", 0x03c2, 0 },
	{ "sim", 0x223c, 0 }, { "sol", 0x002f, 0 }, { "spades", 0x2660, 0 },
	{ "squ", 0x25a1, 0 }, { "square", 0x25a1, 0 }, { "star", 0x2606, 0 },
	{ "starf", 0x2605, 0 }, { "sub", 0x2282, 0 }, { "sube", 0x2286, 0 },
	{ "sum", 0x2211, 0 }, { "sung", 0x266a, 0 }, { "sup", 0x2283, 0 },
	{ "sup1", 0x00b9, 1 }, { "sup2", 0x00b2, 1 }, { "sup3", 0x00b3, 1 },
	{ "supe", 0x2287, 0 }, { "szlig", 0x00df, 1 }, { "tau", 0x03c4, 0 },
	{ "tcaron", 0x0165, 0 }, { "tcedil", 0x0163, 0 },
	{ "there4", 0x2234, 0 }, { "theta", 0x03b8, 0 },
	{ "thetasym", 0x03d1, 0 }, { "thinsp", 0x2009, 0 },
	{ "thorn", 0x00fe, 1 }, { "tilde", 0x02dc, 0 },
	{ "times", 0x00d7, 1 }, { "trade", 0x2122, 0 },
	{ "tstrok", 0x0167, 0 }, { "uArr", 0x21d1, 0 },
	{ "uacute", 0x00fa, 1 }, { "uarr", 0x2191, 0 },
	{ "ubreve", 0x016d, 0 }, { "ucirc", 0x00fb, 1 },
	{ "udblac", 0x0171, 0 }, { "ugrave", 0x00f9, 1 },
	{ "umacr", 0x016b, 0 }, { "uml", 0x00a8, 1 }, { "uogon", 0x0173, 0 },
	{ "upsih", 0x03d2, 0 }, { "upsilon", 0x03c5, 0 },
	{ "uring", 0x016f, 0 }, { "utilde", 0x0169, 0 },
	{ "uuml", 0x00fc, 1 }, { "verbar", 0x007c, 0 },
	{ "vert", 0x007c, 0 }, { "wcirc", 0x0175, 0 },
	{ "weierp", 0x2118, 0 }, { "xi", 0x03be, 0 },
	{ "yacute", 0x00fd, 1 }, { "ycirc", 0x0177, 0 },
	{ "yen", 0x00a5, 1 }, { "yuml", 0x00ff, 1 }, { "zacute", 0x017a, 0 },
	{ "zcaron", 0x017e, 0 }, { "zdot", 0x017c, 0 },
	{ "zeta", 0x03b6, 0 }, { "zwj", 0x200d, 0 }, { "zwnj", 0x200c, 0 },
};

static bool	 ht_checked;

/* ht_check: panic unless the lookup tables suit their binary searches. */
static void
ht_check(void)
{
	size_t	 i;

	for (i = 0; i < nitems(ht_tags); i++)
		if ((i > 0 &&
		    strcmp(ht_tags[i - 1].name, ht_tags[i].name) >= 0) ||
		    strlen(ht_tags[i].name) > HT_TAG_MAX)
			fatalx("ht_check: ht_tags out of order or too long "
			    "at %s", ht_tags[i].name);
	for (i = 0; i < nitems(ht_ents); i++)
		if ((i > 0 &&
		    strcmp(ht_ents[i - 1].name, ht_ents[i].name) >= 0) ||
		    strlen(ht_ents[i].name) > (ht_ents[i].legacy ?
		    HT_LEGACY_MAX : HT_ENT_MAX))
			fatalx("ht_check: ht_ents out of order or too long "
			    "at %s", ht_ents[i].name);
	ht_checked = true;
}

/* ht_ws: HTML white space between tag parts. */
static bool
ht_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* ht_alpha: an ASCII letter. */
static bool
ht_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ht_alnum: an ASCII letter or digit. */
static bool
ht_alnum(uint8_t c)
{
	return ht_alpha(c) || (c >= '0' && c <= '9');
}

/* ht_space: a character shown as (collapsible) white space. */
static bool
ht_space(uint32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
	    cp == '\f' || cp == 0xa0 || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* ht_invisible: a character that renders as nothing, dropped. */
static bool
ht_invisible(uint32_t cp)
{
	return cp == 0 || cp == 0xad || cp == 0x61c || cp == 0x180e ||
	    (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206f) ||
	    cp == 0xfeff;
}

/* ht_u8dec: the character at p[0..n), n > 0; its length, HT_BAD if invalid. */
static size_t
ht_u8dec(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t	 c = p[0], min;
	size_t		 len, k;

	*cp = HT_BAD;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 1;
	if (n < len)
		return 1;
	for (k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 1;
		c = c << 6 | (p[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 1;
	*cp = c;
	return len;
}

/* ht_u8enc: cp (a Unicode scalar value) as UTF-8 into b; its length. */
static size_t
ht_u8enc(uint32_t cp, uint8_t *b)
{
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (uint8_t)(0xf0 | cp >> 18);
	b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	b[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* ht_sep: a separator before the next character, the stronger one wins. */
static void
ht_sep(struct ht *h, enum ht_pend p)
{
	if (p > h->pend)
		h->pend = p;
}

/*
 * ht_put: append s[0..n) (whole UTF-8 characters), after the pending
 * separator; what does not fit is cut on a character boundary and ends
 * the extraction.
 */
static void
ht_put(struct ht *h, const uint8_t *s, size_t n)
{
	size_t	 sep = h->pend != HT_PEND_NONE && h->n > 0, room;

	if (h->full || n == 0)
		return;
	room = h->max - h->n;
	if (sep + n > room) {
		h->full = true;
		n = room > sep ? room - sep : 0;
		while (n > 0 && (s[n] & 0xc0) == 0x80)
			n--;
		if (n == 0)
			return;
	}
	if (sep && !buf_add(h->out, h->pend == HT_PEND_LINE ? "\n" : " ", 1))
		fatalx("ht_put: buffer limit below %zu", h->max);
	if (!buf_add(h->out, s, n))
		fatalx("ht_put: buffer limit below %zu", h->max);
	h->n += sep + n;
	h->pend = HT_PEND_NONE;
}

/* ht_cp: one character: white space, invisible, or shown. */
static void
ht_cp(struct ht *h, uint32_t cp)
{
	uint8_t	 b[4];

	if (ht_space(cp))
		ht_sep(h, HT_PEND_SPACE);
	else if (!ht_invisible(cp))
		ht_put(h, b, ht_u8enc(cp, b));
}

/* ht_entity: the named reference s[0..n) (without ';'), or NULL. */
static const struct ht_ent *
ht_entity(const uint8_t *s, size_t n)
{
	size_t	 lo = 0, hi = nitems(ht_ents), mid, k;
	int	 r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		k = strlen(ht_ents[mid].name);
		if ((r = memcmp(s, ht_ents[mid].name, n < k ? n : k)) == 0)
			r = n < k ? -1 : n > k;
		if (r == 0)
			return &ht_ents[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ht_numval: what a numeric reference to v shows (HTML 5 rules). */
static uint32_t
ht_numval(uint32_t v)
{
	if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0xfffd;
	if (v >= 0x80 && v <= 0x9f && ht_cp1252[v - 0x80] != 0)
		return ht_cp1252[v - 0x80];
	return v;
}

/* ht_numref: "&#..." at p[i] (i + 1 < e); the index after it. */
static size_t
ht_numref(struct ht *h, const uint8_t *p, size_t i, size_t e)
{
	size_t		 j = i + 2, start;
	uint32_t	 v = 0, d;
	bool		 hex = false;

	if (j < e && (p[j] == 'x' || p[j] == 'X')) {
		hex = true;
		j++;
	}
	for (start = j; j < e; j++) {
		if (p[j] >= '0' && p[j] <= '9')
			d = p[j] - '0';
		else if (hex && p[j] >= 'a' && p[j] <= 'f')
			d = p[j] - 'a' + 10;
		else if (hex && p[j] >= 'A' && p[j] <= 'F')
			d = p[j] - 'A' + 10;
		else
			break;
		/* Saturate: any number of digits, no overflow. */
		if (v <= 0x10ffff)
			v = v * (hex ? 16 : 10) + d;
	}
	if (j == start) {
		ht_cp(h, '&');
		return i + 1;
	}
	if (j < e && p[j] == ';')
		j++;
	ht_cp(h, ht_numval(v));
	return j;
}

/*
 * ht_ref: the character reference at p[i] ('&', i < e); the index after
 * it.  HTML 5: a name with ';', else the longest legacy name that starts
 * it ("&notit" is "¬it"), except in an attribute value when a letter,
 * digit or '=' follows (it reads "&not=" as written); else a literal '&'.
 */
static size_t
ht_ref(struct ht *h, const uint8_t *p, size_t i, size_t e, bool attr)
{
	const struct ht_ent	*ent;
	size_t			 j, n, k;

	if (i + 1 < e && p[i + 1] == '#')
		return ht_numref(h, p, i, e);
	for (j = i + 1; j < e && j - i - 1 < HT_ENT_MAX && ht_alnum(p[j]); j++)
		;
	n = j - i - 1;
	if (n > 0 && j < e && p[j] == ';' &&
	    (ent = ht_entity(p + i + 1, n)) != NULL) {
		ht_cp(h, ent->cp);
		return j + 1;
	}
	for (k = n < HT_LEGACY_MAX ? n : HT_LEGACY_MAX; k >= 2; k--) {
		if ((ent = ht_entity(p + i + 1, k)) == NULL || !ent->legacy)
			continue;
		if (attr && (k < n || (j < e && p[j] == '=')))
			break;
		ht_cp(h, ent->cp);
		return i + 1 + k;
	}
	ht_cp(h, '&');
	return i + 1;
}

/*
 * ht_chars: the text p[i..e), which holds no markup.  Runs of characters
 * shown as they are go out in one piece; the rest one by one.
 */
static void
ht_chars(struct ht *h, const uint8_t *p, size_t i, size_t e,
    enum ht_mode mode)
{
	size_t		 j, n;
	uint32_t	 cp;

	while (i < e && !h->full) {
		for (j = i; j < e; j += n) {
			n = 1;
			if (p[j] < 0x80) {
				if (p[j] <= ' ' ||
				    (p[j] == '&' && mode != HT_MODE_RAW))
					break;
				continue;
			}
			n = ht_u8dec(p + j, e - j, &cp);
			if (cp == HT_BAD || ht_space(cp) || ht_invisible(cp))
				break;
		}
		if (j > i) {
			ht_put(h, p + i, j - i);
			i = j;
		} else if (p[i] == '&')
			i = ht_ref(h, p, i, e, mode == HT_MODE_ATTR);
		else {
			i += ht_u8dec(p + i, e - i, &cp);
			ht_cp(h, cp == HT_BAD ? 0xfffd : cp);
		}
	}
}

/* ht_kind_of: what the tag named name (lower case) does. */
static enum ht_kind
ht_kind_of(const char *name)
{
	size_t	 lo = 0, hi = nitems(ht_tags), mid;
	int	 r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((r = strcmp(name, ht_tags[mid].name)) == 0)
			return ht_tags[mid].kind;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return HT_INLINE;
}

/* ht_bogus: a bogus comment (<!x, <?x, </9) from p[i]; the index after '>'. */
static size_t
ht_bogus(const uint8_t *p, size_t len, size_t i)
{
	const uint8_t	*q = memchr(p + i, '>', len - i);

	return q != NULL ? (size_t)(q - p) + 1 : len;
}

/*
 * ht_comment: "<!" at p[i]; the index after the comment.  "<!--" ends at
 * the first "-->" or "--!>" ("<!-->" and "<!--->" end at once), anything
 * else at the first '>' (doctype, CDATA, Outlook's <![if ...]>).
 */
static size_t
ht_comment(const uint8_t *p, size_t len, size_t i)
{
	const uint8_t	*q;
	size_t		 s = i + 4, k;

	if (len - i < 4 || memcmp(p + i, "<!--", 4) != 0)
		return ht_bogus(p, len, i + 2);
	if (s < len && p[s] == '>')
		return s + 1;
	if (s + 1 < len && p[s] == '-' && p[s + 1] == '>')
		return s + 2;
	for (k = s; (q = memchr(p + k, '>', len - k)) != NULL; k++) {
		k = (size_t)(q - p);
		if ((k - s >= 2 && p[k - 1] == '-' && p[k - 2] == '-') ||
		    (k - s >= 3 && p[k - 1] == '!' && p[k - 2] == '-' &&
		    p[k - 3] == '-'))
			return k + 1;
	}
	return len;
}

/*
 * ht_value: the attribute value at p[*j] (after '=' and white space,
 * *j < len): its bounds, *j past it; false when a quote is left open.
 */
static bool
ht_value(const uint8_t *p, size_t len, size_t *j, size_t *vs, size_t *ve)
{
	const uint8_t	*q;
	size_t		 k = *j;

	if (p[k] == '"' || p[k] == '\'') {
		*vs = k + 1;
		if ((q = memchr(p + *vs, p[k], len - *vs)) == NULL)
			return false;
		*ve = (size_t)(q - p);
		*j = *ve + 1;
		return true;
	}
	for (*vs = k; k < len && !ht_ws(p[k]) && p[k] != '>'; k++)
		;
	*ve = *j = k;
	return true;
}

/*
 * ht_attrs: the attributes of a tag from p[j] up to its '>'; records the
 * first alt value.  HTML 5's attribute states, without building anything.
 */
static void
ht_attrs(const uint8_t *p, size_t len, size_t j, struct ht_tag *t)
{
	size_t	 ns, ne, vs, ve;

	while (j < len) {
		if (p[j] == '>') {
			t->closed = true;
			t->next = j + 1;
			return;
		}
		if (ht_ws(p[j]) || p[j] == '/') {
			j++;
			continue;
		}
		/* A name, its first character may be '='. */
		for (ns = j++; j < len && !ht_ws(p[j]) && p[j] != '/' &&
		    p[j] != '>' && p[j] != '='; j++)
			;
		for (ne = j; j < len && ht_ws(p[j]); j++)
			;
		if (j >= len || p[j] != '=')
			continue;
		for (j++; j < len && ht_ws(p[j]); j++)
			;
		if (j >= len || p[j] == '>')
			continue;
		if (!ht_value(p, len, &j, &vs, &ve))
			break;
		if (!t->hasalt && ne - ns == 3 &&
		    strncasecmp((const char *)p + ns, "alt", 3) == 0) {
			t->hasalt = true;
			t->alt = vs;
			t->altend = ve;
		}
	}
	t->closed = false;
	t->next = len;
}

/* ht_tag: scan the start or end tag at p[i] ('<', a letter follows). */
static void
ht_tag(const uint8_t *p, size_t len, size_t i, bool end, struct ht_tag *t)
{
	size_t	 j, k = 0;
	bool	 toolong = false;

	memset(t, 0, sizeof(*t));
	t->end = end;
	for (j = i + 1 + end; j < len && !ht_ws(p[j]) && p[j] != '/' &&
	    p[j] != '>'; j++) {
		if (k == HT_TAG_MAX)
			toolong = true;
		else
			t->name[k++] = (char)(p[j] >= 'A' && p[j] <= 'Z' ?
			    p[j] - 'A' + 'a' : p[j]);
	}
	t->name[toolong ? 0 : k] = '\0';
	ht_attrs(p, len, j, t);
}

/*
 * ht_raw_end: where the content of a raw-text element (script, title...)
 * named name, starting at p[i], ends: its end tag's '<', or len.
 */
static size_t
ht_raw_end(const uint8_t *p, size_t len, size_t i, const char *name)
{
	const uint8_t	*q;
	size_t		 n = strlen(name), k, a;

	for (; (q = memchr(p + i, '<', len - i)) != NULL; i = k + 1) {
		k = (size_t)(q - p);
		a = k + 2 + n;
		if (a <= len && p[k + 1] == '/' &&
		    strncasecmp((const char *)p + k + 2, name, n) == 0 &&
		    (a == len || ht_ws(p[a]) || p[a] == '/' || p[a] == '>'))
			return k;
	}
	return len;
}

/* ht_element: the tag at p[i] and what it does; the index after it. */
static size_t
ht_element(struct ht *h, const uint8_t *p, size_t len, size_t i, bool end)
{
	struct ht_tag	 t;
	enum ht_kind	 kind;
	size_t		 e;

	ht_tag(p, len, i, end, &t);
	if (!t.closed)
		return len;	/* the end came inside the tag: not shown */
	switch ((kind = ht_kind_of(t.name))) {
	case HT_INLINE:
		break;
	case HT_LINE:
		ht_sep(h, HT_PEND_LINE);
		break;
	case HT_CELL:
		ht_sep(h, HT_PEND_SPACE);
		break;
	case HT_IMG:
		if (end || !t.hasalt)
			break;
		ht_sep(h, HT_PEND_SPACE);
		ht_chars(h, p, t.alt, t.altend, HT_MODE_ATTR);
		ht_sep(h, HT_PEND_SPACE);
		break;
	case HT_SKIP:
	case HT_RCDATA:
	case HT_RAWTEXT:
	case HT_PLAIN:
		if (kind != HT_SKIP)
			ht_sep(h, HT_PEND_LINE);
		if (end)
			break;
		e = kind == HT_PLAIN ? len : ht_raw_end(p, len, t.next, t.name);
		if (kind != HT_SKIP)
			ht_chars(h, p, t.next, e, kind == HT_RCDATA ?
			    HT_MODE_TEXT : HT_MODE_RAW);
		return e;
	}
	return t.next;
}

/* ht_markup: the '<' at p[i]; the index after the markup it starts. */
static size_t
ht_markup(struct ht *h, const uint8_t *p, size_t len, size_t i)
{
	uint8_t	 c = i + 1 < len ? p[i + 1] : '\0';

	if (c == '!')
		return ht_comment(p, len, i);
	if (c == '?')
		return ht_bogus(p, len, i + 1);
	if (ht_alpha(c))
		return ht_element(h, p, len, i, false);
	if (c == '/' && i + 2 < len) {
		if (p[i + 2] == '>')
			return i + 3;	/* "</>" is nothing */
		if (ht_alpha(p[i + 2]))
			return ht_element(h, p, len, i, true);
		return ht_bogus(p, len, i + 2);
	}
	/* "<" then a space, digit, "<", "</" at the end...: text. */
	ht_cp(h, '<');
	return i + 1;
}

/*
 * htmltext_extract: append the visible text of html[0..len) (UTF-8) to
 * out, at most max bytes (and within out's limit).  True when all of it
 * fitted, false when the text was cut at max (on a character boundary).
 */
bool
htmltext_extract(const char *html, size_t len, size_t max, struct buf *out)
{
	const uint8_t	*p = (const uint8_t *)html, *q;
	struct ht	 h;
	size_t		 i = 0, e;

	if (!ht_checked)
		ht_check();
	memset(&h, 0, sizeof(h));
	h.out = out;
	h.max = out->len < out->limit ? out->limit - out->len : 0;
	if (max < h.max)
		h.max = max;
	while (i < len && !h.full) {
		q = memchr(p + i, '<', len - i);
		e = q != NULL ? (size_t)(q - p) : len;
		ht_chars(&h, p, i, e, HT_MODE_TEXT);
		if (e == len || h.full)
			break;
		i = ht_markup(&h, p, len, e);
	}
	return !h.full;
}
