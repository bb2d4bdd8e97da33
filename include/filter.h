/*
 * filter.h: the job's exclude/include globs, applied to paths relative to
 * the source root ("pub/x/file.tgz", no leading slash).
 *
 * Pattern syntax: "*" matches any run of bytes but "/", "?" one byte but
 * "/", "[abc]" "[a-z]" "[!a]" a class, "\\x" a literal x, and "**" as a
 * whole path component any number of components (zero or more).  A pattern
 * with no "/" matches the last component at any depth ("*.tmp" matches
 * "a/b/c.tmp"); a pattern with a "/" is anchored at the root ("old/" "**",
 * split in two here only because a C comment cannot hold slash-star).
 * A pattern ending in "/" "**" also matches the directory itself.
 */
#ifndef FTPMIRROR_FILTER_H
#define FTPMIRROR_FILTER_H

#include <stdbool.h>
#include <stddef.h>

/* Does pattern match path?  Pure. */
bool filter_match(const char *pattern, const char *path);

/*
 * Could a path strictly below directory dirpath match pattern?  Used to
 * skip listing directories that no include pattern can reach.  May answer
 * true when unsure, never false when a match is possible.
 */
bool filter_may_match_below(const char *pattern, const char *dirpath);

/*
 * The job's decision for one path: false when any exclude pattern matches
 * it; else, when includes are given, a file must match one of them and a
 * directory must match one or be able to hold a match below it; else true.
 */
bool filter_wanted(char *const *exclude, size_t nexclude,
    char *const *include, size_t ninclude, const char *path, bool is_dir);

#endif
