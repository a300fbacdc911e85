/*
 * filter.c - the filter chain of a client (QEMU's net/filter.c).
 *
 * A frame a client sends passes the sender's filters head to tail (TX),
 * then the receiver's filters tail to head (RX).  A filter returns 0 to
 * pass a frame on or its size when it took it: to drop it, to send it
 * elsewhere, or to hold it and release it later with
 * netbe_filter_pass_to_next(), which resumes the walk after that filter.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "netbe/util.h"

static ssize_t filter_receive(struct netbe_filter *nf,
                              enum netbe_filter_direction dir,
                              struct netbe_client *sender, unsigned flags,
                              const struct iovec *iov, int iovcnt,
                              netbe_packet_sent *sent_cb)
{
    if (!nf->on) {
        return 0;
    }
    if (nf->direction != dir && nf->direction != NETBE_FILTER_DIRECTION_ALL) {
        return 0;
    }
    return nf->ops->receive_iov(nf, sender, flags, iov, iovcnt, sent_cb);
}

static struct netbe_filter *chain_next(struct netbe_client *nc,
                                       struct netbe_filter *nf,
                                       enum netbe_filter_direction dir)
{
    if (dir == NETBE_FILTER_DIRECTION_TX) {
        return nf ? TAILQ_NEXT(nf, next) : TAILQ_FIRST(&nc->filters);
    }
    return nf ? TAILQ_PREV(nf, netbe_filter_head, next)
              : TAILQ_LAST(&nc->filters, netbe_filter_head);
}

ssize_t filter_chain(struct netbe_client *nc, enum netbe_filter_direction dir,
                     struct netbe_filter *after, struct netbe_client *sender,
                     unsigned flags, const struct iovec *iov, int iovcnt,
                     netbe_packet_sent *sent_cb)
{
    struct netbe_filter *nf;

    for (nf = chain_next(nc, after, dir); nf; nf = chain_next(nc, nf, dir)) {
        ssize_t ret =
            filter_receive(nf, dir, sender, flags, iov, iovcnt, sent_cb);

        if (ret) {
            return ret;
        }
    }
    return 0;
}

ssize_t netbe_filter_pass_to_next(struct netbe_filter *nf,
                                  struct netbe_client *sender, unsigned flags,
                                  const struct iovec *iov, int iovcnt)
{
    size_t size = netbe_iov_size(iov, iovcnt);
    enum netbe_filter_direction dir = nf->direction;
    struct netbe_client *peer;
    ssize_t ret;

    if (!sender || !sender->peer || client_dying(sender) ||
        client_dying(sender->peer)) {
        return (ssize_t)size;
    }
    peer = sender->peer;
    core_enter(sender->ctx);
    if (dir == NETBE_FILTER_DIRECTION_ALL) {
        dir = sender == nf->netdev ? NETBE_FILTER_DIRECTION_TX
                                   : NETBE_FILTER_DIRECTION_RX;
    }
    ret = filter_chain(nf->netdev, dir, nf, sender, flags, iov, iovcnt, NULL);
    /*
     * Leaving the sender's TX chain, the frame still owes the receiver's
     * RX chain (QEMU skips it here; the normal path does not).
     */
    if (ret == 0 && dir == NETBE_FILTER_DIRECTION_TX) {
        ret = filter_chain(peer, NETBE_FILTER_DIRECTION_RX, NULL, sender, flags,
                           iov, iovcnt, NULL);
    }
    if (ret == 0) {
        core_send_to_peer(sender, peer, flags, iov, iovcnt, NULL);
        ret = (ssize_t)size;
    }
    core_leave(sender->ctx);
    return ret;
}

struct netbe_filter *netbe_filter_find(struct netbe_ctx *ctx, const char *id)
{
    struct netbe_client *nc;
    struct netbe_filter *nf;

    TAILQ_FOREACH (nc, &ctx->clients, next) {
        TAILQ_FOREACH (nf, &nc->filters, next) {
            if (strcmp(nf->id, id) == 0) {
                return nf;
            }
        }
    }
    return NULL;
}

struct netbe_filter *netbe_filter_new(struct netbe_client *nc,
                                      const struct netbe_filter_ops *ops,
                                      const char *id,
                                      enum netbe_filter_direction direction,
                                      const char *position, bool insert_before,
                                      struct netbe_error **errp)
{
    struct netbe_filter *nf, *at = NULL;

    if (!id || !netbe_id_wellformed(id)) {
        netbe_error_setg(errp, "Parameter 'id' expects an identifier");
        return NULL;
    }
    if (netbe_filter_find(nc->ctx, id)) {
        netbe_error_setg(errp, "Duplicate ID '%s' for object", id);
        return NULL;
    }
    if (!position) {
        position = "tail";
    }
    if (strcmp(position, "head") != 0 && strcmp(position, "tail") != 0) {
        const char *pid;

        if (strncmp(position, "id=", 3) != 0) {
            netbe_error_setg(errp, "Parameter 'position' expects 'head', "
                                   "'tail' or 'id=<id>'");
            return NULL;
        }
        pid = position + 3;
        at = netbe_filter_find(nc->ctx, pid);
        if (!at) {
            netbe_error_setg(errp, "filter '%s' not found", pid);
            return NULL;
        }
        if (at->netdev != nc) {
            netbe_error_setg(errp, "filter '%s' belongs to a different netdev",
                             pid);
            return NULL;
        }
    }

    nf = netbe_malloc0(sizeof(*nf));
    nf->ops = ops;
    nf->id = netbe_strdup(id);
    nf->netdev = nc;
    nf->direction = direction;
    nf->on = true;
    nf->position = netbe_strdup(position);
    nf->insert_before = insert_before;
    if (at) {
        if (insert_before) {
            TAILQ_INSERT_BEFORE(at, nf, next);
        } else {
            TAILQ_INSERT_AFTER(&nc->filters, at, nf, next);
        }
    } else if (strcmp(position, "head") == 0) {
        TAILQ_INSERT_HEAD(&nc->filters, nf, next);
    } else {
        TAILQ_INSERT_TAIL(&nc->filters, nf, next);
    }
    return nf;
}

void netbe_filter_del(struct netbe_filter *nf)
{
    TAILQ_REMOVE(&nf->netdev->filters, nf, next);
    if (nf->ops->cleanup) {
        nf->ops->cleanup(nf);
    }
    free(nf->position);
    free(nf->id);
    free(nf);
}

void netbe_filter_set_status(struct netbe_filter *nf, bool on)
{
    if (nf->on == on) {
        return;
    }
    nf->on = on;
    if (nf->ops->status_changed) {
        nf->ops->status_changed(nf);
    }
}

void filters_delete_all(struct netbe_client *nc)
{
    struct netbe_filter *nf;

    while ((nf = TAILQ_FIRST(&nc->filters))) {
        netbe_filter_del(nf);
    }
}
