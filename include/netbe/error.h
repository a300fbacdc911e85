/*
 * netbe/error.h - errors a user can act on.
 *
 * Functions that can fail take a `struct netbe_error **errp` last.  On
 * failure they fill *errp (when errp is not NULL and *errp is still NULL)
 * and return -1 or NULL.  The first error set wins, as in QEMU.
 */
#ifndef NETBE_ERROR_H
#define NETBE_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* QMP error classes; GenericError unless a command says otherwise. */
enum netbe_error_class {
    NETBE_ERROR_GENERIC = 0,
    NETBE_ERROR_DEVICE_NOT_FOUND,
    NETBE_ERROR_COMMAND_NOT_FOUND,
};

struct netbe_error {
    enum netbe_error_class cls;
    char *msg;
};

/**
 * netbe_error_setg() - set a generic error
 * @errp: where to store it; NULL ignores the error, an already set
 *        error is kept (the first one wins)
 * @fmt: printf-style message, no trailing newline or period
 */
void netbe_error_setg(struct netbe_error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** netbe_error_set() - as netbe_error_setg() with an error class */
void netbe_error_set(struct netbe_error **errp, enum netbe_error_class cls,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** netbe_error_setv() - va_list form of netbe_error_set() */
void netbe_error_setv(struct netbe_error **errp, enum netbe_error_class cls,
                      const char *fmt, va_list ap);

/**
 * netbe_error_prepend() - put context in front of an error's message
 * @errp: the error; nothing happens when errp or *errp is NULL
 */
void netbe_error_prepend(struct netbe_error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * netbe_error_propagate() - move @err into *@dst
 *
 * When @dst is NULL or already holds an error, @err is freed.
 */
void netbe_error_propagate(struct netbe_error **dst, struct netbe_error *err);

/** netbe_error_free() - free an error; NULL is fine */
void netbe_error_free(struct netbe_error *err);

/** netbe_error_msg() - the message, or "" for NULL */
const char *netbe_error_msg(const struct netbe_error *err);

#ifdef __cplusplus
}
#endif

#endif
