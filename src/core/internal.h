/*
 * internal.h - what the core's files share and nobody else sees: the
 * context, the frame pool, the hub hooks used by the send path.
 */
#ifndef NETBE_CORE_INTERNAL_H
#define NETBE_CORE_INTERNAL_H

#include <sys/queue.h>

#include "netbe/net.h"

/*
 * Queued frames are copied into buffers of a few fixed sizes.  Freed
 * buffers go back to a per-class free list (bounded), so a busy queue
 * reaches a steady state with no malloc per frame.
 */
#define POOL_CLASSES 3

struct pool_class {
    uint32_t size;
    uint32_t max_free;
    uint32_t nfree;
    struct netbe_packet *free; /* linked through entry.tqe_next */
};

struct netbe_hub;

struct netbe_ctx {
    struct netbe_loop *loop;
    TAILQ_HEAD(, netbe_client) clients;
    LIST_HEAD(, netbe_hub) hubs;
    int mac_table[256];
    int batch_depth;
    struct netbe_client *flush_list;
    struct pool_class pool[POOL_CLASSES];
    uint64_t pool_mallocs; /* buffers ever malloc'ed (tests read it) */
    uint8_t *scratch;      /* linearises iovecs for receive() */
    bool scratch_busy;
};

struct netbe_packet *pool_get(struct netbe_ctx *ctx, size_t size);
void pool_put(struct netbe_ctx *ctx, struct netbe_packet *p);
void pool_destroy(struct netbe_ctx *ctx);

/* Drop every frame of @from without callbacks (its sender is going). */
void queue_forget(struct netbe_queue *q, struct netbe_client *from);
/* Drop every frame, calling the callbacks with 0. */
void queue_purge_all(struct netbe_queue *q);

/* Run the TX or RX filter chain of @nc, starting after @after (or at the
 * chain's start when NULL).  Return: 0 to go on, else the consumed size. */
ssize_t filter_chain(struct netbe_client *nc, enum netbe_filter_direction dir,
                     struct netbe_filter *after, struct netbe_client *sender,
                     unsigned flags, const struct iovec *iov, int iovcnt,
                     netbe_packet_sent *sent_cb);
void filters_delete_all(struct netbe_client *nc);

void hubs_free(struct netbe_ctx *ctx);

/* Test hook: how many pool buffers were ever malloc'ed. */
uint64_t netbe_ctx_pool_mallocs(struct netbe_ctx *ctx);

#endif
