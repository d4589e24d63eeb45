/* SPDX-License-Identifier: Apache-2.0 */
/* In-process blob download through the supernode with dfget's engine: registration with
 * failover (dfget_reg), the piece loop (dfget_dl) and the writer thread (dfget_writer) wired
 * the way dfget_run wires them, minus the process-level parts (console, exit codes, signals).
 * Migration: a node that fails us is marked and the next one is registered. Each piece commit
 * is reported (coalesced, from an event) as the file's in-order prefix. The host's uploader
 * is found or started at start-up, and again (dfget_upctl_ensure on a thread of its own) when
 * a blob finds none or its /check fails: the blob waits for that, then registers. */
#include "dfd_swarm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "df_digest.h"
#include "df_http_client.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_ratelimit.h"
#include "df_redact.h"
#include "df_util.h"
#include "df_workpool.h"
#include "dfget_config.h"
#include "dfget_dl.h"
#include "dfget_msg.h"
#include "dfget_reg.h"
#include "dfget_upctl.h"
#include "dfget_writer.h"

#define MOD "swarm"
/* Largest CA bundle sent as rootCAs: the supernode refuses more than 256 KiB in total. */
#define MAX_ROOT_CA_BYTES (255u << 10)
/* After a failed uploader (re)start, blobs register unshared for this long before the next
 * attempt (no fork/spawn per blob while, say, the work home is unwritable). */
#define UP_RETRY_MS 30000

struct dfd_swarm {
    struct event_base *base;
    struct df_http_client *http;
    struct dfget_config dcfg;       /* nodes, home, timeouts for the dfget engine */
    char local_ip[64];
    char host_name[256];
    int64_t last_sign_ms;           /* keeps every cid unique */
    int up_port;                    /* this host's uploader (dfget server), 0 = none known */
    struct dfget_upctl_opts up_opts;  /* for (re)starting it; strings owned by sw */
    struct df_workpool *up_pool;    /* one thread: dfget_upctl_ensure blocks (bounded, ~s) */
    int is_up_ensuring;             /* an ensure is queued or running; jobs wait for it */
    int64_t up_retry_ms;            /* no new ensure before this (monotonic ms); 0 = any time */
    int is_closing;                 /* dfd_swarm_free runs: ensure completions only clean up */
    char *data_dir;                 /* <workHome>/data: the uploader's service files */
    uint64_t total_limit_bps;
    struct df_ratelimit rl;         /* downloads of all jobs (rate 0 = unlimited) */
    char *root_ca_b64;              /* the registry's CA bundle (cfg->ca_file) in base64, sent
                                       as rootCAs for the default registry; NULL = none */
    struct dfd_swarm_job *jobs;
};

struct dfd_swarm_job {
    struct dfd_swarm *sw;
    struct dfget_writer *writer;
    struct dfget_reg *reg;
    struct dfget_dl *dl;
    char cid[128];
    char task_file[256];
    char want_sha256[DF_DIGEST_HEX_MAX]; /* from the blob URL, "" if none */
    char *url, *task_url, *path;
    char *part_path;                /* the file being written (for the service link) */
    char *svc_path;                 /* <data>/<task_file>.service while shared, else NULL */
    struct df_http_req *check;      /* async /check/<task_file> at the uploader */
    int check_port;                 /* the port that check went to */
    int is_waiting_up;              /* waits for the uploader ensure (sw->is_up_ensuring) */
    int has_waited_up;              /* waited once already: no second wait */
    int port;                       /* registered uploader port (0 = cdn pattern) */
    int is_ok;                      /* downloaded completely: the service file may stay */
    int is_insecure;
    int has_ca;                     /* send sw->root_ca_b64 as rootCAs */
    char **headers;
    size_t nheaders;
    struct event *done_ev;
    struct event *progress_ev;      /* coalesced progress delivery */
    struct dfd_swarm_result res;
    dfd_swarm_progress_cb progress;
    dfd_swarm_done_cb cb;
    void *arg;
    struct dfd_swarm_job *prev, *next;
};

/* The CA bundle as one base64 rootCAs entry (what dfget sends per --cacerts file), read once
 * at start-up. NULL, with a log line, when it cannot be sent: the supernode then verifies the
 * registry with its system store only (and a blob it cannot fetch comes from the fallback). */
static char *load_root_ca(const char *path)
{
    char *text, *b64;
    size_t n;
    int rc = df_read_file(path, MAX_ROOT_CA_BYTES, &text, &n);
    if (rc == DF_ETOOBIG) {
        DF_LOGW(MOD, "CA bundle %s is larger than %u KiB: not sent to the supernode (it verifies "
                "the registry with its system store)", path, MAX_ROOT_CA_BYTES >> 10);
        return NULL;
    }
    if (rc < 0 || n == 0) {
        DF_LOGW(MOD, "cannot read %s: %s; the supernode gets no CA for the registry", path,
                rc < 0 ? df_strerror(rc) : "empty");
        return NULL;
    }
    b64 = df_base64(text, n);
    free(text);
    return b64;
}

struct dfd_swarm *dfd_swarm_new(struct event_base *base, struct df_http_client *http,
                                const struct dfd_config *cfg, char err[DF_ERR_LEN])
{
    struct dfd_swarm *sw = df_xcalloc(1, sizeof(*sw));
    sw->base = base;
    sw->http = http;
    dfget_config_init(&sw->dcfg);
    dfget_config_free_nodes(sw->dcfg.nodes, sw->dcfg.nnodes);
    sw->dcfg.nodes = NULL;
    sw->dcfg.nnodes = 0;
    if (dfget_config_parse_nodes(cfg->node, &sw->dcfg.nodes, &sw->dcfg.nnodes, err) < 0 ||
        sw->dcfg.nnodes == 0) {
        if (!err[0])
            snprintf(err, DF_ERR_LEN, "--node: no supernode in '%s'", cfg->node);
        dfd_swarm_free(sw);
        return NULL;
    }
    free(sw->dcfg.home);
    sw->dcfg.home = df_xstrdup(cfg->work_home);
    sw->dcfg.pattern = DFGET_PATTERN_CDN;
    sw->dcfg.is_dfdaemon = 1;
    sw->dcfg.is_file_sha256 = 1; /* the stream must hash to the blob digest */
    size_t *order = NULL, n_order = 0, idx = 0;
    dfget_reg_expand(sw->dcfg.nodes, sw->dcfg.nnodes, 0, &order, &n_order);
    if (dfget_reg_local_ip(sw->dcfg.nodes, order, n_order, 1000, sw->local_ip,
                           sizeof(sw->local_ip), &idx) < 0) {
        DF_LOGW(MOD, "no supernode reachable to learn the local IP; using 127.0.0.1");
        snprintf(sw->local_ip, sizeof(sw->local_ip), "127.0.0.1");
    }
    free(order);
    sw->total_limit_bps = cfg->ratelimit_bps;
    /* Dragonfly's dfdaemon hands --ratelimit to each dfget; here one bucket for all blobs, and
     * only when the user set it (the 20M default stays the uploader's limit only). */
    df_ratelimit_init(&sw->rl, cfg->is_ratelimit_set ? cfg->ratelimit_bps : 0, 0, df_now_us());
    sw->data_dir = df_path_join(cfg->work_home, "data");
    if (cfg->ca_file)
        sw->root_ca_b64 = load_root_ca(cfg->ca_file);
    /* This host's uploader (a `dfdaemon server` process per work home, as dfget's): found or
     * started here (blocking, bounded); later blobs register with it asynchronously, and
     * start it again (off the loop) when it is gone (it idles out after alive_ms, or dies). */
    char uerr[DF_ERR_LEN] = "";
    sw->up_opts = (struct dfget_upctl_opts){
        .home = sw->dcfg.home, .ip = sw->local_ip, .port = 0, .task_file = "dfdaemon-probe",
        .total_limit_bps = cfg->ratelimit_bps, .expire_ms = 180000, .alive_ms = 3600000,
        .is_verbose = cfg->is_verbose,
    };
    sw->up_pool = df_workpool_new(base, 1, uerr, (int)sizeof(uerr));
    if (!sw->up_pool) {
        snprintf(err, DF_ERR_LEN, "cannot start the uploader thread: %.200s", uerr);
        dfd_swarm_free(sw);
        return NULL;
    }
    int is_started = 0;
    if (dfget_upctl_ensure(&sw->up_opts, &sw->up_port, &is_started, uerr) < 0) {
        DF_LOGW(MOD, "no uploader, this host will not serve pieces: %s", uerr);
        sw->up_port = 0;
        sw->up_retry_ms = df_now_ms() + UP_RETRY_MS;
    } else {
        DF_LOGI(MOD, "uploader on %s:%d (%s)", sw->local_ip, sw->up_port,
                is_started ? "started" : "reused");
    }
    if (gethostname(sw->host_name, sizeof(sw->host_name)) < 0 || !sw->host_name[0])
        snprintf(sw->host_name, sizeof(sw->host_name), "localhost");
    sw->host_name[sizeof(sw->host_name) - 1] = '\0';
    return sw;
}

static void job_free(struct dfd_swarm_job *j)
{
    struct dfd_swarm *sw = j->sw;
    if (j->prev)
        j->prev->next = j->next;
    else
        sw->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    if (j->check)
        df_http_req_cancel(j->check);
    if (j->svc_path && !j->is_ok)
        unlink(j->svc_path); /* never leave a failed or cancelled download shared */
    free(j->svc_path);
    free(j->part_path);
    dfget_dl_free(j->dl);
    dfget_reg_free(j->reg);
    dfget_writer_free(j->writer); /* joins the writer thread */
    if (j->done_ev)
        event_free(j->done_ev);
    if (j->progress_ev)
        event_free(j->progress_ev);
    for (size_t i = 0; i < j->nheaders; i++)
        free(j->headers[i]);
    free(j->headers);
    free(j->url);
    free(j->task_url);
    free(j->path);
    free(j);
}

void dfd_swarm_free(struct dfd_swarm *sw)
{
    if (!sw)
        return;
    sw->is_closing = 1;
    df_workpool_free(sw->up_pool); /* waits for a running ensure; its completion only frees */
    while (sw->jobs)
        job_free(sw->jobs);
    dfget_config_cleanup(&sw->dcfg);
    free(sw->data_dir);
    free(sw->root_ca_b64);
    free(sw);
}

void dfd_swarm_cancel(struct dfd_swarm_job *j)
{
    if (j)
        job_free(j);
}

/* Delivered from an event of our own, so the dl/reg that reported are off the stack. */
static void on_done_ev(evutil_socket_t fd, short what, void *arg)
{
    struct dfd_swarm_job *j = arg;
    (void)fd;
    (void)what;
    struct dfd_swarm_result res = j->res;
    dfd_swarm_done_cb cb = j->cb;
    void *cb_arg = j->arg;
    job_free(j);
    cb(&res, cb_arg);
}

/* Coalesced progress (several commits may have run since it was activated). */
static void on_progress_ev(evutil_socket_t fd, short what, void *arg)
{
    struct dfd_swarm_job *j = arg;
    (void)fd;
    (void)what;
    if (j->progress && j->dl) /* the callback may cancel j: nothing after it */
        j->progress(dfget_dl_file_length(j->dl), dfget_dl_bytes_contiguous(j->dl), j->arg);
}

static void on_dl_progress(struct dfget_dl *dl, void *arg)
{
    struct dfd_swarm_job *j = arg;
    (void)dl;
    event_active(j->progress_ev, EV_TIMEOUT, 0);
}

static void client_finish(struct dfd_swarm_job *j);
static void finish(struct dfd_swarm_job *j, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct dfd_swarm_job *j, int err, const char *fmt, ...)
{
    j->res.err = err;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->res.msg, sizeof(j->res.msg), fmt, ap);
        va_end(ap);
    }
    if (j->dl) {
        j->res.bytes_supernode = dfget_dl_bytes_supernode(j->dl);
        j->res.bytes_peers = dfget_dl_bytes_peers(j->dl);
        dfget_dl_stop(j->dl);
    }
    j->is_ok = err == 0;
    event_del(j->progress_ev); /* done says the rest */
    if (err == 0 && j->svc_path)
        client_finish(j);
    event_active(j->done_ev, EV_TIMEOUT, 0);
}

static void on_finish_done(struct df_http_req *req, int err, long status, void *arg)
{
    (void)req;
    (void)arg;
    if (err < 0 || status != 200)
        DF_LOGW(MOD, "/client/finish at the uploader: %s HTTP %ld", df_strerror(err), status);
}

/* The download is complete: the uploader may expire the service file now (spec §5.2). */
static void client_finish(struct dfd_swarm_job *j)
{
    struct dfd_swarm *sw = j->sw;
    char *base = dfget_msg_base_url(sw->local_ip, (unsigned)j->port); /* the one it shares on */
    char *url = df_xasprintf("%s/client/finish?taskFileName=%s&taskID=%s&cid=%s&superNode=%s",
                             base, j->task_file, dfget_dl_task_id(j->dl), j->cid,
                             dfget_dl_node(j->dl));
    struct df_http_opts o = {.url = url, .timeout_ms = 2000, .max_body = 256};
    if (!df_http_req_start(sw->http, &o, NULL, NULL, on_finish_done, NULL, NULL))
        DF_LOGW(MOD, "cannot send /client/finish for %s", j->task_file);
    free(url);
    free(base);
}

static void on_reg(int err, const struct dfget_reg_reply *rep, const struct dfget_node *node,
                   void *arg);

static void on_auth_done(struct df_http_req *req, int err, long status, void *arg)
{
    (void)req;
    (void)arg;
    if (err < 0 || status != 200)
        DF_LOGW(MOD, "/auth at the uploader: %s HTTP %ld; that blob's pieces stay closed to peers",
                df_strerror(err), status);
}

/* After a registration: tell the uploader who may read the blob's service file (dfget's rule,
 * dfget_upctl_auth_mode: token for private tasks, public only without credentials). */
static void share_auth(struct dfd_swarm_job *j, const struct dfget_reg_reply *rep)
{
    struct dfd_swarm *sw = j->sw;
    if (j->port <= 0)
        return;
    int has_creds = df_redact_has_credentials(j->url, (const char *const *)j->headers, j->nheaders);
    /* fire and forget, like /client/finish: the job may end before the answer */
    (void)dfget_upctl_auth_start(sw->http, sw->local_ip, j->port, j->task_file, sw->data_dir, rep,
                                 has_creds, on_auth_done, NULL);
}

static void on_dl_done(const struct dfget_dl_result *res, void *arg)
{
    struct dfd_swarm_job *j = arg;
    switch (res->status) {
    case DFGET_DL_OK:
        j->res.length = res->file_length;
        snprintf(j->res.sha256, sizeof(j->res.sha256), "%s", res->got_sha256);
        if (j->want_sha256[0] && res->got_sha256[0] &&
            !df_digest_hex_eq(j->want_sha256, res->got_sha256)) {
            /* wrong bytes in the swarm (e.g. a corrupted origin): not shared from this host */
            finish(j, DF_EDIGEST, "sha256 %s, the blob digest is %s", res->got_sha256,
                   j->want_sha256);
            return;
        }
        finish(j, 0, NULL);
        return;
    case DFGET_DL_FAIL:
        finish(j, res->err < 0 ? res->err : -EIO, "%s", res->msg);
        return;
    case DFGET_DL_MIGRATE:
        DF_LOGW(MOD, "%s: migrating: %s", j->url, res->msg);
        dfget_reg_mark_current_failed(j->reg);
        if (dfget_reg_remaining(j->reg) == 0 || dfget_reg_start(j->reg, on_reg, j) < 0)
            finish(j, DF_EORIGIN, "no supernode left: %s", res->msg);
        return;
    }
}

static void on_reg(int err, const struct dfget_reg_reply *rep, const struct dfget_node *node,
                   void *arg)
{
    struct dfd_swarm_job *j = arg;
    if (err == DFGET_REG_NEED_AUTH) {
        finish(j, DF_EHTTP, "supernode: origin needs authorization: %s",
               dfget_reg_last_error(j->reg));
        return;
    }
    if (err < 0) {
        finish(j, DF_EORIGIN, "registration failed: %s", dfget_reg_last_error(j->reg));
        return;
    }
    DF_LOGI(MOD, "%s registered at %s:%u, task %.16s…, length %lld", j->url, node->host,
            node->port, rep->task_id, (long long)rep->file_length);
    share_auth(j, rep);
    dfget_dl_start(j->dl, node, rep);
    event_active(j->progress_ev, EV_TIMEOUT, 0); /* the length is known; a new layout resets */
}

static void on_writer_drain(void *arg)
{
    struct dfd_swarm_job *j = arg;
    dfget_dl_on_drain(j->dl);
}

static int start_reg(struct dfd_swarm_job *j)
{
    struct dfd_swarm *sw = j->sw;
    free(j->path);
    j->path = df_xasprintf("/peer/file/%s", j->task_file);
    struct dfget_reg_req req = {
        .raw_url = j->url,
        .task_url = j->task_url,
        .cid = j->cid,
        .ip = sw->local_ip,
        .host_name = sw->host_name,
        .port = j->port, /* 0: cdn pattern (no uploader) */
        .path = j->path,
        .version = DF_VERSION,
        .headers = (const char *const *)j->headers,
        .nheaders = j->nheaders,
        .is_dfdaemon = 1,
        .is_insecure = j->is_insecure,
        /* the pointer to the field: dfget_reg keeps req by value, sw outlives its jobs */
        .root_cas = j->has_ca && sw->root_ca_b64 ? (const char *const *)&sw->root_ca_b64 : NULL,
        .nroot_cas = j->has_ca && sw->root_ca_b64 ? 1 : 0,
    };
    uint64_t seed = (uint64_t)df_now_us() ^ ((uint64_t)getpid() << 32);
    j->reg = dfget_reg_new(sw->base, sw->http, sw->dcfg.nodes, sw->dcfg.nnodes, seed, &req);
    j->dl = dfget_dl_new(sw->base, sw->http, j->writer, &sw->dcfg, j->cid,
                         sw->rl.rate_bps ? &sw->rl : NULL, on_dl_done, j);
    if (!j->dl)
        return -ENOMEM;
    dfget_dl_set_progress_cb(j->dl, on_dl_progress, j);
    return dfget_reg_start(j->reg, on_reg, j);
}

static int share_or_wait(struct dfd_swarm_job *j);

/* /check/<task_file> registered the name with the uploader: share the file being written
 * (hard link into its data dir) and register with its port. A failed check makes sure the
 * uploader runs (once per job) and checks again; otherwise any failure: cdn pattern. */
static void on_check_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct dfd_swarm_job *j = arg;
    struct dfd_swarm *sw = j->sw;
    size_t len = 0;
    const char *body = err < 0 ? "" : df_http_req_body(req, &len);
    j->check = NULL;
    if (err == 0 && status == 200 && dfget_upctl_check_body_ok(body, len, j->task_file, DF_VERSION)) {
        char *svc = df_xasprintf("%s/%s.service", sw->data_dir, j->task_file);
        if (link(j->part_path, svc) == 0) {
            j->svc_path = svc;
            j->port = j->check_port;
        } else {
            DF_LOGW(MOD, "cannot link %s to %s: %s; not sharing this blob", j->part_path, svc,
                    strerror(errno));
            free(svc);
        }
    } else {
        DF_LOGW(MOD, "uploader /check at port %d failed (%s, HTTP %ld)%s", j->check_port,
                df_strerror(err), status,
                j->has_waited_up ? "; not sharing this blob" : "; making sure it runs");
        if (!j->has_waited_up) {
            /* gone (idled out, killed) or not ours any more: jobs starting now wait too */
            if (sw->up_port == j->check_port)
                sw->up_port = 0;
            if (share_or_wait(j) == 0)
                return;
        }
    }
    if (start_reg(j) < 0)
        finish(j, -EBUSY, "cannot start the registration");
}

static int start_check(struct dfd_swarm_job *j)
{
    struct dfd_swarm *sw = j->sw;
    j->check_port = sw->up_port;
    char *base = dfget_msg_base_url(sw->local_ip, (unsigned)j->check_port);
    char *url = df_xasprintf("%s/check/%s", base, j->task_file);
    char dd[4200], tl[64];
    snprintf(dd, sizeof(dd), "dataDir: %s", sw->data_dir);
    snprintf(tl, sizeof(tl), "totalLimit: %llu", (unsigned long long)sw->total_limit_bps);
    const char *hdrs[] = {dd, tl, NULL};
    struct df_http_opts o = {.url = url, .headers = hdrs, .timeout_ms = 2000,
                             .connect_timeout_ms = 1000, .max_body = 512};
    int err = 0;
    j->check = df_http_req_start(sw->http, &o, NULL, NULL, on_check_done, j, &err);
    free(url);
    free(base);
    return j->check ? 0 : -1;
}

/* ---- uploader (re)start ---------------------------------------------------------------- */

struct up_ensure {
    struct dfd_swarm *sw;
    int rc, port, is_started;
    char err[DF_ERR_LEN];
};

static void work_ensure(void *arg) /* pool thread: reads only sw->up_opts (set before) */
{
    struct up_ensure *e = arg;
    e->rc = dfget_upctl_ensure(&e->sw->up_opts, &e->port, &e->is_started, e->err);
}

static void on_ensure_done(void *arg)
{
    struct up_ensure *e = arg;
    struct dfd_swarm *sw = e->sw;
    if (sw->is_closing) {
        free(e);
        return;
    }
    sw->is_up_ensuring = 0;
    if (e->rc == 0) {
        sw->up_port = e->port;
        sw->up_retry_ms = 0;
        DF_LOGI(MOD, "uploader on %s:%d (%s)", sw->local_ip, e->port,
                e->is_started ? "started again" : "reused");
    } else {
        sw->up_port = 0;
        sw->up_retry_ms = df_now_ms() + UP_RETRY_MS;
        DF_LOGW(MOD, "no uploader, blobs are not shared for %d s: %s", UP_RETRY_MS / 1000, e->err);
    }
    free(e);
    /* The waiting jobs check with the uploader now (or register unshared). finish() only
     * schedules the job's done event, so the list stays intact while we walk it. */
    for (struct dfd_swarm_job *j = sw->jobs; j; j = j->next) {
        if (!j->is_waiting_up)
            continue;
        j->is_waiting_up = 0;
        j->has_waited_up = 1;
        if (sw->up_port > 0 && start_check(j) == 0)
            continue;
        if (start_reg(j) < 0)
            finish(j, -EBUSY, "cannot start the registration");
    }
}

/* Shares j's file when this host has an uploader: /check it; with none known, waits for a
 * (re)start of it, unless j waited already or one failed less than UP_RETRY_MS ago. Returns 0
 * when a check or the wait is pending (the registration follows), -1 when j should register
 * unshared now. */
static int share_or_wait(struct dfd_swarm_job *j)
{
    struct dfd_swarm *sw = j->sw;
    if (sw->up_port > 0 && !sw->is_up_ensuring)
        return start_check(j);
    if (j->has_waited_up)
        return -1;
    if (!sw->is_up_ensuring) {
        if (df_now_ms() < sw->up_retry_ms)
            return -1;
        struct up_ensure *e = df_xcalloc(1, sizeof(*e));
        e->sw = sw;
        sw->is_up_ensuring = 1;
        DF_LOGI(MOD, "no usable uploader: finding or starting one");
        df_workpool_submit(sw->up_pool, work_ensure, on_ensure_done, e);
    }
    j->is_waiting_up = 1;
    return 0;
}

struct dfd_swarm_job *dfd_swarm_start(struct dfd_swarm *sw, int fd, const char *part_path,
                                      const char *url, const char *const *headers,
                                      int is_insecure, int has_ca,
                                      dfd_swarm_progress_cb progress, dfd_swarm_done_cb cb,
                                      void *arg, int *err)
{
    struct dfd_swarm_job *j = df_xcalloc(1, sizeof(*j));
    char werr[DF_ERR_LEN] = "";
    j->sw = sw;
    j->progress = progress;
    j->cb = cb;
    j->arg = arg;
    j->res.length = -1;
    j->url = df_xstrdup(url);
    j->task_url = df_proto_task_url(url, NULL);
    int64_t now = df_wall_ms();
    if (now <= sw->last_sign_ms)
        now = sw->last_sign_ms + 1;
    sw->last_sign_ms = now;
    snprintf(j->cid, sizeof(j->cid), "%s-%d-%lld.%03lld", sw->local_ip, (int)getpid(),
             (long long)(now / 1000), (long long)(now % 1000));
    char sign[64];
    snprintf(sign, sizeof(sign), "%d-%lld.%03lld", (int)getpid(), (long long)(now / 1000),
             (long long)(now % 1000));
    char base_name[80];
    const char *dg = strstr(url, "/blobs/sha256:");
    snprintf(base_name, sizeof(base_name), "blob-%.16s", dg ? dg + 14 : "x");
    if (dg && strlen(dg + 14) == DF_SHA256_HEX_LEN)
        snprintf(j->want_sha256, sizeof(j->want_sha256), "%s", dg + 14);
    dfget_upctl_task_file_name(base_name, sign, j->task_file, sizeof(j->task_file));
    size_t n = 0;
    while (headers && headers[n])
        n++;
    j->headers = df_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        j->headers[j->nheaders++] = df_xstrdup(headers[i]);
    j->done_ev = event_new(sw->base, -1, 0, on_done_ev, j);
    j->progress_ev = event_new(sw->base, -1, 0, on_progress_ev, j);
    j->writer = dfget_writer_new(sw->base, fd, on_writer_drain, j, werr);
    j->next = sw->jobs;
    if (sw->jobs)
        sw->jobs->prev = j;
    sw->jobs = j;
    if (!j->writer) {
        DF_LOGE(MOD, "cannot start a writer: %s", werr);
        *err = -ENOMEM;
        job_free(j);
        return NULL;
    }
    j->part_path = df_xstrdup(part_path);
    j->is_insecure = is_insecure;
    j->has_ca = has_ca;
    if (share_or_wait(j) == 0) {
        *err = 0;
        return j; /* registration follows the /check answer or the uploader's (re)start */
    }
    if (start_reg(j) < 0) {
        *err = -EBUSY;
        job_free(j);
        return NULL;
    }
    *err = 0;
    return j;
}
