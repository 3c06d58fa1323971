// SPDX-License-Identifier: Apache-2.0
// boxoffice-ticketgen: ticket PDFs, QR signing and check-in (docs/ticketgen.md). Two ways to run
// the same binary:
//  - service mode (default): HTTP API on 8084, plus workers that turn order documents into
//    tickets as they appear in the object store (inotify on a file store, polling on S3);
//  - Lambda mode: with AWS_LAMBDA_RUNTIME_API set (or `boxoffice-ticketgen lambda`), a custom
//    runtime that handles S3 "object created" events for orders/ and serves no HTTP.
// State: ticket status and check-ins in the kv store, PDFs in the object store, signing keys in a
// directory; nothing in process memory that a restart or a second replica would need.
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hpdf.h>
#include <qrencode.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "ticketgen.h"

struct ticketgen tg;

static const char *const objects_schemes[] = {"file", "s3", NULL};
static const char *const kv_schemes[] = {"lmdb", "dynamodb", NULL};
static const char *const papers[] = {"a4", "letter", NULL};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_OBJECTS", BX_CFG_URL, "file:var/objects",
     "object store of order documents and ticket PDFs: file:DIR or s3://BUCKET?region=R"
     "[&endpoint=URL]",
     0, 0, objects_schemes, &tg.objects_url},
    {"BOXOFFICE_TICKETGEN_STORE", BX_CFG_URL, "lmdb:var/ticketgen",
     "ticket status and check-ins: lmdb:DIR or dynamodb://TABLE?region=R[&endpoint=URL]", 0, 0,
     kv_schemes, &tg.store_url},
    {"BOXOFFICE_TICKET_KEYS", BX_CFG_STRING, "var/keys/tickets",
     "directory of Ed25519 ticket signing keys (<kid>.key / <kid>.pub); a first key is created "
     "when it holds none",
     1, 1024, NULL, &tg.keys_dir},
    {"BOXOFFICE_TICKET_PAPER", BX_CFG_ENUM, "a4", "page size of ticket PDFs: a4 or letter", 0, 0,
     papers, &tg.paper_name},
    {"BOXOFFICE_TICKET_FONT", BX_CFG_STRING, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "TrueType font of ticket text", 1, 1024, NULL, &tg.font_path},
    {"BOXOFFICE_TICKET_FONT_BOLD", BX_CFG_STRING,
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "TrueType font of ticket headings", 1,
     1024, NULL, &tg.font_bold_path},
    {"BOXOFFICE_TICKETGEN_ZONEINFO", BX_CFG_STRING, "/usr/share/zoneinfo",
     "directory of TZif time zone files (venue times are shown in the venue's zone)", 1, 1024, NULL,
     &tg.zoneinfo_dir},
    {"BOXOFFICE_TICKETGEN_WORKERS", BX_CFG_INT, "2",
     "rendering threads in service mode (about 80+ tickets/s each)", 1, TG_WORKERS_MAX, NULL,
     &tg.workers},
    {"BOXOFFICE_TICKETGEN_RESCAN_S", BX_CFG_INT, "30",
     "seconds between rescans of orders/ (file store: a safety net behind inotify; S3 store: "
     "the poll interval)",
     1, 3600, NULL, &tg.rescan_s},
};

static const struct bx_route routes[] = {
    {BX_GET, "/api/orders/{id}/tickets", tickets_of_order, BX_AUTH_USER},
    {BX_GET, "/api/tickets/keys", tickets_keys, BX_AUTH_NONE},  /* before {file}: it must win */
    {BX_GET, "/api/tickets/{file}", tickets_pdf, BX_AUTH_USER}, /* "<ticket id>.pdf" */
    {BX_GET, "/api/tickets/{id}/payload", tickets_payload, BX_AUTH_USER},
    {BX_POST, "/api/checkins", checkins_create, BX_AUTH_STAFF},
};

/* "s3://BUCKET?..." -> BUCKET, for checking the bucket named in Lambda events. */
static void s3_bucket(const char *url, char *out, size_t size) {
    out[0] = '\0';
    if (strncmp(url, "s3://", 5) == 0) {
        size_t n = strcspn(url + 5, "?/");
        if (n < size) {
            memcpy(out, url + 5, n);
            out[n] = '\0';
        }
    }
}

static void register_metrics(void) {
    tg.m_processed = bx_metrics_counter("ticketgen_orders_processed_total",
                                        "order documents processed (issued or revoked)");
    tg.m_rejected = bx_metrics_counter("ticketgen_orders_rejected_total",
                                       "order documents skipped as malformed (see the log)");
    tg.m_failed = bx_metrics_counter("ticketgen_orders_failed_total",
                                     "order processing that failed on a store and will be retried");
    tg.m_rendered = bx_metrics_counter("ticketgen_tickets_rendered_total", "ticket PDFs stored");
    tg.m_revoked = bx_metrics_counter("ticketgen_tickets_revoked_total", "tickets revoked");
    tg.m_checkin_admitted =
        bx_metrics_counter("ticketgen_checkins_admitted_total", "check-ins admitted");
    tg.m_checkin_used = bx_metrics_counter("ticketgen_checkins_already_used_total",
                                           "check-ins of a ticket already used");
    tg.m_checkin_invalid = bx_metrics_counter("ticketgen_checkins_invalid_total",
                                              "check-ins with a payload that does not verify");
    tg.m_checkin_revoked =
        bx_metrics_counter("ticketgen_checkins_revoked_total", "check-ins of a revoked ticket");
    tg.m_revoked_dropped = bx_metrics_counter("ticketgen_revocations_unlisted_total",
                                              "revocations left out of a full revocation index");
    tg.m_queue = bx_metrics_gauge("ticketgen_queue_depth", "order documents waiting for a worker");
}

/* Everything both modes need: stores, keys, fonts. */
static enum bx_err open_all(bool create_key, struct bx_error *err) {
    tg.paper = strcmp(tg.paper_name, "letter") == 0 ? TG_PAPER_LETTER : TG_PAPER_A4;
    s3_bucket(tg.objects_url, tg.s3_bucket, sizeof tg.s3_bucket);
    if (sodium_init() < 0) {
        return bx_error_set(err, BX_INTERNAL, NULL, "libsodium cannot start");
    }
    register_metrics();
    enum bx_err e;
    if ((e = tg_keys_init(tg.keys_dir, create_key, &tg.keys, &tg.can_sign, err)) != BX_OK ||
        (e = bx_kv_open(tg.store_url, &tg.kv, err)) != BX_OK ||
        (e = bx_objects_open(tg.objects_url, &tg.objects, err)) != BX_OK ||
        (e = tg_render_global_init(tg.font_path, tg.font_bold_path, err)) != BX_OK) {
        return e;
    }
    return BX_OK;
}

static void close_all(void) {
    tg_render_global_done();
    if (tg.objects.ops != NULL) {
        bx_objects_close(&tg.objects);
        tg.objects.ops = NULL;
    }
    if (tg.kv.ops != NULL) {
        bx_kv_close(&tg.kv);
        tg.kv.ops = NULL;
    }
}

static enum bx_err init(void *ctx, struct bx_error *err) {
    (void)ctx;
    enum bx_err e = open_all(true, err);
    if (e == BX_OK) {
        e = tg_watch_start(err);
    }
    if (e != BX_OK) {
        close_all(); /* stop is not called after a failed init */
    }
    return e;
}

static bool ready(void *ctx, char *why, size_t why_size) {
    (void)ctx;
    if (tg.kv.ops == NULL || tg.kv.ops->ping(tg.kv.ctx) != BX_OK) {
        snprintf(why, why_size, "ticket store unreachable");
        return false;
    }
    if (tg.objects.ops == NULL || tg.objects.ops->ping(tg.objects.ctx) != BX_OK) {
        snprintf(why, why_size, "object store unreachable");
        return false;
    }
    return true;
}

static void stop(void *ctx) {
    (void)ctx;
    tg_watch_stop(); /* workers finish the order they are on */
    close_all();
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void anchor_error(HPDF_STATUS code, HPDF_STATUS detail, void *user) {
    (void)code;
    (void)detail;
    *(bool *)user = true;
}

/* The anchor: the same ticket as a straightforward libharu program makes it, a new document per
 * ticket with both fonts loaded from their files and all text through the UTF-8 encoder, and the
 * QR code drawn module by module. What render.c saves is the ratio against this. */
static double anchor_rate(int n, const struct tg_order *o, const char *qr_text) {
    bool failed = false;
    double t0 = cpu_s();
    for (int i = 0; i < n && !failed; i++) {
        HPDF_Doc pdf = HPDF_New(anchor_error, &failed);
        HPDF_SetCompressionMode(pdf, HPDF_COMP_ALL);
        HPDF_UseUTFEncodings(pdf);
        HPDF_Font regular =
            HPDF_GetFont(pdf, HPDF_LoadTTFontFromFile(pdf, tg.font_path, HPDF_TRUE), "UTF-8");
        HPDF_Font bold =
            HPDF_GetFont(pdf, HPDF_LoadTTFontFromFile(pdf, tg.font_bold_path, HPDF_TRUE), "UTF-8");
        HPDF_Page page = HPDF_AddPage(pdf);
        HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
        const char *lines[] = {o->title, o->venue_name, o->holder_name, o->tier_name, o->id};
        for (size_t l = 0; l < BX_ARRAY_LEN(lines) && !failed; l++) {
            HPDF_Page_BeginText(page);
            HPDF_Page_SetFontAndSize(page, l == 0 ? bold : regular, l == 0 ? 22 : 12);
            HPDF_Page_TextOut(page, 48, 780 - 24 * (float)l, lines[l]);
            HPDF_Page_EndText(page);
        }
        QRcode *q = QRcode_encodeString(qr_text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        for (int y = 0; q != NULL && y < q->width; y++) {
            for (int x = 0; x < q->width; x++) {
                if (q->data[y * q->width + x] & 1) {
                    HPDF_Page_Rectangle(page, 300 + 3 * (float)x, 600 - 3 * (float)y, 3, 3);
                }
            }
        }
        HPDF_Page_Fill(page);
        QRcode_free(q);
        HPDF_SaveToStream(pdf);
        HPDF_Free(pdf);
    }
    double dt = cpu_s() - t0;
    return failed || dt <= 0 ? 0 : n / dt;
}

/* render-bench N [HOLDER]: N tickets rendered and signed on this thread, no I/O; one JSON line. */
static int render_bench(int argc, char **argv) {
    int64_t n = 200;
    if (argc >= 3 && bx_parse_i64(argv[2], 1, 1000000, &n) != 0) {
        fprintf(stderr, "render-bench: N must be 1 to 1000000\n");
        return 2;
    }
    struct bx_error err = {0};
    tg.paper = strcmp(tg.paper_name, "letter") == 0 ? TG_PAPER_LETTER : TG_PAPER_A4;
    if (sodium_init() < 0 ||
        tg_render_global_init(tg.font_path, tg.font_bold_path, &err) != BX_OK) {
        fprintf(stderr, "render-bench: %s\n", err.message);
        return 1;
    }
    struct tg_renderer *r = tg_renderer_new(tg.paper, tg.zoneinfo_dir, &err);
    if (r == NULL) {
        fprintf(stderr, "render-bench: %s\n", err.message);
        tg_render_global_done();
        return 1;
    }
    struct bx_keyring kr = {.signing = 0}; /* an ephemeral key: the bench touches no key files */
    bx_strlcpy(kr.keys[0].kid, "kbench", sizeof kr.keys[0].kid);
    crypto_sign_keypair(kr.keys[0].pk, kr.keys[0].sk);
    kr.keys[0].has_secret = true;
    kr.n_keys = 1;
    static struct tg_order o;
    memset(&o, 0, sizeof o);
    bx_uuid7(o.id);
    bx_uuid7(o.user_id);
    bx_uuid7(o.event_id);
    bx_uuid7(o.tier_id);
    bx_strlcpy(o.holder_name, argc >= 4 ? argv[3] : "Ada Lovelace", sizeof o.holder_name);
    bx_strlcpy(o.title, "The Analytical Engines: Live at the Royal Albert Hall", sizeof o.title);
    o.starts_at = 1906916400; /* 2030-06-05T19:00:00Z */
    bx_strlcpy(o.venue_name, "Royal Albert Hall", sizeof o.venue_name);
    bx_strlcpy(o.venue_city, "London", sizeof o.venue_city);
    bx_strlcpy(o.venue_address, "Kensington Gore", sizeof o.venue_address);
    bx_strlcpy(o.venue_country, "GB", sizeof o.venue_country);
    bx_strlcpy(o.timezone, "Europe/London", sizeof o.timezone);
    bx_strlcpy(o.tier_name, "Stalls", sizeof o.tier_name);
    o.price_cents = 4500;
    bx_strlcpy(o.currency, "GBP", sizeof o.currency);
    size_t bytes = 0;
    int status = 0;
    double t0 = cpu_s();
    for (int64_t i = 0; i < n && status == 0; i++) {
        struct tg_claims c = {.issued_at = bx_now_unix_s()};
        bx_uuid7(c.ticket_id);
        bx_strlcpy(c.kid, "kbench", sizeof c.kid);
        bx_strlcpy(c.event_id, o.event_id, sizeof c.event_id);
        bx_strlcpy(c.tier_id, o.tier_id, sizeof c.tier_id);
        bx_strlcpy(c.order_id, o.id, sizeof c.order_id);
        char text[TG_QR_TEXT_MAX], *pdf = NULL;
        size_t len = 0;
        struct tg_ticket_view v = {
            .order = &o, .ticket_id = c.ticket_id, .qr_text = text, .kid = "kbench"};
        if (tg_payload_sign(&kr, &c, text, sizeof text) != BX_OK ||
            tg_render(r, &v, &pdf, &len, &err) != BX_OK) {
            fprintf(stderr, "render-bench: %s\n", err.message);
            status = 1;
        }
        bytes += len;
        free(pdf);
    }
    double dt = cpu_s() - t0;
    char qr_text[TG_QR_TEXT_MAX];
    struct tg_claims c = {.issued_at = bx_now_unix_s()};
    bx_strlcpy(c.ticket_id, o.id, sizeof c.ticket_id);
    bx_strlcpy(c.event_id, o.event_id, sizeof c.event_id);
    bx_strlcpy(c.tier_id, o.tier_id, sizeof c.tier_id);
    bx_strlcpy(c.order_id, o.id, sizeof c.order_id);
    if (status == 0 && tg_payload_sign(&kr, &c, qr_text, sizeof qr_text) == BX_OK) {
        int64_t anchor_n = n / 4 > 0 ? n / 4 : 1; /* the anchor is slow: a quarter as many */
        double anchor = anchor_rate((int)anchor_n, &o, qr_text);
        double rate = dt > 0 ? (double)n / dt : 0;
        printf("{\"pdfs\":%lld,\"cpu_s\":%.3f,\"pdfs_per_cpu_s\":%.1f,\"avg_bytes\":%zu,"
               "\"naive_pdfs_per_cpu_s\":%.1f,\"ratio\":%.2f}\n",
               (long long)n, dt, rate, bytes / (size_t)n, anchor, anchor > 0 ? rate / anchor : 0);
    }
    sodium_memzero(&kr, sizeof kr);
    tg_renderer_free(r);
    tg_render_global_done();
    return status;
}

static int command(void *ctx, int argc, char **argv) {
    (void)ctx;
    if (strcmp(argv[1], "lambda") == 0 && argc == 2) {
        const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
        if (api == NULL || api[0] == '\0') {
            fprintf(stderr, "boxoffice-ticketgen lambda: AWS_LAMBDA_RUNTIME_API is not set\n");
            return 2;
        }
        tg_lambda_signals();
        struct bx_error err = {0};
        if (open_all(false, &err) != BX_OK) {
            const char *why = err.message[0] ? err.message : bx_err_name(err.code);
            bx_error("start failed: %s", why);
            tg_lambda_init_error(api, why);
            close_all();
            return 1;
        }
        int status = tg_lambda_run(api);
        close_all();
        return status;
    }
    if (strcmp(argv[1], "rotate-key") == 0 && argc == 2) {
        struct bx_key k;
        if (bx_keyring_generate(tg.keys_dir, &k) != BX_OK) {
            fprintf(stderr, "rotate-key: cannot write a key into %s\n", tg.keys_dir);
            return 1;
        }
        sodium_memzero(k.sk, sizeof k.sk);
        printf("created ticket key %s in %s; it signs after the next restart, older keys still "
               "verify\n",
               k.kid, tg.keys_dir);
        return 0;
    }
    if (strcmp(argv[1], "render-bench") == 0 && argc <= 4) {
        return render_bench(argc, argv);
    }
    fprintf(stderr, "boxoffice-ticketgen: unknown command (try --help)\n");
    return 2;
}

static const struct bx_service service = {
    .name = "ticketgen",
    .summary = "ticket PDFs, QR signing and check-in",
    .default_port = 8084,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &tg,
    .needs_auth_keys = true,
    .init = init,
    .ready = ready,
    .stop = stop,
    .command = command,
    .commands_help =
        "  lambda               serve AWS Lambda invocations (S3 events); automatic when\n"
        "                       AWS_LAMBDA_RUNTIME_API is set\n"
        "  rotate-key           add a new ticket signing key to BOXOFFICE_TICKET_KEYS\n"
        "  render-bench [N [HOLDER]]  render N tickets in memory, print PDFs per CPU-second\n",
};

int main(int argc, char **argv) {
    static char lambda_arg[] = "lambda";
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (argc == 1 && api != NULL && api[0] != '\0') {
        char *lambda_argv[] = {argv[0], lambda_arg, NULL};
        return bx_service_main(&service, 2, lambda_argv);
    }
    return bx_service_main(&service, argc, argv);
}
