/*
 * filter.c: the job's exclude/include globs.
 *
 * Paths come from the server, so matching must stay cheap however hostile
 * the path or the pattern.  Within one component, "*" is matched greedily
 * with a single backtrack point (the last "*" seen), which is O(pattern x
 * name) instead of exponential; across components "**" is the same
 * algorithm one level up, with whole components as the "characters".
 * Where a question needs to follow several positions in a pattern at once
 * (could something below this directory match?) a small bit-set automaton
 * walks the path once.  Bytes are bytes: no locale, no case folding, and
 * "?" matches one byte of a UTF-8 character.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "filter.h"

/*
 * Most components a pattern may have for the automaton, one bit per
 * position plus one for "all matched".  Longer patterns are answered
 * conservatively ("may match") or by a slower exact path.
 */
#define MAXCOMP		63

/* A pattern cut into its components, for the automaton. */
struct comps {
	const char	*p[MAXCOMP];	/* start of each component */
	size_t		 len[MAXCOMP];	/* its length */
	size_t		 n;		/* how many */
};

/* Skip the slashes at s: empty components ("a//b", "/a", "a/") vanish. */
static const char *
comp_skip(const char *s, const char *end)
{
	while (s < end && *s == '/')
		s++;
	return s;
}

/* Length of the component starting at s. */
static size_t
comp_len(const char *s, const char *end)
{
	const char	*e = s;

	while (e < end && *e != '/')
		e++;
	return (size_t)(e - s);
}

static bool
is_globstar(const char *p, size_t len)
{
	return len == 2 && p[0] == '*' && p[1] == '*';
}

/*
 * The class at p[i] == '['.  Returns whether c is in it and sets *next
 * just past its ']'; a class with no ']' before the end of the component
 * sets *next to 0 so the caller takes the '[' literally, as fnmatch does.
 * A ']' right after "[" or "[!" is a member, "\\x" is x, and "a-z" a range
 * of bytes.  close is the offset just past the component's last ']' (0
 * when it has none): no class can end beyond it, and stopping there keeps
 * a pattern full of unclosed '[' from rescanning its tail at each one.
 */
static bool
class_match(const char *p, size_t close, size_t i, unsigned char c,
    size_t *next)
{
	size_t		 j = i + 1;
	unsigned char	 lo, hi;
	bool		 neg = false, hit = false, first = true;

	if (j < close && p[j] == '!') {
		neg = true;
		j++;
	}
	for (;;) {
		if (j >= close) {
			*next = 0;
			return false;
		}
		if (p[j] == ']' && !first)
			break;
		first = false;
		if (p[j] == '\\' && j + 1 < close)
			j++;
		lo = hi = (unsigned char)p[j++];
		if (j + 1 < close && p[j] == '-' && p[j + 1] != ']') {
			j++;
			if (p[j] == '\\' && j + 1 < close)
				j++;
			hi = (unsigned char)p[j++];
		}
		if (lo <= c && c <= hi)
			hit = true;
	}
	*next = j + 1;
	return hit != neg;
}

/*
 * Does the one-byte token at p[i] (not "*") match c?  Sets *next past the
 * token either way.  No '/' ever reaches here, so "?" needs no check.
 * close is as for class_match.
 */
static bool
token_match(const char *p, size_t plen, size_t close, size_t i,
    unsigned char c, size_t *next)
{
	bool	 hit;

	switch (p[i]) {
	case '?':
		*next = i + 1;
		return true;
	case '[':
		hit = class_match(p, close, i, c, next);
		if (*next != 0)
			return hit;
		break;
	case '\\':
		if (i + 1 < plen) {
			*next = i + 2;
			return (unsigned char)p[i + 1] == c;
		}
		break;
	default:
		break;
	}
	*next = i + 1;
	return (unsigned char)p[i] == c;
}

/*
 * Does glob component p (plen bytes) match name s (slen bytes)?  On a
 * mismatch we go back to the last "*" and let it eat one more byte;
 * earlier stars never need revisiting, since the last one can absorb
 * anything they could have.
 */
static bool
glob_component(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t	 pi = 0, si = 0, star_pi = 0, star_si = 0, next, close;
	bool	 star = false;

	for (close = plen; close > 0 && p[close - 1] != ']'; close--)
		;
	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			while (pi < plen && p[pi] == '*')
				pi++;
			if (pi == plen)
				return true;
			star = true;
			star_pi = pi;
			star_si = si;
			continue;
		}
		if (pi < plen &&
		    token_match(p, plen, close, pi, (unsigned char)s[si],
		    &next)) {
			pi = next;
			si++;
			continue;
		}
		if (!star)
			return false;
		pi = star_pi;
		si = ++star_si;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/*
 * Anchored pattern [pat, pend) against path [path, end), component by
 * component, with "**" playing the part "*" plays in glob_component.
 */
static bool
match_anchored(const char *pat, const char *pend, const char *path,
    const char *end)
{
	const char	*p, *s, *star_p = NULL, *star_s = NULL;
	size_t		 plen, slen;

	p = comp_skip(pat, pend);
	s = comp_skip(path, end);
	while (s < end) {
		slen = comp_len(s, end);
		if (p < pend) {
			plen = comp_len(p, pend);
			if (is_globstar(p, plen)) {
				p = comp_skip(p + plen, pend);
				star_p = p;
				star_s = s;
				continue;
			}
			if (glob_component(p, plen, s, slen)) {
				p = comp_skip(p + plen, pend);
				s = comp_skip(s + slen, end);
				continue;
			}
		}
		if (star_p == NULL)
			return false;
		p = star_p;
		star_s = comp_skip(star_s + comp_len(star_s, end), end);
		s = star_s;
	}
	while (p < pend && is_globstar(p, comp_len(p, pend)))
		p = comp_skip(p + 2, pend);
	return p == pend;
}

/* Pattern against path [path, end), either kind. */
static bool
match_path(const char *pattern, const char *path, const char *end)
{
	const char	*s, *last = NULL;
	size_t		 len = strlen(pattern);

	if (memchr(pattern, '/', len) != NULL)
		return match_anchored(pattern, pattern + len, path, end);

	/* No '/': the last component, at any depth. */
	for (s = comp_skip(path, end); s < end;
	    s = comp_skip(s + comp_len(s, end), end))
		last = s;
	if (last == NULL)
		return false;
	return glob_component(pattern, len, last, comp_len(last, end));
}

/*
 * Does pattern match path (relative to the source root, components
 * separated by '/')?  Empty components in either are ignored, so a
 * leading '/' in a pattern only serves to anchor it.  A NULL argument
 * matches nothing.
 */
bool
filter_match(const char *pattern, const char *path)
{
	if (pattern == NULL || path == NULL)
		return false;
	return match_path(pattern, path, path + strlen(path));
}

/* Cut an anchored pattern into c; false when it has too many parts. */
static bool
comps_split(const char *pat, struct comps *c)
{
	const char	*end = pat + strlen(pat), *p;

	c->n = 0;
	for (p = comp_skip(pat, end); p < end;
	    p = comp_skip(p + c->len[c->n - 1], end)) {
		if (c->n == MAXCOMP)
			return false;
		c->p[c->n] = p;
		c->len[c->n++] = comp_len(p, end);
	}
	return true;
}

/*
 * The automaton's states: bit q set means the first q components of the
 * pattern have matched the path so far.  A "**" may match nothing, so
 * being before one also means being after it.
 */
static uint64_t
comps_closure(const struct comps *c, uint64_t set)
{
	size_t	 q;

	for (q = 0; q < c->n; q++)
		if ((set & (UINT64_C(1) << q)) &&
		    is_globstar(c->p[q], c->len[q]))
			set |= UINT64_C(1) << (q + 1);
	return set;
}

/* The states after reading path component s (slen bytes). */
static uint64_t
comps_step(const struct comps *c, uint64_t set, const char *s, size_t slen)
{
	uint64_t	 next = 0;
	size_t		 q;

	for (q = 0; q < c->n; q++) {
		if (!(set & (UINT64_C(1) << q)))
			continue;
		if (is_globstar(c->p[q], c->len[q]))
			next |= UINT64_C(1) << q;
		else if (glob_component(c->p[q], c->len[q], s, slen))
			next |= UINT64_C(1) << (q + 1);
	}
	return comps_closure(c, next);
}

/*
 * Could some path strictly below directory dirpath ("" for the root)
 * match pattern?  Patterns without '/' can match at any depth, so they
 * always may; an anchored one may when some way of matching dirpath
 * leaves pattern components over, since any components left (plain or
 * "**") can take at least one more path component.  Patterns of more than
 * 63 components get a plain "may".
 */
bool
filter_may_match_below(const char *pattern, const char *dirpath)
{
	struct comps	 c;
	const char	*s, *end;
	uint64_t	 set;
	size_t		 len;

	if (pattern == NULL)
		return false;
	if (strchr(pattern, '/') == NULL || dirpath == NULL ||
	    !comps_split(pattern, &c))
		return true;
	end = dirpath + strlen(dirpath);
	set = comps_closure(&c, 1);
	for (s = comp_skip(dirpath, end); s < end && set != 0;
	    s = comp_skip(s + len, end)) {
		len = comp_len(s, end);
		set = comps_step(&c, set, s, len);
	}
	return (set & ((UINT64_C(1) << c.n) - 1)) != 0;
}

/*
 * Does pattern match path or one of its ancestor directories?  An
 * excluded directory is never listed, so nothing below it should be
 * wanted either, whoever asks.  One pass of the automaton answers for all
 * prefixes at once; only a pattern too long for it pays for a match per
 * prefix.
 */
static bool
match_self_or_above(const char *pattern, const char *path)
{
	struct comps	 c;
	const char	*s, *end = path + strlen(path);
	uint64_t	 set;
	size_t		 len;

	if (strchr(pattern, '/') == NULL) {
		for (s = comp_skip(path, end); s < end; s = comp_skip(s + len,
		    end)) {
			len = comp_len(s, end);
			if (glob_component(pattern, strlen(pattern), s, len))
				return true;
		}
		return false;
	}
	if (!comps_split(pattern, &c)) {
		for (s = comp_skip(path, end); s < end; s = comp_skip(s, end)) {
			s += comp_len(s, end);
			if (match_path(pattern, path, s))
				return true;
		}
		return false;
	}
	set = comps_closure(&c, 1);
	for (s = comp_skip(path, end); s < end && set != 0;
	    s = comp_skip(s + len, end)) {
		len = comp_len(s, end);
		set = comps_step(&c, set, s, len);
		if (set & (UINT64_C(1) << c.n))
			return true;
	}
	return false;
}

/*
 * Should the job mirror path?  Not when an exclude pattern matches it or
 * any directory above it.  Otherwise, with no include patterns, yes; with
 * some, a file must match one, and a directory must match one or be able
 * to hold a match below it.  The pattern arrays are borrowed.
 */
bool
filter_wanted(char *const *exclude, size_t nexclude,
    char *const *include, size_t ninclude, const char *path, bool is_dir)
{
	size_t	 i;

	if (path == NULL)
		return false;
	for (i = 0; i < nexclude; i++)
		if (exclude[i] != NULL &&
		    match_self_or_above(exclude[i], path))
			return false;
	if (ninclude == 0)
		return true;
	for (i = 0; i < ninclude; i++) {
		if (include[i] == NULL)
			continue;
		if (filter_match(include[i], path))
			return true;
		if (is_dir && filter_may_match_below(include[i], path))
			return true;
	}
	return false;
}
