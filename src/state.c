/*
 * state.c: the SQLite state store.  Statements are prepared once and kept
 * in struct state; writes are batched into transactions that
 * state_checkpoint() commits a few times a second, which keeps a large
 * listing cheap to record without holding the write lock for a whole run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "listing.h"
#include "log.h"
#include "schema.h"
#include "state.h"

enum stmt_id {
	ST_RUN_BEGIN,
	ST_RUN_FINISH,
	ST_RUN_REAP,
	ST_EVENT,
	ST_HISTORY_ALL,
	ST_HISTORY_JOB,
	ST_SCAN_RESET,
	ST_SCAN_ADD,
	ST_SCAN_GET,
	ST_SCAN_SET,
	ST_SCAN_SET_MTIME,
	ST_SCAN_SET_ACTION,
	ST_SCAN_SET_TYPE,
	ST_SCAN_FORGET,
	ST_SCAN_SET_UNIQUE,
	ST_SCAN_UNIQUE,
	ST_FILES_GET,
	ST_SUMMARY_ALL,
	ST_SUMMARY_JOB,
	ST_SHOW,
	ST_PRUNE,
	ST_FILES_MARK_RECHECK,
	ST_SCAN_COUNT,
	ST_STAGED_GET,
	ST_STAGED_INSERT,
	ST_STAGED_UPDATE,
	ST_STAGED_COMPLETE,
	ST_STAGED_DELETE,
	ST_STAGED_KNOWN,
	ST_STAGED_ANY,
	ST_VANISHED,
	ST_FILES_COUNT_BELOW,
	ST_FILES_COUNT,
	ST_FILES_DELETE_BELOW,
	ST_FILES_FROM_SCAN,
	ST_FILES_BELOW,
	ST_FILES_NO_LONGER_DIRS,
	ST_COUNT
};

/*
 * Paths below P are those in [P "/", P "0"): '0' follows '/' in ASCII, and
 * the BINARY collation compares bytes, so this range is exactly the subtree
 * and uses the primary key.
 */
/*
 * Per job: its newest run, when it last succeeded, how many runs in a row
 * have not, and the newest run's times in seconds.
 */
#define STATE_SUMMARY_SQL(where)					\
	"SELECT r.id, r.job, r.started_at, r.finished_at, r.status, "	\
	"r.files_added, r.files_changed, r.files_deleted, "		\
	"r.bytes_downloaded, r.errors, r.message, "			\
	"(SELECT max(finished_at) FROM runs o WHERE o.job = r.job "	\
	"AND o.status = 'ok'), "					\
	"(SELECT count(*) FROM runs f WHERE f.job = r.job AND "		\
	"f.status IN ('failed', 'partial', 'aborted') AND f.id > "	\
	"coalesce((SELECT max(id) FROM runs o WHERE o.job = r.job "	\
	"AND o.status = 'ok'), 0)), "					\
	"CAST(strftime('%s', r.started_at) AS INTEGER), "		\
	"CAST(strftime('%s', r.finished_at) AS INTEGER), "		\
	"CAST(strftime('%s', (SELECT max(finished_at) FROM runs o "	\
	"WHERE o.job = r.job AND o.status = 'ok')) AS INTEGER), "	\
	"d.status, d.files_added, d.files_changed, d.files_deleted, "	\
	"d.bytes_downloaded, d.errors, "					\
	"CAST(strftime('%s', d.started_at) AS INTEGER), "		\
	"CAST(strftime('%s', d.finished_at) AS INTEGER) "		\
	"FROM runs r LEFT JOIN runs d ON d.id = (SELECT max(id) FROM "	\
	"runs e WHERE e.job = r.job AND e.status != 'running') "	\
	"WHERE r.id IN (SELECT max(id) FROM runs WHERE "		\
	where " GROUP BY job) ORDER BY r.job"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_RUN_BEGIN] =
	    "INSERT INTO runs (job, started_at, status, source, pid) "
	    "VALUES (?1, ?2, 'running', ?3, ?4)",
	[ST_RUN_FINISH] =
	    "UPDATE runs SET finished_at = ?2, status = ?3, files_added = ?4, "
	    "files_changed = ?5, files_deleted = ?6, bytes_downloaded = ?7, "
	    "errors = ?8, message = ?9 WHERE id = ?1",
	[ST_RUN_REAP] =
	    "UPDATE runs SET status = 'aborted', message = 'the process "
	    "running it ended without finishing (killed or crashed)' "
	    "WHERE job = ?1 AND status = 'running'",
	[ST_EVENT] =
	    "INSERT INTO events (run_id, time, path, action, bytes, detail) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_HISTORY_ALL] =
	    "SELECT id, job, started_at, finished_at, status, files_added, "
	    "files_changed, files_deleted, bytes_downloaded, errors, message, "
	    "source, pid FROM runs ORDER BY id DESC LIMIT ?1",
	[ST_HISTORY_JOB] =
	    "SELECT id, job, started_at, finished_at, status, files_added, "
	    "files_changed, files_deleted, bytes_downloaded, errors, message, "
	    "source, pid FROM runs WHERE job = ?2 ORDER BY id DESC LIMIT ?1",
	[ST_SCAN_RESET] =
	    "DELETE FROM scan WHERE job = ?1",
	[ST_SCAN_ADD] =
	    "INSERT OR IGNORE INTO scan (job, path, parent, depth, type, size, "
	    "mtime, mtime_prec, link_target, state, action, unique_id, "
	    "verified_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_SCAN_GET] =
	    "SELECT id, path, link_target, depth, type, size, mtime, "
	    "mtime_prec, state, action, tries, verified_at FROM scan "
	    "WHERE id = ?1 AND state = ?2 AND not_before <= ?3",
	[ST_SCAN_SET] =
	    "UPDATE scan SET state = ?2, tries = ?3, not_before = ?4 "
	    "WHERE id = ?1",
	[ST_SCAN_SET_MTIME] =
	    "UPDATE scan SET mtime = ?2, mtime_prec = ?3, verified_at = ?4 "
	    "WHERE id = ?1",
	[ST_SCAN_SET_ACTION] =
	    "UPDATE scan SET action = ?2 WHERE id = ?1",
	[ST_SCAN_SET_TYPE] =
	    "UPDATE scan SET type = ?2, state = ?3, tries = 0, not_before = 0, "
	    "size = NULL, mtime_prec = 0 WHERE id = ?1",
	[ST_SCAN_FORGET] =
	    "DELETE FROM scan WHERE id = ?1",
	[ST_SCAN_SET_UNIQUE] =
	    "UPDATE scan SET unique_id = ?2 WHERE id = ?1",
	[ST_SCAN_UNIQUE] =
	    "SELECT unique_id FROM scan WHERE job = ?1 AND path = ?2",
	[ST_SUMMARY_ALL] = STATE_SUMMARY_SQL("1"),
	[ST_SUMMARY_JOB] = STATE_SUMMARY_SQL("job = ?1"),
	[ST_SHOW] =
	    "SELECT e.time, e.run_id, e.action, e.bytes, e.detail FROM events e "
	    "JOIN runs r ON r.id = e.run_id WHERE r.job = ?1 AND e.path = ?2 "
	    "ORDER BY e.id DESC LIMIT ?3",
	[ST_PRUNE] =
	    "DELETE FROM events WHERE run_id IN (SELECT id FROM runs "
	    "WHERE job = ?1 AND status != 'running' AND "
	    "coalesce(finished_at, started_at) < "
	    "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?2 || ' days'))",
	[ST_FILES_GET] =
	    "SELECT size, CAST(strftime('%s', mtime) AS INTEGER), mtime_prec, "
	    "CAST(strftime('%s', verified_at) AS INTEGER), recheck FROM files "
	    "WHERE job = ?1 AND path = ?2",
	[ST_FILES_MARK_RECHECK] =
	    "UPDATE files SET recheck = 1 WHERE job = ?1 AND path IN "
	    "(SELECT path FROM files WHERE job = ?1 AND type = 'file' "
	    "ORDER BY verified_at, path LIMIT ?2)",
	[ST_SCAN_COUNT] =
	    "SELECT count(*) FROM scan WHERE job = ?1 AND state = ?2",
	[ST_STAGED_GET] =
	    "SELECT id, size, mtime, complete FROM staged "
	    "WHERE job = ?1 AND path = ?2",
	[ST_STAGED_INSERT] =
	    "INSERT INTO staged (job, path, size, mtime, complete) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job, path) DO NOTHING",
	[ST_STAGED_UPDATE] =
	    "UPDATE staged SET size = ?2, mtime = ?3, complete = ?4 "
	    "WHERE id = ?1",
	[ST_STAGED_COMPLETE] =
	    "UPDATE staged SET complete = 1 WHERE job = ?1 AND complete = 0 "
	    "AND EXISTS (SELECT 1 FROM scan s WHERE s.job = ?1 AND "
	    "s.path = staged.path AND s.state IN (?2, ?3))",
	[ST_STAGED_DELETE] =
	    "DELETE FROM staged WHERE id = ?1",
	[ST_STAGED_KNOWN] =
	    "SELECT 1 FROM staged WHERE id = ?1",
	[ST_STAGED_ANY] =
	    "SELECT 1 FROM staged WHERE job = ?1 LIMIT 1",
	[ST_VANISHED] =
	    "SELECT f.path, f.type FROM files f "
	    "JOIN scan p ON p.job = f.job AND p.path = f.parent "
	    "AND p.state = 3 "
	    "WHERE f.job = ?1 AND NOT EXISTS (SELECT 1 FROM scan s "
	    "WHERE s.job = f.job AND s.path = f.path) ORDER BY f.path",
	[ST_FILES_COUNT_BELOW] =
	    "SELECT count(*) FROM files WHERE job = ?1 AND type != 'dir' AND "
	    "(path = ?2 OR (path >= ?2 || '/' AND path < ?2 || '0'))",
	[ST_FILES_COUNT] =
	    "SELECT count(*) FROM files WHERE job = ?1 AND type != 'dir'",
	[ST_FILES_DELETE_BELOW] =
	    "DELETE FROM files WHERE job = ?1 AND (path = ?2 OR "
	    "(path >= ?2 || '/' AND path < ?2 || '0'))",
	[ST_FILES_BELOW] =
	    "SELECT path, type FROM files WHERE job = ?1 AND "
	    "path >= ?2 || '/' AND path < ?2 || '0' ORDER BY path",
	/* CROSS JOIN keeps files outside: only its directories are looked up. */
	[ST_FILES_NO_LONGER_DIRS] =
	    "SELECT f.path, f.type FROM files f CROSS JOIN scan s ON "
	    "s.job = f.job AND s.path = f.path WHERE f.job = ?1 AND "
	    "f.type = 'dir' AND s.type != 'd' AND s.state IN (10, 13, 20, 21)",
	[ST_FILES_FROM_SCAN] =
	    "INSERT INTO files (job, path, parent, type, size, mtime, "
	    "mtime_prec, link_target, unique_id, updated_run, verified_at) "
	    "SELECT job, path, parent, "
	    "CASE type WHEN 'f' THEN 'file' WHEN 'd' THEN 'dir' ELSE 'link' END, "
	    "size, strftime('%Y-%m-%dT%H:%M:%SZ', mtime, 'unixepoch'), "
	    "CASE mtime_prec WHEN 3 THEN 'second' WHEN 2 THEN 'minute' "
	    "WHEN 1 THEN 'day' ELSE 'none' END, link_target, unique_id, ?2, "
	    "strftime('%Y-%m-%dT%H:%M:%SZ', verified_at, 'unixepoch') "
	    "FROM scan WHERE job = ?1 AND path != '' AND state IN "
	    "(3, 5, 6, 10, 13, 20, 21) "
	    "ON CONFLICT (job, path) DO UPDATE SET type = excluded.type, "
	    "size = excluded.size, mtime = excluded.mtime, "
	    "mtime_prec = excluded.mtime_prec, "
	    "link_target = excluded.link_target, "
	    "unique_id = excluded.unique_id, "
	    "verified_at = excluded.verified_at, recheck = 0, "
	    "updated_run = CASE WHEN files.type IS excluded.type AND "
	    "files.size IS excluded.size AND files.mtime IS excluded.mtime "
	    "THEN files.updated_run ELSE excluded.updated_run END",
};

/* The waiting states, each a queue of the run's work. */
static const enum scan_state state_waiting[] = { SCAN_DIR_PENDING,
    SCAN_FILE_FETCH, SCAN_FILE_CHECK, SCAN_FILE_HASH };
#define STATE_QUEUES	(sizeof(state_waiting) / sizeof(state_waiting[0]))

/* A row that waits for its retry time (ms since the epoch). */
struct state_retry {
	int64_t		 id;
	int64_t		 at;
};

/*
 * The rows put in one waiting state, by id: those due at once in order
 * (due[head] is the oldest), and those that wait for a retry, a heap by
 * (at, id).  An id whose row has left the state since, or was put back
 * with another time, is skipped when it comes up (the table says where
 * the row is), so leaving a state costs nothing here.
 */
struct state_queue {
	int64_t		*due;
	size_t		 head, len, cap;
	struct state_retry *later;
	size_t		 nlater, caplater;
};

/* A row claimed from a queue, in flight until its next state. */
struct state_claim {
	int64_t		 id;
	struct state_queue *from;
};

struct state {
	sqlite3		*db;
	sqlite3_stmt	*stmt[ST_COUNT];
	bool		 dry;		/* roll everything back at close */
	bool		 in_tx;		/* a batch transaction is open */
	struct timespec	 tx_started;
	/*
	 * The run's work queue (see state_scan_claim), and the rows claimed
	 * from it: in flight, which the table does not record, to spare a
	 * write per row.  A run that dies leaves them waiting in the table,
	 * and the next run starts its scan over anyway.
	 */
	struct state_queue queue[STATE_QUEUES];
	struct state_claim *claimed;
	size_t		 nclaimed, capclaimed;
	bool		 queue_lost;	/* out of memory lost a row of it */
};

static void state_queue_clear(struct state *);

/* How long a batch of writes may stay uncommitted. */
#define STATE_BATCH_MS	250

static int
state_exec(struct state *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("database: %s: %s", sql, msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
state_begin(struct state *st)
{
	if (st->in_tx)
		return 0;
	/*
	 * A dry run's single transaction takes the write lock only when it
	 * first writes; real batches take it at once, so a busy database
	 * makes them wait here rather than fail halfway.
	 */
	if (state_exec(st, st->dry ? "BEGIN" : "BEGIN IMMEDIATE") == -1)
		return -1;
	st->in_tx = true;
	clock_gettime(CLOCK_MONOTONIC, &st->tx_started);
	return 0;
}

/* Commit now.  Returns 0 or -1. */
int
state_commit(struct state *st)
{
	if (st->dry || !st->in_tx)
		return 0;
	st->in_tx = false;
	return state_exec(st, "COMMIT");
}

/*
 * Commit the open batch when it is older than STATE_BATCH_MS.  Returns 0
 * or -1.
 */
int
state_checkpoint(struct state *st)
{
	struct timespec now;
	long ms;

	if (st->dry || !st->in_tx)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - st->tx_started.tv_sec) * 1000 +
	    (now.tv_nsec - st->tx_started.tv_nsec) / 1000000;
	if (ms < STATE_BATCH_MS)
		return 0;
	return state_commit(st);
}

/*
 * Get statement id, reset and ready for binding, inside the batch
 * transaction (every statement runs in one, so single writes are cheap).
 */
static sqlite3_stmt *
state_stmt(struct state *st, enum stmt_id id)
{
	sqlite3_stmt *s;

	if (state_begin(st) == -1)
		return NULL;
	s = st->stmt[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int
state_fail(struct state *st, const char *what)
{
	log_err("database: %s: %s", what, sqlite3_errmsg(st->db));
	return -1;
}

/* Run a statement that returns no rows. */
static int
state_step_done(struct state *st, sqlite3_stmt *s, const char *what)
{
	int rc;

	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return state_fail(st, what);
	return 0;
}

/* Run a statement whose one parameter is a row id. */
static int
state_by_id(struct state *st, enum stmt_id id, int64_t rowid,
    const char *what)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, id)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, rowid);
	return state_step_done(st, s, what);
}

/*
 * Run a statement that returns one integer into *out.  Returns 1, 0 when
 * it gave no row or NULL, -1 on error.
 */
static int
state_step_int(struct state *st, sqlite3_stmt *s, const char *what,
    int64_t *out)
{
	int rc, ret = 0;

	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
			*out = sqlite3_column_int64(s, 0);
			ret = 1;
		}
	} else if (rc != SQLITE_DONE) {
		state_fail(st, what);
		ret = -1;
	}
	sqlite3_reset(s);
	return ret;
}

/* A count: the integer, or -1 on error. */
static int64_t
state_step_count(struct state *st, sqlite3_stmt *s, const char *what)
{
	int64_t v = 0;

	return state_step_int(st, s, what, &v) == -1 ? -1 : v;
}

static void
state_bind_text(sqlite3_stmt *s, int i, const char *text)
{
	if (text == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

/* Apply the schema steps the database has not seen yet. */
static int
state_migrate(struct state *st)
{
	sqlite3_stmt *s = NULL;
	int version = 0;
	size_t i;
	char pragma[64];

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) !=
	    SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return state_fail(st, "reading the schema version");
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);

	if (version > schema_steps[schema_nsteps - 1].version) {
		log_err("database schema version %d is newer than this "
		    "ftpmirror knows (%d); refusing to touch it", version,
		    schema_steps[schema_nsteps - 1].version);
		return -1;
	}
	/* A dry handle migrates inside its transaction, which is undone. */
	for (i = 0; i < schema_nsteps; i++) {
		if (schema_steps[i].version <= version)
			continue;
		if (state_begin(st) == -1)
			return -1;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
		    schema_steps[i].version);
		if (state_exec(st, schema_steps[i].sql) == -1 ||
		    state_exec(st, pragma) == -1) {
			log_err("database: migration %s failed",
			    schema_steps[i].file);
			state_exec(st, "ROLLBACK");
			st->in_tx = false;
			return -1;
		}
		if (state_commit(st) == -1)
			return -1;
	}
	return 0;
}

/*
 * Open the database, creating and migrating it.  With dry, a missing file
 * is replaced by an empty database in memory and nothing is ever committed.
 * Returns NULL after logging why.
 */
struct state *
state_open(const char *path, bool dry)
{
	struct state *st = NULL;
	const char *where = path;
	/*
	 * A connection is only ever used by the thread that opened it: no
	 * per-call mutex (NOMUTEX), and no global memory statistics, whose
	 * mutex every allocation of SQLite's would take.  (The latter can
	 * only be set before SQLite initializes: the first open here.)
	 */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX;
	int i;

	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		log_err("out of memory");
		return NULL;
	}
	st->dry = dry;
	if (dry && access(path, F_OK) == -1)
		where = ":memory:";
	if (sqlite3_open_v2(where, &st->db, flags, NULL) != SQLITE_OK) {
		log_err("database %s: %s", path,
		    st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	sqlite3_extended_result_codes(st->db, 1);
	/*
	 * WAL lets history queries run beside a sync; NORMAL synchronous is
	 * durable across a crash of the process, and a lost last batch after
	 * a power cut only costs a re-check of some files.
	 */
	if ((!dry && state_exec(st, "PRAGMA journal_mode = WAL") == -1) ||
	    state_exec(st, "PRAGMA synchronous = NORMAL") == -1 ||
	    state_exec(st, "PRAGMA foreign_keys = ON") == -1) {
		log_err("database %s is not usable", path);
		goto fail;
	}
	if (state_migrate(st) == -1) {
		log_err("database %s is not usable", path);
		goto fail;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) != SQLITE_OK) {
			state_fail(st, stmt_sql[i]);
			goto fail;
		}
	}
	if (dry && state_begin(st) == -1)
		goto fail;
	return st;
fail:
	state_close(st);
	return NULL;
}

/* Commit (unless dry) and close.  NULL is a no-op. */
void
state_close(struct state *st)
{
	int i;

	if (st == NULL)
		return;
	if (st->in_tx) {
		if (st->dry)
			state_exec(st, "ROLLBACK");
		else
			state_commit(st);
	}
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	state_queue_clear(st);
	free(st);
}

/* Format t (seconds since the epoch) as 2026-11-25T10:00:00Z. */
void
state_iso_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
state_now_iso(char *buf, size_t len)
{
	state_iso_time((int64_t)time(NULL), buf, len);
}

/*
 * Record the start of a run and commit at once, so that other processes
 * see it running.  Sets *run_id.
 */
int
state_run_begin(struct state *st, const char *job, const char *source,
    int64_t *run_id)
{
	sqlite3_stmt *s;
	char now[32];

	if ((s = state_stmt(st, ST_RUN_BEGIN)) == NULL)
		return -1;
	state_now_iso(now, sizeof(now));
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, now);
	state_bind_text(s, 3, source);
	sqlite3_bind_int64(s, 4, (int64_t)getpid());
	if (state_step_done(st, s, "recording the run") == -1)
		return -1;
	*run_id = sqlite3_last_insert_rowid(st->db);
	return state_commit(st);
}

/*
 * Mark runs of job still shown as running as aborted.  Called with the
 * job's lock held, when no other process can be running it.
 */
int
state_run_reap(struct state *st, const char *job)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_RUN_REAP)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	return state_step_done(st, s, "closing interrupted runs");
}

/* Record the end of a run with its totals and commit. */
int
state_run_finish(struct state *st, int64_t run_id, const char *status,
    const struct run_counts *c, const char *message)
{
	sqlite3_stmt *s;
	char now[32];

	if ((s = state_stmt(st, ST_RUN_FINISH)) == NULL)
		return -1;
	state_now_iso(now, sizeof(now));
	sqlite3_bind_int64(s, 1, run_id);
	state_bind_text(s, 2, now);
	state_bind_text(s, 3, status);
	sqlite3_bind_int64(s, 4, c->added);
	sqlite3_bind_int64(s, 5, c->changed);
	sqlite3_bind_int64(s, 6, c->deleted);
	sqlite3_bind_int64(s, 7, c->bytes);
	sqlite3_bind_int64(s, 8, c->errors);
	state_bind_text(s, 9, message);
	if (state_step_done(st, s, "finishing the run") == -1)
		return -1;
	return state_commit(st);
}

/* Record one event of a run; bytes < 0 is stored as NULL. */
int
state_event(struct state *st, int64_t run_id, const char *path,
    const char *action, int64_t bytes, const char *detail)
{
	sqlite3_stmt *s;
	char now[32];

	if ((s = state_stmt(st, ST_EVENT)) == NULL)
		return -1;
	state_now_iso(now, sizeof(now));
	sqlite3_bind_int64(s, 1, run_id);
	state_bind_text(s, 2, now);
	state_bind_text(s, 3, path);
	state_bind_text(s, 4, action);
	if (bytes >= 0)
		sqlite3_bind_int64(s, 5, bytes);
	state_bind_text(s, 6, detail);
	return state_step_done(st, s, "recording an event");
}

static const char *
state_column_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static void state_read_run(sqlite3_stmt *s, struct run_info *r);
static int64_t state_column_time(sqlite3_stmt *s, int i);

/* Call fn for the newest runs, newest first. */
int
state_history(struct state *st, const char *job, int limit,
    void (*fn)(void *arg, const struct run_info *r), void *arg)
{
	sqlite3_stmt *s;
	struct run_info r;
	int rc;

	s = state_stmt(st, job ? ST_HISTORY_JOB : ST_HISTORY_ALL);
	if (s == NULL)
		return -1;
	sqlite3_bind_int(s, 1, limit);
	if (job)
		state_bind_text(s, 2, job);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		state_read_run(s, &r);
		r.source = state_column_text(s, 11);
		r.pid = state_column_time(s, 12);
		fn(arg, &r);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return state_fail(st, "reading history");
	return 0;
}

/* Fill r from the run columns (0-10) of a row. */
static void
state_read_run(sqlite3_stmt *s, struct run_info *r)
{
	r->id = sqlite3_column_int64(s, 0);
	r->job = state_column_text(s, 1);
	r->started_at = state_column_text(s, 2);
	r->finished_at = state_column_text(s, 3);
	r->status = state_column_text(s, 4);
	r->counts.added = sqlite3_column_int64(s, 5);
	r->counts.changed = sqlite3_column_int64(s, 6);
	r->counts.deleted = sqlite3_column_int64(s, 7);
	r->counts.bytes = sqlite3_column_int64(s, 8);
	r->counts.errors = sqlite3_column_int64(s, 9);
	r->message = state_column_text(s, 10);
	r->source = NULL;	/* read by state_history only */
	r->pid = -1;
}

static int64_t
state_column_time(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(s, i);
}

/* Call fn with the summary of each job that has runs (or of job). */
int
state_summaries(struct state *st, const char *job,
    void (*fn)(void *arg, const struct job_summary *js), void *arg)
{
	struct job_summary js;
	sqlite3_stmt *s;
	int rc;

	s = state_stmt(st, job ? ST_SUMMARY_JOB : ST_SUMMARY_ALL);
	if (s == NULL)
		return -1;
	if (job)
		state_bind_text(s, 1, job);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&js, 0, sizeof(js));
		state_read_run(s, &js.last);
		js.last_ok_at = state_column_text(s, 11);
		js.failures = sqlite3_column_int64(s, 12);
		js.started = state_column_time(s, 13);
		js.finished = state_column_time(s, 14);
		js.last_ok = state_column_time(s, 15);
		js.failed = js.last.status != NULL &&
		    strcmp(js.last.status, "failed") == 0;
		js.done.status = state_column_text(s, 16);
		js.done.counts.added = sqlite3_column_int64(s, 17);
		js.done.counts.changed = sqlite3_column_int64(s, 18);
		js.done.counts.deleted = sqlite3_column_int64(s, 19);
		js.done.counts.bytes = sqlite3_column_int64(s, 20);
		js.done.counts.errors = sqlite3_column_int64(s, 21);
		js.done.started = state_column_time(s, 22);
		js.done.finished = state_column_time(s, 23);
		fn(arg, &js);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return state_fail(st, "reading runs");
	return 0;
}

/* Call fn for each event of path in job's runs, newest first. */
int
state_show(struct state *st, const char *job, const char *path, int limit,
    void (*fn)(void *arg, const struct event_info *ev), void *arg)
{
	struct event_info ev;
	sqlite3_stmt *s;
	int rc;

	if ((s = state_stmt(st, ST_SHOW)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	sqlite3_bind_int(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ev.time = state_column_text(s, 0);
		ev.run_id = sqlite3_column_int64(s, 1);
		ev.action = state_column_text(s, 2);
		ev.bytes = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 :
		    sqlite3_column_int64(s, 3);
		ev.detail = state_column_text(s, 4);
		fn(arg, &ev);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return state_fail(st, "reading events");
	return 0;
}

/* Delete events of job's runs that started more than days ago. */
int
state_prune_events(struct state *st, const char *job, int days)
{
	sqlite3_stmt *s;

	if (days <= 0)
		return 0;
	if ((s = state_stmt(st, ST_PRUNE)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	sqlite3_bind_int(s, 2, days);
	return state_step_done(st, s, "pruning old events");
}

/* The queue of a waiting state, or NULL. */
static struct state_queue *
state_queue_of(struct state *st, enum scan_state state)
{
	size_t i;

	for (i = 0; i < STATE_QUEUES; i++)
		if (state_waiting[i] == state)
			return &st->queue[i];
	return NULL;
}

/* Empty the work queue and forget the claims. */
static void
state_queue_clear(struct state *st)
{
	size_t i;

	for (i = 0; i < STATE_QUEUES; i++) {
		free(st->queue[i].due);
		free(st->queue[i].later);
	}
	memset(st->queue, 0, sizeof(st->queue));
	free(st->claimed);
	st->claimed = NULL;
	st->nclaimed = st->capclaimed = 0;
	st->queue_lost = false;
}

static bool
state_retry_before(const struct state_retry *a, const struct state_retry *b)
{
	return a->at < b->at || (a->at == b->at && a->id < b->id);
}

/* Add r to q's heap of retries (room made by the caller). */
static void
state_retry_push(struct state_queue *q, struct state_retry r)
{
	size_t i = q->nlater++, up;

	while (i > 0 && state_retry_before(&r, &q->later[up = (i - 1) / 2])) {
		q->later[i] = q->later[up];
		i = up;
	}
	q->later[i] = r;
}

/* Drop the soonest retry of q's heap (not empty). */
static void
state_retry_pop(struct state_queue *q)
{
	struct state_retry last = q->later[--q->nlater];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < q->nlater) {
		if (c + 1 < q->nlater &&
		    state_retry_before(&q->later[c + 1], &q->later[c]))
			c++;
		if (!state_retry_before(&q->later[c], &last))
			break;
		q->later[i] = q->later[c];
		i = c;
	}
	if (q->nlater > 0)
		q->later[i] = last;
}

/*
 * Room for one more after n elements of size in v (capacity *cap): v or
 * its new place, NULL (v untouched) when out of memory.
 */
static void *
state_grow(void *v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return v;
	ncap = *cap ? *cap * 2 : 64;
	if ((nv = reallocarray(v, ncap, size)) == NULL) {
		log_err("out of memory");
		return NULL;
	}
	*cap = ncap;
	return nv;
}

/*
 * Row id was put in state, due at at (0: at once).  Out of memory, the
 * row is in the table but not in the queue: the run cannot go on as if
 * it were done (queue_lost makes the queue answer -1 from then on).
 */
static int
state_queue_put(struct state *st, int64_t id, enum scan_state state,
    int64_t at)
{
	struct state_queue *q = state_queue_of(st, state);
	struct state_retry *later, r = { id, at };
	int64_t *due;

	if (q == NULL)
		return 0;
	if (at > 0) {
		if ((later = state_grow(q->later, &q->caplater, q->nlater,
		    sizeof(*later))) == NULL) {
			st->queue_lost = true;
			return -1;
		}
		q->later = later;
		state_retry_push(q, r);
		return 0;
	}
	if (q->head == q->len)
		q->head = q->len = 0;
	else if (q->len == q->cap && q->head > 0) {
		memmove(q->due, q->due + q->head,
		    (q->len - q->head) * sizeof(*q->due));
		q->len -= q->head;
		q->head = 0;
	}
	if ((due = state_grow(q->due, &q->cap, q->len, sizeof(*due))) == NULL) {
		st->queue_lost = true;
		return -1;
	}
	q->due = due;
	q->due[q->len++] = id;
	return 0;
}

/* Row id changes state: no longer claimed. */
static void
state_queue_release(struct state *st, int64_t id)
{
	size_t i;

	for (i = 0; i < st->nclaimed; i++)
		if (st->claimed[i].id == id) {
			st->claimed[i] = st->claimed[--st->nclaimed];
			break;
		}
}

static bool
state_claimed(const struct state *st, int64_t id)
{
	size_t i;

	for (i = 0; i < st->nclaimed; i++)
		if (st->claimed[i].id == id)
			return true;
	return false;
}

/* Take the next id of q due at now, retries first: 1, or 0. */
static int
state_queue_take(struct state_queue *q, int64_t now, int64_t *id)
{
	if (q->nlater > 0 && q->later[0].at <= now) {
		*id = q->later[0].id;
		state_retry_pop(q);
		return 1;
	}
	if (q->head < q->len) {
		*id = q->due[q->head++];
		return 1;
	}
	return 0;
}

/* Forget the working set of job's previous run. */
int
state_scan_reset(struct state *st, const char *job)
{
	sqlite3_stmt *s;

	state_queue_clear(st);
	if ((s = state_stmt(st, ST_SCAN_RESET)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	return state_step_done(st, s, "clearing the scan");
}

/* Add a row to the scan; 1 when its path was there already. */
int
state_scan_add(struct state *st, const char *job, const char *parent,
    const char *path, const char *link_target, const char *unique,
    const struct scan_row *row)
{
	sqlite3_stmt *s;
	char type[2] = { row->type, '\0' };

	if ((s = state_stmt(st, ST_SCAN_ADD)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	state_bind_text(s, 3, parent);
	sqlite3_bind_int(s, 4, row->depth);
	sqlite3_bind_text(s, 5, type, 1, SQLITE_TRANSIENT);
	if (row->size >= 0)
		sqlite3_bind_int64(s, 6, row->size);
	sqlite3_bind_int64(s, 7, row->mtime);
	sqlite3_bind_int(s, 8, row->mtime_prec);
	state_bind_text(s, 9, link_target);
	sqlite3_bind_int(s, 10, (int)row->state);
	sqlite3_bind_int(s, 11, (int)row->action);
	state_bind_text(s, 12, unique);
	if (row->verified_at >= 0)
		sqlite3_bind_int64(s, 13, row->verified_at);
	if (state_step_done(st, s, "recording a listing entry") == -1)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return 1;
	return state_queue_put(st, sqlite3_last_insert_rowid(st->db),
	    row->state, 0);
}

static char *
state_dup_column(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	if (t == NULL)
		return NULL;
	return strdup((const char *)t);
}

/* Fill row from the columns of ST_SCAN_GET's shape. */
static int
state_scan_read_row(sqlite3_stmt *s, struct scan_row *row)
{
	const unsigned char *type;

	memset(row, 0, sizeof(*row));
	row->id = sqlite3_column_int64(s, 0);
	if ((row->path = state_dup_column(s, 1)) == NULL)
		return -1;
	if (sqlite3_column_type(s, 2) != SQLITE_NULL &&
	    (row->link_target = state_dup_column(s, 2)) == NULL)
		return -1;
	row->depth = sqlite3_column_int(s, 3);
	type = sqlite3_column_text(s, 4);
	row->type = type ? (char)type[0] : 'f';
	row->size = sqlite3_column_type(s, 5) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(s, 5);
	row->mtime = sqlite3_column_int64(s, 6);
	row->mtime_prec = sqlite3_column_int(s, 7);
	row->state = (enum scan_state)sqlite3_column_int(s, 8);
	row->action = (enum scan_action)sqlite3_column_int(s, 9);
	row->tries = sqlite3_column_int(s, 10);
	row->verified_at = sqlite3_column_type(s, 11) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(s, 11);
	return 0;
}

/* Free what a scan row owns. */
void
state_scan_row_clear(struct scan_row *row)
{
	free(row->path);
	free(row->link_target);
	row->path = NULL;
	row->link_target = NULL;
}

/* Is q (of waiting) a queue to take from?  0, or -1 after saying why. */
static int
state_queue_usable(const struct state *st, const struct state_queue *q,
    enum scan_state waiting)
{
	if (q == NULL) {
		log_err("state %d is not a queue", (int)waiting);
		return -1;
	}
	if (st->queue_lost) {
		log_err("the work queue lost a row (out of memory)");
		return -1;
	}
	return 0;
}

/*
 * Is row id still in waiting, due by at (it may have left the state, or
 * been put back with a later time, since it was queued)?  1 with *row
 * filled when row is not NULL, 0, or -1.
 */
static int
state_scan_waits(struct state *st, int64_t id, enum scan_state waiting,
    int64_t at, struct scan_row *row)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = state_stmt(st, ST_SCAN_GET)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, (int)waiting);
	sqlite3_bind_int64(s, 3, at);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && row != NULL &&
	    state_scan_read_row(s, row) == -1) {
		state_scan_row_clear(row);
		log_err("out of memory");
		rc = SQLITE_NOMEM;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_NOMEM)
		state_fail(st, "reading the work queue");
	return -1;
}

/* Claim the next row due in waiting (see state.h): 1, 0 none, -1. */
int
state_scan_claim(struct state *st, enum scan_state waiting, int64_t now,
    struct scan_row *row)
{
	struct state_queue *q = state_queue_of(st, waiting);
	struct state_claim *claimed;
	int64_t id;
	int found;

	if (state_queue_usable(st, q, waiting) == -1)
		return -1;
	if ((claimed = state_grow(st->claimed, &st->capclaimed, st->nclaimed,
	    sizeof(*claimed))) == NULL)
		return -1;
	st->claimed = claimed;
	while (state_queue_take(q, now, &id)) {
		if (state_claimed(st, id))
			continue;
		if ((found = state_scan_waits(st, id, waiting, now, row)) != 0) {
			if (found == 1) {
				claimed[st->nclaimed].id = id;
				claimed[st->nclaimed++].from = q;
			}
			return found;
		}
	}
	return 0;
}

/* At most how many rows of waiting are left to do (see state.h). */
size_t
state_scan_unfinished(struct state *st, enum scan_state waiting)
{
	const struct state_queue *q = state_queue_of(st, waiting);
	size_t i, n;

	if (q == NULL)
		return 0;
	n = q->len - q->head + q->nlater;
	/* Claims are few: one per connection at most. */
	for (i = 0; i < st->nclaimed; i++)
		if (st->claimed[i].from == q)
			n++;
	return n;
}

/* When the next row in waiting is due: 1 and *when, 0 none, -1. */
int
state_scan_next_retry(struct state *st, enum scan_state waiting,
    int64_t *when)
{
	struct state_queue *q = state_queue_of(st, waiting);
	int found;

	if (state_queue_usable(st, q, waiting) == -1)
		return -1;
	if (q->head < q->len) {
		*when = 0;
		return 1;
	}
	/* The soonest retry whose row still waits for it. */
	while (q->nlater > 0) {
		found = state_scan_waits(st, q->later[0].id, waiting,
		    q->later[0].at, NULL);
		if (found != 0) {
			*when = q->later[0].at;
			return found;
		}
		state_retry_pop(q);
	}
	return 0;
}

/* Set a scan row's state, tries and retry time. */
int
state_scan_set(struct state *st, int64_t id, enum scan_state state,
    int tries, int64_t not_before)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_SCAN_SET)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, (int)state);
	sqlite3_bind_int(s, 3, tries);
	sqlite3_bind_int64(s, 4, not_before);
	state_queue_release(st, id);
	if (state_step_done(st, s, "updating the work queue") == -1)
		return -1;
	return state_queue_put(st, id, state, not_before);
}

/* Set a scan row's mtime, its precision and when it was confirmed. */
int
state_scan_set_mtime(struct state *st, int64_t id, int64_t mtime, int prec,
    int64_t verified_at)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_SCAN_SET_MTIME)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, mtime);
	sqlite3_bind_int(s, 3, prec);
	sqlite3_bind_int64(s, 4, verified_at);
	return state_step_done(st, s, "updating a modification time");
}

/* Set what publishing a scan row does. */
int
state_scan_set_action(struct state *st, int64_t id, enum scan_action action)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_SCAN_SET_ACTION)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, (int)action);
	return state_step_done(st, s, "updating the work queue");
}

/* Make a row another type of entry, in state (a followed link's kind). */
int
state_scan_set_type(struct state *st, int64_t id, char type,
    enum scan_state state)
{
	sqlite3_stmt *s;
	char t[2] = { type, '\0' };

	if ((s = state_stmt(st, ST_SCAN_SET_TYPE)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, t, 1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 3, (int)state);
	state_queue_release(st, id);
	if (state_step_done(st, s, "updating the work queue") == -1)
		return -1;
	return state_queue_put(st, id, state, 0);
}

/* Drop a row from the scan, as if the listing had not named it. */
int
state_scan_forget(struct state *st, int64_t id)
{
	state_queue_release(st, id);
	return state_by_id(st, ST_SCAN_FORGET, id, "updating the work queue");
}

/* Record a directory's own unique fact (its MLSD cdir line). */
int
state_scan_set_unique(struct state *st, int64_t id, const char *unique)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_SCAN_SET_UNIQUE)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	state_bind_text(s, 2, unique);
	return state_step_done(st, s, "updating the scan");
}

/* The MLSD unique fact of path in the scan: 1 and *unique, 0, -1. */
int
state_scan_unique(struct state *st, const char *job, const char *path,
    char **unique)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	*unique = NULL;
	if ((s = state_stmt(st, ST_SCAN_UNIQUE)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		if ((*unique = state_dup_column(s, 0)) == NULL)
			ret = -1;
		else
			ret = 1;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = state_fail(st, "reading the scan");
	sqlite3_reset(s);
	return ret;
}

/* Number of scan rows of job in state (-1 on error). */
int64_t
state_scan_count(struct state *st, const char *job, enum scan_state state)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_SCAN_COUNT)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	sqlite3_bind_int(s, 2, (int)state);
	return state_step_count(st, s, "counting the work queue");
}

/*
 * Call fn for each row of job in the given states, in path order.  The
 * statement is built per call (the set of states varies) and finalized.
 */
int
state_scan_foreach(struct state *st, const char *job,
    const enum scan_state *states, size_t nstates,
    int (*fn)(void *arg, const struct scan_row *row), void *arg)
{
	sqlite3_stmt *s = NULL;
	struct scan_row row;
	char sql[512];
	size_t i, off;
	int rc, ret = -1;

	memset(&row, 0, sizeof(row));
	off = (size_t)snprintf(sql, sizeof(sql),
	    "SELECT id, path, link_target, depth, type, size, mtime, "
	    "mtime_prec, state, action, tries, verified_at FROM scan "
	    "WHERE job = ?1 AND state IN (");
	for (i = 0; i < nstates && off < sizeof(sql) - 32; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s%d",
		    i ? "," : "", (int)states[i]);
	snprintf(sql + off, sizeof(sql) - off, ") ORDER BY path");

	if (state_begin(st) == -1)
		return -1;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		state_fail(st, sql);
		goto out;
	}
	state_bind_text(s, 1, job);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (state_scan_read_row(s, &row) == -1) {
			log_err("out of memory");
			goto out;
		}
		if (fn(arg, &row) == -1)
			goto out;
		state_scan_row_clear(&row);
	}
	if (rc != SQLITE_DONE) {
		state_fail(st, "walking the scan");
		goto out;
	}
	ret = 0;
out:
	state_scan_row_clear(&row);
	sqlite3_finalize(s);
	return ret;
}

/* The staged row of path: 1 found, 0 not, -1 error. */
int
state_staged_get(struct state *st, const char *job, const char *path,
    struct staged_row *out)
{
	sqlite3_stmt *s;
	int rc, ret = -1;

	if ((s = state_stmt(st, ST_STAGED_GET)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		out->size = sqlite3_column_int64(s, 1);
		out->mtime = sqlite3_column_int64(s, 2);
		out->complete = sqlite3_column_int(s, 3) != 0;
		ret = 1;
	} else if (rc == SQLITE_DONE)
		ret = 0;
	else
		state_fail(st, "reading staged files");
	sqlite3_reset(s);
	return ret;
}

/*
 * Insert (row->id <= 0, and set it; 0) or update a staged row (0).  An
 * insert for a path that has a row returns 1 with *row set to that row
 * instead.  The id names the file in incoming.  A new row may wait for
 * the batch's commit: after a crash the file it named has no row, is
 * removed as an orphan, and a row that reuses the id starts its file
 * afresh (new rows truncate).  A changed row is committed before any byte
 * of the new version is written, so a resume never appends one version to
 * another.
 */
int
state_staged_put(struct state *st, const char *job, const char *path,
    struct staged_row *row)
{
	sqlite3_stmt *s;

	if (row->id > 0) {
		if ((s = state_stmt(st, ST_STAGED_UPDATE)) == NULL)
			return -1;
		sqlite3_bind_int64(s, 1, row->id);
		sqlite3_bind_int64(s, 2, row->size);
		sqlite3_bind_int64(s, 3, row->mtime);
		sqlite3_bind_int(s, 4, row->complete);
		if (state_step_done(st, s, "updating a staged file") == -1)
			return -1;
		return state_commit(st);
	}
	if ((s = state_stmt(st, ST_STAGED_INSERT)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	sqlite3_bind_int64(s, 3, row->size);
	sqlite3_bind_int64(s, 4, row->mtime);
	sqlite3_bind_int(s, 5, row->complete);
	if (state_step_done(st, s, "recording a staged file") == -1)
		return -1;
	if (sqlite3_changes(st->db) == 0) {
		if (state_staged_get(st, job, path, row) != 1)
			return -1;
		return 1;
	}
	row->id = sqlite3_last_insert_rowid(st->db);
	return 0;
}


/*
 * Mark complete the staged files of job that this run fetched whole: one
 * statement at the end of the transfers instead of one per file.
 */
int
state_staged_complete(struct state *st, const char *job)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_STAGED_COMPLETE)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	sqlite3_bind_int(s, 2, (int)SCAN_FILE_STAGED);
	sqlite3_bind_int(s, 3, (int)SCAN_FILE_HASH);
	return state_step_done(st, s, "completing staged files");
}

/* Forget a staged file (published or discarded). */
int
state_staged_delete(struct state *st, int64_t id)
{
	return state_by_id(st, ST_STAGED_DELETE, id, "forgetting a file");
}

/* Has job any staged file?  1, 0, or -1. */
int
state_staged_any(struct state *st, const char *job)
{
	sqlite3_stmt *s;
	int64_t v;

	if ((s = state_stmt(st, ST_STAGED_ANY)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	return state_step_int(st, s, "reading staged files", &v);
}

/* Is id a staged file (of any job)?  1, 0, or -1. */
int
state_staged_known(struct state *st, int64_t id)
{
	sqlite3_stmt *s;
	int64_t v;

	if ((s = state_stmt(st, ST_STAGED_KNOWN)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return state_step_int(st, s, "reading staged files", &v);
}

/*
 * Run statement s (bound), whose rows are (path, type), and call fn for
 * each row.  The rows are collected before fn runs, since fn may change
 * the table being read (deleting files rows); the sets read this way
 * (vanished paths, a vanished subtree, type changes) are small next to
 * the tree.
 */
static int
state_paths_foreach(struct state *st, sqlite3_stmt *s, const char *what,
    int (*fn)(void *arg, const char *path, char type), void *arg)
{
	char **paths = NULL, *types = NULL;
	size_t n = 0, cap = 0, i;
	int rc, ret = -1;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *type = state_column_text(s, 1);

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **np = realloc(paths, ncap * sizeof(*np));
			char *nt;

			if (np == NULL)
				goto oom;
			paths = np;
			if ((nt = realloc(types, ncap)) == NULL)
				goto oom;
			types = nt;
			cap = ncap;
		}
		if ((paths[n] = state_dup_column(s, 0)) == NULL)
			goto oom;
		types[n++] = type && type[0] == 'd' ? 'd' :
		    type && type[0] == 'l' ? 'l' : 'f';
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		state_fail(st, what);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (fn(arg, paths[i], types[i]) == -1)
			goto out;
	ret = 0;
	goto out;
oom:
	sqlite3_reset(s);
	log_err("out of memory");
out:
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(types);
	return ret;
}

/* Call fn for each vanished top-most path. */
int
state_vanished_foreach(struct state *st, const char *job,
    int (*fn)(void *arg, const char *path, char type), void *arg)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_VANISHED)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	return state_paths_foreach(st, s, "finding vanished files", fn, arg);
}

/* Call fn for each files row strictly below path, in path order. */
int
state_files_foreach_below(struct state *st, const char *job,
    const char *path, int (*fn)(void *arg, const char *path, char type),
    void *arg)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_FILES_BELOW)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	return state_paths_foreach(st, s, "reading files", fn, arg);
}

/* The mirrored row of path: 1 found, 0 not, -1 error. */
int
state_files_get(struct state *st, const char *job, const char *path,
    struct files_row *out)
{
	static const char *const precs[] = { "none", "day", "minute",
	    "second" };
	sqlite3_stmt *s;
	const char *prec;
	int rc, ret = -1, i;

	if ((s = state_stmt(st, ST_FILES_GET)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->size = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 :
		    sqlite3_column_int64(s, 0);
		out->mtime = sqlite3_column_int64(s, 1);
		prec = state_column_text(s, 2);
		out->mtime_prec = 0;
		for (i = 0; prec && i < 4; i++)
			if (strcmp(prec, precs[i]) == 0)
				out->mtime_prec = i;
		out->verified_at = sqlite3_column_type(s, 3) == SQLITE_NULL ?
		    -1 : sqlite3_column_int64(s, 3);
		out->recheck = sqlite3_column_int(s, 4) != 0;
		ret = 1;
	} else if (rc == SQLITE_DONE)
		ret = 0;
	else
		state_fail(st, "reading the mirrored tree");
	sqlite3_reset(s);
	return ret;
}

/* Mark the count files of job least recently confirmed for an MDTM. */
int
state_files_mark_recheck(struct state *st, const char *job, int64_t count)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_FILES_MARK_RECHECK)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	sqlite3_bind_int64(s, 2, count);
	return state_step_done(st, s, "choosing files to check");
}

/* Rows of files at path or below (-1 on error). */
int64_t
state_files_count_below(struct state *st, const char *job, const char *path)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_FILES_COUNT_BELOW)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	return state_step_count(st, s, "counting files");
}

/* Rows of files of job that are not directories (-1 on error). */
int64_t
state_files_count(struct state *st, const char *job)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_FILES_COUNT)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	return state_step_count(st, s, "counting files");
}

/* Forget path and everything below it. */
int
state_files_delete_below(struct state *st, const char *job, const char *path)
{
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_FILES_DELETE_BELOW)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	state_bind_text(s, 2, path);
	return state_step_done(st, s, "forgetting files");
}

struct forget_ctx {
	struct state	*st;
	const char	*job;
};

static int
state_forget_below(void *arg, const char *path, char type)
{
	struct forget_ctx *f = arg;

	(void)type;
	return state_files_delete_below(f->st, f->job, path);
}

/*
 * Record every entry now in target as the mirrored tree.  A directory
 * that became a file or a link took its contents with it: those rows go
 * first, or they would linger as a tree that is no longer there.
 */
int
state_files_update_from_scan(struct state *st, const char *job,
    int64_t run_id)
{
	struct forget_ctx f = { st, job };
	sqlite3_stmt *s;

	if ((s = state_stmt(st, ST_FILES_NO_LONGER_DIRS)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	if (state_paths_foreach(st, s, "finding type changes",
	    state_forget_below, &f) == -1)
		return -1;
	if ((s = state_stmt(st, ST_FILES_FROM_SCAN)) == NULL)
		return -1;
	state_bind_text(s, 1, job);
	sqlite3_bind_int64(s, 2, run_id);
	return state_step_done(st, s, "recording the mirrored tree");
}
