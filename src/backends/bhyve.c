/*
 * bhyve.c - bhyve's net_backends API (netbe/bhyve.h) as a façade over the
 * client graph (DESIGN "The one model").
 *
 * A struct net_backend is a netdev made from the option string and a
 * "pull NIC" peered with it.  The NIC never takes a frame when it is
 * pushed: its receive says "not now", so the core keeps the frame in the
 * NIC's incoming queue (bounded, counted, purged as every queue) and the
 * backend stops reading until it goes.  The frontend pulls: peek, recv and
 * discard flush that queue in a mode that makes receive look at the head
 * frame and say "not now" again (peek), or copy it into the frontend's
 * buffers and take it (recv), and say "not now" to whatever follows in the
 * same flush.  So there is one queue, and the core's rules about order,
 * limits and counters hold for the pull path as for any other.
 *
 * The frontend's callback runs from a timer of the context's loop, armed
 * when a frame comes while receive is enabled, and again after each
 * callback while frames wait (bhyve's tap events are level-triggered).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/backend.h"
#include "netbe/bhyve.h"
#include "netbe/log.h"
#include "netbe/net.h"
#include "netbe/opts.h"
#include "netbe/util.h"

#define PULL_MODEL "bhyve-pull"
#define VNET_HDR_MAX 12
/*
 * A callback that took nothing while frames wait runs again this much
 * later rather than at once: a frontend that neither drains nor disables
 * must not spin the loop (some loops run a zero-delay timer armed from
 * its own callback in the same pass).
 */
#define IDLE_RETRY_MS 1

/* The feature bits that need vnet headers (offloads). */
#define OFFLOAD_BITS                                                           \
    (NETBE_VIRTIO_NET_F_CSUM | NETBE_VIRTIO_NET_F_GUEST_CSUM |                 \
     NETBE_VIRTIO_NET_F_GUEST_TSO4 | NETBE_VIRTIO_NET_F_GUEST_TSO6 |           \
     NETBE_VIRTIO_NET_F_GUEST_ECN | NETBE_VIRTIO_NET_F_GUEST_UFO |             \
     NETBE_VIRTIO_NET_F_HOST_TSO4 | NETBE_VIRTIO_NET_F_HOST_TSO6 |             \
     NETBE_VIRTIO_NET_F_HOST_ECN | NETBE_VIRTIO_NET_F_HOST_UFO |               \
     NETBE_VIRTIO_NET_F_GUEST_USO4 | NETBE_VIRTIO_NET_F_GUEST_USO6 |           \
     NETBE_VIRTIO_NET_F_HOST_USO)

/*
 * What a backend with vnet headers offers: the offloads every tap device
 * and the core's software fallback (checksums, TSO, ECN) do.  UDP
 * fragmentation and segmentation are left out: a device may lack them,
 * and the netbe_client_info hooks have no way to ask short of turning
 * them on.
 */
#define HDR_CAPS                                                               \
    (NETBE_VIRTIO_NET_F_CSUM | NETBE_VIRTIO_NET_F_GUEST_CSUM |                 \
     NETBE_VIRTIO_NET_F_GUEST_TSO4 | NETBE_VIRTIO_NET_F_GUEST_TSO6 |           \
     NETBE_VIRTIO_NET_F_GUEST_ECN | NETBE_VIRTIO_NET_F_HOST_TSO4 |             \
     NETBE_VIRTIO_NET_F_HOST_TSO6 | NETBE_VIRTIO_NET_F_HOST_ECN)

enum pull_mode {
    PULL_NONE,    /* frames pushed by the backend: keep them */
    PULL_PEEK,    /* note the head frame's length, keep it */
    PULL_TAKE,    /* copy the head frame out and take it */
    PULL_DISCARD, /* take the head frame, drop it */
};

struct net_backend {
    struct netbe_ctx *ctx;
    struct netbe_loop *loop; /* may be NULL when there is no callback */
    struct netbe_client *backend;
    struct netbe_nic *nic; /* NULL once the core freed it (netbe_ctx_free) */
    struct netbe_client *peers[1];
    struct netbe_nic_conf conf; /* the NIC points at it while it lives */
    net_be_rxeof_t cb;
    void *param;
    void *timer;
    bool armed;
    bool rx_enabled;
    bool in_cb;
    bool dead; /* netbe_cleanup() ran; freed once the NIC and callback are */
    unsigned fe_vnet_hdr_len, be_vnet_hdr_len;
    /* the pull in progress: what the NIC's receive does with a frame */
    enum pull_mode mode;
    bool pulled; /* receive saw the head frame of this pull */
    const struct iovec *iov;
    int iovcnt;
    size_t iov_room;
    ssize_t len;
    uint64_t taken; /* frames taken by recv and discard, ever */
};

static struct netbe_ctx *bhyve_ctx;

void netbe_bhyve_set_ctx(struct netbe_ctx *ctx)
{
    bhyve_ctx = ctx;
}

/* ---- the callback ---- */

static size_t frames_waiting(struct net_backend *be)
{
    if (!be->nic) {
        return 0;
    }
    return netbe_nic_get_queue(be->nic)->incoming_queue->count;
}

static void arm(struct net_backend *be, int64_t delay_ms)
{
    struct netbe_loop *l = be->loop;

    if (be->armed || !be->timer || be->dead || !be->rx_enabled) {
        return;
    }
    be->armed = true;
    l->ops->timer_mod(l->opaque, be->timer, netbe_clock_ms(l) + delay_ms);
}

static void disarm(struct net_backend *be)
{
    if (be->armed) {
        be->loop->ops->timer_del(be->loop->opaque, be->timer);
        be->armed = false;
    }
}

/* Free @be once nothing refers to it: the NIC is gone, no callback runs. */
static void maybe_free(struct net_backend *be)
{
    if (!be->dead || be->nic || be->in_cb) {
        return;
    }
    if (be->timer) {
        be->loop->ops->timer_free(be->loop->opaque, be->timer);
    }
    free(be);
}

static void rx_timer_cb(void *opaque)
{
    struct net_backend *be = opaque;
    uint64_t taken;

    be->armed = false;
    if (be->dead || !be->rx_enabled || !frames_waiting(be)) {
        return;
    }
    taken = be->taken;
    be->in_cb = true;
    be->cb(-1, NETBE_BHYVE_EVF_READ, be->param);
    be->in_cb = false;
    if (be->dead) {
        maybe_free(be);
        return;
    }
    /* level-triggered: again while frames wait and receive is on */
    if (frames_waiting(be)) {
        arm(be, be->taken != taken ? 0 : IDLE_RETRY_MS);
    }
}

/* ---- the pull NIC ---- */

static const uint8_t zero_hdr[VNET_HDR_MAX];

/* Copy @hdr bytes of zero header, then the frame, into the pull's iov. */
static void copy_out(struct net_backend *be, size_t hdr,
                     const struct iovec *iov, int iovcnt)
{
    size_t off = netbe_iov_from_buf(be->iov, be->iovcnt, 0, zero_hdr, hdr);

    for (int i = 0; i < iovcnt; i++) {
        off += netbe_iov_from_buf(be->iov, be->iovcnt, off, iov[i].iov_base,
                                  iov[i].iov_len);
    }
}

/*
 * Every frame for the frontend comes here, @hdr bytes of zero header to be
 * put in front (a raw frame for a NIC that uses headers).
 */
static ssize_t pull_receive(struct netbe_client *nc, size_t hdr,
                            const struct iovec *iov, int iovcnt)
{
    struct net_backend *be = netbe_get_nic_opaque(nc);
    size_t size = hdr + netbe_iov_size(iov, iovcnt);

    switch (be->mode) {
    case PULL_NONE:
        /* it waits in our queue now, and the frontend hears of it */
        arm(be, 0);
        return 0;
    case PULL_PEEK:
        if (!be->pulled) {
            be->pulled = true;
            be->len = (ssize_t)size;
        }
        return 0;
    case PULL_TAKE:
    case PULL_DISCARD:
        break;
    }
    if (be->pulled) {
        return 0; /* one frame per pull: the next one stays at the head */
    }
    be->pulled = true;
    be->len = (ssize_t)size;
    if (be->mode == PULL_DISCARD || size > be->iov_room) {
        /* taken but not delivered: the core counts it as drop_error */
        return -1;
    }
    copy_out(be, hdr, iov, iovcnt);
    return (ssize_t)size;
}

static ssize_t pull_receive_iov(struct netbe_client *nc,
                                const struct iovec *iov, int iovcnt)
{
    return pull_receive(nc, 0, iov, iovcnt);
}

static ssize_t pull_receive_raw(struct netbe_client *nc, const uint8_t *buf,
                                size_t size)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = size};

    return pull_receive(nc, (size_t)nc->vnet_hdr_len, &iov, 1);
}

/* The core frees the NIC: at netbe_cleanup(), or earlier at ctx_free. */
static void pull_cleanup(struct netbe_client *nc)
{
    struct net_backend *be = netbe_get_nic_opaque(nc);

    be->nic = NULL;
    be->backend = NULL;
    if (!be->dead) {
        /* the context went first: @be lives on, inert, until cleanup */
        disarm(be);
        return;
    }
    maybe_free(be);
}

static const struct netbe_client_info pull_info = {
    .type = NETBE_DRIVER_NIC,
    .size = sizeof(struct netbe_client),
    .receive_iov = pull_receive_iov,
    .receive_raw = pull_receive_raw,
    .cleanup = pull_cleanup,
};

static struct netbe_client *nic_nc(struct net_backend *be)
{
    return netbe_nic_get_queue(be->nic);
}

/*
 * One pull: flush the NIC's queue with receive in @mode.
 * Return: the head frame's length, or 0 when none waits
 */
static ssize_t pull(struct net_backend *be, enum pull_mode mode,
                    const struct iovec *iov, int iovcnt)
{
    if (!be || !be->nic || be->dead) {
        return 0;
    }
    be->mode = mode;
    be->pulled = false;
    be->iov = iov;
    be->iovcnt = iovcnt;
    be->iov_room = iov ? netbe_iov_size(iov, iovcnt) : 0;
    be->len = 0;
    netbe_flush_queued(nic_nc(be));
    be->mode = PULL_NONE;
    be->iov = NULL;
    be->iovcnt = 0;
    if (mode != PULL_PEEK && be->pulled) {
        be->taken++;
        /* a frontend that pulls outside the callback still hears of more */
        if (!be->in_cb && frames_waiting(be)) {
            arm(be, 0);
        }
    }
    return be->len;
}

ssize_t netbe_peek_recvlen(struct net_backend *be)
{
    return pull(be, PULL_PEEK, NULL, 0);
}

ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
    ssize_t len = pull(be, PULL_TAKE, iov, iovcnt);

    if (len > 0 && (size_t)len > be->iov_room) {
        errno = EMSGSIZE;
        return -1;
    }
    return len;
}

ssize_t netbe_rx_discard(struct net_backend *be)
{
    return pull(be, PULL_DISCARD, NULL, 0);
}

void netbe_rx_disable(struct net_backend *be)
{
    if (!be) {
        return;
    }
    be->rx_enabled = false;
    disarm(be);
}

void netbe_rx_enable(struct net_backend *be)
{
    if (!be || be->dead) {
        return;
    }
    be->rx_enabled = true;
    /* from inside the callback, its end re-arms */
    if (!be->in_cb && frames_waiting(be)) {
        arm(be, 0);
    }
}

/* ---- send ---- */

ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
    size_t size = netbe_iov_size(iov, iovcnt);
    struct netbe_client *nc;

    if (!be || !be->nic || be->dead) {
        errno = ENODEV;
        return -1;
    }
    nc = nic_nc(be);
    if (size > NETBE_NET_BUFSIZE) {
        nc->stats.drop_oversize++;
        errno = EMSGSIZE;
        return -1;
    }
    /* queued at the backend or dropped (counted): gone for the frontend */
    netbe_sendv_packet(nc, iov, iovcnt);
    return (ssize_t)size;
}

/* ---- vnet headers and offloads ---- */

static bool backend_has_hdr(struct net_backend *be)
{
    return be->backend && netbe_has_vnet_hdr(be->backend) &&
           netbe_has_vnet_hdr_len(be->backend, VNET_HDR_MAX);
}

uint64_t netbe_get_cap(struct net_backend *be)
{
    if (!be || !be->nic || be->dead) {
        return 0;
    }
    return backend_has_hdr(be) ? HDR_CAPS : 0;
}

/* What the guest takes in frames handed to it: its GUEST_* features. */
static struct netbe_offloads guest_offloads(uint64_t f)
{
    return (struct netbe_offloads){
        .csum = (f & NETBE_VIRTIO_NET_F_GUEST_CSUM) != 0,
        .tso4 = (f & NETBE_VIRTIO_NET_F_GUEST_TSO4) != 0,
        .tso6 = (f & NETBE_VIRTIO_NET_F_GUEST_TSO6) != 0,
        .ecn = (f & NETBE_VIRTIO_NET_F_GUEST_ECN) != 0,
        .ufo = (f & NETBE_VIRTIO_NET_F_GUEST_UFO) != 0,
        .uso4 = (f & NETBE_VIRTIO_NET_F_GUEST_USO4) != 0,
        .uso6 = (f & NETBE_VIRTIO_NET_F_GUEST_USO6) != 0,
    };
}

static bool offloads_equal(const struct netbe_offloads *a,
                           const struct netbe_offloads *b)
{
    return a->csum == b->csum && a->tso4 == b->tso4 && a->tso6 == b->tso6 &&
           a->ecn == b->ecn && a->ufo == b->ufo && a->uso4 == b->uso4 &&
           a->uso6 == b->uso6;
}

/*
 * Frames of the old form must not reach a frontend of the new one: drop
 * (as purged) what waits on either side of the NIC, then let frames in
 * again (the queue is empty: receive may be called).
 */
static void purge_both_ways(struct net_backend *be)
{
    struct netbe_client *nc = nic_nc(be);

    netbe_queue_purge(nc->incoming_queue, be->backend);
    netbe_purge_queued(nc);
}

int netbe_set_cap(struct net_backend *be, uint64_t features,
                  unsigned vnet_hdr_len)
{
    static const struct netbe_offloads none;
    struct netbe_offloads o;
    struct netbe_client *nc;
    bool hdr, changed;
    int len;

    if (!be || !be->nic || be->dead) {
        return -1;
    }
    if (vnet_hdr_len != 0 && vnet_hdr_len != 10 && vnet_hdr_len != 12) {
        return -1;
    }
    if ((features & OFFLOAD_BITS) & ~netbe_get_cap(be)) {
        return -1; /* offloads it did not offer */
    }
    hdr = vnet_hdr_len != 0 && backend_has_hdr(be);
    if (hdr && !netbe_has_vnet_hdr_len(be->backend, (int)vnet_hdr_len)) {
        return -1;
    }
    if (!hdr && (features & OFFLOAD_BITS)) {
        return -1; /* offloads need the header in front of each frame */
    }
    nc = nic_nc(be);
    len = hdr ? (int)vnet_hdr_len : 0;
    o = hdr ? guest_offloads(features) : none;
    changed = nc->vnet_hdr_len != len || !offloads_equal(&nc->offloads, &o);
    if (changed) {
        purge_both_ways(be);
    }
    if (hdr) {
        netbe_using_vnet_hdr(be->backend, true);
        netbe_set_vnet_hdr_len(be->backend, len);
        netbe_set_offload(be->backend, &o);
    } else if (netbe_has_vnet_hdr(be->backend)) {
        /* plain frames: the backend strips and adds its header itself */
        netbe_using_vnet_hdr(be->backend, false);
        netbe_set_offload(be->backend, &none);
    }
    netbe_set_vnet_hdr_len(nc, len);
    netbe_set_offload(nc, &o);
    be->fe_vnet_hdr_len = vnet_hdr_len;
    be->be_vnet_hdr_len = (unsigned)len;
    if (changed) {
        /* the queue is empty: a new frame must reach receive again */
        netbe_flush_queued(nc);
    }
    return 0;
}

size_t netbe_get_vnet_hdr_len(struct net_backend *be)
{
    return be ? be->be_vnet_hdr_len : 0;
}

/* ---- init and cleanup ---- */

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* A QEMU NetClientDriver name (compiled in or not), for QEMU's message. */
static bool is_driver_name(const char *name)
{
    for (int i = 0; i < NETBE_DRIVER__MAX; i++) {
        if (!strcmp(netbe_driver_name(i), name)) {
            return true;
        }
    }
    return false;
}

/*
 * The keys that may follow a bhyve tap name: the tap's own that make sense
 * for one named interface, and the frontend's (bhyve's pci_virtio_net
 * reads mac= and mtu= from the same string), which the backend ignores.
 */
static const char *const tap_pass_keys[] = {
    "script", "downscript", "vnet_hdr", "sndbuf", NETBE_QUEUE_BYTES_KEY, NULL,
};
static const char *const frontend_keys[] = {"mac", "mtu", NULL};

static bool in_list(const char *const *list, const char *key)
{
    for (; *list; list++) {
        if (!strcmp(*list, key)) {
            return true;
        }
    }
    return false;
}

/*
 * bhyve's "tap0[,k=v...]" or "vmnet0[,...]": -netdev tap,ifname=tap0,
 * script=no,downscript=no and the keys that pass.
 */
static struct netbe_opts *tap_opts(const char *devname, const char *rest,
                                   struct netbe_error **errp)
{
    struct netbe_opts *extra = NULL, *opts;

    if (rest) {
        extra = netbe_opts_parse(rest, NULL, errp);
        if (!extra) {
            return NULL;
        }
    }
    opts = netbe_opts_new();
    netbe_opts_set(opts, "type", "tap");
    netbe_opts_set(opts, "ifname", devname);
    netbe_opts_set(opts, "script", "no");
    netbe_opts_set(opts, "downscript", "no");
    for (size_t i = 0; extra && i < extra->n; i++) {
        const char *key = extra->v[i].key;

        if (in_list(frontend_keys, key)) {
            continue;
        }
        if (!in_list(tap_pass_keys, key)) {
            netbe_error_setg(errp, "Invalid parameter '%s'", key);
            netbe_opts_free(opts);
            netbe_opts_free(extra);
            return NULL;
        }
        netbe_opts_set(opts, key, extra->v[i].value);
    }
    netbe_opts_free(extra);
    return opts;
}

/* "bhyveN": the first N not taken by a netdev. */
static void set_generated_id(struct netbe_ctx *ctx, struct netbe_opts *opts)
{
    for (unsigned n = 0;; n++) {
        char *id = netbe_strdup_printf("bhyve%u", n);

        if (!netbe_find_netdev(ctx, id)) {
            netbe_opts_set(opts, "id", id);
            free(id);
            return;
        }
        free(id);
    }
}

/*
 * The -netdev options @str names.
 * Return: 0 and *@out, or an errno value with @errp
 */
static int name_to_opts(struct netbe_ctx *ctx, const char *str,
                        struct netbe_opts **out, struct netbe_error **errp)
{
    size_t n = strcspn(str, ",");
    char *first = netbe_malloc0(n + 1);
    const char *rest = str[n] == ',' ? str + n + 1 : NULL;
    const struct netbe_backend_type *type;
    struct netbe_opts *opts = NULL;
    const char *q, *fds;

    memcpy(first, str, n);
    type = netbe_backend_find(first);
    if (str[0] == '{' || (type && type->netdev_ok)) {
        opts = netbe_opts_parse_any(str, "type", errp);
    } else if (has_prefix(first, "tap") || has_prefix(first, "vmnet")) {
        opts = tap_opts(first, rest, errp);
    } else if (has_prefix(first, "netmap") || has_prefix(first, "vale")) {
        netbe_error_setg(errp, "netmap backend not available on this system");
        free(first);
        return ENOTSUP;
    } else if (has_prefix(first, "netgraph")) {
        netbe_error_setg(errp, "netgraph backend not available on this system");
        free(first);
        return ENOTSUP;
    } else if (!first[0]) {
        netbe_error_setg(errp, "Parameter 'type' is missing");
    } else if (is_driver_name(first) || type) {
        /* QEMU's "network backend 'X' is not compiled into this binary" */
        opts = netbe_opts_parse(str, "type", errp);
    } else {
        netbe_error_setg(errp, "Parameter 'type' does not accept value '%s'",
                         first);
    }
    free(first);
    if (!opts) {
        return EINVAL;
    }
    if (!netbe_opts_get(opts, "id")) {
        set_generated_id(ctx, opts);
    }
    /* refused before the backend is made: no script runs, no tap opens */
    q = netbe_opts_get(opts, "queues");
    fds = netbe_opts_get(opts, "fds");
    if ((q && strcmp(q, "1") != 0) || (fds && strchr(fds, ':'))) {
        netbe_error_setg(errp, "netdev '%s': the bhyve API takes one queue",
                         netbe_opts_get(opts, "id"));
        netbe_opts_free(opts);
        return EINVAL;
    }
    *out = opts;
    return 0;
}

/* The netdev must be one peerless client that carries frames. */
static int check_backend(struct netbe_ctx *ctx, struct netbe_client *nc,
                         struct netbe_error **errp)
{
    struct netbe_client *ncs[2];

    if (netbe_find_clients_except(ctx, nc->name, ncs, NETBE_DRIVER_NIC, 2) >
        1) {
        netbe_error_setg(errp, "netdev '%s': the bhyve API takes one queue",
                         nc->name);
        return -1;
    }
    if (nc->peer) {
        netbe_error_setg(errp, "netdev '%s' is already in use", nc->name);
        return -1;
    }
    if (!nc->is_datapath) {
        netbe_error_setg(errp, "netdev '%s' carries no frames itself",
                         nc->name);
        return -1;
    }
    return 0;
}

int netbe_init_ctx(struct netbe_ctx *ctx, struct net_backend **ret,
                   const char *opts, net_be_rxeof_t cb, void *param,
                   struct netbe_error **errp)
{
    struct netbe_opts *o = NULL;
    struct netbe_client *nc;
    struct net_backend *be;
    char *id;
    int err;

    *ret = NULL;
    if (!ctx) {
        netbe_error_setg(errp, "no netbe context: call netbe_bhyve_set_ctx() "
                               "or netbe_init_ctx() with one");
        return EINVAL;
    }
    if (cb && !netbe_ctx_loop(ctx)) {
        netbe_error_setg(errp, "the receive callback needs a context with an "
                               "event loop");
        return EINVAL;
    }
    if (!opts) {
        netbe_error_setg(errp, "Parameter 'type' is missing");
        return EINVAL;
    }
    err = name_to_opts(ctx, opts, &o, errp);
    if (err) {
        return err;
    }
    id = netbe_strdup(netbe_opts_get(o, "id"));
    errno = 0;
    if (netbe_net_client_init(ctx, o, true, errp) < 0) {
        /* the backend's own cause when a system call failed, else EINVAL */
        err = errno ? errno : EINVAL;
        netbe_opts_free(o);
        free(id);
        return err;
    }
    netbe_opts_free(o);
    nc = netbe_find_netdev(ctx, id);
    free(id);
    if (!nc || check_backend(ctx, nc, errp) < 0) {
        if (nc) {
            netbe_client_del(nc);
        }
        return EINVAL;
    }

    be = netbe_malloc0(sizeof(*be));
    be->ctx = ctx;
    be->loop = netbe_ctx_loop(ctx);
    be->backend = nc;
    be->cb = cb;
    be->param = param;
    if (cb) {
        be->timer = be->loop->ops->timer_new(be->loop->opaque, rx_timer_cb, be);
        if (!be->timer) {
            netbe_error_setg(errp, "cannot create a timer on the event loop");
            netbe_client_del(nc);
            free(be);
            return ENOMEM;
        }
    }
    be->peers[0] = nc;
    be->conf.peers = be->peers;
    be->conf.queues = 1;
    netbe_macaddr_default_if_unset(ctx, be->conf.macaddr);
    be->nic = netbe_nic_new(ctx, &pull_info, &be->conf, PULL_MODEL, NULL, be);
    netbe_format_nic_info_str(nic_nc(be), be->conf.macaddr);
    *ret = be;
    return 0;
}

int netbe_init(struct net_backend **ret, const char *opts, net_be_rxeof_t cb,
               void *param)
{
    struct netbe_error *err = NULL;
    int r = netbe_init_ctx(bhyve_ctx, ret, opts, cb, param, &err);

    if (r) {
        netbe_error_report("%s", netbe_error_msg(err));
        netbe_error_free(err);
    }
    return r;
}

void netbe_cleanup(struct net_backend *be)
{
    if (!be || be->dead) {
        return;
    }
    be->dead = true;
    be->rx_enabled = false;
    if (be->timer) {
        disarm(be);
    }
    if (be->nic) {
        struct netbe_nic *nic = be->nic;
        struct netbe_client *backend = be->backend;
        bool backend_gone = nic->peer_deleted;

        /*
         * The NIC first, so that its waiting frames count as purged; a
         * backend deleted earlier (netdev_del) goes with it.  Its cleanup
         * (pull_cleanup) may free @be: no access after this.
         */
        netbe_nic_del(nic);
        if (!backend_gone) {
            netbe_client_del(backend);
        }
        return;
    }
    maybe_free(be);
}

/* ---- the graph ---- */

struct netbe_client *netbe_bhyve_backend(struct net_backend *be)
{
    return be ? be->backend : NULL;
}

struct netbe_client *netbe_bhyve_nic(struct net_backend *be)
{
    return be && be->nic ? nic_nc(be) : NULL;
}
