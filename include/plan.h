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

/* The decision. */
struct plan_decision {
	enum scan_state	 state;		/* where the entry starts */
	enum scan_action action;	/* add, change or none */
};

/*
 * Decide for one entry.  Directories start as SCAN_DIR_PENDING (the caller
 * may make them SCAN_DIR_UNLISTED); files are unchanged, staged or to be
 * fetched; links are unchanged or to be made.
 */
struct plan_decision plan_entry(const struct plan_remote *remote,
    const struct plan_local *local, const struct plan_staged *staged);

/*
 * Does a local mtime match a remote one given with this precision?  A
 * minute or a day means the local time must fall inside it; no precision
 * matches anything (size alone decides).
 */
bool plan_mtime_matches(int64_t local, int64_t remote, int prec);

#endif
