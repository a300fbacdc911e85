/*
 * sockutil.h - what the socket-based backends share: QEMU's SocketAddress
 * (inet, unix, fd) read from dotted options, socket creation, name
 * lookups that do not block the loop, a bounded transmit ring that
 * gathers a batch of frames for one write at the end of a batch, and the
 * rate limit of the warnings a remote peer can provoke.
 *
 * This is a library inside src/backends, not a backend: stream.c,
 * dgram.c and socket.c use it; it uses only the core and util.
 */
#ifndef NETBE_BACKENDS_SOCKUTIL_H
#define NETBE_BACKENDS_SOCKUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "netbe/error.h"
#include "netbe/loop.h"
#include "netbe/opts.h"

enum netbe_sa_type {
    NETBE_SA_INET,
    NETBE_SA_UNIX,
    NETBE_SA_FD,
};

/* QEMU's SocketAddress, as -netdev stream/dgram spell it. */
struct netbe_sa {
    enum netbe_sa_type type;
    /* inet */
    char *host;
    char *port;
    bool has_ipv4, ipv4, has_ipv6, ipv6, numeric;
    bool has_to, keep_alive, mptcp;
    uint16_t to; /* last port a listener may try, with has_to */
    /* unix */
    char *path;
    bool abstract, tight;
    /* fd */
    char *str;
};

/**
 * netbe_sa_from_opts() - read "@prefix.type", "@prefix.host", ... from
 * @opts, with QEMU's checks and messages
 * Return: 0, 1 when no "@prefix.*" key is present, -1 on error
 */
int netbe_sa_from_opts(struct netbe_sa *sa, const struct netbe_opts *opts,
                       const char *prefix, struct netbe_error **errp);
void netbe_sa_clear(struct netbe_sa *sa);

/**
 * netbe_sa_resolve() - to a struct sockaddr (first getaddrinfo result for
 * inet; sun_path, abstract and tight rules for unix)
 */
int netbe_sa_resolve(const struct netbe_sa *sa, int socktype,
                     struct sockaddr_storage *ss, socklen_t *len,
                     struct netbe_error **errp);

/*
 * A name lookup under way (netbe_sa_resolve_start()); the callback gets
 * the first address, or the error QEMU prints for a failed lookup.
 */
struct netbe_sa_lookup;
typedef void netbe_sa_resolved_fn(void *opaque,
                                  const struct sockaddr_storage *ss,
                                  socklen_t len, struct netbe_error *err);

/**
 * netbe_sa_resolve_start() - netbe_sa_resolve() without blocking @loop:
 * numeric hosts and unix paths are resolved at once; a host name goes to
 * the loop's resolve op (or, when the loop has none, to a blocking
 * getaddrinfo(), as loop.h documents)
 * @lookup: set to the pending lookup when the result comes later through
 *          @cb (it is freed before @cb runs), else NULL
 * Return: 0 with *@ss and *@len filled, 1 when pending, -1 with @errp
 */
int netbe_sa_resolve_start(struct netbe_loop *loop, const struct netbe_sa *sa,
                           int socktype, struct sockaddr_storage *ss,
                           socklen_t *len, netbe_sa_resolved_fn *cb,
                           void *opaque, struct netbe_sa_lookup **lookup,
                           struct netbe_error **errp);

/** netbe_sa_lookup_cancel() - drop a pending lookup; @cb is never called */
void netbe_sa_lookup_cancel(struct netbe_sa_lookup *lookup);

/** netbe_sockaddr_to_str() - "127.0.0.1:5555", "[::1]:5555", "/path" */
void netbe_sockaddr_to_str(const struct sockaddr *sa, socklen_t len, char *out,
                           size_t outlen);

/**
 * netbe_fd_from_str() - a file descriptor number given on the command
 * line ("fd 'X' not found"-style errors as QEMU's monitor_fd_param)
 */
int netbe_fd_from_str(const char *str, struct netbe_error **errp);

/**
 * netbe_fd_addr_type() - QEMU's SocketAddressType name ("inet", "unix",
 * "vsock") of what @fd is bound to, or NULL with QEMU's message
 */
const char *netbe_fd_addr_type(int fd, struct netbe_error **errp);

/**
 * netbe_udp_bind() - a non-blocking UDP socket with SO_REUSEADDR (several
 * VMs on one host may share a multicast group's port), bound to @addr,
 * with QEMU's messages ("can't create datagram socket: ...", "can't set
 * socket option SO_REUSEADDR: ...", "can't bind ip=X to socket: ...")
 * Return: the fd, or -1
 */
int netbe_udp_bind(const struct sockaddr_in *addr, struct netbe_error **errp);

int netbe_set_nonblock(int fd);
int netbe_set_cloexec(int fd);

/** netbe_fd_is_socket() - whether @fd is an open socket */
bool netbe_fd_is_socket(int fd);

/**
 * netbe_sockaddr_to_uri() - QEMU's socket_uri() of an address:
 * "tcp:127.0.0.1:5555", "tcp:::1:5555" (no brackets, as QEMU),
 * "unix:/path" (an abstract name without its leading NUL)
 */
void netbe_sockaddr_to_uri(const struct sockaddr *sa, socklen_t len, char *out,
                           size_t outlen);

/**
 * netbe_sa_listen() - a non-blocking, close-on-exec socket of @socktype
 * bound to @sa (listening with @backlog for SOCK_STREAM), with QEMU's
 * messages; inet tries every address and every port up to "to"; an fd
 * address is taken as it is (it must be a socket; SOCK_STREAM puts it in
 * the listening state)
 * @created_path: when not NULL, set to a copy of the unix path this call
 *                created in the file system (the caller unlinks it), or
 *                NULL
 * Return: the fd, or -1
 */
int netbe_sa_listen(const struct netbe_sa *sa, int socktype, int backlog,
                    char **created_path, struct netbe_error **errp);

/**
 * netbe_sa_connect() - a non-blocking, close-on-exec socket of @socktype
 * connected (or connecting) to @sa, with QEMU's messages ("Failed to
 * connect to 'HOST:PORT': ...", "Failed to connect to 'PATH': ...")
 * @in_progress: set when the connect completes later (watch for WRITE,
 *               then netbe_connect_finish())
 * Return: the fd, or -1
 */
int netbe_sa_connect(const struct netbe_sa *sa, int socktype, bool *in_progress,
                     struct netbe_error **errp);

/**
 * netbe_sa_connect_to() - netbe_sa_connect() to an address already
 * resolved from @sa (inet or unix; @sa gives the options and the name for
 * messages)
 * Return: the fd, or -1
 */
int netbe_sa_connect_to(const struct netbe_sa *sa, int socktype,
                        const struct sockaddr_storage *ss, socklen_t len,
                        bool *in_progress, struct netbe_error **errp);

/**
 * netbe_connect_finish() - the outcome of a non-blocking connect once the
 * socket is writable
 * Return: 0, or -1 with errno set to the connect error
 */
int netbe_connect_finish(int fd);

/**
 * netbe_sa_describe() - "HOST:PORT", "PATH" or "fd N" for messages
 */
void netbe_sa_describe(const struct netbe_sa *sa, char *out, size_t outlen);

/*
 * A bounded transmit buffer for byte streams: frames are appended (with
 * QEMU's 4-byte big-endian length in front when asked) and leave in one
 * write() per flush.  Unsent bytes stay where they are, so a partial write
 * resumes exactly where it stopped.  Allocated once; no per-frame malloc.
 */
struct netbe_txbuf {
    uint8_t *buf;
    size_t cap;
    size_t head; /* first byte not yet written */
    size_t tail; /* end of the queued bytes */
    /*
     * Frames not wholly written, which a broken connection drops and
     * must count; the oldest of them ends at @frame_end.  The others are
     * found from their length prefixes; frames put without one are known
     * written only when the buffer empties (@walkable false).
     */
    unsigned frames;
    size_t frame_end;
    bool walkable;
};

/** netbe_txbuf_init() - allocate @cap bytes (0 means 256 KiB) */
void netbe_txbuf_init(struct netbe_txbuf *tb, size_t cap);
void netbe_txbuf_destroy(struct netbe_txbuf *tb);
/** netbe_txbuf_reset() - forget everything queued (a new connection) */
void netbe_txbuf_reset(struct netbe_txbuf *tb);
static inline size_t netbe_txbuf_used(const struct netbe_txbuf *tb)
{
    return tb->tail - tb->head;
}
/* Frames put and not yet wholly written. */
static inline unsigned netbe_txbuf_frames(const struct netbe_txbuf *tb)
{
    return tb->frames;
}

/**
 * netbe_txbuf_put() - append one frame of @size bytes from @iov, after its
 * 4-byte big-endian length when @len_prefix
 * Return: 0, or -1 when it does not fit now (flush first)
 */
int netbe_txbuf_put(struct netbe_txbuf *tb, const struct iovec *iov, int iovcnt,
                    size_t size, bool len_prefix);

/**
 * netbe_txbuf_fits() - whether a frame of @size bytes (and its prefix)
 * could ever fit, even in an empty buffer
 */
bool netbe_txbuf_fits(const struct netbe_txbuf *tb, size_t size,
                      bool len_prefix);

/**
 * netbe_txbuf_flush() - write what is queued with one write()/send()
 * (MSG_NOSIGNAL on sockets)
 * Return: 1 when everything is out, 0 when bytes remain (the socket
 *         would block), -1 on a write error (errno set)
 */
int netbe_txbuf_flush(struct netbe_txbuf *tb, int fd);

/*
 * Warnings a remote peer can provoke again and again (a failed read, a
 * malformed frame, a refused connection): logged at the 1st, 2nd, 4th,
 * 8th... occurrence with the running count, so a storm of bad peers
 * costs a few log lines, not one per peer.  Keep one per kind of warning
 * in something that outlives the connections (the netdev, a listener).
 */
struct netbe_warn_limit {
    uint64_t count;
};

/**
 * netbe_warn_limit_hit() - count one occurrence
 * Return: whether to log this one (its count is a power of two)
 */
bool netbe_warn_limit_hit(struct netbe_warn_limit *wl);

/**
 * netbe_warn_limited() - count one occurrence and log the warning when
 * netbe_warn_limit_hit() says so, from the second on with
 * " (N times so far)" after it
 */
void netbe_warn_limited(struct netbe_warn_limit *wl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * netbe_close_fds_except() - in a child about to exec: close every fd
 * from 3 on but @keep (-1 for none), as QEMU does before it runs a script,
 * the bridge helper or passt (they must not hold our sockets open)
 */
void netbe_close_fds_except(int keep);
/** netbe_close_fds_from() - ... every fd from @first (at least 3) on */
void netbe_close_fds_from(int first);

#endif
