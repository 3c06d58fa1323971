// SPDX-License-Identifier: Apache-2.0
// Ticket and order records, check-ins and the revocation index in the kv store (layout in
// ticketgen.h). Every update is get -> change -> put at the read version (BX_KV_PUT_IF_VERSION, or
// IF_ABSENT for a new item), retried at most TG_CAS_ATTEMPTS times, so concurrent processors
// (threads, replicas, Lambda instances) lose no update and never move a status backwards.
// Records are checked on read as on write: a record that does not parse is BX_INTERNAL (logged),
// never a guess.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "ticketgen.h"

static const char *const status_names[] = {"pending", "ready", "revoked"};

const char *tg_status_name(enum tg_status s) {
    return (unsigned)s < BX_ARRAY_LEN(status_names) ? status_names[s] : "pending";
}

static int status_parse(const char *s, enum tg_status *out) {
    for (size_t i = 0; s != NULL && i < BX_ARRAY_LEN(status_names); i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum tg_status)i;
            return 0;
        }
    }
    return -1;
}

/* get + parse; *version_out 0 and *out NULL when absent (BX_OK). */
static enum bx_err load(const char *key, json_t **out, uint64_t *version_out) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    *version_out = 0;
    enum bx_err e = tg.kv.ops->get(tg.kv.ctx, key, &text, &len, version_out);
    if (e == BX_NOT_FOUND) {
        return BX_OK;
    }
    if (e != BX_OK) {
        return e;
    }
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        bx_error("corrupt kv record %s", key);
        return BX_INTERNAL;
    }
    return BX_OK;
}

/* Puts v (taking ownership) at version (0: create); BX_CONFLICT when another writer got there. */
static enum bx_err store(const char *key, json_t *v, uint64_t version, int64_t expires_at) {
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (text == NULL) {
        return BX_INTERNAL;
    }
    enum bx_err e = tg.kv.ops->put(tg.kv.ctx, key, text, strlen(text),
                                   version ? BX_KV_PUT_IF_VERSION : BX_KV_PUT_IF_ABSENT, version,
                                   expires_at, NULL);
    free(text);
    return e;
}

static bool copy_id(json_t *o, const char *name, char out[TG_ID_MAX]) {
    const char *s = json_string_value(json_object_get(o, name));
    if (s == NULL || !bx_valid_id(s)) {
        return false;
    }
    bx_strlcpy(out, s, TG_ID_MAX);
    return true;
}

static enum bx_err ticket_decode(const char *key, json_t *v, struct tg_ticket_rec *out) {
    memset(out, 0, sizeof *out);
    json_t *pdf = json_object_get(v, "pdf"), *exp = json_object_get(v, "expires_at");
    if (!copy_id(v, "order_id", out->order_id) || !copy_id(v, "event_id", out->event_id) ||
        !copy_id(v, "tier_id", out->tier_id) || !copy_id(v, "user_id", out->user_id) ||
        status_parse(json_string_value(json_object_get(v, "status")), &out->status) != 0 ||
        !(json_is_null(pdf) || json_is_string(pdf)) || !json_is_integer(exp)) {
        bx_error("corrupt kv record %s", key);
        return BX_INTERNAL;
    }
    out->has_pdf = json_is_string(pdf);
    out->expires_at = (int64_t)json_integer_value(exp);
    /* a ready ticket has its PDF (written before the status) */
    BX_ASSERT(out->status != TG_READY || out->has_pdf);
    return BX_OK;
}

enum bx_err tg_ticket_get(const char *id, struct tg_ticket_rec *out) {
    char key[16 + TG_ID_MAX];
    snprintf(key, sizeof key, "ticket:%s", id);
    json_t *v;
    uint64_t version;
    enum bx_err e = load(key, &v, &version);
    if (e == BX_OK && v == NULL) {
        return BX_NOT_FOUND;
    }
    if (e == BX_OK) {
        e = ticket_decode(key, v, out);
    }
    json_decref(v);
    return e;
}

static int64_t revocation_expiry(const struct tg_order *o) {
    int64_t end = o->ends_at > 0 ? o->ends_at : bx_now_unix_s() + 365 * 24 * 3600;
    return end + TG_REVOKED_GRACE_S;
}

enum bx_err tg_ticket_set(const char *id, const struct tg_order *o, enum tg_status status,
                          enum tg_status *now_out) {
    char key[16 + TG_ID_MAX], pdf[32 + TG_ID_MAX];
    snprintf(key, sizeof key, "ticket:%s", id);
    snprintf(pdf, sizeof pdf, TG_TICKET_KEY_PREFIX "%s.pdf", id);
    for (int attempt = 0; attempt < TG_CAS_ATTEMPTS; attempt++) {
        json_t *v;
        uint64_t version;
        enum bx_err e = load(key, &v, &version);
        if (e != BX_OK) {
            return e;
        }
        struct tg_ticket_rec cur;
        if (v != NULL && (e = ticket_decode(key, v, &cur)) != BX_OK) {
            json_decref(v);
            return e;
        }
        if (v != NULL && strcmp(cur.order_id, o->id) != 0) {
            json_decref(v);
            bx_error("ticket %s belongs to order %s, not %s: left as it is", id, cur.order_id,
                     o->id);
            return BX_CONFLICT;
        }
        /* pending -> ready -> revoked: never backwards, never out of revoked */
        if (v != NULL && (cur.status == TG_REVOKED || cur.status == status ||
                          (cur.status == TG_READY && status == TG_PENDING))) {
            json_decref(v);
            *now_out = cur.status;
            return BX_OK;
        }
        if (v == NULL) {
            v = json_pack("{s:s,s:s,s:s,s:s,s:I}", "order_id", o->id, "event_id", o->event_id,
                          "tier_id", o->tier_id, "user_id", o->user_id, "expires_at",
                          (json_int_t)revocation_expiry(o));
        }
        json_object_set_new(v, "status", json_string(tg_status_name(status)));
        json_object_set_new(v, "pdf", status == TG_READY ? json_string(pdf) : json_null());
        e = store(key, v, version, 0);
        if (e == BX_OK) {
            *now_out = status;
            return BX_OK;
        }
        if (e != BX_CONFLICT) {
            return e;
        }
    }
    bx_warn("ticket %s: %d concurrent updates in a row", id, TG_CAS_ATTEMPTS);
    return BX_UNAVAILABLE;
}

static enum bx_err order_decode(const char *key, json_t *v, struct tg_order_rec *out) {
    memset(out, 0, sizeof *out);
    const char *status = json_string_value(json_object_get(v, "status"));
    const char *etag = json_string_value(json_object_get(v, "etag"));
    json_t *tickets = json_object_get(v, "tickets");
    if (!copy_id(v, "user_id", out->user_id) || !copy_id(v, "event_id", out->event_id) ||
        !copy_id(v, "tier_id", out->tier_id) || status == NULL ||
        (strcmp(status, "confirmed") != 0 && strcmp(status, "cancelled") != 0) || etag == NULL ||
        strlen(etag) >= sizeof out->etag || !json_is_array(tickets) ||
        json_array_size(tickets) > TG_TICKETS_PER_ORDER) {
        bx_error("corrupt kv record %s", key);
        return BX_INTERNAL;
    }
    out->cancelled = strcmp(status, "cancelled") == 0;
    bx_strlcpy(out->etag, etag, sizeof out->etag);
    size_t i;
    json_t *t;
    json_array_foreach(tickets, i, t) {
        const char *s = json_string_value(t);
        if (s == NULL || !bx_valid_id(s)) {
            bx_error("corrupt kv record %s", key);
            return BX_INTERNAL;
        }
        bx_strlcpy(out->tickets[out->n_tickets++], s, TG_ID_MAX);
    }
    return BX_OK;
}

enum bx_err tg_order_get(const char *id, struct tg_order_rec *out) {
    char key[16 + TG_ID_MAX];
    snprintf(key, sizeof key, "order:%s", id);
    json_t *v;
    uint64_t version;
    enum bx_err e = load(key, &v, &version);
    if (e == BX_OK && v == NULL) {
        return BX_NOT_FOUND;
    }
    if (e == BX_OK) {
        e = order_decode(key, v, out);
    }
    json_decref(v);
    return e;
}

enum bx_err tg_order_put(const struct tg_order *o, const char *etag, bool *cancelled_out) {
    char key[16 + TG_ID_MAX];
    snprintf(key, sizeof key, "order:%s", o->id);
    *cancelled_out = o->cancelled;
    for (int attempt = 0; attempt < TG_CAS_ATTEMPTS; attempt++) {
        json_t *v;
        uint64_t version;
        enum bx_err e = load(key, &v, &version);
        if (e != BX_OK) {
            return e;
        }
        struct tg_order_rec cur;
        bool cancelled = o->cancelled;
        const char *keep_etag = "";
        if (v != NULL) {
            if ((e = order_decode(key, v, &cur)) != BX_OK) {
                json_decref(v);
                return e;
            }
            json_decref(v);
            cancelled = cancelled || cur.cancelled; /* cancelled is final */
            keep_etag = cur.etag;
            if (cur.cancelled == cancelled && cur.n_tickets == o->n_tickets &&
                (etag == NULL || strcmp(etag, cur.etag) == 0)) {
                *cancelled_out = cancelled;
                return BX_OK; /* nothing to write */
            }
        }
        json_t *tickets = json_array();
        for (size_t i = 0; i < o->n_tickets; i++) {
            json_array_append_new(tickets, json_string(o->tickets[i]));
        }
        json_t *rec =
            json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "user_id", o->user_id, "event_id", o->event_id,
                      "tier_id", o->tier_id, "status", cancelled ? "cancelled" : "confirmed",
                      "tickets", tickets, "etag", etag != NULL ? etag : keep_etag);
        e = store(key, rec, version, 0);
        if (e == BX_OK) {
            *cancelled_out = cancelled;
            return BX_OK;
        }
        if (e != BX_CONFLICT) {
            return e;
        }
    }
    bx_warn("order %s: %d concurrent updates in a row", o->id, TG_CAS_ATTEMPTS);
    return BX_UNAVAILABLE;
}

enum bx_err tg_revoked_add(const char *const *ids, size_t n, int64_t expires_at) {
    int64_t now = bx_now_unix_s();
    for (int attempt = 0; attempt < TG_CAS_ATTEMPTS; attempt++) {
        json_t *v;
        uint64_t version;
        enum bx_err e = load(TG_REVOKED_INDEX_KEY, &v, &version);
        if (e != BX_OK) {
            return e;
        }
        json_t *old = json_object_get(v, "items"), *items = json_array();
        size_t i, dropped = 0;
        json_t *it;
        json_array_foreach(old, i, it) { /* keep the live ones */
            json_t *x = json_object_get(it, "x");
            if (json_is_string(json_object_get(it, "t")) && json_is_integer(x) &&
                (int64_t)json_integer_value(x) >= now) {
                json_array_append(items, it);
            }
        }
        bool changed = json_array_size(items) != json_array_size(old);
        for (size_t k = 0; k < n; k++) {
            bool present = false;
            json_array_foreach(items, i, it) {
                present =
                    present || strcmp(json_string_value(json_object_get(it, "t")), ids[k]) == 0;
            }
            if (present) {
                continue;
            }
            if (json_array_size(items) >= TG_REVOKED_MAX) {
                dropped++;
                continue;
            }
            json_array_append_new(items,
                                  json_pack("{s:s,s:I}", "t", ids[k], "x", (json_int_t)expires_at));
            changed = true;
        }
        json_decref(v);
        if (dropped > 0) {
            /* online check-ins still refuse them (ticket status); offline scanners will not */
            bx_error("revocation index full (%d live entries): %zu ticket(s) not listed",
                     TG_REVOKED_MAX, dropped);
            bx_metric_add(tg.m_revoked_dropped, (int64_t)dropped);
        }
        if (!changed) {
            json_decref(items);
            return BX_OK;
        }
        e = store(TG_REVOKED_INDEX_KEY, json_pack("{s:o}", "items", items), version, 0);
        if (e != BX_CONFLICT) {
            return e;
        }
    }
    bx_warn("revocation index: %d concurrent updates in a row", TG_CAS_ATTEMPTS);
    return BX_UNAVAILABLE;
}

enum bx_err tg_revoked_list(int64_t now, char **json_out) {
    json_t *v;
    uint64_t version;
    enum bx_err e = load(TG_REVOKED_INDEX_KEY, &v, &version);
    if (e != BX_OK) {
        return e;
    }
    json_t *ids = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(v, "items"), i, it) {
        json_t *t = json_object_get(it, "t"), *x = json_object_get(it, "x");
        if (json_is_string(t) && json_is_integer(x) && (int64_t)json_integer_value(x) >= now) {
            json_array_append(ids, t);
        }
    }
    json_decref(v);
    *json_out = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    return *json_out != NULL ? BX_OK : BX_INTERNAL;
}

enum bx_err tg_checkin_get(const char *id, int64_t *first_at) {
    char key[16 + TG_ID_MAX];
    snprintf(key, sizeof key, "checkin:%s", id);
    json_t *v;
    uint64_t version;
    enum bx_err e = load(key, &v, &version);
    if (e != BX_OK) {
        return e;
    }
    json_t *at = json_object_get(v, "at");
    if (v != NULL && !json_is_integer(at)) {
        bx_error("corrupt kv record %s", key);
        e = BX_INTERNAL;
    } else if (v == NULL) {
        e = BX_NOT_FOUND;
    } else {
        *first_at = (int64_t)json_integer_value(at);
    }
    json_decref(v);
    return e;
}

enum bx_err tg_checkin(const char *id, const char *by, int64_t now, enum tg_checkin_result *res,
                       int64_t *first_at) {
    char key[16 + TG_ID_MAX];
    snprintf(key, sizeof key, "checkin:%s", id);
    /* the one arbiter of "first": a conditional create, atomic in every kv backend */
    enum bx_err e = store(key, json_pack("{s:I,s:s}", "at", (json_int_t)now, "by", by), 0, 0);
    if (e == BX_OK) {
        *res = TG_ADMITTED;
        *first_at = now;
        return BX_OK;
    }
    if (e != BX_CONFLICT) {
        return e;
    }
    *res = TG_ALREADY_USED;
    e = tg_checkin_get(id, first_at);
    return e == BX_NOT_FOUND ? BX_UNAVAILABLE : e; /* check-ins are never deleted */
}
