/* SPDX-License-Identifier: Apache-2.0 */
/* Writer thread: payloads written at their piece offsets in random piece order and random chunk
 * sizes, with aborted (re-fetched) pieces, must produce the right file and the right whole-file
 * MD5/SHA-256 (incremental hashing of the verified prefix); stream mode; missing pieces fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "df_digest.h"
#include "df_err.h"
#include "dfget_writer.h"

#define PS 4096u            /* small piece size: payload 4091 */
#define PAY (PS - 5)

struct ctx {
    struct event_base *base;
    int commits, commit_errs, finishes, drains;
    int finish_err;
    char md5[DF_DIGEST_HEX_MAX], sha[DF_DIGEST_HEX_MAX];
    uint64_t last_token;
};

static void on_commit(int err, uint64_t token, void *arg)
{
    struct ctx *c = arg;
    c->commits++;
    c->commit_errs += err != 0;
    c->last_token = token;
}

static void on_finish(int err, const char *md5, const char *sha, void *arg)
{
    struct ctx *c = arg;
    c->finishes++;
    c->finish_err = err;
    snprintf(c->md5, sizeof(c->md5), "%s", md5);
    snprintf(c->sha, sizeof(c->sha), "%s", sha);
    event_base_loopbreak(c->base);
}

static void on_drain(void *arg) { ((struct ctx *)arg)->drains++; }

static int tmpfile_fd(void)
{
    char path[] = "/tmp/test_dfget_writer_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Writes payload [from, to) of `piece` in random chunks. */
static void write_chunks(struct dfget_writer *w, const unsigned char *data, uint32_t piece,
                         uint32_t from, uint32_t to)
{
    uint32_t pos = from;
    while (pos < to) {
        uint32_t n = 1 + (uint32_t)rand() % 1500;
        if (n > to - pos)
            n = to - pos;
        void *buf = malloc(n);
        memcpy(buf, data + (uint64_t)piece * PAY + pos, n);
        dfget_writer_write(w, piece, pos, buf, n);
        pos += n;
    }
}

static void run_case(unsigned seed, size_t len, int want_md5, int want_sha)
{
    struct ctx c = {0};
    c.base = event_base_new();
    int fd = tmpfile_fd();
    char err[DF_ERR_LEN];
    struct dfget_writer *w = dfget_writer_new(c.base, fd, on_drain, &c, err);
    assert_non_null(w);
    srand(seed);
    unsigned char *data = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)rand();
    uint32_t n = (uint32_t)((len + PAY - 1) / PAY);
    if (n == 0)
        n = 1;
    uint32_t *order = malloc(n * sizeof(*order));
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i > 1; i--) { /* mostly shuffled, sometimes in order */
        if (seed % 3 == 0)
            break;
        uint32_t j = (uint32_t)rand() % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    dfget_writer_reset(w, PS, want_md5, 0, (int64_t)len);
    int is_late = seed % 2 == 0; /* sha enabled after half of the pieces were committed */
    if (want_sha && !is_late)
        dfget_writer_want(w, want_md5, 1); /* enabled late, as dfget does after the 1st 601 */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t p = order[k];
        if (want_sha && is_late && k == n / 2)
            dfget_writer_want(w, want_md5, 1); /* as on a 600 with only an md5: re-hash */
        uint32_t plen = (uint32_t)(len - (uint64_t)p * PAY < PAY ? len - (uint64_t)p * PAY : PAY);
        if (rand() % 4 == 0 && plen > 1) { /* a failed partial download first, then a retry */
            write_chunks(w, data, p, 0, plen / 2);
            dfget_writer_abort(w, p);
        }
        write_chunks(w, data, p, 0, plen);
        dfget_writer_commit(w, p, plen, on_commit, ((uint64_t)7 << 32) | p, &c);
    }
    dfget_writer_finish(w, n, on_finish, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.finishes, 1);
    assert_int_equal(c.finish_err, 0);
    assert_int_equal(c.commits, (int)n);
    assert_int_equal(c.commit_errs, 0);
    assert_int_equal((uint32_t)(c.last_token >> 32), 7);
    char want[DF_DIGEST_HEX_MAX];
    if (want_md5) {
        df_md5_hex(data, len, want);
        assert_string_equal(c.md5, want);
    } else {
        assert_string_equal(c.md5, "");
    }
    if (want_sha) {
        df_sha256_hex(data, len, want);
        assert_string_equal(c.sha, want);
    } else {
        assert_string_equal(c.sha, "");
    }
    unsigned char *back = malloc(len + 1);
    assert_int_equal(pread(fd, back, len + 1, 0), (ssize_t)len);
    assert_memory_equal(back, data, len);
    assert_int_equal(dfget_writer_queued(w), 0);
    dfget_writer_free(w);
    close(fd);
    event_base_free(c.base);
    free(back);
    free(order);
    free(data);
}

static void test_random_orders(void **state)
{
    const size_t lens[] = {1, PAY - 1, PAY, PAY + 1, 10 * PAY + 17, 64 * PAY};
    for (unsigned seed = 1; seed <= 12; seed++)
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
            run_case(seed, lens[i], seed % 2, seed % 4 != 1);
}

static void test_stream_mode(void **state)
{
    struct ctx c = {0};
    c.base = event_base_new();
    int fd = tmpfile_fd();
    char err[DF_ERR_LEN];
    struct dfget_writer *w = dfget_writer_new(c.base, fd, on_drain, &c, err);
    size_t len = 3 * 1000 * 1000 + 7;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7);
    /* A P2P attempt that is abandoned, then back-source from scratch (reset). */
    dfget_writer_reset(w, PS, 0, 1, 0);
    write_chunks(w, data, 3, 0, 100);
    dfget_writer_reset(w, 0, 1, 0, 0);
    size_t pos = 0;
    while (pos < len) {
        size_t n = 1 + (size_t)rand() % 300000;
        if (n > len - pos)
            n = len - pos;
        void *b = malloc(n);
        memcpy(b, data + pos, n);
        dfget_writer_write(w, 0, pos, b, n);
        pos += n;
    }
    assert_true(dfget_writer_queued(w) > 0);
    dfget_writer_commit(w, 0, len, on_commit, 0, &c);
    dfget_writer_finish(w, 1, on_finish, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.finish_err, 0);
    char want[DF_DIGEST_HEX_MAX];
    df_md5_hex(data, len, want);
    assert_string_equal(c.md5, want);
    assert_string_equal(c.sha, "");
    assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)len);
    assert_int_equal(dfget_writer_written(w), len + 100);
    dfget_writer_free(w);
    close(fd);
    event_base_free(c.base);
    free(data);
}

static void test_missing_piece(void **state)
{
    struct ctx c = {0};
    c.base = event_base_new();
    int fd = tmpfile_fd();
    char err[DF_ERR_LEN];
    struct dfget_writer *w = dfget_writer_new(c.base, fd, NULL, NULL, err);
    unsigned char data[3 * PAY];
    memset(data, 1, sizeof(data));
    dfget_writer_reset(w, PS, 1, 1, 0);
    write_chunks(w, data, 0, 0, PAY);
    dfget_writer_commit(w, 0, PAY, on_commit, 0, &c);
    write_chunks(w, data, 2, 0, PAY);
    dfget_writer_commit(w, 2, PAY, on_commit, 0, &c);
    dfget_writer_finish(w, 3, on_finish, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.finish_err, DF_EPROTO);
    assert_int_equal(c.commits, 2);
    dfget_writer_free(w);
    close(fd);
    event_base_free(c.base);
}

static void test_write_error(void **state)
{
    struct ctx c = {0};
    c.base = event_base_new();
    char err[DF_ERR_LEN];
    int fds[2];
    assert_int_equal(pipe(fds), 0); /* pwrite on a pipe fails with ESPIPE */
    struct dfget_writer *w = dfget_writer_new(c.base, fds[1], NULL, NULL, err);
    dfget_writer_reset(w, PS, 1, 0, 0);
    void *b = calloc(1, 10);
    dfget_writer_write(w, 0, 0, b, 10);
    dfget_writer_commit(w, 0, 10, on_commit, 0, &c);
    dfget_writer_finish(w, 1, on_finish, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.commit_errs, 1);
    assert_true(c.finish_err < 0);
    dfget_writer_free(w);
    close(fds[0]);
    close(fds[1]);
    event_base_free(c.base);
}

/* Copy mode: the mirror gets exactly the main file's bytes, reset() truncates it as well. */
static void test_mirror(void **state)
{
    struct ctx c = {0};
    c.base = event_base_new();
    int fd = tmpfile_fd();
    char mpath[] = "/tmp/test_dfget_writer_mirror_XXXXXX";
    int mfd = mkstemp(mpath);
    assert_true(mfd >= 0);
    char err[DF_ERR_LEN];
    struct dfget_writer *w = dfget_writer_new(c.base, fd, NULL, NULL, err);
    dfget_writer_set_mirror(w, mfd, mpath); /* the writer owns mfd now */
    size_t len = 5 * PAY + 3;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 13 + 1);
    unsigned char junk[3 * PAY];
    memset(junk, 0xee, sizeof(junk));
    dfget_writer_reset(w, PS, 0, 0, 0); /* a first attempt with a longer layout … */
    write_chunks(w, junk, 2, 0, PAY);
    dfget_writer_reset(w, PS, 1, 1, (int64_t)len); /* … abandoned (migration) */
    for (uint32_t p = 6; p-- > 0;) {
        uint32_t plen = p == 5 ? 3 : PAY;
        write_chunks(w, data, p, 0, plen);
        dfget_writer_commit(w, p, plen, on_commit, p, &c);
    }
    dfget_writer_finish(w, 6, on_finish, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.finish_err, 0);
    dfget_writer_free(w);
    int rfd = open(mpath, O_RDONLY);
    assert_true(rfd >= 0);
    unsigned char *back = malloc(len + 1);
    assert_int_equal(pread(rfd, back, len + 1, 0), (ssize_t)len);
    assert_memory_equal(back, data, len);
    assert_int_equal(pread(fd, back, len + 1, 0), (ssize_t)len);
    assert_memory_equal(back, data, len);
    close(rfd);
    close(fd);
    unlink(mpath);
    event_base_free(c.base);
    free(back);
    free(data);
}

/* A failing mirror never fails the download; its file is removed so nobody serves it. */
static void test_mirror_failure(void **state)
{
    struct ctx c = {0};
    c.base = event_base_new();
    int fd = tmpfile_fd();
    char mpath[] = "/tmp/test_dfget_writer_mirror_XXXXXX";
    int tfd = mkstemp(mpath);
    assert_true(tfd >= 0);
    close(tfd);
    int fds[2];
    assert_int_equal(pipe(fds), 0); /* pwrite on a pipe fails with ESPIPE */
    char err[DF_ERR_LEN];
    struct dfget_writer *w = dfget_writer_new(c.base, fd, NULL, NULL, err);
    dfget_writer_set_mirror(w, fds[1], mpath);
    unsigned char data[2 * PAY];
    memset(data, 7, sizeof(data));
    dfget_writer_reset(w, PS, 1, 0, 0);
    for (uint32_t p = 0; p < 2; p++) {
        write_chunks(w, data, p, 0, PAY);
        dfget_writer_commit(w, p, PAY, on_commit, p, &c);
    }
    dfget_writer_finish(w, 2, on_finish, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.finish_err, 0);
    assert_int_equal(c.commit_errs, 0);
    char want[DF_DIGEST_HEX_MAX];
    df_md5_hex(data, sizeof(data), want);
    assert_string_equal(c.md5, want);
    assert_int_equal(access(mpath, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    dfget_writer_free(w);
    close(fds[0]);
    close(fd);
    event_base_free(c.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_orders),
        cmocka_unit_test(test_stream_mode),
        cmocka_unit_test(test_missing_piece),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_mirror),
        cmocka_unit_test(test_mirror_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
