/*
 * hub.c - QEMU's hubs (net/hub.c): numbered hubs whose ports are clients;
 * a frame entering one port leaves through every other port.  The legacy
 * -net joins hub 0.  Lists are kept newest first, as QEMU's are, so that
 * "info network" prints in QEMU's order.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "netbe/backend.h"
#include "netbe/log.h"
#include "netbe/util.h"

struct hub_port;

/*
 * The learning table: open addressing with linear probing, twice as many
 * slots as entries so probes stay short.  Allocated when learning is
 * switched on, never per frame.
 */
#define FDB_SLOTS (2 * NETBE_HUB_FDB_MAX)

struct fdb_entry {
    uint8_t mac[6];
    bool used;
    struct hub_port *port;
    int64_t seen_ms;
};

struct netbe_hub {
    int id;
    int num_ports;
    LIST_HEAD(, hub_port) ports;
    LIST_ENTRY(netbe_hub) next;
    bool learning;
    int64_t aging_ms;
    unsigned fdb_count;
    struct fdb_entry *fdb;
};

struct hub_port {
    struct netbe_client nc; /* first: a hub port is a client */
    struct netbe_hub *hub;
    int id;
    LIST_ENTRY(hub_port) next;
};

static struct hub_port *to_port(struct netbe_client *nc)
{
    return (struct hub_port *)nc;
}

static int64_t hub_now_ms(struct netbe_ctx *ctx)
{
    struct timespec ts;

    if (ctx->loop) {
        return netbe_clock_ms(ctx->loop);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned fdb_hash(const uint8_t mac[6])
{
    uint32_t v = ((uint32_t)mac[2] << 24 | (uint32_t)mac[3] << 16 |
                  (uint32_t)mac[4] << 8 | mac[5]) ^
                 ((uint32_t)mac[0] << 8 | mac[1]);

    return (v * 2654435761u) % FDB_SLOTS;
}

/* The slot holding @mac, or the empty slot where it would go. */
static struct fdb_entry *fdb_slot(struct netbe_hub *hub, const uint8_t *mac)
{
    unsigned i = fdb_hash(mac);

    for (;;) {
        struct fdb_entry *e = &hub->fdb[i];

        if (!e->used || memcmp(e->mac, mac, 6) == 0) {
            return e;
        }
        i = (i + 1) % FDB_SLOTS;
    }
}

/*
 * Rebuild the table without @gone's entries and, when @now >= 0, without
 * aged ones: when a port leaves, and when the table is full of entries
 * that may have aged.  Rare, so a plain rehash is fine.
 */
static void fdb_rebuild(struct netbe_hub *hub, struct hub_port *gone,
                        int64_t now)
{
    struct fdb_entry *old = hub->fdb;

    hub->fdb = netbe_malloc0(sizeof(*hub->fdb) * FDB_SLOTS);
    hub->fdb_count = 0;
    for (unsigned i = 0; i < FDB_SLOTS; i++) {
        struct fdb_entry *e = &old[i];

        if (!e->used || e->port == gone ||
            (now >= 0 && now - e->seen_ms >= hub->aging_ms)) {
            continue;
        }
        *fdb_slot(hub, e->mac) = *e;
        hub->fdb_count++;
    }
    free(old);
}

static void fdb_learn(struct netbe_hub *hub, const uint8_t *mac,
                      struct hub_port *port, int64_t now)
{
    struct fdb_entry *e;

    if (netbe_mac_is_multicast(mac)) {
        return;
    }
    e = fdb_slot(hub, mac);
    if (!e->used) {
        if (hub->fdb_count >= NETBE_HUB_FDB_MAX) {
            fdb_rebuild(hub, NULL, now);
            if (hub->fdb_count >= NETBE_HUB_FDB_MAX) {
                return; /* full of live entries: flood this source */
            }
            e = fdb_slot(hub, mac);
        }
        memcpy(e->mac, mac, 6);
        e->used = true;
        hub->fdb_count++;
    }
    e->port = port;
    e->seen_ms = now;
}

static struct hub_port *fdb_lookup(struct netbe_hub *hub, const uint8_t *mac,
                                   int64_t now)
{
    struct fdb_entry *e = fdb_slot(hub, mac);

    if (!e->used || now - e->seen_ms >= hub->aging_ms) {
        return NULL;
    }
    return e->port;
}

static ssize_t hub_flood(struct hub_port *src, const struct iovec *iov,
                         int iovcnt)
{
    struct hub_port *port;

    LIST_FOREACH (port, &src->hub->ports, next) {
        if (port != src) {
            netbe_sendv(&port->nc, iov, iovcnt);
        }
    }
    return (ssize_t)netbe_iov_size(iov, iovcnt);
}

static ssize_t switch_receive(struct hub_port *src, const struct iovec *iov,
                              int iovcnt)
{
    struct netbe_hub *hub = src->hub;
    size_t len = netbe_iov_size(iov, iovcnt);
    uint8_t eth[12];
    const uint8_t *hdr = eth;
    struct hub_port *dst;
    int64_t now;

    if (len < 14) {
        src->nc.stats.drop_malformed++; /* no Ethernet header to switch */
        return (ssize_t)len;
    }
    if (iov[0].iov_len >= 12) {
        hdr = iov[0].iov_base;
    } else {
        netbe_iov_to_buf(iov, iovcnt, 0, eth, sizeof(eth));
    }
    now = hub_now_ms(src->nc.ctx);
    fdb_learn(hub, hdr + 6, src, now);
    if (netbe_mac_is_multicast(hdr)) {
        return hub_flood(src, iov, iovcnt);
    }
    dst = fdb_lookup(hub, hdr, now);
    if (!dst) {
        return hub_flood(src, iov, iovcnt);
    }
    if (dst == src) {
        /* The destination sits behind the port it came from. */
        src->nc.stats.drop_filter++;
        return (ssize_t)len;
    }
    netbe_sendv(&dst->nc, iov, iovcnt);
    return (ssize_t)len;
}

static ssize_t hub_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                               int iovcnt)
{
    struct hub_port *src = to_port(nc);

    if (src->hub->learning) {
        return switch_receive(src, iov, iovcnt);
    }
    return hub_flood(src, iov, iovcnt);
}

static bool hub_can_receive(struct netbe_client *nc)
{
    struct hub_port *src = to_port(nc), *port;

    LIST_FOREACH (port, &src->hub->ports, next) {
        if (port != src && netbe_can_send(&port->nc)) {
            return true;
        }
    }
    return false;
}

static void hub_port_cleanup(struct netbe_client *nc)
{
    struct hub_port *port = to_port(nc);

    LIST_REMOVE(port, next);
    if (port->hub->fdb) {
        fdb_rebuild(port->hub, port, -1);
    }
}

static const struct netbe_client_info hub_port_info = {
    .type = NETBE_DRIVER_HUBPORT,
    .size = sizeof(struct hub_port),
    .receive_iov = hub_receive_iov,
    .can_receive = hub_can_receive,
    .cleanup = hub_port_cleanup,
};

static struct netbe_hub *hub_find(struct netbe_ctx *ctx, int id)
{
    struct netbe_hub *hub;

    LIST_FOREACH (hub, &ctx->hubs, next) {
        if (hub->id == id) {
            return hub;
        }
    }
    return NULL;
}

static struct netbe_hub *hub_get(struct netbe_ctx *ctx, int id)
{
    struct netbe_hub *hub = hub_find(ctx, id);

    if (!hub) {
        hub = netbe_malloc0(sizeof(*hub));
        hub->id = id;
        hub->aging_ms = NETBE_HUB_AGING_MS;
        LIST_INIT(&hub->ports);
        LIST_INSERT_HEAD(&ctx->hubs, hub, next);
    }
    return hub;
}

int netbe_hub_set_learning(struct netbe_ctx *ctx, int hub_id, bool on,
                           struct netbe_error **errp)
{
    struct netbe_hub *hub = hub_get(ctx, hub_id);

    hub->learning = on;
    if (on && !hub->fdb) {
        hub->fdb = netbe_malloc0(sizeof(*hub->fdb) * FDB_SLOTS);
        hub->fdb_count = 0;
    }
    return 0;
}

void netbe_hub_set_aging(struct netbe_ctx *ctx, int hub_id, int64_t ms)
{
    hub_get(ctx, hub_id)->aging_ms = ms;
}

struct netbe_client *netbe_hub_add_port(struct netbe_ctx *ctx, int hub_id,
                                        const char *name,
                                        struct netbe_client *hubpeer)
{
    struct netbe_hub *hub = hub_get(ctx, hub_id);
    struct hub_port *port;
    char default_name[64];
    int id;

    id = hub->num_ports++;
    if (!name) {
        snprintf(default_name, sizeof(default_name), "hub%dport%d", hub_id, id);
        name = default_name;
    }
    port = (struct hub_port *)netbe_client_new(ctx, &hub_port_info, hubpeer,
                                               "hub", name);
    port->hub = hub;
    port->id = id;
    LIST_INSERT_HEAD(&hub->ports, port, next);
    return &port->nc;
}

int netbe_hub_id_for_client(struct netbe_client *nc, int *id)
{
    struct hub_port *port;

    if (nc->info->type == NETBE_DRIVER_HUBPORT) {
        port = to_port(nc);
    } else if (nc->peer && nc->peer->info->type == NETBE_DRIVER_HUBPORT) {
        port = to_port(nc->peer);
    } else {
        return -1;
    }
    if (id) {
        *id = port->hub->id;
    }
    return 0;
}

struct netbe_client *netbe_hub_find_port(struct netbe_ctx *ctx, int hub_id)
{
    struct netbe_hub *hub = hub_find(ctx, hub_id);
    struct hub_port *port;

    if (hub) {
        LIST_FOREACH (port, &hub->ports, next) {
            if (!port->nc.peer) {
                return &port->nc;
            }
        }
    }
    return netbe_hub_add_port(ctx, hub_id, NULL, NULL);
}

bool netbe_hub_flush(struct netbe_client *nc)
{
    struct hub_port *src = to_port(nc), *port;
    bool any = false;

    LIST_FOREACH (port, &src->hub->ports, next) {
        if (port != src && netbe_queue_flush(port->nc.incoming_queue)) {
            any = true;
        }
    }
    return any;
}

void netbe_hub_info(struct netbe_ctx *ctx, FILE *out)
{
    struct netbe_hub *hub;
    struct hub_port *port;

    LIST_FOREACH (hub, &ctx->hubs, next) {
        fprintf(out, "hub %d\n", hub->id);
        LIST_FOREACH (port, &hub->ports, next) {
            fprintf(out, " \\ %s", port->nc.name);
            if (port->nc.peer) {
                fprintf(out, ": ");
                netbe_print_client(out, port->nc.peer);
            } else {
                fprintf(out, "\n");
            }
        }
    }
}

void netbe_hub_check_clients(struct netbe_ctx *ctx)
{
    struct netbe_hub *hub;
    struct hub_port *port;

    LIST_FOREACH (hub, &ctx->hubs, next) {
        bool has_nic = false, has_host_dev = false;

        LIST_FOREACH (port, &hub->ports, next) {
            struct netbe_client *peer = port->nc.peer;

            if (!peer) {
                netbe_warn_report("hub port %s has no peer", port->nc.name);
                continue;
            }
            switch (peer->info->type) {
            case NETBE_DRIVER_NIC:
                has_nic = true;
                break;
            case NETBE_DRIVER_USER:
            case NETBE_DRIVER_TAP:
            case NETBE_DRIVER_SOCKET:
            case NETBE_DRIVER_STREAM:
            case NETBE_DRIVER_DGRAM:
            case NETBE_DRIVER_VDE:
            case NETBE_DRIVER_VHOST_USER:
                has_host_dev = true;
                break;
            default:
                break;
            }
        }
        if (has_host_dev && !has_nic) {
            netbe_warn_report("hub %d with no nics", hub->id);
        }
        if (has_nic && !has_host_dev) {
            netbe_warn_report("hub %d is not connected to host network",
                              hub->id);
        }
    }
}

void hubs_free(struct netbe_ctx *ctx)
{
    struct netbe_hub *hub;

    while ((hub = LIST_FIRST(&ctx->hubs))) {
        LIST_REMOVE(hub, next);
        free(hub->fdb);
        free(hub);
    }
}

/* ---- the "hubport" netdev type ---- */

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
