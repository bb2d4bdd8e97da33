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
	fputc('}', out);
}
