/*
 * metrics.c: the Prometheus textfile.  Rewritten whole after each run from
 * the runs table, so it always describes every job (or its one job),
 * whichever ran last.  While a job runs, its values are those of its
 * newest run that is over: an alert on success or age must not go blind
 * for the length of a run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "state.h"

struct metrics_ctx {
	FILE	*out;
	int	 pass;		/* which metric this walk over the jobs writes */
};

/* A label value: backslash, quote and newline escaped. */
static void
metrics_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static const struct {
	const char	*name;
	const char	*help;
} metrics[] = {
	{ "ftpmirror_last_run_start_timestamp_seconds",
	  "When the newest run of the job started (it may still run)." },
	{ "ftpmirror_last_run_end_timestamp_seconds",
	  "When the newest finished run of the job ended." },
	{ "ftpmirror_last_run_duration_seconds",
	  "How long the newest finished run took." },
	{ "ftpmirror_last_success_timestamp_seconds",
	  "When the last successful run of the job ended." },
	{ "ftpmirror_last_run_success",
	  "1 when the newest finished run succeeded, else 0." },
	{ "ftpmirror_last_run_files",
	  "Files added, changed and deleted by the newest finished run." },
	{ "ftpmirror_last_run_bytes",
	  "Bytes downloaded by the newest finished run." },
	{ "ftpmirror_last_run_errors",
	  "Errors recorded by the newest finished run." },
	{ "ftpmirror_failures_in_a_row",
	  "Runs that did not succeed since the last one that did." },
};

static void
metrics_value(FILE *out, int pass, const char *job, const char *extra,
    long long v)
{
	fprintf(out, "%s{job=\"", metrics[pass].name);
	metrics_label(out, job);
	fprintf(out, "\"%s} %lld\n", extra, v);
}

static void
metrics_job(void *arg, const struct job_summary *js)
{
	struct metrics_ctx *m = arg;
	const char *job = js->last.job;
	const struct run_counts *c = &js->done.counts;

	if (m->pass == 0) {
		metrics_value(m->out, 0, job, "", (long long)js->started);
		return;
	}
	if (m->pass == 3) {
		if (js->last_ok >= 0)
			metrics_value(m->out, 3, job, "", (long long)js->last_ok);
		return;
	}
	if (m->pass == 8) {
		metrics_value(m->out, 8, job, "", (long long)js->failures);
		return;
	}
	/* The rest describe the newest run that is over: none yet, none. */
	if (js->done.status == NULL)
		return;
	switch (m->pass) {
	case 1:
		if (js->done.finished >= 0)
			metrics_value(m->out, 1, job, "",
			    (long long)js->done.finished);
		break;
	case 2:
		if (js->done.finished >= 0)
			metrics_value(m->out, 2, job, "",
			    (long long)(js->done.finished - js->done.started));
		break;
	case 4:
		metrics_value(m->out, 4, job, "",
		    strcmp(js->done.status, "ok") == 0);
		break;
	case 5:
		metrics_value(m->out, 5, job, ",action=\"added\"",
		    (long long)c->added);
		metrics_value(m->out, 5, job, ",action=\"changed\"",
		    (long long)c->changed);
		metrics_value(m->out, 5, job, ",action=\"deleted\"",
		    (long long)c->deleted);
		break;
	case 6:
		metrics_value(m->out, 6, job, "", (long long)c->bytes);
		break;
	default:
		metrics_value(m->out, 7, job, "", (long long)c->errors);
		break;
	}
}

/* Write the metrics of job (or every job) to path, atomically. */
int
metrics_write(struct state *st, const char *path, const char *job)
{
	struct metrics_ctx m;
	char *tmp = NULL;
	int fd = -1, rc = -1;
	size_t i;

	m.out = NULL;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) == -1) {
		tmp = NULL;
		log_err("out of memory");
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
	    -1 || (m.out = fdopen(fd, "w")) == NULL) {
		log_err("metrics file %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		fprintf(m.out, "# HELP %s %s\n# TYPE %s gauge\n",
		    metrics[i].name, metrics[i].help, metrics[i].name);
		m.pass = (int)i;
		if (state_summaries(st, job, metrics_job, &m) == -1)
			goto out;
	}
	if (fflush(m.out) == EOF || fsync(fileno(m.out)) == -1) {
		log_err("metrics file %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(m.out) == EOF) {
		m.out = NULL;
		log_err("metrics file %s: %s", tmp, strerror(errno));
		goto out;
	}
	m.out = NULL;
	if (rename(tmp, path) == -1) {
		log_err("metrics file %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (m.out != NULL)
		fclose(m.out);
	if (fd != -1)
		close(fd);
	if (rc == -1 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}
