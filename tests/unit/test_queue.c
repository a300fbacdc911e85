/*
 * test_queue.c - the incoming queue (QEMU's net/queue.c rules): the 10000
 * frame limit for senders without a callback, the re-entry guard, flush
 * order and its stop at the first "not now", purge by sender, the flush
 * after a direct delivery, and the pool that keeps a busy queue from
 * allocating per frame.  Driven through netbe_queue_* with a test deliver
 * function, and through clients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testlib.h"

#define MAX_LOG 16384

/* What the test deliver function does and saw. */
struct dstate {
    struct netbe_queue *q;
    enum tl_mode mode;
    int budget;   /* >= 0: deliver this many more, then refuse */
    bool use_ret; /* return ret instead of the size */
    ssize_t ret;
    int depth, max_depth;
    int ndelivered;
    uint8_t first[MAX_LOG]; /* first byte of each delivered frame */
    struct netbe_client *sender[64];
    unsigned flags[64];
    /* re-entry: on the first delivery, send or receive this frame */
    bool resend, rereceive;
    ssize_t inner_ret;
    bool inner_done;
};

static ssize_t test_deliver(struct netbe_client *sender, unsigned flags,
                            const struct iovec *iov, int iovcnt, void *opaque)
{
    struct dstate *s = opaque;
    size_t len = netbe_iov_size(iov, iovcnt);
    uint8_t b0 = 0;

    if (s->mode == TL_REFUSE || s->budget == 0) {
        return 0;
    }
    if (s->budget > 0) {
        s->budget--;
    }
    s->depth++;
    if (s->depth > s->max_depth) {
        s->max_depth = s->depth;
    }
    netbe_iov_to_buf(iov, iovcnt, 0, &b0, 1);
    if (s->ndelivered < MAX_LOG) {
        s->first[s->ndelivered] = b0;
    }
    if (s->ndelivered < 64) {
        s->sender[s->ndelivered] = sender;
        s->flags[s->ndelivered] = flags;
    }
    s->ndelivered++;
    if (!s->inner_done && (s->resend || s->rereceive)) {
        uint8_t inner = 0xee;
        struct iovec iv = {.iov_base = &inner, .iov_len = 1};

        s->inner_done = true;
        if (s->resend) {
            s->inner_ret = netbe_queue_send_iov(s->q, NULL, 0, &iv, 1, NULL);
        } else {
            s->inner_ret = netbe_queue_receive_iov(s->q, &iv, 1);
        }
    }
    s->depth--;
    return s->use_ret ? s->ret : (ssize_t)len;
}

struct qfix {
    struct netbe_ctx *ctx;
    struct dstate s;
    struct netbe_counters stats;
};

static int setup(void **state)
{
    struct qfix *f = calloc(1, sizeof(*f));

    f->ctx = netbe_ctx_new(NULL);
    f->s.budget = -1;
    f->s.q = netbe_queue_new(f->ctx, test_deliver, &f->s);
    f->s.q->stats = &f->stats;
    tl_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct qfix *f = *state;

    netbe_queue_free(f->s.q);
    netbe_ctx_free(f->ctx);
    free(f);
    return 0;
}

static ssize_t qsend(struct netbe_queue *q, struct netbe_client *sender,
                     uint8_t b0, size_t len, netbe_packet_sent *cb)
{
    static uint8_t buf[4096];
    struct iovec iov = {.iov_base = buf, .iov_len = len};

    assert_true(len <= sizeof(buf));
    memset(buf, b0, len);
    return netbe_queue_send_iov(q, sender, 0, &iov, 1, cb);
}

static uint8_t head_byte(struct netbe_queue *q)
{
    struct netbe_packet *p = TAILQ_FIRST(&q->packets);

    assert_non_null(p);
    return p->data[0];
}

static void test_new_defaults(void **state)
{
    struct qfix *f = *state;

    assert_int_equal(f->s.q->maxlen, NETBE_QUEUE_DEFAULT_LIMIT);
    assert_int_equal(f->s.q->count, 0);
    assert_false(f->s.q->delivering);
    assert_true(TAILQ_EMPTY(&f->s.q->packets));
    assert_ptr_equal(f->s.q->ctx, f->ctx);
}

static void test_direct_delivery(void **state)
{
    struct qfix *f = *state;

    assert_int_equal(qsend(f->s.q, NULL, 7, 60, NULL), 60);
    assert_int_equal(f->s.ndelivered, 1);
    assert_int_equal(f->s.first[0], 7);
    assert_int_equal(f->s.q->count, 0);
    assert_false(f->s.q->delivering);
}

static void test_limit_without_callback(void **state)
{
    struct qfix *f = *state;
    int i;

    f->s.mode = TL_REFUSE;
    for (i = 0; i < NETBE_QUEUE_DEFAULT_LIMIT; i++) {
        assert_int_equal(qsend(f->s.q, NULL, (uint8_t)i, 60, NULL), 0);
    }
    assert_int_equal(f->s.q->count, NETBE_QUEUE_DEFAULT_LIMIT);
    assert_int_equal(f->stats.drop_queue_full, 0);

    /* The 10001st is dropped, and counted. */
    assert_int_equal(qsend(f->s.q, NULL, 0xaa, 60, NULL), 0);
    assert_int_equal(f->s.q->count, NETBE_QUEUE_DEFAULT_LIMIT);
    assert_int_equal(f->stats.drop_queue_full, 1);
    assert_int_equal(qsend(f->s.q, NULL, 0xab, 60, NULL), 0);
    assert_int_equal(f->stats.drop_queue_full, 2);

    /* What was kept comes out in order, the dropped frames never. */
    f->s.mode = TL_ACCEPT;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.ndelivered, NETBE_QUEUE_DEFAULT_LIMIT);
    for (i = 0; i < NETBE_QUEUE_DEFAULT_LIMIT; i++) {
        assert_int_equal(f->s.first[i], (uint8_t)i);
    }
    assert_int_equal(f->s.q->count, 0);
}

static void test_limit_applies_to_append(void **state)
{
    struct qfix *f = *state;
    uint8_t b = 1;
    struct iovec iov = {.iov_base = &b, .iov_len = 1};

    f->s.q->maxlen = 3;
    for (int i = 0; i < 5; i++) {
        netbe_queue_append_iov(f->s.q, NULL, 0, &iov, 1, NULL);
    }
    assert_int_equal(f->s.q->count, 3);
    assert_int_equal(f->stats.drop_queue_full, 2);
    /* append queues even though the deliver function would take it */
    assert_int_equal(f->s.ndelivered, 0);
    /* a callback lifts the limit */
    netbe_queue_append_iov(f->s.q, NULL, 0, &iov, 1, tl_sent_cb);
    assert_int_equal(f->s.q->count, 4);
    assert_int_equal(f->stats.drop_queue_full, 2);
}

static void test_unlimited_with_callback(void **state)
{
    struct qfix *f = *state;
    const int n = NETBE_QUEUE_DEFAULT_LIMIT + 5;
    int i;

    f->s.mode = TL_REFUSE;
    for (i = 0; i < n; i++) {
        assert_int_equal(qsend(f->s.q, NULL, (uint8_t)i, 60, tl_sent_cb), 0);
    }
    assert_int_equal(f->s.q->count, n);
    assert_int_equal(f->stats.drop_queue_full, 0);
    assert_int_equal(tl_log.sent, 0);

    f->s.mode = TL_ACCEPT;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.ndelivered, n);
    assert_int_equal(tl_log.sent, n);
    for (i = 0; i < TL_LOG_MAX; i++) {
        assert_int_equal(tl_log.sent_ret[i], 60);
    }
}

static void test_full_queue_still_takes_callback_frames(void **state)
{
    struct qfix *f = *state;

    f->s.mode = TL_REFUSE;
    f->s.q->maxlen = 2;
    qsend(f->s.q, NULL, 1, 10, NULL);
    qsend(f->s.q, NULL, 2, 10, NULL);
    qsend(f->s.q, NULL, 3, 10, NULL); /* dropped */
    qsend(f->s.q, NULL, 4, 10, tl_sent_cb);
    qsend(f->s.q, NULL, 5, 10, NULL); /* count includes callback frames */
    assert_int_equal(f->s.q->count, 3);
    assert_int_equal(f->stats.drop_queue_full, 2);
    f->s.mode = TL_ACCEPT;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.ndelivered, 3);
    assert_memory_equal(f->s.first, ((uint8_t[]){1, 2, 4}), 3);
    assert_int_equal(tl_log.sent, 1);
}

static void test_reentry_is_queued(void **state)
{
    struct qfix *f = *state;

    f->s.resend = true;
    assert_int_equal(qsend(f->s.q, NULL, 1, 10, NULL), 10);
    /* The inner send found the queue delivering: queued, not recursed. */
    assert_int_equal(f->s.inner_ret, 0);
    assert_int_equal(f->s.max_depth, 1);
    /* The outer send's flush after its delivery sent the inner frame. */
    assert_int_equal(f->s.ndelivered, 2);
    assert_int_equal(f->s.first[0], 1);
    assert_int_equal(f->s.first[1], 0xee);
    assert_int_equal(f->s.q->count, 0);
}

static void test_reentry_during_flush(void **state)
{
    struct qfix *f = *state;

    f->s.mode = TL_REFUSE;
    qsend(f->s.q, NULL, 1, 10, NULL);
    qsend(f->s.q, NULL, 2, 10, NULL);
    f->s.mode = TL_ACCEPT;
    f->s.resend = true;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.inner_ret, 0);
    assert_int_equal(f->s.max_depth, 1);
    /* queued at the tail, so delivered after what was already there */
    assert_int_equal(f->s.ndelivered, 3);
    assert_memory_equal(f->s.first, ((uint8_t[]){1, 2, 0xee}), 3);
}

static void test_flush_while_delivering_refused(void **state)
{
    struct qfix *f = *state;

    f->s.q->delivering = true;
    assert_false(netbe_queue_flush(f->s.q));
    f->s.q->delivering = false;
    assert_true(netbe_queue_flush(f->s.q));
}

static void test_flush_order_stops_at_zero(void **state)
{
    struct qfix *f = *state;

    f->s.mode = TL_REFUSE;
    for (uint8_t i = 1; i <= 5; i++) {
        assert_int_equal(qsend(f->s.q, NULL, i, 10, NULL), 0);
    }
    assert_int_equal(f->s.q->count, 5);

    f->s.mode = TL_ACCEPT;
    f->s.budget = 2;
    assert_false(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.ndelivered, 2);
    assert_memory_equal(f->s.first, ((uint8_t[]){1, 2}), 2);
    /* the refused frame stays at the head */
    assert_int_equal(f->s.q->count, 3);
    assert_int_equal(head_byte(f->s.q), 3);

    f->s.budget = -1;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.ndelivered, 5);
    assert_memory_equal(f->s.first, ((uint8_t[]){1, 2, 3, 4, 5}), 5);
    assert_int_equal(f->s.q->count, 0);
    assert_true(netbe_queue_flush(f->s.q)); /* empty: true */
}

static void test_flush_callback_gets_deliver_return(void **state)
{
    struct qfix *f = *state;
    struct tl_client *a = tl_backend(f->ctx, "a", NULL);
    struct tl_client *b = tl_backend(f->ctx, "b", NULL);

    f->s.mode = TL_REFUSE;
    qsend(f->s.q, &a->nc, 1, 10, tl_sent_cb);
    qsend(f->s.q, &b->nc, 2, 10, NULL);
    qsend(f->s.q, &b->nc, 3, 10, tl_sent_cb);
    f->s.mode = TL_ACCEPT;
    f->s.use_ret = true;
    f->s.ret = 4242;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(tl_log.sent, 2);
    assert_ptr_equal(tl_log.sent_sender[0], &a->nc);
    assert_int_equal(tl_log.sent_ret[0], 4242);
    assert_ptr_equal(tl_log.sent_sender[1], &b->nc);
    assert_int_equal(tl_log.sent_ret[1], 4242);
    /* the deliver function saw the original sender */
    assert_ptr_equal(f->s.sender[0], &a->nc);
    assert_ptr_equal(f->s.sender[1], &b->nc);
}

static void test_flush_keeps_flags(void **state)
{
    struct qfix *f = *state;
    uint8_t b = 9;
    struct iovec iov = {.iov_base = &b, .iov_len = 1};

    f->s.mode = TL_REFUSE;
    netbe_queue_send_iov(f->s.q, NULL, NETBE_PACKET_FLAG_RAW, &iov, 1, NULL);
    netbe_queue_send_iov(f->s.q, NULL, 0, &iov, 1, NULL);
    f->s.mode = TL_ACCEPT;
    netbe_queue_flush(f->s.q);
    assert_int_equal(f->s.flags[0], NETBE_PACKET_FLAG_RAW);
    assert_int_equal(f->s.flags[1], 0);
}

static void test_flush_negative_return_completes(void **state)
{
    struct qfix *f = *state;

    f->s.mode = TL_REFUSE;
    qsend(f->s.q, NULL, 1, 10, tl_sent_cb);
    qsend(f->s.q, NULL, 2, 10, tl_sent_cb);
    /* a deliver error is final too (QEMU): the frame leaves, the callback
     * hears the error, the flush goes on */
    f->s.mode = TL_ACCEPT;
    f->s.use_ret = true;
    f->s.ret = -5;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.q->count, 0);
    assert_int_equal(tl_log.sent, 2);
    assert_int_equal(tl_log.sent_ret[0], -5);
    assert_int_equal(tl_log.sent_ret[1], -5);
}

static void test_purge_by_sender(void **state)
{
    struct qfix *f = *state;
    struct tl_client *a = tl_backend(f->ctx, "a", NULL);
    struct tl_client *b = tl_backend(f->ctx, "b", NULL);

    f->s.mode = TL_REFUSE;
    qsend(f->s.q, &a->nc, 1, 10, tl_sent_cb);
    qsend(f->s.q, &b->nc, 2, 10, tl_sent_cb);
    qsend(f->s.q, &a->nc, 3, 10, tl_sent_cb);
    qsend(f->s.q, &b->nc, 4, 10, NULL);
    qsend(f->s.q, &a->nc, 5, 10, NULL);
    assert_int_equal(f->s.q->count, 5);

    netbe_queue_purge(f->s.q, &a->nc);
    assert_int_equal(f->s.q->count, 2);
    assert_int_equal(tl_log.sent, 2);
    assert_ptr_equal(tl_log.sent_sender[0], &a->nc);
    assert_int_equal(tl_log.sent_ret[0], 0);
    assert_ptr_equal(tl_log.sent_sender[1], &a->nc);
    assert_int_equal(tl_log.sent_ret[1], 0);
    assert_int_equal(f->s.ndelivered, 0);

    f->s.mode = TL_ACCEPT;
    assert_true(netbe_queue_flush(f->s.q));
    assert_int_equal(f->s.ndelivered, 2);
    assert_memory_equal(f->s.first, ((uint8_t[]){2, 4}), 2);
    assert_ptr_equal(f->s.sender[0], &b->nc);
    assert_int_equal(tl_log.sent, 3);
    assert_int_equal(tl_log.sent_ret[2], 10);

    /* purging a sender with nothing queued does nothing */
    netbe_queue_purge(f->s.q, &a->nc);
    assert_int_equal(tl_log.sent, 3);
}

static void test_send_flushes_older_frames(void **state)
{
    struct qfix *f = *state;

    f->s.mode = TL_REFUSE;
    qsend(f->s.q, NULL, 1, 10, NULL);
    qsend(f->s.q, NULL, 2, 10, NULL);
    assert_int_equal(f->s.ndelivered, 0);

    /*
     * QEMU delivers the new frame first, then flushes the older ones;
     * netbe never lets a frame overtake older ones (issue 6, defect 5).
     */
    f->s.mode = TL_ACCEPT;
    assert_int_equal(qsend(f->s.q, NULL, 3, 20, NULL), 20);
    assert_int_equal(f->s.ndelivered, 3);
    assert_memory_equal(f->s.first, ((uint8_t[]){1, 2, 3}), 3);
    assert_int_equal(f->s.q->count, 0);
}

static void test_refused_send_is_queued_with_copy(void **state)
{
    struct qfix *f = *state;
    uint8_t a[3] = {1, 2, 3}, b[2] = {4, 5};
    struct iovec iov[2] = {{a, 3}, {b, 2}};
    struct netbe_packet *p;

    f->s.mode = TL_REFUSE;
    assert_int_equal(netbe_queue_send_iov(f->s.q, NULL, 0, iov, 2, NULL), 0);
    /* the caller's buffers may change once the send returned */
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    p = TAILQ_FIRST(&f->s.q->packets);
    assert_non_null(p);
    assert_int_equal(p->size, 5);
    assert_memory_equal(p->data, ((uint8_t[]){1, 2, 3, 4, 5}), 5);
    assert_true(p->cap >= 5);
}

static void test_receive_iov_while_delivering(void **state)
{
    struct qfix *f = *state;
    uint8_t b = 5;
    struct iovec iov = {.iov_base = &b, .iov_len = 1};

    /* outside delivery: straight to the deliver function, no sender */
    assert_int_equal(netbe_queue_receive_iov(f->s.q, &iov, 1), 1);
    assert_int_equal(f->s.ndelivered, 1);
    assert_null(f->s.sender[0]);
    assert_int_equal(f->s.flags[0], 0);

    /* inside: refused with 0, and not queued either */
    f->s.rereceive = true;
    assert_int_equal(netbe_queue_receive_iov(f->s.q, &iov, 1), 1);
    assert_int_equal(f->s.inner_ret, 0);
    assert_int_equal(f->s.ndelivered, 2);
    assert_int_equal(f->s.q->count, 0);

    /* a refusing receiver: 0, nothing queued */
    f->s.mode = TL_REFUSE;
    assert_int_equal(netbe_queue_receive_iov(f->s.q, &iov, 1), 0);
    assert_int_equal(f->s.q->count, 0);
}

static void test_oversize_append_dropped(void **state)
{
    struct qfix *f = *state;
    static uint8_t big[NETBE_NET_BUFSIZE + 1];
    struct iovec iov = {.iov_base = big, .iov_len = sizeof(big)};

    netbe_queue_append_iov(f->s.q, NULL, 0, &iov, 1, NULL);
    assert_int_equal(f->s.q->count, 0);
    assert_int_equal(f->stats.drop_oversize, 1);

    /* exactly NETBE_NET_BUFSIZE fits the largest class */
    iov.iov_len = NETBE_NET_BUFSIZE;
    netbe_queue_append_iov(f->s.q, NULL, 0, &iov, 1, NULL);
    assert_int_equal(f->s.q->count, 1);
    assert_int_equal(TAILQ_FIRST(&f->s.q->packets)->size, NETBE_NET_BUFSIZE);
}

static void test_free_calls_no_callbacks(void **state)
{
    struct qfix *f = *state;

    f->s.mode = TL_REFUSE;
    qsend(f->s.q, NULL, 1, 10, tl_sent_cb);
    qsend(f->s.q, NULL, 2, 3000, tl_sent_cb);
    netbe_queue_free(f->s.q);
    f->s.q = NULL;
    assert_int_equal(tl_log.sent, 0);
    netbe_queue_free(NULL);
}

/* Fill a queue with @n frames of @len bytes and drain it. */
static void fill_drain(struct qfix *f, int n, size_t len)
{
    static uint8_t buf[NETBE_NET_BUFSIZE];
    struct iovec iov = {.iov_base = buf, .iov_len = len};

    f->s.mode = TL_REFUSE;
    for (int i = 0; i < n; i++) {
        netbe_queue_send_iov(f->s.q, NULL, 0, &iov, 1, NULL);
    }
    assert_int_equal(f->s.q->count, n);
    f->s.mode = TL_ACCEPT;
    assert_true(netbe_queue_flush(f->s.q));
}

static void test_pool_no_malloc_per_frame(void **state)
{
    struct qfix *f = *state;
    const size_t sizes[] = {60, 1514, 9000, 65536, NETBE_NET_BUFSIZE};
    uint64_t warm;

    for (size_t i = 0; i < NETBE_ARRAY_SIZE(sizes); i++) {
        fill_drain(f, 32, sizes[i]);
    }
    warm = netbe_ctx_pool_mallocs(f->ctx);
    assert_true(warm > 0);
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < NETBE_ARRAY_SIZE(sizes); i++) {
            fill_drain(f, 32, sizes[i]);
        }
    }
    assert_int_equal(netbe_ctx_pool_mallocs(f->ctx), warm);
}

static void test_pool_through_clients(void **state)
{
    struct qfix *f = *state;
    struct tl_client *b = tl_backend(f->ctx, "b", NULL);
    struct tl_client *a = tl_backend(f->ctx, "a", &b->nc);
    uint64_t warm = 0;

    for (int round = 0; round < 20; round++) {
        b->mode = TL_REFUSE;
        for (int i = 0; i < 100; i++) {
            assert_int_equal(tl_send(&a->nc, 1500, (uint8_t)i), 0);
        }
        assert_int_equal(b->nc.incoming_queue->count, 100);
        b->mode = TL_ACCEPT;
        netbe_flush_queued(&b->nc);
        assert_int_equal(b->nc.incoming_queue->count, 0);
        if (round == 1) {
            warm = netbe_ctx_pool_mallocs(f->ctx);
        }
    }
    assert_int_equal(netbe_ctx_pool_mallocs(f->ctx), warm);
    assert_int_equal(b->nframes, 2000);
}

static void test_limit_through_clients(void **state)
{
    struct qfix *f = *state;
    struct tl_client *b = tl_backend(f->ctx, "b", NULL);
    struct tl_client *a = tl_backend(f->ctx, "a", &b->nc);
    int i;

    b->mode = TL_REFUSE;
    for (i = 0; i < NETBE_QUEUE_DEFAULT_LIMIT; i++) {
        assert_int_equal(tl_send(&a->nc, 60, (uint8_t)i), 0);
    }
    assert_true(b->nc.receive_disabled);
    /* refused once; after that the frames go straight into the queue */
    assert_int_equal(b->calls_receive, 1);
    assert_int_equal(b->nc.incoming_queue->count, NETBE_QUEUE_DEFAULT_LIMIT);
    assert_int_equal(b->nc.stats.drop_queue_full, 0);

    assert_int_equal(tl_send(&a->nc, 60, 0xfe), 0);
    assert_int_equal(b->nc.incoming_queue->count, NETBE_QUEUE_DEFAULT_LIMIT);
    assert_int_equal(b->nc.stats.drop_queue_full, 1);

    /* a sender with a callback is never dropped */
    assert_int_equal(tl_send_async(&a->nc, 60, 0xfd), 0);
    assert_int_equal(b->nc.incoming_queue->count,
                     NETBE_QUEUE_DEFAULT_LIMIT + 1);
    assert_int_equal(b->nc.stats.drop_queue_full, 1);

    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, NETBE_QUEUE_DEFAULT_LIMIT + 1);
    tl_assert_frame(b, 0, 60, 0);
    tl_assert_frame(b, 1, 60, 1);
    assert_int_equal(tl_log.sent, 1);
    assert_ptr_equal(tl_log.sent_sender[0], &a->nc);
    assert_int_equal(tl_log.sent_ret[0], 60);
}

static void self_receive_hook(struct tl_client *c, const uint8_t *buf,
                              size_t len)
{
    uint8_t b = 1;

    /* the client's queue is delivering: a receive now is refused */
    c->hook_opaque = (void *)(intptr_t)netbe_receive(&c->nc, &b, 1);
    c->hook = NULL;
}

static void test_receive_while_delivering_through_client(void **state)
{
    struct qfix *f = *state;
    struct tl_client *b = tl_backend(f->ctx, "b", NULL);
    struct tl_client *a = tl_backend(f->ctx, "a", &b->nc);

    b->hook = self_receive_hook;
    b->hook_opaque = (void *)(intptr_t)-1;
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_int_equal((intptr_t)b->hook_opaque, 0);
    assert_int_equal(b->nframes, 1);
    assert_int_equal(b->nc.incoming_queue->count, 0);
}

static void test_send_flushes_older_through_clients(void **state)
{
    struct qfix *f = *state;
    struct tl_client *b = tl_new(f->ctx, &tl_info_canrx, NULL, "tap", "b");
    struct tl_client *a = tl_backend(f->ctx, "a", &b->nc);

    /* cannot receive (not disabled): frames wait without a receive() */
    b->can_rx = false;
    assert_int_equal(tl_send(&a->nc, 60, 1), 0);
    assert_int_equal(tl_send(&a->nc, 61, 2), 0);
    assert_int_equal(b->calls_receive, 0);
    /* the next send that gets through goes after them, in order */
    b->can_rx = true;
    assert_int_equal(tl_send(&a->nc, 62, 3), 62);
    assert_int_equal(b->nframes, 3);
    tl_assert_frame(b, 0, 60, 1);
    tl_assert_frame(b, 1, 61, 2);
    tl_assert_frame(b, 2, 62, 3);
    assert_int_equal(b->nc.incoming_queue->count, 0);
}

static ssize_t inner_ret = -1;
static bool inner_saw_delivering;

static void a_sends_back(struct tl_client *a, const uint8_t *buf, size_t len)
{
    a->hook = NULL;
    inner_saw_delivering = a->nc.peer->incoming_queue->delivering;
    inner_ret = tl_send(&a->nc, 30, 0x77);
}

static void b_sends_to_a(struct tl_client *b, const uint8_t *buf, size_t len)
{
    b->hook = NULL;
    tl_send(&b->nc, 40, 5);
}

static void test_reentry_through_clients(void **state)
{
    struct qfix *f = *state;
    struct tl_client *b = tl_backend(f->ctx, "b", NULL);
    struct tl_client *a = tl_backend(f->ctx, "a", &b->nc);

    /* b's receive sends to a, whose receive sends back to b while b's
     * queue is still delivering */
    b->hook = b_sends_to_a;
    a->hook = a_sends_back;
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_true(inner_saw_delivering);
    assert_int_equal(inner_ret, 0); /* queued, not delivered recursively */
    assert_int_equal(a->nframes, 1);
    tl_assert_frame(a, 0, 40, 5);
    /* and delivered right after the outer frame */
    assert_int_equal(b->nframes, 2);
    tl_assert_frame(b, 0, 60, 1);
    tl_assert_frame(b, 1, 30, 0x77);
    assert_int_equal(b->nc.incoming_queue->count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_new_defaults),
        T(test_direct_delivery),
        T(test_limit_without_callback),
        T(test_limit_applies_to_append),
        T(test_unlimited_with_callback),
        T(test_full_queue_still_takes_callback_frames),
        T(test_reentry_is_queued),
        T(test_reentry_during_flush),
        T(test_flush_while_delivering_refused),
        T(test_flush_order_stops_at_zero),
        T(test_flush_callback_gets_deliver_return),
        T(test_flush_keeps_flags),
        T(test_flush_negative_return_completes),
        T(test_purge_by_sender),
        T(test_send_flushes_older_frames),
        T(test_refused_send_is_queued_with_copy),
        T(test_receive_iov_while_delivering),
        T(test_oversize_append_dropped),
        T(test_free_calls_no_callbacks),
        T(test_pool_no_malloc_per_frame),
        T(test_pool_through_clients),
        T(test_limit_through_clients),
        T(test_receive_while_delivering_through_client),
        T(test_send_flushes_older_through_clients),
        T(test_reentry_through_clients),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
