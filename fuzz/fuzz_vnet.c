/*
 * fuzz_vnet.c - libFuzzer target for the virtio-net header code
 * (src/core/vnet.c), which reads what guests and tap peers send.
 *
 * The input is a vnet header and a frame; netbe_vnet_parse() must refuse
 * it or accept it without reading out of bounds, and for what it accepts
 * netbe_vnet_segment() and netbe_vnet_csum_complete() must not either.
 * Properties of accepted GSO frames: the segments' payloads, concatenated,
 * are the original payload; every IPv4 header checksum verifies; every
 * TCP/UDP checksum verifies when the sender's pseudo-header sum was right
 * (the target puts the right one in before segmenting: Linux, and netbe
 * with it, carries a wrong one into the segments); a UFO datagram put
 * back together verifies.  Any failure aborts.
 *
 * Input: byte 0 bit 0: 12-byte header (else 10); bit 1: big-endian;
 * bit 2: fix the pseudo-header sum; bits 3-7: how many iovec pieces the
 * frame is cut into (1 to 32).  Then the header, then the frame.
 */
#include <stdbool.h>
#include <string.h>

#include "../tests/unit/vnetlib.h"
#include "fuzzlib.h"
#include "netbe/vnet.h"

static struct vl_segs segs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    vl_segs_init(&segs);
    return 0;
}

/* The right pseudo-header sums in the checksum (and UDP length) field. */
static void fix_pseudo(uint8_t *f, const struct netbe_vnet_info *vi)
{
    uint8_t gso = vi->gso_type & ~NETBE_VNET_GSO_ECN;
    bool tcp = gso == NETBE_VNET_GSO_TCPV4 || gso == NETBE_VNET_GSO_TCPV6;
    uint32_t l4len = vi->frame_len - vi->l4_off;
    uint8_t *th = f + vi->l4_off;

    if (!(vi->flags & NETBE_VNET_F_NEEDS_CSUM)) {
        return;
    }
    if (!tcp) {
        vl_be16(th + 4, (uint16_t)l4len);
    }
    vl_be16(th + (tcp ? 16 : 6),
            (uint16_t)vl_pseudo(f + vi->l3_off, vi->ip_version, tcp ? 6 : 17,
                                l4len));
}

static void check_gso(const uint8_t *f, const struct netbe_vnet_info *vi,
                      bool fixed)
{
    uint8_t gso = vi->gso_type & ~NETBE_VNET_GSO_ECN;
    bool ufo = gso == NETBE_VNET_GSO_UDP;
    bool tcp = gso == NETBE_VNET_GSO_TCPV4 || gso == NETBE_VNET_GSO_TCPV6;
    size_t hl = ufo ? vi->l4_off : vi->payload_off;
    size_t data = 0;
    uint32_t ufo_sum = 0;
    int i;

    FZ_CHECK(segs.n == (int)vi->nsegs, "%d segments, nsegs %u", segs.n,
             vi->nsegs);
    for (i = 0; i < segs.n; i++) {
        size_t sl;
        const uint8_t *g = vl_seg(&segs, i, &sl);
        const uint8_t *ip = g + vi->l3_off;
        size_t chunk;

        FZ_CHECK(sl > hl && sl - hl <= vi->gso_size, "segment %d: %zu bytes", i,
                 sl);
        chunk = sl - hl;
        FZ_CHECK(i + 1 == segs.n || chunk == vi->gso_size, "short segment");
        FZ_CHECK(memcmp(g, f, vi->l3_off) == 0, "MAC header changed");
        if (vi->ip_version == 4) {
            FZ_CHECK(vl_sum(0, ip, vi->l4_off - vi->l3_off) == 0xffff,
                     "IPv4 header checksum of segment %d", i);
            FZ_CHECK(vl_get16(ip + 2) == sl - vi->l3_off, "IPv4 length");
        } else {
            FZ_CHECK(vl_get16(ip + 4) == sl - vi->l3_off - 40, "IPv6 length");
        }
        if (ufo) {
            if (i == 0) {
                FZ_CHECK(memcmp(g + hl, f + hl, 6) == 0, "UDP header");
                FZ_CHECK(memcmp(g + hl + 8, f + hl + 8, chunk - 8) == 0,
                         "UFO payload of fragment 0");
            } else {
                FZ_CHECK(memcmp(g + hl, f + hl + data, chunk) == 0,
                         "UFO payload of fragment %d", i);
            }
            /* fragments are multiples of 8 bytes: sums add up */
            ufo_sum = vl_sum(ufo_sum, g + hl, chunk);
        } else {
            FZ_CHECK(memcmp(g + hl, f + hl + data, chunk) == 0,
                     "payload of segment %d", i);
            if (fixed || (tcp && !(vi->flags & NETBE_VNET_F_NEEDS_CSUM))) {
                uint32_t n = (uint32_t)(sl - vi->l4_off);

                FZ_CHECK(vl_sum(vl_pseudo(ip, vi->ip_version, tcp ? 6 : 17, n),
                                g + vi->l4_off, n) == 0xffff,
                         "L4 checksum of segment %d", i);
            }
        }
        data += chunk;
    }
    FZ_CHECK(data == vi->frame_len - hl, "payload %zu of %zu", data,
             vi->frame_len - hl);
    if (ufo) {
        uint32_t n = vi->frame_len - vi->l4_off;

        FZ_CHECK(vl_sum(vl_pseudo(segs.data + vi->l3_off, 4, 17, n) + ufo_sum,
                        NULL, 0) == 0xffff,
                 "UFO datagram checksum");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netbe_vnet_info vi;
    struct iovec iov[NETBE_VNET_MAX_IOV];
    size_t hlen, flen, off = 0;
    bool be, fix;
    uint8_t *f;
    int pieces, i, rc;

    if (size < 1) {
        return 0;
    }
    hlen = data[0] & 1 ? NETBE_VNET_HDR_MRG_LEN : NETBE_VNET_HDR_LEN;
    be = data[0] & 2;
    fix = data[0] & 4;
    pieces = 1 + (data[0] >> 3);
    data++;
    size--;
    if (size < hlen) {
        return 0;
    }
    flen = size - hlen;
    /* a copy of its own size, so ASan sees any read past the frame */
    f = malloc(flen ? flen : 1);
    FZ_CHECK(f, "malloc");
    memcpy(f, data + hlen, flen);
    for (i = 0; i < pieces; i++) {
        size_t cut = i + 1 == pieces ? flen - off : (flen / pieces) | 1;

        if (cut > flen - off) {
            cut = flen - off;
        }
        iov[i].iov_base = f + off;
        iov[i].iov_len = cut;
        off += cut;
    }
    netbe_vnet_hdr_decode(&vi, data, hlen, be);
    rc = netbe_vnet_validate(&vi, iov, pieces);
    if (rc == 0) {
        bool gso = vi.gso_type != NETBE_VNET_GSO_NONE && vi.nsegs > 1;

        if (gso && fix) {
            fix_pseudo(f, &vi);
        }
        vl_segs_init(&segs);
        rc = netbe_vnet_segment(&vi, iov, pieces, vl_collect, &segs);
        FZ_CHECK(rc == (int)vi.nsegs, "segment returned %d, nsegs %u", rc,
                 vi.nsegs);
        if (gso) {
            check_gso(f, &vi, fix);
        } else {
            /* one frame: the same as completing the checksum in place */
            FZ_CHECK(netbe_vnet_csum_complete(f, flen, &vi) == 0, "csum");
            FZ_CHECK(segs.used == flen && !memcmp(segs.data, f, flen),
                     "whole frame differs");
        }
    } else {
        FZ_CHECK(rc < 0 && vi.nsegs == 0, "validate returned %d", rc);
        /* what failed validation is not segmented */
        vl_segs_init(&segs);
        FZ_CHECK(netbe_vnet_segment(&vi, iov, pieces, vl_collect, &segs) < 0 &&
                     segs.n == 0,
                 "segmented an invalid frame");
    }
    free(f);
    return 0;
}
