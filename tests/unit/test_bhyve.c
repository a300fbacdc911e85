/*
 * test_bhyve.c - bhyve's net_backends API (netbe/bhyve.h) over the graph:
 * backend names (bhyve's tap/vmnet, netmap/vale/netgraph refused, -netdev
 * strings, QEMU's messages), peek/recv/discard on the pull NIC's queue,
 * the level-triggered callback and receive enable/disable, backpressure
 * that loses nothing, the send path, vnet header lengths and offloads, and
 * cleanup with frames waiting, from inside the callback and after the
 * netdev or the context went.
 *
 * Stream and dgram backends run over socketpairs, their far end spoken by
 * the test; tap backends on real devices in a network namespace of the
 * test's own (as test_tap.c), skipped when that cannot be made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "netbe/backend.h"
#include "netbe/bhyve.h"
#include "tapwire.h"
#include "testlib.h"

#define FRAME_MAX 2048
#define TEST_ETHERTYPE 0x88b5

static struct netbe_loop *loop;
static bool have_netns;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void spin(int ms)
{
    int64_t end = now_ms() + ms;

    while (now_ms() < end) {
        netbe_loop_run_once(loop, 0);
        usleep(200);
    }
}

#define RUN_UNTIL(cond)                                                        \
    do {                                                                       \
        int64_t end_ = now_ms() + 5000;                                        \
        while (!(cond) && now_ms() < end_) {                                   \
            netbe_loop_run_once(loop, 0);                                      \
            usleep(100);                                                       \
        }                                                                      \
        assert_true(cond);                                                     \
    } while (0)

/* ---- frames: 4 bytes of index, then a pattern of it ---- */

static size_t frame_len(uint32_t i)
{
    return 60 + i % 97;
}

static size_t put_frame(uint8_t *buf, uint32_t i)
{
    size_t len = frame_len(i);

    memset(buf, 0xff, 6);
    memcpy(buf + 6, "\x52\x54\x00\x12\x34\x99", 6);
    buf[12] = TEST_ETHERTYPE >> 8;
    buf[13] = TEST_ETHERTYPE & 0xff;
    buf[14] = (uint8_t)(i >> 24);
    buf[15] = (uint8_t)(i >> 16);
    buf[16] = (uint8_t)(i >> 8);
    buf[17] = (uint8_t)i;
    for (size_t j = 18; j < len; j++) {
        buf[j] = (uint8_t)(i + j);
    }
    return len;
}

/* Return: the frame's index, or -1 when it is not frame i of the pattern. */
static long frame_index(const uint8_t *buf, size_t len)
{
    uint32_t i;

    if (len < 18 || buf[12] != (TEST_ETHERTYPE >> 8) ||
        buf[13] != (TEST_ETHERTYPE & 0xff)) {
        return -1;
    }
    i = (uint32_t)buf[14] << 24 | (uint32_t)buf[15] << 16 |
        (uint32_t)buf[16] << 8 | buf[17];
    if (len != frame_len(i)) {
        return -1;
    }
    for (size_t j = 18; j < len; j++) {
        if (buf[j] != (uint8_t)(i + j)) {
            return -1;
        }
    }
    return (long)i;
}

/* ---- a frontend ---- */

struct fe {
    struct net_backend *be;
    int calls;
    int take;   /* frames taken per callback: -1 all, 0 none */
    size_t hdr; /* header expected in front of each frame */
    bool cleanup_in_cb, disable_in_cb;
    long next;  /* index of the next frame expected */
    int n;      /* test frames received, in order */
    int bad;    /* frames out of order or damaged */
    int others; /* frames not of the test (an interface's own) */
    uint8_t buf[NETBE_NET_BUFSIZE];
};

static struct fe fe;

static void fe_reset(void)
{
    memset(&fe, 0, sizeof(fe));
    fe.take = -1;
}

/* Take one frame; Return: its length, 0 when none waited. */
static ssize_t fe_take_one(void)
{
    struct iovec iov[3];
    ssize_t peek = netbe_peek_recvlen(fe.be), n;
    long i;

    if (peek <= 0) {
        return peek;
    }
    /* three pieces, as a guest's descriptors */
    iov[0] = (struct iovec){fe.buf, 7};
    iov[1] = (struct iovec){fe.buf + 7, 50};
    iov[2] = (struct iovec){fe.buf + 57, sizeof(fe.buf) - 57};
    n = netbe_recv(fe.be, iov, 3);
    assert_int_equal(n, peek);
    /* a plain frame's header is zero (num_buffers is the frontend's) */
    for (size_t j = 0; j < fe.hdr && j < 10; j++) {
        if (fe.buf[j] != 0) {
            fe.bad++;
            break;
        }
    }
    i = frame_index(fe.buf + fe.hdr, (size_t)n - fe.hdr);
    if (i < 0) {
        fe.others++;
    } else if (i != fe.next) {
        fe.bad++;
        fe.next = i + 1;
    } else {
        fe.n++;
        fe.next++;
    }
    return n;
}

static void fe_cb(int fd, int type, void *param)
{
    assert_int_equal(fd, -1);
    assert_int_equal(type, NETBE_BHYVE_EVF_READ);
    assert_ptr_equal(param, &fe);
    fe.calls++;
    if (fe.cleanup_in_cb) {
        netbe_cleanup(fe.be);
        fe.be = NULL;
        return;
    }
    for (int k = 0; fe.take < 0 || k < fe.take; k++) {
        if (fe_take_one() <= 0) {
            break;
        }
    }
    if (fe.disable_in_cb) {
        netbe_rx_disable(fe.be);
    }
}

static struct net_backend *init_ok(struct netbe_ctx *ctx, const char *str)
{
    struct netbe_error *err = NULL;
    struct net_backend *be = NULL;
    int r = netbe_init_ctx(ctx, &be, str, fe_cb, &fe, &err);

    if (r) {
        fail_msg("%s: %d %s", str, r, netbe_error_msg(err));
    }
    assert_non_null(be);
    fe.be = be;
    return be;
}

static void init_err(struct netbe_ctx *ctx, const char *str, int want,
                     const char *msg)
{
    struct netbe_error *err = NULL;
    struct net_backend *be = (void *)1;
    int r = netbe_init_ctx(ctx, &be, str, fe_cb, &fe, &err);

    if (r != want || !err || strcmp(netbe_error_msg(err), msg)) {
        fail_msg("%s: got %d '%s', want %d '%s'", str, r, netbe_error_msg(err),
                 want, msg);
    }
    assert_null(be);
    netbe_error_free(err);
    /* nothing left behind */
    assert_null(netbe_client_first(ctx));
}

/* ---- the stream peer: QEMU's 4-byte big-endian length framing ---- */

struct wire {
    int fd;
    uint8_t out[4 + FRAME_MAX];
    size_t out_len, out_off; /* a frame partly written */
    uint32_t sent;           /* frames written whole */
    uint8_t in[1 << 16];
    size_t in_len;
};

static void stream_pair(struct wire *w, int *netbe_fd)
{
    int sp[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    memset(w, 0, sizeof(*w));
    w->fd = sp[1];
    *netbe_fd = sp[0];
    assert_int_equal(fcntl(w->fd, F_SETFL, O_NONBLOCK), 0);
}

/* Write frames until @upto went or the socket is full. */
static void wire_push(struct wire *w, uint32_t upto)
{
    for (;;) {
        ssize_t n;

        if (w->out_off == w->out_len) {
            size_t len;

            if (w->sent >= upto) {
                return;
            }
            len = put_frame(w->out + 4, w->sent);
            w->out[0] = 0;
            w->out[1] = 0;
            w->out[2] = (uint8_t)(len >> 8);
            w->out[3] = (uint8_t)len;
            w->out_len = len + 4;
            w->out_off = 0;
        }
        n = write(w->fd, w->out + w->out_off, w->out_len - w->out_off);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            return;
        }
        w->out_off += (size_t)n;
        if (w->out_off == w->out_len) {
            w->sent++;
        }
    }
}

/* The next frame netbe wrote, running the loop meanwhile. */
static size_t wire_frame(struct wire *w, uint8_t *frame)
{
    int64_t end = now_ms() + 5000;

    while (now_ms() < end) {
        if (w->in_len >= 4) {
            size_t len = (size_t)w->in[0] << 24 | (size_t)w->in[1] << 16 |
                         (size_t)w->in[2] << 8 | w->in[3];

            assert_true(len <= FRAME_MAX);
            if (w->in_len >= 4 + len) {
                memcpy(frame, w->in + 4, len);
                memmove(w->in, w->in + 4 + len, w->in_len - 4 - len);
                w->in_len -= 4 + len;
                return len;
            }
        }
        ssize_t n = read(w->fd, w->in + w->in_len, sizeof(w->in) - w->in_len);

        if (n > 0) {
            w->in_len += (size_t)n;
            continue;
        }
        netbe_loop_run_once(loop, 0);
        usleep(100);
    }
    fail_msg("no frame from netbe");
    return 0;
}

static struct net_backend *stream_be(struct netbe_ctx *ctx, struct wire *w)
{
    char str[128];
    int fd;

    stream_pair(w, &fd);
    snprintf(str, sizeof(str), "stream,addr.type=fd,addr.str=%d", fd);
    return init_ok(ctx, str);
}

static uint64_t drops(const struct netbe_counters *c)
{
    return c->drop_link_down + c->drop_no_peer + c->drop_oversize +
           c->drop_queue_full + c->drop_filter + c->drop_malformed +
           c->drop_error + c->drop_purged;
}

/* ---- names ---- */

static void test_no_ctx(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct netbe_error *err = NULL;
    struct net_backend *be = (void *)1;

    netbe_bhyve_set_ctx(NULL);
    tl_capture_start();
    assert_int_equal(netbe_init(&be, "tap0", fe_cb, &fe), EINVAL);
    tl_capture_stop();
    assert_null(be);
    assert_non_null(strstr(tl_msgs.text, "E:no netbe context"));

    be = (void *)1;
    assert_int_equal(netbe_init_ctx(NULL, &be, "tap0", fe_cb, &fe, &err),
                     EINVAL);
    assert_null(be);
    assert_non_null(strstr(netbe_error_msg(err), "netbe_bhyve_set_ctx()"));
    netbe_error_free(err);

    /* a callback needs a loop to run from */
    init_err(ctx, "hubport,hubid=0", EINVAL,
             "the receive callback needs a context with an event loop");
    /* without a callback the frontend polls: no loop needed */
    assert_int_equal(
        netbe_init_ctx(ctx, &be, "hubport,hubid=0", NULL, NULL, NULL), 0);
    assert_int_equal(netbe_peek_recvlen(be), 0);
    netbe_cleanup(be);
    assert_null(netbe_client_first(ctx));
    netbe_ctx_free(ctx);
}

static void test_name_errors(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be = (void *)1;

    init_err(ctx, "netmap:em0", ENOTSUP,
             "netmap backend not available on this system");
    init_err(ctx, "vale0:1", ENOTSUP,
             "netmap backend not available on this system");
    init_err(ctx, "netgraph,path=ng0:,peerhook=lower", ENOTSUP,
             "netgraph backend not available on this system");
    init_err(ctx, "foo0", EINVAL,
             "Parameter 'type' does not accept value "
             "'foo0'");
    init_err(ctx, "", EINVAL, "Parameter 'type' is missing");
    init_err(ctx, "vde,id=u", EINVAL,
             "network backend 'vde' is not compiled into this binary");
    init_err(ctx, "tapnbb9,ifname=x", EINVAL, "Invalid parameter 'ifname'");
    init_err(ctx, "tapnbb9,queues=2", EINVAL, "Invalid parameter 'queues'");
    init_err(ctx, "hubport,id=s,hubid=0,bogus=1", EINVAL,
             "Invalid parameter 'bogus'");
    init_err(ctx, "stream,id=s", EINVAL, "Parameter 'addr' is missing");
    init_err(ctx, "hubport,id=9x", EINVAL,
             "Parameter 'id' expects an identifier");

    /* netbe_init(): the context set before, the error logged */
    netbe_bhyve_set_ctx(ctx);
    tl_capture_start();
    assert_int_equal(netbe_init(&be, "vale1:0", fe_cb, &fe), ENOTSUP);
    tl_capture_stop();
    assert_null(be);
    assert_string_equal(tl_msgs.text,
                        "E:netmap backend not available on this system\n");
    netbe_bhyve_set_ctx(NULL);

    /* a netdev with a peer already, or one that carries no frames */
    assert_int_equal(
        netbe_netdev_add_str(ctx, "hubport,id=h0,hubid=1", true, NULL), 0);
    {
        struct netbe_error *err = NULL;

        assert_int_equal(netbe_init_ctx(ctx, &be,
                                        "hubport,id=h1,hubid=2,netdev=h0",
                                        fe_cb, &fe, &err),
                         EINVAL);
        tl_assert_error(err, NETBE_ERROR_GENERIC,
                        "netdev 'h1' is already in use");
    }
    assert_null(netbe_find_netdev(ctx, "h1"));
    netbe_ctx_free(ctx);
}

/* ---- peek, recv, discard ---- */

static void test_stream_both_ways(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic, *bk;
    uint8_t frame[FRAME_MAX], got[FRAME_MAX];
    struct iovec iov[2];
    struct wire w;
    char *info;

    fe_reset();
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    bk = netbe_bhyve_backend(be);
    assert_int_equal(nic->info->type, NETBE_DRIVER_NIC);
    assert_int_equal(bk->info->type, NETBE_DRIVER_STREAM);
    assert_ptr_equal(nic->peer, bk);
    assert_string_equal(bk->name, "bhyve0");
    assert_true(bk->is_netdev);
    info = tl_info_network(ctx);
    assert_non_null(strstr(info, "bhyve-pull.0: index=0,type=nic,"
                                 "model=bhyve-pull,macaddr=52:54:00:12:34:56"));
    assert_non_null(strstr(info, " \\ bhyve0: index=0,type=stream,"));
    free(info);

    /* receive starts disabled, as bhyve's: frames wait, no callback */
    wire_push(&w, 10);
    RUN_UNTIL(nic->incoming_queue->count >= 1);
    spin(20);
    assert_int_equal(fe.calls, 0);
    netbe_rx_enable(be);
    RUN_UNTIL(fe.n == 10);
    assert_int_equal(fe.bad + fe.others, 0);
    assert_int_equal(nic->stats.rx_frames, 10);
    assert_int_equal(drops(&nic->stats) + drops(&bk->stats), 0);

    /* the send path, in two pieces */
    for (uint32_t i = 0; i < 5; i++) {
        size_t len = put_frame(frame, 100 + i);

        iov[0] = (struct iovec){frame, 20};
        iov[1] = (struct iovec){frame + 20, len - 20};
        assert_int_equal(netbe_send(be, iov, 2), (ssize_t)len);
    }
    for (uint32_t i = 0; i < 5; i++) {
        size_t n = wire_frame(&w, got);

        assert_int_equal(frame_index(got, n), 100 + i);
    }
    assert_int_equal(nic->stats.tx_frames, 5);
    assert_int_equal(netbe_get_vnet_hdr_len(be), 0);
    assert_int_equal(netbe_get_cap(be), 0);
    netbe_cleanup(be);
    assert_null(netbe_client_first(ctx));
    close(w.fd);
    netbe_ctx_free(ctx);
}

static void test_peek_recv_discard(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic;
    uint8_t small[40];
    struct iovec iov;
    struct wire w;
    ssize_t n;

    fe_reset();
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    assert_int_equal(netbe_peek_recvlen(be), 0);
    assert_int_equal(netbe_rx_discard(be), 0);
    iov = (struct iovec){small, sizeof(small)};
    assert_int_equal(netbe_recv(be, &iov, 1), 0);

    wire_push(&w, 6);
    RUN_UNTIL(nic->incoming_queue->count == 6);
    /* peek looks, twice the same, and takes nothing */
    assert_int_equal(netbe_peek_recvlen(be), (ssize_t)frame_len(0));
    assert_int_equal(netbe_peek_recvlen(be), (ssize_t)frame_len(0));
    assert_int_equal(nic->incoming_queue->count, 6);
    assert_int_equal(nic->stats.rx_frames, 0);
    assert_int_equal(drops(&nic->stats), 0);

    /* too small: the frame goes, counted */
    errno = 0;
    assert_int_equal(netbe_recv(be, &iov, 1), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(nic->incoming_queue->count, 5);
    assert_int_equal(nic->stats.drop_error, 1);
    assert_int_equal(nic->stats.rx_frames, 0);

    /* discard: the next one goes, its length said */
    assert_int_equal(netbe_peek_recvlen(be), (ssize_t)frame_len(1));
    assert_int_equal(netbe_rx_discard(be), (ssize_t)frame_len(1));
    assert_int_equal(nic->stats.drop_error, 2);

    /* then recv takes frame 2, exactly, and only it */
    fe.next = 2;
    n = fe_take_one();
    assert_int_equal(n, (ssize_t)frame_len(2));
    assert_int_equal(fe.n, 1);
    assert_int_equal(nic->incoming_queue->count, 3);
    assert_int_equal(nic->stats.rx_frames, 1);
    assert_int_equal(nic->stats.rx_bytes, frame_len(2));
    while (fe_take_one() > 0) {
    }
    assert_int_equal(fe.n, 4);
    assert_int_equal(fe.bad + fe.others, 0);
    assert_int_equal(nic->incoming_queue->count, 0);
    assert_int_equal(netbe_peek_recvlen(be), 0);
    /* the queue is empty and takes frames again at once */
    wire_push(&w, 7);
    RUN_UNTIL(netbe_peek_recvlen(be) == (ssize_t)frame_len(6));
    assert_int_equal(fe.calls, 0); /* never enabled */
    netbe_cleanup(be);
    close(w.fd);
    netbe_ctx_free(ctx);
}

/* ---- the callback ---- */

static void test_level_triggered(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic;
    struct wire w;
    int calls;

    fe_reset();
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    wire_push(&w, 8);
    RUN_UNTIL(nic->incoming_queue->count == 8);

    /* one frame per callback: called again while frames wait */
    fe.take = 1;
    netbe_rx_enable(be);
    RUN_UNTIL(fe.n == 8);
    assert_int_equal(fe.calls, 8);
    spin(10);
    assert_int_equal(fe.calls, 8); /* nothing waits: no more */

    /* a frontend that takes nothing is called again, but slowly */
    fe.take = 0;
    wire_push(&w, 9);
    RUN_UNTIL(fe.calls > 8);
    spin(50);
    calls = fe.calls;
    assert_true(calls > 8 + 3);
    assert_true(calls < 8 + 100);

    /* disabled: no callback, whatever waits */
    netbe_rx_disable(be);
    calls = fe.calls;
    spin(20);
    assert_int_equal(fe.calls, calls);
    /* enabled again: called, and takes what waits */
    fe.take = -1;
    netbe_rx_enable(be);
    RUN_UNTIL(fe.n == 9);
    assert_int_equal(fe.calls, calls + 1);

    /* disabled from inside the callback: not called again */
    fe.disable_in_cb = true;
    fe.take = 1;
    wire_push(&w, 12);
    RUN_UNTIL(fe.calls == calls + 2);
    spin(20);
    assert_int_equal(fe.calls, calls + 2);
    assert_int_equal(fe.n, 10);
    fe.disable_in_cb = false;
    fe.take = -1;
    netbe_rx_enable(be);
    RUN_UNTIL(fe.n == 12);
    assert_int_equal(fe.bad + fe.others, 0);
    netbe_cleanup(be);
    close(w.fd);
    netbe_ctx_free(ctx);
}

/*
 * More frames than a queue may hold while receive is off: the backend
 * stops reading, the sender's socket fills, nothing is dropped; enabled,
 * every frame arrives in order.
 */
static void test_backpressure_stream(void **state)
{
    const uint32_t total = 3 * NETBE_QUEUE_DEFAULT_LIMIT;
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic, *bk;
    struct wire w;
    uint32_t stuck;
    int64_t end;

    fe_reset();
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    bk = netbe_bhyve_backend(be);
    end = now_ms() + 300;
    while (now_ms() < end) {
        wire_push(&w, total);
        netbe_loop_run_once(loop, 0);
    }
    stuck = w.sent;
    /* the sender is held up: its socket is full, netbe reads no more */
    assert_true(stuck < total);
    assert_true(nic->incoming_queue->count > 0);
    assert_true(nic->incoming_queue->count <= stuck);
    spin(20);
    wire_push(&w, total);
    assert_true(w.sent - stuck < 4);
    assert_int_equal(fe.calls, 0);
    assert_int_equal(drops(&nic->stats) + drops(&bk->stats), 0);

    netbe_rx_enable(be);
    end = now_ms() + 10000;
    while (fe.n < (int)total && now_ms() < end && !fe.bad) {
        wire_push(&w, total);
        netbe_loop_run_once(loop, 0);
    }
    assert_int_equal(fe.bad + fe.others, 0);
    assert_int_equal(fe.n, total);
    assert_int_equal(nic->stats.rx_frames, total);
    assert_int_equal(bk->stats.tx_frames, total);
    assert_int_equal(drops(&nic->stats) + drops(&bk->stats), 0);
    netbe_cleanup(be);
    close(w.fd);
    netbe_ctx_free(ctx);
}

/* ---- other backends ---- */

/* A stream server on a unix path, the test's peer connecting to it. */
static void test_stream_unix_path(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    char dir[] = "/tmp/test_bhyve.XXXXXX", path[64], str[256];
    uint8_t got[FRAME_MAX];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct net_backend *be;
    struct iovec iov;
    struct wire w;

    fe_reset();
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s", dir);
    snprintf(str, sizeof(str),
             "stream,id=su,server=on,addr.type=unix,addr.path=%s", path);
    be = init_ok(ctx, str);
    memset(&w, 0, sizeof(w));
    w.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(w.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(fcntl(w.fd, F_SETFL, O_NONBLOCK), 0);
    RUN_UNTIL(!netbe_bhyve_backend(be)->link_down);
    netbe_rx_enable(be);
    wire_push(&w, 25);
    RUN_UNTIL(fe.n == 25);
    assert_int_equal(fe.bad + fe.others, 0);
    iov = (struct iovec){got, put_frame(got, 5)};
    assert_int_equal(netbe_send(be, &iov, 1), (ssize_t)iov.iov_len);
    assert_int_equal(frame_index(got, wire_frame(&w, got)), 5);
    netbe_cleanup(be);
    close(w.fd);
    unlink(path);
    rmdir(dir);
    netbe_ctx_free(ctx);
}

static void test_dgram(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[FRAME_MAX];
    struct net_backend *be;
    struct iovec iov;
    char str[128];
    int sv[2];

    fe_reset();
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    snprintf(str, sizeof(str), "dgram,id=d0,local.type=fd,local.str=%d", sv[0]);
    be = init_ok(ctx, str);
    assert_string_equal(netbe_bhyve_backend(be)->name, "d0");
    netbe_rx_enable(be);
    for (uint32_t i = 0; i < 20; i++) {
        size_t len = put_frame(frame, i);

        assert_int_equal(send(sv[1], frame, len, 0), (ssize_t)len);
    }
    RUN_UNTIL(fe.n == 20);
    assert_int_equal(fe.bad + fe.others, 0);
    iov = (struct iovec){frame, put_frame(frame, 77)};
    assert_int_equal(netbe_send(be, &iov, 1), (ssize_t)iov.iov_len);
    {
        uint8_t got[FRAME_MAX];
        ssize_t n = -1;

        for (int k = 0; k < 5000 && n < 0; k++) {
            netbe_loop_run_once(loop, 0);
            n = recv(sv[1], got, sizeof(got), MSG_DONTWAIT);
        }
        assert_int_equal(frame_index(got, (size_t)n), 77);
    }
    netbe_cleanup(be);
    close(sv[1]);
    netbe_ctx_free(ctx);
}

/* Two pull NICs on one hub: frames between two bhyve frontends. */
static void test_hubport(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *a, *b;
    uint8_t frame[FRAME_MAX];
    struct iovec iov;

    fe_reset();
    b = init_ok(ctx, "hubport,id=hb,hubid=5");
    a = init_ok(ctx, "hubport,hubid=5");
    assert_int_equal(netbe_get_cap(a), 0);
    netbe_rx_enable(b);
    fe.be = b; /* the callback pulls from b */
    for (uint32_t i = 0; i < 30; i++) {
        iov = (struct iovec){frame, put_frame(frame, i)};
        assert_int_equal(netbe_send(a, &iov, 1), (ssize_t)iov.iov_len);
    }
    RUN_UNTIL(fe.n == 30);
    assert_int_equal(fe.bad + fe.others, 0);
    assert_int_equal(netbe_bhyve_nic(b)->stats.rx_frames, 30);
    /* nothing comes back to the sender */
    assert_int_equal(netbe_peek_recvlen(a), 0);
    netbe_cleanup(a);
    netbe_cleanup(b);
    assert_null(netbe_client_first(ctx));
    netbe_ctx_free(ctx);
}

static void test_send_errors(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    static uint8_t big[NETBE_NET_BUFSIZE + 1];
    struct net_backend *be;
    struct netbe_client *nic;
    struct iovec iov[2] = {{big, 100}, {big + 100, sizeof(big) - 100}};

    fe_reset();
    be = init_ok(ctx, "hubport,hubid=6");
    nic = netbe_bhyve_nic(be);
    errno = 0;
    assert_int_equal(netbe_send(be, iov, 2), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(nic->stats.drop_oversize, 1);
    /* alone on its hub: gone, and counted at the hub */
    iov[1].iov_len = 100;
    assert_int_equal(netbe_send(be, iov, 2), 200);
    assert_int_equal(nic->stats.tx_frames, 1);
    netbe_cleanup(be);
    netbe_ctx_free(ctx);
}

/* ---- vnet headers ---- */

static void test_set_cap_plain(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic;
    struct wire w;
    uint8_t frame[FRAME_MAX], got[FRAME_MAX];
    struct iovec iov[2];

    fe_reset();
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    assert_int_equal(netbe_get_cap(be), 0);
    assert_int_equal(netbe_set_cap(be, 0, 11), -1);
    assert_int_equal(netbe_set_cap(be, 0, 13), -1);
    assert_int_equal(netbe_set_cap(be, 0, 20), -1);
    /* no offloads without headers */
    assert_int_equal(netbe_set_cap(be, NETBE_VIRTIO_NET_F_CSUM, 12), -1);
    assert_int_equal(netbe_set_cap(be, NETBE_VIRTIO_NET_F_GUEST_TSO4, 10), -1);
    /* the frontend's own bits are fine; it adds its own header */
    for (int k = 0; k < 4; k++) {
        static const unsigned lens[] = {12, 10, 0, 12};

        assert_int_equal(
            netbe_set_cap(be,
                          NETBE_VIRTIO_NET_F_MAC | NETBE_VIRTIO_NET_F_MRG_RXBUF,
                          lens[k]),
            0);
        assert_int_equal(netbe_get_vnet_hdr_len(be), 0);
        assert_int_equal(nic->vnet_hdr_len, 0);
    }
    /* frames stay plain both ways */
    netbe_rx_enable(be);
    wire_push(&w, 3);
    RUN_UNTIL(fe.n == 3);
    iov[0] = (struct iovec){frame, put_frame(frame, 50)};
    assert_int_equal(netbe_send(be, iov, 1), (ssize_t)iov[0].iov_len);
    assert_int_equal(frame_index(got, wire_frame(&w, got)), 50);
    assert_int_equal(drops(&nic->stats), 0);
    netbe_cleanup(be);
    close(w.fd);
    netbe_ctx_free(ctx);
}

/* ---- cleanup ---- */

static void test_cleanup_waiting(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic;
    struct wire w;

    fe_reset();
    netbe_cleanup(NULL);
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    wire_push(&w, 50);
    RUN_UNTIL(nic->incoming_queue->count == 50);
    assert_true(ctx->queued_bytes > 0);
    netbe_rx_enable(be);
    netbe_cleanup(be);
    /* every buffer went back; the callback never runs on freed memory */
    assert_int_equal(ctx->queued_bytes, 0);
    assert_null(netbe_client_first(ctx));
    spin(10);
    assert_int_equal(fe.calls, 0);
    close(w.fd);
    netbe_ctx_free(ctx);
}

static void test_cleanup_in_callback(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct wire w;

    fe_reset();
    be = stream_be(ctx, &w);
    fe.cleanup_in_cb = true;
    netbe_rx_enable(be);
    wire_push(&w, 20);
    RUN_UNTIL(fe.calls == 1);
    assert_null(fe.be);
    spin(10);
    assert_int_equal(fe.calls, 1);
    assert_null(netbe_client_first(ctx));
    assert_int_equal(ctx->queued_bytes, 0);
    close(w.fd);
    netbe_ctx_free(ctx);
}

/* The netdev deleted under the frontend (QMP netdev_del), then the ctx. */
static void test_backend_deleted(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct net_backend *be;
    struct netbe_client *nic;
    uint8_t frame[FRAME_MAX];
    struct iovec iov = {frame, 0};
    struct wire w;

    fe_reset();
    be = stream_be(ctx, &w);
    nic = netbe_bhyve_nic(be);
    assert_int_equal(netbe_netdev_del(ctx, "bhyve0", NULL), 0);
    assert_true(nic->link_down);
    iov.iov_len = put_frame(frame, 1);
    assert_int_equal(netbe_send(be, &iov, 1), (ssize_t)iov.iov_len);
    assert_int_equal(nic->stats.drop_link_down, 1);
    assert_int_equal(netbe_peek_recvlen(be), 0);
    netbe_cleanup(be);
    assert_null(netbe_client_first(ctx));
    close(w.fd);

    /* the context freed first: the handle is inert, cleanup frees it */
    be = stream_be(ctx, &w);
    netbe_rx_enable(be);
    netbe_ctx_free(ctx);
    assert_null(netbe_bhyve_nic(be));
    assert_int_equal(netbe_peek_recvlen(be), 0);
    assert_int_equal(netbe_send(be, &iov, 1), -1);
    assert_int_equal(netbe_set_cap(be, 0, 0), -1);
    netbe_cleanup(be);
    close(w.fd);
}

static void tap_wire_send(int s, uint32_t i)
{
    uint8_t frame[FRAME_MAX];
    size_t len = put_frame(frame, i);

    assert_int_equal(send(s, frame, len, 0), (ssize_t)len);
}

/* The index of the next test frame netbe wrote to the tap, or -1. */
static long tap_wire_recv(int s, size_t *len)
{
    uint8_t buf[FRAME_MAX];

    for (int k = 0; k < 5000; k++) {
        struct sockaddr_ll from;
        socklen_t flen = sizeof(from);
        ssize_t n =
            recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

        if (n >= 14 && from.sll_pkttype != PACKET_OUTGOING &&
            buf[12] == (TEST_ETHERTYPE >> 8)) {
            *len = (size_t)n;
            return frame_index(buf, (size_t)n);
        }
        if (n < 0) {
            netbe_loop_run_once(loop, 0);
            usleep(200);
        }
    }
    return -1;
}

/* Return: the interface's index, 0 when there is none. */
static int ifindex(const char *ifname)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM, 0), r;

    assert_true(s >= 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    r = ioctl(s, SIOCGIFINDEX, &ifr);
    close(s);
    return r == 0 ? ifr.ifr_ifindex : 0;
}

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

#define SKIP_WITHOUT_NETNS()                                                   \
    do {                                                                       \
        if (!have_netns) {                                                     \
            skip();                                                            \
        }                                                                      \
    } while (0)

static void test_tap_names(void **state)
{
    struct netbe_ctx *ctx;
    struct net_backend *be;
    struct netbe_client *bk;

    SKIP_WITHOUT_NETNS();
    ctx = netbe_ctx_new(loop);
    fe_reset();
    /* bhyve's name is the interface's; the frontend's keys are ignored */
    be = init_ok(ctx, "tapnbb0,mac=52:54:00:aa:bb:cc,mtu=1500");
    bk = netbe_bhyve_backend(be);
    assert_int_equal(bk->info->type, NETBE_DRIVER_TAP);
    assert_string_equal(bk->info_str, "ifname=tapnbb0,script=no,downscript=no");
    assert_true(ifindex("tapnbb0") > 0);
    assert_int_equal(
        netbe_get_cap(be),
        NETBE_VIRTIO_NET_F_CSUM | NETBE_VIRTIO_NET_F_GUEST_CSUM |
            NETBE_VIRTIO_NET_F_GUEST_TSO4 | NETBE_VIRTIO_NET_F_GUEST_TSO6 |
            NETBE_VIRTIO_NET_F_GUEST_ECN | NETBE_VIRTIO_NET_F_HOST_TSO4 |
            NETBE_VIRTIO_NET_F_HOST_TSO6 | NETBE_VIRTIO_NET_F_HOST_ECN);
    netbe_cleanup(be);
    assert_int_equal(ifindex("tapnbb0"), 0);

    /* vmnet is tap by another name; the tap's keys pass */
    be = init_ok(ctx, "vmnetnbb0,vnet_hdr=off,sndbuf=1M");
    assert_true(ifindex("vmnetnbb0") > 0);
    assert_int_equal(netbe_get_cap(be), 0);
    netbe_cleanup(be);

    /* a -netdev tap string */
    be = init_ok(ctx, "tap,id=t9,ifname=tapnbb1,script=no,downscript=no");
    assert_string_equal(netbe_bhyve_backend(be)->name, "t9");
    assert_true(ifindex("tapnbb1") > 0);
    netbe_cleanup(be);
    /* one queue only */
    {
        /* refused before anything was made: its script never ran */
        char dir[] = "/tmp/netbe-bhyve-XXXXXX", script[64], marker[64];
        char str[256];
        FILE *f;

        assert_non_null(mkdtemp(dir));
        snprintf(script, sizeof(script), "%s/ifup", dir);
        snprintf(marker, sizeof(marker), "%s/ran", dir);
        f = fopen(script, "w");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\ntouch %s\n", marker);
        fclose(f);
        assert_int_equal(chmod(script, 0755), 0);
        snprintf(str, sizeof(str),
                 "tap,id=t8,ifname=tapnbb2,script=%s,downscript=no,queues=2",
                 script);
        init_err(ctx, str, EINVAL,
                 "netdev 't8': the bhyve API takes one queue");
        assert_int_equal(access(marker, F_OK), -1);
        unlink(script);
        rmdir(dir);
    }
    init_err(ctx, "tap,id=t7,fds=3:4", EINVAL,
             "netdev 't7': the bhyve API takes one queue");
    netbe_ctx_free(ctx);
}

/* Frames from the wire to the frontend and back with header @len. */
static void tap_both_ways(const char *name, unsigned len, uint64_t features)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    uint8_t frame[FRAME_MAX + 12];
    struct net_backend *be;
    struct netbe_client *nic;
    struct iovec iov[2];
    size_t got;
    int s;

    fe_reset();
    be = init_ok(ctx, name);
    nic = netbe_bhyve_nic(be);
    assert_int_equal(netbe_set_cap(be, features, len), 0);
    assert_int_equal(netbe_get_vnet_hdr_len(be), len);
    assert_int_equal(nic->vnet_hdr_len, (int)len);
    assert_int_equal(netbe_bhyve_backend(be)->vnet_hdr_len, (int)len);
    fe.hdr = len;
    s = tapwire_open(name);
    netbe_rx_enable(be);
    for (uint32_t i = 0; i < 10; i++) {
        tap_wire_send(s, i);
    }
    RUN_UNTIL(fe.n == 10);
    assert_int_equal(fe.bad, 0);

    /* a raw frame (no header) gets a zero one for the frontend */
    {
        size_t flen = put_frame(frame, 10);

        /* 0: it waits at the pull NIC, as every frame for it */
        assert_int_equal(
            netbe_send_packet_raw(netbe_bhyve_backend(be), frame, flen), 0);
        RUN_UNTIL(fe.n == 11);
        assert_int_equal(fe.bad, 0);
    }

    /* a zero header in front when one is used */
    memset(frame, 0, len);
    iov[0] = (struct iovec){frame, len};
    iov[1] = (struct iovec){frame + len, put_frame(frame + len, 33)};
    assert_int_equal(netbe_send(be, iov, 2), (ssize_t)(len + iov[1].iov_len));
    assert_int_equal(tap_wire_recv(s, &got), 33);
    assert_int_equal(got, frame_len(33));
    assert_int_equal(drops(&nic->stats), 0);
    close(s);
    netbe_cleanup(be);
    netbe_ctx_free(ctx);
}

static void test_tap_hdr_0(void **state)
{
    SKIP_WITHOUT_NETNS();
    tap_both_ways("tapnbb3", 0, 0);
}

static void test_tap_hdr_10(void **state)
{
    SKIP_WITHOUT_NETNS();
    tap_both_ways("tapnbb4", 10, NETBE_VIRTIO_NET_F_CSUM);
}

static void test_tap_hdr_12(void **state)
{
    SKIP_WITHOUT_NETNS();
    tap_both_ways("tapnbb5", 12,
                  NETBE_VIRTIO_NET_F_MRG_RXBUF | NETBE_VIRTIO_NET_F_GUEST_CSUM |
                      NETBE_VIRTIO_NET_F_GUEST_TSO4);
}

/* Renegotiation: offloads on and off, header length to and fro. */
static void test_tap_renegotiate(void **state)
{
    struct netbe_ctx *ctx;
    struct net_backend *be;
    struct netbe_client *nic, *bk;
    int s;

    SKIP_WITHOUT_NETNS();
    ctx = netbe_ctx_new(loop);
    fe_reset();
    be = init_ok(ctx, "tapnbb6");
    nic = netbe_bhyve_nic(be);
    bk = netbe_bhyve_backend(be);
    s = tapwire_open("tapnbb6");
    assert_false(tso_on("tapnbb6"));
    assert_int_equal(netbe_set_cap(be, 0, 11), -1);
    assert_int_equal(netbe_set_cap(be, NETBE_VIRTIO_NET_F_GUEST_UFO, 12), -1);
    assert_int_equal(netbe_set_cap(be,
                                   NETBE_VIRTIO_NET_F_GUEST_CSUM |
                                       NETBE_VIRTIO_NET_F_GUEST_TSO4 |
                                       NETBE_VIRTIO_NET_F_GUEST_TSO6,
                                   12),
                     0);
    assert_true(tso_on("tapnbb6"));
    assert_true(nic->offloads.tso4 && nic->offloads.csum);
    assert_true(bk->offloads.tso6);

    /* frames of the 12-byte form wait; a guest reset asks for plain */
    tap_wire_send(s, 0);
    tap_wire_send(s, 1);
    RUN_UNTIL(nic->incoming_queue->count >= 1);
    assert_int_equal(netbe_peek_recvlen(be), (ssize_t)(12 + frame_len(0)));
    assert_int_equal(netbe_set_cap(be, NETBE_VIRTIO_NET_F_MAC, 0), 0);
    assert_false(tso_on("tapnbb6"));
    assert_int_equal(nic->vnet_hdr_len, 0);
    assert_int_equal(bk->vnet_hdr_len, 0);
    /* both were read in one batch and waited in the old form: purged */
    RUN_UNTIL(nic->stats.drop_purged >= 2);
    assert_int_equal(nic->incoming_queue->count, 0);
    /* the next ones come plain */
    fe.next = 2;
    netbe_rx_enable(be);
    tap_wire_send(s, 2);
    tap_wire_send(s, 3);
    RUN_UNTIL(fe.n == 2);
    assert_int_equal(fe.bad, 0);
    /* and to 10 again */
    assert_int_equal(netbe_set_cap(be, 0, 10), 0);
    assert_int_equal(nic->vnet_hdr_len, 10);
    assert_int_equal(bk->vnet_hdr_len, 10);
    assert_false(tso_on("tapnbb6"));
    close(s);
    netbe_cleanup(be);
    netbe_ctx_free(ctx);
}

static void test_tap_backpressure(void **state)
{
    struct netbe_ctx *ctx;
    struct net_backend *be;
    struct netbe_client *nic, *bk;
    int s;

    SKIP_WITHOUT_NETNS();
    ctx = netbe_ctx_new(loop);
    fe_reset();
    be = init_ok(ctx, "tapnbb7");
    nic = netbe_bhyve_nic(be);
    bk = netbe_bhyve_backend(be);
    s = tapwire_open("tapnbb7");
    spin(20);
    /* the interface's own frames, if any, out of the way */
    while (netbe_rx_discard(be) > 0) {
    }
    for (uint32_t i = 0; i < 200; i++) {
        tap_wire_send(s, i);
    }
    spin(50);
    /* one batch waits at the pull NIC, the rest in the kernel */
    assert_int_equal(nic->incoming_queue->count, 64);
    assert_int_equal(fe.calls, 0);
    netbe_rx_enable(be);
    RUN_UNTIL(fe.n == 200);
    assert_int_equal(fe.bad, 0);
    assert_int_equal(drops(&nic->stats) + drops(&bk->stats), 0);
    close(s);
    netbe_cleanup(be);
    netbe_ctx_free(ctx);
}

static int setup(void **state)
{
    /* a namespace of our own: taps made here are seen nowhere else */
    if (unshare(CLONE_NEWNET) == 0) {
        have_netns = true;
    } else {
        fprintf(stderr,
                "test_bhyve: unshare(CLONE_NEWNET): %s: tap tests "
                "skipped (run as root)\n",
                strerror(errno));
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
        cmocka_unit_test(test_no_ctx),
        cmocka_unit_test(test_name_errors),
        cmocka_unit_test(test_stream_both_ways),
        cmocka_unit_test(test_peek_recv_discard),
        cmocka_unit_test(test_level_triggered),
        cmocka_unit_test(test_backpressure_stream),
        cmocka_unit_test(test_stream_unix_path),
        cmocka_unit_test(test_dgram),
        cmocka_unit_test(test_hubport),
        cmocka_unit_test(test_send_errors),
        cmocka_unit_test(test_set_cap_plain),
        cmocka_unit_test(test_cleanup_waiting),
        cmocka_unit_test(test_cleanup_in_callback),
        cmocka_unit_test(test_backend_deleted),
        cmocka_unit_test(test_tap_names),
        cmocka_unit_test(test_tap_hdr_0),
        cmocka_unit_test(test_tap_hdr_10),
        cmocka_unit_test(test_tap_hdr_12),
        cmocka_unit_test(test_tap_renegotiate),
        cmocka_unit_test(test_tap_backpressure),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
