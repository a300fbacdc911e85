/*
 * test_offload.c - virtio-net headers and offloads across a hub (issue 7,
 * DESIGN invariant 5): ports whose peers carry headers (taps) are asked
 * for 12-byte headers and checksum/TSO offloads, GSO frames pass between
 * them as they are, a peer without offloads gets plain segments with
 * their checksums done, a peer with headers but fewer offloads gets
 * segments with empty headers, plain frames get an empty header in front
 * on their way to a header peer, and a bad header is dropped and counted.
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
    int nframes;
    size_t len[MAX_FRAMES];
    uint8_t *data[MAX_FRAMES];
};

static ssize_t peer_receive_iov(struct netbe_client *nc,
                                const struct iovec *iov, int iovcnt)
{
    struct peer *p = (struct peer *)nc;
    size_t len = netbe_iov_size(iov, iovcnt);

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
    /* never offered: netbe does not undo them */
    assert_false(f->a->nc.offloads.ufo || f->a->nc.offloads.uso4);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
