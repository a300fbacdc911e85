/*
 * test_mac.c - default NIC MAC addresses (QEMU's mac_table): handed out
 * from 52:54:00:12:34:56 upward, set addresses in the range reserve their
 * slot, freed addresses come back, :ff once all are taken; the multicast
 * check and the NIC info string.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testlib.h"

#define BASE 0x52, 0x54, 0x00, 0x12, 0x34

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
    return 0;
}

static void next_default(struct netbe_ctx *ctx, uint8_t last)
{
    uint8_t mac[6] = {0};
    const uint8_t want[6] = {BASE, last};

    netbe_macaddr_default_if_unset(ctx, mac);
    assert_memory_equal(mac, want, 6);
}

static void test_default_sequence(void **state)
{
    struct netbe_ctx *ctx = *state;

    next_default(ctx, 0x56);
    next_default(ctx, 0x57);
    next_default(ctx, 0x58);
}

static void test_set_address_marks_used(void **state)
{
    struct netbe_ctx *ctx = *state;
    uint8_t set[6] = {BASE, 0x57};
    const uint8_t same[6] = {BASE, 0x57};

    netbe_macaddr_default_if_unset(ctx, set);
    assert_memory_equal(set, same, 6); /* a set address is kept */
    next_default(ctx, 0x56);
    next_default(ctx, 0x58);
}

static void test_set_free_reuses(void **state)
{
    struct netbe_ctx *ctx = *state;
    const uint8_t m56[6] = {BASE, 0x56};

    next_default(ctx, 0x56);
    next_default(ctx, 0x57);
    netbe_macaddr_set_free(ctx, m56);
    next_default(ctx, 0x56);
    next_default(ctx, 0x58);
}

static void test_used_twice_freed_once(void **state)
{
    struct netbe_ctx *ctx = *state;
    uint8_t a[6] = {BASE, 0x56}, b[6] = {BASE, 0x56};

    netbe_macaddr_default_if_unset(ctx, a);
    netbe_macaddr_default_if_unset(ctx, b);
    netbe_macaddr_set_free(ctx, a);
    /* still held by b */
    next_default(ctx, 0x57);
    netbe_macaddr_set_free(ctx, b);
    next_default(ctx, 0x56);
}

static void test_outside_prefix_untouched(void **state)
{
    struct netbe_ctx *ctx = *state;
    uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x56};
    const uint8_t same[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x56};
    uint8_t near[6] = {0x52, 0x54, 0x00, 0x12, 0x35, 0x56};
    const uint8_t near_same[6] = {0x52, 0x54, 0x00, 0x12, 0x35, 0x56};

    netbe_macaddr_default_if_unset(ctx, mac);
    assert_memory_equal(mac, same, 6);
    netbe_macaddr_default_if_unset(ctx, near);
    assert_memory_equal(near, near_same, 6);
    /* neither reserved :56 */
    next_default(ctx, 0x56);
    /* and freeing them does not release :56 */
    netbe_macaddr_set_free(ctx, same);
    netbe_macaddr_set_free(ctx, near_same);
    next_default(ctx, 0x57);
}

static void test_below_range_untouched(void **state)
{
    struct netbe_ctx *ctx = *state;
    uint8_t low[6] = {BASE, 0x55};
    const uint8_t low_same[6] = {BASE, 0x55};

    netbe_macaddr_default_if_unset(ctx, low);
    assert_memory_equal(low, low_same, 6);
    next_default(ctx, 0x56);
    netbe_macaddr_set_free(ctx, low_same);
    next_default(ctx, 0x57);
}

static void test_all_used_gives_ff(void **state)
{
    struct netbe_ctx *ctx = *state;
    const uint8_t m80[6] = {BASE, 0x80};
    const uint8_t mff[6] = {BASE, 0xff};
    uint8_t set_ff[6] = {BASE, 0xff};

    for (int i = 0x56; i < 0xff; i++) {
        next_default(ctx, (uint8_t)i);
    }
    /* QEMU's behaviour: :ff, again and again, never reserved */
    next_default(ctx, 0xff);
    next_default(ctx, 0xff);
    netbe_macaddr_default_if_unset(ctx, set_ff);
    netbe_macaddr_set_free(ctx, mff);
    next_default(ctx, 0xff);
    /* a freed slot is handed out again */
    netbe_macaddr_set_free(ctx, m80);
    next_default(ctx, 0x80);
    next_default(ctx, 0xff);
}

static void test_free_unused_is_harmless(void **state)
{
    struct netbe_ctx *ctx = *state;
    const uint8_t m56[6] = {BASE, 0x56};

    netbe_macaddr_set_free(ctx, m56);
    netbe_macaddr_set_free(ctx, m56);
    next_default(ctx, 0x56);
    next_default(ctx, 0x57);
}

static void test_contexts_are_independent(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_ctx *other = netbe_ctx_new(NULL);

    next_default(ctx, 0x56);
    next_default(other, 0x56);
    next_default(ctx, 0x57);
    netbe_ctx_free(other);
}

static void test_nic_del_frees_mac(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf conf = {0};
    struct netbe_nic *nic;

    netbe_macaddr_default_if_unset(ctx, conf.macaddr);
    nic = tl_nic(ctx, &conf, "e1000", "n", NULL);
    next_default(ctx, 0x57);
    netbe_nic_del(nic);
    next_default(ctx, 0x56);
}

static void test_check_multicast(void **state)
{
    const uint8_t uni[6] = {BASE, 0x56};
    const uint8_t local[6] = {0x02, 0, 0, 0, 0, 1};
    const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    const uint8_t odd[6] = {0x53, 0x54, 0x00, 0x12, 0x34, 0x56};
    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_macaddr_check(uni, &err), 0);
    assert_int_equal(netbe_macaddr_check(local, &err), 0);
    assert_null(err);
    assert_int_equal(netbe_macaddr_check(mcast, &err), -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC,
                    "NIC cannot have multicast MAC address (odd 1st byte)");
    err = NULL;
    assert_int_equal(netbe_macaddr_check(odd, &err), -1);
    tl_assert_error(err, NETBE_ERROR_GENERIC,
                    "NIC cannot have multicast MAC address (odd 1st byte)");
    err = NULL;
    assert_int_equal(netbe_macaddr_check(bcast, &err), -1);
    netbe_error_free(err);
    assert_int_equal(netbe_macaddr_check(bcast, NULL), -1);
}

static void test_format_nic_info_str(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_nic_conf conf = {.macaddr = {BASE, 0x56}};
    struct netbe_nic *nic = tl_nic(ctx, &conf, "virtio-net-pci", "n", NULL);
    const uint8_t mac[6] = {0x0a, 0xBC, 0x00, 0xff, 0x01, 0x10};
    char *text;

    netbe_format_nic_info_str(netbe_nic_get_queue(nic), conf.macaddr);
    assert_string_equal(netbe_nic_get_queue(nic)->info_str,
                        "model=virtio-net-pci,macaddr=52:54:00:12:34:56");
    netbe_format_nic_info_str(netbe_nic_get_queue(nic), mac);
    assert_string_equal(netbe_nic_get_queue(nic)->info_str,
                        "model=virtio-net-pci,macaddr=0a:bc:00:ff:01:10");
    text = tl_print_client(netbe_nic_get_queue(nic));
    assert_string_equal(text, "n: index=0,type=nic,model=virtio-net-pci,"
                              "macaddr=0a:bc:00:ff:01:10\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_default_sequence),         T(test_set_address_marks_used),
        T(test_set_free_reuses),          T(test_used_twice_freed_once),
        T(test_outside_prefix_untouched), T(test_below_range_untouched),
        T(test_all_used_gives_ff),        T(test_free_unused_is_harmless),
        T(test_contexts_are_independent), T(test_nic_del_frees_mac),
        T(test_check_multicast),          T(test_format_nic_info_str),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
