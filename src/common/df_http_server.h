/* SPDX-License-Identifier: Apache-2.0 */
/* Thin evhttp wrapper for our HTTP servers (supernode control API, supernode download port,
 * dfget uploader): binding (IPv4, IPv6, "::" dual-stack with fallback to 0.0.0.0), a route
 * table with an optional "/v<digits.dots>" prefix, a request-body cap, query parsing and the
 * reply helpers every handler uses (JSON, ResultInfo envelope, Go-style error object).
 *
 * Threading: everything runs on the loop thread of the server's event_base.
 *
 * Request ownership: a handler receives a struct df_http_call that is valid only during the
 * call. To reply later (deferred reply) keep call->req, which stays valid until one of the
 * df_http_reply* functions is called on it; replying to a request whose client has gone away
 * is safe (evhttp just frees it). Every request gets exactly one reply. */
#ifndef DF_HTTP_SERVER_H
#define DF_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "df_err.h"

struct event_base;
struct evhttp_request;
struct df_http_server;

enum {
    DF_HTTP_M_GET = 1,
    DF_HTTP_M_POST = 2,
    DF_HTTP_M_HEAD = 4,
    DF_HTTP_M_PUT = 8,
    DF_HTTP_M_DELETE = 16,
};

#define DF_HTTP_QUERY_MAX 64 /* more parameters than this → 400 */

/* Decoded query string: keys and values percent-decoded ('+' kept as is, raw ':' and '~'
 * accepted). Heap strings owned by the struct. */
struct df_http_query {
    size_t n;
    char *keys[DF_HTTP_QUERY_MAX];
    char *vals[DF_HTTP_QUERY_MAX];
};

/* Parses "a=1&b=x%3Ay" (raw may be NULL or ""). A parameter without '=' gets the value "".
 * Empty segments ("a=1&&b=2") are skipped. Returns 0, -EINVAL (bad percent escape or encoded
 * NUL) or -E2BIG (more than DF_HTTP_QUERY_MAX parameters); on error q is left empty. Pure. */
int df_http_query_parse(const char *raw, struct df_http_query *q) __attribute__((warn_unused_result));
/* Value of the first parameter named key (case-insensitive), NULL if absent. Borrowed. */
const char *df_http_query_get(const struct df_http_query *q, const char *key);
void df_http_query_cleanup(struct df_http_query *q);

/* "/v1.0/peer/task" → "/peer/task": returns a pointer into path past a "/v<digit>[digits.]*"
 * first segment when one is present and followed by '/', else NULL. Pure. */
const char *df_http_strip_version(const char *path);

/* What a handler receives. */
struct df_http_call {
    struct evhttp_request *req;
    int method;                  /* one DF_HTTP_M_* value */
    const char *path;            /* raw (not decoded) path, version prefix removed, no query */
    const char *rest;            /* prefix routes: the part of path after the prefix; else "" */
    struct df_http_query query;  /* decoded query parameters */
};

typedef void (*df_http_handler)(struct df_http_call *call, void *arg);
/* Called once per reply actually sent: route name ("" when no route matched) and status. */
typedef void (*df_http_observer)(const char *route_name, int status, void *arg);

/* Creates a server listening on bind_addr:port. bind_addr: "::" (dual-stack IPv6 socket with
 * IPV6_V6ONLY off; falls back to 0.0.0.0 when IPv6 is unavailable), "0.0.0.0", an IPv4 or IPv6
 * literal (brackets allowed), NULL = "::". port 0 picks a free port (see df_http_server_port).
 * max_body: request bodies larger than this get 413 before any handler runs (0 = 1 MiB).
 * Returns NULL and fills err (one line, e.g. "cannot listen on [::]:8002: Address already in
 * use") on failure. */
struct df_http_server *df_http_server_new(struct event_base *base, const char *bind_addr,
                                          uint16_t port, size_t max_body, char err[DF_ERR_LEN]);
/* Stops listening and frees the server. Requests whose reply was deferred must have been
 * answered before. NULL ok. */
void df_http_server_free(struct df_http_server *s);
/* The bound port (useful with port 0). */
uint16_t df_http_server_port(const struct df_http_server *s);
/* Adds a route. methods: DF_HTTP_M_* mask; other methods get 405. is_prefix: path is a prefix
 * ("/download/") and call->rest is the remainder; otherwise an exact match. Routes are tried in
 * the order added. name is a static string used for metrics. Strings are borrowed (static). */
void df_http_server_route(struct df_http_server *s, const char *name, int methods,
                          const char *path, int is_prefix, df_http_handler fn, void *arg);
void df_http_server_set_observer(struct df_http_server *s, df_http_observer fn, void *arg);
/* Request-idle timeout in seconds (default 120). */
void df_http_server_set_timeout(struct df_http_server *s, int secs);

/* Request body as a heap NUL-terminated copy (caller frees); *len excludes the NUL. */
char *df_http_body_dup(struct evhttp_request *req, size_t *len);
/* Request header (case-insensitive), NULL if absent. Borrowed from the request. */
const char *df_http_req_header_in(struct evhttp_request *req, const char *name);
/* Numeric address of the other end of req's connection ("" when unknown). Borrowed from the
 * connection: valid while the request is. */
const char *df_http_req_peer_ip(struct evhttp_request *req);

/* Replies. Each sends the reply and releases the request (it must not be used afterwards). */
void df_http_reply(struct evhttp_request *req, int status, const char *content_type,
                   const void *body, size_t len);
/* JSON text with status (Content-Type: application/json). */
void df_http_reply_json(struct evhttp_request *req, int status, const char *json);
/* HTTP 200 + ResultInfo {"code","msg","data"}; takes ownership of data (may be NULL). */
void df_http_reply_result(struct evhttp_request *req, int code, const char *msg, json_t *data);
/* Go handler error: HTTP status + {"code":status,"message":message}. */
void df_http_reply_error(struct evhttp_request *req, int status, const char *message);

/* Standard reason phrase for an HTTP status ("OK", "Not Found", ...). */
const char *df_http_reason(int status);

#endif
