/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_token: sign and verify piece tokens (valid, expired, wrong task, wrong
 * client address, forged/edited, other key, malformed), key file creation and loading (mode
 * 0600, refusal of a symlink and of a group-readable file), address comparison. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "df_token.h"

#define TASK "83f5c2e64888a561157b466a176c08fef2ce9ecf328beabbd14bd617d9191bc3"
#define CID "127.0.0.1-5007-1796683162.120"

static struct df_token_key *key;
static unsigned char pub[1][DF_TOKEN_PUB_LEN];

static int setup(void **state)
{
    (void)state;
    key = df_token_key_generate();
    if (!key)
        return -1;
    char b64[DF_TOKEN_PUB_B64_LEN + 1];
    df_token_key_public_b64(key, b64);
    return df_token_pub_decode(b64, pub[0]);
}

static int teardown(void **state)
{
    (void)state;
    df_token_key_free(key);
    return 0;
}

static void valid_token(void **state)
{
    (void)state;
    char tok[DF_TOKEN_MAX];
    int n = df_token_sign(key, TASK, CID, "10.0.0.7", 2000, tok, sizeof(tok));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(tok));
    assert_null(strpbrk(tok, " +/=\r\n"));
    struct df_token_claims c;
    const char *why = NULL;
    assert_int_equal(df_token_verify(pub, 1, tok, TASK, "10.0.0.7", 1999, &c, &why), 0);
    assert_string_equal(c.task_id, TASK);
    assert_string_equal(c.cid, CID);
    assert_string_equal(c.ip, "10.0.0.7");
    assert_int_equal(c.expires_unix, 2000);
    /* mapped IPv6 form of the same client, and no address check at all */
    assert_int_equal(df_token_verify(pub, 1, tok, TASK, "::ffff:10.0.0.7", 1999, NULL, &why), 0);
    assert_int_equal(df_token_verify(pub, 1, tok, TASK, NULL, 1999, NULL, &why), 0);
}

static void refusals(void **state)
{
    (void)state;
    char tok[DF_TOKEN_MAX];
    assert_true(df_token_sign(key, TASK, CID, "10.0.0.7", 2000, tok, sizeof(tok)) > 0);
    const char *why = NULL;
    assert_int_equal(df_token_verify(pub, 1, tok, TASK, "10.0.0.7", 2000, NULL, &why), -EACCES);
    assert_string_equal(why, "token expired");
    assert_int_equal(df_token_verify(pub, 1, tok, "aa" TASK, "10.0.0.7", 1, NULL, &why), -EACCES);
    assert_string_equal(why, "token for another task");
    assert_int_equal(df_token_verify(pub, 1, tok, TASK, "10.0.0.8", 1, NULL, &why), -EACCES);
    assert_string_equal(why, "token for another client address");
    assert_int_equal(df_token_verify(pub, 1, "", TASK, NULL, 1, NULL, &why), -EACCES);
    assert_string_equal(why, "no token");
    assert_int_equal(df_token_verify(pub, 1, "abc", TASK, NULL, 1, NULL, &why), -EACCES);
    assert_string_equal(why, "malformed token");
    /* forged: one character of the payload changed (e.g. a longer expiry) */
    char forged[DF_TOKEN_MAX];
    strcpy(forged, tok);
    forged[5] = forged[5] == 'A' ? 'B' : 'A';
    assert_int_equal(df_token_verify(pub, 1, forged, TASK, NULL, 1, NULL, &why), -EACCES);
    assert_true(strcmp(why, "bad signature") == 0 || strcmp(why, "malformed token") == 0);
    /* a token signed by another key (an attacker's own "supernode") */
    struct df_token_key *other = df_token_key_generate();
    assert_non_null(other);
    char tok2[DF_TOKEN_MAX];
    assert_true(df_token_sign(other, TASK, CID, "10.0.0.7", 2000, tok2, sizeof(tok2)) > 0);
    assert_int_equal(df_token_verify(pub, 1, tok2, TASK, NULL, 1, NULL, &why), -EACCES);
    assert_string_equal(why, "bad signature");
    /* ... accepted when the uploader knows both keys (failover to a second supernode) */
    unsigned char two[2][DF_TOKEN_PUB_LEN];
    memcpy(two[0], pub[0], DF_TOKEN_PUB_LEN);
    char b64[DF_TOKEN_PUB_B64_LEN + 1];
    df_token_key_public_b64(other, b64);
    assert_int_equal(df_token_pub_decode(b64, two[1]), 0);
    assert_int_equal(df_token_verify(two, 2, tok2, TASK, NULL, 1, NULL, &why), 0);
    df_token_key_free(other);
    /* fields with the separator are refused at signing */
    assert_int_equal(df_token_sign(key, TASK, "a|b", "ip", 1, tok, sizeof(tok)), -EINVAL);
    assert_int_equal(df_token_pub_decode("short", two[0]), -EINVAL);
}

static void key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_df_token.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], link[256], err[DF_ERR_LEN];
    snprintf(path, sizeof(path), "%s/peer-auth.key", dir);
    snprintf(link, sizeof(link), "%s/link.key", dir);
    struct df_token_key *a = NULL, *b = NULL;
    assert_int_equal(df_token_key_load_or_create(path, &a, err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(df_token_key_load_or_create(path, &b, err), 0); /* same key back */
    char pa[DF_TOKEN_PUB_B64_LEN + 1], pb[DF_TOKEN_PUB_B64_LEN + 1];
    df_token_key_public_b64(a, pa);
    df_token_key_public_b64(b, pb);
    assert_string_equal(pa, pb);
    df_token_key_free(b);
    b = NULL;
    assert_int_equal(symlink(path, link), 0);
    assert_true(df_token_key_load_or_create(link, &b, err) < 0);
    assert_null(b);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(df_token_key_load_or_create(path, &b, err), -EPERM);
    assert_non_null(strstr(err, "readable by others"));
    df_token_key_free(a);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

static void same_ip(void **state)
{
    (void)state;
    assert_true(df_token_same_ip("127.0.0.1", "::ffff:127.0.0.1"));
    assert_true(df_token_same_ip("[::1]", "::1"));
    assert_true(df_token_same_ip("fe80::0:1", "fe80::1"));
    assert_false(df_token_same_ip("127.0.0.1", "127.0.0.2"));
    assert_false(df_token_same_ip("::1", "127.0.0.1"));
    assert_false(df_token_same_ip(NULL, "::1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_token),
        cmocka_unit_test(refusals),
        cmocka_unit_test(key_files),
        cmocka_unit_test(same_ip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
