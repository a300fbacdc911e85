/*
 * internal.h - what the core's files share and nobody else sees: the
 * context, the frame pool, the hub hooks used by the send path.
 */
#ifndef NETBE_CORE_INTERNAL_H
#define NETBE_CORE_INTERNAL_H

#include <sys/queue.h>

#include "netbe/net.h"
#include "netbe/vnet.h"

/*
 * Queued frames are copied into buffers of size classes a quarter apart
 * (queue.c).  Freed buffers go back to a free list per class, up to
 * NETBE_POOL_KEEP_BYTES in all, so a busy queue reaches a steady state
 * with no malloc per frame, and what a burst took beyond that goes back
 * to the system once the queues drain.
 */
#define POOL_CLASSES 40
#define NETBE_POOL_KEEP_BYTES (4u << 20)

struct netbe_hub;
struct netbe_event_state;

/* The core's bookkeeping of a client, out of the embedders' sight. */
struct netbe_client_priv {
    struct netbe_client *flush_next; /* the batch's flush list */
    bool flush_pending;
    /* deleted while its peer is a NIC: cleaned up, freed with the NIC */
    bool cleaned_up;
    /* netbe_client_del() from inside a callback: freed at a safe point */
    bool dying;
    bool del_nic; /* ... with its whole NIC (netbe_nic_del) */
    bool in_list; /* on ctx->dying: the one whose deletion was asked */
    TAILQ_ENTRY(netbe_client) del_entry;
    void (*destructor)(struct netbe_client *nc);
    /* a switch port's: its listener, which keeps its counts once it left */
    struct netbe_client *fold_to;
    bool fold_drops_only; /* a hub port: its rx/tx are its VM's tx/rx */
    int fold_refs;        /* clients whose fold_to is this one */
};

struct netbe_ctx {
    struct netbe_loop *loop;
    TAILQ_HEAD(, netbe_client) clients;
    LIST_HEAD(, netbe_hub) hubs;
    LIST_HEAD(, netbe_chardev) chardevs; /* oldest first (chardev.c) */
    int mac_table[256];
    int batch_depth;
    struct netbe_client *flush_list;
    /* the pool */
    struct netbe_packet *pool[POOL_CLASSES]; /* linked by entry.tqe_next */
    size_t pool_free_bytes;                  /* in the free lists */
    size_t pool_freed;      /* given back to malloc since the last trim */
    size_t queued_bytes;    /* in every queue */
    size_t queue_max_bytes; /* default byte limit of new queues */
    uint64_t pool_mallocs;  /* buffers ever malloc'ed (tests read it) */
    uint8_t *scratch;       /* linearises iovecs for receive() */
    bool scratch_busy;
    /* deletion from callbacks (DESIGN invariant 8) */
    int depth; /* core calls on the stack that hold client pointers */
    bool reaping;
    bool freeing; /* netbe_ctx_free() deletes everything */
    TAILQ_HEAD(, netbe_client) dying;
    void *reap_timer;
    struct netbe_event_state *events; /* event.c's; NULL until first used */
};

/*
 * Around every core entry point that calls out (receive, flush, sent
 * callbacks, filters) while it holds client pointers: a client deleted
 * meanwhile is only marked and freed once no such call is on the stack.
 */
static inline void core_enter(struct netbe_ctx *ctx)
{
    ctx->depth++;
}
void core_leave(struct netbe_ctx *ctx);

static inline bool client_dying(const struct netbe_client *nc)
{
    return nc && nc->priv->dying;
}

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
/* chardev.c: after the clients, whose filters use them */
void chardevs_free_all(struct netbe_ctx *ctx);
/* Free the event sinks still subscribed (event.c). */
void events_free(struct netbe_ctx *ctx);
/* Hubs that lost or gained a port: flush their other ports' queues. */
bool hubs_need_kick(struct netbe_ctx *ctx);
/* @port lost its peer: what waited for that peer may go on. */
void hub_port_peer_gone(struct netbe_client *port);
void hubs_kick(struct netbe_ctx *ctx);
/*
 * Kick now when nothing is on the stack, else at the next safe point;
 * @later: on the loop's next turn in any case (when there is a loop).
 */
void ctx_defer_kick(struct netbe_ctx *ctx, bool later);

/*
 * Frame forms (form.c): a frame as its sender sent it, parsed once, and
 * handed to a receiver in the form that receiver takes.
 */
struct core_frame {
    const struct iovec *iov; /* as the sender sent it */
    int iovcnt;
    size_t len;
    size_t hdr_len;            /* of the vnet header in front, or 0 */
    bool big_endian;           /* of that header */
    struct netbe_vnet_info vi; /* with hdr_len: the header, validated */
    const struct iovec *body;  /* the frame after the header */
    int body_cnt;
    struct iovec body_buf[NETBE_VNET_MAX_IOV];
};

/* Whether @o covers the offload work the frame still needs. */
bool core_offloads_take(const struct netbe_offloads *o,
                        const struct netbe_vnet_info *vi);
/* Parse and validate; Return: 0, or -1 for a bad header (malformed). */
int core_frame_parse(struct core_frame *f, const struct iovec *iov, int iovcnt,
                     size_t hdr_len, bool big_endian);
/* Takes one piece: the frame, or one segment of it (@last: the last). */
typedef ssize_t core_piece_fn(void *opaque, const struct iovec *iov, int iovcnt,
                              bool last);
/*
 * Hand @f to @fn in the form of a receiver with headers of @to_len bytes
 * (@to_be: big-endian) that takes the offload work @takes (ignored for
 * @to_len 0: plain frames take none): as it is, with its header
 * converted, or as segments (counted in @seg_stats->sw_segments).
 * Return: what @fn returned for the last piece, or -1 when the frame
 * could not be converted or cut (the caller counts it as malformed).
 */
ssize_t core_frame_send_as(const struct core_frame *f, size_t to_len,
                           bool to_be, const struct netbe_offloads *takes,
                           struct netbe_counters *seg_stats, core_piece_fn *fn,
                           void *opaque);
/*
 * The last step of a send between two clients: into @peer's queue in the
 * form @peer takes.  Return: as the send family.
 */
ssize_t core_send_to_peer(struct netbe_client *sender,
                          struct netbe_client *peer, unsigned flags,
                          const struct iovec *iov, int iovcnt,
                          netbe_packet_sent *sent_cb);

/* Test hook: how many pool buffers were ever malloc'ed. */
uint64_t netbe_ctx_pool_mallocs(struct netbe_ctx *ctx);

#endif
