/*
 * user.h - the "user" netdev (user-mode NAT on libslirp) as the monitor
 * and the unit tests see it (internal).
 *
 * The parsers are QEMU 7.2's rules and messages (net/slirp.c), checked
 * against the binary; the commands print what QEMU's HMP prints.
 */
#ifndef NETBE_BACKENDS_USER_H
#define NETBE_BACKENDS_USER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>

#include "netbe/backend.h"
#include "netbe/error.h"
#include "netbe/net.h"
#include "netbe/opts.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const struct netbe_backend_type netbe_backend_user;

/* What a -netdev user's options make of the network, as QEMU derives it. */
struct netbe_user_net {
    bool ipv4, ipv6, restricted;
    struct in_addr net, mask, host, dhcp, dns, smbsrv;
    struct in6_addr prefix6, host6, dns6;
    int prefix6_len;
};

/**
 * netbe_user_parse_net() - the addresses of a -netdev user: defaults
 * 10.0.2.0/24, host .2, DNS .3, DHCP from .15, IPv6 fec0::/64 with host
 * ::2 and DNS ::3; "ipv4=on" alone turns IPv6 off and the other way round
 * @opts: options that passed the type's schema (ipv6-net expanded)
 * @un: filled in
 * @errp: QEMU's messages ("Failed to parse netmask", "Host doesn't belong
 *        to network", "DNS must be different from host", ...)
 * Return: 0 or -1
 */
int netbe_user_parse_net(const struct netbe_opts *opts,
                         struct netbe_user_net *un, struct netbe_error **errp);

struct netbe_user_hostfwd {
    bool udp;
    struct in_addr host_addr;  /* INADDR_ANY when not given */
    int host_port;             /* 0-65535 */
    struct in_addr guest_addr; /* 0: the first DHCP address */
    int guest_port;            /* 1-65535 */
};

/**
 * netbe_user_parse_hostfwd() - "[tcp|udp]:[hostaddr]:hostport-[guestaddr]:
 * guestport"
 * @errp: "Invalid host forwarding rule 'R' (REASON)", REASON as QEMU's
 * Return: 0 or -1
 */
int netbe_user_parse_hostfwd(const char *rule, struct netbe_user_hostfwd *fwd,
                             struct netbe_error **errp);

/**
 * netbe_user_parse_hostfwd_remove() - hostfwd_remove's
 * "[tcp|udp]:[hostaddr]:hostport"
 * Return: 0, or -1 for what QEMU calls "invalid format"
 */
int netbe_user_parse_hostfwd_remove(const char *src, bool *udp,
                                    struct in_addr *addr, int *port);

struct netbe_user_guestfwd {
    struct in_addr server; /* 0: libslirp takes the network's .4 */
    int port;
    const char *target; /* in the rule: "cmd:COMMAND" or a chardev */
};

/**
 * netbe_user_parse_guestfwd() - "[tcp]:[server]:port-TARGET"
 * @errp: "Invalid guest forwarding rule 'R'"
 * Return: 0 or -1
 */
int netbe_user_parse_guestfwd(const char *rule, struct netbe_user_guestfwd *fwd,
                              struct netbe_error **errp);

/* ---- for the monitor ---- */

/**
 * netbe_user_lookup() - the user netdev @id, or the first one when @id is
 * NULL; else print QEMU's "unrecognized netdev id 'X'", "invalid device
 * specified" or "user mode network stack not in use" to @out
 * Return: the client, or NULL
 */
struct netbe_client *netbe_user_lookup(struct netbe_ctx *ctx, const char *id,
                                       FILE *out);

/**
 * netbe_user_hostfwd_add() - add a host forwarding @rule to @nc
 * @errp: "Invalid host forwarding rule ...", "Could not set up host
 *        forwarding rule 'R'"
 * Return: 0 or -1
 */
int netbe_user_hostfwd_add(struct netbe_client *nc, const char *rule,
                           struct netbe_error **errp);

/**
 * netbe_user_hostfwd_remove() - remove the host forwarding rule of @src
 * Return: 1 removed, 0 not found, -1 invalid format
 */
int netbe_user_hostfwd_remove(struct netbe_client *nc, const char *src);

/**
 * netbe_user_info_usernet() - QEMU's "info usernet": "Hub N (ID):" and
 * libslirp's table of connections, for every user netdev in order
 */
void netbe_user_info_usernet(struct netbe_ctx *ctx, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
