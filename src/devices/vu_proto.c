/*
 * vu_proto.c - the vhost-user messages of a net back-end (vu_proto.h).
 *
 * The front-end is as untrusted as its guest: a message is checked whole
 * before it changes anything, and a message that fails is the end of the
 * connection (the caller resets it).  Rings start when their kick fd
 * comes and stop at GET_VRING_BASE; with VHOST_USER_F_PROTOCOL_FEATURES
 * negotiated they also wait for SET_VRING_ENABLE, as the spec says.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/vu_proto.h"
#include "netbe/util.h"

struct vring_state {
    uint32_t index, num;
};

struct vring_addr {
    uint32_t index, flags;
    uint64_t desc, used, avail, log;
};

struct mem_region {
    uint64_t gpa, size, uva, mmap_offset;
};

struct log_base {
    uint64_t mmap_size, mmap_offset;
};

_Static_assert(sizeof(struct vring_addr) == 40, "vhost_vring_addr");
_Static_assert(sizeof(struct mem_region) == 32, "VhostUserMemoryRegion");

static const char *const names[] = {
    [VU_GET_FEATURES] = "GET_FEATURES",
    [VU_SET_FEATURES] = "SET_FEATURES",
    [VU_SET_OWNER] = "SET_OWNER",
    [VU_RESET_OWNER] = "RESET_OWNER",
    [VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VU_SET_LOG_BASE] = "SET_LOG_BASE",
    [VU_SET_LOG_FD] = "SET_LOG_FD",
    [VU_SET_VRING_NUM] = "SET_VRING_NUM",
    [VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VU_SET_VRING_BASE] = "SET_VRING_BASE",
    [VU_GET_VRING_BASE] = "GET_VRING_BASE",
    [VU_SET_VRING_KICK] = "SET_VRING_KICK",
    [VU_SET_VRING_CALL] = "SET_VRING_CALL",
    [VU_SET_VRING_ERR] = "SET_VRING_ERR",
    [VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VU_SEND_RARP] = "SEND_RARP",
    [VU_NET_SET_MTU] = "NET_SET_MTU",
    [VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
    [VU_ADD_MEM_REG] = "ADD_MEM_REG",
    [VU_REM_MEM_REG] = "REM_MEM_REG",
};

const char *vu_msg_name(uint32_t request)
{
    if (request < NETBE_ARRAY_SIZE(names) && names[request]) {
        return names[request];
    }
    return "?";
}

struct vu_proto *vu_proto_new(unsigned pairs, uint64_t features,
                              uint64_t protocol, const struct vu_proto_ops *ops,
                              void *opaque)
{
    unsigned n = 2 * pairs;
    struct vu_proto *p = netbe_malloc0(sizeof(*p) + n * sizeof(struct vu_ring));

    p->ops = ops;
    p->opaque = opaque;
    p->features_offered = features;
    p->protocol_offered = protocol;
    p->nrings = n;
    for (unsigned i = 0; i < n; i++) {
        p->rings[i].kick_fd = p->rings[i].call_fd = p->rings[i].err_fd = -1;
        p->rings[i].vr.log = &p->log;
    }
    return p;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void mem_clear(struct vu_proto *p)
{
    for (unsigned i = 0; i < p->mem.n; i++) {
        struct vu_region *r = &p->mem.r[i];

        if (r->map && p->ops->unmap) {
            p->ops->unmap(p, r->map, r->map_len);
        }
    }
    p->mem.n = 0;
}

static void log_clear(struct vu_proto *p)
{
    if (p->log.map && p->ops->unmap) {
        p->ops->unmap(p, p->log.map, p->log.map_len);
    }
    p->log.map = NULL;
    p->log.bits = NULL;
    p->log.size = 0;
}

void vu_proto_free(struct vu_proto *p)
{
    if (!p) {
        return;
    }
    for (unsigned i = 0; i < p->nrings; i++) {
        close_fd(&p->rings[i].kick_fd);
        close_fd(&p->rings[i].call_fd);
        close_fd(&p->rings[i].err_fd);
    }
    mem_clear(p);
    log_clear(p);
    free(p);
}

static bool has_pf(const struct vu_proto *p, int bit)
{
    return p->protocol & VU_BIT(bit);
}

bool vu_proto_ring_running(const struct vu_proto *p, unsigned idx)
{
    const struct vu_ring *r = &p->rings[idx];

    return r->started && r->enabled && vu_vring_ready(&r->vr);
}

/* The payload size each request must have; -1: not one we take. */
static int expected_size(const struct vu_msg *m)
{
    switch (m->request) {
    case VU_GET_FEATURES:
    case VU_SET_OWNER:
    case VU_RESET_OWNER:
    case VU_GET_PROTOCOL_FEATURES:
    case VU_GET_QUEUE_NUM:
    case VU_GET_MAX_MEM_SLOTS:
        return 0;
    case VU_SET_FEATURES:
    case VU_SET_PROTOCOL_FEATURES:
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR:
    case VU_SEND_RARP:
    case VU_NET_SET_MTU:
    case VU_SET_VRING_NUM:
    case VU_SET_VRING_BASE:
    case VU_GET_VRING_BASE:
    case VU_SET_VRING_ENABLE:
        return 8;
    case VU_SET_VRING_ADDR:
    case VU_ADD_MEM_REG:
    case VU_REM_MEM_REG:
        return 40;
    case VU_SET_LOG_BASE:
        return 16;
    case VU_SET_MEM_TABLE:
        return -2; /* depends on nregions */
    default:
        return -1;
    }
}

const char *vu_msg_check(const struct vu_msg *m)
{
    int want;

    if ((m->flags & VU_FLAG_VERSION_MASK) != VU_VERSION) {
        return "bad protocol version";
    }
    if (m->flags & VU_FLAG_REPLY) {
        return "a reply where a request was due";
    }
    if (m->size > VU_PAYLOAD_MAX) {
        return "payload too large";
    }
    want = expected_size(m);
    if (want == -1) {
        return "request not supported";
    }
    if (want == -2) {
        uint32_t n;

        if (m->size < 8) {
            return "payload size does not match the request";
        }
        memcpy(&n, m->payload.bytes, 4);
        if (n == 0 || n > VU_MAX_FDS) {
            return "bad number of memory regions";
        }
        /* QEMU sends the regions it has, some front-ends all eight */
        if (m->size != 8 + 32 * n && m->size != VU_PAYLOAD_MAX) {
            return "payload size does not match the request";
        }
        return NULL;
    }
    if (m->size != (uint32_t)want) {
        return "payload size does not match the request";
    }
    return NULL;
}

static bool has_own_reply(uint32_t request)
{
    switch (request) {
    case VU_GET_FEATURES:
    case VU_GET_PROTOCOL_FEATURES:
    case VU_GET_VRING_BASE:
    case VU_GET_QUEUE_NUM:
    case VU_GET_MAX_MEM_SLOTS:
    case VU_SET_LOG_BASE: /* QEMU waits for it (an empty payload) */
        return true;
    default:
        return false;
    }
}

static void reply_u64(struct vu_msg *reply, uint64_t v)
{
    reply->size = 8;
    reply->payload.u64 = v;
}

static void changed(struct vu_proto *p, unsigned idx)
{
    if (p->ops->ring_changed) {
        p->ops->ring_changed(p, idx);
    }
}

/* After the memory table changed: a running ring must still map. */
static int remap_rings(struct vu_proto *p, const char **why)
{
    int ret = 0;

    for (unsigned i = 0; i < p->nrings; i++) {
        struct vu_ring *r = &p->rings[i];

        if (!r->vr.addr_set) {
            continue;
        }
        if (vu_vring_map(&r->vr, &p->mem) < 0 && r->started) {
            *why = "a running ring is outside the new memory table";
            ret = -1;
        }
        changed(p, i);
    }
    return ret;
}

static void stop_ring(struct vu_proto *p, unsigned i)
{
    struct vu_ring *r = &p->rings[i];

    if (r->started) {
        r->started = false;
        changed(p, i);
    }
    close_fd(&r->kick_fd);
}

static int map_region(struct vu_proto *p, struct vu_region *r, int fd,
                      const char **why)
{
    if (r->mmap_offset + r->size < r->mmap_offset ||
        r->mmap_offset + r->size > SIZE_MAX) {
        *why = "memory region too large";
        return -1;
    }
    r->map_len = (size_t)(r->mmap_offset + r->size);
    r->map = p->ops->map ? p->ops->map(p, fd, r->map_len) : NULL;
    if (!r->map) {
        *why = "cannot map a memory region";
        return -1;
    }
    r->host = (uint8_t *)r->map + r->mmap_offset;
    return 0;
}

static void region_from(struct vu_region *r, const uint8_t *b)
{
    struct mem_region mr;

    memcpy(&mr, b, sizeof(mr));
    memset(r, 0, sizeof(*r));
    r->gpa = mr.gpa;
    r->size = mr.size;
    r->uva = mr.uva;
    r->mmap_offset = mr.mmap_offset;
}

static int set_mem_table(struct vu_proto *p, struct vu_msg *m, const char **why)
{
    struct vu_mem mem = {0};
    uint32_t n;

    memcpy(&n, m->payload.bytes, 4);
    if ((int)n != m->nfds) {
        *why = "SET_MEM_TABLE: not one fd per region";
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct vu_region r;

        region_from(&r, m->payload.bytes + 8 + 32 * i);
        if ((*why = vu_mem_check_new(&mem, &r))) {
            goto fail;
        }
        mem.r[mem.n++] = r;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (map_region(p, &mem.r[i], m->fds[i], why) < 0) {
            goto fail;
        }
    }
    mem_clear(p);
    p->mem = mem;
    return remap_rings(p, why);

fail:
    for (unsigned i = 0; i < mem.n; i++) {
        if (mem.r[i].map && p->ops->unmap) {
            p->ops->unmap(p, mem.r[i].map, mem.r[i].map_len);
        }
    }
    return -1;
}

static int add_mem_reg(struct vu_proto *p, struct vu_msg *m, const char **why)
{
    struct vu_region r;

    if (m->nfds != 1) {
        *why = "ADD_MEM_REG: not one fd";
        return -1;
    }
    region_from(&r, m->payload.bytes + 8);
    /*
     * QEMU with queues=N adds each region once per queue pair: the same
     * region again changes nothing.
     */
    for (unsigned i = 0; i < p->mem.n; i++) {
        const struct vu_region *o = &p->mem.r[i];

        if (o->gpa == r.gpa && o->size == r.size && o->uva == r.uva &&
            o->mmap_offset == r.mmap_offset) {
            return 0;
        }
    }
    if ((*why = vu_mem_check_new(&p->mem, &r)) ||
        map_region(p, &r, m->fds[0], why) < 0) {
        return -1;
    }
    p->mem.r[p->mem.n++] = r;
    return remap_rings(p, why);
}

static int rem_mem_reg(struct vu_proto *p, struct vu_msg *m, const char **why)
{
    struct vu_region r;

    if (m->nfds > 1) {
        *why = "REM_MEM_REG: more than one fd";
        return -1;
    }
    region_from(&r, m->payload.bytes + 8);
    for (unsigned i = 0; i < p->mem.n; i++) {
        struct vu_region *o = &p->mem.r[i];

        if (o->gpa == r.gpa && o->size == r.size && o->uva == r.uva) {
            if (o->map && p->ops->unmap) {
                p->ops->unmap(p, o->map, o->map_len);
            }
            p->mem.r[i] = p->mem.r[--p->mem.n];
            return remap_rings(p, why);
        }
    }
    /* ... and removes it once per queue pair */
    return 0;
}

/* SET_LOG_BASE: the dirty log moves to the fd that came with it. */
static int set_log_base(struct vu_proto *p, struct vu_msg *m, const char **why)
{
    struct log_base lb;
    struct vu_region r = {0};

    if (m->nfds != 1) {
        *why = "SET_LOG_BASE: not one fd";
        return -1;
    }
    memcpy(&lb, m->payload.bytes, sizeof(lb));
    if (!lb.mmap_size) {
        *why = "SET_LOG_BASE: an empty log";
        return -1;
    }
    /* mapped as a memory region is: offset and size checked, then mmap */
    r.mmap_offset = lb.mmap_offset;
    r.size = lb.mmap_size;
    if (map_region(p, &r, m->fds[0], why) < 0) {
        return -1;
    }
    log_clear(p);
    p->log.map = r.map;
    p->log.map_len = r.map_len;
    p->log.bits = r.host;
    p->log.size = r.size;
    return 0;
}

static struct vu_ring *ring_of(struct vu_proto *p, uint64_t idx,
                               const char **why)
{
    if (idx >= p->nrings) {
        *why = "ring index out of range";
        return NULL;
    }
    return &p->rings[idx];
}

/* SET_VRING_KICK, _CALL, _ERR */
static int set_ring_fd(struct vu_proto *p, struct vu_msg *m, const char **why)
{
    uint64_t v = m->payload.u64;
    bool nofd = v & VU_VRING_NOFD;
    struct vu_ring *r;
    int *slot;

    if (v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD)) {
        *why = "unknown bits in a ring fd message";
        return -1;
    }
    if (m->nfds != (nofd ? 0 : 1)) {
        *why = "ring fd message without its fd";
        return -1;
    }
    if (!(r = ring_of(p, v & VU_VRING_IDX_MASK, why))) {
        return -1;
    }
    slot = m->request == VU_SET_VRING_KICK   ? &r->kick_fd
           : m->request == VU_SET_VRING_CALL ? &r->call_fd
                                             : &r->err_fd;
    if (m->request == VU_SET_VRING_KICK && nofd) {
        *why = "SET_VRING_KICK without an fd (polling is not supported)";
        return -1;
    }
    /* the device lets go of a kick fd before it is closed */
    if (m->request == VU_SET_VRING_KICK && r->started) {
        r->started = false;
        changed(p, (unsigned)(r - p->rings));
    }
    close_fd(slot);
    if (!nofd) {
        *slot = m->fds[0];
        m->fds[0] = -1;
        m->nfds = 0;
    }
    if (m->request != VU_SET_VRING_KICK) {
        changed(p, (unsigned)(r - p->rings));
        return 0;
    }
    if (vu_vring_map(&r->vr, &p->mem) < 0) {
        *why = "SET_VRING_KICK: the ring's size or addresses are not valid";
        return -1;
    }
    /* where the used ring stands: after a restart, not at 0 */
    r->vr.used_idx = vu_vring_read_used_idx(&r->vr);
    r->vr.pending = 0;
    r->vr.avail_seen = r->vr.last_avail;
    r->vr.event_idx = p->features & VU_BIT(VIRTIO_RING_F_EVENT_IDX);
    r->vr.indirect = p->features & VU_BIT(VIRTIO_RING_F_INDIRECT_DESC);
    vu_vring_kicks_on(&r->vr);
    r->started = true;
    if (!(p->features & VU_BIT(VU_F_PROTOCOL_FEATURES))) {
        r->enabled = true;
    }
    changed(p, (unsigned)(r - p->rings));
    return 0;
}

static int handle(struct vu_proto *p, struct vu_msg *m, struct vu_msg *reply,
                  const char **why)
{
    struct vring_state st;
    struct vring_addr a;
    struct vu_ring *r;
    uint64_t v = m->payload.u64;

    if (m->request == VU_SET_VRING_NUM || m->request == VU_SET_VRING_BASE ||
        m->request == VU_GET_VRING_BASE || m->request == VU_SET_VRING_ENABLE) {
        memcpy(&st, m->payload.bytes, sizeof(st));
    }
    /* only the memory table and ring fds carry fds */
    if (m->nfds && m->request != VU_SET_MEM_TABLE &&
        m->request != VU_SET_LOG_BASE && m->request != VU_ADD_MEM_REG &&
        m->request != VU_REM_MEM_REG && m->request != VU_SET_VRING_KICK &&
        m->request != VU_SET_VRING_CALL && m->request != VU_SET_VRING_ERR) {
        *why = "unexpected fds";
        return -1;
    }
    switch (m->request) {
    case VU_GET_FEATURES:
        reply_u64(reply, p->features_offered);
        return 0;
    case VU_SET_FEATURES:
        if (v & ~p->features_offered) {
            *why = "SET_FEATURES: features that were not offered";
            return -1;
        }
        p->log.all = v & VU_BIT(VHOST_F_LOG_ALL);
        /*
         * A migration turns logging on and off with the rings running:
         * nothing else changed, so nothing else is redone.
         */
        if (p->features_set &&
            !((p->features ^ v) & ~VU_BIT(VHOST_F_LOG_ALL))) {
            p->features = v;
            return 0;
        }
        p->features = v;
        p->features_set = true;
        for (unsigned i = 0; i < p->nrings; i++) {
            p->rings[i].vr.event_idx = v & VU_BIT(VIRTIO_RING_F_EVENT_IDX);
            p->rings[i].vr.indirect = v & VU_BIT(VIRTIO_RING_F_INDIRECT_DESC);
        }
        if (p->ops->features_changed) {
            p->ops->features_changed(p);
        }
        return 0;
    case VU_SET_OWNER:
        p->owner = true;
        return 0;
    case VU_RESET_OWNER:
        for (unsigned i = 0; i < p->nrings; i++) {
            stop_ring(p, i);
            p->rings[i].enabled = false;
        }
        p->features_set = false;
        p->owner = false;
        return 0;
    case VU_SET_MEM_TABLE:
        return set_mem_table(p, m, why);
    case VU_SET_VRING_NUM:
        if (!(r = ring_of(p, st.index, why))) {
            return -1;
        }
        if (r->started || st.num == 0 || st.num > VU_VRING_MAX_NUM ||
            (st.num & (st.num - 1))) {
            *why = "SET_VRING_NUM: not a power of 2 up to 1024, or running";
            return -1;
        }
        r->vr.num = (uint16_t)st.num;
        return 0;
    case VU_SET_VRING_ADDR:
        memcpy(&a, m->payload.bytes, sizeof(a));
        if (!(r = ring_of(p, a.index, why))) {
            return -1;
        }
        if (a.flags & ~VU_BIT(VHOST_VRING_F_LOG)) {
            *why = "SET_VRING_ADDR: unknown flags";
            return -1;
        }
        /*
         * A running ring takes new addresses too (QEMU sets the log flag
         * on running rings when a migration starts), from the next chain
         * on.
         */
        r->vr.desc_uva = a.desc;
        r->vr.avail_uva = a.avail;
        r->vr.used_uva = a.used;
        r->vr.addr_set = true;
        r->vr.log_used = a.flags & VU_BIT(VHOST_VRING_F_LOG);
        r->vr.log_gpa = a.log;
        if (vu_vring_map(&r->vr, &p->mem) < 0) {
            *why = "SET_VRING_ADDR: rings outside memory or misaligned";
            return -1;
        }
        changed(p, (unsigned)(r - p->rings));
        return 0;
    case VU_SET_VRING_BASE:
        if (!(r = ring_of(p, st.index, why))) {
            return -1;
        }
        if (r->started || st.num > 0xffff) {
            *why = "SET_VRING_BASE: out of range, or running";
            return -1;
        }
        r->vr.last_avail = (uint16_t)st.num;
        return 0;
    case VU_GET_VRING_BASE:
        if (!(r = ring_of(p, st.index, why))) {
            return -1;
        }
        stop_ring(p, st.index);
        st.num = r->vr.last_avail;
        reply->size = sizeof(st);
        memcpy(reply->payload.bytes, &st, sizeof(st));
        return 0;
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR:
        return set_ring_fd(p, m, why);
    case VU_GET_PROTOCOL_FEATURES:
        reply_u64(reply, p->protocol_offered);
        return 0;
    case VU_SET_PROTOCOL_FEATURES:
        if (v & ~p->protocol_offered) {
            *why = "SET_PROTOCOL_FEATURES: features that were not offered";
            return -1;
        }
        p->protocol = v;
        return 0;
    case VU_GET_QUEUE_NUM:
        reply_u64(reply, p->nrings / 2);
        return 0;
    case VU_SET_VRING_ENABLE:
        if (!(r = ring_of(p, st.index, why))) {
            return -1;
        }
        if (st.num > 1) {
            *why = "SET_VRING_ENABLE: neither 0 nor 1";
            return -1;
        }
        r->enabled = st.num;
        changed(p, st.index);
        return 0;
    case VU_SEND_RARP:
        if (!has_pf(p, VU_PF_RARP)) {
            break;
        }
        if (p->ops->send_rarp) {
            p->ops->send_rarp(p, m->payload.bytes);
        }
        return 0;
    case VU_NET_SET_MTU:
        if (!has_pf(p, VU_PF_MTU)) {
            break;
        }
        if (v < 68 || v > 65535) {
            *why = "NET_SET_MTU: out of range";
            return -1;
        }
        p->mtu = (uint16_t)v;
        return 0;
    case VU_GET_MAX_MEM_SLOTS:
        if (!has_pf(p, VU_PF_CONFIGURE_MEM_SLOTS)) {
            break;
        }
        reply_u64(reply, VU_MAX_SLOTS);
        return 0;
    case VU_SET_LOG_BASE:
        if (!has_pf(p, VU_PF_LOG_SHMFD)) {
            break;
        }
        return set_log_base(p, m, why);
    case VU_ADD_MEM_REG:
    case VU_REM_MEM_REG:
        if (!has_pf(p, VU_PF_CONFIGURE_MEM_SLOTS)) {
            break;
        }
        return m->request == VU_ADD_MEM_REG ? add_mem_reg(p, m, why)
                                            : rem_mem_reg(p, m, why);
    }
    *why = "request of a protocol feature that was not negotiated";
    return -1;
}

int vu_proto_handle(struct vu_proto *p, struct vu_msg *m, struct vu_msg *reply,
                    bool *need_reply, const char **why)
{
    int ret;

    *why = vu_msg_check(m);
    memset(reply, 0, offsetof(struct vu_msg, payload));
    reply->request = m->request;
    reply->flags = VU_VERSION | VU_FLAG_REPLY;
    reply->nfds = 0;
    *need_reply = false;
    ret = *why ? -1 : handle(p, m, reply, why);
    for (int i = 0; i < m->nfds; i++) {
        close_fd(&m->fds[i]);
    }
    m->nfds = 0;
    if (has_own_reply(m->request)) {
        *need_reply = ret == 0;
    } else if ((m->flags & VU_FLAG_NEED_REPLY) && has_pf(p, VU_PF_REPLY_ACK)) {
        reply_u64(reply, ret == 0 ? 0 : 1);
        *need_reply = true;
    }
    return ret;
}
