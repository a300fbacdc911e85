/*
 * test_monitor_cmd.c - HMP command lines run with
 * netbe_monitor_run_command() on a graph without a loop: the argument
 * parsing cases that fuzz/fuzz_monitor found, and that commands needing a
 * loop fail with an error instead of crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/monitor.h"
#include "netbe/log.h"
#include "netbe/net.h"

/* Run @line; Return: its output, malloc'ed, with its length in *@len. */
static char *run(struct netbe_ctx *ctx, const char *line, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);

    assert_non_null(out);
    assert_false(netbe_monitor_run_command(ctx, line, out));
    fclose(out);
    return text;
}

static void expect(struct netbe_ctx *ctx, const char *line, const char *want)
{
    size_t len;
    char *text = run(ctx, line, &len);

    /* the whole output: a NUL inside would end the string compare early */
    assert_int_equal(len, strlen(want));
    assert_string_equal(text, want);
    free(text);
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

/*
 * A quoted string whose last character is a backslash: the escape has no
 * character, and the old code printed "'\<NUL>'", a NUL byte to the user.
 */
static void test_backslash_at_end(void **state)
{
    expect(*state, "set_link \"a\\",
           "unterminated string\n"
           "set_link: string expected\n"
           "Try \"help set_link\" for more information\n");
    expect(*state, "netdev_del \"x\\",
           "unterminated string\n"
           "netdev_del: string expected\n"
           "Try \"help netdev_del\" for more information\n");
}

static void test_escapes(void **state)
{
    expect(*state, "set_link \"bad\\q\" on",
           "unsupported escape code: '\\q'\n"
           "set_link: string expected\n"
           "Try \"help set_link\" for more information\n");
    expect(*state, "set_link \"open on",
           "unterminated string\n"
           "set_link: string expected\n"
           "Try \"help set_link\" for more information\n");
}

/* Without a loop a socket backend cannot run: an error, nothing made. */
static void test_netdev_add_needs_loop(void **state)
{
    size_t len;
    char *text;

    text = run(*state,
               "netdev_add stream,id=a,server=on,addr.type=unix,"
               "addr.path=/tmp/netbe-test-monitor.sock",
               &len);
    assert_string_equal(text, "Error: stream needs an event loop\n");
    free(text);
    assert_null(netbe_client_first(*state));

    expect(*state, "netdev_add hubport,id=h0,hubid=0", "");
    assert_non_null(netbe_client_first(*state));
    expect(*state, "netdev_del h0", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backslash_at_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_netdev_add_needs_loop, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
