/*
 * ctl_console.c: sekishoctl console ..., the administrators of the
 * manager's console and JSON API (docs/manager.md "Console and JSON
 * API", console_users.h):
 *
 *	console passwd NAME [--stdin]	add NAME, or change its password
 *					(asked twice on the terminal, or
 *					one line of standard input)
 *	console remove NAME
 *	console users [--json]		the administrators' names
 *
 * They edit [imss_manager] console_users_file (mode 0600, replaced
 * atomically); the running console learns of a change at the next
 * sekishoctl reload, which restarts it.  Only the hash is stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "console_users.h"
#include "sekishoctl.h"
#include "util.h"

static int __attribute__((noreturn))
cs_usage(void)
{
	fprintf(stderr,
	    "usage: sekishoctl [-c confdir] console passwd NAME [--stdin]\n"
	    "       sekishoctl [-c confdir] console remove NAME\n"
	    "       sekishoctl [-c confdir] [--json] console users\n");
	exit(2);
}

/*
 * cs_readline: one line from fd into buf (without its end); false at
 * EOF before a newline when nothing was read, or when it is too long.
 */
static bool
cs_readline(int fd, char *buf, size_t len, bool *toolong)
{
	size_t	 n = 0;
	ssize_t	 r;
	char	 ch;

	*toolong = false;
	for (;;) {
		if ((r = read(fd, &ch, 1)) == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (n == 0)
				return false;
			break;
		}
		if (ch == '\n')
			break;
		if (n + 1 >= len)
			*toolong = true;
		else
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return !*toolong;
}

/* cs_ask: prompt on the terminal with echo off; false when it cannot. */
static bool
cs_ask(int tty, const char *prompt, char *buf, size_t len)
{
	struct termios	 old, quiet;
	bool		 ok, toolong;

	if (tcgetattr(tty, &old) == -1)
		return false;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	(void)fd_write_all(tty, prompt, strlen(prompt));
	if (tcsetattr(tty, TCSAFLUSH, &quiet) == -1)
		return false;
	ok = cs_readline(tty, buf, len, &toolong);
	(void)tcsetattr(tty, TCSAFLUSH, &old);
	(void)fd_write_all(tty, "\n", 1);
	if (toolong)
		fprintf(stderr, "sekishoctl: password too long (at most %d "
		    "bytes)\n", CONSOLE_PASSWORD_MAX);
	return ok;
}

/* cs_password: the new password, from the terminal (twice) or stdin. */
static bool
cs_password(const char *name, bool from_stdin, char *pw, size_t len)
{
	char	 again[CONSOLE_PASSWORD_MAX + 1], prompt[128];
	bool	 ok, toolong;
	int	 tty;

	if (from_stdin) {
		if (!cs_readline(STDIN_FILENO, pw, len, &toolong)) {
			if (toolong)
				fprintf(stderr, "sekishoctl: password too long "
				    "(at most %d bytes)\n",
				    CONSOLE_PASSWORD_MAX);
			else
				fprintf(stderr, "sekishoctl: no password on "
				    "standard input\n");
			return false;
		}
		return true;
	}
	if ((tty = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1) {
		fprintf(stderr, "sekishoctl: /dev/tty: %s (give --stdin)\n",
		    strerror(errno));
		return false;
	}
	(void)str_printf(prompt, sizeof(prompt), "New password for %s: ",
	    name);
	ok = cs_ask(tty, prompt, pw, len) && cs_ask(tty, "Again: ", again,
	    sizeof(again));
	close(tty);
	if (ok && strcmp(pw, again) != 0) {
		fprintf(stderr, "sekishoctl: the passwords differ\n");
		ok = false;
	}
	explicit_bzero(again, sizeof(again));
	return ok;
}

/* cs_chars: the characters of a UTF-8 text (continuation bytes skipped). */
static size_t
cs_chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* cs_load: the administrators' file of conf. */
static bool
cs_load(const struct sekisho_conf *conf, struct console_users *u)
{
	char	 err[512];

	if (console_users_load(conf->imss.console_users_file, u, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return false;
	}
	return true;
}

/* cs_save: write it back; false (said why) when it cannot. */
static bool
cs_save(const struct sekisho_conf *conf, const struct console_users *u)
{
	char	 err[512];

	if (console_users_save(conf->imss.console_users_file, u, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return false;
	}
	return true;
}

/* cs_passwd: console passwd NAME [--stdin]. */
static int
cs_passwd(const struct sekisho_conf *conf, const char *name, bool from_stdin)
{
	struct console_users u;
	char	 pw[CONSOLE_PASSWORD_MAX + 1], hash[CONSOLE_HASH_MAX + 1];
	char	 err[512];
	bool	 known;
	int	 rc = 1;

	if (!console_name_ok(name)) {
		fprintf(stderr, "sekishoctl: \"%s\" cannot be an "
		    "administrator's name (1 to %d of a-z 0-9 . _ -, starting "
		    "with a letter or a digit)\n", name, CONSOLE_NAME_MAX);
		return 1;
	}
	if (!cs_load(conf, &u))
		return 1;
	if (!cs_password(name, from_stdin, pw, CONSOLE_PASSWORD_MAX + 1))
		goto out;
	if (cs_chars(pw) < CONSOLE_PASSWORD_MIN) {
		fprintf(stderr, "sekishoctl: the password is too short (at "
		    "least %d characters)\n", CONSOLE_PASSWORD_MIN);
		goto out;
	}
	known = console_users_find(&u, name) != NULL;
	if (console_hash(pw, hash, sizeof(hash), err, sizeof(err)) == -1 ||
	    console_users_set(&u, name, hash, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		goto out;
	}
	if (!cs_save(conf, &u))
		goto out;
	printf("%s: administrator %s %s; run \"sekishoctl reload\" so that "
	    "the console uses it\n", conf->imss.console_users_file, name,
	    known ? "has a new password" : "added");
	rc = 0;
out:
	explicit_bzero(pw, sizeof(pw));
	console_users_free(&u);
	return rc;
}

/* cs_remove: console remove NAME. */
static int
cs_remove(const struct sekisho_conf *conf, const char *name)
{
	struct console_users u;
	int	 rc = 1;

	if (!cs_load(conf, &u))
		return 1;
	if (!console_users_remove(&u, name))
		fprintf(stderr, "sekishoctl: %s: no administrator %s\n",
		    conf->imss.console_users_file, name);
	else if (cs_save(conf, &u)) {
		printf("%s: administrator %s removed; run \"sekishoctl "
		    "reload\" so that the console forgets it\n",
		    conf->imss.console_users_file, name);
		rc = 0;
	}
	console_users_free(&u);
	return rc;
}

/* cs_users: console users: the names, one a line or a JSON array. */
static int
cs_users(const struct sekisho_conf *conf, bool json)
{
	struct console_users u;
	json_t	*a;
	char	*text;
	size_t	 i;

	if (!cs_load(conf, &u))
		return 1;
	if (json) {
		a = json_array();
		for (i = 0; i < u.n; i++)
			json_array_append_new(a, json_string(u.v[i].name));
		if ((text = json_dumps(a, JSON_INDENT(2))) != NULL)
			printf("%s\n", text);
		free(text);
		json_decref(a);
	} else
		for (i = 0; i < u.n; i++)
			printf("%s\n", u.v[i].name);
	console_users_free(&u);
	return 0;
}

/* cmd_console: sekishoctl console ... (argv[0] is "console"). */
int
cmd_console(const char *confdir, int argc, char **argv, bool json)
{
	struct sekisho_conf conf;
	bool	 from_stdin = false;
	int	 rc;

	if (argc < 2)
		cs_usage();
	if (strcmp(argv[1], "passwd") == 0) {
		if (argc == 4 && strcmp(argv[3], "--stdin") == 0)
			from_stdin = true;
		else if (argc != 3)
			cs_usage();
	} else if (strcmp(argv[1], "remove") == 0) {
		if (argc != 3)
			cs_usage();
	} else if (strcmp(argv[1], "users") == 0) {
		if (argc == 3 && strcmp(argv[2], "--json") == 0)
			json = true;
		else if (argc != 2)
			cs_usage();
	} else
		cs_usage();
	if (ctl_load(confdir, &conf, true) == -1)
		return 1;
	if (strcmp(argv[1], "passwd") == 0)
		rc = cs_passwd(&conf, argv[2], from_stdin);
	else if (strcmp(argv[1], "remove") == 0)
		rc = cs_remove(&conf, argv[2]);
	else
		rc = cs_users(&conf, json);
	conf_free(&conf);
	return rc;
}
