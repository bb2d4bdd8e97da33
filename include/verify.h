/*
 * verify.h: the verification gate's mechanisms: file digests, checksum
 * manifests (SHA256SUMS, MD5SUMS, FILE.sha256), remote hash replies
 * (HASH, XSHA256, XMD5) and the operator's verify_command.  The policy,
 * which file is checked against what, is in publish.c and fetch.c.
 */
#ifndef FTPMIRROR_VERIFY_H
#define FTPMIRROR_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

enum verify_algo {
	VERIFY_SHA256,
	VERIFY_MD5,
	VERIFY_SHA1		/* HASH's usual default */
};

/* Hex digits of an algorithm's digest (64, 32 or 40). */
size_t verify_hex_len(enum verify_algo algo);

/*
 * The digest of everything readable from fd (read from offset 0), as
 * lowercase hex into hex (at least 65 bytes).  Returns 0, or -1 with
 * errno set.
 */
int verify_digest_fd(int fd, enum verify_algo algo, char *hex, size_t len);

/*
 * Look name up in a manifest's text ("HEX  NAME" or "HEX *NAME" lines, as
 * sha256sum and md5sum write them; for a FILE.sha256 manifest a lone
 * "HEX" line also counts when name is NULL).  The digest length must be
 * the algorithm's.  Copies the lowercase hex to hex and returns 1, 0 when
 * name is not listed, -1 when it is listed with a malformed digest.  Pure.
 */
int verify_manifest_lookup(const char *text, size_t len, const char *name,
    enum verify_algo algo, char *hex, size_t hexlen);

/*
 * The digest in a server's reply to XSHA256/XMD5/HASH ("250 HEX", "213
 * SHA-256 0-99 HEX path"): the first whitespace-separated token of
 * exactly the algorithm's hex length.  Returns 0 with hex filled, or -1.
 * Pure.
 */
int verify_parse_hash_reply(const char *reply, size_t len,
    enum verify_algo algo, char *hex, size_t hexlen);

/*
 * The algorithm a HASH reply names ("213 SHA-256 0-99 HEX path"): 0 with
 * *algo set, -1 for one this program does not compute.  Pure.
 */
int verify_hash_reply_algo(const char *reply, size_t len,
    enum verify_algo *algo);

/*
 * Run the operator's command (a shell command line, "{}" replaced by the
 * quoted path) with a time limit.  Returns 0 when it exited 0, 1 when it
 * rejected the file (non-zero exit, killed by a signal, or over time; why
 * says which), -1 when it could not be run.
 */
int verify_run_command(const char *command, const char *path, int timeout,
    char *why, size_t whylen);

#endif
