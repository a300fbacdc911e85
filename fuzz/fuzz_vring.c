/*
 * fuzz_vring.c - libFuzzer target for the split virtqueue walker
 * (src/devices/vring.c), which reads what a guest writes into its rings.
 *
 * Guest memory is a 64 KiB buffer cut into two regions that are adjacent
 * in guest-physical space (a buffer may span both) with a hole after
 * them; the input fills it, rings included, and picks the ring size,
 * the features and where the device starts.  Every chain vu_vring_pop()
 * accepts must lie inside the buffer, piece by piece, and add up to the
 * length it reports; a refused chain must leave the ring as it was.
 *
 * With bit 3 the dirty log is on, a bitmap shorter than guest memory
 * needs (pages past it are counted, never written), with the used ring's
 * log address from the input: every chain and used-ring write is logged.
 *
 * Input: byte 0: log2 of the ring size (mod 11); byte 1: bit 0 EVENT_IDX,
 * bit 1 INDIRECT_DESC, bit 2 writable chains, bit 3 logging; bytes 2-3:
 * the starting avail index; then the memory (whose first 8 bytes are
 * also the used ring's log address).
 */
#include <string.h>

#include "devices/vring.h"
#include "fuzzlib.h"

#define MEM (64 * 1024)
#define GPA 0x10000ull
#define UVA 0x7000000ull

static uint8_t mem_buf[MEM] __attribute__((aligned(64)));
/* covers guest pages 0 to 8 * LOG - 1, not all of GPA + MEM */
#define LOG 3
static uint8_t log_buf[LOG];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static bool inside(const struct iovec *v)
{
    const uint8_t *p = v->iov_base;

    return p >= mem_buf && v->iov_len <= MEM &&
           (size_t)(p - mem_buf) <= MEM - v->iov_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vu_mem mem = {0};
    struct vu_vring vr = {0};
    struct vu_log log = {.bits = log_buf, .size = LOG, .all = true};
    struct iovec iov[VU_VRING_MAX_IOV];
    uint16_t start;

    if (size < 4) {
        return 0;
    }
    memset(mem_buf, 0, sizeof(mem_buf));
    memcpy(mem_buf, data + 4, size - 4 < MEM ? size - 4 : MEM);
    mem.r[0] = (struct vu_region){
        .gpa = GPA, .size = MEM / 2, .uva = UVA, .host = mem_buf};
    mem.r[1] = (struct vu_region){.gpa = GPA + MEM / 2,
                                  .size = MEM / 2,
                                  .uva = UVA + MEM / 2,
                                  .host = mem_buf + MEM / 2};
    mem.n = 2;
    FZ_CHECK(vu_mem_check_new(&mem, &mem.r[0]) != NULL, "overlap missed");
    vr.num = (uint16_t)(1u << (data[0] % 11));
    vr.event_idx = data[1] & 1;
    vr.indirect = data[1] & 2;
    memcpy(&start, data + 2, 2);
    vr.last_avail = start;
    vr.avail_seen = start; /* as a ring start does */
    /* the rings where a guest would put them: desc, avail, used */
    vr.desc_uva = UVA;
    vr.avail_uva = UVA + 16 * vr.num;
    vr.used_uva = (UVA + 16 * vr.num + 6 + 2 * vr.num + 3) & ~3ull;
    vr.addr_set = true;
    if (vu_vring_map(&vr, &mem) < 0) {
        return 0; /* a 1024 ring does not fit: fine */
    }
    vr.used_idx = vu_vring_read_used_idx(&vr);
    if (data[1] & 8) {
        vr.log = &log;
        vr.log_used = true;
        memcpy(&vr.log_gpa, mem_buf, 8);
    }
    for (int round = 0; round < 2 * vr.num + 2; round++) {
        uint16_t before = vr.last_avail, head;
        uint32_t len;
        uint64_t sum = 0;
        int cnt = 0, r;

        r = vu_vring_pop(&vr, &mem, data[1] & 4, iov, &cnt, &head, &len);
        if (r != VU_RING_OK) {
            FZ_CHECK(vr.last_avail == before, "a refused chain moved the ring");
            break;
        }
        FZ_CHECK(head < vr.num, "head %u of %u", head, vr.num);
        FZ_CHECK(cnt <= VU_VRING_MAX_IOV, "%d pieces", cnt);
        for (int i = 0; i < cnt; i++) {
            FZ_CHECK(inside(&iov[i]), "piece %d outside guest memory", i);
            sum += iov[i].iov_len;
        }
        FZ_CHECK(sum == len, "pieces %llu, length %u", (unsigned long long)sum,
                 len);
        if (vr.log) {
            vu_log_iov(&log, &mem, iov, cnt, len);
        }
        vu_vring_push(&vr, 0, head, len);
        vu_vring_commit(&vr, 1);
        if (round % 3 == 2) {
            vu_vring_publish(&vr);
        }
    }
    vu_vring_publish(&vr);
    vu_vring_want_kick(&vr);
    return 0;
}
