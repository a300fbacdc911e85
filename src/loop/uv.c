/*
 * uv.c - netbe_loop_default(): the loop operations on libuv, for the
 * daemon and the tests.  This is the only file that talks to libuv; the
 * rest of the library sees struct netbe_loop_ops.
 *
 * Every handle lives in a small wrapper whose first member is the libuv
 * handle, so one close callback frees any of them and netbe_loop_close()
 * can sweep up leftovers with uv_walk().
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>

#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/util.h"

struct uvloop {
    uv_loop_t uv;
    struct netbe_loop pub;
};

struct fd_watch {
    uv_poll_t poll; /* first: freed through the handle pointer */
    netbe_fd_cb *cb;
    void *opaque;
    int fd;
    unsigned events;
    bool gone; /* unwatched; the close callback has not run yet */
};

struct timer {
    uv_timer_t timer; /* first */
    netbe_timer_cb *cb;
    void *opaque;
    bool gone;
};

struct prepare {
    uv_prepare_t prepare; /* first */
    netbe_prepare_cb *cb;
    void *opaque;
    bool gone;
};

struct sig_watch {
    uv_signal_t sig; /* first */
    void (*cb)(void *opaque, int signum);
    void *opaque;
};

/* A pending getaddrinfo on libuv's thread pool. */
struct resolve_req {
    uv_getaddrinfo_t req; /* first */
    netbe_resolve_cb *cb;
    void *opaque;
    bool cancelled; /* resolve_cancel(): the result goes nowhere */
};

/* What a watch may ask for. */
#define WATCHABLE (NETBE_EV_READ | NETBE_EV_WRITE | NETBE_EV_HUP)

static struct uvloop *default_loop;

static uv_loop_t *uvl(void *loop)
{
    return &((struct uvloop *)loop)->uv;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int poll_mask(unsigned events)
{
    int mask = 0;

    if (events & NETBE_EV_READ) {
        mask |= UV_READABLE;
    }
    if (events & (NETBE_EV_READ | NETBE_EV_HUP)) {
        /* a peer's shutdown, reported as ERROR; hang-up comes with it */
        mask |= UV_DISCONNECT;
    }
    if (events & NETBE_EV_WRITE) {
        mask |= UV_WRITABLE;
    }
    return mask;
}

static int poll_apply(struct fd_watch *w);

static void poll_cb(uv_poll_t *h, int status, int uvev)
{
    struct fd_watch *w = h->data;
    unsigned ev = 0;

    if (w->gone) {
        return;
    }
    if (status < 0) {
        /*
         * libuv has stopped the poll and tells nothing more; report
         * everything so whichever handler runs finds the error itself.
         */
        w->cb(w->opaque, w->fd,
              NETBE_EV_READ | NETBE_EV_WRITE | NETBE_EV_ERROR);
        /*
         * The caller still has the watch and believes it active: a
         * datagram socket whose error was consumed by recvmmsg() would
         * otherwise never be read again.
         */
        if (!w->gone && w->events && !uv_is_active((uv_handle_t *)h)) {
            poll_apply(w);
        }
        return;
    }
    if (uvev & UV_READABLE) {
        ev |= NETBE_EV_READ;
    }
    if (uvev & UV_WRITABLE) {
        ev |= NETBE_EV_WRITE;
    }
    if (uvev & UV_DISCONNECT) {
        ev |= NETBE_EV_ERROR | NETBE_EV_READ;
    }
    /* never hand out events the caller did not ask for */
    ev &= (w->events & (NETBE_EV_READ | NETBE_EV_WRITE)) | NETBE_EV_ERROR;
    if (!ev) {
        return;
    }
    w->cb(w->opaque, w->fd, ev);
}

static int poll_apply(struct fd_watch *w)
{
    int r;

    if (!w->events) {
        return uv_poll_stop(&w->poll);
    }
    r = uv_poll_start(&w->poll, poll_mask(w->events), poll_cb);
    if (r < 0) {
        netbe_warn_report("cannot poll fd %d: %s", w->fd, uv_strerror(r));
    }
    return r;
}

static void *op_watch_fd(void *loop, int fd, unsigned events, netbe_fd_cb *cb,
                         void *opaque)
{
    struct fd_watch *w = netbe_malloc0(sizeof(*w));
    int r;

    r = uv_poll_init(uvl(loop), &w->poll, fd);
    if (r < 0) {
        /* never initialised, so not closed either */
        netbe_warn_report("cannot watch fd %d: %s", fd, uv_strerror(r));
        free(w);
        return NULL;
    }
    w->poll.data = w;
    w->cb = cb;
    w->opaque = opaque;
    w->fd = fd;
    w->events = events & WATCHABLE;
    if (poll_apply(w) < 0) {
        uv_close((uv_handle_t *)&w->poll, free_handle);
        return NULL;
    }
    return w;
}

static void op_update_fd(void *loop, void *watch, unsigned events)
{
    struct fd_watch *w = watch;

    if (w->gone) {
        return;
    }
    w->events = events & WATCHABLE;
    poll_apply(w);
}

static void op_unwatch_fd(void *loop, void *watch)
{
    struct fd_watch *w = watch;

    if (w->gone) {
        return;
    }
    /*
     * uv_close() takes the fd out of epoll now, so the caller may close
     * the fd right away; the memory stays until the close callback so the
     * flag can still be read if this iteration has events queued for us.
     */
    w->gone = true;
    uv_close((uv_handle_t *)&w->poll, free_handle);
}

static void timer_cb(uv_timer_t *h)
{
    struct timer *t = h->data;

    if (!t->gone) {
        t->cb(t->opaque);
    }
}

static void *op_timer_new(void *loop, netbe_timer_cb *cb, void *opaque)
{
    struct timer *t = netbe_malloc0(sizeof(*t));

    uv_timer_init(uvl(loop), &t->timer);
    t->timer.data = t;
    t->cb = cb;
    t->opaque = opaque;
    return t;
}

static int64_t op_clock_ms(void *loop)
{
    return (int64_t)(uv_hrtime() / 1000000);
}

static void op_timer_mod(void *loop, void *timer, int64_t expire_ms)
{
    struct timer *t = timer;
    int64_t delta;

    if (t->gone) {
        return;
    }
    /*
     * libuv counts from its cached loop time, which may lag the clock
     * clock_ms() reads (it may come from the coarse monotonic clock).
     * Measuring from that lagging time makes the timer fire late by the
     * lag at worst, never before the deadline as clock_ms() sees it.
     */
    uv_update_time(uvl(loop));
    delta = expire_ms - (int64_t)uv_now(uvl(loop));
    if (delta < 0) {
        delta = 0;
    }
    uv_timer_start(&t->timer, timer_cb, (uint64_t)delta, 0);
}

static void op_timer_del(void *loop, void *timer)
{
    struct timer *t = timer;

    if (!t->gone) {
        uv_timer_stop(&t->timer);
    }
}

static void op_timer_free(void *loop, void *timer)
{
    struct timer *t = timer;

    if (!t || t->gone) {
        return;
    }
    t->gone = true;
    uv_close((uv_handle_t *)&t->timer, free_handle);
}

/* libuv's UV_EAI_* back to getaddrinfo()'s codes, for gai_strerror(). */
static int eai_of(int status)
{
    static const struct {
        int uv, eai;
    } map[] = {
        {UV_EAI_ADDRFAMILY, EAI_ADDRFAMILY},
        {UV_EAI_AGAIN, EAI_AGAIN},
        {UV_EAI_BADFLAGS, EAI_BADFLAGS},
        {UV_EAI_CANCELED, EAI_CANCELED},
        {UV_EAI_FAIL, EAI_FAIL},
        {UV_EAI_FAMILY, EAI_FAMILY},
        {UV_EAI_MEMORY, EAI_MEMORY},
        {UV_EAI_NODATA, EAI_NODATA},
        {UV_EAI_NONAME, EAI_NONAME},
        {UV_EAI_OVERFLOW, EAI_OVERFLOW},
        {UV_EAI_SERVICE, EAI_SERVICE},
        {UV_EAI_SOCKTYPE, EAI_SOCKTYPE},
    };

    for (size_t i = 0; i < NETBE_ARRAY_SIZE(map); i++) {
        if (map[i].uv == status) {
            return map[i].eai;
        }
    }
    if (status == UV_EAI_BADHINTS || status == UV_EAI_PROTOCOL) {
        return EAI_FAIL;
    }
    /* libuv turns EAI_SYSTEM into the errno it came with */
    errno = -status;
    return EAI_SYSTEM;
}

static void resolve_done(uv_getaddrinfo_t *req, int status,
                         struct addrinfo *res)
{
    struct resolve_req *r = req->data;

    if (!r->cancelled) {
        r->cb(r->opaque, status < 0 ? eai_of(status) : 0,
              status < 0 ? NULL : res);
    }
    uv_freeaddrinfo(res);
    free(r);
}

static void *op_resolve(void *loop, const char *host, const char *port,
                        const struct addrinfo *hints, netbe_resolve_cb *cb,
                        void *opaque)
{
    struct resolve_req *r = netbe_malloc0(sizeof(*r));
    int rc;

    r->req.data = r;
    r->cb = cb;
    r->opaque = opaque;
    /* with a callback, libuv runs getaddrinfo() on its thread pool */
    rc = uv_getaddrinfo(uvl(loop), &r->req, resolve_done, host, port, hints);
    if (rc < 0) {
        netbe_debug("cannot start a lookup of %s: %s", host ? host : "",
                    uv_strerror(rc));
        free(r);
        return NULL;
    }
    return r;
}

static void op_resolve_cancel(void *loop, void *req)
{
    struct resolve_req *r = req;

    /*
     * Still queued: libuv drops it and resolve_done() sees UV_ECANCELED.
     * Already running on a thread: it cannot be stopped, so its result is
     * thrown away when it comes; the memory stays until then.
     */
    r->cancelled = true;
    uv_cancel((uv_req_t *)&r->req);
}

static void prepare_cb(uv_prepare_t *h)
{
    struct prepare *p = h->data;

    if (!p->gone) {
        p->cb(p->opaque);
    }
}

static void *op_prepare_new(void *loop, netbe_prepare_cb *cb, void *opaque)
{
    struct prepare *p = netbe_malloc0(sizeof(*p));

    uv_prepare_init(uvl(loop), &p->prepare);
    p->prepare.data = p;
    p->cb = cb;
    p->opaque = opaque;
    uv_prepare_start(&p->prepare, prepare_cb);
    /* the fds and timers of its owner keep the loop running, not the hook */
    uv_unref((uv_handle_t *)&p->prepare);
    return p;
}

static void op_prepare_free(void *loop, void *hook)
{
    struct prepare *p = hook;

    if (!p || p->gone) {
        return;
    }
    p->gone = true;
    uv_close((uv_handle_t *)&p->prepare, free_handle);
}

static const struct netbe_loop_ops uv_ops = {
    .watch_fd = op_watch_fd,
    .update_fd = op_update_fd,
    .unwatch_fd = op_unwatch_fd,
    .timer_new = op_timer_new,
    .timer_mod = op_timer_mod,
    .timer_del = op_timer_del,
    .timer_free = op_timer_free,
    .clock_ms = op_clock_ms,
    .resolve = op_resolve,
    .resolve_cancel = op_resolve_cancel,
    .prepare_new = op_prepare_new,
    .prepare_free = op_prepare_free,
};

struct netbe_loop *netbe_loop_default(void)
{
    struct uvloop *l;
    int r;

    if (default_loop) {
        return &default_loop->pub;
    }
    l = netbe_malloc0(sizeof(*l));
    r = uv_loop_init(&l->uv);
    if (r < 0) {
        netbe_error_report("cannot start the event loop: %s", uv_strerror(r));
        abort();
    }
    l->uv.data = l;
    l->pub.ops = &uv_ops;
    l->pub.opaque = l;
    default_loop = l;
    return &l->pub;
}

/* The libuv loop behind @loop, which must be the default one. */
static uv_loop_t *loop_uv(struct netbe_loop *loop)
{
    if (!loop || loop->ops != &uv_ops) {
        netbe_error_report("netbe_loop: not a libuv loop from "
                           "netbe_loop_default()");
        abort();
    }
    return uvl(loop->opaque);
}

int netbe_loop_run(struct netbe_loop *loop)
{
    uv_run(loop_uv(loop), UV_RUN_DEFAULT);
    return 0;
}

int netbe_loop_run_once(struct netbe_loop *loop, int block)
{
    return uv_run(loop_uv(loop), block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
}

void netbe_loop_stop(struct netbe_loop *loop)
{
    uv_stop(loop_uv(loop));
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct sig_watch *s = h->data;

    s->cb(s->opaque, signum);
}

int netbe_loop_watch_signal(struct netbe_loop *loop, int signum,
                            void (*cb)(void *opaque, int signum), void *opaque)
{
    struct sig_watch *s = netbe_malloc0(sizeof(*s));
    int r;

    r = uv_signal_init(loop_uv(loop), &s->sig);
    if (r < 0) {
        netbe_warn_report("cannot watch signal %d: %s", signum, uv_strerror(r));
        free(s);
        return -1;
    }
    s->sig.data = s;
    s->cb = cb;
    s->opaque = opaque;
    r = uv_signal_start(&s->sig, signal_cb, signum);
    if (r < 0) {
        netbe_warn_report("cannot watch signal %d: %s", signum, uv_strerror(r));
        uv_close((uv_handle_t *)&s->sig, free_handle);
        return -1;
    }
    /* a signal watch alone must not keep the daemon's loop running */
    uv_unref((uv_handle_t *)&s->sig);
    return 0;
}

static void close_leftover(uv_handle_t *h, void *arg)
{
    unsigned *n = arg;

    if (uv_is_closing(h)) {
        return;
    }
    if (h->type == UV_POLL) {
        ((struct fd_watch *)h)->gone = true;
        ++*n;
    } else if (h->type == UV_TIMER) {
        ((struct timer *)h)->gone = true;
        ++*n;
    } else if (h->type == UV_PREPARE) {
        ((struct prepare *)h)->gone = true;
        ++*n;
    }
    uv_close(h, free_handle);
}

void netbe_loop_close(struct netbe_loop *loop)
{
    struct uvloop *l;
    unsigned leftover = 0;
    int r;

    if (!loop) {
        return;
    }
    loop_uv(loop);
    l = loop->opaque;
    /* signal watches are ours; fd watches and timers should be gone */
    uv_walk(&l->uv, close_leftover, &leftover);
    if (leftover) {
        netbe_debug("event loop closed with %u watches or timers left",
                    leftover);
    }
    /* a pending uv_stop() would make this return before the closes ran */
    do {
        r = uv_run(&l->uv, UV_RUN_DEFAULT);
    } while (r != 0);
    r = uv_loop_close(&l->uv);
    if (r < 0) {
        /* should not happen: everything was closed above */
        netbe_warn_report("cannot close the event loop: %s", uv_strerror(r));
        return;
    }
    if (l == default_loop) {
        default_loop = NULL;
    }
    free(l);
}
