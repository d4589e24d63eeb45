/* SPDX-License-Identifier: Apache-2.0 */
/* Line logger. Each line is formatted into a stack buffer and written with one write(2), so
 * lines from the loop thread and worker threads never interleave. */
#include "df_log.h"
#include "df_redact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "df_util.h"

static enum df_log_level g_level = DF_LOG_INFO;
static int g_fd = 2;
static int g_console;

void df_log_set_level(enum df_log_level level) { g_level = level; }
enum df_log_level df_log_get_level(void) { return g_level; }
void df_log_set_console(int is_on) { g_console = is_on; }

int df_log_open_file(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, path, n);
        dir[n] = '\0';
        int rc = df_mkdir_p(dir, 0755);
        if (rc < 0)
            return rc;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (g_fd > 2)
        close(g_fd);
    g_fd = fd;
    return 0;
}

void df_log_close(void)
{
    if (g_fd > 2)
        close(g_fd);
    g_fd = 2;
}

void df_log_write(enum df_log_level level, const char *mod, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < g_level || level >= DF_LOG_OFF)
        return;
    int saved = errno;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof(line) - n, ".%03ld %-5s %s ", (long)(tv.tv_usec / 1000),
                     names[level], mod ? mod : "-");
    if (k > 0)
        n += (size_t)k;
    /* Every line goes through the redaction helper: a URL with userinfo or an Authorization
     * header that reaches a log message shows "***" instead (df_redact.h). */
    /* The whole message is redacted before the line is cut to size: a cut inside a URL's
     * userinfo would hide the '@' that marks it. */
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    k = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (k > 0 && msg)
        n += df_redact_text(msg, line + n, sizeof(line) - n - 1);
    free(msg);
    line[n++] = '\n';
    ssize_t w = write(g_fd, line, n);
    if (g_console && g_fd != 2)
        w = write(2, line, n);
    (void)w;
    errno = saved;
}
