/* SPDX-License-Identifier: Apache-2.0 */
/* dfget ↔ supernode messages (spec §2.3–2.7): builds the registration JSON body and the query
 * URLs of /peer/task, /peer/piece/suc, /peer/piece/error and of piece downloads; decodes the
 * registration and pull replies (ResultInfo envelope and the Go error envelope
 * {"code","message"}). Pure: no I/O. Everything returned is heap memory owned by the caller.
 *
 * Query values are sent as Dragonfly sends them (verbatim: hex, digits, ':' '~' '.' '-'), other
 * bytes are percent-encoded. */
#ifndef DFGET_MSG_H
#define DFGET_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"
#include "df_proto.h"
#include "df_token.h"

/* Borrowed strings; NULL or "" = omitted (where optional). */
struct dfget_reg_req {
    const char *supernode_ip; /* node host as configured, without port */
    const char *raw_url;
    const char *task_url;
    const char *cid;
    const char *ip;
    const char *host_name;
    int port;                 /* uploader port, 0 = none */
    const char *path;         /* "/peer/file/<taskFileName>" */
    const char *version;
    const char *md5;          /* sent when non-empty */
    const char *identifier;   /* sent only when md5 is empty */
    const char *callsystem;
    const char *const *headers; /* "Key: Value" */
    size_t nheaders;
    int is_dfdaemon;
    int is_insecure;
    const char *const *root_cas; /* base64 PEM blobs */
    size_t nroot_cas;
};

/* JSON body for POST /peer/registry (keys spelt as the Go dfget sends them). Heap string. */
char *dfget_msg_reg_body(const struct dfget_reg_req *r);

struct dfget_reg_reply {
    int code;                       /* ResultInfo code (200 = ok) or Go error code */
    char msg[DF_ERR_LEN];           /* msg / message, "" if none */
    char task_id[DF_TASKID_LEN + 1];
    int64_t file_length;            /* origin length, -1 unknown */
    uint32_t piece_size;            /* incl. wrapper */
    char cdn_source[16];            /* "supernode" (default when absent) or "source" */
    /* Peer authentication (extension; absent from Dragonfly 1.x supernodes): */
    int is_piece_auth;              /* pieceAuth: pieces of this task need a token */
    char piece_key[DF_TOKEN_PUB_B64_LEN + 1]; /* pieceKey: verifies tokens, "" if none */
    char piece_token[DF_TOKEN_MAX]; /* pieceToken: ours, "" if none */
};

/* Decodes a registration reply body. Returns 0 when the envelope is readable (check ->code;
 * for code 200 the data was validated: 64-hex taskId, pieceSize within 6 B..64 MiB). Returns
 * DF_EPROTO with err filled when the body is not an envelope or a 200 carries bad data. */
int dfget_msg_parse_reg(const char *body, size_t len, struct dfget_reg_reply *out,
                        char err[DF_ERR_LEN]) __attribute__((warn_unused_result));

struct dfget_piece_task {
    uint32_t piece_num;
    uint32_t piece_size;            /* bytes incl. wrapper; equals end-start+1 */
    uint64_t start, end;            /* wrapped coordinates, inclusive */
    char range[48];                 /* "start-end" as received */
    char md5[DF_MD5_HEX_LEN + 1];   /* pieceMd5 hex part, "" if none */
    char md5_raw[80];               /* pieceMd5 as received (for /peer/piece/error) */
    int64_t wrapped_len;            /* from the ":<len>" suffix of pieceMd5, -1 if none */
    char sha256[DF_SHA256_HEX_LEN + 1]; /* pieceSha256, "" if none */
    char *cid;                      /* source peer CID */
    char *peer_ip;
    uint16_t peer_port;
    char *path;                     /* starts with '/' */
    int64_t down_link;              /* KB/s, informative */
};

struct dfget_pull_reply {
    int code;                       /* 600/601/602/603, 500, 502… */
    char msg[DF_ERR_LEN];
    struct dfget_piece_task *tasks; /* 601 only; may be 0 entries */
    size_t ntasks;
    char md5[DF_MD5_HEX_LEN + 1];   /* 600: origin md5, "" if absent */
    char sha256[DF_SHA256_HEX_LEN + 1]; /* 600: origin sha256 (extension), "" if absent */
    int64_t file_length;            /* 600: wrapped length, -1 if absent */
};

/* Decodes a /peer/task reply. Returns 0 when readable (check ->code); DF_EPROTO with err
 * filled for junk or a 601 whose piece tasks are malformed (range not a whole aligned window,
 * bad port/path/cid/ip, bad digests). On success free with dfget_msg_pull_cleanup(). */
int dfget_msg_parse_pull(const char *body, size_t len, struct dfget_pull_reply *out,
                         char err[DF_ERR_LEN]) __attribute__((warn_unused_result));
void dfget_msg_pull_cleanup(struct dfget_pull_reply *r);
void dfget_msg_task_cleanup(struct dfget_piece_task *t);
void dfget_msg_task_copy(struct dfget_piece_task *dst, const struct dfget_piece_task *src);

/* "http://host:port" for a node or peer (brackets for IPv6). Heap string. */
char *dfget_msg_base_url(const char *host, unsigned port);

/* GET /peer/task?srcCid=&dstCid=&range=&result=&status=&taskId= (this order). */
char *dfget_msg_pull_url(const char *base, const char *src_cid, const char *dst_cid,
                         const char *range, int result, int status, const char *task_id);
/* GET /peer/piece/suc?taskId=&cid=&dstCid=&pieceRange= */
char *dfget_msg_suc_url(const char *base, const char *task_id, const char *cid,
                        const char *dst_cid, const char *range);
/* GET /peer/piece/error?errorType=&srcCid=&dstCid=&dstIp=&taskId=&range=&realMd5=&expectedMd5= */
char *dfget_msg_error_url(const char *base, const char *error_type, const char *src_cid,
                          const char *dst_cid, const char *dst_ip, const char *task_id,
                          const char *range, const char *real_md5, const char *expected_md5);
/* http://peerIp:peerPort<path> for a piece task. */
char *dfget_msg_piece_url(const struct dfget_piece_task *t);

#endif
