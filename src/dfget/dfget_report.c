/* SPDX-License-Identifier: Apache-2.0 */
/* Console lines of dfget (Dragonfly-compatible wording), the summary line and the progress
 * bar text. No state; the caller decides when and where to print. */
#include "dfget_report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_redact.h"
#include "df_util.h"

void dfget_report_header(FILE *out, const char *url, const char *home, const char *sign)
{
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    char *shown = df_redact_url(url); /* console output is often captured in CI logs */
    fprintf(out, "--%s--  %s\n", date, shown);
    free(shown);
    fprintf(out, "dfget version:%s\n", DF_VERSION);
    fprintf(out, "workspace:%s\n", home);
    fprintf(out, "sign:%s\n", sign);
    fflush(out);
}

static double pct(uint64_t part, uint64_t total)
{
    return total ? (double)part * 100.0 / (double)total : 0.0;
}

const char *dfget_report_summary(char *buf, size_t len, uint64_t source, uint64_t supernode,
                                 uint64_t peers, double secs)
{
    uint64_t total = source + supernode + peers;
    double rate = secs > 0 ? (double)total / secs / (1024.0 * 1024.0) : 0.0;
    snprintf(buf, len,
             "summary: source=%llu (%.1f%%) supernode=%llu (%.1f%%) peers=%llu (%.1f%%) "
             "time=%.3fs rate=%.1fMiB/s",
             (unsigned long long)source, pct(source, total), (unsigned long long)supernode,
             pct(supernode, total), (unsigned long long)peers, pct(peers, total), secs, rate);
    return buf;
}

const char *dfget_report_result(char *buf, size_t len, int is_ok, int code, double secs,
                                int64_t length, int reason, const char *msg)
{
    if (is_ok)
        snprintf(buf, len, "download SUCCESS cost:%.3fs length:%lld reason:%d", secs,
                 (long long)length, reason);
    else
        snprintf(buf, len, "download FAIL(%d) cost:%.3fs length:%lld reason:%d error:%s", code,
                 secs, (long long)length, reason, msg ? msg : "");
    return buf;
}

const char *dfget_report_bar(char *buf, size_t len, uint64_t done, int64_t total, double rate_bps)
{
    enum { WIDTH = 30 };
    char bar[WIDTH + 3], a[32], b[32], r[32];
    df_fmt_bytes(done, a, sizeof(a));
    df_fmt_bytes(rate_bps > 0 ? (uint64_t)rate_bps : 0, r, sizeof(r));
    if (total <= 0) {
        snprintf(buf, len, "%s  %s/s", a, r);
        return buf;
    }
    double f = (double)done / (double)total;
    if (f > 1)
        f = 1;
    int fill = (int)(f * WIDTH);
    bar[0] = '[';
    for (int i = 0; i < WIDTH; i++)
        bar[1 + i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[WIDTH + 1] = ']';
    bar[WIDTH + 2] = '\0';
    df_fmt_bytes((uint64_t)total, b, sizeof(b));
    snprintf(buf, len, "%s %3d%%  %s / %s  %s/s", bar, (int)(f * 100), a, b, r);
    return buf;
}
