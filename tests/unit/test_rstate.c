/*
 * test_rstate.c - stream frame reassembly: every way of cutting a stream
 * yields the same frames, whole frames are not copied, hostile lengths are
 * refused without killing the state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netbe/rstate.h"

#define MAX_LEN 300
#define MAX_FRAMES 16

struct frame {
    uint32_t len;
    uint32_t vnet_len;
    uint8_t data[MAX_LEN];
};

struct sink {
    int count;
    struct frame got[MAX_FRAMES];
    /* the caller's current buffer, to tell in-place delivery from copies */
    const uint8_t *in_lo, *in_hi;
    int in_place;
    int copied;
};

static void on_frame(struct netbe_rstate *rs, const uint8_t *buf, size_t len,
                     void *opaque)
{
    struct sink *s = opaque;

    assert_ptr_equal(rs->opaque, s);
    assert_true(s->count < MAX_FRAMES);
    assert_true(len <= MAX_LEN);
    assert_int_equal(len, rs->packet_len);
    s->got[s->count].len = len;
    s->got[s->count].vnet_len = rs->vnet_hdr_len;
    if (len) {
        memcpy(s->got[s->count].data, buf, len);
    }
    if (buf >= s->in_lo && buf + len <= s->in_hi) {
        s->in_place++;
    } else {
        assert_ptr_equal(buf, rs->buf);
        s->copied++;
    }
    s->count++;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* Serialise @n frames; frame i has length lens[i] and a known pattern. */
static size_t build(uint8_t *out, struct frame *frames, const uint32_t *lens,
                    const uint32_t *vlens, int n, bool vnet)
{
    size_t off = 0;

    for (int i = 0; i < n; i++) {
        frames[i].len = lens[i];
        frames[i].vnet_len = vnet ? vlens[i] : 0;
        for (uint32_t j = 0; j < lens[i]; j++) {
            frames[i].data[j] = (uint8_t)(i * 31 + j * 7 + 1);
        }
        put_be32(out + off, lens[i]);
        off += 4;
        if (vnet) {
            put_be32(out + off, vlens[i]);
            off += 4;
        }
        memcpy(out + off, frames[i].data, lens[i]);
        off += lens[i];
    }
    return off;
}

static void feed(struct netbe_rstate *rs, struct sink *s, const uint8_t *p,
                 size_t len)
{
    struct netbe_error *err = NULL;

    s->in_lo = p;
    s->in_hi = p + len;
    assert_int_equal(netbe_rstate_fill(rs, p, len, &err), 0);
    assert_null(err);
    s->in_lo = s->in_hi = NULL;
}

static void check(const struct sink *s, const struct frame *want, int n)
{
    assert_int_equal(s->count, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s->got[i].len, want[i].len);
        assert_int_equal(s->got[i].vnet_len, want[i].vnet_len);
        assert_memory_equal(s->got[i].data, want[i].data, want[i].len);
    }
}

static const uint32_t lens[] = {60, 0, 1, MAX_LEN, 0, 14, 1514 % MAX_LEN, 2};
static const uint32_t vlens[] = {12, 0, 1, 10, 0, 12, 0, 2};
#define NFRAMES ((int)(sizeof(lens) / sizeof(lens[0])))

static void run_splits(bool vnet)
{
    static uint8_t stream[NFRAMES * (MAX_LEN + 8)];
    static struct frame want[NFRAMES];
    struct netbe_rstate rs;
    struct sink s;
    size_t n = build(stream, want, lens, vlens, NFRAMES, vnet);
    int tiny;

    /* one piece: every frame lies whole in the buffer */
    memset(&s, 0, sizeof(s));
    netbe_rstate_init(&rs, vnet, MAX_LEN, on_frame, &s);
    feed(&rs, &s, stream, n);
    check(&s, want, NFRAMES);
    assert_int_equal(s.in_place, NFRAMES);
    assert_int_equal(s.copied, 0);

    /* two pieces, cut at every byte */
    for (size_t cut = 1; cut < n; cut++) {
        memset(&s, 0, sizeof(s));
        netbe_rstate_reset(&rs);
        feed(&rs, &s, stream, cut);
        feed(&rs, &s, stream + cut, n - cut);
        check(&s, want, NFRAMES);
        /* at most the frame across the cut is copied */
        assert_true(s.copied <= 1);
        assert_int_equal(rs.state, 0);
        assert_int_equal(rs.index, 0);
    }

    /* byte by byte: only frames of 0 or 1 bytes avoid the copy */
    memset(&s, 0, sizeof(s));
    netbe_rstate_reset(&rs);
    for (size_t i = 0; i < n; i++) {
        feed(&rs, &s, stream + i, 1);
    }
    check(&s, want, NFRAMES);
    tiny = 0;
    for (int i = 0; i < NFRAMES; i++) {
        tiny += lens[i] <= 1;
    }
    assert_int_equal(s.in_place, tiny);
    assert_int_equal(s.copied, NFRAMES - tiny);
    netbe_rstate_destroy(&rs);
    assert_null(rs.buf);
}

static void test_splits_plain(void **state)
{
    run_splits(false);
}

static void test_splits_vnet(void **state)
{
    run_splits(true);
}

static void test_in_place_pointer(void **state)
{
    uint8_t stream[4 + 5 + 4 + 3];
    struct netbe_rstate rs;
    struct sink s;

    memset(&s, 0, sizeof(s));
    put_be32(stream, 5);
    memcpy(stream + 4, "hello", 5);
    put_be32(stream + 9, 3);
    memcpy(stream + 13, "abc", 3);
    netbe_rstate_init(&rs, false, 0, on_frame, &s);
    assert_int_equal(rs.max_len, NETBE_NET_BUFSIZE);

    /* first frame whole, second split: first in place, second copied */
    feed(&rs, &s, stream, 14);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.in_place, 1);
    assert_int_equal(rs.state, 2);
    assert_int_equal(rs.index, 1);
    feed(&rs, &s, stream + 14, 2);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.copied, 1);
    assert_memory_equal(s.got[0].data, "hello", 5);
    assert_memory_equal(s.got[1].data, "abc", 3);
    netbe_rstate_destroy(&rs);
}

/* Records the pointer it was handed, for exact address checks. */
static const uint8_t *seen_ptr;
static size_t seen_len;

static void on_frame_ptr(struct netbe_rstate *rs, const uint8_t *buf,
                         size_t len, void *opaque)
{
    seen_ptr = buf;
    seen_len = len;
}

static void test_in_place_address(void **state)
{
    uint8_t stream[8 + 4 + 7];
    struct netbe_rstate rs;
    struct netbe_error *err = NULL;

    put_be32(stream, 7);
    put_be32(stream + 4, 0);
    memcpy(stream + 8, "payload", 7);
    netbe_rstate_init(&rs, true, 64, on_frame_ptr, NULL);
    assert_int_equal(netbe_rstate_fill(&rs, stream, 15, &err), 0);
    assert_ptr_equal(seen_ptr, stream + 8);
    assert_int_equal(seen_len, 7);
    netbe_rstate_destroy(&rs);

    /* an empty frame points into the caller's buffer too */
    netbe_rstate_init(&rs, false, 64, on_frame_ptr, NULL);
    seen_len = 99;
    assert_int_equal(netbe_rstate_fill(&rs, stream + 4, 4, &err), 0);
    assert_int_equal(seen_len, 0);
    assert_ptr_equal(seen_ptr, stream + 8);
    assert_null(err);
    netbe_rstate_destroy(&rs);
}

static void test_zero_length_at_end(void **state)
{
    uint8_t hdr[4] = {0, 0, 0, 0};
    struct netbe_rstate rs;
    struct sink s;

    /* delivered when its header completes, not on the next read */
    memset(&s, 0, sizeof(s));
    netbe_rstate_init(&rs, false, 16, on_frame, &s);
    feed(&rs, &s, hdr, 4);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.got[0].len, 0);
    assert_int_equal(rs.state, 0);
    netbe_rstate_destroy(&rs);
}

static void expect_error(struct netbe_rstate *rs, const uint8_t *p, size_t len,
                         const char *msg)
{
    struct netbe_error *err = NULL;

    assert_int_equal(netbe_rstate_fill(rs, p, len, &err), -1);
    assert_non_null(err);
    assert_string_equal(netbe_error_msg(err), msg);
    netbe_error_free(err);
    assert_int_equal(rs->state, 0);
    assert_int_equal(rs->index, 0);
}

static void check_recovers(struct netbe_rstate *rs, struct sink *s, bool vnet)
{
    uint8_t stream[2 * (MAX_LEN + 8)];
    struct frame want[2];
    static const uint32_t l[] = {MAX_LEN, 3};
    static const uint32_t v[] = {12, 0};
    size_t n = build(stream, want, l, v, 2, vnet);

    netbe_rstate_reset(rs);
    memset(s, 0, sizeof(*s));
    feed(rs, s, stream, 5);
    feed(rs, s, stream + 5, n - 5);
    check(s, want, 2);
}

static void run_oversize(bool vnet)
{
    static const uint32_t bad[] = {MAX_LEN + 1, 0xffffffffu, 0x80000000u};
    char msg[128];
    uint8_t buf[16];
    struct netbe_rstate rs;
    struct sink s;

    memset(&s, 0, sizeof(s));
    netbe_rstate_init(&rs, vnet, MAX_LEN, on_frame, &s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_be32(buf, bad[i]);
        memset(buf + 4, 0xab, sizeof(buf) - 4);
        snprintf(msg, sizeof(msg),
                 "oversized packet received: %u bytes (limit %u)", bad[i],
                 MAX_LEN);
        /* refused as soon as the header is complete, even split */
        memset(&s, 0, sizeof(s));
        s.count = 0;
        {
            struct netbe_error *err = NULL;

            assert_int_equal(netbe_rstate_fill(&rs, buf, 3, &err), 0);
            assert_null(err);
        }
        expect_error(&rs, buf + 3, 1, msg);
        assert_int_equal(s.count, 0);
        check_recovers(&rs, &s, vnet);

        /* and in one piece with trailing garbage */
        memset(&s, 0, sizeof(s));
        expect_error(&rs, buf, sizeof(buf), msg);
        assert_int_equal(s.count, 0);
        check_recovers(&rs, &s, vnet);
    }
    netbe_rstate_destroy(&rs);
}

static void test_oversize_plain(void **state)
{
    run_oversize(false);
}

static void test_oversize_vnet(void **state)
{
    run_oversize(true);
}

static void test_vnet_hdr_len_bounds(void **state)
{
    struct {
        uint32_t len, vlen;
        const char *msg;
    } bad[] = {
        {60, 13,
         "malformed vnet header length received: 13 bytes "
         "(frame 60 bytes, at most 12 allowed)"},
        {60, 0xffffffffu,
         "malformed vnet header length received: 4294967295 bytes "
         "(frame 60 bytes, at most 12 allowed)"},
        {8, 10,
         "malformed vnet header length received: 10 bytes "
         "(frame 8 bytes, at most 12 allowed)"},
        {0, 1,
         "malformed vnet header length received: 1 bytes "
         "(frame 0 bytes, at most 12 allowed)"},
    };
    uint8_t buf[8];
    struct netbe_rstate rs;
    struct sink s;

    memset(&s, 0, sizeof(s));
    netbe_rstate_init(&rs, true, MAX_LEN, on_frame, &s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_be32(buf, bad[i].len);
        put_be32(buf + 4, bad[i].vlen);
        expect_error(&rs, buf, 8, bad[i].msg);
        assert_int_equal(s.count, 0);
        check_recovers(&rs, &s, true);
        memset(&s, 0, sizeof(s));
    }

    /* the limits themselves are fine: 12 of 12, 0 of 0 */
    put_be32(buf, 12);
    put_be32(buf + 4, 12);
    feed(&rs, &s, buf, 8);
    assert_int_equal(s.count, 0);
    memset(buf, 0x5a, 8);
    feed(&rs, &s, buf, 8);
    feed(&rs, &s, buf, 4);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.got[0].len, 12);
    assert_int_equal(s.got[0].vnet_len, 12);
    netbe_rstate_destroy(&rs);
}

/* finalize may reset the state (a reconnect) in the middle of a fill */
static void on_frame_reset(struct netbe_rstate *rs, const uint8_t *buf,
                           size_t len, void *opaque)
{
    int *n = opaque;

    (*n)++;
    netbe_rstate_reset(rs);
}

static void test_reset_from_finalize(void **state)
{
    uint8_t stream[3 * 6];
    struct netbe_rstate rs;
    struct netbe_error *err = NULL;
    int n = 0;

    for (int i = 0; i < 3; i++) {
        put_be32(stream + i * 6, 2);
        stream[i * 6 + 4] = stream[i * 6 + 5] = (uint8_t)i;
    }
    netbe_rstate_init(&rs, false, 0, on_frame_reset, &n);
    assert_int_equal(netbe_rstate_fill(&rs, stream, sizeof(stream), &err), 0);
    assert_int_equal(n, 3);
    netbe_rstate_destroy(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits_plain),
        cmocka_unit_test(test_splits_vnet),
        cmocka_unit_test(test_in_place_pointer),
        cmocka_unit_test(test_in_place_address),
        cmocka_unit_test(test_zero_length_at_end),
        cmocka_unit_test(test_oversize_plain),
        cmocka_unit_test(test_oversize_vnet),
        cmocka_unit_test(test_vnet_hdr_len_bounds),
        cmocka_unit_test(test_reset_from_finalize),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
