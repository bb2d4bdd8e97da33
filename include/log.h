/*
 * log.h: the one place messages leave the program.  Errors and warnings go
 * to stderr; info and debug to stderr as well, filtered by verbosity.  Under
 * systemd (JOURNAL_STREAM set) each line starts with a "<N>" priority so
 * journald keeps the level.
 */
#ifndef FTPMIRROR_LOG_H
#define FTPMIRROR_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR,		/* always shown */
	LOG_LEVEL_WARN,		/* shown unless --quiet */
	LOG_LEVEL_INFO,		/* shown unless --quiet */
	LOG_LEVEL_DEBUG		/* shown with --verbose */
};

/* Set the most detailed level shown; reads JOURNAL_STREAM once. */
void log_init(enum log_level max);

/*
 * A status line (progress) is on the terminal: each message first erases
 * it, and the next redraw puts it back under the message.
 */
void log_set_status_line(bool on);

/* The level set by log_init. */
enum log_level log_max_level(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* At a level chosen at run time. */
void log_at(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
