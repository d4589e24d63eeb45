/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound network policy (SSRF guard): decides whether a connection to an origin may be opened,
 * from the address actually about to be connected (after DNS, for every redirect hop) and the
 * host name of the URL being fetched. Used by df_http_client (df_http_opts.policy) through
 * curl's CURLOPT_OPENSOCKETFUNCTION; built by the supernode from --origin-allow/--origin-deny.
 *
 * Pure: no I/O, no global state. Read-only after setup, so one policy may be shared by every
 * request of a process.
 *
 * Rules, in this order (the first that applies decides):
 *   1. always denied: unspecified addresses (0.0.0.0/8, ::/128) and link-local ranges
 *      (169.254.0.0/16, fe80::/10: cloud metadata endpoints live there);
 *   2. always denied: the own ports (df_netpolicy_add_own_port) on loopback (127.0.0.0/8, ::1),
 *      on an unspecified address or on an own address (df_netpolicy_add_own_addr);
 *   3. denied when the address matches a deny CIDR or the host matches a deny host pattern
 *      (deny beats allow);
 *   4. when any allow entry exists: allowed only when the address matches an allow CIDR or the
 *      host matches an allow host pattern;
 *   5. otherwise allowed.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as the IPv4 address a.b.c.d,
 * against IPv4 and IPv6 entries alike.
 *
 * Entry syntax (df_netpolicy_add takes a comma-separated list, blanks around entries ignored):
 *   10.0.0.0/8, 192.168.1.7 (= /32), fc00::/7, ::1 (= /128), [::1]/128   CIDR / address
 *   *.example.com   any name below example.com (not example.com itself)
 *   example.com     exactly that name
 * Host patterns are matched case-insensitively against the URL's host name (never against
 * hosts written as IP literals: those are addresses, checked by CIDR). A host pattern trusts
 * DNS: "--origin-allow *.example.com" allows whatever address such a name resolves to (rules 1
 * and 2 still apply). */
#ifndef DF_NETPOLICY_H
#define DF_NETPOLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "df_err.h"

#define DF_NETPOLICY_WHY_LEN 256 /* enough for any reason df_netpolicy_check writes */

struct df_netpolicy;

/* Empty policy: only rule 1 applies until entries or own ports are added. Never NULL. */
struct df_netpolicy *df_netpolicy_new(void);
void df_netpolicy_free(struct df_netpolicy *p); /* NULL ok */

/* Parses a comma-separated list of entries (syntax above) into the allow list (is_allow = 1)
 * or the deny list. All or nothing: on error nothing is added and err holds one line naming
 * the entry ("invalid --origin-deny entry '10.0.0.0/33': prefix length must be 0-32").
 * Returns 0 or -EINVAL. */
int df_netpolicy_add(struct df_netpolicy *p, int is_allow, const char *list, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));
/* Declares one of our own listening ports (rule 2). Port 0 is ignored. */
void df_netpolicy_add_own_port(struct df_netpolicy *p, uint16_t port);
/* Declares one of our own addresses (an interface address, the bind address) for rule 2.
 * Families other than AF_INET/AF_INET6 are ignored. */
void df_netpolicy_add_own_addr(struct df_netpolicy *p, const struct sockaddr *sa);
/* Same with a numeric literal ("10.1.2.3", "fe80::1"); -EINVAL when it is not one. */
int df_netpolicy_add_own_addr_str(struct df_netpolicy *p, const char *ip)
    __attribute__((warn_unused_result));

/* 1 when any allow entry exists (rule 4 in force). */
int df_netpolicy_has_allow(const struct df_netpolicy *p);

/* Decides for a connection to sa (AF_INET / AF_INET6, salen bytes) made to fetch a URL whose
 * host is host (a name, or an IP literal with or without brackets; NULL or "" = unknown, then
 * host patterns cannot match). Returns 0 when allowed, -EACCES when denied, with why (when
 * not NULL) set to one line such as
 *   "origin address 169.254.169.254:80 denied by the link-local rule (169.254.0.0/16 and
 *    fe80::/10 are always denied)"
 *   "origin address 127.0.0.2:8080 denied by --origin-deny 127.0.0.2/32"
 * Other address families are denied. */
int df_netpolicy_check(const struct df_netpolicy *p, const char *host, const struct sockaddr *sa,
                       size_t salen, char *why, size_t whylen);

#endif
