/*
 * stream.c - the "stream" netdev: frames over a byte stream (TCP or a
 * unix socket), each behind QEMU's 4-byte big-endian length, as QEMU
 * 7.2's net/stream.c puts them on the wire.
 *
 * Three shapes share one client type:
 *  - client (server=off): a non-blocking connect, optionally retried
 *    every reconnect seconds (a newer QEMU's option) after a failure or
 *    a disconnect;
 *  - server (server=on): listens and carries one connection at a time, as
 *    QEMU does; while one is up the listening socket is not watched, so
 *    later callers wait in the backlog until it leaves;
 *  - multi-VM listener (server=on,hubid=N, netbe's own): accepts any
 *    number of connections, each its own client "ID.K" peered with a new
 *    port of hub N; the listener client "ID" carries no traffic.
 *
 * The connection itself (reading, reassembly, the bounded transmit
 * buffer, flow control, broken and truncated connections) is lpconn.c's,
 * shared with the legacy socket netdev; this file decides what happens
 * around it: connecting, accepting, info strings, link state, what is
 * logged and what follows the end of a connection.  A connection that
 * sends nonsense loses only itself.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends.h"
#include "lpconn.h"
#include "netbe/event.h"
#include "netbe/log.h"
#include "netbe/net.h"
#include "netbe/util.h"
#include "sockutil.h"

#define MAX_CONNECTIONS_DEFAULT 64
#define ACCEPT_BATCH 64
/* after EMFILE and friends, when accepting again might succeed */
#define ACCEPT_RETRY_MS 200
/* connections checked per poll() when looking for hung-up ones */
#define REAP_CHUNK 64

enum mode {
    MODE_CLIENT,
    MODE_SERVER,
    MODE_HUB_LISTENER,
    MODE_HUB_CONN,
};

/*
 * The warnings a peer can provoke, rate-limited.  They live in the netdev,
 * so a hub connection uses its listener's and a storm of bad connections
 * shares one count.
 */
struct stream_warn {
    struct netbe_lpconn_warn conn; /* write, truncated */
    struct netbe_warn_limit read, malformed, refused, accept, watch;
};

struct stream {
    struct netbe_client nc; /* first: the core allocates the whole */
    enum mode mode;
    struct netbe_loop *loop;

    /*
     * The connection (client, server, hub connection).  A hub listener's
     * carries nothing; its read buffer is the one its connections share.
     */
    struct netbe_lpconn conn;
    bool told_up; /* NETDEV_STREAM_CONNECTED went out for this connection */

    /* listening (server, hub listener) */
    int lfd;
    void *lwatch;
    char *unlink_path;

    /* client */
    struct netbe_sa sa;
    uint32_t reconnect_ms;
    void *timer; /* reconnect, or the listener's accept retry */
    bool failed_once;
    struct netbe_sa_lookup *lookup; /* a host name being resolved */

    /* hub listener */
    int hub_id;
    uint32_t max_conns;
    uint32_t nconns;
    unsigned next_index;
    uint64_t refused;
    bool reaped; /* a sweep for hung-up connections found none this batch */
    LIST_HEAD(, stream) conns;
    struct stream_warn warn;

    /* hub connection */
    struct stream *listener;
    LIST_ENTRY(stream) link;
};

static const struct netbe_lpconn_ops conn_ops;

static struct stream *to_stream(struct netbe_client *nc)
{
    return (struct stream *)nc;
}

static struct stream_warn *warns(struct stream *s)
{
    return s->listener ? &s->listener->warn : &s->warn;
}

/* ---- the connection ---- */

static ssize_t stream_receive_iov(struct netbe_client *nc,
                                  const struct iovec *iov, int iovcnt)
{
    return netbe_lpconn_receive(&to_stream(nc)->conn, iov, iovcnt);
}

static void stream_flush(struct netbe_client *nc)
{
    netbe_lpconn_flush(&to_stream(nc)->conn);
}

static void stream_sent(struct netbe_client *nc, ssize_t ret)
{
    netbe_lpconn_sent(&to_stream(nc)->conn);
}

static void set_connected_info(struct stream *s, bool local_for_unix)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r;

    /*
     * QEMU names a unix connection by the server's path (the local end on
     * the server side) and a TCP one by the other end.
     */
    memset(&ss, 0, sizeof(ss));
    r = getsockname(s->conn.fd, (struct sockaddr *)&ss, &len);
    if (r == 0 && (ss.ss_family != AF_UNIX || !local_for_unix)) {
        len = sizeof(ss);
        memset(&ss, 0, sizeof(ss));
        r = getpeername(s->conn.fd, (struct sockaddr *)&ss, &len);
    }
    if (r < 0) {
        s->nc.info_str[0] = '\0';
        return;
    }
    netbe_sockaddr_to_uri((struct sockaddr *)&ss, len, s->nc.info_str,
                          sizeof(s->nc.info_str));
}

/*
 * QEMU 8.0's NETDEV_STREAM_CONNECTED, with the address its info string
 * names (see set_connected_info()) as a QAPI SocketAddress.
 */
static void tell_connected(struct stream *s, bool local_for_unix)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct netbe_event_field f[6] = {
        {.name = "netdev-id", .type = NETBE_EVENT_STR, .str = s->nc.name},
    };
    char host[NI_MAXHOST], port[NI_MAXSERV];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    int n = 1, r;

    memset(&ss, 0, sizeof(ss));
    r = getsockname(s->conn.fd, (struct sockaddr *)&ss, &len);
    if (r == 0 && (ss.ss_family != AF_UNIX || !local_for_unix)) {
        len = sizeof(ss);
        memset(&ss, 0, sizeof(ss));
        r = getpeername(s->conn.fd, (struct sockaddr *)&ss, &len);
    }
    if (r < 0) {
        return;
    }
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        bool abstract = plen > 0 && un->sun_path[0] == '\0';

        if (abstract) {
            memcpy(path, un->sun_path + 1, plen - 1);
            path[plen - 1] = '\0';
        } else {
            memcpy(path, un->sun_path, plen);
            path[plen] = '\0';
        }
        f[n++] = (struct netbe_event_field){
            .name = "addr.type", .type = NETBE_EVENT_STR, .str = "unix"};
        f[n++] = (struct netbe_event_field){
            .name = "addr.path", .type = NETBE_EVENT_STR, .str = path};
        if (abstract) {
            f[n++] = (struct netbe_event_field){.name = "addr.abstract",
                                                .type = NETBE_EVENT_BOOL,
                                                .flag = true};
            f[n++] =
                (struct netbe_event_field){.name = "addr.tight",
                                           .type = NETBE_EVENT_BOOL,
                                           .flag = strlen(path) + 1 == plen};
        }
    } else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
                        sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV)) {
            return;
        }
        f[n++] = (struct netbe_event_field){
            .name = "addr.type", .type = NETBE_EVENT_STR, .str = "inet"};
        f[n++] = (struct netbe_event_field){
            .name = "addr.host", .type = NETBE_EVENT_STR, .str = host};
        f[n++] = (struct netbe_event_field){
            .name = "addr.port", .type = NETBE_EVENT_STR, .str = port};
    } else {
        return;
    }
    s->told_up = true;
    netbe_event_emit(s->nc.ctx, NETBE_EVENT_NETDEV_STREAM_CONNECTED, f, n);
}

/* ... and NETDEV_STREAM_DISCONNECTED once a told connection is over. */
static void tell_disconnected(struct stream *s)
{
    if (!s->told_up) {
        return;
    }
    s->told_up = false;
    netbe_event_emit(
        s->nc.ctx, NETBE_EVENT_NETDEV_STREAM_DISCONNECTED,
        (const struct netbe_event_field[]){
            {.name = "netdev-id", .type = NETBE_EVENT_STR, .str = s->nc.name},
        },
        1);
}

/*
 * Start carrying frames on @fd, a connected socket.
 * Return: 0, or -1 when it cannot be watched (then @fd is closed)
 */
static int conn_attach(struct stream *s, int fd, bool server_side)
{
    if (netbe_lpconn_attach(&s->conn, fd, false) < 0) {
        return -1;
    }
    set_connected_info(s, server_side);
    s->nc.link_down = false;
    tell_connected(s, server_side);
    return 0;
}

static void arm_timer(struct stream *s, uint32_t ms)
{
    struct netbe_loop *l = s->loop;

    if (!s->timer) {
        return;
    }
    l->ops->timer_mod(l->opaque, s->timer, netbe_clock_ms(l) + ms);
}

static void listener_resume(struct stream *s)
{
    if (s->lwatch) {
        netbe_update_fd(s->loop, s->lwatch, NETBE_EV_READ);
    }
}

/*
 * The connection is over.  Must be called from an fd or timer callback
 * only: a hub connection deletes its client here.
 */
static void conn_lost(struct stream *s)
{
    netbe_lpconn_close(&s->conn);
    tell_disconnected(s);
    if (s->mode == MODE_HUB_CONN) {
        netbe_client_del(&s->nc);
        return;
    }
    /* as QEMU: link down and an empty info string until the next peer */
    s->nc.link_down = true;
    s->nc.info_str[0] = '\0';
    /* frames the core held for us are now dropped as link-down */
    netbe_flush_queued(&s->nc);
    if (s->mode == MODE_SERVER) {
        listener_resume(s);
    } else if (s->reconnect_ms && s->sa.type != NETBE_SA_FD) {
        arm_timer(s, s->reconnect_ms);
    }
}

static void client_failed(struct stream *s, const char *msg)
{
    /* a retry loop logs its first failure only */
    if (!s->failed_once) {
        netbe_log(NETBE_LOG_WARNING, "stream %s: %s", s->nc.name, msg);
    }
    s->failed_once = true;
    netbe_lpconn_close(&s->conn);
    s->nc.link_down = true;
    snprintf(s->nc.info_str, sizeof(s->nc.info_str), "connection error");
    if (s->reconnect_ms) {
        arm_timer(s, s->reconnect_ms);
    }
}

/* A client's connection is up (it is attached already). */
static void client_up(struct stream *s)
{
    s->failed_once = false;
    set_connected_info(s, false);
    s->nc.link_down = false;
    tell_connected(s, false);
    netbe_log(NETBE_LOG_INFO, "stream %s: connected to %s", s->nc.name,
              s->nc.info_str);
}

static void conn_connected(struct netbe_lpconn *c)
{
    client_up(to_stream(c->nc));
}

/* The connection ended: say why, in our words, then go on as our mode. */
static void conn_ended(struct netbe_lpconn *c, enum netbe_lpconn_end why,
                       int err, const char *msg)
{
    struct stream *s = to_stream(c->nc);
    struct stream_warn *w = warns(s);
    char what[256], text[512];

    switch (why) {
    case NETBE_LPCONN_EOF:
        netbe_log(NETBE_LOG_INFO, "stream %s: peer disconnected", s->nc.name);
        break;
    case NETBE_LPCONN_RESET:
        netbe_warn_limited(&w->read, "stream %s: read failed: %s", s->nc.name,
                           strerror(err));
        break;
    case NETBE_LPCONN_MALFORMED:
        netbe_warn_limited(&w->malformed,
                           "stream %s: %s, closing the connection", s->nc.name,
                           msg);
        break;
    case NETBE_LPCONN_CONNECT_FAILED:
        netbe_sa_describe(&s->sa, what, sizeof(what));
        snprintf(text, sizeof(text), "Failed to connect to '%s': %s", what,
                 strerror(err));
        client_failed(s, text);
        return;
    case NETBE_LPCONN_TRUNCATED:
    case NETBE_LPCONN_BROKEN:
        break; /* warned about already */
    }
    conn_lost(s);
}

static const struct netbe_lpconn_ops conn_ops = {
    .prefix = "stream ",
    .sent = stream_sent,
    .connected = conn_connected,
    .ended = conn_ended,
};

/* ---- client ---- */

/*
 * Connect to @ss (resolved from s->sa), or to the fd of an fd address
 * when @ss is NULL.
 * Return: 0 when connected or connecting, -1 with @errp on failure.
 */
static int client_connect(struct stream *s, const struct sockaddr_storage *ss,
                          socklen_t len, struct netbe_error **errp)
{
    bool in_progress;
    int fd;

    if (ss) {
        fd = netbe_sa_connect_to(&s->sa, SOCK_STREAM, ss, len, &in_progress,
                                 errp);
    } else {
        fd = netbe_sa_connect(&s->sa, SOCK_STREAM, &in_progress, errp);
    }
    if (fd < 0) {
        return -1;
    }
    if (in_progress) {
        if (netbe_lpconn_attach(&s->conn, fd, true) < 0) {
            netbe_error_setg(errp, "cannot watch fd %d", fd);
            return -1;
        }
        return 0;
    }
    if (netbe_lpconn_attach(&s->conn, fd, false) < 0) {
        s->failed_once = false;
        netbe_warn_limited(&warns(s)->watch,
                           "stream %s: cannot watch the socket", s->nc.name);
        conn_lost(s);
        return 0;
    }
    client_up(s);
    return 0;
}
static void client_resolved(void *opaque, const struct sockaddr_storage *ss,
                            socklen_t len, struct netbe_error *err)
{
    struct stream *s = opaque;
    struct netbe_error *cerr = NULL;

    s->lookup = NULL;
    if (err) {
        client_failed(s, netbe_error_msg(err));
        return;
    }
    if (client_connect(s, ss, len, &cerr) < 0) {
        client_failed(s, netbe_error_msg(cerr));
        netbe_error_free(cerr);
    }
}

/*
 * Return: 0 when connected, connecting or resolving (the outcome comes to
 * client_resolved()), -1 with @errp on failure.
 */
static int client_start(struct stream *s, struct netbe_error **errp)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int r;

    if (s->sa.type == NETBE_SA_FD) {
        return client_connect(s, NULL, 0, errp);
    }
    /* a host name is looked up off the loop: a slow resolver stalls no one */
    r = netbe_sa_resolve_start(s->loop, &s->sa, SOCK_STREAM, &ss, &len,
                               client_resolved, s, &s->lookup, errp);
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    return client_connect(s, &ss, len, errp);
}

static void reconnect_cb(void *opaque)
{
    struct stream *s = opaque;
    struct netbe_error *err = NULL;

    if (s->conn.fd >= 0 || s->lookup) {
        return;
    }
    if (client_start(s, &err) < 0) {
        client_failed(s, netbe_error_msg(err));
        netbe_error_free(err);
    }
}

/* ---- server: one connection at a time ---- */

static void hub_conn_new(struct stream *l, int cfd);

static void accept_retry_cb(void *opaque)
{
    listener_resume(opaque);
}

static void listener_cb(void *opaque, int fd, unsigned events)
{
    struct stream *s = opaque;
    int i;

    s->reaped = false;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        int cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* out of fds or memory: back off instead of spinning */
                netbe_warn_limited(&s->warn.accept,
                                   "stream %s: accept failed: %s", s->nc.name,
                                   strerror(errno));
                netbe_update_fd(s->loop, s->lwatch, 0);
                arm_timer(s, ACCEPT_RETRY_MS);
            }
            return;
        }
        if (s->mode == MODE_HUB_LISTENER) {
            hub_conn_new(s, cfd);
            continue;
        }
        if (conn_attach(s, cfd, true) < 0) {
            netbe_warn_limited(&s->warn.watch,
                               "stream %s: cannot watch a new connection, "
                               "closed it",
                               s->nc.name);
            continue;
        }
        netbe_log(NETBE_LOG_INFO, "stream %s: connection from %s", s->nc.name,
                  s->nc.info_str);
        /* the next caller waits in the backlog until this one leaves */
        netbe_update_fd(s->loop, s->lwatch, 0);
        return;
    }
}

/* ---- multi-VM listener ---- */

static const struct netbe_client_info stream_info;

/*
 * At max-connections, before refusing: end the connections whose peer has
 * already hung up but whose end has not come round in the loop yet.  In a
 * connect storm one accept batch takes connections faster than their EOF
 * is read, and each would hold a slot meanwhile.  Bounded: one poll() of
 * REAP_CHUNK connections per call, once per accept batch.
 * Return: whether a slot came free
 */
static bool reap_hung_up(struct stream *l)
{
    struct pollfd pfd[REAP_CHUNK];
    struct stream *conn[REAP_CHUNK];
    struct stream *c = LIST_FIRST(&l->conns);
    uint32_t before = l->nconns;

    /* a sweep that freed nothing is not repeated within the batch */
    if (l->reaped) {
        return false;
    }
    while (c) {
        int n = 0;

        for (; c && n < REAP_CHUNK; c = LIST_NEXT(c, link)) {
            if (netbe_lpconn_up(&c->conn)) {
                pfd[n].fd = c->conn.fd;
                pfd[n].events = POLLRDHUP;
                pfd[n].revents = 0;
                conn[n++] = c;
            }
        }
        if (n == 0 || poll(pfd, (nfds_t)n, 0) <= 0) {
            continue;
        }
        /* ending one deletes only that one: @c and the rest stay valid */
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
                netbe_lpconn_event(&conn[i]->conn,
                                   NETBE_EV_READ | NETBE_EV_ERROR);
            }
        }
    }
    l->reaped = l->nconns >= before;
    return l->nconns < before;
}

static void hub_conn_new(struct stream *l, int cfd)
{
    struct netbe_ctx *ctx = l->nc.ctx;
    struct stream *c;
    char *name;

    if (l->nconns >= l->max_conns && !reap_hung_up(l)) {
        close(cfd);
        l->refused++;
        /*
         * A burst of connects must not become a burst of log lines: say
         * it at the 1st, 2nd, 4th, 8th... refusal, with the running count.
         */
        snprintf(l->nc.info_str, sizeof(l->nc.info_str),
                 "listening, %llu refused over max-connections",
                 (unsigned long long)l->refused);
        if (!netbe_warn_limit_hit(&l->warn.refused)) {
            return;
        }
        netbe_log(NETBE_LOG_WARNING,
                  "stream %s: connection refused: %u connections already "
                  "(max-connections), %llu refused so far",
                  l->nc.name, l->nconns, (unsigned long long)l->refused);
        return;
    }
    name = netbe_switch_port_name(&l->nc, &l->next_index);
    c = to_stream(netbe_client_new(ctx, &stream_info, NULL, "stream", name));
    free(name);
    c->mode = MODE_HUB_CONN;
    c->loop = l->loop;
    c->lfd = -1;
    c->listener = l;
    /* one read at a time: the listener's buffer serves them all */
    netbe_lpconn_init(&c->conn, &c->nc, &conn_ops, &l->warn.conn, l->conn.rbuf);
    LIST_INSERT_HEAD(&l->conns, c, link);
    l->nconns++;

    netbe_switch_port_join(&l->nc, &c->nc, l->hub_id);
    if (conn_attach(c, cfd, true) < 0) {
        netbe_warn_limited(&l->warn.watch,
                           "stream %s: cannot watch a new connection, "
                           "closed it",
                           l->nc.name);
        netbe_client_del(&c->nc);
        return;
    }
    netbe_log(NETBE_LOG_INFO, "stream %s: connection from %s on hub %d",
              c->nc.name, c->nc.info_str, l->hub_id);
}

/* ---- cleanup ---- */

static void stream_cleanup(struct netbe_client *nc)
{
    struct stream *s = to_stream(nc);
    struct netbe_loop *l = s->loop;

    if (s->mode == MODE_HUB_LISTENER) {
        while (!LIST_EMPTY(&s->conns)) {
            netbe_client_del(&LIST_FIRST(&s->conns)->nc);
        }
        netbe_switch_release(nc->ctx, s->hub_id);
    }
    if (s->mode == MODE_HUB_CONN) {
        LIST_REMOVE(s, link);
        s->listener->nconns--;
        netbe_switch_port_leave(nc);
    }
    netbe_lpconn_destroy(&s->conn);
    netbe_unwatch_fd(l, s->lwatch);
    s->lwatch = NULL;
    if (s->lfd >= 0) {
        close(s->lfd);
        s->lfd = -1;
    }
    if (s->unlink_path) {
        unlink(s->unlink_path);
        free(s->unlink_path);
        s->unlink_path = NULL;
    }
    if (s->timer) {
        l->ops->timer_free(l->opaque, s->timer);
        s->timer = NULL;
    }
    /* a lookup still under way must not call back into freed memory */
    netbe_sa_lookup_cancel(s->lookup);
    s->lookup = NULL;
    netbe_sa_clear(&s->sa);
}

static const struct netbe_client_info stream_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct stream),
    .receive_iov = stream_receive_iov,
    .flush = stream_flush,
    .cleanup = stream_cleanup,
};

/* ---- init ---- */

struct stream_args {
    bool server;
    bool has_reconnect, has_reconnect_ms;
    uint32_t reconnect_ms;
    bool has_hubid;
    int hub_id;
    bool learning;
    uint32_t max_conns;
};

static int read_args(const struct netbe_opts *opts, struct stream_args *a,
                     struct netbe_error **errp)
{
    const char *v;

    a->server = netbe_opts_get_bool(opts, "server", false);
    a->has_reconnect = netbe_opts_get(opts, "reconnect") != NULL;
    a->has_reconnect_ms = netbe_opts_get(opts, "reconnect-ms") != NULL;
    if (a->has_reconnect && a->has_reconnect_ms) {
        netbe_error_setg(errp, "'reconnect' and 'reconnect-ms' are mutually "
                               "exclusive");
        return -1;
    }
    if (a->server && (a->has_reconnect || a->has_reconnect_ms)) {
        netbe_error_setg(errp, "'reconnect' and 'reconnect-ms' options are "
                               "incompatible with socket in server mode");
        return -1;
    }
    if (a->has_reconnect_ms) {
        a->reconnect_ms =
            (uint32_t)netbe_opts_get_number(opts, "reconnect-ms", 0);
    } else if (a->has_reconnect) {
        uint64_t sec = netbe_opts_get_number(opts, "reconnect", 0);

        a->reconnect_ms =
            sec > UINT32_MAX / 1000 ? UINT32_MAX : (uint32_t)sec * 1000u;
    }

    v = netbe_opts_get(opts, "hubid");
    a->has_hubid = v != NULL;
    a->hub_id = (int)strtol(v ? v : "0", NULL, 0);
    a->learning = netbe_opts_get_bool(opts, "learning", true);
    a->max_conns = (uint32_t)netbe_opts_get_number(opts, "max-connections",
                                                   MAX_CONNECTIONS_DEFAULT);
    if (a->has_hubid && !a->server) {
        netbe_error_setg(errp, "Parameter 'hubid' requires server=on");
        return -1;
    }
    if (!a->has_hubid) {
        if (netbe_opts_get(opts, "learning")) {
            netbe_error_setg(errp, "Parameter 'learning' requires 'hubid'");
            return -1;
        }
        if (netbe_opts_get(opts, "max-connections")) {
            netbe_error_setg(errp,
                             "Parameter 'max-connections' requires 'hubid'");
            return -1;
        }
    }
    if (a->has_hubid && a->max_conns == 0) {
        netbe_error_setg(errp,
                         "Parameter 'max-connections' expects a number of "
                         "at least 1");
        return -1;
    }
    return 0;
}

static struct stream *stream_new(struct netbe_ctx *ctx,
                                 struct netbe_client *peer, const char *name)
{
    struct stream *s;

    s = to_stream(netbe_client_new(ctx, &stream_info, peer, "stream", name));
    s->loop = netbe_ctx_loop(ctx);
    s->lfd = -1;
    s->nc.link_down = true;
    netbe_lpconn_init(&s->conn, &s->nc, &conn_ops, &s->warn.conn, NULL);
    LIST_INIT(&s->conns);
    return s;
}

static int stream_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                       const char *name, struct netbe_client *peer,
                       struct netbe_error **errp)
{
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    struct stream_args a = {0};
    struct netbe_error *err = NULL;
    struct netbe_sa sa;
    struct stream *s;
    char *path = NULL;
    int r, lfd;

    r = netbe_sa_from_opts(&sa, opts, "addr", errp);
    if (r != 0) {
        if (r > 0) {
            netbe_error_setg(errp, "Parameter 'addr' is missing");
        }
        return -1;
    }
    if (read_args(opts, &a, errp) < 0) {
        goto fail;
    }
    if (!loop) {
        netbe_error_setg(errp, "stream needs an event loop");
        goto fail;
    }

    if (!a.server) {
        s = stream_new(ctx, peer, name);
        s->mode = MODE_CLIENT;
        s->sa = sa;
        s->reconnect_ms = a.reconnect_ms;
        if (s->reconnect_ms) {
            s->timer = loop->ops->timer_new(loop->opaque, reconnect_cb, s);
        }
        if (client_start(s, &err) < 0) {
            if (!s->reconnect_ms) {
                netbe_error_propagate(errp, err);
                netbe_client_del(&s->nc);
                return -1;
            }
            /* retried by the timer; the first failure is logged */
            client_failed(s, netbe_error_msg(err));
            netbe_error_free(err);
        }
        return 0;
    }

    lfd = netbe_sa_listen(&sa, SOCK_STREAM, a.has_hubid ? SOMAXCONN : 1, &path,
                          errp);
    if (lfd < 0) {
        goto fail;
    }
    if (a.has_hubid && netbe_switch_hold(ctx, a.hub_id, a.learning, errp) < 0) {
        close(lfd);
        if (path) {
            unlink(path);
            free(path);
        }
        goto fail;
    }
    s = stream_new(ctx, a.has_hubid ? NULL : peer, name);
    s->sa = sa;
    s->lfd = lfd;
    s->unlink_path = path;
    s->timer = loop->ops->timer_new(loop->opaque, accept_retry_cb, s);
    if (a.has_hubid) {
        s->mode = MODE_HUB_LISTENER;
        s->nc.is_datapath = false; /* no peer, and none is missing */
        s->hub_id = a.hub_id;
        s->max_conns = a.max_conns;
        /* it carries no frames; newer QEMU's word for a waiting server */
        snprintf(s->nc.info_str, sizeof(s->nc.info_str), "listening");
    } else {
        s->mode = MODE_SERVER;
    }
    s->lwatch = netbe_watch_fd(loop, lfd, NETBE_EV_READ, listener_cb, s);
    if (!s->lwatch) {
        netbe_error_setg(errp, "cannot watch fd %d", lfd);
        netbe_client_del(&s->nc);
        return -1;
    }
    return 0;

fail:
    netbe_sa_clear(&sa);
    return -1;
}

static const struct netbe_opt_desc stream_opts[] = {
    {"server", NETBE_OPT_BOOL, false,
     "listen for connections instead of connecting", "off"},
    {"addr.*", NETBE_OPT_STRING, true,
     "the socket: addr.type=inet,addr.host=H,addr.port=P[,addr.to=MAX]"
     "[,addr.numeric=on|off][,addr.ipv4=on|off][,addr.ipv6=on|off]"
     "[,addr.keep-alive=on|off][,addr.mptcp=on|off] or addr.type=unix,"
     "addr.path=P[,addr.abstract=on|off][,addr.tight=on|off] or "
     "addr.type=fd,addr.str=FD",
     NULL},
    {"reconnect", NETBE_OPT_UINT32, false,
     "client: seconds to wait before connecting again after a failure or "
     "a disconnect (0: never)",
     "0"},
    {"reconnect-ms", NETBE_OPT_UINT32, false,
     "client: as reconnect, in milliseconds", "0"},
    {"hubid", NETBE_OPT_INT32, false,
     "server (netbe): accept any number of connections, each a client "
     "ID.N on its own port of this hub; the netdev itself carries no "
     "frames and netdev_del closes them all",
     NULL},
    {"learning", NETBE_OPT_BOOL, false,
     "with hubid (netbe): make the hub a learning switch", "on"},
    {"max-connections", NETBE_OPT_UINT32, false,
     "with hubid (netbe): connections carried at once; more are accepted "
     "and closed at once",
     "64"},
    {0},
};

static const struct netbe_schema stream_schema = {
    .type = "stream",
    .opts = stream_opts,
    .keyval = true,
};

const struct netbe_backend_type netbe_backend_stream = {
    .name = "stream",
    .driver = NETBE_DRIVER_STREAM,
    .schema = &stream_schema,
    .netdev_ok = true,
    /* QEMU 7.2 has no -net stream: its legacy parser cannot take addr.* */
    .net_ok = false,
    .init = stream_init,
};
