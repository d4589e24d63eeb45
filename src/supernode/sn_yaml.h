/* SPDX-License-Identifier: Apache-2.0 */
/* Dragonfly 1.x supernode.yml (spec §8.1: section `base:` with the Go supernode's keys, plus
 * `plugins:` and `storages:`) turned into the equivalent flag arguments ("--port=8002",
 * "--debug"), which sn_config then parses before the command line: one validator for both,
 * and flags beat the file. Parsed with libyaml's document API; errors name the file and line.
 *
 *  - durations: Go strings ("3m0s", "90s"); a bare integer is nanoseconds, as Go's yaml.v2
 *    reads a time.Duration;
 *  - rates and sizes: "20MB", "200M", "100GB" (df_parse_bytes units);
 *  - booleans (debug, enableProfiler): YAML true/false;
 *  - keys the Go supernode has but this one does not use (eliminationLimit, linkLimit,
 *    logConfig, ...), and non-empty plugins/storages, are noted in *warnings;
 *  - any other key is an error (a typo must not silently fall back to a default).
 * Pure: no I/O. */
#ifndef SN_YAML_H
#define SN_YAML_H

#include <stddef.h>

#include "df_err.h"

/* name: the file name for messages. On success returns 0 with *args (heap array of heap
 * strings, *nargs entries; free with sn_yaml_args_free) and *warnings ("; "-joined heap
 * string or NULL). Returns -EINVAL with err = "<name>:<line>: <what>" on a YAML syntax error,
 * a wrong shape or an unknown key; nothing is allocated then. An empty file gives no args. */
int sn_yaml_args(const char *name, const char *text, size_t len, char ***args, size_t *nargs,
                 char **warnings, char err[DF_ERR_LEN]) __attribute__((warn_unused_result));
void sn_yaml_args_free(char **args, size_t nargs);

#endif
