/*
 * registry.c - the table of compiled-in netdev types and QEMU's
 * net_client_init(): the checks and their order that turn one -netdev,
 * -net or netdev_add option list into clients.
 *
 * The messages are those of QEMU 7.2 (checked against the real binary),
 * which differ from older QEMUs: "network backend 'X' is not compiled into
 * this binary" rather than "Parameter 'type' expects a netdev backend
 * type".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/backends.h"
#ifdef NETBE_HAVE_SLIRP
#include "backends/user.h"
#endif
#include "netbe/backend.h"
#include "netbe/util.h"

/*
 * Listed in the order QEMU's "-netdev help" prints its types, so that the
 * two lists read alike.  Backends of src/backends (declared in
 * backends/backends.h) take their place here, socket/stream/dgram before
 * hubport, then tap, passt, user, l2tpv3, vde, bridge, vhost-user,
 * vhost-vdpa.
 */
static const struct netbe_backend_type *const backend_types[] = {
    &netbe_backend_socket,
    &netbe_backend_stream,
    &netbe_backend_dgram,
    &netbe_backend_hubport,
#ifdef __linux__
    &netbe_backend_tap,
    &netbe_backend_passt, /* after tap, as QEMU 10.1 lists it */
#ifdef NETBE_HAVE_SLIRP
    &netbe_backend_user,
#endif
    /* l2tpv3, vde come here */
    &netbe_backend_bridge,
#endif
    NULL,
};

const struct netbe_backend_type *const *netbe_backend_types(void)
{
    return backend_types;
}

const struct netbe_backend_type *netbe_backend_find(const char *name)
{
    const struct netbe_backend_type *const *t;

    if (!name) {
        return NULL;
    }
    for (t = backend_types; *t; t++) {
        if (!strcmp((*t)->name, name)) {
            return *t;
        }
    }
    return NULL;
}

void netbe_backend_print_types(FILE *out)
{
    const struct netbe_backend_type *const *t;

    fputs("Available netdev backend types:\n", out);
    for (t = backend_types; *t; t++) {
        if ((*t)->netdev_ok) {
            fprintf(out, "%s\n", (*t)->name);
        }
    }
}

/*
 * QEMU's NetClientDriver enum: a name in it that we did not compile is
 * "not compiled into this binary"; any other name is not a type at all.
 */
static bool is_driver_name(const char *name)
{
    int i;

    for (i = 0; i < NETBE_DRIVER__MAX; i++) {
        if (!strcmp(netbe_driver_name(i), name)) {
            return true;
        }
    }
    return false;
}

/*
 * QEMU's id_generate(ID_NET): "#net", a per-process counter, two random
 * digits.  The '#' keeps it out of the user's id namespace, since a
 * well-formed id starts with a letter.
 */
static char *generate_net_id(void)
{
    static uint64_t counter;
    static bool seeded;

    if (!seeded) {
        srandom((unsigned)time(NULL) ^ (unsigned)getpid());
        seeded = true;
    }
    return netbe_strdup_printf("#net%llu%02d", (unsigned long long)counter++,
                               (int)(random() % 100));
}

/* "-net none" takes no options besides type and id. */
static const struct netbe_opt_desc none_opts[] = {{0}};
static const struct netbe_schema none_schema = {
    .type = "none",
    .opts = none_opts,
};

/* Every client named @id becomes a netdev (all queues of a backend). */
static void mark_netdev(struct netbe_ctx *ctx, const char *id)
{
    struct netbe_client *nc;

    for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
        if (nc->info->type != NETBE_DRIVER_NIC && nc->name &&
            !strcmp(nc->name, id)) {
            nc->is_netdev = true;
        }
    }
}

/*
 * netbe's own key on every netdev type: the byte limit of the queues of
 * its clients (frames waiting for it, and waiting to leave it).  Taken
 * out before the type's schema sees the options.
 * Return: 0 (with *@has set when present), or -1 with @errp
 */
static int take_queue_bytes(struct netbe_opts *opts, uint64_t *bytes, bool *has,
                            struct netbe_error **errp)
{
    const char *v = netbe_opts_get(opts, NETBE_QUEUE_BYTES_KEY);

    *has = v != NULL;
    if (!v) {
        return 0;
    }
    if (netbe_parse_size(v, bytes) < 0 || *bytes > SIZE_MAX) {
        netbe_error_setg(errp, "Parameter '%s' expects a size value",
                         NETBE_QUEUE_BYTES_KEY);
        return -1;
    }
    netbe_opts_unset(opts, NETBE_QUEUE_BYTES_KEY);
    return 0;
}

int netbe_netdev_opts_check(const struct netbe_backend_type *type,
                            const struct netbe_opts *opts,
                            struct netbe_error **errp)
{
    struct netbe_opts *copy = netbe_opts_dup(opts);
    uint64_t bytes;
    bool has;
    int r;

    r = take_queue_bytes(copy, &bytes, &has, errp);
    if (r == 0) {
        r = netbe_opts_check(copy, type->schema, errp);
    }
    netbe_opts_free(copy);
    return r;
}

/* Every client named @id gets the byte limit (all queues of a backend). */
static void set_queue_bytes(struct netbe_ctx *ctx, const char *id,
                            uint64_t bytes)
{
    struct netbe_client *nc;

    for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
        if (nc->info->type != NETBE_DRIVER_NIC && !strcmp(nc->name, id)) {
            netbe_client_set_queue_bytes(nc, (size_t)bytes);
            if (nc->peer && nc->peer->info->type == NETBE_DRIVER_HUBPORT) {
                netbe_client_set_queue_bytes(nc->peer, (size_t)bytes);
            }
        }
    }
}

/* The type checks of QEMU's net_client_init1, in its order. */
static int check_type(const struct netbe_backend_type *type, const char *name,
                      bool is_netdev, struct netbe_error **errp)
{
    if (is_netdev) {
        if (!type || !type->netdev_ok) {
            netbe_error_setg(errp,
                             "network backend '%s' is not compiled into "
                             "this binary",
                             name);
            return -1;
        }
        return 0;
    }
    if ((type && !type->net_ok) || !strcmp(name, "hubport")) {
        netbe_error_setg(errp,
                         "network backend '%s' is only supported with "
                         "-netdev/-nic",
                         name);
        return -1;
    }
    if (!type) {
        netbe_error_setg(errp,
                         "network backend '%s' is not compiled into this "
                         "binary",
                         name);
        return -1;
    }
    return 0;
}

int netbe_net_client_init(struct netbe_ctx *ctx, struct netbe_opts *opts,
                          bool is_netdev, struct netbe_error **errp)
{
    const struct netbe_backend_type *type;
    const struct netbe_schema *schema;
    struct netbe_client *peer = NULL, *other;
    const char *id = netbe_opts_get(opts, "id");
    const char *tname;
    char *gen_id = NULL;
    struct netbe_error *err = NULL;
    uint64_t qbytes = 0;
    bool has_qbytes = false;

    /* QemuOpts refuses a bad or duplicate id when the options are made. */
    if (id && !netbe_id_wellformed(id)) {
        netbe_error_setg(errp, "Parameter 'id' expects an identifier");
        return -1;
    }
    if (id && is_netdev) {
        other = netbe_find_netdev(ctx, id);
        if (other && other->is_netdev) {
            netbe_error_setg(errp, "Duplicate ID '%s' for netdev", id);
            return -1;
        }
    }

    if (netbe_opts_expand_ipv6_net(opts, errp) < 0) {
        return -1;
    }

    /* Then the QAPI visitor: id, type, the type's members. */
    if (is_netdev && !id) {
        netbe_error_setg(errp, "Parameter 'id' is missing");
        return -1;
    }
    tname = netbe_opts_get(opts, "type");
    if (!tname) {
        netbe_error_setg(errp, "Parameter 'type' is missing");
        return -1;
    }
    type = netbe_backend_find(tname);
    if (!type && !is_driver_name(tname)) {
        netbe_error_setg(errp, "Parameter 'type' does not accept value '%s'",
                         tname);
        return -1;
    }
    schema = type ? type->schema : NULL;
    if (!type && !strcmp(tname, "none")) {
        schema = &none_schema;
    }
    if (type && take_queue_bytes(opts, &qbytes, &has_qbytes, errp) < 0) {
        return -1;
    }
    if (schema && netbe_opts_check(opts, schema, errp) < 0) {
        return -1;
    }

    if (!is_netdev && !strcmp(tname, "none")) {
        return 0;
    }
    if (check_type(type, tname, is_netdev, errp) < 0) {
        return -1;
    }

    if (!id) {
        /* Only -net gets here without an id. */
        gen_id = generate_net_id();
        netbe_opts_set(opts, "id", gen_id);
        id = netbe_opts_get(opts, "id");
    }

    /* A -net client joins hub 0, unless it is a NIC bound to a netdev. */
    if (!is_netdev &&
        (type->driver != NETBE_DRIVER_NIC || !netbe_opts_get(opts, "netdev"))) {
        peer = netbe_hub_add_port(ctx, 0, NULL, NULL);
    }

    if (netbe_find_netdev(ctx, id)) {
        netbe_error_setg(&err, "Duplicate ID '%s'", id);
        goto fail;
    }

    if (type->init(ctx, opts, id, peer, &err) < 0) {
        if (!err) {
            netbe_error_setg(&err, "Device '%s' could not be initialized",
                             netbe_driver_name(type->driver));
        }
        goto fail;
    }

    if (is_netdev) {
        mark_netdev(ctx, id);
    }
    if (has_qbytes) {
        set_queue_bytes(ctx, id, qbytes);
    }
    free(gen_id);
    return 0;

fail:
    /* QEMU leaks the hub 0 port of a failed -net; we do not. */
    if (peer) {
        netbe_client_del(peer);
    }
    free(gen_id);
    netbe_error_propagate(errp, err);
    return -1;
}

int netbe_netdev_add_str(struct netbe_ctx *ctx, const char *str, bool is_netdev,
                         struct netbe_error **errp)
{
    struct netbe_opts *opts;
    int ret;

    opts = netbe_opts_parse_any(str, "type", errp);
    if (!opts) {
        return -1;
    }
    ret = netbe_net_client_init(ctx, opts, is_netdev, errp);
    netbe_opts_free(opts);
    return ret;
}

int netbe_netdev_help(const struct netbe_opts *opts, FILE *out,
                      struct netbe_error **errp)
{
    const char *tname = netbe_opts_get(opts, "type");
    const struct netbe_backend_type *type;

    if (tname && netbe_is_help_option(tname)) {
        netbe_backend_print_types(out);
        return 1;
    }
    if (!netbe_opts_get(opts, "help")) {
        return 0;
    }
    if (!tname) {
        netbe_backend_print_types(out);
        return 1;
    }
    type = netbe_backend_find(tname);
    if (!type || !type->netdev_ok) {
        netbe_error_setg(errp,
                         "Parameter 'type' expects a netdev backend type");
        return -1;
    }
    netbe_schema_print_help(type->schema, out);
    /* every type's, after the type's own (netbe's, not QEMU's) */
    fprintf(out,
            "%-24s - bytes its queues may hold, 0 for no limit "
            "(default: %uM)\n",
            "  " NETBE_QUEUE_BYTES_KEY "=<size>",
            NETBE_QUEUE_DEFAULT_BYTES >> 20);
    return 1;
}
