/* SPDX-License-Identifier: Apache-2.0 */
/* Back-source (spec §6.2): a plain streamed GET of the raw URL with the user's headers into the
 * temp file through the writer thread (stream mode). Status must be 200 (206 when the user sent
 * a Range header); the body length must equal Content-Length when one was sent; the free-space
 * pre-check runs as soon as the length is known; the MD5 is computed when --md5 was given.
 *
 * Threading: loop thread. The done callback runs exactly once after dfget_source_start()
 * returned non-NULL, unless dfget_source_free() runs first. */
#ifndef DFGET_SOURCE_H
#define DFGET_SOURCE_H

#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"
#include "dfget_config.h"

struct event_base;
struct df_http_client;
struct df_ratelimit;
struct dfget_writer;
struct dfget_source;

/* err: 0 ok; DF_ENOSPACE (pre-check), DF_EORIGIN (bad status / short body), write errors,
 * transport errors. msg: one line for the user. md5_hex: of the file when --md5 was given
 * (the caller compares), else "". */
typedef void (*dfget_source_cb)(int err, const char *msg, uint64_t length, const char *md5_hex,
                                void *arg);

/* space_dirs: NULL-terminated directories that must each hold the file (free-space pre-check).
 * ca_pem: the --cacerts files as one PEM bundle when there are several (NULL: the single file
 * cfg->cacerts[0], if any, is used). All pointers are borrowed and must outlive the source. rl
 * may be NULL. */
struct dfget_source *dfget_source_start(struct event_base *base, struct df_http_client *http,
                                        struct dfget_writer *writer, const struct dfget_config *cfg,
                                        const char *ca_pem, size_t ca_pem_len,
                                        const char *const *space_dirs, struct df_ratelimit *rl,
                                        int64_t timeout_ms, dfget_source_cb cb, void *arg);
void dfget_source_free(struct dfget_source *s); /* NULL ok; cancels */
/* The writer drained: resume a paused transfer. NULL ok. */
void dfget_source_on_drain(struct dfget_source *s);
/* Body bytes received so far; Content-Length (-1 unknown / not yet). */
uint64_t dfget_source_bytes(const struct dfget_source *s);
int64_t dfget_source_length(const struct dfget_source *s);

/* Pure: "404 Not Found" style text for a status code ("HTTP 599" for unknown ones). */
const char *dfget_source_status_text(long status, char *buf, size_t len);

/* Free-space pre-check shared with the P2P path: every dir in dirs (NULL-terminated, dirs on
 * the same filesystem counted once) must have `need` bytes available. Returns 0, DF_ENOSPACE
 * with msg filled, or -errno (statvfs failed, msg filled). */
int dfget_source_check_space(const char *const *dirs, uint64_t need, char msg[DF_ERR_LEN])
    __attribute__((warn_unused_result));

#endif
