/*
 * netbe/util.h - iovec helpers, CRC32, MAC addresses, host:port, ids.
 */
#ifndef NETBE_UTIL_H
#define NETBE_UTIL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "netbe/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NETBE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** netbe_iov_size() - total bytes of an iovec array */
size_t netbe_iov_size(const struct iovec *iov, int iovcnt);

/**
 * netbe_iov_to_buf() - copy up to @bytes from @iov, starting @offset bytes
 * in, to @buf
 * Return: bytes copied (less than @bytes when the iovec is shorter)
 */
size_t netbe_iov_to_buf(const struct iovec *iov, int iovcnt, size_t offset,
                        void *buf, size_t bytes);

/** netbe_iov_from_buf() - the reverse of netbe_iov_to_buf() */
size_t netbe_iov_from_buf(const struct iovec *iov, int iovcnt, size_t offset,
                          const void *buf, size_t bytes);

/**
 * netbe_iov_slice() - describe bytes [@offset, @offset+@bytes) of @src in
 * @dst without copying data
 * Return: entries used in @dst, or -1 when @dst_cnt is too small
 */
int netbe_iov_slice(struct iovec *dst, int dst_cnt, const struct iovec *src,
                    int src_cnt, size_t offset, size_t bytes);

/** netbe_crc32_be() - Ethernet CRC32, big-endian bit order (multicast hash) */
uint32_t netbe_crc32_be(const uint8_t *p, size_t len);
/** netbe_crc32_le() - Ethernet CRC32, little-endian bit order */
uint32_t netbe_crc32_le(const uint8_t *p, size_t len);

#define NETBE_MAC_STRLEN 18 /* "xx:xx:xx:xx:xx:xx" and NUL */

/**
 * netbe_mac_parse() - parse "52:54:00:12:34:56" (':' or '-' separated,
 * one or two hex digits each, as QEMU's net_parse_macaddr)
 * Return: 0, or -1 on bad syntax
 */
int netbe_mac_parse(uint8_t mac[6], const char *str);
/** netbe_mac_format() - lower-case "xx:xx:xx:xx:xx:xx" */
void netbe_mac_format(char out[NETBE_MAC_STRLEN], const uint8_t mac[6]);
/** netbe_mac_is_multicast() - the group bit of the first octet */
bool netbe_mac_is_multicast(const uint8_t mac[6]);
bool netbe_mac_is_broadcast(const uint8_t mac[6]);
bool netbe_mac_is_zero(const uint8_t mac[6]);

/**
 * netbe_parse_host_port() - "host:port" to an IPv4 address, with QEMU's
 * messages ("host address 'X' doesn't contain ':' separating host from
 * port", "host address 'X' is not a valid IPv4 address", "can't resolve
 * host address 'X'", "port number 'X' is invalid").  An empty host means
 * INADDR_ANY.
 */
int netbe_parse_host_port(struct sockaddr_in *saddr, const char *str,
                          struct netbe_error **errp);

/**
 * netbe_id_wellformed() - QEMU's id rule: a letter, then letters, digits,
 * '-', '.' and '_'
 */
bool netbe_id_wellformed(const char *id);

/**
 * netbe_parse_uint() - a whole unsigned number, decimal, 0x hex or 0 octal
 * Return: 0, or -1 when @str is empty, has trailing junk or overflows
 */
int netbe_parse_uint(const char *str, uint64_t *out);

/**
 * netbe_parse_size() - a size with an optional suffix B, k/K, M, G, T, P, E
 * (powers of 1024, as QEMU's qemu_strtosz); fractions like "1.5M" allowed
 * Return: 0, or -1 on bad syntax or overflow
 */
int netbe_parse_size(const char *str, uint64_t *out);

/**
 * netbe_parse_bool() - on/off/yes/no/true/false (QEMU accepts exactly these)
 * Return: 0, or -1 for anything else
 */
int netbe_parse_bool(const char *str, bool *out);

/** netbe_strdup_printf() - malloc'ed formatted string; aborts on ENOMEM */
char *netbe_strdup_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Allocation helpers that abort on ENOMEM (control path only). */
void *netbe_malloc0(size_t size);
void *netbe_realloc(void *p, size_t size);
char *netbe_strdup(const char *s);

#ifdef __cplusplus
}
#endif

#endif
