/* SPDX-License-Identifier: Apache-2.0 */
/* Piece access tokens: Ed25519 over OpenSSL EVP (see df_token.h). */
#include "df_token.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "df_util.h"

#define PAYLOAD_TAG "dft1"
#define SIG_LEN 64
#define KEY_FILE_MAX 4096

struct df_token_key {
    EVP_PKEY *pkey;
};

/* ---- base64url (OpenSSL's base64, alphabet swapped, no padding) ------------------------------ */

static size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    if (outsz < need)
        return 0;
    int k = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    if (k < 0)
        return 0;
    size_t len = (size_t)k;
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = '\0';
    return len;
}

/* Decodes n characters of base64url; returns the byte count or -1. */
static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
    if (n % 4 == 1 || n > 4096)
        return -1;
    char buf[4100];
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return -1;
        buf[i] = c;
    }
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        buf[n + i] = '=';
    size_t m = n + pad;
    if (outsz < m / 4 * 3)
        return -1;
    int k = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)m);
    if (k < 0)
        return -1;
    return (long)k - (long)pad;
}

/* ---- keys ------------------------------------------------------------------------------------- */

struct df_token_key *df_token_key_generate(void)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pk)
        return NULL;
    struct df_token_key *k = df_xcalloc(1, sizeof(*k));
    k->pkey = pk;
    return k;
}

void df_token_key_free(struct df_token_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

static int write_new_key(const char *path, EVP_PKEY *pk, char err[DF_ERR_LEN])
{
    int rc = 0;
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    int fd = -1;
    if (!mem || !PEM_write_bio_PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL)) {
        snprintf(err, DF_ERR_LEN, "cannot encode the peer-auth key");
        rc = DF_EPROTO;
        goto out;
    }
    long len = BIO_get_mem_data(mem, &data);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, DF_ERR_LEN, "cannot create peer-auth key %s: %s", path, strerror(errno));
        goto out;
    }
    if (write(fd, data, (size_t)len) != len || fsync(fd) < 0) {
        rc = -EIO;
        snprintf(err, DF_ERR_LEN, "cannot write peer-auth key %s", path);
        unlink(path);
    }
out:
    if (fd >= 0)
        close(fd);
    BIO_free(mem);
    return rc;
}

int df_token_key_load_or_create(const char *path, struct df_token_key **out, char err[DF_ERR_LEN])
{
    int rc = 0;
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!pk) {
            snprintf(err, DF_ERR_LEN, "cannot generate an Ed25519 key");
            return DF_EPROTO;
        }
        rc = write_new_key(path, pk, err);
        if (rc < 0) {
            EVP_PKEY_free(pk);
            return rc;
        }
        goto done;
    }
    if (fd < 0) {
        rc = -errno;
        snprintf(err, DF_ERR_LEN, "cannot open peer-auth key %s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
        snprintf(err, DF_ERR_LEN, "peer-auth key %s is not a small regular file", path);
        rc = -EINVAL;
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(err, DF_ERR_LEN, "peer-auth key %s is readable by others (mode %03o; want 0600)",
                 path, (unsigned)(st.st_mode & 0777));
        rc = -EPERM;
        goto out;
    }
    char buf[KEY_FILE_MAX + 1];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0) {
        snprintf(err, DF_ERR_LEN, "cannot read peer-auth key %s", path);
        rc = -EIO;
        goto out;
    }
    bio = BIO_new_mem_buf(buf, (int)n);
    pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    OPENSSL_cleanse(buf, sizeof(buf));
    if (!pk || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
        snprintf(err, DF_ERR_LEN, "peer-auth key %s holds no Ed25519 private key (PEM)", path);
        rc = -EINVAL;
        EVP_PKEY_free(pk);
        pk = NULL;
        goto out;
    }
out:
    BIO_free(bio);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        return rc;
done:
    *out = df_xcalloc(1, sizeof(**out));
    (*out)->pkey = pk;
    return 0;
}

void df_token_key_public_b64(const struct df_token_key *k, char out[DF_TOKEN_PUB_B64_LEN + 1])
{
    unsigned char pub[DF_TOKEN_PUB_LEN];
    size_t n = sizeof(pub);
    char buf[4 * ((DF_TOKEN_PUB_LEN + 2) / 3) + 1]; /* EVP_EncodeBlock writes the padding too */
    out[0] = '\0';
    if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &n) == 1 && n == sizeof(pub) &&
        b64url_encode(pub, n, buf, sizeof(buf)) == DF_TOKEN_PUB_B64_LEN)
        memcpy(out, buf, DF_TOKEN_PUB_B64_LEN + 1);
}

int df_token_pub_decode(const char *b64, unsigned char pub[DF_TOKEN_PUB_LEN])
{
    unsigned char buf[48];
    if (!b64 || strlen(b64) != DF_TOKEN_PUB_B64_LEN)
        return -EINVAL;
    long n = b64url_decode(b64, DF_TOKEN_PUB_B64_LEN, buf, sizeof(buf));
    if (n != DF_TOKEN_PUB_LEN)
        return -EINVAL;
    memcpy(pub, buf, DF_TOKEN_PUB_LEN);
    return 0;
}

/* ---- sign / verify ---------------------------------------------------------------------------- */

static int field_ok(const char *s, size_t max)
{
    return s && strlen(s) < max && !strchr(s, '|');
}

int df_token_sign(const struct df_token_key *k, const char *task_id, const char *cid,
                  const char *ip, int64_t expires_unix, char *out, size_t outsz)
{
    struct df_token_claims c;
    if (!k || !field_ok(task_id, sizeof(c.task_id)) || !field_ok(cid, sizeof(c.cid)) ||
        !field_ok(ip, sizeof(c.ip)))
        return -EINVAL;
    char payload[512];
    int plen = snprintf(payload, sizeof(payload), PAYLOAD_TAG "|%s|%s|%s|%lld", task_id, cid, ip,
                        (long long)expires_unix);
    if (plen < 0 || (size_t)plen >= sizeof(payload))
        return -EINVAL;
    unsigned char sig[SIG_LEN];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)payload, (size_t)plen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || siglen != SIG_LEN)
        return DF_EPROTO;
    size_t a = b64url_encode((const unsigned char *)payload, (size_t)plen, out, outsz);
    if (!a || a + 2 >= outsz)
        return -EINVAL;
    out[a] = '.';
    size_t b = b64url_encode(sig, siglen, out + a + 1, outsz - a - 1);
    if (!b)
        return -EINVAL;
    return (int)(a + 1 + b);
}

static int parse_ip(const char *s, unsigned char out[16])
{
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof(buf))
        return -1;
    if (s[0] == '[' && n > 2 && s[n - 1] == ']') {
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, s, n + 1);
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

int df_token_same_ip(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    if (!a || !b)
        return 0;
    if (parse_ip(a, x) < 0 || parse_ip(b, y) < 0)
        return strcmp(a, b) == 0;
    return memcmp(x, y, 16) == 0;
}

int df_token_verify(const unsigned char (*pubs)[DF_TOKEN_PUB_LEN], size_t npub, const char *token,
                    const char *task_id, const char *ip, int64_t now_unix,
                    struct df_token_claims *claims, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!token || !*token) {
        *why = "no token";
        return -EACCES;
    }
    const char *dot = strchr(token, '.');
    size_t tlen = strlen(token);
    if (!dot || tlen >= DF_TOKEN_MAX || strchr(dot + 1, '.')) {
        *why = "malformed token";
        return -EACCES;
    }
    unsigned char payload[512], sig[80];
    long plen = b64url_decode(token, (size_t)(dot - token), payload, sizeof(payload) - 1);
    long slen = b64url_decode(dot + 1, strlen(dot + 1), sig, sizeof(sig));
    if (plen <= 0 || slen != SIG_LEN) {
        *why = "malformed token";
        return -EACCES;
    }
    int is_signed = 0;
    for (size_t i = 0; i < npub && !is_signed; i++) {
        EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pubs[i], DF_TOKEN_PUB_LEN);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        is_signed = pk && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
                    EVP_DigestVerify(ctx, sig, SIG_LEN, payload, (size_t)plen) == 1;
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(pk);
    }
    if (!is_signed) {
        *why = "bad signature";
        return -EACCES;
    }
    payload[plen] = '\0';
    struct df_token_claims c;
    memset(&c, 0, sizeof(c));
    /* Signed by the supernode, so well-formed unless the key is misused; parse strictly anyway. */
    char *f[5];
    char *p = (char *)payload;
    for (int i = 0; i < 5; i++) {
        f[i] = p;
        p = strchr(p, '|');
        if (i < 4) {
            if (!p)
                goto malformed;
            *p++ = '\0';
        } else if (p) {
            goto malformed;
        }
    }
    if (strcmp(f[0], PAYLOAD_TAG) != 0 || strlen(f[1]) >= sizeof(c.task_id) ||
        strlen(f[2]) >= sizeof(c.cid) || strlen(f[3]) >= sizeof(c.ip) ||
        df_parse_i64(f[4], &c.expires_unix) < 0)
        goto malformed;
    memcpy(c.task_id, f[1], strlen(f[1]) + 1);
    memcpy(c.cid, f[2], strlen(f[2]) + 1);
    memcpy(c.ip, f[3], strlen(f[3]) + 1);
    if (!task_id || strcmp(c.task_id, task_id) != 0) {
        *why = "token for another task";
        return -EACCES;
    }
    if (c.expires_unix <= now_unix) {
        *why = "token expired";
        return -EACCES;
    }
    if (ip && !df_token_same_ip(ip, c.ip)) {
        *why = "token for another client address";
        return -EACCES;
    }
    if (claims)
        *claims = c;
    *why = "ok";
    return 0;
malformed:
    *why = "malformed token";
    return -EACCES;
}
