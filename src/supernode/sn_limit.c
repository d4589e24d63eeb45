/* SPDX-License-Identifier: Apache-2.0 */
/* Admission limits: per-address rate of new origin downloads, metadata budget. Pure. */
#include "sn_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_ratelimit.h"
#include "df_util.h"
#include "sn_map.h"

/* df_ratelimit counts bytes; one new download is TOKEN units so that rates below one per
 * second (N per minute) stay exact in integer arithmetic. */
#define TOKEN 60000

struct addr_entry {
    struct df_ratelimit rl;
    int64_t last_ms;
};

struct sn_limit {
    uint32_t per_minute;
    struct sn_map *addrs;  /* key → struct addr_entry */
};

struct sn_limit *sn_limit_new(uint32_t per_minute)
{
    struct sn_limit *l = df_xcalloc(1, sizeof(*l));
    l->per_minute = per_minute;
    l->addrs = sn_map_new();
    return l;
}

static void drop_all(struct sn_map *m)
{
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(m, &it, &k, &v))
        free(v);
}

void sn_limit_free(struct sn_limit *l)
{
    if (!l)
        return;
    drop_all(l->addrs);
    sn_map_free(l->addrs);
    free(l);
}

void sn_limit_addr_key(const char *addr, char *key, size_t keysz)
{
    struct in6_addr a6;
    struct in_addr a4;
    char buf[INET6_ADDRSTRLEN];
    const char *pct = strchr(addr, '%');  /* fe80::1%eth0: the zone is not part of the key */
    size_t n = pct ? (size_t)(pct - addr) : strlen(addr);
    if (n < sizeof(buf)) {
        memcpy(buf, addr, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET, buf, &a4) == 1) {
            inet_ntop(AF_INET, &a4, key, (socklen_t)keysz);
            return;
        }
        if (inet_pton(AF_INET6, buf, &a6) == 1) {
            if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                memcpy(&a4, &a6.s6_addr[12], 4);
                inet_ntop(AF_INET, &a4, key, (socklen_t)keysz);
                return;
            }
            const unsigned char *b = a6.s6_addr;
            snprintf(key, keysz, "%x:%x:%x:%x::/64", b[0] << 8 | b[1], b[2] << 8 | b[3],
                     b[4] << 8 | b[5], b[6] << 8 | b[7]);
            return;
        }
    }
    snprintf(key, keysz, "%.*s", (int)(keysz > 1 ? keysz - 1 : 0), addr);
}

/* Makes room for one more address: entries whose bucket has refilled are equivalent to absent
 * ones and go first; if none has, the one idle longest. */
static void make_room(struct sn_limit *l, int64_t now_ms)
{
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    const char *oldest = NULL;
    int64_t oldest_ms = INT64_MAX;
    int freed = 0;
    while (sn_map_next(l->addrs, &it, &k, &v)) {
        struct addr_entry *e = v;
        if (df_ratelimit_wait_us(&e->rl, now_ms * 1000, (uint64_t)e->rl.burst) == 0) {
            free(sn_map_del(l->addrs, k)); /* removing the current element is allowed */
            freed = 1;
            continue;
        }
        if (e->last_ms < oldest_ms) {
            oldest_ms = e->last_ms;
            oldest = k;
        }
    }
    if (!freed && oldest)
        free(sn_map_del(l->addrs, oldest));
}

int64_t sn_limit_take(struct sn_limit *l, const char *addr, int64_t now_ms)
{
    if (l->per_minute == 0)
        return 0;
    char key[64];
    sn_limit_addr_key(addr, key, sizeof(key));
    struct addr_entry *e = sn_map_get(l->addrs, key);
    if (!e) {
        if (sn_map_size(l->addrs) >= SN_LIMIT_MAX_ADDRS)
            make_room(l, now_ms);
        e = df_xcalloc(1, sizeof(*e));
        /* rate in units per second: per_minute × TOKEN / 60 s */
        df_ratelimit_init(&e->rl, (uint64_t)l->per_minute * (TOKEN / 60),
                          (int64_t)l->per_minute * TOKEN, now_ms * 1000);
        sn_map_put(l->addrs, key, e);
    }
    e->last_ms = now_ms;
    int64_t wait_us = df_ratelimit_wait_us(&e->rl, now_ms * 1000, TOKEN);
    if (wait_us > 0)
        return (wait_us + 999) / 1000;
    (void)df_ratelimit_take(&e->rl, now_ms * 1000, TOKEN);
    return 0;
}

size_t sn_limit_addrs(const struct sn_limit *l) { return sn_map_size(l->addrs); }

int sn_limit_over_budget(uint64_t used, uint64_t want, uint64_t budget, int is_new)
{
    if (!is_new || budget == 0)
        return 0;
    return used >= budget || want > budget - used;
}
