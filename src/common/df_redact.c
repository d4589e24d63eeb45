/* SPDX-License-Identifier: Apache-2.0 */
/* Redaction of credentials in URLs, header lines and free text (see df_redact.h). */
#include "df_redact.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "df_util.h"

static const char *const secret_headers[] = {
    "Proxy-Authorization", "Authorization", "Set-Cookie", "Cookie", "X-Registry-Auth",
    "X-Auth-Token", "X-Amz-Security-Token", "Private-Token", "X-Api-Key", "Api-Key",
    "X-Vault-Token", "X-Goog-Api-Key",
};
#define NSECRET (sizeof(secret_headers) / sizeof(secret_headers[0]))

int df_redact_is_secret_header(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < NSECRET; i++)
        if (strcasecmp(name, secret_headers[i]) == 0)
            return 1;
    return 0;
}

int df_redact_is_secret_header_line(const char *line)
{
    if (!line)
        return 0;
    const char *colon = strchr(line, ':');
    size_t n = colon ? (size_t)(colon - line) : strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < NSECRET; i++)
        if (strlen(secret_headers[i]) == n && strncasecmp(line, secret_headers[i], n) == 0)
            return 1;
    return 0;
}

/* Characters that end the authority of a URL in free text. A userinfo may hold any other
 * character, '@' and quotes included (RFC 3986 sub-delims; curl sends them as Basic auth). */
static int ends_authority(char c)
{
    return c == '\0' || c == '/' || c == '?' || c == '#' || c == '"' || c == '<' || c == '>' ||
           isspace((unsigned char)c);
}

/* Length of the userinfo (without its '@') of the authority that starts at p: everything up to
 * the authority's last '@'; 0 when there is none. */
static size_t userinfo_len(const char *p)
{
    size_t j = 0, at = 0;
    for (; !ends_authority(p[j]); j++)
        if (p[j] == '@')
            at = j;
    return at;
}

/* Query parameters that carry a credential in signed or token URLs (S3, GCS, Azure SAS, ...). */
static const char *const secret_params[] = {
    "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "X-Goog-Signature",
    "X-Goog-Credential", "Signature", "sig", "token", "access_token", "api_key", "apikey",
    "password", "passwd",
};

/* When a secret query parameter name followed by '=' starts at p, its length + 1; else 0. */
static size_t secret_param_at(const char *p)
{
    for (size_t k = 0; k < sizeof(secret_params) / sizeof(secret_params[0]); k++) {
        size_t n = strlen(secret_params[k]);
        if (strncasecmp(p, secret_params[k], n) == 0 && p[n] == '=')
            return n + 1;
    }
    return 0;
}

/* Next position when skipping over a secret value at in[i]: past a URL's "://" and userinfo in
 * one step, so that characters allowed in a userinfo (',', '&', ...) do not end the value
 * there and leave the rest of a password behind. */
static size_t skip_value_char(const char *in, size_t i)
{
    if (in[i] == ':' && in[i + 1] == '/' && in[i + 2] == '/')
        return i + 3 + userinfo_len(in + i + 3);
    return i + 1;
}

int df_redact_url_has_userinfo(const char *url)
{
    const char *s = url ? strstr(url, "://") : NULL;
    return s && userinfo_len(s + 3) > 0;
}

int df_redact_has_credentials(const char *url, const char *const *headers, size_t n)
{
    if (df_redact_url_has_userinfo(url))
        return 1;
    for (size_t i = 0; i < n; i++)
        if (df_redact_is_secret_header_line(headers[i]))
            return 1;
    return 0;
}

char *df_redact_url(const char *url)
{
    if (!url)
        return df_xstrdup("");
    size_t n = 2 * strlen(url) + 16; /* every masked value may grow to "***" */
    char *out = df_xmalloc(n);
    df_redact_text(url, out, n);
    return out;
}

char *df_redact_header_line(const char *line)
{
    if (!line)
        return df_xstrdup("");
    if (!df_redact_is_secret_header_line(line))
        return df_xstrdup(line);
    const char *colon = strchr(line, ':');
    size_t k = colon ? (size_t)(colon - line) : strlen(line);
    size_t n = k + 2 + sizeof(DF_REDACTED);
    char *out = df_xmalloc(n);
    snprintf(out, n, "%.*s: %s", (int)k, line, DF_REDACTED);
    return out;
}

static int is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* When a secret header name starts at in[i] (on a word boundary) and is followed by an
 * optional quote, blanks and ':' or '=', returns the offset of its value's first character
 * (after blanks) and sets *quoted when the value opens with '"'; else 0. */
static size_t secret_value_at(const char *in, size_t i, int *quoted)
{
    if (i > 0 && is_name_char(in[i - 1]))
        return 0;
    for (size_t k = 0; k < NSECRET; k++) {
        size_t n = strlen(secret_headers[k]);
        if (strncasecmp(in + i, secret_headers[k], n) != 0 || is_name_char(in[i + n]))
            continue;
        size_t j = i + n;
        if (in[j] == '"')
            j++;
        while (in[j] == ' ' || in[j] == '\t')
            j++;
        if (in[j] != ':' && in[j] != '=')
            return 0;
        if (in[j] == ':' && in[j + 1] == '/' && in[j + 2] == '/')
            return 0; /* "cookie://u:p@h": a URL scheme, its userinfo is redacted as such */
        j++;
        while (in[j] == ' ' || in[j] == '\t')
            j++;
        *quoted = in[j] == '"';
        return *quoted ? j + 1 : j;
    }
    return 0;
}

size_t df_redact_text(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz == 0)
        return 0;
#define PUT(c)                  \
    do {                        \
        if (o + 1 < outsz)      \
            out[o++] = (c);     \
    } while (0)
#define PUTS(s)                           \
    do {                                  \
        for (const char *q_ = (s); *q_; q_++) \
            PUT(*q_);                     \
    } while (0)
    size_t i = 0;
    while (in && in[i]) {
        if (in[i] == ':' && in[i + 1] == '/' && in[i + 2] == '/') {
            PUTS("://");
            i += 3;
            size_t u = userinfo_len(in + i);
            if (u) {
                PUTS(DF_REDACTED "@");
                i += u + 1;
            }
            continue;
        }
        if ((in[i] == '?' || in[i] == '&') && secret_param_at(in + i + 1)) {
            size_t n = secret_param_at(in + i + 1);
            for (size_t k = i; k < i + 1 + n; k++)
                PUT(in[k]);
            PUTS(DF_REDACTED);
            i += 1 + n;
            while (in[i] && in[i] != '&' && in[i] != '#' && in[i] != '"' && in[i] != '<' &&
                   in[i] != '>' && !isspace((unsigned char)in[i]))
                i = skip_value_char(in, i);
            continue;
        }
        int quoted = 0;
        size_t v = 0;
        if (in[i] == '"' && isalpha((unsigned char)in[i + 1]))
            v = secret_value_at(in, i + 1, &quoted);
        else if (isalpha((unsigned char)in[i]))
            v = secret_value_at(in, i, &quoted);
        if (v) {
            for (size_t k = i; k < v; k++)
                PUT(in[k]);
            PUTS(DF_REDACTED);
            i = v;
            if (quoted) {
                while (in[i] && in[i] != '"') {
                    if (in[i] == '\\' && in[i + 1])
                        i++;
                    i++;
                }
            } else {
                while (in[i] && in[i] != '\n' && in[i] != '\r' && in[i] != '&' && in[i] != ',' &&
                       in[i] != '"')
                    i = skip_value_char(in, i);
            }
            continue;
        }
        PUT(in[i]);
        i++;
    }
    out[o] = '\0';
    return o;
#undef PUT
#undef PUTS
}
