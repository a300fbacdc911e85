/*
 * lpconn.c - one length-prefixed connection, shared by the stream and the
 * legacy socket netdevs (see lpconn.h for what it does and what the
 * backends decide).
 *
 * Packet path: one recv() per wakeup into a buffer allocated once, whole
 * frames handed to the graph in place by the rstate reassembler inside
 * one batch; output gathered in a bounded transmit buffer and written
 * once per batch by the flush hook.  Nothing is allocated per frame.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lpconn.h"
#include "netbe/util.h"

static void fd_cb(void *opaque, int fd, unsigned events);

static unsigned wanted_events(const struct netbe_lpconn *c)
{
    unsigned ev;

    if (c->connecting) {
        return NETBE_EV_WRITE;
    }
    /*
     * Paused, we still want to hear that the peer left: a VM that hangs
     * up while the core holds its frame would otherwise keep its fd (and
     * a listener's slot) for as long as the congestion lasts; the fd
     * callback reads to the end then.
     */
    ev = c->read_paused ? NETBE_EV_HUP : NETBE_EV_READ;
    /*
     * While the core holds frames for us (we said "not now"), keep
     * watching for WRITE even if a batch-end flush emptied the buffer:
     * the write event is what hands them back (writable()).
     */
    if (c->broken || netbe_txbuf_used(&c->tx) || c->nc->receive_disabled) {
        ev |= NETBE_EV_WRITE;
    }
    return ev;
}

static void update_events(struct netbe_lpconn *c)
{
    unsigned ev;

    if (!c->watch) {
        return;
    }
    ev = wanted_events(c);
    if (ev != c->events) {
        c->events = ev;
        netbe_update_fd(c->loop, c->watch, ev);
    }
}

static void rs_finalize(struct netbe_rstate *rs, const uint8_t *buf, size_t len,
                        void *opaque)
{
    struct netbe_lpconn *c = opaque;

    if (netbe_send_packet_async(c->nc, buf, len, c->ops->sent) == 0) {
        c->read_paused = true;
        c->waiting++;
    }
}

void netbe_lpconn_init(struct netbe_lpconn *c, struct netbe_client *nc,
                       const struct netbe_lpconn_ops *ops,
                       struct netbe_lpconn_warn *warn, uint8_t *rbuf)
{
    memset(c, 0, sizeof(*c));
    c->nc = nc;
    c->loop = netbe_ctx_loop(nc->ctx);
    c->ops = ops;
    c->warn = warn;
    c->fd = -1;
    c->own_rbuf = !rbuf;
    c->rbuf = rbuf ? rbuf : netbe_malloc0(NETBE_LPCONN_READ_SIZE);
    netbe_rstate_init(&c->rs, false, 0, rs_finalize, c);
    netbe_txbuf_init(&c->tx, NETBE_LPCONN_TX_SIZE);
}

void netbe_lpconn_destroy(struct netbe_lpconn *c)
{
    netbe_lpconn_close(c);
    netbe_rstate_destroy(&c->rs);
    netbe_txbuf_destroy(&c->tx);
    if (c->own_rbuf) {
        free(c->rbuf);
    }
    c->rbuf = NULL;
}

void netbe_lpconn_close(struct netbe_lpconn *c)
{
    /* what never left goes with the connection, counted */
    c->nc->stats.drop_link_down += netbe_txbuf_frames(&c->tx);
    netbe_unwatch_fd(c->loop, c->watch);
    c->watch = NULL;
    c->events = 0;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->connecting = false;
    c->broken = false;
    c->read_paused = false;
    c->waiting = 0;
    netbe_txbuf_reset(&c->tx);
    netbe_rstate_reset(&c->rs);
}

/* Close, then let the backend do what its kind does; @c may be gone. */
static void end(struct netbe_lpconn *c, enum netbe_lpconn_end why, int err,
                const char *msg)
{
    netbe_lpconn_close(c);
    c->ops->ended(c, why, err, msg);
}

int netbe_lpconn_attach(struct netbe_lpconn *c, int fd, bool connecting)
{
    int one = 1;

    c->fd = fd;
    c->connecting = connecting;
    c->broken = false;
    c->read_paused = false;
    c->waiting = 0;
    netbe_rstate_reset(&c->rs);
    netbe_txbuf_reset(&c->tx);
    /* frames are small and latency matters: no Nagle, as QEMU's client */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->events = wanted_events(c);
    c->watch = netbe_watch_fd(c->loop, fd, c->events, fd_cb, c);
    if (!c->watch) {
        close(fd);
        c->fd = -1;
        c->connecting = false;
        c->events = 0;
        return -1;
    }
    return 0;
}

/*
 * A write failed inside receive/flush, where the client must not go away:
 * drop what is queued (counted: every frame not wholly written) and let
 * the next fd event close the connection.
 */
static void mark_broken(struct netbe_lpconn *c, int err)
{
    if (!c->broken) {
        netbe_warn_limited(&c->warn->write, "%s%s: write failed: %s",
                           c->ops->prefix, c->nc->name, strerror(err));
    }
    c->broken = true;
    c->nc->stats.drop_error += netbe_txbuf_frames(&c->tx);
    netbe_txbuf_reset(&c->tx);
    update_events(c);
}

ssize_t netbe_lpconn_receive(struct netbe_lpconn *c, const struct iovec *iov,
                             int iovcnt)
{
    struct netbe_client *nc = c->nc;
    size_t size = netbe_iov_size(iov, iovcnt);

    if (c->fd < 0 || (c->connecting && !c->ops->tx_while_connecting)) {
        /* the link was forced up with nobody at the other end */
        nc->stats.drop_link_down++;
        return (ssize_t)size;
    }
    if (c->broken) {
        nc->stats.drop_error++;
        return (ssize_t)size;
    }
    if (!netbe_txbuf_fits(&c->tx, size, true)) {
        nc->stats.drop_oversize++;
        return (ssize_t)size;
    }
    if (netbe_txbuf_put(&c->tx, iov, iovcnt, size, true) == 0) {
        return (ssize_t)size;
    }
    /* full: push out what is there (once connected) and try again */
    if (!c->connecting) {
        if (netbe_txbuf_flush(&c->tx, c->fd) < 0) {
            mark_broken(c, errno);
            nc->stats.drop_error++; /* and the frame in hand */
            return (ssize_t)size;
        }
        if (netbe_txbuf_put(&c->tx, iov, iovcnt, size, true) == 0) {
            update_events(c);
            return (ssize_t)size;
        }
    }
    update_events(c);
    return 0; /* the core queues it; netbe_flush_queued() when writable */
}

void netbe_lpconn_flush(struct netbe_lpconn *c)
{
    if (!netbe_lpconn_up(c) || c->broken || !netbe_txbuf_used(&c->tx)) {
        return;
    }
    if (netbe_txbuf_flush(&c->tx, c->fd) < 0) {
        mark_broken(c, errno);
        return;
    }
    update_events(c);
}

void netbe_lpconn_sent(struct netbe_lpconn *c)
{
    if (c->waiting) {
        c->waiting--;
    }
    if (c->read_paused && !c->waiting) {
        c->read_paused = false;
        update_events(c);
    }
}

/*
 * The peer closed (@err 0) or reset (@err the read's errno).  Either way
 * half a frame left behind is a truncated frame, not a reset.
 */
static void peer_gone(struct netbe_lpconn *c, int err)
{
    if (c->rs.state != 0 || c->rs.index != 0) {
        c->nc->stats.drop_malformed++;
        netbe_warn_limited(&c->warn->truncated,
                           "%s%s: connection closed in the middle of a frame",
                           c->ops->prefix, c->nc->name);
        end(c, NETBE_LPCONN_TRUNCATED, err, NULL);
        return;
    }
    end(c, err ? NETBE_LPCONN_RESET : NETBE_LPCONN_EOF, err, NULL);
}

static void readable(struct netbe_lpconn *c)
{
    struct netbe_error *err = NULL;
    ssize_t n;
    int r;

    do {
        n = recv(c->fd, c->rbuf, NETBE_LPCONN_READ_SIZE, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        peer_gone(c, 0);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            peer_gone(c, errno);
        }
        return;
    }
    netbe_batch_begin(c->nc->ctx);
    r = netbe_rstate_fill(&c->rs, c->rbuf, (size_t)n, &err);
    netbe_batch_end(c->nc->ctx);
    if (r < 0) {
        c->nc->stats.drop_malformed++;
        end(c, NETBE_LPCONN_MALFORMED, 0, netbe_error_msg(err));
        netbe_error_free(err);
        return;
    }
    update_events(c);
}

static void writable(struct netbe_lpconn *c)
{
    int r = netbe_txbuf_flush(&c->tx, c->fd);

    if (r < 0) {
        mark_broken(c, errno);
        return;
    }
    if (r == 1 && c->nc->receive_disabled) {
        /* what the core held back may come now, in one batch */
        netbe_batch_begin(c->nc->ctx);
        netbe_flush_queued(c->nc);
        netbe_batch_end(c->nc->ctx);
    }
    update_events(c);
}

static void connect_done(struct netbe_lpconn *c)
{
    int err;

    if (netbe_connect_finish(c->fd) < 0) {
        err = errno;
        end(c, NETBE_LPCONN_CONNECT_FAILED, err, NULL);
        return;
    }
    c->connecting = false;
    if (c->ops->connected) {
        c->ops->connected(c);
    }
    /* what was queued while connecting leaves now */
    writable(c);
}

void netbe_lpconn_event(struct netbe_lpconn *c, unsigned events)
{
    if (c->connecting) {
        if (events & (NETBE_EV_WRITE | NETBE_EV_ERROR)) {
            connect_done(c);
        }
        return;
    }
    if (c->broken) {
        end(c, NETBE_LPCONN_BROKEN, 0, NULL);
        return;
    }
    if (events & NETBE_EV_WRITE) {
        writable(c);
        if (c->broken) {
            end(c, NETBE_LPCONN_BROKEN, 0, NULL);
            return;
        }
    }
    /*
     * Paused, a hang-up still ends the connection: read on (what is read
     * waits in the core's queue) until the end, one buffer per wakeup,
     * bounded by what the peer sent before it left.
     */
    if (((events & NETBE_EV_READ) && !c->read_paused) ||
        (events & NETBE_EV_ERROR)) {
        readable(c);
    }
}

static void fd_cb(void *opaque, int fd, unsigned events)
{
    netbe_lpconn_event(opaque, events);
}
