/*
 * publish.c: moving a run's verified work from incoming into target.
 * Staged data (and the directories made for it) is flushed to disk
 * (syncfs) before the first rename, each file appears by one rename(2),
 * and the file system is synced once more after the last, so after a
 * crash target holds old or new files, never torn ones, and a run is
 * recorded as done only once its names are on disk.  One syncfs instead
 * of an fsync per changed directory: one flush of the journal, not
 * hundreds.  A job with fsync: false skips the flushes and leaves that to
 * the file system (a crash may then leave files short, which the next
 * run's plan sees and fetches again); readers never see partial files
 * anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "filter.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "publish.h"
#include "snapshot.h"
#include "thread.h"
#include "verify.h"
#include "version.h"

/* Manifests kept at once: a directory's and a few above it. */
#define PUBLISH_MANIFESTS	8

struct manifest {
	char	*path;		/* its path in the tree, owned */
	char	*text;		/* its bytes, owned; NULL when absent */
	size_t	 len;
};

struct publish {
	struct run	*r;
	int		 root_fd;	/* where to publish: target, or the
					   snapshot being built */
	char		*dir;		/* directory of the last entry, owned */
	int		 dir_fd;	/* it, open in target, or -1 */
	bool		 flushed;	/* incoming synced for the renames */
	bool		 changed;	/* a directory made or a name moved */
	bool		 index_phase;	/* publishing the publish_last files */
	bool		 index_seen;	/* the first phase passed one over */
	bool		 index_held;	/* one waits: so do the deletions */
	struct manifest	 manifests[PUBLISH_MANIFESTS]; /* read this run */
	size_t		 next_manifest;	/* the cache slot to reuse next */
	int64_t		 errors;
};

/* Forget the manifests read this run. */
static void
publish_free_manifests(struct publish *p)
{
	size_t i;

	for (i = 0; i < PUBLISH_MANIFESTS; i++) {
		free(p->manifests[i].path);
		free(p->manifests[i].text);
		p->manifests[i].path = p->manifests[i].text = NULL;
	}
}

/* Close the cached directory. */
static void
publish_close_dir(struct publish *p)
{
	if (p->dir_fd != -1)
		close(p->dir_fd);
	free(p->dir);
	p->dir = NULL;
	p->dir_fd = -1;
}

/*
 * The directory of path in target, opened (and made) once for a run of
 * entries in the same directory.  Sets *leaf.  Returns the fd or -1.
 */
static int
publish_parent(struct publish *p, const char *path, const char **leaf)
{
	size_t n = path_dirlen(path);

	*leaf = path_base(path);
	if (p->dir_fd != -1 && strlen(p->dir) == n &&
	    strncmp(p->dir, path, n) == 0)
		return p->dir_fd;
	publish_close_dir(p);
	if ((p->dir = strndup(path, n)) == NULL) {
		log_err("out of memory");
		return -1;
	}
	if ((p->dir_fd = path_open_dir(p->root_fd, p->dir, true)) == -1)
		run_error(p->r, path, "cannot open %s/%s: %s",
		    p->r->job->target, p->dir, strerror(errno));
	return p->dir_fd;
}

/* Clear the way for a new entry where something of another type is. */
static int
publish_clear(struct publish *p, int dfd, const char *leaf, const char *path,
    bool keep_dir)
{
	struct stat sb;

	if (fstatat(dfd, leaf, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (keep_dir && S_ISDIR(sb.st_mode))
		return 0;
	if (!S_ISDIR(sb.st_mode) && !keep_dir)
		return 0;	/* rename replaces a non-directory itself */
	if (path_remove_tree(dfd, leaf) == -1) {
		run_error(p->r, path, "cannot remove %s/%s: %s",
		    p->r->job->target, path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
publish_count(struct publish *p, const struct scan_row *row, int64_t bytes)
{
	struct run *r = p->r;

	if (row->action == SCAN_ACTION_ADD)
		r->counts.added++;
	else
		r->counts.changed++;
	run_event(r, row->path, row->action == SCAN_ACTION_ADD ? "add" :
	    "change", bytes, row->type == 'l' ? row->link_target : NULL);
	log_debug("%s: published /%s", r->job->name, row->path);
}

/* Make the directories the run added (parents come first in path order). */
static int
publish_dir(void *arg, const struct scan_row *row)
{
	struct publish *p = arg;
	const char *leaf;
	int dfd;

	if (row->action == SCAN_ACTION_NONE || row->path[0] == '\0')
		return 0;
	if ((dfd = publish_parent(p, row->path, &leaf)) == -1)
		goto fail;
	if (publish_clear(p, dfd, leaf, row->path, true) == -1)
		goto fail;
	if (mkdirat(dfd, leaf, 0755) == -1 && errno != EEXIST) {
		run_error(p->r, row->path, "cannot make %s/%s: %s",
		    p->r->job->target, row->path, strerror(errno));
		goto fail;
	}
	p->changed = true;
	run_event(p->r, row->path, row->action == SCAN_ACTION_ADD ? "add" :
	    "change", -1, "directory");
	return 0;
fail:
	p->errors++;
	return 0;
}

/* The most a manifest may weigh; a longer one is read in part. */
#define PUBLISH_MANIFEST_MAX	(32 * 1024 * 1024)

/*
 * The text of the manifest at path: this run's new version when one is
 * staged, else the one in the tree being published.  NULL when there is
 * none.  The caller frees.
 */
static char *
publish_read_manifest(struct publish *p, const char *path, size_t *len)
{
	struct run *r = p->r;
	struct staged_row sr;
	const char *leaf;
	char name[32], *buf = NULL;
	ssize_t n;
	size_t cap = 0;
	int fd = -1, dfd;

	*len = 0;
	if (state_staged_get(r->state, r->job->name, path, &sr) == 1 &&
	    sr.complete) {
		fetch_staged_name(sr.id, name, sizeof(name));
		fd = openat(r->incoming_fd, name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	} else if ((dfd = path_open_parent(p->root_fd, path, false, &leaf)) !=
	    -1) {
		fd = openat(dfd, leaf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		close(dfd);
	}
	if (fd == -1)
		return NULL;
	for (;;) {
		if (*len + 65536 + 1 > cap) {
			char *nb;

			if (cap >= PUBLISH_MANIFEST_MAX)
				break;
			cap = cap ? cap * 2 : 65536 * 2;
			if ((nb = realloc(buf, cap)) == NULL)
				break;
			buf = nb;
		}
		if ((n = read(fd, buf + *len, cap - *len - 1)) <= 0)
			break;
		*len += (size_t)n;
	}
	close(fd);
	if (buf != NULL)
		buf[*len] = '\0';
	return buf;
}

/* Length of the directory holding the first len bytes of path. */
static size_t
publish_updir(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len > 0 ? len - 1 : 0;
}

/* The manifest at path, read once per run and kept in p's small cache. */
static const struct manifest *
publish_manifest(struct publish *p, const char *path)
{
	struct manifest *m;
	size_t i;

	for (i = 0; i < PUBLISH_MANIFESTS; i++)
		if (p->manifests[i].path != NULL &&
		    strcmp(p->manifests[i].path, path) == 0)
			return &p->manifests[i];
	m = &p->manifests[p->next_manifest];
	p->next_manifest = (p->next_manifest + 1) % PUBLISH_MANIFESTS;
	free(m->path);
	free(m->text);
	m->path = strdup(path);
	m->text = m->path ? publish_read_manifest(p, path, &m->len) : NULL;
	return m;
}

/*
 * Check the staged file (open as fd) against every manifest that lists
 * it: SHA256SUMS and MD5SUMS in its directory and those above it (with
 * the path relative to theirs), and FILE.sha256 / FILE.md5 beside it.
 * Returns 0 when nothing disagrees, 1 with why when something does.
 */
static int
publish_check_manifests(struct publish *p, const struct scan_row *row,
    int fd, char *why, size_t whylen)
{
	static const struct {
		const char		*name;	/* in a directory, or suffix */
		bool			 beside;
		enum verify_algo	 algo;
	} kinds[] = {
		{ "SHA256SUMS", false, VERIFY_SHA256 },
		{ "MD5SUMS", false, VERIFY_MD5 },
		{ ".sha256", true, VERIFY_SHA256 },
		{ ".md5", true, VERIFY_MD5 },
	};
	const struct manifest *m;
	char want[80], have[2][80], *mpath;
	bool computed[2] = { false, false };
	size_t dirlen, i;
	const char *rel;
	int found;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		dirlen = path_dirlen(row->path);
		for (;;) {
			if (kinds[i].beside) {
				if (asprintf(&mpath, "%s%s", row->path,
				    kinds[i].name) == -1)
					return -1;
				rel = path_base(row->path);
			} else {
				if (asprintf(&mpath, "%.*s%s%s", (int)dirlen,
				    row->path, dirlen ? "/" : "",
				    kinds[i].name) == -1)
					return -1;
				rel = row->path + (dirlen ? dirlen + 1 : 0);
			}
			m = publish_manifest(p, mpath);
			free(mpath);
			found = m->text == NULL ? 0 : verify_manifest_lookup(
			    m->text, m->len, rel, kinds[i].algo, want,
			    sizeof(want));
			/* FILE.sha256 may hold the bare digest. */
			if (found == 0 && kinds[i].beside && m->text != NULL)
				found = verify_manifest_lookup(m->text, m->len,
				    NULL, kinds[i].algo, want, sizeof(want));
			if (found == -1) {
				snprintf(why, whylen, "%s lists it with a "
				    "malformed digest", m->path);
				return 1;
			}
			if (found == 1) {
				if (!computed[kinds[i].algo] &&
				    verify_digest_fd(fd, kinds[i].algo,
				    have[kinds[i].algo], sizeof(have[0])) == -1)
					return -1;
				computed[kinds[i].algo] = true;
				if (strcmp(want, have[kinds[i].algo]) != 0) {
					snprintf(why, whylen, "does not match "
					    "%s (%s, the file has %s)", m->path,
					    want, have[kinds[i].algo]);
					return 1;
				}
			}
			if (kinds[i].beside || dirlen == 0)
				break;
			dirlen = path_dirlen(row->path) > 0 ?
			    publish_updir(row->path, dirlen) : 0;
		}
	}
	return 0;
}

/*
 * Move a rejected file to quarantine; see publish.h.
 */
int
publish_reject(struct run *r, const struct scan_row *row, int64_t staged_id,
    const char *why)
{
	char *qdir = NULL, qname[NAME_MAX + 1], name[32];
	int qfd = -1, rc = -1;

	fetch_staged_name(staged_id, name, sizeof(name));
	if (asprintf(&qdir, "%s.quarantine", r->job->incoming) == -1) {
		qdir = NULL;
		goto out;
	}
	snprintf(qname, sizeof(qname), "run%lld-%lld-%.200s", (long long)r->id,
	    (long long)staged_id, path_base(row->path));
	if (path_mkdirs(qdir) == -1 || (qfd = open(qdir, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    renameat(r->incoming_fd, name, qfd, qname) == -1) {
		log_err("%s: cannot quarantine /%s in %s: %s", r->job->name,
		    row->path, qdir ? qdir : "?", strerror(errno));
		goto out;
	}
	r->rejected++;
	r->counts.errors++;
	log_warn("%s: /%s rejected (%s); quarantined as %s/%s", r->job->name,
	    row->path, why, qdir, qname);
	run_event(r, row->path, "quarantine", row->size, why);
	if (state_staged_delete(r->state, staged_id) == -1 ||
	    state_scan_set(r->state, row->id, SCAN_FILE_REJECTED, row->tries,
	    0) == -1)
		goto out;
	rc = 0;
out:
	if (qfd != -1)
		close(qfd);
	free(qdir);
	return rc;
}

/*
 * The verification gate for one staged file: manifests (verify_manifests)
 * and the operator's command (verify_command).  Returns 0 to publish it,
 * 1 when it was rejected and quarantined, -1 on error.
 */
static int
publish_gate(struct publish *p, const struct scan_row *row, int64_t staged_id,
    const char *name)
{
	struct run *r = p->r;
	const struct job *job = r->job;
	char why[512] = "", *path = NULL;
	int fd = -1, verdict = 0;

	if (!job->verify_manifests && job->verify_command == NULL)
		return 0;
	if ((fd = openat(r->incoming_fd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		run_error(r, row->path, "incoming file %s: %s", name,
		    strerror(errno));
		return -1;
	}
	if (job->verify_manifests)
		verdict = publish_check_manifests(p, row, fd, why, sizeof(why));
	if (verdict == 0 && job->verify_command != NULL) {
		if (asprintf(&path, "%s/%s", job->incoming, name) == -1) {
			path = NULL;
			verdict = -1;
		} else
			verdict = verify_run_command(job->verify_command, path,
			    job->verify_timeout, why, sizeof(why));
	}
	close(fd);
	free(path);
	if (verdict == -1) {
		run_error(r, row->path, "cannot verify: %s", why[0] ? why :
		    strerror(errno));
		return -1;
	}
	if (verdict == 1)
		return publish_reject(r, row, staged_id, why) == 0 ? 1 : -1;
	return 0;
}

static void *
publish_flusher(void *arg)
{
	struct run *r = arg;

	/* A writeback error is told once per open file: keep it. */
	r->flush_ahead_errno = syncfs(r->incoming_fd) == -1 ? errno : 0;
	return NULL;
}

void
publish_flush_ahead(struct run *r)
{
	if (r->flush_ahead != FLUSH_AHEAD_NOT_YET)
		return;
	r->flush_ahead = FLUSH_AHEAD_OVER;
	if (r->dry || !r->job->fsync || r->incoming_fd == -1)
		return;
	if (thread_start(&r->flusher, publish_flusher, r) != 0) {
		log_debug("no thread for flushing ahead; publishing will");
		return;
	}
	r->flush_ahead = FLUSH_AHEAD_RUNNING;
	log_debug("%s: writing incoming to disk while the last files arrive",
	    r->job->name);
}

void
publish_flush_ahead_end(struct run *r)
{
	if (r->flush_ahead == FLUSH_AHEAD_RUNNING)
		pthread_join(r->flusher, NULL);
	r->flush_ahead = FLUSH_AHEAD_OVER;
}

/*
 * What was written to incoming, and the directories just made, must be
 * on disk before a name shows them: one syncfs before the first rename
 * (quick when publish_flush_ahead did most of the writing).
 */
static void
publish_flush(struct publish *p)
{
	struct run *r = p->r;
	int err;

	if (p->flushed || !r->job->fsync)
		return;
	p->flushed = true;
	publish_flush_ahead_end(r);
	err = r->flush_ahead_errno;
	if (syncfs(r->incoming_fd) == -1 && err == 0)
		err = errno;
	if (err != 0)
		log_warn("%s: syncfs %s: %s", r->job->name, r->job->incoming,
		    strerror(err));
}

/* Rename one staged file or make one link in target. */
static int
publish_entry(void *arg, const struct scan_row *row)
{
	struct publish *p = arg;
	struct run *r = p->r;
	struct staged_row staged;
	const char *leaf;
	char name[64];
	int dfd, found;
	bool is_index = false;
	size_t i;

	for (i = 0; i < r->job->publish_last.n && !is_index; i++)
		is_index = filter_match(r->job->publish_last.v[i], row->path);
	if (is_index != p->index_phase) {
		p->index_seen |= is_index;
		return 0;
	}
	/*
	 * Index files describe the files published before them: with some
	 * of those rejected or refused, the old index stays, and the new
	 * one waits (staged) for a run in which everything passes.
	 */
	if (is_index && (r->rejected > 0 || r->refused > 0)) {
		p->index_held = true;
		run_event(r, row->path, "skip", -1, "held back: files of this "
		    "run were rejected or refused by the server");
		return state_scan_set(r->state, row->id, SCAN_FILE_HELD,
		    row->tries, 0) == -1 ? -1 : 0;
	}
	if (row->type != 'l') {
		found = state_staged_get(r->state, r->job->name, row->path,
		    &staged);
		if (found != 1) {
			if (found == 0)
				run_error(r, row->path, "no staged file");
			goto fail;
		}
		fetch_staged_name(staged.id, name, sizeof(name));
		switch (publish_gate(p, row, staged.id, name)) {
		case 0:
			break;
		case 1:
			return 0;	/* quarantined */
		default:
			goto fail;
		}
	}

	if ((dfd = publish_parent(p, row->path, &leaf)) == -1)
		goto fail;
	if (publish_clear(p, dfd, leaf, row->path, false) == -1)
		goto fail;
	publish_flush(p);
	if (row->type == 'l') {
		/* Made in incoming, then renamed: replacing is atomic too. */
		snprintf(name, sizeof(name), "link-%lld", (long long)row->id);
		unlinkat(r->incoming_fd, name, 0);
		if (symlinkat(row->link_target, r->incoming_fd, name) == -1 ||
		    renameat(r->incoming_fd, name, dfd, leaf) == -1) {
			run_error(r, row->path, "cannot make link %s/%s: %s",
			    r->job->target, row->path, strerror(errno));
			goto fail;
		}
	} else {
		if (renameat(r->incoming_fd, name, dfd, leaf) == -1) {
			run_error(r, row->path, "cannot publish %s/%s: %s",
			    r->job->target, row->path, strerror(errno));
			goto fail;
		}
		if (state_staged_delete(r->state, staged.id) == -1)
			return -1;
	}
	/* Its row stays as it is: published is what staged means now. */
	p->changed = true;
	publish_count(p, row, row->type == 'l' ? -1 : row->size);
	return 0;
fail:
	p->errors++;
	return 0;
}

struct deletions {
	struct run	*r;
	int		 root_fd;	/* the tree to delete from */
	int64_t		 count;		/* files that would go */
	int		 errors;
	bool		 removed;	/* something was (an empty directory
					   counts no file) */
};

static int
deletions_count(void *arg, const char *path, char type)
{
	struct deletions *d = arg;
	int64_t n;

	(void)type;
	if ((n = state_files_count_below(d->r->state, d->r->job->name,
	    path)) < 0)
		return -1;
	d->count += n;
	return 0;
}

/* A delete event for a path inside a vanished directory. */
static int
deletions_event(void *arg, const char *path, char type)
{
	struct deletions *d = arg;

	run_event(d->r, path, "delete", -1, type == 'd' ? "directory" : NULL);
	return 0;
}

/* Remove one vanished path (and what is below it) from target. */
static int
deletions_apply(void *arg, const char *path, char type)
{
	struct deletions *d = arg;
	struct run *r = d->r;
	const char *leaf;
	int64_t n;
	int dfd;

	dfd = path_open_parent(d->root_fd, path, false, &leaf);
	if (dfd == -1 && errno != ENOENT) {
		run_error(r, path, "cannot open the directory of %s/%s: %s",
		    r->job->target, path, strerror(errno));
		d->errors++;
		return 0;
	}
	if (dfd != -1) {
		if (path_remove_tree(dfd, leaf) == -1) {
			run_error(r, path, "cannot delete %s/%s: %s",
			    r->job->target, path, strerror(errno));
			d->errors++;
			close(dfd);
			return 0;
		}
		d->removed = true;
		close(dfd);
	}
	if ((n = state_files_count_below(r->state, r->job->name, path)) < 0 ||
	    (type == 'd' && state_files_foreach_below(r->state, r->job->name,
	    path, deletions_event, d) == -1) ||
	    state_files_delete_below(r->state, r->job->name, path) == -1)
		return -1;
	r->counts.deleted += n;
	run_event(r, path, "delete", -1, type == 'd' ? "directory" : NULL);
	log_debug("%s: deleted /%s", r->job->name, path);
	return 0;
}

/* Would the deletions break the job's max_delete?  Sets *count. */
static int
publish_over_limit(struct run *r, int64_t *count, bool *over)
{
	struct deletions d = { r, -1, 0, 0, false };
	int64_t total, limit;

	if (state_vanished_foreach(r->state, r->job->name, deletions_count,
	    &d) == -1 || (total = state_files_count(r->state,
	    r->job->name)) < 0)
		return -1;
	*count = d.count;
	if (r->job->max_delete_count >= 0)
		limit = r->job->max_delete_count;
	else
		limit = (int64_t)(r->job->max_delete_share * (double)total);
	*over = d.count > 0 && d.count > limit;
	return 0;
}

/*
 * Write the trace file: the run, its time, source and counts, in the
 * spirit of Debian's mirror traces, so downstream mirrors and monitoring
 * can tell which run made the tree.  Written to a temporary name and
 * renamed, like every file readers see; only by runs that changed the
 * tree (a no-op run changes nothing on disk; its time is in the database
 * and the metrics).
 */
static void
publish_trace(struct run *r, int root_fd)
{
	const struct job *job = r->job;
	const char *leaf = "trace";
	char now[32], tmp[64];
	FILE *f = NULL;
	int dfd = -1, fd = -1;

	if (job->trace_file != NULL) {
		char *dir = strndup(job->trace_file, path_dirlen(job->trace_file));

		leaf = path_base(job->trace_file);
		if (dir != NULL && path_mkdirs(dir[0] ? dir : "/") == 0)
			dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC);
		free(dir);
	} else
		dfd = path_open_dir(root_fd, ".ftpmirror", true);
	snprintf(tmp, sizeof(tmp), ".%s.%ld", leaf, (long)getpid());
	if (dfd == -1 || (fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0644)) == -1 || (f = fdopen(fd, "w")) ==
	    NULL)
		goto fail;
	fd = -1;
	state_iso_time((int64_t)time(NULL), now, sizeof(now));
	fprintf(f, "date: %s\njob: %s\nrun: %lld\nsource: %s\n"
	    "files_added: %lld\nfiles_changed: %lld\nfiles_deleted: %lld\n"
	    "bytes_downloaded: %lld\nftpmirror: %s\n", now, job->name,
	    (long long)r->id, job->source, (long long)r->counts.added,
	    (long long)r->counts.changed, (long long)r->counts.deleted,
	    (long long)r->counts.bytes, FTPMIRROR_VERSION);
	if (fflush(f) == EOF || fsync(fileno(f)) == -1)
		goto fail;
	if (fclose(f) == EOF) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (renameat(dfd, tmp, dfd, leaf) == -1)
		goto fail;
	close(dfd);
	return;
fail:
	log_warn("%s: cannot write the trace file: %s", job->name,
	    strerror(errno));
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	if (dfd != -1) {
		unlinkat(dfd, tmp, 0);
		close(dfd);
	}
}

/* Publish the run's work into target. */
enum publish_result
publish_run(struct run *r)
{
	static const enum scan_state dirs[] = { SCAN_DIR_DONE,
	    SCAN_DIR_UNLISTED, SCAN_DIR_INCOMPLETE };
	static const enum scan_state files[] = { SCAN_FILE_STAGED, SCAN_LINK };
	struct publish p;
	struct deletions d = { r, -1, 0, 0, false };
	enum publish_result rc = PUBLISH_FAILED;
	bool snapshot = r->job->publish == JOB_PUBLISH_SNAPSHOT;
	int64_t ndelete = 0;
	bool over = false;

	memset(&p, 0, sizeof(p));
	p.r = r;
	p.dir_fd = -1;
	p.root_fd = r->target_fd;
	if (r->job->delete && publish_over_limit(r, &ndelete, &over) == -1)
		return PUBLISH_FAILED;
	/* A snapshot starts as hard links to the current one. */
	if (snapshot && (p.root_fd = snapshot_begin(r->job, r->id,
	    r->target_fd)) == -1)
		return PUBLISH_FAILED;
	d.root_fd = p.root_fd;

	if (state_scan_foreach(r->state, r->job->name, dirs, 3, publish_dir,
	    &p) == -1)
		goto out;
	if (state_scan_foreach(r->state, r->job->name, files, 2, publish_entry,
	    &p) == -1)
		goto out;
	p.index_phase = true;
	if (p.index_seen && state_scan_foreach(r->state, r->job->name, files,
	    2, publish_entry, &p) == -1)
		goto out;
	publish_close_dir(&p);
	if (p.errors > 0) {
		r->failed += p.errors;
		goto out;
	}

	if (over)
		run_error(r, "", "max_delete: %lld files vanished upstream, "
		    "more than the job allows; nothing was deleted",
		    (long long)ndelete);
	else if (p.index_held && ndelete > 0)
		/* The old index stays public, and it may list them. */
		log_warn("%s: %lld files vanished upstream; deleting them waits "
		    "with the held-back index files", r->job->name,
		    (long long)ndelete);
	else if (r->job->delete && state_vanished_foreach(r->state,
	    r->job->name, deletions_apply, &d) == -1)
		goto out;
	if (d.errors > 0) {
		r->failed += d.errors;
		goto out;
	}
	/* A run that changed nothing leaves the disk alone, trace too. */
	if (r->counts.added + r->counts.changed + r->counts.deleted > 0 ||
	    snapshot)
		publish_trace(r, p.root_fd);
	/*
	 * The new names (and a snapshot's whole new tree of links) on disk
	 * before the run is recorded as done.
	 */
	if ((p.changed || d.removed || snapshot) && r->job->fsync &&
	    syncfs(p.root_fd) == -1)
		log_warn("%s: syncfs %s: %s", r->job->name, r->job->target,
		    strerror(errno));
	if (snapshot && (fsync(p.root_fd) == -1 ||
	    snapshot_commit(r->job, r->id) == -1))
		goto out;
	rc = over ? PUBLISH_DELETE_LIMIT : PUBLISH_OK;
out:
	publish_close_dir(&p);
	publish_free_manifests(&p);
	if (snapshot) {
		close(p.root_fd);
		if (rc == PUBLISH_FAILED)
			snapshot_abort(r->job, r->id);
	}
	return rc;
}

/* A dry run's printing: where to, and what it counted. */
struct plan_print {
	bool			 json;
	struct dry_counts	*dc;
};

/* One line of the plan: what, add or change (or a deletion's type), path. */
static void
print_plan_line(const struct plan_print *pp, const char *what,
    const char *kind, const char *path)
{
	if (!pp->json) {
		printf("%s\t%s\t/%s", what, kind, path);
		return;
	}
	printf("{\"action\": \"%s\", \"%s\": \"%s\", \"path\": \"/", what,
	    strcmp(what, "delete") ? "change" : "type", kind);
	json_string_body(stdout, path);
	putchar('"');
}

static int
print_entry(void *arg, const struct scan_row *row)
{
	struct plan_print *pp = arg;
	const char *kind = row->action == SCAN_ACTION_ADD ? "add" : "change";

	switch (row->state) {
	case SCAN_FILE_FETCH:
		print_plan_line(pp, "fetch", kind, row->path);
		printf(pp->json ? ", \"bytes\": %lld}\n" : "\t%lld bytes\n",
		    (long long)row->size);
		pp->dc->fetch++;
		pp->dc->bytes += row->size > 0 ? row->size : 0;
		break;
	case SCAN_FILE_STAGED:
		print_plan_line(pp, "publish", kind, row->path);
		fputs(pp->json ? ", \"staged\": true}\n" :
		    "\t(already staged)\n", stdout);
		pp->dc->staged++;
		break;
	case SCAN_LINK:
		print_plan_line(pp, "link", kind, row->path);
		if (pp->json) {
			fputs(", \"target\": ", stdout);
			json_string(stdout, row->link_target ?
			    row->link_target : "");
			fputs("}\n", stdout);
		} else
			printf("\t-> %s\n", row->link_target ?
			    row->link_target : "");
		pp->dc->links++;
		break;
	default:
		if (row->type == 'd' && row->action != SCAN_ACTION_NONE &&
		    row->path[0] != '\0') {
			print_plan_line(pp, "mkdir", kind, row->path);
			fputs(pp->json ? "}\n" : "\n", stdout);
			pp->dc->dirs++;
		}
		break;
	}
	return 0;
}

static int
print_deletion(void *arg, const char *path, char type)
{
	struct plan_print *pp = arg;

	print_plan_line(pp, "delete", type == 'd' ? "dir" : "file", path);
	fputs(pp->json ? "}\n" : "\n", stdout);
	pp->dc->deletions++;
	return 0;
}

/* Print what a run would do. */
enum publish_result
publish_print_plan(struct run *r, bool json, struct dry_counts *dc)
{
	static const enum scan_state all[] = { SCAN_DIR_DONE,
	    SCAN_DIR_UNLISTED, SCAN_DIR_INCOMPLETE, SCAN_FILE_FETCH,
	    SCAN_FILE_STAGED, SCAN_LINK };
	struct plan_print pp = { json, dc };
	int64_t ndelete = 0;
	bool over = false;

	memset(dc, 0, sizeof(*dc));
	if (state_scan_foreach(r->state, r->job->name, all, 6, print_entry,
	    &pp) == -1)
		return PUBLISH_FAILED;
	if (!r->job->delete)
		return PUBLISH_OK;
	if (publish_over_limit(r, &ndelete, &over) == -1)
		return PUBLISH_FAILED;
	if (over) {
		log_err("%s: max_delete: %lld files vanished upstream, more "
		    "than the job allows; the sync would delete nothing and "
		    "exit 5", r->job->name, (long long)ndelete);
		return PUBLISH_DELETE_LIMIT;
	}
	return state_vanished_foreach(r->state, r->job->name, print_deletion,
	    &pp) == -1 ? PUBLISH_FAILED : PUBLISH_OK;
}
