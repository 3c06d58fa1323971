// SPDX-License-Identifier: Apache-2.0
// Route matching: literal segments, {name} segments (one non-empty segment) and a final {*} that
// takes the rest of the path. Matching is linear over the table, which is small and static.
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "boxoffice/base.h"
#include "boxoffice/http.h"

static const char *const method_names[] = {
    [BX_GET] = "GET",     [BX_HEAD] = "HEAD",     [BX_POST] = "POST",       [BX_PUT] = "PUT",
    [BX_PATCH] = "PATCH", [BX_DELETE] = "DELETE", [BX_OPTIONS] = "OPTIONS", [BX_ANY] = "*",
};

enum bx_method bx_method_parse(const char *s) {
    for (size_t i = 0; i < BX_ANY; i++) {
        if (strcmp(s, method_names[i]) == 0) {
            return (enum bx_method)i;
        }
    }
    return BX_ANY; /* unknown methods never match a route that names a method */
}

const char *bx_method_name(enum bx_method m) {
    return (unsigned)m <= BX_ANY ? method_names[m] : "?";
}

/* Matches path against pattern; on success fills params (into req's arena when req != NULL). */
static bool match(const char *pattern, const char *path, struct bx_req *req) {
    const char *p = pattern, *s = path;
    size_t n_params = 0;
    if (*p != '/' || *s != '/') {
        return false;
    }
    while (*p != '\0') {
        if (*p == '/' && p[1] == '{' && p[2] == '*' && p[3] == '}' && p[4] == '\0') {
            /* "/{*}": the rest, which must be empty or start at a segment boundary */
            if ((*s != '\0' && *s != '/') || n_params == BX_ROUTE_PARAMS_MAX) {
                return false;
            }
            if (req != NULL) {
                req->param_names[n_params] = "*";
                req->param_values[n_params] = bx_arena_strdup(&req->arena, *s ? s + 1 : s);
                n_params++;
            }
            if (req != NULL) {
                req->n_params = n_params;
            }
            return true;
        }
        if (*s != '/' || *p != '/') {
            return false;
        }
        p++;
        s++;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            /* too many params fails with and without req, so both passes agree */
            if (slen == 0 || n_params == BX_ROUTE_PARAMS_MAX) {
                return false;
            }
            if (req != NULL) {
                req->param_names[n_params] = bx_arena_strndup(&req->arena, p + 1, plen - 2);
                req->param_values[n_params] = bx_arena_strndup(&req->arena, s, slen);
            }
            n_params++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (*s != '\0') {
        return false;
    }
    if (req != NULL) {
        req->n_params = n_params;
    }
    return true;
}

int bx_route_match(const struct bx_route *routes, size_t n, enum bx_method method, const char *path,
                   struct bx_req *req, bool *path_matched) {
    *path_matched = false;
    for (size_t i = 0; i < n; i++) {
        if (!match(routes[i].pattern, path, NULL)) {
            continue;
        }
        /* an unknown method (parsed as BX_ANY) only matches BX_ANY routes */
        bool method_ok = routes[i].method == BX_ANY || routes[i].method == method ||
                         (routes[i].method == BX_GET && method == BX_HEAD);
        if (!method_ok) {
            *path_matched = true;
            continue;
        }
        if (req != NULL) {
            req->n_params = 0;
            match(routes[i].pattern, path, req);
        }
        return (int)i;
    }
    return -1;
}

const char *bx_req_param(const struct bx_req *req, const char *name) {
    for (size_t i = 0; i < req->n_params; i++) {
        if (req->param_names[i] != NULL && strcmp(req->param_names[i], name) == 0) {
            return req->param_values[i];
        }
    }
    return NULL;
}
