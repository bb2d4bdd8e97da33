/*
 * plan.h: what to do with one remote entry, given what target and incoming
 * hold for its path.  Pure: the caller gathers the facts (lstat, the staged
 * row) and stores the decision.
 */
#ifndef FTPMIRROR_PLAN_H
#define FTPMIRROR_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

/* The entry as the fresh listing gives it. */
struct plan_remote {
	char		 type;		/* 'f', 'd' or 'l' */
	int64_t		 size;		/* -1 unknown */
	int64_t		 mtime;		/* UTC seconds */
	int		 mtime_prec;	/* enum mtime_prec */
	const char	*link_target;	/* for links */
};

/* What target holds at the path (from lstat/readlink). */
struct plan_local {
	char		 type;		/* 0 nothing, 'f', 'd', 'l', 'o' other */
	int64_t		 size;
	int64_t		 mtime;
	const char	*link_target;	/* for links, or NULL */
};

/* What incoming holds for the path (a staged row), if anything. */
struct plan_staged {
	bool		 exists;
	bool		 complete;
	int64_t		 size;
	int64_t		 mtime;
};

/*
 * What the database says of the path's last mirrored version, for entries
 * whose listed time is only a minute or a day (LIST).
 */
struct plan_known {
	bool		 exists;
	int64_t		 size;
	int64_t		 mtime;		/* UTC seconds */
	int		 mtime_prec;	/* enum mtime_prec */
	int64_t		 verified_at;	/* mtime confirmed exactly then */
	bool		 recheck;	/* its turn to be confirmed again */
};

/*
 * A rewrite is assumed to get an mtime no earlier than this many seconds
 * before we last looked (the server's clock may lag ours that much).
 */
#define PLAN_CLOCK_SKEW	120

/* The decision. */
struct plan_decision {
	enum scan_state	 state;		/* where the entry starts */
	enum scan_action action;	/* add, change or none */
	bool		 exact;		/* unchanged, and local's mtime is the
					   exact remote one (known says so) */
};

/*
 * Decide for one entry.  Directories start as SCAN_DIR_PENDING (the caller
 * may make them SCAN_DIR_UNLISTED); files are unchanged, staged, to be
 * fetched, or (known given, listed time coarser than a second) to be
 * checked with MDTM: when target's file matches the listed minute or day
 * and nothing proves a same-size rewrite could not hide inside it, that
 * is, the exact mtime was not confirmed after the listed minute or day had
 * passed (plus PLAN_CLOCK_SKEW), or known says it is due for a check
 * anyway.  Links are unchanged or to be made.
 * known is NULL when MDTM can't be asked: the listing decides alone.
 */
struct plan_decision plan_entry(const struct plan_remote *remote,
    const struct plan_local *local, const struct plan_staged *staged,
    const struct plan_known *known);

/*
 * The time of a LIST line whose year was guessed (listed, UTC), given the
 * mtime of target's file: that same minute a year later or earlier when
 * local falls in it, else listed.
 */
int64_t plan_listed_year(int64_t listed, int64_t local);

/*
 * Does a local mtime match a remote one given with this precision?  A
 * minute or a day means the local time must fall inside it; no precision
 * matches anything (size alone decides).
 */
bool plan_mtime_matches(int64_t local, int64_t remote, int prec);

#endif
