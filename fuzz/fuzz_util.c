/*
 * fuzz_util.c - libFuzzer target for the string parsers of
 * include/netbe/util.h: MAC addresses, host:port, unsigned numbers,
 * sizes, booleans and ids, which every option value goes through.
 *
 * Each parser gets the whole input.  Properties: what a parser accepted
 * prints in its canonical form and parses back to the same value; a
 * failed MAC parse leaves the caller's bytes alone (as mac.c promises);
 * booleans and ids match a plain statement of QEMU's rules.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "fuzzlib.h"
#include "netbe/util.h"

static void fuzz_mac(const char *str)
{
    static const uint8_t prefill[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
    uint8_t mac[6], back[6] = {0};
    char text[NETBE_MAC_STRLEN];

    memcpy(mac, prefill, sizeof(mac));
    if (netbe_mac_parse(mac, str) < 0) {
        FZ_CHECK(!memcmp(mac, prefill, sizeof(mac)), "'%s' failed but wrote",
                 str);
        return;
    }
    netbe_mac_format(text, mac);
    FZ_CHECK(netbe_mac_parse(back, text) == 0 && !memcmp(mac, back, 6),
             "'%s' formats as '%s', which reads back otherwise", str, text);
}

static void fuzz_uint(const char *str)
{
    uint64_t v, back;
    char text[32];

    if (netbe_parse_uint(str, &v) < 0) {
        return;
    }
    snprintf(text, sizeof(text), "%" PRIu64, v);
    FZ_CHECK(netbe_parse_uint(text, &back) == 0 && back == v,
             "'%s' is %" PRIu64 ", which reads back otherwise", str, v);
    snprintf(text, sizeof(text), "0x%" PRIx64, v);
    FZ_CHECK(netbe_parse_uint(text, &back) == 0 && back == v,
             "'%s' is %s, which reads back otherwise", str, text);
}

static void fuzz_size(const char *str)
{
    uint64_t v, back;
    char text[32];

    if (netbe_parse_size(str, &v) < 0) {
        return;
    }
    snprintf(text, sizeof(text), "%" PRIu64, v);
    FZ_CHECK(netbe_parse_size(text, &back) == 0 && back == v,
             "'%s' is %" PRIu64 ", which reads back otherwise", str, v);
    /* A multiple of 1 KiB reads the same with the suffix. */
    if (v % 1024 == 0) {
        snprintf(text, sizeof(text), "%" PRIu64 "k", v / 1024);
        FZ_CHECK(netbe_parse_size(text, &back) == 0 && back == v,
                 "'%s' is %s, which reads back otherwise", str, text);
    }
}

static void fuzz_bool(const char *str)
{
    static const char *const yes[] = {"on", "yes", "true", "y"};
    static const char *const no[] = {"off", "no", "false", "n"};
    int expect = -1;
    bool b = false;
    size_t i;

    for (i = 0; i < 4; i++) {
        if (!strcmp(str, yes[i])) {
            expect = 1;
        } else if (!strcmp(str, no[i])) {
            expect = 0;
        }
    }
    if (netbe_parse_bool(str, &b) < 0) {
        FZ_CHECK(expect == -1, "'%s' refused", str);
    } else {
        FZ_CHECK(expect == (int)b, "'%s' read as %d", str, (int)b);
    }
}

static void fuzz_id(const char *str)
{
    bool expect = isalpha((unsigned char)str[0]) && (unsigned char)str[0] < 128;
    const char *p;

    for (p = str + 1; expect && *p; p++) {
        unsigned char c = (unsigned char)*p;

        expect = c < 128 && (isalnum(c) || c == '-' || c == '.' || c == '_');
    }
    FZ_CHECK(netbe_id_wellformed(str) == expect, "id '%s': %d", str,
             (int)netbe_id_wellformed(str));
}

static void fuzz_host_port(const char *str)
{
    const char *colon = strchr(str, ':');
    struct netbe_error *err = NULL;
    struct sockaddr_in sa, back;
    char text[64];

    /*
     * A host that starts with a letter is looked up with getaddrinfo(),
     * i.e. maybe in DNS: a fuzzer must not depend on the network, and the
     * resolver's code is not ours to fuzz.
     */
    if (colon && colon != str && !isdigit((unsigned char)str[0])) {
        return;
    }
    if (netbe_parse_host_port(&sa, str, &err) < 0) {
        FZ_CHECK(err && *netbe_error_msg(err), "'%s' failed without an error",
                 str);
        netbe_error_free(err);
        return;
    }
    FZ_CHECK(!err, "'%s' parsed with an error", str);
    FZ_CHECK(sa.sin_family == AF_INET, "'%s': family %d", str, sa.sin_family);
    snprintf(text, sizeof(text), "%s:%u", inet_ntoa(sa.sin_addr),
             (unsigned)ntohs(sa.sin_port));
    FZ_CHECK(netbe_parse_host_port(&back, text, NULL) == 0 &&
                 back.sin_addr.s_addr == sa.sin_addr.s_addr &&
                 back.sin_port == sa.sin_port,
             "'%s' is '%s', which reads back otherwise", str, text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *str = fz_cstr(data, size);

    fuzz_mac(str);
    fuzz_uint(str);
    fuzz_size(str);
    fuzz_bool(str);
    fuzz_id(str);
    fuzz_host_port(str);
    free(str);
    return 0;
}
