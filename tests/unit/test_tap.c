/*
 * test_tap.c - the tap netdev against real tap devices, in a network
 * namespace of the test's own (unshare(CLONE_NEWNET), so nothing it makes
 * is seen outside and everything goes when it exits): the device's flags,
 * the vnet header stripped on read and a zero one put in front on write,
 * the offloads kept off for a peer of plain frames, backpressure from a
 * peer that refuses, multiqueue, fd= and QEMU 7.2's messages.
 *
 * The other end of the tap is an AF_PACKET socket bound to its interface:
 * what it sends the tap fd reads, what netbe writes it receives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backends.h"
#include "backends/tap-linux.h"
#include "tapwire.h"
#include "testlib.h"

/* IEEE's local experimental ethertype: nothing else on the link uses it */
#define TEST_ETHERTYPE 0x88b5
#define IFNAME "nbt0"

static struct netbe_loop *loop;

/*
 * A tap's write returns EAGAIN only when its socket's send buffer is
 * full, which a test cannot bring about at will: writev() is interposed
 * here, and says EAGAIN for @eagain_fd while @eagain_left > 0.
 */
static int eagain_fd = -1;
static int eagain_left;
static int eagain_said;

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    static ssize_t (*real)(int, const struct iovec *, int);

    if (fd == eagain_fd && eagain_left > 0) {
        eagain_left--;
        eagain_said++;
        errno = EAGAIN;
        return -1;
    }
    if (!real) {
        real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT,
                                                                 "writev");
    }
    return real(fd, iov, iovcnt);
}

static void pump(int ms)
{
    for (int i = 0; i < ms; i++) {
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
}

static struct netbe_client *add_tap(struct netbe_ctx *ctx, const char *str)
{
    struct netbe_error *err = NULL;

    if (netbe_netdev_add_str(ctx, str, true, &err) < 0) {
        fail_msg("%s: %s", str, netbe_error_msg(err));
    }
    return netbe_find_netdev(ctx, "t0");
}

static short if_flags(int fd)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    assert_int_equal(ioctl(fd, TUNGETIFF, &ifr), 0);
    return ifr.ifr_flags;
}

static size_t make_frame(uint8_t *buf, size_t len, uint8_t seq)
{
    memset(buf, 0xff, 6); /* broadcast: the tap takes it */
    memcpy(buf + 6, "\x52\x54\x00\x12\x34\x99", 6);
    buf[12] = TEST_ETHERTYPE >> 8;
    buf[13] = TEST_ETHERTYPE & 0xff;
    for (size_t i = 14; i < len; i++) {
        buf[i] = (uint8_t)(seq + i);
    }
    return len;
}

static void wire_send(int s, const uint8_t *buf, size_t len)
{
    assert_int_equal(send(s, buf, len, 0), (ssize_t)len);
}

/* The next test frame netbe wrote to the tap, running the loop meanwhile. */
static ssize_t wire_recv(int s, uint8_t *buf, size_t len)
{
    for (int i = 0; i < 3000; i++) {
        struct sockaddr_ll from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(s, buf, len, 0, (struct sockaddr *)&from, &flen);

        if (n >= 14 && from.sll_pkttype != PACKET_OUTGOING &&
            buf[12] == (TEST_ETHERTYPE >> 8) &&
            buf[13] == (TEST_ETHERTYPE & 0xff)) {
            return n;
        }
        if (n < 0) {
            netbe_loop_run_once(loop, 0);
            usleep(1000);
        }
    }
    return -1;
}

/* How many of @c's frames are test frames. */
static int test_frames(struct tl_client *c)
{
    int n = 0, max = c->nframes < TL_MAX_FRAMES ? c->nframes : TL_MAX_FRAMES;

    for (int i = 0; i < max; i++) {
        const uint8_t *d = c->frames[i].data;

        if (c->frames[i].len >= 14 && d[12] == (TEST_ETHERTYPE >> 8) &&
            d[13] == (TEST_ETHERTYPE & 0xff)) {
            n++;
        }
    }
    return n;
}

static bool wait_test_frames(struct tl_client *c, int n)
{
    for (int i = 0; i < 3000 && test_frames(c) < n; i++) {
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
    return test_frames(c) >= n;
}

static const struct tl_frame *last_test_frame(struct tl_client *c)
{
    int max = c->nframes < TL_MAX_FRAMES ? c->nframes : TL_MAX_FRAMES;

    for (int i = max - 1; i >= 0; i--) {
        if (c->frames[i].len >= 14 &&
            c->frames[i].data[12] == (TEST_ETHERTYPE >> 8)) {
            return &c->frames[i];
        }
    }
    return NULL;
}

/* ---- device flags ---- */

static void test_flags(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_client *t;
    short f;

    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME ",script=no,downscript=no");
    f = if_flags(netbe_tap_fd(t));
    assert_true(f & IFF_TAP);
    assert_true(f & IFF_NO_PI);
    /* on by default when the kernel has it, as QEMU's */
    assert_true(f & IFF_VNET_HDR);
    assert_false(f & IFF_MULTI_QUEUE);
    assert_true(netbe_has_vnet_hdr(t));
    assert_true(netbe_has_vnet_hdr_len(t, 12));
    assert_true(fcntl(netbe_tap_fd(t), F_GETFL) & O_NONBLOCK);
    assert_string_equal(t->info_str,
                        "ifname=" IFNAME ",script=no,downscript=no");
    netbe_ctx_free(ctx);

    ctx = netbe_ctx_new(loop);
    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME
                     ",script=no,downscript=no,vnet_hdr=off");
    f = if_flags(netbe_tap_fd(t));
    assert_false(f & IFF_VNET_HDR);
    assert_false(netbe_has_vnet_hdr(t));
    assert_false(netbe_has_vnet_hdr_len(t, 12));
    netbe_ctx_free(ctx);

    /* the kernel names it when no ifname= is given */
    ctx = netbe_ctx_new(loop);
    t = add_tap(ctx, "tap,id=t0,script=no,downscript=no,vnet_hdr=on");
    assert_true(if_flags(netbe_tap_fd(t)) & IFF_VNET_HDR);
    assert_int_equal(strncmp(t->info_str, "ifname=tap", 10), 0);
    netbe_ctx_free(ctx);
}

static void test_multiqueue(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_client *ncs[4];
    int n;

    add_tap(ctx, "tap,id=t0,script=no,downscript=no,queues=3");
    n = netbe_find_clients_except(ctx, "t0", ncs, NETBE_DRIVER_NIC, 4);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        assert_true(if_flags(netbe_tap_fd(ncs[i])) & IFF_MULTI_QUEUE);
        assert_true(ncs[i]->is_netdev);
    }
    /* one interface: the later queues took the first one's kernel name */
    assert_string_equal(ncs[0]->info_str, ncs[1]->info_str);
    assert_string_equal(ncs[1]->info_str, ncs[2]->info_str);
    /* netdev_del takes every queue */
    assert_int_equal(netbe_netdev_del(ctx, "t0", NULL), 0);
    assert_null(netbe_client_first(ctx));
    netbe_ctx_free(ctx);
}

/* ---- frames both ways, with and without the device's header ---- */

static void both_ways(const char *opts)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[1514], got[2048];
    const struct tl_frame *f;
    struct tl_client *p;
    struct netbe_client *t;
    char str[256];
    ssize_t n;
    int w;

    snprintf(str, sizeof(str), "tap,id=t0,ifname=%s,%s", IFNAME, opts);
    t = add_tap(ctx, str);
    p = tl_backend(ctx, "peer", t);
    w = tapwire_open(IFNAME);

    /* read: the header is gone, the frame is exactly what was sent */
    make_frame(frame, 60, 1);
    wire_send(w, frame, 60);
    assert_true(wait_test_frames(p, 1));
    f = last_test_frame(p);
    assert_int_equal(f->len, 60);
    assert_memory_equal(f->data, frame, 60);

    /* write: a zero header in front, so the kernel sees the frame itself */
    make_frame(frame, 1514, 2);
    assert_int_equal(netbe_send_packet(&p->nc, frame, 1514), 1514);
    n = wire_recv(w, got, sizeof(got));
    assert_int_equal(n, 1514);
    assert_memory_equal(got, frame, 1514);
    assert_int_equal(t->stats.drop_error + t->stats.drop_malformed, 0);

    close(w);
    netbe_ctx_free(ctx);
}

static void test_vnet_hdr_on(void **state)
{
    both_ways("script=no,downscript=no,vnet_hdr=on");
}

static void test_vnet_hdr_off(void **state)
{
    both_ways("script=no,downscript=no,vnet_hdr=off");
}

static void test_header_len_12(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[100], got[256];
    struct tl_client *p;
    struct netbe_client *t;
    int w;

    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME ",script=no,downscript=no");
    p = tl_backend(ctx, "peer", t);
    /* a mergeable-buffer peer: the strip and the prepend follow the length */
    netbe_set_vnet_hdr_len(t, 12);
    assert_int_equal(t->vnet_hdr_len, 0); /* not used on the graph yet */
    w = tapwire_open(IFNAME);
    make_frame(frame, 100, 3);
    wire_send(w, frame, 100);
    assert_true(wait_test_frames(p, 1));
    assert_int_equal(last_test_frame(p)->len, 100);
    assert_memory_equal(last_test_frame(p)->data, frame, 100);
    assert_int_equal(netbe_send_packet(&p->nc, frame, 100), 100);
    assert_int_equal(wire_recv(w, got, sizeof(got)), 100);
    assert_memory_equal(got, frame, 100);

    /* headers on the tap side: a peer of plain frames gets them stripped */
    netbe_using_vnet_hdr(t, true);
    assert_int_equal(t->vnet_hdr_len, 12);
    wire_send(w, frame, 100);
    for (int i = 0; i < 3000 && p->nframes < 2; i++) {
        pump(1);
    }
    assert_int_equal(p->nframes, 2);
    assert_int_equal(p->frames[1].len, 100);
    assert_memory_equal(p->frames[1].data, frame, 100);
    /* and the core puts an empty header in front of what it sends */
    assert_int_equal(netbe_send_packet(&p->nc, frame, 100), 100);
    assert_int_equal(wire_recv(w, got, sizeof(got)), 100);
    assert_memory_equal(got, frame, 100);

    /* a peer that uses headers gets them as the device wrote them */
    p->nc.vnet_hdr_len = 12;
    wire_send(w, frame, 100);
    for (int i = 0; i < 3000 && p->nframes < 3; i++) {
        pump(1);
    }
    assert_int_equal(p->nframes, 3);
    assert_int_equal(p->frames[2].len, 112);
    assert_memory_equal(p->frames[2].data + 12, frame, 100);
    close(w);
    netbe_ctx_free(ctx);
}

/* TUNGETVNETBE: the device's header order, 1 for big-endian. */
static int vnet_be_on(int fd)
{
    int be = -1;

    return ioctl(fd, TUNGETVNETBE, &be) == 0 ? be : -1;
}

/* TSO as ethtool sees it on the interface: what TUNSETOFFLOAD turned on. */
static bool tso_on(const char *ifname)
{
    struct ethtool_value ev = {.cmd = ETHTOOL_GTSO};
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int r;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    ifr.ifr_data = (void *)&ev;
    r = ioctl(s, SIOCETHTOOL, &ifr);
    close(s);
    assert_int_equal(r, 0);
    return ev.data != 0;
}

static void test_offloads(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_offloads all = {true, true, true, true, false, false, false};
    struct netbe_client *t;

    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME ",script=no,downscript=no");
    /* off from the start, as QEMU's */
    assert_false(tso_on(IFNAME));
    /* a peer of plain frames cannot take GSO, whatever it says */
    netbe_set_offload(t, &all);
    assert_false(tso_on(IFNAME));
    netbe_using_vnet_hdr(t, true);
    netbe_set_offload(t, &all);
    assert_true(tso_on(IFNAME));
    /* and back to plain frames turns them off again */
    netbe_using_vnet_hdr(t, false);
    assert_false(tso_on(IFNAME));
    /* the legacy-endian switches reach the device */
    if (vnet_be_on(netbe_tap_fd(t)) < 0) {
        /* a kernel without CONFIG_TUN_VNET_CROSS_LE: QEMU's -EINVAL */
        assert_int_equal(netbe_set_vnet_be(t, true), -EINVAL);
        assert_false(t->vnet_be);
    } else {
        assert_int_equal(netbe_set_vnet_be(t, true), 0);
        assert_true(t->vnet_be);
        assert_int_equal(vnet_be_on(netbe_tap_fd(t)), 1);
        assert_int_equal(netbe_set_vnet_be(t, false), 0);
        assert_false(t->vnet_be);
        assert_int_equal(vnet_be_on(netbe_tap_fd(t)), 0);
    }
    /* little-endian is this host's own order: nothing to switch */
    assert_int_equal(netbe_set_vnet_le(t, true), 0);
    netbe_ctx_free(ctx);
}

/* ---- backpressure ---- */

static void test_backpressure(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[200];
    struct tl_client *p;
    struct netbe_client *t;
    int w, i;

    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME ",script=no,downscript=no");
    p = tl_backend(ctx, "peer", t);
    w = tapwire_open(IFNAME);
    pump(20);
    p->mode = TL_REFUSE;
    for (i = 0; i < 100; i++) {
        make_frame(frame, sizeof(frame), (uint8_t)i);
        wire_send(w, frame, sizeof(frame));
    }
    pump(100);
    /* one batch waits at the peer; the rest stayed in the kernel */
    assert_int_equal(test_frames(p), 0);
    assert_int_equal(p->nc.incoming_queue->count, 64);
    assert_int_equal(t->stats.drop_queue_full, 0);
    /* the peer takes again: every frame comes, none lost, in order */
    p->mode = TL_ACCEPT;
    netbe_flush_queued(&p->nc);
    assert_true(wait_test_frames(p, 63));
    for (i = 0; i < 3000 && p->nframes < 100; i++) {
        pump(1);
    }
    assert_int_equal(p->nframes, 100);
    assert_int_equal(p->frames[TL_MAX_FRAMES - 1].data[14], (uint8_t)(99 + 14));
    assert_int_equal(t->stats.tx_frames, 100);
    close(w);
    netbe_ctx_free(ctx);
}

/* The rest of a batch goes only while the peer's queue has room. */
static void test_backpressure_byte_limit(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[200];
    struct tl_client *p;
    struct netbe_client *t;
    int w, i;

    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME ",script=no,downscript=no");
    p = tl_backend(ctx, "peer", t);
    netbe_client_set_queue_bytes(&p->nc, 2048);
    w = tapwire_open(IFNAME);
    pump(20);
    p->mode = TL_REFUSE;
    for (i = 0; i < 100; i++) {
        make_frame(frame, sizeof(frame), (uint8_t)i);
        wire_send(w, frame, sizeof(frame));
    }
    pump(100);
    assert_true(p->nc.incoming_queue->count > 1);
    assert_true(p->nc.incoming_queue->count < 64);
    assert_true(p->nc.incoming_queue->bytes < 2048 + 512);
    p->mode = TL_ACCEPT;
    netbe_flush_queued(&p->nc);
    for (i = 0; i < 3000 && p->nframes < 100; i++) {
        pump(1);
    }
    assert_int_equal(p->nframes, 100);
    assert_int_equal(t->stats.tx_frames, 100);
    assert_int_equal(t->stats.drop_queue_full, 0);
    close(w);
    netbe_ctx_free(ctx);
}

/*
 * A full device: the frame that met EAGAIN and those behind it wait in
 * the core, nothing is lost or reordered, and the WRITE watch sends them
 * once the device takes frames again.
 */
static void test_write_eagain(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[200], got[256];
    struct tl_client *p;
    struct netbe_client *t;
    int w, i;

    t = add_tap(ctx, "tap,id=t0,ifname=" IFNAME ",script=no,downscript=no");
    p = tl_backend(ctx, "peer", t);
    w = tapwire_open(IFNAME);
    pump(20);
    eagain_fd = netbe_tap_fd(t);
    eagain_left = 1;
    eagain_said = 0;
    make_frame(frame, sizeof(frame), 0);
    assert_int_equal(netbe_send_packet(&p->nc, frame, sizeof(frame)), 0);
    assert_int_equal(eagain_said, 1);
    /* the device is full: the others queue behind it, untried */
    for (i = 1; i < 5; i++) {
        make_frame(frame, sizeof(frame), (uint8_t)i);
        assert_int_equal(netbe_send_packet(&p->nc, frame, sizeof(frame)), 0);
    }
    assert_int_equal(eagain_said, 1);
    assert_int_equal(t->incoming_queue->count, 5);
    /* writable again: all five, in order */
    for (i = 0; i < 5; i++) {
        make_frame(frame, sizeof(frame), (uint8_t)i);
        assert_int_equal(wire_recv(w, got, sizeof(got)), sizeof(frame));
        assert_memory_equal(got, frame, sizeof(frame));
    }
    assert_int_equal(t->incoming_queue->count, 0);
    assert_int_equal(t->stats.rx_frames, 5);
    assert_int_equal(t->stats.drop_error + t->stats.drop_queue_full, 0);
    eagain_fd = -1;
    close(w);
    netbe_ctx_free(ctx);
}

/* ---- fd=, scripts ---- */

static int open_tap(const char *name, bool vnet)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR);

    assert_true(fd >= 0);
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    return fd;
}

static void test_fd(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_client *t;
    char str[64], info[32];
    int fd = open_tap(IFNAME, false);

    snprintf(str, sizeof(str), "tap,id=t0,fd=%d", fd);
    t = add_tap(ctx, str);
    snprintf(info, sizeof(info), "fd=%d", fd);
    assert_string_equal(t->info_str, info);
    /* the header is what the device has, not a default */
    assert_false(netbe_has_vnet_hdr(t));
    netbe_ctx_free(ctx);
    /* the client closed it */
    assert_int_equal(fcntl(fd, F_GETFD), -1);
}

static void test_scripts(void **state)
{
    char dir[] = "/tmp/netbe-tap-XXXXXX", script[128], out[128], str[512];
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    char buf[256] = "";
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof(script), "%s/ifup", dir);
    snprintf(out, sizeof(out), "%s/argv", dir);
    f = fopen(script, "w");
    fprintf(f, "#!/bin/sh\necho \"$0 $# $*\" >> %s\n", out);
    fclose(f);
    chmod(script, 0755);
    snprintf(str, sizeof(str),
             "tap,id=t0,ifname=" IFNAME ",script=%s,downscript=%s", script,
             script);
    add_tap(ctx, str);
    netbe_ctx_free(ctx);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f) > 0, 1);
    fclose(f);
    snprintf(str, sizeof(str), "%s 1 " IFNAME "\n%s 1 " IFNAME "\n", script,
             script);
    assert_string_equal(buf, str);
    unlink(out);
    unlink(script);
    rmdir(dir);
}

/* ---- QEMU 7.2's messages ---- */

static void add_err(const char *str, bool is_netdev, const char *msg)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_netdev_add_str(ctx, str, is_netdev, &err), -1);
    tl_assert_failed_init(ctx, str, err, msg, false);
}

static void test_errors(void **state)
{
    add_err("tap,id=t0,fd=3,ifname=x", true,
            "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, "
            "fds=, and vhostfds= are invalid with fd=");
    add_err("tap,id=t0,fds=3:4,queues=2", true,
            "ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, "
            "and vhostfd= are invalid with fds=");
    add_err("tap,id=t0,helper=/bin/false,ifname=x", true,
            "ifname=, script=, downscript=, vnet_hdr=, queues=, and "
            "vhostfds= are invalid with helper=");
    add_err("tap,id=t0,vhostfds=3", true,
            "vhostfds= is invalid if fds= wasn't specified");
    add_err("tap,id=t0,fd=abc", true, "Invalid file descriptor number 'abc'");
    add_err("tap,id=t0,fd=999", true,
            "t0: Can't use file descriptor 999: Bad file descriptor");
    add_err("tap,id=t0,helper=/bin/false", true, "bridge helper failed");
    add_err("bridge,id=b0,helper=/nonexistent", true, "bridge helper failed");
    add_err("tap,id=t0,script=/nonexistent,downscript=no", true,
            "network script /nonexistent failed with status 256");
    add_err("tap,id=t0,script=no,vhostfd=5,vhost=off", true,
            "vhostfd(s)= is not valid without vhost");
    add_err("tap,id=t0,script=no,queues=0", true,
            "Parameter 'queues' expects a number of queues from 1 to 1024");
    add_err("tap,script=no,queues=2", false,
            "Multiqueue tap cannot be used with hubs");
    add_err("tap,id=t0,script=no,sndbuf=abc", true,
            "Parameter 'sndbuf' expects a size value");
    add_err("tap,id=t0,script=no,foo=1", true, "Invalid parameter 'foo'");
    add_err("tap,id=t0,script=no,vhost=on", true,
            "vhost-net is not available: it needs the guest's memory, which "
            "only a NIC in the same process has; use vhost=off (netbe "
            "carries the frames itself)");
}

/* A tap already in use by a single-queue owner cannot take a second. */
static void test_busy(void **state)
{
    int fd = open_tap(IFNAME, true);

    add_err("tap,id=t0,ifname=" IFNAME ",script=no,downscript=no,queues=2",
            true,
            "could not configure /dev/net/tun (" IFNAME "): Invalid "
            "argument");
    close(fd);
}

static int setup(void **state)
{
    /* a namespace of our own: taps made here are seen nowhere else */
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "test_tap: unshare(CLONE_NEWNET): %s (run as root)\n",
                strerror(errno));
        return -1;
    }
    loop = netbe_loop_default();
    return 0;
}

static int teardown(void **state)
{
    netbe_loop_close(loop);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_multiqueue),
        cmocka_unit_test(test_vnet_hdr_on),
        cmocka_unit_test(test_vnet_hdr_off),
        cmocka_unit_test(test_header_len_12),
        cmocka_unit_test(test_offloads),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_fd),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_write_eagain),
        cmocka_unit_test(test_backpressure_byte_limit),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
