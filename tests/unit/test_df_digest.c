/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_digest: known MD5 / SHA-256 vectors, streaming in random chunk sizes equals
 * one-shot, reset and reuse, hex encoding and the constant-time hex compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "df_digest.h"

static void known_vectors(void **state)
{
    (void)state;
    char h[DF_DIGEST_HEX_MAX];
    df_md5_hex("", 0, h);
    assert_string_equal(h, "d41d8cd98f00b204e9800998ecf8427e");
    df_md5_hex("abc", 3, h);
    assert_string_equal(h, "900150983cd24fb0d6963f7d28e17f72");
    df_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    df_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(strlen(h), DF_SHA256_HEX_LEN);

    /* One million 'a' (FIPS 180-2 / RFC 1321 test suite). */
    char *m = malloc(1000000);
    assert_non_null(m);
    memset(m, 'a', 1000000);
    df_sha256_hex(m, 1000000, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    df_md5_hex(m, 1000000, h);
    assert_string_equal(h, "7707d6ae4e027c70eea2a935c2296f21");
    assert_int_equal(strlen(h), DF_MD5_HEX_LEN);
    free(m);
}

static void streaming_equals_oneshot(void **state)
{
    (void)state;
    enum { N = 300000 };
    unsigned char *buf = malloc(N);
    assert_non_null(buf);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    static const enum df_digest_alg algs[] = {DF_DIGEST_MD5, DF_DIGEST_SHA256};
    for (size_t a = 0; a < 2; a++) {
        char one[DF_DIGEST_HEX_MAX], str[DF_DIGEST_HEX_MAX];
        if (algs[a] == DF_DIGEST_MD5)
            df_md5_hex(buf, N, one);
        else
            df_sha256_hex(buf, N, one);
        struct df_digest *d = df_digest_new(algs[a]);
        for (int round = 0; round < 3; round++) { /* reset + reuse gives the same answer */
            size_t off = 0;
            while (off < N) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                size_t n = x % 70000;
                if (n > N - off)
                    n = N - off;
                df_digest_update(d, buf + off, n); /* n may be 0 */
                off += n;
            }
            df_digest_final_hex(d, str);
            assert_string_equal(str, one);
            df_digest_reset(d);
        }
        /* Reset discards anything fed before it. */
        df_digest_update(d, "junk", 4);
        df_digest_reset(d);
        df_digest_update(d, buf, N);
        df_digest_final_hex(d, str);
        assert_string_equal(str, one);
        df_digest_free(d);
    }
    df_digest_free(NULL);
    free(buf);
}

static void hex_helpers(void **state)
{
    (void)state;
    char out[16];
    df_hex_encode((const unsigned char *)"\x00\x7f\xab\xff", 4, out);
    assert_string_equal(out, "007fabff");
    df_hex_encode((const unsigned char *)"", 0, out);
    assert_string_equal(out, "");

    const char *a = "d41d8cd98f00b204e9800998ecf8427e";
    assert_int_equal(df_digest_hex_eq(a, "d41d8cd98f00b204e9800998ecf8427e"), 1);
    assert_int_equal(df_digest_hex_eq(a, "D41D8CD98F00B204E9800998ECF8427E"), 1);
    assert_int_equal(df_digest_hex_eq(a, "d41d8cd98f00b204e9800998ecf8427f"), 0);
    assert_int_equal(df_digest_hex_eq(a, "e41d8cd98f00b204e9800998ecf8427e"), 0);
    assert_int_equal(df_digest_hex_eq(a, "d41d8cd98f00b204e9800998ecf8427"), 0);
    assert_int_equal(df_digest_hex_eq(a, "d41d8cd98f00b204e9800998ecf8427e0"), 0);
    assert_int_equal(df_digest_hex_eq(a, NULL), 0);
    assert_int_equal(df_digest_hex_eq(NULL, a), 0);
    assert_int_equal(df_digest_hex_eq(NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_vectors),
        cmocka_unit_test(streaming_equals_oneshot),
        cmocka_unit_test(hex_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
