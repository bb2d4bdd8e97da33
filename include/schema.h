/*
 * schema.h: the SQL files of schema/, embedded at build time.  Step N
 * brings a database from user_version N-1 to N.
 */
#ifndef FTPMIRROR_SCHEMA_H
#define FTPMIRROR_SCHEMA_H

#include <stddef.h>

struct schema_step {
	int		 version;	/* PRAGMA user_version after this step */
	const char	*file;		/* its file name, for messages */
	const char	*sql;
};

extern const struct schema_step schema_steps[];
extern const size_t schema_nsteps;

#endif
