/*
 * listing.h: FTP directory listings (MLSD, unix LIST, DOS/IIS LIST) and
 * FEAT replies, parsed from bytes.  Nothing here touches a socket, a file
 * descriptor or the clock: callers hand in bytes and the current time.
 */
#ifndef FTPMIRROR_LISTING_H
#define FTPMIRROR_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum entry_type {
	ENTRY_FILE,		/* regular file */
	ENTRY_DIR,		/* directory */
	ENTRY_LINK,		/* symbolic link (target may be unknown) */
	ENTRY_OTHER,		/* device, socket, fifo, ...: never mirrored */
	ENTRY_SELF		/* MLSD "cdir": the listed directory itself,
				   reported for its unique fact */
};

enum mtime_prec {
	MTIME_NONE,		/* no usable time */
	MTIME_DAY,		/* "Aug  1  2022": the day is known */
	MTIME_MINUTE,		/* "Nov 25 02:25": the minute is known */
	MTIME_SECOND		/* MLSD modify=, MDTM: exact to the second */
};

/*
 * One entry of a listing.  Strings point into the parser's line buffer and
 * are valid only during the callback that receives the entry.
 */
struct entry {
	enum entry_type	 type;
	const char	*name;		/* NUL-terminated; may hold any byte but NUL */
	size_t		 name_len;	/* strlen(name) */
	int64_t		 size;		/* bytes, or -1 when not given */
	int64_t		 mtime;		/* seconds since the epoch, see below */
	enum mtime_prec	 mtime_prec;	/* how much of mtime the line gave */
	bool		 mtime_local;	/* mtime is the server's wall clock
					   read as if UTC (LIST); false means
					   true UTC (MLSD) */
	bool		 year_guessed;	/* "Mon DD HH:MM": the year is ours */
	const char	*link_target;	/* symlink target, or NULL */
	const char	*unique;	/* MLSD "unique" fact, or NULL */
	int		 mode;		/* permission bits 07777, or -1 */
};

enum listing_format {
	LISTING_MLSD,		/* RFC 3659 machine listing */
	LISTING_LIST		/* LIST: unix "ls -l" or DOS/IIS, per line */
};

/* What a parsed line turned out to be. */
enum listing_result {
	LISTING_ENTRY = 1,	/* *e holds an entry */
	LISTING_IGNORED = 0,	/* blank, "total N", pdir, LIST's directory
				   lines "." and ".." */
	LISTING_BAD = -1	/* could not be parsed */
};

/*
 * Parse one MLSD line (without its CRLF) into *e.  The line is modified in
 * place (names and facts are NUL-terminated inside it).  Fact names are
 * matched without regard to case; "modify" may carry fractional seconds;
 * type=OS.unix=slink:TARGET gives a link; type=cdir gives ENTRY_SELF (the
 * directory being listed, whatever name the server prints for it).
 */
enum listing_result listing_parse_mlsd(char *line, size_t len, struct entry *e);

/*
 * Parse one unix "ls -l" line.  now is the current time (seconds since the
 * epoch, read as the server's wall clock) and decides the year of
 * "Mon DD HH:MM" dates: the latest year that does not put the date more
 * than a day into the future.
 */
enum listing_result listing_parse_unix(char *line, size_t len, int64_t now,
    struct entry *e);

/* Parse one DOS/IIS LIST line ("08-01-22  11:32AM  3387 SHA256SUMS"). */
enum listing_result listing_parse_dos(char *line, size_t len, struct entry *e);

/* Parse one LIST line of either kind, telling them apart by its shape. */
enum listing_result listing_parse_list(char *line, size_t len, int64_t now,
    struct entry *e);

/*
 * A streaming parser: bytes in as they arrive from the data connection,
 * one callback per entry and one per unparsable line.  Lines longer than
 * LISTING_MAX_LINE are reported as bad and skipped, so a server can't make
 * the buffer grow without bound.
 */
#define LISTING_MAX_LINE	8192

typedef void (*listing_entry_fn)(void *arg, const struct entry *e);
typedef void (*listing_bad_fn)(void *arg, const char *line, size_t len);

struct listing_parser;

/*
 * Create a parser for the given format.  now is as for listing_parse_unix.
 * on_entry and on_bad are called from listing_parser_feed/finish with arg.
 * Returns NULL when out of memory.  Free with listing_parser_free.
 */
struct listing_parser *listing_parser_new(enum listing_format format,
    int64_t now, listing_entry_fn on_entry, listing_bad_fn on_bad, void *arg);

/* Feed len bytes (any split, CRLF or LF line ends). */
void listing_parser_feed(struct listing_parser *p, const char *data,
    size_t len);

/* Flush a last line that had no line end. */
void listing_parser_finish(struct listing_parser *p);

/* Counts kept by the parser, for history. */
size_t listing_parser_entries(const struct listing_parser *p);
size_t listing_parser_bad(const struct listing_parser *p);

void listing_parser_free(struct listing_parser *p);

/* What a server said it supports in its FEAT reply. */
struct feat {
	bool	mlsd;		/* MLST/MLSD */
	bool	mdtm;
	bool	size;
	bool	rest_stream;	/* REST STREAM */
	bool	utf8;
	bool	epsv;		/* not in FEAT by RFC, kept for symmetry */
	bool	hash;		/* HASH (draft-bryan-ftpext-hash) */
	bool	xsha256;
	bool	xmd5;
};

/*
 * Parse the text of a FEAT reply (all lines, "211-Features:" ... "211 End",
 * CRLF or LF) into *f, which is cleared first.
 */
void listing_parse_feat(const char *reply, size_t len, struct feat *f);

/*
 * Parse an MDTM reply ("213 20220801113220" or with ".sss") into seconds
 * since the epoch (UTC).  Returns 0, or -1 when the reply is not one.
 */
int listing_parse_mdtm(const char *reply, size_t len, int64_t *mtime);

#endif
