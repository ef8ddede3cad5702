/*
 * log.c: key=value logging to stderr or syslog (see log.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool	 log_foreground = true;
static int	 log_lvl = LOG_LVL_INFO;
static char	 log_proc[64] = "sekisho";

static const char *const level_names[] = { "err", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* log_init: choose stderr (foreground) or syslog, and the level. */
void
log_init(const char *proc, bool foreground, int level)
{
	log_setproc(proc);
	log_foreground = foreground;
	log_lvl = level;
	if (!foreground)
		openlog(proc, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

/* log_setproc: name this process in every later line (e.g. "smtpd.queue"). */
void
log_setproc(const char *proc)
{
	str_lcpy(log_proc, proc, sizeof(log_proc));
}

void
log_setlevel(int level)
{
	log_lvl = level;
}

int
log_getlevel(void)
{
	return log_lvl;
}

/* log_level_parse: "err".."debug" to a level, -1 if unknown. */
int
log_level_parse(const char *s)
{
	size_t	 i;

	for (i = 0; i < nitems(level_names); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "error") == 0)
		return LOG_LVL_ERR;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || (size_t)level >= nitems(level_names))
		return "?";
	return level_names[level];
}

/* esc_value: log_esc, optionally quoting even a plain token. */
static const char *
esc_value(char *dst, size_t size, const char *s, bool quote)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t	 o = 0;

	if (*s == '\0')
		quote = true;

	if (size < 8) {
		if (size > 0)
			dst[0] = '\0';
		return dst;
	}
	for (p = (const unsigned char *)s; *p != '\0' && !quote; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '=' ||
		    *p == '\\')
			quote = true;
	if (!quote)
		goto plain;
	dst[o++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		/* Room for the worst case (4 bytes), "..." and the quote. */
		if (o + 4 + 3 + 2 > size) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)*p;
		} else if (*p < ' ' || *p >= 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 0xf];
		} else
			dst[o++] = (char)*p;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
plain:
	if (str_lcpy(dst, s, size) >= size)
		memcpy(dst + size - 4, "...", 4);
	return dst;
}

/* log_esc: see log.h. */
const char *
log_esc(char *dst, size_t size, const char *s)
{
	return esc_value(dst, size, s, false);
}

/* log_emit: write one finished line (body already key=value). */
static void
log_emit(int level, const char *body)
{
	char		 ts[40];
	struct timespec	 now;
	struct tm	 tm;
	int		 saved = errno;

	if (log_foreground) {
		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld lvl=%s proc=%s %s\n", ts,
		    now.tv_nsec / 1000000, log_level_name(level), log_proc,
		    body);
		fflush(stderr);
	} else
		syslog(syslog_prio[level], "lvl=%s proc=%s %s",
		    log_level_name(level), log_proc, body);
	errno = saved;
}

/* log_vkv: format caller-supplied key=value pairs and emit them. */
static void __attribute__((format(printf, 2, 0)))
log_vkv(int level, const char *fmt, va_list ap)
{
	char	 body[4096];

	if (level > log_lvl)
		return;
	vsnprintf(body, sizeof(body), fmt, ap);
	log_emit(level, body);
}

void
log_kv(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vkv(level, fmt, ap);
	va_end(ap);
}

/* log_vmsg: free text as msg="...", with err="..." when errnum != 0. */
static void __attribute__((format(printf, 3, 0)))
log_vmsg(int level, int errnum, const char *fmt, va_list ap)
{
	char	 text[2048], esc[2 * LOG_ESC_MAX], eesc[256];

	if (level > log_lvl)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	/* A plain token still reads better quoted in a msg field. */
	esc_value(esc, sizeof(esc), text, true);
	if (errnum != 0)
		log_kv(level, "msg=%s err=%s", esc,
		    log_esc(eesc, sizeof(eesc), strerror(errnum)));
	else
		log_kv(level, "msg=%s", esc);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 e = errno;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, e, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 e = errno;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
