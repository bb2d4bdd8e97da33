/*
 * progress.c: one status line redrawn with "\r" and erased with "\033[K".
 * log.c erases it before printing a message, so the two never mix.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "progress.h"
#include "report.h"

/* Redraws closer together than this are skipped. */
#define PROGRESS_INTERVAL	0.2

static double
progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start the line for job. */
void
progress_init(struct progress *p, const char *job)
{
	memset(p, 0, sizeof(*p));
	p->job = job;
	p->on = isatty(STDERR_FILENO) && log_max_level() >= LOG_LEVEL_INFO;
	p->started = progress_now();
	log_set_status_line(p->on);
}

/* Note the file being fetched now (its tail, if long). */
void
progress_current(struct progress *p, const char *path)
{
	size_t n = strlen(path);

	if (n >= sizeof(p->current))
		path += n - (sizeof(p->current) - 1);
	snprintf(p->current, sizeof(p->current), "%s", path);
}

/* Redraw the line. */
void
progress_draw(struct progress *p)
{
	char done[32], rate[32], eta[32];
	double now = progress_now(), elapsed, bps, left;

	if (!p->on || now - p->last_draw < PROGRESS_INTERVAL)
		return;
	p->last_draw = now;
	elapsed = now - p->started;
	bps = elapsed > 0 ? (double)p->bytes_done / elapsed : 0;
	report_bytes(p->bytes_done, done, sizeof(done));
	report_bytes((int64_t)bps, rate, sizeof(rate));
	left = p->bytes_total > p->bytes_done && bps > 0 ?
	    (double)(p->bytes_total - p->bytes_done) / bps : 0;
	snprintf(eta, sizeof(eta), "%d:%02d", (int)left / 60, (int)left % 60);
	fprintf(stderr, "\r%s: %lld/%lld files, %s, %s/s, ETA %s  %s\033[K",
	    p->job, (long long)p->files_done, (long long)p->files_total, done,
	    rate, eta, p->current);
	fflush(stderr);
	p->drawn = true;
}

/* Erase the line. */
void
progress_clear(struct progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
	log_set_status_line(false);
}
