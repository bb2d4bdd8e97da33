/*
 * reply.c: FTP control-connection replies, found and read in bytes.
 * Everything here is pure: no sockets, no clock, no logging and no global
 * state, so unit tests and fuzzers can drive it directly.
 *
 * reply_take never reads past len, and its verdict depends only on the
 * bytes it has seen: 0 means every byte so far fits a reply, so a caller
 * may call it again on the same buffer each time more bytes arrive.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "reply.h"

#define CODE_LEN	3

/* Locale-free so a server's bytes mean the same on every machine. */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Whether buf[0..len) can still be the start of a reply: "[1-5]DD", then a
 * space, '-', LF or CR LF.  Checked byte by byte so garbage is refused as
 * soon as it arrives, not after a line of it.
 */
static bool
can_start(const char *buf, size_t len)
{
	if (len > 0 && (buf[0] < '1' || buf[0] > '5'))
		return false;
	if (len > 1 && !is_digit(buf[1]))
		return false;
	if (len > 2 && !is_digit(buf[2]))
		return false;
	if (len > 3 && buf[3] != ' ' && buf[3] != '-' && buf[3] != '\r' &&
	    buf[3] != '\n')
		return false;
	if (len > 4 && buf[3] == '\r' && buf[4] != '\n')
		return false;
	return true;
}

/*
 * The line at buf[pos..end): sets *n to its length without CR LF and
 * *next to the offset past its LF.  Returns 1, 0 when its LF has not
 * arrived yet, -1 when it is longer than REPLY_MAX_LINE (or no LF can
 * come in time for it not to be).
 */
static int
line_at(const char *buf, size_t end, size_t pos, size_t *n, size_t *next)
{
	size_t		 lim = end - pos;
	const char	*lf;

	if (lim > REPLY_MAX_LINE + 2)
		lim = REPLY_MAX_LINE + 2;
	lf = memchr(buf + pos, '\n', lim);
	if (lf == NULL)
		return lim == REPLY_MAX_LINE + 2 ? -1 : 0;
	*next = (size_t)(lf - buf) + 1;
	*n = *next - 1 - pos;
	if (*n > 0 && buf[pos + *n - 1] == '\r')
		(*n)--;
	return *n > REPLY_MAX_LINE ? -1 : 1;
}

/*
 * Whether line[0..n) ends a reply whose first line is first: the same
 * code, then a space or nothing.  The first line itself ends it unless it
 * has a '-' there.
 */
static bool
is_last(const char *line, size_t n, const char *first)
{
	return n >= CODE_LEN && memcmp(line, first, CODE_LEN) == 0 &&
	    (n == CODE_LEN || line[CODE_LEN] == ' ');
}

int
reply_take(const char *buf, size_t len, struct reply *r)
{
	size_t	end = len < REPLY_MAX ? len : REPLY_MAX;
	size_t	pos = 0, next = 0, n = 0;
	int	rc;

	if (len == 0)
		return 0;
	if (!can_start(buf, len))
		return -1;
	for (;;) {
		rc = line_at(buf, end, pos, &n, &next);
		if (rc < 0)
			return -1;
		if (rc == 0)	/* more bytes, unless REPLY_MAX is reached */
			return end == REPLY_MAX ? -1 : 0;
		if (is_last(buf + pos, n, buf))
			break;
		pos = next;
	}
	r->code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
	r->text = buf + pos;
	r->text_len = n;
	r->length = next;
	return 1;
}

int
reply_next_line(const char *buf, size_t length, size_t *pos,
    const char **line, size_t *line_len)
{
	const char	*lf;
	size_t		 n;

	if (*pos >= length)
		return 0;
	*line = buf + *pos;
	lf = memchr(*line, '\n', length - *pos);
	if (lf == NULL) {
		n = length - *pos;	/* a last line without its LF */
		*pos = length;
	} else {
		n = (size_t)(lf - *line);
		*pos += n + 1;
		if (n > 0 && (*line)[n - 1] == '\r')
			n--;
	}
	*line_len = n;
	return 1;
}

/* Whether text[0..len) starts with a reply code, which the parsers skip. */
static bool
has_code(const char *text, size_t len)
{
	return len >= CODE_LEN && is_digit(text[0]) && is_digit(text[1]) &&
	    is_digit(text[2]);
}

/*
 * The decimal number at text[*i..len), at most max, moving *i past it.
 * Returns -1 when there is no digit there or the number is over max.
 */
static int
number(const char *text, size_t len, size_t *i, int max)
{
	size_t	start = *i;
	int	v = 0;

	for (; *i < len && is_digit(text[*i]); (*i)++) {
		v = v * 10 + (text[*i] - '0');
		if (v > max)
			return -1;
	}
	return *i > start ? v : -1;
}

int
reply_epsv_port(const char *text, size_t len)
{
	size_t	i, j;
	int	port;
	char	d;

	if (!has_code(text, len))
		return -1;
	/* Each '(' in turn: the text before the port is the server's. */
	for (i = CODE_LEN; i + 4 < len; i++) {
		if (text[i] != '(')
			continue;
		d = text[i + 1];
		if (d < 33 || d > 126 || text[i + 2] != d || text[i + 3] != d)
			continue;
		j = i + 4;
		/* a digit delimiter never ends the port: the digits run on */
		port = number(text, len, &j, 65535);
		if (port > 0 && j < len && text[j] == d)
			return port;
	}
	return -1;
}

int
reply_pasv_port(const char *text, size_t len)
{
	int	v[6];
	size_t	i, j, k;

	if (!has_code(text, len))
		return -1;
	for (i = CODE_LEN; i < len; i++) {
		/* a run starts at a number's first digit */
		if (!is_digit(text[i]) || is_digit(text[i - 1]))
			continue;
		j = i;
		for (k = 0; k < 6; k++) {
			if (k > 0) {
				if (j >= len || text[j] != ',')
					break;
				for (j++; j < len && text[j] == ' '; j++)
					;
			}
			if ((v[k] = number(text, len, &j, 255)) < 0)
				break;
		}
		if (k == 6)
			return v[4] > 0 || v[5] > 0 ? v[4] * 256 + v[5] : -1;
	}
	return -1;
}

void
reply_printable(char *dst, size_t size, const char *line, size_t len)
{
	size_t i, n = 0;

	if (size == 0)
		return;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	for (i = 0; i < len && n + 1 < size; i++)
		dst[n++] = isprint((unsigned char)line[i]) ? line[i] : '?';
	dst[n] = '\0';
}
