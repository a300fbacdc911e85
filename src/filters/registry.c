/*
 * registry.c - the object types (QEMU's -object for the network): the
 * table of types, what every filter shares (netdev, queue, status,
 * position, insert), and object add/del/help with QEMU 7.2's checks in
 * QEMU's order:
 *   command line: qom-type, id, keys and value types ("Invalid parameter")
 *   object_add:   the same with keyval's "Parameter 'X' is unexpected"
 *   then, making it: status, the type's own property checks, duplicate
 *   id, the netdev, the position, the type's setup.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/filters.h"
#include "netbe/object.h"
#include "netbe/util.h"

static const struct netbe_object_type *const types[] = {
    &netbe_filter_buffer_type,
#ifdef NETBE_HAVE_PCAP
    &netbe_filter_dump_type,
#endif
    &netbe_filter_mirror_type, &netbe_filter_redirector_type,
#ifdef NETBE_HAVE_PCAP
    &netbe_switch_dump_type,
#endif
};

/* The plain objects of every context (few: switch captures). */
static struct {
    struct netbe_ctx *ctx;
    struct netbe_object *obj;
} * plain;
static size_t n_plain;

void netbe_object_register(struct netbe_ctx *ctx, struct netbe_object *obj)
{
    plain = netbe_realloc(plain, (n_plain + 1) * sizeof(*plain));
    plain[n_plain].ctx = ctx;
    plain[n_plain].obj = obj;
    n_plain++;
}

void netbe_object_unregister(struct netbe_ctx *ctx, struct netbe_object *obj)
{
    size_t i;

    for (i = 0; i < n_plain; i++) {
        if (plain[i].ctx == ctx && plain[i].obj == obj) {
            memmove(&plain[i], &plain[i + 1],
                    (n_plain - i - 1) * sizeof(*plain));
            n_plain--;
            break;
        }
    }
    if (!n_plain) {
        free(plain);
        plain = NULL;
    }
}

static struct netbe_object *plain_find(struct netbe_ctx *ctx, const char *id)
{
    size_t i;

    for (i = 0; i < n_plain; i++) {
        if (plain[i].ctx == ctx && !strcmp(plain[i].obj->id, id)) {
            return plain[i].obj;
        }
    }
    return NULL;
}

bool netbe_object_exists(struct netbe_ctx *ctx, const char *id)
{
    return netbe_filter_find(ctx, id) || plain_find(ctx, id);
}

static const struct netbe_object_type *type_find(const char *name)
{
    size_t i;

    for (i = 0; i < NETBE_ARRAY_SIZE(types); i++) {
        if (!strcmp(types[i]->name, name)) {
            return types[i];
        }
    }
    return NULL;
}

/* QEMU's NetfilterProperties, first in every filter's QAPI type. */
static const struct netbe_opt_desc common_keys[] = {
    {"netdev", NETBE_OPT_STRING, true, NULL, NULL},
    {"queue", NETBE_OPT_STRING, false, NULL, NULL},
    {"status", NETBE_OPT_STRING, false, NULL, NULL},
    {"position", NETBE_OPT_STRING, false, NULL, NULL},
    {"insert", NETBE_OPT_STRING, false, NULL, NULL},
};

/*
 * The QAPI check of an object's keys: its members in order (the common
 * ones first), then keys no member has.
 */
static int check_keys(const struct netbe_object_type *t,
                      const struct netbe_opts *opts, bool keyval,
                      struct netbe_error **errp)
{
    struct netbe_opt_desc all[32];
    struct netbe_schema schema = {
        .type = t->name, .opts = all, .keyval = keyval};
    const char *v;
    size_t n = 0, i;

    all[n++] = (struct netbe_opt_desc){NETBE_OBJECT_TYPE_KEY, NETBE_OPT_STRING,
                                       true, NULL, NULL};
    if (t->is_filter) {
        for (i = 0; i < NETBE_ARRAY_SIZE(common_keys); i++) {
            all[n++] = common_keys[i];
        }
    }
    for (i = 0; t->keys && t->keys[i].name && n < NETBE_ARRAY_SIZE(all) - 1;
         i++) {
        all[n++] = t->keys[i];
    }
    all[n] = (struct netbe_opt_desc){0};
    if (netbe_opts_check(opts, &schema, errp) < 0) {
        return -1;
    }
    if (!t->is_filter) {
        return 0;
    }
    v = netbe_opts_get(opts, "queue");
    if (v && strcmp(v, "all") && strcmp(v, "rx") && strcmp(v, "tx")) {
        netbe_error_setg(errp, "Parameter 'queue' does not accept value '%s'",
                         v);
        return -1;
    }
    v = netbe_opts_get(opts, "insert");
    if (v && strcmp(v, "before") && strcmp(v, "behind")) {
        netbe_error_setg(errp, "Parameter 'insert' does not accept value '%s'",
                         v);
        return -1;
    }
    return 0;
}

static int check(const struct netbe_opts *opts, bool keyval,
                 const struct netbe_object_type **tp, struct netbe_error **errp)
{
    const char *type = netbe_opts_get(opts, NETBE_OBJECT_TYPE_KEY);
    const char *id = netbe_opts_get(opts, "id");
    const struct netbe_object_type *t;

    if (!type) {
        netbe_error_setg(errp, "Parameter 'qom-type' is missing");
        return -1;
    }
    t = type_find(type);
    if (!t) {
        netbe_error_setg(errp,
                         "Parameter 'qom-type' does not accept value "
                         "'%s'",
                         type);
        return -1;
    }
    if (!id) {
        netbe_error_setg(errp, "Parameter 'id' is missing");
        return -1;
    }
    if (!netbe_id_wellformed(id)) {
        netbe_error_setg(errp, "Parameter 'id' expects an identifier\n"
                               "Identifiers consist of letters, digits, "
                               "'-', '.', '_', starting with a letter.");
        return -1;
    }
    if (check_keys(t, opts, keyval, errp) < 0) {
        return -1;
    }
    *tp = t;
    return 0;
}

int netbe_object_check_opts(const struct netbe_opts *opts,
                            struct netbe_error **errp)
{
    const struct netbe_object_type *t;

    return check(opts, false, &t, errp);
}

struct netbe_filter *netbe_filter_attach(const struct netbe_filter_conf *conf,
                                         const struct netbe_filter_ops *ops,
                                         const char *id, void *opaque,
                                         struct netbe_error **errp)
{
    struct netbe_filter *nf =
        netbe_filter_new(conf->netdev, ops, id, conf->direction, conf->position,
                         conf->insert_before, errp);

    if (nf) {
        nf->on = conf->on;
        nf->opaque = opaque;
    }
    return nf;
}

static int add(struct netbe_ctx *ctx, const struct netbe_opts *opts,
               bool keyval, struct netbe_error **errp)
{
    struct netbe_filter_conf conf = {.on = true};
    const struct netbe_object_type *t;
    const char *id, *v;

    if (check(opts, keyval, &t, errp) < 0) {
        return -1;
    }
    id = netbe_opts_get(opts, "id");
    if (t->is_filter) {
        v = netbe_opts_get(opts, "status");
        if (v && strcmp(v, "on") && strcmp(v, "off")) {
            netbe_error_setg(errp, "Invalid value for netfilter status, "
                                   "should be 'on' or 'off'");
            return -1;
        }
        conf.on = !v || !strcmp(v, "on");
    }
    if (t->check && t->check(opts, errp) < 0) {
        return -1;
    }
    if (netbe_object_exists(ctx, id)) {
        netbe_error_setg(errp,
                         "attempt to add duplicate property '%s' to object "
                         "(type 'container')",
                         id);
        return -1;
    }
    if (t->is_filter) {
        struct netbe_client *ncs[1];

        v = netbe_opts_get(opts, "netdev");
        if (netbe_find_clients_except(ctx, v, ncs, NETBE_DRIVER_NIC, 1) < 1) {
            netbe_error_setg(errp,
                             "Parameter 'netdev' expects a network backend "
                             "id");
            return -1;
        }
        conf.netdev = ncs[0];
        v = netbe_opts_get(opts, "queue");
        conf.direction = !v || !strcmp(v, "all") ? NETBE_FILTER_DIRECTION_ALL
                         : !strcmp(v, "rx")      ? NETBE_FILTER_DIRECTION_RX
                                                 : NETBE_FILTER_DIRECTION_TX;
        conf.position = netbe_opts_get(opts, "position");
        v = netbe_opts_get(opts, "insert");
        conf.insert_before = v && !strcmp(v, "before");
    }
    return t->create(ctx, id, opts, t->is_filter ? &conf : NULL, errp);
}

int netbe_object_add_opts(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                          struct netbe_error **errp)
{
    return add(ctx, opts, true, errp);
}

int netbe_object_add_cmdline(struct netbe_ctx *ctx,
                             const struct netbe_opts *opts,
                             struct netbe_error **errp)
{
    return add(ctx, opts, false, errp);
}

int netbe_object_add_str(struct netbe_ctx *ctx, const char *str,
                         struct netbe_error **errp)
{
    struct netbe_opts *opts =
        netbe_opts_parse_any(str, NETBE_OBJECT_TYPE_KEY, errp);
    int r;

    if (!opts) {
        return -1;
    }
    r = netbe_object_add_opts(ctx, opts, errp);
    netbe_opts_free(opts);
    return r;
}

int netbe_object_del(struct netbe_ctx *ctx, const char *id,
                     struct netbe_error **errp)
{
    struct netbe_filter *nf = netbe_filter_find(ctx, id);
    struct netbe_object *obj;

    if (nf) {
        /* off first: a filter that holds frames lets them go, in order */
        netbe_filter_set_status(nf, false);
        netbe_filter_del(nf);
        return 0;
    }
    obj = plain_find(ctx, id);
    if (obj) {
        obj->del(obj);
        return 0;
    }
    netbe_error_setg(errp, "object '%s' not found", id);
    return -1;
}

int netbe_object_help(const struct netbe_opts *opts, FILE *out,
                      struct netbe_error **errp)
{
    const char *type = netbe_opts_get(opts, NETBE_OBJECT_TYPE_KEY);
    const struct netbe_object_type *t;
    size_t i;

    if ((type && netbe_is_help_option(type)) ||
        (!type && netbe_opts_get(opts, "help"))) {
        fputs("List of user creatable objects:\n", out);
        for (i = 0; i < NETBE_ARRAY_SIZE(types); i++) {
            fprintf(out, "  %s\n", types[i]->name);
        }
        return 1;
    }
    if (!netbe_opts_get(opts, "help")) {
        return 0;
    }
    t = type_find(type);
    if (!t) {
        netbe_error_setg(errp,
                         "Parameter 'qom-type' does not accept value "
                         "'%s'",
                         type);
        return -1;
    }
    fprintf(out, "%s options:\n", t->name);
    for (i = 0; t->props[i].name; i++) {
        fprintf(out, "  %s=<%s>\n", t->props[i].name, t->props[i].type);
    }
    return 1;
}
