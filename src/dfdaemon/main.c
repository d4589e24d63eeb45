/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon: flags + YAML config, logging (<workHome>/logs/dfdaemon.log), signals, event loop.
 * Start-up errors print one line on stderr and exit non-zero (codes as Dragonfly 1.0 §10.1:
 * 10 config, 11 work home, 14 port). Everything else lives in dfd_proxy.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "df_listen.h"
#include "df_log.h"
#include "df_util.h"
#include "dfd_config.h"
#include "dfd_proxy.h"
#include "dfget_config.h"
#include "dfget_uploader.h"

enum { EXIT_CONFIG = 10, EXIT_HOME = 11, EXIT_PORT = 14 };

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    DF_LOGI("main", "signal %d: shutting down", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct dfd_config cfg;
    char err[DF_ERR_LEN] = "";
    char *ignored = NULL, *log_path = NULL;
    int rc = EXIT_CONFIG;
    struct event_base *base = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    struct dfd_proxy *proxy = NULL;

    /* `dfdaemon server ...`: this host's uploader, started by the swarm module exactly as
     * dfget starts `dfget server` (same code, /proc/self/exe). */
    if (argc > 1 && strcmp(argv[1], "server") == 0)
        return dfget_uploader_main(argc - 1, argv + 1);
    dfd_config_init(&cfg);
    int action = dfd_config_parse_args(&cfg, argc, argv, err);
    if (action == DFD_CONFIG_HELP) {
        dfd_config_usage(stdout);
        rc = 0;
        goto out;
    }
    if (action == DFD_CONFIG_VERSION) {
        printf("dfdaemon version %s (damselfly)\n", DF_VERSION);
        rc = 0;
        goto out;
    }
    if (action < 0 || dfd_config_load_file(&cfg, &ignored, err) < 0 ||
        dfd_config_node_from_ini(&cfg, NULL, err) == -EINVAL || dfd_config_finish(&cfg, err) < 0) {
        fprintf(stderr, "dfdaemon: %s\n", err);
        goto out;
    }

    signal(SIGPIPE, SIG_IGN);
    df_log_set_level(cfg.is_verbose ? DF_LOG_DEBUG : DF_LOG_INFO);
    log_path = df_xasprintf("%s/logs/dfdaemon.log", cfg.work_home);
    int lrc = df_log_open_file(log_path);
    if (lrc < 0) {
        fprintf(stderr, "dfdaemon: cannot open log file %s: %s\n", log_path, df_strerror(lrc));
        rc = EXIT_HOME;
        goto out;
    }
    df_log_set_console(cfg.is_verbose);
    if (ignored)
        DF_LOGW("main", "config keys accepted but not used by this dfdaemon: %s", ignored);
    if (dfd_config_write_ca_bundle(&cfg, err) < 0) {
        fprintf(stderr, "dfdaemon: %s\n", err);
        DF_LOGE("main", "%s", err);
        rc = EXIT_CONFIG;
        goto out;
    }
    if (cfg.ca_file)
        DF_LOGI("main", "registry %s verified with CA bundle %s", cfg.registry, cfg.ca_file);

    df_listen_raise_nofile("main"); /* connection guard (df_listen) of the proxy port */
    df_listen_set_limits(&(struct df_listen_limits){.max_conns = cfg.max_conns,
                                                    .header_timeout_ms = (int)cfg.header_timeout_ms});

    evthread_use_pthreads();
    base = event_base_new();
    if (!base) {
        fprintf(stderr, "dfdaemon: cannot create the event loop\n");
        rc = 1;
        goto out;
    }
    proxy = dfd_proxy_new(base, &cfg, err);
    if (!proxy) {
        fprintf(stderr, "dfdaemon: %s\n", err);
        DF_LOGE("main", "%s", err);
        rc = EXIT_PORT;
        goto out;
    }
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    /* once it is certain to run: a start-up error stays the only line on stderr */
    if (cfg.node) {
        DF_LOGI("main", "supernodes %s (from %s)", cfg.node, cfg.node_source);
    } else {
        /* P2P silently never happening is the worst failure of a mirror: say it once, loudly */
        DF_LOGW("main", "no supernode configured (--node, supernodes: in the config file, or "
                "[node] address in %s): blobs go directly to the registry, nothing is shared",
                getenv(DFGET_CONF_ENV) && *getenv(DFGET_CONF_ENV) ? getenv(DFGET_CONF_ENV)
                                                                  : DFGET_DEFAULT_CONF);
        fprintf(stderr, "dfdaemon: warning: no supernode configured: blobs go directly to the "
                "registry (give --node or [node] address in /etc/dragonfly.conf)\n");
    }
    DF_LOGI("main", "dfdaemon %s listening on %s:%u, registry %s, %zu proxy rules, work home %s",
            DF_VERSION, cfg.bind_addr, dfd_proxy_port(proxy), cfg.registry, cfg.n_proxies,
            cfg.work_home);
    event_base_dispatch(base);
    rc = 0;
out:
    dfd_proxy_free(proxy);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (base)
        event_base_free(base);
    if (rc == 0 && log_path)
        DF_LOGI("main", "stopped");
    df_log_close();
    free(log_path);
    free(ignored);
    dfd_config_cleanup(&cfg);
    return rc;
}
