/*
 * hostport.c - "host:port" strings of the socket and UDP backends
 * (listen=, connect=, mcast=, localaddr=) turned into IPv4 addresses with
 * QEMU's parse_host_port() rules and messages.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netbe/util.h"

static int resolve(struct in_addr *addr, const char *name)
{
    struct addrinfo hints, *res = NULL;
    int ret = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    if (getaddrinfo(name, NULL, &hints, &res) != 0) {
        return -1;
    }
    if (res && res->ai_addr && res->ai_addrlen >= sizeof(struct sockaddr_in)) {
        *addr = ((const struct sockaddr_in *)res->ai_addr)->sin_addr;
        ret = 0;
    }
    freeaddrinfo(res);
    return ret;
}

/*
 * The host ends at the first ':'; everything after it is the port, read
 * with strtol() base 0 and, as in QEMU, neither range-checked nor
 * required to be followed by the end of the string.  A host that starts
 * with a digit must be an inet_aton() address; anything else is a name.
 */
int netbe_parse_host_port(struct sockaddr_in *saddr, const char *str,
                          struct netbe_error **errp)
{
    const char *colon = strchr(str, ':');
    const char *port;
    char *host, *end;
    long portnum;
    int ret = -1;

    memset(saddr, 0, sizeof(*saddr));
    if (!colon) {
        netbe_error_setg(errp,
                         "host address '%s' doesn't contain ':' "
                         "separating host from port",
                         str);
        return -1;
    }
    host = netbe_malloc0(colon - str + 1);
    memcpy(host, str, colon - str);
    port = colon + 1;

    saddr->sin_family = AF_INET;
    if (host[0] == '\0') {
        saddr->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (isdigit((unsigned char)host[0])) {
        if (!inet_aton(host, &saddr->sin_addr)) {
            netbe_error_setg(
                errp, "host address '%s' is not a valid IPv4 address", host);
            goto out;
        }
    } else if (resolve(&saddr->sin_addr, host) < 0) {
        netbe_error_setg(errp, "can't resolve host address '%s'", host);
        goto out;
    }

    portnum = strtol(port, &end, 0);
    if (end == port) {
        netbe_error_setg(errp, "port number '%s' is invalid", port);
        goto out;
    }
    /* Truncated to 16 bits like QEMU's htons(int). */
    saddr->sin_port = htons((uint16_t)portnum);
    ret = 0;

out:
    free(host);
    return ret;
}
