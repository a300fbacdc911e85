/*
 * dgram.c - the "dgram" netdev (QEMU 7.2's net/dgram.c): one Ethernet frame
 * per datagram over UDP unicast, UDP multicast, a unix datagram socket or
 * a datagram socket passed as a file descriptor.
 *
 * Frames are read with recvmmsg() in batches into buffers allocated once,
 * and leave through a bounded transmit ring that the core's flush hook
 * empties with one sendmmsg().  The same datagram client serves socket.c's
 * mcast=, udp= and datagram fd= modes (netbe_dgram_client_new()).
 *
 * Beyond QEMU, "hubid=N" with a local address and no remote one makes a
 * listener for many VMs: each source address that sends a datagram
 * becomes a client "ID.K" on a new port of hub N, answered with datagrams
 * to that address, and removed when it has been silent for idle-timeout
 * seconds or when ID is deleted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/backends.h"
#include "backends/sockutil.h"
#include "netbe/log.h"
#include "netbe/util.h"

/* Datagrams per recvmmsg()/sendmmsg(). */
#define BATCH 64
/* Bytes of frames the transmit ring holds; a largest frame always fits. */
#define TX_ARENA (256 * 1024)

#define IDLE_TIMEOUT_DEFAULT 300
#define MAX_CONNECTIONS_DEFAULT 64
#define MAX_CONNECTIONS_LIMIT 1024
/* How soon a unix socket retries a peer whose queue was full (ms). */
#define RETRY_MS 2

struct dgram;

struct tx_slot {
    struct iovec iov;
    struct sockaddr_storage to;
    socklen_t tolen;
    struct dgram *owner; /* whose counters a failed write goes to */
};

/*
 * Frames waiting for the end of the batch.  They are copied into one
 * arena in arrival order; the arena is reused from its start whenever
 * the ring empties, which is the common case after every flush.
 */
/* A control message carrying one UDP_SEGMENT or UDP_GRO value. */
union udp_cmsg {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};

struct tx_ring {
    unsigned count;
    size_t used;
    uint8_t *arena;
    struct tx_slot slot[BATCH];
    struct mmsghdr msg[BATCH];
    /* with UDP GSO: the run of slots each message carries */
    struct iovec giov[BATCH];
    unsigned gcount[BATCH];
    union udp_cmsg gctl[BATCH];
};

/* UDP_GRO's segment size and SO_RXQ_OVFL's drop count, in one buffer. */
union rx_cmsg {
    char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t))];
    struct cmsghdr align;
};

struct rx_bufs {
    struct mmsghdr msg[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    union rx_cmsg ctl[BATCH];
    uint8_t *buf; /* BATCH slots of NETBE_NET_BUFSIZE bytes */
};

/*
 * UDP GSO: the kernel's limits on one send, 64 segments (UDP_MAX_SEGMENTS
 * of older kernels) and an IPv4 UDP payload.
 */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65507

struct dgram {
    struct netbe_client nc; /* first: the core allocates info->size */
    /* The client owning the socket: itself, or a sub-client's listener. */
    struct dgram *sock;
    int fd;
    void *watch;
    unsigned events;  /* what the watch asks for now */
    bool read_paused; /* frames wait in the core for their sent callbacks */
    unsigned waiting; /* ... this many: reading resumes once all went */
    bool write_wait;  /* the ring holds frames the socket refused */
    bool blocked;     /* receive() said "not now" to the core */
    bool tx_err_logged;
    /* what peers can make us say: across runs of failures and sources */
    struct netbe_warn_limit warn_tx, warn_full;
    /*
     * An unconnected unix socket: poll() reports it writable even while
     * the receiver's queue is full, so a refused send is retried on a
     * timer rather than on a WRITE event.
     */
    bool poll_blind;
    /*
     * An inet socket on a kernel with UDP GSO/GRO: runs of equal frames to
     * one address leave in one send, and a GSO sender's runs arrive in one
     * receive; each frame is still one datagram on the wire.
     */
    bool gso, gro;
    /*
     * SO_RXQ_OVFL: the kernel says with each datagram how many it dropped
     * on this socket (receive buffer full) before queueing it; counted as
     * drop_queue_full of the socket's client.
     */
    bool ovfl;
    uint32_t kernel_drops;
    void *retry_timer;
    struct sockaddr_storage dest;
    socklen_t dest_len; /* 0: send() on a connected socket */
    char *unlink_path;  /* unix path we bound */
    struct rx_bufs *rx;
    struct tx_ring *tx;

    /* a hubid= listener */
    bool listener;
    int hubid;
    unsigned max_conn, nsubs, next_index;
    int64_t idle_ms; /* 0: never */
    void *timer;
    bool timer_armed;
    bool full_logged;
    LIST_HEAD(, dgram) subs;

    /* a listener's sub-client */
    LIST_ENTRY(dgram) sub_next;
    int64_t last_rx_ms;
};

static struct dgram *to_dgram(struct netbe_client *nc)
{
    return (struct dgram *)nc;
}

static struct netbe_loop *loop_of(struct dgram *s)
{
    return netbe_ctx_loop(s->nc.ctx);
}

/* Does the core hold frames for this socket or one of its sources? */
static bool any_blocked(struct dgram *s)
{
    struct dgram *c;

    if (s->blocked) {
        return true;
    }
    LIST_FOREACH (c, &s->subs, sub_next) {
        if (c->blocked) {
            return true;
        }
    }
    return false;
}

static void update_events(struct dgram *s)
{
    unsigned ev = 0;

    if (!s->watch) {
        return;
    }
    /* paused, still hear of an error, which fd_cb consumes */
    ev |= s->read_paused ? NETBE_EV_HUP : NETBE_EV_READ;
    /*
     * Held frames come back on a write event (writable()), so keep asking
     * for one while any are held, even when the ring itself is empty.
     */
    if ((s->write_wait || any_blocked(s)) && !s->poll_blind) {
        ev |= NETBE_EV_WRITE;
    }
    if (ev != s->events) {
        s->events = ev;
        netbe_update_fd(loop_of(s), s->watch, ev);
    }
}

/* ---- transmit ---- */

static int tx_put(struct tx_ring *t, struct dgram *owner,
                  const struct iovec *iov, int iovcnt, size_t size,
                  const struct sockaddr_storage *to, socklen_t tolen)
{
    struct tx_slot *sl;

    if (t->count == BATCH || size > TX_ARENA - t->used) {
        return -1;
    }
    sl = &t->slot[t->count++];
    sl->iov.iov_base = t->arena + t->used;
    sl->iov.iov_len =
        netbe_iov_to_buf(iov, iovcnt, 0, t->arena + t->used, size);
    t->used += size;
    sl->tolen = tolen;
    if (tolen) {
        memcpy(&sl->to, to, tolen);
    }
    sl->owner = owner;
    return 0;
}

static void tx_failed(struct dgram *s, struct tx_slot *sl, int err)
{
    struct dgram *who = sl->owner ? sl->owner : s;

    if (err == EMSGSIZE) {
        who->nc.stats.drop_oversize++;
    } else {
        who->nc.stats.drop_error++;
    }
    /* one line per run of failures, not one per frame */
    if (!s->tx_err_logged) {
        s->tx_err_logged = true;
        netbe_warn_limited(&s->warn_tx, "%s: datagram send failed: %s",
                           who->nc.name, strerror(err));
    }
}

static bool same_dest(const struct tx_slot *a, const struct tx_slot *b)
{
    return a->tolen == b->tolen &&
           (!a->tolen || memcmp(&a->to, &b->to, a->tolen) == 0);
}

/*
 * Gather the slots from @first into messages of UDP GSO runs: equal sizes
 * (the last of a run may be shorter), one destination, contiguous in the
 * arena (tx_put appends), within the kernel's limits.
 * Return: messages built
 */
static unsigned gso_build(struct tx_ring *t, unsigned first)
{
    unsigned g = 0, i = first;

    while (i < t->count && g < BATCH) {
        struct tx_slot *head = &t->slot[i];
        struct msghdr *h = &t->msg[g].msg_hdr;
        size_t seg = head->iov.iov_len, total = seg;
        unsigned n = 1;

        for (i++; i < t->count && n < GSO_MAX_SEGS; i++, n++) {
            struct tx_slot *sl = &t->slot[i];
            struct tx_slot *prev = sl - 1;

            if (sl->iov.iov_len > seg ||
                total + sl->iov.iov_len > GSO_MAX_BYTES ||
                !same_dest(head, sl) ||
                (uint8_t *)prev->iov.iov_base + prev->iov.iov_len !=
                    sl->iov.iov_base ||
                prev->iov.iov_len != seg) {
                break;
            }
            total += sl->iov.iov_len;
        }
        memset(h, 0, sizeof(*h));
        t->giov[g].iov_base = head->iov.iov_base;
        t->giov[g].iov_len = total;
        h->msg_iov = &t->giov[g];
        h->msg_iovlen = 1;
        if (head->tolen) {
            h->msg_name = &head->to;
            h->msg_namelen = head->tolen;
        }
        if (n > 1) {
            struct cmsghdr *cm;

            h->msg_control = t->gctl[g].buf;
            h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
            cm = CMSG_FIRSTHDR(h);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            *(uint16_t *)CMSG_DATA(cm) = (uint16_t)seg;
        }
        t->gcount[g++] = n;
    }
    return g;
}

/*
 * The GSO form of the send loop.  Return: slots sent or dropped, with
 * *@wait set when the socket is full; -1 when the kernel refused GSO
 * itself (the caller falls back to one datagram per message).
 */
static int tx_flush_gso(struct dgram *s, bool *wait)
{
    struct tx_ring *t = s->tx;
    unsigned done = 0;

    while (done < t->count) {
        unsigned g = gso_build(t, done);
        int r = sendmmsg(s->fd, t->msg, g, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                *wait = true;
                break;
            }
            if (t->gcount[0] > 1 &&
                (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT ||
                 errno == EOPNOTSUPP)) {
                /* e.g. a route whose MTU is below the segment size */
                t->count -= done;
                memmove(t->slot, t->slot + done, t->count * sizeof(*t->slot));
                return -1;
            }
            for (unsigned k = 0; k < t->gcount[0]; k++) {
                tx_failed(s, &t->slot[done + k], errno);
            }
            done += t->gcount[0];
            continue;
        }
        if (r > 0) {
            s->tx_err_logged = false;
        }
        for (int m = 0; m < r; m++) {
            done += t->gcount[m];
        }
    }
    return (int)done;
}

/*
 * Send what the ring holds of socket owner @s.  Datagrams go whole or not
 * at all, so a short sendmmsg() leaves whole slots to resume with.
 */
/* One datagram per message.  Return: slots sent or dropped. */
static unsigned tx_flush_plain(struct dgram *s, bool *wait)
{
    struct tx_ring *t = s->tx;
    unsigned done = 0;

    while (done < t->count) {
        unsigned n = t->count - done;
        int r;

        for (unsigned i = 0; i < n; i++) {
            struct tx_slot *sl = &t->slot[done + i];
            struct msghdr *h = &t->msg[i].msg_hdr;

            memset(h, 0, sizeof(*h));
            h->msg_iov = &sl->iov;
            h->msg_iovlen = 1;
            if (sl->tolen) {
                h->msg_name = &sl->to;
                h->msg_namelen = sl->tolen;
            }
        }
        r = sendmmsg(s->fd, t->msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                *wait = true;
                break;
            }
            /* the first datagram failed for itself: drop it, go on */
            tx_failed(s, &t->slot[done], errno);
            done++;
            continue;
        }
        if (r > 0) {
            s->tx_err_logged = false;
        }
        done += (unsigned)r;
    }
    return done;
}

static void tx_flush(struct dgram *s)
{
    struct tx_ring *t = s->tx;
    bool wait = false;
    unsigned done;
    int r = -1;

    if (s->gso) {
        r = tx_flush_gso(s, &wait);
        if (r < 0) {
            s->gso = false; /* for good: this socket's route refuses it */
            netbe_debug("%s: UDP GSO refused, one datagram per send now",
                        s->nc.name);
        }
    }
    done = r >= 0 ? (unsigned)r : tx_flush_plain(s, &wait);
    if (done == t->count) {
        t->count = 0;
        t->used = 0;
    } else if (done) {
        memmove(t->slot, t->slot + done, (t->count - done) * sizeof(*t->slot));
        t->count -= done;
    }
    if (wait && s->poll_blind) {
        struct netbe_loop *loop = loop_of(s);

        loop->ops->timer_mod(loop->opaque, s->retry_timer,
                             netbe_clock_ms(loop) + RETRY_MS);
    }
    if (wait != s->write_wait) {
        s->write_wait = wait;
        update_events(s);
    }
}

static ssize_t dgram_receive_iov(struct netbe_client *nc,
                                 const struct iovec *iov, int iovcnt)
{
    struct dgram *c = to_dgram(nc), *s = c->sock;
    size_t size = netbe_iov_size(iov, iovcnt);

    if (c->listener || !s->tx) {
        /* the listener carries no frames, nor does a cleaned-up client */
        nc->stats.drop_no_peer++;
        return (ssize_t)size;
    }
    if (tx_put(s->tx, c, iov, iovcnt, size, &c->dest, c->dest_len) == 0) {
        return (ssize_t)size;
    }
    tx_flush(s);
    if (tx_put(s->tx, c, iov, iovcnt, size, &c->dest, c->dest_len) == 0) {
        return (ssize_t)size;
    }
    c->blocked = true;
    if (s->poll_blind) {
        /* unix datagram sockets never poll writable: retry on a timer */
        struct netbe_loop *loop = loop_of(s);

        loop->ops->timer_mod(loop->opaque, s->retry_timer,
                             netbe_clock_ms(loop) + RETRY_MS);
    } else {
        update_events(s);
    }
    return 0;
}

static void dgram_flush(struct netbe_client *nc)
{
    struct dgram *s = to_dgram(nc)->sock;

    if (s->tx->count) {
        tx_flush(s);
    }
}

/* The socket drained: let the core deliver what it queued for us. */
static void tx_unblock(struct dgram *s)
{
    struct dgram *c;

    netbe_batch_begin(s->nc.ctx);
    if (s->blocked) {
        s->blocked = false;
        netbe_flush_queued(&s->nc);
    }
    LIST_FOREACH (c, &s->subs, sub_next) {
        if (c->blocked) {
            c->blocked = false;
            netbe_flush_queued(&c->nc);
        }
    }
    netbe_batch_end(s->nc.ctx);
    update_events(s);
}

/* ---- receive ---- */

static void sent_cb(struct netbe_client *sender, ssize_t ret)
{
    struct dgram *s = to_dgram(sender)->sock;

    if (s->waiting) {
        s->waiting--;
    }
    if (s->read_paused && !s->waiting) {
        s->read_paused = false;
        update_events(s);
    }
}

static struct dgram *sub_for(struct dgram *s, const struct sockaddr *from,
                             socklen_t len, bool create);

/* One frame in from source @c (@s itself, or a listener's sub-client). */
static void deliver_in(struct dgram *s, struct dgram *c, const uint8_t *buf,
                       size_t len)
{
    if (c != s) {
        /*
         * One socket serves every source, so one source's congestion must
         * not stop the others: a frame its hub cannot take now is dropped,
         * as a switch port would.
         */
        if (!netbe_can_send(&c->nc)) {
            c->nc.stats.drop_queue_full++;
        } else {
            netbe_send_packet(&c->nc, buf, len);
        }
        return;
    }
    /* paused at once, so that sent_cb() may resume it at any time */
    if (netbe_send_packet_async(&c->nc, buf, len, sent_cb) == 0) {
        s->read_paused = true;
        s->waiting++;
    }
}

/*
 * The control messages of one datagram: with UDP_GRO the segment size of
 * a coalesced run (else 0); with SO_RXQ_OVFL the drops since the last.
 */
static size_t rx_cmsgs(struct dgram *s, struct msghdr *h)
{
    struct cmsghdr *cm;
    size_t seg = 0;

    for (cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int v;

            memcpy(&v, CMSG_DATA(cm), sizeof(v));
            seg = v > 0 ? (size_t)v : 0;
        } else if (cm->cmsg_level == SOL_SOCKET &&
                   cm->cmsg_type == SO_RXQ_OVFL) {
            uint32_t total;

            memcpy(&total, CMSG_DATA(cm), sizeof(total));
            /* a running total of the socket's, wrapping at 2^32 */
            s->nc.stats.drop_queue_full += (uint32_t)(total - s->kernel_drops);
            s->kernel_drops = total;
        }
    }
    return seg;
}

static void read_batch(struct dgram *s)
{
    struct rx_bufs *rx = s->rx;
    int n;

    for (int i = 0; i < BATCH; i++) {
        rx->msg[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
        rx->msg[i].msg_hdr.msg_flags = 0;
        rx->msg[i].msg_len = 0;
        if (s->gro || s->ovfl) {
            rx->msg[i].msg_hdr.msg_controllen = sizeof(rx->ctl[i]);
        }
    }
    do {
        n = recvmmsg(s->fd, rx->msg, BATCH, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        /* nothing there, or a pending ICMP error now consumed (QEMU too) */
        return;
    }
    netbe_batch_begin(s->nc.ctx);
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &rx->msg[i].msg_hdr;
        size_t len = rx->msg[i].msg_len;
        bool bad = (h->msg_flags & MSG_TRUNC) || len == 0;
        const uint8_t *p = rx->iov[i].iov_base;
        struct dgram *c = s;
        /* every datagram's: the drop count is the socket's, whoever sent */
        size_t seg = s->gro || s->ovfl ? rx_cmsgs(s, h) : 0;

        if (s->listener) {
            /* a bad datagram counts against its source, makes no client */
            c = sub_for(s, (struct sockaddr *)&rx->from[i], h->msg_namelen,
                        !bad);
            if (!c && !bad) {
                continue;
            }
            c = c ? c : s;
        }
        if (h->msg_flags & MSG_TRUNC) {
            c->nc.stats.drop_oversize++;
            continue;
        }
        if (len == 0) {
            /* QEMU stops reading for good here; one bad datagram is all */
            c->nc.stats.drop_malformed++;
            continue;
        }
        /* a GSO sender's run, coalesced: each segment is one datagram */
        if (!seg || seg >= len) {
            seg = len;
        }
        for (size_t off = 0; off < len; off += seg) {
            deliver_in(s, c, p + off, len - off < seg ? len - off : seg);
        }
    }
    netbe_batch_end(s->nc.ctx);
    update_events(s);
}

static void writable(struct dgram *s)
{
    tx_flush(s);
    if (!s->tx->count) {
        tx_unblock(s);
    }
}

static void retry_cb(void *opaque)
{
    writable(opaque);
}

static void fd_cb(void *opaque, int fd, unsigned events)
{
    struct dgram *s = opaque;

    if (events & NETBE_EV_WRITE) {
        writable(s);
    }
    if ((events & NETBE_EV_READ) && !s->read_paused) {
        read_batch(s);
    } else if (events & NETBE_EV_ERROR) {
        /*
         * Paused: a pending error (an ICMP unreachable on a connected
         * socket) is level-triggered and would come back every iteration;
         * take it now, as a read would, and drop it as QEMU does.
         */
        int err = 0;
        socklen_t len = sizeof(err);

        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
}

/* ---- clients ---- */

static void dgram_cleanup(struct netbe_client *nc);

static const struct netbe_client_info dgram_info = {
    .type = NETBE_DRIVER_DGRAM,
    .size = sizeof(struct dgram),
    .receive_iov = dgram_receive_iov,
    .flush = dgram_flush,
    .cleanup = dgram_cleanup,
};

/* socket.c's datagram modes: the same client under the "socket" type */
static const struct netbe_client_info dgram_socket_info = {
    .type = NETBE_DRIVER_SOCKET,
    .size = sizeof(struct dgram),
    .receive_iov = dgram_receive_iov,
    .flush = dgram_flush,
    .cleanup = dgram_cleanup,
};

static void bufs_alloc(struct dgram *s)
{
    struct rx_bufs *rx = netbe_malloc0(sizeof(*rx));

    /* calloc'ed: pages of a slot are touched only by frames that long */
    rx->buf = netbe_malloc0((size_t)BATCH * NETBE_NET_BUFSIZE);
    for (int i = 0; i < BATCH; i++) {
        rx->iov[i].iov_base = rx->buf + (size_t)i * NETBE_NET_BUFSIZE;
        rx->iov[i].iov_len = NETBE_NET_BUFSIZE;
        rx->msg[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->msg[i].msg_hdr.msg_iovlen = 1;
        rx->msg[i].msg_hdr.msg_name = &rx->from[i];
    }
    s->rx = rx;
    s->tx = netbe_malloc0(sizeof(*s->tx));
    s->tx->arena = netbe_malloc0(TX_ARENA);
}

/*
 * Turn on UDP GSO and GRO where the socket and the kernel have them, and
 * the kernel's drop count on any datagram socket.
 */
static void udp_offloads(struct dgram *s)
{
    int proto = 0, zero = 0, one = 1;
    socklen_t len = sizeof(proto);

    s->ovfl =
        setsockopt(s->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) == 0;
    if (getsockopt(s->fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
        proto == IPPROTO_UDP) {
        /* a default segment size of 0 only asks "do you know GSO?" */
        s->gso =
            setsockopt(s->fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0;
        s->gro = setsockopt(s->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
    }
    if (s->gro || s->ovfl) {
        for (int i = 0; i < BATCH; i++) {
            s->rx->msg[i].msg_hdr.msg_control = s->rx->ctl[i].buf;
        }
    }
}

/* Return: the client, or NULL with @errp (then @fd is closed). */
static struct dgram *client_new(struct netbe_ctx *ctx,
                                const struct netbe_client_info *info,
                                struct netbe_client *peer, const char *model,
                                const char *name, int fd,
                                const struct sockaddr *dest, socklen_t dest_len,
                                bool listener, struct netbe_error **errp)
{
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct dgram *s;

    s = to_dgram(netbe_client_new(ctx, info, peer, model, name));
    s->sock = s;
    s->fd = fd;
    if (dest && dest_len) {
        memcpy(&s->dest, dest, dest_len);
        s->dest_len = dest_len;
    }
    LIST_INIT(&s->subs);
    bufs_alloc(s);
    udp_offloads(s);
    s->events = NETBE_EV_READ;
    s->watch = netbe_watch_fd(loop, fd, s->events, fd_cb, s);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        ss.ss_family == AF_UNIX && (dest_len || listener)) {
        s->poll_blind = true;
        s->retry_timer = loop->ops->timer_new(loop->opaque, retry_cb, s);
    }
    if (!s->watch || (s->poll_blind && !s->retry_timer)) {
        /* a client that silently never reads is worse than none */
        netbe_error_setg(errp, "cannot watch fd %d", fd);
        netbe_client_del(&s->nc); /* closes @fd */
        return NULL;
    }
    return s;
}

struct netbe_client *
netbe_dgram_client_new(struct netbe_ctx *ctx, enum netbe_client_driver driver,
                       struct netbe_client *peer, const char *model,
                       const char *name, int fd, const struct sockaddr *dest,
                       socklen_t dest_len, struct netbe_error **errp)
{
    const struct netbe_client_info *info =
        driver == NETBE_DRIVER_SOCKET ? &dgram_socket_info : &dgram_info;
    struct dgram *s = client_new(ctx, info, peer, model, name, fd, dest,
                                 dest_len, false, errp);

    return s ? &s->nc : NULL;
}

static void remove_sub(struct dgram *c)
{
    netbe_client_del(&c->nc); /* its cleanup takes its hub port along */
}

static void dgram_cleanup(struct netbe_client *nc)
{
    struct dgram *s = to_dgram(nc);
    struct dgram *c;

    if (s->sock != s) {
        /* a sub-client: the listener owns the socket and the ring */
        struct dgram *l = s->sock;
        struct tx_ring *t = l->tx;

        for (unsigned i = 0; i < t->count; i++) {
            if (t->slot[i].owner == s) {
                t->slot[i].owner = NULL;
            }
        }
        LIST_REMOVE(s, sub_next);
        l->nsubs--;
        /* the hub port existed only for this source: it goes too */
        netbe_switch_port_leave(nc);
        return;
    }
    while ((c = LIST_FIRST(&s->subs))) {
        remove_sub(c);
    }
    if (s->listener) {
        netbe_switch_release(nc->ctx, s->hubid);
    }
    if (s->timer) {
        loop_of(s)->ops->timer_free(loop_of(s)->opaque, s->timer);
        s->timer = NULL;
    }
    if (s->retry_timer) {
        loop_of(s)->ops->timer_free(loop_of(s)->opaque, s->retry_timer);
        s->retry_timer = NULL;
    }
    netbe_unwatch_fd(loop_of(s), s->watch);
    s->watch = NULL;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (s->unlink_path) {
        unlink(s->unlink_path);
        free(s->unlink_path);
        s->unlink_path = NULL;
    }
    if (s->rx) {
        free(s->rx->buf);
        free(s->rx);
        s->rx = NULL;
    }
    if (s->tx) {
        free(s->tx->arena);
        free(s->tx);
        s->tx = NULL;
    }
}

/* ---- the hubid= listener ---- */

static void timer_arm(struct dgram *l, int64_t when)
{
    struct netbe_loop *loop = loop_of(l);

    loop->ops->timer_mod(loop->opaque, l->timer, when);
    l->timer_armed = true;
}

static void idle_cb(void *opaque)
{
    struct dgram *l = opaque;
    int64_t now = netbe_clock_ms(loop_of(l));
    int64_t next = INT64_MAX;
    struct dgram *c, *c_next;

    l->timer_armed = false;
    for (c = LIST_FIRST(&l->subs); c; c = c_next) {
        c_next = LIST_NEXT(c, sub_next);
        if (now - c->last_rx_ms >= l->idle_ms) {
            netbe_log(NETBE_LOG_INFO, "%s: client %s idle, removed", l->nc.name,
                      c->nc.name);
            remove_sub(c);
        } else if (c->last_rx_ms + l->idle_ms < next) {
            next = c->last_rx_ms + l->idle_ms;
        }
    }
    if (next != INT64_MAX) {
        timer_arm(l, next);
    }
}

static void local_str(struct dgram *l, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(out, outlen, "?");
        return;
    }
    netbe_sockaddr_to_str((struct sockaddr *)&ss, len, out, outlen);
}

/* The client of source @from, made on its first datagram. */
static struct dgram *sub_for(struct dgram *l, const struct sockaddr *from,
                             socklen_t len, bool create)
{
    struct netbe_ctx *ctx = l->nc.ctx;
    struct dgram *c;
    char *name, local[112], remote[112];

    if (len <= offsetof(struct sockaddr, sa_data) || len > sizeof(c->dest)) {
        /* an unbound unix socket: there is no address to answer */
        if (create) {
            l->nc.stats.drop_malformed++;
        }
        return NULL;
    }
    LIST_FOREACH (c, &l->subs, sub_next) {
        if (c->dest_len == len && !memcmp(&c->dest, from, len)) {
            c->last_rx_ms = netbe_clock_ms(loop_of(l));
            return c;
        }
    }
    if (!create) {
        return NULL;
    }
    netbe_sockaddr_to_str(from, len, remote, sizeof(remote));
    if (l->nsubs >= l->max_conn) {
        l->nc.stats.drop_no_peer++;
        if (!l->full_logged) {
            l->full_logged = true;
            netbe_warn_limited(&l->warn_full,
                               "%s: max-connections=%u reached, dropping "
                               "datagrams from %s",
                               l->nc.name, l->max_conn, remote);
        }
        return NULL;
    }
    l->full_logged = false;
    name = netbe_switch_port_name(&l->nc, &l->next_index);
    c = to_dgram(netbe_client_new(ctx, &dgram_info, NULL, "dgram", name));
    netbe_switch_port_join(&l->nc, &c->nc, l->hubid);
    c->sock = l;
    c->fd = -1;
    memcpy(&c->dest, from, len);
    c->dest_len = len;
    LIST_INIT(&c->subs);
    c->last_rx_ms = netbe_clock_ms(loop_of(l));
    LIST_INSERT_HEAD(&l->subs, c, sub_next);
    l->nsubs++;

    local_str(l, local, sizeof(local));
    if (from->sa_family == AF_UNIX) {
        snprintf(c->nc.info_str, sizeof(c->nc.info_str), "udp=%s:%s", local,
                 remote);
    } else {
        snprintf(c->nc.info_str, sizeof(c->nc.info_str), "udp=%s/%s", local,
                 remote);
    }
    netbe_log(NETBE_LOG_INFO, "%s: new client %s from %s", l->nc.name, name,
              remote);
    free(name);
    if (l->idle_ms && !l->timer_armed) {
        timer_arm(l, c->last_rx_ms + l->idle_ms);
    }
    return c;
}

/* ---- options ---- */

/*
 * QEMU's convert_host_port(): an IPv4 address or a name resolved to one,
 * and a port read like strtol() with trailing text ignored.
 */
static int convert_host_port(struct sockaddr_in *sin, const char *host,
                             const char *port, struct netbe_error **errp)
{
    char *str;
    int ret;

    if (strchr(host, ':')) {
        /* what gethostbyname() answers for an IPv6 literal */
        netbe_error_setg(errp, "can't resolve host address '%s'", host);
        return -1;
    }
    str = netbe_strdup_printf("%s:%s", host, port);
    ret = netbe_parse_host_port(sin, str, errp);
    free(str);
    return ret;
}

/* The number of an fd= option, with QEMU 7.2's messages. */
int netbe_fd_param(const char *name, const char *str, struct netbe_error **errp)
{
    struct netbe_error *err = NULL;
    int fd;

    fd = netbe_fd_from_str(str, &err);
    if (fd < 0) {
        if (*str && strspn(str, "0123456789") == strlen(str)) {
            /* a number, but not open: QEMU finds out setting O_NONBLOCK */
            netbe_error_free(err);
            netbe_error_setg(errp, "%s: Can't use file descriptor %s: %s", name,
                             str, strerror(EBADF));
            return -1;
        }
        netbe_error_propagate(errp, err);
        return -1;
    }
    if (netbe_set_nonblock(fd) < 0) {
        netbe_error_setg(errp, "%s: Can't use file descriptor %d: %s", name, fd,
                         strerror(errno));
        return -1;
    }
    return fd;
}

int netbe_dgram_mcast_create(const struct sockaddr_in *group,
                             const struct in_addr *localaddr,
                             struct netbe_error **errp)
{
    struct ip_mreq imr;
    int fd, one = 1;

    if (!IN_MULTICAST(ntohl(group->sin_addr.s_addr))) {
        netbe_error_setg(errp,
                         "specified mcastaddr %s (0x%08x) does not contain "
                         "a multicast address",
                         inet_ntoa(group->sin_addr),
                         (unsigned)ntohl(group->sin_addr.s_addr));
        return -1;
    }
    fd = netbe_udp_bind(group, errp);
    if (fd < 0) {
        return -1;
    }
    imr.imr_multiaddr = group->sin_addr;
    imr.imr_interface.s_addr =
        localaddr ? localaddr->s_addr : htonl(INADDR_ANY);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &imr, sizeof(imr)) < 0) {
        netbe_error_setg(errp, "can't add socket to multicast group %s: %s",
                         inet_ntoa(imr.imr_multiaddr), strerror(errno));
        goto fail;
    }
    /* the other VMs of the group may be on this host; TTL stays 1 */
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one)) < 0) {
        netbe_error_setg(errp, "can't force multicast message to loopback: %s",
                         strerror(errno));
        goto fail;
    }
    if (localaddr && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, localaddr,
                                sizeof(*localaddr)) < 0) {
        netbe_error_setg(errp,
                         "can't set the default network send interface: %s",
                         strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

static int mcast_init(struct netbe_ctx *ctx, const char *name,
                      struct netbe_client *peer, const struct netbe_sa *remote,
                      const struct netbe_sa *local, bool has_local,
                      struct netbe_error **errp)
{
    struct sockaddr_in group;
    struct in_addr laddr;
    struct netbe_client *nc;
    int fd;

    if (convert_host_port(&group, remote->host, remote->port, errp) < 0) {
        return -1;
    }
    if (!has_local) {
        fd = netbe_dgram_mcast_create(&group, NULL, errp);
    } else if (local->type == NETBE_SA_INET) {
        if (!inet_aton(local->host, &laddr)) {
            netbe_error_setg(errp, "localaddr '%s' is not a valid IPv4 address",
                             local->host);
            return -1;
        }
        fd = netbe_dgram_mcast_create(&group, &laddr, errp);
    } else if (local->type == NETBE_SA_FD) {
        fd = netbe_fd_param(name, local->str, errp);
        if (fd < 0) {
            return -1;
        }
        /*
         * QEMU reads the fd branch of the address as if it were an inet
         * one here, so a port is never found: it fails, closing the fd.
         */
        netbe_error_setg(errp, "port number '(null)' is invalid");
        close(fd);
        return -1;
    } else {
        netbe_error_setg(errp, "only support inet or fd type for local");
        return -1;
    }
    if (fd < 0) {
        return -1;
    }
    /* "dram" is QEMU 7.2's model string for multicast, typo included */
    nc = netbe_dgram_client_new(ctx, NETBE_DRIVER_DGRAM, peer, "dram", name, fd,
                                (struct sockaddr *)&group, sizeof(group), errp);
    if (!nc) {
        return -1;
    }
    snprintf(nc->info_str, sizeof(nc->info_str), "mcast=%s:%d",
             inet_ntoa(group.sin_addr), ntohs(group.sin_port));
    return 0;
}

/* QEMU builds unix addresses itself here, with its own length check. */
static int unix_addr(struct sockaddr_un *sun, const char *path,
                     struct netbe_error **errp)
{
    int n;

    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
    if (n < 0 || (size_t)n >= sizeof(sun->sun_path)) {
        netbe_error_setg(errp, "UNIX socket path '%s' is too long", path);
        return -1;
    }
    return 0;
}

struct extra {
    bool has_hubid;
    int hubid;
    bool learning;
    int64_t idle_ms;
    unsigned max_conn;
};

/* The keys beyond QEMU: only with hubid=, and checked before QEMU's. */
static int extra_from_opts(struct extra *x, const struct netbe_opts *opts,
                           struct netbe_error **errp)
{
    static const char *const needs_hub[] = {"learning", "idle-timeout",
                                            "max-connections"};
    uint64_t n;

    x->has_hubid = netbe_opts_get(opts, "hubid") != NULL;
    x->hubid = (int)netbe_opts_get_number(opts, "hubid", 0);
    for (size_t i = 0; i < NETBE_ARRAY_SIZE(needs_hub); i++) {
        if (!x->has_hubid && netbe_opts_get(opts, needs_hub[i])) {
            netbe_error_setg(errp,
                             "%s= is only valid with hubid=", needs_hub[i]);
            return -1;
        }
    }
    x->learning = netbe_opts_get_bool(opts, "learning", true);
    n = netbe_opts_get_number(opts, "idle-timeout", IDLE_TIMEOUT_DEFAULT);
    if (n > INT64_MAX / 1000) {
        netbe_error_setg(errp, "idle-timeout= is too large");
        return -1;
    }
    x->idle_ms = (int64_t)n * 1000;
    n = netbe_opts_get_number(opts, "max-connections", MAX_CONNECTIONS_DEFAULT);
    if (n < 1 || n > MAX_CONNECTIONS_LIMIT) {
        netbe_error_setg(errp, "max-connections= must be between 1 and %d",
                         MAX_CONNECTIONS_LIMIT);
        return -1;
    }
    x->max_conn = (unsigned)n;
    return 0;
}

/* A bound, non-blocking datagram socket for @local (inet or unix). */
static int bind_local(const struct netbe_sa *local, struct sockaddr_in *lin,
                      const char **created, struct netbe_error **errp)
{
    struct sockaddr_un lun;
    int fd;

    *created = NULL;
    if (local->type == NETBE_SA_INET) {
        return netbe_udp_bind(lin, errp);
    }
    if (unlink(local->path) < 0 && errno != ENOENT) {
        netbe_error_setg(errp, "failed to unlink socket %s: %s", local->path,
                         strerror(errno));
        return -1;
    }
    if (unix_addr(&lun, local->path, errp) < 0) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "can't create datagram socket: %s",
                         strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&lun, sizeof(lun)) < 0) {
        netbe_error_setg(errp, "can't bind unix=%s to socket: %s", lun.sun_path,
                         strerror(errno));
        close(fd);
        return -1;
    }
    *created = local->path;
    return fd;
}

static int listener_init(struct netbe_ctx *ctx, const char *name,
                         struct netbe_client *peer,
                         const struct netbe_sa *local, const struct extra *x,
                         struct netbe_error **errp)
{
    struct sockaddr_in lin;
    const char *created = NULL;
    const char *what;
    char addr[160];
    struct dgram *l;
    int fd;

    if (local->type == NETBE_SA_INET) {
        if (convert_host_port(&lin, local->host, local->port, errp) < 0) {
            return -1;
        }
    }
    if (local->type == NETBE_SA_FD) {
        fd = netbe_fd_param(name, local->str, errp);
        if (fd < 0) {
            return -1;
        }
        what = netbe_fd_addr_type(fd, errp);
        if (!what) {
            close(fd); /* handed over: ours to close on failure, as QEMU */
            return -1;
        }
    } else {
        fd = bind_local(local, &lin, &created, errp);
        if (fd < 0) {
            return -1;
        }
    }
    if (netbe_switch_hold(ctx, x->hubid, x->learning, errp) < 0) {
        close(fd);
        if (created) {
            unlink(created);
        }
        return -1;
    }
    l = client_new(ctx, &dgram_info, peer, "dgram", name, fd, NULL, 0, true,
                   errp);
    if (!l) {
        netbe_switch_release(ctx, x->hubid);
        if (created) {
            unlink(created);
        }
        return -1;
    }
    l->listener = true;
    l->hubid = x->hubid;
    l->idle_ms = x->idle_ms;
    l->max_conn = x->max_conn;
    if (created) {
        l->unlink_path = netbe_strdup(created);
    }
    if (l->idle_ms) {
        struct netbe_loop *loop = netbe_ctx_loop(ctx);

        l->timer = loop->ops->timer_new(loop->opaque, idle_cb, l);
    }
    if (local->type == NETBE_SA_FD) {
        snprintf(l->nc.info_str, sizeof(l->nc.info_str), "fd=%d hubid=%d", fd,
                 x->hubid);
    } else {
        local_str(l, addr, sizeof(addr));
        snprintf(l->nc.info_str, sizeof(l->nc.info_str), "udp=%s hubid=%d",
                 addr, x->hubid);
    }
    return 0;
}

static int dgram_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                      const char *name, struct netbe_client *peer,
                      struct netbe_error **errp)
{
    struct netbe_sa local, remote;
    struct sockaddr_in lin, rin;
    struct sockaddr_un lun, run;
    const struct sockaddr *dest = NULL;
    socklen_t dest_len = 0;
    const char *created = NULL;
    struct netbe_client *nc;
    struct extra x;
    bool has_local, has_remote;
    int r, fd, ret = -1;

    if (!netbe_ctx_loop(ctx)) {
        netbe_error_setg(errp, "dgram needs an event loop");
        return -1;
    }
    /* QAPI visits local before remote */
    r = netbe_sa_from_opts(&local, opts, "local", errp);
    if (r < 0) {
        return -1;
    }
    has_local = r == 0;
    r = netbe_sa_from_opts(&remote, opts, "remote", errp);
    if (r < 0) {
        netbe_sa_clear(&local);
        return -1;
    }
    has_remote = r == 0;
    if (extra_from_opts(&x, opts, errp) < 0) {
        goto out;
    }

    /* a multicast group as remote address */
    if (has_remote && remote.type == NETBE_SA_INET) {
        struct sockaddr_in m;

        if (convert_host_port(&m, remote.host, remote.port, errp) < 0) {
            goto out;
        }
        if (IN_MULTICAST(ntohl(m.sin_addr.s_addr))) {
            if (x.has_hubid) {
                netbe_error_setg(errp, "hubid= and remote= are exclusive");
                goto out;
            }
            ret = mcast_init(ctx, name, peer, &remote, &local, has_local, errp);
            goto out;
        }
    }

    if (!has_local) {
        netbe_error_setg(errp, "dgram requires local= parameter");
        goto out;
    }
    if (x.has_hubid) {
        if (has_remote) {
            netbe_error_setg(errp, "hubid= and remote= are exclusive");
            goto out;
        }
        ret = listener_init(ctx, name, peer, &local, &x, errp);
        goto out;
    }
    if (has_remote) {
        if (local.type == NETBE_SA_FD) {
            netbe_error_setg(errp, "don't set remote with local.fd");
            goto out;
        }
        if (remote.type != local.type) {
            netbe_error_setg(errp, "remote and local types must be the same");
            goto out;
        }
    } else if (local.type != NETBE_SA_FD) {
        netbe_error_setg(errp,
                         "type=inet or type=unix requires remote parameter");
        goto out;
    }

    switch (local.type) {
    case NETBE_SA_INET:
        if (convert_host_port(&lin, local.host, local.port, errp) < 0 ||
            convert_host_port(&rin, remote.host, remote.port, errp) < 0) {
            goto out;
        }
        fd = bind_local(&local, &lin, &created, errp);
        if (fd < 0) {
            goto out;
        }
        dest = (struct sockaddr *)&rin;
        dest_len = sizeof(rin);
        break;
    case NETBE_SA_UNIX:
        /* QEMU unlinks before it checks either path's length */
        if (unlink(local.path) < 0 && errno != ENOENT) {
            netbe_error_setg(errp, "failed to unlink socket %s: %s", local.path,
                             strerror(errno));
            goto out;
        }
        if (unix_addr(&lun, local.path, errp) < 0 ||
            unix_addr(&run, remote.path, errp) < 0) {
            goto out;
        }
        fd = bind_local(&local, NULL, &created, errp);
        if (fd < 0) {
            goto out;
        }
        dest = (struct sockaddr *)&run;
        dest_len = sizeof(run);
        break;
    case NETBE_SA_FD:
    default:
        fd = netbe_fd_param(name, local.str, errp);
        if (fd < 0) {
            goto out;
        }
        break;
    }

    if (local.type == NETBE_SA_FD) {
        const char *type = netbe_fd_addr_type(fd, errp);

        if (!type) {
            close(fd); /* handed over: ours to close on failure, as QEMU */
            goto out;
        }
        nc = netbe_dgram_client_new(ctx, NETBE_DRIVER_DGRAM, peer, "dgram",
                                    name, fd, NULL, 0, errp);
        if (!nc) {
            goto out;
        }
        snprintf(nc->info_str, sizeof(nc->info_str), "fd=%d %s", fd, type);
    } else {
        nc = netbe_dgram_client_new(ctx, NETBE_DRIVER_DGRAM, peer, "dgram",
                                    name, fd, dest, dest_len, errp);
        if (!nc) {
            if (created) {
                unlink(created);
            }
            goto out;
        }
        if (created) {
            to_dgram(nc)->unlink_path = netbe_strdup(created);
        }
        if (local.type == NETBE_SA_INET) {
            /*
             * QEMU 7.2 formats both addresses with inet_ntoa() in one call,
             * so its static buffer shows the local address twice.  We print
             * what QEMU prints.
             */
            char lhost[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, &lin.sin_addr, lhost, sizeof(lhost));
            snprintf(nc->info_str, sizeof(nc->info_str), "udp=%s:%d/%s:%d",
                     lhost, ntohs(lin.sin_port), lhost, ntohs(rin.sin_port));
        } else {
            snprintf(nc->info_str, sizeof(nc->info_str), "udp=%s:%s",
                     lun.sun_path, run.sun_path);
        }
    }
    ret = 0;
out:
    netbe_sa_clear(&local);
    netbe_sa_clear(&remote);
    return ret;
}

static const struct netbe_opt_desc dgram_opts[] = {
    {.name = "local.*",
     .type = NETBE_OPT_STRING,
     .help = "local address: local.type=inet,local.host=H,local.port=P | "
             "local.type=unix,local.path=PATH | local.type=fd,local.str=FD"},
    {.name = "remote.*",
     .type = NETBE_OPT_STRING,
     .help = "remote address: remote.type=inet,remote.host=H,remote.port=P "
             "(a multicast group joins it) | "
             "remote.type=unix,remote.path=PATH"},
    {.name = "hubid",
     .type = NETBE_OPT_INT32,
     .help = "with only local=: every source address becomes a client "
             "ID.N on a new port of this hub (a switch for many VMs)"},
    {.name = "learning",
     .type = NETBE_OPT_BOOL,
     .help = "with hubid=: the hub learns MAC addresses and forwards "
             "unicast to one port only",
     .def = "on"},
    {.name = "idle-timeout",
     .type = NETBE_OPT_NUMBER,
     .help = "with hubid=: seconds without a datagram from a source "
             "before its client is removed (0: never)",
     .def = "300"},
    {.name = "max-connections",
     .type = NETBE_OPT_NUMBER,
     .help = "with hubid=: most sources served at once; datagrams of "
             "further sources are dropped",
     .def = "64"},
    {0},
};

static const struct netbe_schema dgram_schema = {
    .type = "dgram",
    .opts = dgram_opts,
    .keyval = true,
};

const struct netbe_backend_type netbe_backend_dgram = {
    .name = "dgram",
    .driver = NETBE_DRIVER_DGRAM,
    .schema = &dgram_schema,
    .netdev_ok = true,
    .net_ok = true,
    .init = dgram_init,
};
