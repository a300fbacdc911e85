/*
 * push-nic - a NIC on netbe's push API (netbe/net.h), driven by the
 * embedder's own poll() loop (struct netbe_loop_ops) rather than
 * netbe_loop_default().
 *
 * The NIC reflects every frame sent to its MAC: the source becomes the
 * destination, its own MAC the source.  Frames it takes wait in a small
 * ring; when the ring is full its receive() answers 0 ("not now"), the
 * core queues the frame and stops delivering, and the backend stops
 * reading its fd once that queue is full.  The ring drains every
 * --hold-ms ms in one batch (netbe_batch_begin/end: the backend writes
 * them in one go), then netbe_flush_queued() lets the core deliver again.
 * With --max N it deletes itself from inside receive() after N frames
 * (safe: the core frees it at a safe point) and exits.
 *
 *   cc -o push-nic push-nic.c $(pkg-config --cflags --libs --static netbe)
 *   push-nic [--mac MAC] [--ring N] [--hold-ms N] [--max N] NETDEV
 *   push-nic stream,id=n0,server=off,addr.type=unix,addr.path=/tmp/s.sock
 *
 * Prints "ready" once the NIC is up and "counters k=v ..." at exit
 * (SIGINT, SIGTERM or --max).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <netbe/netbe.h>

/* ---- a poll() loop behind struct netbe_loop_ops ---- */

struct watch {
    int fd;
    unsigned events;
    netbe_fd_cb *cb;
    void *opaque;
    bool dead; /* unwatched; freed after the dispatch that saw it */
    struct watch *next;
};

struct timer {
    int64_t expire;
    bool armed, dead;
    netbe_timer_cb *cb;
    void *opaque;
    struct timer *next;
};

struct poll_loop {
    struct watch *watches;
    struct timer *timers;
    int nwatches;
};

static int64_t pl_clock_ms(void *loop)
{
    struct timespec ts;

    (void)loop;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *pl_watch_fd(void *loop, int fd, unsigned events, netbe_fd_cb *cb,
                         void *opaque)
{
    struct poll_loop *pl = loop;
    struct watch *w = calloc(1, sizeof(*w));

    if (!w) {
        return NULL;
    }
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->opaque = opaque;
    w->next = pl->watches;
    pl->watches = w;
    pl->nwatches++;
    return w;
}

static void pl_update_fd(void *loop, void *watch, unsigned events)
{
    (void)loop;
    ((struct watch *)watch)->events = events;
}

static void pl_unwatch_fd(void *loop, void *watch)
{
    (void)loop;
    ((struct watch *)watch)->dead = true; /* maybe from inside its callback */
}

static void *pl_timer_new(void *loop, netbe_timer_cb *cb, void *opaque)
{
    struct poll_loop *pl = loop;
    struct timer *t = calloc(1, sizeof(*t));

    if (!t) {
        return NULL;
    }
    t->cb = cb;
    t->opaque = opaque;
    t->next = pl->timers;
    pl->timers = t;
    return t;
}

static void pl_timer_mod(void *loop, void *timer, int64_t expire_ms)
{
    struct timer *t = timer;

    (void)loop;
    t->expire = expire_ms;
    t->armed = true;
}

static void pl_timer_del(void *loop, void *timer)
{
    (void)loop;
    ((struct timer *)timer)->armed = false;
}

static void pl_timer_free(void *loop, void *timer)
{
    struct timer *t = timer;

    (void)loop;
    t->armed = false;
    t->dead = true;
}

static const struct netbe_loop_ops poll_loop_ops = {
    .watch_fd = pl_watch_fd,
    .update_fd = pl_update_fd,
    .unwatch_fd = pl_unwatch_fd,
    .timer_new = pl_timer_new,
    .timer_mod = pl_timer_mod,
    .timer_del = pl_timer_del,
    .timer_free = pl_timer_free,
    .clock_ms = pl_clock_ms,
    /* no .resolve: netbe resolves host names itself (numeric ones need
       nothing) */
};

static void pl_reap(struct poll_loop *pl)
{
    struct watch **wp = &pl->watches;
    struct timer **tp = &pl->timers;

    while (*wp) {
        struct watch *w = *wp;

        if (w->dead) {
            *wp = w->next;
            pl->nwatches--;
            free(w);
        } else {
            wp = &w->next;
        }
    }
    while (*tp) {
        struct timer *t = *tp;

        if (t->dead) {
            *tp = t->next;
            free(t);
        } else {
            tp = &t->next;
        }
    }
}

/* One turn: wait for the next fd event or timer, run the callbacks. */
static void pl_run_once(struct poll_loop *pl)
{
    struct pollfd pfd[pl->nwatches > 0 ? pl->nwatches : 1];
    struct watch *ws[pl->nwatches > 0 ? pl->nwatches : 1];
    int64_t now = pl_clock_ms(pl), timeout = -1;
    struct watch *w;
    struct timer *t;
    int n = 0, i;

    for (t = pl->timers; t; t = t->next) {
        if (t->armed && (timeout < 0 || t->expire - now < timeout)) {
            timeout = t->expire > now ? t->expire - now : 0;
        }
    }
    for (w = pl->watches; w; w = w->next) {
        if (w->dead || !w->events) {
            continue; /* a paused watch reports nothing */
        }
        pfd[n].fd = w->fd;
        pfd[n].events = (w->events & NETBE_EV_READ ? POLLIN : 0) |
                        (w->events & NETBE_EV_WRITE ? POLLOUT : 0);
        ws[n++] = w;
    }
    if (poll(pfd, n, timeout > INT32_MAX ? INT32_MAX : (int)timeout) < 0 &&
        errno != EINTR) {
        perror("poll");
        exit(1);
    }
    for (i = 0; i < n; i++) {
        unsigned ev = 0;

        w = ws[i];
        if (w->dead) {
            continue; /* unwatched by an earlier callback of this turn */
        }
        if (pfd[i].revents & POLLIN && w->events & NETBE_EV_READ) {
            ev |= NETBE_EV_READ;
        }
        if (pfd[i].revents & POLLOUT && w->events & NETBE_EV_WRITE) {
            ev |= NETBE_EV_WRITE;
        }
        if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            ev |= NETBE_EV_ERROR | (w->events & NETBE_EV_READ);
        }
        if (ev) {
            w->cb(w->opaque, w->fd, ev);
        }
    }
    now = pl_clock_ms(pl);
    for (t = pl->timers; t; t = t->next) {
        if (t->armed && t->expire <= now) {
            t->armed = false; /* one-shot; the callback may re-arm it */
            t->cb(t->opaque);
        }
    }
    pl_reap(pl);
}

/* ---- the NIC ---- */

struct frame {
    uint32_t len;
    uint8_t data[NETBE_NET_BUFSIZE];
};

struct pushnic {
    struct netbe_ctx *ctx;
    struct netbe_loop loop;
    struct poll_loop pl;
    struct netbe_nic_conf conf;
    struct netbe_nic *nic;
    struct netbe_client *peer;
    struct frame *ring;
    unsigned ring_size, head, count;
    int64_t hold_ms;
    void *drain_timer;
    uint64_t max, rx, reflected, not_for_us, not_now, link_changes;
    bool stop;
};

static struct pushnic *nic_state(struct netbe_client *nc)
{
    return netbe_get_nic_opaque(nc);
}

static void arm_drain(struct pushnic *p)
{
    p->loop.ops->timer_mod(p->loop.opaque, p->drain_timer,
                           netbe_clock_ms(&p->loop) + p->hold_ms);
}

static ssize_t nic_receive(struct netbe_client *nc, const uint8_t *buf,
                           size_t size)
{
    struct pushnic *p = nic_state(nc);
    struct frame *f;

    if (p->stop) {
        return (ssize_t)size; /* going: drop */
    }
    if (size < 14 || memcmp(buf, p->conf.macaddr, 6)) {
        p->not_for_us++;
        return (ssize_t)size; /* taken and dropped deliberately */
    }
    if (p->count == p->ring_size) {
        p->not_now++;
        return 0; /* the core queues it until netbe_flush_queued() */
    }
    f = &p->ring[(p->head + p->count++) % p->ring_size];
    memcpy(f->data, buf, size);
    f->len = (uint32_t)size;
    if (p->count == 1) {
        arm_drain(p);
    }
    if (++p->rx == p->max) {
        /* Deleting from inside receive() is safe: freed later. */
        p->stop = true;
        netbe_nic_del(p->nic);
        p->nic = NULL;
    }
    return (ssize_t)size;
}

static void nic_link_status_changed(struct netbe_client *nc)
{
    struct pushnic *p = nic_state(nc);

    p->link_changes++;
    printf("link %s\n", nc->link_down ? "down" : "up");
    fflush(stdout);
}

static const struct netbe_client_info nic_info = {
    .type = NETBE_DRIVER_NIC,
    .size = sizeof(struct netbe_client),
    .receive = nic_receive,
    .link_status_changed = nic_link_status_changed,
};

/* Send the ring back out in one batch, then take frames again. */
static void drain(void *opaque)
{
    struct pushnic *p = opaque;
    struct netbe_client *nc;

    if (!p->nic) {
        return;
    }
    nc = netbe_nic_get_queue(p->nic);
    netbe_batch_begin(p->ctx);
    while (p->count) {
        struct frame *f = &p->ring[p->head];
        uint8_t eth[12];
        struct iovec iov[2] = {
            {eth, sizeof(eth)},
            {f->data + 12, f->len - 12}, /* the rest, not copied */
        };

        memcpy(eth, f->data + 6, 6);
        memcpy(eth + 6, p->conf.macaddr, 6);
        netbe_sendv_packet(nc, iov, 2);
        p->reflected++;
        p->head = (p->head + 1) % p->ring_size;
        p->count--;
    }
    netbe_batch_end(p->ctx);
    netbe_flush_queued(nc); /* what waited in the core comes now */
}

/* The first peerless netdev: the one the command line made. */
static struct netbe_client *new_netdev(struct netbe_ctx *ctx)
{
    struct netbe_client *nc;

    for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
        if (nc->is_netdev && !nc->peer) {
            return nc;
        }
    }
    return NULL;
}

static void on_signalfd(void *opaque, int fd, unsigned events)
{
    struct pushnic *p = opaque;
    struct signalfd_siginfo si;

    (void)events;
    if (read(fd, &si, sizeof(si)) == sizeof(si)) {
        p->stop = true;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mac", required_argument, NULL, 'm'},
        {"ring", required_argument, NULL, 'r'},
        {"hold-ms", required_argument, NULL, 'H'},
        {"max", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    static struct pushnic p = {
        .conf = {.macaddr = {0x52, 0x54, 0x00, 0x9e, 0x00, 0x01}},
        .ring_size = 64,
    };
    struct netbe_error *err = NULL;
    void *sigwatch;
    sigset_t mask;
    int c, sfd;

    while ((c = getopt_long(argc, argv, "m:r:H:x:", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (netbe_mac_parse(p.conf.macaddr, optarg) < 0) {
                fprintf(stderr, "push-nic: bad MAC '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            p.ring_size = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'H':
            p.hold_ms = strtoll(optarg, NULL, 10);
            break;
        case 'x':
            p.max = strtoull(optarg, NULL, 10);
            break;
        default:
            return 2;
        }
    }
    if (optind != argc - 1 || p.ring_size == 0) {
        fprintf(stderr, "usage: push-nic [--mac MAC] [--ring N] "
                        "[--hold-ms N] [--max N] NETDEV\n");
        return 2;
    }
    p.ring = calloc(p.ring_size, sizeof(*p.ring));
    if (!p.ring) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    /* bring your own loop: netbe only calls these */
    p.loop.ops = &poll_loop_ops;
    p.loop.opaque = &p.pl;
    p.ctx = netbe_ctx_new(&p.loop);

    if (netbe_netdev_add_str(p.ctx, argv[optind], true, &err) < 0) {
        fprintf(stderr, "push-nic: -netdev %s: %s\n", argv[optind],
                netbe_error_msg(err));
        netbe_error_free(err);
        netbe_ctx_free(p.ctx);
        return 1;
    }
    p.peer = new_netdev(p.ctx);
    p.conf.peers = &p.peer;
    p.conf.queues = 1;
    p.nic = netbe_nic_new(p.ctx, &nic_info, &p.conf, "push-nic", "nic0", &p);
    netbe_format_nic_info_str(netbe_nic_get_queue(p.nic), p.conf.macaddr);
    p.drain_timer = p.loop.ops->timer_new(p.loop.opaque, drain, &p);

    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    sigwatch = p.loop.ops->watch_fd(p.loop.opaque, sfd, NETBE_EV_READ,
                                    on_signalfd, &p);

    netbe_info_network(p.ctx, stdout);
    printf("ready\n");
    fflush(stdout);
    while (!p.stop) {
        pl_run_once(&p.pl);
    }

    printf("counters rx=%" PRIu64 " reflected=%" PRIu64 " not_for_us=%" PRIu64
           " not_now=%" PRIu64 " link_changes=%" PRIu64 "\n",
           p.rx, p.reflected, p.not_for_us, p.not_now, p.link_changes);
    netbe_info_stats(p.ctx, stdout);
    fflush(stdout);
    if (p.nic) {
        netbe_nic_del(p.nic);
    }
    p.loop.ops->timer_free(p.loop.opaque, p.drain_timer);
    p.loop.ops->unwatch_fd(p.loop.opaque, sigwatch);
    netbe_ctx_free(p.ctx);
    pl_reap(&p.pl);
    close(sfd);
    free(p.ring);
    return 0;
}
