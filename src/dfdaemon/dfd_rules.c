/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon's pure request router: target validation, repository/digest grammar, upstream
 * choice (ns= / X-Dragonfly-Registry / --registry), blob detection and the `proxies` rules of
 * HTTP-proxy mode. Builds upstream URLs; performs no I/O. */
#include "dfd_rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "df_proto.h"
#include "df_util.h"

#define DOCKER_HUB "https://registry-1.docker.io"
/* Put in place of the host to see whether a pattern names the host (see regex_trust). */
#define PLACEHOLDER_HOST "placeholder.invalid"

struct dfd_rule_c {
    regex_t re;
    int use_https;
    int direct;
    char *redirect;
};

struct dfd_rules {
    char *registry;            /* normalised default upstream */
    char *registry_host;       /* its host[:port] part */
    int is_mirror_direct;
    struct dfd_rule_c *rules;
    size_t n_rules;
    struct dfd_allow *allow;   /* registry, registry_mirror.remote, registry_allow */
    size_t n_allow;
    regex_t *connect_re;       /* hijack_https.hosts */
    size_t n_connect;
};

const char *dfd_action_name(enum dfd_action a)
{
    switch (a) {
    case DFD_ACT_REJECT: return "reject";
    case DFD_ACT_LOCAL: return "local";
    case DFD_ACT_PASS: return "pass";
    case DFD_ACT_BLOB: return "blob";
    case DFD_ACT_PROXY: return "proxy";
    case DFD_ACT_PROXY_P2P: return "proxy_p2p";
    case DFD_ACT_CONNECT: return "connect";
    }
    return "?";
}

static const char *host_part(const char *url)
{
    const char *p = strstr(url, "://");
    return p ? p + 3 : url;
}

struct dfd_rules *dfd_rules_new(const struct dfd_config *cfg, char err[DF_ERR_LEN])
{
    struct dfd_rules *r = df_xcalloc(1, sizeof(*r));
    r->registry = df_xstrdup(cfg->registry);
    r->registry_host = df_xstrdup(host_part(cfg->registry));
    r->is_mirror_direct = cfg->is_mirror_direct;
    r->rules = df_xcalloc(cfg->n_proxies ? cfg->n_proxies : 1, sizeof(*r->rules));
    for (size_t i = 0; i < cfg->n_proxies; i++) {
        int erc = regcomp(&r->rules[i].re, cfg->proxies[i].regx, REG_EXTENDED | REG_NOSUB);
        if (erc != 0) {
            char msg[128];
            regerror(erc, &r->rules[i].re, msg, sizeof(msg));
            snprintf(err, DF_ERR_LEN, "proxies[%zu].regx '%s': %s", i, cfg->proxies[i].regx, msg);
            dfd_rules_free(r);
            return NULL;
        }
        r->n_rules = i + 1;
        r->rules[i].use_https = cfg->proxies[i].use_https;
        r->rules[i].direct = cfg->proxies[i].direct;
        r->rules[i].redirect = df_xstrdup(cfg->proxies[i].redirect);
    }
    size_t cap = 2 + cfg->n_registry_allow;
    r->allow = df_xcalloc(cap, sizeof(*r->allow));
    const char *named[2] = {cfg->registry, cfg->mirror_remote};
    for (size_t i = 0; i < cap; i++) {
        const char *e = i < 2 ? named[i] : cfg->registry_allow[i - 2];
        if (!e)
            continue;
        if (dfd_config_parse_allow(e, &r->allow[r->n_allow], err) < 0) {
            dfd_rules_free(r);
            return NULL;
        }
        r->n_allow++;
    }
    r->connect_re = df_xcalloc(cfg->n_connect_hosts ? cfg->n_connect_hosts : 1,
                               sizeof(*r->connect_re));
    for (size_t i = 0; i < cfg->n_connect_hosts; i++) {
        int erc = regcomp(&r->connect_re[i], cfg->connect_hosts[i], REG_EXTENDED | REG_NOSUB);
        if (erc != 0) {
            snprintf(err, DF_ERR_LEN, "hijack_https.hosts[%zu].regx '%.100s': invalid", i,
                     cfg->connect_hosts[i]);
            dfd_rules_free(r);
            return NULL;
        }
        r->n_connect = i + 1;
    }
    return r;
}

void dfd_rules_free(struct dfd_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_rules; i++) {
        regfree(&r->rules[i].re);
        free(r->rules[i].redirect);
    }
    free(r->rules);
    for (size_t i = 0; i < r->n_allow; i++)
        dfd_allow_cleanup(&r->allow[i]);
    free(r->allow);
    for (size_t i = 0; i < r->n_connect; i++)
        regfree(&r->connect_re[i]);
    free(r->connect_re);
    free(r->registry);
    free(r->registry_host);
    free(r);
}

void dfd_route_cleanup(struct dfd_route *rt)
{
    if (!rt)
        return;
    free(rt->url);
    free(rt->upstream);
    free(rt->repo);
    free(rt->host);
    rt->url = rt->upstream = rt->repo = rt->host = NULL;
}

/* ---- grammar ------------------------------------------------------------------------------ */

static int is_lalnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

int dfd_rules_valid_repo(const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return 0;
    size_t i = 0;
    for (;;) {
        /* component: alnum+ (separator alnum+)* */
        if (i >= len || !is_lalnum(s[i]))
            return 0;
        while (i < len && is_lalnum(s[i]))
            i++;
        while (i < len && s[i] != '/') {
            if (s[i] == '.' || s[i] == '-' || s[i] == '_') {
                if (s[i] == '_' && i + 1 < len && s[i + 1] == '_')
                    i += 2;
                else if (s[i] == '-')
                    while (i < len && s[i] == '-')
                        i++;
                else
                    i++;
            } else {
                return 0;
            }
            if (i >= len || !is_lalnum(s[i]))
                return 0;
            while (i < len && is_lalnum(s[i]))
                i++;
        }
        if (i == len)
            return 1;
        i++; /* '/' */
    }
}

int dfd_rules_valid_digest(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0)
        return 0;
    size_t n = 0;
    for (const char *p = s + 7; *p; p++, n++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return n == 64;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void reject(struct dfd_route *out, int status, const char *reason)
{
    dfd_route_cleanup(out);
    out->action = DFD_ACT_REJECT;
    out->status = status;
    out->trust = DFD_TRUST_NONE;
    out->is_addr_check = 0;
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/* ---- where requests may go ---------------------------------------------------------------- */

static int is_special_v4(const unsigned char *b)
{
    return b[0] == 127 || b[0] == 0 || (b[0] == 169 && b[1] == 254);
}

int dfd_rules_addr_is_special(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET)
        return is_special_v4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family != AF_INET6)
        return 0;
    const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char zero[12], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    /* ::, ::1 (as 0.0.0.0 and 0.0.0.1), IPv4-compatible ::a.b.c.d, IPv4-mapped
     * ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d: the embedded IPv4 address decides */
    if (!memcmp(b, zero, 12) || !memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
        return is_special_v4(b + 12);
    return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; /* fe80::/10 */
}

enum dfd_host_kind dfd_rules_host_kind(const char *host)
{
    char c[256];
    int rc = host ? dfd_config_canon_host(host, strlen(host), c, sizeof(c)) : -1;
    if (rc < 0)
        return DFD_HOST_INVALID;
    if (rc == 0) {
        size_t n = strlen(c);
        return !strcmp(c, "localhost") || (n > 10 && !strcmp(c + n - 10, ".localhost"))
                   ? DFD_HOST_SPECIAL
                   : DFD_HOST_NAME;
    }
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, c, &s4.sin_addr) == 1)
        return dfd_rules_addr_is_special((struct sockaddr *)&s4) ? DFD_HOST_SPECIAL
                                                                 : DFD_HOST_PUBLIC;
    if (inet_pton(AF_INET6, c, &s6.sin6_addr) == 1)
        return dfd_rules_addr_is_special((struct sockaddr *)&s6) ? DFD_HOST_SPECIAL
                                                                 : DFD_HOST_PUBLIC;
    return DFD_HOST_INVALID;
}

/* Splits "host[:port]" / "[v6][:port]" (authority of len bytes): *hlen bytes of host (with
 * brackets), *port (def when absent). -1 when malformed. */
static int split_authority(const char *a, size_t len, size_t *hlen, int *port, int def)
{
    const char *colon = NULL;
    if (len && a[0] == '[') {
        const char *rb = memchr(a, ']', len);
        if (!rb)
            return -1;
        *hlen = (size_t)(rb - a) + 1;
        if (*hlen < len) {
            if (a[*hlen] != ':')
                return -1;
            colon = a + *hlen;
        }
    } else {
        colon = memchr(a, ':', len);
        *hlen = colon ? (size_t)(colon - a) : len;
        if (colon && memchr(colon + 1, ':', len - *hlen - 1))
            return -1;
    }
    *port = def;
    if (colon) {
        uint64_t p = 0;
        size_t plen = len - (size_t)(colon + 1 - a);
        if (plen == 0 || plen > 5)
            return -1;
        for (size_t i = 0; i < plen; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return -1;
            p = p * 10 + (uint64_t)(colon[1 + i] - '0');
        }
        if (p < 1 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return *hlen > 0 ? 0 : -1;
}

static int path_has_prefix(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return 0;
    return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/' || path[n] == '?';
}

/* Trust from the allow entries for a target (scheme NULL and path NULL: a CONNECT tunnel, where
 * neither can be enforced). host is canonical. */
static int allow_trust(const struct dfd_rules *r, const char *scheme, const char *host, int port,
                       const char *path)
{
    int best = DFD_TRUST_NONE;
    for (size_t i = 0; i < r->n_allow; i++) {
        const struct dfd_allow *a = &r->allow[i];
        int t;
        if (a->path && (!path || !path_has_prefix(path, a->path)))
            continue;
        if (a->scheme && scheme && strcmp(a->scheme, scheme) != 0)
            continue;
        if (a->port && a->port != port)
            continue;
        if (!a->is_wild) {
            if (strcmp(a->host, host) != 0)
                continue;
            t = DFD_TRUST_EXACT;
        } else if (!strcmp(a->host, "*")) {
            t = DFD_TRUST_ANY;
        } else {
            size_t hl = strlen(host), sl = strlen(a->host + 1); /* ".suffix" */
            if (hl <= sl || strcmp(host + hl - sl, a->host + 1) != 0)
                continue;
            t = DFD_TRUST_NAMED;
        }
        if (t > best)
            best = t;
    }
    return best;
}

/* Trust from a regex for subject, whose host is subject[hoff, hoff + hlen): NONE when it does
 * not match; NAMED when it would not match with another host in that place (the regex names
 * the host); ANY when it matches whatever the host (e.g. blobs/sha256.*). */
static int regex_trust(const regex_t *re, const char *subject, size_t hoff, size_t hlen)
{
    if (regexec(re, subject, 0, NULL, 0) != 0)
        return DFD_TRUST_NONE;
    char *alt = df_xasprintf("%.*s%s%s", (int)hoff, subject, PLACEHOLDER_HOST,
                             subject + hoff + hlen);
    int t = regexec(re, alt, 0, NULL, 0) == 0 ? DFD_TRUST_ANY : DFD_TRUST_NAMED;
    free(alt);
    return t;
}

/* Canonical host of host[0, hlen) into c (256 bytes); -1 when it is not a host. */
static int canon(const char *host, size_t hlen, char *c)
{
    return dfd_config_canon_host(host, hlen, c, 256) < 0 ? -1 : 0;
}

/* Records the target host[0, hlen):port reached with `trust`, or rejects the route: 403 when
 * nothing allows it, or when it is a special address that the allowing rule does not name. */
static void set_target(struct dfd_route *out, int trust, const char *host, size_t hlen, int port,
                       const char *what)
{
    char msg[sizeof(out->reason)];
    if (trust == DFD_TRUST_NONE) {
        snprintf(msg, sizeof(msg), "%.80s is not allowed: no configured registry, registry_allow "
                 "entry or rule names it", what);
        reject(out, 403, msg);
        return;
    }
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    out->trust = trust;
    out->host = df_xstrndup(host, hlen);
    out->port = port;
    if (trust == DFD_TRUST_EXACT)
        return;
    switch (dfd_rules_host_kind(out->host)) {
    case DFD_HOST_INVALID:
        reject(out, 400, "invalid host");
        return;
    case DFD_HOST_SPECIAL:
        if (trust == DFD_TRUST_NAMED)
            return;
        snprintf(msg, sizeof(msg), "%.60s is a loopback, link-local or unspecified address that "
                 "no rule names (registry_allow)", what);
        reject(out, 403, msg);
        return;
    case DFD_HOST_NAME:
        out->is_addr_check = 1;
        return;
    case DFD_HOST_PUBLIC:
        return;
    }
}

/* Trust for an URL "scheme://authority/path..." (from the allow entries only). Fills the
 * authority's host offset/length and port. -1 when the authority is malformed. */
static int url_trust(const struct dfd_rules *r, const char *url, size_t *hoff, size_t *hlen,
                     int *port)
{
    const char *sep = strstr(url, "://");
    int is_https = !strncasecmp(url, "https", 5);
    const char *a = sep + 3;
    size_t alen = strcspn(a, "/?#");
    char c[256];
    if (split_authority(a, alen, hlen, port, is_https ? 443 : 80) < 0 || canon(a, *hlen, c) < 0)
        return -1;
    *hoff = (size_t)(a - url);
    const char *path = a + alen;
    return allow_trust(r, is_https ? "https" : "http", c, *port, *path ? path : "/");
}


static int has_bad_bytes(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f)
            return 1;
    }
    return 0;
}

/* 1 if one '/'-separated segment of path[0..len) is ".", ".." or a percent-encoded form. */
static int has_dot_segment(const char *path, size_t len)
{
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        if (n > 0 && n <= 12) {
            char seg[13];
            memcpy(seg, path + i, n);
            seg[n] = '\0';
            int drc = df_proto_url_decode(seg);
            if (drc < 0 || !strcmp(seg, ".") || !strcmp(seg, ".."))
                return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* Finds ns= in the query, returns its decoded value (heap) or NULL, and the query without it
 * in *rest (heap, "" when nothing is left). -EINVAL on a bad escape in ns. */
static int split_ns(const char *query, char **ns, char **rest)
{
    *ns = NULL;
    size_t qlen = strlen(query);
    char *acc = df_xmalloc(qlen + 1);
    size_t alen = 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= 3 && strncmp(p, "ns=", 3) == 0) {
            if (!*ns) {
                *ns = df_xstrndup(p + 3, n - 3);
                if (df_proto_url_decode(*ns) < 0) {
                    free(*ns);
                    *ns = NULL;
                    free(acc);
                    *rest = NULL;
                    return -EINVAL;
                }
            }
        } else if (n > 0) {
            if (alen)
                acc[alen++] = '&';
            memcpy(acc + alen, p, n);
            alen += n;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    acc[alen] = '\0';
    *rest = acc;
    return 0;
}

/* The upstream registry for a relative request; heap, NULL with a reason when invalid. */
static char *choose_upstream(const struct dfd_rules *r, const char *ns, const char *hdr,
                             int *is_default, const char **why)
{
    *is_default = 0;
    if (ns && *ns) {
        if (!strcasecmp(ns, r->registry_host) ||
            (!strcasecmp(ns, "docker.io") && (!strcasecmp(r->registry_host, "index.docker.io") ||
                                              !strcasecmp(r->registry_host, "registry-1.docker.io")))) {
            *is_default = 1;
            return df_xstrdup(r->registry);
        }
        if (!strcasecmp(ns, "docker.io"))
            return df_xstrdup(DOCKER_HUB);
        if (strstr(ns, "://")) {
            *why = "ns must be a registry host[:port], not a URL";
            return NULL;
        }
        char *u = dfd_config_norm_registry(ns);
        if (!u)
            *why = "invalid ns registry host";
        return u;
    }
    if (hdr && *hdr) {
        char *u = dfd_config_norm_registry(hdr);
        if (!u) {
            *why = "invalid X-Dragonfly-Registry header (want http(s)://host[:port])";
            return NULL;
        }
        if (!strcasecmp(u, r->registry))
            *is_default = 1;
        return u;
    }
    *is_default = 1;
    return df_xstrdup(r->registry);
}

static int max_trust(int a, int b) { return a > b ? a : b; }

/* Mirror mode: may the request go to out->upstream (out->url)? The configured registry is
 * named; another upstream needs an allow entry or a proxies regx on "<upstream>/". */
static void target_upstream(const struct dfd_rules *r, struct dfd_route *out, int is_hub)
{
    size_t hoff, hlen, alen;
    int port;
    int t = url_trust(r, out->url, &hoff, &hlen, &port);
    if (t < 0) {
        reject(out, 400, "invalid upstream host");
        return;
    }
    if (out->is_default_upstream)
        t = DFD_TRUST_EXACT;
    alen = strcspn(out->url + hoff, "/?#");
    if (is_hub) /* ns=docker.io: an entry "docker.io" names Docker Hub too */
        t = max_trust(t, allow_trust(r, "https", "docker.io", 443, out->url + hoff + alen));
    char *base = df_xasprintf("%s/", out->upstream);
    for (size_t i = 0; i < r->n_rules && t < DFD_TRUST_EXACT; i++)
        t = max_trust(t, regex_trust(&r->rules[i].re, base, hoff, hlen));
    free(base);
    char what[128];
    snprintf(what, sizeof(what), "upstream %.100s", out->upstream);
    set_target(out, t, out->url + hoff, hlen, port, what);
}

static const char *const repo_keywords[] = {"/blobs/", "/manifests/", "/tags/", "/referrers/"};

static void route_registry(const struct dfd_rules *r, const struct dfd_rules_in *in,
                           struct dfd_route *out)
{
    const char *t = in->target;
    const char *q = strchr(t, '?');
    size_t plen = q ? (size_t)(q - t) : strlen(t);
    int is_get = !strcmp(in->method, "GET");
    int is_head = !strcmp(in->method, "HEAD");

    if (has_dot_segment(t, plen)) {
        reject(out, 400, "'.' or '..' path segment, or a bad percent escape in the path");
        return;
    }
    if ((is_get || is_head) && ((plen == 8 && !strncmp(t, "/metrics", 8)) ||
                                (plen == 14 && !strncmp(t, "/debug/version", 14)))) {
        out->action = DFD_ACT_LOCAL;
        out->url = df_xstrndup(t, plen);
        return;
    }
    if (!strcmp(in->method, "PUT") || !strcmp(in->method, "PATCH") ||
        !strcmp(in->method, "DELETE")) {
        reject(out, 405, "dfdaemon is a pull-through mirror: push and delete are not supported");
        return;
    }

    char *ns = NULL, *rest = NULL;
    if (split_ns(q ? q + 1 : "", &ns, &rest) < 0) {
        reject(out, 400, "bad percent escape in ns query parameter");
        return;
    }
    const char *why = "invalid upstream";
    int is_hub = ns && !strcasecmp(ns, "docker.io");
    out->upstream = choose_upstream(r, ns, in->registry_hdr, &out->is_default_upstream, &why);
    free(ns);
    if (!out->upstream) {
        free(rest);
        reject(out, 400, why);
        return;
    }
    out->url = df_xasprintf("%s%.*s%s%s", out->upstream, (int)plen, t, *rest ? "?" : "", rest);
    free(rest);
    out->action = DFD_ACT_PASS;
    target_upstream(r, out, is_hub);
    if (out->action == DFD_ACT_REJECT)
        return;

    /* /v2/<name>/<keyword>...: the rightmost keyword wins, since nothing after it contains one
     * (references and digests have no '/'; "blobs/uploads/<id>" has no keyword). */
    if (plen < 4 || strncmp(t, "/v2/", 4) != 0)
        return;
    const char *kw = NULL;
    size_t kwlen = 0;
    for (size_t i = 0; i < DF_ARRAY_LEN(repo_keywords); i++) {
        const char *hit = NULL, *p = t + 3;
        size_t kl = strlen(repo_keywords[i]);
        while ((p = memmem(p, plen - (size_t)(p - t), repo_keywords[i], kl)) != NULL) {
            hit = p;
            p++;
        }
        if (hit && (!kw || hit > kw)) {
            kw = hit;
            kwlen = kl;
        }
    }
    if (!kw)
        return; /* /v2/, /v2/_catalog, token paths... */
    const char *name = t + 4;
    size_t nlen = (size_t)(kw - name);
    if (!dfd_rules_valid_repo(name, nlen)) {
        reject(out, 400, "invalid repository name");
        return;
    }
    out->repo = df_xstrndup(name, nlen);
    if (kwlen != 7 || strncmp(kw, "/blobs/", 7) != 0)
        return;
    const char *tail = kw + kwlen;
    size_t tlen = plen - (size_t)(tail - t);
    if (tlen >= 7 && !strncmp(tail, "sha256:", 7)) {
        char dg[DFD_DIGEST_MAX];
        if (tlen >= sizeof(dg)) {
            reject(out, 400, "invalid sha256 digest");
            return;
        }
        memcpy(dg, tail, tlen);
        dg[tlen] = '\0';
        if (!dfd_rules_valid_digest(dg)) {
            reject(out, 400, "invalid sha256 digest");
            return;
        }
        memcpy(out->digest, dg, tlen + 1);
        if (is_get && !r->is_mirror_direct)
            out->action = DFD_ACT_BLOB;
    }
}

/* A swarm-eligible proxy GET of <scheme>://<host>/v2/<repo>/blobs/sha256:<64 hex> (no query)
 * is a blob: fills upstream, repo and digest so that it takes the blob path (authorization
 * gate, store, swarm, verified stream). Anything else keeps digest "" (fetched directly). */
static void proxy_blob(const struct dfd_rules *r, struct dfd_route *out)
{
    const char *hp = strstr(out->url, "://") + 3;
    const char *path = hp + strcspn(hp, "/");
    if (strncmp(path, "/v2/", 4) != 0 || strpbrk(path, "?#"))
        return;
    const char *kw = strstr(path, "/blobs/sha256:");
    if (!kw || strstr(kw + 1, "/blobs/") || !dfd_rules_valid_digest(kw + 7) ||
        !dfd_rules_valid_repo(path + 4, (size_t)(kw - (path + 4))))
        return;
    out->upstream = df_xstrndup(out->url, (size_t)(path - out->url));
    out->repo = df_xstrndup(path + 4, (size_t)(kw - (path + 4)));
    snprintf(out->digest, sizeof(out->digest), "%s", kw + 7);
    out->is_default_upstream = !strcasecmp(out->upstream, r->registry);
}

static void route_proxy(const struct dfd_rules *r, const struct dfd_rules_in *in,
                        struct dfd_route *out)
{
    const char *t = in->target;
    int is_https = !strncasecmp(t, "https://", 8);
    const char *hp = t + (is_https ? 8 : 7);
    size_t hlen = strcspn(hp, "/?#");
    if (hlen == 0 || memchr(hp, '@', hlen)) {
        reject(out, 400, "absolute URI without a host, or with user info");
        return;
    }
    const char *path = hp + hlen;
    if (!strcmp(in->method, "PUT") || !strcmp(in->method, "PATCH") ||
        !strcmp(in->method, "DELETE")) {
        reject(out, 405, "dfdaemon proxies GET, HEAD, POST and OPTIONS only");
        return;
    }
    int idx = -1;
    for (size_t i = 0; i < r->n_rules; i++) {
        if (regexec(&r->rules[i].re, t, 0, NULL, 0) == 0) {
            idx = (int)i;
            break;
        }
    }
    out->rule_index = idx;
    const struct dfd_rule_c *rule = idx >= 0 ? &r->rules[idx] : NULL;
    const char *scheme = (rule && rule->use_https) || is_https ? "https" : "http";
    if (rule && rule->redirect)
        out->url = df_xasprintf("%s://%s%s", scheme, rule->redirect, *path ? path : "/");
    else
        out->url = df_xasprintf("%s://%.*s%s", scheme, (int)hlen, hp, *path ? path : "/");
    out->action = (rule && !rule->direct && !strcmp(in->method, "GET")) ? DFD_ACT_PROXY_P2P
                                                                         : DFD_ACT_PROXY;
    /* where it goes: an allow entry for the (rewritten) URL, the rule's redirect (named), or
     * the rule's regex (named when it depends on the host) */
    size_t hoff, uhlen, ohlen;
    int port, oport;
    int trust = url_trust(r, out->url, &hoff, &uhlen, &port);
    if (trust < 0 || split_authority(hp, hlen, &ohlen, &oport, 0) < 0) {
        reject(out, 400, "invalid host in the absolute URI");
        return;
    }
    if (rule)
        trust = max_trust(trust, rule->redirect ? DFD_TRUST_EXACT
                                                : regex_trust(&rule->re, t, (size_t)(hp - t),
                                                              ohlen));
    char what[128];
    snprintf(what, sizeof(what), "%.*s", (int)DF_MIN(strcspn(out->url + hoff, "/?#") + hoff,
                                                     (size_t)100), out->url);
    set_target(out, trust, out->url + hoff, uhlen, port, what);
    if (out->action == DFD_ACT_PROXY_P2P)
        proxy_blob(r, out);
}

static void route_connect(const struct dfd_rules *r, const struct dfd_rules_in *in,
                          struct dfd_route *out)
{
    const char *t = in->target;
    const char *colon = strrchr(t, ':');
    uint64_t port;
    if (!colon || colon == t || df_parse_u64(colon + 1, &port) < 0 || port < 1 || port > 65535) {
        reject(out, 400, "CONNECT needs host:port");
        return;
    }
    for (const char *p = t; p < colon; p++)
        if (!(is_lalnum((char)(*p | 0x20)) || strchr(".-[]:", *p))) {
            reject(out, 400, "CONNECT: invalid host");
            return;
        }
    size_t hlen;
    int tport;
    char c[256];
    if (split_authority(t, strlen(t), &hlen, &tport, 0) < 0 || canon(t, hlen, c) < 0) {
        reject(out, 400, "CONNECT: invalid host");
        return;
    }
    /* allow entries (host and port), hijack_https.hosts on "host:port", proxies regx on
     * "https://host[:port]/" */
    int trust = allow_trust(r, NULL, c, tport, NULL);
    for (size_t i = 0; i < r->n_connect && trust < DFD_TRUST_EXACT; i++)
        trust = max_trust(trust, regex_trust(&r->connect_re[i], t, 0, hlen));
    char *sub = tport == 443 ? df_xasprintf("https://%.*s/", (int)hlen, t)
                            : df_xasprintf("https://%s/", t);
    for (size_t i = 0; i < r->n_rules && trust < DFD_TRUST_EXACT; i++)
        trust = max_trust(trust, regex_trust(&r->rules[i].re, sub, 8, hlen));
    free(sub);
    out->action = DFD_ACT_CONNECT;
    out->url = df_xstrdup(t);
    char what[128];
    snprintf(what, sizeof(what), "CONNECT %.100s", t);
    set_target(out, trust, t, hlen, tport, what);
}

void dfd_rules_route(const struct dfd_rules *r, const struct dfd_rules_in *in,
                     struct dfd_route *out)
{
    memset(out, 0, sizeof(*out));
    out->rule_index = -1;
    const char *t = in->target;
    if (!t || !*t || has_bad_bytes(t) || !in->method) {
        reject(out, 400, "empty request target or control/blank/non-ASCII bytes in it");
        return;
    }
    if (!strcmp(in->method, "CONNECT")) {
        route_connect(r, in, out);
        return;
    }
    if (t[0] == '/') {
        route_registry(r, in, out);
        return;
    }
    if (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8)) {
        route_proxy(r, in, out);
        return;
    }
    reject(out, 400, "request target must be a path or an http(s) absolute URI");
}
