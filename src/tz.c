/*
 * tz.c: wall clock <-> UTC in a named zone, through the C library's tz
 * database (TZ + mktime/localtime_r), which knows every zone's DST rules.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tz.h"

static bool tz_is_utc_zone = true;	/* skip the C library for the common case */

/* Make zone the zone of tz_wall_to_utc/tz_utc_to_wall. */
int
tz_use(const char *zone)
{
	tz_is_utc_zone = strcmp(zone, "UTC") == 0 || strcmp(zone, "Etc/UTC") == 0;
	if (tz_is_utc_zone)
		return 0;
	if (setenv("TZ", zone, 1) == -1)
		return -1;
	tzset();
	return 0;
}

/* Is the zone in use UTC? */
bool
tz_is_utc(void)
{
	return tz_is_utc_zone;
}

/* Use the environment's TZ (UTC when unset). */
int
tz_use_environment(void)
{
	const char *tz = getenv("TZ");

	if (tz != NULL && tz[0] == ':')
		tz++;
	return tz_use(tz != NULL && tz[0] != '\0' ? tz : "UTC");
}

/* Wall-clock seconds (as if UTC) in the zone to real UTC seconds. */
int64_t
tz_wall_to_utc(int64_t wall)
{
	struct tm tm;
	time_t t = (time_t)wall;

	if (tz_is_utc_zone)
		return wall;
	gmtime_r(&t, &tm);
	tm.tm_isdst = -1;	/* let the rules say whether DST was on */
	return (int64_t)mktime(&tm);
}

/* Real UTC seconds to the zone's wall clock read as if UTC. */
int64_t
tz_utc_to_wall(int64_t utc)
{
	struct tm tm;
	time_t t = (time_t)utc;

	if (tz_is_utc_zone)
		return utc;
	localtime_r(&t, &tm);
	return utc + tm.tm_gmtoff;
}
