/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for sn_auth's pure layer: which registrations carry credentials, the cache key
 * (one per task, URL and header set), allow/deny lifetimes, which answers are cached, and
 * eviction when full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sn_auth.h"

static void credentials(void **state)
{
    (void)state;
    char *none[] = {"Accept: */*", "Range: bytes=0-1"};
    char *basic[] = {"Accept: */*", "authorization: Basic YTpi"};
    char *cookie[] = {"Cookie: session=1"};
    assert_false(sn_auth_has_credentials("http://h/f", none, 2));
    assert_true(sn_auth_has_credentials("http://h/f", basic, 2));
    assert_true(sn_auth_has_credentials("http://h/f", cookie, 1));
    assert_true(sn_auth_has_credentials("http://u:p@h/f", none, 0));
    assert_false(sn_auth_has_credentials("http://h/a@b", NULL, 0));
}

static void keys(void **state)
{
    (void)state;
    char *a[] = {"Authorization: Basic YTpi"};
    char *b[] = {"Authorization: Basic YTpj"};
    char k1[DF_DIGEST_HEX_MAX], k2[DF_DIGEST_HEX_MAX], k3[DF_DIGEST_HEX_MAX], k4[DF_DIGEST_HEX_MAX];
    sn_auth_key("t1", "http://h/f", a, 1, k1);
    sn_auth_key("t1", "http://h/f", b, 1, k2);
    sn_auth_key("t2", "http://h/f", a, 1, k3);
    sn_auth_key("t1", "http://h/f", a, 1, k4);
    assert_string_not_equal(k1, k2); /* other credentials */
    assert_string_not_equal(k1, k3); /* other task */
    assert_string_equal(k1, k4);
    assert_int_equal(strlen(k1), 64);
    assert_null(strstr(k1, "YTpi"));
}

static void cache_ttls(void **state)
{
    (void)state;
    struct sn_auth_cache *c = sn_auth_cache_new(8, 60000, SN_AUTH_DENY_TTL_MS);
    int st = 0;
    assert_int_equal(sn_auth_cache_get(c, "k", 0, &st), 0);
    assert_int_equal(sn_auth_cache_put(c, "ok", 1000, 200), 1);
    assert_int_equal(sn_auth_cache_put(c, "no", 1000, 401), 1);
    assert_int_equal(sn_auth_cache_put(c, "err", 1000, 503), 0); /* not decisive */
    assert_int_equal(sn_auth_cache_put(c, "gone", 1000, 0), 0);   /* unreachable */
    assert_int_equal(sn_auth_cache_get(c, "ok", 60999, &st), 1);
    assert_int_equal(st, 200);
    assert_int_equal(sn_auth_cache_get(c, "ok", 61000, &st), 0);
    assert_int_equal(sn_auth_cache_get(c, "no", 5999, &st), 1);
    assert_int_equal(st, 401);
    assert_int_equal(sn_auth_cache_get(c, "no", 6000, &st), 0);
    assert_int_equal(sn_auth_cache_get(c, "err", 1001, &st), 0);
    assert_true(sn_auth_is_allowed(200));
    assert_true(sn_auth_is_allowed(206));
    assert_false(sn_auth_is_allowed(302));
    assert_false(sn_auth_is_allowed(403));
    assert_false(sn_auth_is_allowed(0));
    sn_auth_cache_free(c);
}

static void cache_eviction(void **state)
{
    (void)state;
    struct sn_auth_cache *c = sn_auth_cache_new(3, 60000, 5000);
    int st;
    assert_int_equal(sn_auth_cache_put(c, "a", 0, 200), 1);    /* expires 60000 */
    assert_int_equal(sn_auth_cache_put(c, "b", 0, 403), 1);    /* expires 5000 */
    assert_int_equal(sn_auth_cache_put(c, "c", 100, 200), 1);  /* expires 60100 */
    assert_int_equal(sn_auth_cache_put(c, "d", 200, 200), 1);  /* full: b (soonest) goes */
    assert_int_equal(sn_auth_cache_size(c), 3);
    assert_int_equal(sn_auth_cache_get(c, "b", 300, &st), 0);
    assert_int_equal(sn_auth_cache_get(c, "a", 300, &st), 1);
    assert_int_equal(sn_auth_cache_put(c, "e", 70000, 200), 1); /* all expired: all dropped */
    assert_int_equal(sn_auth_cache_size(c), 1);
    assert_int_equal(sn_auth_cache_put(c, "e", 70001, 401), 1); /* an update, not a new entry */
    assert_int_equal(sn_auth_cache_get(c, "e", 70002, &st), 1);
    assert_int_equal(st, 401);
    sn_auth_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(credentials),
        cmocka_unit_test(keys),
        cmocka_unit_test(cache_ttls),
        cmocka_unit_test(cache_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
