/*
 * test_sockutil.c - QEMU's SocketAddress read from dotted options with
 * QEMU 7.2's exact messages, resolution (inet, unix, abstract, tight),
 * fd numbers, socket_uri() text, listening/connecting, the transmit
 * buffer's partial-write resumption and its count of frames not yet
 * written, lookups that leave host names to the loop, and the warning
 * rate limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/sockutil.h"
#include "netbe/log.h"
#include "netbe/opts.h"

#include "fakeloop.h"

static int parse_sa(struct netbe_sa *sa, const char *str, const char *prefix,
                    char *msg, size_t msglen)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts = netbe_opts_parse(str, "type", &err);
    int r;

    assert_non_null(opts);
    r = netbe_sa_from_opts(sa, opts, prefix, &err);
    if (msg) {
        snprintf(msg, msglen, "%s", err ? netbe_error_msg(err) : "");
    }
    if (r == -1) {
        assert_non_null(err);
    } else {
        assert_null(err);
    }
    netbe_error_free(err);
    netbe_opts_free(opts);
    return r;
}

static void expect_error(const char *str, const char *want)
{
    struct netbe_sa sa;
    char msg[256];

    assert_int_equal(parse_sa(&sa, str, "addr", msg, sizeof(msg)), -1);
    assert_string_equal(msg, want);
    /* a failed parse leaves nothing to free */
    assert_null(sa.host);
    assert_null(sa.port);
    assert_null(sa.path);
    assert_null(sa.str);
}

static void test_parse_inet(void **state)
{
    struct netbe_sa sa;

    assert_int_equal(parse_sa(&sa,
                              "stream,addr.type=inet,addr.host=127.0.0.1,"
                              "addr.port=5555,addr.to=5560,addr.ipv4=on,"
                              "addr.numeric=on,addr.keep-alive=on",
                              "addr", NULL, 0),
                     0);
    assert_int_equal(sa.type, NETBE_SA_INET);
    assert_string_equal(sa.host, "127.0.0.1");
    assert_string_equal(sa.port, "5555");
    assert_true(sa.has_to);
    assert_int_equal(sa.to, 5560);
    assert_true(sa.has_ipv4 && sa.ipv4);
    assert_false(sa.has_ipv6);
    assert_true(sa.numeric);
    assert_true(sa.keep_alive);
    assert_false(sa.mptcp);
    netbe_sa_clear(&sa);

    /* another prefix, as dgram's local/remote */
    assert_int_equal(parse_sa(&sa,
                              "dgram,remote.type=inet,remote.host=h,"
                              "remote.port=1",
                              "remote", NULL, 0),
                     0);
    assert_string_equal(sa.host, "h");
    netbe_sa_clear(&sa);
    assert_int_equal(parse_sa(&sa, "dgram,remote.type=inet", "local", NULL, 0),
                     1);
}

static void test_parse_unix_fd(void **state)
{
    struct netbe_sa sa;

    assert_int_equal(
        parse_sa(&sa, "stream,addr.type=unix,addr.path=/x/y", "addr", NULL, 0),
        0);
    assert_int_equal(sa.type, NETBE_SA_UNIX);
    assert_string_equal(sa.path, "/x/y");
    assert_false(sa.abstract);
    assert_true(sa.tight); /* QEMU's default */
    netbe_sa_clear(&sa);

    assert_int_equal(parse_sa(&sa,
                              "stream,addr.type=unix,addr.path=n,"
                              "addr.abstract=on,addr.tight=off",
                              "addr", NULL, 0),
                     0);
    assert_true(sa.abstract);
    assert_false(sa.tight);
    netbe_sa_clear(&sa);

    assert_int_equal(
        parse_sa(&sa, "stream,addr.type=fd,addr.str=3", "addr", NULL, 0), 0);
    assert_int_equal(sa.type, NETBE_SA_FD);
    assert_string_equal(sa.str, "3");
    netbe_sa_clear(&sa);

    /* the last of a repeated key wins, as QEMU's keyval */
    assert_int_equal(parse_sa(&sa,
                              "stream,addr.type=inet,addr.type=unix,"
                              "addr.path=/p",
                              "addr", NULL, 0),
                     0);
    assert_int_equal(sa.type, NETBE_SA_UNIX);
    netbe_sa_clear(&sa);
}

/* Every text below was printed by qemu-system-x86_64 7.2 for -netdev. */
static void test_parse_errors(void **state)
{
    expect_error("stream,addr.host=x", "Parameter 'addr.type' is missing");
    expect_error("stream,addr.type=inet", "Parameter 'addr.host' is missing");
    expect_error("stream,addr.type=inet,addr.host=h",
                 "Parameter 'addr.port' is missing");
    expect_error("stream,addr.type=unix", "Parameter 'addr.path' is missing");
    expect_error("stream,addr.type=fd", "Parameter 'addr.str' is missing");
    expect_error("stream,addr.type=vsock", "Parameter 'addr.cid' is missing");
    expect_error("stream,addr.type=vsock,addr.cid=2",
                 "Parameter 'addr.port' is missing");
    expect_error("stream,addr.type=vsock,addr.cid=2,addr.port=3",
                 "socket family AF_VSOCK unsupported");
    expect_error("stream,addr.type=foo",
                 "Parameter 'type' does not accept value 'foo'");
    expect_error("stream,addr.type=Inet,addr.host=1,addr.port=1",
                 "Parameter 'type' does not accept value 'Inet'");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,"
                 "addr.numeric=x",
                 "Parameter 'addr.numeric' expects 'on' or 'off'");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,addr.to=x",
                 "Parameter 'addr.to' expects integer");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,"
                 "addr.to=70000",
                 "Parameter 'to' expects uint16_t");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,addr.to=-1",
                 "Parameter 'to' expects uint16_t");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,"
                 "addr.ipv4=x",
                 "Parameter 'addr.ipv4' expects 'on' or 'off'");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,"
                 "addr.path=x",
                 "Parameter 'addr.path' is unexpected");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,"
                 "addr.bogus=1",
                 "Parameter 'addr.bogus' is unexpected");
    expect_error("stream,addr.type=unix,addr.path=/x,addr.abstract=x",
                 "Parameter 'addr.abstract' expects 'on' or 'off'");
    expect_error("stream,addr.type=unix,addr.path=/x,addr.tight=x",
                 "Parameter 'addr.tight' expects 'on' or 'off'");
    expect_error("stream,addr.type=unix,addr.path=/x,addr.host=x",
                 "Parameter 'addr.host' is unexpected");
    expect_error("stream,addr.type=fd,addr.str=3,addr.x=x",
                 "Parameter 'addr.x' is unexpected");
    expect_error("stream,addr=x,addr.type=inet,addr.host=h,addr.port=1",
                 "Parameters 'addr.*' used inconsistently");
    expect_error("stream,addr.type=inet,addr.host=h,addr.port=1,"
                 "addr.type=unix",
                 "Parameter 'addr.path' is missing");
    /* a missing member is found before an unexpected one */
    expect_error("stream,addr.type=inet,addr.bogus=1",
                 "Parameter 'addr.host' is missing");
}

static void test_resolve(void **state)
{
    struct netbe_sa sa = {0};
    struct sockaddr_storage ss;
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    struct netbe_error *err = NULL;
    char longpath[200];
    socklen_t len;
    char out[128];

    sa.type = NETBE_SA_INET;
    sa.host = "127.0.0.1";
    sa.port = "5555";
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    netbe_sockaddr_to_str((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "127.0.0.1:5555");
    netbe_sockaddr_to_uri((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "tcp:127.0.0.1:5555");

    sa.host = "::1";
    sa.numeric = true;
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    netbe_sockaddr_to_str((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "[::1]:5555");
    /* QEMU's socket_uri() puts no brackets around IPv6 */
    netbe_sockaddr_to_uri((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "tcp:::1:5555");

    sa.host = "not-a-number";
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), -1);
    assert_non_null(strstr(netbe_error_msg(err),
                           "address resolution failed for not-a-number:5555"));
    netbe_error_free(err);
    err = NULL;

    sa.host = "127.0.0.1";
    sa.numeric = false;
    sa.has_ipv4 = sa.has_ipv6 = true;
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), -1);
    assert_string_equal(netbe_error_msg(err),
                        "Cannot disable IPv4 and IPv6 at same time");
    netbe_error_free(err);
    err = NULL;

    memset(&sa, 0, sizeof(sa));
    sa.type = NETBE_SA_UNIX;
    sa.path = "/tmp/sock";
    sa.tight = true;
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), 0);
    assert_int_equal(un->sun_family, AF_UNIX);
    assert_string_equal(un->sun_path, "/tmp/sock");
    netbe_sockaddr_to_uri((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "unix:/tmp/sock");
    netbe_sockaddr_to_str((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "/tmp/sock");

    /* abstract: a leading NUL; tight means exactly the name's length */
    sa.path = "abc";
    sa.abstract = true;
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), 0);
    assert_int_equal(un->sun_path[0], 0);
    assert_memory_equal(un->sun_path + 1, "abc", 3);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 4);
    netbe_sockaddr_to_str((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "@abc");
    netbe_sockaddr_to_uri((struct sockaddr *)&ss, len, out, sizeof(out));
    assert_string_equal(out, "unix:abc");
    sa.tight = false;
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), 0);
    assert_int_equal(len, sizeof(struct sockaddr_un));

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    sa.path = longpath;
    sa.abstract = false;
    assert_int_equal(netbe_sa_resolve(&sa, SOCK_STREAM, &ss, &len, &err), -1);
    assert_non_null(strstr(netbe_error_msg(err), "is too long"));
    assert_int_equal(strncmp(netbe_error_msg(err), "UNIX socket path 'aaa", 21),
                     0);
    netbe_error_free(err);
}

static void test_fd_from_str(void **state)
{
    struct netbe_error *err = NULL;
    int p[2];
    char s[32];

    assert_int_equal(pipe(p), 0);
    snprintf(s, sizeof(s), "%d", p[0]);
    assert_int_equal(netbe_fd_from_str(s, &err), p[0]);
    assert_null(err);
    assert_false(netbe_fd_is_socket(p[0]));
    close(p[0]);
    close(p[1]);

    /* closed now */
    assert_int_equal(netbe_fd_from_str(s, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(netbe_error_msg(err), "is not open"));
    netbe_error_free(err);
    err = NULL;

    static const char *const bad[] = {"",   "abc", "-1",         "0x3",
                                      "3x", " 3",  "99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[64];

        assert_int_equal(netbe_fd_from_str(bad[i], &err), -1);
        snprintf(want, sizeof(want), "Invalid file descriptor number '%s'",
                 bad[i]);
        assert_string_equal(netbe_error_msg(err), want);
        netbe_error_free(err);
        err = NULL;
    }
}

static void test_listen_connect_unix(void **state)
{
    char dir[] = "/tmp/netbe-sockutil-XXXXXX";
    char path[128], *created = NULL, out[256];
    struct netbe_error *err = NULL;
    struct netbe_sa sa = {0};
    struct stat st;
    bool inprog;
    int lfd, cfd, afd;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s", dir);
    sa.type = NETBE_SA_UNIX;
    sa.path = path;
    sa.tight = true;

    /* nobody listens yet: QEMU's connect message */
    assert_int_equal(netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err), -1);
    snprintf(out, sizeof(out),
             "Failed to connect to '%s': No such file or directory", path);
    assert_string_equal(netbe_error_msg(err), out);
    netbe_error_free(err);
    err = NULL;

    lfd = netbe_sa_listen(&sa, SOCK_STREAM, 1, &created, &err);
    assert_true(lfd >= 0);
    assert_non_null(created);
    assert_string_equal(created, path);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);

    cfd = netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err);
    assert_true(cfd >= 0);
    assert_false(inprog);
    assert_int_equal(netbe_connect_finish(cfd), 0);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    close(afd);
    close(cfd);

    /* a stale socket file is replaced, as QEMU does */
    close(lfd);
    lfd = netbe_sa_listen(&sa, SOCK_STREAM, 1, NULL, &err);
    assert_true(lfd >= 0);
    close(lfd);
    unlink(path);
    free(created);

    /* a directory that does not exist */
    snprintf(path, sizeof(path), "%s/no/s", dir);
    assert_int_equal(netbe_sa_listen(&sa, SOCK_STREAM, 1, NULL, &err), -1);
    snprintf(out, sizeof(out),
             "Failed to bind socket to %s: No such file or directory", path);
    assert_string_equal(netbe_error_msg(err), out);
    netbe_error_free(err);
    err = NULL;

    /* abstract names leave nothing in the file system */
    snprintf(path, sizeof(path), "netbe-test-%d", (int)getpid());
    sa.abstract = true;
    lfd = netbe_sa_listen(&sa, SOCK_STREAM, 1, &created, &err);
    assert_true(lfd >= 0);
    assert_null(created);
    cfd = netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err);
    assert_true(cfd >= 0);
    close(cfd);
    close(lfd);
    rmdir(dir);
}

static void test_listen_connect_inet(void **state)
{
    struct netbe_error *err = NULL;
    struct netbe_sa sa = {0};
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char port[16], msg[128];
    bool inprog;
    int lfd, lfd2, cfd;

    sa.type = NETBE_SA_INET;
    sa.host = "127.0.0.1";
    sa.port = "0";
    lfd = netbe_sa_listen(&sa, SOCK_STREAM, 1, NULL, &err);
    assert_true(lfd >= 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
    snprintf(port, sizeof(port), "%u",
             ntohs(((struct sockaddr_in *)&ss)->sin_port));

    /* port busy: the "to" range finds the next one */
    sa.port = port;
    sa.has_to = true;
    sa.to = (uint16_t)(atoi(port) + 20);
    lfd2 = netbe_sa_listen(&sa, SOCK_STREAM, 1, NULL, &err);
    assert_true(lfd2 >= 0);
    close(lfd2);
    sa.has_to = false;
    assert_int_equal(netbe_sa_listen(&sa, SOCK_STREAM, 1, NULL, &err), -1);
    assert_string_equal(netbe_error_msg(err),
                        "Failed to find an available port: Address already "
                        "in use");
    netbe_error_free(err);
    err = NULL;

    sa.keep_alive = true;
    cfd = netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err);
    assert_true(cfd >= 0);
    if (inprog) {
        fd_set w;

        FD_ZERO(&w);
        FD_SET(cfd, &w);
        assert_int_equal(select(cfd + 1, NULL, &w, NULL, NULL), 1);
    }
    assert_int_equal(netbe_connect_finish(cfd), 0);
    close(cfd);
    close(lfd);

    /* refused, either at once or once the connect completes */
    cfd = netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err);
    if (cfd < 0) {
        snprintf(msg, sizeof(msg),
                 "Failed to connect to '127.0.0.1:%s': Connection refused",
                 port);
        assert_string_equal(netbe_error_msg(err), msg);
        netbe_error_free(err);
    } else {
        fd_set w;

        assert_true(inprog);
        FD_ZERO(&w);
        FD_SET(cfd, &w);
        assert_int_equal(select(cfd + 1, NULL, &w, NULL, NULL), 1);
        assert_int_equal(netbe_connect_finish(cfd), -1);
        assert_int_equal(errno, ECONNREFUSED);
        close(cfd);
    }
}

static void test_fd_address(void **state)
{
    struct netbe_error *err = NULL;
    struct netbe_sa sa = {0};
    char str[16];
    bool inprog;
    int sp[2], p[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    sa.type = NETBE_SA_FD;
    snprintf(str, sizeof(str), "%d", sp[0]);
    sa.str = str;
    assert_int_equal(netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err), sp[0]);
    assert_false(inprog);
    assert_true(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
    assert_true(netbe_fd_is_socket(sp[0]));

    assert_int_equal(pipe(p), 0);
    snprintf(str, sizeof(str), "%d", p[0]);
    assert_int_equal(netbe_sa_connect(&sa, SOCK_STREAM, &inprog, &err), -1);
    /* handed over and refused: closed, as QEMU's socket_get_fd() does */
    assert_int_equal(fcntl(p[0], F_GETFD), -1);
    {
        char want[64];

        snprintf(want, sizeof(want), "File descriptor '%d' is not a socket",
                 p[0]);
        assert_string_equal(netbe_error_msg(err), want);
    }
    netbe_error_free(err);
    close(p[1]);
    close(sp[0]);
    close(sp[1]);
}

static void test_txbuf(void **state)
{
    struct netbe_txbuf tb;
    uint8_t frame[1000], got[64 * 1024];
    struct iovec iov[2];
    size_t total = 0, want = 0;
    int sp[2], sz = 4096, n, i, r;

    for (i = 0; i < (int)sizeof(frame); i++) {
        frame[i] = (uint8_t)(i * 7);
    }
    netbe_txbuf_init(&tb, 8192);
    assert_int_equal(tb.cap, 8192);
    assert_true(netbe_txbuf_fits(&tb, 8188, true));
    assert_false(netbe_txbuf_fits(&tb, 8189, true));

    /* split iovec, prefix written big-endian */
    iov[0].iov_base = frame;
    iov[0].iov_len = 10;
    iov[1].iov_base = frame + 10;
    iov[1].iov_len = 290;
    assert_int_equal(netbe_txbuf_put(&tb, iov, 2, 300, true), 0);
    assert_int_equal(netbe_txbuf_used(&tb), 304);
    assert_int_equal(tb.buf[0], 0);
    assert_int_equal(tb.buf[1], 0);
    assert_int_equal(tb.buf[2], 1);
    assert_int_equal(tb.buf[3], 44);
    assert_memory_equal(tb.buf + 4, frame, 300);
    want += 304;

    /* fill until full: the put that does not fit says so */
    iov[0].iov_len = sizeof(frame);
    for (n = 0; netbe_txbuf_put(&tb, iov, 1, sizeof(frame), true) == 0; n++) {
        want += sizeof(frame) + 4;
    }
    assert_int_equal(n, (8192 - 304) / 1004);

    /* a socket that takes little: partial writes resume where they stop */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    fcntl(sp[0], F_SETFL, O_NONBLOCK);
    for (i = 0; i < 50; i++) {
        r = netbe_txbuf_flush(&tb, sp[0]);
        assert_true(r >= 0);
        /* room appears once bytes left: the frame slides to the front */
        if (netbe_txbuf_put(&tb, iov, 1, sizeof(frame), true) == 0) {
            want += sizeof(frame) + 4;
        }
        n = (int)read(sp[1], got + total, 700);
        assert_true(n > 0);
        total += (size_t)n;
        if (total > sizeof(got) - 8192) {
            break;
        }
    }
    while ((r = netbe_txbuf_flush(&tb, sp[0])) == 0) {
        n = (int)read(sp[1], got + total, sizeof(got) - total);
        assert_true(n > 0);
        total += (size_t)n;
    }
    assert_int_equal(r, 1);
    assert_int_equal(netbe_txbuf_used(&tb), 0);
    fcntl(sp[1], F_SETFL, O_NONBLOCK);
    while ((n = (int)read(sp[1], got + total, sizeof(got) - total)) > 0) {
        total += (size_t)n;
    }
    assert_int_equal(total, want);
    /* the stream parses back to the same frames */
    {
        size_t off = 304;

        assert_memory_equal(got + 4, frame, 300);
        while (off < total) {
            uint32_t len = (uint32_t)got[off] << 24 |
                           (uint32_t)got[off + 1] << 16 |
                           (uint32_t)got[off + 2] << 8 | got[off + 3];

            assert_int_equal(len, sizeof(frame));
            assert_memory_equal(got + off + 4, frame, sizeof(frame));
            off += 4 + len;
        }
        assert_int_equal(off, total);
    }

    /* a write error is reported */
    assert_int_equal(netbe_txbuf_put(&tb, iov, 1, 10, true), 0);
    close(sp[1]);
    assert_int_equal(netbe_txbuf_flush(&tb, sp[0]), -1);
    assert_int_equal(errno, EPIPE);
    netbe_txbuf_reset(&tb);
    assert_int_equal(netbe_txbuf_used(&tb), 0);
    close(sp[0]);
    netbe_txbuf_destroy(&tb);
}

static void test_txbuf_frames(void **state)
{
    static uint8_t got[1 << 20];
    static size_t sizes[400];
    struct netbe_txbuf tb;
    uint8_t frame[1500];
    struct iovec iov = {.iov_base = frame};
    unsigned put = 0;
    size_t total = 0;
    int sp[2], sz = 4096, r;

    memset(frame, 0x5a, sizeof(frame));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    fcntl(sp[0], F_SETFL, O_NONBLOCK);
    fcntl(sp[1], F_SETFL, O_NONBLOCK);
    netbe_txbuf_init(&tb, 16384);

    /*
     * Frames of many sizes in, partial writes out, bytes read in odd
     * amounts: what the buffer counts is always what was put and has not
     * wholly left it, the frames a broken connection would lose.
     */
    for (int round = 0; round < 400; round++) {
        size_t written, off = 0;
        unsigned whole = 0;
        int queued = 0;

        iov.iov_len = 1 + (size_t)(round * 37) % sizeof(frame);
        if (netbe_txbuf_put(&tb, &iov, 1, iov.iov_len, true) == 0) {
            sizes[put++] = iov.iov_len;
        }
        r = netbe_txbuf_flush(&tb, sp[0]);
        assert_true(r >= 0);
        if (round % 3 == 0) {
            ssize_t n = read(sp[1], got, 1 + (round * 11) % 3000);

            if (n > 0) {
                total += (size_t)n;
            }
        }
        /* bytes that left the buffer: read, or waiting in the socket */
        assert_int_equal(ioctl(sp[1], FIONREAD, &queued), 0);
        written = total + (size_t)queued;
        while (whole < put && off + 4 + sizes[whole] <= written) {
            off += 4 + sizes[whole++];
        }
        assert_int_equal(netbe_txbuf_frames(&tb), put - whole);
    }
    assert_true(put > 100);
    netbe_txbuf_reset(&tb);
    assert_int_equal(netbe_txbuf_frames(&tb), 0);
    netbe_txbuf_destroy(&tb);
    close(sp[0]);
    close(sp[1]);
}

static void test_warn_limit(void **state)
{
    struct netbe_warn_limit wl = {0};
    int logged = 0;

    /* the 1st, 2nd, 4th, 8th... of 1000: 10 lines */
    for (int i = 0; i < 1000; i++) {
        logged += netbe_warn_limit_hit(&wl);
    }
    assert_int_equal(logged, 10);
    assert_int_equal(wl.count, 1000);
}

static void test_resolve_start(void **state)
{
    struct netbe_loop *loop = fk_init(netbe_loop_default());
    struct netbe_sa_lookup *lk;
    struct netbe_error *err = NULL;
    struct netbe_sa sa = {0};
    struct sockaddr_storage ss;
    socklen_t len;

    /* numeric: answered at once, no resolver */
    sa.type = NETBE_SA_INET;
    sa.host = "127.0.0.1";
    sa.port = "99";
    assert_int_equal(netbe_sa_resolve_start(loop, &sa, SOCK_STREAM, &ss, &len,
                                            NULL, NULL, &lk, &err),
                     0);
    assert_null(lk);
    assert_int_equal(ss.ss_family, AF_INET);
    sa.host = "::1";
    assert_int_equal(netbe_sa_resolve_start(loop, &sa, SOCK_STREAM, &ss, &len,
                                            NULL, NULL, &lk, &err),
                     0);
    assert_int_equal(ss.ss_family, AF_INET6);
    sa.host = "";
    assert_int_equal(netbe_sa_resolve_start(loop, &sa, SOCK_STREAM, &ss, &len,
                                            NULL, NULL, &lk, &err),
                     0);
    assert_int_equal(fk.nreq, 0);

    /* a name goes to the loop; cancelled, it is forgotten */
    sa.host = "localhost";
    assert_int_equal(netbe_sa_resolve_start(loop, &sa, SOCK_STREAM, &ss, &len,
                                            NULL, NULL, &lk, &err),
                     1);
    assert_non_null(lk);
    assert_int_equal(fk.nreq, 1);
    assert_string_equal(fk.req[0].host, "localhost");
    assert_string_equal(fk.req[0].port, "99");
    netbe_sa_lookup_cancel(lk);
    assert_int_equal(fk.ncancel, 1);
    fk_answer(0, 0);

    /* a loop without a resolver: the blocking lookup, as documented */
    {
        struct netbe_loop_ops ops = *loop->ops;
        struct netbe_loop plain = {.ops = &ops, .opaque = loop->opaque};

        ops.resolve = NULL;
        assert_int_equal(netbe_sa_resolve_start(&plain, &sa, SOCK_STREAM, &ss,
                                                &len, NULL, NULL, &lk, &err),
                         0);
        assert_int_equal(ss.ss_family, AF_INET);
    }
    netbe_loop_close(netbe_loop_default());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_inet),
        cmocka_unit_test(test_parse_unix_fd),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_fd_from_str),
        cmocka_unit_test(test_listen_connect_unix),
        cmocka_unit_test(test_listen_connect_inet),
        cmocka_unit_test(test_fd_address),
        cmocka_unit_test(test_txbuf),
        cmocka_unit_test(test_txbuf_frames),
        cmocka_unit_test(test_warn_limit),
        cmocka_unit_test(test_resolve_start),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
