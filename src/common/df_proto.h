/* SPDX-License-Identifier: Apache-2.0 */
/* Dragonfly 1.x wire-protocol arithmetic (spec ../shared/spec/dragonfly-1x-protocol.md):
 * taskID (§3.1), piece size (§3.2), piece framing (§4.2), range strings (§1), HTTP Range
 * headers, result codes (§2.2). Pure functions: no I/O, no allocation unless stated.
 *
 * Coordinates. A task with origin length L and piece size P (bytes, includes the 5-byte
 * wrapper) has pieces of payload P-5; piece n covers origin bytes [n*(P-5), min(L,(n+1)*(P-5)))
 * and wrapped bytes [n*P, n*P + payload+5). Example: L = 200 MiB, P = 4 MiB → 51 pieces of
 * 4 194 299 payload bytes, the last one 250 bytes; wrapped length 209 715 455. */
#ifndef DF_PROTO_H
#define DF_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define DF_PIECE_WRAP 5        /* 4-byte header + 1 tail byte */
#define DF_PIECE_HEAD 4
#define DF_PIECE_TAIL 0x7f
#define DF_PIECE_SIZE_MIN (4u << 20)
#define DF_PIECE_SIZE_MAX (15u << 20)
/* Piece sizes a supernode may use (--piece-size) and a cache may hold: whole MiB from 1 to 16,
 * because the frame header is payload_len | piece_size << 4 and readers take the payload
 * length from its low 24 bits (a 512 KiB piece size sets bit 23, a 17 MiB payload bit 24). */
#define DF_PIECE_SIZE_FLOOR (1u << 20)
#define DF_PIECE_SIZE_CEIL (16u << 20)
#define DF_PIECE_SIZE_VALID(v) ((v) >= DF_PIECE_SIZE_FLOOR && (v) <= DF_PIECE_SIZE_CEIL && \
                                (v) % DF_PIECE_SIZE_FLOOR == 0)
#define DF_TASKID_LEN 64       /* lowercase hex sha256 */
#define DF_TASKID_SALT ">I$pg-~AS~sP'rqu_`Oh&lz#9]\"=;nE%"

/* Result codes in the ResultInfo envelope (§2.2). */
enum df_code {
    DF_CODE_SUCCESS = 200,
    DF_CODE_SYSTEM_ERROR = 500,
    DF_CODE_PARAM_ERROR = 501,
    DF_CODE_TARGET_NOT_FOUND = 502,
    DF_CODE_PEER_FINISH = 600,
    DF_CODE_PEER_CONTINUE = 601,
    DF_CODE_PEER_WAIT = 602,
    DF_CODE_PEER_LIMITED = 603,
    DF_CODE_SUPER_FAIL = 604,
    DF_CODE_UNKNOWN_ERROR = 605,
    DF_CODE_TASK_CONFLICT = 606,
    DF_CODE_URL_NOT_REACHABLE = 607,
    DF_CODE_NEED_AUTH = 608,
    DF_CODE_WAIT_AUTH = 609,
    DF_CODE_SOURCE_ERROR = 610,
    DF_CODE_PIECE_REPORTED = 611,
    DF_CODE_PEER_DOWN_REPORTED = 612,
};
/* dfget task status / piece result values sent in /peer/task (§2.2). */
enum { DF_TASK_STARTED = 700, DF_TASK_RUNNING = 701, DF_TASK_FINISHED = 702 };
enum { DF_RESULT_FAILED = 500, DF_RESULT_SUCCESS = 501, DF_RESULT_INVALID = 502, DF_RESULT_SEMISUC = 503 };

/* taskURL: raw_url with every query parameter whose name is in `filter` removed (§3.1).
 * filter is '&'-separated names ("Signature&Expires"), NULL/"" = none. Order preserved, '?'
 * dropped when nothing remains. Returns a heap string (caller frees). */
char *df_proto_task_url(const char *raw_url, const char *filter);

/* taskID = hex(sha256(SALT + task_url + sign + range + SALT)), sign = md5 if non-empty, else
 * identifier if non-empty, else "". range_hdr may be NULL (no Range header). out gets 64 hex
 * chars + NUL. Vector: task_url "http://127.0.0.1:18080/file200m.bin", nothing else →
 * 77d0df97b4dd58f5877514d3a30828bc874e07c0269ed95d6434a66404087263. */
void df_proto_task_id(const char *task_url, const char *md5, const char *identifier,
                      const char *range_hdr, char out[DF_TASKID_LEN + 1]);

/* Piece size for an origin length (§3.2); length <= 0 means unknown → 4 MiB. */
uint32_t df_proto_piece_size(int64_t length);
/* Damselfly's default piece size (bytes incl. the wrapper) for length bytes (-1 = unknown):
 * 1 MiB up to 1 GiB, then length/1024 rounded up to a MiB, at most DF_PIECE_SIZE_MAX; unknown
 * length → DF_PIECE_SIZE_MIN. Small pieces shorten every hop of a piece through the swarm
 * (docs/internals/scheduling.md); about 1024 pieces bound the scheduler's per-pull work. Pure. */
uint32_t df_proto_piece_size_auto(int64_t length);
/* Number of pieces for origin length L >= 0 and piece size P: ceil(L/(P-5)), at least 1 (an
 * empty file still has one piece: header + tail). */
uint32_t df_proto_piece_count(int64_t length, uint32_t piece_size);
/* Payload bytes of piece n (0 if n is out of range). */
uint32_t df_proto_piece_payload(int64_t length, uint32_t piece_size, uint32_t n);
/* Wrapped (CDN file) length: length + 5 * piece_count. */
int64_t df_proto_wrapped_length(int64_t length, uint32_t piece_size);

/* 4-byte big-endian header for a piece: payload_len | (piece_size << 4) (§4.2). */
void df_proto_frame_header(uint32_t payload_len, uint32_t piece_size, unsigned char out[4]);
/* Payload length from a header (header & 0x00FFFFFF). */
uint32_t df_proto_frame_payload_len(const unsigned char hdr[4]);

/* Range string "start-end" (wrapped coordinates, inclusive). Returns 0 or -EINVAL (junk,
 * end < start, overflow). */
int df_proto_parse_range(const char *s, uint64_t *start, uint64_t *end)
    __attribute__((warn_unused_result));
/* "start-end" for piece n: n*P .. n*P+P-1. Writes into out (>= 48 bytes). */
void df_proto_format_range(uint32_t n, uint32_t piece_size, char *out, size_t len);
/* Piece number from a range string: start / (end-start+1); -EINVAL when the range is not a
 * whole P-sized window aligned on P (when piece_size is non-zero) or unparsable. */
int64_t df_proto_range_piece(const char *s, uint32_t piece_size);

/* HTTP "Range: bytes=a-b" | "bytes=a-" | "bytes=-n" against a resource of `total` bytes.
 * Exactly one range. On success start and end are the inclusive, clipped bounds and 0 is
 * returned. -EINVAL: unparsable or multiple ranges (caller answers 400); DF_ERANGE: not
 * satisfiable (start >= total; caller answers 416). */
int df_proto_parse_http_range(const char *hdr, uint64_t total, uint64_t *start, uint64_t *end)
    __attribute__((warn_unused_result));

/* Percent-decodes in place ("%3A" → ':', '+' kept as is). Returns 0 or -EINVAL on a bad escape
 * or an encoded NUL. */
int df_proto_url_decode(char *s) __attribute__((warn_unused_result));

#endif
