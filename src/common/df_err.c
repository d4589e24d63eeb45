/* SPDX-License-Identifier: Apache-2.0 */
/* df_strerror: text for DF_E* codes and -errno values. */
#include "df_err.h"

#include <string.h>

const char *df_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case DF_EPROTO: return "protocol error";
    case DF_EDIGEST: return "digest mismatch";
    case DF_ETOOBIG: return "input too large";
    case DF_AGAIN: return "need more data";
    case DF_ERANGE: return "range not satisfiable";
    case DF_ECANCELED: return "cancelled";
    case DF_EHTTP: return "unexpected HTTP status";
    case DF_ETIMEDOUT: return "timed out";
    case DF_ENOSPACE: return "not enough free disk space";
    case DF_EORIGIN: return "origin error";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
