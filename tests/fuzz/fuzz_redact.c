/* SPDX-License-Identifier: Apache-2.0 */
/* df_redact_text (every log line and server-written JSON goes through it). Besides memory
 * safety it checks what it promises: a URL userinfo that occurs once in the input never appears
 * in the output. (Not checked: that the output holds no "://x@" at all. Redacting a header value
 * can join "scheme://" to a later '@' — "://a.authorization=x/,b@c" becomes
 * "://a.authorization=***,b@c" — which is harmless: no byte of the input's secrets survives.)
 * Input: 1 byte output-buffer size seed, then the text. */
#include "fuzz_common.h"

#include <ctype.h>

#include "df_redact.h"

/* Mirrors df_redact.h: the authority after "://" runs to the first '/', '?', '#', blank, '"',
 * '<' or '>'; its userinfo is what comes before its last '@' (non-empty). */
static int ends_authority(char c)
{
    return c == '\0' || c == '/' || c == '?' || c == '#' || c == '"' || c == '<' || c == '>' ||
           isspace((unsigned char)c);
}

static size_t ui_len(const char *p)
{
    size_t j = 0, at = 0;
    for (; !ends_authority(p[j]); j++)
        if (p[j] == '@')
            at = j;
    return at;
}

static size_t count(const char *hay, const char *needle)
{
    size_t c = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        c++;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned seed = (unsigned)fuzz_take_u(&data, &size, 1);
    char *in = fuzz_strdup(data, size);
    size_t len = strlen(in);
    size_t big = 2 * len + 8; /* "x://y@" grows by at most 2 bytes per 3 input bytes */
    char *out = malloc(big);
    if (!out)
        abort();
    size_t n = df_redact_text(in, out, big);
    FUZZ_CHECK(n < big && n == strlen(out));
    /* A userinfo of the input that occurs once there is gone. */
    for (const char *p = in; (p = strstr(p, "://")) != NULL; p++) {
        size_t u = ui_len(p + 3);
        if (u == 0)
            continue;
        char *ui = strndup(p + 3, u);
        if (!strchr(ui, '*') && count(in, ui) == 1)
            FUZZ_CHECK(strstr(out, ui) == NULL);
        free(ui);
    }
    /* Truncated output: always terminated, never longer than asked. */
    size_t small = seed % (len + 2);
    char *o2 = malloc(small ? small : 1);
    if (!o2)
        abort();
    size_t n2 = df_redact_text(in, o2, small);
    if (small)
        FUZZ_CHECK(n2 < small && n2 == strlen(o2) && strncmp(o2, out, n2) == 0);
    else
        FUZZ_CHECK(n2 == 0);
    free(o2);
    free(out);
    free(in);
    return 0;
}
