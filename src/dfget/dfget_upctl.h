/* SPDX-License-Identifier: Apache-2.0 */
/* dfget's side of the uploader (spec §5.2): find or start the work home's `dfget server`, share
 * the download file with it (hard link, or a second copy across filesystems), keep it alive
 * during the download (/rate) and hand the finished file over (/client/finish).
 *
 * The pure helpers (host.meta, /check body, port line, taskFileName, link decision) do no I/O
 * and are unit-tested. dfget_upctl_ensure() and dfget_upctl_finish() block (bounded: every
 * request, the lock wait and the child's port line have a timeout); they run before and after
 * the download's event loop, each on a private event_base, so they never nest in the main loop.
 *
 * Threading: main thread only. Errors: 0 / negative DF_E* or -errno, one line in err. */
#ifndef DFGET_UPCTL_H
#define DFGET_UPCTL_H

#include <stddef.h>
#include <stdint.h>

#include "df_err.h"

/* ---- pure --------------------------------------------------------------------------------- */

/* host.meta = JSON {"servicePort": <port>} (key case-insensitive). Returns 0 with *port in
 * 1..65535, -ENOENT when servicePort is 0/absent (no uploader), -EINVAL for junk. */
int dfget_upctl_parse_meta(const char *json, size_t len, int *port)
    __attribute__((warn_unused_result));

/* 1 iff the /check body is exactly "<name>@<version>" (spec §11.6), else 0. */
int dfget_upctl_check_body_ok(const char *body, size_t len, const char *name, const char *version);

/* First line of the child's stdout, "dfget uploader server port is 51143": the last
 * space-separated token of the first line must be a port 1..65535. Returns 0 or -EINVAL. */
int dfget_upctl_parse_port_line(const char *text, size_t len, int *port)
    __attribute__((warn_unused_result));

/* taskFileName = "<base>-<sign>" made acceptable to dfget_uploader_name_ok(): leading dots
 * dropped, '/', '\\' and control characters replaced by '_', base cut to 160 bytes, "file"
 * when nothing is left. Example: (".a b", "12-1700000000.123") → "a b-12-1700000000.123". */
void dfget_upctl_task_file_name(const char *base, const char *sign, char *out, size_t len);

/* How the service file shares the download's bytes. */
enum dfget_upctl_share {
    DFGET_SHARE_LINK, /* hard link: one inode, no second copy */
    DFGET_SHARE_COPY, /* other filesystem (or no hard links there): write both files */
    DFGET_SHARE_NONE, /* cannot share: download in cdn pattern */
};
/* Decision from the result of link(temp, service): 0 → LINK; EXDEV, EPERM, EMLINK, ENOTSUP,
 * EOPNOTSUPP, ENOSYS → COPY; anything else (EEXIST, ENOENT, EACCES, ENOSPC, EROFS…) → NONE. */
enum dfget_upctl_share dfget_upctl_link_decision(int link_errno);

/* Access the uploader gives to a shared file after a registration (GET /auth/<name>):
 * "token" when the supernode says its pieces need a token and gave the key that checks them;
 * "public" when they need none and our own request carried no credentials; NULL (the file
 * stays closed to peers) otherwise: a private download must not become public because the
 * supernode (e.g. Dragonfly 1.x) knows nothing of tokens. */
const char *dfget_upctl_auth_mode(int is_piece_auth, const char *piece_key, int has_credentials);
/* "http://ip:port/auth/<task_file>?taskId=&mode=[&key=]" (heap); send it with a dataDir
 * header and the uploader's secret (dfget_upctl_auth_headers). */
char *dfget_upctl_auth_url(const char *ip, int port, const char *task_file, const char *task_id,
                           const char *mode, const char *key);

/* The two header lines /auth needs, "dataDir: <data_dir>" and the secret header with the
 * content of <data_dir>/.uploader-secret (read now, without following links): heap strings in
 * h[0], h[1], h[2] = NULL; free h[0] and h[1]. Returns 0 or -errno / -EINVAL (no valid secret:
 * the uploader is not ours or not started). */
int dfget_upctl_auth_headers(const char *data_dir, char *h[3]) __attribute__((warn_unused_result));

/* After a registration: starts GET /auth/<task_file> at the uploader on ip:port (the mode from
 * dfget_upctl_auth_mode, the key from rep, the headers from dfget_upctl_auth_headers(data_dir)).
 * Returns the request (cb runs as for df_http_req_start), or NULL after a log line saying why
 * the file stays closed to peers (no mode, no secret, no request). */
struct df_http_client;
struct dfget_reg_reply;
struct df_http_req *dfget_upctl_auth_start(struct df_http_client *http, const char *ip, int port,
                                           const char *task_file, const char *data_dir,
                                           const struct dfget_reg_reply *rep, int has_credentials,
                                           void (*cb)(struct df_http_req *, int, long, void *),
                                           void *arg);

/* ---- blocking I/O ----------------------------------------------------------------------------- */

struct dfget_upctl_opts {
    const char *home;          /* work home: meta/host.meta, data/, logs/ */
    const char *ip;            /* local IP the uploader binds and we probe (no brackets) */
    int port;                  /* --port for a new uploader, 0 = it chooses */
    const char *task_file;     /* taskFileName to register with /check */
    uint64_t total_limit_bps;  /* sent as totalLimit (host upload cap), 0 = none */
    int64_t expire_ms, alive_ms;
    int is_verbose;
};

/* Reuses the running uploader of o->home when /check/<task_file> answers "<task_file>@<our
 * version>", otherwise starts one under an exclusive flock on <home>/meta (re-checking first):
 * `/proc/self/exe server --ip … --port … --meta … --data … --home … --expiretime … --alivetime …`
 * detached (own session, reparented), reads its port line (≤ 2 s) and /checks it.
 * On success *port is the uploader's port and *is_started tells whether we started it. */
int dfget_upctl_ensure(const struct dfget_upctl_opts *o, int *port, int *is_started,
                       char err[DF_ERR_LEN]) __attribute__((warn_unused_result));

/* GET http://ip:port/client/finish?taskFileName=&taskID=&cid=&superNode= (2 s). Returns 0 when
 * it answered 200 "success" (the uploader then expires the file and notifies `supernode`). */
int dfget_upctl_finish(const char *ip, int port, const char *task_file, const char *task_id,
                       const char *cid, const char *supernode, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* "http://ip:port/rate/<task_file>" (heap) for the periodic rate negotiation / keep-alive. */
char *dfget_upctl_rate_url(const char *ip, int port, const char *task_file);

#endif
