/*
 * socket.c - the legacy "socket" netdev (QEMU 7.2's net/socket.c):
 * listen=/connect= carry frames over TCP with QEMU's 4-byte big-endian
 * length in front of each; mcast= and udp= carry one frame per datagram;
 * fd= takes a socket of either kind from the caller.
 *
 * A stream connection is read 256 KiB at a time and reassembled with
 * netbe_rstate; frames that arrive whole are handed on where they lie.
 * Outgoing frames gather in a bounded buffer that the core's flush hook
 * writes with one send() at the end of each batch.  A peer that sends
 * garbage or an oversized length loses its connection, nothing else.
 * The datagram modes are dgram.c's client under the "socket" type.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/backends.h"
#include "backends/sockutil.h"
#include "netbe/log.h"
#include "netbe/rstate.h"
#include "netbe/util.h"

/* Bytes taken from the socket per wakeup. */
#define READ_SIZE (256 * 1024)
/* after EMFILE and friends, when accepting again might succeed */
#define ACCEPT_RETRY_MS 200

struct sock {
    struct netbe_client nc; /* first: the core allocates info->size */
    int fd;                 /* the connection, or -1 */
    int listen_fd;          /* listen=: the listening socket, else -1 */
    void *watch, *listen_watch;
    unsigned events;  /* what the watch asks for now */
    bool connecting;  /* connect=: not yet established */
    bool read_paused; /* a frame waits in the core for its sent callback */
    bool write_wait;  /* bytes are left that the socket refused */
    bool blocked;     /* receive() said "not now" to the core */
    bool broken;      /* a write failed: close from the fd callback */
    struct netbe_rstate rs;
    uint8_t *rbuf;
    struct netbe_txbuf tx;
    void *accept_timer; /* listen=: accepting again after a failure */
    /* what peers can make us say, one connection after another */
    struct netbe_warn_limit warn_write, warn_malformed, warn_truncated,
        warn_accept;
};

static struct sock *to_sock(struct netbe_client *nc)
{
    return (struct sock *)nc;
}

static struct netbe_loop *loop_of(struct sock *s)
{
    return netbe_ctx_loop(s->nc.ctx);
}

static void update_events(struct sock *s)
{
    unsigned ev = 0;

    if (!s->watch) {
        return;
    }
    if (!s->connecting) {
        /* paused, still hear a hang-up: fd_cb reads to the end then */
        ev |= s->read_paused ? NETBE_EV_HUP : NETBE_EV_READ;
    }
    /* blocked: the core holds frames for us; a write event releases them */
    if (s->write_wait || s->blocked || s->connecting || s->broken) {
        ev |= NETBE_EV_WRITE;
    }
    if (ev != s->events) {
        s->events = ev;
        netbe_update_fd(loop_of(s), s->watch, ev);
    }
}

/* ---- transmit ---- */

/* Forget what is queued, counting every frame not wholly written. */
static void tx_drop_pending(struct sock *s, uint64_t *counter)
{
    *counter += netbe_txbuf_frames(&s->tx);
    netbe_txbuf_reset(&s->tx);
}

static void tx_flush(struct sock *s)
{
    int r;

    if (s->fd < 0 || s->connecting || s->broken) {
        return;
    }
    r = netbe_txbuf_flush(&s->tx, s->fd);
    if (r == 1) {
        if (s->write_wait) {
            s->write_wait = false;
            update_events(s);
        }
        return;
    }
    if (r < 0) {
        netbe_warn_limited(&s->warn_write, "%s: write failed: %s", s->nc.name,
                           strerror(errno));
        tx_drop_pending(s, &s->nc.stats.drop_error);
        s->broken = true;
        update_events(s);
        return;
    }
    if (!s->write_wait) {
        s->write_wait = true;
        update_events(s);
    }
}

static ssize_t sock_receive_iov(struct netbe_client *nc,
                                const struct iovec *iov, int iovcnt)
{
    struct sock *s = to_sock(nc);
    size_t size = netbe_iov_size(iov, iovcnt);

    if (s->fd < 0) {
        /* no connection (the link was forced up by the user) */
        nc->stats.drop_link_down++;
        return (ssize_t)size;
    }
    if (s->broken) {
        nc->stats.drop_error++;
        return (ssize_t)size;
    }
    if (netbe_txbuf_put(&s->tx, iov, iovcnt, size, true) == 0) {
        return (ssize_t)size;
    }
    tx_flush(s);
    if (s->broken) {
        nc->stats.drop_error++; /* the frame in hand */
        return (ssize_t)size;
    }
    if (netbe_txbuf_put(&s->tx, iov, iovcnt, size, true) == 0) {
        return (ssize_t)size;
    }
    s->blocked = true;
    update_events(s);
    return 0;
}

static void sock_flush(struct netbe_client *nc)
{
    struct sock *s = to_sock(nc);

    if (netbe_txbuf_used(&s->tx)) {
        tx_flush(s);
    }
}

/* Let the core deliver what it queued while we could not take it. */
static void tx_unblock(struct sock *s)
{
    if (!s->blocked) {
        return;
    }
    s->blocked = false;
    netbe_batch_begin(s->nc.ctx);
    netbe_flush_queued(&s->nc);
    netbe_batch_end(s->nc.ctx);
    update_events(s);
}

/* ---- receive ---- */

static void sent_cb(struct netbe_client *sender, ssize_t ret)
{
    struct sock *s = to_sock(sender);

    if (s->read_paused) {
        s->read_paused = false;
        update_events(s);
    }
}

static void rs_finalize(struct netbe_rstate *rs, const uint8_t *buf, size_t len,
                        void *opaque)
{
    struct sock *s = opaque;

    if (netbe_send_async(&s->nc, buf, len, sent_cb) == 0) {
        s->read_paused = true;
    }
}

static void listen_cb(void *opaque, int fd, unsigned events);

/*
 * End of connection, as QEMU: the link goes down, info_str empties, a
 * listener takes the next client.  Frames the core queued for us are
 * dropped as link-down rather than kept for a later connection.
 */
static void end_connection(struct sock *s)
{
    netbe_unwatch_fd(loop_of(s), s->watch);
    s->watch = NULL;
    close(s->fd);
    s->fd = -1;
    s->connecting = false;
    s->read_paused = false;
    s->write_wait = false;
    s->broken = false;
    /* what never left goes with the connection, counted */
    tx_drop_pending(s, &s->nc.stats.drop_link_down);
    netbe_rstate_reset(&s->rs);
    s->nc.link_down = true;
    s->nc.info_str[0] = '\0';
    if (s->listen_watch) {
        netbe_update_fd(loop_of(s), s->listen_watch, NETBE_EV_READ);
    }
    if (s->blocked) {
        tx_unblock(s);
    }
}

/*
 * The peer closed (@err 0) or reset (@err the errno): half a frame left
 * behind is a truncated frame either way.
 */
static void peer_gone(struct sock *s, int err)
{
    if (s->rs.state != 0 || s->rs.index != 0) {
        s->nc.stats.drop_malformed++;
        netbe_warn_limited(&s->warn_truncated,
                           "%s: connection closed in the middle of a frame",
                           s->nc.name);
    } else if (err) {
        netbe_log(NETBE_LOG_INFO, "%s: connection error: %s", s->nc.name,
                  strerror(err));
    }
    end_connection(s);
}

static void do_read(struct sock *s)
{
    struct netbe_error *err = NULL;
    ssize_t n;
    int r;

    do {
        n = recv(s->fd, s->rbuf, READ_SIZE, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        peer_gone(s, errno);
        return;
    }
    if (n == 0) {
        peer_gone(s, 0);
        return;
    }
    netbe_batch_begin(s->nc.ctx);
    r = netbe_rstate_fill(&s->rs, s->rbuf, (size_t)n, &err);
    netbe_batch_end(s->nc.ctx);
    if (r < 0) {
        s->nc.stats.drop_malformed++;
        netbe_warn_limited(&s->warn_malformed, "%s: %s", s->nc.name,
                           netbe_error_msg(err));
        netbe_error_free(err);
        end_connection(s);
        return;
    }
    update_events(s);
}

static void fd_cb(void *opaque, int fd, unsigned events)
{
    struct sock *s = opaque;

    if (s->broken) {
        end_connection(s);
        return;
    }
    if (s->connecting) {
        if (!(events & (NETBE_EV_WRITE | NETBE_EV_ERROR))) {
            return;
        }
        s->connecting = false;
        if (netbe_connect_finish(s->fd) < 0) {
            netbe_log(NETBE_LOG_WARNING, "%s: connect failed: %s", s->nc.name,
                      strerror(errno));
            end_connection(s);
            return;
        }
        /* what was sent while connecting leaves now */
        update_events(s);
        tx_flush(s);
        if (!netbe_txbuf_used(&s->tx)) {
            tx_unblock(s);
        }
        return;
    }
    if ((events & NETBE_EV_WRITE) && (s->write_wait || s->blocked)) {
        tx_flush(s);
        if (s->broken) {
            end_connection(s);
            return;
        }
        if (!netbe_txbuf_used(&s->tx)) {
            tx_unblock(s);
        }
        if (s->fd < 0) {
            return;
        }
    }
    /*
     * Paused, a hang-up still ends the connection: read on (into the
     * core's queue) to the end, one buffer per wakeup.
     */
    if (((events & NETBE_EV_READ) && !s->read_paused) ||
        (events & NETBE_EV_ERROR)) {
        do_read(s);
    }
}

/*
 * Carry frames on @fd from now on.
 * Return: 0, or -1 when it cannot be watched (@fd is left to the caller:
 * a client that never reads must not exist)
 */
static int start_connection(struct sock *s, int fd, bool connected)
{
    int one = 1;

    s->events = 0;
    s->watch = netbe_watch_fd(loop_of(s), fd, 0, fd_cb, s);
    if (!s->watch) {
        return -1;
    }
    s->fd = fd;
    /* frames are small and latency matters: no Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->connecting = !connected;
    update_events(s);
    return 0;
}

static void accept_retry_cb(void *opaque)
{
    struct sock *s = opaque;

    if (s->fd < 0 && s->listen_watch) {
        netbe_update_fd(loop_of(s), s->listen_watch, NETBE_EV_READ);
    }
}

static void listen_cb(void *opaque, int fd, unsigned events)
{
    struct sock *s = opaque;
    struct netbe_loop *loop = loop_of(s);
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int cfd;

    if (s->fd >= 0) {
        return;
    }
    do {
        cfd = accept4(s->listen_fd, (struct sockaddr *)&sin, &len,
                      SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (cfd < 0 && errno == EINTR);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
            /* out of fds or memory: back off instead of spinning */
            netbe_warn_limited(&s->warn_accept, "%s: accept failed: %s",
                               s->nc.name, strerror(errno));
            netbe_update_fd(loop, s->listen_watch, 0);
            loop->ops->timer_mod(loop->opaque, s->accept_timer,
                                 netbe_clock_ms(loop) + ACCEPT_RETRY_MS);
        }
        return;
    }
    if (start_connection(s, cfd, true) < 0) {
        netbe_warn_limited(&s->warn_accept,
                           "%s: cannot watch a new connection, closed it",
                           s->nc.name);
        close(cfd);
        return;
    }
    /* one client at a time: the next waits in the backlog (QEMU) */
    netbe_update_fd(loop, s->listen_watch, 0);
    s->nc.link_down = false;
    snprintf(s->nc.info_str, sizeof(s->nc.info_str),
             "socket: connection from %s:%d", inet_ntoa(sin.sin_addr),
             ntohs(sin.sin_port));
}

static void sock_cleanup(struct netbe_client *nc)
{
    struct sock *s = to_sock(nc);

    netbe_unwatch_fd(loop_of(s), s->watch);
    s->watch = NULL;
    netbe_unwatch_fd(loop_of(s), s->listen_watch);
    s->listen_watch = NULL;
    if (s->accept_timer) {
        loop_of(s)->ops->timer_free(loop_of(s)->opaque, s->accept_timer);
        s->accept_timer = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    netbe_rstate_destroy(&s->rs);
    free(s->rbuf);
    s->rbuf = NULL;
    netbe_txbuf_destroy(&s->tx);
}

static const struct netbe_client_info sock_info = {
    .type = NETBE_DRIVER_SOCKET,
    .size = sizeof(struct sock),
    .receive_iov = sock_receive_iov,
    .flush = sock_flush,
    .cleanup = sock_cleanup,
};

static struct sock *stream_new(struct netbe_ctx *ctx, struct netbe_client *peer,
                               const char *name)
{
    struct sock *s;

    s = to_sock(netbe_client_new(ctx, &sock_info, peer, "socket", name));
    s->fd = -1;
    s->listen_fd = -1;
    netbe_rstate_init(&s->rs, false, 0, rs_finalize, s);
    s->rbuf = netbe_malloc0(READ_SIZE);
    netbe_txbuf_init(&s->tx, 0);
    return s;
}

/* ---- the modes ---- */

static int listen_init(struct netbe_ctx *ctx, const char *name,
                       struct netbe_client *peer, const char *host,
                       struct netbe_error **errp)
{
    struct sockaddr_in sin;
    struct sock *s;
    int fd, one = 1;

    if (netbe_parse_host_port(&sin, host, errp) < 0) {
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "can't create stream socket: %s",
                         strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        netbe_error_setg(errp, "can't bind ip=%s to socket: %s",
                         inet_ntoa(sin.sin_addr), strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 0) < 0) {
        netbe_error_setg(errp, "can't listen on socket: %s", strerror(errno));
        close(fd);
        return -1;
    }
    s = stream_new(ctx, peer, name);
    s->listen_fd = fd;
    s->nc.link_down = true;
    s->accept_timer =
        loop_of(s)->ops->timer_new(loop_of(s)->opaque, accept_retry_cb, s);
    s->listen_watch =
        netbe_watch_fd(loop_of(s), fd, NETBE_EV_READ, listen_cb, s);
    if (!s->listen_watch || !s->accept_timer) {
        netbe_error_setg(errp, "cannot watch fd %d", fd);
        netbe_client_del(&s->nc); /* closes fd */
        return -1;
    }
    return 0;
}

static int connect_init(struct netbe_ctx *ctx, const char *name,
                        struct netbe_client *peer, const char *host,
                        struct netbe_error **errp)
{
    struct sockaddr_in sin;
    bool connected = false;
    struct sock *s;
    int fd;

    if (netbe_parse_host_port(&sin, host, errp) < 0) {
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "can't create stream socket: %s",
                         strerror(errno));
        return -1;
    }
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
            connected = true;
            break;
        }
        if (errno == EINTR || errno == EWOULDBLOCK) {
            continue;
        }
        if (errno == EINPROGRESS || errno == EALREADY) {
            break;
        }
        netbe_error_setg(errp, "can't connect socket: %s", strerror(errno));
        close(fd);
        return -1;
    }
    s = stream_new(ctx, peer, name);
    if (start_connection(s, fd, connected) < 0) {
        netbe_error_setg(errp, "cannot watch fd %d", fd);
        close(fd);
        netbe_client_del(&s->nc);
        return -1;
    }
    snprintf(s->nc.info_str, sizeof(s->nc.info_str), "socket: connect to %s:%d",
             inet_ntoa(sin.sin_addr), ntohs(sin.sin_port));
    return 0;
}

static int fd_init(struct netbe_ctx *ctx, const char *name,
                   struct netbe_client *peer, const char *str,
                   struct netbe_error **errp)
{
    struct netbe_client *nc;
    const char *type;
    socklen_t len;
    int fd, so_type;

    fd = netbe_fd_param(name, str, errp);
    if (fd < 0) {
        return -1;
    }
    len = sizeof(so_type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &so_type, &len) < 0) {
        netbe_error_setg(errp, "can't get socket option SO_TYPE");
        close(fd);
        return -1;
    }
    switch (so_type) {
    case SOCK_DGRAM:
        type = netbe_fd_addr_type(fd, errp);
        if (!type) {
            close(fd);
            return -1;
        }
        /*
         * QEMU sends to an all-zero inet address here, which the kernel
         * refuses; the socket is connected, so send() is what works.
         */
        nc = netbe_dgram_client_new(ctx, NETBE_DRIVER_SOCKET, peer, "socket",
                                    name, fd, NULL, 0, errp);
        if (!nc) {
            return -1;
        }
        snprintf(nc->info_str, sizeof(nc->info_str), "socket: fd=%d %s", fd,
                 type);
        return 0;
    case SOCK_STREAM: {
        struct sock *s = stream_new(ctx, peer, name);

        if (start_connection(s, fd, true) < 0) {
            netbe_error_setg(errp, "cannot watch fd %d", fd);
            close(fd);
            netbe_client_del(&s->nc);
            return -1;
        }
        snprintf(s->nc.info_str, sizeof(s->nc.info_str), "socket: fd=%d", fd);
        return 0;
    }
    default:
        netbe_error_setg(errp,
                         "socket type=%d for fd=%d must be either SOCK_DGRAM "
                         "or SOCK_STREAM",
                         so_type, fd);
        close(fd);
        return -1;
    }
}

static int mcast_init(struct netbe_ctx *ctx, const char *name,
                      struct netbe_client *peer, const char *host,
                      const char *localaddr, struct netbe_error **errp)
{
    struct sockaddr_in group;
    struct in_addr laddr;
    struct netbe_client *nc;
    int fd;

    if (netbe_parse_host_port(&group, host, errp) < 0) {
        return -1;
    }
    if (localaddr && !inet_aton(localaddr, &laddr)) {
        netbe_error_setg(errp, "localaddr '%s' is not a valid IPv4 address",
                         localaddr);
        return -1;
    }
    fd = netbe_dgram_mcast_create(&group, localaddr ? &laddr : NULL, errp);
    if (fd < 0) {
        return -1;
    }
    nc = netbe_dgram_client_new(ctx, NETBE_DRIVER_SOCKET, peer, "socket", name,
                                fd, (struct sockaddr *)&group, sizeof(group),
                                errp);
    if (!nc) {
        return -1;
    }
    snprintf(nc->info_str, sizeof(nc->info_str), "socket: mcast=%s:%d",
             inet_ntoa(group.sin_addr), ntohs(group.sin_port));
    return 0;
}

static int udp_init(struct netbe_ctx *ctx, const char *name,
                    struct netbe_client *peer, const char *rhost,
                    const char *lhost, struct netbe_error **errp)
{
    struct sockaddr_in lin, rin;
    struct netbe_client *nc;
    int fd;

    if (netbe_parse_host_port(&lin, lhost, errp) < 0 ||
        netbe_parse_host_port(&rin, rhost, errp) < 0) {
        return -1;
    }
    fd = netbe_udp_bind(&lin, errp);
    if (fd < 0) {
        return -1;
    }
    nc = netbe_dgram_client_new(ctx, NETBE_DRIVER_SOCKET, peer, "socket", name,
                                fd, (struct sockaddr *)&rin, sizeof(rin), errp);
    if (!nc) {
        return -1;
    }
    snprintf(nc->info_str, sizeof(nc->info_str), "socket: udp=%s:%d",
             inet_ntoa(rin.sin_addr), ntohs(rin.sin_port));
    return 0;
}

static int socket_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                       const char *name, struct netbe_client *peer,
                       struct netbe_error **errp)
{
    const char *fd = netbe_opts_get(opts, "fd");
    const char *listen_s = netbe_opts_get(opts, "listen");
    const char *connect_s = netbe_opts_get(opts, "connect");
    const char *mcast = netbe_opts_get(opts, "mcast");
    const char *udp = netbe_opts_get(opts, "udp");
    const char *localaddr = netbe_opts_get(opts, "localaddr");

    if (!netbe_ctx_loop(ctx)) {
        netbe_error_setg(errp, "socket needs an event loop");
        return -1;
    }
    /* fd= counts too, though QEMU's message does not name it */
    if (!!fd + !!listen_s + !!connect_s + !!mcast + !!udp != 1) {
        netbe_error_setg(errp, "exactly one of listen=, connect=, mcast= or "
                               "udp= is required");
        return -1;
    }
    if (localaddr && !mcast && !udp) {
        netbe_error_setg(errp, "localaddr= is only valid with mcast= or udp=");
        return -1;
    }
    if (fd) {
        return fd_init(ctx, name, peer, fd, errp);
    }
    if (listen_s) {
        return listen_init(ctx, name, peer, listen_s, errp);
    }
    if (connect_s) {
        return connect_init(ctx, name, peer, connect_s, errp);
    }
    if (mcast) {
        return mcast_init(ctx, name, peer, mcast, localaddr, errp);
    }
    if (!localaddr) {
        netbe_error_setg(errp, "localaddr= is mandatory with udp=");
        return -1;
    }
    return udp_init(ctx, name, peer, udp, localaddr, errp);
}

static const struct netbe_opt_desc socket_opts[] = {
    {.name = "fd",
     .type = NETBE_OPT_STRING,
     .help = "an open stream or datagram socket to use"},
    {.name = "listen",
     .type = NETBE_OPT_STRING,
     .help = "[host]:port to accept one TCP connection at a time on"},
    {.name = "connect",
     .type = NETBE_OPT_STRING,
     .help = "host:port to connect to over TCP"},
    {.name = "mcast",
     .type = NETBE_OPT_STRING,
     .help = "maddr:port of a UDP multicast group to join"},
    {.name = "localaddr",
     .type = NETBE_OPT_STRING,
     .help = "with mcast=: the interface address to join on; with udp=: "
             "the host:port to bind"},
    {.name = "udp",
     .type = NETBE_OPT_STRING,
     .help = "host:port to send UDP datagrams to (needs localaddr=)"},
    {0},
};

static const struct netbe_schema socket_schema = {
    .type = "socket",
    .opts = socket_opts,
};

const struct netbe_backend_type netbe_backend_socket = {
    .name = "socket",
    .driver = NETBE_DRIVER_SOCKET,
    .schema = &socket_schema,
    .netdev_ok = true,
    .net_ok = true,
    .init = socket_init,
};
