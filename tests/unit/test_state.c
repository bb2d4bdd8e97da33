/*
 * test_state.c: the state store against a real SQLite file in a fresh
 * mkdtemp directory per test.  What state.c writes is checked through a
 * connection of the test's own (the sqlite3 C API on the same file), so a
 * bug cannot hide behind the API reading back its own mistake.  The
 * deletion rule (which vanished paths a run may delete) gets the most
 * cases: a wrong answer there deletes a mirror.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "listing.h"
#include "schema.h"
#include "state.h"

#define T0	1659353540	/* 2022-08-01T11:32:20Z */
#define JOB	"alpha"
#define OTHER	"beta"
#define NROWS(a)	(sizeof(a) / sizeof((a)[0]))

/* One temporary directory holding the database (and its -wal, -shm). */
struct fixture {
	char		 dir[64];	/* mkdtemp */
	char		 db[128];	/* dir/state.db */
	struct state	*st;		/* open handle, closed by teardown */
};

static int
setup(void **vfx)
{
	struct fixture *fx;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_state.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof(fx->db), "%s/state.db", fx->dir);
	*vfx = fx;
	return 0;
}

/* Close what a (possibly failed) test left open; remove the directory. */
static int
teardown(void **vfx)
{
	struct fixture *fx = *vfx;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	state_close(fx->st);
	if ((d = opendir(fx->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) == -1 &&
			    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == -1)
				rc = -1;
		}
		closedir(d);
	}
	if (rmdir(fx->dir) == -1)
		rc = -1;
	free(fx);
	return rc;
}

/* ---- helpers ---- */

/* Join dir and name into buf. */
static const char *
in_dir(const struct fixture *fx, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", fx->dir, name);
	return buf;
}

/* Run sql (no rows wanted) on path through a connection of our own. */
static void
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		print_error("%s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
	assert_int_equal(rc, SQLITE_OK);
}

/*
 * Run sql on path through a connection of our own and put its rows into
 * out as text: columns joined by '|', each row ended by '\n', NULL as
 * "NULL".
 */
static const char *
sql_rows(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	const char *t;
	size_t off = 0;
	int i, n, rc;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		print_error("%s: %s\n", sql, sqlite3_errmsg(db));
	assert_int_equal(rc, SQLITE_OK);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n = sqlite3_column_count(s);
		for (i = 0; i < n; i++) {
			t = (const char *)sqlite3_column_text(s, i);
			off += (size_t)snprintf(out + off, len - off, "%s%s",
			    i ? "|" : "", t ? t : "NULL");
			assert_true(off < len);
		}
		off += (size_t)snprintf(out + off, len - off, "\n");
		assert_true(off < len);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	assert_int_equal(rc, SQLITE_DONE);
	return out;
}

/* Add path to the scan of job with plausible fields for its type. */
static void
scan_put(struct state *st, const char *job, const char *path, char type,
    enum scan_state state)
{
	struct scan_row row;
	const char *slash = strrchr(path, '/');
	char parent[256];
	const char *p;
	size_t n;

	n = slash ? (size_t)(slash - path) : 0;
	assert_true(n < sizeof(parent));
	memcpy(parent, path, n);
	parent[n] = '\0';
	memset(&row, 0, sizeof(row));
	row.depth = 0;
	if (path[0] != '\0')
		for (row.depth = 1, p = path; *p; p++)
			row.depth += *p == '/';
	row.type = type;
	row.size = type == 'f' ? 10 : -1;
	row.mtime = T0;
	row.mtime_prec = MTIME_SECOND;
	row.state = state;
	row.action = SCAN_ACTION_NONE;
	assert_int_equal(state_scan_add(st, job, parent, path,
	    type == 'l' ? "target" : NULL, NULL, &row), 0);
}

/* A row of a tree: one scan entry. */
struct tree_row {
	const char	*path;
	char		 type;
	enum scan_state	 state;
};

static void
scan_load(struct state *st, const char *job, const struct tree_row *rows,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		scan_put(st, job, rows[i].path, rows[i].type, rows[i].state);
}

/* Make rows the mirrored tree of job (as run_id), leaving scan empty. */
static void
files_load(struct state *st, const char *job, const struct tree_row *rows,
    size_t n, int64_t run_id)
{
	assert_int_equal(state_scan_reset(st, job), 0);
	scan_load(st, job, rows, n);
	assert_int_equal(state_files_update_from_scan(st, job, run_id), 0);
	assert_int_equal(state_scan_reset(st, job), 0);
}

/* Empty files, behind the handle's back (its batch committed first). */
static void
files_clear(struct fixture *fx)
{
	assert_int_equal(state_commit(fx->st), 0);
	sql_exec(fx->db, "DELETE FROM files");
}

/* Vanished paths collected as "path type\n" lines. */
struct vanished {
	char	text[2048];
	size_t	off;
	int	n;
};

static int
vanished_add(void *arg, const char *path, char type)
{
	struct vanished *v = arg;

	if (v->off < sizeof(v->text))
		v->off += (size_t)snprintf(v->text + v->off,
		    sizeof(v->text) - v->off, "%s %c\n", path, type);
	v->n++;
	return 0;
}

/* Deleting from files as publish.c does, inside the callback. */
struct deleter {
	struct state	*st;
	const char	*job;
	int64_t		 deleted;	/* files (not dirs) forgotten */
	int		 calls;
};

static int
vanished_delete(void *arg, const char *path, char type)
{
	struct deleter *d = arg;
	int64_t n;

	(void)type;
	d->calls++;
	if ((n = state_files_count_below(d->st, d->job, path)) < 0 ||
	    state_files_delete_below(d->st, d->job, path) == -1)
		return -1;
	d->deleted += n;
	return 0;
}

/* ---- opening ---- */

/* The newest schema version, as sqlite3 prints it. */
static const char *
latest_version(void)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%d\n",
	    schema_steps[schema_nsteps - 1].version);
	return buf;
}

static void
test_open_creates_schema(void **vfx)
{
	struct fixture *fx = *vfx;
	char out[512];

	fx->st = state_open(fx->db, false);
	assert_non_null(fx->st);
	state_close(fx->st);
	fx->st = NULL;

	assert_string_equal(sql_rows(fx->db, "PRAGMA user_version", out,
	    sizeof(out)), latest_version());
	assert_string_equal(sql_rows(fx->db, "SELECT name FROM sqlite_master "
	    "WHERE type = 'table' ORDER BY name", out, sizeof(out)),
	    "events\nfiles\nruns\nscan\nstaged\n");
	assert_string_equal(sql_rows(fx->db, "PRAGMA journal_mode", out,
	    sizeof(out)), "wal\n");

	/* Reopening an up-to-date database changes nothing. */
	fx->st = state_open(fx->db, false);
	assert_non_null(fx->st);
	state_close(fx->st);
	fx->st = NULL;
	assert_string_equal(sql_rows(fx->db, "PRAGMA user_version", out,
	    sizeof(out)), latest_version());
	assert_string_equal(sql_rows(fx->db, "SELECT count(*) FROM "
	    "sqlite_master WHERE type = 'table'", out, sizeof(out)), "5\n");
}

static void
test_open_refuses_newer(void **vfx)
{
	struct fixture *fx = *vfx;
	char out[64];

	fx->st = state_open(fx->db, false);
	assert_non_null(fx->st);
	state_close(fx->st);
	fx->st = NULL;
	sql_exec(fx->db, "PRAGMA user_version = 99");

	assert_null(state_open(fx->db, false));
	assert_null(state_open(fx->db, true));
	/* Refused means untouched. */
	assert_string_equal(sql_rows(fx->db, "PRAGMA user_version", out,
	    sizeof(out)), "99\n");
}

/* Files that are not SQLite databases, each written where the db goes. */
struct junk_row {
	const char	*what;
	const char	*head;		/* first bytes, NULL: none */
	size_t		 headlen;
	size_t		 len;		/* total, the rest 0xa5 */
};

static void
test_open_refuses_junk(void **vfx)
{
	static const struct junk_row rows[] = {
		{ "short text", "not a database\n", 15, 15 },
		{ "a page of 0xa5", NULL, 0, 4096 },
		{ "many pages of 0xa5", NULL, 0, 65536 },
		{ "SQLite magic, then junk", "SQLite format 3", 16, 4096 },
		{ "magic, 4096-byte pages, junk", "SQLite format 3\0\x10\x00",
		  18, 8192 },
	};
	struct fixture *fx = *vfx;
	unsigned char *want, *got;
	char path[160];
	struct stat sb;
	size_t i;
	FILE *f;

	for (i = 0; i < NROWS(rows); i++) {
		print_message("junk: %s\n", rows[i].what);
		want = malloc(rows[i].len);
		got = malloc(rows[i].len + 1);
		assert_non_null(want);
		assert_non_null(got);
		memset(want, 0xa5, rows[i].len);
		if (rows[i].head)
			memcpy(want, rows[i].head, rows[i].headlen);
		in_dir(fx, "junk.db", path, sizeof(path));
		assert_non_null(f = fopen(path, "wb"));
		assert_int_equal(fwrite(want, 1, rows[i].len, f), rows[i].len);
		assert_int_equal(fclose(f), 0);

		assert_null(state_open(path, false));
		assert_null(state_open(path, true));

		/* The junk is left exactly as it was. */
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal((size_t)sb.st_size, rows[i].len);
		assert_non_null(f = fopen(path, "rb"));
		assert_int_equal(fread(got, 1, rows[i].len + 1, f),
		    rows[i].len);
		fclose(f);
		assert_memory_equal(got, want, rows[i].len);
		free(want);
		free(got);
		unlink(path);
	}

	/* A directory where the file should be, a directory that is missing. */
	assert_null(state_open(fx->dir, false));
	assert_null(state_open(in_dir(fx, "no/such/dir.db", path,
	    sizeof(path)), false));
}

/* ---- runs and events ---- */

#define HMAX	8

/* What state_history reported, copied out of the callback. */
struct hist {
	int			 n;
	int64_t			 id[HMAX];
	char			 job[HMAX][16];
	char			 status[HMAX][16];
	bool			 finished[HMAX];
	struct run_counts	 counts[HMAX];
	char			 message[HMAX][96];
};

static void
hist_add(void *arg, const struct run_info *r)
{
	struct hist *h = arg;

	if (h->n < HMAX) {
		h->id[h->n] = r->id;
		snprintf(h->job[h->n], sizeof(h->job[0]), "%s", r->job);
		snprintf(h->status[h->n], sizeof(h->status[0]), "%s",
		    r->status);
		h->finished[h->n] = r->finished_at != NULL;
		h->counts[h->n] = r->counts;
		snprintf(h->message[h->n], sizeof(h->message[0]), "%s",
		    r->message ? r->message : "NULL");
	}
	h->n++;
}

static struct hist
history(struct state *st, const char *job, int limit)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	assert_int_equal(state_history(st, job, limit, hist_add, &h), 0);
	return h;
}

static void
test_runs(void **vfx)
{
	struct fixture *fx = *vfx;
	const struct run_counts c1 = { 1, 2, 3, 4, 0 };
	const struct run_counts c2 = { 5, 6, 7, 8, 2 };
	const struct run_counts zero = { 0, 0, 0, 0, 0 };
	int64_t a1, b1, a2, b2;
	struct hist h;
	char out[1024], sql[256];

	assert_non_null(fx->st = state_open(fx->db, false));
	assert_int_equal(state_run_begin(fx->st, JOB, "ftp://a/", &a1), 0);
	assert_int_equal(state_run_begin(fx->st, OTHER, "ftp://b/", &b1), 0);
	assert_int_equal(state_run_begin(fx->st, JOB, "ftp://a/", &a2), 0);
	assert_true(a1 < b1 && b1 < a2);

	/* run_begin commits: another connection sees the run at once. */
	snprintf(sql, sizeof(sql), "SELECT job, status, source, pid = %ld, "
	    "started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T"
	    "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z', finished_at FROM runs "
	    "ORDER BY id", (long)getpid());
	assert_string_equal(sql_rows(fx->db, sql, out, sizeof(out)),
	    JOB "|running|ftp://a/|1|1|NULL\n"
	    OTHER "|running|ftp://b/|1|1|NULL\n"
	    JOB "|running|ftp://a/|1|1|NULL\n");

	assert_int_equal(state_run_finish(fx->st, a1, "ok", &c1, NULL), 0);
	assert_int_equal(state_run_finish(fx->st, b1, "partial", &c2,
	    "2 transfers failed"), 0);

	/* Newest first, all jobs. */
	h = history(fx->st, NULL, 10);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.id[0], a2);
	assert_int_equal(h.id[1], b1);
	assert_int_equal(h.id[2], a1);
	assert_string_equal(h.status[0], "running");
	assert_false(h.finished[0]);
	assert_string_equal(h.job[1], OTHER);
	assert_string_equal(h.status[1], "partial");
	assert_true(h.finished[1]);
	assert_string_equal(h.message[1], "2 transfers failed");
	assert_int_equal(h.counts[1].added, 5);
	assert_int_equal(h.counts[1].changed, 6);
	assert_int_equal(h.counts[1].deleted, 7);
	assert_int_equal(h.counts[1].bytes, 8);
	assert_int_equal(h.counts[1].errors, 2);
	assert_string_equal(h.status[2], "ok");
	assert_string_equal(h.message[2], "NULL");
	assert_int_equal(h.counts[2].added, 1);
	assert_int_equal(h.counts[2].bytes, 4);

	/* limit and the job filter. */
	h = history(fx->st, NULL, 2);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.id[0], a2);
	assert_int_equal(h.id[1], b1);
	h = history(fx->st, JOB, 10);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.id[0], a2);
	assert_int_equal(h.id[1], a1);
	h = history(fx->st, JOB, 1);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.id[0], a2);
	h = history(fx->st, "nobody", 10);
	assert_int_equal(h.n, 0);
	h = history(fx->st, "alph", 10);	/* no prefix matching */
	assert_int_equal(h.n, 0);

	/* reap: the job's running rows only. */
	assert_int_equal(state_run_begin(fx->st, OTHER, "ftp://b/", &b2), 0);
	assert_int_equal(state_run_reap(fx->st, JOB), 0);
	h = history(fx->st, NULL, 10);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.id[0], b2);
	assert_string_equal(h.status[0], "running");
	assert_int_equal(h.id[1], a2);
	assert_string_equal(h.status[1], "aborted");
	assert_string_not_equal(h.message[1], "NULL");
	assert_string_equal(h.status[2], "partial");	/* b1 */
	assert_string_equal(h.message[2], "2 transfers failed");
	assert_string_equal(h.status[3], "ok");		/* a1 */
	assert_string_equal(h.message[3], "NULL");
	/* Reaping again, or a job with no runs, is harmless. */
	assert_int_equal(state_run_reap(fx->st, JOB), 0);
	assert_int_equal(state_run_reap(fx->st, "nobody"), 0);

	/* The status CHECK holds. */
	assert_int_equal(state_run_finish(fx->st, b2, "bogus", &zero, NULL),
	    -1);

	/* What close committed is what the next process sees. */
	state_close(fx->st);
	fx->st = NULL;
	assert_string_equal(sql_rows(fx->db, "SELECT id, status FROM runs "
	    "ORDER BY id", out, sizeof(out)), "1|ok\n2|partial\n3|aborted\n"
	    "4|running\n");
	assert_int_equal(a1, 1);
}

static void
test_events(void **vfx)
{
	struct fixture *fx = *vfx;
	int64_t run;
	char out[1024];

	assert_non_null(fx->st = state_open(fx->db, false));
	assert_int_equal(state_run_begin(fx->st, JOB, "ftp://a/", &run), 0);
	assert_int_equal(state_event(fx->st, run, "dir/file", "add", 123,
	    NULL), 0);
	assert_int_equal(state_event(fx->st, run, "caf\xc3\xa9 x", "change",
	    0, "resumed"), 0);
	assert_int_equal(state_event(fx->st, run, "old", "delete", -1,
	    "directory"), 0);
	/* events.run_id references runs. */
	assert_int_equal(state_event(fx->st, run + 1000, "x", "add", 1, NULL),
	    -1);
	assert_int_equal(state_commit(fx->st), 0);

	assert_string_equal(sql_rows(fx->db, "SELECT run_id, path, action, "
	    "bytes, detail, time GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-"
	    "[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' FROM events "
	    "ORDER BY id", out, sizeof(out)),
	    "1|dir/file|add|123|NULL|1\n"
	    "1|caf\xc3\xa9 x|change|0|resumed|1\n"
	    "1|old|delete|NULL|directory|1\n");
}

/* ---- scan as the work queue ---- */

/* The next row claimed from state at now is path: returns its id. */
static int64_t
claim_is(struct state *st, enum scan_state state, int64_t now,
    const char *path)
{
	struct scan_row got;
	int64_t id;

	assert_int_equal(state_scan_claim(st, state, now, &got), 1);
	assert_string_equal(got.path, path);
	id = got.id;
	state_scan_row_clear(&got);
	return id;
}

/* Put row id back in waiting directory state, try tries, due at at. */
static void
put_dir(struct state *st, int64_t id, int tries, int64_t at)
{
	assert_int_equal(state_scan_set(st, id, SCAN_DIR_PENDING, tries, at),
	    0);
}

/* The next pending directory is due at when (-1: none waits). */
static void
next_dir_due(struct state *st, int64_t when)
{
	int64_t got = -1;

	assert_int_equal(state_scan_next_retry(st, SCAN_DIR_PENDING, &got),
	    when == -1 ? 0 : 1);
	if (when != -1)
		assert_int_equal(got, when);
}

/* Nothing in state can be claimed at now. */
static void
claim_none(struct state *st, enum scan_state state, int64_t now)
{
	struct scan_row got;

	assert_int_equal(state_scan_claim(st, state, now, &got), 0);
}

static void
test_scan_queue(void **vfx)
{
	struct fixture *fx = *vfx;
	struct scan_row row, got;
	int64_t now = T0, id_root, id_c, id_a, id_b, id_f, id_chk, when = -1;

	assert_non_null(fx->st = state_open(fx->db, false));
	memset(&row, 0, sizeof(row));
	row.type = 'd';
	row.size = -1;
	row.state = SCAN_DIR_PENDING;
	row.action = SCAN_ACTION_NONE;
	/* OTHER's rows are added through another handle (another process). */
	assert_int_equal(state_scan_add(fx->st, OTHER, "", "a", NULL, NULL, &row),
	    0);
	assert_int_equal(state_scan_reset(fx->st, JOB), 0);
	assert_int_equal(state_scan_add(fx->st, JOB, "", "", NULL, NULL, &row), 0);
	row.depth = 1;
	row.action = SCAN_ACTION_ADD;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "c", NULL, NULL, &row), 0);
	assert_int_equal(state_scan_add(fx->st, JOB, "", "a", NULL, NULL, &row), 0);
	assert_int_equal(state_scan_add(fx->st, JOB, "", "b", NULL, NULL, &row), 0);
	row.type = 'f';
	row.size = 10;
	row.mtime = T0;
	row.mtime_prec = MTIME_SECOND;
	row.state = SCAN_FILE_FETCH;
	row.action = SCAN_ACTION_CHANGE;
	row.tries = 7;		/* not stored: a new row has tried nothing */
	row.id = 999;		/* ignored */
	assert_int_equal(state_scan_add(fx->st, JOB, "c", "c/f1", NULL, NULL, &row),
	    0);
	/* A listing naming an entry twice: 1, and the first row stays. */
	assert_int_equal(state_scan_add(fx->st, JOB, "c", "c/f1", NULL, NULL, &row),
	    1);
	row.type = 'd';
	row.state = SCAN_DIR_PENDING;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "a", NULL, NULL, &row), 1);
	row.type = 'l';
	row.size = -1;
	row.state = SCAN_LINK;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "l", "../x", NULL, &row), 0);

	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_DIR_PENDING), 4);
	assert_int_equal(state_scan_count(fx->st, OTHER, SCAN_DIR_PENDING), 1);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_FILE_FETCH), 1);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_DIR_DONE), 0);
	assert_int_equal(state_scan_count(fx->st, "nobody", SCAN_DIR_PENDING),
	    0);
	/* Only the waiting states are queues. */
	assert_int_equal(state_scan_claim(fx->st, SCAN_LINK, now, &got), -1);
	assert_int_equal(state_scan_next_retry(fx->st, SCAN_DIR_DONE, &when),
	    -1);

	/* Oldest first: the root, with every field read back. */
	assert_int_equal(state_scan_claim(fx->st, SCAN_DIR_PENDING, now, &got),
	    1);
	assert_string_equal(got.path, "");
	assert_null(got.link_target);
	assert_int_equal(got.depth, 0);
	assert_int_equal(got.type, 'd');
	assert_int_equal(got.size, -1);
	assert_int_equal(got.state, SCAN_DIR_PENDING);
	assert_int_equal(got.action, SCAN_ACTION_NONE);
	assert_int_equal(got.tries, 0);
	id_root = got.id;
	state_scan_row_clear(&got);
	assert_null(got.path);
	assert_int_equal(state_scan_set(fx->st, id_root, SCAN_DIR_DONE, 0, 0),
	    0);

	/* A claimed row is not handed out again; the table still says waiting. */
	id_c = claim_is(fx->st, SCAN_DIR_PENDING, now, "c");	/* by id */
	id_a = claim_is(fx->st, SCAN_DIR_PENDING, now, "a");
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_DIR_PENDING), 3);

	/* A retry waits for its time. */
	put_dir(fx->st, id_a, 1, now + 60);
	next_dir_due(fx->st, 0);	/* b may run at once */
	id_b = claim_is(fx->st, SCAN_DIR_PENDING, now, "b");
	next_dir_due(fx->st, now + 60);
	claim_none(fx->st, SCAN_DIR_PENDING, now + 59);
	assert_int_equal(state_scan_claim(fx->st, SCAN_DIR_PENDING, now + 60,
	    &got), 1);
	assert_string_equal(got.path, "a");
	assert_int_equal(got.tries, 1);
	state_scan_row_clear(&got);
	next_dir_due(fx->st, -1);

	/* Retries by time, soonest first; the older row first at one time. */
	put_dir(fx->st, id_a, 2, now + 40);
	put_dir(fx->st, id_b, 2, now + 30);
	next_dir_due(fx->st, now + 30);
	claim_none(fx->st, SCAN_DIR_PENDING, now + 29);
	claim_is(fx->st, SCAN_DIR_PENDING, now + 40, "b");
	claim_is(fx->st, SCAN_DIR_PENDING, now + 40, "a");
	put_dir(fx->st, id_b, 3, now + 45);
	put_dir(fx->st, id_a, 3, now + 45);
	claim_is(fx->st, SCAN_DIR_PENDING, now + 45, "a");
	claim_is(fx->st, SCAN_DIR_PENDING, now + 45, "b");
	/* Put back with a later time: the earlier one no longer counts... */
	put_dir(fx->st, id_a, 4, now + 50);
	put_dir(fx->st, id_a, 4, now + 70);
	next_dir_due(fx->st, now + 70);
	claim_none(fx->st, SCAN_DIR_PENDING, now + 69);
	/* ...and a row set to another state leaves its retry behind. */
	assert_int_equal(state_scan_set(fx->st, id_a, SCAN_DIR_FAILED, 3, 0), 0);
	next_dir_due(fx->st, -1);

	/* Put back at once, claimed again; twice put, handed out once. */
	put_dir(fx->st, id_c, 0, 0);
	put_dir(fx->st, id_c, 0, 0);
	claim_is(fx->st, SCAN_DIR_PENDING, now, "c");
	claim_none(fx->st, SCAN_DIR_PENDING, now);
	/* A row that left the state while queued is skipped. */
	put_dir(fx->st, id_b, 0, 0);
	assert_int_equal(state_scan_set(fx->st, id_b, SCAN_DIR_DONE, 0, 0), 0);
	assert_int_equal(state_scan_next_retry(fx->st, SCAN_DIR_PENDING, &when),
	    1);				/* not known to be stale yet */
	claim_none(fx->st, SCAN_DIR_PENDING, now);
	next_dir_due(fx->st, -1);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_DIR_PENDING), 1);

	/* The file: its fields, the first add's, and the MDTM update. */
	assert_int_equal(state_scan_claim(fx->st, SCAN_FILE_FETCH, now, &got),
	    1);
	assert_string_equal(got.path, "c/f1");
	assert_int_equal(got.type, 'f');
	assert_int_equal(got.size, 10);
	assert_int_equal(got.mtime, T0);
	assert_int_equal(got.mtime_prec, MTIME_SECOND);
	assert_int_equal(got.action, SCAN_ACTION_CHANGE);
	assert_int_equal(got.tries, 0);
	assert_int_equal(got.depth, 1);
	id_f = got.id;
	state_scan_row_clear(&got);
	assert_int_equal(state_scan_set_mtime(fx->st, id_f, T0 - 42,
	    MTIME_MINUTE, T0), 0);
	assert_int_equal(state_scan_set(fx->st, id_f, SCAN_FILE_FETCH, 1, 0), 0);
	assert_int_equal(state_scan_claim(fx->st, SCAN_FILE_FETCH, now, &got),
	    1);
	assert_int_equal(got.mtime, T0 - 42);
	assert_int_equal(got.mtime_prec, MTIME_MINUTE);
	assert_int_equal(got.tries, 1);
	state_scan_row_clear(&got);

	/* A row made another type in a waiting state joins its queue... */
	claim_none(fx->st, SCAN_FILE_CHECK, now);
	row.type = 'f';
	row.size = 5;
	row.state = SCAN_FILE_CHECK;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "chk", NULL, NULL,
	    &row), 0);
	id_chk = claim_is(fx->st, SCAN_FILE_CHECK, now, "chk");
	assert_int_equal(state_scan_set_type(fx->st, id_chk, 'd',
	    SCAN_DIR_PENDING), 0);
	claim_is(fx->st, SCAN_DIR_PENDING, now, "chk");
	/* ...and a forgotten one leaves it. */
	assert_int_equal(state_scan_set(fx->st, id_chk, SCAN_FILE_HASH, 0, 0),
	    0);
	assert_int_equal(state_scan_forget(fx->st, id_chk), 0);
	claim_none(fx->st, SCAN_FILE_HASH, now);

	/* reset empties the job's scan and the queue. */
	put_dir(fx->st, id_c, 0, 0);
	assert_int_equal(state_scan_reset(fx->st, JOB), 0);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_DIR_PENDING), 0);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_FILE_FETCH), 0);
	claim_none(fx->st, SCAN_DIR_PENDING, now + 1000);
	assert_int_equal(state_scan_count(fx->st, OTHER, SCAN_DIR_PENDING), 1);
	/* After a reset the same paths can be added again. */
	row.type = 'd';
	row.state = SCAN_DIR_PENDING;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "a", NULL, NULL, &row), 0);
	claim_is(fx->st, SCAN_DIR_PENDING, now, "a");
}

/* What is left of a queue: waiting, or claimed and in flight. */
static void
test_scan_unfinished(void **vfx)
{
	struct fixture *fx = *vfx;
	struct scan_row row;
	int64_t now = T0, id_a, id_b;

	assert_non_null(fx->st = state_open(fx->db, false));
	assert_int_equal(state_scan_reset(fx->st, JOB), 0);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_DIR_PENDING), 0);
	/* Not a queue: nothing to do there. */
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_LINK), 0);
	memset(&row, 0, sizeof(row));
	row.type = 'd';
	row.size = -1;
	row.state = SCAN_DIR_PENDING;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "a", NULL, NULL, &row),
	    0);
	assert_int_equal(state_scan_add(fx->st, JOB, "", "b", NULL, NULL, &row),
	    0);
	row.type = 'f';
	row.size = 1;
	row.state = SCAN_FILE_FETCH;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "f", NULL, NULL, &row),
	    0);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_DIR_PENDING), 2);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_FILE_FETCH), 1);

	/* Claimed, a row is still to do, until its next state. */
	id_a = claim_is(fx->st, SCAN_DIR_PENDING, now, "a");
	id_b = claim_is(fx->st, SCAN_DIR_PENDING, now, "b");
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_DIR_PENDING), 2);
	assert_int_equal(state_scan_set(fx->st, id_a, SCAN_DIR_DONE, 1, 0), 0);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_DIR_PENDING), 1);
	/* A retry waits in the queue again. */
	put_dir(fx->st, id_b, 1, now + 60);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_DIR_PENDING), 1);
	claim_is(fx->st, SCAN_DIR_PENDING, now + 60, "b");
	assert_int_equal(state_scan_forget(fx->st, id_b), 0);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_DIR_PENDING), 0);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_FILE_FETCH), 1);

	/* reset forgets the claims too. */
	claim_is(fx->st, SCAN_FILE_FETCH, now, "f");
	assert_int_equal(state_scan_reset(fx->st, JOB), 0);
	assert_int_equal(state_scan_unfinished(fx->st, SCAN_FILE_FETCH), 0);
}

/* Many retries come back in the order of their times, then of ids. */
static void
test_scan_retry_order(void **vfx)
{
	struct fixture *fx = *vfx;
	struct scan_row row, got;
	int64_t now = T0, id[40], at[40], when, prev_at = 0, prev_id = 0;
	char path[16];
	int i, j;

	assert_non_null(fx->st = state_open(fx->db, false));
	memset(&row, 0, sizeof(row));
	row.type = 'f';
	row.size = 1;
	row.state = SCAN_FILE_FETCH;
	for (i = 0; i < 40; i++) {
		snprintf(path, sizeof(path), "f%02d", i);
		assert_int_equal(state_scan_add(fx->st, JOB, "", path, NULL,
		    NULL, &row), 0);
	}
	for (i = 0; i < 40; i++) {
		assert_int_equal(state_scan_claim(fx->st, SCAN_FILE_FETCH, now,
		    &got), 1);
		id[i] = got.id;
		state_scan_row_clear(&got);
	}
	/* Scattered times, some shared. */
	for (i = 0; i < 40; i++) {
		at[i] = now + 1 + (i * 17) % 13;
		assert_int_equal(state_scan_set(fx->st, id[i], SCAN_FILE_FETCH,
		    1, at[i]), 0);
	}
	assert_int_equal(state_scan_next_retry(fx->st, SCAN_FILE_FETCH, &when),
	    1);
	assert_int_equal(when, now + 1);
	for (i = 0; i < 40; i++) {
		assert_int_equal(state_scan_claim(fx->st, SCAN_FILE_FETCH,
		    now + 100, &got), 1);
		for (j = 0; j < 40 && id[j] != got.id; j++)
			;
		assert_true(j < 40);
		assert_true(at[j] > prev_at ||
		    (at[j] == prev_at && got.id > prev_id));
		prev_at = at[j];
		prev_id = got.id;
		state_scan_row_clear(&got);
	}
	claim_none(fx->st, SCAN_FILE_FETCH, now + 100);
	assert_int_equal(state_scan_next_retry(fx->st, SCAN_FILE_FETCH, &when),
	    0);
}

/* What state_scan_foreach visited, one path per line. */
struct visits {
	char	text[1024];
	size_t	off;
	int	n;
	int	stop_at;	/* return -1 on this visit (1-based), 0 never */
};

static int
visit(void *arg, const struct scan_row *row)
{
	struct visits *v = arg;

	v->n++;
	if (v->off < sizeof(v->text))
		v->off += (size_t)snprintf(v->text + v->off,
		    sizeof(v->text) - v->off, "%s\n", row->path);
	return v->n == v->stop_at ? -1 : 0;
}

static void
test_scan_foreach(void **vfx)
{
	/* Added in this (scrambled) order. */
	static const struct tree_row rows[] = {
		{ "b/c", 'f', SCAN_FILE_UNCHANGED },
		{ "\xff", 'f', SCAN_FILE_UNCHANGED },	/* not UTF-8 */
		{ "a b", 'd', SCAN_DIR_DONE },
		{ "z", 'f', SCAN_FILE_FETCH },		/* not asked for */
		{ "a/x", 'd', SCAN_DIR_DONE },
		{ "caf\xc3\xa9/d", 'f', SCAN_FILE_UNCHANGED },
		{ "a", 'd', SCAN_DIR_DONE },
		{ "", 'd', SCAN_DIR_DONE },
		{ "a/x/y", 'f', SCAN_FILE_UNCHANGED },
		{ "ab", 'f', SCAN_FILE_UNCHANGED },
		{ "caf\xc3\xa9", 'd', SCAN_DIR_DONE },
		{ "a.txt", 'f', SCAN_FILE_UNCHANGED },
		{ " lead", 'f', SCAN_FILE_UNCHANGED },
		{ "b", 'd', SCAN_DIR_DONE },
		{ "a b/in space", 'f', SCAN_FILE_UNCHANGED },
		{ "pending", 'd', SCAN_DIR_PENDING },	/* not asked for */
	};
	static const enum scan_state want[] = { SCAN_DIR_DONE,
	    SCAN_FILE_UNCHANGED };
	static const enum scan_state dirs[] = { SCAN_DIR_DONE };
	struct fixture *fx = *vfx;
	struct visits v;

	assert_non_null(fx->st = state_open(fx->db, false));
	scan_load(fx->st, JOB, rows, NROWS(rows));
	scan_put(fx->st, OTHER, "a/other", 'f', SCAN_FILE_UNCHANGED);

	/* Byte order: every parent before its children. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(state_scan_foreach(fx->st, JOB, want, NROWS(want),
	    visit, &v), 0);
	assert_string_equal(v.text,
	    "\n"
	    " lead\n"
	    "a\n"
	    "a b\n"
	    "a b/in space\n"
	    "a.txt\n"
	    "a/x\n"
	    "a/x/y\n"
	    "ab\n"
	    "b\n"
	    "b/c\n"
	    "caf\xc3\xa9\n"
	    "caf\xc3\xa9/d\n"
	    "\xff\n");

	memset(&v, 0, sizeof(v));
	assert_int_equal(state_scan_foreach(fx->st, JOB, dirs, NROWS(dirs),
	    visit, &v), 0);
	assert_string_equal(v.text, "\na\na b\na/x\nb\ncaf\xc3\xa9\n");

	/* fn returning -1 stops the walk with -1. */
	memset(&v, 0, sizeof(v));
	v.stop_at = 3;
	assert_int_equal(state_scan_foreach(fx->st, JOB, want, NROWS(want),
	    visit, &v), -1);
	assert_int_equal(v.n, 3);

	/* A job without rows: no visits. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(state_scan_foreach(fx->st, "nobody", want,
	    NROWS(want), visit, &v), 0);
	assert_int_equal(v.n, 0);
}

/* ---- the deletion rule ---- */

/* The tree as the last run mirrored it. */
static const struct tree_row old_tree[] = {
	{ "", 'd', SCAN_DIR_DONE },
	{ "keep", 'f', SCAN_FILE_UNCHANGED },
	{ "gone", 'f', SCAN_FILE_UNCHANGED },
	{ "link", 'l', SCAN_LINK_UNCHANGED },
	{ "full", 'd', SCAN_DIR_DONE },
	{ "full/keep", 'f', SCAN_FILE_UNCHANGED },
	{ "full/gone", 'f', SCAN_FILE_UNCHANGED },
	{ "full/sub", 'd', SCAN_DIR_DONE },
	{ "full/sub/v", 'f', SCAN_FILE_UNCHANGED },
	{ "failed", 'd', SCAN_DIR_DONE },
	{ "failed/x", 'f', SCAN_FILE_UNCHANGED },
	{ "failed/sub", 'd', SCAN_DIR_DONE },
	{ "failed/sub/y", 'f', SCAN_FILE_UNCHANGED },
	{ "pending", 'd', SCAN_DIR_DONE },
	{ "pending/p", 'f', SCAN_FILE_UNCHANGED },
	{ "listing", 'd', SCAN_DIR_DONE },
	{ "listing/q", 'f', SCAN_FILE_UNCHANGED },
	{ "unlisted", 'd', SCAN_DIR_DONE },
	{ "unlisted/u", 'f', SCAN_FILE_UNCHANGED },
	{ "olddir", 'd', SCAN_DIR_DONE },
	{ "olddir/z", 'f', SCAN_FILE_UNCHANGED },
	{ "olddir/sub", 'd', SCAN_DIR_DONE },
	{ "olddir/sub/w", 'f', SCAN_FILE_UNCHANGED },
};

/* This run's scan: what it found, and how far it got. */
static const struct tree_row new_scan[] = {
	{ "", 'd', SCAN_DIR_DONE },
	{ "keep", 'f', SCAN_FILE_UNCHANGED },
	{ "full", 'd', SCAN_DIR_DONE },		/* listed completely */
	{ "full/keep", 'f', SCAN_FILE_UNCHANGED },
	{ "full/sub", 'd', SCAN_DIR_DONE },
	{ "failed", 'd', SCAN_DIR_FAILED },	/* listing failed */
	{ "pending", 'd', SCAN_DIR_PENDING },	/* not listed yet */
	{ "listing", 'd', SCAN_DIR_PENDING },	/* listing in flight */
	{ "unlisted", 'd', SCAN_DIR_UNLISTED },	/* max_depth */
};

/* The other job's scan names "gone": it must not hide alpha's "gone". */
static const struct tree_row other_scan[] = {
	{ "", 'd', SCAN_DIR_DONE },
	{ "gone", 'f', SCAN_FILE_UNCHANGED },
	{ "olddir", 'd', SCAN_DIR_DONE },
};

static void
test_vanished(void **vfx)
{
	struct fixture *fx = *vfx;
	struct vanished v;
	struct deleter d;
	char out[1024];

	assert_non_null(fx->st = state_open(fx->db, false));
	files_load(fx->st, JOB, old_tree, NROWS(old_tree), 1);
	files_load(fx->st, OTHER, old_tree, NROWS(old_tree), 1);
	assert_int_equal(state_files_count(fx->st, JOB), 13);
	assert_int_equal(state_files_count(fx->st, OTHER), 13);

	/* With no scan at all nothing is known to have vanished. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(state_vanished_foreach(fx->st, JOB, vanished_add,
	    &v), 0);
	assert_int_equal(v.n, 0);

	scan_load(fx->st, JOB, new_scan, NROWS(new_scan));
	scan_load(fx->st, OTHER, other_scan, NROWS(other_scan));

	/*
	 * Reported: files gone from completely listed directories, and a
	 * vanished directory once, without its contents.  Not reported:
	 * anything below failed, pending, listing or unlisted.
	 */
	memset(&v, 0, sizeof(v));
	assert_int_equal(state_vanished_foreach(fx->st, JOB, vanished_add,
	    &v), 0);
	assert_string_equal(v.text,
	    "full/gone f\n"
	    "full/sub/v f\n"
	    "gone f\n"
	    "link l\n"
	    "olddir d\n");

	memset(&v, 0, sizeof(v));
	assert_int_equal(state_vanished_foreach(fx->st, OTHER, vanished_add,
	    &v), 0);
	assert_string_equal(v.text,
	    "failed d\n"
	    "full d\n"
	    "keep f\n"
	    "link l\n"
	    "listing d\n"
	    "olddir/sub d\n"
	    "olddir/z f\n"
	    "pending d\n"
	    "unlisted d\n");

	/* Counting and deleting as publish does, from inside fn. */
	memset(&d, 0, sizeof(d));
	d.st = fx->st;
	d.job = JOB;
	assert_int_equal(state_vanished_foreach(fx->st, JOB, vanished_delete,
	    &d), 0);
	assert_int_equal(d.calls, 5);
	assert_int_equal(d.deleted, 6);		/* olddir held two files */
	assert_int_equal(state_files_count(fx->st, JOB), 7);
	assert_int_equal(state_files_count(fx->st, OTHER), 13);

	memset(&v, 0, sizeof(v));
	assert_int_equal(state_vanished_foreach(fx->st, JOB, vanished_add,
	    &v), 0);
	assert_int_equal(v.n, 0);

	/* The run is recorded; what could not be checked is kept. */
	assert_int_equal(state_files_update_from_scan(fx->st, JOB, 2), 0);
	assert_int_equal(state_commit(fx->st), 0);
	assert_string_equal(sql_rows(fx->db, "SELECT path, type FROM files "
	    "WHERE job = '" JOB "' ORDER BY path", out, sizeof(out)),
	    "failed|dir\n"
	    "failed/sub|dir\n"
	    "failed/sub/y|file\n"
	    "failed/x|file\n"
	    "full|dir\n"
	    "full/keep|file\n"
	    "full/sub|dir\n"
	    "keep|file\n"
	    "listing|dir\n"
	    "listing/q|file\n"
	    "pending|dir\n"
	    "pending/p|file\n"
	    "unlisted|dir\n"
	    "unlisted/u|file\n");
}

/* If the root listing failed, nothing at all has vanished. */
static void
test_vanished_root_failed(void **vfx)
{
	static const enum scan_state roots[] = { SCAN_DIR_FAILED,
	    SCAN_DIR_PENDING, SCAN_DIR_UNLISTED };
	struct fixture *fx = *vfx;
	struct vanished v;
	size_t i;

	assert_non_null(fx->st = state_open(fx->db, false));
	files_load(fx->st, JOB, old_tree, NROWS(old_tree), 1);
	for (i = 0; i < NROWS(roots); i++) {
		assert_int_equal(state_scan_reset(fx->st, JOB), 0);
		scan_put(fx->st, JOB, "", 'd', roots[i]);
		memset(&v, 0, sizeof(v));
		assert_int_equal(state_vanished_foreach(fx->st, JOB,
		    vanished_add, &v), 0);
		assert_int_equal(v.n, 0);
	}
}

/* Names that share a prefix with "a". */
static const struct tree_row prefix_tree[] = {
	{ "", 'd', SCAN_DIR_DONE },
	{ "a", 'd', SCAN_DIR_DONE },
	{ "a/b", 'f', SCAN_FILE_UNCHANGED },
	{ "a/c", 'd', SCAN_DIR_DONE },
	{ "a/c/d", 'f', SCAN_FILE_UNCHANGED },
	{ "a/\xff", 'f', SCAN_FILE_UNCHANGED },
	{ "a/ space", 'l', SCAN_LINK_UNCHANGED },
	{ "a b", 'd', SCAN_DIR_DONE },
	{ "a b/x", 'f', SCAN_FILE_UNCHANGED },
	{ "a-", 'f', SCAN_FILE_UNCHANGED },
	{ "a.txt", 'f', SCAN_FILE_UNCHANGED },
	{ "a0", 'f', SCAN_FILE_UNCHANGED },	/* '0' follows '/' */
	{ "ab", 'f', SCAN_FILE_UNCHANGED },
	{ "a\xc3\xa9", 'f', SCAN_FILE_UNCHANGED },
	{ "b", 'f', SCAN_FILE_UNCHANGED },
};

struct below_row {
	const char	*path;
	int64_t		 files;		/* state_files_count_below */
	const char	*left;		/* paths left after delete_below */
};

static void
test_prefix_subtree(void **vfx)
{
	static const struct below_row rows[] = {
		{ "a", 4,
		  "a b\na b/x\na-\na.txt\na0\nab\na\xc3\xa9\nb\n" },
		{ "a b", 1,
		  "a\na-\na.txt\na/ space\na/b\na/c\na/c/d\na/\xff\na0\nab\n"
		  "a\xc3\xa9\nb\n" },
		{ "ab", 1,
		  "a\na b\na b/x\na-\na.txt\na/ space\na/b\na/c\na/c/d\n"
		  "a/\xff\na0\na\xc3\xa9\nb\n" },
		{ "a/c", 1,
		  "a\na b\na b/x\na-\na.txt\na/ space\na/b\na/\xff\na0\nab\n"
		  "a\xc3\xa9\nb\n" },
		{ "a/b", 1,
		  "a\na b\na b/x\na-\na.txt\na/ space\na/c\na/c/d\na/\xff\n"
		  "a0\nab\na\xc3\xa9\nb\n" },
		{ "a0", 1,
		  "a\na b\na b/x\na-\na.txt\na/ space\na/b\na/c\na/c/d\n"
		  "a/\xff\nab\na\xc3\xa9\nb\n" },
		{ "missing", 0,
		  "a\na b\na b/x\na-\na.txt\na/ space\na/b\na/c\na/c/d\n"
		  "a/\xff\na0\nab\na\xc3\xa9\nb\n" },
	};
	struct fixture *fx = *vfx;
	struct vanished v;
	char out[1024];
	size_t i;

	assert_non_null(fx->st = state_open(fx->db, false));
	for (i = 0; i < NROWS(rows); i++) {
		print_message("below: %s\n", rows[i].path);
		files_clear(fx);
		assert_int_equal(state_files_count(fx->st, JOB), 0);
		files_load(fx->st, JOB, prefix_tree, NROWS(prefix_tree), 1);
		files_load(fx->st, OTHER, prefix_tree, NROWS(prefix_tree), 1);
		assert_int_equal(state_files_count(fx->st, JOB), 11);

		assert_int_equal(state_files_count_below(fx->st, JOB,
		    rows[i].path), rows[i].files);
		assert_int_equal(state_files_delete_below(fx->st, JOB,
		    rows[i].path), 0);
		assert_int_equal(state_files_count_below(fx->st, JOB,
		    rows[i].path), 0);
		assert_int_equal(state_commit(fx->st), 0);
		/* Byte order: "a b", "a-", "a.txt" sort between "a" and "a/". */
		sql_rows(fx->db, "SELECT path FROM files WHERE job = '" JOB
		    "' ORDER BY path", out, sizeof(out));
		assert_string_equal(out, rows[i].left);
		assert_int_equal(state_files_count(fx->st, OTHER), 11);
	}

	/* "a" vanished, "a b" and "ab" did not: only "a" is reported. */
	files_clear(fx);
	files_load(fx->st, JOB, prefix_tree, NROWS(prefix_tree), 1);
	for (i = 0; i < NROWS(prefix_tree); i++)
		if (strcmp(prefix_tree[i].path, "a") != 0 &&
		    strncmp(prefix_tree[i].path, "a/", 2) != 0)
			scan_put(fx->st, JOB, prefix_tree[i].path,
			    prefix_tree[i].type, prefix_tree[i].state);
	memset(&v, 0, sizeof(v));
	assert_int_equal(state_vanished_foreach(fx->st, JOB, vanished_add,
	    &v), 0);
	assert_string_equal(v.text, "a d\n");
}

/*
 * What update_from_scan writes: which states count as "now in target",
 * the type and time conversions, and updated_run kept for unchanged rows.
 */
static void
test_files_from_scan(void **vfx)
{
	static const struct tree_row rows[] = {
		{ "", 'd', SCAN_DIR_DONE },
		{ "done", 'd', SCAN_DIR_DONE },
		{ "failed", 'd', SCAN_DIR_FAILED },
		{ "pending", 'd', SCAN_DIR_PENDING },
		{ "unlisted", 'd', SCAN_DIR_UNLISTED },
		{ "f-unchanged", 'f', SCAN_FILE_UNCHANGED },
		{ "f-fetch", 'f', SCAN_FILE_FETCH },
		{ "f-staged", 'f', SCAN_FILE_STAGED },
		{ "f-failed", 'f', SCAN_FILE_FAILED },
		{ "f-held", 'f', SCAN_FILE_HELD },
		{ "l-new", 'l', SCAN_LINK },
		{ "l-unchanged", 'l', SCAN_LINK_UNCHANGED },
	};
	struct fixture *fx = *vfx;
	struct scan_row row;
	char out[1024];

	assert_non_null(fx->st = state_open(fx->db, false));
	files_load(fx->st, JOB, rows, NROWS(rows), 1);
	assert_int_equal(state_commit(fx->st), 0);
	assert_string_equal(sql_rows(fx->db, "SELECT path, parent, type, "
	    "size, mtime, mtime_prec, link_target, updated_run FROM files "
	    "ORDER BY path", out, sizeof(out)),
	    "done||dir|NULL|2022-08-01T11:32:20Z|second|NULL|1\n"
	    "f-staged||file|10|2022-08-01T11:32:20Z|second|NULL|1\n"
	    "f-unchanged||file|10|2022-08-01T11:32:20Z|second|NULL|1\n"
	    "l-new||link|NULL|2022-08-01T11:32:20Z|second|target|1\n"
	    "l-unchanged||link|NULL|2022-08-01T11:32:20Z|second|target|1\n"
	    "unlisted||dir|NULL|2022-08-01T11:32:20Z|second|NULL|1\n");

	/* Run 2: one file changed size; the rest keep updated_run 1. */
	scan_put(fx->st, JOB, "", 'd', SCAN_DIR_DONE);
	scan_put(fx->st, JOB, "f-unchanged", 'f', SCAN_FILE_UNCHANGED);
	memset(&row, 0, sizeof(row));
	row.depth = 1;
	row.type = 'f';
	row.size = 11;
	row.mtime = T0 + 60;
	row.mtime_prec = MTIME_MINUTE;
	row.state = SCAN_FILE_STAGED;
	row.action = SCAN_ACTION_CHANGE;
	assert_int_equal(state_scan_add(fx->st, JOB, "", "f-staged", NULL, NULL,
	    &row), 0);
	assert_int_equal(state_files_update_from_scan(fx->st, JOB, 2), 0);
	assert_int_equal(state_commit(fx->st), 0);
	assert_string_equal(sql_rows(fx->db, "SELECT path, size, mtime, "
	    "mtime_prec, updated_run FROM files WHERE path LIKE 'f-%' "
	    "ORDER BY path", out, sizeof(out)),
	    "f-staged|11|2022-08-01T11:33:20Z|minute|2\n"
	    "f-unchanged|10|2022-08-01T11:32:20Z|second|1\n");
}

/*
 * A directory replaced by a file (or link) upstream.  Publishing removes
 * the directory's tree from target before the rename, and the deletion
 * rule cannot report its contents (their parent is no listed directory),
 * so recording the scan has to forget them: files should hold exactly
 * what target holds.
 */
static void
test_files_dir_became_file(void **vfx)
{
	static const struct tree_row old[] = {
		{ "", 'd', SCAN_DIR_DONE },
		{ "d", 'd', SCAN_DIR_DONE },
		{ "d/x", 'f', SCAN_FILE_UNCHANGED },
		{ "d/sub", 'd', SCAN_DIR_DONE },
		{ "d/sub/y", 'f', SCAN_FILE_UNCHANGED },
		{ "e", 'd', SCAN_DIR_DONE },
		{ "e/z", 'f', SCAN_FILE_UNCHANGED },
	};
	static const struct tree_row now[] = {
		{ "", 'd', SCAN_DIR_DONE },
		{ "d", 'f', SCAN_FILE_STAGED },
		{ "e", 'l', SCAN_LINK },
	};
	struct fixture *fx = *vfx;
	struct vanished v;
	char out[512];

	assert_non_null(fx->st = state_open(fx->db, false));
	files_load(fx->st, JOB, old, NROWS(old), 1);
	scan_load(fx->st, JOB, now, NROWS(now));
	memset(&v, 0, sizeof(v));
	assert_int_equal(state_vanished_foreach(fx->st, JOB, vanished_add,
	    &v), 0);
	assert_int_equal(v.n, 0);
	assert_int_equal(state_files_update_from_scan(fx->st, JOB, 2), 0);
	assert_int_equal(state_commit(fx->st), 0);
	assert_string_equal(sql_rows(fx->db, "SELECT path, type FROM files "
	    "ORDER BY path", out, sizeof(out)), "d|file\ne|link\n");
	assert_int_equal(state_files_count(fx->st, JOB), 2);
	assert_int_equal(state_files_count_below(fx->st, JOB, "d"), 1);
}

/* ---- staged ---- */

static void
test_staged(void **vfx)
{
	struct fixture *fx = *vfx;
	struct staged_row s, s2, s3, s4, g;
	int64_t id;

	assert_non_null(fx->st = state_open(fx->db, false));
	assert_int_equal(state_staged_any(fx->st, JOB), 0);
	memset(&s, 0, sizeof(s));
	s.size = 100;
	s.mtime = T0;
	assert_int_equal(state_staged_put(fx->st, JOB, "dir/file", &s), 0);
	assert_true(s.id > 0);
	id = s.id;
	assert_int_equal(state_staged_any(fx->st, JOB), 1);
	assert_int_equal(state_staged_any(fx->st, OTHER), 0);

	memset(&g, 0, sizeof(g));
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/file", &g), 1);
	assert_int_equal(g.id, id);
	assert_int_equal(g.size, 100);
	assert_int_equal(g.mtime, T0);
	assert_false(g.complete);
	assert_int_equal(state_staged_get(fx->st, OTHER, "dir/file", &g), 0);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir", &g), 0);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/file ", &g), 0);
	assert_int_equal(state_staged_known(fx->st, id), 1);
	assert_int_equal(state_staged_known(fx->st, id + 1000), 0);
	assert_int_equal(state_staged_known(fx->st, 0), 0);
	assert_int_equal(state_staged_known(fx->st, -1), 0);

	/* Adding a path that has a row gives that row, unchanged. */
	memset(&g, 0, sizeof(g));
	g.size = 7;
	g.mtime = T0 + 1;
	assert_int_equal(state_staged_put(fx->st, JOB, "dir/file", &g), 1);
	assert_int_equal(g.id, id);
	assert_int_equal(g.size, 100);
	assert_int_equal(g.mtime, T0);
	assert_false(g.complete);

	/* Update in place: a new remote version restarts the download. */
	s.size = 200;
	s.mtime = T0 + 60;
	assert_int_equal(state_staged_put(fx->st, JOB, "dir/file", &s), 0);
	assert_int_equal(s.id, id);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/file", &g), 1);
	assert_int_equal(g.id, id);
	assert_int_equal(g.size, 200);
	assert_int_equal(g.mtime, T0 + 60);
	assert_false(g.complete);

	memset(&s2, 0, sizeof(s2));
	s2.size = 5;
	s2.mtime = T0;
	s2.complete = true;
	assert_int_equal(state_staged_put(fx->st, OTHER, "dir/file", &s2), 0);
	assert_true(s2.id > 0 && s2.id != id);
	assert_int_equal(state_staged_get(fx->st, OTHER, "dir/file", &g), 1);
	assert_true(g.complete);
	assert_int_equal(state_staged_known(fx->st, s2.id), 1);

	/*
	 * Completing marks the staged rows whose scan rows were fetched
	 * (staged, or waiting for a hash), and no others.
	 */
	memset(&s3, 0, sizeof(s3));
	s3.size = 7;
	s3.mtime = T0;
	assert_int_equal(state_staged_put(fx->st, JOB, "dir/half", &s3), 0);
	memset(&s4, 0, sizeof(s4));
	s4.size = 8;
	s4.mtime = T0;
	assert_int_equal(state_staged_put(fx->st, JOB, "dir/hashing", &s4), 0);
	scan_put(fx->st, JOB, "dir/file", 'f', SCAN_FILE_STAGED);
	scan_put(fx->st, JOB, "dir/half", 'f', SCAN_FILE_FETCH);
	scan_put(fx->st, JOB, "dir/hashing", 'f', SCAN_FILE_HASH);
	assert_int_equal(state_staged_complete(fx->st, JOB), 0);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/file", &g), 1);
	assert_true(g.complete);
	assert_int_equal(g.size, 200);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/hashing", &g), 1);
	assert_true(g.complete);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/half", &g), 1);
	assert_false(g.complete);
	/* Another job's scan completes nothing of JOB's. */
	s2.complete = false;
	assert_int_equal(state_staged_put(fx->st, OTHER, "dir/file", &s2), 0);
	assert_int_equal(state_staged_complete(fx->st, JOB), 0);
	assert_int_equal(state_staged_get(fx->st, OTHER, "dir/file", &g), 1);
	assert_false(g.complete);
	s2.complete = true;
	assert_int_equal(state_staged_put(fx->st, OTHER, "dir/file", &s2), 0);

	assert_int_equal(state_staged_delete(fx->st, id), 0);
	assert_int_equal(state_staged_get(fx->st, JOB, "dir/file", &g), 0);
	assert_int_equal(state_staged_known(fx->st, id), 0);
	assert_int_equal(state_staged_known(fx->st, s2.id), 1);
	/* Deleting what is gone is no error. */
	assert_int_equal(state_staged_delete(fx->st, id), 0);

	/* What survives a close. */
	state_close(fx->st);
	assert_non_null(fx->st = state_open(fx->db, false));
	assert_int_equal(state_staged_known(fx->st, s2.id), 1);
	assert_int_equal(state_staged_known(fx->st, id), 0);
	assert_int_equal(state_staged_get(fx->st, OTHER, "dir/file", &g), 1);
	assert_int_equal(g.size, 5);
}

/* ---- dry runs ---- */

static void
test_dry_existing(void **vfx)
{
	struct fixture *fx = *vfx;
	struct staged_row s;
	struct hist h;
	int64_t r1, r2;
	char out[256];

	assert_non_null(fx->st = state_open(fx->db, false));
	assert_int_equal(state_run_begin(fx->st, JOB, "ftp://a/", &r1), 0);
	assert_int_equal(state_run_finish(fx->st, r1, "ok",
	    &(struct run_counts){ 0, 0, 0, 0, 0 }, NULL), 0);
	files_load(fx->st, JOB, old_tree, NROWS(old_tree), r1);
	state_close(fx->st);

	/* Everything works inside the dry handle... */
	assert_non_null(fx->st = state_open(fx->db, true));
	assert_int_equal(state_run_reap(fx->st, JOB), 0);
	assert_int_equal(state_run_begin(fx->st, JOB, "ftp://a/", &r2), 0);
	assert_true(r2 > r1);
	assert_int_equal(state_event(fx->st, r2, "x", "add", 1, NULL), 0);
	scan_put(fx->st, JOB, "", 'd', SCAN_DIR_DONE);
	scan_put(fx->st, JOB, "new", 'f', SCAN_FILE_FETCH);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_FILE_FETCH), 1);
	memset(&s, 0, sizeof(s));
	s.size = 1;
	assert_int_equal(state_staged_put(fx->st, JOB, "new", &s), 0);
	assert_int_equal(state_files_delete_below(fx->st, JOB, "full"), 0);
	assert_int_equal(state_commit(fx->st), 0);
	assert_int_equal(state_checkpoint(fx->st), 0);
	h = history(fx->st, JOB, 10);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.id[0], r2);
	/* ...and even a commit showed nothing to other connections... */
	assert_string_equal(sql_rows(fx->db, "SELECT count(*) FROM runs",
	    out, sizeof(out)), "1\n");
	state_close(fx->st);
	fx->st = NULL;

	/* ...and nothing survives the close. */
	assert_string_equal(sql_rows(fx->db, "SELECT (SELECT count(*) FROM "
	    "runs), (SELECT count(*) FROM events), (SELECT count(*) FROM "
	    "scan), (SELECT count(*) FROM staged), (SELECT count(*) FROM "
	    "files)", out, sizeof(out)), "1|0|0|0|22\n");
	assert_non_null(fx->st = state_open(fx->db, false));
	h = history(fx->st, NULL, 10);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.id[0], r1);
	assert_string_equal(h.status[0], "ok");
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_FILE_FETCH), 0);
	assert_int_equal(state_staged_get(fx->st, JOB, "new", &s), 0);
	assert_int_equal(state_files_count(fx->st, JOB), 13);
}

static void
test_dry_missing(void **vfx)
{
	struct fixture *fx = *vfx;
	struct dirent *de;
	int64_t run;
	DIR *d;
	int n = 0;

	/* A usable database in memory, and no file on disk. */
	assert_non_null(fx->st = state_open(fx->db, true));
	assert_int_equal(state_run_begin(fx->st, JOB, "ftp://a/", &run), 0);
	scan_put(fx->st, JOB, "", 'd', SCAN_DIR_PENDING);
	assert_int_equal(state_scan_count(fx->st, JOB, SCAN_DIR_PENDING), 1);
	assert_int_equal(state_files_count(fx->st, JOB), 0);
	state_close(fx->st);
	fx->st = NULL;

	assert_int_equal(access(fx->db, F_OK), -1);
	assert_non_null(d = opendir(fx->dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	assert_int_equal(n, 0);		/* no -wal or -shm either */
}

/*
 * A dry run on a database this ftpmirror has not migrated yet (here an
 * SQLite file at user_version 0) must leave it as it was: the migration
 * is a write made through the handle like any other.
 */
static void
test_dry_no_migration(void **vfx)
{
	struct fixture *fx = *vfx;
	char out[256];

	sql_exec(fx->db, "CREATE TABLE unrelated (x); "
	    "INSERT INTO unrelated VALUES (1)");
	assert_non_null(fx->st = state_open(fx->db, true));
	assert_int_equal(state_files_count(fx->st, JOB), 0);
	state_close(fx->st);
	fx->st = NULL;

	assert_string_equal(sql_rows(fx->db, "PRAGMA user_version", out,
	    sizeof(out)), "0\n");
	assert_string_equal(sql_rows(fx->db, "SELECT name FROM sqlite_master "
	    "WHERE type = 'table' ORDER BY name", out, sizeof(out)),
	    "unrelated\n");
}

/* ---- time ---- */

struct iso_row {
	int64_t		 t;
	const char	*want;
};

static void
test_iso_time(void **vfx)
{
	static const struct iso_row rows[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ T0, "2022-08-01T11:32:20Z" },
		{ 86399, "1970-01-01T23:59:59Z" },
		{ 951782400, "2000-02-29T00:00:00Z" },
		{ 4102444799, "2099-12-31T23:59:59Z" },
		{ -1, "1969-12-31T23:59:59Z" },
	};
	char buf[21];
	size_t i;

	(void)vfx;
	for (i = 0; i < NROWS(rows); i++) {
		memset(buf, 'x', sizeof(buf));
		state_iso_time(rows[i].t, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_newer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_junk,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_retry_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_unfinished,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_queue,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_foreach,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_root_failed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_subtree,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_from_scan,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_dir_became_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_staged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_existing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_missing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_no_migration,
		    setup, teardown),
		cmocka_unit_test(test_iso_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
