/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Allocation helpers that exit on failure, so callers never check for NULL. */
#ifndef CSTATS_XALLOC_H
#define CSTATS_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrndup(const char *s, size_t len);

#endif
