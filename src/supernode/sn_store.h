/* SPDX-License-Identifier: Apache-2.0 */
/* On-disk CDN cache format (spec §4.1) under <home>/repo/download/<id[0:3]>/:
 *   <id>          wrapped data file, piece n at offset n*P (4-byte header, payload, 0x7F)
 *   <id>.meta     JSON: Dragonfly's keys (taskID, url, pieceSize, httpFileLen, bizId,
 *                 accessTime, interval, fileLength, md5, realMd5, lastModified, eTag, finish,
 *                 success) plus ours (realSha256, lastModifiedRaw, rawUrl, pieceTotal)
 *   <id>.md5      one "<md5hex>:<wrapped len>" line per piece, then realMd5, then a check line.
 *                 Dragonfly's check line is a SHA-1 of the previous lines; ours is their SHA-256
 *                 (df_digest offers no SHA-1). No trailing newline.
 *   <id>.sha256   same layout with the pieces' SHA-256 and the file's SHA-256.
 * Encoders/decoders are pure; the *_read/_write/_scan functions do blocking I/O and run on
 * worker threads only.
 * Links: a symlink (or a FIFO, device, directory) planted at one of these paths, or at a .tmp
 * file the store writes, is never followed: every open uses O_NOFOLLOW and checks with fstat
 * that it got a regular file; anything else counts as a missing or corrupt cache entry. The
 * .meta (URLs redacted by the CDN) and digest files are written with mode 0600. */
#ifndef SN_STORE_H
#define SN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"
#include "sn_task.h"

struct sn_store_paths {
    char *dir;   /* <home>/repo/download/<id[0:3]> */
    char *data;
    char *meta;
    char *md5;
    char *sha256;
};

/* Fills heap paths for task id. */
void sn_store_paths_init(struct sn_store_paths *p, const char *home_dir, const char *id);
void sn_store_paths_cleanup(struct sn_store_paths *p);

struct sn_meta {
    char task_id[DF_TASKID_LEN + 1];
    char *url;               /* taskURL */
    char *raw_url;
    char *identifier;        /* bizId */
    char *md5;               /* expected md5 */
    uint32_t piece_size;
    uint32_t piece_total;
    int64_t http_length;     /* -1 unknown */
    int64_t file_length;     /* wrapped, -1 until finished */
    int64_t access_ms;       /* wall clock */
    int64_t interval_ms;
    int64_t last_modified_ms;/* parsed Last-Modified, 0 if none */
    char *last_modified;     /* raw Last-Modified header ("" if none) */
    char *etag;              /* raw ETag ("" if none) */
    char real_md5[65];
    char real_sha256[65];
    int is_finished;
    int is_success;
};

/* Zeroes m with empty strings. */
void sn_meta_init(struct sn_meta *m);
void sn_meta_cleanup(struct sn_meta *m);
/* Heap JSON text. */
char *sn_meta_encode(const struct sn_meta *m);
/* Parses JSON text into m (initialised by the call). 0 or -EINVAL (not JSON, wrong types,
 * missing taskID/pieceSize). On error m is cleaned up. */
int sn_meta_decode(const char *text, size_t len, struct sn_meta *m) __attribute__((warn_unused_result));

/* Digest files. which: DF_DIGEST_MD5 (<id>.md5 layout) or DF_DIGEST_SHA256. Heap text. */
char *sn_store_digests_encode(const struct sn_piece_digest *d, uint32_t n, const char *file_hex,
                              enum df_digest_alg which);
/* Parses a digest file of exactly n pieces into d (fills the md5 or sha256 field and, for
 * md5, wrapped_len) and file_hex (33 or 65 bytes). Verifies the check line. 0 or -EINVAL. */
int sn_store_digests_decode(const char *text, size_t len, uint32_t n, struct sn_piece_digest *d,
                            char *file_hex, enum df_digest_alg which) __attribute__((warn_unused_result));

/* Blocking helpers (worker threads). */
/* Reads a whole cache file (.meta, digest file) of at most max bytes into a heap NUL-terminated
 * buffer, like df_read_file, but never through a symlink (-ELOOP) and only from a regular file
 * (-EINVAL otherwise; both are logged). 0 or -errno / DF_ETOOBIG; -ENOENT when absent. */
int sn_store_read_file(const char *path, size_t max, char **out, size_t *len)
    __attribute__((warn_unused_result));
/* Opens the data file for reading and writing, creating it (0644) when absent. Something
 * other than a regular file at path (a symlink, a FIFO) is logged, removed (the link itself:
 * its target is never opened, read or truncated) and replaced by a new empty file, so the
 * caller sees a missing cache entry. Returns the fd (O_CLOEXEC) or -errno. */
int sn_store_open_data(const char *path) __attribute__((warn_unused_result));
/* Writes text to path atomically (tmp file + fsync + rename), mode 0600. A leftover <path>.tmp
 * of any kind (a planted symlink included) is unlinked first and the temp file created with
 * O_EXCL, so nothing is ever written through a link. 0 or -errno. */
int sn_store_write_file(const char *path, const char *text) __attribute__((warn_unused_result));

/* Scans the data file from piece 0: counts the leading pieces that are complete (header
 * matches the expected payload length and piece size, tail byte is 0x7F), filling d[i] for
 * each and feeding their payload into file_md5/file_sha256 (may be NULL). max_pieces bounds
 * the scan; http_length must be known (>= 0). Returns the count (>= 0) or -errno. */
int64_t sn_store_scan(int fd, uint32_t piece_size, int64_t http_length, uint32_t max_pieces,
                      struct sn_piece_digest *d, struct df_digest *file_md5,
                      struct df_digest *file_sha256);

#endif
