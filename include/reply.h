/*
 * reply.h: FTP control-connection replies (RFC 959 4.2), found and read
 * in bytes.  Nothing here touches a socket: callers hand in what they have
 * received, and a pipelining caller takes reply after reply out of one
 * buffer.
 */
#ifndef FTPMIRROR_REPLY_H
#define FTPMIRROR_REPLY_H

#include <stddef.h>

#define REPLY_MAX_LINE	4096	/* bytes of one line, CR and LF not counted */
#define REPLY_MAX	65536	/* bytes of a whole reply, line ends counted */

/* One complete reply found at the start of a buffer. */
struct reply {
	int		 code;		/* 100..599 */
	const char	*text;		/* its last line ("NNN text" or "NNN"),
					   without CR LF, pointing into the
					   buffer; not NUL-terminated */
	size_t		 text_len;
	size_t		 length;	/* bytes the whole reply takes in the
					   buffer, the last line end included */
};

/*
 * Find one complete reply at the start of buf[0..len) and fill *r.  A
 * reply is one line "NNN text", or a first line "NNN-text", any lines, and
 * a last line that starts with the same three digits and a space (or is
 * exactly those three digits).  Lines end in LF, with or without a CR
 * before it.  The first line must start with three digits, the first of
 * them 1 to 5, then a space, '-' or the line end.  A line longer than
 * REPLY_MAX_LINE, or a reply longer than REPLY_MAX, is refused.
 * Returns 1 when a whole reply is there, 0 when more bytes are needed, -1
 * when the bytes can't become a reply, however many follow (the caller
 * drops the connection).  A result of 1 or -1 stays the same whatever
 * bytes are appended.
 */
int reply_take(const char *buf, size_t len, struct reply *r);

/*
 * Each line of buf[0..length) in turn, e.g. of a reply reply_take found
 * (with r->length), for callers that want every line (FEAT).  *pos starts
 * at 0 and is moved past each line; *line and *line_len are set to the
 * line without its LF and a CR before it (a last line without LF is
 * given whole).  Returns 1 per line, 0 at the end.
 */
int reply_next_line(const char *buf, size_t length, size_t *pos,
    const char **line, size_t *line_len);

/*
 * The port of a 229 reply, "229 Entering Extended Passive Mode
 * (|||6446|)" (RFC 2428): after a '(', a delimiter (any byte from 33 to
 * 126, usually '|') three times, the port, the delimiter again.  text is
 * the reply's last line, code included (as in struct reply); the code is
 * not checked.  Returns the port, 1..65535, or -1 when there is none.
 */
int reply_epsv_port(const char *text, size_t len);

/*
 * The port of a 227 reply, "227 Entering Passive Mode
 * (h1,h2,h3,h4,p1,p2)": the first run of six numbers 0..255 after the
 * code, separated by commas, each comma optionally followed by spaces;
 * with or without parentheses.  The address is ignored on purpose: the
 * caller connects to the control connection's host.  text is as for
 * reply_epsv_port.  Returns p1 * 256 + p2, 1..65535, or -1.
 */
int reply_pasv_port(const char *text, size_t len);

/*
 * A reply line for messages: line[0..len), its line end dropped, each
 * unprintable byte as '?', cut to fit dst[size] (NUL-terminated).
 */
void reply_printable(char *dst, size_t size, const char *line, size_t len);

#endif
