/*
 * fuzz_job.c: libFuzzer target for the job-file parser: any bytes must
 * give a job or errors, never a crash, a leak or unbounded work.
 */
#include <stddef.h>
#include <stdint.h>

#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job_errors errs = { NULL, 0 };
	struct job *job;

	job = job_parse_buf("/fuzz/job.yaml", (const char *)data, size, &errs);
	job_free(job);
	job_errors_free(&errs);
	return 0;
}
