// SPDX-License-Identifier: Apache-2.0
// Ed25519 JWT signing and verification, key files, JWKS, and the verified-token cache.
// Invariant: bx_token_verify accepts a token only when alg is EdDSA, the kid is in the keyring,
// the signature verifies over "header.payload", and now < exp.
#include "boxoffice/auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxoffice/base.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define B64STD sodium_base64_VARIANT_ORIGINAL

static const char *const role_names[] = {"customer", "staff", "admin"};

const char *bx_role_name(enum bx_role r) {
    return (unsigned)r < BX_ARRAY_LEN(role_names) ? role_names[r] : "customer";
}

int bx_role_parse(const char *s, enum bx_role *out) {
    for (size_t i = 0; i < BX_ARRAY_LEN(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum bx_role)i;
            return 0;
        }
    }
    return -1;
}

static int valid_kid(const char *kid) {
    size_t n = strlen(kid);
    if (n == 0 || n >= BX_KID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return 0;
        }
    }
    return 1;
}

static enum bx_err write_file_0600(const char *path, const char *data) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return BX_INTERNAL;
    }
    size_t len = strlen(data);
    ssize_t w = write(fd, data, len);
    int ok = w == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return BX_INTERNAL;
    }
    /* make the rename itself durable: fsync the directory */
    char dir[512];
    bx_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return BX_OK;
}

static int mkdir_p(const char *dir) {
    char buf[512];
    if (bx_strlcpy(buf, dir, sizeof buf) >= sizeof buf) {
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

enum bx_err bx_keyring_generate(const char *dir, struct bx_key *out) {
    if (mkdir_p(dir) != 0) {
        return BX_INTERNAL;
    }
    unsigned char seed[32];
    unsigned char rnd[3];
    bx_random_bytes(seed, sizeof seed);
    bx_random_bytes(rnd, sizeof rnd);
    memset(out, 0, sizeof *out);
    snprintf(out->kid, sizeof out->kid, "k%010llx%02x%02x%02x", (unsigned long long)bx_now_unix_s(),
             rnd[0], rnd[1], rnd[2]);
    crypto_sign_seed_keypair(out->pk, out->sk, seed);
    out->has_secret = true;
    char b64[sodium_base64_ENCODED_LEN(32, B64STD) + 1];
    sodium_bin2base64(b64, sizeof b64, seed, sizeof seed, B64STD);
    sodium_memzero(seed, sizeof seed);
    size_t n = strlen(b64);
    b64[n] = '\n';
    b64[n + 1] = '\0';
    char path[512];
    snprintf(path, sizeof path, "%s/%s.key", dir, out->kid);
    enum bx_err e = write_file_0600(path, b64);
    sodium_memzero(b64, sizeof b64);
    return e;
}

static int read_b64_file(const char *path, unsigned char out[32]) {
    char buf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    size_t bin_len = 0;
    int rc = sodium_base642bin(out, 32, buf, (size_t)n, " \r\n", &bin_len, NULL, B64STD);
    sodium_memzero(buf, sizeof buf);
    return rc == 0 && bin_len == 32 ? 0 : -1;
}

static struct bx_key *slot_for(struct bx_keyring *kr, const char *kid) {
    for (size_t i = 0; i < kr->n_keys; i++) {
        if (strcmp(kr->keys[i].kid, kid) == 0) {
            return &kr->keys[i];
        }
    }
    if (kr->n_keys == BX_KEYRING_KEYS_MAX) {
        return NULL;
    }
    struct bx_key *k = &kr->keys[kr->n_keys++];
    memset(k, 0, sizeof *k);
    bx_strlcpy(k->kid, kid, sizeof k->kid);
    return k;
}

static void pick_signing(struct bx_keyring *kr) {
    kr->signing = kr->n_keys;
    for (size_t i = 0; i < kr->n_keys; i++) {
        if (kr->keys[i].has_secret &&
            (kr->signing == kr->n_keys || strcmp(kr->keys[i].kid, kr->keys[kr->signing].kid) > 0)) {
            kr->signing = i;
        }
    }
    if (kr->signing == kr->n_keys) {
        kr->signing = 0;
    }
}

enum bx_err bx_keyring_load_dir(struct bx_keyring *kr, const char *dir) {
    memset(kr, 0, sizeof *kr);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return BX_NOT_FOUND;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *dot = strrchr(de->d_name, '.');
        if (dot == NULL) {
            continue;
        }
        bool secret = strcmp(dot, ".key") == 0;
        if (!secret && strcmp(dot, ".pub") != 0) {
            continue;
        }
        char kid[BX_KID_MAX];
        size_t kid_len = (size_t)(dot - de->d_name);
        if (kid_len == 0 || kid_len >= sizeof kid) {
            continue;
        }
        memcpy(kid, de->d_name, kid_len);
        kid[kid_len] = '\0';
        if (!valid_kid(kid)) {
            continue;
        }
        char path[768];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unsigned char raw[32];
        if (read_b64_file(path, raw) != 0) {
            continue;
        }
        struct bx_key *k = slot_for(kr, kid);
        if (k == NULL) {
            break;
        }
        if (secret) {
            crypto_sign_seed_keypair(k->pk, k->sk, raw);
            k->has_secret = true;
        } else if (!k->has_secret) {
            memcpy(k->pk, raw, 32);
        }
        sodium_memzero(raw, sizeof raw);
    }
    closedir(d);
    pick_signing(kr);
    return kr->n_keys ? BX_OK : BX_NOT_FOUND;
}

enum bx_err bx_keyring_add_public(struct bx_keyring *kr, const char *kid,
                                  const unsigned char pk[32]) {
    if (!valid_kid(kid)) {
        return BX_INVALID_FIELD;
    }
    if (bx_keyring_find(kr, kid) != NULL) {
        return BX_OK;
    }
    size_t n = atomic_load(&kr->n_keys);
    if (n == BX_KEYRING_KEYS_MAX) {
        return BX_LIMIT_EXCEEDED;
    }
    struct bx_key *k = &kr->keys[n];
    memset(k, 0, sizeof *k);
    bx_strlcpy(k->kid, kid, sizeof k->kid);
    memcpy(k->pk, pk, 32);
    atomic_store(&kr->n_keys, n + 1); /* publish only the complete key */
    return BX_OK;
}

int bx_keyring_add_jwks(struct bx_keyring *kr, const char *jwks, size_t len) {
    json_t *doc = json_loadb(jwks, len, 0, NULL);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        return -1;
    }
    int added = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *crv = json_string_value(json_object_get(k, "crv"));
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *x = json_string_value(json_object_get(k, "x"));
        unsigned char pk[32];
        size_t pk_len = 0;
        if (kty == NULL || strcmp(kty, "OKP") != 0 || crv == NULL || strcmp(crv, "Ed25519") != 0 ||
            kid == NULL || x == NULL || bx_keyring_find(kr, kid) != NULL ||
            bx_base64url_decode(pk, sizeof pk, x, strlen(x), &pk_len) != 0 || pk_len != sizeof pk) {
            continue;
        }
        if (bx_keyring_add_public(kr, kid, pk) == BX_OK) {
            added++;
        }
    }
    json_decref(doc);
    return added;
}

const struct bx_key *bx_keyring_find(const struct bx_keyring *kr, const char *kid) {
    for (size_t i = 0; i < kr->n_keys; i++) {
        if (strcmp(kr->keys[i].kid, kid) == 0) {
            return &kr->keys[i];
        }
    }
    return NULL;
}

enum bx_err bx_keyring_jwks(const struct bx_keyring *kr, char *out, size_t out_size) {
    json_t *keys = json_array();
    for (size_t i = 0; i < kr->n_keys; i++) {
        char x[sodium_base64_ENCODED_LEN(32, B64URL)];
        sodium_bin2base64(x, sizeof x, kr->keys[i].pk, 32, B64URL);
        json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "OKP", "crv",
                                              "Ed25519", "kid", kr->keys[i].kid, "x", x, "alg",
                                              "EdDSA", "use", "sig"));
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    size_t n = json_dumpb(doc, out, out_size, JSON_COMPACT);
    json_decref(doc);
    if (n == 0 || n >= out_size) {
        return BX_INTERNAL;
    }
    out[n] = '\0';
    return BX_OK;
}

static size_t b64url(char *out, size_t out_size, const void *bin, size_t len) {
    if (sodium_base64_ENCODED_LEN(len, B64URL) > out_size) {
        return 0;
    }
    sodium_bin2base64(out, out_size, bin, len, B64URL);
    return strlen(out);
}

enum bx_err bx_token_sign(const struct bx_key *key, const struct bx_claims *c, char *out,
                          size_t out_size) {
    if (key == NULL || !key->has_secret) {
        return BX_INTERNAL;
    }
    char header[128], payload[512];
    int hn = snprintf(header, sizeof header, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                      key->kid);
    json_t *p = json_pack("{s:s,s:s,s:I,s:I,s:s}", "sub", c->sub, "role", bx_role_name(c->role),
                          "iat", (json_int_t)c->iat, "exp", (json_int_t)c->exp, "jti", c->jti);
    if (p == NULL) {
        return BX_INTERNAL;
    }
    size_t pn = json_dumpb(p, payload, sizeof payload, JSON_COMPACT);
    json_decref(p);
    if (hn <= 0 || (size_t)hn >= sizeof header || pn == 0 || pn >= sizeof payload) {
        return BX_INTERNAL;
    }
    size_t len = b64url(out, out_size, header, (size_t)hn);
    if (len == 0 || len + 1 >= out_size) {
        return BX_INTERNAL;
    }
    out[len++] = '.';
    size_t m = b64url(out + len, out_size - len, payload, pn);
    if (m == 0) {
        return BX_INTERNAL;
    }
    len += m;
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)out, len, key->sk);
    if (len + 1 >= out_size) {
        return BX_INTERNAL;
    }
    out[len++] = '.';
    if (b64url(out + len, out_size - len, sig, sizeof sig) == 0) {
        return BX_INTERNAL;
    }
    return BX_OK;
}

static json_t *decode_part(const char *s, size_t len, unsigned char *buf, size_t buf_size) {
    size_t bin_len = 0;
    if (bx_base64url_decode(buf, buf_size - 1, s, len, &bin_len) != 0) {
        return NULL;
    }
    buf[bin_len] = '\0';
    return json_loadb((const char *)buf, bin_len, JSON_REJECT_DUPLICATES, NULL);
}

static enum bx_err reject(const char **why, const char *reason) {
    if (why != NULL) {
        *why = reason;
    }
    return BX_UNAUTHORIZED;
}

enum bx_err bx_token_verify(const struct bx_keyring *kr, const char *token, int64_t now,
                            struct bx_claims *out, const char **why) {
    size_t len = strnlen(token, BX_TOKEN_MAX_BYTES + 1);
    if (len == 0 || len > BX_TOKEN_MAX_BYTES) {
        return reject(why, "token length");
    }
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) {
        return reject(why, "not a compact JWS");
    }
    unsigned char buf[BX_TOKEN_MAX_BYTES];
    json_t *h = decode_part(token, (size_t)(d1 - token), buf, sizeof buf);
    if (h == NULL) {
        return reject(why, "bad header");
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    const struct bx_key *key = NULL;
    enum bx_err e = BX_UNAUTHORIZED;
    const char *reason = NULL;
    if (alg == NULL || strcmp(alg, "EdDSA") != 0) {
        reason = "alg is not EdDSA";
    } else if (kid == NULL || (key = bx_keyring_find(kr, kid)) == NULL) {
        reason = "unknown kid";
    }
    json_decref(h);
    if (reason != NULL) {
        return reject(why, reason);
    }
    unsigned char sig[crypto_sign_BYTES + 1];
    size_t sig_len = 0;
    if (bx_base64url_decode(sig, sizeof sig, d2 + 1, len - (size_t)(d2 + 1 - token), &sig_len) !=
            0 ||
        sig_len != crypto_sign_BYTES) {
        return reject(why, "bad signature encoding");
    }
    if (crypto_sign_verify_detached(sig, (const unsigned char *)token, (size_t)(d2 - token),
                                    key->pk) != 0) {
        return reject(why, "bad signature");
    }
    json_t *p = decode_part(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof buf);
    if (p == NULL) {
        return reject(why, "bad payload");
    }
    const char *sub = json_string_value(json_object_get(p, "sub"));
    const char *role = json_string_value(json_object_get(p, "role"));
    const char *jti = json_string_value(json_object_get(p, "jti"));
    json_t *iat = json_object_get(p, "iat");
    json_t *exp = json_object_get(p, "exp");
    struct bx_claims c;
    memset(&c, 0, sizeof c);
    if (sub == NULL || sub[0] == '\0' || strlen(sub) >= sizeof c.sub || role == NULL ||
        bx_role_parse(role, &c.role) != 0 || jti == NULL || strlen(jti) >= sizeof c.jti ||
        !json_is_integer(iat) || !json_is_integer(exp)) {
        reason = "bad claims";
    } else {
        c.iat = (int64_t)json_integer_value(iat);
        c.exp = (int64_t)json_integer_value(exp);
        bx_strlcpy(c.sub, sub, sizeof c.sub);
        bx_strlcpy(c.jti, jti, sizeof c.jti);
        bx_strlcpy(c.kid, key->kid, sizeof c.kid);
        if (now >= c.exp) {
            reason = "expired";
        } else if (c.iat > now + BX_AUTH_CLOCK_SKEW_S) {
            reason = "issued in the future";
        } else {
            e = BX_OK;
        }
    }
    json_decref(p);
    if (e != BX_OK) {
        return reject(why, reason);
    }
    *out = c;
    return BX_OK;
}

#define CACHE_STRIPES 16

struct cache_slot {
    unsigned char hash[16];
    bool used;
    struct bx_claims claims;
    unsigned char pk[32]; /* the key that verified it: a kid now bound to another key misses */
};

struct bx_token_cache {
    size_t n_slots;
    pthread_mutex_t locks[CACHE_STRIPES];
    struct cache_slot slots[];
};

struct bx_token_cache *bx_token_cache_new(size_t slots) {
    BX_ASSERT(slots > 0 && slots <= (1u << 20));
    struct bx_token_cache *c = calloc(1, sizeof *c + slots * sizeof(struct cache_slot));
    if (c == NULL) {
        return NULL;
    }
    c->n_slots = slots;
    for (size_t i = 0; i < CACHE_STRIPES; i++) {
        pthread_mutex_init(&c->locks[i], NULL);
    }
    return c;
}

void bx_token_cache_free(struct bx_token_cache *c) {
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < CACHE_STRIPES; i++) {
        pthread_mutex_destroy(&c->locks[i]);
    }
    free(c);
}

enum bx_err bx_token_verify_cached(struct bx_token_cache *c, const struct bx_keyring *kr,
                                   const char *token, int64_t now, struct bx_claims *out,
                                   const char **why) {
    if (c == NULL) {
        return bx_token_verify(kr, token, now, out, why);
    }
    unsigned char hash[16];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)token,
                       strnlen(token, BX_TOKEN_MAX_BYTES + 1), NULL, 0);
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    size_t idx = (size_t)(h % c->n_slots);
    pthread_mutex_t *lock = &c->locks[idx % CACHE_STRIPES];
    pthread_mutex_lock(lock);
    struct cache_slot *s = &c->slots[idx];
    if (s->used && memcmp(s->hash, hash, sizeof hash) == 0 && now < s->claims.exp) {
        const struct bx_key *k = bx_keyring_find(kr, s->claims.kid);
        if (k != NULL && memcmp(k->pk, s->pk, sizeof s->pk) == 0) {
            *out = s->claims;
            pthread_mutex_unlock(lock);
            return BX_OK;
        }
    }
    pthread_mutex_unlock(lock);
    enum bx_err e = bx_token_verify(kr, token, now, out, why);
    const struct bx_key *k = e == BX_OK ? bx_keyring_find(kr, out->kid) : NULL;
    if (k != NULL) {
        pthread_mutex_lock(lock);
        memcpy(s->hash, hash, sizeof hash);
        s->claims = *out;
        memcpy(s->pk, k->pk, sizeof s->pk);
        s->used = true;
        pthread_mutex_unlock(lock);
    }
    return e;
}
