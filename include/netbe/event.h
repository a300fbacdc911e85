/*
 * netbe/event.h - events the graph tells about: a stream peer connected
 * or left, a VM joined or left a switch, a NIC changed its receive filter.
 *
 * The core owns no transport for them.  A backend emits a named event with
 * a few typed fields; every sink subscribed to the context gets it, with
 * the wall-clock time it happened.  The QMP server is one such sink: it
 * turns an event into QEMU's {"timestamp": {"seconds": S, "microseconds":
 * U}, "event": NAME, "data": {...}} line, a field "addr.type" becoming
 * member "type" of the object "addr" in "data".  An embedder may subscribe
 * its own sink to log events or act on them.
 *
 * Event names follow QEMU's QAPI rules: QEMU's own for the events QEMU
 * has, and for netbe's own the downstream-extension prefix __RFQDN_
 * (NETBE_EVENT_PREFIX), as docs/devel/qapi-code-gen.rst reserves it.
 */
#ifndef NETBE_EVENT_H
#define NETBE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "netbe/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The downstream prefix of netbe's own QMP names (commands and events):
 * QAPI's "__RFQDN_" form.  netbe has no domain of its own yet; the RFQDN
 * here is a placeholder to change in this one place when it has one.
 */
#define NETBE_QAPI_PREFIX "__org.netbe_"

/* QEMU 8.0's: data {"netdev-id": ID, "addr": SocketAddress} */
#define NETBE_EVENT_NETDEV_STREAM_CONNECTED "NETDEV_STREAM_CONNECTED"
/* QEMU 8.0's: data {"netdev-id": ID} */
#define NETBE_EVENT_NETDEV_STREAM_DISCONNECTED "NETDEV_STREAM_DISCONNECTED"
/* QEMU's: data {"name": NIC, "path": PATH} */
#define NETBE_EVENT_NIC_RX_FILTER_CHANGED "NIC_RX_FILTER_CHANGED"
/*
 * netbe's: a VM's client joined or left a switch, data {"netdev-id": its
 * client, "listener": the listener's id, "hub": N, "port": the hub port}
 */
#define NETBE_EVENT_SWITCH_PORT_JOINED NETBE_QAPI_PREFIX "SWITCH_PORT_JOINED"
#define NETBE_EVENT_SWITCH_PORT_LEFT NETBE_QAPI_PREFIX "SWITCH_PORT_LEFT"

enum netbe_event_type {
    NETBE_EVENT_STR,  /* .str, never NULL */
    NETBE_EVENT_INT,  /* .num */
    NETBE_EVENT_BOOL, /* .flag */
};

/* One member of an event's data. */
struct netbe_event_field {
    /*
     * The member's name; a dotted name "addr.type" is member "type" of the
     * object member "addr".  Fields of one object stand together.
     */
    const char *name;
    enum netbe_event_type type;
    const char *str;
    int64_t num;
    bool flag;
};

struct netbe_event {
    const char *name; /* "NETDEV_STREAM_CONNECTED" */
    const struct netbe_event_field *fields;
    int nfields;
    /* wall-clock time of netbe_event_emit(), as QEMU's timestamp */
    int64_t seconds, microseconds;
};

/*
 * A subscriber.  Called on the loop's thread from inside the emitter
 * (a backend's callback): it must not delete clients; it may remove any
 * sink, itself included.  @ev and its strings live until it returns.
 */
typedef void netbe_event_fn(void *opaque, const struct netbe_event *ev);

struct netbe_event_sink;

/**
 * netbe_event_sink_add() - subscribe @fn to every event of @ctx
 * @ctx: the graph
 * @fn: called once per event, in the order sinks were added
 * @opaque: for @fn
 * Return: the subscription, for netbe_event_sink_del()
 */
struct netbe_event_sink *netbe_event_sink_add(struct netbe_ctx *ctx,
                                              netbe_event_fn *fn, void *opaque);

/**
 * netbe_event_sink_del() - unsubscribe; @fn is not called again
 * @sink: may be NULL; safe from inside any sink's callback
 *
 * Sinks still subscribed when their context is freed are freed with it.
 */
void netbe_event_sink_del(struct netbe_event_sink *sink);

/**
 * netbe_event_emit() - tell every sink of @ctx about event @name
 * @ctx: the graph
 * @name: the event's name (NETBE_EVENT_*)
 * @fields: its data, @nfields of them (may be 0)
 *
 * Nothing happens while the context is being freed: clients deleted by
 * netbe_ctx_free() leave without events.
 */
void netbe_event_emit(struct netbe_ctx *ctx, const char *name,
                      const struct netbe_event_field *fields, int nfields);

/**
 * netbe_nic_rx_filter_changed() - a NIC changed what it receives (its
 * MAC, promiscuous mode, multicast list...)
 * @nic: the NIC
 *
 * As QEMU's virtio-net: NIC_RX_FILTER_CHANGED is emitted once, then not
 * again for this NIC until someone asked for its filter
 * (netbe_nic_rx_filter_queried(), which QMP's query-rx-filter calls), so
 * that a guest flipping its filter cannot flood the monitors.
 * netbe's own NICs (the bhyve façade's pull NIC) take every frame and
 * never change; a NIC of the embedder's calls this.
 */
void netbe_nic_rx_filter_changed(struct netbe_nic *nic);

/**
 * netbe_nic_rx_filter_queried() - someone read @nic's filter: the next
 * change is told again
 * @nic: the NIC
 */
void netbe_nic_rx_filter_queried(struct netbe_nic *nic);

#ifdef __cplusplus
}
#endif

#endif
