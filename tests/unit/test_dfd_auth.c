/* SPDX-License-Identifier: Apache-2.0 */
/* dfd_auth cache (pure part): keys separate credentials, repositories and digests; TTLs for
 * allowed and denied answers on a simulated clock; only decisive statuses are cached; a full
 * cache replaces expired entries first, then the one closest to expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dfd_auth.h"

#define UP "https://reg.example"
#define DG "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_keys(void **state)
{
    (void)state;
    char a[DF_DIGEST_HEX_MAX], b[DF_DIGEST_HEX_MAX];
    dfd_auth_key("Bearer x", UP, "lib/a", DG, a);
    assert_int_equal(strlen(a), 64);
    dfd_auth_key("Bearer x", UP, "lib/a", DG, b);
    assert_string_equal(a, b);
    dfd_auth_key("Bearer y", UP, "lib/a", DG, b);
    assert_string_not_equal(a, b);
    dfd_auth_key("Bearer x", UP, "lib/b", DG, b);
    assert_string_not_equal(a, b);
    dfd_auth_key("Bearer x", "https://other", "lib/a", DG, b);
    assert_string_not_equal(a, b);
    dfd_auth_key("Bearer x", UP, "lib/a", "sha256:ff", b);
    assert_string_not_equal(a, b);
    /* anonymous differs from an empty header; field boundaries are not ambiguous */
    dfd_auth_key(NULL, UP, "lib/a", DG, a);
    dfd_auth_key("", UP, "lib/a", DG, b);
    assert_string_not_equal(a, b);
    dfd_auth_key("ab", "c", "r", DG, a);
    dfd_auth_key("a", "bc", "r", DG, b);
    assert_string_not_equal(a, b);
    /* the credential is not readable from the key */
    dfd_auth_key("Basic c2VjcmV0", UP, "lib/a", DG, a);
    assert_null(strstr(a, "c2VjcmV0"));
}

static void test_ttl_and_statuses(void **state)
{
    (void)state;
    struct dfd_auth_cache *c = dfd_auth_cache_new(8, 60000, 5000);
    char ok[DF_DIGEST_HEX_MAX], no[DF_DIGEST_HEX_MAX], err[DF_DIGEST_HEX_MAX];
    dfd_auth_key("Bearer ok", UP, "a", DG, ok);
    dfd_auth_key(NULL, UP, "a", DG, no);
    dfd_auth_key("Bearer e", UP, "a", DG, err);
    int st = 0;
    const char *www = NULL;
    assert_int_equal(dfd_auth_cache_get(c, ok, 0, &st, &www), 0);
    assert_int_equal(dfd_auth_cache_put(c, ok, 1000, 200, NULL), 1);
    assert_int_equal(dfd_auth_cache_put(c, no, 1000, 401, "Bearer realm=\"r\""), 1);
    assert_int_equal(dfd_auth_cache_put(c, err, 1000, 502, NULL), 0); /* not decisive */
    assert_int_equal(dfd_auth_cache_put(c, err, 1000, 500, NULL), 0);
    assert_int_equal(dfd_auth_cache_size(c), 2);
    assert_int_equal(dfd_auth_cache_get(c, ok, 60999, &st, &www), 1);
    assert_int_equal(st, 200);
    assert_null(www);
    assert_int_equal(dfd_auth_cache_get(c, ok, 61000, &st, &www), 0); /* allowed TTL over */
    assert_int_equal(dfd_auth_cache_get(c, no, 5999, &st, &www), 1);
    assert_int_equal(st, 401);
    assert_string_equal(www, "Bearer realm=\"r\"");
    assert_int_equal(dfd_auth_cache_get(c, no, 6000, &st, &www), 0);  /* deny TTL over */
    assert_int_equal(dfd_auth_cache_get(c, err, 1000, &st, &www), 0);
    /* an answer changes: allowed → denied replaces the entry in place */
    assert_int_equal(dfd_auth_cache_put(c, ok, 2000, 403, NULL), 1);
    assert_int_equal(dfd_auth_cache_get(c, ok, 2001, &st, &www), 1);
    assert_int_equal(st, 403);
    assert_int_equal(dfd_auth_cache_size(c), 2);
    assert_true(dfd_auth_allowed(200));
    assert_true(dfd_auth_allowed(307));
    assert_false(dfd_auth_allowed(401));
    assert_false(dfd_auth_allowed(404));
    assert_false(dfd_auth_allowed(502));
    dfd_auth_cache_free(c);
}

static void test_eviction(void **state)
{
    (void)state;
    struct dfd_auth_cache *c = dfd_auth_cache_new(4, 10000, 1000);
    char k[10][DF_DIGEST_HEX_MAX];
    char cred[16];
    for (int i = 0; i < 10; i++) {
        snprintf(cred, sizeof(cred), "c%d", i);
        dfd_auth_key(cred, UP, "a", DG, k[i]);
    }
    int st;
    /* k0 expires first (denied, 1 s), k1..k3 allowed (10 s) */
    dfd_auth_cache_put(c, k[0], 0, 404, NULL);
    dfd_auth_cache_put(c, k[1], 0, 200, NULL);
    dfd_auth_cache_put(c, k[2], 100, 200, NULL);
    dfd_auth_cache_put(c, k[3], 200, 200, NULL);
    assert_int_equal(dfd_auth_cache_size(c), 4);
    /* at t=2000 k0 is expired: its slot is reused */
    dfd_auth_cache_put(c, k[4], 2000, 200, NULL);
    assert_int_equal(dfd_auth_cache_size(c), 4);
    assert_int_equal(dfd_auth_cache_get(c, k[1], 2000, &st, NULL), 1);
    assert_int_equal(dfd_auth_cache_get(c, k[4], 2000, &st, NULL), 1);
    /* nothing expired: the entry closest to expiry (k1, expires 10000) goes */
    dfd_auth_cache_put(c, k[5], 3000, 200, NULL);
    assert_int_equal(dfd_auth_cache_get(c, k[1], 3000, &st, NULL), 0);
    assert_int_equal(dfd_auth_cache_get(c, k[2], 3000, &st, NULL), 1);
    assert_int_equal(dfd_auth_cache_get(c, k[5], 3000, &st, NULL), 1);
    assert_int_equal(dfd_auth_cache_size(c), 4);
    dfd_auth_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_ttl_and_statuses),
        cmocka_unit_test(test_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
