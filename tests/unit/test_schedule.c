/*
 * test_schedule.c: schedule_parse and schedule_next, table driven.
 *
 * Times in the tables are written as UTC dates and turned into seconds by
 * glibc's timegm(), which shares no code with schedule.c; test_clock pins
 * a few of those conversions to numbers from `date -u -d ... +%s`.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "schedule.h"

#define NEVER	"never"		/* last: the job never ran */
#define NONE	"none"		/* want: schedule_next returns -1 */

struct next_case {
	const char	*text;		/* schedule */
	const char	*last;		/* "YYYY-MM-DD HH:MM[:SS]" or NEVER */
	const char	*now;		/* "YYYY-MM-DD HH:MM[:SS]" */
	const char	*want;		/* "YYYY-MM-DD HH:MM[:SS]" or NONE */
};

static const struct next_case next_cases[] = {
	/* every */
	{ "every 30m", "2026-03-01 00:00", "2026-03-01 00:10",
	    "2026-03-01 00:30" },
	{ "every 30m", NEVER, "2026-03-01 00:10:07", "2026-03-01 00:10:07" },
	{ "every 6h", "2026-03-01 00:00", "2026-03-02 00:00",
	    "2026-03-02 00:00" },			/* overdue: now */
	{ "every 90m", "2026-12-31 23:00", "2026-12-31 23:00",
	    "2027-01-01 00:30" },
	{ "every 1d", "2028-02-28 12:00", "2028-02-28 12:00",
	    "2028-02-29 12:00" },
	{ "every 45s", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-03-01 00:00:45" },
	{ "  Every\t2 H  ", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-03-01 02:00" },
	{ "every 365d", "2027-03-01 00:00", "2027-03-01 00:00",
	    "2028-02-29 00:00" },
	{ "every 1h", "2026-03-01 12:00", "2026-03-01 11:00",
	    "2026-03-01 13:00" },			/* clock went back */

	/* leap days, impossible dates */
	{ "0 0 29 2 *", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2028-02-29 00:00" },
	{ "0 0 29 2 *", "2028-02-29 00:00", "2028-02-29 00:00",
	    "2032-02-29 00:00" },			/* strictly after last */
	{ "0 0 29 2 *", "2096-03-01 00:00", "2096-03-01 00:00",
	    "2104-02-29 00:00" },			/* 2100 is not leap */
	{ "0 0 29 2 *", "2099-12-31 23:59:59", "2099-12-31 23:59:59",
	    "2104-02-29 00:00" },
	{ "0 0 29 2 *", NEVER, "2028-02-29 00:00:30",
	    "2028-02-29 00:00:30" },			/* this minute counts */
	{ "0 0 1 3 *", "2028-02-29 00:00", "2028-02-29 00:00",
	    "2028-03-01 00:00" },
	{ "0 0 30-31 2 mon", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2027-02-01 00:00" },			/* Mondays of February */
	{ "0 0 29-31 2 *", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2028-02-29 00:00" },
	{ "0 0 31 * *", "2026-04-01 00:00", "2026-04-01 00:00",
	    "2026-05-31 00:00" },

	/* minutes and hours */
	{ "* * * * *", NEVER, "2026-03-01 12:00:30", "2026-03-01 12:00:30" },
	{ "* * * * *", "2026-03-01 12:00:30", "2026-03-01 12:00:40",
	    "2026-03-01 12:01" },
	{ "* * * * *", "2026-03-01 12:00", "2026-03-01 12:00",
	    "2026-03-01 12:01" },
	{ "*/15 * * * *", "2026-03-01 10:07", "2026-03-01 10:07",
	    "2026-03-01 10:15" },
	{ "5/20 * * * *", "2026-03-01 10:26", "2026-03-01 10:26",
	    "2026-03-01 10:45" },
	{ "5/20 * * * *", "2026-03-01 10:46", "2026-03-01 10:46",
	    "2026-03-01 11:05" },
	{ "0 22-23,3 * * *", "2026-03-01 23:30", "2026-03-01 23:30",
	    "2026-03-02 03:00" },
	{ "15 14 1 * *", "2026-03-01 14:15", "2026-03-01 14:15",
	    "2026-04-01 14:15" },
	{ " \t0  0 1 3 *\n", "2026-01-01 00:00", "2026-01-01 00:00",
	    "2026-03-01 00:00" },
	{ "0 * * * *", "2026-03-01 10:00", "2026-03-01 10:30",
	    "2026-03-01 11:00" },
	{ "0 * * * *", "2026-03-01 10:00", "2026-03-01 12:34:56",
	    "2026-03-01 12:34:56" },			/* missed: due now */

	/* year rollover */
	{ "59 23 31 12 *", "2026-12-31 23:59", "2026-12-31 23:59",
	    "2027-12-31 23:59" },
	{ "0 0 1 1 *", "2026-12-31 23:59:59", "2026-12-31 23:59:59",
	    "2027-01-01 00:00" },
	{ "30 * * * *", "2026-12-31 23:45", "2026-12-31 23:45",
	    "2027-01-01 00:30" },
	{ "0 0 * * fri", "2026-12-31 00:00", "2026-12-31 00:00",
	    "2027-01-01 00:00" },
	{ "0 0 1 */3 *", "2026-11-01 00:00", "2026-11-01 00:00",
	    "2027-01-01 00:00" },

	/* weekdays: 2026-03-01 is a Sunday */
	{ "0 12 * * 0", "2026-03-02 00:00", "2026-03-02 00:00",
	    "2026-03-08 12:00" },
	{ "0 12 * * 7", "2026-03-02 00:00", "2026-03-02 00:00",
	    "2026-03-08 12:00" },
	{ "0 12 * * sun", "2026-03-02 00:00", "2026-03-02 00:00",
	    "2026-03-08 12:00" },
	{ "0 12 * * SuN", "2026-03-02 00:00", "2026-03-02 00:00",
	    "2026-03-08 12:00" },
	{ "0 12 * * 5-7", "2026-03-02 00:00", "2026-03-02 00:00",
	    "2026-03-06 12:00" },
	{ "0 12 * * 6-7", "2026-03-07 12:00", "2026-03-07 12:00",
	    "2026-03-08 12:00" },
	{ "0 9 * * mon-fri", "2026-03-06 10:00", "2026-03-06 10:00",
	    "2026-03-09 09:00" },
	{ "0 0 * * fri", "2026-03-07 00:00", "2026-03-07 00:00",
	    "2026-03-13 00:00" },

	/* both day fields restricted: either may match */
	{ "0 0 13 * fri", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-03-06 00:00" },
	{ "0 0 12 * fri", "2026-03-07 00:00", "2026-03-07 00:00",
	    "2026-03-12 00:00" },
	{ "0 0 1 * mon", "2026-03-02 00:00", "2026-03-02 00:00",
	    "2026-03-09 00:00" },
	{ "0 0 1 * mon", "2026-03-30 00:00", "2026-03-30 00:00",
	    "2026-04-01 00:00" },
	{ "0 0 29 2 mon", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2027-02-01 00:00" },			/* a Monday in February */
	{ "0 0 29 2 mon", "2028-02-28 00:00", "2028-02-28 00:00",
	    "2028-02-29 00:00" },			/* a Tuesday, the 29th */
	/*
	 * A day field starting with '*' is unrestricted for this rule, as
	 * in Vixie cron and cronie (DOM_STAR, DOW_STAR): "*" "/2" picks days
	 * that the other field must match too.
	 */
	{ "0 0 */2 * mon", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-03-09 00:00" },			/* odd, a Monday */
	{ "0 0 */2 * 1", "2026-03-09 00:00", "2026-03-09 00:00",
	    "2026-03-23 00:00" },			/* not the 16th */
	{ "0 0 1 * */2", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-08-01 00:00" },			/* a Saturday */
	{ "0 0 29 2 */7", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2032-02-29 00:00" },			/* a Sunday */
	{ "0 0 29 2 */7", "2088-03-01 00:00", "2088-03-01 00:00",
	    "2128-02-29 00:00" },			/* 40 years on */
	/* one restricted: both must match */
	{ "0 0 13 * *", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-03-13 00:00" },
	{ "0 0 */10 * *", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-03-11 00:00" },

	/* months by name and step */
	{ "0 0 1 jan,JUL *", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-07-01 00:00" },
	{ "0 0 1 feb-apr/2 *", "2026-03-01 00:00", "2026-03-01 00:00",
	    "2026-04-01 00:00" },
	{ "0 0 1 Dec *", "2026-12-01 00:00", "2026-12-01 00:00",
	    "2027-12-01 00:00" },

	/* before the epoch: negative seconds */
	{ "0 0 1 1 *", NEVER, "1969-06-01 00:00", "1970-01-01 00:00" },
	{ "30 * * * *", NEVER, "1969-12-31 23:10:30", "1969-12-31 23:30" },
};

struct bad_case {
	const char	*text;
	const char	*why;		/* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ "", "empty schedule" },
	{ " \t ", "empty schedule" },
	{ "61 * * * *", "minute field: value out of range 0-59" },
	{ "* 24 * * *", "hour field: value out of range 0-23" },
	{ "* * 0 * *", "day-of-month field: value out of range 1-31" },
	{ "* * 32 * *", "day-of-month field: value out of range 1-31" },
	{ "* * * 0 *", "month field: value out of range 1-12" },
	{ "* * * 13 *", "month field: value out of range 1-12" },
	{ "* * * * 8", "day-of-week field: value out of range 0-7" },
	{ "99999999999999999999999 * * * *", "minute field: value out of" },
	{ "1-99 * * * *", "minute field: value out of range" },
	{ "* * * *", "expected 5 cron fields" },
	{ "* * * * * *", "expected 5 cron fields" },
	{ "*", "expected 5 cron fields" },
	{ "@daily", "expected 5 cron fields" },
	{ "1,,2 * * * *", "minute field: empty list item" },
	{ "1, * * * *", "minute field: empty list item" },
	{ ",1 * * * *", "minute field: empty list item" },
	{ "* * * * 1,", "day-of-week field: empty list item" },
	{ "*/0 * * * *", "minute field: step out of range 1-60" },
	{ "*/ * * * *", "minute field: step out of range" },
	{ "*/61 * * * *", "minute field: step out of range" },
	{ "* */x * * *", "hour field: step out of range 1-24" },
	{ "5-1 * * * *", "minute field: range start is after its end" },
	{ "* * * * sat-sun", "day-of-week field: range start is after" },
	{ "1-5-7 * * * *", "minute field: unexpected character" },
	{ "5x * * * *", "minute field: unexpected character" },
	{ "*5 * * * *", "minute field: unexpected character" },
	{ "* * * * */2/2", "day-of-week field: unexpected character" },
	{ "abc * * * *", "minute field: expected a number" },
	{ "-1 * * * *", "minute field: expected a number" },
	{ "1- * * * *", "minute field: expected a number" },
	{ "* * * jam *", "month field: expected a number or a name" },
	{ "* * * january *", "month field: expected a number or a name" },
	{ "* * * mon *", "month field: expected a number or a name" },
	{ "* * * * jan", "day-of-week field: expected a number or a name" },
	{ "* * * * monday", "day-of-week field: expected a number" },
	{ "* * mon * *", "day-of-month field: expected a number" },
	/* never fires (schedule_next would say -1 forever) */
	{ "0 0 31 2 *", "never fires" },
	{ "0 0 30 2 *", "never fires" },
	{ "* * 31 2 *", "never fires" },
	{ "0 0 30 feb *", "never fires" },
	{ "0 0 31 4,6,9,11 *", "never fires" },
	{ "0 0 30-31 feb */1", "never fires" },		/* "*" "/1": AND */
	{ "every", "every: expected \"every N{s,m,h,d}\"" },
	{ "everyday", "every: expected" },
	{ "every30m", "every: expected" },
	{ "every m", "every: expected" },
	{ "every -5m", "every: expected" },
	{ "every 0m", "every: interval must be greater than 0" },
	{ "every 30", "every: missing unit" },
	{ "every 30x", "every: unknown unit" },
	{ "every 30m now", "every: unexpected text after the interval" },
	{ "every 30 minutes", "every: unexpected text" },
	{ "every 366d", "every: interval is longer than 365 days" },
	{ "every 31536001s", "every: interval is longer than 365 days" },
	{ "every 99999999999999999999999s", "every: interval is longer" },
};

/* "YYYY-MM-DD HH:MM[:SS]" in UTC to seconds, by glibc rather than us. */
static int64_t
utc(const char *text)
{
	struct tm	 tm;
	int		 n;

	memset(&tm, 0, sizeof(tm));
	n = sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
	if (n < 5)
		fail_msg("bad time in table: \"%s\"", text);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* The table's clock agrees with date(1). */
static void
test_clock(void **state)
{
	(void)state;
	assert_int_equal(utc("2026-03-01 00:00"), 1772323200);
	assert_int_equal(utc("2028-02-29 00:00"), 1835395200);
	assert_int_equal(utc("2104-02-29 00:00"), INT64_C(4233686400));
	assert_int_equal(utc("2027-12-31 23:59"), 1830297540);
	assert_int_equal(utc("1969-12-31 23:30"), -1800);
}

static void
test_next(void **state)
{
	struct schedule	 s;
	const char	*why;
	int64_t		 last, now, want, got;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
		const struct next_case *c = &next_cases[i];

		why = NULL;
		if (schedule_parse(c->text, &s, &why) != 0)
			fail_msg("row %zu: \"%s\" rejected: %s", i, c->text,
			    why);
		last = strcmp(c->last, NEVER) == 0 ? -1 : utc(c->last);
		now = utc(c->now);
		want = strcmp(c->want, NONE) == 0 ? -1 : utc(c->want);
		got = schedule_next(&s, last, now);
		if (got != want)
			fail_msg("row %zu: \"%s\" last %s now %s: got %lld, "
			    "want %lld (%s)", i, c->text, c->last, c->now,
			    (long long)got, (long long)want, c->want);
	}
}

static void
test_bad(void **state)
{
	struct schedule	 s;
	const char	*why;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		why = NULL;
		memset(&s, 0xa5, sizeof(s));
		if (schedule_parse(c->text, &s, &why) != -1)
			fail_msg("row %zu: \"%s\" accepted", i, c->text);
		if (why == NULL || strstr(why, c->why) == NULL)
			fail_msg("row %zu: \"%s\": why \"%s\", want \"%s\"", i,
			    c->text, why ? why : "(null)", c->why);
		assert_int_equal(s.kind, SCHEDULE_NONE);
	}
	/* A NULL why is allowed. */
	assert_int_equal(schedule_parse("61 * * * *", &s, NULL), -1);
	assert_int_equal(schedule_parse(NULL, &s, NULL), -1);
}

/* The bits behind the expressions, checked directly. */
static void
test_bits(void **state)
{
	struct schedule	 s;
	const char	*why = NULL;

	(void)state;
	assert_int_equal(schedule_parse("*/15 0-23/6 1,15 jan-mar */2", &s,
	    &why), 0);
	assert_int_equal(s.kind, SCHEDULE_CRON);
	assert_true(s.minutes == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) |
	    (1ULL << 45)));
	assert_true(s.hours == ((1u << 0) | (1u << 6) | (1u << 12) |
	    (1u << 18)));
	assert_true(s.mdays == ((1u << 1) | (1u << 15)));
	assert_true(s.months == ((1u << 1) | (1u << 2) | (1u << 3)));
	assert_true(s.wdays == ((1u << 0) | (1u << 2) | (1u << 4) |
	    (1u << 6)));
	assert_false(s.mday_any);
	assert_true(s.wday_any);	/* "*" "/2" starts with '*' */

	assert_int_equal(schedule_parse("0 0 * * 7", &s, &why), 0);
	assert_true(s.wdays == 1);
	assert_true(s.mday_any);
	assert_false(s.wday_any);

	assert_int_equal(schedule_parse("* * * * *", &s, &why), 0);
	assert_true(s.minutes == (1ULL << 60) - 1);
	assert_true(s.hours == (1u << 24) - 1);
	assert_true(s.mdays == 0xfffffffeu);
	assert_true(s.months == 0x1ffe);
	assert_true(s.wdays == 0x7f);
	assert_true(s.mday_any);
	assert_true(s.wday_any);

	assert_int_equal(schedule_parse("1/2 * * * 1/2", &s, &why), 0);
	assert_true(s.minutes == 0xaaaaaaaaaaaaaaaULL);
	assert_true(s.wdays == ((1u << 1) | (1u << 3) | (1u << 5) | 1u));

	assert_int_equal(schedule_parse("every 90m", &s, &why), 0);
	assert_int_equal(s.kind, SCHEDULE_EVERY);
	assert_int_equal(s.every, 5400);
	assert_int_equal(schedule_parse("every 365d", &s, &why), 0);
	assert_int_equal(s.every, 365 * 86400);
	assert_int_equal(schedule_parse("every 1S", &s, &why), 0);
	assert_int_equal(s.every, 1);
}

/* Structs the parser never makes, and times beyond the calendar. */
static void
test_odd(void **state)
{
	struct schedule	 s;
	int64_t		 now = 1772323200;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(s.kind, SCHEDULE_NONE);
	assert_int_equal(schedule_next(&s, -1, now), -1);
	assert_int_equal(schedule_next(&s, now - 60, now), -1);
	assert_int_equal(schedule_next(NULL, -1, now), -1);

	s.kind = SCHEDULE_EVERY;
	s.every = 0;
	assert_int_equal(schedule_next(&s, now, now), -1);

	s.kind = SCHEDULE_CRON;			/* no minutes at all */
	assert_int_equal(schedule_next(&s, now, now), -1);

	assert_int_equal(schedule_parse("* * * * *", &s, NULL), 0);
	assert_int_equal(schedule_next(&s, -1, INT64_MAX), -1);
	assert_int_equal(schedule_next(&s, -1, INT64_MIN), -1);
	assert_int_equal(schedule_next(&s, INT64_MAX, now), -1);
	assert_int_equal(schedule_next(&s, INT64_MIN, now), now);
	assert_int_equal(schedule_parse("every 1d", &s, NULL), 0);
	assert_int_equal(schedule_next(&s, INT64_MAX, now), -1);
	assert_int_equal(schedule_next(&s, INT64_MIN, now), now);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_bits),
		cmocka_unit_test(test_odd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
