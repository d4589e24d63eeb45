/* SPDX-License-Identifier: Apache-2.0 */
/* sn_store: .meta round trip and rejection of damaged metas, digest files (round trip, check
 * line catches tampering), the piece scanner used for resume on a real temp file, and (issue 10)
 * links planted at cache paths: never followed, never written through; metas written 0600. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "df_digest.h"
#include "df_proto.h"
#include "df_util.h"
#include "sn_store.h"

static void test_meta_roundtrip(void **state)
{
    (void)state;
    struct sn_meta m, d;
    sn_meta_init(&m);
    memset(m.task_id, 'a', DF_TASKID_LEN);
    sn_peer_set_str(&m.url, "http://o/f?x=1");
    sn_peer_set_str(&m.etag, "\"abc\"");
    sn_peer_set_str(&m.last_modified, "Sat, 28 Nov 2026 07:37:22 GMT");
    m.piece_size = 5u << 20;
    m.piece_total = 61;
    m.http_length = 314572800;
    m.file_length = 314572800 + 61 * 5;
    m.is_finished = 1;
    m.is_success = 1;
    snprintf(m.real_md5, sizeof(m.real_md5), "%s", "0123456789abcdef0123456789abcdef");
    char *s = sn_meta_encode(&m);
    assert_int_equal(sn_meta_decode(s, strlen(s), &d), 0);
    assert_string_equal(d.task_id, m.task_id);
    assert_string_equal(d.url, m.url);
    assert_string_equal(d.etag, m.etag);
    assert_string_equal(d.last_modified, m.last_modified);
    assert_int_equal(d.piece_size, m.piece_size);
    assert_int_equal(d.http_length, m.http_length);
    assert_int_equal(d.file_length, m.file_length);
    assert_int_equal(d.is_finished, 1);
    assert_string_equal(d.real_md5, m.real_md5);
    sn_meta_cleanup(&d);
    free(s);
    sn_meta_cleanup(&m);

    static const char *bad[] = {
        "", "{", "[]", "{\"taskID\":\"short\",\"pieceSize\":4194304}",
        "{\"taskID\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"taskID\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"pieceSize\":12}",
        "{\"taskID\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"pieceSize\":4194304,\"url\":5}",
        "{\"taskID\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"pieceSize\":4194304,\"finish\":\"maybe\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sn_meta_decode(bad[i], strlen(bad[i]), &d), -EINVAL);
}

static void test_digests_roundtrip_and_tamper(void **state)
{
    (void)state;
    struct sn_piece_digest d[3], back[3];
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 16; k++)
            d[i].md5[k] = (unsigned char)(i * 31 + k);
        for (int k = 0; k < 32; k++)
            d[i].sha256[k] = (unsigned char)(i * 7 + k * 3);
        d[i].wrapped_len = i == 2 ? 255 : 4194304;
    }
    memset(back, 0, sizeof(back));
    const char *fmd5 = "00112233445566778899aabbccddeeff";
    const char *fsha = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char *s1 = sn_store_digests_encode(d, 3, fmd5, DF_DIGEST_MD5);
    char *s2 = sn_store_digests_encode(d, 3, fsha, DF_DIGEST_SHA256);
    char h1[65], h2[65];
    assert_int_equal(sn_store_digests_decode(s1, strlen(s1), 3, back, h1, DF_DIGEST_MD5), 0);
    assert_int_equal(sn_store_digests_decode(s2, strlen(s2), 3, back, h2, DF_DIGEST_SHA256), 0);
    assert_memory_equal(back, d, sizeof(d));
    assert_string_equal(h1, fmd5);
    assert_string_equal(h2, fsha);
    /* Dragonfly layout: "md5:len" lines, then the file md5, no trailing newline */
    assert_non_null(strstr(s1, ":4194304\n"));
    assert_int_not_equal(s1[strlen(s1) - 1], '\n');
    /* wrong piece count, tampered digit, truncated */
    assert_int_equal(sn_store_digests_decode(s1, strlen(s1), 2, back, h1, DF_DIGEST_MD5), -EINVAL);
    s1[3] = s1[3] == '0' ? '1' : '0';
    assert_int_equal(sn_store_digests_decode(s1, strlen(s1), 3, back, h1, DF_DIGEST_MD5), -EINVAL);
    assert_int_equal(sn_store_digests_decode(s2, strlen(s2) - 5, 3, back, h2, DF_DIGEST_SHA256),
                     -EINVAL);
    assert_int_equal(sn_store_digests_decode("", 0, 0, back, h2, DF_DIGEST_SHA256), -EINVAL);
    free(s1);
    free(s2);
}

/* Writes pieces [0, upto) of a file of length len correctly framed; returns the fd. */
static int make_cache(const char *path, int64_t len, uint32_t P, uint32_t upto,
                      unsigned char *payload_all)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    for (uint32_t n = 0; n < upto; n++) {
        uint32_t pl = df_proto_piece_payload(len, P, n);
        unsigned char hdr[4], tail = DF_PIECE_TAIL;
        df_proto_frame_header(pl, P, hdr);
        off_t base = (off_t)n * P;
        assert_int_equal(pwrite(fd, hdr, 4, base), 4);
        assert_int_equal(pwrite(fd, payload_all + (size_t)n * (P - 5), pl, base + 4), (ssize_t)pl);
        assert_int_equal(pwrite(fd, &tail, 1, base + 4 + pl), 1);
    }
    return fd;
}

static void test_scan(void **state)
{
    (void)state;
    const uint32_t P = 4u << 20;
    const int64_t len = 2 * (int64_t)(P - 5) + 1000; /* 3 pieces, the last one 1000 bytes */
    unsigned char *data = malloc((size_t)len);
    for (int64_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    char path[] = "/tmp/test_sn_store.XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    close(tfd);
    struct sn_piece_digest d[3];
    struct df_digest *fm = df_digest_new(DF_DIGEST_MD5);

    /* complete file: 3 pieces, file md5 = md5 of the raw data, piece md5 = md5 of wrapped */
    int fd = make_cache(path, len, P, 3, data);
    assert_int_equal(sn_store_scan(fd, P, len, 3, d, fm, NULL), 3);
    char got[65], want[65];
    df_digest_final_hex(fm, got);
    df_md5_hex(data, (size_t)len, want);
    assert_string_equal(got, want);
    unsigned char *wrapped = malloc(P);
    assert_int_equal(pread(fd, wrapped, 1005, 2 * (off_t)P), 1005);
    df_md5_hex(wrapped, 1005, want);
    char hex[65];
    df_hex_encode(d[2].md5, 16, hex);
    assert_string_equal(hex, want);
    assert_int_equal(d[2].wrapped_len, 1005);
    /* max_pieces bounds the scan */
    assert_int_equal(sn_store_scan(fd, P, len, 2, d, NULL, NULL), 2);
    close(fd);

    /* interrupted: piece 1's tail missing → only piece 0 counts */
    fd = make_cache(path, len, P, 1, data);
    unsigned char hdr[4];
    df_proto_frame_header(P - 5, P, hdr);
    assert_int_equal(pwrite(fd, hdr, 4, P), 4);
    assert_int_equal(pwrite(fd, data + (P - 5), 100, P + 4), 100);
    assert_int_equal(sn_store_scan(fd, P, len, 3, d, NULL, NULL), 1);
    /* a header for the wrong piece size is not accepted */
    df_proto_frame_header(P - 5, 5u << 20, hdr);
    assert_int_equal(pwrite(fd, hdr, 4, 0), 4);
    assert_int_equal(sn_store_scan(fd, P, len, 3, d, NULL, NULL), 0);
    close(fd);
    /* empty file */
    fd = open(path, O_RDWR | O_TRUNC);
    assert_int_equal(sn_store_scan(fd, P, len, 3, d, NULL, NULL), 0);
    close(fd);

    /* file helpers */
    assert_int_equal(sn_store_write_file(path, "hello"), 0);
    char *txt;
    size_t tl;
    assert_int_equal(df_read_file(path, 100, &txt, &tl), 0);
    assert_string_equal(txt, "hello");
    free(txt);
    assert_int_equal(df_read_file(path, 3, &txt, &tl), DF_ETOOBIG);
    unlink(path);
    assert_int_equal(df_read_file(path, 100, &txt, &tl), -ENOENT);
    df_digest_free(fm);
    free(wrapped);
    free(data);
}

static char *slurp(const char *path)
{
    char *t = NULL;
    size_t n;
    assert_int_equal(df_read_file(path, 1 << 20, &t, &n), 0);
    return t;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Issue 10: a symlink at a cache file (data, .meta, .tmp) or a FIFO is never followed. */
static void test_links_not_followed(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_sn_store_links.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *outside = df_xasprintf("%s/outside", dir);
    char *data = df_xasprintf("%s/id", dir);
    char *meta = df_xasprintf("%s/id.meta", dir);
    char *tmp = df_xasprintf("%s/id.meta.tmp", dir);
    char *fifo = df_xasprintf("%s/id.md5", dir);
    spit(outside, "precious, not a cache file");

    /* reading: symlink → -ELOOP, FIFO → -EINVAL (and no blocking), absent → -ENOENT */
    assert_int_equal(symlink(outside, meta), 0);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(sn_store_read_file(meta, 1 << 20, &text, &len), -ELOOP);
    assert_null(text);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(sn_store_read_file(fifo, 1 << 20, &text, &len), -EINVAL);
    assert_int_equal(sn_store_read_file(data, 1 << 20, &text, &len), -ENOENT);
    spit(data, "abc");
    assert_int_equal(sn_store_read_file(data, 1 << 20, &text, &len), 0);
    assert_string_equal(text, "abc");
    assert_int_equal(len, 3);
    free(text);
    assert_int_equal(sn_store_read_file(data, 2, &text, &len), DF_ETOOBIG);
    unlink(data);

    /* writing: a symlink at <path>.tmp and at <path> are replaced, the target untouched */
    assert_int_equal(symlink(outside, tmp), 0);
    assert_int_equal(sn_store_write_file(meta, "{\"new\":1}"), 0);
    char *got = slurp(outside);
    assert_string_equal(got, "precious, not a cache file");
    free(got);
    struct stat st;
    assert_int_equal(lstat(meta, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(lstat(tmp, &st), -1); /* renamed away */
    got = slurp(meta);
    assert_string_equal(got, "{\"new\":1}");
    free(got);
    /* a stale regular .tmp is no obstacle either */
    spit(tmp, "stale");
    assert_int_equal(sn_store_write_file(meta, "{\"new\":2}"), 0);
    got = slurp(meta);
    assert_string_equal(got, "{\"new\":2}");
    free(got);

    /* data file: a symlink is replaced by a new empty regular file, target intact */
    assert_int_equal(symlink(outside, data), 0);
    int fd = sn_store_open_data(data);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);
    assert_int_equal(pwrite(fd, "xyz", 3, 0), 3);
    close(fd);
    got = slurp(outside);
    assert_string_equal(got, "precious, not a cache file");
    free(got);
    assert_int_equal(lstat(data, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    /* an existing regular file is opened as is (resume needs its bytes) */
    fd = sn_store_open_data(data);
    assert_true(fd >= 0);
    char buf[4] = "";
    assert_int_equal(pread(fd, buf, 3, 0), 3);
    assert_memory_equal(buf, "xyz", 3);
    close(fd);
    /* a FIFO at the data path: replaced too */
    unlink(data);
    assert_int_equal(mkfifo(data, 0600), 0);
    fd = sn_store_open_data(data);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    close(fd);
    /* a directory cannot be replaced: an error, nothing opened */
    unlink(data);
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(sn_store_open_data(data), -EISDIR);
    rmdir(data);

    unlink(outside);
    unlink(meta);
    unlink(tmp);
    unlink(fifo);
    unlink(data);
    assert_int_equal(rmdir(dir), 0);
    free(outside);
    free(data);
    free(meta);
    free(tmp);
    free(fifo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_roundtrip),
        cmocka_unit_test(test_digests_roundtrip_and_tamper),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_links_not_followed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
