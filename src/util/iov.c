/*
 * iov.c - gather/scatter helpers for packets described as iovec arrays.
 *
 * These run on the packet path, so they never allocate and tolerate
 * zero-length entries anywhere in the array (guests and filters produce
 * them).  A negative or zero iovcnt is treated as an empty array.
 */
#include <string.h>

#include "netbe/util.h"

size_t netbe_iov_size(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    int i;

    for (i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    return total;
}

size_t netbe_iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset,
                        void *buf, size_t bytes)
{
    uint8_t *out = buf;
    size_t done = 0;
    int i;

    for (i = 0; i < iovcnt && done < bytes; i++) {
        size_t len = iov[i].iov_len;
        size_t n;

        if (offset >= len) {
            offset -= len;
            continue;
        }
        n = len - offset;
        if (n > bytes - done) {
            n = bytes - done;
        }
        memcpy(out + done, (const uint8_t *)iov[i].iov_base + offset, n);
        done += n;
        offset = 0;
    }
    return done;
}

size_t netbe_iov_from_buf(const struct iovec *iov, int iovcnt, size_t offset,
                          const void *buf, size_t bytes)
{
    const uint8_t *in = buf;
    size_t done = 0;
    int i;

    for (i = 0; i < iovcnt && done < bytes; i++) {
        size_t len = iov[i].iov_len;
        size_t n;

        if (offset >= len) {
            offset -= len;
            continue;
        }
        n = len - offset;
        if (n > bytes - done) {
            n = bytes - done;
        }
        memcpy((uint8_t *)iov[i].iov_base + offset, in + done, n);
        done += n;
        offset = 0;
    }
    return done;
}

/*
 * A range that runs past the end of @src is clipped to the data that
 * exists, as QEMU's iov_copy() does; empty pieces are never emitted so
 * consumers can rely on every entry carrying data.
 */
int netbe_iov_slice(struct iovec *dst, int dst_cnt, const struct iovec *src,
                    int src_cnt, size_t offset, size_t bytes)
{
    int used = 0;
    int i;

    for (i = 0; i < src_cnt && bytes > 0; i++) {
        size_t len = src[i].iov_len;
        size_t n;

        if (offset >= len) {
            offset -= len;
            continue;
        }
        n = len - offset;
        if (n > bytes) {
            n = bytes;
        }
        if (used >= dst_cnt) {
            return -1;
        }
        dst[used].iov_base = (uint8_t *)src[i].iov_base + offset;
        dst[used].iov_len = n;
        used++;
        bytes -= n;
        offset = 0;
    }
    return used;
}
