/* SPDX-License-Identifier: Apache-2.0 */
/* supernode.yml → flag arguments (see sn_yaml.h). */
#include "sn_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "df_util.h"

enum kind {
    K_STR,    /* passed as is */
    K_DUR,    /* Go duration string, or integer nanoseconds */
    K_BOOL,   /* true → the flag alone */
    K_UNUSED, /* a Go supernode key with no meaning here: a warning */
};

/* base.<key> → flag. Flag names are sn_config's (Dragonfly's CLI names, spec §8.1). */
static const struct {
    const char *key;
    const char *flag; /* NULL for K_UNUSED */
    enum kind kind;
} k_base[] = {
    {"cdnPattern", "cdn-pattern", K_STR},
    {"listenPort", "port", K_STR},
    {"downloadPort", "download-port", K_STR},
    {"homeDir", "home-dir", K_STR},
    {"advertiseIP", "advertise-ip", K_STR},
    {"schedulerCorePoolSize", "pool-size", K_STR},
    {"peerUpLimit", "up-limit", K_STR},
    {"peerDownLimit", "down-limit", K_STR},
    {"systemReservedBandwidth", "system-bandwidth", K_STR},
    {"maxBandwidth", "max-bandwidth", K_STR},
    {"enableProfiler", "profiler", K_BOOL},
    {"debug", "debug", K_BOOL},
    {"failAccessInterval", "fail-access-interval", K_DUR},
    {"gcInitialDelay", "gc-initial-delay", K_DUR},
    {"gcMetaInterval", "gc-meta-interval", K_DUR},
    {"taskExpireTime", "task-expire-time", K_DUR},
    {"peerGCDelay", "peer-gc-delay", K_DUR},
    {"eliminationLimit", NULL, K_UNUSED},
    {"failureCountLimit", NULL, K_UNUSED},
    {"linkLimit", NULL, K_UNUSED},
    {"downloadPath", NULL, K_UNUSED},
    {"gcDiskInterval", "gc-disk-interval", K_DUR},
    {"youngGCThreshold", "young-gc-threshold", K_STR},
    {"fullGCThreshold", "full-gc-threshold", K_STR},
    {"IntervalThreshold", NULL, K_UNUSED},
    {"cleanRatio", NULL, K_UNUSED},
    {"logConfig", NULL, K_UNUSED},
};

struct ctx {
    const char *name;
    yaml_document_t *doc;
    char *err;
    char **args;
    size_t nargs, cap;
    char *warnings;
};

static int fail_at(struct ctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct ctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[DF_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (snprintf(y->err, DF_ERR_LEN, "%s:%lu: %s", y->name,
                 n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg) < 0)
        y->err[0] = '\0';
    return -EINVAL;
}

static void warn(struct ctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct ctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[DF_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *w = df_xasprintf("%s%s%s:%lu: %s", y->warnings ? y->warnings : "",
                           y->warnings ? "; " : "", y->name,
                           (unsigned long)n->start_mark.line + 1, msg);
    free(y->warnings);
    y->warnings = w;
}

static void push(struct ctx *y, char *arg)
{
    if (y->nargs == y->cap) {
        y->cap = y->cap ? y->cap * 2 : 16;
        y->args = df_xrealloc(y->args, y->cap * sizeof(*y->args));
    }
    y->args[y->nargs++] = arg;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_empty(const yaml_node_t *n)
{
    return !n || (n->type == YAML_SCALAR_NODE && (!*scalar(n) || strcmp(scalar(n), "~") == 0 ||
                                                  strcmp(scalar(n), "null") == 0)) ||
           (n->type == YAML_MAPPING_NODE &&
            n->data.mapping.pairs.start == n->data.mapping.pairs.top) ||
           (n->type == YAML_SEQUENCE_NODE &&
            n->data.sequence.items.start == n->data.sequence.items.top);
}

static int base_value(struct ctx *y, const char *key, yaml_node_t *v)
{
    for (size_t i = 0; i < DF_ARRAY_LEN(k_base); i++) {
        if (strcmp(k_base[i].key, key) != 0)
            continue;
        if (k_base[i].kind == K_UNUSED) {
            warn(y, v, "base.%s has no effect in this supernode", key);
            return 0;
        }
        if (v->type != YAML_SCALAR_NODE || !*scalar(v))
            return fail_at(y, v, "base.%s: expected a value", key);
        const char *s = scalar(v);
        switch (k_base[i].kind) {
        case K_BOOL:
            if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "yes") == 0)
                push(y, df_xasprintf("--%s", k_base[i].flag));
            else if (strcmp(s, "false") != 0 && strcmp(s, "False") != 0 && strcmp(s, "no") != 0)
                return fail_at(y, v, "base.%s: expected true or false, got '%.60s'", key, s);
            return 0;
        case K_DUR: {
            size_t n = strspn(s, "0123456789");
            if (s[n] == '\0') { /* yaml.v2: an integer time.Duration is nanoseconds */
                uint64_t ns;
                if (n > 19 || df_parse_u64(s, &ns) < 0)
                    return fail_at(y, v, "base.%s: duration '%.60s' out of range", key, s);
                push(y, df_xasprintf("--%s=%llums", k_base[i].flag,
                                     (unsigned long long)(ns / 1000000)));
                return 0;
            }
            push(y, df_xasprintf("--%s=%s", k_base[i].flag, s));
            return 0;
        }
        default:
            push(y, df_xasprintf("--%s=%s", k_base[i].flag, s));
            return 0;
        }
    }
    return fail_at(y, v, "unknown key base.%.80s", key);
}

static int walk(struct ctx *y)
{
    yaml_node_t *root = yaml_document_get_root_node(y->doc);
    if (is_empty(root))
        return 0;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(y, root, "expected a mapping with a 'base:' section");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return fail_at(y, k, "keys must be plain names");
        const char *key = scalar(k);
        if (strcmp(key, "plugins") == 0 || strcmp(key, "storages") == 0) {
            if (!is_empty(v))
                warn(y, k, "'%s' ignored: this supernode has its own CDN store", key);
            continue;
        }
        if (strcmp(key, "base") != 0)
            return fail_at(y, k, "unknown section '%.80s' (expected base, plugins, storages)", key);
        if (is_empty(v))
            continue;
        if (v->type != YAML_MAPPING_NODE)
            return fail_at(y, v, "base: expected a mapping");
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
             q++) {
            yaml_node_t *bk = yaml_document_get_node(y->doc, q->key);
            yaml_node_t *bv = yaml_document_get_node(y->doc, q->value);
            if (bk->type != YAML_SCALAR_NODE)
                return fail_at(y, bk, "keys must be plain names");
            int rc = base_value(y, scalar(bk), bv);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

void sn_yaml_args_free(char **args, size_t nargs)
{
    for (size_t i = 0; i < nargs; i++)
        free(args[i]);
    free(args);
}

int sn_yaml_args(const char *name, const char *text, size_t len, char ***args, size_t *nargs,
                 char **warnings, char err[DF_ERR_LEN])
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct ctx y = {.name = name, .doc = &doc, .err = err};
    int rc;
    *args = NULL;
    *nargs = 0;
    *warnings = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, DF_ERR_LEN, "%s: cannot initialise the YAML parser", name);
        return -EINVAL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, DF_ERR_LEN, "%s:%lu: %s", name, (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return -EINVAL;
    }
    rc = walk(&y);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc < 0) {
        sn_yaml_args_free(y.args, y.nargs);
        free(y.warnings);
        return rc;
    }
    *args = y.args;
    *nargs = y.nargs;
    *warnings = y.warnings;
    return 0;
}
