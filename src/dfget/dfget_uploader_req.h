/* SPDX-License-Identifier: Apache-2.0 */
/* Pure planning of one uploader piece request (spec §5.1): from the request's Range (wrapped
 * coordinates), pieceNum and pieceSize headers and the size of the raw service file, decide
 * which raw bytes to send and the 4-byte frame header to put in front of them. No I/O.
 *
 * Example: P = 4 MiB (4194304), piece 2: Range "bytes=8388608-12582911" → raw bytes
 * [8388598, 8388598 + 4194299) of the service file, header 0x043FFFFB, tail 0x7F; body length
 * 4194304. If the service file ends inside the piece, the payload is clipped (last piece). */
#ifndef DFGET_UPLOADER_REQ_H
#define DFGET_UPLOADER_REQ_H

#include <stdint.h>

struct dfget_uploader_plan {
    uint64_t raw_off;          /* offset in the raw service file */
    uint64_t payload_len;      /* raw bytes to send from the file */
    unsigned char head[4];     /* frame header (only when is_wrapped) */
    int is_wrapped;            /* header + payload + 0x7F tail; 0 for cdnSource: source */
    uint64_t body_len;         /* Content-Length of the 206 reply */
    uint64_t range_start;      /* for Content-Range, in the request's coordinates */
    uint64_t range_end;
};

/* range_hdr: "bytes=s-e" (required). piece_num / piece_size: header values or NULL (then derived
 * from the range as dfget does: n = s/(e-s+1), P = e-s+1). is_source: "cdnSource: source".
 * Returns 0; -EINVAL for malformed/incoherent input (answer 400); DF_ERANGE when nothing of the
 * piece is in the file (answer 416). */
int dfget_uploader_plan_piece(const char *range_hdr, const char *piece_num, const char *piece_size,
                              int is_source, uint64_t file_size, struct dfget_uploader_plan *out)
    __attribute__((warn_unused_result));

/* 1 if `name` is acceptable as a taskFileName we will ever register: non-empty, <= 255 bytes,
 * no '/', no NUL/control characters, not "." or "..", not starting with '.'. */
int dfget_uploader_name_ok(const char *name);

#endif
