/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: one line per event, "<time> <LEVEL> <module> message", to stderr or a file.
 * Thread-safe (one write(2) per line). Not for user-facing console output. */
#ifndef DF_LOG_H
#define DF_LOG_H

#include <stdio.h>

enum df_log_level { DF_LOG_DEBUG = 0, DF_LOG_INFO, DF_LOG_WARN, DF_LOG_ERROR, DF_LOG_OFF };

/* Sets the minimum level (default INFO). */
void df_log_set_level(enum df_log_level level);
enum df_log_level df_log_get_level(void);
/* Appends to `path` (created with parent dirs) instead of stderr. Returns 0 or -errno. */
int df_log_open_file(const char *path) __attribute__((warn_unused_result));
/* Also mirror every line to stderr (dfget --console). */
void df_log_set_console(int is_on);
void df_log_close(void);

void df_log_write(enum df_log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DF_LOGD(mod, ...) df_log_write(DF_LOG_DEBUG, mod, __VA_ARGS__)
#define DF_LOGI(mod, ...) df_log_write(DF_LOG_INFO, mod, __VA_ARGS__)
#define DF_LOGW(mod, ...) df_log_write(DF_LOG_WARN, mod, __VA_ARGS__)
#define DF_LOGE(mod, ...) df_log_write(DF_LOG_ERROR, mod, __VA_ARGS__)

#endif
