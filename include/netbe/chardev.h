/*
 * netbe/chardev.h - character devices: QEMU's "-chardev socket", a byte
 * stream over one unix or TCP connection, for the filters (filter-mirror,
 * filter-redirector) and monitors (-mon chardev=ID).
 *
 * A chardev belongs to a context and is known by its id.  One frontend at
 * a time attaches to it (QEMU's "Device 'X' is in use" otherwise) and gets
 * the bytes the peer sends, open/close events, and a bounded, non-blocking
 * write: what the socket does not take at once waits in an output buffer
 * of NETBE_CHARDEV_OUT_MAX bytes; a write that does not fit whole is
 * refused (nothing of it is sent), and the frontend is told when room
 * comes back.  Nothing here blocks the loop, except a name lookup of a
 * host name when the chardev is made (numeric addresses need none).
 *
 * Options, defaults and messages are QEMU 7.2's:
 *   socket,id=ID,path=PATH|host=HOST,port=PORT[,server=on|off]
 *         [,wait=on|off][,reconnect=SECONDS][,nodelay=on|off]
 *         [,ipv4=on|off][,ipv6=on|off][,to=PORT][,abstract=on|off]
 *         [,tight=on|off]
 * A server (server=on) takes one client at a time and listens again when
 * it leaves; with wait=on (the default of a server) the caller waits for
 * the first client (netbe_chardev_waiting()).  A client connects when
 * made; without reconnect= a failed connect is an error, with it the
 * connect is retried every SECONDS, also after the server went away.
 * Everything runs on the loop of the context; nothing is thread-safe.
 */
#ifndef NETBE_CHARDEV_H
#define NETBE_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "netbe/error.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes that may wait unsent per chardev; a larger write is refused. */
#define NETBE_CHARDEV_OUT_MAX (1u << 20)
/* Bytes taken from the socket per read() and handed to read(). */
#define NETBE_CHARDEV_READ_MAX (64u * 1024)

struct netbe_chardev;

enum netbe_chardev_event {
    NETBE_CHARDEV_OPENED, /* a connection is up: bytes may flow */
    NETBE_CHARDEV_CLOSED, /* it ended (EOF, error, closed by us) */
};

struct netbe_chardev_handlers {
    /*
     * @len bytes (> 0) the peer sent; @buf lives during the call.  May
     * call netbe_chardev_disconnect() or netbe_chardev_detach().
     */
    void (*read)(void *opaque, const uint8_t *buf, size_t len);
    /* may be NULL */
    void (*event)(void *opaque, enum netbe_chardev_event ev);
    /*
     * May be NULL: a write was refused (EAGAIN) since the last call, and
     * the output buffer has drained to half of NETBE_CHARDEV_OUT_MAX.
     */
    void (*writable)(void *opaque);
};

/**
 * netbe_chardev_add_opts() - make a chardev from parsed options
 * @ctx: its context; it needs a loop
 * @opts: "backend" (QEMU's implied key: "socket"), "id" and the socket
 *        keys above, as netbe_opts_parse(str, "backend", ...) gives them
 * @errp: QEMU 7.2's messages ("chardev: no id specified", "Duplicate ID
 *        'X' for chardev", "Failed to connect to 'PATH': ...", ...)
 * Return: the chardev, or NULL
 */
struct netbe_chardev *netbe_chardev_add_opts(struct netbe_ctx *ctx,
                                             const struct netbe_opts *opts,
                                             struct netbe_error **errp);

/**
 * netbe_chardev_add_str() - netbe_chardev_add_opts() of a -chardev string
 * ("socket,id=c0,path=/tmp/s,server=on,wait=off")
 */
struct netbe_chardev *netbe_chardev_add_str(struct netbe_ctx *ctx,
                                            const char *str,
                                            struct netbe_error **errp);

/**
 * netbe_chardev_check_opts() - the checks of netbe_chardev_add_opts() that
 * need no socket (keys, values, combinations), for a command line that
 * refuses bad options before it makes anything
 * Return: 0 or -1
 */
int netbe_chardev_check_opts(const struct netbe_opts *opts,
                             struct netbe_error **errp);

/**
 * netbe_chardev_help() - "-chardev help" (the backends) and "-chardev
 * socket,help" (its options) to @out
 * Return: 1 when help was asked and printed, 0 when not asked, -1 with
 *         @errp for help on an unknown backend
 */
int netbe_chardev_help(const struct netbe_opts *opts, FILE *out,
                       struct netbe_error **errp);

/** netbe_chardev_find() - Return: the chardev @id of @ctx, or NULL */
struct netbe_chardev *netbe_chardev_find(struct netbe_ctx *ctx, const char *id);

/**
 * netbe_chardev_free() - close and free; a server's socket file goes.  Its
 * frontend must have detached (netbe_ctx_free() frees the chardevs left,
 * after the clients and their filters)
 * @chr: may be NULL
 */
void netbe_chardev_free(struct netbe_chardev *chr);

/**
 * netbe_chardev_del() - free chardev @id: "Chardev 'X' not found",
 * "Chardev 'X' is busy" while a frontend uses it (QEMU's chardev-remove)
 */
int netbe_chardev_del(struct netbe_ctx *ctx, const char *id,
                      struct netbe_error **errp);

/** netbe_chardev_id() - Return: the id */
const char *netbe_chardev_id(const struct netbe_chardev *chr);

/**
 * netbe_chardev_filename() - QEMU's filename of the chardev:
 * "disconnected:unix:PATH,server=on", "unix:PATH,server=on", "tcp:H:P"...
 */
void netbe_chardev_filename(const struct netbe_chardev *chr, char *out,
                            size_t outlen);

/**
 * netbe_chardev_attach() - become @chr's frontend
 * @h: kept, not copied; @opaque is passed to its callbacks
 *
 * When a connection is already up, h->event gets NETBE_CHARDEV_OPENED
 * from inside this call, as QEMU's qemu_chr_fe_set_handlers() does.
 * Return: 0, or -1 with "Device 'X' is in use"
 */
int netbe_chardev_attach(struct netbe_chardev *chr,
                         const struct netbe_chardev_handlers *h, void *opaque,
                         struct netbe_error **errp);

/** netbe_chardev_detach() - no callbacks from now on; the connection stays */
void netbe_chardev_detach(struct netbe_chardev *chr);

/** netbe_chardev_is_open() - Return: whether a connection is up */
bool netbe_chardev_is_open(const struct netbe_chardev *chr);

/**
 * netbe_chardev_waiting() - a wait=on server that has not had its first
 * client yet; a caller that wants QEMU's order runs the loop meanwhile
 */
bool netbe_chardev_waiting(const struct netbe_chardev *chr);

/**
 * netbe_chardev_write() - send @iov whole, now or from the output buffer
 * Return: 0 when all of it was sent or buffered; -1 with errno ENOTCONN
 *         (no connection: nothing sent) or EAGAIN (it does not fit in
 *         the room left: nothing sent; h->writable follows)
 */
int netbe_chardev_write(struct netbe_chardev *chr, const struct iovec *iov,
                        int iovcnt);

/** netbe_chardev_write_room() - Return: bytes a write may have now */
size_t netbe_chardev_write_room(const struct netbe_chardev *chr);

/** netbe_chardev_pending() - Return: bytes buffered, not yet sent */
size_t netbe_chardev_pending(const struct netbe_chardev *chr);

/**
 * netbe_chardev_set_read_paused() - stop (or resume) reading the peer's
 * bytes, for a frontend that cannot take more now; the socket's own
 * buffers then push back on the peer.  A hang-up is still noticed.
 */
void netbe_chardev_set_read_paused(struct netbe_chardev *chr, bool paused);

/**
 * netbe_chardev_disconnect() - end the current connection (a peer that
 * sent garbage): h->event gets CLOSED, a server takes its next client,
 * a client with reconnect= connects again after its delay
 */
void netbe_chardev_disconnect(struct netbe_chardev *chr);

/**
 * netbe_chardev_first() - walk the chardevs of @ctx, oldest first
 * Return: the first, or NULL; netbe_chardev_next() the one after @chr
 */
struct netbe_chardev *netbe_chardev_first(struct netbe_ctx *ctx);
struct netbe_chardev *netbe_chardev_next(struct netbe_chardev *chr);

#ifdef __cplusplus
}
#endif

#endif
