/* SPDX-License-Identifier: Apache-2.0 */
/* Case-insensitive jansson getters and the ResultInfo envelope. */
#include "df_json.h"
#include "df_redact.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_util.h"

json_t *df_json_get_ci(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key); /* exact match first: the common case */
    if (v)
        return v;
    const char *k;
    json_object_foreach((json_t *)obj, k, v) {
        if (strcasecmp(k, key) == 0)
            return v;
    }
    return NULL;
}

const char *df_json_str_ci(const json_t *obj, const char *key)
{
    json_t *v = df_json_get_ci(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int df_json_int_ci(const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = df_json_get_ci(obj, key);
    if (!v)
        return -ENOENT;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d > 9e18 || d < -9e18)
            return -EINVAL;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v))
        return df_parse_i64(json_string_value(v), out);
    return -EINVAL;
}

int df_json_bool_ci(const json_t *obj, const char *key, int *out)
{
    json_t *v = df_json_get_ci(obj, key);
    if (!v)
        return -ENOENT;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v) != 0;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 || !*s) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

char *df_json_result(int code, const char *msg, json_t *data)
{
    json_t *o = json_object();
    json_object_set_new(o, "code", json_integer(code));
    if (msg && *msg) { /* messages may quote URLs or headers: never a credential (df_redact) */
        size_t n = strlen(msg) + 64;
        char *red = df_xmalloc(n);
        df_redact_text(msg, red, n);
        json_object_set_new(o, "msg", json_string(red));
        free(red);
    }
    if (data)
        json_object_set_new(o, "data", data);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    DF_ASSERT(s);
    return s;
}
