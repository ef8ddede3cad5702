/*
 * util.h: small string and number helpers shared by every program.
 *
 * Bounded copies (no strcpy/strcat/sprintf in this project), strict number
 * parsing and the growable byte buffer used for input whose length comes
 * from outside.
 */
#ifndef SEKISHO_UTIL_H
#define SEKISHO_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

size_t	 str_lcpy(char *, const char *, size_t);
size_t	 str_lcat(char *, const char *, size_t);
bool	 str_printf(char *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	 str_fail(char *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
char	*str_trim(char *);
bool	 str_expand(char *, size_t, const char *, const char *const *,
	    size_t);
bool	 str_to_ll(const char *, long long, long long, long long *);
int	 str_hexval(char);
bool	 mem_8bit(const void *, size_t);
bool	 date_rfc5322(char *, size_t, time_t);

int	 fd_write_all(int, const void *, size_t);
int	 fd_copy_range(int, uint64_t, uint64_t, int, uint64_t *);
char	*file_read_at(int, const char *, size_t, size_t *);
char	*file_read(const char *, size_t, size_t *);
int	 file_write_atomic(const char *, const void *, size_t, unsigned);
int	 dir_open_sub(int, const char *);

/*
 * A growable byte buffer with a hard limit.  buf_add fails (returns false
 * and changes nothing) instead of growing past the limit, so a peer cannot
 * make us allocate more than we allowed.
 */
struct buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 limit;
};

void	 buf_init(struct buf *, size_t);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
bool	 buf_add(struct buf *, const void *, size_t);
bool	 buf_addstr(struct buf *, const char *);
bool	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_consume(struct buf *, size_t);
const char *buf_cstr(struct buf *);
char	*buf_take_str(struct buf *);

#endif
