/* SPDX-License-Identifier: Apache-2.0 */
/* dfget's INI configuration file (dfget_config_load_file via inih) and the node-list parser it
 * feeds (dfget_config_parse_nodes). The input is the file's content (written to a memfd). */
#include "fuzz_common.h"

#include <sys/mman.h>
#include <unistd.h>

#include "dfget_config.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz_dfget_config", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    struct dfget_config c;
    dfget_config_init(&c);
    char err[DF_ERR_LEN];
    int rc = dfget_config_load_file(&c, path, err);
    if (rc == 0) {
        for (size_t i = 0; i < c.nnodes; i++) {
            FUZZ_CHECK(c.nodes[i].host && c.nodes[i].host[0] && c.nodes[i].weight >= 1);
            char hp[300];
            dfget_config_hostport(c.nodes[i].host, c.nodes[i].port, hp, sizeof(hp));
        }
    }
    dfget_config_cleanup(&c);
    /* The whole input as an address list too ("-n" on the command line). */
    char *list = fuzz_strdup(data, size);
    struct dfget_node *nodes = NULL;
    size_t n = 0;
    if (dfget_config_parse_nodes(list, &nodes, &n, err) == 0)
        dfget_config_free_nodes(nodes, n);
    free(list);
    return 0;
}
