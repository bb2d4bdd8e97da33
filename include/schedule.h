/*
 * schedule.h: when a job runs next.  "every 30m" / "every 6h" / "every 1d"
 * or a 5-field cron expression.  Pure arithmetic: callers pass the time in;
 * nothing here reads the clock.
 */
#ifndef FTPMIRROR_SCHEDULE_H
#define FTPMIRROR_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

enum schedule_kind {
	SCHEDULE_NONE,		/* no schedule: only run by hand */
	SCHEDULE_EVERY,		/* a fixed interval after the last run */
	SCHEDULE_CRON		/* 5-field cron expression */
};

struct schedule {
	enum schedule_kind kind;
	int64_t		 every;		/* seconds, SCHEDULE_EVERY */
	uint64_t	 minutes;	/* bit n: minute n (0-59) */
	uint32_t	 hours;		/* bit n: hour n (0-23) */
	uint32_t	 mdays;		/* bit n: day of month n (1-31) */
	uint16_t	 months;	/* bit n: month n (1-12) */
	uint8_t		 wdays;		/* bit n: weekday n (0 = Sunday) */
	bool		 mday_any;	/* day-of-month field starts with '*' */
	bool		 wday_any;	/* day-of-week field starts with '*' */
};

/*
 * Parse text into *s.  Accepts "every N{s,m,h,d}" (N > 0) and cron's five
 * fields (minute hour day-of-month month day-of-week) with "*", ranges
 * "a-b", steps "*" "/n" and "a-b/n", lists "a,b", month names jan-dec and
 * day names sun-sat (any case), 7 for Sunday.  A cron expression that can
 * never fire (30 February) is an error.  Returns 0, or -1 with *why set to
 * a static message saying what is wrong.
 */
int schedule_parse(const char *text, struct schedule *s, const char **why);

/*
 * The next time (seconds since the epoch, UTC) the job is due, strictly
 * after last (the start of the last run, or -1 for never run) and not
 * before now.  For SCHEDULE_EVERY: last + every, or now when never run or
 * overdue.  For SCHEDULE_CRON: the first matching minute after last (or
 * after now - 60 when never run), evaluated in UTC.  The day fields
 * follow Vixie cron: when both are restricted a day matching either is due,
 * and when either starts with '*' ("*", "*" "/2") a day must match both.
 * Returns -1 for SCHEDULE_NONE.
 */
int64_t schedule_next(const struct schedule *s, int64_t last, int64_t now);

#endif
