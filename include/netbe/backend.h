/*
 * netbe/backend.h - the table of netdev types and QEMU's net_client_init.
 *
 * Each backend file exports one const struct netbe_backend_type; the
 * registry lists those the build found.  Creating a netdev from an option
 * string goes through netbe_net_client_init(), which applies QEMU's rules
 * (type checks, Duplicate ID, -net joining hub 0).
 */
#ifndef NETBE_BACKEND_H
#define NETBE_BACKEND_H

#include <stdbool.h>
#include <stdio.h>

#include "netbe/error.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#ifdef __cplusplus
extern "C" {
#endif

struct netbe_backend_type {
    const char *name; /* "stream" */
    enum netbe_client_driver driver;
    const struct netbe_schema *schema;
    bool netdev_ok; /* may be a -netdev (false for "nic") */
    bool net_ok;    /* may be a legacy -net (false for "hubport") */
    /*
     * Create the client(s) named @name, peered with @peer (the hub 0 port
     * of -net, or NULL).  @opts passed netbe_opts_check() with @schema.
     */
    int (*init)(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                const char *name, struct netbe_client *peer,
                struct netbe_error **errp);
};

/* The core's own type. */
extern const struct netbe_backend_type netbe_backend_hubport;

/** netbe_backend_types() - NULL-terminated list of compiled-in types */
const struct netbe_backend_type *const *netbe_backend_types(void);
const struct netbe_backend_type *netbe_backend_find(const char *name);

/** netbe_backend_print_types() - "Available netdev backend types:" list */
void netbe_backend_print_types(FILE *out);

/**
 * netbe_netdev_opts_check() - check @opts against @type's schema and the
 * keys netbe takes on every type ("queue-bytes=SIZE": the byte limit of
 * the netdev's queues, NETBE_QUEUE_DEFAULT_BYTES unless given)
 * Return: 0, or -1 with QEMU's message for the first bad key in @errp
 */
int netbe_netdev_opts_check(const struct netbe_backend_type *type,
                            const struct netbe_opts *opts,
                            struct netbe_error **errp);

/**
 * netbe_net_client_init() - QEMU's net_client_init for -netdev
 * (@is_netdev) or -net
 *
 * Expands ipv6-net=, generates an id for -net without one, checks the type
 * ("Parameter 'type' expects a netdev backend type", "... a net backend
 * type (maybe it is not compiled into this binary)"), the schema, the id
 * ("Parameter 'id' expects an identifier"), duplicates ("Duplicate ID 'X'
 * for netdev"), then calls the type's init.
 * Return: 0 or -1
 */
int netbe_net_client_init(struct netbe_ctx *ctx, struct netbe_opts *opts,
                          bool is_netdev, struct netbe_error **errp);

/**
 * netbe_netdev_add_str() - parse @str (QEMU syntax or JSON) and
 * netbe_net_client_init() it
 */
int netbe_netdev_add_str(struct netbe_ctx *ctx, const char *str, bool is_netdev,
                         struct netbe_error **errp);

/**
 * netbe_netdev_help() - when @opts asks for help ("help" type, or a "help"
 * key), print it (type list, or the type's options) to @out
 * Return: 1 when help was printed, 0 when not asked, -1 with *errp for
 *         help on an unknown type
 */
int netbe_netdev_help(const struct netbe_opts *opts, FILE *out,
                      struct netbe_error **errp);

#ifdef __cplusplus
}
#endif

#endif
