/*
 * xfer.c: one worker thread per slot, each with its own libcurl easy
 * handle, whose connection cache keeps the slot's control connection
 * logged in between requests.  A thread per connection rather than one
 * multi handle: libcurl 7.88 waits for an FTP transfer's final reply with
 * a blocking poll, and with servers that send it only after the client
 * has closed the data connection (proftpd) that wait, one round trip per
 * file, stalled every other connection of a multi loop.
 *
 * The workers do nothing but network I/O.  Every callback of a request
 * (data, reply lines, protocol lines for the log, the end) is handed to
 * the main thread, which runs it inside xfer_pump while the worker waits
 * for the answer; so callers see the same single-threaded engine as
 * before, and no SQLite or file state is shared between threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "xfer.h"

/* What a worker asks the main thread to run. */
enum xfer_call {
	XFER_CALL_NONE,
	XFER_CALL_DATA,		/* req.on_data(buf, len) */
	XFER_CALL_REPLY,	/* req.on_reply(buf, len) */
	XFER_CALL_LOG_OUT,	/* a command sent, for the debug log */
	XFER_CALL_LOG_IN,	/* a reply line received, likewise */
	XFER_CALL_DONE		/* the request ended with code */
};

struct xfer;

struct xfer_slot {
	struct xfer	*x;
	CURL		*easy;		/* the worker's while a request runs */
	pthread_t	 thread;
	bool		 started;	/* thread runs */
	bool		 busy;		/* main: a request is assigned */
	struct xfer_req	 req;		/* the request in flight */
	struct curl_slist *quote;
	char		 errbuf[CURL_ERROR_SIZE];
	char		 error[CURL_ERROR_SIZE + 64]; /* errbuf and the reply */
	int		 data_failed;	/* on_data asked to stop */
	atomic_bool	 abort;		/* main: stop this request */
	/* Under x->lock: */
	bool		 go;		/* main -> worker: run req */
	bool		 quit;		/* main -> worker: exit */
	enum xfer_call	 call;		/* worker -> main, NONE when served */
	const char	*call_buf;
	size_t		 call_len;
	int		 call_result;
	CURLcode	 code;		/* how the request ended */
};

struct xfer {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* workers wait here */
	int		 wake[2];	/* a worker's call wakes xfer_pump */
	struct xfer_slot *slots;
	int		 nslots;
	int		 busy;
	char		*user;
	char		*password;
	char		*ca_file;
	char		*netrc_file;
	struct xfer_opts opts;
};

/* Per connection; libcurl allows up to 512 KiB. */
#define XFER_BUFFER_SIZE	(256L * 1024)

/*
 * In a worker: have the main thread run a callback, and wait until it has.
 * Returns its result.
 */
static int
xfer_call(struct xfer_slot *slot, enum xfer_call call, const char *buf,
    size_t len)
{
	struct xfer *x = slot->x;
	int rc;

	pthread_mutex_lock(&x->lock);
	slot->call = call;
	slot->call_buf = buf;
	slot->call_len = len;
	/* A full pipe already holds a wake-up: nothing is lost. */
	(void)!write(x->wake[1], "", 1);
	while (slot->call != XFER_CALL_NONE)
		pthread_cond_wait(&x->cond, &x->lock);
	rc = slot->call_result;
	pthread_mutex_unlock(&x->lock);
	return rc;
}

static size_t
xfer_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer_slot *slot = userdata;
	size_t len = size * nmemb;

	if (atomic_load(&slot->abort))
		return 0;
	if (slot->req.on_data == NULL)
		return len;
	if (xfer_call(slot, XFER_CALL_DATA, ptr, len) == -1) {
		slot->data_failed = 1;
		return 0;	/* makes libcurl stop with CURLE_WRITE_ERROR */
	}
	return len;
}

static size_t
xfer_header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer_slot *slot = userdata;
	size_t len = size * nmemb;

	if (atomic_load(&slot->abort))
		return 0;
	if (slot->req.on_reply)
		xfer_call(slot, XFER_CALL_REPLY, ptr, len);
	return len;
}

/* Lets xfer_abort stop a request even while libcurl waits for a reply. */
static int
xfer_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer_slot *slot = userdata;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&slot->abort) ? 1 : 0;
}

/* With --verbose, each protocol line goes to the log via the main thread. */
static int
xfer_debug_cb(CURL *easy, curl_infotype type, char *data, size_t size,
    void *userdata)
{
	(void)easy;
	if (type == CURLINFO_HEADER_OUT)
		xfer_call(userdata, XFER_CALL_LOG_OUT, data, size);
	else if (type == CURLINFO_HEADER_IN)
		xfer_call(userdata, XFER_CALL_LOG_IN, data, size);
	return 0;
}

/* Log a protocol line.  The password never reaches the log. */
static void
xfer_log_line(bool out, const char *data, size_t size)
{
	const char *dir = out ? "->" : "<-";
	int len;

	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	len = size > 512 ? 512 : (int)size;
	if (out && size >= 5 && strncmp(data, "PASS ", 5) == 0)
		log_debug("%s PASS ****", dir);
	else
		log_debug("%s %.*s", dir, len, data);
}

/* A slot's thread: run each request handed to it until told to quit. */
static void *
xfer_worker(void *arg)
{
	struct xfer_slot *slot = arg;
	struct xfer *x = slot->x;

	pthread_mutex_lock(&x->lock);
	for (;;) {
		while (!slot->go && !slot->quit)
			pthread_cond_wait(&x->cond, &x->lock);
		if (slot->quit)
			break;
		slot->go = false;
		pthread_mutex_unlock(&x->lock);
		slot->code = curl_easy_perform(slot->easy);
		xfer_call(slot, XFER_CALL_DONE, NULL, 0);
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* Start the slots' threads; signals stay with the main thread. */
static int
xfer_start_workers(struct xfer *x)
{
	sigset_t all, old;
	int i, rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < x->nslots && rc == 0; i++) {
		if ((rc = pthread_create(&x->slots[i].thread, NULL, xfer_worker,
		    &x->slots[i])) == 0)
			x->slots[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = rc;
	return rc == 0 ? 0 : -1;
}

/* Create the engine with o->connections slots. */
struct xfer *
xfer_new(const struct xfer_opts *o)
{
	struct xfer *x;
	int i;

	errno = ENOMEM;		/* what libcurl's failures below mean */
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto fail;
	x->wake[0] = x->wake[1] = -1;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	x->opts = *o;
	x->nslots = o->connections > 0 ? o->connections : 1;
	if ((x->user = strdup(o->user)) == NULL ||
	    (x->password = strdup(o->password)) == NULL ||
	    (o->ca_file && (x->ca_file = strdup(o->ca_file)) == NULL) ||
	    (o->netrc_file && (x->netrc_file = strdup(o->netrc_file)) == NULL))
		goto fail;
	x->opts.user = x->user;
	x->opts.password = x->password;
	x->opts.ca_file = x->ca_file;
	x->opts.netrc_file = x->netrc_file;
	if ((x->slots = calloc((size_t)x->nslots, sizeof(*x->slots))) == NULL)
		goto fail;
	for (i = 0; i < x->nslots; i++) {
		x->slots[i].x = x;
		atomic_init(&x->slots[i].abort, false);
		if ((x->slots[i].easy = curl_easy_init()) == NULL)
			goto fail;
	}
	if (pipe2(x->wake, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    xfer_start_workers(x) == -1)
		goto fail;
	return x;
fail:
	log_err("cannot start the transfer engine: %s", strerror(errno));
	xfer_free(x);
	return NULL;
}

/* Stop the threads, close every connection and free the engine. */
void
xfer_free(struct xfer *x)
{
	int i;

	if (x == NULL)
		return;
	xfer_abort(x);
	pthread_mutex_lock(&x->lock);
	for (i = 0; x->slots && i < x->nslots; i++)
		x->slots[i].quit = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	for (i = 0; x->slots && i < x->nslots; i++) {
		if (x->slots[i].started)
			pthread_join(x->slots[i].thread, NULL);
		curl_easy_cleanup(x->slots[i].easy);
	}
	free(x->slots);
	for (i = 0; i < 2; i++)
		if (x->wake[i] != -1)
			close(x->wake[i]);
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	if (x->password)
		memset(x->password, 0, strlen(x->password));
	free(x->user);
	free(x->password);
	free(x->ca_file);
	free(x->netrc_file);
	free(x);
}

/* Number of free slots. */
int
xfer_idle(const struct xfer *x)
{
	return x->nslots - x->busy;
}

/* Number of requests in flight. */
int
xfer_busy(const struct xfer *x)
{
	return x->busy;
}

/* Set the options every request shares. */
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
	 * Name every file by its full path: no CWD per file, and a reused
	 * connection needs no CWD back to where it logged in.
	 */
	curl_easy_setopt(e, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_NOCWD);
	curl_easy_setopt(e, CURLOPT_FTP_USE_EPSV, 1L);
	/* A PASV reply's address is ignored: data goes to the same host. */
	curl_easy_setopt(e, CURLOPT_FTP_SKIP_PASV_IP, 1L);
	if (!o->passive)
		curl_easy_setopt(e, CURLOPT_FTPPORT, "-");
	if (o->tls_required)
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)o->timeout);
	curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)o->timeout);
	/* "No progress for timeout seconds" is less than 1 byte/s that long. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)o->timeout);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (o->max_recv_speed > 0)
		curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE,
		    (curl_off_t)o->max_recv_speed);
	/*
	 * libcurl's default 16 KiB costs a poll, a recv and a write per 16 KiB;
	 * a big file then spends more time in system calls than on the wire.
	 */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, XFER_BUFFER_SIZE);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, slot);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, xfer_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, slot);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xfer_progress_cb);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, slot);
	if (log_max_level() >= LOG_LEVEL_DEBUG) {
		curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, xfer_debug_cb);
		curl_easy_setopt(e, CURLOPT_DEBUGDATA, slot);
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	}
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
	curl_easy_reset(e);
	slot->req = *req;
	slot->errbuf[0] = '\0';
	slot->data_failed = 0;
	xfer_setup_common(x, slot);
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	if (req->list_cmd && strcmp(req->list_cmd, "LIST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->list_cmd);
	if (req->quote) {
		if ((slot->quote = curl_slist_append(NULL, req->quote)) == NULL) {
			log_err("out of memory");
			return -1;
		}
		curl_easy_setopt(e, CURLOPT_QUOTE, slot->quote);
	}
	if (req->nobody)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (req->resume_from > 0)
		curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE,
		    (curl_off_t)req->resume_from);
	else if (req->size_known)
		/*
		 * The listing gave the size: libcurl's SIZE before RETR
		 * would be a wasted round trip.  (With a resume libcurl
		 * needs SIZE to send REST, so it is kept then.)
		 */
		curl_easy_setopt(e, CURLOPT_IGNORE_CONTENT_LENGTH, 1L);
	if (req->want_filetime)
		curl_easy_setopt(e, CURLOPT_FILETIME, 1L);

	slot->busy = true;
	x->busy++;
	pthread_mutex_lock(&x->lock);
	slot->go = true;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
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

/* Did we fail to get a usable session at all? */
static bool
xfer_refused(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_LOGIN_DENIED:
	case CURLE_FTP_WEIRD_SERVER_REPLY:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* Report how slot's request ended; the slot is free again. */
static void
xfer_finish(struct xfer *x, struct xfer_slot *slot, CURLcode code)
{
	struct xfer_result r;
	struct xfer_req req = slot->req;
	curl_off_t bytes = 0, filetime = -1;
	long reply = 0;

	curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &reply);
	curl_easy_getinfo(slot->easy, CURLINFO_SIZE_DOWNLOAD_T, &bytes);
	if (req.want_filetime)
		curl_easy_getinfo(slot->easy, CURLINFO_FILETIME_T, &filetime);
	curl_slist_free_all(slot->quote);
	slot->quote = NULL;
	slot->busy = false;
	x->busy--;

	memset(&r, 0, sizeof(r));
	r.code = (int)code;
	r.reply = reply;
	r.bytes = (int64_t)bytes;
	r.filetime = (int64_t)filetime;
	r.error = slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(code);
	/* libcurl's words for a reply can mislead (421 reads "timeout"). */
	if (code != CURLE_OK && reply >= 400) {
		snprintf(slot->error, sizeof(slot->error), "%s (server reply %ld)",
		    r.error, reply);
		r.error = slot->error;
	}
	r.transient = code != CURLE_OK && !slot->data_failed &&
	    xfer_transient(code, reply);
	r.refused_connect = xfer_refused(code);
	r.quote_rejected = code == CURLE_QUOTE_ERROR;
	req.on_done(req.arg, &r);
}

/*
 * Run the callback slot's worker waits for, if any, and release it.
 * Returns 1 when that ended the slot's request.
 */
static int
xfer_serve(struct xfer *x, struct xfer_slot *slot)
{
	enum xfer_call call;
	const char *buf;
	size_t len;
	int rc = 0;

	pthread_mutex_lock(&x->lock);
	call = slot->call;
	buf = slot->call_buf;
	len = slot->call_len;
	pthread_mutex_unlock(&x->lock);
	switch (call) {
	case XFER_CALL_NONE:
		return 0;
	case XFER_CALL_DATA:
		rc = atomic_load(&slot->abort) ? -1 :
		    slot->req.on_data(slot->req.arg, buf, len);
		break;
	case XFER_CALL_REPLY:
		slot->req.on_reply(slot->req.arg, buf, len);
		break;
	case XFER_CALL_LOG_OUT:
	case XFER_CALL_LOG_IN:
		xfer_log_line(call == XFER_CALL_LOG_OUT, buf, len);
		break;
	case XFER_CALL_DONE:
		/* The worker waits, so its handle is ours to read. */
		xfer_finish(x, slot, atomic_load(&slot->abort) ?
		    CURLE_ABORTED_BY_CALLBACK : slot->code);
		break;
	}
	pthread_mutex_lock(&x->lock);
	slot->call_result = rc;
	slot->call = XFER_CALL_NONE;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	return call == XFER_CALL_DONE;
}

static int64_t
xfer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run the workers' calls for up to timeout_ms, returning early once a
 * request has ended (a slot is free for the caller) or a signal came.
 * Data alone does not return: the caller would find nothing new to start.
 */
int
xfer_pump(struct xfer *x, int timeout_ms)
{
	struct pollfd pfd;
	char drain[64];
	int64_t deadline = xfer_now_ms() + timeout_ms, left;
	int i, n, ended = 0;

	pfd.fd = x->wake[0];
	pfd.events = POLLIN;
	for (;;) {
		left = deadline - xfer_now_ms();
		if ((n = poll(&pfd, 1, left > 0 ? (int)left : 0)) == -1) {
			if (errno == EINTR)
				return 0;	/* the caller looks at its flags */
			log_err("transfer engine: poll: %s", strerror(errno));
			return -1;
		}
		/* Drained first: a call made after this writes a new byte. */
		while (read(x->wake[0], drain, sizeof(drain)) > 0)
			continue;
		for (i = 0; i < x->nslots; i++)
			ended += xfer_serve(x, &x->slots[i]);
		if (ended > 0 || n == 0 || left <= 0)
			return 0;
	}
}

/*
 * Stop every request in flight, each reported as aborted.  A worker sees
 * the flag at its next callback; libcurl calls the progress callback at
 * least once a second, even while it waits for a reply.
 */
void
xfer_abort(struct xfer *x)
{
	int i;

	for (i = 0; x->slots && i < x->nslots; i++)
		if (x->slots[i].busy)
			atomic_store(&x->slots[i].abort, true);
	while (x->busy > 0)
		if (xfer_pump(x, 100) == -1)
			break;
	for (i = 0; x->slots && i < x->nslots; i++)
		atomic_store(&x->slots[i].abort, false);
}
