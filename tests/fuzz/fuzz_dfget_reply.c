/* SPDX-License-Identifier: Apache-2.0 */
/* dfget's decoders of supernode replies: registration (dfget_msg_parse_reg) and /peer/task
 * pull replies (dfget_msg_parse_pull, then the piece URLs built from the piece tasks).
 * Input: first byte selects the decoder (odd = pull), the rest is the JSON body. */
#include "fuzz_common.h"

#include "df_err.h"
#include "dfget_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int is_pull = data[0] & 1;
    char *body = malloc(size - 1 ? size - 1 : 1); /* not NUL-terminated */
    if (!body)
        abort();
    memcpy(body, data + 1, size - 1);
    char err[DF_ERR_LEN] = "";
    if (!is_pull) {
        struct dfget_reg_reply r;
        int rc = dfget_msg_parse_reg(body, size - 1, &r, err);
        FUZZ_CHECK(rc == 0 || (rc == DF_EPROTO && err[0]));
        if (rc == 0 && r.code == 200) {
            FUZZ_CHECK(strlen(r.task_id) == DF_TASKID_LEN);
            FUZZ_CHECK(r.piece_size >= 6 && r.piece_size <= (64u << 20));
            FUZZ_CHECK(memchr(r.piece_token, '\0', sizeof(r.piece_token)));
            FUZZ_CHECK(memchr(r.piece_key, '\0', sizeof(r.piece_key)));
        }
    } else {
        struct dfget_pull_reply p;
        int rc = dfget_msg_parse_pull(body, size - 1, &p, err);
        FUZZ_CHECK(rc == 0 || (rc == DF_EPROTO && err[0]));
        if (rc == 0) {
            for (size_t i = 0; i < p.ntasks; i++) {
                const struct dfget_piece_task *t = &p.tasks[i];
                FUZZ_CHECK(t->end >= t->start && t->end - t->start + 1 == t->piece_size);
                FUZZ_CHECK(t->path && t->path[0] == '/' && t->cid && t->peer_ip);
                FUZZ_CHECK(t->start / t->piece_size == t->piece_num &&
                           t->start % t->piece_size == 0);
                char *u = dfget_msg_piece_url(t);
                FUZZ_CHECK(u && strncmp(u, "http://", 7) == 0);
                free(u);
                struct dfget_piece_task cp;
                dfget_msg_task_copy(&cp, t);
                dfget_msg_task_cleanup(&cp);
            }
            dfget_msg_pull_cleanup(&p);
        }
    }
    free(body);
    return 0;
}
