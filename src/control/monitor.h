/*
 * monitor.h - QEMU's HMP text monitor for the netbe daemon (internal).
 *
 * The monitor speaks on stdio or on a unix socket (QEMU's chardev syntax
 * "unix:PATH,server=on,wait=on|off"), prints the "(qemu) " prompt and
 * runs info network, info stats, set_link, netdev_add, netdev_del, help
 * and quit with QEMU 7.2's texts.  All its I/O goes through the context's netbe_loop.
 */
#ifndef NETBE_CONTROL_MONITOR_H
#define NETBE_CONTROL_MONITOR_H

#include <stdbool.h>
#include <stdio.h>

#include "netbe/error.h"
#include "netbe/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest command line, without its newline; longer lines are refused. */
#define NETBE_MONITOR_LINE_MAX 4096

struct netbe_monitor;

/**
 * netbe_monitor_new() - start a monitor on @dev
 * @ctx: the graph the commands act on; its loop must not be NULL
 * @dev: "stdio", or "unix:PATH" with options server[=on|off],
 *       wait[=on|off], nowait (only server mode exists)
 * @quit: called from the loop when a user types "quit"; it should stop
 *        the loop, the monitor must not be freed from inside it
 * @opaque: for @quit
 * @errp: QEMU-like messages for a bad @dev or a socket that cannot be made
 *
 * A unix socket serves one client at a time, as a QEMU socket chardev
 * does; the next one is accepted when the current one leaves.  With
 * wait=on the monitor returns at once, waiting for its first client on
 * the loop: a caller that wants QEMU's order runs the loop until
 * netbe_monitor_waiting() is false before it goes on.
 *
 * A client gets every reply whole and in order however fast it reads;
 * while its unsent output is high, its next lines wait unread, so a
 * client that never reads costs a bounded amount of memory.  What its
 * commands log has control bytes escaped and is rate-limited per client.
 * Return: the monitor, or NULL with *errp set
 */
struct netbe_monitor *netbe_monitor_new(struct netbe_ctx *ctx, const char *dev,
                                        void (*quit)(void *opaque),
                                        void *opaque,
                                        struct netbe_error **errp);

/**
 * netbe_monitor_waiting() - is a wait=on monitor still without its first
 * client?
 * @mon: the monitor
 * Return: true until the first client of a wait=on socket is accepted
 */
bool netbe_monitor_waiting(const struct netbe_monitor *mon);

/**
 * netbe_monitor_free() - close the monitor, its client and its socket,
 * and unlink the socket file
 * @mon: may be NULL
 */
void netbe_monitor_free(struct netbe_monitor *mon);

/*
 * The device strings the HMP and QMP monitors share:
 * "ADDR[,server[=on|off]][,wait=on|off][,nowait]", ",," a ',' in ADDR.
 */
struct netbe_monitor_dev {
    char *addr; /* PATH, or HOST:PORT; malloc'ed */
    bool server, wait;
};

/**
 * netbe_monitor_parse_dev() - parse @s (what follows "unix:" or "tcp:")
 * Return: 0 (free @d->addr), or -1 with QEMU's message ("Invalid
 *         parameter 'X'", "Parameter 'X' expects 'on' or 'off'")
 */
int netbe_monitor_parse_dev(const char *s, struct netbe_monitor_dev *d,
                            struct netbe_error **errp);

/**
 * netbe_monitor_listen_unix() - a non-blocking listening unix socket at
 * @path, a stale socket file there replaced, as QEMU's
 * @abs_path: out: @path made absolute (to unlink it after a chdir), to free
 * Return: the fd, or -1 with @errp
 */
int netbe_monitor_listen_unix(const char *path, char **abs_path,
                              struct netbe_error **errp);

/**
 * netbe_monitor_run_command() - run one HMP command line on @ctx
 * @ctx: the graph
 * @line: one line without its newline
 * @out: the command's output, with "\n" line ends ("Error: ..." lines
 *       included); the monitor turns them into "\r\n" as QEMU does
 *
 * What the monitor runs for each line a client types; usable without a
 * client or a loop (tests, scripts).
 * Return: true when the line was "quit"
 */
bool netbe_monitor_run_command(struct netbe_ctx *ctx, const char *line,
                               FILE *out);

#ifdef __cplusplus
}
#endif

#endif
