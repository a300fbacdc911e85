/*
 * test_vring.c - src/devices/vring.c on memory laid out by hand, with no
 * device and no socket: the memory table's checks (overlaps in both
 * address spaces, wrap-around, empty and too many regions) and its
 * translations at region edges, ring mapping (alignment, fit), popping
 * single, chained, indirect and region-spanning chains, the refusal of
 * every malformed chain (and that a refused pop takes nothing), the
 * 16-bit index wrap, used entries and their publication (EVENT_IDX's
 * used_event rule, VRING_AVAIL_F_NO_INTERRUPT), avail_event, and the
 * dirty log of a migration.
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/vring.h"

/*
 * Two adjacent guest-physical regions, each its own host buffer (so a
 * buffer crossing from one to the other must come out as two pieces),
 * at user addresses far apart.
 */
#define RSZ 0x8000u
#define GPA0 0x10000ull
#define GPA1 (GPA0 + RSZ)
#define UVA0 0x7f0000000000ull
#define UVA1 0x7f0000100000ull

#define NUM 8
#define DESC_OFF 0x0u /* in region 0 */
#define AVAIL_OFF 0x200u
#define USED_OFF 0x400u
#define IND_OFF 0x1000u /* an indirect table */
#define DATA_OFF 0x2000u

static uint8_t mem0[RSZ] __attribute__((aligned(4096)));
static uint8_t mem1[RSZ] __attribute__((aligned(4096)));

struct fix {
    struct vu_mem mem;
    struct vu_vring vr;
    uint16_t avail_idx; /* the guest's */
};

static void put16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, 2);
}

static uint16_t get16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return le16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return le32toh(v);
}

/* Descriptor @i of the table at @table, as a guest writes it. */
static void set_desc(uint8_t *table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *d = table + 16 * (size_t)i;
    uint64_t a = htole64(addr);
    uint32_t l = htole32(len);

    memcpy(d, &a, 8);
    memcpy(d + 8, &l, 4);
    put16(d + 12, flags);
    put16(d + 14, next);
}

static uint8_t *desc_table(void)
{
    return mem0 + DESC_OFF;
}

static uint8_t *avail(void)
{
    return mem0 + AVAIL_OFF;
}

static uint8_t *used(void)
{
    return mem0 + USED_OFF;
}

/* The guest offers chain @head. */
static void offer(struct fix *f, uint16_t head)
{
    put16(avail() + 4 + 2 * (f->avail_idx % NUM), head);
    f->avail_idx++;
    put16(avail() + 2, f->avail_idx);
}

/* gpa of data buffer @i (0x100 bytes each) */
static uint64_t data(unsigned i)
{
    return GPA0 + DATA_OFF + 0x100u * i;
}

static struct vu_region region(uint64_t gpa, uint64_t size, uint64_t uva,
                               uint8_t *host)
{
    return (struct vu_region){
        .gpa = gpa, .size = size, .uva = uva, .host = host};
}

/* Both regions, a ring of NUM at its three offsets, mapped. */
static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    memset(mem0, 0, sizeof(mem0));
    memset(mem1, 0, sizeof(mem1));
    f->mem.r[0] = region(GPA0, RSZ, UVA0, mem0);
    f->mem.r[1] = region(GPA1, RSZ, UVA1, mem1);
    f->mem.n = 2;
    f->vr.num = NUM;
    f->vr.desc_uva = UVA0 + DESC_OFF;
    f->vr.avail_uva = UVA0 + AVAIL_OFF;
    f->vr.used_uva = UVA0 + USED_OFF;
    f->vr.addr_set = true;
    f->vr.indirect = true;
    assert_int_equal(vu_vring_map(&f->vr, &f->mem), 0);
    assert_true(vu_vring_ready(&f->vr));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* ---- the memory table ---- */

static void test_mem_check_new(void **state)
{
    struct fix *f = *state;
    struct vu_region r;

    /* next to both regions in both spaces: fine */
    r = region(GPA1 + RSZ, 0x1000, UVA1 + RSZ, NULL);
    assert_null(vu_mem_check_new(&f->mem, &r));
    r = region(0, GPA0, UVA0 - GPA0, NULL);
    assert_null(vu_mem_check_new(&f->mem, &r));

    r = region(0x100000, 0, 0x1000000, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory region is empty or wraps around");
    r = region(UINT64_MAX - 0xfff, 0x2000, 0x1000000, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory region is empty or wraps around");
    r = region(0x100000, 0x2000, UINT64_MAX - 0xfff, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory region is empty or wraps around");

    /* one byte into region 1's guest range, from either side */
    r = region(GPA1 + RSZ - 1, 0x1000, 0x1000000, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory regions overlap in guest-physical addresses");
    r = region(GPA0 - 0x1000, 0x1001, 0x1000000, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory regions overlap in guest-physical addresses");
    /* a region around another */
    r = region(0, 0x1000000, 0x1000000, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory regions overlap in guest-physical addresses");
    r = region(0x100000, 0x1000, UVA1 + RSZ - 1, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory regions overlap in user addresses");
    r = region(0x100000, 0x1000, UVA0 - 0x800, NULL);
    assert_string_equal(vu_mem_check_new(&f->mem, &r),
                        "memory regions overlap in user addresses");
}

static void test_mem_check_too_many(void **state)
{
    struct vu_mem mem = {0};
    struct vu_region r;

    (void)state;
    for (unsigned i = 0; i < VU_MAX_SLOTS; i++) {
        r = region(0x1000 * (uint64_t)i, 0x1000, 0x100000 + 0x1000 * i, NULL);
        assert_null(vu_mem_check_new(&mem, &r));
        mem.r[mem.n++] = r;
    }
    r = region(0x1000000, 0x1000, 0x1000000, NULL);
    assert_string_equal(vu_mem_check_new(&mem, &r), "too many memory regions");
}

static void test_mem_gpa_edges(void **state)
{
    struct fix *f = *state;
    uint64_t got = 1234;

    assert_ptr_equal(vu_mem_gpa(&f->mem, GPA0, 16, &got), mem0);
    assert_int_equal(got, 16);
    /* the last byte of region 0, asked for more: only what it holds */
    assert_ptr_equal(vu_mem_gpa(&f->mem, GPA1 - 1, 100, &got), mem0 + RSZ - 1);
    assert_int_equal(got, 1);
    /* the next byte is region 1's first */
    assert_ptr_equal(vu_mem_gpa(&f->mem, GPA1, 100, &got), mem1);
    assert_int_equal(got, 100);
    assert_ptr_equal(vu_mem_gpa(&f->mem, GPA1 + RSZ - 4, 4, &got),
                     mem1 + RSZ - 4);
    assert_int_equal(got, 4);
    /* outside both */
    got = 7;
    assert_null(vu_mem_gpa(&f->mem, GPA1 + RSZ, 1, &got));
    assert_int_equal(got, 0);
    got = 7;
    assert_null(vu_mem_gpa(&f->mem, GPA0 - 1, 1, &got));
    assert_int_equal(got, 0);
    assert_null(vu_mem_gpa(&f->mem, UINT64_MAX, 1, &got));
}

static void test_mem_uva_edges(void **state)
{
    struct fix *f = *state;

    assert_ptr_equal(vu_mem_uva(&f->mem, UVA0, RSZ), mem0);
    assert_ptr_equal(vu_mem_uva(&f->mem, UVA0 + RSZ - 1, 1), mem0 + RSZ - 1);
    assert_ptr_equal(vu_mem_uva(&f->mem, UVA1 + 0x10, 0x20), mem1 + 0x10);
    /* the range must fit one region whole */
    assert_null(vu_mem_uva(&f->mem, UVA0, RSZ + 1));
    assert_null(vu_mem_uva(&f->mem, UVA0 + RSZ - 1, 2));
    assert_null(vu_mem_uva(&f->mem, UVA0 + RSZ, 1));
    assert_null(vu_mem_uva(&f->mem, UVA0 - 1, 2));
    /* a length that would wrap the offset */
    assert_null(vu_mem_uva(&f->mem, UVA0 + 0x10, UINT64_MAX));
}

/* ---- mapping ---- */

static void test_map_alignment_and_fit(void **state)
{
    struct fix *f = *state;
    struct vu_vring vr;

    /* virtio's alignments: desc 16, avail 2, used 4 */
    vr = f->vr;
    vr.desc_uva = UVA0 + 8;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    assert_false(vu_vring_ready(&vr));
    assert_null(vr.desc);
    assert_null(vr.avail);
    assert_null(vr.used);
    vr = f->vr;
    vr.avail_uva = UVA0 + AVAIL_OFF + 1;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    vr = f->vr;
    vr.used_uva = UVA0 + USED_OFF + 2;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    assert_null(vr.desc);
    vr = f->vr;
    vr.avail_uva = UVA0 + AVAIL_OFF + 2;
    vr.used_uva = UVA0 + USED_OFF + 4;
    assert_int_equal(vu_vring_map(&vr, &f->mem), 0);
    assert_ptr_equal(vr.avail, mem0 + AVAIL_OFF + 2);
    assert_ptr_equal(vr.used, mem0 + USED_OFF + 4);

    /* each ring whole in one region, its event word included */
    vr = f->vr;
    vr.desc_uva = UVA0 + RSZ - 16 * NUM;
    assert_int_equal(vu_vring_map(&vr, &f->mem), 0);
    vr.desc_uva = UVA0 + RSZ - 16 * NUM + 16;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    vr = f->vr;
    vr.avail_uva = UVA0 + RSZ - (6 + 2 * NUM);
    assert_int_equal(vu_vring_map(&vr, &f->mem), 0);
    vr.avail_uva += 2;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    vr = f->vr;
    vr.used_uva = UVA1 + RSZ - (8 + 8 * NUM); /* 4-aligned, 2 to spare */
    assert_int_equal(vu_vring_map(&vr, &f->mem), 0);
    assert_ptr_equal(vr.used, mem1 + RSZ - (8 + 8 * NUM));
    vr.used_uva = UVA1 + RSZ - (4 + 8 * NUM); /* the event word is out */
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    vr = f->vr;
    vr.used_uva = 0x1000; /* in no region */
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);

    /* nothing to map yet */
    vr = f->vr;
    vr.addr_set = false;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    vr = f->vr;
    vr.num = 0;
    assert_int_equal(vu_vring_map(&vr, &f->mem), -1);
    assert_false(vu_vring_ready(&vr));
}

/* ---- popping ---- */

static void test_pop_empty(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    assert_int_equal(vu_vring_avail(&f->vr), 0);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_EMPTY);
    assert_int_equal(f->vr.last_avail, 0);
}

static void test_pop_single(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    set_desc(desc_table(), 5, data(0), 60, 0, 0);
    offer(f, 5);
    assert_int_equal(vu_vring_avail(&f->vr), 1);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(head, 5);
    assert_int_equal(len, 60);
    assert_int_equal(iovcnt, 1);
    assert_ptr_equal(iov[0].iov_base, mem0 + DATA_OFF);
    assert_int_equal(iov[0].iov_len, 60);
    assert_int_equal(f->vr.last_avail, 1);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_EMPTY);
    /* a writable one for RX */
    set_desc(desc_table(), 2, data(1), 1514, VRING_DESC_F_WRITE, 0);
    offer(f, 2);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, true, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(head, 2);
    assert_int_equal(len, 1514);
    assert_ptr_equal(iov[0].iov_base, mem0 + DATA_OFF + 0x100);
}

static void test_pop_chained(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    /* 3 -> 0 -> 7, out of table order; a zero-length piece adds nothing */
    set_desc(desc_table(), 3, data(0), 12, VRING_DESC_F_NEXT, 0);
    set_desc(desc_table(), 0, data(1), 0, VRING_DESC_F_NEXT, 7);
    set_desc(desc_table(), 7, data(2), 200, 0, 0);
    offer(f, 3);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(head, 3);
    assert_int_equal(len, 212);
    assert_int_equal(iovcnt, 2);
    assert_ptr_equal(iov[0].iov_base, mem0 + DATA_OFF);
    assert_int_equal(iov[0].iov_len, 12);
    assert_ptr_equal(iov[1].iov_base, mem0 + DATA_OFF + 0x200);
    assert_int_equal(iov[1].iov_len, 200);
    assert_int_equal(f->vr.last_avail, 1);
}

static void test_pop_whole_ring_chain(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    /* every descriptor once: as long as a chain may be */
    for (unsigned i = 0; i < NUM; i++) {
        set_desc(desc_table(), i, data(i), 10,
                 i + 1 < NUM ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    }
    offer(f, 0);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(iovcnt, NUM);
    assert_int_equal(len, 10 * NUM);
}

static void test_pop_indirect(void **state)
{
    struct fix *f = *state;
    uint8_t *ind = mem0 + IND_OFF;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    /* the WRITE flag of the descriptor naming the table is ignored */
    set_desc(ind, 0, data(0), 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    set_desc(ind, 2, data(1), 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(ind, 1, data(2), 30, VRING_DESC_F_WRITE, 0);
    set_desc(desc_table(), 4, GPA0 + IND_OFF, 3 * 16,
             VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
    offer(f, 4);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, true, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(head, 4);
    assert_int_equal(len, 60);
    assert_int_equal(iovcnt, 3);
    assert_ptr_equal(iov[0].iov_base, mem0 + DATA_OFF);
    assert_ptr_equal(iov[1].iov_base, mem0 + DATA_OFF + 0x100);
    assert_ptr_equal(iov[2].iov_base, mem0 + DATA_OFF + 0x200);
    assert_int_equal(iov[2].iov_len, 30);

    /* as many pieces as the walker gives: VU_VRING_MAX_IOV */
    for (unsigned i = 0; i < VU_VRING_MAX_IOV; i++) {
        set_desc(ind, i, data(0), 1,
                 i + 1 < VU_VRING_MAX_IOV ? VRING_DESC_F_NEXT : 0,
                 (uint16_t)(i + 1));
    }
    set_desc(desc_table(), 4, GPA0 + IND_OFF, 16 * VU_VRING_MAX_IOV,
             VRING_DESC_F_INDIRECT, 0);
    offer(f, 4);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(iovcnt, VU_VRING_MAX_IOV);
    assert_int_equal(len, VU_VRING_MAX_IOV);
}

static void test_pop_spanning_regions(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    /* 100 bytes at the end of region 0, 200 at the start of region 1 */
    set_desc(desc_table(), 1, GPA1 - 100, 300, 0, 0);
    offer(f, 1);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(len, 300);
    assert_int_equal(iovcnt, 2);
    assert_ptr_equal(iov[0].iov_base, mem0 + RSZ - 100);
    assert_int_equal(iov[0].iov_len, 100);
    assert_ptr_equal(iov[1].iov_base, mem1);
    assert_int_equal(iov[1].iov_len, 200);

    /* running past region 1 into nothing is refused */
    set_desc(desc_table(), 1, GPA1 + RSZ - 100, 101, 0, 0);
    offer(f, 1);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_BAD);
    assert_int_equal(f->vr.last_avail, 1);
}

/*
 * Malformed chains.  Each case writes its descriptors and offers @head;
 * the pop must be refused and take nothing (last_avail stays).
 */
struct bad_case {
    const char *what;
    void (*write)(struct fix *f);
    bool writable;
};

static void bad_loop(struct fix *f)
{
    set_desc(desc_table(), 0, data(0), 10, VRING_DESC_F_NEXT, 1);
    set_desc(desc_table(), 1, data(1), 10, VRING_DESC_F_NEXT, 0);
    offer(f, 0);
}

static void bad_self_loop(struct fix *f)
{
    set_desc(desc_table(), 6, data(0), 10, VRING_DESC_F_NEXT, 6);
    offer(f, 6);
}

static void bad_longer_than_ring(struct fix *f)
{
    /* 0..7 and then back to 3: NUM + 1 visits */
    for (unsigned i = 0; i < NUM; i++) {
        set_desc(desc_table(), i, data(i), 10, VRING_DESC_F_NEXT,
                 (uint16_t)(i + 1 < NUM ? i + 1 : 3));
    }
    offer(f, 0);
}

static void bad_head_out_of_range(struct fix *f)
{
    offer(f, NUM);
}

static void bad_next_out_of_range(struct fix *f)
{
    set_desc(desc_table(), 0, data(0), 10, VRING_DESC_F_NEXT, NUM);
    offer(f, 0);
}

static void indirect_at(struct fix *f, uint64_t gpa, uint32_t len,
                        uint16_t flags)
{
    set_desc(desc_table(), 2, gpa, len, VRING_DESC_F_INDIRECT | flags, 3);
    set_desc(desc_table(), 3, data(3), 10, 0, 0);
    offer(f, 2);
}

static void bad_indirect_nested(struct fix *f)
{
    uint8_t *ind = mem0 + IND_OFF;

    set_desc(ind, 0, data(0), 10, VRING_DESC_F_NEXT, 1);
    set_desc(ind, 1, GPA0 + IND_OFF + 0x100, 32, VRING_DESC_F_INDIRECT, 0);
    set_desc(ind, 16, data(1), 10, 0, 0);
    indirect_at(f, GPA0 + IND_OFF, 2 * 16, 0);
}

static void bad_indirect_with_next(struct fix *f)
{
    set_desc(mem0 + IND_OFF, 0, data(0), 10, 0, 0);
    indirect_at(f, GPA0 + IND_OFF, 16, VRING_DESC_F_NEXT);
}

static void bad_indirect_len_zero(struct fix *f)
{
    indirect_at(f, GPA0 + IND_OFF, 0, 0);
}

static void bad_indirect_len_partial(struct fix *f)
{
    set_desc(mem0 + IND_OFF, 0, data(0), 10, 0, 0);
    indirect_at(f, GPA0 + IND_OFF, 24, 0);
}

static void bad_indirect_too_big(struct fix *f)
{
    /* more entries than any ring may have (it would fit in memory) */
    indirect_at(f, GPA0 + IND_OFF, 16 * (VU_VRING_MAX_NUM + 1), 0);
}

static void bad_indirect_misaligned(struct fix *f)
{
    set_desc(mem0 + IND_OFF + 8, 0, data(0), 10, 0, 0);
    indirect_at(f, GPA0 + IND_OFF + 8, 16, 0);
}

static void bad_indirect_not_negotiated(struct fix *f)
{
    set_desc(mem0 + IND_OFF, 0, data(0), 10, 0, 0);
    indirect_at(f, GPA0 + IND_OFF, 16, 0);
    f->vr.indirect = false;
}

static void bad_indirect_spanning(struct fix *f)
{
    /* a table must be in one piece: it is read in place */
    set_desc(mem0 + RSZ - 16, 0, data(0), 10, VRING_DESC_F_NEXT, 1);
    set_desc(mem1, 0, data(1), 10, 0, 0);
    indirect_at(f, GPA1 - 16, 32, 0);
}

static void bad_indirect_outside(struct fix *f)
{
    indirect_at(f, 0x1000, 16, 0);
}

static void bad_indirect_next_out_of_range(struct fix *f)
{
    uint8_t *ind = mem0 + IND_OFF;

    set_desc(ind, 0, data(0), 10, VRING_DESC_F_NEXT, 1);
    set_desc(ind, 1, data(1), 10, VRING_DESC_F_NEXT, 2); /* 2 entries */
    indirect_at(f, GPA0 + IND_OFF, 2 * 16, 0);
}

static void bad_indirect_loop(struct fix *f)
{
    uint8_t *ind = mem0 + IND_OFF;

    set_desc(ind, 0, data(0), 10, VRING_DESC_F_NEXT, 1);
    set_desc(ind, 1, data(1), 10, VRING_DESC_F_NEXT, 0);
    indirect_at(f, GPA0 + IND_OFF, 2 * 16, 0);
}

static void bad_too_many_pieces(struct fix *f)
{
    uint8_t *ind = mem0 + IND_OFF;

    for (unsigned i = 0; i <= VU_VRING_MAX_IOV; i++) {
        set_desc(ind, i, data(0), 1,
                 i < VU_VRING_MAX_IOV ? VRING_DESC_F_NEXT : 0,
                 (uint16_t)(i + 1));
    }
    indirect_at(f, GPA0 + IND_OFF, 16 * (VU_VRING_MAX_IOV + 1), 0);
}

static void bad_writable_for_tx(struct fix *f)
{
    set_desc(desc_table(), 0, data(0), 10, VRING_DESC_F_NEXT, 1);
    set_desc(desc_table(), 1, data(1), 10, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
}

static void bad_readable_for_rx(struct fix *f)
{
    set_desc(desc_table(), 0, data(0), 10,
             VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(desc_table(), 1, data(1), 10, 0, 0);
    offer(f, 0);
}

static void bad_readable_in_indirect_for_rx(struct fix *f)
{
    uint8_t *ind = mem0 + IND_OFF;

    set_desc(ind, 0, data(0), 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(ind, 1, data(1), 10, 0, 0);
    set_desc(desc_table(), 2, GPA0 + IND_OFF, 32, VRING_DESC_F_INDIRECT, 0);
    offer(f, 2);
}

static void bad_outside_memory(struct fix *f)
{
    set_desc(desc_table(), 0, 0x900000, 10, 0, 0);
    offer(f, 0);
}

static void bad_below_memory(struct fix *f)
{
    set_desc(desc_table(), 0, GPA0 - 10, 20, 0, 0);
    offer(f, 0);
}

static void bad_addr_wraps(struct fix *f)
{
    set_desc(desc_table(), 0, UINT64_MAX - 10, 100, 0, 0);
    offer(f, 0);
}

static void bad_avail_too_far(struct fix *f)
{
    set_desc(desc_table(), 0, data(0), 10, 0, 0);
    offer(f, 0);
    /* the guest claims NUM + 1 chains */
    put16(avail() + 2, (uint16_t)(f->vr.last_avail + NUM + 1));
}

static const struct bad_case bad_cases[] = {
    {"loop", bad_loop, false},
    {"self loop", bad_self_loop, false},
    {"chain longer than the ring", bad_longer_than_ring, false},
    {"head out of range", bad_head_out_of_range, false},
    {"next out of range", bad_next_out_of_range, false},
    {"indirect nested", bad_indirect_nested, false},
    {"indirect with NEXT", bad_indirect_with_next, false},
    {"indirect of length 0", bad_indirect_len_zero, false},
    {"indirect of 1.5 entries", bad_indirect_len_partial, false},
    {"indirect too big", bad_indirect_too_big, false},
    {"indirect misaligned", bad_indirect_misaligned, false},
    {"indirect not negotiated", bad_indirect_not_negotiated, false},
    {"indirect across regions", bad_indirect_spanning, false},
    {"indirect outside memory", bad_indirect_outside, false},
    {"indirect next out of range", bad_indirect_next_out_of_range, false},
    {"indirect loop", bad_indirect_loop, false},
    {"more pieces than VU_VRING_MAX_IOV", bad_too_many_pieces, false},
    {"writable buffer on TX", bad_writable_for_tx, false},
    {"readable buffer on RX", bad_readable_for_rx, true},
    {"readable in an indirect RX table", bad_readable_in_indirect_for_rx, true},
    {"address outside memory", bad_outside_memory, false},
    {"address below memory", bad_below_memory, false},
    {"address + length wraps", bad_addr_wraps, false},
    {"avail index more than num ahead", bad_avail_too_far, false},
};

static void test_pop_refuses_malformed(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    for (size_t k = 0; k < sizeof(bad_cases) / sizeof(bad_cases[0]); k++) {
        const struct bad_case *c = &bad_cases[k];
        uint16_t before;

        memset(mem0 + IND_OFF, 0, RSZ - IND_OFF);
        memset(desc_table(), 0, 16 * NUM);
        f->vr.indirect = true;
        /* start each case somewhere else in the ring */
        f->vr.last_avail = f->avail_idx;
        f->vr.avail_seen = f->vr.last_avail; /* as a ring start does */
        before = f->vr.last_avail;
        c->write(f);
        if (vu_vring_pop(&f->vr, &f->mem, c->writable, iov, &iovcnt, &head,
                         &len) != VU_RING_BAD) {
            fail_msg("%s: not refused", c->what);
        }
        if (f->vr.last_avail != before) {
            fail_msg("%s: last_avail moved", c->what);
        }
        /* refused again: nothing was taken */
        assert_int_equal(vu_vring_pop(&f->vr, &f->mem, c->writable, iov,
                                      &iovcnt, &head, &len),
                         VU_RING_BAD);
        put16(avail() + 2, f->avail_idx);
    }
}

/*
 * The total length is bounded below 2^32.  Buffers of 4 GiB need a
 * region that large; the walker only computes addresses in it, so its
 * host address is never touched.
 */
static void test_pop_total_length_overflow(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;
    const uint64_t big = 0x100000000ull;

    f->mem.r[2] = region(big, big, 0x7e0000000000ull,
                         (uint8_t *)(uintptr_t)0x100000000000ull);
    f->mem.n = 3;
    /* UINT32_MAX exactly is fine */
    set_desc(desc_table(), 0, big, UINT32_MAX - 1, VRING_DESC_F_NEXT, 1);
    set_desc(desc_table(), 1, big, 1, 0, 0);
    offer(f, 0);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(len, UINT32_MAX);
    /* one more byte is not */
    set_desc(desc_table(), 1, big, 2, 0, 0);
    offer(f, 0);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_BAD);
    assert_int_equal(f->vr.last_avail, 1);
}

static void test_index_wrap(void **state)
{
    struct fix *f = *state;
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;
    const uint16_t heads[4] = {6, 1, 4, 3};

    f->vr.last_avail = 65534;

    f->vr.avail_seen = f->vr.last_avail; /* as a ring start does */
    f->avail_idx = 65534;
    put16(avail() + 2, f->avail_idx);
    for (unsigned i = 0; i < 4; i++) {
        set_desc(desc_table(), heads[i], data(i), 10 + i, 0, 0);
        offer(f, heads[i]);
    }
    assert_int_equal(get16(avail() + 2), 2);
    assert_int_equal(vu_vring_avail(&f->vr), 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(
            vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
            VU_RING_OK);
        assert_int_equal(head, heads[i]);
        assert_int_equal(len, 10 + i);
    }
    assert_int_equal(f->vr.last_avail, 2);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, false, iov, &iovcnt, &head, &len),
        VU_RING_EMPTY);

    /* unpop across 0 gives them back */
    vu_vring_unpop(&f->vr, 3);
    assert_int_equal(f->vr.last_avail, 65535);
    assert_int_equal(vu_vring_avail(&f->vr), 3);

    /* at the wrap, exactly num ahead is a full ring, one more is not */
    f->vr.last_avail = 65533;
    f->vr.avail_seen = f->vr.last_avail; /* as a ring start does */
    put16(avail() + 2, (uint16_t)(65533 + NUM));
    assert_int_equal(vu_vring_avail(&f->vr), NUM);
    /* (what was read stands until it is used up: read afresh) */
    f->vr.avail_seen = f->vr.last_avail;
    put16(avail() + 2, (uint16_t)(65533 + NUM + 1));
    assert_int_equal(vu_vring_avail(&f->vr), VU_RING_BAD);
}

/* ---- the used ring ---- */

static void assert_used(unsigned slot, uint32_t id, uint32_t len)
{
    const uint8_t *e = used() + 4 + 8 * slot;

    assert_int_equal(get32(e), id);
    assert_int_equal(get32(e + 4), len);
}

static void test_push_commit_publish(void **state)
{
    struct fix *f = *state;

    /* entries pushed out of order land at their slots, unseen */
    vu_vring_push(&f->vr, 1, 7, 1000);
    vu_vring_push(&f->vr, 0, 2, 60);
    assert_int_equal(get16(used() + 2), 0);
    assert_false(vu_vring_publish(&f->vr)); /* nothing pending yet */
    assert_int_equal(get16(used() + 2), 0);
    vu_vring_commit(&f->vr, 2);
    assert_int_equal(f->vr.pending, 2);
    /* no EVENT_IDX, no NO_INTERRUPT: the guest wants to be told */
    assert_true(vu_vring_publish(&f->vr));
    assert_int_equal(get16(used() + 2), 2);
    assert_int_equal(vu_vring_read_used_idx(&f->vr), 2);
    assert_int_equal(f->vr.used_idx, 2);
    assert_int_equal(f->vr.pending, 0);
    assert_used(0, 2, 60);
    assert_used(1, 7, 1000);

    /* pushed after pending ones: behind them */
    vu_vring_push(&f->vr, 0, 3, 33);
    vu_vring_commit(&f->vr, 1);
    vu_vring_push(&f->vr, 0, 4, 44);
    vu_vring_commit(&f->vr, 1);
    put16(avail(), VRING_AVAIL_F_NO_INTERRUPT);
    assert_false(vu_vring_publish(&f->vr));
    assert_int_equal(get16(used() + 2), 4);
    assert_used(2, 3, 33);
    assert_used(3, 4, 44);
}

static void test_used_wrap(void **state)
{
    struct fix *f = *state;

    f->vr.used_idx = 65534;
    for (uint16_t k = 0; k < 4; k++) {
        vu_vring_push(&f->vr, k, k, 100u + k);
    }
    vu_vring_commit(&f->vr, 4);
    assert_true(vu_vring_publish(&f->vr));
    assert_int_equal(get16(used() + 2), 2);
    /* 65534 % 8 == 6: slots 6, 7, 0, 1 */
    assert_used(6, 0, 100);
    assert_used(7, 1, 101);
    assert_used(0, 2, 102);
    assert_used(1, 3, 103);
}

/* Publish 3 entries from used index 65534 (to 1) with used_event @ev. */
static bool publish_with_event(struct fix *f, uint16_t ev)
{
    f->vr.used_idx = 65534;
    f->vr.pending = 0;
    for (uint16_t k = 0; k < 3; k++) {
        vu_vring_push(&f->vr, k, k, 1);
    }
    vu_vring_commit(&f->vr, 3);
    put16(avail() + 4 + 2 * NUM, ev);
    return vu_vring_publish(&f->vr);
}

static void test_publish_event_idx(void **state)
{
    struct fix *f = *state;

    f->vr.event_idx = true;
    /* the flag means nothing under EVENT_IDX */
    put16(avail(), VRING_AVAIL_F_NO_INTERRUPT);
    /*
     * old 65534, new 1: the guest is told when used_event is one of the
     * entries just published (65534, 65535, 0), by (new - event - 1) <
     * (new - old) in 16 bits
     */
    assert_true(publish_with_event(f, 65534));
    assert_int_equal(get16(used() + 2), 1);
    assert_true(publish_with_event(f, 65535));
    assert_true(publish_with_event(f, 0));
    assert_false(publish_with_event(f, 1));     /* not yet reached */
    assert_false(publish_with_event(f, 65533)); /* passed before */
    assert_false(publish_with_event(f, 30000));
    /* without EVENT_IDX, the flag decides */
    f->vr.event_idx = false;
    assert_false(publish_with_event(f, 65534));
    put16(avail(), 0);
    assert_true(publish_with_event(f, 1));
}

static void test_want_kick(void **state)
{
    struct fix *f = *state;
    uint8_t *avail_event = used() + 4 + 8 * NUM;

    put16(avail_event, 0xabcd);
    /* no EVENT_IDX: the guest always kicks, nothing to write */
    assert_false(vu_vring_want_kick(&f->vr));
    assert_int_equal(get16(avail_event), 0xabcd);

    f->vr.event_idx = true;
    f->vr.last_avail = 65535;
    f->vr.avail_seen = f->vr.last_avail; /* as a ring start does */
    f->avail_idx = 65535;
    put16(avail() + 2, f->avail_idx);
    assert_false(vu_vring_want_kick(&f->vr));
    assert_int_equal(get16(avail_event), 65535);
    /* a chain came meanwhile: take it, no kick will come for it */
    set_desc(desc_table(), 0, data(0), 10, 0, 0);
    offer(f, 0);
    assert_true(vu_vring_want_kick(&f->vr));
    assert_int_equal(get16(avail_event), 65535);
    f->vr.last_avail++;
    assert_false(vu_vring_want_kick(&f->vr));
    assert_int_equal(get16(avail_event), 0);
}

/* ---- the dirty log ---- */

#define LOG_BYTES 4 /* 32 pages: 128 KiB of guest memory */

struct logbuf {
    uint8_t bits[LOG_BYTES];
    uint8_t canary[4]; /* never written: past the log */
};

static struct vu_log make_log(struct logbuf *b)
{
    memset(b, 0, sizeof(*b));
    memset(b->canary, 0x5a, sizeof(b->canary));
    return (struct vu_log){.bits = b->bits, .size = LOG_BYTES, .all = true};
}

static void assert_canary(const struct logbuf *b)
{
    for (size_t i = 0; i < sizeof(b->canary); i++) {
        assert_int_equal(b->canary[i], 0x5a);
    }
}

static void test_log_gpa(void **state)
{
    struct logbuf b;
    struct vu_log log = make_log(&b);

    (void)state;
    assert_true(vu_log_on(&log));
    vu_log_gpa(&log, 0, 0); /* nothing written, nothing marked */
    assert_int_equal(b.bits[0], 0);
    vu_log_gpa(&log, 0, 1);
    assert_int_equal(b.bits[0], 0x01);
    /* the last byte of page 1 and the first of page 2 */
    vu_log_gpa(&log, 2 * VU_LOG_PAGE - 1, 2);
    assert_int_equal(b.bits[0], 0x07);
    /* pages 7 to 9: across a byte of the bitmap */
    vu_log_gpa(&log, 7 * VU_LOG_PAGE + 100, 2 * VU_LOG_PAGE);
    assert_int_equal(b.bits[0], 0x87);
    assert_int_equal(b.bits[1], 0x03);
    /* a range ending exactly at a page boundary marks no more */
    vu_log_gpa(&log, 12 * VU_LOG_PAGE, VU_LOG_PAGE);
    assert_int_equal(b.bits[1], 0x13);
    /* the log's last page */
    vu_log_gpa(&log, 31 * VU_LOG_PAGE + VU_LOG_PAGE - 1, 1);
    assert_int_equal(b.bits[3], 0x80);
    assert_int_equal(log.beyond, 0);
    assert_canary(&b);

    /* past its end: counted, never written */
    vu_log_gpa(&log, 32 * VU_LOG_PAGE, 1);
    assert_int_equal(log.beyond, 1);
    vu_log_gpa(&log, 1ull << 40, 4096);
    assert_int_equal(log.beyond, 2);
    /* straddling the end: the pages inside are marked */
    vu_log_gpa(&log, 30 * VU_LOG_PAGE, 3 * VU_LOG_PAGE);
    assert_int_equal(b.bits[3], 0xc0);
    assert_int_equal(log.beyond, 3);
    /* a range that wraps the address space */
    vu_log_gpa(&log, UINT64_MAX - 10, 100);
    assert_int_equal(log.beyond, 4);
    assert_canary(&b);
    assert_int_equal(b.bits[2], 0);

    /* vu_log_on() needs LOG_ALL and a bitmap */
    log.all = false;
    assert_false(vu_log_on(&log));
    log.all = true;
    log.bits = NULL;
    assert_false(vu_log_on(&log));
    assert_false(vu_log_on(NULL));
}

static void test_log_iov(void **state)
{
    struct fix *f = *state;
    struct logbuf b;
    struct vu_log log = make_log(&b);
    struct iovec iov[VU_VRING_MAX_IOV];
    int iovcnt;
    uint16_t head;
    uint32_t len;

    /*
     * GPA0 is page 16, GPA1 page 24.  A writable chain: 0x100 bytes at
     * GPA0 + 0x2000 (page 18), then 0x1200 bytes from 0x100 before the
     * end of region 0 (page 23) into region 1 (pages 24 and 25).
     */
    set_desc(desc_table(), 0, GPA0 + 0x2000, 0x100,
             VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(desc_table(), 1, GPA1 - 0x100, 0x1200, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(
        vu_vring_pop(&f->vr, &f->mem, true, iov, &iovcnt, &head, &len),
        VU_RING_OK);
    assert_int_equal(iovcnt, 3);

    /* only what was written: the first 0x180 bytes */
    vu_log_iov(&log, &f->mem, iov, iovcnt, 0x180);
    assert_int_equal(b.bits[2], 0x04 | 0x80); /* pages 18 and 23 */
    assert_int_equal(b.bits[3], 0);
    /* all of it */
    vu_log_iov(&log, &f->mem, iov, iovcnt, len);
    assert_int_equal(b.bits[2], 0x84);
    assert_int_equal(b.bits[3], 0x03); /* pages 24 and 25 */
    assert_int_equal(b.bits[0] | b.bits[1], 0);
    assert_int_equal(log.beyond, 0);
    assert_canary(&b);
}

static void test_used_ring_logging(void **state)
{
    struct fix *f = *state;
    struct logbuf b;
    struct vu_log log = make_log(&b);
    const uint64_t used_gpa = GPA0 + USED_OFF; /* page 16 */

    f->vr.event_idx = true;
    f->vr.log = &log;
    f->vr.log_gpa = used_gpa;
    /* VHOST_VRING_F_LOG not set: nothing logged */
    vu_vring_push(&f->vr, 0, 1, 10);
    vu_vring_commit(&f->vr, 1);
    vu_vring_publish(&f->vr);
    vu_vring_want_kick(&f->vr);
    assert_memory_equal(b.bits, "\0\0\0\0", LOG_BYTES);

    /* set, but LOG_ALL is not on (no migration): nothing either */
    f->vr.log_used = true;
    log.all = false;
    vu_vring_push(&f->vr, 0, 1, 10);
    vu_vring_commit(&f->vr, 1);
    vu_vring_publish(&f->vr);
    assert_memory_equal(b.bits, "\0\0\0\0", LOG_BYTES);

    /*
     * Both: the used ring is logged at log_gpa.  Point log_gpa at pages
     * apart from each other so that each write shows which one it hit:
     * an entry at offset 4 + 8 * slot, the index at 2, avail_event at
     * 4 + 8 * num.
     */
    log.all = true;
    f->vr.log_gpa = 17 * VU_LOG_PAGE - 4; /* the index on 16, entries on 17 */
    vu_vring_push(&f->vr, 0, 1, 10);
    assert_int_equal(b.bits[2], 0x02); /* page 17: the entry */
    vu_vring_commit(&f->vr, 1);
    vu_vring_publish(&f->vr);
    assert_int_equal(b.bits[2], 0x03); /* page 16: the index */
    b.bits[2] = 0;
    f->vr.log_gpa = 18 * VU_LOG_PAGE - (4 + 8 * NUM); /* avail_event: 18 */
    vu_vring_want_kick(&f->vr);
    assert_int_equal(b.bits[2], 0x04);
    assert_int_equal(log.beyond, 0);
    assert_canary(&b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_mem_check_new),
        T(test_mem_check_too_many),
        T(test_mem_gpa_edges),
        T(test_mem_uva_edges),
        T(test_map_alignment_and_fit),
        T(test_pop_empty),
        T(test_pop_single),
        T(test_pop_chained),
        T(test_pop_whole_ring_chain),
        T(test_pop_indirect),
        T(test_pop_spanning_regions),
        T(test_pop_refuses_malformed),
        T(test_pop_total_length_overflow),
        T(test_index_wrap),
        T(test_push_commit_publish),
        T(test_used_wrap),
        T(test_publish_event_idx),
        T(test_want_kick),
        T(test_log_gpa),
        T(test_log_iov),
        T(test_used_ring_logging),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
