/* SPDX-License-Identifier: Apache-2.0 */
/* Redaction of secrets: the one place that decides what a secret looks like in Damselfly's
 * output. Credentials (Authorization, Proxy-Authorization, Cookie and Set-Cookie headers, URL
 * userinfo) are needed by the component that talks to the origin and by nobody else: every log
 * line (df_log runs every line through df_redact_text), every JSON document a server writes
 * and every file on disk shows "***" in their place.
 *
 * Pure string functions: no I/O, no state. */
#ifndef DF_REDACT_H
#define DF_REDACT_H

#include <stddef.h>

#define DF_REDACTED "***"

/* 1 when a header of this name carries a credential (case-insensitive): Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie, X-Registry-Auth, X-Auth-Token, X-Amz-Security-Token,
 * Private-Token, X-Api-Key, Api-Key, X-Vault-Token, X-Goog-Api-Key. */
int df_redact_is_secret_header(const char *name);

/* 1 when the "Key: Value" line (or bare header name with a ':' somewhere) carries a credential,
 * per df_redact_is_secret_header of its key. */
int df_redact_is_secret_header_line(const char *line);

/* 1 when url has userinfo ("scheme://user[:pass]@host..."). */
int df_redact_url_has_userinfo(const char *url);

/* 1 when a request to url with these "Key: Value" header lines carries credentials (URL
 * userinfo or a secret header). */
int df_redact_has_credentials(const char *url, const char *const *headers, size_t n);

/* Heap copy of url with its userinfo replaced by "***" (e.g. "http://" then "***@host/p"); a URL without
 * userinfo (or not a URL at all) is copied unchanged. Never NULL (aborts on OOM); NULL in gives
 * "". Caller frees. */
char *df_redact_url(const char *url);

/* Heap copy of a "Key: Value" header line: the value replaced by "***" when the key is secret,
 * else unchanged. Caller frees. */
char *df_redact_header_line(const char *line);

/* Copies in to out (at most outsz-1 bytes, always NUL-terminated when outsz > 0) with every
 * secret in free text replaced by "***":
 *  - URL userinfo: the userinfo of "<scheme>://<userinfo>@" becomes "***" (the authority runs
 *    to the first '/', '?', '#', whitespace, '"', '<' or '>'; the userinfo is what comes before
 *    its last '@', so quotes and '@' inside a password are covered);
 *  - the value of a credential query parameter (X-Amz-Signature, Signature, sig, token,
 *    access_token, api_key, password, ...) after '?' or '&';
 *  - the value after a secret header name followed by ':' or '=' (optionally quoted, as in JSON
 *    "Authorization":"Basic …" or a form authorization=…), up to the closing quote, or else
 *    to the end of the line, '&' or ','.
 * Returns the length written. Safe with in == out? No: in and out must not overlap. */
size_t df_redact_text(const char *in, char *out, size_t outsz);

#endif
