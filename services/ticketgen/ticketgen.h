// SPDX-License-Identifier: Apache-2.0
// The ticket generator: turns order documents (orders/<order_id>.json, written by booking into the
// object store) into one signed PDF ticket per seat (tickets/<ticket_id>.pdf), keeps ticket status
// and check-ins in a bx_kv store, and verifies QR payloads at the door.
// Key layout in the kv store:
//   order:<id>      {"user_id","event_id","tier_id","status","tickets":[ids],"etag"}   etag: of the
//   order
//                   document last processed in full ("" until then)
//   ticket:<id>     {"order_id","event_id","tier_id","user_id","status","pdf","expires_at"}
//   checkin:<id>    {"at","by"}         created with BX_KV_PUT_IF_ABSENT: one admission per ticket
//   revoked-index   {"items":[{"t":ticket id,"x":Unix s after which it may be dropped}]}
// Invariants:
//  - a ticket's status only moves pending -> ready -> revoked (or straight to revoked); every write
//    of a ticket record is a compare-and-set on its version, so revoked is terminal even with
//    several replicas (or Lambda instances) processing the same order at once;
//  - an order's etag is recorded only after all its tickets were handled, so a crash part-way
//    leaves the order to the next rescan;
//  - a PDF is stored before its ticket reads ready; a ready ticket always has its PDF.
#ifndef BOXOFFICE_TICKETGEN_H
#define BOXOFFICE_TICKETGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boxoffice/auth.h"
#include "boxoffice/err.h"
#include "boxoffice/http.h"
#include "boxoffice/kv.h"
#include "boxoffice/metrics.h"
#include "boxoffice/objects.h"

#define TG_ID_MAX            65 /* ids are bx_valid_id: at most 64 characters */
#define TG_TICKETS_PER_ORDER 100
#define TG_ORDER_DOC_MAX     (256 * 1024) /* largest order document read */
#define TG_TEXT_MAX_CP       200          /* code points of a title, name, venue ... */
#define TG_TEXT_MAX_BYTES    (4 * TG_TEXT_MAX_CP + 1)
#define TG_TZ_NAME_MAX       64
#define TG_PDF_MAX           (4 * 1024 * 1024) /* largest PDF rendered or served */
#define TG_PAYLOAD_MAX       4096              /* API.md: longer check-in payloads are a 422 */
#define TG_QR_TEXT_MAX       512               /* a signed payload is ~210 characters */
#define TG_WORKERS_MAX       64
#define TG_QUEUE_MAX         1024 /* order keys waiting per worker */
#define TG_CAS_ATTEMPTS      8
#define TG_REVOKED_MAX       4000 /* live entries of the revocation index (fits one kv value) */
#define TG_REVOKED_GRACE_S   (24 * 3600) /* a revoked ticket is listed until its event ended + */
#define TG_ORDER_KEY_PREFIX  "orders/"
#define TG_TICKET_KEY_PREFIX "tickets/"
#define TG_REVOKED_INDEX_KEY "revoked-index"

enum tg_paper { TG_PAPER_A4, TG_PAPER_LETTER };

struct ticketgen {
    /* configuration */
    const char *objects_url;
    const char *store_url;
    const char *keys_dir;
    const char *paper_name;
    const char *font_path;
    const char *font_bold_path;
    const char *zoneinfo_dir;
    int64_t workers;
    int64_t rescan_s;
    /* state */
    enum tg_paper paper;
    struct bx_objects objects;
    struct bx_kv kv;
    struct bx_keyring keys; /* ticket signing keys: the newest secret signs, all verify */
    bool can_sign;
    char s3_bucket[256]; /* the bucket of an s3:// store ("" otherwise), for Lambda events */
    /* metrics (NULL-safe) */
    struct bx_metric *m_processed, *m_rejected, *m_failed, *m_rendered, *m_revoked,
        *m_checkin_admitted, *m_checkin_used, *m_checkin_invalid, *m_checkin_revoked,
        *m_revoked_dropped, *m_queue;
};

extern struct ticketgen tg;

/* ---- tz.c: local time in an IANA zone, from the TZif files (no TZ environment, thread-safe) */

struct tg_local {
    int year, month, day, hour, minute, wday; /* month 1-12, wday 0 = Sunday */
    int32_t utoff_s;
    char abbr[16]; /* "CEST", or "+0530" when the zone has no letters */
};

/* True and *out filled when zone is a valid name with a readable TZif file under zoneinfo_dir
 * ("UTC" also without one). */
bool tg_tz_local(const char *zoneinfo_dir, const char *zone, int64_t unix_s, struct tg_local *out);
/* The zone name is well formed (checked before any file is opened). */
bool tg_tz_name_valid(const char *zone);

/* ---- orderdoc.c: the order document and its processing */

struct tg_order {
    char id[TG_ID_MAX], user_id[TG_ID_MAX], event_id[TG_ID_MAX], tier_id[TG_ID_MAX];
    bool cancelled;
    size_t n_tickets;
    char tickets[TG_TICKETS_PER_ORDER][TG_ID_MAX];
    /* rendering fields; checked only for confirmed orders */
    char holder_name[TG_TEXT_MAX_BYTES];
    char title[TG_TEXT_MAX_BYTES];
    int64_t starts_at, ends_at;
    char venue_name[TG_TEXT_MAX_BYTES], venue_city[TG_TEXT_MAX_BYTES];
    char venue_address[TG_TEXT_MAX_BYTES], venue_country[4];
    char timezone[TG_TZ_NAME_MAX + 1];
    char tier_name[TG_TEXT_MAX_BYTES];
    int64_t price_cents;
    char currency[4];
};

/* Parses and checks an order document; key_id is the <order_id> of its object key, which the
 * document's order.id must equal. BX_INVALID_FIELD with err naming the field otherwise. */
enum bx_err tg_order_parse(const char *doc, size_t len, const char *key_id, struct tg_order *out,
                           struct bx_error *err);

/* What processing one order key came to. */
enum tg_outcome {
    TG_DONE,     /* processed (or nothing to do) */
    TG_REJECTED, /* the document is malformed: logged and counted, not retried until it changes */
    TG_RETRY,    /* a store was unavailable: try again later */
};

struct tg_renderer;

/* Reads key (orders/<id>.json) and processes it: renders and stores the tickets of a confirmed
 * order, revokes those of a cancelled one. Idempotent. r: the calling thread's renderer;
 * etag_out (may be NULL) gets the entity tag of the document version that was read, and
 * *final_out (may be NULL) whether the order is done for good (processed as cancelled). */
enum tg_outcome tg_process_key(struct tg_renderer *r, const char *key, char *etag_out,
                               size_t etag_size, bool *final_out);

/* The order key's id ("orders/<id>.json" -> "<id>"); false when key is not one. */
bool tg_order_key_id(const char *key, char id_out[TG_ID_MAX]);

/* ---- render.c: one PDF per ticket (libharu + libqrencode) */

struct tg_ticket_view {
    const struct tg_order *order;
    const char *ticket_id;
    const char *qr_text; /* the signed payload */
    const char *kid;
};

/* Prepares the fonts (once per process); BX_INTERNAL with a message when they cannot be read. */
enum bx_err tg_render_global_init(const char *font_path, const char *bold_path,
                                  struct bx_error *err);
void tg_render_global_done(void);
/* A renderer owns one libharu document that is reset per ticket, so the fonts are parsed once
 * per renderer. One per thread; not thread-safe. */
struct tg_renderer *tg_renderer_new(enum tg_paper paper, const char *zoneinfo_dir,
                                    struct bx_error *err);
void tg_renderer_free(struct tg_renderer *r);
/* Renders the ticket; *pdf_out malloc'd (caller frees). BX_INVALID_FIELD when the order's time
 * zone cannot be read; BX_INTERNAL when libharu or libqrencode fails. */
enum bx_err tg_render(struct tg_renderer *r, const struct tg_ticket_view *v, char **pdf_out,
                      size_t *len_out, struct bx_error *err);
/* "1,234.50 EUR" (minor units by ISO 4217 exponent). */
void tg_format_price(int64_t cents, const char *currency, char *out, size_t size);

/* ---- payload.c: signed QR payloads and the ticket signing keys */

/* What a verified payload names. */
struct tg_claims {
    char kid[BX_KID_MAX];
    char ticket_id[TG_ID_MAX], event_id[TG_ID_MAX], tier_id[TG_ID_MAX], order_id[TG_ID_MAX];
    int64_t issued_at;
};

/* Loads BOXOFFICE_TICKET_KEYS; when the directory holds no key, creates a first one if create
 * (service mode), else fails (Lambda: an instance's own key would verify nowhere). */
enum bx_err tg_keys_init(const char *dir, bool create, struct bx_keyring *kr, bool *can_sign,
                         struct bx_error *err);
/* "BX1.<base64url(payload)>.<base64url(signature)>" into out. */
enum bx_err tg_payload_sign(const struct bx_keyring *kr, const struct tg_claims *c, char *out,
                            size_t size);
/* True with *out filled when text is a payload signed by a key of kr. */
bool tg_payload_verify(const struct bx_keyring *kr, const char *text, size_t len,
                       struct tg_claims *out);

/* ---- state.c: ticket and order records, check-ins, the revocation index */

enum tg_status { TG_PENDING, TG_READY, TG_REVOKED };

struct tg_ticket_rec {
    char order_id[TG_ID_MAX], event_id[TG_ID_MAX], tier_id[TG_ID_MAX], user_id[TG_ID_MAX];
    enum tg_status status;
    bool has_pdf;
    int64_t expires_at; /* Unix s after which a revocation need not be listed */
};

struct tg_order_rec {
    char user_id[TG_ID_MAX], event_id[TG_ID_MAX], tier_id[TG_ID_MAX];
    bool cancelled;
    size_t n_tickets;
    char tickets[TG_TICKETS_PER_ORDER][TG_ID_MAX];
    char etag[96];
};

const char *tg_status_name(enum tg_status s);
/* BX_OK, BX_NOT_FOUND, BX_UNAVAILABLE, or BX_INTERNAL for a corrupt record (logged). */
enum bx_err tg_ticket_get(const char *id, struct tg_ticket_rec *out);
enum bx_err tg_order_get(const char *id, struct tg_order_rec *out);
/* Creates or moves the ticket towards status (never away from revoked); *now_out gets the status
 * it has afterwards. */
enum bx_err tg_ticket_set(const char *id, const struct tg_order *o, enum tg_status status,
                          enum tg_status *now_out);
/* Writes the order's record: status and tickets from o; etag NULL keeps the stored one. A stored
 * cancelled status is kept (*cancelled_out true) when o is confirmed. */
enum bx_err tg_order_put(const struct tg_order *o, const char *etag, bool *cancelled_out);
/* Adds tickets to the revocation index (dropping entries past their expiry). */
enum bx_err tg_revoked_add(const char *const *ids, size_t n, int64_t expires_at);
/* The live revocation index as a JSON array of ids (malloc'd). */
enum bx_err tg_revoked_list(int64_t now, char **json_out);

enum tg_checkin_result { TG_ADMITTED, TG_ALREADY_USED };
/* Records the first check-in of id; *first_at gets the first check-in's time. */
enum bx_err tg_checkin(const char *id, const char *by, int64_t now, enum tg_checkin_result *res,
                       int64_t *first_at);
/* The first check-in's time, BX_NOT_FOUND when none. */
enum bx_err tg_checkin_get(const char *id, int64_t *first_at);

/* ---- watch.c: service mode triggers (inotify + rescans, or polling an S3 store) and workers */

enum bx_err tg_watch_start(struct bx_error *err);
void tg_watch_stop(void);

/* ---- lambda.c: the Lambda custom runtime loop (AWS_LAMBDA_RUNTIME_API) */

/* Lets SIGTERM/SIGINT end the process (call first in Lambda mode). */
void tg_lambda_signals(void);
/* Serves invocations until the runtime API goes away; returns the exit status. */
int tg_lambda_run(const char *runtime_api);
/* Reports a failed start to the runtime API (POST /runtime/init/error). */
void tg_lambda_init_error(const char *runtime_api, const char *message);
/* Decodes an S3 event key ('+' is a space, %XX); false when malformed or too long. */
bool tg_s3_key_decode(const char *in, char *out, size_t size);

/* ---- routes.c */

enum bx_err tickets_of_order(struct bx_req *req);
enum bx_err tickets_pdf(struct bx_req *req);
enum bx_err tickets_payload(struct bx_req *req);
enum bx_err tickets_keys(struct bx_req *req);
enum bx_err checkins_create(struct bx_req *req);

#endif
