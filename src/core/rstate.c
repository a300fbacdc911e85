/*
 * rstate.c - reassembly of the length-prefixed stream framing used by
 * stream/socket backends and the redirector filter.
 *
 * Bytes arrive in whatever pieces the socket hands out.  A frame that lies
 * whole in one piece is passed to finalize where it lies; only a frame
 * split across pieces is gathered in rs->buf.  That buffer is allocated
 * the first time a frame is split, then kept: a connection that never
 * splits a frame (or an idle one) costs no 68 KiB, and the packet path
 * allocates at most once per connection.
 *
 * Zero-length frames: QEMU's stream backends pass packet_len 0 straight to
 * qemu_send_packet_async(), so an empty frame is delivered too.  QEMU only
 * notices it once a further byte arrives (its loop runs on remaining input);
 * here it is delivered as soon as its header is complete, so a 0-length
 * frame at the end of a read is not held back until the next read.
 */
#include <stdlib.h>
#include <string.h>

#include "netbe/rstate.h"
#include "netbe/util.h"

enum {
    ST_LEN = 0,
    ST_VNET_LEN = 1,
    ST_DATA = 2,
};

/* The largest virtio-net header a stream peer may announce. */
#define MAX_VNET_HDR_LEN 12

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

void netbe_rstate_init(struct netbe_rstate *rs, bool vnet_hdr, uint32_t max_len,
                       netbe_rstate_finalize *finalize, void *opaque)
{
    memset(rs, 0, sizeof(*rs));
    rs->vnet_hdr = vnet_hdr;
    rs->max_len = max_len ? max_len : NETBE_NET_BUFSIZE;
    rs->finalize = finalize;
    rs->opaque = opaque;
}

void netbe_rstate_reset(struct netbe_rstate *rs)
{
    rs->state = ST_LEN;
    rs->index = 0;
    rs->packet_len = 0;
    rs->vnet_hdr_len = 0;
}

void netbe_rstate_destroy(struct netbe_rstate *rs)
{
    free(rs->buf);
    rs->buf = NULL;
    netbe_rstate_reset(rs);
}

/*
 * The state goes back to "expecting a length" before finalize runs, so
 * finalize may reset the state (e.g. on a reconnect) without confusing
 * the rest of this fill; packet_len and vnet_hdr_len stay readable.
 */
static void deliver(struct netbe_rstate *rs, const uint8_t *frame)
{
    rs->state = ST_LEN;
    rs->index = 0;
    rs->finalize(rs, frame, rs->packet_len, rs->opaque);
}

/* Called when a 4-byte header in rs->hdr is complete; 0 or -1. */
static int header_done(struct netbe_rstate *rs, struct netbe_error **errp)
{
    uint32_t v = be32(rs->hdr);

    rs->index = 0;
    if (rs->state == ST_LEN) {
        /* Refuse before buffering anything: the length is untrusted. */
        if (v > rs->max_len) {
            netbe_error_setg(errp,
                             "oversized packet received: %u bytes "
                             "(limit %u)",
                             v, rs->max_len);
            netbe_rstate_reset(rs);
            return -1;
        }
        rs->packet_len = v;
        rs->vnet_hdr_len = 0;
        rs->state = rs->vnet_hdr ? ST_VNET_LEN : ST_DATA;
        return 0;
    }

    /* The vnet header is the head of the frame, so it must fit in it. */
    if (v > MAX_VNET_HDR_LEN || v > rs->packet_len) {
        netbe_error_setg(errp,
                         "malformed vnet header length received: %u bytes "
                         "(frame %u bytes, at most %u allowed)",
                         v, rs->packet_len, MAX_VNET_HDR_LEN);
        netbe_rstate_reset(rs);
        return -1;
    }
    rs->vnet_hdr_len = v;
    rs->state = ST_DATA;
    return 0;
}

int netbe_rstate_fill(struct netbe_rstate *rs, const uint8_t *buf, size_t size,
                      struct netbe_error **errp)
{
    const uint8_t *p = buf;
    size_t left = size;
    size_t n;

    while (left > 0) {
        switch (rs->state) {
        case ST_LEN:
        case ST_VNET_LEN:
            n = 4 - rs->index;
            if (n > left) {
                n = left;
            }
            memcpy(rs->hdr + rs->index, p, n);
            rs->index += n;
            p += n;
            left -= n;
            if (rs->index < 4) {
                break;
            }
            if (header_done(rs, errp) < 0) {
                return -1;
            }
            if (rs->state == ST_DATA && rs->packet_len == 0) {
                deliver(rs, p);
            }
            break;
        case ST_DATA:
            if (rs->index == 0 && left >= rs->packet_len) {
                /* whole frame in the caller's buffer: no copy */
                n = rs->packet_len;
                p += n;
                left -= n;
                deliver(rs, p - n);
                break;
            }
            n = rs->packet_len - rs->index;
            if (n > left) {
                n = left;
            }
            if (!rs->buf) {
                rs->buf = netbe_malloc0(rs->max_len);
            }
            memcpy(rs->buf + rs->index, p, n);
            rs->index += n;
            p += n;
            left -= n;
            if (rs->index == rs->packet_len) {
                deliver(rs, rs->buf);
            }
            break;
        default:
            /* only reachable if the caller scribbled on the state */
            netbe_error_setg(errp, "stream reassembly state corrupted");
            netbe_rstate_reset(rs);
            return -1;
        }
    }
    return 0;
}
