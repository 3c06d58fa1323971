// SPDX-License-Identifier: Apache-2.0
// Order documents (orders/<order_id>.json, written by booking): the one validating parse, and
// processing. Booking's document is input from another service and treated as hostile: every
// field used is checked for type, length (TG_TEXT_MAX_CP code points of valid UTF-8), id syntax
// and range; unknown fields are ignored (booking may add some). A document that fails a check is
// logged with the field, counted (ticketgen_orders_rejected_total) and skipped, never rendered
// half-right. Fields read:
//   order.{id,user_id,event_id,tier_id,status,tickets[].id,quantity?}     always
//   holder_name, event.{id,title,starts_at,ends_at?}, venue.{name,city,country,timezone,
//   address?}, tier.{id,name,price_cents,currency}                           confirmed orders
//   event.ends_at                                                            cancelled (optional)
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/json.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

#define PRICE_MAX_CENTS 100000000000LL /* catalog's CATALOG_PRICE_MAX */

bool tg_order_key_id(const char *key, char id_out[TG_ID_MAX]) {
    size_t plen = strlen(TG_ORDER_KEY_PREFIX), n = strlen(key);
    if (n <= plen + 5 || strncmp(key, TG_ORDER_KEY_PREFIX, plen) != 0 ||
        strcmp(key + n - 5, ".json") != 0 || n - plen - 5 >= TG_ID_MAX) {
        return false;
    }
    memcpy(id_out, key + plen, n - plen - 5);
    id_out[n - plen - 5] = '\0';
    return bx_valid_id(id_out);
}

static enum bx_err bad(struct bx_error *err, const char *field, const char *what) {
    return bx_error_set(err, BX_INVALID_FIELD, field, "%s %s", field, what);
}

static enum bx_err get_id(json_t *o, const char *name, const char *field, char out[TG_ID_MAX],
                          struct bx_error *err) {
    const char *s = json_string_value(json_object_get(o, name));
    if (s == NULL || !bx_valid_id(s)) {
        return bad(err, field, "is missing or not an id");
    }
    bx_strlcpy(out, s, TG_ID_MAX);
    return BX_OK;
}

static size_t utf8_cps(const char *s) {
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

static enum bx_err get_text(json_t *o, const char *name, const char *field, bool required,
                            char out[TG_TEXT_MAX_BYTES], struct bx_error *err) {
    json_t *v = json_object_get(o, name);
    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        return required ? bad(err, field, "is missing") : BX_OK;
    }
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != json_string_length(v) || !bx_valid_utf8(s)) {
        return bad(err, field, "is not a string");
    }
    size_t cps = utf8_cps(s);
    if ((required && cps == 0) || cps > TG_TEXT_MAX_CP || strlen(s) >= TG_TEXT_MAX_BYTES) {
        return bad(err, field, "has the wrong length");
    }
    bx_strlcpy(out, s, TG_TEXT_MAX_BYTES);
    return BX_OK;
}

static enum bx_err get_time(json_t *o, const char *name, const char *field, bool required,
                            int64_t *out, struct bx_error *err) {
    json_t *v = json_object_get(o, name);
    *out = 0;
    if (v == NULL || json_is_null(v)) {
        return required ? bad(err, field, "is missing") : BX_OK;
    }
    const char *s = json_string_value(v);
    if (s == NULL || bx_time_parse_rfc3339(s, out) != 0 || *out <= 0) {
        return bad(err, field, "is not an RFC 3339 time");
    }
    return BX_OK;
}

static bool upper3(const char *s, size_t len) {
    if (strlen(s) != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 'A' || s[i] > 'Z') {
            return false;
        }
    }
    return true;
}

static enum bx_err parse_order(json_t *order, const char *key_id, struct tg_order *o,
                               struct bx_error *err) {
    enum bx_err e;
    if (!json_is_object(order)) {
        return bad(err, "order", "is not an object");
    }
    if ((e = get_id(order, "id", "order.id", o->id, err)) != BX_OK ||
        (e = get_id(order, "user_id", "order.user_id", o->user_id, err)) != BX_OK ||
        (e = get_id(order, "event_id", "order.event_id", o->event_id, err)) != BX_OK ||
        (e = get_id(order, "tier_id", "order.tier_id", o->tier_id, err)) != BX_OK) {
        return e;
    }
    if (strcmp(o->id, key_id) != 0) {
        return bad(err, "order.id", "differs from the document's key");
    }
    const char *status = json_string_value(json_object_get(order, "status"));
    if (status == NULL || (strcmp(status, "confirmed") != 0 && strcmp(status, "cancelled") != 0)) {
        return bad(err, "order.status", "is not confirmed or cancelled");
    }
    o->cancelled = strcmp(status, "cancelled") == 0;
    json_t *tickets = json_object_get(order, "tickets");
    if (!json_is_array(tickets) || json_array_size(tickets) == 0 ||
        json_array_size(tickets) > TG_TICKETS_PER_ORDER) {
        return bad(err, "order.tickets", "is not an array of 1 to 100 tickets");
    }
    size_t i;
    json_t *t;
    json_array_foreach(tickets, i, t) {
        char *id = o->tickets[o->n_tickets];
        if ((e = get_id(t, "id", "order.tickets[].id", id, err)) != BX_OK) {
            return e;
        }
        for (size_t k = 0; k < o->n_tickets; k++) {
            if (strcmp(o->tickets[k], id) == 0) {
                return bad(err, "order.tickets[].id", "repeats a ticket");
            }
        }
        o->n_tickets++;
    }
    json_t *q = json_object_get(order, "quantity");
    if (q != NULL && (!json_is_integer(q) || (size_t)json_integer_value(q) != o->n_tickets)) {
        return bad(err, "order.quantity", "differs from the number of tickets");
    }
    return BX_OK;
}

static enum bx_err parse_rendering(json_t *root, struct tg_order *o, struct bx_error *err) {
    enum bx_err e;
    json_t *event = json_object_get(root, "event"), *venue = json_object_get(root, "venue"),
           *tier = json_object_get(root, "tier");
    char id[TG_ID_MAX];
    if ((e = get_text(root, "holder_name", "holder_name", true, o->holder_name, err)) != BX_OK) {
        return e;
    }
    if (!json_is_object(event) || !json_is_object(venue) || !json_is_object(tier)) {
        return bad(err,
                   !json_is_object(event)   ? "event"
                   : !json_is_object(venue) ? "venue"
                                            : "tier",
                   "is not an object");
    }
    if ((e = get_id(event, "id", "event.id", id, err)) != BX_OK) {
        return e;
    }
    if (strcmp(id, o->event_id) != 0) {
        return bad(err, "event.id", "differs from order.event_id");
    }
    if ((e = get_text(event, "title", "event.title", true, o->title, err)) != BX_OK ||
        (e = get_time(event, "starts_at", "event.starts_at", true, &o->starts_at, err)) != BX_OK ||
        (e = get_time(event, "ends_at", "event.ends_at", false, &o->ends_at, err)) != BX_OK) {
        return e;
    }
    if (o->ends_at != 0 && o->ends_at < o->starts_at) {
        return bad(err, "event.ends_at", "is before starts_at");
    }
    char country[TG_TEXT_MAX_BYTES], tz[TG_TEXT_MAX_BYTES];
    if ((e = get_text(venue, "name", "venue.name", true, o->venue_name, err)) != BX_OK ||
        (e = get_text(venue, "city", "venue.city", true, o->venue_city, err)) != BX_OK ||
        (e = get_text(venue, "address", "venue.address", false, o->venue_address, err)) != BX_OK ||
        (e = get_text(venue, "country", "venue.country", true, country, err)) != BX_OK ||
        (e = get_text(venue, "timezone", "venue.timezone", true, tz, err)) != BX_OK) {
        return e;
    }
    if (!upper3(country, 2)) {
        return bad(err, "venue.country", "is not an ISO 3166-1 alpha-2 code");
    }
    bx_strlcpy(o->venue_country, country, sizeof o->venue_country);
    if (!tg_tz_name_valid(tz)) {
        return bad(err, "venue.timezone", "is not an IANA time zone name");
    }
    bx_strlcpy(o->timezone, tz, sizeof o->timezone);
    if ((e = get_id(tier, "id", "tier.id", id, err)) != BX_OK) {
        return e;
    }
    if (strcmp(id, o->tier_id) != 0) {
        return bad(err, "tier.id", "differs from order.tier_id");
    }
    if ((e = get_text(tier, "name", "tier.name", true, o->tier_name, err)) != BX_OK) {
        return e;
    }
    json_t *price = json_object_get(tier, "price_cents");
    if (!json_is_integer(price) || json_integer_value(price) < 0 ||
        json_integer_value(price) > PRICE_MAX_CENTS) {
        return bad(err, "tier.price_cents", "is not an amount");
    }
    o->price_cents = (int64_t)json_integer_value(price);
    const char *cur = json_string_value(json_object_get(tier, "currency"));
    if (cur == NULL || !upper3(cur, 3)) {
        return bad(err, "tier.currency", "is not an ISO 4217 code");
    }
    bx_strlcpy(o->currency, cur, sizeof o->currency);
    return BX_OK;
}

enum bx_err tg_order_parse(const char *doc, size_t len, const char *key_id, struct tg_order *out,
                           struct bx_error *err) {
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL);
    enum bx_err e;
    if (!json_is_object(root)) {
        e = bad(err, "document", "is not a JSON object");
    } else if ((e = parse_order(json_object_get(root, "order"), key_id, out, err)) == BX_OK) {
        if (!out->cancelled) {
            e = parse_rendering(root, out, err);
        } else {
            /* only for how long the revocation is listed; a bad value is no reason to keep a
             * cancelled ticket valid */
            struct bx_error ignored;
            if (get_time(json_object_get(root, "event"), "ends_at", "event.ends_at", false,
                         &out->ends_at, &ignored) != BX_OK) {
                out->ends_at = 0;
            }
        }
    }
    json_decref(root);
    return e;
}

/* ---- processing */

static enum tg_outcome failed(const char *key, const char *what, enum bx_err e) {
    bx_warn("order %s: %s failed (%s); will retry", key, what, bx_err_name(e));
    bx_metric_add(tg.m_failed, 1);
    return TG_RETRY;
}

static enum tg_outcome process_cancelled(const char *key, const struct tg_order *o,
                                         const char *etag) {
    bool cancelled;
    enum bx_err e = tg_order_put(o, NULL, &cancelled);
    if (e != BX_OK) {
        return failed(key, "order record", e);
    }
    const char *ids[TG_TICKETS_PER_ORDER];
    size_t n = 0, newly = 0;
    for (size_t i = 0; i < o->n_tickets; i++) {
        enum tg_status before = TG_PENDING, now;
        struct tg_ticket_rec rec;
        if (tg_ticket_get(o->tickets[i], &rec) == BX_OK) {
            before = rec.status;
        }
        e = tg_ticket_set(o->tickets[i], o, TG_REVOKED, &now);
        if (e == BX_CONFLICT) {
            continue; /* another order's ticket: logged, not ours to revoke */
        }
        if (e != BX_OK) {
            return failed(key, "ticket revocation", e);
        }
        newly += before != TG_REVOKED;
        ids[n++] = o->tickets[i];
        /* revoked first, then the PDF goes: a ready ticket always has its PDF */
        char pdf[32 + TG_ID_MAX];
        struct bx_error err = {0};
        snprintf(pdf, sizeof pdf, TG_TICKET_KEY_PREFIX "%s.pdf", o->tickets[i]);
        if ((e = tg.objects.ops->del(tg.objects.ctx, pdf, &err)) != BX_OK) {
            return failed(key, "PDF delete", e);
        }
    }
    int64_t end = o->ends_at > 0 ? o->ends_at : bx_now_unix_s() + 365 * 24 * 3600;
    if ((e = tg_revoked_add(ids, n, end + TG_REVOKED_GRACE_S)) != BX_OK) {
        return failed(key, "revocation index", e);
    }
    if ((e = tg_order_put(o, etag, &cancelled)) != BX_OK) {
        return failed(key, "order record", e);
    }
    bx_metric_add(tg.m_revoked, (int64_t)newly);
    bx_metric_add(tg.m_processed, 1);
    bx_info("order %s cancelled: %zu ticket(s) revoked", o->id, n);
    return TG_DONE;
}

static enum tg_outcome process_confirmed(struct tg_renderer *r, const char *key,
                                         const struct tg_order *o, const char *etag) {
    struct tg_local lt;
    if (!tg_tz_local(tg.zoneinfo_dir, o->timezone, o->starts_at, &lt)) {
        bx_error("order document %s rejected: venue.timezone %s cannot be read under %s", key,
                 o->timezone, tg.zoneinfo_dir);
        bx_metric_add(tg.m_rejected, 1);
        return TG_REJECTED;
    }
    if (!tg.can_sign) {
        bx_error("order %s: no secret ticket key in %s; cannot issue tickets", o->id, tg.keys_dir);
        bx_metric_add(tg.m_failed, 1);
        return TG_RETRY;
    }
    bool cancelled;
    enum bx_err e = tg_order_put(o, NULL, &cancelled);
    if (e != BX_OK) {
        return failed(key, "order record", e);
    }
    if (cancelled) {
        /* the order was cancelled after this document was read: nothing to issue */
        return (e = tg_order_put(o, etag, &cancelled)) == BX_OK ? TG_DONE
                                                                : failed(key, "order record", e);
    }
    enum tg_status status[TG_TICKETS_PER_ORDER];
    for (size_t i = 0; i < o->n_tickets; i++) { /* listed as pending from now on */
        e = tg_ticket_set(o->tickets[i], o, TG_PENDING, &status[i]);
        if (e == BX_CONFLICT) {
            status[i] = TG_REVOKED; /* another order's ticket id: never issued from here */
        } else if (e != BX_OK) {
            return failed(key, "ticket record", e);
        }
    }
    const struct bx_key *signer = &tg.keys.keys[tg.keys.signing];
    size_t rendered = 0;
    for (size_t i = 0; i < o->n_tickets; i++) {
        if (status[i] == TG_REVOKED) {
            continue;
        }
        struct tg_claims c = {.issued_at = bx_now_unix_s()};
        bx_strlcpy(c.kid, signer->kid, sizeof c.kid);
        bx_strlcpy(c.ticket_id, o->tickets[i], sizeof c.ticket_id);
        bx_strlcpy(c.event_id, o->event_id, sizeof c.event_id);
        bx_strlcpy(c.tier_id, o->tier_id, sizeof c.tier_id);
        bx_strlcpy(c.order_id, o->id, sizeof c.order_id);
        char text[TG_QR_TEXT_MAX];
        if ((e = tg_payload_sign(&tg.keys, &c, text, sizeof text)) != BX_OK) {
            return failed(key, "signing", e);
        }
        struct tg_ticket_view v = {
            .order = o, .ticket_id = o->tickets[i], .qr_text = text, .kid = signer->kid};
        char *pdf = NULL;
        size_t len = 0;
        struct bx_error err = {0};
        if ((e = tg_render(r, &v, &pdf, &len, &err)) != BX_OK) {
            bx_error("order %s ticket %s: rendering failed: %s", o->id, o->tickets[i], err.message);
            return failed(key, "rendering", e);
        }
        char pdf_key[32 + TG_ID_MAX];
        snprintf(pdf_key, sizeof pdf_key, TG_TICKET_KEY_PREFIX "%s.pdf", o->tickets[i]);
        e = tg.objects.ops->put(tg.objects.ctx, pdf_key, pdf, len, "application/pdf", &err);
        free(pdf);
        if (e != BX_OK) {
            return failed(key, "PDF store", e);
        }
        enum tg_status now;
        if ((e = tg_ticket_set(o->tickets[i], o, TG_READY, &now)) != BX_OK) {
            return failed(key, "ticket record", e);
        }
        if (now == TG_REVOKED) {
            /* revoked by a concurrent cancellation after its PDF was deleted: delete ours too */
            if ((e = tg.objects.ops->del(tg.objects.ctx, pdf_key, &err)) != BX_OK) {
                return failed(key, "PDF delete", e);
            }
            continue;
        }
        rendered++;
    }
    if ((e = tg_order_put(o, etag, &cancelled)) != BX_OK) {
        return failed(key, "order record", e);
    }
    bx_metric_add(tg.m_rendered, (int64_t)rendered);
    bx_metric_add(tg.m_processed, 1);
    bx_info("order %s: %zu ticket(s) issued", o->id, rendered);
    return TG_DONE;
}

enum tg_outcome tg_process_key(struct tg_renderer *r, const char *key, char *etag_out,
                               size_t etag_size, bool *final_out) {
    char id[TG_ID_MAX];
    if (etag_out != NULL) {
        etag_out[0] = '\0';
    }
    if (final_out != NULL) {
        *final_out = false;
    }
    if (!bx_object_key_valid(key) || !tg_order_key_id(key, id)) {
        bx_warn("ignoring %s: not orders/<order id>.json", key);
        return TG_REJECTED;
    }
    char *doc = NULL;
    size_t len = 0;
    struct bx_object_info info;
    struct bx_error err = {0};
    memset(&info, 0, sizeof info);
    enum bx_err e =
        tg.objects.ops->get(tg.objects.ctx, key, TG_ORDER_DOC_MAX, &doc, &len, &info, &err);
    if (e == BX_NOT_FOUND) {
        return TG_DONE; /* deleted since it was announced */
    }
    if (e == BX_PAYLOAD_TOO_LARGE) {
        bx_error("order document %s rejected: larger than %d bytes", key, TG_ORDER_DOC_MAX);
        bx_metric_add(tg.m_rejected, 1);
        return TG_REJECTED;
    }
    if (e != BX_OK) {
        return failed(key, "read", e);
    }
    if (etag_out != NULL) {
        bx_strlcpy(etag_out, info.etag, etag_size);
    }
    struct tg_order *o = malloc(sizeof *o);
    if (o == NULL) {
        free(doc);
        return failed(key, "allocation", BX_INTERNAL);
    }
    enum tg_outcome out;
    e = tg_order_parse(doc, len, id, o, &err);
    free(doc);
    if (e != BX_OK) {
        bx_error("order document %s rejected: %s", key, err.message);
        bx_metric_add(tg.m_rejected, 1);
        out = TG_REJECTED;
    } else if (o->cancelled) {
        out = process_cancelled(key, o, info.etag);
        if (final_out != NULL) {
            *final_out = out == TG_DONE;
        }
    } else {
        out = process_confirmed(r, key, o, info.etag);
    }
    free(o);
    return out;
}
