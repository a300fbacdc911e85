/*
 * test_chardev.c - "-chardev socket" on the default loop: QEMU's option
 * messages, a server and a client chardev talking to each other (unix and
 * TCP), wait=on until the first client, a server taking its next client,
 * reconnect= after the server went and came back, the bounded output
 * buffer (a write that does not fit is refused whole, writable() when it
 * drained), pausing input, disconnect(), "Device 'X' is in use", help.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "netbe/netbe.h"

struct fe {
    uint8_t *data;
    size_t len, cap;
    int opened, closed, writable;
    struct netbe_chardev *chr;
    bool disconnect_on_read;
};

static void fe_read(void *opaque, const uint8_t *buf, size_t len)
{
    struct fe *f = opaque;

    if (f->len + len > f->cap) {
        f->cap = (f->len + len) * 2;
        f->data = realloc(f->data, f->cap);
        assert_non_null(f->data);
    }
    memcpy(f->data + f->len, buf, len);
    f->len += len;
    if (f->disconnect_on_read) {
        netbe_chardev_disconnect(f->chr);
    }
}

static void fe_event(void *opaque, enum netbe_chardev_event ev)
{
    struct fe *f = opaque;

    if (ev == NETBE_CHARDEV_OPENED) {
        f->opened++;
    } else {
        f->closed++;
    }
}

static void fe_writable(void *opaque)
{
    ((struct fe *)opaque)->writable++;
}

static const struct netbe_chardev_handlers fe_handlers = {
    .read = fe_read,
    .event = fe_event,
    .writable = fe_writable,
};

struct fix {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fix *x = calloc(1, sizeof(*x));

    x->loop = netbe_loop_default();
    x->ctx = netbe_ctx_new(x->loop);
    strcpy(x->dir, "/tmp/netbe-test-chardev-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->path, sizeof(x->path), "%s/s", x->dir);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fix *x = *state;

    netbe_ctx_free(x->ctx);
    while (netbe_loop_run_once(x->loop, 0)) {
    }
    unlink(x->path);
    rmdir(x->dir);
    free(x);
    return 0;
}

/* Run the loop until @cond or about 5 s. */
#define RUN_UNTIL(x, cond)                                                     \
    do {                                                                       \
        int n_;                                                                \
        for (n_ = 0; n_ < 5000 && !(cond); n_++) {                             \
            netbe_loop_run_once((x)->loop, 0);                                 \
            if (!(cond)) {                                                     \
                usleep(1000);                                                  \
            }                                                                  \
        }                                                                      \
        assert_true(cond);                                                     \
    } while (0)

static void expect_error(struct netbe_ctx *ctx, const char *str,
                         const char *msg)
{
    struct netbe_error *err = NULL;

    assert_null(netbe_chardev_add_str(ctx, str, &err));
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
}

static void test_errors(void **state)
{
    struct fix *x = *state;
    char str[256], msg[256];

    expect_error(x->ctx, "socket,id=c0", "Unable to parse FD number ");
    expect_error(x->ctx, "socket,path=/tmp/qq", "chardev: no id specified");
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq,host=127.0.0.1,port=5",
                 "None or one of 'path', 'fd' or 'host' option required.");
    expect_error(x->ctx, "socket,id=c0,host=127.0.0.1",
                 "chardev: socket: no port given");
    expect_error(x->ctx, "socket,id=c0,path=/nonexist/a,server=on,wait=off",
                 "Failed to bind socket to /nonexist/a: No such file or "
                 "directory");
    snprintf(str, sizeof(str), "socket,id=c0,path=%s", x->path);
    snprintf(msg, sizeof(msg),
             "Failed to connect to '%s': No such file or directory", x->path);
    expect_error(x->ctx, str, msg);
    expect_error(x->ctx, "socket,id=c0,host=127.0.0.1,port=abc,server=on",
                 "address resolution failed for 127.0.0.1:abc: Servname not "
                 "supported for ai_socktype");
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq,server=maybe",
                 "Parameter 'server' expects 'on' or 'off'");
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq,wait=off",
                 "'wait' option is incompatible with socket in client "
                 "connect mode");
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq,server=on,reconnect=1",
                 "'reconnect' option is incompatible with socket in server "
                 "listen mode");
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq,reconnect=abc",
                 "Parameter 'reconnect' expects a number");
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq,bogus=1",
                 "Invalid parameter 'bogus'");
    expect_error(x->ctx, "foo,id=c0", "'foo' is not a valid char driver name");
    expect_error(x->ctx, "socket,id=1c,path=/tmp/qq",
                 "Parameter 'id' expects an identifier\nIdentifiers consist "
                 "of letters, digits, '-', '.', '_', starting with a letter.");
    snprintf(str, sizeof(str), "socket,id=c0,path=%s,server=on,wait=off",
             x->path);
    assert_non_null(netbe_chardev_add_str(x->ctx, str, NULL));
    expect_error(x->ctx, "socket,id=c0,path=/tmp/qq2,server=on,wait=off",
                 "Duplicate ID 'c0' for chardev");
}

static void test_help(void **state)
{
    struct netbe_opts *o = netbe_opts_parse("help", "backend", NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    (void)state;
    assert_int_equal(netbe_chardev_help(o, out, NULL), 1);
    netbe_opts_free(o);
    o = netbe_opts_parse("socket,help", "backend", NULL);
    assert_int_equal(netbe_chardev_help(o, out, NULL), 1);
    netbe_opts_free(o);
    o = netbe_opts_parse("socket,id=x,path=/p", "backend", NULL);
    assert_int_equal(netbe_chardev_help(o, out, NULL), 0);
    netbe_opts_free(o);
    fclose(out);
    assert_non_null(
        strstr(buf, "Available chardev backend types: \n  socket\n"));
    assert_non_null(
        strstr(buf, "chardev options:\n  abstract=<bool (on/off)>"));
    assert_non_null(strstr(buf, "  reconnect=<num>\n"));
    free(buf);
}

/* A server and a client chardev of one context, talking. */
static void pair(struct fix *x, const char *srv, const char *cli)
{
    struct netbe_error *err = NULL;
    struct netbe_chardev *s, *c;
    struct fe fs = {0}, fc = {0};
    struct iovec iov[2];
    char fname[256];

    s = netbe_chardev_add_str(x->ctx, srv, &err);
    assert_null(err);
    assert_true(netbe_chardev_waiting(s));
    netbe_chardev_filename(s, fname, sizeof(fname));
    assert_int_equal(strncmp(fname, "disconnected:", 13), 0);
    assert_int_equal(netbe_chardev_attach(s, &fe_handlers, &fs, NULL), 0);
    assert_int_equal(netbe_chardev_attach(s, &fe_handlers, &fs, &err), -1);
    assert_string_equal(netbe_error_msg(err), "Device 's' is in use");
    netbe_error_free(err);
    err = NULL;
    /* no connection: nothing sent */
    iov[0] = (struct iovec){.iov_base = "x", .iov_len = 1};
    errno = 0;
    assert_int_equal(netbe_chardev_write(s, iov, 1), -1);
    assert_int_equal(errno, ENOTCONN);

    c = netbe_chardev_add_str(x->ctx, cli, &err);
    assert_null(err);
    assert_non_null(c);
    assert_ptr_equal(netbe_chardev_find(x->ctx, "c"), c);
    assert_int_equal(netbe_chardev_attach(c, &fe_handlers, &fc, NULL), 0);
    RUN_UNTIL(x, fs.opened == 1 && fc.opened == 1);
    assert_false(netbe_chardev_waiting(s));

    iov[0] = (struct iovec){.iov_base = "hello ", .iov_len = 6};
    iov[1] = (struct iovec){.iov_base = "world", .iov_len = 5};
    assert_int_equal(netbe_chardev_write(c, iov, 2), 0);
    RUN_UNTIL(x, fs.len == 11);
    assert_memory_equal(fs.data, "hello world", 11);
    assert_int_equal(netbe_chardev_write(s, iov, 1), 0);
    RUN_UNTIL(x, fc.len == 6);

    /* the client goes: the server sees it and listens again */
    netbe_chardev_detach(c);
    netbe_chardev_free(c);
    RUN_UNTIL(x, fs.closed == 1);
    assert_false(netbe_chardev_is_open(s));
    c = netbe_chardev_add_str(x->ctx, cli, &err);
    assert_null(err);
    RUN_UNTIL(x, fs.opened == 2);
    assert_int_equal(netbe_chardev_del(x->ctx, "s", &err), -1);
    assert_string_equal(netbe_error_msg(err), "Chardev 's' is busy");
    netbe_error_free(err);
    netbe_chardev_detach(s);
    assert_int_equal(netbe_chardev_del(x->ctx, "s", NULL), 0);
    free(fs.data);
    free(fc.data);
}

static void test_unix_pair(void **state)
{
    struct fix *x = *state;
    char srv[256], cli[256];

    snprintf(srv, sizeof(srv), "socket,id=s,path=%s,server=on", x->path);
    snprintf(cli, sizeof(cli), "socket,id=c,path=%s", x->path);
    pair(x, srv, cli);
    /* the server's socket file went with it */
    assert_int_equal(access(x->path, F_OK), -1);
}

static int free_tcp_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

static void test_tcp_pair(void **state)
{
    struct fix *x = *state;
    char srv[256], cli[256], fname[256];
    int port = free_tcp_port();
    struct netbe_chardev *s;

    snprintf(srv, sizeof(srv),
             "socket,id=s,host=127.0.0.1,port=%d,server=on,nodelay=on", port);
    snprintf(cli, sizeof(cli), "socket,id=c,host=127.0.0.1,port=%d", port);
    pair(x, srv, cli);
    /* QEMU's filename of a listening TCP chardev */
    snprintf(srv, sizeof(srv),
             "socket,id=s2,host=127.0.0.1,port=%d,server=on,wait=off", port);
    s = netbe_chardev_add_str(x->ctx, srv, NULL);
    assert_non_null(s);
    assert_false(netbe_chardev_waiting(s));
    netbe_chardev_filename(s, fname, sizeof(fname));
    snprintf(srv, sizeof(srv), "disconnected:tcp:127.0.0.1:%d,server=on", port);
    assert_string_equal(fname, srv);
}

/* A client with reconnect= outlives its server and finds the next one. */
static void test_reconnect(void **state)
{
    struct fix *x = *state;
    struct netbe_error *err = NULL;
    struct netbe_chardev *s, *c;
    struct fe fs = {0}, fc = {0};
    char srv[256], cli[256];

    snprintf(srv, sizeof(srv), "socket,id=s,path=%s,server=on,wait=off",
             x->path);
    snprintf(cli, sizeof(cli), "socket,id=c,path=%s,reconnect=1", x->path);
    /* no server yet: a warning and a retry, not an error */
    c = netbe_chardev_add_str(x->ctx, cli, &err);
    assert_null(err);
    assert_non_null(c);
    assert_false(netbe_chardev_is_open(c));
    netbe_chardev_attach(c, &fe_handlers, &fc, NULL);
    s = netbe_chardev_add_str(x->ctx, srv, &err);
    assert_null(err);
    netbe_chardev_attach(s, &fe_handlers, &fs, NULL);
    RUN_UNTIL(x, fc.opened == 1 && fs.opened == 1);
    /* the server goes and comes back */
    netbe_chardev_detach(s);
    netbe_chardev_free(s);
    RUN_UNTIL(x, fc.closed == 1);
    s = netbe_chardev_add_str(x->ctx, srv, &err);
    assert_null(err);
    memset(&fs, 0, sizeof(fs));
    netbe_chardev_attach(s, &fe_handlers, &fs, NULL);
    RUN_UNTIL(x, fc.opened == 2 && fs.opened == 1);
    /* a frontend that disconnects on garbage: the client comes again */
    fs.chr = s;
    fs.disconnect_on_read = true;
    {
        struct iovec iov = {.iov_base = "junk", .iov_len = 4};

        assert_int_equal(netbe_chardev_write(c, &iov, 1), 0);
    }
    RUN_UNTIL(x, fs.closed == 1 && fc.closed == 2);
    RUN_UNTIL(x, fc.opened == 3 && fs.opened == 2);
    free(fs.data);
    free(fc.data);
}

/*
 * A peer that never reads: the output buffer fills to its bound, a write
 * that does not fit is refused whole, and once the peer reads, writable()
 * comes and every byte arrives in order.
 */
static void test_backpressure(void **state)
{
    struct fix *x = *state;
    struct netbe_chardev *s;
    struct fe fs = {0};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    static uint8_t chunk[60000];
    struct iovec iov = {.iov_base = chunk, .iov_len = sizeof(chunk)};
    char srv[256];
    size_t written = 0, got = 0, i;
    int fd, k = 0;
    uint8_t buf[65536];

    snprintf(srv, sizeof(srv), "socket,id=s,path=%s,server=on,wait=off",
             x->path);
    s = netbe_chardev_add_str(x->ctx, srv, NULL);
    assert_non_null(s);
    netbe_chardev_attach(s, &fe_handlers, &fs, NULL);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    strcpy(sun.sun_path, x->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    RUN_UNTIL(x, fs.opened == 1);
    for (;;) {
        for (i = 0; i < sizeof(chunk); i++) {
            chunk[i] = (uint8_t)(k + i);
        }
        if (netbe_chardev_write(s, &iov, 1) < 0) {
            assert_int_equal(errno, EAGAIN);
            break;
        }
        written += sizeof(chunk);
        k++;
    }
    assert_true(netbe_chardev_pending(s) >
                NETBE_CHARDEV_OUT_MAX - sizeof(chunk));
    assert_true(netbe_chardev_pending(s) <= NETBE_CHARDEV_OUT_MAX);
    /* the peer reads everything; bytes come in order */
    k = 0;
    while (got < written) {
        ssize_t n;

        netbe_loop_run_once(x->loop, 0);
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
            usleep(500);
            continue;
        }
        for (i = 0; i < (size_t)n; i++) {
            size_t pos = got + i;

            assert_int_equal(
                buf[i], (uint8_t)(pos / sizeof(chunk) + pos % sizeof(chunk)));
        }
        got += (size_t)n;
    }
    assert_int_equal(got, written);
    RUN_UNTIL(x, fs.writable == 1);
    assert_int_equal(netbe_chardev_pending(s), 0);

    /* paused input waits in the socket, then comes */
    netbe_chardev_set_read_paused(s, true);
    assert_int_equal(send(fd, "abc", 3, 0), 3);
    for (i = 0; i < 50; i++) {
        netbe_loop_run_once(x->loop, 0);
        usleep(200);
    }
    assert_int_equal(fs.len, 0);
    netbe_chardev_set_read_paused(s, false);
    RUN_UNTIL(x, fs.len == 3);
    /* a hang-up while paused is still seen */
    netbe_chardev_set_read_paused(s, true);
    close(fd);
    RUN_UNTIL(x, fs.closed == 1);
    free(fs.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
