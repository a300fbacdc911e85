/*
 * dump.c - QEMU's filter-dump (net/dump.c): every frame that passes the
 * filter goes into a pcap file, written with libpcap, cut to maxlen
 * bytes, without the vnet header of the netdev's frames.
 *
 * Nothing here blocks the loop.  libpcap writes each record through a
 * stdio cookie into one bounded buffer (no allocation per frame), which
 * goes out in one write() per frame:
 *  - a regular file takes it at once;
 *  - a FIFO (live capture: "tshark -i FIFO", "wireshark -k -i FIFO") is
 *    written non-blocking.  While no reader has it open, frames are not
 *    captured (counted); a reader that comes gets a fresh pcap header and
 *    the frames from then on.  A slow reader gets what fits in
 *    NETBE_PCAP_BUF bytes waiting; frames past that are not captured
 *    (counted, logged at the 1st, 2nd, 4th... time).  A reader that left
 *    closes the file and netbe waits for the next.
 * The pcap sink is shared with switch-dump.c (netbe's whole-switch
 * capture).
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "filters/filters.h"
#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/util.h"

/* A FIFO's reader is looked for this often while there is none. */
#define FIFO_RETRY_MS 100

/* pcap's per-record header in the file */
#define PCAP_REC_HDR 16

static ssize_t ck_write(void *cookie, const char *buf, size_t size)
{
    struct netbe_pcap_sink *s = cookie;

    if (size > NETBE_PCAP_BUF - s->tail) {
        if (size > NETBE_PCAP_BUF - (s->tail - s->head)) {
            errno = ENOSPC;
            return -1; /* never: room is checked before each record */
        }
        memmove(s->buf, s->buf + s->head, s->tail - s->head);
        s->tail -= s->head;
        s->head = 0;
    }
    memcpy(s->buf + s->tail, buf, size);
    s->tail += size;
    return (ssize_t)size;
}

static int ck_close(void *cookie)
{
    return 0;
}

static void sink_flush(struct netbe_pcap_sink *s);
static void sink_try_open(struct netbe_pcap_sink *s, struct netbe_error **errp);

static void sink_drop_reader(struct netbe_pcap_sink *s)
{
    if (s->dumper) {
        pcap_dump_close(s->dumper); /* fclose()s the cookie stream */
        s->dumper = NULL;
    }
    netbe_unwatch_fd(s->loop, s->watch);
    s->watch = NULL;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->head = s->tail = 0;
}

static void retry_cb(void *opaque)
{
    struct netbe_pcap_sink *s = opaque;

    sink_try_open(s, NULL);
}

static void arm_retry(struct netbe_pcap_sink *s)
{
    if (s->timer) {
        s->loop->ops->timer_mod(s->loop->opaque, s->timer,
                                netbe_clock_ms(s->loop) + FIFO_RETRY_MS);
    }
}

static void write_cb(void *opaque, int fd, unsigned events)
{
    sink_flush(opaque);
}

/* A reader (or the file) is there: a new pcap stream starts. */
static int sink_start(struct netbe_pcap_sink *s, struct netbe_error **errp)
{
    static const cookie_io_functions_t io = {.write = ck_write,
                                             .close = ck_close};
    FILE *fp = fopencookie(s, "w", io);

    if (!fp) {
        netbe_error_setg(errp, "net dump: can't open %s: %s", s->file,
                         strerror(errno));
        return -1;
    }
    setvbuf(fp, NULL, _IONBF, 0);
    s->head = s->tail = 0;
    s->dumper = pcap_dump_fopen(s->pcap, fp); /* writes the file header */
    if (!s->dumper) {
        netbe_error_setg(errp, "net dump: can't open %s: %s", s->file,
                         pcap_geterr(s->pcap));
        fclose(fp);
        return -1;
    }
    if (s->fifo) {
        s->watch = netbe_watch_fd(s->loop, s->fd, 0, write_cb, s);
        if (!s->watch) {
            netbe_error_setg(errp, "net dump: can't watch %s", s->file);
            sink_drop_reader(s);
            return -1;
        }
    }
    sink_flush(s);
    return 0;
}

static void sink_try_open(struct netbe_pcap_sink *s, struct netbe_error **errp)
{
    struct netbe_error *err = NULL;

    s->fd = open(s->file, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (s->fd < 0) {
        if (errno != ENXIO) {
            netbe_error_setg(&err, "net dump: can't open %s: %s", s->file,
                             strerror(errno));
            goto fail;
        }
        arm_retry(s); /* no reader yet */
        return;
    }
    if (sink_start(s, &err) < 0) {
        goto fail;
    }
    s->readers++;
    return;

fail:
    if (errp) {
        netbe_error_propagate(errp, err);
        return;
    }
    if (netbe_filter_warn_hit(&s->warned)) {
        netbe_warn_report("%s: %s", s->id, netbe_error_msg(err));
    }
    netbe_error_free(err);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    arm_retry(s);
}

/*
 * write() to a FIFO whose reader left raises SIGPIPE, and an embedder that
 * did not ignore it dies (sockets have MSG_NOSIGNAL, pipes nothing like
 * it): block it around the write and take back the one the write raised,
 * so that only EPIPE is left.
 */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    static const struct timespec now = {0, 0};
    sigset_t pipe_set, old, pending;
    bool was_pending;
    ssize_t n;
    int err;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    /* one the process had already (it blocked it too) is not ours */
    was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    n = write(fd, buf, len);
    err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        while (sigtimedwait(&pipe_set, NULL, &now) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

static void sink_flush(struct netbe_pcap_sink *s)
{
    while (s->tail > s->head) {
        ssize_t n = s->fifo ? write_nosigpipe(s->fd, s->buf + s->head,
                                              s->tail - s->head)
                            : write(s->fd, s->buf + s->head, s->tail - s->head);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && s->fifo && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            netbe_update_fd(s->loop, s->watch, NETBE_EV_WRITE);
            return;
        }
        if (n <= 0) {
            if (s->fifo) {
                /* the reader left: wait for the next one */
                netbe_debug("%s: the reader of %s left", s->id, s->file);
                sink_drop_reader(s);
                arm_retry(s);
                return;
            }
            netbe_error_report("network dump write error - stopping dump");
            sink_drop_reader(s);
            s->stopped = true;
            return;
        }
        s->head += (size_t)n;
    }
    s->head = s->tail = 0;
    if (s->watch) {
        netbe_update_fd(s->loop, s->watch, 0);
    }
}

int netbe_pcap_sink_open(struct netbe_pcap_sink *s, struct netbe_loop *loop,
                         const char *id, const char *file, uint32_t maxlen,
                         struct netbe_error **errp)
{
    struct stat st;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->loop = loop;
    s->id = netbe_strdup(id);
    s->file = netbe_strdup(file);
    s->maxlen = maxlen;
    s->lin_cap = maxlen < NETBE_NET_BUFSIZE ? maxlen : NETBE_NET_BUFSIZE;
    s->lin = netbe_malloc0(s->lin_cap ? s->lin_cap : 1);
    s->buf = netbe_malloc0(NETBE_PCAP_BUF);
    s->pcap = pcap_open_dead(DLT_EN10MB,
                             (int)(maxlen > INT32_MAX ? INT32_MAX : maxlen));
    if (!s->pcap) {
        netbe_error_setg(errp, "net dump: can't open %s: pcap_open_dead", file);
        goto fail;
    }
    if (stat(file, &st) == 0 && S_ISFIFO(st.st_mode)) {
        s->fifo = true;
        if (!loop) {
            netbe_error_setg(errp, "net dump: %s is a FIFO: it needs a loop",
                             file);
            goto fail;
        }
        struct netbe_error *err = NULL;

        s->timer = loop->ops->timer_new(loop->opaque, retry_cb, s);
        sink_try_open(s, &err);
        if (err) {
            netbe_error_propagate(errp, err);
            goto fail;
        }
        return 0;
    }
    s->fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        netbe_error_setg(errp, "net dump: can't open %s: %s", file,
                         strerror(errno));
        goto fail;
    }
    if (sink_start(s, errp) < 0) {
        goto fail;
    }
    return 0;

fail:
    netbe_pcap_sink_close(s);
    return -1;
}

void netbe_pcap_sink_close(struct netbe_pcap_sink *s)
{
    sink_drop_reader(s);
    if (s->timer) {
        s->loop->ops->timer_free(s->loop->opaque, s->timer);
        s->timer = NULL;
    }
    if (s->pcap) {
        pcap_close(s->pcap);
        s->pcap = NULL;
    }
    free(s->buf);
    free(s->lin);
    free(s->file);
    free(s->id);
    s->buf = s->lin = NULL;
    s->file = s->id = NULL;
}

void netbe_pcap_sink_frame(struct netbe_pcap_sink *s, const struct iovec *iov,
                           int iovcnt, size_t offset)
{
    size_t size = netbe_iov_size(iov, iovcnt), len, caplen;
    struct pcap_pkthdr h;

    if (offset > size) {
        offset = 0; /* not the header we expected: the frame as it is */
    }
    len = size - offset;
    caplen = len < s->lin_cap ? len : s->lin_cap;
    if (!s->dumper ||
        PCAP_REC_HDR + caplen > NETBE_PCAP_BUF - (s->tail - s->head)) {
        if (s->stopped) {
            return;
        }
        s->lost++;
        if (s->fifo && netbe_filter_warn_hit(&s->lost_warned)) {
            netbe_warn_report("%s: %llu frames not captured: %s", s->id,
                              (unsigned long long)s->lost,
                              s->dumper ? "the reader of the FIFO is slow"
                                        : "the FIFO has no reader");
        }
        return;
    }
    gettimeofday(&h.ts, NULL);
    h.caplen = (bpf_u_int32)caplen;
    h.len = (bpf_u_int32)len;
    netbe_iov_to_buf(iov, iovcnt, offset, s->lin, caplen);
    pcap_dump((u_char *)s->dumper, &h, s->lin);
    s->frames++;
    sink_flush(s);
}

/* ---- filter-dump ---- */

struct dump {
    struct netbe_pcap_sink sink;
};

static ssize_t dump_receive_iov(struct netbe_filter *nf,
                                struct netbe_client *sender, unsigned flags,
                                const struct iovec *iov, int iovcnt,
                                netbe_packet_sent *sent_cb)
{
    struct dump *d = nf->opaque;
    struct netbe_client *from = sender ? sender : nf->netdev;

    /* the frame is in its sender's form; a raw one has no header */
    netbe_pcap_sink_frame(
        &d->sink, iov, iovcnt,
        flags & NETBE_PACKET_FLAG_RAW ? 0 : (size_t)from->vnet_hdr_len);
    return 0;
}

static void dump_cleanup(struct netbe_filter *nf)
{
    struct dump *d = nf->opaque;

    if (d) {
        netbe_pcap_sink_close(&d->sink);
        free(d);
        nf->opaque = NULL;
    }
}

static void dump_print_info(struct netbe_filter *nf, FILE *out)
{
    struct dump *d = nf->opaque;

    fprintf(out, ",file=%s,maxlen=%u", d->sink.file, d->sink.maxlen);
}

static const struct netbe_filter_ops dump_ops = {
    .type = "filter-dump",
    .receive_iov = dump_receive_iov,
    .cleanup = dump_cleanup,
    .print_info = dump_print_info,
};

int netbe_dump_check_maxlen(const struct netbe_opts *opts, const char *type,
                            struct netbe_error **errp)
{
    const char *v = netbe_opts_get(opts, "maxlen");

    if (v && netbe_opts_get_number(opts, "maxlen", 1) == 0) {
        netbe_error_setg(errp, "Property '%s.maxlen' doesn't take value '0'",
                         type);
        return -1;
    }
    return 0;
}

static int dump_check(const struct netbe_opts *opts, struct netbe_error **errp)
{
    return netbe_dump_check_maxlen(opts, "filter-dump", errp);
}

static int dump_create(struct netbe_ctx *ctx, const char *id,
                       const struct netbe_opts *opts,
                       const struct netbe_filter_conf *conf,
                       struct netbe_error **errp)
{
    struct dump *d = netbe_malloc0(sizeof(*d));
    struct netbe_filter *nf;
    uint32_t maxlen =
        (uint32_t)netbe_opts_get_number(opts, "maxlen", NETBE_PCAP_MAXLEN);

    /* QEMU's order: the position is checked before the file is opened */
    nf = netbe_filter_attach(conf, &dump_ops, id, NULL, errp);
    if (!nf) {
        free(d);
        return -1;
    }
    if (netbe_pcap_sink_open(&d->sink, netbe_ctx_loop(ctx), id,
                             netbe_opts_get(opts, "file"), maxlen, errp) < 0) {
        free(d);
        netbe_filter_del(nf);
        return -1;
    }
    nf->opaque = d;
    return 0;
}

static const struct netbe_opt_desc dump_keys[] = {
    {"file", NETBE_OPT_STRING, true, NULL, NULL},
    {"maxlen", NETBE_OPT_UINT32, false, NULL, NULL},
    {NULL, 0, false, NULL, NULL},
};

static const struct netbe_object_prop dump_props[] = {
    {"file", "string"},     {"insert", "string"},
    {"maxlen", "uint32"},   {"netdev", "string"},
    {"position", "string"}, {"queue", "NetFilterDirection"},
    {"status", "string"},   {NULL, NULL},
};

const struct netbe_object_type netbe_filter_dump_type = {
    .name = "filter-dump",
    .keys = dump_keys,
    .props = dump_props,
    .is_filter = true,
    .check = dump_check,
    .create = dump_create,
};
