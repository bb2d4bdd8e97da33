/*
 * thread.h: starting the program's helper threads (logging out, flushing
 * incoming ahead).  They block every signal, so that signals reach the
 * main thread, whose handlers set the flags its loop reads.
 */
#ifndef FTPMIRROR_THREAD_H
#define FTPMIRROR_THREAD_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread: 0 or errno. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
