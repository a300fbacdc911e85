/*
 * test_opts.c - option strings: QEMU syntax and JSON both give the same
 * flat list, schema checks give QEMU 7.2's messages word for word, the
 * ipv6-net shorthand expands as QEMU's does, and "-netdev TYPE,help"
 * prints QEMU's "-device X,help" layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/log.h"
#include "netbe/opts.h"

/* ---- helpers ---------------------------------------------------------- */

struct logbuf {
    int count;
    enum netbe_log_level level;
    char last[1024];
};

static void capture(enum netbe_log_level level, const char *msg, void *opaque)
{
    struct logbuf *lb = opaque;

    lb->count++;
    lb->level = level;
    snprintf(lb->last, sizeof(lb->last), "%s", msg);
}

static struct netbe_opts *parse_ok(const char *str, const char *implied)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts = netbe_opts_parse(str, implied, &err);

    if (!opts) {
        fail_msg("'%s' failed: %s", str, netbe_error_msg(err));
    }
    assert_null(err);
    return opts;
}

static void assert_parse_error(const char *str, const char *implied,
                               const char *msg)
{
    struct netbe_error *err = NULL;

    assert_null(netbe_opts_parse(str, implied, &err));
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
}

static struct netbe_opts *json_ok(const char *str)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts = netbe_opts_parse_json(str, &err);

    if (!opts) {
        fail_msg("'%s' failed: %s", str, netbe_error_msg(err));
    }
    return opts;
}

static void assert_json_error(const char *str, const char *msg)
{
    struct netbe_error *err = NULL;

    assert_null(netbe_opts_parse_json(str, &err));
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
}

static void assert_opt(const struct netbe_opts *opts, size_t i, const char *key,
                       const char *value)
{
    assert_true(i < opts->n);
    assert_string_equal(opts->v[i].key, key);
    assert_string_equal(opts->v[i].value, value);
}

/* ---- QEMU syntax ------------------------------------------------------ */

static void test_parse_basic(void **state)
{
    struct netbe_opts *o = parse_ok(
        "stream,id=n0,server=on,addr.type=unix,addr.path=/tmp/s", "type");

    assert_int_equal(o->n, 5);
    assert_opt(o, 0, "type", "stream");
    assert_opt(o, 1, "id", "n0");
    assert_opt(o, 2, "server", "on");
    assert_opt(o, 3, "addr.type", "unix");
    assert_opt(o, 4, "addr.path", "/tmp/s");
    assert_string_equal(netbe_opts_get(o, "addr.path"), "/tmp/s");
    assert_null(netbe_opts_get(o, "addr"));
    netbe_opts_free(o);
}

static void test_parse_implied_key(void **state)
{
    struct logbuf lb = {0};
    struct netbe_opts *o;

    /* explicit type=, no implied element */
    o = parse_ok("type=user,id=u", "type");
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "type", "user");
    netbe_opts_free(o);

    /* only the first element is implied; later ones are flags */
    netbe_log_set_sink(capture, &lb);
    o = parse_ok("id=u,user", "type");
    netbe_log_set_sink(NULL, NULL);
    assert_string_equal(netbe_opts_get(o, "id"), "u");
    assert_null(netbe_opts_get(o, "type"));
    assert_string_equal(netbe_opts_get(o, "user"), "on");
    assert_int_equal(lb.count, 1);
    netbe_opts_free(o);

    /* ",," in the implied value too */
    o = parse_ok("a,,b,k=v", "type");
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "type", "a,b");
    assert_opt(o, 1, "k", "v");
    netbe_opts_free(o);

    /* an empty first element with an implied key is an empty value */
    o = parse_ok(",k=v", "type");
    assert_opt(o, 0, "type", "");
    assert_opt(o, 1, "k", "v");
    netbe_opts_free(o);
}

static void test_parse_commas(void **state)
{
    struct netbe_opts *o;

    o = parse_ok("user,id=u,hostfwd=tcp::1-:22,,x,k=1", "type");
    assert_int_equal(o->n, 4);
    assert_opt(o, 2, "hostfwd", "tcp::1-:22,x");
    assert_opt(o, 3, "k", "1");
    netbe_opts_free(o);

    /* ",,," is a literal comma and then the separator */
    o = parse_ok("k=,,,j=2", NULL);
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "k", ",");
    assert_opt(o, 1, "j", "2");
    netbe_opts_free(o);

    /* ",,,," is two literal commas */
    o = parse_ok("k=a,,,,b", NULL);
    assert_int_equal(o->n, 1);
    assert_opt(o, 0, "k", "a,,b");
    netbe_opts_free(o);

    /* a doubled comma at the very end */
    o = parse_ok("k=a,,", NULL);
    assert_int_equal(o->n, 1);
    assert_opt(o, 0, "k", "a,");
    netbe_opts_free(o);

    /* "=" inside a value is just a character */
    o = parse_ok("k=a=b,j=c", NULL);
    assert_opt(o, 0, "k", "a=b");
    assert_opt(o, 1, "j", "c");
    netbe_opts_free(o);
}

static void test_parse_empty_values(void **state)
{
    struct netbe_opts *o;

    o = parse_ok("k=,j=", NULL);
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "k", "");
    assert_opt(o, 1, "j", "");
    netbe_opts_free(o);

    /* a trailing comma ends the list, it is not an empty element */
    o = parse_ok("k=1,", NULL);
    assert_int_equal(o->n, 1);
    netbe_opts_free(o);

    o = parse_ok("", "type");
    assert_int_equal(o->n, 0);
    netbe_opts_free(o);
}

static void test_parse_dotted(void **state)
{
    struct netbe_opts *o = parse_ok(
        "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=1234,"
        "remote.type=inet,remote.host=127.0.0.1,remote.port=1235",
        "type");

    assert_int_equal(o->n, 8);
    assert_string_equal(netbe_opts_get(o, "local.port"), "1234");
    assert_string_equal(netbe_opts_get(o, "remote.port"), "1235");
    assert_true(netbe_opts_has_prefix(o, "local"));
    assert_true(netbe_opts_has_prefix(o, "remote"));
    assert_false(netbe_opts_has_prefix(o, "loc"));
    netbe_opts_free(o);
}

static void test_parse_help(void **state)
{
    struct logbuf lb = {0};
    struct netbe_opts *o;

    netbe_log_set_sink(capture, &lb);

    o = parse_ok("help", "type");
    assert_int_equal(o->n, 1);
    assert_opt(o, 0, "help", "on");
    netbe_opts_free(o);

    o = parse_ok("?", "type");
    assert_opt(o, 0, "help", "on");
    netbe_opts_free(o);

    o = parse_ok("user,help", "type");
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "type", "user");
    assert_opt(o, 1, "help", "on");
    netbe_opts_free(o);

    o = parse_ok("user,?,id=x", "type");
    assert_opt(o, 1, "help", "on");
    assert_opt(o, 2, "id", "x");
    netbe_opts_free(o);

    o = parse_ok("help", NULL);
    assert_opt(o, 0, "help", "on");
    netbe_opts_free(o);

    /* asking for help is not a deprecated short-form boolean */
    assert_int_equal(lb.count, 0);
    netbe_log_set_sink(NULL, NULL);

    assert_true(netbe_is_help_option("help"));
    assert_true(netbe_is_help_option("?"));
    assert_false(netbe_is_help_option("HELP"));
    assert_false(netbe_is_help_option("help "));
    assert_false(netbe_is_help_option(""));
    assert_false(netbe_is_help_option(NULL));
}

static void test_parse_short_flags(void **state)
{
    struct logbuf lb = {0};
    struct netbe_opts *o;

    netbe_log_set_sink(capture, &lb);

    o = parse_ok("user,restrict", "type");
    assert_opt(o, 1, "restrict", "on");
    assert_int_equal(lb.count, 1);
    assert_int_equal(lb.level, NETBE_LOG_WARNING);
    assert_string_equal(lb.last,
                        "short-form boolean option 'restrict' deprecated\n"
                        "Please use restrict=on instead");
    netbe_opts_free(o);

    o = parse_ok("user,norestrict", "type");
    assert_opt(o, 1, "restrict", "off");
    assert_int_equal(lb.count, 2);
    assert_string_equal(lb.last,
                        "short-form boolean option 'norestrict' deprecated\n"
                        "Please use restrict=off instead");
    netbe_opts_free(o);

    /* without an implied key even the first element is a flag */
    o = parse_ok("stream", NULL);
    assert_opt(o, 0, "stream", "on");
    assert_int_equal(lb.count, 3);
    netbe_opts_free(o);

    netbe_log_set_sink(NULL, NULL);
}

static void test_parse_repeats(void **state)
{
    struct netbe_opts *o = parse_ok("a=1,b=x,a=2,a=3", NULL);

    /* all kept, in order; the last one wins */
    assert_int_equal(o->n, 4);
    assert_string_equal(netbe_opts_get(o, "a"), "3");
    assert_opt(o, 0, "a", "1");
    netbe_opts_free(o);

    /* except id, which QemuOpts takes from its first occurrence */
    o = parse_ok("user,id=first,id=second", "type");
    assert_int_equal(o->n, 2);
    assert_string_equal(netbe_opts_get(o, "id"), "first");
    netbe_opts_free(o);
}

static void test_parse_errors(void **state)
{
    struct logbuf lb = {0};

    netbe_log_set_sink(capture, &lb);
    assert_parse_error("=x", "type", "Invalid parameter ''");
    assert_parse_error("user,=x", "type", "Invalid parameter ''");
    assert_parse_error("user,id=u,=", "type", "Invalid parameter ''");
    /* an empty element where a key is due */
    assert_parse_error(",k=v", NULL, "Invalid parameter ''");
    /* "no" alone is the flag "" set to off */
    assert_parse_error("user,no", "type", "Invalid parameter ''");
    netbe_log_set_sink(NULL, NULL);
}

static void test_parse_any(void **state)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o;

    o = netbe_opts_parse_any("{\"type\": \"user\", \"id\": \"u\"}", "type",
                             &err);
    assert_non_null(o);
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "type", "user");
    netbe_opts_free(o);

    o = netbe_opts_parse_any("user,id=u", "type", &err);
    assert_non_null(o);
    assert_opt(o, 0, "type", "user");
    netbe_opts_free(o);

    /* JSON only when '{' is the very first character, as in QEMU */
    o = netbe_opts_parse_any(" {\"a\":1}", "type", &err);
    assert_non_null(o);
    assert_int_equal(o->n, 1);
    assert_opt(o, 0, "type", " {\"a\":1}");
    netbe_opts_free(o);

    assert_null(netbe_opts_parse_any("{\"a\":", "type", &err));
    assert_string_equal(netbe_error_msg(err),
                        "JSON parse error, unexpected end of input");
    netbe_error_free(err);
}

/* ---- JSON ------------------------------------------------------------- */

static void test_json_flatten(void **state)
{
    struct netbe_opts *o = json_ok(
        "{\"type\": \"stream\", \"id\": \"n0\", \"server\": true,"
        " \"addr\": {\"type\": \"unix\", \"path\": \"/tmp/s\"},"
        " \"reconnect\": 5, \"neg\": -3, \"x\": false, \"big\": 4294967296,"
        " \"max\": 18446744073709551615, \"frac\": 1.50,"
        " \"s\": \"a,b\"}");

    assert_int_equal(o->n, 12);
    assert_opt(o, 0, "type", "stream");
    assert_opt(o, 1, "id", "n0");
    assert_opt(o, 2, "server", "on");
    assert_opt(o, 3, "addr.type", "unix");
    assert_opt(o, 4, "addr.path", "/tmp/s");
    assert_opt(o, 5, "reconnect", "5");
    assert_opt(o, 6, "neg", "-3");
    assert_opt(o, 7, "x", "off");
    assert_opt(o, 8, "big", "4294967296");
    assert_opt(o, 9, "max", "18446744073709551615");
    assert_opt(o, 10, "frac", "1.50");
    assert_opt(o, 11, "s", "a,b");
    netbe_opts_free(o);
}

static void test_json_nesting(void **state)
{
    struct netbe_opts *o =
        json_ok("{\"a\": {\"b\": {\"c\": \"deep\", \"d\": 1}, \"e\": \"x\"},"
                " \"empty\": {}, \"f\": \"\"}");

    assert_int_equal(o->n, 4);
    assert_opt(o, 0, "a.b.c", "deep");
    assert_opt(o, 1, "a.b.d", "1");
    assert_opt(o, 2, "a.e", "x");
    assert_opt(o, 3, "f", "");
    assert_false(netbe_opts_has_prefix(o, "empty"));
    netbe_opts_free(o);

    o = json_ok("{}");
    assert_int_equal(o->n, 0);
    netbe_opts_free(o);

    /* white space around the object is fine */
    o = json_ok("  {\"k\": \"v\"}\n ");
    assert_int_equal(o->n, 1);
    netbe_opts_free(o);
}

static void test_json_errors(void **state)
{
    assert_json_error("{\"type\": \"user\", \"hostfwd\": [\"a\"]}",
                      "Invalid parameter type for 'hostfwd', expected: "
                      "string, number, boolean or object");
    assert_json_error("{\"addr\": {\"path\": null}}",
                      "Invalid parameter type for 'addr.path', expected: "
                      "string, number, boolean or object");
    assert_json_error("[1]", "Invalid parameter type for '<anonymous>', "
                             "expected: object");
    assert_json_error("\"stream\"", "Invalid parameter type for "
                                    "'<anonymous>', expected: object");
    assert_json_error("42", "Invalid parameter type for '<anonymous>', "
                            "expected: object");
    assert_json_error("", "Expecting a JSON value");
    assert_json_error("   ", "Expecting a JSON value");
    assert_json_error("{\"a\": 1", "JSON parse error, unexpected end of input");
    assert_json_error("{\"a\": 1} x", "Expecting at most one JSON value");
    assert_json_error("{\"a\": 1}{\"b\": 2}",
                      "Expecting at most one JSON value");
    assert_json_error("{\"a\" 1}", "JSON parse error at offset 5: "
                                   "object property name separator ':' "
                                   "expected");
    assert_json_error("{\"a\": @}", "JSON parse error at offset 6: "
                                    "unexpected character");
    assert_json_error("{\"a\": \"x\\u0000y\"}",
                      "Parameter 'a' must not contain a NUL character");
}

/* ---- list operations -------------------------------------------------- */

static void test_new_set_unset(void **state)
{
    struct netbe_opts *o = netbe_opts_new();

    assert_int_equal(o->n, 0);
    assert_null(netbe_opts_get(o, "a"));

    netbe_opts_set(o, "a", "1");
    netbe_opts_set(o, "b", "2");
    assert_int_equal(o->n, 2);

    /* set replaces every earlier occurrence and goes to the end */
    netbe_opts_free(o);
    o = parse_ok("a=1,b=2,a=3", NULL);
    netbe_opts_set(o, "a", "9");
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "b", "2");
    assert_opt(o, 1, "a", "9");

    /* setting a key to its own current value string is safe */
    netbe_opts_set(o, "a", netbe_opts_get(o, "a"));
    assert_string_equal(netbe_opts_get(o, "a"), "9");

    assert_int_equal(netbe_opts_unset(o, "zz"), 0);
    netbe_opts_set(o, "b", "3");
    netbe_opts_free(o);

    o = parse_ok("a=1,b=2,a=3,c=4,a=5", NULL);
    assert_int_equal(netbe_opts_unset(o, "a"), 3);
    assert_int_equal(o->n, 2);
    assert_opt(o, 0, "b", "2");
    assert_opt(o, 1, "c", "4");
    assert_null(netbe_opts_get(o, "a"));
    netbe_opts_free(o);

    netbe_opts_free(NULL);
}

static void test_has_prefix(void **state)
{
    struct netbe_opts *o = parse_ok("addr.type=unix,address=x,server=on", NULL);

    assert_true(netbe_opts_has_prefix(o, "addr"));
    assert_true(netbe_opts_has_prefix(o, "addr.type"));
    assert_true(netbe_opts_has_prefix(o, "address"));
    assert_true(netbe_opts_has_prefix(o, "server"));
    assert_false(netbe_opts_has_prefix(o, "add"));
    assert_false(netbe_opts_has_prefix(o, "serv"));
    assert_false(netbe_opts_has_prefix(o, "addr.ty"));
    netbe_opts_free(o);
}

static void test_dup_and_to_string(void **state)
{
    struct netbe_opts *o, *d, *back;
    char *s;
    size_t i;

    o = parse_ok("user,id=u,hostfwd=tcp::1-:22,,x,k=,a.b=c,k=2", "type");
    d = netbe_opts_dup(o);
    netbe_opts_free(o);
    assert_int_equal(d->n, 6);
    assert_opt(d, 2, "hostfwd", "tcp::1-:22,x");

    s = netbe_opts_to_string(d);
    assert_string_equal(s, "type=user,id=u,hostfwd=tcp::1-:22,,x,k=,a.b=c,"
                           "k=2");
    /* what it prints reads back to the same list */
    back = parse_ok(s, NULL);
    assert_int_equal(back->n, d->n);
    for (i = 0; i < d->n; i++) {
        assert_opt(back, i, d->v[i].key, d->v[i].value);
    }
    free(s);
    netbe_opts_free(back);

    /* values full of commas */
    netbe_opts_set(d, "z", ",,a,");
    s = netbe_opts_to_string(d);
    back = parse_ok(s, NULL);
    assert_string_equal(netbe_opts_get(back, "z"), ",,a,");
    free(s);
    netbe_opts_free(back);
    netbe_opts_free(d);

    o = netbe_opts_new();
    s = netbe_opts_to_string(o);
    assert_string_equal(s, "");
    free(s);
    d = netbe_opts_dup(o);
    assert_int_equal(d->n, 0);
    netbe_opts_free(d);
    netbe_opts_free(o);
}

static void test_typed_getters(void **state)
{
    struct netbe_opts *o = parse_ok(
        "t=on,f=off,y=yes,n=no,tr=true,n1=42,hex=0x10,neg=-5,sz=1k,sz2=2M,"
        "sz3=4096,b=1.5k",
        NULL);

    assert_true(netbe_opts_get_bool(o, "t", false));
    assert_false(netbe_opts_get_bool(o, "f", true));
    assert_true(netbe_opts_get_bool(o, "y", false));
    assert_false(netbe_opts_get_bool(o, "n", true));
    assert_true(netbe_opts_get_bool(o, "tr", false));
    assert_true(netbe_opts_get_bool(o, "absent", true));
    assert_false(netbe_opts_get_bool(o, "absent", false));

    assert_int_equal(netbe_opts_get_number(o, "n1", 0), 42);
    assert_int_equal(netbe_opts_get_number(o, "hex", 0), 16);
    assert_int_equal((int64_t)netbe_opts_get_number(o, "neg", 0), -5);
    assert_int_equal(netbe_opts_get_number(o, "absent", 77), 77);

    assert_int_equal(netbe_opts_get_size(o, "sz", 0), 1024);
    assert_int_equal(netbe_opts_get_size(o, "sz2", 0), 2 * 1024 * 1024);
    assert_int_equal(netbe_opts_get_size(o, "sz3", 0), 4096);
    assert_int_equal(netbe_opts_get_size(o, "b", 0), 1536);
    assert_int_equal(netbe_opts_get_size(o, "absent", 5), 5);
    netbe_opts_free(o);

    /* JSON booleans and numbers read back through the same getters */
    o = json_ok("{\"on\": true, \"off\": false, \"n\": 1234}");
    assert_true(netbe_opts_get_bool(o, "on", false));
    assert_false(netbe_opts_get_bool(o, "off", true));
    assert_int_equal(netbe_opts_get_number(o, "n", 0), 1234);
    netbe_opts_free(o);
}

/* ---- schema ----------------------------------------------------------- */

static const struct netbe_opt_desc test_descs[] = {
    {.name = "server", .type = NETBE_OPT_BOOL, .help = "listen", .def = "off"},
    {.name = "path",
     .type = NETBE_OPT_STRING,
     .required = true,
     .help = "socket path"},
    {.name = "reconnect", .type = NETBE_OPT_NUMBER, .help = "seconds"},
    {.name = "sndbuf", .type = NETBE_OPT_SIZE},
    {.name = "hubid", .type = NETBE_OPT_INT32},
    {.name = "offset", .type = NETBE_OPT_INT},
    {.name = "queues", .type = NETBE_OPT_UINT32},
    {.name = "port", .type = NETBE_OPT_UINT16},
    {.name = "addr.*", .type = NETBE_OPT_STRING},
    {0},
};

static const struct netbe_schema test_schema = {
    .type = "test",
    .opts = test_descs,
};

static int check_str(const char *str, const struct netbe_schema *schema,
                     struct netbe_error **err)
{
    struct netbe_opts *o = parse_ok(str, "type");
    int ret = netbe_opts_check(o, schema, err);

    netbe_opts_free(o);
    return ret;
}

static void assert_check_ok(const char *str)
{
    struct netbe_error *err = NULL;

    if (check_str(str, &test_schema, &err) < 0) {
        fail_msg("'%s' refused: %s", str, netbe_error_msg(err));
    }
    assert_null(err);
}

static void assert_check_error(const char *str, const char *msg)
{
    struct netbe_error *err = NULL;

    assert_int_equal(check_str(str, &test_schema, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
}

static void test_check_ok(void **state)
{
    assert_check_ok("test,id=t0,path=/x");
    assert_check_ok("test,path=/x,server=on,reconnect=0x10,sndbuf=1M,"
                    "hubid=-1,offset=-9223372036854775808,queues=4294967295,"
                    "port=65535");
    assert_check_ok("test,path=/x,server=yes,server=false,server=y");
    /* type and id always allowed, even with an empty schema */
    {
        static const struct netbe_opt_desc none[] = {{0}};
        static const struct netbe_schema empty = {.type = "e", .opts = none};
        struct netbe_error *err = NULL;

        assert_int_equal(check_str("e,id=a", &empty, &err), 0);
        assert_int_equal(check_str("e,id=a,x=1", &empty, &err), -1);
        assert_string_equal(netbe_error_msg(err), "Invalid parameter 'x'");
        netbe_error_free(err);
    }
    /* a wildcard accepts anything below its prefix */
    assert_check_ok("test,path=/x,addr.type=unix,addr.path=/s,addr.a.b=1");
    /* a repeated key is judged by its last value */
    assert_check_ok("test,path=/x,server=bad,server=on");
    /* an empty string is a string */
    assert_check_ok("test,path=");
}

static void test_check_messages(void **state)
{
    assert_check_error("test,path=/x,bogus=1", "Invalid parameter 'bogus'");
    assert_check_error("test,path=/x,help", "Invalid parameter 'help'");
    assert_check_error("test,path=/x,addr=1", "Invalid parameter 'addr'");
    assert_check_error("test,path=/x,addr.=1", "Invalid parameter 'addr.'");
    assert_check_error("test,path=/x,address.x=1",
                       "Invalid parameter 'address.x'");
    assert_check_error("test,path=/x,path.x=1", "Invalid parameter 'path.x'");
    assert_check_error("test,id=t", "Parameter 'path' is missing");
    /* missing is found before unknown, as QEMU visits members first */
    assert_check_error("test,bogus=1", "Parameter 'path' is missing");

    assert_check_error("test,path=/x,server=maybe",
                       "Parameter 'server' expects 'on' or 'off'");
    assert_check_error("test,path=/x,server=",
                       "Parameter 'server' expects 'on' or 'off'");
    assert_check_error("test,path=/x,server=ON",
                       "Parameter 'server' expects 'on' or 'off'");
    assert_check_error("test,path=/x,server=on,server=1",
                       "Parameter 'server' expects 'on' or 'off'");

    assert_check_error("test,path=/x,reconnect=x",
                       "Parameter 'reconnect' expects a uint64 value");
    assert_check_error("test,path=/x,reconnect=-1",
                       "Parameter 'reconnect' expects a uint64 value");
    assert_check_error("test,path=/x,reconnect=",
                       "Parameter 'reconnect' expects a uint64 value");
    assert_check_error("test,path=/x,reconnect=1k",
                       "Parameter 'reconnect' expects a uint64 value");
    assert_check_error("test,path=/x,reconnect=18446744073709551616",
                       "Parameter 'reconnect' expects a uint64 value");

    assert_check_error("test,path=/x,queues=4294967296",
                       "Parameter 'queues' expects uint32_t");
    assert_check_error("test,path=/x,queues=q",
                       "Parameter 'queues' expects a uint64 value");
    assert_check_error("test,path=/x,port=65536",
                       "Parameter 'port' expects uint16_t");

    /* QEMU 7.2 on -netdev hubport,id=h,hubid=x and out-of-range hubids */
    assert_check_error("test,path=/x,hubid=x",
                       "Parameter 'hubid' expects an int64 value");
    assert_check_error("test,path=/x,hubid=2147483648",
                       "Parameter 'hubid' expects int32_t");
    assert_check_error("test,path=/x,hubid=-2147483649",
                       "Parameter 'hubid' expects int32_t");
    assert_check_error("test,path=/x,offset=9223372036854775808",
                       "Parameter 'offset' expects an int64 value");
    assert_check_error("test,path=/x,offset=1x",
                       "Parameter 'offset' expects an int64 value");

    assert_check_error("test,path=/x,sndbuf=1x",
                       "Parameter 'sndbuf' expects a size value");
    assert_check_error("test,path=/x,sndbuf=-1",
                       "Parameter 'sndbuf' expects a size value");
    assert_check_error("test,path=/x,sndbuf=",
                       "Parameter 'sndbuf' expects a size value");

    assert_check_error("test,id=1abc,path=/x",
                       "Parameter 'id' expects an identifier");
    assert_check_error("test,id=a b,path=/x",
                       "Parameter 'id' expects an identifier");
    assert_check_error("test,id=,path=/x",
                       "Parameter 'id' expects an identifier");
    /* the id is checked before anything else */
    assert_check_error("test,id=-x,bogus=1",
                       "Parameter 'id' expects an identifier");
}

static void test_check_required_wildcard(void **state)
{
    static const struct netbe_opt_desc descs[] = {
        {.name = "server", .type = NETBE_OPT_BOOL},
        {.name = "addr.*", .type = NETBE_OPT_STRING, .required = true},
        {0},
    };
    static const struct netbe_schema schema = {.type = "stream", .opts = descs};
    struct netbe_error *err = NULL;
    struct netbe_opts *o;

    assert_int_equal(check_str("stream,id=s,server=on", &schema, &err), -1);
    assert_string_equal(netbe_error_msg(err), "Parameter 'addr' is missing");
    netbe_error_free(err);
    err = NULL;

    assert_int_equal(
        check_str("stream,id=s,addr.type=unix,addr.path=/s", &schema, &err), 0);

    /* the JSON form passes the same check */
    o = json_ok("{\"type\": \"stream\", \"id\": \"s\", \"server\": false,"
                " \"addr\": {\"type\": \"inet\", \"host\": \"localhost\","
                " \"port\": 1234}}");
    assert_int_equal(netbe_opts_check(o, &schema, &err), 0);
    netbe_opts_free(o);

    o = json_ok("{\"type\": \"stream\", \"id\": \"s\", \"addr\": {}}");
    assert_int_equal(netbe_opts_check(o, &schema, &err), -1);
    assert_string_equal(netbe_error_msg(err), "Parameter 'addr' is missing");
    netbe_error_free(err);
    netbe_opts_free(o);
}

static char *help_text(const struct netbe_schema *schema)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    netbe_schema_print_help(schema, f);
    fclose(f);
    return buf;
}

static void test_help_output(void **state)
{
    static const struct netbe_opt_desc descs[] = {
        {.name = "server",
         .type = NETBE_OPT_BOOL,
         .help = "listen for a connection",
         .def = "off"},
        {.name = "addr.*", .type = NETBE_OPT_STRING, .help = "socket address"},
        {.name = "reconnect",
         .type = NETBE_OPT_NUMBER,
         .help = "seconds between connection attempts",
         .def = "0"},
        {.name = "sndbuf", .type = NETBE_OPT_SIZE, .help = "send buffer"},
        {.name = "hubid", .type = NETBE_OPT_INT, .def = "0"},
        {.name = "a-very-long-option-name",
         .type = NETBE_OPT_STRING,
         .help = "long"},
        {.name = "bare", .type = NETBE_OPT_STRING},
        {.name = "queues", .type = NETBE_OPT_UINT32, .help = "q"},
        {0},
    };
    static const struct netbe_schema schema = {.type = "stream", .opts = descs};
    static const struct netbe_opt_desc none[] = {{0}};
    static const struct netbe_schema empty = {.type = "hubport", .opts = none};
    static const struct netbe_schema anon = {.opts = descs + 6};
    char *text;

    text = help_text(&schema);
    assert_string_equal(
        text,
        "stream options:\n"
        "  a-very-long-option-name=<str> - long\n"
        "  addr.*=<str>           - socket address\n"
        "  bare=<str>\n"
        "  hubid=<int>            - (default: 0)\n"
        "  queues=<uint32>        - q\n"
        "  reconnect=<num>        - seconds between connection attempts "
        "(default: 0)\n"
        "  server=<bool>          - listen for a connection (default: off)\n"
        "  sndbuf=<size>          - send buffer\n");
    free(text);

    text = help_text(&empty);
    assert_string_equal(text, "There are no options for hubport.\n");
    free(text);

    text = help_text(&anon);
    assert_string_equal(text, "Options:\n"
                              "  bare=<str>\n"
                              "  queues=<uint32>        - q\n");
    free(text);
}

/* ---- ipv6-net --------------------------------------------------------- */

static void assert_expand(const char *str, const char *prefix, const char *len)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o = parse_ok(str, "type");

    assert_int_equal(netbe_opts_expand_ipv6_net(o, &err), 0);
    assert_null(err);
    assert_null(netbe_opts_get(o, "ipv6-net"));
    assert_string_equal(netbe_opts_get(o, "ipv6-prefix"), prefix);
    assert_string_equal(netbe_opts_get(o, "ipv6-prefixlen"), len);
    netbe_opts_free(o);
}

static void assert_expand_error(const char *str, const char *msg)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o = parse_ok(str, "type");

    assert_int_equal(netbe_opts_expand_ipv6_net(o, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
    netbe_opts_free(o);
}

static void test_ipv6_net(void **state)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *o;

    assert_expand("user,ipv6-net=fec0::/48", "fec0::", "48");
    assert_expand("user,ipv6-net=fec0::", "fec0::", "64");
    assert_expand("user,ipv6-net=fd00:1:2::/0048", "fd00:1:2::", "48");
    assert_expand("user,ipv6-net=fec0::/0", "fec0::", "0");
    /* the address is not checked here: ipv6-prefix's user checks it */
    assert_expand("user,ipv6-net=/56", "", "56");
    /* the expansion replaces earlier explicit values */
    assert_expand("user,ipv6-prefix=x,ipv6-prefixlen=1,ipv6-net=fec0::/40",
                  "fec0::", "40");
    assert_expand("user,ipv6-net=a::/1,ipv6-net=fec0::/40", "fec0::", "40");

    assert_expand_error("user,ipv6-net=",
                        "Parameter 'ipv6-net' expects a valid IPv6 prefix");
    assert_expand_error("user,ipv6-net=fec0::/",
                        "Parameter 'ipv6-prefixlen' expects a number");
    /* only the first '/' splits, so "b/c" is the length */
    assert_expand_error("user,ipv6-net=a/b/c",
                        "Parameter 'ipv6-prefixlen' expects a number");
    assert_expand_error("user,ipv6-net=fec0::/x",
                        "Parameter 'ipv6-prefixlen' expects a number");
    assert_expand_error("user,ipv6-net=fec0::/48x",
                        "Parameter 'ipv6-prefixlen' expects a number");
    assert_expand_error("user,ipv6-net=fec0::/-1",
                        "Parameter 'ipv6-prefixlen' expects a number");
    assert_expand_error("user,ipv6-net=fec0::/ 48",
                        "Parameter 'ipv6-prefixlen' expects a number");
    assert_expand_error("user,ipv6-net=fec0::/0x30",
                        "Parameter 'ipv6-prefixlen' expects a number");
    assert_expand_error("user,ipv6-net=fec0::/99999999999999999999999",
                        "Parameter 'ipv6-prefixlen' expects a number");

    /* nothing to do without ipv6-net */
    o = parse_ok("user,ipv6-prefix=fec0::", "type");
    assert_int_equal(netbe_opts_expand_ipv6_net(o, &err), 0);
    assert_int_equal(o->n, 2);
    assert_null(netbe_opts_get(o, "ipv6-prefixlen"));
    netbe_opts_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_implied_key),
        cmocka_unit_test(test_parse_commas),
        cmocka_unit_test(test_parse_empty_values),
        cmocka_unit_test(test_parse_dotted),
        cmocka_unit_test(test_parse_help),
        cmocka_unit_test(test_parse_short_flags),
        cmocka_unit_test(test_parse_repeats),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_any),
        cmocka_unit_test(test_json_flatten),
        cmocka_unit_test(test_json_nesting),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_new_set_unset),
        cmocka_unit_test(test_has_prefix),
        cmocka_unit_test(test_dup_and_to_string),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_check_ok),
        cmocka_unit_test(test_check_messages),
        cmocka_unit_test(test_check_required_wildcard),
        cmocka_unit_test(test_help_output),
        cmocka_unit_test(test_ipv6_net),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
