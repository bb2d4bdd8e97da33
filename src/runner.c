/*
 * runner.c: scheduled runs.  The jobs directory is read into a table; the
 * database says when each job last ran; a due job runs in a child process
 * that opens its own database handle.  The parent only forks, reaps and
 * logs one line per run start and end.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "runner.h"
#include "state.h"
#include "sync.h"
#include "tz.h"

/* Longest back-off of a failing job. */
#define RUNNER_MAX_BACKOFF	(6 * 3600)
/* How long stopping waits for running jobs before SIGKILL. */
#define RUNNER_STOP_WAIT	30

/* A job of the jobs directory, and its child while it runs. */
struct slot {
	struct job	*job;		/* owned */
	char		*file;		/* its file, owned */
	pid_t		 pid;		/* running child, or 0 */
	int64_t		 started;	/* when that child was started */
	int64_t		 locked;	/* start of the last attempt that found
					   the job's lock held, or -1 */
	bool		 seen;		/* found again by a reload */
	bool		 gone;		/* its file gone; dropped once reaped */
};

struct table {
	struct slot	*v;
	size_t		 n;
	int		 worst;		/* worst status of bad files (due) */
};

/* When job is next due; see runner.h. */
int64_t
runner_next_due(const struct job *job, const struct job_summary *js,
    int64_t now)
{
	int64_t next, backoff;

	if (job->schedule.kind == SCHEDULE_NONE)
		return -1;
	if (job->schedule.kind == SCHEDULE_CRON && !tz_is_utc()) {
		/* Cron fields read in TZ's wall clock (tz_use_environment). */
		next = schedule_next(&job->schedule, js ? tz_utc_to_wall(
		    js->started) : -1, tz_utc_to_wall(now));
		if (next >= 0)
			next = tz_wall_to_utc(next);
	} else
		next = schedule_next(&job->schedule, js ? js->started : -1,
		    now);
	/*
	 * Back off from a server that could not be used (failed), not after
	 * a partial run: that one published, leaving out a file the server
	 * refuses, say, which waiting longer would not mend.
	 */
	if (js != NULL && js->failures > 0 && js->finished >= 0 &&
	    js->failed) {
		/* 1, 2, 4 ... minutes; 60 << 9 is past the cap already. */
		backoff = (int64_t)60 << (js->failures - 1 < 9 ?
		    js->failures - 1 : 9);
		if (backoff > RUNNER_MAX_BACKOFF)
			backoff = RUNNER_MAX_BACKOFF;
		if (next >= 0 && js->finished + backoff > next)
			next = js->finished + backoff;
	}
	return next;
}

/* Since when job has been due; see runner.h. */
int64_t
runner_due_since(const struct job *job, const struct job_summary *js,
    int64_t now)
{
	int64_t next;

	next = runner_next_due(job, js, now);
	if (next < 0 || next > now)
		return RUNNER_NOT_DUE;
	if (js == NULL)
		return job->schedule.kind == SCHEDULE_EVERY ? INT64_MIN : next;
	/*
	 * runner_next_due never answers before its now; asked as of the
	 * last start, it tells when the schedule fell due after that run.
	 */
	next = runner_next_due(job, js, js->started);
	return next >= 0 && next <= now ? next : now;
}

/* The most overdue of n jobs; see runner.h. */
size_t
runner_most_overdue(const int64_t *since, size_t n)
{
	size_t i, best = n;

	for (i = 0; i < n; i++)
		if (since[i] != RUNNER_NOT_DUE &&
		    (best == n || since[i] < since[best]))
			best = i;
	return best;
}

static bool
runner_is_job_file(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static struct slot *
runner_find(struct table *t, const char *file)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].file, file) == 0)
			return &t->v[i];
	return NULL;
}

/* Forget slot i of t; the last slot takes its place. */
static void
runner_drop(struct table *t, size_t i)
{
	job_free(t->v[i].job);
	free(t->v[i].file);
	t->v[i] = t->v[--t->n];
}

/* A job file as runner_load read it. */
struct found {
	char		*file;		/* owned */
	struct job	*job;		/* owned; NULL when the file is bad */
	bool		 duplicate;	/* another file has its job name */
};

static void
runner_found_free(struct found *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].file);
		job_free(f[i].job);
	}
	free(f);
}

/*
 * Read every job file of dir into *fv (*nfound of them), reporting the bad
 * ones, which are kept with a NULL job.  The caller frees *fv with
 * runner_found_free.  Returns 0, or -1 when the directory can't be read.
 */
static int
runner_read_dir(const char *dir, struct found **fv, size_t *nfound)
{
	struct job_errors errs = { NULL, 0 };
	struct found *f = NULL, *nv;
	struct dirent *de;
	struct job *job;
	char *file;
	size_t n = 0, k;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		log_err("jobs directory %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!runner_is_job_file(de->d_name))
			continue;
		if (asprintf(&file, "%s/%s", dir, de->d_name) == -1) {
			log_err("out of memory");
			break;
		}
		if ((job = job_load(file, dir, &errs)) == NULL) {
			for (k = 0; k < errs.n; k++)
				log_err("%s", errs.v[k]);
			job_errors_free(&errs);
		}
		if ((nv = realloc(f, (n + 1) * sizeof(*nv))) == NULL) {
			log_err("out of memory");
			job_free(job);
			free(file);
			break;
		}
		f = nv;
		f[n].file = file;
		f[n].job = job;
		f[n].duplicate = false;
		n++;
	}
	closedir(d);
	*fv = f;
	*nfound = n;
	return 0;
}

/*
 * Two files with one job name: report each, naming the other, and treat
 * both as bad.  Running both would start the job twice (one run finding
 * the lock held) and show it twice in status; keeping one would let the
 * order of readdir(3) choose which.  The operator renames one.
 */
static void
runner_refuse_duplicates(struct found *f, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < n && f[i].job != NULL; j++) {
			if (j == i || f[j].job == NULL ||
			    strcmp(f[i].job->name, f[j].job->name) != 0)
				continue;
			log_err("%s: job name %s is also the name of the job "
			    "in %s; neither file is run until one is renamed",
			    f[i].file, f[i].job->name, f[j].file);
			f[i].duplicate = true;
			break;
		}
	}
	for (i = 0; i < n; i++)
		if (f[i].duplicate) {
			job_free(f[i].job);
			f[i].job = NULL;
		}
}

/*
 * Read every job file of the directory into t.  A bad file, or two files
 * with one job name, are reported; a job already in t keeps its definition
 * then.  Jobs whose file is gone are dropped unless running.  Returns 0,
 * or -1 when the directory can't be read.
 */
static int
runner_load(struct table *t, const char *dir)
{
	struct found *f;
	struct slot *s, *nv;
	size_t i, k, n;

	if (runner_read_dir(dir, &f, &n) == -1)
		return -1;
	runner_refuse_duplicates(f, n);
	for (i = 0; i < t->n; i++)
		t->v[i].seen = false;
	for (k = 0; k < n; k++) {
		s = runner_find(t, f[k].file);
		if (f[k].job == NULL) {
			t->worst = SYNC_USAGE;
			if (s != NULL) {
				log_warn("%s: keeping its last good definition",
				    f[k].file);
				s->seen = true;
			}
			continue;
		}
		if (s != NULL) {
			job_free(s->job);
			s->job = f[k].job;
			f[k].job = NULL;
			s->seen = true;
			continue;
		}
		if ((nv = realloc(t->v, (t->n + 1) * sizeof(*nv))) == NULL) {
			log_err("out of memory");
			break;
		}
		t->v = nv;
		memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
		t->v[t->n].job = f[k].job;
		t->v[t->n].file = f[k].file;
		t->v[t->n].locked = -1;
		t->v[t->n].seen = true;
		f[k].job = NULL;
		f[k].file = NULL;
		t->n++;
	}
	runner_found_free(f, n);
	/* Gone from the directory: dropped once no longer running. */
	for (i = 0; i < t->n; ) {
		if (!t->v[i].seen && t->v[i].pid == 0) {
			log_info("%s: job file gone; job dropped", t->v[i].file);
			runner_drop(t, i);
			continue;
		}
		/* Once, not at every reload until the run ends. */
		if (!t->v[i].seen && !t->v[i].gone)
			log_info("%s: job file gone; job dropped when its "
			    "run ends", t->v[i].file);
		t->v[i].gone = !t->v[i].seen;
		i++;
	}
	return 0;
}

static void
runner_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		job_free(t->v[i].job);
		free(t->v[i].file);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* Call fn for every valid job of dir. */
int
runner_foreach_job(const char *dir,
    void (*fn)(void *arg, const struct job *job), void *arg)
{
	struct table t = { NULL, 0, 0 };
	size_t i;

	if (runner_load(&t, dir) == -1)
		return -1;
	for (i = 0; i < t.n; i++)
		fn(arg, t.v[i].job);
	runner_free(&t);
	return t.worst != 0;
}

/* Sleep up to seconds, waking early when *stop is set. */
static void
runner_nap(double seconds, volatile sig_atomic_t *stop)
{
	struct timespec ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	if (!*stop)
		nanosleep(&ts, NULL);	/* a signal ends it early */
}

/*
 * The child: wait the job's jitter, run it with a database handle of its
 * own, and leave with its exit status.  _exit, not exit: the parent's
 * stdio buffers and atexit handlers are not the child's to flush or run.
 */
static void
runner_child(const struct job *job, const struct runner_opts *o)
{
	struct sync_opts so;
	struct state *st;
	int rc = SYNC_PARTIAL;
	uint32_t wait;

	if (job->jitter > 0) {
		wait = arc4random_uniform((uint32_t)job->jitter + 1);
		while (wait-- > 0 && !*o->stop)
			runner_nap(1, o->stop);
	}
	if (!*o->stop && (st = state_open(o->db_path, false)) != NULL) {
		memset(&so, 0, sizeof(so));
		so.stop = o->stop;
		so.metrics_file = o->metrics_file;
		so.scheduled = true;
		rc = sync_job(job, st, &so);
		state_close(st);
	}
	fflush(NULL);
	_exit(rc);
}

/* Start s's job in a child.  Returns 0 or -1. */
static int
runner_start(struct slot *s, const struct runner_opts *o)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_err("%s: cannot start: %s", s->job->name, strerror(errno));
		return -1;
	}
	if (pid == 0)
		runner_child(s->job, o);
	s->pid = pid;
	s->started = (int64_t)time(NULL);
	log_info("%s: run started (pid %ld)", s->job->name, (long)pid);
	return 0;
}

/* The exit status of a child as the interface's status. */
static int
runner_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	return SYNC_PARTIAL;
}

/*
 * Reap children that ended (waiting for one when block), log each, fold
 * their status into *worst.  A job whose file a reload found gone is
 * dropped once its child is reaped (due never reloads, so its slots stay
 * put).  Returns the number still running.
 */
static size_t
runner_reap(struct table *t, bool block, int *worst)
{
	size_t i, running = 0;
	int wstatus, rc;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, block ? 0 : WNOHANG)) > 0) {
		block = false;
		for (i = 0; i < t->n; i++) {
			if (t->v[i].pid != pid)
				continue;
			t->v[i].pid = 0;
			rc = runner_status(wstatus);
			/*
			 * No run was recorded, so the database can't say
			 * when to try again: remember it here.
			 */
			if (WIFEXITED(wstatus) && rc == SYNC_LOCKED)
				t->v[i].locked = t->v[i].started;
			if (WIFSIGNALED(wstatus))
				log_err("%s: run ended by signal %d",
				    t->v[i].job->name, WTERMSIG(wstatus));
			else
				log_info("%s: run ended with status %d",
				    t->v[i].job->name, rc);
			if (rc > *worst)
				*worst = rc;
			if (t->v[i].gone)
				runner_drop(t, i);
			break;
		}
	}
	for (i = 0; i < t->n; i++)
		running += t->v[i].pid != 0;
	return running;
}

struct due_ctx {
	const struct job	*job;
	const struct job_summary *found;
	struct job_summary	 copy;	/* its numbers (strings not kept) */
};

static void
runner_summary(void *arg, const struct job_summary *js)
{
	struct due_ctx *d = arg;

	d->copy = *js;
	d->copy.last.job = d->copy.last.started_at = NULL;
	d->copy.last.finished_at = d->copy.last.status = NULL;
	d->copy.last.message = d->copy.last_ok_at = NULL;
	d->found = &d->copy;
}

/*
 * Since when s's job has been due at now (runner_due_since), into *since.
 * Returns 0, or -1 when the database can't be read.
 */
static int
runner_slot_since(struct state *st, const struct slot *s, int64_t now,
    int64_t *since)
{
	struct due_ctx d;

	memset(&d, 0, sizeof(d));
	d.job = s->job;
	if (state_summaries(st, s->job->name, runner_summary, &d) == -1)
		return -1;
	/*
	 * An attempt that found the job running elsewhere counts as a
	 * start: without it, a held lock (a sync by hand that takes days)
	 * would have the job tried again every second.
	 */
	if (s->locked >= 0 && (d.found == NULL ||
	    s->locked > d.found->started)) {
		if (d.found == NULL) {
			d.copy.finished = -1;
			d.found = &d.copy;
		}
		d.copy.started = s->locked;
	}
	*since = runner_due_since(s->job, d.found, now);
	return 0;
}

/*
 * Is a job of that name running?  A job file renamed while its job runs is
 * a second slot until the first is reaped; its run would only find the
 * lock held.
 */
static bool
runner_name_running(const struct table *t, const struct job *job)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].pid != 0 && strcmp(t->v[i].job->name,
		    job->name) == 0)
			return true;
	return false;
}

/*
 * Since when each job has been due: since[i] for each slot, RUNNER_NOT_DUE
 * for one not due or running.  The database handle is closed before
 * anything forks: an SQLite connection must never cross a fork(2), or the
 * child's locks and the parent's get mixed up.  Returns 0, or -1 when the
 * database can't be used.
 */
static int
runner_find_due(struct table *t, const struct runner_opts *o, int64_t *since)
{
	struct state *st;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int rc = 0;

	if ((st = state_open(o->db_path, false)) == NULL)
		return -1;
	for (i = 0; i < t->n; i++) {
		since[i] = RUNNER_NOT_DUE;
		if (t->v[i].pid != 0 || runner_name_running(t, t->v[i].job))
			continue;
		if (runner_slot_since(st, &t->v[i], now, &since[i]) == -1) {
			rc = -1;
			break;
		}
	}
	state_close(st);
	return rc;
}

/*
 * Start the due jobs that are not running, the most overdue first, up to
 * the parallel limit.  Returns 0, or -1 when the database can't be used.
 */
static int
runner_start_due(struct table *t, const struct runner_opts *o,
    size_t running)
{
	int64_t *since;
	size_t i;
	int rc = -1;

	if ((since = calloc(t->n + 1, sizeof(*since))) == NULL)
		return -1;
	if (runner_find_due(t, o, since) == -1)
		goto out;
	while (running < (size_t)o->max_parallel && !*o->stop &&
	    (i = runner_most_overdue(since, t->n)) < t->n) {
		since[i] = RUNNER_NOT_DUE;
		if (runner_start(&t->v[i], o) == 0)
			running++;
	}
	rc = 0;
out:
	free(since);
	return rc;
}

/*
 * Stop the children: SIGTERM, a grace period, then SIGKILL; fold their
 * statuses into *worst.
 */
static void
runner_stop_children(struct table *t, int *worst)
{
	int waited;
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].pid != 0)
			kill(t->v[i].pid, SIGTERM);
	for (waited = 0; waited < RUNNER_STOP_WAIT * 10; waited++) {
		if (runner_reap(t, false, worst) == 0)
			return;
		usleep(100000);
	}
	for (i = 0; i < t->n; i++)
		if (t->v[i].pid != 0) {
			log_warn("%s: still running; killing it",
			    t->v[i].job->name);
			kill(t->v[i].pid, SIGKILL);
		}
	while (runner_reap(t, true, worst) > 0)
		;
}

/*
 * Reap children until at most most of them run; on *stop, stop them all
 * (their runs end as 'aborted', downloads kept for the next run) instead.
 * Folds their statuses into *worst.  Returns the number still running.
 */
static size_t
runner_wait(struct table *t, size_t most, const struct runner_opts *o,
    int *worst)
{
	size_t running;

	/* Polled, not a blocking waitpid: a SIGTERM must not wait a run out. */
	while ((running = runner_reap(t, false, worst)) > most) {
		if (*o->stop) {
			runner_stop_children(t, worst);
			return 0;
		}
		runner_nap(0.2, o->stop);
	}
	return running;
}

/*
 * Is s's job still due, by the database as it is now?  Another `due`
 * started meanwhile may have run it, or be running it, while this one
 * waited for a free place.  Returns 1, 0, or -1 when the database can't be
 * used.
 */
static int
runner_still_due(const struct slot *s, const struct runner_opts *o)
{
	struct state *st;
	int64_t since;
	int rc;

	if ((st = state_open(o->db_path, false)) == NULL)
		return -1;
	rc = runner_slot_since(st, s, (int64_t)time(NULL), &since);
	state_close(st);	/* before the fork */
	if (rc == -1)
		return -1;
	return since != RUNNER_NOT_DUE;
}

/* Run each due job once. */
int
runner_due(const struct runner_opts *o)
{
	struct table t = { NULL, 0, 0 };
	int64_t *since;
	int due, worst;
	size_t i;

	if (tz_use_environment() == -1 || runner_load(&t, o->jobs_dir) == -1)
		return SYNC_USAGE;
	worst = t.worst;
	/* Decided once, up front: a job run now is not "due" again. */
	if ((since = calloc(t.n + 1, sizeof(*since))) == NULL ||
	    runner_find_due(&t, o, since) == -1) {
		free(since);
		runner_free(&t);
		return SYNC_PARTIAL;
	}
	while (!*o->stop && (i = runner_most_overdue(since, t.n)) < t.n) {
		since[i] = RUNNER_NOT_DUE;
		/* A free place first: the check below must be fresh. */
		runner_wait(&t, (size_t)o->max_parallel - 1, o, &worst);
		if (*o->stop)
			break;
		if ((due = runner_still_due(&t.v[i], o)) == -1) {
			worst = worst > SYNC_PARTIAL ? worst : SYNC_PARTIAL;
			break;
		}
		if (due == 0) {
			log_info("%s: no longer due: it ran meanwhile",
			    t.v[i].job->name);
			continue;
		}
		runner_start(&t.v[i], o);	/* a failed fork is logged */
	}
	runner_wait(&t, 0, o, &worst);
	free(since);
	runner_free(&t);
	return worst;
}

/* The scheduler daemon. */
int
runner_daemon(const struct runner_opts *o)
{
	struct table t = { NULL, 0, 0 };
	size_t running = 0;
	int worst = 0;

	if (tz_use_environment() == -1 || runner_load(&t, o->jobs_dir) == -1)
		return 1;
	log_info("scheduler started: %zu jobs from %s, at most %d at once",
	    t.n, o->jobs_dir, o->max_parallel);
	while (!*o->stop) {
		if (*o->reload) {
			*o->reload = 0;
			log_info("reloading job files from %s", o->jobs_dir);
			runner_load(&t, o->jobs_dir);
		}
		running = runner_reap(&t, false, &worst);
		if (runner_start_due(&t, o, running) == -1)
			log_warn("database %s unusable; retrying", o->db_path);
		runner_nap(1, o->stop);
	}
	log_info("scheduler stopping");
	runner_stop_children(&t, &worst);
	runner_free(&t);
	return 0;
}
