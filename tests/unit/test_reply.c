/*
 * test_reply.c: table-driven tests of the control-reply parser.  Every
 * reply_take row is also fed in every prefix, each in a buffer of exactly
 * that size (ASan catches a read past len), as a pipelining caller would
 * see it arrive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dup_exact.h"
#include "reply.h"

/*
 * What reply_take gives for a buffer and each prefix of it: 0 for the
 * prefixes shorter than at, rc from at on.  For rc 1, at is the reply's
 * length.
 */
struct want {
	int		 rc;
	size_t		 at;
	int		 code;
	const char	*text;		/* the last line; NULL: not checked */
	size_t		 text_len;
};

struct take_row {
	const char	*in;
	size_t		 len;
	struct want	 w;
};

/* sizeof, not strlen: rows may hold NULs */
#define OK(in, code, text)						\
	{ in, sizeof(in) - 1, { 1, sizeof(in) - 1, code, text,		\
	    sizeof(text) - 1 } }
#define BAD(in, at)	{ in, sizeof(in) - 1, { -1, at, 0, NULL, 0 } }
#define MORE(in)	{ in, sizeof(in) - 1, { 0, 0, 0, NULL, 0 } }

static const struct take_row take_rows[] = {
	/* one line */
	OK("220 Service ready\r\n", 220, "220 Service ready"),
	OK("220 bare LF\n", 220, "220 bare LF"),
	OK("220\r\n", 220, "220"),
	OK("220\n", 220, "220"),
	OK("220 \r\n", 220, "220 "),
	OK("100 lowest\r\n", 100, "100 lowest"),
	OK("599 highest\r\n", 599, "599 highest"),
	OK("220 a\rb\r\n", 220, "220 a\rb"),
	OK("220 two CRs\r\r\n", 220, "220 two CRs\r"),
	OK("220 a\0b\r\n", 220, "220 a\0b"),
	/* multi-line */
	OK("220-Welcome\r\n220 ok\r\n", 220, "220 ok"),
	OK("211-Features:\r\n MDTM\r\n SIZE\r\n MLST type*;size*;\r\n"
	   "211 End\r\n", 211, "211 End"),
	OK("250-a\r\n226 not the end\r\n150 nor this\r\n250-still\r\n"
	   "250x\r\n2500 no\r\n 250 indented\r\n250\r\n", 250, "250"),
	OK("230-x\r\n230-y\r\n230-\r\n230 z\r\n", 230, "230 z"),
	OK("230-x\n\r\n\n230 mixed line ends\r\n", 230, "230 mixed line ends"),
	OK("230-a\0b\r\n\xff\xfe\r\n230 z\r\n", 230, "230 z"),
	OK("230-\r\n230 \n", 230, "230 "),
	/* not complete yet */
	MORE("2"),
	MORE("22"),
	MORE("220"),
	MORE("220\r"),
	MORE("220 partial"),
	MORE("220 partial\r"),
	MORE("220-"),
	MORE("220-first\r\n"),
	MORE("220-first\r\n220"),
	MORE("220-first\r\n220-second\r\n221 other\r\n"),
	/* never a reply: refused at the first byte that can't fit */
	BAD("HTTP/1.1 200 OK\r\n", 1),
	BAD("\r\n", 1),
	BAD("\n", 1),
	BAD(" 220 x\r\n", 1),
	BAD("099 x\r\n", 1),
	BAD("600 x\r\n", 1),
	BAD("2x0 x\r\n", 2),
	BAD("22 x\r\n", 3),
	BAD("22\r\n", 3),
	BAD("220x\r\n", 4),
	BAD("220\tx\r\n", 4),
	BAD("2200 x\r\n", 4),
	BAD("220\rx\r\n", 5),
	BAD("220\r\r\n", 5),
	BAD("\0" "220 x\r\n", 1),
};

/* reply_take on an exact-size copy of in[0..k), checked against *w. */
static void
take_prefix(const char *what, const char *in, size_t k, const struct want *w)
{
	struct reply	 r = { 0, NULL, 0, 0 };
	char		*b = dup_exact(in, k);
	int		 rc, want = k < w->at ? 0 : w->rc;
	size_t		 tail;

	rc = reply_take(b, k, &r);
	if (rc != want)
		fail_msg("%s: prefix %zu: rc %d, want %d", what, k, rc, want);
	if (rc == 1) {
		if (r.code != w->code || r.length != w->at)
			fail_msg("%s: prefix %zu: code %d length %zu", what, k,
			    r.code, r.length);
		/* the text is the last line, right before its line end */
		tail = r.length - (size_t)(r.text - b) - r.text_len;
		if (r.text < b || (tail != 1 && tail != 2))
			fail_msg("%s: prefix %zu: text not the last line",
			    what, k);
		if (w->text != NULL && (r.text_len != w->text_len ||
		    memcmp(r.text, w->text, r.text_len) != 0))
			fail_msg("%s: prefix %zu: text \"%.*s\"", what, k,
			    (int)r.text_len, r.text);
	}
	free(b);
}

static void
test_take(void **state)
{
	const struct take_row	*row;
	size_t			 i, k;
	char			 what[32];

	(void)state;
	for (i = 0; i < sizeof(take_rows) / sizeof(take_rows[0]); i++) {
		row = &take_rows[i];
		snprintf(what, sizeof(what), "take row %zu", i);
		for (k = 0; k <= row->len; k++)
			take_prefix(what, row->in, k, &row->w);
	}
}

/*
 * Long inputs, built as head, fill bytes of 'x' (with a LF every 64 bytes
 * and at the end when lines is set) and tail.  Checked at the prefixes
 * around at and in full.
 */
struct long_row {
	const char	*head;
	size_t		 fill;
	bool		 lines;
	const char	*tail;
	struct want	 w;
};

#define HEAD_LEN	(sizeof("211-Features\r\n") - 1)
#define TAIL_LEN	(sizeof("211 End\r\n") - 1)
#define MULTI_FILL	(REPLY_MAX - HEAD_LEN - TAIL_LEN)

static const struct long_row long_rows[] = {
	/* a line of REPLY_MAX_LINE bytes, then one byte more */
	{ "220 ", REPLY_MAX_LINE - 4, false, "\r\n",
	  { 1, REPLY_MAX_LINE + 2, 220, NULL, 0 } },
	{ "220 ", REPLY_MAX_LINE - 4, false, "\n",
	  { 1, REPLY_MAX_LINE + 1, 220, NULL, 0 } },
	{ "220 ", REPLY_MAX_LINE - 3, false, "\r\n",
	  { -1, REPLY_MAX_LINE + 2, 0, NULL, 0 } },
	{ "220 ", REPLY_MAX_LINE - 3, false, "\n",
	  { -1, REPLY_MAX_LINE + 2, 0, NULL, 0 } },
	{ "220 ", REPLY_MAX_LINE, false, "",
	  { -1, REPLY_MAX_LINE + 2, 0, NULL, 0 } },
	/* an inner line too long */
	{ "220-a\r\n", REPLY_MAX_LINE + 1, false, "\r\n220 z\r\n",
	  { -1, 7 + REPLY_MAX_LINE + 2, 0, NULL, 0 } },
	/* a FEAT of REPLY_MAX bytes, then one byte more */
	{ "211-Features\r\n", MULTI_FILL, true, "211 End\r\n",
	  { 1, REPLY_MAX, 211, "211 End", 7 } },
	{ "211-Features\r\n", MULTI_FILL + 1, true, "211 End\r\n",
	  { -1, REPLY_MAX, 0, NULL, 0 } },
	{ "211-Features\r\n", 2 * REPLY_MAX, true, "",
	  { -1, REPLY_MAX, 0, NULL, 0 } },
};

static void
test_take_long(void **state)
{
	const struct long_row	*row;
	size_t			 i, j, hl, len;
	size_t			 ks[3];
	char			*in;
	char			 what[32];

	(void)state;
	for (i = 0; i < sizeof(long_rows) / sizeof(long_rows[0]); i++) {
		row = &long_rows[i];
		hl = strlen(row->head);
		len = hl + row->fill + strlen(row->tail);
		in = malloc(len);
		assert_non_null(in);
		memcpy(in, row->head, hl);
		memset(in + hl, 'x', row->fill);
		for (j = 1; row->lines && j <= row->fill; j++)
			if (j % 64 == 0 || j == row->fill)
				in[hl + j - 1] = '\n';
		memcpy(in + hl + row->fill, row->tail, strlen(row->tail));
		snprintf(what, sizeof(what), "long row %zu", i);
		ks[0] = row->w.at - 1;
		ks[1] = row->w.at;
		ks[2] = len;
		for (j = 0; j < 3; j++)
			take_prefix(what, in, ks[j], &row->w);
		free(in);
	}
}

/* Pipelined replies back to back, taken one after the other. */
static void
test_take_pipelined(void **state)
{
	static const char	 in[] =
	    "150 Opening BINARY mode data connection\r\n"
	    "226-Transfer complete\r\n"
	    "229 inner line, not a reply of its own\r\n"
	    "226 Bytes sent\r\n"
	    "229 Entering Extended Passive Mode (|||123|)\r\n"
	    "150 Ope";
	static const int	 codes[] = { 150, 226, 229 };
	static const char *const last[] = {
	    "150 Opening BINARY mode data connection",
	    "226 Bytes sent",
	    "229 Entering Extended Passive Mode (|||123|)",
	};
	struct reply		 r;
	char			*b = dup_exact(in, sizeof(in) - 1);
	size_t			 off = 0, i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(reply_take(b + off, sizeof(in) - 1 - off, &r),
		    1);
		assert_int_equal(r.code, codes[i]);
		assert_int_equal(r.text_len, strlen(last[i]));
		assert_memory_equal(r.text, last[i], r.text_len);
		off += r.length;
	}
	assert_int_equal(reply_epsv_port(r.text, r.text_len), 123);
	assert_int_equal(reply_take(b + off, sizeof(in) - 1 - off, &r), 0);
	assert_int_equal(off, sizeof(in) - 1 - strlen("150 Ope"));
	free(b);
}

/* reply_next_line rows: the input and its lines, '|' between them. */
static const struct {
	const char	*in;
	const char	*lines;
} line_rows[] = {
	{ "211-Features:\r\n MDTM\n SIZE\r\n211 End\r\n",
	  "211-Features:| MDTM| SIZE|211 End|" },
	{ "220 one\r\n", "220 one|" },
	{ "a\r\nno LF at the end", "a|no LF at the end|" },
	{ "\r\n\n\r", "||\r|" },
	{ "x\r\r\n", "x\r|" },
	{ "", "" },
};

static void
test_next_line(void **state)
{
	const char	*line, *want, *bar;
	size_t		 i, pos, n, len;
	char		*b;

	(void)state;
	for (i = 0; i < sizeof(line_rows) / sizeof(line_rows[0]); i++) {
		len = strlen(line_rows[i].in);
		b = dup_exact(line_rows[i].in, len);
		want = line_rows[i].lines;
		pos = 0;
		while (reply_next_line(b, len, &pos, &line, &n) == 1) {
			bar = strchr(want, '|');
			if (bar == NULL || (size_t)(bar - want) != n ||
			    memcmp(line, want, n) != 0)
				fail_msg("line row %zu: \"%.*s\" at %zu", i,
				    (int)n, line, pos);
			want = bar + 1;
		}
		if (*want != '\0' || pos != len)
			fail_msg("line row %zu: lines missing", i);
		assert_int_equal(reply_next_line(b, len, &pos, &line, &n), 0);
		free(b);
	}
}

/* Port parser rows: a reply's last line and the port, or -1. */
struct port_row {
	const char	*text;
	int		 port;
};

static const struct port_row epsv_rows[] = {
	{ "229 Entering Extended Passive Mode (|||6446|)", 6446 },
	{ "229 Entering Extended Passive Mode (!!!6446!)", 6446 },
	{ "229 Entering Extended Passive Mode (~~~6446~)", 6446 },
	{ "229 EPSV ok (###1#)", 1 },
	{ "229 (%%%65535%)", 65535 },
	{ "229 (|||06446|)", 6446 },
	{ "229 no closing parenthesis (|||21|", 21 },
	{ "229 (see RFC 2428) (|||21|)", 21 },
	{ "229 (|||0|)", -1 },
	{ "229 (|||65536|)", -1 },
	{ "229 (|||99999999999999999999|)", -1 },
	{ "229 (||||)", -1 },
	{ "229 (|||)", -1 },
	{ "229 (|||6446)", -1 },
	{ "229 (|||6446", -1 },
	{ "229 (||6446|)", -1 },
	{ "229 (|!|6446|)", -1 },
	{ "229 (|||64a6|)", -1 },
	{ "229 (|||+6446|)", -1 },
	{ "229 (||| 6446|)", -1 },
	{ "229 (   6446 )", -1 },
	{ "229 (\x7f\x7f\x7f" "6446\x7f)", -1 },
	{ "229 (\x80\x80\x80" "6446\x80)", -1 },
	{ "229 (7776446 7)", -1 },
	{ "229 (5551235)", -1 },
	{ "229 (1111)", -1 },
	{ "229 |||6446|", -1 },
	{ "229 Entering Extended Passive Mode", -1 },
	{ "229 (", -1 },
	{ "229", -1 },
	{ "22", -1 },
	{ "", -1 },
	{ "(|||6446|)", -1 },
};

static const struct port_row pasv_rows[] = {
	{ "227 Entering Passive Mode (127,0,0,1,4,1)", 1025 },
	{ "227 Entering Passive Mode (192,168,1,2,195,149).", 50069 },
	{ "227 =127,0,0,1,4,1", 1025 },
	{ "227 Entering Passive Mode 127,0,0,1,4,1", 1025 },
	{ "227 Entering Passive Mode (127, 0, 0, 1, 4, 1)", 1025 },
	{ "227 Entering Passive Mode (127,  0,0,1,   4,1)", 1025 },
	{ "227 Entering Passive Mode (127,0,0,1,4,1", 1025 },
	{ "227 Mode 3 (127,0,0,1,0,1)", 1 },
	{ "227 (1,2 (127,0,0,1,4,1)", 1025 },
	{ "227 (255,255,255,255,255,255)", 65535 },
	{ "227 (000,000,000,000,004,001)", 1025 },
	{ "227 (1,2,3,4,5,6,7)", 1286 },
	{ "227 (127,0,0,1,0,0)", -1 },
	{ "227 (127,0,0,1,256,1)", -1 },
	{ "227 (127,0,0,1,4,256)", -1 },
	{ "227 (1270,0,0,1,4,1)", -1 },
	{ "227 (127,0,0,1,4)", -1 },
	{ "227 (127,0,0,1,4,)", -1 },
	{ "227 (127,0,0,1,4,,1)", -1 },
	{ "227 (127 ,0,0,1,4,1)", -1 },
	{ "227 (127;0;0;1;4;1)", -1 },
	{ "227 Entering Passive Mode", -1 },
	{ "227", -1 },
	{ "22", -1 },
	{ "", -1 },
	{ "127,0,0,1,4,1", -1 },
};

/* Each row's text in a buffer of exactly its length. */
static void
check_ports(const char *what, const struct port_row *rows, size_t n,
    int (*fn)(const char *, size_t))
{
	size_t	 i, len;
	char	*b;
	int	 port;

	for (i = 0; i < n; i++) {
		len = strlen(rows[i].text);
		b = dup_exact(rows[i].text, len);
		port = fn(b, len);
		if (port != rows[i].port)
			fail_msg("%s row %zu \"%s\": %d", what, i,
			    rows[i].text, port);
		free(b);
	}
}

static void
test_epsv(void **state)
{
	(void)state;
	check_ports("epsv", epsv_rows, sizeof(epsv_rows) /
	    sizeof(epsv_rows[0]), reply_epsv_port);
}

static void
test_pasv(void **state)
{
	(void)state;
	check_ports("pasv", pasv_rows, sizeof(pasv_rows) /
	    sizeof(pasv_rows[0]), reply_pasv_port);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_take_long),
		cmocka_unit_test(test_take_pipelined),
		cmocka_unit_test(test_next_line),
		cmocka_unit_test(test_epsv),
		cmocka_unit_test(test_pasv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
