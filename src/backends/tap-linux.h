/*
 * tap-linux.h - what the tap backend offers beyond the client vtable:
 * the legacy-endian vnet header switches (QEMU's set_vnet_le/be hooks,
 * which netbe_client_info does not have yet) and its QEMU defaults.
 */
#ifndef NETBE_BACKENDS_TAP_LINUX_H
#define NETBE_BACKENDS_TAP_LINUX_H

#include <stdbool.h>

#include "netbe/net.h"

/* QEMU's Debian build: its scripts and bridge helper. */
#define NETBE_TAP_DEFAULT_SCRIPT "/etc/qemu-ifup"
#define NETBE_TAP_DEFAULT_DOWNSCRIPT "/etc/qemu-ifdown"
#define NETBE_TAP_DEFAULT_HELPER "/usr/lib/qemu/qemu-bridge-helper"
#define NETBE_TAP_DEFAULT_BRIDGE "br0"

/**
 * netbe_tap_set_vnet_le() - QEMU's tap_set_vnet_le(): make the tap read
 * and write vnet header fields little-endian (TUNSETVNETLE), for a
 * virtio 1.0 device on a big-endian host
 * @nc: a tap client
 * @is_le: on or off
 * Return: 0, or -1 when the kernel cannot (errno set)
 */
int netbe_tap_set_vnet_le(struct netbe_client *nc, bool is_le);

/**
 * netbe_tap_set_vnet_be() - QEMU's tap_set_vnet_be(): big-endian vnet
 * header fields (TUNSETVNETBE), for a legacy guest on a little-endian host
 * @nc: a tap client
 * @is_be: on or off
 * Return: 0, or -1 when the kernel cannot (errno set)
 */
int netbe_tap_set_vnet_be(struct netbe_client *nc, bool is_be);

/**
 * netbe_tap_fd() - the tap device of a tap client, for tests and
 * embedders that want to inspect it
 * Return: the fd, or -1 when @nc is not a tap
 */
int netbe_tap_fd(struct netbe_client *nc);

#endif
