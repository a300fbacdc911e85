/*
 * fuzz_opts.c - libFuzzer target for QEMU-syntax option strings
 * ("stream,id=n0,addr.type=unix,,x") and the schema checks behind
 * -netdev, -net and netdev_add, which a user or a script types.
 *
 * Properties: netbe_opts_to_string() of a parsed list parses back to the
 * same list (so a list printed into a log or a QMP reply means what it
 * said), printing is then stable, and a copy is equal.  The list is also
 * checked against every compiled-in backend schema, read through the
 * typed getters those schemas allow, and its "addr", "local" and
 * "remote" sub-trees read as socket addresses, so that the schema and
 * address code sees hostile lists too.  Nothing here opens a socket.
 */
#include <stdbool.h>
#include <string.h>

#include "backends/sockutil.h"
#include "fuzzlib.h"
#include "netbe/backend.h"
#include "netbe/opts.h"
#include "netbe/util.h"

static FILE *devnull;

static void same_opts(const struct netbe_opts *a, const struct netbe_opts *b,
                      const char *what, const char *str)
{
    size_t i;

    FZ_CHECK(a->n == b->n, "%s: %zu options against %zu for '%s'", what, a->n,
             b->n, str);
    for (i = 0; i < a->n; i++) {
        FZ_CHECK(!strcmp(a->v[i].key, b->v[i].key) &&
                     !strcmp(a->v[i].value, b->v[i].value),
                 "%s: option %zu '%s=%s' against '%s=%s' for '%s'", what, i,
                 a->v[i].key, a->v[i].value, b->v[i].key, b->v[i].value, str);
    }
}

/* The getters a schema allows for each of its keys must not trip. */
static void read_typed(const struct netbe_opts *opts,
                       const struct netbe_schema *schema)
{
    const struct netbe_opt_desc *d;

    for (d = schema->opts; d && d->name; d++) {
        switch (d->type) {
        case NETBE_OPT_BOOL:
            (void)netbe_opts_get_bool(opts, d->name, false);
            break;
        case NETBE_OPT_SIZE:
            (void)netbe_opts_get_size(opts, d->name, 0);
            break;
        case NETBE_OPT_NUMBER:
        case NETBE_OPT_INT:
        case NETBE_OPT_UINT32:
        case NETBE_OPT_UINT16:
        case NETBE_OPT_INT32:
            (void)netbe_opts_get_number(opts, d->name, 0);
            break;
        case NETBE_OPT_STRING:
            (void)netbe_opts_get(opts, d->name);
            break;
        }
    }
}

/* netbe_opts_check(): an error iff -1, and only a pure function of @opts. */
static void check_schemas(const struct netbe_opts *a,
                          const struct netbe_opts *b)
{
    const struct netbe_backend_type *const *t;

    for (t = netbe_backend_types(); *t; t++) {
        struct netbe_error *ea = NULL, *eb = NULL;
        int ra = netbe_opts_check(a, (*t)->schema, &ea);
        int rb = netbe_opts_check(b, (*t)->schema, &eb);

        FZ_CHECK((ra < 0) == !!ea, "%s: returned %d, error '%s'", (*t)->name,
                 ra, netbe_error_msg(ea));
        FZ_CHECK(ra == rb && !strcmp(netbe_error_msg(ea), netbe_error_msg(eb)),
                 "%s: '%s' against '%s' for equal lists", (*t)->name,
                 netbe_error_msg(ea), netbe_error_msg(eb));
        if (ra == 0) {
            read_typed(a, (*t)->schema);
        }
        netbe_error_free(ea);
        netbe_error_free(eb);
    }
}

static void read_addresses(const struct netbe_opts *opts)
{
    static const char *const prefixes[] = {"addr", "local", "remote"};
    size_t i;

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        struct netbe_error *err = NULL;
        struct netbe_sa sa;
        int r = netbe_sa_from_opts(&sa, opts, prefixes[i], &err);

        FZ_CHECK((r < 0) == !!err, "%s: returned %d, error '%s'", prefixes[i],
                 r, netbe_error_msg(err));
        netbe_error_free(err);
        if (r == 0) {
            netbe_sa_clear(&sa);
        }
    }
}

/* Editing a copy: set, get, unset agree with each other. */
static void edit(const struct netbe_opts *opts)
{
    struct netbe_opts *copy = netbe_opts_dup(opts);
    struct netbe_error *err = NULL;
    const char *key, *value;

    if (copy->n) {
        key = copy->v[0].key;
        value = copy->v[copy->n - 1].value;
        /* key and value point into entries that set may drop */
        netbe_opts_set(copy, key, value);
        key = copy->v[copy->n - 1].key;
        FZ_CHECK(netbe_opts_has_prefix(copy, key), "has_prefix '%s'", key);
        FZ_CHECK(!strcmp(netbe_opts_get(copy, key), copy->v[copy->n - 1].value),
                 "get after set of '%s'", key);
        /* unset frees the key it is given: pass it a copy */
        key = netbe_strdup(key);
        FZ_CHECK(netbe_opts_unset(copy, key) == 1, "set left a repeat of '%s'",
                 key);
        free((char *)key);
    }
    if (netbe_opts_expand_ipv6_net(copy, &err) < 0) {
        FZ_CHECK(err, "expand_ipv6_net failed without an error");
        netbe_error_free(err);
    } else {
        FZ_CHECK(!netbe_opts_get(copy, "ipv6-net"), "ipv6-net left");
    }
    netbe_opts_free(copy);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    devnull = fopen("/dev/null", "w");
    if (!devnull) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *str = fz_cstr(data, size);
    struct netbe_error *err = NULL;
    struct netbe_opts *opts, *back, *plain, *copy;
    char *printed, *reprinted;

    /* Without an implied key every element needs '=' or is a flag. */
    plain = netbe_opts_parse(str, NULL, &err);
    FZ_CHECK(!plain == !!err, "parse without implied key: %p, error '%s'",
             (void *)plain, netbe_error_msg(err));
    netbe_error_free(err);
    err = NULL;
    netbe_opts_free(plain);

    opts = netbe_opts_parse(str, "type", &err);
    if (!opts) {
        FZ_CHECK(err && *netbe_error_msg(err), "NULL without a message");
        netbe_error_free(err);
        free(str);
        return 0;
    }
    FZ_CHECK(!err, "a list and an error '%s'", netbe_error_msg(err));

    printed = netbe_opts_to_string(opts);
    back = netbe_opts_parse(printed, "type", &err);
    FZ_CHECK(back, "'%s' printed as '%s', which does not parse: %s", str,
             printed, netbe_error_msg(err));
    same_opts(opts, back, "round trip", str);
    reprinted = netbe_opts_to_string(back);
    FZ_CHECK(!strcmp(printed, reprinted), "printed '%s' then '%s'", printed,
             reprinted);
    /* Every printed element has its '=': the implied key plays no part. */
    plain = netbe_opts_parse(printed, NULL, &err);
    FZ_CHECK(plain, "'%s' needs an implied key", printed);
    same_opts(opts, plain, "round trip without implied key", str);
    copy = netbe_opts_dup(opts);
    same_opts(opts, copy, "copy", str);

    check_schemas(opts, back);
    read_addresses(opts);
    edit(opts);
    err = NULL;
    if (netbe_netdev_help(opts, devnull, &err) < 0) {
        FZ_CHECK(err, "help failed without an error");
        netbe_error_free(err);
    }

    free(printed);
    free(reprinted);
    netbe_opts_free(opts);
    netbe_opts_free(back);
    netbe_opts_free(plain);
    netbe_opts_free(copy);
    free(str);
    return 0;
}
