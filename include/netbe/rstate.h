/*
 * netbe/rstate.h - reassembly of QEMU's stream framing.
 *
 * A stream carries frames as a 4-byte big-endian length, with the vnet
 * variant a second 4-byte big-endian vnet header length, then the frame.
 * Bytes arrive in arbitrary pieces; netbe_rstate_fill() hands each whole
 * frame to the finalize callback.  A frame that lies whole inside the
 * caller's buffer is handed over in place (no copy); only a frame split
 * across reads is assembled in the state's own buffer.
 */
#ifndef NETBE_RSTATE_H
#define NETBE_RSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netbe/error.h"
#include "netbe/net.h"

#ifdef __cplusplus
extern "C" {
#endif

struct netbe_rstate;

/* A whole frame; @buf is valid only during the call. */
typedef void netbe_rstate_finalize(struct netbe_rstate *rs, const uint8_t *buf,
                                   size_t len, void *opaque);

struct netbe_rstate {
    int state; /* 0 length, 1 vnet header length, 2 data */
    bool vnet_hdr;
    uint32_t index;
    uint32_t packet_len;
    uint32_t vnet_hdr_len;
    uint32_t max_len; /* frames longer than this are an error */
    netbe_rstate_finalize *finalize;
    void *opaque;
    uint8_t hdr[4];
    uint8_t *buf; /* max_len bytes, allocated when a frame is first split */
};

/**
 * netbe_rstate_init() - set up; the assembly buffer comes when needed
 * @max_len: 0 means NETBE_NET_BUFSIZE
 */
void netbe_rstate_init(struct netbe_rstate *rs, bool vnet_hdr, uint32_t max_len,
                       netbe_rstate_finalize *finalize, void *opaque);
/** netbe_rstate_reset() - forget a partial frame (new connection) */
void netbe_rstate_reset(struct netbe_rstate *rs);
void netbe_rstate_destroy(struct netbe_rstate *rs);

/**
 * netbe_rstate_fill() - feed bytes
 *
 * Where the seed kills the process's connection with a message on stderr,
 * this returns -1 with "oversized packet received: N bytes (limit M)" in
 * *errp and leaves the state reset: the caller closes that one connection.
 * Return: 0 or -1
 */
int netbe_rstate_fill(struct netbe_rstate *rs, const uint8_t *buf, size_t size,
                      struct netbe_error **errp);

#ifdef __cplusplus
}
#endif

#endif
