/*
 * netbe/device.h - NIC models netbe serves to VMMs (-device).
 *
 * A device is the NIC side of the graph living in netbe itself: a
 * vhost-user-net device listens on a unix socket as the vhost-user
 * back-end and moves frames between the VM's virtqueues (in memory the
 * VM shares) and the graph.  Each device file exports one const struct
 * netbe_device_type; the table in src/devices/devices.c lists them.
 */
#ifndef NETBE_DEVICE_H
#define NETBE_DEVICE_H

#include <stdio.h>

#include "netbe/error.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#ifdef __cplusplus
extern "C" {
#endif

struct netbe_device_type {
    const char *name; /* "vhost-user-net" */
    const char *desc; /* one line for "-device help" */
    const struct netbe_schema *schema;
    /* @opts passed netbe_opts_check() with @schema; "id" is set */
    int (*init)(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                struct netbe_error **errp);
};

/** netbe_device_types() - NULL-terminated list of compiled-in types */
const struct netbe_device_type *const *netbe_device_types(void);
/** netbe_device_find() - Return: the type called @name, or NULL */
const struct netbe_device_type *netbe_device_find(const char *name);

/**
 * netbe_device_add() - create the device @opts describes ("driver" is
 * its type): "Parameter 'driver' expects a device type", "Parameter 'id'
 * is missing", the schema's messages, then the type's own
 * Return: 0 or -1
 */
int netbe_device_add(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                     struct netbe_error **errp);

/**
 * netbe_device_help() - when @opts asks for help ("-device help",
 * "-device TYPE,help"), print it to @out
 * Return: 1 when help was printed, 0 when not asked, -1 with *errp
 */
int netbe_device_help(const struct netbe_opts *opts, FILE *out,
                      struct netbe_error **errp);

#ifdef __cplusplus
}
#endif

#endif
