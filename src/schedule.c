/*
 * schedule.c: parse "every N{s,m,h,d}" and 5-field cron expressions, and
 * work out when a job is due next.  Everything is arithmetic on seconds
 * since the epoch in UTC: calendar dates come from day counts (Howard
 * Hinnant's days-from-civil algorithms), never from localtime() or mktime(),
 * so neither the clock nor TZ can change an answer and tests can pin any
 * instant they like.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "civil.h"
#include "schedule.h"

/* Longest interval "every" accepts; anything longer is surely a typo. */
#define EVERY_MAX	(365 * 86400)

/*
 * How many days schedule_next looks ahead.  The sparsest cron expression
 * that can match at all is a leap day that must also be one weekday
 * ("0 0 29 2 *" "/7": a day field starting with '*' makes both day fields
 * count), and those can be forty years apart (2088 to 2128, as 2100 is not
 * a leap year); 41 years of days covers that.  The search skips the months
 * the expression excludes, so even that costs about a thousand steps.
 */
#define SEARCH_DAYS	(41 * 366)

/*
 * Instants from year 1 to year 9999.  Outside these the answer means
 * nothing, and keeping inside them keeps every sum below far from
 * overflowing.
 */
#define TIME_MIN	INT64_C(-62135596800)
#define TIME_MAX	INT64_C(253402300799)

#define ALL_MINUTES	((UINT64_C(1) << 60) - 1)
#define ALL_HOURS	((UINT32_C(1) << 24) - 1)

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

/*
 * One cron field.  The messages are spelled out per field so that *why can
 * stay a static string and still say which field is wrong.
 */
struct cron_field {
	int			 lo;		/* smallest value */
	int			 hi;		/* largest value */
	int			 maxstep;	/* count of distinct values */
	const char *const	*names;		/* names for lo, lo + 1, ... */
	const char		*e_empty;	/* "1,,2" */
	const char		*e_range;	/* value outside lo-hi */
	const char		*e_value;	/* neither number nor name */
	const char		*e_step;	/* "/0", "/" */
	const char		*e_backwards;	/* "5-1" */
	const char		*e_junk;	/* "5x", "1-2-3" */
};

#define FIELD_ERRORS(f, range, steps, value)				\
	f " field: empty list item",					\
	f " field: value out of range " range,				\
	f " field: expected " value,					\
	f " field: step out of range " steps,				\
	f " field: range start is after its end",			\
	f " field: unexpected character"

static const struct cron_field cron_fields[5] = {
	{ 0, 59, 60, NULL,
	    FIELD_ERRORS("minute", "0-59", "1-60", "a number") },
	{ 0, 23, 24, NULL,
	    FIELD_ERRORS("hour", "0-23", "1-24", "a number") },
	{ 1, 31, 31, NULL,
	    FIELD_ERRORS("day-of-month", "1-31", "1-31", "a number") },
	{ 1, 12, 12, month_names,
	    FIELD_ERRORS("month", "1-12", "1-12",
	    "a number or a name jan-dec") },
	{ 0, 7, 7, day_names,
	    FIELD_ERRORS("day-of-week", "0-7", "1-7",
	    "a number or a name sun-sat") },
};

/* Our own ASCII classes: <ctype.h> answers depend on the locale. */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
is_alpha(char c)
{
	c = to_lower(c);
	return c >= 'a' && c <= 'z';
}

/* Does [p, p + n) equal word (lower case) ignoring case? */
static bool
word_eq(const char *p, size_t n, const char *word)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (word[i] == '\0' || to_lower(p[i]) != word[i])
			return false;
	return word[n] == '\0';
}

/*
 * Read a run of digits at *pp into *v, saturating at a value no field or
 * interval accepts, so that a hundred digits read as "too big" instead of
 * wrapping around into something valid.
 */
static bool
read_number(const char **pp, const char *end, int64_t *v)
{
	const char	*p = *pp;
	int64_t		 n = 0;

	if (p == end || !is_digit(*p))
		return false;
	for (; p < end && is_digit(*p); p++) {
		if (n <= INT64_C(1000000000000))
			n = n * 10 + (*p - '0');
	}
	*pp = p;
	*v = n;
	return true;
}

/* One value of field f, a number or a name, at *pp. */
static int
cron_value(const struct cron_field *f, const char **pp, const char *end,
    int *v, const char **why)
{
	const char	*p = *pp, *q;
	int64_t		 n;
	int		 i;

	if (read_number(&p, end, &n)) {
		if (n < f->lo || n > f->hi) {
			*why = f->e_range;
			return -1;
		}
		*v = (int)n;
		*pp = p;
		return 0;
	}
	if (f->names == NULL || p == end || !is_alpha(*p)) {
		*why = f->e_value;
		return -1;
	}
	for (q = p; q < end && is_alpha(*q); q++)
		;
	for (i = 0; f->names[i] != NULL; i++) {
		if (word_eq(p, (size_t)(q - p), f->names[i])) {
			*v = f->lo + i;
			*pp = q;
			return 0;
		}
	}
	*why = f->e_value;
	return -1;
}

/*
 * One list item of field f at *pp: "*", "a", "a-b", each optionally
 * followed by "/step"; "a/step" runs from a to the field's maximum, as in
 * Vixie cron.  Sets the item's bits in *bits.
 */
static int
cron_item(const struct cron_field *f, const char **pp, const char *end,
    uint64_t *bits, const char **why)
{
	const char	*p = *pp;
	int		 a, b, v;
	int64_t		 step = 1;

	if (p < end && *p == '*') {
		a = f->lo;
		b = f->hi;
		p++;
	} else {
		if (cron_value(f, &p, end, &a, why) == -1)
			return -1;
		b = a;
		if (p < end && *p == '-') {
			p++;
			if (cron_value(f, &p, end, &b, why) == -1)
				return -1;
			if (b < a) {
				*why = f->e_backwards;
				return -1;
			}
		} else if (p < end && *p == '/')
			b = f->hi;
	}
	if (p < end && *p == '/') {
		p++;
		if (!read_number(&p, end, &step) || step < 1 ||
		    step > f->maxstep) {
			*why = f->e_step;
			return -1;
		}
	}
	for (v = a; v <= b; v += (int)step)
		*bits |= UINT64_C(1) << v;
	*pp = p;
	return 0;
}

/* The comma-separated list [p, end) of field f, as a bit set in *bits. */
static int
cron_list(const struct cron_field *f, const char *p, const char *end,
    uint64_t *bits, const char **why)
{
	*bits = 0;
	for (;;) {
		if (p == end || *p == ',') {
			*why = f->e_empty;
			return -1;
		}
		if (cron_item(f, &p, end, bits, why) == -1)
			return -1;
		if (p == end)
			return 0;
		if (*p != ',') {
			*why = f->e_junk;
			return -1;
		}
		p++;
	}
}

/*
 * Can s's day and month fields ever meet?  Two restricted day fields are
 * alternatives, and every month has every weekday; otherwise some month
 * of s must have one of s's days of the month (February counting its leap
 * day), whatever the weekday: a date falls on each weekday in some year.
 */
static bool
cron_can_fire(const struct schedule *s)
{
	uint32_t	 days_of_month;
	int		 m, n;

	if (!s->mday_any && !s->wday_any)
		return true;
	for (m = 1; m <= 12; m++) {
		if (!(s->months & (1u << m)))
			continue;
		n = civil_days_in_month(2000, m);	/* a leap year */
		days_of_month = (uint32_t)(((UINT64_C(1) << (n + 1)) - 1) &
		    ~UINT64_C(1));
		if (s->mdays & days_of_month)
			return true;
	}
	return false;
}

/* The five whitespace-separated cron fields in text. */
static int
parse_cron(const char *text, struct schedule *s, const char **why)
{
	const char	*start[5], *end[5], *p = text;
	uint64_t	 bits[5];
	size_t		 n = 0, i;

	for (;;) {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (n == 5) {
			n++;
			break;
		}
		start[n] = p;
		while (*p != '\0' && !is_space(*p))
			p++;
		end[n++] = p;
	}
	if (n != 5) {
		*why = "expected 5 cron fields (minute hour day-of-month "
		    "month day-of-week) or \"every N{s,m,h,d}\"";
		return -1;
	}
	for (i = 0; i < 5; i++)
		if (cron_list(&cron_fields[i], start[i], end[i], &bits[i],
		    why) == -1)
			return -1;

	/* 7 is another name for Sunday; keep one bit per weekday. */
	if (bits[4] & (UINT64_C(1) << 7))
		bits[4] |= 1;
	bits[4] &= 0x7f;

	s->kind = SCHEDULE_CRON;
	s->minutes = bits[0];
	s->hours = (uint32_t)bits[1];
	s->mdays = (uint32_t)bits[2];
	s->months = (uint16_t)bits[3];
	s->wdays = (uint8_t)bits[4];
	/*
	 * Vixie cron (DOM_STAR, DOW_STAR) and cronie look at the first
	 * character only: "*" "/2" counts as unrestricted for the rule that
	 * joins the two day fields, while its bits still pick the days.
	 */
	s->mday_any = *start[2] == '*';
	s->wday_any = *start[4] == '*';
	/* Found by check, not by a status that says "-" forever. */
	if (!cron_can_fire(s)) {
		*why = "never fires: none of the months in the month field "
		    "has any of the days in the day-of-month field (as 30 or "
		    "31 February)";
		return -1;
	}
	return 0;
}

/* "every N{s,m,h,d}"; p points just past the word "every". */
static int
parse_every(const char *p, struct schedule *s, const char **why)
{
	const char	*end;
	int64_t		 n, unit;

	if (!is_space(*p)) {
		*why = "every: expected \"every N{s,m,h,d}\", e.g. "
		    "\"every 30m\"";
		return -1;
	}
	while (is_space(*p))
		p++;
	for (end = p; *end != '\0'; end++)
		;
	if (!read_number(&p, end, &n)) {
		*why = "every: expected \"every N{s,m,h,d}\", e.g. "
		    "\"every 30m\"";
		return -1;
	}
	if (n == 0) {
		*why = "every: interval must be greater than 0";
		return -1;
	}
	while (is_space(*p))
		p++;
	switch (to_lower(*p)) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case '\0':
		*why = "every: missing unit, expected s, m, h or d";
		return -1;
	default:
		*why = "every: unknown unit, expected s, m, h or d";
		return -1;
	}
	p++;
	while (is_space(*p))
		p++;
	if (*p != '\0') {
		*why = "every: unexpected text after the interval";
		return -1;
	}
	/* n is saturated by read_number, so this cannot overflow. */
	if (n > EVERY_MAX / unit) {
		*why = "every: interval is longer than 365 days";
		return -1;
	}
	s->kind = SCHEDULE_EVERY;
	s->every = n * unit;
	return 0;
}

/*
 * Parse text into *s.  On failure *s is left as SCHEDULE_NONE and *why
 * (when why is not NULL) points to a static message naming the problem.
 * An empty or blank text is an error: a job without a schedule simply
 * keeps its zeroed SCHEDULE_NONE and never calls this.
 */
int
schedule_parse(const char *text, struct schedule *s, const char **why)
{
	static const struct schedule none;
	const char	*dummy, *p;
	int		 rc;

	if (why == NULL)
		why = &dummy;
	*s = none;
	if (text == NULL) {
		*why = "empty schedule";
		return -1;
	}
	for (p = text; is_space(*p); p++)
		;
	if (*p == '\0') {
		*why = "empty schedule";
		return -1;
	}
	if (word_eq(p, 5, "every"))
		rc = parse_every(p + 5, s, why);
	else
		rc = parse_cron(p, s, why);
	if (rc == -1)
		*s = none;
	return rc;
}

/* Does day d of the month, a weekday wd (0 = Sunday), match s? */
static bool
cron_day_matches(const struct schedule *s, int d, int wd)
{
	bool	 mday_ok, wday_ok;

	mday_ok = (s->mdays & (UINT32_C(1) << d)) != 0;
	wday_ok = (s->wdays & (1u << wd)) != 0;
	/* Cron's odd rule: two restricted day fields are alternatives. */
	if (!s->mday_any && !s->wday_any)
		return mday_ok || wday_ok;
	return mday_ok && wday_ok;
}

/*
 * The first minute of the day at or after minute-of-day from that matches
 * s's hours and minutes, or -1.
 */
static int
cron_time(const struct schedule *s, int from)
{
	int	 h, mi;

	for (h = from / 60; h < 24; h++) {
		if (!(s->hours & (UINT32_C(1) << h)))
			continue;
		for (mi = h == from / 60 ? from % 60 : 0; mi < 60; mi++)
			if (s->minutes & (UINT64_C(1) << mi))
				return h * 60 + mi;
	}
	return -1;
}

/*
 * The first minute strictly after instant after that matches s.  Walks day
 * by day, jumping whole months that s excludes, and looks at the hours and
 * minutes only of days that match; gives up after SEARCH_DAYS.
 */
static bool
cron_search(const struct schedule *s, int64_t after, int64_t *next)
{
	int64_t	 t, day, last_day, y;
	int	 mod, m, d, found;

	if ((s->minutes & ALL_MINUTES) == 0 || (s->hours & ALL_HOURS) == 0 ||
	    (s->months & 0x1ffe) == 0)
		return false;

	t = (civil_floor_div(after, 60) + 1) * 60;
	day = civil_floor_div(t, 86400);
	mod = (int)((t - day * 86400) / 60);
	last_day = day + SEARCH_DAYS;
	while (day <= last_day) {
		civil_date_from_days(day, &y, &m, &d);
		if (!(s->months & (1u << m))) {
			day += civil_days_in_month(y, m) - d + 1;
			mod = 0;
			continue;
		}
		if (cron_day_matches(s, d, civil_weekday(day)) &&
		    (found = cron_time(s, mod)) != -1) {
			*next = day * 86400 + found * 60;
			return true;
		}
		day++;
		mod = 0;
	}
	return false;
}

/*
 * When the job described by s is due next, given the start of its last
 * run (negative for never) and the current time, both in seconds since the
 * epoch.  The answer is never before now: a run that was missed while we
 * were down is due now, once, not once per missed slot.  Returns -1 for
 * SCHEDULE_NONE, for a cron expression that matches nothing within 41
 * years (e.g. February 31st), or for times outside years 1-9999.
 */
int64_t
schedule_next(const struct schedule *s, int64_t last, int64_t now)
{
	int64_t	 next;

	if (s == NULL || now < TIME_MIN || now > TIME_MAX || last > TIME_MAX)
		return -1;
	switch (s->kind) {
	case SCHEDULE_EVERY:
		if (s->every <= 0 || s->every > TIME_MAX)
			return -1;
		if (last < 0)
			return now;
		next = last + s->every;
		break;
	case SCHEDULE_CRON:
		/* Never run: the current minute still counts. */
		if (!cron_search(s, last < 0 ? now - 60 : last, &next))
			return -1;
		break;
	default:
		return -1;
	}
	return next < now ? now : next;
}
