/*
 * netbe/loop.h - the event loop netbe asks its embedder for.
 *
 * The library owns no loop.  Backends watch their fds and arm timers only
 * through these operations, the way libslirp asks for its callbacks, so a
 * VMM plugs netbe into whatever loop it already runs.
 * netbe_loop_default() supplies one on libuv for the daemon and the tests.
 */
#ifndef NETBE_LOOP_H
#define NETBE_LOOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    NETBE_EV_READ = 1u << 0,
    NETBE_EV_WRITE = 1u << 1,
    /*
     * Reported on hang-up or error: with READ/WRITE when those are
     * watched, alone when only HUP is.  Level-triggered: it comes again
     * until the fd's error is consumed (a read, SO_ERROR) or the watch
     * changes.  Never requested.
     */
    NETBE_EV_ERROR = 1u << 2,
    /*
     * Requested, never reported: tell about hang-up or error (as ERROR)
     * even while READ is not watched, so that a connection paused on
     * backpressure still notices that its peer went away.  A loop that
     * cannot do this may ignore it; such connections then notice when
     * they read again.
     */
    NETBE_EV_HUP = 1u << 3,
};

typedef void netbe_fd_cb(void *opaque, int fd, unsigned events);
typedef void netbe_timer_cb(void *opaque);
typedef void netbe_prepare_cb(void *opaque);

struct addrinfo;

/*
 * The outcome of a resolve: @status 0 and the getaddrinfo() list @res, or
 * getaddrinfo()'s EAI_* code and NULL.  @res is the loop's and lives
 * until the callback returns.
 */
typedef void netbe_resolve_cb(void *opaque, int status,
                              const struct addrinfo *res);

struct netbe_loop_ops {
    /* Start watching @fd for @events (may be 0); returns a handle or NULL. */
    void *(*watch_fd)(void *loop, int fd, unsigned events, netbe_fd_cb *cb,
                      void *opaque);
    /* Change the events of a watch; 0 pauses it without dropping it. */
    void (*update_fd)(void *loop, void *watch, unsigned events);
    /* Stop watching; the callback is never called again after this. */
    void (*unwatch_fd)(void *loop, void *watch);
    /* A one-shot timer, disarmed until timer_mod(). */
    void *(*timer_new)(void *loop, netbe_timer_cb *cb, void *opaque);
    /* Arm (or re-arm) to fire at @expire_ms on the clock_ms() clock. */
    void (*timer_mod)(void *loop, void *timer, int64_t expire_ms);
    void (*timer_del)(void *loop, void *timer);  /* disarm */
    void (*timer_free)(void *loop, void *timer); /* disarm and free */
    /* Monotonic clock in milliseconds. */
    int64_t (*clock_ms)(void *loop);
    /*
     * Optional: getaddrinfo(@host, @port, @hints) without blocking the
     * loop (on a thread, an asynchronous resolver...).  @cb runs later on
     * the loop, never from inside this call.  Returns a handle for
     * resolve_cancel(), or NULL when no lookup could be started.
     * Without it (NULL), netbe calls getaddrinfo() itself for host
     * names, which blocks the loop while the resolver works; numeric
     * addresses never need it.
     */
    void *(*resolve)(void *loop, const char *host, const char *port,
                     const struct addrinfo *hints, netbe_resolve_cb *cb,
                     void *opaque);
    /* Forget a pending resolve: its callback is never called. */
    void (*resolve_cancel)(void *loop, void *req);
    /*
     * Optional: call @cb each time the loop is about to wait for events,
     * after the callbacks of the last wait have run (libuv's prepare
     * handles, glib's prepare stage, QEMU's poll notifiers).  @cb may
     * watch and unwatch fds and arm timers for this very wait.  The hook
     * alone does not keep a loop running.  Returns a handle for
     * prepare_free(), or NULL.  Backends that must see every turn of the
     * loop need it: libslirp (the "user" netdev) collects its sockets'
     * events here; without it such a netdev refuses to start.
     */
    void *(*prepare_new)(void *loop, netbe_prepare_cb *cb, void *opaque);
    /* Remove a prepare hook; its callback is never called after this. */
    void (*prepare_free)(void *loop, void *hook);
};

struct netbe_loop {
    const struct netbe_loop_ops *ops;
    void *opaque;
};

/**
 * netbe_loop_default() - the process-wide libuv loop, created on first use
 * Return: the loop; never NULL (aborts if libuv cannot start)
 */
struct netbe_loop *netbe_loop_default(void);

/**
 * netbe_loop_run() - run the default loop until netbe_loop_stop() or until
 * nothing is left to watch
 * Return: 0
 */
int netbe_loop_run(struct netbe_loop *loop);

/**
 * netbe_loop_run_once() - one iteration; waits for events when @block
 * Return: nonzero while there is more to do
 */
int netbe_loop_run_once(struct netbe_loop *loop, int block);

/** netbe_loop_stop() - make netbe_loop_run() return; signal-safe it is not */
void netbe_loop_stop(struct netbe_loop *loop);

/**
 * netbe_loop_watch_signal() - call @cb on the loop when @signum arrives
 * (default loop only; used by the daemon for SIGINT/SIGTERM)
 */
int netbe_loop_watch_signal(struct netbe_loop *loop, int signum,
                            void (*cb)(void *opaque, int signum), void *opaque);

/**
 * netbe_loop_close() - free the default loop after every watch and timer
 * is gone (for leak-free exits)
 */
void netbe_loop_close(struct netbe_loop *loop);

/* Convenience wrappers over loop->ops. */
static inline void *netbe_watch_fd(struct netbe_loop *l, int fd,
                                   unsigned events, netbe_fd_cb *cb,
                                   void *opaque)
{
    return l->ops->watch_fd(l->opaque, fd, events, cb, opaque);
}
static inline void netbe_update_fd(struct netbe_loop *l, void *w,
                                   unsigned events)
{
    l->ops->update_fd(l->opaque, w, events);
}
static inline void netbe_unwatch_fd(struct netbe_loop *l, void *w)
{
    if (w) {
        l->ops->unwatch_fd(l->opaque, w);
    }
}
static inline int64_t netbe_clock_ms(struct netbe_loop *l)
{
    return l->ops->clock_ms(l->opaque);
}

#ifdef __cplusplus
}
#endif

#endif
