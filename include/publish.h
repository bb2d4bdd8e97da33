/*
 * publish.h: incoming -> target.  Run only when every transfer of the run
 * succeeded.  New directories first, then staged files renamed into place
 * (index files such as Release or SHA256SUMS after the files they list),
 * then deletions; every rename is atomic, so readers of target see each
 * file either old or new, never partial.
 */
#ifndef FTPMIRROR_PUBLISH_H
#define FTPMIRROR_PUBLISH_H

#include "run.h"

enum publish_result {
	PUBLISH_OK = 0,
	PUBLISH_FAILED = -1,		/* an error, logged and recorded */
	PUBLISH_DELETE_LIMIT = 1	/* published, but max_delete stopped
					   the deletions: none was done */
};

/*
 * Reject a staged file: move INCOMING/<staged_id> to quarantine (beside
 * incoming, as INCOMING.quarantine/run<R>-<id>-<name>), record why as a
 * `quarantine` event, and leave the public tree as it was.  Returns 0 or
 * -1.
 */
int publish_reject(struct run *r, const struct scan_row *row,
    int64_t staged_id, const char *why);

/*
 * Start writing incoming to disk on a thread of its own while the last
 * files arrive, so that the flush before the first rename finds little
 * left to write.  Once a run, and only where that flush would be done
 * (fsync: true).  The flush before the first rename waits for the thread;
 * publish_flush_ahead_end, which must run before incoming is closed,
 * waits for it in any case (a stopped run too: at most one syncfs).
 */
void publish_flush_ahead(struct run *r);
void publish_flush_ahead_end(struct run *r);

/* Publish the run's staged work into target. */
enum publish_result publish_run(struct run *r);

/*
 * Print what publish_run would do (--dry-run): fetches, publications and
 * deletions, one per line on stdout, as tab-separated fields or (json) as
 * one JSON object each, and count them.  Deletions over max_delete are
 * not printed: PUBLISH_DELETE_LIMIT, as the run would end.
 */
enum publish_result publish_print_plan(struct run *r, bool json,
    struct dry_counts *dc);

#endif
