/*
 * test_loop.c - the libuv loop behind netbe_loop_default(): fd watches,
 * pausing and dropping them (also from inside another watch's callback),
 * hang-up alone while paused, timer order and re-arming, the clock,
 * signal watches, name lookups on the thread pool (and cancelled ones)
 * and a leak-free close after which a fresh loop can be made.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "netbe/loop.h"

struct fd_rec {
    int calls;
    int fd;
    unsigned last;
    /* a watch to drop from inside this callback */
    struct netbe_loop *loop;
    void **victim;
    bool drain;
};

static void fd_cb(void *opaque, int fd, unsigned events)
{
    struct fd_rec *r = opaque;
    char buf[64];

    r->calls++;
    r->fd = fd;
    r->last = events;
    if (r->victim && *r->victim) {
        netbe_unwatch_fd(r->loop, *r->victim);
        *r->victim = NULL;
    }
    if (r->drain) {
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
    }
}

static int setup(void **state)
{
    *state = netbe_loop_default();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    netbe_loop_close(*state);
    return 0;
}

/* A few non-blocking iterations, enough for anything ready to run. */
static void spin(struct netbe_loop *loop)
{
    for (int i = 0; i < 3; i++) {
        netbe_loop_run_once(loop, 0);
    }
}

static void test_pipe_readable(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int p[2];
    void *w;

    assert_int_equal(pipe(p), 0);
    w = netbe_watch_fd(loop, p[0], NETBE_EV_READ, fd_cb, &rec);
    assert_non_null(w);

    /* nothing to read yet */
    spin(loop);
    assert_int_equal(rec.calls, 0);

    assert_int_equal(write(p[1], "x", 1), 1);
    netbe_loop_run_once(loop, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.fd, p[0]);
    assert_int_equal(rec.last, NETBE_EV_READ);

    /* paused: the pipe stays readable but nothing is reported */
    netbe_update_fd(loop, w, 0);
    rec.calls = 0;
    spin(loop);
    assert_int_equal(rec.calls, 0);
    /* a paused watch does not keep the loop alive */
    assert_int_equal(netbe_loop_run_once(loop, 1), 0);
    assert_int_equal(rec.calls, 0);

    /* resumed: level-triggered, so the unread byte shows again */
    netbe_update_fd(loop, w, NETBE_EV_READ);
    netbe_loop_run_once(loop, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.last, NETBE_EV_READ);

    /* only the events asked for: READ|WRITE on a read end gives READ */
    netbe_update_fd(loop, w, NETBE_EV_READ | NETBE_EV_WRITE);
    rec.calls = 0;
    netbe_loop_run_once(loop, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.last & (NETBE_EV_READ | NETBE_EV_WRITE),
                     NETBE_EV_READ);

    netbe_unwatch_fd(loop, w);
    rec.calls = 0;
    spin(loop);
    assert_int_equal(rec.calls, 0);
    close(p[0]);
    close(p[1]);
}

static void test_watch_paused_from_start(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int p[2];
    void *w;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    w = netbe_watch_fd(loop, p[0], 0, fd_cb, &rec);
    assert_non_null(w);
    spin(loop);
    assert_int_equal(rec.calls, 0);
    netbe_update_fd(loop, w, NETBE_EV_READ);
    netbe_loop_run_once(loop, 1);
    assert_int_equal(rec.calls, 1);
    netbe_unwatch_fd(loop, w);
    close(p[0]);
    close(p[1]);
}

static void test_writable(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int p[2];
    void *w;

    assert_int_equal(pipe(p), 0);
    w = netbe_watch_fd(loop, p[1], NETBE_EV_WRITE, fd_cb, &rec);
    assert_non_null(w);
    netbe_loop_run_once(loop, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.fd, p[1]);
    assert_int_equal(rec.last, NETBE_EV_WRITE);
    netbe_unwatch_fd(loop, w);
    close(p[0]);
    close(p[1]);
}

static void test_hangup_and_error(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int p[2];
    void *w;

    /* the writer goes away: the reader is told to read (and finds EOF) */
    assert_int_equal(pipe(p), 0);
    w = netbe_watch_fd(loop, p[0], NETBE_EV_READ, fd_cb, &rec);
    close(p[1]);
    netbe_loop_run_once(loop, 1);
    assert_true(rec.calls >= 1);
    assert_true(rec.last & NETBE_EV_READ);
    netbe_unwatch_fd(loop, w);
    close(p[0]);

    /* the reader goes away: the writer sees an error, reported as all */
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(pipe(p), 0);
    w = netbe_watch_fd(loop, p[1], NETBE_EV_WRITE, fd_cb, &rec);
    close(p[0]);
    netbe_loop_run_once(loop, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.last, NETBE_EV_READ | NETBE_EV_WRITE | NETBE_EV_ERROR);
    netbe_unwatch_fd(loop, w);
    close(p[1]);
}

static void test_unwatch_other_in_callback(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec a = {0}, b = {0};
    int pa[2], pb[2];
    void *wa, *wb;

    assert_int_equal(pipe(pa), 0);
    assert_int_equal(pipe(pb), 0);
    /* both ready in the same iteration; whoever runs first drops the other */
    assert_int_equal(write(pa[1], "a", 1), 1);
    assert_int_equal(write(pb[1], "b", 1), 1);
    wa = netbe_watch_fd(loop, pa[0], NETBE_EV_READ, fd_cb, &a);
    wb = netbe_watch_fd(loop, pb[0], NETBE_EV_READ, fd_cb, &b);
    a.loop = b.loop = loop;
    a.victim = &wb;
    b.victim = &wa;
    a.drain = b.drain = true;

    netbe_loop_run_once(loop, 1);
    spin(loop);
    assert_int_equal(a.calls + b.calls, 1);
    assert_true(wa == NULL || wb == NULL);

    /* the dropped fd can be closed at once and the survivor still works */
    if (wa) {
        close(pb[0]);
        assert_int_equal(write(pa[1], "a", 1), 1);
        netbe_loop_run_once(loop, 1);
        assert_int_equal(a.calls, 2);
        assert_int_equal(b.calls, 0);
        netbe_unwatch_fd(loop, wa);
        close(pa[0]);
    } else {
        close(pa[0]);
        assert_int_equal(write(pb[1], "b", 1), 1);
        netbe_loop_run_once(loop, 1);
        assert_int_equal(b.calls, 2);
        assert_int_equal(a.calls, 0);
        netbe_unwatch_fd(loop, wb);
        close(pb[0]);
    }
    close(pa[1]);
    close(pb[1]);
}

static void unwatch_self_cb(void *opaque, int fd, unsigned events)
{
    struct fd_rec *r = opaque;

    r->calls++;
    netbe_unwatch_fd(r->loop, *r->victim);
}

static void test_unwatch_self_in_callback(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int p[2];
    void *w;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    w = netbe_watch_fd(loop, p[0], NETBE_EV_READ, unwatch_self_cb, &rec);
    rec.loop = loop;
    rec.victim = &w;
    netbe_loop_run_once(loop, 1);
    spin(loop);
    assert_int_equal(rec.calls, 1);
    close(p[0]);
    close(p[1]);
}

static void test_watch_bad_fd(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int fd = dup(0);

    /* a closed fd cannot be polled: NULL, no leak */
    close(fd);
    assert_null(netbe_watch_fd(loop, fd, NETBE_EV_READ, fd_cb, &rec));
}

static void test_hangup_alone(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    int sp[2];
    void *w;

    /* paused on backpressure: data is not reported, a hang-up is */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    w = netbe_watch_fd(loop, sp[0], NETBE_EV_HUP, fd_cb, &rec);
    assert_non_null(w);
    assert_int_equal(write(sp[1], "x", 1), 1);
    spin(loop);
    assert_int_equal(rec.calls, 0);
    close(sp[1]);
    netbe_loop_run_once(loop, 1);
    assert_true(rec.calls >= 1);
    assert_int_equal(rec.last, NETBE_EV_ERROR);

    /* READ again: the unread byte and the hang-up come together */
    rec.calls = 0;
    netbe_update_fd(loop, w, NETBE_EV_READ);
    netbe_loop_run_once(loop, 1);
    assert_true(rec.calls >= 1);
    assert_int_equal(rec.last, NETBE_EV_READ | NETBE_EV_ERROR);
    netbe_unwatch_fd(loop, w);
    close(sp[0]);

    /* the same from a watch that was paused with READ first */
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    w = netbe_watch_fd(loop, sp[0], NETBE_EV_READ, fd_cb, &rec);
    netbe_update_fd(loop, w, NETBE_EV_HUP);
    shutdown(sp[1], SHUT_WR);
    netbe_loop_run_once(loop, 1);
    assert_true(rec.calls >= 1);
    assert_int_equal(rec.last, NETBE_EV_ERROR);
    netbe_unwatch_fd(loop, w);
    close(sp[0]);
    close(sp[1]);
}

static void test_error_keeps_watch(void **state)
{
    struct netbe_loop *loop = *state;
    struct fd_rec rec = {0};
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int a, b;
    void *w;

    /* a connected UDP socket gets an ICMP error: reported, then cleared */
    a = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    b = socket(AF_INET, SOCK_DGRAM, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(b, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(b, (struct sockaddr *)&sin, &len), 0);
    assert_int_equal(connect(a, (struct sockaddr *)&sin, sizeof(sin)), 0);
    close(b); /* nobody listens there now */
    w = netbe_watch_fd(loop, a, NETBE_EV_READ, fd_cb, &rec);
    rec.drain = true; /* the read takes the error */
    assert_int_equal(send(a, "x", 1, 0), 1);
    for (int i = 0; i < 100 && !(rec.last & NETBE_EV_ERROR); i++) {
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
    assert_true(rec.last & NETBE_EV_ERROR);

    /* the watch still works: a datagram that comes later is reported */
    b = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(b, (struct sockaddr *)&sin, sizeof(sin)), 0);
    len = sizeof(sin);
    assert_int_equal(getsockname(a, (struct sockaddr *)&sin, &len), 0);
    rec.calls = 0;
    rec.last = 0;
    assert_int_equal(sendto(b, "y", 1, 0, (struct sockaddr *)&sin, sizeof(sin)),
                     1);
    for (int i = 0; i < 100 && !rec.calls; i++) {
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.last, NETBE_EV_READ);
    netbe_unwatch_fd(loop, w);
    close(a);
    close(b);
}

struct rs_rec {
    int calls;
    int status;
    int family;
    int port;
};

static void rs_cb(void *opaque, int status, const struct addrinfo *res)
{
    struct rs_rec *r = opaque;

    r->calls++;
    r->status = status;
    if (res) {
        r->family = res->ai_family;
        r->port = ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port);
    }
}

static void wait_calls(struct netbe_loop *loop, struct rs_rec *r)
{
    for (int i = 0; i < 5000 && !r->calls; i++) {
        netbe_loop_run_once(loop, 0);
        usleep(1000);
    }
}

static void test_resolve(void **state)
{
    struct netbe_loop *loop = *state;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct rs_rec r = {0}, bad = {0}, gone = {0};
    void *req;

    assert_non_null(loop->ops->resolve);
    req = loop->ops->resolve(loop->opaque, "localhost", "5555", &hints, rs_cb,
                             &r);
    assert_non_null(req);
    /* never from inside the call */
    assert_int_equal(r.calls, 0);
    wait_calls(loop, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.family, AF_INET);
    assert_int_equal(r.port, 5555);

    /* a name the resolver rejects before any query: getaddrinfo's code */
    req =
        loop->ops->resolve(loop->opaque, "bad..name", "1", &hints, rs_cb, &bad);
    assert_non_null(req);
    wait_calls(loop, &bad);
    assert_int_equal(bad.calls, 1);
    assert_true(bad.status != 0);
    assert_non_null(gai_strerror(bad.status));

    /* cancelled: never called back, nothing leaks */
    req = loop->ops->resolve(loop->opaque, "localhost", "1", &hints, rs_cb,
                             &gone);
    loop->ops->resolve_cancel(loop->opaque, req);
    for (int i = 0; i < 200; i++) {
        netbe_loop_run_once(loop, 0);
        usleep(500);
    }
    assert_int_equal(gone.calls, 0);
}

struct tm_rec {
    struct netbe_loop *loop;
    int *order;
    int *n;
    int id;
    int64_t deadline;
    int64_t fired_at;
    int rearm; /* re-arm this many more times */
    void *self;
    void *victim; /* timer to delete when this one fires */
};

static void tm_cb(void *opaque)
{
    struct tm_rec *t = opaque;
    const struct netbe_loop_ops *ops = t->loop->ops;

    t->fired_at = netbe_clock_ms(t->loop);
    t->order[(*t->n)++] = t->id;
    if (t->victim) {
        ops->timer_del(t->loop->opaque, t->victim);
    }
    if (t->rearm > 0) {
        t->rearm--;
        t->deadline = t->fired_at + 5;
        ops->timer_mod(t->loop->opaque, t->self, t->deadline);
    }
}

static void test_timer_order(void **state)
{
    struct netbe_loop *loop = *state;
    const struct netbe_loop_ops *ops = loop->ops;
    /*
     * Overdue deadlines are clamped to "now", so among themselves they
     * fire in the order they were armed; -50 is armed before 0 here.
     */
    static const int delay[] = {40, 10, 25, -50, 0};
    static const int want[] = {3, 4, 1, 2, 0};
    struct tm_rec t[5];
    int order[8], n = 0;
    int64_t now = netbe_clock_ms(loop);

    for (int i = 0; i < 5; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].loop = loop;
        t[i].order = order;
        t[i].n = &n;
        t[i].id = i;
        t[i].self = ops->timer_new(loop->opaque, tm_cb, &t[i]);
        assert_non_null(t[i].self);
    }
    /* armed in an order unlike the deadlines */
    for (int i = 0; i < 5; i++) {
        t[i].deadline = now + delay[i];
        ops->timer_mod(loop->opaque, t[i].self, t[i].deadline);
    }
    /* one-shot timers leave nothing active, so run returns by itself */
    assert_int_equal(netbe_loop_run(loop), 0);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(order[i], want[i]);
        /* never before the deadline on clock_ms() */
        assert_true(t[i].fired_at >= t[i].deadline);
    }
    for (int i = 0; i < 5; i++) {
        ops->timer_free(loop->opaque, t[i].self);
    }
}

static void test_timer_rearm_and_del(void **state)
{
    struct netbe_loop *loop = *state;
    const struct netbe_loop_ops *ops = loop->ops;
    struct tm_rec a, b, c;
    int order[16], n = 0;
    int64_t now = netbe_clock_ms(loop);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    a.loop = b.loop = c.loop = loop;
    a.order = b.order = c.order = order;
    a.n = b.n = c.n = &n;
    a.id = 1;
    b.id = 2;
    c.id = 3;
    a.self = ops->timer_new(loop->opaque, tm_cb, &a);
    b.self = ops->timer_new(loop->opaque, tm_cb, &b);
    c.self = ops->timer_new(loop->opaque, tm_cb, &c);

    /* a re-arms itself twice from its own callback */
    a.rearm = 2;
    a.deadline = now + 5;
    ops->timer_mod(loop->opaque, a.self, a.deadline);
    /* b is deleted before it can fire */
    ops->timer_mod(loop->opaque, b.self, now + 10);
    ops->timer_del(loop->opaque, b.self);
    /* c is armed late, then moved earlier: it fires once, at the new time */
    ops->timer_mod(loop->opaque, c.self, now + 1000);
    c.deadline = now + 2;
    ops->timer_mod(loop->opaque, c.self, c.deadline);

    netbe_loop_run(loop);
    assert_int_equal(n, 4);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 1);
    assert_int_equal(order[3], 1);
    assert_true(a.fired_at >= a.deadline);
    assert_true(c.fired_at >= c.deadline);

    /* a deleted timer can be armed again */
    b.deadline = netbe_clock_ms(loop) + 1;
    ops->timer_mod(loop->opaque, b.self, b.deadline);
    netbe_loop_run(loop);
    assert_int_equal(n, 5);
    assert_int_equal(order[4], 2);

    ops->timer_free(loop->opaque, a.self);
    ops->timer_free(loop->opaque, b.self);
    ops->timer_free(loop->opaque, c.self);
}

static void test_timer_del_and_free_from_callback(void **state)
{
    struct netbe_loop *loop = *state;
    const struct netbe_loop_ops *ops = loop->ops;
    struct tm_rec a, b, c;
    int order[8], n = 0;
    int64_t now = netbe_clock_ms(loop);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    a.loop = b.loop = c.loop = loop;
    a.order = b.order = c.order = order;
    a.n = b.n = c.n = &n;
    a.id = 1;
    b.id = 2;
    c.id = 3;
    a.self = ops->timer_new(loop->opaque, tm_cb, &a);
    b.self = ops->timer_new(loop->opaque, tm_cb, &b);
    c.self = ops->timer_new(loop->opaque, tm_cb, &c);
    /* all due in the same iteration; a goes first and disarms b */
    a.victim = b.self;
    ops->timer_mod(loop->opaque, a.self, now - 2);
    ops->timer_mod(loop->opaque, b.self, now - 1);
    ops->timer_mod(loop->opaque, c.self, now);
    netbe_loop_run(loop);
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);

    /* freeing an armed timer disarms it */
    ops->timer_mod(loop->opaque, c.self, now);
    ops->timer_free(loop->opaque, c.self);
    netbe_loop_run(loop);
    assert_int_equal(n, 2);
    ops->timer_free(loop->opaque, a.self);
    ops->timer_free(loop->opaque, b.self);
}

static void test_clock(void **state)
{
    struct netbe_loop *loop = *state;
    struct timespec ts = {0, 20 * 1000 * 1000};
    int64_t prev = netbe_clock_ms(loop), t0 = prev, now;

    for (int i = 0; i < 100000; i++) {
        now = netbe_clock_ms(loop);
        assert_true(now >= prev);
        prev = now;
    }
    nanosleep(&ts, NULL);
    now = netbe_clock_ms(loop);
    assert_true(now - t0 >= 19);
    assert_true(now - t0 < 10000);
    /* milliseconds of CLOCK_MONOTONIC, not of the wall clock */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    assert_true(ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 - now <= 1);
    assert_true(now - (ts.tv_sec * 1000LL + ts.tv_nsec / 1000000) <= 1);
}

struct sig_rec {
    struct netbe_loop *loop;
    int calls;
    int signum;
};

static void sig_cb(void *opaque, int signum)
{
    struct sig_rec *s = opaque;

    s->calls++;
    s->signum = signum;
    netbe_loop_stop(s->loop);
}

static void guard_cb(void *opaque)
{
    bool *fired = opaque;

    *fired = true;
}

static void test_signal(void **state)
{
    struct netbe_loop *loop = *state;
    const struct netbe_loop_ops *ops = loop->ops;
    struct sig_rec s = {.loop = loop};
    bool guard_fired = false;
    void *guard;

    assert_int_equal(netbe_loop_watch_signal(loop, SIGUSR1, sig_cb, &s), 0);
    /* the watch alone does not keep the loop running */
    assert_int_equal(netbe_loop_run(loop), 0);
    assert_int_equal(netbe_loop_run_once(loop, 1), 0);
    assert_int_equal(s.calls, 0);

    /* with something alive the loop waits and the signal stops it */
    guard = ops->timer_new(loop->opaque, guard_cb, &guard_fired);
    ops->timer_mod(loop->opaque, guard, netbe_clock_ms(loop) + 5000);
    raise(SIGUSR1);
    /* not called from the signal handler itself */
    assert_int_equal(s.calls, 0);
    netbe_loop_run(loop);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.signum, SIGUSR1);
    assert_false(guard_fired);
    ops->timer_free(loop->opaque, guard);
    /* the watch is freed by netbe_loop_close() in teardown */
}

static void stop_cb(void *opaque)
{
    struct sig_rec *s = opaque;

    s->calls++;
    netbe_loop_stop(s->loop);
}

static void test_stop(void **state)
{
    struct netbe_loop *loop = *state;
    const struct netbe_loop_ops *ops = loop->ops;
    struct fd_rec rec = {0};
    struct sig_rec s = {.loop = loop};
    int p[2];
    void *w, *t;

    /* an idle watch keeps run() going; stop() from a callback ends it */
    assert_int_equal(pipe(p), 0);
    w = netbe_watch_fd(loop, p[0], NETBE_EV_READ, fd_cb, &rec);
    t = ops->timer_new(loop->opaque, stop_cb, &s);
    ops->timer_mod(loop->opaque, t, netbe_clock_ms(loop) + 5);
    assert_int_equal(netbe_loop_run(loop), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(rec.calls, 0);
    /* still something to do: the watch */
    assert_int_not_equal(netbe_loop_run_once(loop, 0), 0);
    ops->timer_free(loop->opaque, t);
    netbe_unwatch_fd(loop, w);
    close(p[0]);
    close(p[1]);
}

static void test_close_and_recreate(void **state)
{
    struct netbe_loop *loop = netbe_loop_default();
    const struct netbe_loop_ops *ops = loop->ops;
    struct fd_rec rec = {0};
    struct sig_rec s;
    bool fired = false;
    int p[2];
    void *t;

    assert_ptr_equal(netbe_loop_default(), loop);

    /* close with a watch, an armed timer and a signal watch still there */
    assert_int_equal(pipe(p), 0);
    assert_non_null(netbe_watch_fd(loop, p[0], NETBE_EV_READ, fd_cb, &rec));
    t = ops->timer_new(loop->opaque, guard_cb, &fired);
    ops->timer_mod(loop->opaque, t, netbe_clock_ms(loop) + 100000);
    s.loop = loop;
    s.calls = 0;
    assert_int_equal(netbe_loop_watch_signal(loop, SIGUSR2, sig_cb, &s), 0);
    netbe_loop_stop(loop);
    netbe_loop_close(loop);
    assert_false(fired);
    assert_int_equal(rec.calls, 0);
    close(p[0]);
    close(p[1]);

    /* a fresh loop, fully working */
    loop = netbe_loop_default();
    *state = loop;
    ops = loop->ops;
    t = ops->timer_new(loop->opaque, guard_cb, &fired);
    ops->timer_mod(loop->opaque, t, netbe_clock_ms(loop) + 1);
    netbe_loop_run(loop);
    assert_true(fired);
    ops->timer_free(loop->opaque, t);
    /* teardown closes this one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipe_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_paused_from_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangup_and_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangup_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_keeps_watch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwatch_other_in_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unwatch_self_in_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watch_bad_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_rearm_and_del, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timer_del_and_free_from_callback,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_and_recreate, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
