-- SPDX-License-Identifier: Apache-2.0
-- boxoffice analytics on Flink, job 1 of 2: deduplication.
-- Reads booking-events (JSON, docs/events.md), drops malformed messages (counted), keeps the first
-- message of each id for 24 h (booking publishes at least once) and writes the rest, exactly once
-- (Kafka transactions), to booking-events-dedup, keyed by event id like its source. A job of its own
-- so that its state alone has a time to live: job 2's totals must never expire.
-- Placeholders (envsubst, see README.md): ${KAFKA_BOOTSTRAP}, ${KAFKA_PROPERTIES_SECURITY},
-- ${JDBC_URL}, ${JDBC_USER}, ${JDBC_PASSWORD}.

SET 'pipeline.name' = 'boxoffice-analytics-dedup';
SET 'execution.checkpointing.interval' = '10 s';
SET 'execution.checkpointing.mode' = 'EXACTLY_ONCE';
SET 'state.backend' = 'rocksdb';
SET 'state.backend.incremental' = 'true';
-- the dedup state: ids are forgotten 24 h after they were last seen (the service's retention)
SET 'table.exec.state.ttl' = '24 h';

CREATE TABLE booking_events (
    `id` STRING,
    `type` STRING,
    `version` INT,
    `occurred_at` TIMESTAMP_LTZ(3),
    `event_id` STRING,
    `tier_id` STRING,
    `hold_id` STRING,
    `order_id` STRING,
    `user_id` STRING,
    `quantity` BIGINT,
    `amount_cents` BIGINT,
    `currency` STRING,
    `proc_time` AS PROCTIME()
) WITH (
    'connector' = 'kafka',
    'topic' = 'booking-events',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP}',
    'properties.group.id' = 'analytics-flink-dedup',
    ${KAFKA_PROPERTIES_SECURITY}
    'scan.startup.mode' = 'earliest-offset',
    'format' = 'json',
    -- a malformed value becomes a row of NULLs (or NULL fields) instead of failing the job
    'json.ignore-parse-errors' = 'true',
    'json.fail-on-missing-field' = 'false',
    -- "2026-11-25T18:30:49.123Z"
    'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TABLE booking_events_dedup (
    `id` STRING,
    `type` STRING,
    `occurred_at` TIMESTAMP_LTZ(3),
    `event_id` STRING,
    `tier_id` STRING,
    `quantity` BIGINT,
    `amount_cents` BIGINT,
    `currency` STRING
) WITH (
    'connector' = 'kafka',
    'topic' = 'booking-events-dedup',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP}',
    ${KAFKA_PROPERTIES_SECURITY}
    'key.format' = 'raw',
    'key.fields' = 'event_id',
    'value.format' = 'json',
    'value.json.timestamp-format.standard' = 'ISO-8601',
    'value.fields-include' = 'ALL',
    'sink.delivery-guarantee' = 'exactly-once',
    'sink.transactional-id-prefix' = 'boxoffice-analytics-dedup',
    -- above the checkpoint interval, at most the broker's transaction.max.timeout.ms
    'properties.transaction.timeout.ms' = '900000'
);

-- malformed messages, by minute of arrival (the service counts them in
-- boxoffice_analytics_malformed_total)
CREATE TABLE analytics_malformed (
    `minute` TIMESTAMP(3),
    `messages` BIGINT,
    PRIMARY KEY (`minute`) NOT ENFORCED
) WITH (
    'connector' = 'jdbc',
    'url' = '${JDBC_URL}',
    'table-name' = 'analytics_malformed',
    'username' = '${JDBC_USER}',
    'password' = '${JDBC_PASSWORD}'
);

-- what the service accepts (message.c): the same checks, as far as SQL can say them
CREATE TEMPORARY VIEW checked AS
SELECT *,
    `id` IS NOT NULL AND `id` SIMILAR TO '[0-9A-Za-z_-]{1,64}'
    AND `type` IN ('hold.created', 'hold.released', 'hold.expired', 'order.confirmed',
                   'order.cancelled')
    AND `version` = 1
    AND `occurred_at` IS NOT NULL
    AND `event_id` SIMILAR TO '[0-9A-Za-z_-]{1,64}'
    AND `tier_id` SIMILAR TO '[0-9A-Za-z_-]{1,64}'
    AND `hold_id` SIMILAR TO '[0-9A-Za-z_-]{1,64}'
    AND `user_id` SIMILAR TO '[0-9A-Za-z_-]{1,64}'
    AND (`order_id` IS NOT NULL OR `type` NOT LIKE 'order.%')
    AND `quantity` BETWEEN 1 AND 100000
    AND `amount_cents` BETWEEN 0 AND 1000000000000
    AND `currency` SIMILAR TO '[A-Z]{3}' AS `valid`
FROM booking_events;

EXECUTE STATEMENT SET
BEGIN

INSERT INTO booking_events_dedup
SELECT `id`, `type`, `occurred_at`, `event_id`, `tier_id`, `quantity`, `amount_cents`, `currency`
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `proc_time` ASC) AS `rn`
    FROM checked
    WHERE `valid`
)
WHERE `rn` = 1;  -- keep the first: an append-only stream

INSERT INTO analytics_malformed
SELECT window_start, COUNT(*)
FROM TABLE(TUMBLE(TABLE checked, DESCRIPTOR(`proc_time`), INTERVAL '1' MINUTES))
WHERE NOT `valid` OR `valid` IS NULL
GROUP BY window_start, window_end;

END;
