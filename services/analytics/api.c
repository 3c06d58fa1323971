// SPDX-License-Identifier: Apache-2.0
// The REST side of analytics (admins only): GET /api/analytics/summary and
// GET /api/analytics/events/{id}, rendered from memory under the state's read lock. An event no
// message has named yet is a 404: analytics knows events only from the topic.
#include <string.h>

#include "boxoffice/base.h"
#include "analytics.h"

enum bx_err an_summary_get(struct bx_req *req) {
    pthread_rwlock_rdlock(&an_state.lock);
    json_t *v = an_render_summary(bx_now_unix_s());
    pthread_rwlock_unlock(&an_state.lock);
    return bx_respond_json(req, 200, v);
}

enum bx_err an_event_get(struct bx_req *req) {
    const char *id = bx_req_param(req, "id");
    if (id == NULL || !bx_valid_id(id)) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No sales of this event are known.");
    }
    pthread_rwlock_rdlock(&an_state.lock);
    const struct an_event *ev = an_state_event(id, false);
    json_t *v = ev != NULL ? an_render_event(ev, bx_now_unix_s()) : NULL;
    pthread_rwlock_unlock(&an_state.lock);
    if (ev == NULL) {
        return bx_req_fail(req, BX_NOT_FOUND, NULL, "No sales of this event are known.");
    }
    return bx_respond_json(req, 200, v);
}
