/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Reads a whole input into memory; "-" is standard input. */
#ifndef CSTATS_READER_H
#define CSTATS_READER_H

#include "strbuf.h"

/* Returns 0 on success; on failure returns -1 and puts a message in err. */
int read_input(const char *path, struct strbuf *out, struct strbuf *err);

#endif
