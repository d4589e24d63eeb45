/* SPDX-License-Identifier: Apache-2.0 */
/* One dfget download from start to exit code (spec §6.1): prepare (output path, work home,
 * log, temp file, sign/CID), choose P2P or back-source, register (failover), piece loop,
 * migration, back-source fallback with its reason codes (§6.2), whole-file check, atomic
 * rename, console lines and summary. Owns the event loop, the HTTP client and the writer.
 *
 * Pattern p2p: before registering, the work home's uploader is found or started (dfget_upctl)
 * and the temp file is linked into <home>/data/<taskFileName>.service (or copied across
 * filesystems), so the download is served while it arrives; after success the uploader gets
 * /client/finish. Any sharing failure only turns the run into pattern cdn.
 *
 * Guarantee on every failure path: the temp file and the service file are removed and nothing
 * appears at --output (a file that was already there is left untouched). SIGINT/SIGTERM remove
 * both too. */
#ifndef DFGET_RUN_H
#define DFGET_RUN_H

#include <stddef.h>

#include "dfget_config.h"

/* Process exit codes (spec §7.2, low byte of Dragonfly's 11xx codes). */
enum {
    DFGET_EXIT_OK = 0,
    DFGET_EXIT_USAGE = 1,
    DFGET_EXIT_PREPARE = 77,   /* 1101 */
    DFGET_EXIT_NEED_AUTH = 79, /* 1103 */
    DFGET_EXIT_DOWNLOAD = 80,  /* 1104 */
};

/* Back-source reasons (§6.2). */
enum {
    DFGET_REASON_NONE = 0,
    DFGET_REASON_REGISTER = 1,
    DFGET_REASON_MD5 = 2,
    DFGET_REASON_DOWNLOAD = 3,
    DFGET_REASON_NOSPACE = 4,
    DFGET_REASON_WRITE = 6,
    DFGET_REASON_NO_NODE = 8,
    DFGET_REASON_USER_SOURCE = 100,
    DFGET_REASON_FORBIDDEN = 1000, /* added when --notbs forbids back-source */
};

/* Runs the download described by cfg (cmd == DFGET_CMD_DOWNLOAD). Prints Dragonfly's console
 * lines and the summary on stdout, one error line on stderr on failure. Returns the exit code. */
int dfget_run(const struct dfget_config *cfg);

/* Pure: default output name = last path segment of the URL (query/fragment dropped,
 * percent-decoded). Returns 0, or -EINVAL when the URL has no usable file name. */
int dfget_run_output_name(const char *url, char *out, size_t len) __attribute__((warn_unused_result));

#endif
