/* SPDX-License-Identifier: Apache-2.0 */
/* Piece bitmap: a fixed-size bitset of 64-bit words with an exact population count kept on
 * every mutation, so "how many pieces" and "is it full" are O(1). Bits past nbits stay 0,
 * which lets whole-word scans and popcounts ignore the tail. Pure; no locking. */
#include "df_bitmap.h"

#include <stdlib.h>
#include <string.h>

#include "df_util.h"

#define WORDS(nbits) (((size_t)(nbits) + 63) / 64)

static uint32_t popcount_words(const uint64_t *w, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += (uint32_t)__builtin_popcountll(w[i]);
    return c;
}

void df_bitmap_init(struct df_bitmap *b, uint32_t nbits)
{
    b->words = df_xcalloc(WORDS(nbits) ? WORDS(nbits) : 1, sizeof(uint64_t));
    b->nbits = nbits;
    b->count = 0;
}

void df_bitmap_cleanup(struct df_bitmap *b)
{
    if (!b)
        return;
    free(b->words);
    b->words = NULL;
    b->nbits = 0;
    b->count = 0;
}

void df_bitmap_resize(struct df_bitmap *b, uint32_t nbits)
{
    size_t oldw = WORDS(b->nbits), neww = WORDS(nbits);
    if (neww != oldw) {
        b->words = df_xrealloc(b->words, (neww ? neww : 1) * sizeof(uint64_t));
        if (neww > oldw)
            memset(b->words + oldw, 0, (neww - oldw) * sizeof(uint64_t));
    }
    /* Shrinking: drop the bits at or above the new size in the last word. */
    if (nbits < b->nbits && nbits % 64)
        b->words[neww - 1] &= (UINT64_C(1) << (nbits % 64)) - 1;
    b->nbits = nbits;
    b->count = popcount_words(b->words, neww);
}

void df_bitmap_set(struct df_bitmap *b, uint32_t i)
{
    DF_ASSERT(i < b->nbits);
    uint64_t m = UINT64_C(1) << (i % 64);
    if (!(b->words[i / 64] & m)) {
        b->words[i / 64] |= m;
        b->count++;
    }
}

void df_bitmap_clear(struct df_bitmap *b, uint32_t i)
{
    DF_ASSERT(i < b->nbits);
    uint64_t m = UINT64_C(1) << (i % 64);
    if (b->words[i / 64] & m) {
        b->words[i / 64] &= ~m;
        b->count--;
    }
}

void df_bitmap_set_range(struct df_bitmap *b, uint32_t lo, uint32_t hi)
{
    if (hi > b->nbits)
        hi = b->nbits;
    while (lo < hi) {
        size_t w = lo / 64;
        unsigned bit = lo % 64;
        unsigned span = hi - lo < 64 - bit ? (unsigned)(hi - lo) : 64 - bit;
        uint64_t m = span == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << span) - 1) << bit;
        b->count += (uint32_t)__builtin_popcountll(m & ~b->words[w]);
        b->words[w] |= m;
        lo += span;
    }
}

void df_bitmap_clear_all(struct df_bitmap *b)
{
    memset(b->words, 0, WORDS(b->nbits) * sizeof(uint64_t));
    b->count = 0;
}

int df_bitmap_is_full(const struct df_bitmap *b) { return b->count == b->nbits; }

/* Shared scan: `flip` is 0 to look for set bits, all-ones to look for clear bits. */
static int64_t next_bit(const struct df_bitmap *b, uint32_t from, uint64_t flip)
{
    if (from >= b->nbits)
        return -1;
    size_t nw = WORDS(b->nbits);
    size_t w = from / 64;
    uint64_t cur = (b->words[w] ^ flip) & (~UINT64_C(0) << (from % 64));
    for (;;) {
        if (cur) {
            uint64_t i = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(cur);
            /* Clear-bit scans see the always-zero tail bits as "clear": cut them off here. */
            return i < b->nbits ? (int64_t)i : -1;
        }
        if (++w >= nw)
            return -1;
        cur = b->words[w] ^ flip;
    }
}

int64_t df_bitmap_next_clear(const struct df_bitmap *b, uint32_t from)
{
    return next_bit(b, from, ~UINT64_C(0));
}

int64_t df_bitmap_next_set(const struct df_bitmap *b, uint32_t from)
{
    return next_bit(b, from, 0);
}
