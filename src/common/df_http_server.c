/* SPDX-License-Identifier: Apache-2.0 */
/* evhttp wrapper: listening socket set-up (dual-stack with fallback), route dispatch with the
 * optional "/v<version>" prefix, body cap (evhttp answers 413 itself), query decoding and the
 * reply helpers. It does no protocol logic: handlers decide everything. */
#include "df_http_server.h"
#include "df_listen.h"
#include "df_redact.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "df_json.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_util.h"

#define MAX_ROUTES 48
#define HEADERS_MAX (64 * 1024)

struct df_http_server;

struct route {
    struct df_http_server *srv;
    const char *name;
    int methods;
    const char *path;
    size_t path_len;
    int is_prefix;
    df_http_handler fn;
    void *arg;
};

struct df_http_server {
    struct evhttp *http;
    struct df_listen_guard *guard; /* connection limit, request deadline, accept back-off */
    char name[32];                 /* "port 8002", for the guard's logs */
    uint16_t port;
    struct route routes[MAX_ROUTES];
    size_t nroutes;
    struct route no_route; /* observer context for requests that matched nothing */
    df_http_observer observer;
    void *observer_arg;
};

/* ---- query ------------------------------------------------------------------------------ */

int df_http_query_parse(const char *raw, struct df_http_query *q)
{
    memset(q, 0, sizeof(*q));
    if (!raw || !*raw)
        return 0;
    const char *p = raw;
    int rc = 0;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > 0) {
            if (q->n >= DF_HTTP_QUERY_MAX) {
                rc = -E2BIG;
                goto out;
            }
            const char *eq = memchr(p, '=', seg);
            char *k = eq ? df_xstrndup(p, (size_t)(eq - p)) : df_xstrndup(p, seg);
            char *v = eq ? df_xstrndup(eq + 1, seg - (size_t)(eq - p) - 1) : df_xstrdup("");
            q->keys[q->n] = k;
            q->vals[q->n] = v;
            q->n++;
            if (df_proto_url_decode(k) < 0 || df_proto_url_decode(v) < 0) {
                rc = -EINVAL;
                goto out;
            }
        }
        p += seg;
        if (*p == '&')
            p++;
    }
out:
    if (rc < 0)
        df_http_query_cleanup(q);
    return rc;
}

const char *df_http_query_get(const struct df_http_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcasecmp(q->keys[i], key) == 0)
            return q->vals[i];
    return NULL;
}

void df_http_query_cleanup(struct df_http_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->keys[i]);
        free(q->vals[i]);
    }
    q->n = 0;
}

const char *df_http_strip_version(const char *path)
{
    if (!path || path[0] != '/' || path[1] != 'v' || path[2] < '0' || path[2] > '9')
        return NULL;
    const char *p = path + 3;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    return *p == '/' ? p : NULL;
}

/* ---- replies ---------------------------------------------------------------------------- */

const char *df_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void df_http_reply(struct evhttp_request *req, int status, const char *content_type,
                   const void *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (content_type)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    if (body && len)
        evbuffer_add(buf, body, len);
    evhttp_send_reply(req, status, df_http_reason(status), buf);
    evbuffer_free(buf);
}

void df_http_reply_json(struct evhttp_request *req, int status, const char *json)
{
    df_http_reply(req, status, "application/json", json, strlen(json));
}

void df_http_reply_result(struct evhttp_request *req, int code, const char *msg, json_t *data)
{
    char *s = df_json_result(code, msg, data);
    df_http_reply_json(req, 200, s);
    free(s);
}

void df_http_reply_error(struct evhttp_request *req, int status, const char *message)
{
    /* error messages may quote URLs or headers: never a credential (df_redact) */
    char red[2048];
    df_redact_text(message ? message : "", red, sizeof(red));
    json_t *o = json_pack("{s:i,s:s}", "code", status, "message", red);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    df_http_reply_json(req, status, s ? s : "{}");
    free(s);
}

char *df_http_body_dup(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    char *s = df_xmalloc(n + 1);
    if (n)
        evbuffer_copyout(in, s, n);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

const char *df_http_req_header_in(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* ---- dispatch --------------------------------------------------------------------------- */

static int method_bit(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return DF_HTTP_M_GET;
    case EVHTTP_REQ_POST: return DF_HTTP_M_POST;
    case EVHTTP_REQ_HEAD: return DF_HTTP_M_HEAD;
    case EVHTTP_REQ_PUT: return DF_HTTP_M_PUT;
    case EVHTTP_REQ_DELETE: return DF_HTTP_M_DELETE;
    default: return 0;
    }
}

static const struct route *find_route(const struct df_http_server *s, const char *path)
{
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *r = &s->routes[i];
        if (r->is_prefix ? strncmp(path, r->path, r->path_len) == 0 : strcmp(path, r->path) == 0)
            return r;
    }
    return NULL;
}

/* Reports the status of every reply actually sent (not called when the client vanished
 * before the reply). arg is the route, whose srv back pointer is stable (fixed array). */
static void on_complete_observe(struct evhttp_request *req, void *arg)
{
    const struct route *r = arg;
    if (r->srv->observer)
        r->srv->observer(r->name, evhttp_request_get_response_code(req), r->srv->observer_arg);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    struct df_http_server *s = arg;
    struct df_http_call call;
    memset(&call, 0, sizeof(call));
    call.req = req;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const struct route *r = NULL;

    if (path && path[0] == '/') {
        r = find_route(s, path);
        if (!r) {
            const char *stripped = df_http_strip_version(path);
            if (stripped && (r = find_route(s, stripped)) != NULL)
                path = stripped;
        }
    }
    if (s->observer)
        evhttp_request_set_on_complete_cb(req, on_complete_observe,
                                          (void *)(r ? r : &s->no_route));
    if (!path || path[0] != '/') {
        df_http_reply_error(req, 400, "bad request path");
        return;
    }
    if (!r) {
        df_http_reply_error(req, 404, "not found");
        return;
    }
    call.method = method_bit(evhttp_request_get_command(req));
    if (!(call.method & r->methods)) {
        df_http_reply_error(req, 405, "method not allowed");
        return;
    }
    if (df_http_query_parse(evhttp_uri_get_query(uri), &call.query) < 0) {
        df_http_reply_error(req, 400, "malformed query string");
        return;
    }
    call.path = path;
    call.rest = r->is_prefix ? path + r->path_len : "";
    r->fn(&call, r->arg);
    df_http_query_cleanup(&call.query);
}

/* ---- listening -------------------------------------------------------------------------- */

static int make_listener(const char *addr, uint16_t port, int *is_v6_out, char err[DF_ERR_LEN])
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char host[INET6_ADDRSTRLEN + 2];
    memset(&ss, 0, sizeof(ss));
    size_t alen = strlen(addr);
    if (addr[0] == '[' && alen >= 2 && addr[alen - 1] == ']') {
        if (alen - 2 >= sizeof(host)) {
            snprintf(err, DF_ERR_LEN, "invalid bind address %s", addr);
            return -EINVAL;
        }
        memcpy(host, addr + 1, alen - 2);
        host[alen - 2] = '\0';
    } else {
        snprintf(host, sizeof(host), "%s", addr);
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    int is_v6;
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        sslen = sizeof(*s6);
        is_v6 = 1;
    } else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        sslen = sizeof(*s4);
        is_v6 = 0;
    } else {
        snprintf(err, DF_ERR_LEN, "invalid bind address %s (need an IPv4 or IPv6 literal)", addr);
        return -EINVAL;
    }
    *is_v6_out = is_v6;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, DF_ERR_LEN, "cannot create socket for %s: %s", addr, strerror(e));
        return -e;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (is_v6 && IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 511) < 0) {
        int e = errno;
        snprintf(err, DF_ERR_LEN, "cannot listen on %s%s%s:%u: %s", is_v6 ? "[" : "", host,
                 is_v6 ? "]" : "", (unsigned)port, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

struct df_http_server *df_http_server_new(struct event_base *base, const char *bind_addr,
                                          uint16_t port, size_t max_body, char err[DF_ERR_LEN])
{
    const char *addr = bind_addr && *bind_addr ? bind_addr : "::";
    int is_v6 = 0;
    int fd = make_listener(addr, port, &is_v6, err);
    /* "::" on a host without IPv6: fall back to IPv4 any. Port in use is not retried. */
    if (fd < 0 && fd != -EADDRINUSE && fd != -EACCES && strcmp(addr, "::") == 0) {
        char err2[DF_ERR_LEN];
        DF_LOGW("http", "%s; falling back to 0.0.0.0", err);
        fd = make_listener("0.0.0.0", port, &is_v6, err2);
        if (fd < 0)
            snprintf(err, DF_ERR_LEN, "%s", err2);
    }
    if (fd < 0)
        return NULL;

    struct df_http_server *s = df_xcalloc(1, sizeof(*s));
    s->no_route.srv = s;
    s->no_route.name = "";
    s->http = evhttp_new(base);
    if (!s->http) {
        snprintf(err, DF_ERR_LEN, "evhttp_new failed");
        close(fd);
        free(s);
        return NULL;
    }
    struct evhttp_bound_socket *bound = evhttp_accept_socket_with_handle(s->http, fd);
    if (!bound) {
        snprintf(err, DF_ERR_LEN, "cannot accept on port %u", (unsigned)port);
        close(fd);
        evhttp_free(s->http);
        free(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(max_body ? max_body : (1u << 20)));
    evhttp_set_max_headers_size(s->http, HEADERS_MAX);
    /* Read the rest of an oversized body before closing, so the client sees our 413 instead
     * of a connection reset. */
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_timeout(s->http, 120);
    snprintf(s->name, sizeof(s->name), "port %u", (unsigned)s->port);
    s->guard = df_listen_guard_new(base, s->http, bound, s->name, HEADERS_MAX, dispatch, s);
    return s;
}

void df_http_server_free(struct df_http_server *s)
{
    if (!s)
        return;
    df_listen_guard_free(s->guard);
    evhttp_free(s->http);
    free(s);
}

uint16_t df_http_server_port(const struct df_http_server *s) { return s->port; }

void df_http_server_route(struct df_http_server *s, const char *name, int methods,
                          const char *path, int is_prefix, df_http_handler fn, void *arg)
{
    DF_ASSERT(s->nroutes < MAX_ROUTES);
    s->routes[s->nroutes++] = (struct route){
        .srv = s, .name = name, .methods = methods, .path = path, .path_len = strlen(path),
        .is_prefix = is_prefix, .fn = fn, .arg = arg};
}

void df_http_server_set_observer(struct df_http_server *s, df_http_observer fn, void *arg)
{
    s->observer = fn;
    s->observer_arg = arg;
}

void df_http_server_set_timeout(struct df_http_server *s, int secs)
{
    evhttp_set_timeout(s->http, secs);
}

const char *df_http_req_peer_ip(struct evhttp_request *req)
{
    struct evhttp_connection *conn = req ? evhttp_request_get_connection(req) : NULL;
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    return addr ? addr : "";
}
