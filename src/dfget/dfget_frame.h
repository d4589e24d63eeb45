/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming unwrapper for one wrapped piece (spec §4.2: 4-byte big-endian header
 * `payload | pieceSize << 4`, payload, tail byte 0x7F), fed in arbitrary chunks as they arrive
 * from the network. Pure: no I/O, no allocation. One struct per piece download.
 *
 * Because the header is at the start and the tail at the end, the payload part of any chunk is
 * one contiguous slice of it, so feed() just reports that slice (no copy).
 * Example (P = 4 MiB, payload 3): bytes 04 00 00 03 'a' 'b' 'c' 7f fed as [04 00] [00 03 'a']
 * ['b' 'c' 7f] → slices (0,0) ("a" at payload offset 0) ("bc" at payload offset 1), finish → 0. */
#ifndef DFGET_FRAME_H
#define DFGET_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct dfget_frame {
    uint32_t piece_size;     /* P, bytes incl. the 5-byte wrapper */
    int64_t expect_payload;  /* payload length the task promises, -1 = unknown (<= P-5) */
    uint64_t pos;            /* wrapped bytes consumed so far */
    unsigned char hdr[4];    /* header bytes collected (pos < 4: partial) */
    uint32_t payload_len;    /* from the header; valid once pos >= 4 */
    int is_done;             /* tail byte seen */
};

void dfget_frame_init(struct dfget_frame *f, uint32_t piece_size, int64_t expect_payload);

/* Consumes `len` bytes. On success returns 0 and sets *pay_off and *pay_len to the payload slice
 * inside `data` (pay_len may be 0) and *payload_pos to that slice's offset within the piece's
 * payload. Returns DF_EPROTO when the header disagrees with the piece size or the expected
 * payload length, when the tail byte is not 0x7F, or when bytes follow the tail; the frame is
 * then unusable. */
int dfget_frame_feed(struct dfget_frame *f, const unsigned char *data, size_t len,
                     size_t *pay_off, size_t *pay_len, uint64_t *payload_pos)
    __attribute__((warn_unused_result));

/* 0 when exactly one whole frame was consumed, DF_EPROTO when it is truncated. */
int dfget_frame_finish(const struct dfget_frame *f) __attribute__((warn_unused_result));

/* Total wrapped length of the frame once the header is known (payload + 5), else -1. */
int64_t dfget_frame_wrapped_len(const struct dfget_frame *f);

#endif
