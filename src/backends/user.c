/*
 * user.c - the "user" netdev: user-mode NAT on libslirp, as QEMU 7.2's
 * -netdev user (net/slirp.c): its keys, defaults, messages, info string,
 * host and guest forwarding and its HMP commands' texts.
 *
 * libslirp owns no loop either.  Its timers become the embedder's timers,
 * and its sockets live in a private epoll set of which the loop watches
 * only the one fd: libslirp opens and closes sockets on its own, not
 * always telling first, and a per-socket watch left on a closed fd whose
 * number comes back would break the embedder's loop (libuv refuses a
 * second watch on a number and aborts on a stale one), while an epoll set
 * forgets a closed socket by itself.  The loop's prepare hook, run before
 * each wait, is where the work happens, and only when something happened
 * since (a socket event, a timer, a frame from the guest, a new forward):
 * the events of the set go to slirp_pollfds_poll(), then
 * slirp_pollfds_fill() says what to wait for next and when to wake.
 *
 * Frames from the guest go straight into slirp_input(), which takes all
 * of them; what libslirp sends goes into the graph through the core's
 * normal send (queued at a slow peer up to its limits, then dropped and
 * counted; TCP recovers).  Nothing here allocates per frame.
 *
 * The guest cannot exhaust the process: libslirp opens a host socket for
 * every new TCP connection, UDP flow and ping the guest starts, and for
 * every connection to a forwarded port.  All user netdevs together keep
 * to half the process's file descriptor limit: beyond it, frames from a
 * guest that would open a socket are dropped (counted as oversize, "over
 * a limit") and forwarded ports accept no more until sockets close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <slirp/libslirp.h>

#include "backends.h"
#include "netbe/log.h"
#include "netbe/util.h"
#include "sockutil.h"
#include "user.h"

#define SMBD_COMMAND "/usr/sbin/smbd"
/* QEMU's buffers for one field of a forwarding rule */
#define HOSTFWD_FIELD 256
#define GUESTFWD_FIELD 128
#define EPOLL_BATCH 64

/* One fd libslirp asked us to poll, indexed by the fd's number. */
struct fdslot {
    uint32_t gen;    /* the fill that last added it */
    uint32_t reg;    /* EPOLL* events it is in the set with; 0: not in it */
    int idx;         /* its index in that fill */
    int want;        /* SLIRP_POLL_* asked for in that fill */
    int revents;     /* SLIRP_POLL_* seen since that fill */
    uint8_t listens; /* 0 not known yet, 1 no, 2 a listening socket */
    bool owned;      /* a socket of libslirp's, counted in open_fds */
};

struct user {
    struct netbe_client nc; /* first: the core allocates the whole */
    struct netbe_loop *loop;
    Slirp *slirp;
    int epfd;
    void *ep_watch, *prepare, *wake;
    bool dirty;      /* something happened libslirp has not polled since */
    bool in_prepare; /* polling now: no need to arm the wake timer */
    bool dead;       /* being cleaned up */

    uint32_t gen;
    struct fdslot *slots;
    size_t nslots;
    int *polled, *prev; /* the fds of this fill and of the last one */
    size_t npolled, nprev, cap;
    unsigned nowned;     /* slots owned, counted in open_fds */
    uint32_t reconciled; /* the fill whose sockets were last recounted */

    struct in_addr host; /* the host's address on the guest network */
    char *smb_dir;
    struct netbe_warn_limit limit_warn, epoll_warn;
};

struct utimer {
    struct user *u;
    SlirpTimerCb cb;
    void *cb_opaque;
    void *timer;
};

/* sockets of all user netdevs, against the budget */
static unsigned open_fds;

static const struct netbe_client_info user_info;

static struct user *to_user(struct netbe_client *nc)
{
    return (struct user *)nc;
}

/* ---- option parsing: QEMU 7.2's rules ---- */

/*
 * The text of @*pp up to @sep into @buf (at most @size - 1 bytes of it),
 * *@pp moved past @sep.  Return: -1 when there is no @sep.
 */
static int take_field(char *buf, size_t size, const char **pp, char sep)
{
    const char *end = strchr(*pp, sep);
    size_t len;

    if (!end) {
        return -1;
    }
    len = (size_t)(end - *pp);
    if (len > size - 1) {
        len = size - 1;
    }
    memcpy(buf, *pp, len);
    buf[len] = '\0';
    *pp = end + 1;
    return 0;
}

/* A whole string as an int, in @base (0: C's prefixes), as qemu_strtoi. */
static int parse_int(const char *s, int base, int *v)
{
    char *end;
    long l;

    errno = 0;
    l = strtol(s, &end, base);
    if (end == s || *end || errno || l < INT_MIN || l > INT_MAX) {
        return -1;
    }
    *v = (int)l;
    return 0;
}

int netbe_user_parse_hostfwd(const char *rule, struct netbe_user_hostfwd *fwd,
                             struct netbe_error **errp)
{
    char buf[HOSTFWD_FIELD];
    const char *p = rule, *why;

    memset(fwd, 0, sizeof(*fwd));
    fwd->host_addr.s_addr = INADDR_ANY;
    if (take_field(buf, sizeof(buf), &p, ':') < 0) {
        why = "No : separators";
        goto fail;
    }
    if (!strcmp(buf, "udp")) {
        fwd->udp = true;
    } else if (strcmp(buf, "tcp") && buf[0]) {
        why = "Bad protocol name";
        goto fail;
    }
    if (take_field(buf, sizeof(buf), &p, ':') < 0) {
        why = "Missing : separator";
        goto fail;
    }
    if (buf[0] && !inet_aton(buf, &fwd->host_addr)) {
        why = "Bad host address";
        goto fail;
    }
    if (take_field(buf, sizeof(buf), &p, '-') < 0) {
        why = "Bad host port separator";
        goto fail;
    }
    if (parse_int(buf, 0, &fwd->host_port) < 0 || fwd->host_port < 0 ||
        fwd->host_port > 65535) {
        why = "Bad host port";
        goto fail;
    }
    if (take_field(buf, sizeof(buf), &p, ':') < 0) {
        why = "Missing guest address";
        goto fail;
    }
    if (buf[0] && !inet_aton(buf, &fwd->guest_addr)) {
        why = "Bad guest address";
        goto fail;
    }
    if (parse_int(p, 0, &fwd->guest_port) < 0 || fwd->guest_port < 1 ||
        fwd->guest_port > 65535) {
        why = "Bad guest port";
        goto fail;
    }
    return 0;

fail:
    netbe_error_setg(errp, "Invalid host forwarding rule '%s' (%s)", rule, why);
    return -1;
}

int netbe_user_parse_hostfwd_remove(const char *src, bool *udp,
                                    struct in_addr *addr, int *port)
{
    char buf[HOSTFWD_FIELD];
    const char *p = src;

    *udp = false;
    addr->s_addr = INADDR_ANY;
    if (take_field(buf, sizeof(buf), &p, ':') < 0) {
        return -1;
    }
    if (!strcmp(buf, "udp")) {
        *udp = true;
    } else if (strcmp(buf, "tcp") && buf[0]) {
        return -1;
    }
    if (take_field(buf, sizeof(buf), &p, ':') < 0 ||
        (buf[0] && !inet_aton(buf, addr))) {
        return -1;
    }
    return parse_int(p, 10, port);
}

int netbe_user_parse_guestfwd(const char *rule, struct netbe_user_guestfwd *fwd,
                              struct netbe_error **errp)
{
    char buf[GUESTFWD_FIELD], *end;
    const char *p = rule;
    long port;

    memset(fwd, 0, sizeof(*fwd));
    if (take_field(buf, sizeof(buf), &p, ':') < 0 ||
        (strcmp(buf, "tcp") && buf[0]) ||
        take_field(buf, sizeof(buf), &p, ':') < 0 ||
        (buf[0] && !inet_aton(buf, &fwd->server)) ||
        take_field(buf, sizeof(buf), &p, '-') < 0) {
        goto fail;
    }
    port = strtol(buf, &end, 10);
    if (*end || port < 1 || port > 65535) {
        goto fail;
    }
    fwd->port = (int)port;
    fwd->target = p;
    return 0;

fail:
    netbe_error_setg(errp, "Invalid guest forwarding rule '%s'", rule);
    return -1;
}

/* QEMU's guess at a mask for a network given without one: its class. */
static uint32_t classful_mask(uint32_t a)
{
    if (!(a & 0x80000000u)) {
        return 0xff000000u; /* A */
    }
    if ((a & 0xfff00000u) == 0xac100000u) {
        return 0xfff00000u; /* 172.16/12 */
    }
    if ((a & 0xc0000000u) == 0x80000000u) {
        return 0xffff0000u; /* B */
    }
    if ((a & 0xffff0000u) == 0xc0a80000u) {
        return 0xffff0000u; /* 192.168/16 */
    }
    if ((a & 0xffff0000u) == 0xc6120000u) {
        return 0xfffe0000u; /* 198.18/15 */
    }
    if ((a & 0xe0000000u) == 0xe0000000u) {
        return 0xffffff00u; /* as QEMU: C for 224/3 */
    }
    return 0xfffffff0u;
}

/* "A.B.C.D", "A.B.C.D/LEN" or "A.B.C.D/MASK" */
static int parse_network(const char *s, struct netbe_user_net *un,
                         struct netbe_error **errp)
{
    const char *slash = strchr(s, '/');
    char addr[20];
    uint32_t mask;
    char *end;
    long shift;

    if (!slash) {
        if (!inet_aton(s, &un->net)) {
            goto bad;
        }
        mask = classful_mask(ntohl(un->net.s_addr));
    } else {
        size_t len = (size_t)(slash - s);

        /* as QEMU's 20-byte buffer: a longer address is cut, and fails */
        if (len > sizeof(addr) - 1) {
            len = sizeof(addr) - 1;
        }
        memcpy(addr, s, len);
        addr[len] = '\0';
        if (!inet_aton(addr, &un->net)) {
            goto bad;
        }
        shift = strtol(slash + 1, &end, 10);
        if (*end) {
            struct in_addr m;

            if (!inet_aton(slash + 1, &m)) {
                netbe_error_setg(errp,
                                 "Failed to parse netmask (trailing chars)");
                return -1;
            }
            mask = ntohl(m.s_addr);
        } else if (shift < 4 || shift > 32) {
            netbe_error_setg(errp, "Invalid netmask provided (must be in range "
                                   "4-32)");
            return -1;
        } else {
            mask = (uint32_t)(0xffffffffull << (32 - shift));
        }
    }
    un->mask.s_addr = htonl(mask);
    un->net.s_addr &= un->mask.s_addr;
    un->host.s_addr = un->net.s_addr | (htonl(0x0202) & ~un->mask.s_addr);
    un->dhcp.s_addr = un->net.s_addr | (htonl(0x020f) & ~un->mask.s_addr);
    un->dns.s_addr = un->net.s_addr | (htonl(0x0203) & ~un->mask.s_addr);
    return 0;

bad:
    netbe_error_setg(errp, "Failed to parse netmask");
    return -1;
}

static bool in6_same_net(const struct in6_addr *a, const struct in6_addr *b,
                         int len)
{
    int i;

    for (i = 0; i < len / 8; i++) {
        if (a->s6_addr[i] != b->s6_addr[i]) {
            return false;
        }
    }
    if (len % 8) {
        uint8_t m = (uint8_t)(0xff << (8 - len % 8));

        return (a->s6_addr[i] & m) == (b->s6_addr[i] & m);
    }
    return true;
}

static bool in_net(struct in_addr a, const struct netbe_user_net *un)
{
    return (a.s_addr & un->mask.s_addr) == un->net.s_addr;
}

int netbe_user_parse_net(const struct netbe_opts *opts,
                         struct netbe_user_net *un, struct netbe_error **errp)
{
    const char *vnet = netbe_opts_get(opts, "net");
    const char *ip = netbe_opts_get(opts, "ip");
    const char *host = netbe_opts_get(opts, "host");
    const char *dns = netbe_opts_get(opts, "dns");
    const char *dhcp = netbe_opts_get(opts, "dhcpstart");
    const char *smbsrv = netbe_opts_get(opts, "smbserver");
    const char *prefix6 = netbe_opts_get(opts, "ipv6-prefix");
    const char *prefixlen = netbe_opts_get(opts, "ipv6-prefixlen");
    const char *host6 = netbe_opts_get(opts, "ipv6-host");
    const char *dns6 = netbe_opts_get(opts, "ipv6-dns");
    const char *domain = netbe_opts_get(opts, "domainname");
    const char *hostname = netbe_opts_get(opts, "hostname");
    const char *tftp_name = netbe_opts_get(opts, "tftp-server-name");
    bool has4 = netbe_opts_get(opts, "ipv4") != NULL;
    bool has6 = netbe_opts_get(opts, "ipv6") != NULL;
    bool v4 = netbe_opts_get_bool(opts, "ipv4", true);
    bool v6 = netbe_opts_get_bool(opts, "ipv6", true);
    char *ipnet = NULL;
    long long len6;
    int r = -1;

    memset(un, 0, sizeof(*un));
    un->restricted = netbe_opts_get_bool(opts, "restrict", false);
    /* naming one family on alone turns the other off */
    un->ipv4 = !((has6 && v6 && !has4) || (has4 && !v4));
    un->ipv6 = !((has4 && v4 && !has6) || (has6 && !v6));
    if (!vnet && ip) {
        ipnet = netbe_strdup_printf("%s/24", ip);
        vnet = ipnet;
    }

    if (!un->ipv4 && (vnet || host || dns)) {
        netbe_error_setg(errp, "IPv4 disabled but netmask/host/dns provided");
        goto out;
    }
    if (!un->ipv6 && (prefix6 || host6 || dns6)) {
        netbe_error_setg(errp, "IPv6 disabled but prefix/host6/dns6 provided");
        goto out;
    }
    if (!un->ipv4 && !un->ipv6) {
        netbe_error_setg(errp, "IPv4 and IPv6 disabled");
        goto out;
    }

    un->net.s_addr = htonl(0x0a000200);
    un->mask.s_addr = htonl(0xffffff00);
    un->host.s_addr = htonl(0x0a000202);
    un->dhcp.s_addr = htonl(0x0a00020f);
    un->dns.s_addr = htonl(0x0a000203);
    if (vnet && parse_network(vnet, un, errp) < 0) {
        goto out;
    }
    if (host && !inet_aton(host, &un->host)) {
        netbe_error_setg(errp, "Failed to parse host");
        goto out;
    }
    if (!in_net(un->host, un)) {
        netbe_error_setg(errp, "Host doesn't belong to network");
        goto out;
    }
    if (dns && !inet_aton(dns, &un->dns)) {
        netbe_error_setg(errp, "Failed to parse DNS");
        goto out;
    }
    if (un->restricted && !in_net(un->dns, un)) {
        netbe_error_setg(errp, "DNS doesn't belong to network");
        goto out;
    }
    if (un->dns.s_addr == un->host.s_addr) {
        netbe_error_setg(errp, "DNS must be different from host");
        goto out;
    }
    if (dhcp && !inet_aton(dhcp, &un->dhcp)) {
        netbe_error_setg(errp, "Failed to parse DHCP start address");
        goto out;
    }
    if (!in_net(un->dhcp, un)) {
        netbe_error_setg(errp, "DHCP doesn't belong to network");
        goto out;
    }
    if (un->dhcp.s_addr == un->host.s_addr ||
        un->dhcp.s_addr == un->dns.s_addr) {
        netbe_error_setg(errp, "DHCP must be different from host and DNS");
        goto out;
    }
    if (smbsrv && !inet_aton(smbsrv, &un->smbsrv)) {
        netbe_error_setg(errp, "Failed to parse SMB address");
        goto out;
    }

    if (inet_pton(AF_INET6, prefix6 ? prefix6 : "fec0::", &un->prefix6) != 1) {
        netbe_error_setg(errp, "Failed to parse IPv6 prefix");
        goto out;
    }
    /* the schema checked it is an int64; 0 means the default, as QEMU */
    len6 = prefixlen ? strtoll(prefixlen, NULL, 0) : 0;
    if (!len6) {
        len6 = 64;
    }
    if (len6 < 0 || len6 > 126) {
        netbe_error_setg(errp, "Invalid IPv6 prefix provided (IPv6 prefix "
                               "length must be between 0 and 126)");
        goto out;
    }
    un->prefix6_len = (int)len6;
    if (host6) {
        if (inet_pton(AF_INET6, host6, &un->host6) != 1) {
            netbe_error_setg(errp, "Failed to parse IPv6 host");
            goto out;
        }
        if (!in6_same_net(&un->prefix6, &un->host6, un->prefix6_len)) {
            netbe_error_setg(errp, "IPv6 Host doesn't belong to network");
            goto out;
        }
    } else {
        un->host6 = un->prefix6;
        un->host6.s6_addr[15] |= 2;
    }
    if (dns6) {
        if (inet_pton(AF_INET6, dns6, &un->dns6) != 1) {
            netbe_error_setg(errp, "Failed to parse IPv6 DNS");
            goto out;
        }
        if (un->restricted &&
            !in6_same_net(&un->prefix6, &un->dns6, un->prefix6_len)) {
            netbe_error_setg(errp, "IPv6 DNS doesn't belong to network");
            goto out;
        }
    } else {
        un->dns6 = un->prefix6;
        un->dns6.s6_addr[15] |= 3;
    }

    if (domain && !*domain) {
        netbe_error_setg(errp, "'domainname' parameter cannot be empty");
        goto out;
    }
    if (domain && strlen(domain) > 255) {
        netbe_error_setg(errp, "'domainname' parameter cannot exceed 255 "
                               "bytes");
        goto out;
    }
    if (hostname && strlen(hostname) > 255) {
        /* sic: QEMU names it by its old name */
        netbe_error_setg(errp, "'vhostname' parameter cannot exceed 255 "
                               "bytes");
        goto out;
    }
    if (tftp_name && strlen(tftp_name) > 255) {
        netbe_error_setg(errp, "'tftp-server-name' parameter cannot exceed "
                               "255 bytes");
        goto out;
    }
    r = 0;
out:
    free(ipnet);
    return r;
}

/* ---- the sockets: a private epoll set, polled from the prepare hook ---- */

/*
 * Half the process's descriptors, for every user netdev together.  Read
 * again at most once a second (and when a user netdev is made): asked of
 * the kernel at every check, it cost a prlimit64() per loop turn.
 */
static unsigned fd_budget_cache;
static time_t fd_budget_stamp;

static unsigned fd_budget(void)
{
    struct timespec now;
    struct rlimit rl;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (fd_budget_cache && now.tv_sec == fd_budget_stamp) {
        return fd_budget_cache;
    }
    fd_budget_stamp = now.tv_sec;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fd_budget_cache = 512;
    } else if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 2 * 65536) {
        fd_budget_cache = 65536;
    } else {
        fd_budget_cache =
            rl.rlim_cur / 2 > 32 ? (unsigned)(rl.rlim_cur / 2) : 32;
    }
    return fd_budget_cache;
}

static void own(struct user *u, struct fdslot *s)
{
    if (!s->owned) {
        s->owned = true;
        u->nowned++;
        open_fds++;
    }
}

static void disown(struct user *u, struct fdslot *s)
{
    if (s->owned) {
        s->owned = false;
        u->nowned--;
        open_fds--;
    }
}

/*
 * libslirp announces most sockets it opens and closes, not all: the
 * fills add what it polls, and at the limit what it no longer polls and
 * has closed is found (once per fill) and forgotten.
 */
static bool at_limit(struct user *u)
{
    unsigned budget = fd_budget();
    size_t fd;

    if (open_fds < budget) {
        return false;
    }
    if (u->reconciled != u->gen) {
        u->reconciled = u->gen;
        for (fd = 0; fd < u->nslots; fd++) {
            struct fdslot *s = &u->slots[fd];

            if (s->owned && s->gen != u->gen && fcntl((int)fd, F_GETFD) < 0) {
                disown(u, s);
            }
        }
    }
    return open_fds >= budget;
}

/* Would libslirp open a host socket for this frame from the guest? */
static bool opens_socket(struct user *u, const uint8_t *f, size_t len)
{
    const uint8_t *l4;
    size_t rem, ihl;
    unsigned proto;

    if (len < 14) {
        return false;
    }
    if (f[12] == 0x08 && f[13] == 0x00) {
        if (len < 14 + 20) {
            return false;
        }
        ihl = (size_t)(f[14] & 15) * 4;
        /* a later fragment starts nothing */
        if (ihl < 20 || len < 14 + ihl || ((f[20] & 0x1f) | f[21])) {
            return false;
        }
        proto = f[23];
        l4 = f + 14 + ihl;
        rem = len - 14 - ihl;
        /* pings of the host itself are answered without a socket */
        if (proto == 1) {
            return rem >= 1 && l4[0] == 8 && memcmp(f + 30, &u->host, 4);
        }
    } else if (f[12] == 0x86 && f[13] == 0xdd) {
        if (len < 14 + 40) {
            return false;
        }
        proto = f[20];
        l4 = f + 54;
        rem = len - 54;
        if (proto == 58) {
            return rem >= 1 && l4[0] == 128;
        }
    } else {
        return false;
    }
    if (proto == 6) {
        /* a SYN without ACK: a new connection */
        return rem >= 14 && (l4[13] & 0x12) == 0x02;
    }
    if (proto == 17 && rem >= 4) {
        unsigned dport = (unsigned)l4[2] << 8 | l4[3];

        /* DHCP, DHCPv6 and TFTP are libslirp's own */
        return dport != 67 && dport != 69 && dport != 547;
    }
    return false;
}

static void mark_dirty(struct user *u)
{
    if (u->dirty) {
        return;
    }
    u->dirty = true;
    /* make sure the loop turns, wherever we were called from */
    if (!u->in_prepare && u->wake) {
        u->loop->ops->timer_mod(u->loop->opaque, u->wake,
                                netbe_clock_ms(u->loop));
    }
}

static struct fdslot *slot_of(struct user *u, int fd)
{
    if (fd < 0) {
        return NULL;
    }
    if ((size_t)fd >= u->nslots) {
        size_t n = u->nslots ? u->nslots : 64;

        while (n <= (size_t)fd) {
            n *= 2;
        }
        u->slots = netbe_realloc(u->slots, n * sizeof(*u->slots));
        memset(u->slots + u->nslots, 0, (n - u->nslots) * sizeof(*u->slots));
        u->nslots = n;
    }
    return &u->slots[fd];
}

static void set_drop(struct user *u, int fd, struct fdslot *s)
{
    if (s->reg) {
        epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
        s->reg = 0;
    }
}

static bool is_listening(int fd, struct fdslot *s)
{
    if (!s->listens) {
        int v = 0;
        socklen_t len = sizeof(v);

        s->listens =
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v ? 2
                                                                          : 1;
    }
    return s->listens == 2;
}

static void apply(struct user *u, int fd, int want)
{
    struct fdslot *s = &u->slots[fd];
    struct epoll_event ev = {.data.fd = fd};
    uint32_t e = 0;

    if (want & SLIRP_POLL_IN) {
        e |= EPOLLIN;
    }
    if (want & SLIRP_POLL_OUT) {
        e |= EPOLLOUT;
    }
    if (want & SLIRP_POLL_PRI) {
        e |= EPOLLPRI;
    }
    /* at the limit a forwarded port takes no more connections for now */
    if ((e & EPOLLIN) && at_limit(u) && is_listening(fd, s)) {
        e &= ~(uint32_t)EPOLLIN;
        netbe_warn_limited(&u->limit_warn,
                           "user %s: %u sockets open, the limit: new "
                           "connections wait",
                           u->nc.name, open_fds);
    }
    if (e == s->reg) {
        return;
    }
    if (!e) {
        set_drop(u, fd, s);
        return;
    }
    ev.events = e;
    if (epoll_ctl(u->epfd, s->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) <
        0) {
        /* a closed socket's number came back: the set has forgotten it */
        if (errno == ENOENT) {
            s->listens = 0;
            if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
                s->reg = e;
                return;
            }
        } else if (errno == EEXIST &&
                   epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
            s->reg = e;
            return;
        }
        netbe_warn_limited(&u->epoll_warn, "user %s: cannot poll fd %d: %s",
                           u->nc.name, fd, strerror(errno));
        s->reg = 0;
        return;
    }
    s->reg = e;
}

/* During a fill: libslirp wants @events of @fd until the next one. */
static int add_poll(int fd, int events, void *opaque)
{
    struct user *u = opaque;
    struct fdslot *s = slot_of(u, fd);

    if (!s) {
        return -1;
    }
    if (s->gen != u->gen) {
        if (s->gen != u->gen - 1) {
            s->listens = 0; /* not polled last time: maybe another socket */
        }
        if (u->npolled == u->cap) {
            u->cap = u->cap ? u->cap * 2 : 64;
            u->polled = netbe_realloc(u->polled, u->cap * sizeof(int));
            u->prev = netbe_realloc(u->prev, u->cap * sizeof(int));
        }
        s->gen = u->gen;
        s->idx = (int)u->npolled;
        s->want = 0;
        s->revents = 0;
        u->polled[u->npolled++] = fd;
    }
    own(u, s);
    /* the same fd twice in one fill is one entry with both events */
    s->want |= events;
    apply(u, fd, s->want);
    return s->idx;
}

static int get_revents(int idx, void *opaque)
{
    struct user *u = opaque;

    if (idx < 0 || (size_t)idx >= u->npolled) {
        return 0;
    }
    return u->slots[u->polled[idx]].revents;
}

/* What the set says about the fds of the last fill. */
static void collect(struct user *u)
{
    struct epoll_event evs[EPOLL_BATCH];
    size_t rounds = u->npolled / EPOLL_BATCH + 1;
    int n, i;

    while (rounds--) {
        n = epoll_wait(u->epfd, evs, EPOLL_BATCH, 0);
        for (i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            struct fdslot *s;
            int r = 0;

            if (fd < 0 || (size_t)fd >= u->nslots) {
                continue;
            }
            s = &u->slots[fd];
            if (s->gen != u->gen) {
                continue; /* stale: not asked for in this fill */
            }
            r |= (e & EPOLLIN) ? SLIRP_POLL_IN : 0;
            r |= (e & EPOLLOUT) ? SLIRP_POLL_OUT : 0;
            r |= (e & EPOLLPRI) ? SLIRP_POLL_PRI : 0;
            r |= (e & EPOLLERR) ? SLIRP_POLL_ERR : 0;
            r |= (e & EPOLLHUP) ? SLIRP_POLL_HUP : 0;
            s->revents |= r;
        }
        if (n < EPOLL_BATCH) {
            break;
        }
    }
}

/*
 * Hand libslirp the events of the last fill (its timers run there too),
 * then ask it what to wait for next and when to wake.
 */
static void poll_now(struct user *u)
{
    struct netbe_ctx *ctx = u->nc.ctx;
    uint32_t timeout = UINT32_MAX;
    int *tmp;
    size_t i;

    u->dirty = false;
    u->in_prepare = true;
    netbe_batch_begin(ctx);
    collect(u);
    if (u->npolled) {
        slirp_pollfds_poll(u->slirp, 0, get_revents, u);
    }

    tmp = u->prev;
    u->prev = u->polled;
    u->polled = tmp;
    u->nprev = u->npolled;
    u->npolled = 0;
    if (++u->gen == 0) {
        u->gen = 1;
    }
    slirp_pollfds_fill(u->slirp, &timeout, add_poll, u);
    for (i = 0; i < u->nprev; i++) {
        int fd = u->prev[i];

        if (u->slots[fd].gen != u->gen) {
            set_drop(u, fd, &u->slots[fd]);
        }
    }
    if (u->dirty) {
        timeout = 0; /* the guest answered while we polled */
    }
    if (timeout == UINT32_MAX) {
        u->loop->ops->timer_del(u->loop->opaque, u->wake);
    } else {
        u->loop->ops->timer_mod(u->loop->opaque, u->wake,
                                netbe_clock_ms(u->loop) + timeout);
    }
    u->in_prepare = false;
    netbe_batch_end(ctx);
}

static void prepare_cb(void *opaque)
{
    struct user *u = opaque;

    if (u->dirty && !u->dead) {
        poll_now(u);
    }
}

static void epoll_cb(void *opaque, int fd, unsigned events)
{
    ((struct user *)opaque)->dirty = true;
}

static void wake_cb(void *opaque)
{
    ((struct user *)opaque)->dirty = true;
}

/* ---- libslirp's callbacks ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct user *u = opaque;

    if (!u->dead) {
        /* counted by the core when the peer cannot take it */
        netbe_send_packet(&u->nc, buf, len);
    }
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct user *u = opaque;

    /* QEMU logs these only with -d guest_errors */
    netbe_debug("user %s: guest error: %s", u->nc.name, msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    struct user *u = opaque;

    return netbe_clock_ms(u->loop) * 1000000;
}

static void utimer_fire(void *opaque)
{
    struct utimer *t = opaque;
    struct user *u = t->u;

    if (u->dead) {
        return;
    }
    netbe_batch_begin(u->nc.ctx);
    t->cb(t->cb_opaque);
    netbe_batch_end(u->nc.ctx);
    u->dirty = true;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct user *u = opaque;
    struct utimer *t = netbe_malloc0(sizeof(*t));

    t->u = u;
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->timer = u->loop->ops->timer_new(u->loop->opaque, utimer_fire, t);
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct user *u = opaque;
    struct utimer *t = timer;

    if (t) {
        u->loop->ops->timer_free(u->loop->opaque, t->timer);
        free(t);
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct user *u = opaque;
    struct utimer *t = timer;

    u->loop->ops->timer_mod(u->loop->opaque, t->timer, expire_ms);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    struct user *u = opaque;
    struct fdslot *s = slot_of(u, fd);

    if (s && !u->dead) {
        own(u, s);
    }
}

/* libslirp closes @fd next: out of the set while it is still open. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
    struct user *u = opaque;

    if (fd >= 0 && (size_t)fd < u->nslots) {
        struct fdslot *s = &u->slots[fd];

        set_drop(u, fd, s);
        disown(u, s);
        s->listens = 0;
        s->gen = 0;
    }
}

static void cb_notify(void *opaque)
{
    mark_dirty(opaque);
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* libslirp logs through glib: as QEMU's handler, "warning: Slirp: ..." */
static void slirp_log(const gchar *domain, GLogLevelFlags level,
                      const gchar *msg, gpointer data)
{
    if (level &
        (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        netbe_warn_report("%s: %s", domain ? domain : "Slirp", msg);
    } else {
        netbe_debug("%s: %s", domain ? domain : "Slirp", msg);
    }
}

/* ---- the client ---- */

static ssize_t user_receive(struct netbe_client *nc, const uint8_t *buf,
                            size_t size)
{
    struct user *u = to_user(nc);

    if (opens_socket(u, buf, size) && at_limit(u)) {
        nc->stats.drop_oversize++;
        netbe_warn_limited(&u->limit_warn,
                           "user %s: %u sockets open, the limit: dropping "
                           "the guest's new connections",
                           nc->name, open_fds);
        return (ssize_t)size;
    }
    slirp_input(u->slirp, buf, (int)size);
    mark_dirty(u);
    return (ssize_t)size;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void smb_cleanup(struct user *u)
{
    if (u->smb_dir) {
        nftw(u->smb_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(u->smb_dir);
        u->smb_dir = NULL;
    }
}

static void user_cleanup(struct netbe_client *nc)
{
    struct user *u = to_user(nc);

    u->dead = true;
    if (u->slirp) {
        slirp_cleanup(u->slirp);
        u->slirp = NULL;
    }
    open_fds -= u->nowned;
    u->nowned = 0;
    if (u->prepare) {
        u->loop->ops->prepare_free(u->loop->opaque, u->prepare);
    }
    netbe_unwatch_fd(u->loop, u->ep_watch);
    if (u->wake) {
        u->loop->ops->timer_free(u->loop->opaque, u->wake);
    }
    if (u->epfd >= 0) {
        close(u->epfd);
    }
    smb_cleanup(u);
    free(u->slots);
    free(u->polled);
    free(u->prev);
}

static const struct netbe_client_info user_info = {
    .type = NETBE_DRIVER_USER,
    .size = sizeof(struct user),
    .receive = user_receive,
    .cleanup = user_cleanup,
};

/* ---- forwarding ---- */

static int add_hostfwd(struct user *u, const char *rule,
                       struct netbe_error **errp)
{
    struct netbe_user_hostfwd f;
    struct sockaddr_in h = {.sin_family = AF_INET};
    struct sockaddr_in g = {.sin_family = AF_INET};

    if (netbe_user_parse_hostfwd(rule, &f, errp) < 0) {
        return -1;
    }
    h.sin_addr = f.host_addr;
    h.sin_port = htons((uint16_t)f.host_port);
    g.sin_addr = f.guest_addr;
    g.sin_port = htons((uint16_t)f.guest_port);
    if (slirp_add_hostxfwd(u->slirp, (struct sockaddr *)&h, sizeof(h),
                           (struct sockaddr *)&g, sizeof(g),
                           f.udp ? SLIRP_HOSTFWD_UDP : 0) < 0) {
        netbe_error_setg(errp, "Could not set up host forwarding rule '%s'",
                         rule);
        return -1;
    }
    mark_dirty(u);
    return 0;
}

static int add_guestfwd(struct user *u, const char *rule,
                        struct netbe_error **errp)
{
    struct netbe_user_guestfwd f;

    if (netbe_user_parse_guestfwd(rule, &f, errp) < 0) {
        return -1;
    }
    if (strncmp(f.target, "cmd:", 4)) {
        netbe_error_setg(errp,
                         "guest forwarding rule '%s': only the "
                         "'cmd:COMMAND' form is supported so far, not a "
                         "chardev ('%s')",
                         rule, f.target);
        return -1;
    }
    if (slirp_add_exec(u->slirp, f.target + 4, &f.server, f.port) < 0) {
        netbe_error_setg(errp,
                         "Conflicting/invalid host:port in guest "
                         "forwarding rule '%s'",
                         rule);
        return -1;
    }
    mark_dirty(u);
    return 0;
}

/* QEMU's smb=: smbd on the guest's 10.0.2.4:139 and :445 */
static int add_smb(struct user *u, const char *dir, struct in_addr srv,
                   struct netbe_error **errp)
{
    struct passwd *pw = getpwuid(geteuid());
    const char *tmp = getenv("TMPDIR");
    char *conf, *cmd;
    FILE *f;
    int r = 0;

    if (!pw) {
        netbe_error_setg(errp, "Failed to retrieve user name");
        return -1;
    }
    if (access(SMBD_COMMAND, F_OK)) {
        netbe_error_setg(errp, "Could not find '%s', please install it",
                         SMBD_COMMAND);
        return -1;
    }
    if (access(dir, R_OK | X_OK)) {
        netbe_error_setg(errp, "Error accessing shared directory '%s': %s", dir,
                         strerror(errno));
        return -1;
    }
    u->smb_dir =
        netbe_strdup_printf("%s/qemu-smb.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(u->smb_dir)) {
        free(u->smb_dir);
        u->smb_dir = NULL;
        netbe_error_setg(errp, "Could not create samba server dir");
        return -1;
    }
    conf = netbe_strdup_printf("%s/smb.conf", u->smb_dir);
    f = fopen(conf, "w");
    if (!f) {
        netbe_error_setg(errp,
                         "Could not create samba server configuration "
                         "file '%s'",
                         conf);
        free(conf);
        smb_cleanup(u);
        return -1;
    }
    fprintf(f,
            "[global]\nprivate dir=%1$s\ninterfaces=127.0.0.1\n"
            "bind interfaces only=yes\npid directory=%1$s\n"
            "lock directory=%1$s\nstate directory=%1$s\n"
            "cache directory=%1$s\nncalrpc dir=%1$s/ncalrpc\n"
            "log file=%1$s/log.smbd\nsmb passwd file=%1$s/smbpasswd\n"
            "security = user\nmap to guest = Bad User\nload printers = no\n"
            "printing = bsd\ndisable spoolss = yes\n"
            "usershare max shares = 0\n"
            "[qemu]\npath=%2$s\nread only=no\nguest ok=yes\n"
            "force user=%3$s\n",
            u->smb_dir, dir, pw->pw_name);
    fclose(f);
    cmd = netbe_strdup_printf("%s -l %s -s %s", SMBD_COMMAND, u->smb_dir, conf);
    if (slirp_add_exec(u->slirp, cmd, &srv, 139) < 0 ||
        slirp_add_exec(u->slirp, cmd, &srv, 445) < 0) {
        netbe_error_setg(errp, "Conflicting/invalid smbserver address");
        smb_cleanup(u);
        r = -1;
    }
    free(cmd);
    free(conf);
    return r;
}

/* The values of every @key, in the order given. */
static const char **values_of(const struct netbe_opts *opts, const char *key,
                              size_t *n)
{
    const char **v = netbe_malloc0((opts->n + 1) * sizeof(*v));
    size_t i;

    *n = 0;
    for (i = 0; i < opts->n; i++) {
        if (!strcmp(opts->v[i].key, key)) {
            v[(*n)++] = opts->v[i].value;
        }
    }
    return v;
}

/*
 * QEMU 7.2 sets the rules up from a list it builds by pushing each in
 * front: all guestfwd rules, then the hostfwd ones, each last to first.
 * The first failure ends it; the messages follow that order.
 */
static int add_forwards(struct user *u, const struct netbe_opts *opts,
                        struct netbe_error **errp)
{
    size_t nh, ng, i;
    const char **h = values_of(opts, "hostfwd", &nh);
    const char **g = values_of(opts, "guestfwd", &ng);
    int r = 0;

    for (i = ng; r == 0 && i-- > 0;) {
        r = add_guestfwd(u, g[i], errp);
    }
    for (i = nh; r == 0 && i-- > 0;) {
        r = add_hostfwd(u, h[i], errp);
    }
    free(h);
    free(g);
    return r;
}

static int user_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                     const char *name, struct netbe_client *peer,
                     struct netbe_error **errp)
{
    static bool log_set;
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    struct netbe_user_net un;
    SlirpConfig cfg = {0};
    struct netbe_client *nc;
    struct user *u;
    const char **dnssearch;
    const char *smb = netbe_opts_get(opts, "smb");
    size_t n;

    if (!loop) {
        netbe_error_setg(errp, "-netdev user needs an event loop");
        return -1;
    }
    if (!loop->ops->prepare_new || !loop->ops->prepare_free) {
        netbe_error_setg(errp, "-netdev user needs the event loop's prepare "
                               "hook (netbe_loop_ops.prepare_new and "
                               "prepare_free), which this loop does not have: "
                               "libslirp polls its sockets before each wait");
        return -1;
    }
    if (netbe_user_parse_net(opts, &un, errp) < 0) {
        return -1;
    }
    if (!log_set) {
        g_log_set_handler(
            "Slirp", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
            slirp_log, NULL);
        log_set = true;
    }

    fd_budget_cache = 0; /* the limit read afresh for the new netdev */
    nc = netbe_client_new(ctx, &user_info, peer, "user", name);
    u = to_user(nc);
    u->loop = loop;
    u->epfd = -1;
    u->host = un.host;
    snprintf(nc->info_str, sizeof(nc->info_str), "net=%s,restrict=%s",
             inet_ntoa(un.net), un.restricted ? "on" : "off");

    u->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (u->epfd < 0) {
        netbe_error_setg(errp, "user %s: cannot make an epoll set: %s", name,
                         strerror(errno));
        goto fail;
    }
    u->ep_watch = netbe_watch_fd(loop, u->epfd, NETBE_EV_READ, epoll_cb, u);
    u->wake = loop->ops->timer_new(loop->opaque, wake_cb, u);
    u->prepare = loop->ops->prepare_new(loop->opaque, prepare_cb, u);
    if (!u->ep_watch || !u->wake || !u->prepare) {
        netbe_error_setg(errp, "user %s: cannot watch its sockets", name);
        goto fail;
    }

    cfg.version = 4;
    cfg.restricted = un.restricted;
    cfg.in_enabled = un.ipv4;
    cfg.vnetwork = un.net;
    cfg.vnetmask = un.mask;
    cfg.vhost = un.host;
    cfg.in6_enabled = un.ipv6;
    cfg.vprefix_addr6 = un.prefix6;
    cfg.vprefix_len = (uint8_t)un.prefix6_len;
    cfg.vhost6 = un.host6;
    cfg.vhostname = netbe_opts_get(opts, "hostname");
    cfg.tftp_server_name = netbe_opts_get(opts, "tftp-server-name");
    cfg.tftp_path = netbe_opts_get(opts, "tftp");
    cfg.bootfile = netbe_opts_get(opts, "bootfile");
    cfg.vdhcp_start = un.dhcp;
    cfg.vnameserver = un.dns;
    cfg.vnameserver6 = un.dns6;
    dnssearch = values_of(opts, "dnssearch", &n);
    cfg.vdnssearch = n ? dnssearch : NULL;
    cfg.vdomainname = netbe_opts_get(opts, "domainname");
    /* libslirp copies what it keeps */
    u->slirp = slirp_new(&cfg, &slirp_cbs, u);
    free(dnssearch);
    if (!u->slirp) {
        netbe_error_setg(errp, "user %s: libslirp could not start", name);
        goto fail;
    }
    if (add_forwards(u, opts, errp) < 0) {
        goto fail;
    }
    if (smb && add_smb(u, smb, un.smbsrv, errp) < 0) {
        goto fail;
    }
    u->dirty = false;
    poll_now(u);
    return 0;

fail:
    netbe_client_del(nc);
    return -1;
}

/* ---- the monitor's commands ---- */

struct netbe_client *netbe_user_lookup(struct netbe_ctx *ctx, const char *id,
                                       FILE *out)
{
    struct netbe_client *nc;

    if (id) {
        nc = netbe_find_netdev(ctx, id);
        if (!nc) {
            fprintf(out, "unrecognized netdev id '%s'\n", id);
            return NULL;
        }
        if (nc->info != &user_info) {
            fprintf(out, "invalid device specified\n");
            return NULL;
        }
        return nc;
    }
    for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
        if (nc->info == &user_info) {
            return nc;
        }
    }
    fprintf(out, "user mode network stack not in use\n");
    return NULL;
}

int netbe_user_hostfwd_add(struct netbe_client *nc, const char *rule,
                           struct netbe_error **errp)
{
    return add_hostfwd(to_user(nc), rule, errp);
}

int netbe_user_hostfwd_remove(struct netbe_client *nc, const char *src)
{
    struct user *u = to_user(nc);
    struct sockaddr_in h = {.sin_family = AF_INET};
    struct in_addr addr;
    bool udp;
    int port;

    if (netbe_user_parse_hostfwd_remove(src, &udp, &addr, &port) < 0) {
        return -1;
    }
    h.sin_addr = addr;
    h.sin_port = htons((uint16_t)port);
    if (slirp_remove_hostxfwd(u->slirp, (struct sockaddr *)&h, sizeof(h),
                              udp ? SLIRP_HOSTFWD_UDP : 0) < 0) {
        return 0;
    }
    mark_dirty(u);
    return 1;
}

void netbe_user_info_usernet(struct netbe_ctx *ctx, FILE *out)
{
    struct netbe_client *nc;

    for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
        char *info;
        int id;

        if (nc->info != &user_info || !to_user(nc)->slirp) {
            continue;
        }
        if (netbe_hub_id_for_client(nc, &id) < 0) {
            id = -1;
        }
        info = slirp_connection_info(to_user(nc)->slirp);
        fprintf(out, "Hub %d (%s):\n%s", id, nc->name, info ? info : "");
        g_free(info);
    }
}

/* ---- the type ---- */

static const struct netbe_opt_desc user_opts[] = {
    {.name = "hostname",
     .type = NETBE_OPT_STRING,
     .help = "client hostname the DHCP server reports"},
    {.name = "restrict",
     .type = NETBE_OPT_BOOL,
     .help = "isolate the guest: no connections out but forwarded ones",
     .def = "off"},
    {.name = "ipv4", .type = NETBE_OPT_BOOL, .help = "IPv4 on the network"},
    {.name = "ipv6", .type = NETBE_OPT_BOOL, .help = "IPv6 on the network"},
    {.name = "ip",
     .type = NETBE_OPT_STRING,
     .help = "legacy: the network A.B.C.D, as net=A.B.C.D/24"},
    {.name = "net",
     .type = NETBE_OPT_STRING,
     .help = "the guest network: addr[/netmask]",
     .def = "10.0.2.0/24"},
    {.name = "host",
     .type = NETBE_OPT_STRING,
     .help = "the host's address in it",
     .def = "10.0.2.2"},
    {.name = "tftp",
     .type = NETBE_OPT_STRING,
     .help = "directory the TFTP server serves"},
    {.name = "bootfile",
     .type = NETBE_OPT_STRING,
     .help = "BOOTP file name offered to the guest"},
    {.name = "dhcpstart",
     .type = NETBE_OPT_STRING,
     .help = "first of the 16 addresses DHCP hands out",
     .def = "10.0.2.15"},
    {.name = "dns",
     .type = NETBE_OPT_STRING,
     .help = "the DNS server's address",
     .def = "10.0.2.3"},
    {.name = "dnssearch",
     .type = NETBE_OPT_STRING,
     .help = "a DNS search domain (repeatable)"},
    {.name = "domainname",
     .type = NETBE_OPT_STRING,
     .help = "the domain name DHCP hands out"},
    {.name = "ipv6-prefix",
     .type = NETBE_OPT_STRING,
     .help = "the IPv6 prefix",
     .def = "fec0::"},
    {.name = "ipv6-prefixlen",
     .type = NETBE_OPT_INT,
     .help = "its length",
     .def = "64"},
    {.name = "ipv6-host",
     .type = NETBE_OPT_STRING,
     .help = "the host's IPv6 address",
     .def = "fec0::2"},
    {.name = "ipv6-dns",
     .type = NETBE_OPT_STRING,
     .help = "the IPv6 DNS server's address",
     .def = "fec0::3"},
    {.name = "smb",
     .type = NETBE_OPT_STRING,
     .help = "a directory to share over SMB (needs " SMBD_COMMAND ")"},
    {.name = "smbserver",
     .type = NETBE_OPT_STRING,
     .help = "the SMB server's address",
     .def = "10.0.2.4"},
    {.name = "hostfwd",
     .type = NETBE_OPT_STRING,
     .help = "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport "
             "(repeatable)"},
    {.name = "guestfwd",
     .type = NETBE_OPT_STRING,
     .help = "[tcp]:[server]:port-cmd:COMMAND (repeatable)"},
    {.name = "tftp-server-name",
     .type = NETBE_OPT_STRING,
     .help = "TFTP server name DHCP hands out"},
    {0},
};

static const struct netbe_schema user_schema = {
    .type = "user",
    .opts = user_opts,
};

const struct netbe_backend_type netbe_backend_user = {
    .name = "user",
    .driver = NETBE_DRIVER_USER,
    .schema = &user_schema,
    .netdev_ok = true,
    .net_ok = true,
    .init = user_init,
};
