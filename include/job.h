/*
 * job.h: a job file (YAML) turned into a validated struct job.
 * job_parse_buf() is pure (bytes in, job or errors out); job_load() reads
 * the file and resolves a job name against the jobs directory.
 */
#ifndef FTPMIRROR_JOB_H
#define FTPMIRROR_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schedule.h"

enum job_listing { JOB_LISTING_AUTO, JOB_LISTING_MLSD, JOB_LISTING_LIST };
enum job_symlinks { JOB_SYMLINKS_KEEP, JOB_SYMLINKS_FOLLOW, JOB_SYMLINKS_SKIP };
enum job_tls { JOB_TLS_OFF, JOB_TLS_REQUIRED };
enum job_publish { JOB_PUBLISH_STAGED, JOB_PUBLISH_SNAPSHOT };
enum job_remote_hash { JOB_REMOTE_HASH_AUTO, JOB_REMOTE_HASH_OFF };

/* A list of strings from a YAML sequence. */
struct job_strings {
	char	**v;		/* owned, each owned */
	size_t	  n;
};

struct job {
	char		*file;		/* the job file's path as given */
	char		*name;		/* letters, digits, '.', '_', '-' */
	char		*source;	/* ftp:// or ftps:// URL, ends in '/' */
	char		*target;	/* absolute path of the public tree */
	char		*incoming;	/* absolute path of the staging area */
	char		*user;		/* default "anonymous" */
	char		*password;	/* from the file, password_file, or the
					   anonymous default, else ""; never
					   NULL, never logged */
	char		*password_file;	/* resolved like target, or NULL */
	bool		 password_inline; /* a real account's password is
					   written in the job file itself */
	char		*password_env;	/* environment variable holding the
					   password, or NULL */
	char		*netrc_file;	/* a netrc file for login and
					   password (libcurl reads it), or NULL */
	char		*schedule_text;	/* as given, or NULL */
	struct schedule	 schedule;
	int		 connections;	/* 1..64, default 4 */
	bool		 passive;	/* default true */
	bool		 pipelining;	/* our own FTP engine where it can
					   serve; default true */
	enum job_listing listing;
	char		*timezone;	/* IANA name, default "UTC" */
	struct job_strings exclude;
	struct job_strings include;
	bool		 delete;	/* default true */
	int64_t		 max_delete_count; /* -1 when given as a share */
	double		 max_delete_share; /* 0..1, used when count is -1 */
	enum job_symlinks symlinks;
	int		 retries;	/* default 3 */
	int		 timeout;	/* seconds, default 60 */
	int64_t		 bandwidth;	/* bytes per second, 0 = none */
	int		 max_depth;	/* 0 = unlimited */
	int		 jitter;	/* seconds */
	enum job_tls	 tls;
	char		*ca_file;	/* or NULL */
	enum job_publish publish;
	struct job_strings publish_last;
	int		 keep_snapshots; /* default 2 */
	bool		 verify_manifests;
	enum job_remote_hash verify_remote_hash;
	char		*verify_command; /* or NULL */
	int		 verify_timeout; /* seconds verify_command may run */
	int		 history_days;	/* events older are pruned; 0 keeps all */
	char		*metrics_file;	/* Prometheus textfile, or NULL */
	char		*trace_file;	/* or NULL: TARGET/.ftpmirror/trace */
	bool		 fsync;		/* staged data synced before publish;
					   default true */
};

/* Error messages collected while parsing, each "FILE:LINE:COLUMN: what". */
struct job_errors {
	char	**v;		/* owned */
	size_t	  n;
};

void job_errors_free(struct job_errors *errs);

/*
 * Parse a job file's text.  file names it in messages and anchors relative
 * paths (target, incoming, password_file, ca_file are taken relative to the
 * file's directory).  Every error found is appended to errs; the job is
 * returned only when there were none (caller frees with job_free), else
 * NULL.  password_file is not read here (see job_load).
 */
struct job *job_parse_buf(const char *file, const char *buf, size_t len,
    struct job_errors *errs);

/*
 * Find and parse a job: spec is a path to a file (it contains '/' or ends
 * in .yaml/.yml) or a job name looked up as JOBS_DIR/NAME.yaml.  Reads
 * password_file.  Returns the job, or NULL with the reasons in errs.
 */
struct job *job_load(const char *spec, const char *jobs_dir,
    struct job_errors *errs);

/* Does spec name a job file rather than a job (job_load's rule)? */
bool job_spec_is_path(const char *spec);

/*
 * Is there no file for the job called name in jobs_dir, neither NAME.yaml
 * nor NAME.yml?  Anything else (even a file that can't be read) is for
 * job_load to report.
 */
bool job_file_missing(const char *name, const char *jobs_dir);

/*
 * A job with every default for a bare ftp:// URL (for `ls`), the URL
 * checked as a source is.  Returns it, or NULL with the reasons in errs.
 */
struct job *job_for_url(const char *url, struct job_errors *errs);

void job_free(struct job *job);

/*
 * Parse a byte count with an optional K, M, G or T suffix (powers of 1024),
 * e.g. "10M".  Returns 0, or -1 when text is not one.
 */
int job_parse_bytes(const char *text, int64_t *out);

#endif
