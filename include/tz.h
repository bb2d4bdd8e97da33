/*
 * tz.h: the time zone LIST listings are printed in.  LIST shows the
 * server's wall clock; the parsers read it as if it were UTC, and this
 * module turns that into real UTC for the job's IANA zone.
 */
#ifndef FTPMIRROR_TZ_H
#define FTPMIRROR_TZ_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Make zone ("UTC", "Europe/Berlin") the zone of the following calls.
 * Sets TZ for the process: callers run one job at a time.  Returns 0 or -1.
 */
int tz_use(const char *zone);

/* Is the zone in use UTC (no conversion at all)? */
bool tz_is_utc(void);

/*
 * Use the zone of the environment's TZ for the following calls (UTC when
 * TZ is unset or empty).  Returns 0 or -1.
 */
int tz_use_environment(void);

/* Wall-clock time in the zone, read as if UTC, to seconds since the epoch. */
int64_t tz_wall_to_utc(int64_t wall);

/* Seconds since the epoch to the zone's wall clock, read as if UTC. */
int64_t tz_utc_to_wall(int64_t utc);

#endif
