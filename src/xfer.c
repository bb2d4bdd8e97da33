/*
 * xfer.c: the slots, and what they share whichever engine serves them:
 * parking requests a connection limit or a dead connection turned away,
 * the queue of ended requests, error texts.  Our own engine (ftpconn.c)
 * serves plain ftp:// in passive mode (xfer_own_new); otherwise it is
 * libcurl's multi interface driven by our own poll loop through
 * its socket API: libcurl names the sockets it waits on, and each ready
 * one is handed back alone (xfer_drive), so a connection's next command
 * never waits for the other connections' replies to be processed.  Each
 * slot keeps its easy handle for the whole run; the multi handle's
 * connection cache, capped at one connection per slot, keeps the control
 * connections logged in between requests.  Against servers that answer a
 * download only once the client has closed the data connection, each
 * download's data connection is half-closed as soon as it is connected,
 * so that the reply follows the data instead of libcurl waiting for it
 * in a blocking poll (xfer_linger_early, xfer_linger).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ftpconn.h"
#include "log.h"
#include "reply.h"
#include "thread.h"
#include "xfer.h"

struct xfer_slot {
	struct xfer	*x;
	CURL		*easy;		/* libcurl's engine, or: */
	struct ftpconn	*conn;		/* our own, this slot's connection */
	int		 pfd_at, npfd;	/* its sockets in x->pfds */
	bool		 busy;
	struct xfer_req	 req;		/* the request in flight */
	struct curl_slist *quote;
	char		 errbuf[CURL_ERROR_SIZE];
	char		 last_reply[128]; /* the server's last final reply line */
	int		 data_failed;	/* on_data asked to stop */
	/* Ending a download without stalling the others (xfer_linger). */
	bool		 requesting;	/* connected: new sockets are data */
	int		 ctrl_port;	/* remote port of the control connection */
	int		 ctrl_local;	/* and its local port */
	curl_socket_t	 data_fd;	/* the request's data socket */
	bool		 data_opened;	/* it had one */
	int64_t		 received;	/* body bytes handed to on_data */
	int64_t		 last_byte_at;	/* when they were all in (us), or 0 */
	bool		 paused;	/* since last_byte_at, until the reply */
	bool		 rate_paused;	/* waiting for the bandwidth cap */
	curl_socket_t	 wait_fd;	/* the control socket it comes on */
	int		 nwatched;	/* sockets libcurl waits on for it */
	bool		 nudged;	/* since it last had one (xfer_unstall) */
	bool		 fin_sent;	/* data connection half-closed early */
};

/* A control connection's socket and its local port (0: not read yet). */
struct xfer_ctrl {
	curl_socket_t	 fd;
	int		 local;
};

/* A socket libcurl waits on (CURLMOPT_SOCKETFUNCTION). */
struct xfer_watch {
	curl_socket_t	 fd;
	short		 events;	/* POLLIN and/or POLLOUT */
	struct xfer_slot *slot;		/* whose request it serves */
};

/* A request that ended, kept until xfer_report runs its on_done. */
struct xfer_ended {
	struct xfer_req	 req;
	struct xfer_result r;
	char		 error[CURL_ERROR_SIZE + 160]; /* r.error's text */
};

struct xfer {
	CURLM		*multi;		/* NULL with our own engine */
	struct ftpconn_server *own;	/* our own engine's server, or NULL */
	char		*own_host, *own_port;
	struct xfer_slot *slots;
	int		 nslots;
	int		 busy;
	int		 capacity;	/* connections the server lets us have */
	double		 tokens;	/* bytes the bandwidth cap allows now */
	int64_t		 tokens_at;	/* when they were counted (us) */
	int		 rate_next;	/* the slot resumed first next time */
	int64_t		 admitted;	/* requests that got a logged-in
					   connection */
	struct xfer_req	*parked;	/* turned away at login: started again
					   on a connection another one frees */
	int		 nparked, capparked;
	char		*user;
	char		*password;
	char		*ca_file;
	char		*netrc_file;
	char		*home;		/* opts.url: where xfer_log_out goes */
	struct xfer_opts opts;
	pthread_t	 closer;	/* xfer_hang_up's thread */
	bool		 closing;	/* closer runs: x->multi is its own */
	bool		 logging_out;	/* requests are xfer_log_out's QUITs */
	struct xfer_ctrl *ctrl;		/* the open control sockets */
	int		 nctrl, capctrl;
	struct xfer_watch *watch;	/* libcurl's sockets */
	int		 nwatch, capwatch;
	struct pollfd	*pfds;		/* the watched, then the paused ones' */
	int		 cappfds;
	int		 next_ready;	/* where the search for one starts */
	int64_t		 timer_at;	/* libcurl's timeout is due (us), or -1 */
	curl_socket_t	 connecting;	/* a socket the last action began */
	struct xfer_ended *ended;	/* oldest first, for xfer_report */
	int		 nended, capended;
	int		 late_replies;	/* downloads whose reply came late */
	int		 prompt_replies; /* and those whose reply did not */
	int64_t		 late_us;	/* the longest wait for a late reply */
	enum {
		XFER_LINGER_UNKNOWN,	/* counting late and prompt replies */
		XFER_LINGER_EARLY,	/* the server waits for our close:
					   half-close once connected */
		XFER_LINGER_ON,		/* a download failed so: half-close
					   at the last byte, pause for the
					   reply */
		XFER_LINGER_OFF		/* it did not answer a half-close:
					   wait as libcurl does */
	}		 linger;
	bool		 early_seen;	/* a data connection half-closed at
					   connect (logged once) */
};

/*
 * A download whose reply came this long after its last byte (libcurl
 * waiting in a blocking poll) counts as late.  Most replies late, and a
 * few of them, show a server that waits for the client to close the data
 * connection; a late one now and then is only the network.
 */
#define XFER_LATE_REPLY_US	5000
#define XFER_LATE_REPLIES	4
/*
 * How long a paused download waits for the reply before libcurl does: a
 * few times the longest late reply seen, within bounds.  The reply may
 * also be in libcurl's buffer already, read with the one before (vsftpd
 * sends 226 right after 150 at times), where no poll sees it: then the
 * wait runs out once, and downloads are left to libcurl from then on.
 */
#define XFER_LINGER_WAITS	4
#define XFER_LINGER_MIN_US	20000
#define XFER_LINGER_MAX_US	2000000

/*
 * libcurl drops a connection idle for more than 118 s (CURLOPT_MAXAGE_CONN)
 * and logs in anew, and drops it without a QUIT.  One idle that long while
 * another downloads a big file is still good, and the keepalive probes keep
 * it through NATs; one the server closed meanwhile is dropped by libcurl's
 * once-a-second sweep, or else by the request that meets it, which then
 * starts again (xfer_found_dead).
 */
#define XFER_MAX_IDLE_SECS	(24L * 3600)

/* Per connection; libcurl allows up to 512 KiB. */
#define XFER_BUFFER_SIZE	(256L * 1024)

static void xfer_close_all(struct xfer *);

static int64_t
xfer_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The array v of capacity *cap, with room for need elements of size
 * (doubling, from 4 per slot): v itself, or moved, or NULL (v is then
 * still valid).
 */
static void *
xfer_grow(const struct xfer *x, void *v, int *cap, int need, size_t size)
{
	void *grown;
	int n = *cap ? *cap : 4 * x->nslots;

	if (need <= *cap)
		return v;
	while (n < need)
		n *= 2;
	if ((grown = reallocarray(v, (size_t)n, size)) != NULL)
		*cap = n;
	return grown;
}

/* The port of an IPv4 or IPv6 address, or -1. */
static int
xfer_addr_port(const struct sockaddr *sa)
{
	const void *p = sa;

	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)p)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)p)->sin6_port);
	return -1;
}

/*
 * Every socket libcurl opens is opened here, to tell the kinds apart: one
 * that a request opens once connected, to another port than its control
 * connection's, is its data connection; any other is a control connection
 * (kept in x->ctrl until closed).
 */
static curl_socket_t
xfer_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer_slot *slot = clientp;
	struct xfer *x = slot->x;
	struct xfer_ctrl *ctrl;
	curl_socket_t fd;

	(void)purpose;
	if (x->logging_out)
		return CURL_SOCKET_BAD;	/* no new connection only to log out */
	if ((fd = socket(a->family, a->socktype | SOCK_CLOEXEC,
	    a->protocol)) == -1)
		return CURL_SOCKET_BAD;
	if (slot->requesting && xfer_addr_port(&a->addr) != slot->ctrl_port) {
		slot->data_fd = fd;
		slot->data_opened = true;
		return fd;
	}
	ftpconn_keep_alive(fd);
	/* Unrecorded, the socket only misses xfer_linger. */
	if ((ctrl = xfer_grow(x, x->ctrl, &x->capctrl, x->nctrl + 1,
	    sizeof(*ctrl))) == NULL)
		return fd;
	x->ctrl = ctrl;
	x->ctrl[x->nctrl].fd = fd;
	x->ctrl[x->nctrl++].local = 0;
	return fd;
}

static int
xfer_close_socket(void *clientp, curl_socket_t fd)
{
	struct xfer *x = clientp;
	int i;

	for (i = 0; i < x->nctrl; i++)
		if (x->ctrl[i].fd == fd) {
			x->ctrl[i] = x->ctrl[--x->nctrl];
			break;
		}
	for (i = 0; i < x->nslots; i++)
		if (x->slots[i].data_fd == fd)
			x->slots[i].data_fd = CURL_SOCKET_BAD;
	return close(fd);
}

/* A request has its control connection (new or reused): which one. */
static int
xfer_prereq(void *clientp, char *remote_ip, char *local_ip, int remote_port,
    int local_port)
{
	struct xfer_slot *slot = clientp;

	(void)remote_ip;
	(void)local_ip;
	slot->x->admitted++;
	slot->requesting = true;
	slot->ctrl_port = remote_port;
	slot->ctrl_local = local_port;
	return CURL_PREREQFUNC_OK;
}

/* The control socket with local port port, or CURL_SOCKET_BAD. */
static curl_socket_t
xfer_ctrl_fd(struct xfer *x, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int i;

	for (i = 0; i < x->nctrl; i++) {
		if (x->ctrl[i].local == 0) {
			len = sizeof(ss);
			if (getsockname(x->ctrl[i].fd, (struct sockaddr *)&ss,
			    &len) == 0)
				x->ctrl[i].local = xfer_addr_port(
				    (struct sockaddr *)&ss);
		}
		if (x->ctrl[i].local == port)
			return x->ctrl[i].fd;
	}
	return CURL_SOCKET_BAD;
}

/*
 * May slot's data connection be half-closed?  A download's, of a known
 * size, whose socket xfer_open_socket saw, and not under TLS, whose
 * shutdown is not ours to send.
 */
static bool
xfer_may_half_close(const struct xfer_slot *slot)
{
	return slot->data_fd != CURL_SOCKET_BAD && slot->req.expect > 0 &&
	    !slot->x->opts.tls_required &&
	    strncmp(slot->req.url, "ftps:", 5) != 0;
}

/*
 * The last byte of a download is in.  Some servers (proftpd, vsftpd)
 * send the final reply only once the client has closed the data
 * connection, and libcurl 7.88 waits for that reply in a blocking poll: a
 * round trip per file in which no other connection moves.  With such a
 * server (seen in xfer_note_reply) data connections are half-closed from
 * the start (xfer_linger_early); one that began before the switch is
 * half-closed now.  Once a download failed that way (XFER_LINGER_ON),
 * half-close the data connection only now and pause the transfer until
 * the reply is readable (xfer_drive watches for it); libcurl then finds
 * it there.  Returns true when paused.
 */
static bool
xfer_linger(struct xfer_slot *slot)
{
	struct xfer *x = slot->x;
	struct pollfd pfd;

	if ((x->linger != XFER_LINGER_ON && x->linger != XFER_LINGER_EARLY) ||
	    !xfer_may_half_close(slot))
		return false;
	if (x->linger == XFER_LINGER_EARLY) {
		/*
		 * The reply follows the data closely, often read by libcurl
		 * together with the 150, where no poll can see it: no pause.
		 * (A download started before the switch is closed only now.)
		 */
		if (!slot->fin_sent)
			(void)shutdown(slot->data_fd, SHUT_WR);
		return false;
	}
	if ((pfd.fd = xfer_ctrl_fd(x, slot->ctrl_local)) == CURL_SOCKET_BAD ||
	    shutdown(slot->data_fd, SHUT_WR) == -1)
		return false;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 0)
		return false;		/* the reply is there already */
	slot->paused = true;
	slot->wait_fd = pfd.fd;
	return true;
}

/*
 * With a server that waits for our close (XFER_LINGER_EARLY), close our
 * side of a download's data connection as soon as it is connected (its
 * RETR goes out in the same action): the server's wait then ends with
 * its last byte, and its reply follows the data instead of coming a
 * round trip later.  We never send on it.
 */
static void
xfer_linger_early(struct xfer *x, curl_socket_t fd)
{
	struct sockaddr_storage ss;
	struct xfer_slot *slot;
	socklen_t len;
	int i;

	if (x->linger != XFER_LINGER_EARLY)
		return;
	for (i = 0; i < x->nslots; i++) {
		slot = &x->slots[i];
		if (!slot->busy || slot->data_fd != fd || slot->fin_sent ||
		    !xfer_may_half_close(slot))
			continue;
		/* A socket still connecting would have its connect aborted. */
		len = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1 ||
		    shutdown(fd, SHUT_WR) == -1)
			return;
		slot->fin_sent = true;
		if (!x->early_seen) {
			x->early_seen = true;
			log_debug("first data connection half-closed as soon "
			    "as connected");
		}
		return;
	}
}

/*
 * The job's bandwidth cap, shared by its connections: may len bytes be
 * taken now?  libcurl's own limit (7.88) reads bursts of megabytes and then
 * waits seconds, which its low-speed check takes for a stall, and lets the
 * bursts through anyway; a transfer paused here is not speed-checked, and
 * the kernel's receive window holds the server back meanwhile.  At most a
 * quarter second of unused allowance is saved; a chunk may overdraw it.
 */
static bool
xfer_rate_allows(struct xfer *x, size_t len)
{
	int64_t now;
	double most;

	if (x->opts.max_recv_speed <= 0)
		return true;
	now = xfer_now_us();
	most = (double)x->opts.max_recv_speed / 4;
	x->tokens += (double)x->opts.max_recv_speed *
	    (double)(now - x->tokens_at) / 1e6;
	if (x->tokens > most)
		x->tokens = most;
	x->tokens_at = now;
	if (x->tokens <= 0)
		return false;
	x->tokens -= (double)len;
	return true;
}

/* Microseconds until the bandwidth cap allows bytes again. */
static int64_t
xfer_rate_wait(const struct xfer *x)
{
	if (x->tokens > 0)
		return 0;
	return (int64_t)(-x->tokens * 1e6 /
	    (double)x->opts.max_recv_speed) + 1;
}

/* Is a transfer waiting for the bandwidth cap? */
static bool
xfer_rate_waiting(const struct xfer *x)
{
	int i;

	for (i = 0; x->opts.max_recv_speed > 0 && i < x->nslots; i++)
		if (x->slots[i].rate_paused)
			return true;
	return false;
}

static void xfer_finish(struct xfer *x, struct xfer_slot *slot,
    CURLcode code);

/*
 * Let the transfers waiting for the cap go on, once it allows, each in
 * turn: the first resumed takes the allowance (a chunk may overdraw it),
 * so the next refill starts with the one after it.
 */
static void
xfer_rate_resume(struct xfer *x)
{
	struct xfer_slot *slot;
	CURLcode rc;
	int i, k;

	if (x->opts.max_recv_speed <= 0 || xfer_now_us() - x->tokens_at <
	    xfer_rate_wait(x))
		return;
	for (k = 0; k < x->nslots; k++) {
		i = (x->rate_next + k) % x->nslots;
		slot = &x->slots[i];
		if (!slot->rate_paused)
			continue;
		x->rate_next = i + 1;
		slot->rate_paused = false;
		/* Hands the held bytes to on_data again, which may fail. */
		if ((rc = curl_easy_pause(slot->easy, CURLPAUSE_CONT)) !=
		    CURLE_OK)
			xfer_finish(x, slot, rc);
		if (x->tokens <= 0)
			break;
	}
}

static size_t
xfer_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer_slot *slot = userdata;
	size_t len = size * nmemb;

	if (slot->req.on_data == NULL)
		return len;
	if (!xfer_rate_allows(slot->x, len)) {
		slot->rate_paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	/* libcurl hands the same bytes again when the transfer resumes. */
	if (slot->last_byte_at == 0 && slot->req.expect > 0 &&
	    slot->received + (int64_t)len >= slot->req.expect) {
		slot->last_byte_at = xfer_now_us();
		if (xfer_linger(slot)) {
			if (slot->x->opts.max_recv_speed > 0)
				slot->x->tokens += (double)len; /* again then */
			return CURL_WRITEFUNC_PAUSE;
		}
	}
	if (slot->req.on_data(slot->req.arg, ptr, len) == -1) {
		slot->data_failed = 1;
		return 0;	/* makes libcurl stop with CURLE_WRITE_ERROR */
	}
	slot->received += (int64_t)len;
	return len;
}

/*
 * Keep a final reply line ("421 Too many connections"), printable and cut
 * to size: its words say more than libcurl's for an error (which reads
 * "Timeout was reached" for a 421).
 */
static void
xfer_keep_reply(struct xfer_slot *slot, const char *line, size_t len)
{
	if (len < 4 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || line[3] != ' ')
		return;
	reply_printable(slot->last_reply, sizeof(slot->last_reply), line, len);
}

static size_t
xfer_header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer_slot *slot = userdata;
	size_t len = size * nmemb;

	xfer_keep_reply(slot, ptr, len);
	if (slot->req.on_reply)
		slot->req.on_reply(slot->req.arg, ptr, len);
	return len;
}

/*
 * With --verbose, log each protocol line.  The password never reaches the
 * log: a PASS command is shown masked.
 */
static int
xfer_debug_cb(CURL *easy, curl_infotype type, char *data, size_t size,
    void *userdata)
{
	const char *dir;
	int len;

	(void)easy;
	(void)userdata;
	if (type == CURLINFO_HEADER_OUT)
		dir = "->";
	else if (type == CURLINFO_HEADER_IN)
		dir = "<-";
	else
		return 0;
	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	len = size > 512 ? 512 : (int)size;
	if (type == CURLINFO_HEADER_OUT && size >= 5 &&
	    strncmp(data, "PASS ", 5) == 0)
		log_debug("%s PASS ****", dir);
	else
		log_debug("%s %.*s", dir, len, data);
	return 0;
}

/* libcurl's wish for socket fd: watch it for what, or no more. */
static int
xfer_socket_cb(CURL *easy, curl_socket_t fd, int what, void *clientp,
    void *socketp)
{
	struct xfer *x = clientp;
	struct xfer_slot *slot = NULL;
	struct xfer_watch *w;
	int i;

	(void)socketp;
	for (i = 0; i < x->nwatch; i++)
		if (x->watch[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < x->nwatch) {
			if (x->watch[i].slot != NULL)
				x->watch[i].slot->nwatched--;
			x->watch[i] = x->watch[--x->nwatch];
		}
		return 0;
	}
	if (i == x->nwatch) {
		if ((w = xfer_grow(x, x->watch, &x->capwatch, x->nwatch + 1,
		    sizeof(*w))) == NULL) {
			log_err("out of memory");
			return -1;	/* libcurl gives up: the run fails */
		}
		x->watch = w;
		x->watch[x->nwatch].fd = fd;
		x->watch[x->nwatch++].slot = NULL;
		if (what & CURL_POLL_OUT)
			x->connecting = fd;
	}
	x->watch[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0));
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &slot);
	if (x->watch[i].slot != slot) {
		if (x->watch[i].slot != NULL)
			x->watch[i].slot->nwatched--;
		if ((x->watch[i].slot = slot) != NULL)
			slot->nwatched++;
	}
	if (slot != NULL)
		slot->nudged = false;
	return 0;
}

/* libcurl's wish to be called back in timeout_ms (-1: never). */
static int
xfer_timer_cb(CURLM *multi, long timeout_ms, void *clientp)
{
	struct xfer *x = clientp;

	(void)multi;
	x->timer_at = timeout_ms < 0 ? -1 : xfer_now_us() + timeout_ms * 1000;
	return 0;
}

/*
 * Set the options every request shares, once per slot: a request then sets
 * only its own (xfer_start), instead of curl_easy_reset and all again.
 */
static void
xfer_setup_common(struct xfer *x, struct xfer_slot *slot)
{
	CURL *e = slot->easy;
	const struct xfer_opts *o = &x->opts;

	curl_easy_setopt(e, CURLOPT_PRIVATE, slot);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "ftp,ftps");
	if (o->netrc_file != NULL) {
		/* The netrc entry for the host names the login and password. */
		curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_REQUIRED);
		curl_easy_setopt(e, CURLOPT_NETRC_FILE, o->netrc_file);
	} else {
		curl_easy_setopt(e, CURLOPT_USERNAME, o->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, o->password);
	}
	/*
	 * Paths go to the server as written: the "./" of path_lead_guard
	 * must stay, and the probe's path is the listings' (path_url_path).
	 */
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_FTP_USE_EPSV, 1L);
	/* A PASV reply's address is ignored: data goes to the same host. */
	curl_easy_setopt(e, CURLOPT_FTP_SKIP_PASV_IP, 1L);
	if (!o->passive)
		curl_easy_setopt(e, CURLOPT_FTPPORT, "-");
	if (o->tls_required)
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, XFER_MAX_IDLE_SECS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)o->timeout);
	curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)o->timeout);
	/* "No progress for timeout seconds" is less than 1 byte/s that long. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->timeout);
	/*
	 * libcurl's default 16 KiB costs a poll, a recv and a write per 16 KiB;
	 * a big file then spends more time in system calls than on the wire.
	 */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, XFER_BUFFER_SIZE);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, slot);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, xfer_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, slot);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, xfer_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, slot);
	/* A connection may be closed through another slot's handle. */
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, xfer_close_socket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, x);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, xfer_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, slot);
	if (log_max_level() >= LOG_LEVEL_DEBUG) {
		curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, xfer_debug_cb);
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	}
}

/* Why our own engine (ftpconn.h) can't serve o's job, or NULL. */
static const char *
xfer_own_unfit(const struct xfer_opts *o)
{
	if (!o->pipelining)
		return "pipelining: false";
	if (o->url == NULL || strncmp(o->url, "ftp://", 6) != 0)
		return "not an ftp:// source";
	if (o->tls_required)
		return "TLS";
	if (!o->passive)
		return "active mode";
	if (o->netrc_file != NULL)
		return "a netrc file";
	if (o->max_recv_speed > 0)
		return "a bandwidth cap";
	return NULL;
}

/*
 * Our own engine for x, when it can serve: the server's host and port from
 * the job's URL, and a connection per slot.  Returns 1 when it does, 0
 * when libcurl's engine is to, -1 out of memory.
 */
static int
xfer_own_new(struct xfer *x)
{
	const char *why = xfer_own_unfit(&x->opts);
	char *host = NULL, *port = NULL;
	size_t n;
	CURLU *u;
	int i, rc = -1;

	if (why != NULL) {
		log_debug("own FTP engine not used: %s", why);
		return 0;
	}
	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, x->home, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		/* libcurl's engine names the fault, request by request. */
		log_debug("own FTP engine not used: a URL it cannot read");
		rc = 0;
		goto out;
	}
	/* getaddrinfo takes an IPv6 address without its brackets. */
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if ((x->own_host = strdup(host)) == NULL ||
	    (x->own_port = strdup(port)) == NULL ||
	    (x->own = calloc(1, sizeof(*x->own))) == NULL)
		goto out;
	x->own->host = x->own_host;
	x->own->port = x->own_port;
	x->own->user = x->user;
	x->own->password = x->password;
	x->own->timeout = x->opts.timeout;
	x->own->admitted = &x->admitted;
	x->own->pipe = FTPCONN_PIPE_PROBE;
	for (i = 0; i < x->nslots; i++)
		if ((x->slots[i].conn = ftpconn_new(x->own)) == NULL)
			goto out;
	/* At most a control and a data connection per slot. */
	if ((x->pfds = xfer_grow(x, x->pfds, &x->cappfds, 2 * x->nslots,
	    sizeof(*x->pfds))) == NULL)
		goto out;
	log_debug("own FTP engine: pipelining EPSV behind each transfer");
	rc = 1;
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* Create the engine with o->connections slots. */
struct xfer *
xfer_new(const struct xfer_opts *o)
{
	struct xfer *x;
	int i, own;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto oom;
	x->opts = *o;
	x->nslots = o->connections > 0 ? o->connections : 1;
	x->capacity = x->nslots;
	x->tokens_at = xfer_now_us();
	if ((x->user = strdup(o->user)) == NULL ||
	    (x->password = strdup(o->password)) == NULL ||
	    (o->ca_file && (x->ca_file = strdup(o->ca_file)) == NULL) ||
	    (o->netrc_file &&
	    (x->netrc_file = strdup(o->netrc_file)) == NULL) ||
	    (o->url && (x->home = strdup(o->url)) == NULL))
		goto oom;
	if ((x->slots = calloc((size_t)x->nslots, sizeof(*x->slots))) == NULL)
		goto oom;
	/*
	 * Between two reports each slot ends a request at most twice: once
	 * in xfer_drive, and once more if restarted before xfer_report.
	 */
	x->capended = 2 * x->nslots;
	if ((x->ended = calloc((size_t)x->capended,
	    sizeof(*x->ended))) == NULL)
		goto oom;
	x->opts.user = x->user;
	x->opts.password = x->password;
	x->opts.ca_file = x->ca_file;
	x->opts.netrc_file = x->netrc_file;
	x->opts.url = x->home;
	x->timer_at = -1;
	x->connecting = CURL_SOCKET_BAD;
	if ((own = xfer_own_new(x)) == -1)
		goto oom;
	if (own == 1)
		return x;
	if ((x->multi = curl_multi_init()) == NULL)
		goto oom;
	/*
	 * One connection per slot, and a cache that keeps them all: a
	 * finished request leaves its logged-in connection for the next.
	 */
	curl_multi_setopt(x->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)x->nslots);
	curl_multi_setopt(x->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)x->nslots);
	curl_multi_setopt(x->multi, CURLMOPT_MAXCONNECTS, (long)x->nslots);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, xfer_socket_cb);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, xfer_timer_cb);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
	for (i = 0; i < x->nslots; i++) {
		x->slots[i].x = x;
		x->slots[i].data_fd = CURL_SOCKET_BAD;
		if ((x->slots[i].easy = curl_easy_init()) == NULL)
			goto oom;
		xfer_setup_common(x, &x->slots[i]);
	}
	return x;
oom:
	log_err("out of memory starting the transfer engine");
	xfer_free(x);
	return NULL;
}

/* Close every connection and free the engine. */
void
xfer_free(struct xfer *x)
{
	int i;

	if (x == NULL)
		return;
	/* The multi handle goes first, by the logout thread or here. */
	if (x->closing)
		pthread_join(x->closer, NULL);
	else
		xfer_close_all(x);
	for (i = 0; x->slots && i < x->nslots; i++) {
		curl_easy_cleanup(x->slots[i].easy);
		ftpconn_free(x->slots[i].conn);
	}
	free(x->slots);
	free(x->own);
	free(x->own_host);
	free(x->own_port);
	free(x->watch);
	free(x->pfds);
	free(x->ended);
	free(x->parked);
	free(x->ctrl);
	if (x->password)
		memset(x->password, 0, strlen(x->password));
	free(x->user);
	free(x->password);
	free(x->ca_file);
	free(x->netrc_file);
	free(x->home);
	free(x);
}

static void *
xfer_closer(void *arg)
{
	xfer_close_all(arg);
	return NULL;
}

/*
 * Log out of every connection on a thread of its own: a round trip that
 * the caller's own work (publishing) can overlap.  Only xfer_free may use
 * x afterwards; it waits for the thread.  Without a thread, xfer_free
 * does the same work itself.
 */
void
xfer_hang_up(struct xfer *x)
{
	if (x == NULL || x->closing)
		return;
	xfer_abort(x);
	x->closing = thread_start(&x->closer, xfer_closer, x) == 0;
	if (!x->closing)
		log_debug("no thread for logging out; doing it at the end");
}

/* Number of free slots. */
int
xfer_idle(const struct xfer *x)
{
	int n = x->capacity - x->busy - x->nparked;

	return n > 0 ? n : 0;
}

/* Number of requests in flight, those waiting to start again too. */
int
xfer_busy(const struct xfer *x)
{
	return x->busy + x->nparked;
}

/* Start req on a free slot. */
int
xfer_start(struct xfer *x, const struct xfer_req *req)
{
	struct xfer_slot *slot = NULL;
	CURL *e;
	int i;

	for (i = 0; i < x->nslots; i++)
		if (!x->slots[i].busy) {
			slot = &x->slots[i];
			break;
		}
	if (slot == NULL)
		return -1;

	e = slot->easy;
	slot->req = *req;
	slot->errbuf[0] = '\0';
	slot->last_reply[0] = '\0';
	slot->data_failed = 0;
	slot->requesting = false;
	slot->data_fd = CURL_SOCKET_BAD;
	slot->data_opened = false;
	slot->received = 0;
	slot->last_byte_at = 0;
	slot->paused = false;
	slot->rate_paused = false;
	slot->nudged = false;
	slot->fin_sent = false;
	if (x->own != NULL) {
		if (ftpconn_start(slot->conn, req, xfer_now_us()) == -1)
			return -1;
		slot->busy = true;
		x->busy++;
		return 0;
	}
	if (req->quote != NULL &&
	    (slot->quote = curl_slist_append(NULL, req->quote)) == NULL) {
		log_err("out of memory");
		return -1;
	}
	/* Every option a request may set, set (or unset) each time. */
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	/*
	 * Name every file by its full path: no CWD per file, and a reused
	 * connection needs no CWD back to where it logged in.  With
	 * cwd_first, one CWD to the directory (libcurl goes back to the login
	 * directory before the next request that names a path).
	 */
	curl_easy_setopt(e, CURLOPT_FTP_FILEMETHOD, req->cwd_first ?
	    (long)CURLFTPMETHOD_SINGLECWD : (long)CURLFTPMETHOD_NOCWD);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
	    req->list_cmd && strcmp(req->list_cmd, "LIST") != 0 ?
	    req->list_cmd : NULL);
	/*
	 * As a pre-quote, the command goes out after libcurl's CWD back to
	 * the login directory (a listing with cwd_first leaves the
	 * connection elsewhere), so its relative path names the right file.
	 */
	curl_easy_setopt(e, CURLOPT_PREQUOTE, slot->quote);
	curl_easy_setopt(e, CURLOPT_NOBODY, req->nobody ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE,
	    (curl_off_t)(req->resume_from > 0 ? req->resume_from : 0));
	/*
	 * The listing gave the size: libcurl's SIZE before RETR would be a
	 * wasted round trip.  (With a resume libcurl needs SIZE to send
	 * REST, so it is kept then.)
	 */
	curl_easy_setopt(e, CURLOPT_IGNORE_CONTENT_LENGTH,
	    req->resume_from <= 0 && req->size_known ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_FILETIME, req->want_filetime ? 1L : 0L);

	if (curl_multi_add_handle(x->multi, e) != CURLM_OK) {
		log_err("cannot start a transfer of %s", req->url);
		curl_easy_setopt(e, CURLOPT_PREQUOTE, NULL);
		curl_slist_free_all(slot->quote);
		slot->quote = NULL;
		return -1;
	}
	slot->busy = true;
	x->busy++;
	return 0;
}

/* Is a failure worth another try? */
static bool
xfer_transient(CURLcode code, long reply)
{
	switch (code) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_REMOTE_FILE_NOT_FOUND:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_USE_SSL_FAILED:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_WRITE_ERROR:
		return false;
	case CURLE_FTP_COULDNT_RETR_FILE:
	case CURLE_QUOTE_ERROR:
		/* 4xx replies are transient by RFC 959, 5xx permanent */
		return reply < 500;
	default:
		return true;
	}
}

/* Run on_done of the requests that ended, oldest first. */
static void
xfer_deliver(struct xfer *x)
{
	struct xfer_ended e;

	/* Taken off first: an on_done may end (and queue) more requests. */
	while (x->nended > 0) {
		e = x->ended[0];
		memmove(&x->ended[0], &x->ended[1],
		    (size_t)--x->nended * sizeof(x->ended[0]));
		e.r.error = e.error;
		e.req.on_done(e.req.arg, &e.r);
	}
}

/*
 * Did slot's download end cut short, or stall, as when the server or a
 * middlebox takes a half-closed data connection for an abort?  Not a
 * refusal (550 for a file gone since its listing), a local write error or
 * our own abort.  A stall counts: the server may wait for a data
 * connection that something on the way tore down.
 */
static bool
xfer_cut_short(const struct xfer_slot *slot, CURLcode code, long reply)
{
	if (code == CURLE_OK)
		return slot->received < slot->req.expect;
	return !slot->data_failed && code != CURLE_ABORTED_BY_CALLBACK &&
	    code != CURLE_WRITE_ERROR && reply < 500;
}

/* Take slot out of the multi handle: free for the next request. */
static void
xfer_release(struct xfer *x, struct xfer_slot *slot)
{
	if (x->own == NULL) {
		curl_multi_remove_handle(x->multi, slot->easy);
		/* The handle lives on: no pointer to freed memory in it. */
		curl_easy_setopt(slot->easy, CURLOPT_PREQUOTE, NULL);
		curl_slist_free_all(slot->quote);
		slot->quote = NULL;
	}
	slot->busy = false;
	slot->paused = false;
	slot->rate_paused = false;
	x->busy--;
}

/*
 * Was slot's request turned away at the door (421 "too many connections",
 * or 530 from proftpd's MaxClientsPerHost) while another request got in,
 * or still may?  Then the server limits connections below the job's: go
 * on with one fewer.  With one connection left, or none other, it is a
 * failure as any other.
 */
static bool
xfer_turned_away(const struct xfer *x, const struct ftpconn_end *e)
{
	return e->code != CURLE_OK && !e->admitted && !x->logging_out &&
	    (x->admitted > 0 || x->busy > 1) && x->capacity > 1 &&
	    (e->reply == 421 || e->reply == 530);
}

/*
 * Did the request meet a connection the server had closed while it
 * idled (vsftpd's idle_session_timeout, proftpd's TimeoutIdle: a 421, or
 * the connection gone), before anything of the request was done?  libcurl
 * 7.88 reuses such a connection unless its once-a-second sweep found it
 * first.  Not the request's fault: a connection that was not reused is.
 * Nor is one that a server broke by acting on a pipelined command during
 * the transfer, before any of its data came.
 */
static bool
xfer_found_dead(const struct xfer *x, const struct ftpconn_end *e)
{
	if (e->code == CURLE_OK || x->logging_out || e->received > 0)
		return false;
	return e->engine_fault || (e->admitted && e->reused &&
	    !e->data_opened && (e->reply == 421 ||
	    e->code == CURLE_SEND_ERROR || e->code == CURLE_RECV_ERROR));
}

/*
 * A request that ended through no fault of its own (above) starts again,
 * parked until a connection is free, without a try spent: false when it
 * must be reported as it ended.
 */
static bool
xfer_park(struct xfer *x, struct xfer_slot *slot, const struct ftpconn_end *e)
{
	struct xfer_req *parked;
	char code[sizeof(e->last_reply)];
	bool away = xfer_turned_away(x, e);

	if (!away && !xfer_found_dead(x, e))
		return false;
	if ((parked = xfer_grow(x, x->parked, &x->capparked, x->nparked + 1,
	    sizeof(*parked))) == NULL)
		return false;
	x->parked = parked;
	x->parked[x->nparked++] = slot->req;
	if (away) {
		x->capacity--;
		if (e->last_reply[0] != '\0')
			snprintf(code, sizeof(code), "%s", e->last_reply);
		else
			snprintf(code, sizeof(code), "%ld", e->reply);
		log_warn("the server turned one more connection away (%s): "
		    "going on with %d", code, x->capacity);
	} else
		log_debug("a connection the server closed while it idled, or "
		    "a request pipelining broke (reply %ld): starting it "
		    "again", e->reply);
	xfer_release(x, slot);
	return true;
}

/* Start the requests turned away again, as connections come free. */
static void
xfer_unpark(struct xfer *x)
{
	struct xfer_req req;

	while (x->nparked > 0 && x->busy < x->capacity) {
		req = x->parked[0];
		memmove(&x->parked[0], &x->parked[1],
		    (size_t)--x->nparked * sizeof(x->parked[0]));
		if (xfer_start(x, &req) == -1) {
			/* Out of memory, logged: it waits, or xfer_abort. */
			memmove(&x->parked[1], &x->parked[0],
			    (size_t)x->nparked++ * sizeof(x->parked[0]));
			x->parked[0] = req;
			break;
		}
	}
}

/*
 * Queue how slot's request ended (e) for xfer_report, unless it starts
 * again (xfer_park): either way the slot is free for the next request at
 * once.
 */
static void
xfer_conclude(struct xfer *x, struct xfer_slot *slot,
    const struct ftpconn_end *e)
{
	struct xfer_ended *d;
	CURLcode code = (CURLcode)e->code;
	const char *why;

	if (xfer_park(x, slot, e))
		return;
	if (x->nended == x->capended)
		xfer_deliver(x);	/* not with the callers' order */
	d = &x->ended[x->nended++];
	d->req = slot->req;
	xfer_release(x, slot);

	memset(&d->r, 0, sizeof(d->r));
	d->r.code = e->code;
	d->r.reply = e->reply;
	d->r.bytes = e->received;
	d->r.filetime = e->filetime;
	why = e->error[0] ? e->error : curl_easy_strerror(code);
	/* libcurl's words for a reply can mislead (421 reads "timeout"). */
	if (code != CURLE_OK && e->reply >= 400 &&
	    strtol(e->last_reply, NULL, 10) == e->reply)
		snprintf(d->error, sizeof(d->error), "%s (server reply %s)",
		    why, e->last_reply);
	else if (code != CURLE_OK && e->reply >= 400)
		snprintf(d->error, sizeof(d->error), "%s (server reply %ld)",
		    why, e->reply);
	else
		snprintf(d->error, sizeof(d->error), "%s", why);
	d->r.transient = code != CURLE_OK && !e->data_failed &&
	    xfer_transient(code, e->reply);
	d->r.quote_rejected = code == CURLE_QUOTE_ERROR;
	d->r.file_refused = (code == CURLE_REMOTE_FILE_NOT_FOUND ||
	    code == CURLE_FTP_COULDNT_RETR_FILE) && e->reply >= 500 &&
	    e->reply < 600;
	d->r.retry_free = e->engine_fault;
}

/* libcurl's request on slot ended with code: how, for xfer_conclude. */
static void
xfer_finish(struct xfer *x, struct xfer_slot *slot, CURLcode code)
{
	struct ftpconn_end e;
	curl_off_t filetime = -1;
	curl_socket_t fd;
	long connects = 1;

	memset(&e, 0, sizeof(e));
	e.code = (int)code;
	curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &e.reply);
	curl_easy_getinfo(slot->easy, CURLINFO_NUM_CONNECTS, &connects);
	if (slot->req.want_filetime)
		curl_easy_getinfo(slot->easy, CURLINFO_FILETIME_T, &filetime);
	e.filetime = (int64_t)filetime;
	e.received = slot->received;
	e.admitted = slot->requesting;
	e.reused = connects == 0;
	e.data_opened = slot->data_opened;
	e.data_failed = slot->data_failed != 0;
	snprintf(e.error, sizeof(e.error), "%s", slot->errbuf);
	memcpy(e.last_reply, slot->last_reply, sizeof(e.last_reply));
	if (slot->fin_sent && x->linger == XFER_LINGER_EARLY &&
	    xfer_cut_short(slot, code, e.reply)) {
		/* The server, or something on the way, took it for an abort. */
		x->linger = XFER_LINGER_ON;
		log_debug("a download failed after an early half-close: "
		    "closing data connections when the last byte is in");
	}
	/* Logged out: libcurl's own QUIT at cleanup fails at once. */
	if (x->logging_out && code == CURLE_OK &&
	    (fd = xfer_ctrl_fd(x, slot->ctrl_local)) != CURL_SOCKET_BAD)
		(void)shutdown(fd, SHUT_WR);
	xfer_conclude(x, slot, &e);
}

/* How long a paused download waits for its reply (XFER_LINGER_WAITS). */
static int64_t
xfer_linger_limit(const struct xfer *x)
{
	int64_t limit = XFER_LINGER_WAITS * x->late_us;

	if (limit < XFER_LINGER_MIN_US)
		return XFER_LINGER_MIN_US;
	return limit > XFER_LINGER_MAX_US ? XFER_LINGER_MAX_US : limit;
}

/*
 * The paused downloads' control sockets, into pfd by slot order: returns
 * how many, and shortens *timeout_ms to the first that stops waiting.
 */
static int
xfer_linger_fds(struct xfer *x, struct pollfd *pfd, int *timeout_ms)
{
	struct xfer_slot *slot;
	int64_t now = 0, left;
	int i, n = 0;

	for (i = 0; i < x->nslots; i++) {
		slot = &x->slots[i];
		if (!slot->paused)
			continue;
		if (n == 0)
			now = xfer_now_us();
		left = (slot->last_byte_at + xfer_linger_limit(x) - now + 999) /
		    1000;
		if (left < *timeout_ms)
			*timeout_ms = left > 0 ? (int)left : 0;
		pfd[n].fd = slot->wait_fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	return n;
}

/*
 * Resume the paused downloads whose reply came (pfd, from
 * xfer_linger_fds), or that waited enough.
 */
static void
xfer_linger_end(struct xfer *x, const struct pollfd *pfd)
{
	struct xfer_slot *slot;
	int64_t now = xfer_now_us();
	CURLcode rc;
	bool more;
	char c;
	int i, n = 0;

	for (i = 0; i < x->nslots; i++) {
		slot = &x->slots[i];
		if (!slot->paused)
			continue;
		if (pfd[n++].revents == 0) {
			if (now - slot->last_byte_at < xfer_linger_limit(x))
				continue;
			/*
			 * Unless bytes past the listed size hold the server
			 * up, the reply is not coming (or already in
			 * libcurl's buffer): leave the ends to libcurl.
			 */
			more = recv(slot->data_fd, &c, 1, MSG_PEEK |
			    MSG_DONTWAIT) > 0;
			if (!more) {
				log_debug("no reply seen after a half-closed "
				    "data connection; leaving downloads' ends "
				    "to libcurl");
				x->linger = XFER_LINGER_OFF;
			}
		}
		slot->paused = false;
		/* Resuming hands on the held bytes: on_data may fail there. */
		if ((rc = curl_easy_pause(slot->easy, CURLPAUSE_CONT)) !=
		    CURLE_OK)
			xfer_finish(x, slot, rc);
	}
}

/* A download ended well: did its reply wait for our close (xfer_linger)? */
static void
xfer_note_reply(struct xfer *x, const struct xfer_slot *slot,
    int64_t done_at)
{
	int64_t wait;

	if (x->linger != XFER_LINGER_UNKNOWN || slot->last_byte_at == 0)
		return;
	wait = done_at - slot->last_byte_at;
	if (wait < XFER_LATE_REPLY_US) {
		x->prompt_replies++;
		return;
	}
	if (wait > x->late_us)
		x->late_us = wait;
	if (++x->late_replies < XFER_LATE_REPLIES ||
	    x->late_replies <= x->prompt_replies)
		return;
	x->linger = XFER_LINGER_EARLY;
	log_debug("the server answers a download only once its data "
	    "connection is closed: closing it as soon as it is connected");
}

/*
 * libcurl 7.88 can leave a request with no socket to wait on and no
 * timeout but the connect timeout: when the reply to EPSV comes within
 * the call that sent it (a server close by), the request stops before
 * connecting the data connection, which curl_multi_perform would start on
 * its next pass but the socket API never asks for.  Pausing and resuming
 * the transfer makes libcurl run it at once (its timeout is then due).
 * Once per stall: a transfer that waits on a timer alone (a speed limit)
 * has no socket either.
 */
static void
xfer_unstall(struct xfer *x)
{
	struct xfer_slot *slot;
	int i;

	for (i = 0; i < x->nslots; i++) {
		slot = &x->slots[i];
		if (!slot->busy || slot->paused || slot->nwatched > 0 ||
		    slot->nudged)
			continue;
		slot->nudged = true;
		if (curl_easy_pause(slot->easy, CURLPAUSE_RECV) == CURLE_OK)
			(void)curl_easy_pause(slot->easy, CURLPAUSE_CONT);
	}
}

/*
 * Hand libcurl one ready socket (or CURL_SOCKET_TIMEOUT), and queue the
 * requests that ended for xfer_report.  Returns 0 or -1.
 */
static int
xfer_act(struct xfer *x, curl_socket_t fd, int ev)
{
	CURLMsg *msg;
	CURLMcode mc;
	int64_t done_at;
	int running, left;

	if ((mc = curl_multi_socket_action(x->multi, fd, ev, &running)) !=
	    CURLM_OK) {
		log_err("transfer engine: %s", curl_multi_strerror(mc));
		return -1;
	}
	if (ev & CURL_CSELECT_OUT)
		xfer_linger_early(x, fd);
	done_at = xfer_now_us();
	while ((msg = curl_multi_info_read(x->multi, &left)) != NULL) {
		struct xfer_slot *slot = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &slot);
		if (slot == NULL || !slot->busy)
			continue;
		if (msg->data.result == CURLE_OK)
			xfer_note_reply(x, slot, done_at);
		xfer_finish(x, slot, msg->data.result);
	}
	xfer_unpark(x);
	xfer_unstall(x);
	return 0;
}

/* Run libcurl's timeout if it is due (a request just started is). */
static int
xfer_timeout(struct xfer *x)
{
	if (x->timer_at == -1 || xfer_now_us() < x->timer_at)
		return 0;
	x->timer_at = -1;	/* libcurl sets the next one */
	return xfer_act(x, CURL_SOCKET_TIMEOUT, 0);
}

/*
 * The ready socket to hand libcurl next, by index in x->pfds, or -1: they
 * take turns, so that none starves (libcurl also watches a connected data
 * socket for writing, which is always ready).
 */
static int
xfer_pick_ready(struct xfer *x, int n)
{
	int i, k;

	for (k = 0; k < n; k++) {
		i = (x->next_ready + k) % n;
		if (x->pfds[i].revents != 0) {
			x->next_ready = i + 1;
			return i;
		}
	}
	return -1;
}

/* What poll saw on a socket, in libcurl's terms. */
static int
xfer_events(short revents)
{
	int ev = 0;

	if (revents & (POLLIN | POLLHUP))
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLNVAL))
		ev |= CURL_CSELECT_ERR;
	return ev;
}

/*
 * A connection the last action began (a data connection, after a 229) is
 * often made at once: then hand it to libcurl before any other socket's
 * turn, so that its command (RETR) leaves now.
 */
static int
xfer_act_connected(struct xfer *x)
{
	struct pollfd pfd;

	if ((pfd.fd = x->connecting) == CURL_SOCKET_BAD)
		return 0;
	x->connecting = CURL_SOCKET_BAD;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 0) != 1)
		return 0;
	return xfer_act(x, pfd.fd, xfer_events(pfd.revents));
}

/*
 * Our own engine: wait up to timeout_ms for the connections' sockets (the
 * idle ones' too: a spare EPSV's reply, a server hanging up), and let each
 * act.  Every connection acts each time; there are few.
 */
static int
xfer_drive_own(struct xfer *x, int timeout_ms)
{
	struct xfer_slot *slot;
	int64_t now = xfer_now_us(), deadline, wait;
	int i, n = 0;

	deadline = now + (int64_t)timeout_ms * 1000;
	for (i = 0; i < x->nslots; i++) {
		slot = &x->slots[i];
		slot->pfd_at = n;
		slot->npfd = ftpconn_fds(slot->conn, x->pfds + n, &deadline);
		n += slot->npfd;
	}
	wait = deadline > now ? (deadline - now + 999) / 1000 : 0;
	if (poll(x->pfds, (nfds_t)n, (int)wait) == -1) {
		if (errno == EINTR)
			return 0;	/* a signal: the caller looks why */
		log_err("transfer engine: poll: %s", strerror(errno));
		return -1;
	}
	now = xfer_now_us();
	for (i = 0; i < x->nslots; i++) {
		slot = &x->slots[i];
		if (ftpconn_act(slot->conn, x->pfds + slot->pfd_at,
		    slot->npfd, now) && slot->busy)
			xfer_conclude(x, slot, ftpconn_result(slot->conn));
	}
	xfer_unpark(x);
	return 0;
}

/*
 * Wait up to timeout_ms for one of libcurl's sockets, and hand it the
 * first ready one only: the caller then starts the next request of a
 * connection whose request ended before anything else is done.
 */
int
xfer_drive(struct xfer *x, int timeout_ms)
{
	struct pollfd *pfds;
	int64_t wait;
	int i, n, nwait;

	if (x->own != NULL)
		return xfer_drive_own(x, timeout_ms);

	if ((pfds = xfer_grow(x, x->pfds, &x->cappfds, x->nwatch + x->nslots,
	    sizeof(*pfds))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	x->pfds = pfds;
	for (n = 0; n < x->nwatch; n++) {
		x->pfds[n].fd = x->watch[n].fd;
		x->pfds[n].events = x->watch[n].events;
		x->pfds[n].revents = 0;
	}
	nwait = xfer_linger_fds(x, x->pfds + n, &timeout_ms);
	if (x->timer_at != -1) {
		wait = (x->timer_at - xfer_now_us() + 999) / 1000;
		if (wait < timeout_ms)
			timeout_ms = wait > 0 ? (int)wait : 0;
	}
	if (xfer_rate_waiting(x)) {
		wait = (x->tokens_at + xfer_rate_wait(x) - xfer_now_us() +
		    999) / 1000;
		if (wait < timeout_ms)
			timeout_ms = wait > 0 ? (int)wait : 0;
	}
	if (poll(x->pfds, (nfds_t)(n + nwait), timeout_ms) == -1) {
		if (errno == EINTR)
			return 0;	/* a signal: the caller looks why */
		log_err("transfer engine: poll: %s", strerror(errno));
		return -1;
	}
	if (nwait > 0)
		xfer_linger_end(x, x->pfds + n);
	xfer_rate_resume(x);
	if ((i = xfer_pick_ready(x, n)) != -1) {
		x->connecting = CURL_SOCKET_BAD;
		if (xfer_act(x, x->pfds[i].fd,
		    xfer_events(x->pfds[i].revents)) == -1 ||
		    xfer_act_connected(x) == -1)
			return -1;
	}
	return xfer_timeout(x);
}

/*
 * Let the requests started since go out (libcurl starts them from its
 * timeout), then report the requests that ended.
 */
int
xfer_report(struct xfer *x)
{
	int rc, n;

	rc = xfer_timeout(x);
	n = x->nended;
	xfer_deliver(x);
	return rc == -1 ? -1 : n;
}

/* Wait for activity, drive the transfers, report those that ended. */
int
xfer_pump(struct xfer *x, int timeout_ms)
{
	int rc;

	/* Even after a failure the ended requests are reported. */
	rc = xfer_drive(x, timeout_ms);
	if (xfer_report(x) == -1)
		rc = -1;
	return rc;
}

/* Stop every request in flight, each reported as aborted. */
void
xfer_abort(struct xfer *x)
{
	struct xfer_ended e;
	int i;

	for (i = 0; x->slots && i < x->nslots; i++) {
		if (!x->slots[i].busy)
			continue;
		if (x->own != NULL) {
			ftpconn_abort(x->slots[i].conn);
			xfer_conclude(x, &x->slots[i],
			    ftpconn_result(x->slots[i].conn));
		} else
			xfer_finish(x, &x->slots[i],
			    CURLE_ABORTED_BY_CALLBACK);
	}
	xfer_deliver(x);
	/* Those waiting for a connection end too, unstarted. */
	while (x->nparked > 0) {
		memset(&e, 0, sizeof(e));
		e.req = x->parked[--x->nparked];
		e.r.code = CURLE_ABORTED_BY_CALLBACK;
		e.r.filetime = -1;
		e.r.error = "stopped before it could start again";
		e.req.on_done(e.req.arg, &e.r);
	}
}

static void
xfer_quit_done(void *arg, const struct xfer_result *r)
{
	(void)arg;
	if (r->code != 0)
		log_debug("logging out: %s", r->error);
}

/*
 * Log out of every connection at once.  libcurl's cleanup sends each
 * cached connection its QUIT and waits for the reply, one connection
 * after another; here every live connection gets a request of QUIT alone,
 * all in flight together, each half-closed once answered (xfer_finish).
 * A connection the server has dropped (readable while idle) gets none,
 * and a QUIT request may not open a connection (xfer_open_socket): that
 * would log in only to log out.  Nothing else runs from here on.
 */
static void
xfer_log_out(struct xfer *x)
{
	struct xfer_req req;
	struct pollfd pfd;
	int64_t deadline;
	int i, live = 0;

	if (x->home == NULL)
		return;
	for (i = 0; i < x->nctrl; i++) {
		pfd.fd = x->ctrl[i].fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) == 0)
			live++;
	}
	memset(&req, 0, sizeof(req));
	req.url = x->home;
	req.quote = "QUIT";
	req.nobody = true;
	req.on_done = xfer_quit_done;
	x->logging_out = true;
	while (live-- > 0 && xfer_start(x, &req) == 0)
		;
	deadline = xfer_now_us() + (int64_t)x->opts.timeout * 1000000;
	while (x->busy > 0 && xfer_now_us() < deadline)
		if (xfer_pump(x, 250) == -1)
			break;
	xfer_abort(x);
}

/* Stop what runs, log out and close every connection. */
static void
xfer_close_all(struct xfer *x)
{
	int i;

	xfer_abort(x);
	if (x->own != NULL) {
		/* Each QUIT goes out; no reply is waited for. */
		for (i = 0; i < x->nslots; i++) {
			ftpconn_free(x->slots[i].conn);
			x->slots[i].conn = NULL;
		}
		return;
	}
	xfer_log_out(x);
	curl_multi_cleanup(x->multi);
}
