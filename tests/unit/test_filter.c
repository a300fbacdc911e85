/*
 * test_filter.c - filter chains (QEMU's net/filter.c): TX head to tail on
 * the sender, RX tail to head on the receiver, a filter that takes a
 * frame ends the walk and its return is the send's, direction and status,
 * holding and netbe_filter_pass_to_next() (which also runs the
 * receiver's RX chain), positions, errors, "info network" lines and
 * deletion with the client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testlib.h"

enum fmode {
    F_PASS = 0, /* return 0 */
    F_DROP,     /* count drop_filter, return the size */
    F_RET,      /* return fstate.ret */
    F_HOLD,     /* keep a copy, return the size */
};

struct fstate {
    enum fmode mode;
    ssize_t ret;
    int calls;
    int status_changes;
    struct netbe_client *sender;
    unsigned flags;
    netbe_packet_sent *cb;
    uint8_t held[2048];
    size_t held_len;
};

/* the ids of the filters run, in order: "f1,f2," */
static char order[1024];
static int cleanups;
static char cleaned[256];

static struct fstate *fs(struct netbe_filter *nf)
{
    return nf->opaque;
}

static ssize_t f_receive_iov(struct netbe_filter *nf,
                             struct netbe_client *sender, unsigned flags,
                             const struct iovec *iov, int iovcnt,
                             netbe_packet_sent *sent_cb)
{
    struct fstate *s = fs(nf);
    size_t len = netbe_iov_size(iov, iovcnt);

    strcat(order, nf->id);
    strcat(order, ",");
    s->calls++;
    s->sender = sender;
    s->flags = flags;
    s->cb = sent_cb;
    switch (s->mode) {
    case F_PASS:
        return 0;
    case F_DROP:
        nf->netdev->stats.drop_filter++;
        return (ssize_t)len;
    case F_RET:
        return s->ret;
    case F_HOLD:
        assert_true(len <= sizeof(s->held));
        s->held_len = netbe_iov_to_buf(iov, iovcnt, 0, s->held, len);
        return (ssize_t)len;
    }
    return 0;
}

static void f_cleanup(struct netbe_filter *nf)
{
    cleanups++;
    strcat(cleaned, nf->id);
    strcat(cleaned, ",");
    free(nf->opaque);
    nf->opaque = NULL;
}

static void f_status_changed(struct netbe_filter *nf)
{
    fs(nf)->status_changes++;
}

static void f_print_info(struct netbe_filter *nf, FILE *out)
{
    fprintf(out, ",calls=%d", fs(nf)->calls);
}

static const struct netbe_filter_ops test_ops = {
    .type = "filter-test",
    .receive_iov = f_receive_iov,
    .cleanup = f_cleanup,
    .status_changed = f_status_changed,
    .print_info = f_print_info,
};

static const struct netbe_filter_ops plain_ops = {
    .type = "filter-plain",
    .receive_iov = f_receive_iov,
    .cleanup = f_cleanup,
};

static struct netbe_filter *add_at(struct netbe_client *nc, const char *id,
                                   enum netbe_filter_direction dir,
                                   const char *position, bool before)
{
    struct netbe_error *err = NULL;
    struct netbe_filter *nf =
        netbe_filter_new(nc, &test_ops, id, dir, position, before, &err);

    if (!nf) {
        fail_msg("netbe_filter_new(%s): %s", id, netbe_error_msg(err));
    }
    assert_null(err);
    nf->opaque = calloc(1, sizeof(struct fstate));
    assert_non_null(nf->opaque);
    return nf;
}

static struct netbe_filter *add(struct netbe_client *nc, const char *id,
                                enum netbe_filter_direction dir)
{
    return add_at(nc, id, dir, NULL, false);
}

/* the ids of @nc's chain, head to tail */
static void assert_chain(struct netbe_client *nc, const char *want)
{
    char got[256] = "";
    struct netbe_filter *nf;

    TAILQ_FOREACH (nf, &nc->filters, next) {
        strcat(got, nf->id);
        strcat(got, ",");
    }
    assert_string_equal(got, want);
}

struct ffix {
    struct netbe_ctx *ctx;
    struct tl_client *a, *b; /* a sends to b */
};

static int setup(void **state)
{
    struct ffix *f = calloc(1, sizeof(*f));

    tl_reset();
    order[0] = '\0';
    cleaned[0] = '\0';
    cleanups = 0;
    f->ctx = netbe_ctx_new(NULL);
    f->b = tl_backend(f->ctx, "b", NULL);
    f->a = tl_backend(f->ctx, "a", &f->b->nc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct ffix *f = *state;

    netbe_ctx_free(f->ctx);
    tl_confs_free();
    free(f);
    return 0;
}

/* ---- order ---- */

static void test_tx_order(void **state)
{
    struct ffix *f = *state;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_TX);
    add(&f->a->nc, "f3", NETBE_FILTER_DIRECTION_TX);
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_string_equal(order, "f1,f2,f3,");
    assert_int_equal(f->b->nframes, 1);
    tl_assert_frame(f->b, 0, 60, 1);
}

static void test_rx_order(void **state)
{
    struct ffix *f = *state;

    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "g2", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "g3", NETBE_FILTER_DIRECTION_RX);
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_string_equal(order, "g3,g2,g1,");
    assert_int_equal(f->b->nframes, 1);
}

static void test_tx_then_rx(void **state)
{
    struct ffix *f = *state;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_TX);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "g2", NETBE_FILTER_DIRECTION_RX);
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_string_equal(order, "f1,f2,g2,g1,");
    /* the filters see the real sender */
    assert_ptr_equal(fs(netbe_filter_find(f->ctx, "g1"))->sender, &f->a->nc);
    assert_ptr_equal(fs(netbe_filter_find(f->ctx, "f1"))->sender, &f->a->nc);
}

static void test_flags_and_callback_reach_filters(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *nf = add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    struct netbe_filter *g = add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    uint8_t buf[10] = {0};

    netbe_send_packet_raw(&f->a->nc, buf, sizeof(buf));
    assert_int_equal(fs(nf)->flags, NETBE_PACKET_FLAG_RAW);
    assert_int_equal(fs(g)->flags, NETBE_PACKET_FLAG_RAW);
    assert_null(fs(nf)->cb);
    netbe_send_packet_async(&f->a->nc, buf, sizeof(buf), tl_sent_cb);
    assert_int_equal(fs(nf)->flags, 0);
    assert_ptr_equal(fs(nf)->cb, tl_sent_cb);
    assert_ptr_equal(fs(g)->cb, tl_sent_cb);
}

/* ---- taking a frame ---- */

static void test_tx_consume_stops_chain(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *f2;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    f2 = add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_TX);
    add(&f->a->nc, "f3", NETBE_FILTER_DIRECTION_TX);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    fs(f2)->mode = F_RET;
    fs(f2)->ret = 1234;
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 1234);
    assert_string_equal(order, "f1,f2,");
    assert_int_equal(f->b->nframes, 0);
    assert_int_equal(f->b->nc.incoming_queue->count, 0);

    fs(f2)->mode = F_DROP;
    assert_int_equal(tl_send(&f->a->nc, 70, 1), 70);
    assert_int_equal(f->a->nc.stats.drop_filter, 1);
    assert_int_equal(f->b->nframes, 0);
}

static void test_rx_consume_stops_chain(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *g2;

    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    g2 = add(&f->b->nc, "g2", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "g3", NETBE_FILTER_DIRECTION_RX);
    fs(g2)->mode = F_RET;
    fs(g2)->ret = 7;
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 7);
    assert_string_equal(order, "g3,g2,");
    assert_int_equal(f->b->nframes, 0);
    /* a consumed frame is not queued even when the receiver refuses */
    f->b->mode = TL_REFUSE;
    assert_int_equal(tl_send(&f->a->nc, 60, 1), 7);
    assert_int_equal(f->b->nc.incoming_queue->count, 0);
    assert_false(f->b->nc.receive_disabled);
}

/* ---- direction and status ---- */

static void test_direction_matching(void **state)
{
    struct ffix *f = *state;

    add(&f->a->nc, "arx", NETBE_FILTER_DIRECTION_RX);
    add(&f->a->nc, "atx", NETBE_FILTER_DIRECTION_TX);
    add(&f->a->nc, "aall", NETBE_FILTER_DIRECTION_ALL);
    add(&f->b->nc, "brx", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "btx", NETBE_FILTER_DIRECTION_TX);
    add(&f->b->nc, "ball", NETBE_FILTER_DIRECTION_ALL);

    tl_send(&f->a->nc, 60, 1);
    assert_string_equal(order, "atx,aall,ball,brx,");
    order[0] = '\0';
    tl_send(&f->b->nc, 60, 1);
    assert_string_equal(order, "btx,ball,aall,arx,");
    assert_int_equal(f->a->nframes, 1);
    assert_int_equal(f->b->nframes, 1);
}

static void test_status_off_passes(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *f1 = add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    struct netbe_filter *f2 = add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_TX);

    assert_true(f1->on);
    fs(f1)->mode = F_DROP;
    netbe_filter_set_status(f1, false);
    assert_false(f1->on);
    assert_int_equal(fs(f1)->status_changes, 1);
    netbe_filter_set_status(f1, false); /* no change, no call */
    assert_int_equal(fs(f1)->status_changes, 1);

    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_string_equal(order, "f2,");
    assert_int_equal(fs(f1)->calls, 0);
    assert_int_equal(f->b->nframes, 1);

    netbe_filter_set_status(f1, true);
    assert_int_equal(fs(f1)->status_changes, 2);
    order[0] = '\0';
    tl_send(&f->a->nc, 60, 1);
    assert_string_equal(order, "f1,");
    assert_int_equal(f->b->nframes, 1);
    (void)f2;

    /* no status_changed hook: fine */
    {
        struct netbe_error *err = NULL;
        struct netbe_filter *p =
            netbe_filter_new(&f->a->nc, &plain_ops, "p",
                             NETBE_FILTER_DIRECTION_ALL, NULL, false, &err);

        assert_non_null(p);
        p->opaque = calloc(1, sizeof(struct fstate));
        netbe_filter_set_status(p, false);
        assert_false(p->on);
    }
}

/* ---- holding and passing on ---- */

static void test_hold_tx_and_pass_to_next(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *f2;
    struct iovec iov;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    f2 = add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_TX);
    add(&f->a->nc, "f3", NETBE_FILTER_DIRECTION_TX);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "g2", NETBE_FILTER_DIRECTION_RX);
    fs(f2)->mode = F_HOLD;

    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_string_equal(order, "f1,f2,");
    assert_int_equal(f->b->nframes, 0);

    order[0] = '\0';
    iov.iov_base = fs(f2)->held;
    iov.iov_len = fs(f2)->held_len;
    assert_int_equal(
        netbe_filter_pass_to_next(f2, fs(f2)->sender, fs(f2)->flags, &iov, 1),
        60);
    /* the rest of a's chain, then b's RX chain (a deviation from QEMU,
     * which skips it), then b */
    assert_string_equal(order, "f3,g2,g1,");
    assert_int_equal(f->b->nframes, 1);
    tl_assert_frame(f->b, 0, 60, 1);
    assert_int_equal(f->b->nc.stats.rx_frames, 1);
}

static void test_hold_rx_and_pass_to_next(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *g2;
    struct iovec iov;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    g2 = add(&f->b->nc, "g2", NETBE_FILTER_DIRECTION_RX);
    add(&f->b->nc, "g3", NETBE_FILTER_DIRECTION_RX);
    fs(g2)->mode = F_HOLD;

    assert_int_equal(tl_send(&f->a->nc, 60, 1), 60);
    assert_string_equal(order, "f1,g3,g2,");
    assert_int_equal(f->b->nframes, 0);

    order[0] = '\0';
    iov.iov_base = fs(g2)->held;
    iov.iov_len = fs(g2)->held_len;
    assert_int_equal(netbe_filter_pass_to_next(g2, &f->a->nc, 0, &iov, 1), 60);
    /* towards the head of b's chain, and not a's TX chain again */
    assert_string_equal(order, "g1,");
    assert_int_equal(f->b->nframes, 1);
    tl_assert_frame(f->b, 0, 60, 1);
}

static void test_hold_all_direction(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *h;
    struct iovec iov;

    add(&f->a->nc, "f0", NETBE_FILTER_DIRECTION_ALL);
    h = add(&f->a->nc, "h", NETBE_FILTER_DIRECTION_ALL);
    add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_ALL);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_ALL);
    fs(h)->mode = F_HOLD;

    /* sent by its netdev: continues as TX */
    tl_send(&f->a->nc, 60, 1);
    assert_string_equal(order, "f0,h,");
    order[0] = '\0';
    iov.iov_base = fs(h)->held;
    iov.iov_len = fs(h)->held_len;
    assert_int_equal(netbe_filter_pass_to_next(h, &f->a->nc, 0, &iov, 1), 60);
    assert_string_equal(order, "f2,g1,");
    assert_int_equal(f->b->nframes, 1);

    /* received by its netdev: continues as RX */
    order[0] = '\0';
    tl_send(&f->b->nc, 61, 2);
    assert_string_equal(order, "g1,f2,h,");
    order[0] = '\0';
    iov.iov_len = fs(h)->held_len;
    assert_int_equal(netbe_filter_pass_to_next(h, &f->b->nc, 0, &iov, 1), 61);
    assert_string_equal(order, "f0,");
    assert_int_equal(f->a->nframes, 1);
    tl_assert_frame(f->a, 0, 61, 2);
}

static void test_pass_to_next_consumed_later(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *h, *g1;
    struct iovec iov;

    h = add(&f->a->nc, "h", NETBE_FILTER_DIRECTION_TX);
    g1 = add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);
    fs(h)->mode = F_HOLD;
    fs(g1)->mode = F_RET;
    fs(g1)->ret = 5;
    tl_send(&f->a->nc, 60, 1);
    iov.iov_base = fs(h)->held;
    iov.iov_len = fs(h)->held_len;
    assert_int_equal(netbe_filter_pass_to_next(h, &f->a->nc, 0, &iov, 1), 5);
    assert_int_equal(f->b->nframes, 0);
}

static void test_pass_to_next_queues_at_refusing_receiver(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *h;
    struct iovec iov;

    h = add(&f->a->nc, "h", NETBE_FILTER_DIRECTION_TX);
    fs(h)->mode = F_HOLD;
    tl_send(&f->a->nc, 60, 1);
    f->b->mode = TL_REFUSE;
    iov.iov_base = fs(h)->held;
    iov.iov_len = fs(h)->held_len;
    assert_int_equal(netbe_filter_pass_to_next(h, &f->a->nc, 0, &iov, 1), 60);
    assert_int_equal(f->b->nc.incoming_queue->count, 1);
    f->b->mode = TL_ACCEPT;
    netbe_flush_queued(&f->b->nc);
    assert_int_equal(f->b->nframes, 1);
    tl_assert_frame(f->b, 0, 60, 1);
}

static void test_pass_to_next_without_peer(void **state)
{
    struct ffix *f = *state;
    struct tl_client *c = tl_backend(f->ctx, "c", NULL);
    struct netbe_filter *h = add(&c->nc, "h", NETBE_FILTER_DIRECTION_TX);
    struct netbe_filter *after =
        add(&c->nc, "after", NETBE_FILTER_DIRECTION_TX);
    uint8_t buf[33] = {0};
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};

    (void)after;
    /* nobody to give it to: its size, and nothing runs */
    assert_int_equal(netbe_filter_pass_to_next(h, &c->nc, 0, &iov, 1), 33);
    assert_int_equal(netbe_filter_pass_to_next(h, NULL, 0, &iov, 1), 33);
    assert_string_equal(order, "");
}

/* ---- positions ---- */

static void test_positions(void **state)
{
    struct ffix *f = *state;
    struct netbe_client *nc = &f->a->nc;

    add_at(nc, "a1", NETBE_FILTER_DIRECTION_ALL, "tail", false);
    add_at(nc, "b1", NETBE_FILTER_DIRECTION_ALL, "head", false);
    assert_chain(nc, "b1,a1,");
    add_at(nc, "c1", NETBE_FILTER_DIRECTION_ALL, "id=a1", true);
    assert_chain(nc, "b1,c1,a1,");
    add_at(nc, "d1", NETBE_FILTER_DIRECTION_ALL, "id=a1", false);
    assert_chain(nc, "b1,c1,a1,d1,");
    add_at(nc, "e1", NETBE_FILTER_DIRECTION_ALL, "id=b1", true);
    assert_chain(nc, "e1,b1,c1,a1,d1,");
    add_at(nc, "f1", NETBE_FILTER_DIRECTION_ALL, "id=b1", false);
    assert_chain(nc, "e1,b1,f1,c1,a1,d1,");
    add_at(nc, "g1", NETBE_FILTER_DIRECTION_ALL, NULL, false);
    assert_chain(nc, "e1,b1,f1,c1,a1,d1,g1,");
    /* insert= only matters with id= */
    add_at(nc, "h1", NETBE_FILTER_DIRECTION_ALL, "head", true);
    add_at(nc, "i1", NETBE_FILTER_DIRECTION_ALL, "tail", true);
    assert_chain(nc, "h1,e1,b1,f1,c1,a1,d1,g1,i1,");

    tl_send(nc, 60, 1);
    assert_string_equal(order, "h1,e1,b1,f1,c1,a1,d1,g1,i1,");
}

static void expect_new_error(struct netbe_client *nc, const char *id,
                             const char *position, const char *msg)
{
    struct netbe_error *err = NULL;

    assert_null(netbe_filter_new(nc, &test_ops, id, NETBE_FILTER_DIRECTION_ALL,
                                 position, false, &err));
    tl_assert_error(err, NETBE_ERROR_GENERIC, msg);
}

static void test_errors(void **state)
{
    struct ffix *f = *state;
    struct netbe_client *nc = &f->a->nc;
    struct netbe_error *err = NULL;

    add(nc, "f1", NETBE_FILTER_DIRECTION_ALL);
    add(&f->b->nc, "other", NETBE_FILTER_DIRECTION_ALL);

    expect_new_error(nc, "x1", "middle",
                     "Parameter 'position' expects 'head', 'tail' or "
                     "'id=<id>'");
    expect_new_error(nc, "x1", "Head",
                     "Parameter 'position' expects 'head', 'tail' or "
                     "'id=<id>'");
    expect_new_error(nc, "x1", "",
                     "Parameter 'position' expects 'head', "
                     "'tail' or 'id=<id>'");
    expect_new_error(nc, "x1", "id=nope", "filter 'nope' not found");
    expect_new_error(nc, "x1", "id=", "filter '' not found");
    expect_new_error(nc, "x1", "id=other",
                     "filter 'other' belongs to a different netdev");
    expect_new_error(nc, "1bad", NULL, "Parameter 'id' expects an identifier");
    expect_new_error(nc, "", NULL, "Parameter 'id' expects an identifier");
    expect_new_error(nc, "a b", NULL, "Parameter 'id' expects an identifier");
    expect_new_error(nc, NULL, NULL, "Parameter 'id' expects an identifier");

    /* a duplicate id, on any netdev */
    assert_null(netbe_filter_new(&f->b->nc, &test_ops, "f1",
                                 NETBE_FILTER_DIRECTION_ALL, NULL, false,
                                 &err));
    assert_non_null(err);
    assert_non_null(strstr(netbe_error_msg(err), "Duplicate ID 'f1'"));
    netbe_error_free(err);

    /* nothing was added by the failures */
    assert_chain(nc, "f1,");
    assert_chain(&f->b->nc, "other,");
    assert_int_equal(cleanups, 0);
}

/* ---- find, delete, info ---- */

static void test_find_and_del(void **state)
{
    struct ffix *f = *state;
    struct netbe_filter *f1 = add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_TX);
    struct netbe_filter *g1 = add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_RX);

    assert_ptr_equal(netbe_filter_find(f->ctx, "f1"), f1);
    assert_ptr_equal(netbe_filter_find(f->ctx, "g1"), g1);
    assert_null(netbe_filter_find(f->ctx, "nope"));
    assert_ptr_equal(f1->netdev, &f->a->nc);
    assert_int_equal(f1->direction, NETBE_FILTER_DIRECTION_TX);
    assert_string_equal(f1->id, "f1");
    assert_ptr_equal(f1->ops, &test_ops);

    netbe_filter_del(f1);
    assert_int_equal(cleanups, 1);
    assert_string_equal(cleaned, "f1,");
    assert_null(netbe_filter_find(f->ctx, "f1"));
    tl_send(&f->a->nc, 60, 1);
    assert_string_equal(order, "g1,");
    /* the id is free again */
    add(&f->b->nc, "f1", NETBE_FILTER_DIRECTION_RX);
}

static void test_info_network_lists_filters(void **state)
{
    struct ffix *f = *state;
    struct netbe_error *err = NULL;
    struct netbe_filter *p;
    char *text;

    add(&f->b->nc, "f1", NETBE_FILTER_DIRECTION_ALL);
    add(&f->b->nc, "f2", NETBE_FILTER_DIRECTION_RX);
    p = netbe_filter_new(&f->b->nc, &plain_ops, "f3", NETBE_FILTER_DIRECTION_TX,
                         NULL, false, &err);
    assert_non_null(p);
    p->opaque = calloc(1, sizeof(struct fstate));
    netbe_filter_set_status(netbe_filter_find(f->ctx, "f2"), false);
    tl_send(&f->a->nc, 60, 1);

    text = tl_print_client(&f->b->nc);
    assert_string_equal(
        text, "b: index=0,type=stream,\n"
              "filters:\n"
              "  - f1: type=filter-test,calls=1,position=tail,status=on,"
              "insert=behind,netdev=b,queue=all\n"
              "  - f2: type=filter-test,calls=0,position=tail,status=off,"
              "insert=behind,netdev=b,queue=rx\n"
              "  - f3: type=filter-plain,position=tail,status=on,"
              "insert=behind,netdev=b,queue=tx\n");
    free(text);

    /* a client without filters prints no "filters:" line */
    text = tl_print_client(&f->a->nc);
    assert_string_equal(text, "a: index=0,type=stream,\n");
    free(text);
}

static void test_info_network_nic_filters(void **state)
{
    struct ffix *f = *state;
    struct tl_client *c = tl_backend(f->ctx, "c", NULL);
    struct netbe_client *peers[1] = {&c->nc};
    struct netbe_nic_conf conf = {.peers = peers};
    struct netbe_nic *nic = tl_nic(f->ctx, &conf, "e1000", "n", NULL);
    char *text, *at;

    add(netbe_nic_get_queue(nic), "nf", NETBE_FILTER_DIRECTION_ALL);
    add(&c->nc, "cf", NETBE_FILTER_DIRECTION_ALL);
    text = tl_info_network(f->ctx);
    at = strstr(text, "n: index=0,type=nic,\n"
                      "filters:\n"
                      "  - nf: type=filter-test,calls=0,position=tail,"
                      "status=on,insert=behind,netdev=n,queue=all\n"
                      " \\ c: index=0,type=stream,\n"
                      "filters:\n"
                      "  - cf: type=filter-test,calls=0,position=tail,"
                      "status=on,insert=behind,netdev=c,queue=all\n");
    assert_non_null(at);
    free(text);
}

static void test_client_del_deletes_filters(void **state)
{
    struct ffix *f = *state;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_ALL);
    add(&f->a->nc, "f2", NETBE_FILTER_DIRECTION_ALL);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_ALL);
    netbe_client_del(&f->a->nc);
    assert_int_equal(cleanups, 2);
    assert_string_equal(cleaned, "f1,f2,");
    assert_null(netbe_filter_find(f->ctx, "f1"));
    assert_non_null(netbe_filter_find(f->ctx, "g1"));
}

static void test_multiqueue_del_deletes_all_filters(void **state)
{
    struct ffix *f = *state;
    struct tl_client *q0 = tl_backend(f->ctx, "mq", NULL);
    struct tl_client *q1 = tl_backend(f->ctx, "mq", NULL);

    add(&q0->nc, "q0f", NETBE_FILTER_DIRECTION_ALL);
    add(&q1->nc, "q1f", NETBE_FILTER_DIRECTION_ALL);
    netbe_client_del(&q0->nc);
    assert_int_equal(cleanups, 2);
    assert_null(netbe_filter_find(f->ctx, "q1f"));
}

static void test_nic_paths_delete_filters(void **state)
{
    struct ffix *f = *state;
    struct tl_client *c = tl_backend(f->ctx, "c", NULL);
    struct netbe_client *peers[1] = {&c->nc};
    struct netbe_nic_conf conf = {.peers = peers};
    struct netbe_nic *nic = tl_nic(f->ctx, &conf, "e1000", "n", NULL);

    add(netbe_nic_get_queue(nic), "nf", NETBE_FILTER_DIRECTION_ALL);
    add(&c->nc, "cf", NETBE_FILTER_DIRECTION_ALL);
    /* the backend of a NIC: its filters go at once */
    netbe_client_del(&c->nc);
    assert_int_equal(cleanups, 1);
    assert_string_equal(cleaned, "cf,");
    netbe_nic_del(nic);
    assert_int_equal(cleanups, 2);
    assert_string_equal(cleaned, "cf,nf,");
}

static void test_ctx_free_deletes_filters(void **state)
{
    struct ffix *f = *state;

    add(&f->a->nc, "f1", NETBE_FILTER_DIRECTION_ALL);
    add(&f->b->nc, "g1", NETBE_FILTER_DIRECTION_ALL);
    netbe_ctx_free(f->ctx);
    f->ctx = NULL;
    assert_int_equal(cleanups, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_tx_order),
        T(test_rx_order),
        T(test_tx_then_rx),
        T(test_flags_and_callback_reach_filters),
        T(test_tx_consume_stops_chain),
        T(test_rx_consume_stops_chain),
        T(test_direction_matching),
        T(test_status_off_passes),
        T(test_hold_tx_and_pass_to_next),
        T(test_hold_rx_and_pass_to_next),
        T(test_hold_all_direction),
        T(test_pass_to_next_consumed_later),
        T(test_pass_to_next_queues_at_refusing_receiver),
        T(test_pass_to_next_without_peer),
        T(test_positions),
        T(test_errors),
        T(test_find_and_del),
        T(test_info_network_lists_filters),
        T(test_info_network_nic_filters),
        T(test_client_del_deletes_filters),
        T(test_multiqueue_del_deletes_all_filters),
        T(test_nic_paths_delete_filters),
        T(test_ctx_free_deletes_filters),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
