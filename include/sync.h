/*
 * sync.h: one run of one job, start to end: lock, probe, crawl and fetch
 * on the shared connections, publish, record.
 */
#ifndef FTPMIRROR_SYNC_H
#define FTPMIRROR_SYNC_H

#include <signal.h>
#include <stdbool.h>

struct job;
struct state;

/* Exit statuses of ../shared/INTERFACE.md. */
enum sync_status {
	SYNC_OK = 0,		/* target matches the remote tree */
	SYNC_PARTIAL = 1,	/* some files failed; target consistent */
	SYNC_USAGE = 2,		/* usage or job-file error */
	SYNC_LOCKED = 3,	/* the job is already running */
	SYNC_REMOTE = 4,	/* connect, login or root listing failed */
	SYNC_LIMIT = 5		/* a safety limit stopped it */
};

struct sync_opts {
	bool			 dry;	/* print the plan, change nothing */
	bool			 json;	/* summary as a JSON object */
	volatile sig_atomic_t	*stop;	/* set on SIGTERM/SIGINT */
	const char		*metrics_file; /* or NULL: the job's, if any */
	bool			 scheduled; /* by due or run: a held lock is
					       a warning, not an error */
};

/* Run job once, recording it in st.  Returns an enum sync_status. */
enum sync_status sync_job(const struct job *job, struct state *st,
    const struct sync_opts *o);

/*
 * List the root of job's source once and print each entry as parsed (the
 * `ls` command).  Returns SYNC_OK or SYNC_REMOTE.
 */
enum sync_status sync_ls(const struct job *job, volatile sig_atomic_t *stop);

#endif
