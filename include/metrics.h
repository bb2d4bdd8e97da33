/*
 * metrics.h: Prometheus text format for node_exporter's textfile
 * collector: per job, the newest run and the last success, from the
 * database, written atomically.
 */
#ifndef FTPMIRROR_METRICS_H
#define FTPMIRROR_METRICS_H

struct state;

/*
 * Write the metrics of every job in st to path (through a temporary file
 * in the same directory, fsync and rename).  Returns 0, or -1 after
 * logging why.
 */
int metrics_write(struct state *st, const char *path);

#endif
