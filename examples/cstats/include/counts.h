/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* wc-style counts of one input, plus its UTF-8 validity. */
#ifndef CSTATS_COUNTS_H
#define CSTATS_COUNTS_H

#include <stddef.h>

#include "utf8.h"

struct counts {
    size_t lines; /* newline characters, as wc -l counts them */
    size_t words;
    size_t chars; /* code points; an invalid byte counts as one */
    size_t bytes;
    size_t longest_line; /* in code points, newline excluded */
    struct utf8_report utf8;
};

void counts_compute(const char *data, size_t len, struct counts *out);

/* Adds b into a; the UTF-8 offset of a sum is meaningless, so it is reset. */
void counts_add(struct counts *a, const struct counts *b);

#endif
