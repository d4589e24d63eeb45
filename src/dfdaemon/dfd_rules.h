/* Pure request router of dfdaemon (spec §10.2): given the method, the request target as
 * received and the X-Dragonfly-Registry header, decides what to do with a request and builds
 * the upstream URL. No I/O, no clock: unit-tested without sockets.
 *
 * Registry-mirror mode (relative target "/v2/..."):
 *   - GET /metrics, /debug/version              → DFD_ACT_LOCAL
 *   - GET ^/v2/<name>/blobs/sha256:<64 hex>$     → DFD_ACT_BLOB (swarm-eligible; registry_mirror
 *                                                  direct → DFD_ACT_PASS)
 *   - everything else (/v2/, manifests, tags, HEADs, token paths) → DFD_ACT_PASS
 *   Upstream per request: the containerd `ns=` query parameter (removed from the upstream URL),
 *   else the X-Dragonfly-Registry header, else the configured registry. A host without scheme
 *   becomes https://host, except the configured registry's own host, which keeps its scheme;
 *   ns=docker.io means https://registry-1.docker.io.
 * HTTP-proxy mode (absolute target "http://host/..."): the `proxies` rules in order, regex on
 *   the full URL; the first match decides (use_https, redirect, direct); a GET matched by a
 *   non-direct rule → DFD_ACT_PROXY_P2P, anything else → DFD_ACT_PROXY (straight to the target).
 *   A PROXY_P2P GET of scheme://host/v2/<repo>/blobs/sha256:<64 hex> (no query) also gets
 *   upstream (scheme://host), repo and digest: it takes the blob path like DFD_ACT_BLOB.
 * CONNECT host:port → DFD_ACT_CONNECT.
 * Refused with a status (DFD_ACT_REJECT): "..", "." or their %2e forms as path segments, control
 * bytes or blanks in the target, invalid repository names in /v2/<name>/..., bad ns/header
 * values, body methods (PUT, PATCH, DELETE: this is a pull-through mirror).
 *
 * Threading: a struct dfd_rules is immutable after dfd_rules_new and may be shared. */
#ifndef DFD_RULES_H
#define DFD_RULES_H

#include <stddef.h>

#include "df_err.h"
#include "dfd_config.h"

#define DFD_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL fits */

enum dfd_action {
    DFD_ACT_REJECT = 0,  /* answer `status` locally */
    DFD_ACT_LOCAL,       /* served by dfdaemon itself (path in `url`) */
    DFD_ACT_PASS,        /* to the upstream registry, as is */
    DFD_ACT_BLOB,        /* blob GET: authorization check, then swarm (or upstream) */
    DFD_ACT_PROXY,       /* HTTP-proxy request straight to the target */
    DFD_ACT_PROXY_P2P,   /* HTTP-proxy GET matched by a non-direct rule: swarm-eligible */
    DFD_ACT_CONNECT,     /* CONNECT tunnel to `url` ("host:port") */
};

struct dfd_rules;

struct dfd_rules_in {
    const char *method;        /* "GET", "HEAD", ... (never NULL) */
    const char *target;        /* request target as received: "/v2/..." or "http://h/..." */
    const char *registry_hdr;  /* X-Dragonfly-Registry value or NULL */
};

struct dfd_route {
    enum dfd_action action;
    int status;                /* DFD_ACT_REJECT: HTTP status to answer */
    char reason[160];          /* DFD_ACT_REJECT: one-line reason; else "" */
    char *url;                 /* upstream URL (PASS/BLOB/PROXY*), local path (LOCAL) or
                                  "host:port" (CONNECT); heap, NULL for REJECT */
    char *upstream;            /* PASS/BLOB (and PROXY_P2P blob URLs): "scheme://host[:port]"
                                  of the registry; heap */
    char *repo;                /* /v2/<repo>/{blobs,manifests,tags}/...: the repository; heap */
    char digest[DFD_DIGEST_MAX]; /* BLOB, PROXY_P2P blob URL: "sha256:<hex>"; else "" */
    int is_default_upstream;   /* upstream is the configured registry (its TLS options apply) */
    int rule_index;            /* proxy mode: index of the matching rule, -1 if none */
};

/* Compiles the proxies rules of cfg (borrowed only during the call). Returns NULL with err
 * filled when a regex does not compile. */
struct dfd_rules *dfd_rules_new(const struct dfd_config *cfg, char err[DF_ERR_LEN]);
void dfd_rules_free(struct dfd_rules *r); /* NULL ok */

/* Routes one request. Always fills out (call dfd_route_cleanup afterwards). */
void dfd_rules_route(const struct dfd_rules *r, const struct dfd_rules_in *in,
                     struct dfd_route *out);
void dfd_route_cleanup(struct dfd_route *rt);

/* 1 if name is a valid repository name (distribution grammar: lowercase components of
 * [a-z0-9] joined by '.', '_', '__' or '-'s, separated by '/', at most 255 bytes). */
int dfd_rules_valid_repo(const char *name, size_t len);
/* 1 if s is exactly "sha256:" followed by 64 lowercase hex digits. */
int dfd_rules_valid_digest(const char *s);

const char *dfd_action_name(enum dfd_action a);

#endif
