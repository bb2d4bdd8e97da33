/*
 * run.c: what every part of a run records the same way: events, errors
 * and the retry back-off.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "log.h"
#include "run.h"

/* Record an event (nothing in a dry run, where the database is not kept). */
void
run_event(struct run *r, const char *path, const char *action, int64_t bytes,
    const char *detail)
{
	if (r->state == NULL)
		return;
	if (state_event(r->state, r->id, path, action, bytes, detail) == -1)
		log_warn("%s: could not record the event %s %s", r->job->name,
		    action, path);
}

/*
 * Record a failure: logged, stored as an error event, counted; the first
 * one becomes the run's message.  The event has the path in a column of
 * its own; the log line and the message name it when the text does not.
 */
void
run_error(struct run *r, const char *path, const char *fmt, ...)
{
	char msg[1024], named[1280];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path != NULL && path[0] != '\0' && strstr(msg, path) == NULL)
		snprintf(named, sizeof(named), "/%s: %s", path, msg);
	else
		snprintf(named, sizeof(named), "%s", msg);
	log_err("%s: %s", r->job->name, named);
	run_event(r, path, "error", -1, msg);
	r->counts.errors++;
	if (r->message == NULL)
		r->message = strdup(named);
}

int64_t
run_local_time(const struct run *r, int64_t t)
{
	return t < r->time_min ? r->time_min : t > r->time_max ?
	    r->time_max : t;
}

/* Now, in milliseconds since the epoch (the unit of retry times). */
int64_t
run_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * When try number tries may start: 1, 2, 4, ... at most 60 seconds from
 * now, in milliseconds (whole seconds would make the first wait anything
 * from 0 to 1 s).
 */
int64_t
run_retry_at(int tries)
{
	int64_t s = 1;

	while (--tries > 0 && s < 60)
		s *= 2;
	return run_now_ms() + (s < 60 ? s : 60) * 1000;
}
