/*
 * job.c: a job file (YAML) turned into a validated struct job.
 *
 * The text is read with libyaml's event API.  The document must be one
 * mapping whose keys are plain scalars and whose values are scalars or, for
 * the pattern lists, sequences of scalars.  Every scalar is taken as a
 * string and interpreted by its key, so "tls: off" is the enum and not YAML
 * 1.1's false.  Anchors, aliases, tags and deep nesting are refused: no job
 * needs them, and they are how YAML parsers are made to eat memory.  Errors
 * are collected, not returned at the first, so an operator can fix a job
 * file in one pass.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "job.h"
#include "path.h"

#define JOB_MAX_FILE	(1024 * 1024)	/* bytes in a job file */
#define JOB_MAX_VALUE	4096		/* bytes in one scalar */
#define JOB_MAX_DEPTH	16		/* nesting levels, skipped ones too */
#define JOB_MAX_LIST	10000		/* entries in one list */
#define JOB_MAX_ERRORS	50		/* then the file is given up on */
#define JOB_MAX_NAME	64		/* bytes in a job name */
#define JOB_MAX_KEYLEN	32		/* longest key compared for typos */
#define JOB_MAX_PWFILE	(64 * 1024)	/* bytes in a password file */
#define JOB_QUOTE	72		/* a value quoted in a message */
#define JOB_ENOTREG	(-1)		/* read_file: not a regular file */
#define JOB_ZONEINFO	"/usr/share/zoneinfo"
#define JOB_JOBS_DIR	"/etc/ftpmirror/jobs.d"
#define JOB_ANON_PASSWORD "ftpmirror@localhost"

enum key_id {
	K_NAME, K_SOURCE, K_TARGET, K_INCOMING, K_USER, K_PASSWORD,
	K_PASSWORD_FILE, K_SCHEDULE, K_CONNECTIONS, K_PASSIVE, K_LISTING,
	K_TIMEZONE, K_EXCLUDE, K_INCLUDE, K_DELETE, K_MAX_DELETE, K_SYMLINKS,
	K_RETRIES, K_TIMEOUT, K_BANDWIDTH, K_MAX_DEPTH, K_JITTER, K_TLS,
	K_CA_FILE, K_PUBLISH, K_PUBLISH_LAST, K_KEEP_SNAPSHOTS,
	K_VERIFY_MANIFESTS, K_VERIFY_REMOTE_HASH, K_VERIFY_COMMAND,
	K_HISTORY_DAYS, K_METRICS_FILE, K_TRACE_FILE, K_VERIFY_TIMEOUT,
	K_PASSWORD_ENV, K_NETRC_FILE, K_FSYNC, K_PIPELINING,
	K_COUNT
};

/* One scalar value as the setters see it. */
struct val {
	const char	*s;		/* NUL-terminated by libyaml */
	size_t		 len;		/* bytes, embedded NULs included */
	yaml_mark_t	 mark;		/* where it starts */
	bool		 plain;		/* written without quotes */
};

/* The state of one parse. */
struct parse {
	yaml_parser_t	 yp;
	bool		 yp_live;	/* yp was initialized */
	const char	*file;		/* names the text in messages */
	const char	*anchor;	/* relative paths are joined to this */
	const char	*want_name;	/* the name the job must have */
	const char	*buf;
	size_t		 len;
	struct job_errors *errs;
	size_t		 nerr;		/* errors found, stored or not */
	bool		 fatal;		/* stop reading events */
	bool		 mapped;	/* the top-level mapping was read */
	yaml_mark_t	 start;		/* where that mapping starts */
	bool		 seen[K_COUNT];
	yaml_mark_t	 kmark[K_COUNT]; /* where each key was given */
	yaml_mark_t	 vmark[K_COUNT]; /* where its value starts */
	char		*url_user;	/* user named in source, decoded */
};

/* A known key and how its value is checked and stored. */
struct key {
	const char	*name;
	/* Checks and stores a scalar value; list entries use add_item. */
	int		(*set)(struct parse *, struct job *,
			    const struct key *, const struct val *);
	size_t		 off;		/* its field in struct job */
	long long	 min, max;	/* range for set_int */
	bool		 list;		/* a sequence of strings */
	bool		 empty_ok;	/* "" is a meaningful value */
};

static int	set_name(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_source(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_dir(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_path(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_string(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_schedule(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_int(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_bool(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_listing(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_timezone(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_max_delete(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_symlinks(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_bandwidth(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_tls(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_publish(struct parse *, struct job *, const struct key *,
		    const struct val *);
static int	set_remote_hash(struct parse *, struct job *,
		    const struct key *, const struct val *);
static int	set_command(struct parse *, struct job *, const struct key *,
		    const struct val *);

#define OFF(f)	offsetof(struct job, f)

static const struct key keys[K_COUNT] = {
	[K_NAME] =		{ "name", set_name, 0, 0, 0, false, false },
	[K_SOURCE] =		{ "source", set_source, 0, 0, 0, false, false },
	[K_TARGET] =		{ "target", set_dir, OFF(target), 0, 0,
				  false, false },
	[K_INCOMING] =		{ "incoming", set_dir, OFF(incoming), 0, 0,
				  false, false },
	[K_USER] =		{ "user", set_string, OFF(user), 0, 0,
				  false, false },
	[K_PASSWORD] =		{ "password", set_string, OFF(password), 0, 0,
				  false, true },
	[K_PASSWORD_FILE] =	{ "password_file", set_path,
				  OFF(password_file), 0, 0, false, false },
	[K_SCHEDULE] =		{ "schedule", set_schedule, 0, 0, 0, false,
				  false },
	[K_CONNECTIONS] =	{ "connections", set_int, OFF(connections),
				  1, 64, false, false },
	[K_PASSIVE] =		{ "passive", set_bool, OFF(passive), 0, 0,
				  false, false },
	[K_LISTING] =		{ "listing", set_listing, 0, 0, 0, false,
				  false },
	[K_TIMEZONE] =		{ "timezone", set_timezone, 0, 0, 0, false,
				  false },
	[K_EXCLUDE] =		{ "exclude", NULL, OFF(exclude), 0, 0, true,
				  false },
	[K_INCLUDE] =		{ "include", NULL, OFF(include), 0, 0, true,
				  false },
	[K_DELETE] =		{ "delete", set_bool, OFF(delete), 0, 0,
				  false, false },
	[K_MAX_DELETE] =	{ "max_delete", set_max_delete, 0, 0, 0,
				  false, false },
	[K_SYMLINKS] =		{ "symlinks", set_symlinks, 0, 0, 0, false,
				  false },
	[K_RETRIES] =		{ "retries", set_int, OFF(retries), 0, 100,
				  false, false },
	[K_TIMEOUT] =		{ "timeout", set_int, OFF(timeout), 1, 86400,
				  false, false },
	[K_BANDWIDTH] =		{ "bandwidth", set_bandwidth, 0, 0, 0, false,
				  false },
	[K_MAX_DEPTH] =		{ "max_depth", set_int, OFF(max_depth), 0,
				  1000, false, false },
	[K_JITTER] =		{ "jitter", set_int, OFF(jitter), 0, 86400,
				  false, false },
	[K_TLS] =		{ "tls", set_tls, 0, 0, 0, false, false },
	[K_CA_FILE] =		{ "ca_file", set_path, OFF(ca_file), 0, 0,
				  false, false },
	[K_PUBLISH] =		{ "publish", set_publish, 0, 0, 0, false,
				  false },
	[K_PUBLISH_LAST] =	{ "publish_last", NULL, OFF(publish_last), 0,
				  0, true, false },
	[K_KEEP_SNAPSHOTS] =	{ "keep_snapshots", set_int,
				  OFF(keep_snapshots), 0, 100, false, false },
	[K_VERIFY_MANIFESTS] =	{ "verify_manifests", set_bool,
				  OFF(verify_manifests), 0, 0, false, false },
	[K_VERIFY_REMOTE_HASH] = { "verify_remote_hash", set_remote_hash, 0,
				  0, 0, false, false },
	[K_VERIFY_COMMAND] =	{ "verify_command", set_command, 0, 0, 0,
				  false, true },
	[K_HISTORY_DAYS] =	{ "history_days", set_int, OFF(history_days),
				  0, 36500, false, false },
	[K_METRICS_FILE] =	{ "metrics_file", set_path, OFF(metrics_file),
				  0, 0, false, false },
	[K_TRACE_FILE] =	{ "trace_file", set_path, OFF(trace_file), 0,
				  0, false, false },
	[K_VERIFY_TIMEOUT] =	{ "verify_timeout", set_int,
				  OFF(verify_timeout), 1, 86400, false, false },
	[K_PASSWORD_ENV] =	{ "password_env", set_string,
				  OFF(password_env), 0, 0, false, false },
	[K_NETRC_FILE] =	{ "netrc_file", set_path, OFF(netrc_file), 0,
				  0, false, false },
	[K_FSYNC] =		{ "fsync", set_bool, OFF(fsync), 0, 0, false,
				  false },
	[K_PIPELINING] =	{ "pipelining", set_bool, OFF(pipelining), 0, 0,
				  false, false },
};

/* Files published last when the job does not say (Debian and GNU style). */
static const char *const default_publish_last[] = {
	"Release", "InRelease", "Packages*", "Sources*", "SHA256SUMS",
	"MD5SUMS", "ls-lR*"
};

static void	perr(struct parse *, const yaml_mark_t *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	perrk(struct parse *, const struct key *, const yaml_mark_t *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static int	bad(struct parse *, const struct key *, const struct val *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	errs_add(struct job_errors *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * Errors.
 */

/* Append msg (owned; NULL after a failed allocation) to errs. */
static void
errs_push(struct job_errors *errs, char *msg)
{
	char	**v;

	if (msg == NULL)
		return;
	v = reallocarray(errs->v, errs->n + 1, sizeof(*v));
	if (v == NULL) {
		free(msg);
		return;
	}
	errs->v = v;
	errs->v[errs->n++] = msg;
}

/* Append a formatted message to errs. */
static void
errs_add(struct job_errors *errs, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	errs_push(errs, msg);
}

/*
 * Put len bytes of s in double quotes into out for a message: control
 * bytes, quotes and backslashes escaped, long values cut with "...", since
 * a hostile value must not make an unreadable or endless message.
 */
static const char *
quote(char *out, size_t outsz, const char *s, size_t len)
{
	char		 esc[8];
	size_t		 o = 0, i, n;
	unsigned char	 c;

	out[o++] = '"';
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n + 5 > outsz) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* Record an error at mark: "FILE:LINE:COLUMN: what". */
static void
perr(struct parse *p, const yaml_mark_t *mark, const char *fmt, ...)
{
	va_list	 ap;
	char	*what;

	if (p->fatal)
		return;
	if (++p->nerr > JOB_MAX_ERRORS) {
		errs_add(p->errs, "%s: too many errors, giving up", p->file);
		p->fatal = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) == -1)
		what = NULL;
	va_end(ap);
	errs_add(p->errs, "%s:%zu:%zu: %s", p->file, mark->line + 1,
	    mark->column + 1, what != NULL ? what : "out of memory");
	free(what);
}

/* Record an error about key k ("KEY: what"), or a bare one without k. */
static void
perrk(struct parse *p, const struct key *k, const yaml_mark_t *mark,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*what;

	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) == -1)
		what = NULL;
	va_end(ap);
	perr(p, mark, "%s%s%s", k != NULL ? k->name : "",
	    k != NULL ? ": " : "", what != NULL ? what : "out of memory");
	free(what);
}

/* Record "KEY: what, got VALUE" at the value; returns -1 for the setter. */
static int
bad(struct parse *p, const struct key *k, const struct val *v,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*what;
	char	 q[JOB_QUOTE];

	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) == -1)
		what = NULL;
	va_end(ap);
	perr(p, &v->mark, "%s: %s, got %s", k->name,
	    what != NULL ? what : "bad value",
	    quote(q, sizeof(q), v->s, v->len));
	free(what);
	return -1;
}

/* Give up on the file after a failed allocation. */
static int
oom(struct parse *p)
{
	if (!p->fatal) {
		errs_add(p->errs, "%s: out of memory", p->file);
		p->nerr++;
		p->fatal = true;
	}
	return -1;
}

/*
 * Small string helpers.  Character classes are spelled out rather than
 * taken from <ctype.h>, whose answers depend on the locale.
 */

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A job name: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
static bool
name_ok(const char *s)
{
	size_t	 i;

	if (s[0] == '\0' || s[0] == '.')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= JOB_MAX_NAME)
			return false;
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return false;
	}
	return true;
}

/*
 * Parse a decimal integer within min..max.  A sign is read so that "-1"
 * gets the range message rather than a puzzling "not a number".
 */
static int
parse_ll(const char *s, long long min, long long max, long long *out)
{
	long long	 v = 0;
	bool		 neg = false;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!is_digit((unsigned char)*s))
		return -1;
	for (; is_digit((unsigned char)*s); s++) {
		if (v > (LLONG_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (*s != '\0')
		return -1;
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Levenshtein distance, or SIZE_MAX for strings too long to be keys. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t	 row[JOB_MAX_KEYLEN + 1];
	size_t	 la = strlen(a), lb = strlen(b), i, j, diag, up, best;

	if (la > JOB_MAX_KEYLEN || lb > JOB_MAX_KEYLEN)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Paths.  Everything is lexical: the trees may not exist yet when a job is
 * checked, so nothing here asks the file system.
 */

/*
 * Clean path as Go's path.Clean does: no empty or "." components, ".."
 * takes back the component before it, no trailing '/'; "" becomes ".".
 * Returns a string the caller frees, or NULL.
 */
static char *
clean_path(const char *path)
{
	const char	*c = path, *e;
	char		*o;
	size_t		 n = 0, base = 0, clen;
	bool		 rooted = path[0] == '/';

	if ((o = malloc(strlen(path) + 2)) == NULL)
		return NULL;
	if (rooted)
		o[n++] = '/';
	base = n;
	while (*c != '\0') {
		while (*c == '/')
			c++;
		if (*c == '\0')
			break;
		for (e = c; *e != '\0' && *e != '/'; e++)
			continue;
		clen = (size_t)(e - c);
		if (clen == 1 && c[0] == '.') {
			/* nothing */
		} else if (clen == 2 && c[0] == '.' && c[1] == '.') {
			if (n > base) {
				while (n > base && o[n - 1] != '/')
					n--;
				if (n > base)
					n--;
			} else if (!rooted) {
				/* Leading ".." of a relative path stay. */
				if (n > 0)
					o[n++] = '/';
				memcpy(o + n, "..", 2);
				n += 2;
				base = n;
			}
		} else {
			if (n > 0 && o[n - 1] != '/')
				o[n++] = '/';
			memcpy(o + n, c, clen);
			n += clen;
		}
		c = e;
	}
	if (n == 0)
		o[n++] = '.';
	o[n] = '\0';
	return o;
}

/* The directory part of path ("." when it has none).  Caller frees. */
static char *
dir_of(const char *path)
{
	const char	*slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* path taken relative to dir, cleaned.  Caller frees; NULL on failure. */
static char *
resolve(const char *dir, const char *path)
{
	char	*joined, *clean;

	if (path[0] == '/')
		return clean_path(path);
	if (asprintf(&joined, "%s/%s", dir, path) == -1)
		return NULL;
	clean = clean_path(joined);
	free(joined);
	return clean;
}

/* Is clean path a equal to or below clean path b? */
static bool
is_within(const char *a, const char *b)
{
	size_t	 bl = strlen(b);

	if (strcmp(a, b) == 0)
		return true;
	if (strcmp(b, "/") == 0)
		return a[0] == '/';
	if (strcmp(b, ".") == 0)
		return a[0] != '/' && strcmp(a, "..") != 0 &&
		    strncmp(a, "../", 3) != 0;
	return strncmp(a, b, bl) == 0 && a[bl] == '/';
}

/* dirname(target)/.basename(target).incoming, for a cleaned target. */
static char *
default_incoming(const char *target)
{
	const char	*slash = strrchr(target, '/');
	char		*s;
	int		 rc;

	if (slash == NULL)
		rc = asprintf(&s, ".%s.incoming", target);
	else
		rc = asprintf(&s, "%.*s/.%s.incoming",
		    (int)(slash == target ? 0 : slash - target), target,
		    slash + 1);
	return rc == -1 ? NULL : s;
}

/*
 * Setters: one per kind of value.  Each checks v, stores it in job, and
 * returns 0, or records an error and returns -1.
 */

static int
set_name(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	if (!name_ok(v->s))
		return bad(p, k, v, "expected 1 to %d letters, digits, '.', "
		    "'_' or '-', not starting with '.'", JOB_MAX_NAME);
	if ((job->name = strdup(v->s)) == NULL)
		return oom(p);
	return 0;
}

/*
 * source: ftp:// or ftps://, a host, an optional port and path.  A user
 * in the URL is moved to the user field, so the URL itself never carries
 * credentials and can be logged; a password in it is refused outright.
 */
static int
set_source(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	const char	*s = v->s, *auth, *path, *at, *host, *c, *end;
	const char	*scheme;
	char		*user = NULL;
	size_t		 plen, ulen;
	long long	 port;
	int		 rc = -1;

	if (strncasecmp(s, "ftp://", 6) == 0) {
		scheme = "ftp";
		auth = s + 6;
	} else if (strncasecmp(s, "ftps://", 7) == 0) {
		scheme = "ftps";
		auth = s + 7;
	} else {
		bad(p, k, v, "expected an ftp:// or ftps:// URL");
		goto out;
	}
	for (c = s; *c != '\0'; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f) {
			bad(p, k, v, "spaces and control characters must be "
			    "percent-encoded");
			goto out;
		}
		if (*c == '?' || *c == '#') {
			bad(p, k, v, "'?' and '#' must be percent-encoded");
			goto out;
		}
		if (*c == '%' && (path_hex_digit((unsigned char)c[1]) < 0 ||
		    path_hex_digit((unsigned char)c[2]) < 0)) {
			bad(p, k, v, "'%%' must start a %%XX escape");
			goto out;
		}
	}

	if ((path = strchr(auth, '/')) == NULL)
		path = auth + strlen(auth);
	host = auth;
	if ((at = memrchr(auth, '@', (size_t)(path - auth))) != NULL) {
		if (memchr(auth, ':', (size_t)(at - auth)) != NULL) {
			/* Not bad(): the message must not echo it. */
			perrk(p, k, &v->mark, "a password in the URL is not "
			    "allowed: use password_file");
			goto out;
		}
		if (at == auth) {
			bad(p, k, v, "empty user name before '@'");
			goto out;
		}
		if ((user = path_percent_decode(auth, (size_t)(at - auth), &ulen)) ==
		    NULL) {
			oom(p);
			goto out;
		}
		if (strlen(user) != ulen || has_control(user)) {
			bad(p, k, v, "the user name must not contain control "
			    "characters");
			goto out;
		}
		host = at + 1;
	}

	if (*host == '[') {
		end = memchr(host, ']', (size_t)(path - host));
		for (c = host + 1; end != NULL && c < end; c++)
			if (path_hex_digit((unsigned char)*c) < 0 && *c != ':' &&
			    *c != '.')
				end = NULL;
		if (end == NULL || end == host + 1) {
			bad(p, k, v, "expected an IPv6 address in [ ]");
			goto out;
		}
		c = end + 1;
	} else {
		for (c = host; c < path && *c != ':'; c++) {
			if (!is_alnum((unsigned char)*c) && *c != '.' &&
			    *c != '-' && *c != '_') {
				bad(p, k, v, "a host name holds only letters, "
				    "digits, '.', '-' and '_'");
				goto out;
			}
		}
		if (c == host) {
			bad(p, k, v, "expected a host name");
			goto out;
		}
	}
	if (c < path) {
		char	 num[8];

		plen = (size_t)(path - c - 1);
		if (*c != ':' || plen == 0 || plen >= sizeof(num)) {
			bad(p, k, v, "expected a port number from 1 to 65535 "
			    "after the host");
			goto out;
		}
		memcpy(num, c + 1, plen);
		num[plen] = '\0';
		if (parse_ll(num, 1, 65535, &port) == -1 || num[0] == '+' ||
		    num[0] == '-') {
			bad(p, k, v, "expected a port number from 1 to 65535 "
			    "after the host");
			goto out;
		}
	}

	plen = strlen(path);
	if (asprintf(&job->source, "%s://%.*s%s%s", scheme,
	    (int)(path - host), host, path,
	    plen == 0 || path[plen - 1] != '/' ? "/" : "") == -1) {
		job->source = NULL;
		oom(p);
		goto out;
	}
	free(p->url_user);
	p->url_user = user;
	user = NULL;
	rc = 0;
out:
	free(user);
	return rc;
}

/* target and incoming: directories, resolved, never "/" itself. */
static int
set_dir(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	char	**field = (char **)(void *)((char *)job + k->off);
	char	 *path;
	size_t	  n;

	if ((path = resolve(p->anchor, v->s)) == NULL)
		return oom(p);
	n = strlen(path);
	if (strcmp(path, "/") == 0) {
		free(path);
		return bad(p, k, v, "must not be \"/\"");
	}
	if (strcmp(path, ".") == 0 || strcmp(path, "..") == 0 ||
	    (n >= 3 && strcmp(path + n - 3, "/..") == 0)) {
		bad(p, k, v, "must name a directory, not \"%s\" (the value "
		    "resolves to it)", path);
		free(path);
		return -1;
	}
	free(*field);
	*field = path;
	return 0;
}

/* password_file and ca_file: files, resolved like target. */
static int
set_path(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	char	**field = (char **)(void *)((char *)job + k->off);
	char	 *path;

	if ((path = resolve(p->anchor, v->s)) == NULL)
		return oom(p);
	free(*field);
	*field = path;
	return 0;
}

/* user and password: they go into FTP commands, so no control bytes. */
static int
set_string(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	char	**field = (char **)(void *)((char *)job + k->off);

	if (has_control(v->s)) {
		perrk(p, k, &v->mark, "must not contain control characters");
		return -1;
	}
	free(*field);
	if ((*field = strdup(v->s)) == NULL)
		return oom(p);
	return 0;
}

static int
set_command(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	(void)k;
	if (v->len == 0)
		return 0;
	if ((job->verify_command = strdup(v->s)) == NULL)
		return oom(p);
	return 0;
}

static int
set_schedule(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	const char	*why = NULL;

	if (schedule_parse(v->s, &job->schedule, &why) == -1) {
		memset(&job->schedule, 0, sizeof(job->schedule));
		job->schedule.kind = SCHEDULE_NONE;
		return bad(p, k, v, "%s", why != NULL ? why : "not a schedule");
	}
	if ((job->schedule_text = strdup(v->s)) == NULL)
		return oom(p);
	return 0;
}

static int
set_int(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	long long	 n;

	if (parse_ll(v->s, k->min, k->max, &n) == -1)
		return bad(p, k, v, "expected an integer from %lld to %lld",
		    k->min, k->max);
	*(int *)(void *)((char *)job + k->off) = (int)n;
	return 0;
}

static int
set_bool(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	bool	*field = (bool *)(void *)((char *)job + k->off);
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v->s, yes[i]) == 0) {
			*field = true;
			return 0;
		}
		if (strcasecmp(v->s, no[i]) == 0) {
			*field = false;
			return 0;
		}
	}
	return bad(p, k, v, "expected true or false");
}

/* Index of s among words (case-insensitive), or -1 with an error. */
static int
pick(struct parse *p, const struct key *k, const struct val *v,
    const char *const *words, const char *expect)
{
	int	 i;

	for (i = 0; words[i] != NULL; i++)
		if (strcasecmp(v->s, words[i]) == 0)
			return i;
	return bad(p, k, v, "expected %s", expect);
}

static int
set_listing(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	static const char *const words[] = { "auto", "mlsd", "list", NULL };
	static const enum job_listing e[] = {
		JOB_LISTING_AUTO, JOB_LISTING_MLSD, JOB_LISTING_LIST
	};
	int	 i;

	if ((i = pick(p, k, v, words, "auto, mlsd or list")) == -1)
		return -1;
	job->listing = e[i];
	return 0;
}

static int
set_symlinks(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	static const char *const words[] = { "keep", "follow", "skip", NULL };
	static const enum job_symlinks e[] = {
		JOB_SYMLINKS_KEEP, JOB_SYMLINKS_FOLLOW, JOB_SYMLINKS_SKIP
	};
	int	 i;

	if ((i = pick(p, k, v, words, "keep, follow or skip")) == -1)
		return -1;
	job->symlinks = e[i];
	return 0;
}

static int
set_tls(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	static const char *const words[] = { "off", "required", NULL };
	static const enum job_tls e[] = { JOB_TLS_OFF, JOB_TLS_REQUIRED };
	int	 i;

	if ((i = pick(p, k, v, words, "off or required")) == -1)
		return -1;
	job->tls = e[i];
	return 0;
}

static int
set_publish(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	static const char *const words[] = { "staged", "snapshot", NULL };
	static const enum job_publish e[] = {
		JOB_PUBLISH_STAGED, JOB_PUBLISH_SNAPSHOT
	};
	int	 i;

	if ((i = pick(p, k, v, words, "staged or snapshot")) == -1)
		return -1;
	job->publish = e[i];
	return 0;
}

static int
set_remote_hash(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	static const char *const words[] = { "auto", "off", NULL };
	static const enum job_remote_hash e[] = {
		JOB_REMOTE_HASH_AUTO, JOB_REMOTE_HASH_OFF
	};
	int	 i;

	if ((i = pick(p, k, v, words, "auto or off")) == -1)
		return -1;
	job->verify_remote_hash = e[i];
	return 0;
}

/*
 * timezone: the name must be a TZif file under the zoneinfo directory.
 * The name is checked first so that it cannot walk out of that directory;
 * the magic is checked so that zone.tab and friends are not taken.
 */
static int
set_timezone(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	const char	*c;
	char		*path = NULL;
	char		 magic[4];
	struct stat	 st;
	int		 fd = -1, rc = -1;

	if (strcmp(v->s, "UTC") != 0) {
		for (c = v->s; *c != '\0'; c++)
			if (!is_alnum((unsigned char)*c) && *c != '/' &&
			    *c != '_' && *c != '-' && *c != '+' && *c != '.')
				break;
		if (*c != '\0' || v->s[0] == '/' || v->s[0] == '.' ||
		    strstr(v->s, "..") != NULL || strstr(v->s, "//") != NULL) {
			bad(p, k, v, "expected an IANA time zone name such as "
			    "Europe/Berlin");
			goto out;
		}
		if (asprintf(&path, "%s/%s", JOB_ZONEINFO, v->s) == -1) {
			path = NULL;
			oom(p);
			goto out;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    read(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic) ||
		    memcmp(magic, "TZif", sizeof(magic)) != 0) {
			bad(p, k, v, "no such time zone in %s", JOB_ZONEINFO);
			goto out;
		}
	}
	if ((job->timezone = strdup(v->s)) == NULL) {
		oom(p);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(path);
	return rc;
}

/*
 * max_delete: "10%" or "0.5%" (a share of the tree), or a count.  The
 * number is read by hand because strtod follows the locale's decimal
 * point.
 */
static int
set_max_delete(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	const char	*c = v->s;
	double		 pct = 0, scale = 1;
	long long	 n;
	bool		 digits = false;

	if (v->len > 0 && v->s[v->len - 1] == '%') {
		for (; is_digit((unsigned char)*c) && pct <= 100; c++) {
			pct = pct * 10 + (*c - '0');
			digits = true;
		}
		if (*c == '.') {
			for (c++; is_digit((unsigned char)*c); c++) {
				scale /= 10;
				pct += (*c - '0') * scale;
				digits = true;
			}
		}
		if (!digits || *c != '%' || c[1] != '\0' || pct > 100)
			goto fail;
		job->max_delete_share = pct / 100;
		job->max_delete_count = -1;
		return 0;
	}
	if (parse_ll(v->s, 0, INT64_MAX, &n) == -1)
		goto fail;
	job->max_delete_count = n;
	job->max_delete_share = 0;
	return 0;
fail:
	return bad(p, k, v, "expected a count (0 or more) or a share from 0%% "
	    "to 100%%");
}

static int
set_bandwidth(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	if (job_parse_bytes(v->s, &job->bandwidth) == -1)
		return bad(p, k, v, "expected bytes per second such as 0, "
		    "500K or 10M");
	return 0;
}

/*
 * Events.
 */

/* Name the kind of node an event starts, for messages. */
static const char *
what(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return "a string";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_ALIAS_EVENT:
		return "an alias";
	default:
		return "something else";
	}
}

/* The position of byte offset off of the text, as libyaml counts it. */
static yaml_mark_t
mark_at(const struct parse *p, size_t off)
{
	yaml_mark_t	 m;
	size_t		 i;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < off && i < p->len; i++) {
		if (p->buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)p->buf[i] & 0xc0) != 0x80)
			m.column++;
	}
	m.index = off;
	return m;
}

/* The byte at a mark (line and column counted in characters), or -1. */
static int
byte_at(const struct parse *p, const yaml_mark_t *m)
{
	size_t	 i = 0, line = 0, col = 0;

	while (i < p->len && line < m->line)
		if (p->buf[i++] == '\n')
			line++;
	while (i < p->len && col < m->column) {
		i++;
		while (i < p->len && ((unsigned char)p->buf[i] & 0xc0) == 0x80)
			i++;
		col++;
	}
	return i < p->len ? (unsigned char)p->buf[i] : -1;
}

/* Report libyaml's error; the text cannot be read further. */
static void
yaml_failed(struct parse *p)
{
	const yaml_parser_t	*yp = &p->yp;
	const char		*problem, *hint = "";
	yaml_mark_t		 m;

	problem = yp->problem != NULL ? yp->problem : "unknown error";
	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		oom(p);
		return;
	case YAML_READER_ERROR:
		m = mark_at(p, yp->problem_offset);
		perr(p, &m, "not UTF-8 text: %s (#x%X)", problem,
		    (unsigned int)yp->problem_value);
		break;
	default:
		m = yp->problem_mark;
		if (byte_at(p, &m) == '\t' && strstr(problem, "tab") == NULL)
			hint = " (tabs are not allowed for indentation)";
		if (yp->context != NULL)
			perr(p, &m, "syntax error %s: %s%s", yp->context,
			    problem, hint);
		else
			perr(p, &m, "syntax error: %s%s", problem, hint);
		break;
	}
	p->fatal = true;
}

/*
 * The next event into ev (which the caller deletes).  Returns -1 once the
 * text is unusable: libyaml keeps answering with empty events after an
 * error, so every loop must stop here.
 */
static int
next(struct parse *p, yaml_event_t *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (p->fatal)
		return -1;
	if (!yaml_parser_parse(&p->yp, ev)) {
		yaml_failed(p);
		return -1;
	}
	if (ev->type == YAML_NO_EVENT) {
		/* Not expected; but a job must never come out half read. */
		perr(p, &ev->start_mark, "unexpected end of the YAML stream");
		p->fatal = true;
		return -1;
	}
	return 0;
}

/*
 * Is tag harmless on a node of this type?  "!", and the standard tag of
 * the node's own kind, only say what every value here is taken as anyway.
 */
static bool
tag_ok(yaml_event_type_t type, const char *tag)
{
	if (strcmp(tag, "!") == 0)
		return true;
	switch (type) {
	case YAML_SCALAR_EVENT:
		return strcmp(tag, YAML_STR_TAG) == 0;
	case YAML_SEQUENCE_START_EVENT:
		return strcmp(tag, YAML_SEQ_TAG) == 0;
	case YAML_MAPPING_START_EVENT:
		return strcmp(tag, YAML_MAP_TAG) == 0;
	default:
		return false;
	}
}

/*
 * Refuse anchors and tags on a node (k names the key it belongs to, or
 * NULL).  Aliases are refused where they appear; anchors too, since one is
 * only ever there to be aliased.
 */
static int
check_props(struct parse *p, const struct key *k, const yaml_event_t *ev)
{
	const yaml_char_t	*anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor != NULL) {
		perrk(p, k, &ev->start_mark, "anchors and aliases are not "
		    "allowed");
		return -1;
	}
	if (tag != NULL && !tag_ok(ev->type, (const char *)tag)) {
		perrk(p, k, &ev->start_mark, "tags such as %.40s are not "
		    "allowed", (const char *)tag);
		return -1;
	}
	return 0;
}

/*
 * Read past the rest of the node ev starts, at nesting level depth.  Only
 * a counter is kept, so hostile nesting costs no stack; it is still cut
 * off, as nothing valid nests deeper than a list in a mapping.
 */
static void
skip_node(struct parse *p, const yaml_event_t *ev, int depth)
{
	yaml_event_t	 e;
	int		 level = 1;

	if (ev->type != YAML_SEQUENCE_START_EVENT &&
	    ev->type != YAML_MAPPING_START_EVENT)
		return;
	while (level > 0) {
		if (next(p, &e) == -1)
			return;
		if (e.type == YAML_SEQUENCE_START_EVENT ||
		    e.type == YAML_MAPPING_START_EVENT) {
			if (depth + level++ > JOB_MAX_DEPTH) {
				perr(p, &e.start_mark, "nested more than %d "
				    "levels deep", JOB_MAX_DEPTH);
				p->fatal = true;
			}
		} else if (e.type == YAML_SEQUENCE_END_EVENT ||
		    e.type == YAML_MAPPING_END_EVENT)
			level--;
		yaml_event_delete(&e);
		if (p->fatal)
			return;
	}
}

static void
to_val(const yaml_event_t *ev, struct val *v)
{
	v->s = (const char *)ev->data.scalar.value;
	v->len = ev->data.scalar.length;
	v->mark = ev->start_mark;
	v->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Checks every string value gets, whatever its key. */
static int
check_value(struct parse *p, const struct key *k, const struct val *v,
    bool empty_ok)
{
	if (v->len > JOB_MAX_VALUE)
		perrk(p, k, &v->mark, "value longer than %d bytes",
		    JOB_MAX_VALUE);
	else if (memchr(v->s, '\0', v->len) != NULL)
		perrk(p, k, &v->mark, "must not contain a NUL byte");
	else if (memchr(v->s, '\n', v->len) != NULL ||
	    memchr(v->s, '\r', v->len) != NULL)
		perrk(p, k, &v->mark, "must not contain a line break");
	else if (v->len == 0 && !empty_ok)
		perrk(p, k, &v->mark, k->list ? "entries must not be empty" :
		    "must not be empty");
	else
		return 0;
	return -1;
}

/* Append one entry to the list key k names. */
static void
add_item(struct parse *p, struct job *job, const struct key *k,
    const struct val *v)
{
	struct job_strings	*l;
	char			**nv;

	l = (struct job_strings *)(void *)((char *)job + k->off);
	if (check_value(p, k, v, false) == -1)
		return;
	if (l->n >= JOB_MAX_LIST) {
		perrk(p, k, &v->mark, "more than %d entries", JOB_MAX_LIST);
		p->fatal = true;
		return;
	}
	if ((nv = reallocarray(l->v, l->n + 1, sizeof(*nv))) == NULL) {
		oom(p);
		return;
	}
	l->v = nv;
	if ((l->v[l->n] = strdup(v->s)) == NULL) {
		oom(p);
		return;
	}
	l->n++;
}

/* The entries of a list value, after its SEQUENCE_START. */
static void
parse_list(struct parse *p, struct job *job, const struct key *k)
{
	yaml_event_t	 ev;
	struct val	 v;

	for (;;) {
		if (next(p, &ev) == -1)
			return;
		switch (ev.type) {
		case YAML_SEQUENCE_END_EVENT:
			yaml_event_delete(&ev);
			return;
		case YAML_SCALAR_EVENT:
			if (check_props(p, k, &ev) == 0) {
				to_val(&ev, &v);
				add_item(p, job, k, &v);
			}
			break;
		case YAML_ALIAS_EVENT:
			perrk(p, k, &ev.start_mark, "anchors and aliases are "
			    "not allowed");
			break;
		default:
			perrk(p, k, &ev.start_mark, "expected a string, got %s",
			    what(&ev));
			skip_node(p, &ev, 3);
			break;
		}
		yaml_event_delete(&ev);
	}
}

/* The value of key k (NULL: unknown or repeated, read past it). */
static void
parse_value(struct parse *p, struct job *job, const struct key *k,
    const yaml_event_t *ev)
{
	struct val	 v;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		if (k != NULL)
			perrk(p, k, &ev->start_mark, "anchors and aliases are "
			    "not allowed");
		break;
	case YAML_SCALAR_EVENT:
		if (k == NULL || check_props(p, k, ev) == -1)
			break;
		to_val(ev, &v);
		if (k->list) {
			/* "include:" with nothing after it: an empty list. */
			if (!(v.plain && v.len == 0))
				add_item(p, job, k, &v);
		} else if (check_value(p, k, &v, k->empty_ok) == 0)
			k->set(p, job, k, &v);
		break;
	case YAML_SEQUENCE_START_EVENT:
		if (k != NULL && !k->list)
			perrk(p, k, &ev->start_mark, "expected a single value, "
			    "got a list");
		else if (k != NULL && check_props(p, k, ev) == 0) {
			parse_list(p, job, k);
			break;
		}
		skip_node(p, ev, 2);
		break;
	case YAML_MAPPING_START_EVENT:
		if (k != NULL)
			perrk(p, k, &ev->start_mark, "expected %s, got a "
			    "mapping", k->list ? "a list of strings" :
			    "a single value");
		skip_node(p, ev, 2);
		break;
	default:
		perr(p, &ev->start_mark, "unexpected YAML event");
		p->fatal = true;
		break;
	}
}

/* A key of the top-level mapping: the known key, or NULL. */
static const struct key *
parse_key(struct parse *p, const yaml_event_t *ev)
{
	const struct key	*k, *best = NULL;
	const char		*s;
	char			 q[JOB_QUOTE];
	size_t			 i, d, bestd = 3;

	if (ev->type != YAML_SCALAR_EVENT) {
		perr(p, &ev->start_mark, "expected a key such as \"name\", got "
		    "%s", what(ev));
		skip_node(p, ev, 2);
		return NULL;
	}
	if (check_props(p, NULL, ev) == -1)
		return NULL;
	s = (const char *)ev->data.scalar.value;
	for (i = 0; i < K_COUNT; i++) {
		k = &keys[i];
		if (strlen(k->name) == ev->data.scalar.length &&
		    strcmp(k->name, s) == 0)
			break;
		if ((d = edit_distance(s, k->name)) < bestd) {
			bestd = d;
			best = k;
		}
	}
	if (i == K_COUNT) {
		quote(q, sizeof(q), s, ev->data.scalar.length);
		if (best != NULL)
			perr(p, &ev->start_mark, "unknown key %s (did you mean "
			    "\"%s\"?)", q, best->name);
		else
			perr(p, &ev->start_mark, "unknown key %s", q);
		return NULL;
	}
	if (p->seen[i]) {
		perr(p, &ev->start_mark, "duplicate key \"%s\" (first given at "
		    "line %zu)", k->name, p->kmark[i].line + 1);
		return NULL;
	}
	p->seen[i] = true;
	p->kmark[i] = ev->start_mark;
	return k;
}

/* The pairs of the top-level mapping, after its MAPPING_START. */
static void
parse_mapping(struct parse *p, struct job *job)
{
	yaml_event_t		 ev;
	const struct key	*k;

	for (;;) {
		if (next(p, &ev) == -1)
			return;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return;
		}
		k = parse_key(p, &ev);
		yaml_event_delete(&ev);
		if (next(p, &ev) == -1)
			return;
		if (k != NULL)
			p->vmark[k - keys] = ev.start_mark;
		parse_value(p, job, k, &ev);
		yaml_event_delete(&ev);
	}
}

/* The stream: exactly one document holding one mapping. */
static void
parse_stream(struct parse *p, struct job *job)
{
	yaml_event_t	 ev;
	yaml_mark_t	 top;

	if (next(p, &ev) == -1)		/* STREAM_START */
		return;
	yaml_event_delete(&ev);
	if (next(p, &ev) == -1)
		return;
	memset(&top, 0, sizeof(top));
	if (ev.type == YAML_STREAM_END_EVENT) {
		/* At 1:1, as the end of a file of comments is no place. */
		perr(p, &top, "empty job file: expected keys such as name, "
		    "source and target");
		yaml_event_delete(&ev);
		return;
	}
	yaml_event_delete(&ev);		/* DOCUMENT_START */
	if (next(p, &ev) == -1)
		return;
	if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
	    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		perr(p, &top, "empty job file: expected keys such as name, "
		    "source and target");
	} else if (ev.type == YAML_MAPPING_START_EVENT) {
		p->start = ev.start_mark;
		if (check_props(p, NULL, &ev) == 0) {
			p->mapped = true;
			parse_mapping(p, job);
		} else
			skip_node(p, &ev, 1);
	} else {
		perr(p, &ev.start_mark, "expected a mapping of keys such as "
		    "\"name: ...\", got %s", what(&ev));
		skip_node(p, &ev, 1);
	}
	yaml_event_delete(&ev);
	if (next(p, &ev) == -1)		/* DOCUMENT_END */
		return;
	yaml_event_delete(&ev);
	if (next(p, &ev) == -1)
		return;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		perr(p, &ev.start_mark, "a job file holds one document, this "
		    "is a second");
	yaml_event_delete(&ev);
}

/* Does the user name mean anonymous FTP (RFC 1635)? */
static bool
is_anonymous(const char *user)
{
	return strcasecmp(user, "anonymous") == 0 || strcasecmp(user, "ftp")
	    == 0;
}

/* Checks that need the whole mapping, then the defaults that need memory. */
static void
finish(struct parse *p, struct job *job)
{
	static const enum key_id required[] = { K_NAME, K_SOURCE, K_TARGET };
	char		 q1[JOB_QUOTE], q2[JOB_QUOTE];
	size_t		 i;
	bool		 anon;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!p->seen[required[i]])
			perr(p, &p->start, "missing required key \"%s\"",
			    keys[required[i]].name);

	if (p->want_name != NULL && job->name != NULL &&
	    strcmp(job->name, p->want_name) != 0)
		perr(p, &p->vmark[K_NAME], "name: \"%s\" differs from \"%s\", "
		    "the name the job was loaded by", job->name, p->want_name);

	if (p->url_user != NULL) {
		if (job->user != NULL && strcmp(job->user, p->url_user) != 0)
			perr(p, &p->vmark[K_SOURCE], "source: the URL's user "
			    "%s differs from user %s",
			    quote(q1, sizeof(q1), p->url_user,
			    strlen(p->url_user)),
			    quote(q2, sizeof(q2), job->user,
			    strlen(job->user)));
		else if (job->user == NULL) {
			job->user = p->url_user;
			p->url_user = NULL;
		}
	}
	if (job->user == NULL && !p->seen[K_USER] &&
	    (job->user = strdup("anonymous")) == NULL) {
		oom(p);
		return;
	}

	if ((p->seen[K_PASSWORD] + p->seen[K_PASSWORD_FILE] +
	    p->seen[K_PASSWORD_ENV] + p->seen[K_NETRC_FILE]) > 1)
		perr(p, &p->vmark[p->seen[K_NETRC_FILE] ? K_NETRC_FILE :
		    p->seen[K_PASSWORD_ENV] ? K_PASSWORD_ENV : K_PASSWORD_FILE],
		    "give only one of password, password_file, password_env "
		    "and netrc_file");
	/*
	 * Never NULL, so no user of a job has to ask: "" stands in until
	 * job_load reads password_file, and for accounts without one.
	 */
	job->password_inline = p->seen[K_PASSWORD] && job->user != NULL &&
	    !is_anonymous(job->user);
	if (!p->seen[K_PASSWORD]) {
		anon = job->user != NULL && !p->seen[K_PASSWORD_FILE] &&
		    !p->seen[K_PASSWORD_ENV] && !p->seen[K_NETRC_FILE] &&
		    is_anonymous(job->user);
		if ((job->password = strdup(anon ? JOB_ANON_PASSWORD : "")) ==
		    NULL) {
			oom(p);
			return;
		}
	}

	if (!p->seen[K_TIMEZONE] && (job->timezone = strdup("UTC")) == NULL) {
		oom(p);
		return;
	}

	if (!p->seen[K_PUBLISH_LAST]) {
		i = sizeof(default_publish_last) /
		    sizeof(default_publish_last[0]);
		if ((job->publish_last.v = calloc(i, sizeof(char *))) == NULL) {
			oom(p);
			return;
		}
		for (i = 0; i < sizeof(default_publish_last) /
		    sizeof(default_publish_last[0]); i++) {
			if ((job->publish_last.v[i] =
			    strdup(default_publish_last[i])) == NULL) {
				oom(p);
				return;
			}
			job->publish_last.n++;
		}
	}

	if (job->target == NULL)
		return;
	if (!p->seen[K_INCOMING]) {
		if ((job->incoming = default_incoming(job->target)) == NULL)
			oom(p);
	} else if (job->incoming != NULL) {
		if (strcmp(job->incoming, job->target) == 0)
			perr(p, &p->vmark[K_INCOMING], "incoming: must not be "
			    "the same directory as target");
		else if (is_within(job->incoming, job->target))
			perr(p, &p->vmark[K_INCOMING], "incoming: must not be "
			    "inside target (%s)", job->target);
		else if (is_within(job->target, job->incoming))
			perr(p, &p->vmark[K_INCOMING], "incoming: must not "
			    "contain target (%s)", job->target);
	}
}

/* A job with every default that needs no allocation. */
static struct job *
job_new(const char *file)
{
	struct job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	if ((job->file = strdup(file)) == NULL) {
		free(job);
		return NULL;
	}
	job->schedule.kind = SCHEDULE_NONE;
	job->connections = 4;
	job->passive = true;
	job->pipelining = true;
	job->listing = JOB_LISTING_AUTO;
	job->delete = true;
	job->fsync = true;
	job->max_delete_count = -1;
	job->max_delete_share = 0.10;
	job->symlinks = JOB_SYMLINKS_KEEP;
	job->retries = 3;
	job->timeout = 60;
	job->bandwidth = 0;
	job->max_depth = 0;
	job->jitter = 0;
	job->tls = JOB_TLS_OFF;
	job->publish = JOB_PUBLISH_STAGED;
	job->keep_snapshots = 2;
	job->verify_manifests = false;
	job->verify_remote_hash = JOB_REMOTE_HASH_AUTO;
	job->history_days = 365;
	job->verify_timeout = 300;
	return job;
}

/*
 * The parse behind job_parse_buf and job_load: anchor is the directory
 * relative paths are taken from; want_name, when not NULL, the name the
 * job must declare.  When a job is returned and vmark is not NULL, vmark
 * (K_COUNT of them) gets where each key's value was given, for errors
 * found after the parse.
 */
static struct job *
parse_job(const char *file, const char *anchor, const char *want_name,
    const char *buf, size_t len, struct job_errors *errs, yaml_mark_t *vmark)
{
	struct parse	 p;
	struct job	*job = NULL, *rv = NULL;

	memset(&p, 0, sizeof(p));
	p.file = file;
	p.anchor = anchor;
	p.want_name = want_name;
	p.buf = buf != NULL ? buf : "";
	p.len = buf != NULL ? len : 0;
	p.errs = errs;
	/*
	 * A UTF-8 byte order mark (Windows editors write one) is not
	 * content; the parser, told the encoding, would take it for some.
	 */
	if (p.len >= 3 && memcmp(p.buf, "\xef\xbb\xbf", 3) == 0) {
		p.buf += 3;
		p.len -= 3;
	}

	if (p.len > JOB_MAX_FILE) {
		errs_add(errs, "%s: larger than %d bytes", file, JOB_MAX_FILE);
		goto out;
	}
	if ((job = job_new(file)) == NULL || !yaml_parser_initialize(&p.yp)) {
		oom(&p);
		goto out;
	}
	p.yp_live = true;
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.buf,
	    p.len);
	yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);

	parse_stream(&p, job);
	if (p.mapped && !p.fatal)
		finish(&p, job);
	if (p.nerr == 0) {
		if (vmark != NULL)
			memcpy(vmark, p.vmark, sizeof(p.vmark));
		rv = job;
		job = NULL;
	}
out:
	if (p.yp_live)
		yaml_parser_delete(&p.yp);
	free(p.url_user);
	job_free(job);
	return rv;
}

/*
 * Free the messages in errs and leave it empty for reuse.  NULL is a
 * no-op.
 */
void
job_errors_free(struct job_errors *errs)
{
	size_t	 i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->v[i]);
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

/*
 * Parse the job file text buf (len bytes) named file.  Relative paths are
 * taken lexically from file's directory, so they stay relative when file
 * is.  Errors are appended to errs; returns a job the caller frees with
 * job_free, or NULL when there was any error.
 */
struct job *
job_parse_buf(const char *file, const char *buf, size_t len,
    struct job_errors *errs)
{
	struct job	*job;
	char		*dir;

	if (file == NULL)
		file = "-";
	if ((dir = dir_of(file)) == NULL) {
		errs_add(errs, "%s: out of memory", file);
		return NULL;
	}
	job = parse_job(file, dir, NULL, buf, len, errs, NULL);
	free(dir);
	return job;
}

/*
 * Read the regular file path, at most cap bytes, into *bufp (caller
 * frees) and *lenp.  Opened without blocking so that a FIFO cannot hang a
 * check.  Returns 0, an errno value (EFBIG when over cap), or JOB_ENOTREG.
 */
static int
read_file(const char *path, size_t cap, char **bufp, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL, *nb;
	size_t		 len = 0, size;
	ssize_t		 n;
	int		 fd, e = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK))
	    == -1)
		return errno;
	if (fstat(fd, &st) == -1) {
		e = errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		e = EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		e = JOB_ENOTREG;
		goto out;
	}
	if (st.st_size > 0 && (size_t)st.st_size > cap) {
		e = EFBIG;
		goto out;
	}
	/* The size is only a hint: the file may grow while it is read. */
	size = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (size > cap + 1)
		size = cap + 1;
	if ((buf = malloc(size + 1)) == NULL) {
		e = ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == size) {
			if (size > cap) {
				e = EFBIG;
				goto out;
			}
			size = size * 2 > cap + 1 ? cap + 1 : size * 2;
			if ((nb = realloc(buf, size + 1)) == NULL) {
				e = ENOMEM;
				goto out;
			}
			buf = nb;
		}
		if ((n = read(fd, buf + len, size - len)) == -1) {
			if (errno == EINTR)
				continue;
			e = errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > cap) {
		e = EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return e;
}

/* Append "FILE: why" for a read_file failure. */
static void
read_failed(struct job_errors *errs, const char *prefix, const char *path,
    int e, size_t cap)
{
	if (e == EFBIG)
		errs_add(errs, "%s%s: larger than %zu bytes", prefix, path,
		    cap);
	else if (e == JOB_ENOTREG)
		errs_add(errs, "%s%s: not a regular file", prefix, path);
	else
		errs_add(errs, "%s%s: %s", prefix, path, strerror(e));
}

/*
 * The password from the environment variable the job names; at is where
 * the job file names it, for errors.
 */
static int
read_password_env(struct job *job, const yaml_mark_t *at,
    struct job_errors *errs)
{
	const char *value = getenv(job->password_env);

	if (value == NULL) {
		errs_add(errs, "%s:%zu:%zu: password_env: %s is not set",
		    job->file, at->line + 1, at->column + 1, job->password_env);
		return -1;
	}
	if (has_control(value)) {
		errs_add(errs, "%s:%zu:%zu: password_env: %s holds control "
		    "characters", job->file, at->line + 1, at->column + 1,
		    job->password_env);
		return -1;
	}
	if (job->password != NULL)
		explicit_bzero(job->password, strlen(job->password));
	free(job->password);
	if ((job->password = strdup(value)) == NULL) {
		errs_add(errs, "%s: out of memory", job->file);
		return -1;
	}
	return 0;
}

/*
 * The password: the first line of password_file, without its line end.
 * at is where the job file gives password_file: errors point there, as
 * the parser's do.  Returns 0, or -1 with an error appended.
 */
static int
read_password(struct job *job, const yaml_mark_t *at,
    struct job_errors *errs)
{
	char	*buf = NULL, *prefix = NULL, *pw;
	size_t	 len = 0, n;
	int	 e, rc = -1;

	if (asprintf(&prefix, "%s:%zu:%zu: password_file ", job->file,
	    at->line + 1, at->column + 1) == -1) {
		prefix = NULL;
		errs_add(errs, "%s: out of memory", job->file);
		goto out;
	}
	if ((e = read_file(job->password_file, JOB_MAX_PWFILE, &buf, &len))
	    != 0) {
		read_failed(errs, prefix, job->password_file, e,
		    JOB_MAX_PWFILE);
		goto out;
	}
	for (n = 0; n < len && buf[n] != '\n'; n++)
		continue;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL || has_control(buf)) {
		errs_add(errs, "%s%s: the first line holds control characters",
		    prefix, job->password_file);
		goto out;
	}
	if ((pw = strdup(buf)) == NULL) {
		errs_add(errs, "%s: out of memory", job->file);
		goto out;
	}
	if (job->password != NULL)
		explicit_bzero(job->password, strlen(job->password));
	free(job->password);
	job->password = pw;
	rc = 0;
out:
	/* The rest of the file may be secret too: leave none of it behind. */
	if (buf != NULL)
		explicit_bzero(buf, len);
	free(prefix);
	free(buf);
	return rc;
}

bool
job_spec_is_path(const char *spec)
{
	size_t	 n = strlen(spec);

	return strchr(spec, '/') != NULL ||
	    (n >= 5 && strcmp(spec + n - 5, ".yaml") == 0) ||
	    (n >= 4 && strcmp(spec + n - 4, ".yml") == 0);
}

bool
job_file_missing(const char *name, const char *jobs_dir)
{
	static const char *const ext[] = { ".yaml", ".yml" };
	char file[PATH_MAX];
	struct stat sb;
	size_t i;
	int n;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		n = snprintf(file, sizeof(file), "%s/%s%s", jobs_dir, name,
		    ext[i]);
		if (n < 0 || (size_t)n >= sizeof(file) ||
		    stat(file, &sb) == 0 || errno != ENOENT)
			return false;
	}
	return true;
}

/*
 * The directory of file as an absolute path, so that a loaded job's paths
 * do not depend on the directory the daemon later runs in.
 */
static char *
load_anchor(const char *file)
{
	char	*dir, *cwd = NULL, *abs = NULL;

	if ((dir = dir_of(file)) == NULL)
		return NULL;
	if (dir[0] == '/') {
		abs = clean_path(dir);
	} else if ((cwd = getcwd(NULL, 0)) != NULL)
		abs = resolve(cwd, dir);
	free(cwd);
	free(dir);
	return abs;
}

/*
 * Find, read and parse a job.  spec is a path to a job file when it holds
 * a '/' or ends in .yaml or .yml; otherwise a job name, read from
 * JOBS_DIR/NAME.yaml (or .yml) and required to declare that name.  jobs_dir
 * NULL means /etc/ftpmirror/jobs.d.  Relative paths in the job are made
 * absolute from the current directory and the file's.  password_file is
 * read.  Errors are appended to errs; returns a job the caller frees with
 * job_free, or NULL.
 */
struct job *
job_load(const char *spec, const char *jobs_dir, struct job_errors *errs)
{
	struct job	*job = NULL, *rv = NULL;
	char		*file = NULL, *buf = NULL, *anchor = NULL;
	const char	*want = NULL;
	yaml_mark_t	 vmark[K_COUNT];
	size_t		 len = 0;
	int		 e;

	if (jobs_dir == NULL)
		jobs_dir = JOB_JOBS_DIR;
	if (job_spec_is_path(spec)) {
		if ((file = strdup(spec)) == NULL)
			goto oom;
		e = read_file(file, JOB_MAX_FILE, &buf, &len);
	} else {
		if (!name_ok(spec)) {
			errs_add(errs, "%s: not a job name (letters, digits, "
			    "'.', '_', '-') nor a path to a job file", spec);
			goto out;
		}
		want = spec;
		if (asprintf(&file, "%s/%s.yaml", jobs_dir, spec) == -1) {
			file = NULL;
			goto oom;
		}
		e = read_file(file, JOB_MAX_FILE, &buf, &len);
		if (e == ENOENT) {
			free(file);
			if (asprintf(&file, "%s/%s.yml", jobs_dir, spec) ==
			    -1) {
				file = NULL;
				goto oom;
			}
			e = read_file(file, JOB_MAX_FILE, &buf, &len);
			if (e == ENOENT) {
				errs_add(errs, "no job %s in %s", spec,
				    jobs_dir);
				goto out;
			}
		}
	}
	if (e != 0) {
		read_failed(errs, "", file, e, JOB_MAX_FILE);
		goto out;
	}
	if ((anchor = load_anchor(file)) == NULL) {
		errs_add(errs, "%s: %s", file, strerror(errno));
		goto out;
	}
	if ((job = parse_job(file, anchor, want, buf, len, errs, vmark)) ==
	    NULL)
		goto out;
	if (job->password_file != NULL &&
	    read_password(job, &vmark[K_PASSWORD_FILE], errs) == -1)
		goto out;
	if (job->password_env != NULL &&
	    read_password_env(job, &vmark[K_PASSWORD_ENV], errs) == -1)
		goto out;
	/* Found missing only at the TLS handshake, it would look remote. */
	if (job->ca_file != NULL && access(job->ca_file, R_OK) == -1) {
		errs_add(errs, "%s:%zu:%zu: ca_file %s: %s", file,
		    vmark[K_CA_FILE].line + 1, vmark[K_CA_FILE].column + 1,
		    job->ca_file, strerror(errno));
		goto out;
	}
	rv = job;
	job = NULL;
	goto out;
oom:
	errs_add(errs, "%s: out of memory", spec);
out:
	job_free(job);
	free(anchor);
	free(buf);
	free(file);
	return rv;
}

static void
strings_free(struct job_strings *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Free a job and everything it owns.  NULL is a no-op. */
void
job_free(struct job *job)
{
	if (job == NULL)
		return;
	free(job->file);
	free(job->name);
	free(job->source);
	free(job->target);
	free(job->incoming);
	free(job->user);
	if (job->password != NULL) {
		/* Not left lying in freed memory. */
		explicit_bzero(job->password, strlen(job->password));
		free(job->password);
	}
	free(job->password_file);
	free(job->schedule_text);
	free(job->timezone);
	strings_free(&job->exclude);
	strings_free(&job->include);
	strings_free(&job->publish_last);
	free(job->ca_file);
	free(job->verify_command);
	free(job->metrics_file);
	free(job->password_env);
	free(job->netrc_file);
	free(job->trace_file);
	free(job);
}

/*
 * Parse a byte count: decimal digits and an optional K, M, G or T (either
 * case; powers of 1024).  Returns 0 with *out set, or -1 when text is not
 * one or does not fit in int64_t.
 */
int
job_parse_bytes(const char *text, int64_t *out)
{
	const char	*s = text;
	int64_t		 v = 0, mult = 1;

	if (s == NULL || !is_digit((unsigned char)*s))
		return -1;
	for (; is_digit((unsigned char)*s); s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	switch (*s) {
	case '\0':
		break;
	case 'K': case 'k':
		mult = (int64_t)1 << 10;
		break;
	case 'M': case 'm':
		mult = (int64_t)1 << 20;
		break;
	case 'G': case 'g':
		mult = (int64_t)1 << 30;
		break;
	case 'T': case 't':
		mult = (int64_t)1 << 40;
		break;
	default:
		return -1;
	}
	if (*s != '\0' && s[1] != '\0')
		return -1;
	if (v > INT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/*
 * A job for a bare URL (the `ls` command): the defaults of every key, the
 * URL checked exactly as a job file's source is, by parsing the job file
 * that says just that.  Returns the job, or NULL with the reasons in errs.
 */
struct job *
job_for_url(const char *url, struct job_errors *errs)
{
	char buf[JOB_MAX_VALUE + 128];
	size_t off, i;
	int n;

	n = snprintf(buf, sizeof(buf), "name: ls\ntarget: /nonexistent\n"
	    "source: \"");
	off = (size_t)n;
	/* A YAML double-quoted scalar: escape '\' and '"'; refuse controls. */
	for (i = 0; url[i] != '\0' && off + 4 < sizeof(buf); i++) {
		if ((unsigned char)url[i] < 0x20) {
			errs_add(errs, "%s: a URL may not hold control "
			    "characters", "URL");
			return NULL;
		}
		if (url[i] == '\\' || url[i] == '"')
			buf[off++] = '\\';
		buf[off++] = url[i];
	}
	if (url[i] != '\0') {
		errs_add(errs, "URL: too long");
		return NULL;
	}
	buf[off++] = '"';
	buf[off++] = '\n';
	return job_parse_buf("URL", buf, off, errs);
}
