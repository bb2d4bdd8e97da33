/*
 * xfer.h: the transfer engine.  It owns a fixed number of slots (one per
 * allowed control connection), served by our own pipelining FTP
 * connections (ftpconn.h) where the job allows, else by libcurl's multi
 * handle.  Callers start requests on free slots and pump the engine; the
 * control connections stay open and are reused across requests, so each
 * logs in once.  The engine knows nothing of listings, files or policy.
 */
#ifndef FTPMIRROR_XFER_H
#define FTPMIRROR_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How to reach the server; the strings are copied. */
struct xfer_opts {
	const char	*user;
	const char	*password;
	bool		 passive;	/* EPSV then PASV; false: EPRT/PORT */
	bool		 tls_required;	/* AUTH TLS on ftp:// */
	const char	*ca_file;	/* or NULL for the system store */
	const char	*netrc_file;	/* login and password from it, or NULL */
	int		 timeout;	/* seconds without progress */
	int64_t		 max_recv_speed; /* bytes/s, all transfers together;
					   0 = none */
	int		 connections;	/* slots and control connections */
	const char	*url;		/* the job's source, for the QUIT
					   requests; NULL: libcurl logs out
					   at cleanup, one by one */
	bool		 pipelining;	/* our own FTP engine where it can
					   serve (ftpconn.h), else libcurl */
};

/* How a request ended. */
struct xfer_result {
	int		 code;		/* CURLcode, 0 = success */
	long		 reply;		/* last FTP reply code, 0 if none */
	const char	*error;		/* human-readable, never NULL */
	int64_t		 bytes;		/* body bytes received */
	int64_t		 filetime;	/* MDTM result, -1 unknown */
	bool		 transient;	/* worth retrying */
	bool		 quote_rejected; /* the server refused req.quote */
	bool		 file_refused;	/* a 5xx to RETR (or LIST): this file,
					   not the session, is the problem */
	bool		 retry_free;	/* the engine broke it (a server that
					   mishandles pipelining), after some
					   data: retry without spending a try */
};

/* What to do.  Pointers are borrowed until on_done has run. */
struct xfer_req {
	const char	*url;
	const char	*list_cmd;	/* "MLSD"/"LIST" for a directory, or NULL */
	bool		 cwd_first;	/* CWD to the directory, then list it
					   without an argument */
	const char	*quote;		/* a command ("FEAT", "MDTM path"), sent
					   after any CWD back to the login
					   directory */
	bool		 nobody;	/* transfer nothing (with quote) */
	int64_t		 resume_from;	/* REST offset, 0 = none */
	bool		 size_known;	/* skip libcurl's SIZE before RETR */
	int64_t		 expect;	/* body bytes due, 0 if not known */
	bool		 want_filetime;	/* ask MDTM */
	/* Body bytes; return 0, or -1 to abort the transfer. */
	int		(*on_data)(void *arg, const char *buf, size_t len);
	/* Each reply line from the server (optional). */
	void		(*on_reply)(void *arg, const char *line, size_t len);
	/*
	 * Called once, from xfer_report (or xfer_pump) or xfer_abort; from
	 * xfer_drive only if the callers skipped xfer_report (its queue is
	 * full then).
	 */
	void		(*on_done)(void *arg, const struct xfer_result *r);
	void		*arg;
};

struct xfer;

/* Create the engine.  Returns NULL after logging why. */
struct xfer *xfer_new(const struct xfer_opts *o);

/* Close connections and free.  NULL is a no-op. */
void xfer_free(struct xfer *x);

/*
 * Nothing more to transfer: log out of the connections in the background
 * (requests in flight are aborted first).  Only xfer_free may follow.
 */
void xfer_hang_up(struct xfer *x);

/* Number of slots free for xfer_start. */
int xfer_idle(const struct xfer *x);

/* Number of requests in flight. */
int xfer_busy(const struct xfer *x);

/* Start req on a free slot.  Returns 0, or -1 (none free, or curl failed). */
int xfer_start(struct xfer *x, const struct xfer_req *req);

/*
 * Wait up to timeout_ms for network activity, and let libcurl act on one
 * ready socket (the caller comes back at once for the next), or our own
 * connections on all of theirs.  A request
 * that ended frees its slot at once, but its on_done waits for
 * xfer_report: the caller can first start the next requests, whose
 * commands then go out before the ended ones' bookkeeping is done.
 * Returns 0 or -1.
 */
int xfer_drive(struct xfer *x, int timeout_ms);

/*
 * Send the commands of the requests started since xfer_drive, then run
 * on_done for each request that ended.  Returns how many, or -1.
 */
int xfer_report(struct xfer *x);

/* xfer_drive, then xfer_report.  Returns 0 or -1. */
int xfer_pump(struct xfer *x, int timeout_ms);

/* Stop every request in flight; each gets on_done with an abort code. */
void xfer_abort(struct xfer *x);

#endif
