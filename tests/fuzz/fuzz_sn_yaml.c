/* SPDX-License-Identifier: Apache-2.0 */
/* The supernode's supernode.yml (sn_yaml_args via libyaml) and what start-up does with it: the
 * produced flags go through sn_config_parse like a config file's. Promises checked: on error
 * nothing is returned and the message names the file; on success every argument is a long
 * option. */
#include "fuzz_common.h"

#include "sn_config.h"
#include "sn_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size ? size : 1); /* not NUL-terminated: len must be honoured */
    if (!text)
        abort();
    memcpy(text, data, size);
    char **args = NULL, *warn = NULL;
    size_t n = 0;
    char err[DF_ERR_LEN] = "";
    int rc = sn_yaml_args("fuzz.yml", text, size, &args, &n, &warn, err);
    if (rc < 0) {
        FUZZ_CHECK(args == NULL && n == 0 && warn == NULL);
        FUZZ_CHECK(strncmp(err, "fuzz.yml", 8) == 0);
    } else {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(strncmp(args[i], "--", 2) == 0);
        struct sn_config c;
        sn_config_init(&c);
        c.preset = args;
        c.npreset = n;
        char *argv[] = {"supernode", NULL};
        (void)sn_config_parse(&c, 1, argv, err);
        c.preset = NULL;
        c.npreset = 0;
        sn_config_cleanup(&c);
    }
    sn_yaml_args_free(args, n);
    free(warn);
    free(text);
    return 0;
}
