/*
 * test_listing.c: table-driven tests of the listing parsers, with hostile
 * lines beside real ones.  Expected epoch values were computed with
 * `date -u -d ... +%s`, not with the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dup_exact.h"
#include "listing.h"

#define NOW		1732536000	/* 2024-11-25 12:00:00 UTC */
#define T_20220801	1659312000	/* 2022-08-01 00:00:00 */
#define T_MLSD		1659353540	/* 2022-08-01 11:32:20 */
#define T_I64MAX	"9223372036854775807"
#define T_I64OVF	"9223372036854775808"

#define E	LISTING_ENTRY
#define IGN	LISTING_IGNORED
#define BAD	LISTING_BAD

enum kind {
	K_MLSD,
	K_UNIX,
	K_DOS,
	K_LIST
};

struct row {
	const char		*in;
	size_t			 inlen;	/* 0: strlen(in) */
	enum listing_result	 res;
	enum entry_type		 type;
	int64_t			 size;
	int64_t			 mtime;
	enum mtime_prec		 prec;
	const char		*name;
	const char		*target;
	const char		*unique;
	int			 mode;
};

/* Rows that only check the result. */
#define R(in, res)	{ in, 0, res, 0, 0, 0, 0, NULL, NULL, NULL, 0 }

static const struct row mlsd_rows[] = {
	/* real servers (FTP-SERVERS.md) */
	{ "modify=20220801113220;perm=r;size=3387;type=file;"
	  "unique=fe00ga846c7; SHA256SUMS", 0, E, ENTRY_FILE, 3387, T_MLSD,
	  MTIME_SECOND, "SHA256SUMS", NULL, "fe00ga846c7", -1 },
	{ "type=file;size=3387;modify=20220801113220;UNIX.mode=0644;"
	  "unique=fe00ga846c7; SHA256SUMS", 0, E, ENTRY_FILE, 3387, T_MLSD,
	  MTIME_SECOND, "SHA256SUMS", NULL, "fe00ga846c7", 0644 },
	{ "modify=20220801113220;perm=adfr;size=3387;type=file;"
	  "unique=FE00UA846C7;UNIX.group=0;UNIX.groupname=nogroup;"
	  "UNIX.mode=0644;UNIX.owner=0;UNIX.ownername=ftp; SHA256SUMS", 0, E,
	  ENTRY_FILE, 3387, T_MLSD, MTIME_SECOND, "SHA256SUMS", NULL,
	  "FE00UA846C7", 0644 },
	{ "type=dir;modify=20220801113220;sizd=4096; pub", 0, E, ENTRY_DIR,
	  4096, T_MLSD, MTIME_SECOND, "pub", NULL, NULL, -1 },
	{ "type=dir;size=10;sizd=4096; d", 0, E, ENTRY_DIR, 10, 0, MTIME_NONE,
	  "d", NULL, NULL, -1 },
	{ "type=file;sizd=4096; f", 0, E, ENTRY_FILE, -1, 0, MTIME_NONE, "f",
	  NULL, NULL, -1 },
	/* cdir is the listed directory itself, reported for its unique */
	{ "type=cdir;modify=20220801113220;unique=801U3; /pub", 0, E,
	  ENTRY_SELF, -1, T_MLSD, MTIME_SECOND, "/pub", NULL, "801U3", -1 },
	R("type=pdir;modify=20220801113220; /", IGN),
	{ "type=CDir; .", 0, E, ENTRY_SELF, -1, 0, MTIME_NONE, ".", NULL,
	  NULL, -1 },
	/* "." and ".." other than cdir/pdir go on, to be refused by name */
	{ "type=file;size=1; .", 0, E, ENTRY_FILE, 1, 0, MTIME_NONE, ".",
	  NULL, NULL, -1 },
	{ "type=dir;size=1; ..", 0, E, ENTRY_DIR, 1, 0, MTIME_NONE, "..",
	  NULL, NULL, -1 },
	{ "type=file;size=1; ...", 0, E, ENTRY_FILE, 1, 0, MTIME_NONE, "...",
	  NULL, NULL, -1 },
	/* fact names and type values in any case; fractions dropped */
	{ "Type=FILE;SIZE=5;Modify=20220801113220.123456;UNIX.MODE=755; a b",
	  0, E, ENTRY_FILE, 5, T_MLSD, MTIME_SECOND, "a b", NULL, NULL, 0755 },
	{ "type=file;modify=20220801113220.5; x", 0, E, ENTRY_FILE, -1, T_MLSD,
	  MTIME_SECOND, "x", NULL, NULL, -1 },
	/* names keep spaces and semicolons */
	{ "type=file;size=5;   lead and trail  ", 0, E, ENTRY_FILE, 5, 0,
	  MTIME_NONE, "  lead and trail  ", NULL, NULL, -1 },
	{ "type=file;size=5; semi;colon; x", 0, E, ENTRY_FILE, 5, 0,
	  MTIME_NONE, "semi;colon; x", NULL, NULL, -1 },
	{ "type=file;size=5; ; ", 0, E, ENTRY_FILE, 5, 0, MTIME_NONE, "; ",
	  NULL, NULL, -1 },
	{ "type=file;size=0;perm=r; \xff\xfe\x80name", 0, E, ENTRY_FILE, 0, 0,
	  MTIME_NONE, "\xff\xfe\x80name", NULL, NULL, -1 },
	/* links and other types */
	{ "type=OS.unix=slink:/etc/passwd;size=11; pw", 0, E, ENTRY_LINK, 11,
	  0, MTIME_NONE, "pw", "/etc/passwd", NULL, -1 },
	{ "type=os.unix=SLINK:a b;size=3; l", 0, E, ENTRY_LINK, 3, 0,
	  MTIME_NONE, "l", "a b", NULL, -1 },
	{ "type=OS.unix=symlink;size=3; l", 0, E, ENTRY_LINK, 3, 0,
	  MTIME_NONE, "l", NULL, NULL, -1 },
	{ "type=OS.unix=slink; l", 0, E, ENTRY_LINK, -1, 0, MTIME_NONE, "l",
	  NULL, NULL, -1 },
	{ "type=OS.unix=slink:; l", 0, E, ENTRY_LINK, -1, 0, MTIME_NONE, "l",
	  NULL, NULL, -1 },
	{ "type=OS.unix=slinky; l", 0, E, ENTRY_OTHER, -1, 0, MTIME_NONE, "l",
	  NULL, NULL, -1 },
	{ "type=OS.unix=chr-13/29; tty", 0, E, ENTRY_OTHER, -1, 0, MTIME_NONE,
	  "tty", NULL, NULL, -1 },
	{ "size=5; notype", 0, E, ENTRY_OTHER, 5, 0, MTIME_NONE, "notype",
	  NULL, NULL, -1 },
	{ " nofacts", 0, E, ENTRY_OTHER, -1, 0, MTIME_NONE, "nofacts", NULL,
	  NULL, -1 },
	/* unique and mode */
	{ "type=file;size=1;UNIX.mode=0755;unique=; x", 0, E, ENTRY_FILE, 1, 0,
	  MTIME_NONE, "x", NULL, NULL, 0755 },
	{ "type=file;UNIX.mode=9z;size=1; x", 0, E, ENTRY_FILE, 1, 0,
	  MTIME_NONE, "x", NULL, NULL, -1 },
	{ "type=file;UNIX.mode=104755;size=1; x", 0, E, ENTRY_FILE, 1, 0,
	  MTIME_NONE, "x", NULL, NULL, 04755 },
	{ "type=file;UNIX.mode=77777777;size=1; x", 0, E, ENTRY_FILE, 1, 0,
	  MTIME_NONE, "x", NULL, NULL, -1 },
	/* dates at the edges */
	{ "type=file;modify=19700101000000; epoch", 0, E, ENTRY_FILE, -1, 0,
	  MTIME_SECOND, "epoch", NULL, NULL, -1 },
	{ "type=file;modify=19000101000000; y1900", 0, E, ENTRY_FILE, -1,
	  -2208988800, MTIME_SECOND, "y1900", NULL, NULL, -1 },
	{ "modify=99991231235959;type=file; max", 0, E, ENTRY_FILE, -1,
	  253402300799, MTIME_SECOND, "max", NULL, NULL, -1 },
	{ "type=file;modify=20000229000000; leap", 0, E, ENTRY_FILE, -1,
	  951782400, MTIME_SECOND, "leap", NULL, NULL, -1 },
	{ "type=file;modify=20161231235960; leapsec", 0, E, ENTRY_FILE, -1,
	  1483228800, MTIME_SECOND, "leapsec", NULL, NULL, -1 },
	{ "type=file;size=" T_I64MAX "; big", 0, E, ENTRY_FILE, INT64_MAX, 0,
	  MTIME_NONE, "big", NULL, NULL, -1 },
	/* blank */
	R("", IGN),
	R("   ", IGN),
	R("\r", IGN),
	/* no separator, no name */
	R("type=file;size=3387", BAD),
	R("type=file;size=3387;", BAD),
	R("type=file; ", BAD),
	R("type=file;size=3387 SHA256SUMS", BAD),
	R(" ", IGN),
	R("x", BAD),
	R(";", BAD),
	R("; ", BAD),
	R("; x", BAD),
	R("type=fi", BAD),
	R("type", BAD),
	/* malformed facts */
	R("type=file;noequals; x", BAD),
	R("=x;type=file; y", BAD),
	R("type=file;size=1 2; x", BAD),
	/* bad sizes */
	R("type=file;size=12a; x", BAD),
	R("type=file;size=-1; x", BAD),
	R("type=file;size=+1; x", BAD),
	R("type=file;size=; x", BAD),
	R("type=file;size=" T_I64OVF "; x", BAD),
	R("type=file;size=99999999999999999999999999999999999999; x", BAD),
	R("type=dir;sizd=x; x", BAD),
	/* bad dates */
	R("type=file;modify=20221301000000; x", BAD),
	R("type=file;modify=20220001000000; x", BAD),
	R("type=file;modify=20220230000000; x", BAD),
	R("type=file;modify=20230229000000; x", BAD),
	R("type=file;modify=20220800000000; x", BAD),
	R("type=file;modify=20220801240000; x", BAD),
	R("type=file;modify=20220801236000; x", BAD),
	R("type=file;modify=20220801235961; x", BAD),
	R("type=file;modify=2022080111322; x", BAD),
	R("type=file;modify=202208011132200; x", BAD),
	R("type=file;modify=20220801113220.; x", BAD),
	R("type=file;modify=20220801113220.1a; x", BAD),
	/* any year but 0000: 1601 is Windows' zero time */
	{ "type=file;modify=18991231235959; y1899", 0, E, ENTRY_FILE, -1,
	  -2208988801, MTIME_SECOND, "y1899", NULL, NULL, -1 },
	{ "type=file;modify=16010101000000; y1601", 0, E, ENTRY_FILE, -1,
	  -11644473600, MTIME_SECOND, "y1601", NULL, NULL, -1 },
	R("type=file;modify=00001231235959; x", BAD),
	R("type=file;modify=; x", BAD),
	R("type=file;modify=2022-08-01; x", BAD),
	/* NUL bytes */
	{ "type=file;size=1; a\0b", 20, BAD, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
	{ "type=file;si\0e=1; ab", 20, BAD, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
	{ "\0", 1, BAD, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};

static const struct row unix_rows[] = {
	/* real servers */
	{ "-rw-r--r--   3 root     root         3387 Aug 01  2022 SHA256SUMS",
	  0, E, ENTRY_FILE, 3387, T_20220801, MTIME_DAY, "SHA256SUMS", NULL,
	  NULL, 0644 },
	{ "-rw-r--r--    3 0          0                3387 Aug  1  2022 "
	  "SHA256SUMS", 0, E, ENTRY_FILE, 3387, T_20220801, MTIME_DAY,
	  "SHA256SUMS", NULL, NULL, 0644 },
	{ "-rw-r--r--    3 0        0            3387 Aug 01  2022 SHA256SUMS",
	  0, E, ENTRY_FILE, 3387, T_20220801, MTIME_DAY, "SHA256SUMS", NULL,
	  NULL, 0644 },
	{ "-rw-r--r--   3 root     root         3387 Aug  1  2022 SHA256SUMS",
	  0, E, ENTRY_FILE, 3387, T_20220801, MTIME_DAY, "SHA256SUMS", NULL,
	  NULL, 0644 },
	/* without a group column */
	{ "-rw-r--r--   1 ftp      3387 Aug  1  2022 x", 0, E, ENTRY_FILE,
	  3387, T_20220801, MTIME_DAY, "x", NULL, NULL, 0644 },
	{ "drwxr-xr-x 2 ftp 4096 Nov 25 02:25 d", 0, E, ENTRY_DIR, 4096,
	  1732501500, MTIME_MINUTE, "d", NULL, NULL, 0755 },
	/* recent: the year comes from now (2024-11-25 12:00) */
	{ "-rw-r--r--   1 ftp ftp 1234 Nov 25 02:25 recent", 0, E, ENTRY_FILE,
	  1234, 1732501500, MTIME_MINUTE, "recent", NULL, NULL, 0644 },
	{ "-rw-r--r--   1 ftp ftp 1234 Nov 26 10:00 tomorrow", 0, E,
	  ENTRY_FILE, 1234, 1732615200, MTIME_MINUTE, "tomorrow", NULL, NULL,
	  0644 },
	{ "drwxr-xr-x   2 ftp ftp 4096 Nov 27 02:25 lastyear", 0, E, ENTRY_DIR,
	  4096, 1701051900, MTIME_MINUTE, "lastyear", NULL, NULL, 0755 },
	{ "-rw-r--r-- 1 ftp ftp 5 Dec 31 23:59 nye", 0, E, ENTRY_FILE, 5,
	  1704067140, MTIME_MINUTE, "nye", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 5 feb 29 12:00 leap", 0, E, ENTRY_FILE, 5,
	  1709208000, MTIME_MINUTE, "leap", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 5 AUG  1  9:05 h", 0, E, ENTRY_FILE, 5,
	  1722503100, MTIME_MINUTE, "h", NULL, NULL, 0644 },
	/* links */
	{ "lrwxrwxrwx   1 ftp ftp 11 Aug  1  2022 pw -> /etc/passwd", 0, E,
	  ENTRY_LINK, 11, T_20220801, MTIME_DAY, "pw", "/etc/passwd", NULL,
	  0777 },
	{ "lrwxrwxrwx 1 ftp ftp 11 Aug  1  2022 a -> b -> c", 0, E,
	  ENTRY_LINK, 11, T_20220801, MTIME_DAY, "a", "b -> c", NULL, 0777 },
	/* a link's size is its target's length: it tells the arrow */
	{ "lrwxrwxrwx 1 ftp ftp 1 Aug  1  2022 a -> b -> c", 0, E,
	  ENTRY_LINK, 1, T_20220801, MTIME_DAY, "a -> b", "c", NULL, 0777 },
	{ "lrwxrwxrwx 1 ftp ftp 6 Aug  1  2022 a -> b -> c", 0, E,
	  ENTRY_LINK, 6, T_20220801, MTIME_DAY, "a", "b -> c", NULL, 0777 },
	{ "lrwxrwxrwx 1 ftp ftp 11 Aug  1  2022 a b ->  c ", 0, E,
	  ENTRY_LINK, 11, T_20220801, MTIME_DAY, "a b", " c ", NULL, 0777 },
	{ "lrwxrwxrwx 1 ftp ftp 5 Aug  1  2022 dangling -> ", 0, E,
	  ENTRY_LINK, 5, T_20220801, MTIME_DAY, "dangling", NULL, NULL, 0777 },
	{ "lrwxrwxrwx 1 ftp ftp 5 Aug  1  2022 noarrow", 0, E, ENTRY_LINK, 5,
	  T_20220801, MTIME_DAY, "noarrow", NULL, NULL, 0777 },
	{ "lrwxrwxrwx 1 ftp ftp 5 Aug  1  2022 a->b", 0, E, ENTRY_LINK, 5,
	  T_20220801, MTIME_DAY, "a->b", NULL, NULL, 0777 },
	R("lrwxrwxrwx 1 ftp ftp 5 Aug  1  2022  -> x", BAD),
	/* only ls -a's directory lines "." and ".." are skipped */
	{ "lrwxrwxrwx 1 ftp ftp 5 Aug  1  2022 . -> x", 0, E, ENTRY_LINK, 5,
	  1659312000, MTIME_DAY, ".", "x", NULL, 0777 },
	{ "-rw-r--r-- 1 ftp ftp 11 Aug  1  2022 a -> b", 0, E, ENTRY_FILE, 11,
	  T_20220801, MTIME_DAY, "a -> b", NULL, NULL, 0644 },
	/* names keep their spaces */
	{ "-rw-r--r-- 1 ftp ftp 11 Aug  1  2022   lead  ", 0, E, ENTRY_FILE, 11,
	  T_20220801, MTIME_DAY, "  lead  ", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 11 Nov 25 02:25  lead", 0, E, ENTRY_FILE, 11,
	  1732501500, MTIME_MINUTE, " lead", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 11 Aug  1  2022 two  spaces", 0, E, ENTRY_FILE,
	  11, T_20220801, MTIME_DAY, "two  spaces", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 11 Aug 1 2022 Aug 1 2022", 0, E, ENTRY_FILE, 11,
	  T_20220801, MTIME_DAY, "Aug 1 2022", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 Aug 12 11 Aug 1 2022 x", 0, E, ENTRY_FILE, 11,
	  T_20220801, MTIME_DAY, "x", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 0 Aug  1  2022 \xff\xfe\x80", 0, E, ENTRY_FILE,
	  0, T_20220801, MTIME_DAY, "\xff\xfe\x80", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp 0 Aug  1  2022 tab\there", 0, E, ENTRY_FILE,
	  0, T_20220801, MTIME_DAY, "tab\there", NULL, NULL, 0644 },
	{ "-rw-r--r-- 1 ftp ftp " T_I64MAX " Aug  1  2022 big", 0, E,
	  ENTRY_FILE, INT64_MAX, T_20220801, MTIME_DAY, "big", NULL, NULL,
	  0644 },
	/* devices, fifos, sockets */
	{ "crw-rw-rw-   1 root root   1,   3 Aug  1  2022 null", 0, E,
	  ENTRY_OTHER, -1, T_20220801, MTIME_DAY, "null", NULL, NULL, 0666 },
	{ "brw-rw----   1 root disk   8,0 Aug  1  2022 sda", 0, E, ENTRY_OTHER,
	  -1, T_20220801, MTIME_DAY, "sda", NULL, NULL, 0660 },
	{ "crw-rw-rw- 1 root 1, 3 Aug  1  2022 nogroup", 0, E, ENTRY_OTHER, -1,
	  T_20220801, MTIME_DAY, "nogroup", NULL, NULL, 0666 },
	{ "crw-rw-rw- 1 root root 0 Aug  1  2022 plain", 0, E, ENTRY_OTHER, -1,
	  T_20220801, MTIME_DAY, "plain", NULL, NULL, 0666 },
	{ "prw-r--r-- 1 ftp ftp 0 Aug  1  2022 fifo", 0, E, ENTRY_OTHER, 0,
	  T_20220801, MTIME_DAY, "fifo", NULL, NULL, 0644 },
	{ "srwxr-xr-x 1 ftp ftp 0 Aug  1  2022 sock", 0, E, ENTRY_OTHER, 0,
	  T_20220801, MTIME_DAY, "sock", NULL, NULL, 0755 },
	R("-rw-r--r-- 1 root root 1, 3 Aug  1  2022 notdev", BAD),
	R("crw-rw-rw- 1 root root 1, x Aug  1  2022 baddev", BAD),
	/* ACL and xattr marks, special bits */
	{ "-rw-r--r--+ 1 ftp ftp 5 Aug  1  2022 acl", 0, E, ENTRY_FILE, 5,
	  T_20220801, MTIME_DAY, "acl", NULL, NULL, 0644 },
	{ "-rw-r--r--@ 1 ftp ftp 5 Aug  1  2022 xattr", 0, E, ENTRY_FILE, 5,
	  T_20220801, MTIME_DAY, "xattr", NULL, NULL, 0644 },
	{ "drwxr-xr-x. 1 ftp ftp 5 Aug  1  2022 selinux", 0, E, ENTRY_DIR, 5,
	  T_20220801, MTIME_DAY, "selinux", NULL, NULL, 0755 },
	{ "-rwsr-sr-t 1 ftp ftp 5 Aug  1  2022 bits", 0, E, ENTRY_FILE, 5,
	  T_20220801, MTIME_DAY, "bits", NULL, NULL, 07755 },
	{ "-rwSr-Sr-T 1 ftp ftp 5 Aug  1  2022 bits", 0, E, ENTRY_FILE, 5,
	  T_20220801, MTIME_DAY, "bits", NULL, NULL, 07644 },
	{ "---------- 1 ftp ftp 5 Aug  1  2022 none", 0, E, ENTRY_FILE, 5,
	  T_20220801, MTIME_DAY, "none", NULL, NULL, 0 },
	R("-rw-r--r--x 1 ftp ftp 5 Aug  1  2022 x", BAD),
	R("-rw-r--r--++ 1 ftp ftp 5 Aug  1  2022 x", BAD),
	R("-rw-r--r- 1 ftp ftp 5 Aug  1  2022 x", BAD),
	R("-rwxrwxrwz 1 ftp ftp 5 Aug  1  2022 x", BAD),
	R("-rwtr--r-- 1 ftp ftp 5 Aug  1  2022 x", BAD),
	R("-rw-r--r-s 1 ftp ftp 5 Aug  1  2022 x", BAD),
	R("?rw-r--r-- 1 ftp ftp 5 Aug  1  2022 x", BAD),
	/* a Solaris door: a type of its own, never mirrored */
	{ "Drw-r--r-- 1 ftp ftp 5 Aug  1  2022 x", 0, E, ENTRY_OTHER, 5,
	  T_20220801, MTIME_DAY, "x", NULL, NULL, 0644 },
	/* ignored */
	R("total 123", IGN),
	R("total 0", IGN),
	R("TOTAL 1.5M", IGN),
	R("drwxr-xr-x 2 ftp ftp 4096 Aug  1  2022 .", IGN),
	R("drwxr-xr-x 2 ftp ftp 4096 Aug  1  2022 ..", IGN),
	R("", IGN),
	R("     ", IGN),
	/* truncated and missing pieces */
	R("-rw-r--r-- 1 ftp ftp 3387 Aug  1  2022", BAD),
	R("-rw-r--r-- 1 ftp ftp 3387 Aug  1  2022 ", BAD),
	R("-rw-r--r-- 1 ftp ftp 3387 Aug  1 ", BAD),
	R("-rw-r--r-- 1 ftp ftp 3387 Aug", BAD),
	R("-rw-r--r-- 1 ftp ftp", BAD),
	R("-rw-r--r--", BAD),
	R("-", BAD),
	R("x", BAD),
	R("total", BAD),
	R("-rw-r--r-- 1 ftp ftp Aug  1  2022 nosize", BAD),
	R("-rw-r--r-- ftp ftp 5 Aug  1  2022 nolinks", BAD),
	R(" -rw-r--r-- 1 ftp ftp 5 Aug  1  2022 indented", BAD),
	R("-rw-r--r-- 1 a b c 5 Aug  1  2022 extra", BAD),
	/* bad numbers */
	R("-rw-r--r-- 1 ftp ftp " T_I64OVF " Aug  1  2022 big", BAD),
	R("-rw-r--r-- 1 ftp ftp 99999999999999999999999999 Aug  1  2022 b",
	    BAD),
	R("-rw-r--r-- 1 ftp ftp -5 Aug  1  2022 neg", BAD),
	R("-rw-r--r-- x ftp ftp 5 Aug  1  2022 x", BAD),
	/* bad dates */
	R("-rw-r--r-- 1 ftp ftp 5 Foo  1  2022 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Feb 30  2022 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Feb 29  2023 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug 32  2022 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  0  2022 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug 001  2022 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1  1899 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1 12345 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1 24:00 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1 12:60 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1 123:00 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1 1:0 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1 12.00 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 August 1 2022 x", BAD),
	/* NUL bytes */
	{ "-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 a\0b", 39, BAD, 0, 0, 0, 0,
	  NULL, NULL, NULL, 0 },
	{ "-rw-r--r-- 1 ftp ftp 5\0Aug  1  2022 ab", 39, BAD, 0, 0, 0, 0,
	  NULL, NULL, NULL, 0 },
};

static const struct row dos_rows[] = {
	{ "08-01-22  11:32AM       3387 SHA256SUMS", 0, E, ENTRY_FILE, 3387,
	  1659353520, MTIME_MINUTE, "SHA256SUMS", NULL, NULL, -1 },
	{ "08-01-2022  23:32  <DIR>  pub", 0, E, ENTRY_DIR, -1, 1659396720,
	  MTIME_MINUTE, "pub", NULL, NULL, -1 },
	{ "08-01-22  11:32PM       <DIR>          with space", 0, E, ENTRY_DIR,
	  -1, 1659396720, MTIME_MINUTE, "with space", NULL, NULL, -1 },
	{ "08-01-22  12:32AM  <dir>  midnight", 0, E, ENTRY_DIR, -1,
	  1659313920, MTIME_MINUTE, "midnight", NULL, NULL, -1 },
	{ "08-01-22  12:32PM  5 noon", 0, E, ENTRY_FILE, 5, 1659357120,
	  MTIME_MINUTE, "noon", NULL, NULL, -1 },
	{ "08-01-22  11:32pm  5 lower", 0, E, ENTRY_FILE, 5, 1659396720,
	  MTIME_MINUTE, "lower", NULL, NULL, -1 },
	{ "08-01-22  0:32  5 h1", 0, E, ENTRY_FILE, 5, 1659313920,
	  MTIME_MINUTE, "h1", NULL, NULL, -1 },
	{ "03-04-85  12:00AM  1 old", 0, E, ENTRY_FILE, 1, 478742400,
	  MTIME_MINUTE, "old", NULL, NULL, -1 },
	{ "01-01-70  12:00AM  1 epoch", 0, E, ENTRY_FILE, 1, 0, MTIME_MINUTE,
	  "epoch", NULL, NULL, -1 },
	{ "12-31-69  11:59PM  1 y2069", 0, E, ENTRY_FILE, 1, 3155759940,
	  MTIME_MINUTE, "y2069", NULL, NULL, -1 },
	{ "02-29-00  12:00AM  1 y2k", 0, E, ENTRY_FILE, 1, 951782400,
	  MTIME_MINUTE, "y2k", NULL, NULL, -1 },
	{ "08-01-22  11:32AM  3387  two leading", 0, E, ENTRY_FILE, 3387,
	  1659353520, MTIME_MINUTE, " two leading", NULL, NULL, -1 },
	{ "08-01-22  11:32AM  3387 \xff\xfe", 0, E, ENTRY_FILE, 3387,
	  1659353520, MTIME_MINUTE, "\xff\xfe", NULL, NULL, -1 },
	{ "08-01-22  11:32AM  " T_I64MAX " big", 0, E, ENTRY_FILE, INT64_MAX,
	  1659353520, MTIME_MINUTE, "big", NULL, NULL, -1 },
	{ "08-01-22  11:32AM  <JUNCTION>  j", 0, E, ENTRY_OTHER, -1,
	  1659353520, MTIME_MINUTE, "j", NULL, NULL, -1 },
	R("08-01-22  11:32AM  <DIR>  .", IGN),
	R("08-01-22  11:32AM  <DIR>  ..", IGN),
	R("", IGN),
	R("  ", IGN),
	R("08-01-22", BAD),
	R("08-01-22 ", BAD),
	R("08-01-22  11:32AM", BAD),
	R("08-01-22  11:32AM ", BAD),
	R("08-01-22  11:32AM       3387", BAD),
	R("08-01-22  11:32AM       3387 ", BAD),
	R("08-01-22  11:32AM  <DIR>", BAD),
	R("08-01-22  11:32AM  <DIR>   ", BAD),
	R("08-01-22  11:32AM  <DIR>x", BAD),
	R("08-01-22  11:32AM  <DIR", BAD),
	R("13-01-22  11:32AM  1 x", BAD),
	R("00-01-22  11:32AM  1 x", BAD),
	R("02-30-22  11:32AM  1 x", BAD),
	R("02-29-23  11:32AM  1 x", BAD),
	R("08-00-22  11:32AM  1 x", BAD),
	R("08-01-2  11:32AM  1 x", BAD),
	R("08-01-202  11:32AM  1 x", BAD),
	R("08-01-20222  11:32AM  1 x", BAD),
	R("08-01-1899  11:32  1 x", BAD),
	R("08-01-22  13:32PM  1 x", BAD),
	R("08-01-22  00:32AM  1 x", BAD),
	R("08-01-22  24:00  1 x", BAD),
	R("08-01-22  11:60AM  1 x", BAD),
	R("08-01-22  111:00  1 x", BAD),
	R("08-01-22  11:3  1 x", BAD),
	R("08-01-22  11:32XM  1 x", BAD),
	R("08-01-22  11:32AM  12a x", BAD),
	R("08-01-22  11:32AM  -1 x", BAD),
	R("08-01-22  11:32AM  " T_I64OVF " x", BAD),
	R("08-01-22  11:32AM  9999999999999999999999999 x", BAD),
	R("08-01-2211:32AM  1 x", BAD),
	R("-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 unix", BAD),
	{ "08-01-22  11:32AM  1 a\0b", 23, BAD, 0, 0, 0, 0, NULL, NULL, NULL,
	  0 },
};

/* LIST lines: the parser is picked by the shape of each line. */
static const struct row list_rows[] = {
	{ "-rw-r--r--   3 root     root         3387 Aug 01  2022 SHA256SUMS",
	  0, E, ENTRY_FILE, 3387, T_20220801, MTIME_DAY, "SHA256SUMS", NULL,
	  NULL, 0644 },
	{ "08-01-22  11:32AM       3387 SHA256SUMS", 0, E, ENTRY_FILE, 3387,
	  1659353520, MTIME_MINUTE, "SHA256SUMS", NULL, NULL, -1 },
	{ "08-01-2022  23:32  <DIR>  pub", 0, E, ENTRY_DIR, -1, 1659396720,
	  MTIME_MINUTE, "pub", NULL, NULL, -1 },
	R("total 5", IGN),
	R("", IGN),
	R("12-34", BAD),
	R("1", BAD),
	R("08-01-", BAD),
	R("08-01-22  garbage", BAD),
};

/* Year inference for "Mon DD HH:MM" against various values of now. */
struct infer_row {
	const char	*date;
	int64_t		 now;
	int64_t		 mtime;		/* -1: the line is bad */
};

static const struct infer_row infer_rows[] = {
	{ "Nov 25 02:25", NOW, 1732501500 },
	{ "Nov 26 10:00", NOW, 1732615200 },	/* within a day ahead */
	{ "Nov 27 02:25", NOW, 1701051900 },	/* further: last year */
	{ "Jan  1 00:00", 1704067140, 1704067200 },	/* now 2023-12-31 23:59 */
	{ "Dec 31 23:59", 1704067140, 1704067140 },
	{ "Feb 29 12:00", 1685577600, 1582977600 },	/* now 2023-06-01 */
	{ "Feb 29 12:00", NOW, 1709208000 },
	{ "Jan  1 00:00", 0, 0 },
	{ "Dec 31 23:59", 0, -60 },
	{ "Dec 31 00:00", -2208988800, -1 },	/* would be 1899 */
	{ "Jan  1 00:00", INT64_MAX, -1 },
	{ "Jan  1 00:00", INT64_MIN, -1 },
	{ "Jan  1 00:00", 253402300799, 253370764800 },	/* 9999-01-01 */
};

static void
check_str(size_t i, const char *in, const char *what, const char *got,
    const char *want)
{
	if (want == NULL && got == NULL)
		return;
	if (want == NULL || got == NULL || strcmp(got, want) != 0)
		fail_msg("row %zu \"%s\": %s is \"%s\", want \"%s\"", i, in,
		    what, got ? got : "(null)", want ? want : "(null)");
}

static void
check_row(enum kind k, size_t i, const struct row *r)
{
	struct entry		e;
	enum listing_result	res;
	size_t			len = r->inlen ? r->inlen : strlen(r->in);
	char			*b = dup_exact(r->in, len);

	switch (k) {
	case K_MLSD:
		res = listing_parse_mlsd(b, len, &e);
		break;
	case K_UNIX:
		res = listing_parse_unix(b, len, NOW, &e);
		break;
	case K_DOS:
		res = listing_parse_dos(b, len, &e);
		break;
	default:
		res = listing_parse_list(b, len, NOW, &e);
		break;
	}
	if (res != r->res)
		fail_msg("row %zu \"%s\": result %d, want %d", i, r->in,
		    (int)res, (int)r->res);
	if (res == LISTING_BAD && memcmp(b, r->in, len) != 0)
		fail_msg("row %zu \"%s\": bad line was modified", i, r->in);
	if (res != LISTING_ENTRY) {
		free(b);
		return;
	}
	if (e.type != r->type)
		fail_msg("row %zu \"%s\": type %d, want %d", i, r->in,
		    (int)e.type, (int)r->type);
	if (e.size != r->size)
		fail_msg("row %zu \"%s\": size %" PRId64 ", want %" PRId64, i,
		    r->in, e.size, r->size);
	if (e.mtime != r->mtime || e.mtime_prec != r->prec)
		fail_msg("row %zu \"%s\": mtime %" PRId64 "/%d, want %" PRId64
		    "/%d", i, r->in, e.mtime, (int)e.mtime_prec, r->mtime,
		    (int)r->prec);
	if (e.mtime_local != (k != K_MLSD && r->prec != MTIME_NONE))
		fail_msg("row %zu \"%s\": mtime_local %d", i, r->in,
		    (int)e.mtime_local);
	if (e.mode != r->mode)
		fail_msg("row %zu \"%s\": mode %o, want %o", i, r->in, e.mode,
		    r->mode);
	check_str(i, r->in, "name", e.name, r->name);
	check_str(i, r->in, "link target", e.link_target, r->target);
	check_str(i, r->in, "unique", e.unique, r->unique);
	if (e.name_len != strlen(r->name))
		fail_msg("row %zu \"%s\": name_len %zu", i, r->in, e.name_len);
	/* every string lies inside the line, its NUL too */
	assert_true(e.name >= b && e.name + e.name_len < b + len);
	if (e.link_target != NULL)
		assert_true(e.link_target >= b &&
		    e.link_target + strlen(e.link_target) < b + len);
	if (e.unique != NULL)
		assert_true(e.unique >= b &&
		    e.unique + strlen(e.unique) < b + len);
	free(b);
}

#define RUN_TABLE(kind, rows) do {					\
	size_t	i_;							\
	for (i_ = 0; i_ < sizeof(rows) / sizeof(rows[0]); i_++)	\
		check_row(kind, i_, &rows[i_]);				\
} while (0)

static void
test_mlsd(void **state)
{
	(void)state;
	RUN_TABLE(K_MLSD, mlsd_rows);
}

static void
test_unix(void **state)
{
	(void)state;
	RUN_TABLE(K_UNIX, unix_rows);
}

static void
test_dos(void **state)
{
	(void)state;
	RUN_TABLE(K_DOS, dos_rows);
}

static void
test_list(void **state)
{
	(void)state;
	RUN_TABLE(K_LIST, list_rows);
}

static void
test_unix_year(void **state)
{
	struct entry		e;
	enum listing_result	res;
	char			line[128], *b;
	size_t			i, len;

	(void)state;
	for (i = 0; i < sizeof(infer_rows) / sizeof(infer_rows[0]); i++) {
		len = (size_t)snprintf(line, sizeof(line),
		    "-rw-r--r-- 1 ftp ftp 5 %s x", infer_rows[i].date);
		b = dup_exact(line, len);
		res = listing_parse_unix(b, len, infer_rows[i].now, &e);
		if (infer_rows[i].mtime == -1) {
			if (res != LISTING_BAD)
				fail_msg("row %zu: result %d, want bad", i,
				    (int)res);
		} else {
			if (res != LISTING_ENTRY)
				fail_msg("row %zu: result %d", i, (int)res);
			if (e.mtime != infer_rows[i].mtime)
				fail_msg("row %zu: mtime %" PRId64 ", want %"
				    PRId64, i, e.mtime, infer_rows[i].mtime);
			assert_int_equal(e.mtime_prec, MTIME_MINUTE);
			assert_true(e.mtime_local);
		}
		free(b);
	}
}

/*
 * What a streaming parser reported, written out as text so that two runs
 * can be compared as a whole.
 */
struct collect {
	char	*log;
	size_t	 len;
	size_t	 entries;
	size_t	 bad;
	size_t	 last_bad_len;
};

static void
collect_append(struct collect *c, const char *s, size_t n)
{
	c->log = realloc(c->log, c->len + n + 1);
	assert_non_null(c->log);
	memcpy(c->log + c->len, s, n);
	c->len += n;
	c->log[c->len] = '\0';
}

static void
on_entry(void *arg, const struct entry *e)
{
	struct collect	*c = arg;
	char		 head[256];
	int		 n;

	assert_int_equal(strlen(e->name), e->name_len);
	n = snprintf(head, sizeof(head), "E %d %" PRId64 " %" PRId64 " %d %d "
	    "%o %zu ", (int)e->type, e->size, e->mtime, (int)e->mtime_prec,
	    (int)e->mtime_local, (unsigned)e->mode, e->name_len);
	collect_append(c, head, (size_t)n);
	collect_append(c, e->name, e->name_len);
	collect_append(c, "|", 1);
	if (e->link_target != NULL)
		collect_append(c, e->link_target, strlen(e->link_target));
	collect_append(c, "|", 1);
	if (e->unique != NULL)
		collect_append(c, e->unique, strlen(e->unique));
	collect_append(c, "\n", 1);
	c->entries++;
}

static void
on_bad(void *arg, const char *line, size_t len)
{
	struct collect	*c = arg;
	char		 head[64];
	int		 n;

	assert_true(len <= LISTING_MAX_LINE);
	n = snprintf(head, sizeof(head), "B %zu ", len);
	collect_append(c, head, (size_t)n);
	collect_append(c, line, len);
	collect_append(c, "\n", 1);
	c->bad++;
	c->last_bad_len = len;
}

/* Feed data in pieces ending at the given cut offsets, then finish. */
static void
run_stream(enum listing_format fmt, const char *data, size_t len,
    const size_t *cuts, size_t ncuts, struct collect *c)
{
	struct listing_parser	*p;
	size_t			 pos = 0, i;
	char			*chunk;

	memset(c, 0, sizeof(*c));
	p = listing_parser_new(fmt, NOW, on_entry, on_bad, c);
	assert_non_null(p);
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		/* each piece in its own allocation, to catch over-reads */
		chunk = dup_exact(data + pos, end - pos);
		listing_parser_feed(p, chunk, end - pos);
		free(chunk);
		pos = end;
	}
	listing_parser_finish(p);
	assert_int_equal(listing_parser_entries(p), c->entries);
	assert_int_equal(listing_parser_bad(p), c->bad);
	listing_parser_free(p);
}

/* The log may hold NUL bytes from bad lines, so no strstr. */
static bool
log_has(const struct collect *c, const char *s)
{
	return c->log != NULL && memmem(c->log, c->len, s, strlen(s)) != NULL;
}

static void
collect_free(struct collect *c)
{
	free(c->log);
	c->log = NULL;
}


static const char list_stream[] =
	"total 24\r\n"
	"drwxr-xr-x   2 ftp ftp 4096 Aug  1  2022 .\r\n"
	"drwxr-xr-x   2 ftp ftp 4096 Aug  1  2022 ..\r\n"
	"-rw-r--r--   3 root     root         3387 Aug 01  2022 SHA256SUMS\r\n"
	"lrwxrwxrwx   1 ftp ftp 11 Nov 25 02:25 pw -> /etc/passwd\n"
	"\r\n"
	"\n"
	"garbage line\r\n"
	"-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 nul\0inside\r\n"
	"-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 cr in name\r\r\n"
	"\r\n"
	"08-01-22  11:32AM       3387 dos file\r\n"
	"08-01-2022  23:32  <DIR>  dos dir\r\n"
	"-rw-r--r-- 1 ftp ftp 5 Aug  1  2022   spaced  \r\n"
	"-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 last, no line end";

static const char mlsd_stream[] =
	"type=cdir;modify=20220801113220; /pub\r\n"
	"type=pdir;modify=20220801113220; /\r\n"
	"modify=20220801113220;perm=adfr;size=3387;type=file;"
	"unique=FE00UA846C7;UNIX.mode=0644; SHA256SUMS\r\n"
	"type=dir;sizd=4096;modify=20220801113220; sub dir\r\n"
	"type=OS.unix=slink:/x;size=2; link\n"
	"type=file; \r\n"
	"bogus\r\n"
	"\r\n"
	"type=file;size=1; last";

static void
test_stream_list(void **state)
{
	struct collect	c;
	/* pw is followed by garbage, so it is reported bad with it */
	const char	*expect =
	    "E 0 3387 1659312000 1 1 644 10 SHA256SUMS||\n"
	    "B 56 lrwxrwxrwx   1 ftp ftp 11 Nov 25 02:25 pw -> /etc/passwd\n"
	    "B 12 garbage line\n";

	(void)state;
	run_stream(LISTING_LIST, list_stream, sizeof(list_stream) - 1, NULL,
	    0, &c);
	assert_int_equal(c.entries, 6);
	assert_int_equal(c.bad, 3);
	/* the first lines, and the NUL line handed whole to on_bad */
	assert_memory_equal(c.log, expect, strlen(expect));
	assert_memory_equal(c.log + strlen(expect), "B 46 -rw-r--r-- 1 ftp ftp "
	    "5 Aug  1  2022 nul\0inside\n", 52);
	assert_true(log_has(&c,
	    "E 0 5 1659312000 1 1 644 11 cr in name\r||\n"));
	assert_true(log_has(&c, "E 0 3387 1659353520 2 1 "
	    "37777777777 8 dos file||\n"));
	assert_true(log_has(&c, "E 1 -1 1659396720 2 1 37777777777 7 "
	    "dos dir||\n"));
	assert_true(log_has(&c, "10   spaced  ||\n"));
	assert_true(log_has(&c, "17 last, no line end||\n"));
	collect_free(&c);
}

static void
test_stream_mlsd(void **state)
{
	struct collect	c;
	const char	*want =
	    "E 4 -1 1659353540 3 0 37777777777 4 /pub||\n"
	    "E 0 3387 1659353540 3 0 644 10 SHA256SUMS||FE00UA846C7\n"
	    "E 1 4096 1659353540 3 0 37777777777 7 sub dir||\n"
	    "E 2 2 0 0 0 37777777777 4 link|/x|\n"
	    "B 11 type=file; \n"
	    "B 5 bogus\n"
	    "E 0 1 0 0 0 37777777777 4 last||\n";

	(void)state;
	run_stream(LISTING_MLSD, mlsd_stream, sizeof(mlsd_stream) - 1, NULL,
	    0, &c);
	assert_string_equal(c.log, want);
	assert_int_equal(c.entries, 5);
	assert_int_equal(c.bad, 2);
	collect_free(&c);
}

/* Every split of the input, one cut or many, gives the same report. */
static void
split_everywhere(enum listing_format fmt, const char *data, size_t len)
{
	struct collect	 whole, part;
	size_t		 i, cut[3], *bytes;

	run_stream(fmt, data, len, NULL, 0, &whole);
	for (i = 0; i <= len; i++) {
		cut[0] = i;
		run_stream(fmt, data, len, cut, 1, &part);
		if (part.len != whole.len ||
		    memcmp(part.log, whole.log, whole.len) != 0)
			fail_msg("split at %zu differs", i);
		collect_free(&part);
	}
	for (i = 0; i + 7 <= len; i++) {
		cut[0] = i;
		cut[1] = i + 1;
		cut[2] = i + 7;
		run_stream(fmt, data, len, cut, 3, &part);
		if (part.len != whole.len ||
		    memcmp(part.log, whole.log, whole.len) != 0)
			fail_msg("splits at %zu differ", i);
		collect_free(&part);
	}
	/* one byte at a time */
	bytes = malloc(len * sizeof(*bytes));
	assert_non_null(bytes);
	for (i = 0; i < len; i++)
		bytes[i] = i;
	run_stream(fmt, data, len, bytes, len, &part);
	assert_int_equal(part.len, whole.len);
	assert_memory_equal(part.log, whole.log, whole.len);
	collect_free(&part);
	free(bytes);
	collect_free(&whole);
}

static void
test_stream_splits(void **state)
{
	(void)state;
	split_everywhere(LISTING_LIST, list_stream, sizeof(list_stream) - 1);
	split_everywhere(LISTING_MLSD, mlsd_stream, sizeof(mlsd_stream) - 1);
}

/* A listing with one line of n bytes of 'a' between two good lines. */
static char *
long_listing(size_t n, const char *end, size_t *lenp)
{
	const char	*good = "-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 ok\n";
	size_t		 g = strlen(good), e = strlen(end);
	char		*b;

	b = malloc(2 * g + n + e);
	assert_non_null(b);
	memcpy(b, good, g);
	memset(b + g, 'a', n);
	memcpy(b + g + n, end, e);
	memcpy(b + g + n + e, good, g);
	*lenp = 2 * g + n + e;
	return b;
}

static void
test_stream_long(void **state)
{
	struct collect	 c;
	size_t		 len, i, n, chunk;
	size_t		 cuts[64];
	char		*b;
	static const size_t sizes[] = { 9000, 8193, 20000, 3 * 8192 };

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		b = long_listing(sizes[i], "\r\n", &len);
		for (chunk = 1000; chunk <= len; chunk *= 3) {
			for (n = 0; n * chunk < len && n < 64; n++)
				cuts[n] = n * chunk;
			run_stream(LISTING_LIST, b, len, cuts, n, &c);
			assert_int_equal(c.entries, 2);
			assert_int_equal(c.bad, 1);
			assert_int_equal(c.last_bad_len, LISTING_MAX_LINE);
			collect_free(&c);
		}
		run_stream(LISTING_LIST, b, len, NULL, 0, &c);
		assert_int_equal(c.entries, 2);
		assert_int_equal(c.bad, 1);
		assert_int_equal(c.last_bad_len, LISTING_MAX_LINE);
		collect_free(&c);
		free(b);
	}

	/* exactly the limit is fine, with or without a CR */
	b = long_listing(LISTING_MAX_LINE, "\r\n", &len);
	run_stream(LISTING_LIST, b, len, NULL, 0, &c);
	assert_int_equal(c.bad, 1);	/* 'a' * 8192 is not a listing line */
	assert_int_equal(c.last_bad_len, LISTING_MAX_LINE);
	collect_free(&c);
	free(b);

	/* an overlong last line without a line end */
	b = long_listing(9000, "", &len);
	run_stream(LISTING_LIST, b, len - 39, NULL, 0, &c);
	assert_int_equal(c.entries, 1);
	assert_int_equal(c.bad, 1);
	assert_int_equal(c.last_bad_len, LISTING_MAX_LINE);
	collect_free(&c);
	free(b);
}

/* A valid line of exactly n bytes, its name padded out. */
static char *
sized_line(size_t n, const char *end, size_t *lenp)
{
	const char	*head = "-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 ";
	size_t		 h = strlen(head), e = strlen(end);
	char		*b;

	b = malloc(n + e);
	assert_non_null(b);
	memcpy(b, head, h);
	memset(b + h, 'n', n - h);
	memcpy(b + n, end, e);
	*lenp = n + e;
	return b;
}

static void
test_stream_limit(void **state)
{
	struct collect	 c;
	size_t		 len, cut;
	char		*b;
	const char	*ends[] = { "\r\n", "\n", "\r", "" };
	size_t		 i;

	(void)state;
	for (i = 0; i < 4; i++) {
		b = sized_line(LISTING_MAX_LINE, ends[i], &len);
		run_stream(LISTING_LIST, b, len, NULL, 0, &c);
		assert_int_equal(c.entries, 1);
		assert_int_equal(c.bad, 0);
		collect_free(&c);
		cut = LISTING_MAX_LINE;
		run_stream(LISTING_LIST, b, len, &cut, 1, &c);
		assert_int_equal(c.entries, 1);
		assert_int_equal(c.bad, 0);
		collect_free(&c);
		free(b);

		b = sized_line(LISTING_MAX_LINE + 1, ends[i], &len);
		run_stream(LISTING_LIST, b, len, NULL, 0, &c);
		assert_int_equal(c.entries, 0);
		assert_int_equal(c.bad, 1);
		assert_int_equal(c.last_bad_len, LISTING_MAX_LINE);
		collect_free(&c);
		free(b);
	}
}

/*
 * libcurl reads listings in ASCII mode and turns a CR inside a name into
 * a line break: "cr\rname" arrives as "...; cr" and "name".  The first
 * half must not pass for an entry of its own.
 */
static void
test_stream_cr_split(void **state)
{
	struct collect	c;
	static const char mlsd[] =
	    "type=file;size=1; before\r\n"
	    "type=file;size=5; cr\n"
	    "name\r\n"
	    "type=file;size=2; after\r\n";
	static const char list[] =
	    "-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 cr\n"
	    "name -> x\r\n"
	    "-rw-r--r-- 1 ftp ftp 5 Aug  1  2022 after\r\n";

	(void)state;
	run_stream(LISTING_MLSD, mlsd, sizeof(mlsd) - 1, NULL, 0, &c);
	assert_int_equal(c.entries, 2);
	assert_int_equal(c.bad, 2);
	assert_false(log_has(&c, " cr||"));
	assert_true(log_has(&c, "B 20 type=file;size=5; cr\n"));
	collect_free(&c);
	run_stream(LISTING_LIST, list, sizeof(list) - 1, NULL, 0, &c);
	assert_int_equal(c.entries, 1);
	assert_int_equal(c.bad, 2);
	collect_free(&c);
}

/*
 * A bad line shaped like a listing line of its own (a month we can't
 * read, an empty size) is not the rest of a cut name: the entry before it
 * stands.  Nor is a line after "." or "..".
 */
static void
test_stream_bad_neighbour(void **state)
{
	struct collect	c;
	static const char list[] =
	    "-rw-r--r--   1 root root  100 Nov 20  2022 important.dat\r\n"
	    "-rw-r--r--   1 root root  100 Okt 20  2022 german\r\n"
	    "-rw-r--r--   1 root root  100 Nov 20  2022 other.dat\r\n"
	    "drwxr-xr-x   2 root root 4096 Nov 20  2022 .\r\n"
	    "short\r\n"
	    "Drw-r--r--   1 root root    0 Nov 20  2022 door\r\n"
	    "01-02-24  03:04PM       12 dos.txt\r\n"
	    "01-02-24  03:04XM       12 dos bad\r\n";
	static const char mlsd[] =
	    "type=file;size=1; a\r\n"
	    "size=;type=file; b\r\n"
	    "type=file;size=1; c\r\n";

	(void)state;
	run_stream(LISTING_LIST, list, sizeof(list) - 1, NULL, 0, &c);
	assert_int_equal(c.entries, 4);
	assert_int_equal(c.bad, 3);
	assert_true(log_has(&c, " important.dat||\n"));
	assert_true(log_has(&c, " other.dat||\n"));
	assert_true(log_has(&c, "E 3 0 "));	/* the door: never mirrored */
	assert_true(log_has(&c, " dos.txt||\n"));
	assert_true(log_has(&c, "B 5 short\n"));
	collect_free(&c);
	run_stream(LISTING_MLSD, mlsd, sizeof(mlsd) - 1, NULL, 0, &c);
	assert_int_equal(c.entries, 2);
	assert_int_equal(c.bad, 1);
	assert_true(log_has(&c, " a||\n"));
	collect_free(&c);
}

static void
test_stream_misc(void **state)
{
	struct listing_parser	*p;
	struct collect		 c;

	(void)state;
	listing_parser_free(NULL);

	/* no callbacks: only counts */
	p = listing_parser_new(LISTING_MLSD, 0, NULL, NULL, NULL);
	assert_non_null(p);
	listing_parser_feed(p, "type=file; x\nbad\n", 17);
	listing_parser_feed(p, NULL, 0);
	listing_parser_finish(p);
	listing_parser_finish(p);
	/* x is followed by garbage: it may be half a name, so bad too */
	assert_int_equal(listing_parser_entries(p), 0);
	assert_int_equal(listing_parser_bad(p), 2);
	listing_parser_feed(p, "type=file; y\n\ntype=file; z", 26);
	listing_parser_finish(p);
	assert_int_equal(listing_parser_entries(p), 2);
	assert_int_equal(listing_parser_bad(p), 2);
	listing_parser_free(p);

	/* CR only, LF only, empty input */
	run_stream(LISTING_LIST, "\r", 1, NULL, 0, &c);
	assert_int_equal(c.entries + c.bad, 0);
	collect_free(&c);
	run_stream(LISTING_LIST, "\n\n\r\n", 4, NULL, 0, &c);
	assert_int_equal(c.entries + c.bad, 0);
	collect_free(&c);
	run_stream(LISTING_LIST, "", 0, NULL, 0, &c);
	assert_int_equal(c.entries + c.bad, 0);
	collect_free(&c);
	/* a lone NUL is a bad line */
	run_stream(LISTING_MLSD, "\0\n", 2, NULL, 0, &c);
	assert_int_equal(c.bad, 1);
	assert_int_equal(c.last_bad_len, 1);
	collect_free(&c);

	/* the parser can be reused after finish */
	memset(&c, 0, sizeof(c));
	p = listing_parser_new(LISTING_LIST, NOW, on_entry, on_bad, &c);
	assert_non_null(p);
	listing_parser_feed(p, "-rw-r--r-- 1 a b 5 Aug  1  2022 x", 33);
	listing_parser_finish(p);
	listing_parser_feed(p, "-rw-r--r-- 1 a b 5 Aug  1  2022 y\n", 34);
	listing_parser_finish(p);
	assert_int_equal(listing_parser_entries(p), 2);
	assert_true(log_has(&c, " 1 x||\n"));
	assert_true(log_has(&c, " 1 y||\n"));
	listing_parser_free(p);
	collect_free(&c);
}

struct feat_row {
	const char	*in;
	size_t		 inlen;		/* 0: strlen(in) */
	struct feat	 want;
};

static const struct feat_row feat_rows[] = {
	/* vsftpd */
	{ "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n"
	  " REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n", 0,
	  { .epsv = true, .mdtm = true, .rest_stream = true, .size = true,
	    .utf8 = true } },
	/* proftpd */
	{ "211-Features:\r\n MDTM\r\n MFMT\r\n LANG en-US*\r\n TVFS\r\n"
	  " UTF8\r\n MFF modify;UNIX.group;UNIX.mode;\r\n"
	  " MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.mode*;\r\n"
	  " SITE MKDIR\r\n SIZE\r\n EPSV\r\n REST STREAM\r\n211 End\r\n", 0,
	  { .mlsd = true, .mdtm = true, .size = true, .rest_stream = true,
	    .utf8 = true, .epsv = true } },
	/* everything, in odd cases, LF only, no last line end */
	{ "211-Extensions supported:\n mlst type*;size*;modify*;\n Mdtm\n"
	  " size\n rest  stream\n utf8\n epsv\n HASH SHA-256*;MD5\n xsha256\n"
	  " XMD5\n211 End", 0,
	  { true, true, true, true, true, true, true, true, true } },
	/* "211-" on every line */
	{ "211-Features\r\n211-MDTM\r\n211-SIZE\r\n211-MLSD\r\n211 END\r\n", 0,
	  { .mdtm = true, .size = true, .mlsd = true } },
	/* near misses */
	{ "211-Features:\r\n REST\r\n REST STREAMX\r\n MLSTX\r\n SIZEX\r\n"
	  " XSHA2\r\n MDT\r\n HASHES\r\n211 End\r\n", 0, { 0 } },
	{ "", 0, { 0 } },
	{ "\r\n\r\n   \n", 0, { 0 } },
	{ "500 Unknown command\r\n", 0, { 0 } },
	{ " MDTM\0SIZE\n EPSV", 16, { .epsv = true } },
	{ " MDTM\tx\n\tSIZE\n", 0, { .mdtm = true, .size = true } },
	{ "211", 0, { 0 } },
	{ "211-", 0, { 0 } },
	{ "MDTM", 0, { .mdtm = true } },
};

static void
test_feat(void **state)
{
	struct feat	f;
	size_t		i, len;
	char		*b;

	(void)state;
	for (i = 0; i < sizeof(feat_rows) / sizeof(feat_rows[0]); i++) {
		len = feat_rows[i].inlen ? feat_rows[i].inlen :
		    strlen(feat_rows[i].in);
		b = dup_exact(feat_rows[i].in, len);
		memset(&f, 1, sizeof(f));	/* must be cleared */
		listing_parse_feat(b, len, &f);
		if (memcmp(&f, &feat_rows[i].want, sizeof(f)) != 0)
			fail_msg("feat row %zu differs: mlsd %d mdtm %d size %d"
			    " rest %d utf8 %d epsv %d hash %d xsha256 %d xmd5 %d",
			    i, f.mlsd, f.mdtm, f.size, f.rest_stream, f.utf8,
			    f.epsv, f.hash, f.xsha256, f.xmd5);
		free(b);
	}
}

struct mdtm_row {
	const char	*in;
	int		 rc;
	int64_t		 mtime;
};

static const struct mdtm_row mdtm_rows[] = {
	{ "213 20220801113220", 0, T_MLSD },
	{ "213 20220801113220\r\n", 0, T_MLSD },
	{ "213 20220801113220.123", 0, T_MLSD },
	{ "213 20220801113220.123\r\n", 0, T_MLSD },
	{ "213 19700101000000", 0, 0 },
	{ "213 99991231235959", 0, 253402300799 },
	{ "213 20000229000000", 0, 951782400 },
	{ "213 191000801113220", -1, 0 },	/* old wu-ftpd Y2K bug */
	{ "213 2022080111322", -1, 0 },
	{ "213 20220801113220x", -1, 0 },
	{ "213 20220801113220.", -1, 0 },
	{ "213  20220801113220", -1, 0 },
	{ "213-20220801113220", -1, 0 },
	{ "213 20221301000000", -1, 0 },
	{ "213 20230229000000", -1, 0 },
	{ "213 18991231235959", 0, -2208988801 },
	{ "213 16010101000000", 0, -11644473600 },
	{ "213 00001231235959", -1, 0 },
	{ "213 -0220801113220", -1, 0 },
	{ "550 No such file or directory.", -1, 0 },
	{ "213 ", -1, 0 },
	{ "213", -1, 0 },
	{ "2", -1, 0 },
	{ "", -1, 0 },
	{ "\r\n", -1, 0 },
};

static void
test_mdtm(void **state)
{
	int64_t	t;
	size_t	i, len;
	char	*b;
	int	rc;

	(void)state;
	for (i = 0; i < sizeof(mdtm_rows) / sizeof(mdtm_rows[0]); i++) {
		len = strlen(mdtm_rows[i].in);
		b = dup_exact(mdtm_rows[i].in, len);
		t = 42;
		rc = listing_parse_mdtm(b, len, &t);
		if (rc != mdtm_rows[i].rc)
			fail_msg("mdtm row %zu \"%s\": rc %d", i,
			    mdtm_rows[i].in, rc);
		if (t != (rc == 0 ? mdtm_rows[i].mtime : 42))
			fail_msg("mdtm row %zu \"%s\": mtime %" PRId64, i,
			    mdtm_rows[i].in, t);
		free(b);
	}
	/* a NUL in the middle */
	assert_int_equal(listing_parse_mdtm("213 2022\0" "0801113220", 19, &t),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mlsd),
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_unix_year),
		cmocka_unit_test(test_dos),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_stream_list),
		cmocka_unit_test(test_stream_mlsd),
		cmocka_unit_test(test_stream_splits),
		cmocka_unit_test(test_stream_long),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_stream_cr_split),
		cmocka_unit_test(test_stream_bad_neighbour),
		cmocka_unit_test(test_stream_misc),
		cmocka_unit_test(test_feat),
		cmocka_unit_test(test_mdtm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
