/*
 * opts.c - the option list itself and QEMU's "type,k=v,k2=v2" syntax.
 *
 * The list is kept flat and in the order given, with repeats, because
 * that is what QemuOpts keeps: lookups take the last occurrence, and a
 * printed list reads back the same.  Checking values against a type's
 * schema is schema.c's job; here any key and any value are accepted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/log.h"
#include "netbe/opts.h"
#include "netbe/util.h"

struct netbe_opts *netbe_opts_new(void)
{
    return netbe_malloc0(sizeof(struct netbe_opts));
}

void netbe_opts_free(struct netbe_opts *opts)
{
    size_t i;

    if (!opts) {
        return;
    }
    for (i = 0; i < opts->n; i++) {
        free(opts->v[i].key);
        free(opts->v[i].value);
    }
    free(opts->v);
    free(opts);
}

/* Takes ownership of @key and @value. */
static void append_owned(struct netbe_opts *opts, char *key, char *value)
{
    if (opts->n == opts->cap) {
        opts->cap = opts->cap ? opts->cap * 2 : 8;
        opts->v = netbe_realloc(opts->v, opts->cap * sizeof(*opts->v));
    }
    opts->v[opts->n].key = key;
    opts->v[opts->n].value = value;
    opts->n++;
}

struct netbe_opts *netbe_opts_dup(const struct netbe_opts *opts)
{
    struct netbe_opts *copy = netbe_opts_new();
    size_t i;

    for (i = 0; opts && i < opts->n; i++) {
        append_owned(copy, netbe_strdup(opts->v[i].key),
                     netbe_strdup(opts->v[i].value));
    }
    return copy;
}

const char *netbe_opts_get(const struct netbe_opts *opts, const char *key)
{
    size_t i;

    if (!opts) {
        return NULL;
    }
    for (i = opts->n; i > 0; i--) {
        if (!strcmp(opts->v[i - 1].key, key)) {
            return opts->v[i - 1].value;
        }
    }
    return NULL;
}

int netbe_opts_unset(struct netbe_opts *opts, const char *key)
{
    size_t i, j = 0;
    int removed = 0;

    for (i = 0; i < opts->n; i++) {
        if (!strcmp(opts->v[i].key, key)) {
            free(opts->v[i].key);
            free(opts->v[i].value);
            removed++;
        } else {
            opts->v[j++] = opts->v[i];
        }
    }
    opts->n = j;
    return removed;
}

void netbe_opts_set(struct netbe_opts *opts, const char *key, const char *value)
{
    /* Copy first: @key or @value may point into an entry about to go. */
    char *k = netbe_strdup(key);
    char *v = netbe_strdup(value);

    netbe_opts_unset(opts, k);
    append_owned(opts, k, v);
}

bool netbe_opts_has_prefix(const struct netbe_opts *opts, const char *p)
{
    size_t len = strlen(p);
    size_t i;

    for (i = 0; opts && i < opts->n; i++) {
        const char *k = opts->v[i].key;

        if (!strncmp(k, p, len) && (k[len] == '\0' || k[len] == '.')) {
            return true;
        }
    }
    return false;
}

bool netbe_is_help_option(const char *s)
{
    return s && (!strcmp(s, "help") || !strcmp(s, "?"));
}

/*
 * One value up to the next single ','; ",," stands for a literal ','.
 * Return: where the value ended (at a ',' or the terminating NUL).
 */
static const char *get_value(const char *p, char **out)
{
    char *buf = netbe_malloc0(strlen(p) + 1);
    char *q = buf;

    for (;;) {
        if (*p == ',') {
            if (p[1] != ',') {
                break;
            }
            p++;
        } else if (*p == '\0') {
            break;
        }
        *q++ = *p++;
    }
    *q = '\0';
    *out = buf;
    return p;
}

/*
 * An element without '=' that is not the implied first one.  QEMU 7.2's
 * QemuOpts (qemu-option.c, which parses -netdev for every type but
 * stream and dgram) still takes "foo" as foo=on and "nofoo" as foo=off,
 * warning that the short form is deprecated.  We do the same, so that
 * command lines written for QEMU 7.2 keep working, rather than the
 * stricter keyval error ("Expected '=' after parameter 'foo'") that only
 * QEMU's stream and dgram parsing gives.  "help" and "?" are not flags
 * but requests for help, and do not warn.
 */
static void flag_element(const char *name, char **key, char **value)
{
    if (netbe_is_help_option(name)) {
        *key = netbe_strdup("help");
        *value = netbe_strdup("on");
        return;
    }
    if (!strncmp(name, "no", 2)) {
        *key = netbe_strdup(name + 2);
        *value = netbe_strdup("off");
    } else {
        *key = netbe_strdup(name);
        *value = netbe_strdup("on");
    }
    netbe_warn_report("short-form boolean option '%s' deprecated\n"
                      "Please use %s=%s instead",
                      name, *key, *value);
}

struct netbe_opts *netbe_opts_parse(const char *str, const char *implied_key,
                                    struct netbe_error **errp)
{
    struct netbe_opts *opts = netbe_opts_new();
    const char *p = str;
    bool first = true;

    while (*p) {
        size_t len = strcspn(p, "=,");
        char *key, *value;

        if (p[len] == '=') {
            key = strndup(p, len);
            if (!key) {
                abort();
            }
            p = get_value(p + len + 1, &value);
        } else if (first && implied_key) {
            p = get_value(p, &value);
            if (netbe_is_help_option(value)) {
                key = netbe_strdup("help");
                free(value);
                value = netbe_strdup("on");
            } else {
                key = netbe_strdup(implied_key);
            }
        } else {
            char *name = strndup(p, len);

            if (!name) {
                abort();
            }
            p += len;
            flag_element(name, &key, &value);
            free(name);
        }
        if (*p == ',') {
            p++;
        }
        first = false;

        if (!*key) {
            netbe_error_setg(errp, "Invalid parameter ''");
            free(key);
            free(value);
            netbe_opts_free(opts);
            return NULL;
        }
        /* QemuOpts takes the id from its first occurrence only. */
        if (!strcmp(key, "id") && netbe_opts_get(opts, "id")) {
            free(key);
            free(value);
            continue;
        }
        append_owned(opts, key, value);
    }
    return opts;
}

struct netbe_opts *netbe_opts_parse_any(const char *str,
                                        const char *implied_key,
                                        struct netbe_error **errp)
{
    if (str[0] == '{') {
        return netbe_opts_parse_json(str, errp);
    }
    return netbe_opts_parse(str, implied_key, errp);
}

char *netbe_opts_to_string(const struct netbe_opts *opts)
{
    size_t len = 1, i;
    const char *s;
    char *buf, *q;

    for (i = 0; i < opts->n; i++) {
        /* key, '=', value with every ',' possibly doubled, separator */
        len += strlen(opts->v[i].key) + 2 + 2 * strlen(opts->v[i].value);
    }
    buf = netbe_malloc0(len);
    q = buf;
    for (i = 0; i < opts->n; i++) {
        if (i) {
            *q++ = ',';
        }
        q = stpcpy(q, opts->v[i].key);
        *q++ = '=';
        for (s = opts->v[i].value; *s; s++) {
            if (*s == ',') {
                *q++ = ',';
            }
            *q++ = *s;
        }
    }
    *q = '\0';
    return buf;
}

bool netbe_opts_get_bool(const struct netbe_opts *opts, const char *key,
                         bool def)
{
    const char *v = netbe_opts_get(opts, key);
    bool b;

    if (!v || netbe_parse_bool(v, &b) < 0) {
        return def;
    }
    return b;
}

uint64_t netbe_opts_get_number(const struct netbe_opts *opts, const char *key,
                               uint64_t def)
{
    const char *v = netbe_opts_get(opts, key);
    uint64_t n;

    if (!v) {
        return def;
    }
    if (strchr(v, '-')) {
        /* A signed type's negative value, returned two's complement. */
        long long s;
        char *end;

        errno = 0;
        s = strtoll(v, &end, 0);
        if (errno || end == v || *end) {
            return def;
        }
        return (uint64_t)s;
    }
    if (netbe_parse_uint(v, &n) < 0) {
        return def;
    }
    return n;
}

uint64_t netbe_opts_get_size(const struct netbe_opts *opts, const char *key,
                             uint64_t def)
{
    const char *v = netbe_opts_get(opts, key);
    uint64_t n;

    if (!v || netbe_parse_size(v, &n) < 0) {
        return def;
    }
    return n;
}

/*
 * QEMU's convenience form ipv6-net=PREFIX[/LEN] for the user backend.
 * Like QEMU, only an empty value is refused here; the address itself is
 * checked where ipv6-prefix is used.
 */
int netbe_opts_expand_ipv6_net(struct netbe_opts *opts,
                               struct netbe_error **errp)
{
    const char *net = netbe_opts_get(opts, "ipv6-net");
    unsigned long long len = 64;
    const char *slash;
    char *prefix, *lenstr;

    if (!net) {
        return 0;
    }
    if (!*net) {
        netbe_error_setg(errp,
                         "Parameter 'ipv6-net' expects a valid IPv6 prefix");
        return -1;
    }
    slash = strchr(net, '/');
    if (slash) {
        const char *d = slash + 1;
        char *end;

        /* Digits only: strtoull alone would take " 1", "+1" and "-1". */
        if (!*d || strspn(d, "0123456789") != strlen(d)) {
            goto bad_len;
        }
        errno = 0;
        len = strtoull(d, &end, 10);
        if (errno || *end) {
            goto bad_len;
        }
        prefix = strndup(net, slash - net);
        if (!prefix) {
            abort();
        }
    } else {
        prefix = netbe_strdup(net);
    }

    lenstr = netbe_strdup_printf("%llu", len);
    netbe_opts_set(opts, "ipv6-prefix", prefix);
    netbe_opts_set(opts, "ipv6-prefixlen", lenstr);
    netbe_opts_unset(opts, "ipv6-net");
    free(prefix);
    free(lenstr);
    return 0;

bad_len:
    netbe_error_setg(errp, "Parameter 'ipv6-prefixlen' expects a number");
    return -1;
}
