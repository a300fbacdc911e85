/*
 * test_crc32.c - the table-driven netbe_crc32_be()/netbe_crc32_le() must
 * return exactly what QEMU's bit-at-a-time net_crc32()/net_crc32_le()
 * return.  The reference loops below redo that bit-serial math directly
 * (including the BE loop's "xor 0x04c11db6, then or in the carry" step)
 * so the tables are checked against an independent formulation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/util.h"

#define REF_POLY_BE 0x04c11db6u
#define REF_POLY_LE 0xedb88320u

static uint32_t ref_crc32_be(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    size_t i;
    int bit;

    for (i = 0; i < len; i++) {
        uint8_t b = p[i];

        for (bit = 0; bit < 8; bit++) {
            uint32_t carry = (crc >> 31) ^ (b & 1u);

            crc <<= 1;
            b >>= 1;
            if (carry) {
                crc = (crc ^ REF_POLY_BE) | carry;
            }
        }
    }
    return crc;
}

static uint32_t ref_crc32_le(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffffu;
    size_t i;
    int bit;

    for (i = 0; i < len; i++) {
        uint8_t b = p[i];

        for (bit = 0; bit < 8; bit++) {
            uint32_t carry = (crc & 1u) ^ (b & 1u);

            crc >>= 1;
            b >>= 1;
            if (carry) {
                crc ^= REF_POLY_LE;
            }
        }
    }
    return crc;
}

static uint32_t bitrev32(uint32_t v)
{
    uint32_t r = 0;
    int i;

    for (i = 0; i < 32; i++) {
        r = (r << 1) | ((v >> i) & 1u);
    }
    return r;
}

/* xorshift64*: deterministic data independent of the C library. */
static uint64_t rng_state;

static uint8_t rng_byte(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint8_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 56);
}

static void test_empty(void **state)
{
    uint8_t dummy = 0x5a;

    assert_int_equal(netbe_crc32_be(&dummy, 0), 0xffffffffu);
    assert_int_equal(netbe_crc32_le(&dummy, 0), 0xffffffffu);
    assert_int_equal(netbe_crc32_be(NULL, 0), 0xffffffffu);
    assert_int_equal(netbe_crc32_le(NULL, 0), 0xffffffffu);
    assert_int_equal(ref_crc32_be(&dummy, 0), 0xffffffffu);
}

static void test_all_single_bytes(void **state)
{
    unsigned v;

    for (v = 0; v < 256; v++) {
        uint8_t b = (uint8_t)v;

        assert_int_equal(netbe_crc32_be(&b, 1), ref_crc32_be(&b, 1));
        assert_int_equal(netbe_crc32_le(&b, 1), ref_crc32_le(&b, 1));
    }
}

static void test_all_byte_pairs(void **state)
{
    unsigned v;

    for (v = 0; v < 65536; v++) {
        uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

        assert_int_equal(netbe_crc32_be(b, 2), ref_crc32_be(b, 2));
        assert_int_equal(netbe_crc32_le(b, 2), ref_crc32_le(b, 2));
    }
}

static void test_random_buffers(void **state)
{
    static uint8_t buf[4096 + 8];
    size_t len, off, i;
    int round;

    rng_state = 0x9e3779b97f4a7c15ULL;
    for (round = 0; round < 4; round++) {
        for (i = 0; i < sizeof(buf); i++) {
            buf[i] = rng_byte();
        }
        /* Every length up to 300, then a spread up to 4 KiB. */
        for (len = 0; len <= 4096; len = len < 300 ? len + 1 : len * 3 / 2) {
            /* Unaligned starts too; the tables read bytes one by one. */
            for (off = 0; off < 4; off++) {
                const uint8_t *p = buf + off;

                assert_int_equal(netbe_crc32_be(p, len), ref_crc32_be(p, len));
                assert_int_equal(netbe_crc32_le(p, len), ref_crc32_le(p, len));
            }
        }
        assert_int_equal(netbe_crc32_be(buf, 4096), ref_crc32_be(buf, 4096));
        assert_int_equal(netbe_crc32_le(buf, 4096), ref_crc32_le(buf, 4096));
    }
}

static void test_known_vectors(void **state)
{
    static const uint8_t check[] = "123456789";
    static const uint8_t fox[] = "The quick brown fox jumps over the lazy dog";
    static const uint8_t zero = 0x00, ones = 0xff;
    static const uint8_t mc_v4[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    static const uint8_t mc_v6[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

    /* The standard CRC-32 check value, before the final inversion. */
    assert_int_equal(netbe_crc32_le(check, 9), 0x340bc6d9u);
    assert_int_equal(~netbe_crc32_le(check, 9), 0xcbf43926u);
    assert_int_equal(netbe_crc32_be(check, 9), 0x9b63d02cu);
    assert_int_equal(netbe_crc32_le(fox, sizeof(fox) - 1), 0xbeb05cc6u);
    assert_int_equal(~netbe_crc32_le(fox, sizeof(fox) - 1), 0x414fa339u);
    assert_int_equal(netbe_crc32_be(fox, sizeof(fox) - 1), 0x633a0d7du);

    assert_int_equal(netbe_crc32_be(&zero, 1), 0x4e08bfb4u);
    assert_int_equal(netbe_crc32_le(&zero, 1), 0x2dfd1072u);
    assert_int_equal(netbe_crc32_be(&ones, 1), 0xffffff00u);
    assert_int_equal(netbe_crc32_le(&ones, 1), 0x00ffffffu);

    /* Multicast hash filters index with the top six bits of the BE CRC. */
    assert_int_equal(netbe_crc32_be(mc_v4, 6), 0x7fa32d9bu);
    assert_int_equal(netbe_crc32_be(mc_v4, 6) >> 26, 31);
    assert_int_equal(netbe_crc32_be(mc_v6, 6), 0xf99baabau);
    assert_int_equal(netbe_crc32_be(mc_v6, 6) >> 26, 62);
    assert_int_equal(netbe_crc32_be(bcast, 6), 0xff48647du);
    assert_int_equal(netbe_crc32_le(mc_v4, 6), 0xd9b4c5feu);
    assert_int_equal(netbe_crc32_le(bcast, 6), 0xbe2612ffu);
}

/* Feeding bytes LSB first into an MSB-first register mirrors the LE CRC. */
static void test_be_is_mirrored_le(void **state)
{
    uint8_t buf[257];
    size_t len, i;

    rng_state = 12345;
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = rng_byte();
    }
    for (len = 0; len <= sizeof(buf); len++) {
        assert_int_equal(netbe_crc32_be(buf, len),
                         bitrev32(netbe_crc32_le(buf, len)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_all_single_bytes),
        cmocka_unit_test(test_all_byte_pairs),
        cmocka_unit_test(test_random_buffers),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_be_is_mirrored_le),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
