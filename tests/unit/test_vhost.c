/*
 * test_vhost.c - the vhost-user-net device against a front-end written
 * here: guest memory in a memfd, split rings laid out by hand, messages
 * over the device's unix socket.  Frames cross both ways between the
 * rings and a test client on the same hub; then hostile front-ends
 * (descriptors outside memory, loops, huge lengths, bad indices, bad
 * messages) must reset their own device only, under ASan.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/vu_proto.h"
#include "netbe/device.h"
#include "netbe/loop.h"
#include "testlib.h"

#define MEMSZ (1u << 20)
#define GPA 0x100000ull
#define UVA 0x7f0000000000ull
#define NUM 8
#define RING(i) (0x3000u * (i)) /* desc, +0x1000 avail, +0x2000 used */
#define BUF(i) (0x10000u + 0x1000u * (i))

struct fe {
    int sock, memfd;
    uint8_t *mem;
    int kick[4], call[4]; /* up to two queue pairs */
    uint16_t avail_idx[4];
};

struct fx {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct tl_client *peer;
    char path[108];
};

static struct fx *F;

static void pump(int n)
{
    for (int i = 0; i < n; i++) {
        netbe_loop_run_once(F->loop, 0);
    }
}

static int fe_send(struct fe *fe, uint32_t req, uint32_t flags,
                   const void *payload, uint32_t size, const int *fds, int nfds)
{
    uint8_t buf[VU_HDR_SIZE + 512];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int) * 16)];
    } cb;
    struct iovec v = {buf, VU_HDR_SIZE + size};
    struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
    uint32_t f = flags | VU_VERSION;

    memcpy(buf, &req, 4);
    memcpy(buf + 4, &f, 4);
    memcpy(buf + 8, &size, 4);
    if (size) {
        memcpy(buf + VU_HDR_SIZE, payload, size);
    }
    if (nfds) {
        struct cmsghdr *c;

        mh.msg_control = cb.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(fe->sock, &mh, MSG_NOSIGNAL) == (ssize_t)v.iov_len ? 0 : -1;
}

static void fe_u64(struct fe *fe, uint32_t req, uint64_t v)
{
    assert_int_equal(fe_send(fe, req, 0, &v, 8, NULL, 0), 0);
}

static void fe_state(struct fe *fe, uint32_t req, uint32_t idx, uint32_t num)
{
    uint32_t st[2] = {idx, num};

    assert_int_equal(fe_send(fe, req, 0, st, 8, NULL, 0), 0);
}

/* Pump the loop until a reply (or the end of the connection) comes. */
static ssize_t fe_reply(struct fe *fe, uint8_t *buf, size_t len)
{
    for (int i = 0; i < 2000; i++) {
        ssize_t n = recv(fe->sock, buf, len, MSG_DONTWAIT);

        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return n;
        }
        pump(1);
        usleep(100);
    }
    return -1;
}

static uint64_t fe_get_u64(struct fe *fe, uint32_t req)
{
    uint8_t buf[64];
    uint64_t v;

    assert_int_equal(fe_send(fe, req, 0, NULL, 0, NULL, 0), 0);
    assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE + 8);
    memcpy(&v, buf + VU_HDR_SIZE, 8);
    return v;
}

/* Whether the device closed this connection. */
static bool fe_closed(struct fe *fe)
{
    uint8_t buf[64];

    for (int i = 0; i < 200; i++) {
        ssize_t n;

        pump(1);
        n = recv(fe->sock, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
        usleep(200);
    }
    return false;
}

static struct fe *fe_connect_to(const char *path)
{
    struct fe *fe = calloc(1, sizeof(*fe));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    strcpy(sun.sun_path, path);
    fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fe->sock, (struct sockaddr *)&sun, sizeof(sun)),
                     0);
    fe->memfd = memfd_create("guest", MFD_CLOEXEC);
    assert_int_equal(ftruncate(fe->memfd, MEMSZ), 0);
    fe->mem =
        mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
    assert_true(fe->mem != MAP_FAILED);
    for (int i = 0; i < 4; i++) {
        fe->kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        fe->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    }
    pump(5);
    return fe;
}

static struct fe *fe_connect(void)
{
    return fe_connect_to(F->path);
}

static void fe_free(struct fe *fe)
{
    close(fe->sock);
    close(fe->memfd);
    munmap(fe->mem, MEMSZ);
    for (int i = 0; i < 4; i++) {
        close(fe->kick[i]);
        close(fe->call[i]);
    }
    free(fe);
    pump(20);
}

static void fe_mem_table(struct fe *fe)
{
    uint64_t p[5] = {1, GPA, MEMSZ, UVA, 0};

    assert_int_equal(
        fe_send(fe, VU_SET_MEM_TABLE, 0, p, sizeof(p), &fe->memfd, 1), 0);
}

/* The start QEMU makes, without protocol features: rings run at kick. */
static void fe_start_rings(struct fe *fe, uint64_t features, uint32_t nrings)
{
    uint64_t offered = fe_get_u64(fe, VU_GET_FEATURES);

    assert_true(offered & VU_BIT(VIRTIO_F_VERSION_1));
    assert_true(offered & VU_BIT(VIRTIO_NET_F_MRG_RXBUF));
    assert_int_equal(fe_send(fe, VU_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
    fe_u64(fe, VU_SET_FEATURES, features);
    fe_mem_table(fe);
    for (uint32_t i = 0; i < nrings; i++) {
        uint64_t a[5];
        uint32_t *a32 = (uint32_t *)a;

        fe_state(fe, VU_SET_VRING_NUM, i, NUM);
        a32[0] = i;
        a32[1] = 0;
        a[1] = UVA + RING(i);          /* desc */
        a[2] = UVA + RING(i) + 0x2000; /* used */
        a[3] = UVA + RING(i) + 0x1000; /* avail */
        a[4] = 0;
        assert_int_equal(
            fe_send(fe, VU_SET_VRING_ADDR, 0, a, sizeof(a), NULL, 0), 0);
        fe_state(fe, VU_SET_VRING_BASE, i, 0);
        assert_int_equal(fe_send(fe, VU_SET_VRING_CALL, 0, &(uint64_t){i}, 8,
                                 &fe->call[i], 1),
                         0);
        assert_int_equal(fe_send(fe, VU_SET_VRING_KICK, 0, &(uint64_t){i}, 8,
                                 &fe->kick[i], 1),
                         0);
    }
    pump(50);
}

static void fe_start(struct fe *fe, uint64_t features)
{
    fe_start_rings(fe, features, 2);
}

static uint8_t *ring(struct fe *fe, int q, unsigned off)
{
    return fe->mem + RING(q) + off;
}

static void put_desc(struct fe *fe, int q, int i, uint64_t gpa, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *d = ring(fe, q, 16 * (unsigned)i);

    memcpy(d, &gpa, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Offer chain @head on ring @q and kick. */
static void offer(struct fe *fe, int q, uint16_t head)
{
    uint16_t *avail = (uint16_t *)ring(fe, q, 0x1000);
    uint64_t one = 1;

    avail[2 + fe->avail_idx[q] % NUM] = head;
    __atomic_store_n(&avail[1], ++fe->avail_idx[q], __ATOMIC_RELEASE);
    assert_int_equal(write(fe->kick[q], &one, 8), 8);
}

static uint16_t used_idx(struct fe *fe, int q)
{
    return __atomic_load_n((uint16_t *)ring(fe, q, 0x2002), __ATOMIC_ACQUIRE);
}

static void used_elem(struct fe *fe, int q, int i, uint32_t *id, uint32_t *len)
{
    uint8_t *e = ring(fe, q, 0x2004 + 8 * (unsigned)(i % NUM));

    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

static int count_vu_nics(void)
{
    struct netbe_client *ncs[16];

    return netbe_find_clients_except(F->ctx, NULL, ncs, NETBE_DRIVER_NONE, 16) -
           /* the listener, the peer and the hub ports are the rest */
           0;
}

static int nics_named_vu(void)
{
    int n = 0;

    for (struct netbe_client *nc = netbe_client_first(F->ctx); nc;
         nc = netbe_client_next(nc)) {
        if (nc->info->type == NETBE_DRIVER_NIC &&
            !strncmp(nc->name, "vu.", 3)) {
            n++;
        }
    }
    return n;
}

/* -device @spec (printf-style) on the fixture's graph. Return: its result. */
static int device_add(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int device_add(const char *fmt, ...)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o;
    char spec[256];
    va_list ap;
    int r;

    va_start(ap, fmt);
    vsnprintf(spec, sizeof(spec), fmt, ap);
    va_end(ap);
    o = netbe_opts_parse(spec, "driver", &err);
    assert_non_null(o);
    r = netbe_device_add(F->ctx, o, &err);
    netbe_error_free(err);
    netbe_opts_free(o);
    return r;
}

/* A new graph with netdev "nd" (a test client) and vu on it (netdev=). */
static struct tl_client *netdev_mode_graph(void)
{
    struct tl_client *nd;

    netbe_ctx_free(F->ctx);
    F->ctx = netbe_ctx_new(F->loop);
    nd = tl_backend(F->ctx, "nd", NULL);
    assert_int_equal(
        device_add("vhost-user-net,id=vu,path=%s,netdev=nd", F->path), 0);
    return nd;
}

/* Pump until @c has @n frames (or give up). */
static void wait_frames(struct tl_client *c, int n)
{
    for (int i = 0; i < 200 && c->nframes < n; i++) {
        pump(1);
    }
}

static const uint64_t FEATURES =
    VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF) |
    VU_BIT(VIRTIO_RING_F_EVENT_IDX) | VU_BIT(VIRTIO_RING_F_INDIRECT_DESC);

static int setup(void **state)
{
    F = calloc(1, sizeof(*F));
    F->loop = netbe_loop_default();
    F->ctx = netbe_ctx_new(F->loop);
    snprintf(F->path, sizeof(F->path), "/tmp/netbe-test-vhost-%d.sock",
             (int)getpid());
    assert_int_equal(
        device_add("vhost-user-net,id=vu,path=%s,hubid=0", F->path), 0);
    F->peer = tl_backend(F->ctx, "peer", NULL);
    netbe_hub_add_port(F->ctx, 0, NULL, &F->peer->nc);
    tl_reset();
    (void)count_vu_nics;
    return 0;
}

static int teardown(void **state)
{
    netbe_ctx_free(F->ctx);
    pump(5);
    free(F);
    return 0;
}

/* A guest's frame (12-byte header + 60 bytes) reaches the hub's peer. */
static void test_tx(void **state)
{
    struct fe *fe = fe_connect();
    uint8_t frame[72] = {0};
    uint32_t id, len;

    fe_start(fe, FEATURES);
    assert_int_equal(nics_named_vu(), 1);
    memset(frame + 12, 0xff, 6); /* broadcast */
    frame[18] = 0x52;
    frame[24] = 0x08;
    memcpy(fe->mem + BUF(0), frame, sizeof(frame));
    put_desc(fe, 1, 0, GPA + BUF(0), 12, 0, 0);
    put_desc(fe, 1, 0, GPA + BUF(0), 12, VRING_DESC_F_NEXT, 1);
    put_desc(fe, 1, 1, GPA + BUF(0) + 12, 60, 0, 0);
    offer(fe, 1, 0);
    wait_frames(F->peer, 1);
    assert_int_equal(F->peer->nframes, 1);
    assert_int_equal(F->peer->frames[0].len, 60); /* plain on the peer */
    assert_int_equal(used_idx(fe, 1), 1);
    used_elem(fe, 1, 0, &id, &len);
    assert_int_equal(id, 0);
    fe_free(fe);
    assert_int_equal(nics_named_vu(), 0);
}

/* A frame for the guest lands in its buffer behind a 12-byte header. */
static void test_rx(void **state)
{
    struct fe *fe = fe_connect();
    uint8_t frame[60], got[72];
    uint32_t id, len;
    uint16_t nb;
    uint64_t calls = 0;

    fe_start(fe, FEATURES);
    put_desc(fe, 0, 0, GPA + BUF(1), 2048, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 0);
    pump(10);
    memset(frame, 0xff, 6);
    for (int i = 6; i < 60; i++) {
        frame[i] = (uint8_t)i;
    }
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 1);
    used_elem(fe, 0, 0, &id, &len);
    assert_int_equal(id, 0);
    assert_int_equal(len, 72);
    memcpy(got, fe->mem + BUF(1), sizeof(got));
    memcpy(&nb, got + 10, 2);
    assert_int_equal(nb, 1);
    assert_memory_equal(got + 12, frame, sizeof(frame));
    assert_int_equal(read(fe->call[0], &calls, 8), 8);

    /* no buffer: the frame waits, and goes when one comes */
    /* the hub took it for the port; the port's queue holds it */
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 1);
    put_desc(fe, 0, 1, GPA + BUF(2), 40, VRING_DESC_F_WRITE, 0);
    put_desc(fe, 0, 2, GPA + BUF(3), 40, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 1);
    offer(fe, 0, 2);
    for (int i = 0; i < 100 && used_idx(fe, 0) != 3; i++) {
        pump(1);
    }
    /* mergeable: 72 bytes in two 40-byte buffers */
    assert_int_equal(used_idx(fe, 0), 3);
    used_elem(fe, 0, 1, &id, &len);
    assert_int_equal(len, 40);
    used_elem(fe, 0, 2, &id, &len);
    assert_int_equal(len, 32);
    memcpy(&nb, fe->mem + BUF(2) + 10, 2);
    assert_int_equal(nb, 2);
    fe_free(fe);
}

static uint16_t used_flags(struct fe *fe, int q)
{
    return __atomic_load_n((uint16_t *)ring(fe, q, 0x2000), __ATOMIC_ACQUIRE);
}

/*
 * Without EVENT_IDX (DPDK's virtio PMD) kicks are suppressed with
 * VRING_USED_F_NO_NOTIFY while netbe takes chains, and asked for again
 * whenever it waits for one: a flag left set while it waits would stall
 * the ring for good.
 */
static void test_no_notify(void **state)
{
    struct fe *fe = fe_connect();
    uint8_t frame[60];
    uint16_t *avail = (uint16_t *)ring(fe, 0, 0x1000);

    /* as an earlier back-end may have left it */
    *(uint16_t *)ring(fe, 1, 0x2000) = VRING_USED_F_NO_NOTIFY;
    fe_start(fe, FEATURES & ~VU_BIT(VIRTIO_RING_F_EVENT_IDX));
    /* the TX ring was looked at when it started, and waits for a kick */
    assert_int_equal(used_flags(fe, 1), 0);
    memset(frame, 0xff, 6);
    memset(frame + 6, 0x52, 54);
    memcpy(fe->mem + BUF(0), (uint8_t[12]){0}, 12);
    memcpy(fe->mem + BUF(0) + 12, frame, sizeof(frame));
    put_desc(fe, 1, 0, GPA + BUF(0), 72, 0, 0);
    offer(fe, 1, 0);
    for (int i = 0; i < 200 && F->peer->nframes < 1; i++) {
        pump(1);
    }
    assert_int_equal(F->peer->nframes, 1);
    assert_int_equal(used_idx(fe, 1), 1);
    /* drained: kicks are on again */
    assert_int_equal(used_flags(fe, 1), 0);

    /* RX: the first buffer taken turns kicks off, before any wait */
    put_desc(fe, 0, 0, GPA + BUF(1), 2048, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 0);
    pump(5);
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 1);
    assert_int_equal(used_flags(fe, 0), VRING_USED_F_NO_NOTIFY);
    /* a frame with no buffer waits, with kicks on */
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_flags(fe, 0), 0);
    put_desc(fe, 0, 1, GPA + BUF(2), 2048, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 1);
    for (int i = 0; i < 100 && used_idx(fe, 0) != 2; i++) {
        pump(1);
    }
    assert_int_equal(used_idx(fe, 0), 2);
    /* it took a buffer and waits for nothing: no kicks wanted */
    assert_int_equal(used_flags(fe, 0), VRING_USED_F_NO_NOTIFY);
    /* a buffer offered without a kick, as the flag allows, is used */
    put_desc(fe, 0, 2, GPA + BUF(3), 2048, VRING_DESC_F_WRITE, 0);
    avail[2 + fe->avail_idx[0] % NUM] = 2;
    __atomic_store_n(&avail[1], ++fe->avail_idx[0], __ATOMIC_RELEASE);
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 3);
    assert_memory_equal(fe->mem + BUF(3) + 12, frame, sizeof(frame));
    fe_free(fe);
}

/*
 * poll-us: after a chain, the TX ring is polled with kicks off, so a
 * chain offered without a kick still goes; once the ring was idle for
 * poll-us, kicks are asked for again.
 */
static void test_poll_us(void **state)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o;
    char spec[256], path[120];
    uint16_t *avail;
    struct fe *fe;
    uint8_t frame[72] = {0};

    snprintf(path, sizeof(path), "%s.poll", F->path);
    snprintf(spec, sizeof(spec),
             "vhost-user-net,id=vp,path=%s,hubid=0,poll-us=200000", path);
    o = netbe_opts_parse(spec, "driver", &err);
    assert_int_equal(netbe_device_add(F->ctx, o, &err), 0);
    netbe_opts_free(o);
    fe = fe_connect_to(path);
    avail = (uint16_t *)ring(fe, 1, 0x1000);
    fe_start(fe, FEATURES & ~VU_BIT(VIRTIO_RING_F_EVENT_IDX));
    memset(frame + 12, 0xff, 6);
    memcpy(fe->mem + BUF(0), frame, sizeof(frame));
    put_desc(fe, 1, 0, GPA + BUF(0), sizeof(frame), 0, 0);
    put_desc(fe, 1, 1, GPA + BUF(0), sizeof(frame), 0, 0);
    offer(fe, 1, 0);
    for (int i = 0; i < 200 && F->peer->nframes < 1; i++) {
        pump(1);
    }
    assert_int_equal(F->peer->nframes, 1);
    /* polled: kicks stay off, and a chain without a kick goes */
    assert_int_equal(used_flags(fe, 1), VRING_USED_F_NO_NOTIFY);
    avail[2 + fe->avail_idx[1] % NUM] = 1;
    __atomic_store_n(&avail[1], ++fe->avail_idx[1], __ATOMIC_RELEASE);
    for (int i = 0; i < 200 && F->peer->nframes < 2; i++) {
        pump(1);
    }
    assert_int_equal(F->peer->nframes, 2);
    assert_int_equal(used_idx(fe, 1), 2);
    /* while it polls, the loop still serves the sockets at once */
    {
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_true(fe_get_u64(fe, VU_GET_FEATURES) &
                    VU_BIT(VIRTIO_F_VERSION_1));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
                        (t1.tv_nsec - t0.tv_nsec) / 1000000 <
                    100);
        assert_int_equal(used_flags(fe, 1), VRING_USED_F_NO_NOTIFY);
    }
    /* idle for longer than poll-us: kicks on, and netbe sleeps */
    for (int i = 0; i < 2000 && used_flags(fe, 1); i++) {
        pump(1);
        usleep(1000);
    }
    assert_int_equal(used_flags(fe, 1), 0);
    fe_free(fe);
}

/* Each hostile ring resets its own device; a good one next to it lives. */
enum hostile {
    H_OUTSIDE,
    H_LOOP,
    H_HUGE,
    H_BAD_HEAD,
    H_AVAIL_AHEAD,
    H_INDIRECT_LEN,
    H_INDIRECT_NESTED,
    H_WRONG_DIRECTION,
    H__MAX,
};

static void hostile_tx(struct fe *fe, enum hostile h)
{
    uint16_t *avail = (uint16_t *)ring(fe, 1, 0x1000);
    uint64_t one = 1;

    switch (h) {
    case H_OUTSIDE:
        put_desc(fe, 1, 0, GPA + MEMSZ - 8, 64, 0, 0);
        break;
    case H_LOOP:
        put_desc(fe, 1, 0, GPA + BUF(0), 12, VRING_DESC_F_NEXT, 1);
        put_desc(fe, 1, 1, GPA + BUF(0), 12, VRING_DESC_F_NEXT, 0);
        break;
    case H_HUGE:
        put_desc(fe, 1, 0, GPA + BUF(0), 0xffffffffu, 0, 0);
        break;
    case H_BAD_HEAD:
        put_desc(fe, 1, 0, GPA + BUF(0), 64, 0, 0);
        avail[2] = NUM + 3;
        __atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
        assert_int_equal(write(fe->kick[1], &one, 8), 8);
        return;
    case H_AVAIL_AHEAD:
        __atomic_store_n(&avail[1], NUM + 1, __ATOMIC_RELEASE);
        assert_int_equal(write(fe->kick[1], &one, 8), 8);
        return;
    case H_INDIRECT_LEN:
        put_desc(fe, 1, 0, GPA + BUF(4), 24, VRING_DESC_F_INDIRECT, 0);
        break;
    case H_INDIRECT_NESTED: {
        uint64_t a = GPA + BUF(4);
        uint32_t l = 16;
        uint16_t fl = VRING_DESC_F_INDIRECT, nx = 0;

        memcpy(fe->mem + BUF(4), &a, 8);
        memcpy(fe->mem + BUF(4) + 8, &l, 4);
        memcpy(fe->mem + BUF(4) + 12, &fl, 2);
        memcpy(fe->mem + BUF(4) + 14, &nx, 2);
        put_desc(fe, 1, 0, GPA + BUF(4), 16, VRING_DESC_F_INDIRECT, 0);
        break;
    }
    case H_WRONG_DIRECTION:
        put_desc(fe, 1, 0, GPA + BUF(0), 64, VRING_DESC_F_WRITE, 0);
        break;
    case H__MAX:
        break;
    }
    offer(fe, 1, 0);
}

static void test_hostile_rings(void **state)
{
    for (int h = 0; h < H__MAX; h++) {
        struct fe *good = fe_connect(), *bad = fe_connect();
        int before;
        uint8_t frame[72] = {0};

        fe_start(good, FEATURES);
        fe_start(bad, FEATURES);
        assert_int_equal(nics_named_vu(), 2);
        hostile_tx(bad, (enum hostile)h);
        assert_true(fe_closed(bad));
        pump(10);
        assert_int_equal(nics_named_vu(), 1);
        /* the other VM goes on */
        before = F->peer->nframes;
        memset(frame + 12, 0xff, 6);
        memcpy(good->mem + BUF(0), frame, sizeof(frame));
        put_desc(good, 1, 0, GPA + BUF(0), sizeof(frame), 0, 0);
        offer(good, 1, 0);
        for (int i = 0; i < 200 && F->peer->nframes == before; i++) {
            pump(1);
        }
        assert_int_equal(F->peer->nframes, before + 1);
        fe_free(bad);
        fe_free(good);
        assert_int_equal(nics_named_vu(), 0);
    }
}

/* A bad RX ring: found when a frame comes for it. */
static void test_hostile_rx(void **state)
{
    struct fe *fe = fe_connect();
    uint8_t frame[60] = {0};

    fe_start(fe, FEATURES);
    put_desc(fe, 0, 0, GPA + BUF(1), 2048, 0, 0); /* not writable */
    offer(fe, 0, 0);
    pump(5);
    memset(frame, 0xff, 6);
    netbe_send_packet(&F->peer->nc, frame, sizeof(frame));
    assert_true(fe_closed(fe));
    fe_free(fe);
    assert_int_equal(nics_named_vu(), 0);
}

static void bad_msg_case(int c)
{
    struct fe *fe = fe_connect();
    uint64_t p[10] = {0};
    uint32_t st[2];

    switch (c) {
    case 0: /* SET_VRING_NUM of 7 bytes */
        fe_send(fe, VU_SET_VRING_NUM, 0, p, 7, NULL, 0);
        break;
    case 1: /* ring index out of range */
        st[0] = 9;
        st[1] = 8;
        fe_send(fe, VU_SET_VRING_NUM, 0, st, 8, NULL, 0);
        break;
    case 2: /* not a power of 2 */
        st[0] = 0;
        st[1] = 7;
        fe_send(fe, VU_SET_VRING_NUM, 0, st, 8, NULL, 0);
        break;
    case 3: { /* overlapping regions */
        uint64_t t[9] = {2,          GPA,  MEMSZ,       UVA, 0,
                         GPA + 4096, 4096, UVA + MEMSZ, 0};
        int fds[2] = {fe->memfd, fe->memfd};

        fe_send(fe, VU_SET_MEM_TABLE, 0, t, sizeof(t), fds, 2);
        break;
    }
    case 4: { /* a region longer than its file */
        uint64_t t[5] = {1, GPA, 2 * MEMSZ, UVA, 0};

        fe_send(fe, VU_SET_MEM_TABLE, 0, t, sizeof(t), &fe->memfd, 1);
        break;
    }
    case 5: /* unknown request */
        fe_send(fe, 99, 0, NULL, 0, NULL, 0);
        break;
    case 6: /* oversized payload */
        fe_send(fe, VU_SET_FEATURES, 0, p, 80, NULL, 0);
        {
            uint8_t hdr[12];
            uint32_t req = VU_SET_FEATURES, fl = 1, sz = 100000;

            memcpy(hdr, &req, 4);
            memcpy(hdr + 4, &fl, 4);
            memcpy(hdr + 8, &sz, 4);
            assert_int_equal(send(fe->sock, hdr, 12, MSG_NOSIGNAL), 12);
        }
        break;
    case 7: /* features never offered */
        fe_u64(fe, VU_SET_FEATURES, 1ull << 63);
        break;
    case 8: /* rings outside memory */
        fe_mem_table(fe);
        p[0] = 0;
        p[1] = UVA + MEMSZ - 16;
        p[2] = UVA;
        p[3] = UVA;
        fe_state(fe, VU_SET_VRING_NUM, 0, NUM);
        fe_send(fe, VU_SET_VRING_ADDR, 0, p, 40, NULL, 0);
        break;
    case 9: /* an fd where none belongs */
        fe_send(fe, VU_SET_OWNER, 0, NULL, 0, &fe->memfd, 1);
        break;
    case 10: /* a kick without its fd */
        fe_u64(fe, VU_SET_VRING_KICK, 0);
        break;
    case 11: /* version 3 */
        fe_send(fe, VU_SET_OWNER, 2, NULL, 0, NULL, 0);
        break;
    case 12: /* SET_LOG_BASE without LOG_SHMFD */
        p[0] = 4096;
        fe_send(fe, VU_SET_LOG_BASE, 0, p, 16, &fe->memfd, 1);
        break;
    case 13: /* SET_LOG_BASE without its fd */
        fe_u64(fe, VU_SET_PROTOCOL_FEATURES, VU_BIT(VU_PF_LOG_SHMFD));
        p[0] = 4096;
        fe_send(fe, VU_SET_LOG_BASE, 0, p, 16, NULL, 0);
        break;
    case 14: /* a log past the end of its file */
        fe_u64(fe, VU_SET_PROTOCOL_FEATURES, VU_BIT(VU_PF_LOG_SHMFD));
        p[0] = 4096;
        p[1] = MEMSZ;
        fe_send(fe, VU_SET_LOG_BASE, 0, p, 16, &fe->memfd, 1);
        break;
    case 15: /* an empty log */
        fe_u64(fe, VU_SET_PROTOCOL_FEATURES, VU_BIT(VU_PF_LOG_SHMFD));
        fe_send(fe, VU_SET_LOG_BASE, 0, p, 16, &fe->memfd, 1);
        break;
    case 16: /* SET_VRING_ADDR with flags vhost has not */
        fe_mem_table(fe);
        fe_state(fe, VU_SET_VRING_NUM, 0, NUM);
        p[0] = 2ull << 32;
        p[1] = UVA;
        p[2] = UVA + 0x2000;
        p[3] = UVA + 0x1000;
        fe_send(fe, VU_SET_VRING_ADDR, 0, p, 40, NULL, 0);
        break;
    }
    if (!fe_closed(fe)) {
        fail_msg("bad message case %d did not reset the device", c);
    }
    fe_free(fe);
    assert_int_equal(nics_named_vu(), 0);
}

static void test_bad_messages(void **state)
{
    for (int c = 0; c < 17; c++) {
        bad_msg_case(c);
    }
}

/* Protocol features, REPLY_ACK, queue number, GET_VRING_BASE. */
static void test_protocol(void **state)
{
    struct fe *fe = fe_connect();
    uint8_t buf[64];
    uint64_t pf = fe_get_u64(fe, VU_GET_PROTOCOL_FEATURES), ack;
    uint32_t st[2] = {1, 0};

    assert_true(pf & VU_BIT(VU_PF_REPLY_ACK));
    fe_u64(fe, VU_SET_PROTOCOL_FEATURES, pf);
    assert_int_equal(fe_get_u64(fe, VU_GET_QUEUE_NUM), 1);
    assert_int_equal(fe_get_u64(fe, VU_GET_MAX_MEM_SLOTS), VU_MAX_SLOTS);
    /* REPLY_ACK: SET_OWNER answers 0 */
    assert_int_equal(
        fe_send(fe, VU_SET_OWNER, VU_FLAG_NEED_REPLY, NULL, 0, NULL, 0), 0);
    assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE + 8);
    memcpy(&ack, buf + VU_HDR_SIZE, 8);
    assert_int_equal(ack, 0);
    fe_start(fe, FEATURES | VU_BIT(VU_F_PROTOCOL_FEATURES));
    /* with protocol features, rings wait for SET_VRING_ENABLE */
    fe_state(fe, VU_SET_VRING_ENABLE, 0, 1);
    fe_state(fe, VU_SET_VRING_ENABLE, 1, 1);
    put_desc(fe, 1, 0, GPA + BUF(0), 72, 0, 0);
    offer(fe, 1, 0);
    for (int i = 0; i < 100 && used_idx(fe, 1) != 1; i++) {
        pump(1);
    }
    assert_int_equal(used_idx(fe, 1), 1);
    /* stop: the base is where the device stopped */
    assert_int_equal(fe_send(fe, VU_GET_VRING_BASE, 0, st, 8, NULL, 0), 0);
    assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE + 8);
    memcpy(st, buf + VU_HDR_SIZE, 8);
    assert_int_equal(st[0], 1);
    assert_int_equal(st[1], 1);
    /*
     * ADD_MEM_REG then REM_MEM_REG of a second region, each twice as QEMU
     * sends them with queues=2; then one overlapping it: reset
     */
    for (int k = 0; k < 2; k++) {
        uint64_t r[5] = {0, GPA + 2 * MEMSZ, 4096, UVA + 2 * MEMSZ, 0};

        for (int twice = 0; twice < 2; twice++) {
            assert_int_equal(fe_send(fe, VU_ADD_MEM_REG, VU_FLAG_NEED_REPLY, r,
                                     sizeof(r), &fe->memfd, 1),
                             0);
            assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE + 8);
            memcpy(&ack, buf + VU_HDR_SIZE, 8);
            assert_int_equal(ack, 0);
        }
        if (k) {
            r[2] = 8192; /* overlaps the one added */
            assert_int_equal(
                fe_send(fe, VU_ADD_MEM_REG, 0, r, sizeof(r), &fe->memfd, 1), 0);
            assert_true(fe_closed(fe));
            break;
        }
        for (int twice = 0; twice < 2; twice++) {
            assert_int_equal(fe_send(fe, VU_REM_MEM_REG, VU_FLAG_NEED_REPLY, r,
                                     sizeof(r), NULL, 0),
                             0);
            assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE + 8);
            memcpy(&ack, buf + VU_HDR_SIZE, 8);
            assert_int_equal(ack, 0);
        }
    }
    fe_free(fe);
}

static bool logged(const uint8_t *log, uint64_t gpa)
{
    uint64_t page = gpa / 4096;

    return log[page / 8] & (1u << (page % 8));
}

static unsigned log_bits(const uint8_t *log, size_t size)
{
    unsigned n = 0;

    for (size_t i = 0; i < size; i++) {
        n += (unsigned)__builtin_popcount(log[i]);
    }
    return n;
}

/* SET_VRING_ADDR as QEMU sends it when a migration starts. */
static void fe_ring_addr(struct fe *fe, uint32_t i, bool log)
{
    uint64_t a[5];
    uint32_t *a32 = (uint32_t *)a;

    a32[0] = i;
    a32[1] = log ? 1u << VHOST_VRING_F_LOG : 0;
    a[1] = UVA + RING(i);
    a[2] = UVA + RING(i) + 0x2000;
    a[3] = UVA + RING(i) + 0x1000;
    a[4] = GPA + RING(i) + 0x2000; /* the used ring's guest address */
    assert_int_equal(fe_send(fe, VU_SET_VRING_ADDR, VU_FLAG_NEED_REPLY, a,
                             sizeof(a), NULL, 0),
                     0);
}

/*
 * Dirty-page logging (LOG_SHMFD), the way QEMU migrates: the log comes
 * in SET_LOG_BASE, SET_FEATURES adds VHOST_F_LOG_ALL and SET_VRING_ADDR
 * the log flag, all with the rings running.  Every page netbe writes
 * (RX buffers, used rings) is marked, nothing else, and frames keep
 * flowing throughout; with LOG_ALL off again nothing is marked.
 */
static void test_dirty_log(void **state)
{
    struct fe *fe = fe_connect();
    int logfd = memfd_create("log", MFD_CLOEXEC);
    uint64_t lb[2] = {64, 4096}; /* pages up to GPA + MEMSZ, at 4 KiB */
    uint8_t buf[64], frame[60], *map, *log;
    uint64_t pf = fe_get_u64(fe, VU_GET_PROTOCOL_FEATURES);
    uint32_t req, size;

    assert_true(pf & VU_BIT(VU_PF_LOG_SHMFD));
    assert_true(fe_get_u64(fe, VU_GET_FEATURES) & VU_BIT(VHOST_F_LOG_ALL));
    assert_int_equal(ftruncate(logfd, 8192), 0);
    map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
    assert_true(map != MAP_FAILED);
    log = map + 4096;
    fe_u64(fe, VU_SET_PROTOCOL_FEATURES,
           VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_REPLY_ACK));
    fe_start(fe, FEATURES);
    memset(frame, 0xff, 6);
    for (int i = 6; i < 60; i++) {
        frame[i] = (uint8_t)i;
    }
    /* RX before logging: the frame lands, nothing is logged */
    put_desc(fe, 0, 0, GPA + BUF(5), 2048, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 0);
    pump(10);
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 1);

    /* the log: an empty reply to SET_LOG_BASE, as QEMU waits for */
    assert_int_equal(fe_send(fe, VU_SET_LOG_BASE, 0, lb, sizeof(lb), &logfd, 1),
                     0);
    assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE);
    memcpy(&req, buf, 4);
    memcpy(&size, buf + 8, 4);
    assert_int_equal(req, VU_SET_LOG_BASE);
    assert_int_equal(size, 0);
    fe_u64(fe, VU_SET_FEATURES, FEATURES | VU_BIT(VHOST_F_LOG_ALL));
    for (uint32_t i = 0; i < 2; i++) {
        fe_ring_addr(fe, i, true);
        assert_int_equal(fe_reply(fe, buf, sizeof(buf)), VU_HDR_SIZE + 8);
        assert_int_equal(buf[VU_HDR_SIZE], 0); /* ack: done */
    }
    assert_int_equal(log_bits(log, 64), 0);

    /* RX: its buffer's pages and the used ring's page */
    put_desc(fe, 0, 1, GPA + BUF(7) + 4050, 2048, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 1);
    pump(10);
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 2);
    assert_memory_equal(fe->mem + BUF(7) + 4050 + 12, frame, sizeof(frame));
    /* 72 bytes from 4050: the page of BUF(7) and the next */
    assert_true(logged(log, GPA + BUF(7)));
    assert_true(logged(log, GPA + BUF(8)));
    assert_true(logged(log, GPA + RING(0) + 0x2000));
    assert_int_equal(log_bits(log, 64), 3);
    memset(log, 0, 64);

    /* TX: the used ring only; the buffer was read, not written */
    memset(fe->mem + BUF(0), 0, 12);
    memcpy(fe->mem + BUF(0) + 12, frame, sizeof(frame));
    put_desc(fe, 1, 0, GPA + BUF(0), 72, 0, 0);
    offer(fe, 1, 0);
    for (int i = 0; i < 200 && used_idx(fe, 1) != 1; i++) {
        pump(1);
    }
    assert_int_equal(used_idx(fe, 1), 1);
    assert_true(logged(log, GPA + RING(1) + 0x2000));
    assert_int_equal(log_bits(log, 64), 1);
    memset(log, 0, 64);

    /* logging off: RX goes on, nothing is marked */
    fe_u64(fe, VU_SET_FEATURES, FEATURES);
    put_desc(fe, 0, 2, GPA + BUF(9), 2048, VRING_DESC_F_WRITE, 0);
    offer(fe, 0, 2);
    pump(10);
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(5);
    assert_int_equal(used_idx(fe, 0), 3);
    assert_int_equal(log_bits(log, 64), 0);
    assert_false(fe_closed(fe));
    munmap(map, 8192);
    close(logfd);
    fe_free(fe);
}

/* TX chain 0 of ring 1: a broadcast frame with byte 20 = @tag. */
static void fe_tx_frame(struct fe *fe, uint8_t tag)
{
    uint8_t frame[72] = {0};

    memset(frame + 12, 0xff, 6);
    frame[20] = tag;
    memcpy(fe->mem + BUF(0), frame, sizeof(frame));
    put_desc(fe, 1, 0, GPA + BUF(0), sizeof(frame), 0, 0);
    offer(fe, 1, 0);
}

/* queues=2: two queue pairs, four rings, MQ offered; a fifth is refused. */
static void test_queues2(void **state)
{
    char path[128];
    struct fe *fe;

    snprintf(path, sizeof(path), "%s.mq", F->path);
    assert_int_equal(
        device_add("vhost-user-net,id=mq,path=%s,hubid=0,queues=2", path), 0);
    fe = fe_connect_to(path);
    assert_true(fe_get_u64(fe, VU_GET_FEATURES) & VU_BIT(VIRTIO_NET_F_MQ));
    fe_u64(fe, VU_SET_PROTOCOL_FEATURES, VU_BIT(VU_PF_MQ));
    assert_int_equal(fe_get_u64(fe, VU_GET_QUEUE_NUM), 2);
    fe_state(fe, VU_SET_VRING_NUM, 3, NUM);
    /* still there: GET_FEATURES answers */
    assert_true(fe_get_u64(fe, VU_GET_FEATURES) != 0);
    fe_state(fe, VU_SET_VRING_NUM, 4, NUM);
    assert_true(fe_closed(fe));
    fe_free(fe);
}

/*
 * queues=2 on a hub: the VM is one port of the switch.  A broadcast
 * reaches it once (in pair 0's RX ring), not once per queue pair, and
 * what it sends on either TX ring enters the hub from that one port.
 */
static void test_queues2_one_port(void **state)
{
    char path[128];
    uint8_t frame[60];
    struct fe *fe;
    int before;

    snprintf(path, sizeof(path), "%s.mq", F->path);
    assert_int_equal(
        device_add("vhost-user-net,id=mq,path=%s,hubid=0,queues=2", path), 0);
    fe = fe_connect_to(path);
    fe_u64(fe, VU_SET_PROTOCOL_FEATURES, VU_BIT(VU_PF_MQ));
    fe_start_rings(fe, FEATURES | VU_BIT(VIRTIO_NET_F_MQ), 4);
    /* RX buffers on both RX rings (0 and 2) */
    for (int q = 0; q < 4; q += 2) {
        for (int i = 0; i < 4; i++) {
            put_desc(fe, q, i, GPA + BUF(8 * q + i), 2048, VRING_DESC_F_WRITE,
                     0);
            offer(fe, q, (uint16_t)i);
        }
    }
    pump(10);
    memset(frame, 0xff, 6);
    for (int i = 6; i < 60; i++) {
        frame[i] = (uint8_t)i;
    }
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
    pump(10);
    assert_int_equal(used_idx(fe, 0) + used_idx(fe, 2), 1);
    /* TX on both pairs: both frames reach the peer */
    before = F->peer->nframes;
    for (int q = 1; q < 4; q += 2) {
        uint8_t *b = fe->mem + BUF(30 + q);

        memset(b, 0, 72);
        memset(b + 12, 0xff, 6);
        b[20] = (uint8_t)q;
        put_desc(fe, q, 0, GPA + BUF(30 + q), 72, 0, 0);
        offer(fe, q, 0);
    }
    wait_frames(F->peer, before + 2);
    assert_int_equal(F->peer->nframes - before, 2);
    assert_int_equal(used_idx(fe, 1), 1);
    assert_int_equal(used_idx(fe, 3), 1);
    fe_free(fe);
}

/* The graph goes while a VM is connected: everything is let go. */
static void test_ctx_free_connected(void **state)
{
    struct fe *fe = fe_connect();

    fe_start(fe, FEATURES);
    assert_int_equal(nics_named_vu(), 1);
    netbe_ctx_free(F->ctx);
    F->ctx = netbe_ctx_new(F->loop);
    assert_true(fe_closed(fe));
    fe_free(fe);
}

/* netdev=: the NIC "vu" is the netdev's peer and outlives its VMs. */
static void test_netdev_mode(void **state)
{
    struct tl_client *nd = netdev_mode_graph();
    struct netbe_client *nic;

    nic = nd->nc.peer;
    assert_non_null(nic);
    assert_string_equal(nic->name, "vu");
    for (int round = 0; round < 2; round++) {
        struct fe *fe = fe_connect();

        fe_start(fe, FEATURES);
        fe_tx_frame(fe, (uint8_t)round);
        wait_frames(nd, round + 1);
        assert_int_equal(nd->nframes, round + 1);
        /* the netdev takes plain frames: the header is gone */
        assert_int_equal(nd->frames[round].len, 60);
        fe_free(fe);
        assert_ptr_equal(nd->nc.peer, nic);
    }
    /* a second device cannot take the same netdev */
    assert_int_equal(
        device_add("vhost-user-net,id=vu2,path=%s.2,netdev=nd", F->path), -1);
    {
        struct fe *fe = fe_connect();

        fe_start(fe, FEATURES);
        netbe_ctx_free(F->ctx);
        F->ctx = netbe_ctx_new(F->loop);
        assert_true(fe_closed(fe));
        fe_free(fe);
    }
}

/*
 * netdev= mode and a migration: while one VM is served a second
 * front-end connects and is answered; when its rings start it takes the
 * NIC over (the source stopped), frames go to and come from it; a third
 * waits in the backlog until one leaves; the first leaving changes
 * nothing for the second.
 */
static void test_netdev_takeover(void **state)
{
    struct tl_client *nd = netdev_mode_graph();
    struct fe *src, *dst, *third;
    uint8_t frame[60];

    src = fe_connect();
    fe_start(src, FEATURES);
    fe_tx_frame(src, 1);
    wait_frames(nd, 1);
    assert_int_equal(nd->nframes, 1);
    /* the destination is answered while the source runs */
    dst = fe_connect();
    assert_true(fe_get_u64(dst, VU_GET_FEATURES) & VU_BIT(VHOST_F_LOG_ALL));
    /* a third waits: no answer */
    third = fe_connect();
    assert_int_equal(fe_send(third, VU_GET_FEATURES, 0, NULL, 0, NULL, 0), 0);
    pump(20);
    {
        uint8_t buf[64];

        assert_true(recv(third->sock, buf, sizeof(buf), MSG_DONTWAIT) < 0);
    }
    /* the source still carries frames */
    fe_tx_frame(src, 2);
    wait_frames(nd, 2);
    assert_int_equal(nd->nframes, 2);
    assert_int_equal(nd->frames[1].data[8], 2);
    /* the destination starts: it is the VM now */
    fe_start(dst, FEATURES);
    fe_tx_frame(dst, 3);
    wait_frames(nd, 3);
    assert_int_equal(nd->nframes, 3);
    assert_int_equal(nd->frames[2].data[8], 3);
    /* the source's kicks are not served any more */
    fe_tx_frame(src, 4);
    pump(50);
    assert_int_equal(nd->nframes, 3);
    /* frames from the netdev go to the destination */
    put_desc(dst, 0, 0, GPA + BUF(1), 2048, VRING_DESC_F_WRITE, 0);
    offer(dst, 0, 0);
    pump(10);
    memset(frame, 0xff, 6);
    for (int i = 6; i < 60; i++) {
        frame[i] = (uint8_t)i;
    }
    assert_true(netbe_send_packet(&nd->nc, frame, sizeof(frame)) > 0);
    pump(10);
    assert_int_equal(used_idx(dst, 0), 1);
    assert_memory_equal(dst->mem + BUF(1) + 12, frame, sizeof(frame));
    assert_int_equal(used_idx(src, 0), 0);
    /* the source leaves: the destination goes on, the third is answered */
    fe_free(src);
    fe_tx_frame(dst, 5);
    wait_frames(nd, 4);
    assert_int_equal(nd->nframes, 4);
    assert_int_equal(nd->frames[3].data[8], 5);
    {
        uint8_t buf[64];

        assert_int_equal(fe_reply(third, buf, sizeof(buf)), VU_HDR_SIZE + 8);
    }
    fe_free(third);
    fe_free(dst);
    assert_non_null(nd->nc.peer);
}

/*
 * A front-end shrinks its guest memory file after netbe mapped it: the
 * frame netbe then reads (TX) or writes (RX) past the new end would
 * SIGBUS the whole process.  netbe survives, resets that device only,
 * and a VM next to it goes on.
 */
static void test_shrunk_memory(void **state)
{
    for (int rx = 0; rx < 2; rx++) {
        struct fe *good = fe_connect(), *bad = fe_connect();
        uint8_t frame[60];
        int before = F->peer->nframes;

        fe_start(good, FEATURES);
        fe_start(bad, FEATURES);
        assert_int_equal(nics_named_vu(), 2);
        memset(frame, 0xff, 6);
        for (int i = 6; i < 60; i++) {
            frame[i] = (uint8_t)i;
        }
        if (rx) {
            put_desc(bad, 0, 0, GPA + BUF(1), 2048, VRING_DESC_F_WRITE, 0);
            offer(bad, 0, 0);
            pump(10);
        } else {
            memset(bad->mem + BUF(0), 0, 12);
            memcpy(bad->mem + BUF(0) + 12, frame, sizeof(frame));
            put_desc(bad, 1, 0, GPA + BUF(0), 72, 0, 0);
        }
        /* the rings stay, the buffers go */
        assert_int_equal(ftruncate(bad->memfd, BUF(0)), 0);
        if (rx) {
            /* a broadcast: netbe writes it into the bad guest's buffer */
            assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) >
                        0);
        } else {
            offer(bad, 1, 0);
        }
        assert_true(fe_closed(bad));
        /* the bad guest's memory is gone: don't let fe_free() touch it */
        fe_free(bad);
        assert_int_equal(nics_named_vu(), 1);
        /* the good one still sends */
        fe_tx_frame(good, 7);
        wait_frames(F->peer, before + 2);
        assert_int_equal(F->peer->nframes - before, rx ? 1 : 1);
        assert_int_equal(tl_last(F->peer)->data[8], 7);
        fe_free(good);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_us, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_free_connected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_netdev_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queues2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queues2_one_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_netdev_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shrunk_memory, setup, teardown),
    };

    netbe_log_set_level(NETBE_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
