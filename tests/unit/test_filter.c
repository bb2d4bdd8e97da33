/*
 * test_filter.c: filter_match, filter_may_match_below and filter_wanted,
 * table driven, plus hostile patterns and paths that would take forever
 * with a backtracking matcher.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

struct match_case {
	const char	*pattern;
	const char	*path;
	bool		 want;
};

static const struct match_case match_cases[] = {
	/* no '/': the last component at any depth */
	{ "*.tmp", "a/b/c.tmp", true },
	{ "*.tmp", "c.tmp", true },
	{ "*.tmp", "a/c.tmp/d", false },
	{ "*.tmp", "a/b/c.tmpx", false },
	{ "*.TMP", "c.tmp", false },		/* case matters */
	{ "core", "x/y/core", true },
	{ "core", "x/core/y", false },
	{ "core", "x/y/core/", true },		/* trailing '/' ignored */

	/* dotfiles get no special treatment */
	{ "*", ".hidden", true },
	{ "*", "a/.hidden", true },
	{ "*.tmp", ".tmp", true },
	{ ".*", "a/.x", true },
	{ ".*", "a/x", false },

	/* a final "/" "**" also matches the directory itself */
	{ "old/**", "old", true },
	{ "old/**", "old/x", true },
	{ "old/**", "old/x/y", true },
	{ "old/**", "older/x", false },
	{ "old/**", "older", false },
	{ "old/**", "x/old/y", false },		/* anchored */

	/* one "*" component is exactly one component */
	{ "pub/*/README", "pub/linux/README", true },
	{ "pub/*/README", "pub/.git/README", true },
	{ "pub/*/README", "pub/README", false },
	{ "pub/*/README", "pub/a/b/README", false },
	{ "pub/*/README", "x/pub/a/README", false },
	{ "pub/*/README", "pub/linux/README.txt", false },

	/* "**" is zero or more components */
	{ "**/foo", "foo", true },
	{ "**/foo", "a/b/foo", true },
	{ "**/foo", "a/foo/b", false },
	{ "**/foo", "afoo", false },
	{ "a/**/b", "a/b", true },
	{ "a/**/b", "a/x/b", true },
	{ "a/**/b", "a/x/y/b", true },
	{ "a/**/b", "a/b/b/b", true },
	{ "a/**/b", "a/x/y/c", false },
	{ "a/**/b", "a/xb", false },
	{ "a/**/b", "b", false },
	{ "a/**/b/**/c", "a/1/b/2/b/c", true },
	{ "a/**/b/**/c", "a/1/b/2/c/d", false },
	{ "a/**/**/b", "a/b", true },
	{ "**", "x", true },
	{ "**", "x/y/z", true },
	{ "**/", "x/y", true },
	{ "a**b", "axxb", true },		/* not a whole component */
	{ "a**b", "a/b", false },
	{ "x/a**b", "x/ab", true },
	{ "x/a**b", "x/a/b", false },

	/* "?" is one byte, never '/' */
	{ "?", "a", true },
	{ "?", "ab", false },
	{ "a?b", "a/b", false },
	{ "x/a?b", "x/a/b", false },
	{ "x/a?b", "x/a.b", true },
	{ "caf?", "caf\xc3\xa9", false },	/* bytes, not characters */
	{ "caf??", "caf\xc3\xa9", true },

	/* classes */
	{ "[a-z]*.c", "src/main.c", true },
	{ "[a-z]*.c", "src/Main.c", false },
	{ "[!a]*", "abc", false },
	{ "[!a]*", "bcd", true },
	{ "[abc]", "b", true },
	{ "[abc]", "d", false },
	{ "[]]", "]", true },
	{ "[!]]", "]", false },
	{ "[!]]", "a", true },
	{ "[a-]", "-", true },
	{ "[a-]", "b", false },
	{ "[\\]]", "]", true },
	{ "[\\!a]", "!", true },
	{ "[z-a]", "m", false },		/* empty range */
	{ "v[0-9][0-9]", "v42", true },
	{ "v[0-9][0-9]", "v4x", false },
	{ "[", "[", true },			/* no ']': literal */
	{ "[ab", "[ab", true },
	{ "[ab", "a", false },
	{ "x/[/]", "x/[/]", true },		/* '/' always separates, */
	{ "x/[/]", "x/a", false },		/* leaving "[" and "]" */
	{ "a[/]b", "a/b", false },

	/* escapes */
	{ "\\*", "*", true },
	{ "\\*", "a", false },
	{ "\\?", "?", true },
	{ "\\?", "a", false },
	{ "a\\[b", "a[b", true },
	{ "\\\\", "\\", true },
	{ "a\\", "a\\", true },			/* trailing '\\' is literal */
	{ "x/\\*\\*/y", "x/**/y", true },	/* escaped: not "**" */
	{ "x/\\*\\*/y", "x/a/y", false },

	/* anchoring and empty components */
	{ "/top", "top", true },
	{ "/top", "a/top", false },
	{ "a//b", "a/b", true },
	{ "a/b", "a//b", true },

	/* empties */
	{ "*", "", false },
	{ "", "a", false },
	{ "", "", false },
	{ "**", "", false },
};

struct below_case {
	const char	*pattern;
	const char	*dir;
	bool		 want;
};

static const struct below_case below_cases[] = {
	{ "*.tmp", "any/dir", true },		/* unanchored: always */
	{ "core", "", true },
	{ "old/**", "", true },
	{ "old/**", "old", true },
	{ "old/**", "old/x", true },
	{ "old/**", "older", false },
	{ "old/**", "new", false },
	{ "pub/*/README", "", true },
	{ "pub/*/README", "pub", true },
	{ "pub/*/README", "pub/linux", true },
	{ "pub/*/README", "pub/linux/doc", false },
	{ "pub/*/README", "src", false },
	{ "pub/linux", "pub", true },
	{ "pub/linux", "pub/linux", false },	/* strictly below */
	{ "pub/linux", "pub/bsd", false },
	{ "pub/linux/", "pub/linux", false },
	{ "**/foo", "a/b/c", true },
	{ "**", "a/b/c", true },
	{ "a/**/b", "a", true },
	{ "a/**/b", "a/x/y", true },
	{ "a/**/b", "a/b", true },		/* a/b/b */
	{ "a/**/b", "c", false },
	{ "a/b/c", "a/b", true },
	{ "a/b/c", "a", true },
	{ "a/b/c", "a/c", false },
	{ "a/b/c", "a/b/c", false },
	{ "p[u]b/*", "pub", true },
	{ "p[u]b/*", "pab", false },
	{ "/pub/*", "pub", true },
	{ "/", "", false },
};

struct wanted_case {
	const char	*exclude[4];	/* NULL-terminated */
	const char	*include[4];	/* NULL-terminated */
	const char	*path;
	bool		 is_dir;
	bool		 want;
};

static const struct wanted_case wanted_cases[] = {
	/* no filters */
	{ { NULL }, { NULL }, "a/b", false, true },
	{ { NULL }, { NULL }, "a", true, true },

	/* excludes, and everything below an excluded directory */
	{ { "*.tmp", NULL }, { NULL }, "a/x.tmp", false, false },
	{ { "*.tmp", NULL }, { NULL }, "a/x.txt", false, true },
	{ { "tmp", NULL }, { NULL }, "a/tmp", true, false },
	{ { "tmp", NULL }, { NULL }, "a/tmp/file", false, false },
	{ { "tmp", NULL }, { NULL }, "a/tmpx/file", false, true },
	{ { "old/**", NULL }, { NULL }, "old", true, false },
	{ { "old/**", NULL }, { NULL }, "old/a", false, false },
	{ { "old/**", NULL }, { NULL }, "older/a", false, true },
	{ { "pub/*", NULL }, { NULL }, "pub/x/y", false, false },
	{ { "pub/*", NULL }, { NULL }, "pub", true, true },
	{ { "a/**/b", NULL }, { NULL }, "a/x/b/c/d", false, false },
	{ { "a/**/b", NULL }, { NULL }, "a/x/c/d", false, true },
	{ { "*.tmp", "*.bak", NULL }, { NULL }, "x.bak", false, false },

	/* includes: files must match, directories may hold a match */
	{ { NULL }, { "*.iso", NULL }, "a/b.iso", false, true },
	{ { NULL }, { "*.iso", NULL }, "a/b.txt", false, false },
	{ { NULL }, { "*.iso", NULL }, "a", true, true },
	{ { NULL }, { "pub/linux/**", NULL }, "pub", true, true },
	{ { NULL }, { "pub/linux/**", NULL }, "pub/linux", true, true },
	{ { NULL }, { "pub/linux/**", NULL }, "pub/linux/x", false, true },
	{ { NULL }, { "pub/linux/**", NULL }, "pub/bsd", true, false },
	{ { NULL }, { "pub/linux/**", NULL }, "src", true, false },
	{ { NULL }, { "pub/linux/**", NULL }, "README", false, false },
	{ { NULL }, { "pub/*/README", NULL }, "pub/bsd", true, true },
	{ { NULL }, { "pub/*/README", NULL }, "pub/bsd/doc", true, false },
	{ { NULL }, { "pub/*/README", NULL }, "pub/bsd/README", false, true },
	{ { NULL }, { "a/b", NULL }, "a", true, true },
	{ { NULL }, { "a/b", NULL }, "a/b", true, true },
	{ { NULL }, { "a/b", NULL }, "a/c", false, false },
	{ { NULL }, { "*.iso", "docs/**", NULL }, "docs/x.txt", false, true },
	{ { NULL }, { "*.iso", "docs/**", NULL }, "x.txt", false, false },

	/* exclude wins over include */
	{ { "*.tmp", NULL }, { "*.tmp", NULL }, "a.tmp", false, false },
	{ { "pub/linux/old/**", NULL }, { "pub/linux/**", NULL },
	    "pub/linux/old", true, false },
	{ { "pub/linux/old/**", NULL }, { "pub/linux/**", NULL },
	    "pub/linux/old/a", false, false },
	{ { "pub/linux/old/**", NULL }, { "pub/linux/**", NULL },
	    "pub/linux/new/a", false, true },
	{ { "old", NULL }, { "*.iso", NULL }, "old/x.iso", false, false },
};

static void
test_match(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];

		if (filter_match(c->pattern, c->path) != c->want)
			fail_msg("row %zu: \"%s\" vs \"%s\": want %s", i,
			    c->pattern, c->path, c->want ? "match" : "none");
	}
	assert_false(filter_match(NULL, "a"));
	assert_false(filter_match("a", NULL));
}

static void
test_may_match_below(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(below_cases) / sizeof(below_cases[0]); i++) {
		const struct below_case *c = &below_cases[i];

		if (filter_may_match_below(c->pattern, c->dir) != c->want)
			fail_msg("row %zu: \"%s\" below \"%s\": want %s", i,
			    c->pattern, c->dir, c->want ? "true" : "false");
	}
}

/* Copy a NULL-terminated row into the char * array filter_wanted takes. */
static size_t
copy_list(const char *const *from, char **to)
{
	size_t	 n;

	for (n = 0; from[n] != NULL; n++) {
		to[n] = strdup(from[n]);
		assert_non_null(to[n]);
	}
	return n;
}

static void
test_wanted(void **state)
{
	char	*ex[4], *in[4];
	size_t	 i, j, nex, nin;

	(void)state;
	for (i = 0; i < sizeof(wanted_cases) / sizeof(wanted_cases[0]); i++) {
		const struct wanted_case *c = &wanted_cases[i];

		nex = copy_list(c->exclude, ex);
		nin = copy_list(c->include, in);
		if (filter_wanted(ex, nex, in, nin, c->path, c->is_dir) !=
		    c->want)
			fail_msg("row %zu: %s \"%s\": want %s", i,
			    c->is_dir ? "dir" : "file", c->path,
			    c->want ? "wanted" : "not wanted");
		for (j = 0; j < nex; j++)
			free(ex[j]);
		for (j = 0; j < nin; j++)
			free(in[j]);
	}
	assert_true(filter_wanted(NULL, 0, NULL, 0, "a", false));
}

/* n copies of unit, then tail, in a fresh string. */
static char *
repeat(const char *unit, size_t n, const char *tail)
{
	size_t	 ulen = strlen(unit), tlen = strlen(tail), i;
	char	*s;

	s = malloc(ulen * n + tlen + 1);
	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * ulen, unit, ulen);
	memcpy(s + n * ulen, tail, tlen + 1);
	return s;
}

/*
 * Inputs that make a backtracking matcher exponential.  Each of these
 * would run for years if every "*" or "**" retried every split; here they
 * are quadratic at worst, so the test simply finishes.
 */
static void
test_hostile(void **state)
{
	char	*pat, *path, *dir;
	char	*ex[1];

	(void)state;

	/* Many stars against one long name that almost matches. */
	pat = repeat("*a", 30, "*b");
	path = repeat("a", 100000, "");
	assert_false(filter_match(pat, path));
	free(path);
	path = repeat("a", 100000, "b");
	assert_true(filter_match(pat, path));
	free(path);
	free(pat);

	/* Thousands of stars. */
	pat = repeat("*", 5000, "x");
	path = repeat("y", 20000, "");
	assert_false(filter_match(pat, path));
	free(path);
	free(pat);

	/* Many "**" against a deep path that almost matches. */
	pat = repeat("**/a/", 20, "b");
	path = repeat("a/", 5000, "c");
	assert_false(filter_match(pat, path));
	assert_true(filter_may_match_below(pat, path));
	ex[0] = pat;
	assert_true(filter_wanted(ex, 1, NULL, 0, path, false));
	free(path);
	path = repeat("a/", 5000, "b");
	assert_true(filter_match(pat, path));
	assert_false(filter_wanted(ex, 1, NULL, 0, path, false));
	free(path);
	free(pat);

	/* Stars inside components under "**". */
	pat = strdup("**/*a*a*a*a*a*a*b/**/*a*a*a*a*a*c");
	assert_non_null(pat);
	dir = repeat("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", 500, "x");
	assert_false(filter_match(pat, dir));
	assert_true(filter_may_match_below(pat, dir));
	ex[0] = pat;
	assert_true(filter_wanted(ex, 1, NULL, 0, dir, true));
	free(dir);
	free(pat);

	/* More components than the automaton tracks: "may", not "no". */
	pat = repeat("x/", 100, "y");
	assert_true(filter_may_match_below(pat, "x/x"));
	assert_true(filter_may_match_below(pat, "q"));
	ex[0] = pat;
	path = repeat("x/", 100, "y/z");
	assert_false(filter_wanted(ex, 1, NULL, 0, path, false));
	free(path);
	path = repeat("x/", 99, "y/z");
	assert_true(filter_wanted(ex, 1, NULL, 0, path, false));
	free(path);
	free(pat);

	/* A very long class and an unterminated one. */
	pat = repeat("[a-z", 10000, "");
	assert_false(filter_match(pat, "a"));
	free(pat);
	pat = repeat("[", 500, "x");		/* every '[' unclosed */
	pat[0] = '*';
	path = repeat("[", 5000, "");
	assert_false(filter_match(pat, path));
	path[4999] = 'x';
	assert_true(filter_match(pat, path));
	free(path);
	free(pat);
	pat = repeat("[", 10000, "]");
	path = repeat("[", 9999, "");
	assert_false(filter_match(pat, path));
	free(path);
	free(pat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_may_match_below),
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
