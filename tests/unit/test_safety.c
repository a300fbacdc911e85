/*
 * test_safety.c - the core's defences against hostile, stalled and
 * departing peers and against embedders that delete from callbacks
 * (issue 6): ports that leave wake the senders that waited for them,
 * deletion from receive(), flush() and sent-callbacks is deferred to a
 * safe point, frames from one sender are never reordered, queues are
 * bounded in bytes and store frames near their size, auto-named hub
 * ports never take or delete a user's name, and every drop is counted.
 * Each test failed (or crashed under ASan) before its fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/internal.h"
#include "netbe/loop.h"
#include "testlib.h"

static int setup(void **state)
{
    tl_reset();
    *state = netbe_ctx_new(NULL);
    return 0;
}

static int teardown(void **state)
{
    netbe_ctx_free(*state);
    tl_confs_free();
    tl_capture_stop();
    return 0;
}

static struct tl_client *on_hub(struct netbe_ctx *ctx, int hub,
                                const char *name)
{
    struct tl_client *c = tl_new(ctx, &tl_info_backend, NULL, "t", name);

    assert_non_null(netbe_hub_add_port(ctx, hub, NULL, &c->nc));
    return c;
}

/* ---- defect 1: a port stays paused for good ---- */

/*
 * B floods A, which never reads; B's frames wait at B's port because no
 * other port can take them.  A leaves (with its port, as a switch
 * connection does): B must hear its frame went, and a newcomer C must get
 * B's next frames.
 */
static void test_port_leaving_wakes_senders(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, "a");
    struct tl_client *b = on_hub(ctx, 0, "b");
    struct netbe_client *pa = a->nc.peer, *pb = b->nc.peer;
    struct tl_client *c;

    a->mode = TL_REFUSE;
    assert_int_equal(tl_send_async(&b->nc, 60, 1), 60); /* waits at a */
    assert_int_equal(tl_send_async(&b->nc, 61, 2), 0);  /* waits at b's port */
    assert_int_equal(pb->incoming_queue->count, 1);
    assert_int_equal(tl_log.sent, 0);

    netbe_client_del(pa);
    netbe_client_del(&a->nc);
    /* B's frame went on (to nobody: the hub has no other port now) */
    assert_int_equal(pb->incoming_queue->count, 0);
    assert_int_equal(tl_log.sent, 1);
    assert_true(tl_log.sent_ret[0] > 0);

    c = on_hub(ctx, 0, "c");
    assert_int_equal(tl_send_async(&b->nc, 62, 3), 62);
    assert_int_equal(c->nframes, 1);
    tl_assert_frame(c, 0, 62, 3);
}

/* The same when only the client behind the port goes. */
static void test_client_leaving_wakes_senders(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, "a");
    struct tl_client *b = on_hub(ctx, 0, "b");
    struct tl_client *c = on_hub(ctx, 0, "c");
    struct netbe_client *pb = b->nc.peer;

    a->mode = TL_REFUSE;
    c->mode = TL_REFUSE;
    tl_send_async(&b->nc, 60, 1);
    assert_int_equal(tl_send_async(&b->nc, 61, 2), 0);
    netbe_client_del(&a->nc); /* a's port stays, peerless */
    assert_int_equal(pb->incoming_queue->count, 0);
    assert_int_equal(tl_log.sent, 1);
    /* c's queue got both, in order */
    c->mode = TL_ACCEPT;
    netbe_flush_queued(&c->nc);
    assert_int_equal(c->nframes, 2);
    tl_assert_frame(c, 0, 60, 1);
    tl_assert_frame(c, 1, 61, 2);
}

/* A newcomer on the hub lets waiting senders go on. */
static void test_port_joining_wakes_senders(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, "a");
    struct tl_client *b = on_hub(ctx, 0, "b");
    struct netbe_client *pb = b->nc.peer;
    struct tl_client *c;

    a->mode = TL_REFUSE;
    tl_send_async(&b->nc, 60, 1);
    assert_int_equal(tl_send_async(&b->nc, 61, 2), 0);
    c = on_hub(ctx, 0, "c");
    assert_int_equal(pb->incoming_queue->count, 0);
    assert_int_equal(tl_log.sent, 1);
    assert_int_equal(c->nframes, 1);
    tl_assert_frame(c, 0, 61, 2);
}

/* ---- defect 4: deletion from callbacks ---- */

static void delete_self(struct tl_client *c, const uint8_t *buf, size_t len)
{
    if (c->nframes == 2) {
        netbe_client_del(&c->nc);
    }
}

static void test_del_self_in_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    for (int i = 0; i < 5; i++) {
        tl_send_async(&a->nc, 60, (uint8_t)i);
    }
    assert_int_equal(b->nc.incoming_queue->count, 5);
    b->mode = TL_ACCEPT;
    b->hook = delete_self;
    netbe_flush_queued(&b->nc); /* b deletes itself at its 2nd frame */

    /* b is gone; a heard of all five: two taken, three purged */
    assert_int_equal(tl_log.cleanups, 1);
    assert_string_equal(tl_log.cleaned[0], "b");
    /* the frame it took as it deleted itself counts as taken */
    assert_int_equal(tl_log.cleaned_rx[0], 2);
    assert_null(a->nc.peer);
    assert_int_equal(tl_log.sent, 5);
    assert_true(tl_log.sent_ret[0] > 0);
    assert_true(tl_log.sent_ret[1] > 0);
    for (int i = 2; i < 5; i++) {
        assert_int_equal(tl_log.sent_ret[i], 0);
    }
    assert_int_equal(tl_count_clients(ctx), 1);
    /* a goes on sending, to nobody, counted */
    tl_send(&a->nc, 60, 9);
    assert_int_equal(a->nc.stats.drop_no_peer, 1);
}

/* Deleted on the direct path (no queue): the send returns, then it goes. */
static void test_del_self_in_direct_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->hook = delete_self;
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_int_equal(tl_send(&a->nc, 61, 2), 61);
    assert_int_equal(tl_log.cleanups, 1);
    assert_int_equal(tl_log.cleaned_rx[0], 2);
    assert_null(a->nc.peer);
}

static void delete_other(struct tl_client *c, const uint8_t *buf, size_t len)
{
    struct tl_client *victim = c->hook_opaque;

    if (victim) {
        c->hook_opaque = NULL;
        netbe_client_del(&victim->nc);
    }
}

/* b deletes its sender while b's queue holds more of a's frames. */
static void test_del_sender_in_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    for (int i = 0; i < 3; i++) {
        tl_send_async(&a->nc, 60, (uint8_t)i);
    }
    b->mode = TL_ACCEPT;
    b->hook = delete_other;
    b->hook_opaque = a;
    netbe_flush_queued(&b->nc);
    assert_int_equal(tl_log.cleanups, 1);
    assert_string_equal(tl_log.cleaned[0], "a");
    assert_null(b->nc.peer);
    /* the frame in hand was finished; the rest were already sent */
    assert_true(b->nframes >= 1);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(tl_count_clients(ctx), 1);
}

static void deleting_sent_cb(struct netbe_client *sender, ssize_t ret)
{
    tl_sent_cb(sender, ret);
    netbe_client_del(sender);
}

static void test_del_self_in_sent_cb(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    uint8_t buf[60] = {0};

    b->mode = TL_REFUSE;
    for (int i = 0; i < 3; i++) {
        netbe_send_packet_async(&a->nc, buf, sizeof(buf), deleting_sent_cb);
    }
    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    /* one callback, then a was gone: no more callbacks to it */
    assert_int_equal(tl_log.sent, 1);
    assert_int_equal(tl_log.cleanups, 1);
    assert_string_equal(tl_log.cleaned[0], "a");
    assert_null(b->nc.peer);
    assert_int_equal(b->nc.incoming_queue->count, 0);
}

static void deleting_flush(struct netbe_client *nc)
{
    tl_flush(nc);
    netbe_client_del(nc);
}

static const struct netbe_client_info self_deleting_flush_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .flush = deleting_flush,
    .cleanup = tl_cleanup,
};

static void test_del_self_in_flush(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b =
        tl_new(ctx, &self_deleting_flush_info, NULL, "stream", "b");
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    netbe_batch_begin(ctx);
    tl_send(&a->nc, 60, 1);
    tl_send(&a->nc, 61, 2);
    netbe_batch_end(ctx);
    assert_int_equal(tl_log.flushes, 1);
    assert_int_equal(tl_log.cleanups, 1);
    assert_null(a->nc.peer);
}

static void delete_nic(struct tl_client *c, const uint8_t *buf, size_t len)
{
    netbe_nic_del(netbe_get_nic(&c->nc));
}

static void test_nic_del_in_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *be = tl_backend(ctx, "be", NULL);
    struct netbe_client *peers[1] = {&be->nc};
    struct netbe_nic_conf conf = {.peers = peers, .queues = 1};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "virtio-net-pci", "n", NULL);

    tl_nic_queue(nic, 0)->hook = delete_nic;
    assert_int_equal(tl_send(&be->nc, 60, 1), 60);
    assert_null(be->nc.peer);
    assert_int_equal(tl_count_clients(ctx), 1);
}

/* With a loop, the deferred deletion happens on its next turn. */
static void test_deferred_del_on_the_loop(void **state)
{
    struct netbe_loop *loop = netbe_loop_default();
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    (void)state;
    b->hook = delete_self;
    tl_send(&a->nc, 60, 1);
    tl_send(&a->nc, 61, 2);
    /* stopped: it takes nothing more and its name is free */
    assert_int_equal(tl_log.cleanups, 0);
    assert_null(netbe_find_netdev(ctx, "b"));
    assert_int_equal(tl_send(&a->nc, 62, 3), 62);
    assert_int_equal(a->nc.stats.drop_no_peer, 1);
    assert_int_equal(b->nframes, 2);
    netbe_loop_run_once(loop, 0);
    assert_int_equal(tl_log.cleanups, 1);
    assert_null(a->nc.peer);
    netbe_ctx_free(ctx);
    netbe_loop_close(loop);
}

/* A new netdev may take a dying one's name; the reaper leaves it alone. */
static void test_name_reused_before_reaping(void **state)
{
    struct netbe_loop *loop = netbe_loop_default();
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    struct tl_client *b2;

    (void)state;
    b->hook = delete_self;
    tl_send(&a->nc, 60, 1);
    tl_send(&a->nc, 61, 2);
    b2 = tl_backend(ctx, "b", NULL);
    netbe_loop_run_once(loop, 0);
    assert_int_equal(tl_log.cleanups, 1);
    assert_ptr_equal(netbe_find_netdev(ctx, "b"), &b2->nc);
    netbe_ctx_free(ctx);
    netbe_loop_close(loop);
}

/* A callback of netbe_ctx_free()'s own purges deletes its client. */
static void test_del_in_callback_during_ctx_free(void **state)
{
    struct netbe_loop *loop = netbe_loop_default();
    struct netbe_ctx *ctx = netbe_ctx_new(loop);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    uint8_t buf[60] = {0};

    (void)state;
    b->mode = TL_REFUSE;
    netbe_send_packet_async(&a->nc, buf, sizeof(buf), deleting_sent_cb);
    netbe_send_packet_async(&a->nc, buf, sizeof(buf), deleting_sent_cb);
    netbe_ctx_free(ctx); /* b's purge calls back a, which deletes itself */
    assert_int_equal(tl_log.cleanups, 2);
    assert_int_equal(tl_log.sent, 1);
    /* nothing was left on the loop: it has nothing to run */
    assert_int_equal(netbe_loop_run_once(loop, 0), 0);
    netbe_loop_close(loop);
}

/* ---- defect 5: no reordering ---- */

/* The "4 1 2 3": a hub with a stalled receiver. */
static void test_hub_keeps_order(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, "a");
    struct tl_client *r = on_hub(ctx, 0, "r");
    struct tl_client *s = on_hub(ctx, 0, "s");

    r->mode = TL_REFUSE;
    s->mode = TL_REFUSE;
    for (int i = 1; i <= 3; i++) {
        tl_send(&a->nc, 60, (uint8_t)i);
    }
    r->mode = TL_ACCEPT;
    s->mode = TL_ACCEPT;
    /* r can take frames again, but has not been flushed yet */
    r->nc.receive_disabled = false;
    tl_send(&a->nc, 60, 4);
    netbe_flush_queued(&r->nc);
    netbe_flush_queued(&s->nc);
    assert_int_equal(r->nframes, 4);
    assert_int_equal(s->nframes, 4);
    for (int i = 0; i < 4; i++) {
        tl_assert_frame(r, i, 60, (uint8_t)(i + 1));
        tl_assert_frame(s, i, 60, (uint8_t)(i + 1));
    }
}

/* ---- defect 2: bounded in bytes, stored near their size ---- */

static void test_queue_bounded_in_bytes(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    struct netbe_queue *q = b->nc.incoming_queue;
    struct netbe_packet *p;
    uint64_t taken;

    assert_int_equal(q->max_bytes, NETBE_QUEUE_DEFAULT_BYTES);
    b->mode = TL_REFUSE;
    for (int i = 0; i < 1000; i++) {
        tl_send(&a->nc, 65000, (uint8_t)i);
    }
    /* 4 MiB of 64 KiB frames, not QEMU's 10000 frames */
    assert_true(q->bytes <= NETBE_QUEUE_DEFAULT_BYTES);
    assert_true(q->count >= 50 && q->count <= 64);
    assert_int_equal(b->nc.stats.drop_queue_full, 1000 - q->count);
    /* each is stored at no more than a quarter over its size */
    TAILQ_FOREACH (p, &q->packets, entry) {
        assert_true(p->cap >= p->size);
        assert_true(p->cap <= p->size + p->size / 4 + 128);
    }
    taken = q->count;
    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, taken);
    assert_int_equal(q->bytes, 0);
    /* what went beyond the pool's keep went back to malloc */
    assert_true(ctx->pool_free_bytes <= NETBE_POOL_KEEP_BYTES);
    assert_int_equal(ctx->queued_bytes, 0);
}

static void test_small_frames_stored_small(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    struct netbe_queue *q = b->nc.incoming_queue;

    b->mode = TL_REFUSE;
    for (int i = 0; i < 12000; i++) {
        tl_send(&a->nc, 60, (uint8_t)i);
    }
    /* QEMU's frame limit still holds, at 128 bytes a frame */
    assert_int_equal(q->count, NETBE_QUEUE_DEFAULT_LIMIT);
    assert_int_equal(q->bytes, (size_t)NETBE_QUEUE_DEFAULT_LIMIT * 128);
    assert_int_equal(b->nc.stats.drop_queue_full, 2000);
}

static void test_queue_bytes_settable(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    struct tl_client *d, *c;

    netbe_client_set_queue_bytes(&b->nc, 10000);
    b->mode = TL_REFUSE;
    /* an empty queue takes one frame whatever the limit */
    tl_send(&a->nc, 20000, 1);
    assert_int_equal(b->nc.incoming_queue->count, 1);
    tl_send(&a->nc, 100, 2);
    assert_int_equal(b->nc.incoming_queue->count, 1);
    assert_int_equal(b->nc.stats.drop_queue_full, 1);
    /* senders with a callback still always queue, as in QEMU */
    tl_send_async(&a->nc, 100, 3);
    assert_int_equal(b->nc.incoming_queue->count, 2);

    /* the context's default applies to clients made later */
    netbe_ctx_set_queue_bytes(ctx, 0);
    d = tl_backend(ctx, "d", NULL);
    c = tl_backend(ctx, "c", &d->nc);
    d->mode = TL_REFUSE;
    for (int i = 0; i < 100; i++) {
        tl_send(&c->nc, 65000, 1);
    }
    assert_int_equal(d->nc.incoming_queue->count, 100);
}

/* ---- defect 6: auto-names never take or delete a user's ---- */

static void test_port_names_skip_user_ids(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *user = tl_backend(ctx, "hub0port0", NULL);
    struct netbe_client *port;
    struct netbe_error *err = NULL;

    user->nc.is_netdev = true;
    port = netbe_hub_add_port(ctx, 0, NULL, NULL);
    assert_string_equal(port->name, "hub0port1");
    netbe_client_del(port);
    assert_ptr_equal(netbe_find_netdev(ctx, "hub0port0"), &user->nc);
    assert_int_equal(tl_log.cleanups, 0);
    assert_int_equal(netbe_netdev_del(ctx, "hub0port0", &err), 0);
    assert_int_equal(tl_log.cleanups, 1);
}

/* A client of another type that shares a name is not a sibling queue. */
static void test_del_spares_other_types_of_the_name(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *x = tl_backend(ctx, "x", NULL);
    struct tl_client *y = tl_new(ctx, &tl_info_iov, NULL, "tap", "x");

    netbe_client_del(&x->nc);
    assert_int_equal(tl_log.cleanups, 1);
    assert_ptr_equal(netbe_find_netdev(ctx, "x"), &y->nc);
}

/* ---- defect 7: drops no counter showed ---- */

static void test_purges_are_counted(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    for (int i = 0; i < 4; i++) {
        tl_send_async(&a->nc, 60, (uint8_t)i);
    }
    netbe_purge_queued(&a->nc);
    assert_int_equal(b->nc.stats.drop_purged, 4);
    assert_int_equal(tl_log.sent, 4);
    /* frames waiting for a client that leaves are counted on it */
    for (int i = 0; i < 3; i++) {
        tl_send(&a->nc, 60, (uint8_t)i);
    }
    netbe_flush_or_purge_queued(&b->nc, true);
    assert_int_equal(b->nc.stats.drop_purged, 7);
}

/* ---- switch ports: names, limits, counters kept, hub freed ---- */

static void sw_cleanup(struct netbe_client *nc)
{
    tl_cleanup(nc);
    netbe_switch_port_leave(nc);
}

static const struct netbe_client_info sw_conn_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .cleanup = sw_cleanup,
};

static struct tl_client *sw_join(struct netbe_client *listener, unsigned *next)
{
    char *name = netbe_switch_port_name(listener, next);
    struct tl_client *c =
        tl_new(listener->ctx, &sw_conn_info, NULL, "stream", name);

    free(name);
    netbe_switch_port_join(listener, &c->nc, 3);
    return c;
}

static bool hub_listed(struct netbe_ctx *ctx, const char *what)
{
    char *text = tl_info_network(ctx);
    bool found = strstr(text, what) != NULL;

    free(text);
    return found;
}

static void test_switch_ports(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *l = tl_backend(ctx, "lan", NULL);
    struct tl_client *c0, *c1, *user;
    const struct netbe_counters *ls = &l->nc.stats;
    unsigned next = 0;

    netbe_client_set_queue_bytes(&l->nc, 50000);
    assert_int_equal(netbe_switch_hold(ctx, 3, false, NULL), 0);
    c0 = sw_join(&l->nc, &next);
    c1 = sw_join(&l->nc, &next);
    assert_string_equal(c0->nc.name, "lan.0");
    assert_string_equal(c1->nc.name, "lan.1");
    assert_true(c0->nc.is_netdev);
    assert_int_equal(c0->nc.incoming_queue->max_bytes, 50000);
    assert_int_equal(c0->nc.peer->incoming_queue->max_bytes, 50000);

    /* c1 takes 2 of c0's 6 frames, then stalls: one waits for it, and
     * the other 3 at c0's port */
    c1->budget = 2;
    for (int i = 0; i < 6; i++) {
        tl_send(&c0->nc, 60, (uint8_t)i);
    }
    assert_int_equal(c1->nframes, 2);
    assert_int_equal(c1->nc.incoming_queue->count, 1);
    assert_int_equal(c0->nc.peer->incoming_queue->count, 3);

    netbe_client_del(&c0->nc); /* with its port */
    assert_int_equal(ls->tx_frames, 6);
    netbe_client_del(&c1->nc);
    /* what c0 sent is all accounted for on the listener */
    assert_int_equal(ls->rx_frames, 2);
    assert_int_equal(ls->rx_frames + ls->drop_no_peer + ls->drop_purged +
                         ls->drop_queue_full,
                     6);
    assert_int_equal(tl_count_clients(ctx), 1);

    /* names go on counting and skip what a user took */
    user = tl_backend(ctx, "lan.3", NULL);
    next = 2;
    c0 = sw_join(&l->nc, &next);
    c1 = sw_join(&l->nc, &next);
    assert_string_equal(c0->nc.name, "lan.2");
    assert_string_equal(c1->nc.name, "lan.4");
    (void)user;

    /* the listener goes (its VMs first): the emptied hub goes with it */
    assert_true(hub_listed(ctx, "hub 3"));
    netbe_client_del(&c0->nc);
    assert_true(hub_listed(ctx, "hub 3"));
    netbe_client_del(&c1->nc);
    assert_true(hub_listed(ctx, "hub 3")); /* still held */
    netbe_switch_release(ctx, 3);
    assert_false(hub_listed(ctx, "hub 3"));
    /* a plain hub stays, as QEMU's do */
    netbe_client_del(netbe_hub_add_port(ctx, 4, NULL, NULL));
    assert_true(hub_listed(ctx, "hub 4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_port_leaving_wakes_senders),
        T(test_client_leaving_wakes_senders),
        T(test_port_joining_wakes_senders),
        T(test_del_self_in_receive),
        T(test_del_self_in_direct_receive),
        T(test_del_sender_in_receive),
        T(test_del_self_in_sent_cb),
        T(test_del_self_in_flush),
        T(test_nic_del_in_receive),
        T(test_deferred_del_on_the_loop),
        T(test_name_reused_before_reaping),
        T(test_del_in_callback_during_ctx_free),
        T(test_hub_keeps_order),
        T(test_queue_bounded_in_bytes),
        T(test_small_frames_stored_small),
        T(test_queue_bytes_settable),
        T(test_port_names_skip_user_ids),
        T(test_del_spares_other_types_of_the_name),
        T(test_purges_are_counted),
        T(test_switch_ports),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
