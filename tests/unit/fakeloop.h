/*
 * fakeloop.h - an embedder's loop for the backend tests: every operation
 * goes to netbe_loop_default(), except that fd watches can be made to
 * fail (error paths must close what they opened) and name lookups wait
 * in a table until the test answers them (a slow resolver must stall
 * nothing, and a deleted netdev must cancel its lookup).  Prepare hooks
 * go to the real loop.
 *
 * Include after <cmocka.h>.  One fake per test program.
 */
#ifndef NETBE_FAKELOOP_H
#define NETBE_FAKELOOP_H

#include <dirent.h>
#include <netdb.h>
#include <stdbool.h>
#include <string.h>

#include "netbe/loop.h"

#define FK_UNUSED __attribute__((unused))
#define FK_MAX_REQ 16

struct fk_req {
    netbe_resolve_cb *cb;
    void *opaque;
    char host[64], port[16];
    struct addrinfo hints;
    bool cancelled, done;
};

static struct {
    struct netbe_loop pub;
    struct netbe_loop *real;
    int fail_watch; /* this many more watch_fd() calls fail */
    int watches;    /* watch_fd() calls */
    struct fk_req req[FK_MAX_REQ];
    int nreq, ncancel;
} fk FK_UNUSED;

#define FK_REAL fk.real->ops
#define FK_RO fk.real->opaque

static void *fk_watch_fd(void *l, int fd, unsigned ev, netbe_fd_cb *cb,
                         void *opaque)
{
    fk.watches++;
    if (fk.fail_watch > 0) {
        fk.fail_watch--;
        return NULL;
    }
    return FK_REAL->watch_fd(FK_RO, fd, ev, cb, opaque);
}

static void fk_update_fd(void *l, void *w, unsigned ev)
{
    FK_REAL->update_fd(FK_RO, w, ev);
}

static void fk_unwatch_fd(void *l, void *w)
{
    FK_REAL->unwatch_fd(FK_RO, w);
}

static void *fk_timer_new(void *l, netbe_timer_cb *cb, void *opaque)
{
    return FK_REAL->timer_new(FK_RO, cb, opaque);
}

static void fk_timer_mod(void *l, void *t, int64_t ms)
{
    FK_REAL->timer_mod(FK_RO, t, ms);
}

static void fk_timer_del(void *l, void *t)
{
    FK_REAL->timer_del(FK_RO, t);
}

static void fk_timer_free(void *l, void *t)
{
    FK_REAL->timer_free(FK_RO, t);
}

static int64_t fk_clock_ms(void *l)
{
    return FK_REAL->clock_ms(FK_RO);
}

/* A resolver that answers only when the test says so. */
static void *fk_resolve(void *l, const char *host, const char *port,
                        const struct addrinfo *hints, netbe_resolve_cb *cb,
                        void *opaque)
{
    struct fk_req *r;

    assert_true(fk.nreq < FK_MAX_REQ);
    r = &fk.req[fk.nreq++];
    memset(r, 0, sizeof(*r));
    r->cb = cb;
    r->opaque = opaque;
    snprintf(r->host, sizeof(r->host), "%s", host ? host : "");
    snprintf(r->port, sizeof(r->port), "%s", port ? port : "");
    r->hints = *hints;
    return r;
}

static void fk_resolve_cancel(void *l, void *req)
{
    struct fk_req *r = req;

    assert_false(r->cancelled);
    assert_false(r->done);
    r->cancelled = true;
    fk.ncancel++;
}

static void *fk_prepare_new(void *l, netbe_prepare_cb *cb, void *opaque)
{
    return FK_REAL->prepare_new(FK_RO, cb, opaque);
}

static void fk_prepare_free(void *l, void *hook)
{
    FK_REAL->prepare_free(FK_RO, hook);
}

static const struct netbe_loop_ops fk_ops = {
    .watch_fd = fk_watch_fd,
    .update_fd = fk_update_fd,
    .unwatch_fd = fk_unwatch_fd,
    .timer_new = fk_timer_new,
    .timer_mod = fk_timer_mod,
    .timer_del = fk_timer_del,
    .timer_free = fk_timer_free,
    .clock_ms = fk_clock_ms,
    .resolve = fk_resolve,
    .resolve_cancel = fk_resolve_cancel,
    .prepare_new = fk_prepare_new,
    .prepare_free = fk_prepare_free,
};

static FK_UNUSED struct netbe_loop *fk_init(struct netbe_loop *real)
{
    memset(&fk, 0, sizeof(fk));
    fk.real = real;
    fk.pub.ops = &fk_ops;
    fk.pub.opaque = &fk;
    return &fk.pub;
}

/*
 * Answer lookup @i: @status 0 gives 127.0.0.1 and its port, else the
 * EAI_* error.  A cancelled lookup is never answered, as loop.h promises;
 * a netdev that forgot to cancel would be called after it was freed.
 */
static FK_UNUSED void fk_answer(int i, int status)
{
    struct fk_req *r = &fk.req[i];
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_family = AF_INET,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;

    assert_true(i < fk.nreq);
    if (r->cancelled || r->done) {
        return;
    }
    r->done = true;
    if (status) {
        r->cb(r->opaque, status, NULL);
        return;
    }
    assert_int_equal(getaddrinfo("127.0.0.1", r->port, &hints, &res), 0);
    r->cb(r->opaque, 0, res);
    freeaddrinfo(res);
}

/* Open file descriptors of this process. */
static FK_UNUSED int fk_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory's own */
}

#endif
