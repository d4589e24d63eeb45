/* SPDX-License-Identifier: Apache-2.0 */
/* sn_task / sn_map / sn_server_gc: registry, references (a task held by a CDN job or a
 * deferred reply outlives its removal), piece digests, GC of idle tasks and down peers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sn_map.h"
#include "sn_server.h"
#include "sn_task.h"

static const char *ID1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *ID2 = "2222222222222222222222222222222222222222222222222222222222222222";

static void test_map(void **state)
{
    (void)state;
    struct sn_map *m = sn_map_new();
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_null(sn_map_put(m, key, (void *)(intptr_t)(i + 1)));
    }
    assert_int_equal(sn_map_size(m), 1000);
    assert_ptr_equal(sn_map_put(m, "k5", (void *)7), (void *)6);
    /* iterate and delete every other element while iterating */
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    int seen = 0;
    while (sn_map_next(m, &it, &k, &v)) {
        seen++;
        if (seen % 2)
            assert_non_null(sn_map_del(m, k));
    }
    assert_int_equal(seen, 1000);
    assert_int_equal(sn_map_size(m), 500);
    assert_null(sn_map_del(m, "absent"));
    sn_map_free(m);
}

static void test_refs_and_pieces(void **state)
{
    (void)state;
    struct sn_registry r;
    sn_registry_init(&r);
    struct sn_task *t = sn_registry_add(&r, ID1, "http://o/f", "http://o/f?s=1", "", "id", NULL);
    assert_ptr_equal(sn_registry_get(&r, ID1), t);
    assert_int_equal(t->http_length, -1);
    sn_task_set_geometry(t, 10000000, 4194304);
    assert_int_equal(t->sched.total, 3);
    assert_int_equal(t->wrapped_length, 10000015);
    struct sn_piece_digest d = {.wrapped_len = 1611407};
    memset(d.md5, 0xab, sizeof(d.md5));
    memset(d.sha256, 0x01, sizeof(d.sha256));
    assert_int_equal(sn_task_piece_done(t, 2, &d), 0);
    assert_int_equal(sn_task_piece_done(t, 3, &d), -ERANGE);
    char md5[64], sha[65];
    sn_task_piece_md5(t, 2, md5, sizeof(md5));
    assert_string_equal(md5, "abababababababababababababababab:1611407");
    sn_task_piece_sha256(t, 2, sha);
    assert_int_equal(strlen(sha), 64);
    char cid[128];
    sn_task_cdn_cid("::1", ID1, cid, sizeof(cid));
    assert_true(sn_task_is_cdn_cid(cid));
    assert_false(sn_task_is_cdn_cid("127.0.0.1-1-2.000"));

    struct sn_peer *p = sn_task_peer_upsert(t, "c1");
    assert_ptr_equal(sn_task_peer_upsert(t, "c1"), p);
    assert_ptr_equal(sn_task_peer_at(t, p->sched.idx), p);
    assert_int_equal(sn_task_src_of(t, "c1"), p->sched.idx);
    assert_int_equal(sn_task_src_of(t, cid), SN_SCHED_SRC_CDN);
    assert_int_equal(sn_task_src_of(t, "nobody"), SN_SCHED_SRC_NONE);
    assert_null(sn_task_peer_at(t, p->sched.idx + 1));
    sn_sched_client_set_source(&t->sched, &p->sched, 1); /* registered with an uploader port */
    assert_int_equal(sn_sched_holder_add(&t->sched, &p->sched, 2), 0);
    assert_int_equal(t->sched.pc[2].holders, 1);
    sn_task_peer_remove(t, p);
    assert_int_equal(t->sched.pc[2].holders, 0);
    assert_null(sn_task_peer_get(t, "c1"));

    /* a referenced task survives removal until the last unref (ASan checks the free) */
    sn_task_ref(t);
    sn_registry_remove(&r, t);
    assert_null(sn_registry_get(&r, ID1));
    assert_int_equal(t->is_removed, 1);
    sn_task_unref(t);
    sn_registry_cleanup(&r);
}

/* Origin TLS settings kept with the task, and the comparison that decides whether a
 * registration may pass a TLS-verification block (sn_api). */
static void test_tls_settings(void **state)
{
    (void)state;
    struct sn_registry reg;
    sn_registry_init(&reg);
    struct sn_task *t = sn_registry_add(&reg, ID1, "https://o/f", "https://o/f", NULL, NULL, NULL);
    assert_int_equal(sn_task_is_same_tls(t, 0, NULL, 0), 1);
    assert_int_equal(sn_task_is_same_tls(t, 1, NULL, 0), 0);
    assert_int_equal(sn_task_is_same_tls(t, 0, "A", 1), 0);
    sn_task_set_tls(t, 0, "PEM-A\n", 6, 1);
    assert_int_equal(t->ca_pem_len, 6);
    assert_string_equal(t->ca_pem, "PEM-A\n");
    assert_int_equal(t->n_root_cas, 1);
    assert_int_equal(sn_task_is_same_tls(t, 0, "PEM-A\n", 6), 1);
    assert_int_equal(sn_task_is_same_tls(t, 0, "PEM-B\n", 6), 0);
    assert_int_equal(sn_task_is_same_tls(t, 0, "PEM-A\nX", 7), 0);
    assert_int_equal(sn_task_is_same_tls(t, 2, "PEM-A\n", 6), 0); /* insecure: any non-zero */
    assert_int_equal(sn_task_is_same_tls(t, 0, NULL, 0), 0);
    sn_task_set_tls(t, 1, NULL, 0, 0); /* a later CDN restart without CAs drops them */
    assert_null(t->ca_pem);
    assert_int_equal(t->n_root_cas, 0);
    assert_int_equal(sn_task_is_same_tls(t, 7, NULL, 5), 1); /* NULL pem: length ignored */
    sn_task_set_tls(t, 0, "PEM-C\n", 6, 1); /* freed with the task (ASan checks) */
    sn_registry_cleanup(&reg);
}

static void test_gc(void **state)
{
    (void)state;
    struct sn_config cfg;
    sn_config_init(&cfg);
    cfg.task_expire_ms = 1000;
    cfg.peer_gc_delay_ms = 500;
    struct sn_server s;
    memset(&s, 0, sizeof(s));
    s.cfg = &cfg;
    sn_registry_init(&s.reg);
    sn_metrics_init(&s.metrics);

    struct sn_task *a = sn_registry_add(&s.reg, ID1, "http://o/a", "http://o/a", "", "", NULL);
    struct sn_task *b = sn_registry_add(&s.reg, ID2, "http://o/b", "http://o/b", "", "", NULL);
    sn_task_set_geometry(b, 100, 4194304);
    a->access_ms = 0;
    b->access_ms = 5000;
    struct sn_peer *down = sn_task_peer_upsert(b, "down");
    struct sn_peer *up = sn_task_peer_upsert(b, "up");
    struct sn_peer *idle = sn_task_peer_upsert(b, "idle");
    down->access_ms = up->access_ms = 5000;
    down->service_down_ms = 5200;
    idle->access_ms = 0;
    struct sn_piece_digest d = {.wrapped_len = 105};
    assert_int_equal(sn_task_piece_done(b, 0, &d), 0);
    assert_int_equal(sn_sched_holder_add(&b->sched, &up->sched, 0), 0);

    sn_task_ref(a); /* e.g. a deferred registration: not collected */
    sn_server_gc(&s, 5500);
    assert_non_null(sn_registry_get(&s.reg, ID1));
    sn_task_unref(a);
    /* now: a idle 5.5 s → dropped; b's "idle" client (no pieces to serve, idle) → dropped;
     * "down" reported down only 300 ms ago → kept */
    sn_server_gc(&s, 5500);
    assert_null(sn_registry_get(&s.reg, ID1));
    assert_non_null(sn_task_peer_get(b, "down"));
    assert_non_null(sn_task_peer_get(b, "up"));
    assert_null(sn_task_peer_get(b, "idle"));
    assert_int_equal(s.metrics.gc_tasks, 1);
    sn_server_gc(&s, 5800); /* down for 600 ms > 500 */
    assert_null(sn_task_peer_get(b, "down"));
    assert_non_null(sn_task_peer_get(b, "up"));
    assert_int_equal(s.metrics.gc_peers, 2);
    sn_server_gc(&s, 7000); /* b idle 2 s → dropped with its clients */
    assert_int_equal(sn_registry_count(&s.reg), 0);
    assert_int_equal(s.metrics.gc_tasks, 2);
    sn_registry_cleanup(&s.reg);
    sn_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_refs_and_pieces),
        cmocka_unit_test(test_tls_settings),
        cmocka_unit_test(test_gc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
