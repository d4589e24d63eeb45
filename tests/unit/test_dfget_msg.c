/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding of dfget's supernode requests and decoding of the replies: registration body keys,
 * 200/Go error envelopes, 600/601/602 shapes (with and without pieceSha256 / sha256), malformed
 * piece tasks, query URL order and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "df_err.h"
#include "dfget_msg.h"

#define TID "77d0df97b4dd58f5877514d3a30828bc874e07c0269ed95d6434a66404087263"
#define S(x) x, strlen(x)

static void test_reg_body(void **state)
{
    const char *hdrs[] = {"A: 1", "Range: bytes=0-99"};
    struct dfget_reg_req r = {
        .supernode_ip = "::1", .raw_url = "http://o/f?x=1", .task_url = "http://o/f",
        .cid = "::1-1-2.345", .ip = "::1", .host_name = "h", .port = 0,
        .path = "/peer/file/f-1-2.345", .version = "0.1.0", .identifier = "id",
        .headers = hdrs, .nheaders = 2, .is_dfdaemon = 1,
    };
    char *body = dfget_msg_reg_body(&r);
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "superNodeIp")), "::1");
    assert_string_equal(json_string_value(json_object_get(o, "rawUrl")), "http://o/f?x=1");
    assert_string_equal(json_string_value(json_object_get(o, "taskUrl")), "http://o/f");
    assert_string_equal(json_string_value(json_object_get(o, "cid")), "::1-1-2.345");
    assert_string_equal(json_string_value(json_object_get(o, "ip")), "::1");
    assert_string_equal(json_string_value(json_object_get(o, "hostName")), "h");
    assert_int_equal(json_integer_value(json_object_get(o, "port")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/peer/file/f-1-2.345");
    assert_string_equal(json_string_value(json_object_get(o, "version")), "0.1.0");
    assert_null(json_object_get(o, "md5"));
    assert_string_equal(json_string_value(json_object_get(o, "identifier")), "id");
    assert_null(json_object_get(o, "callSystem"));
    assert_int_equal(json_array_size(json_object_get(o, "headers")), 2);
    assert_true(json_is_true(json_object_get(o, "dfdaemon")));
    assert_true(json_is_false(json_object_get(o, "insecure")));
    assert_null(json_object_get(o, "rootCAs"));
    json_decref(o);
    free(body);

    r.md5 = "0123456789abcdef0123456789abcdef"; /* identifier only when md5 is empty */
    body = dfget_msg_reg_body(&r);
    o = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "md5")), r.md5);
    assert_null(json_object_get(o, "identifier"));
    json_decref(o);
    free(body);
}

static void test_reg_reply(void **state)
{
    struct dfget_reg_reply r;
    char err[DF_ERR_LEN];
    const char *ok = "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":209715200,"
                     "\"pieceSize\":4194304,\"cdnSource\":\"supernode\"}}";
    assert_int_equal(dfget_msg_parse_reg(S(ok), &r, err), 0);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.task_id, TID);
    assert_int_equal(r.file_length, 209715200);
    assert_int_equal(r.piece_size, 4194304);
    assert_string_equal(r.cdn_source, "supernode");
    assert_false(r.is_piece_auth); /* a public task / a Dragonfly supernode: no token */
    assert_string_equal(r.piece_key, "");
    assert_string_equal(r.piece_token, "");

    /* Private task: the peer-authentication extension. */
    const char *priv = "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":1,"
                       "\"pieceSize\":4194304,\"pieceAuth\":true,"
                       "\"pieceKey\":\"r4vBiLKN-M0aybVvYSapM8MQkTZYcgoIkgnUs7WTir0\","
                       "\"pieceToken\":\"ZGZ0MQ.c2ln\"}}";
    assert_int_equal(dfget_msg_parse_reg(S(priv), &r, err), 0);
    assert_true(r.is_piece_auth);
    assert_string_equal(r.piece_key, "r4vBiLKN-M0aybVvYSapM8MQkTZYcgoIkgnUs7WTir0");
    assert_string_equal(r.piece_token, "ZGZ0MQ.c2ln");
    /* a key that does not decode and a token that would break a header are dropped */
    const char *junk = "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":1,"
                       "\"pieceSize\":4194304,\"pieceAuth\":true,\"pieceKey\":\"short\","
                       "\"pieceToken\":\"a\\r\\nX-Evil: 1\"}}";
    assert_int_equal(dfget_msg_parse_reg(S(junk), &r, err), 0);
    assert_true(r.is_piece_auth);
    assert_string_equal(r.piece_key, "");
    assert_string_equal(r.piece_token, "");

    /* Go-style key case, unknown length, no cdnSource (Go 0.4). */
    const char *go = "{\"Code\":200,\"Data\":{\"TaskID\":\"" TID "\",\"FileLength\":-1,\"PieceSize\":4194304}}";
    assert_int_equal(dfget_msg_parse_reg(S(go), &r, err), 0);
    assert_int_equal(r.file_length, -1);
    assert_string_equal(r.cdn_source, "supernode");

    /* Go error envelope. */
    const char *goerr = "{\"code\":500,\"message\":\"url not reachable\\nsecond line\"}";
    assert_int_equal(dfget_msg_parse_reg(S(goerr), &r, err), 0);
    assert_int_equal(r.code, 500);
    assert_string_equal(r.msg, "url not reachable second line");

    const char *bad[] = {
        "", "null", "[]", "{\"msg\":\"no code\"}", "{\"code\":\"x\"}",
        "{\"code\":200}",
        "{\"code\":200,\"data\":{\"taskId\":\"abc\",\"fileLength\":1,\"pieceSize\":4194304}}",
        "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":-2,\"pieceSize\":4194304}}",
        "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":1,\"pieceSize\":5}}",
        "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":1,\"pieceSize\":1e12}}",
        "{\"code\":200,\"data\":{\"taskId\":\"" TID "\",\"fileLength\":1}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(dfget_msg_parse_reg(S(bad[i]), &r, err), DF_EPROTO);
        assert_true(err[0] != '\0');
    }
}

#define TASK(range, num, extra)                                                                    \
    "{\"range\":\"" range "\",\"pieceNum\":" #num ",\"pieceSize\":4194304,"                        \
    "\"pieceMd5\":\"32376CE3EF6C701499104EB5F0996513:4194304\",\"cid\":\"cdnnode:127.0.0.1~" TID    \
    "\",\"peerIp\":\"127.0.0.1\",\"peerPort\":8001,\"path\":\"/download/77d/" TID "\","           \
    "\"downLink\":0" extra "}"

static void test_pull_601(void **state)
{
    struct dfget_pull_reply r;
    char err[DF_ERR_LEN];
    const char *body = "{\"code\":601,\"data\":[" TASK("0-4194303", 0, "") ","
        TASK("4194304-8388607", 1, ",\"pieceSha256\":\"" TID "\"") "]}";
    assert_int_equal(dfget_msg_parse_pull(S(body), &r, err), 0);
    assert_int_equal(r.code, 601);
    assert_int_equal(r.ntasks, 2);
    struct dfget_piece_task *t = &r.tasks[0];
    assert_int_equal(t->piece_num, 0);
    assert_int_equal(t->start, 0);
    assert_int_equal(t->end, 4194303);
    assert_string_equal(t->range, "0-4194303");
    assert_string_equal(t->md5, "32376ce3ef6c701499104eb5f0996513");
    assert_string_equal(t->md5_raw, "32376CE3EF6C701499104EB5F0996513:4194304");
    assert_int_equal(t->wrapped_len, 4194304);
    assert_string_equal(t->sha256, ""); /* missing pieceSha256 → md5 only */
    assert_string_equal(t->cid, "cdnnode:127.0.0.1~" TID);
    assert_string_equal(t->peer_ip, "127.0.0.1");
    assert_int_equal(t->peer_port, 8001);
    assert_string_equal(t->path, "/download/77d/" TID);
    assert_string_equal(r.tasks[1].sha256, TID);
    char *url = dfget_msg_piece_url(t);
    assert_string_equal(url, "http://127.0.0.1:8001/download/77d/" TID);
    free(url);
    struct dfget_piece_task copy;
    dfget_msg_task_copy(&copy, &r.tasks[1]);
    dfget_msg_pull_cleanup(&r);
    assert_int_equal(copy.piece_num, 1);
    assert_string_equal(copy.peer_ip, "127.0.0.1");
    free(copy.peer_ip);
    copy.peer_ip = strdup("::1"); /* IPv6 peers get brackets */
    url = dfget_msg_piece_url(&copy);
    assert_string_equal(url, "http://[::1]:8001/download/77d/" TID);
    free(url);
    dfget_msg_task_cleanup(&copy);

    /* 601 without data (4 pieces in flight) and with an empty md5 (Go 0.4). */
    const char *busy = "{\"code\":601,\"msg\":\"peer down limit\"}";
    assert_int_equal(dfget_msg_parse_pull(S(busy), &r, err), 0);
    assert_int_equal(r.ntasks, 0);
    assert_string_equal(r.msg, "peer down limit");
    dfget_msg_pull_cleanup(&r);
    const char *nomd5 = "{\"code\":601,\"data\":[{\"range\":\"0-4194303\",\"pieceNum\":0,"
                        "\"pieceSize\":4194304,\"pieceMd5\":\"\",\"cid\":\"c\",\"peerIp\":\"h\","
                        "\"peerPort\":8001,\"path\":\"/p\"}]}";
    assert_int_equal(dfget_msg_parse_pull(S(nomd5), &r, err), 0);
    assert_string_equal(r.tasks[0].md5, "");
    assert_int_equal(r.tasks[0].wrapped_len, -1);
    dfget_msg_pull_cleanup(&r);
}

static void test_pull_other_codes(void **state)
{
    struct dfget_pull_reply r;
    char err[DF_ERR_LEN];
    const char *fin = "{\"code\":600,\"data\":{\"md5\":\"32376CE3EF6C701499104EB5F0996513\","
                      "\"fileLength\":209715455,\"sha256\":\"" TID "\"}}";
    assert_int_equal(dfget_msg_parse_pull(S(fin), &r, err), 0);
    assert_int_equal(r.code, 600);
    assert_string_equal(r.md5, "32376ce3ef6c701499104eb5f0996513");
    assert_string_equal(r.sha256, TID);
    assert_int_equal(r.file_length, 209715455);
    dfget_msg_pull_cleanup(&r);
    const char *fin_old = "{\"code\":600,\"data\":{\"md5\":\"\",\"fileLength\":5}}";
    assert_int_equal(dfget_msg_parse_pull(S(fin_old), &r, err), 0);
    assert_string_equal(r.md5, "");
    assert_string_equal(r.sha256, "");
    assert_int_equal(r.file_length, 5);
    dfget_msg_pull_cleanup(&r);
    const char *wait = "{\"code\":602,\"msg\":\"{\\\"Code\\\":9,\\\"Msg\\\":\\\"peer should wait\\\"}\"}";
    assert_int_equal(dfget_msg_parse_pull(S(wait), &r, err), 0);
    assert_int_equal(r.code, 602);
    dfget_msg_pull_cleanup(&r);
    const char *goerr = "{\"code\":502,\"message\":\"data not found\"}";
    assert_int_equal(dfget_msg_parse_pull(S(goerr), &r, err), 0);
    assert_int_equal(r.code, 502);
    assert_string_equal(r.msg, "data not found");
    dfget_msg_pull_cleanup(&r);
}

static void test_pull_malformed(void **state)
{
    struct dfget_pull_reply r;
    char err[DF_ERR_LEN];
    const char *bad[] = {
        "not json",
        "{\"code\":601,\"data\":{}}",
        "{\"code\":601,\"data\":[1]}",
        /* range not aligned with pieceNum / size */
        "{\"code\":601,\"data\":[" TASK("1-4194304", 0, "") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 1, "") "]}",
        "{\"code\":601,\"data\":[" TASK("0-99", 0, "") "]}",
        "{\"code\":601,\"data\":[" TASK("x-y", 0, "") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"pieceSha256\":\"zz\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"peerPort\":0") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"peerIp\":\"a b\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"peerIp\":\"h/x\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"path\":\"nopath\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"path\":\"/a b\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"cid\":\"\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"pieceMd5\":\"abc:1\"") "]}",
        "{\"code\":601,\"data\":[" TASK("0-4194303", 0, ",\"pieceMd5\":\"32376ce3ef6c701499104eb5f0996513:9999999\"") "]}",
        "{\"code\":600,\"data\":{\"md5\":\"xyz\"}}",
        "{\"code\":600,\"data\":{\"sha256\":\"00\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(dfget_msg_parse_pull(S(bad[i]), &r, err), DF_EPROTO);
        assert_true(err[0] != '\0');
        assert_null(r.tasks);
    }
}

static void test_urls(void **state)
{
    char *base = dfget_msg_base_url("::1", 8002);
    assert_string_equal(base, "http://[::1]:8002");
    char *u = dfget_msg_pull_url(base, "::1-1-2.5", "", "", 502, 700, TID);
    assert_string_equal(u, "http://[::1]:8002/peer/task?srcCid=::1-1-2.5&dstCid=&range=&result=502"
                           "&status=700&taskId=" TID);
    free(u);
    u = dfget_msg_pull_url(base, "c", "cdnnode:1.2.3.4~ab", "0-4194303", 503, 701, "t");
    assert_string_equal(u, "http://[::1]:8002/peer/task?srcCid=c&dstCid=cdnnode:1.2.3.4~ab"
                           "&range=0-4194303&result=503&status=701&taskId=t");
    free(u);
    u = dfget_msg_suc_url(base, "t", "c", "d e&f", "0-1");
    assert_string_equal(u, "http://[::1]:8002/peer/piece/suc?taskId=t&cid=c&dstCid=d%20e%26f&pieceRange=0-1");
    free(u);
    u = dfget_msg_error_url(base, "FILE_MD5_NOT_MATCH", "s", "d", "1.2.3.4", "t", "0-1", "aa", "bb:5");
    assert_string_equal(u, "http://[::1]:8002/peer/piece/error?errorType=FILE_MD5_NOT_MATCH&srcCid=s"
                           "&dstCid=d&dstIp=1.2.3.4&taskId=t&range=0-1&realMd5=aa&expectedMd5=bb:5");
    free(u);
    free(base);
    base = dfget_msg_base_url("sn.example", 80);
    assert_string_equal(base, "http://sn.example:80");
    free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reg_body),  cmocka_unit_test(test_reg_reply),
        cmocka_unit_test(test_pull_601),  cmocka_unit_test(test_pull_other_codes),
        cmocka_unit_test(test_pull_malformed), cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
