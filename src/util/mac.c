/*
 * mac.c - Ethernet MAC address parsing, formatting and classification,
 * accepting exactly the spellings QEMU's -net/-nic macaddr= does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/util.h"

/*
 * Besides the six-octet form, QEMU takes a lone number (decimal, 0x hex
 * or 0 octal, at most 0xffffff) as the last three octets, leaving the
 * first three as the caller pre-filled them (normally the 52:54:00
 * prefix).  That includes the empty string, which clears the last three
 * octets; users rely on neither quirk being different from QEMU.
 *
 * Octets go through strtol() base 16 just as in QEMU, so "0x1", " 1",
 * "+1" and even an empty octet ("::::::" style) are accepted; only the
 * separator after each octet is checked.  Unlike QEMU, @mac is left
 * untouched on failure.
 */
int netbe_mac_parse(uint8_t mac[6], const char *str)
{
    uint8_t tmp[6];
    const char *p = str;
    char *end;
    long v;
    int i;

    errno = 0;
    v = strtol(str, &end, 0);
    if (errno == 0 && *end == '\0' && v >= 0 && v <= 0xffffff) {
        mac[3] = (uint8_t)(v >> 16);
        mac[4] = (uint8_t)(v >> 8);
        mac[5] = (uint8_t)v;
        return 0;
    }

    for (i = 0; i < 6; i++) {
        tmp[i] = (uint8_t)strtol(p, &end, 16);
        p = end;
        if (i == 5) {
            if (*p != '\0') {
                return -1;
            }
        } else {
            if (*p != ':' && *p != '-') {
                return -1;
            }
            p++;
        }
    }
    memcpy(mac, tmp, sizeof(tmp));
    return 0;
}

void netbe_mac_format(char out[NETBE_MAC_STRLEN], const uint8_t mac[6])
{
    snprintf(out, NETBE_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
             mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool netbe_mac_is_multicast(const uint8_t mac[6])
{
    return mac[0] & 1;
}

bool netbe_mac_is_broadcast(const uint8_t mac[6])
{
    return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

bool netbe_mac_is_zero(const uint8_t mac[6])
{
    return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}
