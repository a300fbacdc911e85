/*
 * bench.h - what the benchmark's generator and sink agree on: frame sizes,
 * the ethertypes that tell measured frames from probes, and the frame
 * layout (an Ethernet broadcast, so that a hub floods it to every port).
 */
#ifndef NETBE_BENCH_H
#define NETBE_BENCH_H

#include <stdint.h>
#include <string.h>

#define BENCH_MIN_FRAME 60
#define BENCH_MAX_FRAME 65535

/* IEEE 802 local experimental ethertypes. */
#define BENCH_ETHERTYPE_DATA 0x88b5
#define BENCH_ETHERTYPE_PROBE 0x88b6

static inline void bench_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static inline uint32_t bench_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline void bench_fill_frame(uint8_t *f, int size, uint16_t ethertype)
{
    static const uint8_t src[6] = {0x52, 0x54, 0x00, 0xbe, 0x4c, 0x01};

    memset(f, 0xff, 6);
    memcpy(f + 6, src, 6);
    f[12] = ethertype >> 8;
    f[13] = ethertype & 0xff;
    for (int i = 14; i < size; i++) {
        f[i] = (uint8_t)i;
    }
}

/* 0: not ours, 1: a measured frame, 2: a probe. */
static inline int bench_classify(const uint8_t *f, uint32_t len)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint16_t type;

    if (len < 14 || memcmp(f, bcast, 6)) {
        return 0;
    }
    type = (uint16_t)(f[12] << 8 | f[13]);
    if (type == BENCH_ETHERTYPE_DATA) {
        return 1;
    }
    return type == BENCH_ETHERTYPE_PROBE ? 2 : 0;
}

#endif
