/*
 * test_socket.c - the legacy socket netdev against real sockets: listen=
 * (one client at a time, the next waiting in the backlog), connect=,
 * mcast=, udp= and fd= of both kinds, in both directions with QEMU's
 * 4-byte length framing; batches, flow control, a peer sending garbage,
 * an oversized length or half a frame; QEMU 7.2's option errors and
 * info strings word for word.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/backends.h"
#include "testlib.h"

#include "fakeloop.h"

#define FRAME_MAX 2048

/* The VM side: records frames in arrival order, may refuse. */
struct probe {
    struct netbe_client nc;
    int n;
    bool in_order;
    uint32_t next_seq;
    size_t len[8];
    uint8_t data[8][FRAME_MAX];
};

static ssize_t probe_receive(struct netbe_client *nc, const uint8_t *buf,
                             size_t size)
{
    struct probe *p = (struct probe *)nc;

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

static struct probe *probe_new(struct netbe_ctx *ctx, const char *name)
{
    struct probe *p =
        (struct probe *)netbe_client_new(ctx, &probe_info, NULL, "probe", name);

    p->in_order = true;
    return p;
}

static size_t make_frame(uint8_t *buf, size_t len, uint8_t src, uint32_t seq)
{
    memset(buf, 0xff, 6);
    memcpy(buf + 6, (uint8_t[]){0x52, 0x54, 0x00, 0, 0, src}, 6);
    buf[12] = 0x08;
    buf[13] = 0x00;
    buf[14] = (uint8_t)(seq >> 24);
    buf[15] = (uint8_t)(seq >> 16);
    buf[16] = (uint8_t)(seq >> 8);
    buf[17] = (uint8_t)seq;
    for (size_t i = 18; i < len; i++) {
        buf[i] = (uint8_t)(seq * 13 + i);
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

/* @len bytes from a stream, running the loop while they trickle in. */
static bool read_exact(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;

    for (int i = 0; i < 5000 && got < len; i++) {
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);

        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return false;
        }
        netbe_loop_run_once(loop, 0);
        usleep(200);
    }
    return got == len;
}

/* One framed frame from a stream: its length, or -1. */
static ssize_t read_frame(int fd, uint8_t *buf, size_t max)
{
    uint8_t hdr[4];
    uint32_t len;

    if (!read_exact(fd, hdr, 4)) {
        return -1;
    }
    len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
          (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > max || !read_exact(fd, buf, len)) {
        return -1;
    }
    return len;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void write_frame(int fd, const uint8_t *buf, uint32_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                      (uint8_t)(len >> 8), (uint8_t)len};

    write_all(fd, hdr, 4);
    write_all(fd, buf, len);
}

static int tcp_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static int tcp_listen(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

static int free_port(int type)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, type, 0), port;

    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    port = port_of(fd);
    close(fd);
    return port;
}

static int add(struct netbe_ctx *ctx, const char *str,
               struct netbe_client *peer, struct netbe_error **errp)
{
    struct netbe_opts *opts = netbe_opts_parse(str, "type", errp);
    int ret = -1;

    if (!opts) {
        return -1;
    }
    if (netbe_opts_check(opts, netbe_backend_socket.schema, errp) == 0) {
        ret = netbe_backend_socket.init(ctx, opts, netbe_opts_get(opts, "id"),
                                        peer, errp);
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
    if (add(ctx, str, peer, &err) < 0) {
        fail_msg("%s: %s", str, netbe_error_msg(err));
    }
    return netbe_find_netdev(ctx, id);
}

static void add_err(const char *str, const char *msg)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct netbe_error *err = NULL;

    assert_int_equal(add(ctx, str, NULL, &err), -1);
    tl_assert_failed_init(ctx, str, err, msg, false);
}

static int setup(void **state)
{
    loop = netbe_loop_default();
    return 0;
}

static int teardown(void **state)
{
    netbe_loop_close(loop);
    return 0;
}

/* Both directions over an established stream @fd of client @nc. */
static void check_stream_both_ways(struct netbe_client *nc, struct probe *vm,
                                   int fd)
{
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    int before = vm->n;

    make_frame(buf, 1200, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 1200), 1200);
    assert_int_equal(read_frame(fd, got, sizeof(got)), 1200);
    assert_memory_equal(got, buf, 1200);

    make_frame(buf, 60, 2, 0);
    write_frame(fd, buf, 60);
    assert_true(wait_frames(vm, before + 1));
    assert_int_equal(vm->len[before], 60);
    assert_memory_equal(vm->data[before], buf, 60);
}

/* ---- listen= ---- */

static void test_listen(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    int port = free_port(SOCK_STREAM), c1, c2;
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *nc;
    char str[128], info[128];

    snprintf(str, sizeof(str), "socket,id=s,listen=127.0.0.1:%d", port);
    nc = add_ok(ctx, str, &vm->nc);
    assert_int_equal(nc->info->type, NETBE_DRIVER_SOCKET);
    assert_string_equal(nc->model, "socket");
    /* waiting: QEMU shows nothing and keeps the link down */
    assert_string_equal(nc->info_str, "");
    assert_true(nc->link_down);
    make_frame(buf, 100, 1, 0);
    netbe_send_packet(&vm->nc, buf, 100);
    assert_int_equal(nc->stats.drop_link_down, 1);

    c1 = tcp_connect(port);
    snprintf(info, sizeof(info), "socket: connection from 127.0.0.1:%d",
             port_of(c1));
    for (int i = 0; i < 2000 && nc->link_down; i++) {
        pump(1);
    }
    assert_false(nc->link_down);
    assert_string_equal(nc->info_str, info);
    check_stream_both_ways(nc, vm, c1);

    /* a second client waits in the backlog, unserved */
    c2 = tcp_connect(port);
    make_frame(buf, 70, 3, 0);
    write_frame(c2, buf, 70);
    pump(50);
    assert_int_equal(vm->n, 1);
    assert_string_equal(nc->info_str, info);

    /* the first leaves: down, empty, then the second is taken */
    close(c1);
    for (int i = 0; i < 2000 && !nc->link_down; i++) {
        pump(1);
    }
    assert_true(wait_frames(vm, 2));
    assert_memory_equal(vm->data[1], buf, 70);
    snprintf(info, sizeof(info), "socket: connection from 127.0.0.1:%d",
             port_of(c2));
    assert_false(nc->link_down);
    assert_string_equal(nc->info_str, info);
    make_frame(buf, 80, 1, 1);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 80), 80);
    assert_int_equal(read_frame(c2, got, sizeof(got)), 80);
    assert_memory_equal(got, buf, 80);
    close(c2);
    netbe_ctx_free(ctx);
}

/* ---- connect= ---- */

static void test_connect(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    int port, lfd = tcp_listen(&port), fd;
    struct netbe_client *nc;
    char str[128], info[128];

    snprintf(str, sizeof(str), "socket,id=c,connect=127.0.0.1:%d", port);
    nc = add_ok(ctx, str, &vm->nc);
    snprintf(info, sizeof(info), "socket: connect to 127.0.0.1:%d", port);
    assert_string_equal(nc->info_str, info);
    assert_false(nc->link_down);

    /* a frame sent while connecting waits, then leaves */
    make_frame(buf, 500, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 500), 500);
    fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    assert_int_equal(read_frame(fd, got, sizeof(got)), 500);
    assert_memory_equal(got, buf, 500);
    check_stream_both_ways(nc, vm, fd);

    /* the server goes away: the link goes down, info_str empties */
    close(fd);
    for (int i = 0; i < 2000 && !nc->link_down; i++) {
        pump(1);
    }
    assert_true(nc->link_down);
    assert_string_equal(nc->info_str, "");
    close(lfd);
    netbe_ctx_free(ctx);
}

static void test_connect_refused(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    int port = free_port(SOCK_STREAM);
    struct netbe_client *nc;
    char str[128];

    /* as QEMU: no error at init, the connection just ends */
    snprintf(str, sizeof(str), "socket,id=c,connect=127.0.0.1:%d", port);
    tl_capture_start();
    nc = add_ok(ctx, str, NULL);
    for (int i = 0; i < 2000 && !nc->link_down; i++) {
        pump(1);
    }
    tl_capture_stop();
    assert_true(nc->link_down);
    assert_string_equal(nc->info_str, "");
    assert_non_null(strstr(tl_msgs.text, "Connection refused"));
    netbe_ctx_free(ctx);
}

/* ---- batches, flow control ---- */

static void test_batch_and_flow_control(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    int sv[2], fd, i, n = 3000;
    struct netbe_client *nc;
    char str[128];

    /*
     * A unix stream: the writer blocks as soon as the reader's side is
     * full, without TCP's window dynamics slowing the test down.
     */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fd = sv[1];
    snprintf(str, sizeof(str), "socket,id=c,fd=%d", sv[0]);
    nc = add_ok(ctx, str, &vm->nc);

    /* 100 frames in one batch arrive whole and in order */
    netbe_batch_begin(ctx);
    for (i = 0; i < 100; i++) {
        make_frame(buf, 100 + i, 1, (uint32_t)i);
        assert_int_equal(netbe_send_packet(&vm->nc, buf, 100 + i), 100 + i);
    }
    netbe_batch_end(ctx);
    for (i = 0; i < 100; i++) {
        uint8_t want[FRAME_MAX];

        make_frame(want, 100 + i, 1, (uint32_t)i);
        assert_int_equal(read_frame(fd, got, sizeof(got)), 100 + i);
        assert_memory_equal(got, want, 100 + i);
    }

    /* the peer stops reading: socket, then our buffer, then the core */
    for (i = 0; i < n; i++) {
        make_frame(buf, 1400, 1, (uint32_t)i);
        assert_true(netbe_send_packet(&vm->nc, buf, 1400) >= 0);
    }
    assert_true(nc->receive_disabled);
    assert_true(nc->incoming_queue->count > 0);

    /* it reads again: everything, in order */
    for (i = 0; i < n; i++) {
        uint8_t want[FRAME_MAX];

        make_frame(want, 1400, 1, (uint32_t)i);
        assert_int_equal(read_frame(fd, got, sizeof(got)), 1400);
        assert_memory_equal(got, want, 1400);
    }
    pump(10);
    assert_false(nc->receive_disabled);
    assert_int_equal(nc->incoming_queue->count, 0);
    assert_int_equal(nc->stats.rx_frames, 100 + n);
    assert_int_equal(nc->stats.drop_error + nc->stats.drop_queue_full, 0);

    /* many frames in one write come out as many frames, in order */
    {
        static uint8_t stream[200 * 104];
        size_t off = 0;

        for (i = 0; i < 200; i++) {
            stream[off] = stream[off + 1] = stream[off + 2] = 0;
            stream[off + 3] = 100;
            make_frame(stream + off + 4, 100, 2, (uint32_t)i);
            off += 104;
        }
        write_all(fd, stream, off);
        assert_true(wait_frames(vm, 200));
        assert_true(vm->in_order);
    }
    close(fd);
    netbe_ctx_free(ctx);
}

/* ---- bad input ---- */

static struct netbe_client *listen_and_join(struct netbe_ctx *ctx,
                                            const char *id, struct probe *vm,
                                            int *port, int *fd)
{
    struct netbe_client *nc;
    char str[128];

    *port = free_port(SOCK_STREAM);
    snprintf(str, sizeof(str), "socket,id=%s,listen=127.0.0.1:%d", id, *port);
    nc = add_ok(ctx, str, &vm->nc);
    *fd = tcp_connect(*port);
    for (int i = 0; i < 2000 && nc->link_down; i++) {
        pump(1);
    }
    assert_false(nc->link_down);
    return nc;
}

static void wait_down(struct netbe_client *nc)
{
    for (int i = 0; i < 2000 && !nc->link_down; i++) {
        pump(1);
    }
    assert_true(nc->link_down);
}

static void test_bad_input(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm"), *vm2 = probe_new(ctx, "vm2");
    uint8_t buf[FRAME_MAX];
    struct netbe_client *nc, *other;
    int port, fd, port2, fd2;
    static const uint8_t oversized[4] = {0x00, 0x10, 0x00, 0x00};
    static const uint8_t garbage[8] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};

    nc = listen_and_join(ctx, "s", vm, &port, &fd);
    other = listen_and_join(ctx, "t", vm2, &port2, &fd2);
    tl_capture_start();

    /* a good frame, then a length over the limit */
    make_frame(buf, 64, 1, 0);
    write_frame(fd, buf, 64);
    write_all(fd, oversized, 4);
    wait_down(nc);
    assert_int_equal(vm->n, 1);
    assert_int_equal(nc->stats.drop_malformed, 1);
    assert_string_equal(nc->info_str, "");
    assert_non_null(strstr(tl_msgs.text, "oversized packet received"));
    close(fd);

    /* the listener takes the next client; garbage ends that one too */
    fd = tcp_connect(port);
    for (int i = 0; i < 2000 && nc->link_down; i++) {
        pump(1);
    }
    assert_false(nc->link_down);
    write_all(fd, garbage, sizeof(garbage));
    wait_down(nc);
    assert_int_equal(nc->stats.drop_malformed, 2);
    close(fd);

    /* half a frame, then the peer closes */
    fd = tcp_connect(port);
    for (int i = 0; i < 2000 && nc->link_down; i++) {
        pump(1);
    }
    write_all(fd, (uint8_t[]){0, 0, 0, 100}, 4);
    write_all(fd, buf, 30);
    pump(20);
    close(fd);
    wait_down(nc);
    assert_int_equal(nc->stats.drop_malformed, 3);
    assert_int_equal(vm->n, 1);
    tl_capture_stop();
    /* one line per bad connection */
    assert_int_equal(tl_msgs.count, 3);

    /* the other netdev never noticed */
    assert_false(other->link_down);
    check_stream_both_ways(other, vm2, fd2);
    assert_int_equal(other->stats.drop_malformed, 0);

    /* and a new client of the first still works */
    fd = tcp_connect(port);
    for (int i = 0; i < 2000 && nc->link_down; i++) {
        pump(1);
    }
    check_stream_both_ways(nc, vm, fd);
    close(fd);
    close(fd2);
    netbe_ctx_free(ctx);
}

/* ---- datagram modes ---- */

static void test_mcast(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *a = probe_new(ctx, "a"), *b = probe_new(ctx, "b");
    int port = free_port(SOCK_DGRAM);
    uint8_t buf[FRAME_MAX];
    struct netbe_client *na;
    char str[128], info[64];

    snprintf(str, sizeof(str),
             "socket,id=ma,mcast=239.255.78.1:%d,localaddr=127.0.0.1", port);
    na = add_ok(ctx, str, &a->nc);
    snprintf(str, sizeof(str),
             "socket,id=mb,mcast=239.255.78.1:%d,localaddr=127.0.0.1", port);
    add_ok(ctx, str, &b->nc);
    snprintf(info, sizeof(info), "socket: mcast=239.255.78.1:%d", port);
    assert_string_equal(na->info_str, info);
    assert_int_equal(na->info->type, NETBE_DRIVER_SOCKET);
    assert_string_equal(na->model, "socket");

    make_frame(buf, 333, 1, 0);
    assert_int_equal(netbe_send_packet(&a->nc, buf, 333), 333);
    assert_true(wait_frames(b, 1));
    assert_int_equal(b->len[0], 333);
    assert_memory_equal(b->data[0], buf, 333);
    make_frame(buf, 64, 2, 0);
    assert_int_equal(netbe_send_packet(&b->nc, buf, 64), 64);
    assert_true(wait_frames(a, 2)); /* its own frame, then B's */
    assert_memory_equal(a->data[1], buf, 64);
    netbe_ctx_free(ctx);
}

static void test_udp(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    int sock = socket(AF_INET, SOCK_DGRAM, 0), lport, rport;
    struct netbe_client *nc;
    char str[160], info[64];

    assert_int_equal(bind(sock, (struct sockaddr *)&sin, sizeof(sin)), 0);
    rport = port_of(sock);
    lport = free_port(SOCK_DGRAM);
    snprintf(str, sizeof(str),
             "socket,id=u,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", rport,
             lport);
    nc = add_ok(ctx, str, &vm->nc);
    snprintf(info, sizeof(info), "socket: udp=127.0.0.1:%d", rport);
    assert_string_equal(nc->info_str, info);

    make_frame(buf, 900, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 900), 900);
    for (int i = 0; i < 2000; i++) {
        if (recv(sock, got, sizeof(got), MSG_DONTWAIT | MSG_PEEK) > 0) {
            break;
        }
        pump(1);
    }
    assert_int_equal(recv(sock, got, sizeof(got), 0), 900);
    assert_memory_equal(got, buf, 900);

    make_frame(buf, 77, 2, 0);
    sin.sin_port = htons((uint16_t)lport);
    assert_int_equal(
        sendto(sock, buf, 77, 0, (struct sockaddr *)&sin, sizeof(sin)), 77);
    assert_true(wait_frames(vm, 1));
    assert_memory_equal(vm->data[0], buf, 77);
    close(sock);
    netbe_ctx_free(ctx);
}

static void test_fd_stream(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    struct netbe_client *nc;
    char str[64], info[64];
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    snprintf(str, sizeof(str), "socket,id=f,fd=%d", sv[0]);
    nc = add_ok(ctx, str, &vm->nc);
    snprintf(info, sizeof(info), "socket: fd=%d", sv[0]);
    assert_string_equal(nc->info_str, info);
    check_stream_both_ways(nc, vm, sv[1]);
    close(sv[1]);
    wait_down(nc);
    assert_string_equal(nc->info_str, "");
    netbe_ctx_free(ctx);
}

static void test_fd_dgram(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    uint8_t buf[FRAME_MAX], got[FRAME_MAX];
    struct netbe_client *nc;
    char str[64], info[64];
    int sv[2], sock;
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    snprintf(str, sizeof(str), "socket,id=f,fd=%d", sv[0]);
    nc = add_ok(ctx, str, &vm->nc);
    snprintf(info, sizeof(info), "socket: fd=%d unix", sv[0]);
    assert_string_equal(nc->info_str, info);
    assert_int_equal(nc->info->type, NETBE_DRIVER_SOCKET);
    make_frame(buf, 250, 1, 0);
    assert_int_equal(netbe_send_packet(&vm->nc, buf, 250), 250);
    for (int i = 0; i < 2000; i++) {
        if (recv(sv[1], got, sizeof(got), MSG_DONTWAIT | MSG_PEEK) > 0) {
            break;
        }
        pump(1);
    }
    assert_int_equal(recv(sv[1], got, sizeof(got), 0), 250);
    assert_memory_equal(got, buf, 250);
    assert_int_equal(send(sv[1], buf, 99, 0), 99);
    assert_true(wait_frames(vm, 1));
    close(sv[1]);

    /* a connected UDP socket: "inet", and sending works */
    sock = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(sock, (struct sockaddr *)&sin, sizeof(sin)), 0);
    sv[0] = socket(AF_INET, SOCK_DGRAM, 0);
    sin.sin_port = htons((uint16_t)port_of(sock));
    assert_int_equal(connect(sv[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
    snprintf(str, sizeof(str), "socket,id=g,fd=%d", sv[0]);
    {
        struct probe *vm2 = probe_new(ctx, "vm2");

        nc = add_ok(ctx, str, &vm2->nc);
        snprintf(info, sizeof(info), "socket: fd=%d inet", sv[0]);
        assert_string_equal(nc->info_str, info);
        assert_int_equal(netbe_send_packet(&vm2->nc, buf, 120), 120);
        for (int i = 0; i < 2000; i++) {
            if (recv(sock, got, sizeof(got), MSG_DONTWAIT | MSG_PEEK) > 0) {
                break;
            }
            pump(1);
        }
        assert_int_equal(recv(sock, got, sizeof(got), 0), 120);
        assert_int_equal(nc->stats.drop_error, 0);
    }
    close(sock);
    netbe_ctx_free(ctx);
}

/* ---- option errors ---- */

static void test_errors(void **state)
{
    char str[128], msg[160];
    int fd;

    add_err("socket,id=s",
            "exactly one of listen=, connect=, mcast= or udp= is required");
    add_err("socket,id=s,listen=:7000,connect=127.0.0.1:7000",
            "exactly one of listen=, connect=, mcast= or udp= is required");
    add_err("socket,id=s,fd=3,mcast=239.1.1.1:7000",
            "exactly one of listen=, connect=, mcast= or udp= is required");
    add_err("socket,id=s,listen=:7000,localaddr=127.0.0.1",
            "localaddr= is only valid with mcast= or udp=");
    add_err("socket,id=s,udp=127.0.0.1:7000",
            "localaddr= is mandatory with udp=");
    add_err("socket,id=s,udp=127.0.0.1:7000,localaddr=127.0.0.1",
            "host address '127.0.0.1' doesn't contain ':' separating host "
            "from port");
    add_err("socket,id=s,listen=7000",
            "host address '7000' doesn't contain ':' separating host from "
            "port");
    add_err("socket,id=s,listen=1.2.3.4.5:7000",
            "host address '1.2.3.4.5' is not a valid IPv4 address");
    add_err("socket,id=s,listen=:x", "port number 'x' is invalid");
    add_err("socket,id=s,mcast=127.0.0.1:7000",
            "specified mcastaddr 127.0.0.1 (0x7f000001) does not contain a "
            "multicast address");
    add_err("socket,id=s,mcast=239.1.1.1:7000,localaddr=foo",
            "localaddr 'foo' is not a valid IPv4 address");
    add_err("socket,id=s,mcast=239.1.1.1:7000,localaddr=192.0.2.77",
            "can't add socket to multicast group 239.1.1.1: No such device");
    add_err("socket,id=s,fd=987",
            "s: Can't use file descriptor 987: Bad file descriptor");
    add_err("socket,id=s,fd=abc", "Invalid file descriptor number 'abc'");
    add_err("socket,id=s,fd=-3", "Invalid file descriptor number '-3'");
    add_err("socket,id=s,listen=8.8.8.8:7000",
            "can't bind ip=8.8.8.8 to socket: Cannot assign requested "
            "address");
    add_err("socket,id=s,udp=127.0.0.1:7000,localaddr=8.8.8.8:7001",
            "can't bind ip=8.8.8.8 to socket: Cannot assign requested "
            "address");
    add_err("socket,id=s,foo=1", "Invalid parameter 'foo'");

    /* not a socket: the fd is closed, as QEMU does */
    fd = open("/dev/null", O_RDONLY);
    snprintf(str, sizeof(str), "socket,id=s,fd=%d", fd);
    add_err(str, "can't get socket option SO_TYPE");
    assert_int_equal(fcntl(fd, F_GETFD), -1);

    /* a socket of neither kind */
    fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    snprintf(str, sizeof(str), "socket,id=s,fd=%d", fd);
    snprintf(msg, sizeof(msg),
             "socket type=%d for fd=%d must be either SOCK_DGRAM or "
             "SOCK_STREAM",
             SOCK_SEQPACKET, fd);
    add_err(str, msg);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
}

/* ---- hang-ups while paused, resets, error paths ---- */

static void test_paused_peer_hangs_up(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    uint8_t buf[FRAME_MAX];
    struct netbe_client *nc;
    int port, fd, fds;

    fds = fk_count_fds();
    nc = listen_and_join(ctx, "s", vm, &port, &fd);
    /* the VM says "not now": the connection stops reading */
    vm->nc.receive_disabled = true;
    for (uint32_t i = 0; i < 5; i++) {
        write_frame(fd, buf, (uint32_t)make_frame(buf, 64, 1, i));
    }
    pump(30);
    assert_int_equal(vm->n, 0);
    /* the peer leaves while paused: noticed, the next one can come */
    close(fd);
    wait_down(nc);
    /* what it sent first still arrives, in order */
    netbe_flush_queued(&vm->nc);
    assert_true(wait_frames(vm, 5));
    assert_true(vm->in_order);
    netbe_ctx_free(ctx);
    pump(5);
    assert_int_equal(fk_count_fds(), fds);
}

static void test_reset_mid_frame(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct probe *vm = probe_new(ctx, "vm");
    uint8_t buf[FRAME_MAX];
    struct netbe_client *nc;
    int port, fd;

    nc = listen_and_join(ctx, "s", vm, &port, &fd);
    tl_capture_start();
    /* frames the peer never reads: its close becomes a reset */
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(netbe_send_packet(&vm->nc, buf, make_frame(buf, 64, 2, i)) >
                    0);
    }
    pump(10);
    write_all(fd, (uint8_t[]){0, 0, 0, 100}, 4);
    write_all(fd, buf, 30);
    pump(20);
    close(fd);
    wait_down(nc);
    tl_capture_stop();
    assert_int_equal(nc->stats.drop_malformed, 1);
    assert_non_null(strstr(tl_msgs.text, "in the middle of a frame"));
    assert_null(strstr(tl_msgs.text, "connection error"));
    netbe_ctx_free(ctx);
}

/* An init on a loop whose next fd watch fails: @prefix of the error. */
static void add_err_fake(const char *str, const char *prefix)
{
    struct netbe_ctx *ctx = netbe_ctx_new(fk_init(loop));
    struct netbe_error *err = NULL;

    fk.fail_watch = 1;
    assert_int_equal(add(ctx, str, NULL, &err), -1);
    assert_int_equal(fk.fail_watch, 0);
    tl_assert_failed_init(ctx, str, err, prefix, true);
}

static void test_error_paths_close_fds(void **state)
{
    char str[128], msg[64];
    int fds, l, port, fd;

    l = tcp_listen(&port);
    fds = fk_count_fds();
    /* no client that silently never reads: the init fails, fds closed */
    snprintf(str, sizeof(str), "socket,id=s,listen=127.0.0.1:%d",
             free_port(SOCK_STREAM));
    add_err_fake(str, "cannot watch fd ");
    assert_int_equal(fk_count_fds(), fds);
    snprintf(str, sizeof(str), "socket,id=s,connect=127.0.0.1:%d", port);
    add_err_fake(str, "cannot watch fd ");
    assert_int_equal(fk_count_fds(), fds);
    snprintf(str, sizeof(str),
             "socket,id=s,udp=127.0.0.1:%d,localaddr=127.0.0.1:0", port);
    add_err_fake(str, "cannot watch fd ");
    assert_int_equal(fk_count_fds(), fds);

    /* a datagram socket of a family QEMU cannot name: closed too */
    fd = socket(AF_NETLINK, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    snprintf(str, sizeof(str), "socket,id=s,fd=%d", fd);
    snprintf(msg, sizeof(msg), "socket family %d unsupported", AF_NETLINK);
    add_err(str, msg);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    close(l);
}

static void test_type(void **state)
{
    assert_string_equal(netbe_backend_socket.name, "socket");
    assert_true(netbe_backend_socket.netdev_ok);
    assert_true(netbe_backend_socket.net_ok);
    assert_int_equal(netbe_backend_socket.driver, NETBE_DRIVER_SOCKET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_batch_and_flow_control),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_mcast),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_fd_stream),
        cmocka_unit_test(test_fd_dgram),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_paused_peer_hangs_up),
        cmocka_unit_test(test_reset_mid_frame),
        cmocka_unit_test(test_error_paths_close_fds),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
