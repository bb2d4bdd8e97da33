/*
 * snapshot.h: `publish: snapshot`.  target is a symbolic link to a
 * complete tree under a hidden sibling, .TARGET.snapshots/run-N.  A run
 * builds the next tree from the current one with hard links, publishes
 * into it, and swaps the link with one rename(2): a reader is always in
 * one complete tree, never in a mix of two runs.
 */
#ifndef FTPMIRROR_SNAPSHOT_H
#define FTPMIRROR_SNAPSHOT_H

#include <stdint.h>

struct job;

/*
 * The directory that holds job's snapshots (a string the caller frees),
 * or NULL when out of memory.
 */
char *snapshot_root(const struct job *job);

/*
 * Start snapshot run_id: made (replacing a leftover of the same name),
 * filled with hard links to the tree open as current_fd (or empty when
 * current_fd is -1).  Returns a descriptor of the new tree, or -1 after
 * logging why.
 */
int snapshot_begin(const struct job *job, int64_t run_id, int current_fd);

/*
 * Make snapshot run_id the one target points to (atomically), then
 * remove all but the newest keep_snapshots older ones.  Returns 0, or -1
 * after logging why (target then still points to the old one).
 */
int snapshot_commit(const struct job *job, int64_t run_id);

/* Throw away snapshot run_id (a run that did not publish). */
void snapshot_abort(const struct job *job, int64_t run_id);

#endif
