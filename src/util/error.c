/*
 * error.c - struct netbe_error: one message a user can act on, with the
 * QMP class it maps to.  The first error set wins, as with QEMU's Error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/error.h"
#include "netbe/util.h"

void netbe_error_setv(struct netbe_error **errp, enum netbe_error_class cls,
                      const char *fmt, va_list ap)
{
    struct netbe_error *err;

    if (!errp || *errp) {
        return;
    }
    err = netbe_malloc0(sizeof(*err));
    err->cls = cls;
    if (vasprintf(&err->msg, fmt, ap) < 0) {
        abort();
    }
    *errp = err;
}

void netbe_error_setg(struct netbe_error **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    netbe_error_setv(errp, NETBE_ERROR_GENERIC, fmt, ap);
    va_end(ap);
}

void netbe_error_set(struct netbe_error **errp, enum netbe_error_class cls,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    netbe_error_setv(errp, cls, fmt, ap);
    va_end(ap);
}

void netbe_error_prepend(struct netbe_error **errp, const char *fmt, ...)
{
    va_list ap;
    char *prefix, *msg;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    if (vasprintf(&prefix, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    msg = netbe_strdup_printf("%s%s", prefix, (*errp)->msg);
    free(prefix);
    free((*errp)->msg);
    (*errp)->msg = msg;
}

void netbe_error_propagate(struct netbe_error **dst, struct netbe_error *err)
{
    if (!err) {
        return;
    }
    if (dst && !*dst) {
        *dst = err;
        return;
    }
    netbe_error_free(err);
}

void netbe_error_free(struct netbe_error *err)
{
    if (err) {
        free(err->msg);
        free(err);
    }
}

const char *netbe_error_msg(const struct netbe_error *err)
{
    return err && err->msg ? err->msg : "";
}
