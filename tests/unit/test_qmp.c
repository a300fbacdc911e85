/*
 * test_qmp.c - the QMP session without a transport: command dispatch,
 * QEMU's argument checks and texts, the QDict member order and escaping
 * of its output, the input framing and its limits, and events (from the
 * core's sinks, a NIC's rx-filter change, and how a full output ends a
 * client).  The graph has no loop: hub ports only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/qmp.h"
#include "netbe/netbe.h"

struct fixture {
    struct netbe_ctx *ctx;
    struct netbe_qmp_session *s;
    struct netbe_nic_conf conf; /* kept by a NIC until the context goes */
    int quits;
};

static void on_quit(void *opaque)
{
    ((struct fixture *)opaque)->quits++;
}

/* All output so far, as one string (consumed). */
static char *take(struct netbe_qmp_session *s)
{
    size_t len;
    const char *p = netbe_qmp_session_output(s, &len);
    char *copy = malloc(len + 1);

    assert_non_null(copy);
    memcpy(copy, p, len);
    copy[len] = '\0';
    netbe_qmp_session_consume(s, len);
    return copy;
}

static void feed_all(struct netbe_qmp_session *s, const char *buf, size_t len)
{
    size_t used = 0;

    while (used < len) {
        size_t n = netbe_qmp_session_feed(s, buf + used, len - used);

        if (n == 0 && netbe_qmp_session_quitting(s)) {
            return;
        }
        used += n;
    }
}

/* Send @in; the output must be exactly @want. */
static void expect(struct fixture *f, const char *in, const char *want)
{
    char *got;

    feed_all(f->s, in, strlen(in));
    got = take(f->s);
    assert_string_equal(got, want);
    free(got);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char *g;

    f->ctx = netbe_ctx_new(NULL);
    f->s = netbe_qmp_session_new(f->ctx, false, on_quit, f);
    g = take(f->s);
    assert_string_equal(g, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "
                           "\"minor\": 1, \"major\": 0}, \"package\": \"netbe "
                           "0.1.0\"}, \"capabilities\": []}}\r\n");
    free(g);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    netbe_qmp_session_free(f->s);
    netbe_ctx_free(f->ctx);
    free(f);
    return 0;
}

#define CAPS "{\"execute\": \"qmp_capabilities\"}\n"
#define OK "{\"return\": {}}\r\n"
#define GENERIC(d)                                                             \
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"" d "\"}}\r\n"

static void test_negotiation(void **state)
{
    struct fixture *f = *state;

    expect(f, "{\"execute\": \"query-version\", \"id\": 1}\n",
           "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
           "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}"
           "\r\n");
    expect(f,
           "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": "
           "[\"oob\"]}}\n",
           GENERIC("Capability 'oob' not available"));
    expect(f,
           "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}\n",
           GENERIC("Parameter 'x' is unexpected"));
    expect(f, CAPS, OK);
    expect(f, CAPS,
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
           "\"Capabilities negotiation is already complete, command "
           "ignored\"}}\r\n");
    expect(f, "{\"execute\": \"query-version\", \"id\": \"x\"}\n",
           "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": "
           "0}, \"package\": \"netbe 0.1.0\"}, \"id\": \"x\"}\r\n");
}

static void test_dispatch_errors(void **state)
{
    struct fixture *f = *state;

    expect(f, CAPS, OK);
    expect(f, "[1]\n", GENERIC("QMP input must be a JSON object"));
    expect(f, "{\"id\": 3}\n",
           "{\"id\": 3, \"error\": {\"class\": \"GenericError\", \"desc\": "
           "\"QMP input lacks member 'execute'\"}}\r\n");
    expect(f, "{\"execute\": true}\n",
           GENERIC("QMP input member 'execute' must be a string"));
    expect(f, "{\"execute\": \"quit\", \"arguments\": []}\n",
           GENERIC("QMP input member 'arguments' must be an object"));
    expect(f, "{\"execute\": \"quit\", \"exec-oob\": \"quit\"}\n",
           GENERIC("QMP input member 'exec-oob' is unexpected"));
    expect(f, "{\"execute\": \"nosuch\", \"id\": null}\n",
           "{\"id\": null, \"error\": {\"class\": \"CommandNotFound\", "
           "\"desc\": \"The command nosuch has not been found\"}}\r\n");
    assert_int_equal(f->quits, 0);
}

static void test_argument_checks(void **state)
{
    struct fixture *f = *state;

    expect(f, CAPS, OK);
    expect(f, "{\"execute\": \"set_link\", \"arguments\": {\"up\": true}}\n",
           GENERIC("Parameter 'name' is missing"));
    expect(f,
           "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"a\", "
           "\"up\": 1}}\n",
           GENERIC("Invalid parameter type for 'up', expected: boolean"));
    expect(f,
           "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"a\", "
           "\"up\": true, \"z\": 0}}\n",
           GENERIC("Parameter 'z' is unexpected"));
    expect(f,
           "{\"execute\": \"set_link\", \"arguments\": {\"name\": \"a\", "
           "\"up\": true}}\n",
           "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device "
           "'a' not found\"}}\r\n");
    /* netdev_add: the union's base, then the type's typed members */
    expect(f, "{\"execute\": \"netdev_add\", \"arguments\": {\"type\": 1}}\n",
           GENERIC("Parameter 'id' is missing"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"zz\"}}\n",
           GENERIC("Parameter 'type' does not accept value 'zz'"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"hubport\", \"hubid\": -3000000000}}\n",
           GENERIC("Parameter 'hubid' expects int32_t"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"hubport\", \"hubid\": 1, \"queue-bytes\": \"x\"}}\n",
           GENERIC("Parameter 'queue-bytes' expects uint64"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"stream\", \"addr\": {\"type\": \"inet\", \"host\": "
           "\"h\", \"port\": \"1\", \"to\": -1}}}\n",
           GENERIC("Parameter 'to' expects uint16_t"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"stream\", \"addr\": {\"path\": \"/x\"}}}\n",
           GENERIC("Parameter 'addr.type' is missing"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"stream\", \"addr\": {\"type\": \"fd\", \"str\": "
           "\"3\", \"path\": \"/x\"}}}\n",
           GENERIC("Parameter 'addr.path' is unexpected"));
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"hubport\", \"hubid\": 2, \"queue-bytes\": 65536}}\n",
           OK);
    expect(f,
           "{\"execute\": \"netdev_add\", \"arguments\": {\"id\": \"a\", "
           "\"type\": \"hubport\", \"hubid\": 2}}\n",
           GENERIC("Duplicate ID 'a'"));
    assert_int_equal(netbe_find_netdev(f->ctx, "a")->incoming_queue->max_bytes,
                     65536);
    expect(f,
           "{\"execute\": \"human-monitor-command\", \"arguments\": "
           "{\"command-line\": \"info network\"}}\n",
           "{\"return\": \"hub 2\\r\\n \\\\ a\\r\\n\"}\r\n");
    expect(f, "{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"a\"}}\n",
           OK);
    expect(f,
           "{\"execute\": \"query-rx-filter\", \"arguments\": {\"name\": "
           "\"a\"}}\n",
           GENERIC("invalid net client name: a"));
}

/* QEMU's escapes: non-ASCII as \uXXXX, bad UTF-8 as U+FFFD. */
static void test_output_text(void **state)
{
    struct fixture *f = *state;

    expect(f, CAPS, OK);
    expect(f, "{\"execute\": \"x\\u00e9\\ud83d\\ude00\\/\\t\\u0001\\u007f\"}\n",
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The "
           "command x\\u00E9\\uD83D\\uDE00/\\t\\u0001\\u007F has not been "
           "found\"}}\r\n");
    expect(f, "{\"execute\": \"query-rx-filter\", \"id\": [1.5e3, -7, {}]}\n",
           "{\"return\": [], \"id\": [1500, -7, {}]}\r\n");
}

static void test_pretty(void **state)
{
    struct fixture *f = *state;
    struct netbe_qmp_session *s = netbe_qmp_session_new(f->ctx, true, NULL, f);
    char *g = take(s);

    assert_non_null(strstr(g, "{\r\n    \"QMP\": {\r\n        \"version\": "));
    free(g);
    feed_all(s, CAPS, strlen(CAPS));
    g = take(s);
    assert_string_equal(g, "{\r\n    \"return\": {\r\n    }\r\n}\r\n");
    free(g);
    netbe_qmp_session_free(s);
}

static void test_framing_and_limits(void **state)
{
    struct fixture *f = *state;
    size_t big = NETBE_QMP_INPUT_MAX + 100, i;
    char *buf = malloc(big + 64), *out;

    expect(f, CAPS, OK);
    /* two on a line, one across lines, one fed byte by byte */
    expect(f,
           "{\"execute\": \"query-rx-filter\"}{\"execute\": \"quit\", "
           "\"id\": 1, \"arguments\": 5}\n",
           "{\"return\": []}\r\n"
           "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": "
           "\"QMP input member 'arguments' must be an object\"}}\r\n");
    const char *split = "{\"execute\":\n\n \"query-rx-filter\",\r\n \"id\": 2}";
    for (i = 0; split[i]; i++) {
        assert_int_equal(netbe_qmp_session_feed(f->s, split + i, 1), 1);
    }
    out = take(f->s);
    assert_string_equal(out, "{\"return\": [], \"id\": 2}\r\n");
    free(out);
    /* syntax errors: one reply, the line skipped */
    expect(f, "garbage in {\"execute\": \"quit\"}\n",
           GENERIC("JSON parse error, invalid keyword 'garbage'"));
    expect(f, "{\"a\" 1}\n", GENERIC("JSON parse error, expecting value"));
    /* too long: refused, and the rest of its line with it */
    buf[0] = '"';
    memset(buf + 1, 'a', big);
    memcpy(buf + 1 + big, "\"}\n", 4);
    expect(f, buf, GENERIC("JSON token size limit exceeded"));
    /* too deep */
    memset(buf, '[', 2000);
    buf[2000] = '\n';
    buf[2001] = '\0';
    expect(f, buf, GENERIC("JSON nesting depth limit exceeded"));
    /* QEMU's limit itself is fine */
    memset(buf, '[', NETBE_QMP_DEPTH_MAX);
    memset(buf + NETBE_QMP_DEPTH_MAX, ']', NETBE_QMP_DEPTH_MAX);
    buf[2 * NETBE_QMP_DEPTH_MAX] = '\n';
    buf[2 * NETBE_QMP_DEPTH_MAX + 1] = '\0';
    expect(f, buf, GENERIC("QMP input must be a JSON object"));
    /* and a session goes on after all that */
    expect(f, "{\"execute\": \"query-rx-filter\"}\n", "{\"return\": []}\r\n");
    free(buf);
}

static void test_events(void **state)
{
    struct fixture *f = *state;
    struct netbe_event_field fields[] = {
        {.name = "netdev-id", .type = NETBE_EVENT_STR, .str = "s0"},
        {.name = "addr.type", .type = NETBE_EVENT_STR, .str = "unix"},
        {.name = "addr.path", .type = NETBE_EVENT_STR, .str = "/p"},
    };
    char *out;

    /* not before negotiation */
    netbe_event_emit(f->ctx, NETBE_EVENT_NETDEV_STREAM_CONNECTED, fields, 3);
    out = take(f->s);
    assert_string_equal(out, "");
    free(out);
    expect(f, CAPS, OK);
    netbe_event_emit(f->ctx, NETBE_EVENT_NETDEV_STREAM_CONNECTED, fields, 3);
    out = take(f->s);
    assert_non_null(strstr(out, "\"event\": \"NETDEV_STREAM_CONNECTED\", "
                                "\"data\": {\"netdev-id\": \"s0\", \"addr\": "
                                "{\"path\": \"/p\", \"type\": \"unix\"}}}"));
    assert_memory_equal(out, "{\"timestamp\": {\"seconds\": ", 26);
    free(out);
}

static void test_quit(void **state)
{
    struct fixture *f = *state;
    char *out;
    const char *in = CAPS "{\"execute\": \"quit\"}\n{\"execute\": \"quit\"}\n";

    feed_all(f->s, in, strlen(in));
    out = take(f->s);
    assert_non_null(strstr(out, "\"event\": \"SHUTDOWN\", \"data\": "
                                "{\"guest\": false, \"reason\": "
                                "\"host-qmp-quit\"}}\r\n{\"return\": {}}"
                                "\r\n"));
    /* nothing read after quit */
    assert_null(strstr(strstr(out, "SHUTDOWN") + 1, "SHUTDOWN"));
    assert_int_equal(f->quits, 1);
    free(out);
}

/* A NIC's filter change is told once until someone queried it. */
static const struct netbe_client_info nic_info = {
    .type = NETBE_DRIVER_NIC,
    .size = sizeof(struct netbe_client),
};

static void test_rx_filter(void **state)
{
    struct fixture *f = *state;
    static const uint8_t mac[6] = {0x52, 0x54, 0, 1, 2, 3};
    struct netbe_nic *nic;
    char *out;

    memcpy(f->conf.macaddr, mac, 6);
    nic = netbe_nic_new(f->ctx, &nic_info, &f->conf, "test-nic", "n0", NULL);

    expect(f, CAPS, OK);
    netbe_nic_rx_filter_changed(nic);
    netbe_nic_rx_filter_changed(nic);
    out = take(f->s);
    assert_non_null(strstr(out, "\"event\": \"NIC_RX_FILTER_CHANGED\", "
                                "\"data\": {\"name\": \"n0\", \"path\": "
                                "\"/netbe/nic/n0\"}}\r\n"));
    assert_null(strstr(strstr(out, "NIC_RX") + 1, "NIC_RX"));
    free(out);
    expect(f,
           "{\"execute\": \"query-rx-filter\", \"arguments\": {\"name\": "
           "\"n0\"}}\n",
           "{\"return\": [{\"promiscuous\": true, \"name\": \"n0\", "
           "\"main-mac\": \"52:54:00:01:02:03\", \"unicast\": \"all\", "
           "\"vlan\": \"all\", \"vlan-table\": [], \"unicast-table\": [], "
           "\"multicast\": \"all\", \"multicast-overflow\": false, "
           "\"unicast-overflow\": false, \"multicast-table\": [], "
           "\"broadcast-allowed\": true}]}\r\n");
    netbe_nic_rx_filter_changed(nic);
    out = take(f->s);
    assert_non_null(strstr(out, "NIC_RX_FILTER_CHANGED"));
    free(out);
}

/* Events that find a full output mark the session for closing. */
static void test_output_overflow(void **state)
{
    struct fixture *f = *state;
    struct netbe_event_field field = {
        .name = "netdev-id", .type = NETBE_EVENT_STR, .str = "x"};
    size_t len;
    int i;

    expect(f, CAPS, OK);
    for (i = 0; i < 100000 && !netbe_qmp_session_overflowed(f->s); i++) {
        netbe_event_emit(f->ctx, NETBE_EVENT_NETDEV_STREAM_DISCONNECTED, &field,
                         1);
    }
    assert_true(netbe_qmp_session_overflowed(f->s));
    netbe_qmp_session_output(f->s, &len);
    assert_true(len <= NETBE_QMP_OUTPUT_MAX + 512);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argument_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pretty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing_and_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_overflow, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
