/* SPDX-License-Identifier: Apache-2.0 */
/* Disk-GC passes of the supernode cache: scan (worker) → decide (loop, sn_gc) → rename the
 * victims' files away and drop evicted tasks from memory (loop) → unlink (worker) → metrics,
 * log, and wake CDN writes that wait for space. At most one pass runs; requests that arrive
 * meanwhile become one follow-up pass. Does not decide anything itself (sn_gc does). */
#include "sn_diskgc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "df_log.h"
#include "df_util.h"
#include "df_workpool.h"
#include "sn_cdn.h"
#include "sn_gc.h"
#include "sn_server.h"
#include "sn_store.h"

struct scan_ent {
    char id[DF_TASKID_LEN + 1];
    uint64_t bytes;             /* st_blocks * 512: what the files really hold on disk */
    int64_t mtime_ms;           /* newest mtime of its files (wall clock) */
};

struct pass {
    struct sn_diskgc *g;
    char *dir;                  /* <home>/repo/download */
    uint64_t need;              /* bytes an ENOSPC asked for, 0 = none */
    const char *why;
    /* scan results [worker → loop] */
    int err;
    uint64_t fs_total, fs_free;
    struct scan_ent *ents;
    size_t n, cap;
    int is_truncated;
    /* removal [loop → worker] */
    char **paths;               /* renamed files to unlink */
    size_t npaths;
    uint64_t freed;             /* bytes of the evicted entries (as scanned) */
    size_t nevicted;
};

struct sn_diskgc {
    struct sn_server *s;
    struct event *timer;
    struct pass *running;       /* NULL when idle */
    int is_pending;             /* a request arrived while a pass ran */
    uint64_t pending_need;
    const char *pending_why;
    int is_shutdown;
};

static void request(struct sn_diskgc *g, uint64_t need, const char *why);

static void pass_free(struct pass *p)
{
    for (size_t i = 0; i < p->npaths; i++)
        free(p->paths[i]);
    free(p->paths);
    free(p->ents);
    free(p->dir);
    free(p);
}

/* ---- worker: scan ----------------------------------------------------------------------- */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const struct scan_ent *)a)->id, ((const struct scan_ent *)b)->id);
}

/* One file of <id>: the data file or its .meta/.md5/.sha256. Temp files (.tmp: a write in
 * progress, or a crash leftover of a few KiB) and .deleted ones (being unlinked) are left out:
 * removing a .tmp could break a concurrent write of the same id. */
static int is_cache_file(const char *name, const char *sub)
{
    size_t idlen = strcspn(name, ".");
    if (idlen != DF_TASKID_LEN || !is_lower_hex(name, idlen) || memcmp(name, sub, 3) != 0)
        return 0;
    const char *sfx = name + idlen;
    return !*sfx || strcmp(sfx, ".meta") == 0 || strcmp(sfx, ".md5") == 0 ||
           strcmp(sfx, ".sha256") == 0;
}

static void scan_add(struct pass *p, const char *name, const struct stat *st)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->ents = df_xrealloc(p->ents, p->cap * sizeof(*p->ents));
    }
    struct scan_ent *e = &p->ents[p->n++];
    memcpy(e->id, name, DF_TASKID_LEN);
    e->id[DF_TASKID_LEN] = '\0';
    e->bytes = (uint64_t)st->st_blocks * 512;
    e->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static void scan_dir(struct pass *p, int topfd, const char *sub, size_t *nfiles)
{
    int fd = openat(topfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (*nfiles >= SN_DISKGC_SCAN_MAX_FILES) {
            p->is_truncated = 1;
            break;
        }
        if (!is_cache_file(de->d_name, sub))
            continue;
        struct stat st;
        /* a symlink planted here is not ours to count (the store never follows it) */
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        (*nfiles)++;
        scan_add(p, de->d_name, &st);
    }
    closedir(d);
}

static void on_scan(void *arg)
{
    struct pass *p = arg;
    struct statvfs sv;
    if (statvfs(p->dir, &sv) < 0) {
        p->err = -errno;
        return;
    }
    p->fs_total = (uint64_t)sv.f_blocks * sv.f_frsize;
    p->fs_free = (uint64_t)sv.f_bavail * sv.f_frsize;
    DIR *top = opendir(p->dir);
    if (!top) {
        p->err = -errno;
        return;
    }
    size_t nfiles = 0;
    struct dirent *de;
    while (!p->is_truncated && (de = readdir(top))) {
        if (strlen(de->d_name) == 3 && is_lower_hex(de->d_name, 3))
            scan_dir(p, dirfd(top), de->d_name, &nfiles);
    }
    closedir(top);
    /* one entry per id: sum the files' bytes, keep the newest mtime */
    if (p->n == 0)
        return; /* (qsort must not see the NULL array) */
    qsort(p->ents, p->n, sizeof(*p->ents), cmp_ent);
    size_t out = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (out > 0 && strcmp(p->ents[out - 1].id, p->ents[i].id) == 0) {
            p->ents[out - 1].bytes += p->ents[i].bytes;
            p->ents[out - 1].mtime_ms = DF_MAX(p->ents[out - 1].mtime_ms, p->ents[i].mtime_ms);
        } else {
            p->ents[out++] = p->ents[i];
        }
    }
    p->n = out;
}

/* ---- worker: unlink --------------------------------------------------------------------- */

static void on_unlink(void *arg)
{
    struct pass *p = arg;
    for (size_t i = 0; i < p->npaths; i++)
        unlink(p->paths[i]);
}

/* ---- loop ------------------------------------------------------------------------------- */

static void pass_end(struct pass *p)
{
    struct sn_diskgc *g = p->g;
    struct sn_server *s = g->s;
    g->running = NULL;
    if (g->is_shutdown) {
        pass_free(p);
        return;
    }
    s->metrics.cache_gc_runs++;
    s->metrics.cache_gc_last_unix = (int64_t)time(NULL);
    if (!p->err) {
        s->metrics.cache_bytes = s->metrics.cache_bytes > p->freed ? s->metrics.cache_bytes - p->freed : 0;
        s->metrics.cache_free_bytes += p->freed;
    }
    if (p->nevicted) {
        char b1[32], b2[32], b3[32];
        DF_LOGI("gc", "disk gc (%s): evicted %zu tasks, %s freed; cache now %s, %s free", p->why,
                p->nevicted, df_fmt_bytes(p->freed, b1, sizeof(b1)),
                df_fmt_bytes(s->metrics.cache_bytes, b2, sizeof(b2)),
                df_fmt_bytes(s->metrics.cache_free_bytes, b3, sizeof(b3)));
    }
    int is_wake = p->need > 0;
    pass_free(p);
    /* Writes waiting for space run again only after a pass that started after their ENOSPC
     * (a pass already scanning when it happened measured the old state). */
    if (is_wake)
        sn_cdn_space_done(s->cdn);
    if (g->is_pending && !g->running) {
        uint64_t need = g->pending_need;
        const char *why = g->pending_why;
        g->is_pending = 0;
        g->pending_need = 0;
        request(g, need, why);
    }
}

static void on_unlink_done(void *arg) { pass_end(arg); }

/* Renames the files of id to *.deleted now, so that a CDN job started for the same id from
 * here on never has its new files removed by the unlink (the same reason as
 * sn_cdn_delete_files: rename(2) is a metadata operation, the only disk call on the loop). */
static void take_files(struct pass *p, const char *home, const char *id)
{
    struct sn_store_paths sp;
    sn_store_paths_init(&sp, home, id);
    const char *src[4] = {sp.data, sp.meta, sp.md5, sp.sha256};
    p->paths = df_xrealloc(p->paths, (p->npaths + 4) * sizeof(*p->paths));
    for (int i = 0; i < 4; i++) {
        char *dst = df_xasprintf("%s.deleted", src[i]);
        if (rename(src[i], dst) == 0) {
            p->paths[p->npaths++] = dst;
        } else {
            if (errno != ENOENT)
                DF_LOGW("gc", "cannot remove %s: %s", src[i], strerror(errno));
            free(dst);
        }
    }
    sn_store_paths_cleanup(&sp);
}

static void on_scan_done(void *arg)
{
    struct pass *p = arg;
    struct sn_diskgc *g = p->g;
    struct sn_server *s = g->s;
    const struct sn_config *cfg = s->cfg;
    if (g->is_shutdown || p->err) {
        if (p->err)
            DF_LOGW("gc", "disk gc: cannot measure %s: %s", p->dir, df_strerror(p->err));
        pass_end(p);
        return;
    }
    if (p->is_truncated)
        DF_LOGW("gc", "disk gc: stopped scanning %s after %d files; the rest is not counted",
                p->dir, SN_DISKGC_SCAN_MAX_FILES);
    int64_t now = df_now_ms(), wall = df_wall_ms();
    struct sn_gc_entry *e = df_xcalloc(p->n ? p->n : 1, sizeof(*e));
    size_t *victims = df_xcalloc(p->n ? p->n : 1, sizeof(*victims));
    for (size_t i = 0; i < p->n; i++) {
        struct sn_task *t = sn_registry_get(&s->reg, p->ents[i].id);
        e[i].id = p->ents[i].id;
        e[i].bytes = p->ents[i].bytes;
        /* In memory: the last registration/pull (monotonic, converted to wall time). Only on
         * disk: the newest file mtime, i.e. when it was last written. */
        e[i].access_ms = t ? wall - (now - t->access_ms) : p->ents[i].mtime_ms;
        e[i].is_busy = t && sn_gc_task_is_busy(t, now);
    }
    struct sn_gc_limits lim = {
        .quota_bytes = cfg->cache_quota_bytes,
        .young_free_bytes = sn_gc_threshold_bytes(&cfg->young_gc_threshold, p->fs_total),
        .full_free_bytes = sn_gc_threshold_bytes(&cfg->full_gc_threshold, p->fs_total),
    };
    struct sn_gc_plan plan;
    sn_gc_decide(e, p->n, p->fs_free, p->need, &lim, victims, &plan);
    s->metrics.cache_bytes = plan.cache_bytes;
    s->metrics.cache_free_bytes = p->fs_free;
    if (plan.to_free || plan.is_full) {
        char b1[32], b2[32], b3[32], b4[32];
        DF_LOGI("gc", "disk gc (%s): cache %s in %zu tasks, %s free of %s; %s wants %s freed, "
                "%zu idle tasks chosen%s", p->why, df_fmt_bytes(plan.cache_bytes, b1, sizeof(b1)),
                p->n, df_fmt_bytes(p->fs_free, b2, sizeof(b2)),
                df_fmt_bytes(p->fs_total, b3, sizeof(b3)),
                plan.is_full ? "full gc (below --full-gc-threshold)" : "target",
                df_fmt_bytes(plan.to_free, b4, sizeof(b4)), plan.nvictims,
                plan.shortfall ? " (not enough: the rest is in use)" : "");
    }
    for (size_t k = 0; k < plan.nvictims; k++) {
        const struct sn_gc_entry *v = &e[victims[k]];
        struct sn_task *t = sn_registry_get(&s->reg, v->id);
        char b1[32];
        DF_LOGI("gc", "disk gc: evicting task %s: %s, last access %lld s ago (%s)", v->id,
                df_fmt_bytes(v->bytes, b1, sizeof(b1)), (long long)((wall - v->access_ms) / 1000),
                t ? "dropped from memory too" : "not in memory");
        if (t) {
            /* Like DELETE ?full=true: a later registration creates the task anew and fetches
             * the file again (no piece state survives). Not busy means no references. */
            s->metrics.gc_peers += sn_map_size(t->clients);
            s->metrics.gc_tasks++;
            sn_registry_remove(&s->reg, t);
        }
        take_files(p, cfg->home_dir, v->id);
        p->freed += v->bytes;
        p->nevicted++;
        s->metrics.cache_evictions++;
        s->metrics.cache_evicted_bytes += v->bytes;
    }
    free(e);
    free(victims);
    if (p->npaths) {
        df_workpool_submit(s->pool, on_unlink, on_unlink_done, p);
        return;
    }
    pass_end(p);
}

static void request(struct sn_diskgc *g, uint64_t need, const char *why)
{
    if (g->is_shutdown)
        return;
    if (g->running) {
        g->is_pending = 1;
        g->pending_need = DF_MAX(g->pending_need, need);
        if (!g->pending_why || need)
            g->pending_why = why;
        return;
    }
    struct pass *p = df_xcalloc(1, sizeof(*p));
    p->g = g;
    p->dir = df_xasprintf("%s/repo/download", g->s->cfg->home_dir);
    p->need = need;
    p->why = why;
    g->running = p;
    df_workpool_submit(g->s->pool, on_scan, on_scan_done, p);
}

void sn_diskgc_request(struct sn_diskgc *g, uint64_t need_bytes, const char *why)
{
    request(g, need_bytes, why);
}

static void arm(struct sn_diskgc *g, int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(g->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sn_diskgc *g = arg;
    request(g, 0, "periodic");
    if (g->s->cfg->gc_disk_interval_ms > 0)
        arm(g, g->s->cfg->gc_disk_interval_ms);
}

struct sn_diskgc *sn_diskgc_new(struct sn_server *s)
{
    struct sn_diskgc *g = df_xcalloc(1, sizeof(*g));
    g->s = s;
    g->timer = evtimer_new(s->base, on_timer, g);
    DF_ASSERT(g->timer);
    /* The first pass also fills the cache gauges (and cleans up after an earlier run). */
    arm(g, s->cfg->gc_initial_delay_ms);
    return g;
}

void sn_diskgc_shutdown(struct sn_diskgc *g)
{
    if (!g)
        return;
    g->is_shutdown = 1;
    evtimer_del(g->timer);
}

void sn_diskgc_free(struct sn_diskgc *g)
{
    if (!g)
        return;
    DF_ASSERT(!g->running); /* the pool was drained: its completion ran */
    event_free(g->timer);
    free(g);
}
