/*
 * dup_exact.h: for the unit tests of parsers that take a length, a copy of
 * the input in exactly as many bytes, with no NUL after it, so that
 * AddressSanitizer catches any read past the end.
 */
#ifndef FTPMIRROR_TEST_DUP_EXACT_H
#define FTPMIRROR_TEST_DUP_EXACT_H

#include <stdlib.h>
#include <string.h>

/* A copy of in[0..len) in exactly len bytes (1 when len is 0). */
static inline char *
dup_exact(const char *in, size_t len)
{
	char	*b;

	b = malloc(len > 0 ? len : 1);
	assert_non_null(b);
	memcpy(b, in, len);
	return b;
}

#endif
