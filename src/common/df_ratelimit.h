/* SPDX-License-Identifier: Apache-2.0 */
/* Token bucket with the clock passed in (pure: unit-tested over simulated time).
 * rate 0 = unlimited. Burst is the bucket depth in bytes.
 * Example: rate 1 MiB/s, burst 64 KiB, bucket full at t=0. take(t=0, 64 KiB) → 0 (go now);
 * take(t=0, 64 KiB) → 62 500 us (bucket now -64 KiB; 64 KiB refills in 1/16 s). Debt is
 * allowed so large reads are never starved; the returned delay tells when the debt is paid. */
#ifndef DF_RATELIMIT_H
#define DF_RATELIMIT_H

#include <stdint.h>

struct df_ratelimit {
    uint64_t rate_bps;   /* bytes per second; 0 = unlimited */
    int64_t burst;       /* bucket depth in bytes (> 0) */
    int64_t tokens;      /* current tokens in bytes; may be negative (debt) */
    int64_t last_us;     /* time of the last refill */
};

/* burst 0 → rate/20 (50 ms worth), at least 16 KiB. The bucket starts full at now_us. */
void df_ratelimit_init(struct df_ratelimit *rl, uint64_t rate_bps, int64_t burst, int64_t now_us);
/* Change the rate, keeping the current tokens (clipped to the new burst). */
void df_ratelimit_set_rate(struct df_ratelimit *rl, uint64_t rate_bps, int64_t now_us);
/* Consumes n bytes at now_us; returns how many microseconds the caller must wait before the
 * next transfer (0 = none). Unlimited → always 0. */
int64_t df_ratelimit_take(struct df_ratelimit *rl, int64_t now_us, uint64_t n);
/* Microseconds until at least `n` tokens are available (0 if already). Does not consume. */
int64_t df_ratelimit_wait_us(struct df_ratelimit *rl, int64_t now_us, uint64_t n);

#endif
