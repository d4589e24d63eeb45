/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_proto: taskID vectors (spec §3.1), taskURL filtering, piece size (§3.2),
 * piece count / payload / wrapped length and framing (§4.2), range strings (§1), HTTP Range
 * headers, percent-decoding, Damselfly's auto piece size; then 100k random/mutated inputs per
 * parser (fixed seed) checking that nothing crashes and that successful results keep their
 * invariants. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "df_err.h"
#include "df_proto.h"

#define MIB (UINT64_C(1) << 20)

/* ---- taskID / taskURL ------------------------------------------------------------------- */

static void task_id_spec_vectors(void **state)
{
    (void)state;
    char id[DF_TASKID_LEN + 1];
    const char *url = "http://127.0.0.1:18080/file200m.bin";

    df_proto_task_id(url, NULL, NULL, NULL, id);
    assert_string_equal(id, "77d0df97b4dd58f5877514d3a30828bc874e07c0269ed95d6434a66404087263");
    /* Empty strings are the same as absent. */
    df_proto_task_id(url, "", "", NULL, id);
    assert_string_equal(id, "77d0df97b4dd58f5877514d3a30828bc874e07c0269ed95d6434a66404087263");

    /* Go 1.0: a Range header value joins the hash after sign (spec: 9d8390…2102). */
    df_proto_task_id(url, NULL, NULL, "bytes=0-99", id);
    assert_string_equal(id, "9d839037935c0ee16cf25547e46dd101fe28e897b73151ae4718211b4ea22102");

    /* sign = md5 when given, and it wins over identifier. */
    df_proto_task_id(url, "d41d8cd98f00b204e9800998ecf8427e", "myid", NULL, id);
    assert_string_equal(id, "467d6661e881839822ee3cc47e97ee0057bf29898b2090f204188a59fbe89ae2");
    /* identifier when md5 is empty. */
    df_proto_task_id(url, "", "myid", NULL, id);
    assert_string_equal(id, "f0bbd018523c61acad8ef647602e30c48440a9b576b7f0ab9b55a4636d262b5c");
    df_proto_task_id(url, "d41d8cd98f00b204e9800998ecf8427e", NULL, "bytes=0-99", id);
    assert_string_equal(id, "752aa98e72e44268978e69a29ed307556e3d38d436b594009a6172f61ac43052");
    assert_int_equal(strlen(id), DF_TASKID_LEN);
}

static void task_id_salt_bytes(void **state)
{
    (void)state;
    static const unsigned char want[32] = {
        0x3e, 0x49, 0x24, 0x70, 0x67, 0x2d, 0x7e, 0x41, 0x53, 0x7e, 0x73, 0x50, 0x27, 0x72, 0x71, 0x75,
        0x5f, 0x60, 0x4f, 0x68, 0x26, 0x6c, 0x7a, 0x23, 0x39, 0x5d, 0x22, 0x3d, 0x3b, 0x6e, 0x45, 0x25};
    assert_int_equal(strlen(DF_TASKID_SALT), 32);
    assert_memory_equal(DF_TASKID_SALT, want, 32);
}

static void expect_task_url(const char *url, const char *filter, const char *want)
{
    char *got = df_proto_task_url(url, filter);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void task_url_filtering(void **state)
{
    (void)state;
    expect_task_url("http://a/b?x=1&Signature=abc&y=2", "Signature", "http://a/b?x=1&y=2");
    expect_task_url("http://a/b?Expires=1&Signature=2", "Signature&Expires", "http://a/b");
    expect_task_url("http://a/b?a=1&b=2", "a", "http://a/b?b=2");
    expect_task_url("http://a/b?a=1&b=2", "b", "http://a/b?a=1");
    expect_task_url("http://a/b?a=1&b=2&a=3", "a", "http://a/b?b=2");
    /* No filter, no query: unchanged. */
    expect_task_url("http://a/b?x=1&y=2", NULL, "http://a/b?x=1&y=2");
    expect_task_url("http://a/b?x=1&y=2", "", "http://a/b?x=1&y=2");
    expect_task_url("http://a/b", "x", "http://a/b");
    /* Names are compared whole and case-sensitively; a name is the text before the first '='. */
    expect_task_url("http://a/b?xy=1&x=2", "x", "http://a/b?xy=1");
    expect_task_url("http://a/b?flag&x=1", "flag", "http://a/b?x=1");
    expect_task_url("http://a/b?x=&x=1=2&y", "x", "http://a/b?y");
    expect_task_url("http://a/b?Signature=1", "signature", "http://a/b?Signature=1");
    /* Only the first '?' splits; values may contain '?' and '='. */
    expect_task_url("http://a/b?u=http://c?d=1&a=2", "a", "http://a/b?u=http://c?d=1");
    expect_task_url("http://a/b?u=http://c?d=1&a=2", "d", "http://a/b?u=http://c?d=1&a=2");
    /* Empty names in the filter match nothing; empty parameters are kept. */
    expect_task_url("http://a/b?x=1&&y=2", "z&&", "http://a/b?x=1&&y=2");
    expect_task_url("http://[::1]:8080/f?Expires=9&OSSAccessKeyId=k&Signature=s&v=1",
                    "Expires&Signature&OSSAccessKeyId", "http://[::1]:8080/f?v=1");
}

/* ---- piece size / count / framing -------------------------------------------------------- */

static void piece_size_rule(void **state)
{
    (void)state;
    assert_int_equal(df_proto_piece_size(-1), 4 * MIB);
    assert_int_equal(df_proto_piece_size(0), 4 * MIB);
    assert_int_equal(df_proto_piece_size(1), 4 * MIB);
    assert_int_equal(df_proto_piece_size(100 * MIB), 4 * MIB);
    assert_int_equal(df_proto_piece_size(200 * MIB), 4 * MIB);
    assert_int_equal(df_proto_piece_size(200 * MIB + 1), 4 * MIB);
    assert_int_equal(df_proto_piece_size(250 * MIB), 4 * MIB);
    assert_int_equal(df_proto_piece_size(300 * MIB - 1), 4 * MIB);
    assert_int_equal(df_proto_piece_size(300 * MIB), 5 * MIB);
    assert_int_equal(df_proto_piece_size(1024 * MIB), 12 * MIB);
    assert_int_equal(df_proto_piece_size(1299 * MIB), 14 * MIB);
    assert_int_equal(df_proto_piece_size(1300 * MIB), 15 * MIB);
    assert_int_equal(df_proto_piece_size(10240 * MIB), 15 * MIB);
    assert_int_equal(df_proto_piece_size(INT64_MAX), 15 * MIB);
}

/* Damselfly's default (--piece-size auto): 1 MiB up to 1 GiB, then length/1024 (integer
 * division) rounded up to a MiB, at most 15 MiB; unknown length → 4 MiB. */
static void piece_size_auto_rule(void **state)
{
    (void)state;
    const int64_t GIB = INT64_C(1) << 30;
    assert_int_equal(df_proto_piece_size_auto(-1), 4 * MIB);
    assert_int_equal(df_proto_piece_size_auto(-2), 4 * MIB);
    assert_int_equal(df_proto_piece_size_auto(INT64_MIN), 4 * MIB);
    assert_int_equal(df_proto_piece_size_auto(0), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(1), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(9 * MIB), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(512 * MIB), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(GIB - 1), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(GIB), 1 * MIB);
    /* (GiB + 1) / 1024 truncates to exactly 1 MiB: still 1 MiB up to GiB + 1023 */
    assert_int_equal(df_proto_piece_size_auto(GIB + 1), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(GIB + 1023), 1 * MIB);
    assert_int_equal(df_proto_piece_size_auto(GIB + 1024), 2 * MIB);
    assert_int_equal(df_proto_piece_size_auto(GIB + GIB / 2), 2 * MIB);
    assert_int_equal(df_proto_piece_size_auto(2 * GIB), 2 * MIB);
    assert_int_equal(df_proto_piece_size_auto(2 * GIB + 1024), 3 * MIB);
    assert_int_equal(df_proto_piece_size_auto(10 * GIB), 10 * MIB);
    assert_int_equal(df_proto_piece_size_auto(15 * GIB - 1024), 15 * MIB);
    assert_int_equal(df_proto_piece_size_auto(15 * GIB), 15 * MIB);
    assert_int_equal(df_proto_piece_size_auto(15 * GIB + 1024), 15 * MIB); /* capped */
    assert_int_equal(df_proto_piece_size_auto(100 * GIB), 15 * MIB);
    assert_int_equal(df_proto_piece_size_auto(INT64_MAX - 1), 15 * MIB);
    assert_int_equal(df_proto_piece_size_auto(INT64_MAX), 15 * MIB);
    assert_int_equal(DF_PIECE_SIZE_MAX, 15 * MIB);

    /* Against a naive model over random lengths (fixed seed): whole MiBs in [1, 15] MiB,
     * monotone, and at most 1025 pieces while the cap does not bind. */
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t len = (int64_t)(x % (uint64_t)(20 * GIB));
        uint32_t p = df_proto_piece_size_auto(len);
        uint64_t want_mib = ((uint64_t)len / 1024 + MIB - 1) / MIB;
        want_mib = want_mib < 1 ? 1 : want_mib > 15 ? 15 : want_mib;
        if (p != want_mib * MIB)
            fail_msg("auto(%" PRId64 ") = %u, want %" PRIu64 " MiB", len, p, want_mib);
        if (df_proto_piece_size_auto(len + 1) < p)
            fail_msg("auto not monotone at %" PRId64, len);
        if (len <= 15 * GIB + 1023 && df_proto_piece_count(len, p) > 1025)
            fail_msg("auto(%" PRId64 ") = %u: %u pieces", len, p, df_proto_piece_count(len, p));
    }
}

static void piece_count_payload_wrapped(void **state)
{
    (void)state;
    const uint32_t P = 4 * MIB;
    const int64_t L = 200 * MIB;
    assert_int_equal(df_proto_piece_count(L, P), 51);
    assert_int_equal(df_proto_piece_payload(L, P, 0), 4194299);
    assert_int_equal(df_proto_piece_payload(L, P, 49), 4194299);
    assert_int_equal(df_proto_piece_payload(L, P, 50), 250);
    assert_int_equal(df_proto_piece_payload(L, P, 51), 0);
    assert_int_equal(df_proto_piece_payload(L, P, UINT32_MAX), 0);
    assert_int_equal(df_proto_wrapped_length(L, P), 209715455);

    /* Sum of payloads == L; wrapped == L + 5 * count. */
    uint64_t sum = 0;
    for (uint32_t n = 0; n < 51; n++)
        sum += df_proto_piece_payload(L, P, n);
    assert_int_equal(sum, (uint64_t)L);

    /* An empty file still has one piece: header + tail. */
    assert_int_equal(df_proto_piece_count(0, P), 1);
    assert_int_equal(df_proto_piece_payload(0, P, 0), 0);
    assert_int_equal(df_proto_wrapped_length(0, P), 5);
    /* Negative (unknown) lengths behave like 0. */
    assert_int_equal(df_proto_piece_count(-1, P), 1);
    assert_int_equal(df_proto_piece_payload(-1, P, 0), 0);
    assert_int_equal(df_proto_wrapped_length(-1, P), 5);
    /* Not a piece size (<= the 5-byte wrapper): no pieces rather than a division by zero. */
    assert_int_equal(df_proto_piece_count(100, 5), 0);
    assert_int_equal(df_proto_piece_payload(100, 0, 0), 0);

    /* Exact multiples of the payload size. */
    assert_int_equal(df_proto_piece_count(4194299, P), 1);
    assert_int_equal(df_proto_piece_count(4194300, P), 2);
    assert_int_equal(df_proto_piece_payload(4194300, P, 1), 1);
    assert_int_equal(df_proto_wrapped_length(4194300, P), 4194300 + 10);
    assert_int_equal(df_proto_piece_count(1, P), 1);
    assert_int_equal(df_proto_piece_payload(1, P, 0), 1);

    /* 1 GiB with its own piece size (12 MiB). */
    uint32_t p12 = df_proto_piece_size(1024 * MIB);
    assert_int_equal(df_proto_piece_count(1024 * MIB, p12), 86); /* ceil(1073741824/12582907) */
    assert_int_equal(df_proto_piece_payload(1024 * MIB, p12, 85),
                     1073741824ULL - 85ULL * 12582907ULL);
}

static void frame_header_examples(void **state)
{
    (void)state;
    unsigned char h[4];
    df_proto_frame_header(4194299, 4 * MIB, h);
    assert_memory_equal(h, "\x04\x3F\xFF\xFB", 4);
    assert_int_equal(df_proto_frame_payload_len(h), 4194299);

    df_proto_frame_header(250, 4 * MIB, h);
    assert_memory_equal(h, "\x04\x00\x00\xFA", 4);
    assert_int_equal(df_proto_frame_payload_len(h), 250);

    df_proto_frame_header(0, 4 * MIB, h);
    assert_memory_equal(h, "\x04\x00\x00\x00", 4);
    assert_int_equal(df_proto_frame_payload_len(h), 0);

    df_proto_frame_header(15 * MIB - 5, 15 * MIB, h);
    assert_memory_equal(h, "\x0F\xEF\xFF\xFB", 4);
    assert_int_equal(df_proto_frame_payload_len(h), 15 * MIB - 5);
}

/* ---- range strings ----------------------------------------------------------------------- */

static void range_string_parse(void **state)
{
    (void)state;
    uint64_t a = 7, b = 7;
    assert_int_equal(df_proto_parse_range("0-4194303", &a, &b), 0);
    assert_int_equal(a, 0);
    assert_int_equal(b, 4194303);
    assert_int_equal(df_proto_parse_range("5-5", &a, &b), 0);
    assert_int_equal(a, 5);
    assert_int_equal(b, 5);
    assert_int_equal(df_proto_parse_range("18446744073709551615-18446744073709551615", &a, &b), 0);
    assert_int_equal(a, UINT64_MAX);

    static const char *bad[] = {"",   "-",    "1-",   "-1",  "a-b", "1-2x", " 1-2", "1-2 ",
                                "+1-2", "1--2", "5-4", "1-2-3", "0x1-2",
                                "18446744073709551616-18446744073709551617", "1-99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a = b = 42;
        assert_int_equal(df_proto_parse_range(bad[i], &a, &b), -EINVAL);
        assert_int_equal(a, 42);
        assert_int_equal(b, 42);
    }
}

static void range_string_format_and_piece(void **state)
{
    (void)state;
    char buf[48];
    df_proto_format_range(0, 4 * MIB, buf, sizeof(buf));
    assert_string_equal(buf, "0-4194303");
    df_proto_format_range(3, 4 * MIB, buf, sizeof(buf));
    assert_string_equal(buf, "12582912-16777215");
    df_proto_format_range(UINT32_MAX, 15 * MIB, buf, sizeof(buf));
    assert_string_equal(buf, "67553994394828800-67553994410557439");

    assert_int_equal(df_proto_range_piece("12582912-16777215", 4 * MIB), 3);
    assert_int_equal(df_proto_range_piece("12582912-16777215", 0), 3);
    assert_int_equal(df_proto_range_piece("0-4194303", 4 * MIB), 0);
    assert_int_equal(df_proto_range_piece("67553994394828800-67553994410557439", 15 * MIB),
                     UINT32_MAX);
    /* Not a P window, or not aligned on P. */
    assert_int_equal(df_proto_range_piece("0-4194302", 4 * MIB), -EINVAL);
    assert_int_equal(df_proto_range_piece("1-4194304", 4 * MIB), -EINVAL);
    assert_int_equal(df_proto_range_piece("0-4194303", 5 * MIB), -EINVAL);
    /* Without a piece size: start / width (integer division), as Dragonfly does. */
    assert_int_equal(df_proto_range_piece("1-4194304", 0), 0);
    assert_int_equal(df_proto_range_piece("10-14", 0), 2);
    /* Width overflow and junk. */
    assert_int_equal(df_proto_range_piece("0-18446744073709551615", 0), -EINVAL);
    assert_int_equal(df_proto_range_piece("junk", 4 * MIB), -EINVAL);
    assert_int_equal(df_proto_range_piece("9-3", 0), -EINVAL);

    /* Round trip for every piece of a 1 GiB task. */
    uint32_t p = df_proto_piece_size(1024 * MIB);
    for (uint32_t n = 0; n < df_proto_piece_count(1024 * MIB, p); n++) {
        df_proto_format_range(n, p, buf, sizeof(buf));
        assert_int_equal(df_proto_range_piece(buf, p), n);
    }
}

/* ---- HTTP Range -------------------------------------------------------------------------- */

static void expect_http_range(const char *hdr, uint64_t total, int rc, uint64_t s, uint64_t e)
{
    uint64_t a = 12345, b = 12345;
    int got = df_proto_parse_http_range(hdr, total, &a, &b);
    if (got != rc)
        fail_msg("'%s' total %" PRIu64 ": rc %d, want %d", hdr ? hdr : "(null)", total, got, rc);
    if (rc == 0) {
        assert_int_equal(a, s);
        assert_int_equal(b, e);
    }
}

static void http_range_parse(void **state)
{
    (void)state;
    expect_http_range("bytes=0-99", 1000, 0, 0, 99);
    expect_http_range("bytes=999-999", 1000, 0, 999, 999);
    expect_http_range("BYTES=1-2", 1000, 0, 1, 2);
    expect_http_range("bytes=4194304-8388607", UINT64_C(209715455), 0, 4194304, 8388607);
    /* Open ranges and end clipping. */
    expect_http_range("bytes=500-", 1000, 0, 500, 999);
    expect_http_range("bytes=0-", 1000, 0, 0, 999);
    expect_http_range("bytes=0-99999999999", 1000, 0, 0, 999);
    expect_http_range("bytes=209715200-209719295", 209715455, 0, 209715200, 209715454);
    /* Suffix ranges. */
    expect_http_range("bytes=-100", 1000, 0, 900, 999);
    expect_http_range("bytes=-1000", 1000, 0, 0, 999);
    expect_http_range("bytes=-2000", 1000, 0, 0, 999);
    expect_http_range("bytes=-1", 1, 0, 0, 0);
    expect_http_range("bytes=-0", 1000, DF_ERANGE, 0, 0);
    /* Not satisfiable. */
    expect_http_range("bytes=1000-", 1000, DF_ERANGE, 0, 0);
    expect_http_range("bytes=1000-2000", 1000, DF_ERANGE, 0, 0);
    expect_http_range("bytes=0-", 0, DF_ERANGE, 0, 0);
    expect_http_range("bytes=-5", 0, DF_ERANGE, 0, 0);
    expect_http_range("bytes=18446744073709551615-", 1000, DF_ERANGE, 0, 0);
    /* Unparsable, multiple ranges, overflow. */
    static const char *bad[] = {"bytes=0-1,5-6", "bytes=0-1, 5-6", "bytes=0-1,", "bytes=5-4",
                                "bytes=-", "bytes=", "bytes", "bits=0-1", "0-1", "bytes=a-b",
                                "bytes=1-2x", "bytes=--1", "bytes=+1-2", "bytes=1-+2",
                                "bytes=18446744073709551616-", "bytes=-18446744073709551616",
                                "bytes=0-18446744073709551616", "bytes=0-1-2", "bytes 0-1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_http_range(bad[i], 1000, -EINVAL, 0, 0);
    expect_http_range(NULL, 1000, -EINVAL, 0, 0);
    /* Absurd but representable: clipped. */
    expect_http_range("bytes=0-18446744073709551615", UINT64_MAX, 0, 0, UINT64_MAX - 1);
    expect_http_range("bytes=-18446744073709551615", 10, 0, 0, 9);
}

/* ---- url decode -------------------------------------------------------------------------- */

static void expect_decode(const char *in, int rc, const char *want)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", in);
    int got = df_proto_url_decode(buf);
    if (got != rc)
        fail_msg("'%s': rc %d, want %d", in, got, rc);
    if (rc == 0)
        assert_string_equal(buf, want);
}

static void url_decode_cases(void **state)
{
    (void)state;
    expect_decode("a%3Ab", 0, "a:b");
    expect_decode("%2f%2F", 0, "//");
    expect_decode("a+b", 0, "a+b");
    expect_decode("100%25", 0, "100%");
    expect_decode("%25%32%35", 0, "%25");
    expect_decode("", 0, "");
    expect_decode("plain", 0, "plain");
    expect_decode("%e4%b8%ad", 0, "\xe4\xb8\xad");
    expect_decode("%", -EINVAL, NULL);
    expect_decode("abc%4", -EINVAL, NULL);
    expect_decode("%zz", -EINVAL, NULL);
    expect_decode("%4g", -EINVAL, NULL);
    expect_decode("a%00b", -EINVAL, NULL);
}

/* ---- fuzz-style robustness --------------------------------------------------------------- */

#define FUZZ_ROUNDS 100000

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: fixed seed per test, so failures reproduce. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static const char fuzz_alphabet[] = "0123456789-=,&?%bytesBYTES aAfFzZ+\t#/:;\x7f\xff";

/* Fills buf (cap >= 2) with either random alphabet text or a mutated seed. */
static void fuzz_input(char *buf, size_t cap, const char *const *seeds, size_t nseeds)
{
    size_t len;
    if (rnd() % 4 == 0) {
        len = (size_t)(rnd() % (cap - 1));
        for (size_t i = 0; i < len; i++)
            buf[i] = fuzz_alphabet[rnd() % (sizeof(fuzz_alphabet) - 1)];
    } else {
        snprintf(buf, cap, "%s", seeds[rnd() % nseeds]);
        len = strlen(buf);
        unsigned muts = 1 + (unsigned)(rnd() % 4);
        for (unsigned m = 0; m < muts; m++) {
            size_t pos = len ? (size_t)(rnd() % (len + 1)) : 0;
            char c = fuzz_alphabet[rnd() % (sizeof(fuzz_alphabet) - 1)];
            switch (rnd() % 4) {
            case 0: /* replace */
                if (pos < len)
                    buf[pos] = c;
                break;
            case 1: /* insert */
                if (len + 1 < cap) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = c;
                    len++;
                }
                break;
            case 2: /* delete */
                if (pos < len) {
                    memmove(buf + pos, buf + pos + 1, len - pos - 1);
                    len--;
                }
                break;
            default: /* insert a long digit run: overflow paths */
                for (unsigned k = 0; k < 20 && len + 1 < cap; k++) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = (char)('0' + rnd() % 10);
                    len++;
                }
                break;
            }
        }
    }
    buf[len] = '\0';
}

static void fuzz_http_range(void **state)
{
    (void)state;
    static const char *const seeds[] = {"bytes=0-99", "bytes=500-", "bytes=-100", "bytes=0-1,2-3",
                                        "bytes=18446744073709551615-", "bytes=4194304-8388607"};
    rng_state = 0x5eed0001;
    char buf[96];
    unsigned ok = 0, erange = 0, einval = 0;
    for (int i = 0; i < FUZZ_ROUNDS; i++) {
        fuzz_input(buf, sizeof(buf), seeds, sizeof(seeds) / sizeof(seeds[0]));
        uint64_t total = rnd() % 3 == 0 ? rnd() : rnd() % 2000;
        uint64_t s = 0, e = 0;
        int rc = df_proto_parse_http_range(buf, total, &s, &e);
        if (rc == 0) {
            if (!(s <= e && e < total))
                fail_msg("'%s' total %" PRIu64 " -> %" PRIu64 "-%" PRIu64, buf, total, s, e);
            ok++;
        } else if (rc == DF_ERANGE) {
            erange++;
        } else {
            assert_int_equal(rc, -EINVAL);
            einval++;
        }
    }
    /* The generator must reach every outcome, or the fuzz proves little. */
    assert_true(ok > 1000 && erange > 100 && einval > 1000);
}

static void fuzz_range_string(void **state)
{
    (void)state;
    static const char *const seeds[] = {"0-4194303", "12582912-16777215", "5-5",
                                        "18446744073709551615-18446744073709551615"};
    rng_state = 0x5eed0002;
    char buf[96], again[64];
    unsigned ok = 0;
    for (int i = 0; i < FUZZ_ROUNDS; i++) {
        fuzz_input(buf, sizeof(buf), seeds, sizeof(seeds) / sizeof(seeds[0]));
        uint64_t s = 0, e = 0;
        int rc = df_proto_parse_range(buf, &s, &e);
        uint32_t p = (uint32_t)(rnd() % 3 == 0 ? 0 : (4 + rnd() % 12) * MIB);
        int64_t n = df_proto_range_piece(buf, p);
        if (rc != 0) {
            assert_int_equal(rc, -EINVAL);
            assert_int_equal(n, -EINVAL);
            continue;
        }
        ok++;
        assert_true(s <= e);
        /* Canonical re-format parses back to the same bounds. */
        snprintf(again, sizeof(again), "%" PRIu64 "-%" PRIu64, s, e);
        uint64_t s2, e2;
        assert_int_equal(df_proto_parse_range(again, &s2, &e2), 0);
        assert_true(s2 == s && e2 == e);
        if (n >= 0 && p)
            assert_true((uint64_t)n * p == s && e - s + 1 == p);
    }
    assert_true(ok > 1000);
}

/* Reference decoder: returns -1 on error, else the decoded length. */
static long naive_decode(const char *in, char *out)
{
    size_t o = 0;
    for (size_t i = 0; in[i]; i++) {
        if (in[i] != '%') {
            out[o++] = in[i];
            continue;
        }
        unsigned v;
        char hx[3] = {in[i + 1], in[i + 1] ? in[i + 2] : 0, 0};
        if (!isxdigit((unsigned char)hx[0]) || !isxdigit((unsigned char)hx[1]))
            return -1;
        sscanf(hx, "%2x", &v);
        if (v == 0)
            return -1;
        out[o++] = (char)v;
        i += 2;
    }
    out[o] = '\0';
    return (long)o;
}

static void fuzz_url_decode(void **state)
{
    (void)state;
    static const char *const seeds[] = {"a%3Ab", "%2f%2F%25", "100%25", "%e4%b8%ad", "x%00y"};
    rng_state = 0x5eed0003;
    char buf[96], ref[96];
    unsigned ok = 0;
    for (int i = 0; i < FUZZ_ROUNDS; i++) {
        fuzz_input(buf, sizeof(buf), seeds, sizeof(seeds) / sizeof(seeds[0]));
        long want = naive_decode(buf, ref);
        int rc = df_proto_url_decode(buf);
        if (want < 0) {
            assert_int_equal(rc, -EINVAL);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(strlen(buf), (size_t)want);
            assert_string_equal(buf, ref);
            ok++;
        }
    }
    assert_true(ok > 1000);
}

static void fuzz_task_url(void **state)
{
    (void)state;
    static const char *const seeds[] = {"http://a/b?x=1&Signature=abc&y=2", "http://a/b?a&&b=",
                                        "http://h:1/p?Expires=1&=&x", "http://a/b"};
    static const char *const filters[] = {"Signature", "Signature&Expires", "x&&", "", "a", "&"};
    rng_state = 0x5eed0004;
    char buf[96];
    for (int i = 0; i < FUZZ_ROUNDS; i++) {
        fuzz_input(buf, sizeof(buf), seeds, sizeof(seeds) / sizeof(seeds[0]));
        const char *f = filters[rnd() % (sizeof(filters) / sizeof(filters[0]))];
        char *out = df_proto_task_url(buf, f);
        assert_non_null(out);
        assert_true(strlen(out) <= strlen(buf));
        /* The part before the first '?' is never touched. */
        const char *q = strchr(buf, '?');
        size_t base = q ? (size_t)(q - buf) : strlen(buf);
        assert_memory_equal(out, buf, base);
        /* Filtering is idempotent. */
        char *again = df_proto_task_url(out, f);
        assert_string_equal(again, out);
        free(again);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_id_spec_vectors),
        cmocka_unit_test(task_id_salt_bytes),
        cmocka_unit_test(task_url_filtering),
        cmocka_unit_test(piece_size_rule),
        cmocka_unit_test(piece_size_auto_rule),
        cmocka_unit_test(piece_count_payload_wrapped),
        cmocka_unit_test(frame_header_examples),
        cmocka_unit_test(range_string_parse),
        cmocka_unit_test(range_string_format_and_piece),
        cmocka_unit_test(http_range_parse),
        cmocka_unit_test(url_decode_cases),
        cmocka_unit_test(fuzz_http_range),
        cmocka_unit_test(fuzz_range_string),
        cmocka_unit_test(fuzz_url_decode),
        cmocka_unit_test(fuzz_task_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
