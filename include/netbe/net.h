/*
 * netbe/net.h - the client graph: clients, peers, NICs, queues, hubs,
 * filters, the send path and its counters.
 *
 * QEMU's net/net.c model.  Every backend, hub port and NIC queue is a
 * struct netbe_client with a const vtable.  Frames are pushed:
 *   send(sender) -> sender's filters (TX, head to tail)
 *                -> peer's filters (RX, tail to head)
 *                -> peer's incoming queue -> peer's receive()
 * A receive() that returns 0 means "not now": the frame is queued (in a
 * pooled buffer) and the receiver is marked receive_disabled until it
 * flushes.  Everything here runs on the loop that owns the context; no
 * function is thread-safe unless it says so.
 */
#ifndef NETBE_NET_H
#define NETBE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "netbe/error.h"
#include "netbe/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest frame the core carries: 64 KiB of GSO payload and 4 KiB more. */
#define NETBE_NET_BUFSIZE (4096 + 65536)
/* QEMU's queue limit for senders that gave no sent-callback. */
#define NETBE_QUEUE_DEFAULT_LIMIT 10000
/*
 * netbe's byte limit of the same queues: frames are counted at what their
 * buffers take (at most a quarter over their size, plus a small header).
 * A stalled receiver costs at most this much; settable per netdev
 * ("queue-bytes=") and per context.
 */
#define NETBE_QUEUE_DEFAULT_BYTES (4u << 20)
#define NETBE_QUEUE_BYTES_KEY "queue-bytes"
#define NETBE_MAX_QUEUE_NUM 1024

/* The client types; their names are QEMU's NetClientDriver strings. */
enum netbe_client_driver {
    NETBE_DRIVER_NONE = 0,
    NETBE_DRIVER_NIC,
    NETBE_DRIVER_USER,
    NETBE_DRIVER_TAP,
    NETBE_DRIVER_L2TPV3,
    NETBE_DRIVER_SOCKET,
    NETBE_DRIVER_STREAM,
    NETBE_DRIVER_DGRAM,
    NETBE_DRIVER_VDE,
    NETBE_DRIVER_BRIDGE,
    NETBE_DRIVER_HUBPORT,
    NETBE_DRIVER_NETMAP,
    NETBE_DRIVER_VHOST_USER,
    NETBE_DRIVER_VHOST_VDPA,
    NETBE_DRIVER_PASST, /* QEMU 10.1's */
    NETBE_DRIVER_AF_XDP,
    NETBE_DRIVER__MAX,
};

/** netbe_driver_name() - "nic", "hubport", "stream", ... */
const char *netbe_driver_name(enum netbe_client_driver type);

#define NETBE_PACKET_FLAG_NONE 0u
#define NETBE_PACKET_FLAG_RAW (1u << 0)

struct netbe_ctx;
struct netbe_client;
struct netbe_nic;
struct netbe_filter;
struct netbe_queue;

/*
 * Called when a frame that send_async() queued (returned 0 for) has been
 * delivered (@ret > 0) or purged (@ret == 0).  The sender resumes reading.
 */
typedef void netbe_packet_sent(struct netbe_client *sender, ssize_t ret);

struct netbe_offloads {
    bool csum, tso4, tso6, ecn, ufo, uso4, uso6;
};

struct netbe_client_info {
    enum netbe_client_driver type;
    size_t size; /* of the containing struct; >= sizeof(netbe_client) */
    /*
     * Take one frame.  Return its size (or any value > 0) when taken or
     * deliberately dropped, 0 for "not now" (the core queues it and stops
     * delivering until netbe_flush_queued() on this client), < 0 on error
     * (the frame is counted as dropped).
     */
    ssize_t (*receive)(struct netbe_client *nc, const uint8_t *buf,
                       size_t size);
    /* may be NULL: then receive_iov gets raw frames too */
    ssize_t (*receive_raw)(struct netbe_client *nc, const uint8_t *buf,
                           size_t size);
    ssize_t (*receive_iov)(struct netbe_client *nc, const struct iovec *iov,
                           int iovcnt);
    bool (*can_receive)(struct netbe_client *nc);
    /*
     * End of a batch: everything received since the last flush may leave
     * now in one sendmmsg()/writev().  Called once per batch per client
     * that received; called right after receive() outside batches.
     */
    void (*flush)(struct netbe_client *nc);
    void (*cleanup)(struct netbe_client *nc);
    void (*link_status_changed)(struct netbe_client *nc);
    bool (*has_ufo)(struct netbe_client *nc);
    bool (*has_vnet_hdr)(struct netbe_client *nc);
    bool (*has_vnet_hdr_len)(struct netbe_client *nc, int len);
    void (*using_vnet_hdr)(struct netbe_client *nc, bool enable);
    void (*set_offload)(struct netbe_client *nc,
                        const struct netbe_offloads *o);
    void (*set_vnet_hdr_len)(struct netbe_client *nc, int len);
    /*
     * Legacy-endian vnet headers (QEMU's set_vnet_le/be): read and write
     * the header's fields little-endian (a virtio 1.0 device on a
     * big-endian host) or big-endian (a legacy guest on a little-endian
     * host).  Return 0, or a negative errno when the client cannot.
     */
    int (*set_vnet_le)(struct netbe_client *nc, bool is_le);
    int (*set_vnet_be)(struct netbe_client *nc, bool is_be);
};

/* Per-client traffic and drops; a drop no counter shows is a bug. */
struct netbe_counters {
    uint64_t rx_frames, rx_bytes; /* delivered to this client's receive */
    uint64_t tx_frames, tx_bytes; /* sent by this client into the graph */
    uint64_t drop_link_down;      /* sender or receiver link down */
    uint64_t drop_no_peer;        /* sent with nobody to receive it */
    uint64_t drop_oversize;       /* over NETBE_NET_BUFSIZE or a limit */
    uint64_t drop_queue_full;     /* queue at its limit, no sent-callback */
    uint64_t drop_filter;         /* a filter discarded it */
    uint64_t drop_malformed;      /* bad input read from outside */
    uint64_t drop_error;          /* receive() failed (< 0) */
    uint64_t drop_purged; /* queued here, then purged: a peer or we left */
    uint64_t sw_segments; /* frames cut (or checksummed) in software for it */
};

/* A frame waiting in a queue; the data lives in a pooled buffer. */
struct netbe_packet {
    TAILQ_ENTRY(netbe_packet) entry;
    struct netbe_client *sender;
    netbe_packet_sent *sent_cb;
    unsigned flags;
    uint32_t size;
    uint32_t cap; /* bytes of data[]: the pool's size class */
    uint8_t data[];
};

typedef ssize_t netbe_queue_deliver_fn(struct netbe_client *sender,
                                       unsigned flags, const struct iovec *iov,
                                       int iovcnt, void *opaque);

/* Read-only outside the core, but for maxlen and max_bytes. */
struct netbe_queue {
    struct netbe_ctx *ctx;
    netbe_queue_deliver_fn *deliver;
    void *opaque;
    struct netbe_counters *stats; /* its drops go here; may be NULL */
    uint32_t maxlen, count;       /* frames: QEMU's limit, and now */
    size_t max_bytes, bytes;      /* bytes of buffers: limit (0: none), now */
    bool delivering;
    bool stopped; /* its client is being deleted: deliver no more */
    TAILQ_HEAD(, netbe_packet) packets;
};

enum netbe_filter_direction {
    NETBE_FILTER_DIRECTION_ALL = 0,
    NETBE_FILTER_DIRECTION_RX,
    NETBE_FILTER_DIRECTION_TX,
};

struct netbe_filter_ops {
    const char *type; /* "filter-dump" */
    /*
     * Return 0 to pass the frame on, or its size when the filter took it
     * (held to be released with netbe_filter_pass_to_next(), or dropped:
     * then bump netdev->stats.drop_filter).
     */
    ssize_t (*receive_iov)(struct netbe_filter *nf, struct netbe_client *sender,
                           unsigned flags, const struct iovec *iov, int iovcnt,
                           netbe_packet_sent *sent_cb);
    void (*cleanup)(struct netbe_filter *nf);
    void (*status_changed)(struct netbe_filter *nf);
    /*
     * The type's own ",key=value" pairs for info network, printed after
     * "type=T" and before the common ones (QEMU's order); may be NULL
     */
    void (*print_info)(struct netbe_filter *nf, FILE *out);
};

struct netbe_filter {
    const struct netbe_filter_ops *ops;
    char *id;
    struct netbe_client *netdev;
    enum netbe_filter_direction direction;
    bool on;
    /* as given to netbe_filter_new(), for info network: "tail", "id=f0" */
    char *position;
    bool insert_before;
    void *opaque;
    TAILQ_ENTRY(netbe_filter) next;
};

struct netbe_client_priv;

/*
 * A client.  Backends embed it first in their own struct (info->size).
 * Fields a backend may set while creating its client: info_str, link_down
 * (before it is peered), is_netdev, is_datapath.  The rest is read-only
 * outside the core; receive_disabled says the core holds frames for this
 * client until netbe_flush_queued().
 */
struct netbe_client {
    const struct netbe_client_info *info;
    struct netbe_ctx *ctx;
    struct netbe_client *peer;
    struct netbe_queue *incoming_queue;
    struct netbe_nic *nic; /* the NIC owning this queue, for NIC clients */
    char *model;
    char *name;
    char info_str[256];
    int queue_index;
    int vnet_hdr_len; /* of the frames it sends and takes: 0, 10, 12 */
    bool vnet_be;     /* ... and their headers are big-endian (legacy) */
    /*
     * The offload work it takes in frames handed to it, as
     * netbe_set_offload() told it (for a tap, also what the kernel may
     * hand it: the two match between the clients netbe pairs)
     */
    struct netbe_offloads offloads;
    bool link_down;
    bool receive_disabled;
    bool is_netdev;
    bool is_datapath; /* false: a control client, e.g. a switch listener */
    struct netbe_counters stats;
    TAILQ_HEAD(netbe_filter_head, netbe_filter) filters;
    TAILQ_ENTRY(netbe_client) next;
    struct netbe_client_priv *priv; /* the core's own bookkeeping */
};

struct netbe_nic_conf {
    uint8_t macaddr[6];
    struct netbe_client **peers; /* one per queue, entries may be NULL */
    int queues;                  /* 0 means 1 */
};

struct netbe_nic {
    struct netbe_client *ncs; /* queues clients, ncs[i].queue_index == i */
    struct netbe_nic_conf *conf;
    void *opaque;
    bool peer_deleted;
};

/* ---- context ---- */

/**
 * netbe_ctx_new() - a client graph bound to one loop
 * @loop: the loop its backends use; NULL for a graph without I/O (tests)
 */
struct netbe_ctx *netbe_ctx_new(struct netbe_loop *loop);
/**
 * netbe_ctx_free() - delete every client (QEMU's net_cleanup) and free
 * @ctx: may be NULL; must not be called from a callback of its clients
 */
void netbe_ctx_free(struct netbe_ctx *ctx);
/** netbe_ctx_loop() - Return: the loop @ctx was made with (may be NULL) */
struct netbe_loop *netbe_ctx_loop(struct netbe_ctx *ctx);
/**
 * netbe_ctx_set_queue_bytes() - the byte limit of queues made from now on
 * @max_bytes: 0 for none (QEMU's frame limit only); default
 *             NETBE_QUEUE_DEFAULT_BYTES
 */
void netbe_ctx_set_queue_bytes(struct netbe_ctx *ctx, size_t max_bytes);
/**
 * netbe_ctx_run_deferred() - do now what waits for a safe point: clients
 * deleted from inside callbacks, hubs whose ports changed
 *
 * With a loop this runs by itself on the loop's next turn, and without one
 * when the outermost core call returns; an embedder calls it only to have
 * it done earlier.  Does nothing when called from inside a callback.
 */
void netbe_ctx_run_deferred(struct netbe_ctx *ctx);

/** netbe_client_first() - Return: the oldest client of @ctx, or NULL */
struct netbe_client *netbe_client_first(struct netbe_ctx *ctx);
/**
 * netbe_client_next() - Return: the client made after @nc, or NULL; take
 * it before deleting @nc to walk while deleting
 */
struct netbe_client *netbe_client_next(struct netbe_client *nc);

/* ---- clients ---- */

/**
 * netbe_client_new() - create a client, peered with @peer (1:1; @peer must
 * have no peer yet)
 * @name: NULL assigns "MODEL.N", N counting the other clients of @model
 */
struct netbe_client *netbe_client_new(struct netbe_ctx *ctx,
                                      const struct netbe_client_info *info,
                                      struct netbe_client *peer,
                                      const char *model, const char *name);

/**
 * netbe_client_del() - delete a non-NIC client and the other queues of its
 * backend (clients of the same type sharing its name)
 * @nc: the client
 *
 * When its peer is a NIC, the clients are cleaned up but kept (the NIC
 * still points at them), the NIC's links go down and the NIC is told
 * (QEMU's peer_deleted); netbe_nic_del() frees them later.
 *
 * Safe from any callback (DESIGN invariant 8): called from inside a
 * receive(), flush(), can_receive(), a sent-callback or a filter — of
 * @nc or of any other client — it stops @nc at once (it receives and
 * sends nothing more, its queued frames are counted as purged, its name
 * is free for a new netdev) and frees it at a safe point: on the loop's
 * next turn, or with no loop when the outermost core call returns.  Its
 * cleanup() runs then, not before.  Called from anywhere else (an fd or
 * timer callback of the embedder's loop), it deletes at once.
 * Deleting a hub port wakes the senders that waited for it.
 */
void netbe_client_del(struct netbe_client *nc);

/**
 * netbe_client_set_queue_bytes() - the byte limit of @nc's incoming queue
 * @max_bytes: 0 for none; a queue always takes one frame when empty
 */
void netbe_client_set_queue_bytes(struct netbe_client *nc, size_t max_bytes);

/** netbe_client_set_peer() - join two peerless clients */
int netbe_client_set_peer(struct netbe_client *a, struct netbe_client *b,
                          struct netbe_error **errp);

/** netbe_find_netdev() - the non-NIC client named @id */
struct netbe_client *netbe_find_netdev(struct netbe_ctx *ctx, const char *id);

/**
 * netbe_find_clients_except() - clients named @id (every client when @id
 * is NULL) whose type is not @except
 * Return: how many matched; only the first @max are stored
 */
int netbe_find_clients_except(struct netbe_ctx *ctx, const char *id,
                              struct netbe_client **ncs,
                              enum netbe_client_driver except, int max);

/* ---- NICs ---- */

/**
 * netbe_nic_new() - a NIC with conf->queues queue clients (QEMU's
 * qemu_new_nic)
 * @info: the queues' vtable; type NETBE_DRIVER_NIC, size the stride
 * @conf: kept, not copied; conf->peers[i] peers queue i when set
 * @model: "virtio-net-pci", ...
 * @name: its name; NULL assigns "MODEL.N"
 * @opaque: for netbe_get_nic_opaque()
 * Return: the NIC
 */
struct netbe_nic *netbe_nic_new(struct netbe_ctx *ctx,
                                const struct netbe_client_info *info,
                                struct netbe_nic_conf *conf, const char *model,
                                const char *name, void *opaque);
/**
 * netbe_nic_del() - delete a NIC, its queues and peers deleted earlier;
 * from inside a callback it is deferred as netbe_client_del() is
 */
void netbe_nic_del(struct netbe_nic *nic);
/** netbe_nic_get_subqueue() - Return: queue client @i of @nic */
struct netbe_client *netbe_nic_get_subqueue(struct netbe_nic *nic, int i);
/** netbe_nic_get_queue() - Return: queue client 0 of @nic */
struct netbe_client *netbe_nic_get_queue(struct netbe_nic *nic);
/** netbe_get_nic() - Return: the NIC of a queue client, else NULL */
struct netbe_nic *netbe_get_nic(struct netbe_client *nc);
/** netbe_get_nic_opaque() - Return: the opaque of @nc's NIC, or NULL */
void *netbe_get_nic_opaque(struct netbe_client *nc);
/**
 * netbe_get_peer() - Return: the peer of queue @queue_index of @nc's NIC,
 * or @nc's peer when @nc is not a NIC queue
 */
struct netbe_client *netbe_get_peer(struct netbe_client *nc, int queue_index);
/** netbe_format_nic_info_str() - "model=M,macaddr=xx:..." into info_str */
void netbe_format_nic_info_str(struct netbe_client *nc, const uint8_t mac[6]);

/* ---- MAC addresses ---- */

/**
 * netbe_macaddr_default_if_unset() - give an all-zero @mac the next free
 * 52:54:00:12:34:XX (from :56 upward) and mark it used; a set @mac in that
 * range is marked used too
 */
void netbe_macaddr_default_if_unset(struct netbe_ctx *ctx, uint8_t mac[6]);
/** netbe_macaddr_set_free() - release a MAC taken from the table */
void netbe_macaddr_set_free(struct netbe_ctx *ctx, const uint8_t mac[6]);
/**
 * netbe_macaddr_check() - QEMU's NIC MAC rule: "NIC cannot have multicast
 * MAC address (odd 1st byte)" for a group address
 */
int netbe_macaddr_check(const uint8_t mac[6], struct netbe_error **errp);

/* ---- send and receive ---- */

/** netbe_can_receive() - Return: whether @nc takes a frame now */
bool netbe_can_receive(struct netbe_client *nc);
/** netbe_can_send() - Return: whether @sender's peer takes a frame now */
bool netbe_can_send(struct netbe_client *sender);
/**
 * netbe_peer_queue_has_room() - whether the queue at @sender's peer is
 * below its frame and byte limits
 *
 * A backend told "not now" (its frame queued) stops reading; one that
 * reads in batches may finish the batch while this holds, so that a slow
 * receiver still gets frames a batch at a time, and then waits for the
 * sent-callbacks of all of them.
 */
bool netbe_peer_queue_has_room(struct netbe_client *sender);

/*
 * The send family returns the size when the frame was delivered or dropped
 * (link down, no peer, oversize: counted), 0 when it was queued (the
 * sender should stop reading until @sent_cb), < 0 on error.  The frame is
 * not copied unless it must wait; the caller's buffer is free again when
 * the call returns.  The names are QEMU's (qemu_send_packet, ...): plain
 * netbe_send() is bhyve's, in netbe/bhyve.h.
 */

/** netbe_send_packet() - send @size bytes of @buf from @sender to its peer */
ssize_t netbe_send_packet(struct netbe_client *sender, const uint8_t *buf,
                          size_t size);
/**
 * netbe_send_packet_async() - netbe_send_packet(), and when the frame had
 * to wait (0), call @sent_cb once it went or was purged; such frames
 * always queue
 */
ssize_t netbe_send_packet_async(struct netbe_client *sender, const uint8_t *buf,
                                size_t size, netbe_packet_sent *sent_cb);
/**
 * netbe_send_packet_raw() - netbe_send_packet() of a frame without the
 * vnet header the peer may expect (receive_raw() takes it when the
 * receiver has one)
 */
ssize_t netbe_send_packet_raw(struct netbe_client *sender, const uint8_t *buf,
                              size_t size);
/** netbe_sendv_packet() - netbe_send_packet() of a frame in @iovcnt pieces */
ssize_t netbe_sendv_packet(struct netbe_client *sender, const struct iovec *iov,
                           int iovcnt);
/**
 * netbe_sendv_packet_async() - netbe_send_packet_async() of a frame in
 * pieces
 */
ssize_t netbe_sendv_packet_async(struct netbe_client *sender,
                                 const struct iovec *iov, int iovcnt,
                                 netbe_packet_sent *sent_cb);
/**
 * netbe_sendv_packet_flags() - the whole send family: @flags
 * NETBE_PACKET_FLAG_*, @sent_cb may be NULL
 */
ssize_t netbe_sendv_packet_flags(struct netbe_client *sender, unsigned flags,
                                 const struct iovec *iov, int iovcnt,
                                 netbe_packet_sent *sent_cb);

/**
 * netbe_receive() - hand @nc a frame from no sender (loopback paths)
 * Return: as receive(); 0 when @nc cannot take it now (it is not queued)
 */
ssize_t netbe_receive(struct netbe_client *nc, const uint8_t *buf, size_t size);
/** netbe_receive_iov() - netbe_receive() of a frame in pieces */
ssize_t netbe_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                          int iovcnt);

/**
 * netbe_flush_queued() - @nc can receive again: clear receive_disabled,
 * flush its hub's other ports when its peer is a hub port, and deliver
 * its queue until the first "not now"
 */
void netbe_flush_queued(struct netbe_client *nc);
/** ... and purge what is left when @purge (callbacks get 0) */
void netbe_flush_or_purge_queued(struct netbe_client *nc, bool purge);
/** netbe_purge_queued() - drop what @nc queued at its peer */
void netbe_purge_queued(struct netbe_client *nc);

/*
 * Batches (DESIGN invariant 4): a backend that read many frames at once
 * brackets their sends; each receiver's flush() runs once at the end.
 * Batches nest; only the outermost end flushes.
 */

/** netbe_batch_begin() - frames sent from now on form one batch */
void netbe_batch_begin(struct netbe_ctx *ctx);
/** netbe_batch_end() - the outermost end calls each receiver's flush() */
void netbe_batch_end(struct netbe_ctx *ctx);

/* ---- queues (used by the core and by filters that hold frames) ---- */

/**
 * netbe_queue_new() - a queue in front of @deliver (called with @opaque),
 * with QEMU's 10000-frame limit and @ctx's byte limit
 */
struct netbe_queue *netbe_queue_new(struct netbe_ctx *ctx,
                                    netbe_queue_deliver_fn *deliver,
                                    void *opaque);
/** netbe_queue_free() - free the queue and its frames; no callbacks */
void netbe_queue_free(struct netbe_queue *q);
/**
 * netbe_queue_send_iov() - deliver a frame now, or copy it into the queue
 * when the queue is delivering, the receiver cannot take it, or older
 * frames wait (they go first)
 * Return: as the send family
 */
ssize_t netbe_queue_send_iov(struct netbe_queue *q, struct netbe_client *sender,
                             unsigned flags, const struct iovec *iov,
                             int iovcnt, netbe_packet_sent *sent_cb);
/**
 * netbe_queue_receive_iov() - deliver a frame from no sender now, unless
 * the queue is delivering
 * Return: what deliver returned, or 0 (not queued)
 */
ssize_t netbe_queue_receive_iov(struct netbe_queue *q, const struct iovec *iov,
                                int iovcnt);
/** netbe_queue_append_iov() - queue a copy unconditionally (limit applies) */
void netbe_queue_append_iov(struct netbe_queue *q, struct netbe_client *sender,
                            unsigned flags, const struct iovec *iov, int iovcnt,
                            netbe_packet_sent *sent_cb);
/** netbe_queue_purge() - drop @from's frames, calling their callbacks */
void netbe_queue_purge(struct netbe_queue *q, struct netbe_client *from);
/** netbe_queue_flush() - Return: true when the queue is now empty */
bool netbe_queue_flush(struct netbe_queue *q);

/* ---- vnet header and offloads (DESIGN invariant 5) ---- */

/*
 * QEMU's vnet hooks, asked of @nc's vtable; a client without the hook
 * answers false or ignores the call.  @nc may be NULL.  On a NIC's queue
 * client the setters record what the NIC itself uses (its vtable needs no
 * hooks): the core then converts between it and its peer.
 */

/** netbe_has_ufo() - Return: whether @nc takes UDP fragmentation offload */
bool netbe_has_ufo(struct netbe_client *nc);
/** netbe_has_vnet_hdr() - Return: whether @nc can carry vnet headers */
bool netbe_has_vnet_hdr(struct netbe_client *nc);
/** netbe_has_vnet_hdr_len() - Return: whether @nc takes headers of @len */
bool netbe_has_vnet_hdr_len(struct netbe_client *nc, int len);
/** netbe_using_vnet_hdr() - tell @nc its frames carry vnet headers or not */
void netbe_using_vnet_hdr(struct netbe_client *nc, bool enable);
/**
 * netbe_set_offload() - tell @nc which offload work it may be handed (and,
 * for a tap, may hand on: TUNSETOFFLOAD)
 */
void netbe_set_offload(struct netbe_client *nc, const struct netbe_offloads *o);
/** netbe_set_vnet_hdr_len() - set @nc's vnet header length (10 or 12) */
void netbe_set_vnet_hdr_len(struct netbe_client *nc, int len);
/**
 * netbe_set_vnet_le() - QEMU's qemu_set_vnet_le(): little-endian header
 * fields; on a little-endian host nothing to do (0)
 * Return: 0, or a negative errno (-ENOSYS: @nc has no such switch)
 */
int netbe_set_vnet_le(struct netbe_client *nc, bool is_le);
/**
 * netbe_set_vnet_be() - QEMU's qemu_set_vnet_be(): big-endian header
 * fields, for a legacy guest; on a big-endian host nothing to do (0)
 * Return: 0, or a negative errno (-ENOSYS: @nc has no such switch)
 */
int netbe_set_vnet_be(struct netbe_client *nc, bool is_be);

/* ---- link, netdev_del, info ---- */

/**
 * netbe_set_link() - QEMU's set_link: every client named @name, and its
 * peer when that is a NIC; "Device 'X' not found" (DeviceNotFound)
 */
int netbe_set_link(struct netbe_ctx *ctx, const char *name, bool up,
                   struct netbe_error **errp);

/**
 * netbe_netdev_del() - "Device 'X' not found", "Device 'X' is not a
 * netdev"
 */
int netbe_netdev_del(struct netbe_ctx *ctx, const char *id,
                     struct netbe_error **errp);

/**
 * netbe_print_client() - "NAME: index=N,type=T,INFO" and its filters, as
 * QEMU 7.2: "  - ID: type=T,OWN,position=P,status=S,insert=I,netdev=N,
 * queue=Q" with the type's own keys (print_info) first
 */
void netbe_print_client(FILE *out, struct netbe_client *nc);
/** netbe_info_network() - QEMU's "info network" text, hubs first */
void netbe_info_network(struct netbe_ctx *ctx, FILE *out);
/**
 * netbe_info_stats() - one line per client with its counters:
 * "NAME: rx=FRAMES/BYTES tx=FRAMES/BYTES queued=N queued_bytes=N drop:
 * link_down=N no_peer=N oversize=N queue_full=N filter=N malformed=N
 * error=N purged=N", then netbe_hub_stats()
 */
void netbe_info_stats(struct netbe_ctx *ctx, FILE *out);
/** netbe_check_clients() - QEMU's start-up warnings on the graph */
void netbe_check_clients(struct netbe_ctx *ctx);

/* ---- hubs ---- */

/**
 * netbe_hub_add_port() - a new port on hub @hub_id (created on demand),
 * named @name or "hubNportM", peered with @hubpeer when given
 */
struct netbe_client *netbe_hub_add_port(struct netbe_ctx *ctx, int hub_id,
                                        const char *name,
                                        struct netbe_client *hubpeer);
/**
 * netbe_hub_id_for_client() - the hub of @nc, when @nc is a hub port or
 * the peer of one
 * Return: 0 and *@id, or -1
 */
int netbe_hub_id_for_client(struct netbe_client *nc, int *id);
/** netbe_hub_find_port() - a port of @hub_id without a peer, made if none */
struct netbe_client *netbe_hub_find_port(struct netbe_ctx *ctx, int hub_id);
/** netbe_hub_flush() - flush the queues of every other port of @nc's hub */
bool netbe_hub_flush(struct netbe_client *nc);
/** netbe_hub_info() - the hub part of "info network", in QEMU's layout */
void netbe_hub_info(struct netbe_ctx *ctx, FILE *out);
/**
 * netbe_hub_stats() - one line per learning hub, "hub N: learned=USED/MAX
 * evictions=N not_learned=N": live entries replaced by new sources, and
 * sources flooded because their port held its share of the table
 */
void netbe_hub_stats(struct netbe_ctx *ctx, FILE *out);
/**
 * netbe_hub_set_learning() - make hub @hub_id (created on demand) a
 * learning switch, or a plain QEMU hub again
 *
 * A learning hub remembers which port each unicast source MAC came from
 * (for NETBE_HUB_AGING_MS, refreshed by traffic) and sends frames for a
 * known destination to that port only; broadcast, multicast and unknown
 * destinations are flooded like a plain hub.  The table holds
 * NETBE_HUB_FDB_MAX entries; learning costs the same whatever the sources:
 * a new source takes an empty or aged entry, else one of its own port's,
 * else the oldest of its set while its port holds less than its share of
 * the table (else it is flooded, and counted).  Either way the hub is a
 * switch from then on: a port alone on it drops what it is sent (counted
 * as no_peer) instead of holding it, as QEMU's hubs do, for a port to
 * come.
 * Return: 0
 */
int netbe_hub_set_learning(struct netbe_ctx *ctx, int hub_id, bool on,
                           struct netbe_error **errp);
/** netbe_hub_set_aging() - the learning table's aging time in ms */
void netbe_hub_set_aging(struct netbe_ctx *ctx, int hub_id, int64_t ms);
#define NETBE_HUB_AGING_MS (300 * 1000) /* as Linux bridges */
#define NETBE_HUB_FDB_MAX 1024

/*
 * A capture of a whole hub: called with every frame a port of it takes
 * from its peer, before the hub forwards it, in the peer's form (a vnet
 * header of @hdr_len bytes in front).  It must not delete clients or taps.
 */
typedef void netbe_hub_tap_fn(void *opaque, struct netbe_client *port,
                              const struct iovec *iov, int iovcnt,
                              size_t hdr_len);
struct netbe_hub_tap;
/**
 * netbe_hub_tap_add() - call @fn with every frame hub @hub_id receives;
 * when the hub goes (its last port and listener went), @gone is called
 * and the tap is freed
 * Return: the tap, or NULL when there is no such hub
 */
struct netbe_hub_tap *netbe_hub_tap_add(struct netbe_ctx *ctx, int hub_id,
                                        netbe_hub_tap_fn *fn,
                                        void (*gone)(void *opaque),
                                        void *opaque);
/** netbe_hub_tap_del() - stop and free @tap (@gone is not called) */
void netbe_hub_tap_del(struct netbe_hub_tap *tap);
/* A hub as netbe_hub_get_status() reads it. */
struct netbe_hub_status {
    int id;
    bool learning;
    bool is_switch;       /* a switch listener made it (alone: drops) */
    unsigned learned;     /* live entries of its table */
    uint64_t evictions;   /* live entries replaced by new sources */
    uint64_t not_learned; /* sources flooded: their port's share full */
};

/* One learned source of a switch's table. */
struct netbe_hub_fdb_entry {
    uint8_t mac[6];
    struct netbe_client *port; /* the hub port it was last seen on */
    int64_t age_ms;            /* since it was last seen */
};

/**
 * netbe_hub_list() - the ids of @ctx's hubs, in "info network" order
 * Return: how many hubs there are; only the first @max ids are stored
 */
int netbe_hub_list(struct netbe_ctx *ctx, int *ids, int max);
/**
 * netbe_hub_get_status() - read hub @hub_id's state into @st
 * Return: 0, or -1 when there is no such hub
 */
int netbe_hub_get_status(struct netbe_ctx *ctx, int hub_id,
                         struct netbe_hub_status *st);
/**
 * netbe_hub_get_fdb() - the live (not aged) entries of hub @hub_id's
 * learning table, in table order
 * Return: how many there are (0 for a plain hub or none); only the first
 *         @max are stored
 */
int netbe_hub_get_fdb(struct netbe_ctx *ctx, int hub_id,
                      struct netbe_hub_fdb_entry *out, int max);

/** netbe_hub_check_clients() - the hub part of netbe_check_clients() */
void netbe_hub_check_clients(struct netbe_ctx *ctx);

/*
 * Switch ports: a listener client (a stream server or dgram socket with
 * hubid=) that carries no frames itself makes one client per VM, each on
 * its own port of the listener's hub.
 */

/**
 * netbe_switch_hold() - make hub @hub_id (created on demand) the switch of
 * a listener: netbe_hub_set_learning(), and the hub lives until the last
 * listener released it and its last port went
 * Return: 0, or -1 with @errp
 */
int netbe_switch_hold(struct netbe_ctx *ctx, int hub_id, bool learning,
                      struct netbe_error **errp);
/** netbe_switch_release() - a listener of hub @hub_id is going */
void netbe_switch_release(struct netbe_ctx *ctx, int hub_id);
/**
 * netbe_switch_port_name() - a fresh name "LISTENER.K" for a VM of
 * @listener: K counts up from *@next and skips every name in use
 * Return: the name, to free
 */
char *netbe_switch_port_name(struct netbe_client *listener, unsigned *next);
/**
 * netbe_switch_port_join() - put @conn, a new peerless client of
 * @listener's, on a new port of hub @hub_id
 *
 * @conn becomes a netdev; it and its port get @listener's queue byte
 * limit (its "queue-bytes="); when they are freed, @listener's counters
 * take theirs (the port's drops only), so that totals still add up after
 * VMs left.  @listener must delete its VMs in its own cleanup().
 * Return: the port
 */
struct netbe_client *netbe_switch_port_join(struct netbe_client *listener,
                                            struct netbe_client *conn,
                                            int hub_id);
/**
 * netbe_switch_port_leave() - delete the hub port of @conn; for @conn's
 * cleanup(), so that the port goes with the VM
 */
void netbe_switch_port_leave(struct netbe_client *conn);

/* ---- filters ---- */

/**
 * netbe_filter_new() - attach a filter to @nc
 * @position: "head", "tail" (NULL means "tail") or "id=<filter id>"
 * @insert_before: with "id=", before that filter rather than after
 * Errors as QEMU's netfilter: "Parameter 'position' expects 'head', 'tail'
 * or 'id=<id>'", "filter 'X' not found", "Duplicate ID 'X' for object"
 */
struct netbe_filter *netbe_filter_new(struct netbe_client *nc,
                                      const struct netbe_filter_ops *ops,
                                      const char *id,
                                      enum netbe_filter_direction direction,
                                      const char *position, bool insert_before,
                                      struct netbe_error **errp);
/** netbe_filter_del() - detach @nf from its netdev, clean it up, free it */
void netbe_filter_del(struct netbe_filter *nf);
/** netbe_filter_find() - Return: the filter @id of any client, or NULL */
struct netbe_filter *netbe_filter_find(struct netbe_ctx *ctx, const char *id);
/** netbe_filter_set_status() - "on"/"off"; an off filter passes everything */
void netbe_filter_set_status(struct netbe_filter *nf, bool on);
/**
 * netbe_filter_pass_to_next() - continue a held frame after @nf: the rest
 * of this chain, then the receiver's RX chain and queue
 * Return: the frame's size
 */
ssize_t netbe_filter_pass_to_next(struct netbe_filter *nf,
                                  struct netbe_client *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt);

#ifdef __cplusplus
}
#endif

#endif
