-- ftpmirror state, version 1.  Timestamps are UTC ISO 8601 text.

-- One row per run of a job.
CREATE TABLE runs (
	id               INTEGER PRIMARY KEY,
	job              TEXT NOT NULL,
	started_at       TEXT NOT NULL,
	finished_at      TEXT,
	status           TEXT NOT NULL
	                 CHECK (status IN ('running', 'ok', 'partial', 'failed', 'aborted')),
	files_added      INTEGER NOT NULL DEFAULT 0,
	files_changed    INTEGER NOT NULL DEFAULT 0,
	files_deleted    INTEGER NOT NULL DEFAULT 0,
	bytes_downloaded INTEGER NOT NULL DEFAULT 0,
	errors           INTEGER NOT NULL DEFAULT 0,
	message          TEXT,
	source           TEXT,            -- the job's source URL at the time
	pid              INTEGER          -- the process that ran it
);
CREATE INDEX runs_job ON runs (job, id);

-- One row per thing that happened to a path in a run.
CREATE TABLE events (
	id       INTEGER PRIMARY KEY,
	run_id   INTEGER NOT NULL REFERENCES runs (id),
	time     TEXT NOT NULL,
	path     TEXT NOT NULL,
	action   TEXT NOT NULL,           -- add change delete resume retry skip error
	bytes    INTEGER,
	detail   TEXT
);
CREATE INDEX events_run ON events (run_id);
CREATE INDEX events_path ON events (path);

-- The remote tree as last mirrored, per job.
CREATE TABLE files (
	job          TEXT NOT NULL,
	path         TEXT NOT NULL,       -- relative to the source, '' is the root
	parent       TEXT NOT NULL,       -- path of the directory holding it
	type         TEXT NOT NULL CHECK (type IN ('file', 'dir', 'link')),
	size         INTEGER,
	mtime        TEXT,                -- remote modification time
	mtime_prec   TEXT,                -- second, minute, day or none
	link_target  TEXT,
	unique_id    TEXT,                -- MLSD "unique" fact
	updated_run  INTEGER,             -- run that last changed this row
	PRIMARY KEY (job, path)
) WITHOUT ROWID;
CREATE INDEX files_parent ON files (job, parent);

-- Files downloaded (fully or partly) into incoming but not yet published.
-- The staged file is INCOMING/<id>; size and mtime are the remote version
-- it belongs to, so a resume never mixes two versions of a file.
CREATE TABLE staged (
	id        INTEGER PRIMARY KEY,
	job       TEXT NOT NULL,
	path      TEXT NOT NULL,
	size      INTEGER NOT NULL,
	mtime     INTEGER NOT NULL,       -- seconds since the epoch
	complete  INTEGER NOT NULL DEFAULT 0,
	UNIQUE (job, path)
);

-- Working set of the current run of a job: the fresh listing and what is
-- to be done with each entry.  Emptied when a run ends.
CREATE TABLE scan (
	id          INTEGER PRIMARY KEY,
	job         TEXT NOT NULL,
	path        TEXT NOT NULL,
	parent      TEXT NOT NULL,
	depth       INTEGER NOT NULL,
	type        TEXT NOT NULL,
	size        INTEGER,
	mtime       INTEGER,
	mtime_prec  INTEGER NOT NULL,
	link_target TEXT,
	unique_id   TEXT,
	state       INTEGER NOT NULL,     -- enum scan_state in include/state.h
	action      INTEGER NOT NULL,     -- enum scan_action
	tries       INTEGER NOT NULL DEFAULT 0,
	not_before  INTEGER NOT NULL DEFAULT 0,  -- ms since the epoch
	UNIQUE (job, path)
);
CREATE INDEX scan_work ON scan (job, state, id);
