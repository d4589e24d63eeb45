/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound HTTP(S) with libcurl's multi interface driven by a libevent loop (one client per
 * event_base). Every outbound request of every program goes through here: origin fetches,
 * supernode API calls, piece downloads. Connections are kept alive and reused by curl's
 * connection cache.
 *
 * Threading: all functions and all callbacks run on the loop thread.
 *
 * Callback contract (libuv style): if df_http_req_start() returns NULL, no callback ever runs.
 * Otherwise on_done runs exactly once, from the loop (never from inside df_http_req_start),
 * unless the caller cancels the request first with df_http_req_cancel(), in which case no
 * further callback runs. After on_done returns, the request is freed.
 *
 * Ownership: strings and arrays in df_http_opts are copied; the caller may free them after
 * df_http_req_start returns. Pointers returned by accessors are valid until on_done returns. */
#ifndef DF_HTTP_CLIENT_H
#define DF_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct df_netpolicy;
struct df_http_client;
struct df_http_req;

/* Called once the final response's headers are in (after redirects). Return 0 to go on, or a
 * negative code to abort the transfer; on_done then gets that code. */
typedef int (*df_http_headers_cb)(struct df_http_req *req, long status, void *arg);
/* Body bytes, in order. Return 0 when consumed, DF_AGAIN to pause the transfer without
 * consuming them (curl delivers the same bytes again after df_http_req_unpause), or a negative
 * code to abort. When NULL, the body is collected in memory up to opts.max_body. */
typedef int (*df_http_data_cb)(struct df_http_req *req, const void *data, size_t len, void *arg);
/* err: 0 when a complete response was received (any status), else a negative code
 * (DF_ETIMEDOUT, DF_ETOOBIG, DF_EPROTO for transport errors/short bodies, or the code an
 * earlier callback returned). status: the HTTP status, 0 if none arrived. */
typedef void (*df_http_done_cb)(struct df_http_req *req, int err, long status, void *arg);

struct df_http_opts {
    const char *url;
    const char *method;            /* NULL = "GET"; also "HEAD", "POST" */
    const char *const *headers;    /* NULL-terminated "Key: Value" list, may be NULL */
    const void *body;              /* POST body, copied */
    size_t body_len;
    int64_t timeout_ms;            /* whole transfer; 0 = none */
    int64_t connect_timeout_ms;    /* 0 = 5000 */
    int64_t low_speed_window_ms;   /* abort if < 1 byte/s for this long; 0 = off */
    uint64_t max_recv_bps;         /* receive rate cap; 0 = none */
    size_t max_body;               /* cap for collected bodies (on_data == NULL); 0 = 1 MiB */
    int is_follow_redirects;       /* follow 3xx (Authorization is never sent to another host) */
    int is_insecure;               /* skip TLS verification */
    const char *ca_file;           /* path of a PEM bundle of trusted CAs (CURLOPT_CAINFO, in
                                    * place of curl's default bundle); NULL = system store.
                                    * Ignored when is_insecure. Unreadable/bad file: the
                                    * transfer fails (on_done err DF_EPROTO) */
    const char *ca_pem;            /* the same as PEM text in memory (CURLOPT_CAINFO_BLOB,
                                    * copied); wins over ca_file. NULL = none. Bad PEM: the
                                    * transfer fails (DF_EPROTO, df_http_req_is_cert_error).
                                    * TRUST: either form replaces curl's bundle *file* only;
                                    * curl's CA *directory* (build-time CApath, Debian
                                    * /etc/ssl/certs: the system store) is still searched, so the
                                    * peer verifies against "system store OR these CAs". */
    size_t ca_pem_len;             /* bytes of ca_pem */
    int is_fresh_connect;          /* do not reuse a cached connection */
    const struct df_netpolicy *policy; /* origin policy checked for every connection the request
                                    * opens (after DNS, on every redirect hop: curl's
                                    * CURLOPT_OPENSOCKETFUNCTION), against the address and the
                                    * URL's host. Borrowed: must outlive the request. A refused
                                    * connection is never opened; when no address is left the
                                    * request fails with on_done err -EACCES,
                                    * df_http_req_is_denied() == 1 and df_http_req_errtext() =
                                    * the policy's reason. NULL = no check. Note: a connection
                                    * already in curl's cache (opened by an earlier request of
                                    * this client to the same host and port) is reused unchecked;
                                    * clients mixing requests with and without a policy to the
                                    * same hosts should set is_fresh_connect. Through a proxy
                                    * (curl honours http_proxy/https_proxy from the environment)
                                    * the address checked is the proxy's; host patterns still
                                    * apply to the URL. */
};

/* Returns NULL on OOM of the curl multi handle only. */
struct df_http_client *df_http_client_new(struct event_base *base);
/* Cancels every request still running (their callbacks do not run). NULL ok. */
void df_http_client_free(struct df_http_client *c);

/* Starts a request. Returns NULL (and *err < 0 when err != NULL) on bad options. */
struct df_http_req *df_http_req_start(struct df_http_client *c, const struct df_http_opts *opts,
                                      df_http_headers_cb on_headers, df_http_data_cb on_data,
                                      df_http_done_cb on_done, void *arg, int *err);
/* Stops and frees the request; no callback runs afterwards. Must not be called from inside one
 * of this request's own callbacks (return a negative code from on_headers/on_data instead). */
void df_http_req_cancel(struct df_http_req *req);
void df_http_req_pause(struct df_http_req *req);
void df_http_req_unpause(struct df_http_req *req);

/* Response header of the final response, case-insensitive name, value trimmed; NULL if absent. */
const char *df_http_req_header(const struct df_http_req *req, const char *name);
/* Collected body (on_data == NULL), NUL-terminated for convenience; len excludes the NUL. */
const char *df_http_req_body(const struct df_http_req *req, size_t *len);
/* Content-Length of the final response, -1 if unknown. Valid from on_headers on. */
int64_t df_http_req_content_length(const struct df_http_req *req);
/* Body bytes delivered so far. */
uint64_t df_http_req_bytes(const struct df_http_req *req);
/* The curl error text of a failed transfer ("" if none). */
const char *df_http_req_errtext(const struct df_http_req *req);
/* 1 when the transfer failed because the server's certificate could not be verified (not
 * signed by a trusted CA, wrong host name, expired) or the CA data given was unusable; such a
 * failure depends on is_insecure / ca_file / ca_pem, not on the server being reachable.
 * Valid in on_done. */
int df_http_req_is_cert_error(const struct df_http_req *req);
/* 1 when the transfer failed because opts.policy refused every address it would have connected
 * to (df_http_req_errtext() says which rule). Valid in on_done. */
int df_http_req_is_denied(const struct df_http_req *req);
/* Number of requests in flight. */
int df_http_client_active(const struct df_http_client *c);

#endif
