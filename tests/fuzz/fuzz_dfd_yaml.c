/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon's YAML configuration (dfd_config_parse_yaml via libyaml), then what start-up does
 * with it: dfd_config_finish and dfd_rules_new, and one request routed through the rules. */
#include "fuzz_common.h"

#include "dfd_config.h"
#include "dfd_rules.h"

/* glibc's regcomp copies the tree of every repetition operator applied to a repetition:
 * "a++++…" (100 '+'), "(a{9}){9}…" take gigabytes. Proxy regexes come from the operator's own config file,
 * so that is not an attack surface; such inputs are skipped instead of reported as OOM. */
static int has_repetition_run(const uint8_t *d, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '+' || d[i] == '*' || d[i] == '?' || d[i] == '}')
            run++;
        else if (!strchr("{},()0123456789", d[i]) || d[i] == '\0')
            run = 0;
        if (run > 6)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024 || has_repetition_run(data, size))
        return 0;
    char *text = malloc(size ? size : 1); /* not NUL-terminated: len must be honoured */
    if (!text)
        abort();
    memcpy(text, data, size);
    struct dfd_config c;
    dfd_config_init(&c);
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", NULL};
    FUZZ_CHECK(dfd_config_parse_args(&c, 1, argv, err) == 0);
    char *ignored = NULL;
    int rc = dfd_config_parse_yaml(&c, "fuzz.yml", text, size, &ignored, err);
    if (rc == 0 && dfd_config_finish(&c, err) == 0) {
        FUZZ_CHECK(c.n_certs <= DFD_MAX_CERTS && c.n_proxies <= DFD_MAX_PROXIES);
        struct dfd_rules *r = dfd_rules_new(&c, err);
        if (r) {
            static const struct dfd_rules_in reqs[] = {
                {"GET", "/v2/library/alpine/blobs/sha256:"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL},
                {"GET", "http://registry.example/v2/x/manifests/latest", NULL},
                {"CONNECT", "registry.example:443", NULL},
            };
            for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
                struct dfd_route rt;
                dfd_rules_route(r, &reqs[i], &rt);
                dfd_route_cleanup(&rt);
            }
            dfd_rules_free(r);
        }
    } else if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0');
    }
    free(ignored);
    dfd_config_cleanup(&c);
    free(text);
    return 0;
}
