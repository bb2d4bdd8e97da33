/*
 * log.c: every message the program prints about its work passes here, so
 * verbosity and the journald priority prefix are decided in one place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static enum log_level	log_max = LOG_LEVEL_INFO;
static int		log_journal;	/* prefix lines with "<N>" */
static bool		log_status_line; /* erase it before each message */

/*
 * Set the most detailed level shown.  JOURNAL_STREAM is set by systemd when
 * stderr goes to the journal; then each line carries its syslog priority.
 */
void
log_init(enum log_level max)
{
	log_max = max;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

/* A status line is on the terminal (or no longer). */
void
log_set_status_line(bool on)
{
	log_status_line = on;
}

/* The level set by log_init. */
enum log_level
log_max_level(void)
{
	return log_max;
}

static void
log_vprint(enum log_level level, const char *fmt, va_list ap)
{
	/* syslog priorities: err 3, warning 4, info 6, debug 7 */
	static const int priority[] = { 3, 4, 6, 7 };
	static const char *const tag[] = { "error: ", "warning: ", "", "" };

	if (level > log_max)
		return;
	/* One line at a time: the logout thread may log too. */
	flockfile(stderr);
	if (log_status_line)
		fputs("\r\033[K", stderr);
	if (log_journal)
		fprintf(stderr, "<%d>", priority[level]);
	fprintf(stderr, "ftpmirror: %s", tag[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void
log_at(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(level, fmt, ap);
	va_end(ap);
}

/* Report an error: always shown. */
void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
}

/* Report a warning: shown unless --quiet. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

/* Report progress: shown unless --quiet. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

/* Report a detail (one line per file or protocol step): with --verbose. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}
