/*
 * test_dgram.c - the dgram netdev against real sockets: UDP unicast,
 * multicast on the loopback interface, unix datagram sockets and passed
 * fds, in both directions; batches, flow control, oversized and empty
 * datagrams; the hubid= listener for many VMs with idle removal; and
 * QEMU 7.2's option errors word for word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/backends.h"
#include "testlib.h"

#include "fakeloop.h"

#define FRAME_MAX 2048

/* The VM side: records frames in arrival order, may refuse. */
struct probe {
    struct netbe_client nc;
    int n;
    bool in_order; /* every frame's sequence number followed the last */
    uint32_t next_seq;
    bool refuse;
    int take; /* refusing, take this many more all the same */
    size_t len[8];
    uint8_t data[8][FRAME_MAX];
};

static ssize_t probe_receive(struct netbe_client *nc, const uint8_t *buf,
                             size_t size)
{
    struct probe *p = (struct probe *)nc;

    if (p->refuse && p->take == 0) {
        return 0;
    }
    if (p->refuse) {
        p->take--;
    }
    if (size >= 18) {
        uint32_t seq = (uint32_t)buf[14] << 24 | (uint32_t)buf[15] << 16 |
                       (uint32_t)buf[16] << 8 | buf[17];

        if (seq != p->next_seq) {
            p->in_order = false;
        }
        p->next_seq = seq + 1;
    }
    if (p->n < 8) {
        p->len[p->n] = size;
        memcpy(p->data[p->n], buf, size < FRAME_MAX ? size : FRAME_MAX);
    }
    p->n++;
    return (ssize_t)size;
}

static const struct netbe_client_info probe_info = {
    .type = NETBE_DRIVER_NONE,
    .size = sizeof(struct probe),
    .receive = probe_receive,
};

static struct netbe_loop *loop;
static char tmpdir[64];

static struct probe *probe_new(struct netbe_ctx *ctx, const char *name)
{
    struct probe *p;

    p = (struct probe *)netbe_client_new(ctx, &probe_info, NULL, "probe", name);
    p->in_order = true;
    return p;
}

/* A frame: broadcast or @dst, source MAC ending in @src, sequence @seq. */
static size_t make_frame(uint8_t *buf, size_t len, const uint8_t *dst,
                         uint8_t src, uint32_t seq)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    memcpy(buf, dst ? dst : bcast, 6);
    memcpy(buf + 6, (uint8_t[]){0x52, 0x54, 0x00, 0, 0, src}, 6);
    buf[12] = 0x08;
    buf[13] = 0x00;
    buf[14] = (uint8_t)(seq >> 24);
    buf[15] = (uint8_t)(seq >> 16);
    buf[16] = (uint8_t)(seq >> 8);
    buf[17] = (uint8_t)seq;
    for (size_t i = 18; i < len; i++) {
        buf[i] = (uint8_t)(seq * 7 + i);
    }
    return len;
}

static void pump(int ms)
{
    for (int i = 0; i < ms; i++) {
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
}

/* Run the loop until @p has @n frames; false after ~3 s. */
static bool wait_frames(struct probe *p, int n)
{
    for (int i = 0; i < 3000 && p->n < n; i++) {
        netbe_loop_run_once(loop, 0);
        if (p->n < n) {
            usleep(1000);
        }
    }
    return p->n >= n;
}

/* A datagram from a test socket, running the loop while none is there. */
static ssize_t recv_dgram(int fd, uint8_t *buf, size_t len)
{
    for (int i = 0; i < 3000; i++) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return n;
        }
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
    return -1;
}

static int udp_socket(const char *host, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    inet_aton(host, &sin.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* A UDP port nobody uses right now. */
static int free_port(void)
{
    int fd = udp_socket("127.0.0.1", 0);
    int port = port_of(fd);

    close(fd);
    return port;
}

static void send_to(int fd, int port, const uint8_t *buf, size_t len)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};

    inet_aton("127.0.0.1", &sin.sin_addr);
    assert_int_equal(
        sendto(fd, buf, len, 0, (struct sockaddr *)&sin, sizeof(sin)),
        (ssize_t)len);
}

static int unix_socket(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

static void send_unix(int fd, const char *path, const uint8_t *buf, size_t len)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    assert_int_equal(
        sendto(fd, buf, len, 0, (struct sockaddr *)&sun, sizeof(sun)),
        (ssize_t)len);
}

/* Parse, check against the schema and init, as the registry would. */
static int add(struct netbe_ctx *ctx, const struct netbe_backend_type *type,
               const char *str, struct netbe_client *peer,
               struct netbe_error **errp)
{
    struct netbe_opts *opts = netbe_opts_parse(str, "type", errp);
    int ret = -1;

    if (!opts) {
        return -1;
    }
    if (netbe_opts_check(opts, type->schema, errp) == 0) {
        ret = type->init(ctx, opts, netbe_opts_get(opts, "id"), peer, errp);
    }
    netbe_opts_free(opts);
    return ret;
}

static struct netbe_client *add_ok(struct netbe_ctx *ctx, const char *str,
                                   struct netbe_client *peer)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts = netbe_opts_parse(str, "type", NULL);
    char id[64];

    assert_non_null(opts);
    snprintf(id, sizeof(id), "%s", netbe_opts_get(opts, "id"));
    netbe_opts_free(opts);
    if (add(ctx, &netbe_backend_dgram, str, peer, &err) < 0) {
        fail_msg("%s: %s", str, netbe_error_msg(err));
    }
    return netbe_find_netdev(ctx, id);
}

static void add_err(const char *str, const char *msg)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_error *err = NULL;

    assert_int_equal(add(ctx, &netbe_backend_dgram, str, NULL, &err), -1);
    tl_assert_failed_init(ctx, str, err, msg, false);
}

static int setup(void **state)
{
    loop = netbe_loop_default();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/netbe-dgram-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    rmdir(tmpdir);
    netbe_loop_close(loop);
    return 0;
}

/* ---- unicast ---- */

static void test_udp_both_ways(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int sock = udp_socket("127.0.0.1", 0);
    int lport = free_port(), rport = port_of(sock);
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *nc;
    char str[256], info[128];

    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
             lport, rport);
    nc = add_ok(ctx, str, &vm->nc);
    assert_ptr_equal(nc->peer, &vm->nc);
    assert_int_equal(nc->info->type, NETBE_DRIVER_DGRAM);
    assert_string_equal(nc->model, "dgram");
    snprintf(info, sizeof(info), "udp=127.0.0.1:%d/127.0.0.1:%d", lport, rport);
    assert_string_equal(nc->info_str, info);
    assert_false(nc->link_down);

    /* VM to wire: one datagram per frame, byte for byte */
    make_frame(buf, 1000, NULL, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 1000), 1000);
    assert_int_equal(recv_dgram(sock, got, sizeof(got)), 1000);
    assert_memory_equal(got, buf, 1000);

    /* wire to VM */
    make_frame(buf, 60, NULL, 2, 0);
    send_to(sock, lport, buf, 60);
    assert_true(wait_frames(vm, 1));
    assert_int_equal(vm->len[0], 60);
    assert_memory_equal(vm->data[0], buf, 60);
    assert_int_equal(nc->stats.tx_frames, 1);
    assert_int_equal(nc->stats.rx_frames, 1);

    /* any source is taken, as QEMU's unconnected socket does */
    {
        int other = udp_socket("127.0.0.1", 0);

        send_to(other, lport, buf, 60);
        assert_true(wait_frames(vm, 2));
        close(other);
    }
    netbe_ctx_free(ctx);
    close(sock);
}

static void test_udp_batch_in_order(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int sock = udp_socket("127.0.0.1", 0);
    int lport = free_port(), rport = port_of(sock);
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    char str[256];
    int i;

    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
             lport, rport);
    add_ok(ctx, str, &vm->nc);

    /* 100 frames in one batch: more than the ring holds, all leave */
    netbe_batch_begin(ctx);
    for (i = 0; i < 100; i++) {
        make_frame(buf, 200 + i, NULL, 1, (uint32_t)i);
        assert_int_equal(netbe_send_packet(&vm->nc, buf, 200 + i), 200 + i);
    }
    netbe_batch_end(ctx);
    for (i = 0; i < 100; i++) {
        uint8_t want[FRAME_MAX];

        make_frame(want, 200 + i, NULL, 1, (uint32_t)i);
        assert_int_equal(recv_dgram(sock, got, sizeof(got)), 200 + i);
        assert_memory_equal(got, want, 200 + i);
    }

    /* 150 datagrams in: read in batches, delivered in order */
    for (i = 0; i < 150; i++) {
        make_frame(buf, 100, NULL, 2, (uint32_t)i);
        send_to(sock, lport, buf, 100);
    }
    assert_true(wait_frames(vm, 150));
    assert_int_equal(vm->n, 150);
    assert_true(vm->in_order);
    netbe_ctx_free(ctx);
    close(sock);
}

/*
 * A batch of equal frames to one address leaves through UDP GSO where the
 * kernel has it; whatever the path, the receiver must see one datagram per
 * frame, byte-exact and in order, a shorter last frame of a run included.
 */
static void test_udp_gso_runs(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int sock = udp_socket("127.0.0.1", 0);
    int lport = free_port(), rport = port_of(sock);
    static const size_t sizes[] = {300, 120, 500, 60};
    static const int counts[] = {40, 1, 10, 70};
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    char str[256];
    uint32_t seq = 0;

    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
             lport, rport);
    add_ok(ctx, str, &vm->nc);
    netbe_batch_begin(ctx);
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < counts[r]; i++) {
            make_frame(buf, sizes[r], NULL, 1, seq++);
            assert_int_equal(netbe_send_packet(&vm->nc, buf, sizes[r]),
                             (ssize_t)sizes[r]);
        }
    }
    netbe_batch_end(ctx);
    seq = 0;
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < counts[r]; i++) {
            uint8_t want[FRAME_MAX];

            make_frame(want, sizes[r], NULL, 1, seq++);
            assert_int_equal(recv_dgram(sock, got, sizeof(got)),
                             (ssize_t)sizes[r]);
            assert_memory_equal(got, want, sizes[r]);
        }
    }
    netbe_ctx_free(ctx);
    close(sock);
}

/*
 * A sender using UDP GSO: with UDP_GRO netbe may get the run in one piece
 * and must cut it at the segment size; each segment is one frame.
 */
static void test_udp_gro_run_in(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int sock = udp_socket("127.0.0.1", 0);
    int lport = free_port(), rport = port_of(sock);
    uint8_t run[12 * 200];
    size_t len = 0;
    char str[256];
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)lport)};
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl;
    struct msghdr h = {.msg_name = &to,
                       .msg_namelen = sizeof(to),
                       .msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&h);

    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
             lport, rport);
    add_ok(ctx, str, &vm->nc);
    for (uint32_t i = 0; i < 11; i++) {
        len += make_frame(run + len, 200, NULL, 3, i);
    }
    len += make_frame(run + len, 80, NULL, 3, 11); /* a shorter last one */
    inet_aton("127.0.0.1", &to.sin_addr);
    iov.iov_base = run;
    iov.iov_len = len;
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    *(uint16_t *)CMSG_DATA(cm) = 200;
    assert_int_equal(sendmsg(sock, &h, 0), (ssize_t)len);
    assert_true(wait_frames(vm, 12));
    pump(20);
    assert_int_equal(vm->n, 12);
    assert_true(vm->in_order);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(vm->len[i], 200);
        assert_memory_equal(vm->data[i], run + 200 * i, 200);
    }
    netbe_ctx_free(ctx);
    close(sock);
}

/* ---- unix, fd ---- */

static void test_unix_both_ways(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    char lpath[128], rpath[128], str[512], info[300];
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *nc;
    struct stat st;
    int sock;

    snprintf(lpath, sizeof(lpath), "%s/l.sock", tmpdir);
    snprintf(rpath, sizeof(rpath), "%s/r.sock", tmpdir);
    sock = unix_socket(rpath);
    snprintf(str, sizeof(str),
             "dgram,id=u,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=%s",
             lpath, rpath);
    nc = add_ok(ctx, str, &vm->nc);
    snprintf(info, sizeof(info), "udp=%s:%s", lpath, rpath);
    assert_string_equal(nc->info_str, info);

    make_frame(buf, 1514, NULL, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 1514), 1514);
    assert_int_equal(recv_dgram(sock, got, sizeof(got)), 1514);
    assert_memory_equal(got, buf, 1514);

    make_frame(buf, 64, NULL, 2, 0);
    send_unix(sock, lpath, buf, 64);
    assert_true(wait_frames(vm, 1));
    assert_memory_equal(vm->data[0], buf, 64);

    /* the path we bound goes with the netdev */
    assert_int_equal(stat(lpath, &st), 0);
    netbe_client_del(nc);
    assert_int_equal(stat(lpath, &st), -1);
    netbe_ctx_free(ctx);
    close(sock);
    unlink(rpath);
}

static void test_fd(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *nc;
    char str[128], info[64];
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    snprintf(str, sizeof(str), "dgram,id=f,local.type=fd,local.str=%d", sv[0]);
    nc = add_ok(ctx, str, &vm->nc);
    snprintf(info, sizeof(info), "fd=%d unix", sv[0]);
    assert_string_equal(nc->info_str, info);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);

    make_frame(buf, 300, NULL, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 300), 300);
    assert_int_equal(recv_dgram(sv[1], got, sizeof(got)), 300);
    assert_memory_equal(got, buf, 300);

    make_frame(buf, 70, NULL, 2, 0);
    assert_int_equal(send(sv[1], buf, 70, 0), 70);
    assert_true(wait_frames(vm, 1));
    assert_memory_equal(vm->data[0], buf, 70);

    /* the netdev owns the fd from now on */
    netbe_ctx_free(ctx);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1);
    close(sv[1]);
}

/* ---- bad input, flow control ---- */

static void test_oversize_and_empty(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    char lpath[128], rpath[128], str[512];
    struct netbe_client *nc;
    int sock, big = 1 << 20;
    uint8_t *buf = calloc(1, NETBE_NET_BUFSIZE + 100);

    snprintf(lpath, sizeof(lpath), "%s/l.sock", tmpdir);
    snprintf(rpath, sizeof(rpath), "%s/r.sock", tmpdir);
    sock = unix_socket(rpath);
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    snprintf(str, sizeof(str),
             "dgram,id=u,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=%s",
             lpath, rpath);
    nc = add_ok(ctx, str, &vm->nc);

    /* one byte over the limit: dropped and counted, the next one passes */
    make_frame(buf, NETBE_NET_BUFSIZE + 1, NULL, 1, 0);
    send_unix(sock, lpath, buf, NETBE_NET_BUFSIZE + 1);
    send_unix(sock, lpath, buf, 0);
    make_frame(buf, NETBE_NET_BUFSIZE, NULL, 1, 0);
    send_unix(sock, lpath, buf, NETBE_NET_BUFSIZE);
    assert_true(wait_frames(vm, 1));
    pump(20);
    assert_int_equal(vm->n, 1);
    assert_int_equal(vm->len[0], NETBE_NET_BUFSIZE);
    assert_int_equal(nc->stats.drop_oversize, 1);
    assert_int_equal(nc->stats.drop_malformed, 1);
    assert_int_equal(nc->stats.tx_frames, 1);

    /* reading goes on after them */
    make_frame(buf, 60, NULL, 1, 1);
    send_unix(sock, lpath, buf, 60);
    assert_true(wait_frames(vm, 2));
    free(buf);
    netbe_ctx_free(ctx);
    close(sock);
    unlink(rpath);
}

static void test_flow_control(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    char lpath[128], rpath[128], str[512];
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *nc;
    int sock, i, n = 400;

    snprintf(lpath, sizeof(lpath), "%s/l.sock", tmpdir);
    snprintf(rpath, sizeof(rpath), "%s/r.sock", tmpdir);
    sock = unix_socket(rpath);
    snprintf(str, sizeof(str),
             "dgram,id=u,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=%s",
             lpath, rpath);
    nc = add_ok(ctx, str, &vm->nc);

    /* the reader sleeps: its queue fills, then our ring, then the core's */
    for (i = 0; i < n; i++) {
        make_frame(buf, 500, NULL, 1, (uint32_t)i);
        assert_true(netbe_send_packet(&vm->nc, buf, 500) >= 0);
    }
    assert_true(nc->receive_disabled);
    assert_true(nc->incoming_queue->count > 0);
    assert_int_equal(nc->stats.drop_queue_full, 0);

    /* it wakes up: everything arrives, in order, nothing lost */
    for (i = 0; i < n; i++) {
        uint8_t want[FRAME_MAX];

        make_frame(want, 500, NULL, 1, (uint32_t)i);
        assert_int_equal(recv_dgram(sock, got, sizeof(got)), 500);
        assert_memory_equal(got, want, 500);
    }
    pump(10);
    assert_false(nc->receive_disabled);
    assert_int_equal(nc->incoming_queue->count, 0);
    assert_int_equal(nc->stats.rx_frames, n);
    assert_int_equal(nc->stats.drop_error, 0);

    /* and the other way, the VM refusing: reading stops, then resumes */
    vm->refuse = true;
    for (i = 0; i < 3; i++) {
        make_frame(buf, 80, NULL, 2, (uint32_t)i);
        send_unix(sock, lpath, buf, 80);
    }
    pump(50);
    assert_int_equal(vm->n, 0);
    assert_true(vm->nc.receive_disabled);
    vm->refuse = false;
    netbe_flush_queued(&vm->nc);
    assert_true(wait_frames(vm, 3));
    assert_true(vm->in_order);
    make_frame(buf, 80, NULL, 2, 3);
    send_unix(sock, lpath, buf, 80);
    assert_true(wait_frames(vm, 4));
    assert_true(vm->in_order);

    netbe_ctx_free(ctx);
    close(sock);
    unlink(rpath);
}

/*
 * Datagrams the kernel drops while netbe does not read (the VM refuses,
 * the socket's buffer fills) are counted, as SO_RXQ_OVFL tells them with
 * the next datagram queued: what arrived and what was counted add up.
 */
static void test_kernel_drops_counted(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int sock = udp_socket("127.0.0.1", 0);
    int lport = free_port(), n = 2000;
    uint8_t buf[FRAME_MAX];
    struct netbe_client *nc;
    char str[256];

    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
             lport, port_of(sock));
    nc = add_ok(ctx, str, &vm->nc);
    vm->refuse = true;
    make_frame(buf, 100, NULL, 1, 0);
    send_to(sock, lport, buf, 100);
    pump(20);
    assert_true(vm->nc.receive_disabled); /* netbe stopped reading */
    for (int i = 1; i < n; i++) {
        make_frame(buf, 100, NULL, 1, (uint32_t)i);
        send_to(sock, lport, buf, 100);
    }
    pump(20);
    vm->refuse = false;
    netbe_flush_queued(&vm->nc);
    for (int i = 0, last = -1; i < 3000 && vm->n != last; i++) {
        last = vm->n;
        pump(5); /* until the socket is drained */
    }
    /* the count comes with the next datagram that the kernel queues */
    make_frame(buf, 100, NULL, 1, (uint32_t)n);
    send_to(sock, lport, buf, 100);
    for (int i = 0; i < 3000 && (uint64_t)vm->n + nc->stats.drop_queue_full <
                                    (uint64_t)n + 1;
         i++) {
        pump(1);
    }
    assert_true(nc->stats.drop_queue_full > 0);
    assert_int_equal((uint64_t)vm->n + nc->stats.drop_queue_full, n + 1);
    assert_int_equal(nc->stats.tx_frames, vm->n);
    netbe_ctx_free(ctx);
    close(sock);
}

/*
 * A slow VM that takes one frame now and then: the socket is read again
 * only once every frame that waited went, so at most one batch waits.
 */
static void test_slow_vm_backlog_bounded(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int sock = udp_socket("127.0.0.1", 0);
    int lport = free_port(), sent = 0;
    uint32_t max_count = 0;
    uint8_t buf[FRAME_MAX];
    char str[256];

    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "remote.type=inet,remote.host=127.0.0.1,remote.port=%d",
             lport, port_of(sock));
    add_ok(ctx, str, &vm->nc);
    vm->refuse = true;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 100; i++) {
            make_frame(buf, 100, NULL, 1, (uint32_t)sent++);
            send_to(sock, lport, buf, 100);
        }
        pump(5);
        if (vm->nc.incoming_queue->count > max_count) {
            max_count = vm->nc.incoming_queue->count;
        }
        vm->take = 1;
        netbe_flush_queued(&vm->nc);
    }
    /* one recvmmsg() batch of 64 at most, never one more per frame taken */
    assert_true(max_count <= 64);
    netbe_ctx_free(ctx);
    close(sock);
}

static void test_send_error_counted(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    char lpath[128], rpath[128], str[512];
    uint8_t buf[100];
    struct netbe_client *nc;

    /* nobody at the remote path: the frames fail and are counted */
    snprintf(lpath, sizeof(lpath), "%s/l.sock", tmpdir);
    snprintf(rpath, sizeof(rpath), "%s/nobody.sock", tmpdir);
    snprintf(str, sizeof(str),
             "dgram,id=u,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=%s",
             lpath, rpath);
    nc = add_ok(ctx, str, &vm->nc);
    tl_capture_start();
    make_frame(buf, 100, NULL, 1, 0);
    netbe_batch_begin(ctx);
    netbe_send_packet(&vm->nc, buf, 100);
    netbe_send_packet(&vm->nc, buf, 100);
    netbe_batch_end(ctx);
    tl_capture_stop();
    assert_int_equal(nc->stats.drop_error, 2);
    assert_int_equal(tl_msgs.count, 1);
    netbe_ctx_free(ctx);
}

/* ---- multicast ---- */

static void test_multicast(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *a = probe_new(ctx, "a"), *b = probe_new(ctx, "b");
    int port = free_port();
    uint8_t buf[FRAME_MAX];
    struct netbe_client *na, *nb;
    char str[256], info[64];

    snprintf(str, sizeof(str),
             "dgram,id=ma,remote.type=inet,remote.host=239.255.77.1,"
             "remote.port=%d,local.type=inet,local.host=127.0.0.1,"
             "local.port=0",
             port);
    na = add_ok(ctx, str, &a->nc);
    snprintf(str, sizeof(str),
             "dgram,id=mb,remote.type=inet,remote.host=239.255.77.1,"
             "remote.port=%d,local.type=inet,local.host=127.0.0.1,"
             "local.port=0",
             port);
    nb = add_ok(ctx, str, &b->nc);
    snprintf(info, sizeof(info), "mcast=239.255.77.1:%d", port);
    assert_string_equal(na->info_str, info);
    assert_string_equal(na->model, "dram"); /* QEMU 7.2's spelling */

    /* A's frame reaches B, and A itself: loopback is on, as in QEMU */
    make_frame(buf, 400, NULL, 1, 0);
    assert_int_equal(netbe_send_packet(&a->nc, buf, 400), 400);
    assert_true(wait_frames(b, 1));
    assert_true(wait_frames(a, 1));
    assert_int_equal(b->len[0], 400);
    assert_memory_equal(b->data[0], buf, 400);
    assert_memory_equal(a->data[0], buf, 400);

    make_frame(buf, 64, NULL, 2, 0);
    assert_int_equal(netbe_send_packet(&b->nc, buf, 64), 64);
    assert_true(wait_frames(a, 2));
    assert_memory_equal(a->data[1], buf, 64);
    /* each hears itself too */
    assert_true(wait_frames(b, 2));
    assert_int_equal(nb->stats.tx_frames, 2);
    assert_int_equal(na->stats.tx_frames, 2);
    netbe_ctx_free(ctx);
}

/* ---- the hubid= listener ---- */

static void test_listener_three_sources(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *host = probe_new(ctx, "host");
    int lport = free_port(), src[3], i;
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    uint8_t mac0[6] = {0x52, 0x54, 0x00, 0, 0, 0x10};
    struct netbe_client *l, *sub[3];
    char str[256], name[16], info[128];

    snprintf(str, sizeof(str),
             "dgram,id=sw,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "hubid=7",
             lport);
    l = add_ok(ctx, str, NULL);
    snprintf(info, sizeof(info), "udp=127.0.0.1:%d hubid=7", lport);
    assert_string_equal(l->info_str, info);
    /* a local VM on the same hub */
    netbe_hub_add_port(ctx, 7, NULL, &host->nc);

    for (i = 0; i < 3; i++) {
        src[i] = udp_socket("127.0.0.1", 0);
        make_frame(buf, 100, NULL, (uint8_t)(0x10 + i), 0);
        send_to(src[i], lport, buf, 100);
        assert_true(wait_frames(host, i + 1));
        snprintf(name, sizeof(name), "sw.%d", i);
        sub[i] = netbe_find_netdev(ctx, name);
        assert_non_null(sub[i]);
        assert_int_equal(sub[i]->info->type, NETBE_DRIVER_DGRAM);
        assert_int_equal(sub[i]->peer->info->type, NETBE_DRIVER_HUBPORT);
        snprintf(info, sizeof(info), "udp=127.0.0.1:%d/127.0.0.1:%d", lport,
                 port_of(src[i]));
        assert_string_equal(sub[i]->info_str, info);
        /* the broadcast reached the sources that came before */
        for (int j = 0; j < i; j++) {
            assert_int_equal(recv_dgram(src[j], got, sizeof(got)), 100);
            assert_memory_equal(got, buf, 100);
        }
    }
    /* a broadcast from the local VM reaches all three sources */
    make_frame(buf, 120, NULL, 0x20, 0);
    netbe_send_packet(&host->nc, buf, 120);
    for (i = 0; i < 3; i++) {
        assert_int_equal(recv_dgram(src[i], got, sizeof(got)), 120);
        assert_memory_equal(got, buf, 120);
    }
    /* learning: a frame for source 0's MAC goes to source 0 only */
    make_frame(buf, 90, mac0, 0x12, 1);
    send_to(src[2], lport, buf, 90);
    assert_int_equal(recv_dgram(src[0], got, sizeof(got)), 90);
    assert_memory_equal(got, buf, 90);
    pump(20);
    assert_int_equal(recv(src[1], got, sizeof(got), MSG_DONTWAIT), -1);
    assert_int_equal(host->n, 3);
    /* the listener itself carries nothing */
    assert_int_equal(l->stats.tx_frames, 0);
    assert_int_equal(sub[2]->stats.tx_frames, 2);
    assert_int_equal(sub[0]->stats.rx_frames, 4);

    /* deleting the listener takes its clients and their ports along */
    assert_int_equal(tl_count_clients(ctx), 3 + 3 * 2);
    netbe_client_del(l);
    assert_int_equal(tl_count_clients(ctx), 2);
    assert_null(netbe_find_netdev(ctx, "sw.0"));
    for (i = 0; i < 3; i++) {
        close(src[i]);
    }
    netbe_ctx_free(ctx);
}

static void test_listener_learning_off_unix(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    char lpath[128], p[2][128], str[512], info[300];
    uint8_t mac0[6] = {0x52, 0x54, 0x00, 0, 0, 0x10};
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *l, *s0;
    int src[2];

    snprintf(lpath, sizeof(lpath), "%s/sw.sock", tmpdir);
    snprintf(str, sizeof(str),
             "dgram,id=sw,local.type=unix,local.path=%s,hubid=3,"
             "learning=off",
             lpath);
    l = add_ok(ctx, str, NULL);
    snprintf(info, sizeof(info), "udp=%s hubid=3", lpath);
    assert_string_equal(l->info_str, info);
    for (int i = 0; i < 2; i++) {
        snprintf(p[i], sizeof(p[i]), "%s/src%d.sock", tmpdir, i);
        src[i] = unix_socket(p[i]);
        make_frame(buf, 64, NULL, (uint8_t)(0x10 + i), 0);
        send_unix(src[i], lpath, buf, 64);
        pump(30);
    }
    s0 = netbe_find_netdev(ctx, "sw.0");
    assert_non_null(s0);
    snprintf(info, sizeof(info), "udp=%s:%s", lpath, p[0]);
    assert_string_equal(s0->info_str, info);
    assert_int_equal(recv_dgram(src[0], got, sizeof(got)), 64);
    /* without learning a unicast frame is flooded: source 1 hears it */
    make_frame(buf, 70, mac0, 0x11, 1);
    send_unix(src[1], lpath, buf, 70);
    assert_int_equal(recv_dgram(src[0], got, sizeof(got)), 70);
    netbe_ctx_free(ctx);
    for (int i = 0; i < 2; i++) {
        close(src[i]);
        unlink(p[i]);
    }
    /* the listener's path is gone with it */
    assert_int_equal(access(lpath, F_OK), -1);
}

static void test_listener_limits_and_idle(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    int lport = free_port(), src[3], i;
    uint8_t buf[FRAME_MAX];
    struct netbe_client *l;
    char str[256];

    snprintf(str, sizeof(str),
             "dgram,id=sw,local.type=inet,local.host=127.0.0.1,local.port=%d,"
             "hubid=2,max-connections=2,idle-timeout=1",
             lport);
    l = add_ok(ctx, str, NULL);
    tl_capture_start();
    for (i = 0; i < 3; i++) {
        src[i] = udp_socket("127.0.0.1", 0);
        make_frame(buf, 60, NULL, (uint8_t)i, 0);
        send_to(src[i], lport, buf, 60);
        pump(30);
    }
    tl_capture_stop();
    /* the third source is over the limit: dropped, counted, logged once */
    assert_non_null(netbe_find_netdev(ctx, "sw.1"));
    assert_null(netbe_find_netdev(ctx, "sw.2"));
    assert_int_equal(l->stats.drop_no_peer, 1);
    assert_non_null(strstr(tl_msgs.text, "max-connections=2"));

    /* source 0 keeps talking, source 1 goes quiet and is removed */
    for (i = 0; i < 14; i++) {
        make_frame(buf, 60, NULL, 0, (uint32_t)i + 1);
        send_to(src[0], lport, buf, 60);
        pump(100);
    }
    assert_non_null(netbe_find_netdev(ctx, "sw.0"));
    assert_null(netbe_find_netdev(ctx, "sw.1"));
    /* alone on its switch, sw.0's frames have nowhere to go: dropped at
     * its port, counted, and sw.0 is not paused */
    assert_true(netbe_find_netdev(ctx, "sw.0")->peer->stats.drop_no_peer > 0);
    assert_int_equal(netbe_find_netdev(ctx, "sw.0")->stats.drop_queue_full, 0);
    /* its hub port went too: listener, sw.0 and its port remain */
    assert_int_equal(tl_count_clients(ctx), 3);

    /* room again: source 2 gets a client with a fresh name */
    send_to(src[2], lport, buf, 60);
    pump(30);
    assert_non_null(netbe_find_netdev(ctx, "sw.2"));
    for (i = 0; i < 3; i++) {
        close(src[i]);
    }
    netbe_ctx_free(ctx);
}

/* ---- option errors ---- */

static void test_errors(void **state)
{
    char str[512], msg[512], path[200];
    int fd;

    add_err("dgram,id=d", "dgram requires local= parameter");
    add_err("dgram,id=d,remote.type=inet,remote.host=127.0.0.1,"
            "remote.port=7000",
            "dgram requires local= parameter");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=7000",
            "type=inet or type=unix requires remote parameter");
    add_err("dgram,id=d,local.type=unix,local.path=/tmp/x",
            "type=inet or type=unix requires remote parameter");
    add_err("dgram,id=d,local.type=fd,local.str=3,remote.type=inet,"
            "remote.host=127.0.0.1,remote.port=7000",
            "don't set remote with local.fd");
    add_err("dgram,id=d,local.type=unix,local.path=/tmp/a,remote.type=inet,"
            "remote.host=127.0.0.1,remote.port=7000",
            "remote and local types must be the same");
    add_err("dgram,id=d,remote.type=inet,remote.host=230.0.0.1,"
            "remote.port=7000,local.type=unix,local.path=/tmp/a",
            "only support inet or fd type for local");
    add_err("dgram,id=d,remote.type=inet,remote.host=230.0.0.1,"
            "remote.port=7000,local.type=inet,local.host=foo,local.port=1",
            "localaddr 'foo' is not a valid IPv4 address");
    add_err("dgram,id=d,remote.type=inet,remote.host=1.2.3.4.5,"
            "remote.port=7000",
            "host address '1.2.3.4.5' is not a valid IPv4 address");
    add_err("dgram,id=d,remote.type=inet,remote.host=::1,remote.port=7000",
            "can't resolve host address '::1'");
    add_err("dgram,id=d,remote.type=inet,remote.host=127.0.0.1,"
            "remote.port=x",
            "port number 'x' is invalid");
    add_err("dgram,id=d,remote.type=inet,remote.host=127.0.0.1",
            "Parameter 'remote.port' is missing");
    add_err("dgram,id=d,local.type=fd", "Parameter 'local.str' is missing");
    add_err("dgram,id=d,local.type=fd,local.str=987",
            "d: Can't use file descriptor 987: Bad file descriptor");
    add_err("dgram,id=d,local.type=fd,local.str=abc",
            "Invalid file descriptor number 'abc'");
    add_err("dgram,id=d,local.type=inet,local.host=8.8.8.8,local.port=1,"
            "remote.type=inet,remote.host=127.0.0.1,remote.port=7000",
            "can't bind ip=8.8.8.8 to socket: Cannot assign requested "
            "address");
    add_err("dgram,id=d,local.type=unix,local.path=/nonexistent/dir/x,"
            "remote.type=unix,remote.path=/tmp/x",
            "can't bind unix=/nonexistent/dir/x to socket: No such file or "
            "directory");
    memset(path, 'a', 120);
    path[0] = '/';
    path[120] = '\0';
    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=/tmp/x",
             path);
    snprintf(msg, sizeof(msg), "UNIX socket path '%s' is too long", path);
    add_err(str, msg);

    /* a descriptor that is no socket */
    fd = open("/dev/null", O_RDONLY);
    snprintf(str, sizeof(str), "dgram,id=d,local.type=fd,local.str=%d", fd);
    add_err(str, "Unable to query local socket address: Socket operation on "
                 "non-socket");
    /* handed over and refused: closed, as QEMU does */
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    /* multicast with an fd: QEMU's misreading of the address, fd closed */
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    snprintf(str, sizeof(str),
             "dgram,id=d,remote.type=inet,remote.host=239.1.1.1,"
             "remote.port=7000,local.type=fd,local.str=%d",
             fd);
    add_err(str, "port number '(null)' is invalid");
    assert_int_equal(fcntl(fd, F_GETFD), -1);

    /* the keys beyond QEMU */
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "learning=off",
            "learning= is only valid with hubid=");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "idle-timeout=5",
            "idle-timeout= is only valid with hubid=");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "max-connections=5",
            "max-connections= is only valid with hubid=");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "hubid=1,max-connections=0",
            "max-connections= must be between 1 and 1024");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "hubid=1,remote.type=inet,remote.host=127.0.0.1,remote.port=5",
            "hubid= and remote= are exclusive");
    add_err("dgram,id=d,hubid=1", "dgram requires local= parameter");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "hubid=x",
            "Parameter 'hubid' expects an int64 value");
    add_err("dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=0,"
            "hubid=1,learning=maybe",
            "Parameter 'learning' expects 'on' or 'off'");
}

static void test_schema_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    netbe_schema_print_help(netbe_backend_dgram.schema, out);
    fclose(out);
    assert_non_null(strstr(text, "hubid"));
    assert_non_null(strstr(text, "idle-timeout"));
    assert_non_null(strstr(text, "max-connections"));
    assert_non_null(strstr(text, "learning"));
    free(text);
    assert_true(netbe_backend_dgram.netdev_ok);
    assert_true(netbe_backend_dgram.net_ok);
    assert_string_equal(netbe_backend_dgram.name, "dgram");
}

/* An init on a loop whose next fd watch fails: @prefix of the error. */
static void add_err_fake(const struct netbe_backend_type *type, const char *str,
                         const char *prefix)
{
    struct netbe_ctx *ctx = netbe_ctx_new(fk_init(loop));
    struct netbe_error *err = NULL;

    fk.fail_watch = 1;
    assert_int_equal(add(ctx, type, str, NULL, &err), -1);
    assert_int_equal(fk.fail_watch, 0);
    tl_assert_failed_init(ctx, str, err, prefix, true);
}

static void test_watch_failure_closes_fds(void **state)
{
    char path[64], str[256];
    int fds = fk_count_fds();

    /* a client that silently never reads is refused, its socket closed */
    add_err_fake(&netbe_backend_dgram,
                 "dgram,id=d,local.type=inet,local.host=127.0.0.1,"
                 "local.port=0,remote.type=inet,remote.host=127.0.0.1,"
                 "remote.port=9",
                 "cannot watch fd ");
    assert_int_equal(fk_count_fds(), fds);
    add_err_fake(&netbe_backend_dgram,
                 "dgram,id=d,hubid=1,local.type=inet,local.host=127.0.0.1,"
                 "local.port=0",
                 "cannot watch fd ");
    assert_int_equal(fk_count_fds(), fds);
    /* and the unix path it bound is gone again */
    snprintf(path, sizeof(path), "/tmp/netbe-dgram-w%d", getpid());
    snprintf(str, sizeof(str),
             "dgram,id=d,local.type=unix,local.path=%s,remote.type=unix,"
             "remote.path=/tmp/nowhere",
             path);
    add_err_fake(&netbe_backend_dgram, str, "cannot watch fd ");
    assert_int_equal(fk_count_fds(), fds);
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_both_ways),
        cmocka_unit_test(test_udp_batch_in_order),
        cmocka_unit_test(test_udp_gso_runs),
        cmocka_unit_test(test_udp_gro_run_in),
        cmocka_unit_test(test_unix_both_ways),
        cmocka_unit_test(test_fd),
        cmocka_unit_test(test_oversize_and_empty),
        cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_kernel_drops_counted),
        cmocka_unit_test(test_slow_vm_backlog_bounded),
        cmocka_unit_test(test_send_error_counted),
        cmocka_unit_test(test_multicast),
        cmocka_unit_test(test_listener_three_sources),
        cmocka_unit_test(test_listener_learning_off_unix),
        cmocka_unit_test(test_listener_limits_and_idle),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_schema_help),
        cmocka_unit_test(test_watch_failure_closes_fds),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
