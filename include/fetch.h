/*
 * fetch.h: downloads into incoming.  Each file is staged as INCOMING/<id>
 * (its staged row names the remote version), resumed with REST when a
 * partial of the same version is there, checked for size and given the
 * remote mtime when complete.
 */
#ifndef FTPMIRROR_FETCH_H
#define FTPMIRROR_FETCH_H

#include "run.h"

/*
 * Start downloading the next file that waits, on a free slot.  Returns 1
 * when one was started (or finished at once), 0 when none waits now, -1 on
 * error.
 */
int fetch_start_next(struct run *r);

/*
 * Open the files of the downloads fetch_start_next started first (their
 * commands are out by now).  A file that cannot be opened fails its
 * download.
 */
void fetch_open_started(struct run *r);

/*
 * Start the next MDTM check (a same-size file whose LIST time can't tell
 * whether it changed) on a free slot.  Returns 1 when one was started, 0
 * when none waits now, -1 on error.
 */
int fetch_start_check(struct run *r);

/*
 * Start the next request for the server's digest of a file just fetched
 * (XSHA256, HASH or XMD5, verify_remote_hash), on a free slot.  Returns 1
 * when one was started, 0 when none waits now, -1 on error.
 */
int fetch_start_hash(struct run *r);

/*
 * Remove files in incoming that no staged row of the job names (left by a
 * crash before their row was committed), and rows whose file is gone.
 */
int fetch_clean_incoming(struct run *r);

/*
 * Learn the range of file times the local file system stores (ext4 keeps
 * 1901 to 2446, XFS without bigtime and small-inode ext4 stop at 2038)
 * into r->time_min and r->time_max, which stay as they are (the whole
 * range, from sync_job) where it can't tell.
 */
void fetch_probe_times(struct run *r);

/* The name of staged file id in incoming ("123"). */
void fetch_staged_name(int64_t id, char *buf, size_t len);

#endif
