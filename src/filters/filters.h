/*
 * filters.h - the object types of src/filters (internal): each filter
 * file exports one const struct netbe_object_type; registry.c lists them
 * and does what every filter shares (QEMU's NetFilterState properties
 * netdev, queue, status, position, insert, and the order of the checks).
 *
 * The filters use only the core (net.h, chardev.h, rstate.h).
 */
#ifndef NETBE_FILTERS_FILTERS_H
#define NETBE_FILTERS_FILTERS_H

#include <stdbool.h>
#include <stdio.h>

#include "netbe/error.h"
#include "netbe/net.h"
#include "netbe/opts.h"

/* One property in "-object TYPE,help": name and QEMU's type name. */
struct netbe_object_prop {
    const char *name;
    const char *type; /* "string", "uint32", "bool", "NetFilterDirection" */
};

/* The common keys, parsed (QEMU's NetFilterState). */
struct netbe_filter_conf {
    struct netbe_client *netdev;
    enum netbe_filter_direction direction;
    const char *position; /* NULL: tail */
    bool insert_before;
    bool on;
};

struct netbe_object_type {
    const char *name; /* "filter-dump" */
    /* the type's own keys: typed, checked as QEMU's QAPI does */
    const struct netbe_opt_desc *keys;
    /* for "-object TYPE,help": every property, sorted by name */
    const struct netbe_object_prop *props;
    /* a filter on a netdev (the common keys apply), else a plain object */
    bool is_filter;
    /*
     * Property checks QEMU's setters make (before the netdev is looked
     * up); may be NULL
     */
    int (*check)(const struct netbe_opts *opts, struct netbe_error **errp);
    /*
     * A filter: attach with netbe_filter_attach() and set up; on failure
     * leave nothing.  A plain object: make it (netbe_object_register()).
     */
    int (*create)(struct netbe_ctx *ctx, const char *id,
                  const struct netbe_opts *opts,
                  const struct netbe_filter_conf *conf,
                  struct netbe_error **errp);
};

extern const struct netbe_object_type netbe_filter_dump_type;
extern const struct netbe_object_type netbe_filter_buffer_type;
extern const struct netbe_object_type netbe_filter_mirror_type;
extern const struct netbe_object_type netbe_filter_redirector_type;
extern const struct netbe_object_type netbe_switch_dump_type;

/**
 * netbe_filter_attach() - netbe_filter_new() with @conf, status as
 * @conf says (without status_changed), @opaque set
 * Return: the filter, or NULL (position errors)
 */
struct netbe_filter *netbe_filter_attach(const struct netbe_filter_conf *conf,
                                         const struct netbe_filter_ops *ops,
                                         const char *id, void *opaque,
                                         struct netbe_error **errp);

/*
 * A plain object (not on a netdev's chain): its id, and how to delete it.
 */
struct netbe_object {
    char *id;
    void (*del)(struct netbe_object *obj);
    struct netbe_object *next;
};

/** netbe_object_register() - list @obj (its id set) in @ctx's objects */
void netbe_object_register(struct netbe_ctx *ctx, struct netbe_object *obj);
/** netbe_object_unregister() - take @obj off the list (from its del) */
void netbe_object_unregister(struct netbe_ctx *ctx, struct netbe_object *obj);

/* ---- the pcap writer of filter-dump and switch-dump (dump.c) ---- */

/* Bytes of records that may wait for a slow FIFO reader. */
#define NETBE_PCAP_BUF (1u << 20)
/* QEMU's default maxlen */
#define NETBE_PCAP_MAXLEN 65536

struct pcap;
struct pcap_dumper;

struct netbe_pcap_sink {
    struct netbe_loop *loop;
    char *id, *file;
    uint32_t maxlen;
    bool fifo;
    bool stopped; /* a regular file could not be written: no more */
    int fd;
    struct pcap *pcap;
    struct pcap_dumper *dumper; /* NULL while a FIFO has no reader */
    uint8_t *buf;               /* NETBE_PCAP_BUF: records not yet written */
    size_t head, tail;
    uint8_t *lin; /* one record's frame, linear: min(maxlen, a frame) */
    size_t lin_cap;
    void *watch, *timer;
    uint64_t frames, lost, readers;
    unsigned long long warned, lost_warned;
};

/**
 * netbe_pcap_sink_open() - start a pcap file (or wait for @file's reader
 * when it is a FIFO) with snaplen @maxlen; QEMU's "net dump: can't open
 * FILE: ..." on failure
 */
int netbe_pcap_sink_open(struct netbe_pcap_sink *s, struct netbe_loop *loop,
                         const char *id, const char *file, uint32_t maxlen,
                         struct netbe_error **errp);
void netbe_pcap_sink_close(struct netbe_pcap_sink *s);
/** netbe_pcap_sink_frame() - one record of the frame after @offset bytes */
void netbe_pcap_sink_frame(struct netbe_pcap_sink *s, const struct iovec *iov,
                           int iovcnt, size_t offset);
/** netbe_dump_check_maxlen() - "Property 'TYPE.maxlen' doesn't take ..." */
int netbe_dump_check_maxlen(const struct netbe_opts *opts, const char *type,
                            struct netbe_error **errp);

/* ---- filter-redirector's input, for the fuzz target (mirror.c) ---- */

/**
 * netbe_redirector_new_bare() - a filter-redirector with no chardevs: its
 * input comes only from netbe_redirector_feed()
 */
struct netbe_filter *
netbe_redirector_new_bare(const struct netbe_filter_conf *conf, const char *id,
                          bool vnet_hdr, struct netbe_error **errp);
/**
 * netbe_redirector_feed() - bytes read from indev: whole frames go on
 * Return: 0, or -1 (with @errp) when the bytes are no stream of frames:
 *         the reader disconnects that peer
 */
int netbe_redirector_feed(struct netbe_filter *nf, const uint8_t *buf,
                          size_t len, struct netbe_error **errp);

/*
 * Warnings a peer or a slow reader can cause again and again: logged the
 * 1st, 2nd, 4th, 8th... time.  Return: whether to log this one.
 */
static inline bool netbe_filter_warn_hit(unsigned long long *count)
{
    unsigned long long n = ++*count;

    return (n & (n - 1)) == 0;
}

#endif
