/*
 * fuzz_vhost_msg.c - libFuzzer target for the vhost-user message layer
 * (src/devices/vu_proto.c), which reads what a front-end sends.
 *
 * The input is a sequence of messages as they come over the socket
 * (12-byte header, payload), each behind one byte saying how many fds
 * come with it (mod 9; /dev/null fds, which the handler keeps or
 * closes).  Memory regions are "mapped" as zeroed buffers of at most
 * 1 MiB.  Whatever the messages, nothing reads or writes out of bounds,
 * no buffer leaks (LeakSanitizer), a reply fits its
 * payload, and a running ring is always mapped.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/vu_proto.h"
#include "fuzzlib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static void *fake_map(struct vu_proto *p, int fd, size_t len)
{
    return len <= (1u << 20) && len ? calloc(1, len) : NULL;
}

static void fake_unmap(struct vu_proto *p, void *addr, size_t len)
{
    free(addr);
}

static void ring_changed(struct vu_proto *p, unsigned idx)
{
    FZ_CHECK(idx < p->nrings, "ring %u of %u", idx, p->nrings);
    if (vu_proto_ring_running(p, idx)) {
        FZ_CHECK(vu_vring_ready(&p->rings[idx].vr), "running, not mapped");
    }
}

static const struct vu_proto_ops ops = {
    .ring_changed = ring_changed,
    .map = fake_map,
    .unmap = fake_unmap,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vu_proto *p = vu_proto_new(2, ~0ull >> 1, 0xffff, &ops, NULL);
    size_t off = 0;

    while (off + 1 + VU_HDR_SIZE <= size) {
        struct vu_msg m = {0}, reply;
        bool need_reply;
        const char *why;
        int nfds = data[off++] % 9;

        memcpy(&m.request, data + off, 4);
        memcpy(&m.flags, data + off + 4, 4);
        memcpy(&m.size, data + off + 8, 4);
        off += VU_HDR_SIZE;
        if (m.size > VU_PAYLOAD_MAX) {
            break; /* the device reads no further */
        }
        if (m.size > size - off) {
            m.size = (uint32_t)(size - off);
        }
        memcpy(m.payload.bytes, data + off, m.size);
        off += m.size;
        for (int i = 0; i < nfds && i < VU_MAX_FDS; i++) {
            m.fds[m.nfds++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        if (vu_proto_handle(p, &m, &reply, &need_reply, &why) < 0) {
            FZ_CHECK(why != NULL, "a failure without a reason");
            break;
        }
        FZ_CHECK(m.nfds == 0, "fds left in a handled message");
        if (need_reply) {
            FZ_CHECK(reply.size <= VU_PAYLOAD_MAX, "reply of %u", reply.size);
        }
    }
    vu_proto_free(p);
    return 0;
}
