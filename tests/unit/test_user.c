/*
 * test_user.c - the user netdev without a network: QEMU 7.2's option
 * rules and messages (addresses, forwarding rules, hostfwd_remove's
 * format), the info string, and libslirp driven through the loop: ARP,
 * DHCP and ping of the host answered to a recording peer; a loop without
 * the prepare hook refused clearly; the HMP commands' texts; a burst of
 * SYNs kept to the socket budget.  The only sockets it opens are on
 * 127.0.0.1.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/user.h"
#include "control/monitor.h"
#include "netbe/backend.h"
#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#include "fakeloop.h"

#define MAX_REC 256
#define MAX_FRAME 1600

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* ---- a peer that records what it receives ---- */

struct rec {
    struct netbe_client nc;
    int n;
    uint16_t len[MAX_REC];
    uint8_t data[MAX_REC][MAX_FRAME];
};

static ssize_t rec_receive(struct netbe_client *nc, const uint8_t *buf,
                           size_t size)
{
    struct rec *r = (struct rec *)nc;

    if (r->n < MAX_REC && size <= MAX_FRAME) {
        memcpy(r->data[r->n], buf, size);
        r->len[r->n] = (uint16_t)size;
    }
    r->n++;
    return (ssize_t)size;
}

static const struct netbe_client_info rec_info = {
    .type = NETBE_DRIVER_NONE,
    .size = sizeof(struct rec),
    .receive = rec_receive,
};

struct env {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct rec *rec;
    struct netbe_client *user;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    e->loop = fk_init(netbe_loop_default());
    e->ctx = netbe_ctx_new(e->loop);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    netbe_ctx_free(e->ctx);
    /* let the loop close what the netdevs left to close */
    for (int i = 0; i < 10; i++) {
        netbe_loop_run_once(netbe_loop_default(), 0);
    }
    netbe_loop_close(netbe_loop_default());
    free(e);
    return 0;
}

/* A user netdev @opts ("user,id=u0,...") peered with a recorder. */
static void start(struct env *e, const char *opts)
{
    struct netbe_error *err = NULL;
    struct netbe_client *rc;

    assert_int_equal(netbe_netdev_add_str(e->ctx, opts, true, &err), 0);
    e->user = netbe_find_netdev(e->ctx, "u0");
    assert_non_null(e->user);
    rc = netbe_client_new(e->ctx, &rec_info, NULL, "rec", "rec0");
    assert_int_equal(netbe_client_set_peer(rc, e->user, &err), 0);
    e->rec = (struct rec *)rc;
}

static void run_until(struct env *e, int frames, int ms)
{
    int64_t end = netbe_clock_ms(e->loop) + ms;

    while (e->rec->n < frames && netbe_clock_ms(e->loop) < end) {
        netbe_loop_run_once(netbe_loop_default(), 0);
        usleep(1000);
    }
}

/* ---- option parsing ---- */

static void expect_net_error(const char *str, const char *msg)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o = netbe_opts_parse(str, "type", &err);
    struct netbe_user_net un;

    assert_non_null(o);
    assert_int_equal(netbe_opts_expand_ipv6_net(o, &err), 0);
    assert_int_equal(netbe_user_parse_net(o, &un, &err), -1);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
    netbe_opts_free(o);
}

static void parse_ok(const char *str, struct netbe_user_net *un)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o = netbe_opts_parse(str, "type", &err);

    assert_non_null(o);
    assert_int_equal(netbe_opts_expand_ipv6_net(o, &err), 0);
    assert_int_equal(netbe_user_parse_net(o, un, &err), 0);
    netbe_opts_free(o);
}

static void assert_addr(struct in_addr a, const char *want)
{
    assert_string_equal(inet_ntoa(a), want);
}

static void assert_addr6(const struct in6_addr *a, const char *want)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(AF_INET6, a, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_defaults(void **state)
{
    struct netbe_user_net un;

    parse_ok("user,id=u0", &un);
    assert_true(un.ipv4 && un.ipv6 && !un.restricted);
    assert_addr(un.net, "10.0.2.0");
    assert_addr(un.mask, "255.255.255.0");
    assert_addr(un.host, "10.0.2.2");
    assert_addr(un.dns, "10.0.2.3");
    assert_addr(un.dhcp, "10.0.2.15");
    assert_addr6(&un.prefix6, "fec0::");
    assert_int_equal(un.prefix6_len, 64);
    assert_addr6(&un.host6, "fec0::2");
    assert_addr6(&un.dns6, "fec0::3");

    /* the host, DNS and DHCP addresses follow the network */
    parse_ok("user,id=u0,net=192.168.76.0/24,restrict=on", &un);
    assert_true(un.restricted);
    assert_addr(un.host, "192.168.76.2");
    assert_addr(un.dhcp, "192.168.76.15");
    parse_ok("user,id=u0,net=10.0.5.7/16", &un);
    assert_addr(un.net, "10.0.0.0");
    assert_addr(un.host, "10.0.2.2");
    parse_ok("user,id=u0,net=172.20.1.0/255.255.255.0", &un);
    assert_addr(un.net, "172.20.1.0");
    /* without a mask, QEMU guesses one from the class */
    parse_ok("user,id=u0,net=172.20.0.0", &un);
    assert_addr(un.mask, "255.240.0.0");
    parse_ok("user,id=u0,ip=10.9.9.0", &un);
    assert_addr(un.net, "10.9.9.0");
    assert_addr(un.mask, "255.255.255.0");
    parse_ok("user,id=u0,ipv6-net=fd00:1::/48", &un);
    assert_addr6(&un.host6, "fd00:1::2");
    assert_int_equal(un.prefix6_len, 48);

    /* naming one family on turns the other off */
    parse_ok("user,id=u0,ipv4=on", &un);
    assert_true(un.ipv4 && !un.ipv6);
    parse_ok("user,id=u0,ipv6=on", &un);
    assert_true(!un.ipv4 && un.ipv6);
    parse_ok("user,id=u0,ipv4=on,ipv6=on", &un);
    assert_true(un.ipv4 && un.ipv6);
    parse_ok("user,id=u0,ipv6=off", &un);
    assert_true(un.ipv4 && !un.ipv6);
}

static void test_net_errors(void **state)
{
    char longname[300];

    expect_net_error("user,id=u0,net=x", "Failed to parse netmask");
    expect_net_error("user,id=u0,net=10.0.2.0/3",
                     "Invalid netmask provided (must be in range 4-32)");
    expect_net_error("user,id=u0,net=10.0.2.0/33",
                     "Invalid netmask provided (must be in range 4-32)");
    expect_net_error("user,id=u0,net=10.0.2.0/255.x",
                     "Failed to parse netmask (trailing chars)");
    expect_net_error("user,id=u0,host=x", "Failed to parse host");
    expect_net_error("user,id=u0,host=10.0.3.2",
                     "Host doesn't belong to network");
    expect_net_error("user,id=u0,dns=x", "Failed to parse DNS");
    expect_net_error("user,id=u0,dns=10.0.2.2",
                     "DNS must be different from host");
    expect_net_error("user,id=u0,net=10.0.2.0/24,host=10.0.2.3",
                     "DNS must be different from host");
    expect_net_error("user,id=u0,dns=1.2.3.4,restrict=on",
                     "DNS doesn't belong to network");
    expect_net_error("user,id=u0,dhcpstart=x",
                     "Failed to parse DHCP start address");
    expect_net_error("user,id=u0,dhcpstart=10.0.3.5",
                     "DHCP doesn't belong to network");
    expect_net_error("user,id=u0,dhcpstart=10.0.2.3",
                     "DHCP must be different from host and DNS");
    expect_net_error("user,id=u0,smbserver=x", "Failed to parse SMB address");
    expect_net_error("user,id=u0,ipv6-prefix=x", "Failed to parse IPv6 prefix");
    expect_net_error("user,id=u0,ipv6-prefixlen=127",
                     "Invalid IPv6 prefix provided (IPv6 prefix length must "
                     "be between 0 and 126)");
    expect_net_error("user,id=u0,ipv6-net=fe80::/200",
                     "Invalid IPv6 prefix provided (IPv6 prefix length must "
                     "be between 0 and 126)");
    expect_net_error("user,id=u0,ipv6-host=x", "Failed to parse IPv6 host");
    expect_net_error("user,id=u0,ipv6-host=fe81::2",
                     "IPv6 Host doesn't belong to network");
    expect_net_error("user,id=u0,ipv6-dns=x", "Failed to parse IPv6 DNS");
    expect_net_error("user,id=u0,ipv6-dns=fe81::3,restrict=on",
                     "IPv6 DNS doesn't belong to network");
    expect_net_error("user,id=u0,domainname=",
                     "'domainname' parameter cannot be empty");
    expect_net_error("user,id=u0,ipv4=off,net=10.0.0.0/8",
                     "IPv4 disabled but netmask/host/dns provided");
    expect_net_error("user,id=u0,ipv6=off,ipv6-dns=::1",
                     "IPv6 disabled but prefix/host6/dns6 provided");
    expect_net_error("user,id=u0,ipv4=off,ipv6=off", "IPv4 and IPv6 disabled");
    memset(longname, 'a', 256);
    longname[256] = '\0';
    {
        char opt[400];

        snprintf(opt, sizeof(opt), "user,id=u0,hostname=%s", longname);
        expect_net_error(opt, "'vhostname' parameter cannot exceed 255 bytes");
        snprintf(opt, sizeof(opt), "user,id=u0,domainname=%s", longname);
        expect_net_error(opt, "'domainname' parameter cannot exceed 255 bytes");
    }
}

static void hostfwd_error(const char *rule, const char *why)
{
    struct netbe_user_hostfwd f;
    struct netbe_error *err = NULL;
    char want[512];

    assert_int_equal(netbe_user_parse_hostfwd(rule, &f, &err), -1);
    snprintf(want, sizeof(want), "Invalid host forwarding rule '%s' (%s)", rule,
             why);
    assert_string_equal(netbe_error_msg(err), want);
    netbe_error_free(err);
}

static void test_hostfwd_rules(void **state)
{
    struct netbe_user_hostfwd f;
    struct netbe_user_guestfwd g;
    struct netbe_error *err = NULL;
    struct in_addr a;
    bool udp;
    int port;

    assert_int_equal(netbe_user_parse_hostfwd("tcp::2222-:22", &f, &err), 0);
    assert_false(f.udp);
    assert_int_equal(f.host_addr.s_addr, INADDR_ANY);
    assert_int_equal(f.host_port, 2222);
    assert_int_equal(f.guest_addr.s_addr, 0);
    assert_int_equal(f.guest_port, 22);
    /* C's prefixes, as QEMU's qemu_strtoi(..., 0, ...) */
    assert_int_equal(
        netbe_user_parse_hostfwd("udp:127.0.0.1:0x10-10.0.2.9:010", &f, &err),
        0);
    assert_true(f.udp);
    assert_addr(f.host_addr, "127.0.0.1");
    assert_int_equal(f.host_port, 16);
    assert_addr(f.guest_addr, "10.0.2.9");
    assert_int_equal(f.guest_port, 8);
    assert_int_equal(netbe_user_parse_hostfwd(":::0-:1", &f, &err), -1);
    netbe_error_free(err);
    err = NULL;

    hostfwd_error("foo", "No : separators");
    hostfwd_error("x:1", "Bad protocol name");
    hostfwd_error("tcp:1", "Missing : separator");
    hostfwd_error("tcp:x:1", "Bad host address");
    hostfwd_error("tcp::1", "Bad host port separator");
    hostfwd_error("tcp::x-", "Bad host port");
    hostfwd_error("tcp::5555x-:22", "Bad host port");
    hostfwd_error("tcp::70000-:1", "Bad host port");
    hostfwd_error("tcp::1-1", "Missing guest address");
    hostfwd_error("tcp::1-x:1", "Bad guest address");
    hostfwd_error("tcp::1-:0", "Bad guest port");
    hostfwd_error("tcp::1-:22x", "Bad guest port");
    hostfwd_error("tcp::1-:65536", "Bad guest port");

    assert_int_equal(
        netbe_user_parse_hostfwd_remove("tcp::6001", &udp, &a, &port), 0);
    assert_false(udp);
    assert_int_equal(port, 6001);
    assert_int_equal(
        netbe_user_parse_hostfwd_remove("udp:127.0.0.1:53", &udp, &a, &port),
        0);
    assert_true(udp);
    assert_addr(a, "127.0.0.1");
    assert_int_equal(netbe_user_parse_hostfwd_remove("6002", &udp, &a, &port),
                     -1);
    assert_int_equal(
        netbe_user_parse_hostfwd_remove(":x:6002", &udp, &a, &port), -1);
    assert_int_equal(netbe_user_parse_hostfwd_remove("x:", &udp, &a, &port),
                     -1);
    assert_int_equal(
        netbe_user_parse_hostfwd_remove("::6002x", &udp, &a, &port), -1);
    /* base 10 there: QEMU's hostfwd_remove takes no 0x */
    assert_int_equal(netbe_user_parse_hostfwd_remove("::0x10", &udp, &a, &port),
                     -1);

    assert_int_equal(
        netbe_user_parse_guestfwd("tcp:10.0.2.100:1234-cmd:cat", &g, &err), 0);
    assert_addr(g.server, "10.0.2.100");
    assert_int_equal(g.port, 1234);
    assert_string_equal(g.target, "cmd:cat");
    assert_int_equal(netbe_user_parse_guestfwd(":10.0.2.100:1-x", &g, &err), 0);
    static const char *const bad[] = {
        "foo",
        "udp:10.0.2.100:1-cmd:cat",
        "tcp:x:1-cmd:cat",
        "tcp:10.0.2.100:x-cmd:cat",
        "tcp:10.0.2.100:65536-cmd:cat",
        "tcp:10.0.2.100:0-cmd:cat",
        "tcp:10.0.2.100:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[256];

        assert_int_equal(netbe_user_parse_guestfwd(bad[i], &g, &err), -1);
        snprintf(want, sizeof(want), "Invalid guest forwarding rule '%s'",
                 bad[i]);
        assert_string_equal(netbe_error_msg(err), want);
        netbe_error_free(err);
        err = NULL;
    }
}

static void init_error(struct env *e, const char *str, const char *msg)
{
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_netdev_add_str(e->ctx, str, true, &err), -1);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
    /* nothing left behind */
    assert_null(netbe_find_netdev(e->ctx, "u0"));
}

static void test_init_errors(void **state)
{
    struct env *e = *state;

    init_error(e, "user,id=u0,foo=1", "Invalid parameter 'foo'");
    init_error(e, "user,id=u0,restrict=x",
               "Parameter 'restrict' expects 'on' or 'off'");
    init_error(e, "user,id=u0,ipv6-prefixlen=x",
               "Parameter 'ipv6-prefixlen' expects an int64 value");
    init_error(e, "user,id=u0,hostfwd=foo",
               "Invalid host forwarding rule 'foo' (No : separators)");
    init_error(e, "user,id=u0,guestfwd=foo",
               "Invalid guest forwarding rule 'foo'");
    init_error(e, "user,id=u0,guestfwd=tcp:10.0.3.100:1-cmd:cat",
               "Conflicting/invalid host:port in guest forwarding rule "
               "'tcp:10.0.3.100:1-cmd:cat'");
    init_error(e, "user,id=u0,guestfwd=tcp:10.0.2.100:1-chardev0",
               "guest forwarding rule 'tcp:10.0.2.100:1-chardev0': only the "
               "'cmd:COMMAND' form is supported so far, not a chardev "
               "('chardev0')");
    /* QEMU sets the rules up last to first: the second one fails */
    init_error(e,
               "user,id=u0,hostfwd=tcp:127.0.0.1:0-:22,"
               "hostfwd=tcp:1.2.3.4:1-:22",
               "Could not set up host forwarding rule 'tcp:1.2.3.4:1-:22'");
    if (access("/usr/sbin/smbd", F_OK)) {
        init_error(e, "user,id=u0,smb=/tmp",
                   "Could not find '/usr/sbin/smbd', please install it");
    }
}

static void test_needs_prepare_hook(void **state)
{
    struct env *e = *state;
    struct netbe_loop_ops ops = *e->loop->ops;
    struct netbe_loop loop = {.ops = &ops, .opaque = e->loop->opaque};
    struct netbe_ctx *ctx;
    struct netbe_error *err = NULL;

    ops.prepare_new = NULL;
    ops.prepare_free = NULL;
    ctx = netbe_ctx_new(&loop);
    assert_int_equal(netbe_netdev_add_str(ctx, "user,id=u0", true, &err), -1);
    assert_string_equal(netbe_error_msg(err),
                        "-netdev user needs the event loop's prepare hook "
                        "(netbe_loop_ops.prepare_new and prepare_free), "
                        "which this loop does not have: libslirp polls its "
                        "sockets before each wait");
    netbe_error_free(err);
    netbe_ctx_free(ctx);
}

/* ---- frames ---- */

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

/* Ethernet + IPv4 header for @l4len bytes of @proto; Return: the L4 start */
static uint8_t *ipv4(uint8_t *f, const char *src, const char *dst,
                     uint8_t proto, size_t l4len, const uint8_t *dmac)
{
    struct in_addr s, d;

    memcpy(f, dmac, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    f[14] = 0x45;
    put16(f + 16, (uint16_t)(20 + l4len));
    f[22] = 64;
    f[23] = proto;
    inet_aton(src, &s);
    inet_aton(dst, &d);
    memcpy(f + 26, &s, 4);
    memcpy(f + 30, &d, 4);
    put16(f + 24, csum(f + 14, 20, 0));
    return f + 34;
}

static uint32_t pseudo(const uint8_t *f, uint8_t proto, size_t len)
{
    uint32_t s = 0;

    for (int i = 26; i < 34; i += 2) {
        s += (uint32_t)f[i] << 8 | f[i + 1];
    }
    return s + proto + (uint32_t)len;
}

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t slirp_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};

static void send_arp(struct env *e)
{
    uint8_t f[60] = {0};

    memcpy(f, bcast, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0806);
    put16(f + 14, 1);
    put16(f + 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    put16(f + 20, 1);
    memcpy(f + 22, guest_mac, 6);
    f[28] = 10, f[29] = 0, f[30] = 2, f[31] = 15;
    f[38] = 10, f[39] = 0, f[40] = 2, f[41] = 2;
    assert_true(netbe_receive(e->user, f, sizeof(f)) > 0);
}

static int find(struct env *e, uint16_t ethertype, int from)
{
    for (int i = from; i < e->rec->n && i < MAX_REC; i++) {
        if (e->rec->len[i] >= 14 &&
            (e->rec->data[i][12] << 8 | e->rec->data[i][13]) == ethertype) {
            return i;
        }
    }
    return -1;
}

static void test_arp_dhcp_ping(void **state)
{
    struct env *e = *state;
    uint8_t f[14 + 576] = {0}, *u, *b;
    uint8_t *r;
    int i;

    start(e, "user,id=u0");
    assert_string_equal(e->user->info_str, "net=10.0.2.0,restrict=off");

    /* the host answers ARP for itself */
    send_arp(e);
    run_until(e, 1, 1000);
    i = find(e, 0x0806, 0);
    assert_true(i >= 0);
    r = e->rec->data[i];
    assert_int_equal(r[21], 2); /* a reply */
    assert_memory_equal(r + 28, "\x0a\x00\x02\x02", 4);
    assert_memory_equal(r, guest_mac, 6);

    /* DHCP: a discover gets an offer of 10.0.2.15 from 10.0.2.2 */
    u = ipv4(f, "0.0.0.0", "255.255.255.255", 17, 8 + 548, bcast);
    put16(u, 68);
    put16(u + 2, 67);
    put16(u + 4, 8 + 548);
    b = u + 8;
    b[0] = 1, b[1] = 1, b[2] = 6;
    memcpy(b + 4, "\x12\x34\x56\x78", 4);
    memcpy(b + 28, guest_mac, 6);
    memcpy(b + 236, "\x63\x82\x53\x63\x35\x01\x01\xff", 8);
    put16(u + 6, csum(u, 8 + 548, pseudo(f, 17, 8 + 548)));
    e->rec->n = 0;
    assert_true(netbe_receive(e->user, f, sizeof(f)) > 0);
    run_until(e, 1, 1000);
    i = find(e, 0x0800, 0);
    assert_true(i >= 0);
    r = e->rec->data[i];
    assert_int_equal(r[23], 17);
    assert_int_equal(r[34] << 8 | r[35], 67);
    assert_memory_equal(r + 42 + 16, "\x0a\x00\x02\x0f", 4); /* yiaddr */
    assert_memory_equal(r + 26, "\x0a\x00\x02\x02", 4);

    /* a ping of the host is answered */
    memset(f, 0, sizeof(f));
    u = ipv4(f, "10.0.2.15", "10.0.2.2", 1, 8 + 16, slirp_mac);
    u[0] = 8;
    put16(u + 4, 0x4242);
    put16(u + 6, 1);
    memcpy(u + 8, "netbe-ping-data!", 16);
    put16(u + 2, csum(u, 24, 0));
    e->rec->n = 0;
    assert_true(netbe_receive(e->user, f, 14 + 20 + 24) > 0);
    run_until(e, 1, 1000);
    i = find(e, 0x0800, 0);
    assert_true(i >= 0);
    r = e->rec->data[i];
    assert_int_equal(r[23], 1);
    assert_int_equal(r[34], 0); /* echo reply */
    assert_memory_equal(r + 42, "netbe-ping-data!", 16);

    /* garbage is taken and ignored; the stack still answers */
    for (size_t n = 0; n < 200; n++) {
        uint8_t junk[128];

        for (size_t k = 0; k < sizeof(junk); k++) {
            junk[k] = (uint8_t)(n * 31 + k * 7);
        }
        junk[12] = 0x08, junk[13] = n & 1 ? 0x00 : 0x06;
        netbe_receive(e->user, junk, 14 + n % 100);
    }
    e->rec->n = 0;
    send_arp(e);
    run_until(e, 1, 1000);
    assert_true(find(e, 0x0806, 0) >= 0);
}

/* A TCP SYN from the guest to 10.0.2.2:@port from @sport. */
static void send_syn(struct env *e, uint16_t sport, uint16_t port)
{
    uint8_t f[14 + 20 + 20] = {0}, *t;

    t = ipv4(f, "10.0.2.15", "10.0.2.2", 6, 20, slirp_mac);
    put16(t, sport);
    put16(t + 2, port);
    t[4] = 0x11; /* seq */
    t[12] = 5 << 4;
    t[13] = 0x02;
    put16(t + 14, 8192);
    put16(t + 16, csum(t, 20, pseudo(f, 6, 20)));
    netbe_receive(e->user, f, sizeof(f));
}

static void test_syn_burst_keeps_to_budget(void **state)
{
    struct env *e = *state;
    struct rlimit old, rl;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int lfd, before, i;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = 128; /* a budget of 64 sockets */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);

    /* a listener on 127.0.0.1 that never accepts: connections stay */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    getsockname(lfd, (struct sockaddr *)&sa, &len);

    start(e, "user,id=u0");
    send_arp(e);
    before = fk_count_fds();
    for (i = 0; i < 300; i++) {
        send_syn(e, (uint16_t)(20000 + i), ntohs(sa.sin_port));
        if (i % 50 == 0) {
            run_until(e, 1 << 30, 5);
        }
    }
    run_until(e, 1 << 30, 50);
    print_message("fds %d -> %d, dropped %llu\n", before, fk_count_fds(),
                  (unsigned long long)e->user->stats.drop_oversize);
    assert_true(fk_count_fds() - before <= 64);
    assert_true(e->user->stats.drop_oversize >= 300 - 64);
    /* the stack still answers */
    e->rec->n = 0;
    send_arp(e);
    run_until(e, 1, 1000);
    assert_true(find(e, 0x0806, 0) >= 0);

    netbe_client_del(e->user);
    e->user = NULL;
    close(lfd);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* ---- the monitor's commands ---- */

static char *hmp(struct env *e, const char *line)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    netbe_monitor_run_command(e->ctx, line, out);
    fclose(out);
    return buf;
}

static void expect_hmp(struct env *e, const char *line, const char *want)
{
    char *got = hmp(e, line);

    assert_string_equal(got, want);
    free(got);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void test_hmp(void **state)
{
    struct env *e = *state;
    char rule[64], cmd[128], want[256], *info;
    int port = free_port();

    expect_hmp(e, "hostfwd_add tcp::1-:22",
               "user mode network stack not in use\n");
    expect_hmp(e, "info usernet", "");
    start(e, "user,id=u0");
    expect_hmp(e, "info usernet",
               "Hub -1 (u0):\n  Protocol[State]    FD  Source Address  Port"
               "   Dest. Address  Port RecvQ SendQ\n");
    snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d-:22", port);
    snprintf(cmd, sizeof(cmd), "hostfwd_add u0 %s", rule);
    expect_hmp(e, cmd, "");
    snprintf(want, sizeof(want), "Could not set up host forwarding rule '%s'\n",
             rule);
    expect_hmp(e, cmd, want);
    info = hmp(e, "info usernet");
    snprintf(want, sizeof(want), "       127.0.0.1 %5d       10.0.2.15    22",
             port);
    assert_non_null(strstr(info, "TCP[HOST_FORWARD]"));
    assert_non_null(strstr(info, want));
    free(info);
    expect_hmp(e, "hostfwd_add nosuch tcp::1-:22",
               "unrecognized netdev id 'nosuch'\n");
    expect_hmp(e, "hostfwd_add rec0 tcp::1-:22", "invalid device specified\n");
    expect_hmp(e, "hostfwd_add foo",
               "Invalid host forwarding rule 'foo' (No : separators)\n");
    expect_hmp(e, "hostfwd_add",
               "hostfwd_add: string expected\n"
               "Try \"help hostfwd_add\" for more information\n");
    expect_hmp(e, "hostfwd_add a b c",
               "hostfwd_add: extraneous characters at the end of line\n"
               "Try \"help hostfwd_add\" for more information\n");
    expect_hmp(e, "hostfwd_remove u0 6002", "invalid format\n");
    snprintf(cmd, sizeof(cmd), "hostfwd_remove tcp:127.0.0.1:%d", port);
    snprintf(want, sizeof(want),
             "host forwarding rule for tcp:127.0.0.1:%d removed\n", port);
    expect_hmp(e, cmd, want);
    snprintf(want, sizeof(want),
             "host forwarding rule for tcp:127.0.0.1:%d not found\n", port);
    expect_hmp(e, cmd, want);
    expect_hmp(e, "help hostfwd_remove",
               "hostfwd_remove [netdev_id] [tcp|udp]:[hostaddr]:hostport -- "
               "remove host-to-guest TCP or UDP redirection\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_net_errors),
        cmocka_unit_test(test_hostfwd_rules),
        cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_needs_prepare_hook, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_arp_dhcp_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syn_burst_keeps_to_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hmp, setup, teardown),
    };

    netbe_log_set_level(NETBE_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
