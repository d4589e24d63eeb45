/* SPDX-License-Identifier: Apache-2.0 */
/* dfget server: serves registered piece files to peers (spec §5). One libevent loop, evhttp,
 * zero-copy payloads (evbuffer_add_file → sendfile), one shared rate-limit group for the host's
 * upload limit, idle exit and expiry of finished files with /peer/service/down to the supernode.
 * It does not download anything and never decides which pieces exist: the supernode schedules
 * only pieces that dfget reported, and the receiver verifies every byte. */
#include "dfget_uploader.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "df_err.h"
#include "df_http_client.h"
#include "df_http_server.h"
#include "df_listen.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_token.h"
#include "df_util.h"
#include "dfget_uploader_req.h"

#define MOD "uploader"
#define GC_INTERVAL_MS 15000
#define SHUTDOWN_GRACE_MS 3000
#define UPLOAD_MAX_WRITE (1u << 20)
#define UPLOAD_HEADERS_MAX (16 * 1024)
#define UP_MAX_KEYS 4

struct up_task {
    char *name;              /* taskFileName (validated by dfget_uploader_name_ok) */
    char *path;              /* <data_dir>/<name>.service */
    char *task_id, *cid;     /* from /client/finish */
    char *supernode;         /* host:port to notify on deletion, from /client/finish */
    int is_finished;
    int64_t last_access_ms;  /* monotonic */
    uint64_t rate_req;       /* last /rate request, bytes/s */
    /* Peer authentication, set by this host's dfget through /auth after it registered. Until
     * then the file is served to nobody: its task may be private. */
    enum { UP_AUTH_UNSET = 0, UP_AUTH_PUBLIC, UP_AUTH_TOKEN } auth;
    char *auth_task_id;      /* tokens must name this task */
    unsigned char keys[UP_MAX_KEYS][DF_TOKEN_PUB_LEN]; /* supernode keys (one per supernode
                                                          the dfget registered with) */
    size_t nkeys;
    struct up_task *next;
};

struct uploader {
    const struct dfget_uploader_opts *o;
    char data_dir[PATH_MAX];          /* realpath of o->data_dir */
    char secret[DFGET_UPLOADER_SECRET_LEN + 1]; /* /auth needs it (DFGET_UPLOADER_SECRET_FILE) */
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound; /* the listener (bind_port) */
    struct df_listen_guard *guard;     /* connection limit, request deadline, accept back-off */
    struct df_http_client *hc;
    struct event *tick, *sig[3];
    struct bufferevent_rate_limit_group *group;
    struct ev_token_bucket_cfg *group_cfg;
    uint64_t total_limit;             /* bytes/s, 0 = unlimited */
    struct up_task *tasks;
    int64_t last_alive_ms, last_gc_ms, shutdown_at_ms;
    int is_stopping;
    int port;
    uint64_t bytes_served;
};

static struct up_task *task_find(struct uploader *u, const char *name)
{
    for (struct up_task *t = u->tasks; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static void task_free(struct up_task *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->path);
    free(t->task_id);
    free(t->cid);
    free(t->supernode);
    free(t->auth_task_id);
    free(t);
}

/* 1 when req comes from this host: its source address is the address it reached us at (or
 * loopback). Control requests that change who may read a file must come from here. */
static int is_local_request(struct evhttp_request *req)
{
    const char *peer = df_http_req_peer_ip(req);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char local[64] = "";
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, local, sizeof(local));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, local, sizeof(local));
    }
    return peer[0] && (df_token_same_ip(peer, local) || df_token_same_ip(peer, "127.0.0.1") ||
                       strncmp(peer, "127.", 4) == 0 || df_token_same_ip(peer, "::1"));
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; charset=utf-8");
    evbuffer_add_printf(out, "%s", body);
    evhttp_send_reply(req, code, reason, NULL);
}

/* Decoded last path component after `prefix`, or NULL if absent/invalid (heap). */
static char *path_name(struct evhttp_request *req, const char *prefix)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    size_t pl = strlen(prefix);
    if (!path || strncmp(path, prefix, pl) != 0)
        return NULL;
    size_t n = 0;
    char *name = evhttp_uridecode(path + pl, 0, &n);
    if (!name)
        return NULL;
    if (strlen(name) != n || !dfget_uploader_name_ok(name)) {
        free(name);
        return NULL;
    }
    return name;
}

static void on_file(struct evhttp_request *req, struct uploader *u)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    char *name = path_name(req, "/peer/file/");
    int fd = -1;
    if (!name) {
        reply_text(req, 400, "Bad Request", "bad task file name");
        goto out;
    }
    struct up_task *t = task_find(u, name);
    if (!t) {
        /* Dragonfly answers 500 here (spec §11.14), so old dfgets do not report FILE_NOT_EXIST. */
        reply_text(req, 500, "Internal Server Error", "failed to get taskPath: unknown task file");
        goto out;
    }
    if (t->auth != UP_AUTH_PUBLIC) {
        const char *ip = df_http_req_peer_ip(req);
        const char *why = "task file not open to peers yet";
        if (t->auth == UP_AUTH_TOKEN &&
            df_token_verify((const unsigned char(*)[DF_TOKEN_PUB_LEN])t->keys, t->nkeys,
                            evhttp_find_header(in, DF_TOKEN_HEADER), t->auth_task_id, ip,
                            (int64_t)time(NULL), NULL, &why) == 0)
            why = NULL;
        if (why) {
            char msg[160];
            snprintf(msg, sizeof(msg), "piece token refused: %s", why);
            DF_LOGW(MOD, "task %s file %s: piece request from %s refused: %s",
                    t->auth_task_id ? t->auth_task_id : "?", name, ip, why);
            reply_text(req, 403, "Forbidden", msg);
            goto out;
        }
    }
    t->last_access_ms = df_now_ms();
    fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        reply_text(req, errno == EACCES ? 403 : 404, errno == EACCES ? "Forbidden" : "Not Found",
                   "task file not on disk");
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        reply_text(req, 404, "Not Found", "task file not a regular file");
        goto out;
    }
    const char *src = evhttp_find_header(in, "cdnSource");
    struct dfget_uploader_plan plan;
    int rc = dfget_uploader_plan_piece(evhttp_find_header(in, "Range"), evhttp_find_header(in, "pieceNum"),
                                       evhttp_find_header(in, "pieceSize"), src && strcmp(src, "source") == 0,
                                       (uint64_t)st.st_size, &plan);
    if (rc == DF_ERANGE) {
        reply_text(req, 416, "Range Not Satisfiable", "range not satisfiable");
        goto out;
    }
    if (rc < 0) {
        reply_text(req, 400, "Bad Request", "bad range or piece headers");
        goto out;
    }
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    if (plan.is_wrapped)
        evbuffer_add(out, plan.head, sizeof(plan.head));
    if (plan.payload_len > 0) {
        /* evbuffer_add_file takes the fd. libevent only builds a sendfile(2) chain when the
         * buffer is flagged as draining to a socket; otherwise it mmaps the range, and every
         * piece in flight would count in our RSS (57 MiB peak with 12 MiB pieces). The chain
         * moves unchanged into the connection's buffer on send. */
        evbuffer_set_flags(out, EVBUFFER_FLAG_DRAINS_TO_FD);
        if (evbuffer_add_file(out, fd, (ev_off_t)plan.raw_off, (ev_off_t)plan.payload_len) < 0) {
            evbuffer_drain(out, evbuffer_get_length(out));
            reply_text(req, 500, "Internal Server Error", "cannot map task file");
            goto out;
        }
        fd = -1;
    }
    if (plan.is_wrapped) {
        unsigned char tail = DF_PIECE_TAIL;
        evbuffer_add(out, &tail, 1);
    }
    char cr[96];
    snprintf(cr, sizeof(cr), "bytes %llu-%llu/*", (unsigned long long)plan.range_start,
             (unsigned long long)plan.range_end);
    evhttp_add_header(oh, "Content-Range", cr);
    evhttp_add_header(oh, "Content-Type", "application/octet-stream");
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    if (bev) {
        /* libevent writes at most 16 KiB per socket event by default: one sendfile(2) and one
         * loop iteration per 16 KiB. Pieces are MiBs of zero-copy file data, so let one event
         * hand the kernel up to UPLOAD_MAX_WRITE (the rate-limit group still caps the total). */
        (void)bufferevent_set_max_single_write(bev, UPLOAD_MAX_WRITE);
        if (u->group)
            bufferevent_add_to_rate_limit_group(bev, u->group);
    }
    u->bytes_served += plan.body_len;
    evhttp_send_reply(req, 206, "Partial Content", NULL);
out:
    if (fd >= 0)
        close(fd);
    free(name);
}

static void set_total_limit(struct uploader *u, uint64_t bps)
{
    if (bps == u->total_limit)
        return;
    u->total_limit = bps;
    if (bps == 0) {
        /* libevent cannot detach a group from live connections; an effectively unlimited rate
         * does the same job. */
        bps = (uint64_t)INT32_MAX;
    }
    /* Refill every 10 ms so the bucket stays smooth at high rates. */
    struct timeval tick = {0, 10000};
    size_t per_tick = (size_t)DF_MAX(bps / 100, 16 * 1024);
    struct ev_token_bucket_cfg *cfg = ev_token_bucket_cfg_new(per_tick, per_tick * 2, per_tick, per_tick * 2, &tick);
    if (!cfg)
        return;
    if (!u->group) {
        u->group = bufferevent_rate_limit_group_new(u->base, cfg);
    } else {
        bufferevent_rate_limit_group_set_cfg(u->group, cfg);
    }
    if (u->group_cfg)
        ev_token_bucket_cfg_free(u->group_cfg);
    u->group_cfg = cfg;
    DF_LOGI(MOD, "upload limit set to %llu B/s", (unsigned long long)u->total_limit);
}

static void on_check(struct evhttp_request *req, struct uploader *u)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    char *name = path_name(req, "/check/");
    if (!name) {
        reply_text(req, 400, "Bad Request", "bad task file name");
        return;
    }
    /* Only our own data directory may be registered: a remote caller must never be able to
     * make us serve files from anywhere else. */
    const char *dd = evhttp_find_header(in, "dataDir");
    char real[PATH_MAX];
    if (dd && *dd && (!realpath(dd, real) || strcmp(real, u->data_dir) != 0)) {
        reply_text(req, 403, "Forbidden", "dataDir is not this uploader's data directory");
        free(name);
        return;
    }
    const char *tl = evhttp_find_header(in, "totalLimit");
    uint64_t limit;
    if (tl && df_parse_u64(tl, &limit) == 0 && limit > 0)
        set_total_limit(u, limit);
    struct up_task *t = task_find(u, name);
    if (!t) {
        t = df_xcalloc(1, sizeof(*t));
        t->name = df_xstrdup(name);
        t->path = df_xasprintf("%s/%s.service", u->data_dir, name);
        t->next = u->tasks;
        u->tasks = t;
        DF_LOGI(MOD, "registered task file %s", name);
    }
    t->last_access_ms = df_now_ms();
    char body[300];
    snprintf(body, sizeof(body), "%s@%s", name, DF_VERSION);
    reply_text(req, 200, "OK", body);
    free(name);
}

/* GET /auth/<name>?taskId=&mode=public|token[&key=<base64url>] with dataDir, from this host
 * only: who may read the file (dfget, after its registration). "token" adds the key of the
 * supernode that signs the tokens (up to UP_MAX_KEYS, for failover between supernodes). */
static void on_auth(struct evhttp_request *req, struct uploader *u)
{
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    char *name = path_name(req, "/auth/");
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *dd = evhttp_find_header(evhttp_request_get_input_headers(req), "dataDir");
    char real[PATH_MAX];
    /* Only this host's dfget, which can read the secret file in our data directory: a request
     * that merely comes from this host (another user, or a server on it tricked into fetching
     * a URL) cannot open a private file to everyone. */
    const char *sec = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         DFGET_UPLOADER_SECRET_HEADER);
    if (!is_local_request(req) || !dd || !realpath(dd, real) || strcmp(real, u->data_dir) != 0 ||
        !sec || strlen(sec) != DFGET_UPLOADER_SECRET_LEN ||
        CRYPTO_memcmp(sec, u->secret, DFGET_UPLOADER_SECRET_LEN) != 0) {
        reply_text(req, 403, "Forbidden", "auth is for this host's dfget only");
        goto out;
    }
    struct up_task *t = name ? task_find(u, name) : NULL;
    if (!t || !query || evhttp_parse_query_str(query, &q) < 0) {
        reply_text(req, 400, "Bad Request", "unknown task file or bad query");
        goto out;
    }
    const char *tid = evhttp_find_header(&q, "taskId");
    const char *mode = evhttp_find_header(&q, "mode");
    const char *key = evhttp_find_header(&q, "key");
    unsigned char raw[DF_TOKEN_PUB_LEN];
    if (!tid || !*tid || strlen(tid) > DF_TASKID_LEN || !mode ||
        (strcmp(mode, "public") != 0 && strcmp(mode, "token") != 0) ||
        (strcmp(mode, "token") == 0 && (!key || df_token_pub_decode(key, raw) < 0))) {
        reply_text(req, 400, "Bad Request", "bad taskId, mode or key");
        goto out;
    }
    if (t->auth_task_id && strcmp(t->auth_task_id, tid) != 0) {
        t->nkeys = 0; /* another task now (a re-registration with another identity) */
    }
    free(t->auth_task_id);
    t->auth_task_id = df_xstrdup(tid);
    if (strcmp(mode, "token") == 0) {
        t->auth = UP_AUTH_TOKEN;
        size_t i;
        for (i = 0; i < t->nkeys && memcmp(t->keys[i], raw, sizeof(raw)) != 0; i++)
            ;
        if (i == t->nkeys) {
            if (t->nkeys == UP_MAX_KEYS) { /* the oldest supernode goes */
                memmove(t->keys[0], t->keys[1], (UP_MAX_KEYS - 1) * sizeof(raw));
                t->nkeys--;
            }
            memcpy(t->keys[t->nkeys++], raw, sizeof(raw));
        }
    } else {
        t->auth = UP_AUTH_PUBLIC;
    }
    DF_LOGI(MOD, "task file %s (task %s): %s", name, tid,
            t->auth == UP_AUTH_TOKEN ? "pieces need a token" : "public");
    reply_text(req, 200, "OK", "success");
out:
    evhttp_clear_headers(&q);
    free(name);
}

static void on_rate(struct evhttp_request *req, struct uploader *u)
{
    char *name = path_name(req, "/rate/");
    uint64_t want;
    const char *rl = evhttp_find_header(evhttp_request_get_input_headers(req), "rateLimit");
    if (!name || !rl || df_parse_u64(rl, &want) < 0) {
        reply_text(req, 400, "Bad Request", "bad rate request");
        free(name);
        return;
    }
    struct up_task *t = task_find(u, name);
    if (t)
        t->rate_req = want;
    uint64_t grant = want;
    if (u->total_limit > 0) {
        uint64_t sum = 0;
        for (struct up_task *x = u->tasks; x; x = x->next)
            if (!x->is_finished)
                sum += x->rate_req;
        if (sum > u->total_limit)
            grant = (want * u->total_limit + sum - 1) / sum;
    }
    char body[32];
    snprintf(body, sizeof(body), "%llu", (unsigned long long)grant);
    reply_text(req, 200, "OK", body);
    free(name);
}

static void on_finish(struct evhttp_request *req, struct uploader *u)
{
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!query || evhttp_parse_query_str(query, &q) < 0) {
        reply_text(req, 400, "Bad Request", "invalid params");
        return;
    }
    const char *name = evhttp_find_header(&q, "taskFileName");
    const char *tid = evhttp_find_header(&q, "taskID");
    const char *cid = evhttp_find_header(&q, "cid");
    const char *sn = evhttp_find_header(&q, "superNode");
    struct up_task *t = NULL;
    if (!name || !*name || !tid || !*tid || !cid || !*cid || !(t = task_find(u, name))) {
        reply_text(req, 400, "Bad Request", "invalid params");
        goto out;
    }
    t->is_finished = 1;
    t->last_access_ms = df_now_ms();
    free(t->task_id);
    free(t->cid);
    free(t->supernode);
    t->task_id = df_xstrdup(tid);
    t->cid = df_xstrdup(cid);
    t->supernode = sn && *sn ? df_xstrdup(sn) : NULL;
    reply_text(req, 200, "OK", "success");
out:
    evhttp_clear_headers(&q);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct uploader *u = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        reply_text(req, 405, "Method Not Allowed", "only GET");
        return;
    }
    if (strncmp(path, "/peer/file/", 11) == 0) {
        u->last_alive_ms = df_now_ms();
        on_file(req, u);
    } else if ((strncmp(path, "/check/", 7) == 0 || strcmp(path, "/client/finish") == 0) &&
               !is_local_request(req)) {
        /* control endpoints of this host's dfget: a remote caller must not register names,
         * expire files or make us notify a "supernode" of its choice */
        reply_text(req, 403, "Forbidden", "for this host's dfget only");
    } else if (strncmp(path, "/check/", 7) == 0) {
        u->last_alive_ms = df_now_ms();
        on_check(req, u);
    } else if (strncmp(path, "/auth/", 6) == 0) {
        u->last_alive_ms = df_now_ms();
        on_auth(req, u);
    } else if (strncmp(path, "/rate/", 6) == 0) {
        u->last_alive_ms = df_now_ms();
        on_rate(req, u);
    } else if (strcmp(path, "/client/finish") == 0) {
        on_finish(req, u);
    } else if (strcmp(path, "/server/ping") == 0) {
        reply_text(req, 200, "OK", "success");
    } else {
        reply_text(req, 404, "Not Found", "not found");
    }
}

static void on_down_done(struct df_http_req *r, int err, long status, void *arg)
{
    char *what = arg;
    if (err || status != 200)
        DF_LOGW(MOD, "service/down for %s failed: %s (HTTP %ld)", what, df_strerror(err), status);
    free(what);
}

/* Tells the supernode this task's file is gone, then deletes the file. */
static void task_retire(struct uploader *u, struct up_task *t)
{
    if (t->supernode && t->task_id && t->cid) {
        char *url = df_xasprintf("http://%s/peer/service/down?taskId=%s&cid=%s", t->supernode, t->task_id, t->cid);
        struct df_http_opts o = {.url = url, .timeout_ms = 2000, .connect_timeout_ms = 1000};
        if (!df_http_req_start(u->hc, &o, NULL, NULL, on_down_done, df_xstrdup(t->name), NULL))
            DF_LOGW(MOD, "cannot send service/down for %s", t->name);
        free(url);
    }
    if (t->is_finished && unlink(t->path) < 0 && errno != ENOENT)
        DF_LOGW(MOD, "cannot delete %s: %s", t->path, strerror(errno));
    DF_LOGI(MOD, "retired task file %s", t->name);
}

static void gc_expired(struct uploader *u, int64_t now)
{
    for (struct up_task **pp = &u->tasks; *pp;) {
        struct up_task *t = *pp;
        struct stat st;
        int64_t mtime_age = 0;
        if (stat(t->path, &st) == 0)
            mtime_age = df_wall_ms() - ((int64_t)st.st_mtim.tv_sec * 1000);
        int64_t idle = DF_MIN(now - t->last_access_ms, mtime_age > 0 ? mtime_age : INT64_MAX);
        if (t->is_finished && idle > u->o->expire_ms) {
            task_retire(u, t);
            *pp = t->next;
            task_free(t);
            continue;
        }
        pp = &t->next;
    }
}

/* Service files nobody registered with us (a dfget whose uploader died before the file was
 * handed over): removed once untouched for expire_ms. Only plain names ending in ".service"
 * directly in the data dir; nothing is followed, nothing else is touched. */
static void gc_unknown(struct uploader *u)
{
    DIR *d = opendir(u->data_dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *e;
    int64_t now = df_wall_ms();
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        const size_t sl = sizeof(".service") - 1;
        if (n <= sl || strcmp(e->d_name + n - sl, ".service") != 0)
            continue;
        char name[NAME_MAX + 1];
        memcpy(name, e->d_name, n - sl);
        name[n - sl] = '\0';
        struct stat st;
        if (task_find(u, name) || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            S_ISDIR(st.st_mode))
            continue;
        int64_t age = now - (int64_t)st.st_mtim.tv_sec * 1000;
        if (age > u->o->expire_ms && unlinkat(dfd, e->d_name, 0) == 0)
            DF_LOGI(MOD, "removed unregistered stale file %s", e->d_name);
    }
    closedir(d);
}

static void begin_shutdown(struct uploader *u, const char *why)
{
    if (u->is_stopping)
        return;
    u->is_stopping = 1;
    u->shutdown_at_ms = df_now_ms();
    DF_LOGI(MOD, "shutting down: %s", why);
    for (struct up_task *t = u->tasks; t; t = t->next)
        task_retire(u, t);
    if (u->o->meta_path) {
        FILE *f = fopen(u->o->meta_path, "w");
        if (f) {
            fprintf(f, "{\"servicePort\":0}\n");
            fclose(f);
        }
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct uploader *u = arg;
    int64_t now = df_now_ms();
    if (u->is_stopping) {
        /* Let the service/down requests finish, bounded by the grace period. */
        if (df_http_client_active(u->hc) == 0 || now - u->shutdown_at_ms > SHUTDOWN_GRACE_MS)
            event_base_loopbreak(u->base);
        return;
    }
    if (now - u->last_gc_ms >= GC_INTERVAL_MS) {
        u->last_gc_ms = now;
        gc_expired(u, now);
        gc_unknown(u);
    }
    if (now - u->last_alive_ms > u->o->alive_ms)
        begin_shutdown(u, "idle");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    begin_shutdown(arg, "signal");
}

static int bind_port(struct uploader *u, char *err, size_t errlen)
{
    const char *ip = u->o->ip && *u->o->ip ? u->o->ip : "0.0.0.0";
    if (u->o->port > 0) {
        if ((u->bound = evhttp_bind_socket_with_handle(u->http, ip, (ev_uint16_t)u->o->port))) {
            u->port = u->o->port;
            return 0;
        }
        snprintf(err, errlen, "cannot listen on %s:%d: %s", ip, u->o->port, strerror(errno));
        return -EADDRINUSE;
    }
    /* A port the kernel picks from its ephemeral range (32768–60999 by default) if that lies in
     * 15000–65000 (old supernodes reject other peer ports, spec §11.7): unlike Dragonfly's
     * time-based choice below, uploaders of several work homes started together do not all
     * race for the same few ports. */
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(u->http, ip, 0);
    if (bs) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int p = 0;
        if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
            p = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
        if (p >= 15000 && p <= 65000) {
            u->port = p;
            u->bound = bs;
            return 0;
        }
        evhttp_del_accept_socket(u->http, bs);
    }
    /* Dragonfly's choice (spec §5.2): 15000 + (unixtime/300) mod 50000, next ports on collision;
     * then random ports in the same range. */
    int base_port = 15000 + (int)((time(NULL) / 300) % 50000);
    unsigned seed = (unsigned)(df_now_us() ^ getpid());
    for (int i = 0; i < 40; i++) {
        int p = i < 10 ? base_port + i : 15000 + (int)(rand_r(&seed) % 50000);
        if (p > 65000)
            p -= 50000;
        if ((u->bound = evhttp_bind_socket_with_handle(u->http, ip, (ev_uint16_t)p))) {
            u->port = p;
            return 0;
        }
    }
    snprintf(err, errlen, "no free port in 15000-65000 on %s", ip);
    return -EADDRINUSE;
}

/* A fresh random secret in <data_dir>/DFGET_UPLOADER_SECRET_FILE (0600, replaced atomically,
 * never through a link): whoever can read it may call /auth. */
static int write_secret(struct uploader *u)
{
    unsigned char raw[DFGET_UPLOADER_SECRET_LEN / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(u->secret + 2 * i, 3, "%02x", raw[i]);
    char *path = df_xasprintf("%s/%s", u->data_dir, DFGET_UPLOADER_SECRET_FILE);
    char *tmp = df_xasprintf("%s.%d.tmp", path, (int)getpid());
    int rc = df_write_file_atomic(path, tmp, u->secret, DFGET_UPLOADER_SECRET_LEN, 0600);
    free(path);
    free(tmp);
    return rc;
}

int dfget_uploader_run(const struct dfget_uploader_opts *o, char *err, size_t errlen)
{
    int rc = 0;
    struct uploader u = {.o = o};
    if (!o->data_dir || (rc = df_mkdir_p(o->data_dir, 0755)) < 0 || !realpath(o->data_dir, u.data_dir)) {
        snprintf(err, errlen, "bad data dir %s", o->data_dir ? o->data_dir : "(none)");
        return rc < 0 ? rc : -EINVAL;
    }
    if ((rc = write_secret(&u)) < 0) {
        snprintf(err, errlen, "cannot write %s/%s: %s", u.data_dir, DFGET_UPLOADER_SECRET_FILE,
                 strerror(-rc));
        return rc;
    }
    u.base = event_base_new();
    u.http = evhttp_new(u.base);
    u.hc = df_http_client_new(u.base);
    if (!u.base || !u.http || !u.hc) {
        snprintf(err, errlen, "cannot create event loop");
        rc = -ENOMEM;
        goto out;
    }
    evhttp_set_gencb(u.http, on_request, &u);
    evhttp_set_allowed_methods(u.http, EVHTTP_REQ_GET);
    evhttp_set_max_headers_size(u.http, UPLOAD_HEADERS_MAX);
    evhttp_set_max_body_size(u.http, 4096);
    evhttp_set_timeout(u.http, 120);
    if ((rc = bind_port(&u, err, errlen)) < 0)
        goto out;
    u.guard = df_listen_guard_new(u.base, u.http, u.bound, "uploader", UPLOAD_HEADERS_MAX,
                                  on_request, &u);
    if (o->meta_path) {
        char *dir = df_xstrdup(o->meta_path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (df_mkdir_p(dir, 0755) < 0)
                DF_LOGW(MOD, "cannot create %s", dir);
        }
        free(dir);
        FILE *f = fopen(o->meta_path, "w");
        if (f) {
            fprintf(f, "{\"servicePort\":%d}\n", u.port);
            fclose(f);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        u.sig[i] = evsignal_new(u.base, sigs[i], on_signal, &u);
        event_add(u.sig[i], NULL);
    }
    u.last_alive_ms = u.last_gc_ms = df_now_ms();
    u.tick = event_new(u.base, -1, EV_PERSIST, on_tick, &u);
    struct timeval tv = {0, 200000};
    event_add(u.tick, &tv);
    printf("dfget uploader server port is %d\n", u.port);
    fflush(stdout);
    /* The starting dfget reads this one line from a pipe and closes it: later writes to
     * stdout must not fail (or raise SIGPIPE), so it goes to /dev/null from now on. */
    int nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (nullfd >= 0) {
        if (!isatty(1))
            dup2(nullfd, 1);
        close(nullfd);
    }
    DF_LOGI(MOD, "listening on %s:%d, data %s", o->ip && *o->ip ? o->ip : "0.0.0.0", u.port, u.data_dir);
    event_base_dispatch(u.base);
    DF_LOGI(MOD, "stopped; served %llu bytes", (unsigned long long)u.bytes_served);
out:
    while (u.tasks) {
        struct up_task *t = u.tasks;
        u.tasks = t->next;
        task_free(t);
    }
    for (int i = 0; i < 3; i++)
        if (u.sig[i])
            event_free(u.sig[i]);
    if (u.tick)
        event_free(u.tick);
    df_http_client_free(u.hc);
    df_listen_guard_free(u.guard);
    if (u.http)
        evhttp_free(u.http);
    if (u.group)
        bufferevent_rate_limit_group_free(u.group);
    if (u.group_cfg)
        ev_token_bucket_cfg_free(u.group_cfg);
    if (u.base)
        event_base_free(u.base);
    return rc;
}

int dfget_uploader_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ip", required_argument, NULL, 'i'},       {"port", required_argument, NULL, 'p'},
        {"meta", required_argument, NULL, 'm'},     {"data", required_argument, NULL, 'd'},
        {"home", required_argument, NULL, 'h'},     {"expiretime", required_argument, NULL, 'e'},
        {"alivetime", required_argument, NULL, 'a'}, {"verbose", no_argument, NULL, 'v'},
        {"max-connections", required_argument, NULL, 'M'},
        {"header-timeout", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct dfget_uploader_opts o = {.expire_ms = 3 * 60000, .alive_ms = 5 * 60000};
    struct df_listen_limits lim = {0};
    char *home_default = NULL, *data_default = NULL, *meta_default = NULL, *log_path = NULL;
    int c, rc = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': o.ip = optarg; break;
        case 'p':
            if (df_parse_int(optarg, &o.port) < 0 || o.port < 0 || o.port > 65535) {
                fprintf(stderr, "dfget server: bad --port %s\n", optarg);
                goto out;
            }
            break;
        case 'm': o.meta_path = optarg; break;
        case 'd': o.data_dir = optarg; break;
        case 'h': o.home = optarg; break;
        case 'e':
        case 'a': {
            int64_t ms;
            if (df_parse_duration_ms(optarg, &ms) < 0 || ms <= 0) {
                fprintf(stderr, "dfget server: bad duration %s\n", optarg);
                goto out;
            }
            if (c == 'e')
                o.expire_ms = ms;
            else
                o.alive_ms = ms;
            break;
        }
        case 'v': o.is_verbose = 1; break;
        case 'M':
            if (df_parse_int(optarg, &lim.max_conns) < 0 || lim.max_conns < 1) {
                fprintf(stderr, "dfget server: bad --max-connections %s\n", optarg);
                goto out;
            }
            break;
        case 'H': {
            int64_t ms;
            if (df_parse_duration_ms(optarg, &ms) < 0 || ms <= 0 || ms > 3600000) {
                fprintf(stderr, "dfget server: bad --header-timeout %s\n", optarg);
                goto out;
            }
            lim.header_timeout_ms = (int)ms;
            break;
        }
        default: fprintf(stderr, "dfget server: unknown flag\n"); goto out;
        }
    }
    if (!o.home) {
        const char *h = getenv("HOME");
        home_default = df_path_join(h && *h ? h : "/root", ".small-dragonfly");
        o.home = home_default;
    }
    if (!o.data_dir)
        o.data_dir = data_default = df_path_join(o.home, "data");
    if (!o.meta_path)
        o.meta_path = meta_default = df_path_join(o.home, "meta/host.meta");
    log_path = df_path_join(o.home, "logs/dfserver.log");
    if (df_log_open_file(log_path) < 0)
        fprintf(stderr, "dfget server: cannot open %s, logging to stderr\n", log_path);
    df_log_set_level(o.is_verbose ? DF_LOG_DEBUG : DF_LOG_INFO);
    df_listen_raise_nofile(MOD);
    df_listen_set_limits(&lim);
    char err[DF_ERR_LEN] = "";
    if (dfget_uploader_run(&o, err, sizeof(err)) < 0) {
        fprintf(stderr, "dfget server: %s\n", err);
        DF_LOGE(MOD, "%s", err);
        goto out;
    }
    rc = 0;
out:
    free(home_default);
    free(data_default);
    free(meta_default);
    free(log_path);
    return rc;
}
