/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_redact: secret header names, URL userinfo, header lines and free text (log
 * lines, JSON, form bodies), including truncation to a small output buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "df_log.h"
#include "df_redact.h"
#include "df_util.h"

static void secret_header_names(void **state)
{
    (void)state;
    assert_true(df_redact_is_secret_header("Authorization"));
    assert_true(df_redact_is_secret_header("authorization"));
    assert_true(df_redact_is_secret_header("PROXY-AUTHORIZATION"));
    assert_true(df_redact_is_secret_header("Cookie"));
    assert_true(df_redact_is_secret_header("set-cookie"));
    assert_false(df_redact_is_secret_header("Accept"));
    assert_false(df_redact_is_secret_header("Authorizationx"));
    assert_false(df_redact_is_secret_header(NULL));
    assert_true(df_redact_is_secret_header_line("Authorization: Basic dXNlcjpwYXNz"));
    assert_true(df_redact_is_secret_header_line("cookie : a=b"));
    assert_false(df_redact_is_secret_header_line("Range: bytes=0-1"));
    assert_false(df_redact_is_secret_header_line("X-Authorization-Hint: x"));
}

static void check_url(const char *in, const char *want)
{
    char *got = df_redact_url(in);
    if (strcmp(got, want) != 0)
        fail_msg("df_redact_url(%s) = %s, want %s", in, got, want);
    free(got);
}

static void urls(void **state)
{
    (void)state;
    check_url("http://user:pass@host:8080/p?q=1", "http://***@host:8080/p?q=1");
    check_url("https://tok@h/x", "https://***@h/x");
    check_url("http://host/a@b", "http://host/a@b");    /* '@' in the path is no userinfo */
    check_url("http://host/p?u=a@b", "http://host/p?u=a@b");
    check_url("http://host", "http://host");
    check_url("http://@host/", "http://@host/");         /* empty userinfo: nothing to hide */
    check_url("not a url", "not a url");
    check_url(NULL, "");
    /* quotes, '@' and backslashes are legal in a password: the last '@' ends the userinfo */
    check_url("http://alice:pa'ss@h/f", "http://***@h/f");
    check_url("http://a:p@ss@h:1/f", "http://***@h:1/f");
    check_url("http://a:p\\x<y@h/f", "http://a:p\\x<y@h/f"); /* '<' ends a URL in text */
    /* signed URLs: the signature is the credential */
    check_url("https://b.s3/o?X-Amz-Credential=AK&X-Amz-Signature=abc&x=1",
              "https://b.s3/o?X-Amz-Credential=***&X-Amz-Signature=***&x=1");
    check_url("http://h/f?sig=s&token=t#frag", "http://h/f?sig=***&token=***#frag");
    check_url("http://h/f?signature_version=4", "http://h/f?signature_version=4");
    assert_true(df_redact_url_has_userinfo("http://a:b@h/"));
    assert_false(df_redact_url_has_userinfo("http://h/a@b"));
    assert_false(df_redact_url_has_userinfo(NULL));
}

static void header_lines(void **state)
{
    (void)state;
    char *s = df_redact_header_line("Authorization: Basic dXNlcjpwYXNz");
    assert_string_equal(s, "Authorization: ***");
    free(s);
    s = df_redact_header_line("Accept: */*");
    assert_string_equal(s, "Accept: */*");
    free(s);
}

static void check_text(const char *in, const char *want)
{
    char out[512];
    df_redact_text(in, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("df_redact_text(%s) = %s, want %s", in, out, want);
}

static void free_text(void **state)
{
    (void)state;
    check_text("register url=http://u:p@127.0.0.1/f cdn=RUNNING",
               "register url=http://***@127.0.0.1/f cdn=RUNNING");
    check_text("two http://a:b@x/ and ftp://c@y/z", "two http://***@x/ and ftp://***@y/z");
    check_text("headers: Authorization: Basic abc, Accept: x",
               "headers: Authorization: ***, Accept: x");
    check_text("{\"headers\":{\"Authorization\":\"Basic a\\\"bc\",\"X\":\"y\"}}",
               "{\"headers\":{\"Authorization\":\"***\",\"X\":\"y\"}}");
    check_text("headers=cookie%3Da&cookie=sess1&x=1", "headers=cookie%3Da&cookie=***&x=1");
    check_text("Proxy-Authorization: Bearer t\nnext", "Proxy-Authorization: ***\nnext");
    check_text("authorization check failed", "authorization check failed");
    check_text("MyAuthorization: keep", "MyAuthorization: keep");
    check_text("", "");
    check_text("X-Amz-Security-Token: abc", "X-Amz-Security-Token: ***");
    check_text("url=http://u:p'w@h/x?a=1&sig=zz end", "url=http://***@h/x?a=1&sig=*** end");
    /* truncation keeps the output a valid C string and never leaks a partial secret */
    char small[16];
    size_t n = df_redact_text("http://user:secret@h/", small, sizeof(small));
    assert_int_equal(n, strlen(small));
    assert_null(strstr(small, "secret"));
    assert_int_equal(df_redact_text("x", small, 0), 0);
}

/* A log message longer than a log line, with the password right where the line is cut: the
 * whole message is redacted before the cut. */
/* Found by tests/fuzz/fuzz_redact: a ',' or '&' inside the userinfo of a URL that sits in a
 * secret header value (or a secret query value) ended the value there, and the rest of the
 * password was copied out. */
static void url_inside_secret_value(void **state)
{
    (void)state;
    check_text("Cookie: s=1; origin=https://bob:pa,ss@h/x", "Cookie: ***");
    check_text("X-Auth-Token: t https://u:p&q@h/ end", "X-Auth-Token: ***");
    check_text("Cookie: https://u:p@h/, Accept: x", "Cookie: ***, Accept: x");
    check_text("a?token=x://u:p&w@h/&b=1", "a?token=***&b=1");
    /* a secret header name as a URL scheme: the ':' belongs to "://", not to a header */
    check_text("cookie://u,v:pw@h/", "cookie://***@h/");
}

static void log_lines(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_df_redact.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = df_path_join(dir, "log");
    assert_int_equal(df_log_open_file(path), 0);
    char pw[2200];
    memset(pw, 'P', sizeof(pw) - 1);
    pw[sizeof(pw) - 1] = '\0';
    df_log_write(DF_LOG_INFO, "test", "fetching http://alice:%s@host/f now", pw);
    df_log_write(DF_LOG_INFO, "test", "header Authorization: Basic c2VjcmV0");
    df_log_close();
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(df_read_file(path, 1 << 20, &text, &len), 0);
    assert_null(strstr(text, "PPPP"));
    assert_null(strstr(text, "c2VjcmV0"));
    assert_non_null(strstr(text, "http://***@host/f now"));
    free(text);
    unlink(path);
    free(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secret_header_names),
        cmocka_unit_test(urls),
        cmocka_unit_test(header_lines),
        cmocka_unit_test(free_text),
        cmocka_unit_test(url_inside_secret_value),
        cmocka_unit_test(log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
