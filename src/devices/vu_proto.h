/*
 * vu_proto.h - the vhost-user protocol of a net device's back-end: the
 * messages a front-end (QEMU, DPDK's virtio-user) sends, checked and
 * applied to one connection's state.
 *
 * QEMU's docs/interop/vhost-user.rst is the reference.  Every message is
 * validated before it changes anything: its header, its size for its
 * request, the number of fds it carries, ring indices, sizes, addresses
 * and memory regions (overlaps included).  A message that fails makes
 * vu_proto_handle() return -1 with the reason: the caller resets the
 * connection.  The net device hears about what it must act on through
 * struct vu_proto_ops; the fuzz target fuzz_vhost_msg drives this file
 * with no device behind it.
 */
#ifndef NETBE_DEVICES_VU_PROTO_H
#define NETBE_DEVICES_VU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/vring.h"

enum vu_request {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_SEND_RARP = 19,
    VU_NET_SET_MTU = 20,
    VU_GET_MAX_MEM_SLOTS = 36,
    VU_ADD_MEM_REG = 37,
    VU_REM_MEM_REG = 38,
};

#define VU_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_HDR_SIZE 12
#define VU_MAX_FDS 8       /* VHOST_MEMORY_BASELINE_NREGIONS */
#define VU_PAYLOAD_MAX 264 /* the largest: SET_MEM_TABLE's 8 regions */
#define VU_VRING_NOFD (1ull << 8)
#define VU_VRING_IDX_MASK 0xffull

/* protocol features */
#define VU_PF_MQ 0
#define VU_PF_LOG_SHMFD 1
#define VU_PF_RARP 2
#define VU_PF_REPLY_ACK 3
#define VU_PF_MTU 4
#define VU_PF_CONFIGURE_MEM_SLOTS 15

/* feature bits */
#define VU_F_PROTOCOL_FEATURES 30
#define VHOST_F_LOG_ALL 26
/* SET_VRING_ADDR's flags: log writes to the used ring */
#define VHOST_VRING_F_LOG 0
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ANY_LAYOUT 27
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_MQ 22

#define VU_BIT(b) (1ull << (b))

struct vu_msg {
    uint32_t request, flags, size;
    union {
        uint64_t u64;
        uint8_t bytes[VU_PAYLOAD_MAX];
    } payload;
    int fds[VU_MAX_FDS];
    int nfds;
};

/* one ring's protocol state; the walker's part is vr */
struct vu_ring {
    struct vu_vring vr;
    int kick_fd, call_fd, err_fd;
    bool enabled; /* SET_VRING_ENABLE, or implied without protocol features */
    bool started; /* a kick fd came and GET_VRING_BASE did not stop it */
};

struct vu_proto;

/* What the device must act on; every hook may be NULL. */
struct vu_proto_ops {
    /* the ring may run (started, enabled, mapped) or must stop */
    void (*ring_changed)(struct vu_proto *p, unsigned idx);
    /* SET_FEATURES: every ring is stopped */
    void (*features_changed)(struct vu_proto *p);
    /* the memory table changes: nothing may point into it until done */
    void (*mem_changing)(struct vu_proto *p);
    void (*send_rarp)(struct vu_proto *p, const uint8_t mac[6]);
    /* munmap() and close() for the fuzz target, which has neither */
    void (*unmap)(struct vu_proto *p, void *addr, size_t len);
    void *(*map)(struct vu_proto *p, int fd, size_t len);
};

struct vu_proto {
    const struct vu_proto_ops *ops;
    void *opaque;
    uint64_t features_offered, protocol_offered;
    uint64_t features, protocol;
    bool features_set, owner;
    unsigned nrings; /* 2 per queue pair */
    uint16_t mtu;
    struct vu_mem mem;
    struct vu_log log; /* SET_LOG_BASE's, each ring's vr.log */
    struct vu_ring rings[];
};

/**
 * vu_proto_new() - the state of one connection, @pairs queue pairs
 * Return: it, to free with vu_proto_free()
 */
struct vu_proto *vu_proto_new(unsigned pairs, uint64_t features,
                              uint64_t protocol, const struct vu_proto_ops *ops,
                              void *opaque);
/** vu_proto_free() - unmap memory, close fds, free */
void vu_proto_free(struct vu_proto *p);

/**
 * vu_msg_check() - the header and the payload size of @m (payload read)
 * Return: NULL or what is wrong
 */
const char *vu_msg_check(const struct vu_msg *m);

/**
 * vu_proto_handle() - apply @m; it owns @m's fds (kept or closed)
 * @reply: out: reply->size >= 0 and request set when a reply is due
 * @need_reply: out: whether @reply must be sent
 * @why: out: on failure, what was wrong, for the log
 * Return: 0, or -1: reset the connection (a REPLY_ACK failure may be in
 *         @reply first)
 */
int vu_proto_handle(struct vu_proto *p, struct vu_msg *m, struct vu_msg *reply,
                    bool *need_reply, const char **why);

/** vu_proto_ring_running() - started, enabled and mapped */
bool vu_proto_ring_running(const struct vu_proto *p, unsigned idx);

/** vu_msg_name() - "SET_MEM_TABLE", or "?" */
const char *vu_msg_name(uint32_t request);

#endif
