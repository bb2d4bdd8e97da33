/*
 * report.h: runs shown to people and scripts: one text line, or a JSON
 * object whose keys are the columns of the runs table.
 */
#ifndef FTPMIRROR_REPORT_H
#define FTPMIRROR_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "state.h"

/* "1.2 MiB" style size into buf. */
void report_bytes(int64_t bytes, char *buf, size_t len);

/* One line: id, job, start, status, counts, bytes, message. */
void report_run_text(FILE *out, const struct run_info *r);

/* A job's line in `status`. */
struct status_row {
	const char		*job;
	const struct job_summary *js;	/* NULL: never ran */
	int64_t			 next_due;	/* -1: not scheduled */
	int64_t			 now;
};

/* The header line of `status` text output. */
void report_status_header(FILE *out);

/* One job of `status`, as text or as a JSON object (no newline). */
void report_status_text(FILE *out, const struct status_row *s);
void report_status_json(FILE *out, const struct status_row *s);

/* One event of `show`, as text or as a JSON object (no newline). */
void report_event_text(FILE *out, const struct event_info *ev);
void report_event_json(FILE *out, const struct event_info *ev);

/* One JSON object with the runs columns as keys (no newline). */
void report_run_json(FILE *out, const struct run_info *r);

#endif
