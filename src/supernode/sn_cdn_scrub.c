/* SPDX-License-Identifier: Apache-2.0 */
/* Worker half of the CDN's re-verification (issue 11): before a cached piece is announced
 * again after a restart or a task GC, its wrapped bytes on disk are re-hashed and compared with
 * the digest stored when it was cut. Runs on df_workpool threads, one batch of pieces per job
 * so the loop can announce verified pieces in order while the rest are still being read; the
 * decisions (announce, repair) are the loop's (sn_cdn.c). Touches only the job. */
#include "sn_cdn_job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_proto.h"
#include "df_util.h"

#define SCRUB_BUF (1u << 20)

/* 1 when the wrapped piece n on disk hashes to want. Only the SHA-256 is compared: both stored
 * digests were computed from the same bytes in the same pass, so a SHA-256 match implies an md5
 * match, and hashing md5 too would double the cost of the check. */
static int piece_ok(int fd, uint32_t piece_size, uint32_t wrapped_len, uint32_t n,
                    const struct sn_piece_digest *want, struct df_digest *sha, unsigned char *buf)
{
    off_t base = (off_t)n * piece_size;
    df_digest_reset(sha);
    for (uint32_t off = 0; off < wrapped_len;) {
        size_t len = DF_MIN((size_t)(wrapped_len - off), (size_t)SCRUB_BUF);
        ssize_t r = pread(fd, buf, len, base + (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0; /* unreadable or short: bad, the repair rewrites it */
        df_digest_update(sha, buf, (size_t)r);
        off += (uint32_t)r;
    }
    char got[DF_DIGEST_HEX_MAX], exp[DF_DIGEST_HEX_MAX];
    df_digest_final_hex(sha, got);
    df_hex_encode(want->sha256, 32, exp);
    return df_digest_hex_eq(got, exp);
}

void sn_cdn_scrub_run(void *arg)
{
    struct sn_cdn_job *j = arg;
    const struct sn_meta *m = &j->meta;
    unsigned char *buf = df_xmalloc(SCRUB_BUF);
    struct df_digest *sha = df_digest_new(DF_DIGEST_SHA256);
    uint64_t done = 0;
    uint32_t n = j->s_from;
    for (; n < j->s_end && (n == j->s_from || done < SN_CDN_SCRUB_BATCH); n++) {
        /* The wrapped length comes from the geometry, not from the digest file. */
        uint32_t wl = df_proto_piece_payload(m->http_length, m->piece_size, n) + DF_PIECE_WRAP;
        j->s_bad[n] = wl != j->pre[n].wrapped_len ||
                      !piece_ok(j->w_fd, m->piece_size, wl, n, &j->pre[n], sha, buf);
        done += wl;
    }
    j->s_to = n;
    df_digest_free(sha);
    free(buf);
}
