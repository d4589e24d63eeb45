/* SPDX-License-Identifier: Apache-2.0 */
/* A small pool of worker threads for disk writes and hashing, so the event loop never blocks on
 * the disk. work() runs on a worker thread; done() then runs on the loop thread (woken through a
 * pipe), in completion order. Jobs run in submission order per pool but may complete out of
 * order when nthreads > 1.
 *
 * Ownership: `arg` belongs to the caller; the pool only passes it along. */
#ifndef DF_WORKPOOL_H
#define DF_WORKPOOL_H

struct event_base;
struct df_workpool;

typedef void (*df_work_fn)(void *arg);  /* worker thread */
typedef void (*df_done_fn)(void *arg);  /* loop thread */

/* nthreads >= 1. Returns NULL and fills err on failure (pipe/thread creation). */
struct df_workpool *df_workpool_new(struct event_base *base, int nthreads, char *err, int errlen);
/* Queues a job. Never fails (aborts on OOM). done may be NULL. */
void df_workpool_submit(struct df_workpool *p, df_work_fn work, df_done_fn done, void *arg);
/* Jobs submitted whose done() has not run yet. */
int df_workpool_pending(const struct df_workpool *p);
/* Waits for every queued job, runs the remaining done() callbacks, joins the threads. NULL ok. */
void df_workpool_free(struct df_workpool *p);

#endif
