/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode counters and their Prometheus text rendering (spec §9 names, plus
 * damselfly_supernode_origin_bytes_total / _upload_bytes_total). Loop thread only. */
#ifndef SN_METRICS_H
#define SN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define SN_METRICS_HTTP_MAX 96 /* distinct (handler, code) pairs kept */

struct sn_metrics {
    uint64_t tasks_registered;      /* tasks created */
    uint64_t dfgettasks_registered; /* successful registrations */
    uint64_t dfgettasks_failed;     /* registrations refused */
    uint64_t cdn_trigger;           /* CDN attempts started */
    uint64_t cdn_trigger_failed;    /* attempts that ended FAILED */
    uint64_t cdn_cache_hit;         /* attempts satisfied by a 304 revalidation */
    uint64_t cdn_download;          /* attempts that transferred a body from the origin */
    uint64_t cdn_download_failed;   /* of those, failed */
    uint64_t pieces_downloaded_bytes; /* wrapped bytes of pieces clients reported done */
    uint64_t origin_bytes;          /* body bytes received from origins */
    uint64_t upload_bytes;          /* bytes served on the download port */
    uint64_t pieces_token_refused;  /* download-port requests refused: no/bad piece token */
    uint64_t admissions_refused;    /* joiners of private tasks the origin did not accept */
    uint64_t refused_rate;          /* registrations refused: --new-task-limit (429) */
    uint64_t refused_budget;        /* registrations refused: --max-metadata (503) */
    uint64_t metadata_bytes;        /* gauge, set by the caller before rendering: registry
                                       bytes (sn_registry.mem_bytes) */
    uint64_t sched_cdn_pieces;      /* piece tasks handed out with the supernode as source */
    uint64_t sched_peer_pieces;     /* ... with a peer as source */
    uint64_t sched_stall_pieces;    /* supernode pieces given by the stall rule (duplicates) */
    uint64_t pulls_held;            /* /peer/task replies held (602 deferred) */
    uint64_t pulls_held_woken;      /* ... answered with pieces before their deadline */
    uint64_t peers_eliminated;      /* uploaders eliminated (failed for several clients) */
    uint64_t cdn_reverified;        /* supernode pieces re-read after a /peer/piece/error */
    uint64_t cdn_bad;               /* of those, bad or missing */
    uint64_t cdn_recheck_pieces;    /* cached pieces re-hashed before being served again after
                                       a restart or a task GC */
    uint64_t cdn_recheck_bad;       /* of those, different from their stored digest */
    uint64_t cdn_pieces_repaired;   /* bad pieces fetched again alone and found intact */
    uint64_t cdn_repair_bytes;      /* origin body bytes received for those repairs */
    uint64_t gc_tasks;
    uint64_t gc_peers;
    /* disk management (sn_diskgc, sn_cdn) */
    uint64_t cache_bytes;           /* gauge: disk bytes of the cache files at the last pass */
    uint64_t cache_free_bytes;      /* gauge: free bytes of the cache filesystem, same time */
    uint64_t cache_evictions;       /* tasks whose cache files a disk-GC pass removed */
    uint64_t cache_evicted_bytes;   /* their disk bytes */
    uint64_t cache_gc_runs;         /* disk-GC passes */
    int64_t cache_gc_last_unix;     /* wall time of the last pass, 0 = none yet */
    uint64_t cache_nospace;         /* cache writes that failed with ENOSPC/EDQUOT */
    uint64_t cache_failed_removed;  /* failed CDN attempts whose files were removed */
    size_t nhttp;
    struct {
        const char *handler;        /* static route name */
        int code;
        uint64_t count;
    } http[SN_METRICS_HTTP_MAX];
};

void sn_metrics_init(struct sn_metrics *m);
/* Counts one reply (silently drops new pairs beyond SN_METRICS_HTTP_MAX). */
void sn_metrics_http(struct sn_metrics *m, const char *handler, int code);
/* Prometheus text. tasks_by_status: counts for WAITING, RUNNING, FAILED, SUCCESS (in the order of
 * enum sn_cdn_status: WAITING, RUNNING, SUCCESS, FAILED). Heap string. */
char *sn_metrics_render(const struct sn_metrics *m, const uint64_t tasks_by_status[4],
                        size_t peers);

#endif
