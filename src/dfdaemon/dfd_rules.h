/* SPDX-License-Identifier: Apache-2.0 */
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
 *
 * Where requests may go (no open relay, no upstream the client picks): every outgoing target is
 * checked against what the configuration names —
 *   - upstreams (default, ns=, X-Dragonfly-Registry): the configured registry,
 *     registry_mirror.remote, a registry_allow entry, or a `proxies` regx matching
 *     "<scheme>://<host[:port]>/" (only the host part: a path-only regex such as
 *     `blobs/sha256.*` does not let a client pick the registry);
 *   - absolute URIs: a `proxies` rule matching the URL (Dragonfly), or the registries above;
 *   - CONNECT host:port: a hijack_https.hosts regx matching "host:port", a `proxies` regx
 *     matching "https://host[:port]/", or the registries above (host and port; scheme and
 *     path of URL-prefix entries do not apply to a tunnel).
 * Anything else → DFD_ACT_REJECT 403. A target allowed by a *named* host (configured
 * registry, exact registry_allow entry, a rule's redirect) may be any address; one allowed by
 * a pattern (regex, wildcard) may not be a loopback (127/8, ::1), link-local (169.254/16,
 * fe80::/10) or unspecified (0/8, ::) address, also written as IPv4-mapped/-compatible IPv6 —
 * unless the pattern names the host (it would not match with another host in its place) and
 * the host is written as that address or "localhost". Numeric hosts are decided here;
 * host names get is_addr_check: the caller resolves them and refuses special addresses.
 * Refused with a status (DFD_ACT_REJECT): "..", "." or their %2e forms as path segments, control
 * bytes or blanks in the target, invalid repository names in /v2/<name>/..., bad ns/header
 * values, body methods (PUT, PATCH, DELETE: this is a pull-through mirror).
 *
 * Threading: a struct dfd_rules is immutable after dfd_rules_new and may be shared. */
#ifndef DFD_RULES_H
#define DFD_RULES_H

#include <stddef.h>

#include "df_err.h"

struct sockaddr;
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
    int trust;                 /* enum dfd_trust: why the target may be reached */
    char *host;                /* the host connected to (no brackets), heap; NULL for
                                  LOCAL/REJECT */
    int port;                  /* and its port */
    int is_addr_check;         /* the host is a name allowed by a pattern: resolve it and refuse
                                  special addresses (dfd_rules_addr_is_special) */
};

enum dfd_trust {
    DFD_TRUST_NONE = 0,        /* not allowed */
    DFD_TRUST_ANY,             /* a pattern that matches whatever the host (e.g. "*", .*) */
    DFD_TRUST_NAMED,           /* a pattern that depends on the host (regex, *.domain) */
    DFD_TRUST_EXACT,           /* the host is written in the configuration */
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

/* 1 if sa (AF_INET / AF_INET6) is loopback, link-local or unspecified, including IPv4-mapped
 * (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms of such IPv4 addresses; else 0. */
int dfd_rules_addr_is_special(const struct sockaddr *sa);

enum dfd_host_kind {
    DFD_HOST_NAME = 0,         /* a DNS name: resolve it to know */
    DFD_HOST_PUBLIC,           /* a numeric address outside the special ranges */
    DFD_HOST_SPECIAL,          /* a special address, or "localhost" / "*.localhost" */
    DFD_HOST_INVALID,          /* not a host */
};
/* Classifies a host as written in a URL (brackets allowed). Pure. */
enum dfd_host_kind dfd_rules_host_kind(const char *host);

#endif
