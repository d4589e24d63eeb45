/* SPDX-License-Identifier: Apache-2.0 */
/* sn_limit: per-address rate of new origin downloads (over simulated time), address keys, the
 * bounded address table, the metadata budget rule; and the registry's byte accounting
 * (sn_task_mem_bytes / sn_registry_account) it relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sn_limit.h"
#include "sn_task.h"

static void test_addr_key(void **state)
{
    (void)state;
    char k[64];
    sn_limit_addr_key("192.0.2.7", k, sizeof(k));
    assert_string_equal(k, "192.0.2.7");
    sn_limit_addr_key("::ffff:192.0.2.7", k, sizeof(k));
    assert_string_equal(k, "192.0.2.7"); /* the same host either way */
    sn_limit_addr_key("2001:db8:1:2:aaaa::1", k, sizeof(k));
    assert_string_equal(k, "2001:db8:1:2::/64");
    char k2[64];
    sn_limit_addr_key("2001:db8:1:2:ffff:ffff:ffff:ffff", k2, sizeof(k2));
    assert_string_equal(k, k2); /* one /64, one bucket */
    sn_limit_addr_key("2001:db8:1:3::1", k2, sizeof(k2));
    assert_string_not_equal(k, k2);
    sn_limit_addr_key("fe80::1%eth0", k, sizeof(k));
    assert_string_equal(k, "fe80:0:0:0::/64");
    sn_limit_addr_key("not an address", k, sizeof(k));
    assert_string_equal(k, "not an address");
    char small[8];
    sn_limit_addr_key("a-very-long-name", small, sizeof(small));
    assert_string_equal(small, "a-very-");
}

static void test_rate(void **state)
{
    (void)state;
    struct sn_limit *l = sn_limit_new(6); /* 6 per minute: one every 10 s, burst 6 */
    int64_t t = 1000000;
    for (int i = 0; i < 6; i++)
        assert_int_equal(sn_limit_take(l, "198.18.0.1", t), 0);
    int64_t wait = sn_limit_take(l, "198.18.0.1", t);
    assert_true(wait > 9000 && wait <= 10000);
    /* refused attempts take nothing: still refused just before the refill, allowed after */
    assert_true(sn_limit_take(l, "198.18.0.1", t + 9900) > 0);
    assert_int_equal(sn_limit_take(l, "198.18.0.1", t + 10000), 0);
    assert_true(sn_limit_take(l, "198.18.0.1", t + 10000) > 0);
    /* another address has its own bucket */
    assert_int_equal(sn_limit_take(l, "198.18.0.2", t), 0);
    /* after a minute idle the bucket is full again, but never above the burst */
    for (int i = 0; i < 6; i++)
        assert_int_equal(sn_limit_take(l, "198.18.0.1", t + 600000), 0);
    assert_true(sn_limit_take(l, "198.18.0.1", t + 600000) > 0);
    sn_limit_free(l);

    l = sn_limit_new(0); /* unlimited */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(sn_limit_take(l, "198.18.0.1", t), 0);
    assert_int_equal(sn_limit_addrs(l), 0);
    sn_limit_free(l);
}

static void test_table_bounded(void **state)
{
    (void)state;
    struct sn_limit *l = sn_limit_new(1);
    char a[64];
    int64_t t = 1000;
    /* every address spends its one token: none refills within the loop */
    for (int i = 0; i < SN_LIMIT_MAX_ADDRS + 500; i++) {
        snprintf(a, sizeof(a), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_int_equal(sn_limit_take(l, a, t + i), 0);
        assert_true(sn_limit_addrs(l) <= SN_LIMIT_MAX_ADDRS);
    }
    /* the newest addresses are remembered (still limited) */
    assert_true(sn_limit_take(l, a, t + SN_LIMIT_MAX_ADDRS + 500) > 0);
    /* a minute later every bucket refilled: one pass clears them all for a newcomer */
    assert_int_equal(sn_limit_take(l, "172.16.0.1", t + 200000), 0);
    assert_int_equal(sn_limit_addrs(l), 1);
    sn_limit_free(l);
}

static void test_budget_rule(void **state)
{
    (void)state;
    assert_false(sn_limit_over_budget(900, 100, 1000, 1));
    assert_true(sn_limit_over_budget(901, 100, 1000, 1));
    assert_true(sn_limit_over_budget(1000, 0, 1000, 1));
    assert_true(sn_limit_over_budget(5000, 10, 1000, 1)); /* already over: no wrap-around */
    assert_false(sn_limit_over_budget(5000, 10, 1000, 0)); /* refreshing a client: allowed */
    assert_false(sn_limit_over_budget(UINT64_MAX - 1, 10, 0, 1)); /* 0 = unlimited */
}

static const char *ID1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *ID2 = "2222222222222222222222222222222222222222222222222222222222222222";

static void test_accounting(void **state)
{
    (void)state;
    struct sn_registry r;
    sn_registry_init(&r);
    assert_int_equal(r.mem_bytes, 0);
    struct sn_task *a = sn_registry_add(&r, ID1, "http://h/a", "http://h/a", "", "", NULL);
    uint64_t one = r.mem_bytes;
    assert_true(one >= sizeof(struct sn_task) + strlen("http://h/a") * 2);
    assert_int_equal(one, a->mem_charged);

    /* a long identifier and headers are counted */
    static char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    struct sn_task *b = sn_registry_add(&r, ID2, "http://h/b", "http://h/b", "", big, NULL);
    assert_true(r.mem_bytes >= one + sizeof(big));
    char hdr[9000];
    snprintf(hdr, sizeof(hdr), "X-Pad: %s%s", big, big);
    char *hdrs[] = {hdr};
    sn_task_set_headers(b, hdrs, 1);
    uint64_t before = r.mem_bytes;
    sn_registry_account(&r, b);
    assert_true(r.mem_bytes >= before + strlen(hdr));

    /* clients: each adds its strings and scheduling state; removing gives it back */
    before = r.mem_bytes;
    struct sn_peer *p = sn_task_peer_upsert(a, "cid-1");
    sn_peer_set_str(&p->path, big);
    sn_registry_account(&r, a);
    uint64_t with_peer = r.mem_bytes;
    assert_true(with_peer >= before + sizeof(struct sn_peer) + sizeof(big));
    sn_task_peer_remove(a, p);
    sn_registry_account(&r, a);
    /* the client's own bytes are back; the task's slot table keeps its capacity */
    assert_true(r.mem_bytes <= before + 128);

    /* piece digests */
    before = r.mem_bytes;
    sn_task_set_geometry(a, 100ll << 20, 1u << 20);
    sn_registry_account(&r, a);
    assert_true(r.mem_bytes >= before + 100 * sizeof(struct sn_piece_digest));

    /* removing tasks returns everything */
    sn_registry_remove(&r, b);
    sn_registry_remove(&r, a);
    assert_int_equal(r.mem_bytes, 0);
    sn_registry_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_key),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_table_bounded),
        cmocka_unit_test(test_budget_rule),
        cmocka_unit_test(test_accounting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
