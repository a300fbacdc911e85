/*
 * client.c - the client graph (QEMU's net/net.c): the context, clients and
 * their peers, NICs, default MAC addresses, the send path with its
 * filters and counters, batches, link state, netdev_del and info network.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "netbe/log.h"
#include "netbe/util.h"

static const char *const driver_names[NETBE_DRIVER__MAX] = {
    [NETBE_DRIVER_NONE] = "none",
    [NETBE_DRIVER_NIC] = "nic",
    [NETBE_DRIVER_USER] = "user",
    [NETBE_DRIVER_TAP] = "tap",
    [NETBE_DRIVER_L2TPV3] = "l2tpv3",
    [NETBE_DRIVER_SOCKET] = "socket",
    [NETBE_DRIVER_STREAM] = "stream",
    [NETBE_DRIVER_DGRAM] = "dgram",
    [NETBE_DRIVER_VDE] = "vde",
    [NETBE_DRIVER_BRIDGE] = "bridge",
    [NETBE_DRIVER_HUBPORT] = "hubport",
    [NETBE_DRIVER_NETMAP] = "netmap",
    [NETBE_DRIVER_VHOST_USER] = "vhost-user",
    [NETBE_DRIVER_VHOST_VDPA] = "vhost-vdpa",
    [NETBE_DRIVER_PASST] = "passt",
    [NETBE_DRIVER_AF_XDP] = "af-xdp",
};

const char *netbe_driver_name(enum netbe_client_driver type)
{
    if ((unsigned)type >= NETBE_DRIVER__MAX || !driver_names[type]) {
        return "unknown";
    }
    return driver_names[type];
}

/* ---- context ---- */

struct netbe_ctx *netbe_ctx_new(struct netbe_loop *loop)
{
    struct netbe_ctx *ctx = netbe_malloc0(sizeof(*ctx));

    ctx->loop = loop;
    TAILQ_INIT(&ctx->clients);
    LIST_INIT(&ctx->hubs);
    LIST_INIT(&ctx->chardevs);
    TAILQ_INIT(&ctx->dying);
    ctx->queue_max_bytes = NETBE_QUEUE_DEFAULT_BYTES;
    return ctx;
}

void netbe_ctx_set_queue_bytes(struct netbe_ctx *ctx, size_t max_bytes)
{
    ctx->queue_max_bytes = max_bytes;
}

void netbe_client_set_queue_bytes(struct netbe_client *nc, size_t max_bytes)
{
    nc->incoming_queue->max_bytes = max_bytes;
}

struct netbe_loop *netbe_ctx_loop(struct netbe_ctx *ctx)
{
    return ctx->loop;
}

void netbe_ctx_free(struct netbe_ctx *ctx)
{
    struct netbe_client *nc;

    if (!ctx) {
        return;
    }
    netbe_ctx_run_deferred(ctx);
    if (ctx->reap_timer) {
        ctx->loop->ops->timer_free(ctx->loop->opaque, ctx->reap_timer);
        ctx->reap_timer = NULL;
    }
    /*
     * Everything goes: no hub kicks between deletions, and a client
     * deleted from a callback meanwhile is still listed, so this loop
     * takes it too.
     */
    ctx->reaping = true;
    ctx->freeing = true;
    /* Deleting one client may delete several (a multiqueue backend). */
    while ((nc = TAILQ_FIRST(&ctx->clients))) {
        if (nc->info->type == NETBE_DRIVER_NIC) {
            netbe_nic_del(nc->nic);
        } else {
            netbe_client_del(nc);
        }
    }
    hubs_free(ctx);
    chardevs_free_all(ctx);
    events_free(ctx);
    pool_destroy(ctx);
    free(ctx->scratch);
    free(ctx);
}

struct netbe_client *netbe_client_first(struct netbe_ctx *ctx)
{
    return TAILQ_FIRST(&ctx->clients);
}

struct netbe_client *netbe_client_next(struct netbe_client *nc)
{
    return TAILQ_NEXT(nc, next);
}

/* ---- clients ---- */

static char *assign_name(struct netbe_ctx *ctx, struct netbe_client *self,
                         const char *model)
{
    struct netbe_client *nc;
    int n = 0;

    TAILQ_FOREACH (nc, &ctx->clients, next) {
        if (nc != self && strcmp(nc->model, model) == 0) {
            n++;
        }
    }
    return netbe_strdup_printf("%s.%d", model, n);
}

static ssize_t deliver_to_client(struct netbe_client *sender, unsigned flags,
                                 const struct iovec *iov, int iovcnt,
                                 void *opaque);

static void flush_list_remove_(struct netbe_client *nc)
{
    struct netbe_client **pp;

    if (!nc->priv->flush_pending) {
        return;
    }
    for (pp = &nc->ctx->flush_list; *pp; pp = &(*pp)->priv->flush_next) {
        if (*pp == nc) {
            *pp = nc->priv->flush_next;
            break;
        }
    }
    nc->priv->flush_pending = false;
}

static void client_destructor(struct netbe_client *nc)
{
    free(nc);
}

/* ---- deletion at a safe point (DESIGN invariant 8) ---- */

static void client_del_now(struct netbe_client *nc);
static void nic_del_now(struct netbe_nic *nic);

static void reap_cb(void *opaque)
{
    netbe_ctx_run_deferred(opaque);
}

/*
 * Run what waits for a safe point: with a loop, on its next turn (so that
 * the backend whose callback asked is back in the loop, not on the
 * stack); without one, when the outermost core call returns.
 */
static void schedule_deferred(struct netbe_ctx *ctx)
{
    struct netbe_loop *l = ctx->loop;

    if (!l || ctx->freeing) {
        return; /* core_leave() runs it, or netbe_ctx_free() */
    }
    if (!ctx->reap_timer) {
        ctx->reap_timer = l->ops->timer_new(l->opaque, reap_cb, ctx);
    }
    if (ctx->reap_timer) {
        l->ops->timer_mod(l->opaque, ctx->reap_timer, netbe_clock_ms(l));
    }
}

void core_leave(struct netbe_ctx *ctx)
{
    if (--ctx->depth == 0 && !ctx->loop && !ctx->reaping &&
        (!TAILQ_EMPTY(&ctx->dying) || hubs_need_kick(ctx))) {
        netbe_ctx_run_deferred(ctx);
    }
}

void ctx_defer_kick(struct netbe_ctx *ctx, bool later)
{
    if (!(later && ctx->loop) && ctx->depth == 0 && !ctx->reaping) {
        hubs_kick(ctx);
        return;
    }
    schedule_deferred(ctx);
}

void netbe_ctx_run_deferred(struct netbe_ctx *ctx)
{
    struct netbe_client *nc;

    if (ctx->reaping || ctx->depth > 0) {
        return;
    }
    ctx->reaping = true;
    for (;;) {
        if ((nc = TAILQ_FIRST(&ctx->dying))) {
            /* still dying: client_del_now() takes the dying siblings */
            TAILQ_REMOVE(&ctx->dying, nc, priv->del_entry);
            nc->priv->in_list = false;
            if (nc->priv->del_nic) {
                nic_del_now(nc->nic);
            } else {
                client_del_now(nc);
            }
            continue;
        }
        if (!hubs_need_kick(ctx)) {
            break;
        }
        hubs_kick(ctx);
    }
    ctx->reaping = false;
}

/*
 * Clients named like @nc and made by the same backend: its queues.  A
 * dying client's are the dying ones: a new netdev may have taken the name.
 */
static int client_siblings(struct netbe_client *nc, struct netbe_client **ncs)
{
    int n = 0;

    for (struct netbe_client *o = TAILQ_FIRST(&nc->ctx->clients); o;
         o = TAILQ_NEXT(o, next)) {
        if (o->info == nc->info && strcmp(o->name, nc->name) == 0 &&
            o->priv->dying == nc->priv->dying && n < NETBE_MAX_QUEUE_NUM) {
            ncs[n++] = o;
        }
    }
    return n;
}

static void mark_dying(struct netbe_client *nc)
{
    nc->priv->dying = true;
    if (nc->incoming_queue) {
        nc->incoming_queue->stopped = true;
    }
    flush_list_remove_(nc);
}

/* Deletion asked for inside a callback: stop the clients, free later. */
static void defer_del(struct netbe_client *nc, bool nic)
{
    struct netbe_client *ncs[NETBE_MAX_QUEUE_NUM];
    int n, i;

    if (nc->priv->dying) {
        return;
    }
    if (nic) {
        n = nc->nic->conf->queues > 1 ? nc->nic->conf->queues : 1;
        for (i = 0; i < n; i++) {
            mark_dying(netbe_nic_get_subqueue(nc->nic, i));
        }
    } else {
        n = client_siblings(nc, ncs);
        for (i = 0; i < n; i++) {
            mark_dying(ncs[i]);
        }
    }
    nc->priv->del_nic = nic;
    nc->priv->in_list = true;
    TAILQ_INSERT_TAIL(&nc->ctx->dying, nc, priv->del_entry);
    schedule_deferred(nc->ctx);
}

/* A deletion that happens now: take @nc off the list of deferred ones. */
static void undefer(struct netbe_client *nc)
{
    if (nc->priv->in_list) {
        TAILQ_REMOVE(&nc->ctx->dying, nc, priv->del_entry);
        nc->priv->in_list = false;
    }
}

static bool host_is_be(void)
{
    return __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
}

static void client_setup(struct netbe_ctx *ctx, struct netbe_client *nc,
                         const struct netbe_client_info *info,
                         struct netbe_client *peer, const char *model,
                         const char *name)
{
    nc->ctx = ctx;
    nc->info = info;
    nc->priv = netbe_malloc0(sizeof(*nc->priv));
    nc->model = netbe_strdup(model);
    nc->name = name ? netbe_strdup(name) : assign_name(ctx, nc, model);
    if (peer) {
        /* Peering is 1:1; callers check before creating. */
        if (peer->peer) {
            abort();
        }
        nc->peer = peer;
        peer->peer = nc;
    }
    TAILQ_INSERT_TAIL(&ctx->clients, nc, next);
    nc->incoming_queue = netbe_queue_new(ctx, deliver_to_client, nc);
    nc->incoming_queue->stats = &nc->stats;
    nc->is_datapath = true;
    nc->vnet_be = host_is_be();
    TAILQ_INIT(&nc->filters);
}

struct netbe_client *netbe_client_new(struct netbe_ctx *ctx,
                                      const struct netbe_client_info *info,
                                      struct netbe_client *peer,
                                      const char *model, const char *name)
{
    struct netbe_client *nc;

    if (info->size < sizeof(struct netbe_client)) {
        abort();
    }
    nc = netbe_malloc0(info->size);
    client_setup(ctx, nc, info, peer, model, name);
    nc->priv->destructor = client_destructor;
    return nc;
}

int netbe_client_set_peer(struct netbe_client *a, struct netbe_client *b,
                          struct netbe_error **errp)
{
    if (a == b || a->peer || b->peer) {
        netbe_error_setg(errp, "netdev '%s' is already in use",
                         a->peer ? a->name : b->name);
        return -1;
    }
    a->peer = b;
    b->peer = a;
    return 0;
}

static void cleanup_client(struct netbe_client *nc)
{
    undefer(nc);
    TAILQ_REMOVE(&nc->ctx->clients, nc, next);
    flush_list_remove_(nc);
    if (nc->info->cleanup) {
        nc->info->cleanup(nc);
    }
}

static void counters_add(struct netbe_counters *to,
                         const struct netbe_counters *c, bool drops_only)
{
    if (!drops_only) {
        to->rx_frames += c->rx_frames;
        to->rx_bytes += c->rx_bytes;
        to->tx_frames += c->tx_frames;
        to->tx_bytes += c->tx_bytes;
    }
    to->drop_link_down += c->drop_link_down;
    to->drop_no_peer += c->drop_no_peer;
    to->drop_oversize += c->drop_oversize;
    to->drop_queue_full += c->drop_queue_full;
    to->drop_filter += c->drop_filter;
    to->drop_malformed += c->drop_malformed;
    to->drop_error += c->drop_error;
    to->drop_purged += c->drop_purged;
    to->sw_segments += c->sw_segments;
}

static void free_client(struct netbe_client *nc)
{
    struct netbe_client *peer = nc->peer;
    struct netbe_client_priv *priv;

    /*
     * Unpeer first: the sent-callbacks below may send again at once, and
     * such a frame must find no peer rather than this dying client.
     */
    if (peer) {
        /* Frames of ours waiting at the peer would name a dead sender. */
        queue_forget(peer->incoming_queue, nc);
        peer->peer = NULL;
        nc->peer = NULL;
        if (peer->info->type == NETBE_DRIVER_HUBPORT) {
            hub_port_peer_gone(peer);
        }
    }
    if (nc->incoming_queue) {
        /* Senders waiting on a callback must hear their frames went. */
        queue_purge_all(nc->incoming_queue);
        netbe_queue_free(nc->incoming_queue);
        nc->incoming_queue = NULL;
    }
    priv = nc->priv;
    if (priv->fold_to) {
        counters_add(&priv->fold_to->stats, &nc->stats, priv->fold_drops_only);
        priv->fold_to->priv->fold_refs--;
    }
    if (priv->fold_refs > 0) {
        /* a listener that went before its VMs: they keep their counts */
        struct netbe_client *o;

        TAILQ_FOREACH (o, &nc->ctx->clients, next) {
            if (o->priv->fold_to == nc) {
                o->priv->fold_to = NULL;
            }
        }
    }
    free(nc->name);
    free(nc->model);
    if (priv->destructor) {
        priv->destructor(nc);
    }
    free(priv);
}

static bool peer_is_nic(struct netbe_client *nc)
{
    return nc->peer && nc->peer->info->type == NETBE_DRIVER_NIC;
}

void netbe_client_del(struct netbe_client *nc)
{
    if (nc->info->type == NETBE_DRIVER_NIC) {
        abort();
    }
    if (nc->priv->cleaned_up) {
        return; /* already deleted; its NIC frees it */
    }
    if (nc->ctx->depth > 0) {
        defer_del(nc, false);
        return;
    }
    client_del_now(nc);
}

static void client_del_now(struct netbe_client *nc)
{
    struct netbe_client *ncs[NETBE_MAX_QUEUE_NUM];
    struct netbe_ctx *ctx = nc->ctx;
    bool outermost = !ctx->reaping;
    int queues, i;

    /* Nothing deferred runs before every sibling below is gone. */
    ctx->reaping = true;
    /* a user's netdev of the same name is not one of our queues */
    queues = client_siblings(nc, ncs);
    for (i = 0; i < queues; i++) {
        filters_delete_all(ncs[i]);
        if (peer_is_nic(ncs[i])) {
            ncs[i]->peer->link_down = true;
            ncs[i]->peer->nic->peer_deleted = true;
        }
    }
    if (peer_is_nic(nc) && nc->peer->info->link_status_changed) {
        nc->peer->info->link_status_changed(nc->peer);
    }
    for (i = 0; i < queues; i++) {
        cleanup_client(ncs[i]);
        if (peer_is_nic(ncs[i])) {
            /*
             * The NIC still points at this backend (QEMU's peer_deleted):
             * keep it, unlisted, until netbe_nic_del() frees it.
             */
            ncs[i]->priv->cleaned_up = true;
            continue;
        }
        free_client(ncs[i]);
    }
    if (outermost) {
        ctx->reaping = false;
        /* senders that waited on what left go on now */
        if (hubs_need_kick(ctx)) {
            ctx_defer_kick(ctx, false);
        }
    }
}

struct netbe_client *netbe_find_netdev(struct netbe_ctx *ctx, const char *id)
{
    struct netbe_client *nc;

    /* a dying client is gone for lookups: its name is free again */
    TAILQ_FOREACH (nc, &ctx->clients, next) {
        if (nc->info->type != NETBE_DRIVER_NIC && !nc->priv->dying &&
            strcmp(nc->name, id) == 0) {
            return nc;
        }
    }
    return NULL;
}

int netbe_find_clients_except(struct netbe_ctx *ctx, const char *id,
                              struct netbe_client **ncs,
                              enum netbe_client_driver except, int max)
{
    struct netbe_client *nc;
    int n = 0;

    TAILQ_FOREACH (nc, &ctx->clients, next) {
        if (nc->info->type == except) {
            continue;
        }
        if (!id || strcmp(nc->name, id) == 0) {
            if (n < max) {
                ncs[n] = nc;
            }
            n++;
        }
    }
    return n;
}

/* ---- NICs ---- */

struct netbe_nic *netbe_nic_new(struct netbe_ctx *ctx,
                                const struct netbe_client_info *info,
                                struct netbe_nic_conf *conf, const char *model,
                                const char *name, void *opaque)
{
    int queues = conf->queues > 1 ? conf->queues : 1;
    struct netbe_nic *nic;

    if (info->type != NETBE_DRIVER_NIC ||
        info->size < sizeof(struct netbe_client)) {
        abort();
    }
    nic = netbe_malloc0(sizeof(*nic));
    /* Queue clients sit in one array; info->size is each one's stride. */
    nic->ncs = netbe_malloc0(info->size * (size_t)queues);
    nic->conf = conf;
    nic->opaque = opaque;
    for (int i = 0; i < queues; i++) {
        struct netbe_client *nc = netbe_nic_get_subqueue(nic, i);

        client_setup(ctx, nc, info, conf->peers ? conf->peers[i] : NULL, model,
                     name);
        nc->queue_index = i;
        nc->nic = nic;
    }
    return nic;
}

struct netbe_client *netbe_nic_get_subqueue(struct netbe_nic *nic, int i)
{
    size_t stride =
        nic->ncs->info ? nic->ncs->info->size : sizeof(struct netbe_client);

    return (struct netbe_client *)((char *)nic->ncs + stride * (size_t)i);
}

struct netbe_client *netbe_nic_get_queue(struct netbe_nic *nic)
{
    return nic->ncs;
}

struct netbe_nic *netbe_get_nic(struct netbe_client *nc)
{
    return nc->nic;
}

void *netbe_get_nic_opaque(struct netbe_client *nc)
{
    return nc->nic ? nc->nic->opaque : NULL;
}

struct netbe_client *netbe_get_peer(struct netbe_client *nc, int queue_index)
{
    if (nc->nic) {
        return netbe_nic_get_subqueue(nc->nic, queue_index)->peer;
    }
    return nc->peer;
}

void netbe_nic_del(struct netbe_nic *nic)
{
    if (nic->ncs->ctx->depth > 0) {
        defer_del(nic->ncs, true);
        return;
    }
    nic_del_now(nic);
}

static void nic_del_now(struct netbe_nic *nic)
{
    int queues = nic->conf->queues > 1 ? nic->conf->queues : 1;
    struct netbe_ctx *ctx = nic->ncs->ctx;
    bool outermost = !ctx->reaping;
    int i;

    ctx->reaping = true;
    netbe_macaddr_set_free(ctx, nic->conf->macaddr);
    for (i = 0; i < queues; i++) {
        struct netbe_client *peer = netbe_nic_get_subqueue(nic, i)->peer;

        if (peer && peer->priv->cleaned_up) {
            free_client(peer); /* deleted earlier, waiting for us */
        } else if (peer) {
            netbe_purge_queued(peer);
        }
    }
    for (i = queues - 1; i >= 0; i--) {
        struct netbe_client *nc = netbe_nic_get_subqueue(nic, i);

        filters_delete_all(nc);
        cleanup_client(nc);
        free_client(nc);
    }
    free(nic->ncs);
    free(nic);
    if (outermost) {
        ctx->reaping = false;
        if (hubs_need_kick(ctx)) {
            ctx_defer_kick(ctx, false);
        }
    }
}

void netbe_format_nic_info_str(struct netbe_client *nc, const uint8_t mac[6])
{
    snprintf(nc->info_str, sizeof(nc->info_str),
             "model=%s,macaddr=%02x:%02x:%02x:%02x:%02x:%02x", nc->model,
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* ---- MAC addresses: 52:54:00:12:34:XX handed out from :56 upward ---- */

static const uint8_t mac_base[5] = {0x52, 0x54, 0x00, 0x12, 0x34};

void netbe_macaddr_default_if_unset(struct netbe_ctx *ctx, uint8_t mac[6])
{
    int i;

    if (!netbe_mac_is_zero(mac)) {
        if (memcmp(mac, mac_base, 5) == 0 && mac[5] >= 0x56 && mac[5] < 0xff) {
            ctx->mac_table[mac[5]]++;
        }
        return;
    }
    memcpy(mac, mac_base, 5);
    /* QEMU hands out 0xff once :56..:fe are taken; so do we. */
    mac[5] = 0xff;
    for (i = 0x56; i < 0xff; i++) {
        if (ctx->mac_table[i] == 0) {
            mac[5] = (uint8_t)i;
            ctx->mac_table[i]++;
            break;
        }
    }
}

void netbe_macaddr_set_free(struct netbe_ctx *ctx, const uint8_t mac[6])
{
    if (memcmp(mac, mac_base, 5) == 0 && mac[5] >= 0x56 && mac[5] < 0xff &&
        ctx->mac_table[mac[5]] > 0) {
        ctx->mac_table[mac[5]]--;
    }
}

int netbe_macaddr_check(const uint8_t mac[6], struct netbe_error **errp)
{
    if (netbe_mac_is_multicast(mac)) {
        netbe_error_setg(errp, "NIC cannot have multicast MAC address (odd 1st "
                               "byte)");
        return -1;
    }
    return 0;
}

/* ---- send and receive ---- */

bool netbe_can_receive(struct netbe_client *nc)
{
    if (nc->receive_disabled) {
        return false;
    }
    return !nc->info->can_receive || nc->info->can_receive(nc);
}

bool netbe_can_send(struct netbe_client *sender)
{
    if (!sender || !sender->peer) {
        return true;
    }
    return netbe_can_receive(sender->peer);
}

bool netbe_peer_queue_has_room(struct netbe_client *sender)
{
    struct netbe_queue *q;

    if (!sender || !sender->peer || !sender->peer->incoming_queue) {
        return false;
    }
    q = sender->peer->incoming_queue;
    return q->count < q->maxlen && (!q->max_bytes || q->bytes < q->max_bytes);
}

void netbe_batch_begin(struct netbe_ctx *ctx)
{
    ctx->batch_depth++;
}

void netbe_batch_end(struct netbe_ctx *ctx)
{
    if (--ctx->batch_depth > 0) {
        return;
    }
    core_enter(ctx);
    /* A flush may send, and so start and end a batch of its own. */
    while (ctx->flush_list) {
        struct netbe_client *nc = ctx->flush_list;

        ctx->flush_list = nc->priv->flush_next;
        nc->priv->flush_next = NULL;
        nc->priv->flush_pending = false;
        nc->info->flush(nc);
    }
    core_leave(ctx);
}

static void note_received(struct netbe_client *nc)
{
    struct netbe_ctx *ctx = nc->ctx;

    if (!nc->info->flush) {
        return;
    }
    if (ctx->batch_depth == 0) {
        nc->info->flush(nc);
        return;
    }
    if (!nc->priv->flush_pending) {
        nc->priv->flush_pending = true;
        nc->priv->flush_next = ctx->flush_list;
        ctx->flush_list = nc;
    }
}

/* receive() wants one buffer: gather into the context's scratch buffer. */
static ssize_t receive_linear(struct netbe_client *nc, unsigned flags,
                              const struct iovec *iov, int iovcnt)
{
    ssize_t (*fn)(struct netbe_client *, const uint8_t *, size_t);
    struct netbe_ctx *ctx = nc->ctx;
    uint8_t *buf;
    size_t size;
    ssize_t ret;

    fn = (flags & NETBE_PACKET_FLAG_RAW) && nc->info->receive_raw
             ? nc->info->receive_raw
             : nc->info->receive;
    if (!fn) {
        /* receive_iov alone takes every frame, raw ones too */
        return nc->info->receive_iov ? nc->info->receive_iov(nc, iov, iovcnt)
                                     : -1;
    }
    if (iovcnt == 1) {
        return fn(nc, iov[0].iov_base, iov[0].iov_len);
    }
    size = netbe_iov_size(iov, iovcnt);
    if (size > NETBE_NET_BUFSIZE) {
        return -1;
    }
    if (ctx->scratch_busy) {
        /* A receive() that sends from inside itself: rare, not fast. */
        buf = malloc(size ? size : 1);
        if (!buf) {
            return -1;
        }
        netbe_iov_to_buf(iov, iovcnt, 0, buf, size);
        ret = fn(nc, buf, size);
        free(buf);
        return ret;
    }
    if (!ctx->scratch) {
        ctx->scratch = netbe_malloc0(NETBE_NET_BUFSIZE);
    }
    netbe_iov_to_buf(iov, iovcnt, 0, ctx->scratch, size);
    ctx->scratch_busy = true;
    ret = fn(nc, ctx->scratch, size);
    ctx->scratch_busy = false;
    return ret;
}

static ssize_t deliver_to_client(struct netbe_client *sender, unsigned flags,
                                 const struct iovec *iov, int iovcnt,
                                 void *opaque)
{
    struct netbe_client *nc = opaque;
    size_t size = netbe_iov_size(iov, iovcnt);
    ssize_t ret;

    if (nc->priv->dying) {
        nc->stats.drop_purged++; /* it is leaving: as if purged */
        return (ssize_t)size;
    }
    if (nc->link_down) {
        nc->stats.drop_link_down++;
        return (ssize_t)size;
    }
    if (nc->receive_disabled) {
        return 0;
    }
    if (nc->info->receive_iov && !(flags & NETBE_PACKET_FLAG_RAW)) {
        ret = nc->info->receive_iov(nc, iov, iovcnt);
    } else {
        ret = receive_linear(nc, flags, iov, iovcnt);
    }
    if (ret == 0) {
        nc->receive_disabled = true;
        return 0;
    }
    if (nc->priv->dying) {
        /*
         * deleted itself meanwhile: a frame it took is counted as taken,
         * one it did not is purged; it flushes no more
         */
        if (ret > 0) {
            nc->stats.rx_frames++;
            nc->stats.rx_bytes += size;
            return ret;
        }
        nc->stats.drop_purged++;
        return (ssize_t)size;
    }
    if (ret > 0) {
        nc->stats.rx_frames++;
        nc->stats.rx_bytes += size;
    } else {
        nc->stats.drop_error++;
    }
    note_received(nc);
    return ret;
}

ssize_t netbe_sendv_packet_flags(struct netbe_client *sender, unsigned flags,
                                 const struct iovec *iov, int iovcnt,
                                 netbe_packet_sent *sent_cb)
{
    size_t size = netbe_iov_size(iov, iovcnt);
    struct netbe_client *peer = sender->peer;
    ssize_t ret;

    if (size > NETBE_NET_BUFSIZE) {
        sender->stats.drop_oversize++;
        return (ssize_t)size;
    }
    if (sender->link_down) {
        sender->stats.drop_link_down++;
        return (ssize_t)size;
    }
    if (!peer || peer->priv->cleaned_up || peer->priv->dying ||
        sender->priv->dying) {
        sender->stats.drop_no_peer++;
        return (ssize_t)size;
    }
    sender->stats.tx_frames++;
    sender->stats.tx_bytes += size;

    core_enter(sender->ctx);
    ret = filter_chain(sender, NETBE_FILTER_DIRECTION_TX, NULL, sender, flags,
                       iov, iovcnt, sent_cb);
    if (ret == 0 && !peer->priv->dying) {
        ret = filter_chain(peer, NETBE_FILTER_DIRECTION_RX, NULL, sender, flags,
                           iov, iovcnt, sent_cb);
    }
    if (ret == 0) {
        ret = core_send_to_peer(sender, peer, flags, iov, iovcnt, sent_cb);
    }
    core_leave(sender->ctx);
    return ret;
}

ssize_t netbe_sendv_packet_async(struct netbe_client *sender,
                                 const struct iovec *iov, int iovcnt,
                                 netbe_packet_sent *sent_cb)
{
    return netbe_sendv_packet_flags(sender, NETBE_PACKET_FLAG_NONE, iov, iovcnt,
                                    sent_cb);
}

ssize_t netbe_sendv_packet(struct netbe_client *sender, const struct iovec *iov,
                           int iovcnt)
{
    return netbe_sendv_packet_flags(sender, NETBE_PACKET_FLAG_NONE, iov, iovcnt,
                                    NULL);
}

ssize_t netbe_send_packet_async(struct netbe_client *sender, const uint8_t *buf,
                                size_t size, netbe_packet_sent *sent_cb)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = size};

    return netbe_sendv_packet_flags(sender, NETBE_PACKET_FLAG_NONE, &iov, 1,
                                    sent_cb);
}

ssize_t netbe_send_packet(struct netbe_client *sender, const uint8_t *buf,
                          size_t size)
{
    return netbe_send_packet_async(sender, buf, size, NULL);
}

ssize_t netbe_send_packet_raw(struct netbe_client *sender, const uint8_t *buf,
                              size_t size)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = size};

    return netbe_sendv_packet_flags(sender, NETBE_PACKET_FLAG_RAW, &iov, 1,
                                    NULL);
}

ssize_t netbe_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                          int iovcnt)
{
    if (nc->priv->dying || !netbe_can_receive(nc)) {
        return 0;
    }
    return netbe_queue_receive_iov(nc->incoming_queue, iov, iovcnt);
}

ssize_t netbe_receive(struct netbe_client *nc, const uint8_t *buf, size_t size)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = size};

    return netbe_receive_iov(nc, &iov, 1);
}

void netbe_purge_queued(struct netbe_client *nc)
{
    if (nc->peer) {
        netbe_queue_purge(nc->peer->incoming_queue, nc);
    }
}

void netbe_flush_or_purge_queued(struct netbe_client *nc, bool purge)
{
    struct netbe_ctx *ctx = nc->ctx;

    if (nc->priv->dying) {
        return;
    }
    core_enter(ctx);
    nc->receive_disabled = false;
    /*
     * Our own queue first: what the hub's other ports then let through
     * must come after what already waited for us.
     */
    if (!netbe_queue_flush(nc->incoming_queue) && purge) {
        netbe_queue_purge(nc->incoming_queue, nc->peer);
    }
    if (!nc->priv->dying && nc->peer &&
        nc->peer->info->type == NETBE_DRIVER_HUBPORT) {
        netbe_hub_flush(nc->peer);
    }
    core_leave(ctx);
}

void netbe_flush_queued(struct netbe_client *nc)
{
    netbe_flush_or_purge_queued(nc, false);
}

/* ---- vnet header and offloads ---- */

bool netbe_has_ufo(struct netbe_client *nc)
{
    return nc && nc->info->has_ufo && nc->info->has_ufo(nc);
}

bool netbe_has_vnet_hdr(struct netbe_client *nc)
{
    return nc && nc->info->has_vnet_hdr && nc->info->has_vnet_hdr(nc);
}

bool netbe_has_vnet_hdr_len(struct netbe_client *nc, int len)
{
    return nc && nc->info->has_vnet_hdr_len &&
           nc->info->has_vnet_hdr_len(nc, len);
}

void netbe_using_vnet_hdr(struct netbe_client *nc, bool enable)
{
    if (nc && nc->info->using_vnet_hdr) {
        nc->info->using_vnet_hdr(nc, enable);
    }
}

/* A NIC records what it uses itself; anyone else is asked by its hook. */
static bool is_nic(const struct netbe_client *nc)
{
    return nc->info->type == NETBE_DRIVER_NIC;
}

void netbe_set_offload(struct netbe_client *nc, const struct netbe_offloads *o)
{
    if (nc && (nc->info->set_offload || is_nic(nc))) {
        nc->offloads = *o;
        if (nc->info->set_offload) {
            nc->info->set_offload(nc, o);
        }
    }
}

void netbe_set_vnet_hdr_len(struct netbe_client *nc, int len)
{
    if (nc && (nc->info->set_vnet_hdr_len || is_nic(nc))) {
        nc->vnet_hdr_len = len;
        if (nc->info->set_vnet_hdr_len) {
            nc->info->set_vnet_hdr_len(nc, len);
        }
    }
}

/* Header fields in the order @big, when the host's own is not that. */
static int set_vnet_order(struct netbe_client *nc, bool big, bool on)
{
    int (*hook)(struct netbe_client *, bool);
    int r;

    if (big == host_is_be()) {
        return 0; /* the host's own order: nothing to switch */
    }
    if (!nc) {
        return -ENOSYS;
    }
    hook = big ? nc->info->set_vnet_be : nc->info->set_vnet_le;
    if (!hook && !is_nic(nc)) {
        return -ENOSYS;
    }
    r = hook ? hook(nc, on) : 0;
    if (r == 0) {
        nc->vnet_be = big ? on : !on;
    }
    return r;
}

int netbe_set_vnet_le(struct netbe_client *nc, bool is_le)
{
    return set_vnet_order(nc, false, is_le);
}

int netbe_set_vnet_be(struct netbe_client *nc, bool is_be)
{
    return set_vnet_order(nc, true, is_be);
}

/* ---- link, netdev_del, info ---- */

int netbe_set_link(struct netbe_ctx *ctx, const char *name, bool up,
                   struct netbe_error **errp)
{
    struct netbe_client *ncs[NETBE_MAX_QUEUE_NUM];
    struct netbe_client *nc;
    int queues, i;

    queues = netbe_find_clients_except(ctx, name, ncs, NETBE_DRIVER__MAX,
                                       NETBE_MAX_QUEUE_NUM);
    if (queues == 0) {
        netbe_error_set(errp, NETBE_ERROR_DEVICE_NOT_FOUND,
                        "Device '%s' not found", name);
        return -1;
    }
    if (queues > NETBE_MAX_QUEUE_NUM) {
        queues = NETBE_MAX_QUEUE_NUM;
    }
    nc = ncs[0];
    for (i = 0; i < queues; i++) {
        ncs[i]->link_down = !up;
    }
    if (nc->info->link_status_changed) {
        nc->info->link_status_changed(nc);
    }
    if (nc->peer) {
        /*
         * Only a NIC peer follows the link: hub ports and backends keep
         * theirs so that the rest of a hub still talks (QEMU's rule).
         */
        if (nc->peer->info->type == NETBE_DRIVER_NIC) {
            for (i = 0; i < queues; i++) {
                if (ncs[i]->peer) {
                    ncs[i]->peer->link_down = !up;
                }
            }
        }
        if (nc->peer->info->link_status_changed) {
            nc->peer->info->link_status_changed(nc->peer);
        }
    }
    return 0;
}

int netbe_netdev_del(struct netbe_ctx *ctx, const char *id,
                     struct netbe_error **errp)
{
    struct netbe_client *nc = netbe_find_netdev(ctx, id);

    if (!nc) {
        netbe_error_set(errp, NETBE_ERROR_DEVICE_NOT_FOUND,
                        "Device '%s' not found", id);
        return -1;
    }
    if (!nc->is_netdev) {
        netbe_error_setg(errp, "Device '%s' is not a netdev", id);
        return -1;
    }
    netbe_client_del(nc);
    return 0;
}

static const char *direction_name(enum netbe_filter_direction d)
{
    switch (d) {
    case NETBE_FILTER_DIRECTION_RX:
        return "rx";
    case NETBE_FILTER_DIRECTION_TX:
        return "tx";
    default:
        return "all";
    }
}

void netbe_print_client(FILE *out, struct netbe_client *nc)
{
    struct netbe_filter *nf;

    fprintf(out, "%s: index=%d,type=%s,%s\n", nc->name, nc->queue_index,
            netbe_driver_name(nc->info->type), nc->info_str);
    if (!TAILQ_EMPTY(&nc->filters)) {
        fprintf(out, "filters:\n");
    }
    TAILQ_FOREACH (nf, &nc->filters, next) {
        fprintf(out, "  - %s: type=%s", nf->id, nf->ops->type);
        if (nf->ops->print_info) {
            nf->ops->print_info(nf, out);
        }
        fprintf(out, ",position=%s,status=%s,insert=%s,netdev=%s,queue=%s\n",
                nf->position, nf->on ? "on" : "off",
                nf->insert_before ? "before" : "behind", nc->name,
                direction_name(nf->direction));
    }
}

void netbe_info_network(struct netbe_ctx *ctx, FILE *out)
{
    struct netbe_client *nc;

    netbe_hub_info(ctx, out);
    TAILQ_FOREACH (nc, &ctx->clients, next) {
        struct netbe_client *peer = nc->peer;
        bool is_nic = nc->info->type == NETBE_DRIVER_NIC;

        if (netbe_hub_id_for_client(nc, NULL) == 0) {
            continue; /* printed under its hub */
        }
        if (!peer || is_nic) {
            netbe_print_client(out, nc);
        }
        if (peer && is_nic) {
            fprintf(out, " \\ ");
            netbe_print_client(out, peer);
        }
    }
}

void netbe_info_stats(struct netbe_ctx *ctx, FILE *out)
{
    struct netbe_client *nc;

    TAILQ_FOREACH (nc, &ctx->clients, next) {
        const struct netbe_counters *c = &nc->stats;

        fprintf(out,
                "%s: rx=%" PRIu64 "/%" PRIu64 " tx=%" PRIu64 "/%" PRIu64
                " queued=%" PRIu32 " queued_bytes=%zu drop: link_down=%" PRIu64
                " no_peer=%" PRIu64 " oversize=%" PRIu64 " queue_full=%" PRIu64
                " filter=%" PRIu64 " malformed=%" PRIu64 " error=%" PRIu64
                " purged=%" PRIu64 " segmented=%" PRIu64 "\n",
                nc->name, c->rx_frames, c->rx_bytes, c->tx_frames, c->tx_bytes,
                nc->incoming_queue->count, nc->incoming_queue->bytes,
                c->drop_link_down, c->drop_no_peer, c->drop_oversize,
                c->drop_queue_full, c->drop_filter, c->drop_malformed,
                c->drop_error, c->drop_purged, c->sw_segments);
    }
    netbe_hub_stats(ctx, out);
}

void netbe_check_clients(struct netbe_ctx *ctx)
{
    struct netbe_client *nc;

    netbe_hub_check_clients(ctx);
    TAILQ_FOREACH (nc, &ctx->clients, next) {
        /* A control client (a switch's listener) carries no frames. */
        if (!nc->peer && nc->is_datapath) {
            netbe_warn_report("%s %s has no peer",
                              nc->info->type == NETBE_DRIVER_NIC ? "nic"
                                                                 : "netdev",
                              nc->name);
        }
    }
}
