/*
 * test_hub.c - hubs (QEMU's net/hub.c): port names, broadcast to every
 * port but the source, can_receive, flushing through a hub, "info
 * network" order (newest first), the start-up warnings, port lookup and
 * deletion, and the "hubport" netdev type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "netbe/backend.h"
#include "netbe/opts.h"
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

/* A client of @info on a new port of hub @hub. */
static struct tl_client *on_hub(struct netbe_ctx *ctx, int hub,
                                const struct netbe_client_info *info,
                                const char *name)
{
    struct tl_client *c = tl_new(ctx, info, NULL, "t", name);
    struct netbe_client *port = netbe_hub_add_port(ctx, hub, NULL, &c->nc);

    assert_non_null(port);
    assert_ptr_equal(c->nc.peer, port);
    return c;
}

static void test_port_names(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_client *p0 = netbe_hub_add_port(ctx, 0, NULL, NULL);
    struct netbe_client *p1 = netbe_hub_add_port(ctx, 0, NULL, NULL);
    struct netbe_client *q0 = netbe_hub_add_port(ctx, 3, NULL, NULL);
    struct netbe_client *named = netbe_hub_add_port(ctx, 0, "mine", NULL);
    struct netbe_client *p3 = netbe_hub_add_port(ctx, 0, NULL, NULL);

    assert_string_equal(p0->name, "hub0port0");
    assert_string_equal(p1->name, "hub0port1");
    assert_string_equal(q0->name, "hub3port0");
    assert_string_equal(named->name, "mine");
    /* a named port still takes a number */
    assert_string_equal(p3->name, "hub0port3");
    assert_string_equal(p0->model, "hub");
    assert_int_equal(p0->info->type, NETBE_DRIVER_HUBPORT);
    assert_null(p0->peer);
    assert_ptr_equal(netbe_find_netdev(ctx, "hub0port1"), p1);
}

static void test_broadcast(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *b = on_hub(ctx, 0, &tl_info_backend, "b");
    struct tl_client *c = on_hub(ctx, 0, &tl_info_iov, "c");
    struct tl_client *other = on_hub(ctx, 1, &tl_info_backend, "other");
    uint8_t buf[80];
    struct iovec iov[2] = {{buf, 30}, {buf + 30, 50}};

    assert_int_equal(tl_send(&a->nc, 100, 1), 100);
    assert_int_equal(a->nframes, 0);
    assert_int_equal(b->nframes, 1);
    assert_int_equal(c->nframes, 1);
    assert_int_equal(other->nframes, 0);
    tl_assert_frame(b, 0, 100, 1);
    tl_assert_frame(c, 0, 100, 1);

    /* the frame goes through without being linearised */
    tl_fill(buf, sizeof(buf), 2);
    assert_int_equal(netbe_sendv_packet(&a->nc, iov, 2), 80);
    assert_int_equal(c->frames[1].iovcnt, 2);
    tl_assert_frame(c, 1, 80, 2);
    tl_assert_frame(b, 1, 80, 2);

    assert_int_equal(tl_send(&c->nc, 60, 3), 60);
    assert_int_equal(a->nframes, 1);
    assert_int_equal(b->nframes, 3);
    assert_int_equal(c->nframes, 2);

    /* every port counts what it passed on */
    assert_int_equal(b->nc.peer->stats.tx_frames, 3);
    assert_int_equal(a->nc.peer->stats.rx_frames, 2);
}

static void test_broadcast_one_refuses(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *b = on_hub(ctx, 0, &tl_info_backend, "b");
    struct tl_client *c = on_hub(ctx, 0, &tl_info_backend, "c");

    /* the hub took it: one port's receiver refusing does not stop the
     * others, and the frame waits at that receiver */
    c->mode = TL_REFUSE;
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_int_equal(b->nframes, 1);
    assert_int_equal(c->nframes, 0);
    assert_int_equal(c->nc.incoming_queue->count, 1);
    c->mode = TL_ACCEPT;
    netbe_flush_queued(&c->nc);
    assert_int_equal(c->nframes, 1);
    tl_assert_frame(c, 0, 60, 1);
}

static void test_can_receive(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *b = on_hub(ctx, 0, &tl_info_canrx, "b");
    struct tl_client *c = on_hub(ctx, 0, &tl_info_canrx, "c");
    struct netbe_client *pa = a->nc.peer;

    assert_true(netbe_can_receive(pa));
    assert_true(netbe_can_send(&a->nc));
    b->can_rx = false;
    assert_true(netbe_can_receive(pa));
    c->can_rx = false;
    /* no other port can pass it on */
    assert_false(netbe_can_receive(pa));
    assert_false(netbe_can_send(&a->nc));
    /* the source's own peer does not count: b cannot receive, but its
     * port can, because a can */
    assert_true(netbe_can_receive(b->nc.peer));
    a->nc.receive_disabled = true;
    c->can_rx = true;
    assert_true(netbe_can_receive(pa));
    assert_false(netbe_can_receive(c->nc.peer));
}

static void test_can_receive_alone(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct netbe_client *free_port;

    /* a hub with no other port has nobody to pass a frame to */
    assert_false(netbe_can_receive(a->nc.peer));
    /* a peerless port can always "send" (to nobody) */
    free_port = netbe_hub_add_port(ctx, 0, NULL, NULL);
    assert_true(netbe_can_receive(a->nc.peer));
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_int_equal(free_port->stats.drop_no_peer, 1);
}

static void test_flush_via_hub(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *r = on_hub(ctx, 0, &tl_info_backend, "r");
    struct netbe_client *pa = a->nc.peer, *pr = r->nc.peer;

    r->mode = TL_REFUSE;
    /* the hub takes the first frame; it waits at r (sent by r's port) */
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_true(r->nc.receive_disabled);
    assert_int_equal(r->nc.incoming_queue->count, 1);
    assert_ptr_equal(TAILQ_FIRST(&r->nc.incoming_queue->packets)->sender, pr);
    /* now the hub cannot pass frames on: they wait at a's port */
    assert_int_equal(tl_send(&a->nc, 61, 2), 0);
    assert_int_equal(tl_send(&a->nc, 62, 3), 0);
    assert_int_equal(pa->incoming_queue->count, 2);
    assert_int_equal(r->nc.incoming_queue->count, 1);

    r->mode = TL_ACCEPT;
    netbe_flush_queued(&r->nc);
    assert_int_equal(pa->incoming_queue->count, 0);
    assert_int_equal(r->nc.incoming_queue->count, 0);
    assert_int_equal(r->nframes, 3);
    /* QEMU flushes the hub's other ports first and so lets 61 overtake
     * 60; netbe delivers r's own older frame first: in order */
    tl_assert_frame(r, 0, 60, 1);
    tl_assert_frame(r, 1, 61, 2);
    tl_assert_frame(r, 2, 62, 3);
}

static void test_hub_flush(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *b = on_hub(ctx, 0, &tl_info_canrx, "b");
    struct tl_client *c = on_hub(ctx, 0, &tl_info_backend, "c");
    struct netbe_client *pa = a->nc.peer, *pb = b->nc.peer;

    b->can_rx = false;
    c->mode = TL_REFUSE;
    /* taken by the hub; waits at b (cannot) and at c (refused) */
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_int_equal(b->nc.incoming_queue->count, 1);
    assert_int_equal(c->nc.incoming_queue->count, 1);
    assert_true(c->nc.receive_disabled);
    /* now no other port can pass a's frames on: they wait at a's port */
    assert_int_equal(tl_send(&a->nc, 61, 2), 0);
    assert_int_equal(pa->incoming_queue->count, 1);

    b->can_rx = true;
    c->mode = TL_ACCEPT;
    /* flushes every other port's queue (a's), not the source's */
    assert_true(netbe_hub_flush(pb));
    assert_int_equal(pa->incoming_queue->count, 0);
    /* b takes its older frame first, then the one let through */
    assert_int_equal(b->nframes, 2);
    tl_assert_frame(b, 0, 60, 1);
    tl_assert_frame(b, 1, 61, 2);
    assert_int_equal(b->nc.incoming_queue->count, 0);
    /* c is still disabled: the frame joined its queue */
    assert_int_equal(c->nframes, 0);
    assert_int_equal(c->nc.incoming_queue->count, 2);
    netbe_flush_queued(&c->nc);
    assert_int_equal(c->nframes, 2);
    tl_assert_frame(c, 0, 60, 1);
    tl_assert_frame(c, 1, 61, 2);
    assert_int_equal(a->nframes, 0);
}

static void test_info_network(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *lone = tl_backend(ctx, "lone", NULL);
    struct netbe_nic_conf conf = {.macaddr = {0x52, 0x54, 0, 0x12, 0x34, 0x56}};
    struct netbe_nic *nic;
    struct tl_client *b = tl_backend(ctx, "user.0", NULL);
    struct netbe_client *p0, *p1, *q0;
    char *text;

    nic = tl_nic(ctx, &conf, "e1000", "e1000.0", NULL);
    netbe_format_nic_info_str(netbe_nic_get_queue(nic), conf.macaddr);
    snprintf(b->nc.info_str, sizeof(b->nc.info_str), "net=10.0.2.0");
    snprintf(lone->nc.info_str, sizeof(lone->nc.info_str), "x");
    p0 = netbe_hub_add_port(ctx, 0, NULL, netbe_nic_get_queue(nic));
    p1 = netbe_hub_add_port(ctx, 0, NULL, &b->nc);
    netbe_hub_add_port(ctx, 0, NULL, NULL);
    q0 = netbe_hub_add_port(ctx, 1, NULL, NULL);
    (void)p0;
    (void)p1;
    (void)q0;

    text = tl_info_network(ctx);
    assert_string_equal(text, "hub 1\n"
                              " \\ hub1port0\n"
                              "hub 0\n"
                              " \\ hub0port2\n"
                              " \\ hub0port1: user.0: index=0,type=stream,"
                              "net=10.0.2.0\n"
                              " \\ hub0port0: e1000.0: index=0,type=nic,"
                              "model=e1000,macaddr=52:54:00:12:34:56\n"
                              "lone: index=0,type=stream,x\n");
    free(text);

    text = NULL;
    {
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);

        netbe_hub_info(ctx, out);
        fclose(out);
    }
    assert_non_null(strstr(text, "hub 0\n"));
    assert_null(strstr(text, "lone"));
    free(text);
}

static void test_info_filters_of_hub_peer(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 2, &tl_info_backend, "a");
    char *text;

    snprintf(a->nc.info_str, sizeof(a->nc.info_str), "i");
    text = tl_info_network(ctx);
    assert_string_equal(text, "hub 2\n"
                              " \\ hub2port0: a: index=0,type=stream,i\n");
    free(text);
}

static void test_check_clients(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf c2 = {0}, c3 = {0};

    /* hub 0: a port without a peer, nothing else */
    netbe_hub_add_port(ctx, 0, NULL, NULL);
    /* hub 1: a host backend only */
    on_hub(ctx, 1, &tl_info_backend, "host1");
    /* hub 2: a NIC only */
    netbe_hub_add_port(
        ctx, 2, NULL,
        netbe_nic_get_queue(tl_nic(ctx, &c2, "e1000", "n2", NULL)));
    /* hub 3: both: fine */
    netbe_hub_add_port(
        ctx, 3, NULL,
        netbe_nic_get_queue(tl_nic(ctx, &c3, "e1000", "n3", NULL)));
    on_hub(ctx, 3, &tl_info_canrx, "host3");
    /* hub 4: a client that is neither */
    on_hub(ctx, 4, &tl_info_none, "none4");

    tl_capture_start();
    netbe_hub_check_clients(ctx);
    tl_capture_stop();
    /* hubs newest first */
    assert_string_equal(tl_msgs.text,
                        "W:hub 2 is not connected to host network\n"
                        "W:hub 1 with no nics\n"
                        "W:hub port hub0port0 has no peer\n");

    /* the whole check adds the peerless clients */
    tl_capture_start();
    netbe_check_clients(ctx);
    tl_capture_stop();
    assert_string_equal(tl_msgs.text,
                        "W:hub 2 is not connected to host network\n"
                        "W:hub 1 with no nics\n"
                        "W:hub port hub0port0 has no peer\n"
                        "W:netdev hub0port0 has no peer\n");
}

static void test_find_port(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = tl_backend(ctx, "a", NULL);
    struct netbe_client *p0 = netbe_hub_add_port(ctx, 0, NULL, &a->nc);
    struct netbe_client *p1 = netbe_hub_add_port(ctx, 0, NULL, NULL);
    struct netbe_client *p, *q;

    (void)p0;
    assert_ptr_equal(netbe_hub_find_port(ctx, 0), p1);
    assert_ptr_equal(netbe_hub_find_port(ctx, 0), p1);
    tl_backend(ctx, "b", p1);
    /* all taken: a new port */
    p = netbe_hub_find_port(ctx, 0);
    assert_non_null(p);
    assert_string_equal(p->name, "hub0port2");
    assert_null(p->peer);
    /* no such hub: created with it */
    q = netbe_hub_find_port(ctx, 5);
    assert_non_null(q);
    assert_string_equal(q->name, "hub5port0");
    {
        int id = -1;

        assert_int_equal(netbe_hub_id_for_client(q, &id), 0);
        assert_int_equal(id, 5);
    }
}

static void test_id_for_client(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 7, &tl_info_backend, "a");
    struct tl_client *b = tl_backend(ctx, "b", NULL);
    struct tl_client *c = tl_backend(ctx, "c", &b->nc);
    int id = -1;

    assert_int_equal(netbe_hub_id_for_client(a->nc.peer, &id), 0);
    assert_int_equal(id, 7);
    id = -1;
    assert_int_equal(netbe_hub_id_for_client(&a->nc, &id), 0);
    assert_int_equal(id, 7);
    assert_int_equal(netbe_hub_id_for_client(&a->nc, NULL), 0);
    id = 99;
    assert_int_equal(netbe_hub_id_for_client(&b->nc, &id), -1);
    assert_int_equal(netbe_hub_id_for_client(&c->nc, &id), -1);
    assert_int_equal(id, 99);
    {
        struct tl_client *d = tl_backend(ctx, "d", NULL);

        assert_int_equal(netbe_hub_id_for_client(&d->nc, NULL), -1);
    }
}

static void test_delete_port(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *b = on_hub(ctx, 0, &tl_info_backend, "b");
    struct tl_client *c = on_hub(ctx, 0, &tl_info_backend, "c");
    char *text;

    netbe_client_del(b->nc.peer);
    assert_null(b->nc.peer);
    assert_int_equal(tl_send(&a->nc, 60, 1), 60);
    assert_int_equal(b->nframes, 0);
    assert_int_equal(c->nframes, 1);
    text = tl_info_network(ctx);
    assert_string_equal(text, "hub 0\n"
                              " \\ hub0port2: c: index=0,type=stream,\n"
                              " \\ hub0port0: a: index=0,type=stream,\n"
                              "b: index=0,type=stream,\n");
    free(text);
    /* the next port still gets a new number */
    assert_string_equal(netbe_hub_add_port(ctx, 0, NULL, NULL)->name,
                        "hub0port3");
}

static void test_delete_port_of_nic(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf conf = {0};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    struct tl_client *n = tl_nic_queue(nic, 0);
    struct netbe_client *port = netbe_hub_add_port(ctx, 0, NULL, &n->nc);
    struct tl_client *b = on_hub(ctx, 0, &tl_info_backend, "b");
    char *text;

    netbe_client_del(port);
    /* cleaned up (out of the hub), kept for the NIC */
    assert_true(n->nc.link_down);
    assert_int_equal(n->calls_link, 1);
    assert_ptr_equal(n->nc.peer, port);
    /* b's port is alone in the hub now: nobody to pass frames to */
    assert_false(netbe_can_send(&b->nc));
    assert_int_equal(tl_send(&b->nc, 60, 1), 0);
    assert_int_equal(b->nc.peer->incoming_queue->count, 1);
    assert_int_equal(n->nframes, 0);
    text = tl_info_network(ctx);
    assert_string_equal(text, "hub 0\n"
                              " \\ hub0port1: b: index=0,type=stream,\n");
    free(text);
    netbe_nic_del(nic);
    text = tl_info_network(ctx);
    assert_string_equal(text, "hub 0\n"
                              " \\ hub0port1: b: index=0,type=stream,\n");
    free(text);
}

static void test_set_link_hub_peer(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *a = on_hub(ctx, 0, &tl_info_backend, "a");
    struct tl_client *b = on_hub(ctx, 0, &tl_info_backend, "b");
    struct tl_client *c = on_hub(ctx, 0, &tl_info_backend, "c");

    assert_int_equal(netbe_set_link(ctx, "a", false, NULL), 0);
    assert_true(a->nc.link_down);
    /* the port keeps its link: the others still talk through the hub */
    assert_false(a->nc.peer->link_down);
    assert_int_equal(a->calls_link, 1);
    assert_int_equal(tl_send(&b->nc, 60, 1), 60);
    assert_int_equal(c->nframes, 1);
    assert_int_equal(a->nframes, 0);
    assert_int_equal(a->nc.stats.drop_link_down, 1);

    /* a port by name: down, its peer (not a NIC) stays up but hears */
    assert_int_equal(netbe_set_link(ctx, "hub0port2", false, NULL), 0);
    assert_true(c->nc.peer->link_down);
    assert_false(c->nc.link_down);
    assert_int_equal(c->calls_link, 1);
    assert_int_equal(tl_send(&b->nc, 60, 2), 60);
    assert_int_equal(c->nframes, 1);
}

/* ---- learning hubs ---- */

#define MAC(x) ((const uint8_t[6]){0x02, 0, 0, 0, 0, (x)})
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* An Ethernet frame from @src to @dst; byte 14 is @tag. */
static ssize_t send_eth(struct tl_client *from, const uint8_t *dst,
                        const uint8_t *src, uint8_t tag)
{
    uint8_t f[60] = {0};

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08;
    f[14] = tag;
    return netbe_send_packet(&from->nc, f, sizeof(f));
}

/* the tag of the last frame @c took, or -1 when it took none */
static int last_tag(struct tl_client *c)
{
    return c->nframes ? tl_last(c)->data[14] : -1;
}

struct lfix {
    struct tl_client *a, *b, *c;
};

static void learning_hub(struct netbe_ctx *ctx, struct lfix *l)
{
    assert_int_equal(netbe_hub_set_learning(ctx, 0, true, NULL), 0);
    l->a = on_hub(ctx, 0, &tl_info_backend, "a");
    l->b = on_hub(ctx, 0, &tl_info_backend, "b");
    l->c = on_hub(ctx, 0, &tl_info_backend, "c");
}

static void test_learning_unicast(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;

    learning_hub(ctx, &l);
    /* unknown destination: flooded */
    assert_int_equal(send_eth(l.a, MAC(0xb), MAC(0xa), 1), 60);
    assert_int_equal(l.b->nframes, 1);
    assert_int_equal(l.c->nframes, 1);
    /* a was learned: the reply goes to a only */
    send_eth(l.b, MAC(0xa), MAC(0xb), 2);
    assert_int_equal(l.a->nframes, 1);
    assert_int_equal(last_tag(l.a), 2);
    assert_int_equal(l.c->nframes, 1);
    /* and b was learned too */
    send_eth(l.a, MAC(0xb), MAC(0xa), 3);
    assert_int_equal(l.b->nframes, 2);
    assert_int_equal(last_tag(l.b), 3);
    assert_int_equal(l.c->nframes, 1);
    /* a station that moves is learned at its new port */
    send_eth(l.c, MAC(0xc), MAC(0xa), 4);
    send_eth(l.b, MAC(0xa), MAC(0xb), 5);
    assert_int_equal(last_tag(l.c), 5);
    assert_int_equal(l.a->nframes, 2); /* only the flood of tag 4 */
}

static void test_learning_broadcast_floods(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};

    learning_hub(ctx, &l);
    send_eth(l.a, MAC(0xb), MAC(0xa), 1);
    send_eth(l.b, MAC(0xa), MAC(0xb), 2);
    send_eth(l.a, bcast, MAC(0xa), 3);
    assert_int_equal(last_tag(l.b), 3);
    assert_int_equal(last_tag(l.c), 3);
    send_eth(l.a, mcast, MAC(0xa), 4);
    assert_int_equal(last_tag(l.b), 4);
    assert_int_equal(last_tag(l.c), 4);
    /* a multicast source is never learned */
    send_eth(l.b, MAC(0xe), mcast, 5);
    assert_int_equal(last_tag(l.a), 5);
    assert_int_equal(last_tag(l.c), 5);
}

static void test_learning_same_port_dropped(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    struct netbe_client *pa;

    learning_hub(ctx, &l);
    pa = l.a->nc.peer;
    send_eth(l.a, bcast, MAC(0xa), 1);
    send_eth(l.a, bcast, MAC(0xd), 2); /* d sits behind a's port too */
    /* a frame for d from a's side stays there */
    assert_int_equal(send_eth(l.a, MAC(0xd), MAC(0xa), 3), 60);
    assert_int_equal(last_tag(l.b), 2);
    assert_int_equal(last_tag(l.c), 2);
    assert_int_equal(pa->stats.drop_filter, 1);
}

static void test_learning_short_frame(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    uint8_t runt[13] = {0};

    learning_hub(ctx, &l);
    assert_int_equal(netbe_send_packet(&l.a->nc, runt, sizeof(runt)), 13);
    assert_int_equal(l.b->nframes, 0);
    assert_int_equal(l.c->nframes, 0);
    assert_int_equal(l.a->nc.peer->stats.drop_malformed, 1);
}

static void test_learning_split_header(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    uint8_t f[60] = {0};
    struct iovec iov[3] = {{f, 3}, {f + 3, 5}, {f + 8, 52}};

    learning_hub(ctx, &l);
    send_eth(l.b, bcast, MAC(0xb), 1);
    memcpy(f, MAC(0xb), 6);
    memcpy(f + 6, MAC(0xa), 6);
    f[14] = 9;
    assert_int_equal(netbe_sendv_packet(&l.a->nc, iov, 3), 60);
    assert_int_equal(last_tag(l.b), 9);
    assert_int_equal(last_tag(l.c), 1); /* not flooded */
    /* and a was learned from the split header */
    send_eth(l.c, MAC(0xa), MAC(0xc), 10);
    assert_int_equal(last_tag(l.a), 10);
    assert_int_equal(l.b->nframes, 1);
}

static void test_learning_aging(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;

    learning_hub(ctx, &l);
    netbe_hub_set_aging(ctx, 0, 0); /* everything is stale at once */
    send_eth(l.a, MAC(0xb), MAC(0xa), 1);
    send_eth(l.b, MAC(0xa), MAC(0xb), 2);
    assert_int_equal(last_tag(l.c), 2); /* flooded: a aged out */
    /* aging is applied when looking up: the entries are good again */
    netbe_hub_set_aging(ctx, 0, NETBE_HUB_AGING_MS);
    send_eth(l.a, MAC(0xb), MAC(0xa), 3);
    send_eth(l.b, MAC(0xa), MAC(0xb), 4);
    assert_int_equal(last_tag(l.b), 3);
    assert_int_equal(last_tag(l.a), 4);
    assert_int_equal(last_tag(l.c), 2);
}

static void test_learning_port_deleted(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;

    learning_hub(ctx, &l);
    send_eth(l.a, bcast, MAC(0xa), 1);
    netbe_client_del(l.a->nc.peer);
    /* a's entry went with its port: flooded, no stale port used */
    send_eth(l.b, MAC(0xa), MAC(0xb), 2);
    assert_int_equal(last_tag(l.c), 2);
    assert_int_equal(l.a->nframes, 0);
}

static void test_learning_off_again(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;

    learning_hub(ctx, &l);
    send_eth(l.a, bcast, MAC(0xa), 1);
    assert_int_equal(netbe_hub_set_learning(ctx, 0, false, NULL), 0);
    send_eth(l.b, MAC(0xa), MAC(0xb), 2);
    assert_int_equal(last_tag(l.c), 2);
    assert_int_equal(last_tag(l.a), 2);
    /* a plain hub passes runts on */
    {
        uint8_t runt[5] = {0};

        netbe_send_packet(&l.a->nc, runt, sizeof(runt));
        assert_int_equal(l.b->nframes, 2);
        assert_int_equal(l.c->nframes, 3);
        assert_int_equal(l.a->nc.peer->stats.drop_malformed, 0);
    }
}

/* The "hub N: ..." line of netbe_hub_stats() for hub 0, parsed. */
struct fdb_stats {
    unsigned learned, max;
    unsigned long long evictions, not_learned;
};

static struct fdb_stats hub0_stats(struct netbe_ctx *ctx)
{
    struct fdb_stats st = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    const char *line;

    netbe_hub_stats(ctx, out);
    fclose(out);
    line = strstr(buf, "hub 0: ");
    assert_non_null(line);
    assert_int_equal(sscanf(line,
                            "hub 0: learned=%u/%u evictions=%llu "
                            "not_learned=%llu",
                            &st.learned, &st.max, &st.evictions,
                            &st.not_learned),
                     4);
    free(buf);
    return st;
}

static void src_mac(uint8_t mac[6], uint32_t i)
{
    mac[0] = 0x02; /* locally administered unicast */
    mac[1] = 0x66;
    mac[2] = (uint8_t)(i >> 24);
    mac[3] = (uint8_t)(i >> 16);
    mac[4] = (uint8_t)(i >> 8);
    mac[5] = (uint8_t)i;
}

/*
 * Issue 6, defect 3: a port inventing source MACs by the thousand neither
 * rebuilds the table nor pushes the others' stations out of it.
 */
static void test_learning_table_full(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    struct fdb_stats st;
    struct tl_client *d;
    uint8_t src[6];
    int tag_a;

    learning_hub(ctx, &l);
    send_eth(l.b, bcast, MAC(0xb), 1);
    send_eth(l.c, bcast, MAC(0xc), 2);
    for (uint32_t i = 0; i < 20000; i++) {
        src_mac(src, i);
        send_eth(l.a, bcast, src, 3);
    }
    st = hub0_stats(ctx);
    assert_int_equal(st.max, NETBE_HUB_FDB_MAX);
    assert_true(st.learned <= NETBE_HUB_FDB_MAX);
    assert_true(st.learned > NETBE_HUB_FDB_MAX / 2);
    /* a's sources replaced a's own older ones */
    assert_true(st.evictions > 0);

    /* b and c are still known: unicast between them stays unicast */
    tag_a = last_tag(l.a);
    send_eth(l.c, MAC(0xb), MAC(0xc), 4);
    assert_int_equal(last_tag(l.b), 4);
    assert_int_equal(last_tag(l.a), tag_a);
    send_eth(l.b, MAC(0xc), MAC(0xb), 5);
    assert_int_equal(last_tag(l.c), 5);
    assert_int_equal(last_tag(l.a), tag_a);

    /* a newcomer is learned although a filled the table */
    d = on_hub(ctx, 0, &tl_info_backend, "d");
    send_eth(d, bcast, MAC(0xd), 6);
    send_eth(l.b, MAC(0xd), MAC(0xb), 7);
    assert_int_equal(last_tag(d), 7);
    assert_int_equal(last_tag(l.c), 6);
    assert_int_equal(last_tag(l.a), 6);

    /* one of a's recent sources is known too */
    src_mac(src, 19999);
    send_eth(l.b, src, MAC(0xb), 8);
    assert_int_equal(last_tag(l.a), 8);
    assert_int_equal(last_tag(l.c), 6);
}

/* Once entries aged out, they make room without being evictions. */
static void test_learning_aging_makes_room(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    struct fdb_stats st;
    uint8_t src[6];
    struct timespec pause = {.tv_nsec = 80 * 1000 * 1000};

    learning_hub(ctx, &l);
    for (uint32_t i = 0; i < NETBE_HUB_FDB_MAX; i++) {
        src_mac(src, i);
        send_eth(l.a, bcast, src, 1);
    }
    netbe_hub_set_aging(ctx, 0, 50);
    nanosleep(&pause, NULL);
    st = hub0_stats(ctx);
    send_eth(l.b, bcast, MAC(0xb), 2);
    assert_int_equal(hub0_stats(ctx).evictions, st.evictions);
    send_eth(l.c, MAC(0xb), MAC(0xc), 3);
    assert_int_equal(last_tag(l.b), 3);
    assert_int_equal(last_tag(l.a), 2);
    /* an aged destination is flooded */
    src_mac(src, 5);
    send_eth(l.c, src, MAC(0xc), 4);
    assert_int_equal(last_tag(l.a), 4);
    assert_int_equal(last_tag(l.b), 4);
}

/* A port that leaves takes its entries with it. */
static void test_learning_port_leaves(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;
    struct tl_client *d = NULL;

    learning_hub(ctx, &l);
    send_eth(l.b, bcast, MAC(0xb), 1);
    assert_int_equal(hub0_stats(ctx).learned, 1);
    netbe_client_del(l.b->nc.peer);
    assert_int_equal(hub0_stats(ctx).learned, 0);
    /* MAC(0xb) moved behind a new port: learned there */
    d = on_hub(ctx, 0, &tl_info_backend, "d");
    send_eth(d, bcast, MAC(0xb), 2);
    send_eth(l.a, MAC(0xb), MAC(0xa), 3);
    assert_int_equal(last_tag(d), 3);
    assert_int_equal(last_tag(l.c), 2);
}

/* A station that moves to another port is followed there. */
static void test_learning_station_moves(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct lfix l;

    learning_hub(ctx, &l);
    send_eth(l.b, bcast, MAC(0xe), 1);
    send_eth(l.c, bcast, MAC(0xe), 2);
    send_eth(l.a, MAC(0xe), MAC(0xa), 3);
    assert_int_equal(last_tag(l.c), 3);
    assert_int_equal(last_tag(l.b), 2);
    assert_int_equal(hub0_stats(ctx).learned, 2);
}

static struct netbe_opts *hubport_opts(const char *hubid, const char *netdev)
{
    struct netbe_opts *opts = netbe_opts_new();

    netbe_opts_set(opts, "type", "hubport");
    netbe_opts_set(opts, "hubid", hubid);
    if (netdev) {
        netbe_opts_set(opts, "netdev", netdev);
    }
    return opts;
}

static void test_hubport_backend(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct tl_client *b = tl_backend(ctx, "b0", NULL);
    struct netbe_opts *opts;
    struct netbe_error *err = NULL;
    struct netbe_client *h;
    int id = -1;

    assert_string_equal(netbe_backend_hubport.name, "hubport");
    assert_int_equal(netbe_backend_hubport.driver, NETBE_DRIVER_HUBPORT);
    assert_true(netbe_backend_hubport.netdev_ok);
    assert_false(netbe_backend_hubport.net_ok);

    opts = hubport_opts("2", "b0");
    assert_int_equal(netbe_opts_check(opts, netbe_backend_hubport.schema, &err),
                     0);
    assert_int_equal(netbe_backend_hubport.init(ctx, opts, "h1", NULL, &err),
                     0);
    assert_null(err);
    h = netbe_find_netdev(ctx, "h1");
    assert_non_null(h);
    assert_int_equal(h->info->type, NETBE_DRIVER_HUBPORT);
    assert_ptr_equal(h->peer, &b->nc);
    assert_ptr_equal(b->nc.peer, h);
    assert_int_equal(netbe_hub_id_for_client(h, &id), 0);
    assert_int_equal(id, 2);

    /* the same netdev again: already in use */
    assert_int_equal(netbe_backend_hubport.init(ctx, opts, "h2", NULL, &err),
                     -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC, "netdev 'b0' is already in use");
    err = NULL;
    assert_null(netbe_find_netdev(ctx, "h2"));
    netbe_opts_free(opts);

    opts = hubport_opts("2", "zz");
    assert_int_equal(netbe_backend_hubport.init(ctx, opts, "h3", NULL, &err),
                     -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC, "netdev 'zz' not found");
    err = NULL;
    netbe_opts_free(opts);

    /* no netdev=: a peerless port */
    opts = hubport_opts("2", NULL);
    assert_int_equal(netbe_backend_hubport.init(ctx, opts, "h4", NULL, &err),
                     0);
    h = netbe_find_netdev(ctx, "h4");
    assert_non_null(h);
    assert_null(h->peer);
    netbe_opts_free(opts);

    /* a NIC is not a netdev to join */
    {
        struct netbe_nic_conf conf = {0};

        tl_nic(ctx, &conf, "e1000", "nic0", NULL);
        opts = hubport_opts("2", "nic0");
        assert_int_equal(
            netbe_backend_hubport.init(ctx, opts, "h5", NULL, &err), -1);
        tl_assert_error(err, NETBE_ERROR_GENERIC, "netdev 'nic0' not found");
        err = NULL;
        netbe_opts_free(opts);
    }
}

static void test_hubport_hubid_range(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_opts *opts;
    struct netbe_error *err = NULL;
    int id = 0;

    /* the schema holds hubid to an int32, as QEMU's visitor does */
    opts = hubport_opts("4294967296", NULL);
    assert_int_equal(netbe_opts_check(opts, netbe_backend_hubport.schema, &err),
                     -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC,
                    "Parameter 'hubid' expects int32_t");
    netbe_opts_free(opts);

    /* QEMU's hubid is an int32: negative hubs exist */
    err = NULL;
    opts = hubport_opts("-1", NULL);
    assert_int_equal(netbe_opts_check(opts, netbe_backend_hubport.schema, &err),
                     0);
    assert_int_equal(netbe_backend_hubport.init(ctx, opts, "neg", NULL, &err),
                     0);
    assert_null(err);
    assert_int_equal(
        netbe_hub_id_for_client(netbe_find_netdev(ctx, "neg"), &id), 0);
    assert_int_equal(id, -1);
    assert_string_equal(netbe_hub_add_port(ctx, -1, NULL, NULL)->name,
                        "hub-1port1");
    netbe_opts_free(opts);
}

static void test_hubport_schema(void **state)
{
    struct netbe_opts *opts = netbe_opts_new();
    struct netbe_error *err = NULL;

    netbe_opts_set(opts, "type", "hubport");
    assert_int_equal(netbe_opts_check(opts, netbe_backend_hubport.schema, &err),
                     -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC, "Parameter 'hubid' is missing");
    netbe_opts_free(opts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_port_names),
        T(test_broadcast),
        T(test_broadcast_one_refuses),
        T(test_can_receive),
        T(test_can_receive_alone),
        T(test_flush_via_hub),
        T(test_hub_flush),
        T(test_info_network),
        T(test_info_filters_of_hub_peer),
        T(test_check_clients),
        T(test_find_port),
        T(test_id_for_client),
        T(test_delete_port),
        T(test_delete_port_of_nic),
        T(test_set_link_hub_peer),
        T(test_learning_unicast),
        T(test_learning_broadcast_floods),
        T(test_learning_same_port_dropped),
        T(test_learning_short_frame),
        T(test_learning_split_header),
        T(test_learning_aging),
        T(test_learning_port_deleted),
        T(test_learning_off_again),
        T(test_learning_table_full),
        T(test_learning_aging_makes_room),
        T(test_learning_port_leaves),
        T(test_learning_station_moves),
        T(test_hubport_backend),
        T(test_hubport_hubid_range),
        T(test_hubport_schema),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
