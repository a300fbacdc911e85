/*
 * backends.h - the netdev types of src/backends, for the registry.
 */
#ifndef NETBE_BACKENDS_BACKENDS_H
#define NETBE_BACKENDS_BACKENDS_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "netbe/backend.h"

extern const struct netbe_backend_type netbe_backend_stream;
extern const struct netbe_backend_type netbe_backend_dgram;
extern const struct netbe_backend_type netbe_backend_socket;
/* tap-linux.c: Linux only */
extern const struct netbe_backend_type netbe_backend_tap;
extern const struct netbe_backend_type netbe_backend_bridge;
/* passt.c: Linux only, as QEMU's */
extern const struct netbe_backend_type netbe_backend_passt;

/*
 * dgram.c's datagram client, shared with socket.c's mcast=, udp= and
 * datagram fd= modes.
 */

/**
 * netbe_dgram_client_new() - a client that carries one frame per datagram
 * on @fd (non-blocking; the client closes it), read with recvmmsg() and
 * written with sendmmsg() at the end of each batch
 * @driver: NETBE_DRIVER_DGRAM or NETBE_DRIVER_SOCKET, the client's type
 * @dest: where frames go (sendto()), or NULL for send() on a connected @fd
 * Return: the client, its info_str left for the caller; or NULL with
 * @errp when @fd cannot be watched (then @fd is closed)
 */
struct netbe_client *
netbe_dgram_client_new(struct netbe_ctx *ctx, enum netbe_client_driver driver,
                       struct netbe_client *peer, const char *model,
                       const char *name, int fd, const struct sockaddr *dest,
                       socklen_t dest_len, struct netbe_error **errp);

/**
 * netbe_dgram_mcast_create() - QEMU's multicast socket: SO_REUSEADDR,
 * bound to @group, joined on @localaddr (any when NULL), loopback on,
 * sending from @localaddr when given; QEMU's messages
 * Return: the non-blocking fd, or -1
 */
int netbe_dgram_mcast_create(const struct sockaddr_in *group,
                             const struct in_addr *localaddr,
                             struct netbe_error **errp);

/**
 * netbe_fd_param() - the descriptor of an fd= option, made non-blocking,
 * with QEMU 7.2's messages ("Invalid file descriptor number 'X'",
 * "ID: Can't use file descriptor N: REASON")
 * @name: the netdev id, for the message
 * Return: the fd, or -1
 */
int netbe_fd_param(const char *name, const char *str,
                   struct netbe_error **errp);

#endif
