/*
 * crawl.c: listing policy.  The probe asks FEAT once and picks MLSD or
 * LIST; then directories are listed as connections come free, each
 * listing streamed through the parser straight into the scan table, so a
 * huge directory costs one line of memory, not the whole listing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crawl.h"
#include "fetch.h"
#include "filter.h"
#include "job.h"
#include "log.h"
#include "path.h"
#include "plan.h"
#include "tz.h"
#include "xfer.h"

/* A FEAT reply is a few hundred bytes; more than this is not one. */
#define FEAT_MAX	16384

struct probe {
	char	 buf[FEAT_MAX];
	size_t	 len;
	bool	 in_feat;	/* the 211 reply has started */
	bool	 done;
	struct xfer_result result;
	char	 error[256];
};

static void
probe_on_reply(void *arg, const char *line, size_t len)
{
	struct probe *p = arg;

	if (!p->in_feat && len >= 3 && strncmp(line, "211", 3) == 0)
		p->in_feat = true;
	if (!p->in_feat || p->len + len >= sizeof(p->buf))
		return;
	memcpy(p->buf + p->len, line, len);
	p->len += len;
}

static void
probe_on_done(void *arg, const struct xfer_result *res)
{
	struct probe *p = arg;

	p->result = *res;
	snprintf(p->error, sizeof(p->error), "%s", res->error);
	p->result.error = p->error;
	p->done = true;
}

/*
 * Drive the engine until *done (set by a request's on_done), a stop or a
 * failure.  What is still in flight then is aborted here, so that its
 * on_done runs while the caller's state lives.  Returns 0, or -1 when the
 * engine failed.
 */
static int
crawl_wait(struct run *r, const bool *done)
{
	bool failed = false;

	while (!*done && !*r->stop && !failed)
		failed = xfer_pump(r->xfer, 250) == -1;
	if (!*done || failed)
		xfer_abort(r->xfer);
	return failed ? -1 : 0;
}

/* Connect, log in, ask FEAT; choose the listing format. */
int
crawl_probe(struct run *r)
{
	struct probe *p;
	struct xfer_req req;
	int rc = -1;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.url = r->job->source;
	req.quote = "FEAT";
	req.nobody = true;
	req.on_reply = probe_on_reply;
	req.on_done = probe_on_done;
	req.arg = p;
	if (xfer_start(r->xfer, &req) == -1)
		goto out;
	if (crawl_wait(r, &p->done) == -1 || !p->done)
		goto out;
	/* A server that rejects FEAT simply has no extensions. */
	if (p->result.code != 0 && !p->result.quote_rejected) {
		r->remote_unusable = true;
		run_error(r, "", "cannot use %s: %s", r->job->source,
		    p->result.error);
		goto out;
	}
	listing_parse_feat(p->buf, p->len, &r->feat);
	switch (r->job->listing) {
	case JOB_LISTING_MLSD:
		r->format = LISTING_MLSD;
		break;
	case JOB_LISTING_LIST:
		r->format = LISTING_LIST;
		break;
	default:
		r->format = r->feat.mlsd ? LISTING_MLSD : LISTING_LIST;
		break;
	}
	log_debug("%s: server offers%s%s%s%s; listing with %s", r->job->name,
	    r->feat.mlsd ? " MLSD" : "", r->feat.mdtm ? " MDTM" : "",
	    r->feat.size ? " SIZE" : "", r->feat.rest_stream ? " REST" : "",
	    r->format == LISTING_MLSD ? "MLSD" : "LIST");
	rc = 0;
out:
	free(p);
	return rc;
}

static void
warm_on_done(void *arg, const struct xfer_result *res)
{
	(void)arg;
	if (res->code != 0)
		log_debug("warming up a connection: %s", res->error);
}

/*
 * Log in on every slot but one, all at once, while the probe runs on the
 * last: when the root's listing brings work for every connection, each
 * is ready, instead of each logging in then, one after another.
 */
void
crawl_warm_up(struct run *r)
{
	struct xfer_req req;

	memset(&req, 0, sizeof(req));
	req.url = r->job->source;
	req.nobody = true;
	req.on_done = warm_on_done;
	while (xfer_idle(r->xfer) > 1)
		if (xfer_start(r->xfer, &req) == -1)
			break;
}

/* Queue the source's root directory. */
int
crawl_add_root(struct run *r)
{
	struct scan_row row;

	memset(&row, 0, sizeof(row));
	row.type = 'd';
	row.size = -1;
	row.state = SCAN_DIR_PENDING;
	row.action = SCAN_ACTION_NONE;
	row.verified_at = -1;
	return state_scan_add(r->state, r->job->name, "", "", NULL, NULL,
	    &row) == -1 ? -1 : 0;
}

/* One directory listing in flight. */
struct crawl_list {
	struct run		*r;
	struct scan_row		 dir;		/* the directory, owned */
	struct listing_parser	*parser;
	int			 local_fd;	/* dir in target, or -1 */
	char			*url;
	int			 db_failed;	/* a store failed: fail the run */
	bool			 print;		/* `ls`: print entries, store nothing */
	bool			*done;		/* `ls`: set when the listing ends */
};

/* A name made printable for messages: other bytes become \xNN. */
static void
crawl_printable(const char *name, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
}

/* What target holds at name inside the listed directory. */
static void
crawl_local(struct crawl_list *cl, const char *name, struct plan_local *loc,
    char *link, size_t linksize)
{
	struct stat sb;
	ssize_t n;

	memset(loc, 0, sizeof(*loc));
	if (cl->local_fd == -1 ||
	    fstatat(cl->local_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return;
	loc->size = (int64_t)sb.st_size;
	loc->mtime = (int64_t)sb.st_mtime;
	if (S_ISREG(sb.st_mode))
		loc->type = 'f';
	else if (S_ISDIR(sb.st_mode))
		loc->type = 'd';
	else if (S_ISLNK(sb.st_mode)) {
		loc->type = 'l';
		n = readlinkat(cl->local_fd, name, link, linksize - 1);
		if (n >= 0) {
			link[n] = '\0';
			loc->link_target = link;
		}
	} else
		loc->type = 'o';
}

/* Does incoming still hold the whole staged file? */
static bool
crawl_staged_intact(struct run *r, const struct staged_row *srow)
{
	struct stat sb;
	char name[32];

	if (r->incoming_fd == -1)
		return false;
	fetch_staged_name(srow->id, name, sizeof(name));
	return fstatat(r->incoming_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode) && (int64_t)sb.st_size == srow->size;
}

/* What becomes of a symbolic link in the listing. */
enum crawl_link {
	CRAWL_LINK_SKIP,	/* not mirrored (an event says why) */
	CRAWL_LINK_KEEP,	/* recreated as a link */
	CRAWL_LINK_FOLLOW	/* mirrored as what it points to */
};

/* Decide for a link entry by the job's symlinks policy. */
static enum crawl_link
crawl_link_policy(struct crawl_list *cl, const char *path,
    const struct entry *e)
{
	struct run *r = cl->r;

	switch (r->job->symlinks) {
	case JOB_SYMLINKS_SKIP:
		return CRAWL_LINK_SKIP;
	case JOB_SYMLINKS_FOLLOW:
		return CRAWL_LINK_FOLLOW;
	default:
		break;
	}
	if (e->link_target == NULL) {
		run_event(r, path, "skip", -1,
		    "symbolic link whose target the listing does not give");
		return CRAWL_LINK_SKIP;
	}
	if (!path_link_inside(path, e->link_target)) {
		run_event(r, path, "skip", -1,
		    "symbolic link pointing outside the mirror");
		return CRAWL_LINK_SKIP;
	}
	return CRAWL_LINK_KEEP;
}

/* Is ancestor "" or a directory on the way to path (or path itself)? */
static bool
crawl_is_ancestor(const char *ancestor, const char *path)
{
	size_t n = strlen(ancestor);

	return n == 0 || (strncmp(ancestor, path, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/'));
}

/*
 * Would walking the directory at path (an entry of the listed directory)
 * go round in a loop?  A followed link that leads to one of its own
 * ancestors does; so does a directory whose MLSD "unique" fact is that of
 * a directory above it (servers that follow links themselves).  Without a
 * max_depth, a walk deeper than CRAWL_MAX_DEPTH is taken as one too, from
 * servers that give no unique fact; that is an error, as the tree may
 * just be that deep.  Records why.
 */
#define CRAWL_MAX_DEPTH	64

static bool
crawl_dir_loops(struct crawl_list *cl, const char *path, int depth,
    const struct entry *e, bool followed)
{
	struct run *r = cl->r;
	char *dest = NULL, *up = NULL, *unique = NULL;
	bool loop = false;
	size_t n;

	if (r->job->max_depth == 0 && depth > CRAWL_MAX_DEPTH) {
		run_event(r, path, "error", -1, "deeper than 64 directories: "
		    "taken as a loop and not walked (max_depth walks deeper)");
		log_warn("%s: /%s is deeper than 64 directories: taken as a "
		    "loop and not walked; set max_depth to walk deeper trees",
		    r->job->name, path);
		r->counts.errors++;
		r->incomplete++;
		return true;
	}
	if (followed && e->link_target != NULL &&
	    (dest = path_link_resolve(path, e->link_target)) != NULL &&
	    crawl_is_ancestor(dest, path)) {
		run_event(r, path, "skip", -1,
		    "symbolic link to a directory above it (a loop)");
		loop = true;
		goto out;
	}
	if (e->unique == NULL || (up = strdup(cl->dir.path)) == NULL)
		goto out;
	/* The listed directory, then each one above it. */
	for (n = strlen(up); !loop; n = path_dirlen(up)) {
		up[n] = '\0';
		if (state_scan_unique(r->state, r->job->name, up, &unique) == 1 &&
		    strcmp(unique, e->unique) == 0) {
			run_event(r, path, "skip", -1, "the same directory as "
			    "one above it (a loop)");
			loop = true;
		}
		free(unique);
		unique = NULL;
		if (n == 0)
			break;
	}
out:
	free(dest);
	free(up);
	return loop;
}

/*
 * Is path (below source) where this job writes its trace: by default the
 * directory .ftpmirror, else trace_file where it lies inside target?  A
 * mirror of an ftpmirror mirror meets its upstream's trace there, which is
 * left out: each run would fetch it, then write ours over it.
 */
static bool
crawl_is_own_trace(const struct job *job, const char *path)
{
	size_t n;

	if (job->trace_file == NULL)
		return strcmp(path, ".ftpmirror") == 0;
	n = strlen(job->target);
	return strncmp(job->trace_file, job->target, n) == 0 &&
	    job->trace_file[n] == '/' && strcmp(job->trace_file + n + 1,
	    path) == 0;
}

/* `ls`: one entry as the parser read it. */
static void
crawl_print_entry(const struct entry *e)
{
	static const char *const type[] = { "file", "dir", "link", "other",
	    "self" };
	static const char *const prec[] = { "none", "day", "minute",
	    "second" };
	char when[32], name[1024], target[1024], size[32];
	int64_t t = e->mtime_local ? tz_wall_to_utc(e->mtime) : e->mtime;

	if (e->mtime_prec == MTIME_NONE)
		snprintf(when, sizeof(when), "-");
	else if (e->mtime_prec == MTIME_DAY) {
		/* A day is the server's calendar day: shown as listed. */
		state_iso_time(e->mtime, when, sizeof(when));
		when[10] = '\0';
	} else {
		state_iso_time(t, when, sizeof(when));
		if (e->mtime_prec == MTIME_MINUTE)
			snprintf(when + 16, sizeof(when) - 16, "Z");
	}
	if (e->size >= 0)
		snprintf(size, sizeof(size), "%lld", (long long)e->size);
	else
		snprintf(size, sizeof(size), "-");
	crawl_printable(e->name, e->name_len, name, sizeof(name));
	if (e->link_target)
		crawl_printable(e->link_target, strlen(e->link_target), target,
		    sizeof(target));
	printf("%-5s %12s  %-20s %-6s  %s%s%s\n", type[e->type], size, when,
	    prec[e->mtime_prec], name, e->link_target ? " -> " : "",
	    e->link_target ? target : "");
}

/* One entry of a listing: check, filter, plan, store. */
static void
crawl_on_entry(void *arg, const struct entry *e)
{
	struct crawl_list *cl = arg;
	struct run *r = cl->r;
	const struct job *job = r->job;
	struct plan_remote rem;
	struct plan_local loc;
	struct plan_staged stg;
	struct plan_known known, *knownp = NULL;
	struct plan_decision d;
	struct files_row frow;
	enum crawl_link link_policy = CRAWL_LINK_KEEP;
	bool followed;
	struct staged_row srow;
	struct scan_row row;
	const char *why;
	char *path = NULL;
	char link[4096], shown[1024];
	int found;

	if (cl->print) {
		crawl_print_entry(e);
		return;
	}
	if (cl->db_failed || e->type == ENTRY_OTHER)
		return;
	if (e->type == ENTRY_SELF) {
		/* The directory's own identity, for loop detection below. */
		if (e->unique != NULL && state_scan_set_unique(r->state,
		    cl->dir.id, e->unique) == -1)
			cl->db_failed = 1;
		return;
	}
	if ((why = path_check_name(e->name, e->name_len)) != NULL) {
		crawl_printable(e->name, e->name_len, shown, sizeof(shown));
		if ((path = path_join(cl->dir.path, shown)) != NULL)
			run_event(r, path, "error", -1, why);
		r->counts.errors++;
		r->incomplete++;
		log_warn("%s: refused remote name \"%s\" in /%s: %s",
		    job->name, shown, cl->dir.path, why);
		goto out;
	}
	if ((path = path_join(cl->dir.path, e->name)) == NULL)
		goto oom;
	if (crawl_is_own_trace(job, path)) {
		log_debug("%s: /%s left out: this job writes its trace there",
		    job->name, path);
		goto out;
	}
	if (!filter_wanted(job->exclude.v, job->exclude.n, job->include.v,
	    job->include.n, path, e->type == ENTRY_DIR))
		goto out;
	if (e->type == ENTRY_LINK) {
		link_policy = crawl_link_policy(cl, path, e);
		if (link_policy == CRAWL_LINK_SKIP)
			goto out;
	}
	/*
	 * A followed link is first taken for a directory: listing it tells,
	 * and one that can't be listed is then fetched as a file.
	 */
	followed = link_policy == CRAWL_LINK_FOLLOW;
	if ((e->type == ENTRY_DIR || followed) &&
	    crawl_dir_loops(cl, path, cl->dir.depth + 1, e, followed))
		goto out;

	memset(&rem, 0, sizeof(rem));
	rem.type = e->type == ENTRY_DIR || followed ? 'd' :
	    e->type == ENTRY_LINK ? 'l' : 'f';
	rem.size = e->size;
	rem.mtime = e->mtime_local ? tz_wall_to_utc(e->mtime) : e->mtime;
	rem.mtime_prec = (int)e->mtime_prec;
	rem.link_target = e->link_target;
	crawl_local(cl, e->name, &loc, link, sizeof(link));
	if (e->year_guessed && rem.type == 'f' && loc.type == 'f')
		rem.mtime = plan_listed_year(rem.mtime, loc.mtime);
	if (rem.mtime_prec != MTIME_NONE)
		rem.mtime = run_local_time(r, rem.mtime);

	memset(&stg, 0, sizeof(stg));
	/* Only files staged by earlier runs matter here. */
	if (rem.type == 'f' && r->staged_before) {
		found = state_staged_get(r->state, job->name, path, &srow);
		if (found == -1)
			goto dbfail;
		if (found == 1) {
			stg.exists = true;
			stg.complete = srow.complete &&
			    crawl_staged_intact(r, &srow);
			stg.size = srow.size;
			stg.mtime = srow.mtime;
		}
	}
	/*
	 * A LIST time is a minute or a day: whether a same-size file is
	 * unchanged may take what the database knows, and MDTM.
	 */
	if (rem.type == 'f' && r->feat.mdtm && rem.mtime_prec != MTIME_SECOND &&
	    rem.mtime_prec != MTIME_NONE) {
		memset(&known, 0, sizeof(known));
		found = state_files_get(r->state, job->name, path, &frow);
		if (found == -1)
			goto dbfail;
		if (found == 1) {
			known.exists = true;
			known.size = frow.size;
			known.mtime = frow.mtime;
			known.mtime_prec = frow.mtime_prec;
			known.verified_at = frow.verified_at;
			known.recheck = frow.recheck;
		}
		knownp = &known;
	}
	d = plan_entry(&rem, &loc, &stg, knownp);
	memset(&row, 0, sizeof(row));
	row.depth = cl->dir.depth + 1;
	row.type = rem.type;
	row.size = rem.type == 'f' ? e->size : -1;
	row.mtime = rem.mtime;
	row.mtime_prec = rem.mtime_prec;
	row.verified_at = rem.mtime_prec == MTIME_SECOND ?
	    (int64_t)time(NULL) : -1;
	if (d.exact) {
		/* The database's exact time stands for the listed minute. */
		row.mtime = known.mtime;
		row.mtime_prec = MTIME_SECOND;
		row.verified_at = known.verified_at;
	}
	row.state = d.state;
	row.action = d.action;
	/* max_depth: a directory that deep is mirrored but not walked. */
	if (d.state == SCAN_DIR_PENDING && job->max_depth > 0 &&
	    row.depth >= job->max_depth)
		row.state = SCAN_DIR_UNLISTED;
	if (row.state == SCAN_FILE_FETCH) {
		r->progress.files_total++;
		r->progress.bytes_total += row.size > 0 ? row.size : 0;
	}
	switch (state_scan_add(r->state, job->name, cl->dir.path, path,
	    e->link_target, e->unique, &row)) {
	case -1:
		goto dbfail;
	case 1:
		log_warn("%s: /%s listed twice in /%s; the first is kept",
		    job->name, path, cl->dir.path);
		break;
	default:
		log_debug("%s: listed /%s%s", job->name, path,
		    d.state == SCAN_FILE_FETCH ? " (to fetch)" : "");
		break;
	}
	goto out;
oom:
	log_err("out of memory");
dbfail:
	cl->db_failed = 1;
out:
	free(path);
}

/* A listing line that could not be parsed: recorded, skipped. */
static void
crawl_on_bad(void *arg, const char *line, size_t len)
{
	struct crawl_list *cl = arg;
	char shown[512];

	crawl_printable(line, len > 200 ? 200 : len, shown, sizeof(shown));
	log_warn("%s: cannot parse a line listing /%s: %s", cl->r->job->name,
	    cl->dir.path, shown);
	if (cl->print)
		return;
	run_event(cl->r, cl->dir.path, "error", -1, shown);
	cl->r->counts.errors++;
	cl->r->incomplete++;
}

static int
crawl_on_data(void *arg, const char *buf, size_t len)
{
	struct crawl_list *cl = arg;

	listing_parser_feed(cl->parser, buf, len);
	return cl->db_failed ? -1 : 0;
}

static void
crawl_list_free(struct crawl_list *cl)
{
	if (cl == NULL)
		return;
	listing_parser_free(cl->parser);
	if (cl->local_fd != -1)
		close(cl->local_fd);
	state_scan_row_clear(&cl->dir);
	free(cl->url);
	free(cl);
}

/* A listing ended: mark the directory, or retry, or give up on it. */
static void
crawl_on_done(void *arg, const struct xfer_result *got)
{
	struct crawl_list *cl = arg;
	struct xfer_result refused = *got, *res = &refused;
	struct run *r = cl->r;
	const char *shown = cl->dir.path[0] ? cl->dir.path : "(root)";
	/* A listing the engine broke (xfer_result.retry_free) is free. */
	int tries = cl->dir.tries + (got->retry_free ? 0 : 1);
	enum scan_state next;
	int64_t not_before = 0;

	/*
	 * libcurl takes a 4xx to LIST/MLSD for "no files" and reports
	 * success; an empty directory is answered 226.  A refusal must not
	 * pass for an empty listing, or everything below would "vanish".
	 */
	if (got->code == 0 && got->reply >= 400) {
		refused.code = -1;
		refused.transient = got->reply < 500;
		refused.error = got->reply < 500 ? "the server refused the "
		    "listing for now (4xx)" : "the server refused the listing";
	}
	if (cl->print) {
		if (res->code == 0)
			listing_parser_finish(cl->parser);
		else {
			r->remote_unusable = true;
			log_err("cannot list %s: %s", cl->url, res->error);
		}
		*cl->done = true;
		crawl_list_free(cl);
		return;
	}
	if (res->code == 0) {
		listing_parser_finish(cl->parser);
		/* An unreadable line may have been a file: delete nothing here. */
		next = listing_parser_bad(cl->parser) > 0 ?
		    SCAN_DIR_INCOMPLETE : SCAN_DIR_DONE;
		log_debug("%s: listed /%s: %zu entries", r->job->name,
		    cl->dir.path, listing_parser_entries(cl->parser));
	} else if (*r->stop) {
		next = SCAN_DIR_PENDING;
	} else if (res->transient && tries <= r->job->retries) {
		next = SCAN_DIR_PENDING;
		not_before = run_retry_at(tries);
		log_warn("%s: listing /%s failed (%s); retrying",
		    r->job->name, cl->dir.path, res->error);
		run_event(r, shown, "retry", -1, res->error);
	} else if (cl->dir.link_target != NULL && res->reply >= 500) {
		/*
		 * A followed link the server won't list leads to a file:
		 * MDTM against target's copy decides whether to fetch it.
		 */
		log_debug("%s: /%s is a link to a file", r->job->name,
		    cl->dir.path);
		if (state_scan_set_type(r->state, cl->dir.id, 'f',
		    SCAN_FILE_CHECK) == -1)
			r->failed++;
		crawl_list_free(cl);
		return;
	} else {
		next = SCAN_DIR_FAILED;
		r->failed++;
		if (cl->dir.path[0] == '\0')
			r->remote_unusable = true;
		run_error(r, shown, "cannot list /%s: %s", cl->dir.path,
		    res->error);
	}
	if (cl->db_failed || state_scan_set(r->state, cl->dir.id, next, tries,
	    not_before) == -1) {
		r->failed++;
		run_error(r, shown, "cannot record the listing of /%s",
		    cl->dir.path);
	}
	crawl_list_free(cl);
}

/*
 * Make cl's parser and start its listing on a free slot.  Returns 0, or
 * -1 (cl is left for the caller to free).
 */
/*
 * LIST's argument may be taken for globs or split at blanks: such a
 * directory is listed by CWD to it instead, its URL ending "/./" so that
 * no server trims a trailing blank off the CWD.  Returns 0, or -1 out of
 * memory.
 */
static int
crawl_list_cwd_first(struct crawl_list *cl, bool *cwd_first)
{
	char *path, *url;
	bool needed;

	if ((path = path_url_path(cl->url)) == NULL)
		return 0;
	needed = path_list_needs_cwd(path);
	free(path);
	if (!needed)
		return 0;
	if (asprintf(&url, "%s./", cl->url) == -1)
		return -1;
	free(cl->url);
	cl->url = url;
	*cwd_first = true;
	return 0;
}

static int
crawl_list_start(struct crawl_list *cl)
{
	struct run *r = cl->r;
	struct xfer_req req;

	cl->parser = listing_parser_new(r->format,
	    tz_utc_to_wall((int64_t)time(NULL)), crawl_on_entry, crawl_on_bad,
	    cl);
	if (cl->url == NULL || cl->parser == NULL) {
		log_err("out of memory");
		return -1;
	}
	memset(&req, 0, sizeof(req));
	if (r->format == LISTING_LIST && crawl_list_cwd_first(cl,
	    &req.cwd_first) == -1) {
		log_err("out of memory");
		return -1;
	}
	req.url = cl->url;
	req.list_cmd = r->format == LISTING_MLSD ? "MLSD" : "LIST";
	req.on_data = crawl_on_data;
	req.on_done = crawl_on_done;
	req.arg = cl;
	if (xfer_start(r->xfer, &req) == -1)
		return -1;
	log_debug("%s: listing /%s", r->job->name, cl->dir.path);
	return 0;
}

/* Start listing the next waiting directory. */
int
crawl_start_next(struct run *r)
{
	struct crawl_list *cl;
	int found;

	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	cl->r = r;
	cl->local_fd = -1;
	found = state_scan_claim(r->state, SCAN_DIR_PENDING, run_now_ms(),
	    &cl->dir);
	if (found != 1) {
		free(cl);
		return found;
	}
	cl->url = path_url(r->job->source, cl->dir.path, true);
	if (r->target_fd != -1)
		cl->local_fd = path_open_dir(r->target_fd, cl->dir.path, false);
	if (crawl_list_start(cl) == -1)
		goto fail;
	return 1;
fail:
	crawl_list_free(cl);
	return -1;
}

/* List the source's root and print each entry (`ls`). */
int
crawl_ls(struct run *r)
{
	struct crawl_list *cl;
	bool done = false;

	if ((cl = calloc(1, sizeof(*cl))) == NULL ||
	    (cl->dir.path = strdup("")) == NULL) {
		log_err("out of memory");
		crawl_list_free(cl);
		return -1;
	}
	cl->r = r;
	cl->local_fd = -1;
	cl->print = true;
	cl->done = &done;
	cl->url = path_url(r->job->source, "", true);
	if (crawl_list_start(cl) == -1) {
		crawl_list_free(cl);
		return -1;
	}
	return crawl_wait(r, &done) == -1 || r->remote_unusable ? -1 : 0;
}
