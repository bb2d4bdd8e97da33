/*
 * version.h: the program's version, for --version and trace files.
 */
#ifndef FTPMIRROR_VERSION_H
#define FTPMIRROR_VERSION_H

#define FTPMIRROR_VERSION	"0.1.0"

#endif
