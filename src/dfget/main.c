/* SPDX-License-Identifier: Apache-2.0 */
/* dfget entry point: `dfget server …` runs the uploader (dfget_uploader); otherwise parse the
 * configuration (file + flags), answer `version` / --help, run the download. Everything else
 * lives in dfget_run and the modules it drives. */
#include <stdio.h>
#include <string.h>

#include "df_err.h"
#include "dfget_config.h"
#include "dfget_run.h"
#include "dfget_uploader.h"

int main(int argc, char **argv)
{
    struct dfget_config cfg;
    char err[DF_ERR_LEN] = "";
    int code;
    if (argc > 1 && strcmp(argv[1], "server") == 0)
        return dfget_uploader_main(argc - 1, argv + 1);
    if (dfget_config_load(&cfg, argc, argv, err) < 0) {
        fprintf(stderr, "dfget: %s\n", err);
        dfget_config_cleanup(&cfg);
        return DFGET_EXIT_USAGE;
    }
    switch (cfg.cmd) {
    case DFGET_CMD_VERSION:
        printf("dfget version:%s\n", DF_VERSION);
        code = 0;
        break;
    case DFGET_CMD_HELP:
        fputs(dfget_config_usage(), stdout);
        code = 0;
        break;
    default:
        code = dfget_run(&cfg);
        break;
    }
    dfget_config_cleanup(&cfg);
    return code;
}
