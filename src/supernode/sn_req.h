/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding and validation of supernode API requests (spec §2.3, §2.4): registration bodies
 * (JSON or application/x-www-form-urlencoded, keys case-insensitive) and /peer/task queries.
 * Pure: no I/O; every error comes back as one line in err. */
#ifndef SN_REQ_H
#define SN_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "df_err.h"
#include "df_http_server.h"

#define SN_REQ_MAX_URL_LEN 8192               /* rawUrl, taskUrl */
#define SN_REQ_MAX_PATH_LEN 1024              /* path */
#define SN_REQ_MAX_HOST_LEN 256               /* ip, hostName, superNodeIp */
#define SN_REQ_MAX_ID_LEN 512                 /* cid, identifier, md5, version, callSystem */
#define SN_REQ_MAX_HEADERS 64
#define SN_REQ_MAX_HEADER_LEN 8192
#define SN_REQ_MAX_ROOT_CAS 16                /* rootCAs entries per registration */
#define SN_REQ_MAX_ROOT_CAS_BYTES (256u << 10) /* decoded PEM bytes of all entries together */

/* A registration. Strings are heap copies owned by the struct ("" when absent, never NULL). */
struct sn_reg_req {
    char *super_node_ip;  /* bare literal (brackets removed) or "" */
    char *raw_url;
    char *task_url;       /* taskUrl, or raw_url when the client sent none */
    char *cid;
    char *ip;
    char *host_name;
    char *path;
    char *version;
    char *md5;
    char *identifier;
    char *call_system;
    int port;             /* 0 or 1024..65535 */
    int is_dfdaemon;
    int is_insecure;
    int is_token_capable; /* pieceAuth: true (extension): the client sends piece tokens */
    char **headers;       /* "Key: Value" lines, validated (no CR/LF, non-empty key) */
    size_t nheaders;
    char *root_cas_pem;   /* rootCAs decoded and concatenated into one PEM bundle (each
                             entry ends with a newline), NUL-terminated; NULL when none */
    size_t root_cas_len;  /* bytes of root_cas_pem, < SN_REQ_MAX_ROOT_CAS_BYTES */
    size_t nroot_cas;     /* entries, ≤ SN_REQ_MAX_ROOT_CAS; each holds ≥ 1 certificate */
};

/* Decodes and validates a registration body. is_form: body is form-encoded (else JSON).
 * Returns 0, or -EINVAL with err set ("invalid JSON at line 1: ...", "hostName is required",
 * "port 80 out of range (0 or 1024-65535)", "rawUrl must be an http or https URL",
 * "rootCAs[1] holds no PEM certificate", "too many rootCAs (max 16)"). On error r is cleaned
 * up.
 * rootCAs (spec §2.3): a JSON array of strings, each the base64 of a PEM file (what the Go
 * dfget's [][]byte encodes to, and ours sends); a string that already is PEM text ("-----BEGIN")
 * is taken as is. In a form, one `rootCAs` field per entry. Every entry must decode and hold at
 * least one X.509 certificate (parsed with OpenSSL, in memory). */
int sn_req_decode_registry(const char *body, size_t len, int is_form, struct sn_reg_req *r,
                           char err[DF_ERR_LEN]) __attribute__((warn_unused_result));
void sn_req_reg_cleanup(struct sn_reg_req *r);
/* Bytes of r's strings, headers and CA bundle: what the registry keeps at most when r creates
 * a task and its client (the metadata budget's estimate before admission). Pure. */
size_t sn_req_reg_bytes(const struct sn_reg_req *r);
/* Value of header "Range" (exact key as Dragonfly 1.0 matches it, §3.1), trimmed; NULL if
 * none. Borrowed from r. */
const char *sn_req_range_header(const struct sn_reg_req *r);

/* /peer/task query. Strings borrowed from the query. */
struct sn_pull_req {
    const char *src_cid;
    const char *dst_cid;  /* may be "" */
    const char *range;    /* may be "" */
    const char *task_id;
    int status;           /* 700, 701 or 702 */
    int result;           /* 500..503 */
};

/* Returns 0, or -EINVAL with err set (missing srcCid/taskId, non-numeric or unknown status,
 * non-numeric result, 701 with a result but no range...). */
int sn_req_decode_pull(const struct df_http_query *q, struct sn_pull_req *p, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* 1 when task is raw with zero or more of its query parameters removed (what dfget's --filter
 * does, df_proto_task_url): same scheme, authority and path, and task's parameters are whole
 * parameters of raw, in the same order. */
int sn_req_task_url_derives(const char *raw, const char *task);

/* 1 when s looks like an absolute http(s) URL with a non-empty host. */
int sn_req_is_http_url(const char *s);

#endif
