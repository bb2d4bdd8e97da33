/*
 * progress.h: the live progress line of `sync` on a terminal: files done
 * of those to fetch, bytes, rate, ETA and the current file, redrawn in
 * place on stderr.  Off when stderr is not a terminal or with --quiet;
 * then the log's plain lines are all there is.
 */
#ifndef FTPMIRROR_PROGRESS_H
#define FTPMIRROR_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool		 on;		/* drawing at all */
	bool		 drawn;		/* a line is on the screen */
	const char	*job;
	int64_t		 files_total;	/* files found to fetch */
	int64_t		 files_done;
	int64_t		 bytes_total;	/* their listed sizes */
	int64_t		 bytes_done;
	double		 started;	/* monotonic seconds */
	double		 last_draw;
	char		 current[128];	/* the file last started */
};

/* Start for job; on only when stderr is a terminal and logging is on. */
void progress_init(struct progress *p, const char *job);

/* Note the file being fetched now. */
void progress_current(struct progress *p, const char *path);

/* Redraw, at most a few times a second. */
void progress_draw(struct progress *p);

/* Take the line off the screen (before the summary). */
void progress_clear(struct progress *p);

#endif
