/*
 * fuzz_json.c - libFuzzer target for the JSON form of an option list
 * ('{"type": "stream", "id": "n0", "addr": {...}}'), which -netdev,
 * netdev_add and QMP's netdev_add hand in from outside.
 *
 * Properties: a list or an error, never both; netbe_opts_parse_any()
 * takes a '{' input exactly as netbe_opts_parse_json() does; the
 * flattened list prints to QEMU syntax that parses back to the same list
 * whenever its keys can be written in that syntax (not empty, no '=' or
 * ','); and it goes through every backend schema as the QEMU-syntax
 * form does.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzzlib.h"
#include "netbe/backend.h"
#include "netbe/opts.h"

static bool same_opts(const struct netbe_opts *a, const struct netbe_opts *b)
{
    size_t i;

    if (a->n != b->n) {
        return false;
    }
    for (i = 0; i < a->n; i++) {
        if (strcmp(a->v[i].key, b->v[i].key) ||
            strcmp(a->v[i].value, b->v[i].value)) {
            return false;
        }
    }
    return true;
}

/* Can netbe_opts_to_string() spell every key so that it reads back? */
static bool printable(const struct netbe_opts *opts)
{
    size_t i, ids = 0;

    for (i = 0; i < opts->n; i++) {
        const char *k = opts->v[i].key;

        if (!*k || strpbrk(k, "=,")) {
            return false;
        }
        /* QEMU syntax keeps only the first id of a list */
        ids += !strcmp(k, "id");
    }
    return ids <= 1;
}

static void check_schemas(const struct netbe_opts *opts)
{
    const struct netbe_backend_type *const *t;

    for (t = netbe_backend_types(); *t; t++) {
        struct netbe_error *err = NULL;
        int r = netbe_opts_check(opts, (*t)->schema, &err);

        FZ_CHECK((r < 0) == !!err, "%s: returned %d, error '%s'", (*t)->name, r,
                 netbe_error_msg(err));
        netbe_error_free(err);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *str = fz_cstr(data, size);
    struct netbe_error *err = NULL, *err_any = NULL;
    struct netbe_opts *opts, *any;
    size_t i;

    opts = netbe_opts_parse_json(str, &err);
    FZ_CHECK(!opts == !!err, "parse_json: %p, error '%s'", (void *)opts,
             netbe_error_msg(err));
    FZ_CHECK(!err || *netbe_error_msg(err), "an empty error message");

    if (str[0] == '{') {
        any = netbe_opts_parse_any(str, "type", &err_any);
        FZ_CHECK(!any == !opts, "parse_any and parse_json disagree");
        FZ_CHECK(!any || same_opts(opts, any), "parse_any: another list");
        FZ_CHECK(any || !strcmp(netbe_error_msg(err), netbe_error_msg(err_any)),
                 "parse_any: '%s', parse_json: '%s'", netbe_error_msg(err_any),
                 netbe_error_msg(err));
        netbe_opts_free(any);
        netbe_error_free(err_any);
    }
    netbe_error_free(err);

    if (opts) {
        for (i = 0; i < opts->n; i++) {
            FZ_CHECK(opts->v[i].key && opts->v[i].value, "NULL in option %zu",
                     i);
        }
        if (printable(opts)) {
            char *printed = netbe_opts_to_string(opts);
            struct netbe_opts *back = netbe_opts_parse(printed, "type", NULL);

            FZ_CHECK(back && same_opts(opts, back),
                     "'%s' printed as '%s', which reads back otherwise", str,
                     printed);
            netbe_opts_free(back);
            free(printed);
        }
        check_schemas(opts);
        netbe_opts_free(opts);
    }
    free(str);
    return 0;
}
