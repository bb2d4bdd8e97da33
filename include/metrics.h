/*
 * metrics.h: Prometheus text format for node_exporter's textfile
 * collector: per job, the newest run and the last success, from the
 * database, written atomically.
 */
#ifndef FTPMIRROR_METRICS_H
#define FTPMIRROR_METRICS_H

struct state;

/*
 * Write the metrics of job, or of every job in st when job is NULL, to
 * path (through a temporary file in the same directory, fsync and
 * rename).  A job's own metrics_file holds that job alone: node_exporter
 * refuses a series found in two files.  Returns 0, or -1 after logging
 * why.
 */
int metrics_write(struct state *st, const char *path, const char *job);

#endif
