/*
 * fuzz_redirector.c - libFuzzer target for what a filter-redirector reads
 * from its indev chardev (src/filters/mirror.c): QEMU's filter wire format
 * (4-byte big-endian length, with vnet_hdr_support a 4-byte vnet header
 * length, then the frame), reassembled, its vnet header converted to the
 * receiver's, and sent on through the filter chain into the graph.
 *
 * The stream is fed whole and cut at points the input picks; both must
 * deliver the same frames (as the receivers see them) and end the same
 * way.  No delivered frame may be larger than the core carries.
 *
 * Input: byte 0: bit 0 vnet_hdr_support, bits 1-2 the filter's queue
 * (all, rx, tx, all), bits 3-4 the netdev's vnet header (0, 10, 12, 0),
 * bits 5-6 its peer's; byte 1: bits 0-3 how many cut lengths follow (one
 * byte each, 0 is an empty read); the rest is the stream.
 */
#include <stdbool.h>
#include <string.h>

#include "filters/filters.h"
#include "fuzzlib.h"
#include "netbe/netbe.h"

struct sink {
    struct netbe_client nc;
    uint64_t frames, bytes, hash;
};

static ssize_t sink_receive(struct netbe_client *nc, const uint8_t *buf,
                            size_t size)
{
    struct sink *s = (struct sink *)nc;
    size_t i;

    FZ_CHECK(size <= NETBE_NET_BUFSIZE + 12, "frame of %zu bytes", size);
    s->frames++;
    s->bytes += size;
    for (i = 0; i < size; i++) {
        s->hash = (s->hash ^ buf[i]) * 1099511628211ull;
    }
    s->hash = (s->hash ^ size) * 1099511628211ull;
    return (ssize_t)size;
}

static const struct netbe_client_info sink_info = {
    .type = NETBE_DRIVER_STREAM,
    .size = sizeof(struct sink),
    .receive = sink_receive,
};

struct outcome {
    uint64_t frames[2], hash[2];
    bool failed;
};

static const int hdr_lens[4] = {0, 10, 12, 0};
static const enum netbe_filter_direction dirs[4] = {
    NETBE_FILTER_DIRECTION_ALL, NETBE_FILTER_DIRECTION_RX,
    NETBE_FILTER_DIRECTION_TX, NETBE_FILTER_DIRECTION_ALL};

static void run(uint8_t mode, const uint8_t *cuts, size_t ncuts,
                const uint8_t *stream, size_t len, struct outcome *o)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct netbe_client *a, *b;
    struct netbe_filter_conf conf = {.on = true};
    struct netbe_filter *nf;
    struct netbe_error *err = NULL;
    size_t off = 0, k = 0;

    a = netbe_client_new(ctx, &sink_info, NULL, "a", "a");
    b = netbe_client_new(ctx, &sink_info, a, "b", "b");
    a->vnet_hdr_len = hdr_lens[(mode >> 3) & 3];
    b->vnet_hdr_len = hdr_lens[(mode >> 5) & 3];
    conf.netdev = a;
    conf.direction = dirs[(mode >> 1) & 3];
    nf = netbe_redirector_new_bare(&conf, "r", mode & 1, &err);
    FZ_CHECK(nf, "%s", netbe_error_msg(err));
    o->failed = false;
    while (off < len) {
        size_t n = ncuts ? cuts[k++ % ncuts] : len - off;

        if (n > len - off) {
            n = len - off;
        }
        if (netbe_redirector_feed(nf, stream + off, n, &err) < 0) {
            netbe_error_free(err);
            err = NULL;
            o->failed = true;
            break;
        }
        off += n;
        if (ncuts && k > len + ncuts) {
            /* only zero-length cuts: feed the rest whole */
            ncuts = 0;
        }
    }
    o->frames[0] = ((struct sink *)a)->frames;
    o->hash[0] = ((struct sink *)a)->hash;
    o->frames[1] = ((struct sink *)b)->frames;
    o->hash[1] = ((struct sink *)b)->hash;
    netbe_ctx_free(ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, cut;
    size_t ncuts;

    if (size < 2) {
        return 0;
    }
    ncuts = data[1] & 15;
    if (size < 2 + ncuts) {
        return 0;
    }
    run(data[0], NULL, 0, data + 2 + ncuts, size - 2 - ncuts, &whole);
    run(data[0], data + 2, ncuts, data + 2 + ncuts, size - 2 - ncuts, &cut);
    FZ_CHECK(whole.failed == cut.failed, "whole failed %d, cut %d",
             whole.failed, cut.failed);
    FZ_CHECK(whole.frames[0] == cut.frames[0] &&
                 whole.frames[1] == cut.frames[1] &&
                 whole.hash[0] == cut.hash[0] && whole.hash[1] == cut.hash[1],
             "whole and cut delivered different frames");
    return 0;
}
