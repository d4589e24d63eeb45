/* SPDX-License-Identifier: Apache-2.0 */
/* Error codes shared by every module.
 * Functions return 0 on success and a negative code on failure: either -errno (e.g. -ENOENT)
 * or one of the DF_E* values below, which sit far outside the errno range. */
#ifndef DF_ERR_H
#define DF_ERR_H

#define DF_ERR_LEN 256 /* size of the caller-provided `char err[]` on setup paths */

enum {
    DF_EPROTO = -10001,   /* peer/origin/supernode spoke something we cannot accept */
    DF_EDIGEST = -10002,  /* bytes do not match the trusted digest */
    DF_ETOOBIG = -10003,  /* input larger than the cap for that buffer */
    DF_AGAIN = -10004,    /* resumable parser: need more bytes */
    DF_ERANGE = -10005,   /* range not satisfiable */
    DF_ECANCELED = -10006,/* operation cancelled (shutdown) */
    DF_EHTTP = -10007,    /* unexpected HTTP status */
    DF_ETIMEDOUT = -10008,/* operation exceeded its deadline */
    DF_ENOSPACE = -10009, /* free-space pre-check refused */
    DF_EORIGIN = -10010,  /* origin failure (404, 5xx, reset, short body) */
};

/* Human-readable text for any code above or -errno. Never NULL; static storage. */
const char *df_strerror(int err);

#endif
