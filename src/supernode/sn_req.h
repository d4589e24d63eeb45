/* Decoding and validation of supernode API requests (spec §2.3, §2.4): registration bodies
 * (JSON or application/x-www-form-urlencoded, keys case-insensitive) and /peer/task queries.
 * Pure: no I/O; every error comes back as one line in err. */
#ifndef SN_REQ_H
#define SN_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "df_err.h"
#include "df_http_server.h"

#define SN_REQ_MAX_HEADERS 64
#define SN_REQ_MAX_HEADER_LEN 8192

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
    char **headers;       /* "Key: Value" lines, validated (no CR/LF, non-empty key) */
    size_t nheaders;
};

/* Decodes and validates a registration body. is_form: body is form-encoded (else JSON).
 * Returns 0, or -EINVAL with err set ("invalid JSON at line 1: ...", "hostName is required",
 * "port 80 out of range (0 or 1024-65535)", "rawUrl must be an http or https URL"). On error
 * r is cleaned up. */
int sn_req_decode_registry(const char *body, size_t len, int is_form, struct sn_reg_req *r,
                           char err[DF_ERR_LEN]) __attribute__((warn_unused_result));
void sn_req_reg_cleanup(struct sn_reg_req *r);
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

/* 1 when s looks like an absolute http(s) URL with a non-empty host. */
int sn_req_is_http_url(const char *s);

#endif
