/* SPDX-License-Identifier: Apache-2.0 */
/* Fixed-size bitset with a cached population count; used for piece sets (which pieces a peer or
 * the CDN has). Pure, not thread-safe. Memory: ceil(nbits/64)*8 bytes + header. */
#ifndef DF_BITMAP_H
#define DF_BITMAP_H

#include <stdint.h>

struct df_bitmap {
    uint64_t *words;  /* ceil(nbits/64) words; bits past nbits are always 0 */
    uint32_t nbits;
    uint32_t count;   /* number of set bits, kept exact */
};

/* Allocates (aborts on OOM). nbits may be 0. */
void df_bitmap_init(struct df_bitmap *b, uint32_t nbits);
void df_bitmap_cleanup(struct df_bitmap *b);
/* Changes the size, keeping the bits below min(old, new). */
void df_bitmap_resize(struct df_bitmap *b, uint32_t nbits);
/* 0 when i >= nbits. Inline: the scheduler tests several bitmaps per piece per pull (a third
 * of its time was the call). */
static inline int df_bitmap_test(const struct df_bitmap *b, uint32_t i)
{
    if (i >= b->nbits)
        return 0;
    return (int)((b->words[i / 64] >> (i % 64)) & 1);
}
void df_bitmap_set(struct df_bitmap *b, uint32_t i);         /* i < nbits */
void df_bitmap_clear(struct df_bitmap *b, uint32_t i);       /* i < nbits */
/* Half-open range [lo, hi), clipped to nbits. */
void df_bitmap_set_range(struct df_bitmap *b, uint32_t lo, uint32_t hi);
void df_bitmap_clear_all(struct df_bitmap *b);
int df_bitmap_is_full(const struct df_bitmap *b);
/* Index of the first clear / set bit >= from, or -1. */
int64_t df_bitmap_next_clear(const struct df_bitmap *b, uint32_t from);
int64_t df_bitmap_next_set(const struct df_bitmap *b, uint32_t from);

#endif
