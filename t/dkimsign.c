/*
 * dkimsign.c: test support for the integration tests: sign a message.
 *
 *	dkimsign KEYFILE SELECTOR DOMAIN < message > signed-message
 *
 * Prepends a DKIM-Signature field (rsa-sha256, relaxed/relaxed, over
 * From, To, Subject, Date and Message-ID) made with the PEM private key
 * in KEYFILE.  The message may use CRLF or bare LF line ends; the output
 * keeps the message's bytes and uses its line-end style for the new
 * field.  Not installed; not a test by itself.
 */
#include <sys/types.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "util.h"
#include "xmalloc.h"

#define DKIMSIGN_MAX	(64 * 1024 * 1024)

/* dkimsign_read: all of fp (at most DKIMSIGN_MAX bytes), NUL-terminated. */
static char *
dkimsign_read(FILE *fp, size_t *lenp)
{
	char	*p = NULL;
	size_t	 len = 0, cap = 0, n;

	for (;;) {
		if (cap - len < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > DKIMSIGN_MAX + 1) {
				fprintf(stderr, "dkimsign: input too large\n");
				exit(1);
			}
			p = xreallocarray(p, cap, 1);
		}
		n = fread(p + len, 1, cap - len - 1, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "dkimsign: read error\n");
		exit(1);
	}
	p[len] = '\0';
	*lenp = len;
	return p;
}

/* dkimsign_crlf: text with every line end as CRLF, in a new buffer. */
static char *
dkimsign_crlf(const char *p, size_t len, size_t *outlen)
{
	char	*o = xmalloc(2 * len + 1);
	size_t	 i, n = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			o[n++] = '\r';
		o[n++] = p[i];
	}
	o[n] = '\0';
	*outlen = n;
	return o;
}

/* dkimsign_feed: the CRLF message into the signing handle. */
static void
dkimsign_feed(DKIM *dkim, char *m, size_t len)
{
	char	*p = m, *end = m + len, *eol;

	while (p < end) {
		if (p[0] == '\r' && p + 1 < end && p[1] == '\n') {
			p += 2;
			break;		/* the empty line */
		}
		eol = p;
		for (;;) {
			eol = strstr(eol, "\r\n");
			if (eol == NULL) {
				eol = end;
				break;
			}
			if (eol + 2 < end && (eol[2] == ' ' || eol[2] == '\t')) {
				eol += 2;
				continue;
			}
			break;
		}
		if (memchr(p, ':', (size_t)(eol - p)) != NULL &&
		    dkim_header(dkim, (u_char *)p, (size_t)(eol - p)) !=
		    DKIM_STAT_OK) {
			fprintf(stderr, "dkimsign: bad header field\n");
			exit(1);
		}
		p = eol < end ? eol + 2 : end;
	}
	if (dkim_eoh(dkim) != DKIM_STAT_OK) {
		fprintf(stderr, "dkimsign: %s\n", dkim_geterror(dkim));
		exit(1);
	}
	if (p < end)
		(void)dkim_body(dkim, (u_char *)p, (size_t)(end - p));
}

int
main(int argc, char *argv[])
{
	static const char *hdrs[] = { "from", "to", "subject", "date",
	    "message-id", NULL };
	DKIM_LIB	*lib;
	DKIM		*dkim;
	DKIM_STAT	 st;
	FILE		*fp;
	char		*key, *msg, *crlf;
	u_char		*sig;
	size_t		 keylen, len, clen, siglen, i;
	bool		 lf;

	if (argc != 4) {
		fprintf(stderr, "usage: dkimsign KEYFILE SELECTOR DOMAIN "
		    "< message > signed\n");
		return 2;
	}
	if ((fp = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	key = dkimsign_read(fp, &keylen);
	fclose(fp);
	msg = dkimsign_read(stdin, &len);
	lf = strstr(msg, "\r\n") == NULL;
	crlf = dkimsign_crlf(msg, len, &clen);

	if ((lib = dkim_init(NULL, NULL)) == NULL ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, hdrs,
	    sizeof(char **)) != DKIM_STAT_OK) {
		fprintf(stderr, "dkimsign: cannot initialise libopendkim\n");
		return 1;
	}
	dkim = dkim_sign(lib, (const u_char *)"dkimsign", NULL,
	    (dkim_sigkey_t)key, (const u_char *)argv[2],
	    (const u_char *)argv[3], DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    DKIM_SIGN_RSASHA256, -1, &st);
	if (dkim == NULL) {
		fprintf(stderr, "dkimsign: %s\n", dkim_getresultstr(st));
		return 1;
	}
	dkimsign_feed(dkim, crlf, clen);
	if ((st = dkim_eom(dkim, NULL)) != DKIM_STAT_OK ||
	    (st = dkim_getsighdr_d(dkim, strlen(DKIM_SIGNHEADER) + 2, &sig,
	    &siglen)) != DKIM_STAT_OK) {
		fprintf(stderr, "dkimsign: %s: %s\n", dkim_getresultstr(st),
		    dkim_geterror(dkim) ? dkim_geterror(dkim) : "");
		return 1;
	}
	printf("%s: ", DKIM_SIGNHEADER);
	for (i = 0; i < siglen; i++) {
		if (sig[i] == '\r')
			continue;
		if (sig[i] == '\n' && !lf)
			putchar('\r');
		putchar(sig[i]);
	}
	fputs(lf ? "\n" : "\r\n", stdout);
	fwrite(msg, 1, len, stdout);
	if (fflush(stdout) != 0) {
		perror("dkimsign: stdout");
		return 1;
	}
	dkim_free(dkim);
	dkim_close(lib);
	free(crlf);
	free(msg);
	free(key);
	return 0;
}
