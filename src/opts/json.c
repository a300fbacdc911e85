/*
 * json.c - the JSON form of an option list ('{"type": "stream", ...}').
 *
 * QEMU 7.2 takes -netdev as JSON when it starts with '{' and visits the
 * object directly.  We flatten it into the same dotted list the QEMU
 * syntax gives, so one schema check and one init path serve both forms:
 * {"addr": {"type": "unix"}} is addr.type=unix, true is "on", a number
 * is its decimal text.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "netbe/opts.h"
#include "netbe/util.h"

/* Appended, not netbe_opts_set(): members keep the order written. */
static void add(struct netbe_opts *opts, const char *key, const char *value)
{
    if (opts->n == opts->cap) {
        opts->cap = opts->cap ? opts->cap * 2 : 8;
        opts->v = netbe_realloc(opts->v, opts->cap * sizeof(*opts->v));
    }
    opts->v[opts->n].key = netbe_strdup(key);
    opts->v[opts->n].value = netbe_strdup(value);
    opts->n++;
}

static int flatten(struct netbe_opts *opts, const char *prefix,
                   struct json_object *obj, struct netbe_error **errp)
{
    struct json_object_iterator it = json_object_iter_begin(obj);
    struct json_object_iterator end = json_object_iter_end(obj);
    int ret = 0;

    for (; ret == 0 && !json_object_iter_equal(&it, &end);
         json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);
        struct json_object *v = json_object_iter_peek_value(&it);
        char *key = prefix ? netbe_strdup_printf("%s.%s", prefix, name)
                           : netbe_strdup(name);

        switch (json_object_get_type(v)) {
        case json_type_object:
            ret = flatten(opts, key, v, errp);
            break;
        case json_type_string:
            /* A "\u0000" would silently cut the value short. */
            if ((size_t)json_object_get_string_len(v) !=
                strlen(json_object_get_string(v))) {
                netbe_error_setg(errp,
                                 "Parameter '%s' must not contain a NUL "
                                 "character",
                                 key);
                ret = -1;
                break;
            }
            add(opts, key, json_object_get_string(v));
            break;
        case json_type_boolean:
            add(opts, key, json_object_get_boolean(v) ? "on" : "off");
            break;
        case json_type_int:
        case json_type_double:
            /* json-c clamps an integer beyond 64 bits to the nearest
             * limit; schema checks of narrower types still catch it. */
            add(opts, key,
                json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
            break;
        case json_type_array:
        case json_type_null:
        default:
            /* QEMU's qobject-input-visitor wording for a wrong type. */
            netbe_error_setg(errp,
                             "Invalid parameter type for '%s', expected: "
                             "string, number, boolean or object",
                             key);
            ret = -1;
            break;
        }
        free(key);
    }
    return ret;
}

static bool only_space(const char *p)
{
    return p[strspn(p, " \t\r\n")] == '\0';
}

struct netbe_opts *netbe_opts_parse_json(const char *str,
                                         struct netbe_error **errp)
{
    struct json_tokener *tok;
    struct json_object *root;
    struct netbe_opts *opts;
    enum json_tokener_error jerr;
    size_t len = strlen(str);

    if (only_space(str)) {
        netbe_error_setg(errp, "Expecting a JSON value");
        return NULL;
    }
    if (len >= INT_MAX) {
        netbe_error_setg(errp, "JSON parse error, input too long");
        return NULL;
    }
    tok = json_tokener_new();
    if (!tok) {
        abort();
    }
    /* The terminating NUL goes in too: it is what ends a number that
     * stands last, as in "42". */
    root = json_tokener_parse_ex(tok, str, (int)len + 1);
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof) {
        netbe_error_setg(errp, "JSON parse error, unexpected end of input");
        goto fail;
    }
    if (jerr != json_tokener_success) {
        netbe_error_setg(errp, "JSON parse error at offset %zu: %s",
                         json_tokener_get_parse_end(tok),
                         json_tokener_error_desc(jerr));
        goto fail;
    }
    if (json_tokener_get_parse_end(tok) < len &&
        !only_space(str + json_tokener_get_parse_end(tok))) {
        netbe_error_setg(errp, "Expecting at most one JSON value");
        goto fail;
    }
    if (!json_object_is_type(root, json_type_object)) {
        /* What QEMU's input visitor says for a top level of the wrong
         * type; there is no member name to show. */
        netbe_error_setg(errp, "Invalid parameter type for '<anonymous>', "
                               "expected: object");
        goto fail;
    }
    json_tokener_free(tok);

    opts = netbe_opts_new();
    if (flatten(opts, NULL, root, errp) < 0) {
        netbe_opts_free(opts);
        opts = NULL;
    }
    json_object_put(root);
    return opts;

fail:
    json_object_put(root);
    json_tokener_free(tok);
    return NULL;
}
