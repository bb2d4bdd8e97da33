/*
 * lock.c: the per-job run lock (flock on INCOMING/.lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lock.h"

/* Take the lock; see lock.h. */
int
lock_take(int dirfd, long *holder)
{
	char buf[32];
	ssize_t n;
	int fd, len;

	*holder = 0;
	fd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int saved = errno;

		if (saved == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				*holder = strtol(buf, NULL, 10);
			}
			close(fd);
			return -2;
		}
		close(fd);
		errno = saved;
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)len, 0) != len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Release the lock. */
void
lock_release(int fd)
{
	if (fd != -1)
		close(fd);
}
