/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound network policy: CIDR and host-pattern lists, the always-on rules and the decision
 * for one connection. Addresses are compared in one 128-bit space: IPv4 as ::ffff:a.b.c.d
 * (IPv4 prefixes + 96), so a mapped IPv6 address and its IPv4 form match the same entries.
 * No I/O; see df_netpolicy.h for the rules. */
#include "df_netpolicy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_util.h"

#define HOST_MAX 253
#define OWN_PORTS_MAX 8

struct np_entry {
    int is_host;            /* host pattern, else CIDR */
    int is_wild;            /* "*.suffix": pattern holds ".suffix" */
    unsigned char addr[16]; /* CIDR network (IPv4 mapped), masked */
    int plen;               /* CIDR prefix length in the 128-bit space */
    char *pattern;          /* host pattern, lower case (".suffix" when is_wild) */
    char *text;             /* the entry as written, for messages */
};

struct np_list {
    struct np_entry *v;
    size_t n, cap;
};

struct df_netpolicy {
    struct np_list allow, deny;
    uint16_t own_ports[OWN_PORTS_MAX];
    int nown_ports;
    unsigned char (*own_addrs)[16];
    size_t nown_addrs, cap_own_addrs;
};

struct df_netpolicy *df_netpolicy_new(void) { return df_xcalloc(1, sizeof(struct df_netpolicy)); }

static void list_cleanup(struct np_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].pattern);
        free(l->v[i].text);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void df_netpolicy_free(struct df_netpolicy *p)
{
    if (!p)
        return;
    list_cleanup(&p->allow);
    list_cleanup(&p->deny);
    free(p->own_addrs);
    free(p);
}

/* ---- addresses -------------------------------------------------------------------------- */

static const unsigned char k_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void map_v4(const void *v4, unsigned char out[16])
{
    memcpy(out, k_mapped_prefix, 12);
    memcpy(out + 12, v4, 4);
}

static int is_mapped(const unsigned char a[16]) { return memcmp(a, k_mapped_prefix, 12) == 0; }

/* Numeric literal (brackets allowed around IPv6) → 128-bit form; *is_v4 says which family was
 * written. -EINVAL when s is not a literal. */
static int parse_literal(const char *s, size_t n, unsigned char out[16], int *is_v4)
{
    char buf[INET6_ADDRSTRLEN + 2];
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char raw[16];
    if (inet_pton(AF_INET, buf, raw) == 1) {
        map_v4(raw, out);
        *is_v4 = 1;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, raw) == 1) {
        memcpy(out, raw, 16);
        *is_v4 = 0;
        return 0;
    }
    return -EINVAL;
}

static int prefix_match(const unsigned char a[16], const unsigned char net[16], int plen)
{
    int full = plen / 8, rest = plen % 8;
    if (memcmp(a, net, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static void mask_net(unsigned char net[16], int plen)
{
    for (int i = 0; i < 16; i++) {
        int bits = plen - i * 8;
        if (bits >= 8)
            continue;
        net[i] &= bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
    }
}

/* ---- parsing ---------------------------------------------------------------------------- */

static int is_host_char(char c) { return isalnum((unsigned char)c) || c == '-' || c == '_'; }

/* "name.example.com" or "*.example.com": labels of letters, digits, '-', '_'. */
static int parse_host_pattern(const char *s, size_t n, struct np_entry *e, const char **why)
{
    int is_wild = n >= 2 && s[0] == '*' && s[1] == '.';
    const char *h = is_wild ? s + 2 : s;
    size_t hn = is_wild ? n - 2 : n;
    if (hn > 0 && h[hn - 1] == '.')
        hn--; /* a fully qualified "example.com." */
    if (hn == 0 || hn > HOST_MAX) {
        *why = "not a host name";
        return -EINVAL;
    }
    size_t label = 0;
    for (size_t i = 0; i < hn; i++) {
        if (h[i] == '.') {
            if (label == 0) {
                *why = "empty label in host name";
                return -EINVAL;
            }
            label = 0;
            continue;
        }
        if (!is_host_char(h[i])) {
            *why = h[i] == '*' ? "'*' is only allowed as a leading \"*.\"" :
                   "not a CIDR, an IP address or a host name";
            return -EINVAL;
        }
        label++;
    }
    if (label == 0) {
        *why = "empty label in host name";
        return -EINVAL;
    }
    e->is_host = 1;
    e->is_wild = is_wild;
    e->pattern = df_xmalloc(hn + 2);
    size_t o = 0;
    if (is_wild)
        e->pattern[o++] = '.';
    for (size_t i = 0; i < hn; i++)
        e->pattern[o++] = (char)tolower((unsigned char)h[i]);
    e->pattern[o] = '\0';
    return 0;
}

static int only_digits_dots(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && s[i] != '.')
            return 0;
    return 1;
}

static int parse_entry(const char *s, size_t n, struct np_entry *e, const char **why)
{
    memset(e, 0, sizeof(*e));
    const char *slash = memchr(s, '/', n);
    size_t an = slash ? (size_t)(slash - s) : n;
    int is_v4 = 0;
    if (parse_literal(s, an, e->addr, &is_v4) == 0) {
        int max = is_v4 ? 32 : 128;
        int plen = max;
        if (slash) {
            const char *d = slash + 1;
            size_t dn = n - an - 1;
            plen = 0;
            if (dn == 0 || dn > 3) {
                *why = is_v4 ? "prefix length must be 0-32" : "prefix length must be 0-128";
                return -EINVAL;
            }
            for (size_t i = 0; i < dn; i++) {
                if (!isdigit((unsigned char)d[i])) {
                    *why = is_v4 ? "prefix length must be 0-32" : "prefix length must be 0-128";
                    return -EINVAL;
                }
                plen = plen * 10 + (d[i] - '0');
            }
            if (plen > max) {
                *why = is_v4 ? "prefix length must be 0-32" : "prefix length must be 0-128";
                return -EINVAL;
            }
        }
        e->plen = is_v4 ? plen + 96 : plen;
        mask_net(e->addr, e->plen); /* host bits set in "10.1.2.3/8" are ignored */
        return 0;
    }
    if (slash || memchr(s, ':', n) || memchr(s, '[', n)) {
        *why = "not a valid IP address or CIDR";
        return -EINVAL;
    }
    if (only_digits_dots(s, n)) {
        *why = "not a valid IPv4 address";
        return -EINVAL;
    }
    return parse_host_pattern(s, n, e, why);
}

int df_netpolicy_add(struct df_netpolicy *p, int is_allow, const char *list, char err[DF_ERR_LEN])
{
    const char *flag = is_allow ? "--origin-allow" : "--origin-deny";
    struct np_list *l = is_allow ? &p->allow : &p->deny;
    size_t first = l->n;
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        const char *b = s, *e = end;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        size_t n = (size_t)(e - b);
        const char *why = NULL;
        struct np_entry ent;
        if (n == 0) {
            snprintf(err, DF_ERR_LEN, "invalid %s value '%s': empty entry", flag, list);
            goto fail;
        }
        if (parse_entry(b, n, &ent, &why) < 0) {
            snprintf(err, DF_ERR_LEN, "invalid %s entry '%.*s': %s", flag, (int)DF_MIN(n, 128),
                     b, why);
            goto fail;
        }
        ent.text = df_xstrndup(b, n);
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 8;
            l->v = df_xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n++] = ent;
        if (!comma)
            break;
        s = comma + 1;
    }
    return 0;
fail:
    while (l->n > first) { /* all or nothing */
        l->n--;
        free(l->v[l->n].pattern);
        free(l->v[l->n].text);
    }
    return -EINVAL;
}

void df_netpolicy_add_own_port(struct df_netpolicy *p, uint16_t port)
{
    if (port == 0)
        return;
    for (int i = 0; i < p->nown_ports; i++)
        if (p->own_ports[i] == port)
            return;
    DF_ASSERT(p->nown_ports < OWN_PORTS_MAX);
    p->own_ports[p->nown_ports++] = port;
}

static void add_own16(struct df_netpolicy *p, const unsigned char a[16])
{
    for (size_t i = 0; i < p->nown_addrs; i++)
        if (memcmp(p->own_addrs[i], a, 16) == 0)
            return;
    if (p->nown_addrs == p->cap_own_addrs) {
        p->cap_own_addrs = p->cap_own_addrs ? p->cap_own_addrs * 2 : 8;
        p->own_addrs = df_xrealloc(p->own_addrs, p->cap_own_addrs * 16);
    }
    memcpy(p->own_addrs[p->nown_addrs++], a, 16);
}

void df_netpolicy_add_own_addr(struct df_netpolicy *p, const struct sockaddr *sa)
{
    unsigned char a[16];
    if (sa->sa_family == AF_INET) {
        map_v4(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, a);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return;
    }
    add_own16(p, a);
}

int df_netpolicy_add_own_addr_str(struct df_netpolicy *p, const char *ip)
{
    unsigned char a[16];
    int is_v4;
    if (parse_literal(ip, strlen(ip), a, &is_v4) < 0)
        return -EINVAL;
    add_own16(p, a);
    return 0;
}

int df_netpolicy_has_allow(const struct df_netpolicy *p) { return p->allow.n > 0; }

/* ---- decision --------------------------------------------------------------------------- */

/* Host name normalised for pattern matching into out (lower case, no brackets, no trailing
 * dot); "" when unknown or an IP literal. */
static void norm_host(const char *host, char out[HOST_MAX + 2])
{
    out[0] = '\0';
    if (!host || !*host)
        return;
    size_t n = strlen(host);
    unsigned char a[16];
    int is_v4;
    if (n > HOST_MAX + 1 || parse_literal(host, n, a, &is_v4) == 0)
        return;
    if (host[n - 1] == '.')
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[n] = '\0';
}

static int host_match(const struct np_entry *e, const char *h)
{
    if (!h[0])
        return 0;
    if (!e->is_wild)
        return strcmp(h, e->pattern) == 0;
    size_t hn = strlen(h), sn = strlen(e->pattern);
    return hn > sn && strcmp(h + hn - sn, e->pattern) == 0;
}

/* First entry of l matching address a or host h, or NULL. */
static const struct np_entry *list_match(const struct np_list *l, const unsigned char a[16],
                                         const char *h)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct np_entry *e = &l->v[i];
        if (e->is_host ? host_match(e, h) : prefix_match(a, e->addr, e->plen))
            return e;
    }
    return NULL;
}

static int in_range(const unsigned char a[16], const char *net, int v4_plen)
{
    unsigned char n[16], raw[4];
    int rc = inet_pton(AF_INET, net, raw);
    DF_ASSERT(rc == 1);
    map_v4(raw, n);
    return prefix_match(a, n, v4_plen + 96);
}

int df_netpolicy_check(const struct df_netpolicy *p, const char *host, const struct sockaddr *sa,
                       size_t salen, char *why, size_t whylen)
{
    unsigned char a[16];
    unsigned port;
    char ip[INET6_ADDRSTRLEN], shown[INET6_ADDRSTRLEN + 10];
    char h[HOST_MAX + 2];
    char dummy[1];
    if (!why || whylen == 0) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        map_v4(&s4->sin_addr, a);
        port = ntohs(s4->sin_port);
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(shown, sizeof(shown), "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(a, &s6->sin6_addr, 16);
        port = ntohs(s6->sin6_port);
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(shown, sizeof(shown), "[%s]:%u", ip, port);
    } else {
        snprintf(why, whylen, "origin connection of address family %d denied (IPv4/IPv6 only)",
                 (int)sa->sa_family);
        return -EACCES;
    }
    norm_host(host, h);
    static const unsigned char k_zero[16] = {0}, k_lo6[16] = {[15] = 1};
    int is_v4 = is_mapped(a);
    int is_unspec = is_v4 ? in_range(a, "0.0.0.0", 8) : memcmp(a, k_zero, 16) == 0;
    if (is_unspec) {
        snprintf(why, whylen, "origin address %s denied by the unspecified-address rule "
                 "(0.0.0.0/8 and :: are always denied)", shown);
        return -EACCES;
    }
    int is_ll = is_v4 ? in_range(a, "169.254.0.0", 16) : (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
    if (is_ll) {
        snprintf(why, whylen, "origin address %s denied by the link-local rule "
                 "(169.254.0.0/16 and fe80::/10 are always denied)", shown);
        return -EACCES;
    }
    for (int i = 0; i < p->nown_ports; i++) {
        if (p->own_ports[i] != port)
            continue;
        int is_own = is_v4 ? in_range(a, "127.0.0.0", 8) : memcmp(a, k_lo6, 16) == 0;
        for (size_t k = 0; !is_own && k < p->nown_addrs; k++)
            is_own = memcmp(p->own_addrs[k], a, 16) == 0;
        if (is_own) {
            snprintf(why, whylen, "origin address %s denied by the own-port rule (port %u is a "
                     "listening port of this server)", shown, port);
            return -EACCES;
        }
    }
    const struct np_entry *e = list_match(&p->deny, a, h);
    if (e) {
        if (e->is_host)
            snprintf(why, whylen, "origin host %s (%s) denied by --origin-deny %s", h, shown,
                     e->text);
        else
            snprintf(why, whylen, "origin address %s denied by --origin-deny %s", shown, e->text);
        return -EACCES;
    }
    if (p->allow.n > 0 && !list_match(&p->allow, a, h)) {
        snprintf(why, whylen, "origin address %s%s%s%s denied: it matches no --origin-allow entry",
                 shown, h[0] ? " (host " : "", h, h[0] ? ")" : "");
        return -EACCES;
    }
    return 0;
}
