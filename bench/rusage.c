/*
 * rusage: run a command and report what it cost.
 *
 *     rusage OUTFILE COMMAND [ARG...]
 *
 * Runs COMMAND as a child and, once it has exited, writes one line to
 * OUTFILE: wall seconds, CPU seconds (user + system, with the children it
 * waited for), peak RSS in KiB (ru_maxrss of wait4), and the exit status
 * (128 + N when killed by signal N).  Exits with that status.
 *
 * Why not measure from Python directly: a child's ru_maxrss is a high-water
 * mark that survives exec, so a child forked (or vforked) from the
 * benchmark's Python process starts with Python's RSS and any client
 * smaller than that would read as Python's size.  Forked from this small
 * program instead, the floor is this program's few hundred KiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timespec t)
{
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int status, code;
	pid_t pid;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: rusage OUTFILE COMMAND [ARG...]\n");
		return 125;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("rusage: fork");
		return 125;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("rusage: wait4");
			return 125;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	code = WIFEXITED(status) ? WEXITSTATUS(status)
	     : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
	out = fopen(argv[1], "w");
	if (out == NULL) {
		perror("rusage: OUTFILE");
		return 125;
	}
	fprintf(out, "%.6f %.6f %ld %d\n", seconds(t1) - seconds(t0),
	    seconds((struct timespec){ ru.ru_utime.tv_sec, ru.ru_utime.tv_usec * 1000L }) +
	    seconds((struct timespec){ ru.ru_stime.tv_sec, ru.ru_stime.tv_usec * 1000L }),
	    ru.ru_maxrss, code);
	if (fclose(out) != 0) {
		perror("rusage: OUTFILE");
		return 125;
	}
	return code;
}
