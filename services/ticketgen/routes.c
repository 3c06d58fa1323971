// SPDX-License-Identifier: Apache-2.0
// ticketgen's HTTP API: an order's tickets and their PDFs (owner or admin; anyone else gets the
// same 404 as for an order that does not exist), the ticket keys and revocation list for offline
// scanners, and check-in at the door. Store calls are synchronous on the HTTP thread, as in users
// (one kv read per ticket, one object read per PDF; both bounded by their backends' timeouts).
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

#define JWKS_MAX 4096 /* lib/auth.c: enough for BX_KEYRING_KEYS_MAX keys */

static enum bx_err store_error(struct bx_req *req, enum bx_err e) {
    if (e == BX_UNAVAILABLE) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "The ticket store is unavailable; retry.");
    }
    return bx_req_fail(req, BX_INTERNAL, NULL, "ticket store: %s", bx_err_name(e));
}

static bool may_see(const struct bx_req *req, const char *owner) {
    return req->claims.role == BX_ROLE_ADMIN || strcmp(owner, req->claims.sub) == 0;
}

/* GET /api/orders/{id}/tickets. An order ticketgen has not seen yet (its document not processed)
 * is a 404, like an order of someone else: booking's GET /api/orders/{id} says it exists. */
enum bx_err tickets_of_order(struct bx_req *req) {
    const char *id = bx_req_param(req, "id");
    struct tg_order_rec *o = bx_arena_alloc(&req->arena, sizeof *o);
    if (o == NULL) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "out of memory");
    }
    enum bx_err e = bx_valid_id(id) ? tg_order_get(id, o) : BX_NOT_FOUND;
    if (e == BX_NOT_FOUND || (e == BX_OK && !may_see(req, o->user_id))) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No tickets for this order (yet).");
    }
    if (e != BX_OK) {
        return store_error(req, e);
    }
    json_t *items = json_array();
    for (size_t i = 0; i < o->n_tickets; i++) {
        struct tg_ticket_rec t;
        const char *tid = o->tickets[i];
        e = tg_ticket_get(tid, &t);
        if (e != BX_OK && e != BX_NOT_FOUND) {
            json_decref(items);
            return store_error(req, e);
        }
        enum tg_status status = e == BX_OK ? t.status : TG_PENDING;
        char url[64 + TG_ID_MAX];
        snprintf(url, sizeof url, "/api/tickets/%s.pdf", tid);
        json_array_append_new(
            items, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", tid, "order_id", id, "event_id",
                             o->event_id, "tier_id", o->tier_id, "status", tg_status_name(status),
                             "pdf_url", status == TG_READY ? json_string(url) : json_null()));
    }
    bx_resp_header(req, "Cache-Control", "private, no-store");
    return bx_respond_json(req, 200, json_pack("{s:o,s:n}", "items", items, "next_cursor"));
}

/* GET /api/tickets/{file}: the router matches whole segments, so "<id>.pdf" is parsed here. */
enum bx_err tickets_pdf(struct bx_req *req) {
    const char *file = bx_req_param(req, "file");
    size_t n = strlen(file);
    char id[TG_ID_MAX];
    if (n <= 4 || n - 4 >= sizeof id || strcmp(file + n - 4, ".pdf") != 0) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such ticket.");
    }
    memcpy(id, file, n - 4);
    id[n - 4] = '\0';
    struct tg_ticket_rec t;
    enum bx_err e = bx_valid_id(id) ? tg_ticket_get(id, &t) : BX_NOT_FOUND;
    if (e == BX_NOT_FOUND || (e == BX_OK && !may_see(req, t.user_id))) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such ticket.");
    }
    if (e != BX_OK) {
        return store_error(req, e);
    }
    if (t.status != TG_READY) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL,
                           t.status == TG_REVOKED ? "The ticket was revoked."
                                                  : "The ticket is not ready yet.");
    }
    char key[32 + TG_ID_MAX];
    snprintf(key, sizeof key, TG_TICKET_KEY_PREFIX "%s.pdf", id);
    char *pdf = NULL;
    size_t len = 0;
    struct bx_error err = {0};
    e = tg.objects.ops->get(tg.objects.ctx, key, TG_PDF_MAX, &pdf, &len, NULL, &err);
    if (e == BX_NOT_FOUND) { /* revoked between the two reads */
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such ticket.");
    }
    if (e != BX_OK) {
        bx_log(BX_LOG_WARN, req->request_id, "PDF %s: %s", key,
               err.message[0] ? err.message : bx_err_name(e));
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "The ticket store is unavailable; retry.");
    }
    char disposition[64 + TG_ID_MAX];
    snprintf(disposition, sizeof disposition, "inline; filename=\"ticket-%s.pdf\"", id);
    bx_resp_header(req, "Content-Disposition", disposition);
    bx_resp_header(req, "Cache-Control", "private, no-store");
    bx_resp_header(req, "X-Content-Type-Options", "nosniff");
    e = bx_respond(req, 200, "application/pdf", pdf, len);
    free(pdf);
    return e;
}

/* GET /api/tickets/{id}/payload (owner or admin): {ticket_id, payload}, the signed text the PDF's
 * QR code carries, so the web UI can show the code on screen. A fresh signature by the current
 * key (same claims, new issue time): it verifies exactly as the printed one does. */
enum bx_err tickets_payload(struct bx_req *req) {
    const char *id = bx_req_param(req, "id");
    struct tg_ticket_rec t;
    enum bx_err e = bx_valid_id(id) ? tg_ticket_get(id, &t) : BX_NOT_FOUND;
    if (e == BX_NOT_FOUND || (e == BX_OK && !may_see(req, t.user_id))) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No such ticket.");
    }
    if (e != BX_OK) {
        return store_error(req, e);
    }
    if (t.status != TG_READY) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL,
                           t.status == TG_REVOKED ? "The ticket was revoked."
                                                  : "The ticket is not ready yet.");
    }
    if (!tg.can_sign) {
        return bx_req_fail(req, BX_UNAVAILABLE, NULL, "No ticket signing key is loaded.");
    }
    const struct bx_key *signer = &tg.keys.keys[tg.keys.signing];
    struct tg_claims c = {.issued_at = bx_now_unix_s()};
    bx_strlcpy(c.kid, signer->kid, sizeof c.kid);
    bx_strlcpy(c.ticket_id, id, sizeof c.ticket_id);
    bx_strlcpy(c.event_id, t.event_id, sizeof c.event_id);
    bx_strlcpy(c.tier_id, t.tier_id, sizeof c.tier_id);
    bx_strlcpy(c.order_id, t.order_id, sizeof c.order_id);
    char text[TG_QR_TEXT_MAX];
    if ((e = tg_payload_sign(&tg.keys, &c, text, sizeof text)) != BX_OK) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "could not sign the payload");
    }
    bx_resp_header(req, "Cache-Control", "private, no-store");
    return bx_respond_json(req, 200, json_pack("{s:s,s:s}", "ticket_id", id, "payload", text));
}

/* GET /api/tickets/keys: {"keys":[JWK],"revoked":[ticket id]} for scanners that verify offline. */
enum bx_err tickets_keys(struct bx_req *req) {
    char jwks[JWKS_MAX];
    if (bx_keyring_jwks(&tg.keys, jwks, sizeof jwks) != BX_OK) {
        return bx_req_fail(req, BX_INTERNAL, NULL, "cannot render the ticket keys");
    }
    char *revoked = NULL;
    enum bx_err e = tg_revoked_list(bx_now_unix_s(), &revoked);
    if (e != BX_OK) {
        return store_error(req, e);
    }
    json_t *doc = json_loads(jwks, 0, NULL), *list = json_loads(revoked, 0, NULL);
    free(revoked);
    if (doc == NULL || list == NULL) {
        json_decref(doc);
        json_decref(list);
        return bx_req_fail(req, BX_INTERNAL, NULL, "cannot render the ticket keys");
    }
    json_object_set_new(doc, "revoked", list);
    bx_resp_header(req, "Cache-Control", "public, max-age=30");
    return bx_respond_json(req, 200, doc);
}

struct checkin_body {
    char *payload;
};

static const struct bx_json_field checkin_fields[] = {
    {.name = "payload",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct checkin_body, payload),
     .required = true,
     .min = 0,
     .max = TG_PAYLOAD_MAX},
};

static const struct bx_json_schema checkin_schema = {checkin_fields, BX_ARRAY_LEN(checkin_fields),
                                                     sizeof(struct checkin_body)};

static enum bx_err checkin_answer(struct bx_req *req, const char *status, const char *ticket_id,
                                  int64_t first_at, struct bx_metric *m) {
    char at[21];
    json_t *when = json_null();
    if (first_at > 0) {
        bx_format_rfc3339(first_at, at);
        when = json_string(at);
    }
    bx_metric_add(m, 1);
    bx_log(BX_LOG_INFO, req->request_id, "check-in by %s: %s %s", req->claims.sub, status,
           ticket_id ? ticket_id : "-");
    bx_resp_header(req, "Cache-Control", "no-store");
    return bx_respond_json(req, 200,
                           json_pack("{s:s,s:o,s:o}", "status", status, "ticket_id",
                                     ticket_id ? json_string(ticket_id) : json_null(),
                                     "first_used_at", when));
}

/* POST /api/checkins {payload}: staff or admin. Only a conditional create of checkin:<id> decides
 * who is first, so two gates scanning one ticket at once admit it exactly once. */
enum bx_err checkins_create(struct bx_req *req) {
    struct checkin_body b;
    struct bx_error err = {0};
    enum bx_err e =
        bx_json_decode(req->body, req->body_len, &checkin_schema, &b, &req->arena, NULL, &err);
    if (e != BX_OK) {
        req->error = err;
        return e;
    }
    size_t len = strlen(b.payload);
    if (len > TG_PAYLOAD_MAX) {
        return bx_req_fail(req, BX_INVALID_FIELD, "payload", "payload is at most %d bytes.",
                           TG_PAYLOAD_MAX);
    }
    struct tg_claims c;
    if (!tg_payload_verify(&tg.keys, b.payload, len, &c)) {
        return checkin_answer(req, "invalid", NULL, 0, tg.m_checkin_invalid);
    }
    struct tg_ticket_rec t;
    e = tg_ticket_get(c.ticket_id, &t);
    if (e == BX_NOT_FOUND ||
        (e == BX_OK && (strcmp(t.event_id, c.event_id) != 0 || strcmp(t.tier_id, c.tier_id) != 0 ||
                        strcmp(t.order_id, c.order_id) != 0))) {
        /* signed by us but unknown here, or naming another order: not a ticket we honour */
        bx_log(BX_LOG_WARN, req->request_id,
               "check-in: signed payload for ticket %s does not "
               "match the ticket store",
               c.ticket_id);
        return checkin_answer(req, "invalid", NULL, 0, tg.m_checkin_invalid);
    }
    if (e != BX_OK) {
        return store_error(req, e);
    }
    int64_t first_at = 0;
    if (t.status == TG_REVOKED) {
        e = tg_checkin_get(c.ticket_id, &first_at);
        if (e != BX_OK && e != BX_NOT_FOUND) {
            return store_error(req, e);
        }
        return checkin_answer(req, "revoked", c.ticket_id, e == BX_OK ? first_at : 0,
                              tg.m_checkin_revoked);
    }
    enum tg_checkin_result res;
    if ((e = tg_checkin(c.ticket_id, req->claims.sub, bx_now_unix_s(), &res, &first_at)) != BX_OK) {
        return store_error(req, e);
    }
    return res == TG_ADMITTED
               ? checkin_answer(req, "admitted", c.ticket_id, first_at, tg.m_checkin_admitted)
               : checkin_answer(req, "already_used", c.ticket_id, first_at, tg.m_checkin_used);
}
