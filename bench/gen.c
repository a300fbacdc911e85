/*
 * gen.c - traffic generator for the forwarder benchmark (bench/run.py).
 *
 * Sends Ethernet broadcast frames of one size, so that a hub floods them,
 * either over UDP (one frame per datagram, sendmmsg in batches of 64) or
 * over a unix stream socket in QEMU's stream framing (4-byte big-endian
 * length, then the frame; many records per write()).  It paces to a fixed
 * rate with clock_nanosleep() to absolute deadlines, or floods.
 *
 * With --probe it first sends one probe frame (another ethertype, which
 * the sink ignores) every 5 ms until it gets SIGUSR1: the harness uses
 * this to wait until the whole path through the forwarder works before
 * the measured frames start.
 *
 * It prints one line of JSON on stdout: frames and bytes sent, seconds.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "bench.h"

#define UDP_BATCH 64
/* Records per write() when flooding a stream: big writes, few syscalls. */
#define STREAM_FLOOD_BATCH 1024

static volatile sig_atomic_t go, stop;

static void on_usr1(int sig)
{
    go = 1;
}

static void on_term(int sig)
{
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: gen udp --src-port G --dst-port P [options]\n"
            "       gen stream --path SOCKET [options]\n"
            "options:\n"
            "  --size N        frame size in bytes (60..65535, default 64)\n"
            "  --count N       stop after N frames\n"
            "  --duration S    stop after S seconds\n"
            "  --rate R        frames per second (default: flood)\n"
            "  --probe         send probe frames until SIGUSR1 first\n"
            "  --gso           UDP: send through UDP GSO (UDP_SEGMENT)\n");
    exit(2);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void ts_add_ns(struct timespec *ts, uint64_t ns)
{
    ns += ts->tv_nsec;
    ts->tv_sec += ns / 1000000000u;
    ts->tv_nsec = ns % 1000000000u;
}

static int udp_open(int src_port, int dst_port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd, sz = 4 << 20;

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("gen: socket");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(src_port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("gen: bind");
        exit(1);
    }
    sa.sin_port = htons(dst_port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("gen: connect");
        exit(1);
    }
    return fd;
}

static int stream_open(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, sz = 4 << 20, i;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "gen: socket path too long\n");
        exit(1);
    }
    strcpy(sa.sun_path, path);
    /* The forwarder may still be starting: retry for up to 10 s. */
    for (i = 0;; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("gen: socket");
            exit(1);
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            break;
        }
        close(fd);
        if (i == 1000) {
            fprintf(stderr, "gen: connect %s: %s\n", path, strerror(errno));
            exit(1);
        }
        usleep(10000);
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
    return fd;
}

/* Write all of buf; false if the peer went away or we were told to stop. */
static bool write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            /* SIGTERM ends a flood even when the forwarder stalled. */
            if (errno == EINTR && !stop) {
                continue;
            }
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

/*
 * Send n frames (n <= the batch that was prepared).  UDP: sendmmsg until
 * all are out (a loopback send does not block: a full receiver drops).
 */
static bool send_udp(int fd, struct mmsghdr *msgs, int n)
{
    int done = 0;

    while (done < n) {
        int r = sendmmsg(fd, msgs + done, n - done, 0);

        if (r < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN ||
                errno == ECONNREFUSED) {
                /*
                 * ECONNREFUSED reports an ICMP error for an earlier
                 * datagram (forwarder not bound yet); nothing was lost
                 * from this call, try again.
                 */
                continue;
            }
            perror("gen: sendmmsg");
            return false;
        }
        done += r;
    }
    return true;
}

/*
 * Send n frames as UDP GSO super-datagrams of up to segs frames each: the
 * kernel cuts them into one datagram per frame, so the forwarder sees the
 * same datagrams as with sendmmsg, but the generator's own cost per frame
 * is far lower.
 */
static bool send_udp_gso(int fd, uint8_t *buf, int size, int segs, int n)
{
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;

    while (n > 0) {
        int m = n < segs ? n : segs;

        iov.iov_len = (size_t)m * size;
        if (m > 1) {
            uint16_t gso = size;

            mh.msg_control = ctl.buf;
            mh.msg_controllen = sizeof(ctl.buf);
            cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN(sizeof(gso));
            memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
        } else {
            mh.msg_control = NULL;
            mh.msg_controllen = 0;
        }
        if (sendmsg(fd, &mh, 0) < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN ||
                errno == ECONNREFUSED) {
                continue;
            }
            perror("gen: sendmsg");
            return false;
        }
        n -= m;
    }
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"src-port", required_argument, NULL, 'g'},
        {"dst-port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'P'},
        {"size", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},
        {"probe", no_argument, NULL, 'b'},
        {"gso", no_argument, NULL, 'G'},
        {NULL, 0, NULL, 0},
    };
    int src_port = 0, dst_port = 0, size = 64, opt, fd, batch;
    const char *path = NULL;
    uint64_t count = UINT64_MAX, sent = 0;
    double duration = 0, rate = 0, t0, t1, deadline;
    bool udp, probe = false, ok = true, closed = false, gso = false;
    uint8_t *gso_buf = NULL;
    int gso_segs = 0;
    struct mmsghdr msgs[UDP_BATCH], probe_msg;
    struct iovec iov, probe_iov;
    uint8_t *frame, *probe_frame, *sbuf = NULL;
    size_t rec;
    struct timespec next;
    uint64_t period_ns = 0;
    struct sigaction sa = {0};

    if (argc < 2) {
        usage();
    }
    if (!strcmp(argv[1], "udp")) {
        udp = true;
    } else if (!strcmp(argv[1], "stream")) {
        udp = false;
    } else {
        usage();
    }
    optind = 2;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'g':
            src_port = atoi(optarg);
            break;
        case 'p':
            dst_port = atoi(optarg);
            break;
        case 'P':
            path = optarg;
            break;
        case 's':
            size = atoi(optarg);
            break;
        case 'c':
            count = strtoull(optarg, NULL, 0);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'b':
            probe = true;
            break;
        case 'G':
            gso = true;
            break;
        default:
            usage();
        }
    }
    if (size < BENCH_MIN_FRAME || size > BENCH_MAX_FRAME ||
        (udp && (!src_port || !dst_port)) || (!udp && !path)) {
        usage();
    }

    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /*
     * Paced sends go out in small batches: about one per millisecond, so
     * that bursts stay far below the forwarder's socket buffer.
     */
    if (rate > 0) {
        batch = (int)(rate / 1000);
        if (batch < 1) {
            batch = 1;
        }
        if (batch > UDP_BATCH) {
            batch = UDP_BATCH;
        }
        period_ns = (uint64_t)(batch * 1e9 / rate);
    } else {
        batch = udp ? UDP_BATCH : STREAM_FLOOD_BATCH;
    }

    frame = malloc(size);
    probe_frame = malloc(size);
    bench_fill_frame(frame, size, BENCH_ETHERTYPE_DATA);
    bench_fill_frame(probe_frame, size, BENCH_ETHERTYPE_PROBE);
    rec = size + 4;

    if (udp) {
        fd = udp_open(src_port, dst_port);
        iov.iov_base = frame;
        iov.iov_len = size;
        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < UDP_BATCH; i++) {
            msgs[i].msg_hdr.msg_iov = &iov;
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        probe_iov.iov_base = probe_frame;
        probe_iov.iov_len = size;
        memset(&probe_msg, 0, sizeof(probe_msg));
        probe_msg.msg_hdr.msg_iov = &probe_iov;
        probe_msg.msg_hdr.msg_iovlen = 1;
        if (gso) {
            /* A super-datagram must fit in one IP packet of 64 KiB. */
            gso_segs = (65507 / size) < UDP_BATCH ? 65507 / size : UDP_BATCH;
            gso_buf = malloc((size_t)gso_segs * size);
            for (int i = 0; i < gso_segs; i++) {
                memcpy(gso_buf + (size_t)i * size, frame, size);
            }
        }
    } else {
        fd = stream_open(path);
        sbuf = malloc(rec * batch);
        for (int i = 0; i < batch; i++) {
            bench_put_be32(sbuf + i * rec, size);
            memcpy(sbuf + i * rec + 4, frame, size);
        }
    }

    if (probe) {
        uint8_t prec[4 + BENCH_MAX_FRAME];

        bench_put_be32(prec, size);
        memcpy(prec + 4, probe_frame, size);
        while (!go && !stop) {
            if (udp) {
                if (!send_udp(fd, &probe_msg, 1)) {
                    return 1;
                }
            } else if (!write_all(fd, prec, rec)) {
                fprintf(stderr, "gen: write: %s\n", strerror(errno));
                return 1;
            }
            usleep(5000);
        }
    }

    t0 = now();
    deadline = duration > 0 ? t0 + duration : 1e300;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (sent < count && !stop) {
        int n = batch;

        if ((uint64_t)n > count - sent) {
            n = count - sent;
        }
        if (udp && gso) {
            ok = send_udp_gso(fd, gso_buf, size, gso_segs, n);
        } else if (udp) {
            ok = send_udp(fd, msgs, n);
        } else {
            ok = write_all(fd, sbuf, rec * n);
        }
        if (!ok) {
            /*
             * Stream: the forwarder closed, or SIGTERM cut a write that
             * blocked: the end of a flood, not an error.
             */
            closed = !udp;
            ok = !udp;
            break;
        }
        sent += n;
        if (period_ns) {
            ts_add_ns(&next, period_ns);
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
                                   NULL) == EINTR &&
                   !stop) {
            }
        }
        /* Checking the clock every batch is cheap next to the syscall. */
        if (duration > 0 && now() >= deadline) {
            break;
        }
    }
    t1 = now();
    printf("{\"frames\": %llu, \"bytes\": %llu, \"seconds\": %.6f, "
           "\"ok\": %s, \"closed\": %s}\n",
           (unsigned long long)sent, (unsigned long long)sent * size, t1 - t0,
           ok ? "true" : "false", closed ? "true" : "false");
    fflush(stdout);
    if (!udp) {
        /* Let the forwarder read everything before the socket closes. */
        shutdown(fd, SHUT_WR);
    }
    close(fd);
    return ok ? 0 : 1;
}
