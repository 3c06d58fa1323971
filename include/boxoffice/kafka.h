// SPDX-License-Identifier: Apache-2.0
// Kafka client security settings shared by every librdkafka client of ours (booking's relay,
// analytics' consumer), read from the environment, so the same binaries reach a plaintext broker
// on a laptop and MSK's TLS + SASL/SCRAM listener in production:
//   BOXOFFICE_KAFKA_SECURITY_PROTOCOL  plaintext (default) | ssl | sasl_plaintext | sasl_ssl
//   BOXOFFICE_KAFKA_SASL_MECHANISM     SCRAM-SHA-512 (default with SASL) | SCRAM-SHA-256 | PLAIN
//   BOXOFFICE_KAFKA_SASL_USERNAME, BOXOFFICE_KAFKA_SASL_PASSWORD   (from a Secret; never logged)
//   BOXOFFICE_KAFKA_CA_FILE            CA bundle for TLS (default: the system's)
// Header-only: the library itself does not link librdkafka.
#ifndef BOXOFFICE_KAFKA_H
#define BOXOFFICE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxoffice/log.h"

/* librdkafka's log callback (syslog levels) into the structured log: errors and warnings as such,
 * the rest at debug. Called from librdkafka's threads. */
static inline void bx_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    bx_log(level <= 3   ? BX_LOG_ERROR
           : level == 4 ? BX_LOG_WARN
                        : BX_LOG_DEBUG,
           NULL, "librdkafka %s: %s", fac, buf);
}

/* Applies the settings to conf; 0, or -1 with errstr filled. */
static inline int bx_kafka_conf_security(rd_kafka_conf_t *conf, char *errstr, size_t size) {
    const char *proto = getenv("BOXOFFICE_KAFKA_SECURITY_PROTOCOL");
    if (proto == NULL || proto[0] == '\0') {
        proto = "plaintext";
    }
    if (strcmp(proto, "plaintext") != 0 && strcmp(proto, "ssl") != 0 &&
        strcmp(proto, "sasl_plaintext") != 0 && strcmp(proto, "sasl_ssl") != 0) {
        snprintf(errstr, size,
                 "BOXOFFICE_KAFKA_SECURITY_PROTOCOL: expected plaintext, ssl, sasl_plaintext or "
                 "sasl_ssl");
        return -1;
    }
    if (rd_kafka_conf_set(conf, "security.protocol", proto, errstr, size) != RD_KAFKA_CONF_OK) {
        return -1;
    }
    const char *ca = getenv("BOXOFFICE_KAFKA_CA_FILE");
    if (ca != NULL && ca[0] != '\0' &&
        rd_kafka_conf_set(conf, "ssl.ca.location", ca, errstr, size) != RD_KAFKA_CONF_OK) {
        return -1;
    }
    if (strncmp(proto, "sasl_", 5) != 0) {
        return 0;
    }
    const char *mech = getenv("BOXOFFICE_KAFKA_SASL_MECHANISM");
    const char *user = getenv("BOXOFFICE_KAFKA_SASL_USERNAME");
    const char *pass = getenv("BOXOFFICE_KAFKA_SASL_PASSWORD");
    if (user == NULL || user[0] == '\0' || pass == NULL || pass[0] == '\0') {
        snprintf(errstr, size,
                 "BOXOFFICE_KAFKA_SASL_USERNAME and BOXOFFICE_KAFKA_SASL_PASSWORD are required "
                 "with %s",
                 proto);
        return -1;
    }
    if (rd_kafka_conf_set(conf, "sasl.mechanism", mech && mech[0] ? mech : "SCRAM-SHA-512", errstr,
                          size) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "sasl.username", user, errstr, size) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "sasl.password", pass, errstr, size) != RD_KAFKA_CONF_OK) {
        return -1;
    }
    return 0;
}

#endif
