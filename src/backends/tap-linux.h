/*
 * tap-linux.h - what the tap backend offers beyond the client vtable:
 * its QEMU defaults and its device.
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
 * netbe_tap_fd() - the tap device of a tap client, for tests and
 * embedders that want to inspect it
 * Return: the fd, or -1 when @nc is not a tap
 */
int netbe_tap_fd(struct netbe_client *nc);

#endif
