/* SPDX-License-Identifier: Apache-2.0 */
/* Admission limits of the supernode's control API, pure (the clock is passed in):
 *
 *  - a per-address rate of NEW ORIGIN DOWNLOADS: every registration that would start a CDN
 *    download (a new task, or a failed one retried) takes one token from its client address's
 *    bucket (--new-task-limit N: N per minute, burst N). Joining an existing task is free: a
 *    swarm of a thousand hosts on one file costs one token, while a client that invents a new
 *    identifier per request (each a new task id and origin download) is stopped at N.
 *    IPv6 clients are keyed by their /64 (one host usually owns the whole prefix), IPv4 and
 *    IPv4-mapped IPv6 by the address.
 *    The table of addresses is bounded (SN_LIMIT_MAX_ADDRS): when full, the entry idle longest
 *    is reused. An address forgotten that way gets a full bucket back, the same as an address
 *    idle long enough to refill, so forgetting never makes the limit stricter than configured,
 *    and at most SN_LIMIT_MAX_ADDRS × N downloads start per minute in the worst case.
 *
 *  - a metadata budget (--max-metadata): the bytes the registry holds for tasks and their
 *    clients (strings, headers, CA bundles, kept credentials, piece digests, scheduling state;
 *    sn_task_mem_bytes) may not exceed it. A registration that would add a task or a client
 *    while the registry is at or over the budget is refused with 503; refreshing an existing
 *    client is always allowed, so running downloads keep working. The figure is an upper
 *    estimate of the heap behind the registry, not of the process's RSS (libevent buffers,
 *    curl handles and the CDN's chunk queues are bounded separately).
 *
 * Threading: one thread (the loop). */
#ifndef SN_LIMIT_H
#define SN_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define SN_LIMIT_MAX_ADDRS 4096          /* addresses remembered by the rate limiter */
#define SN_LIMIT_DEF_NEW_TASKS 300       /* --new-task-limit: per minute per address */
#define SN_LIMIT_DEF_MAX_METADATA (128ull << 20) /* --max-metadata */

struct sn_limit;

/* per_minute 0 = unlimited. Never fails (aborts on OOM like df_xmalloc). */
struct sn_limit *sn_limit_new(uint32_t per_minute);
void sn_limit_free(struct sn_limit *l); /* NULL ok */

/* Fills key (≥ 64 bytes) with the bucket key of a client address: the address itself for
 * IPv4 (also when written as ::ffff:a.b.c.d), "<first 4 groups>::/64" for IPv6, the text as
 * given (truncated) for anything unparsable. */
void sn_limit_addr_key(const char *addr, char *key, size_t keysz);

/* One new origin download for addr at now_ms: returns 0 (allowed, token taken) or the number
 * of milliseconds after which the next one would be allowed (> 0; nothing taken). */
int64_t sn_limit_take(struct sn_limit *l, const char *addr, int64_t now_ms);

/* Addresses currently tracked (tests, metrics). */
size_t sn_limit_addrs(const struct sn_limit *l);

/* 1 when a registration that adds (is_new: a new task or a new client) would be refused:
 * the registry already holds `used` bytes and `budget` is not 0 (unlimited) and
 * used + want > budget. Refreshing (is_new 0) is never refused. */
int sn_limit_over_budget(uint64_t used, uint64_t want, uint64_t budget, int is_new);

#endif
