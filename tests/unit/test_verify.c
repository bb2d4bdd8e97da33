/*
 * test_verify.c: unit tests for verify.c, the verification gate's
 * mechanisms.  The parsers (manifest lookup, hash replies) are driven by
 * tables; every text is copied into a buffer of exactly its length (no
 * NUL after it), so the sanitizer build catches a read past the end.
 * Known digests were computed independently (printf %s ... | sha256sum,
 * md5sum, sha1sum).  verify_run_command runs real shell commands in a
 * mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "verify.h"

#define COUNT(a)	(sizeof(a) / sizeof((a)[0]))

/* Known digests. */
#define SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_FOX \
	"d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
#define SHA256_200K_A \
	"2287d207f24a941ff3b56c04c8a25ad56b63e3023207b3bb5b4ac0c9869d74be"
#define MD5_EMPTY	"d41d8cd98f00b204e9800998ecf8427e"
#define MD5_ABC		"900150983cd24fb0d6963f7d28e17f72"
#define MD5_FOX		"9e107d9d372bb6826bd81d3542a419d6"
#define MD5_200K_A	"561b1994f6baacd6e5eaf4baaa12849f"
#define SHA1_EMPTY	"da39a3ee5e6b4b0d3255bfef95601890afd80709"
#define SHA1_ABC	"a9993e364706816aba3e25717850c26c9cd0d89d"
#define SHA1_FOX	"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
#define SHA1_200K_A	"ec99adda39f462070e2c7ecbc8433e70dc9fb54c"

#define SHA256_ABC_UP \
	"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
#define SHA256_ABC_MIXED \
	"Ba7816bF8f01cfeA414140de5dae2223b00361a396177a9cb410ff61f20015aD"
/* 63 and 65 hex digits, and 64 with a non-hex one. */
#define HEX63 \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"
#define HEX65 \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"
#define HEX64_G \
	"ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* A copy of text[0..len) with nothing after it (ASan sees over-reads). */
static char *
exact(const char *text, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, text, len);
	return p;
}

static void
test_hex_len(void **state)
{
	(void)state;
	assert_int_equal(verify_hex_len(VERIFY_SHA256), 64);
	assert_int_equal(verify_hex_len(VERIFY_MD5), 32);
	assert_int_equal(verify_hex_len(VERIFY_SHA1), 40);
}

/* ---- verify_manifest_lookup ---- */

enum {
	ANY_MISS = 2	/* want: 0 or -1, anything but "found" */
};

struct manifest_row {
	const char		*what;
	const char		*text;
	const char		*name;		/* NULL: bare-digest lookup */
	enum verify_algo	 algo;
	int			 want;		/* 1, 0, -1 or ANY_MISS */
	const char		*hex;		/* when want is 1 */
};

static void
test_manifest_lookup(void **state)
{
	static const struct manifest_row rows[] = {
		{ "text mode", SHA256_ABC "  abc.txt\n", "abc.txt",
		    VERIFY_SHA256, 1, SHA256_ABC },
		{ "binary mode", SHA256_ABC " *abc.iso\n", "abc.iso",
		    VERIFY_SHA256, 1, SHA256_ABC },
		{ "no final newline", SHA256_ABC "  abc.txt", "abc.txt",
		    VERIFY_SHA256, 1, SHA256_ABC },
		{ "CRLF", SHA256_FOX "  a\r\n" SHA256_ABC "  abc.txt\r\n",
		    "abc.txt", VERIFY_SHA256, 1, SHA256_ABC },
		{ "CRLF binary", SHA256_ABC " *abc.txt\r\n", "abc.txt",
		    VERIFY_SHA256, 1, SHA256_ABC },
		{ "second of three", SHA256_FOX "  one\n" SHA256_ABC
		    "  two\n" SHA256_EMPTY "  three\n", "two", VERIFY_SHA256,
		    1, SHA256_ABC },
		{ "last line", SHA256_FOX "  one\n" SHA256_EMPTY "  two\n"
		    SHA256_ABC "  three\n", "three", VERIFY_SHA256, 1,
		    SHA256_ABC },
		{ "name with spaces", SHA256_FOX "  my file\n" SHA256_ABC
		    "  my file name.txt\n", "my file name.txt", VERIFY_SHA256,
		    1, SHA256_ABC },
		{ "name with spaces, binary", SHA256_ABC " *a b  c\n",
		    "a b  c", VERIFY_SHA256, 1, SHA256_ABC },
		{ "name with a leading space", SHA256_ABC "   lead\n",
		    " lead", VERIFY_SHA256, 1, SHA256_ABC },
		{ "name with a trailing space", SHA256_FOX "  trail\n"
		    SHA256_ABC "  trail \n", "trail ", VERIFY_SHA256, 1,
		    SHA256_ABC },
		{ "name in a subdirectory", SHA256_ABC "  sub/dir/f.bin\n",
		    "sub/dir/f.bin", VERIFY_SHA256, 1, SHA256_ABC },
		/* A name that is a prefix (or suffix) of another one. */
		{ "prefix, longer first", SHA256_FOX "  foo.tar.gz\n"
		    SHA256_ABC "  foo.tar\n", "foo.tar", VERIFY_SHA256, 1,
		    SHA256_ABC },
		{ "prefix, shorter first", SHA256_ABC "  foo.tar\n"
		    SHA256_FOX "  foo.tar.gz\n", "foo.tar.gz", VERIFY_SHA256,
		    1, SHA256_FOX },
		{ "only a longer name listed", SHA256_FOX "  foo.tar.gz\n",
		    "foo.tar", VERIFY_SHA256, 0, NULL },
		{ "only a shorter name listed", SHA256_FOX "  foo\n",
		    "foo.tar", VERIFY_SHA256, 0, NULL },
		{ "only a deeper path listed", SHA256_FOX "  sub/foo\n",
		    "foo", VERIFY_SHA256, 0, NULL },
		{ "only a path ending in the name", SHA256_FOX "  xfoo\n",
		    "foo", VERIFY_SHA256, 0, NULL },
		{ "not listed", SHA256_FOX "  a\n" SHA256_ABC "  b\n", "c",
		    VERIFY_SHA256, 0, NULL },
		{ "case matters in names", SHA256_FOX "  README\n",
		    "readme", VERIFY_SHA256, 0, NULL },
		{ "blank and comment lines", "\n\n# SHA256 digests\n\n"
		    SHA256_ABC "  abc\n\n", "abc", VERIFY_SHA256, 1,
		    SHA256_ABC },
		{ "uppercase hex", SHA256_ABC_UP "  abc\n", "abc",
		    VERIFY_SHA256, 1, SHA256_ABC },
		{ "mixed-case hex", SHA256_ABC_MIXED " *abc\n", "abc",
		    VERIFY_SHA256, 1, SHA256_ABC },
		/* Malformed digests of a listed name. */
		{ "63 digits", HEX63 "  abc\n", "abc", VERIFY_SHA256, -1,
		    NULL },
		{ "65 digits", HEX65 "  abc\n", "abc", VERIFY_SHA256, -1,
		    NULL },
		{ "non-hex digit", HEX64_G "  abc\n", "abc", VERIFY_SHA256,
		    -1, NULL },
		{ "an MD5 digest in SHA256SUMS", MD5_ABC "  abc\n", "abc",
		    VERIFY_SHA256, -1, NULL },
		{ "malformed other line is no matter", HEX63 "  other\n"
		    SHA256_ABC "  abc\n", "abc", VERIFY_SHA256, 1,
		    SHA256_ABC },
		/* MD5SUMS */
		{ "md5 text mode", MD5_FOX "  fox\n" MD5_ABC "  abc\n",
		    "abc", VERIFY_MD5, 1, MD5_ABC },
		{ "md5 binary CRLF", MD5_ABC " *abc\r\n", "abc", VERIFY_MD5,
		    1, MD5_ABC },
		{ "a SHA-256 digest in MD5SUMS", SHA256_ABC "  abc\n", "abc",
		    VERIFY_MD5, -1, NULL },
		/* A FILE.sha256 holding the digest alone: name NULL. */
		{ "bare digest", SHA256_ABC "\n", NULL, VERIFY_SHA256, 1,
		    SHA256_ABC },
		{ "bare digest, no newline", SHA256_ABC, NULL, VERIFY_SHA256,
		    1, SHA256_ABC },
		{ "bare digest, CRLF", SHA256_ABC_UP "\r\n", NULL,
		    VERIFY_SHA256, 1, SHA256_ABC },
		{ "bare md5", MD5_ABC "\n", NULL, VERIFY_MD5, 1, MD5_ABC },
		{ "bare digest, short", HEX63 "\n", NULL, VERIFY_SHA256,
		    ANY_MISS, NULL },
		{ "bare digest, not hex", HEX64_G "\n", NULL, VERIFY_SHA256,
		    ANY_MISS, NULL },
		{ "bare lookup in a file of names", "no digest here\n", NULL,
		    VERIFY_SHA256, ANY_MISS, NULL },
		/* Empty or useless texts. */
		{ "empty", "", "abc", VERIFY_SHA256, 0, NULL },
		{ "empty, bare", "", NULL, VERIFY_SHA256, 0, NULL },
		{ "newlines only", "\n\r\n\n", "abc", VERIFY_SHA256, 0,
		    NULL },
		{ "newlines only, bare", "\n\r\n\n", NULL, VERIFY_SHA256, 0,
		    NULL },
		{ "BSD style is not sha256sum's", "SHA256 (abc) = "
		    SHA256_ABC "\n", "abc", VERIFY_SHA256, ANY_MISS, NULL },
		{ "digest without a name", SHA256_ABC "  \n", "abc",
		    VERIFY_SHA256, 0, NULL },
	};
	char hex[80];
	size_t i;
	int rc, bad = 0;

	(void)state;
	for (i = 0; i < COUNT(rows); i++) {
		size_t len = strlen(rows[i].text);
		char *text = exact(rows[i].text, len);

		memset(hex, 'Z', sizeof(hex));
		rc = verify_manifest_lookup(text, len, rows[i].name,
		    rows[i].algo, hex, sizeof(hex));
		free(text);
		if (rows[i].want == ANY_MISS ? rc == 1 : rc != rows[i].want) {
			print_error("manifest row %zu (%s): got %d, want %d\n",
			    i, rows[i].what, rc, rows[i].want);
			bad++;
		} else if (rows[i].want == 1 && strcmp(hex, rows[i].hex) != 0) {
			print_error("manifest row %zu (%s): got digest "
			    "\"%.70s\", want %s\n", i, rows[i].what, hex,
			    rows[i].hex);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d manifest rows failed", bad);
}

/* Long and hostile manifests: no over-read, no false match. */
static void
test_manifest_hostile(void **state)
{
	size_t big = 1024 * 1024, len;
	char hex[80], *text, *p;

	(void)state;

	/* One megabyte line of 'a' (hex!) and no newline. */
	text = malloc(big);
	assert_non_null(text);
	memset(text, 'a', big);
	assert_int_equal(verify_manifest_lookup(text, big, "abc",
	    VERIFY_SHA256, hex, sizeof(hex)), 0);
	assert_int_not_equal(verify_manifest_lookup(text, big, NULL,
	    VERIFY_SHA256, hex, sizeof(hex)), 1);
	free(text);

	/* A huge digest token before a listed name: malformed. */
	len = big + strlen("  abc\n");
	text = malloc(len);
	assert_non_null(text);
	memset(text, 'b', big);
	memcpy(text + big, "  abc\n", 6);
	assert_int_equal(verify_manifest_lookup(text, len, "abc",
	    VERIFY_SHA256, hex, sizeof(hex)), -1);
	free(text);

	/* A valid digest with a megabyte-long name, then the wanted one. */
	len = 64 + 2 + big + 1 + 64 + 2 + 3;
	text = malloc(len);
	assert_non_null(text);
	p = text;
	memcpy(p, SHA256_FOX "  ", 66);
	p += 66;
	memset(p, 'n', big);
	p += big;
	*p++ = '\n';
	memcpy(p, SHA256_ABC "  abc", 69);
	assert_int_equal(verify_manifest_lookup(text, len, "abc",
	    VERIFY_SHA256, hex, sizeof(hex)), 1);
	assert_string_equal(hex, SHA256_ABC);
	assert_int_equal(verify_manifest_lookup(text, len, "n",
	    VERIFY_SHA256, hex, sizeof(hex)), 0);
	free(text);

	/* Many lines of spaces, CRs and stars. */
	len = big;
	text = malloc(len);
	assert_non_null(text);
	for (size_t i = 0; i < len; i++)
		text[i] = " *\r\n"[i % 4];
	assert_int_equal(verify_manifest_lookup(text, len, "abc",
	    VERIFY_SHA256, hex, sizeof(hex)), 0);
	assert_int_not_equal(verify_manifest_lookup(text, len, NULL,
	    VERIFY_SHA256, hex, sizeof(hex)), 1);
	free(text);

	/* The length bounds the text: a match after len is not seen. */
	text = exact(SHA256_FOX "  x\n" SHA256_ABC "  abc\n", 68 + 70);
	assert_int_equal(verify_manifest_lookup(text, 67, "abc",
	    VERIFY_SHA256, hex, sizeof(hex)), 0);
	/* ... and a name cut by len is not the full name. */
	assert_int_equal(verify_manifest_lookup(text, 68 + 64 + 2 + 2,
	    "abc", VERIFY_SHA256, hex, sizeof(hex)), 0);
	free(text);
}

/* A buffer too small for the digest is never overrun. */
static void
test_manifest_small_buffer(void **state)
{
	char buf[80];
	const char *t = SHA256_ABC "  abc\n";
	int rc;

	(void)state;
	memset(buf, 'Z', sizeof(buf));
	rc = verify_manifest_lookup(t, strlen(t), "abc", VERIFY_SHA256, buf,
	    16);
	assert_int_not_equal(rc, 1);
	for (size_t i = 16; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'Z');
	/* Exactly room for 64 digits and the NUL. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(verify_manifest_lookup(t, strlen(t), "abc",
	    VERIFY_SHA256, buf, 65), 1);
	assert_string_equal(buf, SHA256_ABC);
	assert_int_equal(buf[65], 'Z');
}

/* ---- verify_parse_hash_reply, verify_hash_reply_algo ---- */

struct reply_row {
	const char		*what;
	const char		*reply;
	enum verify_algo	 algo;
	int			 want;		/* 0 or -1 */
	const char		*hex;
};

static void
test_parse_hash_reply(void **state)
{
	static const struct reply_row rows[] = {
		{ "XSHA256", "250 " SHA256_ABC, VERIFY_SHA256, 0,
		    SHA256_ABC },
		{ "XSHA256 CRLF", "250 " SHA256_ABC "\r\n", VERIFY_SHA256,
		    0, SHA256_ABC },
		{ "XSHA256 uppercase", "250 " SHA256_ABC_UP, VERIFY_SHA256,
		    0, SHA256_ABC },
		{ "XMD5", "250 " MD5_ABC, VERIFY_MD5, 0, MD5_ABC },
		{ "XMD5 with path", "250 " MD5_ABC " /pub/abc", VERIFY_MD5,
		    0, MD5_ABC },
		{ "HASH SHA-256", "213 SHA-256 0-99 " SHA256_ABC " path",
		    VERIFY_SHA256, 0, SHA256_ABC },
		{ "HASH SHA-256, path with spaces", "213 SHA-256 0-3 "
		    SHA256_ABC " /pub/a file with spaces.txt\r\n",
		    VERIFY_SHA256, 0, SHA256_ABC },
		{ "HASH SHA-1", "213 SHA-1 0-3 " SHA1_ABC " /abc",
		    VERIFY_SHA1, 0, SHA1_ABC },
		{ "HASH MD5", "213 MD5 0-3 " MD5_ABC " /abc", VERIFY_MD5, 0,
		    MD5_ABC },
		{ "HASH SHA-256, tabs", "213\tSHA-256\t0-3\t" SHA256_ABC
		    "\t/abc", VERIFY_SHA256, 0, SHA256_ABC },
		{ "63 digits", "250 " HEX63, VERIFY_SHA256, -1, NULL },
		{ "65 digits", "250 " HEX65, VERIFY_SHA256, -1, NULL },
		{ "non-hex", "250 " HEX64_G, VERIFY_SHA256, -1, NULL },
		{ "MD5 digest, SHA-256 wanted", "250 " MD5_ABC,
		    VERIFY_SHA256, -1, NULL },
		{ "SHA-256 digest, MD5 wanted", "250 " SHA256_ABC,
		    VERIFY_MD5, -1, NULL },
		{ "SHA-1 digest, SHA-256 wanted", "213 SHA-1 0-3 " SHA1_ABC
		    " /abc", VERIFY_SHA256, -1, NULL },
		{ "digest glued to text", "250 x" SHA256_ABC,
		    VERIFY_SHA256, -1, NULL },
		{ "error reply", "550 /abc: No such file or directory",
		    VERIFY_SHA256, -1, NULL },
		{ "code only", "250", VERIFY_SHA256, -1, NULL },
		{ "empty", "", VERIFY_SHA256, -1, NULL },
		{ "spaces", "      ", VERIFY_SHA256, -1, NULL },
	};
	char hex[80];
	size_t i;
	int rc, bad = 0;

	(void)state;
	for (i = 0; i < COUNT(rows); i++) {
		size_t len = strlen(rows[i].reply);
		char *reply = exact(rows[i].reply, len);

		memset(hex, 'Z', sizeof(hex));
		rc = verify_parse_hash_reply(reply, len, rows[i].algo, hex,
		    sizeof(hex));
		free(reply);
		if (rc != rows[i].want) {
			print_error("reply row %zu (%s): got %d, want %d\n", i,
			    rows[i].what, rc, rows[i].want);
			bad++;
		} else if (rows[i].want == 0 && strcmp(hex, rows[i].hex) != 0) {
			print_error("reply row %zu (%s): got \"%.70s\", want "
			    "%s\n", i, rows[i].what, hex, rows[i].hex);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d hash reply rows failed", bad);
}

static void
test_parse_hash_reply_hostile(void **state)
{
	size_t big = 256 * 1024, len;
	char hex[80], *reply;

	(void)state;
	/* One endless token of hex digits: not a digest. */
	reply = malloc(big);
	assert_non_null(reply);
	memset(reply, 'a', big);
	assert_int_equal(verify_parse_hash_reply(reply, big, VERIFY_SHA256,
	    hex, sizeof(hex)), -1);
	free(reply);
	/* The reply ends (len) in the middle of the digest. */
	len = strlen("250 " SHA256_ABC);
	reply = exact("250 " SHA256_ABC, len);
	assert_int_equal(verify_parse_hash_reply(reply, len - 1,
	    VERIFY_SHA256, hex, sizeof(hex)), -1);
	assert_int_equal(verify_parse_hash_reply(reply, len,
	    VERIFY_SHA256, hex, sizeof(hex)), 0);
	assert_string_equal(hex, SHA256_ABC);
	/* Too small a buffer: refused, not overrun. */
	memset(hex, 'Z', sizeof(hex));
	assert_int_equal(verify_parse_hash_reply(reply, len, VERIFY_SHA256,
	    hex, 20), -1);
	for (size_t i = 20; i < sizeof(hex); i++)
		assert_int_equal(hex[i], 'Z');
	free(reply);
}

struct algo_row {
	const char		*what;
	const char		*reply;
	int			 want;		/* 0 or -1 */
	enum verify_algo	 algo;
};

static void
test_hash_reply_algo(void **state)
{
	static const struct algo_row rows[] = {
		{ "SHA-256", "213 SHA-256 0-99 " SHA256_ABC " path", 0,
		    VERIFY_SHA256 },
		{ "SHA-1", "213 SHA-1 0-99 " SHA1_ABC " path", 0,
		    VERIFY_SHA1 },
		{ "MD5", "213 MD5 0-99 " MD5_ABC " path", 0, VERIFY_MD5 },
		{ "SHA-256 CRLF", "213 SHA-256 0-3 " SHA256_ABC " /a\r\n", 0,
		    VERIFY_SHA256 },
		{ "SHA-512", "213 SHA-512 0-99 " SHA256_ABC SHA256_ABC
		    " path", -1, VERIFY_SHA256 },
		{ "SHA-224", "213 SHA-224 0-99 abcdef path", -1,
		    VERIFY_SHA256 },
		{ "CRC32", "213 CRC32 0-99 352441c2 path", -1,
		    VERIFY_SHA256 },
		{ "XSHA256 reply names none", "250 " SHA256_ABC, -1,
		    VERIFY_SHA256 },
		{ "error", "504 Unsupported algorithm", -1, VERIFY_SHA256 },
		{ "empty", "", -1, VERIFY_SHA256 },
		/* The algorithm is the reply's second field, not any word
		 * of the path after the digest. */
		{ "SHA-1, path mentions SHA-256", "213 SHA-1 0-3 " SHA1_ABC
		    " /pub/old SHA-256 notes.txt", 0, VERIFY_SHA1 },
		{ "SHA-512, path mentions MD5", "213 SHA-512 0-3 "
		    SHA256_ABC SHA256_ABC " /pub/old MD5 sums", -1,
		    VERIFY_SHA256 },
	};
	enum verify_algo algo;
	size_t i;
	int rc, bad = 0;

	(void)state;
	for (i = 0; i < COUNT(rows); i++) {
		size_t len = strlen(rows[i].reply);
		char *reply = exact(rows[i].reply, len);

		algo = (enum verify_algo)99;
		rc = verify_hash_reply_algo(reply, len, &algo);
		free(reply);
		if (rc != rows[i].want) {
			print_error("algo row %zu (%s): got %d, want %d\n", i,
			    rows[i].what, rc, rows[i].want);
			bad++;
		} else if (rc == 0 && algo != rows[i].algo) {
			print_error("algo row %zu (%s): got algorithm %d, want "
			    "%d (0 SHA-256, 1 MD5, 2 SHA-1)\n", i,
			    rows[i].what, (int)algo, (int)rows[i].algo);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d hash algorithm rows failed", bad);
}

/* ---- verify_digest_fd ---- */

struct digest_row {
	const char	*what;
	size_t		 size;		/* bytes of fill, or 0 with data */
	const char	*data;
	const char	*sha256, *md5, *sha1;
};

static int
temp_file_with(const void *data, size_t len)
{
	char path[] = "/tmp/test_verify.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd != -1);
	unlink(path);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	/* The offset is left at the end: the digest reads from 0. */
	return fd;
}

static void
test_digest_fd(void **state)
{
	static const struct digest_row rows[] = {
		{ "empty", 0, "", SHA256_EMPTY, MD5_EMPTY, SHA1_EMPTY },
		{ "abc", 0, "abc", SHA256_ABC, MD5_ABC, SHA1_ABC },
		{ "fox", 0, "The quick brown fox jumps over the lazy dog",
		    SHA256_FOX, MD5_FOX, SHA1_FOX },
		/* More than one read's worth. */
		{ "200000 a", 200000, NULL, SHA256_200K_A, MD5_200K_A,
		    SHA1_200K_A },
	};
	char hex[80];
	size_t i;

	(void)state;
	for (i = 0; i < COUNT(rows); i++) {
		char *fill = NULL;
		const void *data = rows[i].data;
		size_t len = rows[i].data ? strlen(rows[i].data) : 0;
		int fd;

		if (rows[i].size) {
			fill = malloc(rows[i].size);
			assert_non_null(fill);
			memset(fill, 'a', rows[i].size);
			data = fill;
			len = rows[i].size;
		}
		fd = temp_file_with(data, len);
		memset(hex, 'Z', sizeof(hex));
		assert_int_equal(verify_digest_fd(fd, VERIFY_SHA256, hex,
		    sizeof(hex)), 0);
		if (strcmp(hex, rows[i].sha256) != 0)
			fail_msg("digest %s sha256: %.70s", rows[i].what, hex);
		assert_int_equal(verify_digest_fd(fd, VERIFY_MD5, hex,
		    sizeof(hex)), 0);
		if (strcmp(hex, rows[i].md5) != 0)
			fail_msg("digest %s md5: %.70s", rows[i].what, hex);
		assert_int_equal(verify_digest_fd(fd, VERIFY_SHA1, hex,
		    sizeof(hex)), 0);
		if (strcmp(hex, rows[i].sha1) != 0)
			fail_msg("digest %s sha1: %.70s", rows[i].what, hex);
		/* Twice in a row, same answer (nothing consumed). */
		assert_int_equal(verify_digest_fd(fd, VERIFY_SHA256, hex,
		    65), 0);
		assert_string_equal(hex, rows[i].sha256);
		close(fd);
		free(fill);
	}
}

static void
test_digest_fd_errors(void **state)
{
	char hex[80];
	int fd;

	(void)state;
	fd = temp_file_with("abc", 3);
	/* Too small for the digest and its NUL. */
	memset(hex, 'Z', sizeof(hex));
	assert_int_equal(verify_digest_fd(fd, VERIFY_SHA256, hex, 64), -1);
	for (size_t i = 0; i < sizeof(hex); i++)
		assert_int_equal(hex[i], 'Z');
	assert_int_equal(verify_digest_fd(fd, VERIFY_MD5, hex, 33), 0);
	assert_string_equal(hex, MD5_ABC);
	close(fd);
	/* A closed descriptor. */
	errno = 0;
	assert_int_equal(verify_digest_fd(fd, VERIFY_SHA256, hex,
	    sizeof(hex)), -1);
	assert_int_equal(errno, EBADF);
}

/* ---- verify_run_command ---- */

struct cmd_fixture {
	char	dir[64];
};

static int
cmd_setup(void **state)
{
	struct cmd_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_verify.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
cmd_teardown(void **state)
{
	struct cmd_fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static char *
fx_path(const struct cmd_fixture *f, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", f->dir, name) != -1);
	return p;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* A file's whole text (NUL-terminated), or NULL when missing. */
static char *
read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (fp == NULL)
		return NULL;
	buf = calloc(1, 65536);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_command_exit(void **state)
{
	struct cmd_fixture *f = *state;
	char why[512], *file = fx_path(f, "file"), *cmd = NULL;
	double t0;
	int rc;

	write_file(file, "clean\n", 0644);

	/* Exit 0 accepts, promptly. */
	why[0] = '\0';
	t0 = now_s();
	assert_int_equal(verify_run_command("true", file, 10, why,
	    sizeof(why)), 0);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(verify_run_command("test -f {}", file, 10, why,
	    sizeof(why)), 0);

	/* Exit 1 rejects, with a message. */
	why[0] = '\0';
	rc = verify_run_command("grep -q EVIL {}", file, 10, why,
	    sizeof(why));
	assert_int_equal(rc, 1);
	if (why[0] == '\0' || strstr(why, "1") == NULL)
		fail_msg("exit 1: reason \"%s\" does not give the status", why);

	/* Another status is named too. */
	why[0] = '\0';
	assert_int_equal(verify_run_command("sh -c 'exit 3' x", file, 10,
	    why, sizeof(why)), 1);
	if (strstr(why, "3") == NULL)
		fail_msg("exit 3: reason \"%s\"", why);

	/* Killed by a signal: rejected. */
	why[0] = '\0';
	assert_int_equal(verify_run_command("kill -KILL $$; :", file, 10,
	    why, sizeof(why)), 1);
	assert_true(why[0] != '\0');

	/* A command that cannot be found: not a verdict on the file. */
	why[0] = '\0';
	rc = verify_run_command("/nonexistent/scanner {} 2>/dev/null", file, 10, why,
	    sizeof(why));
	assert_int_equal(rc, -1);
	assert_true(why[0] != '\0');

	/* The command sees the file's content through the path. */
	write_file(file, "this is EVIL\n", 0644);
	assert_int_equal(verify_run_command("grep -q EVIL {}", file, 10, why,
	    sizeof(why)), 0);
	assert_int_equal(verify_run_command("! grep -q EVIL", file, 10, why,
	    sizeof(why)), 1);
	free(cmd);
	free(file);
}

/* Is pid a live process (a zombie is not)? */
static bool
alive(long pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return false;
	return p[2] != 'Z' && p[2] != 'X';
}

static void
test_command_timeout(void **state)
{
	struct cmd_fixture *f = *state;
	char why[512], *file = fx_path(f, "file"), *pidfile = fx_path(f,
	    "pid"), *cmd, *text;
	double t0, took;
	long pid;
	int rc;

	write_file(file, "x\n", 0644);

	/* A hung command is stopped after the time limit and rejects. */
	why[0] = '\0';
	t0 = now_s();
	rc = verify_run_command("sleep 30; test -f {}", file, 1, why,
	    sizeof(why));
	took = now_s() - t0;
	assert_int_equal(rc, 1);
	if (took < 0.9 || took > 3.0)
		fail_msg("sleep 30 with timeout 1 took %.2f s", took);
	if (why[0] == '\0')
		fail_msg("timeout: no reason given");

	/* Its children are killed with it (its process group). */
	assert_true(asprintf(&cmd, "sleep 30 & echo $! > %s; wait; :",
	    pidfile) != -1);
	t0 = now_s();
	rc = verify_run_command(cmd, file, 1, why, sizeof(why));
	took = now_s() - t0;
	assert_int_equal(rc, 1);
	assert_true(took < 3.0);
	text = read_text(pidfile);
	assert_non_null(text);
	pid = strtol(text, NULL, 10);
	assert_true(pid > 1);
	for (int i = 0; i < 40 && alive(pid); i++)
		usleep(50 * 1000);
	if (alive(pid))
		fail_msg("the command's child %ld still runs after the "
		    "timeout", pid);
	free(text);
	free(cmd);
	free(pidfile);
	free(file);
}

/* The path reaches the command as one intact argument. */
static void
test_command_quoting(void **state)
{
	static const char *const names[] = {
		"plain",
		"it's a file",
		"two  spaces and 'quotes'",
		"dollar $(touch PWNED) `touch PWNED2` $HOME",
		"semi; touch PWNED3 & \"dq\" \\ back",
		"-leading-dash",
		"''",
		"{}",
	};
	struct cmd_fixture *f = *state;
	char why[512], *script = fx_path(f, "show.sh"), *out = fx_path(f,
	    "out"), *cmd, *path, *text, *want, *pwned;
	size_t i;

	/* Writes $# then each argument on its own line. */
	assert_true(asprintf(&text, "#!/bin/sh\n{ echo \"$#\"; for a; do "
	    "printf '%%s\\n' \"$a\"; done; } > '%s'\n", out) != -1);
	write_file(script, text, 0755);
	free(text);

	for (i = 0; i < COUNT(names); i++) {
		path = fx_path(f, names[i]);
		write_file(path, "data\n", 0644);
		assert_true(asprintf(&want, "1\n%s\n", path) != -1);

		/* "{}" replaced by the path. */
		assert_true(asprintf(&cmd, "%s {}", script) != -1);
		unlink(out);
		assert_int_equal(verify_run_command(cmd, path, 10, why,
		    sizeof(why)), 0);
		text = read_text(out);
		assert_non_null(text);
		if (strcmp(text, want) != 0)
			fail_msg("with {}: path \"%s\" arrived as \"%s\"",
			    path, text);
		free(text);
		free(cmd);

		/* No "{}": the path is appended. */
		unlink(out);
		assert_int_equal(verify_run_command(script, path, 10, why,
		    sizeof(why)), 0);
		text = read_text(out);
		assert_non_null(text);
		if (strcmp(text, want) != 0)
			fail_msg("appended: path \"%s\" arrived as \"%s\"",
			    path, text);
		free(text);
		free(want);

		/* Twice "{}": twice the path. */
		assert_true(asprintf(&cmd, "%s {} {}", script) != -1);
		assert_true(asprintf(&want, "2\n%s\n%s\n", path, path) != -1);
		unlink(out);
		assert_int_equal(verify_run_command(cmd, path, 10, why,
		    sizeof(why)), 0);
		text = read_text(out);
		assert_non_null(text);
		if (strcmp(text, want) != 0)
			fail_msg("twice: path \"%s\" arrived as \"%s\"", path,
			    text);
		free(text);
		free(want);
		free(cmd);
		free(path);
	}
	/* Nothing in a name was run by the shell. */
	for (i = 0; i < 3; i++) {
		static const char *const bad[] = { "PWNED", "PWNED2",
		    "PWNED3" };
		struct stat sb;

		pwned = fx_path(f, bad[i]);
		assert_int_equal(stat(pwned, &sb), -1);
		free(pwned);
		assert_int_equal(stat(bad[i], &sb), -1);
	}
	free(script);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_len),
		cmocka_unit_test(test_manifest_lookup),
		cmocka_unit_test(test_manifest_hostile),
		cmocka_unit_test(test_manifest_small_buffer),
		cmocka_unit_test(test_parse_hash_reply),
		cmocka_unit_test(test_parse_hash_reply_hostile),
		cmocka_unit_test(test_hash_reply_algo),
		cmocka_unit_test(test_digest_fd),
		cmocka_unit_test(test_digest_fd_errors),
		cmocka_unit_test_setup_teardown(test_command_exit, cmd_setup,
		    cmd_teardown),
		cmocka_unit_test_setup_teardown(test_command_timeout,
		    cmd_setup, cmd_teardown),
		cmocka_unit_test_setup_teardown(test_command_quoting,
		    cmd_setup, cmd_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
