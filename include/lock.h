/*
 * lock.h: one run per job at a time.  The lock is an flock(2) on a file in
 * the job's incoming directory, so it is released by the kernel whatever
 * way the process ends, and it holds the holder's pid for messages.
 */
#ifndef FTPMIRROR_LOCK_H
#define FTPMIRROR_LOCK_H

/* Lock file name inside incoming. */
#define LOCK_NAME	".lock"

/*
 * Take the lock in directory dirfd.  Returns a descriptor to keep open
 * while the run lasts; -2 when another process holds it (*holder is its
 * pid, or 0 when unknown); -1 on error (errno set).
 */
int lock_take(int dirfd, long *holder);

/* Release a lock taken by lock_take.  -1 is a no-op. */
void lock_release(int fd);

#endif
