/*
 * path.h: from remote names to safe local paths.  Remote names are checked
 * here, and every file system call on the mirror's trees goes through a
 * directory descriptor opened by walking components one at a time without
 * following symbolic links, so no name and no link can lead outside the
 * tree it belongs to.
 */
#ifndef FTPMIRROR_PATH_H
#define FTPMIRROR_PATH_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

/*
 * Check one remote name (a single path component of len bytes).  Refused:
 * empty, ".", "..", containing '/' or NUL, control bytes (0x01-0x1f, 0x7f),
 * longer than NAME_MAX.  Other bytes, including non-UTF-8, are kept.
 * Returns NULL when the name is acceptable, else a static reason.
 */
const char *path_check_name(const char *name, size_t len);

/*
 * "dir/name", or "name" when dir is empty.  Returns a string the caller
 * frees, or NULL when out of memory.
 */
char *path_join(const char *dir, const char *name);

/* Length of the directory part of relpath ("a/b/c" -> 3, "c" -> 0). */
size_t path_dirlen(const char *relpath);

/* The last component of relpath (a pointer into it). */
const char *path_base(const char *relpath);

/*
 * "./" when the server path prefix + rest would start with '-', '~' or a
 * blank, else "".  LIST and NLST take a leading '-' for options (vsftpd,
 * pure-ftpd and proftpd do), so "LIST -l" lists the login directory, not
 * "-l"; proftpd takes "~t/f" for user t's home; and a leading blank may be
 * taken for the separator.
 */
const char *path_lead_guard(const char *prefix, const char *rest);

/*
 * The URL of relpath below base (which ends in '/'): every byte of relpath
 * but '/' and RFC 3986 unreserved ones is percent-encoded, and a path that
 * would start with '-', '~' or a blank starts "./" (path_lead_guard).
 * With dir, a '/' is appended.  Returns a string the caller frees, or NULL.
 */
char *path_url(const char *base, const char *relpath, bool dir);

/*
 * Whether a directory is better listed by CWD to it and a bare LIST: its
 * path holds a glob character ('*', '?', '[', '{') or a blank.  pure-ftpd
 * and proftpd expand LIST's argument as globs ("LIST g[1]" lists "g1"),
 * and pure-ftpd splits it at blanks ("LIST a b" lists "a" and "b").
 */
bool path_list_needs_cwd(const char *path);

/* The value of hex digit c, or -1. */
int path_hex_digit(int c);

/*
 * Decode the %XX escapes of len bytes at s (a '%' not followed by two hex
 * digits stays as it is).  Returns a string the caller frees, or NULL;
 * *outlen gets its length, which an escaped NUL makes differ from strlen.
 */
char *path_percent_decode(const char *s, size_t len, size_t *outlen);

/*
 * The path part of an ftp:// URL, percent-decoded, without its leading
 * '/' ("ftp://h:21/pub/a%20b/" -> "pub/a b/"): what FTP commands name,
 * relative to the login directory.  Returns a string the caller frees, or
 * NULL when the URL has no such part or decodes to a NUL, CR or LF.
 */
char *path_url_path(const char *url);

/*
 * Open directory reldir ("" for the root itself) below the directory open
 * as rootfd, one component at a time with O_NOFOLLOW.  With create, missing
 * directories are made (mode 0755 less umask).  A component that exists as
 * anything but a real directory fails with ENOTDIR.  Returns a descriptor
 * the caller closes, or -1 with errno set.
 */
int path_open_dir(int rootfd, const char *reldir, bool create);

/*
 * Open the directory that holds relpath below rootfd (as path_open_dir on
 * its directory part) and set *leaf to its last component.  Returns the
 * descriptor, or -1 with errno set.
 */
int path_open_parent(int rootfd, const char *relpath, bool create,
    const char **leaf);

/*
 * Remove name in dirfd and, when it is a directory, everything below it,
 * never following a symbolic link.  A missing name is success.  Returns 0,
 * or -1 with errno set.
 */
int path_remove_tree(int dirfd, const char *name);

/*
 * Does a symbolic link at relpath (below the mirror root) whose contents
 * are target stay inside the mirror?  Lexical: target must be relative and
 * its ".." components must never climb above the root.
 */
bool path_link_inside(const char *relpath, const char *target);

/*
 * Where a symbolic link at relpath whose contents are target leads,
 * relative to the mirror root ("" is the root), resolved lexically.
 * Returns a string the caller frees, or NULL when target is absolute or
 * empty, or climbs above the root.
 */
char *path_link_resolve(const char *relpath, const char *target);

/*
 * Fill the directory open as dst with a copy of the one open as src:
 * directories made, regular files hard-linked, symbolic links recreated,
 * no link followed.  Returns 0, or -1 with errno set.
 */
int path_clone_tree(int src, int dst);

/*
 * mkdir -p for an absolute operator-given path (target, incoming).
 * Returns 0, or -1 with errno set.
 */
int path_mkdirs(const char *abspath);

/*
 * Is the directory (dev, ino) the absolute path abspath itself or one of
 * the directories above it, symbolic links followed?  Parts of abspath
 * that do not exist yet are left out: they would be made below the rest.
 * Returns 1, 0, or -1 with errno set.
 */
int path_dir_below(const char *abspath, dev_t dev, ino_t ino);

#endif
