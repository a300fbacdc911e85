/*
 * test_offload.c - virtio-net headers and offloads across a hub (issue 7,
 * DESIGN invariant 5): ports whose peers carry headers (taps) are asked
 * for 12-byte headers and checksum/TSO offloads, GSO frames pass between
 * them as they are, a peer without offloads gets plain segments with
 * their checksums done, a peer with headers but fewer offloads gets
 * segments with empty headers, plain frames get an empty header in front
 * on their way to a header peer, and a bad header is dropped and counted.
 * And the same between a NIC and its backend peered directly, with no hub
 * between them: the core converts there too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/net.h"
#include "netbe/util.h"
#include "netbe/vnet.h"

#define MAX_FRAMES 16
#define FRAME_CAP (NETBE_NET_BUFSIZE + 16)

/* A peer that keeps whole frames and may speak vnet headers. */
struct peer {
    struct netbe_client nc;
    bool vnet;   /* has_vnet_hdr */
    bool no_tso; /* accepts checksum offload only */
    bool using;  /* using_vnet_hdr(true) came */
    bool refuse; /* receive says "not now" */
    int nframes;
    size_t len[MAX_FRAMES];
    uint8_t *data[MAX_FRAMES];
};

static ssize_t peer_receive_iov(struct netbe_client *nc,
                                const struct iovec *iov, int iovcnt)
{
    struct peer *p = (struct peer *)nc;
    size_t len = netbe_iov_size(iov, iovcnt);

    if (p->refuse) {
        return 0;
    }
    assert_true(p->nframes < MAX_FRAMES);
    assert_true(len <= FRAME_CAP);
    p->data[p->nframes] = malloc(len);
    netbe_iov_to_buf(iov, iovcnt, 0, p->data[p->nframes], len);
    p->len[p->nframes++] = len;
    return (ssize_t)len;
}

static bool peer_has_vnet_hdr(struct netbe_client *nc)
{
    return ((struct peer *)nc)->vnet;
}

static bool peer_has_vnet_hdr_len(struct netbe_client *nc, int len)
{
    return ((struct peer *)nc)->vnet && (len == 10 || len == 12);
}

static void peer_using_vnet_hdr(struct netbe_client *nc, bool enable)
{
    ((struct peer *)nc)->using = enable;
    nc->vnet_hdr_len = enable ? 10 : 0;
}

static void peer_set_vnet_hdr_len(struct netbe_client *nc, int len)
{
    nc->vnet_hdr_len = len;
}

static void peer_set_offload(struct netbe_client *nc,
                             const struct netbe_offloads *o)
{
    if (((struct peer *)nc)->no_tso) {
        /* the device turned on less than it was offered */
        nc->offloads.tso4 = nc->offloads.tso6 = nc->offloads.ecn = false;
    }
}

static void peer_cleanup(struct netbe_client *nc)
{
    struct peer *p = (struct peer *)nc;

    for (int i = 0; i < p->nframes; i++) {
        free(p->data[i]);
    }
}

static const struct netbe_client_info peer_info = {
    .type = NETBE_DRIVER_TAP,
    .size = sizeof(struct peer),
    .receive_iov = peer_receive_iov,
    .has_vnet_hdr = peer_has_vnet_hdr,
    .has_vnet_hdr_len = peer_has_vnet_hdr_len,
    .using_vnet_hdr = peer_using_vnet_hdr,
    .set_vnet_hdr_len = peer_set_vnet_hdr_len,
    .set_offload = peer_set_offload,
    .cleanup = peer_cleanup,
};

static struct peer *on_hub(struct netbe_ctx *ctx, const char *name, bool vnet)
{
    struct peer *p =
        (struct peer *)netbe_client_new(ctx, &peer_info, NULL, "tap", name);

    p->vnet = vnet;
    netbe_hub_add_port(ctx, 0, NULL, &p->nc);
    return p;
}

static void forget_frames(struct peer *p)
{
    for (int i = 0; i < p->nframes; i++) {
        free(p->data[i]);
    }
    p->nframes = 0;
}

/* ---- frames ---- */

#define PAYLOAD 4000
#define MSS 1000
#define ETH_IP_TCP (14 + 20 + 20)

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

/* The TCP checksum of an Ethernet/IPv4/TCP frame verifies. */
static void assert_tcp4_ok(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + 14;
    size_t tcp_len = len - 34;
    uint32_t sum = 0;

    assert_int_equal(fold(sum16(ip, 20, 0)), 0xffff);
    assert_int_equal((size_t)(ip[2] << 8 | ip[3]), len - 14);
    sum = sum16(ip + 12, 8, 0) + 6 + (uint32_t)tcp_len;
    assert_int_equal(fold(sum16(ip + 20, tcp_len, sum)), 0xffff);
}

/*
 * A 12-byte header and a TSO frame of PAYLOAD bytes in MSS segments, its
 * TCP checksum field holding the pseudo-header sum (NEEDS_CSUM), as a
 * guest or the kernel hands it over.
 */
static size_t tso_frame(uint8_t *buf, uint16_t gso_size, uint8_t gso_type)
{
    static const uint8_t mac_b[6] = {0x52, 0x54, 0, 0, 0, 0xb};
    static const uint8_t mac_a[6] = {0x52, 0x54, 0, 0, 0, 0xa};
    uint8_t *f = buf + 12, *ip = f + 14, *tcp = ip + 20;
    size_t len = ETH_IP_TCP + PAYLOAD;
    uint32_t sum;

    memset(buf, 0, 12 + len);
    buf[0] = NETBE_VNET_F_NEEDS_CSUM;
    buf[1] = gso_type;
    buf[2] = ETH_IP_TCP; /* hdr_len */
    buf[4] = (uint8_t)gso_size;
    buf[5] = (uint8_t)(gso_size >> 8);
    buf[6] = 34; /* csum_start */
    buf[8] = 16; /* csum_offset */
    memcpy(f, mac_b, 6);
    memcpy(f + 6, mac_a, 6);
    f[12] = 0x08;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((len - 14) >> 8);
    ip[3] = (uint8_t)(len - 14);
    ip[4] = 0x12; /* id */
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 10, ip[15] = 1;
    ip[16] = 10, ip[19] = 2;
    sum = fold(sum16(ip, 20, 0));
    ip[10] = (uint8_t)(~sum >> 8);
    ip[11] = (uint8_t)~sum;
    tcp[1] = 80, tcp[3] = 81;
    tcp[4] = 0x10; /* seq */
    tcp[12] = 0x50;
    tcp[13] = 0x18; /* PSH ACK */
    tcp[15] = 0xff;
    for (size_t i = 0; i < PAYLOAD; i++) {
        tcp[20 + i] = (uint8_t)(i * 7);
    }
    /* the pseudo-header sum, not inverted */
    sum = fold(sum16(ip + 12, 8, 0) + 6 + 20 + PAYLOAD);
    tcp[16] = (uint8_t)(sum >> 8);
    tcp[17] = (uint8_t)sum;
    return 12 + len;
}

static const uint8_t arp[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52,
                                0x54, 0,    0,    0,    0xa,  0x08, 0x06};

struct fix {
    struct netbe_ctx *ctx;
    struct peer *a, *b, *c;
    uint8_t *buf;
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));

    f->ctx = netbe_ctx_new(NULL);
    f->a = on_hub(f->ctx, "a", true);
    f->b = on_hub(f->ctx, "b", true);
    f->c = on_hub(f->ctx, "c", false);
    f->buf = malloc(FRAME_CAP);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    netbe_ctx_free(f->ctx);
    free(f->buf);
    free(f);
    return 0;
}

/* One plain frame from c: the hub asks every peer it hands it to. */
static void negotiate(struct fix *f)
{
    netbe_send_packet(&f->c->nc, arp, sizeof(arp));
    forget_frames(f->a);
    forget_frames(f->b);
    forget_frames(f->c);
}

static void test_header_peers_are_asked(void **state)
{
    struct fix *f = *state;

    negotiate(f);
    assert_true(f->a->using);
    assert_true(f->b->using);
    assert_false(f->c->using);
    assert_int_equal(f->a->nc.vnet_hdr_len, 12);
    assert_int_equal(f->b->nc.vnet_hdr_len, 12);
    assert_int_equal(f->c->nc.vnet_hdr_len, 0);
    assert_true(f->a->nc.offloads.csum && f->a->nc.offloads.tso4 &&
                f->a->nc.offloads.tso6);
    assert_true(f->a->nc.offloads.uso4 && f->a->nc.offloads.uso6);
    /* never offered: UFO frames are IPv4 fragments no one makes now */
    assert_false(f->a->nc.offloads.ufo);
}

static void test_gso_frame_crosses_whole_and_is_cut_for_others(void **state)
{
    struct fix *f = *state;
    size_t len = tso_frame(f->buf, MSS, NETBE_VNET_GSO_TCPV4);
    uint8_t payload[PAYLOAD];
    size_t got = 0;

    negotiate(f);
    assert_int_equal(netbe_send_packet(&f->a->nc, f->buf, len), (ssize_t)len);
    /* b takes offloads: the very frame, header and all */
    assert_int_equal(f->b->nframes, 1);
    assert_int_equal(f->b->len[0], len);
    assert_memory_equal(f->b->data[0], f->buf, len);
    /* c does not: MSS-sized plain segments that verify */
    assert_int_equal(f->c->nframes, PAYLOAD / MSS);
    for (int i = 0; i < f->c->nframes; i++) {
        const uint8_t *s = f->c->data[i];

        assert_int_equal(f->c->len[i], ETH_IP_TCP + MSS);
        assert_tcp4_ok(s, f->c->len[i]);
        /* PSH only on the last */
        assert_int_equal(s[14 + 20 + 13] & 0x08,
                         i == f->c->nframes - 1 ? 0x08 : 0);
        memcpy(payload + got, s + ETH_IP_TCP, MSS);
        got += MSS;
    }
    assert_memory_equal(payload, f->buf + 12 + ETH_IP_TCP, PAYLOAD);
    assert_int_equal(f->c->nc.peer->stats.sw_segments, PAYLOAD / MSS);
    assert_int_equal(f->b->nc.peer->stats.sw_segments, 0);
}

static void test_fewer_offloads_get_segments_with_headers(void **state)
{
    struct fix *f = *state;
    size_t len;

    f->b->no_tso = true;
    negotiate(f);
    assert_false(f->b->nc.offloads.tso4);
    len = tso_frame(f->buf, MSS, NETBE_VNET_GSO_TCPV4);
    netbe_send_packet(&f->a->nc, f->buf, len);
    assert_int_equal(f->b->nframes, PAYLOAD / MSS);
    for (int i = 0; i < f->b->nframes; i++) {
        /* an empty header, then a segment that verifies */
        assert_int_equal(f->b->len[i], 12 + ETH_IP_TCP + MSS);
        for (int k = 0; k < 12; k++) {
            assert_int_equal(f->b->data[i][k], 0);
        }
        assert_tcp4_ok(f->b->data[i] + 12, f->b->len[i] - 12);
    }
}

static void test_plain_frames_get_an_empty_header(void **state)
{
    struct fix *f = *state;
    uint8_t want[12 + sizeof(arp)] = {0};

    negotiate(f);
    netbe_send_packet(&f->c->nc, arp, sizeof(arp));
    memcpy(want + 12, arp, sizeof(arp));
    assert_int_equal(f->a->nframes, 1);
    assert_int_equal(f->a->len[0], sizeof(want));
    assert_memory_equal(f->a->data[0], want, sizeof(want));
    /* and a header peer's plain frame reaches c without its header */
    netbe_send_packet(&f->a->nc, want, sizeof(want));
    assert_int_equal(f->c->nframes, 1);
    assert_int_equal(f->c->len[0], sizeof(arp));
    assert_memory_equal(f->c->data[0], arp, sizeof(arp));
}

static void test_checksum_only_frame(void **state)
{
    struct fix *f = *state;
    size_t len;

    negotiate(f);
    /* a frame that fits one segment: only its checksum is left to do */
    len = tso_frame(f->buf, MSS, NETBE_VNET_GSO_NONE);
    netbe_send_packet(&f->a->nc, f->buf, len);
    assert_int_equal(f->b->nframes, 1);
    assert_memory_equal(f->b->data[0], f->buf, len);
    assert_int_equal(f->c->nframes, 1);
    assert_int_equal(f->c->len[0], len - 12);
    assert_tcp4_ok(f->c->data[0], f->c->len[0]);
}

static void test_bad_header_dropped_and_counted(void **state)
{
    struct fix *f = *state;
    struct netbe_client *pa;
    size_t len;

    negotiate(f);
    pa = f->a->nc.peer;
    len = tso_frame(f->buf, 0, NETBE_VNET_GSO_TCPV4); /* gso_size 0 */
    netbe_send_packet(&f->a->nc, f->buf, len);
    len = tso_frame(f->buf, MSS, 0x42); /* unknown gso_type */
    netbe_send_packet(&f->a->nc, f->buf, len);
    len = tso_frame(f->buf, MSS, NETBE_VNET_GSO_TCPV4);
    f->buf[6] = 0xff, f->buf[7] = 0xff; /* csum_start past the end */
    netbe_send_packet(&f->a->nc, f->buf, len);
    netbe_send_packet(&f->a->nc, f->buf, 8); /* shorter than its header */
    assert_int_equal(pa->stats.drop_malformed, 4);
    assert_int_equal(f->b->nframes, 0);
    assert_int_equal(f->c->nframes, 0);
}

/* ---- a NIC and its backend, peered directly ---- */

static const struct netbe_client_info nic_info = {
    .type = NETBE_DRIVER_NIC,
    .size = sizeof(struct peer),
    .receive_iov = peer_receive_iov,
    .cleanup = peer_cleanup,
};

struct pair {
    struct netbe_ctx *ctx;
    struct netbe_nic_conf conf;
    struct netbe_client *peers[1];
    struct peer *nic, *be;
    uint8_t *buf;
};

/* A backend (with headers when @vnet) and a NIC with headers of @nic_len. */
static struct pair *pair_new(bool vnet, int be_len, int nic_len)
{
    struct pair *p = calloc(1, sizeof(*p));
    struct netbe_nic *nic;

    p->ctx = netbe_ctx_new(NULL);
    p->be =
        (struct peer *)netbe_client_new(p->ctx, &peer_info, NULL, "tap", "be");
    p->be->vnet = vnet;
    p->peers[0] = &p->be->nc;
    p->conf.peers = p->peers;
    nic = netbe_nic_new(p->ctx, &nic_info, &p->conf, "virtio-net-pci", "nic",
                        NULL);
    p->nic = (struct peer *)netbe_nic_get_queue(nic);
    if (be_len) {
        netbe_using_vnet_hdr(&p->be->nc, true);
        netbe_set_vnet_hdr_len(&p->be->nc, be_len);
        netbe_set_offload(&p->be->nc, &(struct netbe_offloads){
                                          .csum = true,
                                          .tso4 = true,
                                          .tso6 = true,
                                          .ecn = true,
                                          .ufo = true,
                                          .uso4 = true,
                                          .uso6 = true,
                                      });
    }
    netbe_set_vnet_hdr_len(&p->nic->nc, nic_len);
    p->buf = malloc(FRAME_CAP);
    return p;
}

static void pair_free(struct pair *p)
{
    netbe_ctx_free(p->ctx);
    free(p->buf);
    free(p);
}

static void test_pair_gso_to_plain_backend(void **state)
{
    struct pair *p = pair_new(false, 0, 12);
    size_t len = tso_frame(p->buf, MSS, NETBE_VNET_GSO_TCPV4);

    assert_int_equal(netbe_send_packet(&p->nic->nc, p->buf, len), (ssize_t)len);
    assert_int_equal(p->be->nframes, PAYLOAD / MSS);
    for (int i = 0; i < p->be->nframes; i++) {
        assert_int_equal(p->be->len[i], ETH_IP_TCP + MSS);
        assert_tcp4_ok(p->be->data[i], p->be->len[i]);
        assert_memory_equal(p->be->data[i] + ETH_IP_TCP,
                            p->buf + 12 + ETH_IP_TCP + i * MSS, MSS);
    }
    assert_int_equal(p->be->nc.stats.sw_segments, PAYLOAD / MSS);
    assert_int_equal(p->nic->nc.stats.tx_frames, 1);
    /* the other way: a plain frame gets an empty header in front */
    netbe_send_packet(&p->be->nc, arp, sizeof(arp));
    assert_int_equal(p->nic->nframes, 1);
    assert_int_equal(p->nic->len[0], 12 + sizeof(arp));
    for (int k = 0; k < 12; k++) {
        assert_int_equal(p->nic->data[0][k], 0);
    }
    assert_memory_equal(p->nic->data[0] + 12, arp, sizeof(arp));
    pair_free(p);
}

static void test_pair_header_lengths_converted(void **state)
{
    struct pair *p = pair_new(true, 12, 10);
    uint8_t want[12 + ETH_IP_TCP + PAYLOAD];
    size_t len = tso_frame(p->buf, MSS, NETBE_VNET_GSO_TCPV4);

    /* the NIC's frames carry 10 bytes: the same header without its last 2 */
    memcpy(want, p->buf, len);
    memmove(p->buf + 10, p->buf + 12, len - 12);
    netbe_send_packet(&p->nic->nc, p->buf, len - 2);
    assert_int_equal(p->be->nframes, 1);
    assert_int_equal(p->be->len[0], len);
    assert_memory_equal(p->be->data[0], want, len);
    assert_int_equal(p->be->nc.stats.sw_segments, 0);
    /* and back: a NIC that took no offloads gets segments */
    netbe_send_packet(&p->be->nc, want, len);
    assert_int_equal(p->nic->nframes, PAYLOAD / MSS);
    for (int i = 0; i < p->nic->nframes; i++) {
        assert_int_equal(p->nic->len[i], 10 + ETH_IP_TCP + MSS);
        assert_tcp4_ok(p->nic->data[i] + 10, p->nic->len[i] - 10);
    }
    forget_frames(p->nic);
    /* and once it takes TSO, the frame with its header cut to 10 */
    netbe_set_offload(&p->nic->nc,
                      &(struct netbe_offloads){.csum = true, .tso4 = true});
    netbe_send_packet(&p->be->nc, want, len);
    assert_int_equal(p->nic->nframes, 1);
    assert_int_equal(p->nic->len[0], len - 2);
    assert_memory_equal(p->nic->data[0], p->buf, len - 2);
    pair_free(p);
}

static void test_pair_fewer_offloads_and_same_form(void **state)
{
    struct pair *p = pair_new(true, 12, 12);
    size_t len = tso_frame(p->buf, MSS, NETBE_VNET_GSO_TCPV4);

    /* same form, every offload taken: the very frame */
    netbe_send_packet(&p->nic->nc, p->buf, len);
    assert_int_equal(p->be->nframes, 1);
    assert_memory_equal(p->be->data[0], p->buf, len);
    forget_frames(p->be);
    /* checksums only: segments behind empty headers */
    netbe_set_offload(&p->be->nc, &(struct netbe_offloads){.csum = true});
    netbe_send_packet(&p->nic->nc, p->buf, len);
    assert_int_equal(p->be->nframes, PAYLOAD / MSS);
    for (int i = 0; i < p->be->nframes; i++) {
        assert_int_equal(p->be->len[i], 12 + ETH_IP_TCP + MSS);
        for (int k = 0; k < 12; k++) {
            assert_int_equal(p->be->data[i][k], 0);
        }
        assert_tcp4_ok(p->be->data[i] + 12, p->be->len[i] - 12);
    }
    forget_frames(p->be);
    /* no checksum offload either: a partial checksum is completed */
    netbe_set_offload(&p->be->nc, &(struct netbe_offloads){0});
    len = tso_frame(p->buf, MSS, NETBE_VNET_GSO_NONE);
    netbe_send_packet(&p->nic->nc, p->buf, len);
    assert_int_equal(p->be->nframes, 1);
    assert_int_equal(p->be->data[0][0], 0); /* NEEDS_CSUM gone */
    assert_tcp4_ok(p->be->data[0] + 12, p->be->len[0] - 12);
    pair_free(p);
}

static void test_pair_raw_frames(void **state)
{
    struct pair *p = pair_new(false, 0, 12);

    /* a raw frame carries no header: the NIC (no receive_raw) gets one */
    netbe_send_packet_raw(&p->be->nc, arp, sizeof(arp));
    assert_int_equal(p->nic->nframes, 1);
    assert_int_equal(p->nic->len[0], 12 + sizeof(arp));
    assert_memory_equal(p->nic->data[0] + 12, arp, sizeof(arp));
    /* and one from the NIC reaches the plain backend as it is */
    netbe_send_packet_raw(&p->nic->nc, arp, sizeof(arp));
    assert_int_equal(p->be->nframes, 1);
    assert_int_equal(p->be->len[0], sizeof(arp));
    pair_free(p);
}

static void test_pair_bad_header_counted(void **state)
{
    struct pair *p = pair_new(false, 0, 12);
    size_t len = tso_frame(p->buf, 0, NETBE_VNET_GSO_TCPV4); /* gso_size 0 */

    assert_int_equal(netbe_send_packet(&p->nic->nc, p->buf, len), (ssize_t)len);
    netbe_send_packet(&p->nic->nc, p->buf, 6); /* shorter than its header */
    assert_int_equal(p->nic->nc.stats.drop_malformed, 2);
    assert_int_equal(p->be->nframes, 0);
    pair_free(p);
}

static int sent_calls;
static void count_sent(struct netbe_client *sender, ssize_t ret)
{
    sent_calls++;
}

/* Segments that must wait queue in order; the sender hears once. */
static void test_pair_segments_wait_with_one_callback(void **state)
{
    struct pair *p = pair_new(false, 0, 12);
    size_t len = tso_frame(p->buf, MSS, NETBE_VNET_GSO_TCPV4);

    sent_calls = 0;
    p->be->refuse = true;
    assert_int_equal(
        netbe_send_packet_async(&p->nic->nc, p->buf, len, count_sent), 0);
    assert_int_equal(p->be->nc.incoming_queue->count, PAYLOAD / MSS);
    p->be->refuse = false;
    netbe_flush_queued(&p->be->nc);
    assert_int_equal(sent_calls, 1);
    assert_int_equal(p->be->nframes, PAYLOAD / MSS);
    for (int i = 0; i < p->be->nframes; i++) {
        assert_memory_equal(p->be->data[i] + ETH_IP_TCP,
                            p->buf + 12 + ETH_IP_TCP + i * MSS, MSS);
    }
    pair_free(p);
}

/* A legacy big-endian NIC and a little-endian backend: fields swapped. */
static void test_pair_header_byte_order(void **state)
{
    struct pair *p = pair_new(true, 12, 12);
    size_t len = tso_frame(p->buf, MSS, NETBE_VNET_GSO_TCPV4);
    uint8_t le[12];

    assert_int_equal(netbe_set_vnet_be(&p->nic->nc, true), 0);
    memcpy(le, p->buf, 12);
    for (int k = 2; k < 10; k += 2) {
        uint8_t t = p->buf[k];

        p->buf[k] = p->buf[k + 1];
        p->buf[k + 1] = t;
    }
    netbe_send_packet(&p->nic->nc, p->buf, len);
    assert_int_equal(p->be->nframes, 1);
    assert_memory_equal(p->be->data[0], le, 12);
    assert_memory_equal(p->be->data[0] + 12, p->buf + 12, len - 12);
    pair_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_header_peers_are_asked),
        T(test_gso_frame_crosses_whole_and_is_cut_for_others),
        T(test_fewer_offloads_get_segments_with_headers),
        T(test_plain_frames_get_an_empty_header),
        T(test_checksum_only_frame),
        T(test_bad_header_dropped_and_counted),
#undef T
        cmocka_unit_test(test_pair_gso_to_plain_backend),
        cmocka_unit_test(test_pair_header_lengths_converted),
        cmocka_unit_test(test_pair_fewer_offloads_and_same_form),
        cmocka_unit_test(test_pair_raw_frames),
        cmocka_unit_test(test_pair_bad_header_counted),
        cmocka_unit_test(test_pair_segments_wait_with_one_callback),
        cmocka_unit_test(test_pair_header_byte_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
