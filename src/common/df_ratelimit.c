/* SPDX-License-Identifier: Apache-2.0 */
/* Token bucket over a caller-supplied clock (microseconds). Tokens are whole bytes; refills
 * advance last_us only by the time the granted tokens are worth, so the sub-byte remainder is
 * carried to the next refill and the long-run rate stays exact however often we are called.
 * Products use 128-bit intermediates: rate (bytes/s) x elapsed (us) overflows 64 bits. */
#include "df_ratelimit.h"

#define US_PER_S 1000000
#define MIN_BURST (16 * 1024)

static int64_t default_burst(uint64_t rate_bps)
{
    uint64_t b = rate_bps / 20;
    return b < MIN_BURST ? MIN_BURST : (b > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)b);
}

static int64_t clamp64(__int128 v)
{
    /* Debt is floored well inside int64 so later arithmetic cannot overflow. */
    if (v > INT64_MAX / 4)
        return INT64_MAX / 4;
    if (v < INT64_MIN / 4)
        return INT64_MIN / 4;
    return (int64_t)v;
}

static void refill(struct df_ratelimit *rl, int64_t now_us)
{
    if (now_us <= rl->last_us) /* same instant, or a clock that stepped back: nothing */
        return;
    if (rl->tokens >= rl->burst) {
        rl->last_us = now_us;
        return;
    }
    __int128 elapsed = (__int128)now_us - rl->last_us;
    __int128 add = elapsed * rl->rate_bps / US_PER_S;
    if ((__int128)rl->tokens + add >= rl->burst) {
        rl->tokens = rl->burst;
        rl->last_us = now_us; /* full: the remainder is worth nothing */
        return;
    }
    /* Charge the smallest whole number of us that earns `add` tokens (<= elapsed). */
    __int128 used = (add * US_PER_S + rl->rate_bps - 1) / rl->rate_bps;
    rl->tokens += (int64_t)add;
    rl->last_us += (int64_t)used;
}

/* Microseconds from now until tokens reach `need` (need > tokens), given the refill state. */
static int64_t wait_for(const struct df_ratelimit *rl, int64_t now_us, int64_t need)
{
    __int128 deficit = (__int128)need - rl->tokens;
    __int128 t = (deficit * US_PER_S + rl->rate_bps - 1) / rl->rate_bps;
    __int128 w = (__int128)rl->last_us + t - now_us;
    if (w <= 0)
        return 0;
    return w > INT64_MAX ? INT64_MAX : (int64_t)w;
}

void df_ratelimit_init(struct df_ratelimit *rl, uint64_t rate_bps, int64_t burst, int64_t now_us)
{
    rl->rate_bps = rate_bps;
    rl->burst = burst > 0 ? burst : default_burst(rate_bps);
    rl->tokens = rl->burst;
    rl->last_us = now_us;
}

void df_ratelimit_set_rate(struct df_ratelimit *rl, uint64_t rate_bps, int64_t now_us)
{
    if (rl->rate_bps)
        refill(rl, now_us);
    else if (now_us > rl->last_us)
        rl->last_us = now_us; /* nothing accrued while unlimited */
    /* A burst that was the default for the old rate follows the rate; an explicit one stays. */
    if (rl->burst == default_burst(rl->rate_bps))
        rl->burst = default_burst(rate_bps);
    rl->rate_bps = rate_bps;
    if (rl->tokens > rl->burst)
        rl->tokens = rl->burst;
}

int64_t df_ratelimit_take(struct df_ratelimit *rl, int64_t now_us, uint64_t n)
{
    if (!rl->rate_bps)
        return 0;
    refill(rl, now_us);
    /* Debt is allowed: a large read goes now and the next caller waits for it to be paid. */
    rl->tokens = clamp64((__int128)rl->tokens - (__int128)n);
    if (rl->tokens >= 0)
        return 0;
    return wait_for(rl, now_us, 0);
}

int64_t df_ratelimit_wait_us(struct df_ratelimit *rl, int64_t now_us, uint64_t n)
{
    if (!rl->rate_bps)
        return 0;
    refill(rl, now_us);
    /* The bucket never holds more than burst; asking for more means "until it is full". */
    int64_t need = n > (uint64_t)rl->burst ? rl->burst : (int64_t)n;
    if (rl->tokens >= need)
        return 0;
    return wait_for(rl, now_us, need);
}
