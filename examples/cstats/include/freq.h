/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Word frequencies across all inputs and their top N. */
#ifndef CSTATS_FREQ_H
#define CSTATS_FREQ_H

#include <stddef.h>

#include "hashtable.h"

struct freq {
    struct hashtable table;
    size_t min_len; /* in code points; shorter words are not counted */
    int fold;       /* fold ASCII case before counting */
};

struct word_count {
    const char *word; /* owned by the freq table */
    size_t len;
    unsigned long count;
};

void freq_init(struct freq *f, size_t min_len, int fold);
void freq_feed(struct freq *f, const char *data, size_t len);
size_t freq_distinct(const struct freq *f);

/* Fills out with up to n words, most frequent first; ties in byte order,
 * so the output does not depend on hash order. Returns how many. */
size_t freq_top(const struct freq *f, size_t n, struct word_count *out);

void freq_free(struct freq *f);

#endif
