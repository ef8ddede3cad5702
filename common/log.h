/*
 * log.h: logging for every sekisho program.
 *
 * One line per event, as key=value pairs, to stderr in the foreground and
 * to syslog (LOG_MAIL) as a daemon.  Every line starts with the level and
 * the process ("lvl=info proc=smtpd.smtp").  Two families:
 *
 *   log_kv(level, "event=connect sid=%016llx ip=%s", ...)
 *	the caller writes the pairs; values that come from outside must be
 *	passed through log_esc() first so a peer cannot forge fields or lines.
 *   log_warn/log_warnx/log_info/log_debug/fatal/fatalx("fn: text", ...)
 *	free text, emitted as msg="..." (escaped), plus err="strerror" for
 *	log_warn and fatal.
 */
#ifndef SEKISHO_LOG_H
#define SEKISHO_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

void	 log_init(const char *, bool, int);
void	 log_setproc(const char *);
void	 log_setlevel(int);
int	 log_getlevel(void);
int	 log_level_parse(const char *);
const char *log_level_name(int);

void	 log_kv(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_esc: the value as a safe key=value token.  Plain tokens are copied;
 * anything with space, quote, '=', backslash, control or non-ASCII bytes is
 * double-quoted with \" \\ and \xNN escapes.  Always terminates; a value
 * too long for dst is cut and ends with "...".
 */
const char *log_esc(char *, size_t, const char *);
#define LOG_ESC_MAX	512

#endif
