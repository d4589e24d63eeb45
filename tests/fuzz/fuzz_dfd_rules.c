/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon's request router (dfd_rules_route: registry paths, repository names, digests, ns=,
 * X-Dragonfly-Registry, proxy rules, CONNECT targets) and its host/allow-list parsers.
 * Input lines: method, request target, X-Dragonfly-Registry value ("" = absent). */
#include "fuzz_common.h"

#include "dfd_config.h"
#include "dfd_rules.h"

static const char yaml[] = "registry_mirror:\n"
                           "  remote: https://mirror.example:5000\n"
                           "proxies:\n"
                           "  - regx: ^http://registry\\.invalid/\n"
                           "    redirect: 127.0.0.1:5000\n"
                           "  - regx: direct\\.example\n"
                           "    direct: true\n"
                           "    use_https: true\n"
                           "  - regx: blobs/sha256.*\n"
                           "hijack_https:\n"
                           "  hosts:\n"
                           "    - regx: ^tunnel\\.example:443$\n"
                           "registry_allow: [ghcr.io, \"*.docker.io\", http://10.0.0.1:8080/v2/lib/, "
                           "\"[::1]:5000\"]\n";

static struct dfd_rules *rules;

static void init(void)
{
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", "--registry", "http://127.0.0.1:5000", NULL};
    dfd_config_init(&c);
    FUZZ_CHECK(dfd_config_parse_args(&c, 3, argv, err) == 0);
    FUZZ_CHECK(dfd_config_parse_yaml(&c, "t", yaml, strlen(yaml), NULL, err) == 0);
    FUZZ_CHECK(dfd_config_finish(&c, err) == 0);
    rules = dfd_rules_new(&c, err);
    FUZZ_CHECK(rules);
    dfd_config_cleanup(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rules)
        init();
    char *f[3];
    char *buf = fuzz_split(data, size, f, 3);
    struct dfd_rules_in in = {f[0][0] ? f[0] : "GET", f[1], f[2][0] ? f[2] : NULL};
    struct dfd_route rt;
    dfd_rules_route(rules, &in, &rt);
    if (rt.action == DFD_ACT_REJECT) {
        FUZZ_CHECK(rt.url == NULL && rt.status >= 400 && rt.status < 600 && rt.reason[0]);
    } else {
        FUZZ_CHECK(rt.url != NULL);
        if (rt.action == DFD_ACT_BLOB) {
            FUZZ_CHECK(dfd_rules_valid_digest(rt.digest) && rt.upstream && rt.repo);
            FUZZ_CHECK(dfd_rules_valid_repo(rt.repo, strlen(rt.repo)));
        }
        if (rt.action != DFD_ACT_LOCAL)
            FUZZ_CHECK(rt.host && rt.port > 0 && rt.port <= 65535 && rt.trust != DFD_TRUST_NONE);
    }
    (void)dfd_action_name(rt.action);
    dfd_route_cleanup(&rt);

    /* The same bytes through the smaller parsers. */
    (void)dfd_rules_valid_repo(f[1], strlen(f[1]));
    (void)dfd_rules_valid_digest(f[1]);
    (void)dfd_rules_host_kind(f[1]);
    char canon[256];
    int k = dfd_config_canon_host(f[1], strlen(f[1]), canon, sizeof(canon));
    FUZZ_CHECK(k >= -1 && k <= 1);
    if (k >= 0)
        FUZZ_CHECK(strlen(canon) < sizeof(canon));
    free(dfd_config_norm_registry(f[1]));
    struct dfd_allow a;
    char err[DF_ERR_LEN];
    if (dfd_config_parse_allow(f[1], &a, err) == 0) {
        FUZZ_CHECK(a.host);
        dfd_allow_cleanup(&a);
    }
    free(buf);
    return 0;
}
