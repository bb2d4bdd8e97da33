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

/* One JSON object with the runs columns as keys (no newline). */
void report_run_json(FILE *out, const struct run_info *r);

#endif
