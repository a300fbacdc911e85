/*
 * buffer.c - QEMU's filter-buffer (net/filter-buffer.c): holds every frame
 * that passes it and releases them all, in order, each interval, on to the
 * rest of the chain (netbe_filter_pass_to_next()).
 *
 * Held frames wait in a core queue (pooled buffers, QEMU's 10000 frames
 * and the context's byte limit; what is over it is dropped and counted as
 * the netdev's queue_full).  The sender is told the frame went, as QEMU
 * does, so it is not paused.  A held frame does not keep a pointer to its
 * sender, which may be gone by the time it is released: it remembers only
 * which way it went (from the netdev, or from its peer), and goes on from
 * whoever is there then.  Turning the filter off, or deleting it with
 * object_del, releases what it holds at once; deleting its netdev drops
 * it (counted as purged).
 *
 * The loop's timers count milliseconds: an interval under 1000 µs is
 * rounded up to 1 ms.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/filters.h"
#include "netbe/loop.h"
#include "netbe/util.h"

/* A frame held on its way from the netdev's peer (else from the netdev). */
#define FROM_PEER (1u << 30)

struct buffer {
    struct netbe_filter *nf;
    struct netbe_queue *q;
    struct netbe_loop *loop;
    void *timer;
    uint32_t interval_us;
};

static ssize_t release_one(struct netbe_client *sender, unsigned flags,
                           const struct iovec *iov, int iovcnt, void *opaque)
{
    struct buffer *b = opaque;
    struct netbe_client *netdev = b->nf->netdev;
    size_t size = netbe_iov_size(iov, iovcnt);

    sender = flags & FROM_PEER ? netdev->peer : netdev;
    if (!sender || !sender->peer) {
        netdev->stats.drop_no_peer++;
        return (ssize_t)size;
    }
    netbe_filter_pass_to_next(b->nf, sender, flags & ~FROM_PEER, iov, iovcnt);
    return (ssize_t)size;
}

static void release_all(struct buffer *b)
{
    struct netbe_ctx *ctx = b->nf->netdev->ctx;

    netbe_batch_begin(ctx);
    netbe_queue_flush(b->q);
    netbe_batch_end(ctx);
}

static int64_t interval_ms(const struct buffer *b)
{
    return ((int64_t)b->interval_us + 999) / 1000;
}

static void arm(struct buffer *b)
{
    b->loop->ops->timer_mod(b->loop->opaque, b->timer,
                            netbe_clock_ms(b->loop) + interval_ms(b));
}

static void release_cb(void *opaque)
{
    struct buffer *b = opaque;

    release_all(b);
    arm(b);
}

static ssize_t buffer_receive_iov(struct netbe_filter *nf,
                                  struct netbe_client *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt,
                                  netbe_packet_sent *sent_cb)
{
    struct buffer *b = nf->opaque;

    if (sender != nf->netdev) {
        flags |= FROM_PEER;
    }
    /* no sent-callback: the sender goes on, as with QEMU */
    netbe_queue_append_iov(b->q, NULL, flags, iov, iovcnt, NULL);
    return (ssize_t)netbe_iov_size(iov, iovcnt);
}

static void buffer_status_changed(struct netbe_filter *nf)
{
    struct buffer *b = nf->opaque;

    if (!nf->on) {
        b->loop->ops->timer_del(b->loop->opaque, b->timer);
        release_all(b);
    } else {
        arm(b);
    }
}

static void buffer_cleanup(struct netbe_filter *nf)
{
    struct buffer *b = nf->opaque;
    struct netbe_packet *p;

    if (!b) {
        return;
    }
    b->loop->ops->timer_free(b->loop->opaque, b->timer);
    /* what is left goes with the netdev */
    TAILQ_FOREACH (p, &b->q->packets, entry) {
        nf->netdev->stats.drop_purged++;
    }
    netbe_queue_free(b->q);
    free(b);
    nf->opaque = NULL;
}

static void buffer_print_info(struct netbe_filter *nf, FILE *out)
{
    struct buffer *b = nf->opaque;

    fprintf(out, ",interval=%u", b->interval_us);
}

static const struct netbe_filter_ops buffer_ops = {
    .type = "filter-buffer",
    .receive_iov = buffer_receive_iov,
    .cleanup = buffer_cleanup,
    .status_changed = buffer_status_changed,
    .print_info = buffer_print_info,
};

static int buffer_check(const struct netbe_opts *opts,
                        struct netbe_error **errp)
{
    if (netbe_opts_get_number(opts, "interval", 0) == 0) {
        netbe_error_setg(errp, "Property 'filter-buffer.interval' requires a "
                               "positive value");
        return -1;
    }
    return 0;
}

static int buffer_create(struct netbe_ctx *ctx, const char *id,
                         const struct netbe_opts *opts,
                         const struct netbe_filter_conf *conf,
                         struct netbe_error **errp)
{
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    struct buffer *b;

    if (!loop) {
        netbe_error_setg(errp, "filter-buffer needs an event loop");
        return -1;
    }
    b = netbe_malloc0(sizeof(*b));
    b->loop = loop;
    b->interval_us = (uint32_t)netbe_opts_get_number(opts, "interval", 0);
    b->nf = netbe_filter_attach(conf, &buffer_ops, id, b, errp);
    if (!b->nf) {
        free(b);
        return -1;
    }
    b->q = netbe_queue_new(ctx, release_one, b);
    b->q->stats = &conf->netdev->stats;
    b->timer = loop->ops->timer_new(loop->opaque, release_cb, b);
    if (b->nf->on) {
        arm(b);
    }
    return 0;
}

static const struct netbe_opt_desc buffer_keys[] = {
    {"interval", NETBE_OPT_UINT32, true, NULL, NULL},
    {NULL, 0, false, NULL, NULL},
};

static const struct netbe_object_prop buffer_props[] = {
    {"insert", "string"},
    {"interval", "uint32"},
    {"netdev", "string"},
    {"position", "string"},
    {"queue", "NetFilterDirection"},
    {"status", "string"},
    {NULL, NULL},
};

const struct netbe_object_type netbe_filter_buffer_type = {
    .name = "filter-buffer",
    .keys = buffer_keys,
    .props = buffer_props,
    .is_filter = true,
    .check = buffer_check,
    .create = buffer_create,
};
