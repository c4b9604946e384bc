#include <librdkafka/rdkafka.h>

/* Swift cannot call C variadic functions such as rd_kafka_producev; these fixed-argument wrappers can. */

/* Produces one message (payload and key copied). Takes ownership of `headers` on success only. */
static inline rd_kafka_resp_err_t vs_rd_kafka_produce(rd_kafka_t *rk, const char *topic,
                                                      const void *payload, size_t len,
                                                      const void *key, size_t keylen,
                                                      int64_t timestamp_ms,
                                                      rd_kafka_headers_t *headers,
                                                      void *msg_opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_KEY(key, keylen),
                                 RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_KEY(key, keylen),
                             RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(msg_opaque),
                             RD_KAFKA_V_END);
}
