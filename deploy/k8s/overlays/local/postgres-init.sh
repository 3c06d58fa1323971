#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d), in
# deploy/compose.yaml and in the local overlay (mounted from the postgres-init ConfigMap):
# catalog, booking and analytics get a role and a database each. Their table names overlap
# (events, idempotency), so they must never share a database.
set -euo pipefail
: "${CATALOG_DB_PASSWORD:?}" "${BOOKING_DB_PASSWORD:?}" "${ANALYTICS_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v catalog_pw="$CATALOG_DB_PASSWORD" -v booking_pw="$BOOKING_DB_PASSWORD" \
  -v analytics_pw="$ANALYTICS_DB_PASSWORD" <<'SQL'
CREATE ROLE catalog LOGIN PASSWORD :'catalog_pw';
CREATE DATABASE catalog OWNER catalog;
CREATE ROLE booking LOGIN PASSWORD :'booking_pw';
CREATE DATABASE booking OWNER booking;
CREATE ROLE analytics LOGIN PASSWORD :'analytics_pw';
CREATE DATABASE analytics OWNER analytics;
SQL
