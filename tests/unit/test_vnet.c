/*
 * test_vnet.c - virtio-net headers and software segmentation (vnet.c):
 * header byte order, every malformed header refused with its own code,
 * checksum completion against a byte-wise reference, and segments checked
 * field by field for each gso_type (the kernel comparison is in
 * test_vnet_kernel.c): headers copied, lengths, ids, sequence numbers,
 * flags, checksums that verify, payloads that add up to the original.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/util.h"
#include "vnetlib.h"

static uint8_t frame[VL_BUF];
static struct vl_segs segs;

static void test_hdr_byte_order(void **state)
{
    static const uint8_t le[12] = {1,    0x81, 0x36, 0, 0xa8, 5,
                                   0x22, 0,    0x10, 0, 3,    0};
    static const uint8_t be[12] = {1, 0x81, 0, 0x36, 5, 0xa8,
                                   0, 0x22, 0, 0x10, 0, 3};
    struct netbe_vnet_info vi;
    uint8_t out[12];

    assert_int_equal(netbe_vnet_hdr_decode(&vi, le, 12, false), 0);
    assert_int_equal(vi.flags, NETBE_VNET_F_NEEDS_CSUM);
    assert_int_equal(vi.gso_type, NETBE_VNET_GSO_TCPV4 | NETBE_VNET_GSO_ECN);
    assert_int_equal(vi.hdr_len, 54);
    assert_int_equal(vi.gso_size, 1448);
    assert_int_equal(vi.csum_start, 34);
    assert_int_equal(vi.csum_offset, 16);
    assert_int_equal(vi.num_buffers, 3);
    assert_int_equal(netbe_vnet_hdr_encode(out, 12, &vi, true), 0);
    assert_memory_equal(out, be, 12);
    assert_int_equal(netbe_vnet_hdr_decode(&vi, be, 10, true), 0);
    assert_int_equal(vi.gso_size, 1448);
    assert_int_equal(vi.num_buffers, 0); /* not in the 10-byte header */
    memset(out, 0xee, sizeof(out));
    assert_int_equal(netbe_vnet_hdr_encode(out, 10, &vi, false), 0);
    assert_memory_equal(out, le, 10);
    assert_int_equal(out[10], 0xee);
    /* read in the wrong byte order, the sizes are nonsense */
    assert_int_equal(netbe_vnet_hdr_decode(&vi, be, 10, false), 0);
    assert_int_equal(vi.gso_size, 0xa805);
    assert_int_equal(netbe_vnet_hdr_decode(&vi, le, 11, false),
                     -NETBE_VNET_E_VNET_LEN);
    assert_int_equal(netbe_vnet_hdr_encode(out, 0, &vi, false),
                     -NETBE_VNET_E_VNET_LEN);
    assert_string_equal(netbe_vnet_strerror(-NETBE_VNET_E_GSO_SIZE),
                        "vnet header: bad gso_size");
    assert_string_equal(netbe_vnet_strerror(999), "vnet: unknown error");
}

static struct vl_spec base(int ip, bool udp, uint8_t gso, size_t payload,
                           uint16_t mss)
{
    struct vl_spec s;

    memset(&s, 0, sizeof(s));
    s.ip = ip;
    s.udp = udp;
    s.gso_type = gso;
    s.gso_size = mss;
    s.payload = payload;
    s.needs_csum = true;
    s.tcp_flags = 0x80 | 0x10 | 0x08 | 0x01; /* CWR ACK PSH FIN */
    s.seq = 0xfffffc00u;
    s.ip_id = 0xffff;
    s.df = true;
    return s;
}

/* A checksum over a pseudo header and @n bytes verifies (sums to ~0). */
static bool l4_ok(const uint8_t *ip, int version, uint8_t proto,
                  const uint8_t *l4, size_t n)
{
    return vl_sum(vl_pseudo(ip, version, proto, (uint32_t)n), l4, n) == 0xffff;
}

/*
 * Segment @s's frame (cut into @pieces iovec entries) and check every
 * field of every segment; Return: the number of segments.
 */
static int check_segments(const struct vl_spec *s, int pieces)
{
    struct vl_layout l = vl_layout_of(s);
    struct netbe_vnet_info vi;
    struct iovec iov[NETBE_VNET_MAX_IOV];
    size_t len = vl_build(frame, s, &vi), off = 0, data = 0;
    bool ufo;
    size_t hl;
    int i, n, rc;

    for (i = 0; i < pieces; i++) {
        size_t cut = i + 1 == pieces ? len - off : (len / pieces) | 1;

        iov[i].iov_base = frame + off;
        iov[i].iov_len = cut;
        off += cut;
    }
    assert_int_equal(netbe_vnet_validate(&vi, iov, pieces), 0);
    assert_int_equal(vi.l3_off, l.l3);
    assert_int_equal(vi.l4_off, l.l4);
    assert_int_equal(vi.payload_off, l.pl);
    if (vi.nsegs == 1) {
        /* not really GSO: the frame as it is, its checksum completed */
        struct iovec whole = {frame, len};

        vl_segs_init(&segs);
        assert_int_equal(
            netbe_vnet_segment(&vi, iov, pieces, vl_collect, &segs), 1);
        assert_int_equal(netbe_vnet_csum_complete(frame, len, &vi), 0);
        assert_int_equal(segs.used, len);
        assert_memory_equal(segs.data, whole.iov_base, len);
        return 1;
    }
    ufo = s->gso_type == NETBE_VNET_GSO_UDP;
    hl = ufo ? l.l4 : l.pl;
    vl_segs_init(&segs);
    n = netbe_vnet_segment(&vi, iov, pieces, vl_collect, &segs);
    assert_int_equal(n, vi.nsegs);
    assert_int_equal(segs.n, n);

    for (i = 0; i < n; i++) {
        size_t sl;
        const uint8_t *g = vl_seg(&segs, i, &sl);
        const uint8_t *ip = g + l.l3, *th = g + l.l4;
        size_t chunk = sl - hl;
        bool last = i + 1 == n;

        assert_true(sl > hl);
        if (!last) {
            assert_int_equal(chunk, s->gso_size);
        }
        /* MAC and VLAN tags as they were */
        assert_memory_equal(g, frame, l.l3);
        if (s->ip == 4) {
            uint16_t frag = vl_get16(ip + 6);

            assert_int_equal(vl_get16(ip + 2), sl - l.l3);
            assert_int_equal(vl_sum(0, ip, l.l4 - l.l3), 0xffff);
            assert_memory_equal(ip + 12, frame + l.l3 + 12, 8);
            assert_memory_equal(ip + 20, frame + l.l3 + 20, s->ip_opt);
            if (ufo) {
                assert_int_equal(vl_get16(ip + 4), s->ip_id);
                assert_int_equal(frag & 0x1fff, data / 8);
                assert_int_equal(!!(frag & 0x2000), !last);
                assert_int_equal(frag & 0x4000, 0); /* DF cleared */
            } else {
                assert_int_equal(vl_get16(ip + 4), (uint16_t)(s->ip_id + i));
                assert_int_equal(frag, s->df ? 0x4000 : 0);
            }
        } else {
            assert_int_equal(vl_get16(ip + 4), sl - l.l3 - 40);
            assert_memory_equal(ip + 6, frame + l.l3 + 6, l.l4 - l.l3 - 6);
        }
        if (ufo) {
            /* the datagram in pieces: its payload, in order */
            if (i == 0) {
                assert_memory_equal(th, frame + l.l4, 6);
                assert_memory_equal(th + 8, frame + l.l4 + 8, chunk - 8);
            } else {
                assert_memory_equal(th, frame + l.l4 + data, chunk);
            }
        } else if (s->udp) {
            assert_int_equal(vl_get16(th + 4), sl - l.l4);
            assert_true(l4_ok(ip, s->ip, 17, th, sl - l.l4));
            assert_memory_equal(g + l.pl, frame + l.pl + data, chunk);
        } else {
            uint8_t f = s->tcp_flags;

            if (!last) {
                f &= ~0x09;
            }
            if (i > 0) {
                f &= ~0x80;
            }
            assert_int_equal(th[13], f);
            assert_int_equal(
                ((uint32_t)th[4] << 24 | th[5] << 16 | th[6] << 8 | th[7]),
                (uint32_t)(s->seq + data));
            assert_memory_equal(th + 8, frame + l.l4 + 8, 5);
            assert_memory_equal(th + 14, frame + l.l4 + 14, 2);
            assert_memory_equal(th + 18, frame + l.l4 + 18, l.pl - l.l4 - 18);
            assert_true(l4_ok(ip, s->ip, 6, th, sl - l.l4));
            assert_memory_equal(g + l.pl, frame + l.pl + data, chunk);
        }
        data += chunk;
    }
    if (ufo) {
        /* the reassembled datagram's checksum verifies */
        static uint8_t dgram[VL_BUF];
        size_t o = 0;

        for (i = 0; i < n; i++) {
            size_t sl;
            const uint8_t *g = vl_seg(&segs, i, &sl);

            memcpy(dgram + o, g + l.l4, sl - l.l4);
            o += sl - l.l4;
        }
        assert_int_equal(o, len - l.l4);
        assert_true(l4_ok(segs.data + l.l3, 4, 17, dgram, o));
        assert_int_equal(data, len - l.l4);
    } else {
        assert_int_equal(data, s->payload);
    }

    /* any cut of the input gives the same segments */
    if (pieces > 1) {
        static struct vl_segs one;
        struct iovec whole = {frame, len};

        vl_segs_init(&one);
        rc = netbe_vnet_segment(&vi, &whole, 1, vl_collect, &one);
        assert_int_equal(rc, n);
        assert_int_equal(one.used, segs.used);
        assert_memory_equal(one.data, segs.data, segs.used);
    }
    return n;
}

static void test_tcp4(void **state)
{
    struct vl_spec s = base(4, false, NETBE_VNET_GSO_TCPV4, 4000, 1448);

    assert_int_equal(check_segments(&s, 1), 3); /* odd last: 1104 */
    s.tcp_opt = 12;                             /* timestamps */
    s.ip_opt = 8;
    s.gso_type |= NETBE_VNET_GSO_ECN;
    assert_int_equal(check_segments(&s, 7), 3);
    s.payload = 2 * 1448; /* exact */
    s.df = false;
    assert_int_equal(check_segments(&s, 3), 2);
    s.payload = 65000;
    s.vlan = 2;
    assert_int_equal(check_segments(&s, 5), 45);
    s.needs_csum = false;
    s.vlan = 0;
    s.gso_size = 1001; /* odd: payload slices start at odd offsets */
    assert_int_equal(check_segments(&s, 64), 65);
}

static void test_tcp6(void **state)
{
    struct vl_spec s = base(6, false, NETBE_VNET_GSO_TCPV6, 9001, 1440);

    assert_int_equal(check_segments(&s, 1), 7);
    s.n_ext = 3;
    s.ext[0] = 0;
    s.ext[1] = 43;
    s.ext[2] = 60;
    s.tcp_opt = 12;
    assert_int_equal(check_segments(&s, 4), 7);
    s.needs_csum = false;
    assert_int_equal(check_segments(&s, 2), 7);
}

static void test_uso(void **state)
{
    struct vl_spec s = base(4, true, NETBE_VNET_GSO_UDP_L4, 3001, 1000);

    assert_int_equal(check_segments(&s, 1), 4); /* last: 1 byte */
    s.ip_opt = 12;
    assert_int_equal(check_segments(&s, 9), 4);
    s.ip = 6;
    s.ip_opt = 0;
    s.n_ext = 1;
    s.ext[0] = 60;
    s.payload = 60000;
    assert_int_equal(check_segments(&s, 3), 60);
}

static void test_ufo(void **state)
{
    struct vl_spec s = base(4, true, NETBE_VNET_GSO_UDP, 4000, 1480);

    assert_int_equal(check_segments(&s, 1), 3);
    s.needs_csum = false;
    s.ip_opt = 4;
    assert_int_equal(check_segments(&s, 5), 3);
    s.payload = 1480 - 8; /* the datagram fits: one frame, as it is */
    s.needs_csum = true;
    assert_int_equal(check_segments(&s, 1), 1);
}

/* The checksum finished in place equals the byte-wise reference. */
static void test_csum_complete(void **state)
{
    static const size_t sizes[] = {1, 2, 3, 7, 100, 1471, 9000, 65000};
    size_t k;

    for (k = 0; k < NETBE_ARRAY_SIZE(sizes); k++) {
        struct vl_spec s =
            base(k & 1 ? 6 : 4, k & 2, NETBE_VNET_GSO_NONE, sizes[k], 0);
        struct vl_layout l = vl_layout_of(&s);
        struct netbe_vnet_info vi;
        struct iovec iov;
        uint16_t ref;
        size_t len;

        s.seed = (unsigned)k;
        len = vl_build(frame, &s, &vi);
        /* the reference: pseudo header + L4 with the field zero */
        frame[l.l4 + vi.csum_offset] = frame[l.l4 + vi.csum_offset + 1] = 0;
        ref = (uint16_t)~vl_sum(vl_pseudo(frame + l.l3, s.ip, s.udp ? 17 : 6,
                                          (uint32_t)(len - l.l4)),
                                frame + l.l4, len - l.l4);
        if (ref == 0) {
            ref = 0xffff;
        }
        len = vl_build(frame, &s, &vi);
        iov.iov_base = frame;
        iov.iov_len = len;
        assert_int_equal(netbe_vnet_validate(&vi, &iov, 1), 0);
        /* through netbe_vnet_segment(): one frame, completed */
        vl_segs_init(&segs);
        assert_int_equal(netbe_vnet_segment(&vi, &iov, 1, vl_collect, &segs),
                         1);
        assert_int_equal(netbe_vnet_csum_complete(frame, len, &vi), 0);
        assert_int_equal(vl_get16(frame + l.l4 + vi.csum_offset), ref);
        assert_int_equal(segs.used, len);
        assert_memory_equal(segs.data, frame, len);
    }

    /* anywhere in the frame, over [csum_start, end) */
    {
        struct netbe_vnet_info vi = {.flags = NETBE_VNET_F_NEEDS_CSUM,
                                     .csum_start = 3,
                                     .csum_offset = 1};
        uint8_t b[6] = {0, 0, 0, 0x12, 0x00, 0x00};

        assert_int_equal(netbe_vnet_csum_complete(b, 6, &vi), 0);
        /* ~(0x1200 + 0x0000 + 0x0000) stored at 4: but the field held 0 */
        assert_int_equal(b[4] << 8 | b[5], 0xedff);
        assert_int_equal(netbe_vnet_csum_complete(b, 5, &vi),
                         -NETBE_VNET_E_CSUM_RANGE);
        vi.flags = 0;
        assert_int_equal(netbe_vnet_csum_complete(b, 1, &vi), 0);
    }
    /* a sum of zero becomes 0xffff, as Linux's CSUM_MANGLED_0 */
    {
        struct netbe_vnet_info vi = {.flags = NETBE_VNET_F_NEEDS_CSUM,
                                     .csum_start = 0,
                                     .csum_offset = 2};
        uint8_t b[4] = {0xff, 0xff, 0, 0};

        assert_int_equal(netbe_vnet_csum_complete(b, 4, &vi), 0);
        assert_int_equal(b[2] << 8 | b[3], 0xffff);
    }
}

/* Build @s, change @vi with @mutate, expect @err from validation. */
static void expect_err(const struct vl_spec *s, int field, int value,
                       size_t cut, int err)
{
    struct netbe_vnet_info vi;
    struct iovec iov;
    size_t len = vl_build(frame, s, &vi);
    int rc;

    switch (field) {
    case 0:
        break;
    case 1:
        vi.gso_type = (uint8_t)value;
        break;
    case 2:
        vi.gso_size = (uint16_t)value;
        break;
    case 3:
        vi.hdr_len = (uint16_t)(len + value);
        break;
    case 4:
        vi.csum_start = (uint16_t)value;
        break;
    case 5:
        vi.csum_offset = (uint16_t)value;
        break;
    case 6:
        vi.flags = (uint8_t)value;
        break;
    default:
        frame[field] = (uint8_t)value; /* a byte of the frame */
        break;
    }
    if (cut) {
        /* a cut frame: let the headers be what is missing, not hdr_len */
        vi.hdr_len = 0;
        vi.flags = 0;
    }
    iov.iov_base = frame;
    iov.iov_len = cut ? cut : len;
    rc = netbe_vnet_validate(&vi, &iov, 1);
    if (rc != -err) {
        fail_msg("field %d value %d cut %zu: got %d (%s), want %d (%s)", field,
                 value, cut, rc, netbe_vnet_strerror(rc), -err,
                 netbe_vnet_strerror(err));
    }
    assert_int_equal(vi.nsegs, 0);
    /* and segmenting what did not validate does nothing */
    vl_segs_init(&segs);
    assert_true(netbe_vnet_segment(&vi, &iov, 1, vl_collect, &segs) < 0);
    assert_int_equal(segs.n, 0);
}

static void test_malformed(void **state)
{
    struct vl_spec t4 = base(4, false, NETBE_VNET_GSO_TCPV4, 3000, 1448);
    struct vl_spec t6 = base(6, false, NETBE_VNET_GSO_TCPV6, 3000, 1448);
    struct vl_spec u4 = base(4, true, NETBE_VNET_GSO_UDP_L4, 3000, 1448);
    struct vl_spec ufo = base(4, true, NETBE_VNET_GSO_UDP, 3000, 1448);
    struct vl_spec u6 = base(6, true, NETBE_VNET_GSO_UDP, 3000, 1448);
    struct vl_spec none = base(4, true, NETBE_VNET_GSO_NONE, 100, 0);
    struct vl_layout l = vl_layout_of(&t4);

    expect_err(&t4, 1, 2, 0, NETBE_VNET_E_GSO_TYPE);
    expect_err(&t4, 1, 6, 0, NETBE_VNET_E_GSO_TYPE);
    expect_err(&t4, 1, 0x80, 0, NETBE_VNET_E_GSO_TYPE);
    expect_err(&t4, 1, 0x41, 0, NETBE_VNET_E_GSO_TYPE);
    expect_err(&u4, 1, 0x85, 0, NETBE_VNET_E_GSO_TYPE);
    expect_err(&t4, 2, 0, 0, NETBE_VNET_E_GSO_SIZE);
    expect_err(&t4, 2, 0xffff, 0, NETBE_VNET_E_GSO_SIZE);
    expect_err(&ufo, 2, 1004, 0, NETBE_VNET_E_GSO_SIZE); /* not 8k */
    expect_err(&u4, 2, 20, 0, NETBE_VNET_E_GSO_SIZE);    /* 150 segments */
    expect_err(&t4, 3, 1, 0, NETBE_VNET_E_HDR_LEN);
    expect_err(&none, 3, 1, 0, NETBE_VNET_E_HDR_LEN);
    expect_err(&none, 4, 200, 0, NETBE_VNET_E_CSUM_RANGE);
    expect_err(&none, 5, 0xffff, 0, NETBE_VNET_E_CSUM_RANGE);
    expect_err(&t4, 4, (int)l.l4 + 1, 0, NETBE_VNET_E_CSUM_PLACE);
    expect_err(&t4, 5, 6, 0, NETBE_VNET_E_CSUM_PLACE);
    expect_err(&u4, 5, 16, 0, NETBE_VNET_E_CSUM_PLACE);
    expect_err(&u4, 6, 0, 0, NETBE_VNET_E_CSUM_REQUIRED);
    expect_err(&t4, 13, 0x06, 0, NETBE_VNET_E_L2);        /* ethertype 0x0806 */
    expect_err(&t4, 0, 0, 13, NETBE_VNET_E_L2);           /* no MAC header */
    expect_err(&t4, 0, 0, l.l3 + 10, NETBE_VNET_E_L3);    /* cut IP */
    expect_err(&t4, (int)l.l3, 0x44, 0, NETBE_VNET_E_L3); /* ihl 4 */
    expect_err(&t4, (int)l.l3, 0x65, 0, NETBE_VNET_E_L3); /* version 6 */
    expect_err(&t4, (int)l.l3, 0x4f, l.l3 + 40, NETBE_VNET_E_L3); /* ihl */
    expect_err(&t4, (int)l.l3 + 9, 17, 0, NETBE_VNET_E_L3);   /* UDP in TCP */
    expect_err(&t4, (int)l.l3 + 6, 0x20, 0, NETBE_VNET_E_L3); /* MF */
    expect_err(&t4, 1, 4, 0, NETBE_VNET_E_L3);              /* TCPV6 on IPv4 */
    expect_err(&t6, 1, 1, 0, NETBE_VNET_E_L3);              /* TCPV4 on IPv6 */
    expect_err(&t6, (int)l.l3 + 6, 44, 0, NETBE_VNET_E_L3); /* fragment */
    expect_err(&t4, (int)l.l4 + 12, 0x40, 0, NETBE_VNET_E_L4); /* doff 4 */
    expect_err(&t4, 0, 0, l.l4 + 19, NETBE_VNET_E_L4);         /* cut TCP */
    expect_err(&u6, 0, 0, 0, NETBE_VNET_E_UNSUPPORTED);        /* UFO over v6 */
    /* VLAN-tagged GSO without NEEDS_CSUM: Linux refuses it too */
    t4.vlan = 1;
    expect_err(&t4, 6, 0, 0, NETBE_VNET_E_CSUM_REQUIRED);
    t4.vlan = 0;
    /* IPv6 extension header running past the end */
    t6.n_ext = 1;
    t6.ext[0] = 60;
    expect_err(&t6, (int)l.l3 + 41, 200, l.l3 + 56, NETBE_VNET_E_L3);
    /* inside the frame but longer than netbe takes */
    expect_err(&t6, (int)l.l3 + 41, 200, 0, NETBE_VNET_E_UNSUPPORTED);
    /* too long: NETBE_NET_BUFSIZE, and IP's 64 KiB */
    t4.payload = NETBE_NET_BUFSIZE;
    expect_err(&t4, 0, 0, 0, NETBE_VNET_E_TOO_BIG);
    t4.payload = 65535 - 20 - 20 + 1;
    expect_err(&t4, 0, 0, 0, NETBE_VNET_E_TOO_BIG);
    /* headers longer than netbe takes: IPv6 with 30 ext headers */
    t6.n_ext = 0;
    {
        struct netbe_vnet_info vi;
        struct iovec iov = {frame, 0};
        size_t len = vl_build(frame, &t6, &vi);
        int k;

        memmove(frame + l.l3 + 40 + 30 * 8, frame + l.l3 + 40, len - l.l3 - 40);
        for (k = 0; k < 30; k++) {
            uint8_t *e = frame + l.l3 + 40 + 8 * k;

            memset(e, 0, 8);
            e[0] = k == 29 ? 6 : 60;
        }
        frame[l.l3 + 6] = 60;
        vi.csum_start = (uint16_t)(l.l3 + 40 + 30 * 8);
        iov.iov_len = len + 30 * 8;
        assert_int_equal(netbe_vnet_validate(&vi, &iov, 1),
                         -NETBE_VNET_E_UNSUPPORTED);
    }
}

static void test_parse_and_convert(void **state)
{
    struct vl_spec s = base(4, false, NETBE_VNET_GSO_TCPV4, 3000, 1448);
    struct netbe_vnet_info vi, got;
    uint8_t hdr[12], nh[12];
    struct iovec in[3], out[5];
    size_t len = vl_build(frame, &s, &vi);
    int n;

    vi.num_buffers = 7;
    netbe_vnet_hdr_encode(hdr, 12, &vi, true);
    in[0].iov_base = hdr;
    in[0].iov_len = 5; /* the header split across entries */
    in[1].iov_base = hdr + 5;
    in[1].iov_len = 7;
    in[2].iov_base = frame;
    in[2].iov_len = len;
    assert_int_equal(netbe_vnet_parse(&got, in, 3, 12, true), 0);
    assert_int_equal(got.gso_size, 1448);
    assert_int_equal(got.num_buffers, 7);
    assert_int_equal(got.nsegs, 3);
    assert_int_equal(got.payload_off, 54);
    /* the same bytes read as little-endian: hdr_len 0x3600 */
    assert_int_equal(netbe_vnet_parse(&got, in, 3, 12, false),
                     -NETBE_VNET_E_HDR_LEN);
    assert_true(netbe_vnet_parse(&got, in, 3, 12, false) < 0);
    assert_int_equal(netbe_vnet_parse(&got, in, 1, 12, true),
                     -NETBE_VNET_E_VNET_LEN);
    assert_int_equal(netbe_vnet_parse(&got, in, 3, 11, true),
                     -NETBE_VNET_E_VNET_LEN);

    /* 12 big-endian -> 10 little-endian: fields kept, frame not copied */
    n = netbe_vnet_convert(out, 5, nh, in, 3, 12, true, 10, false);
    assert_int_equal(n, 2);
    assert_ptr_equal(out[0].iov_base, nh);
    assert_int_equal(out[0].iov_len, 10);
    assert_ptr_equal(out[1].iov_base, frame);
    assert_int_equal(out[1].iov_len, len);
    assert_int_equal(netbe_vnet_hdr_decode(&got, nh, 10, false), 0);
    assert_int_equal(got.gso_size, 1448);
    assert_int_equal(got.csum_start, vi.csum_start);
    /* 10 -> 12: num_buffers 0 */
    {
        struct iovec out2[3];

        assert_int_equal(
            netbe_vnet_convert(out2, 3, hdr, out, 2, 10, false, 12, false), 2);
    }
    assert_int_equal(netbe_vnet_hdr_decode(&got, hdr, 12, false), 0);
    assert_int_equal(got.num_buffers, 0);
    assert_int_equal(got.gso_type, NETBE_VNET_GSO_TCPV4);
    /* a GSO frame never loses its header */
    assert_int_equal(netbe_vnet_convert(out, 5, nh, in, 3, 12, true, 0, false),
                     -NETBE_VNET_E_OFFLOAD);
    /* a plain one may; and 0 -> 10 prepends an empty header */
    memset(&vi, 0, sizeof(vi));
    netbe_vnet_hdr_encode(hdr, 12, &vi, false);
    in[0].iov_base = hdr;
    in[0].iov_len = 12;
    in[1].iov_base = frame;
    in[1].iov_len = 60;
    n = netbe_vnet_convert(out, 5, nh, in, 2, 12, false, 0, false);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0].iov_base, frame);
    memset(nh, 0xaa, sizeof(nh));
    n = netbe_vnet_convert(out, 5, nh, out, 1, 0, false, 10, false);
    assert_int_equal(n, 2);
    assert_memory_equal(nh, "\0\0\0\0\0\0\0\0\0\0", 10);
    assert_int_equal(
        netbe_vnet_convert(out, 1, nh, in, 2, 12, false, 10, false),
        -NETBE_VNET_E_NOSPACE);
    assert_int_equal(
        netbe_vnet_convert(out, 5, nh, in, 2, 11, false, 10, false),
        -NETBE_VNET_E_VNET_LEN);
    in[0].iov_len = 5;
    assert_int_equal(
        netbe_vnet_convert(out, 5, nh, in, 1, 12, false, 10, false),
        -NETBE_VNET_E_VNET_LEN);
}

static int stop_at_two(void *opaque, const struct iovec *iov, int iovcnt)
{
    int *calls = opaque;

    return ++*calls == 2 ? -77 : 0;
}

static void test_segment_contract(void **state)
{
    struct vl_spec s = base(4, false, NETBE_VNET_GSO_TCPV4, 10000, 1000);
    struct netbe_vnet_info vi;
    struct iovec iov = {frame, 0};
    int calls = 0;

    iov.iov_len = vl_build(frame, &s, &vi);
    assert_int_equal(netbe_vnet_validate(&vi, &iov, 1), 0);
    /* the callback stops it */
    assert_int_equal(netbe_vnet_segment(&vi, &iov, 1, stop_at_two, &calls),
                     -77);
    assert_int_equal(calls, 2);
    /* a frame changed in length since validation is refused */
    iov.iov_len--;
    assert_true(netbe_vnet_segment(&vi, &iov, 1, stop_at_two, &calls) < 0);
    assert_int_equal(calls, 2);
}

static int teardown(void **state)
{
    free(segs.data);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hdr_byte_order),
        cmocka_unit_test(test_tcp4),
        cmocka_unit_test(test_tcp6),
        cmocka_unit_test(test_uso),
        cmocka_unit_test(test_ufo),
        cmocka_unit_test(test_csum_complete),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_parse_and_convert),
        cmocka_unit_test(test_segment_contract),
    };

    return cmocka_run_group_tests(tests, NULL, teardown);
}
