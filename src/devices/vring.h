/*
 * vring.h - the guest memory table of a vhost-user device and a split
 * virtqueue walker over it.
 *
 * Everything a guest writes is read once into a local copy and checked
 * before use: ring addresses and sizes, indices, every descriptor's
 * address and length against the memory table, chain lengths and
 * indirect tables.  A failure is a broken ring (VU_RING_BAD): the caller
 * resets its device.  No allocation, no system call: the fuzz target
 * fuzz_vring drives these functions on a buffer.
 */
#ifndef NETBE_DEVICES_VRING_H
#define NETBE_DEVICES_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* the most memory regions (VHOST_USER_GET_MAX_MEM_SLOTS) */
#define VU_MAX_SLOTS 32
/* the largest ring, as QEMU's VIRTQUEUE_MAX_SIZE */
#define VU_VRING_MAX_NUM 1024
/* the most pieces of one descriptor chain (after splitting at regions) */
#define VU_VRING_MAX_IOV 64

#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u
#define VRING_USED_F_NO_NOTIFY 1u

/* A region of guest memory, mapped here. */
struct vu_region {
    uint64_t gpa, size, uva, mmap_offset;
    uint8_t *host; /* the region's first byte in our address space */
    void *map;     /* what munmap() takes; NULL when not ours to unmap */
    size_t map_len;
};

struct vu_mem {
    struct vu_region r[VU_MAX_SLOTS];
    unsigned n;
};

/* the dirty log's page: one bit of the log per 4 KiB of guest memory */
#define VU_LOG_PAGE 4096u

/*
 * The dirty-page log of a migration (VHOST_USER_PROTOCOL_F_LOG_SHMFD): a
 * bitmap in memory the front-end shares, bit N of byte B for guest page
 * 8 * B + N, set for every page the device writes while VHOST_F_LOG_ALL
 * is negotiated.  The front-end clears bits while we set them: each is
 * an atomic OR.
 */
struct vu_log {
    uint8_t *bits; /* NULL: no log came */
    uint64_t size; /* bytes of bitmap */
    void *map;     /* what munmap() takes */
    size_t map_len;
    bool all;        /* VHOST_F_LOG_ALL negotiated: log every write */
    uint64_t beyond; /* writes to pages the log does not cover */
};

/* A split virtqueue as the walker sees it. */
struct vu_vring {
    uint16_t num; /* 0 until SET_VRING_NUM */
    uint64_t desc_uva, avail_uva, used_uva;
    bool addr_set; /* the three addresses came */
    /* mapped from the addresses; NULL while they do not translate */
    uint8_t *desc, *avail, *used;
    uint16_t last_avail; /* the next avail entry to take */
    uint16_t avail_seen; /* the guest's avail index as we last read it */
    uint16_t used_idx;   /* the next used entry to publish */
    uint16_t pending;    /* used entries written, not yet published */
    bool event_idx, indirect;
    /* without EVENT_IDX: we set VRING_USED_F_NO_NOTIFY (no kicks) */
    bool no_notify;
    /* VHOST_VRING_F_LOG: log writes to the used ring at guest-physical
     * log_gpa (SET_VRING_ADDR's log_guest_addr) into *log */
    bool log_used;
    uint64_t log_gpa;
    struct vu_log *log;
};

enum {
    VU_RING_EMPTY = 0,
    VU_RING_OK = 1,
    VU_RING_BAD = -1,
};

/**
 * vu_mem_check_new() - whether @r may join @mem: non-empty, no wrap of
 * its guest-physical or user range, and overlapping no region of @mem in
 * either
 * Return: NULL, or what is wrong with it
 */
const char *vu_mem_check_new(const struct vu_mem *mem,
                             const struct vu_region *r);

/**
 * vu_mem_gpa() - map guest-physical [@gpa, @gpa + @len) as far as one
 * region holds it
 * @avail: out: bytes of it mapped at the returned pointer (<= @len)
 * Return: the host address, or NULL when @gpa is in no region
 */
uint8_t *vu_mem_gpa(const struct vu_mem *mem, uint64_t gpa, uint64_t len,
                    uint64_t *avail);

/**
 * vu_mem_uva() - map front-end user address range [@uva, @uva + @len),
 * which one region must hold whole
 * Return: the host address, or NULL
 */
uint8_t *vu_mem_uva(const struct vu_mem *mem, uint64_t uva, uint64_t len);

/** vu_log_on() - Return: whether writes to guest memory must be logged */
static inline bool vu_log_on(const struct vu_log *log)
{
    return log && log->all && log->bits;
}

/**
 * vu_log_gpa() - mark the pages of guest-physical [@gpa, @gpa + @len)
 * dirty (pages past the log's end are counted in log->beyond)
 */
void vu_log_gpa(struct vu_log *log, uint64_t gpa, uint64_t len);

/**
 * vu_log_iov() - mark dirty the first @len bytes of @iov, which point
 * into @mem's regions (a chain vu_vring_pop() gave)
 */
void vu_log_iov(struct vu_log *log, const struct vu_mem *mem,
                const struct iovec *iov, int iovcnt, size_t len);

/**
 * vu_vring_map() - (re)map @vr's rings from their addresses: sizes from
 * num, the alignment virtio asks (16, 2, 4), each whole inside a region
 * Return: 0, or -1 (the ring pointers are then NULL)
 */
int vu_vring_map(struct vu_vring *vr, const struct vu_mem *mem);

/** vu_vring_ready() - Return: whether @vr is mapped and sized */
static inline bool vu_vring_ready(const struct vu_vring *vr)
{
    return vr->num && vr->desc && vr->avail && vr->used;
}

/** vu_vring_used_idx() - Return: the used index the ring shows now */
uint16_t vu_vring_read_used_idx(const struct vu_vring *vr);

/**
 * vu_vring_avail() - how many chains the guest offers now
 * Return: their number, or VU_RING_BAD when the guest's index is more
 *         than num ahead of ours
 */
int vu_vring_avail(struct vu_vring *vr);

/**
 * vu_vring_pop() - take the next chain
 * @writable: the chain must be device-writable (RX) or readable (TX)
 * @iov: out: the chain's buffers, at most VU_VRING_MAX_IOV
 * @iovcnt: out: entries of @iov
 * @head: out: the chain's head, for vu_vring_push()
 * @len: out: its bytes (the sum is bounded: < 2^32)
 * Return: VU_RING_OK, VU_RING_EMPTY, or VU_RING_BAD (an index, address,
 *         length, loop, nesting or direction the guest got wrong)
 */
int vu_vring_pop(struct vu_vring *vr, const struct vu_mem *mem, bool writable,
                 struct iovec *iov, int *iovcnt, uint16_t *head, uint32_t *len);

/** vu_vring_unpop() - give back the last @n chains vu_vring_pop() took */
static inline void vu_vring_unpop(struct vu_vring *vr, uint16_t n)
{
    vr->last_avail = (uint16_t)(vr->last_avail - n);
}

/**
 * vu_vring_push() - write a used entry for @head, @len bytes written,
 * @k entries after the pending ones; vu_vring_commit() counts them
 */
void vu_vring_push(struct vu_vring *vr, uint16_t k, uint16_t head,
                   uint32_t len);

/** vu_vring_commit() - @n entries pushed at 0..@n-1 are now pending */
static inline void vu_vring_commit(struct vu_vring *vr, uint16_t n)
{
    vr->pending = (uint16_t)(vr->pending + n);
}

/**
 * vu_vring_publish() - make the pending used entries visible to the guest
 * Return: whether the guest asked to be told (EVENT_IDX's used_event, or
 *         no VRING_AVAIL_F_NO_INTERRUPT)
 */
bool vu_vring_publish(struct vu_vring *vr);

/**
 * vu_vring_kicks_on() - as a ring starts: without EVENT_IDX, clear the
 * VRING_USED_F_NO_NOTIFY an earlier back-end may have left, so that the
 * guest kicks until the first chain is taken
 */
void vu_vring_kicks_on(struct vu_vring *vr);

/**
 * vu_vring_want_kick() - ask the guest to kick for the next chain it adds
 * (EVENT_IDX's avail_event, else clearing VRING_USED_F_NO_NOTIFY, which
 * vu_vring_pop() sets again: either way one kick per wait, not one per
 * chain the guest adds while we are taking them)
 * Return: whether chains came meanwhile (then take them: no kick comes)
 */
bool vu_vring_want_kick(struct vu_vring *vr);

#endif
