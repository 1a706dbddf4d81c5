/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A string -> counter map with open addressing; keys are copied in. */
#ifndef CSTATS_HASHTABLE_H
#define CSTATS_HASHTABLE_H

#include <stddef.h>
#include <stdint.h>

struct ht_entry {
    char *key; /* NULL marks an empty slot */
    size_t keylen;
    uint64_t hash;
    unsigned long count;
};

struct hashtable {
    struct ht_entry *slots;
    size_t cap; /* always a power of two */
    size_t used;
};

void ht_init(struct hashtable *ht);
void ht_add(struct hashtable *ht, const char *key, size_t len, unsigned long n);
unsigned long ht_get(const struct hashtable *ht, const char *key, size_t len);

/* Calls fn for every entry, in slot order (which is not meaningful). */
void ht_each(const struct hashtable *ht, void (*fn)(const struct ht_entry *e, void *ctx), void *ctx);

void ht_free(struct hashtable *ht);

#endif
