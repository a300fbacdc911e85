/*
 * sink.c - traffic sink for the forwarder benchmark (bench/run.py).
 *
 * Receives the frames that gen.c sent through a forwarder, over UDP
 * (recvmmsg in batches of 64) or from a unix stream socket in QEMU's
 * stream framing, which it validates.  Probe frames are not counted; the
 * first one makes it print {"probe": true} so that the harness knows the
 * path works.  Measured frames are counted from the first one on, until a
 * count, a duration or an idle timeout.
 *
 * Lines of JSON on stdout: {"ready": true} once bound or connected, then
 * at most one {"probe": true}, then the result.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "bench.h"

#define UDP_BATCH 64
#define STREAM_BUF (1 << 20)

struct sink {
    int size; /* expected frame size, 0 = any */
    uint64_t count;
    double duration, idle, wait;
    /* results */
    uint64_t frames, bytes, bad, probes;
    double t_first, t_last;
    bool started, probe_reported, framing_error;
    const char *end; /* why the sink stopped */
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sink udp --port S [options]\n"
            "       sink stream --path SOCKET [--listen] [options]\n"
            "options:\n"
            "  --size N       expected frame size (others count as bad)\n"
            "  --count N      stop after N frames\n"
            "  --duration S   stop S seconds after the first frame\n"
            "  --idle S       stop after S seconds without a frame "
            "(default 1)\n"
            "  --wait S       give up if no frame came in S seconds "
            "(default 30)\n");
    exit(2);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(const char *line)
{
    fputs(line, stdout);
    fflush(stdout);
}

static void frame_in(struct sink *s, const uint8_t *f, uint32_t len, double t)
{
    switch (bench_classify(f, len)) {
    case 1:
        if (s->size && len != (uint32_t)s->size) {
            s->bad++;
            return;
        }
        if (!s->started) {
            s->started = true;
            s->t_first = t;
        }
        s->frames++;
        s->bytes += len;
        s->t_last = t;
        return;
    case 2:
        s->probes++;
        if (!s->probe_reported) {
            s->probe_reported = true;
            say("{\"probe\": true}\n");
        }
        return;
    default:
        s->bad++;
    }
}

/* Milliseconds poll() may wait, or -1 when it is time to stop. */
static int time_left(struct sink *s, double start, double t)
{
    double until;
    const char *why;

    if (stop) {
        s->end = "signal";
        return -1;
    }
    if (s->count && s->frames >= s->count) {
        s->end = "count";
        return -1;
    }
    if (!s->started) {
        until = start + s->wait;
        why = "wait";
    } else {
        until = s->t_last + s->idle;
        why = "idle";
        if (s->duration > 0 && s->t_first + s->duration < until) {
            until = s->t_first + s->duration;
            why = "duration";
        }
    }
    if (t >= until) {
        s->end = why;
        return -1;
    }
    return (int)((until - t) * 1000) + 1;
}

static int udp_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd, sz = 32 << 20;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("sink: socket");
        exit(1);
    }
    /* A big buffer so that the sink is never where frames get lost. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("sink: bind");
        exit(1);
    }
    return fd;
}

/* Datagrams the kernel dropped because the sink's socket was full. */
static long long udp_drops(int fd)
{
    struct stat st;
    char line[512];
    long long drops = -1;
    FILE *f;

    if (fstat(fd, &st) < 0 || !(f = fopen("/proc/net/udp", "r"))) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long long inode, d;

        /* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
        if (sscanf(line,
                   "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu",
                   &inode, &d) == 2 &&
            inode == st.st_ino) {
            drops = d;
            break;
        }
    }
    fclose(f);
    return drops;
}

static void run_udp(struct sink *s, int fd)
{
    static uint8_t bufs[UDP_BATCH][BENCH_MAX_FRAME];
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iovs[UDP_BATCH];
    double start = now();
    int ms;

    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < UDP_BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = sizeof(bufs[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while ((ms = time_left(s, start, now())) >= 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n;

        n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                perror("sink: recvmmsg");
                s->end = "error";
                return;
            }
            poll(&pfd, 1, ms);
            continue;
        }
        double t = now();
        for (int i = 0; i < n; i++) {
            frame_in(s, bufs[i], msgs[i].msg_len, t);
        }
    }
}

static int stream_open(const char *path, bool listen_mode)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, sz = 4 << 20;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "sink: socket path too long\n");
        exit(1);
    }
    strcpy(sa.sun_path, path);
    if (listen_mode) {
        int lfd = socket(AF_UNIX, SOCK_STREAM, 0);

        unlink(path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(lfd, 1) < 0) {
            perror("sink: listen");
            exit(1);
        }
        say("{\"ready\": true}\n");
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            perror("sink: accept");
            exit(1);
        }
        close(lfd);
        unlink(path);
    } else {
        for (int i = 0;; i++) {
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            if (fd < 0) {
                perror("sink: socket");
                exit(1);
            }
            if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                break;
            }
            close(fd);
            if (i == 1000) {
                fprintf(stderr, "sink: connect %s: %s\n", path,
                        strerror(errno));
                exit(1);
            }
            usleep(10000);
        }
        say("{\"ready\": true}\n");
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
    return fd;
}

static void run_stream(struct sink *s, int fd)
{
    static uint8_t buf[STREAM_BUF + 4 + BENCH_MAX_FRAME];
    size_t have = 0;
    double start = now();
    int ms;

    while ((ms = time_left(s, start, now())) >= 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        size_t off = 0;
        ssize_t n;

        n = recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                perror("sink: read");
                s->end = "error";
                return;
            }
            poll(&pfd, 1, ms);
            continue;
        }
        if (n == 0) {
            s->end = "eof"; /* the forwarder closed the connection */
            return;
        }
        have += n;
        double t = now();
        while (have - off >= 4) {
            uint32_t len = bench_get_be32(buf + off);

            if (len == 0 || len > BENCH_MAX_FRAME) {
                fprintf(stderr, "sink: bad stream record length %u\n", len);
                s->framing_error = true;
                s->end = "error";
                return;
            }
            if (have - off < 4 + len) {
                break;
            }
            frame_in(s, buf + off + 4, len, t);
            off += 4 + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"path", required_argument, NULL, 'P'},
        {"listen", no_argument, NULL, 'l'},
        {"size", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"idle", required_argument, NULL, 'i'},
        {"wait", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct sink s = {.idle = 1, .wait = 30, .end = "?"};
    const char *path = NULL;
    bool udp, listen_mode = false;
    int port = 0, opt, fd;
    struct sigaction sa = {0};
    double secs;
    long long drops = 0;

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
        case 'p':
            port = atoi(optarg);
            break;
        case 'P':
            path = optarg;
            break;
        case 'l':
            listen_mode = true;
            break;
        case 's':
            s.size = atoi(optarg);
            break;
        case 'c':
            s.count = strtoull(optarg, NULL, 0);
            break;
        case 'd':
            s.duration = atof(optarg);
            break;
        case 'i':
            s.idle = atof(optarg);
            break;
        case 'w':
            s.wait = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if ((udp && !port) || (!udp && !path)) {
        usage();
    }
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (udp) {
        fd = udp_open(port);
        say("{\"ready\": true}\n");
        run_udp(&s, fd);
        drops = udp_drops(fd);
    } else {
        fd = stream_open(path, listen_mode);
        run_stream(&s, fd);
    }
    /*
     * The measured span ends at the last frame, except that with a
     * duration the window is fixed: a forwarder that stalled or closed
     * early gets the rate it delivered over the whole window.
     */
    secs = s.t_last - s.t_first;
    if (s.duration > 0 && s.started && strcmp(s.end, "count")) {
        secs = s.duration;
    }
    printf("{\"frames\": %llu, \"bytes\": %llu, \"seconds\": %.6f, "
           "\"bad\": %llu, \"probes\": %llu, \"framing_error\": %s, "
           "\"end\": \"%s\", \"sink_drops\": %lld}\n",
           (unsigned long long)s.frames, (unsigned long long)s.bytes, secs,
           (unsigned long long)s.bad, (unsigned long long)s.probes,
           s.framing_error ? "true" : "false", s.end, drops);
    fflush(stdout);
    close(fd);
    return s.framing_error ? 1 : 0;
}
