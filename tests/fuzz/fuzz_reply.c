/*
 * fuzz_reply.c: libFuzzer target for the control-connection reply finder
 * and the EPSV/PASV port parsers, fed what a hostile server may send.
 * Replies are taken one after another as the pipelining engine does; each
 * must lie inside the buffer, and a shorter prefix of the bytes must never
 * give a different reply (a reply is final once found).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every port is 1..65535, or -1. */
static void
check_ports(const struct reply *r)
{
	int e = reply_epsv_port(r->text, r->text_len);
	int p = reply_pasv_port(r->text, r->text_len);

	if ((e != -1 && (e < 1 || e > 65535)) ||
	    (p != -1 && (p < 1 || p > 65535)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct reply r, shorter;
	size_t off = 0;
	int got;

	while (off < size &&
	    (got = reply_take(buf + off, size - off, &r)) == 1) {
		if (r.length == 0 || r.length > size - off ||
		    r.code < 100 || r.code > 599 ||
		    r.text < buf + off ||
		    r.text + r.text_len > buf + off + r.length)
			abort();
		/* One byte short of the reply, it is not there yet. */
		if (reply_take(buf + off, r.length - 1, &shorter) != 0)
			abort();
		check_ports(&r);
		off += r.length;
	}
	return 0;
}
