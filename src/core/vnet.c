/*
 * vnet.c - virtio-net header validation, checksum completion and software
 * segmentation, for frames going to a peer that did not accept offloads
 * (DESIGN invariant 5).
 *
 * The output is meant to be the same, byte for byte, as Linux's software
 * GSO of the same frame from a tap or packet socket (virtio_net_hdr_to_skb,
 * then tcp_gso_segment / __udp_gso_segment / udp4_ufo_fragment under
 * inet_gso_segment / ipv6_gso_segment): tests/unit/test_vnet_kernel.c
 * checks that against the running kernel.  That includes Linux's way of
 * deriving each segment's TCP/UDP checksum from the pseudo-header sum the
 * sender left in the frame (not from the addresses), so a sender that
 * lied there gets the same wrong checksums as behind Linux.
 *
 * netbe is stricter than Linux in a few places, always refusing rather
 * than producing something different:
 *  - an ECN bit on a UDP gso_type, VIRTIO_NET_HDR_GSO_ACCECN and other
 *    unknown bits are refused (Linux ignores ECN on UDP);
 *  - a GSO frame's IPv4 header must be version 4, not a fragment; IPv6
 *    must be version 6; a GSO frame's checksum place, when NEEDS_CSUM, must
 *    be the TCP/UDP checksum (Linux checks csum_offset for TCP/USO and
 *    csum_start for TCP/USO, not for UFO);
 *  - UFO needs a gso_size that is a multiple of 8 (Linux would write
 *    fragment offsets that do not add up) and IPv4 (Linux's UFO over IPv6
 *    picks a fragment id from a hashed secret, which netbe cannot match);
 *  - headers longer than NETBE_VNET_MAX_HDRS, frames over
 *    NETBE_NET_BUFSIZE or over IP's 64 KiB lengths.
 * And one place where it is kinder: a TCP frame whose payload fits one
 * segment but whose header with options does not fit Linux's test is
 * passed on whole (Linux drops it).
 *
 * Checksums are sums of 16-bit words in memory order loaded natively:
 * one's complement addition does not care about byte order, so the folded
 * result is stored as it is; host integers join as htons()/htonl().
 */
#include <arpa/inet.h>
#include <string.h>

#include "netbe/net.h"
#include "netbe/util.h"
#include "netbe/vnet.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8

#define PROTO_HOPOPTS 0
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ROUTING 43
#define PROTO_DSTOPTS 60

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff

#define GSO_BY_FRAGS 0xffff

static const char *const messages[] = {
    [NETBE_VNET_OK] = "no error",
    [NETBE_VNET_E_VNET_LEN] = "vnet header: bad header length",
    [NETBE_VNET_E_GSO_TYPE] = "vnet header: unknown gso_type",
    [NETBE_VNET_E_GSO_SIZE] = "vnet header: bad gso_size",
    [NETBE_VNET_E_HDR_LEN] = "vnet header: hdr_len past the end of the frame",
    [NETBE_VNET_E_CSUM_RANGE] =
        "vnet header: csum_start/csum_offset out of the frame",
    [NETBE_VNET_E_CSUM_PLACE] =
        "vnet header: GSO checksum not at the TCP/UDP checksum",
    [NETBE_VNET_E_CSUM_REQUIRED] =
        "vnet header: USO or VLAN GSO frame without NEEDS_CSUM",
    [NETBE_VNET_E_L2] = "vnet header: GSO frame is not Ethernet IPv4/IPv6",
    [NETBE_VNET_E_L3] =
        "vnet header: IP header missing, bad or not of gso_type",
    [NETBE_VNET_E_L4] = "vnet header: TCP/UDP header missing or bad",
    [NETBE_VNET_E_TOO_BIG] = "vnet header: frame too long",
    [NETBE_VNET_E_UNSUPPORTED] = "vnet header: GSO frame netbe cannot segment",
    [NETBE_VNET_E_OFFLOAD] =
        "vnet header: frame needs segmentation or checksum completion",
    [NETBE_VNET_E_NOSPACE] = "vnet: iovec array too small",
};

const char *netbe_vnet_strerror(int err)
{
    if (err < 0) {
        err = -err;
    }
    if ((size_t)err >= NETBE_ARRAY_SIZE(messages) || !messages[err]) {
        return "vnet: unknown error";
    }
    return messages[err];
}

/* ---- byte order ---- */

static uint16_t get16(const uint8_t *p, bool big_endian)
{
    return big_endian ? (uint16_t)(p[0] << 8 | p[1])
                      : (uint16_t)(p[1] << 8 | p[0]);
}

static void put16(uint8_t *p, uint16_t v, bool big_endian)
{
    if (big_endian) {
        p[0] = v >> 8;
        p[1] = v & 0xff;
    } else {
        p[0] = v & 0xff;
        p[1] = v >> 8;
    }
}

static uint16_t be16(const uint8_t *p)
{
    return get16(p, true);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* ---- header decode/encode ---- */

int netbe_vnet_hdr_decode(struct netbe_vnet_info *vi, const void *hdr,
                          size_t len, bool big_endian)
{
    const uint8_t *p = hdr;

    memset(vi, 0, sizeof(*vi));
    if (len != NETBE_VNET_HDR_LEN && len != NETBE_VNET_HDR_MRG_LEN) {
        return -NETBE_VNET_E_VNET_LEN;
    }
    vi->flags = p[0];
    vi->gso_type = p[1];
    vi->hdr_len = get16(p + 2, big_endian);
    vi->gso_size = get16(p + 4, big_endian);
    vi->csum_start = get16(p + 6, big_endian);
    vi->csum_offset = get16(p + 8, big_endian);
    if (len == NETBE_VNET_HDR_MRG_LEN) {
        vi->num_buffers = get16(p + 10, big_endian);
    }
    return 0;
}

int netbe_vnet_hdr_encode(void *hdr, size_t len,
                          const struct netbe_vnet_info *vi, bool big_endian)
{
    uint8_t *p = hdr;

    if (len != NETBE_VNET_HDR_LEN && len != NETBE_VNET_HDR_MRG_LEN) {
        return -NETBE_VNET_E_VNET_LEN;
    }
    p[0] = vi->flags;
    p[1] = vi->gso_type;
    put16(p + 2, vi->hdr_len, big_endian);
    put16(p + 4, vi->gso_size, big_endian);
    put16(p + 6, vi->csum_start, big_endian);
    put16(p + 8, vi->csum_offset, big_endian);
    if (len == NETBE_VNET_HDR_MRG_LEN) {
        put16(p + 10, vi->num_buffers, big_endian);
    }
    return 0;
}

/* ---- one's complement sums ---- */

struct csum {
    uint64_t acc;
    bool odd; /* the next byte is the second of a 16-bit word */
};

static uint16_t fold(uint64_t acc)
{
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return (uint16_t)acc;
}

static void csum_add16(struct csum *c, uint16_t native)
{
    c->acc += native;
}

/* The one's complement of @v in 16 bits: subtracting it. */
static void csum_sub16(struct csum *c, uint16_t native)
{
    c->acc += (uint16_t)~native;
}

static void csum_bytes(struct csum *c, const uint8_t *p, size_t n)
{
    uint64_t acc = 0;
    uint8_t w[2];
    uint16_t v;

    if (n == 0) {
        return;
    }
    if (c->odd) {
        w[0] = 0;
        w[1] = p[0];
        memcpy(&v, w, 2);
        c->acc += v;
        p++;
        n--;
        c->odd = false;
    }
    /*
     * 8 bytes at a time as two 32-bit halves: a 32-bit word is congruent
     * to the sum of its 16-bit halves modulo 0xffff, and 2^32 of them fit.
     */
    while (n >= 8) {
        uint64_t q;

        memcpy(&q, p, 8);
        acc += (q & 0xffffffffu) + (q >> 32);
        p += 8;
        n -= 8;
    }
    while (n >= 2) {
        memcpy(&v, p, 2);
        acc += v;
        p += 2;
        n -= 2;
    }
    if (n) {
        w[0] = p[0];
        w[1] = 0;
        memcpy(&v, w, 2);
        acc += v;
        c->odd = true;
    }
    c->acc += fold(acc);
}

/* Sum @len bytes of @iov from @off; the range was validated. */
static void csum_iov(struct csum *c, const struct iovec *iov, int iovcnt,
                     size_t off, size_t len)
{
    int i;

    for (i = 0; i < iovcnt && len > 0; i++) {
        size_t n = iov[i].iov_len;

        if (off >= n) {
            off -= n;
            continue;
        }
        n -= off;
        if (n > len) {
            n = len;
        }
        csum_bytes(c, (const uint8_t *)iov[i].iov_base + off, n);
        len -= n;
        off = 0;
    }
}

/* The final checksum, as csum_fold(): inverted. */
static uint16_t csum_final(const struct csum *c)
{
    return (uint16_t)~fold(c->acc);
}

/* ip_send_check(): the IPv4 header checksum over @ihl bytes at @ip. */
static void ipv4_send_check(uint8_t *ip, size_t ihl)
{
    struct csum c = {0};
    uint16_t sum;

    ip[10] = ip[11] = 0;
    csum_bytes(&c, ip, ihl);
    sum = csum_final(&c);
    memcpy(ip + 10, &sum, 2);
}

/* The pseudo-header's sum: addresses, protocol and L4 length. */
static void csum_pseudo(struct csum *c, const uint8_t *ip, int version,
                        uint8_t proto, uint32_t l4_len)
{
    if (version == 4) {
        csum_bytes(c, ip + 12, 8);
    } else {
        csum_bytes(c, ip + 8, 32);
    }
    c->acc += htonl(l4_len);
    c->acc += htons(proto);
}

/* ---- validation ---- */

static bool known_gso(uint8_t gso)
{
    return gso == NETBE_VNET_GSO_TCPV4 || gso == NETBE_VNET_GSO_TCPV6 ||
           gso == NETBE_VNET_GSO_UDP || gso == NETBE_VNET_GSO_UDP_L4;
}

/*
 * Bytes [@off, @off + @n) of the headers: inside the frame (else the
 * frame is malformed: @err) and inside the copy (else too long for us).
 */
static int need(const struct netbe_vnet_info *vi, size_t copied, size_t off,
                size_t n, int err)
{
    if (off + n > vi->frame_len) {
        return -err;
    }
    if (off + n > copied) {
        return -NETBE_VNET_E_UNSUPPORTED;
    }
    return 0;
}

static uint32_t div_up(uint32_t a, uint32_t b)
{
    return a / b + (a % b != 0);
}

/* The headers of a GSO frame, from the copy @h of its first bytes. */
static int validate_gso(struct netbe_vnet_info *vi, const uint8_t *h,
                        size_t copied)
{
    uint8_t gso = vi->gso_type & ~NETBE_VNET_GSO_ECN;
    bool tcp = gso == NETBE_VNET_GSO_TCPV4 || gso == NETBE_VNET_GSO_TCPV6;
    size_t off, l4, hl;
    uint16_t type;
    uint8_t proto;
    uint32_t payload;
    int tags = 0;
    int rc;

    /* Ethernet, with up to two VLAN tags as skb_network_protocol() */
    if ((rc = need(vi, copied, 0, ETH_HLEN, NETBE_VNET_E_L2))) {
        return rc;
    }
    type = be16(h + 12);
    off = ETH_HLEN;
    while ((type == ETH_P_8021Q || type == ETH_P_8021AD) && tags < 2) {
        if ((rc = need(vi, copied, off, 4, NETBE_VNET_E_L2))) {
            return rc;
        }
        type = be16(h + off + 2);
        off += 4;
        tags++;
    }
    vi->l3_off = off;
    /*
     * Without NEEDS_CSUM Linux finds the headers by the outer ethertype,
     * and refuses a tagged frame (virtio_net_hdr_match_proto()).
     */
    if (tags && !(vi->flags & NETBE_VNET_F_NEEDS_CSUM)) {
        return -NETBE_VNET_E_CSUM_REQUIRED;
    }
    if (type == ETH_P_IP) {
        size_t ihl;

        if ((rc = need(vi, copied, off, 20, NETBE_VNET_E_L3))) {
            return rc;
        }
        ihl = (h[off] & 0x0f) * 4u;
        if (h[off] >> 4 != 4 || ihl < 20) {
            return -NETBE_VNET_E_L3;
        }
        if ((rc = need(vi, copied, off, ihl, NETBE_VNET_E_L3))) {
            return rc;
        }
        /* a fragment cannot be a GSO frame */
        if (be16(h + off + 6) & (IP_MF | IP_OFFMASK)) {
            return -NETBE_VNET_E_L3;
        }
        if (gso == NETBE_VNET_GSO_TCPV6) {
            return -NETBE_VNET_E_L3;
        }
        proto = h[off + 9];
        vi->ip_version = 4;
        if (vi->frame_len - off > 0xffff) {
            return -NETBE_VNET_E_TOO_BIG;
        }
        l4 = off + ihl;
    } else if (type == ETH_P_IPV6) {
        if ((rc = need(vi, copied, off, 40, NETBE_VNET_E_L3))) {
            return rc;
        }
        if (h[off] >> 4 != 6) {
            return -NETBE_VNET_E_L3;
        }
        if (gso == NETBE_VNET_GSO_TCPV4) {
            return -NETBE_VNET_E_L3;
        }
        if (vi->frame_len - off - 40 > 0xffff) {
            return -NETBE_VNET_E_TOO_BIG;
        }
        proto = h[off + 6];
        l4 = off + 40;
        /* the extension headers ipv6_gso_pull_exthdrs() walks over */
        while (proto == PROTO_HOPOPTS || proto == PROTO_ROUTING ||
               proto == PROTO_DSTOPTS) {
            size_t len;

            if ((rc = need(vi, copied, l4, 8, NETBE_VNET_E_L3))) {
                return rc;
            }
            len = (h[l4 + 1] + 1u) * 8;
            if ((rc = need(vi, copied, l4, len, NETBE_VNET_E_L3))) {
                return rc;
            }
            proto = h[l4];
            l4 += len;
        }
        vi->ip_version = 6;
        if (gso == NETBE_VNET_GSO_UDP) {
            return -NETBE_VNET_E_UNSUPPORTED;
        }
    } else {
        return -NETBE_VNET_E_L2;
    }
    if (proto != (tcp ? PROTO_TCP : PROTO_UDP)) {
        return -NETBE_VNET_E_L3;
    }
    if (tcp) {
        size_t thlen;

        if ((rc = need(vi, copied, l4, 20, NETBE_VNET_E_L4))) {
            return rc;
        }
        thlen = (h[l4 + 12] >> 4) * 4u;
        if (thlen < 20) {
            return -NETBE_VNET_E_L4;
        }
        if ((rc = need(vi, copied, l4, thlen, NETBE_VNET_E_L4))) {
            return rc;
        }
        hl = l4 + thlen;
    } else {
        if ((rc = need(vi, copied, l4, 8, NETBE_VNET_E_L4))) {
            return rc;
        }
        hl = l4 + 8;
    }
    vi->l4_off = l4;
    vi->payload_off = hl;

    if (vi->flags & NETBE_VNET_F_NEEDS_CSUM) {
        if (vi->csum_start != l4 || vi->csum_offset != (tcp ? 16 : 6)) {
            return -NETBE_VNET_E_CSUM_PLACE;
        }
    } else if (gso == NETBE_VNET_GSO_UDP_L4) {
        return -NETBE_VNET_E_CSUM_REQUIRED;
    }

    /* "Too small packets are not really GSO ones." */
    if (gso == NETBE_VNET_GSO_UDP) {
        payload = vi->frame_len - l4; /* UDP header and data, fragmented */
        if (payload <= vi->gso_size) {
            vi->nsegs = 1;
            return 0;
        }
        if (vi->gso_size % 8) {
            return -NETBE_VNET_E_GSO_SIZE;
        }
    } else {
        payload = vi->frame_len - hl;
        if (payload <= vi->gso_size) {
            vi->nsegs = 1;
            return 0;
        }
    }
    vi->nsegs = div_up(payload, vi->gso_size);
    if (gso == NETBE_VNET_GSO_UDP_L4 && vi->nsegs > NETBE_VNET_USO_MAX_SEGS) {
        return -NETBE_VNET_E_GSO_SIZE;
    }
    return 0;
}

int netbe_vnet_validate(struct netbe_vnet_info *vi, const struct iovec *iov,
                        int iovcnt)
{
    uint8_t h[NETBE_VNET_MAX_HDRS];
    uint8_t gso = vi->gso_type & ~NETBE_VNET_GSO_ECN;
    size_t len = netbe_iov_size(iov, iovcnt);
    size_t copied;
    int rc;

    vi->frame_len = 0;
    vi->l3_off = vi->l4_off = vi->payload_off = 0;
    vi->ip_version = 0;
    vi->nsegs = 0;
    if (len > NETBE_NET_BUFSIZE) {
        return -NETBE_VNET_E_TOO_BIG;
    }
    vi->frame_len = (uint32_t)len;
    if (vi->gso_type != NETBE_VNET_GSO_NONE) {
        if (!known_gso(gso)) {
            return -NETBE_VNET_E_GSO_TYPE;
        }
        if ((vi->gso_type & NETBE_VNET_GSO_ECN) &&
            gso != NETBE_VNET_GSO_TCPV4 && gso != NETBE_VNET_GSO_TCPV6) {
            return -NETBE_VNET_E_GSO_TYPE;
        }
        if (vi->gso_size == 0 || vi->gso_size == GSO_BY_FRAGS) {
            return -NETBE_VNET_E_GSO_SIZE;
        }
    }
    if (vi->hdr_len > len) {
        return -NETBE_VNET_E_HDR_LEN;
    }
    if ((vi->flags & NETBE_VNET_F_NEEDS_CSUM) &&
        (size_t)vi->csum_start + vi->csum_offset + 2 > len) {
        return -NETBE_VNET_E_CSUM_RANGE;
    }
    if (vi->gso_type == NETBE_VNET_GSO_NONE) {
        vi->nsegs = 1;
        return 0;
    }
    copied = netbe_iov_to_buf(iov, iovcnt, 0, h, sizeof(h));
    rc = validate_gso(vi, h, copied);
    if (rc) {
        vi->nsegs = 0;
    }
    return rc;
}

int netbe_vnet_parse(struct netbe_vnet_info *vi, const struct iovec *iov,
                     int iovcnt, size_t vnet_hdr_len, bool big_endian)
{
    uint8_t hdr[NETBE_VNET_HDR_MRG_LEN];
    struct iovec frame[NETBE_VNET_MAX_IOV];
    int n;

    if ((vnet_hdr_len != NETBE_VNET_HDR_LEN &&
         vnet_hdr_len != NETBE_VNET_HDR_MRG_LEN) ||
        netbe_iov_to_buf(iov, iovcnt, 0, hdr, vnet_hdr_len) != vnet_hdr_len) {
        memset(vi, 0, sizeof(*vi));
        return -NETBE_VNET_E_VNET_LEN;
    }
    netbe_vnet_hdr_decode(vi, hdr, vnet_hdr_len, big_endian);
    n = netbe_iov_slice(frame, NETBE_VNET_MAX_IOV, iov, iovcnt, vnet_hdr_len,
                        SIZE_MAX);
    if (n < 0) {
        return -NETBE_VNET_E_UNSUPPORTED;
    }
    return netbe_vnet_validate(vi, frame, n);
}

/* ---- checksum completion ---- */

int netbe_vnet_csum_complete(uint8_t *frame, size_t len,
                             const struct netbe_vnet_info *vi)
{
    struct csum c = {0};
    uint16_t sum;

    if (!(vi->flags & NETBE_VNET_F_NEEDS_CSUM)) {
        return 0;
    }
    if ((size_t)vi->csum_start + vi->csum_offset + 2 > len) {
        return -NETBE_VNET_E_CSUM_RANGE;
    }
    csum_bytes(&c, frame + vi->csum_start, len - vi->csum_start);
    sum = csum_final(&c);
    if (sum == 0) {
        sum = 0xffff; /* CSUM_MANGLED_0: 0 means "no checksum" to UDP */
    }
    memcpy(frame + vi->csum_start + vi->csum_offset, &sum, 2);
    return 0;
}

/* ---- segmentation ---- */

/* One frame out: the partial checksum, if any, completed on the way. */
static int emit_whole(const struct netbe_vnet_info *vi, const struct iovec *iov,
                      int iovcnt, netbe_vnet_seg_fn *fn, void *opaque)
{
    struct iovec out[NETBE_VNET_MAX_IOV * 2 + 1];
    struct csum c = {0};
    size_t field;
    uint16_t sum;
    int n, m, rc;

    if (!(vi->flags & NETBE_VNET_F_NEEDS_CSUM)) {
        rc = fn(opaque, iov, iovcnt);
        return rc < 0 ? rc : 1;
    }
    csum_iov(&c, iov, iovcnt, vi->csum_start, vi->frame_len - vi->csum_start);
    sum = csum_final(&c);
    if (sum == 0) {
        sum = 0xffff;
    }
    field = (size_t)vi->csum_start + vi->csum_offset;
    n = netbe_iov_slice(out, NETBE_VNET_MAX_IOV, iov, iovcnt, 0, field);
    out[n].iov_base = &sum;
    out[n].iov_len = 2;
    n++;
    m = netbe_iov_slice(out + n, NETBE_VNET_MAX_IOV, iov, iovcnt, field + 2,
                        vi->frame_len - field - 2);
    rc = fn(opaque, out, n + m);
    return rc < 0 ? rc : 1;
}

/*
 * A segment's IP header: IPv4 gets @id, total length @ip_len and a new
 * header checksum; IPv6 the payload length (extension headers included).
 */
static void fix_ip(const struct netbe_vnet_info *vi, uint8_t *hdr, uint16_t id,
                   size_t ip_len)
{
    uint8_t *ip = hdr + vi->l3_off;

    if (vi->ip_version == 4) {
        ip[2] = ip_len >> 8;
        ip[3] = ip_len & 0xff;
        ip[4] = id >> 8;
        ip[5] = id & 0xff;
        ipv4_send_check(ip, (ip[0] & 0x0f) * 4u);
    } else {
        size_t plen = ip_len - 40;

        ip[4] = plen >> 8;
        ip[5] = plen & 0xff;
    }
}

/* TCP and USO: every segment a copy of all headers and gso_size bytes. */
static int segment_l4(const struct netbe_vnet_info *vi, const struct iovec *iov,
                      int iovcnt, netbe_vnet_seg_fn *fn, void *opaque)
{
    uint8_t hdr[NETBE_VNET_MAX_HDRS];
    struct iovec out[NETBE_VNET_MAX_IOV + 2];
    bool tcp = (vi->gso_type & ~NETBE_VNET_GSO_ECN) != NETBE_VNET_GSO_UDP_L4;
    size_t hl = vi->payload_off, l4 = vi->l4_off, off;
    uint8_t *th = hdr + l4;
    uint8_t *check = th + (tcp ? 16 : 6);
    uint32_t l4_len_in = vi->frame_len - vi->l4_off;
    uint16_t in_check, in_ulen = 0, id, sum;
    uint32_t seq = 0, k;
    uint8_t flags = 0;
    struct csum base = {0};

    netbe_iov_to_buf(iov, iovcnt, 0, hdr, hl);
    id = be16(hdr + vi->l3_off + 4);
    if (vi->flags & NETBE_VNET_F_NEEDS_CSUM) {
        memcpy(&in_check, check, 2);
    } else {
        /* tcp4/6_gso_segment(): the pseudo-header of the whole frame */
        struct csum p = {0};

        csum_pseudo(&p, hdr + vi->l3_off, vi->ip_version, PROTO_TCP, l4_len_in);
        in_check = fold(p.acc);
    }
    /*
     * Linux adjusts the sum it was given for each segment's length:
     * TCP by the frame's length from the TCP header, USO by the UDP
     * header's length field (csum16_sub(uh->check, uh->len)).
     */
    csum_add16(&base, in_check);
    if (tcp) {
        base.acc += (uint32_t)~htonl(l4_len_in);
        seq = be32(th + 4);
        flags = th[13];
    } else {
        memcpy(&in_ulen, th + 4, 2);
        csum_sub16(&base, in_ulen);
    }

    for (k = 0, off = hl; k < vi->nsegs; k++, off += vi->gso_size) {
        bool last = k + 1 == vi->nsegs;
        size_t n = last ? vi->frame_len - off : vi->gso_size;
        size_t seg_l4 = hl - l4 + n;
        struct csum c = base;
        int m, rc;

        fix_ip(vi, hdr, (uint16_t)(id + k), hl - vi->l3_off + n);
        if (tcp) {
            uint8_t f = flags;

            put_be32(th + 4, seq + k * (uint32_t)vi->gso_size);
            if (!last) {
                f &= ~(TCP_FIN | TCP_PSH);
            }
            if (k > 0) {
                f &= ~TCP_CWR;
            }
            th[13] = f;
            c.acc += htonl((uint32_t)seg_l4);
        } else {
            th[4] = seg_l4 >> 8;
            th[5] = seg_l4 & 0xff;
            c.acc += htons((uint16_t)seg_l4);
        }
        check[0] = check[1] = 0;
        csum_bytes(&c, th, hl - l4);
        csum_iov(&c, iov, iovcnt, off, n);
        sum = csum_final(&c);
        if (!tcp && sum == 0) {
            sum = 0xffff;
        }
        memcpy(check, &sum, 2);

        out[0].iov_base = hdr;
        out[0].iov_len = hl;
        m = netbe_iov_slice(out + 1, NETBE_VNET_MAX_IOV + 1, iov, iovcnt, off,
                            n);
        rc = fn(opaque, out, m + 1);
        if (rc < 0) {
            return rc;
        }
    }
    return (int)vi->nsegs;
}

/*
 * UFO as udp4_ufo_fragment() and inet_gso_segment(): the UDP checksum
 * computed over the whole datagram, then IPv4 fragments of gso_size
 * bytes sharing the id, DF cleared.
 */
static int segment_ufo(const struct netbe_vnet_info *vi,
                       const struct iovec *iov, int iovcnt,
                       netbe_vnet_seg_fn *fn, void *opaque)
{
    uint8_t hdr[NETBE_VNET_MAX_HDRS];
    uint8_t uh[8];
    struct iovec out[NETBE_VNET_MAX_IOV + 3];
    size_t l4 = vi->l4_off, data = vi->frame_len - l4, off;
    uint8_t *ip;
    struct csum c = {0};
    uint16_t sum;
    uint32_t k;

    netbe_iov_to_buf(iov, iovcnt, 0, hdr, l4);
    netbe_iov_to_buf(iov, iovcnt, l4, uh, 8);
    ip = hdr + vi->l3_off;
    uh[6] = uh[7] = 0;
    csum_pseudo(&c, ip, 4, PROTO_UDP, (uint32_t)data);
    csum_bytes(&c, uh, 8);
    csum_iov(&c, iov, iovcnt, l4 + 8, data - 8);
    sum = csum_final(&c);
    if (sum == 0) {
        sum = 0xffff;
    }
    memcpy(uh + 6, &sum, 2);

    for (k = 0, off = 0; k < vi->nsegs; k++, off += vi->gso_size) {
        bool last = k + 1 == vi->nsegs;
        size_t n = last ? data - off : vi->gso_size;
        uint16_t frag = (uint16_t)(off >> 3) | (last ? 0 : IP_MF);
        int cnt = 1, m, rc;

        ip[6] = frag >> 8;
        ip[7] = frag & 0xff;
        fix_ip(vi, hdr, be16(ip + 4), l4 - vi->l3_off + n);
        out[0].iov_base = hdr;
        out[0].iov_len = l4;
        if (k == 0) {
            out[cnt].iov_base = uh;
            out[cnt].iov_len = 8;
            cnt++;
            m = netbe_iov_slice(out + cnt, NETBE_VNET_MAX_IOV + 1, iov, iovcnt,
                                l4 + 8, n - 8);
        } else {
            m = netbe_iov_slice(out + cnt, NETBE_VNET_MAX_IOV + 1, iov, iovcnt,
                                l4 + off, n);
        }
        rc = fn(opaque, out, cnt + m);
        if (rc < 0) {
            return rc;
        }
    }
    return (int)vi->nsegs;
}

int netbe_vnet_segment(const struct netbe_vnet_info *vi,
                       const struct iovec *iov, int iovcnt,
                       netbe_vnet_seg_fn *fn, void *opaque)
{
    uint8_t gso = vi->gso_type & ~NETBE_VNET_GSO_ECN;

    if (iovcnt > NETBE_VNET_MAX_IOV) {
        return -NETBE_VNET_E_UNSUPPORTED;
    }
    /* what validation left must still describe this frame */
    if (vi->nsegs == 0 || netbe_iov_size(iov, iovcnt) != vi->frame_len) {
        return -NETBE_VNET_E_VNET_LEN;
    }
    if (vi->gso_type == NETBE_VNET_GSO_NONE || vi->nsegs == 1) {
        return emit_whole(vi, iov, iovcnt, fn, opaque);
    }
    if (gso == NETBE_VNET_GSO_UDP) {
        return segment_ufo(vi, iov, iovcnt, fn, opaque);
    }
    return segment_l4(vi, iov, iovcnt, fn, opaque);
}

/* ---- header length conversion ---- */

int netbe_vnet_convert(struct iovec *dst, int dst_cnt, uint8_t *hdr_buf,
                       const struct iovec *src, int src_cnt, size_t from_len,
                       bool from_be, size_t to_len, bool to_be)
{
    uint8_t hdr[NETBE_VNET_HDR_MRG_LEN];
    struct netbe_vnet_info vi;
    size_t total = netbe_iov_size(src, src_cnt);
    int used = 0, n;

    memset(&vi, 0, sizeof(vi));
    if ((from_len != 0 && from_len != NETBE_VNET_HDR_LEN &&
         from_len != NETBE_VNET_HDR_MRG_LEN) ||
        (to_len != 0 && to_len != NETBE_VNET_HDR_LEN &&
         to_len != NETBE_VNET_HDR_MRG_LEN) ||
        total < from_len) {
        return -NETBE_VNET_E_VNET_LEN;
    }
    if (from_len) {
        netbe_iov_to_buf(src, src_cnt, 0, hdr, from_len);
        netbe_vnet_hdr_decode(&vi, hdr, from_len, from_be);
    }
    if (to_len == 0 && (vi.gso_type != NETBE_VNET_GSO_NONE ||
                        (vi.flags & NETBE_VNET_F_NEEDS_CSUM))) {
        return -NETBE_VNET_E_OFFLOAD;
    }
    if (to_len) {
        if (dst_cnt < 1) {
            return -NETBE_VNET_E_NOSPACE;
        }
        netbe_vnet_hdr_encode(hdr_buf, to_len, &vi, to_be);
        dst[0].iov_base = hdr_buf;
        dst[0].iov_len = to_len;
        used = 1;
    }
    n = netbe_iov_slice(dst + used, dst_cnt - used, src, src_cnt, from_len,
                        total - from_len);
    if (n < 0) {
        return -NETBE_VNET_E_NOSPACE;
    }
    return used + n;
}
