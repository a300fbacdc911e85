/*
 * lpconn.h - one length-prefixed connection: frames over a connected byte
 * stream socket, each behind QEMU's 4-byte big-endian length, as QEMU's
 * net/stream.c and net/socket.c put them on the wire.
 *
 * stream.c (client, server, the hub listener's connections) and socket.c
 * (listen=, connect=, stream fd=) carry frames the same way; this is that
 * one way, embedded in their clients:
 *  - input: one recv() of up to 256 KiB per wakeup, reassembled by
 *    netbe_rstate inside one batch, each frame handed on where it lies
 *    with a sent-callback; a frame the core has to queue pauses reading
 *    until it is delivered (while paused, a hang-up is still noticed);
 *  - output: frames gather in a bounded netbe_txbuf that the flush hook
 *    writes once per batch; a full buffer answers "not now" and the
 *    frames the core then holds come back through netbe_flush_queued()
 *    when the socket is writable again;
 *  - a failed write marks the connection broken (its queued frames
 *    counted as drops), and the next fd event closes it; EOF or a reset
 *    in the middle of a frame counts a malformed frame.
 *
 * What differs between the backends is in the ops: what is done when the
 * connection is over (delete the client, listen again, reconnect, link
 * down), the words logged for it, and whether frames wait for a connect
 * under way.  Connecting, accepting, the info string and the link state
 * stay with the backend.  The warnings a peer can provoke are rate-limited
 * with counters the backend keeps where they outlive a connection.
 */
#ifndef NETBE_BACKENDS_LPCONN_H
#define NETBE_BACKENDS_LPCONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "netbe/loop.h"
#include "netbe/net.h"
#include "netbe/rstate.h"
#include "sockutil.h"

/* Bytes taken from the socket per wakeup, and the transmit buffer. */
#define NETBE_LPCONN_READ_SIZE (256 * 1024)
#define NETBE_LPCONN_TX_SIZE (256 * 1024)

struct netbe_lpconn;

/* Why a connection ended, for netbe_lpconn_ops.ended(). */
enum netbe_lpconn_end {
    NETBE_LPCONN_EOF,            /* the peer closed, between frames */
    NETBE_LPCONN_RESET,          /* a read failed (@err), between frames */
    NETBE_LPCONN_TRUNCATED,      /* closed or reset inside a frame (warned) */
    NETBE_LPCONN_MALFORMED,      /* the peer sent what no frame can be (@msg) */
    NETBE_LPCONN_BROKEN,         /* a write had failed (warned already) */
    NETBE_LPCONN_CONNECT_FAILED, /* a non-blocking connect failed (@err) */
};

/*
 * The warnings of the connection itself.  Kept by the backend in what
 * outlives the connection (the netdev, or a listener for all of its
 * connections), so that a storm of bad peers shares one count.
 */
struct netbe_lpconn_warn {
    struct netbe_warn_limit write, truncated;
};

struct netbe_lpconn_ops {
    /* before the client's name in the warnings: "stream " or "" */
    const char *prefix;
    /*
     * While a non-blocking connect is under way, frames wait in the
     * transmit buffer (socket.c, whose link is up meanwhile, as QEMU's)
     * instead of being dropped as link-down (stream.c).
     */
    bool tx_while_connecting;
    /*
     * The sent-callback given with each frame read: it must call
     * netbe_lpconn_sent() on the sender's connection (the core passes the
     * client, and only the backend knows where the connection lies in it).
     */
    netbe_packet_sent *sent;
    /* A non-blocking connect completed; may be NULL. */
    void (*connected)(struct netbe_lpconn *c);
    /*
     * The connection is over and already closed (fd, watch, buffers; the
     * frames it had not written counted as link-down drops).  Called from
     * an fd callback only, so it may delete the client; @c is not touched
     * after it returns.  @err is the errno for RESET and CONNECT_FAILED,
     * @msg the error for MALFORMED (drop_malformed is counted already).
     */
    void (*ended)(struct netbe_lpconn *c, enum netbe_lpconn_end why, int err,
                  const char *msg);
};

struct netbe_lpconn {
    struct netbe_client *nc; /* the client it carries frames for */
    struct netbe_loop *loop;
    const struct netbe_lpconn_ops *ops;
    struct netbe_lpconn_warn *warn;
    int fd; /* -1 when there is no connection */
    void *watch;
    unsigned events;  /* what the watch asks for now */
    bool connecting;  /* a non-blocking connect is under way */
    bool read_paused; /* frames wait at the peer: stop reading */
    /*
     * Frames of ours the core queued, whose sent-callbacks are to come:
     * reading resumes when the last one went, so that what waits for a
     * slow peer is one read's worth, not one more read per frame it takes
     */
    unsigned waiting;
    bool broken; /* a write failed; closed at the next fd event */
    bool own_rbuf;
    uint8_t *rbuf; /* NETBE_LPCONN_READ_SIZE bytes, own or shared */
    struct netbe_rstate rs;
    struct netbe_txbuf tx;
};

/**
 * netbe_lpconn_init() - set up @c, unconnected, for @nc
 * @warn: the rate limits of its warnings (kept by the caller)
 * @rbuf: a read buffer of NETBE_LPCONN_READ_SIZE bytes to share (the
 *        connections of one listener read one after another), or NULL
 *        for one of its own
 */
void netbe_lpconn_init(struct netbe_lpconn *c, struct netbe_client *nc,
                       const struct netbe_lpconn_ops *ops,
                       struct netbe_lpconn_warn *warn, uint8_t *rbuf);

/** netbe_lpconn_destroy() - close the connection and free the buffers */
void netbe_lpconn_destroy(struct netbe_lpconn *c);

/**
 * netbe_lpconn_attach() - carry frames on @fd, a non-blocking stream
 * socket, from now on (no Nagle delay between frames)
 * @connecting: a non-blocking connect is under way on @fd; the outcome
 *              comes to ops->connected() or ops->ended()
 * Return: 0, or -1 when @fd cannot be watched (then @fd is closed)
 */
int netbe_lpconn_attach(struct netbe_lpconn *c, int fd, bool connecting);

/**
 * netbe_lpconn_close() - end the connection without a word: the frames
 * it had not written are counted as link-down drops, a partial frame
 * read is forgotten.  Nothing happens when there is no connection.
 */
void netbe_lpconn_close(struct netbe_lpconn *c);

/** netbe_lpconn_up() - whether frames can be written now */
static inline bool netbe_lpconn_up(const struct netbe_lpconn *c)
{
    return c->fd >= 0 && !c->connecting;
}

/**
 * netbe_lpconn_receive() - the client's receive_iov(): queue one frame
 * for the next flush
 * Return: its size (taken, or dropped and counted), or 0 when the
 * transmit buffer is full ("not now": the core holds it until the socket
 * is writable)
 */
ssize_t netbe_lpconn_receive(struct netbe_lpconn *c, const struct iovec *iov,
                             int iovcnt);

/** netbe_lpconn_flush() - the client's flush(): one write of the batch */
void netbe_lpconn_flush(struct netbe_lpconn *c);

/**
 * netbe_lpconn_sent() - what ops->sent must call: the frame that paused
 * reading was delivered, so read again
 */
void netbe_lpconn_sent(struct netbe_lpconn *c);

/**
 * netbe_lpconn_event() - handle @events on the connection's fd, as its
 * watch does; for a caller that polled the fd itself (a listener looking
 * for hung-up connections).  May end the connection (ops->ended()).
 */
void netbe_lpconn_event(struct netbe_lpconn *c, unsigned events);

#endif
