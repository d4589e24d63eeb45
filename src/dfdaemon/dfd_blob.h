/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon's blob store and fetch coordinator (<localrepo>/sha256/<hex>).
 *
 * A blob is either complete (a verified file <hex>, served with sendfile) or being fetched
 * (<hex>.part, growing). One fetch per digest at a time: every client asking for a digest that
 * is being fetched attaches a reader to the same fetch and streams from the file as it grows,
 * so a layer is fetched once per host however many clients ask at once.
 *
 * The fetch writes and hashes off the loop (df_workpool, one ordered thread). Readers may send
 * every written byte except the last one of the blob; that byte is released only after the
 * SHA-256 of the whole file matched the digest. On a mismatch the .part file is deleted and
 * every reader fails (the proxy then aborts the client connections): a client never receives
 * a complete wrong layer. Memory per fetch: at most DFD_BLOB_QUEUE_HIGH bytes queued for the
 * writer (the upstream transfer is paused above it).
 *
 * A fetch goes straight to the upstream registry (libcurl), or, with a swarm set, through the
 * supernode with dfget's engine (dfd_swarm; falls back to the upstream when that fails).
 *
 * Provenance: a stored blob records where its bytes came from — the upstream (registry base
 * URL) and repository of the fetch — in <hex>.src next to it ("<upstream>\t<repo>" lines).
 * A reader is served from the store, or joins a running fetch, only when the blob came from
 * the reader's upstream; the caller has checked with that upstream that the client may read
 * the blob in its repository (dfd_auth). A blob from another upstream is not served (the
 * caller fetches it from its own upstream instead), and a blob without a record is fetched
 * again. So a registry that a client picks can never unlock bytes that came from another.
 *
 * Threading: loop thread only (the writer thread is internal). */
#ifndef DFD_BLOB_H
#define DFD_BLOB_H

#include <stdint.h>

#include "df_err.h"

#define DFD_BLOB_QUEUE_HIGH (4u << 20)

struct event_base;
struct df_http_client;
struct df_netpolicy;
struct dfd_blobs;
struct dfd_blob_reader;

enum dfd_blob_event {
    DFD_BLOB_EV_READY = 1, /* the size is known (dfd_blob_reader_size); data may follow */
    DFD_BLOB_EV_DATA,      /* more bytes may be read */
    DFD_BLOB_EV_FAIL,      /* fetch failed or digest mismatch: abort; no further events (the
                              owner still frees the reader) */
};

/* err/status only for DFD_BLOB_EV_FAIL: err < 0, status = upstream HTTP status when the
 * upstream refused (e.g. 404), else 0. */
typedef void (*dfd_blob_cb)(struct dfd_blob_reader *r, enum dfd_blob_event ev, int err,
                            long status, void *arg);

struct dfd_blob_stats {
    uint64_t fetches, fetch_bytes, cache_hits, joined, mismatches, failures;
    uint64_t gc_runs, gc_deleted, gc_deleted_bytes;
};

struct dfd_blobs *dfd_blobs_new(struct event_base *base, struct df_http_client *http,
                                const char *localrepo, char err[DF_ERR_LEN]);
/* Cancels fetches (deleting their .part files) and drops readers without callbacks. NULL ok. */
void dfd_blobs_free(struct dfd_blobs *bs);

struct dfd_blob_fetch_opts {
    const char *digest;              /* "sha256:<64 hex>" (validated by dfd_rules) */
    const char *url;                 /* upstream blob URL */
    const char *const *headers;      /* "Key: Value" list for the upstream (client's auth) */
    int is_insecure;
    const char *ca_file;             /* PEM bundle for the upstream, NULL = system store;
                                      * borrowed, must outlive the store (config-owned) */
    const char *upstream;            /* "scheme://host[:port]" the client's access was checked
                                      * with (and that a new fetch goes to) */
    const char *repo;                /* repository of the request (recorded with a fetch) */
    const struct df_netpolicy *policy; /* for the upstream fetch (borrowed, outlives the store;
                                      * NULL = none); a refusal fails the readers with
                                      * -EACCES */
};

/* Opens a reader for the blob: from the cache when complete (READY is delivered from the loop,
 * never from inside this call), else attached to the running fetch, else a new fetch is
 * started. Returns NULL (and *err) when nothing can be started; then no callback runs.
 * *err == -EXDEV: the stored blob (or the running fetch) came from another upstream than
 * o->upstream — not for this request.
 * Otherwise cb runs until FAIL or until the reader is freed. */
struct dfd_blob_reader *dfd_blob_open(struct dfd_blobs *bs, const struct dfd_blob_fetch_opts *o,
                                      dfd_blob_cb cb, void *arg, int *err);
/* Detaches and frees the reader; allowed from inside its own callback. NULL ok. A fetch
 * continues without readers (it still fills the store). */
void dfd_blob_reader_free(struct dfd_blob_reader *r);
/* Blob size (valid from READY on). */
int64_t dfd_blob_reader_size(const struct dfd_blob_reader *r);
/* 1 when the blob came from the local store (no fetch), 0 otherwise. */
int dfd_blob_reader_is_cached(const struct dfd_blob_reader *r);
/* Bytes that may be sent now, from offset `pos`: [pos, pos + *len). Sets *fd (borrowed, valid
 * until the reader is freed) for evbuffer_file_segment use. 0 bytes when nothing new yet. */
int dfd_blob_reader_avail(struct dfd_blob_reader *r, uint64_t pos, int *fd, uint64_t *len);
/* 1 once every byte was released (complete and verified). */
int dfd_blob_reader_is_complete(const struct dfd_blob_reader *r);

const struct dfd_blob_stats *dfd_blobs_stats(const struct dfd_blobs *bs);

/* Records that upstream (for repo) also served the stored blob `digest` whole and verified
 * (a pass-through after -EXDEV), so that its clients may be served from the store too. No-op
 * when the blob is not stored, is recorded for upstream already, or has 16 records. */
void dfd_blobs_add_origin(struct dfd_blobs *bs, const char *digest, const char *upstream,
                          const char *repo);

struct dfd_swarm;
/* New fetches go through the swarm (borrowed, must outlive bs; NULL = upstream only).
 * A failed swarm download falls back to the upstream. A swarm fetch streams: READY once the
 * registration gave the length, then readers follow the in-order prefix of pieces that are
 * verified (piece digest) and written, the last byte held until the whole-file SHA-256 matched.
 * When the length is unknown until the end, bytes are released when the file is complete.
 * If the swarm restarts with another piece layout, or fails over to the upstream, after
 * bytes were released, the attached readers fail (never a mix of two downloads). */
void dfd_blobs_set_swarm(struct dfd_blobs *bs, struct dfd_swarm *sw);

/* Store clean-up (Dragonfly §8.3): every interval_ms (0 = never), files in <localrepo>/sha256
 * whose mtime is older than expire_ms are deleted — complete blobs (a cache hit sets the
 * mtime to now, so mtime is the last access) and stale .part files of no running fetch.
 * A blob that a reader is streaming (cache hit or fetch, until the reader is freed) or that
 * is being fetched is never deleted. Runs on the loop (readdir/stat/unlink of the store). */
void dfd_blobs_set_gc(struct dfd_blobs *bs, int64_t interval_ms, int64_t expire_ms);
/* One clean-up pass now (what the timer runs). Returns the number of files deleted. */
int dfd_blobs_gc(struct dfd_blobs *bs);
/* Bytes of the completed fetch by origin (all 0 for a cache hit). */
void dfd_blob_reader_sources(const struct dfd_blob_reader *r, uint64_t *source,
                             uint64_t *supernode, uint64_t *peers);

#endif
