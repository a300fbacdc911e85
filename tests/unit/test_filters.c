/*
 * test_filters.c - the filter objects of src/filters, made as QEMU's
 * object_add makes them (netbe_object_add_str), on a netdev "a" peered
 * with "b" (test clients):
 *   filter-dump: the pcap file libpcap reads back holds exactly the
 *     frames that passed, in order, with their lengths, cut to maxlen,
 *     for queue=all/rx/tx, without the vnet header; a FIFO without a
 *     reader or with one that does not read never holds frames up, and a
 *     reader that comes (again) gets a fresh pcap stream;
 *   filter-buffer: frames held for interval= on the loop's clock and
 *     released in order, at once when turned off or deleted;
 *   filter-mirror and filter-redirector on "-chardev socket" servers
 *     whose other end the test holds: QEMU's wire format both ways;
 *   switch-dump: every frame that crosses a learning switch, once;
 *   QEMU 7.2's "info network" lines and messages for bad options
 *   (nothing left behind), and that object_del and deleting the netdev
 *   free everything (LeakSanitizer).
 *
 * The loop is the default one for fds, with timers on a clock the test
 * moves (clk_advance()): no test waits for real time to pass.  SIGPIPE
 * stays at its default, as in an embedder that never thought of it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "netbe/chardev.h"
#include "netbe/loop.h"
#include "netbe/object.h"
#include "testlib.h"

/* ---- a loop whose clock the test moves ---- */

struct clk_timer {
    netbe_timer_cb *cb;
    void *opaque;
    int64_t expire;
    bool armed;
    struct clk_timer *next;
};

static struct {
    struct netbe_loop pub;
    struct netbe_loop *real;
    int64_t now;
    struct clk_timer *timers;
} clk;

static void *clk_watch_fd(void *l, int fd, unsigned ev, netbe_fd_cb *cb,
                          void *opaque)
{
    return clk.real->ops->watch_fd(clk.real->opaque, fd, ev, cb, opaque);
}

static void clk_update_fd(void *l, void *w, unsigned ev)
{
    clk.real->ops->update_fd(clk.real->opaque, w, ev);
}

static void clk_unwatch_fd(void *l, void *w)
{
    clk.real->ops->unwatch_fd(clk.real->opaque, w);
}

static void *clk_timer_new(void *l, netbe_timer_cb *cb, void *opaque)
{
    struct clk_timer *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    t->cb = cb;
    t->opaque = opaque;
    t->next = clk.timers;
    clk.timers = t;
    return t;
}

static void clk_timer_mod(void *l, void *timer, int64_t ms)
{
    struct clk_timer *t = timer;

    t->expire = ms;
    t->armed = true;
}

static void clk_timer_del(void *l, void *timer)
{
    ((struct clk_timer *)timer)->armed = false;
}

static void clk_timer_free(void *l, void *timer)
{
    struct clk_timer **pp;

    for (pp = &clk.timers; *pp; pp = &(*pp)->next) {
        if (*pp == timer) {
            *pp = ((struct clk_timer *)timer)->next;
            free(timer);
            return;
        }
    }
    fail_msg("timer_free of an unknown timer");
}

static int64_t clk_clock_ms(void *l)
{
    return clk.now;
}

static void *clk_prepare_new(void *l, netbe_prepare_cb *cb, void *opaque)
{
    return clk.real->ops->prepare_new(clk.real->opaque, cb, opaque);
}

static void clk_prepare_free(void *l, void *hook)
{
    clk.real->ops->prepare_free(clk.real->opaque, hook);
}

static const struct netbe_loop_ops clk_ops = {
    .watch_fd = clk_watch_fd,
    .update_fd = clk_update_fd,
    .unwatch_fd = clk_unwatch_fd,
    .timer_new = clk_timer_new,
    .timer_mod = clk_timer_mod,
    .timer_del = clk_timer_del,
    .timer_free = clk_timer_free,
    .clock_ms = clk_clock_ms,
    .prepare_new = clk_prepare_new,
    .prepare_free = clk_prepare_free,
};

/* Run the timers that are due, earliest first (they may re-arm). */
static void clk_fire(void)
{
    for (int n = 0;; n++) {
        struct clk_timer *t, *best = NULL;

        assert_true(n < 100000); /* a timer that re-arms at now forever */
        for (t = clk.timers; t; t = t->next) {
            if (t->armed && t->expire <= clk.now &&
                (!best || t->expire < best->expire)) {
                best = t;
            }
        }
        if (!best) {
            return;
        }
        best->armed = false;
        best->cb(best->opaque);
    }
}

/* One turn of the real loop for the fds, then the timers due. */
static void pump(void)
{
    netbe_loop_run_once(clk.real, 0);
    clk_fire();
}

static void clk_advance(int64_t ms)
{
    clk.now += ms;
    clk_fire();
    pump();
}

/* Pump until @cond, for at most about 5 s of real time (fds only). */
#define PUMP_UNTIL(cond)                                                       \
    do {                                                                       \
        for (int n_ = 0; n_ < 5000 && !(cond); n_++) {                         \
            pump();                                                            \
            if (!(cond)) {                                                     \
                usleep(1000);                                                  \
            }                                                                  \
        }                                                                      \
        assert_true(cond);                                                     \
    } while (0)

/* ---- the fixture ---- */

struct fix {
    struct netbe_ctx *ctx;
    struct tl_client *a, *b; /* the netdev "a" and its peer "b" */
    char dir[64];
    enum netbe_log_level log_level;
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    tl_reset();
    memset(&clk, 0, sizeof(clk));
    clk.real = netbe_loop_default();
    clk.pub.ops = &clk_ops;
    clk.pub.opaque = &clk;
    clk.now = 1000000;
    f->ctx = netbe_ctx_new(&clk.pub);
    f->b = tl_backend(f->ctx, "b", NULL);
    f->a = tl_backend(f->ctx, "a", &f->b->nc);
    f->a->nc.is_netdev = true;
    f->log_level = netbe_log_get_level();
    strcpy(f->dir, "/tmp/netbe-test-filters-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    DIR *d;
    struct dirent *e;
    char path[384];

    tl_capture_stop();
    netbe_log_set_level(f->log_level);
    netbe_ctx_free(f->ctx);
    pump();
    while (netbe_loop_run_once(clk.real, 0)) {
    }
    /* everything that armed a timer freed it */
    assert_null(clk.timers);
    d = opendir(f->dir);
    assert_non_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(f->dir);
    tl_confs_free();
    free(f);
    return 0;
}

/* @name in the test's directory, into @buf */
static const char *in_dir(struct fix *f, const char *name, char *buf,
                          size_t len)
{
    snprintf(buf, len, "%s/%s", f->dir, name);
    return buf;
}

/* object_add of printf(@fmt, ...) that must work */
static void add(struct fix *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add(struct fix *f, const char *fmt, ...)
{
    struct netbe_error *err = NULL;
    char str[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(str, sizeof(str), fmt, ap);
    va_end(ap);
    if (netbe_object_add_str(f->ctx, str, &err) < 0) {
        fail_msg("object_add %s: %s", str, netbe_error_msg(err));
    }
}

static void del(struct fix *f, const char *id)
{
    struct netbe_error *err = NULL;

    if (netbe_object_del(f->ctx, id, &err) < 0) {
        fail_msg("object_del %s: %s", id, netbe_error_msg(err));
    }
    assert_false(netbe_object_exists(f->ctx, id));
}

/* Open fds of this process (fakeloop.h has one too, with a loop we need not). */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1;
}

/*
 * An Ethernet frame of @len bytes from MAC 52:54:00:00:01:@src to @dst
 * (NULL: broadcast), carrying @seq so that the order shows.
 */
static void eth_frame(uint8_t *buf, size_t len, const uint8_t *dst, uint8_t src,
                      uint32_t seq)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    assert_true(len >= 18);
    tl_fill(buf, len, (uint8_t)seq);
    memcpy(buf, dst ? dst : bcast, 6);
    memcpy(buf + 6, (uint8_t[]){0x52, 0x54, 0, 0, 1, src}, 6);
    buf[12] = 0x88;
    buf[13] = 0xb5;
    buf[14] = (uint8_t)(seq >> 24);
    buf[15] = (uint8_t)(seq >> 16);
    buf[16] = (uint8_t)(seq >> 8);
    buf[17] = (uint8_t)seq;
}

static uint32_t frame_seq(const uint8_t *buf)
{
    return (uint32_t)buf[14] << 24 | (uint32_t)buf[15] << 16 |
           (uint32_t)buf[16] << 8 | buf[17];
}

/* ---- pcap files ---- */

#define MAX_RECS 2048

struct rec {
    uint32_t caplen, len;
    uint32_t sum; /* tl_hash of the captured bytes */
    uint32_t seq;
    uint8_t head[64];
};

struct capture {
    int linktype, snaplen;
    int n;
    struct rec r[MAX_RECS];
};

static void read_pcap_from(pcap_t *p, struct capture *c)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int r;

    c->linktype = pcap_datalink(p);
    c->snaplen = pcap_snapshot(p);
    c->n = 0;
    while ((r = pcap_next_ex(p, &h, &data)) == 1) {
        struct rec *rec = &c->r[c->n];

        assert_true(c->n < MAX_RECS);
        rec->caplen = h->caplen;
        rec->len = h->len;
        rec->sum = tl_hash(data, h->caplen);
        rec->seq = h->caplen >= 18 ? frame_seq(data) : 0;
        memcpy(rec->head, data, h->caplen < 64 ? h->caplen : 64);
        c->n++;
    }
    /* the end of the file, not a broken record */
    assert_int_equal(r, PCAP_ERROR_BREAK);
    pcap_close(p);
}

static struct capture *read_pcap(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct capture *c = calloc(1, sizeof(*c));
    pcap_t *p = pcap_open_offline(path, errbuf);

    assert_non_null(c);
    if (!p) {
        fail_msg("pcap_open_offline(%s): %s", path, errbuf);
    }
    read_pcap_from(p, c);
    return c;
}

/* A pcap stream read from a FIFO, in memory. */
static struct capture *read_pcap_mem(const uint8_t *buf, size_t len)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct capture *c = calloc(1, sizeof(*c));
    FILE *fp = fmemopen((void *)buf, len, "rb");
    pcap_t *p;

    assert_non_null(c);
    assert_non_null(fp);
    p = pcap_fopen_offline(fp, errbuf); /* pcap_close() closes fp */
    if (!p) {
        fail_msg("pcap_fopen_offline: %s", errbuf);
    }
    read_pcap_from(p, c);
    return c;
}

/* Record @i is all @len bytes of tl_fill(@seed), cut to @maxlen. */
static void assert_rec(const struct capture *c, int i, size_t len, uint8_t seed,
                       size_t maxlen)
{
    uint8_t buf[2048];
    size_t cap = len < maxlen ? len : maxlen;

    assert_true(i < c->n);
    assert_true(len <= sizeof(buf));
    tl_fill(buf, len, seed);
    assert_int_equal(c->r[i].len, len);
    assert_int_equal(c->r[i].caplen, cap);
    assert_int_equal(c->r[i].sum, tl_hash(buf, cap));
}

/* ---- filter-dump ---- */

/* What test_dump_both_directions_and_maxlen sends: a -> b, b -> a, mixed. */
static const struct {
    bool from_a;
    size_t len;
    uint8_t seed;
} mixed[] = {
    {true, 60, 1},   {true, 100, 2},  {false, 64, 3},   {true, 101, 4},
    {false, 200, 5}, {true, 1514, 6}, {false, 1514, 7}, {true, 65, 8},
};

/*
 * The capture at @path holds the frames of mixed[] that went @dir (all,
 * rx: from b, tx: from a), in order, cut to @maxlen, its snaplen.
 */
static void assert_mixed(const char *path, enum netbe_filter_direction dir,
                         size_t maxlen)
{
    struct capture *c = read_pcap(path);
    int n = 0;

    assert_int_equal(c->linktype, DLT_EN10MB);
    assert_int_equal(c->snaplen, maxlen);
    for (size_t i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
        if ((dir == NETBE_FILTER_DIRECTION_TX && !mixed[i].from_a) ||
            (dir == NETBE_FILTER_DIRECTION_RX && mixed[i].from_a)) {
            continue;
        }
        assert_rec(c, n++, mixed[i].len, mixed[i].seed, maxlen);
    }
    assert_int_equal(c->n, n);
    free(c);
}

static void test_dump_both_directions_and_maxlen(void **state)
{
    struct fix *f = *state;
    char all[128], tx[128], rx[128];
    int to_a = 0, to_b = 0;

    add(f, "filter-dump,id=d0,netdev=a,file=%s",
        in_dir(f, "all.pcap", all, sizeof(all)));
    add(f, "filter-dump,id=d1,netdev=a,file=%s,maxlen=100,queue=tx",
        in_dir(f, "tx.pcap", tx, sizeof(tx)));
    add(f, "filter-dump,id=d2,netdev=a,file=%s,queue=rx,maxlen=64",
        in_dir(f, "rx.pcap", rx, sizeof(rx)));
    for (size_t i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
        struct tl_client *from = mixed[i].from_a ? f->a : f->b;
        struct tl_client *to = mixed[i].from_a ? f->b : f->a;
        int k = mixed[i].from_a ? to_b++ : to_a++;

        assert_int_equal(tl_send(&from->nc, mixed[i].len, mixed[i].seed),
                         mixed[i].len);
        /* the dumps take nothing away */
        tl_assert_frame(to, k, mixed[i].len, mixed[i].seed);
    }
    assert_int_equal(f->a->nframes, to_a);
    assert_int_equal(f->b->nframes, to_b);
    del(f, "d0");
    del(f, "d1");
    del(f, "d2");
    /* QEMU's default maxlen is 65536 */
    assert_mixed(all, NETBE_FILTER_DIRECTION_ALL, 65536);
    assert_mixed(tx, NETBE_FILTER_DIRECTION_TX, 100);
    assert_mixed(rx, NETBE_FILTER_DIRECTION_RX, 64);
}

static void test_dump_status_off_and_on(void **state)
{
    struct fix *f = *state;
    char path[128];
    struct capture *c;

    add(f, "filter-dump,id=d0,netdev=a,file=%s,status=off",
        in_dir(f, "x.pcap", path, sizeof(path)));
    tl_send(&f->a->nc, 60, 1);
    netbe_filter_set_status(netbe_filter_find(f->ctx, "d0"), true);
    tl_send(&f->a->nc, 61, 2);
    netbe_filter_set_status(netbe_filter_find(f->ctx, "d0"), false);
    tl_send(&f->a->nc, 62, 3);
    assert_int_equal(f->b->nframes, 3);
    del(f, "d0");
    c = read_pcap(path);
    assert_int_equal(c->n, 1);
    assert_rec(c, 0, 61, 2, 65536);
    free(c);
}

static void test_dump_leaves_vnet_header_out(void **state)
{
    struct fix *f = *state;
    char path[128];
    uint8_t frame[12 + 80];
    struct capture *c;

    /* both peers carry 12-byte vnet headers: nothing to convert */
    f->a->nc.vnet_hdr_len = 12;
    f->b->nc.vnet_hdr_len = 12;
    add(f, "filter-dump,id=d0,netdev=a,file=%s,maxlen=50",
        in_dir(f, "v.pcap", path, sizeof(path)));
    memset(frame, 0, 12);
    tl_fill(frame + 12, 80, 7);
    assert_int_equal(netbe_send_packet(&f->a->nc, frame, sizeof(frame)),
                     sizeof(frame));
    tl_fill(frame + 12, 80, 8);
    assert_int_equal(netbe_send_packet(&f->b->nc, frame, sizeof(frame)),
                     sizeof(frame));
    /* a raw frame has no header at all */
    tl_fill(frame, 70, 9);
    assert_int_equal(netbe_send_packet_raw(&f->a->nc, frame, 70), 70);
    assert_int_equal(f->b->nframes, 2);
    assert_int_equal(f->b->frames[0].len, sizeof(frame));
    assert_int_equal(f->b->frames[1].len, 12 + 70); /* b's header added */
    assert_int_equal(f->a->nframes, 1);
    del(f, "d0");
    c = read_pcap(path);
    assert_int_equal(c->n, 3);
    assert_rec(c, 0, 80, 7, 50);
    assert_rec(c, 1, 80, 8, 50);
    assert_rec(c, 2, 70, 9, 50);
    free(c);
}

static int open_reader(const char *fifo)
{
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    assert_true(fd >= 0);
    return fd;
}

/* Everything non-blocking @fd (a FIFO, a socket) holds now, onto @buf. */
static size_t drain_fd(int fd, uint8_t *buf, size_t have, size_t cap)
{
    for (;;) {
        ssize_t n;

        assert_true(have < cap);
        n = read(fd, buf + have, cap - have);
        if (n <= 0) {
            assert_true(n == 0 || errno == EAGAIN);
            return have;
        }
        have += (size_t)n;
    }
}

/*
 * Read @fd while the loop writes what waited for it, until the loop has
 * nothing more (three turns that bring nothing).
 */
static size_t catch_up(int fd, uint8_t *buf, size_t have, size_t cap)
{
    for (int idle = 0; idle < 3;) {
        size_t before = have;

        have = drain_fd(fd, buf, have, cap);
        pump();
        idle = have == before ? idle + 1 : 0;
    }
    return have;
}

static void test_dump_fifo_reader_comes_and_goes(void **state)
{
    struct fix *f = *state;
    char fifo[128];
    uint8_t *buf = malloc(1 << 16);
    size_t len = 0;
    struct capture *c;
    int rd;

    assert_non_null(buf);
    in_dir(f, "live.fifo", fifo, sizeof(fifo));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    tl_capture_start();
    add(f, "filter-dump,id=live,netdev=a,file=%s", fifo);

    /* no reader: the frames go on, not captured, counted in warnings */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tl_send(&f->a->nc, 60, (uint8_t)i), 60);
    }
    assert_int_equal(f->b->nframes, 5);
    assert_non_null(strstr(tl_msgs.text, "W:live: 1 frames not captured: "
                                         "the FIFO has no reader\n"));
    assert_non_null(strstr(tl_msgs.text, "W:live: 2 frames not captured"));
    assert_non_null(strstr(tl_msgs.text, "W:live: 4 frames not captured"));
    assert_null(strstr(tl_msgs.text, "W:live: 3 frames"));
    assert_null(strstr(tl_msgs.text, "W:live: 5 frames"));

    /* a reader comes: found on the next look, 100 ms later */
    rd = open_reader(fifo);
    clk_advance(99);
    assert_int_equal(drain_fd(rd, buf, 0, 1 << 16), 0);
    clk_advance(1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tl_send(&f->a->nc, 100 + i, (uint8_t)(10 + i)),
                         100 + i);
    }
    tl_send(&f->b->nc, 70, 20);
    pump();
    len = drain_fd(rd, buf, 0, 1 << 16);
    c = read_pcap_mem(buf, len);
    assert_int_equal(c->linktype, DLT_EN10MB);
    assert_int_equal(c->n, 4);
    assert_rec(c, 0, 100, 10, 65536);
    assert_rec(c, 2, 102, 12, 65536);
    assert_rec(c, 3, 70, 20, 65536);
    free(c);

    /*
     * The reader leaves: the next frame finds no one (EPIPE, and no
     * SIGPIPE for the embedder), and still goes on.
     */
    close(rd);
    assert_int_equal(tl_send(&f->a->nc, 60, 30), 60);
    assert_int_equal(tl_send(&f->a->nc, 60, 31), 60);
    assert_int_equal(f->b->nframes, 5 + 3 + 2);

    /* the next reader gets a pcap stream of its own from its start */
    rd = open_reader(fifo);
    clk_advance(100);
    assert_int_equal(tl_send(&f->a->nc, 90, 40), 90);
    pump();
    len = drain_fd(rd, buf, 0, 1 << 16);
    c = read_pcap_mem(buf, len);
    assert_int_equal(c->n, 1);
    assert_rec(c, 0, 90, 40, 65536);
    free(c);

    /* object_del closes the FIFO: the reader sees its end */
    del(f, "live");
    assert_int_equal(drain_fd(rd, buf, 0, 1 << 16), 0);
    assert_int_equal(read(rd, buf, 1), 0);
    close(rd);
    free(buf);
}

static void test_dump_fifo_reader_never_reads(void **state)
{
    struct fix *f = *state;
    const int n = 1500; /* 2.2 MiB: the pipe and the 1 MiB buffer fill */
    const size_t cap = 4u << 20;
    uint8_t *buf = malloc(cap), frame[1514];
    char fifo[128];
    size_t len = 0;
    struct capture *c;
    int rd;

    assert_non_null(buf);
    in_dir(f, "slow.fifo", fifo, sizeof(fifo));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    rd = open_reader(fifo);
    tl_capture_start();
    add(f, "filter-dump,id=slow,netdev=a,file=%s", fifo);
    for (int i = 0; i < n; i++) {
        eth_frame(frame, sizeof(frame), NULL, 1, (uint32_t)i);
        assert_int_equal(netbe_send_packet(&f->a->nc, frame, sizeof(frame)),
                         sizeof(frame));
        pump();
    }
    /* every frame went on; what did not fit was counted */
    assert_int_equal(f->b->nframes, n);
    assert_int_equal(f->b->nframes, f->b->nc.stats.rx_frames);
    assert_non_null(strstr(tl_msgs.text, "W:slow: 1 frames not captured: "
                                         "the reader of the FIFO is slow\n"));

    /* the reader catches up: what waited comes, then nothing more */
    len = catch_up(rd, buf, len, cap);
    del(f, "slow");
    len = drain_fd(rd, buf, len, cap);
    close(rd);
    c = read_pcap_mem(buf, len);
    /* whole records, in order, the first ones without a gap */
    assert_true(c->n > 600);
    assert_true(c->n < n);
    for (int i = 0; i < c->n; i++) {
        assert_int_equal(c->r[i].len, sizeof(frame));
        if (i < 600) {
            assert_int_equal(c->r[i].seq, i);
        } else {
            assert_true(c->r[i].seq > c->r[i - 1].seq);
        }
    }
    free(c);
    free(buf);
}

/* ---- filter-buffer ---- */

static void test_buffer_holds_for_interval(void **state)
{
    struct fix *f = *state;

    add(f, "filter-buffer,id=fb,netdev=a,queue=tx,interval=400000");
    for (int burst = 0; burst < 2; burst++) {
        for (int i = 0; i < 5; i++) {
            /* the sender is told it went: it is not paused */
            assert_int_equal(
                tl_send(&f->a->nc, 60 + i, (uint8_t)(10 * burst + i)), 60 + i);
        }
        /* the other way is not buffered (queue=tx) */
        tl_send(&f->b->nc, 70, 99);
        assert_int_equal(f->a->nframes, burst + 1);
        assert_int_equal(f->b->nframes, 5 * burst);
        clk_advance(399);
        assert_int_equal(f->b->nframes, 5 * burst);
        clk_advance(1);
        assert_int_equal(f->b->nframes, 5 * burst + 5);
        for (int i = 0; i < 5; i++) {
            tl_assert_frame(f->b, 5 * burst + i, 60 + i,
                            (uint8_t)(10 * burst + i));
        }
    }
    /* nothing held: the next release has nothing to give */
    clk_advance(400);
    assert_int_equal(f->b->nframes, 10);
    assert_int_equal(f->a->nc.stats.drop_queue_full, 0);
}

static void test_buffer_interval_under_a_ms(void **state)
{
    struct fix *f = *state;

    /* the loop counts ms: 1 µs is 1 ms */
    add(f, "filter-buffer,id=fb,netdev=a,interval=1");
    tl_send(&f->a->nc, 60, 1);
    pump();
    assert_int_equal(f->b->nframes, 0);
    clk_advance(1);
    assert_int_equal(f->b->nframes, 1);
}

static void test_buffer_both_ways_released_off_and_deleted(void **state)
{
    struct fix *f = *state;
    struct netbe_filter *nf;

    add(f, "filter-buffer,id=fb,netdev=a,interval=1000000");
    nf = netbe_filter_find(f->ctx, "fb");
    assert_non_null(nf);
    tl_send(&f->a->nc, 60, 1);
    tl_send(&f->b->nc, 61, 2);
    tl_send(&f->a->nc, 62, 3);
    tl_send(&f->b->nc, 63, 4);
    assert_int_equal(f->a->nframes + f->b->nframes, 0);
    /* off: all of it at once, each the way it went */
    netbe_filter_set_status(nf, false);
    assert_int_equal(f->b->nframes, 2);
    tl_assert_frame(f->b, 0, 60, 1);
    tl_assert_frame(f->b, 1, 62, 3);
    assert_int_equal(f->a->nframes, 2);
    tl_assert_frame(f->a, 0, 61, 2);
    tl_assert_frame(f->a, 1, 63, 4);
    /* off passes everything, and its timer is off too */
    tl_send(&f->a->nc, 64, 5);
    assert_int_equal(f->b->nframes, 3);
    clk_advance(2000);
    assert_int_equal(f->b->nframes, 3);
    /* on again: held again, the interval from now */
    netbe_filter_set_status(nf, true);
    tl_send(&f->a->nc, 65, 6);
    clk_advance(999);
    assert_int_equal(f->b->nframes, 3);
    tl_send(&f->a->nc, 66, 7);
    /* object_del lets them go first, in order */
    del(f, "fb");
    assert_int_equal(f->b->nframes, 5);
    tl_assert_frame(f->b, 3, 65, 6);
    tl_assert_frame(f->b, 4, 66, 7);
    tl_send(&f->a->nc, 67, 8);
    assert_int_equal(f->b->nframes, 6);
}

static void test_buffer_releases_down_the_chain(void **state)
{
    struct fix *f = *state;
    char path[128];
    struct capture *c;

    /* the dump behind the buffer sees frames as the buffer lets them go */
    add(f, "filter-dump,id=d0,netdev=a,file=%s",
        in_dir(f, "chain.pcap", path, sizeof(path)));
    add(f, "filter-buffer,id=fb,netdev=a,interval=10000,status=off,"
           "position=id=d0,insert=before");
    tl_send(&f->a->nc, 60, 1); /* off: passes */
    netbe_filter_set_status(netbe_filter_find(f->ctx, "fb"), true);
    tl_send(&f->a->nc, 61, 2);
    tl_send(&f->a->nc, 62, 3);
    c = read_pcap(path);
    assert_int_equal(c->n, 1);
    free(c);
    clk_advance(10);
    assert_int_equal(f->b->nframes, 3);
    del(f, "fb");
    del(f, "d0");
    c = read_pcap(path);
    assert_int_equal(c->n, 3);
    assert_rec(c, 0, 60, 1, 65536);
    assert_rec(c, 1, 61, 2, 65536);
    assert_rec(c, 2, 62, 3, 65536);
    free(c);
}

static void test_buffer_limit_counted(void **state)
{
    struct fix *f = *state;

    add(f, "filter-buffer,id=fb,netdev=a,queue=tx,interval=1000");
    for (int i = 0; i < NETBE_QUEUE_DEFAULT_LIMIT + 3; i++) {
        tl_send(&f->a->nc, 60, (uint8_t)i);
    }
    assert_int_equal(f->a->nc.stats.drop_queue_full, 3);
    clk_advance(1);
    assert_int_equal(f->b->nframes, NETBE_QUEUE_DEFAULT_LIMIT);
    tl_assert_frame(f->b, 0, 60, 0);
}

static void test_buffer_netdev_deleted_while_holding(void **state)
{
    struct fix *f = *state;

    add(f, "filter-buffer,id=fb,netdev=a,interval=1000");
    add(f, "filter-buffer,id=fb2,netdev=b,interval=1000");
    tl_send(&f->a->nc, 60, 1);
    tl_send(&f->b->nc, 60, 2);
    /* the held frames go with it (LeakSanitizer checks the rest) */
    netbe_client_del(&f->a->nc);
    assert_false(netbe_object_exists(f->ctx, "fb"));
    assert_true(netbe_object_exists(f->ctx, "fb2"));
    clk_advance(1);
    /* b's held frame has nobody to go to now */
    assert_int_equal(f->b->nframes, 0);
    assert_int_equal(f->b->nc.stats.drop_no_peer, 1);
}

/* ---- chardevs ---- */

/* A "-chardev socket" server @id in the test's directory, and our end. */
static int chardev_pair(struct fix *f, const char *id)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct netbe_error *err = NULL;
    struct netbe_chardev *chr;
    char str[256];
    int fd;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", f->dir, id);
    snprintf(str, sizeof(str), "socket,id=%s,path=%s,server=on,wait=off", id,
             sa.sun_path);
    chr = netbe_chardev_add_str(f->ctx, str, &err);
    if (!chr) {
        fail_msg("%s: %s", str, netbe_error_msg(err));
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    PUMP_UNTIL(netbe_chardev_is_open(chr));
    return fd;
}

/* @len bytes from @fd, pumping the loop meanwhile (for about 5 s at most). */
static void read_exact(int fd, uint8_t *buf, size_t len)
{
    size_t have = 0;

    for (int i = 0; i < 5000 && have < len; i++) {
        ssize_t n = recv(fd, buf + have, len - have, MSG_DONTWAIT);

        if (n > 0) {
            have += (size_t)n;
            continue;
        }
        assert_true(n < 0 && errno == EAGAIN);
        pump();
        usleep(1000);
    }
    assert_int_equal(have, len);
}

/* Nothing more waits on @fd. */
static void assert_nothing_to_read(int fd)
{
    uint8_t b;

    pump();
    assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/*
 * The next frame of QEMU's filter-mirror format on @fd: it is @len bytes
 * (after a vnet header length @hdr when @vnet) of which the last
 * @len - @skip are tl_fill(@seed).
 */
static void expect_wire_frame(int fd, bool vnet, uint32_t hdr, size_t len,
                              size_t skip, uint8_t seed)
{
    uint8_t head[8], got[2048], want[2048];

    assert_true(len <= sizeof(got));
    read_exact(fd, head, vnet ? 8 : 4);
    assert_int_equal(be32(head), len);
    if (vnet) {
        assert_int_equal(be32(head + 4), hdr);
    }
    read_exact(fd, got, len);
    tl_fill(want, len - skip, seed);
    assert_memory_equal(got + skip, want, len - skip);
}

static void send_wire_frame(int fd, bool vnet, uint32_t hdr, size_t len,
                            uint8_t seed)
{
    uint8_t buf[2048 + 8];
    size_t off = vnet ? 8 : 4;

    assert_true(len <= 2048);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    if (vnet) {
        buf[4] = buf[5] = buf[6] = 0;
        buf[7] = (uint8_t)hdr;
    }
    memset(buf + off, 0, hdr);
    tl_fill(buf + off + hdr, len - hdr, seed);
    assert_int_equal(write(fd, buf, off + len), (ssize_t)(off + len));
}

/* ---- filter-mirror ---- */

static void test_mirror_copies_to_outdev(void **state)
{
    struct fix *f = *state;
    int fd = chardev_pair(f, "c0");

    add(f, "filter-mirror,id=m0,netdev=a,outdev=c0");
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_int_equal(tl_send(&f->b->nc, 100, 2), 100);
    assert_int_equal(tl_send(&f->a->nc, 1514, 3), 1514);
    /* the originals reach their peers */
    assert_int_equal(f->b->nframes, 2);
    tl_assert_frame(f->b, 1, 1514, 3);
    assert_int_equal(f->a->nframes, 1);
    tl_assert_frame(f->a, 0, 100, 2);
    /* and copies the chardev, in order, both ways (queue=all) */
    expect_wire_frame(fd, false, 0, 60, 0, 1);
    expect_wire_frame(fd, false, 0, 100, 0, 2);
    expect_wire_frame(fd, false, 0, 1514, 0, 3);
    assert_nothing_to_read(fd);
    del(f, "m0");
    tl_send(&f->a->nc, 60, 4);
    assert_nothing_to_read(fd);
    close(fd);
}

static void test_mirror_queue_rx_and_vnet_hdr(void **state)
{
    struct fix *f = *state;
    int fd = chardev_pair(f, "c0"), fd1 = chardev_pair(f, "c1");
    uint8_t frame[12 + 60];

    f->a->nc.vnet_hdr_len = 12;
    f->b->nc.vnet_hdr_len = 12;
    add(f, "filter-mirror,id=m0,netdev=a,outdev=c0,queue=rx,"
           "vnet_hdr_support=on");
    add(f, "filter-mirror,id=m1,netdev=a,outdev=c1,vnet_hdr_support=off");
    memset(frame, 0, 12);
    tl_fill(frame + 12, 60, 1);
    netbe_send_packet(&f->a->nc, frame, sizeof(frame)); /* tx: m1 only */
    tl_fill(frame + 12, 60, 2);
    netbe_send_packet(&f->b->nc, frame, sizeof(frame));
    assert_int_equal(f->a->nframes, 1);
    assert_int_equal(f->b->nframes, 1);
    /* on: the frame with its header, and the header's length */
    expect_wire_frame(fd, true, 12, 72, 12, 2);
    assert_nothing_to_read(fd);
    /* off: the frame without it */
    expect_wire_frame(fd1, false, 0, 60, 0, 1);
    expect_wire_frame(fd1, false, 0, 60, 0, 2);
    assert_nothing_to_read(fd1);
    close(fd);
    close(fd1);
}

static void test_mirror_and_dump_many_pieces(void **state)
{
    struct fix *f = *state;
    int fd = chardev_pair(f, "c0");
    uint8_t frame[300];
    struct iovec iov[100];
    char path[128];
    struct capture *c;

    /* 100 pieces of 3 bytes: more than the mirror's iovec takes at once */
    tl_fill(frame, sizeof(frame), 5);
    for (int i = 0; i < 100; i++) {
        iov[i] = (struct iovec){.iov_base = frame + 3 * i, .iov_len = 3};
    }
    add(f, "filter-mirror,id=m0,netdev=a,outdev=c0");
    add(f, "filter-dump,id=d0,netdev=a,file=%s,maxlen=200",
        in_dir(f, "p.pcap", path, sizeof(path)));
    assert_int_equal(netbe_sendv_packet(&f->a->nc, iov, 100), 300);
    assert_int_equal(netbe_sendv_packet(&f->a->nc, iov, 20), 60);
    tl_assert_frame(f->b, 0, 300, 5);
    expect_wire_frame(fd, false, 0, 300, 0, 5);
    expect_wire_frame(fd, false, 0, 60, 0, 5);
    del(f, "d0");
    c = read_pcap(path);
    assert_int_equal(c->n, 2);
    assert_rec(c, 0, 300, 5, 200);
    assert_rec(c, 1, 60, 5, 200);
    free(c);
    close(fd);
}

static void test_mirror_without_connection(void **state)
{
    struct fix *f = *state;
    int fd = chardev_pair(f, "c0");
    struct netbe_chardev *chr = netbe_chardev_find(f->ctx, "c0");

    add(f, "filter-mirror,id=m0,netdev=a,outdev=c0");
    close(fd);
    PUMP_UNTIL(!netbe_chardev_is_open(chr));
    /* nobody to copy to: the frames go on as ever */
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_int_equal(f->b->nframes, 1);
    assert_int_equal(f->a->nc.stats.drop_filter, 0);
}

static void test_mirror_peer_that_never_reads(void **state)
{
    struct fix *f = *state;
    const int n = 1500; /* 2.2 MiB: the socket and the 1 MiB buffer fill */
    const size_t cap = 4u << 20;
    uint8_t *buf = malloc(cap), frame[1514];
    int fd = chardev_pair(f, "c0"), got = 0;
    size_t len = 0, off;
    uint32_t last = 0;

    assert_non_null(buf);
    tl_capture_start();
    add(f, "filter-mirror,id=m0,netdev=a,outdev=c0");
    for (int i = 0; i < n; i++) {
        eth_frame(frame, sizeof(frame), NULL, 1, (uint32_t)i);
        assert_int_equal(netbe_send_packet(&f->a->nc, frame, sizeof(frame)),
                         sizeof(frame));
        pump();
    }
    /* the originals all went on; the copies that did not fit are counted */
    assert_int_equal(f->b->nframes, n);
    assert_non_null(strstr(tl_msgs.text, "W:filter-mirror m0: 1 frames not "
                                         "sent to chardev 'c0': its peer "
                                         "does not read fast enough\n"));
    assert_non_null(strstr(tl_msgs.text, "W:filter-mirror m0: 2 frames"));

    /* the peer catches up: whole frames, in order, the first ones all */
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    len = catch_up(fd, buf, len, cap);
    for (off = 0; off < len; off += 4 + sizeof(frame), got++) {
        uint32_t seq;

        assert_true(off + 4 + sizeof(frame) <= len);
        assert_int_equal(be32(buf + off), sizeof(frame));
        seq = frame_seq(buf + off + 4);
        if (got < 600) {
            assert_int_equal(seq, got);
        } else {
            assert_true(seq > last);
        }
        last = seq;
    }
    assert_true(got > 600);
    assert_true(got < n);
    free(buf);
    close(fd);
}

/* ---- filter-redirector ---- */

static void test_redirector_outdev_not_connected(void **state)
{
    struct fix *f = *state;
    int fd = chardev_pair(f, "out");

    close(fd);
    PUMP_UNTIL(!netbe_chardev_is_open(netbe_chardev_find(f->ctx, "out")));
    add(f, "filter-redirector,id=r0,netdev=a,outdev=out,queue=tx");
    /* taken from the path with nowhere to go: a drop, and counted */
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_int_equal(tl_send(&f->a->nc, 60, 2), 60);
    assert_int_equal(f->b->nframes, 0);
    assert_int_equal(f->a->nc.stats.drop_filter, 2);
    tl_send(&f->b->nc, 60, 3);
    assert_int_equal(f->a->nframes, 1);
}

static void test_redirector_outdev_and_indev_tx(void **state)
{
    struct fix *f = *state;
    int in = chardev_pair(f, "in"), out = chardev_pair(f, "out");

    add(f, "filter-redirector,id=r0,netdev=a,queue=tx,indev=in,outdev=out");
    /* what a sends goes to outdev instead of b */
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_int_equal(tl_send(&f->a->nc, 61, 2), 61);
    assert_int_equal(f->b->nframes, 0);
    expect_wire_frame(out, false, 0, 60, 0, 1);
    expect_wire_frame(out, false, 0, 61, 0, 2);
    /* the other way is not redirected */
    tl_send(&f->b->nc, 62, 3);
    assert_int_equal(f->a->nframes, 1);
    assert_nothing_to_read(out);
    /* indev's frames go on as if a had sent them: to b */
    send_wire_frame(in, false, 0, 100, 4);
    send_wire_frame(in, false, 0, 64, 5);
    PUMP_UNTIL(f->b->nframes == 2);
    tl_assert_frame(f->b, 0, 100, 4);
    tl_assert_frame(f->b, 1, 64, 5);
    assert_int_equal(f->a->nframes, 1);
    /* from this filter on: not back into itself */
    assert_nothing_to_read(out);
    close(in);
    close(out);
}

static void test_redirector_indev_rx_and_all(void **state)
{
    struct fix *f = *state;
    int in = chardev_pair(f, "in"), in2 = chardev_pair(f, "in2");

    add(f, "filter-redirector,id=r0,netdev=a,queue=rx,indev=in");
    /* indev only: everything else passes */
    tl_send(&f->a->nc, 60, 1);
    tl_send(&f->b->nc, 60, 2);
    assert_int_equal(f->a->nframes, 1);
    assert_int_equal(f->b->nframes, 1);
    /* rx: as if b had sent it, to a */
    send_wire_frame(in, false, 0, 80, 3);
    PUMP_UNTIL(f->a->nframes == 2);
    tl_assert_frame(f->a, 1, 80, 3);
    assert_int_equal(f->b->nframes, 1);
    del(f, "r0");

    /* all: both ways; vnet_hdr_support=on frames carry their header */
    f->a->nc.vnet_hdr_len = 12;
    f->b->nc.vnet_hdr_len = 12;
    add(f, "filter-redirector,id=r1,netdev=a,indev=in2,vnet_hdr_support=on");
    send_wire_frame(in2, true, 12, 12 + 70, 4);
    PUMP_UNTIL(f->a->nframes == 3 && f->b->nframes == 2);
    assert_int_equal(f->a->frames[2].len, 12 + 70);
    assert_int_equal(f->b->frames[1].len, 12 + 70);
    {
        uint8_t want[70];

        tl_fill(want, sizeof(want), 4);
        assert_memory_equal(f->a->frames[2].data + 12, want, sizeof(want));
        assert_memory_equal(f->b->frames[1].data + 12, want, sizeof(want));
    }
    close(in);
    close(in2);
}

static void test_redirector_indev_waits_for_room(void **state)
{
    struct fix *f = *state;
    int in = chardev_pair(f, "in");
    const int n = 40;

    /* b takes nothing for now, and its queue holds about 4 frames */
    f->b->mode = TL_REFUSE;
    netbe_client_set_queue_bytes(&f->b->nc, 4096);
    add(f, "filter-redirector,id=r0,netdev=a,queue=tx,indev=in");
    for (int i = 0; i < n; i++) {
        send_wire_frame(in, false, 0, 1000, (uint8_t)i);
        pump();
    }
    for (int i = 0; i < 10; i++) {
        clk_advance(5); /* the paused indev looks again every 5 ms */
    }
    /* indev was paused, not read: the rest waits in the socket */
    assert_true(f->b->nc.incoming_queue->count < 5);
    assert_int_equal(f->b->nc.stats.drop_queue_full, 0);
    /* b takes frames again: indev is read again, and nothing was lost */
    f->b->mode = TL_ACCEPT;
    netbe_flush_queued(&f->b->nc);
    for (int i = 0; i < 5000 && f->b->nframes < n; i++) {
        clk_advance(5);
        usleep(1000);
    }
    assert_int_equal(f->b->nframes, n);
    for (int i = 0; i < n; i++) {
        tl_assert_frame(f->b, i, 1000, (uint8_t)i);
    }
    assert_int_equal(f->b->nc.stats.drop_queue_full, 0);
    close(in);
}

static void test_redirector_indev_garbage_disconnects(void **state)
{
    struct fix *f = *state;
    int in = chardev_pair(f, "in");
    struct netbe_chardev *chr = netbe_chardev_find(f->ctx, "in");
    uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff}, b;

    tl_capture_start();
    add(f, "filter-redirector,id=r0,netdev=a,queue=tx,indev=in");
    send_wire_frame(in, false, 0, 60, 1);
    assert_int_equal(write(in, huge, 4), 4);
    /* the frame before it went on; then that connection ends */
    PUMP_UNTIL(!netbe_chardev_is_open(chr));
    assert_int_equal(f->b->nframes, 1);
    PUMP_UNTIL(recv(in, &b, 1, MSG_DONTWAIT) == 0);
    assert_non_null(strstr(tl_msgs.text, "W:filter-redirector r0: chardev "
                                         "'in': "));
    close(in);
    /* a new connection is read again */
    {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/in.sock", f->dir);
        in = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(in, (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    PUMP_UNTIL(netbe_chardev_is_open(chr));
    send_wire_frame(in, false, 0, 61, 2);
    PUMP_UNTIL(f->b->nframes == 2);
    tl_assert_frame(f->b, 1, 61, 2);
    close(in);
}

/* ---- switch-dump ---- */

/* A learning switch @hub with @n VMs "vm0"... on its ports. */
static void make_switch(struct fix *f, int hub, struct tl_client **vm, int n)
{
    assert_int_equal(netbe_hub_set_learning(f->ctx, hub, true, NULL), 0);
    for (int i = 0; i < n; i++) {
        char name[16];

        snprintf(name, sizeof(name), "vm%d", i);
        vm[i] = tl_backend(f->ctx, name, NULL);
        assert_non_null(netbe_hub_add_port(f->ctx, hub, NULL, &vm[i]->nc));
    }
}

static void test_switch_dump_every_port(void **state)
{
    struct fix *f = *state;
    struct tl_client *vm[3];
    uint8_t frame[100];
    const uint8_t mac0[6] = {0x52, 0x54, 0, 0, 1, 0};
    const uint8_t mac2[6] = {0x52, 0x54, 0, 0, 1, 2};
    char path[128];
    struct capture *c;
    int want_rx[3] = {0};

    make_switch(f, 1, vm, 3);
    add(f, "switch-dump,id=sw,hubid=1,file=%s",
        in_dir(f, "sw.pcap", path, sizeof(path)));
    assert_true(netbe_object_exists(f->ctx, "sw"));
    /* broadcasts from 0 and 2 (learned), unicast 1 -> 0, 0 -> 2 */
    eth_frame(frame, 100, NULL, 0, 0);
    netbe_send_packet(&vm[0]->nc, frame, 100);
    want_rx[1]++, want_rx[2]++;
    eth_frame(frame, 90, NULL, 2, 1);
    netbe_send_packet(&vm[2]->nc, frame, 90);
    want_rx[0]++, want_rx[1]++;
    eth_frame(frame, 80, mac0, 1, 2);
    netbe_send_packet(&vm[1]->nc, frame, 80);
    want_rx[0]++;
    eth_frame(frame, 70, mac2, 0, 3);
    netbe_send_packet(&vm[0]->nc, frame, 70);
    want_rx[2]++;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vm[i]->nframes, want_rx[i]);
    }
    del(f, "sw");
    c = read_pcap(path);
    /* each frame once, as its port took it */
    assert_int_equal(c->n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c->r[i].seq, i);
        assert_int_equal(c->r[i].len, 100 - 10 * i);
    }
    assert_int_equal(c->r[1].head[11], 2); /* the source MAC */
    assert_memory_equal(c->r[2].head, mac0, 6);
    free(c);
    /* one left running goes with the context (LeakSanitizer) */
    add(f, "switch-dump,id=sw2,hubid=1,file=%s", path);
    netbe_send_packet(&vm[0]->nc, frame, 70);
}

static void test_switch_dump_ends_with_hub(void **state)
{
    struct fix *f = *state;
    struct tl_client *vm[2];
    uint8_t frame[60];
    char path[128];
    struct capture *c;

    tl_capture_start();
    netbe_log_set_level(NETBE_LOG_INFO); /* teardown sets it back */
    make_switch(f, 2, vm, 2);
    add(f, "switch-dump,id=sw,hubid=2,file=%s,maxlen=20",
        in_dir(f, "sw.pcap", path, sizeof(path)));
    eth_frame(frame, 60, NULL, 0, 7);
    netbe_send_packet(&vm[0]->nc, frame, 60);
    /* the ports go (their VMs left): the switch, and its capture */
    netbe_client_del(vm[0]->nc.peer);
    netbe_client_del(vm[1]->nc.peer);
    netbe_client_del(&vm[0]->nc);
    netbe_client_del(&vm[1]->nc);
    pump();
    assert_false(netbe_object_exists(f->ctx, "sw"));
    assert_non_null(
        strstr(tl_msgs.text, "I:switch-dump sw: hub gone, capture ended\n"));
    c = read_pcap(path);
    assert_int_equal(c->snaplen, 20);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->r[0].caplen, 20);
    assert_int_equal(c->r[0].len, 60);
    assert_int_equal(c->r[0].seq, 7);
    free(c);
    /* the id is free again */
    add(f, "filter-dump,id=sw,netdev=a,file=%s", path);
}

static void test_switch_dump_bad_hub_leaves_file(void **state)
{
    struct fix *f = *state;
    struct netbe_error *err = NULL;
    char path[128], str[256], back[16] = "";
    FILE *fp;

    /* a capture someone keeps */
    in_dir(f, "keep.pcap", path, sizeof(path));
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("precious", fp);
    fclose(fp);
    snprintf(str, sizeof(str), "switch-dump,id=sw,hubid=9,file=%s", path);
    assert_int_equal(netbe_object_add_str(f->ctx, str, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), "Parameter 'hubid' expects "
                                              "the id of a hub: hub 9 not "
                                              "found");
    netbe_error_free(err);
    assert_false(netbe_object_exists(f->ctx, "sw"));
    /* the failed object_add did not empty it */
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(back, sizeof(back), fp));
    fclose(fp);
    assert_string_equal(back, "precious");
}

/* ---- messages ---- */

static void test_info_network_as_qemu(void **state)
{
    struct fix *f = *state;
    int c0 = chardev_pair(f, "c0"), c1 = chardev_pair(f, "c1"),
        c2 = chardev_pair(f, "c2");
    char path[128], want[1024];
    char *got;

    add(f, "filter-dump,id=d0,netdev=a,file=%s,maxlen=100",
        in_dir(f, "x.pcap", path, sizeof(path)));
    add(f, "filter-buffer,id=fb,netdev=a,interval=1000,queue=rx");
    add(f, "filter-mirror,id=m0,netdev=a,outdev=c0");
    add(f, "filter-redirector,id=r0,netdev=a,indev=c1,outdev=c2,"
           "vnet_hdr_support=on,queue=tx,status=off");
    /* what QEMU 7.2 prints for the same objects on a netdev "a" */
    snprintf(want, sizeof(want),
             "filters:\n"
             "  - d0: type=filter-dump,file=%s,maxlen=100,position=tail,"
             "status=on,insert=behind,netdev=a,queue=all\n"
             "  - fb: type=filter-buffer,interval=1000,position=tail,"
             "status=on,insert=behind,netdev=a,queue=rx\n"
             "  - m0: type=filter-mirror,vnet_hdr_support=false,outdev=c0,"
             "position=tail,status=on,insert=behind,netdev=a,queue=all\n"
             "  - r0: type=filter-redirector,vnet_hdr_support=true,indev=c1,"
             "outdev=c2,position=tail,status=off,insert=behind,netdev=a,"
             "queue=tx\n",
             path);
    got = tl_print_client(&f->a->nc);
    assert_non_null(strstr(got, want));
    free(got);
    close(c0);
    close(c1);
    close(c2);
}

static void expect_error(struct fix *f, const char *str, const char *msg)
{
    struct netbe_error *err = NULL;
    char *info_before = tl_info_network(f->ctx), *info_after;
    int fds = count_fds();

    if (netbe_object_add_str(f->ctx, str, &err) == 0) {
        fail_msg("object_add %s worked", str);
    }
    assert_non_null(err);
    if (strcmp(netbe_error_msg(err), msg)) {
        fail_msg("object_add %s:\n got '%s'\nwant '%s'", str,
                 netbe_error_msg(err), msg);
    }
    netbe_error_free(err);
    /* nothing made, nothing left open */
    info_after = tl_info_network(f->ctx);
    assert_string_equal(info_after, info_before);
    assert_int_equal(count_fds(), fds);
    free(info_before);
    free(info_after);
}

static void test_errors_as_qemu(void **state)
{
    struct fix *f = *state;
    char str[256], msg[256];
    int fd = chardev_pair(f, "c0"), fd1;

    add(f, "filter-dump,id=taken,netdev=a,file=%s/t.pcap", f->dir);
    add(f, "filter-mirror,id=busy,netdev=a,outdev=c0");
    fd1 = chardev_pair(f, "c1");

    expect_error(f, "netdev=a", "Parameter 'qom-type' is missing");
    expect_error(f, "filter-foo,id=x,netdev=a",
                 "Parameter 'qom-type' does not accept value 'filter-foo'");
    expect_error(f, "filter-dump,netdev=a,file=/tmp/x",
                 "Parameter 'id' is missing");
    expect_error(f, "filter-dump,id=1x,netdev=a,file=/tmp/x",
                 "Parameter 'id' expects an identifier\n"
                 "Identifiers consist of letters, digits, '-', '.', '_', "
                 "starting with a letter.");
    expect_error(f, "filter-mirror,id=x,outdev=c1",
                 "Parameter 'netdev' is missing");
    expect_error(f, "filter-mirror,id=x,netdev=zz,outdev=c1",
                 "Parameter 'netdev' expects a network backend id");
    expect_error(f, "filter-mirror,id=x,netdev=a",
                 "Parameter 'outdev' is missing");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=zz",
                 "Device 'zz' not found");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c0",
                 "Device 'c0' is in use");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c1,queue=foo",
                 "Parameter 'queue' does not accept value 'foo'");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c1,status=foo",
                 "Invalid value for netfilter status, should be 'on' or "
                 "'off'");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c1,position=foo",
                 "Parameter 'position' expects 'head', 'tail' or 'id=<id>'");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c1,position=id=zz",
                 "filter 'zz' not found");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c1,insert=foo",
                 "Parameter 'insert' does not accept value 'foo'");
    expect_error(f, "filter-mirror,id=x,netdev=a,outdev=c1,bogus=1",
                 "Parameter 'bogus' is unexpected");
    expect_error(f, "filter-redirector,id=x,netdev=a",
                 "filter redirector needs 'indev' or 'outdev' at least one "
                 "property set");
    expect_error(f, "filter-redirector,id=x,netdev=a,indev=c1,outdev=c1",
                 "'indev' and 'outdev' could not be same for filter "
                 "redirector");
    expect_error(f, "filter-redirector,id=x,netdev=a,indev=zz",
                 "Device 'zz' not found");
    expect_error(f, "filter-dump,id=x,netdev=a", "Parameter 'file' is missing");
    expect_error(f, "filter-dump,id=x,netdev=a,file=/nonexist/x",
                 "net dump: can't open /nonexist/x: No such file or "
                 "directory");
    snprintf(str, sizeof(str), "filter-dump,id=x,netdev=a,file=%s/x,maxlen=0",
             f->dir);
    expect_error(f, str,
                 "Property 'filter-dump.maxlen' doesn't take value "
                 "'0'");
    snprintf(str, sizeof(str), "filter-dump,id=taken,netdev=a,file=%s/x",
             f->dir);
    expect_error(f, str,
                 "attempt to add duplicate property 'taken' to object "
                 "(type 'container')");
    expect_error(f, "filter-buffer,id=x,netdev=a",
                 "Parameter 'interval' is missing");
    expect_error(f, "filter-buffer,id=x,netdev=a,interval=0",
                 "Property 'filter-buffer.interval' requires a positive "
                 "value");
    snprintf(str, sizeof(str), "switch-dump,id=x,hubid=9,file=%s/x", f->dir);
    expect_error(f, str,
                 "Parameter 'hubid' expects the id of a hub: hub 9 not found");
    snprintf(str, sizeof(str), "switch-dump,id=x,hubid=9,file=%s/x,maxlen=0",
             f->dir);
    expect_error(f, str,
                 "Property 'switch-dump.maxlen' doesn't take value "
                 "'0'");
    snprintf(msg, sizeof(msg), "object '%s' not found", "zz");
    {
        struct netbe_error *err = NULL;

        assert_int_equal(netbe_object_del(f->ctx, "zz", &err), -1);
        assert_non_null(err);
        assert_string_equal(netbe_error_msg(err), msg);
        netbe_error_free(err);
    }
    /* the file of a failed dump was never created */
    snprintf(str, sizeof(str), "%s/x", f->dir);
    assert_int_equal(access(str, F_OK), -1);
    close(fd);
    close(fd1);
}

/* ---- deletion ---- */

static void test_netdev_del_frees_every_filter(void **state)
{
    struct fix *f = *state;
    struct netbe_error *err = NULL;
    int fds, c0, c1, c2;
    char path[128];

    c0 = chardev_pair(f, "c0");
    c1 = chardev_pair(f, "c1");
    c2 = chardev_pair(f, "c2");
    fds = count_fds();
    add(f, "filter-dump,id=f0,netdev=a,file=%s",
        in_dir(f, "a.pcap", path, sizeof(path)));
    add(f, "filter-buffer,id=f1,netdev=a,interval=1000,queue=rx");
    add(f, "filter-mirror,id=f2,netdev=a,outdev=c0");
    add(f, "filter-redirector,id=f3,netdev=a,indev=c1,outdev=c2,"
           "queue=rx");
    tl_send(&f->b->nc, 60, 1); /* held by f1 */
    tl_send(&f->a->nc, 60, 2);
    expect_wire_frame(c0, false, 0, 60, 0, 2);
    assert_int_equal(netbe_netdev_del(f->ctx, "a", &err), 0);
    assert_null(err);
    for (int i = 0; i < 4; i++) {
        char id[4];

        snprintf(id, sizeof(id), "f%d", i);
        assert_false(netbe_object_exists(f->ctx, id));
    }
    /* the dump's file is closed, the chardevs are free for others */
    assert_int_equal(count_fds(), fds);
    f->a = tl_backend(f->ctx, "a", NULL);
    add(f, "filter-mirror,id=g0,netdev=a,outdev=c0");
    add(f, "filter-redirector,id=g1,netdev=a,indev=c1,outdev=c2");
    del(f, "g0");
    del(f, "g1");
    assert_int_equal(count_fds(), fds);
    close(c0);
    close(c1);
    close(c2);
}

static void test_object_del_frees_each(void **state)
{
    struct fix *f = *state;
    int fds, c0 = chardev_pair(f, "c0"), c1 = chardev_pair(f, "c1");
    char path[128];

    assert_int_equal(netbe_hub_set_learning(f->ctx, 3, true, NULL), 0);
    assert_non_null(netbe_hub_add_port(f->ctx, 3, NULL, NULL));
    fds = count_fds();
    for (int round = 0; round < 2; round++) {
        add(f, "filter-dump,id=f0,netdev=a,file=%s",
            in_dir(f, "a.pcap", path, sizeof(path)));
        add(f, "filter-buffer,id=f1,netdev=a,interval=1000");
        add(f, "filter-mirror,id=f2,netdev=a,outdev=c0");
        add(f, "filter-redirector,id=f3,netdev=a,indev=c1");
        add(f, "switch-dump,id=f4,hubid=3,file=%s",
            in_dir(f, "s.pcap", path, sizeof(path)));
        tl_send(&f->a->nc, 60, 1);
        del(f, "f4");
        del(f, "f3");
        del(f, "f2");
        del(f, "f1");
        del(f, "f0");
        assert_true(TAILQ_EMPTY(&f->a->nc.filters));
        assert_int_equal(count_fds(), fds);
    }
    assert_int_equal(f->b->nframes, 2);
    close(c0);
    close(c1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_dump_both_directions_and_maxlen),
        T(test_dump_status_off_and_on),
        T(test_dump_leaves_vnet_header_out),
        T(test_dump_fifo_reader_comes_and_goes),
        T(test_dump_fifo_reader_never_reads),
        T(test_buffer_holds_for_interval),
        T(test_buffer_interval_under_a_ms),
        T(test_buffer_both_ways_released_off_and_deleted),
        T(test_buffer_releases_down_the_chain),
        T(test_buffer_limit_counted),
        T(test_buffer_netdev_deleted_while_holding),
        T(test_mirror_copies_to_outdev),
        T(test_mirror_queue_rx_and_vnet_hdr),
        T(test_mirror_and_dump_many_pieces),
        T(test_mirror_without_connection),
        T(test_mirror_peer_that_never_reads),
        T(test_redirector_outdev_not_connected),
        T(test_redirector_outdev_and_indev_tx),
        T(test_redirector_indev_rx_and_all),
        T(test_redirector_indev_waits_for_room),
        T(test_redirector_indev_garbage_disconnects),
        T(test_switch_dump_every_port),
        T(test_switch_dump_ends_with_hub),
        T(test_switch_dump_bad_hub_leaves_file),
        T(test_info_network_as_qemu),
        T(test_errors_as_qemu),
        T(test_netdev_del_frees_every_filter),
        T(test_object_del_frees_each),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
