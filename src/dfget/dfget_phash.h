/* SPDX-License-Identifier: Apache-2.0 */
/* Per-piece digests off the loop thread. One worker thread (df_workpool, FIFO) hashes the wrapped
 * bytes of every piece in flight: the 4-byte frame header, the payload chunks in order, the tail
 * byte. Each payload chunk is handed back on the loop thread once it is hashed (so the caller
 * passes it on to the writer in order) and the final hex digest comes back after the piece's
 * last chunk, so the loop only moves bytes and the verdict stays with the caller.
 *
 * A stream (one piece) lives until its final digest was delivered or it was cancelled and its
 * queued jobs ran; a cancelled stream delivers nothing more and frees the chunks it still holds.
 *
 * Threading: all functions and callbacks on the loop thread. Ownership: chunk buffers passed to
 * dfget_phash_data() belong to the stream until on_chunk hands them back (or it frees them). */
#ifndef DFGET_PHASH_H
#define DFGET_PHASH_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"

struct event_base;
struct dfget_phash;
struct dfget_phash_stream;

/* A hashed payload chunk, in the order it was queued; takes ownership of buf. */
typedef void (*dfget_phash_chunk_cb)(void *buf, size_t len, uint64_t payload_pos, void *arg);
/* The stream's digest (lowercase hex). The stream is gone after this returns. */
typedef void (*dfget_phash_final_cb)(const char *hex, void *arg);

/* NULL with err filled when the thread cannot be created. */
struct dfget_phash *dfget_phash_new(struct event_base *base, char err[DF_ERR_LEN]);
/* Runs what is queued (cancelled streams deliver nothing), joins the thread. NULL ok. */
void dfget_phash_free(struct dfget_phash *h);

struct dfget_phash_stream *dfget_phash_open(struct dfget_phash *h, enum df_digest_alg alg,
                                            dfget_phash_chunk_cb on_chunk,
                                            dfget_phash_final_cb on_final, void *arg);
/* Bytes that are hashed but not handed back (frame header, tail): copied. */
void dfget_phash_meta(struct dfget_phash_stream *s, const void *data, size_t len);
/* A payload chunk: hashed, then given to on_chunk. Takes buf. */
void dfget_phash_data(struct dfget_phash_stream *s, void *buf, size_t len, uint64_t payload_pos);
/* No more data: on_final follows after the last on_chunk. */
void dfget_phash_close(struct dfget_phash_stream *s);
/* No callback of this stream runs any more; its resources go when its queued jobs ran. Allowed
 * any time until on_final was delivered (after that the stream no longer exists). */
void dfget_phash_cancel(struct dfget_phash_stream *s);

/* Payload bytes queued and not yet handed back (for the caller's back-pressure). */
size_t dfget_phash_queued(const struct dfget_phash *h);

#endif
