/*
 * vnetlib.h - what test_vnet and test_vnet_kernel share: a builder of
 * Ethernet/IP/TCP-or-UDP frames with the vnet header a sender's stack
 * would give them (pseudo-header sum in the checksum field, as Linux's
 * CHECKSUM_PARTIAL), a byte-wise reference checksum written straight from
 * RFC 1071 (independent of vnet.c's word-wise one), and a collector that
 * linearizes what netbe_vnet_segment() hands out.
 *
 * Everything is static; include after <cmocka.h>.
 */
#ifndef NETBE_VNETLIB_H
#define NETBE_VNETLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "netbe/net.h"
#include "netbe/vnet.h"

#define VL_UNUSED __attribute__((unused))
#define VL_MAX_SEGS 65536 /* gso_size 1 */
#define VL_BUF (NETBE_NET_BUFSIZE + 64)

struct vl_spec {
    int ip;         /* 4 or 6 */
    bool udp;       /* else TCP */
    int vlan;       /* VLAN tags, 0 to 2 */
    int ip_opt;     /* IPv4 option bytes, a multiple of 4 */
    int n_ext;      /* IPv6 extension headers (8 bytes each) ... */
    uint8_t ext[4]; /* ... of these types: 0 hop-by-hop, 43, 60 */
    int tcp_opt;    /* TCP option bytes, a multiple of 4 (12: timestamps) */
    uint8_t tcp_flags;
    uint32_t seq;
    uint16_t ip_id;
    bool df;
    size_t payload;
    uint8_t gso_type;
    uint16_t gso_size;
    bool needs_csum;
    uint16_t bad_check; /* != 0: put this in the checksum field instead */
    unsigned seed;      /* payload bytes */
};

struct vl_layout {
    size_t l3, l4, pl, len;
};

static VL_UNUSED void vl_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

static VL_UNUSED uint16_t vl_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 over big-endian words, starting at an even position. */
static VL_UNUSED uint32_t vl_sum(uint32_t acc, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i += 2) {
        acc += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    if (n & 1) {
        acc += (uint32_t)p[n - 1] << 8;
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return acc;
}

static VL_UNUSED uint32_t vl_pseudo(const uint8_t *ip, int version,
                                    uint8_t proto, uint32_t len)
{
    uint32_t acc = 0;

    acc = version == 4 ? vl_sum(acc, ip + 12, 8) : vl_sum(acc, ip + 8, 32);
    acc += proto + (len >> 16) + (len & 0xffff);
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return acc;
}

/* Where the headers of a frame built by vl_build() are. */
static VL_UNUSED struct vl_layout vl_layout_of(const struct vl_spec *s)
{
    struct vl_layout l;

    l.l3 = 14 + 4u * s->vlan;
    l.l4 = l.l3 + (s->ip == 4 ? 20u + s->ip_opt : 40u + 8u * s->n_ext);
    l.pl = l.l4 + (s->udp ? 8u : 20u + s->tcp_opt);
    l.len = l.pl + s->payload;
    return l;
}

/* Build the frame into @buf, its vnet header into @vi; Return: length */
static VL_UNUSED size_t vl_build(uint8_t *buf, const struct vl_spec *s,
                                 struct netbe_vnet_info *vi)
{
    static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02};
    static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
    struct vl_layout l = vl_layout_of(s);
    uint8_t *ip = buf + l.l3, *th = buf + l.l4;
    uint32_t l4len = (uint32_t)(l.len - l.l4);
    unsigned r = s->seed * 2654435761u + 1;
    size_t i, off;
    int t;

    memset(buf, 0, l.pl);
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    off = 12;
    for (t = 0; t < s->vlan; t++) {
        vl_be16(buf + off, t == 0 && s->vlan == 2 ? 0x88a8 : 0x8100);
        vl_be16(buf + off + 2, (uint16_t)(100 + t));
        off += 4;
    }
    vl_be16(buf + off, s->ip == 4 ? 0x0800 : 0x86dd);
    if (s->ip == 4) {
        ip[0] = (uint8_t)(0x40 | (5 + s->ip_opt / 4));
        ip[1] = 0x02; /* ECT(0) */
        vl_be16(ip + 2, (uint16_t)(l.len - l.l3));
        vl_be16(ip + 4, s->ip_id);
        vl_be16(ip + 6, s->df ? 0x4000 : 0);
        ip[8] = 64;
        ip[9] = s->udp ? 17 : 6;
        memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
        for (i = 0; i < (size_t)s->ip_opt; i += 4) {
            /* router alert, then NOPs: options Linux copies verbatim */
            memcpy(ip + 20 + i,
                   i == 0 ? "\x94\x04\x00\x00" : "\x01\x01\x01\x01", 4);
        }
        vl_be16(ip + 10, (uint16_t)~vl_sum(0, ip, 20u + s->ip_opt));
    } else {
        uint8_t *e = ip + 40;
        uint8_t *next = ip + 6;

        ip[0] = 0x60;
        vl_be16(ip + 4, (uint16_t)(l.len - l.l3 - 40));
        ip[7] = 64;
        memcpy(ip + 8,
               "\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
               "\x00\x01",
               16);
        memcpy(ip + 24,
               "\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
               "\x00\x00\x02",
               16);
        for (t = 0; t < s->n_ext; t++) {
            *next = s->ext[t];
            next = e;
            e[1] = 0; /* 8 bytes */
            if (s->ext[t] != 43) {
                e[2] = 1; /* a PadN option filling them */
                e[3] = 4;
            } /* else a routing header with no segments left */
            e += 8;
        }
        *next = s->udp ? 17 : 6;
    }
    if (s->udp) {
        vl_be16(th, 4000);
        vl_be16(th + 2, 5000);
        vl_be16(th + 4, (uint16_t)l4len);
    } else {
        vl_be16(th, 4000);
        vl_be16(th + 2, 5000);
        th[4] = s->seq >> 24;
        th[5] = s->seq >> 16;
        th[6] = s->seq >> 8;
        th[7] = s->seq;
        memcpy(th + 8, "\x11\x22\x33\x44", 4);
        th[12] = (uint8_t)((5 + s->tcp_opt / 4) << 4);
        th[13] = s->tcp_flags;
        vl_be16(th + 14, 512);
        for (i = 0; i < (size_t)s->tcp_opt; i += 12) {
            /* NOP NOP timestamps */
            memcpy(th + 20 + i,
                   "\x01\x01\x08\x0a\x00\x01\x02\x03\x04\x05\x06\x07", 12);
        }
    }
    for (i = l.pl; i < l.len; i++) {
        r = r * 1103515245u + 12345u;
        buf[i] = (uint8_t)(r >> 16);
    }
    memset(vi, 0, sizeof(*vi));
    vi->gso_type = s->gso_type;
    vi->gso_size = s->gso_size;
    vi->hdr_len = (uint16_t)l.pl;
    if (s->needs_csum) {
        uint16_t ps = (uint16_t)vl_pseudo(ip, s->ip, s->udp ? 17 : 6, l4len);

        vi->flags = NETBE_VNET_F_NEEDS_CSUM;
        vi->csum_start = (uint16_t)l.l4;
        vi->csum_offset = s->udp ? 6 : 16;
        vl_be16(th + vi->csum_offset, ps);
    }
    if (s->bad_check) {
        vl_be16(th + (s->udp ? 6 : 16), s->bad_check);
    }
    return l.len;
}

/* Segments, linearized one after another. */
struct vl_segs {
    int n;
    size_t off[VL_MAX_SEGS + 1];
    size_t used;
    uint8_t *data; /* headers of each segment + a frame */
};

static VL_UNUSED void vl_segs_init(struct vl_segs *s)
{
    s->n = 0;
    s->used = 0;
    s->off[0] = 0;
    if (!s->data) {
        s->data = malloc((size_t)VL_MAX_SEGS * NETBE_VNET_MAX_HDRS + VL_BUF);
    }
}

static VL_UNUSED int vl_collect(void *opaque, const struct iovec *iov,
                                int iovcnt)
{
    struct vl_segs *s = opaque;
    size_t len = 0;
    int i;

    for (i = 0; i < iovcnt; i++) {
        len += iov[i].iov_len;
    }
    if (s->n >= VL_MAX_SEGS ||
        s->used + len > (size_t)VL_MAX_SEGS * NETBE_VNET_MAX_HDRS + VL_BUF) {
        return -1000;
    }
    for (i = 0; i < iovcnt; i++) {
        memcpy(s->data + s->used, iov[i].iov_base, iov[i].iov_len);
        s->used += iov[i].iov_len;
    }
    s->n++;
    s->off[s->n] = s->used;
    return 0;
}

static VL_UNUSED const uint8_t *vl_seg(const struct vl_segs *s, int i,
                                       size_t *len)
{
    *len = s->off[i + 1] - s->off[i];
    return s->data + s->off[i];
}

#endif
