/* SPDX-License-Identifier: Apache-2.0 */
/* Disk GC of the supernode cache: measures the cache (a bounded scan of <home>/repo/download on
 * the df_workpool, plus statvfs of its filesystem), asks sn_gc which tasks to evict, removes
 * their files (and drops evicted in-memory tasks from the registry), and updates the cache
 * metrics. A pass runs periodically (--gc-disk-interval), after every CDN job that ends, and
 * when a CDN write hits ENOSPC/EDQUOT (sn_diskgc_request with need_bytes; the CDN's waiting
 * writes are retried once that pass has removed its files: sn_cdn_space_done).
 *
 * Never evicted (sn_gc_task_is_busy): a task with a running CDN job, with references (pending
 * registrations, held pulls, download-port replies in flight: t->dl_inflight), being
 * re-verified, or with a client still downloading. Files of tasks that are not in memory
 * (left by an earlier run or by the task GC) count and are evictable.
 *
 * Threading: loop thread only; the scan and the unlinks run on the server's df_workpool.
 * OWNERSHIP: the server owns the struct sn_diskgc; it borrows the server (registry, CDN,
 * metrics, pool), which must outlive it. */
#ifndef SN_DISKGC_H
#define SN_DISKGC_H

#include <stdint.h>

struct sn_server;
struct sn_task;
struct sn_diskgc;

#define SN_DISKGC_SCAN_MAX_FILES 262144 /* files looked at per pass; beyond, the pass works on
                                           what it saw (logged) */

/* Creates the GC and arms its timer (first pass after cfg->gc_initial_delay_ms, then every
 * cfg->gc_disk_interval_ms; 0 = no periodic pass). Never fails. */
struct sn_diskgc *sn_diskgc_new(struct sn_server *s);
/* Asks for a pass. need_bytes > 0: a CDN write needs that much more free space; once a pass
 * that started after this call has removed its files, sn_cdn_space_done() is called. While a
 * pass runs, requests are merged into one follow-up pass. why is for the log (static). */
void sn_diskgc_request(struct sn_diskgc *g, uint64_t need_bytes, const char *why);
/* Stops the timer; passes in flight finish without touching anything (call before the worker
 * pool is drained). */
void sn_diskgc_shutdown(struct sn_diskgc *g);
/* After the worker pool was freed. NULL ok. */
void sn_diskgc_free(struct sn_diskgc *g);

#endif
