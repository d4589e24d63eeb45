/* SPDX-License-Identifier: Apache-2.0 */
/* One blob download through the supernode, in-process, with dfget's own
 * engine (dfget_reg: registration + supernode failover, dfget_dl: piece loop, dfget_writer:
 * ordered pwrite + whole-file digests). The client's headers (Authorization) travel in the
 * registration, so the supernode's origin fetch is authorized the same way.
 *
 * The host serves the pieces it has through its uploader (`dfdaemon server`, dfget's uploader
 * code; found or started once at start-up, one per work home), like dfget's p2p pattern.
 * Streaming: after each piece commit the job reports the verified, written, in-order prefix
 * of the file (dfget_dl_bytes_contiguous), so the caller can hand those bytes on while the
 * rest arrives. A set --ratelimit (flag or config) also limits the swarm downloads of all jobs
 * together (one token bucket); unset, downloads are not limited.
 *
 * Threading: loop thread only (each job owns one writer thread). Callback contract: after
 * dfd_swarm_start() returned a job, progress runs zero or more times and then done exactly
 * once, each from an event of the job's own (never from inside a dfd_swarm_* call), unless the
 * job is cancelled first; dfd_swarm_cancel() is allowed from inside either callback. */
#ifndef DFD_SWARM_H
#define DFD_SWARM_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"
#include "dfd_config.h"

struct event_base;
struct df_http_client;
struct dfd_swarm;
struct dfd_swarm_job;

struct dfd_swarm_result {
    int err;                         /* 0 = the file is written; < 0 = failed (msg says why) */
    char msg[DF_ERR_LEN];
    int64_t length;
    char sha256[DF_DIGEST_HEX_MAX];  /* of the written file, "" when not computed */
    uint64_t bytes_supernode, bytes_peers;
};

typedef void (*dfd_swarm_done_cb)(const struct dfd_swarm_result *res, void *arg);
/* length: the origin length from the registration (-1 while unknown). contiguous: bytes
 * [0, contiguous) of the file are verified per piece and written. It only grows, except when a
 * migration restarts the download with another piece layout (the file is truncated): then it
 * drops (usually to 0) and bytes read before may be rewritten. The whole-file SHA-256 is only
 * known at done. Coalesced: one call may cover several commits. */
typedef void (*dfd_swarm_progress_cb)(int64_t length, uint64_t contiguous, void *arg);

/* NULL (err filled) when cfg->node does not parse. The local IP is learnt once here (blocking
 * TCP connect to the first reachable supernode, ≤ 1 s each; 127.0.0.1 when none answers), and
 * cfg->ca_file is read (≤ 255 KiB; else a log line and no rootCAs). */
struct dfd_swarm *dfd_swarm_new(struct event_base *base, struct df_http_client *http,
                                const struct dfd_config *cfg, char err[DF_ERR_LEN]);
void dfd_swarm_free(struct dfd_swarm *sw); /* cancels jobs (no callbacks). NULL ok. */

/* Downloads url into fd (borrowed; must stay open until done or cancel), the file at part_path.
 * When this host has an uploader, part_path is hard-linked into its data dir first, so other
 * hosts can fetch the pieces already written. headers: "Key: Value" (copied). is_insecure and
 * has_ca (the registry's CA bundle, registry_mirror.certs, read at dfd_swarm_new) go into the
 * registration (insecure, rootCAs) for the supernode's origin fetch. progress may be NULL.
 * Returns NULL with *err when the job cannot start (no callback then). */
struct dfd_swarm_job *dfd_swarm_start(struct dfd_swarm *sw, int fd, const char *part_path,
                                      const char *url, const char *const *headers,
                                      int is_insecure, int has_ca,
                                      dfd_swarm_progress_cb progress, dfd_swarm_done_cb cb,
                                      void *arg, int *err);
void dfd_swarm_cancel(struct dfd_swarm_job *j); /* NULL ok; not from inside its callback */

#endif
