/*
 * test_plan.c: the per-entry diff, as a table of {remote, local, staged,
 * expected decision} rows, and the mtime precision rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "civil.h"
#include "listing.h"
#include "plan.h"

#define T0	1659353540	/* 2022-08-01T11:32:20Z */

struct plan_case {
	const char		*what;
	struct plan_remote	 remote;
	struct plan_local	 local;
	struct plan_staged	 staged;
	enum scan_state		 state;
	enum scan_action	 action;
};

static const struct plan_case cases[] = {
	{ "new file",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 0, 0, 0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_ADD },
	{ "unchanged file",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 'f', 10, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_UNCHANGED, SCAN_ACTION_NONE },
	{ "same size, other mtime",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 'f', 10, T0 - 1, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "resized, same mtime",
	  { 'f', 11, T0, MTIME_SECOND, NULL }, { 'f', 10, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "staged complete, same version",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 'f', 9, T0, NULL },
	  { true, true, 10, T0 }, SCAN_FILE_STAGED, SCAN_ACTION_CHANGE },
	{ "staged complete, new file",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 0, 0, 0, NULL },
	  { true, true, 10, T0 }, SCAN_FILE_STAGED, SCAN_ACTION_ADD },
	{ "staged partial is fetched (resumed)",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 0, 0, 0, NULL },
	  { true, false, 10, T0 }, SCAN_FILE_FETCH, SCAN_ACTION_ADD },
	{ "staged complete but an older version",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 0, 0, 0, NULL },
	  { true, true, 10, T0 - 60 }, SCAN_FILE_FETCH, SCAN_ACTION_ADD },
	{ "staged complete, other size",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 0, 0, 0, NULL },
	  { true, true, 12, T0 }, SCAN_FILE_FETCH, SCAN_ACTION_ADD },
	{ "unknown remote size: mtime decides",
	  { 'f', -1, T0, MTIME_SECOND, NULL }, { 'f', 99, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_UNCHANGED, SCAN_ACTION_NONE },
	{ "LIST minute: local second inside it",
	  { 'f', 10, T0 - 20, MTIME_MINUTE, NULL }, { 'f', 10, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_UNCHANGED, SCAN_ACTION_NONE },
	{ "LIST minute: local second outside it",
	  { 'f', 10, T0 - 20, MTIME_MINUTE, NULL },
	  { 'f', 10, T0 + 40, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "LIST day: local inside the day",
	  { 'f', 10, 1659312000, MTIME_DAY, NULL }, { 'f', 10, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_UNCHANGED, SCAN_ACTION_NONE },
	{ "LIST day: local the day before",
	  { 'f', 10, 1659312000, MTIME_DAY, NULL },
	  { 'f', 10, 1659311999, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "no time: size alone",
	  { 'f', 10, 0, MTIME_NONE, NULL }, { 'f', 10, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_UNCHANGED, SCAN_ACTION_NONE },
	{ "file where a directory is",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 'd', 4096, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "file where a link is",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 'l', 10, T0, "x" },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "file where a device is",
	  { 'f', 10, T0, MTIME_SECOND, NULL }, { 'o', 0, T0, NULL },
	  { false, false, 0, 0 }, SCAN_FILE_FETCH, SCAN_ACTION_CHANGE },
	{ "new directory",
	  { 'd', -1, T0, MTIME_SECOND, NULL }, { 0, 0, 0, NULL },
	  { false, false, 0, 0 }, SCAN_DIR_PENDING, SCAN_ACTION_ADD },
	{ "existing directory",
	  { 'd', -1, T0, MTIME_SECOND, NULL }, { 'd', 4096, 1, NULL },
	  { false, false, 0, 0 }, SCAN_DIR_PENDING, SCAN_ACTION_NONE },
	{ "directory where a file is",
	  { 'd', -1, T0, MTIME_SECOND, NULL }, { 'f', 3, T0, NULL },
	  { false, false, 0, 0 }, SCAN_DIR_PENDING, SCAN_ACTION_CHANGE },
	{ "new link",
	  { 'l', -1, T0, MTIME_SECOND, "a" }, { 0, 0, 0, NULL },
	  { false, false, 0, 0 }, SCAN_LINK, SCAN_ACTION_ADD },
	{ "same link",
	  { 'l', -1, T0, MTIME_SECOND, "a" }, { 'l', 1, 5, "a" },
	  { false, false, 0, 0 }, SCAN_LINK_UNCHANGED, SCAN_ACTION_NONE },
	{ "link retargeted",
	  { 'l', -1, T0, MTIME_SECOND, "b" }, { 'l', 1, 5, "a" },
	  { false, false, 0, 0 }, SCAN_LINK, SCAN_ACTION_CHANGE },
	{ "link where a directory is",
	  { 'l', -1, T0, MTIME_SECOND, "b" }, { 'd', 1, 5, NULL },
	  { false, false, 0, 0 }, SCAN_LINK, SCAN_ACTION_CHANGE },
};

static void
test_plan_table(void **unused)
{
	size_t i;
	struct plan_decision d;

	(void)unused;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = plan_entry(&cases[i].remote, &cases[i].local,
		    &cases[i].staged, NULL);
		if (d.state != cases[i].state || d.action != cases[i].action)
			fail_msg("%s: got state %d action %d, want %d %d",
			    cases[i].what, d.state, d.action, cases[i].state,
			    cases[i].action);
	}
}

/* LIST times (minute or day) against what the database confirmed. */
struct known_case {
	const char		*what;
	struct plan_remote	 remote;
	struct plan_local	 local;
	struct plan_known	 known;
	enum scan_state		 state;
	bool			 exact;
};

#define M0	1659353520	/* 2022-08-01T11:32:00Z, a listed minute */
#define D0	1659312000	/* 2022-08-01T00:00:00Z, a listed day */

static const struct known_case known_cases[] = {
	{ "confirmed long after the minute: unchanged, exact",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 20, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 3600, false },
	  SCAN_FILE_UNCHANGED, true },
	{ "confirmed inside the minute: a rewrite could hide, check",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 20, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 30, false },
	  SCAN_FILE_CHECK, false },
	{ "confirmed just after the minute, inside the clock skew: check",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 20, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 60 + PLAN_CLOCK_SKEW - 1,
	    false },
	  SCAN_FILE_CHECK, false },
	{ "confirmed right after minute and skew: unchanged",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 20, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 60 + PLAN_CLOCK_SKEW,
	    false },
	  SCAN_FILE_UNCHANGED, true },
	{ "nothing known (adopted tree): check",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 20, NULL },
	  { false, 0, 0, 0, -1, false }, SCAN_FILE_CHECK, false },
	{ "known mtime only to the minute: check",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0, NULL },
	  { true, 10, M0, MTIME_MINUTE, M0 + 3600, false }, SCAN_FILE_CHECK,
	  false },
	{ "local touched since (mtime differs from known): check",
	  { 'f', 10, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 21, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 3600, false },
	  SCAN_FILE_CHECK, false },
	{ "listed minute moved on: fetch, no check",
	  { 'f', 10, M0 + 60, MTIME_MINUTE, NULL },
	  { 'f', 10, M0 + 20, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 3600, false },
	  SCAN_FILE_FETCH, false },
	{ "size changed: fetch, no check",
	  { 'f', 11, M0, MTIME_MINUTE, NULL }, { 'f', 10, M0 + 20, NULL },
	  { true, 10, M0 + 20, MTIME_SECOND, M0 + 3600, false },
	  SCAN_FILE_FETCH, false },
	{ "day precision confirmed the next day: unchanged",
	  { 'f', 10, D0, MTIME_DAY, NULL }, { 'f', 10, D0 + 5000, NULL },
	  { true, 10, D0 + 5000, MTIME_SECOND, D0 + 90000, false },
	  SCAN_FILE_UNCHANGED, true },
	{ "day precision confirmed the same day: check",
	  { 'f', 10, D0, MTIME_DAY, NULL }, { 'f', 10, D0 + 5000, NULL },
	  { true, 10, D0 + 5000, MTIME_SECOND, D0 + 6000, false },
	  SCAN_FILE_CHECK, false },
	{ "confirmed long ago, but its turn for a recheck: check",
	  { 'f', 10, D0, MTIME_DAY, NULL }, { 'f', 10, D0 + 5000, NULL },
	  { true, 10, D0 + 5000, MTIME_SECOND, D0 + 90000, true },
	  SCAN_FILE_CHECK, false },
	{ "exact listed time never needs a check",
	  { 'f', 10, M0 + 20, MTIME_SECOND, NULL }, { 'f', 10, M0 + 20, NULL },
	  { false, 0, 0, 0, -1, false }, SCAN_FILE_UNCHANGED, false },
};

static void
test_plan_known(void **unused)
{
	static const struct plan_staged none = { false, false, 0, 0 };
	struct plan_decision d;
	size_t i;

	(void)unused;
	for (i = 0; i < sizeof(known_cases) / sizeof(known_cases[0]); i++) {
		d = plan_entry(&known_cases[i].remote, &known_cases[i].local,
		    &none, &known_cases[i].known);
		if (d.state != known_cases[i].state ||
		    d.exact != known_cases[i].exact)
			fail_msg("%s: got state %d exact %d, want %d %d",
			    known_cases[i].what, d.state, d.exact,
			    known_cases[i].state, known_cases[i].exact);
	}
}

static void
test_mtime_precision(void **unused)
{
	(void)unused;
	assert_true(plan_mtime_matches(T0, T0, MTIME_SECOND));
	assert_false(plan_mtime_matches(T0 + 1, T0, MTIME_SECOND));
	assert_true(plan_mtime_matches(T0 + 59, T0, MTIME_MINUTE));
	assert_false(plan_mtime_matches(T0 + 60, T0, MTIME_MINUTE));
	assert_false(plan_mtime_matches(T0 - 1, T0, MTIME_MINUTE));
	assert_true(plan_mtime_matches(T0 + 86399, T0, MTIME_DAY));
	assert_false(plan_mtime_matches(T0 + 86400, T0, MTIME_DAY));
	assert_true(plan_mtime_matches(0, T0, MTIME_NONE));
}

/* A LIST time whose year was guessed: target's file tells the year. */
static void
test_listed_year(void **unused)
{
	/* 2025-12-27 04:10 UTC, guessed; the file is from 2026 */
	int64_t	guessed = civil_to_time(2025, 12, 27, 4, 10, 0);
	int64_t	next = civil_to_time(2026, 12, 27, 4, 10, 0);
	int64_t	prev = civil_to_time(2024, 12, 27, 4, 10, 0);
	int64_t	leap = civil_to_time(2024, 2, 29, 12, 0, 0);

	(void)unused;
	assert_int_equal(plan_listed_year(guessed, next + 13), next);
	assert_int_equal(plan_listed_year(guessed, prev + 59), prev);
	/* the guess's own minute, another minute, two years off: kept */
	assert_int_equal(plan_listed_year(guessed, guessed + 5), guessed);
	assert_int_equal(plan_listed_year(guessed, next + 60), guessed);
	assert_int_equal(plan_listed_year(guessed, next - 1), guessed);
	assert_int_equal(plan_listed_year(guessed,
	    civil_to_time(2027, 12, 27, 4, 10, 0)), guessed);
	/* Feb 29 has no neighbour a year away */
	assert_int_equal(plan_listed_year(leap, leap + 365 * 86400), leap);
	/* before 1970 too */
	assert_int_equal(plan_listed_year(civil_to_time(1968, 3, 1, 0, 0, 0),
	    civil_to_time(1969, 3, 1, 0, 0, 30)),
	    civil_to_time(1969, 3, 1, 0, 0, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_plan_known),
		cmocka_unit_test(test_mtime_precision),
		cmocka_unit_test(test_listed_year),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
