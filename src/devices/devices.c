/*
 * devices.c - the table of device types and -device's rules.
 */
#include <string.h>

#include "netbe/device.h"

extern const struct netbe_device_type netbe_device_vhost_user_net;

static const struct netbe_device_type *const types[] = {
    &netbe_device_vhost_user_net,
    NULL,
};

const struct netbe_device_type *const *netbe_device_types(void)
{
    return types;
}

const struct netbe_device_type *netbe_device_find(const char *name)
{
    for (int i = 0; name && types[i]; i++) {
        if (!strcmp(types[i]->name, name)) {
            return types[i];
        }
    }
    return NULL;
}

int netbe_device_add(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                     struct netbe_error **errp)
{
    const char *name = netbe_opts_get(opts, "driver");
    const struct netbe_device_type *t = netbe_device_find(name);
    const char *id = netbe_opts_get(opts, "id");
    struct netbe_opts *rest;
    int r;

    if (!t) {
        netbe_error_setg(errp, "Parameter 'driver' expects a device type");
        return -1;
    }
    /* the schema knows the type's keys; "driver" is -device's own */
    rest = netbe_opts_dup(opts);
    netbe_opts_unset(rest, "driver");
    r = netbe_opts_check(rest, t->schema, errp);
    netbe_opts_free(rest);
    if (r < 0) {
        return -1;
    }
    if (!id) {
        netbe_error_setg(errp, "Parameter 'id' is missing");
        return -1;
    }
    return t->init(ctx, opts, errp);
}

int netbe_device_help(const struct netbe_opts *opts, FILE *out,
                      struct netbe_error **errp)
{
    const char *name = netbe_opts_get(opts, "driver");
    const struct netbe_device_type *t;

    if ((name && netbe_is_help_option(name)) ||
        (!name && netbe_opts_get(opts, "help"))) {
        fputs("Available device types:\n", out);
        for (int i = 0; types[i]; i++) {
            fprintf(out, "%-16s %s\n", types[i]->name, types[i]->desc);
        }
        return 1;
    }
    if (!netbe_opts_get(opts, "help")) {
        return 0;
    }
    if (!(t = netbe_device_find(name))) {
        netbe_error_setg(errp, "Parameter 'driver' expects a device type");
        return -1;
    }
    netbe_schema_print_help(t->schema, out);
    return 1;
}
