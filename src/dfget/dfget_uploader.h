/* SPDX-License-Identifier: Apache-2.0 */
/* The uploader ("dfget server", spec §5): a long-lived process per work home that serves the
 * pieces this host has to other peers. Only files registered through /check (by a dfget of this
 * work home) are served; a request path is only ever compared with registered names, never
 * used to build a filesystem path.
 *
 * Endpoints: /peer/file/<name> (one Range in wrapped coordinates, re-framed on the fly, payload
 * sent with sendfile), /check/<name>, /rate/<name>, /client/finish, /server/ping.
 * All uploads share one token bucket (libevent rate-limit group) set from --totallimit. */
#ifndef DFGET_UPLOADER_H
#define DFGET_UPLOADER_H

#include <stddef.h>
#include <stdint.h>

/* /auth (who may read a shared file) needs the secret the uploader writes at start into
 * <data_dir>/DFGET_UPLOADER_SECRET_FILE (mode 0600, 64 hex characters), sent in this header. */
#define DFGET_UPLOADER_SECRET_FILE ".uploader-secret"
#define DFGET_UPLOADER_SECRET_HEADER "X-Dragonfly-Uploader-Secret"
#define DFGET_UPLOADER_SECRET_LEN 64

struct dfget_uploader_opts {
    const char *ip;          /* bind address; NULL/"" = all interfaces */
    int port;                /* 0 = choose in 15000–65000 as Dragonfly does */
    const char *meta_path;   /* <home>/meta/host.meta; may be NULL */
    const char *data_dir;    /* <home>/data: the only directory served from */
    const char *home;        /* work home (logs) */
    int64_t expire_ms;       /* finished files kept this long after last access (3m) */
    int64_t alive_ms;        /* exit after this long without requests (5m) */
    int is_verbose;
};

/* Runs the uploader until it is idle for alive_ms or gets SIGTERM/SIGINT/SIGHUP. Prints
 * "dfget uploader server port is <port>" on stdout once listening. Returns 0 on a clean exit;
 * -errno / DF_E* with `err` filled when it cannot start. */
int dfget_uploader_run(const struct dfget_uploader_opts *o, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* `dfget server [--ip IP] [--port N] [--meta PATH] [--data DIR] [--home DIR]
 *  [--expiretime D] [--alivetime D] [--max-connections N] [--header-timeout D] [--verbose]`
 * — argv[0] is "server". --max-connections defaults to what df_listen derives from the fd
 * limit (raised to the hard limit at start), --header-timeout to 10s. Returns the exit code. */
int dfget_uploader_main(int argc, char **argv);

#endif
