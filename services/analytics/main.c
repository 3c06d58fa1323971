// SPDX-License-Identifier: Apache-2.0
// boxoffice-analytics: real-time sales metrics from topic booking-events, exactly once in effect
// (deduplicated by message id, state and offsets checkpointed in one transaction of its state
// database), served to admins as REST and as Server-Sent Events. Each replica is its own consumer
// group (BOXOFFICE_ANALYTICS_GROUP, default "analytics-<hostname>") reading every partition into
// its own state database, so any replica answers with the whole picture (docs/analytics.md).
// Threads besides HTTP: the consumer, the catalog fetcher and the stream pusher.
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boxoffice/base.h"
#include "boxoffice/log.h"
#include "boxoffice/service.h"
#include "analytics.h"

struct analytics analytics;

static const char *const db_schemes[] = {"sqlite", "postgresql", "postgres", NULL};
static const char *const http_schemes[] = {"http", "https", NULL};
static const char *const assignments[] = {"roundrobin", "range", NULL};

static const struct bx_config_var config[] = {
    {"BOXOFFICE_ANALYTICS_DB", BX_CFG_URL, "sqlite:var/analytics.db",
     "state database (aggregates, offsets, seen ids): sqlite:PATH or postgresql://... (one per "
     "replica)",
     0, 0, db_schemes, &analytics.db_url},
    {"BOXOFFICE_KAFKA", BX_CFG_STRING, "",
     "Kafka bootstrap servers (empty: consume nothing, serve what is stored)", 0, 1024, NULL,
     &analytics.kafka},
    {"BOXOFFICE_KAFKA_TOPIC", BX_CFG_STRING, "booking-events", "topic of booking events", 1, 200,
     NULL, &analytics.topic},
    {"BOXOFFICE_ANALYTICS_GROUP", BX_CFG_STRING, "",
     "consumer group of this replica (empty: analytics-<hostname>); every replica needs its own", 0,
     200, NULL, &analytics.group},
    {"BOXOFFICE_ANALYTICS_ASSIGNMENT", BX_CFG_ENUM, "roundrobin",
     "partition assignment strategy, eager: roundrobin or range", 0, 0, assignments,
     &analytics.assignment},
    {"BOXOFFICE_ANALYTICS_SESSION_TIMEOUT_MS", BX_CFG_INT, "10000",
     "consumer group session timeout (a killed replica's partitions move after this)", 1000, 300000,
     NULL, &analytics.session_timeout_ms},
    {"BOXOFFICE_ANALYTICS_LATENESS_S", BX_CFG_INT, "300",
     "event-time lateness folded into the per-minute series; later messages count in the "
     "totals only",
     0, 172800, NULL, &analytics.lateness_s},
    {"BOXOFFICE_ANALYTICS_BATCH_MAX", BX_CFG_INT, "100000",
     "messages per checkpoint transaction at most", 1, 1000000, NULL, &analytics.batch_max},
    {"BOXOFFICE_ANALYTICS_BATCH_MS", BX_CFG_INT, "100",
     "milliseconds after the first uncommitted message that a checkpoint commits (ten times "
     "this while a backlog is read)",
     1, 10000, NULL, &analytics.batch_ms},
    {"BOXOFFICE_ANALYTICS_DEDUP_RETENTION_S", BX_CFG_INT, "86400",
     "seconds a message id is remembered for deduplication (in memory and the state database)", 60,
     31536000, NULL, &analytics.dedup_retention_s},
    {"BOXOFFICE_ANALYTICS_DEDUP_MAX", BX_CFG_INT, "10000000",
     "message ids remembered at most (16 bytes each in memory, at 3/4 load); past it the oldest "
     "hour is forgotten early",
     1000, 1000000000, NULL, &analytics.dedup_max},
    {"BOXOFFICE_CATALOG_URL", BX_CFG_URL, "http://127.0.0.1:8081",
     "catalog service: event titles and capacities", 0, 0, http_schemes, &analytics.catalog_url},
    {"BOXOFFICE_ANALYTICS_CATALOG_REFRESH_S", BX_CFG_INT, "300",
     "seconds before an event's title and capacity are asked of catalog again", 1, 86400, NULL,
     &analytics.catalog_refresh_s},
    {"BOXOFFICE_ANALYTICS_SSE_CLIENTS_MAX", BX_CFG_INT, "64", "stream clients at most", 1, 1024,
     NULL, &analytics.sse_clients_max},
    {"BOXOFFICE_ANALYTICS_SSE_INTERVAL_MS", BX_CFG_INT, "250",
     "milliseconds between stream rounds (changes are sent at most this often)", 20, 10000, NULL,
     &analytics.sse_interval_ms},
    {"BOXOFFICE_ANALYTICS_LEASE_S", BX_CFG_INT, "30",
     "seconds the writer's lease on the state database lasts unrenewed (a successor on the same "
     "database waits at most this long after a crash)",
     2, 600, NULL, &analytics.lease_s},
    {"BOXOFFICE_ANALYTICS_SSE_HEARTBEAT_S", BX_CFG_INT, "15",
     "seconds of silence before a stream gets a heartbeat comment", 1, 300, NULL,
     &analytics.sse_heartbeat_s},
};

static const struct bx_route routes[] = {
    {BX_GET, "/api/analytics/summary", an_summary_get, BX_AUTH_ADMIN},
    {BX_GET, "/api/analytics/events/{id}", an_event_get, BX_AUTH_ADMIN},
    {BX_GET, "/api/analytics/stream", an_stream_get, BX_AUTH_ADMIN},
};

static void stop(void *ctx);

static enum bx_err init(void *ctx, struct bx_error *err) {
    (void)ctx;
    if (analytics.group[0] != '\0') {
        bx_strlcpy(analytics.group_id, analytics.group, sizeof analytics.group_id);
    } else {
        char host[128] = "";
        if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
            bx_strlcpy(host, "localhost", sizeof host);
        }
        snprintf(analytics.group_id, sizeof analytics.group_id, "analytics-%s", host);
    }
    char host[64] = "", uuid[37];
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
        bx_strlcpy(host, "localhost", sizeof host);
    }
    bx_uuid7(uuid);
    snprintf(analytics.instance, sizeof analytics.instance, "%s:%ld:%s", host, (long)getpid(),
             uuid);
    an_state_init();
    an_seen_init((size_t)analytics.dedup_max);
    enum bx_err e = an_store_open(err);
    if (e != BX_OK) {
        return e;
    }
    pthread_rwlock_wrlock(&an_state.lock);
    e = an_store_load(err);
    pthread_rwlock_unlock(&an_state.lock);
    if (e != BX_OK) {
        an_store_close();
        return e;
    }
    bx_info("analytics: %u event(s) loaded from the state database", an_state.n_events);
    atomic_store(&analytics.loaded, true);
    if ((e = an_stream_start(err)) != BX_OK || (e = an_catalog_start(err)) != BX_OK ||
        (e = an_consumer_start(err)) != BX_OK) {
        stop(ctx);
        return e;
    }
    return BX_OK;
}

static bool ready(void *ctx, char *why, size_t why_size) {
    (void)ctx;
    if (!atomic_load(&analytics.loaded) || analytics.db.ops == NULL ||
        analytics.db.ops->ping(analytics.db.ctx) != BX_OK) {
        snprintf(why, why_size, "state database unreachable");
        return false;
    }
    return an_consumer_healthy(why, why_size);
}

static void stop(void *ctx) {
    (void)ctx;
    an_stream_stop();
    an_consumer_stop(); /* the last checkpoint */
    an_catalog_stop();
    an_store_close();
}

static const struct bx_service service = {
    .name = "analytics",
    .summary = "real-time sales metrics from Kafka",
    .default_port = 8085,
    .routes = routes,
    .n_routes = BX_ARRAY_LEN(routes),
    .config = config,
    .n_config = BX_ARRAY_LEN(config),
    .ctx = &analytics,
    .needs_auth_keys = true,
    .init = init,
    .ready = ready,
    .stop = stop,
};

int main(int argc, char **argv) {
    return bx_service_main(&service, argc, argv);
}
