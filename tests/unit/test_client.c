/*
 * test_client.c - the client graph (QEMU's net/net.c rules): names,
 * peers, lookups, the send path with its drops and counters, the receive
 * entry points, flow control (receive_disabled, flush, purge), sent
 * callbacks, deletion (with frames queued both ways, with a NIC peer,
 * multiqueue), NICs, set_link, netdev_del, info network, the start-up
 * warnings and batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- names, peers, lookups ---- */

static void test_driver_names(void **state)
{
    assert_string_equal(netbe_driver_name(NETBE_DRIVER_NIC), "nic");
    assert_string_equal(netbe_driver_name(NETBE_DRIVER_HUBPORT), "hubport");
    assert_string_equal(netbe_driver_name(NETBE_DRIVER_STREAM), "stream");
    assert_string_equal(netbe_driver_name(NETBE_DRIVER_VHOST_USER),
                        "vhost-user");
    assert_string_equal(netbe_driver_name(NETBE_DRIVER_AF_XDP), "af-xdp");
    assert_string_equal(netbe_driver_name(NETBE_DRIVER_NONE), "none");
}

static void test_name_auto_assignment(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_new(ctx, &tl_info_backend, NULL, "m", NULL);
    struct tl_client *b = tl_new(ctx, &tl_info_backend, NULL, "m", NULL);
    struct tl_client *x = tl_new(ctx, &tl_info_backend, NULL, "x", NULL);
    struct tl_client *named = tl_new(ctx, &tl_info_backend, NULL, "m", "foo");
    struct tl_client *c = tl_new(ctx, &tl_info_backend, NULL, "m", NULL);

    assert_string_equal(a->nc.name, "m.0");
    assert_string_equal(b->nc.name, "m.1");
    assert_string_equal(x->nc.name, "x.0");
    assert_string_equal(named->nc.name, "foo");
    assert_string_equal(named->nc.model, "m");
    /* a named client of the model counts too */
    assert_string_equal(c->nc.name, "m.3");
}

static void test_name_after_deletion(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_new(ctx, &tl_info_backend, NULL, "m", NULL);
    struct tl_client *b = tl_new(ctx, &tl_info_backend, NULL, "m", NULL);
    struct tl_client *c;

    assert_string_equal(a->nc.name, "m.0");
    assert_string_equal(b->nc.name, "m.1");
    netbe_client_del(&a->nc);
    /* QEMU counts the others, so a name can come back twice */
    c = tl_new(ctx, &tl_info_backend, NULL, "m", NULL);
    assert_string_equal(c->nc.name, "m.1");
    assert_string_equal(b->nc.name, "m.1");
}

static void test_peering_one_to_one(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_backend(ctx, "a", NULL);
    struct tl_client *b = tl_backend(ctx, "b", &a->nc);
    struct tl_client *c = tl_backend(ctx, "c", NULL);
    struct tl_client *d = tl_backend(ctx, "d", NULL);
    struct netbe_error *err = NULL;

    assert_ptr_equal(a->nc.peer, &b->nc);
    assert_ptr_equal(b->nc.peer, &a->nc);
    assert_null(c->nc.peer);

    assert_int_equal(netbe_client_set_peer(&c->nc, &d->nc, &err), 0);
    assert_null(err);
    assert_ptr_equal(c->nc.peer, &d->nc);
    assert_ptr_equal(d->nc.peer, &c->nc);

    /* a client has one peer at most */
    assert_int_equal(netbe_client_set_peer(&a->nc, &c->nc, &err), -1);
    assert_non_null(err);
    netbe_error_free(err);
    err = NULL;
    assert_ptr_equal(a->nc.peer, &b->nc);
    assert_ptr_equal(c->nc.peer, &d->nc);

    {
        struct tl_client *e = tl_backend(ctx, "e", NULL);

        assert_int_equal(netbe_client_set_peer(&e->nc, &e->nc, &err), -1);
        assert_non_null(err);
        netbe_error_free(err);
        assert_null(e->nc.peer);
    }
}

static void test_client_list_order(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_backend(ctx, "a", NULL);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *c = tl_backend(ctx, "c", NULL);

    assert_ptr_equal(netbe_client_first(ctx), &a->nc);
    assert_ptr_equal(netbe_client_next(&a->nc), &b->nc);
    assert_ptr_equal(netbe_client_next(&b->nc), &c->nc);
    assert_null(netbe_client_next(&c->nc));
    assert_ptr_equal(a->nc.ctx, ctx);
    assert_null(netbe_ctx_loop(ctx));
    assert_non_null(a->nc.incoming_queue);
}

static void test_find_netdev_skips_nics(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf conf = {0};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "dup", NULL);
    struct netbe_nic_conf conf2 = {0};
    struct netbe_nic *nic2 = tl_nic(ctx, &conf2, "e1000", "n0", NULL);
    struct tl_client *b = tl_backend(ctx, "dup", NULL);

    (void)nic;
    (void)nic2;
    assert_null(netbe_find_netdev(ctx, "n0"));
    assert_ptr_equal(netbe_find_netdev(ctx, "dup"), &b->nc);
    assert_null(netbe_find_netdev(ctx, "nope"));
}

static void test_find_clients_except(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_client *ncs[8];
    struct netbe_nic_conf conf = {0};
    struct tl_client *q0 = tl_backend(ctx, "mq", NULL);
    struct tl_client *o = tl_backend(ctx, "other", NULL);
    struct tl_client *q1 = tl_backend(ctx, "mq", NULL);
    struct tl_client *q2 = tl_backend(ctx, "mq", NULL);
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "mq", NULL);

    assert_int_equal(
        netbe_find_clients_except(ctx, "mq", ncs, NETBE_DRIVER_NIC, 8), 3);
    assert_ptr_equal(ncs[0], &q0->nc);
    assert_ptr_equal(ncs[1], &q1->nc);
    assert_ptr_equal(ncs[2], &q2->nc);

    /* every type but __MAX: the NIC too */
    assert_int_equal(
        netbe_find_clients_except(ctx, "mq", ncs, NETBE_DRIVER__MAX, 8), 4);
    assert_ptr_equal(ncs[3], netbe_nic_get_queue(nic));

    /* except the backends' own type */
    assert_int_equal(
        netbe_find_clients_except(ctx, "mq", ncs, NETBE_DRIVER_STREAM, 8), 1);
    assert_ptr_equal(ncs[0], netbe_nic_get_queue(nic));

    /* the count goes past max; only max are stored */
    ncs[2] = NULL;
    assert_int_equal(
        netbe_find_clients_except(ctx, "mq", ncs, NETBE_DRIVER_NIC, 2), 3);
    assert_null(ncs[2]);

    /* NULL matches every name */
    assert_int_equal(
        netbe_find_clients_except(ctx, NULL, ncs, NETBE_DRIVER_NIC, 8), 4);
    assert_ptr_equal(ncs[1], &o->nc);
    assert_int_equal(
        netbe_find_clients_except(ctx, "none", ncs, NETBE_DRIVER_NIC, 8), 0);
}

/* ---- flow control ---- */

static void test_receive_disabled_and_flush(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    assert_int_equal(tl_send(&a->nc, 100, 1), 0);
    assert_true(b->nc.receive_disabled);
    assert_int_equal(b->nc.incoming_queue->count, 1);
    assert_int_equal(b->calls_receive, 1);

    /* disabled: no more receive() calls, frames wait */
    b->mode = TL_ACCEPT;
    assert_int_equal(tl_send(&a->nc, 101, 2), 0);
    assert_int_equal(b->calls_receive, 1);
    assert_int_equal(b->nc.incoming_queue->count, 2);
    assert_int_equal(b->nframes, 0);
    assert_false(netbe_can_send(&a->nc));

    netbe_flush_queued(&b->nc);
    assert_false(b->nc.receive_disabled);
    assert_int_equal(b->nframes, 2);
    tl_assert_frame(b, 0, 100, 1);
    tl_assert_frame(b, 1, 101, 2);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_true(netbe_can_send(&a->nc));

    /* and sending works directly again */
    assert_int_equal(tl_send(&a->nc, 102, 3), 102);
    assert_int_equal(b->nframes, 3);
}

static void test_flush_stops_at_refusal(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    for (int i = 0; i < 4; i++) {
        tl_send(&a->nc, 64, (uint8_t)i);
    }
    b->mode = TL_ACCEPT;
    b->budget = 1;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, 1);
    assert_true(b->nc.receive_disabled);
    assert_int_equal(b->nc.incoming_queue->count, 3);
    b->budget = -1;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, 4);
    for (int i = 0; i < 4; i++) {
        tl_assert_frame(b, i, 64, (uint8_t)i);
    }
}

static void test_can_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *plain = tl_backend(ctx, "plain", NULL);
    struct tl_client *c = tl_new(ctx, &tl_info_canrx, NULL, "tap", "c");

    assert_true(netbe_can_receive(&plain->nc));
    plain->nc.receive_disabled = true;
    assert_false(netbe_can_receive(&plain->nc));

    assert_true(netbe_can_receive(&c->nc));
    assert_true(c->calls_can_receive > 0);
    c->can_rx = false;
    assert_false(netbe_can_receive(&c->nc));
    c->can_rx = true;
    c->nc.receive_disabled = true;
    assert_false(netbe_can_receive(&c->nc));
}

static void test_can_send(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *lonely = tl_backend(ctx, "lonely", NULL);
    struct tl_client *r = tl_new(ctx, &tl_info_canrx, NULL, "tap", "r");
    struct tl_client *s = tl_backend(ctx, "s", &r->nc);

    assert_true(netbe_can_send(NULL));
    assert_true(netbe_can_send(&lonely->nc));
    assert_true(netbe_can_send(&s->nc));
    r->can_rx = false;
    assert_false(netbe_can_send(&s->nc));

    /* a sender whose peer cannot receive queues without calling it */
    assert_int_equal(tl_send(&s->nc, 60, 1), 0);
    assert_int_equal(r->calls_receive, 0);
    assert_int_equal(r->nc.incoming_queue->count, 1);
    assert_false(r->nc.receive_disabled);
    r->can_rx = true;
    netbe_flush_queued(&r->nc);
    assert_int_equal(r->nframes, 1);
}

/* ---- drops ---- */

static void test_link_down_sender(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    a->nc.link_down = true;
    assert_int_equal(tl_send(&a->nc, 77, 1), 77);
    assert_int_equal(a->nc.stats.drop_link_down, 1);
    assert_int_equal(a->nc.stats.tx_frames, 0);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(b->calls_receive, 0);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(b->nc.stats.rx_frames, 0);
}

static void test_link_down_receiver(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->nc.link_down = true;
    assert_int_equal(tl_send(&a->nc, 77, 1), 77);
    assert_int_equal(tl_send_async(&a->nc, 78, 1), 78);
    assert_int_equal(b->nc.stats.drop_link_down, 2);
    assert_int_equal(a->nc.stats.drop_link_down, 0);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(b->calls_receive, 0);
    assert_int_equal(b->nc.stats.rx_frames, 0);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    /* the frame was dropped, not queued: no callback is owed */
    assert_int_equal(tl_log.sent, 0);
}

static void test_no_peer(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_backend(ctx, "a", NULL);

    assert_int_equal(tl_send(&a->nc, 50, 1), 50);
    assert_int_equal(tl_send_async(&a->nc, 51, 1), 51);
    assert_int_equal(a->nc.stats.drop_no_peer, 2);
    assert_int_equal(a->nc.stats.tx_frames, 0);
    assert_int_equal(tl_log.sent, 0);
}

static void test_oversize(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    static uint8_t big[NETBE_NET_BUFSIZE + 1];
    struct iovec iov[2] = {{big, 1000}, {big + 1000, NETBE_NET_BUFSIZE - 999}};

    assert_int_equal(netbe_send_packet(&a->nc, big, sizeof(big)), sizeof(big));
    assert_int_equal(a->nc.stats.drop_oversize, 1);
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 2), NETBE_NET_BUFSIZE + 1);
    assert_int_equal(a->nc.stats.drop_oversize, 2);
    assert_int_equal(
        netbe_send_packet_async(&a->nc, big, sizeof(big), tl_sent_cb),
        sizeof(big));
    assert_int_equal(netbe_send_packet_raw(&a->nc, big, sizeof(big)),
                     sizeof(big));
    assert_int_equal(netbe_sendv_packet_async(&a->nc, iov, 2, tl_sent_cb),
                     NETBE_NET_BUFSIZE + 1);
    assert_int_equal(a->nc.stats.drop_oversize, 5);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(a->nc.stats.tx_frames, 0);
    assert_int_equal(tl_log.sent, 0);

    /* the limit itself passes */
    tl_fill(big, NETBE_NET_BUFSIZE, 9);
    assert_int_equal(netbe_send_packet(&a->nc, big, NETBE_NET_BUFSIZE),
                     NETBE_NET_BUFSIZE);
    assert_int_equal(b->nframes, 1);
    tl_assert_frame(b, 0, NETBE_NET_BUFSIZE, 9);
    iov[1].iov_len = NETBE_NET_BUFSIZE - 1000;
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 2), NETBE_NET_BUFSIZE);
    assert_int_equal(b->nframes, 2);
    tl_assert_frame(b, 1, NETBE_NET_BUFSIZE, 9);
    assert_int_equal(a->nc.stats.drop_oversize, 5);
}

/* ---- receive entry points ---- */

static void test_raw_uses_receive_raw(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_new(ctx, &tl_info_raw, NULL, "s", "r");
    struct tl_client *a = tl_backend(ctx, "a", &r->nc);
    uint8_t buf[40];

    tl_fill(buf, sizeof(buf), 3);
    assert_int_equal(netbe_send_packet_raw(&a->nc, buf, sizeof(buf)), 40);
    assert_int_equal(r->calls_raw, 1);
    assert_int_equal(r->calls_receive, 0);
    assert_int_equal(r->frames[0].via, TL_VIA_RAW);
    tl_assert_frame(r, 0, 40, 3);

    assert_int_equal(netbe_send_packet(&a->nc, buf, sizeof(buf)), 40);
    assert_int_equal(r->calls_raw, 1);
    assert_int_equal(r->calls_receive, 1);
}

static void test_raw_falls_back_to_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_backend(ctx, "r", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &r->nc);
    uint8_t buf[40];

    tl_fill(buf, sizeof(buf), 3);
    assert_int_equal(netbe_send_packet_raw(&a->nc, buf, sizeof(buf)), 40);
    assert_int_equal(r->calls_receive, 1);
    assert_int_equal(r->frames[0].via, TL_VIA_RECEIVE);
    tl_assert_frame(r, 0, 40, 3);
}

static void test_raw_skips_receive_iov(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *all = tl_new(ctx, &tl_info_all, NULL, "s", "all");
    struct tl_client *a = tl_backend(ctx, "a", &all->nc);
    struct tl_client *iov = tl_new(ctx, &tl_info_iov, NULL, "s", "iov");
    struct tl_client *b = tl_backend(ctx, "b", &iov->nc);
    uint8_t buf[40];

    tl_fill(buf, sizeof(buf), 3);
    netbe_send_packet_raw(&a->nc, buf, sizeof(buf));
    assert_int_equal(all->calls_raw, 1);
    assert_int_equal(all->calls_iov, 0);
    /* no receive_raw: RAW goes to receive(), not receive_iov() */
    netbe_send_packet_raw(&b->nc, buf, sizeof(buf));
    assert_int_equal(iov->calls_receive, 1);
    assert_int_equal(iov->calls_iov, 0);
    tl_assert_frame(iov, 0, 40, 3);
}

static void test_raw_to_receive_iov_only(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *only = tl_new(ctx, &tl_info_iov_only, NULL, "s", "o");
    struct tl_client *a = tl_backend(ctx, "a", &only->nc);
    uint8_t buf[40];
    struct iovec iov[2] = {{buf, 10}, {buf + 10, 30}};

    tl_fill(buf, sizeof(buf), 4);
    /* neither receive() nor receive_raw(): receive_iov() takes both */
    assert_int_equal(netbe_send_packet_raw(&a->nc, buf, sizeof(buf)), 40);
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 2), 40);
    assert_int_equal(only->calls_iov, 2);
    assert_int_equal(only->nc.stats.drop_error, 0);
    tl_assert_frame(only, 0, 40, 4);
    tl_assert_frame(only, 1, 40, 4);
}

static void test_raw_flag_through_queue(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_new(ctx, &tl_info_raw, NULL, "s", "r");
    struct tl_client *a = tl_backend(ctx, "a", &r->nc);
    uint8_t buf[40];

    r->mode = TL_REFUSE;
    tl_fill(buf, sizeof(buf), 3);
    assert_int_equal(netbe_send_packet_raw(&a->nc, buf, sizeof(buf)), 0);
    assert_int_equal(netbe_send_packet(&a->nc, buf, sizeof(buf)), 0);
    r->mode = TL_ACCEPT;
    netbe_flush_queued(&r->nc);
    assert_int_equal(r->nframes, 2);
    assert_int_equal(r->frames[0].via, TL_VIA_RAW);
    assert_int_equal(r->frames[1].via, TL_VIA_RECEIVE);
}

static void test_receive_iov_preferred(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_new(ctx, &tl_info_iov, NULL, "s", "r");
    struct tl_client *a = tl_backend(ctx, "a", &r->nc);
    uint8_t buf[30];
    struct iovec iov[3] = {{buf, 10}, {buf + 10, 5}, {buf + 15, 15}};

    tl_fill(buf, sizeof(buf), 4);
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 3), 30);
    assert_int_equal(r->calls_iov, 1);
    assert_int_equal(r->calls_receive, 0);
    assert_int_equal(r->frames[0].iovcnt, 3); /* not linearised */
    tl_assert_frame(r, 0, 30, 4);
    assert_int_equal(tl_send(&a->nc, 20, 5), 20);
    assert_int_equal(r->calls_iov, 2);
    assert_int_equal(r->calls_receive, 0);
}

static void test_multi_iov_linearised(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_backend(ctx, "r", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &r->nc);
    uint8_t buf[123];
    struct iovec iov[5] = {
        {buf, 1}, {buf + 1, 0}, {buf + 1, 60}, {buf + 61, 61}, {buf + 122, 1},
    };

    tl_fill(buf, sizeof(buf), 0x40);
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 5), 123);
    assert_int_equal(r->calls_receive, 1);
    tl_assert_frame(r, 0, 123, 0x40);
    assert_memory_equal(r->frames[0].data, buf, 123);
    assert_int_equal(r->nc.stats.rx_bytes, 123);
}

static ssize_t hook_send_back(struct tl_client *c, const uint8_t *buf,
                              size_t len);

/* A receive() that sends from inside itself while its input is linearised
 * in the shared scratch buffer. */
static void echo_hook(struct tl_client *c, const uint8_t *buf, size_t len)
{
    hook_send_back(c, buf, len);
}

static ssize_t hook_send_back(struct tl_client *c, const uint8_t *buf,
                              size_t len)
{
    struct iovec iov[2] = {{(void *)buf, len / 2},
                           {(void *)(buf + len / 2), len - len / 2}};

    c->hook = NULL; /* once */
    return netbe_sendv_packet(&c->nc, iov, 2);
}

static void test_nested_linearise(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_backend(ctx, "r", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &r->nc);
    uint8_t buf[100];
    struct iovec iov[2] = {{buf, 30}, {buf + 30, 70}};

    r->hook = echo_hook;
    tl_fill(buf, sizeof(buf), 1);
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 2), 100);
    assert_int_equal(r->nframes, 1);
    assert_int_equal(a->nframes, 1);
    tl_assert_frame(r, 0, 100, 1);
    tl_assert_frame(a, 0, 100, 1);
}

static void test_counters(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    tl_send(&a->nc, 60, 1);
    tl_send(&a->nc, 1500, 2);
    tl_send(&b->nc, 90, 3);
    assert_int_equal(a->nc.stats.tx_frames, 2);
    assert_int_equal(a->nc.stats.tx_bytes, 1560);
    assert_int_equal(b->nc.stats.rx_frames, 2);
    assert_int_equal(b->nc.stats.rx_bytes, 1560);
    assert_int_equal(b->nc.stats.tx_frames, 1);
    assert_int_equal(b->nc.stats.tx_bytes, 90);
    assert_int_equal(a->nc.stats.rx_frames, 1);
    assert_int_equal(a->nc.stats.rx_bytes, 90);

    /* a receive error is counted as such, not as received */
    b->mode = TL_ERROR;
    assert_true(tl_send(&a->nc, 70, 4) < 0);
    assert_int_equal(b->nc.stats.drop_error, 1);
    assert_int_equal(b->nc.stats.rx_frames, 2);
    assert_false(b->nc.receive_disabled);

    /* a queued frame is counted received when it is delivered */
    b->mode = TL_REFUSE;
    tl_send(&a->nc, 80, 5);
    assert_int_equal(b->nc.stats.rx_frames, 2);
    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nc.stats.rx_frames, 3);
    assert_int_equal(b->nc.stats.rx_bytes, 1640);
}

static void test_receive_from_nobody(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *r = tl_new(ctx, &tl_info_canrx, NULL, "tap", "r");
    uint8_t buf[20];
    struct iovec iov[2] = {{buf, 5}, {buf + 5, 15}};

    tl_fill(buf, sizeof(buf), 7);
    assert_int_equal(netbe_receive(&r->nc, buf, 20), 20);
    assert_int_equal(r->nframes, 1);
    assert_int_equal(netbe_receive_iov(&r->nc, iov, 2), 20);
    assert_int_equal(r->nframes, 2);
    tl_assert_frame(r, 1, 20, 7);
    assert_int_equal(r->nc.stats.rx_frames, 2);

    r->can_rx = false;
    assert_int_equal(netbe_receive(&r->nc, buf, 20), 0);
    assert_int_equal(r->nframes, 2);
    /* nothing is queued for a receive from nobody */
    assert_int_equal(r->nc.incoming_queue->count, 0);
}

/* ---- sent callbacks, purge ---- */

static void test_send_async_callback(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    uint8_t buf[48];
    struct iovec iov[2] = {{buf, 8}, {buf + 8, 40}};

    /* delivered at once: the size, and no callback */
    assert_int_equal(tl_send_async(&a->nc, 40, 1), 40);
    assert_int_equal(tl_log.sent, 0);

    b->mode = TL_REFUSE;
    assert_int_equal(tl_send_async(&a->nc, 41, 2), 0);
    tl_fill(buf, sizeof(buf), 3);
    assert_int_equal(netbe_sendv_packet_async(&a->nc, iov, 2, tl_sent_cb), 0);
    assert_int_equal(tl_log.sent, 0);

    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(tl_log.sent, 2);
    assert_ptr_equal(tl_log.sent_sender[0], &a->nc);
    assert_int_equal(tl_log.sent_ret[0], 41);
    assert_ptr_equal(tl_log.sent_sender[1], &a->nc);
    assert_int_equal(tl_log.sent_ret[1], 48);
    tl_assert_frame(b, 1, 41, 2);
    tl_assert_frame(b, 2, 48, 3);
}

static void test_purge_queued(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    tl_send_async(&a->nc, 60, 1);
    tl_send_async(&a->nc, 61, 2);
    tl_send(&a->nc, 62, 3);
    assert_int_equal(b->nc.incoming_queue->count, 3);

    netbe_purge_queued(&a->nc);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(tl_log.sent, 2);
    assert_int_equal(tl_log.sent_ret[0], 0);
    assert_int_equal(tl_log.sent_ret[1], 0);
    assert_ptr_equal(tl_log.sent_sender[0], &a->nc);

    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, 0);

    /* no peer: nothing to do */
    {
        struct tl_client *c = tl_backend(ctx, "c", NULL);

        netbe_purge_queued(&c->nc);
    }
}

static void test_flush_or_purge(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    tl_send_async(&a->nc, 60, 1);
    tl_send_async(&a->nc, 61, 2);
    tl_send_async(&a->nc, 62, 3);
    b->mode = TL_ACCEPT;
    b->budget = 1;
    netbe_flush_or_purge_queued(&b->nc, true);
    assert_int_equal(b->nframes, 1);
    tl_assert_frame(b, 0, 60, 1);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(tl_log.sent, 3);
    assert_int_equal(tl_log.sent_ret[0], 60);
    assert_int_equal(tl_log.sent_ret[1], 0);
    assert_int_equal(tl_log.sent_ret[2], 0);

    /* purge=false keeps them */
    b->mode = TL_REFUSE;
    b->budget = -1;
    b->nc.receive_disabled = false;
    tl_send_async(&a->nc, 63, 4);
    netbe_flush_or_purge_queued(&b->nc, false);
    assert_int_equal(b->nc.incoming_queue->count, 1);
    assert_int_equal(tl_log.sent, 3);
}

/* ---- deletion ---- */

static void test_del_sender_with_frames_at_peer(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    tl_send(&a->nc, 60, 1);
    tl_send(&a->nc, 61, 2);
    tl_send_async(&a->nc, 62, 3);
    assert_int_equal(b->nc.incoming_queue->count, 3);

    netbe_client_del(&a->nc);
    assert_int_equal(tl_log.cleanups, 1);
    assert_string_equal(tl_log.cleaned[0], "a");
    assert_null(b->nc.peer);
    /* the frames named a dead sender: gone, counted, no callback */
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(b->nc.stats.drop_no_peer, 3);
    assert_int_equal(tl_log.sent, 0);

    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(tl_count_clients(ctx), 1);
}

static void test_del_receiver_purges_with_callbacks(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    tl_send_async(&a->nc, 60, 1);
    tl_send(&a->nc, 61, 2);
    tl_send_async(&a->nc, 62, 3);

    netbe_client_del(&b->nc);
    assert_int_equal(tl_log.sent, 2);
    assert_ptr_equal(tl_log.sent_sender[0], &a->nc);
    assert_int_equal(tl_log.sent_ret[0], 0);
    assert_int_equal(tl_log.sent_ret[1], 0);
    assert_null(a->nc.peer);
    assert_false(tl_in_list(ctx, &b->nc));
    assert_int_equal(tl_send(&a->nc, 10, 1), 10);
    assert_int_equal(a->nc.stats.drop_no_peer, 1);
}

static void test_del_filters_and_cleanup_order(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_backend(ctx, "a", NULL);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *c = tl_backend(ctx, "c", NULL);

    netbe_client_del(&b->nc);
    assert_int_equal(tl_count_clients(ctx), 2);
    assert_ptr_equal(netbe_client_first(ctx), &a->nc);
    assert_ptr_equal(netbe_client_next(&a->nc), &c->nc);
    assert_int_equal(tl_log.cleanups, 1);
}

/* the backend of a NIC: cleaned up, kept until the NIC goes */
static void test_del_backend_of_nic(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf = {.peers = peers};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    struct tl_client *n = tl_nic_queue(nic, 0);

    assert_ptr_equal(n->nc.peer, &b->nc);
    assert_ptr_equal(b->nc.peer, &n->nc);
    b->mode = TL_REFUSE;
    tl_send(&n->nc, 60, 1); /* queued at b */

    netbe_client_del(&b->nc);
    assert_int_equal(tl_log.cleanups, 1);
    assert_string_equal(tl_log.cleaned[0], "b");
    assert_false(tl_in_list(ctx, &b->nc));
    assert_true(tl_in_list(ctx, &n->nc));
    assert_ptr_equal(n->nc.peer, &b->nc);
    assert_ptr_equal(netbe_get_peer(&n->nc, 0), &b->nc);
    assert_true(nic->peer_deleted);
    assert_true(n->nc.link_down);
    assert_int_equal(n->calls_link, 1);
    assert_null(netbe_find_netdev(ctx, "b"));

    /* the NIC's sends are dropped at its own link */
    assert_int_equal(tl_send(&n->nc, 60, 2), 60);
    assert_int_equal(n->nc.stats.drop_link_down, 1);

    /* a second delete of the same backend does nothing */
    netbe_client_del(&b->nc);
    assert_int_equal(tl_log.cleanups, 1);
    assert_int_equal(n->calls_link, 1);

    /* deleting the NIC frees both (ASan checks the rest) */
    netbe_nic_del(nic);
    assert_int_equal(tl_log.cleanups, 2);
    assert_string_equal(tl_log.cleaned[1], "n");
    assert_int_equal(tl_count_clients(ctx), 0);
}

static void test_nic_del_purges_its_frames_at_backend(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf = {.peers = peers};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    struct tl_client *n = tl_nic_queue(nic, 0);

    /* frames of the backend waiting at the NIC, with callbacks */
    n->mode = TL_REFUSE;
    assert_int_equal(tl_send_async(&b->nc, 60, 1), 0);
    assert_int_equal(tl_send_async(&b->nc, 61, 1), 0);
    /* and the NIC's own frames waiting at the backend */
    b->mode = TL_REFUSE;
    assert_int_equal(tl_send(&n->nc, 62, 1), 0);
    assert_int_equal(tl_send_async(&n->nc, 63, 1), 0);
    tl_log.sent = 0;

    netbe_nic_del(nic);
    /* QEMU completes the backend's pending frames with 0 */
    assert_int_equal(tl_log.sent, 2);
    assert_ptr_equal(tl_log.sent_sender[0], &b->nc);
    assert_int_equal(tl_log.sent_ret[0], 0);
    assert_int_equal(tl_log.sent_ret[1], 0);
    /* the NIC's frames named a dead sender: forgotten, counted */
    assert_int_equal(b->nc.incoming_queue->count, 0);
    assert_int_equal(b->nc.stats.drop_no_peer, 2);
    assert_null(b->nc.peer);
    assert_true(tl_in_list(ctx, &b->nc));
    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, 0);
}

static void test_nic_multiqueue(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b[3];
    struct netbe_client *peers[3];
    struct netbe_nic_conf conf = {.peers = peers, .queues = 3};
    struct netbe_nic *nic;
    int opaque;

    for (int i = 0; i < 3; i++) {
        b[i] = tl_backend(ctx, "mq", NULL);
        peers[i] = &b[i]->nc;
    }
    nic = tl_nic(ctx, &conf, "virtio-net-pci", "n", &opaque);
    assert_ptr_equal(netbe_nic_get_queue(nic), netbe_nic_get_subqueue(nic, 0));
    for (int i = 0; i < 3; i++) {
        struct netbe_client *q = netbe_nic_get_subqueue(nic, i);

        assert_int_equal(q->queue_index, i);
        assert_string_equal(q->name, "n");
        assert_ptr_equal(q->info, &tl_info_nic);
        assert_ptr_equal(netbe_get_nic(q), nic);
        assert_ptr_equal(netbe_get_nic_opaque(q), &opaque);
        assert_ptr_equal(q->peer, &b[i]->nc);
        assert_ptr_equal(b[i]->nc.peer, q);
        /* any queue finds any queue's peer */
        for (int j = 0; j < 3; j++) {
            assert_ptr_equal(netbe_get_peer(q, j), &b[j]->nc);
        }
    }
    /* queues are distinct clients with their own traffic */
    tl_send(&b[2]->nc, 60, 1);
    assert_int_equal(tl_nic_queue(nic, 2)->nframes, 1);
    assert_int_equal(tl_nic_queue(nic, 0)->nframes, 0);
    assert_int_equal(tl_nic_queue(nic, 1)->nframes, 0);

    /* not a NIC: no NIC, its own peer */
    assert_null(netbe_get_nic(&b[0]->nc));
    assert_null(netbe_get_nic_opaque(&b[0]->nc));
    assert_ptr_equal(netbe_get_peer(&b[0]->nc, 0), netbe_nic_get_queue(nic));
}

static void test_multiqueue_backend_delete(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *q0 = tl_backend(ctx, "mq", NULL);
    struct tl_client *other = tl_backend(ctx, "other", NULL);
    struct tl_client *q1 = tl_backend(ctx, "mq", NULL);
    struct tl_client *q2 = tl_backend(ctx, "mq", NULL);

    (void)q0;
    (void)q2;
    netbe_client_del(&q1->nc);
    assert_int_equal(tl_log.cleanups, 3);
    assert_int_equal(tl_count_clients(ctx), 1);
    assert_ptr_equal(netbe_client_first(ctx), &other->nc);
}

static void test_multiqueue_backend_of_nic_delete(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b[3];
    struct netbe_client *peers[3];
    struct netbe_nic_conf conf = {.peers = peers, .queues = 3};
    struct netbe_nic *nic;
    int changed = 0;

    for (int i = 0; i < 3; i++) {
        b[i] = tl_backend(ctx, "mq", NULL);
        peers[i] = &b[i]->nc;
    }
    nic = tl_nic(ctx, &conf, "virtio-net-pci", "n", NULL);
    netbe_client_del(&b[0]->nc);
    assert_int_equal(tl_log.cleanups, 3);
    for (int i = 0; i < 3; i++) {
        struct tl_client *q = tl_nic_queue(nic, i);

        assert_true(q->nc.link_down);
        assert_ptr_equal(q->nc.peer, &b[i]->nc);
        assert_false(tl_in_list(ctx, &b[i]->nc));
        changed += q->calls_link;
    }
    /* the NIC is told once, on the deleted client's peer */
    assert_int_equal(changed, 1);
    assert_int_equal(tl_nic_queue(nic, 0)->calls_link, 1);
    assert_int_equal(tl_count_clients(ctx), 3);
    netbe_nic_del(nic);
    assert_int_equal(tl_log.cleanups, 6);
    assert_int_equal(tl_count_clients(ctx), 0);
}

static void test_ctx_free_releases_everything(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf = {.peers = peers};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    struct netbe_nic_conf conf2 = {0};
    struct tl_client *c = tl_backend(ctx, "c", NULL);
    struct tl_client *d = tl_backend(ctx, "d", &c->nc);
    uint8_t big[3000] = {0};

    tl_nic(ctx, &conf2, "e1000", "lonely", NULL);
    netbe_hub_add_port(ctx, 0, NULL, NULL);
    b->mode = TL_REFUSE;
    c->mode = TL_REFUSE;
    tl_send(netbe_nic_get_queue(nic), 60, 1);
    tl_send(&d->nc, 60, 1);
    netbe_send_packet(&d->nc, big, sizeof(big));
    tl_send_async(&d->nc, 60, 1);
    netbe_ctx_free(ctx);
    /* every client was cleaned up: b, n, lonely, c, d, hub0port0 (whose
     * cleanup is the hub's own) */
    assert_int_equal(tl_log.cleanups, 5);
    assert_int_equal(tl_log.sent, 1);
    assert_int_equal(tl_log.sent_ret[0], 0);
}

/* ---- link state ---- */

static void test_set_link_nic_peer_follows(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf = {.peers = peers};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    struct tl_client *n = tl_nic_queue(nic, 0);
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_set_link(ctx, "b", false, &err), 0);
    assert_null(err);
    assert_true(b->nc.link_down);
    assert_true(n->nc.link_down);
    assert_int_equal(b->calls_link, 1);
    assert_int_equal(n->calls_link, 1);

    assert_int_equal(netbe_set_link(ctx, "b", true, &err), 0);
    assert_false(b->nc.link_down);
    assert_false(n->nc.link_down);
    assert_int_equal(b->calls_link, 2);
    assert_int_equal(n->calls_link, 2);

    /* by the NIC's name: its backend peer keeps its link, but hears */
    assert_int_equal(netbe_set_link(ctx, "n", false, &err), 0);
    assert_true(n->nc.link_down);
    assert_false(b->nc.link_down);
    assert_int_equal(n->calls_link, 3);
    assert_int_equal(b->calls_link, 3);
    assert_int_equal(tl_send(&n->nc, 60, 1), 60);
    assert_int_equal(n->nc.stats.drop_link_down, 1);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(tl_send(&b->nc, 60, 1), 60);
    assert_int_equal(n->nc.stats.drop_link_down, 2);
    assert_int_equal(n->nframes, 0);
}

static void test_set_link_multiqueue(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b[2];
    struct netbe_client *peers[2];
    struct netbe_nic_conf conf = {.peers = peers, .queues = 2};
    struct netbe_nic *nic;

    for (int i = 0; i < 2; i++) {
        b[i] = tl_backend(ctx, "mq", NULL);
        peers[i] = &b[i]->nc;
    }
    nic = tl_nic(ctx, &conf, "virtio-net-pci", "n", NULL);
    assert_int_equal(netbe_set_link(ctx, "mq", false, NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(b[i]->nc.link_down);
        assert_true(tl_nic_queue(nic, i)->nc.link_down);
    }
    /* told once each side, on the first queue */
    assert_int_equal(b[0]->calls_link, 1);
    assert_int_equal(b[1]->calls_link, 0);
    assert_int_equal(tl_nic_queue(nic, 0)->calls_link, 1);
}

static void test_set_link_backend_peer_does_not_follow(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    assert_int_equal(netbe_set_link(ctx, "a", false, NULL), 0);
    assert_true(a->nc.link_down);
    assert_false(b->nc.link_down);
    assert_int_equal(a->calls_link, 1);
    assert_int_equal(b->calls_link, 1);
}

static void test_set_link_not_found(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_error *err = NULL;

    tl_backend(ctx, "b", NULL);
    assert_int_equal(netbe_set_link(ctx, "x", false, &err), -1);
    tl_assert_error(err, NETBE_ERROR_DEVICE_NOT_FOUND, "Device 'x' not found");
    assert_int_equal(netbe_set_link(ctx, "x", true, NULL), -1);
}

/* ---- netdev_del ---- */

static void test_netdev_del(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf conf = {0};
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *nd = tl_backend(ctx, "nd", NULL);
    struct netbe_error *err = NULL;

    tl_nic(ctx, &conf, "e1000", "n", NULL);
    nd->nc.is_netdev = true;

    assert_int_equal(netbe_netdev_del(ctx, "x", &err), -1);
    tl_assert_error(err, NETBE_ERROR_DEVICE_NOT_FOUND, "Device 'x' not found");
    err = NULL;
    /* a NIC is not found by netdev_del at all */
    assert_int_equal(netbe_netdev_del(ctx, "n", &err), -1);
    tl_assert_error(err, NETBE_ERROR_DEVICE_NOT_FOUND, "Device 'n' not found");
    err = NULL;
    assert_int_equal(netbe_netdev_del(ctx, "b", &err), -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC, "Device 'b' is not a netdev");
    err = NULL;
    assert_true(tl_in_list(ctx, &b->nc));

    assert_int_equal(netbe_netdev_del(ctx, "nd", &err), 0);
    assert_null(err);
    assert_int_equal(tl_log.cleanups, 1);
    assert_null(netbe_find_netdev(ctx, "nd"));
    assert_int_equal(netbe_netdev_del(ctx, "nd", &err), -1);
    tl_assert_error(err, NETBE_ERROR_DEVICE_NOT_FOUND, "Device 'nd' not found");
}

/* ---- info network, warnings ---- */

static void test_print_client(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    char *text;

    snprintf(b->nc.info_str, sizeof(b->nc.info_str), "connected to x");
    text = tl_print_client(&b->nc);
    assert_string_equal(text, "b: index=0,type=stream,connected to x\n");
    free(text);
}

static void test_info_network(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *lone = tl_backend(ctx, "lone", NULL);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf = {.peers = peers,
                                  .macaddr = {0x52, 0x54, 0, 0x12, 0x34, 0x56}};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    struct netbe_nic_conf conf2 = {.macaddr = {2, 0, 0, 0, 0, 1}};
    struct netbe_nic *nic2 = tl_nic(ctx, &conf2, "rtl8139", "m", NULL);
    struct tl_client *x = tl_backend(ctx, "x", NULL);
    struct tl_client *y = tl_new(ctx, &tl_info_none, &x->nc, "none", "y");
    char *text;

    snprintf(lone->nc.info_str, sizeof(lone->nc.info_str), "lonely");
    snprintf(b->nc.info_str, sizeof(b->nc.info_str), "fd=3");
    netbe_format_nic_info_str(netbe_nic_get_queue(nic), conf.macaddr);
    netbe_format_nic_info_str(netbe_nic_get_queue(nic2), conf2.macaddr);
    (void)y;
    text = tl_info_network(ctx);
    /* b is printed with its NIC; x and y, two peered netdevs, not at all
     * (QEMU prints a netdev only alone or behind its NIC) */
    assert_string_equal(text, "lone: index=0,type=stream,lonely\n"
                              "n: index=0,type=nic,model=e1000,"
                              "macaddr=52:54:00:12:34:56\n"
                              " \\ b: index=0,type=stream,fd=3\n"
                              "m: index=0,type=nic,model=rtl8139,"
                              "macaddr=02:00:00:00:00:01\n");
    free(text);
}

static void test_info_network_multiqueue(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b[2];
    struct netbe_client *peers[2];
    struct netbe_nic_conf conf = {.peers = peers, .queues = 2};
    char *text;

    for (int i = 0; i < 2; i++) {
        b[i] = tl_backend(ctx, "mq", NULL);
        peers[i] = &b[i]->nc;
        snprintf(b[i]->nc.info_str, sizeof(b[i]->nc.info_str), "q%d", i);
    }
    tl_nic(ctx, &conf, "virtio-net-pci", "n", NULL);
    text = tl_info_network(ctx);
    assert_string_equal(text, "n: index=0,type=nic,\n"
                              " \\ mq: index=0,type=stream,q0\n"
                              "n: index=1,type=nic,\n"
                              " \\ mq: index=0,type=stream,q1\n");
    free(text);
}

static void test_check_clients(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf conf = {0};
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf2 = {.peers = peers};

    tl_nic(ctx, &conf, "e1000", "lonenic", NULL);
    tl_backend(ctx, "lonedev", NULL);
    tl_nic(ctx, &conf2, "e1000", "ok", NULL);
    tl_capture_start();
    netbe_check_clients(ctx);
    tl_capture_stop();
    assert_string_equal(tl_msgs.text, "W:nic lonenic has no peer\n"
                                      "W:netdev lonedev has no peer\n");
}

/* ---- batches ---- */

static void test_flush_hook_outside_batch(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    tl_send(&a->nc, 60, 1);
    assert_int_equal(b->calls_flush, 1);
    tl_send(&a->nc, 60, 2);
    tl_send(&a->nc, 60, 3);
    assert_int_equal(b->calls_flush, 3);
    assert_int_equal(a->calls_flush, 0);
    /* refused frames are not flushed */
    b->mode = TL_REFUSE;
    tl_send(&a->nc, 60, 4);
    assert_int_equal(b->calls_flush, 3);
}

static void test_flush_hook_once_per_batch(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    struct tl_client *d = tl_backend(ctx, "d", NULL);
    struct tl_client *c = tl_backend(ctx, "c", &d->nc);

    netbe_batch_begin(ctx);
    for (int i = 0; i < 5; i++) {
        tl_send(&a->nc, 60, (uint8_t)i);
    }
    tl_send(&c->nc, 60, 1);
    tl_send(&c->nc, 60, 2);
    assert_int_equal(b->nframes, 5);
    assert_int_equal(d->nframes, 2);
    assert_int_equal(tl_log.flushes, 0);
    netbe_batch_end(ctx);
    assert_int_equal(b->calls_flush, 1);
    assert_int_equal(d->calls_flush, 1);
    assert_int_equal(tl_log.flushes, 2);

    /* a new batch flushes again */
    netbe_batch_begin(ctx);
    tl_send(&a->nc, 60, 1);
    netbe_batch_end(ctx);
    assert_int_equal(b->calls_flush, 2);
    /* an empty batch flushes nobody */
    netbe_batch_begin(ctx);
    netbe_batch_end(ctx);
    assert_int_equal(tl_log.flushes, 3);
}

static void test_nested_batches(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    netbe_batch_begin(ctx);
    tl_send(&a->nc, 60, 1);
    netbe_batch_begin(ctx);
    tl_send(&a->nc, 60, 2);
    netbe_batch_end(ctx);
    assert_int_equal(b->calls_flush, 0);
    tl_send(&a->nc, 60, 3);
    netbe_batch_end(ctx);
    assert_int_equal(b->calls_flush, 1);
    assert_int_equal(b->nframes, 3);
}

static void test_queue_flush_is_one_batch(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    b->mode = TL_REFUSE;
    for (int i = 0; i < 4; i++) {
        tl_send(&a->nc, 60, (uint8_t)i);
    }
    b->mode = TL_ACCEPT;
    netbe_flush_queued(&b->nc);
    assert_int_equal(b->nframes, 4);
    assert_int_equal(b->calls_flush, 1);
}

/* A flush hook that sends: its receiver is flushed in the same end. */
static struct netbe_client *forward_to;
static void forwarding_flush(struct netbe_client *nc)
{
    tl_flush(nc);
    if (forward_to) {
        struct netbe_client *to = forward_to;

        forward_to = NULL;
        tl_send(to, 60, 9);
    }
}

static const struct netbe_client_info fwd_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .flush = forwarding_flush,
    .cleanup = tl_cleanup,
};

static void test_flush_that_sends(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_new(ctx, &fwd_info, NULL, "s", "b");
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    forward_to = &b->nc;
    netbe_batch_begin(ctx);
    tl_send(&a->nc, 60, 1);
    netbe_batch_end(ctx);
    /* b flushed, sent to a; a's flush ran too (outside any batch) */
    assert_int_equal(a->nframes, 1);
    assert_int_equal(b->calls_flush, 1);
    assert_int_equal(a->calls_flush, 1);
    assert_int_equal(ctx->batch_depth, 0);
}

static void test_deleted_while_flush_pending(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    struct tl_client *d = tl_backend(ctx, "d", NULL);
    struct tl_client *c = tl_backend(ctx, "c", &d->nc);
    struct tl_client *f = tl_backend(ctx, "f", NULL);
    struct tl_client *e = tl_backend(ctx, "e", &f->nc);

    netbe_batch_begin(ctx);
    tl_send(&a->nc, 60, 1);
    tl_send(&c->nc, 60, 1);
    tl_send(&e->nc, 60, 1);
    netbe_client_del(&d->nc); /* the middle one of the pending list */
    netbe_batch_end(ctx);
    assert_int_equal(tl_log.flushes, 2);
    assert_int_equal(b->calls_flush, 1);
    assert_int_equal(f->calls_flush, 1);
    for (int i = 0; i < 2; i++) {
        assert_string_not_equal(tl_log.flushed[i], "d");
    }
}

/* A flush hook that deletes another client (hook_opaque) that may still
 * be waiting for its own flush. */
static void deleting_flush(struct netbe_client *nc)
{
    struct tl_client *self = tl_of(nc);
    struct tl_client *victim = self->hook_opaque;

    tl_flush(nc);
    if (victim) {
        self->hook_opaque = NULL;
        victim->hook_opaque = NULL;
        netbe_client_del(&victim->nc);
    }
}

static const struct netbe_client_info del_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .flush = deleting_flush,
    .cleanup = tl_cleanup,
};

static void test_deleted_by_another_flush(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *d = tl_new(ctx, &del_info, NULL, "s", "d");
    struct tl_client *c = tl_backend(ctx, "c", &d->nc);
    struct tl_client *b = tl_new(ctx, &del_info, NULL, "s", "b");
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);

    /* whichever of b and d is flushed first deletes the other, which
     * then must not be flushed */
    b->hook_opaque = d;
    d->hook_opaque = b;
    netbe_batch_begin(ctx);
    tl_send(&c->nc, 60, 1);
    tl_send(&a->nc, 60, 1);
    netbe_batch_end(ctx);
    assert_int_equal(tl_log.flushes, 1);
    assert_int_equal(tl_log.cleanups, 1);
    assert_string_not_equal(tl_log.flushed[0], tl_log.cleaned[0]);
    assert_int_equal(tl_count_clients(ctx), 3);
}

static void test_del_backend_of_nic_then_ctx_free(void **state)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct netbe_client *peers[1] = {&b->nc};
    struct netbe_nic_conf conf = {.peers = peers};

    tl_nic(ctx, &conf, "e1000", "n", NULL);
    b->mode = TL_REFUSE;
    tl_send_async(&b->nc, 60, 1);
    netbe_client_del(&b->nc);
    /* the context frees the NIC, and with it the waiting backend */
    netbe_ctx_free(ctx);
    assert_int_equal(tl_log.cleanups, 2);
}

/* ---- deletion while frames, callbacks and NIC peers are in flight ---- */

/*
 * A deleted client's queue is purged with callbacks (0).  A sender whose
 * callback sends again at once (virtio-net's tx-complete does) must find
 * no peer: the frame is counted in drop_no_peer and the dying client is
 * never offered a frame after cleanup().
 */
static void resend_cb(struct netbe_client *sender, ssize_t ret)
{
    tl_sent_cb(sender, ret);
    tl_send(sender, 60, 9);
}

static void test_sent_cb_resend_during_delete(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_new(ctx, &tl_info_canrx, NULL, "tap", "b");
    struct tl_client *a = tl_backend(ctx, "a", &b->nc);
    uint8_t buf[60] = {0};

    b->can_rx = false;
    assert_int_equal(
        netbe_send_packet_async(&a->nc, buf, sizeof(buf), resend_cb), 0);
    assert_int_equal(b->nc.incoming_queue->count, 1);
    b->can_rx = true; /* would take frames again, but is being deleted */
    netbe_client_del(&b->nc);
    assert_int_equal(tl_log.sent, 1);
    assert_int_equal(tl_log.sent_ret[0], 0);
    assert_int_equal(tl_log.rx_after_cleanup, 0);
    assert_null(a->nc.peer);
    assert_int_equal(a->nc.stats.tx_frames, 1);
    assert_int_equal(a->nc.stats.drop_no_peer, 1);
}

/* Run @fn in a child so that a hang or a crash fails one test only. */
static void run_in_child(int (*fn)(void))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(5);
        _exit(fn());
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        fail_msg("child died of signal %d (%s)", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? "hung" : "crashed");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Two NIC queues peered with two differently named backends. */
static struct netbe_nic *mixed_nic(struct netbe_ctx *ctx, struct tl_client **b0,
                                   struct tl_client **b1)
{
    struct netbe_client *peers[2];
    struct netbe_nic_conf conf = {.peers = peers, .queues = 2};

    *b0 = tl_backend(ctx, "b0", NULL);
    *b1 = tl_backend(ctx, "b1", NULL);
    peers[0] = &(*b0)->nc;
    peers[1] = &(*b1)->nc;
    return tl_nic(ctx, &conf, "e1000", "n", NULL);
}

/*
 * A NIC whose queues are peered with backends of different names: each
 * backend deleted is kept for the NIC on its own, so netbe_ctx_free()
 * deletes them all and returns (it once looped for ever).
 */
static int mixed_ctx_free(void)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct tl_client *b0, *b1;

    mixed_nic(ctx, &b0, &b1);
    netbe_ctx_free(ctx);
    return 0;
}

static void test_nic_mixed_peers_ctx_free(void **state)
{
    run_in_child(mixed_ctx_free);
}

/*
 * The same graph: after netbe_client_del(b0), netbe_nic_del() frees b0,
 * which waited for it, and only unpeers b1, which stays listed and valid
 * (it once freed b1 too: a use-after-free).
 */
static int mixed_del(void)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct tl_client *b0, *b1;
    struct netbe_nic *nic = mixed_nic(ctx, &b0, &b1);
    int n = 0;

    netbe_client_del(&b0->nc);
    netbe_nic_del(nic);
    for (struct netbe_client *c = netbe_client_first(ctx); c;
         c = netbe_client_next(c)) {
        n++;
    }
    netbe_ctx_free(ctx);
    return n <= 1 ? 0 : 2;
}

static void test_nic_mixed_peers_del(void **state)
{
    run_in_child(mixed_del);
}

/* ---- vnet header hooks ---- */

static int vnet_len_seen;
static bool using_seen;
static bool has_vnet(struct netbe_client *nc)
{
    return true;
}
static bool has_len(struct netbe_client *nc, int len)
{
    return len == 12;
}
static void set_len(struct netbe_client *nc, int len)
{
    vnet_len_seen = len;
}
static void using_hdr(struct netbe_client *nc, bool on)
{
    using_seen = on;
}

static const struct netbe_client_info vnet_info = {
    .type = NETBE_DRIVER_TAP,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .has_vnet_hdr = has_vnet,
    .has_vnet_hdr_len = has_len,
    .set_vnet_hdr_len = set_len,
    .using_vnet_hdr = using_hdr,
};

static void test_vnet_hooks(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *t = tl_new(ctx, &vnet_info, NULL, "tap", "t");
    struct tl_client *p = tl_backend(ctx, "p", NULL);

    assert_true(netbe_has_vnet_hdr(&t->nc));
    assert_false(netbe_has_vnet_hdr(&p->nc));
    assert_false(netbe_has_vnet_hdr(NULL));
    assert_true(netbe_has_vnet_hdr_len(&t->nc, 12));
    assert_false(netbe_has_vnet_hdr_len(&t->nc, 10));
    assert_false(netbe_has_vnet_hdr_len(&p->nc, 12));
    assert_false(netbe_has_ufo(&t->nc));
    netbe_set_vnet_hdr_len(&t->nc, 12);
    assert_int_equal(vnet_len_seen, 12);
    assert_int_equal(t->nc.vnet_hdr_len, 12);
    netbe_using_vnet_hdr(&t->nc, true);
    assert_true(using_seen);
    /* no hook: nothing happens */
    netbe_set_vnet_hdr_len(&p->nc, 12);
    netbe_using_vnet_hdr(&p->nc, true);
    netbe_set_offload(&p->nc, &(struct netbe_offloads){.csum = true});
    assert_int_equal(p->nc.vnet_hdr_len, 0);
    assert_false(p->nc.offloads.csum);
}

static int be_seen = -1;
static int set_be(struct netbe_client *nc, bool on)
{
    be_seen = on;
    return on && nc->name[0] == 'x' ? -EINVAL : 0;
}

static const struct netbe_client_info be_info = {
    .type = NETBE_DRIVER_TAP,
    .size = sizeof(struct tl_client),
    .receive = tl_receive,
    .set_vnet_be = set_be,
};

/* QEMU's set_vnet_le/be on a little-endian host, and NICs recording. */
static void test_vnet_endian_hooks(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *t = tl_new(ctx, &be_info, NULL, "tap", "t");
    struct tl_client *x = tl_new(ctx, &be_info, NULL, "tap", "x");
    struct tl_client *p = tl_backend(ctx, "p", NULL);
    struct netbe_nic_conf conf = {0};
    struct tl_client *n =
        tl_nic_queue(tl_nic(ctx, &conf, "virtio-net-pci", "n", NULL), 0);

    assert_false(t->nc.vnet_be);
    /* the host's own order: nothing to do, whoever is asked */
    assert_int_equal(netbe_set_vnet_le(&p->nc, true), 0);
    assert_int_equal(netbe_set_vnet_le(NULL, true), 0);
    assert_int_equal(netbe_set_vnet_be(&t->nc, true), 0);
    assert_int_equal(be_seen, 1);
    assert_true(t->nc.vnet_be);
    assert_int_equal(netbe_set_vnet_be(&t->nc, false), 0);
    assert_int_equal(be_seen, 0);
    assert_false(t->nc.vnet_be);
    /* a refusal changes nothing */
    assert_int_equal(netbe_set_vnet_be(&x->nc, true), -EINVAL);
    assert_false(x->nc.vnet_be);
    /* no switch: -ENOSYS, as QEMU's */
    assert_int_equal(netbe_set_vnet_be(&p->nc, true), -ENOSYS);
    assert_int_equal(netbe_set_vnet_be(NULL, true), -ENOSYS);
    assert_false(p->nc.vnet_be);
    /* a NIC records what it uses itself, without hooks */
    assert_int_equal(netbe_set_vnet_be(&n->nc, true), 0);
    assert_true(n->nc.vnet_be);
    netbe_set_vnet_hdr_len(&n->nc, 10);
    assert_int_equal(n->nc.vnet_hdr_len, 10);
    netbe_set_offload(&n->nc, &(struct netbe_offloads){.tso4 = true});
    assert_true(n->nc.offloads.tso4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_driver_names),
        T(test_name_auto_assignment),
        T(test_name_after_deletion),
        T(test_peering_one_to_one),
        T(test_client_list_order),
        T(test_find_netdev_skips_nics),
        T(test_find_clients_except),
        T(test_receive_disabled_and_flush),
        T(test_flush_stops_at_refusal),
        T(test_can_receive),
        T(test_can_send),
        T(test_link_down_sender),
        T(test_link_down_receiver),
        T(test_no_peer),
        T(test_oversize),
        T(test_raw_uses_receive_raw),
        T(test_raw_to_receive_iov_only),
        T(test_raw_falls_back_to_receive),
        T(test_raw_skips_receive_iov),
        T(test_raw_flag_through_queue),
        T(test_receive_iov_preferred),
        T(test_multi_iov_linearised),
        T(test_nested_linearise),
        T(test_counters),
        T(test_receive_from_nobody),
        T(test_send_async_callback),
        T(test_purge_queued),
        T(test_flush_or_purge),
        T(test_del_sender_with_frames_at_peer),
        T(test_del_receiver_purges_with_callbacks),
        T(test_del_filters_and_cleanup_order),
        T(test_del_backend_of_nic),
        T(test_nic_del_purges_its_frames_at_backend),
        T(test_nic_multiqueue),
        T(test_multiqueue_backend_delete),
        T(test_multiqueue_backend_of_nic_delete),
        T(test_ctx_free_releases_everything),
        T(test_set_link_nic_peer_follows),
        T(test_set_link_multiqueue),
        T(test_set_link_backend_peer_does_not_follow),
        T(test_set_link_not_found),
        T(test_netdev_del),
        T(test_print_client),
        T(test_info_network),
        T(test_info_network_multiqueue),
        T(test_check_clients),
        T(test_flush_hook_outside_batch),
        T(test_flush_hook_once_per_batch),
        T(test_nested_batches),
        T(test_queue_flush_is_one_batch),
        T(test_flush_that_sends),
        T(test_deleted_while_flush_pending),
        T(test_deleted_by_another_flush),
        T(test_del_backend_of_nic_then_ctx_free),
        T(test_vnet_hooks),
        T(test_vnet_endian_hooks),
        T(test_sent_cb_resend_during_delete),
        T(test_nic_mixed_peers_ctx_free),
        T(test_nic_mixed_peers_del),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
