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
 * worker threads only. */
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
/* (Reading a small file back: df_read_file in df_util.h.) */
/* Writes text to path atomically (tmp file + fsync + rename). 0 or -errno. */
int sn_store_write_file(const char *path, const char *text) __attribute__((warn_unused_result));

/* Scans the data file from piece 0: counts the leading pieces that are complete (header
 * matches the expected payload length and piece size, tail byte is 0x7F), filling d[i] for
 * each and feeding their payload into file_md5/file_sha256 (may be NULL). max_pieces bounds
 * the scan; http_length must be known (>= 0). Returns the count (>= 0) or -errno. */
int64_t sn_store_scan(int fd, uint32_t piece_size, int64_t http_length, uint32_t max_pieces,
                      struct sn_piece_digest *d, struct df_digest *file_md5,
                      struct df_digest *file_sha256);

#endif
