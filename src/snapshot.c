/*
 * snapshot.c: snapshot trees and the link that names the current one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "path.h"
#include "snapshot.h"

/* The directory of target and its last component, split. */
static int
snapshot_split(const char *target, char **dir, const char **base)
{
	const char *slash = strrchr(target, '/');

	if (slash == NULL || slash[1] == '\0')
		return -1;
	*base = slash + 1;
	*dir = slash == target ? strdup("/") :
	    strndup(target, (size_t)(slash - target));
	return *dir == NULL ? -1 : 0;
}

/* The snapshots directory: a hidden sibling of target. */
char *
snapshot_root(const struct job *job)
{
	const char *base;
	char *dir, *root = NULL;

	if (snapshot_split(job->target, &dir, &base) == -1)
		return NULL;
	if (asprintf(&root, "%s/.%s.snapshots", strcmp(dir, "/") ? dir : "",
	    base) == -1)
		root = NULL;
	free(dir);
	return root;
}

static void
snapshot_name(int64_t run_id, char *buf, size_t len)
{
	snprintf(buf, len, "run-%lld", (long long)run_id);
}

/* Open the snapshots directory, making it when missing. */
static int
snapshot_open_root(const struct job *job)
{
	char *root;
	int fd = -1;

	if ((root = snapshot_root(job)) == NULL) {
		log_err("%s: no place for snapshots beside %s", job->name,
		    job->target);
		return -1;
	}
	if (path_mkdirs(root) == -1 ||
	    (fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		log_err("%s: %s: %s", job->name, root, strerror(errno));
	free(root);
	return fd;
}

/* Start the next snapshot. */
int
snapshot_begin(const struct job *job, int64_t run_id, int current_fd)
{
	char name[32];
	int rootfd, fd = -1;

	if ((rootfd = snapshot_open_root(job)) == -1)
		return -1;
	snapshot_name(run_id, name, sizeof(name));
	if (path_remove_tree(rootfd, name) == -1 ||
	    mkdirat(rootfd, name, 0755) == -1 ||
	    (fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		log_err("%s: snapshot %s: %s", job->name, name, strerror(errno));
		goto out;
	}
	if (current_fd != -1 && path_clone_tree(current_fd, fd) == -1) {
		log_err("%s: copying the current snapshot into %s: %s",
		    job->name, name, strerror(errno));
		close(fd);
		fd = -1;
		path_remove_tree(rootfd, name);
	}
out:
	close(rootfd);
	return fd;
}

/* Run number of a snapshot's name, or -1 when it is not one. */
static int64_t
snapshot_number(const char *name)
{
	char *end;
	long long v;

	if (strncmp(name, "run-", 4) != 0 || name[4] < '0' || name[4] > '9')
		return -1;
	v = strtoll(name + 4, &end, 10);
	return *end == '\0' ? (int64_t)v : -1;
}

static int
snapshot_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;	/* newest first */
}

/* Remove all but current and the keep newest snapshots before it. */
static void
snapshot_prune(const struct job *job, int rootfd, int64_t current)
{
	int64_t *runs = NULL, *nr, n;
	size_t count = 0, cap = 0, i, kept = 0;
	struct dirent *de;
	char name[32];
	DIR *d;
	int fd;

	if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if ((n = snapshot_number(de->d_name)) < 0 || n == current)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nr = realloc(runs, cap * sizeof(*nr))) == NULL)
				break;
			runs = nr;
		}
		runs[count++] = n;
	}
	closedir(d);
	if (count > 1)
		qsort(runs, count, sizeof(*runs), snapshot_cmp);
	for (i = 0; i < count; i++) {
		/* Older than current and beyond the ones kept for readers. */
		if (runs[i] < current && kept < (size_t)job->keep_snapshots) {
			kept++;
			continue;
		}
		snapshot_name(runs[i], name, sizeof(name));
		log_debug("%s: removing old snapshot %s", job->name, name);
		if (path_remove_tree(rootfd, name) == -1)
			log_warn("%s: removing snapshot %s: %s", job->name,
			    name, strerror(errno));
	}
	free(runs);
}

/* Point target at snapshot run_id, then prune. */
int
snapshot_commit(const struct job *job, int64_t run_id)
{
	const char *base;
	char *dir = NULL, *link = NULL, tmp[64], name[32];
	int dirfd = -1, rootfd = -1, rc = -1;

	snapshot_name(run_id, name, sizeof(name));
	if (snapshot_split(job->target, &dir, &base) == -1 ||
	    asprintf(&link, ".%s.snapshots/%s", base, name) == -1) {
		link = NULL;
		log_err("out of memory");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), ".ftpmirror-link.%ld", (long)getpid());
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("%s: %s: %s", job->name, dir, strerror(errno));
		goto out;
	}
	unlinkat(dirfd, tmp, 0);
	/* A new link renamed over the old one: readers see one or the other. */
	if (symlinkat(link, dirfd, tmp) == -1 ||
	    renameat(dirfd, tmp, dirfd, base) == -1) {
		log_err("%s: pointing %s at %s: %s", job->name, job->target,
		    link, strerror(errno));
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	if (fsync(dirfd) == -1)
		log_warn("%s: fsync %s: %s", job->name, dir, strerror(errno));
	if ((rootfd = snapshot_open_root(job)) != -1)
		snapshot_prune(job, rootfd, run_id);
	rc = 0;
out:
	if (rootfd != -1)
		close(rootfd);
	if (dirfd != -1)
		close(dirfd);
	free(link);
	free(dir);
	return rc;
}

/* Remove a snapshot that was never made current. */
void
snapshot_abort(const struct job *job, int64_t run_id)
{
	char name[32];
	int rootfd;

	snapshot_name(run_id, name, sizeof(name));
	if ((rootfd = snapshot_open_root(job)) == -1)
		return;
	if (path_remove_tree(rootfd, name) == -1)
		log_warn("%s: removing unfinished snapshot %s: %s", job->name,
		    name, strerror(errno));
	close(rootfd);
}
