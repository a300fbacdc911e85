/*
 * netbe/vnet.h - virtio-net headers, checksum completion and software
 * segmentation (DESIGN invariant 5, issue 7).
 *
 * Pure functions on frames described as iovecs: no allocation, no I/O,
 * nothing kept between calls, so any loop (or thread) may use them.  What
 * a peer sends is untrusted: netbe_vnet_parse() / netbe_vnet_validate()
 * check the header against the frame before anything else reads it, and
 * the other functions take only what validation accepted.
 *
 * Segmentation follows Linux's software GSO (tcp_gso_segment,
 * __udp_gso_segment, udp4_ufo_fragment, inet_gso_segment,
 * ipv6_gso_segment) field for field, so that a peer without offloads sees
 * what it would see behind a Linux host; the unit tests compare with the
 * running kernel.  Where netbe is stricter than Linux (it refuses a header
 * Linux accepts) the error code says why; see docs in vnet.c.
 */
#ifndef NETBE_VNET_H
#define NETBE_VNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* flags, as the virtio spec's VIRTIO_NET_HDR_F_* */
#define NETBE_VNET_F_NEEDS_CSUM 1u
#define NETBE_VNET_F_DATA_VALID 2u
#define NETBE_VNET_F_RSC_INFO 4u

/* gso_type, as the virtio spec's VIRTIO_NET_HDR_GSO_* */
#define NETBE_VNET_GSO_NONE 0u
#define NETBE_VNET_GSO_TCPV4 1u
#define NETBE_VNET_GSO_UDP 3u /* UFO: IPv4 fragments of one datagram */
#define NETBE_VNET_GSO_TCPV6 4u
#define NETBE_VNET_GSO_UDP_L4 5u /* USO: one UDP datagram per segment */
#define NETBE_VNET_GSO_ECN 0x80u

/* The two header lengths: virtio_net_hdr, and with num_buffers. */
#define NETBE_VNET_HDR_LEN 10
#define NETBE_VNET_HDR_MRG_LEN 12

/*
 * Headers (MAC to the end of TCP/UDP) longer than this are refused for
 * GSO frames: a segment's header copy lives on the stack.
 */
#define NETBE_VNET_MAX_HDRS 256
/* The most iovec entries netbe_vnet_segment() takes in one frame. */
#define NETBE_VNET_MAX_IOV 64
/* UDP_MAX_SEGMENTS of Linux: the most segments of one USO frame. */
#define NETBE_VNET_USO_MAX_SEGS 128

/*
 * The header on the wire.  The 16-bit fields are in the byte order the
 * peers agreed on: little-endian with VIRTIO_F_VERSION_1, the guest's own
 * (big-endian for legacy big-endian guests) before it.
 */
struct netbe_vnet_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};

/* The 12-byte header (mergeable rx buffers, VERSION_1). */
struct netbe_vnet_hdr_mrg_rxbuf {
    struct netbe_vnet_hdr hdr;
    uint16_t num_buffers;
};

/* C11's _Static_assert is static_assert in C++ */
#ifdef __cplusplus
#define NETBE_STATIC_ASSERT static_assert
#else
#define NETBE_STATIC_ASSERT _Static_assert
#endif
NETBE_STATIC_ASSERT(sizeof(struct netbe_vnet_hdr) == NETBE_VNET_HDR_LEN,
                    "virtio_net_hdr is 10 bytes");
NETBE_STATIC_ASSERT(sizeof(struct netbe_vnet_hdr_mrg_rxbuf) ==
                        NETBE_VNET_HDR_MRG_LEN,
                    "virtio_net_hdr_mrg_rxbuf is 12 bytes");

/*
 * A header decoded to host order, and what netbe_vnet_validate() learnt
 * of the frame (offsets from the start of the frame, after the header).
 */
struct netbe_vnet_info {
    uint8_t flags;
    uint8_t gso_type; /* with NETBE_VNET_GSO_ECN */
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
    /* filled by validation */
    uint32_t frame_len;   /* bytes of the frame */
    uint16_t l3_off;      /* IPv4/IPv6 header (GSO frames only) */
    uint16_t l4_off;      /* TCP/UDP header */
    uint16_t payload_off; /* first byte after the TCP/UDP header */
    uint8_t ip_version;   /* 4 or 6; 0 when not parsed */
    uint32_t nsegs;       /* frames netbe_vnet_segment() will make (>= 1) */
};

/* What is wrong with a header; netbe_vnet_strerror() says it in words. */
enum netbe_vnet_err {
    NETBE_VNET_OK = 0,
    NETBE_VNET_E_VNET_LEN = 1,  /* header length not 10/12, frame shorter */
    NETBE_VNET_E_GSO_TYPE,      /* unknown gso_type or ECN bit */
    NETBE_VNET_E_GSO_SIZE,      /* gso_size 0 with GSO, or unusable */
    NETBE_VNET_E_HDR_LEN,       /* hdr_len past the end of the frame */
    NETBE_VNET_E_CSUM_RANGE,    /* csum_start + csum_offset + 2 past end */
    NETBE_VNET_E_CSUM_PLACE,    /* GSO: csum not at the TCP/UDP checksum */
    NETBE_VNET_E_CSUM_REQUIRED, /* USO, VLAN GSO without NEEDS_CSUM */
    NETBE_VNET_E_L2,            /* no Ethernet header or not IP */
    NETBE_VNET_E_L3,            /* IP header missing, bad or not gso_type's */
    NETBE_VNET_E_L4,            /* TCP/UDP header missing or bad */
    NETBE_VNET_E_TOO_BIG,       /* over NETBE_NET_BUFSIZE or IP's 64 KiB */
    NETBE_VNET_E_UNSUPPORTED,   /* valid, but netbe cannot segment it */
    NETBE_VNET_E_OFFLOAD,       /* header dropped while offload work due */
    NETBE_VNET_E_NOSPACE,       /* the caller's iovec array is too small */
};

/**
 * netbe_vnet_strerror() - a message for an error of this module
 * @err: a value of enum netbe_vnet_err, positive or negated
 * Return: a static string such as "vnet header: gso_size is 0"
 */
const char *netbe_vnet_strerror(int err);

/**
 * netbe_vnet_hdr_decode() - read a header from the wire into host order
 * @vi: out; the validation fields are zeroed
 * @hdr: @len bytes, any alignment
 * @len: NETBE_VNET_HDR_LEN or NETBE_VNET_HDR_MRG_LEN
 * @big_endian: the legacy big-endian layout (else little-endian)
 * Return: 0, or -NETBE_VNET_E_VNET_LEN for another @len
 */
int netbe_vnet_hdr_decode(struct netbe_vnet_info *vi, const void *hdr,
                          size_t len, bool big_endian);

/**
 * netbe_vnet_hdr_encode() - write @vi's header fields in wire order
 * @hdr: out, @len bytes, any alignment
 * @len: NETBE_VNET_HDR_LEN or NETBE_VNET_HDR_MRG_LEN (num_buffers)
 * @vi: the fields; its validation fields are not used
 * @big_endian: the legacy big-endian layout (else little-endian)
 * Return: 0, or -NETBE_VNET_E_VNET_LEN for another @len
 */
int netbe_vnet_hdr_encode(void *hdr, size_t len,
                          const struct netbe_vnet_info *vi, bool big_endian);

/**
 * netbe_vnet_validate() - check a decoded header against its frame
 * @vi: decoded header; on success its validation fields are filled
 * @iov: the frame after the vnet header (Ethernet header first)
 * @iovcnt: entries of @iov
 *
 * Checks what Linux's virtio_net_hdr_to_skb() and its GSO code check,
 * and a little more: gso_type known, gso_size > 0 for GSO, hdr_len not
 * past the frame, csum_start/csum_offset (+2) inside it; for a GSO frame
 * the Ethernet (up to two VLAN tags), IPv4 or IPv6 (with hop-by-hop,
 * routing and destination options headers, as ipv6_gso_pull_exthdrs())
 * and TCP/UDP headers present and of gso_type's protocols, the checksum
 * place the TCP/UDP one, and the frame no longer than NETBE_NET_BUFSIZE
 * nor than IP can say.  Reads only inside @iov.  A failure is a
 * malformed frame: the caller drops it and counts drop_malformed.
 * Return: 0 or a negated enum netbe_vnet_err
 */
int netbe_vnet_validate(struct netbe_vnet_info *vi, const struct iovec *iov,
                        int iovcnt);

/**
 * netbe_vnet_parse() - decode the header at the front of @iov, validate
 * the frame behind it
 * @vi: out
 * @iov: vnet header then frame
 * @iovcnt: entries of @iov
 * @vnet_hdr_len: NETBE_VNET_HDR_LEN or NETBE_VNET_HDR_MRG_LEN
 * @big_endian: the legacy big-endian layout (else little-endian)
 *
 * The offsets in @vi count from the frame, not from the vnet header; use
 * netbe_iov_slice() to skip the header before netbe_vnet_segment().
 * Return: 0 or a negated enum netbe_vnet_err
 */
int netbe_vnet_parse(struct netbe_vnet_info *vi, const struct iovec *iov,
                     int iovcnt, size_t vnet_hdr_len, bool big_endian);

/**
 * netbe_vnet_csum_complete() - finish a partial checksum in place
 * @frame: the frame (no vnet header), writable
 * @len: its length
 * @vi: its header, validated or not (the range is checked again)
 *
 * With NEEDS_CSUM: the one's complement sum over [csum_start, @len),
 * which includes the pseudo-header sum the sender left in the field,
 * folded, inverted and stored at csum_start + csum_offset (0 becomes
 * 0xffff), as Linux's skb_checksum_help().  Without it: nothing.
 * Return: 0, or -NETBE_VNET_E_CSUM_RANGE
 */
int netbe_vnet_csum_complete(uint8_t *frame, size_t len,
                             const struct netbe_vnet_info *vi);

/**
 * netbe_vnet_seg_fn - receives one segment from netbe_vnet_segment()
 * @opaque: the caller's pointer
 * @iov: the segment: iov[0] the headers (netbe_vnet_segment()'s stack
 *       copy), then the payload as slices of the original frame; valid
 *       only during the call, read-only
 * @iovcnt: entries of @iov (at most NETBE_VNET_MAX_IOV + 2)
 *
 * Typically copies the segment into a pooled buffer (the one copy of the
 * payload) or sends it.
 * Return: >= 0 to go on, < 0 to stop: netbe_vnet_segment() returns it
 */
typedef int netbe_vnet_seg_fn(void *opaque, const struct iovec *iov,
                              int iovcnt);

/**
 * netbe_vnet_segment() - a frame a peer without offloads can take
 * @vi: the frame's header, as netbe_vnet_validate() left it
 * @iov: the frame after the vnet header, unchanged since validation
 * @iovcnt: entries of @iov, at most NETBE_VNET_MAX_IOV
 * @fn: called once per output frame, in order
 * @opaque: for @fn
 *
 * A GSO frame becomes vi->nsegs frames of gso_size payload bytes (the
 * last one shorter) as Linux's software GSO makes them: headers copied,
 * TCP sequence numbers advanced, FIN and PSH only on the last, CWR only
 * on the first; IPv4 id + 1 per segment, total length and header
 * checksum, IPv6 payload length; TCP/UDP length and full checksum, from
 * the pseudo-header sum in the frame when NEEDS_CSUM is set; UFO as IPv4
 * fragments of one id.  A frame without GSO (or with a payload that fits
 * one segment) comes out as one frame, its partial checksum completed.
 * The payload is read once (for the checksums) and never copied here.
 * Return: the number of frames given to @fn, a negated enum
 *         netbe_vnet_err before any call of @fn, or what @fn returned < 0
 */
int netbe_vnet_segment(const struct netbe_vnet_info *vi,
                       const struct iovec *iov, int iovcnt,
                       netbe_vnet_seg_fn *fn, void *opaque);

/**
 * netbe_vnet_convert() - the same frame with another vnet header length
 * @dst: out: the new header (in @hdr_buf) and slices of @src's frame
 * @dst_cnt: entries of @dst
 * @hdr_buf: storage for the new header, NETBE_VNET_HDR_MRG_LEN bytes,
 *           which must live as long as @dst is used
 * @src: vnet header of @from_len bytes, then the frame
 * @src_cnt: entries of @src
 * @from_len: 0, NETBE_VNET_HDR_LEN or NETBE_VNET_HDR_MRG_LEN
 * @from_be: @src's header is big-endian (legacy)
 * @to_len: 0, NETBE_VNET_HDR_LEN or NETBE_VNET_HDR_MRG_LEN
 * @to_be: the new header is big-endian (legacy)
 *
 * Strips the header (@to_len 0), prepends an empty one (@from_len 0:
 * no flags, GSO_NONE, num_buffers 0), or converts 10 <-> 12 and the byte
 * order; the frame itself is not copied.  A header is never dropped from
 * a frame that still needs offload work (GSO or NEEDS_CSUM): that frame
 * must go through netbe_vnet_segment() instead.
 * Return: entries used in @dst, or a negated enum netbe_vnet_err
 *         (E_VNET_LEN: bad length or @src shorter than its header;
 *         E_OFFLOAD; E_NOSPACE: @dst too small)
 */
int netbe_vnet_convert(struct iovec *dst, int dst_cnt, uint8_t *hdr_buf,
                       const struct iovec *src, int src_cnt, size_t from_len,
                       bool from_be, size_t to_len, bool to_be);

#ifdef __cplusplus
}
#endif

#endif
