/*
 * switch-dump.c - netbe's own capture of a whole hub or switch:
 *   -object switch-dump,id=ID,hubid=N,file=FILE[,maxlen=LEN]
 * (also object_add / object-add at run time, object_del to stop).
 *
 * Every frame that any port of hub N takes from its peer (a VM on the
 * switch, a netdev on the hub) goes into the pcap file once, before the
 * hub forwards it, without its vnet header: the traffic of every VM,
 * including what the switch then drops.  The file is written as
 * filter-dump writes it (dump.c: libpcap, never blocking, FIFOs for live
 * capture).  One VM's traffic alone is filter-dump with netdev= its name
 * in "info network" (a switch's VM "lan.3" is a netdev).  The capture
 * ends by itself when its hub goes (its last port and listener).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filters.h"
#include "netbe/log.h"
#include "netbe/util.h"

struct switch_dump {
    struct netbe_object obj;
    struct netbe_ctx *ctx;
    struct netbe_hub_tap *tap;
    struct netbe_pcap_sink sink;
};

static void tap_frame(void *opaque, struct netbe_client *port,
                      const struct iovec *iov, int iovcnt, size_t hdr_len)
{
    struct switch_dump *sd = opaque;

    netbe_pcap_sink_frame(&sd->sink, iov, iovcnt, hdr_len);
}

static void sd_free(struct switch_dump *sd)
{
    netbe_object_unregister(sd->ctx, &sd->obj);
    netbe_pcap_sink_close(&sd->sink);
    free(sd->obj.id);
    free(sd);
}

/* The hub went: so does the capture. */
static void tap_gone(void *opaque)
{
    struct switch_dump *sd = opaque;

    netbe_info_report("switch-dump %s: hub gone, capture ended", sd->obj.id);
    sd_free(sd);
}

static void sd_del(struct netbe_object *obj)
{
    struct switch_dump *sd = (struct switch_dump *)obj;

    netbe_hub_tap_del(sd->tap);
    sd_free(sd);
}

static int sd_check(const struct netbe_opts *opts, struct netbe_error **errp)
{
    return netbe_dump_check_maxlen(opts, "switch-dump", errp);
}

static int sd_create(struct netbe_ctx *ctx, const char *id,
                     const struct netbe_opts *opts,
                     const struct netbe_filter_conf *conf,
                     struct netbe_error **errp)
{
    struct switch_dump *sd;
    uint64_t hub = netbe_opts_get_number(opts, "hubid", 0);

    sd = netbe_malloc0(sizeof(*sd));
    sd->ctx = ctx;
    sd->obj.id = netbe_strdup(id);
    sd->obj.del = sd_del;
    /* the hub first: a failed object_add must not create or empty file= */
    sd->tap = netbe_hub_tap_add(ctx, (int)hub, tap_frame, tap_gone, sd);
    if (!sd->tap) {
        netbe_error_setg(errp,
                         "Parameter 'hubid' expects the id of a hub: "
                         "hub %" PRIu64 " not found",
                         hub);
        free(sd->obj.id);
        free(sd);
        return -1;
    }
    if (netbe_pcap_sink_open(
            &sd->sink, netbe_ctx_loop(ctx), id, netbe_opts_get(opts, "file"),
            (uint32_t)netbe_opts_get_number(opts, "maxlen", NETBE_PCAP_MAXLEN),
            errp) < 0) {
        netbe_hub_tap_del(sd->tap);
        free(sd->obj.id);
        free(sd);
        return -1;
    }
    netbe_object_register(ctx, &sd->obj);
    return 0;
}

static const struct netbe_opt_desc sd_keys[] = {
    {"hubid", NETBE_OPT_UINT32, true, NULL, NULL},
    {"file", NETBE_OPT_STRING, true, NULL, NULL},
    {"maxlen", NETBE_OPT_UINT32, false, NULL, NULL},
    {NULL, 0, false, NULL, NULL},
};

static const struct netbe_object_prop sd_props[] = {
    {"file", "string"},
    {"hubid", "uint32"},
    {"maxlen", "uint32"},
    {NULL, NULL},
};

const struct netbe_object_type netbe_switch_dump_type = {
    .name = "switch-dump",
    .keys = sd_keys,
    .props = sd_props,
    .is_filter = false,
    .check = sd_check,
    .create = sd_create,
};
