/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Words are counted with the same tokenizer as the frequency table, so
 * the word total always equals the sum of all frequencies. */
#include "counts.h"
#include "tokenizer.h"

#include <string.h>

static size_t longest_line(const char *data, size_t len)
{
    size_t best = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        struct utf8_report line;
        /* utf8_length() would skip stray continuation bytes, which chars
         * counts one each; scanning keeps the two figures consistent. */
        utf8_scan(p, (size_t)(stop - p), &line);
        if (line.codepoints > best)
            best = line.codepoints;
        p = nl ? nl + 1 : end;
    }
    return best;
}

void counts_compute(const char *data, size_t len, struct counts *out)
{
    struct tokenizer t;
    struct token tok;

    memset(out, 0, sizeof *out);
    out->bytes = len;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n')
            out->lines++;
    tok_init(&t, data, len);
    while (tok_next(&t, &tok))
        out->words++;
    utf8_scan(data, len, &out->utf8);
    out->chars = out->utf8.codepoints;
    out->longest_line = longest_line(data, len);
}

void counts_add(struct counts *a, const struct counts *b)
{
    a->lines += b->lines;
    a->words += b->words;
    a->chars += b->chars;
    a->bytes += b->bytes;
    if (b->longest_line > a->longest_line)
        a->longest_line = b->longest_line;
    a->utf8.codepoints += b->utf8.codepoints;
    a->utf8.invalid += b->utf8.invalid;
    a->utf8.first_invalid = UTF8_NONE;
}
