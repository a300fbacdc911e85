/*
 * netbe/netbe.h - everything a VMM needs, in one include.
 */
#ifndef NETBE_NETBE_H
#define NETBE_NETBE_H

#include "netbe/backend.h"
#include "netbe/bhyve.h"
#include "netbe/chardev.h"
#include "netbe/device.h"
#include "netbe/error.h"
#include "netbe/event.h"
#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/net.h"
#include "netbe/object.h"
#include "netbe/opts.h"
#include "netbe/rstate.h"
#include "netbe/util.h"
#include "netbe/vnet.h"

#define NETBE_VERSION "0.1.0"

#endif
