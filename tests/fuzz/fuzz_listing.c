/*
 * fuzz_listing.c: libFuzzer target for the listing parsers.  The first
 * byte picks the format and how the input is split into feeds; the rest
 * is the listing.  Every split must give the same entries as one feed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
	size_t		entries;
	uint64_t	hash;
};

static void
on_entry(void *arg, const struct entry *e)
{
	struct tally *t = arg;
	size_t i;

	t->entries++;
	for (i = 0; i < e->name_len; i++)
		t->hash = t->hash * 31 + (unsigned char)e->name[i];
	t->hash = t->hash * 31 + (uint64_t)e->size + (uint64_t)e->mtime;
	if (e->link_target)
		t->hash += strlen(e->link_target);
}

static void
on_bad(void *arg, const char *line, size_t len)
{
	struct tally *t = arg;

	(void)line;
	t->hash = t->hash * 7 + len;
}

static struct tally
parse(enum listing_format fmt, const uint8_t *data, size_t size,
    size_t step)
{
	struct tally t = { 0, 0 };
	struct listing_parser *p;
	size_t off, n;

	p = listing_parser_new(fmt, 1764000000, on_entry, on_bad, &t);
	if (p == NULL)
		abort();
	for (off = 0; off < size; off += n) {
		n = size - off < step ? size - off : step;
		listing_parser_feed(p, (const char *)data + off, n);
	}
	listing_parser_finish(p);
	listing_parser_free(p);
	return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tally whole, split;
	struct feat f;
	int64_t mtime;
	enum listing_format fmt;
	size_t step;

	if (size < 1)
		return 0;
	fmt = (data[0] & 1) ? LISTING_MLSD : LISTING_LIST;
	step = (size_t)(data[0] >> 1) + 1;
	data++;
	size--;
	whole = parse(fmt, data, size, size ? size : 1);
	split = parse(fmt, data, size, step);
	if (whole.entries != split.entries || whole.hash != split.hash)
		abort();
	listing_parse_feat((const char *)data, size, &f);
	listing_parse_mdtm((const char *)data, size, &mtime);
	return 0;
}
