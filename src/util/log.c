/*
 * log.c - diagnostics with a replaceable sink.  The default sink writes
 * QEMU-style lines: "netbe: warning: hub 0 with no nics".
 */
#include <stdio.h>
#include <stdlib.h>

#include "netbe/log.h"

static netbe_log_sink *sink;
static void *sink_opaque;
static enum netbe_log_level max_level = NETBE_LOG_WARNING;
static const char *prog = "netbe";

void netbe_log_set_sink(netbe_log_sink *s, void *opaque)
{
    sink = s;
    sink_opaque = opaque;
}

void netbe_log_get_sink(netbe_log_sink **s, void **opaque)
{
    *s = sink;
    *opaque = sink_opaque;
}

void netbe_log_set_level(enum netbe_log_level level)
{
    max_level = level;
}

enum netbe_log_level netbe_log_get_level(void)
{
    return max_level;
}

void netbe_log_set_prog(const char *p)
{
    prog = p;
}

void netbe_logv(enum netbe_log_level level, const char *fmt, va_list ap)
{
    static const char *const prefix[] = {
        [NETBE_LOG_ERROR] = "",
        [NETBE_LOG_WARNING] = "warning: ",
        [NETBE_LOG_INFO] = "info: ",
        [NETBE_LOG_DEBUG] = "debug: ",
    };
    char msg[1024];

    if (level > max_level) {
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (sink) {
        sink(level, msg, sink_opaque);
        return;
    }
    fprintf(stderr, "%s: %s%s\n", prog, prefix[level], msg);
}

void netbe_log(enum netbe_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    netbe_logv(level, fmt, ap);
    va_end(ap);
}
