/*
 * civil.h: proleptic Gregorian calendar arithmetic on day numbers (days
 * since 1970-01-01, day 0) and seconds since the epoch, all in UTC.  Pure:
 * no clock, no time zone and no locale, so every answer depends on the
 * arguments alone.  Years are astronomical (year 0 is 1 BC).
 */
#ifndef FTPMIRROR_CIVIL_H
#define FTPMIRROR_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

#define CIVIL_SECS_PER_DAY	86400

/* a / b rounded towards minus infinity; b must not be 0. */
int64_t civil_floor_div(int64_t a, int64_t b);

/* The remainder of civil_floor_div: 0..b-1 for a positive b. */
int64_t civil_floor_mod(int64_t a, int64_t b);

/* Whether year y is a Gregorian leap year. */
bool civil_is_leap(int64_t y);

/* The number of days (28..31) in month m (1..12) of year y. */
int civil_days_in_month(int64_t y, int m);

/*
 * The day number of year y, month m (1..12), day d.  d is not checked
 * against the month's length: a day past its end runs on into the next.
 */
int64_t civil_days_from_date(int64_t y, int m, int d);

/* The date of day number days: year, month (1..12), day (1..31). */
void civil_date_from_days(int64_t days, int64_t *y, int *m, int *d);

/* The weekday of day number days, 0 for Sunday to 6 for Saturday. */
int civil_weekday(int64_t days);

/*
 * Seconds since the epoch of a date and a time of day; the time is not
 * range-checked (a leap second's sec = 60 reads as the next minute).
 */
int64_t civil_to_time(int64_t y, int m, int d, int hour, int min, int sec);

#endif
