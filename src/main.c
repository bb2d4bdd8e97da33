/*
 * main.c: the command line.  A table of subcommands, global options, and
 * the only exit() in the program.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "path.h"
#include "report.h"
#include "runner.h"
#include "state.h"
#include "sync.h"
#include "tz.h"
#include "version.h"


/*
 * No usable database or jobs directory, so nothing could run: a setup
 * error, which exits like a usage error.  1 would claim a run that
 * finished with failed files.
 */
#define EXIT_SETUP	SYNC_USAGE

/* Global options, after parsing. */
struct globals {
	const char	*db;		/* --db, or NULL for the default */
	const char	*jobs_dir;
	bool		 jobs_dir_given; /* by --jobs-dir or the environment */
	const char	*metrics_file;	/* $FTPMIRROR_METRICS_FILE */
	bool		 json;
	char		 db_buf[PATH_MAX];
};

struct cmd {
	const char	*name;
	int		(*fn)(struct globals *g, int argc, char **argv);
	const char	*args;
	const char	*help;
};

static void command_usage(const char *name);

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
on_reload_signal(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_reload_signal;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A file size limit must fail the write (EFBIG), not kill us. */
	sigaction(SIGXFSZ, &sa, NULL);
}

/*
 * The database path: --db, $FTPMIRROR_DB, /var/lib/ftpmirror/state.db for
 * root, else $XDG_STATE_HOME (or ~/.local/state)/ftpmirror/state.db.  The
 * directory is made when missing.  Returns NULL after logging why.
 */
static const char *
db_path(struct globals *g, bool create_dir)
{
	const char *env, *home;
	char dir[PATH_MAX];
	size_t n;

	if (g->db)
		return g->db;
	if ((env = getenv("FTPMIRROR_DB")) != NULL && env[0] != '\0')
		return env;
	if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/var/lib/ftpmirror");
	else if ((env = getenv("XDG_STATE_HOME")) != NULL && env[0] == '/')
		snprintf(dir, sizeof(dir), "%s/ftpmirror", env);
	else if ((home = getenv("HOME")) != NULL && home[0] == '/')
		snprintf(dir, sizeof(dir), "%s/.local/state/ftpmirror", home);
	else {
		log_err("no database: give --db or set FTPMIRROR_DB");
		return NULL;
	}
	if (create_dir && path_mkdirs(dir) == -1) {
		log_err("cannot make %s: %s", dir, strerror(errno));
		return NULL;
	}
	n = (size_t)snprintf(g->db_buf, sizeof(g->db_buf), "%s/state.db", dir);
	if (n >= sizeof(g->db_buf)) {
		log_err("database path too long");
		return NULL;
	}
	return g->db_buf;
}

static void
print_job_errors(struct job_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->v[i]);
	job_errors_free(errs);
}

static void
count_summary(void *arg, const struct job_summary *js)
{
	int *runs = arg;

	(void)js;
	(*runs)++;
}

/*
 * A job given by name to history or status must be known: by its file in
 * the jobs directory or by runs in the database (db names it).  Returns 0,
 * or -1 after saying it is neither, or that st could not be read.
 */
static int
job_name_known(const struct globals *g, struct state *st, const char *db,
    const char *name)
{
	int runs = 0;

	if (!job_file_missing(name, g->jobs_dir))
		return 0;
	if (state_summaries(st, name, count_summary, &runs) == -1)
		return -1;
	if (runs > 0)
		return 0;
	log_err("no job %s in %s and no runs of it in %s", name, g->jobs_dir,
	    db);
	return -1;
}

/*
 * Can the jobs directory be read?  One given by --jobs-dir or
 * FTPMIRROR_JOBS_DIR must be; the default may be absent (who syncs job
 * files by path has none), and *absent says so.  Returns 0, or -1 after
 * logging why it can't be used.
 */
static int
jobs_dir_check(const struct globals *g, bool *absent)
{
	DIR *d;

	*absent = false;
	if ((d = opendir(g->jobs_dir)) != NULL) {
		closedir(d);
		return 0;
	}
	if (errno == ENOENT && !g->jobs_dir_given) {
		*absent = true;
		return 0;
	}
	log_err("jobs directory %s: %s", g->jobs_dir, strerror(errno));
	return -1;
}

static int
cmd_sync(struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "metrics-file", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct sync_opts so;
	struct job_errors errs = { NULL, 0 };
	struct state *st = NULL;
	struct job *job;
	const char *db;
	int c, i, rc, worst = SYNC_OK;

	memset(&so, 0, sizeof(so));
	so.json = g->json;
	so.stop = &stop_requested;
	so.metrics_file = g->metrics_file;
	while ((c = getopt_long(argc, argv, "nj", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			so.dry = true;
			break;
		case 'm':
			so.metrics_file = optarg;
			break;
		case 'j':
			so.json = true;
			break;
		default:
			command_usage(argv[0]);
			return SYNC_USAGE;
		}
	}
	if (optind >= argc) {
		command_usage(argv[0]);
		return SYNC_USAGE;
	}
	install_signals();
	for (i = optind; i < argc && !stop_requested; i++) {
		if ((job = job_load(argv[i], g->jobs_dir, &errs)) == NULL) {
			print_job_errors(&errs);
			rc = SYNC_USAGE;
		} else if (st == NULL && ((db = db_path(g, !so.dry)) == NULL ||
		    (st = state_open(db, so.dry)) == NULL)) {
			/* Opened for the first good job: a typo makes none. */
			job_free(job);
			worst = EXIT_SETUP;
			break;
		} else {
			rc = sync_job(job, st, &so);
			job_free(job);
		}
		if (rc > worst)
			worst = rc;
	}
	state_close(st);
	return worst;
}

/* A password anyone on the machine can read is worth a warning. */
static void
warn_readable_secrets(const struct job *job)
{
	struct stat sb;

	if (job->password_inline && stat(job->file, &sb) == 0 &&
	    (sb.st_mode & S_IROTH))
		log_warn("%s: holds a password and is readable by others; "
		    "chmod o-r it, or use password_file", job->file);
	if (job->password_file && stat(job->password_file, &sb) == 0 &&
	    (sb.st_mode & S_IROTH))
		log_warn("%s: password_file %s is readable by others",
		    job->file, job->password_file);
	if (job->netrc_file && stat(job->netrc_file, &sb) == 0 &&
	    (sb.st_mode & S_IROTH))
		log_warn("%s: netrc_file %s is readable by others",
		    job->file, job->netrc_file);
}

/*
 * Options of a command that takes none: getopt still has to see them, so
 * that "--" ends them and a mistyped option is not taken for an argument.
 * Returns 0, or -1 after printing the command's usage.
 */
static int
no_options(int argc, char **argv)
{
	static const struct option opts[] = {
		{ NULL, 0, NULL, 0 }
	};

	if (getopt_long(argc, argv, "", opts, NULL) != -1) {
		command_usage(argv[0]);
		return -1;
	}
	return 0;
}

static int
cmd_check(struct globals *g, int argc, char **argv)
{
	struct job_errors errs = { NULL, 0 };
	struct job *job;
	int i, rc = 0;

	if (no_options(argc, argv) == -1)
		return SYNC_USAGE;
	if (optind >= argc) {
		command_usage(argv[0]);
		return SYNC_USAGE;
	}
	for (i = optind; i < argc; i++) {
		if ((job = job_load(argv[i], g->jobs_dir, &errs)) == NULL) {
			print_job_errors(&errs);
			rc = SYNC_USAGE;
			continue;
		}
		warn_readable_secrets(job);
		log_info("%s: job %s is valid", job->file, job->name);
		job_free(job);
	}
	return rc;
}

static int
cmd_ls(struct globals *g, int argc, char **argv)
{
	struct job_errors errs = { NULL, 0 };
	struct job *job;
	int rc;

	(void)g;
	if (no_options(argc, argv) == -1)
		return SYNC_USAGE;
	if (optind + 1 != argc) {
		command_usage(argv[0]);
		return SYNC_USAGE;
	}
	if ((job = job_for_url(argv[optind], &errs)) == NULL) {
		print_job_errors(&errs);
		return SYNC_USAGE;
	}
	install_signals();
	rc = sync_ls(job, &stop_requested);
	job_free(job);
	return rc;
}

struct history_ctx {
	bool	json;
	int	n;
};

static void
history_row(void *arg, const struct run_info *r)
{
	struct history_ctx *h = arg;

	if (h->json) {
		fputs(h->n ? ",\n  " : "\n  ", stdout);
		report_run_json(stdout, r);
	} else
		report_run_text(stdout, r);
	h->n++;
}

/*
 * The database for a command that only reads (history, status, show): as
 * a dry run opens it, in a transaction that never writes, so it takes no
 * write lock and waits for no writer (WAL), even one that holds the lock
 * for long.  One that does not exist yet is made as any command makes it
 * (and a path into a missing directory is an error, not an empty history).
 */
static struct state *
state_open_reader(const char *db)
{
	return state_open(db, access(db, F_OK) == 0);
}

static int
cmd_history(struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct history_ctx h = { g->json, 0 };
	struct job_errors errs = { NULL, 0 };
	struct job *loaded = NULL;
	struct state *st;
	const char *db, *job = NULL;
	char *end;
	long limit = 20;
	int c, rc;

	while ((c = getopt_long(argc, argv, "l:j", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			errno = 0;
			limit = strtol(optarg, &end, 10);
			if (errno || *end || limit < 1 || limit > 1000000) {
				log_err("--limit: expected a positive number");
				return SYNC_USAGE;
			}
			break;
		case 'j':
			h.json = true;
			break;
		default:
			command_usage(argv[0]);
			return SYNC_USAGE;
		}
	}
	if (optind < argc)
		job = argv[optind++];
	if (optind < argc) {
		command_usage(argv[0]);
		return SYNC_USAGE;
	}
	/* Runs are kept by job name: a job file stands for the name in it. */
	if (job != NULL && job_spec_is_path(job)) {
		if ((loaded = job_load(job, g->jobs_dir, &errs)) == NULL) {
			print_job_errors(&errs);
			return SYNC_USAGE;
		}
		job = loaded->name;
	}
	if ((db = db_path(g, true)) == NULL || (st = state_open_reader(db)) ==
	    NULL) {
		job_free(loaded);
		return EXIT_SETUP;
	}
	if (job != NULL && loaded == NULL &&
	    job_name_known(g, st, db, job) == -1) {
		state_close(st);
		return SYNC_USAGE;
	}
	if (h.json)
		fputc('[', stdout);
	rc = state_history(st, job, (int)limit, history_row, &h);
	if (h.json)
		fputs(h.n ? "\n]\n" : "]\n", stdout);
	state_close(st);
	job_free(loaded);
	return rc == -1 ? EXIT_SETUP : 0;
}

/* --max-parallel-jobs and --metrics-file, shared by due and run. */
static int
runner_args(struct globals *g, int argc, char **argv, struct runner_opts *ro)
{
	static const struct option opts[] = {
		{ "max-parallel-jobs", required_argument, NULL, 'p' },
		{ "metrics-file", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	struct state *st;
	char *end;
	long n;
	int c;

	memset(ro, 0, sizeof(*ro));
	ro->jobs_dir = g->jobs_dir;
	ro->max_parallel = 1;
	ro->metrics_file = g->metrics_file;
	ro->stop = &stop_requested;
	ro->reload = &reload_requested;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n < 1 || n > 64) {
				log_err("--max-parallel-jobs: expected 1 to 64");
				return -1;
			}
			ro->max_parallel = (int)n;
			break;
		case 'm':
			ro->metrics_file = optarg;
			break;
		default:
			command_usage(argv[0]);
			return -1;
		}
	}
	if (optind < argc) {
		command_usage(argv[0]);
		return -1;
	}
	/* Found unusable now, not by each job's run (or never, by run). */
	if ((ro->db_path = db_path(g, true)) == NULL ||
	    (st = state_open(ro->db_path, false)) == NULL)
		return -1;
	state_close(st);
	return 0;
}

static int
cmd_due(struct globals *g, int argc, char **argv)
{
	struct runner_opts ro;

	if (runner_args(g, argc, argv, &ro) == -1)
		return SYNC_USAGE;
	install_signals();
	return runner_due(&ro);
}

static int
cmd_run(struct globals *g, int argc, char **argv)
{
	struct runner_opts ro;

	if (runner_args(g, argc, argv, &ro) == -1)
		return SYNC_USAGE;
	install_signals();
	/* It fails only at start: no jobs directory, or a bad TZ. */
	if (runner_daemon(&ro) != 0)
		return EXIT_SETUP;
	return 0;
}

/* `status`: the jobs of the jobs directory, then any others in history. */
struct status_ctx {
	struct state	*st;
	bool		 json;
	int		 n;
	int64_t		 now;
	const char	*only;		/* one job's name, or NULL */
	char		**seen;		/* names shown, owned */
	size_t		 nseen;
};

struct status_one {
	struct status_ctx	*ctx;
	const struct job	*job;	/* or NULL: known from history only */
	const char		*name;
	bool			 found;
};

static void
status_print(struct status_ctx *ctx, const struct status_row *row)
{
	if (ctx->json) {
		fputs(ctx->n ? ",\n  " : "\n  ", stdout);
		report_status_json(stdout, row);
	} else {
		if (ctx->n == 0)
			report_status_header(stdout);
		report_status_text(stdout, row);
	}
	ctx->n++;
}

static void
status_summary(void *arg, const struct job_summary *js)
{
	struct status_one *one = arg;
	struct status_row row;

	row.job = js->last.job;
	row.js = js;
	row.now = one->ctx->now;
	row.next_due = one->job ? runner_next_due(one->job, js, row.now) : -1;
	status_print(one->ctx, &row);
	one->found = true;
}

static void
status_job(void *arg, const struct job *job)
{
	struct status_ctx *ctx = arg;
	struct status_one one = { ctx, job, job->name, false };
	struct status_row row;
	char **nv;

	if (ctx->only != NULL && strcmp(ctx->only, job->name) != 0)
		return;
	if ((nv = realloc(ctx->seen, (ctx->nseen + 1) * sizeof(*nv))) != NULL) {
		ctx->seen = nv;
		if ((nv[ctx->nseen] = strdup(job->name)) != NULL)
			ctx->nseen++;
	}
	state_summaries(ctx->st, job->name, status_summary, &one);
	if (!one.found) {
		row.job = job->name;
		row.js = NULL;
		row.now = ctx->now;
		row.next_due = runner_next_due(job, NULL, ctx->now);
		status_print(ctx, &row);
	}
}

static void
status_history_only(void *arg, const struct job_summary *js)
{
	struct status_one *one = arg;
	size_t i;

	if (one->ctx->only != NULL && strcmp(one->ctx->only, js->last.job) != 0)
		return;
	for (i = 0; i < one->ctx->nseen; i++)
		if (strcmp(one->ctx->seen[i], js->last.job) == 0)
			return;
	status_summary(one, js);
}

static int
cmd_status(struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct status_ctx ctx;
	struct status_one rest;
	struct job_errors errs = { NULL, 0 };
	struct job *job = NULL;
	const char *db, *spec = NULL;
	size_t i;
	bool no_jobs_dir = false, failed = false;
	int c, rc = SYNC_USAGE;

	memset(&ctx, 0, sizeof(ctx));
	ctx.json = g->json;
	ctx.now = (int64_t)time(NULL);
	tz_use_environment();
	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j') {
			command_usage(argv[0]);
			return SYNC_USAGE;
		}
		ctx.json = true;
	}
	if (optind + 1 < argc) {
		command_usage(argv[0]);
		return SYNC_USAGE;
	}
	if (optind < argc)
		spec = argv[optind];
	if ((spec == NULL || !job_spec_is_path(spec)) &&
	    jobs_dir_check(g, &no_jobs_dir) == -1)
		return EXIT_SETUP;
	if ((db = db_path(g, true)) == NULL ||
	    (ctx.st = state_open_reader(db)) == NULL)
		return EXIT_SETUP;
	/*
	 * One job: by its file (which must be valid: its schedule says when
	 * it is next due), else by name from its runs alone.
	 */
	if (spec != NULL) {
		if (job_spec_is_path(spec) ||
		    !job_file_missing(spec, g->jobs_dir)) {
			if ((job = job_load(spec, g->jobs_dir, &errs)) ==
			    NULL) {
				print_job_errors(&errs);
				goto out;
			}
		} else if (job_name_known(g, ctx.st, db, spec) == -1)
			goto out;
		else
			ctx.only = spec;
	}
	if (ctx.json)
		fputc('[', stdout);
	if (job != NULL)
		status_job(&ctx, job);
	else if (spec == NULL && !no_jobs_dir &&
	    runner_foreach_job(g->jobs_dir, status_job, &ctx) != 0)
		failed = true;	/* reported: the directory or a job file */
	if (job == NULL) {
		memset(&rest, 0, sizeof(rest));
		rest.ctx = &ctx;
		if (state_summaries(ctx.st, NULL, status_history_only, &rest) ==
		    -1)
			failed = true;
	}
	if (ctx.json)
		fputs(ctx.n ? "\n]\n" : "]\n", stdout);
	else if (ctx.n == 0 && !failed)
		log_info("no jobs in %s and no runs in %s", g->jobs_dir, db);
	rc = failed ? EXIT_SETUP : 0;
out:
	job_free(job);
	for (i = 0; i < ctx.nseen; i++)
		free(ctx.seen[i]);
	free(ctx.seen);
	state_close(ctx.st);
	return rc;
}

struct show_ctx {
	bool	json;
	int	n;
};

static void
show_event(void *arg, const struct event_info *ev)
{
	struct show_ctx *sc = arg;

	if (sc->json) {
		fputs(sc->n ? ",\n  " : "\n  ", stdout);
		report_event_json(stdout, ev);
	} else
		report_event_text(stdout, ev);
	sc->n++;
}

static int
cmd_show(struct globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	struct show_ctx sc = { g->json, 0 };
	struct job_errors errs = { NULL, 0 };
	struct job *job = NULL;
	struct state *st;
	const char *db, *name, *path;
	char *end;
	long limit = 100;
	int c, rc;

	while ((c = getopt_long(argc, argv, "jl:", opts, NULL)) != -1) {
		if (c == 'j')
			sc.json = true;
		else if (c == 'l') {
			errno = 0;
			limit = strtol(optarg, &end, 10);
			if (errno || *end || limit < 1 || limit > 1000000) {
				log_err("--limit: expected a positive number");
				return SYNC_USAGE;
			}
		} else {
			command_usage(argv[0]);
			return SYNC_USAGE;
		}
	}
	if (optind + 2 != argc) {
		command_usage(argv[0]);
		return SYNC_USAGE;
	}
	/* A job file names its job; a bare name is taken as it is. */
	name = argv[optind];
	if (strchr(name, '/') != NULL || strstr(name, ".y") != NULL) {
		if ((job = job_load(name, g->jobs_dir, &errs)) == NULL) {
			print_job_errors(&errs);
			return SYNC_USAGE;
		}
		name = job->name;
	}
	path = argv[optind + 1];
	while (*path == '/')
		path++;
	if ((db = db_path(g, true)) == NULL || (st = state_open_reader(db)) ==
	    NULL) {
		job_free(job);
		return EXIT_SETUP;
	}
	if (sc.json)
		fputc('[', stdout);
	rc = state_show(st, name, path, (int)limit, show_event, &sc);
	if (sc.json)
		fputs(sc.n ? "\n]\n" : "]\n", stdout);
	else if (sc.n == 0 && rc == 0)
		log_info("%s: no history for /%s", name, path);
	state_close(st);
	job_free(job);
	return rc == -1 ? EXIT_SETUP : 0;
}

static int cmd_help(struct globals *g, int argc, char **argv);

static const struct cmd commands[] = {
	{ "sync", cmd_sync, "[--dry-run] [--json] [--metrics-file PATH] JOB...",
	    "run these jobs now, one after another" },
	{ "check", cmd_check, "JOB...",
	    "validate job files without touching the network" },
	{ "ls", cmd_ls, "URL",
	    "list one remote directory as ftpmirror parses it" },
	{ "history", cmd_history, "[JOB] [--limit N] [--json]",
	    "past runs, newest first" },
	{ "status", cmd_status, "[JOB] [--json]",
	    "per job: last run, result, age, next due" },
	{ "show", cmd_show, "JOB PATH [--limit N] [--json]",
	    "the history of one file" },
	{ "due", cmd_due, "[--max-parallel-jobs N] [--metrics-file PATH]",
	    "run once every job that is due (for cron)" },
	{ "run", cmd_run, "[--max-parallel-jobs N] [--metrics-file PATH]",
	    "the scheduler: run jobs as they fall due" },
	{ "help", cmd_help, "", "this text" },
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out,
	    "usage: ftpmirror [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
	    "Keep a local copy of a remote FTP tree current.\n\n"
	    "global options:\n"
	    "  --db PATH        state database (default: $FTPMIRROR_DB, else\n"
	    "                   /var/lib/ftpmirror/state.db as root, else\n"
	    "                   $XDG_STATE_HOME/ftpmirror/state.db)\n"
	    "  --jobs-dir DIR   where job names are looked up (default:\n"
	    "                   $FTPMIRROR_JOBS_DIR, else /etc/ftpmirror/jobs.d)\n"
	    "  -q, --quiet      errors only\n"
	    "  -v, --verbose    one line per file and per protocol step\n"
	    "  --json           machine-readable output\n"
	    "  --version, --help\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n           %s\n", commands[i].name,
		    commands[i].args, commands[i].help);
	fprintf(out, "\nexit status: 0 ok, 1 some files failed, 2 usage, "
	    "job-file or setup error,\n3 job already running, 4 remote "
	    "unusable, 5 stopped by a safety limit\n");
}

/*
 * After a mistake on a command's line (getopt has said what it was): the
 * command's usage on the standard error, or the general one for a name
 * that is no command.
 */
static void
command_usage(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0) {
			fprintf(stderr, "usage: ftpmirror [GLOBAL OPTIONS] %s "
			    "%s\n", commands[i].name, commands[i].args);
			return;
		}
	usage(stderr);
}

static int
cmd_help(struct globals *g, int argc, char **argv)
{
	(void)g;
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "jobs-dir", required_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct globals g;
	enum log_level level = LOG_LEVEL_INFO;
	const char *env;
	size_t i;
	int c;

	memset(&g, 0, sizeof(g));
	g.jobs_dir = "/etc/ftpmirror/jobs.d";
	if ((env = getenv("FTPMIRROR_JOBS_DIR")) != NULL && env[0] != '\0') {
		g.jobs_dir = env;
		g.jobs_dir_given = true;
	}
	if ((env = getenv("FTPMIRROR_METRICS_FILE")) != NULL && env[0] != '\0')
		g.metrics_file = env;
	/* "+": global options end at the command's name. */
	while ((c = getopt_long(argc, argv, "+qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			g.db = optarg;
			break;
		case 'J':
			g.jobs_dir = optarg;
			g.jobs_dir_given = true;
			break;
		case 'q':
			level = LOG_LEVEL_ERR;
			break;
		case 'v':
			level = LOG_LEVEL_DEBUG;
			break;
		case 'j':
			g.json = true;
			break;
		case 'V':
			printf("ftpmirror %s\n", FTPMIRROR_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(SYNC_USAGE);
		}
	}
	log_init(level);
	if (optind >= argc) {
		usage(stderr);
		exit(SYNC_USAGE);
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argc -= optind;
			argv += optind;
			if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
			    strcmp(argv[1], "-h") == 0)) {
				printf("usage: ftpmirror %s %s\n%s\n",
				    commands[i].name, commands[i].args,
				    commands[i].help);
				exit(0);
			}
			/*
			 * 0 makes glibc start afresh: argv[0] is the
			 * command, and options may follow its arguments.
			 */
			optind = 0;
			exit(commands[i].fn(&g, argc, argv));
		}
	}
	log_err("unknown command %s (see ftpmirror --help)", argv[optind]);
	exit(SYNC_USAGE);
}
