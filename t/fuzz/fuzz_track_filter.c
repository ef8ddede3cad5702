/*
 * fuzz_track_filter.c: libFuzzer target for the tracking-log filter
 * parser (sekishoctl "log query" options: track_filter_set, times through
 * track_time_parse) and the text cleaning and folding every stored and
 * searched string goes through.  Input: "key=value" lines.  Invariants:
 * nothing crashes; a parsed time is not negative; cleaned text is valid
 * UTF-8 within its limit and cleans to itself; folding keeps the length
 * and folds to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* text: cleaning and folding invariants on s. */
static void
text(const char *s, size_t max)
{
	char	*c, *c2, *f, *f2;

	c = track_clean(s, max);
	if (strlen(c) > max)
		abort();
	c2 = track_clean(c, max);
	if (strcmp(c, c2) != 0)
		abort();
	f = track_fold(c);
	if (strlen(f) != strlen(c))
		abort();
	f2 = track_fold(f);
	if (strcmp(f, f2) != 0)
		abort();
	free(c);
	free(c2);
	free(f);
	free(f2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct track_filter	 f;
	char			*s, *line, *next, *eq, err[256];
	int64_t			 t, now = 1714550400LL * 1000000;

	if (size > 8192 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	text(s, 64);
	text(s, TRACK_DETAIL_MAX);
	memset(&f, 0, sizeof(f));
	for (line = s; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (track_time_parse(line, now, &t) && t < 0)
			abort();
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		err[0] = '\0';
		if (!track_filter_set(&f, line, eq + 1, now, err,
		    sizeof(err)) && err[0] == '\0')
			abort();
		if (f.since < 0 || f.until < 0)
			abort();
	}
	free(s);
	return 0;
}
