/*
 * testlib.h - shared helpers for the core's unit tests: a test client type
 * that records what it receives and can be told to refuse ("not now"), to
 * fail, or to run a hook from inside receive(); global logs of cleanups,
 * flushes and sent-callbacks (a deleted client cannot be asked afterwards);
 * a log sink that captures warnings; "info network" into a string.
 *
 * Include after <cmocka.h>.  Everything is static (one test program per
 * file), marked unused so that a test may use only part of it.
 */
#ifndef NETBE_TESTLIB_H
#define NETBE_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/internal.h"
#include "netbe/log.h"
#include "netbe/net.h"
#include "netbe/util.h"

#define TL_UNUSED __attribute__((unused))

#define TL_MAX_FRAMES 64
#define TL_DATA_MAX 256 /* bytes of each frame kept for comparison */

enum tl_mode {
    TL_ACCEPT = 0, /* take the frame, return its size */
    TL_REFUSE,     /* return 0: "not now" */
    TL_ERROR,      /* return -1 */
};

enum tl_via {
    TL_VIA_RECEIVE = 1,
    TL_VIA_RAW,
    TL_VIA_IOV,
};

struct tl_frame {
    size_t len;
    enum tl_via via;
    int iovcnt;   /* for TL_VIA_IOV */
    uint32_t sum; /* FNV-1a of the whole frame */
    uint8_t data[TL_DATA_MAX];
};

struct tl_client;
typedef void tl_hook(struct tl_client *c, const uint8_t *buf, size_t len);

struct tl_client {
    struct netbe_client nc; /* first: the core allocates info->size */
    enum tl_mode mode;
    int budget;  /* >= 0: accept this many more, then refuse */
    bool can_rx; /* what can_receive() answers */
    int nframes; /* frames taken, even past TL_MAX_FRAMES */
    /* the first TL_MAX_FRAMES - 1 frames, then always the latest */
    struct tl_frame frames[TL_MAX_FRAMES];
    int calls_receive, calls_raw, calls_iov, calls_can_receive;
    int calls_flush, calls_link;
    bool cleaned;         /* cleanup() ran */
    int rx_after_cleanup; /* frames offered after cleanup(): a bug */
    tl_hook *hook;        /* runs after a frame was taken */
    void *hook_opaque;
};

/* ---- global logs ---- */

#define TL_LOG_MAX 64

static struct {
    int cleanups;
    char cleaned[TL_LOG_MAX][64];
    uint64_t cleaned_rx[TL_LOG_MAX]; /* their rx_frames then */
    int flushes;
    char flushed[TL_LOG_MAX][64];
    int rx_after_cleanup; /* frames offered to a cleaned-up client */
    int sent;
    struct netbe_client *sent_sender[TL_LOG_MAX];
    ssize_t sent_ret[TL_LOG_MAX];
} tl_log TL_UNUSED;

static TL_UNUSED void tl_reset(void)
{
    memset(&tl_log, 0, sizeof(tl_log));
}

static TL_UNUSED uint32_t tl_hash(const uint8_t *p, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

/* A recognisable frame: byte i is seed + i. */
static TL_UNUSED void tl_fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i);
    }
}

static TL_UNUSED struct tl_client *tl_of(struct netbe_client *nc)
{
    return (struct tl_client *)nc;
}

static TL_UNUSED void tl_sent_cb(struct netbe_client *sender, ssize_t ret)
{
    if (tl_log.sent < TL_LOG_MAX) {
        tl_log.sent_sender[tl_log.sent] = sender;
        tl_log.sent_ret[tl_log.sent] = ret;
    }
    tl_log.sent++;
}

static TL_UNUSED ssize_t tl_take(struct tl_client *c, const uint8_t *buf,
                                 size_t len, enum tl_via via, int iovcnt)
{
    struct tl_frame *f;

    if (c->cleaned) {
        c->rx_after_cleanup++;
        tl_log.rx_after_cleanup++;
    }
    if (c->mode == TL_REFUSE) {
        return 0;
    }
    if (c->mode == TL_ERROR) {
        return -1;
    }
    if (c->budget == 0) {
        return 0;
    }
    if (c->budget > 0) {
        c->budget--;
    }
    /* past the array, the last slot keeps the latest frame */
    f = &c->frames[c->nframes < TL_MAX_FRAMES ? c->nframes : TL_MAX_FRAMES - 1];
    {
        f->len = len;
        f->via = via;
        f->iovcnt = iovcnt;
        f->sum = tl_hash(buf, len);
        memcpy(f->data, buf, len < TL_DATA_MAX ? len : TL_DATA_MAX);
    }
    c->nframes++;
    if (c->hook) {
        c->hook(c, buf, len);
    }
    return (ssize_t)len;
}

/* The latest frame @c took, or NULL. */
static TL_UNUSED struct tl_frame *tl_last(struct tl_client *c)
{
    if (!c->nframes) {
        return NULL;
    }
    return &c->frames[c->nframes < TL_MAX_FRAMES ? c->nframes - 1
                                                 : TL_MAX_FRAMES - 1];
}

static TL_UNUSED ssize_t tl_receive(struct netbe_client *nc, const uint8_t *buf,
                                    size_t size)
{
    tl_of(nc)->calls_receive++;
    return tl_take(tl_of(nc), buf, size, TL_VIA_RECEIVE, 1);
}

static TL_UNUSED ssize_t tl_receive_raw(struct netbe_client *nc,
                                        const uint8_t *buf, size_t size)
{
    tl_of(nc)->calls_raw++;
    return tl_take(tl_of(nc), buf, size, TL_VIA_RAW, 1);
}

static TL_UNUSED ssize_t tl_receive_iov(struct netbe_client *nc,
                                        const struct iovec *iov, int iovcnt)
{
    size_t len = netbe_iov_size(iov, iovcnt);
    uint8_t *buf = malloc(len ? len : 1);
    ssize_t ret;

    assert_non_null(buf);
    netbe_iov_to_buf(iov, iovcnt, 0, buf, len);
    tl_of(nc)->calls_iov++;
    ret = tl_take(tl_of(nc), buf, len, TL_VIA_IOV, iovcnt);
    free(buf);
    return ret;
}

static TL_UNUSED bool tl_can_receive(struct netbe_client *nc)
{
    tl_of(nc)->calls_can_receive++;
    return tl_of(nc)->can_rx;
}

static TL_UNUSED void tl_flush(struct netbe_client *nc)
{
    if (tl_log.flushes < TL_LOG_MAX) {
        snprintf(tl_log.flushed[tl_log.flushes], 64, "%s", nc->name);
    }
    tl_log.flushes++;
    tl_of(nc)->calls_flush++;
}

static TL_UNUSED void tl_cleanup(struct netbe_client *nc)
{
    if (tl_log.cleanups < TL_LOG_MAX) {
        snprintf(tl_log.cleaned[tl_log.cleanups], 64, "%s", nc->name);
        tl_log.cleaned_rx[tl_log.cleanups] = nc->stats.rx_frames;
    }
    tl_log.cleanups++;
    tl_of(nc)->cleaned = true;
}

static TL_UNUSED void tl_link_changed(struct netbe_client *nc)
{
    tl_of(nc)->calls_link++;
}

/* A host backend (counts as one for the hub checks): receive() only. */
static const struct netbe_client_info tl_info_backend TL_UNUSED = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .flush = tl_flush,
    .cleanup = tl_cleanup,
    .link_status_changed = tl_link_changed,
};

/* receive() and receive_iov() */
static const struct netbe_client_info tl_info_iov TL_UNUSED = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .receive_iov = tl_receive_iov,
    .flush = tl_flush,
    .cleanup = tl_cleanup,
    .link_status_changed = tl_link_changed,
};

/* receive_iov() alone: it takes every frame, raw ones too */
static const struct netbe_client_info tl_info_iov_only TL_UNUSED = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive_iov = tl_receive_iov,
    .flush = tl_flush,
    .cleanup = tl_cleanup,
};

/* receive() and receive_raw() */
static const struct netbe_client_info tl_info_raw TL_UNUSED = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .receive_raw = tl_receive_raw,
    .cleanup = tl_cleanup,
};

/* all three receive entry points */
static const struct netbe_client_info tl_info_all TL_UNUSED = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .receive_raw = tl_receive_raw,
    .receive_iov = tl_receive_iov,
    .cleanup = tl_cleanup,
};

/* A backend with can_receive(). */
static const struct netbe_client_info tl_info_canrx TL_UNUSED = {
    .type = NETBE_DRIVER_TAP,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .can_receive = tl_can_receive,
    .flush = tl_flush,
    .cleanup = tl_cleanup,
    .link_status_changed = tl_link_changed,
};

/* A client of no particular kind (neither NIC nor host device). */
static const struct netbe_client_info tl_info_none TL_UNUSED = {
    .type = NETBE_DRIVER_NONE,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .cleanup = tl_cleanup,
};

/* A NIC queue. */
static const struct netbe_client_info tl_info_nic TL_UNUSED = {
    .type = NETBE_DRIVER_NIC,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .can_receive = tl_can_receive,
    .flush = tl_flush,
    .cleanup = tl_cleanup,
    .link_status_changed = tl_link_changed,
};

static TL_UNUSED void tl_init(struct tl_client *c)
{
    c->budget = -1;
    c->can_rx = true;
}

static TL_UNUSED struct tl_client *tl_new(struct netbe_ctx *ctx,
                                          const struct netbe_client_info *info,
                                          struct netbe_client *peer,
                                          const char *model, const char *name)
{
    struct netbe_client *nc = netbe_client_new(ctx, info, peer, model, name);

    assert_non_null(nc);
    tl_init(tl_of(nc));
    return tl_of(nc);
}

/* A backend named @name peered with @peer. */
static TL_UNUSED struct tl_client *
tl_backend(struct netbe_ctx *ctx, const char *name, struct netbe_client *peer)
{
    return tl_new(ctx, &tl_info_backend, peer, "stream", name);
}

static TL_UNUSED struct tl_client *tl_nic_queue(struct netbe_nic *nic, int i)
{
    return tl_of(netbe_nic_get_subqueue(nic, i));
}

/*
 * The core keeps a NIC's conf pointer for the NIC's life (as QEMU does), so
 * tl_nic() gives it a heap copy; tl_confs_free() releases the copies once
 * the context is gone.
 */
static struct netbe_nic_conf *tl_confs[TL_LOG_MAX] TL_UNUSED;
static int tl_nconfs TL_UNUSED;

static TL_UNUSED void tl_confs_free(void)
{
    for (int i = 0; i < tl_nconfs; i++) {
        free(tl_confs[i]->peers);
        free(tl_confs[i]);
    }
    tl_nconfs = 0;
}

/* A NIC with a copy of @conf. */
static TL_UNUSED struct netbe_nic *tl_nic(struct netbe_ctx *ctx,
                                          const struct netbe_nic_conf *conf,
                                          const char *model, const char *name,
                                          void *opaque)
{
    struct netbe_nic_conf *copy = calloc(1, sizeof(*copy));
    int queues = conf->queues > 1 ? conf->queues : 1;
    struct netbe_nic *nic;

    assert_non_null(copy);
    assert_true(tl_nconfs < TL_LOG_MAX);
    *copy = *conf;
    if (conf->peers) {
        copy->peers = calloc((size_t)queues, sizeof(*copy->peers));
        assert_non_null(copy->peers);
        memcpy(copy->peers, conf->peers, sizeof(*copy->peers) * queues);
    }
    tl_confs[tl_nconfs++] = copy;
    nic = netbe_nic_new(ctx, &tl_info_nic, copy, model, name, opaque);
    assert_non_null(nic);
    for (int i = 0; i < queues; i++) {
        tl_init(tl_nic_queue(nic, i));
    }
    return nic;
}

/* Send @len bytes of the pattern @seed from @nc. */
static TL_UNUSED ssize_t tl_send(struct netbe_client *nc, size_t len,
                                 uint8_t seed)
{
    uint8_t *buf = malloc(len ? len : 1);
    ssize_t ret;

    assert_non_null(buf);
    tl_fill(buf, len, seed);
    ret = netbe_send_packet(nc, buf, len);
    free(buf);
    return ret;
}

static TL_UNUSED ssize_t tl_send_async(struct netbe_client *nc, size_t len,
                                       uint8_t seed)
{
    uint8_t *buf = malloc(len ? len : 1);
    ssize_t ret;

    assert_non_null(buf);
    tl_fill(buf, len, seed);
    ret = netbe_send_packet_async(nc, buf, len, tl_sent_cb);
    free(buf);
    return ret;
}

/* Frame @i that @c took is @len bytes of pattern @seed. */
static TL_UNUSED void tl_assert_frame(struct tl_client *c, int i, size_t len,
                                      uint8_t seed)
{
    uint8_t *buf = malloc(len ? len : 1);

    assert_non_null(buf);
    assert_true(i < c->nframes);
    assert_true(i < TL_MAX_FRAMES - 1 || i == c->nframes - 1);
    if (i >= TL_MAX_FRAMES) {
        i = TL_MAX_FRAMES - 1;
    }
    tl_fill(buf, len, seed);
    assert_int_equal(c->frames[i].len, len);
    assert_int_equal(c->frames[i].sum, tl_hash(buf, len));
    free(buf);
}

static TL_UNUSED bool tl_in_list(struct netbe_ctx *ctx, struct netbe_client *nc)
{
    for (struct netbe_client *c = netbe_client_first(ctx); c;
         c = netbe_client_next(c)) {
        if (c == nc) {
            return true;
        }
    }
    return false;
}

static TL_UNUSED int tl_count_clients(struct netbe_ctx *ctx)
{
    int n = 0;

    for (struct netbe_client *c = netbe_client_first(ctx); c;
         c = netbe_client_next(c)) {
        n++;
    }
    return n;
}

/* "info network" as a malloc'ed string. */
static TL_UNUSED char *tl_info_network(struct netbe_ctx *ctx)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    netbe_info_network(ctx, out);
    fclose(out);
    return text;
}

static TL_UNUSED char *tl_print_client(struct netbe_client *nc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    netbe_print_client(out, nc);
    fclose(out);
    return text;
}

/* ---- captured diagnostics ---- */

static struct {
    char text[4096]; /* "W:msg\n" lines */
    int count;
} tl_msgs TL_UNUSED;

static TL_UNUSED void tl_sink(enum netbe_log_level level, const char *msg,
                              void *opaque)
{
    size_t used = strlen(tl_msgs.text);

    snprintf(tl_msgs.text + used, sizeof(tl_msgs.text) - used, "%c:%s\n",
             level == NETBE_LOG_WARNING ? 'W'
             : level == NETBE_LOG_ERROR ? 'E'
                                        : 'I',
             msg);
    tl_msgs.count++;
}

static TL_UNUSED void tl_capture_start(void)
{
    memset(&tl_msgs, 0, sizeof(tl_msgs));
    netbe_log_set_sink(tl_sink, NULL);
}

static TL_UNUSED void tl_capture_stop(void)
{
    netbe_log_set_sink(NULL, NULL);
}

/* Check an error's text and class, then free it. */
static TL_UNUSED void tl_assert_error(struct netbe_error *err,
                                      enum netbe_error_class cls,
                                      const char *msg)
{
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    assert_int_equal(err->cls, cls);
    netbe_error_free(err);
}

/*
 * What a netdev that failed to start (@str, which gave @err) must leave:
 * its message @want (the whole of it, or its start when @prefix), no
 * client in @ctx.  Frees @err and @ctx.
 */
static TL_UNUSED void tl_assert_failed_init(struct netbe_ctx *ctx,
                                            const char *str,
                                            struct netbe_error *err,
                                            const char *want, bool prefix)
{
    const char *got;

    assert_non_null(err);
    got = netbe_error_msg(err);
    if (prefix ? strncmp(got, want, strlen(want)) != 0 : strcmp(got, want)) {
        fail_msg("%s:\n got '%s'\nwant '%s'", str, got, want);
    }
    netbe_error_free(err);
    /* a failed init leaves nothing behind */
    assert_null(netbe_client_first(ctx));
    netbe_ctx_free(ctx);
}

#endif
