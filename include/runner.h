/*
 * runner.h: running the jobs of the jobs directory on their schedules:
 * `due` (each due job once, for cron) and `run` (the scheduler daemon).
 * Each run is a child process, so a crash or a hang in one job never takes
 * the others, or the daemon, with it.
 */
#ifndef FTPMIRROR_RUNNER_H
#define FTPMIRROR_RUNNER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct job;
struct job_summary;

struct runner_opts {
	const char		*db_path;
	const char		*jobs_dir;
	int			 max_parallel;	/* jobs running at once */
	const char		*metrics_file;	/* or NULL */
	volatile sig_atomic_t	*stop;		/* SIGTERM/SIGINT */
	volatile sig_atomic_t	*reload;	/* SIGHUP (run only) */
};

/*
 * When job is next due (seconds since the epoch), given the summary of its
 * runs (NULL when it never ran): its schedule after the newest run's
 * start (cron fields in the wall clock of the zone tz_use_environment()
 * chose: UTC unless TZ says otherwise), and, while it keeps failing, no sooner than a back-off after the
 * last failure (1 minute, doubling, at most 6 hours).  -1 when the job has
 * no schedule.  Reads no clock: now is given.
 */
int64_t runner_next_due(const struct job *job, const struct job_summary *js,
    int64_t now);

/* runner_due_since's answer for a job that is not due. */
#define RUNNER_NOT_DUE	INT64_MAX

/*
 * Since when job has been due at now, given its summary as for
 * runner_next_due: the time its schedule (or back-off) made it due, which
 * may be long before now; INT64_MIN for an interval job that never ran
 * (it has waited longest of all); RUNNER_NOT_DUE when it is not due at
 * now.  The smaller, the more overdue.  Reads no clock.
 */
int64_t runner_due_since(const struct job *job, const struct job_summary *js,
    int64_t now);

/*
 * Which of n jobs to start next: the index of the smallest since[i] (the
 * most overdue; the first of equals), or n when none is below
 * RUNNER_NOT_DUE.  With one job at a time, starting the first due job in
 * directory order instead would let a job that is always due again starve
 * the others.
 */
size_t runner_most_overdue(const int64_t *since, size_t n);

/*
 * Call fn for every valid job of the jobs directory (bad files are
 * reported).  Returns 0, 1 when a file was bad, or -1 when the directory
 * can't be read.
 */
int runner_foreach_job(const char *dir,
    void (*fn)(void *arg, const struct job *job), void *arg);

/*
 * Run, once, every job in the jobs directory that is due now, at most
 * max_parallel at a time, and wait for them.  On *stop, running jobs get
 * SIGTERM (their runs end as 'aborted') and are waited for.  Returns the
 * worst exit status (2 when a job file is bad).
 */
int runner_due(const struct runner_opts *o);

/*
 * The scheduler: stay in the foreground and run jobs as they fall due,
 * until *stop.  *reload re-reads the job files (a bad file is reported
 * and its job keeps its last good definition).  On stop, running jobs get
 * SIGTERM (their runs end as 'aborted') and are waited for.  Returns 0, or
 * 1 when the jobs directory can't be read at start.
 */
int runner_daemon(const struct runner_opts *o);

#endif
