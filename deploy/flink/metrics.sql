-- SPDX-License-Identifier: Apache-2.0
-- boxoffice analytics on Flink, job 2 of 2: the metrics of services/analytics (docs/analytics.md)
-- from the deduplicated stream of job 1, into PostgreSQL tables (postgres.sql) by upsert:
--  - analytics_sales: per event, tier and currency: seats sold, revenue, seats held, holds
--    created / expired / released, orders, cancellations (all of the stream: late messages too);
--  - analytics_minutes: 1-minute tumbling windows of event time (occurred_at) with a watermark 300 s
--    behind the largest event time (BOXOFFICE_ANALYTICS_LATENESS_S); a message later than that is
--    dropped by the window (counted in the operator's numLateRecordsDropped metric) but is in the
--    totals, as in the service;
--  - analytics_top_events: every minute, the 10 events with the most seats sold in the hour
--    before (1-hour windows sliding by a minute, window Top-N).
-- Exactly once in effect: Kafka offsets are in Flink's checkpoints (read_committed input from job
-- 1's transactions), and the JDBC sink upserts by primary key, so a replay after a failure
-- rewrites the same rows. Titles, capacities and sell-through: join with catalog (README.md).
-- Placeholders (envsubst, see README.md): ${KAFKA_BOOTSTRAP}, ${KAFKA_PROPERTIES_SECURITY},
-- ${JDBC_URL}, ${JDBC_USER}, ${JDBC_PASSWORD}.

SET 'pipeline.name' = 'boxoffice-analytics-metrics';
SET 'execution.checkpointing.interval' = '10 s';
SET 'execution.checkpointing.mode' = 'EXACTLY_ONCE';
SET 'state.backend' = 'rocksdb';
SET 'state.backend.incremental' = 'true';
-- no state TTL: the totals are kept forever (window state is cleaned by the windows themselves)
SET 'table.exec.state.ttl' = '0';
-- emit updated totals at most every second instead of per record
SET 'table.exec.mini-batch.enabled' = 'true';
SET 'table.exec.mini-batch.allow-latency' = '1 s';
SET 'table.exec.mini-batch.size' = '5000';

CREATE TABLE events_dedup (
    `id` STRING,
    `type` STRING,
    `occurred_at` TIMESTAMP_LTZ(3),
    `event_id` STRING,
    `tier_id` STRING,
    `quantity` BIGINT,
    `amount_cents` BIGINT,
    `currency` STRING,
    WATERMARK FOR `occurred_at` AS `occurred_at` - INTERVAL '300' SECOND
) WITH (
    'connector' = 'kafka',
    'topic' = 'booking-events-dedup',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP}',
    'properties.group.id' = 'analytics-flink-metrics',
    'properties.isolation.level' = 'read_committed',
    ${KAFKA_PROPERTIES_SECURITY}
    'scan.startup.mode' = 'earliest-offset',
    'format' = 'json',
    'json.timestamp-format.standard' = 'ISO-8601',
    -- a partition without traffic must not hold the watermark (and every window) back
    'scan.watermark.idle-timeout' = '30 s'
);

CREATE TABLE analytics_sales (
    `event_id` STRING,
    `tier_id` STRING,
    `currency` STRING,
    `sold` BIGINT,
    `revenue_cents` BIGINT,
    `active_holds` BIGINT,
    `holds_created` BIGINT,
    `holds_expired` BIGINT,
    `holds_released` BIGINT,
    `orders` BIGINT,
    `cancellations` BIGINT,
    PRIMARY KEY (`event_id`, `tier_id`, `currency`) NOT ENFORCED
) WITH (
    'connector' = 'jdbc',
    'url' = '${JDBC_URL}',
    'table-name' = 'analytics_sales',
    'username' = '${JDBC_USER}',
    'password' = '${JDBC_PASSWORD}',
    'sink.buffer-flush.interval' = '1 s'
);

CREATE TABLE analytics_minutes (
    `event_id` STRING,
    `minute` TIMESTAMP(3),
    `currency` STRING,
    `tickets_sold` BIGINT,
    `revenue_cents` BIGINT,
    PRIMARY KEY (`event_id`, `minute`, `currency`) NOT ENFORCED
) WITH (
    'connector' = 'jdbc',
    'url' = '${JDBC_URL}',
    'table-name' = 'analytics_minutes',
    'username' = '${JDBC_USER}',
    'password' = '${JDBC_PASSWORD}'
);

CREATE TABLE analytics_top_events (
    `window_end` TIMESTAMP(3),
    `rank_no` BIGINT,
    `event_id` STRING,
    `tickets_sold` BIGINT,
    PRIMARY KEY (`window_end`, `rank_no`) NOT ENFORCED
) WITH (
    'connector' = 'jdbc',
    'url' = '${JDBC_URL}',
    'table-name' = 'analytics_top_events',
    'username' = '${JDBC_USER}',
    'password' = '${JDBC_PASSWORD}'
);

-- signed seats and cents of a sale: + confirmed, - cancelled
CREATE TEMPORARY VIEW sales AS
SELECT *,
    CASE `type` WHEN 'order.confirmed' THEN `quantity`
                WHEN 'order.cancelled' THEN -`quantity` ELSE 0 END AS `seats`,
    CASE `type` WHEN 'order.confirmed' THEN `amount_cents`
                WHEN 'order.cancelled' THEN -`amount_cents` ELSE 0 END AS `cents`
FROM events_dedup;

EXECUTE STATEMENT SET
BEGIN

INSERT INTO analytics_sales
SELECT `event_id`, `tier_id`, `currency`,
    SUM(`seats`),
    SUM(`cents`),
    SUM(CASE `type` WHEN 'hold.created' THEN `quantity`
                    WHEN 'order.cancelled' THEN 0
                    ELSE -`quantity` END),  -- released, expired, confirmed leave the held seats
    SUM(CASE WHEN `type` = 'hold.created' THEN 1 ELSE 0 END),
    SUM(CASE WHEN `type` = 'hold.expired' THEN 1 ELSE 0 END),
    SUM(CASE WHEN `type` = 'hold.released' THEN 1 ELSE 0 END),
    SUM(CASE WHEN `type` = 'order.confirmed' THEN 1 ELSE 0 END),
    SUM(CASE WHEN `type` = 'order.cancelled' THEN 1 ELSE 0 END)
FROM sales
GROUP BY `event_id`, `tier_id`, `currency`;

INSERT INTO analytics_minutes
SELECT `event_id`, window_start, `currency`, SUM(`seats`), SUM(`cents`)
FROM TABLE(TUMBLE(TABLE sales, DESCRIPTOR(`occurred_at`), INTERVAL '1' MINUTES))
WHERE `type` IN ('order.confirmed', 'order.cancelled')
GROUP BY window_start, window_end, `event_id`, `currency`;

INSERT INTO analytics_top_events
SELECT window_end, `rank_no`, `event_id`, `tickets_sold`
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                                 ORDER BY `tickets_sold` DESC, `event_id`) AS `rank_no`
    FROM (
        SELECT window_start, window_end, `event_id`, SUM(`seats`) AS `tickets_sold`
        FROM TABLE(HOP(TABLE sales, DESCRIPTOR(`occurred_at`), INTERVAL '1' MINUTES,
                       INTERVAL '60' MINUTES))
        WHERE `type` IN ('order.confirmed', 'order.cancelled')
        GROUP BY window_start, window_end, `event_id`
    )
)
WHERE `rank_no` <= 10 AND `tickets_sold` > 0;  -- window Top-N: the filter stays outside

END;
