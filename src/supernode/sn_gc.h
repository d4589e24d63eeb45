/* SPDX-License-Identifier: Apache-2.0 */
/* Disk-GC decision of the supernode cache (pure: no I/O, no clock; the caller passes data and
 * gets back which cache entries to evict). The driver that measures the disk, asks this module
 * and removes files is sn_diskgc. Design notes: docs/internals/cdn-cache.md, "Disk management".
 *
 * Targets, all optional (0 = off), checked in this order of severity:
 *   full:  fs free < full_free_bytes   → evict every entry that is not busy (Dragonfly's
 *          "full GC": FullGCThreshold)
 *   young: fs free < young_free_bytes  → evict until fs free >= young_free_bytes
 *          (Dragonfly's YoungGCThreshold; Dragonfly then deletes CleanRatio/10 of the
 *          candidates, we evict by least-recent access until the byte target is met)
 *   quota: cache bytes > quota_bytes   → evict until cache bytes <= quota_bytes
 *   need:  need_bytes > 0              → evict until fs free >= need_bytes more than now
 *          (a CDN write hit ENOSPC/EDQUOT: room for what the waiting downloads still need)
 * The byte targets are the maximum of what young, quota and need ask for. Victims are taken
 * least recently accessed first (ties: larger first, then by id, so a plan is deterministic);
 * a busy entry is never taken.
 *
 * Worked example: free 10 MiB, young 16 MiB, quota 0, need 0; idle entries A (4 MiB, access
 * 100), B (8 MiB, access 50), C (1 MiB, access 200, busy). Young needs 6 MiB: B (oldest) is
 * taken, 8 MiB ≥ 6 MiB, done → evict {B}, to_free 6 MiB, planned 8 MiB, shortfall 0. */
#ifndef SN_GC_H
#define SN_GC_H

#include <stddef.h>
#include <stdint.h>

struct sn_gc_entry {
    const char *id;          /* task id (borrowed; only used as the last tie-break) */
    uint64_t bytes;          /* disk bytes of all its cache files */
    int64_t access_ms;       /* last access, any clock shared by all entries */
    int is_busy;             /* never evicted: CDN job, download-port reply, peers downloading */
};

struct sn_gc_limits {
    uint64_t quota_bytes;      /* --cache-quota, 0 = unlimited */
    uint64_t young_free_bytes; /* --young-gc-threshold resolved to bytes, 0 = off */
    uint64_t full_free_bytes;  /* --full-gc-threshold resolved to bytes, 0 = off */
};

struct sn_gc_plan {
    uint64_t cache_bytes;    /* sum of all entries */
    uint64_t to_free;        /* bytes the targets ask for (0 when none is exceeded) */
    uint64_t planned;        /* bytes of the chosen victims */
    uint64_t shortfall;      /* to_free - planned when not enough idle entries, else 0 */
    int is_full;             /* the full threshold was crossed */
    size_t nvictims;         /* indexes written to victims[] */
};

/* Chooses victims among e[0..n). free_bytes: free space on the cache filesystem now;
 * need_bytes: extra free space wanted (0 = none). victims must have room for n indexes;
 * they come out in eviction order. Fills *plan. Never fails. */
void sn_gc_decide(const struct sn_gc_entry *e, size_t n, uint64_t free_bytes, uint64_t need_bytes,
                  const struct sn_gc_limits *lim, size_t *victims, struct sn_gc_plan *plan);

/* A free-space threshold given as an absolute size or as a percentage of the filesystem:
 * pct >= 0 means pct % of total_bytes, else bytes. Pure. */
struct sn_gc_threshold {
    uint64_t bytes;
    int pct;                 /* 0..100, or -1 when bytes applies */
};
uint64_t sn_gc_threshold_bytes(const struct sn_gc_threshold *t, uint64_t total_bytes);

#define SN_GC_PEER_ACTIVE_MS 60000 /* a client that has not finished and pulled this recently
                                      counts as downloading */
struct sn_task;
/* 1 when the in-memory task t must not be evicted now: a CDN job runs, something holds a
 * reference (pending registrations, held pulls, download-port replies: t->dl_inflight), a
 * piece is being re-verified, or a client is still downloading (not finished, not down, pulled
 * within SN_GC_PEER_ACTIVE_MS). now_ms: monotonic, as t->access_ms. Pure. */
int sn_gc_task_is_busy(const struct sn_task *t, int64_t now_ms);

#endif
