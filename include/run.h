/*
 * run.h: one run of one job, shared by the modules that carry it out:
 * sync.c (the order of things), crawl.c (listings), fetch.c (downloads),
 * publish.c (incoming -> target).
 */
#ifndef FTPMIRROR_RUN_H
#define FTPMIRROR_RUN_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "listing.h"
#include "progress.h"
#include "state.h"

struct job;
struct xfer;

/* What a dry run found to do, as publish_print_plan printed it (--dry-run). */
struct dry_counts {
	int64_t	fetch;		/* files to download */
	int64_t	bytes;		/* their size */
	int64_t	staged;		/* files staged before, to publish */
	int64_t	links;		/* links to make */
	int64_t	dirs;		/* directories to make */
	int64_t	deletions;	/* paths to delete */
};

struct run {
	const struct job *job;
	struct state	*state;
	struct xfer	*xfer;
	int64_t		 id;		/* runs.id */
	bool		 dry;		/* --dry-run: change nothing */
	bool		 json;		/* --json: the plan for machines */
	int64_t		 time_min;	/* file times the local file system */
	int64_t		 time_max;	/* stores (fetch_probe_times) */
	struct dry_counts dry_counts;	/* what the dry run would do */
	int		 target_fd;	/* the public tree, or -1 (dry, missing) */
	int		 incoming_fd;	/* the staging area, or -1 */
	struct feat	 feat;		/* what the server offers */
	enum listing_format format;	/* how directories are listed */
	struct run_counts counts;
	int64_t		 failed;	/* transfers that failed for good */
	int64_t		 refused;	/* files the server refused for good
					   (a 5xx to RETR): left out, the rest
					   is published */
	int64_t		 rejected;	/* files the gate quarantined */
	int64_t		 incomplete;	/* entries not mirrorable: refused
					   names, unreadable listing lines,
					   directories too deep */
	bool		 remote_unusable; /* connect, login or root listing failed */
	bool		 staged_before;	/* incoming held files of the job when
					   the run began (to resume or publish) */
	struct fetch	*unopened;	/* downloads started before their file
					   was opened (fetch_open_started) */
	bool		 open_first;	/* no more of those: one failed, or a
					   first try left a partial */
	enum {
		FLUSH_AHEAD_NOT_YET,
		FLUSH_AHEAD_RUNNING,	/* flusher is to be joined */
		FLUSH_AHEAD_OVER
	}		 flush_ahead;	/* see publish_flush_ahead */
	pthread_t	 flusher;
	int		 flush_ahead_errno; /* its syncfs's, once joined */
	char		*message;	/* first fatal reason, owned */
	volatile sig_atomic_t *stop;	/* set by SIGTERM/SIGINT */
	struct progress	 progress;	/* the terminal's status line */
};

/* Record an event of the run (nothing in a dry run). */
void run_event(struct run *r, const char *path, const char *action,
    int64_t bytes, const char *detail);

/* Record a failure: an error event, the count, and the first message. */
void run_error(struct run *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A remote file time as the local file system will keep it: the nearest
 * in its range.  Comparing remote times clamped so, a file whose time it
 * can't store is not taken for changed by every run.
 */
int64_t run_local_time(const struct run *r, int64_t t);

/* Now in milliseconds since the epoch: the unit of scan.not_before. */
int64_t run_now_ms(void);

/* When try number tries may start (1, 2, 4 ... 60 s from now), in ms. */
int64_t run_retry_at(int tries);

#endif
