/*
 * form.c - a frame in the form its receiver takes (DESIGN invariant 5).
 *
 * Every client sends and takes frames of one form: its vnet header length
 * (0, 10, 12), the header's byte order, and the offload work it accepts
 * (netbe_client.offloads).  When a sender's form and its receiver's
 * differ, the frame is handed on as it is when it can be, with its header
 * converted or stripped or an empty one prepended when only the header
 * differs, or cut into plain segments with their checksums done when it
 * still needs offload work that the receiver did not accept.  Hubs decide
 * per destination port (hub.c); a direct pair of clients decides here.
 */
#include <string.h>

#include "core/internal.h"
#include "netbe/util.h"

bool core_offloads_take(const struct netbe_offloads *o,
                        const struct netbe_vnet_info *vi)
{
    if ((vi->flags & NETBE_VNET_F_NEEDS_CSUM) && !o->csum) {
        return false;
    }
    if ((vi->gso_type & NETBE_VNET_GSO_ECN) && !o->ecn) {
        return false;
    }
    switch (vi->gso_type & ~NETBE_VNET_GSO_ECN) {
    case NETBE_VNET_GSO_NONE:
        return true;
    case NETBE_VNET_GSO_TCPV4:
        return o->tso4;
    case NETBE_VNET_GSO_TCPV6:
        return o->tso6;
    case NETBE_VNET_GSO_UDP:
        return o->ufo;
    case NETBE_VNET_GSO_UDP_L4:
        return vi->ip_version == 6 ? o->uso6 : o->uso4;
    default:
        return false;
    }
}

int core_frame_parse(struct core_frame *f, const struct iovec *iov, int iovcnt,
                     size_t hdr_len, bool big_endian)
{
    f->iov = iov;
    f->iovcnt = iovcnt;
    f->len = netbe_iov_size(iov, iovcnt);
    f->hdr_len = hdr_len;
    f->big_endian = big_endian;
    if (!hdr_len) {
        /* plain frames, the common case: nothing to parse or cut */
        memset(&f->vi, 0, sizeof(f->vi));
        f->vi.gso_type = NETBE_VNET_GSO_NONE;
        f->body = iov;
        f->body_cnt = iovcnt;
        return 0;
    }
    if (netbe_vnet_parse(&f->vi, iov, iovcnt, hdr_len, big_endian) < 0) {
        return -1;
    }
    f->body = f->body_buf;
    f->body_cnt = netbe_iov_slice(f->body_buf, NETBE_VNET_MAX_IOV, iov, iovcnt,
                                  hdr_len, f->len - hdr_len);
    return f->body_cnt < 0 ? -1 : 0;
}

static const uint8_t empty_hdr[NETBE_VNET_HDR_MRG_LEN];

struct seg_ctx {
    size_t hdr_len;
    uint32_t left; /* segments still to come */
    struct netbe_counters *stats;
    core_piece_fn *fn;
    void *opaque;
    ssize_t ret;
};

/* One plain segment, behind an empty header when the receiver wants one. */
static int seg_piece(void *opaque, const struct iovec *iov, int iovcnt)
{
    struct seg_ctx *s = opaque;
    struct iovec v[NETBE_VNET_MAX_IOV + 3];
    int n = 0;

    if (s->hdr_len) {
        v[n++] = (struct iovec){(void *)empty_hdr, s->hdr_len};
    }
    memcpy(v + n, iov, sizeof(*iov) * (size_t)iovcnt);
    s->left--;
    s->ret = s->fn(s->opaque, v, n + iovcnt, s->left == 0);
    if (s->stats) {
        s->stats->sw_segments++;
    }
    return 0;
}

ssize_t core_frame_send_as(const struct core_frame *f, size_t to_len,
                           bool to_be, const struct netbe_offloads *takes,
                           struct netbe_counters *seg_stats, core_piece_fn *fn,
                           void *opaque)
{
    static const struct netbe_offloads none;
    struct iovec v[NETBE_VNET_MAX_IOV + 1];
    uint8_t hdr[NETBE_VNET_HDR_MRG_LEN];
    int n;

    /* a receiver of plain frames takes no offload work at all */
    if (!to_len) {
        takes = &none;
    }
    if (f->hdr_len && !core_offloads_take(takes, &f->vi)) {
        struct seg_ctx s = {
            .hdr_len = to_len,
            .left = f->vi.nsegs ? f->vi.nsegs : 1,
            .stats = seg_stats,
            .fn = fn,
            .opaque = opaque,
            .ret = (ssize_t)f->len,
        };

        if (netbe_vnet_segment(&f->vi, f->body, f->body_cnt, seg_piece, &s) <
            0) {
            return -1;
        }
        return s.ret;
    }
    if (f->hdr_len == to_len && (!to_len || f->big_endian == to_be)) {
        return fn(opaque, f->iov, f->iovcnt, true); /* as it is */
    }
    /* nothing left to do but the header itself */
    n = netbe_vnet_convert(v, NETBE_ARRAY_SIZE(v), hdr, f->iov, f->iovcnt,
                           f->hdr_len, f->big_endian, to_len, to_be);
    if (n < 0) {
        return -1;
    }
    return fn(opaque, v, n, true);
}

/* ---- a direct pair ---- */

static bool is_hub_port(const struct netbe_client *nc)
{
    return nc->info->type == NETBE_DRIVER_HUBPORT;
}

/*
 * Whether a frame whose header form already matches its receiver's may
 * still need work the receiver did not accept: a look at the header's
 * first two bytes, so that the common case costs no parse.  Conservative:
 * true sends the frame through the full parse, which decides.
 */
static bool may_need_work(const struct iovec *iov, int iovcnt,
                          const struct netbe_offloads *o)
{
    uint8_t b[2];
    const uint8_t *h = b;

    if (o->csum && o->tso4 && o->tso6 && o->ecn && o->ufo && o->uso4 &&
        o->uso6) {
        return false;
    }
    if (iovcnt > 0 && iov[0].iov_len >= 2) {
        h = iov[0].iov_base;
    } else if (netbe_iov_to_buf(iov, iovcnt, 0, b, 2) < 2) {
        return false; /* shorter than a header: the receiver says so */
    }
    if ((h[0] & NETBE_VNET_F_NEEDS_CSUM) && !o->csum) {
        return true;
    }
    return h[1] != NETBE_VNET_GSO_NONE;
}

struct pair_ctx {
    struct netbe_client *sender, *peer;
    unsigned flags;
    netbe_packet_sent *sent_cb;
};

/* A segment before the last: queued whatever the limit, told to nobody. */
static void segment_sent(struct netbe_client *sender, ssize_t ret)
{
}

static ssize_t pair_piece(void *opaque, const struct iovec *iov, int iovcnt,
                          bool last)
{
    struct pair_ctx *c = opaque;
    netbe_packet_sent *cb = c->sent_cb;

    if (!last && cb) {
        cb = segment_sent;
    }
    return netbe_queue_send_iov(c->peer->incoming_queue, c->sender, c->flags,
                                iov, iovcnt, cb);
}

ssize_t core_send_to_peer(struct netbe_client *sender,
                          struct netbe_client *peer, unsigned flags,
                          const struct iovec *iov, int iovcnt,
                          netbe_packet_sent *sent_cb)
{
    bool raw = flags & NETBE_PACKET_FLAG_RAW;
    size_t from_len, to_len;
    struct pair_ctx c;
    struct core_frame f;
    ssize_t ret;

    from_len = raw ? 0 : (size_t)sender->vnet_hdr_len;
    to_len = (size_t)peer->vnet_hdr_len;
    if (raw && peer->info->receive_raw) {
        to_len = 0; /* receive_raw() adds what its device needs */
    }
    /* a hub converts per port itself (hub.c) */
    if ((from_len == 0 && to_len == 0) || is_hub_port(sender) ||
        is_hub_port(peer) ||
        (from_len == to_len && sender->vnet_be == peer->vnet_be &&
         !may_need_work(iov, iovcnt, &peer->offloads))) {
        return netbe_queue_send_iov(peer->incoming_queue, sender, flags, iov,
                                    iovcnt, sent_cb);
    }
    if (core_frame_parse(&f, iov, iovcnt, from_len, sender->vnet_be) < 0) {
        sender->stats.drop_malformed++; /* a bad header: never cut */
        return (ssize_t)netbe_iov_size(iov, iovcnt);
    }
    c.sender = sender;
    c.peer = peer;
    /* once a header is in front, the frame is no longer raw */
    c.flags = to_len ? flags & ~NETBE_PACKET_FLAG_RAW : flags;
    c.sent_cb = sent_cb;
    ret = core_frame_send_as(&f, to_len, peer->vnet_be, &peer->offloads,
                             &peer->stats, pair_piece, &c);
    if (ret < 0) {
        peer->stats.drop_malformed++;
        return (ssize_t)f.len;
    }
    return ret > 0 ? (ssize_t)f.len : ret;
}
