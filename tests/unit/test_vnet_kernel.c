/*
 * test_vnet_kernel.c - the running Linux kernel as the oracle of
 * netbe_vnet_segment() (issue 7): the segments netbe makes of a GSO frame
 * must be, byte for byte, the ones Linux makes of the same frame.
 *
 * In a network namespace of its own (unshare(CLONE_NEWNET); it needs root
 * and fails, never skips, without it) the test makes a veth pair va/vb,
 * turns checksum and segmentation offloads off on va with ethtool (so the
 * kernel's software GSO runs and fills in full checksums) and GRO off on
 * vb.  Each frame is written with its virtio_net_hdr into an AF_PACKET
 * socket with PACKET_VNET_HDR bound to va (virtio_net_hdr_to_skb, then
 * validate_xmit_skb's skb_gso_segment or skb_checksum_help); what arrives
 * on vb, read by a second AF_PACKET socket, is Linux's answer (with the
 * outer VLAN tag, which the receive path moves into metadata, put back
 * from PACKET_AUXDATA as libpcap does).  Packet
 * sockets speak little-endian headers, so big-endian is left to test_vnet.
 *
 * Headers netbe refuses as malformed are sent too: Linux must refuse them
 * as well (send() fails with EINVAL) or at least send nothing.  The one
 * known difference, a frame Linux drops and netbe passes on whole, is
 * checked as such in test_whole_frames.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vnetlib.h"

static int sfd = -1, rfd = -1;
static uint8_t frame[VL_BUF];
static uint8_t pkt[VL_BUF + NETBE_VNET_HDR_LEN];
static struct vl_segs mine, linux_segs;

static int sh(const char *cmd)
{
    int rc = system(cmd);

    if (rc != 0) {
        fprintf(stderr, "test_vnet_kernel: \"%s\" failed (%d)\n", cmd, rc);
    }
    return rc;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (!f) {
        return -1;
    }
    rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) || rc ? -1 : 0;
}

static int bind_to(int fd, const char *ifname, uint16_t proto)
{
    struct sockaddr_ll sll;

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(proto);
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    if (sll.sll_ifindex == 0) {
        return -1;
    }
    return bind(fd, (struct sockaddr *)&sll, sizeof(sll));
}

static int setup(void **state)
{
    int one = 1, big = 16 << 20;

    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr,
                "test_vnet_kernel: unshare(CLONE_NEWNET): %s (needs root)\n",
                strerror(errno));
        return -1;
    }
    /* no router solicitations or MLD reports among the segments */
    if (write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1") ||
        write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1")) {
        fprintf(stderr, "test_vnet_kernel: cannot disable IPv6\n");
        return -1;
    }
    if (sh("ip link add va mtu 9000 type veth peer name vb mtu 9000") ||
        sh("ethtool -K va tx off sg off tso off gso off "
           "tx-udp-segmentation off >/dev/null 2>&1 || true") ||
        sh("ethtool -K vb gro off >/dev/null 2>&1 || true") ||
        sh("ip link set va up && ip link set vb up")) {
        return -1;
    }
    /* offloads that stayed on would hide Linux's software GSO */
    if (system("ethtool -k va | grep -E '^(tx-checksumming|"
               "tcp-segmentation-offload|tx-udp-segmentation): on'") == 0) {
        fprintf(stderr, "test_vnet_kernel: offloads still on for va\n");
        return -1;
    }
    sfd = socket(AF_PACKET, SOCK_RAW, 0);
    rfd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (sfd < 0 || rfd < 0 ||
        setsockopt(sfd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ||
        setsockopt(rfd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) ||
        setsockopt(rfd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) ||
        bind_to(sfd, "va", 0) || bind_to(rfd, "vb", ETH_P_ALL)) {
        fprintf(stderr, "test_vnet_kernel: packet sockets: %s\n",
                strerror(errno));
        return -1;
    }
    vl_segs_init(&mine);
    vl_segs_init(&linux_segs);
    return 0;
}

static int teardown(void **state)
{
    close(sfd);
    close(rfd);
    free(mine.data);
    free(linux_segs.data);
    /* the namespace, with va and vb, goes away with the process */
    return 0;
}

/* Frames from our source MAC on vb until @want came and 30 ms passed. */
static void receive_linux(int want)
{
    static uint8_t buf[VL_BUF];
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    struct iovec iov;

    vl_segs_init(&linux_segs);
    for (;;) {
        union {
            struct cmsghdr align;
            uint8_t space[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
        } ctl;
        struct msghdr msg;
        struct cmsghdr *c;
        ssize_t n;
        int timeout = linux_segs.n >= want ? 30 : 2000;

        if (poll(&p, 1, timeout) <= 0) {
            return;
        }
        /* room in front for the VLAN tag the receive path took out */
        iov.iov_base = buf + 4;
        iov.iov_len = sizeof(buf) - 4;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &ctl;
        msg.msg_controllen = sizeof(ctl);
        n = recvmsg(rfd, &msg, MSG_DONTWAIT);
        if (n < 14 || memcmp(buf + 4 + 6, "\x02\0\0\0\0\x01", 6) != 0) {
            continue;
        }
        iov.iov_base = buf + 4;
        iov.iov_len = (size_t)n;
        for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            struct tpacket_auxdata aux;

            if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) {
                continue;
            }
            memcpy(&aux, CMSG_DATA(c), sizeof(aux));
            if (aux.tp_status & TP_STATUS_VLAN_VALID) {
                /* put it back where it was on the wire, as libpcap does */
                memmove(buf, buf + 4, 12);
                vl_be16(buf + 12, aux.tp_status & TP_STATUS_VLAN_TPID_VALID
                                      ? aux.tp_vlan_tpid
                                      : 0x8100);
                vl_be16(buf + 14, aux.tp_vlan_tci);
                iov.iov_base = buf;
                iov.iov_len = (size_t)n + 4;
            }
        }
        assert_int_equal(vl_collect(&linux_segs, &iov, 1), 0);
    }
}

static void drain(void)
{
    static uint8_t buf[VL_BUF];

    while (recv(rfd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
}

/* Send @len bytes of frame with @vi's header; Return: send()'s errno or 0 */
static int send_linux(const struct netbe_vnet_info *vi, size_t len)
{
    netbe_vnet_hdr_encode(pkt, NETBE_VNET_HDR_LEN, vi, false);
    memcpy(pkt + NETBE_VNET_HDR_LEN, frame, len);
    drain();
    if (send(sfd, pkt, len + NETBE_VNET_HDR_LEN, 0) < 0) {
        return errno;
    }
    return 0;
}

static void dump_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            fprintf(stderr,
                    "  first difference at byte %zu: netbe %02x linux "
                    "%02x\n",
                    i, a[i], b[i]);
            return;
        }
    }
}

/* netbe's segments of @s against Linux's, byte for byte. */
static void check_case(const char *what, const struct vl_spec *s)
{
    struct netbe_vnet_info vi;
    struct iovec iov;
    size_t len = vl_build(frame, s, &vi);
    int rc, i;

    iov.iov_base = frame;
    iov.iov_len = len;
    rc = netbe_vnet_validate(&vi, &iov, 1);
    if (rc != 0) {
        /* what netbe refuses, Linux must not send either */
        int err = send_linux(&vi, len);

        if (err == 0) {
            receive_linux(1);
            if (linux_segs.n != 0) {
                fail_msg("%s: netbe refuses it (%s), Linux sends it", what,
                         netbe_vnet_strerror(rc));
            }
        }
        return;
    }
    vl_segs_init(&mine);
    rc = netbe_vnet_segment(&vi, &iov, 1, vl_collect, &mine);
    assert_int_equal(rc, vi.nsegs);
    rc = send_linux(&vi, len);
    if (rc != 0) {
        fail_msg("%s: Linux refuses it: %s", what, strerror(rc));
    }
    receive_linux(mine.n);
    if (linux_segs.n != mine.n) {
        fail_msg("%s: netbe made %d frames, Linux %d", what, mine.n,
                 linux_segs.n);
    }
    for (i = 0; i < mine.n; i++) {
        size_t la, lb;
        const uint8_t *a = vl_seg(&mine, i, &la);
        const uint8_t *b = vl_seg(&linux_segs, i, &lb);

        if (la != lb || memcmp(a, b, la) != 0) {
            fprintf(stderr,
                    "%s: segment %d of %d: netbe %zu bytes, Linux %zu\n", what,
                    i, mine.n, la, lb);
            dump_diff(a, b, la < lb ? la : lb);
            fail_msg("%s: segment %d differs from Linux's", what, i);
        }
    }
}

static struct vl_spec tcp4(size_t payload, uint16_t mss)
{
    struct vl_spec s;

    memset(&s, 0, sizeof(s));
    s.ip = 4;
    s.payload = payload;
    s.gso_type = NETBE_VNET_GSO_TCPV4;
    s.gso_size = mss;
    s.needs_csum = true;
    s.tcp_flags = 0x18;  /* ACK PSH */
    s.seq = 0xfffff000u; /* wraps within the frame */
    s.ip_id = 0xfffe;    /* and so does the id */
    s.df = true;
    return s;
}

static void test_tcp4(void **state)
{
    struct vl_spec s = tcp4(4000, 1448);

    check_case("tcpv4 4000/1448", &s);
    s = tcp4(64000, 1448);
    s.tcp_opt = 12;
    s.seed = 2;
    check_case("tcpv4 64000/1448 timestamps", &s);
    s = tcp4(2896, 1448); /* exact multiple */
    check_case("tcpv4 2896/1448", &s);
    s = tcp4(5001, 1000);
    s.tcp_flags = 0x80 | 0x40 | 0x10 | 0x08 | 0x01; /* CWR ECE ACK PSH FIN */
    s.gso_type |= NETBE_VNET_GSO_ECN;
    check_case("tcpv4 ECN CWR FIN", &s);
    s = tcp4(3001, 999); /* odd mss, odd payload slices */
    s.ip_opt = 8;
    s.df = false;
    check_case("tcpv4 ip options odd mss", &s);
    s = tcp4(9000, 1400);
    s.vlan = 1;
    check_case("tcpv4 vlan", &s);
    s = tcp4(9000, 1400);
    s.vlan = 2;
    check_case("tcpv4 qinq", &s);
}

static void test_tcp4_checksums(void **state)
{
    struct vl_spec s = tcp4(7000, 1448);

    /* no NEEDS_CSUM: Linux flow-dissects and writes the pseudo header */
    s.needs_csum = false;
    check_case("tcpv4 without NEEDS_CSUM", &s);
    /* a lie in the pseudo-header sum carries into every segment */
    s = tcp4(7000, 1448);
    s.bad_check = 0x1234;
    check_case("tcpv4 wrong pseudo-header sum", &s);
}

static void test_tcp6(void **state)
{
    struct vl_spec s = tcp4(10000, 1440);

    s.ip = 6;
    s.gso_type = NETBE_VNET_GSO_TCPV6;
    check_case("tcpv6", &s);
    s.n_ext = 3;
    s.ext[0] = 0;
    s.ext[1] = 43;
    s.ext[2] = 60;
    s.tcp_opt = 12;
    s.payload = 4321;
    check_case("tcpv6 hop routing dst", &s);
    s.needs_csum = false;
    check_case("tcpv6 ext without NEEDS_CSUM", &s);
}

static void test_uso(void **state)
{
    struct vl_spec s = tcp4(6000, 1400);

    s.udp = true;
    s.gso_type = NETBE_VNET_GSO_UDP_L4;
    check_case("uso v4", &s);
    s.payload = 1400 * 3 + 1;
    s.ip_opt = 4;
    check_case("uso v4 odd last", &s);
    s.ip = 6;
    s.ip_opt = 0;
    s.n_ext = 1;
    s.ext[0] = 60;
    check_case("uso v6", &s);
    s.bad_check = 0xbeef;
    check_case("uso v6 wrong pseudo-header sum", &s);
}

static void test_ufo(void **state)
{
    struct vl_spec s = tcp4(6000, 1480);

    s.udp = true;
    s.gso_type = NETBE_VNET_GSO_UDP;
    check_case("ufo", &s);
    s.needs_csum = false;
    s.ip_opt = 4;
    s.payload = 1480 * 2 - 8; /* UDP header + data: exactly two */
    check_case("ufo without NEEDS_CSUM, options", &s);
}

static void test_whole_frames(void **state)
{
    struct vl_spec s = tcp4(1000, 1448); /* fits: not really GSO */
    struct netbe_vnet_info vi;
    struct iovec iov;

    check_case("tcpv4 one segment", &s);

    /*
     * The one known difference: the payload fits one segment, but with
     * its TCP options Linux's "not really GSO" test (which counts 20
     * bytes of TCP header) says GSO, and tcp_gso_segment() then fails:
     * Linux drops the frame (send() fails), netbe passes it on whole.
     */
    s = tcp4(1440, 1448);
    s.tcp_opt = 12;
    iov.iov_base = frame;
    iov.iov_len = vl_build(frame, &s, &vi);
    assert_int_equal(netbe_vnet_validate(&vi, &iov, 1), 0);
    assert_int_equal(vi.nsegs, 1);
    if (send_linux(&vi, iov.iov_len) == 0) { /* 6.18: fails, ENOMEM */
        receive_linux(1);
        assert_int_equal(linux_segs.n, 0);
    }
    s = tcp4(1000, 1448);
    s.gso_type = NETBE_VNET_GSO_NONE;
    s.udp = true;
    s.payload = 777;
    check_case("udp NEEDS_CSUM only", &s);
    s.udp = false;
    s.ip = 6;
    check_case("tcpv6 NEEDS_CSUM only", &s);
}

/* Sizes, types and options picked by a fixed pseudo-random sequence. */
static void test_random(void **state)
{
    unsigned r = 12345;
    int i;

    for (i = 0; i < 150; i++) {
        struct vl_spec s;
        char what[64];
        int kind;

        r = r * 1103515245u + 12345u;
        kind = (r >> 16) % 4;
        s = tcp4(0, 0);
        s.seed = (unsigned)i;
        s.ip = kind == 1 || (kind == 2 && (r & 1)) ? 6 : 4;
        s.udp = kind >= 2;
        s.gso_type = kind == 0   ? NETBE_VNET_GSO_TCPV4
                     : kind == 1 ? NETBE_VNET_GSO_TCPV6
                     : kind == 2 ? NETBE_VNET_GSO_UDP_L4
                                 : NETBE_VNET_GSO_UDP;
        r = r * 1103515245u + 12345u;
        s.gso_size = (uint16_t)(500 + (r >> 8) % 8000);
        if (kind == 3) {
            s.gso_size &= ~7;
        }
        r = r * 1103515245u + 12345u;
        s.payload = 1 + (r >> 4) % 60000;
        if (kind == 2 && s.payload > 120u * s.gso_size) {
            s.payload = 120u * s.gso_size;
        }
        r = r * 1103515245u + 12345u;
        s.tcp_opt = s.udp ? 0 : 4 * (int)((r >> 8) % 11);
        s.ip_opt = s.ip == 4 ? 4 * (int)((r >> 12) % 11) : 0;
        s.n_ext = s.ip == 6 ? (int)((r >> 16) % 3) : 0;
        s.ext[0] = 0;
        s.ext[1] = 60;
        s.vlan = (int)((r >> 20) % 3);
        s.needs_csum = kind == 2 || ((r >> 24) & 1);
        s.tcp_flags = (uint8_t)(0x10 | ((r >> 25) & 0xc9));
        s.seq = r;
        s.ip_id = (uint16_t)(r >> 3);
        s.df = (r >> 28) & 1;
        if (s.payload <= s.gso_size &&
            vl_layout_of(&s).len > 9000 + 14 - 4u * s.vlan) {
            s.payload = s.gso_size; /* one frame: it must fit the MTU */
            if (vl_layout_of(&s).len > 9000) {
                continue;
            }
        }
        snprintf(what, sizeof(what),
                 "random %d (type %d %zu/%u vlan %d csum %d ext %d opt %d/%d)",
                 i, s.gso_type, s.payload, s.gso_size, s.vlan, s.needs_csum,
                 s.n_ext, s.ip_opt, s.tcp_opt);
        check_case(what, &s);
    }
}

/* Headers netbe refuses as malformed: Linux must not send them either. */
static void test_malformed_refused_by_linux_too(void **state)
{
    struct vl_spec s = tcp4(4000, 1448);
    struct netbe_vnet_info vi;
    struct iovec iov;
    size_t len;
    int rc, k;

    for (k = 0; k < 5; k++) {
        len = vl_build(frame, &s, &vi);
        switch (k) {
        case 0:
            vi.gso_size = 0;
            break;
        case 1:
            vi.gso_type = 2; /* unknown */
            break;
        case 2:
            vi.csum_start = (uint16_t)(len - 1);
            break;
        case 3:
            vi.hdr_len = (uint16_t)(len + 1);
            break;
        case 4:
            vi.csum_offset = 4; /* TCP GSO: not the TCP checksum */
            break;
        }
        iov.iov_base = frame;
        iov.iov_len = len;
        assert_true(netbe_vnet_validate(&vi, &iov, 1) < 0);
        rc = send_linux(&vi, len);
        if (rc == 0) {
            receive_linux(1);
            if (linux_segs.n != 0) {
                fail_msg("case %d: Linux sent %d frames of it", k,
                         linux_segs.n);
            }
        } else {
            assert_int_equal(rc, EINVAL);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp4),
        cmocka_unit_test(test_tcp4_checksums),
        cmocka_unit_test(test_tcp6),
        cmocka_unit_test(test_uso),
        cmocka_unit_test(test_ufo),
        cmocka_unit_test(test_whole_frames),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_malformed_refused_by_linux_too),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
