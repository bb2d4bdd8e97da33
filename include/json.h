/*
 * json.h: just enough JSON output for --json: strings escaped per RFC 8259
 * (bytes that are not valid UTF-8 are written as \u00XX of the byte, so
 * the output stays valid JSON whatever a remote name holds).
 */
#ifndef FTPMIRROR_JSON_H
#define FTPMIRROR_JSON_H

#include <stdio.h>

/* Write s as a JSON string, or null when s is NULL. */
void json_string(FILE *out, const char *s);

/* Write s escaped, without the quotes (for a string made of parts). */
void json_string_body(FILE *out, const char *s);

#endif
