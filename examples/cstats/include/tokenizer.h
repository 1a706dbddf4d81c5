/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Splits text into words without copying: a token points into the input. */
#ifndef CSTATS_TOKENIZER_H
#define CSTATS_TOKENIZER_H

#include <stddef.h>

struct token {
    const char *start;
    size_t len;
};

struct tokenizer {
    const char *data;
    size_t len;
    size_t pos;
};

void tok_init(struct tokenizer *t, const char *data, size_t len);

/* Returns 1 and fills *out with the next word, or 0 at the end. A word is
 * a run of ASCII letters and digits and valid non-ASCII code points; an
 * apostrophe between two word characters belongs to the word ("don't"). */
int tok_next(struct tokenizer *t, struct token *out);

#endif
