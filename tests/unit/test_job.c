/*
 * test_job.c: job_parse_buf, job_load and job_parse_bytes, table driven.
 *
 * Every error row names the exact "FILE:LINE:COLUMN: " the message must
 * start with and a piece of text only that message has, so a message that
 * moves to the wrong position or loses the key's name fails here.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"

#define FILE_	"jobs/t.yaml"
/* A minimal valid job: three lines, so a fourth is line 4. */
#define BASE	"name: x\nsource: ftp://h/\ntarget: /srv/x\n"
#define BERLIN	"/usr/share/zoneinfo/Europe/Berlin"

static bool
have_tzdata(void)
{
	return access(BERLIN, R_OK) == 0;
}

/* Parse text as FILE_ and insist that it is accepted. */
static struct job *
parse_ok(const char *file, const char *text)
{
	struct job_errors	 errs = { NULL, 0 };
	struct job		*job;
	size_t			 i;

	job = job_parse_buf(file, text, strlen(text), &errs);
	if (job == NULL) {
		for (i = 0; i < errs.n; i++)
			print_error("  %s\n", errs.v[i]);
		fail_msg("rejected:\n%s", text);
	}
	assert_int_equal(errs.n, 0);
	job_errors_free(&errs);
	return job;
}

/*
 * Parse len bytes of text and insist that it is refused with a message
 * starting with where and containing what; every message must start with
 * the file's name.
 */
static void
parse_fails(const char *file, const char *text, size_t len,
    const char *where, const char *what)
{
	struct job_errors	 errs = { NULL, 0 };
	struct job		*job;
	size_t			 i;
	bool			 found = false;

	job = job_parse_buf(file, text, len, &errs);
	if (job != NULL) {
		job_free(job);
		fail_msg("accepted:\n%s", text);
	}
	assert_true(errs.n > 0);
	for (i = 0; i < errs.n; i++) {
		assert_true(strncmp(errs.v[i], file, strlen(file)) == 0);
		if (strncmp(errs.v[i], where, strlen(where)) == 0 &&
		    strstr(errs.v[i], what) != NULL)
			found = true;
	}
	if (!found) {
		for (i = 0; i < errs.n; i++)
			print_error("  got: %s\n", errs.v[i]);
		fail_msg("no error \"%s...%s\" for:\n%s", where, what, text);
	}
	job_errors_free(&errs);
	assert_null(errs.v);
	assert_int_equal(errs.n, 0);
}

/*
 * A job with every key.
 */

static void
test_full(void **state)
{
	struct job	*job;
	char		 text[2048];
	const char	*tz = have_tzdata() ? "Europe/Berlin" : "UTC";

	(void)state;
	snprintf(text, sizeof(text),
	    "# every key, most of them away from their defaults\n"
	    "name: gnu-emacs_2.x\n"
	    "source: FTPS://mirror@ftp.example.org:2121/pub/gnu/emacs\n"
	    "target: /srv/mirror/gnu-emacs/\n"
	    "incoming: /srv/mirror/./staging//emacs\n"
	    "user: mirror\n"
	    "password_file: secrets/emacs.pass\n"
	    "schedule: every 6h\n"
	    "connections: 64\n"
	    "passive: off\n"
	    "listing: MLSD\n"
	    "timezone: %s\n"
	    "exclude: [\"*.tmp\", 'old/**']\n"
	    "include:\n"
	    "  - \"*.tar.gz\"\n"
	    "  - \"*.sig\"\n"
	    "delete: no\n"
	    "max_delete: 0.5%%\n"
	    "symlinks: follow\n"
	    "retries: 0\n"
	    "timeout: 86400\n"
	    "bandwidth: 10M\n"
	    "max_depth: 1000\n"
	    "jitter: 300\n"
	    "tls: required\n"
	    "ca_file: /etc/ssl/certs/ca-certificates.crt\n"
	    "publish: snapshot\n"
	    "publish_last: Release\n"
	    "keep_snapshots: 0\n"
	    "verify_manifests: yes\n"
	    "verify_remote_hash: off\n"
	    "verify_command: \"clamscan --no-summary --infected {}\"\n"
	    "verify_timeout: 30\n"
	    "history_days: 90\n"
	    "metrics_file: /var/lib/node_exporter/ftpmirror.prom\n"
	    "trace_file: trace/here\n"
	    "fsync: false\n", tz);
	job = parse_ok(FILE_, text);

	assert_string_equal(job->file, FILE_);
	assert_string_equal(job->name, "gnu-emacs_2.x");
	assert_string_equal(job->source,
	    "ftps://ftp.example.org:2121/pub/gnu/emacs/");
	assert_string_equal(job->target, "/srv/mirror/gnu-emacs");
	assert_string_equal(job->incoming, "/srv/mirror/staging/emacs");
	assert_string_equal(job->user, "mirror");
	assert_string_equal(job->password, "");	/* job_load reads the file */
	assert_string_equal(job->password_file, "jobs/secrets/emacs.pass");
	assert_string_equal(job->schedule_text, "every 6h");
	assert_int_equal(job->schedule.kind, SCHEDULE_EVERY);
	assert_int_equal(job->schedule.every, 6 * 3600);
	assert_int_equal(job->connections, 64);
	assert_false(job->passive);
	assert_int_equal(job->listing, JOB_LISTING_MLSD);
	assert_string_equal(job->timezone, tz);
	assert_int_equal(job->exclude.n, 2);
	assert_string_equal(job->exclude.v[0], "*.tmp");
	assert_string_equal(job->exclude.v[1], "old/**");
	assert_int_equal(job->include.n, 2);
	assert_string_equal(job->include.v[0], "*.tar.gz");
	assert_string_equal(job->include.v[1], "*.sig");
	assert_false(job->delete);
	assert_int_equal(job->max_delete_count, -1);
	assert_true(job->max_delete_share > 0.004999 &&
	    job->max_delete_share < 0.005001);
	assert_int_equal(job->symlinks, JOB_SYMLINKS_FOLLOW);
	assert_int_equal(job->retries, 0);
	assert_int_equal(job->timeout, 86400);
	assert_int_equal(job->bandwidth, 10 * 1024 * 1024);
	assert_int_equal(job->max_depth, 1000);
	assert_int_equal(job->jitter, 300);
	assert_int_equal(job->tls, JOB_TLS_REQUIRED);
	assert_string_equal(job->ca_file, "/etc/ssl/certs/ca-certificates.crt");
	assert_int_equal(job->publish, JOB_PUBLISH_SNAPSHOT);
	assert_int_equal(job->publish_last.n, 1);
	assert_string_equal(job->publish_last.v[0], "Release");
	assert_int_equal(job->keep_snapshots, 0);
	assert_true(job->verify_manifests);
	assert_int_equal(job->verify_remote_hash, JOB_REMOTE_HASH_OFF);
	assert_string_equal(job->verify_command,
	    "clamscan --no-summary --infected {}");
	assert_int_equal(job->verify_timeout, 30);
	assert_int_equal(job->history_days, 90);
	assert_string_equal(job->metrics_file,
	    "/var/lib/node_exporter/ftpmirror.prom");
	assert_non_null(strstr(job->trace_file, "trace/here"));
	assert_false(job->fsync);
	job_free(job);
}

/* The same job written as one flow mapping, as JSON would have it. */
static void
test_flow_mapping(void **state)
{
	struct job	*job;

	(void)state;
	job = parse_ok(FILE_, "{\"name\": \"x\", \"source\": \"ftp://h/\", "
	    "\"target\": \"/srv/x\", \"exclude\": [\"a\"], \"retries\": 5}");
	assert_string_equal(job->name, "x");
	assert_int_equal(job->retries, 5);
	assert_int_equal(job->exclude.n, 1);
	job_free(job);
}

/* Saved by a Windows editor: a byte order mark and CRLF line ends. */
static void
test_bom_and_crlf(void **state)
{
	struct job	*job;

	(void)state;
	job = parse_ok(FILE_, "\xef\xbb\xbfname: x\r\nsource: ftp://h/\r\n"
	    "target: /srv/x\r\nretries: 5\r\n");
	assert_string_equal(job->name, "x");
	assert_int_equal(job->retries, 5);
	job_free(job);
	/* Positions still count from the first line. */
	parse_fails(FILE_, "\xef\xbb\xbfname: x\nsource: ftp://h/\ntarget: /srv/x\n"
	    "retries: many\n", strlen("\xef\xbb\xbfname: x\nsource: ftp://h/\n"
	    "target: /srv/x\nretries: many\n"), FILE_ ":4:10:", "retries");
}

static void
test_defaults(void **state)
{
	static const char *const last[] = {
		"Release", "InRelease", "Packages*", "Sources*", "SHA256SUMS",
		"MD5SUMS", "ls-lR*"
	};
	struct job	*job;
	size_t		 i;

	(void)state;
	job = parse_ok(FILE_, BASE);
	assert_string_equal(job->name, "x");
	assert_string_equal(job->source, "ftp://h/");
	assert_string_equal(job->target, "/srv/x");
	assert_string_equal(job->incoming, "/srv/.x.incoming");
	assert_string_equal(job->user, "anonymous");
	assert_string_equal(job->password, "ftpmirror@localhost");
	assert_null(job->password_file);
	assert_null(job->schedule_text);
	assert_int_equal(job->schedule.kind, SCHEDULE_NONE);
	assert_int_equal(job->connections, 4);
	assert_true(job->passive);
	assert_int_equal(job->listing, JOB_LISTING_AUTO);
	assert_string_equal(job->timezone, "UTC");
	assert_int_equal(job->exclude.n, 0);
	assert_null(job->exclude.v);
	assert_int_equal(job->include.n, 0);
	assert_true(job->delete);
	assert_int_equal(job->max_delete_count, -1);
	assert_true(job->max_delete_share > 0.0999 &&
	    job->max_delete_share < 0.1001);
	assert_int_equal(job->symlinks, JOB_SYMLINKS_KEEP);
	assert_int_equal(job->retries, 3);
	assert_int_equal(job->timeout, 60);
	assert_int_equal(job->bandwidth, 0);
	assert_int_equal(job->max_depth, 0);
	assert_int_equal(job->jitter, 0);
	assert_int_equal(job->tls, JOB_TLS_OFF);
	assert_null(job->ca_file);
	assert_int_equal(job->publish, JOB_PUBLISH_STAGED);
	assert_int_equal(job->publish_last.n, sizeof(last) / sizeof(last[0]));
	for (i = 0; i < job->publish_last.n; i++)
		assert_string_equal(job->publish_last.v[i], last[i]);
	assert_int_equal(job->keep_snapshots, 2);
	assert_false(job->verify_manifests);
	assert_int_equal(job->verify_remote_hash, JOB_REMOTE_HASH_AUTO);
	assert_null(job->verify_command);
	assert_int_equal(job->verify_timeout, 300);
	assert_int_equal(job->history_days, 365);
	assert_null(job->metrics_file);
	assert_null(job->trace_file);
	assert_true(job->fsync);
	job_free(job);
}

/*
 * Single values that are accepted, and what they become.
 */

struct value_case {
	const char	*line;		/* added to BASE */
	const char	*field;		/* which field to look at */
	const char	*want;		/* as text */
};

static const struct value_case value_cases[] = {
	{ "passive: TRUE", "passive", "1" },
	{ "passive: Yes", "passive", "1" },
	{ "passive: on", "passive", "1" },
	{ "passive: false", "passive", "0" },
	{ "passive: NO", "passive", "0" },
	{ "passive: Off", "passive", "0" },
	{ "delete: off", "delete", "0" },
	{ "verify_manifests: true", "verify_manifests", "1" },
	/* YAML 1.1 would make these booleans; the key decides. */
	{ "tls: off", "tls", "off" },
	{ "tls: OFF", "tls", "off" },
	{ "tls: \"required\"", "tls", "required" },
	{ "verify_remote_hash: off", "verify_remote_hash", "off" },
	{ "verify_remote_hash: auto", "verify_remote_hash", "auto" },
	{ "listing: list", "listing", "list" },
	{ "listing: auto", "listing", "auto" },
	{ "symlinks: skip", "symlinks", "skip" },
	{ "symlinks: keep", "symlinks", "keep" },
	{ "publish: staged", "publish", "staged" },
	{ "connections: 1", "connections", "1" },
	{ "connections: \"7\"", "connections", "7" },
	{ "connections: 007", "connections", "7" },
	{ "retries: 100", "retries", "100" },
	{ "timeout: 1", "timeout", "1" },
	{ "max_depth: 0", "max_depth", "0" },
	{ "jitter: 86400", "jitter", "86400" },
	{ "keep_snapshots: 100", "keep_snapshots", "100" },
	{ "bandwidth: 0", "bandwidth", "0" },
	{ "bandwidth: 500K", "bandwidth", "512000" },
	{ "bandwidth: 1G", "bandwidth", "1073741824" },
	{ "max_delete: 10%", "max_delete", "share 0.100000" },
	{ "max_delete: 0%", "max_delete", "share 0.000000" },
	{ "max_delete: 100%", "max_delete", "share 1.000000" },
	{ "max_delete: 100.0%", "max_delete", "share 1.000000" },
	{ "max_delete: 12.5%", "max_delete", "share 0.125000" },
	{ "max_delete: 0", "max_delete", "count 0" },
	{ "max_delete: 250", "max_delete", "count 250" },
	{ "timezone: UTC", "timezone", "UTC" },
	{ "schedule: every 6h", "schedule", "every" },
	{ "schedule: 15 */6 * * *", "schedule", "cron" },
	{ "verify_command: \"\"", "verify_command", "(null)" },
	{ "verify_command:", "verify_command", "(null)" },
	{ "verify_command: sh -c 'exit 0' {}", "verify_command",
	    "sh -c 'exit 0' {}" },
	{ "exclude: \"*.tmp\"", "exclude", "*.tmp" },
	{ "exclude: []", "exclude", "" },
	{ "exclude:", "exclude", "" },
	{ "include: [a, \"b c\", 'd']", "include", "a|b c|d" },
	{ "include:\n  - a\n  - b", "include", "a|b" },
	{ "publish_last: []", "publish_last", "" },
	{ "publish_last: [InRelease, Release]", "publish_last",
	    "InRelease|Release" },
	{ "password: \"\"\nuser: bob", "password", "" },
	{ "password: s3cr3t pass", "password", "s3cr3t pass" },
	{ "user: bob", "password", "" },
	{ "user: bob\npassword_file: p", "password", "" },
	{ "password_file: p", "password", "" },
	{ "user: FTP", "password", "ftpmirror@localhost" },
	{ "user: anonymous\npassword: me@example.org", "password",
	    "me@example.org" },
	{ "ca_file: certs/ca.pem", "ca_file", "jobs/certs/ca.pem" },
	{ "password_file: /etc/p", "password_file", "/etc/p" },
	{ "user: !!str bob", "user", "bob" },
	{ "include: !!seq [a]", "include", "a" },
};

static void
field_text(const struct job *job, const char *field, char *out, size_t sz)
{
	static const char *const listing[] = { "auto", "mlsd", "list" };
	static const char *const symlinks[] = { "keep", "follow", "skip" };
	static const char *const tls[] = { "off", "required" };
	static const char *const publish[] = { "staged", "snapshot" };
	static const char *const hash[] = { "auto", "off" };
	static const char *const kind[] = { "none", "every", "cron" };
	const struct job_strings *l = NULL;
	size_t		 i, o = 0;

#define STR(s)	((s) != NULL ? (s) : "(null)")
	if (strcmp(field, "passive") == 0)
		snprintf(out, sz, "%d", job->passive);
	else if (strcmp(field, "delete") == 0)
		snprintf(out, sz, "%d", job->delete);
	else if (strcmp(field, "verify_manifests") == 0)
		snprintf(out, sz, "%d", job->verify_manifests);
	else if (strcmp(field, "tls") == 0)
		snprintf(out, sz, "%s", tls[job->tls]);
	else if (strcmp(field, "verify_remote_hash") == 0)
		snprintf(out, sz, "%s", hash[job->verify_remote_hash]);
	else if (strcmp(field, "listing") == 0)
		snprintf(out, sz, "%s", listing[job->listing]);
	else if (strcmp(field, "symlinks") == 0)
		snprintf(out, sz, "%s", symlinks[job->symlinks]);
	else if (strcmp(field, "publish") == 0)
		snprintf(out, sz, "%s", publish[job->publish]);
	else if (strcmp(field, "connections") == 0)
		snprintf(out, sz, "%d", job->connections);
	else if (strcmp(field, "retries") == 0)
		snprintf(out, sz, "%d", job->retries);
	else if (strcmp(field, "timeout") == 0)
		snprintf(out, sz, "%d", job->timeout);
	else if (strcmp(field, "max_depth") == 0)
		snprintf(out, sz, "%d", job->max_depth);
	else if (strcmp(field, "jitter") == 0)
		snprintf(out, sz, "%d", job->jitter);
	else if (strcmp(field, "keep_snapshots") == 0)
		snprintf(out, sz, "%d", job->keep_snapshots);
	else if (strcmp(field, "bandwidth") == 0)
		snprintf(out, sz, "%lld", (long long)job->bandwidth);
	else if (strcmp(field, "max_delete") == 0) {
		if (job->max_delete_count == -1)
			snprintf(out, sz, "share %f", job->max_delete_share);
		else
			snprintf(out, sz, "count %lld",
			    (long long)job->max_delete_count);
	} else if (strcmp(field, "timezone") == 0)
		snprintf(out, sz, "%s", STR(job->timezone));
	else if (strcmp(field, "schedule") == 0)
		snprintf(out, sz, "%s", kind[job->schedule.kind]);
	else if (strcmp(field, "verify_command") == 0)
		snprintf(out, sz, "%s", STR(job->verify_command));
	else if (strcmp(field, "password") == 0)
		snprintf(out, sz, "%s", STR(job->password));
	else if (strcmp(field, "password_file") == 0)
		snprintf(out, sz, "%s", STR(job->password_file));
	else if (strcmp(field, "ca_file") == 0)
		snprintf(out, sz, "%s", STR(job->ca_file));
	else if (strcmp(field, "user") == 0)
		snprintf(out, sz, "%s", STR(job->user));
	else if (strcmp(field, "exclude") == 0)
		l = &job->exclude;
	else if (strcmp(field, "include") == 0)
		l = &job->include;
	else if (strcmp(field, "publish_last") == 0)
		l = &job->publish_last;
	else
		fail_msg("no field %s", field);
#undef STR
	if (l == NULL)
		return;
	out[0] = '\0';
	for (i = 0; i < l->n; i++)
		o += (size_t)snprintf(out + o, sz - o, "%s%s", i > 0 ? "|" : "",
		    l->v[i]);
}

static void
test_values(void **state)
{
	const struct value_case	*c;
	struct job		*job;
	char			 text[512], got[512];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		c = &value_cases[i];
		snprintf(text, sizeof(text), "%s%s\n", BASE, c->line);
		job = parse_ok(FILE_, text);
		field_text(job, c->field, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: %s is \"%s\", want \"%s\"", c->line,
			    c->field, got, c->want);
		job_free(job);
	}
}

/*
 * Source URLs and the user they name.
 */

struct source_case {
	const char	*url;
	const char	*want;
	const char	*user;
	const char	*password;
};

static const struct source_case source_cases[] = {
	{ "ftp://h", "ftp://h/", "anonymous", "ftpmirror@localhost" },
	{ "FTP://Host.Example/pub", "ftp://Host.Example/pub/", "anonymous",
	    "ftpmirror@localhost" },
	{ "Ftps://h:990/a/b/", "ftps://h:990/a/b/", "anonymous",
	    "ftpmirror@localhost" },
	{ "ftp://bob@h/x", "ftp://h/x/", "bob", "" },
	{ "ftp://b%40c@h/", "ftp://h/", "b@c", "" },
	{ "ftp://ftp@h/", "ftp://h/", "ftp", "ftpmirror@localhost" },
	{ "ftp://[::1]:2121/", "ftp://[::1]:2121/", "anonymous",
	    "ftpmirror@localhost" },
	{ "ftp://127.0.0.1/pub/a%20b", "ftp://127.0.0.1/pub/a%20b/",
	    "anonymous", "ftpmirror@localhost" },
	{ "ftp://h//", "ftp://h//", "anonymous", "ftpmirror@localhost" },
};

static void
test_sources(void **state)
{
	const struct source_case *c;
	struct job		*job;
	char			 text[512];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(source_cases) / sizeof(source_cases[0]); i++) {
		c = &source_cases[i];
		snprintf(text, sizeof(text), "name: x\nsource: %s\ntarget: t\n",
		    c->url);
		job = parse_ok(FILE_, text);
		assert_string_equal(job->source, c->want);
		assert_string_equal(job->user, c->user);
		assert_string_equal(job->password, c->password);
		job_free(job);
	}

	/* The URL's user may be repeated in user: when they agree. */
	job = parse_ok(FILE_, "name: x\nsource: ftp://bob@h/\ntarget: t\n"
	    "user: bob\n");
	assert_string_equal(job->user, "bob");
	job_free(job);
}

/*
 * Paths: taken from the job file's directory, cleaned lexically.
 */

struct path_case {
	const char	*file;
	const char	*target;
	const char	*incoming;	/* NULL: the default */
	const char	*want_target;
	const char	*want_incoming;
};

static const struct path_case path_cases[] = {
	{ FILE_, "/srv/x/", NULL, "/srv/x", "/srv/.x.incoming" },
	{ "t.yaml", "m", NULL, "m", ".m.incoming" },
	{ "t.yaml", "./m/", NULL, "m", ".m.incoming" },
	{ "t.yaml", "m..", "..m", "m..", "..m" },
	{ FILE_, "a/./b//c/", NULL, "jobs/a/b/c", "jobs/a/b/.c.incoming" },
	{ FILE_, "../m", NULL, "m", ".m.incoming" },
	{ FILE_, "../../m", NULL, "../m", "../.m.incoming" },
	{ "/etc/ftpmirror/jobs.d/x.yaml", "../../../srv/m",
	    "../../../srv/.m.in", "/srv/m", "/srv/.m.in" },
	{ "/x.yaml", "srv", NULL, "/srv", "/.srv.incoming" },
	{ "/etc/j/x.yaml", "/../../srv", NULL, "/srv", "/.srv.incoming" },
	{ "/etc/j/x.yaml", "//srv//m//", "/srv/m.in", "/srv/m", "/srv/m.in" },
	/* Sharing a prefix is not being inside. */
	{ FILE_, "/srv/m", "/srv/m-staging", "/srv/m", "/srv/m-staging" },
	{ FILE_, "/srv/m-2", "/srv/m", "/srv/m-2", "/srv/m" },
	{ FILE_, "/srv/m", "/tmp/in", "/srv/m", "/tmp/in" },
	{ "./t.yaml", "m", "in", "m", "in" },
	{ "a//b/./t.yaml", "m", NULL, "a/b/m", "a/b/.m.incoming" },
};

static void
test_paths(void **state)
{
	const struct path_case	*c;
	struct job		*job;
	char			 text[512];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		c = &path_cases[i];
		snprintf(text, sizeof(text), "name: x\nsource: ftp://h/\n"
		    "target: %s\n%s%s\n", c->target,
		    c->incoming != NULL ? "incoming: " : "",
		    c->incoming != NULL ? c->incoming : "");
		job = parse_ok(c->file, text);
		if (strcmp(job->target, c->want_target) != 0 ||
		    strcmp(job->incoming, c->want_incoming) != 0)
			fail_msg("%s in %s: got %s and %s", c->target, c->file,
			    job->target, job->incoming);
		job_free(job);
	}
}

/*
 * Errors: every message the parser can give, at its position.
 */

struct error_case {
	const char	*text;
	size_t		 len;		/* 0: strlen(text) */
	const char	*where;		/* "LINE:COLUMN: " after FILE_ ":" */
	const char	*what;
};

static const struct error_case error_cases[] = {
	/* Integers. */
	{ BASE "connections: many", 0, "4:14: ",
	    "connections: expected an integer from 1 to 64, got \"many\"" },
	{ BASE "connections: 0", 0, "4:14: ", "from 1 to 64, got \"0\"" },
	{ BASE "connections: 65", 0, "4:14: ", "got \"65\"" },
	{ BASE "connections: 4.0", 0, "4:14: ", "got \"4.0\"" },
	{ BASE "connections: 0x10", 0, "4:14: ", "got \"0x10\"" },
	{ BASE "connections: \" 4\"", 0, "4:14: ", "got \" 4\"" },
	{ BASE "connections: 99999999999999999999999", 0, "4:14: ",
	    "connections: expected an integer" },
	{ BASE "retries: 101", 0, "4:10: ",
	    "retries: expected an integer from 0 to 100" },
	{ BASE "retries: -1", 0, "4:10: ", "retries: expected" },
	{ BASE "timeout: 0", 0, "4:10: ", "timeout: expected an integer "
	    "from 1 to 86400" },
	{ BASE "timeout: 86401", 0, "4:10: ", "got \"86401\"" },
	{ BASE "max_depth: 1001", 0, "4:12: ", "max_depth: expected an "
	    "integer from 0 to 1000" },
	{ BASE "jitter: -1", 0, "4:9: ", "jitter: expected an integer from 0 "
	    "to 86400" },
	{ BASE "keep_snapshots: 101", 0, "4:17: ", "keep_snapshots: expected "
	    "an integer from 0 to 100" },
	/* Booleans and enums. */
	{ BASE "passive: maybe", 0, "4:10: ",
	    "passive: expected true or false, got \"maybe\"" },
	{ BASE "delete: 1", 0, "4:9: ", "delete: expected true or false" },
	{ BASE "verify_manifests: \"\"", 0, "4:19: ",
	    "verify_manifests: must not be empty" },
	{ BASE "listing: nlst", 0, "4:10: ",
	    "listing: expected auto, mlsd or list, got \"nlst\"" },
	{ BASE "symlinks: copy", 0, "4:11: ",
	    "symlinks: expected keep, follow or skip" },
	{ BASE "tls: yes", 0, "4:6: ", "tls: expected off or required" },
	{ BASE "tls: true", 0, "4:6: ", "got \"true\"" },
	{ BASE "publish: atomic", 0, "4:10: ",
	    "publish: expected staged or snapshot" },
	{ BASE "verify_remote_hash: on", 0, "4:21: ",
	    "verify_remote_hash: expected auto or off" },
	/* Time zones. */
	{ BASE "timezone: Mars/Olympus_Mons", 0, "4:11: ",
	    "timezone: no such time zone in /usr/share/zoneinfo" },
	{ BASE "timezone: zone.tab", 0, "4:11: ", "no such time zone" },
	{ BASE "timezone: ../../etc/passwd", 0, "4:11: ",
	    "timezone: expected an IANA time zone name" },
	{ BASE "timezone: Europe/../../../etc/passwd", 0, "4:11: ",
	    "expected an IANA time zone name" },
	{ BASE "timezone: /etc/localtime", 0, "4:11: ",
	    "expected an IANA time zone name" },
	{ BASE "timezone: Europe/Berlin extra", 0, "4:11: ",
	    "expected an IANA time zone name" },
	{ BASE "timezone: utc", 0, "4:11: ", "no such time zone" },
	/* max_delete and bandwidth. */
	{ BASE "max_delete: 101%", 0, "4:13: ", "max_delete: expected a count "
	    "(0 or more) or a share from 0% to 100%, got \"101%\"" },
	{ BASE "max_delete: 100.1%", 0, "4:13: ", "got \"100.1%\"" },
	{ BASE "max_delete: -1", 0, "4:13: ", "max_delete: expected a count" },
	{ BASE "max_delete: lots", 0, "4:13: ", "got \"lots\"" },
	{ BASE "max_delete: 5.5.5%", 0, "4:13: ", "got \"5.5.5%\"" },
	{ BASE "max_delete: \"%\"", 0, "4:13: ", "max_delete: expected" },
	{ BASE "max_delete: 10 %", 0, "4:13: ", "max_delete: expected" },
	{ BASE "max_delete: 10%%", 0, "4:13: ", "max_delete: expected" },
	{ BASE "max_delete: 1e3", 0, "4:13: ", "max_delete: expected" },
	{ BASE "bandwidth: fast", 0, "4:12: ", "bandwidth: expected bytes per "
	    "second such as 0, 500K or 10M, got \"fast\"" },
	{ BASE "bandwidth: 10MB", 0, "4:12: ", "got \"10MB\"" },
	{ BASE "bandwidth: -5", 0, "4:12: ", "bandwidth: expected" },
	{ BASE "bandwidth: 99999999999T", 0, "4:12: ", "bandwidth: expected" },
	/* schedule: the reason comes from schedule_parse. */
	{ BASE "schedule: garbage", 0, "4:11: ", "schedule: " },
	{ BASE "schedule: garbage", 0, "4:11: ", "got \"garbage\"" },
	{ BASE "schedule: \"\"", 0, "4:11: ", "schedule: must not be empty" },
	/* name. */
	{ "name: \"\"\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: must not be empty" },
	{ "name: .hidden\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: expected 1 to 64 letters, digits, '.', '_' or '-', not "
	    "starting with '.', got \".hidden\"" },
	{ "name: a/b\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: expected 1 to 64" },
	{ "name: a b\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "got \"a b\"" },
	{ "name: caf\xc3\xa9\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: expected" },
	{ "name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaa\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: expected 1 to 64" },
	/* source. */
	{ "name: x\nsource: http://h/\ntarget: t\n", 0, "2:9: ",
	    "source: expected an ftp:// or ftps:// URL, got \"http://h/\"" },
	{ "name: x\nsource: /pub\ntarget: t\n", 0, "2:9: ",
	    "source: expected an ftp:// or ftps:// URL" },
	{ "name: x\nsource: ftp://\ntarget: t\n", 0, "2:9: ",
	    "source: expected a host name" },
	{ "name: x\nsource: ftp:///pub\ntarget: t\n", 0, "2:9: ",
	    "source: expected a host name" },
	{ "name: x\nsource: ftp://u:pw@h/\ntarget: t\n", 0, "2:9: ",
	    "source: a password in the URL is not allowed: use password_file" },
	{ "name: x\nsource: ftp://u:@h/\ntarget: t\n", 0, "2:9: ",
	    "password in the URL" },
	{ "name: x\nsource: ftp://@h/\ntarget: t\n", 0, "2:9: ",
	    "source: empty user name before '@'" },
	{ "name: x\nsource: ftp://u%00@h/\ntarget: t\n", 0, "2:9: ",
	    "source: the user name must not contain control characters" },
	{ "name: x\nsource: \"ftp://h/a b\"\ntarget: t\n", 0, "2:9: ",
	    "source: spaces and control characters must be percent-encoded" },
	{ "name: x\nsource: \"ftp://h/a\\tb\"\ntarget: t\n", 0, "2:9: ",
	    "got \"ftp://h/a\\x09b\"" },
	{ "name: x\nsource: ftp://h/?x\ntarget: t\n", 0, "2:9: ",
	    "source: '?' and '#' must be percent-encoded" },
	{ "name: x\nsource: \"ftp://h/#x\"\ntarget: t\n", 0, "2:9: ",
	    "'?' and '#'" },
	{ "name: x\nsource: ftp://h/%zz\ntarget: t\n", 0, "2:9: ",
	    "source: '%' must start a %XX escape" },
	{ "name: x\nsource: ftp://h/%4\ntarget: t\n", 0, "2:9: ",
	    "%XX escape" },
	{ "name: x\nsource: ftp://h:0/\ntarget: t\n", 0, "2:9: ",
	    "source: expected a port number from 1 to 65535 after the host" },
	{ "name: x\nsource: ftp://h:65536/\ntarget: t\n", 0, "2:9: ",
	    "port number" },
	{ "name: x\nsource: ftp://h:/\ntarget: t\n", 0, "2:9: ",
	    "port number" },
	{ "name: x\nsource: ftp://h:+21/\ntarget: t\n", 0, "2:9: ",
	    "port number" },
	{ "name: x\nsource: ftp://h:21x/\ntarget: t\n", 0, "2:9: ",
	    "port number" },
	{ "name: x\nsource: ftp://[zz]/\ntarget: t\n", 0, "2:9: ",
	    "source: expected an IPv6 address in [ ]" },
	{ "name: x\nsource: ftp://[::1/\ntarget: t\n", 0, "2:9: ",
	    "IPv6 address" },
	{ "name: x\nsource: ftp://[::1]x/\ntarget: t\n", 0, "2:9: ",
	    "port number" },
	{ "name: x\nsource: ftp://h!x/\ntarget: t\n", 0, "2:9: ",
	    "source: a host name holds only letters, digits, '.', '-' and "
	    "'_', got \"ftp://h!x/\"" },
	{ "name: x\nsource: ftp://h\xc3\xa9/\ntarget: t\n", 0, "2:9: ",
	    "a host name holds only" },
	{ "name: x\nsource: ftp://bob@h/\ntarget: t\nuser: alice\n", 0,
	    "2:9: ", "source: the URL's user \"bob\" differs from user "
	    "\"alice\"" },
	/* target and incoming. */
	{ "name: x\nsource: ftp://h/\ntarget: /\n", 0, "3:9: ",
	    "target: must not be \"/\", got \"/\"" },
	{ "name: x\nsource: ftp://h/\ntarget: /srv/..\n", 0, "3:9: ",
	    "target: must not be \"/\", got \"/srv/..\"" },
	{ "name: x\nsource: ftp://h/\ntarget: ..\n", 0, "3:9: ",
	    "target: must name a directory, not \".\"" },
	{ "name: x\nsource: ftp://h/\ntarget: ../..\n", 0, "3:9: ",
	    "target: must name a directory, not \"..\"" },
	{ "name: x\nsource: ftp://h/\ntarget: \"\"\n", 0, "3:9: ",
	    "target: must not be empty" },
	{ "name: x\nsource: ftp://h/\ntarget:\n", 0, "3:8: ",
	    "target: must not be empty" },
	{ BASE "incoming: /srv/x", 0, "4:11: ",
	    "incoming: must not be the same directory as target" },
	{ BASE "incoming: /srv/./x/", 0, "4:11: ", "the same directory" },
	{ BASE "incoming: /srv/x/.in", 0, "4:11: ",
	    "incoming: must not be inside target (/srv/x)" },
	{ BASE "incoming: /srv", 0, "4:11: ",
	    "incoming: must not contain target (/srv/x)" },
	{ BASE "incoming: /", 0, "4:11: ", "incoming: must not be \"/\"" },
	/* Credentials. */
	{ BASE "password: a\npassword_file: p", 0, "5:16: ",
	    "give only one of password, password_file, password_env" },
	{ BASE "password_file: p\npassword: a", 0, "4:16: ",
	    "give only one of" },
	{ BASE "password: a\npassword_env: PW", 0, "5:15: ",
	    "give only one of" },
	{ BASE "netrc_file: n\npassword_file: p", 0, "4:13: ",
	    "give only one of" },
	{ BASE "user: \"a\\tb\"", 0, "4:7: ",
	    "user: must not contain control characters" },
	{ BASE "password: \"a\\x1bb\"", 0, "4:11: ",
	    "password: must not contain control characters" },
	{ BASE "user: \"\"", 0, "4:7: ", "user: must not be empty" },
	{ BASE "password_file: \"\"", 0, "4:16: ",
	    "password_file: must not be empty" },
	/* Keys. */
	{ BASE "conections: 3", 0, "4:1: ",
	    "unknown key \"conections\" (did you mean \"connections\"?)" },
	{ BASE "excludes: [a]", 0, "4:1: ",
	    "unknown key \"excludes\" (did you mean \"exclude\"?)" },
	{ BASE "Name: y", 0, "4:1: ", "(did you mean \"name\"?)" },
	{ BASE "frobnicate: 1", 0, "4:1: ", "unknown key \"frobnicate\"" },
	{ BASE "\"a\\0b\": 1", 0, "4:1: ", "unknown key \"a\\x00b\"" },
	{ BASE "name: y", 0, "4:1: ",
	    "duplicate key \"name\" (first given at line 1)" },
	{ BASE "exclude: a\nexclude: b", 0, "5:1: ",
	    "duplicate key \"exclude\" (first given at line 4)" },
	{ "source: ftp://h/\ntarget: /t\n", 0, "1:1: ",
	    "missing required key \"name\"" },
	{ "name: x\ntarget: /t\n", 0, "1:1: ",
	    "missing required key \"source\"" },
	{ "name: x\nsource: ftp://h/\n", 0, "1:1: ",
	    "missing required key \"target\"" },
	{ "# a comment first\n\n  name: x\n  source: ftp://h/\n", 0, "3:3: ",
	    "missing required key \"target\"" },
	{ "{name: x, source: ftp://h/}", 0, "1:1: ",
	    "missing required key \"target\"" },
	{ BASE "[a]: b", 0, "4:1: ",
	    "expected a key such as \"name\", got a list" },
	{ BASE "? {a: b}\n: c", 0, "4:3: ", "got a mapping" },
	/* Shapes of values. */
	{ BASE "connections: [1, 2]", 0, "4:14: ",
	    "connections: expected a single value, got a list" },
	{ BASE "retries:\n  - 1", 0, "5:3: ",
	    "retries: expected a single value, got a list" },
	{ "name: {a: b}\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: expected a single value, got a mapping" },
	{ BASE "exclude: {a: b}", 0, "4:10: ",
	    "exclude: expected a list of strings, got a mapping" },
	{ BASE "exclude: [a, [b]]", 0, "4:14: ",
	    "exclude: expected a string, got a list" },
	{ BASE "include: [a, {b: c}]", 0, "4:14: ",
	    "include: expected a string, got a mapping" },
	{ BASE "exclude: [a, \"\"]", 0, "4:14: ",
	    "exclude: entries must not be empty" },
	{ BASE "publish_last: ''", 0, "4:15: ",
	    "publish_last: entries must not be empty" },
	{ BASE "exclude: [a, \"b\\nc\"]", 0, "4:14: ",
	    "exclude: must not contain a line break" },
	{ "name: \"a\\0b\"\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: must not contain a NUL byte" },
	{ BASE "password: \"a\\0b\"", 0, "4:11: ",
	    "password: must not contain a NUL byte" },
	{ "name: x\nsource: ftp://h/\ntarget: \"a\\nb\"\n", 0, "3:9: ",
	    "target: must not contain a line break" },
	{ BASE "verify_command: |\n  clamscan {}\n", 0, "4:17: ",
	    "verify_command: must not contain a line break" },
	{ BASE "verify_command: \"a\\rb\"", 0, "4:17: ", "line break" },
	/* Anchors, aliases and tags. */
	{ "name: &n x\nsource: ftp://h/\ntarget: t\n", 0, "1:7: ",
	    "name: anchors and aliases are not allowed" },
	{ "name: x\nsource: ftp://h/\ntarget: t\nuser: *u\n", 0, "4:7: ",
	    "user: anchors and aliases are not allowed" },
	{ BASE "exclude: &l [a]", 0, "4:10: ",
	    "exclude: anchors and aliases" },
	{ BASE "exclude: [a, &e b]", 0, "4:14: ",
	    "exclude: anchors and aliases" },
	{ BASE "exclude: [a, *e]", 0, "4:14: ",
	    "exclude: anchors and aliases" },
	{ BASE "&k user: bob", 0, "4:1: ", "anchors and aliases" },
	{ "&m {name: x, source: ftp://h/, target: t}", 0, "1:1: ",
	    "anchors and aliases" },
	{ BASE "connections: !!int 4", 0, "4:14: ",
	    "connections: tags such as tag:yaml.org,2002:int are not allowed" },
	{ BASE "exclude: !!set [a]", 0, "4:10: ", "exclude: tags such as" },
	{ BASE "user: !custom bob", 0, "4:7: ", "tags such as !custom" },
	/* Broken YAML. */
	{ BASE "exclude: [a, b\n", 0, "5:1: ", "syntax error" },
	{ BASE "user: \"bob\n", 0, "5:1: ", "syntax error" },
	{ "name: x\n\tsource: y\n", 0, "2:1: ", "tab" },
	{ "name: x\nsource:\n\t- ftp://h/\n", 0, "3:1: ",
	    "(tabs are not allowed for indentation)" },
	{ BASE "user: [a\n  b: c", 0, "5:4: ",
	    "syntax error while parsing a flow sequence" },
	{ "name: x\n  source: y\n", 0, "2:9: ", "syntax error" },
	/* Not a job at all. */
	{ "", 0, "1:1: ", "empty job file" },
	{ "\n\n# only comments\n", 0, "1:1: ", "empty job file" },
	{ "---\n...\n", 0, "1:1: ", "empty job file" },
	{ "- name: x\n- source: y\n", 0, "1:1: ",
	    "expected a mapping of keys such as \"name: ...\", got a list" },
	{ "just a sentence\n", 0, "1:1: ", "got a string" },
	{ "\"quoted\"", 0, "1:1: ", "got a string" },
	{ BASE "---\nname: y\n", 0, "4:1: ",
	    "a job file holds one document, this is a second" },
	/* Binary junk. */
	{ "name: x\n\x01\x02\x03", 0, "2:1: ",
	    "not UTF-8 text: control characters are not allowed (#x1)" },
	{ "name: x\0source: y", 16, "1:8: ", "not UTF-8 text" },
	{ "\xff\xfe\x00n\x00", 5, "1:1: ", "not UTF-8 text" },
	{ "name: \xc3(\n", 0, "1:8: ", "invalid trailing UTF-8 octet" },
	{ "name: \xe2\x82\n", 0, "1:8: ", "not UTF-8 text" },
	{ "name: \xed\xa0\x80\n", 0, "1:7: ", "not UTF-8 text" },
	{ "\x7f" "ELF\x02\x01\x01", 0, "1:1: ", "not UTF-8 text" },
};

static void
test_errors(void **state)
{
	const struct error_case	*c;
	char			 where[64];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		c = &error_cases[i];
		snprintf(where, sizeof(where), "%s:%s", FILE_, c->where);
		parse_fails(FILE_, c->text, c->len != 0 ? c->len :
		    strlen(c->text), where, c->what);
	}
}

/* Errors are collected, not stopped at the first. */
static void
test_many_errors(void **state)
{
	struct job_errors	 errs = { NULL, 0 };
	static const char	*text = "name: .x\nsource: http://h/\n"
	    "connections: many\nretries: lots\ncolour: red\nretries: 2\n"
	    "target: /\nexclude: [\"\"]\n";
	static const char *const want[] = {
		FILE_ ":1:7: name: ",
		FILE_ ":2:9: source: ",
		FILE_ ":3:14: connections: ",
		FILE_ ":4:10: retries: ",
		FILE_ ":5:1: unknown key \"colour\"",
		FILE_ ":6:1: duplicate key \"retries\"",
		FILE_ ":7:9: target: ",
		FILE_ ":8:11: exclude: ",
	};
	size_t			 i;

	(void)state;
	assert_null(job_parse_buf(FILE_, text, strlen(text), &errs));
	assert_int_equal(errs.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < errs.n; i++)
		if (strncmp(errs.v[i], want[i], strlen(want[i])) != 0)
			fail_msg("error %zu: %s, want %s...", i, errs.v[i],
			    want[i]);

	/* errs is appended to, not reset. */
	assert_null(job_parse_buf(FILE_, "", 0, &errs));
	assert_int_equal(errs.n, sizeof(want) / sizeof(want[0]) + 1);
	job_errors_free(&errs);
	assert_int_equal(errs.n, 0);
	job_errors_free(&errs);
	job_errors_free(NULL);
	job_free(NULL);
}

/*
 * Hostile input.
 */

static char *
repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t	 hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char	*s;

	s = malloc(hl + ul * n + tl + 1);
	assert_non_null(s);
	memcpy(s, head, hl);
	for (i = 0; i < n; i++)
		memcpy(s + hl + i * ul, unit, ul);
	memcpy(s + hl + n * ul, tail, tl + 1);
	return s;
}

static void
test_hostile(void **state)
{
	struct job_errors	 errs = { NULL, 0 };
	const char		*lol;
	char			*s;
	size_t			 len, i;

	(void)state;

	/* Billion laughs: refused at the first anchor, nothing expanded. */
	lol = "name: x\nsource: ftp://h/\ntarget: t\n"
	    "exclude: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	    "include: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "publish_last: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
	parse_fails(FILE_, lol, strlen(lol), FILE_ ":4:10: ", "anchors");
	parse_fails(FILE_, lol, strlen(lol), FILE_ ":5:10: ", "anchors");
	parse_fails(FILE_, lol, strlen(lol), FILE_ ":6:16: ", "anchors");

	/* Deep nesting, in a known key and in an unknown one. */
	s = repeat(BASE "exclude: ", "[", 100000, "");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:11: ",
	    "exclude: expected a string, got a list");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:25: ", "nested more than "
	    "16 levels deep");
	free(s);
	s = repeat(BASE "x: ", "{a: ", 100000, "");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:", "nested more than");
	free(s);
	s = repeat(BASE "x:\n", " - ", 1000, "a\n");
	parse_fails(FILE_, s, strlen(s), FILE_ ":5:", "nested more than");
	free(s);
	s = repeat(BASE "x: ", "[", 15, "a]]]]]]]]]]]]]]]\n");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:1: ", "unknown key \"x\"");
	free(s);

	/* A scalar over the limit, and one at it. */
	s = repeat(BASE "verify_command: ", "x", 4097, "\n");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:17: ",
	    "verify_command: value longer than 4096 bytes");
	free(s);
	s = repeat(BASE "verify_command: ", "x", 4096, "\n");
	job_free(parse_ok(FILE_, s));
	free(s);
	s = repeat(BASE "exclude: [\"", "y", 100000, "\"]\n");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:11: ",
	    "exclude: value longer than 4096 bytes");
	free(s);
	s = repeat("", "k", 1000, ": 1\n" BASE);
	parse_fails(FILE_, s, strlen(s), FILE_ ":1:1: ", "unknown key \"kkkk");
	free(s);
	/* YAML itself caps implicit keys at 1024 characters. */
	s = repeat("", "k", 100000, ": 1\n" BASE);
	parse_fails(FILE_, s, strlen(s), FILE_ ":1:100001: ", "syntax error");
	free(s);

	/* A file over 1 MiB, even of blanks, is not read at all. */
	len = 1024 * 1024 + 1;
	s = malloc(len);
	assert_non_null(s);
	memset(s, ' ', len);
	memcpy(s, BASE, strlen(BASE));
	parse_fails(FILE_, s, len, FILE_ ": ", "larger than 1048576 bytes");
	job_free(parse_ok(FILE_, BASE));
	free(s);

	/* Lists are capped. */
	s = repeat(BASE "exclude: [", "a,", 10001, "]\n");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:", "exclude: more than "
	    "10000 entries");
	free(s);

	/* Floods of errors stop after 50. */
	s = repeat(BASE, "zz: 1\n", 1000, "");
	assert_null(job_parse_buf(FILE_, s, strlen(s), &errs));
	assert_int_equal(errs.n, 51);
	assert_string_equal(errs.v[50], FILE_ ": too many errors, giving up");
	job_errors_free(&errs);
	free(s);

	/* A NULL buffer is an empty file. */
	parse_fails(FILE_, NULL, 0, FILE_ ":1:1: ", "empty job file");

	/* A quoted value is escaped and cut short in messages. */
	s = repeat(BASE "listing: \"\\x01\\\"", "z", 500, "\"\n");
	parse_fails(FILE_, s, strlen(s), FILE_ ":4:10: ",
	    "got \"\\x01\\\"zzzz");
	assert_null(job_parse_buf(FILE_, s, strlen(s), &errs));
	assert_int_equal(errs.n, 1);
	assert_true(strlen(errs.v[0]) < 200);
	assert_non_null(strstr(errs.v[0], "...\""));
	job_errors_free(&errs);
	free(s);

	/* Every byte after a valid prefix: refused or accepted, sanely. */
	for (i = 0; i < 256; i++) {
		char	 t[64];
		int	 n;

		n = snprintf(t, sizeof(t), BASE "user: a");
		t[n++] = (char)i;
		t[n] = '\0';
		job_free(job_parse_buf(FILE_, t, (size_t)n, &errs));
		job_errors_free(&errs);
	}
}

/*
 * A crude fuzzer: random byte edits of a full job.  The sanitizers and
 * the checks here (errors iff no job, every error prefixed) are the test.
 */
static void
test_mutations(void **state)
{
	static const char *seed = "name: x\nsource: ftp://u@h:21/p\n"
	    "target: /srv/x\nincoming: in\nexclude: [\"*.tmp\", b]\n"
	    "include:\n  - c\nmax_delete: 1.5%\nbandwidth: 1K\n"
	    "schedule: every 6h\ntls: off\npassword_file: p\n";
	static const char alphabet[] = "[]{}:,-?&*!|>'\"#%@`\t\n \\0aZ9.";
	struct job_errors	 errs = { NULL, 0 };
	struct job		*job;
	char			 buf[512];
	size_t			 len, i, j, pos;
	uint32_t		 rnd = 12345;

	(void)state;
	for (i = 0; i < 20000; i++) {
		len = strlen(seed);
		memcpy(buf, seed, len);
		for (j = 0; j < 1 + i % 4; j++) {
			rnd = rnd * 1103515245u + 12345u;
			pos = (rnd >> 8) % len;
			rnd = rnd * 1103515245u + 12345u;
			if (rnd & 0x100)
				buf[pos] = alphabet[(rnd >> 10) %
				    (sizeof(alphabet) - 1)];
			else
				buf[pos] = (char)(rnd >> 16);
		}
		job = job_parse_buf(FILE_, buf, len, &errs);
		assert_true((job == NULL) == (errs.n > 0));
		for (j = 0; j < errs.n; j++)
			assert_true(strncmp(errs.v[j], FILE_ ":",
			    strlen(FILE_) + 1) == 0);
		job_free(job);
		job_errors_free(&errs);
	}
}

/*
 * job_parse_bytes.
 */

struct bytes_case {
	const char	*text;
	int		 rc;
	int64_t		 want;
};

static const struct bytes_case bytes_cases[] = {
	{ "0", 0, 0 },
	{ "1", 0, 1 },
	{ "500K", 0, 512000 },
	{ "500k", 0, 512000 },
	{ "10M", 0, 10485760 },
	{ "1G", 0, 1073741824 },
	{ "2t", 0, 2199023255552 },
	{ "0G", 0, 0 },
	{ "9223372036854775807", 0, INT64_MAX },
	{ "8388607T", 0, (int64_t)8388607 << 40 },
	{ "8388608T", -1, 0 },
	{ "9223372036854775808", -1, 0 },
	{ "8589934592G", -1, 0 },
	{ "", -1, 0 },
	{ "K", -1, 0 },
	{ "10MB", -1, 0 },
	{ "10 M", -1, 0 },
	{ "-1", -1, 0 },
	{ "+1", -1, 0 },
	{ " 1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "1.5M", -1, 0 },
	{ "1P", -1, 0 },
	{ "0x10", -1, 0 },
};

static void
test_parse_bytes(void **state)
{
	const struct bytes_case	*c;
	int64_t			 v;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bytes_cases) / sizeof(bytes_cases[0]); i++) {
		c = &bytes_cases[i];
		v = -42;
		if (job_parse_bytes(c->text, &v) != c->rc)
			fail_msg("\"%s\": want %d", c->text, c->rc);
		assert_int_equal(v, c->rc == 0 ? c->want : -42);
	}
	assert_int_equal(job_parse_bytes(NULL, &v), -1);
}

/*
 * job_load, in a directory made for it.
 */

struct tmp {
	char	 dir[256];		/* the temporary directory */
	char	 jobs[512];		/* DIR/jobs */
	char	 cwd[PATH_MAX];		/* to return to */
};

static void
put(const char *dir, const char *name, const char *text)
{
	char	 path[PATH_MAX * 2];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
load_setup(void **state)
{
	struct tmp	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	if (getcwd(t->cwd, sizeof(t->cwd)) == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%.200s/test_job.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->jobs, sizeof(t->jobs), "%s/jobs", t->dir);
	if (mkdir(t->jobs, 0755) == -1)
		return -1;
	put(t->jobs, "foo.yaml", "name: foo\nsource: ftp://h/\n"
	    "target: ../mirror/foo\npassword_file: foo.pass\nuser: bob\n");
	put(t->jobs, "foo.pass", "s3cret\r\nsecond line\n");
	put(t->jobs, "bar.yml", "name: bar\nsource: ftp://h/\n"
	    "target: /srv/b\n");
	put(t->jobs, "baz.yaml", "name: other\nsource: ftp://h/\n"
	    "target: /srv/z\n");
	put(t->jobs, "nopass.yaml", "name: nopass\nsource: ftp://h/\n"
	    "target: /srv/n\npassword_file: /nonexistent/pass\n");
	put(t->jobs, "emptypass.yaml", "name: emptypass\nsource: ftp://h/\n"
	    "target: /srv/n\npassword_file: empty.pass\n");
	put(t->jobs, "empty.pass", "");
	put(t->jobs, "ctlpass.yaml", "name: ctlpass\nsource: ftp://h/\n"
	    "target: /srv/n\npassword_file: ctl.pass\n");
	put(t->jobs, "ctl.pass", "a\tb\n");
	put(t->jobs, "dirpass.yaml", "name: dirpass\nsource: ftp://h/\n"
	    "target: /srv/n\nuser: bob\npassword_file: /\n");
	put(t->jobs, "envpass.yaml", "name: envpass\nsource: ftp://h/\n"
	    "target: /srv/n\npassword_env: FTPMIRROR_TEST_UNSET\n");
	put(t->jobs, "broken.yaml", "name: broken\nsource: http://h/\n"
	    "target: /srv/n\n");
	*state = t;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
load_teardown(void **state)
{
	struct tmp	*t = *state;
	int		 rc;

	if (chdir(t->cwd) == -1)
		return -1;
	rc = nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return rc;
}

/* job_load must fail with an error starting with where, holding what. */
static void
load_fails(const char *spec, const char *jobs, const char *where,
    const char *what)
{
	struct job_errors	 errs = { NULL, 0 };
	struct job		*job;
	size_t			 i;
	bool			 found = false;

	job = job_load(spec, jobs, &errs);
	if (job != NULL) {
		job_free(job);
		fail_msg("%s: loaded", spec);
	}
	for (i = 0; i < errs.n; i++)
		if (strncmp(errs.v[i], where, strlen(where)) == 0 &&
		    strstr(errs.v[i], what) != NULL)
			found = true;
	if (!found) {
		for (i = 0; i < errs.n; i++)
			print_error("  got: %s\n", errs.v[i]);
		fail_msg("%s: no error \"%s...%s\"", spec, where, what);
	}
	job_errors_free(&errs);
}

static struct job *
load_ok(const char *spec, const char *jobs)
{
	struct job_errors	 errs = { NULL, 0 };
	struct job		*job;
	size_t			 i;

	if ((job = job_load(spec, jobs, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			print_error("  got: %s\n", errs.v[i]);
		fail_msg("%s: not loaded", spec);
	}
	assert_int_equal(errs.n, 0);
	return job;
}

static void
test_load(void **state)
{
	struct tmp	*t = *state;
	struct job	*job;
	char		 want[PATH_MAX * 2], where[2048];
	char		 path[1024], cwd[PATH_MAX];

	/* By name: paths become absolute, the password is read. */
	job = load_ok("foo", t->jobs);
	snprintf(want, sizeof(want), "%s/foo.yaml", t->jobs);
	assert_string_equal(job->file, want);
	snprintf(want, sizeof(want), "%s/mirror/foo", t->dir);
	assert_string_equal(job->target, want);
	snprintf(want, sizeof(want), "%s/mirror/.foo.incoming", t->dir);
	assert_string_equal(job->incoming, want);
	snprintf(want, sizeof(want), "%s/foo.pass", t->jobs);
	assert_string_equal(job->password_file, want);
	assert_string_equal(job->password, "s3cret");
	job_free(job);

	/* By name, found as .yml. */
	job = load_ok("bar", t->jobs);
	assert_string_equal(job->name, "bar");
	job_free(job);

	/* By path: the name need not match the file's. */
	snprintf(path, sizeof(path), "%s/baz.yaml", t->jobs);
	job = load_ok(path, t->jobs);
	assert_string_equal(job->name, "other");
	job_free(job);

	/* By a path relative to the current directory. */
	assert_int_equal(chdir(t->dir), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	job = load_ok("jobs/foo.yaml", "/nonexistent");
	assert_string_equal(job->file, "jobs/foo.yaml");
	snprintf(want, sizeof(want), "%s/mirror/foo", cwd);
	assert_string_equal(job->target, want);
	assert_string_equal(job->password, "s3cret");
	job_free(job);
	assert_int_equal(chdir(t->jobs), 0);
	job = load_ok("bar.yml", NULL);
	assert_string_equal(job->file, "bar.yml");
	job_free(job);
	assert_int_equal(chdir(t->cwd), 0);

	/* An empty password file is an empty password. */
	job = load_ok("emptypass", t->jobs);
	assert_string_equal(job->password, "");
	job_free(job);

	/* Failures. */
	snprintf(where, sizeof(where), "no job nope in %s", t->jobs);
	load_fails("nope", t->jobs, where, "");
	snprintf(path, sizeof(path), "%s/nope.yaml", t->jobs);
	snprintf(where, sizeof(where), "%s: ", path);
	load_fails(path, t->jobs, where, "No such file or directory");
	load_fails("bad name!", t->jobs, "bad name!: ", "not a job name");
	load_fails(".hidden", t->jobs, ".hidden: ", "not a job name");
	snprintf(where, sizeof(where), "%s/baz.yaml:1:7: ", t->jobs);
	load_fails("baz", t->jobs, where,
	    "name: \"other\" differs from \"baz\"");
	/* Errors about password_file point at its value, as check promises. */
	snprintf(where, sizeof(where), "%s/nopass.yaml:4:16: ", t->jobs);
	load_fails("nopass", t->jobs, where, "password_file "
	    "/nonexistent/pass: No such file or directory");
	snprintf(where, sizeof(where), "%s/ctlpass.yaml:4:16: password_file "
	    "%s/ctl.pass: ", t->jobs, t->jobs);
	load_fails("ctlpass", t->jobs, where, "control characters");
	snprintf(where, sizeof(where), "%s/dirpass.yaml:5:16: password_file "
	    "/: ", t->jobs);
	load_fails("dirpass", t->jobs, where, "");
	unsetenv("FTPMIRROR_TEST_UNSET");
	snprintf(where, sizeof(where), "%s/envpass.yaml:4:15: password_env: ",
	    t->jobs);
	load_fails("envpass", t->jobs, where, "FTPMIRROR_TEST_UNSET is not set");
	snprintf(where, sizeof(where), "%s/broken.yaml:2:9: ", t->jobs);
	load_fails("broken", t->jobs, where, "source: expected an ftp://");
	snprintf(where, sizeof(where), "%s: ", t->jobs);
	load_fails(t->jobs, NULL, where, "Is a directory");
	load_fails("x", "/nonexistent", "no job x in /nonexistent", "");
}

static void
test_load_special(void **state)
{
	struct tmp	*t = *state;
	char		 path[1024], where[2048];
	char		*big;

	/* A FIFO would block a plain open(); it must be refused at once. */
	snprintf(path, sizeof(path), "%s/fifo.yaml", t->jobs);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(where, sizeof(where), "%s: ", path);
	load_fails(path, NULL, where, "not a regular file");
	load_fails("fifo", t->jobs, where, "not a regular file");

	/* Over 1 MiB. */
	big = repeat(BASE, "#", 1024 * 1024, "\n");
	put(t->jobs, "big.yaml", big);
	free(big);
	snprintf(path, sizeof(path), "%s/big.yaml", t->jobs);
	snprintf(where, sizeof(where), "%s: ", path);
	load_fails(path, NULL, where, "larger than 1048576 bytes");

	/* Unreadable (unless we are root, who reads everything). */
	if (geteuid() != 0) {
		put(t->jobs, "secret.yaml", BASE);
		snprintf(path, sizeof(path), "%s/secret.yaml", t->jobs);
		assert_int_equal(chmod(path, 0), 0);
		snprintf(where, sizeof(where), "%s: ", path);
		load_fails(path, NULL, where, "Permission denied");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_flow_mapping),
		cmocka_unit_test(test_bom_and_crlf),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test_setup_teardown(test_load, load_setup,
		    load_teardown),
		cmocka_unit_test_setup_teardown(test_load_special, load_setup,
		    load_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
