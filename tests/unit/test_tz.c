/*
 * test_tz.c: LIST wall-clock times to UTC in the job's zone, DST included
 * (expected values from `TZ=... date -d ... +%s`).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tz.h"

struct tz_row {
	const char	*zone;
	int64_t		 wall;		/* the wall clock read as if UTC */
	int64_t		 utc;
};

static const struct tz_row rows[] = {
	/* 2022-08-01 11:32:00 */
	{ "UTC", 1659353520, 1659353520 },
	{ "Etc/UTC", 1659353520, 1659353520 },
	{ "Europe/Berlin", 1659353520, 1659353520 - 7200 },	/* CEST */
	/* 2022-01-15 08:00:00 */
	{ "Europe/Berlin", 1642233600, 1642233600 - 3600 },	/* CET */
	{ "America/New_York", 1642233600, 1642233600 + 5 * 3600 },
	{ "Asia/Kolkata", 1642233600, 1642233600 - 19800 },
	{ "Etc/GMT-2", 1642233600, 1642233600 - 7200 },
};

static void
test_wall_to_utc(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(tz_use(rows[i].zone), 0);
		if (tz_wall_to_utc(rows[i].wall) != rows[i].utc)
			fail_msg("%s: %lld gave %lld, want %lld", rows[i].zone,
			    (long long)rows[i].wall,
			    (long long)tz_wall_to_utc(rows[i].wall),
			    (long long)rows[i].utc);
		assert_int_equal(tz_utc_to_wall(rows[i].utc), rows[i].wall);
	}
	assert_int_equal(tz_use("UTC"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wall_to_utc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
