/* SPDX-License-Identifier: Apache-2.0 */
/* Chained string hash map (FNV-1a). Small and boring on purpose: tasks and clients are looked
 * up by id on every API call. */
#include "sn_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "df_util.h"

struct entry {
    struct entry *next;
    void *val;
    char key[]; /* NUL-terminated */
};

struct sn_map {
    struct entry **buckets;
    size_t nbuckets; /* power of two */
    size_t size;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

struct sn_map *sn_map_new(void)
{
    struct sn_map *m = df_xcalloc(1, sizeof(*m));
    m->nbuckets = 16;
    m->buckets = df_xcalloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

void sn_map_free(struct sn_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e) {
            struct entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    free(m);
}

static struct entry **find(const struct sn_map *m, const char *key)
{
    struct entry **pp = &m->buckets[hash(key) & (m->nbuckets - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

void *sn_map_get(const struct sn_map *m, const char *key)
{
    struct entry *e = *find(m, key);
    return e ? e->val : NULL;
}

static void grow(struct sn_map *m)
{
    size_t nb = m->nbuckets * 2;
    struct entry **b = df_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e) {
            struct entry *n = e->next;
            size_t j = hash(e->key) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

void *sn_map_put(struct sn_map *m, const char *key, void *val)
{
    struct entry **pp = find(m, key);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    size_t kl = strlen(key);
    struct entry *e = df_xmalloc(sizeof(*e) + kl + 1);
    memcpy(e->key, key, kl + 1);
    e->val = val;
    e->next = NULL;
    *pp = e;
    if (++m->size > m->nbuckets)
        grow(m);
    return NULL;
}

void *sn_map_del(struct sn_map *m, const char *key)
{
    struct entry **pp = find(m, key);
    struct entry *e = *pp;
    if (!e)
        return NULL;
    void *v = e->val;
    *pp = e->next;
    free(e);
    m->size--;
    return v;
}

size_t sn_map_size(const struct sn_map *m) { return m->size; }

int sn_map_next(const struct sn_map *m, struct sn_map_iter *it, const char **key, void **val)
{
    /* it->next holds the entry to return next, so deleting the returned one is safe. */
    struct entry *e = it->next;
    while (!e && it->bucket < m->nbuckets)
        e = m->buckets[it->bucket++];
    if (!e)
        return 0;
    it->next = e->next;
    if (!it->next) {
        while (it->bucket < m->nbuckets && !(it->next = m->buckets[it->bucket]))
            it->bucket++;
        if (it->next)
            it->bucket++;
    }
    *key = e->key;
    *val = e->val;
    return 1;
}
