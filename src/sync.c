/*
 * sync.c: the order of one run.  Listings and downloads share the
 * connections in one loop: whenever a slot is free, a waiting directory is
 * listed (breadth-first, so work is found early), else a waiting file is
 * fetched; publishing starts only when the whole tree is known and every
 * transfer succeeded.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crawl.h"
#include "fetch.h"
#include "job.h"
#include "json.h"
#include "lock.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "publish.h"
#include "report.h"
#include "snapshot.h"
#include "sync.h"
#include "tz.h"
#include "xfer.h"

/* How long the loop may sleep before looking at signals and retries. */
#define SYNC_TICK_MS	250

/*
 * Rounds of downloads (one file per connection) left when incoming starts
 * going to disk: its flush takes about as long as the last two or three.
 */
#define SYNC_FLUSH_ROUNDS	3

/* Open one of the job's trees; in a dry run a missing one is fine. */
static int
sync_open_tree(const struct run *r, const char *path)
{
	int fd;

	if (!r->dry && path_mkdirs(path) == -1) {
		log_err("%s: cannot make %s: %s", r->job->name, path,
		    strerror(errno));
		return -2;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && !(r->dry && errno == ENOENT)) {
		log_err("%s: %s: %s", r->job->name, path, strerror(errno));
		return -2;
	}
	return fd;
}

/*
 * In snapshot mode target is a link this program manages: open the
 * snapshot it points to (-1 before the first one), and refuse a real
 * directory there, which no rename could replace atomically.  Returns the
 * descriptor, -1, or -2 on error.
 */
static int
sync_open_snapshot_target(struct run *r)
{
	struct stat sb;
	char *root = NULL;
	int fd;

	if (lstat(r->job->target, &sb) == -1) {
		if (errno != ENOENT) {
			log_err("%s: %s: %s", r->job->name, r->job->target,
			    strerror(errno));
			return -2;
		}
		fd = -1;
	} else if (!S_ISLNK(sb.st_mode)) {
		log_err("%s: %s exists and is not a symbolic link; publish: "
		    "snapshot makes target a link to the current snapshot, so "
		    "move it aside first", r->job->name, r->job->target);
		return -2;
	} else if ((fd = open(r->job->target, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_err("%s: %s: %s", r->job->name, r->job->target,
		    strerror(errno));
		return -2;
	}
	/* The snapshots live beside target, on incoming's file system. */
	if (!r->dry && ((root = snapshot_root(r->job)) == NULL ||
	    path_mkdirs(root) == -1)) {
		log_err("%s: cannot make the snapshots directory beside %s",
		    r->job->name, r->job->target);
		free(root);
		if (fd != -1)
			close(fd);
		return -2;
	}
	free(root);
	return fd;
}

/*
 * Is inner inside the tree open at outer_fd?  The job file's paths were
 * checked as text; here symbolic links count too, which text can't show.
 * inner may not be made yet.  Returns 0, or -1 when it is.
 */
static int
sync_trees_nested(struct run *r, int outer_fd, const char *outer,
    const char *inner)
{
	struct stat st;

	if (outer_fd < 0 || fstat(outer_fd, &st) == -1 ||
	    path_dir_below(inner, st.st_dev, st.st_ino) != 1)
		return 0;	/* making it will tell what else is wrong */
	log_err("%s: %s is inside %s through a symbolic link; incoming and "
	    "target must be apart, or readers could see partial files",
	    r->job->name, inner, outer);
	return -1;
}

/*
 * Publishing is rename(2), which can't cross file systems, nor mounts: a
 * bind mount of target or incoming (systemd's ReadWritePaths= naming each)
 * is a mount of its own.  0 if a and b are on the same one, else -1.
 */
static int
sync_same_mount(struct run *r, int a, int b)
{
	struct statx sa, sb;

	if (statx(a, "", AT_EMPTY_PATH, STATX_MNT_ID, &sa) == -1 ||
	    statx(b, "", AT_EMPTY_PATH, STATX_MNT_ID, &sb) == -1) {
		log_err("%s: %s", r->job->name, strerror(errno));
		return -1;
	}
	if (sa.stx_dev_major != sb.stx_dev_major ||
	    sa.stx_dev_minor != sb.stx_dev_minor) {
		log_err("%s: incoming %s and target %s are on different file "
		    "systems; files could not be renamed into place",
		    r->job->name, r->job->incoming, r->job->target);
		return -1;
	}
	/* Kernels before 5.8 don't say; rename will. */
	if ((sa.stx_mask & sb.stx_mask & STATX_MNT_ID) &&
	    sa.stx_mnt_id != sb.stx_mnt_id) {
		log_err("%s: incoming %s and target %s are on different mounts "
		    "of one file system (a bind mount?); files could not be "
		    "renamed into place: mount their common parent instead",
		    r->job->name, r->job->incoming, r->job->target);
		return -1;
	}
	return 0;
}

/*
 * Open target and incoming, apart and on one mount.  Returns 0 or -1.
 */
static int
sync_open_trees(struct run *r)
{
	char *root = NULL;
	int rootfd = -1, rc = -1;

	r->target_fd = r->job->publish == JOB_PUBLISH_SNAPSHOT ?
	    sync_open_snapshot_target(r) : sync_open_tree(r, r->job->target);
	if (r->target_fd == -2)
		return -1;
	/* In snapshot mode target is a link; the snapshots are the tree. */
	if (r->job->publish == JOB_PUBLISH_SNAPSHOT && !r->dry) {
		if ((root = snapshot_root(r->job)) == NULL ||
		    (rootfd = open(root, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1) {
			log_err("%s: %s: %s", r->job->name, root ? root :
			    r->job->target, strerror(errno));
			goto out;
		}
	}
	if (sync_trees_nested(r, rootfd != -1 ? rootfd : r->target_fd,
	    r->job->target, r->job->incoming) == -1 ||
	    (r->incoming_fd = sync_open_tree(r, r->job->incoming)) == -2 ||
	    sync_trees_nested(r, r->incoming_fd, r->job->incoming,
	    r->job->target) == -1)
		goto out;
	/* A dry run checks what exists already. */
	if (r->incoming_fd == -1 || (rootfd == -1 && r->target_fd == -1))
		rc = 0;
	else
		rc = sync_same_mount(r, rootfd != -1 ? rootfd : r->target_fd,
		    r->incoming_fd);
out:
	if (rootfd != -1)
		close(rootfd);
	free(root);
	return rc;
}

/* When the earliest waiting retry is due: 1 and *next, 0 none, -1. */
static int
sync_next_retry(struct run *r, int64_t *next)
{
	static const enum scan_state waiting[] = { SCAN_DIR_PENDING,
	    SCAN_FILE_CHECK, SCAN_FILE_HASH, SCAN_FILE_FETCH };
	int64_t when;
	size_t i;
	int n, found = 0;

	for (i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++) {
		if (r->dry && waiting[i] == SCAN_FILE_FETCH)
			continue;
		n = state_scan_next_retry(r->state, waiting[i], &when);
		if (n == -1)
			return -1;
		if (n == 1 && (!found || when < *next)) {
			*next = when;
			found = 1;
		}
	}
	return found;
}

/* Start the next piece of work on every free slot.  Returns 0 or -1. */
static int
sync_fill(struct run *r)
{
	int n;

	while (xfer_idle(r->xfer) > 0) {
		n = crawl_start_next(r);
		if (n == 0)
			n = fetch_start_check(r);
		if (n == 0)
			n = fetch_start_hash(r);
		if (n == 0 && !r->dry)
			n = fetch_start_next(r);
		if (n == -1)
			return -1;
		if (n == 0)
			break;
	}
	return 0;
}

/*
 * Whether the run may still publish, the tree is listed, every MDTM check
 * is done, and at most SYNC_FLUSH_ROUNDS rounds of downloads remain.
 */
static bool
sync_last_rounds(struct run *r)
{
	return r->progress.files_total > 0 && r->failed == 0 &&
	    state_scan_unfinished(r->state, SCAN_DIR_PENDING) == 0 &&
	    state_scan_unfinished(r->state, SCAN_FILE_CHECK) == 0 &&
	    state_scan_unfinished(r->state, SCAN_FILE_FETCH) <=
	    SYNC_FLUSH_ROUNDS * (size_t)r->job->connections;
}

/*
 * Keep every connection busy until the tree is listed and every file
 * fetched (or given up), or a signal says stop.  A connection whose
 * request ended gets its next one before the ended one's bookkeeping
 * (xfer_report), which then overlaps the next round trip.  Returns 0 or
 * -1.
 */
static int
sync_loop(struct run *r)
{
	int64_t next = 0, now;
	int n, timeout;

	for (;;) {
		if (*r->stop) {
			xfer_abort(r->xfer);
			return 0;
		}
		if (sync_fill(r) == -1 || (n = xfer_report(r->xfer)) == -1)
			return -1;
		fetch_open_started(r);
		if (n > 0)
			continue;	/* the reports may have made work */
		/* The next requests are out: a due commit delays no command. */
		if (state_checkpoint(r->state) == -1)
			return -1;
		if (r->flush_ahead == FLUSH_AHEAD_NOT_YET && sync_last_rounds(r))
			publish_flush_ahead(r);
		progress_draw(&r->progress);
		timeout = SYNC_TICK_MS;
		if (xfer_idle(r->xfer) > 0) {
			/* A slot is free: wait no longer than the next retry. */
			if ((n = sync_next_retry(r, &next)) == -1)
				return -1;
			if (n == 0 && xfer_busy(r->xfer) == 0)
				return 0;	/* nothing in flight or waiting */
			now = run_now_ms();
			if (n == 1 && next - now < timeout)
				timeout = next > now ? (int)(next - now) : 1;
		}
		if (xfer_drive(r->xfer, timeout) == -1)
			return -1;
	}
}

struct info_ctx {
	bool	json;
	int64_t	id;
	double	seconds;
};

/* Print the run's line (or JSON object) from its row in runs. */
static void
sync_print_info(void *arg, const struct run_info *info)
{
	const struct info_ctx *ctx = arg;
	char size[32];

	if (info->id != ctx->id)
		return;
	if (ctx->json) {
		report_run_json(stdout, info);
		fputc('\n', stdout);
		return;
	}
	report_bytes(info->counts.bytes, size, sizeof(size));
	log_info("%s: %s: %lld added, %lld changed, %lld deleted, %s "
	    "downloaded in %.1f s, %lld errors (run %lld)", info->job,
	    info->status, (long long)info->counts.added,
	    (long long)info->counts.changed, (long long)info->counts.deleted,
	    size, ctx->seconds, (long long)info->counts.errors,
	    (long long)info->id);
}

/*
 * A dry run's summary: what the plan holds.  It has no run to name; its
 * row in the database was never kept.
 */
static void
sync_print_dry(const struct run *r, const char *status, double seconds)
{
	const struct dry_counts *dc = &r->dry_counts;
	char size[32];

	if (r->json) {
		fputs("{\"job\": ", stdout);
		json_string(stdout, r->job->name);
		fputs(", \"dry_run\": true, \"status\": ", stdout);
		json_string(stdout, status);
		printf(", \"fetch\": %lld, \"bytes\": %lld, \"staged\": %lld, "
		    "\"links\": %lld, \"dirs\": %lld, \"deletions\": %lld}\n",
		    (long long)dc->fetch, (long long)dc->bytes,
		    (long long)dc->staged, (long long)dc->links,
		    (long long)dc->dirs, (long long)dc->deletions);
		return;
	}
	report_bytes(dc->bytes, size, sizeof(size));
	log_info("%s: dry run, %s: %lld to fetch (%s), %lld staged to publish, "
	    "%lld links, %lld directories to make, %lld to delete; nothing "
	    "changed (%.1f s)", r->job->name, status, (long long)dc->fetch, size,
	    (long long)dc->staged, (long long)dc->links, (long long)dc->dirs,
	    (long long)dc->deletions, seconds);
}

static double
sync_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The run ends partial: say why, replacing any earlier message. */
static enum sync_status sync_partial(struct run *r, const char **status,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum sync_status
sync_partial(struct run *r, const char **status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*status = "partial";
	free(r->message);
	r->message = strdup(msg);
	return SYNC_PARTIAL;
}

/* Decide the run's status from how it went, publishing when it may. */
static enum sync_status
sync_conclude(struct run *r, const char **status)
{
	if (!r->dry && state_staged_complete(r->state, r->job->name) == -1) {
		*status = "failed";
		return SYNC_PARTIAL;
	}
	if (*r->stop) {
		*status = "aborted";
		if (r->message == NULL)
			r->message = strdup("stopped by a signal; partial "
			    "downloads kept for the next run");
		return SYNC_PARTIAL;
	}
	if (r->remote_unusable) {
		*status = "failed";
		return SYNC_REMOTE;
	}
	if (r->failed > 0)
		return sync_partial(r, status, "%lld transfers failed; nothing "
		    "published, staged files kept", (long long)r->failed);
	if (r->dry) {
		switch (publish_print_plan(r, r->json, &r->dry_counts)) {
		case PUBLISH_OK:
			*status = "ok";
			return SYNC_OK;
		case PUBLISH_DELETE_LIMIT:
			*status = "partial";
			return SYNC_LIMIT;
		default:
			return SYNC_PARTIAL;
		}
	}
	switch (publish_run(r)) {
	case PUBLISH_OK:
		break;
	case PUBLISH_DELETE_LIMIT:
		*status = "partial";
		if (state_files_update_from_scan(r->state, r->job->name,
		    r->id) == -1)
			return SYNC_PARTIAL;
		return SYNC_LIMIT;
	default:
		*status = "partial";
		return SYNC_PARTIAL;
	}
	if (state_files_update_from_scan(r->state, r->job->name, r->id) == -1) {
		*status = "failed";
		return SYNC_PARTIAL;
	}
	/* Published, but without what the server would not give. */
	if (r->refused > 0)
		return sync_partial(r, status, "%lld files were refused by the "
		    "server (5xx to RETR); the public tree keeps their previous "
		    "versions (see events)", (long long)r->refused);
	/* Published, but without what the verification gate rejected. */
	if (r->rejected > 0)
		return sync_partial(r, status, "%lld files failed verification "
		    "and were quarantined; the public tree keeps their previous "
		    "versions (see events)", (long long)r->rejected);
	/* Published, but the tree is not the whole remote tree. */
	if (r->incomplete > 0)
		return sync_partial(r, status, "%lld remote entries could not "
		    "be mirrored (refused names, unreadable listing lines or "
		    "directories too deep; see events)",
		    (long long)r->incomplete);
	*status = "ok";
	return SYNC_OK;
}

/*
 * LIST shows old files to the day: a rewrite that keeps an old mtime in
 * the same day is invisible to it.  Each run, the files confirmed longest
 * ago (1/64 of the tree, at least one) get an MDTM however they look, so
 * such a change is found within 64 runs at a bounded cost per run.
 */
static int
sync_choose_rechecks(struct run *r)
{
	int64_t n;

	if (r->format != LISTING_LIST || !r->feat.mdtm)
		return 0;
	if ((n = state_files_count(r->state, r->job->name)) <= 0)
		return n == 0 ? 0 : -1;
	return state_files_mark_recheck(r->state, r->job->name, (n + 63) / 64);
}

/*
 * Housekeeping once a run is recorded: old events pruned (history_days),
 * and the metrics file rewritten when one is asked for.  Failures here are
 * logged and change nothing about the run.
 */
static void
sync_after_run(const struct job *job, struct state *st,
    const struct sync_opts *o)
{
	const char *metrics = o->metrics_file ? o->metrics_file :
	    job->metrics_file;

	if (state_prune_events(st, job->name, job->history_days) == -1 ||
	    state_commit(st) == -1)
		log_warn("%s: could not prune old events", job->name);
	/* A job's own file holds that job only; --metrics-file, every job. */
	if (metrics != NULL)
		metrics_write(st, metrics, o->metrics_file ? NULL : job->name);
}

/* The transfer engine for job. */
static struct xfer *
sync_xfer_new(const struct job *job)
{
	struct xfer_opts xo;

	memset(&xo, 0, sizeof(xo));
	xo.user = job->user;
	xo.password = job->password;
	xo.passive = job->passive;
	xo.pipelining = job->pipelining;
	xo.tls_required = job->tls == JOB_TLS_REQUIRED;
	xo.ca_file = job->ca_file;
	xo.netrc_file = job->netrc_file;
	xo.timeout = job->timeout;
	xo.connections = job->connections;
	xo.url = job->source;
	/* The cap is for the whole job, shared by its connections. */
	xo.max_recv_speed = job->bandwidth;
	return xfer_new(&xo);
}

/* List one remote directory as parsed (`ls`). */
enum sync_status
sync_ls(const struct job *job, volatile sig_atomic_t *stop)
{
	struct run r;
	enum sync_status rc = SYNC_REMOTE;

	memset(&r, 0, sizeof(r));
	r.job = job;
	r.dry = true;
	r.stop = stop;
	r.target_fd = r.incoming_fd = -1;
	if (tz_use(job->timezone) == -1 || (r.xfer = sync_xfer_new(job)) ==
	    NULL) {
		rc = SYNC_PARTIAL;
		goto out;
	}
	if (crawl_probe(&r) == 0 && crawl_ls(&r) == 0)
		rc = SYNC_OK;
out:
	xfer_free(r.xfer);
	free(r.message);
	return rc;
}

/* Run job once. */
enum sync_status
sync_job(const struct job *job, struct state *st, const struct sync_opts *o)
{
	struct run r;
	struct info_ctx ctx;
	struct timespec t0;
	const char *status = "failed";
	enum sync_status rc = SYNC_PARTIAL;
	int lock_fd = -1, n;
	long holder;
	bool begun = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&r, 0, sizeof(r));
	r.job = job;
	r.state = st;
	r.dry = o->dry;
	r.json = o->json;
	r.stop = o->stop;
	r.target_fd = r.incoming_fd = -1;
	r.time_min = INT64_MIN;
	r.time_max = INT64_MAX;

	if (tz_use(job->timezone) == -1) {
		log_err("%s: time zone %s: %s", job->name, job->timezone,
		    strerror(errno));
		rc = SYNC_USAGE;
		goto out;
	}
	if (sync_open_trees(&r) == -1) {
		rc = SYNC_USAGE;
		goto out;
	}
	if (!r.dry) {
		lock_fd = lock_take(r.incoming_fd, &holder);
		if (lock_fd == -2) {
			/*
			 * A scheduled run finding the job busy (a long sync
			 * by hand, a second scheduler) is routine: cron must
			 * not mail it each time.  Still status 3.
			 */
			log_at(o->scheduled ? LOG_LEVEL_WARN : LOG_LEVEL_ERR,
			    "%s: already running (pid %ld holds %s/%s)",
			    job->name, holder, job->incoming, LOCK_NAME);
			rc = SYNC_LOCKED;
			goto out;
		}
		if (lock_fd == -1) {
			log_err("%s: cannot lock %s/%s: %s", job->name,
			    job->incoming, LOCK_NAME, strerror(errno));
			rc = SYNC_USAGE;
			goto out;
		}
	}
	if ((!r.dry && state_run_reap(st, job->name) == -1) ||
	    state_run_begin(st, job->name, job->source, &r.id) == -1)
		goto out;
	begun = true;
	if (state_scan_reset(st, job->name) == -1 ||
	    (!r.dry && fetch_clean_incoming(&r) == -1))
		goto finish;
	if (!r.dry)
		fetch_probe_times(&r);
	if ((n = state_staged_any(st, job->name)) == -1)
		goto finish;
	r.staged_before = n == 1;

	if ((r.xfer = sync_xfer_new(job)) == NULL)
		goto finish;
	log_debug("%s: run %lld: %s -> %s", job->name, (long long)r.id,
	    job->source, job->target);
	if (!r.dry && !o->json)
		progress_init(&r.progress, job->name);
	if (!r.dry)
		crawl_warm_up(&r);
	if (crawl_probe(&r) == -1) {
		if (!*r.stop)
			r.remote_unusable = true;
		rc = sync_conclude(&r, &status);
		goto finish;
	}
	if (sync_choose_rechecks(&r) == -1 || crawl_add_root(&r) == -1 ||
	    sync_loop(&r) == -1) {
		r.failed++;
		if (r.message == NULL)
			r.message = strdup("internal error; see the log");
	}
	progress_clear(&r.progress);
	/* The QUITs' round trips overlap publishing and the recording. */
	xfer_hang_up(r.xfer);
	rc = sync_conclude(&r, &status);
finish:
	publish_flush_ahead_end(&r);
	if (state_scan_reset(st, job->name) == -1 ||
	    state_run_finish(st, r.id, status, &r.counts, r.message) == -1)
		rc = rc == SYNC_OK ? SYNC_PARTIAL : rc;
	if (!r.dry)
		sync_after_run(job, st, o);
out:
	if (begun && r.dry)
		sync_print_dry(&r, status, sync_elapsed(&t0));
	else if (begun) {
		ctx.json = o->json;
		ctx.id = r.id;
		ctx.seconds = sync_elapsed(&t0);
		state_history(st, job->name, 1, sync_print_info, &ctx);
	}
	xfer_free(r.xfer);	/* after the recording: it waits for the logout */
	lock_release(lock_fd);
	if (r.target_fd != -1)
		close(r.target_fd);
	if (r.incoming_fd != -1)
		close(r.incoming_fd);
	free(r.message);
	return rc;
}
