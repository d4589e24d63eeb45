/* SPDX-License-Identifier: Apache-2.0 */
/* Which cache entries a disk-GC pass evicts: byte targets from the free-space watermarks, the
 * quota and an ENOSPC request, then least-recently-used idle entries until they are met.
 * Pure; the disk is measured and files are removed by sn_diskgc. */
#include "sn_gc.h"

#include <stdlib.h>
#include <string.h>

#include "df_util.h"
#include "sn_task.h"

/* qsort has no context argument: sort pointers to the entries, so the victims' indexes can
 * be recovered by pointer difference. */
static int cmp_lru(const void *a, const void *b)
{
    const struct sn_gc_entry *x = *(const struct sn_gc_entry *const *)a;
    const struct sn_gc_entry *y = *(const struct sn_gc_entry *const *)b;
    if (x->access_ms != y->access_ms)
        return x->access_ms < y->access_ms ? -1 : 1;
    if (x->bytes != y->bytes) /* same age: the larger one frees more per eviction */
        return x->bytes > y->bytes ? -1 : 1;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

void sn_gc_decide(const struct sn_gc_entry *e, size_t n, uint64_t free_bytes, uint64_t need_bytes,
                  const struct sn_gc_limits *lim, size_t *victims, struct sn_gc_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    for (size_t i = 0; i < n; i++)
        plan->cache_bytes += e[i].bytes;
    uint64_t want = 0;
    if (lim->young_free_bytes && free_bytes < lim->young_free_bytes)
        want = lim->young_free_bytes - free_bytes;
    if (lim->quota_bytes && plan->cache_bytes > lim->quota_bytes)
        want = DF_MAX(want, plan->cache_bytes - lim->quota_bytes);
    want = DF_MAX(want, need_bytes);
    plan->is_full = lim->full_free_bytes && free_bytes < lim->full_free_bytes;
    plan->to_free = want;
    if (want == 0 && !plan->is_full)
        return;
    const struct sn_gc_entry **order = df_xcalloc(n ? n : 1, sizeof(*order));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!e[i].is_busy)
            order[m++] = &e[i];
    qsort(order, m, sizeof(*order), cmp_lru);
    for (size_t k = 0; k < m; k++) {
        if (!plan->is_full && plan->planned >= want)
            break;
        victims[plan->nvictims++] = (size_t)(order[k] - e);
        plan->planned += order[k]->bytes;
    }
    plan->shortfall = plan->planned < want ? want - plan->planned : 0;
    free(order);
}

uint64_t sn_gc_threshold_bytes(const struct sn_gc_threshold *t, uint64_t total_bytes)
{
    if (t->pct >= 0)
        return total_bytes / 100 * (uint64_t)t->pct + total_bytes % 100 * (uint64_t)t->pct / 100;
    return t->bytes;
}

int sn_gc_task_is_busy(const struct sn_task *t, int64_t now_ms)
{
    if (t->cdn || t->refs > 0 || t->dl_inflight > 0 || t->is_verifying || t->pending)
        return 1;
    struct sn_map_iter it = {0};
    const char *cid;
    void *v;
    while (sn_map_next(t->clients, &it, &cid, &v)) {
        const struct sn_peer *p = v;
        /* A client that crashed without a word stops counting after the window, instead of
         * pinning the task until the peer GC (--task-expire-time) drops it. */
        if (!p->is_success && p->service_down_ms == 0 && now_ms - p->access_ms < SN_GC_PEER_ACTIVE_MS)
            return 1;
    }
    return 0;
}
