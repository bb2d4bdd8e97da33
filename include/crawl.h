/*
 * crawl.h: walking the remote tree.  Directories wait in the scan table
 * and are listed on free connections, oldest first (breadth-first); each
 * entry is filtered, checked, planned against the local trees and stored.
 */
#ifndef FTPMIRROR_CRAWL_H
#define FTPMIRROR_CRAWL_H

#include "run.h"

/*
 * Connect, log in and ask FEAT, deciding how directories will be listed.
 * Blocks until done (nothing else is in flight yet).  Returns 0, or -1 with
 * r->remote_unusable set when the server can't be used.
 */
int crawl_probe(struct run *r);

/*
 * Start logging in on every connection but one (left for crawl_probe), so
 * all are ready when the walk needs them.  Best effort: failures are only
 * logged, the walk's own requests report the real ones.
 */
void crawl_warm_up(struct run *r);

/* Queue the root directory of the source. */
int crawl_add_root(struct run *r);

/*
 * Start listing the next directory that waits, on a free slot.  Returns 1
 * when one was started, 0 when none waits now, -1 on error.
 */
int crawl_start_next(struct run *r);

/*
 * List the source's root directory once and print each entry as parsed
 * (type, size, mtime and its precision, name): the `ls` command.  Returns
 * 0, or -1 when it could not be listed.
 */
int crawl_ls(struct run *r);

#endif
