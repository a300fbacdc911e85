/*
 * qmp.h - QEMU's machine monitor (QMP) for the netbe daemon (internal).
 *
 * QEMU 7.2's protocol: a greeting, capabilities negotiation, one JSON
 * command object in and one reply out (each reply one line, or QEMU's
 * -qmp-pretty layout), "id" echoed, asynchronous events with QEMU's
 * timestamp, QEMU's error classes and texts.  Commands: qmp_capabilities,
 * query-version, query-commands, quit, netdev_add, netdev_del, set_link,
 * query-rx-filter, human-monitor-command, object-add, object-del, and
 * netbe's own __org.netbe_query-stats and __org.netbe_query-switch.
 *
 * A session is the protocol state of one client; a monitor is a session
 * on a transport (stdio, a listening unix or TCP socket serving one client
 * at a time, as QEMU's socket chardev does).  Everything runs on the
 * context's loop.
 */
#ifndef NETBE_CONTROL_QMP_H
#define NETBE_CONTROL_QMP_H

#include <stdbool.h>
#include <stddef.h>

#include "netbe/error.h"
#include "netbe/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The largest JSON value a client may send (QEMU: 64 MiB).  A longer one
 * gets QEMU's "JSON token size limit exceeded" and the rest of its line
 * is skipped.
 */
#define NETBE_QMP_INPUT_MAX (64u * 1024)
/* QEMU's nesting limit: deeper gets "JSON nesting depth limit exceeded". */
#define NETBE_QMP_DEPTH_MAX 1024
/*
 * While more output than this waits unsent, no more input is read.
 * Events that find more than NETBE_QMP_OUTPUT_MAX waiting end the
 * client's connection: a client that never reads costs bounded memory.
 */
#define NETBE_QMP_OUTPUT_HIGH (64u * 1024)
#define NETBE_QMP_OUTPUT_MAX (1u << 20)

struct netbe_qmp_session;
struct netbe_qmp;

/**
 * netbe_qmp_session_new() - the protocol state of one client; its greeting
 * is the first output
 * @ctx: the graph its commands act on
 * @pretty: QEMU's -qmp-pretty layout
 * @quit: called after the reply to "quit" was queued; may be NULL
 * @opaque: for @quit
 */
struct netbe_qmp_session *netbe_qmp_session_new(struct netbe_ctx *ctx,
                                                bool pretty,
                                                void (*quit)(void *opaque),
                                                void *opaque);

/** netbe_qmp_session_free() - unsubscribe from events and free */
void netbe_qmp_session_free(struct netbe_qmp_session *s);

/**
 * netbe_qmp_session_feed() - take input bytes, up to the end of the
 * first message they complete (which is then run)
 * @s: the session
 * @buf: bytes the client sent
 * @len: how many
 * Return: how many bytes were used; the caller feeds the rest later
 *         (when its output allows).  0 happens once in a row: a number
 *         that ends a message is complete only when the next byte comes.
 */
size_t netbe_qmp_session_feed(struct netbe_qmp_session *s, const char *buf,
                              size_t len);

/**
 * netbe_qmp_session_output() - the output waiting to be sent
 * @s: the session
 * @len: set to its length
 * Return: the bytes; valid until the next call on @s
 */
const char *netbe_qmp_session_output(struct netbe_qmp_session *s, size_t *len);

/** netbe_qmp_session_consume() - @n bytes of the output were sent */
void netbe_qmp_session_consume(struct netbe_qmp_session *s, size_t n);

/**
 * netbe_qmp_session_set_notify() - @fn is called when output was added
 * other than by netbe_qmp_session_feed() (an event), so that the
 * transport sends it
 */
void netbe_qmp_session_set_notify(struct netbe_qmp_session *s,
                                  void (*fn)(void *opaque), void *opaque);

/**
 * netbe_qmp_session_overflowed() - events found more than
 * NETBE_QMP_OUTPUT_MAX unsent: the transport should end the connection
 */
bool netbe_qmp_session_overflowed(const struct netbe_qmp_session *s);

/** netbe_qmp_session_quitting() - "quit" ran: read no more input */
bool netbe_qmp_session_quitting(const struct netbe_qmp_session *s);

/**
 * netbe_qmp_new() - start a QMP monitor on @dev
 * @ctx: the graph; its loop must not be NULL
 * @dev: "stdio", "unix:PATH[,server=on|off][,wait=on|off][,nowait]" or
 *       "tcp:HOST:PORT[,...]" (listening only, as the HMP monitor)
 * @pretty: -qmp-pretty
 * @quit: called from the loop after the reply to "quit"; it should stop
 *        the loop (the monitor must not be freed from inside it)
 * @opaque: for @quit
 * @errp: QEMU-like messages for a bad @dev or a socket that cannot be made
 * Return: the monitor, or NULL with *errp set
 */
struct netbe_qmp *netbe_qmp_new(struct netbe_ctx *ctx, const char *dev,
                                bool pretty, void (*quit)(void *opaque),
                                void *opaque, struct netbe_error **errp);

/** netbe_qmp_waiting() - a wait=on socket still without its first client */
bool netbe_qmp_waiting(const struct netbe_qmp *mon);

/**
 * netbe_qmp_free() - close the monitor, its client and its socket (the
 * socket file goes); what a socket client was still owed is sent if the
 * socket takes it at once
 * @mon: may be NULL
 */
void netbe_qmp_free(struct netbe_qmp *mon);

#ifdef __cplusplus
}
#endif

#endif
