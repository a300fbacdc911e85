/*
 * test_stream.c - the stream netdev on real sockets: QEMU's framing both
 * ways byte-exact and in order, one connection at a time for a server,
 * reconnecting clients, flow control with partial writes, link state and
 * info strings as QEMU 7.2 prints them, hostile peers losing only their
 * own connection, and the multi-VM listener (hubid=) on plain and
 * learning hubs.  Also: a paused connection still sees its peer leave,
 * every frame given is written or counted, host names are looked up off
 * the loop (and the lookup cancelled with the netdev), error paths close
 * their fds, and a connect storm of dead peers does not keep VMs out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/backends.h"
#include "netbe/backend.h"
#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#include "fakeloop.h"

#define MAX_REC 1024
#define MAX_FRAME 2048

/* ---- a test client that records what it receives ---- */

struct rec {
    struct netbe_client nc;
    int n;
    bool busy; /* answer "not now" */
    uint16_t len[MAX_REC];
    uint8_t *data; /* MAX_REC * MAX_FRAME */
};

static ssize_t rec_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                               int iovcnt)
{
    struct rec *r = (struct rec *)nc;
    size_t size = 0, off = 0;
    int i;

    if (r->busy) {
        return 0;
    }
    for (i = 0; i < iovcnt; i++) {
        size += iov[i].iov_len;
    }
    assert_true(size <= MAX_FRAME);
    assert_true(r->n < MAX_REC);
    for (i = 0; i < iovcnt; i++) {
        memcpy(r->data + (size_t)r->n * MAX_FRAME + off, iov[i].iov_base,
               iov[i].iov_len);
        off += iov[i].iov_len;
    }
    r->len[r->n++] = (uint16_t)size;
    return (ssize_t)size;
}

static void rec_cleanup(struct netbe_client *nc)
{
    free(((struct rec *)nc)->data);
}

static const struct netbe_client_info rec_info = {
    .type = NETBE_DRIVER_NONE,
    .size = sizeof(struct rec),
    .receive_iov = rec_receive_iov,
    .cleanup = rec_cleanup,
};

static struct rec *rec_new(struct netbe_ctx *ctx, const char *name)
{
    struct rec *r;

    r = (struct rec *)netbe_client_new(ctx, &rec_info, NULL, "rec", name);
    r->data = calloc(MAX_REC, MAX_FRAME);
    assert_non_null(r->data);
    return r;
}

/* ---- log capture ---- */

static char logbuf[1 << 20];
static size_t loglen;

static void log_sink(enum netbe_log_level level, const char *msg, void *opaque)
{
    int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);

    if (n > 0 && loglen + (size_t)n < sizeof(logbuf)) {
        loglen += (size_t)n;
    }
}

static int log_count(const char *needle)
{
    const char *p = logbuf;
    int n = 0;

    while ((p = strstr(p, needle))) {
        n++;
        p++;
    }
    return n;
}

/* ---- fixture ---- */

struct fx {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->loop = netbe_loop_default();
    f->ctx = netbe_ctx_new(f->loop);
    snprintf(f->dir, sizeof(f->dir), "/tmp/netbe-stream-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
    loglen = 0;
    logbuf[0] = '\0';
    netbe_log_set_sink(log_sink, NULL);
    netbe_log_set_level(NETBE_LOG_DEBUG);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int i;

    netbe_ctx_free(f->ctx);
    /* let libuv run the close callbacks of the handles just dropped */
    for (i = 0; i < 5; i++) {
        netbe_loop_run_once(f->loop, 0);
    }
    netbe_loop_close(f->loop);
    unlink(f->path);
    rmdir(f->dir);
    netbe_log_set_sink(NULL, NULL);
    free(f);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void spin(struct fx *f, int ms)
{
    int64_t end = now_ms() + ms;

    while (now_ms() < end) {
        netbe_loop_run_once(f->loop, 0);
        usleep(500);
    }
}

#define RUN_UNTIL(f, cond)                                                     \
    do {                                                                       \
        int64_t end_ = now_ms() + 5000;                                        \
        while (!(cond) && now_ms() < end_) {                                   \
            netbe_loop_run_once((f)->loop, 0);                                 \
            usleep(200);                                                       \
        }                                                                      \
        assert_true(cond);                                                     \
    } while (0)

/* Create a stream netdev as net_client_init would: schema, then init. */
static int add_stream(struct fx *f, const char *str, struct netbe_client *peer,
                      char *msg, size_t msglen)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts = netbe_opts_parse(str, "type", &err);
    int r = -1;

    assert_non_null(opts);
    if (netbe_opts_check(opts, netbe_backend_stream.schema, &err) == 0) {
        r = netbe_backend_stream.init(f->ctx, opts, netbe_opts_get(opts, "id"),
                                      peer, &err);
    }
    if (r == 0) {
        struct netbe_client *nc =
            netbe_find_netdev(f->ctx, netbe_opts_get(opts, "id"));

        assert_non_null(nc);
        nc->is_netdev = true;
        assert_null(err);
    } else {
        assert_non_null(err);
    }
    if (msg) {
        snprintf(msg, msglen, "%s", netbe_error_msg(err));
    }
    netbe_error_free(err);
    netbe_opts_free(opts);
    return r;
}

static void add_ok(struct fx *f, const char *fmt, struct netbe_client *peer,
                   ...)
{
    char str[512], msg[256];
    va_list ap;

    va_start(ap, peer);
    vsnprintf(str, sizeof(str), fmt, ap);
    va_end(ap);
    if (add_stream(f, str, peer, msg, sizeof(msg)) < 0) {
        fail_msg("%s: %s", str, msg);
    }
}

static struct netbe_client *find(struct fx *f, const char *name)
{
    return netbe_find_netdev(f->ctx, name);
}

/* How many connections the switch "sw" refused, from its info string. */
static unsigned long long refused_count(struct fx *f)
{
    struct netbe_client *l = find(f, "sw");
    const char *p = l ? strstr(l->info_str, "listening, ") : NULL;

    return p ? strtoull(p + strlen("listening, "), NULL, 10) : 0;
}

/* ---- raw peers ---- */

static int unix_connect(const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    return fd;
}

/* A connect that runs the loop while the backlog is full. */
static int unix_connect_loop(struct fx *f, const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int64_t end = now_ms() + 5000;
    int fd;

    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0) {
            return fd;
        }
        assert_int_equal(errno, EAGAIN);
        close(fd);
        assert_true(now_ms() < end);
        netbe_loop_run_once(f->loop, 0);
    }
}

static int unix_listen(const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void pattern(uint8_t *p, int idx, size_t len)
{
    for (size_t j = 0; j < len; j++) {
        p[j] = (uint8_t)(idx * 31 + j * 7 + 3);
    }
}

static size_t frame_len(int idx)
{
    return 60 + (size_t)(idx * 13) % 1400;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
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

/* Frames first..first+count-1 of the pattern, in one write. */
static void raw_send_frames(int fd, int first, int count)
{
    size_t cap = (size_t)count * (4 + 1500), off = 0;
    uint8_t *buf = malloc(cap);

    for (int i = first; i < first + count; i++) {
        size_t len = frame_len(i);

        put_be32(buf + off, (uint32_t)len);
        pattern(buf + off + 4, i, len);
        off += 4 + len;
    }
    write_all(fd, buf, off);
    free(buf);
}

/* Read exactly @len bytes from @fd, running the loop while waiting. */
static void raw_read(struct fx *f, int fd, uint8_t *buf, size_t len)
{
    int64_t end = now_ms() + 5000;
    size_t got = 0;

    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        assert_true(now_ms() < end);
        if (poll(&p, 1, 0) == 1) {
            ssize_t n = read(fd, buf + got, len - got);

            assert_true(n > 0);
            got += (size_t)n;
        } else {
            netbe_loop_run_once(f->loop, 0);
            usleep(200);
        }
    }
}

static size_t raw_read_frame(struct fx *f, int fd, uint8_t *buf, size_t cap)
{
    uint8_t hdr[4];
    uint32_t len;

    raw_read(f, fd, hdr, 4);
    len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
          (uint32_t)hdr[2] << 8 | hdr[3];
    assert_true(len <= cap);
    raw_read(f, fd, buf, len);
    return len;
}

static void check_raw_frames(struct fx *f, int fd, int first, int count)
{
    uint8_t buf[MAX_FRAME], want[MAX_FRAME];

    for (int i = first; i < first + count; i++) {
        size_t len = raw_read_frame(f, fd, buf, sizeof(buf));

        assert_int_equal(len, frame_len(i));
        pattern(want, i, len);
        assert_memory_equal(buf, want, len);
    }
}

/* Wait until the other end closed @fd (read gives 0 or an error). */
static void expect_eof(struct fx *f, int fd)
{
    int64_t end = now_ms() + 5000;
    uint8_t b[256];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        assert_true(now_ms() < end);
        if (poll(&p, 1, 0) == 1) {
            ssize_t n = read(fd, b, sizeof(b));

            if (n <= 0) {
                return;
            }
        } else {
            netbe_loop_run_once(f->loop, 0);
            usleep(200);
        }
    }
}

static void check_rec_frames(struct rec *r, int from, int first, int count)
{
    uint8_t want[MAX_FRAME];

    assert_true(r->n >= from + count);
    for (int i = 0; i < count; i++) {
        size_t len = frame_len(first + i);

        assert_int_equal(r->len[from + i], len);
        pattern(want, first + i, len);
        assert_memory_equal(r->data + (size_t)(from + i) * MAX_FRAME, want,
                            len);
    }
}

/* @count frames from @r into the graph, inside one batch. */
static void rec_send_frames(struct fx *f, struct rec *r, int first, int count)
{
    uint8_t buf[MAX_FRAME];

    netbe_batch_begin(f->ctx);
    for (int i = first; i < first + count; i++) {
        size_t len = frame_len(i);

        pattern(buf, i, len);
        assert_true(netbe_send_packet(&r->nc, buf, len) >= 0);
    }
    netbe_batch_end(f->ctx);
}

/* ---- tests ---- */

static void test_unix_server(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    char want[200];
    struct stat st;
    int c1, c2;

    add_ok(f, "stream,id=s,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    s = find(f, "s");
    assert_ptr_equal(s->peer, &r->nc);
    assert_string_equal(netbe_driver_name(s->info->type), "stream");
    assert_int_equal(stat(f->path, &st), 0);
    /* QEMU 7.2: an empty info string and the link down while waiting */
    assert_true(s->link_down);
    assert_string_equal(s->info_str, "");

    /* frames towards nobody are dropped as link-down */
    rec_send_frames(f, r, 0, 3);
    assert_int_equal(s->stats.drop_link_down, 3);

    c1 = unix_connect(f->path);
    RUN_UNTIL(f, !s->link_down);
    snprintf(want, sizeof(want), "unix:%s", f->path);
    assert_string_equal(s->info_str, want);

    /* 100 frames in one write arrive whole, in order */
    raw_send_frames(c1, 0, 100);
    RUN_UNTIL(f, r->n == 100);
    check_rec_frames(r, 0, 0, 100);
    assert_int_equal(s->stats.tx_frames, 100);

    /* 100 frames sent in one batch leave byte-exact */
    rec_send_frames(f, r, 1000, 100);
    check_raw_frames(f, c1, 1000, 100);

    /* a second caller waits in the backlog while the first is served */
    c2 = unix_connect(f->path);
    raw_send_frames(c2, 200, 2);
    spin(f, 50);
    assert_int_equal(r->n, 100);

    close(c1);
    RUN_UNTIL(f, r->n == 102);
    check_rec_frames(r, 100, 200, 2);
    assert_false(s->link_down);
    assert_string_equal(s->info_str, want);

    close(c2);
    RUN_UNTIL(f, s->link_down);
    assert_string_equal(s->info_str, "");
    assert_int_equal(s->stats.drop_malformed, 0);

    /* the socket file the server made goes with it */
    netbe_client_del(s);
    assert_int_equal(stat(f->path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_unix_client(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    char want[200];
    int l, c;

    l = unix_listen(f->path);
    add_ok(f, "stream,id=c,addr.type=unix,addr.path=%s", &r->nc, f->path);
    s = find(f, "c");
    c = accept(l, NULL, NULL);
    assert_true(c >= 0);
    RUN_UNTIL(f, !s->link_down);
    snprintf(want, sizeof(want), "unix:%s", f->path);
    assert_string_equal(s->info_str, want);

    rec_send_frames(f, r, 0, 50);
    check_raw_frames(f, c, 0, 50);
    raw_send_frames(c, 50, 50);
    RUN_UNTIL(f, r->n == 50);
    check_rec_frames(r, 0, 50, 50);

    /* no reconnect: down for good, as QEMU 7.2 */
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_string_equal(s->info_str, "");
    spin(f, 30);
    assert_true(s->link_down);
    close(l);
}

/* A port for this process, from a range chosen by pid; retried if busy. */
static int pick_port(int attempt)
{
    return 20000 + (int)((getpid() * 7 + attempt * 101) % 30000);
}

static void test_inet(void **state)
{
    struct fx *f = *state;
    struct rec *rs = rec_new(f->ctx, "rs");
    struct rec *rc = rec_new(f->ctx, "rc");
    struct netbe_client *srv, *cli;
    char want[64], msg[256], str[256];
    int port = 0, i;

    for (i = 0; i < 20; i++) {
        port = pick_port(i);
        snprintf(str, sizeof(str),
                 "stream,id=srv,server=on,addr.type=inet,"
                 "addr.host=127.0.0.1,addr.port=%d",
                 port);
        if (add_stream(f, str, &rs->nc, msg, sizeof(msg)) == 0) {
            break;
        }
        assert_non_null(strstr(msg, "Failed to find an available port"));
    }
    assert_true(i < 20);
    srv = find(f, "srv");
    assert_true(srv->link_down);

    /* two netdevs of ours talking to each other over TCP */
    add_ok(f, "stream,id=cli,addr.type=inet,addr.host=127.0.0.1,addr.port=%d",
           &rc->nc, port);
    cli = find(f, "cli");
    RUN_UNTIL(f, !srv->link_down && !cli->link_down);
    snprintf(want, sizeof(want), "tcp:127.0.0.1:%d", port);
    assert_string_equal(cli->info_str, want);
    /* the server names the remote end, an ephemeral port */
    assert_int_equal(strncmp(srv->info_str, "tcp:127.0.0.1:", 14), 0);
    assert_string_not_equal(srv->info_str, want);

    rec_send_frames(f, rc, 0, 200);
    RUN_UNTIL(f, rs->n == 200);
    check_rec_frames(rs, 0, 0, 200);
    rec_send_frames(f, rs, 300, 200);
    RUN_UNTIL(f, rc->n == 200);
    check_rec_frames(rc, 0, 300, 200);

    /* the client leaves: the server waits for the next one */
    netbe_client_del(cli);
    RUN_UNTIL(f, srv->link_down);
    assert_string_equal(srv->info_str, "");
}

static void test_reconnect(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    int l, c;

    /* nobody listens: with reconnect the netdev still comes up */
    add_ok(f, "stream,id=c,addr.type=unix,addr.path=%s,reconnect-ms=30", &r->nc,
           f->path);
    s = find(f, "c");
    assert_true(s->link_down);
    assert_string_equal(s->info_str, "connection error");
    assert_int_equal(log_count("Failed to connect to"), 1);

    spin(f, 100); /* a few retries, logged once */
    assert_int_equal(log_count("Failed to connect to"), 1);

    l = unix_listen(f->path);
    {
        int64_t end = now_ms() + 5000;
        struct pollfd p = {.fd = l, .events = POLLIN};

        while (poll(&p, 1, 0) != 1) {
            assert_true(now_ms() < end);
            netbe_loop_run_once(f->loop, 0);
            usleep(500);
        }
    }
    c = accept(l, NULL, NULL);
    assert_true(c >= 0);
    RUN_UNTIL(f, !s->link_down);
    raw_send_frames(c, 0, 5);
    RUN_UNTIL(f, r->n == 5);

    /* the server drops us; the timer connects again */
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_string_equal(s->info_str, "");
    {
        int64_t end = now_ms() + 5000;
        struct pollfd p = {.fd = l, .events = POLLIN};

        while (poll(&p, 1, 0) != 1) {
            assert_true(now_ms() < end);
            netbe_loop_run_once(f->loop, 0);
            usleep(500);
        }
    }
    c = accept(l, NULL, NULL);
    RUN_UNTIL(f, !s->link_down);
    rec_send_frames(f, r, 7, 3);
    check_raw_frames(f, c, 7, 3);
    close(c);
    close(l);
}

static void test_reconnect_seconds(void **state)
{
    struct fx *f = *state;
    struct netbe_client *s;
    int64_t t0;
    int l, c;

    add_ok(f, "stream,id=c,addr.type=unix,addr.path=%s,reconnect=1", NULL,
           f->path);
    s = find(f, "c");
    t0 = now_ms();
    l = unix_listen(f->path);
    c = -1;
    while (c < 0) {
        struct pollfd p = {.fd = l, .events = POLLIN};

        assert_true(now_ms() - t0 < 5000);
        if (poll(&p, 1, 0) == 1) {
            c = accept(l, NULL, NULL);
        } else {
            netbe_loop_run_once(f->loop, 0);
            usleep(1000);
        }
    }
    /* the retry waited about a second */
    assert_true(now_ms() - t0 >= 900);
    RUN_UNTIL(f, !s->link_down);
    close(c);
    close(l);
}

static void test_flow_control(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct netbe_client *s;
    int small = 4096, c, i;

    add_ok(f, "stream,id=s,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    s = find(f, "s");
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(
        setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", f->path);
    assert_int_equal(connect(c, (struct sockaddr *)&un, sizeof(un)), 0);
    RUN_UNTIL(f, !s->link_down);

    /* ~700 KB while the peer reads nothing: more than socket + buffer */
    for (i = 0; i < 10; i++) {
        rec_send_frames(f, r, i * 100, 100);
        spin(f, 2);
    }
    assert_true(s->receive_disabled);
    assert_int_equal(s->stats.drop_error, 0);

    /* the peer reads: everything arrives, in order, nothing lost */
    check_raw_frames(f, c, 0, 1000);
    RUN_UNTIL(f, !s->receive_disabled);
    assert_int_equal(s->stats.rx_frames, 1000);

    /* the other way: the receiver says "not now", reading pauses */
    r->busy = true;
    raw_send_frames(c, 0, 100);
    spin(f, 50);
    assert_int_equal(r->n, 0);
    r->busy = false;
    netbe_flush_queued(&r->nc);
    RUN_UNTIL(f, r->n == 100);
    check_rec_frames(r, 0, 0, 100);
    close(c);
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    uint8_t hdr[4 + 10];
    int c;

    add_ok(f, "stream,id=s,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    s = find(f, "s");

    /* a length over the limit */
    c = unix_connect(f->path);
    raw_send_frames(c, 0, 2);
    put_be32(hdr, 70000);
    write_all(c, hdr, 4);
    expect_eof(f, c);
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_int_equal(r->n, 2);
    assert_int_equal(s->stats.drop_malformed, 1);
    assert_int_equal(log_count("oversized packet received"), 1);

    /* garbage: text read as a length */
    c = unix_connect(f->path);
    write_all(c, "GET / HTTP/1.1\r\n\r\n", 18);
    expect_eof(f, c);
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_int_equal(s->stats.drop_malformed, 2);

    /* half a frame, then gone */
    c = unix_connect(f->path);
    RUN_UNTIL(f, !s->link_down);
    put_be32(hdr, 100);
    memset(hdr + 4, 0xab, 10);
    write_all(c, hdr, sizeof(hdr));
    spin(f, 20);
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_int_equal(s->stats.drop_malformed, 3);
    assert_int_equal(log_count("in the middle of a frame"), 1);

    /* connect and close at once, many times */
    for (int i = 0; i < 200; i++) {
        c = unix_connect_loop(f, f->path);
        close(c);
    }
    spin(f, 50);
    assert_true(s->link_down);

    /* and the server still works */
    c = unix_connect(f->path);
    raw_send_frames(c, 10, 3);
    RUN_UNTIL(f, r->n == 5);
    check_rec_frames(r, 2, 10, 3);
    rec_send_frames(f, r, 20, 2);
    check_raw_frames(f, c, 20, 2);
    close(c);
    assert_int_equal(s->stats.drop_malformed, 3);
}

/* ---- multi-VM listener ---- */

static size_t eth_frame(uint8_t *buf, const uint8_t dst[6],
                        const uint8_t src[6], uint8_t tag)
{
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    buf[12] = 0x88;
    buf[13] = 0xb5;
    memset(buf + 14, tag, 50);
    return 64;
}

static void raw_send_eth(int fd, const uint8_t dst[6], const uint8_t src[6],
                         uint8_t tag)
{
    uint8_t buf[4 + 64];

    put_be32(buf, (uint32_t)eth_frame(buf + 4, dst, src, tag));
    write_all(fd, buf, sizeof(buf));
}

/* Read one frame and check its tag; or check that none comes. */
static void expect_eth(struct fx *f, int fd, uint8_t tag)
{
    uint8_t buf[MAX_FRAME];
    size_t len = raw_read_frame(f, fd, buf, sizeof(buf));

    assert_int_equal(len, 64);
    assert_int_equal(buf[14], tag);
}

static void expect_nothing(struct fx *f, int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    spin(f, 30);
    assert_int_equal(poll(&p, 1, 0), 0);
}

static const uint8_t mac_a[6] = {0x52, 0x54, 0, 0, 0, 0xa};
static const uint8_t mac_b[6] = {0x52, 0x54, 0, 0, 0, 0xb};
static const uint8_t mac_c[6] = {0x52, 0x54, 0, 0, 0, 0xc};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void hub_common(struct fx *f, bool learning)
{
    struct netbe_client *l, *c0, *c1, *c2;
    int a, b, c, hub;

    add_ok(f,
           "stream,id=sw,server=on,hubid=7,learning=%s,addr.type=unix,"
           "addr.path=%s",
           NULL, learning ? "on" : "off", f->path);
    l = find(f, "sw");
    assert_null(l->peer);
    assert_string_equal(l->info_str, "listening");

    a = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.0") != NULL);
    b = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.1") != NULL);
    c = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.2") != NULL);
    c0 = find(f, "sw.0");
    c1 = find(f, "sw.1");
    c2 = find(f, "sw.2");
    assert_string_equal(netbe_driver_name(c0->info->type), "stream");
    assert_false(c0->link_down);
    assert_non_null(c0->peer);
    assert_int_equal(c0->peer->info->type, NETBE_DRIVER_HUBPORT);
    assert_int_equal(netbe_hub_id_for_client(c1, &hub), 0);
    assert_int_equal(hub, 7);
    assert_true(c2->is_netdev);

    /* broadcast from A reaches B and C, not A */
    raw_send_eth(a, bcast, mac_a, 1);
    expect_eth(f, b, 1);
    expect_eth(f, c, 1);
    expect_nothing(f, a);

    /* B answers A: a learning hub knows A's port by now */
    raw_send_eth(b, mac_a, mac_b, 2);
    expect_eth(f, a, 2);
    if (learning) {
        expect_nothing(f, c);
    } else {
        expect_eth(f, c, 2);
    }
    raw_send_eth(c, mac_b, mac_c, 3);
    expect_eth(f, b, 3);
    if (learning) {
        expect_nothing(f, a);
    } else {
        expect_eth(f, a, 3);
    }

    /* B leaves: its client and hub port go, the others go on */
    close(b);
    RUN_UNTIL(f, find(f, "sw.1") == NULL);
    assert_int_equal(log_count("sw.1: peer disconnected"), 1);
    raw_send_eth(a, bcast, mac_a, 4);
    expect_eth(f, c, 4);

    /* a newcomer gets a fresh name */
    b = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.3") != NULL);
    raw_send_eth(c, bcast, mac_c, 5);
    expect_eth(f, a, 5);
    expect_eth(f, b, 5);

    /* deleting the listener closes every connection */
    assert_int_equal(netbe_netdev_del(f->ctx, "sw", NULL), 0);
    assert_null(find(f, "sw.0"));
    assert_null(find(f, "sw.2"));
    assert_null(find(f, "sw.3"));
    expect_eof(f, a);
    expect_eof(f, b);
    expect_eof(f, c);
    assert_int_equal(access(f->path, F_OK), -1);
    /* no hub port is left behind with a dangling peer */
    for (struct netbe_client *nc = netbe_client_first(f->ctx); nc;
         nc = netbe_client_next(nc)) {
        assert_int_not_equal(nc->info->type, NETBE_DRIVER_HUBPORT);
    }
    close(a);
    close(b);
    close(c);
}

static void test_hub_learning(void **state)
{
    hub_common(*state, true);
}

static void test_hub_plain(void **state)
{
    hub_common(*state, false);
}

static void test_hub_isolation(void **state)
{
    struct fx *f = *state;
    uint8_t hdr[8];
    int good1, good2, bad, i;

    add_ok(f, "stream,id=sw,server=on,hubid=3,addr.type=unix,addr.path=%s",
           NULL, f->path);
    good1 = unix_connect(f->path);
    good2 = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.1") != NULL);

    /* oversized length */
    bad = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.2") != NULL);
    put_be32(hdr, 0x7fffffff);
    write_all(bad, hdr, 4);
    expect_eof(f, bad);
    close(bad);
    RUN_UNTIL(f, find(f, "sw.2") == NULL);

    /* close in the middle of a frame */
    bad = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.3") != NULL);
    put_be32(hdr, 64);
    write_all(bad, hdr, 8);
    spin(f, 10);
    close(bad);
    RUN_UNTIL(f, find(f, "sw.3") == NULL);
    assert_int_equal(log_count("in the middle of a frame"), 1);

    /* a thousand connects in a row, each closed at once */
    for (i = 0; i < 1000; i++) {
        bad = unix_connect_loop(f, f->path);
        close(bad);
    }
    /* each was carried and closed, or refused over max-connections */
    RUN_UNTIL(f, log_count("peer disconnected") + refused_count(f) == 1000);
    /* refusals are logged at the 1st, 2nd, 4th, ... only */
    assert_true(log_count("connection refused") <= 11);
    spin(f, 50);
    {
        int n = 0;

        for (struct netbe_client *nc = netbe_client_first(f->ctx); nc;
             nc = netbe_client_next(nc)) {
            n++;
        }
        /* the listener, two connections and their two ports */
        assert_int_equal(n, 5);
    }

    /* the good ones never noticed */
    raw_send_eth(good1, bcast, mac_a, 9);
    expect_eth(f, good2, 9);
    raw_send_eth(good2, mac_a, mac_b, 10);
    expect_eth(f, good1, 10);
    close(good1);
    close(good2);
}

static void test_hub_max_connections(void **state)
{
    struct fx *f = *state;
    int c[3];

    add_ok(f,
           "stream,id=sw,server=on,hubid=1,max-connections=2,addr.type=unix,"
           "addr.path=%s",
           NULL, f->path);
    c[0] = unix_connect(f->path);
    c[1] = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.1") != NULL);
    c[2] = unix_connect(f->path);
    expect_eof(f, c[2]);
    assert_int_equal(log_count("connection refused: 2 connections already"), 1);
    assert_null(find(f, "sw.2"));

    /* room again once one leaves */
    close(c[0]);
    RUN_UNTIL(f, find(f, "sw.0") == NULL);
    close(c[2]);
    c[2] = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.2") != NULL);
    raw_send_eth(c[2], bcast, mac_c, 1);
    expect_eth(f, c[1], 1);

    /* one VM can be kicked by name: its port goes with it */
    assert_int_equal(netbe_netdev_del(f->ctx, "sw.1", NULL), 0);
    expect_eof(f, c[1]);
    assert_null(find(f, "sw.1"));
    assert_ptr_equal(find(f, "sw.2")->peer->peer, find(f, "sw.2"));
    {
        int ports = 0;

        for (struct netbe_client *nc = netbe_client_first(f->ctx); nc;
             nc = netbe_client_next(nc)) {
            ports += nc->info->type == NETBE_DRIVER_HUBPORT;
        }
        assert_int_equal(ports, 1);
    }
    close(c[1]);
    close(c[2]);
}

static void expect_add_error(struct fx *f, const char *str, const char *want)
{
    char msg[512];

    assert_int_equal(add_stream(f, str, NULL, msg, sizeof(msg)), -1);
    assert_string_equal(msg, want);
    assert_null(find(f, "s"));
}

static void test_option_errors(void **state)
{
    struct fx *f = *state;
    char str[256], want[300];

    expect_add_error(f, "stream,id=s", "Parameter 'addr' is missing");
    expect_add_error(f, "stream,id=s,addr.type=inet",
                     "Parameter 'addr.host' is missing");
    expect_add_error(f, "stream,id=s,addr.type=unix",
                     "Parameter 'addr.path' is missing");
    expect_add_error(f, "stream,id=s,addr.type=fd",
                     "Parameter 'addr.str' is missing");
    expect_add_error(f, "stream,id=s,addr.type=foo",
                     "Parameter 'type' does not accept value 'foo'");
    expect_add_error(f,
                     "stream,id=s,addr.type=inet,addr.host=h,addr.port=1,"
                     "addr.bogus=1",
                     "Parameter 'addr.bogus' is unexpected");
    expect_add_error(f, "stream,id=s,server=x,addr.type=unix,addr.path=/x",
                     "Parameter 'server' expects 'on' or 'off'");
    expect_add_error(f,
                     "stream,id=s,server=on,reconnect=1,addr.type=unix,"
                     "addr.path=/x",
                     "'reconnect' and 'reconnect-ms' options are "
                     "incompatible with socket in server mode");
    expect_add_error(f,
                     "stream,id=s,reconnect=1,reconnect-ms=5,addr.type=unix,"
                     "addr.path=/x",
                     "'reconnect' and 'reconnect-ms' are mutually exclusive");
    expect_add_error(f, "stream,id=s,hubid=1,addr.type=unix,addr.path=/x",
                     "Parameter 'hubid' requires server=on");
    expect_add_error(f,
                     "stream,id=s,server=on,learning=on,addr.type=unix,"
                     "addr.path=/x",
                     "Parameter 'learning' requires 'hubid'");
    expect_add_error(f,
                     "stream,id=s,server=on,max-connections=3,addr.type=unix,"
                     "addr.path=/x",
                     "Parameter 'max-connections' requires 'hubid'");
    expect_add_error(f,
                     "stream,id=s,server=on,hubid=1,max-connections=0,"
                     "addr.type=unix,addr.path=/x",
                     "Parameter 'max-connections' expects a number of at "
                     "least 1");

    /* a failed connect without reconnect fails the netdev */
    snprintf(str, sizeof(str), "stream,id=s,addr.type=unix,addr.path=%s",
             f->path);
    snprintf(want, sizeof(want),
             "Failed to connect to '%s': No such file or directory", f->path);
    expect_add_error(f, str, want);
    snprintf(str, sizeof(str),
             "stream,id=s,server=on,addr.type=unix,addr.path=%s/no/sock",
             f->dir);
    snprintf(want, sizeof(want),
             "Failed to bind socket to %s/no/sock: No such file or directory",
             f->dir);
    expect_add_error(f, str, want);
    expect_add_error(f, "stream,id=s,addr.type=fd,addr.str=x",
                     "Invalid file descriptor number 'x'");
    assert_null(netbe_client_first(f->ctx));
}

static void test_fd_client(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    int sp[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    add_ok(f, "stream,id=s,addr.type=fd,addr.str=%d", &r->nc, sp[0]);
    s = find(f, "s");
    assert_false(s->link_down);
    /* an unnamed socket's peer: QEMU prints an empty path */
    assert_string_equal(s->info_str, "unix:");
    raw_send_frames(sp[1], 0, 10);
    RUN_UNTIL(f, r->n == 10);
    check_rec_frames(r, 0, 0, 10);
    rec_send_frames(f, r, 40, 10);
    check_raw_frames(f, sp[1], 40, 10);
    close(sp[1]);
}

/* ---- hang-up while paused, truncation, counted drops ---- */

static void test_paused_peer_hangs_up(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    int c, fds;

    add_ok(f, "stream,id=s,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    s = find(f, "s");
    fds = fk_count_fds();
    c = unix_connect(f->path);
    RUN_UNTIL(f, !s->link_down);

    /* the receiver says "not now": the connection stops reading */
    r->busy = true;
    raw_send_frames(c, 0, 20);
    spin(f, 30);
    assert_int_equal(r->n, 0);

    /* the peer leaves while paused: noticed, its fd closed */
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_int_equal(fk_count_fds(), fds);
    assert_int_equal(log_count("peer disconnected"), 1);

    /* what it sent before leaving still arrives, in order */
    r->busy = false;
    netbe_flush_queued(&r->nc);
    RUN_UNTIL(f, r->n == 20);
    check_rec_frames(r, 0, 0, 20);
}

static void test_hub_paused_peer_hangs_up(void **state)
{
    struct fx *f = *state;
    int a, b, i, n;

    add_ok(f, "stream,id=sw,server=on,hubid=2,addr.type=unix,addr.path=%s",
           NULL, f->path);
    a = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.0") != NULL);
    b = unix_connect(f->path);
    RUN_UNTIL(f, find(f, "sw.1") != NULL);
    /* A's side never takes a frame: B's are held, B is paused */
    find(f, "sw.0")->receive_disabled = true;
    fcntl(b, F_SETFL, O_NONBLOCK);
    for (i = 0, n = 0; i < 2000 && n < 2; i++) {
        uint8_t buf[4 + 64];

        put_be32(buf, (uint32_t)eth_frame(buf + 4, bcast, mac_b, 1));
        if (write(b, buf, sizeof(buf)) < 0) {
            assert_int_equal(errno, EAGAIN);
            n++;
            spin(f, 5);
        }
        netbe_loop_run_once(f->loop, 0);
    }
    close(b);
    /* B's client and its slot go, though A still holds B's frames */
    RUN_UNTIL(f, find(f, "sw.1") == NULL);
    assert_non_null(find(f, "sw.0"));
    close(a);
}

static void test_half_frame_then_reset(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct netbe_client *s;
    uint8_t hdr[4 + 10];
    int c;

    add_ok(f, "stream,id=s,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    s = find(f, "s");
    c = unix_connect(f->path);
    RUN_UNTIL(f, !s->link_down);
    /* frames towards the peer that it never reads: its close resets */
    rec_send_frames(f, r, 0, 3);
    spin(f, 10);
    put_be32(hdr, 100);
    memset(hdr + 4, 0xab, 10);
    write_all(c, hdr, sizeof(hdr));
    spin(f, 20);
    close(c);
    RUN_UNTIL(f, s->link_down);
    assert_int_equal(s->stats.drop_malformed, 1);
    assert_int_equal(log_count("in the middle of a frame"), 1);
    assert_int_equal(log_count("read failed"), 0);
}

/* Read whole frames until EOF; return how many. */
static int read_frames_to_eof(struct fx *f, int fd)
{
    static uint8_t buf[1 << 21];
    int64_t end = now_ms() + 5000;
    size_t got = 0, off = 0;
    int frames = 0;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        assert_true(now_ms() < end);
        if (poll(&p, 1, 0) != 1) {
            netbe_loop_run_once(f->loop, 0);
            usleep(200);
            continue;
        }
        n = read(fd, buf + got, sizeof(buf) - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        assert_true(got < sizeof(buf));
    }
    while (got - off >= 4) {
        uint32_t len = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
                       (uint32_t)buf[off + 2] << 8 | buf[off + 3];

        if (got - off < 4 + len) {
            break;
        }
        off += 4 + len;
        frames++;
    }
    return frames;
}

static uint64_t drops(const struct netbe_counters *c)
{
    return c->drop_link_down + c->drop_no_peer + c->drop_oversize +
           c->drop_queue_full + c->drop_filter + c->drop_malformed +
           c->drop_error;
}

static void test_broken_connection_counts(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new(f->ctx, "rec");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct netbe_client *s;
    int small = 4096, c, i, got;

    add_ok(f, "stream,id=s,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    s = find(f, "s");
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", f->path);
    assert_int_equal(connect(c, (struct sockaddr *)&un, sizeof(un)), 0);
    RUN_UNTIL(f, !s->link_down);

    /* more than the socket and the transmit buffer hold, partly written */
    for (i = 0; i < 8; i++) {
        rec_send_frames(f, r, i * 100, 100);
        spin(f, 2);
    }
    /* the peer stops reading for good: the next write fails */
    shutdown(c, SHUT_RD);
    got = read_frames_to_eof(f, c);
    RUN_UNTIL(f, s->link_down);
    close(c);
    assert_true(got < 800);
    assert_true(s->stats.drop_error > 1);
    /* every frame given was written whole or counted as dropped */
    assert_int_equal(r->nc.stats.tx_frames, 800);
    assert_int_equal((uint64_t)got + drops(&s->stats) + drops(&r->nc.stats),
                     800);
}

/* ---- name lookups off the loop ---- */

static int inet_listener(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

static int accept_loop(struct fx *f, int l)
{
    int64_t end = now_ms() + 5000;
    struct pollfd p = {.fd = l, .events = POLLIN};

    while (poll(&p, 1, 0) != 1) {
        assert_true(now_ms() < end);
        netbe_loop_run_once(f->loop, 0);
        usleep(200);
    }
    return accept(l, NULL, NULL);
}

static void test_slow_resolver_blocks_nothing(void **state)
{
    struct fx *f = *state;
    struct netbe_ctx *ctx = netbe_ctx_new(fk_init(f->loop));
    struct netbe_ctx *saved = f->ctx;
    struct rec *r;
    struct netbe_client *srv, *cli;
    int l, port, c, peer;

    f->ctx = ctx;
    r = rec_new(ctx, "rec");
    l = inet_listener(&port);
    add_ok(f, "stream,id=srv,server=on,addr.type=unix,addr.path=%s", &r->nc,
           f->path);
    srv = find(f, "srv");
    c = unix_connect(f->path);

    /* a host name: handed to the loop's resolver, which takes its time */
    add_ok(f, "stream,id=cli,addr.type=inet,addr.host=localhost,addr.port=%d",
           NULL, port);
    cli = find(f, "cli");
    assert_int_equal(fk.nreq, 1);
    assert_string_equal(fk.req[0].host, "localhost");
    assert_true(cli->link_down);

    /* meanwhile every other fd is served */
    raw_send_frames(c, 0, 10);
    RUN_UNTIL(f, r->n == 10);
    assert_false(srv->link_down);

    /* the answer comes: connected */
    fk_answer(0, 0);
    peer = accept_loop(f, l);
    assert_true(peer >= 0);
    RUN_UNTIL(f, !cli->link_down);
    close(peer);

    /* numeric addresses need no resolver at all */
    add_ok(f, "stream,id=num,addr.type=inet,addr.host=127.0.0.1,addr.port=%d",
           NULL, port);
    assert_int_equal(fk.nreq, 1);
    peer = accept_loop(f, l);
    RUN_UNTIL(f, !find(f, "num")->link_down);
    close(peer);

    /* deleted while its lookup is pending: cancelled, never called back */
    add_ok(f, "stream,id=gone,addr.type=inet,addr.host=localhost,addr.port=%d",
           NULL, port);
    assert_int_equal(fk.nreq, 2);
    assert_int_equal(netbe_netdev_del(ctx, "gone", NULL), 0);
    assert_int_equal(fk.ncancel, 1);
    fk_answer(1, 0);

    /* a failed lookup: QEMU's message, retried by reconnect */
    add_ok(f,
           "stream,id=rc,addr.type=inet,addr.host=localhost,addr.port=%d,"
           "reconnect-ms=10",
           NULL, port);
    assert_int_equal(fk.nreq, 3);
    fk_answer(2, EAI_NONAME);
    /* first again without AI_ADDRCONFIG, as the blocking lookup does */
    assert_int_equal(fk.nreq, 4);
    assert_false(fk.req[3].hints.ai_flags & AI_ADDRCONFIG);
    fk_answer(3, EAI_NONAME);
    {
        char want[128];

        snprintf(want, sizeof(want),
                 "stream rc: address resolution failed for localhost:%d: %s",
                 port, gai_strerror(EAI_NONAME));
        assert_int_equal(log_count(want), 1);
    }
    assert_string_equal(find(f, "rc")->info_str, "connection error");
    RUN_UNTIL(f, fk.nreq == 5);
    fk_answer(4, 0);
    peer = accept_loop(f, l);
    RUN_UNTIL(f, !find(f, "rc")->link_down);
    close(peer);
    netbe_client_del(find(f, "rc"));

    close(c);
    close(l);
    f->ctx = saved;
    netbe_ctx_free(ctx);
}

static void test_resolve_on_thread_pool(void **state)
{
    struct fx *f = *state;
    struct netbe_client *cli;
    int l, port, peer;

    /* the default loop looks names up with uv_getaddrinfo() */
    l = inet_listener(&port);
    add_ok(f, "stream,id=cli,addr.type=inet,addr.host=localhost,addr.port=%d",
           NULL, port);
    cli = find(f, "cli");
    peer = accept_loop(f, l);
    assert_true(peer >= 0);
    RUN_UNTIL(f, !cli->link_down);
    close(peer);
    netbe_client_del(cli);

    /* and deleting one whose lookup is under way is safe */
    for (int i = 0; i < 20; i++) {
        char name[16];

        snprintf(name, sizeof(name), "c%d", i);
        add_ok(f,
               "stream,id=%s,addr.type=inet,addr.host=localhost,"
               "addr.port=%d",
               NULL, name, port);
        netbe_client_del(find(f, name));
    }
    spin(f, 100);
    close(l);
}

/* ---- error paths close what they opened ---- */

static void test_watch_failure_closes_fds(void **state)
{
    struct fx *f = *state;
    struct netbe_ctx *ctx = netbe_ctx_new(fk_init(f->loop));
    struct netbe_ctx *saved = f->ctx;
    char msg[256], str[256];
    int fds, l, port, sp[2];

    f->ctx = ctx;
    l = inet_listener(&port);
    fds = fk_count_fds();

    /* a server whose listening socket cannot be watched */
    fk.fail_watch = 1;
    snprintf(str, sizeof(str),
             "stream,id=s,server=on,addr.type=unix,addr.path=%s", f->path);
    assert_int_equal(add_stream(f, str, NULL, msg, sizeof(msg)), -1);
    assert_int_equal(fk_count_fds(), fds);

    /* a client whose connecting socket cannot be watched */
    fk.fail_watch = 1;
    snprintf(str, sizeof(str),
             "stream,id=s,addr.type=inet,addr.host=127.0.0.1,addr.port=%d",
             port);
    assert_int_equal(add_stream(f, str, NULL, msg, sizeof(msg)), -1);
    assert_int_equal(fk_count_fds(), fds);

    /* a descriptor that is no socket is closed, as QEMU does */
    assert_int_equal(pipe(sp), 0);
    snprintf(str, sizeof(str), "stream,id=s,addr.type=fd,addr.str=%d", sp[0]);
    assert_int_equal(add_stream(f, str, NULL, msg, sizeof(msg)), -1);
    assert_int_equal(fcntl(sp[0], F_GETFD), -1);
    close(sp[1]);

    /* a listener whose new connection cannot be watched: closed, logged */
    add_ok(f, "stream,id=sw,server=on,hubid=4,addr.type=unix,addr.path=%s",
           NULL, f->path);
    fds = fk_count_fds();
    fk.fail_watch = 1;
    {
        int c = unix_connect(f->path);

        expect_eof(f, c);
        close(c);
    }
    assert_int_equal(fk_count_fds(), fds);
    assert_int_equal(log_count("cannot watch a new connection"), 1);
    assert_null(find(f, "sw.0"));
    netbe_client_del(find(f, "sw"));

    close(l);
    f->ctx = saved;
    netbe_ctx_free(ctx);
}

/* ---- max-connections and connections already gone ---- */

/* The switch's connections: clients named "sw.N". */
static int count_conns(struct fx *f)
{
    int n = 0;

    for (struct netbe_client *nc = netbe_client_first(f->ctx); nc;
         nc = netbe_client_next(nc)) {
        n += strncmp(nc->name, "sw.", 3) == 0;
    }
    return n;
}

static void test_hub_storm_of_dead_peers(void **state)
{
    struct fx *f = *state;
    int dead[20], a, b, i;

    add_ok(f,
           "stream,id=sw,server=on,hubid=5,max-connections=4,addr.type=unix,"
           "addr.path=%s",
           NULL, f->path);
    /* all connect and close before the loop runs, then two real VMs */
    for (i = 0; i < 20; i++) {
        dead[i] = unix_connect(f->path);
    }
    for (i = 0; i < 20; i++) {
        close(dead[i]);
    }
    a = unix_connect(f->path);
    b = unix_connect(f->path);
    /* the dead ones freed their slots: both VMs get in, none refused */
    RUN_UNTIL(f, count_conns(f) == 2 && log_count("peer disconnected") == 20);
    assert_int_equal(refused_count(f), 0);
    raw_send_eth(a, bcast, mac_a, 7);
    expect_eth(f, b, 7);
    close(a);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unix_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_seconds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_learning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_max_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_option_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paused_peer_hangs_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hub_paused_peer_hangs_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_half_frame_then_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broken_connection_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slow_resolver_blocks_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_on_thread_pool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watch_failure_closes_fds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hub_storm_of_dead_peers, setup,
                                        teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
