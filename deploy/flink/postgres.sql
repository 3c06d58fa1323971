-- SPDX-License-Identifier: Apache-2.0
-- The sink tables of deploy/flink/*.sql, in the PostgreSQL database the Flink jobs write to (the
-- JDBC connector upserts by primary key: INSERT ... ON CONFLICT DO UPDATE).
CREATE TABLE IF NOT EXISTS analytics_sales (
    event_id TEXT NOT NULL, tier_id TEXT NOT NULL, currency TEXT NOT NULL,
    sold BIGINT NOT NULL, revenue_cents BIGINT NOT NULL, active_holds BIGINT NOT NULL,
    holds_created BIGINT NOT NULL, holds_expired BIGINT NOT NULL, holds_released BIGINT NOT NULL,
    orders BIGINT NOT NULL, cancellations BIGINT NOT NULL,
    PRIMARY KEY (event_id, tier_id, currency));
CREATE TABLE IF NOT EXISTS analytics_minutes (
    event_id TEXT NOT NULL, minute TIMESTAMP(3) NOT NULL, currency TEXT NOT NULL,
    tickets_sold BIGINT NOT NULL, revenue_cents BIGINT NOT NULL,
    PRIMARY KEY (event_id, minute, currency));
CREATE TABLE IF NOT EXISTS analytics_top_events (
    window_end TIMESTAMP(3) NOT NULL, rank_no BIGINT NOT NULL, event_id TEXT NOT NULL,
    tickets_sold BIGINT NOT NULL, PRIMARY KEY (window_end, rank_no));
CREATE TABLE IF NOT EXISTS analytics_malformed (
    minute TIMESTAMP(3) PRIMARY KEY, messages BIGINT NOT NULL);

-- GET /api/analytics/events/{id} from these tables (sell_through needs catalog's capacities:
-- catalog.tiers, when catalog's database is reachable from here, e.g. through postgres_fdw):
--   SELECT event_id, SUM(sold) AS tickets_sold, SUM(active_holds) AS active_holds,
--          SUM(holds_created) AS holds_created, SUM(holds_expired) AS holds_expired,
--          SUM(cancellations) AS cancellations
--   FROM analytics_sales WHERE event_id = $1 GROUP BY event_id;
--   SELECT currency, SUM(revenue_cents) FROM analytics_sales WHERE event_id = $1 GROUP BY currency;
--   SELECT minute, currency, tickets_sold, revenue_cents FROM analytics_minutes
--   WHERE event_id = $1 AND minute >= now() - interval '48 hours' ORDER BY minute, currency;
