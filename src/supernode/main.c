/* SPDX-License-Identifier: Apache-2.0 */
/* supernode: flag parsing, logging set-up, signals, event loop. Everything else is in
 * sn_server.c and the modules it assembles. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "df_listen.h"
#include "df_log.h"
#include "df_util.h"
#include "sn_config.h"
#include "sn_server.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    DF_LOGI("main", "signal %d: shutting down", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct sn_config cfg;
    char err[DF_ERR_LEN] = "";
    int rc = 1;
    sn_config_init(&cfg);
    int action = sn_config_load(&cfg, argc, argv, err);
    if (action < 0) {
        fprintf(stderr, "supernode: %s\n", err);
        sn_config_cleanup(&cfg);
        return 1;
    }
    if (action == SN_CONFIG_HELP) {
        sn_config_usage(stdout);
        sn_config_cleanup(&cfg);
        return 0;
    }
    if (action == SN_CONFIG_VERSION) {
        printf("supernode version %s (damselfly)\n", DF_VERSION);
        sn_config_cleanup(&cfg);
        return 0;
    }
    if (!cfg.advertise_ip[0])
        sn_config_detect_ip(cfg.advertise_ip);
    sn_config_add_local_addrs(&cfg); /* own-port rule of the origin policy on every address */

    signal(SIGPIPE, SIG_IGN);
    df_log_set_level(cfg.is_debug ? DF_LOG_DEBUG : DF_LOG_INFO);
    char *log_path = df_xasprintf("%s/logs/app.log", cfg.home_dir);
    int lrc = df_log_open_file(log_path);
    if (lrc < 0) {
        fprintf(stderr, "supernode: cannot open log file %s: %s\n", log_path, df_strerror(lrc));
        free(log_path);
        sn_config_cleanup(&cfg);
        return 1;
    }
    df_log_set_console(cfg.is_console);
    if (cfg.warnings) {
        fprintf(stderr, "supernode: warning: %s\n", cfg.warnings);
        DF_LOGW("main", "%s", cfg.warnings);
    }
    if (cfg.config_path)
        DF_LOGI("main", "config file %s: %zu settings (flags override them)", cfg.config_path,
                cfg.config_settings);

    /* connection guards of both ports (df_listen): fd limit up to the hard limit, then the
     * per-port connection limit defaults to a share of it */
    df_listen_raise_nofile("main");
    df_listen_set_servers(2);
    df_listen_set_limits(&(struct df_listen_limits){.max_conns = cfg.max_conns,
                                                    .header_timeout_ms = (int)cfg.header_timeout_ms});

    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    struct event *sigint = NULL, *sigterm = NULL;
    struct sn_server *srv = NULL;
    if (!base) {
        fprintf(stderr, "supernode: cannot create the event loop\n");
        goto out;
    }
    srv = sn_server_new(&cfg, base, err);
    if (!srv) {
        fprintf(stderr, "supernode: %s\n", err);
        DF_LOGE("main", "%s", err);
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    DF_LOGI("main", "supernode %s listening on port %u (API) and %u (download), advertise %s, "
            "home %s", DF_VERSION, (unsigned)cfg.port, (unsigned)cfg.download_port,
            cfg.advertise_ip, cfg.home_dir);
    event_base_dispatch(base);
    rc = 0;
out:
    sn_server_free(srv);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (base)
        event_base_free(base);
    DF_LOGI("main", "supernode stopped");
    df_log_close();
    free(log_path);
    sn_config_cleanup(&cfg);
    return rc;
}
