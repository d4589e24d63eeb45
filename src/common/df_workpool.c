/* SPDX-License-Identifier: Apache-2.0 */
/* Worker threads for blocking work (pwrite, fsync, hashing). Jobs are taken FIFO; finished jobs
 * go to a completion queue and an eventfd wakes the loop, which runs done() callbacks there.
 * The loop thread never waits on a worker except in df_workpool_free. */
#include "df_workpool.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "df_util.h"

struct job {
    df_work_fn work;
    df_done_fn done;
    void *arg;
    struct job *next;
};

struct jobq {
    struct job *head, *tail;
};

struct df_workpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct jobq todo;      /* guarded by mu */
    struct jobq finished;  /* guarded by mu */
    int is_stopping;       /* guarded by mu */
    int pending;           /* loop thread only: submitted, done() not yet run */
    int efd;
    struct event *ev;
    pthread_t *threads;
    int nthreads;
};

static void q_push(struct jobq *q, struct job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

static struct job *q_pop(struct jobq *q)
{
    struct job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
    }
    return j;
}

static void *worker(void *arg)
{
    struct df_workpool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->todo.head && !p->is_stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        struct job *j = q_pop(&p->todo);
        pthread_mutex_unlock(&p->mu);
        if (!j)
            return NULL; /* stopping and queue drained */
        j->work(j->arg);
        pthread_mutex_lock(&p->mu);
        q_push(&p->finished, j);
        pthread_mutex_unlock(&p->mu);
        uint64_t one = 1;
        ssize_t w = write(p->efd, &one, sizeof(one));
        (void)w; /* eventfd counter overflow is impossible at our rates */
    }
}

/* Runs every finished job's done() on the loop thread. */
static void drain_finished(struct df_workpool *p)
{
    pthread_mutex_lock(&p->mu);
    struct job *list = p->finished.head;
    p->finished.head = p->finished.tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (list) {
        struct job *j = list;
        list = j->next;
        p->pending--;
        if (j->done)
            j->done(j->arg);
        free(j);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct df_workpool *p = arg;
    uint64_t v;
    ssize_t r = read(p->efd, &v, sizeof(v));
    (void)r;
    drain_finished(p);
}

struct df_workpool *df_workpool_new(struct event_base *base, int nthreads, char *err, int errlen)
{
    struct df_workpool *p = df_xcalloc(1, sizeof(*p));
    if (nthreads < 1)
        nthreads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        snprintf(err, (size_t)errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_wake, p);
    event_add(p->ev, NULL);
    p->threads = df_xcalloc((size_t)nthreads, sizeof(pthread_t));
    for (int i = 0; i < nthreads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker, p);
        if (rc != 0) {
            snprintf(err, (size_t)errlen, "pthread_create: %s", strerror(rc));
            p->nthreads = i;
            df_workpool_free(p);
            return NULL;
        }
        p->nthreads = i + 1;
    }
    return p;
fail:
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    return NULL;
}

void df_workpool_submit(struct df_workpool *p, df_work_fn work, df_done_fn done, void *arg)
{
    struct job *j = df_xcalloc(1, sizeof(*j));
    j->work = work;
    j->done = done;
    j->arg = arg;
    p->pending++;
    pthread_mutex_lock(&p->mu);
    q_push(&p->todo, j);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int df_workpool_pending(const struct df_workpool *p) { return p->pending; }

void df_workpool_free(struct df_workpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->is_stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* done() callbacks may submit more work; run those inline now that the threads are gone. */
    drain_finished(p);
    struct job *j;
    while ((j = q_pop(&p->todo))) {
        j->work(j->arg);
        p->pending--;
        if (j->done)
            j->done(j->arg);
        free(j);
    }
    free(p->threads);
    if (p->ev)
        event_free(p->ev);
    if (p->efd >= 0)
        close(p->efd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
