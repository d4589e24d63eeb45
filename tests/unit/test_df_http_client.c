/* SPDX-License-Identifier: Apache-2.0 */
/* df_http_client + df_workpool against a real evhttp server on 127.0.0.1 inside the test:
 * collected bodies, streaming with pause/unpause, POST, headers, 404, connection refused,
 * timeouts, body cap, cancel, and worker completions on the loop thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_err.h"
#include "df_http_client.h"
#include "df_netpolicy.h"
#include "df_util.h"
#include "df_workpool.h"

#define BIG_LEN (3 * 1024 * 1024 + 17)

struct fx {
    struct event_base *base;
    struct evhttp *http;
    int port;
    struct df_http_client *c;
    int done_count;
    int err;
    long status;
    char body[256];
    uint64_t streamed;
    uint64_t stream_sum;
    int pauses;
    struct df_http_req *paused;
    char hdr[64];
    int64_t clen;
    int hello_hits;
    char errtext[256];
    int is_denied;
};

static unsigned char big_byte(size_t i) { return (unsigned char)((i * 131) ^ (i >> 9)); }

static void srv_cb(struct evhttp_request *req, void *arg)
{
    struct fx *f = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    if (strncmp(uri, "/to-", 4) == 0) {
        /* /to-<host>: 302 to http://<host>:<our port>/hello */
        char loc[128];
        snprintf(loc, sizeof(loc), "http://%s:%d/hello", uri + 4, f->port);
        evhttp_add_header(oh, "Location", loc);
        evhttp_send_reply(req, 302, "Found", NULL);
        return;
    }
    if (strcmp(uri, "/hello") == 0) {
        f->hello_hits++;
        evhttp_add_header(oh, "X-Test", "  value 1 ");
        evbuffer_add_printf(out, "hello world");
        evhttp_send_reply(req, 200, "OK", NULL);
    } else if (strcmp(uri, "/echo") == 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        evbuffer_add_buffer(out, in);
        evhttp_send_reply(req, 201, "Created", NULL);
    } else if (strcmp(uri, "/big") == 0) {
        unsigned char *b = malloc(BIG_LEN);
        for (size_t i = 0; i < BIG_LEN; i++)
            b[i] = big_byte(i);
        evbuffer_add(out, b, BIG_LEN);
        free(b);
        evhttp_send_reply(req, 200, "OK", NULL);
    } else if (strcmp(uri, "/slow") == 0) {
        /* never answers: the client must time out */
        return;
    } else {
        evhttp_send_reply(req, 404, "Not Found", NULL);
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    f->http = evhttp_new(f->base);
    evhttp_set_gencb(f->http, srv_cb, f);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    assert_non_null(s);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl);
    f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    f->c = df_http_client_new(f->base);
    assert_non_null(f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    df_http_client_free(f->c);
    evhttp_free(f->http);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void run_until(struct fx *f, int count)
{
    for (int i = 0; i < 2000 && f->done_count < count; i++)
        event_base_loop(f->base, EVLOOP_ONCE);
}

static void on_done_collect(struct df_http_req *req, int err, long status, void *arg)
{
    struct fx *f = arg;
    f->done_count++;
    f->err = err;
    f->status = status;
    size_t n;
    const char *b = df_http_req_body(req, &n);
    snprintf(f->body, sizeof(f->body), "%.*s", (int)n, b);
    const char *h = df_http_req_header(req, "x-test");
    snprintf(f->hdr, sizeof(f->hdr), "%s", h ? h : "");
    f->clen = df_http_req_content_length(req);
    snprintf(f->errtext, sizeof(f->errtext), "%s", df_http_req_errtext(req));
    f->is_denied = df_http_req_is_denied(req);
}

static char *url(struct fx *f, const char *path)
{
    return df_xasprintf("http://127.0.0.1:%d%s", f->port, path);
}

static void test_get_collect(void **state)
{
    struct fx *f = *state;
    char *u = url(f, "/hello");
    struct df_http_opts o = {.url = u};
    int err = 1;
    struct df_http_req *r = df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, &err);
    free(u);
    assert_non_null(r);
    assert_int_equal(err, 0);
    assert_int_equal(f->done_count, 0); /* never synchronous */
    run_until(f, 1);
    assert_int_equal(f->done_count, 1);
    assert_int_equal(f->err, 0);
    assert_int_equal(f->status, 200);
    assert_string_equal(f->body, "hello world");
    assert_string_equal(f->hdr, "value 1");
    assert_int_equal(f->clen, 11);
    assert_int_equal(df_http_client_active(f->c), 0);
}

static void test_post_and_404(void **state)
{
    struct fx *f = *state;
    char *u = url(f, "/echo");
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    struct df_http_opts o = {.url = u, .method = "POST", .headers = hdrs, .body = "{\"a\":1}", .body_len = 7};
    assert_non_null(df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, NULL));
    free(u);
    run_until(f, 1);
    assert_int_equal(f->status, 201);
    assert_string_equal(f->body, "{\"a\":1}");
    u = url(f, "/nope");
    struct df_http_opts o2 = {.url = u};
    assert_non_null(df_http_req_start(f->c, &o2, NULL, NULL, on_done_collect, f, NULL));
    free(u);
    run_until(f, 2);
    assert_int_equal(f->err, 0);
    assert_int_equal(f->status, 404);
}

static int on_data_stream(struct df_http_req *req, const void *data, size_t len, void *arg)
{
    struct fx *f = arg;
    /* pause every ~1 MiB once, to exercise redelivery */
    if (f->streamed / (1 << 20) != (f->streamed + len) / (1 << 20) && !f->paused && f->pauses < 3) {
        f->pauses++;
        f->paused = req;
        return DF_AGAIN;
    }
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        if (p[i] != big_byte(f->streamed + i))
            return DF_EDIGEST;
    f->streamed += len;
    return 0;
}

static void on_unpause_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fx *f = arg;
    struct df_http_req *r = f->paused;
    f->paused = NULL;
    df_http_req_unpause(r);
}

static void test_stream_pause(void **state)
{
    struct fx *f = *state;
    char *u = url(f, "/big");
    struct df_http_opts o = {.url = u};
    assert_non_null(df_http_req_start(f->c, &o, NULL, on_data_stream, on_done_collect, f, NULL));
    free(u);
    struct event *t = evtimer_new(f->base, on_unpause_timer, f);
    for (int i = 0; i < 5000 && f->done_count < 1; i++) {
        if (f->paused && !evtimer_pending(t, NULL)) {
            struct timeval tv = {0, 10000};
            evtimer_add(t, &tv);
        }
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    event_free(t);
    assert_int_equal(f->done_count, 1);
    assert_int_equal(f->err, 0);
    assert_int_equal(f->streamed, BIG_LEN);
    assert_true(f->pauses >= 1);
}

static void test_body_cap(void **state)
{
    struct fx *f = *state;
    char *u = url(f, "/big");
    struct df_http_opts o = {.url = u, .max_body = 1000};
    assert_non_null(df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, NULL));
    free(u);
    run_until(f, 1);
    assert_int_equal(f->err, DF_ETOOBIG);
}

static void test_refused_and_timeout(void **state)
{
    struct fx *f = *state;
    /* port 1 on loopback: nothing listens there */
    struct df_http_opts o = {.url = "http://127.0.0.1:1/x", .connect_timeout_ms = 1000};
    assert_non_null(df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, NULL));
    run_until(f, 1);
    assert_int_equal(f->err, -ECONNREFUSED);
    assert_int_equal(f->status, 0);
    char *u = url(f, "/slow");
    struct df_http_opts o2 = {.url = u, .timeout_ms = 300};
    int64_t t0 = df_now_ms();
    assert_non_null(df_http_req_start(f->c, &o2, NULL, NULL, on_done_collect, f, NULL));
    free(u);
    run_until(f, 2);
    assert_int_equal(f->err, DF_ETIMEDOUT);
    assert_true(df_now_ms() - t0 < 3000);
}

/* opts.policy: refused before connecting (first hop, redirects, host patterns), with the
 * policy's reason; allowed requests and redirects unaffected. */
static void test_policy(void **state)
{
    struct fx *f = *state;
    char err[DF_ERR_LEN];
    struct df_netpolicy *p = df_netpolicy_new();
    assert_int_equal(df_netpolicy_add(p, 0, "127.0.0.2/32,localhost", err), 0);
    df_netpolicy_add_own_port(p, 1);
    int n = 0;
    struct {
        const char *host; /* URL: http://<host>:<port><path>, port = the server's unless given */
        int port;
        const char *path;
        int is_denied;
        const char *why;
    } cases[] = {
        {"127.0.0.1", 0, "/hello", 0, ""},
        {"127.0.0.1", 0, "/to-127.0.0.1", 0, ""},
        {"127.0.0.2", 0, "/hello", 1, "denied by --origin-deny 127.0.0.2/32"},
        {"169.254.169.254", 0, "/latest/meta-data", 1, "denied by the link-local rule"},
        {"[::ffff:169.254.169.254]", 0, "/x", 1, "denied by the link-local rule"},
        {"127.0.0.1", 1, "/x", 1, "127.0.0.1:1 denied by the own-port rule"},
        {"localhost", 0, "/hello", 1, "denied by --origin-deny localhost"},
        {"127.0.0.1", 0, "/to-127.0.0.2", 1, "denied by --origin-deny 127.0.0.2/32"},
        {"127.0.0.1", 0, "/to-localhost", 1, "denied by --origin-deny localhost"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *u = df_xasprintf("http://%s:%d%s", cases[i].host,
                               cases[i].port ? cases[i].port : f->port, cases[i].path);
        struct df_http_opts o = {.url = u, .is_follow_redirects = 1, .policy = p,
                                 .connect_timeout_ms = 2000};
        int hits = f->hello_hits;
        f->is_denied = -1;
        assert_non_null(df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, NULL));
        free(u);
        run_until(f, ++n);
        assert_int_equal(f->done_count, n);
        if (cases[i].is_denied) {
            assert_int_equal(f->err, -EACCES);
            assert_int_equal(f->is_denied, 1);
            assert_non_null(strstr(f->errtext, cases[i].why));
            assert_int_equal(f->hello_hits, hits); /* the target never saw a request */
        } else {
            assert_int_equal(f->err, 0);
            assert_int_equal(f->status, 200);
            assert_string_equal(f->body, "hello world");
            assert_int_equal(f->is_denied, 0);
            assert_int_equal(f->hello_hits, hits + 1);
        }
    }
    /* without a policy nothing is checked */
    char *u = url(f, "/to-localhost");
    struct df_http_opts o = {.url = u, .is_follow_redirects = 1};
    assert_non_null(df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, NULL));
    free(u);
    run_until(f, ++n);
    assert_int_equal(f->err, 0);
    assert_int_equal(f->status, 200);
    df_netpolicy_free(p);
}

static int on_headers_reject(struct df_http_req *req, long status, void *arg)
{
    return status == 200 ? DF_EHTTP : 0;
}

static void test_headers_abort_and_cancel(void **state)
{
    struct fx *f = *state;
    char *u = url(f, "/big");
    struct df_http_opts o = {.url = u};
    assert_non_null(df_http_req_start(f->c, &o, on_headers_reject, on_data_stream, on_done_collect, f, NULL));
    run_until(f, 1);
    assert_int_equal(f->err, DF_EHTTP);
    assert_int_equal(f->status, 200);
    /* cancel: no callback afterwards, nothing leaks (ASan checks) */
    struct df_http_req *r = df_http_req_start(f->c, &o, NULL, NULL, on_done_collect, f, NULL);
    free(u);
    assert_non_null(r);
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    df_http_req_cancel(r);
    for (int i = 0; i < 20; i++)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(f->done_count, 1);
    assert_int_equal(df_http_client_active(f->c), 0);
    struct df_http_opts bad = {.url = NULL};
    int err = 0;
    assert_null(df_http_req_start(f->c, &bad, NULL, NULL, on_done_collect, f, &err));
    assert_int_equal(err, -EINVAL);
}

/* --- workpool --- */
struct wp_job {
    pthread_t loop_thread;
    int worked_on_other_thread;
    int done_on_loop_thread;
    int *done_counter;
};

static void wp_work(void *arg)
{
    struct wp_job *j = arg;
    j->worked_on_other_thread = !pthread_equal(pthread_self(), j->loop_thread);
}

static void wp_done(void *arg)
{
    struct wp_job *j = arg;
    j->done_on_loop_thread = pthread_equal(pthread_self(), j->loop_thread);
    (*j->done_counter)++;
}

static void test_workpool(void **state)
{
    struct fx *f = *state;
    char err[128];
    struct df_workpool *p = df_workpool_new(f->base, 3, err, sizeof(err));
    assert_non_null(p);
    int done = 0;
    struct wp_job jobs[100];
    for (int i = 0; i < 100; i++) {
        jobs[i] = (struct wp_job){.loop_thread = pthread_self(), .done_counter = &done};
        df_workpool_submit(p, wp_work, wp_done, &jobs[i]);
    }
    assert_int_equal(df_workpool_pending(p), 100);
    for (int i = 0; i < 1000 && done < 100; i++)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(done, 100);
    assert_int_equal(df_workpool_pending(p), 0);
    for (int i = 0; i < 100; i++) {
        assert_true(jobs[i].worked_on_other_thread);
        assert_true(jobs[i].done_on_loop_thread);
    }
    /* free with queued jobs: every done() still runs exactly once */
    for (int i = 0; i < 10; i++)
        df_workpool_submit(p, wp_work, wp_done, &jobs[i]);
    df_workpool_free(p);
    assert_int_equal(done, 110);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_collect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_and_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_abort_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workpool, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
