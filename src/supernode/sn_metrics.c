/* SPDX-License-Identifier: Apache-2.0 */
/* Counter storage and Prometheus exposition (text format 0.0.4). */
#include "sn_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_util.h"

void sn_metrics_init(struct sn_metrics *m) { memset(m, 0, sizeof(*m)); }

void sn_metrics_http(struct sn_metrics *m, const char *handler, int code)
{
    for (size_t i = 0; i < m->nhttp; i++) {
        if (m->http[i].code == code && strcmp(m->http[i].handler, handler) == 0) {
            m->http[i].count++;
            return;
        }
    }
    if (m->nhttp < SN_METRICS_HTTP_MAX) {
        m->http[m->nhttp].handler = handler;
        m->http[m->nhttp].code = code;
        m->http[m->nhttp].count = 1;
        m->nhttp++;
    }
}

struct out {
    char *s;
    size_t len, cap;
};

static void add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (n > 0 ? (size_t)n : 0);
        o->s = df_xrealloc(o->s, o->cap);
    }
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    add(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

char *sn_metrics_render(const struct sn_metrics *m, const uint64_t tasks_by_status[4], size_t peers)
{
    struct out o = {.s = df_xmalloc(4096), .len = 0, .cap = 4096};
    add(&o, "# HELP dragonfly_supernode_build_info A metric with a constant '1' value labeled by "
            "version, revision and implementation.\n"
            "# TYPE dragonfly_supernode_build_info gauge\n"
            "dragonfly_supernode_build_info{implementation=\"damselfly\",revision=\"\","
            "version=\"%s\"} 1\n", DF_VERSION);
    add(&o, "# HELP dragonfly_supernode_http_requests_total Counter of HTTP requests.\n"
            "# TYPE dragonfly_supernode_http_requests_total counter\n");
    for (size_t i = 0; i < m->nhttp; i++)
        add(&o, "dragonfly_supernode_http_requests_total{code=\"%d\",handler=\"%s\"} %llu\n",
            m->http[i].code, m->http[i].handler, (unsigned long long)m->http[i].count);
    static const char *status[4] = {"WAITING", "RUNNING", "SUCCESS", "FAILED"};
    add(&o, "# HELP dragonfly_supernode_tasks Current status of Supernode tasks.\n"
            "# TYPE dragonfly_supernode_tasks gauge\n");
    for (int i = 0; i < 4; i++)
        add(&o, "dragonfly_supernode_tasks{cdnstatus=\"%s\"} %llu\n", status[i],
            (unsigned long long)tasks_by_status[i]);
    add(&o, "# HELP dragonfly_supernode_peers Current number of registered dfget tasks.\n"
            "# TYPE dragonfly_supernode_peers gauge\n"
            "dragonfly_supernode_peers %zu\n", peers);
    counter(&o, "dragonfly_supernode_tasks_registered_total", "Total times of registering tasks.",
            m->tasks_registered);
    counter(&o, "dragonfly_supernode_dfgettasks_registered_total",
            "Total times of registering dfget tasks.", m->dfgettasks_registered);
    counter(&o, "dragonfly_supernode_dfgettasks_failed_total",
            "Total times of failed dfget task registrations.", m->dfgettasks_failed);
    counter(&o, "dragonfly_supernode_cdn_trigger_total", "Total times of triggering cdn.",
            m->cdn_trigger);
    counter(&o, "dragonfly_supernode_cdn_trigger_failed_total",
            "Total failure times of triggering cdn.", m->cdn_trigger_failed);
    counter(&o, "dragonfly_supernode_cdn_cache_hit_total", "Total times of hitting cdn cache.",
            m->cdn_cache_hit);
    counter(&o, "dragonfly_supernode_cdn_download_total", "Total times of cdn download.",
            m->cdn_download);
    counter(&o, "dragonfly_supernode_cdn_download_failed_total",
            "Total failure times of cdn download.", m->cdn_download_failed);
    counter(&o, "dragonfly_supernode_pieces_downloaded_size_bytes_total",
            "Total size of pieces downloaded from supernode in bytes.", m->pieces_downloaded_bytes);
    counter(&o, "dragonfly_supernode_gc_tasks_total", "Total number of tasks garbage-collected.",
            m->gc_tasks);
    counter(&o, "dragonfly_supernode_gc_peers_total", "Total number of peers garbage-collected.",
            m->gc_peers);
    counter(&o, "damselfly_supernode_origin_bytes_total",
            "Body bytes received from origin servers.", m->origin_bytes);
    counter(&o, "damselfly_supernode_upload_bytes_total",
            "Bytes served on the download port.", m->upload_bytes);
    counter(&o, "damselfly_supernode_piece_token_refused_total",
            "Download-port requests refused for a missing or invalid piece token.",
            m->pieces_token_refused);
    counter(&o, "damselfly_supernode_admissions_refused_total",
            "Registrations to private tasks whose credentials the origin did not accept.",
            m->admissions_refused);
    add(&o, "# HELP damselfly_supernode_registrations_refused_total Registrations refused by an "
            "admission limit.\n"
            "# TYPE damselfly_supernode_registrations_refused_total counter\n"
            "damselfly_supernode_registrations_refused_total{limit=\"new_task_rate\"} %llu\n"
            "damselfly_supernode_registrations_refused_total{limit=\"metadata_budget\"} %llu\n",
        (unsigned long long)m->refused_rate, (unsigned long long)m->refused_budget);
    add(&o, "# HELP damselfly_supernode_metadata_bytes Memory held for tasks and their clients "
            "(estimate; --max-metadata bounds it).\n"
            "# TYPE damselfly_supernode_metadata_bytes gauge\n"
            "damselfly_supernode_metadata_bytes %llu\n", (unsigned long long)m->metadata_bytes);
    add(&o, "# HELP damselfly_supernode_scheduled_pieces_total Piece tasks handed out, by source.\n"
            "# TYPE damselfly_supernode_scheduled_pieces_total counter\n"
            "damselfly_supernode_scheduled_pieces_total{source=\"supernode\"} %llu\n"
            "damselfly_supernode_scheduled_pieces_total{source=\"peer\"} %llu\n",
        (unsigned long long)m->sched_cdn_pieces, (unsigned long long)m->sched_peer_pieces);
    counter(&o, "damselfly_supernode_stall_pieces_total",
            "Supernode piece tasks given to an idle client although the piece was in flight or "
            "held by a peer.", m->sched_stall_pieces);
    counter(&o, "damselfly_supernode_pulls_held_total",
            "Pulls of idle clients held instead of an immediate 602.", m->pulls_held);
    counter(&o, "damselfly_supernode_pulls_held_woken_total",
            "Held pulls answered with pieces before their deadline.", m->pulls_held_woken);
    counter(&o, "damselfly_supernode_peers_eliminated_total",
            "Uploaders removed as sources after failing for several clients.",
            m->peers_eliminated);
    counter(&o, "damselfly_supernode_cdn_pieces_rechecked_total",
            "Cached pieces re-hashed before being served again after a restart or task GC.",
            m->cdn_recheck_pieces);
    counter(&o, "damselfly_supernode_cdn_pieces_recheck_bad_total",
            "Of those, pieces whose bytes differ from their stored digest.", m->cdn_recheck_bad);
    counter(&o, "damselfly_supernode_cdn_pieces_repaired_total",
            "Bad cache pieces fetched again alone from the origin and found intact.",
            m->cdn_pieces_repaired);
    counter(&o, "damselfly_supernode_cdn_repair_origin_bytes_total",
            "Origin body bytes received to repair bad cache pieces.", m->cdn_repair_bytes);
    counter(&o, "damselfly_supernode_cdn_pieces_reverified_total",
            "Supernode pieces re-read after a client reported a digest mismatch or a missing file.",
            m->cdn_reverified);
    counter(&o, "damselfly_supernode_cdn_pieces_bad_total",
            "Re-verified supernode pieces found bad or missing (fetched again: the piece alone "
            "when the rest of the copy is intact, else the file).",
            m->cdn_bad);
    counter(&o, "dragonfly_supernode_gc_disks_total",
            "Total number of garbage collecting the task data in disks", m->cache_evictions);
    add(&o, "# HELP dragonfly_supernode_last_gc_disks_timestamp_seconds Timestamp of the last "
            "disk gc\n# TYPE dragonfly_supernode_last_gc_disks_timestamp_seconds gauge\n"
            "dragonfly_supernode_last_gc_disks_timestamp_seconds %lld\n",
        (long long)m->cache_gc_last_unix);
    add(&o, "# HELP damselfly_supernode_cache_bytes Disk bytes of the CDN cache files (at the "
            "last disk-GC pass).\n# TYPE damselfly_supernode_cache_bytes gauge\n"
            "damselfly_supernode_cache_bytes %llu\n", (unsigned long long)m->cache_bytes);
    add(&o, "# HELP damselfly_supernode_cache_free_bytes Free bytes of the cache filesystem (at "
            "the last disk-GC pass).\n# TYPE damselfly_supernode_cache_free_bytes gauge\n"
            "damselfly_supernode_cache_free_bytes %llu\n",
        (unsigned long long)m->cache_free_bytes);
    counter(&o, "damselfly_supernode_cache_evictions_total",
            "Tasks whose cache files were evicted by the disk GC.", m->cache_evictions);
    counter(&o, "damselfly_supernode_cache_evicted_bytes_total",
            "Disk bytes freed by disk-GC evictions.", m->cache_evicted_bytes);
    counter(&o, "damselfly_supernode_cache_gc_runs_total", "Disk-GC passes.", m->cache_gc_runs);
    counter(&o, "damselfly_supernode_cache_nospace_total",
            "CDN cache writes that failed with ENOSPC or EDQUOT.", m->cache_nospace);
    counter(&o, "damselfly_supernode_cache_failed_removed_total",
            "Failed CDN attempts whose partial cache files were removed.",
            m->cache_failed_removed);
    return o.s;
}
