/*
 * socket.c - the legacy "socket" netdev (QEMU 7.2's net/socket.c):
 * listen=/connect= carry frames over TCP with QEMU's 4-byte big-endian
 * length in front of each; mcast= and udp= carry one frame per datagram;
 * fd= takes a socket of either kind from the caller.
 *
 * A stream connection is lpconn.c's, as the stream netdev's: read 256 KiB
 * at a time and reassembled, frames handed on where they lie, output
 * gathered in a bounded buffer written once per batch.  What is QEMU's
 * socket here: the link is up while connect= connects (frames wait for
 * the connection), and the end of a connection takes the link down and
 * empties the info string; a listener then takes the next client.  A peer
 * that sends garbage or an oversized length loses its connection, nothing
 * else.  The datagram modes are dgram.c's client under the "socket" type.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/backends.h"
#include "backends/lpconn.h"
#include "backends/sockutil.h"
#include "netbe/log.h"
#include "netbe/util.h"

/* after EMFILE and friends, when accepting again might succeed */
#define ACCEPT_RETRY_MS 200

struct sock {
    struct netbe_client nc; /* first: the core allocates info->size */
    struct netbe_lpconn conn;
    int listen_fd; /* listen=: the listening socket, else -1 */
    void *listen_watch;
    void *accept_timer; /* listen=: accepting again after a failure */
    /* what peers can make us say, one connection after another */
    struct netbe_lpconn_warn warn_conn;
    struct netbe_warn_limit warn_malformed, warn_accept;
};

static struct sock *to_sock(struct netbe_client *nc)
{
    return (struct sock *)nc;
}

static struct netbe_loop *loop_of(struct sock *s)
{
    return netbe_ctx_loop(s->nc.ctx);
}

static ssize_t sock_receive_iov(struct netbe_client *nc,
                                const struct iovec *iov, int iovcnt)
{
    return netbe_lpconn_receive(&to_sock(nc)->conn, iov, iovcnt);
}

static void sock_flush(struct netbe_client *nc)
{
    netbe_lpconn_flush(&to_sock(nc)->conn);
}

static void sent_cb(struct netbe_client *sender, ssize_t ret)
{
    netbe_lpconn_sent(&to_sock(sender)->conn);
}

/*
 * End of connection, as QEMU: the link goes down, info_str empties, a
 * listener takes the next client.  Frames the core queued for us are
 * dropped as link-down rather than kept for a later connection.
 */
static void conn_ended(struct netbe_lpconn *c, enum netbe_lpconn_end why,
                       int err, const char *msg)
{
    struct sock *s = to_sock(c->nc);

    switch (why) {
    case NETBE_LPCONN_RESET:
        netbe_log(NETBE_LOG_INFO, "%s: connection error: %s", s->nc.name,
                  strerror(err));
        break;
    case NETBE_LPCONN_MALFORMED:
        netbe_warn_limited(&s->warn_malformed, "%s: %s", s->nc.name, msg);
        break;
    case NETBE_LPCONN_CONNECT_FAILED:
        netbe_log(NETBE_LOG_WARNING, "%s: connect failed: %s", s->nc.name,
                  strerror(err));
        break;
    case NETBE_LPCONN_EOF:
    case NETBE_LPCONN_TRUNCATED:
    case NETBE_LPCONN_BROKEN:
        break; /* QEMU says nothing; lpconn warned where it is a fault */
    }
    s->nc.link_down = true;
    s->nc.info_str[0] = '\0';
    if (s->listen_watch) {
        netbe_update_fd(loop_of(s), s->listen_watch, NETBE_EV_READ);
    }
    if (s->nc.receive_disabled) {
        netbe_batch_begin(s->nc.ctx);
        netbe_flush_queued(&s->nc);
        netbe_batch_end(s->nc.ctx);
    }
}

static const struct netbe_lpconn_ops conn_ops = {
    .prefix = "",
    .tx_while_connecting = true,
    .sent = sent_cb,
    .ended = conn_ended,
};

static void accept_retry_cb(void *opaque)
{
    struct sock *s = opaque;

    if (s->conn.fd < 0 && s->listen_watch) {
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

    if (s->conn.fd >= 0) {
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
    if (netbe_lpconn_attach(&s->conn, cfd, false) < 0) {
        netbe_warn_limited(&s->warn_accept,
                           "%s: cannot watch a new connection, closed it",
                           s->nc.name);
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

    netbe_lpconn_destroy(&s->conn);
    netbe_unwatch_fd(loop_of(s), s->listen_watch);
    s->listen_watch = NULL;
    if (s->accept_timer) {
        loop_of(s)->ops->timer_free(loop_of(s)->opaque, s->accept_timer);
        s->accept_timer = NULL;
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
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
    s->listen_fd = -1;
    netbe_lpconn_init(&s->conn, &s->nc, &conn_ops, &s->warn_conn, NULL);
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
    if (netbe_lpconn_attach(&s->conn, fd, !connected) < 0) {
        netbe_error_setg(errp, "cannot watch fd %d", fd);
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

        if (netbe_lpconn_attach(&s->conn, fd, false) < 0) {
            netbe_error_setg(errp, "cannot watch fd %d", fd);
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
