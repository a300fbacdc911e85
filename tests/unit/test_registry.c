/*
 * test_registry.c - the netdev type table and QEMU 7.2's net_client_init
 * rules: the order of the checks and their exact messages, and that a
 * failed -netdev or -net leaves nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/backend.h"
#include "netbe/log.h"
#include "netbe/net.h"

static int count_clients(struct netbe_ctx *ctx)
{
    struct netbe_client *nc;
    int n = 0;

    for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
        n++;
    }
    return n;
}

/* Add @str; expect failure with exactly @msg and no new client. */
static void expect_fail(struct netbe_ctx *ctx, const char *str, bool is_netdev,
                        const char *msg)
{
    struct netbe_error *err = NULL;
    int before = count_clients(ctx);

    assert_int_equal(netbe_netdev_add_str(ctx, str, is_netdev, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    assert_int_equal(count_clients(ctx), before);
    netbe_error_free(err);
}

static void expect_ok(struct netbe_ctx *ctx, const char *str, bool is_netdev)
{
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_netdev_add_str(ctx, str, is_netdev, &err), 0);
    assert_null(err);
}

/* Whatever "-netdev help" prints, as a malloc'ed string. */
static char *capture_help(const char *str, int *ret, struct netbe_error **errp)
{
    struct netbe_opts *opts = netbe_opts_parse_any(str, "type", NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(opts);
    assert_non_null(f);
    *ret = netbe_netdev_help(opts, f, errp);
    fclose(f);
    netbe_opts_free(opts);
    return buf;
}

static int setup(void **state)
{
    *state = netbe_ctx_new(NULL);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    netbe_ctx_free(*state);
    return 0;
}

static void test_table(void **state)
{
    const struct netbe_backend_type *const *t = netbe_backend_types();
    bool hubport = false;

    for (; *t; t++) {
        assert_ptr_equal(netbe_backend_find((*t)->name), *t);
        hubport |= *t == &netbe_backend_hubport;
    }
    assert_true(hubport);
    assert_null(netbe_backend_find("no-such-type"));
    assert_null(netbe_backend_find(NULL));
    /* hubport is a -netdev only type, as in QEMU */
    assert_true(netbe_backend_hubport.netdev_ok);
    assert_false(netbe_backend_hubport.net_ok);
}

static void test_print_types(void **state)
{
    const struct netbe_backend_type *const *t;
    char *buf = NULL, *line, *save;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int lines = 0, netdev_types = 0;

    netbe_backend_print_types(f);
    fclose(f);
    assert_true(!strncmp(buf, "Available netdev backend types:\n", 32));
    assert_non_null(strstr(buf, "\nhubport\n"));
    for (line = strtok_r(buf + 32, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(netbe_backend_find(line));
        assert_true(netbe_backend_find(line)->netdev_ok);
        lines++;
    }
    for (t = netbe_backend_types(); *t; t++) {
        netdev_types += (*t)->netdev_ok;
    }
    assert_int_equal(lines, netdev_types);
    free(buf);
}

static void test_netdev_ok(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_client *nc;

    expect_ok(ctx, "hubport,id=p0,hubid=0", true);
    nc = netbe_find_netdev(ctx, "p0");
    assert_non_null(nc);
    assert_true(nc->is_netdev);
    assert_int_equal(nc->info->type, NETBE_DRIVER_HUBPORT);

    expect_ok(ctx, "{\"type\": \"hubport\", \"id\": \"j0\", \"hubid\": 1}",
              true);
    nc = netbe_find_netdev(ctx, "j0");
    assert_non_null(nc);
    assert_true(nc->is_netdev);
    assert_int_equal(count_clients(ctx), 2);
}

static void test_missing(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_fail(ctx, "id=x", true, "Parameter 'type' is missing");
    expect_fail(ctx, "hubport,hubid=0", true, "Parameter 'id' is missing");
    /* QEMU's visitor looks at the id before the type */
    expect_fail(ctx, "foo", true, "Parameter 'id' is missing");
    expect_fail(ctx, "hubport,id=p0", true, "Parameter 'hubid' is missing");
    expect_fail(ctx, "", false, "Parameter 'type' is missing");
}

static void test_bad_type(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_fail(ctx, "foo,id=x", true,
                "Parameter 'type' does not accept value 'foo'");
    expect_fail(ctx, "foo", false,
                "Parameter 'type' does not accept value 'foo'");
    /* QEMU knows these names; netbe never makes them netdevs */
    expect_fail(ctx, "nic,id=x", true,
                "network backend 'nic' is not compiled into this binary");
    expect_fail(ctx, "none,id=x", true,
                "network backend 'none' is not compiled into this binary");
    expect_fail(ctx, "hubport,hubid=0", false,
                "network backend 'hubport' is only supported with "
                "-netdev/-nic");
}

static void test_bad_id(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_fail(ctx, "hubport,id=1abc,hubid=0", true,
                "Parameter 'id' expects an identifier");
    expect_fail(ctx, "hubport,id=,hubid=0", true,
                "Parameter 'id' expects an identifier");
    /* the id is checked first, before the missing hubid */
    expect_fail(ctx, "hubport,id=a b", true,
                "Parameter 'id' expects an identifier");
    expect_fail(ctx, "none,id=1x", false,
                "Parameter 'id' expects an identifier");
}

static void test_schema(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_fail(ctx, "hubport,id=p0,hubid=0,x=on", true,
                "Invalid parameter 'x'");
    expect_fail(ctx, "none,x=1", false, "Invalid parameter 'x'");
    /* ipv6-net becomes ipv6-prefix and ipv6-prefixlen before the check */
    expect_fail(ctx, "hubport,id=p0,hubid=0,ipv6-net=fec0::/48", true,
                "Invalid parameter 'ipv6-prefix'");
    expect_fail(ctx, "hubport,id=p0,hubid=0,ipv6-net=fec0::/a", true,
                "Parameter 'ipv6-prefixlen' expects a number");
    /* ... even before the missing id */
    expect_fail(ctx, "hubport,ipv6-net=fec0::/a", true,
                "Parameter 'ipv6-prefixlen' expects a number");
}

static void test_duplicate(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_ok(ctx, "hubport,id=p0,hubid=0", true);
    expect_fail(ctx, "hubport,id=p0,hubid=1", true,
                "Duplicate ID 'p0' for netdev");
    /* the duplicate comes before the other checks, as in QemuOpts */
    expect_fail(ctx, "hubport,id=p0", true, "Duplicate ID 'p0' for netdev");
    assert_int_equal(count_clients(ctx), 1);

    /* the id is free again once the netdev is gone */
    assert_int_equal(netbe_netdev_del(ctx, "p0", NULL), 0);
    expect_ok(ctx, "hubport,id=p0,hubid=1", true);
    assert_int_equal(count_clients(ctx), 1);
}

static void test_net_none(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_ok(ctx, "none", false);
    expect_ok(ctx, "none,id=n0", false);
    assert_int_equal(count_clients(ctx), 0);
}

/* A failed -net must not leave its hub 0 port behind. */
static void test_net_no_leak(void **state)
{
    struct netbe_ctx *ctx = *state;

    expect_fail(ctx, "nic", false,
                "network backend 'nic' is not compiled into this binary");
    expect_fail(ctx, "nic,model=e1000", false,
                "network backend 'nic' is not compiled into this binary");
    expect_fail(ctx, "hubport,hubid=0", false,
                "network backend 'hubport' is only supported with "
                "-netdev/-nic");
    assert_int_equal(count_clients(ctx), 0);
}

static void test_help(void **state)
{
    struct netbe_error *err = NULL;
    char *out;
    int ret;

    out = capture_help("help", &ret, &err);
    assert_int_equal(ret, 1);
    assert_null(err);
    assert_true(!strncmp(out, "Available netdev backend types:\n", 32));
    assert_non_null(strstr(out, "hubport\n"));
    free(out);

    out = capture_help("hubport,help", &ret, &err);
    assert_int_equal(ret, 1);
    assert_null(err);
    assert_non_null(strstr(out, "hubid"));
    assert_non_null(strstr(out, "netdev"));
    free(out);

    out = capture_help("hubport,id=p0,hubid=0", &ret, &err);
    assert_int_equal(ret, 0);
    assert_null(err);
    assert_string_equal(out, "");
    free(out);

    out = capture_help("foo,help", &ret, &err);
    assert_int_equal(ret, -1);
    assert_string_equal(netbe_error_msg(err),
                        "Parameter 'type' expects a netdev backend type");
    assert_string_equal(out, "");
    netbe_error_free(err);
    err = NULL;
    free(out);

    out = capture_help("nic,help", &ret, &err);
    assert_int_equal(ret, -1);
    assert_string_equal(netbe_error_msg(err),
                        "Parameter 'type' expects a netdev backend type");
    netbe_error_free(err);
    free(out);
}

static void test_parse_error(void **state)
{
    struct netbe_ctx *ctx = *state;
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_netdev_add_str(ctx, "hubport,=x", true, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), "Invalid parameter ''");
    netbe_error_free(err);
    assert_int_equal(count_clients(ctx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_print_types),
        cmocka_unit_test_setup_teardown(test_netdev_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_net_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_net_no_leak, setup, teardown),
        cmocka_unit_test(test_help),
        cmocka_unit_test_setup_teardown(test_parse_error, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
