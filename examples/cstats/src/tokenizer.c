/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Every non-ASCII code point counts as a letter: classifying Unicode
 * properly needs tables this tool does not want to carry. */
#include "tokenizer.h"
#include "utf8.h"

#include <stdint.h>

static int is_ascii_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Length of the word character at pos, or 0 if it is a separator. */
static size_t word_char(const struct tokenizer *t, size_t pos)
{
    const unsigned char *s = (const unsigned char *)t->data + pos;
    if (*s < 0x80)
        return is_ascii_word(*s) ? 1 : 0;
    uint32_t cp;
    int ok;
    size_t n = utf8_decode(s, t->len - pos, &cp, &ok);
    return ok ? n : 0;
}

void tok_init(struct tokenizer *t, const char *data, size_t len)
{
    t->data = data;
    t->len = len;
    t->pos = 0;
}

int tok_next(struct tokenizer *t, struct token *out)
{
    size_t n = 0;

    while (t->pos < t->len && (n = word_char(t, t->pos)) == 0)
        t->pos++;
    if (t->pos >= t->len)
        return 0;

    size_t start = t->pos;
    t->pos += n;
    while (t->pos < t->len) {
        n = word_char(t, t->pos);
        if (n) {
            t->pos += n;
        } else if (t->data[t->pos] == '\'' && t->pos + 1 < t->len && word_char(t, t->pos + 1)) {
            t->pos++;
        } else {
            break;
        }
    }
    out->start = t->data + start;
    out->len = t->pos - start;
    return 1;
}
