/*
 * ftpconn.c: an FTP control connection of our own, pipelining the EPSV of
 * each next data connection behind the transfer command (ftpconn.h).
 *
 * Commands go out in batches and their replies are matched in order
 * against a queue of what each command waits for.  A batch holds what the
 * server acts on before the transfer (TYPE, MDTM), the transfer command,
 * and behind it the next request's EPSV (or the NOOP probe, ftpconn.h).
 * A command whose failure would change what the next one does is waited
 * for: a CWD (a listing after a failed CWD lists the wrong directory),
 * REST (after a refused REST, RETR starts at byte 0) and the CWD back home
 * after a cwd_first listing.  A reply that does not fit the queue behind
 * a pipelined command (a 229 before the transfer's end) shows a server
 * that acts on commands during a transfer: pipelining goes off for the
 * run, and the request ends as the engine's fault, not the file's.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ftpconn.h"
#include "listing.h"
#include "log.h"
#include "path.h"
#include "reply.h"

/* What a command sent waits for. */
enum ftpconn_wait {
	WAIT_GREETING,
	WAIT_USER,
	WAIT_PASS,
	WAIT_TYPE,		/* A for listings (as libcurl), I for files */
	WAIT_PWD,
	WAIT_CWD,
	WAIT_CWD_HOME,
	WAIT_MDTM,
	WAIT_PORT,		/* EPSV or PASV for this request */
	WAIT_SPARE,		/* the EPSV sent ahead, for the next one */
	WAIT_PROBE,		/* a NOOP behind a transfer (ftpconn_pipe) */
	WAIT_REST,
	WAIT_XFER,		/* RETR, MLSD or LIST */
	WAIT_QUOTE
};

#define FTPCONN_QUEUE		16
#define FTPCONN_BUFFER		(256 * 1024)	/* one read of data */
#define FTPCONN_IN_MAX		(80 * 1024)	/* a reply, FEAT's included */
/* A spare data port older than this may have been closed by the server. */
#define FTPCONN_SPARE_US	(10 * 1000000LL)
#define FTPCONN_KEEPALIVE_SECS	60

struct ftpconn {
	struct ftpconn_server *srv;
	int		 fd;		/* control, -1 when closed */
	bool		 connecting;
	bool		 logged_in;
	char		 type;		/* 'A', 'I', or 0 before the first */
	struct addrinfo	*ai, *ai_next;	/* the addresses tried in turn */
	char		*in;		/* reply bytes not yet taken */
	size_t		 inlen, incap;
	char		*out;		/* commands not yet sent */
	size_t		 outlen, outcap;
	enum ftpconn_wait queue[FTPCONN_QUEUE];
	int		 nqueue;
	char		*home;		/* PWD's answer, once asked */
	int		 spare_port;	/* a 229 not used yet, or 0 */
	bool		 spare_epsv;	/* it came from EPSV (else PASV) */
	bool		 spare_cmd_epsv; /* the spare in flight is an EPSV */
	bool		 port_epsv;	/* the request's port command is */
	int64_t		 spare_at;
	bool		 probe_proves;	/* the transfer before the NOOP ran */
	int64_t		 progress_at;	/* the last sign of life (us) */
	int64_t		 now;		/* as the caller last said */
	/* The request in flight. */
	bool		 busy;
	struct xfer_req	 req;
	char		*path;		/* decoded, as the commands name it */
	int		 data_fd;
	bool		 data_connecting;
	bool		 data_epsv;	/* its port came from EPSV */
	bool		 data_eof;
	bool		 data_reset;	/* reset, its bytes still to read */
	bool		 fin_sent;	/* the data connection half-closed */
	bool		 xfer_sent;	/* the transfer command went out */
	bool		 behind;	/* a NOOP or EPSV went behind it */
	bool		 deferred;	/* waits for the CWD back home */
	bool		 started;	/* a 1xx to the transfer command */
	bool		 final_ok;	/* and its 2xx */
	bool		 clean;		/* it failed, the connection in a
					   known state: it stays */
	bool		 draining;	/* it failed mid-transfer: the bytes
					   sent before still count */
	char		*buf;		/* FTPCONN_BUFFER for data */
	struct ftpconn_end end;
};

struct ftpconn *
ftpconn_new(struct ftpconn_server *srv)
{
	struct ftpconn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->srv = srv;
	c->fd = -1;
	c->data_fd = -1;
	return c;
}

static void
ftpconn_close_data(struct ftpconn *c)
{
	if (c->data_fd != -1)
		close(c->data_fd);
	c->data_fd = -1;
	c->data_connecting = false;
	c->data_reset = false;
}

/*
 * Drop the control connection and all it had but the data connection;
 * the next request connects.
 */
static void
ftpconn_drop_control(struct ftpconn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->connecting = false;
	c->logged_in = false;
	c->type = 0;
	c->inlen = c->outlen = 0;
	c->nqueue = 0;
	c->spare_port = 0;
	free(c->home);
	c->home = NULL;
	if (c->ai != NULL)
		freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
}

static void
ftpconn_drop(struct ftpconn *c)
{
	ftpconn_close_data(c);
	ftpconn_drop_control(c);
}

void
ftpconn_free(struct ftpconn *c)
{
	static const char quit[] = "QUIT\r\n";

	if (c == NULL)
		return;
	/*
	 * Polite, not waited for: the server reads it before our FIN.  What
	 * came unread is read first, or the close would be a reset, which
	 * may reach the server before the QUIT does.
	 */
	if (c->fd != -1 && c->logged_in && c->outlen == 0 && c->buf != NULL) {
		while (recv(c->fd, c->buf, FTPCONN_BUFFER, MSG_DONTWAIT) > 0)
			;
		(void)send(c->fd, quit, sizeof(quit) - 1, MSG_NOSIGNAL);
	}
	ftpconn_drop(c);
	free(c->path);
	free(c->in);
	free(c->out);
	free(c->buf);
	free(c);
}

const struct ftpconn_end *
ftpconn_result(const struct ftpconn *c)
{
	return &c->end;
}

/* End the request with code, its error in words. */
static void
ftpconn_fail(struct ftpconn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ftpconn_fail(struct ftpconn *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (!c->busy || c->end.code != 0)
		return;
	c->end.code = code;
	va_start(ap, fmt);
	vsnprintf(c->end.error, sizeof(c->end.error), fmt, ap);
	va_end(ap);
}

/*
 * A download that fails mid-transfer (a 426, a reply out of order, the
 * control connection closed) reads its data connection to the end first:
 * the failure can overtake the bytes the server sent before it, and they
 * are the file's start, which the resume goes on from.
 */
static void
ftpconn_keep_sent(struct ftpconn *c)
{
	if (c->end.code == 0)
		c->draining = c->started && c->req.list_cmd == NULL;
}

/* Has the request failed, with nothing more to read for it? */
static bool
ftpconn_settled(const struct ftpconn *c)
{
	return c->end.code != 0 && !(c->draining && c->data_fd != -1);
}

/*
 * Queue a command (logged, the password masked) and what it waits for.
 * Out of memory, the request fails, or an idle connection goes (it might
 * be left in another directory): returns -1.
 */
static int
ftpconn_send(struct ftpconn *c, enum ftpconn_wait wait, const char *cmd,
    const char *arg)
{
	size_t need = strlen(cmd) + (arg ? 1 + strlen(arg) : 0) + 2;
	char *grown = NULL;
	size_t cap;

	if (c->nqueue == FTPCONN_QUEUE)
		goto fail;
	if (c->outlen + need + 1 > c->outcap) {
		cap = c->outcap ? c->outcap : 512;
		while (c->outlen + need + 1 > cap)
			cap *= 2;
		if ((grown = realloc(c->out, cap)) == NULL)
			goto fail;
		c->out = grown;
		c->outcap = cap;
	}
	c->outlen += (size_t)snprintf(c->out + c->outlen, need + 1,
	    "%s%s%s\r\n", cmd, arg ? " " : "", arg ? arg : "");
	c->queue[c->nqueue++] = wait;
	if (wait == WAIT_PASS)
		log_debug("-> PASS ****");
	else
		log_debug("-> %s%s%s", cmd, arg ? " " : "", arg ? arg : "");
	return 0;
fail:
	if (c->busy)
		ftpconn_fail(c, CURLE_OUT_OF_MEMORY, "out of memory");
	else
		ftpconn_drop(c);
	return -1;
}

/* Write what is queued, as far as the socket takes it. */
static int
ftpconn_flush(struct ftpconn *c)
{
	ssize_t n;

	while (c->outlen > 0) {
		n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

/* A non-blocking TCP connection to ai's address, port given or ai's. */
static int
ftpconn_dial(const struct sockaddr *sa, socklen_t len, int port,
    bool *pending)
{
	struct sockaddr_storage ss;
	int fd, one = 1;

	memcpy(&ss, sa, len);
	if (port > 0 && ss.ss_family == AF_INET)
		((struct sockaddr_in *)(void *)&ss)->sin_port =
		    htons((uint16_t)port);
	else if (port > 0 && ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)&ss)->sin6_port =
		    htons((uint16_t)port);
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* Commands are whole batches already: Nagle would only delay them. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*pending = false;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno == EINPROGRESS) {
		*pending = true;
		return fd;
	}
	close(fd);
	return -1;
}

void
ftpconn_keep_alive(int fd)
{
	int on = 1, secs = FTPCONN_KEEPALIVE_SECS;

	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof(secs));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &secs, sizeof(secs));
}

/* Connect the control connection to the next address.  Returns 0 or -1. */
static int
ftpconn_connect_next(struct ftpconn *c)
{
	while (c->ai_next != NULL) {
		struct addrinfo *a = c->ai_next;

		c->ai_next = a->ai_next;
		if ((c->fd = ftpconn_dial(a->ai_addr, a->ai_addrlen, 0,
		    &c->connecting)) == -1)
			continue;
		ftpconn_keep_alive(c->fd);
		c->queue[c->nqueue++] = WAIT_GREETING;
		return 0;
	}
	return -1;
}

static int
ftpconn_connect(struct ftpconn *c)
{
	struct addrinfo hints;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if ((rc = getaddrinfo(c->srv->host, c->srv->port, &hints,
	    &c->ai)) != 0) {
		c->ai = NULL;
		ftpconn_fail(c, CURLE_COULDNT_RESOLVE_HOST, "cannot resolve "
		    "%s: %s", c->srv->host, gai_strerror(rc));
		return -1;
	}
	c->ai_next = c->ai;
	if (ftpconn_connect_next(c) == -1) {
		ftpconn_fail(c, CURLE_COULDNT_CONNECT, "cannot connect to "
		    "%s port %s: %s", c->srv->host, c->srv->port,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The path's directory part as CWD names it (cwd_first's URL ends "/./"). */
static const char *
ftpconn_list_arg(char *path)
{
	size_t n = strlen(path);

	/* "pub/dir/" lists "pub/dir"; the root lists with no argument. */
	if (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	return n > 0 && strcmp(path, "/") != 0 ? path : NULL;
}

/*
 * The data connection could not be made.  Where EPSV's ports can't be
 * reached (a firewall or NAT that knows PASV only), PASV from now on, as
 * libcurl does, and the request starts again without a try spent.
 */
static void
ftpconn_data_failed(struct ftpconn *c)
{
	int err = errno;

	if (c->data_epsv) {
		if (!c->srv->no_epsv)
			log_debug("a data connection to an EPSV port failed "
			    "(%s): PASV from now on", strerror(err));
		c->srv->no_epsv = true;
		c->end.engine_fault = true;
	}
	ftpconn_fail(c, CURLE_COULDNT_CONNECT, "cannot open the data "
	    "connection: %s", strerror(err));
}

/*
 * The transfer command, and behind it the next request's EPSV (or the
 * NOOP probe while the server's way is not known).
 */
static int
ftpconn_send_xfer(struct ftpconn *c)
{
	int rc;

	if (c->req.list_cmd == NULL)
		rc = ftpconn_send(c, WAIT_XFER, "RETR", c->path);
	else
		rc = ftpconn_send(c, WAIT_XFER, c->req.list_cmd,
		    c->req.cwd_first ? NULL : ftpconn_list_arg(c->path));
	c->xfer_sent = true;
	c->behind = c->srv->pipe != FTPCONN_PIPE_OFF;
	c->spare_cmd_epsv = !c->srv->no_epsv;
	if (c->srv->pipe == FTPCONN_PIPE_ON)
		rc |= ftpconn_send(c, WAIT_SPARE, c->spare_cmd_epsv ? "EPSV" :
		    "PASV", NULL);
	else if (c->srv->pipe == FTPCONN_PIPE_PROBE)
		rc |= ftpconn_send(c, WAIT_PROBE, "NOOP", NULL);
	return rc;
}

/*
 * The data port is known: connect to it, and send the transfer command.
 * A resume's RETR waits for REST's 350: after a refused REST the server
 * would send the file from byte 0, to be appended at the offset.
 */
static int
ftpconn_transfer(struct ftpconn *c, int port, bool epsv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char rest[32];

	c->data_epsv = epsv;
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1 ||
	    (c->data_fd = ftpconn_dial((struct sockaddr *)&ss, len, port,
	    &c->data_connecting)) == -1) {
		ftpconn_data_failed(c);
		return -1;
	}
	c->end.data_opened = true;
	if (c->req.resume_from <= 0)
		return ftpconn_send_xfer(c);
	snprintf(rest, sizeof(rest), "%" PRId64, c->req.resume_from);
	return ftpconn_send(c, WAIT_REST, "REST", rest);
}

/*
 * The transfer type for what comes: listings in ASCII, as libcurl lists
 * (the server's ASCII conversion is what the listing parser has always
 * seen), files in binary.  Sent with the batch: it costs no round trip.
 */
static int
ftpconn_type(struct ftpconn *c, char type)
{
	if (c->type == type)
		return 0;
	c->type = type;
	return ftpconn_send(c, WAIT_TYPE, "TYPE", type == 'A' ? "A" : "I");
}

/* Where in the queue a reply of kind w is awaited, or -1. */
static int
ftpconn_waits_for(const struct ftpconn *c, enum ftpconn_wait w)
{
	int i;

	for (i = 0; i < c->nqueue; i++)
		if (c->queue[i] == w)
			return i;
	return -1;
}

/*
 * The transfer needs a data port: the spare one, or the one a spare EPSV
 * in flight will give, or a new one.  (A new EPSV would also close the
 * spare's listening port on the server.)
 */
static int
ftpconn_need_port(struct ftpconn *c)
{
	int i, port;

	if ((port = c->spare_port) > 0) {
		c->spare_port = 0;
		return ftpconn_transfer(c, port, c->spare_epsv);
	}
	if ((i = ftpconn_waits_for(c, WAIT_SPARE)) != -1) {
		c->queue[i] = WAIT_PORT;
		c->port_epsv = c->spare_cmd_epsv;
		return 0;
	}
	c->port_epsv = !c->srv->no_epsv;
	return ftpconn_send(c, WAIT_PORT, c->port_epsv ? "EPSV" : "PASV",
	    NULL);
}

/* Logged in, or the connection reused: send the request's commands. */
static int
ftpconn_go(struct ftpconn *c)
{
	const struct xfer_req *req = &c->req;
	int rc = 0;

	c->end.admitted = true;
	(*c->srv->admitted)++;
	if (req->quote != NULL)
		return ftpconn_send(c, WAIT_QUOTE, req->quote, NULL);
	if (req->nobody) {
		c->final_ok = true;	/* a login alone (crawl's warm-up) */
		return 0;
	}
	if (req->cwd_first) {
		/* Waited for: a listing after a failed CWD lists elsewhere. */
		if (c->home == NULL)
			rc |= ftpconn_send(c, WAIT_PWD, "PWD", NULL);
		return rc | ftpconn_type(c, 'A') | ftpconn_send(c, WAIT_CWD,
		    "CWD", ftpconn_list_arg(c->path));
	}
	if (req->want_filetime && req->list_cmd == NULL)
		rc |= ftpconn_send(c, WAIT_MDTM, "MDTM", c->path);
	return rc | ftpconn_type(c, req->list_cmd ? 'A' : 'I') |
	    ftpconn_need_port(c);
}

int
ftpconn_start(struct ftpconn *c, const struct xfer_req *req, int64_t now)
{
	free(c->path);
	memset(&c->end, 0, sizeof(c->end));
	c->end.filetime = -1;
	c->req = *req;
	c->busy = true;
	c->started = c->final_ok = c->data_eof = false;
	c->clean = c->fin_sent = c->behind = c->deferred = false;
	c->xfer_sent = c->draining = false;
	c->progress_at = c->now = now;
	if ((c->path = path_url_path(req->url)) == NULL) {
		ftpconn_fail(c, CURLE_URL_MALFORMAT, "a path FTP cannot name "
		    "in %s", req->url);
		return 0;	/* ends at the next ftpconn_act */
	}
	if (c->buf == NULL && (c->buf = malloc(FTPCONN_BUFFER)) == NULL) {
		log_err("out of memory");
		c->busy = false;
		return -1;
	}
	if (c->spare_port > 0 && now - c->spare_at > FTPCONN_SPARE_US)
		c->spare_port = 0;
	if (c->fd == -1) {
		(void)ftpconn_connect(c);
		return 0;
	}
	c->end.reused = true;
	if (ftpconn_waits_for(c, WAIT_CWD_HOME) != -1)
		c->deferred = true;	/* ftpconn_on_home goes on */
	else
		(void)ftpconn_go(c);	/* a failure is the request's */
	/* Out now: the replies of the others are not waited for. */
	if (ftpconn_flush(c) == -1)
		ftpconn_fail(c, CURLE_SEND_ERROR, "sending a command failed: "
		    "%s", strerror(errno));
	return 0;
}

/* Keep a final reply line, printable and cut to size, for error messages. */
static void
ftpconn_keep_reply(struct ftpconn *c, const struct reply *r)
{
	reply_printable(c->end.last_reply, sizeof(c->end.last_reply), r->text,
	    r->text_len);
	c->end.reply = r->code;
}

#define FTPCONN_PIPE_OFF_MSG	"the server acts on commands sent during a " \
				"transfer: pipelining off"

/*
 * A reply that breaks the order of the pipeline: see the top.  The
 * connection goes, its replies no longer matched to its commands.
 */
static void
ftpconn_out_of_order(struct ftpconn *c, const struct reply *r)
{
	if (c->srv->pipe != FTPCONN_PIPE_OFF)
		log_warn(FTPCONN_PIPE_OFF_MSG " (a reply out of order)");
	c->srv->pipe = FTPCONN_PIPE_OFF;
	if (!c->busy) {
		ftpconn_drop(c);
		return;
	}
	c->end.engine_fault = true;
	ftpconn_keep_sent(c);
	ftpconn_fail(c, CURLE_WEIRD_SERVER_REPLY, "a reply out of order "
	    "(%d) to a pipelined command", r->code);
}

/* The home directory from a 257 reply ("257 "/pub" is ..."), or NULL. */
static char *
ftpconn_parse_pwd(const struct reply *r)
{
	const char *p = memchr(r->text, '"', r->text_len);
	const char *end = r->text + r->text_len;
	char *home;
	size_t n = 0;

	if (p == NULL || (home = malloc(r->text_len)) == NULL)
		return NULL;
	for (p++; p < end; p++) {
		if (*p == '"' && p + 1 < end && p[1] == '"')
			p++;		/* a doubled quote is one */
		else if (*p == '"')
			break;
		home[n++] = *p;
	}
	home[n] = '\0';
	if (p == end) {
		free(home);
		return NULL;
	}
	return home;
}

/* Each line of a reply to the request's on_reply, line end included. */
static void
ftpconn_pass_lines(struct ftpconn *c, const char *at, size_t length)
{
	const char *nl, *end = at + length;

	if (c->req.on_reply == NULL)
		return;
	while (at < end) {
		nl = memchr(at, '\n', (size_t)(end - at));
		nl = nl ? nl + 1 : end;
		c->req.on_reply(c->req.arg, at, (size_t)(nl - at));
		at = nl;
	}
}

static void
ftpconn_logged_in(struct ftpconn *c)
{
	c->logged_in = true;
	if (c->busy)
		(void)ftpconn_go(c);	/* a failure is the request's */
}

/* A reply to the login. */
static void
ftpconn_on_login(struct ftpconn *c, enum ftpconn_wait w,
    const struct reply *r)
{
	int code = r->code;

	switch (w) {
	case WAIT_GREETING:
		if (code >= 200 && code < 300)
			(void)ftpconn_send(c, WAIT_USER, "USER", c->srv->user);
		else
			ftpconn_fail(c, CURLE_COULDNT_CONNECT,
			    "the server refused the connection");
		return;
	case WAIT_USER:
		if (code == 230)
			ftpconn_logged_in(c);
		else if (code == 331 || code == 332)
			(void)ftpconn_send(c, WAIT_PASS, "PASS",
			    c->srv->password);
		else
			ftpconn_fail(c, CURLE_LOGIN_DENIED,
			    "login refused");
		return;
	default:		/* WAIT_PASS */
		if (code >= 200 && code < 300)
			ftpconn_logged_in(c);
		else
			ftpconn_fail(c, CURLE_LOGIN_DENIED,
			    "login refused");
		return;
	}
}

/* A reply to the transfer command itself. */
static void
ftpconn_on_xfer(struct ftpconn *c, const struct reply *r)
{
	int code = r->code;

	if (code == 226 || code == 250) {
		c->final_ok = true;
		c->probe_proves = c->started;
		return;
	}
	if (code >= 200 && code < 400) {
		if (c->behind)
			ftpconn_out_of_order(c, r);
		else
			ftpconn_fail(c, CURLE_WEIRD_SERVER_REPLY, "an "
			    "unexpected reply to the transfer");
		return;
	}
	if (c->started) {
		ftpconn_keep_sent(c);
		ftpconn_fail(c, CURLE_PARTIAL_FILE, "the transfer failed");
		return;
	}
	ftpconn_close_data(c);
	if (c->req.list_cmd != NULL)
		ftpconn_fail(c, CURLE_FTP_COULDNT_RETR_FILE,
		    "the server refused the listing");
	else
		ftpconn_fail(c, code == 550 ? CURLE_REMOTE_FILE_NOT_FOUND :
		    CURLE_FTP_COULDNT_RETR_FILE, "the server refused the "
		    "download");
	c->clean = true;
}

/* The data port of a 229 or 227, or -1. */
static int
ftpconn_port(const struct reply *r)
{
	if (r->code == 229)
		return reply_epsv_port(r->text, r->text_len);
	if (r->code == 227)
		return reply_pasv_port(r->text, r->text_len);
	return -1;
}

/* A reply to a request's command (w), after the login. */
static void
ftpconn_on_request(struct ftpconn *c, enum ftpconn_wait w,
    const struct reply *r, const char *at)
{
	int code = r->code, port;

	switch (w) {
	case WAIT_TYPE:
		if (code != 200)
			ftpconn_fail(c, CURLE_FTP_COULDNT_SET_TYPE,
			    "the transfer type was refused");
		return;
	case WAIT_QUOTE:
		ftpconn_pass_lines(c, at, r->length);
		if (code >= 400) {
			ftpconn_fail(c, CURLE_QUOTE_ERROR,
			    "the server refused the command");
			c->clean = true;
		} else
			c->final_ok = true;
		return;
	case WAIT_PWD:
		/* Without it, the connection goes after the listing. */
		if (code == 257)
			c->home = ftpconn_parse_pwd(r);
		return;
	case WAIT_CWD:
		if (code >= 300) {
			ftpconn_fail(c, CURLE_REMOTE_ACCESS_DENIED,
			    "cannot change to the directory");
			c->clean = true;
			return;
		}
		(void)ftpconn_need_port(c);
		return;
	case WAIT_MDTM:
		if (code != 213 || listing_parse_mdtm(r->text, r->text_len,
		    &c->end.filetime) != 0)
			c->end.filetime = -1;
		return;
	case WAIT_PORT:
		if (code >= 500 && c->port_epsv) {
			c->srv->no_epsv = true;
			c->port_epsv = false;
			(void)ftpconn_send(c, WAIT_PORT, "PASV", NULL);
			return;
		}
		if ((port = ftpconn_port(r)) == -1) {
			ftpconn_fail(c, CURLE_FTP_WEIRD_PASV_REPLY,
			    "no data port");
			return;
		}
		(void)ftpconn_transfer(c, port, r->code == 229);
		return;
	case WAIT_REST:
		if (code == 350)
			(void)ftpconn_send_xfer(c);
		else {
			ftpconn_fail(c, CURLE_FTP_COULDNT_USE_REST,
			    "the server cannot resume");
			c->clean = true;
		}
		return;
	default:		/* WAIT_XFER */
		ftpconn_on_xfer(c, r);
		return;
	}
}

/*
 * Is r the answer to the command behind a transfer, come before the
 * transfer's own final reply?  The NOOP probe's 200 (pyftpdlib), or a
 * refusal of it or of the spare EPSV that reached the server mid-transfer
 * (pure-ftpd's 500, when something on the way split the batch): the
 * transfer itself goes on; pipelining goes off.
 */
static bool
ftpconn_answered_early(struct ftpconn *c, const struct reply *r)
{
	bool probe, refused;

	if (c->nqueue < 2 || c->queue[0] != WAIT_XFER || !c->started)
		return false;
	probe = c->queue[1] == WAIT_PROBE && (r->code == 200 ||
	    r->code >= 500);
	refused = c->queue[1] == WAIT_SPARE && r->code >= 500;
	if (!probe && !refused)
		return false;
	if (probe && c->srv->pipe == FTPCONN_PIPE_PROBE)
		log_debug(FTPCONN_PIPE_OFF_MSG);
	else if (refused && c->srv->pipe != FTPCONN_PIPE_OFF)
		log_warn(FTPCONN_PIPE_OFF_MSG " (an EPSV refused)");
	c->srv->pipe = FTPCONN_PIPE_OFF;
	memmove(&c->queue[1], &c->queue[2],
	    (size_t)(c->nqueue - 2) * sizeof(c->queue[0]));
	c->nqueue--;
	return true;
}

/*
 * The reply to the CWD back home after a cwd_first listing, which the
 * next request waits for: its paths are relative to home.
 */
static void
ftpconn_on_home(struct ftpconn *c, const struct reply *r)
{
	if (r->code < 300) {
		if (c->busy && c->deferred) {
			c->deferred = false;
			(void)ftpconn_go(c);
		}
		return;
	}
	/* Lost: log in afresh; the waiting request starts again. */
	if (c->busy) {
		ftpconn_keep_reply(c, r);
		c->end.engine_fault = true;
		ftpconn_fail(c, CURLE_REMOTE_ACCESS_DENIED, "cannot change "
		    "back to the login directory");
	}
	ftpconn_drop(c);
}

/* One whole reply at the head of the queue. */
static void
ftpconn_on_reply(struct ftpconn *c, const struct reply *r, const char *at)
{
	enum ftpconn_wait w;

	log_debug("<- %.*s", (int)(r->text_len > 512 ? 512 : r->text_len),
	    r->text);
	if (c->nqueue == 0) {
		/* Unasked: a 421 before the server hangs up. */
		ftpconn_keep_reply(c, r);
		ftpconn_fail(c, CURLE_RECV_ERROR, "the server hung up");
		ftpconn_drop(c);
		return;
	}
	w = c->queue[0];
	if (ftpconn_answered_early(c, r))
		return;
	if (r->code < 200 && (w == WAIT_XFER || w == WAIT_GREETING)) {
		/* Preliminary: the command waits on for its final reply. */
		c->started |= w == WAIT_XFER;
		return;
	}
	memmove(&c->queue[0], &c->queue[1],
	    (size_t)--c->nqueue * sizeof(c->queue[0]));
	if (w == WAIT_PROBE) {
		/* Only a transfer that ran proves anything. */
		if (c->srv->pipe == FTPCONN_PIPE_PROBE && r->code == 200 &&
		    c->probe_proves) {
			log_debug("the server holds commands sent during a "
			    "transfer: pipelining EPSV");
			c->srv->pipe = FTPCONN_PIPE_ON;
		}
		c->probe_proves = false;
		return;
	}
	if (w == WAIT_SPARE) {
		if ((r->code == 229 || r->code == 227) &&
		    (c->spare_port = ftpconn_port(r)) > 0) {
			c->spare_at = c->now;
			c->spare_epsv = r->code == 229;
		} else if (r->code < 400 || r->code >= 600)
			ftpconn_out_of_order(c, r);
		else
			c->spare_port = 0;
		return;
	}
	if (w == WAIT_CWD_HOME) {
		ftpconn_on_home(c, r);
		return;
	}
	/* After a failure the rest only tells what the connection owes. */
	if (!c->busy || c->end.code != 0)
		return;
	ftpconn_keep_reply(c, r);
	if (w <= WAIT_PASS)
		ftpconn_on_login(c, w, r);
	else
		ftpconn_on_request(c, w, r, at);
}

/* Read the control connection and act on each whole reply. */
static int
ftpconn_read_replies(struct ftpconn *c)
{
	struct reply r;
	size_t off = 0;
	ssize_t n;
	char *grown;
	int got;

	if (c->incap - c->inlen < 4096) {
		if (c->incap >= FTPCONN_IN_MAX + 4096 || (grown = realloc(c->in,
		    c->incap + 8192)) == NULL)
			return -1;
		c->in = grown;
		c->incap += 8192;
	}
	n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	while ((got = reply_take(c->in + off, c->inlen - off, &r)) == 1) {
		ftpconn_on_reply(c, &r, c->in + off);
		if (c->fd == -1)
			return 0;	/* dropped */
		off += r.length;
	}
	if (got == -1)
		return -1;
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return 0;
}

/* Read the data connection into on_data. */
static void
ftpconn_read_data(struct ftpconn *c)
{
	ssize_t n = recv(c->data_fd, c->buf, FTPCONN_BUFFER, 0);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && c->data_reset) {
		n = -1;		/* its error was taken by ftpconn_connected */
		errno = ECONNRESET;
	}
	if (n == -1 && c->draining) {
		ftpconn_close_data(c);	/* the failure is told already */
		return;
	}
	if (n == -1) {
		/*
		 * Reset: whether and what the server replies varies (pure-ftpd
		 * goes on with the next command), so the connection goes.
		 */
		ftpconn_fail(c, CURLE_RECV_ERROR, "the data connection "
		    "failed: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		/* The server's end of the data, or a cut: the reply tells. */
		ftpconn_close_data(c);
		c->data_eof = true;
		return;
	}
	if (c->end.code != 0 && !c->draining)
		return;		/* the request failed: its bytes are not */
	if (c->req.on_data && c->req.on_data(c->req.arg, c->buf,
	    (size_t)n) == -1) {
		c->end.data_failed = true;
		c->draining = false;
		ftpconn_fail(c, CURLE_WRITE_ERROR, "writing the data failed");
		return;
	}
	c->end.received += n;
	/*
	 * All the listed bytes are in: half-close, for servers (proftpd)
	 * that send the final reply only once the client closes its side.
	 */
	if (!c->fin_sent && c->req.expect > 0 &&
	    c->end.received >= c->req.expect) {
		c->fin_sent = true;
		(void)shutdown(c->data_fd, SHUT_WR);
	}
}

int
ftpconn_fds(const struct ftpconn *c, struct pollfd *pfd, int64_t *deadline)
{
	int n = 0;
	int64_t due;

	if (c->fd != -1) {
		pfd[n].fd = c->fd;
		pfd[n].events = (short)(POLLIN |
		    (c->connecting || c->outlen > 0 ? POLLOUT : 0));
		pfd[n++].revents = 0;
	}
	/* Bytes before the transfer command are no file's (defence). */
	if (c->data_fd != -1 && (c->data_connecting || c->xfer_sent)) {
		pfd[n].fd = c->data_fd;
		pfd[n].events = c->data_connecting ? POLLOUT : POLLIN;
		pfd[n++].revents = 0;
	}
	if (c->busy) {
		due = ftpconn_settled(c) ? 0 :
		    c->progress_at + (int64_t)c->srv->timeout * 1000000;
		if (due < *deadline)
			*deadline = due;
	}
	return n;
}

/* A connect finished on fd: 0, or -1 with errno. */
static int
ftpconn_connected(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	errno = err;
	return err == 0 ? 0 : -1;
}

/* The control connection's events. */
static void
ftpconn_control(struct ftpconn *c, short revents)
{
	if (c->connecting && (revents & (POLLOUT | POLLERR | POLLHUP))) {
		if (ftpconn_connected(c->fd) == 0)
			c->connecting = false;
		else {
			close(c->fd);
			c->fd = -1;
			c->nqueue = 0;
			if (ftpconn_connect_next(c) == -1)
				ftpconn_fail(c, CURLE_COULDNT_CONNECT,
				    "cannot connect to %s port %s: %s",
				    c->srv->host, c->srv->port,
				    strerror(errno));
			return;
		}
	}
	if ((revents & (POLLIN | POLLHUP | POLLERR)) &&
	    ftpconn_read_replies(c) == -1) {
		if (c->busy) {
			ftpconn_keep_sent(c);
			ftpconn_fail(c, CURLE_RECV_ERROR, "the server closed "
			    "the connection%s%s", c->end.last_reply[0] ?
			    " after: " : "", c->end.last_reply);
		}
		ftpconn_drop_control(c);
		if (!c->draining)
			ftpconn_close_data(c);
		return;
	}
	if (c->fd != -1 && !c->connecting && ftpconn_flush(c) == -1) {
		if (c->busy)
			ftpconn_fail(c, CURLE_SEND_ERROR, "sending a command "
			    "failed: %s", strerror(errno));
		ftpconn_drop(c);
	}
}

/* Has the request ended?  Then leave the connection ready for the next. */
static bool
ftpconn_ended(struct ftpconn *c)
{
	if (!c->busy)
		return false;
	if (c->end.code != 0) {
		if (!ftpconn_settled(c))
			return false;	/* a failed RETR's bytes still come */
		/* Unless refused cleanly, what it still owes is unknown. */
		if (!c->clean)
			ftpconn_drop(c);
		ftpconn_close_data(c);
	} else if (!c->final_ok || (c->req.quote == NULL && !c->req.nobody &&
	    !c->data_eof))
		return false;
	c->busy = c->draining = false;
	if (c->fd != -1 && c->req.cwd_first && c->home == NULL)
		ftpconn_drop(c);	/* no way back home */
	else if (c->fd != -1 && c->req.cwd_first)
		(void)ftpconn_send(c, WAIT_CWD_HOME, "CWD", c->home);
	return true;
}

static void
ftpconn_data_connected(struct ftpconn *c)
{
	if (ftpconn_connected(c->data_fd) == 0)
		c->data_connecting = false;
	else if (errno == ECONNRESET) {
		/*
		 * Connected, then reset before this look (a slow client): the
		 * port was good, and the bytes that came are read as any.
		 */
		c->data_connecting = false;
		c->data_reset = true;
	} else
		ftpconn_data_failed(c);
}

bool
ftpconn_act(struct ftpconn *c, const struct pollfd *pfd, int n, int64_t now)
{
	int i;

	c->now = now;
	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		c->progress_at = now;
		if (pfd[i].fd == c->fd)
			ftpconn_control(c, pfd[i].revents);
		else if (pfd[i].fd == c->data_fd && c->data_connecting)
			ftpconn_data_connected(c);
		else if (pfd[i].fd == c->data_fd)
			ftpconn_read_data(c);
	}
	if (c->busy && !ftpconn_settled(c) && now - c->progress_at >=
	    (int64_t)c->srv->timeout * 1000000) {
		ftpconn_close_data(c);	/* ends a drain */
		ftpconn_fail(c, CURLE_OPERATION_TIMEDOUT, "no progress for %d "
		    "seconds%s%s", c->srv->timeout, c->end.last_reply[0] ?
		    " after: " : "", c->end.last_reply);
	}
	if (c->fd != -1 && c->outlen > 0 && !c->connecting &&
	    ftpconn_flush(c) == -1 && c->busy)
		ftpconn_fail(c, CURLE_SEND_ERROR, "sending a command failed: %s",
		    strerror(errno));
	return ftpconn_ended(c);
}

void
ftpconn_abort(struct ftpconn *c)
{
	if (!c->busy)
		return;
	ftpconn_fail(c, CURLE_ABORTED_BY_CALLBACK, "stopped");
	ftpconn_drop(c);
	c->busy = false;
}
