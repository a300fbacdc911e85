/*
 * hubport.c - the "hubport" netdev type (QEMU's -netdev hubport): a port
 * of hub N, optionally joined to an existing netdev.  The hubs themselves
 * are the core's (src/core/hub.c).
 */
#include <stdlib.h>

#include "netbe/backend.h"
#include "netbe/net.h"
#include "netbe/opts.h"

static const struct netbe_opt_desc hubport_opts[] = {
    {.name = "hubid",
     .type = NETBE_OPT_INT32,
     .required = true,
     .help = "number of the hub to join"},
    {.name = "netdev",
     .type = NETBE_OPT_STRING,
     .help = "id of a netdev to connect to the new port"},
    {0},
};

static const struct netbe_schema hubport_schema = {
    .type = "hubport",
    .opts = hubport_opts,
};

static int hubport_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                        const char *name, struct netbe_client *peer,
                        struct netbe_error **errp)
{
    const char *netdev = netbe_opts_get(opts, "netdev");
    struct netbe_client *hubpeer = NULL;
    /* The schema checked the int32 range, as QEMU's visitor does. */
    int hubid = (int)strtol(netbe_opts_get(opts, "hubid"), NULL, 0);

    if (netdev) {
        hubpeer = netbe_find_netdev(ctx, netdev);
        if (!hubpeer) {
            netbe_error_setg(errp, "netdev '%s' not found", netdev);
            return -1;
        }
        if (hubpeer->peer) {
            /* QEMU asserts here; a user deserves a message instead. */
            netbe_error_setg(errp, "netdev '%s' is already in use", netdev);
            return -1;
        }
    }
    netbe_hub_add_port(ctx, hubid, name, hubpeer);
    return 0;
}

const struct netbe_backend_type netbe_backend_hubport = {
    .name = "hubport",
    .driver = NETBE_DRIVER_HUBPORT,
    .schema = &hubport_schema,
    .netdev_ok = true,
    .net_ok = false,
    .init = hubport_init,
};
