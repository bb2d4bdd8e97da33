/*
 * state.h: the SQLite state store.  The only module that speaks SQL: runs
 * and events (history), files (the remote tree as last mirrored), staged
 * (what incoming holds) and scan (the working set of the current run, so
 * no tree is held in memory: its work queue keeps only row ids).
 */
#ifndef FTPMIRROR_STATE_H
#define FTPMIRROR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Where an entry of the current run stands.  The numbers are stored in
 * scan and named in state.c's SQL: keep them.  A row being worked on (a
 * listing, download or command in flight) stays in its waiting state in
 * the table; only the state handle knows it is claimed.
 */
enum scan_state {
	SCAN_DIR_PENDING = 1,	/* directory waiting to be listed */
	SCAN_DIR_DONE = 3,	/* listed completely */
	SCAN_DIR_FAILED = 4,	/* listing failed for good */
	SCAN_DIR_UNLISTED = 5,	/* not walked (max_depth) */
	SCAN_DIR_INCOMPLETE = 6, /* listed, but some lines were unreadable:
				   nothing below it counts as gone */
	SCAN_FILE_UNCHANGED = 10, /* target already holds this version */
	SCAN_FILE_FETCH = 11,	/* waiting to be downloaded */
	SCAN_FILE_HELD = 12,	/* staged, held back from this publish */
	SCAN_FILE_STAGED = 13,	/* complete in incoming, to publish (and,
				   once publish_run succeeded, published) */
	SCAN_FILE_FAILED = 14,	/* download failed for good */
	SCAN_FILE_CHECK = 16,	/* LIST could not tell: ask MDTM */
	SCAN_FILE_REJECTED = 18, /* failed verification: quarantined */
	SCAN_FILE_HASH = 19,	/* staged, waiting for the server's hash */
	SCAN_LINK = 20,		/* symbolic link to (re)create at publish */
	SCAN_LINK_UNCHANGED = 21 /* target already holds this link */
};

/* What publishing an entry does to target. */
enum scan_action {
	SCAN_ACTION_NONE = 0,	/* nothing: unchanged */
	SCAN_ACTION_ADD,	/* nothing was at its path */
	SCAN_ACTION_CHANGE	/* replaces what was at its path */
};

/* One row of scan. */
struct scan_row {
	int64_t		 id;
	char		*path;		/* owned by the row */
	char		*link_target;	/* owned, or NULL */
	int		 depth;
	char		 type;		/* 'f', 'd' or 'l' */
	int64_t		 size;		/* -1 unknown */
	int64_t		 mtime;		/* seconds since the epoch, UTC */
	int		 mtime_prec;	/* enum mtime_prec */
	enum scan_state	 state;
	enum scan_action action;
	int		 tries;
	int64_t		 verified_at;	/* mtime confirmed exactly then, -1 */
};

/* What files holds for a path (the tree as last mirrored). */
struct files_row {
	int64_t		 size;		/* -1 for directories and links */
	int64_t		 mtime;		/* UTC seconds */
	int		 mtime_prec;	/* enum mtime_prec */
	int64_t		 verified_at;	/* mtime confirmed exactly then, -1 */
	bool		 recheck;	/* due for an MDTM whatever LIST says */
};

/* A staged file: INCOMING/<id> holds (part of) remote version size/mtime. */
struct staged_row {
	int64_t		 id;
	int64_t		 size;
	int64_t		 mtime;
	bool		 complete;
};

/* Totals of a run, as stored in runs. */
struct run_counts {
	int64_t	added;
	int64_t	changed;
	int64_t	deleted;
	int64_t	bytes;
	int64_t	errors;
};

/* A row of runs, for history. */
struct run_info {
	int64_t		 id;
	const char	*job;
	const char	*started_at;
	const char	*finished_at;	/* NULL while running */
	const char	*status;
	struct run_counts counts;
	const char	*message;	/* may be NULL */
	const char	*source;	/* the job's source URL then; may be NULL */
	int64_t		 pid;		/* the process that ran it, -1 when NULL */
};

/* A job as its runs tell it, for status, metrics and the scheduler. */
struct job_summary {
	struct run_info	 last;		/* its newest run */
	const char	*last_ok_at;	/* finished_at of the last ok run, or NULL */
	int64_t		 last_ok;	/* the same in seconds, or -1 */
	int64_t		 failures;	/* runs not ok since the last ok one */
	bool		 failed;	/* the newest run's status is failed */
	int64_t		 started;	/* newest run's start, seconds */
	int64_t		 finished;	/* its end, seconds, or -1 */
	struct {			/* the newest run that is over */
		const char	*status;	/* NULL: none is */
		struct run_counts counts;
		int64_t		 started;
		int64_t		 finished;	/* or -1 */
	}		 done;
};

/* One event of a path, for `show`. */
struct event_info {
	const char	*time;
	int64_t		 run_id;
	const char	*action;
	int64_t		 bytes;		/* -1 when NULL */
	const char	*detail;	/* may be NULL */
};

struct state;

/*
 * Open (creating when missing) the database at path, in WAL mode, and bring
 * its schema up to date.  With dry, everything done through the handle
 * stays in one transaction that is rolled back by state_close, and a
 * missing database is not created (an empty one lives in memory instead).
 * Returns NULL after logging why.
 */
struct state *state_open(const char *path, bool dry);

/* Commit what is pending (unless dry) and close.  NULL is a no-op. */
void state_close(struct state *st);

/*
 * Writes are batched in transactions; commit the batch when it is older
 * than a fraction of a second (and start the next).  Returns 0 or -1.
 */
int state_checkpoint(struct state *st);

/* Commit now.  Returns 0 or -1. */
int state_commit(struct state *st);

/* runs and events */
int state_run_begin(struct state *st, const char *job, const char *source,
    int64_t *run_id);
/* Runs of job left 'running' by a process that died become 'aborted'. */
int state_run_reap(struct state *st, const char *job);
int state_run_finish(struct state *st, int64_t run_id, const char *status,
    const struct run_counts *c, const char *message);
int state_event(struct state *st, int64_t run_id, const char *path,
    const char *action, int64_t bytes, const char *detail);

/*
 * Call fn for the newest runs (of job, or all when job is NULL), newest
 * first, at most limit.  Strings are valid during the call only.
 */
int state_history(struct state *st, const char *job, int limit,
    void (*fn)(void *arg, const struct run_info *r), void *arg);

/*
 * Call fn with the summary of each job that has runs, by name (only job's
 * when job is not NULL).  Strings are valid during the call only.
 */
int state_summaries(struct state *st, const char *job,
    void (*fn)(void *arg, const struct job_summary *js), void *arg);

/* Call fn for each event of path in job's runs, newest first, at most limit. */
int state_show(struct state *st, const char *job, const char *path,
    int limit, void (*fn)(void *arg, const struct event_info *ev), void *arg);

/* Delete the events of job's runs that ended more than days ago. */
int state_prune_events(struct state *st, const char *job, int days);

/* scan */
int state_scan_reset(struct state *st, const char *job);

/*
 * Add a row for path (its other fields from row; row's id, path and
 * link_target are ignored).  Returns 0, 1 when the path was already there
 * (a listing that names an entry twice), or -1.
 */
int state_scan_add(struct state *st, const char *job, const char *parent,
    const char *path, const char *link_target, const char *unique,
    const struct scan_row *row);

/*
 * The run's work queue: the rows put in a waiting state (SCAN_DIR_PENDING,
 * SCAN_FILE_FETCH, SCAN_FILE_CHECK, SCAN_FILE_HASH) through this handle
 * since the last state_scan_reset, kept in memory so that taking the next
 * one costs no query of the table.
 *
 * Claim the next row in waiting that may run now (not_before <= now, both
 * in milliseconds since the epoch): rows whose retry time has come first,
 * soonest first, then the others in the order they were put there.  Fills
 * *row (free with state_scan_row_clear) and returns 1, 0 when none, -1 on
 * error (also once the queue has lost a row to a lack of memory).  The
 * row is in flight until its next state_scan_set, _set_type or _forget;
 * it is not handed out again meanwhile.
 */
int state_scan_claim(struct state *st, enum scan_state waiting, int64_t now,
    struct scan_row *row);

/*
 * When the next unclaimed row in waiting is due (0: at once, which may
 * also be a row that has left the state since: state_scan_claim then
 * finds none): 1 with *when set, 0 when there is none, -1 on error.
 */
int state_scan_next_retry(struct state *st, enum scan_state waiting,
    int64_t *when);

/*
 * At most how many rows of waiting are left to do: in the queue, or
 * claimed from it and in flight.  (Rows that left the state since they
 * were queued count until the queue comes to them.)
 */
size_t state_scan_unfinished(struct state *st, enum scan_state waiting);

/* Set a row's state, tries and not_before. */
int state_scan_set(struct state *st, int64_t id, enum scan_state state,
    int tries, int64_t not_before);

/* Set a row's mtime, precision and when it was confirmed (MDTM). */
int state_scan_set_mtime(struct state *st, int64_t id, int64_t mtime,
    int prec, int64_t verified_at);

/* Set what publishing a row does (an MDTM check found a change). */
int state_scan_set_action(struct state *st, int64_t id,
    enum scan_action action);

/*
 * Make a row another type ('f', 'd', 'l') in state: a followed link's.
 * Its size and time were the link's own, so they are forgotten.
 */
int state_scan_set_type(struct state *st, int64_t id, char type,
    enum scan_state state);

/* Drop a row, as if the listing had not named it (what it held vanishes). */
int state_scan_forget(struct state *st, int64_t id);

/* Record a directory's own unique fact (from its MLSD cdir line). */
int state_scan_set_unique(struct state *st, int64_t id, const char *unique);

/*
 * The MLSD unique fact of path in the scan (a string the caller frees):
 * 1 with *unique set, 0 when unknown, -1 on error.
 */
int state_scan_unique(struct state *st, const char *job, const char *path,
    char **unique);

/* Number of rows of job in state. */
int64_t state_scan_count(struct state *st, const char *job,
    enum scan_state state);

/*
 * Call fn for every row of job in one of the given states, in path order
 * (parents before children).  Returning -1 from fn stops with -1.
 */
int state_scan_foreach(struct state *st, const char *job,
    const enum scan_state *states, size_t nstates,
    int (*fn)(void *arg, const struct scan_row *row), void *arg);

void state_scan_row_clear(struct scan_row *row);

/* staged */
int state_staged_get(struct state *st, const char *job, const char *path,
    struct staged_row *out);		/* 1 found, 0 not, -1 error */
/*
 * With row->id 0, add a row for path: 0 and row->id set; or, when path has
 * one already, 1 with *row set to that one.  Else update row: 0.  -1 error.
 */
int state_staged_put(struct state *st, const char *job, const char *path,
    struct staged_row *row);
/* The run's fetched files (scan rows staged or awaiting a hash): complete. */
int state_staged_complete(struct state *st, const char *job);
int state_staged_delete(struct state *st, int64_t id);
/* Has job any staged file?  1 yes, 0 no, -1 error. */
int state_staged_any(struct state *st, const char *job);
/* Is id a staged file (of any job)? 1 yes, 0 no, -1 error. */
int state_staged_known(struct state *st, int64_t id);

/*
 * Deletions: call fn for each path of job in files that the current scan
 * no longer has while its directory was listed completely (top-most only:
 * a vanished directory is reported, not its contents).  type is 'f', 'd'
 * or 'l'.
 */
int state_vanished_foreach(struct state *st, const char *job,
    int (*fn)(void *arg, const char *path, char type), void *arg);

/*
 * Call fn for each files row of job strictly below path (what a vanished
 * directory held), in path order.
 */
int state_files_foreach_below(struct state *st, const char *job,
    const char *path, int (*fn)(void *arg, const char *path, char type),
    void *arg);

/* The files row of path: 1 found (*out filled), 0 not, -1 error. */
int state_files_get(struct state *st, const char *job, const char *path,
    struct files_row *out);

/*
 * Mark the count files of job whose mtimes were confirmed longest ago:
 * their next LIST entry is checked with MDTM however it looks.
 */
int state_files_mark_recheck(struct state *st, const char *job,
    int64_t count);

/* Files (not directories) of job at path or below it: what deleting it removes. */
int64_t state_files_count_below(struct state *st, const char *job,
    const char *path);

/* Number of files rows of job. */
int64_t state_files_count(struct state *st, const char *job);

/* Forget path and everything below it. */
int state_files_delete_below(struct state *st, const char *job,
    const char *path);

/*
 * Record the scan of job as the mirrored tree, once publish_run has put
 * it in target: every entry there (unchanged, staged and so published,
 * links, listed directories) is written to files.
 */
int state_files_update_from_scan(struct state *st, const char *job,
    int64_t run_id);

/* The current UTC time as ISO 8601 text into buf (at least 21 bytes). */
void state_iso_time(int64_t t, char *buf, size_t len);

#endif
