/*
 * mirror.c - QEMU's filter-mirror and filter-redirector
 * (net/filter-mirror.c) on chardevs, with QEMU's wire format:
 *   4-byte big-endian length of the frame,
 *   with vnet_hdr_support=on a 4-byte big-endian vnet header length,
 *   the frame (with that header in front when there is one).
 *
 * filter-mirror copies every frame that passes to outdev and lets it go
 * on.  filter-redirector takes every frame that passes to outdev (when it
 * has one) and sends what comes from indev on: with queue=all or tx as
 * if the netdev had sent it, with all or rx as if its peer had (so to the
 * netdev), each time from this filter on down the chain.
 *
 * Unlike QEMU, a write never blocks: a frame the chardev's bounded output
 * buffer cannot take now is not mirrored (counted; a redirected one is a
 * drop, counted as the netdev's drop_filter).  With vnet_hdr_support=off
 * the vnet header of a frame that has one is left out, so the far end
 * always gets what the option said.  indev's bytes are outside input:
 * lengths are checked (at most a core frame, a vnet header inside the
 * frame and no longer than 12 bytes), a frame is assembled in one buffer
 * made once, and a peer that sends what no frame can be is disconnected
 * (that chardev only; it may connect again).  While the netdev's peer
 * cannot take more, indev is not read, so the far end is slowed down
 * instead of losing frames.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filters.h"
#include "netbe/chardev.h"
#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/rstate.h"
#include "netbe/util.h"
#include "netbe/vnet.h"

/* A frame in more pieces than this is copied into one first. */
#define MIRROR_IOV 64
/* How often a paused indev looks whether the peer has room again. */
#define RESUME_MS 5

struct mirror {
    struct netbe_filter *nf;
    bool redirector;
    bool vnet_hdr;
    char *indev_id, *outdev_id;
    struct netbe_chardev *in, *out;
    struct netbe_rstate rs;
    bool in_bad; /* indev sent garbage: disconnect after this read */
    bool in_paused;
    void *resume_timer;
    struct netbe_loop *loop;
    uint8_t *lin; /* NETBE_NET_BUFSIZE, made when a frame has many pieces */
    uint64_t sent, not_sent, injected, bad;
    unsigned long long warn_out, warn_in;
};

/* ---- out ---- */

static int mirror_write(struct mirror *m, struct netbe_client *sender,
                        unsigned flags, const struct iovec *iov, int iovcnt)
{
    size_t size = netbe_iov_size(iov, iovcnt);
    size_t hdr = flags & NETBE_PACKET_FLAG_RAW || !sender
                     ? 0
                     : (size_t)sender->vnet_hdr_len;
    struct iovec v[MIRROR_IOV + 2];
    uint32_t be_len, be_hdr;
    int n = 0, k;

    if (hdr > size) {
        hdr = 0;
    }
    if (!m->vnet_hdr) {
        /* the far end takes plain frames: leave our header out */
        size -= hdr;
    } else {
        hdr = 0;
    }
    be_len = htonl((uint32_t)size);
    v[n++] = (struct iovec){.iov_base = &be_len, .iov_len = 4};
    if (m->vnet_hdr) {
        be_hdr = htonl((uint32_t)(flags & NETBE_PACKET_FLAG_RAW || !sender
                                      ? 0
                                      : sender->vnet_hdr_len));
        v[n++] = (struct iovec){.iov_base = &be_hdr, .iov_len = 4};
    }
    k = netbe_iov_slice(v + n, MIRROR_IOV, iov, iovcnt, hdr, size);
    if (k < 0) {
        if (!m->lin) {
            m->lin = netbe_malloc0(NETBE_NET_BUFSIZE);
        }
        netbe_iov_to_buf(iov, iovcnt, hdr, m->lin, size);
        v[n] = (struct iovec){.iov_base = m->lin, .iov_len = size};
        k = 1;
    }
    n += k;
    if (netbe_chardev_write(m->out, v, n) < 0) {
        return -1;
    }
    m->sent++;
    return 0;
}

static void count_not_sent(struct mirror *m)
{
    m->not_sent++;
    if (netbe_filter_warn_hit(&m->warn_out)) {
        netbe_warn_report("%s %s: %llu frames not sent to chardev '%s': its "
                          "peer does not read fast enough",
                          m->nf->ops->type, m->nf->id,
                          (unsigned long long)m->not_sent, m->outdev_id);
    }
}

static ssize_t mirror_receive_iov(struct netbe_filter *nf,
                                  struct netbe_client *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt,
                                  netbe_packet_sent *sent_cb)
{
    struct mirror *m = nf->opaque;

    /* no connection: nothing to mirror to, as a QEMU socket drops it */
    if (netbe_chardev_is_open(m->out) &&
        mirror_write(m, sender, flags, iov, iovcnt) < 0) {
        count_not_sent(m);
    }
    return 0;
}

static ssize_t redirector_receive_iov(struct netbe_filter *nf,
                                      struct netbe_client *sender,
                                      unsigned flags, const struct iovec *iov,
                                      int iovcnt, netbe_packet_sent *sent_cb)
{
    struct mirror *m = nf->opaque;
    size_t size = netbe_iov_size(iov, iovcnt);

    if (!m->out) {
        return 0; /* indev only: everything passes */
    }
    if (netbe_chardev_is_open(m->out) &&
        mirror_write(m, sender, flags, iov, iovcnt) < 0) {
        count_not_sent(m);
        nf->netdev->stats.drop_filter++;
    } else if (!netbe_chardev_is_open(m->out)) {
        nf->netdev->stats.drop_filter++;
    }
    return (ssize_t)size;
}

static const struct netbe_filter_ops redirector_ops;

/* ---- in ---- */

/*
 * Whether what indev sends as @sender goes on now: nothing waits for its
 * peer.  "Below the queue's limits" is not enough: injected frames have
 * no sent-callback, so one that does not fit is dropped, and a queue a
 * little under its byte limit drops every frame while it never looks
 * full.  What one read brings (NETBE_CHARDEV_READ_MAX bytes) fits whole
 * in an empty queue under the default limits.
 */
static bool peer_has_room(struct netbe_client *sender)
{
    return !sender || !sender->peer || !sender->peer->incoming_queue ||
           sender->peer->incoming_queue->count == 0;
}

/* @frame (with @hdr_len bytes of vnet header) on from @sender. */
static void inject(struct mirror *m, struct netbe_client *sender,
                   const uint8_t *frame, size_t len, size_t hdr_len)
{
    struct iovec src = {.iov_base = (void *)frame, .iov_len = len};
    struct iovec dst[4];
    uint8_t hdr_buf[NETBE_VNET_HDR_MRG_LEN];
    int n;

    if (!sender || !sender->peer) {
        return;
    }
    n = netbe_vnet_convert(dst, 4, hdr_buf, &src, 1, hdr_len, false,
                           (size_t)sender->vnet_hdr_len, sender->vnet_be);
    if (n < 0) {
        m->nf->netdev->stats.drop_malformed++;
        return;
    }
    netbe_filter_pass_to_next(m->nf, sender, NETBE_PACKET_FLAG_NONE, dst, n);
}

static void in_frame(struct netbe_rstate *rs, const uint8_t *buf, size_t len,
                     void *opaque)
{
    struct mirror *m = opaque;
    struct netbe_filter *nf = m->nf;
    size_t hdr_len = m->vnet_hdr ? rs->vnet_hdr_len : 0;

    if (!nf->on) {
        return; /* read before the filter went off */
    }
    m->injected++;
    if (nf->direction != NETBE_FILTER_DIRECTION_RX) {
        inject(m, nf->netdev, buf, len, hdr_len);
    }
    if (nf->direction != NETBE_FILTER_DIRECTION_TX) {
        inject(m, nf->netdev->peer, buf, len, hdr_len);
    }
}

static bool in_blocked(struct mirror *m)
{
    struct netbe_filter *nf = m->nf;

    return (nf->direction != NETBE_FILTER_DIRECTION_RX &&
            !peer_has_room(nf->netdev)) ||
           (nf->direction != NETBE_FILTER_DIRECTION_TX &&
            !peer_has_room(nf->netdev->peer));
}

static void in_update(struct mirror *m)
{
    bool pause = !m->nf->on || in_blocked(m);

    if (pause != m->in_paused) {
        m->in_paused = pause;
        netbe_chardev_set_read_paused(m->in, pause);
    }
    if (m->in_paused && m->nf->on) {
        m->loop->ops->timer_mod(m->loop->opaque, m->resume_timer,
                                netbe_clock_ms(m->loop) + RESUME_MS);
    }
}

static void resume_cb(void *opaque)
{
    in_update(opaque);
}

int netbe_redirector_feed(struct netbe_filter *nf, const uint8_t *buf,
                          size_t len, struct netbe_error **errp)
{
    struct mirror *m = nf->opaque;
    struct netbe_ctx *ctx = nf->netdev->ctx;
    int r;

    netbe_batch_begin(ctx);
    r = netbe_rstate_fill(&m->rs, buf, len, errp);
    netbe_batch_end(ctx);
    if (r < 0) {
        netbe_rstate_reset(&m->rs);
    }
    return r;
}

struct netbe_filter *
netbe_redirector_new_bare(const struct netbe_filter_conf *conf, const char *id,
                          bool vnet_hdr, struct netbe_error **errp)
{
    struct netbe_filter *nf =
        netbe_filter_attach(conf, &redirector_ops, id, NULL, errp);
    struct mirror *m;

    if (!nf) {
        return NULL;
    }
    m = netbe_malloc0(sizeof(*m));
    m->nf = nf;
    m->redirector = true;
    m->vnet_hdr = vnet_hdr;
    m->loop = netbe_ctx_loop(conf->netdev->ctx);
    netbe_rstate_init(&m->rs, vnet_hdr, 0, in_frame, m);
    nf->opaque = m;
    return nf;
}

static void in_read(void *opaque, const uint8_t *buf, size_t len)
{
    struct mirror *m = opaque;
    struct netbe_error *err = NULL;
    int r;

    r = netbe_redirector_feed(m->nf, buf, len, &err);
    if (r < 0) {
        m->bad++;
        if (netbe_filter_warn_hit(&m->warn_in)) {
            netbe_warn_report("filter-redirector %s: chardev '%s': %s; "
                              "disconnecting it",
                              m->nf->id, m->indev_id, netbe_error_msg(err));
        }
        netbe_error_free(err);
        netbe_chardev_disconnect(m->in);
        return;
    }
    in_update(m);
}

static void in_event(void *opaque, enum netbe_chardev_event ev)
{
    struct mirror *m = opaque;

    /* a new connection starts a new stream */
    netbe_rstate_reset(&m->rs);
}

static const struct netbe_chardev_handlers in_handlers = {
    .read = in_read,
    .event = in_event,
};

static const struct netbe_chardev_handlers out_handlers = {0};

/* ---- the filters ---- */

static void mirror_status_changed(struct netbe_filter *nf)
{
    struct mirror *m = nf->opaque;

    if (m->in) {
        in_update(m);
    }
}

static void mirror_cleanup(struct netbe_filter *nf)
{
    struct mirror *m = nf->opaque;

    if (!m) {
        return;
    }
    if (m->in) {
        netbe_chardev_detach(m->in);
    }
    if (m->out) {
        netbe_chardev_detach(m->out);
    }
    if (m->resume_timer) {
        m->loop->ops->timer_free(m->loop->opaque, m->resume_timer);
    }
    netbe_rstate_destroy(&m->rs);
    free(m->lin);
    free(m->indev_id);
    free(m->outdev_id);
    free(m);
    nf->opaque = NULL;
}

static void mirror_print_info(struct netbe_filter *nf, FILE *out)
{
    struct mirror *m = nf->opaque;

    fprintf(out, ",vnet_hdr_support=%s", m->vnet_hdr ? "true" : "false");
    if (m->redirector) {
        fprintf(out, ",indev=%s", m->indev_id ? m->indev_id : "");
    }
    fprintf(out, ",outdev=%s", m->outdev_id ? m->outdev_id : "");
}

static const struct netbe_filter_ops mirror_ops = {
    .type = "filter-mirror",
    .receive_iov = mirror_receive_iov,
    .cleanup = mirror_cleanup,
    .status_changed = mirror_status_changed,
    .print_info = mirror_print_info,
};

static const struct netbe_filter_ops redirector_ops = {
    .type = "filter-redirector",
    .receive_iov = redirector_receive_iov,
    .cleanup = mirror_cleanup,
    .status_changed = mirror_status_changed,
    .print_info = mirror_print_info,
};

static struct netbe_chardev *find_chr(struct netbe_ctx *ctx, const char *id,
                                      struct netbe_error **errp)
{
    struct netbe_chardev *chr = netbe_chardev_find(ctx, id);

    if (!chr) {
        netbe_error_set(errp, NETBE_ERROR_DEVICE_NOT_FOUND,
                        "Device '%s' not found", id);
    }
    return chr;
}

static int create(struct netbe_ctx *ctx, const char *id,
                  const struct netbe_opts *opts,
                  const struct netbe_filter_conf *conf, bool redirector,
                  struct netbe_error **errp)
{
    const char *indev = redirector ? netbe_opts_get(opts, "indev") : NULL;
    const char *outdev = netbe_opts_get(opts, "outdev");
    struct netbe_chardev *in = NULL, *out = NULL;
    struct netbe_filter *nf;
    struct mirror *m;

    nf = netbe_filter_attach(conf, redirector ? &redirector_ops : &mirror_ops,
                             id, NULL, errp);
    if (!nf) {
        return -1;
    }
    if (redirector) {
        if (!indev && !outdev) {
            netbe_error_setg(errp, "filter redirector needs 'indev' or "
                                   "'outdev' at least one property set");
            goto fail;
        }
        if (indev && outdev && !strcmp(indev, outdev)) {
            netbe_error_setg(errp, "'indev' and 'outdev' could not be same "
                                   "for filter redirector");
            goto fail;
        }
    }
    if (indev && !(in = find_chr(ctx, indev, errp))) {
        goto fail;
    }
    if (outdev && !(out = find_chr(ctx, outdev, errp))) {
        goto fail;
    }
    m = netbe_malloc0(sizeof(*m));
    m->nf = nf;
    m->redirector = redirector;
    m->vnet_hdr = netbe_opts_get_bool(opts, "vnet_hdr_support", false);
    m->indev_id = indev ? netbe_strdup(indev) : NULL;
    m->outdev_id = outdev ? netbe_strdup(outdev) : NULL;
    m->loop = netbe_ctx_loop(ctx);
    netbe_rstate_init(&m->rs, m->vnet_hdr, 0, in_frame, m);
    nf->opaque = m;
    if (out && netbe_chardev_attach(out, &out_handlers, m, errp) < 0) {
        goto fail;
    }
    m->out = out;
    if (in) {
        m->resume_timer =
            m->loop->ops->timer_new(m->loop->opaque, resume_cb, m);
        if (netbe_chardev_attach(in, &in_handlers, m, errp) < 0) {
            goto fail;
        }
        m->in = in;
        in_update(m);
    }
    return 0;

fail:
    netbe_filter_del(nf);
    return -1;
}

static int mirror_create(struct netbe_ctx *ctx, const char *id,
                         const struct netbe_opts *opts,
                         const struct netbe_filter_conf *conf,
                         struct netbe_error **errp)
{
    return create(ctx, id, opts, conf, false, errp);
}

static int redirector_create(struct netbe_ctx *ctx, const char *id,
                             const struct netbe_opts *opts,
                             const struct netbe_filter_conf *conf,
                             struct netbe_error **errp)
{
    return create(ctx, id, opts, conf, true, errp);
}

static const struct netbe_opt_desc mirror_keys[] = {
    {"outdev", NETBE_OPT_STRING, true, NULL, NULL},
    {"vnet_hdr_support", NETBE_OPT_BOOL, false, NULL, NULL},
    {NULL, 0, false, NULL, NULL},
};

static const struct netbe_opt_desc redirector_keys[] = {
    {"indev", NETBE_OPT_STRING, false, NULL, NULL},
    {"outdev", NETBE_OPT_STRING, false, NULL, NULL},
    {"vnet_hdr_support", NETBE_OPT_BOOL, false, NULL, NULL},
    {NULL, 0, false, NULL, NULL},
};

static const struct netbe_object_prop mirror_props[] = {
    {"insert", "string"},
    {"netdev", "string"},
    {"outdev", "string"},
    {"position", "string"},
    {"queue", "NetFilterDirection"},
    {"status", "string"},
    {"vnet_hdr_support", "bool"},
    {NULL, NULL},
};

static const struct netbe_object_prop redirector_props[] = {
    {"indev", "string"},    {"insert", "string"},
    {"netdev", "string"},   {"outdev", "string"},
    {"position", "string"}, {"queue", "NetFilterDirection"},
    {"status", "string"},   {"vnet_hdr_support", "bool"},
    {NULL, NULL},
};

const struct netbe_object_type netbe_filter_mirror_type = {
    .name = "filter-mirror",
    .keys = mirror_keys,
    .props = mirror_props,
    .is_filter = true,
    .create = mirror_create,
};

const struct netbe_object_type netbe_filter_redirector_type = {
    .name = "filter-redirector",
    .keys = redirector_keys,
    .props = redirector_props,
    .is_filter = true,
    .create = redirector_create,
};
