/*
 * test_civil.c: calendar arithmetic, table driven.  Every expected number
 * in the tables comes from GNU date, e.g. `date -u -d 2000-02-29 +%s` for
 * the day number (divided by 86400), `+%w` for the weekday and
 * `date -u -d '2100-02-01 +1 month -1 day' +%d` for a month's length.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "civil.h"

struct date_case {
	int64_t	y;
	int	m;
	int	d;
	int64_t	secs;		/* date -u -d Y-M-D +%s */
	int	wday;		/* date -u -d Y-M-D +%w */
};

static const struct date_case date_cases[] = {
	{ 1970, 1, 1, 0, 4 },
	{ 1969, 12, 31, -86400, 3 },
	{ 2000, 2, 29, 951782400, 2 },		/* a 400-year leap day */
	{ 2000, 3, 1, 951868800, 3 },
	{ 1900, 2, 28, -2203977600, 3 },	/* 1900 is no leap year */
	{ 1900, 3, 1, -2203891200, 4 },
	{ 2100, 2, 28, 4107456000, 0 },
	{ 2100, 3, 1, 4107542400, 1 },
	{ 2024, 2, 29, 1709164800, 4 },
	{ 2038, 1, 19, 2147472000, 2 },		/* 32-bit time_t ends */
	{ 1600, 2, 29, -11670998400, 2 },
	{ 1583, 10, 15, -12187756800, 6 },
	{ 1890, 1, 1, -2524521600, 3 },
	{ 1, 1, 1, -62135596800, 1 },		/* first day of year 1 */
	{ 9999, 12, 31, 253402214400, 5 },
	{ 10009, 1, 1, 253686384000, 4 },
};

struct month_case {
	int64_t	y;
	int	m;
	int	days;		/* date -u -d 'Y-M-01 +1 month -1 day' +%d */
};

static const struct month_case month_cases[] = {
	{ 2000, 2, 29 },
	{ 1900, 2, 28 },
	{ 2100, 2, 28 },
	{ 2024, 2, 29 },
	{ 2023, 2, 28 },
	{ 1600, 2, 29 },
	{ 2023, 4, 30 },
	{ 2023, 12, 31 },
	{ 2023, 1, 31 },
};

struct time_case {
	int64_t	y;
	int	m, d, hour, min, sec;
	int64_t	secs;		/* date -u -d 'Y-M-D H:M:S' +%s */
};

static const struct time_case time_cases[] = {
	{ 1970, 1, 1, 0, 0, 0, 0 },
	{ 1969, 12, 31, 23, 59, 59, -1 },
	{ 1969, 12, 30, 23, 59, 59, -86401 },
	{ 2038, 1, 19, 3, 14, 7, 2147483647 },
	{ 2024, 2, 29, 12, 34, 56, 1709210096 },
	{ 1900, 1, 1, 0, 0, 0, -2208988800 },
	{ 9999, 12, 31, 23, 59, 59, 253402300799 },
	{ 1, 1, 1, 0, 0, 0, -62135596800 },
};

struct div_case {
	int64_t	a, b, q, r;
};

static const struct div_case div_cases[] = {
	{ 7, 2, 3, 1 },
	{ -7, 2, -4, 1 },
	{ 7, -2, -4, -1 },
	{ -7, -2, 3, -1 },
	{ -6, 2, -3, 0 },
	{ 0, 5, 0, 0 },
	{ -1, 86400, -1, 86399 },
	{ -86400, 86400, -1, 0 },
	{ -86401, 86400, -2, 86399 },
	{ INT64_MIN, 1, INT64_MIN, 0 },
};

static void
test_dates(void **state)
{
	const struct date_case	*c;
	int64_t			 days, y;
	int			 m, d;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]); i++) {
		c = &date_cases[i];
		days = c->secs / CIVIL_SECS_PER_DAY;
		assert_true(days * CIVIL_SECS_PER_DAY == c->secs);
		assert_true(civil_days_from_date(c->y, c->m, c->d) == days);
		civil_date_from_days(days, &y, &m, &d);
		assert_true(y == c->y);
		assert_int_equal(m, c->m);
		assert_int_equal(d, c->d);
		assert_int_equal(civil_weekday(days), c->wday);
	}
}

static void
test_months(void **state)
{
	const struct month_case	*c;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(month_cases) / sizeof(month_cases[0]); i++) {
		c = &month_cases[i];
		assert_int_equal(civil_days_in_month(c->y, c->m), c->days);
		if (c->m == 2)
			assert_true(civil_is_leap(c->y) == (c->days == 29));
	}
}

static void
test_times(void **state)
{
	const struct time_case	*c;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		c = &time_cases[i];
		assert_true(civil_to_time(c->y, c->m, c->d, c->hour, c->min,
		    c->sec) == c->secs);
	}
}

static void
test_floor(void **state)
{
	const struct div_case	*c;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(div_cases) / sizeof(div_cases[0]); i++) {
		c = &div_cases[i];
		assert_true(civil_floor_div(c->a, c->b) == c->q);
		assert_true(civil_floor_mod(c->a, c->b) == c->r);
	}
}

/*
 * Every day from 0000-03-01 to 10000-01-01: the next day's date follows
 * from this one's by the month lengths alone, and both conversions agree.
 */
static void
test_every_day(void **state)
{
	int64_t	days, y, ny, first, last;
	int	m, d, nm, nd, wd;

	(void)state;
	first = civil_days_from_date(0, 3, 1);
	last = civil_days_from_date(10000, 1, 1);
	civil_date_from_days(first, &y, &m, &d);
	assert_true(y == 0 && m == 3 && d == 1);
	wd = civil_weekday(first);
	for (days = first; days < last; days++) {
		civil_date_from_days(days + 1, &ny, &nm, &nd);
		if (d < civil_days_in_month(y, m))
			assert_true(ny == y && nm == m && nd == d + 1);
		else if (m < 12)
			assert_true(ny == y && nm == m + 1 && nd == 1);
		else
			assert_true(ny == y + 1 && nm == 1 && nd == 1);
		assert_true(civil_days_from_date(ny, nm, nd) == days + 1);
		wd = (wd + 1) % 7;
		assert_int_equal(civil_weekday(days + 1), wd);
		y = ny;
		m = nm;
		d = nd;
	}
}

/* Negative years (before 1 BC) still count proleptically. */
static void
test_negative_years(void **state)
{
	int64_t	y;
	int	m, d;

	(void)state;
	/* 400 years are exactly 146097 days, whatever the era. */
	assert_true(civil_days_from_date(-400, 1, 1) ==
	    civil_days_from_date(0, 1, 1) - 146097);
	assert_true(civil_is_leap(0) && civil_is_leap(-4) &&
	    !civil_is_leap(-100) && civil_is_leap(-400));
	civil_date_from_days(civil_days_from_date(-1, 12, 31) + 1, &y, &m, &d);
	assert_true(y == 0 && m == 1 && d == 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_months),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_every_day),
		cmocka_unit_test(test_negative_years),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
