/*
 * netbe/log.h - diagnostics.
 *
 * Messages go to a sink the embedder may replace; the default writes
 * "PROG: LEVEL: message" lines to stderr, as QEMU's error_report() and
 * warn_report() do ("netbe: warning: hub 0 with no nics").
 */
#ifndef NETBE_LOG_H
#define NETBE_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum netbe_log_level {
    NETBE_LOG_ERROR = 0,
    NETBE_LOG_WARNING,
    NETBE_LOG_INFO,
    NETBE_LOG_DEBUG,
};

typedef void netbe_log_sink(enum netbe_log_level level, const char *msg,
                            void *opaque);

/**
 * netbe_log_set_sink() - send every message to @sink instead of stderr
 * @sink: NULL restores the default stderr sink
 */
void netbe_log_set_sink(netbe_log_sink *sink, void *opaque);

/**
 * netbe_log_get_sink() - the sink set last, to restore or chain to it
 * @sink: set to the sink, NULL for the default stderr sink
 * @opaque: set to its opaque pointer
 */
void netbe_log_get_sink(netbe_log_sink **sink, void **opaque);

/** netbe_log_set_level() - drop messages less important than @level */
void netbe_log_set_level(enum netbe_log_level level);
enum netbe_log_level netbe_log_get_level(void);

/** netbe_log_set_prog() - the "PROG: " prefix of the stderr sink */
void netbe_log_set_prog(const char *prog);

void netbe_log(enum netbe_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void netbe_logv(enum netbe_log_level level, const char *fmt, va_list ap);

#define netbe_error_report(...) netbe_log(NETBE_LOG_ERROR, __VA_ARGS__)
#define netbe_warn_report(...) netbe_log(NETBE_LOG_WARNING, __VA_ARGS__)
#define netbe_info_report(...) netbe_log(NETBE_LOG_INFO, __VA_ARGS__)
#define netbe_debug(...) netbe_log(NETBE_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
