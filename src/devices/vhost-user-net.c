/*
 * vhost-user-net.c - the "vhost-user-net" device: netbe as the
 * vhost-user back-end of a VM's virtio-net NIC (issue 10).
 *
 *   -device vhost-user-net,id=ID,path=PATH,(netdev=ID|hubid=N)[,queues=N]
 *           [,mac=MAC][,mtu=N][,max-connections=N][,poll-us=N]
 *
 * netbe listens on PATH.  With netdev= the NIC "ID" is peered with that
 * netdev and serves one VM at a time: a second front-end may connect
 * meanwhile (a migration's destination) and takes the NIC over when its
 * rings start; with hubid= any number of VMs
 * connect, each its own NIC "ID.K" on a port of hub N (a learning switch
 * by default), gone when the VM goes; the control client "ID" carries no
 * frames.  The NIC queue clients take and give 12-byte vnet headers (10
 * for a legacy guest without mergeable buffers) with the offloads the
 * guest negotiated; the core converts or segments for peers that take
 * fewer.
 *
 * The packet path: frames leave a TX ring in batches when its kick
 * eventfd fires (one read per wakeup), are sent into the graph straight
 * from guest memory and their descriptors returned once the send came
 * back; frames for the VM are copied once into its RX buffers and the
 * used index published at the end of the batch (flush), with one call
 * eventfd write when the guest asked for it (EVENT_IDX).  Nothing is
 * allocated per frame.  With poll-us=N a ring that went idle is looked
 * at again on every turn of the loop for N microseconds, kicks still
 * off, so that a front-end that polls itself (DPDK) makes no system
 * call per burst either.
 *
 * The front-end and its guest are untrusted: vu_proto.c checks every
 * message and vring.c every ring access; whatever fails resets that one
 * connection (its NIC goes with it on a hub), logged at the 1st, 2nd,
 * 4th... time.  Teardown happens on a timer, never inside a callback of
 * the core.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/guard.h"
#include "devices/vu_proto.h"
#include "netbe/device.h"
#include "netbe/log.h"
#include "netbe/net.h"
#include "netbe/util.h"
#include "netbe/vnet.h"

#define MODEL "vhost-user-net"
#define MAX_CONNECTIONS_DEFAULT 64
/* netdev= mode: the VM the NIC serves and one waiting to take over */
#define NETDEV_CONNECTIONS 2
#define MAX_PAIRS 8
/* chains a TX ring gives per wakeup before others get their turn */
#define TX_BUDGET 256
/* messages handled per readable socket before others get their turn */
#define MSG_BUDGET 64

struct vu_dev;
struct vu_conn;

/* A NIC queue client: one queue pair, rings 2*pair (RX) and 2*pair+1. */
struct vu_q {
    struct netbe_client nc; /* first: the NIC's stride */
    struct vu_dev *dev;
    struct vu_conn *conn; /* NULL while no VM drives it */
    unsigned pair;
    bool tx_blocked;     /* a frame waits in a queue: wait for its callback */
    bool tx_more;        /* the budget ran out or a callback came: run again */
    uint64_t tx_busy_ns; /* when the TX ring last gave chains (poll-us) */
    uint64_t rx_wait_ns; /* since when a frame waits for an RX buffer */
    bool rx_poll;        /* it does: look again on the timer, not a kick */
};

struct vu_conn {
    struct vu_dev *dev;
    int fd;
    void *watch;
    struct vu_proto *proto;
    struct netbe_nic *nic; /* hub mode: ours; netdev mode: the device's */
    struct netbe_nic_conf conf;
    void *kick_watch[2 * MAX_PAIRS];
    void *timer;              /* TX continuation and reset, on the loop */
    void *prepare;            /* arms the timer for the loop's next turn */
    bool poll_next;           /* look at the rings on the next turn */
    bool broken;              /* reset on the timer */
    uint64_t log_beyond;      /* proto->log.beyond we warned of */
    unsigned long guard_seen; /* vu_guard_hits() when we last looked */
    uint8_t raw[VU_HDR_SIZE + VU_PAYLOAD_MAX];
    size_t have;
    int fds[VU_MAX_FDS];
    int nfds;
    LIST_ENTRY(vu_conn) link;
};

struct vu_dev {
    struct netbe_ctx *ctx;
    struct netbe_loop *loop;
    char *id, *path;
    bool hub_mode;
    int hub_id;
    unsigned pairs, max_conns, nconns, next_index;
    uint16_t mtu;
    uint64_t poll_ns; /* poll-us: poll idle rings this long, no kicks */
    uint8_t mac[6];
    bool has_mac;
    int lfd;
    void *lwatch;
    struct netbe_client *listener; /* hub mode */
    struct netbe_nic *nic;         /* netdev mode */
    struct netbe_nic_conf conf;    /* netdev mode */
    struct netbe_client *peers[MAX_PAIRS];
    LIST_HEAD(, vu_conn) conns;
    uint64_t warnings, refused;
};

static const struct netbe_client_info q_info;
static const struct vu_proto_ops proto_ops;

static void take_over(struct vu_conn *c);
static void warn_limited(struct vu_dev *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A guest can repeat these at will: the 1st, 2nd, 4th, 8th... only. */
static void warn_limited(struct vu_dev *d, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    d->warnings++;
    if (d->warnings & (d->warnings - 1)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    netbe_log(NETBE_LOG_WARNING, "%s (%llu so far)", text,
              (unsigned long long)d->warnings);
}

static struct vu_q *q_of(struct netbe_nic *nic, unsigned pair)
{
    return (struct vu_q *)netbe_nic_get_subqueue(nic, (int)pair);
}

static const char *conn_name(const struct vu_conn *c)
{
    return c->nic ? netbe_nic_get_queue(c->nic)->name : c->dev->id;
}

static void arm_timer(struct vu_conn *c)
{
    struct netbe_loop *l = c->dev->loop;

    l->ops->timer_mod(l->opaque, c->timer, netbe_clock_ms(l));
}

/*
 * The rings are looked at again (a TX budget that ran out, poll-us)
 * after the loop waited for events once (with no wait: the timer is
 * due).  A timer re-armed from its own callback could run again before
 * the loop looks at any fd (libuv runs every due timer first), and a
 * busy or polling device would keep the other clients and the monitor
 * waiting.  Without a prepare hook in the loop, the timer at once.
 */
static void next_turn(struct vu_conn *c)
{
    if (c->prepare) {
        c->poll_next = true;
    } else {
        arm_timer(c);
    }
}

static void prepare_cb(void *opaque)
{
    struct vu_conn *c = opaque;

    if (c->poll_next) {
        c->poll_next = false;
        arm_timer(c);
    }
}

/* Something is wrong with what the VM did: reset it on the loop. */
static void conn_fail(struct vu_conn *c, const char *why)
{
    if (c->broken) {
        return;
    }
    c->broken = true;
    warn_limited(c->dev, "vhost-user-net %s: %s; resetting the device",
                 conn_name(c), why);
    netbe_update_fd(c->dev->loop, c->watch, 0);
    arm_timer(c);
}

static bool ring_running(struct vu_conn *c, unsigned idx)
{
    return c && !c->broken && c->proto->features_set &&
           vu_proto_ring_running(c->proto, idx);
}

static void signal_guest(struct vu_conn *c, unsigned idx)
{
    uint64_t one = 1;
    int fd = c->proto->rings[idx].call_fd;

    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        conn_fail(c, "cannot write the call eventfd");
    }
}

/*
 * After touching guest memory: a front-end that shrank a file under its
 * mapping made the access fault; the guard mapped zeros there, and the
 * device resets.
 */
static void check_guard(struct vu_conn *c)
{
    struct vu_proto *p = c->proto;
    unsigned long h = vu_guard_hits();

    if (h == c->guard_seen) {
        return;
    }
    c->guard_seen = h;
    for (unsigned i = 0; i < p->mem.n; i++) {
        if (vu_guard_hit(p->mem.r[i].map)) {
            conn_fail(c, "a memory region's file shrank under its mapping");
            return;
        }
    }
    if (p->log.map && vu_guard_hit(p->log.map)) {
        conn_fail(c, "the dirty log's file shrank under its mapping");
    }
}

/*
 * After a batch that touched guest memory: a file that shrank under it
 * (check_guard()), and writes the dirty log could not record (a
 * migration may miss them).
 */
static void check_memory(struct vu_conn *c)
{
    check_guard(c);
    if (c->proto->log.beyond != c->log_beyond) {
        c->log_beyond = c->proto->log.beyond;
        warn_limited(c->dev,
                     "vhost-user-net %s: the front-end's dirty log does not "
                     "cover guest memory netbe wrote (%llu writes)",
                     conn_name(c), (unsigned long long)c->log_beyond);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- RX: frames to the guest ---- */

/*
 * poll-us: a frame that finds no RX buffer waits, and the ring is looked
 * at again on the loop's next turn for up to poll-us, before netbe asks
 * for a kick: a front-end that refills all the time then makes no
 * system call per refill.
 */
static bool rx_polling(struct vu_q *q)
{
    uint64_t now;

    if (!q->dev->poll_ns) {
        return false;
    }
    now = now_ns();
    if (!q->rx_wait_ns) {
        q->rx_wait_ns = now;
    }
    if (now - q->rx_wait_ns >= q->dev->poll_ns) {
        return false;
    }
    q->rx_poll = true;
    next_turn(q->conn);
    return true;
}

/* Copy bytes [@off, @off + @len) of @src into the buffers @dst. */
static void copy_iov(const struct iovec *dst, int dcnt, const struct iovec *src,
                     int scnt, size_t off, size_t len)
{
    for (int i = 0; i < dcnt && len; i++) {
        size_t n = dst[i].iov_len < len ? dst[i].iov_len : len;

        netbe_iov_to_buf(src, scnt, off, dst[i].iov_base, n);
        off += n;
        len -= n;
    }
}

static ssize_t q_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                             int iovcnt)
{
    struct vu_q *q = (struct vu_q *)nc;
    struct vu_conn *c = q->conn;
    size_t total = netbe_iov_size(iov, iovcnt), off = 0;
    size_t hdr = (size_t)nc->vnet_hdr_len;
    struct iovec first[VU_VRING_MAX_IOV], more[VU_VRING_MAX_IOV];
    int first_cnt = 0;
    struct vu_vring *vr;
    uint16_t nbufs = 0;
    bool mrg;

    if (!ring_running(c, 2 * q->pair)) {
        nc->stats.drop_link_down++;
        return (ssize_t)total;
    }
    vr = &c->proto->rings[2 * q->pair].vr;
    mrg = c->proto->features & VU_BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (total < hdr) {
        nc->stats.drop_malformed++;
        return (ssize_t)total;
    }
    while (off < total) {
        struct iovec *b = nbufs ? more : first;
        uint16_t head;
        uint32_t blen;
        size_t n;
        int cnt, r;

        if (nbufs >= vr->num) {
            /* more than the whole ring: it never fits */
            vu_vring_unpop(vr, nbufs);
            nc->stats.drop_oversize++;
            return (ssize_t)total;
        }
        r = vu_vring_pop(vr, &c->proto->mem, true, b, &cnt, &head, &blen);
        if (r == VU_RING_BAD) {
            vu_vring_unpop(vr, nbufs);
            conn_fail(c, "bad RX ring");
            nc->stats.drop_malformed++;
            return (ssize_t)total;
        }
        if (r == VU_RING_EMPTY) {
            vu_vring_unpop(vr, nbufs);
            if (rx_polling(q)) {
                return 0; /* queued: the timer flushes it */
            }
            /* buffers may have come while we asked for a kick */
            if (vu_vring_want_kick(vr)) {
                nbufs = 0;
                off = 0;
                continue;
            }
            return 0; /* queued: the kick flushes it */
        }
        if (!nbufs && (blen < hdr || (!mrg && blen < total))) {
            if (blen < hdr) {
                vu_vring_unpop(vr, 1);
                conn_fail(c, "RX buffer shorter than the vnet header");
                nc->stats.drop_malformed++;
                return (ssize_t)total;
            }
            /* without mergeable buffers a frame must fit one chain */
            vu_vring_unpop(vr, 1);
            nc->stats.drop_oversize++;
            return (ssize_t)total;
        }
        if (!nbufs) {
            first_cnt = cnt;
        }
        n = total - off < blen ? total - off : blen;
        copy_iov(b, cnt, iov, iovcnt, off, n);
        if (vu_log_on(&c->proto->log)) {
            /* a migration copies the pages we wrote again */
            vu_log_iov(&c->proto->log, &c->proto->mem, b, cnt, n);
        }
        vu_vring_push(vr, nbufs, head, (uint32_t)n);
        nbufs++;
        off += n;
    }
    if (hdr == NETBE_VNET_HDR_MRG_LEN) {
        uint16_t nb = htole16(nbufs);

        netbe_iov_from_buf(first, first_cnt, NETBE_VNET_HDR_LEN, &nb,
                           sizeof(nb));
    }
    vu_vring_commit(vr, nbufs);
    q->rx_wait_ns = 0;
    return (ssize_t)total;
}

static void q_flush(struct netbe_client *nc)
{
    struct vu_q *q = (struct vu_q *)nc;
    struct vu_conn *c = q->conn;
    unsigned idx = 2 * q->pair;

    if (c && !c->broken && vu_vring_ready(&c->proto->rings[idx].vr) &&
        vu_vring_publish(&c->proto->rings[idx].vr)) {
        signal_guest(c, idx);
    }
    if (c) {
        check_memory(c);
    }
}

static bool q_can_receive(struct netbe_client *nc)
{
    return true; /* a frame without a buffer waits; without a ring, drops */
}

/* ---- TX: frames from the guest ---- */

/*
 * The client a TX ring's frames enter the graph from.  On a hub the VM
 * is one switch port, pair 0's (its other pairs are not ports: each
 * would get every broadcast again, and its MAC would move between
 * them); with netdev= each pair has its own peer.
 */
static struct vu_q *tx_sender(struct vu_q *q)
{
    return q->dev->hub_mode ? q_of(q->conn->nic, 0) : q;
}

static void tx_sent(struct netbe_client *nc, ssize_t ret)
{
    struct vu_q *q = (struct vu_q *)nc;

    q->tx_blocked = false;
    if (q->conn) {
        /* not from inside the core's delivery: on the loop */
        for (unsigned i = 0; i < q->dev->pairs; i++) {
            struct vu_q *o = q_of(q->conn->nic, i);

            if (tx_sender(o) == q) {
                o->tx_more = true;
            }
        }
        next_turn(q->conn);
    }
}

/*
 * poll-us: a TX ring that gave chains within the last poll-us is looked
 * at again on the loop's next turn, with kicks still off, instead of
 * waiting for a kick.  A front-end that sends all the time (DPDK's
 * virtio PMD) then makes no system call per burst, for netbe's CPU.
 */
static bool tx_polling(struct vu_q *q, int n)
{
    uint64_t now;

    if (!q->dev->poll_ns) {
        return false;
    }
    now = now_ns();
    if (n) {
        q->tx_busy_ns = now;
    }
    return now - q->tx_busy_ns < q->dev->poll_ns;
}

static void tx_run(struct vu_q *q)
{
    struct vu_conn *c = q->conn;
    unsigned idx = 2 * q->pair + 1;
    size_t hdr = (size_t)q->nc.vnet_hdr_len;
    struct iovec iov[VU_VRING_MAX_IOV];
    struct vu_vring *vr;
    struct vu_q *s;
    bool notify, poll = false;
    int n = 0;

    q->tx_more = false;
    if (!ring_running(c, idx) || (s = tx_sender(q))->tx_blocked) {
        return;
    }
    vr = &c->proto->rings[idx].vr;
    netbe_batch_begin(c->dev->ctx);
    while (n < TX_BUDGET) {
        uint16_t head;
        uint32_t len;
        ssize_t ret;
        int cnt, r;

        r = vu_vring_pop(vr, &c->proto->mem, false, iov, &cnt, &head, &len);
        if (r == VU_RING_BAD) {
            conn_fail(c, "bad TX ring");
            break;
        }
        if (r == VU_RING_EMPTY) {
            if (tx_polling(q, n)) {
                poll = true;
                break;
            }
            if (vu_vring_want_kick(vr)) {
                continue;
            }
            break;
        }
        n++;
        if (len < hdr) {
            q->nc.stats.drop_malformed++;
            ret = 1;
        } else {
            ret = netbe_sendv_packet_async(&s->nc, iov, cnt, tx_sent);
        }
        /* sent or copied into a queue: the buffer is the guest's again */
        vu_vring_push(vr, 0, head, 0);
        vu_vring_commit(vr, 1);
        if (ret == 0) {
            s->tx_blocked = true;
            break;
        }
    }
    notify = !c->broken && vu_vring_publish(vr);
    netbe_batch_end(c->dev->ctx);
    if (notify) {
        signal_guest(c, idx);
    }
    check_memory(c);
    if (n && !poll && q->dev->poll_ns) {
        q->tx_busy_ns = now_ns(); /* the budget ran out, or a queue is full */
    }
    if ((n >= TX_BUDGET || poll) && !c->broken) {
        q->tx_more = true;
        next_turn(c); /* others get their turn first */
    }
}

/* ---- kicks ---- */

static void kick_cb(void *opaque, int fd, unsigned events)
{
    struct vu_conn *c = opaque;
    uint64_t v;
    unsigned idx;

    for (idx = 0; idx < c->proto->nrings; idx++) {
        if (c->proto->rings[idx].kick_fd == fd) {
            break;
        }
    }
    if (idx == c->proto->nrings || c->broken) {
        return;
    }
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        conn_fail(c, "cannot read a kick eventfd");
        return;
    }
    if (q_of(c->nic, idx / 2)->conn != c) {
        return; /* netdev= mode: another front-end took the NIC over */
    }
    if (idx & 1) {
        tx_run(q_of(c->nic, idx / 2));
    } else {
        /* buffers came: what waits for them goes */
        netbe_flush_queued(&q_of(c->nic, idx / 2)->nc);
    }
}

/* A ring's state changed: watch its kick fd while it runs. */
static void ring_changed(struct vu_proto *p, unsigned idx)
{
    struct vu_conn *c = p->opaque;
    struct vu_ring *r = &p->rings[idx];
    bool run = vu_proto_ring_running(p, idx) && r->kick_fd >= 0;

    if (idx >= 2 * MAX_PAIRS) {
        return;
    }
    if (run && q_of(c->nic, idx / 2)->conn != c) {
        take_over(c);
    }
    if (!run && c->kick_watch[idx]) {
        netbe_unwatch_fd(c->dev->loop, c->kick_watch[idx]);
        c->kick_watch[idx] = NULL;
    }
    if (run && !c->kick_watch[idx]) {
        c->kick_watch[idx] =
            netbe_watch_fd(c->dev->loop, r->kick_fd, NETBE_EV_READ, kick_cb, c);
        if (!c->kick_watch[idx]) {
            conn_fail(c, "cannot watch a kick eventfd");
            return;
        }
        /* what the guest queued before the kick fd came */
        if (idx & 1) {
            q_of(c->nic, idx / 2)->tx_more = true;
            arm_timer(c);
        }
    }
}

/* What the guest negotiated is what its NIC queues take and give. */
static void apply_features(struct vu_conn *c)
{
    uint64_t f = c->proto->features;
    struct netbe_offloads o = {
        .csum = f & VU_BIT(VIRTIO_NET_F_GUEST_CSUM),
        .tso4 = f & VU_BIT(VIRTIO_NET_F_GUEST_TSO4),
        .tso6 = f & VU_BIT(VIRTIO_NET_F_GUEST_TSO6),
        .ecn = f & VU_BIT(VIRTIO_NET_F_GUEST_ECN),
        .ufo = f & VU_BIT(VIRTIO_NET_F_GUEST_UFO),
    };
    static const struct netbe_offloads peer_takes = {
        .csum = true, .tso4 = true, .tso6 = true, .ecn = true};
    int hdr =
        (f & (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF)))
            ? NETBE_VNET_HDR_MRG_LEN
            : NETBE_VNET_HDR_LEN;

    if (!(o.csum)) {
        o = (struct netbe_offloads){0}; /* offloads need the checksum one */
    }
    for (unsigned i = 0; i < c->dev->pairs; i++) {
        struct netbe_client *nc = &q_of(c->nic, i)->nc;
        struct netbe_client *peer = nc->peer;

        /* frames waiting in the old form go first (the rings are stopped) */
        netbe_flush_or_purge_queued(nc, true);
        netbe_set_vnet_hdr_len(nc, hdr);
        netbe_set_offload(nc, &o);
        /* a netdev that carries headers carries ours (a tap) */
        if (!c->dev->hub_mode && netbe_has_vnet_hdr(peer) &&
            netbe_has_vnet_hdr_len(peer, NETBE_VNET_HDR_MRG_LEN)) {
            netbe_using_vnet_hdr(peer, true);
            netbe_set_vnet_hdr_len(peer, NETBE_VNET_HDR_MRG_LEN);
            netbe_set_offload(peer, &peer_takes);
        }
    }
}

static void features_changed(struct vu_proto *p)
{
    struct vu_conn *c = p->opaque;

    /* a front-end waiting to take the NIC over sets it up when it does */
    if (q_of(c->nic, 0)->conn == c) {
        apply_features(c);
    }
}

/*
 * netdev= mode: @c's rings start while the NIC serves another front-end
 * (or none): @c is the VM now, as a migration's destination is once the
 * source stopped.  Frames queued for the NIC stay: they are for the VM.
 */
static void take_over(struct vu_conn *c)
{
    struct vu_dev *d = c->dev;

    for (unsigned i = 0; i < d->pairs; i++) {
        struct vu_q *q = q_of(c->nic, i);

        q->conn = c;
        q->tx_blocked = false;
    }
    if (c->proto->features_set) {
        apply_features(c);
    }
    netbe_log(NETBE_LOG_INFO,
              "vhost-user-net %s: the front-end that connected last takes "
              "the NIC over",
              d->id);
}

/* QEMU's announce frame: a RARP request for the VM's own MAC. */
static void send_rarp(struct vu_proto *p, const uint8_t mac[6])
{
    struct vu_conn *c = p->opaque;
    struct netbe_client *nc = &q_of(c->nic, 0)->nc;
    uint8_t buf[NETBE_VNET_HDR_MRG_LEN + 60] = {0};
    uint8_t *f = buf + nc->vnet_hdr_len;
    static const uint8_t arp[8] = {0, 1, 8, 0, 6, 4, 0, 3};

    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x80;
    f[13] = 0x35;
    memcpy(f + 14, arp, 8);
    memcpy(f + 22, mac, 6);
    memcpy(f + 32, mac, 6);
    netbe_send_packet(nc, buf, (size_t)nc->vnet_hdr_len + 60);
}

static void *map_fd(struct vu_proto *p, int fd, size_t len)
{
    struct stat st;
    void *m;

    /* a mapping past the end of its file would fault on first touch */
    if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size < len) {
        return NULL;
    }
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        return NULL;
    }
    /* ... and so would one past a file the front-end shrinks later */
    if (vu_guard_add(m, len) < 0) {
        munmap(m, len);
        return NULL;
    }
    return m;
}

static void unmap(struct vu_proto *p, void *addr, size_t len)
{
    vu_guard_del(addr);
    munmap(addr, len);
}

static const struct vu_proto_ops proto_ops = {
    .ring_changed = ring_changed,
    .features_changed = features_changed,
    .send_rarp = send_rarp,
    .map = map_fd,
    .unmap = unmap,
};

/* ---- the connection ---- */

static void listener_resume(struct vu_dev *d)
{
    if (d->lwatch) {
        netbe_update_fd(d->loop, d->lwatch, NETBE_EV_READ);
    }
}

static void conn_free(struct vu_conn *c, bool del_nic)
{
    struct vu_dev *d = c->dev;
    struct netbe_loop *l = d->loop;

    for (unsigned i = 0; i < 2 * MAX_PAIRS; i++) {
        netbe_unwatch_fd(l, c->kick_watch[i]);
    }
    netbe_unwatch_fd(l, c->watch);
    l->ops->timer_free(l->opaque, c->timer);
    if (c->prepare) {
        l->ops->prepare_free(l->opaque, c->prepare);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    for (int i = 0; i < c->nfds; i++) {
        close(c->fds[i]);
    }
    if (c->nic) {
        struct vu_conn *next = NULL, *o;

        /* netdev= mode: the one waiting serves the NIC from now on */
        LIST_FOREACH (o, &d->conns, link) {
            if (o != c && !d->hub_mode) {
                next = o;
            }
        }
        for (unsigned i = 0; i < d->pairs; i++) {
            struct vu_q *q = q_of(c->nic, i);

            if (q->conn != c) {
                continue;
            }
            q->conn = next;
            q->tx_blocked = false;
            q->rx_poll = false;
            q->rx_wait_ns = 0;
            if (d->hub_mode && i == 0) {
                netbe_switch_port_leave(&q->nc);
            } else if (!next) {
                /* what waited for this VM is not for the next one */
                netbe_flush_or_purge_queued(&q->nc, true);
            }
        }
        if (d->hub_mode) {
            netbe_macaddr_set_free(d->ctx, c->conf.macaddr);
            if (del_nic) {
                netbe_nic_del(c->nic);
            }
        }
    }
    vu_proto_free(c->proto);
    LIST_REMOVE(c, link);
    d->nconns--;
    free(c);
    if (!d->hub_mode) {
        listener_resume(d);
    }
}

static void conn_end(struct vu_conn *c, const char *why)
{
    netbe_log(NETBE_LOG_INFO, "vhost-user-net %s: %s", conn_name(c), why);
    conn_free(c, true);
}

static void timer_cb(void *opaque)
{
    struct vu_conn *c = opaque;

    if (c->broken) {
        conn_free(c, true);
        return;
    }
    for (unsigned i = 0; i < c->dev->pairs; i++) {
        struct vu_q *q = q_of(c->nic, i);

        if (q->rx_poll) {
            q->rx_poll = false;
            netbe_flush_queued(&q->nc);
        }
        if (q->tx_more) {
            tx_run(q);
        }
    }
}

static int send_reply(struct vu_conn *c, const struct vu_msg *r)
{
    uint8_t buf[VU_HDR_SIZE + VU_PAYLOAD_MAX];
    size_t len = VU_HDR_SIZE + r->size;
    ssize_t n;

    memcpy(buf, &r->request, 4);
    memcpy(buf + 4, &r->flags, 4);
    memcpy(buf + 8, &r->size, 4);
    memcpy(buf + VU_HDR_SIZE, r->payload.bytes, r->size);
    do {
        n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

/* One message is whole in c->raw: handle it. Return: -1 to end. */
static int conn_message(struct vu_conn *c)
{
    struct vu_msg m, reply;
    const char *why = NULL;
    bool need_reply;
    int r;

    memcpy(&m.request, c->raw, 4);
    memcpy(&m.flags, c->raw + 4, 4);
    memcpy(&m.size, c->raw + 8, 4);
    memcpy(m.payload.bytes, c->raw + VU_HDR_SIZE, m.size);
    memcpy(m.fds, c->fds, sizeof(int) * (size_t)c->nfds);
    m.nfds = c->nfds;
    c->nfds = 0;
    c->have = 0;
    netbe_debug("vhost-user-net %s: %s (%u bytes, %d fds)", conn_name(c),
                vu_msg_name(m.request), m.size, m.nfds);
    r = vu_proto_handle(c->proto, &m, &reply, &need_reply, &why);
    if (need_reply && send_reply(c, &reply) < 0) {
        conn_end(c, "cannot send a reply; closing");
        return -1;
    }
    if (r < 0) {
        warn_limited(c->dev,
                     "vhost-user-net %s: %s: %s; resetting the "
                     "device",
                     conn_name(c), vu_msg_name(m.request), why);
        conn_free(c, true);
        return -1;
    }
    return 0;
}

/* Read what is missing of the message in c->raw; fds come with it. */
static int conn_read(struct vu_conn *c)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
    } cbuf;
    struct msghdr mh = {0};
    struct iovec v;
    struct cmsghdr *cm;
    uint32_t size;
    size_t want;
    ssize_t n;

    if (c->have < VU_HDR_SIZE) {
        want = VU_HDR_SIZE - c->have;
    } else {
        memcpy(&size, c->raw + 8, 4);
        want = VU_HDR_SIZE + size - c->have;
    }
    v.iov_base = c->raw + c->have;
    v.iov_len = want;
    mh.msg_iov = &v;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf.buf;
    mh.msg_controllen = sizeof(cbuf.buf);
    do {
        n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        conn_end(c, "read failed; closing");
        return -1;
    }
    if (n == 0) {
        conn_end(c, c->have ? "front-end left within a message"
                            : "front-end disconnected");
        return -1;
    }
    for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        int nfd;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < nfd; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (c->nfds < VU_MAX_FDS) {
                c->fds[c->nfds++] = fd;
            } else {
                close(fd);
                c->broken = true;
            }
        }
    }
    if ((mh.msg_flags & MSG_CTRUNC) || c->broken) {
        c->broken = false;
        warn_limited(c->dev,
                     "vhost-user-net %s: too many fds in a message; "
                     "resetting the device",
                     conn_name(c));
        conn_free(c, true);
        return -1;
    }
    c->have += (size_t)n;
    if (c->have == VU_HDR_SIZE) {
        memcpy(&size, c->raw + 8, 4);
        if (size > VU_PAYLOAD_MAX) {
            warn_limited(c->dev,
                         "vhost-user-net %s: message of %u bytes; "
                         "resetting the device",
                         conn_name(c), size);
            conn_free(c, true);
            return -1;
        }
    }
    if (c->have >= VU_HDR_SIZE) {
        memcpy(&size, c->raw + 8, 4);
        if (c->have == VU_HDR_SIZE + size) {
            return conn_message(c) < 0 ? -1 : 1;
        }
    }
    return 1;
}

static void conn_cb(void *opaque, int fd, unsigned events)
{
    struct vu_conn *c = opaque;

    for (int i = 0; i < MSG_BUDGET; i++) {
        int r;

        if (c->broken || (r = conn_read(c)) < 0) {
            return; /* c may be gone */
        }
        if (r == 0) {
            break;
        }
    }
    /* a message may have read the rings (SET_VRING_KICK) */
    check_guard(c);
}

static uint64_t features_offered(const struct vu_dev *d)
{
    uint64_t f =
        VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_F_VERSION_1) |
        VU_BIT(VIRTIO_F_ANY_LAYOUT) | VU_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
        VU_BIT(VIRTIO_RING_F_EVENT_IDX) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF) |
        VU_BIT(VIRTIO_NET_F_CSUM) | VU_BIT(VIRTIO_NET_F_GUEST_CSUM) |
        VU_BIT(VIRTIO_NET_F_GUEST_TSO4) | VU_BIT(VIRTIO_NET_F_GUEST_TSO6) |
        VU_BIT(VIRTIO_NET_F_GUEST_ECN) | VU_BIT(VIRTIO_NET_F_GUEST_UFO) |
        VU_BIT(VIRTIO_NET_F_HOST_TSO4) | VU_BIT(VIRTIO_NET_F_HOST_TSO6) |
        VU_BIT(VIRTIO_NET_F_HOST_ECN) | VU_BIT(VIRTIO_NET_F_HOST_UFO) |
        VU_BIT(VHOST_F_LOG_ALL);

    if (d->pairs > 1) {
        f |= VU_BIT(VIRTIO_NET_F_MQ);
    }
    if (d->mtu) {
        f |= VU_BIT(VIRTIO_NET_F_MTU);
    }
    return f;
}

#define PROTOCOL_OFFERED                                                       \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP) |         \
     VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_MTU) |                             \
     VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS))

static void conn_new(struct vu_dev *d, int fd)
{
    struct vu_conn *c = netbe_malloc0(sizeof(*c));
    struct netbe_loop *l = d->loop;

    c->dev = d;
    c->fd = fd;
    c->proto = vu_proto_new(d->pairs, features_offered(d), PROTOCOL_OFFERED,
                            &proto_ops, c);
    c->timer = l->ops->timer_new(l->opaque, timer_cb, c);
    if (l->ops->prepare_new && l->ops->prepare_free) {
        c->prepare = l->ops->prepare_new(l->opaque, prepare_cb, c);
    }
    LIST_INSERT_HEAD(&d->conns, c, link);
    d->nconns++;
    if (d->hub_mode) {
        char *name = netbe_switch_port_name(d->listener, &d->next_index);

        memcpy(c->conf.macaddr, d->mac, 6);
        netbe_macaddr_default_if_unset(d->ctx, c->conf.macaddr);
        c->conf.queues = (int)d->pairs;
        c->nic = netbe_nic_new(d->ctx, &q_info, &c->conf, MODEL, name, d);
        free(name);
        for (unsigned i = 0; i < d->pairs; i++) {
            struct vu_q *q = q_of(c->nic, i);

            q->dev = d;
            q->pair = i;
            netbe_format_nic_info_str(&q->nc, c->conf.macaddr);
            if (i == 0) { /* the VM's one port (tx_sender()) */
                netbe_switch_port_join(d->listener, &q->nc, d->hub_id);
            }
        }
    } else {
        c->nic = d->nic;
        /* one VM and one waiting to take over; more wait in the backlog */
        if (d->nconns >= NETDEV_CONNECTIONS) {
            netbe_update_fd(l, d->lwatch, 0);
        }
    }
    for (unsigned i = 0; i < d->pairs; i++) {
        if (!q_of(c->nic, i)->conn) {
            q_of(c->nic, i)->conn = c;
        }
    }
    c->watch = netbe_watch_fd(l, fd, NETBE_EV_READ, conn_cb, c);
    if (!c->watch) {
        warn_limited(d, "vhost-user-net %s: cannot watch a connection", d->id);
        conn_free(c, true);
        return;
    }
    netbe_log(NETBE_LOG_INFO, "vhost-user-net %s: front-end connected",
              conn_name(c));
}

static void listener_cb(void *opaque, int fd, unsigned events)
{
    struct vu_dev *d = opaque;

    for (int i = 0; i < 16; i++) {
        int cfd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                warn_limited(d, "vhost-user-net %s: accept failed: %s", d->id,
                             strerror(errno));
            }
            return;
        }
        if (d->hub_mode && d->nconns >= d->max_conns) {
            close(cfd);
            d->refused++;
            warn_limited(d,
                         "vhost-user-net %s: connection refused: %u "
                         "connections already (max-connections)",
                         d->id, d->nconns);
            continue;
        }
        conn_new(d, cfd);
        if (!d->hub_mode && d->nconns >= NETDEV_CONNECTIONS) {
            return;
        }
    }
}

/* ---- the device ---- */

static void dev_free(struct vu_dev *d)
{
    while (!LIST_EMPTY(&d->conns)) {
        conn_free(LIST_FIRST(&d->conns), true);
    }
    netbe_unwatch_fd(d->loop, d->lwatch);
    if (d->lfd >= 0) {
        close(d->lfd);
        unlink(d->path);
    }
    if (d->hub_mode) {
        netbe_switch_release(d->ctx, d->hub_id);
    }
    free(d->id);
    free(d->path);
    free(d);
}

static void q_cleanup(struct netbe_client *nc)
{
    struct vu_q *q = (struct vu_q *)nc;
    struct vu_dev *d = q->dev;

    if (!d || q->pair != 0) {
        return;
    }
    if (d->hub_mode) {
        /* the graph went first (netbe_ctx_free): let the connection go */
        if (q->conn) {
            struct vu_conn *c = q->conn;

            conn_free(c, false);
        }
        return;
    }
    d->nic = NULL;
    dev_free(d);
}

static const struct netbe_client_info q_info = {
    .type = NETBE_DRIVER_NIC,
    .size = sizeof(struct vu_q),
    .receive_iov = q_receive_iov,
    .can_receive = q_can_receive,
    .flush = q_flush,
    .cleanup = q_cleanup,
};

/* The hub-mode control client: carries nothing, owns the device. */
struct vu_listener {
    struct netbe_client nc;
    struct vu_dev *dev;
};

static void listener_cleanup(struct netbe_client *nc)
{
    struct vu_listener *li = (struct vu_listener *)nc;

    if (li->dev) {
        dev_free(li->dev);
        li->dev = NULL;
    }
}

static ssize_t listener_receive(struct netbe_client *nc, const uint8_t *buf,
                                size_t size)
{
    return (ssize_t)size;
}

static const struct netbe_client_info listener_info = {
    .type = NETBE_DRIVER_VHOST_USER,
    .size = sizeof(struct vu_listener),
    .receive = listener_receive,
    .cleanup = listener_cleanup,
};

static int listen_unix(const char *path, struct netbe_error **errp)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        netbe_error_setg(errp, "UNIX socket path '%s' is too long", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    /* as QEMU's socket chardev: a stale socket file is replaced */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "Failed to create a socket: %s",
                         strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        netbe_error_setg(errp, "Failed to bind socket to %s: %s", path,
                         strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int vu_net_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                       struct netbe_error **errp)
{
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    const char *id = netbe_opts_get(opts, "id");
    const char *path = netbe_opts_get(opts, "path");
    const char *netdev = netbe_opts_get(opts, "netdev");
    const char *hubid = netbe_opts_get(opts, "hubid");
    const char *mac = netbe_opts_get(opts, "mac");
    uint64_t queues = netbe_opts_get_number(opts, "queues", 1);
    uint64_t mtu = netbe_opts_get_number(opts, "mtu", 0);
    uint64_t poll_us = netbe_opts_get_number(opts, "poll-us", 0);
    struct netbe_client *peers[MAX_PAIRS] = {0};
    struct vu_dev *d;
    int n = 0;

    if (!loop) {
        netbe_error_setg(errp, "vhost-user-net needs an event loop");
        return -1;
    }
    if (!path) {
        netbe_error_setg(errp, "Parameter 'path' is missing");
        return -1;
    }
    if (!netdev == !hubid) {
        netbe_error_setg(errp, "vhost-user-net needs either 'netdev' or "
                               "'hubid'");
        return -1;
    }
    if (queues < 1 || queues > MAX_PAIRS) {
        netbe_error_setg(errp,
                         "Parameter 'queues' expects a number from 1 "
                         "to %d",
                         MAX_PAIRS);
        return -1;
    }
    if (poll_us && (!loop->ops->prepare_new || !loop->ops->prepare_free)) {
        netbe_error_setg(errp, "poll-us needs an event loop with a prepare "
                               "hook (netbe_loop_ops.prepare_new and "
                               "prepare_free)");
        return -1;
    }
    if (poll_us > 1000000) {
        netbe_error_setg(errp, "Parameter 'poll-us' expects a number from 0 "
                               "to 1000000");
        return -1;
    }
    if (mtu && (mtu < 68 || mtu > 65535)) {
        netbe_error_setg(errp, "Parameter 'mtu' expects a number from 68 to "
                               "65535");
        return -1;
    }
    if (!hubid && (netbe_opts_get(opts, "max-connections") ||
                   netbe_opts_get(opts, "learning"))) {
        netbe_error_setg(errp, "Parameters 'max-connections' and "
                               "'learning' require 'hubid'");
        return -1;
    }
    if (netdev) {
        n = netbe_find_clients_except(ctx, netdev, peers, NETBE_DRIVER_NIC,
                                      MAX_PAIRS);
        if (n == 0) {
            netbe_error_setg(errp,
                             "Property '" MODEL ".netdev' can't find "
                             "value '%s'",
                             netdev);
            return -1;
        }
        if (n != (int)queues) {
            netbe_error_setg(errp,
                             "netdev '%s' has %d queues, the device "
                             "%d",
                             netdev, n, (int)queues);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (peers[i]->peer) {
                netbe_error_setg(errp,
                                 "Property '" MODEL ".netdev' can't "
                                 "use value '%s', because it is "
                                 "already in use",
                                 netdev);
                return -1;
            }
        }
    }
    if (netbe_find_netdev(ctx, id)) {
        netbe_error_setg(errp, "Duplicate ID '%s' for device", id);
        return -1;
    }

    d = netbe_malloc0(sizeof(*d));
    d->ctx = ctx;
    d->loop = loop;
    d->id = netbe_strdup(id);
    d->path = netbe_strdup(path);
    d->pairs = (unsigned)queues;
    d->mtu = (uint16_t)mtu;
    d->poll_ns = poll_us * 1000;
    d->lfd = -1;
    LIST_INIT(&d->conns);
    if (mac && netbe_mac_parse(d->mac, mac) < 0) {
        netbe_error_setg(errp,
                         "Property '" MODEL ".mac' doesn't take value "
                         "'%s'",
                         mac);
        goto fail;
    }
    if (mac && netbe_macaddr_check(d->mac, errp) < 0) {
        goto fail;
    }
    if (hubid) {
        d->hub_mode = true;
        d->hub_id = (int)strtol(hubid, NULL, 0);
        d->max_conns = (unsigned)netbe_opts_get_number(opts, "max-connections",
                                                       MAX_CONNECTIONS_DEFAULT);
        if (d->max_conns == 0) {
            netbe_error_setg(errp, "Parameter 'max-connections' expects a "
                                   "number of at least 1");
            goto fail;
        }
    }
    d->lfd = listen_unix(path, errp);
    if (d->lfd < 0) {
        goto fail;
    }
    if (d->hub_mode) {
        struct vu_listener *li;

        if (netbe_switch_hold(ctx, d->hub_id,
                              netbe_opts_get_bool(opts, "learning", true),
                              errp) < 0) {
            close(d->lfd);
            unlink(path);
            d->lfd = -1;
            goto fail;
        }
        li = (struct vu_listener *)netbe_client_new(ctx, &listener_info, NULL,
                                                    MODEL, id);
        li->dev = d;
        li->nc.is_datapath = false;
        snprintf(li->nc.info_str, sizeof(li->nc.info_str), "listening on %s",
                 path);
        d->listener = &li->nc;
    } else {
        memcpy(d->conf.macaddr, d->mac, 6);
        netbe_macaddr_default_if_unset(ctx, d->conf.macaddr);
        memcpy(d->peers, peers, sizeof(peers));
        d->conf.peers = d->peers;
        d->conf.queues = (int)d->pairs;
        d->nic = netbe_nic_new(ctx, &q_info, &d->conf, MODEL, id, d);
        for (unsigned i = 0; i < d->pairs; i++) {
            struct vu_q *q = q_of(d->nic, i);

            q->dev = d;
            q->pair = i;
            netbe_format_nic_info_str(&q->nc, d->conf.macaddr);
        }
    }
    d->lwatch = netbe_watch_fd(loop, d->lfd, NETBE_EV_READ, listener_cb, d);
    if (!d->lwatch) {
        netbe_error_setg(errp, "cannot watch fd %d", d->lfd);
        if (d->listener) {
            netbe_client_del(d->listener);
        } else {
            netbe_nic_del(d->nic);
        }
        return -1;
    }
    return 0;

fail:
    free(d->id);
    free(d->path);
    free(d);
    return -1;
}

static const struct netbe_opt_desc vu_net_opts[] = {
    {"path", NETBE_OPT_STRING, true,
     "the unix socket netbe listens on as the vhost-user back-end", NULL},
    {"netdev", NETBE_OPT_STRING, false,
     "the netdev the NIC is peered with (one VM at a time)", NULL},
    {"hubid", NETBE_OPT_INT32, false,
     "instead of netdev: any number of VMs, each a NIC ID.N on its own "
     "port of this hub",
     NULL},
    {"learning", NETBE_OPT_BOOL, false,
     "with hubid: make the hub a learning switch", "on"},
    {"max-connections", NETBE_OPT_UINT32, false,
     "with hubid: VMs served at once; more are refused", "64"},
    {"queues", NETBE_OPT_UINT32, false, "queue pairs (1 to 8)", "1"},
    {"mac", NETBE_OPT_STRING, false,
     "the NIC's MAC address, for info network (the VM sets its own)", NULL},
    {"mtu", NETBE_OPT_UINT32, false,
     "offer VIRTIO_NET_F_MTU with this MTU (68 to 65535)", NULL},
    {"poll-us", NETBE_OPT_UINT32, false,
     "poll a ring that went idle (TX) or full (RX) on every loop turn "
     "for this many microseconds before asking for a kick (0: ask at once)",
     "0"},
    {0},
};

static const struct netbe_schema vu_net_schema = {
    .type = MODEL,
    .opts = vu_net_opts,
};

const struct netbe_device_type netbe_device_vhost_user_net = {
    .name = MODEL,
    .desc = "a virtio-net NIC served over vhost-user (VMs connect to path=)",
    .schema = &vu_net_schema,
    .init = vu_net_init,
};
