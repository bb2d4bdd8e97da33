/*
 * verify.c: digests with OpenSSL's EVP interface, manifest and hash-reply
 * parsing (pure), and the external verify_command run under a time limit
 * in its own process group, so a hung scanner is killed whole.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "verify.h"

/* Hex digits of the algorithm's digest. */
size_t
verify_hex_len(enum verify_algo algo)
{
	return algo == VERIFY_SHA256 ? 64 : algo == VERIFY_SHA1 ? 40 : 32;
}

static const EVP_MD *
verify_md(enum verify_algo algo)
{
	return algo == VERIFY_SHA256 ? EVP_sha256() : algo == VERIFY_SHA1 ?
	    EVP_sha1() : EVP_md5();
}

/* The digest of fd's contents as lowercase hex. */
int
verify_digest_fd(int fd, enum verify_algo algo, char *hex, size_t len)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	ssize_t n;
	off_t off = 0;
	int rc = -1;

	if (len < verify_hex_len(algo) + 1 ||
	    (ctx = EVP_MD_CTX_new()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (EVP_DigestInit_ex(ctx, verify_md(algo), NULL) != 1)
		goto out;
	while ((n = pread(fd, buf, sizeof(buf), off)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Is s[0..n) all hex digits?  Copies it, lowercased, to hex. */
static bool
verify_hex(const char *s, size_t n, char *hex, size_t hexlen)
{
	size_t i;

	if (n + 1 > hexlen)
		return false;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		hex[i] = (char)tolower((unsigned char)s[i]);
	}
	hex[n] = '\0';
	return true;
}

/* Find name in a manifest; see verify.h. */
int
verify_manifest_lookup(const char *text, size_t len, const char *name,
    enum verify_algo algo, char *hex, size_t hexlen)
{
	const char *line = text, *end = text + len, *nl, *sp, *fname;
	size_t want = verify_hex_len(algo), llen, nlen;

	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		llen = (size_t)(nl - line);
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		sp = memchr(line, ' ', llen);
		if (sp == NULL) {
			/* FILE.sha256 may hold the digest alone. */
			if (name == NULL && llen == want)
				return verify_hex(line, llen, hex, hexlen) ?
				    1 : -1;
			continue;
		}
		fname = sp + 1;
		/* "HEX  name" (text mode) or "HEX *name" (binary mode) */
		if (fname < line + llen && (*fname == ' ' || *fname == '*'))
			fname++;
		nlen = (size_t)(line + llen - fname);
		if (name != NULL && (strlen(name) != nlen ||
		    memcmp(fname, name, nlen) != 0))
			continue;
		if ((size_t)(sp - line) != want)
			return -1;
		return verify_hex(line, want, hex, hexlen) ? 1 : -1;
	}
	return 0;
}

/* The digest in a hash reply; see verify.h. */
int
verify_parse_hash_reply(const char *reply, size_t len,
    enum verify_algo algo, char *hex, size_t hexlen)
{
	size_t want = verify_hex_len(algo), i = 0, start;

	while (i < len) {
		while (i < len && isspace((unsigned char)reply[i]))
			i++;
		start = i;
		while (i < len && !isspace((unsigned char)reply[i]))
			i++;
		if (i - start == want &&
		    verify_hex(reply + start, want, hex, hexlen))
			return 0;
	}
	return -1;
}

/* The algorithm named in a HASH reply: the token after the reply code. */
int
verify_hash_reply_algo(const char *reply, size_t len, enum verify_algo *algo)
{
	static const struct {
		const char		*name;
		enum verify_algo	 algo;
	} names[] = {
		{ "SHA-256", VERIFY_SHA256 },
		{ "SHA-1", VERIFY_SHA1 },
		{ "MD5", VERIFY_MD5 },
	};
	size_t i = 0, start, n;

	while (i < len && !isspace((unsigned char)reply[i]))	/* "213" */
		i++;
	while (i < len && isspace((unsigned char)reply[i]))
		i++;
	start = i;
	while (i < len && !isspace((unsigned char)reply[i]))
		i++;
	n = i - start;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n &&
		    strncasecmp(reply + start, names[i].name, n) == 0) {
			*algo = names[i].algo;
			return 0;
		}
	return -1;
}

/* Quote path for /bin/sh: '...' with each ' written as '\''. */
static char *
verify_shell_quote(const char *path)
{
	size_t n = 2, i;
	char *q, *o;

	for (i = 0; path[i]; i++)
		n += path[i] == '\'' ? 4 : 1;
	if ((q = malloc(n + 1)) == NULL)
		return NULL;
	o = q;
	*o++ = '\'';
	for (i = 0; path[i]; i++) {
		if (path[i] == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = path[i];
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

/* command with every "{}" replaced by the quoted path (or it appended). */
static char *
verify_expand(const char *command, const char *path)
{
	char *quoted, *out = NULL, *o;
	const char *p;
	size_t n = 0, ql;
	bool any = false;

	if ((quoted = verify_shell_quote(path)) == NULL)
		return NULL;
	ql = strlen(quoted);
	for (p = command; *p; p++) {
		if (p[0] == '{' && p[1] == '}') {
			n += ql;
			p++;
			any = true;
		} else
			n++;
	}
	if (!any)
		n += 1 + ql;
	if ((out = malloc(n + 1)) == NULL)
		goto out;
	for (p = command, o = out; *p; p++) {
		if (p[0] == '{' && p[1] == '}') {
			memcpy(o, quoted, ql);
			o += ql;
			p++;
		} else
			*o++ = *p;
	}
	if (!any) {
		*o++ = ' ';
		memcpy(o, quoted, ql);
		o += ql;
	}
	*o = '\0';
out:
	free(quoted);
	return out;
}

/* Run the verify command on path; see verify.h. */
int
verify_run_command(const char *command, const char *path, int timeout,
    char *why, size_t whylen)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	char *line;
	pid_t pid, got;
	int status, waited = 0;

	if ((line = verify_expand(command, path)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(why, whylen, "cannot run verify_command: %s",
		    strerror(errno));
		free(line);
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	free(line);
	setpgid(pid, pid);
	/* 20 naps a second until the time limit. */
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 &&
	    waited < timeout * 20) {
		nanosleep(&nap, NULL);
		waited++;
	}
	if (got == 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(why, whylen, "verify_command ran over %d s", timeout);
		return 1;
	}
	if (got == -1) {
		snprintf(why, whylen, "verify_command: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(why, whylen, "verify_command could not be run "
		    "(exit 127)");
		return -1;
	}
	if (WIFEXITED(status))
		snprintf(why, whylen, "verify_command rejected it (exit %d)",
		    WEXITSTATUS(status));
	else
		snprintf(why, whylen, "verify_command ended by signal %d",
		    WTERMSIG(status));
	return 1;
}
