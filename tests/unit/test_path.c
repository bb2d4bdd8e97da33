/*
 * test_path.c: unit tests for path.c, the mirror's file system boundary.
 * Pure functions are driven by tables; the descriptor walks run in fresh
 * mkdtemp directories, with a second "outside" directory that links point
 * at and that must never change.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

/* Two temporary trees: the mirror root and a place links point out to. */
struct fixture {
	char	root[64];	/* mkdtemp: the mirror root */
	char	outside[64];	/* mkdtemp: must stay untouched */
	int	rootfd;		/* open on root */
	int	nfds;		/* open descriptors before setup */
};

/* ---- pure functions ---- */

struct name_row {
	const char	*name;
	size_t		 len;		/* 0: strlen(name) */
	bool		 ok;
};

static void
test_check_name(void **state)
{
	static const struct name_row rows[] = {
		{ "a", 0, true },
		{ "with space", 0, true },
		{ " lead", 0, true },
		{ "trail ", 0, true },
		{ "\xff\xfe", 0, true },	/* not UTF-8: kept */
		{ "caf\xc3\xa9", 0, true },
		{ "...", 0, true },
		{ ".hidden", 0, true },
		{ "a%2Fb", 0, true },
		{ "back\\slash", 0, true },
		{ "", 0, false },
		{ ".", 0, false },
		{ "..", 0, false },
		{ "a/b", 0, false },
		{ "/", 0, false },
		{ "a/", 0, false },
		{ "a\nb", 0, false },
		{ "a\rb", 0, false },
		{ "\t", 0, false },
		{ "\x01", 0, false },
		{ "\x1f", 0, false },
		{ "\x7f", 0, false },
		{ "a\0b", 3, false },		/* NUL inside a counted name */
		{ "..\0", 3, false },
		{ "a\0", 2, false },
	};
	char	long_name[NAME_MAX + 2];
	size_t	i, len;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		len = rows[i].len != 0 ? rows[i].len : strlen(rows[i].name);
		if (rows[i].ok)
			assert_null(path_check_name(rows[i].name, len));
		else
			assert_non_null(path_check_name(rows[i].name, len));
	}

	memset(long_name, 'x', sizeof(long_name));
	long_name[NAME_MAX + 1] = '\0';
	assert_int_equal(NAME_MAX, 255);
	assert_null(path_check_name(long_name, NAME_MAX));
	assert_non_null(path_check_name(long_name, NAME_MAX + 1));
	/* A counted name is only len bytes: "." out of ".x". */
	assert_non_null(path_check_name(".x", 1));
	assert_null(path_check_name("ab/", 2));
	assert_non_null(path_check_name(NULL, 0));
}

struct join_row {
	const char	*dir;
	const char	*name;
	const char	*want;
};

static void
test_join(void **state)
{
	static const struct join_row rows[] = {
		{ "", "a", "a" },
		{ "a", "b", "a/b" },
		{ "a/b", "c d", "a/b/c d" },
		{ NULL, "x", "x" },
		{ "a", "", "a/" },
	};
	char	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s = path_join(rows[i].dir, rows[i].name);
		assert_non_null(s);
		assert_string_equal(s, rows[i].want);
		free(s);
	}
}

struct split_row {
	const char	*path;
	size_t		 dirlen;
	const char	*base;
};

static void
test_dirlen_base(void **state)
{
	static const struct split_row rows[] = {
		{ "a/b/c", 3, "c" },
		{ "c", 0, "c" },
		{ "", 0, "" },
		{ "a/b", 1, "b" },
		{ "dir/", 3, "" },
		{ "/x", 0, "x" },
		{ "a//b", 2, "b" },
		{ "with space/and more", 10, "and more" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(path_dirlen(rows[i].path), rows[i].dirlen);
		assert_string_equal(path_base(rows[i].path), rows[i].base);
		/* base is a pointer into the argument, not a copy */
		assert_true(path_base(rows[i].path) >= rows[i].path);
	}
}

struct url_row {
	const char	*base;
	const char	*rel;
	bool		 dir;
	const char	*want;
};

static void
test_url(void **state)
{
	static const struct url_row rows[] = {
		{ "ftp://h/", "", false, "ftp://h/" },
		{ "ftp://h/", "", true, "ftp://h/" },
		{ "ftp://h/pub/", "a/b.txt", false, "ftp://h/pub/a/b.txt" },
		{ "ftp://h/pub/", "a/b", true, "ftp://h/pub/a/b/" },
		{ "ftp://h/", "A-Z_a.z~09", false, "ftp://h/A-Z_a.z~09" },
		{ "ftp://h/", "a b", false, "ftp://h/a%20b" },
		{ "ftp://h/", "100%", false, "ftp://h/100%25" },
		{ "ftp://h/", "x#y?z;type=a", false,
		    "ftp://h/x%23y%3Fz%3Btype%3Da" },
		{ "ftp://h/", "caf\xc3\xa9", false, "ftp://h/caf%C3%A9" },
		{ "ftp://h/", "\xff", false, "ftp://h/%FF" },
		{ "ftp://h/", "+&=@:!$'()*,", false,
		    "ftp://h/%2B%26%3D%40%3A%21%24%27%28%29%2A%2C" },
		{ "ftp://h/", "back\\slash", false, "ftp://h/back%5Cslash" },
		/* a leading '-' would be taken for LIST options */
		{ "ftp://h/", "-l", true, "ftp://h/./-l/" },
		{ "ftp://h:21/", "-la/x", false, "ftp://h:21/./-la/x" },
		{ "ftp://h/pub/", "-l", true, "ftp://h/pub/-l/" },
		{ "ftp://h/-x/", "", true, "ftp://h/./-x/" },
		{ "ftp://h/-x/", "y", false, "ftp://h/./-x/y" },
		{ "ftp://h/", "a-b", false, "ftp://h/a-b" },
		{ "ftp://h/", " x", true, "ftp://h/./%20x/" },
		{ "ftp://h/", "~t/f", false, "ftp://h/./~t/f" },
		{ "ftp://h/pub/", " x", true, "ftp://h/pub/%20x/" },
		/* base is copied as is, even with bytes we would encode */
		{ "ftp://u%40x@h:21/my dir/", "f", false,
		    "ftp://u%40x@h:21/my dir/f" },
	};
	char	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s = path_url(rows[i].base, rows[i].rel, rows[i].dir);
		assert_non_null(s);
		assert_string_equal(s, rows[i].want);
		free(s);
	}
}

static void
test_list_needs_cwd(void **state)
{
	(void)state;
	assert_true(path_list_needs_cwd("g[1]"));
	assert_true(path_list_needs_cwd("pub/s*/x"));
	assert_true(path_list_needs_cwd("q?x/"));
	assert_true(path_list_needs_cwd("b{a,b}"));
	assert_true(path_list_needs_cwd("pub/a b/"));
	assert_true(path_list_needs_cwd("x\t/"));
	assert_false(path_list_needs_cwd(""));
	assert_false(path_list_needs_cwd("pub/~t/-l/%41/x]y/"));
}

struct link_row {
	const char	*relpath;
	const char	*target;
	bool		 inside;
};

struct resolve_row {
	const char	*relpath;
	const char	*target;
	const char	*dest;		/* NULL: refused */
};

static void
test_link_resolve(void **state)
{
	static const struct resolve_row rows[] = {
		{ "l", "x", "x" },
		{ "l", ".", "" },
		{ "l", "./x/./y/", "x/y" },
		{ "a/l", "..", "" },
		{ "a/l", "../b", "b" },
		{ "a/b/l", "../../c/d", "c/d" },
		{ "a/b/l", "x/../y", "a/b/y" },
		{ "a/b/l", ".", "a/b" },
		{ "a/l", "../..", NULL },
		{ "l", "..", NULL },
		{ "l", "/abs", NULL },
		{ "l", "", NULL },
		{ "a//b/l", "c", "a/b/c" },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		got = path_link_resolve(rows[i].relpath, rows[i].target);
		if (rows[i].dest == NULL) {
			if (got != NULL)
				fail_msg("row %zu: %s -> %s gave %s", i,
				    rows[i].relpath, rows[i].target, got);
		} else if (got == NULL || strcmp(got, rows[i].dest) != 0)
			fail_msg("row %zu: %s -> %s gave %s, want %s", i,
			    rows[i].relpath, rows[i].target,
			    got ? got : "NULL", rows[i].dest);
		free(got);
	}
}

static void
test_link_inside(void **state)
{
	static const struct link_row rows[] = {
		{ "a/l", "../x", true },
		{ "l", "../x", false },
		{ "a/l", "../../x", false },
		{ "a/l", "b/../../x", false },	/* ".." after a name */
		{ "a/l", "./../x", true },
		{ "a/l", "b/../../../x", false },
		{ "l", "x", true },
		{ "l", "./x", true },
		{ "l", "x/", true },
		{ "l", "x//y", true },
		{ "l", ".", true },
		{ "l", "..", false },
		{ "a/b/c/l", "../../../x/y", true },
		{ "a/b/c/l", "../../../../x", false },
		{ "a/b/c/l", "../../..", true },
		{ "a/l", "x/../..", false },	/* ".." after a name */
		{ "a/l", "x/../../..", false },
		{ "a/l", "./.././x", true },
		{ "l", "/etc/passwd", false },
		{ "a/l", "/", false },
		{ "l", "", false },
		/* popping below zero is final: later pushes don't undo it */
		{ "l", "../a/../a", false },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (path_link_inside(rows[i].relpath, rows[i].target) !=
		    rows[i].inside)
			fail_msg("row %zu: %s -> %s", i, rows[i].relpath,
			    rows[i].target);
	}
}

/* ---- file system helpers ---- */

static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

/* rm -rf for the fixture, independent of the code under test. */
static void
rm_rf(const char *p)
{
	nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->nfds = count_fds();
	snprintf(f->root, sizeof(f->root), "/tmp/test_path.root.XXXXXX");
	snprintf(f->outside, sizeof(f->outside), "/tmp/test_path.out.XXXXXX");
	if (mkdtemp(f->root) == NULL || mkdtemp(f->outside) == NULL)
		return -1;
	if ((f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY)) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	int		 leaked;

	close(f->rootfd);
	rm_rf(f->root);
	rm_rf(f->outside);
	leaked = count_fds() - f->nfds;
	free(f);
	if (leaked != 0) {
		fprintf(stderr, "leaked %d descriptors\n", leaked);
		return -1;
	}
	return 0;
}

/* Kind of what is at root/rel without following a link, or 0 if none. */
static mode_t
kind_at(const struct fixture *f, const char *rel)
{
	struct stat	st;

	if (fstatat(f->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return st.st_mode & S_IFMT;
}

static int
count_entries(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
make_file(int dirfd, const char *name)
{
	int	fd;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

/* Do two descriptors name the same directory? */
static bool
same_file(int a, int b)
{
	struct stat	sa, sb;

	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- path_open_dir / path_open_parent ---- */

static void
test_open_dir_nested(void **state)
{
	struct fixture	*f = *state;
	int		 fd, fd2;

	/* "" is a new descriptor for the root itself */
	fd = path_open_dir(f->rootfd, "", false);
	assert_true(fd >= 0);
	assert_int_not_equal(fd, f->rootfd);
	assert_true(same_file(fd, f->rootfd));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, "a/b", false), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(kind_at(f, "a"), 0);

	fd = path_open_dir(f->rootfd, "a/b c/\xff d", true);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(kind_at(f, "a/b c/\xff d"), S_IFDIR);
	make_file(fd, "leaf");
	assert_int_equal(kind_at(f, "a/b c/\xff d/leaf"), S_IFREG);

	/* existing directories open again, with or without create */
	fd2 = path_open_dir(f->rootfd, "a/b c/\xff d", false);
	assert_true(fd2 >= 0);
	assert_true(same_file(fd, fd2));
	close(fd2);
	fd2 = path_open_dir(f->rootfd, "a/b c", true);
	assert_true(fd2 >= 0);
	close(fd2);
	close(fd);
}

static void
test_open_dir_rejects(void **state)
{
	static const struct {
		const char	*reldir;
		int		 err;
	} rows[] = {
		{ "..", EINVAL },
		{ ".", EINVAL },
		{ "../x", EINVAL },
		{ "a/..", EINVAL },
		{ "a/../b", EINVAL },
		{ "a/./b", EINVAL },
		{ "a//b", EINVAL },
		{ "/a", EINVAL },
		{ "/", EINVAL },
		{ "a/", EINVAL },
		{ "a/b\nc", EINVAL },
		{ "a/\x7f", EINVAL },
	};
	struct fixture	*f = *state;
	char		 longname[NAME_MAX + 4];
	size_t		 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		errno = 0;
		assert_int_equal(path_open_dir(f->rootfd, rows[i].reldir,
		    true), -1);
		assert_int_equal(errno, rows[i].err);
	}
	memset(longname, 'y', sizeof(longname));
	longname[0] = 'a';
	longname[1] = '/';
	longname[sizeof(longname) - 1] = '\0';	/* "a/" + 256 bytes */
	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, longname, true), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, NULL, true), -1);
	assert_int_equal(errno, EINVAL);

	/* the whole path is checked first: "a" was never made */
	assert_int_equal(count_entries(f->root), 0);
	assert_int_equal(count_entries(f->outside), 0);
}

static void
test_open_dir_symlink_out(void **state)
{
	static const char *const bad[] = {
		"abs", "abs/x", "abs/x/y", "rel", "rel/x", "dangling",
		"dangling/x", "d/abs", "d/abs/x", "tod", "tod/x",
	};
	struct fixture	*f = *state;
	char		 rel[128], dangling[128];
	const char	*leaf = "untouched";
	size_t		 i;
	bool		 create;
	int		 fd;

	/* absolute, relative and dangling links out, and one further down */
	assert_int_equal(symlinkat(f->outside, f->rootfd, "abs"), 0);
	snprintf(rel, sizeof(rel), "../%s", f->outside + strlen("/tmp/"));
	assert_int_equal(symlinkat(rel, f->rootfd, "rel"), 0);
	snprintf(dangling, sizeof(dangling), "%s/new", f->outside);
	assert_int_equal(symlinkat(dangling, f->rootfd, "dangling"), 0);
	assert_int_equal(mkdirat(f->rootfd, "d", 0777), 0);
	assert_int_equal(symlinkat(f->outside, f->rootfd, "d/abs"), 0);
	/* a link to a directory inside is not followed either */
	assert_int_equal(symlinkat("d", f->rootfd, "tod"), 0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (create = false; ; create = true) {
			errno = 0;
			fd = path_open_dir(f->rootfd, bad[i], create);
			if (fd != -1)
				close(fd);
			assert_int_equal(fd, -1);
			assert_int_equal(errno, ENOTDIR);
			if (create)
				break;
		}
	}

	errno = 0;
	assert_int_equal(path_open_parent(f->rootfd, "abs/file", true, &leaf),
	    -1);
	assert_int_equal(errno, ENOTDIR);
	errno = 0;
	assert_int_equal(path_open_parent(f->rootfd, "d/abs/x/file", true,
	    &leaf), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_string_equal(leaf, "untouched");

	/* the links are still links and nothing appeared outside */
	assert_int_equal(count_entries(f->outside), 0);
	assert_int_equal(kind_at(f, "abs"), S_IFLNK);
	assert_int_equal(kind_at(f, "dangling"), S_IFLNK);
	assert_int_equal(kind_at(f, "d/abs"), S_IFLNK);
	assert_int_equal(count_entries(f->root), 5);
}

static void
test_open_dir_file_in_the_way(void **state)
{
	struct fixture	*f = *state;
	const char	*leaf = NULL;
	int		 fd;

	make_file(f->rootfd, "f");
	assert_int_equal(mkdirat(f->rootfd, "d", 0777), 0);
	assert_int_equal(mkfifoat(f->rootfd, "d/fifo", 0600), 0);

	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, "f", false), -1);
	assert_int_equal(errno, ENOTDIR);
	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, "f", true), -1);
	assert_int_equal(errno, ENOTDIR);
	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, "f/x", true), -1);
	assert_int_equal(errno, ENOTDIR);
	/* a fifo would block an O_RDONLY open without O_DIRECTORY */
	errno = 0;
	assert_int_equal(path_open_dir(f->rootfd, "d/fifo", true), -1);
	assert_int_equal(errno, ENOTDIR);
	errno = 0;
	assert_int_equal(path_open_parent(f->rootfd, "f/x", true, &leaf), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_null(leaf);

	/* the leaf itself may be anything: it is the caller's to open */
	fd = path_open_parent(f->rootfd, "f", false, &leaf);
	assert_true(fd >= 0);
	assert_true(same_file(fd, f->rootfd));
	assert_string_equal(leaf, "f");
	close(fd);
}

static void
test_open_parent(void **state)
{
	static const char *const bad[] = {
		"", "/", "a/", "..", "a/..", "a/.", ".", "/x", "../x",
		"a//x", "x/\x01", "a/../x",
	};
	struct fixture	*f = *state;
	const char	*path = "a/b/file name";
	const char	*leaf = NULL;
	size_t		 i;
	int		 fd;

	fd = path_open_parent(f->rootfd, path, true, &leaf);
	assert_true(fd >= 0);
	assert_ptr_equal(leaf, path + 4);
	assert_string_equal(leaf, "file name");
	assert_int_equal(kind_at(f, "a/b"), S_IFDIR);
	assert_int_equal(kind_at(f, "a/b/file name"), 0);
	make_file(fd, leaf);
	assert_int_equal(kind_at(f, "a/b/file name"), S_IFREG);
	close(fd);

	fd = path_open_parent(f->rootfd, "top", false, &leaf);
	assert_true(fd >= 0);
	assert_true(same_file(fd, f->rootfd));
	assert_string_equal(leaf, "top");
	close(fd);

	errno = 0;
	assert_int_equal(path_open_parent(f->rootfd, "x/y/z", false, &leaf),
	    -1);
	assert_int_equal(errno, ENOENT);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		leaf = "untouched";
		errno = 0;
		assert_int_equal(path_open_parent(f->rootfd, bad[i], true,
		    &leaf), -1);
		assert_int_equal(errno, EINVAL);
		assert_string_equal(leaf, "untouched");
	}
	assert_int_equal(count_entries(f->root), 1);	/* just "a" */
}

/* ---- path_remove_tree ---- */

static void
test_remove_tree(void **state)
{
	struct fixture	*f = *state;
	char		 victim[128];
	int		 outfd, fd;

	/* outside: a file and a directory with a file */
	outfd = open(f->outside, O_RDONLY | O_DIRECTORY);
	assert_true(outfd != -1);
	make_file(outfd, "victim");
	assert_int_equal(mkdirat(outfd, "vdir", 0777), 0);
	make_file(outfd, "vdir/vf");

	/* inside: t/{file, sub/{file2, empty/}, out -> outside, ...} */
	fd = path_open_dir(f->rootfd, "t/sub/empty", true);
	assert_true(fd >= 0);
	close(fd);
	make_file(f->rootfd, "t/file");
	make_file(f->rootfd, "t/sub/file2");
	assert_int_equal(symlinkat(f->outside, f->rootfd, "t/out"), 0);
	assert_int_equal(symlinkat(f->outside, f->rootfd, "t/sub/out"), 0);
	snprintf(victim, sizeof(victim), "%s/victim", f->outside);
	assert_int_equal(symlinkat(victim, f->rootfd, "t/victim"), 0);
	assert_int_equal(symlinkat("nowhere", f->rootfd, "t/dangling"), 0);
	assert_int_equal(mkfifoat(f->rootfd, "t/fifo", 0600), 0);
	make_file(f->rootfd, "keep");

	assert_int_equal(path_remove_tree(f->rootfd, "t"), 0);
	assert_int_equal(kind_at(f, "t"), 0);
	assert_int_equal(kind_at(f, "keep"), S_IFREG);

	/* outside is exactly as it was */
	assert_int_equal(count_entries(f->outside), 2);
	assert_int_equal(count_entries(victim), -1);	/* still a file */
	assert_int_equal(faccessat(outfd, "victim", F_OK, 0), 0);
	assert_int_equal(faccessat(outfd, "vdir/vf", F_OK, 0), 0);

	/* a link given by name is removed, not its target */
	assert_int_equal(symlinkat(f->outside, f->rootfd, "ln"), 0);
	assert_int_equal(path_remove_tree(f->rootfd, "ln"), 0);
	assert_int_equal(kind_at(f, "ln"), 0);
	assert_int_equal(count_entries(f->outside), 2);

	/* a plain file, and a missing name */
	assert_int_equal(path_remove_tree(f->rootfd, "keep"), 0);
	assert_int_equal(kind_at(f, "keep"), 0);
	assert_int_equal(path_remove_tree(f->rootfd, "missing"), 0);
	assert_int_equal(count_entries(f->root), 0);
	close(outfd);
}

static void
test_remove_tree_bad_names(void **state)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "/", "../x" };
	struct fixture	*f = *state;
	size_t		 i;
	int		 fd;

	fd = path_open_dir(f->rootfd, "a/b", true);
	assert_true(fd >= 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(path_remove_tree(fd, bad[i]), -1);
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_int_equal(path_remove_tree(fd, NULL), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
	assert_int_equal(kind_at(f, "a/b"), S_IFDIR);
}

/* Make a chain of n directories named "d" below root; a descriptor walk. */
static void
make_chain(const struct fixture *f, int n)
{
	int	fd, next, i;

	fd = dup(f->rootfd);
	for (i = 0; i < n; i++) {
		assert_int_equal(mkdirat(fd, "d", 0777), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		assert_true(next != -1);
		close(fd);
		fd = next;
	}
	make_file(fd, "bottom");
	close(fd);
}

static void
test_remove_tree_depth(void **state)
{
	struct fixture	*f = *state;
	char		*mid;
	int		 fd, i;

	/* 256 nested directories are removed */
	make_chain(f, 256);
	assert_int_equal(path_remove_tree(f->rootfd, "d"), 0);
	assert_int_equal(kind_at(f, "d"), 0);

	/* one more level is refused rather than recursed into */
	make_chain(f, 257);
	errno = 0;
	assert_int_equal(path_remove_tree(f->rootfd, "d"), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(kind_at(f, "d"), S_IFDIR);

	/* removed from the middle, it fits again: open "d/d/.../d" (100) */
	mid = malloc(200);
	assert_non_null(mid);
	for (i = 0; i < 100; i++) {
		mid[2 * i] = 'd';
		mid[2 * i + 1] = '/';
	}
	mid[199] = '\0';
	fd = path_open_dir(f->rootfd, mid, false);
	assert_true(fd >= 0);
	assert_int_equal(path_remove_tree(fd, "d"), 0);
	close(fd);
	free(mid);
	assert_int_equal(path_remove_tree(f->rootfd, "d"), 0);
	assert_int_equal(count_entries(f->root), 0);
}

/* ---- path_mkdirs ---- */

static void
test_mkdirs(void **state)
{
	struct fixture	*f = *state;
	char		 p[256];
	struct stat	 st;

	snprintf(p, sizeof(p), "%s/x/y z/w", f->root);
	assert_int_equal(path_mkdirs(p), 0);
	assert_int_equal(kind_at(f, "x/y z/w"), S_IFDIR);
	assert_int_equal(path_mkdirs(p), 0);	/* again: nothing to do */

	snprintf(p, sizeof(p), "%s//x2///y2/", f->root);
	assert_int_equal(path_mkdirs(p), 0);
	assert_int_equal(kind_at(f, "x2/y2"), S_IFDIR);
	assert_int_equal(path_mkdirs("/"), 0);

	make_file(f->rootfd, "file");
	snprintf(p, sizeof(p), "%s/file", f->root);
	errno = 0;
	assert_int_equal(path_mkdirs(p), -1);
	assert_int_equal(errno, ENOTDIR);
	snprintf(p, sizeof(p), "%s/file/sub", f->root);
	errno = 0;
	assert_int_equal(path_mkdirs(p), -1);
	assert_int_equal(errno, ENOTDIR);

	/* the operator's own links are followed */
	assert_int_equal(symlinkat(f->outside, f->rootfd, "op"), 0);
	snprintf(p, sizeof(p), "%s/op/made", f->root);
	assert_int_equal(path_mkdirs(p), 0);
	snprintf(p, sizeof(p), "%s/made", f->outside);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	errno = 0;
	assert_int_equal(path_mkdirs("relative/dir"), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(path_mkdirs(""), -1);
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_name),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_dirlen_base),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_list_needs_cwd),
		cmocka_unit_test(test_link_inside),
		cmocka_unit_test(test_link_resolve),
		cmocka_unit_test_setup_teardown(test_open_dir_nested,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_dir_rejects,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_dir_symlink_out,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_dir_file_in_the_way,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_parent,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree_bad_names,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree_depth,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
