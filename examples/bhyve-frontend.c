/*
 * bhyve-frontend - a bhyve-style virtio-net frontend on netbe's pull API
 * (netbe/bhyve.h), playing a tiny host: it answers ARP requests for its
 * IPv4 address, ICMP echo requests and UDP echo (port 7) sent to it, and
 * verifies every checksum on the way; nothing else.
 *
 * It does what bhyve's pci_virtio_net does with net_backends: netbe_init()
 * with a backend name ("tap0") or a -netdev string, netbe_get_cap() /
 * netbe_set_cap() with the header length the "guest" chose, and when the
 * backend carries no header (netbe_get_vnet_hdr_len() is 0) it reserves
 * room for the guest's header on receive and strips it on send.  Frames
 * are taken in its receive callback with netbe_peek_recvlen() /
 * netbe_recv() into a scattered buffer, as a guest's descriptor chain.
 *
 * Built against the installed library, as an external VMM would:
 *   cc -o bhyve-frontend bhyve-frontend.c \
 *      $(pkg-config --cflags --libs --static netbe)
 *
 *   bhyve-frontend [--mac MAC] [--ip ADDR] [--hdrlen 0|10|12]
 *                  [--features HEX] [--budget N] [--rx-pause-ms N]
 *                  [--stalled] BACKEND
 *
 * --budget N       take at most N frames per callback (a guest ring of N
 *                  buffers; the rest wait for the next call)
 * --rx-pause-ms N  after each frame, netbe_rx_disable() for N ms
 * --stalled        start with receive disabled
 * SIGUSR2 toggles netbe_rx_disable() / netbe_rx_enable(); SIGUSR1 prints
 * the counters (and netbe's "info stats"); SIGTERM and SIGINT print them
 * and exit 0.  Lines on stdout: "ready ...", "rx disabled", "rx enabled",
 * "counters k=v ...", each flushed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <netbe/bhyve.h>
#include <netbe/loop.h>
#include <netbe/net.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_PROBE 0x88b5 /* IEEE local experimental */
#define UDP_ECHO_PORT 7
#define MIN_FRAME 60
/* the guest's buffer: the largest header and the largest frame netbe has */
#define BUF_SIZE (12 + NETBE_NET_BUFSIZE)
#define KEEPALIVE_MS 1000

/* virtio-net header fields (little-endian, VIRTIO_F_VERSION_1) */
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0

struct counters {
    uint64_t rx, rx_bytes, tx, tx_bytes;
    uint64_t arp_replies, icmp_replies, udp_replies, ignored, bad;
    uint64_t probes;         /* frames of ethertype 0x88b5, the tests' floods */
    uint64_t csum_completed; /* NEEDS_CSUM frames we finished */
    uint64_t gso;            /* GSO frames (only with GUEST_TSO*) */
    uint64_t bad_offload;    /* NEEDS_CSUM/GSO we did not negotiate: a bug */
    uint64_t send_errors, rx_errors, rx_disables, callbacks;
};

struct frontend {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct net_backend *be;
    uint8_t mac[6];
    uint32_t ip;         /* network order */
    unsigned hdrlen;     /* the guest's header: 0, 10, 12 */
    size_t be_hdrlen;    /* netbe_get_vnet_hdr_len() */
    uint64_t features;   /* negotiated */
    unsigned budget;     /* frames per callback */
    int64_t rx_pause_ms; /* 0: none */
    bool rx_off;         /* by us: SIGUSR2, --stalled or a pause */
    bool paused;         /* rx_off because of --rx-pause-ms */
    bool stop;
    void *timer;     /* ends a pause */
    void *keepalive; /* keeps the loop turning while the backend waits */
    struct counters c;
    uint8_t rxbuf[BUF_SIZE];
    uint8_t txbuf[BUF_SIZE];
};

/* ---- checksums ---- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t)p[len - 1] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

static uint16_t get16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- scattered buffers, as a guest's descriptor chain ---- */

/*
 * Describe @len bytes of @buf as three pieces of odd sizes, then drop the
 * first @skip bytes (bhyve's iov_trim): what a frontend hands netbe when
 * it keeps the header room for itself.
 */
static int chain(struct iovec *iov, uint8_t *buf, size_t len, size_t skip)
{
    size_t cut[3] = {7, 57, len};
    size_t off = skip;
    int n = 0, i;

    for (i = 0; i < 3 && off < len; i++) {
        size_t end = cut[i] < len ? cut[i] : len;

        if (end <= off) {
            continue;
        }
        iov[n].iov_base = buf + off;
        iov[n].iov_len = end - off;
        off = end;
        n++;
    }
    return n;
}

/* ---- the tiny host ---- */

static void send_frame(struct frontend *fe, size_t frame_len)
{
    struct iovec iov[3];
    size_t skip = fe->hdrlen - fe->be_hdrlen; /* strip ours when be has 0 */
    int n;

    if (frame_len < MIN_FRAME) {
        memset(fe->txbuf + fe->hdrlen + frame_len, 0, MIN_FRAME - frame_len);
        frame_len = MIN_FRAME;
    }
    memset(fe->txbuf, 0, fe->hdrlen); /* no offloads asked, num_buffers 0 */
    n = chain(iov, fe->txbuf, fe->hdrlen + frame_len, skip);
    if (netbe_send(fe->be, iov, n) < 0) {
        fe->c.send_errors++;
        fprintf(stderr, "bhyve-frontend: netbe_send: %s\n", strerror(errno));
        return;
    }
    fe->c.tx++;
    fe->c.tx_bytes += frame_len;
}

static void answer_arp(struct frontend *fe, const uint8_t *f, size_t len)
{
    const uint8_t *a = f + ETH_HLEN;
    uint8_t *r = fe->txbuf + fe->hdrlen;

    if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETH_P_IP ||
        a[4] != 6 || a[5] != 4 || get16(a + 6) != 1 ||
        memcmp(a + 24, &fe->ip, 4)) {
        fe->c.ignored++;
        return;
    }
    memcpy(r, a + 8, 6); /* to the asker */
    memcpy(r + 6, fe->mac, 6);
    put16(r + 12, ETH_P_ARP);
    memcpy(r + ETH_HLEN, a, 6); /* htype, ptype, hlen, plen */
    put16(r + ETH_HLEN + 6, 2); /* reply */
    memcpy(r + ETH_HLEN + 8, fe->mac, 6);
    memcpy(r + ETH_HLEN + 14, &fe->ip, 4);
    memcpy(r + ETH_HLEN + 18, a + 8, 10); /* the asker's MAC and IP */
    fe->c.arp_replies++;
    send_frame(fe, ETH_HLEN + 28);
}

/* The pseudo-header sum of a TCP/UDP segment of @len bytes. */
static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t len)
{
    uint32_t sum = csum_add(0, ip + 12, 8);

    return sum + proto + (uint32_t)len;
}

/*
 * Write the reply's Ethernet and IPv4 headers (options are not echoed)
 * for a payload of @l4_len bytes; Return: where the payload goes.
 */
static uint8_t *reply_ip(struct frontend *fe, const uint8_t *f,
                         const uint8_t *ip, size_t l4_len)
{
    uint8_t *r = fe->txbuf + fe->hdrlen, *rip = r + ETH_HLEN;

    memcpy(r, f + 6, 6);
    memcpy(r + 6, fe->mac, 6);
    put16(r + 12, ETH_P_IP);
    memset(rip, 0, 20);
    rip[0] = 0x45;
    put16(rip + 2, (uint16_t)(20 + l4_len));
    memcpy(rip + 4, ip + 4, 2); /* identification */
    rip[8] = 64;
    rip[9] = ip[9];
    memcpy(rip + 12, &fe->ip, 4);
    memcpy(rip + 16, ip + 12, 4);
    put16(rip + 10, csum_fold(csum_add(0, rip, 20)));
    return rip + 20;
}

static void answer_icmp(struct frontend *fe, const uint8_t *f,
                        const uint8_t *ip, const uint8_t *icmp, size_t len)
{
    uint8_t *r;

    if (len < 8 || csum_fold(csum_add(0, icmp, len)) != 0) {
        fe->c.bad++;
        return;
    }
    if (icmp[0] != 8 || icmp[1] != 0) { /* not an echo request */
        fe->c.ignored++;
        return;
    }
    r = reply_ip(fe, f, ip, len);
    memcpy(r, icmp, len);
    r[0] = 0; /* echo reply */
    put16(r + 2, 0);
    put16(r + 2, csum_fold(csum_add(0, r, len)));
    fe->c.icmp_replies++;
    send_frame(fe, ETH_HLEN + 20 + len);
}

/* UDP echo (RFC 862): the datagram back to where it came from. */
static void answer_udp(struct frontend *fe, const uint8_t *f, const uint8_t *ip,
                       const uint8_t *udp, size_t len)
{
    uint16_t sum;
    uint8_t *r;

    if (len < 8 || get16(udp + 4) != len) {
        fe->c.bad++;
        return;
    }
    /* 0: the sender sent none; else it must verify */
    if (get16(udp + 6) &&
        csum_fold(csum_add(pseudo_sum(ip, 17, len), udp, len)) != 0) {
        fe->c.bad++;
        return;
    }
    if (get16(udp + 2) != UDP_ECHO_PORT) {
        fe->c.ignored++;
        return;
    }
    r = reply_ip(fe, f, ip, len);
    memcpy(r, udp + 2, 2); /* the ports swapped */
    memcpy(r + 2, udp, 2);
    memcpy(r + 4, udp + 4, len - 4);
    put16(r + 6, 0);
    sum = csum_fold(csum_add(pseudo_sum(r - 20, 17, len), r, len));
    put16(r + 6, sum ? sum : 0xffff);
    fe->c.udp_replies++;
    send_frame(fe, ETH_HLEN + 20 + len);
}

static void ipv4_input(struct frontend *fe, const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + ETH_HLEN;
    size_t ihl, tot;

    if (len < ETH_HLEN + 20 || ip[0] >> 4 != 4) {
        fe->c.bad++;
        return;
    }
    ihl = (size_t)(ip[0] & 15) * 4;
    tot = get16(ip + 2);
    if (ihl < 20 || tot < ihl || ETH_HLEN + tot > len ||
        csum_fold(csum_add(0, ip, ihl)) != 0) {
        fe->c.bad++;
        return;
    }
    if (memcmp(ip + 16, &fe->ip, 4) || (get16(ip + 6) & 0x3fff)) {
        fe->c.ignored++; /* not ours, or a fragment */
        return;
    }
    switch (ip[9]) {
    case 1:
        answer_icmp(fe, f, ip, ip + ihl, tot - ihl);
        break;
    case 17:
        answer_udp(fe, f, ip, ip + ihl, tot - ihl);
        break;
    default:
        fe->c.ignored++;
    }
}

/*
 * The guest's side of the virtio-net header: a partial checksum is
 * finished here (only with GUEST_CSUM negotiated); a GSO frame is taken as
 * one large frame (only with a GUEST_TSO, UFO or USO feature).  Anything else the
 * backend set is an offload we did not accept: netbe must have done it.
 * Return: false to drop the frame.
 */
static bool guest_vnet_hdr(struct frontend *fe, uint8_t *frame, size_t len)
{
    const uint8_t *h = fe->rxbuf;
    uint64_t gso_ok =
        NETBE_VIRTIO_NET_F_GUEST_TSO4 | NETBE_VIRTIO_NET_F_GUEST_TSO6 |
        NETBE_VIRTIO_NET_F_GUEST_UFO | NETBE_VIRTIO_NET_F_GUEST_USO4 |
        NETBE_VIRTIO_NET_F_GUEST_USO6;

    if (fe->hdrlen == 0) {
        return true;
    }
    if ((h[1] & 0x7f) != VNET_GSO_NONE) {
        if (!(fe->features & gso_ok)) {
            fe->c.bad_offload++;
            return false;
        }
        fe->c.gso++;
    }
    if (h[0] & VNET_F_NEEDS_CSUM) {
        size_t start = get16le(h + 6), off = get16le(h + 8);

        if (!(fe->features & NETBE_VIRTIO_NET_F_GUEST_CSUM)) {
            fe->c.bad_offload++;
            return false;
        }
        if (start + off + 2 > len) {
            fe->c.bad++;
            return false;
        }
        /* the field holds the pseudo-header sum: sum it with the rest */
        put16(frame + start + off,
              csum_fold(csum_add(0, frame + start, len - start)));
        fe->c.csum_completed++;
    }
    return true;
}

static void host_input(struct frontend *fe, size_t len)
{
    uint8_t *f = fe->rxbuf + fe->hdrlen;
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    fe->c.rx++;
    fe->c.rx_bytes += len;
    if (!guest_vnet_hdr(fe, f, len)) {
        return;
    }
    if (len < ETH_HLEN) {
        fe->c.bad++;
        return;
    }
    if (memcmp(f, fe->mac, 6) && memcmp(f, bcast, 6)) {
        fe->c.ignored++;
        return;
    }
    switch (get16(f + 12)) {
    case ETH_P_ARP:
        answer_arp(fe, f, len);
        break;
    case ETH_P_IP:
        ipv4_input(fe, f, len);
        break;
    case ETH_P_PROBE:
        fe->c.probes++;
        break;
    default:
        fe->c.ignored++;
    }
}

/* ---- receive, as pci_vtnet_rx ---- */

static void rx_off(struct frontend *fe)
{
    if (!fe->rx_off) {
        fe->rx_off = true;
        fe->c.rx_disables++;
        netbe_rx_disable(fe->be);
    }
}

static void rx_on(struct frontend *fe)
{
    if (fe->rx_off) {
        fe->rx_off = false;
        netbe_rx_enable(fe->be);
    }
}

static void rx_cb(int fd, int type, void *param)
{
    struct frontend *fe = param;
    unsigned n;

    (void)fd;   /* -1: frames wait in netbe, not on a descriptor */
    (void)type; /* NETBE_BHYVE_EVF_READ */
    fe->c.callbacks++;
    for (n = 0; n < fe->budget && !fe->rx_off; n++) {
        struct iovec iov[3];
        size_t skip = fe->hdrlen - fe->be_hdrlen;
        ssize_t want = netbe_peek_recvlen(fe->be), got;
        int cnt;

        if (want <= 0) {
            break;
        }
        if ((size_t)want + skip > sizeof(fe->rxbuf)) {
            netbe_rx_discard(fe->be); /* cannot be: netbe's own limit */
            fe->c.rx_errors++;
            continue;
        }
        /* bhyve zeroes the header it reserved: no flags, no GSO */
        memset(fe->rxbuf, 0, skip);
        cnt = chain(iov, fe->rxbuf, skip + (size_t)want, skip);
        got = netbe_recv(fe->be, iov, cnt);
        if (got <= 0) {
            fe->c.rx_errors++;
            break;
        }
        if (got != want) {
            fe->c.rx_errors++; /* peek and recv disagree */
        }
        if ((size_t)got + skip < fe->hdrlen) {
            fe->c.bad++; /* shorter than the backend's own header */
            continue;
        }
        host_input(fe, (size_t)got + skip - fe->hdrlen);
        if (fe->rx_pause_ms > 0) {
            rx_off(fe);
            fe->paused = true;
            fe->loop->ops->timer_mod(fe->loop->opaque, fe->timer,
                                     netbe_clock_ms(fe->loop) +
                                         fe->rx_pause_ms);
        }
    }
}

static void pause_end(void *opaque)
{
    struct frontend *fe = opaque;

    if (fe->paused) {
        fe->paused = false;
        rx_on(fe);
    }
}

static void keepalive(void *opaque)
{
    struct frontend *fe = opaque;

    fe->loop->ops->timer_mod(fe->loop->opaque, fe->keepalive,
                             netbe_clock_ms(fe->loop) + KEEPALIVE_MS);
}

/* ---- signals, counters ---- */

static void print_counters(struct frontend *fe)
{
    const struct counters *c = &fe->c;

    printf("counters rx=%" PRIu64 " rx_bytes=%" PRIu64 " tx=%" PRIu64
           " tx_bytes=%" PRIu64 " arp_replies=%" PRIu64 " icmp_replies=%" PRIu64
           " udp_replies=%" PRIu64 " probes=%" PRIu64 " ignored=%" PRIu64
           " bad=%" PRIu64 " csum_completed=%" PRIu64 " gso=%" PRIu64
           " bad_offload=%" PRIu64 " send_errors=%" PRIu64 " rx_errors=%" PRIu64
           " rx_disables=%" PRIu64 " callbacks=%" PRIu64 "\n",
           c->rx, c->rx_bytes, c->tx, c->tx_bytes, c->arp_replies,
           c->icmp_replies, c->udp_replies, c->probes, c->ignored, c->bad,
           c->csum_completed, c->gso, c->bad_offload, c->send_errors,
           c->rx_errors, c->rx_disables, c->callbacks);
    netbe_info_stats(fe->ctx, stdout);
    printf("end\n");
    fflush(stdout);
}

static void on_signal(void *opaque, int signum)
{
    struct frontend *fe = opaque;

    if (signum == SIGUSR1) {
        print_counters(fe);
    } else if (signum == SIGUSR2) {
        fe->paused = false;
        if (fe->rx_off) {
            rx_on(fe);
            printf("rx enabled\n");
        } else {
            rx_off(fe);
            printf("rx disabled\n");
        }
        fflush(stdout);
    } else {
        fe->stop = true;
        netbe_loop_stop(fe->loop);
    }
}

/* ---- command line ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: bhyve-frontend [--mac MAC] [--ip ADDR] "
                 "[--hdrlen 0|10|12]\n"
                 "       [--features HEX] [--budget N] [--rx-pause-ms N] "
                 "[--stalled] BACKEND\n"
                 "BACKEND: tap0, a -netdev string "
                 "(stream,addr.type=unix,addr.path=...)\n");
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    int i;

    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &end) != 6) {
        return -1;
    }
    for (i = 0; i < 6; i++) {
        if (v[i] > 0xff) {
            return -1;
        }
        mac[i] = (uint8_t)v[i];
    }
    return mac[0] & 1 ? -1 : 0;
}

static int parse_args(struct frontend *fe, int argc, char **argv,
                      const char **backend, bool *stalled)
{
    static const struct option opts[] = {
        {"mac", required_argument, NULL, 'm'},
        {"ip", required_argument, NULL, 'i'},
        {"hdrlen", required_argument, NULL, 'l'},
        {"features", required_argument, NULL, 'f'},
        {"budget", required_argument, NULL, 'b'},
        {"rx-pause-ms", required_argument, NULL, 'p'},
        {"stalled", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "m:i:l:f:b:p:sh", opts, NULL)) != -1) {
        char *end = NULL;

        errno = 0;
        switch (c) {
        case 'm':
            if (parse_mac(optarg, fe->mac) < 0) {
                fprintf(stderr, "bhyve-frontend: bad MAC '%s'\n", optarg);
                return -1;
            }
            break;
        case 'i':
            if (inet_pton(AF_INET, optarg, &fe->ip) != 1) {
                fprintf(stderr, "bhyve-frontend: bad IPv4 '%s'\n", optarg);
                return -1;
            }
            break;
        case 'l':
            fe->hdrlen = (unsigned)strtoul(optarg, &end, 10);
            if (*end ||
                (fe->hdrlen != 0 && fe->hdrlen != 10 && fe->hdrlen != 12)) {
                fprintf(stderr, "bhyve-frontend: --hdrlen is 0, 10 or 12\n");
                return -1;
            }
            break;
        case 'f':
            fe->features = strtoull(optarg, &end, 16);
            break;
        case 'b':
            fe->budget = (unsigned)strtoul(optarg, &end, 10);
            break;
        case 'p':
            fe->rx_pause_ms = strtoll(optarg, &end, 10);
            break;
        case 's':
            *stalled = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (end && (*end || errno)) {
            fprintf(stderr, "bhyve-frontend: bad number '%s'\n", optarg);
            return -1;
        }
    }
    if (optind != argc - 1 || fe->budget == 0) {
        usage(stderr);
        return -1;
    }
    *backend = argv[optind];
    return 0;
}

int main(int argc, char **argv)
{
    static struct frontend fe = {
        .mac = {0x52, 0x54, 0x00, 0xbe, 0x00, 0x01},
        .budget = 256,
    };
    const char *backend = NULL;
    bool stalled = false;
    uint64_t cap;
    int err;

    inet_pton(AF_INET, "10.0.2.15", &fe.ip);
    if (parse_args(&fe, argc, argv, &backend, &stalled) < 0) {
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    /* the loop and the graph bhyve's API has no arguments for */
    fe.loop = netbe_loop_default();
    fe.ctx = netbe_ctx_new(fe.loop);
    netbe_bhyve_set_ctx(fe.ctx);

    err = netbe_init(&fe.be, backend, rx_cb, &fe);
    if (err) {
        fprintf(stderr, "bhyve-frontend: netbe_init(%s): %s\n", backend,
                strerror(err));
        netbe_ctx_free(fe.ctx);
        netbe_loop_close(fe.loop);
        return 1;
    }
    /* as pci_vtnet_neg_features: the guest takes some of what we offer */
    cap = netbe_get_cap(fe.be);
    fe.features &= cap;
    if (netbe_set_cap(fe.be, fe.features, fe.hdrlen) < 0) {
        fprintf(stderr,
                "bhyve-frontend: netbe_set_cap(0x%" PRIx64 ", %u) "
                "failed\n",
                fe.features, fe.hdrlen);
        netbe_cleanup(fe.be);
        netbe_ctx_free(fe.ctx);
        netbe_loop_close(fe.loop);
        return 1;
    }
    fe.be_hdrlen = netbe_get_vnet_hdr_len(fe.be);
    if (fe.be_hdrlen != 0 && fe.be_hdrlen != fe.hdrlen) {
        fprintf(stderr, "bhyve-frontend: backend header %zu, guest's %u\n",
                fe.be_hdrlen, fe.hdrlen);
        netbe_cleanup(fe.be);
        netbe_ctx_free(fe.ctx);
        netbe_loop_close(fe.loop);
        return 1;
    }

    fe.timer = fe.loop->ops->timer_new(fe.loop->opaque, pause_end, &fe);
    fe.keepalive = fe.loop->ops->timer_new(fe.loop->opaque, keepalive, &fe);
    keepalive(&fe);
    netbe_loop_watch_signal(fe.loop, SIGINT, on_signal, &fe);
    netbe_loop_watch_signal(fe.loop, SIGTERM, on_signal, &fe);
    netbe_loop_watch_signal(fe.loop, SIGUSR1, on_signal, &fe);
    netbe_loop_watch_signal(fe.loop, SIGUSR2, on_signal, &fe);
    /*
     * Receive starts disabled, as bhyve's backends register their fd
     * disabled: pci_vtnet_ping_rxq() enables it once the guest posted rx
     * buffers.  Our "guest" is ready now, unless told to stall.
     */
    fe.rx_off = true;
    if (!stalled) {
        rx_on(&fe);
    }
    printf("ready cap=0x%" PRIx64 " features=0x%" PRIx64
           " hdrlen=%u vnet_hdr_len=%zu rx=%s\n",
           cap, fe.features, fe.hdrlen, fe.be_hdrlen,
           fe.rx_off ? "disabled" : "enabled");
    fflush(stdout);

    while (!fe.stop) {
        netbe_loop_run_once(fe.loop, 1);
    }

    print_counters(&fe);
    netbe_cleanup(fe.be);
    fe.loop->ops->timer_free(fe.loop->opaque, fe.timer);
    fe.loop->ops->timer_free(fe.loop->opaque, fe.keepalive);
    netbe_bhyve_set_ctx(NULL);
    netbe_ctx_free(fe.ctx);
    netbe_loop_close(fe.loop);
    return 0;
}
