#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Dataproc initialization action (deploy/terraform/gcp/dataproc.tf): on the master only, installs
# the Flink SQL Kafka connector, fetches deploy/flink/job.sql from the staging bucket, fills in
# the Kafka settings and submits it to YARN once YARN is up, in the background so that cluster
# creation does not wait for the job. Runs as root; logs to /var/log/boxoffice-flink.log.
# Placeholders replaced in job.sql (the job's author writes them literally):
#   ${KAFKA_BOOTSTRAP_SERVERS} ${KAFKA_SASL_USERNAME} ${KAFKA_SASL_PASSWORD}
# They are meant for the Kafka table options, e.g.
#   'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
#   'properties.security.protocol' = 'SASL_SSL',
#   'properties.sasl.mechanism' = 'SCRAM-SHA-512',
#   'properties.sasl.jaas.config' = 'org.apache.kafka.common.security.scram.ScramLoginModule
#      required username="${KAFKA_SASL_USERNAME}" password="${KAFKA_SASL_PASSWORD}";'
set -euo pipefail

meta() { /usr/share/google/get_metadata_value "attributes/$1"; }

role=$(meta dataproc-role)
if [ "$role" != "Master" ]; then
  exit 0
fi

work=/var/lib/boxoffice-flink
install -d -m 0700 "$work"
log=/var/log/boxoffice-flink.log

job_uri=$(meta boxoffice-flink-job-sql)
bootstrap=$(meta boxoffice-kafka-bootstrap)
username=$(meta boxoffice-kafka-username)
secret=$(meta boxoffice-kafka-password-secret)
connector_url=$(meta boxoffice-kafka-connector-url)

flink_home=/usr/lib/flink
curl -fsSL --retry 5 -o "$flink_home/lib/$(basename "$connector_url")" "$connector_url"
gsutil cp "$job_uri" "$work/job.sql.in"
password=$(gcloud secrets versions access latest --secret="$secret")

# The values go in with a literal replacement (no shell or sed expansion of their characters).
KAFKA_BOOTSTRAP_SERVERS=$bootstrap KAFKA_SASL_USERNAME=$username KAFKA_SASL_PASSWORD=$password \
  python3 - "$work/job.sql.in" "$work/job.sql" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
    text = text.replace("${" + name + "}", os.environ[name])
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    out.write("SET 'execution.target' = 'yarn-per-job';\n")
    out.write(text)
PY
rm -f "$work/job.sql.in"

submit() {
  # YARN's NodeManagers register after the init actions started: wait for one.
  for _ in $(seq 1 120); do
    if yarn node -list 2>/dev/null | grep -q RUNNING; then
      break
    fi
    sleep 5
  done
  HADOOP_CLASSPATH=$(hadoop classpath)
  export HADOOP_CLASSPATH
  "$flink_home/bin/sql-client.sh" -f "$work/job.sql"
}
submit >>"$log" 2>&1 &
disown
