/* SPDX-License-Identifier: Apache-2.0 */
/* The dfget flow: prepare, register with failover, P2P download, migration, back-source,
 * whole-file verification, atomic rename, console output. Every async step reports back
 * here; this module alone decides the exit code, the back-source reason and the message. */
#include "dfget_run.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df_digest.h"
#include "df_http_client.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_ratelimit.h"
#include "df_redact.h"
#include "df_util.h"
#include "dfget_dl.h"
#include "dfget_reg.h"
#include "dfget_report.h"
#include "dfget_source.h"
#include "dfget_upctl.h"
#include "dfget_writer.h"

#define MOD "dfget"
#define DEFAULT_TIMEOUT_MS (5 * 60 * 1000)
#define RATE_INTERVAL_MS 3000 /* /rate renegotiation, also keeps the uploader alive */

enum run_phase { PH_REGISTER, PH_P2P, PH_SOURCE, PH_DONE };

struct run {
    const struct dfget_config *cfg;
    struct event_base *base;
    struct df_http_client *http;
    struct dfget_writer *writer;
    struct dfget_reg *reg;
    struct dfget_dl *dl;
    struct dfget_source *src;
    struct df_ratelimit rl;
    enum run_phase phase;
    char sign[64];
    char cid[128];
    char local_ip[64];
    char host_name[256];
    char *output, *target_dir, *tmp_path, *task_url, *reg_path, *data_dir;
    char task_file[300];         /* taskFileName: "<output base>-<sign>" */
    char *svc_path;              /* <home>/data/<taskFileName>.service when shared, else NULL */
    int up_port;                 /* our uploader's port, 0 = not sharing (cdn pattern) */
    struct event *rate_ev;
    struct df_http_req *rate_req;
    struct df_http_req *auth_req;  /* /auth to our uploader after a registration */
    const char *space_dirs[3];
    char **root_cas;
    size_t nroot_cas;
    char *ca_pem;               /* several --cacerts: all of them, for back-source; else NULL */
    size_t ca_pem_len;
    int tmp_fd;
    int64_t start_ms;
    int64_t length;              /* origin length if known */
    int reason;                  /* back-source reason */
    int is_connected_printed;
    struct event *timeout_ev, *bar_ev;
    int is_bar;
    uint64_t bar_last_bytes;
    int64_t bar_last_ms;
    double bar_rate;
    int exit_code;
    uint64_t bytes_source, bytes_sn, bytes_peers;
};

/* ---- signals: remove the temp file and leave ---------------------------------------------- */

static char g_tmp_path[PATH_MAX], g_svc_path[PATH_MAX];
static volatile sig_atomic_t g_has_tmp, g_has_svc;

static void on_signal(int sig)
{
    if (g_has_tmp)
        unlink(g_tmp_path);
    if (g_has_svc)
        unlink(g_svc_path);
    static const char msg[] = "dfget: download failed: interrupted by a signal\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(DFGET_EXIT_DOWNLOAD);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- helpers ---------------------------------------------------------------------------- */

int dfget_run_output_name(const char *url, char *out, size_t len)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "?#");
    const char *slash = memchr(p, '/', n);
    if (!slash)
        return -EINVAL;
    const char *last = slash;
    for (const char *q = slash; q < p + n; q++)
        if (*q == '/')
            last = q;
    size_t seg = (size_t)(p + n - last - 1);
    if (seg == 0 || seg >= len)
        return -EINVAL;
    memcpy(out, last + 1, seg);
    out[seg] = '\0';
    if (df_proto_url_decode(out) < 0 || !*out || strchr(out, '/') || strcmp(out, ".") == 0 ||
        strcmp(out, "..") == 0)
        return -EINVAL;
    return 0;
}

static double elapsed_s(const struct run *r) { return (double)(df_now_ms() - r->start_ms) / 1000.0; }

/* Failure: neither the temp file nor the service file may stay behind. */
static void remove_tmp(struct run *r)
{
    if (r->tmp_path && r->tmp_fd >= 0) {
        g_has_tmp = 0;
        unlink(r->tmp_path);
    }
    if (r->svc_path) {
        g_has_svc = 0;
        unlink(r->svc_path);
    }
}

static void bar_clear(struct run *r)
{
    if (r->is_bar) {
        fprintf(stderr, "\r%80s\r", "");
        fflush(stderr);
    }
}

/* The single exit point of the asynchronous part: prints the result and stops the loop. */
static void run_end(struct run *r, int exit_code, int fail_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void run_end(struct run *r, int exit_code, int fail_code, const char *fmt, ...)
{
    if (r->phase == PH_DONE)
        return;
    r->phase = PH_DONE;
    r->exit_code = exit_code;
    char msg[DF_ERR_LEN * 2] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    }
    if (r->timeout_ev)
        evtimer_del(r->timeout_ev);
    if (r->bar_ev)
        evtimer_del(r->bar_ev);
    if (r->rate_ev)
        evtimer_del(r->rate_ev);
    bar_clear(r);
    if (exit_code != DFGET_EXIT_OK)
        remove_tmp(r);
    char line[DF_ERR_LEN * 4];
    dfget_report_result(line, sizeof(line), exit_code == 0, fail_code, elapsed_s(r), r->length,
                        r->reason, msg);
    printf("%s\n", line);
    dfget_report_summary(line, sizeof(line), r->bytes_source, r->bytes_sn, r->bytes_peers,
                         elapsed_s(r));
    printf("%s\n", line);
    fflush(stdout);
    if (exit_code != DFGET_EXIT_OK) {
        fprintf(stderr, "dfget: download failed: %s\n", msg);
        DF_LOGE(MOD, "download failed: %s", msg);
    } else {
        DF_LOGI(MOD, "download ok: %s length %lld in %.3fs", r->output, (long long)r->length,
                elapsed_s(r));
    }
    event_base_loopbreak(r->base);
}

static void fail_download(struct run *r, const char *msg)
{
    run_end(r, DFGET_EXIT_DOWNLOAD, 1104, "%s", msg);
}

/* Atomic publish: rename the verified temp file over the output. */
static void publish(struct run *r)
{
    if (rename(r->tmp_path, r->output) < 0) {
        char m[DF_ERR_LEN];
        snprintf(m, sizeof(m), "cannot rename %s to %s: %s", r->tmp_path, r->output, strerror(errno));
        fail_download(r, m);
        return;
    }
    g_has_tmp = 0;
    g_has_svc = 0; /* the service file is the finished output's second name now */
    int dfd = open(r->target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    run_end(r, DFGET_EXIT_OK, 0, NULL);
}

/* ---- back-source -------------------------------------------------------------------------- */

static void on_source_done(int err, const char *msg, uint64_t length, const char *md5_hex, void *arg)
{
    struct run *r = arg;
    if (err < 0) {
        if (err == DF_ENOSPACE)
            r->reason = DFGET_REASON_NOSPACE;
        fail_download(r, msg && *msg ? msg : df_strerror(err));
        return;
    }
    r->length = (int64_t)length;
    if (r->cfg->md5 && !df_digest_hex_eq(md5_hex, r->cfg->md5)) {
        char m[DF_ERR_LEN];
        snprintf(m, sizeof(m), "md5 of the downloaded file is %s, expected %s (--md5)", md5_hex,
                 r->cfg->md5);
        fail_download(r, m);
        return;
    }
    r->bytes_source = length;
    r->bytes_sn = r->bytes_peers = 0;
    publish(r);
}

static void start_source(struct run *r, int reason, const char *why)
{
    r->reason = reason;
    if (r->dl)
        dfget_dl_stop(r->dl);
    if (r->cfg->is_notbs) {
        char m[DF_ERR_LEN * 2]; /* why may fill DF_ERR_LEN: keep the end of the sentence */
        r->reason += DFGET_REASON_FORBIDDEN;
        snprintf(m, sizeof(m), "%s; --notbs forbids downloading from the origin", why);
        fail_download(r, m);
        return;
    }
    if (why)
        DF_LOGW(MOD, "back to source (reason %d): %s", reason, why);
    printf("start download from source, reason:%d\n", reason);
    fflush(stdout);
    r->phase = PH_SOURCE;
    r->bytes_sn = r->bytes_peers = 0;
    if (r->timeout_ev)
        evtimer_del(r->timeout_ev);
    r->src = dfget_source_start(r->base, r->http, r->writer, r->cfg, r->ca_pem, r->ca_pem_len,
                                r->space_dirs, &r->rl, r->cfg->timeout_ms, on_source_done, r);
}

/* ---- P2P ------------------------------------------------------------------------------------ */

static void check_digests(struct run *r, const struct dfget_dl_result *res)
{
    char m[DF_ERR_LEN];
    int is_checked = 0;
    if (res->want_sha256[0] && res->got_sha256[0]) {
        if (!df_digest_hex_eq(res->want_sha256, res->got_sha256)) {
            snprintf(m, sizeof(m), "sha256 of the downloaded file is %s, the supernode says %s",
                     res->got_sha256, res->want_sha256);
            goto mismatch;
        }
        is_checked = 1;
    } else if (res->want_md5[0] && res->got_md5[0]) {
        if (!df_digest_hex_eq(res->want_md5, res->got_md5)) {
            snprintf(m, sizeof(m), "md5 of the downloaded file is %s, the supernode says %s",
                     res->got_md5, res->want_md5);
            goto mismatch;
        }
        is_checked = 1;
    }
    if (r->cfg->md5) {
        if (!df_digest_hex_eq(r->cfg->md5, res->got_md5)) {
            snprintf(m, sizeof(m), "md5 of the downloaded file is %s, expected %s (--md5)",
                     res->got_md5[0] ? res->got_md5 : "(none)", r->cfg->md5);
            goto mismatch;
        }
        is_checked = 1;
    }
    if (!is_checked && res->want_sha256[0])
        DF_LOGI(MOD, "every piece matched the supernode's pieceSha256; file sha256 %s",
                res->want_sha256);
    else if (!is_checked)
        DF_LOGW(MOD, "no whole-file digest to check against; relying on the piece digests");
    publish(r);
    return;
mismatch:
    r->reason = DFGET_REASON_MD5;
    fail_download(r, m);
}

static void on_reg(int err, const struct dfget_reg_reply *rep, const struct dfget_node *node,
                   void *arg);

static void on_auth_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct run *r = arg;
    r->auth_req = NULL;
    if (err < 0 || status != 200) {
        const char *et = df_http_req_errtext(req);
        DF_LOGW(MOD, "uploader /auth for %s failed (HTTP %ld%s%s): its pieces stay closed to peers",
                r->task_file, status, et && *et ? ", " : "", et ? et : "");
    }
}

/* Tells our uploader who may read the shared file of this task (dfget_upctl_auth_mode). */
static void share_auth(struct run *r, const struct dfget_reg_reply *rep)
{
    if (r->up_port <= 0)
        return;
    const struct dfget_config *c = r->cfg;
    /* a --filter'ed URL is signed: the signature is a credential too */
    int has_creds = df_redact_has_credentials(c->url, (const char *const *)c->headers, c->nheaders) ||
                    strcmp(r->task_url, c->url) != 0;
    if (r->auth_req)
        df_http_req_cancel(r->auth_req);
    r->auth_req = dfget_upctl_auth_start(r->http, r->local_ip, r->up_port, r->task_file,
                                         r->data_dir, rep, has_creds, on_auth_done, r);
}

static void on_dl_done(const struct dfget_dl_result *res, void *arg)
{
    struct run *r = arg;
    r->bytes_sn = dfget_dl_bytes_supernode(r->dl);
    r->bytes_peers = dfget_dl_bytes_peers(r->dl);
    switch (res->status) {
    case DFGET_DL_OK:
        r->length = res->file_length;
        check_digests(r, res);
        return;
    case DFGET_DL_FAIL:
        r->reason = res->err == -ENOSPC ? DFGET_REASON_NOSPACE : DFGET_REASON_WRITE;
        fail_download(r, res->msg);
        return;
    case DFGET_DL_MIGRATE:
        dfget_reg_mark_current_failed(r->reg);
        if (dfget_reg_remaining(r->reg) == 0) {
            start_source(r, DFGET_REASON_DOWNLOAD, res->msg);
            return;
        }
        r->phase = PH_REGISTER;
        if (dfget_reg_start(r->reg, on_reg, r) < 0)
            start_source(r, DFGET_REASON_DOWNLOAD, res->msg);
        return;
    }
}

static void on_reg(int err, const struct dfget_reg_reply *rep, const struct dfget_node *node,
                   void *arg)
{
    struct run *r = arg;
    char m[DF_ERR_LEN];
    if (err == DFGET_REG_NEED_AUTH) {
        r->reason = 0;
        run_end(r, DFGET_EXIT_NEED_AUTH, 1103, "%s", dfget_reg_last_error(r->reg));
        return;
    }
    if (err < 0) {
        int reason = r->is_connected_printed ? DFGET_REASON_DOWNLOAD : DFGET_REASON_REGISTER;
        start_source(r, reason, dfget_reg_last_error(r->reg));
        return;
    }
    char hp[300];
    dfget_config_hostport(node->host, node->port, hp, sizeof(hp));
    if (!r->is_connected_printed) {
        printf("client:%s connected to node:%s\n", r->local_ip, hp);
        printf("start download by dragonfly...\n");
        r->is_connected_printed = 1;
    } else {
        printf("migrated to node:%s\n", hp);
    }
    fflush(stdout);
    if (rep->file_length >= 0) {
        r->length = rep->file_length;
        int rc = dfget_source_check_space(r->space_dirs, (uint64_t)rep->file_length, m);
        if (rc < 0) {
            r->reason = DFGET_REASON_NOSPACE;
            fail_download(r, m);
            return;
        }
        if (!r->cfg->timeout_ms) { /* automatic timeout: length / minrate + 10 s */
            int64_t t = (int64_t)((uint64_t)rep->file_length * 1000 / r->cfg->min_rate_bps) + 10000;
            struct timeval tv = {(time_t)(t / 1000), (suseconds_t)(t % 1000) * 1000};
            evtimer_add(r->timeout_ev, &tv);
        }
    }
    r->phase = PH_P2P;
    share_auth(r, rep);
    dfget_dl_start(r->dl, node, rep);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    if (r->phase == PH_REGISTER || r->phase == PH_P2P) {
        dfget_reg_free(r->reg);
        r->reg = NULL;
        start_source(r, DFGET_REASON_DOWNLOAD, "download through the supernode timed out");
    }
}

static void on_bar(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    uint64_t done = r->phase == PH_SOURCE && r->src ? dfget_source_bytes(r->src)
                    : r->dl ? dfget_dl_bytes_progress(r->dl) : 0;
    int64_t total = r->phase == PH_SOURCE && r->src ? dfget_source_length(r->src) : r->length;
    int64_t now = df_now_ms();
    if (r->bar_last_ms && now > r->bar_last_ms) {
        double inst = (double)(done - DF_MIN(done, r->bar_last_bytes)) * 1000.0 /
                      (double)(now - r->bar_last_ms);
        r->bar_rate = r->bar_rate ? 0.7 * r->bar_rate + 0.3 * inst : inst;
    }
    r->bar_last_ms = now;
    r->bar_last_bytes = done;
    char line[256];
    dfget_report_bar(line, sizeof(line), done, total, r->bar_rate);
    fprintf(stderr, "\r%-79s", line);
    fflush(stderr);
}

static void on_writer_drain(void *arg)
{
    struct run *r = arg;
    if (r->phase == PH_DONE)
        return; /* tearing down: nothing may start transfers again */
    if (r->phase == PH_SOURCE)
        dfget_source_on_drain(r->src);
    else
        dfget_dl_on_drain(r->dl);
}

/* ---- prepare -------------------------------------------------------------------------------- */

/* Each --cacerts file is read once: base64 for the registration's rootCAs, and all of them
 * as one PEM bundle for back-source (with one file, back-source names the file instead). */
static int load_cacerts(struct run *r, char err[DF_ERR_LEN])
{
    const struct dfget_config *c = r->cfg;
    r->root_cas = df_xcalloc(c->ncacerts + 1, sizeof(*r->root_cas));
    for (size_t i = 0; i < c->ncacerts; i++) {
        char *text;
        size_t n;
        int rc = df_read_file(c->cacerts[i], 64u << 10, &text, &n);
        if (rc == DF_ETOOBIG) {
            snprintf(err, DF_ERR_LEN, "--cacerts %s is larger than 64 KiB", c->cacerts[i]);
            return -EINVAL;
        }
        if (rc < 0) {
            snprintf(err, DF_ERR_LEN, "cannot read --cacerts %s: %s", c->cacerts[i],
                     df_strerror(rc));
            return -EINVAL;
        }
        r->root_cas[r->nroot_cas++] = df_base64(text, n);
        if (c->ncacerts > 1) { /* each file on its own lines: the next BEGIN starts a line */
            r->ca_pem = df_xrealloc(r->ca_pem, r->ca_pem_len + n + 1);
            memcpy(r->ca_pem + r->ca_pem_len, text, n);
            r->ca_pem_len += n;
            r->ca_pem[r->ca_pem_len++] = '\n';
        }
        free(text);
    }
    return 0;
}

/* Output path, target dir, sign, temp file. Returns an exit code (0 = go on). */
static int prepare(struct run *r, char err[DF_ERR_LEN])
{
    const struct dfget_config *c = r->cfg;
    char name[PATH_MAX];
    if (c->output) {
        snprintf(name, sizeof(name), "%s", c->output);
    } else if (dfget_run_output_name(c->url, name, sizeof(name)) < 0) {
        snprintf(err, DF_ERR_LEN, "cannot derive a file name from the URL; use --output");
        return DFGET_EXIT_USAGE;
    }
    if (name[0] == '/') {
        r->output = df_xstrdup(name);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            snprintf(err, DF_ERR_LEN, "cannot get the current directory: %s", strerror(errno));
            return DFGET_EXIT_PREPARE;
        }
        r->output = df_path_join(cwd, name);
    }
    size_t ol = strlen(r->output);
    struct stat st;
    if (r->output[ol - 1] == '/' || (stat(r->output, &st) == 0 && S_ISDIR(st.st_mode))) {
        snprintf(err, DF_ERR_LEN, "output %s is a directory", r->output);
        return DFGET_EXIT_USAGE;
    }
    char *tmp = df_xstrdup(r->output);
    r->target_dir = df_xstrdup(dirname(tmp));
    free(tmp);
    tmp = df_xstrdup(r->output);
    char *base = df_xstrdup(basename(tmp));
    free(tmp);
    int rc = df_mkdir_p(r->target_dir, 0755);
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "cannot create directory %s: %s", r->target_dir, df_strerror(rc));
        free(base);
        return DFGET_EXIT_PREPARE;
    }
    int64_t wall = df_wall_ms();
    snprintf(r->sign, sizeof(r->sign), "%d-%lld.%03lld", (int)getpid(), (long long)(wall / 1000),
             (long long)(wall % 1000));
    r->tmp_path = df_xasprintf("%s/.%s.dfget-%s.tmp", r->target_dir, base, r->sign);
    dfget_upctl_task_file_name(base, r->sign, r->task_file, sizeof(r->task_file));
    r->reg_path = df_xasprintf("/peer/file/%s", r->task_file);
    free(base);
    r->tmp_fd = open(r->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (r->tmp_fd < 0) {
        snprintf(err, DF_ERR_LEN, "cannot create %s: %s", r->tmp_path, strerror(errno));
        return DFGET_EXIT_PREPARE;
    }
    snprintf(g_tmp_path, sizeof(g_tmp_path), "%s", r->tmp_path);
    g_has_tmp = 1;
    /* The data dir joins the space check only when the service file is a second copy. */
    r->space_dirs[0] = r->target_dir;
    r->space_dirs[1] = NULL;
    return load_cacerts(r, err) < 0 ? DFGET_EXIT_USAGE : 0;
}

/* ---- sharing (pattern p2p) ----------------------------------------------------------------- */

/* Finds or starts the uploader and makes the temp file its service file: a hard link (one
 * inode: the finished output and the served file are the same bytes on disk), or, across
 * filesystems, a second file the writer fills with the same buffers. Any failure: one log
 * line and the download goes on without sharing (cdn pattern, registered port 0). */
static void setup_sharing(struct run *r)
{
    const struct dfget_config *c = r->cfg;
    char err[DF_ERR_LEN] = "";
    struct dfget_upctl_opts o = {
        .home = c->home, .ip = r->local_ip, .port = c->port, .task_file = r->task_file,
        .total_limit_bps = c->total_limit_bps, .expire_ms = c->expire_ms,
        .alive_ms = c->alive_ms, .is_verbose = c->is_verbose,
    };
    int port = 0, is_started = 0;
    if (dfget_upctl_ensure(&o, &port, &is_started, err) < 0)
        goto fallback;
    r->data_dir = df_path_join(c->home, "data");
    char *name = df_xasprintf("%s.service", r->task_file);
    r->svc_path = df_path_join(r->data_dir, name);
    free(name);
    int e = link(r->tmp_path, r->svc_path) < 0 ? errno : 0;
    switch (dfget_upctl_link_decision(e)) {
    case DFGET_SHARE_LINK:
        break;
    case DFGET_SHARE_COPY: {
        int fd = open(r->svc_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, sizeof(err), "cannot create %s: %s", r->svc_path, strerror(errno));
            goto fallback;
        }
        dfget_writer_set_mirror(r->writer, fd, r->svc_path);
        r->space_dirs[1] = r->data_dir; /* a second copy needs room there too */
        r->space_dirs[2] = NULL;
        DF_LOGI(MOD, "%s and %s are on different filesystems (%s): writing both", r->tmp_path,
                r->svc_path, strerror(e));
        break;
    }
    case DFGET_SHARE_NONE:
        snprintf(err, sizeof(err), "cannot link %s to %s: %s", r->tmp_path, r->svc_path,
                 strerror(e));
        goto fallback;
    }
    snprintf(g_svc_path, sizeof(g_svc_path), "%s", r->svc_path);
    g_has_svc = 1;
    r->up_port = port;
    DF_LOGI(MOD, "sharing %s through the uploader on port %d (%s)", r->task_file, port,
            is_started ? "started" : "reused");
    return;
fallback:
    DF_LOGW(MOD, "cannot share this download, continuing in cdn pattern: %s", err);
    free(r->svc_path);
    r->svc_path = NULL;
    r->up_port = 0;
}

static void on_rate_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct run *r = arg;
    r->rate_req = NULL;
    size_t len;
    const char *body = err ? NULL : df_http_req_body(req, &len);
    uint64_t grant;
    if (!body || status != 200 || df_parse_u64(body, &grant) < 0) {
        DF_LOGD(MOD, "/rate failed: %s (HTTP %ld)", df_strerror(err), status);
        return;
    }
    /* The uploader shrinks our share when several downloads of this host exceed --totallimit
     * (spec §5.1). Only a configured --locallimit is ever lowered. */
    uint64_t want = r->cfg->local_limit_bps;
    uint64_t rate = grant > 0 && grant < want ? grant : want;
    if (want && rate != r->rl.rate_bps) {
        DF_LOGI(MOD, "download rate %llu B/s (uploader granted %llu)", (unsigned long long)rate,
                (unsigned long long)grant);
        df_ratelimit_set_rate(&r->rl, rate, df_now_us());
    }
}

/* Every RATE_INTERVAL_MS while downloading: rate negotiation, which also counts as activity
 * for the uploader, so it does not idle out under a long download that nobody fetches from. */
static void on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    if (r->phase == PH_DONE || r->rate_req)
        return;
    char *url = dfget_upctl_rate_url(r->local_ip, r->up_port, r->task_file);
    char h[64];
    snprintf(h, sizeof(h), "rateLimit: %llu", (unsigned long long)r->cfg->local_limit_bps);
    const char *hdrs[] = {h, NULL};
    struct df_http_opts o = {.url = url, .headers = hdrs, .timeout_ms = 2000,
                             .connect_timeout_ms = 1000, .max_body = 64};
    r->rate_req = df_http_req_start(r->http, &o, NULL, NULL, on_rate_done, r, NULL);
    free(url);
}

/* After a successful download: the uploader may expire the file now and will tell the
 * supernode when it does. If nobody takes the file over, it must not stay behind. */
static void hand_over(struct run *r)
{
    char err[DF_ERR_LEN];
    const char *task_id = r->dl ? dfget_dl_task_id(r->dl) : "";
    const char *node = r->dl ? dfget_dl_node(r->dl) : "";
    if (dfget_upctl_finish(r->local_ip, r->up_port, r->task_file, task_id, r->cid, node, err) == 0)
        return;
    DF_LOGW(MOD, "%s; removing %s", err, r->svc_path);
    if (unlink(r->svc_path) < 0 && errno != ENOENT)
        DF_LOGW(MOD, "cannot remove %s: %s", r->svc_path, strerror(errno));
}

/* ---- start ------------------------------------------------------------------------------------ */

static void start(struct run *r)
{
    const struct dfget_config *c = r->cfg;
    if (c->pattern == DFGET_PATTERN_SOURCE) {
        start_source(r, DFGET_REASON_USER_SOURCE, "--pattern source");
        return;
    }
    if (c->nnodes == 0) {
        start_source(r, DFGET_REASON_NO_NODE, "no supernode configured");
        return;
    }
    uint64_t seed = (uint64_t)df_now_us() ^ ((uint64_t)getpid() << 32);
    size_t *order = NULL, n_order = 0, idx = 0;
    dfget_reg_expand(c->nodes, c->nnodes, seed, &order, &n_order);
    if (c->ip) {
        snprintf(r->local_ip, sizeof(r->local_ip), "%s", c->ip);
    } else if (dfget_reg_local_ip(c->nodes, order, n_order, 1000, r->local_ip,
                                  sizeof(r->local_ip), &idx) < 0) {
        DF_LOGW(MOD, "no supernode reachable to learn the local IP; using 127.0.0.1");
        snprintf(r->local_ip, sizeof(r->local_ip), "127.0.0.1");
    }
    free(order);
    snprintf(r->cid, sizeof(r->cid), "%s-%s", r->local_ip, r->sign);
    if (c->pattern == DFGET_PATTERN_P2P)
        setup_sharing(r);
    if (r->up_port > 0) {
        r->rate_ev = event_new(r->base, -1, EV_PERSIST, on_rate_timer, r);
        struct timeval rtv = {RATE_INTERVAL_MS / 1000, (RATE_INTERVAL_MS % 1000) * 1000};
        evtimer_add(r->rate_ev, &rtv);
    }
    if (gethostname(r->host_name, sizeof(r->host_name)) < 0 || !r->host_name[0])
        snprintf(r->host_name, sizeof(r->host_name), "localhost");
    r->host_name[sizeof(r->host_name) - 1] = '\0';
    r->task_url = df_proto_task_url(c->url, c->filter);
    struct dfget_reg_req req = {
        .raw_url = c->url,
        .task_url = r->task_url,
        .cid = r->cid,
        .ip = r->local_ip,
        .host_name = r->host_name,
        .port = r->up_port,
        .path = r->reg_path,
        .version = DF_VERSION,
        .md5 = c->md5,
        .identifier = c->identifier,
        .callsystem = c->callsystem,
        .headers = (const char *const *)c->headers,
        .nheaders = c->nheaders,
        .is_dfdaemon = c->is_dfdaemon,
        .is_insecure = c->is_insecure,
        .root_cas = (const char *const *)r->root_cas,
        .nroot_cas = r->nroot_cas,
    };
    r->reg = dfget_reg_new(r->base, r->http, c->nodes, c->nnodes, seed, &req);
    r->dl = dfget_dl_new(r->base, r->http, r->writer, c, r->cid, &r->rl, on_dl_done, r);
    if (!r->dl) {
        fail_download(r, "cannot start the piece-digest thread");
        return;
    }
    DF_LOGI(MOD, "cid %s, taskUrl %s", r->cid, r->task_url);
    struct timeval tv = {(time_t)((c->timeout_ms ? c->timeout_ms : DEFAULT_TIMEOUT_MS) / 1000), 0};
    evtimer_add(r->timeout_ev, &tv);
    r->phase = PH_REGISTER;
    if (dfget_reg_start(r->reg, on_reg, r) < 0)
        start_source(r, DFGET_REASON_REGISTER, "cannot start the registration");
}

static void open_log(const struct dfget_config *c)
{
    char *dir = df_path_join(c->home, "logs");
    char *path = df_path_join(dir, "dfclient.log");
    df_log_set_level(c->is_verbose ? DF_LOG_DEBUG : DF_LOG_INFO);
    if (df_log_open_file(path) < 0) /* a read-only home must not stop the download */
        df_log_set_level(c->is_console || c->is_verbose ? DF_LOG_DEBUG : DF_LOG_OFF);
    else
        df_log_set_console(c->is_console);
    free(dir);
    free(path);
}

int dfget_run(const struct dfget_config *cfg)
{
    struct run r_, *r = &r_;
    char err[DF_ERR_LEN] = "";
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->tmp_fd = -1;
    r->length = -1;
    r->start_ms = df_now_ms();
    install_signals();
    open_log(cfg);
    int code = prepare(r, err);
    if (code == 0) {
        dfget_report_header(stdout, cfg->url, cfg->home, r->sign);
        DF_LOGI(MOD, "download %s -> %s (sign %s)", cfg->url, r->output, r->sign);
        r->base = event_base_new();
        r->http = r->base ? df_http_client_new(r->base) : NULL;
        if (r->http)
            r->writer = dfget_writer_new(r->base, r->tmp_fd, on_writer_drain, r, err);
        if (!r->writer) {
            if (!err[0])
                snprintf(err, sizeof(err), "cannot initialise the event loop / HTTP client");
            code = DFGET_EXIT_PREPARE;
        }
    }
    if (code != 0) {
        remove_tmp(r);
        fprintf(stderr, "dfget: %s\n", err);
        DF_LOGE(MOD, "%s", err);
        goto out;
    }
    df_ratelimit_init(&r->rl, cfg->local_limit_bps, 0, df_now_us());
    r->timeout_ev = evtimer_new(r->base, on_timeout, r);
    if (cfg->is_showbar && isatty(2)) {
        r->is_bar = 1;
        r->bar_ev = event_new(r->base, -1, EV_PERSIST, on_bar, r);
        struct timeval tv = {0, 100000};
        evtimer_add(r->bar_ev, &tv);
    }
    start(r);
    if (r->phase != PH_DONE)
        event_base_dispatch(r->base);
    code = r->exit_code;
    if (code == DFGET_EXIT_OK && r->svc_path)
        hand_over(r);
out:
    r->phase = PH_DONE;
    dfget_reg_free(r->reg);
    if (r->dl)
        dfget_dl_stop(r->dl);
    /* Runs the remaining writer callbacks: the stopped dl ignores them, the source only records
     * them (its done event never fires again, the loop is not dispatched any more). */
    dfget_writer_free(r->writer);
    dfget_source_free(r->src);
    dfget_dl_free(r->dl);
    if (r->timeout_ev)
        event_free(r->timeout_ev);
    if (r->bar_ev)
        event_free(r->bar_ev);
    if (r->rate_ev)
        event_free(r->rate_ev);
    df_http_client_free(r->http);
    if (r->base)
        event_base_free(r->base);
    if (r->tmp_fd >= 0)
        close(r->tmp_fd);
    for (size_t i = 0; i < r->nroot_cas; i++)
        free(r->root_cas[i]);
    free(r->root_cas);
    free(r->ca_pem);
    free(r->output);
    free(r->target_dir);
    free(r->tmp_path);
    free(r->task_url);
    free(r->reg_path);
    free(r->data_dir);
    free(r->svc_path);
    df_log_close();
    return code;
}
