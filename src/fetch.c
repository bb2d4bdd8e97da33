/*
 * fetch.c: download policy.  A file goes to INCOMING/<id>, never into
 * target.  Its staged row is committed before the first byte is written
 * and records which remote version (size, mtime) the bytes belong to, so
 * a later run resumes a partial only when the remote file is still that
 * version, and starts over otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "job.h"
#include "log.h"
#include "path.h"
#include "publish.h"
#include "verify.h"
#include "xfer.h"

/* Files larger than this get their staged row committed at once. */
#define FETCH_COMMIT_SIZE	(1024 * 1024)

/* One download in flight. */
struct fetch {
	struct run	*r;
	struct scan_row	 row;		/* the file, owned */
	struct staged_row staged;
	int		 fd;		/* INCOMING/<id>, open for writing */
	int64_t		 offset;	/* where this transfer started */
	int64_t		 written;	/* bytes written by this transfer */
	int64_t		 flushed;	/* writeback started below this offset */
	char		*url;
	int		 write_errno;	/* a write failed */
	bool		 too_long;	/* the server sent more than listed */
	bool		 open_failed;	/* the staged file could not be opened */
	struct fetch	*next_unopened;	/* in r->unopened while fd is -1 */
};

static int fetch_open_late(struct fetch *f);

/* The name of staged file id in incoming. */
void
fetch_staged_name(int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)id);
}

/* Take f off its run's list of downloads whose file is not open yet. */
static void
fetch_forget_unopened(struct fetch *f)
{
	struct fetch **p;

	for (p = &f->r->unopened; *p != NULL; p = &(*p)->next_unopened)
		if (*p == f) {
			*p = f->next_unopened;
			f->next_unopened = NULL;
			return;
		}
}

static void
fetch_free(struct fetch *f)
{
	if (f == NULL)
		return;
	fetch_forget_unopened(f);
	if (f->fd != -1)
		close(f->fd);
	state_scan_row_clear(&f->row);
	free(f->url);
	free(f);
}

/*
 * The command that asks the server for a file's digest, by preference,
 * or NULL when there is none to ask (or verify_remote_hash is off).
 */
static const char *
fetch_hash_command(const struct run *r)
{
	if (r->job->verify_remote_hash == JOB_REMOTE_HASH_OFF)
		return NULL;
	if (r->feat.xsha256)
		return "XSHA256";
	if (r->feat.hash)
		return "HASH";
	if (r->feat.xmd5)
		return "XMD5";
	return NULL;
}

/* Write all of buf at the current offset. */
static int
fetch_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Staged data is synced before it is published.  Starting the writeback
 * of each full chunk while the rest still arrives, and of a finished
 * file's last MiBs, lets the disk work in parallel with the network,
 * instead of after it in one long syncfs.  Not for small files: per file,
 * the writeback's start costs more CPU than the syncfs would (the kernel's
 * flusher threads do that work there, not ftpmirror).
 */
#define FETCH_WRITEBACK_CHUNK	(8 * 1024 * 1024)
#define FETCH_WRITEBACK_TAIL	(1024 * 1024)

/* Start the writeback of what arrived, once at least min bytes wait. */
static void
fetch_start_writeback(struct fetch *f, int64_t min)
{
	int64_t end = f->offset + f->written;

	if (!f->r->job->fsync || end - f->flushed < min)
		return;
	/* Only a hint: on failure the final sync still does the work. */
	(void)sync_file_range(f->fd, f->flushed, end - f->flushed,
	    SYNC_FILE_RANGE_WRITE);
	f->flushed = end;
}

static int
fetch_on_data(void *arg, const char *buf, size_t len)
{
	struct fetch *f = arg;

	if (f->fd == -1 && fetch_open_late(f) == -1)
		return -1;
	/* A server may not push more than it listed into our disk. */
	if (f->row.size >= 0 &&
	    f->offset + f->written + (int64_t)len > f->row.size) {
		f->too_long = true;
		return -1;
	}
	if (fetch_write_all(f->fd, buf, len) == -1) {
		f->write_errno = errno;
		return -1;
	}
	f->written += (int64_t)len;
	f->r->progress.bytes_done += (int64_t)len;
	fetch_start_writeback(f, FETCH_WRITEBACK_CHUNK);
	return 0;
}

/*
 * The transfer succeeded: check the size, give the file its remote mtime,
 * mark it staged.  (Its staged row is marked complete with all others at
 * the end of the transfers, in one statement; after a crash, a whole file
 * found unmarked is resumed at its end, which costs no data.)  Returns 0;
 * 1 when the file came up short (the server ended the transfer early but
 * said it was done: worth a resume); -1 with the reason logged.
 */
static int
fetch_complete(struct fetch *f, int64_t filetime)
{
	struct run *r = f->r;
	struct timespec times[2];
	int64_t mtime = f->row.mtime, size = f->offset + f->written;

	if (f->row.size >= 0 && size < f->row.size)
		return 1;
	if (f->row.size >= 0 && size != f->row.size) {
		run_error(r, f->row.path, "got %lld bytes, the listing said "
		    "%lld", (long long)size, (long long)f->row.size);
		return -1;
	}
	/* A LIST time is only to the minute or day; MDTM is exact. */
	if (filetime >= 0 && f->row.mtime_prec != MTIME_SECOND) {
		mtime = run_local_time(r, filetime);
		if (state_scan_set_mtime(r->state, f->row.id, mtime,
		    MTIME_SECOND, (int64_t)time(NULL)) == -1)
			return -1;
	}
	times[0].tv_sec = time(NULL);
	times[0].tv_nsec = 0;
	times[1].tv_sec = (time_t)mtime;
	times[1].tv_nsec = 0;
	if (futimens(f->fd, times) == -1) {
		run_error(r, f->row.path, "setting the time of incoming file "
		    "%lld: %s", (long long)f->staged.id, strerror(errno));
		return -1;
	}
	fetch_start_writeback(f, FETCH_WRITEBACK_TAIL);
	/* With a server that hashes files, its digest has the last word. */
	if (state_scan_set(r->state, f->row.id, fetch_hash_command(r) ?
	    SCAN_FILE_HASH : SCAN_FILE_STAGED, f->row.tries, 0) == -1)
		return -1;
	r->progress.files_done++;
	log_debug("%s: fetched /%s (%lld bytes)", r->job->name, f->row.path,
	    (long long)f->written);
	return 0;
}

/* A download ended: complete it, retry it later, or give up on it. */
static void
fetch_on_done(void *arg, const struct xfer_result *res)
{
	struct fetch *f = arg;
	struct run *r = f->r;
	int tries = f->row.tries + 1;
	char detail[512];

	r->counts.bytes += f->written;
	/* A file opened late may not be open yet (an empty one never is). */
	if (res->code == 0 && f->fd == -1)
		(void)fetch_open_late(f);
	if (f->open_failed && !*r->stop) {
		r->failed++;		/* fetch_open_staged said why */
		state_scan_set(r->state, f->row.id, SCAN_FILE_FAILED, tries, 0);
		goto out;
	}
	if (res->code == 0 && !f->too_long && f->write_errno == 0) {
		switch (fetch_complete(f, res->filetime)) {
		case 0:
			goto out;
		case 1:
			/* Short: the partial stays, and the next try resumes. */
			snprintf(detail, sizeof(detail), "the transfer ended "
			    "early: %lld of %lld bytes",
			    (long long)(f->offset + f->written),
			    (long long)f->row.size);
			goto again;
		default:
			r->failed++;
			state_scan_set(r->state, f->row.id, SCAN_FILE_FAILED,
			    tries, 0);
			goto out;
		}
	}
	if (*r->stop) {
		/* Keep the partial: the next run resumes it. */
		state_scan_set(r->state, f->row.id, SCAN_FILE_FETCH, f->row.tries,
		    0);
		goto out;
	}
	if (f->write_errno != 0) {
		r->failed++;
		run_error(r, f->row.path, "writing incoming file %lld: %s",
		    (long long)f->staged.id, strerror(f->write_errno));
		state_scan_set(r->state, f->row.id, SCAN_FILE_FAILED, tries, 0);
		goto out;
	}
	if (f->too_long) {
		/*
		 * The file grew after it was listed, or the server lies.
		 * Either way the staged bytes are suspect: start over.
		 */
		if (ftruncate(f->fd, 0) == -1)
			log_warn("truncating incoming file %lld: %s",
			    (long long)f->staged.id, strerror(errno));
		snprintf(detail, sizeof(detail), "the server sent more than "
		    "the %lld bytes it listed", (long long)f->row.size);
	} else
		snprintf(detail, sizeof(detail), "%s", res->error);
	if (!res->transient && !f->too_long)
		tries = r->job->retries + 1;	/* permanent: no more tries */
	if (res->retry_free) {
		tries = f->row.tries;	/* the engine's fault, not the file's */
		/* Its next try, a "first" one still, must resume. */
		if (tries == 0 && f->offset + f->written > 0)
			r->open_first = true;
	}
again:
	if (tries <= r->job->retries) {
		log_warn("%s: fetching /%s failed (%s); retrying", r->job->name,
		    f->row.path, detail);
		run_event(r, f->row.path, "retry", f->written, detail);
		state_scan_set(r->state, f->row.id, SCAN_FILE_FETCH, tries,
		    run_retry_at(tries));
	} else {
		/*
		 * A file the server will not give (unreadable, a name it
		 * refuses) must not freeze the mirror: it is left out, its
		 * previous version stays public, and the rest is published.
		 */
		if (res->file_refused && !f->too_long)
			r->refused++;
		else
			r->failed++;
		run_error(r, f->row.path, "cannot fetch /%s: %s", f->row.path,
		    detail);
		state_scan_set(r->state, f->row.id, SCAN_FILE_FAILED, tries, 0);
	}
out:
	fetch_free(f);
}

/*
 * Open the staged file for f->row: resume a partial of the same remote
 * version, or start a new one; from_start (the transfer asked for byte 0
 * on): start over in any case.  Returns 0 or -1.
 */
static int
fetch_open_staged(struct fetch *f, bool from_start)
{
	struct run *r = f->r;
	struct stat sb;
	char name[32];
	int found, flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW;

	/* Most files are new: one statement adds the row or finds the old. */
	memset(&f->staged, 0, sizeof(f->staged));
	f->staged.size = f->row.size;
	f->staged.mtime = f->row.mtime;
	found = state_staged_put(r->state, r->job->name, f->row.path,
	    &f->staged);
	if (found == -1)
		return -1;
	if (found == 1 && (f->staged.size != f->row.size ||
	    f->staged.mtime != f->row.mtime)) {
		/* A different version is staged: replace it. */
		flags |= O_TRUNC;
		f->staged.size = f->row.size;
		f->staged.mtime = f->row.mtime;
		f->staged.complete = false;
		if (state_staged_put(r->state, r->job->name, f->row.path,
		    &f->staged) == -1)
			return -1;
	} else if (found == 0) {
		flags |= O_TRUNC;
		/*
		 * A new row rides the batch's commit, but a big file's must
		 * be durable before its bytes are: killed early, the next run
		 * would otherwise find no row and start the file over.
		 */
		if ((f->row.size < 0 || f->row.size > FETCH_COMMIT_SIZE) &&
		    state_commit(r->state) == -1)
			return -1;
	}
	if (from_start)
		flags |= O_TRUNC;
	fetch_staged_name(f->staged.id, name, sizeof(name));
	/*
	 * 0644 less the umask: nothing of the remote mode is taken, and a
	 * mirror never writes a file others could change, whatever the umask.
	 */
	if ((f->fd = openat(r->incoming_fd, name, flags, 0644)) == -1)
		goto fail;
	/* A new or truncated file starts at 0; a staged one where it ends. */
	f->offset = 0;
	if ((flags & O_TRUNC) == 0) {
		if (fstat(f->fd, &sb) == -1)
			goto fail;
		f->offset = (int64_t)sb.st_size;
		if (f->row.size >= 0 && f->offset > f->row.size) {
			if (ftruncate(f->fd, 0) == -1)
				goto fail;
			f->offset = 0;
		}
		if (lseek(f->fd, f->offset, SEEK_SET) == -1)
			goto fail;
	}
	f->flushed = f->offset;
	if (f->offset > 0) {
		log_debug("%s: resuming /%s at byte %lld", r->job->name,
		    f->row.path, (long long)f->offset);
		run_event(r, f->row.path, "resume", f->offset, NULL);
	}
	return 0;
fail:
	run_error(r, f->row.path, "incoming file %s: %s", name,
	    strerror(errno));
	return -1;
}

/*
 * Open the staged file of a download that started without it (see
 * fetch_start_next), before its first byte is written.  Returns 0, or -1
 * with the download marked failed.
 */
static int
fetch_open_late(struct fetch *f)
{
	fetch_forget_unopened(f);
	if (!f->open_failed && fetch_open_staged(f, true) == 0)
		return 0;
	if (f->fd != -1) {
		close(f->fd);
		f->fd = -1;
	}
	f->open_failed = true;
	/*
	 * Its transfer is aborted, and libcurl drops the connection with it:
	 * the next files are opened before they start, costing no more.
	 */
	f->r->open_first = true;
	return -1;
}

void
fetch_open_started(struct run *r)
{
	while (r->unopened != NULL)
		(void)fetch_open_late(r->unopened);
}

/* Start the next waiting download. */
int
fetch_start_next(struct run *r)
{
	struct fetch *f;
	struct xfer_req req;
	int found;
	bool late;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	f->r = r;
	f->fd = -1;
	found = state_scan_claim(r->state, SCAN_FILE_FETCH, run_now_ms(),
	    &f->row);
	if (found != 1) {
		free(f);
		return found;
	}
	/*
	 * With no file of the job staged when the run began, a first try
	 * starts at byte 0: its command goes out first, and its file (a
	 * statement and a file creation) is opened while the reply is on its
	 * way (fetch_open_started).
	 */
	late = !r->staged_before && !r->open_first && f->row.tries == 0 &&
	    f->row.size != 0;
	if (!late && fetch_open_staged(f, false) == -1) {
		r->failed++;
		state_scan_set(r->state, f->row.id, SCAN_FILE_FAILED,
		    f->row.tries + 1, 0);
		fetch_free(f);
		return 1;
	}
	/*
	 * Nothing left to transfer (an empty file with an exact time, or a
	 * partial that was in fact complete): no round trip needed.
	 */
	if (!late && f->row.size >= 0 && f->offset == f->row.size &&
	    f->row.mtime_prec == MTIME_SECOND) {
		if (fetch_complete(f, -1) == -1) {
			r->failed++;
			state_scan_set(r->state, f->row.id, SCAN_FILE_FAILED,
			    f->row.tries + 1, 0);
		}
		fetch_free(f);
		return 1;
	}
	if ((f->url = path_url(r->job->source, f->row.path, false)) == NULL) {
		log_err("out of memory");
		goto fail;
	}
	memset(&req, 0, sizeof(req));
	req.url = f->url;
	req.resume_from = f->offset;
	req.size_known = f->row.size >= 0;
	req.expect = f->row.size >= 0 ? f->row.size - f->offset : 0;
	req.want_filetime = f->row.mtime_prec != MTIME_SECOND;
	req.on_data = fetch_on_data;
	req.on_done = fetch_on_done;
	req.arg = f;
	if (xfer_start(r->xfer, &req) == -1)
		goto fail;
	if (late) {
		f->next_unopened = r->unopened;
		r->unopened = f;
	}
	log_debug("%s: fetching /%s", r->job->name, f->row.path);
	progress_current(&r->progress, f->row.path);
	return 1;
fail:
	fetch_free(f);
	return -1;
}

/* Is name all digits (a staged file's name)?  Sets *id. */
static bool
fetch_parse_name(const char *name, int64_t *id)
{
	char *end;
	long long v;

	if (name[0] < '1' || name[0] > '9')
		return false;
	errno = 0;
	v = strtoll(name, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*id = (int64_t)v;
	return true;
}

void
fetch_probe_times(struct run *r)
{
	/* What MLSD and MDTM can say: years 0001 to 9999. */
	static const int64_t lowest = -62135596800LL, highest = 253402300799LL;
	struct timespec times[2];
	struct stat st;
	char name[64];
	int fd;

	snprintf(name, sizeof(name), ".time-probe.%ld", (long)getpid());
	if ((fd = openat(r->incoming_fd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return;
	unlinkat(r->incoming_fd, name, 0);
	times[0].tv_sec = 0;
	times[0].tv_nsec = UTIME_OMIT;
	times[1].tv_nsec = 0;
	/* Linux clamps a time to what the file system holds. */
	times[1].tv_sec = (time_t)lowest;
	if (futimens(fd, times) == 0 && fstat(fd, &st) == 0 &&
	    st.st_mtime > lowest)
		r->time_min = st.st_mtime;
	times[1].tv_sec = (time_t)highest;
	if (futimens(fd, times) == 0 && fstat(fd, &st) == 0 &&
	    st.st_mtime < highest)
		r->time_max = st.st_mtime;
	close(fd);
	if (r->time_min != INT64_MIN || r->time_max != INT64_MAX)
		log_debug("%s: the local file system keeps file times from %lld "
		    "to %lld", r->job->name, (long long)r->time_min,
		    (long long)r->time_max);
}

/* Remove incoming files that no staged row names. */
int
fetch_clean_incoming(struct run *r)
{
	DIR *d;
	struct dirent *de;
	int fd, known, rc = 0;
	int64_t id;

	if ((fd = openat(r->incoming_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_err("%s: %s: %s", r->job->name, r->job->incoming,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		/* A link made for publishing but never renamed (a crash). */
		if (strncmp(de->d_name, "link-", 5) == 0) {
			unlinkat(r->incoming_fd, de->d_name, 0);
			continue;
		}
		if (!fetch_parse_name(de->d_name, &id))
			continue;
		if ((known = state_staged_known(r->state, id)) == -1) {
			rc = -1;
			break;
		}
		if (known == 0) {
			log_debug("%s: removing orphan incoming file %s",
			    r->job->name, de->d_name);
			if (unlinkat(r->incoming_fd, de->d_name, 0) == -1)
				log_warn("%s: removing %s/%s: %s",
				    r->job->name, r->job->incoming, de->d_name,
				    strerror(errno));
		}
	}
	closedir(d);
	return rc;
}

/*
 * A command about one file on the control connection (MDTM, XSHA256...):
 * the file's scan row, the command, and the server's final 2xx reply.
 */
struct quote {
	struct run	*r;
	struct scan_row	 row;		/* the file, owned */
	char		*command;	/* "MDTM path" */
	char		 reply[512];	/* the last 2xx reply line */
	size_t		 reply_len;
};

static void
quote_free(struct quote *q)
{
	if (q == NULL)
		return;
	state_scan_row_clear(&q->row);
	free(q->command);
	free(q);
}

static void
quote_on_reply(void *arg, const char *line, size_t len)
{
	struct quote *q = arg;

	if (len >= 4 && line[0] == '2' && line[3] == ' ' &&
	    len < sizeof(q->reply)) {
		memcpy(q->reply, line, len);
		q->reply_len = len;
	}
}

/*
 * Start verb for the next row claimed from waiting on a free slot; on_done
 * gets the struct quote.  Returns 1 when one was started, 0 when none
 * waits now, -1 on error.
 */
static int
quote_start(struct run *r, enum scan_state waiting, const char *verb,
    void (*on_done)(void *, const struct xfer_result *))
{
	struct quote *q;
	struct xfer_req req;
	char *base = NULL;
	int found;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	q->r = r;
	found = state_scan_claim(r->state, waiting, run_now_ms(), &q->row);
	if (found != 1) {
		free(q);
		return found;
	}
	/* Named as RETR names it: relative to the login directory. */
	if ((base = path_url_path(r->job->source)) == NULL ||
	    asprintf(&q->command, "%s %s%s%s", verb, path_lead_guard(base,
	    q->row.path), base, q->row.path) == -1) {
		q->command = NULL;
		log_err("out of memory");
		goto fail;
	}
	memset(&req, 0, sizeof(req));
	req.url = r->job->source;
	req.quote = q->command;
	req.nobody = true;
	req.on_reply = quote_on_reply;
	req.on_done = on_done;
	req.arg = q;
	if (xfer_start(r->xfer, &req) == -1)
		goto fail;
	free(base);
	return 1;
fail:
	free(base);
	quote_free(q);
	return -1;
}

/* The mtime of path in target, or -1. */
static int64_t
check_local_mtime(struct run *r, const char *path)
{
	struct stat sb;
	const char *leaf;
	int dfd;
	int64_t t = -1;

	if ((dfd = path_open_parent(r->target_fd, path, false, &leaf)) == -1)
		return -1;
	if (fstatat(dfd, leaf, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode))
		t = (int64_t)sb.st_mtime;
	close(dfd);
	return t;
}

/*
 * The check ended.  The same exact mtime as target's file: unchanged.
 * Anything else, an MDTM the server refused included: fetch it, so a
 * change is never missed.
 */
static void
check_on_done(void *arg, const struct xfer_result *res)
{
	struct quote *c = arg;
	struct run *r = c->r;
	int tries = c->row.tries + 1;
	int64_t remote, now = (int64_t)time(NULL);
	bool have;

	if (res->quote_rejected && res->reply == 550 &&
	    c->row.link_target != NULL) {
		/* A followed link that is neither a directory nor a file. */
		run_event(r, c->row.path, "skip", -1, "symbolic link to "
		    "nothing the server serves (dangling)");
		if (state_scan_forget(r->state, c->row.id) == -1)
			goto dbfail;
	} else if (res->code == 0 || res->quote_rejected) {
		have = c->reply_len > 0 && listing_parse_mdtm(c->reply,
		    c->reply_len, &remote) == 0;
		if (have)
			remote = run_local_time(r, remote);
		if (have && state_scan_set_mtime(r->state, c->row.id, remote,
		    MTIME_SECOND, now) == -1)
			goto dbfail;
		if (have && remote == check_local_mtime(r, c->row.path)) {
			if (state_scan_set(r->state, c->row.id,
			    SCAN_FILE_UNCHANGED, tries, 0) == -1)
				goto dbfail;
		} else {
			log_debug("%s: /%s changed (MDTM)", r->job->name,
			    c->row.path);
			r->progress.files_total++;
			r->progress.bytes_total += c->row.size > 0 ?
			    c->row.size : 0;
			if (state_scan_set_action(r->state, c->row.id,
			    check_local_mtime(r, c->row.path) == -1 ?
			    SCAN_ACTION_ADD : SCAN_ACTION_CHANGE) == -1 ||
			    state_scan_set(r->state, c->row.id,
			    SCAN_FILE_FETCH, 0, 0) == -1)
				goto dbfail;
		}
	} else if (*r->stop) {
		state_scan_set(r->state, c->row.id, SCAN_FILE_CHECK,
		    c->row.tries, 0);
	} else if (res->transient && tries <= r->job->retries) {
		run_event(r, c->row.path, "retry", -1, res->error);
		state_scan_set(r->state, c->row.id, SCAN_FILE_CHECK, tries,
		    run_retry_at(tries));
	} else {
		r->failed++;
		run_error(r, c->row.path, "cannot check /%s: %s", c->row.path,
		    res->error);
		state_scan_set(r->state, c->row.id, SCAN_FILE_FAILED, tries, 0);
	}
	quote_free(c);
	return;
dbfail:
	r->failed++;
	quote_free(c);
}

/* Start the next waiting MDTM check. */
int
fetch_start_check(struct run *r)
{
	return quote_start(r, SCAN_FILE_CHECK, "MDTM", check_on_done);
}

/*
 * Compare the server's digest with the staged file's.  Returns 0 when
 * they agree (or the reply gives nothing to compare), 1 with why when they
 * differ, -1 on a local error.
 */
static int
hashcheck_compare(struct quote *h, int64_t staged_id, char *why,
    size_t whylen)
{
	enum verify_algo algo;
	char want[80], have[80], name[32];
	int fd, rc;

	if (strncmp(h->command, "HASH ", 5) == 0) {
		if (verify_hash_reply_algo(h->reply, h->reply_len, &algo) == -1)
			return 0;	/* an algorithm we don't compute */
	} else
		algo = strncmp(h->command, "XMD5", 4) == 0 ? VERIFY_MD5 :
		    VERIFY_SHA256;
	if (verify_parse_hash_reply(h->reply, h->reply_len, algo, want,
	    sizeof(want)) == -1)
		return 0;
	fetch_staged_name(staged_id, name, sizeof(name));
	if ((fd = openat(h->r->incoming_fd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return -1;
	rc = verify_digest_fd(fd, algo, have, sizeof(have));
	close(fd);
	if (rc == -1)
		return -1;
	if (strcmp(want, have) == 0)
		return 0;
	snprintf(why, whylen, "the server's digest (%s) is not the file's "
	    "(%s)", want, have);
	return 1;
}

/*
 * The server's digest came: agreeing, the file is staged; differing, it
 * is fetched again while tries remain, then rejected to quarantine.  A
 * server that can't hash this file (5xx) leaves it staged.
 */
static void
hashcheck_on_done(void *arg, const struct xfer_result *res)
{
	struct quote *h = arg;
	struct run *r = h->r;
	struct staged_row sr;
	int tries = h->row.tries + 1, verdict = 0;
	char why[512];

	if (state_staged_get(r->state, r->job->name, h->row.path, &sr) != 1)
		goto fail;
	if (res->code == 0)
		verdict = hashcheck_compare(h, sr.id, why, sizeof(why));
	else if (!res->quote_rejected) {
		if (*r->stop)
			state_scan_set(r->state, h->row.id, SCAN_FILE_HASH,
			    h->row.tries, 0);
		else if (res->transient && tries <= r->job->retries)
			state_scan_set(r->state, h->row.id, SCAN_FILE_HASH,
			    tries, run_retry_at(tries));
		else {
			r->failed++;
			run_error(r, h->row.path, "cannot get the server's "
			    "digest of /%s: %s", h->row.path, res->error);
			state_scan_set(r->state, h->row.id, SCAN_FILE_FAILED,
			    tries, 0);
		}
		goto out;
	}
	if (verdict == -1)
		goto fail;
	if (verdict == 0) {
		if (state_scan_set(r->state, h->row.id, SCAN_FILE_STAGED,
		    h->row.tries, 0) == -1)
			goto fail;
	} else if (tries <= r->job->retries) {
		/* Bytes went wrong on the way, or the file changed: again. */
		log_warn("%s: /%s: %s; fetching it again", r->job->name,
		    h->row.path, why);
		run_event(r, h->row.path, "retry", -1, why);
		sr.complete = false;
		sr.size = -1;	/* no resume: start over */
		if (state_staged_put(r->state, r->job->name, h->row.path,
		    &sr) == -1 || state_scan_set(r->state, h->row.id,
		    SCAN_FILE_FETCH, tries, 0) == -1)
			goto fail;
	} else if (publish_reject(r, &h->row, sr.id, why) == -1)
		goto fail;
	goto out;
fail:
	r->failed++;
	state_scan_set(r->state, h->row.id, SCAN_FILE_FAILED, tries, 0);
out:
	quote_free(h);
}

/* Start the next waiting digest request. */
int
fetch_start_hash(struct run *r)
{
	return quote_start(r, SCAN_FILE_HASH, fetch_hash_command(r),
	    hashcheck_on_done);
}
