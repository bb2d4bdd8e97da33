/*
 * ftpconn.h: one FTP control connection of our own, and its data
 * connections, for the transfer engine (xfer.c) on plain ftp:// in passive
 * mode.  Where libcurl sends one command and waits for its reply, this
 * pipelines: right behind each transfer command goes the EPSV of the next
 * data connection, whose reply then comes with the transfer's own, so a
 * file costs one round trip instead of two.  A server that acts on that
 * EPSV during the transfer (pyftpdlib does, and cuts the transfer) must
 * not get it: the first transfers of a run carry a NOOP instead, and one
 * answered before the transfer's end turns pipelining off for the run.
 */
#ifndef FTPMIRROR_FTPCONN_H
#define FTPMIRROR_FTPCONN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "xfer.h"

/* Whether the server gets the next EPSV behind a transfer command. */
enum ftpconn_pipe {
	FTPCONN_PIPE_PROBE,	/* not known yet: a NOOP goes behind */
	FTPCONN_PIPE_ON,	/* the NOOP was answered after the transfer */
	FTPCONN_PIPE_OFF	/* before it: the server acts on commands
				   during a transfer */
};

/* The server, shared by a job's connections (xfer.c owns it). */
struct ftpconn_server {
	const char	*host;
	const char	*port;		/* a service name for getaddrinfo */
	const char	*user;
	const char	*password;
	int		 timeout;	/* seconds without progress */
	enum ftpconn_pipe pipe;
	bool		 no_epsv;	/* the server refused EPSV: PASV */
	int64_t		*admitted;	/* requests that got a logged-in
					   connection */
};

/* How a request ended (ftpconn_result). */
struct ftpconn_end {
	int		 code;		/* a CURLcode, as libcurl's requests */
	long		 reply;		/* the last reply code, 0 if none */
	char		 error[256];
	char		 last_reply[128]; /* the last final reply line */
	int64_t		 received;	/* body bytes handed to on_data */
	int64_t		 filetime;	/* MDTM's, or -1 */
	bool		 admitted;	/* it got a logged-in connection */
	bool		 reused;	/* one logged in before it */
	bool		 data_opened;	/* it had a data connection */
	bool		 data_failed;	/* on_data asked to stop */
	bool		 engine_fault;	/* the engine's way broke it (a
					   pipelined command, an EPSV port),
					   not the file: worth a free try */
};

struct ftpconn;

/*
 * Keepalive probes for a control connection, which idles while a long
 * download runs (a NAT or firewall might drop it); best effort.  Also
 * libcurl's control connections (xfer.c).
 */
void ftpconn_keep_alive(int fd);

/* A connection to srv, not yet made.  NULL when out of memory. */
struct ftpconn *ftpconn_new(struct ftpconn_server *srv);

/* Log out (QUIT, not waited for) and close.  NULL is a no-op. */
void ftpconn_free(struct ftpconn *c);

/*
 * Start req (borrowed until it ends) at time now (microseconds,
 * CLOCK_MONOTONIC), connecting and logging in first when needed.  Returns
 * 0, or -1 (out of memory, logged).
 */
int ftpconn_start(struct ftpconn *c, const struct xfer_req *req,
    int64_t now);

/*
 * The sockets to wait on, into pfd[0..1]: returns how many, and lowers
 * *deadline (microseconds, CLOCK_MONOTONIC) to when c must act anyway.
 */
int ftpconn_fds(const struct ftpconn *c, struct pollfd *pfd,
    int64_t *deadline);

/*
 * Act on what poll saw on c's sockets (pfd, n as ftpconn_fds gave), and
 * on the time now.  Returns true when the request ended: ftpconn_result
 * then tells how, until the next ftpconn_start.
 */
bool ftpconn_act(struct ftpconn *c, const struct pollfd *pfd, int n,
    int64_t now);

const struct ftpconn_end *ftpconn_result(const struct ftpconn *c);

/* End the request in flight as aborted; its connection is closed. */
void ftpconn_abort(struct ftpconn *c);

#endif
