/*
 * report.c: how runs are printed, shared by `history` and `sync`.
 */
#include <inttypes.h>
#include <stdio.h>

#include "json.h"
#include "report.h"

/* Human-readable size: bytes, KiB, MiB, GiB. */
void
report_bytes(int64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int i = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRId64 " B", bytes);
		return;
	}
	while (v >= 1024.0 && i < 3) {
		v /= 1024.0;
		i++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[i]);
}

/* One line per run. */
void
report_run_text(FILE *out, const struct run_info *r)
{
	char size[32];

	report_bytes(r->counts.bytes, size, sizeof(size));
	fprintf(out, "%6" PRId64 "  %-20s %s  %-8s +%" PRId64 " ~%" PRId64
	    " -%" PRId64 "  %9s  %" PRId64 " errors%s%s\n", r->id, r->job,
	    r->started_at, r->status, r->counts.added, r->counts.changed,
	    r->counts.deleted, size, r->counts.errors,
	    r->message ? "  " : "", r->message ? r->message : "");
}

/* "3d 4h", "2h 5m", "42s": an age or a delay. */
static void
report_age(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s >= 86400)
		snprintf(buf, len, "%lldd %lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm %llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

/* The header of `status`. */
void
report_status_header(FILE *out)
{
	fprintf(out, "%-20s %-20s  %-8s %-16s %9s  %-9s %s\n", "JOB",
	    "LAST RUN", "RESULT", "FILES +/~/-", "BYTES", "AGE", "NEXT DUE");
}

/* A job's status line. */
void
report_status_text(FILE *out, const struct status_row *s)
{
	char size[32], age[32], next[32], files[64];
	const struct job_summary *js = s->js;

	if (s->next_due < 0)
		snprintf(next, sizeof(next), "-");
	else if (s->next_due <= s->now)
		snprintf(next, sizeof(next), "now");
	else
		state_iso_time(s->next_due, next, sizeof(next));
	if (js == NULL) {
		fprintf(out, "%-20s %-20s  %-8s %-16s %9s  %-9s %s\n", s->job,
		    "never", "-", "-", "-", "-", next);
		return;
	}
	report_bytes(js->last.counts.bytes, size, sizeof(size));
	report_age(js->last_ok >= 0 ? s->now - js->last_ok : -1, age,
	    sizeof(age));
	snprintf(files, sizeof(files), "+%lld/~%lld/-%lld",
	    (long long)js->last.counts.added, (long long)js->last.counts.changed,
	    (long long)js->last.counts.deleted);
	fprintf(out, "%-20s %-20s  %-8s %-16s %9s  %-9s %s\n", s->job,
	    js->last.started_at, js->last.status, files, size, age, next);
}

static void
report_time_json(FILE *out, int64_t t)
{
	char buf[32];

	if (t < 0) {
		fputs("null", out);
		return;
	}
	state_iso_time(t, buf, sizeof(buf));
	json_string(out, buf);
}

/* A job's status as JSON. */
void
report_status_json(FILE *out, const struct status_row *s)
{
	const struct job_summary *js = s->js;

	fputs("{\"job\": ", out);
	json_string(out, s->job);
	if (js != NULL) {
		fprintf(out, ", \"last_run_id\": %" PRId64
		    ", \"last_started_at\": ", js->last.id);
		json_string(out, js->last.started_at);
		fputs(", \"last_finished_at\": ", out);
		json_string(out, js->last.finished_at);
		fputs(", \"last_status\": ", out);
		json_string(out, js->last.status);
		fprintf(out, ", \"files_added\": %" PRId64 ", \"files_changed\": %"
		    PRId64 ", \"files_deleted\": %" PRId64
		    ", \"bytes_downloaded\": %" PRId64 ", \"errors\": %" PRId64
		    ", \"failures_in_a_row\": %" PRId64 ", \"last_ok_at\": ",
		    js->last.counts.added, js->last.counts.changed,
		    js->last.counts.deleted, js->last.counts.bytes,
		    js->last.counts.errors, js->failures);
		json_string(out, js->last_ok_at);
		if (js->last_ok >= 0)
			fprintf(out, ", \"age_seconds\": %" PRId64,
			    s->now - js->last_ok);
		else
			fputs(", \"age_seconds\": null", out);
	} else {
		/* The same keys as above, so readers need not ask which. */
		fputs(", \"last_run_id\": null, \"last_started_at\": null, "
		    "\"last_finished_at\": null, \"last_status\": null, "
		    "\"files_added\": null, \"files_changed\": null, "
		    "\"files_deleted\": null, \"bytes_downloaded\": null, "
		    "\"errors\": null, \"failures_in_a_row\": 0, "
		    "\"last_ok_at\": null, \"age_seconds\": null", out);
	}
	fputs(", \"next_due_at\": ", out);
	report_time_json(out, s->next_due);
	fputc('}', out);
}

/* One event line of `show`. */
void
report_event_text(FILE *out, const struct event_info *ev)
{
	char size[32];

	if (ev->bytes >= 0)
		report_bytes(ev->bytes, size, sizeof(size));
	else
		snprintf(size, sizeof(size), "-");
	fprintf(out, "%s  run %-6" PRId64 " %-7s %9s  %s\n", ev->time,
	    ev->run_id, ev->action, size, ev->detail ? ev->detail : "");
}

/* One event of `show` as JSON. */
void
report_event_json(FILE *out, const struct event_info *ev)
{
	fputs("{\"time\": ", out);
	json_string(out, ev->time);
	fprintf(out, ", \"run_id\": %" PRId64 ", \"action\": ", ev->run_id);
	json_string(out, ev->action);
	if (ev->bytes >= 0)
		fprintf(out, ", \"bytes\": %" PRId64, ev->bytes);
	else
		fputs(", \"bytes\": null", out);
	fputs(", \"detail\": ", out);
	json_string(out, ev->detail);
	fputc('}', out);
}

/* One JSON object per run. */
void
report_run_json(FILE *out, const struct run_info *r)
{
	fprintf(out, "{\"id\": %" PRId64 ", \"job\": ", r->id);
	json_string(out, r->job);
	fputs(", \"started_at\": ", out);
	json_string(out, r->started_at);
	fputs(", \"finished_at\": ", out);
	json_string(out, r->finished_at);
	fputs(", \"status\": ", out);
	json_string(out, r->status);
	fprintf(out, ", \"files_added\": %" PRId64 ", \"files_changed\": %"
	    PRId64 ", \"files_deleted\": %" PRId64 ", \"bytes_downloaded\": %"
	    PRId64 ", \"errors\": %" PRId64 ", \"message\": ",
	    r->counts.added, r->counts.changed, r->counts.deleted,
	    r->counts.bytes, r->counts.errors);
	json_string(out, r->message);
	fputs(", \"source\": ", out);
	json_string(out, r->source);
	if (r->pid >= 0)
		fprintf(out, ", \"pid\": %" PRId64 "}", r->pid);
	else
		fputs(", \"pid\": null}", out);
}
