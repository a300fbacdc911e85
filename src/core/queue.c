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

#include "core/internal.h"
#include "netbe/util.h"

static const uint32_t class_size[POOL_CLASSES] = {2048, 16384,
                                                  NETBE_NET_BUFSIZE};
/* How many free buffers each class keeps: about 8 MiB, 4 MiB, 4.3 MiB. */
static const uint32_t class_keep[POOL_CLASSES] = {4096, 256, 64};

struct netbe_packet *pool_get(struct netbe_ctx *ctx, size_t size)
{
    struct pool_class *pc = NULL;
    struct netbe_packet *p;
    int i;

    for (i = 0; i < POOL_CLASSES; i++) {
        pc = &ctx->pool[i];
        if (!pc->size) {
            pc->size = class_size[i];
            pc->max_free = class_keep[i];
        }
        if (size <= pc->size) {
            break;
        }
    }
    if (i == POOL_CLASSES) {
        return NULL;
    }
    p = pc->free;
    if (p) {
        pc->free = p->entry.tqe_next;
        pc->nfree--;
        return p;
    }
    p = malloc(sizeof(*p) + pc->size);
    if (p) {
        p->cap = pc->size;
        ctx->pool_mallocs++;
    }
    return p;
}

void pool_put(struct netbe_ctx *ctx, struct netbe_packet *p)
{
    int i;

    for (i = 0; i < POOL_CLASSES; i++) {
        struct pool_class *pc = &ctx->pool[i];

        if (p->cap == pc->size && pc->nfree < pc->max_free) {
            p->entry.tqe_next = pc->free;
            pc->free = p;
            pc->nfree++;
            return;
        }
    }
    free(p);
}

void pool_destroy(struct netbe_ctx *ctx)
{
    for (int i = 0; i < POOL_CLASSES; i++) {
        struct pool_class *pc = &ctx->pool[i];

        while (pc->free) {
            struct netbe_packet *p = pc->free;

            pc->free = p->entry.tqe_next;
            free(p);
        }
        pc->nfree = 0;
    }
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
    TAILQ_INIT(&q->packets);
    return q;
}

static void unlink_packet(struct netbe_queue *q, struct netbe_packet *p)
{
    TAILQ_REMOVE(&q->packets, p, entry);
    q->count--;
}

void netbe_queue_free(struct netbe_queue *q)
{
    struct netbe_packet *p;

    if (!q) {
        return;
    }
    while ((p = TAILQ_FIRST(&q->packets))) {
        unlink_packet(q, p);
        pool_put(q->ctx, p);
    }
    free(q);
}

void netbe_queue_append_iov(struct netbe_queue *q, struct netbe_client *sender,
                            unsigned flags, const struct iovec *iov, int iovcnt,
                            netbe_packet_sent *sent_cb)
{
    size_t size = netbe_iov_size(iov, iovcnt);
    struct netbe_packet *p;

    if (q->count >= q->maxlen && !sent_cb) {
        if (q->stats) {
            q->stats->drop_queue_full++;
        }
        return;
    }
    p = pool_get(q->ctx, size);
    if (!p) {
        /* Larger than any class, or out of memory: never silent. */
        if (q->stats) {
            if (size > NETBE_NET_BUFSIZE) {
                q->stats->drop_oversize++;
            } else {
                q->stats->drop_queue_full++;
            }
        }
        return;
    }
    p->sender = sender;
    p->flags = flags;
    p->sent_cb = sent_cb;
    p->size = (uint32_t)netbe_iov_to_buf(iov, iovcnt, 0, p->data, size);
    TAILQ_INSERT_TAIL(&q->packets, p, entry);
    q->count++;
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
    if (q->delivering) {
        return 0;
    }
    return deliver(q, NULL, NETBE_PACKET_FLAG_NONE, iov, iovcnt);
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
    ret = deliver(q, sender, flags, iov, iovcnt);
    if (ret == 0) {
        netbe_queue_append_iov(q, sender, flags, iov, iovcnt, sent_cb);
        return 0;
    }
    /* Frames queued earlier may have been waiting for exactly this. */
    netbe_queue_flush(q);
    return ret;
}

void netbe_queue_purge(struct netbe_queue *q, struct netbe_client *from)
{
    struct netbe_packet *p, *next;

    for (p = TAILQ_FIRST(&q->packets); p; p = next) {
        next = TAILQ_NEXT(p, entry);
        if (p->sender != from) {
            continue;
        }
        unlink_packet(q, p);
        if (p->sent_cb) {
            p->sent_cb(p->sender, 0);
        }
        pool_put(q->ctx, p);
    }
}

void queue_purge_all(struct netbe_queue *q)
{
    struct netbe_packet *p;

    while ((p = TAILQ_FIRST(&q->packets))) {
        unlink_packet(q, p);
        if (p->sent_cb && p->sender) {
            p->sent_cb(p->sender, 0);
        }
        pool_put(q->ctx, p);
    }
}

void queue_forget(struct netbe_queue *q, struct netbe_client *from)
{
    struct netbe_packet *p, *next;

    for (p = TAILQ_FIRST(&q->packets); p; p = next) {
        next = TAILQ_NEXT(p, entry);
        if (p->sender == from) {
            unlink_packet(q, p);
            if (q->stats) {
                q->stats->drop_no_peer++;
            }
            pool_put(q->ctx, p);
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
    netbe_batch_begin(q->ctx);
    while ((p = TAILQ_FIRST(&q->packets))) {
        struct iovec iov = {.iov_base = p->data, .iov_len = p->size};
        ssize_t ret;

        unlink_packet(q, p);
        ret = deliver(q, p->sender, p->flags, &iov, 1);
        if (ret == 0) {
            TAILQ_INSERT_HEAD(&q->packets, p, entry);
            q->count++;
            empty = false;
            break;
        }
        if (p->sent_cb) {
            p->sent_cb(p->sender, ret);
        }
        pool_put(q->ctx, p);
    }
    netbe_batch_end(q->ctx);
    return empty;
}
