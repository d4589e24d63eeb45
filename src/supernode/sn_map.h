/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map (chained, power-of-two buckets, grows at load 1). Keys are copied;
 * values are borrowed pointers the caller owns. Not thread-safe. Iteration order is
 * unspecified; removing the current element during sn_map_foreach is allowed. */
#ifndef SN_MAP_H
#define SN_MAP_H

#include <stddef.h>

struct sn_map;

struct sn_map *sn_map_new(void);
/* Frees the map and its keys (not the values). NULL ok. */
void sn_map_free(struct sn_map *m);
void *sn_map_get(const struct sn_map *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *sn_map_put(struct sn_map *m, const char *key, void *val);
/* Removes; returns the value (or NULL if absent). */
void *sn_map_del(struct sn_map *m, const char *key);
size_t sn_map_size(const struct sn_map *m);

/* Iteration: `it` starts zeroed. Returns 1 and fills key and val for each element, then 0. */
struct sn_map_iter {
    size_t bucket;
    void *next;
};
int sn_map_next(const struct sn_map *m, struct sn_map_iter *it, const char **key, void **val);

#endif
