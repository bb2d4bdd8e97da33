/*
 * publish.c: moving a run's verified work from incoming into target.
 * Staged data is flushed to disk (syncfs) before the first rename, each
 * file appears by one rename(2), and each directory that changed is
 * fsync'ed, so after a crash target holds old or new files, never torn
 * ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "filter.h"
#include "job.h"
#include "log.h"
#include "path.h"
#include "publish.h"

struct publish {
	struct run	*r;
	char		*dir;		/* directory of the last entry, owned */
	int		 dir_fd;	/* it, open in target, or -1 */
	bool		 dir_dirty;	/* it changed: fsync before closing */
	bool		 index_phase;	/* publishing the publish_last files */
	int64_t		 errors;
};

/* fsync and close the cached directory. */
static void
publish_close_dir(struct publish *p)
{
	if (p->dir_fd != -1) {
		if (p->dir_dirty && fsync(p->dir_fd) == -1)
			log_warn("%s: fsync of %s/%s: %s", p->r->job->name,
			    p->r->job->target, p->dir, strerror(errno));
		close(p->dir_fd);
	}
	free(p->dir);
	p->dir = NULL;
	p->dir_fd = -1;
	p->dir_dirty = false;
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
	if ((p->dir_fd = path_open_dir(p->r->target_fd, p->dir, true)) == -1)
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
	p->dir_dirty = true;
	run_event(p->r, row->path, row->action == SCAN_ACTION_ADD ? "add" :
	    "change", -1, "directory");
	return 0;
fail:
	p->errors++;
	return 0;
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
	if (is_index != p->index_phase)
		return 0;

	if ((dfd = publish_parent(p, row->path, &leaf)) == -1)
		goto fail;
	if (publish_clear(p, dfd, leaf, row->path, false) == -1)
		goto fail;
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
		found = state_staged_get(r->state, r->job->name, row->path,
		    &staged);
		if (found != 1) {
			if (found == 0)
				run_error(r, row->path, "no staged file");
			goto fail;
		}
		fetch_staged_name(staged.id, name, sizeof(name));
		if (renameat(r->incoming_fd, name, dfd, leaf) == -1) {
			run_error(r, row->path, "cannot publish %s/%s: %s",
			    r->job->target, row->path, strerror(errno));
			goto fail;
		}
		if (state_staged_delete(r->state, staged.id) == -1)
			return -1;
	}
	p->dir_dirty = true;
	if (state_scan_set(r->state, row->id, row->type == 'l' ? SCAN_LINK :
	    SCAN_FILE_PUBLISHED, row->tries, 0) == -1)
		return -1;
	publish_count(p, row, row->type == 'l' ? -1 : row->size);
	return 0;
fail:
	p->errors++;
	return 0;
}

struct deletions {
	struct run	*r;
	int64_t		 count;		/* files that would go */
	int		 errors;
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

	dfd = path_open_parent(r->target_fd, path, false, &leaf);
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
		if (fsync(dfd) == -1)
			log_warn("%s: fsync: %s", r->job->name, strerror(errno));
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
	struct deletions d = { r, 0, 0 };
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

/* Publish the run's work into target. */
enum publish_result
publish_run(struct run *r)
{
	static const enum scan_state dirs[] = { SCAN_DIR_DONE,
	    SCAN_DIR_UNLISTED, SCAN_DIR_INCOMPLETE };
	static const enum scan_state files[] = { SCAN_FILE_STAGED, SCAN_LINK };
	struct publish p;
	struct deletions d = { r, 0, 0 };
	enum publish_result rc = PUBLISH_FAILED;
	int64_t ndelete = 0;
	bool over = false;

	memset(&p, 0, sizeof(p));
	p.r = r;
	p.dir_fd = -1;
	if (r->job->delete && publish_over_limit(r, &ndelete, &over) == -1)
		goto out;

	if (state_scan_foreach(r->state, r->job->name, dirs, 3, publish_dir,
	    &p) == -1)
		goto out;
	/* What was written to incoming must be on disk before it shows. */
	if (syncfs(r->incoming_fd) == -1)
		log_warn("%s: syncfs %s: %s", r->job->name, r->job->incoming,
		    strerror(errno));
	if (state_scan_foreach(r->state, r->job->name, files, 2, publish_entry,
	    &p) == -1)
		goto out;
	p.index_phase = true;
	if (state_scan_foreach(r->state, r->job->name, files, 2, publish_entry,
	    &p) == -1)
		goto out;
	publish_close_dir(&p);
	if (p.errors > 0) {
		r->failed += p.errors;
		goto out;
	}

	if (over) {
		run_error(r, "", "max_delete: %lld files vanished upstream, "
		    "more than the job allows; nothing was deleted",
		    (long long)ndelete);
		rc = PUBLISH_DELETE_LIMIT;
		goto out;
	}
	if (r->job->delete && state_vanished_foreach(r->state, r->job->name,
	    deletions_apply, &d) == -1)
		goto out;
	if (d.errors > 0) {
		r->failed += d.errors;
		goto out;
	}
	rc = PUBLISH_OK;
out:
	publish_close_dir(&p);
	return rc;
}

static int
print_entry(void *arg, const struct scan_row *row)
{
	(void)arg;
	switch (row->state) {
	case SCAN_FILE_FETCH:
		printf("fetch\t%s\t/%s\t%lld bytes\n", row->action ==
		    SCAN_ACTION_ADD ? "add" : "change", row->path,
		    (long long)row->size);
		break;
	case SCAN_FILE_STAGED:
		printf("publish\t%s\t/%s\t(already staged)\n", row->action ==
		    SCAN_ACTION_ADD ? "add" : "change", row->path);
		break;
	case SCAN_LINK:
		printf("link\t%s\t/%s\t-> %s\n", row->action ==
		    SCAN_ACTION_ADD ? "add" : "change", row->path,
		    row->link_target ? row->link_target : "");
		break;
	default:
		if (row->type == 'd' && row->action != SCAN_ACTION_NONE &&
		    row->path[0] != '\0')
			printf("mkdir\t%s\t/%s\n", row->action ==
			    SCAN_ACTION_ADD ? "add" : "change", row->path);
		break;
	}
	return 0;
}

static int
print_deletion(void *arg, const char *path, char type)
{
	(void)arg;
	printf("delete\t%s\t/%s\n", type == 'd' ? "dir" : "file", path);
	return 0;
}

/* Print what a run would do. */
int
publish_print_plan(struct run *r)
{
	static const enum scan_state all[] = { SCAN_DIR_DONE,
	    SCAN_DIR_UNLISTED, SCAN_DIR_INCOMPLETE, SCAN_FILE_FETCH,
	    SCAN_FILE_STAGED, SCAN_LINK };

	if (state_scan_foreach(r->state, r->job->name, all, 6, print_entry,
	    NULL) == -1)
		return -1;
	if (r->job->delete && state_vanished_foreach(r->state, r->job->name,
	    print_deletion, NULL) == -1)
		return -1;
	return 0;
}
