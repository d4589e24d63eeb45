/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode order: weights divided by their GCD expand into repeated entries, the shuffle is a
 * permutation, seed 0 keeps the configured order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dfget_reg.h"

static void test_expand(void **state)
{
    struct dfget_node nodes[3] = {{"a", 8002, 2}, {"b", 8002, 4}, {"c", 8002, 6}};
    size_t *o, n;
    dfget_reg_expand(nodes, 3, 0, &o, &n);
    assert_int_equal(n, 6); /* 1 + 2 + 3 after dividing by gcd 2 */
    const size_t want[] = {0, 1, 1, 2, 2, 2};
    assert_memory_equal(o, want, sizeof(want));
    free(o);
    for (uint64_t seed = 1; seed < 50; seed++) {
        size_t cnt[3] = {0};
        dfget_reg_expand(nodes, 3, seed, &o, &n);
        assert_int_equal(n, 6);
        for (size_t i = 0; i < n; i++)
            cnt[o[i]]++;
        assert_int_equal(cnt[0], 1);
        assert_int_equal(cnt[1], 2);
        assert_int_equal(cnt[2], 3);
        free(o);
    }
    int differs = 0; /* the shuffle really shuffles */
    for (uint64_t seed = 1; seed < 50 && !differs; seed++) {
        dfget_reg_expand(nodes, 3, seed, &o, &n);
        differs = memcmp(o, want, sizeof(want)) != 0;
        free(o);
    }
    assert_true(differs);
}

static void test_expand_edges(void **state)
{
    struct dfget_node one = {"a", 1, 1000};
    size_t *o, n;
    dfget_reg_expand(&one, 1, 42, &o, &n);
    assert_int_equal(n, 1); /* a single node: weight / gcd = 1 */
    free(o);
    struct dfget_node two[2] = {{"a", 1, 1}, {"b", 1, 1000}};
    dfget_reg_expand(two, 2, 0, &o, &n);
    assert_int_equal(n, 1001);
    free(o);
    dfget_reg_expand(NULL, 0, 1, &o, &n);
    assert_int_equal(n, 0);
    free(o);
}

static void test_local_ip_unreachable(void **state)
{
    /* Port 1 on loopback is closed: no node answers. */
    struct dfget_node nd = {"127.0.0.1", 1, 1};
    size_t order = 0, idx = 99;
    char ip[64];
    assert_int_equal(dfget_reg_local_ip(&nd, &order, 1, 200, ip, sizeof(ip), &idx), -113);
    assert_int_equal(idx, 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_expand_edges),
        cmocka_unit_test(test_local_ip_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
