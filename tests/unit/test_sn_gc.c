/* SPDX-License-Identifier: Apache-2.0 */
/* sn_gc: the disk-GC decision (targets from the watermarks, the quota and an ENOSPC request;
 * LRU victims, busy tasks never), the threshold arithmetic and the busy rule for in-memory
 * tasks; plus random plans checked against the properties a plan must have. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sn_gc.h"
#include "sn_task.h"

#define MiB (1024ull * 1024)

static const struct sn_gc_limits NO_LIMITS = {0, 0, 0};

static void test_nothing_to_do(void **state)
{
    (void)state;
    struct sn_gc_entry e[] = {{"a", 10 * MiB, 100, 0}, {"b", 20 * MiB, 50, 0}};
    size_t v[2];
    struct sn_gc_plan p;
    struct sn_gc_limits lim = {.quota_bytes = 30 * MiB, .young_free_bytes = 5 * MiB,
                               .full_free_bytes = 1 * MiB};
    sn_gc_decide(e, 2, 5 * MiB, 0, &lim, v, &p);
    assert_int_equal(p.cache_bytes, 30 * MiB);
    assert_int_equal(p.to_free, 0);
    assert_int_equal(p.nvictims, 0);
    assert_false(p.is_full);
    sn_gc_decide(e, 2, 0, 0, &NO_LIMITS, v, &p);
    assert_int_equal(p.nvictims, 0);
    sn_gc_decide(NULL, 0, 0, 8 * MiB, &lim, v, &p); /* empty cache, ENOSPC: nothing to take */
    assert_int_equal(p.nvictims, 0);
    assert_int_equal(p.shortfall, 8 * MiB);
}

/* The worked example of sn_gc.h. */
static void test_young_header_example(void **state)
{
    (void)state;
    struct sn_gc_entry e[] = {{"A", 4 * MiB, 100, 0}, {"B", 8 * MiB, 50, 0}, {"C", 1 * MiB, 200, 1}};
    size_t v[3];
    struct sn_gc_plan p;
    struct sn_gc_limits lim = {.young_free_bytes = 16 * MiB};
    sn_gc_decide(e, 3, 10 * MiB, 0, &lim, v, &p);
    assert_int_equal(p.to_free, 6 * MiB);
    assert_int_equal(p.nvictims, 1);
    assert_int_equal(v[0], 1);
    assert_int_equal(p.planned, 8 * MiB);
    assert_int_equal(p.shortfall, 0);
}

static void test_quota_lru_skips_busy(void **state)
{
    (void)state;
    /* 40 MiB cached, quota 25: 15 MiB must go. Oldest is busy; then d (5), b (10) → 15. */
    struct sn_gc_entry e[] = {{"a", 10 * MiB, 1, 1}, {"b", 10 * MiB, 3, 0}, {"c", 15 * MiB, 9, 0},
                              {"d", 5 * MiB, 2, 0}};
    size_t v[4];
    struct sn_gc_plan p;
    struct sn_gc_limits lim = {.quota_bytes = 25 * MiB};
    sn_gc_decide(e, 4, 1000 * MiB, 0, &lim, v, &p);
    assert_int_equal(p.to_free, 15 * MiB);
    assert_int_equal(p.nvictims, 2);
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 1);
    assert_int_equal(p.planned, 15 * MiB);
}

static void test_full_takes_every_idle(void **state)
{
    (void)state;
    struct sn_gc_entry e[] = {{"a", 1 * MiB, 5, 0}, {"b", 2 * MiB, 3, 1}, {"c", 3 * MiB, 1, 0}};
    size_t v[3];
    struct sn_gc_plan p;
    struct sn_gc_limits lim = {.young_free_bytes = 10 * MiB, .full_free_bytes = 2 * MiB};
    sn_gc_decide(e, 3, 1 * MiB, 0, &lim, v, &p);
    assert_true(p.is_full);
    assert_int_equal(p.nvictims, 2);
    assert_int_equal(v[0], 2); /* oldest first */
    assert_int_equal(v[1], 0);
    assert_int_equal(p.planned, 4 * MiB);
    assert_int_equal(p.to_free, 9 * MiB);
    assert_int_equal(p.shortfall, 5 * MiB);
}

static void test_need_and_ties(void **state)
{
    (void)state;
    /* ENOSPC asks for 12 MiB although no watermark is crossed. Same access time: the larger
     * first, then by id. */
    struct sn_gc_entry e[] = {{"y", 8 * MiB, 7, 0}, {"x", 8 * MiB, 7, 0}, {"z", 9 * MiB, 7, 0},
                              {"w", 1 * MiB, 8, 0}};
    size_t v[4];
    struct sn_gc_plan p;
    sn_gc_decide(e, 4, 0, 12 * MiB, &NO_LIMITS, v, &p);
    assert_int_equal(p.to_free, 12 * MiB);
    assert_int_equal(p.nvictims, 2);
    assert_int_equal(v[0], 2); /* z: 9 MiB */
    assert_int_equal(v[1], 1); /* x before y */
    /* the largest of the targets wins */
    struct sn_gc_limits lim = {.young_free_bytes = 20 * MiB};
    sn_gc_decide(e, 4, 0, 12 * MiB, &lim, v, &p);
    assert_int_equal(p.to_free, 20 * MiB);
    assert_int_equal(p.nvictims, 3);
}

static void test_threshold_bytes(void **state)
{
    (void)state;
    struct sn_gc_threshold pct = {.bytes = 0, .pct = 10};
    struct sn_gc_threshold abs = {.bytes = 5 * MiB, .pct = -1};
    struct sn_gc_threshold off = {.bytes = 0, .pct = 0};
    assert_int_equal(sn_gc_threshold_bytes(&pct, 48 * MiB), 48 * MiB / 10);
    assert_int_equal(sn_gc_threshold_bytes(&pct, 999), 99);
    assert_int_equal(sn_gc_threshold_bytes(&abs, 48 * MiB), 5 * MiB);
    assert_int_equal(sn_gc_threshold_bytes(&off, 48 * MiB), 0);
    struct sn_gc_threshold all = {.bytes = 0, .pct = 100};
    uint64_t big = UINT64_MAX / 2; /* no overflow in the percentage */
    assert_int_equal(sn_gc_threshold_bytes(&all, big), big);
}

static const char *ID1 = "1111111111111111111111111111111111111111111111111111111111111111";

static void test_task_busy(void **state)
{
    (void)state;
    struct sn_registry r;
    sn_registry_init(&r);
    struct sn_task *t = sn_registry_add(&r, ID1, "http://o/x", "http://o/x", "", "", NULL);
    int64_t now = 1000000;
    assert_false(sn_gc_task_is_busy(t, now));
    t->refs = 1; /* pending registration, held pull, download-port reply */
    assert_true(sn_gc_task_is_busy(t, now));
    t->refs = 0;
    t->dl_inflight = 1;
    assert_true(sn_gc_task_is_busy(t, now));
    t->dl_inflight = 0;
    t->cdn = (struct sn_cdn_job *)t; /* any non-NULL: a job runs */
    assert_true(sn_gc_task_is_busy(t, now));
    t->cdn = NULL;
    t->is_verifying = 1;
    assert_true(sn_gc_task_is_busy(t, now));
    t->is_verifying = 0;
    struct sn_peer *p = sn_task_peer_upsert(t, "cid-1");
    p->access_ms = now - 1000;
    assert_true(sn_gc_task_is_busy(t, now)); /* downloading */
    p->is_success = 1;
    assert_false(sn_gc_task_is_busy(t, now)); /* finished: an uploader, not a downloader */
    p->is_success = 0;
    p->service_down_ms = now - 10;
    assert_false(sn_gc_task_is_busy(t, now)); /* went down */
    p->service_down_ms = 0;
    p->access_ms = now - SN_GC_PEER_ACTIVE_MS - 1;
    assert_false(sn_gc_task_is_busy(t, now)); /* silent for too long: crashed */
    sn_registry_cleanup(&r);
}

/* Random plans: victims are distinct and idle, come out oldest first, meet the target when
 * the idle entries can, and no victim is superfluous (without the last one the target would
 * not be met), except in a full GC, which takes every idle entry. */
static void test_random_plans(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(seed % 20);
        struct sn_gc_entry e[20];
        char ids[20][4];
        uint64_t idle = 0, total = 0;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            snprintf(ids[i], sizeof(ids[i]), "%zu", i);
            e[i].id = ids[i];
            e[i].bytes = (seed >> 33) % (16 * MiB);
            e[i].access_ms = (int64_t)((seed >> 20) % 50);
            e[i].is_busy = (seed >> 10) % 4 == 0;
            total += e[i].bytes;
            if (!e[i].is_busy)
                idle += e[i].bytes;
        }
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        struct sn_gc_limits lim = {.quota_bytes = (seed >> 40) % (200 * MiB),
                                   .young_free_bytes = (seed >> 30) % (64 * MiB),
                                   .full_free_bytes = (seed >> 20) % (4 * MiB)};
        uint64_t free_b = (seed >> 8) % (64 * MiB), need = (seed % 3 == 0) ? (seed >> 12) % (32 * MiB) : 0;
        size_t v[20];
        struct sn_gc_plan p;
        sn_gc_decide(e, n, free_b, need, &lim, v, &p);
        assert_int_equal(p.cache_bytes, total);
        int seen[20] = {0};
        uint64_t sum = 0;
        for (size_t k = 0; k < p.nvictims; k++) {
            assert_true(v[k] < n);
            assert_false(seen[v[k]]);
            seen[v[k]] = 1;
            assert_false(e[v[k]].is_busy);
            if (k > 0)
                assert_true(e[v[k - 1]].access_ms <= e[v[k]].access_ms);
            sum += e[v[k]].bytes;
        }
        assert_int_equal(sum, p.planned);
        if (p.is_full) {
            assert_int_equal(sum, idle);
            continue;
        }
        if (idle >= p.to_free)
            assert_true(sum >= p.to_free);
        else
            assert_int_equal(sum, idle);
        if (p.nvictims > 0)
            assert_true(sum - e[v[p.nvictims - 1]].bytes < p.to_free);
        assert_int_equal(p.shortfall, sum < p.to_free ? p.to_free - sum : 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_to_do),
        cmocka_unit_test(test_young_header_example),
        cmocka_unit_test(test_quota_lru_skips_busy),
        cmocka_unit_test(test_full_takes_every_idle),
        cmocka_unit_test(test_need_and_ties),
        cmocka_unit_test(test_threshold_bytes),
        cmocka_unit_test(test_task_busy),
        cmocka_unit_test(test_random_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
