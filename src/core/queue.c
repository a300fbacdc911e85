/*
 * queue.c - a receiver's incoming queue, with QEMU's rules (net/queue.c):
 *
 *  - a frame is delivered at once unless the queue is delivering (re-entry)
 *    or the receiver cannot take frames; then, or when delivery returns 0,
 *    it is copied into the queue;
 *  - the queue holds at most maxlen frames from senders without a
 *    sent-callback; past that those frames are dropped (and counted);
 *    senders with a callback always queue, because they stop sending
 *    until the callback tells them their frame went out;
 *  - flush delivers in order and stops at the first "not now";
 *  - purge drops one sender's frames and calls their callbacks with 0.
 *
 * Copies live in pooled buffers of a few size classes, so a queue that
 * fills and drains over and over allocates nothing after warming up.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/internal.h"
#include "netbe/util.h"

/*
 * Size classes of whole buffers (header and data): 128 bytes, then four
 * steps per doubling, so a frame never takes more than 25% over its size
 * (plus the header).  Class i > 0 is (128 << d) + (s + 1) * (32 << d),
 * with d = (i - 1) / 4 and s = (i - 1) % 4.
 */
#define CLASS_MIN 128u

static unsigned class_index(size_t total)
{
    size_t v;
    int k;

    if (total <= CLASS_MIN) {
        return 0;
    }
    v = total - 1;
    k = 63 - __builtin_clzll((unsigned long long)v); /* v >= 128: k >= 7 */
    return (unsigned)(k - 7) * 4 + (unsigned)((v >> (k - 2)) & 3) + 1;
}

static size_t class_bytes(unsigned i)
{
    unsigned d, s;

    if (i == 0) {
        return CLASS_MIN;
    }
    d = (i - 1) / 4;
    s = (i - 1) % 4;
    return ((size_t)CLASS_MIN << d) + (size_t)(s + 1) * ((size_t)32 << d);
}

/*
 * Give freed buffers back to the system (glibc keeps freed heap chunks
 * otherwise) once this much was freed and nothing is queued any more, or
 * this much more at the latest.
 */
#define TRIM_WHEN_IDLE (1u << 20)
#define TRIM_ALWAYS (8u << 20)

static void pool_trim(struct netbe_ctx *ctx)
{
    if (ctx->pool_freed < TRIM_WHEN_IDLE ||
        (ctx->queued_bytes > 0 && ctx->pool_freed < TRIM_ALWAYS)) {
        return;
    }
    ctx->pool_freed = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

struct netbe_packet *pool_get(struct netbe_ctx *ctx, size_t size)
{
    size_t total = sizeof(struct netbe_packet) + size;
    struct netbe_packet *p;
    unsigned i;

    if (size > NETBE_NET_BUFSIZE) {
        return NULL;
    }
    i = class_index(total);
    p = ctx->pool[i];
    if (p) {
        ctx->pool[i] = p->entry.tqe_next;
        ctx->pool_free_bytes -= class_bytes(i);
        return p;
    }
    total = class_bytes(i);
    p = malloc(total);
    if (p) {
        p->cap = (uint32_t)(total - sizeof(*p));
        ctx->pool_mallocs++;
    }
    return p;
}

/* Bytes a queued frame really costs: its whole buffer. */
static size_t packet_bytes(const struct netbe_packet *p)
{
    return sizeof(*p) + p->cap;
}

void pool_put(struct netbe_ctx *ctx, struct netbe_packet *p)
{
    size_t total = packet_bytes(p);
    unsigned i = class_index(total);

    if (ctx->pool_free_bytes + total <= NETBE_POOL_KEEP_BYTES) {
        p->entry.tqe_next = ctx->pool[i];
        ctx->pool[i] = p;
        ctx->pool_free_bytes += total;
        return;
    }
    free(p);
    ctx->pool_freed += total;
    pool_trim(ctx);
}

void pool_destroy(struct netbe_ctx *ctx)
{
    for (unsigned i = 0; i < POOL_CLASSES; i++) {
        while (ctx->pool[i]) {
            struct netbe_packet *p = ctx->pool[i];

            ctx->pool[i] = p->entry.tqe_next;
            free(p);
        }
    }
    ctx->pool_free_bytes = 0;
}

uint64_t netbe_ctx_pool_mallocs(struct netbe_ctx *ctx)
{
    return ctx->pool_mallocs;
}

struct netbe_queue *netbe_queue_new(struct netbe_ctx *ctx,
                                    netbe_queue_deliver_fn *deliver,
                                    void *opaque)
{
    struct netbe_queue *q = netbe_malloc0(sizeof(*q));

    q->ctx = ctx;
    q->deliver = deliver;
    q->opaque = opaque;
    q->maxlen = NETBE_QUEUE_DEFAULT_LIMIT;
    q->max_bytes = ctx->queue_max_bytes;
    TAILQ_INIT(&q->packets);
    return q;
}

static void unlink_packet(struct netbe_queue *q, struct netbe_packet *p)
{
    size_t bytes = packet_bytes(p);

    TAILQ_REMOVE(&q->packets, p, entry);
    q->count--;
    q->bytes -= bytes;
    q->ctx->queued_bytes -= bytes;
}

static void link_packet(struct netbe_queue *q, struct netbe_packet *p,
                        bool head)
{
    size_t bytes = packet_bytes(p);

    if (head) {
        TAILQ_INSERT_HEAD(&q->packets, p, entry);
    } else {
        TAILQ_INSERT_TAIL(&q->packets, p, entry);
    }
    q->count++;
    q->bytes += bytes;
    q->ctx->queued_bytes += bytes;
}

static void bump(uint64_t *counter)
{
    if (counter) {
        (*counter)++;
    }
}

void netbe_queue_free(struct netbe_queue *q)
{
    struct netbe_packet *p;

    if (!q) {
        return;
    }
    while ((p = TAILQ_FIRST(&q->packets))) {
        unlink_packet(q, p);
        bump(q->stats ? &q->stats->drop_purged : NULL);
        pool_put(q->ctx, p);
    }
    free(q);
}

/*
 * Whether a frame of @size from a sender without a callback is over the
 * limits.  An empty queue always takes one frame, so that a byte limit
 * below the largest frame cannot wedge a receiver.
 */
static bool over_limit(const struct netbe_queue *q, size_t size)
{
    size_t cost = class_bytes(class_index(sizeof(struct netbe_packet) + size));

    if (q->count >= q->maxlen) {
        return true;
    }
    return q->count > 0 && q->max_bytes && q->bytes + cost > q->max_bytes;
}

void netbe_queue_append_iov(struct netbe_queue *q, struct netbe_client *sender,
                            unsigned flags, const struct iovec *iov, int iovcnt,
                            netbe_packet_sent *sent_cb)
{
    size_t size = netbe_iov_size(iov, iovcnt);
    struct netbe_packet *p;

    /*
     * Senders with a callback always queue (QEMU's rule): they stop
     * sending until it runs, so their backlog is bounded by what they
     * read at once.
     */
    if (!sent_cb && over_limit(q, size)) {
        bump(q->stats ? &q->stats->drop_queue_full : NULL);
        return;
    }
    p = pool_get(q->ctx, size);
    if (!p) {
        /* Larger than any class, or out of memory: never silent. */
        if (q->stats) {
            bump(size > NETBE_NET_BUFSIZE ? &q->stats->drop_oversize
                                          : &q->stats->drop_queue_full);
        }
        return;
    }
    p->sender = sender;
    p->flags = flags;
    p->sent_cb = sent_cb;
    p->size = (uint32_t)netbe_iov_to_buf(iov, iovcnt, 0, p->data, size);
    link_packet(q, p, false);
}

static ssize_t deliver(struct netbe_queue *q, struct netbe_client *sender,
                       unsigned flags, const struct iovec *iov, int iovcnt)
{
    ssize_t ret;

    q->delivering = true;
    ret = q->deliver(sender, flags, iov, iovcnt, q->opaque);
    q->delivering = false;
    return ret;
}

ssize_t netbe_queue_receive_iov(struct netbe_queue *q, const struct iovec *iov,
                                int iovcnt)
{
    ssize_t ret;

    if (q->delivering) {
        return 0;
    }
    core_enter(q->ctx);
    ret = deliver(q, NULL, NETBE_PACKET_FLAG_NONE, iov, iovcnt);
    core_leave(q->ctx);
    return ret;
}

ssize_t netbe_queue_send_iov(struct netbe_queue *q, struct netbe_client *sender,
                             unsigned flags, const struct iovec *iov,
                             int iovcnt, netbe_packet_sent *sent_cb)
{
    ssize_t ret;

    if (q->delivering || !netbe_can_send(sender)) {
        netbe_queue_append_iov(q, sender, flags, iov, iovcnt, sent_cb);
        return 0;
    }
    core_enter(q->ctx);
    if (!TAILQ_EMPTY(&q->packets)) {
        /*
         * Older frames wait: this one goes behind them, never before
         * (QEMU delivers it at once and so may reorder).
         */
        netbe_queue_append_iov(q, sender, flags, iov, iovcnt, sent_cb);
        ret = netbe_queue_flush(q) ? (ssize_t)netbe_iov_size(iov, iovcnt) : 0;
        core_leave(q->ctx);
        return ret;
    }
    ret = deliver(q, sender, flags, iov, iovcnt);
    if (ret == 0) {
        netbe_queue_append_iov(q, sender, flags, iov, iovcnt, sent_cb);
    } else {
        /* Frames queued meanwhile (a receive that sent) may go now. */
        netbe_queue_flush(q);
    }
    core_leave(q->ctx);
    return ret;
}

/*
 * Drop one frame, telling its sender (if it waits and is not going); its
 * sender leaving counts as no_peer, anything else as purged.
 */
static void drop_queued(struct netbe_queue *q, struct netbe_packet *p,
                        bool tell)
{
    unlink_packet(q, p);
    if (q->stats) {
        bump(tell ? &q->stats->drop_purged : &q->stats->drop_no_peer);
    }
    if (tell && p->sent_cb && p->sender && !client_dying(p->sender)) {
        p->sent_cb(p->sender, 0);
    }
    pool_put(q->ctx, p);
}

void netbe_queue_purge(struct netbe_queue *q, struct netbe_client *from)
{
    struct netbe_packet *p, *next;

    core_enter(q->ctx);
    for (p = TAILQ_FIRST(&q->packets); p; p = next) {
        next = TAILQ_NEXT(p, entry);
        if (p->sender == from) {
            /* a callback may purge too: start over from the head */
            drop_queued(q, p, true);
            next = TAILQ_FIRST(&q->packets);
        }
    }
    core_leave(q->ctx);
}

void queue_purge_all(struct netbe_queue *q)
{
    struct netbe_packet *p;

    core_enter(q->ctx);
    while ((p = TAILQ_FIRST(&q->packets))) {
        drop_queued(q, p, true);
    }
    core_leave(q->ctx);
}

void queue_forget(struct netbe_queue *q, struct netbe_client *from)
{
    struct netbe_packet *p, *next;

    for (p = TAILQ_FIRST(&q->packets); p; p = next) {
        next = TAILQ_NEXT(p, entry);
        if (p->sender == from) {
            drop_queued(q, p, false);
        }
    }
}

bool netbe_queue_flush(struct netbe_queue *q)
{
    struct netbe_packet *p;
    bool empty = true;

    if (q->delivering) {
        return false;
    }
    core_enter(q->ctx);
    netbe_batch_begin(q->ctx);
    while ((p = TAILQ_FIRST(&q->packets))) {
        struct iovec iov = {.iov_base = p->data, .iov_len = p->size};
        ssize_t ret;

        if (q->stopped) {
            /* its client is being deleted: what is left gets purged */
            empty = false;
            break;
        }
        unlink_packet(q, p);
        ret = deliver(q, p->sender, p->flags, &iov, 1);
        if (ret == 0) {
            link_packet(q, p, true);
            empty = false;
            break;
        }
        if (p->sent_cb && !client_dying(p->sender)) {
            p->sent_cb(p->sender, ret);
        }
        pool_put(q->ctx, p);
    }
    netbe_batch_end(q->ctx);
    core_leave(q->ctx);
    return empty;
}
