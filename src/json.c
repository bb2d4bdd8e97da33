/*
 * json.c: JSON string output.
 */
#include <stddef.h>
#include <stdio.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t
json_utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int min, cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2; cp = s[0] & 0x1fu; min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; cp = s[0] & 0x0fu; min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; cp = s[0] & 0x07u; min = 0x10000;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Write s, escaped for the inside of a JSON string. */
void
json_string_body(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p) {
		if (*p == '"' || *p == '\\') {
			fputc('\\', out);
			fputc(*p++, out);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p++);
		} else if ((n = json_utf8_len(p)) == 0) {
			fprintf(out, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, out);
			p += n;
		}
	}
}

/* Write s as a JSON string, or null. */
void
json_string(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	json_string_body(out, s);
	fputc('"', out);
}
