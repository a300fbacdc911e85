/*
 * netbe/opts.h - QEMU-syntax option strings and per-type schemas.
 *
 * "stream,id=n0,server=on,addr.type=unix,addr.path=/tmp/s" and the JSON
 * form '{"type": "stream", "id": "n0", "addr": {"type": "unix", ...}}'
 * both parse to one flat, ordered list of dotted keys and string values.
 * A schema then checks the list and reports QEMU's messages:
 *   Parameter 'X' is missing
 *   Parameter 'X' expects a uint64 value  (and other "expects ..." forms)
 *   Invalid parameter 'X'
 *   Parameter 'id' expects an identifier
 */
#ifndef NETBE_OPTS_H
#define NETBE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "netbe/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct netbe_opt {
    char *key;   /* dotted: "addr.path"; never NULL */
    char *value; /* never NULL; JSON numbers/bools as their text */
};

struct netbe_opts {
    struct netbe_opt *v; /* in the order given */
    size_t n, cap;
};

/**
 * netbe_opts_parse() - parse a QEMU option string
 * @str: "type,k=v,k2=v2"; ",," stands for one ',' inside a value
 * @implied_key: the key of a first element without '=' ("type"), or NULL
 *
 * A key may repeat; netbe_opts_get() returns the last, as QemuOpts does.
 * An element "foo" without '=' after the first means foo=on and "nofoo"
 * foo=off, with QEMU 7.2's deprecation warning (its QemuOpts parser,
 * used for every -netdev type but stream and dgram, does the same).
 * Return: the list, or NULL with *errp set ("Expected '=' after parameter
 *         'X'", "Invalid parameter ''"...)
 */
struct netbe_opts *netbe_opts_parse(const char *str, const char *implied_key,
                                    struct netbe_error **errp);

/**
 * netbe_opts_parse_json() - parse a JSON object; nested objects become
 * dotted keys ("addr": {"type": "unix"} -> "addr.type=unix"), booleans
 * "on"/"off", numbers their decimal text.  Arrays are rejected.
 */
struct netbe_opts *netbe_opts_parse_json(const char *str,
                                         struct netbe_error **errp);

/** netbe_opts_parse_any() - JSON if @str starts with '{', else QEMU syntax */
struct netbe_opts *netbe_opts_parse_any(const char *str,
                                        const char *implied_key,
                                        struct netbe_error **errp);

struct netbe_opts *netbe_opts_new(void);
void netbe_opts_free(struct netbe_opts *opts);
struct netbe_opts *netbe_opts_dup(const struct netbe_opts *opts);

/** netbe_opts_get() - the value of @key (the last one when repeated) */
const char *netbe_opts_get(const struct netbe_opts *opts, const char *key);
/** netbe_opts_set() - replace every @key by one @key=@value at the end */
void netbe_opts_set(struct netbe_opts *opts, const char *key,
                    const char *value);
/** netbe_opts_unset() - remove every @key; Return: how many were removed */
int netbe_opts_unset(struct netbe_opts *opts, const char *key);
/** netbe_opts_has_prefix() - any key equal to @p or starting with "@p." */
bool netbe_opts_has_prefix(const struct netbe_opts *opts, const char *p);

/*
 * Typed getters.  The value must have passed netbe_opts_check() with a
 * schema naming its type; they return @def when the key is absent.
 */
bool netbe_opts_get_bool(const struct netbe_opts *opts, const char *key,
                         bool def);
uint64_t netbe_opts_get_number(const struct netbe_opts *opts, const char *key,
                               uint64_t def);
uint64_t netbe_opts_get_size(const struct netbe_opts *opts, const char *key,
                             uint64_t def);

/** netbe_opts_to_string() - "k=v,k2=v2" with ',' doubled; malloc'ed */
char *netbe_opts_to_string(const struct netbe_opts *opts);

enum netbe_opt_type {
    NETBE_OPT_STRING,
    NETBE_OPT_BOOL,   /* on/off/yes/no/true/false/y/n */
    NETBE_OPT_NUMBER, /* unsigned 64-bit: decimal, 0x hex */
    NETBE_OPT_SIZE,   /* number with k/M/G/T suffix */
    NETBE_OPT_INT,    /* signed number (may be negative) */
    /*
     * Fixed-width numbers, as QAPI's uint32/uint16/int32 members: a value
     * out of range gives "Parameter 'X' expects uint32_t" (uint16_t,
     * int32_t), like QEMU's visit_type_uint32() and friends.
     */
    NETBE_OPT_UINT32,
    NETBE_OPT_UINT16,
    NETBE_OPT_INT32,
};

/*
 * One key of a type's schema.  A key "addr.*" describes a whole dotted
 * sub-tree that the type's init checks itself (stream's addr union).
 */
struct netbe_opt_desc {
    const char *name;
    enum netbe_opt_type type;
    bool required;
    const char *help; /* one line for "-netdev TYPE,help" */
    const char *def;  /* shown in help as "(default: X)"; not applied */
};

struct netbe_schema {
    const char *type; /* "stream" */
    /* terminated by an entry with name == NULL */
    const struct netbe_opt_desc *opts;
    /*
     * QEMU 7.2 parses stream and dgram with keyval and the QAPI visitor,
     * which says "Parameter 'X' is unexpected" for an unknown key where
     * QemuOpts says "Invalid parameter 'X'".
     */
    bool keyval;
};

/**
 * netbe_opts_check() - check @opts against @schema
 *
 * "type" and "id" are always allowed.  Unknown keys give "Invalid
 * parameter 'X'", missing required ones "Parameter 'X' is missing", bad
 * values "Parameter 'X' expects 'on' or 'off'" (bool), "Parameter 'X'
 * expects a uint64 value" / "an int64 value" (numbers), "Parameter 'X'
 * expects a size value" (sizes), "Parameter 'X' expects uint32_t" (and
 * uint16_t, int32_t) when out of a narrower type's range;
 * an id that is not well-formed "Parameter 'id' expects an identifier".
 * Return: 0 or -1
 */
int netbe_opts_check(const struct netbe_opts *opts,
                     const struct netbe_schema *schema,
                     struct netbe_error **errp);

/** netbe_schema_print_help() - "-netdev TYPE,help" text to @out */
void netbe_schema_print_help(const struct netbe_schema *schema, FILE *out);

/** netbe_is_help_option() - "help" or "?" as QEMU's is_help_option() */
bool netbe_is_help_option(const char *s);

/**
 * netbe_opts_expand_ipv6_net() - the seed's convenience: ipv6-net=P[/L]
 * becomes ipv6-prefix=P and ipv6-prefixlen=L (64 when absent); errors
 * "Parameter 'ipv6-net' expects a valid IPv6 prefix" and "Parameter
 * 'ipv6-prefixlen' expects a number"
 */
int netbe_opts_expand_ipv6_net(struct netbe_opts *opts,
                               struct netbe_error **errp);

#ifdef __cplusplus
}
#endif

#endif
