/* SPDX-License-Identifier: Apache-2.0 */
/* Finding, starting and talking to the work home's uploader from dfget (spec §5.2): host.meta,
 * /check, the meta-dir flock, the detached `dfget server` child and its port line,
 * /client/finish. Blocking on purpose (start-up and shutdown only), every wait bounded; HTTP
 * goes through df_http_client on a private event_base per request. */
#include "dfget_upctl.h"
#include "dfget_uploader.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "df_http_client.h"
#include "df_json.h"
#include "df_log.h"
#include "df_util.h"
#include "dfget_msg.h"

#define MOD "upctl"
#define CHECK_TIMEOUT_MS 1500
#define LOCK_WAIT_MS 4000
#define PORT_LINE_WAIT_MS 2000
#define FINISH_TIMEOUT_MS 2000

/* ---- pure ------------------------------------------------------------------------------------ */

int dfget_upctl_parse_meta(const char *json, size_t len, int *port)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    int rc = -EINVAL;
    int64_t p = 0;
    if (!o || !json_is_object(o))
        goto out;
    int r = df_json_int_ci(o, "servicePort", &p);
    if (r == -ENOENT || (r == 0 && p == 0)) {
        rc = -ENOENT;
        goto out;
    }
    if (r < 0 || p < 0 || p > 65535)
        goto out;
    *port = (int)p;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

int dfget_upctl_check_body_ok(const char *body, size_t len, const char *name, const char *version)
{
    size_t nl = strlen(name), vl = strlen(version);
    return body && len == nl + 1 + vl && memcmp(body, name, nl) == 0 && body[nl] == '@' &&
           memcmp(body + nl + 1, version, vl) == 0;
}

int dfget_upctl_parse_port_line(const char *text, size_t len, int *port)
{
    const char *nl = memchr(text, '\n', len);
    size_t n = nl ? (size_t)(nl - text) : len;
    while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    size_t s = n;
    while (s > 0 && text[s - 1] != ' ')
        s--;
    char tok[16];
    if (n == s || n - s >= sizeof(tok))
        return -EINVAL;
    memcpy(tok, text + s, n - s);
    tok[n - s] = '\0';
    int p;
    if (df_parse_int(tok, &p) < 0 || p < 1 || p > 65535)
        return -EINVAL;
    *port = p;
    return 0;
}

void dfget_upctl_task_file_name(const char *base, const char *sign, char *out, size_t len)
{
    char b[161];
    size_t n = 0;
    const char *p = base ? base : "";
    while (*p == '.')
        p++;
    for (; *p && n < sizeof(b) - 1; p++) {
        unsigned char c = (unsigned char)*p;
        b[n++] = (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) ? '_' : (char)c;
    }
    b[n] = '\0';
    snprintf(out, len, "%s-%s", n ? b : "file", sign);
}

enum dfget_upctl_share dfget_upctl_link_decision(int link_errno)
{
    switch (link_errno) {
    case 0:
        return DFGET_SHARE_LINK;
    case EXDEV:
    case EPERM:
    case EMLINK:
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
    case ENOSYS:
        return DFGET_SHARE_COPY;
    default:
        return DFGET_SHARE_NONE;
    }
}

/* ---- one blocking GET on a private loop ---------------------------------------------------- */

struct sync_get {
    struct event_base *base;
    int err;
    long status;
    char body[512];
    size_t len;
};

static void on_sync_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct sync_get *g = arg;
    g->err = err;
    g->status = status;
    size_t n = 0;
    const char *b = err ? NULL : df_http_req_body(req, &n);
    g->len = b ? DF_MIN(n, sizeof(g->body) - 1) : 0;
    if (b)
        memcpy(g->body, b, g->len);
    g->body[g->len] = '\0';
    event_base_loopbreak(g->base);
}

/* Returns 0 when a response arrived (check g->status), else a transport error. */
static int sync_get(const char *url, const char *const *headers, int64_t timeout_ms,
                    struct sync_get *g)
{
    memset(g, 0, sizeof(*g));
    g->err = DF_ECANCELED;
    g->base = event_base_new();
    struct df_http_client *hc = g->base ? df_http_client_new(g->base) : NULL;
    if (!hc) {
        if (g->base)
            event_base_free(g->base);
        return -ENOMEM;
    }
    struct df_http_opts o = {.url = url, .headers = headers, .timeout_ms = timeout_ms,
                             .connect_timeout_ms = DF_MIN(timeout_ms, 1000), .max_body = 4096,
                             .is_fresh_connect = 1};
    int err = 0;
    if (df_http_req_start(hc, &o, NULL, NULL, on_sync_done, g, &err))
        event_base_dispatch(g->base);
    else
        g->err = err ? err : -EINVAL;
    df_http_client_free(hc);
    event_base_free(g->base);
    g->base = NULL;
    return g->err;
}

static char *enc(const char *s)
{
    char *e = evhttp_encode_uri(s);
    if (!e)
        abort();
    return e;
}

/* ---- uploader discovery and start ---------------------------------------------------------- */

struct ctl {
    const struct dfget_upctl_opts *o;
    char data_dir[PATH_MAX]; /* absolute */
    char *meta_dir, *meta_path, *log_dir;
};

static int read_meta_port(const struct ctl *c, int *port)
{
    char buf[256];
    FILE *f = fopen(c->meta_path, "r");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return dfget_upctl_parse_meta(buf, n, port);
}

/* /check/<task>: 0 when the uploader on `port` is ours and registered the task. */
static int probe(const struct ctl *c, int port, char err[DF_ERR_LEN])
{
    char *base = dfget_msg_base_url(c->o->ip, (unsigned)port);
    char *name = enc(c->o->task_file);
    char *url = df_xasprintf("%s/check/%s", base, name);
    char dd[PATH_MAX + 16], tl[64];
    snprintf(dd, sizeof(dd), "dataDir: %s", c->data_dir);
    snprintf(tl, sizeof(tl), "totalLimit: %llu", (unsigned long long)c->o->total_limit_bps);
    const char *hdrs[] = {dd, tl, NULL};
    struct sync_get g;
    int rc = sync_get(url, hdrs, CHECK_TIMEOUT_MS, &g);
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "uploader at port %d: /check failed: %s", port, df_strerror(rc));
    } else if (g.status != 200 ||
               !dfget_upctl_check_body_ok(g.body, g.len, c->o->task_file, DF_VERSION)) {
        snprintf(err, DF_ERR_LEN, "uploader at port %d: /check answered HTTP %ld '%.80s', "
                 "want '%.80s@%s'", port, g.status, g.body, c->o->task_file, DF_VERSION);
        rc = DF_EPROTO;
    }
    free(base);
    free(name);
    free(url);
    return rc;
}

/* Exclusive flock on the meta dir, waiting at most LOCK_WAIT_MS. Returns the fd or -errno. */
static int lock_meta(const struct ctl *c)
{
    int fd = open(c->meta_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int64_t deadline = df_now_ms() + LOCK_WAIT_MS;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        int e = errno;
        if ((e != EWOULDBLOCK && e != EINTR) || df_now_ms() >= deadline) {
            close(fd);
            return e == EWOULDBLOCK ? -ETIMEDOUT : -e;
        }
        usleep(20000);
    }
}

/* Reads the child's stdout until a newline, EOF or the deadline. */
static size_t read_port_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    int64_t deadline = df_now_ms() + PORT_LINE_WAIT_MS;
    while (n < cap - 1 && !memchr(buf, '\n', n)) {
        int64_t left = deadline - df_now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Starts `<self> server …` in its own session, reparented (double fork), stdin /dev/null,
 * stdout a pipe for the port line, stderr appended to logs/dfserver.log. */
static int spawn(const struct ctl *c, int *port, char err[DF_ERR_LEN])
{
    const struct dfget_upctl_opts *o = c->o;
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (el <= 0) {
        snprintf(err, DF_ERR_LEN, "cannot find our own binary: %s", strerror(errno));
        return -errno;
    }
    exe[el] = '\0';
    char sport[16], sexp[32], salive[32];
    snprintf(sport, sizeof(sport), "%d", o->port > 0 ? o->port : 0);
    snprintf(sexp, sizeof(sexp), "%lldms", (long long)o->expire_ms);
    snprintf(salive, sizeof(salive), "%lldms", (long long)o->alive_ms);
    const char *argv[] = {exe, "server", "--ip", o->ip, "--port", sport, "--meta", c->meta_path,
                          "--data", c->data_dir, "--home", o->home, "--expiretime", sexp,
                          "--alivetime", salive, o->is_verbose ? "--verbose" : NULL, NULL};
    char *log_path = df_path_join(c->log_dir, "dfserver.log");
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    free(log_path);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int pfd[2] = {-1, -1};
    int rc = 0;
    if (nullfd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
        rc = -errno;
        snprintf(err, DF_ERR_LEN, "cannot prepare the uploader's stdio: %s", strerror(errno));
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        snprintf(err, DF_ERR_LEN, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) { /* async-signal-safe calls only from here to execv */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        pid_t gc = fork();
        if (gc != 0)
            _exit(gc < 0 ? 127 : 0);
        dup2(nullfd, 0);
        dup2(pfd[1], 1);
        dup2(logfd >= 0 ? logfd : nullfd, 2);
        close_range(3, ~0u, 0);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    char line[256];
    size_t n = read_port_line(pfd[0], line, sizeof(line));
    if (dfget_upctl_parse_port_line(line, n, port) < 0) {
        snprintf(err, DF_ERR_LEN, "the uploader did not announce its port within %d ms (got '%.60s')",
                 PORT_LINE_WAIT_MS, line);
        rc = DF_EPROTO;
    }
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (nullfd >= 0)
        close(nullfd);
    if (logfd >= 0)
        close(logfd);
    return rc;
}

int dfget_upctl_ensure(const struct dfget_upctl_opts *o, int *port, int *is_started,
                       char err[DF_ERR_LEN])
{
    struct ctl c = {.o = o};
    char *data = df_path_join(o->home, "data");
    c.meta_dir = df_path_join(o->home, "meta");
    c.meta_path = df_path_join(c.meta_dir, "host.meta");
    c.log_dir = df_path_join(o->home, "logs");
    int rc, lockfd = -1, p = 0;
    char perr[DF_ERR_LEN] = "";
    *is_started = 0;
    if ((rc = df_mkdir_p(data, 0755)) < 0 || (rc = df_mkdir_p(c.meta_dir, 0755)) < 0 ||
        (rc = df_mkdir_p(c.log_dir, 0755)) < 0 || (!realpath(data, c.data_dir) && (rc = -errno))) {
        snprintf(err, DF_ERR_LEN, "cannot prepare the work home %s: %s", o->home, df_strerror(rc));
        goto out;
    }
    if (read_meta_port(&c, &p) == 0 && probe(&c, p, perr) == 0)
        goto found;
    if ((lockfd = lock_meta(&c)) < 0) {
        rc = lockfd;
        snprintf(err, DF_ERR_LEN, "cannot lock %s: %s", c.meta_dir, df_strerror(rc));
        goto out;
    }
    /* Another dfget may have started one while we waited for the lock. */
    if (read_meta_port(&c, &p) == 0 && probe(&c, p, perr) == 0)
        goto found;
    if (perr[0])
        DF_LOGI(MOD, "not reusing the uploader: %s", perr);
    if ((rc = spawn(&c, &p, err)) < 0)
        goto out;
    if ((rc = probe(&c, p, err)) < 0)
        goto out;
    *is_started = 1;
    DF_LOGI(MOD, "started an uploader on %s port %d", o->ip, p);
found:
    if (!*is_started)
        DF_LOGI(MOD, "reusing the uploader on %s port %d", o->ip, p);
    *port = p;
    rc = 0;
out:
    if (lockfd >= 0)
        close(lockfd); /* releases the flock */
    free(data);
    free(c.meta_dir);
    free(c.meta_path);
    free(c.log_dir);
    return rc;
}

int dfget_upctl_finish(const char *ip, int port, const char *task_file, const char *task_id,
                       const char *cid, const char *supernode, char err[DF_ERR_LEN])
{
    char *base = dfget_msg_base_url(ip, (unsigned)port);
    char *a = enc(task_file), *b = enc(task_id ? task_id : ""), *c = enc(cid ? cid : ""),
         *d = enc(supernode ? supernode : "");
    char *url = df_xasprintf("%s/client/finish?taskFileName=%s&taskID=%s&cid=%s&superNode=%s",
                             base, a, b, c, d);
    struct sync_get g;
    int rc = sync_get(url, NULL, FINISH_TIMEOUT_MS, &g);
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "/client/finish on port %d failed: %s", port, df_strerror(rc));
    } else if (g.status != 200 || strcmp(g.body, "success") != 0) {
        snprintf(err, DF_ERR_LEN, "/client/finish on port %d answered HTTP %ld '%.80s'", port,
                 g.status, g.body);
        rc = DF_EHTTP;
    }
    free(base);
    free(a);
    free(b);
    free(c);
    free(d);
    free(url);
    return rc;
}

char *dfget_upctl_rate_url(const char *ip, int port, const char *task_file)
{
    char *base = dfget_msg_base_url(ip, (unsigned)port);
    char *name = enc(task_file);
    char *url = df_xasprintf("%s/rate/%s", base, name);
    free(base);
    free(name);
    return url;
}

const char *dfget_upctl_auth_mode(int is_piece_auth, const char *piece_key, int has_credentials)
{
    if (is_piece_auth)
        return piece_key && *piece_key ? "token" : NULL;
    return has_credentials ? NULL : "public";
}

char *dfget_upctl_auth_url(const char *ip, int port, const char *task_file, const char *task_id,
                           const char *mode, const char *key)
{
    char *base = dfget_msg_base_url(ip, (unsigned)port);
    char *name = enc(task_file);
    char *url = df_xasprintf("%s/auth/%s?taskId=%s&mode=%s%s%s", base, name, task_id, mode,
                             key && *key ? "&key=" : "", key && *key ? key : "");
    free(base);
    free(name);
    return url;
}

int dfget_upctl_auth_headers(const char *data_dir, char *h[3])
{
    h[0] = h[1] = h[2] = NULL;
    char *path = df_xasprintf("%s/%s", data_dir, DFGET_UPLOADER_SECRET_FILE);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return -errno;
    char buf[DFGET_UPLOADER_SECRET_LEN + 2];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != DFGET_UPLOADER_SECRET_LEN)
        return -EINVAL;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)buf[i]))
            return -EINVAL;
    h[0] = df_xasprintf("dataDir: %s", data_dir);
    h[1] = df_xasprintf("%s: %s", DFGET_UPLOADER_SECRET_HEADER, buf);
    return 0;
}

struct df_http_req *dfget_upctl_auth_start(struct df_http_client *http, const char *ip, int port,
                                           const char *task_file, const char *data_dir,
                                           const struct dfget_reg_reply *rep, int has_credentials,
                                           void (*cb)(struct df_http_req *, int, long, void *),
                                           void *arg)
{
    const char *mode = dfget_upctl_auth_mode(rep->is_piece_auth, rep->piece_key, has_credentials);
    if (!mode) {
        DF_LOGW("upctl", "task %s: the download carries credentials and the supernode gave no "
                "piece key: %s stays closed to peers", rep->task_id, task_file);
        return NULL;
    }
    char *h[3];
    int rc = dfget_upctl_auth_headers(data_dir, h);
    if (rc < 0) {
        DF_LOGW("upctl", "no uploader secret in %s (%s): %s stays closed to peers", data_dir,
                df_strerror(rc), task_file);
        return NULL;
    }
    char *url = dfget_upctl_auth_url(ip, port, task_file, rep->task_id, mode, rep->piece_key);
    struct df_http_opts o = {.url = url, .headers = (const char *const *)h, .timeout_ms = 2000,
                             .connect_timeout_ms = 1000, .max_body = 256};
    struct df_http_req *req = df_http_req_start(http, &o, NULL, NULL, cb, arg, NULL);
    if (!req)
        DF_LOGW("upctl", "cannot send /auth for %s: it stays closed to peers", task_file);
    free(url);
    free(h[0]);
    free(h[1]);
    return req;
}
