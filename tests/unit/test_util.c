/*
 * test_util.c - src/util: iovec helpers, MAC addresses, host:port with
 * QEMU's error messages, ids, numbers, sizes and booleans.  Name lookups
 * only use "localhost" and names that fail before any DNS traffic.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/error.h"
#include "netbe/log.h"
#include "netbe/util.h"

/* ------------------------------------------------------------------ */
/* iovec helpers                                                      */

#define FLAT_LEN 9
#define MAX_IOV 24

/*
 * Every way to cut FLAT_LEN bytes into pieces (2^(FLAT_LEN-1) layouts),
 * each also tried with zero-length entries at the start, between pieces
 * and at the end.
 */
struct layout {
    struct iovec iov[MAX_IOV];
    int cnt;
};

static void build_layout(struct layout *l, uint8_t *base, unsigned cuts,
                         unsigned zeros)
{
    size_t start = 0, i;

    l->cnt = 0;
    if (zeros & 1) {
        l->iov[l->cnt].iov_base = base;
        l->iov[l->cnt++].iov_len = 0;
    }
    for (i = 1; i <= FLAT_LEN; i++) {
        if (i == FLAT_LEN || (cuts & (1u << (i - 1)))) {
            l->iov[l->cnt].iov_base = base + start;
            l->iov[l->cnt++].iov_len = i - start;
            if ((zeros & 2) && i != FLAT_LEN) {
                l->iov[l->cnt].iov_base = base + i;
                l->iov[l->cnt++].iov_len = 0;
            }
            start = i;
        }
    }
    if (zeros & 4) {
        l->iov[l->cnt].iov_base = NULL;
        l->iov[l->cnt++].iov_len = 0;
    }
}

static size_t expect_len(size_t offset, size_t bytes)
{
    if (offset >= FLAT_LEN) {
        return 0;
    }
    return bytes < FLAT_LEN - offset ? bytes : FLAT_LEN - offset;
}

static void test_iov_layouts(void **state)
{
    uint8_t flat[FLAT_LEN];
    unsigned cuts, zeros;
    size_t offset, bytes, i;

    for (i = 0; i < FLAT_LEN; i++) {
        flat[i] = (uint8_t)(0xa0 + i);
    }
    for (cuts = 0; cuts < (1u << (FLAT_LEN - 1)); cuts++) {
        for (zeros = 0; zeros < 8; zeros++) {
            struct layout l;

            build_layout(&l, flat, cuts, zeros);
            assert_true(l.cnt <= MAX_IOV);
            assert_int_equal(netbe_iov_size(l.iov, l.cnt), FLAT_LEN);

            for (offset = 0; offset <= FLAT_LEN + 2; offset++) {
                for (bytes = 0; bytes <= FLAT_LEN + 2; bytes++) {
                    size_t want = expect_len(offset, bytes);
                    uint8_t out[FLAT_LEN + 4];
                    struct iovec sl[MAX_IOV];
                    size_t got, total = 0;
                    int n, k;

                    memset(out, 0xee, sizeof(out));
                    got = netbe_iov_to_buf(l.iov, l.cnt, offset, out, bytes);
                    assert_int_equal(got, want);
                    if (want) {
                        assert_memory_equal(out, flat + offset, want);
                    }
                    /* Nothing past the copied bytes is written. */
                    for (k = (int)want; k < (int)sizeof(out); k++) {
                        assert_int_equal(out[k], 0xee);
                    }

                    n = netbe_iov_slice(sl, MAX_IOV, l.iov, l.cnt, offset,
                                        bytes);
                    assert_true(n >= 0);
                    for (k = 0; k < n; k++) {
                        /* Points into the source, never empty. */
                        assert_true(sl[k].iov_len > 0);
                        assert_ptr_equal(sl[k].iov_base, flat + offset + total);
                        total += sl[k].iov_len;
                    }
                    assert_int_equal(total, want);
                    if (n > 0) {
                        /* One entry fewer must be refused. */
                        assert_int_equal(netbe_iov_slice(sl, n - 1, l.iov,
                                                         l.cnt, offset, bytes),
                                         -1);
                    }
                }
            }
        }
    }
}

static void test_iov_from_buf_layouts(void **state)
{
    uint8_t flat[FLAT_LEN], src[FLAT_LEN + 4];
    unsigned cuts, zeros;
    size_t offset, bytes, i;

    for (i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(0x10 + i);
    }
    for (cuts = 0; cuts < (1u << (FLAT_LEN - 1)); cuts += 3) {
        for (zeros = 0; zeros < 8; zeros++) {
            struct layout l;

            build_layout(&l, flat, cuts, zeros);
            for (offset = 0; offset <= FLAT_LEN + 1; offset++) {
                for (bytes = 0; bytes <= FLAT_LEN + 1; bytes++) {
                    size_t want = expect_len(offset, bytes);

                    memset(flat, 0x55, sizeof(flat));
                    assert_int_equal(
                        netbe_iov_from_buf(l.iov, l.cnt, offset, src, bytes),
                        want);
                    for (i = 0; i < FLAT_LEN; i++) {
                        if (i >= offset && i < offset + want) {
                            assert_int_equal(flat[i], src[i - offset]);
                        } else {
                            assert_int_equal(flat[i], 0x55);
                        }
                    }
                }
            }
        }
    }
}

static void test_iov_edges(void **state)
{
    uint8_t a[4] = {1, 2, 3, 4}, b[3] = {5, 6, 7}, out[8];
    struct iovec iov[3] = {
        {a, sizeof(a)},
        {NULL, 0},
        {b, sizeof(b)},
    };
    struct iovec dst[3];

    assert_int_equal(netbe_iov_size(iov, 0), 0);
    assert_int_equal(netbe_iov_size(NULL, 0), 0);
    assert_int_equal(netbe_iov_size(iov, -1), 0);
    assert_int_equal(netbe_iov_size(iov, 3), 7);
    assert_int_equal(netbe_iov_to_buf(iov, 0, 0, out, 8), 0);
    assert_int_equal(netbe_iov_to_buf(iov, -2, 0, out, 8), 0);
    assert_int_equal(netbe_iov_to_buf(iov, 3, 7, out, 8), 0);
    assert_int_equal(netbe_iov_to_buf(iov, 3, SIZE_MAX, out, 8), 0);
    assert_int_equal(netbe_iov_to_buf(iov, 3, 3, out, SIZE_MAX), 4);
    assert_int_equal(out[0], 4);
    assert_int_equal(out[3], 7);
    assert_int_equal(netbe_iov_from_buf(iov, 3, 0, out, 0), 0);

    /* Empty slices need no room at all. */
    assert_int_equal(netbe_iov_slice(dst, 0, iov, 3, 2, 0), 0);
    assert_int_equal(netbe_iov_slice(dst, 0, iov, 3, 7, 5), 0);
    assert_int_equal(netbe_iov_slice(dst, 0, iov, 3, 2, 1), -1);
    /* A range past the end is clipped to the data there is. */
    assert_int_equal(netbe_iov_slice(dst, 3, iov, 3, 2, 100), 2);
    assert_ptr_equal(dst[0].iov_base, a + 2);
    assert_int_equal(dst[0].iov_len, 2);
    assert_ptr_equal(dst[1].iov_base, b);
    assert_int_equal(dst[1].iov_len, 3);
    assert_int_equal(netbe_iov_slice(dst, 3, iov, 3, 4, 2), 1);
    assert_ptr_equal(dst[0].iov_base, b);
    assert_int_equal(dst[0].iov_len, 2);
}

/* ------------------------------------------------------------------ */
/* MAC addresses                                                      */

static void assert_mac(const uint8_t *mac, const char *want)
{
    char buf[NETBE_MAC_STRLEN];

    netbe_mac_format(buf, mac);
    assert_string_equal(buf, want);
}

static void test_mac_parse_ok(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"52:54:00:12:34:56", "52:54:00:12:34:56"},
        {"52-54-00-12-34-56", "52:54:00:12:34:56"},
        {"52:54-00:12-34:56", "52:54:00:12:34:56"},
        {"AA:bb:Cc:dD:EE:ff", "aa:bb:cc:dd:ee:ff"},
        {"2:4:0:1:3:5", "02:04:00:01:03:05"},
        /* strtol base 16 per octet: 0x prefix, blanks, '+', long runs. */
        {"0x52:0X54:00:12:34:56", "52:54:00:12:34:56"},
        {" 52: 54:+00:12:34:56", "52:54:00:12:34:56"},
        {"152:54:00:12:34:0056", "52:54:00:12:34:56"},
        /* An empty octet reads as 0, as in QEMU. */
        {":::::", "00:00:00:00:00:00"},
        {"52::00:12:34:", "52:00:00:12:34:00"},
    };
    size_t i;

    for (i = 0; i < NETBE_ARRAY_SIZE(cases); i++) {
        uint8_t mac[6] = {9, 9, 9, 9, 9, 9};

        assert_int_equal(netbe_mac_parse(mac, cases[i].in), 0);
        assert_mac(mac, cases[i].out);
    }
}

static void test_mac_parse_number(void **state)
{
    /* A lone number sets only the last three octets. */
    uint8_t mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};

    assert_int_equal(netbe_mac_parse(mac, "0x123456"), 0);
    assert_mac(mac, "52:54:00:12:34:56");
    assert_int_equal(netbe_mac_parse(mac, "16"), 0);
    assert_mac(mac, "52:54:00:00:00:10");
    assert_int_equal(netbe_mac_parse(mac, "010"), 0);
    assert_mac(mac, "52:54:00:00:00:08");
    assert_int_equal(netbe_mac_parse(mac, "0xffffff"), 0);
    assert_mac(mac, "52:54:00:ff:ff:ff");
    assert_int_equal(netbe_mac_parse(mac, ""), 0);
    assert_mac(mac, "52:54:00:00:00:00");
    /* Too big or negative: not a number form, and not six octets. */
    assert_int_equal(netbe_mac_parse(mac, "0x1000000"), -1);
    assert_int_equal(netbe_mac_parse(mac, "-1"), -1);
    assert_int_equal(netbe_mac_parse(mac, "12q"), -1);
    assert_mac(mac, "52:54:00:00:00:00");
}

static void test_mac_parse_bad(void **state)
{
    static const char *const bad[] = {
        "52:54:00:12:34",     "52:54:00:12:34:56:78", "52:54:00:12:34:56:",
        "52:54:00:12:34:56 ", "52.54.00.12.34.56",    "52:54:00:12:34:5g",
        "52:54:00:12:34;56",  "52 54 00 12 34 56",    "g2:54:00:12:34:56",
        "52:54:00:12:34:56x", "52:54:00:12:34::56",   "::::",
    };
    size_t i;

    for (i = 0; i < NETBE_ARRAY_SIZE(bad); i++) {
        uint8_t mac[6] = {1, 2, 3, 4, 5, 6};

        assert_int_equal(netbe_mac_parse(mac, bad[i]), -1);
        /* A failed parse leaves the address alone. */
        assert_mac(mac, "01:02:03:04:05:06");
    }
}

static void test_mac_format_and_class(void **state)
{
    static const uint8_t zero[6] = {0};
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    static const uint8_t ucast[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
    static const uint8_t almost[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    static const uint8_t low[6] = {0, 0, 0, 0, 0, 1};
    static const uint8_t local[6] = {0x02, 0, 0, 0, 0, 0};

    assert_mac(ucast, "52:54:00:ab:cd:ef");
    assert_mac(zero, "00:00:00:00:00:00");
    assert_mac(bcast, "ff:ff:ff:ff:ff:ff");

    assert_true(netbe_mac_is_zero(zero));
    assert_false(netbe_mac_is_zero(low));
    assert_false(netbe_mac_is_zero(local));

    assert_true(netbe_mac_is_broadcast(bcast));
    assert_false(netbe_mac_is_broadcast(almost));
    assert_false(netbe_mac_is_broadcast(zero));

    assert_true(netbe_mac_is_multicast(mcast));
    assert_true(netbe_mac_is_multicast(bcast));
    assert_false(netbe_mac_is_multicast(ucast));
    assert_false(netbe_mac_is_multicast(local));
    assert_false(netbe_mac_is_multicast(zero));
}

/* ------------------------------------------------------------------ */
/* host:port                                                          */

static void expect_hp(const char *str, const char *ip, unsigned port)
{
    struct netbe_error *err = NULL;
    struct sockaddr_in sa;
    char buf[INET_ADDRSTRLEN];

    memset(&sa, 0xa5, sizeof(sa));
    if (netbe_parse_host_port(&sa, str, &err) != 0) {
        fail_msg("'%s': %s", str, netbe_error_msg(err));
    }
    assert_null(err);
    assert_int_equal(sa.sin_family, AF_INET);
    assert_non_null(inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof(buf)));
    assert_string_equal(buf, ip);
    assert_int_equal(ntohs(sa.sin_port), port);
    /* The padding is cleared, so the struct can go straight to bind(). */
    assert_true(sa.sin_zero[0] == 0 && sa.sin_zero[7] == 0);
}

static void expect_hp_error(const char *str, const char *msg)
{
    struct netbe_error *err = NULL;
    struct sockaddr_in sa;

    assert_int_equal(netbe_parse_host_port(&sa, str, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
    /* A NULL errp is allowed and still reports failure. */
    assert_int_equal(netbe_parse_host_port(&sa, str, NULL), -1);
}

static void test_host_port_ok(void **state)
{
    expect_hp("127.0.0.1:1234", "127.0.0.1", 1234);
    expect_hp("10.0.2.15:0", "10.0.2.15", 0);
    expect_hp(":5555", "0.0.0.0", 5555);
    expect_hp("localhost:80", "127.0.0.1", 80);
    expect_hp("230.0.0.1:1234", "230.0.0.1", 1234);
    /* inet_aton shorthand and bases. */
    expect_hp("127.1:22", "127.0.0.1", 22);
    expect_hp("0x7f000001:22", "127.0.0.1", 22);
    /* The port is strtol base 0, ending wherever the digits end. */
    expect_hp("1.2.3.4:0x10", "1.2.3.4", 16);
    expect_hp("1.2.3.4:010", "1.2.3.4", 8);
    expect_hp("1.2.3.4: 99", "1.2.3.4", 99);
    expect_hp("1.2.3.4:80abc", "1.2.3.4", 80);
    expect_hp("1.2.3.4:80:90", "1.2.3.4", 80);
    /* No range check: truncated to 16 bits like QEMU. */
    expect_hp("1.2.3.4:65536", "1.2.3.4", 0);
    expect_hp("1.2.3.4:65537", "1.2.3.4", 1);
    expect_hp("1.2.3.4:-1", "1.2.3.4", 65535);
}

static void test_host_port_errors(void **state)
{
    struct sockaddr_in sa;

    expect_hp_error("127.0.0.1", "host address '127.0.0.1' doesn't contain "
                                 "':' separating host from port");
    expect_hp_error("", "host address '' doesn't contain ':' separating "
                        "host from port");
    expect_hp_error("localhost", "host address 'localhost' doesn't contain "
                                 "':' separating host from port");
    expect_hp_error("1.2.3.4.5:80",
                    "host address '1.2.3.4.5' is not a valid IPv4 address");
    expect_hp_error("300.1.1.1:80",
                    "host address '300.1.1.1' is not a valid IPv4 address");
    expect_hp_error("1.2.3.x:80",
                    "host address '1.2.3.x' is not a valid IPv4 address");
    /* Empty DNS labels fail inside the resolver, before any query. */
    expect_hp_error("bad..name:80", "can't resolve host address 'bad..name'");
    expect_hp_error("a..b:1", "can't resolve host address 'a..b'");
    expect_hp_error("1.2.3.4:", "port number '' is invalid");
    expect_hp_error("1.2.3.4:http", "port number 'http' is invalid");
    expect_hp_error(":x1", "port number 'x1' is invalid");
    expect_hp_error("::1", "port number ':1' is invalid");

    /* Without a ':' the address is left all zero. */
    memset(&sa, 0xff, sizeof(sa));
    assert_int_equal(netbe_parse_host_port(&sa, "nocolon", NULL), -1);
    assert_int_equal(sa.sin_family, 0);
    assert_int_equal(sa.sin_port, 0);
    assert_int_equal(sa.sin_addr.s_addr, 0);
}

static void test_host_port_first_error_wins(void **state)
{
    struct netbe_error *err = NULL;
    struct sockaddr_in sa;

    netbe_error_setg(&err, "earlier");
    assert_int_equal(netbe_parse_host_port(&sa, "x", &err), -1);
    assert_string_equal(netbe_error_msg(err), "earlier");
    netbe_error_free(err);
}

/* ------------------------------------------------------------------ */
/* ids, numbers, sizes, booleans                                      */

static void test_id_wellformed(void **state)
{
    assert_true(netbe_id_wellformed("net0"));
    assert_true(netbe_id_wellformed("n"));
    assert_true(netbe_id_wellformed("Hub-1.port_2"));
    assert_true(netbe_id_wellformed("a-._9"));
    assert_false(netbe_id_wellformed(""));
    assert_false(netbe_id_wellformed("0net"));
    assert_false(netbe_id_wellformed("_net"));
    assert_false(netbe_id_wellformed("-net"));
    assert_false(netbe_id_wellformed(".net"));
    assert_false(netbe_id_wellformed("#net0"));
    assert_false(netbe_id_wellformed("net 0"));
    assert_false(netbe_id_wellformed("net,0"));
    assert_false(netbe_id_wellformed("net=0"));
    assert_false(netbe_id_wellformed("net/0"));
    assert_false(netbe_id_wellformed("net0\n"));
    assert_false(netbe_id_wellformed("n\xc3\xa9t"));
    assert_false(netbe_id_wellformed("\xc3\xa9t"));
    assert_false(netbe_id_wellformed(NULL));
}

static void test_parse_uint(void **state)
{
    static const struct {
        const char *in;
        uint64_t out;
    } ok[] = {
        {"0", 0},
        {"42", 42},
        {"0x2a", 42},
        {"0X2A", 42},
        {"052", 42},
        {"00", 0},
        {" 7", 7},
        {"+7", 7},
        {"18446744073709551615", UINT64_MAX},
        {"0xffffffffffffffff", UINT64_MAX},
    };
    static const char *const bad[] = {
        "",
        " ",
        "-1",
        "-0",
        " -5",
        "12a",
        "12 ",
        "0x",
        "08",
        "1.5",
        "abc",
        "1k",
        "0xg",
        "18446744073709551616",
        "0x10000000000000000",
    };
    size_t i;

    for (i = 0; i < NETBE_ARRAY_SIZE(ok); i++) {
        uint64_t v = 12345;

        assert_int_equal(netbe_parse_uint(ok[i].in, &v), 0);
        assert_int_equal(v, ok[i].out);
    }
    for (i = 0; i < NETBE_ARRAY_SIZE(bad); i++) {
        uint64_t v = 12345;

        if (netbe_parse_uint(bad[i], &v) != -1) {
            fail_msg("'%s' accepted", bad[i]);
        }
        assert_int_equal(v, 12345);
    }
    assert_int_equal(netbe_parse_uint(NULL, &(uint64_t){0}), -1);
}

static int warnings;
static char last_warning[256];

static void capture(enum netbe_log_level level, const char *msg, void *opaque)
{
    if (level == NETBE_LOG_WARNING) {
        warnings++;
        snprintf(last_warning, sizeof(last_warning), "%s", msg);
    }
}

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)
#define PiB (1ULL << 50)
#define EiB (1ULL << 60)

static void test_parse_size(void **state)
{
    static const struct {
        const char *in;
        uint64_t out;
    } ok[] = {
        {"0", 0},
        {"1", 1},
        {"1B", 1},
        {"1b", 1},
        {"1k", KiB},
        {"1K", KiB},
        {"1m", MiB},
        {"1M", MiB},
        {"2G", 2 * GiB},
        {"2g", 2 * GiB},
        {"3T", 3 * TiB},
        {"4P", 4 * PiB},
        {"1E", EiB},
        {"15E", 15 * EiB},
        {"1.5M", MiB + MiB / 2},
        {"1.5k", 1536},
        {"0.5k", 512},
        {"1.0", 1},
        {"1.", 1},
        {"1.k", KiB},
        {"12.345M", 12944671},
        /* 2^-11 KiB is exactly half a byte: rounds up. */
        {"0.00048828125k", 1},
        {"0.0001k", 0},
        {"1.5E", EiB + EiB / 2},
        {" 64k", 64 * KiB},
        {"+64k", 64 * KiB},
        {"010", 10},
        {"0x10", 16},
        {"0X1f", 31},
        {"0x1E", 30},
        {"18446744073709551615", UINT64_MAX},
        {"18446744073709551615B", UINT64_MAX},
        {"17179869183G", 17179869183ULL * GiB},
    };
    static const char *const bad[] = {
        "",
        " ",
        "k",
        "-1",
        "-0",
        " -1k",
        "1-",
        "1kB",
        "1KiB",
        "1 k",
        "1k ",
        "1x",
        "1.5",
        "1.5B",
        "1.5e3",
        "1.5E3",
        "1e3",
        ".5k",
        "1..5k",
        "0x",
        "0x1.5",
        "0x1.5k",
        "16E",
        "16384P",
        "17179869184G",
        "18446744073709551616",
        "0x10000000000000000",
        "1.5 k",
        "inf",
        "nan",
        "1,5k",
    };
    uint64_t v;
    size_t i;

    netbe_log_set_sink(capture, NULL);
    warnings = 0;
    for (i = 0; i < NETBE_ARRAY_SIZE(ok); i++) {
        v = 12345;
        if (netbe_parse_size(ok[i].in, &v) != 0) {
            fail_msg("'%s' refused", ok[i].in);
        }
        if (v != ok[i].out) {
            fail_msg("'%s' gave %llu", ok[i].in, (unsigned long long)v);
        }
    }
    for (i = 0; i < NETBE_ARRAY_SIZE(bad); i++) {
        v = 12345;
        if (netbe_parse_size(bad[i], &v) != -1) {
            fail_msg("'%s' accepted", bad[i]);
        }
        assert_int_equal(v, 12345);
    }
    assert_int_equal(warnings, 0);
    assert_int_equal(netbe_parse_size(NULL, &v), -1);

    /* Hex with a suffix: deprecated in QEMU 7.2, accepted with a warning. */
    assert_int_equal(netbe_parse_size("0x10k", &v), 0);
    assert_int_equal(v, 16 * KiB);
    assert_int_equal(warnings, 1);
    assert_string_equal(last_warning, "Using a multiplier suffix on hex "
                                      "numbers is deprecated: 0x10k");
    netbe_log_set_sink(NULL, NULL);
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = {"on", "yes", "true", "y"};
    static const char *const no[] = {"off", "no", "false", "n"};
    static const char *const bad[] = {
        "",    "ON",  "Off", "TRUE", "Yes",  "1",     "0", "enable",
        "on ", " on", "of",  "tru",  "yess", "onoff", "Y", "N",
    };
    size_t i;

    for (i = 0; i < NETBE_ARRAY_SIZE(yes); i++) {
        bool b = false;

        assert_int_equal(netbe_parse_bool(yes[i], &b), 0);
        assert_true(b);
    }
    for (i = 0; i < NETBE_ARRAY_SIZE(no); i++) {
        bool b = true;

        assert_int_equal(netbe_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (i = 0; i < NETBE_ARRAY_SIZE(bad); i++) {
        bool b = true;

        if (netbe_parse_bool(bad[i], &b) != -1) {
            fail_msg("'%s' accepted", bad[i]);
        }
        assert_true(b);
    }
    assert_int_equal(netbe_parse_bool(NULL, &(bool){false}), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iov_layouts),
        cmocka_unit_test(test_iov_from_buf_layouts),
        cmocka_unit_test(test_iov_edges),
        cmocka_unit_test(test_mac_parse_ok),
        cmocka_unit_test(test_mac_parse_number),
        cmocka_unit_test(test_mac_parse_bad),
        cmocka_unit_test(test_mac_format_and_class),
        cmocka_unit_test(test_host_port_ok),
        cmocka_unit_test(test_host_port_errors),
        cmocka_unit_test(test_host_port_first_error_wins),
        cmocka_unit_test(test_id_wellformed),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_bool),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
