/*
 * test_runner.c: when a job is next due: its schedule after its newest
 * run, the back-off of a failing job, cron fields in TZ's wall clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "job.h"
#include "runner.h"
#include "schedule.h"
#include "state.h"
#include "tz.h"

#define NOW	1795651200	/* 2026-11-26T00:00:00Z */

struct due_row {
	const char	*what;
	const char	*schedule;	/* NULL: none */
	bool		 ran;
	int64_t		 started, finished, failures;
	const char	*status;	/* of the newest run */
	int64_t		 want;
};

static const struct due_row rows[] = {
	{ "no schedule", NULL, false, 0, 0, 0, NULL, -1 },
	{ "never ran: due now", "every 6h", false, 0, 0, 0, NULL, NOW },
	{ "ran an hour ago", "every 6h", true, NOW - 3600, NOW - 3500, 0, "ok",
	  NOW - 3600 + 6 * 3600 },
	{ "overdue", "every 1h", true, NOW - 7200, NOW - 7100, 0, "ok", NOW },
	{ "failed once: 1 minute back-off", "every 10s", true, NOW - 20,
	  NOW - 10, 1, "failed", NOW - 10 + 60 },
	{ "failed 3 times: 4 minutes", "every 10s", true, NOW - 20, NOW - 10,
	  3, "failed", NOW - 10 + 240 },
	{ "failing for long: 6 hours at most", "every 10s", true, NOW - 20,
	  NOW - 10, 30, "failed", NOW - 10 + 6 * 3600 },
	{ "back-off shorter than the schedule", "every 1d", true,
	  NOW - 3600, NOW - 3500, 1, "failed", NOW - 3600 + 86400 },
	/* published, a file left out: the schedule, no back-off */
	{ "partial runs: no back-off", "every 10s", true, NOW - 20, NOW - 10,
	  3, "partial", NOW },
	{ "cron in UTC", "0 3 * * *", true, NOW - 60, NOW - 50, 0, "ok",
	  NOW + 3 * 3600 },
};

static void
test_next_due(void **state)
{
	struct job job;
	struct job_summary js;
	const char *why;
	size_t i;
	int64_t got;

	(void)state;
	assert_int_equal(tz_use("UTC"), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&job, 0, sizeof(job));
		memset(&js, 0, sizeof(js));
		if (rows[i].schedule != NULL)
			assert_int_equal(schedule_parse(rows[i].schedule,
			    &job.schedule, &why), 0);
		js.started = rows[i].started;
		js.finished = rows[i].finished;
		js.failures = rows[i].failures;
		js.failed = rows[i].status != NULL &&
		    strcmp(rows[i].status, "failed") == 0;
		got = runner_next_due(&job, rows[i].ran ? &js : NULL, NOW);
		if (got != rows[i].want)
			fail_msg("%s: got %lld, want %lld", rows[i].what,
			    (long long)got, (long long)rows[i].want);
	}
}

/* "0 3 * * *" under TZ=Europe/Berlin is 03:00 CET, 02:00 UTC. */
static void
test_cron_in_tz(void **state)
{
	struct job job;
	const char *why;

	(void)state;
	memset(&job, 0, sizeof(job));
	assert_int_equal(schedule_parse("0 3 * * *", &job.schedule, &why), 0);
	assert_int_equal(tz_use("Europe/Berlin"), 0);
	assert_int_equal(runner_next_due(&job, NULL, NOW), NOW + 2 * 3600);
	assert_int_equal(tz_use("UTC"), 0);
	assert_int_equal(runner_next_due(&job, NULL, NOW), NOW + 3 * 3600);
}

/* Since when a job has been due: the smaller, the more overdue. */
static void
test_due_since(void **state)
{
	struct job job;
	struct job_summary js;

	(void)state;
	assert_int_equal(tz_use("UTC"), 0);
	memset(&job, 0, sizeof(job));
	memset(&js, 0, sizeof(js));
	assert_int_equal(runner_due_since(&job, NULL, NOW), RUNNER_NOT_DUE);
	assert_int_equal(schedule_parse("every 1h", &job.schedule, NULL), 0);
	assert_true(runner_due_since(&job, NULL, NOW) == INT64_MIN);
	js.started = NOW - 7200;
	js.finished = NOW - 7100;
	assert_int_equal(runner_due_since(&job, &js, NOW), NOW - 3600);
	js.started = NOW - 60;
	assert_int_equal(runner_due_since(&job, &js, NOW), RUNNER_NOT_DUE);
	/* Failing: due when its back-off ends, not when the schedule says. */
	assert_int_equal(schedule_parse("every 10s", &job.schedule, NULL), 0);
	js.started = NOW - 300;
	js.finished = NOW - 290;
	js.failures = 2;
	js.failed = true;
	assert_int_equal(runner_due_since(&job, &js, NOW), NOW - 290 + 120);
	/* Cron: the minute that matched after the last run. */
	assert_int_equal(schedule_parse("30 23 * * *", &job.schedule, NULL),
	    0);
	js.started = NOW - 86400;
	js.finished = NOW - 86000;
	js.failures = 0;
	assert_int_equal(runner_due_since(&job, &js, NOW), NOW - 1800);
}

/*
 * One job at a time, three jobs "every 1s" whose runs take a second: each
 * gets its turn.  Starting the first due job in directory order ran only
 * one of them, over and over.
 */
static void
test_most_overdue_takes_turns(void **state)
{
	struct job job;
	struct job_summary js[3];
	bool ran[3] = { false, false, false };
	int64_t since[3], now = NOW;
	int runs[3] = { 0, 0, 0 };
	size_t i, pick, tick;

	(void)state;
	assert_int_equal(tz_use("UTC"), 0);
	memset(&job, 0, sizeof(job));
	memset(js, 0, sizeof(js));
	assert_int_equal(schedule_parse("every 1s", &job.schedule, NULL), 0);
	for (tick = 0; tick < 15; tick++) {
		for (i = 0; i < 3; i++)
			since[i] = runner_due_since(&job, ran[i] ? &js[i] :
			    NULL, now);
		pick = runner_most_overdue(since, 3);
		assert_true(pick < 3);
		ran[pick] = true;
		js[pick].started = now;
		js[pick].finished = now + 1;
		runs[pick]++;
		now += 2;
	}
	for (i = 0; i < 3; i++)
		if (runs[i] != 5)
			fail_msg("job %zu ran %d times of 15", i, runs[i]);

	/* Nothing due: none; equals: the first. */
	since[0] = since[1] = since[2] = RUNNER_NOT_DUE;
	assert_int_equal(runner_most_overdue(since, 3), 3);
	assert_int_equal(runner_most_overdue(since, 0), 0);
	since[1] = since[2] = NOW;
	assert_int_equal(runner_most_overdue(since, 3), 1);
	since[2] = INT64_MIN;
	assert_int_equal(runner_most_overdue(since, 3), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_due),
		cmocka_unit_test(test_cron_in_tz),
		cmocka_unit_test(test_due_since),
		cmocka_unit_test(test_most_overdue_takes_turns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
