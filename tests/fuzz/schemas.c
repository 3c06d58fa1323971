// SPDX-License-Identifier: Apache-2.0
// Copies of the services' request schemas (static in services/*/, so they cannot be linked), taken
// on 2026-11-25 from the files named above each one. They cover every field kind: bounded strings,
// int ranges, enums, RFC 3339 times, an array of objects, a string array, nullable and optional
// fields. When a service changes a schema, change its copy here too.
#include "schemas.h"

#include "boxoffice/base.h"

/* ---- services/booking/holds.c (hold_fields), services/booking/orders.c (order_fields) */

#define HOLD_QUANTITY_FIELD_MAX 10000

static const struct bx_json_field hold_fields[] = {
    {.name = "event_id",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct fuzz_hold_body, event_id),
     .required = true,
     .min = 1,
     .max = 64},
    {.name = "tier_id",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct fuzz_hold_body, tier_id),
     .required = true,
     .min = 1,
     .max = 64},
    {.name = "quantity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct fuzz_hold_body, quantity),
     .required = true,
     .min = 1,
     .max = HOLD_QUANTITY_FIELD_MAX},
};

const struct bx_json_schema fuzz_hold_schema = {hold_fields, BX_ARRAY_LEN(hold_fields),
                                                sizeof(struct fuzz_hold_body)};

struct order_body {
    char *hold_id;
};

static const struct bx_json_field order_fields[] = {
    {.name = "hold_id",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct order_body, hold_id),
     .required = true,
     .min = 1,
     .max = 64},
};

static const struct bx_json_schema order_schema = {order_fields, BX_ARRAY_LEN(order_fields),
                                                   sizeof(struct order_body)};

/* ---- services/catalog/venues.c (venue_fields), services/catalog/events.c (tier_fields,
 * create_fields, patch_fields), services/catalog/catalog.h (limits) */

#define CATALOG_NAME_MAX             200
#define CATALOG_TEXT_MAX             5000
#define CATALOG_CATEGORY_MAX         50
#define CATALOG_URL_MAX              2000
#define CATALOG_TIERS_MAX            50
#define CATALOG_CAPACITY_MAX         1000000
#define CATALOG_PRICE_MAX            100000000000LL
#define CATALOG_PER_ORDER_MAX        100
#define CATALOG_TICKETS_PER_USER_MAX 1000

struct venue_body {
    char *name, *address, *city, *country, *timezone;
};

static const struct bx_json_field venue_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, name),
     .required = true,
     .min = 1,
     .max = CATALOG_NAME_MAX},
    {.name = "address",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, address),
     .required = true,
     .min = 1,
     .max = CATALOG_NAME_MAX},
    {.name = "city",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, city),
     .required = true,
     .min = 1,
     .max = 100},
    {.name = "country",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, country),
     .required = true,
     .min = 2,
     .max = 2},
    {.name = "timezone",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct venue_body, timezone),
     .required = true,
     .min = 1,
     .max = 64},
};

static const struct bx_json_schema venue_schema = {venue_fields, BX_ARRAY_LEN(venue_fields),
                                                   sizeof(struct venue_body)};

struct tier_body {
    char *name, *currency;
    int64_t price_cents, capacity, max_per_order;
};

static const struct bx_json_field tier_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct tier_body, name),
     .required = true,
     .min = 1,
     .max = 100},
    {.name = "price_cents",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier_body, price_cents),
     .required = true,
     .min = 0,
     .max = CATALOG_PRICE_MAX},
    {.name = "currency",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct tier_body, currency),
     .required = true,
     .min = 3,
     .max = 3},
    {.name = "capacity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier_body, capacity),
     .required = true,
     .min = 1,
     .max = CATALOG_CAPACITY_MAX},
    {.name = "max_per_order",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct tier_body, max_per_order),
     .min = 1,
     .max = CATALOG_PER_ORDER_MAX},
};

static const struct bx_json_schema tier_schema = {tier_fields, BX_ARRAY_LEN(tier_fields),
                                                  sizeof(struct tier_body)};

struct event_body {
    char *title, *description, *category, *venue_id, *image_url;
    int64_t starts_at, ends_at, sales_start, sales_end, max_tickets_per_user;
    struct tier_body *tiers;
    size_t n_tiers;
};

#define EVENT_FIELDS(tiers_required)                                                               \
    {.name = "title",                                                                              \
     .kind = BX_JSON_STRING,                                                                       \
     .offset = offsetof(struct event_body, title),                                                 \
     .required = tiers_required,                                                                   \
     .min = 1,                                                                                     \
     .max = CATALOG_NAME_MAX},                                                                     \
        {.name = "description",                                                                    \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, description),                                       \
         .nullable = true,                                                                         \
         .min = 0,                                                                                 \
         .max = CATALOG_TEXT_MAX},                                                                 \
        {.name = "category",                                                                       \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, category),                                          \
         .required = tiers_required,                                                               \
         .min = 1,                                                                                 \
         .max = CATALOG_CATEGORY_MAX},                                                             \
        {.name = "venue_id",                                                                       \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, venue_id),                                          \
         .required = tiers_required,                                                               \
         .min = 1,                                                                                 \
         .max = 64},                                                                               \
        {.name = "starts_at",                                                                      \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, starts_at),                                         \
         .required = tiers_required},                                                              \
        {.name = "ends_at",                                                                        \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, ends_at),                                           \
         .required = tiers_required},                                                              \
        {.name = "sales_start",                                                                    \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, sales_start),                                       \
         .nullable = true},                                                                        \
        {.name = "sales_end",                                                                      \
         .kind = BX_JSON_TIME,                                                                     \
         .offset = offsetof(struct event_body, sales_end),                                         \
         .nullable = true},                                                                        \
        {.name = "image_url",                                                                      \
         .kind = BX_JSON_STRING,                                                                   \
         .offset = offsetof(struct event_body, image_url),                                         \
         .nullable = true,                                                                         \
         .min = 1,                                                                                 \
         .max = CATALOG_URL_MAX},                                                                  \
    {                                                                                              \
        .name = "max_tickets_per_user", .kind = BX_JSON_INT,                                       \
        .offset = offsetof(struct event_body, max_tickets_per_user), .nullable = true, .min = 1,   \
        .max = CATALOG_TICKETS_PER_USER_MAX                                                        \
    }

static const struct bx_json_field event_create_fields[] = {
    EVENT_FIELDS(true),
    {.name = "tiers",
     .kind = BX_JSON_ARRAY,
     .offset = offsetof(struct event_body, tiers),
     .count_offset = offsetof(struct event_body, n_tiers),
     .required = true,
     .min = 1,
     .max = CATALOG_TIERS_MAX,
     .items = &tier_schema},
};

static const struct bx_json_field event_patch_fields[] = {EVENT_FIELDS(false)};

static const struct bx_json_schema event_create_schema = {
    event_create_fields, BX_ARRAY_LEN(event_create_fields), sizeof(struct event_body)};
static const struct bx_json_schema event_patch_schema = {
    event_patch_fields, BX_ARRAY_LEN(event_patch_fields), sizeof(struct event_body)};

/* ---- services/users/accounts.c (register_fields, patch_fields, role_fields, role_choices),
 * services/users/users.h (limits) */

#define USERS_EMAIL_MAX    254
#define USERS_NAME_MAX     100
#define USERS_PHONE_MAX    32
#define USERS_PASSWORD_MIN 10
#define USERS_PASSWORD_MAX 256

struct register_body {
    char *email, *password, *name;
};

static const struct bx_json_field register_fields[] = {
    {.name = "email",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct register_body, email),
     .required = true,
     .min = 3,
     .max = USERS_EMAIL_MAX + 16},
    {.name = "password",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct register_body, password),
     .required = true,
     .min = USERS_PASSWORD_MIN,
     .max = USERS_PASSWORD_MAX},
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct register_body, name),
     .required = true,
     .min = 1,
     .max = USERS_NAME_MAX},
};

static const struct bx_json_schema register_schema = {
    register_fields, BX_ARRAY_LEN(register_fields), sizeof(struct register_body)};

struct user_patch_body {
    char *name, *phone, *email;
};

static const struct bx_json_field user_patch_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct user_patch_body, name),
     .min = 1,
     .max = USERS_NAME_MAX},
    {.name = "phone",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct user_patch_body, phone),
     .nullable = true,
     .min = 3,
     .max = USERS_PHONE_MAX},
    {.name = "email",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct user_patch_body, email),
     .min = 3,
     .max = USERS_EMAIL_MAX + 16},
};

static const struct bx_json_schema user_patch_schema = {
    user_patch_fields, BX_ARRAY_LEN(user_patch_fields), sizeof(struct user_patch_body)};

static const char *const role_choices[] = {"customer", "staff", "admin", NULL};

struct role_body {
    int role;
};

static const struct bx_json_field role_fields[] = {
    {.name = "role",
     .kind = BX_JSON_ENUM,
     .offset = offsetof(struct role_body, role),
     .required = true,
     .choices = role_choices},
};

static const struct bx_json_schema role_schema = {role_fields, BX_ARRAY_LEN(role_fields),
                                                  sizeof(struct role_body)};

/* ---- services/ticketgen/routes.c (checkin_fields), services/ticketgen/ticketgen.h */

#define TG_PAYLOAD_MAX 4096

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

/* ---- tests/integration/testserver.c (echo_fields): the one string array (BX_JSON_STRINGS) */

struct echo_body {
    char *name;
    int64_t quantity;
    char **tags;
    size_t n_tags;
};

static const struct bx_json_field echo_fields[] = {
    {.name = "name",
     .kind = BX_JSON_STRING,
     .offset = offsetof(struct echo_body, name),
     .required = true,
     .min = 1,
     .max = 50},
    {.name = "quantity",
     .kind = BX_JSON_INT,
     .offset = offsetof(struct echo_body, quantity),
     .required = true,
     .min = 1,
     .max = 10},
    {.name = "tags",
     .kind = BX_JSON_STRINGS,
     .offset = offsetof(struct echo_body, tags),
     .count_offset = offsetof(struct echo_body, n_tags),
     .max = 5,
     .item_max = 20},
};

static const struct bx_json_schema echo_schema = {echo_fields, BX_ARRAY_LEN(echo_fields),
                                                  sizeof(struct echo_body)};

const struct fuzz_schema fuzz_schemas[] = {
    {"booking.hold", &fuzz_hold_schema},
    {"booking.order", &order_schema},
    {"catalog.venue", &venue_schema},
    {"catalog.tier", &tier_schema},
    {"catalog.event_create", &event_create_schema},
    {"catalog.event_patch", &event_patch_schema},
    {"users.register", &register_schema},
    {"users.patch", &user_patch_schema},
    {"users.role", &role_schema},
    {"ticketgen.checkin", &checkin_schema},
    {"testserver.echo", &echo_schema},
};

const size_t fuzz_n_schemas = BX_ARRAY_LEN(fuzz_schemas);
