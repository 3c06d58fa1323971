// SPDX-License-Identifier: Apache-2.0
// Tests for backends/aws/credentials.c: the STS AssumeRoleWithWebIdentity response parser (AWS's
// documented example, entities, malformed, truncated and oversized documents), RFC 3339 times, the
// chain's choice (static keys win; a web identity needs both variables; otherwise an error naming
// them), and the web identity's cache and refresh through an injected STS transport (no network,
// no server): the form sent, caching, refresh near expiry with the token file read again, bounded
// retries, held-off failures, one refresh for many threads. No message may carry a secret.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "boxoffice/base.h"

#define WHY_BYTES     192
#define DOC_MAX_BYTES (BX_AWS_STS_RESPONSE_MAX_BYTES + 2)
#define FORM_MAX_BYTES                                                                             \
    (3 * (BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES + BX_AWS_ROLE_ARN_MAX_BYTES) + 1024)
#define SCRIPT_MAX  8
#define THREADS     8
#define SECRET_MARK "SECRETMARK" /* in every secret value: no message may contain it */

#define ROLE_ARN      "arn:aws:iam::123456789012:role/boxoffice-users"
#define ROLE_ARN_FORM "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fboxoffice-users"
/* a JWT-shaped token with the characters form encoding must escape */
#define TOKEN_1      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTRUNSRVRNQVJLIn0.c2ln+/="
#define TOKEN_1_FORM "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTRUNSRVRNQVJLIn0.c2ln%2B%2F%3D"
#define TOKEN_2      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2ln"

/* ---- The response documents ---- */

/* The example response of AssumeRoleWithWebIdentity in the STS API Reference. */
static const char aws_example[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A"
    "</SubjectFromWebIdentityToken>\n"
    "    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>\n"
    "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
    "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
    "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n"
    "    <SourceIdentity>SourceIdentityValue</SourceIdentity>\n"
    "    <Provider>www.amazon.com</Provider>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</AssumeRoleWithWebIdentityResponse>";
#define AWS_EXAMPLE_EXPIRES 1414191623 /* 2014-10-24T23:00:23Z */

/* An STS error document, as STS sends it with a 4xx. */
static const char sts_access_denied[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <Error>\n"
    "    <Type>Sender</Type>\n"
    "    <Code>AccessDenied</Code>\n"
    "    <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>\n"
    "  </Error>\n"
    "  <RequestId>c5a3c1a4-5f5a-4c5e-9f0e-EXAMPLE</RequestId>\n"
    "</ErrorResponse>\n";

#define AK "<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>"
#define SK "<SecretAccessKey>" SECRET_MARK "wJalrXUtnFEMI/K7MDENG</SecretAccessKey>"
#define ST "<SessionToken>" SECRET_MARK "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5</SessionToken>"
#define EX "<Expiration>2014-10-24T23:00:23Z</Expiration>"

/* A whole response around the inside of <Credentials>. (BX_ASSERT, not cmocka's asserts: the
 * STS stand-in calls it on other threads.) */
static size_t doc_with(char *out, size_t size, const char *credentials) {
    int n = snprintf(out, size,
                     "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/"
                     "2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials>%s"
                     "</Credentials></AssumeRoleWithWebIdentityResult>"
                     "</AssumeRoleWithWebIdentityResponse>",
                     credentials);
    BX_ASSERT(n > 0 && (size_t)n < size);
    return (size_t)n;
}

static void assert_contains(const char *hay, const char *needle) {
    if (strstr(hay, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
    }
}

static void assert_wiped(const struct bx_aws_credentials *c) {
    assert_int_equal(c->access_key[0], 0);
    assert_int_equal(c->secret_key[0], 0);
    assert_int_equal(c->session_token[0], 0);
    assert_int_equal(c->expires_unix_s, 0);
}

/* Parses doc[0, len) from a buffer of exactly len bytes (so ASan sees any read past it). */
static enum bx_err parse_exact(const char *doc, size_t len, struct bx_aws_credentials *out,
                               char *why) {
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, doc, len);
    enum bx_err e = bx_aws_sts_parse(copy, len, out, why, WHY_BYTES);
    free(copy);
    return e;
}

static void expect_refused(const char *what, const char *doc, size_t len) {
    struct bx_aws_credentials c;
    memset(&c, 0x5a, sizeof c);
    char why[WHY_BYTES];
    enum bx_err e = parse_exact(doc, len, &c, why);
    if (e != BX_UNAVAILABLE) {
        fail_msg("%s: got %s, want unavailable", what, bx_err_name(e));
    }
    assert_true(why[0] != '\0');
    if (strstr(why, SECRET_MARK) != NULL) {
        fail_msg("%s: the reason shows a secret: %s", what, why);
    }
    assert_wiped(&c);
}

static void expect_refused_credentials(const char *what, const char *credentials) {
    static char doc[DOC_MAX_BYTES];
    size_t n = doc_with(doc, sizeof doc, credentials);
    expect_refused(what, doc, n);
}

static void test_parse_aws_example(void **state) {
    (void)state;
    struct bx_aws_credentials c;
    char why[WHY_BYTES];
    assert_int_equal(parse_exact(aws_example, strlen(aws_example), &c, why), BX_OK);
    assert_string_equal(c.access_key, "ASgeIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    assert_string_equal(c.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
    assert_int_equal(c.expires_unix_s, AWS_EXAMPLE_EXPIRES);
    /* a trailing newline after the root is fine */
    char doc[sizeof aws_example + 1];
    snprintf(doc, sizeof doc, "%s\n", aws_example);
    assert_int_equal(parse_exact(doc, strlen(doc), &c, why), BX_OK);
    bx_aws_credentials_wipe(&c);
    assert_wiped(&c);
}

static void test_parse_entities(void **state) {
    (void)state;
    char doc[DOC_MAX_BYTES];
    size_t n = doc_with(doc, sizeof doc,
                        "<AccessKeyId>ASIA&#65;&#x42;CDEFGHIJKLMN</AccessKeyId>"
                        "<SecretAccessKey>a&#x2f;b&#43;c&amp;d</SecretAccessKey>"
                        "<SessionToken>AQo&amp;B&#43;C&#x2F;D&lt;&gt;&quot;&apos;=</SessionToken>"
                        "<Expiration>2024-02-29T14:34:56.789+02:00</Expiration>");
    struct bx_aws_credentials c;
    char why[WHY_BYTES];
    if (parse_exact(doc, n, &c, why) != BX_OK) {
        fail_msg("refused: %s", why);
    }
    assert_string_equal(c.access_key, "ASIAABCDEFGHIJKLMN");
    assert_string_equal(c.secret_key, "a/b+c&d");
    assert_string_equal(c.session_token, "AQo&B+C/D<>\"'=");
    assert_int_equal(c.expires_unix_s, 1709210096); /* 2024-02-29T12:34:56Z */
}

static void test_parse_refuses_malformed(void **state) {
    (void)state;
    static const struct {
        const char *what, *doc;
    } docs[] = {
        {"empty", ""},
        {"not XML", "not xml at all"},
        {"an STS error document", sts_access_denied},
        {"JSON", "{\"Credentials\":{\"AccessKeyId\":\"ASIAIOSFODNN7EXAMPLE\"}}"},
        {"another root",
         "<AssumeRoleResponse><AssumeRoleWithWebIdentityResult><Credentials>" AK SK ST EX
         "</Credentials></AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleResponse>"},
        {"a root whose name only starts right",
         "<AssumeRoleWithWebIdentityResponseX><AssumeRoleWithWebIdentityResult><Credentials>" AK SK
             ST EX "</Credentials></AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleWithWebIdentityResponseX>"},
        {"no result", "<AssumeRoleWithWebIdentityResponse><Credentials>" AK SK ST EX
                      "</Credentials></AssumeRoleWithWebIdentityResponse>"},
        {"credentials outside the result",
         "<AssumeRoleWithWebIdentityResponse><Credentials>" AK SK ST EX
         "</Credentials><AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleWithWebIdentityResponse>"},
        {"two results",
         "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>" AK SK
             ST EX "</Credentials></AssumeRoleWithWebIdentityResult>"
         "<AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleWithWebIdentityResponse>"},
        {"no credentials",
         "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"},
        {"two credentials",
         "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>" AK SK
             ST EX "</Credentials><Credentials>" AK SK ST EX
         "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"},
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(docs); i++) {
        expect_refused(docs[i].what, docs[i].doc, strlen(docs[i].doc));
    }
    static const struct {
        const char *what, *credentials;
    } creds[] = {
        {"no AccessKeyId", SK ST EX},
        {"no SecretAccessKey", AK ST EX},
        {"no SessionToken", AK SK EX},
        {"no Expiration", AK SK ST},
        {"a self-closing SessionToken", AK SK "<SessionToken/>" EX},
        {"an unclosed SessionToken", AK SK EX "<SessionToken>" SECRET_MARK "AQoDYXdz"},
        {"AccessKeyId twice", AK SK ST EX AK},
        {"SecretAccessKey twice", AK SK ST SK EX},
        {"markup inside a value",
         AK "<SecretAccessKey>" SECRET_MARK "<b>x</b></SecretAccessKey>" ST EX},
        {"CDATA", AK SK "<SessionToken><![CDATA[" SECRET_MARK "]]></SessionToken>" EX},
        {"an attribute on a value",
         AK SK "<SessionToken a=\"1\">" SECRET_MARK "</SessionToken>" EX},
        {"an unknown entity", AK "<SecretAccessKey>" SECRET_MARK "&nbsp;x</SecretAccessKey>" ST EX},
        {"an unterminated entity",
         AK "<SecretAccessKey>" SECRET_MARK "&amp</SecretAccessKey>" ST EX},
        {"an entity of a newline",
         AK "<SecretAccessKey>" SECRET_MARK "&#10;</SecretAccessKey>" ST EX},
        {"an entity of a space",
         AK "<SecretAccessKey>" SECRET_MARK "&#x20;</SecretAccessKey>" ST EX},
        {"an entity of a non-ASCII letter",
         AK "<SecretAccessKey>" SECRET_MARK "&#233;</SecretAccessKey>" ST EX},
        {"an entity of NUL", AK "<SecretAccessKey>" SECRET_MARK "&#0;</SecretAccessKey>" ST EX},
        {"an entity without digits",
         AK "<SecretAccessKey>" SECRET_MARK "&#;</SecretAccessKey>" ST EX},
        {"a hex entity without digits",
         AK "<SecretAccessKey>" SECRET_MARK "&#x;</SecretAccessKey>" ST EX},
        {"a huge entity",
         AK "<SecretAccessKey>" SECRET_MARK "&#99999999999;</SecretAccessKey>" ST EX},
        {"a value with a space", AK "<SecretAccessKey>" SECRET_MARK " x</SecretAccessKey>" ST EX},
        {"a value with a raw non-ASCII byte",
         AK "<SecretAccessKey>" SECRET_MARK "\xc3\xa9</SecretAccessKey>" ST EX},
        {"an empty secret", AK "<SecretAccessKey></SecretAccessKey>" ST EX},
        {"an empty token", AK SK "<SessionToken></SessionToken>" EX},
        {"a short access key", "<AccessKeyId>ASIA</AccessKeyId>" SK ST EX},
        {"a long access key",
         "<AccessKeyId>ASIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</AccessKeyId>" SK ST EX},
        {"a date with a space", AK SK ST "<Expiration>2014-10-24 23:00:23Z</Expiration>"},
        {"a date without a zone", AK SK ST "<Expiration>2014-10-24T23:00:23</Expiration>"},
        {"month 13", AK SK ST "<Expiration>2014-13-24T23:00:23Z</Expiration>"},
        {"29 February 2015", AK SK ST "<Expiration>2015-02-29T00:00:00Z</Expiration>"},
        {"hour 24", AK SK ST "<Expiration>2014-10-24T24:00:00Z</Expiration>"},
        {"before 1970", AK SK ST "<Expiration>1969-12-31T23:59:59Z</Expiration>"},
        {"the epoch itself", AK SK ST "<Expiration>1970-01-01T00:00:00Z</Expiration>"},
        {"an empty fraction", AK SK ST "<Expiration>2014-10-24T23:00:23.Z</Expiration>"},
        {"an offset without a colon", AK SK ST "<Expiration>2014-10-24T23:00:23+0200</Expiration>"},
        {"words", AK SK ST "<Expiration>tomorrow</Expiration>"},
        {"an empty date", AK SK ST "<Expiration></Expiration>"},
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(creds); i++) {
        expect_refused_credentials(creds[i].what, creds[i].credentials);
    }
    /* a NUL byte inside an otherwise good document */
    char doc[DOC_MAX_BYTES];
    size_t n = doc_with(doc, sizeof doc, AK SK ST EX);
    char *nul = strstr(doc, SECRET_MARK);
    *nul = '\0';
    expect_refused("a NUL byte", doc, n);
}

/* Every prefix of a good response is refused: none is read as far as it goes. */
static void test_parse_refuses_truncated(void **state) {
    (void)state;
    size_t len = strlen(aws_example);
    for (size_t n = 0; n < len; n++) {
        char what[48];
        snprintf(what, sizeof what, "the first %zu of %zu bytes", n, len);
        expect_refused(what, aws_example, n);
    }
    struct bx_aws_credentials c;
    char why[WHY_BYTES];
    assert_int_equal(parse_exact(aws_example, len, &c, why), BX_OK);
}

static void test_parse_limits(void **state) {
    (void)state;
    static char doc[DOC_MAX_BYTES];
    static char credentials[5 * BX_AWS_SESSION_TOKEN_MAX_BYTES + 256];
    struct bx_aws_credentials c;
    char why[WHY_BYTES];

    /* a document of exactly the limit is read; one byte more is refused unread */
    size_t n = doc_with(doc, sizeof doc, AK SK ST EX);
    memset(doc + n, ' ', BX_AWS_STS_RESPONSE_MAX_BYTES - n);
    assert_int_equal(parse_exact(doc, BX_AWS_STS_RESPONSE_MAX_BYTES, &c, why), BX_OK);
    doc[BX_AWS_STS_RESPONSE_MAX_BYTES] = ' ';
    expect_refused("one byte over the limit", doc, BX_AWS_STS_RESPONSE_MAX_BYTES + 1);
    assert_int_equal(bx_aws_sts_parse(doc, BX_AWS_STS_RESPONSE_MAX_BYTES + 1, &c, why, sizeof why),
                     BX_UNAVAILABLE);
    assert_contains(why, "larger");

    /* the longest session token, and one byte more */
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t pos = (size_t)snprintf(credentials, sizeof credentials, AK SK "<SessionToken>");
        memset(credentials + pos, 'A', BX_AWS_SESSION_TOKEN_MAX_BYTES + extra);
        pos += BX_AWS_SESSION_TOKEN_MAX_BYTES + extra;
        snprintf(credentials + pos, sizeof credentials - pos, "</SessionToken>" EX);
        n = doc_with(doc, sizeof doc, credentials);
        if (extra == 0) {
            assert_int_equal(parse_exact(doc, n, &c, why), BX_OK);
            assert_int_equal(strlen(c.session_token), BX_AWS_SESSION_TOKEN_MAX_BYTES);
        } else {
            expect_refused("a session token one byte too long", doc, n);
        }
    }
    /* the limit is on the value, not its text: the longest token written all in entities (five
     * times as long) fits, and one entity more does not */
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t pos = (size_t)snprintf(credentials, sizeof credentials, AK SK "<SessionToken>");
        for (size_t i = 0; i < BX_AWS_SESSION_TOKEN_MAX_BYTES + extra; i++) {
            memcpy(credentials + pos, "&amp;", 5);
            pos += 5;
        }
        snprintf(credentials + pos, sizeof credentials - pos, "</SessionToken>" EX);
        n = doc_with(doc, sizeof doc, credentials);
        if (extra == 0) {
            assert_int_equal(parse_exact(doc, n, &c, why), BX_OK);
            assert_int_equal(strlen(c.session_token), BX_AWS_SESSION_TOKEN_MAX_BYTES);
            assert_int_equal(c.session_token[0], '&');
        } else {
            expect_refused("a session token of entities one too long", doc, n);
        }
    }
}

static void test_rfc3339(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int64_t want; /* -1: refused */
    } cases[] = {
        {"2014-10-24T23:00:23Z", 1414191623},
        {"2014-10-24t23:00:23z", 1414191623},
        {"2014-10-24T23:00:23.123456789Z", 1414191623},
        {"2019-11-09T13:34:41+02:00", 1573299281},
        {"2019-11-09T11:34:41-00:00", 1573299281},
        {"2000-02-29T00:00:00Z", 951782400},
        {"1970-01-01T00:00:01Z", 1},
        {"9999-12-31T23:59:59Z", 253402300799},
        {"2100-02-29T00:00:00Z", -1},
        {"2014-10-24T23:00:23+24:00", -1},
        {"2014-10-24T23:60:00Z", -1},
        {"2014-00-10T00:00:00Z", -1},
        {"2014-10-00T00:00:00Z", -1},
        {"2014-04-31T00:00:00Z", -1},
        {"2014-10-24T23:00:23ZZ", -1},
        {"2014-10-24T23:00:23+02:00x", -1},
        {"+014-10-24T23:00:23Z", -1},
        {"2014-10-24T23:00", -1},
        {"", -1},
    };
    for (size_t i = 0; i < BX_ARRAY_LEN(cases); i++) {
        int64_t t = 42;
        bool ok = bx_aws_rfc3339_to_unix_s(cases[i].s, strlen(cases[i].s), &t);
        if (ok != (cases[i].want >= 0) || (ok && t != cases[i].want)) {
            fail_msg("%s: got %s %lld, want %lld", cases[i].s, ok ? "ok" : "refused", (long long)t,
                     (long long)cases[i].want);
        }
    }
}

/* ---- The chain ---- */

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_STS_ENDPOINT",  "AWS_REGION",
    "AWS_DEFAULT_REGION",
};

/* One scripted STS answer. */
struct answer {
    enum { ANSWER_KEYS, ANSWER_DOC, ANSWER_NO_CONNECTION, ANSWER_TOO_LARGE } kind;
    long status;          /* ANSWER_DOC */
    const char *doc;      /* ANSWER_DOC */
    int64_t expires_in_s; /* ANSWER_KEYS: keys numbered by the call */
    useconds_t delay_us;
};

/* The STS stand-in: answers from a script (its last entry repeats) and records what it got. */
struct fake_sts {
    pthread_mutex_t lock;
    struct answer script[SCRIPT_MAX];
    size_t n_script;
    unsigned calls;
    char url[BX_AWS_STS_URL_MAX_BYTES + 1];
    char form[FORM_MAX_BYTES];
    int64_t last_timeout_ms;
};

static struct fake_sts sts = {.lock = PTHREAD_MUTEX_INITIALIZER};

static enum bx_err fake_post(void *arg, const char *url, const char *form, size_t form_len,
                             int64_t timeout_ms, char *body, size_t body_cap, size_t *body_len_out,
                             long *status_out, char *why, size_t why_size) {
    struct fake_sts *f = arg;
    pthread_mutex_lock(&f->lock);
    unsigned call = ++f->calls;
    struct answer a = f->script[f->n_script == 0         ? 0
                                : call - 1 < f->n_script ? call - 1
                                                         : f->n_script - 1];
    bx_strlcpy(f->url, url, sizeof f->url);
    BX_ASSERT(form_len < sizeof f->form && strlen(form) == form_len);
    memcpy(f->form, form, form_len + 1);
    f->last_timeout_ms = timeout_ms;
    pthread_mutex_unlock(&f->lock);
    if (a.delay_us > 0) {
        usleep(a.delay_us);
    }
    *body_len_out = 0;
    *status_out = 0;
    if (a.kind == ANSWER_NO_CONNECTION) {
        snprintf(why, why_size, "Couldn't connect to server");
        return BX_UNAVAILABLE;
    }
    if (a.kind == ANSWER_TOO_LARGE) {
        return BX_PAYLOAD_TOO_LARGE;
    }
    int n;
    if (a.kind == ANSWER_DOC) {
        n = snprintf(body, body_cap, "%s", a.doc);
        *status_out = a.status;
    } else {
        char expiration[32];
        time_t t = (time_t)(time(NULL) + a.expires_in_s);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(expiration, sizeof expiration, "%Y-%m-%dT%H:%M:%SZ", &tm);
        char credentials[512];
        snprintf(credentials, sizeof credentials,
                 "<SessionToken>" SECRET_MARK "token-%u</SessionToken>"
                 "<SecretAccessKey>" SECRET_MARK "secret-%u</SecretAccessKey>"
                 "<Expiration>%s</Expiration><AccessKeyId>ASIAFAKEKEY%09u</AccessKeyId>",
                 call, call, expiration, call);
        n = (int)doc_with(body, body_cap, credentials);
        *status_out = 200;
    }
    BX_ASSERT(n >= 0 && (size_t)n < body_cap);
    *body_len_out = (size_t)n;
    return BX_OK;
}

static void script(const struct answer *answers, size_t n) {
    pthread_mutex_lock(&sts.lock);
    BX_ASSERT(n <= SCRIPT_MAX);
    memcpy(sts.script, answers, n * sizeof answers[0]);
    sts.n_script = n;
    sts.calls = 0;
    pthread_mutex_unlock(&sts.lock);
}

static unsigned sts_calls(void) {
    pthread_mutex_lock(&sts.lock);
    unsigned n = sts.calls;
    pthread_mutex_unlock(&sts.lock);
    return n;
}

struct fixture {
    char dir[64];
    char token_file[128];
};

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    bx_strlcpy(f->dir, "/tmp/bx-test-aws-XXXXXX", sizeof f->dir);
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->token_file, sizeof f->token_file, "%s/token", f->dir);
    write_file(f->token_file, TOKEN_1 "\n"); /* kubelet's file ends without one; ours may not */
    for (size_t i = 0; i < BX_ARRAY_LEN(aws_vars); i++) {
        unsetenv(aws_vars[i]);
    }
    bx_aws_credentials_forget();
    bx_aws_sts_set_transport(fake_post, &sts);
    static const struct answer keys = {.kind = ANSWER_KEYS, .expires_in_s = 3600};
    script(&keys, 1);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    unlink(f->token_file);
    rmdir(f->dir);
    for (size_t i = 0; i < BX_ARRAY_LEN(aws_vars); i++) {
        unsetenv(aws_vars[i]);
    }
    bx_aws_credentials_forget();
    bx_aws_sts_set_transport(NULL, NULL);
    free(f);
    return 0;
}

static void set_web_identity(const struct fixture *f) {
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", f->token_file, 1);
    setenv("AWS_REGION", "eu-west-1", 1);
}

/* init fails with BX_UNAVAILABLE and a message naming every one of names. */
static void expect_init_error(const char *region, const char *const *names, size_t n_names) {
    struct bx_aws_provider p;
    struct bx_error err = {0};
    enum bx_err e = bx_aws_provider_init(&p, region, &err);
    if (e != BX_UNAVAILABLE) {
        fail_msg("init: got %s, want unavailable", bx_err_name(e));
    }
    assert_int_equal(err.code, BX_UNAVAILABLE);
    for (size_t i = 0; i < n_names; i++) {
        assert_contains(err.message, names[i]);
    }
    assert_int_equal(p.source, BX_AWS_SOURCE_NONE);
}

static void test_chain_static_wins(void **state) {
    struct fixture *f = *state;
    set_web_identity(f);
    setenv("AWS_ACCESS_KEY_ID", "AKIDSTATIC", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "static-secret", 1);
    struct bx_aws_provider p;
    struct bx_error err = {0};
    assert_int_equal(bx_aws_provider_init(&p, "us-east-1", &err), BX_OK);
    assert_int_equal(p.source, BX_AWS_SOURCE_STATIC);
    struct bx_aws_credentials c;
    assert_int_equal(bx_aws_provider_get(&p, &c, &err), BX_OK);
    assert_string_equal(c.access_key, "AKIDSTATIC");
    assert_string_equal(c.secret_key, "static-secret");
    assert_string_equal(c.session_token, "");
    assert_int_equal(c.expires_unix_s, 0);
    /* the keys are those of the open: the environment is not read again */
    setenv("AWS_SECRET_ACCESS_KEY", "changed", 1);
    assert_int_equal(bx_aws_provider_get(&p, &c, &err), BX_OK);
    assert_string_equal(c.secret_key, "static-secret");
    bx_aws_provider_fini(&p);

    /* with a session token */
    setenv("AWS_SESSION_TOKEN", "bx-test-session-token/+=", 1);
    assert_int_equal(bx_aws_provider_init(&p, "us-east-1", &err), BX_OK);
    assert_int_equal(bx_aws_provider_get(&p, &c, &err), BX_OK);
    assert_string_equal(c.session_token, "bx-test-session-token/+=");
    assert_int_equal(sts_calls(), 0); /* static keys never go near STS */
    bx_aws_provider_fini(&p);
    assert_int_equal(p.source, BX_AWS_SOURCE_NONE);
    assert_int_equal(p.fixed.secret_key[0], 0);

    /* a value with a line break would split the request's headers */
    setenv("AWS_SESSION_TOKEN", "two\r\nlines", 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_SESSION_TOKEN"}, 1);
}

static void test_chain_static_needs_both(void **state) {
    struct fixture *f = *state;
    set_web_identity(f); /* half a static pair is an error, not a reason to try IRSA */
    setenv("AWS_ACCESS_KEY_ID", "AKIDSTATIC", 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_SECRET_ACCESS_KEY"}, 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "static-secret", 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_ACCESS_KEY_ID"}, 1);
    /* an empty variable counts as unset */
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_ACCESS_KEY_ID"}, 1);
}

static void test_chain_web_identity_needs_both(void **state) {
    struct fixture *f = *state;
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_WEB_IDENTITY_TOKEN_FILE"}, 1);
    unsetenv("AWS_ROLE_ARN");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", f->token_file, 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_ROLE_ARN"}, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    struct bx_aws_provider p;
    struct bx_error err = {0};
    assert_int_equal(bx_aws_provider_init(&p, "us-east-1", &err), BX_OK);
    assert_int_equal(p.source, BX_AWS_SOURCE_WEB_IDENTITY);
    assert_int_equal(sts_calls(), 0); /* init does not call STS */
}

static void test_chain_nothing(void **state) {
    (void)state;
    expect_init_error("us-east-1",
                      (const char *const[]){"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"},
                      4);
    /* a session token alone is not credentials */
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    expect_init_error("us-east-1", (const char *const[]){"AWS_ACCESS_KEY_ID"}, 1);
}

static void expect_sts_url(const char *region, const char *want) {
    struct bx_aws_provider p;
    struct bx_error err = {0};
    if (bx_aws_provider_init(&p, region, &err) != BX_OK) {
        fail_msg("init: %s", err.message);
    }
    assert_string_equal(p.sts_url, want);
}

static void test_web_identity_settings(void **state) {
    struct fixture *f = *state;
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", f->token_file, 1);
    /* STS's region: AWS_REGION, then AWS_DEFAULT_REGION, then the store's */
    expect_sts_url("us-east-2", "https://sts.us-east-2.amazonaws.com/");
    expect_sts_url("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn/");
    setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
    expect_sts_url("us-east-2", "https://sts.eu-central-1.amazonaws.com/");
    setenv("AWS_REGION", "eu-west-1", 1);
    expect_sts_url("us-east-2", "https://sts.eu-west-1.amazonaws.com/");
    setenv("AWS_STS_ENDPOINT", "https://sts.example.internal:8443/sts", 1);
    expect_sts_url("us-east-2", "https://sts.example.internal:8443/sts");

    /* the session name: boxoffice-<pid> unless given */
    struct bx_aws_provider p;
    struct bx_error err = {0};
    char want[32];
    snprintf(want, sizeof want, "boxoffice-%ld", (long)getpid());
    assert_int_equal(bx_aws_provider_init(&p, "us-east-2", &err), BX_OK);
    assert_string_equal(p.session_name, want);
    setenv("AWS_ROLE_SESSION_NAME", "users-7d9f@pod.1", 1);
    assert_int_equal(bx_aws_provider_init(&p, "us-east-2", &err), BX_OK);
    assert_string_equal(p.session_name, "users-7d9f@pod.1");

    /* malformed settings are refused at init, each by name */
    setenv("AWS_ROLE_SESSION_NAME", "has space", 1);
    expect_init_error("us-east-2", (const char *const[]){"AWS_ROLE_SESSION_NAME"}, 1);
    unsetenv("AWS_ROLE_SESSION_NAME");
    setenv("AWS_STS_ENDPOINT", "ftp://sts.example", 1);
    expect_init_error("us-east-2", (const char *const[]){"AWS_STS_ENDPOINT"}, 1);
    setenv("AWS_STS_ENDPOINT", "https://sts.example/?x=1", 1);
    expect_init_error("us-east-2", (const char *const[]){"AWS_STS_ENDPOINT"}, 1);
    unsetenv("AWS_STS_ENDPOINT");
    setenv("AWS_REGION", "eu west 1", 1);
    expect_init_error("us-east-2", (const char *const[]){"AWS_REGION"}, 1);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    expect_init_error(NULL, (const char *const[]){"AWS_REGION"}, 1);
    setenv("AWS_ROLE_ARN", "not-an-arn-but-long-enough", 1);
    expect_init_error("us-east-2", (const char *const[]){"AWS_ROLE_ARN"}, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/bx-token", 1);
    expect_init_error("us-east-2",
                      (const char *const[]){"AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/bx-token"},
                      2);
}

/* ---- The web identity through the stand-in ---- */

static void init_web_identity(const struct fixture *f, struct bx_aws_provider *p) {
    set_web_identity(f);
    struct bx_error err = {0};
    if (bx_aws_provider_init(p, "us-east-1", &err) != BX_OK) {
        fail_msg("init: %s", err.message);
    }
}

static void expect_keys(const struct bx_aws_provider *p, unsigned numbered) {
    struct bx_aws_credentials c;
    struct bx_error err = {0};
    if (bx_aws_provider_get(p, &c, &err) != BX_OK) {
        fail_msg("get: %s", err.message);
    }
    char want[32];
    snprintf(want, sizeof want, "ASIAFAKEKEY%09u", numbered);
    assert_string_equal(c.access_key, want);
    snprintf(want, sizeof want, SECRET_MARK "secret-%u", numbered);
    assert_string_equal(c.secret_key, want);
    snprintf(want, sizeof want, SECRET_MARK "token-%u", numbered);
    assert_string_equal(c.session_token, want);
    assert_true(c.expires_unix_s > time(NULL));
    bx_aws_credentials_wipe(&c);
}

/* get fails with BX_UNAVAILABLE and a message with every one of words and no secret. */
static void expect_get_error(const struct bx_aws_provider *p, const char *const *words,
                             size_t n_words) {
    struct bx_aws_credentials c;
    memset(&c, 0x5a, sizeof c);
    struct bx_error err = {0};
    enum bx_err e = bx_aws_provider_get(p, &c, &err);
    if (e != BX_UNAVAILABLE) {
        fail_msg("get: got %s, want unavailable", bx_err_name(e));
    }
    for (size_t i = 0; i < n_words; i++) {
        assert_contains(err.message, words[i]);
    }
    if (strstr(err.message, SECRET_MARK) != NULL || strstr(err.message, "eyJ") != NULL) {
        fail_msg("the message shows a secret or the token: %s", err.message);
    }
    assert_wiped(&c);
}

static void test_web_identity_fetch_and_cache(void **state) {
    struct fixture *f = *state;
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    expect_keys(&p, 1);
    assert_int_equal(sts_calls(), 1);
    assert_string_equal(sts.url, "https://sts.eu-west-1.amazonaws.com/");
    char want[1024];
    snprintf(want, sizeof want,
             "Action=AssumeRoleWithWebIdentity&DurationSeconds=3600&RoleArn=%s"
             "&RoleSessionName=boxoffice-%ld&Version=2011-06-15&WebIdentityToken=%s",
             ROLE_ARN_FORM, (long)getpid(), TOKEN_1_FORM);
    assert_string_equal(sts.form, want);
    assert_true(sts.last_timeout_ms > 0 && sts.last_timeout_ms <= BX_AWS_STS_TIMEOUT_MS);
    /* an hour to go: the cache answers */
    expect_keys(&p, 1);
    expect_keys(&p, 1);
    assert_int_equal(sts_calls(), 1);
    /* another store of the same identity shares them */
    struct bx_aws_provider q;
    init_web_identity(f, &q);
    expect_keys(&q, 1);
    assert_int_equal(sts_calls(), 1);
    /* a store of another identity gets its own, and then the first asks again */
    setenv("AWS_ROLE_SESSION_NAME", "other", 1);
    init_web_identity(f, &q);
    expect_keys(&q, 2);
    expect_keys(&p, 3);
    assert_int_equal(sts_calls(), 3);
}

static void test_web_identity_refresh_rereads_token(void **state) {
    struct fixture *f = *state;
    static const struct answer answers[] = {
        {.kind = ANSWER_KEYS, .expires_in_s = BX_AWS_REFRESH_BEFORE_S - 60}, /* due soon */
        {.kind = ANSWER_KEYS, .expires_in_s = 3600},
    };
    script(answers, BX_ARRAY_LEN(answers));
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    expect_keys(&p, 1);
    assert_contains(sts.form, "&WebIdentityToken=" TOKEN_1_FORM);
    /* kubelet rotates the token; the refresh due within 5 minutes sends the new one */
    write_file(f->token_file, TOKEN_2);
    expect_keys(&p, 2);
    assert_int_equal(sts_calls(), 2);
    assert_contains(sts.form, "&WebIdentityToken=" TOKEN_2);
    expect_keys(&p, 2);
    assert_int_equal(sts_calls(), 2);
}

static void test_web_identity_expired_keys_are_not_used(void **state) {
    struct fixture *f = *state;
    static const struct answer answers[] = {
        {.kind = ANSWER_KEYS, .expires_in_s = BX_AWS_EXPIRY_MARGIN_S / 2}, /* about to expire */
        {.kind = ANSWER_NO_CONNECTION},
    };
    script(answers, BX_ARRAY_LEN(answers));
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    expect_keys(&p, 1); /* what STS just gave is used once */
    /* then they may not sign, and without STS there is nothing to sign with */
    expect_get_error(&p, (const char *const[]){"Couldn't connect"}, 1);
    assert_int_equal(sts_calls(), 1 + BX_AWS_STS_ATTEMPTS_MAX);
}

static void test_web_identity_refresh_failure_keeps_current_keys(void **state) {
    struct fixture *f = *state;
    static const struct answer answers[] = {
        {.kind = ANSWER_KEYS, .expires_in_s = BX_AWS_REFRESH_BEFORE_S - 60},
        {.kind = ANSWER_DOC, .status = 503, .doc = "<ErrorResponse><Error><Code>Unavailable"},
    };
    script(answers, BX_ARRAY_LEN(answers));
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    expect_keys(&p, 1);
    /* the refresh fails (503, retried), but the keys are good for minutes yet */
    expect_keys(&p, 1);
    assert_int_equal(sts_calls(), 1 + BX_AWS_STS_ATTEMPTS_MAX);
    /* and STS is left alone for a while */
    expect_keys(&p, 1);
    assert_int_equal(sts_calls(), 1 + BX_AWS_STS_ATTEMPTS_MAX);
}

static void test_web_identity_sts_refusal(void **state) {
    struct fixture *f = *state;
    static const struct answer refused = {
        .kind = ANSWER_DOC, .status = 403, .doc = sts_access_denied};
    script(&refused, 1);
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    expect_get_error(&p, (const char *const[]){"403", "AccessDenied", "Not authorized"}, 3);
    assert_int_equal(sts_calls(), 1); /* a refusal is not retried */
    /* held off: the next calls fail at once with the same reason, without asking STS */
    expect_get_error(&p, (const char *const[]){"AccessDenied"}, 1);
    expect_get_error(&p, (const char *const[]){"AccessDenied"}, 1);
    assert_int_equal(sts_calls(), 1);
    /* once forgotten (or after BX_AWS_STS_HOLDOFF_MS), STS is asked again */
    static const struct answer keys = {.kind = ANSWER_KEYS, .expires_in_s = 3600};
    script(&keys, 1);
    bx_aws_credentials_forget();
    expect_keys(&p, 1);
}

static void test_web_identity_retries_are_bounded(void **state) {
    struct fixture *f = *state;
    struct bx_aws_provider p;
    init_web_identity(f, &p);

    static const struct answer down = {.kind = ANSWER_NO_CONNECTION};
    script(&down, 1);
    expect_get_error(&p, (const char *const[]){"sts.eu-west-1.amazonaws.com", "Couldn't connect"},
                     2);
    assert_int_equal(sts_calls(), BX_AWS_STS_ATTEMPTS_MAX);

    static const struct answer throttled_then_keys[] = {
        {.kind = ANSWER_DOC,
         .status = 400,
         .doc = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message>"
                "</Error></ErrorResponse>"},
        {.kind = ANSWER_NO_CONNECTION},
        {.kind = ANSWER_KEYS, .expires_in_s = 3600},
    };
    script(throttled_then_keys, BX_ARRAY_LEN(throttled_then_keys));
    bx_aws_credentials_forget();
    expect_keys(&p, 3);
    assert_int_equal(sts_calls(), 3);

    /* an answer too large or unusable is not asked for again */
    static const struct answer too_large = {.kind = ANSWER_TOO_LARGE};
    script(&too_large, 1);
    bx_aws_credentials_forget();
    expect_get_error(&p, (const char *const[]){"larger than"}, 1);
    assert_int_equal(sts_calls(), 1);
    static const struct answer garbage = {.kind = ANSWER_DOC, .status = 200, .doc = "<html>"};
    script(&garbage, 1);
    bx_aws_credentials_forget();
    expect_get_error(&p, (const char *const[]){"unusable answer"}, 1);
    assert_int_equal(sts_calls(), 1);
}

static void test_web_identity_token_file_problems(void **state) {
    struct fixture *f = *state;
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    write_file(f->token_file, "\n");
    expect_get_error(&p, (const char *const[]){"AWS_WEB_IDENTITY_TOKEN_FILE", f->token_file}, 2);
    bx_aws_credentials_forget();
    write_file(f->token_file, "two words");
    expect_get_error(&p, (const char *const[]){"AWS_WEB_IDENTITY_TOKEN_FILE"}, 1);
    bx_aws_credentials_forget();
    static char big[BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES + 2];
    memset(big, 'e', BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES + 1);
    write_file(f->token_file, big);
    expect_get_error(&p, (const char *const[]){"AWS_WEB_IDENTITY_TOKEN_FILE"}, 1);
    bx_aws_credentials_forget();
    unlink(f->token_file);
    expect_get_error(&p, (const char *const[]){"AWS_WEB_IDENTITY_TOKEN_FILE", "No such file"}, 2);
    assert_int_equal(sts_calls(), 0);
    /* the longest token is sent whole */
    bx_aws_credentials_forget();
    big[BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES] = '\0';
    write_file(f->token_file, big);
    expect_keys(&p, 1);
    assert_int_equal(strlen(strstr(sts.form, "&WebIdentityToken=") + strlen("&WebIdentityToken=")),
                     BX_AWS_WEB_IDENTITY_TOKEN_MAX_BYTES);
}

struct racer {
    const struct bx_aws_provider *p;
    enum bx_err e;
    char access_key[BX_AWS_ACCESS_KEY_MAX_BYTES + 1];
};

static void *race(void *arg) {
    struct racer *r = arg;
    struct bx_aws_credentials c;
    struct bx_error err = {0};
    r->e = bx_aws_provider_get(r->p, &c, &err);
    bx_strlcpy(r->access_key, c.access_key, sizeof r->access_key);
    bx_aws_credentials_wipe(&c);
    return NULL;
}

/* Many threads without keys at once: one asks STS, the others wait for its answer. */
static void test_web_identity_one_refresh_for_many_threads(void **state) {
    struct fixture *f = *state;
    static const struct answer slow = {
        .kind = ANSWER_KEYS, .expires_in_s = 3600, .delay_us = 100000};
    script(&slow, 1);
    struct bx_aws_provider p;
    init_web_identity(f, &p);
    pthread_t threads[THREADS];
    struct racer racers[THREADS];
    for (size_t i = 0; i < THREADS; i++) {
        racers[i] = (struct racer){.p = &p};
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    for (size_t i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(racers[i].e, BX_OK);
        assert_string_equal(racers[i].access_key, "ASIAFAKEKEY000000001");
    }
    assert_int_equal(sts_calls(), 1);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_aws_example),
        cmocka_unit_test(test_parse_entities),
        cmocka_unit_test(test_parse_refuses_malformed),
        cmocka_unit_test(test_parse_refuses_truncated),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_rfc3339),
        T(test_chain_static_wins),
        T(test_chain_static_needs_both),
        T(test_chain_web_identity_needs_both),
        T(test_chain_nothing),
        T(test_web_identity_settings),
        T(test_web_identity_fetch_and_cache),
        T(test_web_identity_refresh_rereads_token),
        T(test_web_identity_expired_keys_are_not_used),
        T(test_web_identity_refresh_failure_keeps_current_keys),
        T(test_web_identity_sts_refusal),
        T(test_web_identity_retries_are_bounded),
        T(test_web_identity_token_file_problems),
        T(test_web_identity_one_refresh_for_many_threads),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
