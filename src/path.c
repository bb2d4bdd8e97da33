/*
 * path.c: from remote names to safe local paths.
 *
 * The remote server names the files we write, so every name is checked and
 * every walk below a mirror root goes one component at a time through
 * directory descriptors opened with O_NOFOLLOW.  Nothing here builds a
 * path string from the root and hands it to the kernel to resolve: a
 * symbolic link planted anywhere in the tree is never followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

/*
 * How deep path_remove_tree descends.  Each level holds a directory
 * descriptor and a stack frame, so a hostile tree must not choose the
 * depth; 256 is far beyond any real mirror.
 */
#define PATH_REMOVE_DEPTH	256

/*
 * How many times path_remove_tree rereads one directory.  Removing entries
 * while reading may make some file systems skip entries, so a directory is
 * read again until a pass finds nothing; the bound only guards against
 * someone refilling it as fast as we empty it.
 */
#define PATH_REMOVE_PASSES	8

/* Flags for opening one directory component without following a link. */
#define PATH_DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/*
 * Check one remote name (a single path component of len bytes).  Refused:
 * empty, ".", "..", containing '/' or NUL, control bytes, longer than
 * NAME_MAX.  Returns NULL when the name is acceptable, else a static
 * reason.
 */
const char *
path_check_name(const char *name, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (name == NULL || len == 0)
		return "empty name";
	if (len > NAME_MAX)
		return "name too long";
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return "name is . or ..";
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		if (c == '/')
			return "name contains a slash";
		if (c == '\0')
			return "name contains a NUL byte";
		if (c < 0x20 || c == 0x7f)
			return "name contains a control character";
	}
	return NULL;
}

/*
 * "dir/name", or "name" when dir is empty (or NULL).  Returns a string the
 * caller frees, or NULL with errno set.
 */
char *
path_join(const char *dir, const char *name)
{
	char	*s;
	size_t	 dl, nl;

	if (name == NULL) {
		errno = EINVAL;
		return NULL;
	}
	dl = dir == NULL ? 0 : strlen(dir);
	nl = strlen(name);
	if (dl > SIZE_MAX - nl - 2) {
		errno = ENOMEM;
		return NULL;
	}
	if ((s = malloc(dl + nl + 2)) == NULL)
		return NULL;
	if (dl > 0) {
		memcpy(s, dir, dl);
		s[dl++] = '/';
	}
	memcpy(s + dl, name, nl + 1);
	return s;
}

/*
 * Length of the directory part of relpath: the bytes before its last '/'
 * ("a/b/c" -> 3), or 0 when it has no '/'.
 */
size_t
path_dirlen(const char *relpath)
{
	const char	*slash;

	if ((slash = strrchr(relpath, '/')) == NULL)
		return 0;
	return (size_t)(slash - relpath);
}

/*
 * The last component of relpath: a pointer into it just past its last '/',
 * or relpath itself when there is none.
 */
const char *
path_base(const char *relpath)
{
	const char	*slash;

	if ((slash = strrchr(relpath, '/')) == NULL)
		return relpath;
	return slash + 1;
}

/* Where the path part of an ftp:// URL starts (after its '/'), or NULL. */
static const char *
url_path_part(const char *url)
{
	const char *p;

	if ((p = strstr(url, "://")) == NULL || (p = strchr(p + 3, '/')) == NULL)
		return NULL;
	return p + 1;
}

const char *
path_lead_guard(const char *prefix, const char *rest)
{
	char c = prefix[0] != '\0' ? prefix[0] : rest[0];

	return c == '-' || c == '~' || c == ' ' || c == '\t' ? "./" : "";
}

bool
path_list_needs_cwd(const char *path)
{
	return strpbrk(path, "*?[{ \t") != NULL;
}

/*
 * The URL of relpath below base (which ends in '/'): base is copied as is,
 * and every byte of relpath but '/' and the RFC 3986 unreserved ones is
 * percent-encoded, so a name with '#', '?', '%' or a space reaches the
 * server intact.  A path that would start with '-', '~' or a blank gets "./"
 * in front (path_lead_guard).  With dir, a '/' is appended unless relpath
 * is empty (base already ends in one).  Returns a string the caller frees,
 * or NULL with errno set.
 */
char *
path_url(const char *base, const char *relpath, bool dir)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const char		*part, *guard = "";
	char			*url, *p;
	size_t			 bl, rl, head;
	const unsigned char	*r;
	unsigned char		 c;

	if (base == NULL || relpath == NULL) {
		errno = EINVAL;
		return NULL;
	}
	bl = strlen(base);
	rl = strlen(relpath);
	if (rl > (SIZE_MAX - bl - 4) / 3) {
		errno = ENOMEM;
		return NULL;
	}
	if ((url = malloc(bl + 3 * rl + 4)) == NULL)
		return NULL;
	head = bl;
	if ((part = url_path_part(base)) != NULL) {
		head = (size_t)(part - base);
		guard = path_lead_guard(part, relpath);
	}
	memcpy(url, base, head);
	p = url + head;
	p = stpcpy(p, guard);
	memcpy(p, base + head, bl - head);
	p += bl - head;
	for (r = (const unsigned char *)relpath; *r != '\0'; r++) {
		c = *r;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || c == '/') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '%';
		*p++ = hex[c >> 4];
		*p++ = hex[c & 0x0f];
	}
	if (dir && rl > 0)
		*p++ = '/';
	*p = '\0';
	return url;
}

/*
 * Open the single component comp in dirfd as a real directory, making it
 * first when create is set and it is missing.  A symbolic link fails with
 * ENOTDIR like any other non-directory.  Returns a descriptor or -1.
 */
static int
open_component(int dirfd, const char *comp, bool create)
{
	int	 fd;

	fd = openat(dirfd, comp, PATH_DIR_FLAGS);
	if (fd == -1 && errno == ENOENT && create) {
		/* Another process may make it between our calls: fine. */
		if (mkdirat(dirfd, comp, 0755) == -1 && errno != EEXIST)
			return -1;
		fd = openat(dirfd, comp, PATH_DIR_FLAGS);
	}
	/* O_NOFOLLOW reports a link as ELOOP; to callers it is a non-dir. */
	if (fd == -1 && errno == ELOOP)
		errno = ENOTDIR;
	return fd;
}

/*
 * Find the end of the component that starts at p in the bytes up to end:
 * *clen is its length, and the return value points past the '/' that ends
 * it, or is NULL when it is the last one.
 */
static const char *
next_component(const char *p, const char *end, size_t *clen)
{
	const char	*q;

	if ((q = memchr(p, '/', (size_t)(end - p))) == NULL) {
		*clen = (size_t)(end - p);
		return NULL;
	}
	*clen = (size_t)(q - p);
	return q + 1;
}

/*
 * Walk the first len bytes of reldir below rootfd, one component at a
 * time; len 0 opens the root itself.  Every component is checked before
 * the first is opened, so a bad path creates nothing.  Returns a new
 * descriptor the caller closes, or -1 with errno set; no other descriptor
 * stays open.
 */
static int
open_dir_len(int rootfd, const char *reldir, size_t len, bool create)
{
	char		 comp[NAME_MAX + 1];
	const char	*p, *c, *end;
	size_t		 clen;
	int		 fd = -1, next, rc = -1, saved;

	if (len == 0)
		return openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	end = reldir + len;
	for (p = reldir; p != NULL; ) {
		c = p;
		p = next_component(c, end, &clen);
		if (clen > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto out;
		}
		/* Also refuses "", "." and "..": no climbing, no "a//b". */
		if (path_check_name(c, clen) != NULL) {
			errno = EINVAL;
			goto out;
		}
	}

	for (p = reldir; p != NULL; ) {
		c = p;
		p = next_component(c, end, &clen);
		memcpy(comp, c, clen);
		comp[clen] = '\0';
		next = open_component(fd == -1 ? rootfd : fd, comp, create);
		if (next == -1)
			goto out;
		if (fd != -1)
			close(fd);
		fd = next;
	}
	rc = 0;
out:
	if (rc == -1 && fd != -1) {
		saved = errno;
		close(fd);
		errno = saved;
		fd = -1;
	}
	return fd;
}

/* The value of hex digit c, or -1. */
int
path_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode %XX escapes of s[0..len); see path.h. */
char *
path_percent_decode(const char *s, size_t len, size_t *outlen)
{
	char	*out;
	size_t	 i, n = 0;
	int	 hi, lo;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    (hi = path_hex_digit((unsigned char)s[i + 1])) != -1 &&
		    (lo = path_hex_digit((unsigned char)s[i + 2])) != -1) {
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[n++] = s[i];
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/*
 * The decoded path of an ftp:// URL, without its leading '/'.  Returns a
 * string the caller frees, or NULL.
 */
char *
path_url_path(const char *url)
{
	const char	*p;
	char		*out;
	size_t		 n;

	if (url == NULL || (p = url_path_part(url)) == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((out = path_percent_decode(p, strlen(p), &n)) == NULL)
		return NULL;
	if (strlen(out) != n || strpbrk(out, "\r\n") != NULL) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	return out;
}

/*
 * Open directory reldir ("" for the root itself) below the directory open
 * as rootfd, one component at a time with O_NOFOLLOW; with create, missing
 * directories are made.  Empty, "." and ".." components and names
 * path_check_name refuses fail with EINVAL; a component that is anything
 * but a real directory, a symbolic link included, fails with ENOTDIR.
 * Returns a descriptor the caller closes, or -1 with errno set.
 */
int
path_open_dir(int rootfd, const char *reldir, bool create)
{
	if (reldir == NULL) {
		errno = EINVAL;
		return -1;
	}
	return open_dir_len(rootfd, reldir, strlen(reldir), create);
}

/*
 * Open the directory that holds relpath below rootfd (as path_open_dir on
 * its directory part) and point *leaf at its last component, which must
 * itself pass path_check_name (else EINVAL), so the caller can never be
 * handed "..".  Returns a descriptor the caller closes, or -1 with errno
 * set and *leaf untouched.
 */
int
path_open_parent(int rootfd, const char *relpath, bool create,
    const char **leaf)
{
	const char	*base;
	size_t		 dirlen;
	int		 fd;

	if (relpath == NULL || leaf == NULL) {
		errno = EINVAL;
		return -1;
	}
	base = path_base(relpath);
	dirlen = path_dirlen(relpath);
	if (path_check_name(base, strlen(base)) != NULL ||
	    (base != relpath && dirlen == 0)) {
		/* A bad leaf, or an absolute "/name". */
		errno = EINVAL;
		return -1;
	}
	if ((fd = open_dir_len(rootfd, relpath, dirlen, create)) == -1)
		return -1;
	*leaf = base;
	return fd;
}

/*
 * Remove name in dirfd, descending into it when it is a directory; depth
 * counts the directories above it.  Children are reached only through the
 * descriptor of their own directory.
 */
static int
remove_tree(int dirfd, const char *name, int depth)
{
	DIR		*dir = NULL;
	struct dirent	*de;
	int		 fd, pass, found, rc = -1, saved;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	/* Linux says EISDIR for a directory, POSIX says EPERM. */
	if (errno != EISDIR && errno != EPERM)
		return -1;
	saved = errno;
	if (depth >= PATH_REMOVE_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	if ((fd = openat(dirfd, name, PATH_DIR_FLAGS)) == -1) {
		if (errno == ENOENT)
			return 0;
		/* Not a directory after all: the unlink error was real. */
		if (errno == ENOTDIR || errno == ELOOP)
			errno = saved;
		return -1;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}

	for (pass = 0; pass < PATH_REMOVE_PASSES; pass++) {
		rewinddir(dir);
		found = 0;
		for (;;) {
			errno = 0;
			if ((de = readdir(dir)) == NULL) {
				if (errno != 0)
					goto out;
				break;
			}
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			found = 1;
			if (remove_tree(fd, de->d_name, depth + 1) == -1)
				goto out;
		}
		if (!found)
			break;
	}
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		goto out;
	rc = 0;
out:
	saved = errno;
	closedir(dir);
	errno = saved;
	return rc;
}

/*
 * Remove name in dirfd and, when it is a directory, everything below it,
 * never following a symbolic link (a link is removed, not its target).
 * name must be one component: empty, ".", ".." and names with '/' fail
 * with EINVAL.  A missing name is success.  Trees deeper than
 * PATH_REMOVE_DEPTH fail with ELOOP, possibly after removing part of them.
 * Returns 0, or -1 with errno set.
 */
int
path_remove_tree(int dirfd, const char *name)
{
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	return remove_tree(dirfd, name, 0);
}

/*
 * Does a symbolic link at relpath (below the mirror root) whose contents
 * are target stay inside the mirror?  Lexical: target must be relative and
 * non-empty, and walked from the link's directory ("." and empty
 * components skipped, ".." popping) it must never climb above the root,
 * and ".." may only lead the target ("../../x", not "b/../x"): the kernel
 * resolves "b/.." physically, through b if b is a link, so a ".." after a
 * name could escape where the lexical walk says it stays.
 */
bool
path_link_inside(const char *relpath, const char *target)
{
	const char	*p, *c, *end;
	size_t		 depth = 0, clen;
	int		 part;
	bool		 named = false;	/* the target had a name before */

	if (relpath == NULL || target == NULL || target[0] == '\0' ||
	    target[0] == '/')
		return false;

	/* Part 0 is the link's own directory, part 1 the target. */
	for (part = 0; part < 2; part++) {
		p = part == 0 ? relpath : target;
		end = part == 0 ? relpath + path_dirlen(relpath) :
		    target + strlen(target);
		while (p != NULL) {
			c = p;
			p = next_component(c, end, &clen);
			if (clen == 2 && c[0] == '.' && c[1] == '.') {
				/*
				 * ".." after a name in the target is refused:
				 * the kernel applies it to where that name
				 * leads, which may be another link, so a
				 * lexical check could be fooled by it.
				 */
				if (depth == 0 || (part == 1 && named))
					return false;
				depth--;
			} else if (clen > 0 && !(clen == 1 && c[0] == '.')) {
				depth++;
				named = part == 1;
			}
		}
	}
	return true;
}

/*
 * Hard-link copy of the directory open as src into the one open as dst:
 * directories are made, regular files linked, symbolic links recreated,
 * nothing followed.  depth counts the levels above.
 */
static int
clone_tree(int src, int dst, int depth)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*dir = NULL;
	char		 link[PATH_MAX];
	ssize_t		 n;
	int		 fd, sub = -1, dsub = -1, rc = -1, saved;

	if (depth >= PATH_REMOVE_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	if ((fd = openat(src, ".", PATH_DIR_FLAGS)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
			goto out;
		if (S_ISREG(sb.st_mode)) {
			if (linkat(fd, de->d_name, dst, de->d_name, 0) == -1)
				goto out;
		} else if (S_ISLNK(sb.st_mode)) {
			if ((n = readlinkat(fd, de->d_name, link,
			    sizeof(link) - 1)) == -1)
				goto out;
			link[n] = '\0';
			if (symlinkat(link, dst, de->d_name) == -1)
				goto out;
		} else if (S_ISDIR(sb.st_mode)) {
			if (mkdirat(dst, de->d_name, 0755) == -1 ||
			    (sub = openat(fd, de->d_name, PATH_DIR_FLAGS)) == -1 ||
			    (dsub = openat(dst, de->d_name, PATH_DIR_FLAGS)) == -1 ||
			    clone_tree(sub, dsub, depth + 1) == -1)
				goto out;
			close(sub);
			close(dsub);
			sub = dsub = -1;
		}
	}
	rc = 0;
out:
	saved = errno;
	if (sub != -1)
		close(sub);
	if (dsub != -1)
		close(dsub);
	closedir(dir);
	errno = saved;
	return rc;
}

/*
 * Make the directory open as dst a copy of the one open as src that
 * shares every regular file's inode (hard links), as snapshots do: only
 * renames and unlinks change the copy afterwards, never a file's bytes.
 * Returns 0, or -1 with errno set.
 */
int
path_clone_tree(int src, int dst)
{
	return clone_tree(src, dst, 0);
}

/*
 * Where a symbolic link at relpath with contents target leads, as a path
 * relative to the mirror root ("" for the root), walked lexically: "."
 * and empty components skipped, ".." popping.  Returns a string the
 * caller frees, or NULL when target is absolute or empty or climbs above
 * the root (or out of memory).
 */
char *
path_link_resolve(const char *relpath, const char *target)
{
	const char	*p, *c, *end;
	char		*out;
	size_t		 clen, len = 0, cap;
	int		 part;

	if (relpath == NULL || target == NULL || target[0] == '\0' ||
	    target[0] == '/')
		return NULL;
	cap = strlen(relpath) + strlen(target) + 2;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (part = 0; part < 2; part++) {
		p = part == 0 ? relpath : target;
		end = part == 0 ? relpath + path_dirlen(relpath) :
		    target + strlen(target);
		if (part == 0 && end == relpath)
			continue;	/* the link is in the root */
		while (p != NULL) {
			c = p;
			p = next_component(c, end, &clen);
			if (clen == 2 && c[0] == '.' && c[1] == '.') {
				if (len == 0) {
					free(out);
					return NULL;
				}
				while (len > 0 && out[len - 1] != '/')
					len--;
				if (len > 0)
					len--;	/* the '/' before it */
			} else if (clen > 0 && !(clen == 1 && c[0] == '.')) {
				if (len > 0)
					out[len++] = '/';
				memcpy(out + len, c, clen);
				len += clen;
			}
		}
	}
	out[len] = '\0';
	return out;
}

/*
 * mkdir -p for an absolute operator-given path (target, incoming): links
 * on the way are followed, since the operator chose them.  A component
 * that exists as a non-directory fails with ENOTDIR; a relative path with
 * EINVAL.  Returns 0, or -1 with errno set.
 */
int
path_dir_below(const char *abspath, dev_t dev, ino_t ino)
{
	char		 buf[PATH_MAX];
	struct stat	 st, up;
	char		*slash;
	int		 fd, next, rc = -1;

	if (strlen(abspath) >= sizeof(buf) || abspath[0] != '/') {
		errno = abspath[0] != '/' ? EINVAL : ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, abspath);
	/* The deepest part that exists ("/" always does). */
	while ((fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT || (slash = strrchr(buf, '/')) == NULL)
			return -1;
		slash[slash == buf] = '\0';
	}
	/* Up through "..", which is where a link really led. */
	for (;;) {
		if (fstat(fd, &st) == -1)
			goto out;
		if (st.st_dev == dev && st.st_ino == ino) {
			rc = 1;
			goto out;
		}
		if ((next = openat(fd, "..", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			goto out;
		close(fd);
		fd = next;
		if (fstat(fd, &up) == -1)
			goto out;
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
			rc = 0;		/* the root is its own parent */
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

int
path_mkdirs(const char *abspath)
{
	char		 buf[PATH_MAX];
	struct stat	 st;
	size_t		 len, i;
	int		 saved;

	if (abspath == NULL || abspath[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	if ((len = strlen(abspath)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, abspath, len + 1);

	/* Each prefix ending before a '/' (or at the end) is one level. */
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;	/* "//" or a trailing '/' */
		buf[i] = '\0';
		if (mkdir(buf, 0755) == -1) {
			/*
			 * EEXIST is the usual answer, but a read-only or
			 * unwritable parent may say EROFS or EACCES for a
			 * directory that exists: ask stat what is there.
			 */
			saved = errno;
			if (stat(buf, &st) == -1) {
				errno = saved;
				return -1;
			}
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				return -1;
			}
		}
		buf[i] = abspath[i];
	}
	return 0;
}
