/*
 * netbe/bhyve.h - bhyve's net_backends API (the pull API that a VMM's
 * virtio-net frontend calls), as a façade over the client graph.
 *
 * netbe_init() creates the backend as a netdev of the graph and a
 * built-in "pull NIC" as its peer.  Frames the backend receives wait in
 * the NIC's incoming queue (bounded as every queue: QEMU's 10000 frames
 * and the byte limit); the frontend's callback runs from the loop while
 * frames wait and receive is enabled, and the frontend takes them with
 * netbe_peek_recvlen() / netbe_recv().  While receive is disabled, or the
 * frontend does not take them, the queue fills and the backend stops
 * reading (backpressure, nothing is lost).  netbe_send() pushes a frame
 * into the graph.  One graph, two ways in: the same backend, hubs and
 * filters serve push embedders (netbe/net.h) and pull ones.
 *
 * Backend names, as bhyve finds them by prefix:
 *   "tap0", "tapN", "vmnet0", ...   the tap interface of that name
 *                                   (Linux: -netdev tap,ifname=NAME,
 *                                   script=no,downscript=no)
 *   "netmap:...", "vale..."         "netmap backend not available on
 *                                   this system" (ENOTSUP)
 *   "netgraph..."                   likewise
 * and beyond the seed any -netdev option string whose first element is a
 * netdev type ("stream,addr.type=unix,addr.path=/run/vm.sock",
 * "dgram,...", "tap,ifname=t1,vnet_hdr=on", "hubport,hubid=0"), or its
 * JSON form, its id "bhyveN" (the first N free) when it has none.  After
 * a bhyve tap name, "mac=" and "mtu=" (the frontend's: bhyve's
 * pci_virtio_net reads them from the same string) are ignored, the tap's
 * "vnet_hdr=", "sndbuf=", "script=", "downscript=" and "queue-bytes="
 * pass, and any other key is "Invalid parameter 'X'".  The netdev must be
 * one queue without a peer ("queues=1").
 *
 * Receive starts disabled, as bhyve's (its tap event is added disabled):
 * frames wait, and the callback runs once the frontend called
 * netbe_rx_enable() (when its receive ring is ready).
 *
 * The virtio-net header: netbe_get_cap() says which virtio-net features
 * the backend can do with headers (0 when it carries none: stream, dgram,
 * socket, a tap with vnet_hdr=off); netbe_set_cap() takes the negotiated
 * features and the frontend's header length (0, 10 or 12; any other is
 * refused with -1).  netbe_get_vnet_hdr_len() is then the length of the
 * header in front of the frames netbe_send() takes and netbe_recv() gives:
 * the frontend's when the backend carries headers, else 0, and then the
 * frontend prepends its own (zeroed) header on receive and strips it on
 * send, as bhyve's pci_virtio_net does.  Offload work the frontend did
 * not accept (GSO, partial checksums) is done in software by the core
 * before a frame reaches it (DESIGN invariant 5).  A netbe_set_cap() that
 * changes the header length or offloads drops (as purged) the frames
 * waiting in the old form on either side of the pull NIC.
 *
 * Threads: unlike bhyve, every function here runs on the thread of the
 * context's loop (or the embedder serialises the calls); the callback is
 * called from that loop.
 */
#ifndef NETBE_BHYVE_H
#define NETBE_BHYVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "netbe/error.h"
#include "netbe/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The virtio-net feature bits netbe_get_cap() / netbe_set_cap() use. */
#define NETBE_VIRTIO_NET_F_CSUM (1ULL << 0)
#define NETBE_VIRTIO_NET_F_GUEST_CSUM (1ULL << 1)
#define NETBE_VIRTIO_NET_F_MAC (1ULL << 5)
#define NETBE_VIRTIO_NET_F_GUEST_TSO4 (1ULL << 7)
#define NETBE_VIRTIO_NET_F_GUEST_TSO6 (1ULL << 8)
#define NETBE_VIRTIO_NET_F_GUEST_ECN (1ULL << 9)
#define NETBE_VIRTIO_NET_F_GUEST_UFO (1ULL << 10)
#define NETBE_VIRTIO_NET_F_HOST_TSO4 (1ULL << 11)
#define NETBE_VIRTIO_NET_F_HOST_TSO6 (1ULL << 12)
#define NETBE_VIRTIO_NET_F_HOST_ECN (1ULL << 13)
#define NETBE_VIRTIO_NET_F_HOST_UFO (1ULL << 14)
#define NETBE_VIRTIO_NET_F_MRG_RXBUF (1ULL << 15)
#define NETBE_VIRTIO_NET_F_GUEST_USO4 (1ULL << 54)
#define NETBE_VIRTIO_NET_F_GUEST_USO6 (1ULL << 55)
#define NETBE_VIRTIO_NET_F_HOST_USO (1ULL << 56)

/* The event type the callback gets: bhyve's EVF_READ. */
#define NETBE_BHYVE_EVF_READ 0

struct net_backend;

/*
 * The frontend's receive callback: bhyve's net_be_rxeof_t.  @fd is -1
 * (frames wait in netbe, not on a descriptor), @type NETBE_BHYVE_EVF_READ,
 * @param the frontend's pointer given to netbe_init().
 */
typedef void (*net_be_rxeof_t)(int fd, int type, void *param);

/**
 * netbe_bhyve_set_ctx() - the graph netbe_init() adds its backends to
 * @ctx: a context with a loop (the callbacks run from it); NULL to unset
 *
 * bhyve's netbe_init() has no context argument: an embedder sets it once
 * before its frontends initialise, or calls netbe_init_ctx().
 */
void netbe_bhyve_set_ctx(struct netbe_ctx *ctx);

/**
 * netbe_init() - bhyve's netbe_init: create the backend named by @opts
 * @ret: out, the backend; NULL on failure
 * @opts: "tap0", "vmnet0", a -netdev string, ... (see above)
 * @cb: called from the loop while frames wait and receive is enabled;
 *       NULL for a frontend that polls netbe_peek_recvlen() (then the
 *       context needs no loop)
 * @param: for @cb
 *
 * Uses the context of netbe_bhyve_set_ctx(); the error, if any, is logged
 * (QEMU's message where QEMU has one).
 * Return: 0, or an errno value: EINVAL (no such backend, bad options, no
 *         context set), ENOTSUP (netmap, vale, netgraph), or the backend's
 *         (the errno of the system call that failed it, else EINVAL)
 */
int netbe_init(struct net_backend **ret, const char *opts, net_be_rxeof_t cb,
               void *param);

/**
 * netbe_init_ctx() - netbe_init() on @ctx, with the error in @errp rather
 * than logged
 * Return: as netbe_init()
 */
int netbe_init_ctx(struct netbe_ctx *ctx, struct net_backend **ret,
                   const char *opts, net_be_rxeof_t cb, void *param,
                   struct netbe_error **errp);

/**
 * netbe_cleanup() - delete the backend and its pull NIC; frames still
 * waiting are counted as purged
 * @be: may be NULL
 *
 * Safe from inside the callback (@be is freed when the callback returns;
 * the frontend must not use it after this call), and after the netdev was
 * deleted under it (netdev_del) or the context freed: then every other
 * function on @be does nothing (0, -1 with ENODEV for netbe_send()).
 */
void netbe_cleanup(struct net_backend *be);

/**
 * netbe_get_cap() - Return: the NETBE_VIRTIO_NET_F_* offloads the backend
 * can do (with vnet headers), 0 when it carries no headers: CSUM,
 * GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, HOST_TSO4/6, HOST_ECN (not yet
 * UFO or USO: whether the device has them is not probed)
 */
uint64_t netbe_get_cap(struct net_backend *be);

/**
 * netbe_set_cap() - enable the negotiated @features (those of
 * netbe_get_cap() that the guest took) with the frontend's header length
 * @features: its bits other than the offloads (MAC, MRG_RXBUF, ...) are
 *            the frontend's and ignored
 * @vnet_hdr_len: 0, 10 or 12
 *
 * May be called again (a guest reset), to another length or 0.
 * Return: 0, or -1 for another length or offloads the backend cannot do
 *         (any offload without a header); nothing changed then
 */
int netbe_set_cap(struct net_backend *be, uint64_t features,
                  unsigned vnet_hdr_len);

/**
 * netbe_send() - send one frame (with the netbe_get_vnet_hdr_len() header
 * in front) from the frontend into the graph
 * Return: the frame's length when it went, was queued or was dropped
 *         (counted on the pull NIC: link down, no peer, queue full), -1
 *         with errno on a bad frame (EMSGSIZE: over NETBE_NET_BUFSIZE,
 *         counted as drop_oversize) or ENODEV (its graph is gone)
 */
ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt);

/**
 * netbe_peek_recvlen() - Return: the length of the next frame waiting
 * (its header included), 0 when none waits
 */
ssize_t netbe_peek_recvlen(struct net_backend *be);

/**
 * netbe_recv() - take the next waiting frame into @iov
 * Return: its length, 0 when none waits, -1 with errno EMSGSIZE when it
 *         does not fit in @iov (it is dropped then, and counted on the
 *         pull NIC as drop_error)
 */
ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt);

/**
 * netbe_rx_discard() - drop the next waiting frame (counted on the pull
 * NIC as drop_error)
 * Return: its length, 0 when none waits
 */
ssize_t netbe_rx_discard(struct net_backend *be);

/**
 * netbe_rx_disable() - the callback is not called until netbe_rx_enable();
 * frames keep waiting (up to the queue's limit, then the backend stops
 * reading)
 */
void netbe_rx_disable(struct net_backend *be);

/**
 * netbe_rx_enable() - call the callback again (from the loop's next turn
 * when frames wait)
 *
 * The callback is level-triggered, as bhyve's tap event: after it
 * returns, it runs again while frames wait and receive is enabled (at
 * once when it took a frame, a millisecond later when it took none, so
 * that a frontend that neither drains nor disables does not spin).
 */
void netbe_rx_enable(struct net_backend *be);

/**
 * netbe_get_vnet_hdr_len() - Return: the header length of the frames
 * netbe_send() takes and netbe_recv() gives (0: the frontend adds its own)
 */
size_t netbe_get_vnet_hdr_len(struct net_backend *be);

/* ---- beyond bhyve: the façade's place in the graph ---- */

/** netbe_bhyve_backend() - Return: the backend's client (its netdev) */
struct netbe_client *netbe_bhyve_backend(struct net_backend *be);

/** netbe_bhyve_nic() - Return: the pull NIC's queue client */
struct netbe_client *netbe_bhyve_nic(struct net_backend *be);

#ifdef __cplusplus
}
#endif

#endif
