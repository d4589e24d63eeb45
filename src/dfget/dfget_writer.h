/* SPDX-License-Identifier: Apache-2.0 */
/* The writer: pwrites piece payloads at their offsets into the temp file on one worker thread
 * and computes the whole-file digests (MD5 and/or SHA-256) of the committed prefix, in file
 * order, on a second one (pread from the page cache), so hashing never holds up the writes and
 * runs in parallel with them. Each thread takes its jobs FIFO: a commit runs after all writes
 * of its piece, finish() after everything before it.
 *
 * Layout: piece n's payload byte k lives at file offset n*(piece_size-5) + k. piece_size 0 is
 * "stream mode" (back-source): a single piece 0 whose payload offset is the file offset; its
 * writes arrive in order and are hashed as soon as they are written.
 *
 * Threading: every function here is called on the loop thread; callbacks run on the loop
 * thread. Ownership: write() takes ownership of buf (free()d by the writer). The fd is
 * borrowed and must stay open until dfget_writer_free() returns. */
#ifndef DFGET_WRITER_H
#define DFGET_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"

struct event_base;
struct dfget_writer;

/* err: 0, or the first write error (-ENOSPC, -EIO, …) seen since the last reset. */
typedef void (*dfget_writer_commit_cb)(int err, uint64_t token, void *arg);
/* err: 0; a write error; DF_EPROTO when a piece in [0, npieces) was never committed.
 * md5_hex / sha256_hex are "" for digests not requested. Valid during the call only. */
typedef void (*dfget_writer_finish_cb)(int err, const char *md5_hex, const char *sha256_hex,
                                       void *arg);
/* Called when queued bytes fall to or below the low-water mark after having been above it. */
typedef void (*dfget_writer_drain_cb)(void *arg);

/* Returns NULL with err filled when the threads cannot be created. */
struct dfget_writer *dfget_writer_new(struct event_base *base, int fd, dfget_writer_drain_cb on_drain,
                                      void *drain_arg, char err[DF_ERR_LEN]);
/* Runs the queued jobs to completion (their callbacks still run), joins the thread. NULL ok. */
void dfget_writer_free(struct dfget_writer *w);

/* Starts over: truncates the file to 0, forgets committed pieces, restarts the digests.
 * piece_size 0 = stream mode. prealloc_len > 0: fallocate() that many bytes (ENOSPC becomes the
 * sticky error reported by the next commit/finish; filesystems without fallocate are fine). */
void dfget_writer_reset(struct dfget_writer *w, uint32_t piece_size, int want_md5, int want_sha256,
                        int64_t prealloc_len);
/* Copy mode (the uploader's service file is on another filesystem than the temp file): every
 * later write also goes to mirror_fd at the same offset, and reset() truncates / preallocates
 * it too. Takes ownership of mirror_fd (closed by dfget_writer_free). A failing mirror never
 * fails the download: the writer logs it once, unlinks mirror_path (the uploader then answers
 * 404, so peers report the file gone) and stops mirroring. Call before the first reset(). */
void dfget_writer_set_mirror(struct dfget_writer *w, int mirror_fd, const char *mirror_path);
/* Turns on another whole-file digest later (e.g. once the first piece tasks show which one the
 * supernode will provide). Already hashed data is re-hashed from the file if needed. */
void dfget_writer_want(struct dfget_writer *w, int want_md5, int want_sha256);
/* Queues `len` payload bytes of `piece` at payload offset `payload_pos`. Takes `buf`. */
void dfget_writer_write(struct dfget_writer *w, uint32_t piece, uint64_t payload_pos, void *buf,
                        size_t len);
/* Marks `piece` (payload_len bytes, all written before this call) as verified. cb runs once
 * everything queued so far is on its way to disk (pwrite done), with `token` passed back. */
void dfget_writer_commit(struct dfget_writer *w, uint32_t piece, uint64_t payload_len,
                         dfget_writer_commit_cb cb, uint64_t token, void *arg);
/* The piece's download failed or was cancelled: its written bytes will be overwritten later.
 * (Nothing is hashed before a commit, so this has nothing to undo; kept for the callers.) */
void dfget_writer_abort(struct dfget_writer *w, uint32_t piece);
/* Checks pieces [0, npieces) are committed, completes the digests, fdatasync()s; cb once. */
void dfget_writer_finish(struct dfget_writer *w, uint32_t npieces, dfget_writer_finish_cb cb,
                         void *arg);

/* Payload bytes handed to write() whose pwrite has not completed yet (loop thread). */
size_t dfget_writer_queued(const struct dfget_writer *w);
/* High/low water marks for the caller's back-pressure (defaults 16 MiB / 8 MiB). */
#define DFGET_WRITER_HIGH_WATER (16u << 20)
#define DFGET_WRITER_LOW_WATER (8u << 20)
/* Total bytes pwrite()n since creation (loop thread; for tests and stats). */
uint64_t dfget_writer_written(const struct dfget_writer *w);

#endif
