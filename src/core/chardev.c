/*
 * chardev.c - QEMU's "-chardev socket" (chardev/char-socket.c): one byte
 * stream over a unix or TCP connection, as a server that takes one client
 * at a time or as a client that may reconnect, for the filters and the
 * monitors (netbe/chardev.h).
 *
 * It lives in the core so that src/filters, which may use only the core,
 * can carry frames over it.  All I/O is non-blocking on the context's
 * loop: output the socket does not take waits in one bounded buffer, and
 * input is read only while a frontend wants it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/internal.h"
#include "netbe/chardev.h"
#include "netbe/log.h"
#include "netbe/util.h"

struct netbe_chardev {
    struct netbe_ctx *ctx;
    struct netbe_loop *loop;
    char *id;
    LIST_ENTRY(netbe_chardev) next;

    /* the address */
    bool is_server, is_unix, wait, nodelay;
    uint64_t reconnect_s; /* client: retry after this many s; 0: never */
    char *path;           /* unix */
    char *host, *port;    /* inet, as given */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *created_path; /* a server's socket file, unlinked at the end */

    int listen_fd;
    void *listen_watch;

    /* the connection */
    int fd;
    void *watch;
    unsigned events;
    unsigned gen; /* counts connections, to notice one ended in a callback */
    bool connecting, open, waiting, read_paused, want_writable;
    uint8_t *out; /* NETBE_CHARDEV_OUT_MAX bytes while a connection needs */
    size_t out_head, out_tail;
    uint8_t *rbuf;
    void *reconnect_timer;

    const struct netbe_chardev_handlers *h;
    void *opaque;
};

/* ---- options ---- */

/* The keys of QEMU's socket chardev that netbe has. */
static const struct {
    const char *name, *type;
} socket_keys[] = {
    {"abstract", "bool (on/off)"},
    {"host", "str"},
    {"ipv4", "bool (on/off)"},
    {"ipv6", "bool (on/off)"},
    {"nodelay", "bool (on/off)"},
    {"path", "str"},
    {"port", "str"},
    {"reconnect", "num"},
    {"server", "bool (on/off)"},
    {"tight", "bool (on/off)"},
    {"to", "num"},
    {"wait", "bool (on/off)"},
};

/* QEMU's other chardev keys: known, but not what netbe does. */
static const char *const unsupported_keys[] = {
    "fd",        "telnet",    "tn3270", "websocket", "tls-creds", "tls-authz",
    "logfile",   "logappend", "mux",    "localaddr", "localport", "signal",
    "chardev",   "append",    "size",   "name",      "debug",     "mouse",
    "clipboard", "cols",      "rows",   "width",     "height",    "delay",
};

/* QEMU's chardev backends, of which netbe has "socket" only. */
static const char *const qemu_backends[] = {
    "stdio",   "ringbuf",  "mux",      "pipe",    "qemu-vdagent", "null",
    "msmouse", "vc",       "parallel", "udp",     "memory",       "file",
    "serial",  "wctablet", "pty",      "testdev", "spicevmc",     "spiceport",
    "braille", "console",  "tty",      "dbus",
};

static bool key_known(const char *key)
{
    size_t i;

    for (i = 0; i < NETBE_ARRAY_SIZE(socket_keys); i++) {
        if (!strcmp(key, socket_keys[i].name)) {
            return true;
        }
    }
    return !strcmp(key, "backend") || !strcmp(key, "id");
}

static int get_bool(const struct netbe_opts *opts, const char *key, bool def,
                    bool *out, struct netbe_error **errp)
{
    const char *v = netbe_opts_get(opts, key);

    *out = def;
    if (v && netbe_parse_bool(v, out) < 0) {
        netbe_error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return -1;
    }
    return 0;
}

static int get_num(const struct netbe_opts *opts, const char *key,
                   uint64_t *out, struct netbe_error **errp)
{
    const char *v = netbe_opts_get(opts, key);

    *out = 0;
    if (!v) {
        return 0;
    }
    /* QemuOpts' numbers: strtoull, so "-1" is a (huge) number */
    if (v[0] == '-' && v[1] >= '0' && v[1] <= '9') {
        uint64_t n;

        if (netbe_parse_uint(v + 1, &n) == 0) {
            *out = (uint64_t)0 - n;
            return 0;
        }
    } else if (netbe_parse_uint(v, out) == 0) {
        return 0;
    }
    netbe_error_setg(errp, "Parameter '%s' expects a number", key);
    return -1;
}

/* What the checks decided, for netbe_chardev_add_opts(). */
struct sock_conf {
    const char *id, *path, *host, *port;
    bool server, wait, nodelay, ipv4, ipv6, has_ipv4, has_ipv6;
    bool abstract, tight;
    uint64_t reconnect, to;
};

static int check_opts(const struct netbe_opts *opts, struct sock_conf *c,
                      struct netbe_error **errp)
{
    const char *backend = netbe_opts_get(opts, "backend");
    size_t i, k;
    int n;

    memset(c, 0, sizeof(*c));
    if (!backend) {
        netbe_error_setg(errp, "chardev: \"%s\" missing backend",
                         netbe_opts_get(opts, "id") ? netbe_opts_get(opts, "id")
                                                    : "");
        return -1;
    }
    if (strcmp(backend, "socket") != 0) {
        for (k = 0; k < NETBE_ARRAY_SIZE(qemu_backends); k++) {
            if (!strcmp(backend, qemu_backends[k])) {
                netbe_error_setg(errp,
                                 "chardev backend '%s' is not supported by "
                                 "netbe (it has 'socket' only)",
                                 backend);
                return -1;
            }
        }
        netbe_error_setg(errp, "'%s' is not a valid char driver name", backend);
        return -1;
    }
    for (i = 0; i < opts->n; i++) {
        const char *key = opts->v[i].key;

        if (key_known(key)) {
            continue;
        }
        for (k = 0; k < NETBE_ARRAY_SIZE(unsupported_keys); k++) {
            if (!strcmp(key, unsupported_keys[k])) {
                netbe_error_setg(errp,
                                 "chardev option '%s' is not supported by "
                                 "netbe",
                                 key);
                return -1;
            }
        }
        netbe_error_setg(errp, "Invalid parameter '%s'", key);
        return -1;
    }
    c->id = netbe_opts_get(opts, "id");
    if (!c->id) {
        netbe_error_setg(errp, "chardev: no id specified");
        return -1;
    }
    if (!netbe_id_wellformed(c->id)) {
        netbe_error_setg(errp, "Parameter 'id' expects an identifier\n"
                               "Identifiers consist of letters, digits, "
                               "'-', '.', '_', starting with a letter.");
        return -1;
    }
    if (get_bool(opts, "server", false, &c->server, errp) < 0 ||
        get_bool(opts, "wait", true, &c->wait, errp) < 0 ||
        get_bool(opts, "nodelay", false, &c->nodelay, errp) < 0 ||
        get_bool(opts, "ipv4", false, &c->ipv4, errp) < 0 ||
        get_bool(opts, "ipv6", false, &c->ipv6, errp) < 0 ||
        get_bool(opts, "abstract", false, &c->abstract, errp) < 0 ||
        get_bool(opts, "tight", true, &c->tight, errp) < 0 ||
        get_num(opts, "reconnect", &c->reconnect, errp) < 0 ||
        get_num(opts, "to", &c->to, errp) < 0) {
        return -1;
    }
    c->has_ipv4 = netbe_opts_get(opts, "ipv4") != NULL;
    c->has_ipv6 = netbe_opts_get(opts, "ipv6") != NULL;
    c->path = netbe_opts_get(opts, "path");
    c->host = netbe_opts_get(opts, "host");
    c->port = netbe_opts_get(opts, "port");
    n = !!c->path + !!c->host;
    if (n > 1) {
        netbe_error_setg(errp, "None or one of 'path', 'fd' or 'host' option "
                               "required.");
        return -1;
    }
    if (n == 0) {
        /* QEMU then takes the chardev for an fd= one, with no number */
        netbe_error_setg(errp, "Unable to parse FD number ");
        return -1;
    }
    if (c->host && !c->port) {
        netbe_error_setg(errp, "chardev: socket: no port given");
        return -1;
    }
    if (!c->server && netbe_opts_get(opts, "wait")) {
        netbe_error_setg(errp, "'wait' option is incompatible with socket in "
                               "client connect mode");
        return -1;
    }
    if (c->server && netbe_opts_get(opts, "reconnect")) {
        netbe_error_setg(errp, "'reconnect' option is incompatible with "
                               "socket in server listen mode");
        return -1;
    }
    if (c->path &&
        strlen(c->path) >= sizeof(((struct sockaddr_un *)0)->sun_path) -
                               (c->abstract ? 1 : 0)) {
        netbe_error_setg(errp, "UNIX socket path '%s' is too long", c->path);
        return -1;
    }
    return 0;
}

int netbe_chardev_check_opts(const struct netbe_opts *opts,
                             struct netbe_error **errp)
{
    struct sock_conf c;

    return check_opts(opts, &c, errp);
}

int netbe_chardev_help(const struct netbe_opts *opts, FILE *out,
                       struct netbe_error **errp)
{
    const char *backend = netbe_opts_get(opts, "backend");
    size_t i;

    if ((backend && netbe_is_help_option(backend)) ||
        (!backend && netbe_opts_get(opts, "help"))) {
        fputs("Available chardev backend types: \n  socket\n", out);
        return 1;
    }
    if (!netbe_opts_get(opts, "help")) {
        return 0;
    }
    if (strcmp(backend, "socket") != 0) {
        netbe_error_setg(errp, "'%s' is not a valid char driver name", backend);
        return -1;
    }
    fputs("chardev options:\n", out);
    for (i = 0; i < NETBE_ARRAY_SIZE(socket_keys); i++) {
        fprintf(out, "  %s=<%s>\n", socket_keys[i].name, socket_keys[i].type);
    }
    return 1;
}

/* ---- addresses ---- */

static int resolve(struct netbe_chardev *chr, const struct sock_conf *c,
                   struct netbe_error **errp)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int r;

    if (c->path) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&chr->addr;
        size_t len = strlen(c->path);
        size_t off = c->abstract ? 1 : 0;

        memset(sun, 0, sizeof(*sun));
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path + off, c->path, len);
        chr->addrlen =
            c->abstract && c->tight
                ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)
                : (socklen_t)sizeof(*sun);
        return 0;
    }
    hints.ai_flags = c->server ? AI_PASSIVE : 0;
    hints.ai_family = AF_UNSPEC;
    if (c->has_ipv4 && c->ipv4 && !(c->has_ipv6 && c->ipv6)) {
        hints.ai_family = AF_INET;
    } else if (c->has_ipv6 && c->ipv6 && !(c->has_ipv4 && c->ipv4)) {
        hints.ai_family = AF_INET6;
    }
    /* a host name blocks here, once, when the chardev is made */
    r = getaddrinfo(*c->host ? c->host : NULL, c->port, &hints, &res);
    if (r != 0) {
        netbe_error_setg(errp, "address resolution failed for %s:%s: %s",
                         c->host, c->port, gai_strerror(r));
        return -1;
    }
    memcpy(&chr->addr, res->ai_addr, res->ai_addrlen);
    chr->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void addr_str(const struct netbe_chardev *chr, char *out, size_t len)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (chr->is_unix) {
        snprintf(out, len, "%s", chr->path);
        return;
    }
    if (getnameinfo((const struct sockaddr *)&chr->addr, chr->addrlen, host,
                    sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, len, "%s:%s", chr->host, chr->port);
        return;
    }
    snprintf(out, len, "%s:%s", host, port);
}

void netbe_chardev_filename(const struct netbe_chardev *chr, char *out,
                            size_t outlen)
{
    char a[NI_MAXHOST + NI_MAXSERV + 8];

    addr_str(chr, a, sizeof(a));
    snprintf(out, outlen, "%s%s:%s%s",
             chr->open ? "" : "disconnected:", chr->is_unix ? "unix" : "tcp", a,
             chr->is_server ? ",server=on" : "");
}

/* ---- connections ---- */

static void fd_event(void *opaque, int fd, unsigned events);
static void try_connect(struct netbe_chardev *chr, bool first,
                        struct netbe_error **errp);

static void set_events(struct netbe_chardev *chr)
{
    unsigned ev = NETBE_EV_HUP;

    if (!chr->watch) {
        return;
    }
    if (chr->connecting) {
        ev |= NETBE_EV_WRITE;
    } else {
        if (chr->h && chr->h->read && !chr->read_paused) {
            ev |= NETBE_EV_READ;
        }
        if (chr->out_tail > chr->out_head) {
            ev |= NETBE_EV_WRITE;
        }
    }
    if (ev != chr->events) {
        netbe_update_fd(chr->loop, chr->watch, ev);
        chr->events = ev;
    }
}

static void emit(struct netbe_chardev *chr, enum netbe_chardev_event ev)
{
    if (chr->h && chr->h->event) {
        chr->h->event(chr->opaque, ev);
    }
}

static void arm_reconnect(struct netbe_chardev *chr)
{
    if (!chr->is_server && chr->reconnect_s && chr->reconnect_timer) {
        uint64_t ms = chr->reconnect_s > INT64_MAX / 2000
                          ? INT64_MAX / 2
                          : chr->reconnect_s * 1000;

        chr->loop->ops->timer_mod(chr->loop->opaque, chr->reconnect_timer,
                                  netbe_clock_ms(chr->loop) + (int64_t)ms);
    }
}

/* Drop the connection; @notify: tell the frontend if it was open. */
static void conn_close(struct netbe_chardev *chr, bool notify)
{
    bool was_open = chr->open;

    if (chr->fd < 0) {
        return;
    }
    netbe_unwatch_fd(chr->loop, chr->watch);
    chr->watch = NULL;
    chr->events = 0;
    close(chr->fd);
    chr->fd = -1;
    chr->gen++;
    chr->open = chr->connecting = false;
    chr->want_writable = false;
    chr->out_head = chr->out_tail = 0;
    free(chr->out);
    chr->out = NULL;
    if (chr->is_server && chr->listen_watch) {
        netbe_update_fd(chr->loop, chr->listen_watch, NETBE_EV_READ);
    } else {
        arm_reconnect(chr);
    }
    if (notify && was_open) {
        emit(chr, NETBE_CHARDEV_CLOSED);
    }
}

static int conn_start(struct netbe_chardev *chr, int fd, bool connecting)
{
    chr->fd = fd;
    chr->connecting = connecting;
    chr->open = !connecting;
    chr->events = 0;
    chr->gen++;
    chr->watch = netbe_watch_fd(chr->loop, fd, 0, fd_event, chr);
    if (!chr->watch) {
        close(fd);
        chr->fd = -1;
        chr->open = chr->connecting = false;
        return -1;
    }
    if (!chr->is_unix && chr->nodelay) {
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    set_events(chr);
    return 0;
}

static void opened(struct netbe_chardev *chr)
{
    chr->waiting = false;
    set_events(chr);
    emit(chr, NETBE_CHARDEV_OPENED);
}

static void flush_out(struct netbe_chardev *chr)
{
    unsigned gen = chr->gen;

    while (chr->out_tail > chr->out_head) {
        ssize_t n =
            send(chr->fd, chr->out + chr->out_head,
                 chr->out_tail - chr->out_head, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n <= 0) {
            netbe_debug("chardev %s: write: %s", chr->id, strerror(errno));
            conn_close(chr, true);
            return;
        }
        chr->out_head += (size_t)n;
    }
    if (chr->out_head == chr->out_tail) {
        chr->out_head = chr->out_tail = 0;
    }
    set_events(chr);
    if (chr->want_writable &&
        chr->out_tail - chr->out_head <= NETBE_CHARDEV_OUT_MAX / 2) {
        chr->want_writable = false;
        if (chr->h && chr->h->writable) {
            chr->h->writable(chr->opaque);
        }
    }
    (void)gen;
}

static void do_read(struct netbe_chardev *chr)
{
    ssize_t n;

    if (!chr->rbuf) {
        chr->rbuf = netbe_malloc0(NETBE_CHARDEV_READ_MAX);
    }
    do {
        n = recv(chr->fd, chr->rbuf, NETBE_CHARDEV_READ_MAX, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    if (n <= 0) {
        if (n < 0) {
            netbe_debug("chardev %s: read: %s", chr->id, strerror(errno));
        }
        conn_close(chr, true);
        return;
    }
    chr->h->read(chr->opaque, chr->rbuf, (size_t)n);
}

static void fd_event(void *opaque, int fd, unsigned events)
{
    struct netbe_chardev *chr = opaque;
    unsigned gen = chr->gen;

    if (chr->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err) {
            char a[NI_MAXHOST + NI_MAXSERV + 8];

            addr_str(chr, a, sizeof(a));
            netbe_warn_report("Unable to connect character device %s: "
                              "Failed to connect to '%s': %s",
                              chr->id, a, strerror(err));
            conn_close(chr, false);
            return;
        }
        chr->connecting = false;
        chr->open = true;
        opened(chr);
        return;
    }
    if (events & NETBE_EV_WRITE) {
        flush_out(chr);
        if (chr->gen != gen) {
            return;
        }
    }
    if ((events & NETBE_EV_READ) && chr->h && chr->h->read &&
        !chr->read_paused) {
        do_read(chr);
        return;
    }
    if ((events & NETBE_EV_ERROR) && !(events & NETBE_EV_READ)) {
        /* a hang-up while we do not read: the peer is gone */
        conn_close(chr, true);
    }
}

static void accept_event(void *opaque, int fd, unsigned events)
{
    struct netbe_chardev *chr = opaque;
    int cfd;

    if (chr->fd >= 0) {
        netbe_update_fd(chr->loop, chr->listen_watch, 0);
        return;
    }
    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        return;
    }
    if (conn_start(chr, cfd, false) < 0) {
        return;
    }
    netbe_update_fd(chr->loop, chr->listen_watch, 0);
    opened(chr);
}

static void reconnect_cb(void *opaque)
{
    struct netbe_chardev *chr = opaque;

    if (chr->fd < 0) {
        try_connect(chr, false, NULL);
    }
}

/*
 * Connect; a failure is the caller's error the first time when there is
 * no reconnect=, else a warning and a retry later.
 */
static void try_connect(struct netbe_chardev *chr, bool first,
                        struct netbe_error **errp)
{
    char a[NI_MAXHOST + NI_MAXSERV + 8];
    int fd, r, err;

    fd = socket(chr->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    do {
        r = connect(fd, (struct sockaddr *)&chr->addr, chr->addrlen);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EINPROGRESS) {
        err = errno;
        close(fd);
        goto fail;
    }
    if (conn_start(chr, fd, r < 0) < 0) {
        err = ENOMEM;
        goto fail;
    }
    if (r == 0) {
        opened(chr);
    }
    return;

fail:
    if (chr->is_unix) {
        snprintf(a, sizeof(a), "%s", chr->path);
    } else {
        snprintf(a, sizeof(a), "%s:%s", chr->host, chr->port);
    }
    if (first && !chr->reconnect_s) {
        netbe_error_setg(errp, "Failed to connect to '%s': %s", a,
                         strerror(err));
        return;
    }
    netbe_warn_report("Unable to connect character device %s: Failed to "
                      "connect to '%s': %s",
                      chr->id, a, strerror(err));
    arm_reconnect(chr);
}

static int do_listen(struct netbe_chardev *chr, const struct sock_conf *c,
                     struct netbe_error **errp)
{
    int fd, one = 1;

    fd = socket(chr->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        netbe_error_setg(errp, "Failed to create socket: %s", strerror(errno));
        return -1;
    }
    if (chr->is_unix) {
        if (!c->abstract) {
            /* QEMU removes what is in the way */
            unlink(c->path);
        }
        if (bind(fd, (struct sockaddr *)&chr->addr, chr->addrlen) < 0) {
            netbe_error_setg(errp, "Failed to bind socket to %s: %s", c->path,
                             strerror(errno));
            close(fd);
            return -1;
        }
        if (!c->abstract) {
            chr->created_path = netbe_strdup(c->path);
        }
    } else {
        uint16_t port =
            ntohs(chr->addr.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&chr->addr)->sin6_port
                      : ((struct sockaddr_in *)&chr->addr)->sin_port);
        uint64_t last = c->to && c->to > port ? c->to : port;
        int r = -1;

        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        for (;;) {
            if (chr->addr.ss_family == AF_INET6) {
                ((struct sockaddr_in6 *)&chr->addr)->sin6_port = htons(port);
            } else {
                ((struct sockaddr_in *)&chr->addr)->sin_port = htons(port);
            }
            r = bind(fd, (struct sockaddr *)&chr->addr, chr->addrlen);
            if (r == 0 || port >= last || errno != EADDRINUSE) {
                break;
            }
            port++;
        }
        if (r < 0) {
            netbe_error_setg(errp, "Failed to find an available port: %s",
                             strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (listen(fd, 1) < 0) {
        netbe_error_setg(errp, "Failed to listen on socket: %s",
                         strerror(errno));
        close(fd);
        return -1;
    }
    chr->listen_fd = fd;
    chr->listen_watch =
        netbe_watch_fd(chr->loop, fd, NETBE_EV_READ, accept_event, chr);
    if (!chr->listen_watch) {
        netbe_error_setg(errp, "cannot watch the socket of chardev '%s'",
                         chr->id);
        return -1;
    }
    return 0;
}

struct netbe_chardev *netbe_chardev_add_opts(struct netbe_ctx *ctx,
                                             const struct netbe_opts *opts,
                                             struct netbe_error **errp)
{
    struct netbe_error *err = NULL;
    struct netbe_chardev *chr, **tail;
    struct sock_conf c;

    if (check_opts(opts, &c, errp) < 0) {
        return NULL;
    }
    if (netbe_chardev_find(ctx, c.id)) {
        netbe_error_setg(errp, "Duplicate ID '%s' for chardev", c.id);
        return NULL;
    }
    if (!ctx->loop) {
        netbe_error_setg(errp, "chardev '%s' needs an event loop", c.id);
        return NULL;
    }
    chr = netbe_malloc0(sizeof(*chr));
    chr->ctx = ctx;
    chr->loop = ctx->loop;
    chr->id = netbe_strdup(c.id);
    chr->fd = chr->listen_fd = -1;
    chr->is_server = c.server;
    chr->is_unix = c.path != NULL;
    chr->wait = c.server && c.wait;
    chr->nodelay = c.nodelay;
    chr->reconnect_s = c.reconnect;
    chr->path = c.path ? netbe_strdup(c.path) : NULL;
    chr->host = c.host ? netbe_strdup(c.host) : NULL;
    chr->port = c.port ? netbe_strdup(c.port) : NULL;
    if (resolve(chr, &c, &err) < 0) {
        goto fail;
    }
    if (chr->is_server) {
        if (do_listen(chr, &c, &err) < 0) {
            goto fail;
        }
        chr->waiting = chr->wait;
    } else {
        if (chr->reconnect_s) {
            chr->reconnect_timer =
                chr->loop->ops->timer_new(chr->loop->opaque, reconnect_cb, chr);
        }
        try_connect(chr, true, &err);
        if (err) {
            goto fail;
        }
    }
    /* oldest first, for walks and messages */
    for (tail = &LIST_FIRST(&ctx->chardevs); *tail;
         tail = &LIST_NEXT(*tail, next)) {
    }
    *tail = chr;
    chr->next.le_prev = tail;
    chr->next.le_next = NULL;
    return chr;

fail:
    netbe_error_propagate(errp, err);
    chr->next.le_prev = NULL;
    netbe_chardev_free(chr);
    return NULL;
}

struct netbe_chardev *netbe_chardev_add_str(struct netbe_ctx *ctx,
                                            const char *str,
                                            struct netbe_error **errp)
{
    struct netbe_opts *opts = netbe_opts_parse(str, "backend", errp);
    struct netbe_chardev *chr;

    if (!opts) {
        return NULL;
    }
    chr = netbe_chardev_add_opts(ctx, opts, errp);
    netbe_opts_free(opts);
    return chr;
}

struct netbe_chardev *netbe_chardev_find(struct netbe_ctx *ctx, const char *id)
{
    struct netbe_chardev *chr;

    LIST_FOREACH (chr, &ctx->chardevs, next) {
        if (!strcmp(chr->id, id)) {
            return chr;
        }
    }
    return NULL;
}

struct netbe_chardev *netbe_chardev_first(struct netbe_ctx *ctx)
{
    return LIST_FIRST(&ctx->chardevs);
}

struct netbe_chardev *netbe_chardev_next(struct netbe_chardev *chr)
{
    return LIST_NEXT(chr, next);
}

void netbe_chardev_free(struct netbe_chardev *chr)
{
    if (!chr) {
        return;
    }
    if (chr->next.le_prev) {
        LIST_REMOVE(chr, next);
    }
    chr->h = NULL;
    conn_close(chr, false);
    if (chr->reconnect_timer) {
        chr->loop->ops->timer_free(chr->loop->opaque, chr->reconnect_timer);
    }
    netbe_unwatch_fd(chr->loop, chr->listen_watch);
    if (chr->listen_fd >= 0) {
        close(chr->listen_fd);
    }
    if (chr->created_path) {
        unlink(chr->created_path);
        free(chr->created_path);
    }
    free(chr->rbuf);
    free(chr->path);
    free(chr->host);
    free(chr->port);
    free(chr->id);
    free(chr);
}

int netbe_chardev_del(struct netbe_ctx *ctx, const char *id,
                      struct netbe_error **errp)
{
    struct netbe_chardev *chr = netbe_chardev_find(ctx, id);

    if (!chr) {
        netbe_error_setg(errp, "Chardev '%s' not found", id);
        return -1;
    }
    if (chr->h) {
        netbe_error_setg(errp, "Chardev '%s' is busy", id);
        return -1;
    }
    netbe_chardev_free(chr);
    return 0;
}

void chardevs_free_all(struct netbe_ctx *ctx)
{
    struct netbe_chardev *chr;

    while ((chr = LIST_FIRST(&ctx->chardevs))) {
        netbe_chardev_free(chr);
    }
}

const char *netbe_chardev_id(const struct netbe_chardev *chr)
{
    return chr->id;
}

int netbe_chardev_attach(struct netbe_chardev *chr,
                         const struct netbe_chardev_handlers *h, void *opaque,
                         struct netbe_error **errp)
{
    if (chr->h) {
        netbe_error_setg(errp, "Device '%s' is in use", chr->id);
        return -1;
    }
    chr->h = h;
    chr->opaque = opaque;
    chr->read_paused = false;
    set_events(chr);
    if (chr->open) {
        emit(chr, NETBE_CHARDEV_OPENED);
    }
    return 0;
}

void netbe_chardev_detach(struct netbe_chardev *chr)
{
    chr->h = NULL;
    chr->opaque = NULL;
    chr->want_writable = false;
    set_events(chr);
}

bool netbe_chardev_is_open(const struct netbe_chardev *chr)
{
    return chr->open;
}

bool netbe_chardev_waiting(const struct netbe_chardev *chr)
{
    return chr->waiting;
}

size_t netbe_chardev_pending(const struct netbe_chardev *chr)
{
    return chr->out_tail - chr->out_head;
}

size_t netbe_chardev_write_room(const struct netbe_chardev *chr)
{
    return chr->open ? NETBE_CHARDEV_OUT_MAX - netbe_chardev_pending(chr) : 0;
}

int netbe_chardev_write(struct netbe_chardev *chr, const struct iovec *iov,
                        int iovcnt)
{
    size_t total = netbe_iov_size(iov, iovcnt), sent = 0, rest;
    struct msghdr msg = {0};

    if (!chr->open) {
        errno = ENOTCONN;
        return -1;
    }
    if (total == 0) {
        return 0;
    }
    if (total > netbe_chardev_write_room(chr)) {
        chr->want_writable = true;
        errno = EAGAIN;
        return -1;
    }
    if (chr->out_tail == chr->out_head) {
        ssize_t n;

        msg.msg_iov = (struct iovec *)iov;
        msg.msg_iovlen = (size_t)iovcnt;
        do {
            n = sendmsg(chr->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            /*
             * The connection broke: what was written is lost as on a
             * disconnected chardev, and the hang-up the loop reports
             * next closes it (not from inside the frontend's write).
             */
            netbe_debug("chardev %s: write: %s", chr->id, strerror(errno));
            return 0;
        }
        if (n > 0) {
            sent = (size_t)n;
        }
    }
    rest = total - sent;
    if (rest) {
        if (!chr->out) {
            chr->out = netbe_malloc0(NETBE_CHARDEV_OUT_MAX);
        }
        if (chr->out_tail + rest > NETBE_CHARDEV_OUT_MAX) {
            memmove(chr->out, chr->out + chr->out_head,
                    chr->out_tail - chr->out_head);
            chr->out_tail -= chr->out_head;
            chr->out_head = 0;
        }
        netbe_iov_to_buf(iov, iovcnt, sent, chr->out + chr->out_tail, rest);
        chr->out_tail += rest;
        set_events(chr);
    }
    return 0;
}

void netbe_chardev_set_read_paused(struct netbe_chardev *chr, bool paused)
{
    chr->read_paused = paused;
    set_events(chr);
}

void netbe_chardev_disconnect(struct netbe_chardev *chr)
{
    conn_close(chr, true);
}
