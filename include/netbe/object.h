/*
 * netbe/object.h - QEMU's user-creatable objects, as far as the network
 * has them: the net filters (filter-dump, filter-buffer, filter-mirror,
 * filter-redirector) and netbe's own switch-dump, made with -object,
 * HMP object_add / object_del and QMP object-add / object-del.
 *
 * An object is given as QEMU's -object keyval: "qom-type" names its type
 * (the implied first key of an option string, "filter-dump,id=f0,..."),
 * "id" its id, the other keys are the type's properties.  Messages are
 * QEMU 7.2's.  Objects share one id space per context.
 */
#ifndef NETBE_OBJECT_H
#define NETBE_OBJECT_H

#include <stdbool.h>
#include <stdio.h>

#include "netbe/error.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The key that names the type, as QEMU's -object/object_add keyval. */
#define NETBE_OBJECT_TYPE_KEY "qom-type"

/**
 * netbe_object_add_opts() - create an object (QEMU's object-add/object_add)
 * @ctx: the graph; filters with chardevs need its loop
 * @opts: "qom-type", "id" and the properties; values as strings (JSON
 *        numbers and booleans as their text)
 * @errp: QEMU's messages: "Parameter 'qom-type' is missing", "Parameter
 *        'qom-type' does not accept value 'X'", "Parameter 'id' is
 *        missing", "Parameter 'X' is unexpected", "attempt to add
 *        duplicate property 'X' to object (type 'container')", "Parameter
 *        'netdev' expects a network backend id", "Device 'X' not found"...
 * Return: 0, or -1 with nothing made
 */
int netbe_object_add_opts(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                          struct netbe_error **errp);

/**
 * netbe_object_add_str() - netbe_object_add_opts() of an option string
 * ("filter-dump,id=f0,netdev=n0,file=/tmp/x.pcap") or of its JSON form
 * ('{"qom-type": "filter-dump", "id": "f0", ...}')
 */
int netbe_object_add_str(struct netbe_ctx *ctx, const char *str,
                         struct netbe_error **errp);

/**
 * netbe_object_del() - delete object @id (QEMU's object-del/object_del):
 * "object 'X' not found".  A filter that holds frames (filter-buffer)
 * lets them go on first, in order.
 */
int netbe_object_del(struct netbe_ctx *ctx, const char *id,
                     struct netbe_error **errp);

/**
 * netbe_object_check_opts() - what QEMU checks of an -object while it
 * reads the command line, before anything exists: the type, the id, the
 * keys and their value types, with the messages of QEMU's command line
 * ("Invalid parameter 'X'" for an unknown key)
 * Return: 0 or -1
 */
int netbe_object_check_opts(const struct netbe_opts *opts,
                            struct netbe_error **errp);

/**
 * netbe_object_add_cmdline() - netbe_object_add_opts() with the messages
 * of QEMU's command line ("Invalid parameter 'X'"), for -object
 */
int netbe_object_add_cmdline(struct netbe_ctx *ctx,
                             const struct netbe_opts *opts,
                             struct netbe_error **errp);

/**
 * netbe_object_help() - "-object help" (the types) or "-object TYPE,help"
 * (its properties, QEMU's layout) to @out
 * Return: 1 when help was asked and printed, 0 when not asked, -1 with
 *         @errp (help on an unknown type)
 */
int netbe_object_help(const struct netbe_opts *opts, FILE *out,
                      struct netbe_error **errp);

/** netbe_object_exists() - Return: whether object @id exists in @ctx */
bool netbe_object_exists(struct netbe_ctx *ctx, const char *id);

#ifdef __cplusplus
}
#endif

#endif
