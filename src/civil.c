/*
 * civil.c: proleptic Gregorian calendar arithmetic, after Howard Hinnant's
 * days_from_civil and civil_from_days, counting in 400-year eras that
 * start on March 1 so the leap day falls at the end of each year.  Done by
 * hand rather than with timegm() or gmtime_r() so that neither TZ, the
 * locale nor the width of time_t can change an answer.
 *
 * Day numbers count from 1970-01-01 (day 0) and may be negative.  Years
 * are astronomical (year 0 is 1 BC); the results are exact for any year
 * whose day number fits in an int64_t with room for the era arithmetic,
 * i.e. anything within a few trillion years of now.
 */
#include <stdbool.h>
#include <stdint.h>

#include "civil.h"

/* Days from 0000-03-01, the start of era 0, to 1970-01-01. */
#define DAYS_TO_EPOCH	719468
#define DAYS_PER_ERA	146097	/* 400 years */

/*
 * The quotient a / b rounded towards minus infinity, so that times before
 * 1970 land on the right day.  b must not be 0.
 */
int64_t
civil_floor_div(int64_t a, int64_t b)
{
	int64_t	q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/*
 * The remainder matching civil_floor_div: it has the sign of b, so for a
 * positive b it lies in 0..b-1.  b must not be 0.
 */
int64_t
civil_floor_mod(int64_t a, int64_t b)
{
	return a - civil_floor_div(a, b) * b;
}

/* Whether year y is a leap year of the Gregorian calendar. */
bool
civil_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The number of days in month m (1..12) of year y. */
int
civil_days_in_month(int64_t y, int m)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && civil_is_leap(y) ? 29 : days[m - 1];
}

/*
 * The day number (0 = 1970-01-01) of year y, month m (1..12), day d.  A
 * day past the end of its month simply runs on into the next; the caller
 * checks d against civil_days_in_month when that matters.
 */
int64_t
civil_days_from_date(int64_t y, int m, int d)
{
	int64_t	era, yoe, doy, doe, mp;

	if (m <= 2)
		y--;
	era = civil_floor_div(y, 400);
	yoe = y - era * 400;			/* 0..399 */
	mp = m > 2 ? m - 3 : m + 9;		/* March is 0 */
	doy = (153 * mp + 2) / 5 + d - 1;	/* 0..365 */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * DAYS_PER_ERA + doe - DAYS_TO_EPOCH;
}

/*
 * The date of day number z (0 = 1970-01-01): its year in *y, its month
 * (1..12) in *m and its day of the month (1..31) in *d.
 */
void
civil_date_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t	era, doe, yoe, doy, mp;

	z += DAYS_TO_EPOCH;
	era = civil_floor_div(z, DAYS_PER_ERA);
	doe = z - era * DAYS_PER_ERA;		/* 0..146096 */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The weekday of day number z, 0 for Sunday to 6 for Saturday. */
int
civil_weekday(int64_t z)
{
	/* 1970-01-01 was a Thursday. */
	return (int)civil_floor_mod(z + 4, 7);
}

/*
 * Seconds since the epoch of a date (as for civil_days_from_date) and a
 * time of day.  hour, min and sec are not range-checked, so sec may be 60
 * for a leap second, which then reads as the next minute's first second.
 */
int64_t
civil_to_time(int64_t y, int m, int d, int hour, int min, int sec)
{
	return civil_days_from_date(y, m, d) * CIVIL_SECS_PER_DAY +
	    (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
}
