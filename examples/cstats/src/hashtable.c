/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Linear probing over FNV-1a hashes; the table doubles at 70% load so
 * probe runs stay short. There is no removal: word counts only grow. */
#include "hashtable.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void ht_init(struct hashtable *ht)
{
    ht->cap = 64;
    ht->used = 0;
    ht->slots = xcalloc(ht->cap, sizeof *ht->slots);
}

static struct ht_entry *find_slot(struct ht_entry *slots, size_t cap, const char *key, size_t len, uint64_t hash)
{
    size_t i = (size_t)hash & (cap - 1);
    for (;;) {
        struct ht_entry *e = &slots[i];
        if (!e->key)
            return e;
        if (e->hash == hash && e->keylen == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & (cap - 1);
    }
}

static void grow(struct hashtable *ht)
{
    size_t cap = ht->cap * 2;
    struct ht_entry *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < ht->cap; i++) {
        struct ht_entry *old = &ht->slots[i];
        if (old->key)
            *find_slot(slots, cap, old->key, old->keylen, old->hash) = *old;
    }
    free(ht->slots);
    ht->slots = slots;
    ht->cap = cap;
}

void ht_add(struct hashtable *ht, const char *key, size_t len, unsigned long n)
{
    if ((ht->used + 1) * 10 > ht->cap * 7)
        grow(ht);
    uint64_t hash = fnv1a(key, len);
    struct ht_entry *e = find_slot(ht->slots, ht->cap, key, len, hash);
    if (!e->key) {
        e->key = xstrndup(key, len);
        e->keylen = len;
        e->hash = hash;
        e->count = 0;
        ht->used++;
    }
    e->count += n;
}

unsigned long ht_get(const struct hashtable *ht, const char *key, size_t len)
{
    struct ht_entry *e = find_slot(ht->slots, ht->cap, key, len, fnv1a(key, len));
    return e->key ? e->count : 0;
}

void ht_each(const struct hashtable *ht, void (*fn)(const struct ht_entry *e, void *ctx), void *ctx)
{
    for (size_t i = 0; i < ht->cap; i++)
        if (ht->slots[i].key)
            fn(&ht->slots[i], ctx);
}

void ht_free(struct hashtable *ht)
{
    for (size_t i = 0; i < ht->cap; i++)
        free(ht->slots[i].key);
    free(ht->slots);
    ht->slots = NULL;
    ht->cap = ht->used = 0;
}
