/* SPDX-License-Identifier: Apache-2.0 */
/* User-facing console output of dfget: Dragonfly's lines (spec §7.1) on stdout, the final
 * summary line (format shared with the demo and the tests, keep it exact), and the --showbar
 * progress bar on stderr. The formatting functions are pure (tested); the print functions
 * only write to the FILE given. Loop thread / main thread only. */
#ifndef DFGET_REPORT_H
#define DFGET_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "--2024-01-02 03:04:05--  <url>", "dfget version:<v>", "workspace:<home>", "sign:<sign>". */
void dfget_report_header(FILE *out, const char *url, const char *home, const char *sign);

/* "summary: source=<b> (<p>%) supernode=<b> (<p>%) peers=<b> (<p>%) time=<s.sss>s
 * rate=<r.r>MiB/s" (one line). Percentages of the sum of the three, 1 decimal; rate = sum /
 * secs in MiB/s. Example: (0, 1048576, 0, 0.5) →
 * "summary: source=0 (0.0%) supernode=1048576 (100.0%) peers=0 (0.0%) time=0.500s rate=2.0MiB/s" */
const char *dfget_report_summary(char *buf, size_t len, uint64_t source, uint64_t supernode,
                                 uint64_t peers, double secs);

/* "download SUCCESS cost:<s.sss>s length:<n> reason:<r>" or
 * "download FAIL(<code>) cost:<s.sss>s length:<n> reason:<r> error:<msg>". */
const char *dfget_report_result(char *buf, size_t len, int is_ok, int code, double secs,
                                int64_t length, int reason, const char *msg);

/* Progress bar line (no "\r"), e.g. "[=========>          ]  47%  120.0 MiB / 256.0 MiB
 * 98.3 MiB/s"; total < 0 = unknown length (no percentage). */
const char *dfget_report_bar(char *buf, size_t len, uint64_t done, int64_t total, double rate_bps);

#endif
