/*
 * tapwire.h - the wire side of a tap in unit tests: bring the interface
 * up (without IPv6, whose neighbour discovery would add frames) and open
 * a packet socket on it.  For test_tap.c and test_bhyve.c.
 */
#ifndef NETBE_TESTS_TAPWIRE_H
#define NETBE_TESTS_TAPWIRE_H

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Up, without IPv6; Return: the interface's index. */
static inline int tapwire_if_up(const char *ifname)
{
    char path[128];
    struct ifreq ifr;
    int s, fd;

    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
             ifname);
    fd = open(path, O_WRONLY);
    if (fd >= 0) {
        assert_int_equal(write(fd, "1", 1), 1);
        close(fd);
    }
    s = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s >= 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    assert_int_equal(ioctl(s, SIOCGIFINDEX, &ifr), 0);
    close(s);
    return ifr.ifr_ifindex;
}

/* A non-blocking packet socket on @ifname, brought up. */
static inline int tapwire_open(const char *ifname)
{
    struct sockaddr_ll sll;
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));

    assert_true(s >= 0);
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = tapwire_if_up(ifname);
    assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
    return s;
}

#endif
