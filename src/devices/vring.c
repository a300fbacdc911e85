/*
 * vring.c - guest memory and the split virtqueue walker (vring.h).
 *
 * The guest shares the rings while we read them, so every field is read
 * once (a relaxed atomic load, or a memcpy of a descriptor into a local
 * copy) and only the copy is checked and used.  Layout, barriers and
 * the EVENT_IDX rule are the virtio 1.x spec's, section 2.7.
 */
#include <endian.h>
#include <string.h>

#include "devices/vring.h"

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

_Static_assert(sizeof(struct desc) == 16, "a split descriptor is 16 bytes");

static uint16_t load16(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static void store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static bool range_ok(uint64_t start, uint64_t len)
{
    return len > 0 && start + len > start;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

const char *vu_mem_check_new(const struct vu_mem *mem,
                             const struct vu_region *r)
{
    if (!range_ok(r->gpa, r->size) || !range_ok(r->uva, r->size)) {
        return "memory region is empty or wraps around";
    }
    if (mem->n >= VU_MAX_SLOTS) {
        return "too many memory regions";
    }
    for (unsigned i = 0; i < mem->n; i++) {
        const struct vu_region *o = &mem->r[i];

        if (overlaps(r->gpa, r->size, o->gpa, o->size)) {
            return "memory regions overlap in guest-physical addresses";
        }
        if (overlaps(r->uva, r->size, o->uva, o->size)) {
            return "memory regions overlap in user addresses";
        }
    }
    return NULL;
}

uint8_t *vu_mem_gpa(const struct vu_mem *mem, uint64_t gpa, uint64_t len,
                    uint64_t *avail)
{
    for (unsigned i = 0; i < mem->n; i++) {
        const struct vu_region *r = &mem->r[i];
        uint64_t off = gpa - r->gpa;

        if (gpa >= r->gpa && off < r->size) {
            uint64_t left = r->size - off;

            *avail = len < left ? len : left;
            return r->host + off;
        }
    }
    *avail = 0;
    return NULL;
}

uint8_t *vu_mem_uva(const struct vu_mem *mem, uint64_t uva, uint64_t len)
{
    for (unsigned i = 0; i < mem->n; i++) {
        const struct vu_region *r = &mem->r[i];
        uint64_t off = uva - r->uva;

        if (uva >= r->uva && off < r->size && len <= r->size - off) {
            return r->host + off;
        }
    }
    return NULL;
}

void vu_log_gpa(struct vu_log *log, uint64_t gpa, uint64_t len)
{
    uint64_t page, last;

    if (!len) {
        return;
    }
    page = gpa / VU_LOG_PAGE;
    /* a range that wraps ends at the top of the address space */
    last = (gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1) / VU_LOG_PAGE;
    for (; page <= last; page++) {
        if (page / 8 >= log->size) {
            log->beyond++;
            return;
        }
        __atomic_fetch_or(&log->bits[page / 8], (uint8_t)(1u << (page % 8)),
                          __ATOMIC_RELAXED);
    }
}

void vu_log_iov(struct vu_log *log, const struct vu_mem *mem,
                const struct iovec *iov, int iovcnt, size_t len)
{
    for (int i = 0; i < iovcnt && len; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

        /* vu_vring_pop() split the chain where regions end */
        for (unsigned k = 0; k < mem->n; k++) {
            const struct vu_region *r = &mem->r[k];

            if (p >= r->host && (uint64_t)(p - r->host) < r->size) {
                vu_log_gpa(log, r->gpa + (uint64_t)(p - r->host), n);
                break;
            }
        }
        len -= n;
    }
}

/* A write to the used ring at @off, @len bytes: log it when asked. */
static void log_used(struct vu_vring *vr, uint64_t off, uint64_t len)
{
    if (vr->log_used && vu_log_on(vr->log)) {
        vu_log_gpa(vr->log, vr->log_gpa + off, len);
    }
}

int vu_vring_map(struct vu_vring *vr, const struct vu_mem *mem)
{
    uint64_t n = vr->num;

    vr->desc = vr->avail = vr->used = NULL;
    if (!vr->addr_set || !n) {
        return -1;
    }
    if ((vr->desc_uva & 15) || (vr->avail_uva & 1) || (vr->used_uva & 3)) {
        return -1;
    }
    /* the rings with their event words (EVENT_IDX) */
    vr->desc = vu_mem_uva(mem, vr->desc_uva, 16 * n);
    vr->avail = vu_mem_uva(mem, vr->avail_uva, 6 + 2 * n);
    vr->used = vu_mem_uva(mem, vr->used_uva, 6 + 8 * n);
    if (!vr->desc || !vr->avail || !vr->used) {
        vr->desc = vr->avail = vr->used = NULL;
        return -1;
    }
    return 0;
}

uint16_t vu_vring_read_used_idx(const struct vu_vring *vr)
{
    return load16(vr->used + 2);
}

int vu_vring_avail(struct vu_vring *vr)
{
    uint16_t idx, n = (uint16_t)(vr->avail_seen - vr->last_avail);

    /*
     * Entries behind the index we read last are there (the fence came
     * after that read): the guest's cache line of the index, which it
     * writes all the time, is read once per batch, not once per chain.
     */
    if (n && n <= vr->num) {
        return n;
    }
    idx = load16(vr->avail + 2);
    n = (uint16_t)(idx - vr->last_avail);
    if (n > vr->num) {
        return VU_RING_BAD;
    }
    /* the entries behind the index, not older ones */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    vr->avail_seen = idx;
    return n;
}

static void read_desc(struct desc *d, const uint8_t *table, uint32_t i)
{
    memcpy(d, table + 16 * (size_t)i, sizeof(*d));
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
}

/* One buffer into @iov, split where its regions end. */
static int add_buf(const struct vu_mem *mem, const struct desc *d,
                   struct iovec *iov, int *iovcnt)
{
    uint64_t addr = d->addr, left = d->len;

    if (addr + left < addr) {
        return VU_RING_BAD;
    }
    while (left) {
        uint64_t got;
        uint8_t *p = vu_mem_gpa(mem, addr, left, &got);

        if (!p || *iovcnt >= VU_VRING_MAX_IOV) {
            return VU_RING_BAD;
        }
        iov[*iovcnt].iov_base = p;
        iov[*iovcnt].iov_len = got;
        ++*iovcnt;
        addr += got;
        left -= got;
    }
    return VU_RING_OK;
}

int vu_vring_pop(struct vu_vring *vr, const struct vu_mem *mem, bool writable,
                 struct iovec *iov, int *iovcnt, uint16_t *head, uint32_t *len)
{
    const uint8_t *table = vr->desc;
    uint32_t max = vr->num, i, seen = 0;
    uint64_t total = 0;
    bool in_indirect = false;
    struct desc d;
    int n = vu_vring_avail(vr);

    if (n <= 0) {
        return n;
    }
    i = load16(vr->avail + 4 + 2 * (size_t)(vr->last_avail % vr->num));
    if (i >= vr->num) {
        return VU_RING_BAD;
    }
    *head = (uint16_t)i;
    *iovcnt = 0;
    for (;;) {
        /* a chain visits each descriptor of its table at most once */
        if (++seen > max) {
            return VU_RING_BAD;
        }
        read_desc(&d, table, i);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            uint64_t got;

            if (!vr->indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT) ||
                d.len == 0 || d.len % 16 || d.len / 16 > VU_VRING_MAX_NUM) {
                return VU_RING_BAD;
            }
            table = vu_mem_gpa(mem, d.addr, d.len, &got);
            if (!table || got != d.len || (d.addr & 15)) {
                return VU_RING_BAD;
            }
            in_indirect = true;
            max = d.len / 16;
            seen = 0;
            i = 0;
            continue;
        }
        if (!!(d.flags & VRING_DESC_F_WRITE) != writable) {
            return VU_RING_BAD;
        }
        if (add_buf(mem, &d, iov, iovcnt) < 0) {
            return VU_RING_BAD;
        }
        total += d.len;
        if (total > UINT32_MAX) {
            return VU_RING_BAD;
        }
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            break;
        }
        i = d.next;
        if (i >= max) {
            return VU_RING_BAD;
        }
    }
    *len = (uint32_t)total;
    vr->last_avail++;
    if (!vr->event_idx && !vr->no_notify) {
        /* we are taking chains: no kick until vu_vring_want_kick() */
        store16(vr->used, VRING_USED_F_NO_NOTIFY);
        log_used(vr, 0, 2);
        vr->no_notify = true;
    }
    return VU_RING_OK;
}

void vu_vring_push(struct vu_vring *vr, uint16_t k, uint16_t head, uint32_t len)
{
    uint16_t slot = (uint16_t)(vr->used_idx + vr->pending + k) % vr->num;
    uint8_t *e = vr->used + 4 + 8 * (size_t)slot;
    uint32_t id = htole32(head), l = htole32(len);

    memcpy(e, &id, 4);
    memcpy(e + 4, &l, 4);
    log_used(vr, 4 + 8 * (uint64_t)slot, 8);
}

bool vu_vring_publish(struct vu_vring *vr)
{
    uint16_t old = vr->used_idx, now;

    if (!vr->pending) {
        return false;
    }
    now = (uint16_t)(old + vr->pending);
    vr->pending = 0;
    vr->used_idx = now;
    /* the entries before the index */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store16(vr->used + 2, now);
    log_used(vr, 2, 2);
    /* the index before we read what the guest wants */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vr->event_idx) {
        uint16_t ev = load16(vr->avail + 4 + 2 * (size_t)vr->num);

        return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
    }
    return !(load16(vr->avail) & VRING_AVAIL_F_NO_INTERRUPT);
}

void vu_vring_kicks_on(struct vu_vring *vr)
{
    if (!vr->event_idx) {
        store16(vr->used, 0);
        log_used(vr, 0, 2);
    }
    vr->no_notify = false;
}

bool vu_vring_want_kick(struct vu_vring *vr)
{
    if (vr->event_idx) {
        store16(vr->used + 4 + 8 * (size_t)vr->num, vr->last_avail);
        log_used(vr, 4 + 8 * (uint64_t)vr->num, 2);
    } else if (vr->no_notify) {
        store16(vr->used, 0);
        log_used(vr, 0, 2);
        vr->no_notify = false;
    } else {
        return false; /* kicks are on: one comes */
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load16(vr->avail + 2) != vr->last_avail;
}
