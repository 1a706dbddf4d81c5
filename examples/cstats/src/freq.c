/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Top N sorts every distinct word: inputs for this tool are small enough
 * that a heap would only add code. */
#include "freq.h"
#include "casefold.h"
#include "strbuf.h"
#include "tokenizer.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void freq_init(struct freq *f, size_t min_len, int fold)
{
    ht_init(&f->table);
    f->min_len = min_len;
    f->fold = fold;
}

void freq_feed(struct freq *f, const char *data, size_t len)
{
    struct tokenizer t;
    struct token tok;
    struct strbuf word = STRBUF_INIT;

    tok_init(&t, data, len);
    while (tok_next(&t, &tok)) {
        if (utf8_length(tok.start, tok.len) < f->min_len)
            continue;
        if (f->fold && has_upper_ascii(tok.start, tok.len)) {
            sb_clear(&word);
            sb_append(&word, tok.start, tok.len);
            fold_ascii(word.data, word.len);
            ht_add(&f->table, word.data, word.len, 1);
        } else {
            ht_add(&f->table, tok.start, tok.len, 1);
        }
    }
    sb_free(&word);
}

size_t freq_distinct(const struct freq *f)
{
    return f->table.used;
}

struct collect {
    struct word_count *all;
    size_t n;
};

static void collect_one(const struct ht_entry *e, void *ctx)
{
    struct collect *c = ctx;
    c->all[c->n].word = e->key;
    c->all[c->n].len = e->keylen;
    c->all[c->n].count = e->count;
    c->n++;
}

static int by_count_then_word(const void *pa, const void *pb)
{
    const struct word_count *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->word, b->word, n);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

size_t freq_top(const struct freq *f, size_t n, struct word_count *out)
{
    struct collect c = { xmalloc(f->table.used * sizeof *c.all), 0 };
    ht_each(&f->table, collect_one, &c);
    qsort(c.all, c.n, sizeof *c.all, by_count_then_word);
    if (n > c.n)
        n = c.n;
    memcpy(out, c.all, n * sizeof *out);
    free(c.all);
    return n;
}

void freq_free(struct freq *f)
{
    ht_free(&f->table);
}
