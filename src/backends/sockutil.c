/*
 * sockutil.c - what the socket backends share: QEMU's SocketAddress read
 * from dotted options (with the messages QEMU 7.2's keyval visitor
 * prints), address resolution (host names through the loop, so that a
 * slow resolver stalls no traffic), listening and connecting sockets with
 * QEMU's error texts, socket_uri() formatting, the stream transmit buffer
 * and the warning rate limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "netbe/log.h"
#include "netbe/util.h"
#include "sockutil.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

#define TXBUF_DEFAULT (256 * 1024)

/* Members of each union branch, in QAPI order (the order of checks). */
static const char *const inet_members[] = {
    "host", "port",       "numeric", "to", "ipv4",
    "ipv6", "keep-alive", "mptcp",   NULL,
};
static const char *const unix_members[] = {"path", "abstract", "tight", NULL};
static const char *const fd_members[] = {"str", NULL};
static const char *const vsock_members[] = {"cid", "port", NULL};

static const char *sa_get(const struct netbe_opts *opts, const char *prefix,
                          const char *member)
{
    char key[128];

    snprintf(key, sizeof(key), "%s.%s", prefix, member);
    return netbe_opts_get(opts, key);
}

static const char *sa_require(const struct netbe_opts *opts, const char *prefix,
                              const char *member, struct netbe_error **errp)
{
    const char *v = sa_get(opts, prefix, member);

    if (!v) {
        netbe_error_setg(errp, "Parameter '%s.%s' is missing", prefix, member);
    }
    return v;
}

/* Return: 1 and *@out when present, 0 when absent, -1 on a bad value. */
static int sa_bool(const struct netbe_opts *opts, const char *prefix,
                   const char *member, bool *out, struct netbe_error **errp)
{
    const char *v = sa_get(opts, prefix, member);

    if (!v) {
        return 0;
    }
    if (netbe_parse_bool(v, out) < 0) {
        netbe_error_setg(errp, "Parameter '%s.%s' expects 'on' or 'off'",
                         prefix, member);
        return -1;
    }
    return 1;
}

/*
 * The keyval visitor parses numbers with strtoull (so "-1" wraps) and
 * then range-checks with the member's bare name: QEMU says "Parameter
 * 'to' expects uint16_t", not 'addr.to'.
 */
static int sa_uint16(const struct netbe_opts *opts, const char *prefix,
                     const char *member, uint16_t *out,
                     struct netbe_error **errp)
{
    const char *v = sa_get(opts, prefix, member);
    unsigned long long n;
    char *end;

    if (!v) {
        return 0;
    }
    errno = 0;
    n = strtoull(v, &end, 0);
    if (errno || end == v || *end) {
        netbe_error_setg(errp, "Parameter '%s.%s' expects integer", prefix,
                         member);
        return -1;
    }
    if (n > UINT16_MAX) {
        netbe_error_setg(errp, "Parameter '%s' expects uint16_t", member);
        return -1;
    }
    *out = (uint16_t)n;
    return 1;
}

static bool member_known(const char *const *members, const char *m)
{
    for (; *members; members++) {
        if (!strcmp(*members, m)) {
            return true;
        }
    }
    return !strcmp(m, "type");
}

static int check_unexpected(const struct netbe_opts *opts, const char *prefix,
                            const char *const *members,
                            struct netbe_error **errp)
{
    size_t plen = strlen(prefix);
    size_t i;

    for (i = 0; i < opts->n; i++) {
        const char *key = opts->v[i].key;

        if (strncmp(key, prefix, plen) || key[plen] != '.') {
            continue;
        }
        if (!member_known(members, key + plen + 1)) {
            netbe_error_setg(errp, "Parameter '%s' is unexpected", key);
            return -1;
        }
    }
    return 0;
}

static int read_inet(struct netbe_sa *sa, const struct netbe_opts *opts,
                     const char *p, struct netbe_error **errp)
{
    const char *host, *port;
    int r;

    host = sa_require(opts, p, "host", errp);
    if (!host) {
        return -1;
    }
    port = sa_require(opts, p, "port", errp);
    if (!port) {
        return -1;
    }
    if (sa_bool(opts, p, "numeric", &sa->numeric, errp) < 0) {
        return -1;
    }
    r = sa_uint16(opts, p, "to", &sa->to, errp);
    if (r < 0) {
        return -1;
    }
    sa->has_to = r > 0;
    r = sa_bool(opts, p, "ipv4", &sa->ipv4, errp);
    if (r < 0) {
        return -1;
    }
    sa->has_ipv4 = r > 0;
    r = sa_bool(opts, p, "ipv6", &sa->ipv6, errp);
    if (r < 0) {
        return -1;
    }
    sa->has_ipv6 = r > 0;
    if (sa_bool(opts, p, "keep-alive", &sa->keep_alive, errp) < 0 ||
        sa_bool(opts, p, "mptcp", &sa->mptcp, errp) < 0) {
        return -1;
    }
    if (check_unexpected(opts, p, inet_members, errp) < 0) {
        return -1;
    }
    sa->host = netbe_strdup(host);
    sa->port = netbe_strdup(port);
    return 0;
}

static int read_unix(struct netbe_sa *sa, const struct netbe_opts *opts,
                     const char *p, struct netbe_error **errp)
{
    const char *path = sa_require(opts, p, "path", errp);

    if (!path) {
        return -1;
    }
    if (sa_bool(opts, p, "abstract", &sa->abstract, errp) < 0 ||
        sa_bool(opts, p, "tight", &sa->tight, errp) < 0 ||
        check_unexpected(opts, p, unix_members, errp) < 0) {
        return -1;
    }
    sa->path = netbe_strdup(path);
    return 0;
}

int netbe_sa_from_opts(struct netbe_sa *sa, const struct netbe_opts *opts,
                       const char *prefix, struct netbe_error **errp)
{
    const char *type;
    int ret = -1;

    memset(sa, 0, sizeof(*sa));
    sa->tight = true;
    if (!netbe_opts_has_prefix(opts, prefix)) {
        return 1;
    }
    if (netbe_opts_get(opts, prefix)) {
        /* "addr=x" next to "addr.type=...": keyval's complaint */
        netbe_error_setg(errp, "Parameters '%s.*' used inconsistently", prefix);
        return -1;
    }
    type = sa_require(opts, prefix, "type", errp);
    if (!type) {
        return -1;
    }
    if (!strcmp(type, "inet")) {
        sa->type = NETBE_SA_INET;
        ret = read_inet(sa, opts, prefix, errp);
    } else if (!strcmp(type, "unix")) {
        sa->type = NETBE_SA_UNIX;
        ret = read_unix(sa, opts, prefix, errp);
    } else if (!strcmp(type, "fd")) {
        const char *str = sa_require(opts, prefix, "str", errp);

        sa->type = NETBE_SA_FD;
        if (str && check_unexpected(opts, prefix, fd_members, errp) == 0) {
            sa->str = netbe_strdup(str);
            ret = 0;
        }
    } else if (!strcmp(type, "vsock")) {
        /* QEMU knows vsock; netbe does not carry it (yet). */
        if (sa_require(opts, prefix, "cid", errp) &&
            sa_require(opts, prefix, "port", errp) &&
            check_unexpected(opts, prefix, vsock_members, errp) == 0) {
            netbe_error_setg(errp, "socket family AF_VSOCK unsupported");
        }
    } else {
        netbe_error_setg(errp, "Parameter 'type' does not accept value '%s'",
                         type);
    }
    if (ret < 0) {
        netbe_sa_clear(sa);
    }
    return ret;
}

void netbe_sa_clear(struct netbe_sa *sa)
{
    free(sa->host);
    free(sa->port);
    free(sa->path);
    free(sa->str);
    sa->host = sa->port = sa->path = sa->str = NULL;
}

/* QEMU's inet_ai_family_from_address(). */
static int inet_family(const struct netbe_sa *sa, struct netbe_error **errp)
{
    if (sa->has_ipv6 && sa->has_ipv4 && !sa->ipv6 && !sa->ipv4) {
        netbe_error_setg(errp, "Cannot disable IPv4 and IPv6 at same time");
        return -1;
    }
    if (sa->has_ipv6 && sa->ipv6 && sa->has_ipv4 && sa->ipv4) {
        return AF_UNSPEC;
    }
    if ((sa->has_ipv6 && sa->ipv6) || (sa->has_ipv4 && !sa->ipv4)) {
        return AF_INET6;
    }
    if ((sa->has_ipv4 && sa->ipv4) || (sa->has_ipv6 && !sa->ipv6)) {
        return AF_INET;
    }
    return AF_UNSPEC;
}

static int inet_hints(const struct netbe_sa *sa, int socktype, bool passive,
                      struct addrinfo *hints, struct netbe_error **errp)
{
    int family = inet_family(sa, errp);

    if (family < 0) {
        return -1;
    }
    memset(hints, 0, sizeof(*hints));
    hints->ai_family = family;
    hints->ai_socktype = socktype;
    hints->ai_flags = AI_ADDRCONFIG | (passive ? AI_PASSIVE : 0);
    if (sa->numeric) {
        hints->ai_flags |= AI_NUMERICHOST;
    }
    return 0;
}

static const char *inet_node(const struct netbe_sa *sa)
{
    return sa->host[0] ? sa->host : NULL;
}

/* AI_ADDRCONFIG hides loopback on hosts with no other address. */
static bool retry_without_addrconfig(int rc, const struct addrinfo *hints)
{
    return (rc == EAI_BADFLAGS || rc == EAI_NONAME) &&
           (hints->ai_flags & AI_ADDRCONFIG);
}

static void lookup_error(const struct netbe_sa *sa, int rc,
                         struct netbe_error **errp)
{
    netbe_error_setg(errp, "address resolution failed for %s:%s: %s", sa->host,
                     sa->port, gai_strerror(rc));
}

static int inet_lookup(const struct netbe_sa *sa, int socktype, bool passive,
                       struct addrinfo **res, struct netbe_error **errp)
{
    struct addrinfo hints;
    int rc;

    if (inet_hints(sa, socktype, passive, &hints, errp) < 0) {
        return -1;
    }
    rc = getaddrinfo(inet_node(sa), sa->port, &hints, res);
    if (retry_without_addrconfig(rc, &hints)) {
        hints.ai_flags &= ~AI_ADDRCONFIG;
        rc = getaddrinfo(inet_node(sa), sa->port, &hints, res);
    }
    if (rc != 0) {
        lookup_error(sa, rc, errp);
        return -1;
    }
    return 0;
}

static int unix_resolve(const struct netbe_sa *sa, struct sockaddr_storage *ss,
                        socklen_t *len, struct netbe_error **errp)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t plen = strlen(sa->path);
    size_t room = sizeof(un->sun_path) - (sa->abstract ? 1 : 0);

    /* a non-abstract path needs no NUL when it fills sun_path exactly */
    if (plen > room) {
        netbe_error_setg(errp, "UNIX socket path '%s' is too long", sa->path);
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    un->sun_family = AF_UNIX;
    if (sa->abstract) {
        memcpy(un->sun_path + 1, sa->path, plen);
        *len = sa->tight ? offsetof(struct sockaddr_un, sun_path) + 1 + plen
                         : sizeof(*un);
    } else {
        memcpy(un->sun_path, sa->path, plen);
        *len = sizeof(*un);
    }
    return 0;
}

int netbe_sa_resolve(const struct netbe_sa *sa, int socktype,
                     struct sockaddr_storage *ss, socklen_t *len,
                     struct netbe_error **errp)
{
    struct addrinfo *res;

    switch (sa->type) {
    case NETBE_SA_INET:
        if (inet_lookup(sa, socktype, false, &res, errp) < 0) {
            return -1;
        }
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, res->ai_addr, res->ai_addrlen);
        *len = res->ai_addrlen;
        freeaddrinfo(res);
        return 0;
    case NETBE_SA_UNIX:
        return unix_resolve(sa, ss, len, errp);
    case NETBE_SA_FD:
        break;
    }
    netbe_error_setg(errp, "a file descriptor address has no socket address");
    return -1;
}

/* ---- lookups that do not block the loop ---- */

struct netbe_sa_lookup {
    struct netbe_loop *loop;
    void *req;          /* the loop's pending resolve */
    struct netbe_sa sa; /* host and port only, copied */
    struct addrinfo hints;
    netbe_sa_resolved_fn *cb;
    void *opaque;
};

/*
 * Whether getaddrinfo() can answer for @host from the text alone: no
 * resolver, no thread pool.  AI_NUMERICHOST parses and never looks up.
 */
static bool host_is_numeric(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *res;

    if (!host[0]) {
        return true;
    }
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        return false;
    }
    freeaddrinfo(res);
    return true;
}

static void lookup_free(struct netbe_sa_lookup *lk)
{
    free(lk->sa.host);
    free(lk->sa.port);
    free(lk);
}

static void lookup_cb(void *opaque, int status, const struct addrinfo *res);

static bool lookup_send(struct netbe_sa_lookup *lk)
{
    struct netbe_loop *l = lk->loop;

    lk->req = l->ops->resolve(l->opaque, inet_node(&lk->sa), lk->sa.port,
                              &lk->hints, lookup_cb, lk);
    return lk->req != NULL;
}

static void lookup_cb(void *opaque, int status, const struct addrinfo *res)
{
    struct netbe_sa_lookup *lk = opaque;
    netbe_sa_resolved_fn *cb = lk->cb;
    void *cb_opaque = lk->opaque;
    struct netbe_error *err = NULL;
    struct sockaddr_storage ss;
    socklen_t len = 0;

    lk->req = NULL;
    if (retry_without_addrconfig(status, &lk->hints)) {
        lk->hints.ai_flags &= ~AI_ADDRCONFIG;
        if (lookup_send(lk)) {
            return;
        }
    }
    if (status != 0) {
        lookup_error(&lk->sa, status, &err);
    } else if (!res || res->ai_addrlen > sizeof(ss)) {
        lookup_error(&lk->sa, EAI_FAIL, &err);
    } else {
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        len = res->ai_addrlen;
    }
    /* freed first, so that the callback may start the next lookup */
    lookup_free(lk);
    cb(cb_opaque, err ? NULL : &ss, len, err);
    netbe_error_free(err);
}

int netbe_sa_resolve_start(struct netbe_loop *loop, const struct netbe_sa *sa,
                           int socktype, struct sockaddr_storage *ss,
                           socklen_t *len, netbe_sa_resolved_fn *cb,
                           void *opaque, struct netbe_sa_lookup **lookup,
                           struct netbe_error **errp)
{
    struct netbe_sa_lookup *lk;
    struct addrinfo hints;

    *lookup = NULL;
    if (sa->type != NETBE_SA_INET || sa->numeric || host_is_numeric(sa->host) ||
        !loop || !loop->ops->resolve || !loop->ops->resolve_cancel) {
        /* the loop cannot help: a name blocks here, as loop.h says */
        return netbe_sa_resolve(sa, socktype, ss, len, errp);
    }
    if (inet_hints(sa, socktype, false, &hints, errp) < 0) {
        return -1;
    }
    lk = netbe_malloc0(sizeof(*lk));
    lk->loop = loop;
    lk->sa.type = NETBE_SA_INET;
    lk->sa.host = netbe_strdup(sa->host);
    lk->sa.port = netbe_strdup(sa->port);
    lk->hints = hints;
    lk->cb = cb;
    lk->opaque = opaque;
    if (!lookup_send(lk)) {
        lookup_free(lk);
        return netbe_sa_resolve(sa, socktype, ss, len, errp);
    }
    *lookup = lk;
    return 1;
}

void netbe_sa_lookup_cancel(struct netbe_sa_lookup *lk)
{
    struct netbe_loop *l;

    if (!lk) {
        return;
    }
    l = lk->loop;
    if (lk->req && l->ops->resolve_cancel) {
        l->ops->resolve_cancel(l->opaque, lk->req);
    }
    lookup_free(lk);
}

void netbe_sockaddr_to_str(const struct sockaddr *sa, socklen_t len, char *out,
                           size_t outlen)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];

    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = len > off ? len - off : 0;

        if (n > sizeof(un->sun_path)) {
            n = sizeof(un->sun_path);
        }
        if (n && un->sun_path[0] == '\0') {
            snprintf(out, outlen, "@%.*s", (int)(n - 1), un->sun_path + 1);
        } else {
            snprintf(out, outlen, "%.*s", (int)strnlen(un->sun_path, n),
                     un->sun_path);
        }
        return;
    }
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "?");
        return;
    }
    if (sa->sa_family == AF_INET6) {
        snprintf(out, outlen, "[%s]:%s", host, serv);
    } else {
        snprintf(out, outlen, "%s:%s", host, serv);
    }
}

void netbe_sockaddr_to_uri(const struct sockaddr *sa, socklen_t len, char *out,
                           size_t outlen)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];

    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = len > off ? len - off : 0;

        if (n > sizeof(un->sun_path)) {
            n = sizeof(un->sun_path);
        }
        if (n && un->sun_path[0] == '\0') {
            /* QEMU drops the NUL and keeps the name up to the length */
            size_t k = strnlen(un->sun_path + 1, n - 1);

            snprintf(out, outlen, "unix:%.*s", (int)k, un->sun_path + 1);
        } else {
            snprintf(out, outlen, "unix:%.*s", (int)strnlen(un->sun_path, n),
                     un->sun_path);
        }
        return;
    }
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "unknown address type");
        return;
    }
    snprintf(out, outlen, "tcp:%s:%s", host, serv);
}

void netbe_sa_describe(const struct netbe_sa *sa, char *out, size_t outlen)
{
    switch (sa->type) {
    case NETBE_SA_INET:
        snprintf(out, outlen, "%s:%s", sa->host, sa->port);
        return;
    case NETBE_SA_UNIX:
        snprintf(out, outlen, "%s", sa->path);
        return;
    case NETBE_SA_FD:
        snprintf(out, outlen, "fd %s", sa->str);
        return;
    }
    snprintf(out, outlen, "?");
}

int netbe_fd_from_str(const char *str, struct netbe_error **errp)
{
    unsigned long n = 0;
    const char *p = str;

    /* decimal only, as qemu_parse_fd(): no sign, no base prefix */
    if (!*p) {
        goto bad;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || n > (unsigned long)INT32_MAX / 10) {
            goto bad;
        }
        n = n * 10 + (unsigned long)(*p - '0');
    }
    if (n > INT32_MAX) {
        goto bad;
    }
    if (fcntl((int)n, F_GETFD) < 0) {
        netbe_error_setg(errp, "File descriptor '%s' is not open: %s", str,
                         strerror(errno));
        return -1;
    }
    return (int)n;
bad:
    netbe_error_setg(errp, "Invalid file descriptor number '%s'", str);
    return -1;
}

int netbe_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        return -1;
    }
    return 0;
}

int netbe_set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
        return -1;
    }
    return 0;
}

bool netbe_fd_is_socket(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int sa_fd(const struct netbe_sa *sa, struct netbe_error **errp)
{
    int fd = netbe_fd_from_str(sa->str, errp);

    if (fd < 0) {
        return -1;
    }
    /* a descriptor handed over is ours to close when we fail, as QEMU */
    if (!netbe_fd_is_socket(fd)) {
        netbe_error_setg(errp, "File descriptor '%s' is not a socket", sa->str);
        close(fd);
        return -1;
    }
    if (netbe_set_nonblock(fd) < 0) {
        netbe_error_setg(errp, "can't use file descriptor %s (errno %d)",
                         sa->str, errno);
        close(fd);
        return -1;
    }
    return fd;
}

static int new_socket(int family, int socktype, int protocol)
{
    return socket(family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
}

static int inet_listen(const struct netbe_sa *sa, int socktype, int backlog,
                       struct netbe_error **errp)
{
    struct addrinfo *res, *e;
    int saved = 0, fd = -1;
    bool created = false;

    if (inet_lookup(sa, socktype, true, &res, errp) < 0) {
        return -1;
    }
    for (e = res; e && fd < 0; e = e->ai_next) {
        int proto = sa->mptcp && socktype == SOCK_STREAM ? IPPROTO_MPTCP : 0;
        unsigned port_min, port_max, p;
        int one = 1;

        if (e->ai_family == AF_INET) {
            port_min = ntohs(((struct sockaddr_in *)e->ai_addr)->sin_port);
        } else if (e->ai_family == AF_INET6) {
            port_min = ntohs(((struct sockaddr_in6 *)e->ai_addr)->sin6_port);
        } else {
            continue;
        }
        port_max = sa->has_to ? sa->to : port_min;
        for (p = port_min; p <= port_max && fd < 0; p++) {
            int s = new_socket(e->ai_family, socktype, proto);

            if (s < 0) {
                saved = errno;
                continue;
            }
            created = true;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (e->ai_family == AF_INET6) {
                /* listen on both families when asked for neither */
                int v6only = sa->has_ipv4 && !sa->ipv4;

                setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
                           sizeof(v6only));
                ((struct sockaddr_in6 *)e->ai_addr)->sin6_port = htons(p);
            } else {
                ((struct sockaddr_in *)e->ai_addr)->sin_port = htons(p);
            }
            if (bind(s, e->ai_addr, e->ai_addrlen) == 0 &&
                (socktype != SOCK_STREAM || listen(s, backlog) == 0)) {
                fd = s;
                break;
            }
            saved = errno;
            close(s);
            if (p == 65535) {
                break;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        netbe_error_setg(errp, "%s: %s",
                         created ? "Failed to find an available port"
                                 : "Failed to create socket",
                         strerror(saved ? saved : EADDRNOTAVAIL));
    }
    return fd;
}

static int unix_listen(const struct netbe_sa *sa, int socktype, int backlog,
                       char **created_path, struct netbe_error **errp)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    if (unix_resolve(sa, &ss, &len, errp) < 0) {
        return -1;
    }
    fd = new_socket(AF_UNIX, socktype, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "Failed to create Unix socket: %s",
                         strerror(errno));
        return -1;
    }
    /* QEMU removes a stale socket file before binding */
    if (!sa->abstract && unlink(sa->path) < 0 && errno != ENOENT) {
        netbe_error_setg(errp, "Failed to unlink socket %s: %s", sa->path,
                         strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        netbe_error_setg(errp, "Failed to bind socket to %s: %s", sa->path,
                         strerror(errno));
        close(fd);
        return -1;
    }
    if (socktype == SOCK_STREAM && listen(fd, backlog) < 0) {
        netbe_error_setg(errp, "Failed to listen on socket: %s",
                         strerror(errno));
        close(fd);
        if (!sa->abstract) {
            unlink(sa->path);
        }
        return -1;
    }
    if (created_path && !sa->abstract) {
        *created_path = netbe_strdup(sa->path);
    }
    return fd;
}

int netbe_sa_listen(const struct netbe_sa *sa, int socktype, int backlog,
                    char **created_path, struct netbe_error **errp)
{
    if (created_path) {
        *created_path = NULL;
    }
    switch (sa->type) {
    case NETBE_SA_INET:
        return inet_listen(sa, socktype, backlog, errp);
    case NETBE_SA_UNIX:
        return unix_listen(sa, socktype, backlog, created_path, errp);
    case NETBE_SA_FD: {
        int fd = sa_fd(sa, errp);

        /* a socket handed over may not be listening yet */
        if (fd >= 0 && socktype == SOCK_STREAM && listen(fd, backlog) < 0) {
            netbe_error_setg(errp, "Failed to listen on fd socket: %s",
                             strerror(errno));
            close(fd);
            return -1;
        }
        return fd;
    }
    }
    return -1;
}

int netbe_sa_connect(const struct netbe_sa *sa, int socktype, bool *in_progress,
                     struct netbe_error **errp)
{
    struct sockaddr_storage ss;
    socklen_t len;

    *in_progress = false;
    if (sa->type == NETBE_SA_FD) {
        return sa_fd(sa, errp);
    }
    if (netbe_sa_resolve(sa, socktype, &ss, &len, errp) < 0) {
        return -1;
    }
    return netbe_sa_connect_to(sa, socktype, &ss, len, in_progress, errp);
}

int netbe_sa_connect_to(const struct netbe_sa *sa, int socktype,
                        const struct sockaddr_storage *ss, socklen_t len,
                        bool *in_progress, struct netbe_error **errp)
{
    int family = ss->ss_family, proto = 0, fd;
    char what[300];

    *in_progress = false;
    if (sa->type == NETBE_SA_INET && sa->mptcp && socktype == SOCK_STREAM) {
        proto = IPPROTO_MPTCP;
    }
    fd = new_socket(family, socktype, proto);
    if (fd < 0) {
        netbe_error_setg(errp, "Failed to create socket: %s", strerror(errno));
        return -1;
    }
    if (sa->type == NETBE_SA_INET && sa->keep_alive) {
        int one = 1;

        if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0) {
            netbe_error_setg(errp, "Unable to set KEEPALIVE: %s",
                             strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)ss, len) == 0) {
        return fd;
    }
    if (errno == EINPROGRESS) {
        *in_progress = true;
        return fd;
    }
    netbe_sa_describe(sa, what, sizeof(what));
    netbe_error_setg(errp, "Failed to connect to '%s': %s", what,
                     strerror(errno));
    close(fd);
    return -1;
}

int netbe_connect_finish(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return -1;
    }
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- transmit buffer ---- */

void netbe_txbuf_init(struct netbe_txbuf *tb, size_t cap)
{
    tb->cap = cap ? cap : TXBUF_DEFAULT;
    tb->buf = netbe_malloc0(tb->cap);
    tb->head = tb->tail = 0;
    tb->frames = 0;
    tb->frame_end = 0;
    tb->walkable = true;
}

void netbe_txbuf_destroy(struct netbe_txbuf *tb)
{
    free(tb->buf);
    tb->buf = NULL;
    tb->cap = tb->head = tb->tail = 0;
}

void netbe_txbuf_reset(struct netbe_txbuf *tb)
{
    tb->head = tb->tail = 0;
    tb->frames = 0;
}

static size_t get_be32(const uint8_t *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/*
 * Retire the frames the last write finished.  Each frame is stepped over
 * once in its life, so this is O(1) per frame.
 */
static void txbuf_account(struct netbe_txbuf *tb)
{
    while (tb->frames && tb->frame_end <= tb->head) {
        if (--tb->frames == 0) {
            break;
        }
        if (!tb->walkable) {
            /* no prefix to walk: the rest count until the buffer empties */
            tb->frame_end = SIZE_MAX;
            break;
        }
        tb->frame_end += 4 + get_be32(tb->buf + tb->frame_end);
    }
}

bool netbe_txbuf_fits(const struct netbe_txbuf *tb, size_t size,
                      bool len_prefix)
{
    return size + (len_prefix ? 4 : 0) <= tb->cap;
}

int netbe_txbuf_put(struct netbe_txbuf *tb, const struct iovec *iov, int iovcnt,
                    size_t size, bool len_prefix)
{
    size_t need = size + (len_prefix ? 4 : 0);

    if (need > tb->cap - netbe_txbuf_used(tb)) {
        return -1;
    }
    if (need > tb->cap - tb->tail) {
        /* slide the unsent bytes to the front; rare, and bounded */
        memmove(tb->buf, tb->buf + tb->head, tb->tail - tb->head);
        tb->tail -= tb->head;
        if (tb->frames && tb->frame_end != SIZE_MAX) {
            tb->frame_end -= tb->head;
        }
        tb->head = 0;
    }
    if (!tb->frames) {
        tb->frame_end = tb->tail + need;
        tb->walkable = true;
    } else if (!len_prefix) {
        tb->walkable = false;
    }
    tb->frames++;
    if (len_prefix) {
        uint32_t n = (uint32_t)size;

        tb->buf[tb->tail] = (uint8_t)(n >> 24);
        tb->buf[tb->tail + 1] = (uint8_t)(n >> 16);
        tb->buf[tb->tail + 2] = (uint8_t)(n >> 8);
        tb->buf[tb->tail + 3] = (uint8_t)n;
        tb->tail += 4;
    }
    tb->tail += netbe_iov_to_buf(iov, iovcnt, 0, tb->buf + tb->tail, size);
    return 0;
}

int netbe_txbuf_flush(struct netbe_txbuf *tb, int fd)
{
    while (tb->head < tb->tail) {
        ssize_t n = send(fd, tb->buf + tb->head, tb->tail - tb->head,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == ENOTSOCK) {
            n = write(fd, tb->buf + tb->head, tb->tail - tb->head);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int err = errno;

            txbuf_account(tb);
            errno = err;
            return err == EAGAIN || err == EWOULDBLOCK ? 0 : -1;
        }
        tb->head += (size_t)n;
    }
    tb->head = tb->tail = 0;
    tb->frames = 0;
    return 1;
}

const char *netbe_fd_addr_type(int fd, struct netbe_error **errp)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        netbe_error_setg(errp, "Unable to query local socket address: %s",
                         strerror(errno));
        return NULL;
    }
    switch (ss.ss_family) {
    case AF_INET:
    case AF_INET6:
        return "inet";
    case AF_UNIX:
        return "unix";
#ifdef AF_VSOCK
    case AF_VSOCK:
        return "vsock";
#endif
    default:
        netbe_error_setg(errp, "socket family %d unsupported", ss.ss_family);
        return NULL;
    }
}

int netbe_udp_bind(const struct sockaddr_in *addr, struct netbe_error **errp)
{
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "can't create datagram socket: %s",
                         strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
        netbe_error_setg(errp, "can't set socket option SO_REUSEADDR: %s",
                         strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        netbe_error_setg(errp, "can't bind ip=%s to socket: %s",
                         inet_ntoa(addr->sin_addr), strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- warnings a peer can provoke ---- */

bool netbe_warn_limit_hit(struct netbe_warn_limit *wl)
{
    uint64_t n = ++wl->count;

    return (n & (n - 1)) == 0;
}

void netbe_warn_limited(struct netbe_warn_limit *wl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!netbe_warn_limit_hit(wl)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (wl->count > 1) {
        netbe_log(NETBE_LOG_WARNING, "%s (%llu times so far)", msg,
                  (unsigned long long)wl->count);
    } else {
        netbe_log(NETBE_LOG_WARNING, "%s", msg);
    }
}

/* close() every fd in [@first, @last]: close_range(), else one by one */
static void close_fds_range(unsigned first, unsigned last)
{
    long open_max = sysconf(_SC_OPEN_MAX);

    if (first > last) {
        return;
    }
#ifdef SYS_close_range
    if (syscall(SYS_close_range, first, last, 0u) == 0) {
        return;
    }
#endif
    for (long i = first; i < open_max && (unsigned long)i <= last; i++) {
        close((int)i);
    }
}

void netbe_close_fds_except(int keep)
{
    if (keep < 3) {
        close_fds_range(3, ~0u);
        return;
    }
    close_fds_range(3, (unsigned)keep - 1);
    close_fds_range((unsigned)keep + 1, ~0u);
}

void netbe_close_fds_from(int first)
{
    close_fds_range(first < 3 ? 3u : (unsigned)first, ~0u);
}
