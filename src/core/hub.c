/*
 * hub.c - QEMU's hubs (net/hub.c): numbered hubs whose ports are clients;
 * a frame entering one port leaves through every other port.  The legacy
 * -net joins hub 0.  Lists are kept newest first, as QEMU's are, so that
 * "info network" prints in QEMU's order.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "netbe/event.h"
#include "netbe/log.h"
#include "netbe/util.h"
#include "netbe/vnet.h"

struct hub_port;

/*
 * The learning table (DESIGN invariant 7: O(1) per frame whatever the
 * sources).  Set-associative: a keyed hash of all 48 bits picks a set of
 * FDB_WAYS entries; a MAC is looked up, refreshed or learned inside its
 * set only, and a new one takes an empty or aged entry there, else its
 * own port's oldest, else — while its port holds less than its share of
 * the table — the set's oldest.  Nothing is allocated or rehashed per
 * frame, and a port inventing source MACs churns its own entries.
 */
#define FDB_WAYS 8
#define FDB_SETS (NETBE_HUB_FDB_MAX / FDB_WAYS)
/* a port may always hold this many, whatever its share */
#define FDB_PORT_MIN 16

struct fdb_entry {
    uint8_t mac[6];
    bool used;
    struct hub_port *port;
    int64_t seen_ms;
};

struct netbe_hub {
    int id;
    int num_ports; /* ids handed out */
    int live_ports;
    LIST_HEAD(, hub_port) ports;
    LIST_ENTRY(netbe_hub) next;
    bool learning;
    bool is_switch; /* made by a switch listener (set_learning) */
    int holders;    /* listeners on it: freed with the last, once empty */
    bool need_kick; /* a port came or went: senders may go on */
    int64_t aging_ms;
    unsigned fdb_count;
    uint64_t evictions;   /* live entries replaced by new sources */
    uint64_t not_learned; /* sources not learned: their port's share full */
    uint64_t key[2];      /* of the hash, random per hub */
    struct fdb_entry *fdb;
    struct netbe_hub_tap *taps; /* captures of the whole hub */
};

struct netbe_hub_tap {
    struct netbe_hub *hub;
    netbe_hub_tap_fn *fn;
    void (*gone)(void *opaque);
    void *opaque;
    struct netbe_hub_tap *next;
};

struct hub_port {
    struct netbe_client nc; /* first: a hub port is a client */
    struct netbe_hub *hub;
    int id;
    unsigned fdb_count; /* entries learned on this port */
    /* the peer port_negotiate() last looked at */
    struct netbe_client *peer_seen;
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

static uint64_t rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)                                               \
    do {                                                                       \
        v0 += v1;                                                              \
        v1 = rotl64(v1, 13) ^ v0;                                              \
        v0 = rotl64(v0, 32);                                                   \
        v2 += v3;                                                              \
        v3 = rotl64(v3, 16) ^ v2;                                              \
        v0 += v3;                                                              \
        v3 = rotl64(v3, 21) ^ v0;                                              \
        v2 += v1;                                                              \
        v1 = rotl64(v1, 17) ^ v2;                                              \
        v2 = rotl64(v2, 32);                                                   \
    } while (0)

/*
 * SipHash-1-3 of the 6-byte MAC under the hub's key: a peer that picks
 * its source MACs cannot aim them at one set without knowing the key.
 */
static unsigned fdb_set(const struct netbe_hub *hub, const uint8_t *mac)
{
    uint64_t m = (uint64_t)mac[0] | (uint64_t)mac[1] << 8 |
                 (uint64_t)mac[2] << 16 | (uint64_t)mac[3] << 24 |
                 (uint64_t)mac[4] << 32 | (uint64_t)mac[5] << 40 |
                 (uint64_t)6 << 56;
    uint64_t v0 = hub->key[0] ^ 0x736f6d6570736575ull;
    uint64_t v1 = hub->key[1] ^ 0x646f72616e646f6dull;
    uint64_t v2 = hub->key[0] ^ 0x6c7967656e657261ull;
    uint64_t v3 = hub->key[1] ^ 0x7465646279746573ull;

    v3 ^= m;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= m;
    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return (unsigned)((v0 ^ v1 ^ v2 ^ v3) % FDB_SETS);
}

static void hub_key_init(struct netbe_hub *hub)
{
    struct timespec ts;

    if (getrandom(hub->key, sizeof(hub->key), GRND_NONBLOCK) ==
        (ssize_t)sizeof(hub->key)) {
        return;
    }
    /* no entropy yet (early boot): better than a fixed key */
    clock_gettime(CLOCK_REALTIME, &ts);
    hub->key[0] =
        (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    hub->key[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)hub;
}

static void fdb_clear(struct netbe_hub *hub, struct fdb_entry *e)
{
    if (e->used) {
        e->port->fdb_count--;
        hub->fdb_count--;
    }
    e->used = false;
    e->port = NULL;
}

static bool fdb_aged(const struct netbe_hub *hub, const struct fdb_entry *e,
                     int64_t now)
{
    return now - e->seen_ms >= hub->aging_ms;
}

/* The share of the table a port may fill with sources of its own. */
static unsigned port_share(const struct netbe_hub *hub)
{
    unsigned share = NETBE_HUB_FDB_MAX /
                     (unsigned)(hub->live_ports > 0 ? hub->live_ports : 1);

    return share > FDB_PORT_MIN ? share : FDB_PORT_MIN;
}

static void fdb_learn(struct netbe_hub *hub, const uint8_t *mac,
                      struct hub_port *port, int64_t now)
{
    struct fdb_entry *set, *empty = NULL, *aged = NULL, *own = NULL;
    struct fdb_entry *oldest = NULL, *e;

    if (netbe_mac_is_multicast(mac)) {
        return;
    }
    set = &hub->fdb[fdb_set(hub, mac) * FDB_WAYS];
    for (int w = 0; w < FDB_WAYS; w++) {
        e = &set[w];
        if (!e->used) {
            empty = empty ? empty : e;
            continue;
        }
        if (memcmp(e->mac, mac, 6) == 0) {
            if (e->port != port) { /* the station moved */
                e->port->fdb_count--;
                port->fdb_count++;
                e->port = port;
            }
            e->seen_ms = now;
            return;
        }
        if (fdb_aged(hub, e, now)) {
            aged = aged ? aged : e;
        } else if (e->port == port && (!own || e->seen_ms < own->seen_ms)) {
            own = e;
        }
        if (!oldest || e->seen_ms < oldest->seen_ms) {
            oldest = e;
        }
    }
    e = empty ? empty : aged ? aged : own;
    if (!e) {
        if (port->fdb_count >= port_share(hub)) {
            hub->not_learned++; /* flooded: its port has its share */
            return;
        }
        e = oldest;
    }
    if (e->used && !fdb_aged(hub, e, now)) {
        hub->evictions++;
    }
    fdb_clear(hub, e);
    memcpy(e->mac, mac, 6);
    e->used = true;
    e->port = port;
    e->seen_ms = now;
    port->fdb_count++;
    hub->fdb_count++;
}

static struct hub_port *fdb_lookup(struct netbe_hub *hub, const uint8_t *mac,
                                   int64_t now)
{
    struct fdb_entry *set = &hub->fdb[fdb_set(hub, mac) * FDB_WAYS];

    for (int w = 0; w < FDB_WAYS; w++) {
        struct fdb_entry *e = &set[w];

        if (e->used && memcmp(e->mac, mac, 6) == 0) {
            return fdb_aged(hub, e, now) ? NULL : e->port;
        }
    }
    return NULL;
}

/* A port leaves: forget what was learned on it (rare, bounded). */
static void fdb_forget_port(struct netbe_hub *hub, struct hub_port *gone)
{
    for (unsigned i = 0; i < NETBE_HUB_FDB_MAX && gone->fdb_count; i++) {
        if (hub->fdb[i].used && hub->fdb[i].port == gone) {
            fdb_clear(hub, &hub->fdb[i]);
        }
    }
}

/*
 * vnet headers across a hub (DESIGN invariant 5).  A port whose peer can
 * carry virtio-net headers (a tap) asks it for 12-byte headers and the
 * offloads netbe can undo in software (checksum, TSO, ECN, USO), so that GSO
 * frames cross the hub as they are.  Each frame is then handed to each
 * destination in the form its peer takes: as it is, with its header
 * converted or stripped, or cut into plain segments with checksums done
 * for a peer without those offloads (stream, dgram: QEMU's wire formats
 * carry no header).
 */
static const struct netbe_offloads hub_offloads = {
    .csum = true,
    .tso4 = true,
    .tso6 = true,
    .ecn = true,
    /* UDP GSO: a device without it turns it down (its offloads say so) */
    .uso4 = true,
    .uso6 = true,
};

/*
 * Ask the port's peer for headers once it has one, and only while no
 * frame of the old form waits on either side of the port.
 */
static void port_negotiate(struct hub_port *p)
{
    struct netbe_client *peer = p->nc.peer;

    if (!peer || p->peer_seen == peer) {
        return;
    }
    if (p->nc.incoming_queue->count || peer->incoming_queue->count) {
        return;
    }
    p->peer_seen = peer;
    if (netbe_has_vnet_hdr(peer) &&
        netbe_has_vnet_hdr_len(peer, NETBE_VNET_HDR_MRG_LEN)) {
        netbe_using_vnet_hdr(peer, true);
        netbe_set_vnet_hdr_len(peer, NETBE_VNET_HDR_MRG_LEN);
        netbe_set_offload(peer, &hub_offloads);
    }
}

static size_t peer_hdr_len(const struct hub_port *p)
{
    return p->nc.peer ? (size_t)p->nc.peer->vnet_hdr_len : 0;
}

static bool peer_be(const struct hub_port *p)
{
    return p->nc.peer && p->nc.peer->vnet_be;
}

static ssize_t hub_piece(void *opaque, const struct iovec *iov, int iovcnt,
                         bool last)
{
    return netbe_sendv_packet(opaque, iov, iovcnt);
}

/* @f to @dst, in the form @dst's peer takes. */
static void hub_send_to(struct core_frame *f, struct hub_port *dst)
{
    static const struct netbe_offloads none;
    struct netbe_client *peer;

    port_negotiate(dst);
    peer = dst->nc.peer;
    if (core_frame_send_as(f, peer_hdr_len(dst), peer_be(dst),
                           peer ? &peer->offloads : &none, &dst->nc.stats,
                           hub_piece, &dst->nc) < 0) {
        dst->nc.stats.drop_malformed++;
    }
}

static ssize_t hub_flood(struct hub_port *src, struct core_frame *f)
{
    struct hub_port *port;
    bool any = false;

    LIST_FOREACH (port, &src->hub->ports, next) {
        if (port != src) {
            hub_send_to(f, port);
            any = true;
        }
    }
    if (!any) {
        src->nc.stats.drop_no_peer++; /* alone on a switch */
    }
    return (ssize_t)f->len;
}

static ssize_t switch_receive(struct hub_port *src, struct core_frame *f)
{
    struct netbe_hub *hub = src->hub;
    uint8_t eth[12];
    const uint8_t *hdr = eth;
    struct hub_port *dst;
    int64_t now;

    if (f->len < f->hdr_len + 14) {
        src->nc.stats.drop_malformed++; /* no Ethernet header to switch */
        return (ssize_t)f->len;
    }
    if (f->body[0].iov_len >= 12) {
        hdr = f->body[0].iov_base;
    } else {
        netbe_iov_to_buf(f->body, f->body_cnt, 0, eth, sizeof(eth));
    }
    now = hub_now_ms(src->nc.ctx);
    fdb_learn(hub, hdr + 6, src, now);
    if (netbe_mac_is_multicast(hdr)) {
        return hub_flood(src, f);
    }
    dst = fdb_lookup(hub, hdr, now);
    if (!dst) {
        return hub_flood(src, f);
    }
    if (dst == src) {
        /* The destination sits behind the port it came from. */
        src->nc.stats.drop_filter++;
        return (ssize_t)f->len;
    }
    hub_send_to(f, dst);
    return (ssize_t)f->len;
}

static ssize_t hub_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                               int iovcnt)
{
    struct hub_port *src = to_port(nc);
    struct netbe_hub_tap *tap;
    struct core_frame f;
    ssize_t ret;

    for (tap = src->hub->taps; tap; tap = tap->next) {
        tap->fn(tap->opaque, nc, iov, iovcnt, peer_hdr_len(src));
    }
    /* the form this frame was sent in */
    if (core_frame_parse(&f, iov, iovcnt, peer_hdr_len(src), peer_be(src)) <
        0) {
        src->nc.stats.drop_malformed++; /* a bad header: never cut */
        return (ssize_t)f.len;
    }
    if (src->hub->learning) {
        ret = switch_receive(src, &f);
    } else {
        ret = hub_flood(src, &f);
    }
    port_negotiate(src); /* from the next frame on */
    return ret;
}

static bool hub_can_receive(struct netbe_client *nc)
{
    struct hub_port *src = to_port(nc), *port;
    bool alone = true;

    LIST_FOREACH (port, &src->hub->ports, next) {
        if (port != src) {
            if (netbe_can_send(&port->nc)) {
                return true;
            }
            alone = false;
        }
    }
    /*
     * QEMU holds what a lone port is sent until another port comes; a
     * switch drops it (counted) so that a VM alone on it is not paused
     * and never gets stale frames delivered to a newcomer.
     */
    return alone && src->hub->is_switch;
}

static void hub_free(struct netbe_hub *hub)
{
    struct netbe_hub_tap *tap;

    while ((tap = hub->taps)) {
        hub->taps = tap->next;
        tap->gone(tap->opaque);
        free(tap);
    }
    LIST_REMOVE(hub, next);
    free(hub->fdb);
    free(hub);
}

static void hub_port_cleanup(struct netbe_client *nc)
{
    struct hub_port *port = to_port(nc);
    struct netbe_hub *hub = port->hub;

    LIST_REMOVE(port, next);
    hub->live_ports--;
    if (hub->fdb) {
        fdb_forget_port(hub, port);
    }
    if (hub->is_switch && hub->holders == 0 && LIST_EMPTY(&hub->ports)) {
        hub_free(hub); /* its listeners went before it */
        return;
    }
    /* senders that waited for this port (hub_can_receive) must go on */
    hub->need_kick = true;
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

struct netbe_hub_tap *netbe_hub_tap_add(struct netbe_ctx *ctx, int hub_id,
                                        netbe_hub_tap_fn *fn,
                                        void (*gone)(void *opaque),
                                        void *opaque)
{
    struct netbe_hub *hub = hub_find(ctx, hub_id);
    struct netbe_hub_tap *tap, **tail;

    if (!hub) {
        return NULL;
    }
    tap = netbe_malloc0(sizeof(*tap));
    tap->hub = hub;
    tap->fn = fn;
    tap->gone = gone;
    tap->opaque = opaque;
    for (tail = &hub->taps; *tail; tail = &(*tail)->next) {
    }
    *tail = tap;
    return tap;
}

void netbe_hub_tap_del(struct netbe_hub_tap *tap)
{
    struct netbe_hub_tap **pp;

    for (pp = &tap->hub->taps; *pp; pp = &(*pp)->next) {
        if (*pp == tap) {
            *pp = tap->next;
            break;
        }
    }
    free(tap);
}

static struct netbe_hub *hub_get(struct netbe_ctx *ctx, int id)
{
    struct netbe_hub *hub = hub_find(ctx, id);

    if (!hub) {
        hub = netbe_malloc0(sizeof(*hub));
        hub->id = id;
        hub->aging_ms = NETBE_HUB_AGING_MS;
        hub_key_init(hub);
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
    hub->is_switch = true;
    if (on && !hub->fdb) {
        hub->fdb = netbe_malloc0(sizeof(*hub->fdb) * NETBE_HUB_FDB_MAX);
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
    /* QEMU's name, but never one a client has: it may be a user's id */
    while (!name) {
        snprintf(default_name, sizeof(default_name), "hub%dport%d", hub_id, id);
        if (netbe_find_clients_except(ctx, default_name, NULL,
                                      NETBE_DRIVER__MAX, 0) == 0) {
            name = default_name;
        } else {
            id = hub->num_ports++;
        }
    }
    port = (struct hub_port *)netbe_client_new(ctx, &hub_port_info, hubpeer,
                                               "hub", name);
    port->hub = hub;
    port->id = id;
    LIST_INSERT_HEAD(&hub->ports, port, next);
    hub->live_ports++;
    /*
     * Senders paused by the other ports may go on through this one, once
     * its peer is ready: on the loop's next turn.
     */
    hub->need_kick = true;
    ctx_defer_kick(ctx, true);
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

    core_enter(nc->ctx);
    LIST_FOREACH (port, &src->hub->ports, next) {
        if (port != src && netbe_queue_flush(port->nc.incoming_queue)) {
            any = true;
        }
    }
    core_leave(nc->ctx);
    return any;
}

void hub_port_peer_gone(struct netbe_client *port)
{
    to_port(port)->hub->need_kick = true;
    to_port(port)->peer_seen = NULL;
}

/* ---- switch ports: one VM of a multi-VM listener each ---- */

char *netbe_switch_port_name(struct netbe_client *listener, unsigned *next)
{
    for (;;) {
        char *name = netbe_strdup_printf("%s.%u", listener->name, (*next)++);

        if (netbe_find_clients_except(listener->ctx, name, NULL,
                                      NETBE_DRIVER__MAX, 0) == 0) {
            return name;
        }
        free(name);
    }
}

/* netbe's switch-port events: which VM, on which listener, hub and port. */
static void tell_switch_port(const char *event, struct netbe_client *conn,
                             struct netbe_client *port, int hub_id)
{
    struct netbe_client *listener = conn->priv->fold_to;

    netbe_event_emit(
        conn->ctx, event,
        (const struct netbe_event_field[]){
            {.name = "netdev-id", .type = NETBE_EVENT_STR, .str = conn->name},
            {.name = "listener",
             .type = NETBE_EVENT_STR,
             .str = listener ? listener->name : ""},
            {.name = "hub", .type = NETBE_EVENT_INT, .num = hub_id},
            {.name = "port", .type = NETBE_EVENT_STR, .str = port->name},
        },
        4);
}

struct netbe_client *netbe_switch_port_join(struct netbe_client *listener,
                                            struct netbe_client *conn,
                                            int hub_id)
{
    size_t bytes = listener->incoming_queue->max_bytes;
    struct netbe_client *port;

    port = netbe_hub_add_port(listener->ctx, hub_id, NULL, conn);
    conn->is_netdev = true;
    conn->incoming_queue->max_bytes = bytes;
    port->incoming_queue->max_bytes = bytes;
    /* when they go, the listener keeps what they counted */
    conn->priv->fold_to = listener;
    port->priv->fold_to = listener;
    port->priv->fold_drops_only = true;
    listener->priv->fold_refs += 2;
    tell_switch_port(NETBE_EVENT_SWITCH_PORT_JOINED, conn, port, hub_id);
    return port;
}

void netbe_switch_port_leave(struct netbe_client *conn)
{
    struct netbe_client *port = conn->peer;

    if (port && port->info->type == NETBE_DRIVER_HUBPORT) {
        tell_switch_port(NETBE_EVENT_SWITCH_PORT_LEFT, conn, port,
                         to_port(port)->hub->id);
        netbe_client_del(port);
    }
}

int netbe_switch_hold(struct netbe_ctx *ctx, int hub_id, bool learning,
                      struct netbe_error **errp)
{
    if (netbe_hub_set_learning(ctx, hub_id, learning, errp) < 0) {
        return -1;
    }
    hub_find(ctx, hub_id)->holders++;
    return 0;
}

void netbe_switch_release(struct netbe_ctx *ctx, int hub_id)
{
    struct netbe_hub *hub = hub_find(ctx, hub_id);

    if (hub && hub->holders > 0 && --hub->holders == 0 &&
        LIST_EMPTY(&hub->ports)) {
        hub_free(hub);
    }
}

bool hubs_need_kick(struct netbe_ctx *ctx)
{
    struct netbe_hub *hub;

    LIST_FOREACH (hub, &ctx->hubs, next) {
        if (hub->need_kick) {
            return true;
        }
    }
    return false;
}

void hubs_kick(struct netbe_ctx *ctx)
{
    struct netbe_hub *hub;
    struct hub_port *port;

    core_enter(ctx);
    LIST_FOREACH (hub, &ctx->hubs, next) {
        if (!hub->need_kick) {
            continue;
        }
        hub->need_kick = false;
        /* deletions meanwhile are deferred: the list stays as it is */
        LIST_FOREACH (port, &hub->ports, next) {
            netbe_queue_flush(port->nc.incoming_queue);
        }
    }
    core_leave(ctx);
}

void netbe_hub_stats(struct netbe_ctx *ctx, FILE *out)
{
    struct netbe_hub *hub;

    LIST_FOREACH (hub, &ctx->hubs, next) {
        if (!hub->fdb) {
            continue;
        }
        fprintf(out,
                "hub %d: learned=%u/%u evictions=%" PRIu64
                " not_learned=%" PRIu64 "\n",
                hub->id, hub->fdb_count, (unsigned)NETBE_HUB_FDB_MAX,
                hub->evictions, hub->not_learned);
    }
}

int netbe_hub_list(struct netbe_ctx *ctx, int *ids, int max)
{
    struct netbe_hub *hub;
    int n = 0;

    LIST_FOREACH (hub, &ctx->hubs, next) {
        if (n < max) {
            ids[n] = hub->id;
        }
        n++;
    }
    return n;
}

int netbe_hub_get_status(struct netbe_ctx *ctx, int hub_id,
                         struct netbe_hub_status *st)
{
    struct netbe_hub *hub = hub_find(ctx, hub_id);

    if (!hub) {
        return -1;
    }
    *st = (struct netbe_hub_status){
        .id = hub->id,
        .learning = hub->learning,
        .is_switch = hub->is_switch,
        .learned = hub->fdb_count,
        .evictions = hub->evictions,
        .not_learned = hub->not_learned,
    };
    return 0;
}

int netbe_hub_get_fdb(struct netbe_ctx *ctx, int hub_id,
                      struct netbe_hub_fdb_entry *out, int max)
{
    struct netbe_hub *hub = hub_find(ctx, hub_id);
    int64_t now;
    unsigned i;
    int n = 0;

    if (!hub || !hub->fdb) {
        return 0;
    }
    now = hub_now_ms(ctx);
    for (i = 0; i < NETBE_HUB_FDB_MAX; i++) {
        const struct fdb_entry *e = &hub->fdb[i];

        if (!e->used || fdb_aged(hub, e, now)) {
            continue;
        }
        if (n < max) {
            memcpy(out[n].mac, e->mac, 6);
            out[n].port = &e->port->nc;
            out[n].age_ms = now - e->seen_ms;
        }
        n++;
    }
    return n;
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

        if (hub->is_switch) {
            continue; /* its VMs join later, through its listener */
        }
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
            case NETBE_DRIVER_PASST:
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
        hub_free(hub);
    }
}
