/* SPDX-License-Identifier: Apache-2.0 */
/* Tasks and dfget tasks ("peers") of the supernode, in memory.
 *
 * OWNERSHIP: struct sn_registry owns every struct sn_task (map id → task); a task owns its
 * clients (map cid → struct sn_peer, one per dfget task), its scheduling state and its piece
 * digests. A running CDN download (sn_cdn) points at its task and holds a reference
 * (task->refs): a task with refs > 0 is never freed (GC skips it, removal is deferred until
 * the last unref). Pending registrations (sn_api) also hold a reference each.
 *
 * Threading: loop thread only. Worker jobs never touch these structs; they get copies. */
#ifndef SN_TASK_H
#define SN_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "df_proto.h"
#include "sn_map.h"
#include "sn_sched.h"

struct sn_auth_creds;

enum sn_cdn_status {
    SN_CDN_WAITING = 0, /* never triggered */
    SN_CDN_RUNNING,     /* revalidation, resume or download in progress */
    SN_CDN_SUCCESS,     /* complete file + digests on disk */
    SN_CDN_FAILED,      /* last attempt failed; fail_reason says why; next registration retries */
};

const char *sn_cdn_status_name(enum sn_cdn_status s); /* "WAITING", "RUNNING", ... */

struct sn_piece_digest {
    unsigned char md5[16];     /* of the wrapped piece */
    unsigned char sha256[32];  /* of the wrapped piece */
    uint32_t wrapped_len;      /* payload + 5 */
};

struct sn_task {
    char id[DF_TASKID_LEN + 1];
    char *task_url;            /* identity (with raw_url for logs) */
    char *raw_url;             /* URL fetched from the origin */
    char *md5;                 /* expected md5 from the registration ("" if none) */
    char *identifier;
    char *range_hdr;           /* user Range header that is part of the id, or NULL */
    char **headers;            /* origin request headers ("Key: Value"), from the registration
                                  that (re)triggered the CDN; never changed while it runs */
    size_t nheaders;
    /* Origin TLS, set with the headers by the registration that (re)triggered the CDN, for
     * every origin request of the task (download, resume, revalidation): */
    int is_insecure;           /* skip verification */
    char *ca_pem;              /* the registration's rootCAs as one PEM bundle, trusted besides
                                  the system store (df_http_opts.ca_pem); NULL = none */
    size_t ca_pem_len;
    size_t n_root_cas;         /* entries it came from (for /api/v1/tasks) */

    int64_t http_length;       /* origin length; -1 unknown */
    uint32_t piece_size;       /* bytes incl. wrapper; 0 until decided */
    int is_reg_ready;          /* registrations can be answered (size decided or CDN failed) */
    enum sn_cdn_status cdn_status;
    char *fail_reason;         /* heap, set when FAILED */
    int fail_http_status;      /* 404/401/407/5xx or 0 */
    int64_t unreachable_until_ms; /* 404 / connect failure: refuse registrations until then */
    int is_cert_block;         /* that block is a TLS verification failure: it only refuses
                                  registrations with the same TLS settings (sn_task_is_same_tls) */
    int64_t access_ms;         /* last register/pull (monotonic) */
    int64_t wrapped_length;    /* CDN file length; -1 until known */
    char real_md5[65];         /* whole raw file, "" until SUCCESS */
    char real_sha256[65];

    struct sn_piece_digest *digests; /* ndigests entries, valid for every piece the CDN announced
                                        (kept when the supernode's copy is dropped) */
    uint32_t ndigests;

    struct sn_sched_task sched;
    struct sn_map *clients;    /* cid → struct sn_peer */
    struct sn_cdn_job *cdn;    /* running CDN job or NULL */
    void *pending;             /* sn_api's list of deferred registration replies */
    int refs;                  /* holders besides the registry (CDN job, pending replies) */
    int is_removed;            /* dropped from the registry; freed at the last unref */
    int is_verifying;          /* a re-verification of a piece runs (sn_verify) */
    int dl_inflight;           /* download-port replies whose file data is not sent yet; each
                                  holds a reference (sn_download); disk GC skips the task */
    int needs_refetch;         /* the cache copy is bad: fetch it again when the job ends */
    uint32_t refetch_piece;    /* with needs_refetch: the one bad piece to repair alone
                                  (sn_cdn_repair_piece), UINT32_MAX = the whole file */
    uint32_t verified_piece;   /* last piece found intact, and when (de-duplicates reports) */
    int64_t verified_ms;
    size_t mem_charged;        /* sn_task_mem_bytes at the last sn_registry_account */
    int is_private;            /* the registration that started the CDN carried credentials
                                  or a filtered (signed) URL:
                                  joiners are checked with the origin (sn_auth) and pieces need
                                  a token (df_token) */
};

/* A dfget task: one client (CID) downloading one task; also a future piece source. */
struct sn_peer {
    char *cid;
    char *ip;
    char *host_name;
    char *path;                /* uploader path /peer/file/<name> */
    char *version;
    char *super_node_ip;       /* peerIp for pieces served by us ("" → advertise ip) */
    char *call_system;
    int port;                  /* uploader port (0 = none) */
    int64_t access_ms;
    int64_t service_down_ms;   /* 0 = up; else when /peer/service/down arrived */
    int is_success;            /* 600 sent / 702 success */
    char *src_ip;              /* address the registration came from (tokens are bound to it) */
    int64_t token_exp_unix;    /* expiry of the last piece token handed out, 0 = none */
    struct sn_auth_creds *creds; /* private task: what this client proved access with (its
                                  token is renewed only while the origin accepts it); owned */
    struct sn_sched_client sched;
};

struct sn_registry {
    struct sn_map *tasks;      /* id → struct sn_task */
    uint64_t mem_bytes;        /* sum of mem_charged of the tasks in the map (the metadata
                                  budget, sn_limit.h) */
};

void sn_registry_init(struct sn_registry *r);
/* Frees every task (refs are ignored: call after all jobs/replies are gone). */
void sn_registry_cleanup(struct sn_registry *r);
struct sn_task *sn_registry_get(const struct sn_registry *r, const char *id);
/* Creates a task in WAITING state (copies the strings). The id must not exist yet. */
struct sn_task *sn_registry_add(struct sn_registry *r, const char *id, const char *task_url,
                                const char *raw_url, const char *md5, const char *identifier,
                                const char *range_hdr);
/* Recomputes t's metadata bytes (sn_task_mem_bytes) and updates r->mem_bytes. Call after
 * anything that grows or shrinks t (a registration, a GC pass); t must be in r. */
void sn_registry_account(struct sn_registry *r, struct sn_task *t);
/* Heap + inline bytes held for t and its clients: strings, headers, CA bundle, kept
 * credentials, piece digests, scheduling state, map entries. An upper estimate (allocator
 * overhead approximated per allocation). O(clients). */
size_t sn_task_mem_bytes(const struct sn_task *t);
/* The same for one client. */
size_t sn_peer_mem_bytes(const struct sn_peer *p);
/* Unlinks the task from the registry (and its bytes from r->mem_bytes); it is freed now if
 * refs == 0, else at the last unref. */
void sn_registry_remove(struct sn_registry *r, struct sn_task *t);
size_t sn_registry_count(const struct sn_registry *r);

void sn_task_ref(struct sn_task *t);
void sn_task_unref(struct sn_task *t);
/* Replaces the origin headers (copied). */
void sn_task_set_headers(struct sn_task *t, char *const *headers, size_t n);
/* Replaces the origin TLS settings: is_insecure, and the CA bundle ca_pem (len bytes, copied;
 * NULL/0 = none) from n_root_cas rootCAs entries. */
void sn_task_set_tls(struct sn_task *t, int is_insecure, const char *ca_pem, size_t len,
                     size_t n_root_cas);
/* 1 when these TLS settings equal the task's (same insecure flag, byte-equal CA bundle). */
int sn_task_is_same_tls(const struct sn_task *t, int is_insecure, const char *ca_pem, size_t len);
void sn_task_set_failed(struct sn_task *t, int http_status, const char *reason);
/* Fixes the piece size / length and sizes the digest table and scheduler for them. */
void sn_task_set_geometry(struct sn_task *t, int64_t http_length, uint32_t piece_size);
/* Forget every CDN piece (download restarts at 0). */
void sn_task_reset_pieces(struct sn_task *t);
/* Records piece n's digests and makes it schedulable. -ERANGE if n is out of bounds. */
int sn_task_piece_done(struct sn_task *t, uint32_t n, const struct sn_piece_digest *d)
    __attribute__((warn_unused_result));
/* "<md5hex>:<wrapped len>" and sha256 hex of piece n (which must be on disk). */
void sn_task_piece_md5(const struct sn_task *t, uint32_t n, char *out, size_t len);
void sn_task_piece_sha256(const struct sn_task *t, uint32_t n, char out[65]);

/* Clients. sn_task_peer_get returns NULL when unknown. _upsert creates or refreshes the
 * client of cid (a re-registration keeps the piece progress). */
struct sn_peer *sn_task_peer_get(const struct sn_task *t, const char *cid);
struct sn_peer *sn_task_peer_upsert(struct sn_task *t, const char *cid);
void sn_task_peer_remove(struct sn_task *t, struct sn_peer *p);
/* The client in scheduler slot idx (a pick's source), or NULL. */
struct sn_peer *sn_task_peer_at(const struct sn_task *t, int32_t idx);
/* Scheduler source of cid: SN_SCHED_SRC_CDN for a supernode CID ("cdnnode:" prefix), the
 * slot of a known client, else SN_SCHED_SRC_NONE. */
int32_t sn_task_src_of(const struct sn_task *t, const char *cid);
void sn_peer_set_str(char **field, const char *val);

/* "cdnnode:<ip>~<id>" of the supernode for task id into out. */
void sn_task_cdn_cid(const char *advertise_ip, const char *id, char *out, size_t len);
/* 1 when cid names a supernode ("cdnnode:" prefix). */
int sn_task_is_cdn_cid(const char *cid);

/* GC decisions (pure; now passed in). A task expires when idle longer than expire_ms, no CDN
 * job runs and nothing waits on it. A peer expires when it reported service-down more than
 * peer_gc_delay_ms ago. */
int sn_task_is_expired(const struct sn_task *t, int64_t now_ms, int64_t expire_ms);
int sn_peer_is_expired(const struct sn_peer *p, int64_t now_ms, int64_t peer_gc_delay_ms);

#endif
