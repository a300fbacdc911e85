/*
 * schema.c - checking an option list against a type's schema, and the
 * "-netdev TYPE,help" text.
 *
 * The messages are those QEMU 7.2 prints for -netdev, where the options
 * visitor (qapi/opts-visitor.c) and the QAPI core check each member:
 *   Parameter 'X' expects 'on' or 'off'     bool
 *   Parameter 'X' expects a uint64 value    uint64 and narrower unsigned
 *   Parameter 'X' expects uint32_t          unsigned, out of range
 *   Parameter 'X' expects an int64 value    int64 and narrower signed
 *   Parameter 'X' expects int32_t           signed, out of range
 *   Parameter 'X' expects a size value      size
 * Like the visitor, the checks run member by member in schema order and
 * only then look for keys that no member claimed, and a repeated key is
 * judged by its last value, the one a getter returns.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/opts.h"
#include "netbe/util.h"

/* "addr.*" covers "addr.type", "addr.path", ...; Return: "addr" length. */
static size_t wildcard_len(const char *name)
{
    size_t len = strlen(name);

    if (len >= 2 && !strcmp(name + len - 2, ".*")) {
        return len - 2;
    }
    return 0;
}

static bool key_matches(const struct netbe_opt_desc *d, const char *key)
{
    size_t w = wildcard_len(d->name);

    if (w) {
        return !strncmp(key, d->name, w) && key[w] == '.' && key[w + 1];
    }
    return !strcmp(key, d->name);
}

static int check_unsigned(const char *name, const char *value, uint64_t max,
                          const char *ctype, struct netbe_error **errp)
{
    uint64_t n;

    if (netbe_parse_uint(value, &n) < 0) {
        netbe_error_setg(errp, "Parameter '%s' expects a uint64 value", name);
        return -1;
    }
    if (n > max) {
        netbe_error_setg(errp, "Parameter '%s' expects %s", name, ctype);
        return -1;
    }
    return 0;
}

static int check_signed(const char *name, const char *value, int64_t min,
                        int64_t max, const char *ctype,
                        struct netbe_error **errp)
{
    long long n;
    char *end;

    /* strtoll with base 0 and nothing left over, as opts_type_int64. */
    errno = 0;
    n = strtoll(value, &end, 0);
    if (errno || end == value || *end) {
        netbe_error_setg(errp, "Parameter '%s' expects an int64 value", name);
        return -1;
    }
    if (n < min || n > max) {
        netbe_error_setg(errp, "Parameter '%s' expects %s", name, ctype);
        return -1;
    }
    return 0;
}

static int check_value(const struct netbe_opt_desc *d, const char *value,
                       struct netbe_error **errp)
{
    uint64_t n;
    bool b;

    switch (d->type) {
    case NETBE_OPT_STRING:
        return 0;
    case NETBE_OPT_BOOL:
        if (netbe_parse_bool(value, &b) < 0) {
            netbe_error_setg(errp, "Parameter '%s' expects 'on' or 'off'",
                             d->name);
            return -1;
        }
        return 0;
    case NETBE_OPT_NUMBER:
        return check_unsigned(d->name, value, UINT64_MAX, "uint64_t", errp);
    case NETBE_OPT_UINT32:
        return check_unsigned(d->name, value, UINT32_MAX, "uint32_t", errp);
    case NETBE_OPT_UINT16:
        return check_unsigned(d->name, value, UINT16_MAX, "uint16_t", errp);
    case NETBE_OPT_SIZE:
        if (netbe_parse_size(value, &n) < 0) {
            netbe_error_setg(errp, "Parameter '%s' expects a size value",
                             d->name);
            return -1;
        }
        return 0;
    case NETBE_OPT_INT:
        return check_signed(d->name, value, INT64_MIN, INT64_MAX, "int64_t",
                            errp);
    case NETBE_OPT_INT32:
        return check_signed(d->name, value, INT32_MIN, INT32_MAX, "int32_t",
                            errp);
    }
    return 0;
}

int netbe_opts_check(const struct netbe_opts *opts,
                     const struct netbe_schema *schema,
                     struct netbe_error **errp)
{
    const struct netbe_opt_desc *d;
    const char *id = netbe_opts_get(opts, "id");
    size_t i;

    /* QEMU refuses a bad id when it creates the options, before all. */
    if (id && !netbe_id_wellformed(id)) {
        netbe_error_setg(errp, "Parameter 'id' expects an identifier");
        return -1;
    }

    for (d = schema->opts; d && d->name; d++) {
        size_t w = wildcard_len(d->name);
        const char *value;

        if (w) {
            bool present = false;

            for (i = 0; i < opts->n && !present; i++) {
                present = key_matches(d, opts->v[i].key);
            }
            if (!present && d->required) {
                netbe_error_setg(errp, "Parameter '%.*s' is missing", (int)w,
                                 d->name);
                return -1;
            }
            continue;
        }
        value = netbe_opts_get(opts, d->name);
        if (!value) {
            if (d->required) {
                netbe_error_setg(errp, "Parameter '%s' is missing", d->name);
                return -1;
            }
            continue;
        }
        if (check_value(d, value, errp) < 0) {
            return -1;
        }
    }

    for (i = 0; i < opts->n; i++) {
        const char *key = opts->v[i].key;
        bool known = !strcmp(key, "type") || !strcmp(key, "id");

        for (d = schema->opts; d && d->name && !known; d++) {
            known = key_matches(d, key);
        }
        if (!known) {
            netbe_error_setg(errp,
                             schema->keyval ? "Parameter '%s' is unexpected"
                                            : "Invalid parameter '%s'",
                             key);
            return -1;
        }
    }
    return 0;
}

static const char *type_name(enum netbe_opt_type type)
{
    switch (type) {
    case NETBE_OPT_STRING:
        return "str";
    case NETBE_OPT_BOOL:
        return "bool";
    case NETBE_OPT_NUMBER:
        return "num";
    case NETBE_OPT_SIZE:
        return "size";
    case NETBE_OPT_INT:
        return "int";
    case NETBE_OPT_UINT32:
        return "uint32";
    case NETBE_OPT_UINT16:
        return "uint16";
    case NETBE_OPT_INT32:
        return "int32";
    }
    return "str";
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The layout of QEMU's "-device X,help": "  name=<type>" padded to 24
 * columns, then " - help (default: X)", the lines sorted.
 */
void netbe_schema_print_help(const struct netbe_schema *schema, FILE *out)
{
    const struct netbe_opt_desc *d;
    size_t n = 0, i;
    char **lines;

    for (d = schema->opts; d && d->name; d++) {
        n++;
    }
    if (n == 0) {
        if (schema->type) {
            fprintf(out, "There are no options for %s.\n", schema->type);
        } else {
            fprintf(out, "No options available.\n");
        }
        return;
    }

    lines = netbe_malloc0(n * sizeof(*lines));
    for (i = 0, d = schema->opts; i < n; i++, d++) {
        char *head =
            netbe_strdup_printf("  %s=<%s>", d->name, type_name(d->type));
        int pad = 24 - (int)strlen(head);

        if (!d->help && !d->def) {
            lines[i] = head;
            continue;
        }
        if (pad < 0) {
            pad = 0;
        }
        if (d->def) {
            lines[i] = netbe_strdup_printf("%s%*s - %s%s(default: %s)", head,
                                           pad, "", d->help ? d->help : "",
                                           d->help ? " " : "", d->def);
        } else {
            lines[i] =
                netbe_strdup_printf("%s%*s - %s", head, pad, "", d->help);
        }
        free(head);
    }
    qsort(lines, n, sizeof(*lines), cmp_lines);

    if (schema->type) {
        fprintf(out, "%s options:\n", schema->type);
    } else {
        fprintf(out, "Options:\n");
    }
    for (i = 0; i < n; i++) {
        fprintf(out, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
}
