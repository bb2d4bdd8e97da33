/*
 * listing.c: FTP directory listings and FEAT/MDTM replies, parsed from
 * bytes.  Everything here is pure: no sockets, no clock, no logging and no
 * global state, so unit tests and fuzzers can drive it directly.
 *
 * A line is only ever modified in place once it has been fully validated:
 * a line reported as LISTING_BAD still holds the bytes the server sent.
 * Strings are NUL-terminated without touching line[len]: the byte in front
 * of each trailing string (always a separator) is given up and the string
 * is moved back by one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "listing.h"

#define YEAR_MIN	1900
#define YEAR_MAX	9999

/* The longest bad line that may be the rest of a name cut by a CR. */
#define LISTING_NAME_REST	255

struct listing_parser {
	enum listing_format	 format;
	int64_t			 now;		/* for unix "Mon DD HH:MM" years */
	listing_entry_fn	 on_entry;
	listing_bad_fn		 on_bad;
	void			*arg;
	size_t			 len;		/* bytes held in buf */
	bool			 skipping;	/* dropping an overlong line */
	size_t			 entries;	/* lines that gave an entry */
	size_t			 bad;		/* lines that could not be parsed */
	char			 buf[LISTING_MAX_LINE + 1]; /* a line and its CR */
	char			 scratch[LISTING_MAX_LINE]; /* parsed copy */
	char			 held[LISTING_MAX_LINE]; /* entry line, unsent */
	size_t			 held_len;
	bool			 holding;	/* held waits for the next line */
};

/* A token of a line: [start, end) byte offsets. */
struct span {
	size_t	start;
	size_t	end;
};

/* The fields of a unix "ls -l" date, before a year is picked. */
struct lsdate {
	int	mon;
	int	day;
	int	year;		/* 0 in the "HH:MM" form */
	int	hour;
	int	min;
};

static const char *const months[12] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec"
};

/* Locale-free so a server's bytes mean the same on every machine. */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
to_lower(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	return c;
}

/* Whether s[0..n) equals the lower-case literal lit, ignoring case. */
static bool
ci_eq(const char *s, size_t n, const char *lit)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' || to_lower(s[i]) != lit[i])
			return false;
	return lit[n] == '\0';
}

/* Whether s[0..n) starts with the lower-case literal lit, ignoring case. */
static bool
ci_prefix(const char *s, size_t n, const char *lit)
{
	size_t	len = strlen(lit);

	return n >= len && ci_eq(s, len, lit);
}

static bool
all_digits(const char *s, size_t n)
{
	size_t	i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Blank lines carry nothing, whatever the format. */
static bool
is_blank(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* A small fixed-width number (dates, times); n must be at most 4. */
static int
small_num(const char *s, size_t n)
{
	int	v = 0;
	size_t	i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * A byte count: digits only, refused past INT64_MAX rather than wrapped,
 * since a wrapped size would send the planner after the wrong bytes.
 */
static bool
parse_size(const char *s, size_t n, int64_t *out)
{
	int64_t	v = 0;
	size_t	i;
	int	d;

	if (!all_digits(s, n))
		return false;
	for (i = 0; i < n; i++) {
		d = s[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * The year holding day number days (since 1970-01-01), or 0 when it lies
 * far outside YEAR_MIN..YEAR_MAX, where no listing year could be chosen.
 */
static int64_t
year_of_days(int64_t days)
{
	int64_t	y;
	int	m, d;

	if (days < civil_days_from_date(YEAR_MIN - 10, 1, 1) ||
	    days >= civil_days_from_date(YEAR_MAX + 10, 1, 1))
		return 0;
	civil_date_from_days(days, &y, &m, &d);
	return y;
}

/*
 * An RFC 3659 time-val, "YYYYMMDDHHMMSS" with an optional ".sss" (any
 * number of digits, dropped), as seconds since the epoch (UTC).
 */
static bool
parse_timeval(const char *s, size_t n, int64_t *out)
{
	int	y, mon, day, hour, min, sec;

	if (n < 14 || !all_digits(s, 14))
		return false;
	if (n > 14 && (s[14] != '.' || !all_digits(s + 15, n - 15)))
		return false;
	y = small_num(s, 4);
	mon = small_num(s + 4, 2);
	day = small_num(s + 6, 2);
	hour = small_num(s + 8, 2);
	min = small_num(s + 10, 2);
	sec = small_num(s + 12, 2);
	/*
	 * Any year but 0000: a time before 1900 (1601 is Windows' zero) is
	 * still the file's.  60 is allowed: RFC 3659 leaves room for a leap
	 * second.
	 */
	if (y < 1 || mon < 1 || mon > 12 || day < 1 ||
	    day > civil_days_in_month(y, mon) || hour > 23 || min > 59 ||
	    sec > 60)
		return false;
	*out = civil_to_time(y, mon, day, hour, min, sec);
	return true;
}

/*
 * NUL-terminate the string at line[start..start+n) inside the line: move
 * it back over the separator byte at start - 1 and end it where its last
 * byte was.  Returns where the string now starts.
 */
static const char *
place(char *line, size_t start, size_t n)
{
	memmove(line + start - 1, line + start, n);
	line[start - 1 + n] = '\0';
	return line + start - 1;
}

static void
entry_init(struct entry *e)
{
	memset(e, 0, sizeof(*e));
	e->type = ENTRY_OTHER;
	e->name = NULL;
	e->size = -1;
	e->mtime = 0;
	e->mtime_prec = MTIME_NONE;
	e->mtime_local = false;
	e->year_guessed = false;
	e->link_target = NULL;
	e->unique = NULL;
	e->mode = -1;
}

static bool
is_dot_name(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.');
}

/* The facts of one MLSD line, as offsets into it, before commitment. */
struct mlsd_facts {
	enum entry_type	type;
	bool		ignored;	/* pdir */
	int64_t		size;
	int64_t		sizd;
	int64_t		mtime;
	bool		have_mtime;
	int		mode;
	struct span	unique;		/* end is the ';' that closes it */
	struct span	target;		/* likewise */
};

/* Read the value of a type fact. */
static void
mlsd_type(const char *line, size_t vs, size_t ve, struct mlsd_facts *f)
{
	const char	*v = line + vs;
	size_t		 n = ve - vs, k;

	f->ignored = false;
	f->target.start = f->target.end = 0;
	if (ci_eq(v, n, "file"))
		f->type = ENTRY_FILE;
	else if (ci_eq(v, n, "dir"))
		f->type = ENTRY_DIR;
	else if (ci_eq(v, n, "cdir"))
		f->type = ENTRY_SELF;
	else if (ci_eq(v, n, "pdir"))
		f->ignored = true;
	else if (ci_prefix(v, n, "os.unix=slink") ||
	    ci_prefix(v, n, "os.unix=symlink")) {
		k = ci_prefix(v, n, "os.unix=slink") ? 13 : 15;
		if (k == n)
			f->type = ENTRY_LINK;
		else if (v[k] == ':') {
			f->type = ENTRY_LINK;
			f->target.start = vs + k + 1;
			f->target.end = ve;
		} else
			f->type = ENTRY_OTHER;	/* "os.unix=slinkfoo" */
	} else
		f->type = ENTRY_OTHER;
}

/* UNIX.mode is octal ("0644"); a value we can't read is left out. */
static int
mlsd_mode(const char *v, size_t n)
{
	int	m = 0;
	size_t	i;

	if (n == 0 || n > 7)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '7')
			return -1;
		m = m * 8 + (v[i] - '0');
	}
	return m & 07777;
}

/*
 * Read the facts in line[0..fend), which ends with ';'.  Returns false on
 * a fact we can't trust (no '=', bad size or date).
 */
static bool
mlsd_facts(const char *line, size_t fend, struct mlsd_facts *f)
{
	const char	*semi, *eq;
	size_t		 pos = 0, ks, ke, vs, ve;

	while (pos < fend) {
		semi = memchr(line + pos, ';', fend - pos);
		if (semi == NULL)
			return false;
		eq = memchr(line + pos, '=', (size_t)(semi - line) - pos);
		if (eq == NULL || eq == line + pos)
			return false;
		ks = pos;
		ke = (size_t)(eq - line);
		vs = ke + 1;
		ve = (size_t)(semi - line);
		pos = ve + 1;

		if (ci_eq(line + ks, ke - ks, "type"))
			mlsd_type(line, vs, ve, f);
		else if (ci_eq(line + ks, ke - ks, "size")) {
			if (!parse_size(line + vs, ve - vs, &f->size))
				return false;
		} else if (ci_eq(line + ks, ke - ks, "sizd")) {
			if (!parse_size(line + vs, ve - vs, &f->sizd))
				return false;
		} else if (ci_eq(line + ks, ke - ks, "modify")) {
			if (!parse_timeval(line + vs, ve - vs, &f->mtime))
				return false;
			f->have_mtime = true;
		} else if (ci_eq(line + ks, ke - ks, "unique")) {
			f->unique.start = vs;
			f->unique.end = ve;
		} else if (ci_eq(line + ks, ke - ks, "unix.mode"))
			f->mode = mlsd_mode(line + vs, ve - vs);
	}
	return true;
}

/*
 * Parse one MLSD line: facts, each "name=value;", a space, then the name,
 * which is everything after that space, spaces and semicolons included.
 * A line without a type fact gives ENTRY_OTHER, which is never mirrored.
 */
enum listing_result
listing_parse_mlsd(char *line, size_t len, struct entry *e)
{
	struct mlsd_facts	f;
	size_t			i, fend, nstart;

	entry_init(e);
	if (len == 0 || is_blank(line, len))
		return LISTING_IGNORED;
	if (memchr(line, '\0', len) != NULL)
		return LISTING_BAD;

	/*
	 * The facts end at the first "; ": a fact value holds neither ';'
	 * nor (save in a symlink target) ' ', while a name may hold both.
	 */
	if (line[0] == ' ') {
		fend = 0;
		nstart = 1;
	} else {
		for (i = 0; i + 1 < len; i++)
			if (line[i] == ';' && line[i + 1] == ' ')
				break;
		if (i + 1 >= len)
			return LISTING_BAD;
		fend = i + 1;
		nstart = i + 2;
	}
	if (nstart >= len)
		return LISTING_BAD;

	memset(&f, 0, sizeof(f));
	f.type = ENTRY_OTHER;
	f.size = f.sizd = -1;
	f.mode = -1;
	if (!mlsd_facts(line, fend, &f))
		return LISTING_BAD;
	/*
	 * Only cdir/pdir lines name the directory and its parent; any other
	 * "." or ".." goes on, for the caller to refuse and record.
	 */
	if (f.ignored)
		return LISTING_IGNORED;

	e->type = f.type;
	e->size = f.size;
	if (f.type == ENTRY_DIR && e->size == -1)
		e->size = f.sizd;
	if (f.have_mtime) {
		e->mtime = f.mtime;
		e->mtime_prec = MTIME_SECOND;
	}
	e->mode = f.mode;

	/* Commit: only now is the line changed. */
	if (f.unique.end > f.unique.start) {
		line[f.unique.end] = '\0';
		e->unique = line + f.unique.start;
	}
	if (f.type == ENTRY_LINK && f.target.end > f.target.start) {
		line[f.target.end] = '\0';
		e->link_target = line + f.target.start;
	}
	e->name_len = len - nstart;
	e->name = place(line, nstart, e->name_len);
	return LISTING_ENTRY;
}

/* Mode bits from the nine "rwxr-xr-x" characters; false if one is odd. */
static bool
unix_perms(const char *s, int *mode)
{
	int	m = 0, i, shift;
	char	c;

	for (i = 0; i < 3; i++) {
		shift = 6 - 3 * i;
		c = s[3 * i];
		if (c == 'r')
			m |= 4 << shift;
		else if (c != '-')
			return false;
		c = s[3 * i + 1];
		if (c == 'w')
			m |= 2 << shift;
		else if (c != '-')
			return false;
		c = s[3 * i + 2];
		switch (c) {
		case 'x':
			m |= 1 << shift;
			break;
		case '-':
			break;
		case 's':
			if (i == 2)
				return false;
			m |= 1 << shift;
			m |= i == 0 ? 04000 : 02000;
			break;
		case 'S':
		case 'l':	/* Solaris: mandatory locking, setgid bit */
			if (i == 2 || (c == 'l' && i != 1))
				return false;
			m |= i == 0 ? 04000 : 02000;
			break;
		case 't':
			if (i != 2)
				return false;
			m |= 01001;
			break;
		case 'T':
			if (i != 2)
				return false;
			m |= 01000;
			break;
		default:
			return false;
		}
	}
	*mode = m;
	return true;
}

/* The month of a three-letter English name, 1..12, or 0. */
static int
month_of(const char *s, size_t n)
{
	int	i;

	for (i = 0; i < 12; i++)
		if (ci_eq(s, n, months[i]))
			return i + 1;
	return 0;
}

/* Whether three tokens read "Mon DD HH:MM" or "Mon DD YYYY". */
static bool
unix_date(const char *line, const struct span *t, struct lsdate *d)
{
	const char	*s;
	size_t		 n;

	memset(d, 0, sizeof(*d));
	if ((d->mon = month_of(line + t[0].start, t[0].end - t[0].start)) == 0)
		return false;
	s = line + t[1].start;
	n = t[1].end - t[1].start;
	if (n > 2 || !all_digits(s, n))
		return false;
	d->day = small_num(s, n);
	if (d->day < 1 || d->day > 31)
		return false;
	s = line + t[2].start;
	n = t[2].end - t[2].start;
	if (n == 4 && all_digits(s, 4)) {
		d->year = small_num(s, 4);
		return d->year >= YEAR_MIN &&
		    d->day <= civil_days_in_month(d->year, d->mon);
	}
	if ((n == 4 || n == 5) && s[n - 3] == ':' &&
	    all_digits(s, n - 3) && all_digits(s + n - 2, 2)) {
		d->hour = small_num(s, n - 3);
		d->min = small_num(s + n - 2, 2);
		return d->hour <= 23 && d->min <= 59;
	}
	return false;
}

/*
 * The time of a "Mon DD HH:MM" date: ls leaves the year out for the past
 * six months, so take the latest year that puts the date no more than a
 * day after now (a day covers clock skew and time zones).
 */
static bool
unix_infer(int64_t now, const struct lsdate *d, int64_t *out)
{
	int64_t	limit, y, cy, t;

	limit = now > INT64_MAX - CIVIL_SECS_PER_DAY ? INT64_MAX :
	    now + CIVIL_SECS_PER_DAY;
	if ((y = year_of_days(civil_floor_div(now, CIVIL_SECS_PER_DAY))) == 0)
		return false;
	/* Eight years back always reaches a leap year for "Feb 29". */
	for (cy = y + 1; cy >= y - 8; cy--) {
		if (cy < YEAR_MIN || cy > YEAR_MAX ||
		    d->day > civil_days_in_month(cy, d->mon))
			continue;
		t = civil_to_time(cy, d->mon, d->day, d->hour, d->min, 0);
		if (t <= limit) {
			*out = t;
			return true;
		}
	}
	return false;
}

/* A device's "major," token, or "major,minor" when want_minor. */
static bool
is_devnum(const char *s, size_t n, bool want_minor)
{
	const char	*comma;
	size_t		 k;

	if ((comma = memchr(s, ',', n)) == NULL)
		return false;
	k = (size_t)(comma - s);
	if (!all_digits(s, k))
		return false;
	if (want_minor)
		return all_digits(comma + 1, n - k - 1);
	return k + 1 == n;
}

/*
 * Check the tokens between the owner (t[2]) and a date at t[d]: an
 * optional group, then the size, or for a device "major, minor" (one
 * token or two).  Sets *size, -1 for a device.
 */
static bool
unix_middle(const char *line, const struct span *t, size_t d, char type,
    int64_t *size)
{
	const char	*s = line + t[d - 1].start;
	size_t		 n = t[d - 1].end - t[d - 1].start;
	size_t		 k = d - 3, sz;
	bool		 dev = type == 'b' || type == 'c';

	*size = -1;
	if (dev && k >= 2 && all_digits(s, n) && is_devnum(line +
	    t[d - 2].start, t[d - 2].end - t[d - 2].start, false))
		sz = 2;
	else if (dev && is_devnum(s, n, true))
		sz = 1;
	else if (parse_size(s, n, size))
		sz = 1;
	else
		return false;
	if (dev)
		*size = -1;
	/* what is left over can only be the group */
	return k - sz <= 1;
}

/*
 * Where " -> " parts a link's name from its target in name[0..len): ls
 * shows a link's size as its target's length, which tells which arrow it
 * is when the name or the target holds one too; else the first.  len when
 * there is none.
 */
static size_t
unix_link_arrow(const char *name, size_t len, int64_t size)
{
	size_t	i, first = len;

	for (i = 0; i + 4 <= len; i++) {
		if (memcmp(name + i, " -> ", 4) != 0)
			continue;
		if (first == len)
			first = i;
		if (size >= 0 && (uint64_t)size == len - i - 4)
			return i;
	}
	return first;
}

/*
 * Parse one unix "ls -l" line.  The date is three tokens, found by
 * counting fields: mode, links, owner, an optional group, the size, the
 * date.  The name is what follows the one space after the date, so
 * leading spaces in a name survive the column padding before it.
 */
enum listing_result
listing_parse_unix(char *line, size_t len, int64_t now, struct entry *e)
{
	struct span	t[9];
	struct lsdate	date;
	size_t		nt = 0, i = 0, d, nstart, nlen, arrow;
	int64_t		size = -1;
	int		mode;
	char		type;
	bool		found = false;

	entry_init(e);
	if (len == 0 || is_blank(line, len))
		return LISTING_IGNORED;
	if (memchr(line, '\0', len) != NULL)
		return LISTING_BAD;
	if (ci_prefix(line, len, "total "))
		return LISTING_IGNORED;

	while (nt < 9) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		t[nt].start = i;
		while (i < len && line[i] != ' ')
			i++;
		t[nt++].end = i;
	}
	if (nt < 7 || t[0].start != 0)
		return LISTING_BAD;

	/* "drwxr-xr-x", maybe with an ACL or xattr mark after it */
	i = t[0].end;
	if (i != 10 && !(i == 11 && strchr("+@.", line[10]) != NULL))
		return LISTING_BAD;
	type = line[0];
	/* D: a Solaris door, P: an event port, n: network special, w:
	   whiteout; like devices, never mirrored */
	if (strchr("-dlbcpsDPnw", type) == NULL || !unix_perms(line + 1, &mode))
		return LISTING_BAD;
	if (!all_digits(line + t[1].start, t[1].end - t[1].start))
		return LISTING_BAD;

	for (d = 4; d <= 6 && d + 2 < nt; d++) {
		if (unix_date(line, t + d, &date) &&
		    unix_middle(line, t, d, type, &size)) {
			found = true;
			break;
		}
	}
	if (!found)
		return LISTING_BAD;
	if (date.year != 0)
		e->mtime = civil_to_time(date.year, date.mon, date.day, 0, 0,
		    0);
	else if (!unix_infer(now, &date, &e->mtime))
		return LISTING_BAD;

	if (t[d + 2].end + 1 >= len)
		return LISTING_BAD;	/* no name */
	nstart = t[d + 2].end + 1;
	nlen = len - nstart;
	arrow = type == 'l' ? unix_link_arrow(line + nstart, nlen, size) :
	    nlen;
	if (arrow == 0)
		return LISTING_BAD;
	/* ls -a's "." and ".." are directories; anything else goes on. */
	if (type == 'd' && is_dot_name(line + nstart, arrow))
		return LISTING_IGNORED;

	switch (type) {
	case '-':
		e->type = ENTRY_FILE;
		break;
	case 'd':
		e->type = ENTRY_DIR;
		break;
	case 'l':
		e->type = ENTRY_LINK;
		break;
	default:
		e->type = ENTRY_OTHER;
		break;
	}
	e->size = size;
	e->mtime_prec = date.year != 0 ? MTIME_DAY : MTIME_MINUTE;
	e->mtime_local = true;
	e->year_guessed = date.year == 0;
	e->mode = mode;

	/* Commit. */
	if (arrow < nlen) {
		line[nstart + arrow] = '\0';
		e->name = line + nstart;
		e->name_len = arrow;
		if (nstart + arrow + 4 < len)
			e->link_target = place(line, nstart + arrow + 4,
			    len - nstart - arrow - 4);
	} else {
		e->name_len = nlen;
		e->name = place(line, nstart, nlen);
	}
	return LISTING_ENTRY;
}

/* Whether the line starts "MM-DD-", the shape of a DOS/IIS date. */
static bool
dos_shape(const char *line, size_t len)
{
	return len >= 6 && is_digit(line[0]) && is_digit(line[1]) &&
	    line[2] == '-' && is_digit(line[3]) && is_digit(line[4]) &&
	    line[5] == '-';
}

/*
 * Parse one DOS/IIS line: "MM-DD-YY[YY]  HH:MM[AM|PM]  <DIR>|SIZE NAME".
 * After a size the name starts after exactly one space (IIS right-aligns
 * sizes, so more spaces belong to the name); after "<DIR>" IIS pads to a
 * column, so all spaces are skipped there.
 */
enum listing_result
listing_parse_dos(char *line, size_t len, struct entry *e)
{
	size_t		i, n, nstart;
	int64_t		size = -1;
	enum entry_type	type;
	int		y, mon, day, hour, min;

	entry_init(e);
	if (len == 0 || is_blank(line, len))
		return LISTING_IGNORED;
	if (memchr(line, '\0', len) != NULL || !dos_shape(line, len))
		return LISTING_BAD;
	mon = small_num(line, 2);
	day = small_num(line + 3, 2);
	for (i = 6; i < len && i < 11 && is_digit(line[i]); i++)
		;
	if (i == 8)
		y = small_num(line + 6, 2) + (small_num(line + 6, 2) >= 70 ?
		    1900 : 2000);
	else if (i == 10)
		y = small_num(line + 6, 4);
	else
		return LISTING_BAD;
	if (y < YEAR_MIN || mon < 1 || mon > 12 || day < 1 ||
	    day > civil_days_in_month(y, mon))
		return LISTING_BAD;
	if (i >= len || line[i] != ' ')
		return LISTING_BAD;
	while (i < len && line[i] == ' ')
		i++;

	/* H:MM or HH:MM, then AM/PM or a 24-hour clock */
	for (n = 0; i + n < len && n < 3 && is_digit(line[i + n]); n++)
		;
	if (n < 1 || n > 2 || i + n + 3 > len || line[i + n] != ':' ||
	    !all_digits(line + i + n + 1, 2))
		return LISTING_BAD;
	hour = small_num(line + i, n);
	min = small_num(line + i + n + 1, 2);
	i += n + 3;
	if (min > 59)
		return LISTING_BAD;
	if (i + 2 <= len && (ci_eq(line + i, 2, "am") ||
	    ci_eq(line + i, 2, "pm"))) {
		if (hour < 1 || hour > 12)
			return LISTING_BAD;
		hour %= 12;
		if (to_lower(line[i]) == 'p')
			hour += 12;
		i += 2;
	} else if (hour > 23)
		return LISTING_BAD;
	if (i >= len || line[i] != ' ')
		return LISTING_BAD;
	while (i < len && line[i] == ' ')
		i++;

	/* "<DIR>", another "<...>" (junctions and such), or a size */
	for (n = 0; i + n < len && line[i + n] != ' '; n++)
		;
	if (n >= 2 && line[i] == '<' && line[i + n - 1] == '>') {
		type = ci_eq(line + i, n, "<dir>") ? ENTRY_DIR : ENTRY_OTHER;
		i += n;
		while (i < len && line[i] == ' ')
			i++;
		if (i == len || line[i - 1] != ' ')
			return LISTING_BAD;
		nstart = i;
	} else {
		if (!parse_size(line + i, n, &size))
			return LISTING_BAD;
		type = ENTRY_FILE;
		nstart = i + n + 1;
		if (nstart >= len)
			return LISTING_BAD;
	}
	if (type == ENTRY_DIR && is_dot_name(line + nstart, len - nstart))
		return LISTING_IGNORED;

	e->type = type;
	e->size = size;
	e->mtime = civil_to_time(y, mon, day, hour, min, 0);
	e->mtime_prec = MTIME_MINUTE;
	e->mtime_local = true;
	e->name_len = len - nstart;
	e->name = place(line, nstart, e->name_len);
	return LISTING_ENTRY;
}

/*
 * Parse one LIST line of either kind: a line that starts like a DOS date
 * ("08-01-22") is DOS, anything else unix, since a unix line starts with
 * its mode letter.
 */
enum listing_result
listing_parse_list(char *line, size_t len, int64_t now, struct entry *e)
{
	if (dos_shape(line, len))
		return listing_parse_dos(line, len, e);
	return listing_parse_unix(line, len, now, e);
}

/*
 * Create a streaming parser.  The line buffer is part of the structure, so
 * its size is fixed and no server can make it grow.  Returns NULL when out
 * of memory; the caller frees with listing_parser_free.
 */
struct listing_parser *
listing_parser_new(enum listing_format format, int64_t now,
    listing_entry_fn on_entry, listing_bad_fn on_bad, void *arg)
{
	struct listing_parser	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->format = format;
	p->now = now;
	p->on_entry = on_entry;
	p->on_bad = on_bad;
	p->arg = arg;
	return p;
}

/*
 * Does a line start the way a line of the parser's format does?  Then it
 * is a line of its own, though maybe one we can't read, and not the rest
 * of a name cut at a CR.
 */
static bool
parser_line_shaped(const struct listing_parser *p, const char *line,
    size_t len)
{
	size_t	i;
	int	mode;

	if (p->format == LISTING_MLSD) {
		for (i = 0; i < len && (is_digit(line[i]) ||
		    (to_lower(line[i]) >= 'a' && to_lower(line[i]) <= 'z') ||
		    strchr(".-_", line[i]) != NULL); i++)
			;
		return i > 0 && i < len && line[i] == '=';
	}
	return dos_shape(line, len) || (len >= 10 && line[0] != ' ' &&
	    unix_perms(line + 1, &mode));
}

/*
 * Report a bad line.  libcurl reads listings in ASCII mode, where a CR
 * inside a name becomes a line break: "x\ry" arrives as a good-looking
 * line ending in "x" and a bad one, "y".  So when a bad line could be the
 * rest of a name (no longer than NAME_MAX bytes, and not shaped like a
 * listing line), the entry line held before it is reported bad with it;
 * otherwise the held entry goes on.
 */
static void
parser_release(struct listing_parser *p);

static void
parser_bad(struct listing_parser *p, const char *line, size_t len)
{
	if (p->holding && len <= LISTING_NAME_REST &&
	    !parser_line_shaped(p, line, len)) {
		p->holding = false;
		p->bad++;
		if (p->on_bad != NULL)
			p->on_bad(p->arg, p->held, p->held_len);
	}
	parser_release(p);
	p->bad++;
	if (p->on_bad != NULL)
		p->on_bad(p->arg, line, len);
}

static enum listing_result
parser_parse(struct listing_parser *p, char *line, size_t n, struct entry *e)
{
	if (p->format == LISTING_MLSD)
		return listing_parse_mlsd(line, n, e);
	return listing_parse_list(line, n, p->now, e);
}

/* Hand the held entry line on, now that the line after it is good. */
static void
parser_release(struct listing_parser *p)
{
	struct entry e;

	if (!p->holding)
		return;
	p->holding = false;
	if (parser_parse(p, p->held, p->held_len, &e) != LISTING_ENTRY)
		return;
	p->entries++;
	if (p->on_entry != NULL)
		p->on_entry(p->arg, &e);
}

/*
 * Hand one complete line (its LF gone) to the parser of its format.  An
 * entry is held until the next line shows it was not cut short (see
 * parser_bad), so it is parsed twice: once to judge it, once to send it.
 */
static void
parser_line(struct listing_parser *p)
{
	struct entry		e;
	enum listing_result	r;
	size_t			n = p->len;

	p->len = 0;
	if (n > 0 && p->buf[n - 1] == '\r')
		n--;
	if (n > LISTING_MAX_LINE) {
		parser_bad(p, p->buf, LISTING_MAX_LINE);
		return;
	}
	memcpy(p->scratch, p->buf, n);
	r = parser_parse(p, p->scratch, n, &e);
	if (r == LISTING_BAD) {
		parser_bad(p, p->buf, n);
		return;
	}
	if (r != LISTING_ENTRY) {
		/* "." and ".." are lines of their own: the held one was whole */
		if (parser_line_shaped(p, p->buf, n))
			parser_release(p);
		return;
	}
	parser_release(p);
	memcpy(p->held, p->buf, n);
	p->held_len = n;
	p->holding = true;
}

/*
 * Feed len bytes of a listing, split anywhere.  Complete lines are parsed
 * and reported at once; a partial line waits for the rest.  A line longer
 * than LISTING_MAX_LINE is reported once, cut to that length, and the rest
 * of it is dropped as it arrives.
 */
void
listing_parser_feed(struct listing_parser *p, const char *data, size_t len)
{
	const char	*nl;
	size_t		 n, room;

	while (len > 0) {
		nl = memchr(data, '\n', len);
		n = nl != NULL ? (size_t)(nl - data) : len;
		room = sizeof(p->buf) - p->len;
		if (p->skipping)
			;
		else if (n > room) {
			/* Even without a CR this is more than a line. */
			memcpy(p->buf + p->len, data, room);
			p->len = 0;
			p->skipping = true;
			parser_bad(p, p->buf, LISTING_MAX_LINE);
		} else {
			memcpy(p->buf + p->len, data, n);
			p->len += n;
		}
		if (nl == NULL)
			break;
		if (p->skipping) {
			p->skipping = false;
			p->len = 0;
		} else
			parser_line(p);
		data += n + 1;
		len -= n + 1;
	}
}

/*
 * End of the listing: parse a last line that came without a line end.
 * The parser is then ready for another listing; the counts carry on.
 */
void
listing_parser_finish(struct listing_parser *p)
{
	if (p->skipping) {
		p->skipping = false;
		p->len = 0;
	} else if (p->len > 0)
		parser_line(p);
	parser_release(p);
}

/* The number of lines that gave an entry so far. */
size_t
listing_parser_entries(const struct listing_parser *p)
{
	return p->entries;
}

/* The number of lines that could not be parsed so far. */
size_t
listing_parser_bad(const struct listing_parser *p)
{
	return p->bad;
}

/* Free a parser; NULL is fine. */
void
listing_parser_free(struct listing_parser *p)
{
	free(p);
}

/* One line of a FEAT reply, its line end gone. */
static void
feat_line(const char *s, size_t n, struct feat *f)
{
	size_t	i = 0, k, r;

	/* Some servers put "211-" before every line, not just the first. */
	if (n >= 4 && all_digits(s, 3) && (s[3] == '-' || s[3] == ' '))
		i = 4;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (k = i; k < n && s[k] != ' ' && s[k] != '\t' && s[k] != '\r'; k++)
		;
	s += i;
	k -= i;
	n -= i;
	if (ci_eq(s, k, "mlst") || ci_eq(s, k, "mlsd"))
		f->mlsd = true;
	else if (ci_eq(s, k, "mdtm"))
		f->mdtm = true;
	else if (ci_eq(s, k, "size"))
		f->size = true;
	else if (ci_eq(s, k, "utf8"))
		f->utf8 = true;
	else if (ci_eq(s, k, "epsv"))
		f->epsv = true;
	else if (ci_eq(s, k, "hash"))
		f->hash = true;
	else if (ci_eq(s, k, "xsha256"))
		f->xsha256 = true;
	else if (ci_eq(s, k, "xmd5"))
		f->xmd5 = true;
	else if (ci_eq(s, k, "rest")) {
		/* Only REST STREAM promises resumable stream transfers. */
		for (i = k; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
			;
		for (r = i; r < n && s[r] != ' ' && s[r] != '\t' &&
		    s[r] != '\r'; r++)
			;
		if (ci_eq(s + i, r - i, "stream"))
			f->rest_stream = true;
	}
}

/*
 * Parse a FEAT reply, all of its lines, into *f (cleared first).  Feature
 * names are matched without regard to case; "MLST" (or "MLSD") sets mlsd.
 */
void
listing_parse_feat(const char *reply, size_t len, struct feat *f)
{
	const char	*nl;
	size_t		 pos = 0, end;

	memset(f, 0, sizeof(*f));
	while (pos < len) {
		nl = memchr(reply + pos, '\n', len - pos);
		end = nl != NULL ? (size_t)(nl - reply) : len;
		feat_line(reply + pos, end - pos, f);
		pos = end + 1;
	}
}

/*
 * Parse an MDTM reply, "213 YYYYMMDDHHMMSS[.sss]" with an optional line
 * end, into seconds since the epoch (UTC).  Returns 0, or -1 when the
 * reply is anything else; *mtime is set only on success.
 */
int
listing_parse_mdtm(const char *reply, size_t len, int64_t *mtime)
{
	size_t	n = len;
	int64_t	t;

	while (n > 0 && (reply[n - 1] == '\r' || reply[n - 1] == '\n' ||
	    reply[n - 1] == ' '))
		n--;
	if (n < 4 || memcmp(reply, "213 ", 4) != 0)
		return -1;
	if (!parse_timeval(reply + 4, n - 4, &t))
		return -1;
	*mtime = t;
	return 0;
}
