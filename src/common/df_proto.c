/* SPDX-License-Identifier: Apache-2.0 */
/* Dragonfly 1.x wire arithmetic: taskURL filtering and taskID, piece size / count / framing,
 * "start-end" range strings, single-range HTTP Range headers, percent-decoding.
 * Everything here is pure (no I/O, no global state); only df_proto_task_url allocates.
 * Callers own the policy (which status to answer, which task to look up). */
#include "df_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_digest.h"
#include "df_err.h"
#include "df_util.h"

#define MIB (1024 * 1024)

/* ---- taskURL / taskID (§3.1) ------------------------------------------------------------ */

/* 1 when the `len` bytes at `name` equal one of the '&'-separated names in filter. Empty
 * names in the filter ("a&&b") match nothing, so a filter never drops empty parameters. */
static int filter_has(const char *filter, const char *name, size_t len)
{
    const char *p = filter;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0 && n == len && memcmp(p, name, len) == 0)
            return 1;
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

char *df_proto_task_url(const char *raw_url, const char *filter)
{
    const char *q = strchr(raw_url, '?');
    if (!filter || !*filter || !q)
        return df_xstrdup(raw_url);

    size_t base_len = (size_t)(q - raw_url);
    size_t cap = strlen(raw_url) + 1;
    char *out = df_xmalloc(cap);
    memcpy(out, raw_url, base_len);
    size_t o = base_len;
    int kept = 0;

    /* Walk the '&'-separated parameters after the first '?'; a parameter's name is the text
     * before its first '=' (or the whole parameter). Kept ones are copied in order. */
    const char *p = q + 1;
    for (;;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t nlen = eq ? (size_t)(eq - p) : plen;
        if (!filter_has(filter, p, nlen)) {
            out[o++] = kept ? '&' : '?';
            memcpy(out + o, p, plen);
            o += plen;
            kept++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    out[o] = '\0';
    return out;
}

void df_proto_task_id(const char *task_url, const char *md5, const char *identifier,
                      const char *range_hdr, char out[DF_TASKID_LEN + 1])
{
    static const char salt[] = DF_TASKID_SALT;
    const char *sign = "";
    if (md5 && *md5)
        sign = md5;
    else if (identifier && *identifier)
        sign = identifier;

    struct df_digest *d = df_digest_new(DF_DIGEST_SHA256);
    df_digest_update(d, salt, sizeof(salt) - 1);
    df_digest_update(d, task_url, strlen(task_url));
    df_digest_update(d, sign, strlen(sign));
    if (range_hdr)
        df_digest_update(d, range_hdr, strlen(range_hdr));
    df_digest_update(d, salt, sizeof(salt) - 1);
    char hex[DF_DIGEST_HEX_MAX];
    df_digest_final_hex(d, hex);
    df_digest_free(d);
    memcpy(out, hex, DF_TASKID_LEN);
    out[DF_TASKID_LEN] = '\0';
}

/* ---- piece size, count, framing (§3.2, §4.2) ------------------------------------------- */

uint32_t df_proto_piece_size(int64_t length)
{
    if (length <= 200LL * MIB)
        return DF_PIECE_SIZE_MIN;
    int64_t mib = length / (100LL * MIB) - 2 + 4;
    if (mib > (int64_t)(DF_PIECE_SIZE_MAX / MIB))
        return DF_PIECE_SIZE_MAX;
    return (uint32_t)mib * MIB;
}

uint32_t df_proto_piece_size_auto(int64_t length)
{
    if (length < 0)
        return DF_PIECE_SIZE_MIN;
    int64_t mib = (length / 1024 + MIB - 1) / MIB;
    if (mib < 1)
        mib = 1;
    if (mib > (int64_t)(DF_PIECE_SIZE_MAX / MIB))
        return DF_PIECE_SIZE_MAX;
    return (uint32_t)mib * MIB;
}

uint32_t df_proto_piece_count(int64_t length, uint32_t piece_size)
{
    if (piece_size <= DF_PIECE_WRAP)
        return 0; /* not a piece size; callers validate sizes read from the wire */
    if (length <= 0)
        return 1;
    uint64_t pay = piece_size - DF_PIECE_WRAP;
    uint64_t n = ((uint64_t)length + pay - 1) / pay;
    /* Saturates only for lengths beyond 16 PiB with real (>= 4 MiB) piece sizes. */
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

uint32_t df_proto_piece_payload(int64_t length, uint32_t piece_size, uint32_t n)
{
    if (length < 0)
        length = 0; /* unknown length: like an empty file, never a huge unsigned value */
    if (n >= df_proto_piece_count(length, piece_size))
        return 0;
    uint64_t pay = piece_size - DF_PIECE_WRAP;
    uint64_t off = (uint64_t)n * pay;
    uint64_t left = (uint64_t)length - off; /* n < count implies off < length (or both 0) */
    return (uint32_t)(left < pay ? left : pay);
}

int64_t df_proto_wrapped_length(int64_t length, uint32_t piece_size)
{
    if (length < 0)
        length = 0;
    return length + (int64_t)DF_PIECE_WRAP * df_proto_piece_count(length, piece_size);
}

void df_proto_frame_header(uint32_t payload_len, uint32_t piece_size, unsigned char out[4])
{
    uint32_t h = payload_len | (piece_size << 4);
    out[0] = (unsigned char)(h >> 24);
    out[1] = (unsigned char)(h >> 16);
    out[2] = (unsigned char)(h >> 8);
    out[3] = (unsigned char)h;
}

uint32_t df_proto_frame_payload_len(const unsigned char hdr[4])
{
    uint32_t h = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    return h & 0x00FFFFFFu;
}

/* ---- range strings (§1) ------------------------------------------------------------------ */

/* Reads one or more decimal digits at *pp into *out, advancing *pp. -EINVAL when there is no
 * digit or the value overflows uint64. */
static int read_u64(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
        p++;
    }
    *pp = p;
    *out = v;
    return 0;
}

int df_proto_parse_range(const char *s, uint64_t *start, uint64_t *end)
{
    uint64_t a, b;
    const char *p = s;
    if (!s || read_u64(&p, &a) < 0 || *p++ != '-' || read_u64(&p, &b) < 0 || *p != '\0' || b < a)
        return -EINVAL;
    *start = a;
    *end = b;
    return 0;
}

void df_proto_format_range(uint32_t n, uint32_t piece_size, char *out, size_t len)
{
    uint64_t start = (uint64_t)n * piece_size;
    uint64_t end = start + piece_size - 1;
    if (piece_size == 0)
        end = start;
    snprintf(out, len, "%" PRIu64 "-%" PRIu64, start, end);
}

int64_t df_proto_range_piece(const char *s, uint32_t piece_size)
{
    uint64_t a, b;
    if (df_proto_parse_range(s, &a, &b) < 0)
        return -EINVAL;
    uint64_t width = b - a + 1;
    if (width == 0) /* 0-UINT64_MAX: the width itself overflows */
        return -EINVAL;
    if (piece_size && (width != piece_size || a % piece_size != 0))
        return -EINVAL;
    uint64_t n = a / width;
    return n > INT64_MAX ? -EINVAL : (int64_t)n;
}

/* ---- HTTP Range header ------------------------------------------------------------------- */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int df_proto_parse_http_range(const char *hdr, uint64_t total, uint64_t *start, uint64_t *end)
{
    if (!hdr)
        return -EINVAL;
    const char *p = skip_ows(hdr);
    if (strncasecmp(p, "bytes", 5) != 0)
        return -EINVAL;
    p = skip_ows(p + 5);
    if (*p++ != '=')
        return -EINVAL;
    p = skip_ows(p);

    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0;
    if (*p != '-') {
        if (read_u64(&p, &a) < 0)
            return -EINVAL;
        has_a = 1;
    }
    if (*p++ != '-')
        return -EINVAL;
    p = skip_ows(p);
    if (*p >= '0' && *p <= '9') {
        if (read_u64(&p, &b) < 0)
            return -EINVAL;
        has_b = 1;
    }
    p = skip_ows(p);
    /* Anything left, a ',' above all, is junk or a second range: we serve exactly one. */
    if (*p != '\0' || (!has_a && !has_b) || (has_a && has_b && b < a))
        return -EINVAL;

    if (!has_a) { /* suffix "-n": the last n bytes */
        if (b == 0 || total == 0)
            return DF_ERANGE;
        *start = b >= total ? 0 : total - b;
        *end = total - 1;
        return 0;
    }
    if (a >= total)
        return DF_ERANGE;
    *start = a;
    *end = (!has_b || b >= total) ? total - 1 : b;
    return 0;
}

/* ---- percent-decoding -------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int df_proto_url_decode(char *s)
{
    /* Validate first so that s is untouched on error. */
    for (const char *p = s; *p; p++) {
        if (*p != '%')
            continue;
        int hi = hexval(p[1]);
        int lo = hi < 0 ? -1 : hexval(p[2]);
        if (lo < 0 || (hi == 0 && lo == 0))
            return -EINVAL;
        p += 2;
    }
    char *w = s;
    for (const char *p = s; *p; p++) {
        if (*p == '%') {
            *w++ = (char)(hexval(p[1]) << 4 | hexval(p[2]));
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return 0;
}
