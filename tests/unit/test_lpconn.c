/*
 * test_lpconn.c - the length-prefixed connection that the stream and
 * socket netdevs share, on its own: a test client embeds one, a socket
 * pair (or a TCP connect to ourselves) is its wire, a recording client is
 * its peer, and the default libuv loop drives it.  Frames both ways
 * byte-exact and in order; a frame the peer cannot take pauses reading
 * until its sent-callback, yet a hang-up is still noticed; a full
 * transmit buffer says "not now", the core holds the frames and they
 * leave, in order, when the socket is writable; EOF inside a frame, an
 * oversized length and a failed write end the connection, counted; an
 * ended() that deletes its client is safe; a connect under way either
 * holds or drops frames, as the backend asks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/lpconn.h"
#include "netbe/loop.h"
#include "testlib.h"

/* ---- a client that carries its frames on an lpconn ---- */

struct tc {
    struct netbe_client nc; /* first: the core allocates info->size */
    struct netbe_lpconn conn;
    struct netbe_lpconn_warn warn;
    int ended, connected;
    enum netbe_lpconn_end why;
    int err;
    char msg[256];
    bool del_on_end; /* delete the client from ended(), as a hub conn */
};

/* what a deleted client told, for the test that deletes one */
static int deleted_ends;

static struct tc *tc_of(struct netbe_client *nc)
{
    return (struct tc *)nc;
}

static ssize_t tc_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                              int iovcnt)
{
    return netbe_lpconn_receive(&tc_of(nc)->conn, iov, iovcnt);
}

static void tc_flush(struct netbe_client *nc)
{
    netbe_lpconn_flush(&tc_of(nc)->conn);
}

static void tc_cleanup(struct netbe_client *nc)
{
    netbe_lpconn_destroy(&tc_of(nc)->conn);
}

static void tc_sent(struct netbe_client *nc, ssize_t ret)
{
    netbe_lpconn_sent(&tc_of(nc)->conn);
}

static void tc_connected(struct netbe_lpconn *c)
{
    tc_of(c->nc)->connected++;
}

static void tc_ended(struct netbe_lpconn *c, enum netbe_lpconn_end why, int err,
                     const char *msg)
{
    struct tc *t = tc_of(c->nc);

    assert_int_equal(c->fd, -1); /* closed before we are told */
    t->ended++;
    t->why = why;
    t->err = err;
    snprintf(t->msg, sizeof(t->msg), "%s", msg ? msg : "");
    if (t->del_on_end) {
        deleted_ends++;
        netbe_client_del(&t->nc);
    }
}

static const struct netbe_lpconn_ops tc_ops = {
    .prefix = "tc ",
    .sent = tc_sent,
    .connected = tc_connected,
    .ended = tc_ended,
};

static const struct netbe_lpconn_ops tc_ops_hold = {
    .prefix = "tc ",
    .tx_while_connecting = true,
    .sent = tc_sent,
    .connected = tc_connected,
    .ended = tc_ended,
};

static const struct netbe_client_info tc_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tc),
    .receive_iov = tc_receive_iov,
    .flush = tc_flush,
    .cleanup = tc_cleanup,
};

/* ---- fixture ---- */

struct fx {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct tl_client *peer; /* records what the connection reads */
    struct tc *t;
    int far; /* the other end of the wire, or -1 */
};

static struct tc *tc_new(struct fx *f, const struct netbe_lpconn_ops *ops)
{
    struct tc *t;

    t = tc_of(netbe_client_new(f->ctx, &tc_info, &f->peer->nc, "tc", "t0"));
    assert_non_null(t);
    netbe_lpconn_init(&t->conn, &t->nc, ops, &t->warn, NULL);
    return t;
}

/* A connection on one end of a socket pair; the test holds the other. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    int sv[2];

    assert_non_null(f);
    tl_reset();
    deleted_ends = 0;
    f->loop = netbe_loop_default();
    f->ctx = netbe_ctx_new(f->loop);
    f->peer = tl_new(f->ctx, &tl_info_iov, NULL, "rec", "rec0");
    f->t = tc_new(f, &tc_ops);
    assert_int_equal(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
        0);
    assert_int_equal(netbe_lpconn_attach(&f->t->conn, sv[0], false), 0);
    f->far = sv[1];
    tl_capture_start();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    tl_capture_stop();
    netbe_ctx_free(f->ctx);
    /* let libuv run the close callbacks of the handles just dropped */
    for (int i = 0; i < 5; i++) {
        netbe_loop_run_once(f->loop, 0);
    }
    netbe_loop_close(f->loop);
    if (f->far >= 0) {
        close(f->far);
    }
    free(f);
    return 0;
}

static void pump(struct fx *f, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        netbe_loop_run_once(f->loop, 0);
        usleep(200);
    }
}

#define RUN_UNTIL(f, cond)                                                     \
    do {                                                                       \
        for (int i_ = 0; i_ < 20000 && !(cond); i_++) {                        \
            netbe_loop_run_once((f)->loop, 0);                                 \
            usleep(100);                                                       \
        }                                                                      \
        assert_true(cond);                                                     \
    } while (0)

/* Write frame @len of pattern @seed with its length to the far end. */
static void far_send(struct fx *f, size_t len, uint8_t seed)
{
    uint8_t *buf = malloc(len + 4);
    uint32_t be = htonl((uint32_t)len);

    assert_non_null(buf);
    memcpy(buf, &be, 4);
    tl_fill(buf + 4, len, seed);
    assert_int_equal(send(f->far, buf, len + 4, MSG_NOSIGNAL), len + 4);
    free(buf);
}

/* Exactly @len bytes from the far end, running the loop meanwhile. */
static void far_read(struct fx *f, uint8_t *buf, size_t len)
{
    size_t got = 0;

    for (int i = 0; i < 50000 && got < len; i++) {
        ssize_t n = recv(f->far, buf + got, len - got, MSG_DONTWAIT);

        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        netbe_loop_run_once(f->loop, 0);
        usleep(50);
    }
    assert_int_equal(got, len);
}

/* The next frame at the far end is @len bytes of pattern @seed. */
static void far_expect(struct fx *f, size_t len, uint8_t seed)
{
    uint8_t *buf = malloc(len + 4), *want = malloc(len);
    uint32_t be;

    assert_non_null(buf);
    assert_non_null(want);
    far_read(f, buf, len + 4);
    memcpy(&be, buf, 4);
    assert_int_equal(ntohl(be), len);
    tl_fill(want, len, seed);
    assert_memory_equal(buf + 4, want, len);
    free(buf);
    free(want);
}

/* ---- tests ---- */

static void test_frames_both_ways(void **state)
{
    struct fx *f = *state;
    struct netbe_client *nc = &f->t->nc;

    /* in: several frames in one write, one split across two writes */
    far_send(f, 60, 1);
    far_send(f, 1514, 2);
    far_send(f, 1, 3);
    RUN_UNTIL(f, f->peer->nframes == 3);
    tl_assert_frame(f->peer, 0, 60, 1);
    tl_assert_frame(f->peer, 1, 1514, 2);
    tl_assert_frame(f->peer, 2, 1, 3);
    {
        uint8_t buf[4 + 100];
        uint32_t be = htonl(100);

        memcpy(buf, &be, 4);
        tl_fill(buf + 4, 100, 4);
        assert_int_equal(send(f->far, buf, 30, 0), 30);
        pump(f, 20);
        assert_int_equal(f->peer->nframes, 3);
        assert_int_equal(send(f->far, buf + 30, sizeof(buf) - 30, 0),
                         sizeof(buf) - 30);
        RUN_UNTIL(f, f->peer->nframes == 4);
        tl_assert_frame(f->peer, 3, 100, 4);
    }

    /* out: a batch leaves in order with QEMU's length in front */
    netbe_batch_begin(f->ctx);
    assert_int_equal(tl_send(&f->peer->nc, 60, 10), 60);
    assert_int_equal(tl_send(&f->peer->nc, 9000, 11), 9000);
    assert_int_equal(tl_send(&f->peer->nc, 42, 12), 42);
    netbe_batch_end(f->ctx);
    far_expect(f, 60, 10);
    far_expect(f, 9000, 11);
    far_expect(f, 42, 12);
    assert_int_equal(nc->stats.rx_frames, 3);
    assert_int_equal(nc->stats.drop_error, 0);
    assert_int_equal(nc->stats.drop_link_down, 0);
    assert_int_equal(f->t->ended, 0);
    assert_int_equal(tl_msgs.count, 0);

    /* a clean close between frames is EOF, and nothing is counted */
    close(f->far);
    f->far = -1;
    RUN_UNTIL(f, f->t->ended == 1);
    assert_int_equal(f->t->why, NETBE_LPCONN_EOF);
    assert_int_equal(nc->stats.drop_malformed, 0);
    assert_int_equal(f->t->conn.fd, -1);
    /* no connection: a frame is dropped as link-down */
    assert_int_equal(tl_send(&f->peer->nc, 60, 13), 60);
    assert_int_equal(nc->stats.drop_link_down, 1);
}

static void test_pause_resume(void **state)
{
    struct fx *f = *state;
    struct netbe_lpconn *c = &f->t->conn;

    /* the peer says "not now": the frame waits and reading stops */
    f->peer->mode = TL_REFUSE;
    far_send(f, 100, 1);
    RUN_UNTIL(f, c->read_paused);
    assert_int_equal(c->events & (NETBE_EV_READ | NETBE_EV_HUP), NETBE_EV_HUP);
    far_send(f, 100, 2);
    pump(f, 50);
    assert_true(c->read_paused);
    assert_int_equal(f->peer->nframes, 0);

    /* delivered: its sent-callback resumes reading, order is kept */
    f->peer->mode = TL_ACCEPT;
    netbe_flush_queued(&f->peer->nc);
    assert_false(c->read_paused);
    assert_true(c->events & NETBE_EV_READ);
    RUN_UNTIL(f, f->peer->nframes == 2);
    tl_assert_frame(f->peer, 0, 100, 1);
    tl_assert_frame(f->peer, 1, 100, 2);

    /* paused again, the peer hangs up: noticed all the same */
    f->peer->mode = TL_REFUSE;
    far_send(f, 100, 3);
    RUN_UNTIL(f, c->read_paused);
    close(f->far);
    f->far = -1;
    RUN_UNTIL(f, f->t->ended == 1);
    assert_int_equal(f->t->why, NETBE_LPCONN_EOF);
    assert_false(c->read_paused);
}

/*
 * A slow peer that takes one frame now and then: reading resumes only
 * once every frame that waited went, so what waits stays one read's
 * worth.  (It resumed at the first frame taken, and each resumption read
 * up to NETBE_LPCONN_READ_SIZE more: the backlog grew by a read per frame
 * the peer took.)
 */
static void test_slow_peer_backlog_bounded(void **state)
{
    struct fx *f = *state;
    struct netbe_lpconn *c = &f->t->conn;
    size_t max_bytes = 0;
    int sent = 0, sndbuf = 1 << 20;
    uint8_t *frame = malloc(4 + 1000);

    assert_non_null(frame);
    setsockopt(f->far, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    frame[0] = 0, frame[1] = 0, frame[2] = 1000 >> 8, frame[3] = 1000 & 0xff;
    memset(frame + 4, 0x5a, 1000);
    f->peer->mode = TL_REFUSE;
    for (int round = 0; round < 30; round++) {
        /* the far end keeps the wire full */
        while (send(f->far, frame, 4 + 1000, MSG_DONTWAIT | MSG_NOSIGNAL) ==
               4 + 1000) {
            sent++;
        }
        pump(f, 5);
        if (f->peer->nc.incoming_queue->bytes > max_bytes) {
            max_bytes = f->peer->nc.incoming_queue->bytes;
        }
        /* the peer takes one frame */
        f->peer->mode = TL_ACCEPT;
        f->peer->budget = 1;
        netbe_flush_queued(&f->peer->nc);
        f->peer->mode = TL_REFUSE;
        f->peer->budget = -1;
    }
    /* one read and the frame split across its end, in pooled buffers */
    assert_true(max_bytes < 2 * NETBE_LPCONN_READ_SIZE);
    assert_true(c->read_paused);
    assert_true(f->peer->nframes >= 29);
    assert_int_equal(f->t->nc.stats.drop_queue_full, 0);
    /* the peer takes everything: all of it arrives, nothing lost */
    f->peer->mode = TL_ACCEPT;
    netbe_flush_queued(&f->peer->nc);
    RUN_UNTIL(f, f->peer->nframes == sent);
    free(frame);
}

static void test_txbuf_full_held_and_released(void **state)
{
    struct fx *f = *state;
    struct netbe_client *nc = &f->t->nc;
    enum { N = 32, LEN = 60000 };
    int sent = 0, held = 0;

    /* nobody reads the far end: the socket and then the buffer fill */
    for (int i = 0; i < N; i++) {
        netbe_batch_begin(f->ctx);
        if (tl_send(&f->peer->nc, LEN, (uint8_t)i) == 0) {
            held++;
        }
        netbe_batch_end(f->ctx);
        sent++;
    }
    assert_true(held > 0); /* the core holds them... */
    assert_true(nc->receive_disabled);
    assert_true(f->t->conn.events & NETBE_EV_WRITE);
    assert_int_equal(nc->stats.drop_error, 0);
    assert_int_equal(nc->stats.drop_oversize, 0);

    /* ...and they leave, every one in order, once the far end reads */
    for (int i = 0; i < sent; i++) {
        far_expect(f, LEN, (uint8_t)i);
    }
    assert_false(nc->receive_disabled);
    assert_int_equal(nc->stats.rx_frames, N);
    assert_int_equal(netbe_txbuf_used(&f->t->conn.tx), 0);
    pump(f, 5);
    assert_false(f->t->conn.events & NETBE_EV_WRITE);
    assert_int_equal(f->peer->nc.stats.drop_queue_full, 0);
}

static void test_eof_mid_frame(void **state)
{
    struct fx *f = *state;
    uint8_t buf[4 + 10];
    uint32_t be = htonl(100);

    /* a length of 100, then 10 bytes, then the end */
    memcpy(buf, &be, 4);
    memset(buf + 4, 0x55, 10);
    assert_int_equal(send(f->far, buf, sizeof(buf), 0), sizeof(buf));
    close(f->far);
    f->far = -1;
    RUN_UNTIL(f, f->t->ended == 1);
    assert_int_equal(f->t->why, NETBE_LPCONN_TRUNCATED);
    assert_int_equal(f->t->nc.stats.drop_malformed, 1);
    assert_int_equal(f->peer->nframes, 0);
    assert_string_equal(
        tl_msgs.text, "W:tc t0: connection closed in the middle of a frame\n");
}

static void test_oversized_length(void **state)
{
    struct fx *f = *state;
    uint32_t be = htonl(NETBE_NET_BUFSIZE + 1);

    far_send(f, 60, 1);
    assert_int_equal(send(f->far, &be, 4, 0), 4);
    RUN_UNTIL(f, f->t->ended == 1);
    assert_int_equal(f->t->why, NETBE_LPCONN_MALFORMED);
    assert_non_null(strstr(f->t->msg, "oversized packet received"));
    assert_int_equal(f->t->nc.stats.drop_malformed, 1);
    assert_int_equal(f->peer->nframes, 1); /* what came before went on */
}

static void test_broken_write(void **state)
{
    struct fx *f = *state;
    struct netbe_client *nc = &f->t->nc;

    /* three frames wait for the batch's write; the far end is gone */
    netbe_batch_begin(f->ctx);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tl_send(&f->peer->nc, 100, (uint8_t)i), 100);
    }
    close(f->far);
    f->far = -1;
    netbe_batch_end(f->ctx);
    assert_true(f->t->conn.broken);
    assert_int_equal(nc->stats.drop_error, 3);
    assert_int_equal(f->t->ended, 0); /* not from inside flush() */

    /* broken: frames given meanwhile are counted too */
    assert_int_equal(tl_send(&f->peer->nc, 100, 9), 100);
    assert_int_equal(nc->stats.drop_error, 4);

    /* the next fd event ends it */
    RUN_UNTIL(f, f->t->ended == 1);
    assert_int_equal(f->t->why, NETBE_LPCONN_BROKEN);
    assert_int_equal(nc->stats.drop_link_down, 0);
    assert_non_null(strstr(tl_msgs.text, "W:tc t0: write failed: "));
    assert_int_equal(tl_msgs.count, 1);
}

static void test_ended_may_delete(void **state)
{
    struct fx *f = *state;
    struct tc *t = f->t;

    t->del_on_end = true;
    far_send(f, 60, 1);
    RUN_UNTIL(f, f->peer->nframes == 1);
    close(f->far);
    f->far = -1;
    RUN_UNTIL(f, deleted_ends == 1);
    assert_false(tl_in_list(f->ctx, &t->nc));
    pump(f, 5);
}

/* A TCP listener on 127.0.0.1 and a non-blocking connect to it. */
static int connect_to_listener(int *lfd)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*lfd >= 0);
    assert_int_equal(bind(*lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(*lfd, 1), 0);
    assert_int_equal(getsockname(*lfd, (struct sockaddr *)&sin, &len), 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        assert_int_equal(errno, EINPROGRESS);
    }
    return fd;
}

static void check_connect(struct fx *f, const struct netbe_lpconn_ops *ops)
{
    struct tc *t;
    int lfd, fd;

    /* the fixture's connection goes; a connecting one takes its place */
    netbe_client_del(&f->t->nc);
    t = f->t = tc_new(f, ops);
    fd = connect_to_listener(&lfd);
    assert_int_equal(netbe_lpconn_attach(&t->conn, fd, true), 0);
    assert_true(t->conn.connecting);
    assert_false(netbe_lpconn_up(&t->conn));
    assert_int_equal(t->conn.events, NETBE_EV_WRITE);
    assert_int_equal(tl_send(&f->peer->nc, 60, 1), 60);

    RUN_UNTIL(f, t->connected == 1);
    assert_true(netbe_lpconn_up(&t->conn));
    close(f->far);
    f->far = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(f->far >= 0);
    close(lfd);
    if (ops->tx_while_connecting) {
        /* held in the buffer, written once connected */
        far_expect(f, 60, 1);
        assert_int_equal(t->nc.stats.drop_link_down, 0);
    } else {
        assert_int_equal(t->nc.stats.drop_link_down, 1);
    }
    assert_int_equal(tl_send(&f->peer->nc, 70, 2), 70);
    far_expect(f, 70, 2);
    far_send(f, 80, 3);
    RUN_UNTIL(f, f->peer->nframes == 1);
    tl_assert_frame(f->peer, 0, 80, 3);
}

static void test_connect_drops_meanwhile(void **state)
{
    check_connect(*state, &tc_ops);
}

static void test_connect_holds_meanwhile(void **state)
{
    check_connect(*state, &tc_ops_hold);
}

static void test_connect_failed(void **state)
{
    struct fx *f = *state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    struct tc *t;
    int fd, lfd;

    netbe_client_del(&f->t->nc);
    t = f->t = tc_new(f, &tc_ops_hold);
    /* a port that was just free: nobody listens there */
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    close(lfd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ||
        errno != EINPROGRESS) {
        close(fd);
        skip(); /* refused at once: nothing left for the loop */
    }
    assert_int_equal(netbe_lpconn_attach(&t->conn, fd, true), 0);
    /* a frame waits for the connection, and goes with it */
    assert_int_equal(tl_send(&f->peer->nc, 60, 1), 60);
    RUN_UNTIL(f, t->ended == 1);
    assert_int_equal(t->why, NETBE_LPCONN_CONNECT_FAILED);
    assert_int_equal(t->err, ECONNREFUSED);
    assert_int_equal(t->connected, 0);
    assert_int_equal(t->nc.stats.drop_link_down, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frames_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_peer_backlog_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_txbuf_full_held_and_released,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_mid_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ended_may_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_drops_meanwhile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connect_holds_meanwhile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connect_failed, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
