/*
 * qmp.c - QEMU's machine monitor (QMP) for the daemon: QEMU 7.2's
 * protocol, texts and error classes (see qmp.h), on json-c.
 *
 * Output is written as QEMU writes it, byte for byte where it can: the
 * members of every object come in the order QEMU's QDict hash table
 * iterates them (so {"return": ..., "id": ...} and {"id": ..., "error":
 * ...}), strings escaped as QEMU escapes them (non-ASCII as \uXXXX),
 * numbers as QEMU prints them, "\r\n" after each message, and -qmp-pretty
 * in QEMU's layout.
 *
 * Input is a stream of JSON values, as QEMU reads it (several on a line,
 * or one across lines).  Unlike QEMU's lexer, which goes on in the middle
 * of a bad line and may answer one mistake several times, a syntax error
 * or an oversized value gets one error reply and the rest of its line is
 * skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control/monitor.h"
#include "control/qmp.h"
#include "netbe/netbe.h"
#include "netbe/object.h"

/* ---- output: QEMU's JSON text ---- */

/* A growing text buffer. */
struct text {
    char *buf;
    size_t len, cap;
};

static void text_add(struct text *t, const char *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;

        while (cap < t->len + n + 1) {
            cap *= 2;
        }
        t->buf = netbe_realloc(t->buf, cap);
        t->cap = cap;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
text_printf(struct text *t, const char *fmt, ...)
{
    char small[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(small)) {
        text_add(t, small, n);
        return;
    }
    if (n >= 0) {
        char *big = netbe_malloc0((size_t)n + 1);

        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        text_add(t, big, n);
        free(big);
    }
}

/*
 * QEMU's QDict keeps its members in 512 buckets chosen by the tdb hash of
 * the key, each bucket newest first, and prints them bucket by bucket.
 */
#define QDICT_BUCKETS 512

static unsigned qdict_bucket(const char *key)
{
    const unsigned char *p = (const unsigned char *)key;
    uint32_t v = 0x238F13AFu * (uint32_t)strlen(key);
    unsigned i;

    for (i = 0; p[i]; i++) {
        v += (uint32_t)p[i] << (i * 5 % 24);
    }
    return (1103515243u * v + 12345u) % QDICT_BUCKETS;
}

struct member {
    const char *key;
    struct json_object *val;
    unsigned bucket, index;
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;

    if (x->bucket != y->bucket) {
        return x->bucket < y->bucket ? -1 : 1;
    }
    return x->index > y->index ? -1 : 1; /* newest first */
}

/* @obj's members in QEMU's order; free the result. */
static struct member *members_sorted(struct json_object *obj, size_t *n)
{
    size_t count = (size_t)json_object_object_length(obj), i = 0;
    struct member *m = netbe_malloc0((count ? count : 1) * sizeof(*m));

    json_object_object_foreach(obj, key, val)
    {
        m[i].key = key;
        m[i].val = val;
        m[i].bucket = qdict_bucket(key);
        m[i].index = (unsigned)i;
        i++;
    }
    qsort(m, i, sizeof(*m), member_cmp);
    *n = i;
    return m;
}

/* One code point of @s (valid or not), as QEMU's to_json() reads it. */
static uint32_t utf8_next(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    uint32_t cp, min;
    int n, i;

    if (p[0] < 0x80) {
        *pp = p + 1;
        return p[0];
    }
    if ((p[0] & 0xe0) == 0xc0) {
        n = 1, cp = p[0] & 0x1f, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 2, cp = p[0] & 0x0f, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 3, cp = p[0] & 0x07, min = 0x10000;
    } else {
        *pp = p + 1;
        return 0xfffd;
    }
    for (i = 1; i <= n; i++) {
        if (p + i >= end || (p[i] & 0xc0) != 0x80) {
            *pp = p + i;
            return 0xfffd;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    *pp = p + n + 1;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0xfffd;
    }
    return cp;
}

static void put_string(struct text *t, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    text_add(t, "\"", 1);
    while (p < end) {
        uint32_t cp = utf8_next(&p, end);

        switch (cp) {
        case '"':
            text_puts(t, "\\\"");
            break;
        case '\\':
            text_puts(t, "\\\\");
            break;
        case '\b':
            text_puts(t, "\\b");
            break;
        case '\f':
            text_puts(t, "\\f");
            break;
        case '\n':
            text_puts(t, "\\n");
            break;
        case '\r':
            text_puts(t, "\\r");
            break;
        case '\t':
            text_puts(t, "\\t");
            break;
        default:
            if (cp >= 0x20 && cp < 0x7f) {
                char c = (char)cp;

                text_add(t, &c, 1);
            } else if (cp > 0xffff) {
                cp -= 0x10000;
                text_printf(t, "\\u%04X\\u%04X", 0xd800 + (cp >> 10),
                            0xdc00 + (cp & 0x3ff));
            } else {
                text_printf(t, "\\u%04X", cp);
            }
        }
    }
    text_add(t, "\"", 1);
}

static void put_indent(struct text *t, int level)
{
    text_puts(t, "\r\n");
    for (int i = 0; i < level; i++) {
        text_puts(t, "    ");
    }
}

static void put_value(struct text *t, struct json_object *v, bool pretty,
                      int level)
{
    size_t i, n;

    switch (json_object_get_type(v)) {
    case json_type_null:
        text_puts(t, "null");
        break;
    case json_type_boolean:
        text_puts(t, json_object_get_boolean(v) ? "true" : "false");
        break;
    case json_type_int:
        /* json-c prints int64 and uint64 alike */
        text_puts(t, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        break;
    case json_type_double:
        text_printf(t, "%.17g", json_object_get_double(v));
        break;
    case json_type_string:
        put_string(t, json_object_get_string(v),
                   (size_t)json_object_get_string_len(v));
        break;
    case json_type_array:
        n = json_object_array_length(v);
        text_puts(t, "[");
        for (i = 0; i < n; i++) {
            if (i) {
                text_puts(t, pretty ? "," : ", ");
            }
            if (pretty) {
                put_indent(t, level + 1);
            }
            put_value(t, json_object_array_get_idx(v, i), pretty, level + 1);
        }
        if (pretty) {
            put_indent(t, level);
        }
        text_puts(t, "]");
        break;
    case json_type_object: {
        struct member *m = members_sorted(v, &n);

        text_puts(t, "{");
        for (i = 0; i < n; i++) {
            if (i) {
                text_puts(t, pretty ? "," : ", ");
            }
            if (pretty) {
                put_indent(t, level + 1);
            }
            put_string(t, m[i].key, strlen(m[i].key));
            text_puts(t, ": ");
            put_value(t, m[i].val, pretty, level + 1);
        }
        if (pretty) {
            put_indent(t, level);
        }
        text_puts(t, "}");
        free(m);
        break;
    }
    }
}

/* ---- building values ---- */

static struct json_object *jstr(const char *s)
{
    return json_object_new_string(s);
}

static void put(struct json_object *obj, const char *key,
                struct json_object *val)
{
    json_object_object_add(obj, key, val);
}

static struct json_object *version_object(void)
{
    struct json_object *v = json_object_new_object();
    struct json_object *q = json_object_new_object();
    unsigned major = 0, minor = 0, micro = 0;

    sscanf(NETBE_VERSION, "%u.%u.%u", &major, &minor, &micro);
    /* QAPI's order; put_value() prints QEMU's */
    put(q, "major", json_object_new_int64(major));
    put(q, "minor", json_object_new_int64(minor));
    put(q, "micro", json_object_new_int64(micro));
    put(v, "qemu", q);
    put(v, "package", jstr("netbe " NETBE_VERSION));
    return v;
}

/* ---- the session ---- */

struct netbe_qmp_session {
    struct netbe_ctx *ctx;
    bool pretty;
    bool negotiated;
    bool quitting;
    bool overflowed;
    void (*quit)(void *opaque);
    void *quit_opaque;
    void (*notify)(void *opaque);
    void *notify_opaque;
    struct netbe_event_sink *sink;

    /* input */
    struct json_tokener *tok;
    size_t in_bytes; /* of the value being read */
    bool in_value;   /* past the whitespace before it */
    bool skip_line;  /* after an error: up to the next newline */

    /* out.buf[out_off..out.len) is still to send */
    struct text out;
    size_t out_off;
};

static void out_message(struct netbe_qmp_session *s, struct json_object *msg)
{
    if (s->out_off && s->out_off == s->out.len) {
        s->out.len = s->out_off = 0;
    }
    put_value(&s->out, msg, s->pretty, 0);
    text_puts(&s->out, "\r\n");
}

static const char *error_class_name(enum netbe_error_class cls)
{
    switch (cls) {
    case NETBE_ERROR_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    case NETBE_ERROR_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case NETBE_ERROR_GENERIC:
    default:
        return "GenericError";
    }
}

/* {"return": @ret, "id": @id} or {"error": ..., "id": @id}; takes @ret. */
static void reply(struct netbe_qmp_session *s, bool has_id,
                  struct json_object *id, struct json_object *ret,
                  const struct netbe_error *err)
{
    struct json_object *msg = json_object_new_object();

    if (err) {
        struct json_object *e = json_object_new_object();

        put(e, "class", jstr(error_class_name(err->cls)));
        put(e, "desc", jstr(netbe_error_msg(err)));
        put(msg, "error", e);
        json_object_put(ret);
    } else {
        put(msg, "return", ret ? ret : json_object_new_object());
    }
    if (has_id) {
        put(msg, "id", json_object_get(id)); /* NULL is JSON's null */
    }
    out_message(s, msg);
    json_object_put(msg);
}

static void reply_error(struct netbe_qmp_session *s, bool has_id,
                        struct json_object *id, enum netbe_error_class cls,
                        const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void reply_error(struct netbe_qmp_session *s, bool has_id,
                        struct json_object *id, enum netbe_error_class cls,
                        const char *fmt, ...)
{
    struct netbe_error *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    netbe_error_setv(&err, cls, fmt, ap);
    va_end(ap);
    reply(s, has_id, id, NULL, err);
    netbe_error_free(err);
}

/* The object member @name of @data, made on first use. */
static struct json_object *sub_object(struct json_object *data,
                                      const char *name, size_t len)
{
    char key[128];
    struct json_object *o;

    if (len >= sizeof(key)) {
        len = sizeof(key) - 1;
    }
    memcpy(key, name, len);
    key[len] = '\0';
    if (!json_object_object_get_ex(data, key, &o) ||
        !json_object_is_type(o, json_type_object)) {
        o = json_object_new_object();
        put(data, key, o);
    }
    return o;
}

static void event_cb(void *opaque, const struct netbe_event *ev)
{
    struct netbe_qmp_session *s = opaque;
    struct json_object *msg, *ts, *data;
    int i;

    if (s->out.len - s->out_off > NETBE_QMP_OUTPUT_MAX) {
        /* it does not read: its connection ends, the others go on */
        s->overflowed = true;
        if (s->notify) {
            s->notify(s->notify_opaque);
        }
        return;
    }
    msg = json_object_new_object();
    put(msg, "event", jstr(ev->name));
    ts = json_object_new_object();
    put(ts, "seconds", json_object_new_int64(ev->seconds));
    put(ts, "microseconds", json_object_new_int64(ev->microseconds));
    put(msg, "timestamp", ts);
    if (ev->nfields > 0) {
        data = json_object_new_object();
        for (i = 0; i < ev->nfields; i++) {
            const struct netbe_event_field *f = &ev->fields[i];
            struct json_object *in = data, *v;
            const char *name = f->name, *dot;

            while ((dot = strchr(name, '.'))) {
                in = sub_object(in, name, (size_t)(dot - name));
                name = dot + 1;
            }
            switch (f->type) {
            case NETBE_EVENT_STR:
                v = jstr(f->str ? f->str : "");
                break;
            case NETBE_EVENT_INT:
                v = json_object_new_int64(f->num);
                break;
            case NETBE_EVENT_BOOL:
            default:
                v = json_object_new_boolean(f->flag);
                break;
            }
            put(in, name, v);
        }
        put(msg, "data", data);
    }
    out_message(s, msg);
    json_object_put(msg);
    if (s->notify) {
        s->notify(s->notify_opaque);
    }
}

struct netbe_qmp_session *netbe_qmp_session_new(struct netbe_ctx *ctx,
                                                bool pretty,
                                                void (*quit)(void *opaque),
                                                void *opaque)
{
    struct netbe_qmp_session *s = netbe_malloc0(sizeof(*s));
    struct json_object *g, *qmp;

    s->ctx = ctx;
    s->pretty = pretty;
    s->quit = quit;
    s->quit_opaque = opaque;
    /* json-c counts the top level too */
    s->tok = json_tokener_new_ex(NETBE_QMP_DEPTH_MAX + 1);
    if (!s->tok) {
        abort();
    }
    json_tokener_set_flags(s->tok, JSON_TOKENER_VALIDATE_UTF8);

    g = json_object_new_object();
    qmp = json_object_new_object();
    put(qmp, "version", version_object());
    /* no out-of-band execution: nothing to offer */
    put(qmp, "capabilities", json_object_new_array());
    put(g, "QMP", qmp);
    out_message(s, g);
    json_object_put(g);
    return s;
}

void netbe_qmp_session_free(struct netbe_qmp_session *s)
{
    if (!s) {
        return;
    }
    netbe_event_sink_del(s->sink);
    json_tokener_free(s->tok);
    free(s->out.buf);
    free(s);
}

const char *netbe_qmp_session_output(struct netbe_qmp_session *s, size_t *len)
{
    *len = s->out.len - s->out_off;
    return s->out.buf ? s->out.buf + s->out_off : "";
}

/* Memory given to a big reply goes back once it is sent. */
#define OUT_KEEP (64u * 1024)

void netbe_qmp_session_consume(struct netbe_qmp_session *s, size_t n)
{
    s->out_off += n;
    if (s->out_off >= s->out.len) {
        s->out_off = s->out.len = 0;
        if (s->out.cap > OUT_KEEP) {
            free(s->out.buf);
            s->out = (struct text){0};
        }
    } else if (s->out_off > s->out.cap / 2) {
        memmove(s->out.buf, s->out.buf + s->out_off, s->out.len - s->out_off);
        s->out.len -= s->out_off;
        s->out_off = 0;
    }
}

void netbe_qmp_session_set_notify(struct netbe_qmp_session *s,
                                  void (*fn)(void *opaque), void *opaque)
{
    s->notify = fn;
    s->notify_opaque = opaque;
}

bool netbe_qmp_session_overflowed(const struct netbe_qmp_session *s)
{
    return s->overflowed;
}

bool netbe_qmp_session_quitting(const struct netbe_qmp_session *s)
{
    return s->quitting;
}

/* ---- QAPI argument checks, with QEMU's qobject-input-visitor texts ---- */

enum qtype {
    Q_STR,
    Q_BOOL,
    Q_INT,    /* int64 */
    Q_INT32,  /* int64, then range */
    Q_UINT64, /* uint64 and size: QEMU takes negative numbers too */
    Q_UINT32,
    Q_UINT16,
    Q_SOCKADDR, /* QAPI's SocketAddress union */
    Q_ANYOBJ,   /* an object netbe's schema checks itself */
};

struct qarg {
    const char *name;
    enum qtype type;
    bool optional;
};

static char *full_name(const char *prefix, const char *name)
{
    return prefix ? netbe_strdup_printf("%s.%s", prefix, name)
                  : netbe_strdup(name);
}

static int check_sockaddr(struct json_object *obj, const char *prefix,
                          struct netbe_error **errp);

static int check_value(struct json_object *parent, const char *prefix,
                       const struct qarg *a, struct json_object *v,
                       struct netbe_error **errp)
{
    char *full = full_name(prefix, a->name);
    enum json_type jt = json_object_get_type(v);
    int64_t i = 0;
    uint64_t u = 0, max = 0;
    const char *range = NULL;
    int ret = -1;

    switch (a->type) {
    case Q_STR:
        if (jt != json_type_string) {
            netbe_error_setg(errp,
                             "Invalid parameter type for '%s', expected: "
                             "string",
                             full);
            goto out;
        }
        break;
    case Q_BOOL:
        if (jt != json_type_boolean) {
            netbe_error_setg(errp,
                             "Invalid parameter type for '%s', expected: "
                             "boolean",
                             full);
            goto out;
        }
        break;
    case Q_INT:
    case Q_INT32:
        i = json_object_get_int64(v);
        /* an integer beyond int64 is no "int" for QEMU either */
        if (jt != json_type_int ||
            (i >= 0 && json_object_get_uint64(v) > INT64_MAX)) {
            netbe_error_setg(errp,
                             "Invalid parameter type for '%s', expected: "
                             "integer",
                             full);
            goto out;
        }
        if (a->type == Q_INT32 && (i < INT32_MIN || i > INT32_MAX)) {
            netbe_error_setg(errp, "Parameter '%s' expects int32_t", a->name);
            goto out;
        }
        break;
    case Q_UINT64:
    case Q_UINT32:
    case Q_UINT16:
        if (jt != json_type_int) {
            netbe_error_setg(errp, "Parameter '%s' expects uint64", full);
            goto out;
        }
        i = json_object_get_int64(v);
        u = i < 0 ? (uint64_t)i : json_object_get_uint64(v);
        if (i < 0) {
            /* QEMU's visitor takes it, as the two's complement */
            json_object_object_add(parent, a->name, json_object_new_uint64(u));
        }
        if (a->type == Q_UINT32) {
            max = UINT32_MAX, range = "uint32_t";
        } else if (a->type == Q_UINT16) {
            max = UINT16_MAX, range = "uint16_t";
        }
        if (range && u > max) {
            netbe_error_setg(errp, "Parameter '%s' expects %s", a->name, range);
            goto out;
        }
        break;
    case Q_SOCKADDR:
    case Q_ANYOBJ:
        if (jt != json_type_object) {
            netbe_error_setg(errp,
                             "Invalid parameter type for '%s', expected: "
                             "object",
                             full);
            goto out;
        }
        if (a->type == Q_SOCKADDR && check_sockaddr(v, full, errp) < 0) {
            goto out;
        }
        break;
    }
    ret = 0;
out:
    free(full);
    return ret;
}

static bool arg_known(const struct qarg *args, int n, const char *key)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(args[i].name, key)) {
            return true;
        }
    }
    return false;
}

/*
 * QEMU's visit of a struct: each member in schema order (missing, then
 * its type), then the first member nobody asked for.
 */
static int check_struct(struct json_object *obj, const char *prefix,
                        const struct qarg *args, int n,
                        struct netbe_error **errp)
{
    struct json_object *v;
    char *full;
    int i;

    for (i = 0; i < n; i++) {
        if (!json_object_object_get_ex(obj, args[i].name, &v)) {
            if (args[i].optional) {
                continue;
            }
            full = full_name(prefix, args[i].name);
            netbe_error_setg(errp, "Parameter '%s' is missing", full);
            free(full);
            return -1;
        }
        if (check_value(obj, prefix, &args[i], v, errp) < 0) {
            return -1;
        }
    }
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        if (!arg_known(args, n, key)) {
            full = full_name(prefix, key);
            netbe_error_setg(errp, "Parameter '%s' is unexpected", full);
            free(full);
            return -1;
        }
    }
    return 0;
}

/* A union's tag: a string among @values. */
static int check_tag(struct json_object *obj, const char *prefix,
                     const char *tag, const char *const *values,
                     const char **out, struct netbe_error **errp)
{
    const struct qarg a = {tag, Q_STR, false};
    struct json_object *v;
    char *full;

    if (!json_object_object_get_ex(obj, tag, &v)) {
        full = full_name(prefix, tag);
        netbe_error_setg(errp, "Parameter '%s' is missing", full);
        free(full);
        return -1;
    }
    if (check_value(obj, prefix, &a, v, errp) < 0) {
        return -1;
    }
    *out = json_object_get_string(v);
    for (; values && *values; values++) {
        if (!strcmp(*values, *out)) {
            return 0;
        }
    }
    if (values) {
        netbe_error_setg(errp, "Parameter '%s' does not accept value '%s'", tag,
                         *out);
        return -1;
    }
    return 0;
}

static int check_sockaddr(struct json_object *obj, const char *prefix,
                          struct netbe_error **errp)
{
    static const char *const types[] = {"inet", "unix", "vsock", "fd", NULL};
    static const struct qarg inet[] = {
        {"type", Q_STR, false},  {"host", Q_STR, false},
        {"port", Q_STR, false},  {"numeric", Q_BOOL, true},
        {"to", Q_UINT16, true},  {"ipv4", Q_BOOL, true},
        {"ipv6", Q_BOOL, true},  {"keep-alive", Q_BOOL, true},
        {"mptcp", Q_BOOL, true},
    };
    static const struct qarg unix_[] = {
        {"type", Q_STR, false},
        {"path", Q_STR, false},
        {"abstract", Q_BOOL, true},
        {"tight", Q_BOOL, true},
    };
    static const struct qarg vsock[] = {
        {"type", Q_STR, false},
        {"cid", Q_STR, false},
        {"port", Q_STR, false},
    };
    static const struct qarg fd[] = {
        {"type", Q_STR, false},
        {"str", Q_STR, false},
    };
    const char *type;

    if (check_tag(obj, prefix, "type", types, &type, errp) < 0) {
        return -1;
    }
    if (!strcmp(type, "inet")) {
        return check_struct(obj, prefix, inet, NETBE_ARRAY_SIZE(inet), errp);
    }
    if (!strcmp(type, "unix")) {
        return check_struct(obj, prefix, unix_, NETBE_ARRAY_SIZE(unix_), errp);
    }
    if (!strcmp(type, "vsock")) {
        return check_struct(obj, prefix, vsock, NETBE_ARRAY_SIZE(vsock), errp);
    }
    return check_struct(obj, prefix, fd, NETBE_ARRAY_SIZE(fd), errp);
}

/*
 * The members of netdev type @t as QAPI types, from netbe's schema:
 * "addr.*", "local.*", "remote.*" are SocketAddress unions.
 * Return: how many, at most @max
 */
static int netdev_members(const struct netbe_backend_type *t, struct qarg *out,
                          char names[][64], int max)
{
    const struct netbe_opt_desc *d;
    bool has_qbytes = false;
    int n = 0;

    out[n++] = (struct qarg){"id", Q_STR, false};
    out[n++] = (struct qarg){"type", Q_STR, false};
    for (d = t->schema ? t->schema->opts : NULL; d && d->name && n < max - 1;
         d++) {
        size_t len = strlen(d->name);
        struct qarg *a = &out[n];

        if (!strcmp(d->name, "id") || !strcmp(d->name, "type")) {
            continue;
        }
        snprintf(names[n], 64, "%s", d->name);
        a->name = names[n];
        a->optional = !d->required;
        if (len > 2 && !strcmp(d->name + len - 2, ".*")) {
            names[n][len - 2] = '\0';
            a->type = !strcmp(names[n], "addr") || !strcmp(names[n], "local") ||
                              !strcmp(names[n], "remote")
                          ? Q_SOCKADDR
                          : Q_ANYOBJ;
        } else {
            switch (d->type) {
            case NETBE_OPT_STRING:
                a->type = Q_STR;
                break;
            case NETBE_OPT_BOOL:
                a->type = Q_BOOL;
                break;
            case NETBE_OPT_INT:
                a->type = Q_INT;
                break;
            case NETBE_OPT_INT32:
                a->type = Q_INT32;
                break;
            case NETBE_OPT_UINT32:
                a->type = Q_UINT32;
                break;
            case NETBE_OPT_UINT16:
                a->type = Q_UINT16;
                break;
            case NETBE_OPT_NUMBER:
            case NETBE_OPT_SIZE:
            default:
                a->type = Q_UINT64;
                break;
            }
        }
        has_qbytes |= !strcmp(a->name, NETBE_QUEUE_BYTES_KEY);
        n++;
    }
    if (!has_qbytes && n < max) {
        out[n++] = (struct qarg){NETBE_QUEUE_BYTES_KEY, Q_UINT64, true};
    }
    return n;
}

/*
 * Checked arguments as the option list netbe's init paths take: nested
 * objects as dotted keys, booleans "on"/"off", numbers their text.
 */
static int flatten(struct netbe_opts *opts, const char *prefix,
                   struct json_object *obj, struct netbe_error **errp)
{
    json_object_object_foreach(obj, key, v)
    {
        char *k = full_name(prefix, key);
        int r = 0;

        switch (json_object_get_type(v)) {
        case json_type_object:
            r = flatten(opts, k, v, errp);
            break;
        case json_type_string:
            if ((size_t)json_object_get_string_len(v) !=
                strlen(json_object_get_string(v))) {
                netbe_error_setg(errp,
                                 "Parameter '%s' must not contain a NUL "
                                 "character",
                                 k);
                r = -1;
                break;
            }
            netbe_opts_set(opts, k, json_object_get_string(v));
            break;
        case json_type_boolean:
            netbe_opts_set(opts, k, json_object_get_boolean(v) ? "on" : "off");
            break;
        case json_type_int:
        case json_type_double:
            netbe_opts_set(
                opts, k,
                json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
            break;
        default:
            netbe_error_setg(errp,
                             "Invalid parameter type for '%s', expected: "
                             "string, number, boolean or object",
                             k);
            r = -1;
            break;
        }
        free(k);
        if (r < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- commands ---- */

struct req {
    struct netbe_qmp_session *s;
    struct json_object *args; /* never NULL */
    struct json_object *ret;  /* NULL: {} */
    struct netbe_error *err;
};

struct cmd {
    const char *name;
    void (*run)(struct req *r);
    const struct qarg *args; /* NULL: run() checks its own */
    int nargs;
};

static const struct cmd commands[];

static const char *arg_str(struct req *r, const char *name)
{
    struct json_object *v;

    return json_object_object_get_ex(r->args, name, &v)
               ? json_object_get_string(v)
               : NULL;
}

static void cmd_qmp_capabilities(struct req *r)
{
    struct json_object *en, *v;
    size_t i, n;

    if (r->s->negotiated) {
        netbe_error_set(&r->err, NETBE_ERROR_COMMAND_NOT_FOUND,
                        "Capabilities negotiation is already complete, "
                        "command ignored");
        return;
    }
    if (json_object_object_get_ex(r->args, "enable", &en)) {
        if (!json_object_is_type(en, json_type_array)) {
            netbe_error_setg(&r->err, "Invalid parameter type for 'enable', "
                                      "expected: array");
            return;
        }
        n = json_object_array_length(en);
        for (i = 0; i < n; i++) {
            v = json_object_array_get_idx(en, i);
            if (!json_object_is_type(v, json_type_string)) {
                netbe_error_setg(&r->err,
                                 "Invalid parameter type for 'enable[%zu]', "
                                 "expected: string",
                                 i);
                return;
            }
            if (strcmp(json_object_get_string(v), "oob")) {
                netbe_error_setg(&r->err,
                                 "Parameter 'enable[%zu]' does not accept "
                                 "value '%s'",
                                 i, json_object_get_string(v));
                return;
            }
            /* QEMU's words for a capability the greeting did not offer */
            netbe_error_setg(&r->err, "Capability 'oob' not available");
            return;
        }
    }
    r->s->negotiated = true;
    r->s->sink = netbe_event_sink_add(r->s->ctx, event_cb, r->s);
}

static void cmd_query_version(struct req *r)
{
    r->ret = version_object();
}

static void cmd_query_commands(struct req *r)
{
    const struct cmd *c;

    r->ret = json_object_new_array();
    for (c = commands; c->name; c++) {
        struct json_object *o = json_object_new_object();

        put(o, "name", jstr(c->name));
        json_object_array_add(r->ret, o);
    }
}

static void cmd_quit(struct req *r)
{
    /* QEMU tells every monitor before it answers */
    r->s->quitting = true;
    netbe_event_emit(
        r->s->ctx, "SHUTDOWN",
        (const struct netbe_event_field[]){
            {.name = "guest", .type = NETBE_EVENT_BOOL},
            {.name = "reason", .type = NETBE_EVENT_STR, .str = "host-qmp-quit"},
        },
        2);
}

static bool is_driver_name(const char *name)
{
    for (int t = NETBE_DRIVER_NONE; t < NETBE_DRIVER__MAX; t++) {
        if (!strcmp(name, netbe_driver_name(t))) {
            return true;
        }
    }
    return false;
}

#define MAX_MEMBERS 64

static void cmd_netdev_add(struct req *r)
{
    static const struct qarg base[] = {
        {"id", Q_STR, false},
        {"type", Q_STR, false},
    };
    const struct netbe_backend_type *t;
    struct qarg members[MAX_MEMBERS];
    char names[MAX_MEMBERS][64];
    struct json_object *v;
    struct netbe_opts *opts;
    const char *id, *type;
    int i, n;

    /* the union's base first: id, then the tag */
    if (!json_object_object_get_ex(r->args, "id", &v)) {
        netbe_error_setg(&r->err, "Parameter 'id' is missing");
        return;
    }
    if (check_value(r->args, NULL, &base[0], v, &r->err) < 0 ||
        check_tag(r->args, NULL, "type", NULL, &type, &r->err) < 0) {
        return;
    }
    t = netbe_backend_find(type);
    if (!t && !is_driver_name(type)) {
        netbe_error_setg(&r->err, "Parameter 'type' does not accept value '%s'",
                         type);
        return;
    }
    if (t) {
        n = netdev_members(t, members, names, MAX_MEMBERS);
        if (check_struct(r->args, NULL, members, n, &r->err) < 0) {
            return;
        }
    }
    id = arg_str(r, "id");
    if (!netbe_id_wellformed(id)) {
        netbe_error_setg(&r->err, "Parameter 'id' expects an identifier");
        return;
    }
    if (!t || !t->netdev_ok) {
        netbe_error_setg(&r->err,
                         "Parameter 'type' expects a netdev backend type");
        return;
    }
    if (netbe_find_netdev(r->s->ctx, id)) {
        netbe_error_setg(&r->err, "Duplicate ID '%s'", id);
        return;
    }
    opts = netbe_opts_new();
    netbe_opts_set(opts, "type", type);
    netbe_opts_set(opts, "id", id);
    json_object_object_del(r->args, "type");
    json_object_object_del(r->args, "id");
    if (flatten(opts, NULL, r->args, &r->err) == 0) {
        netbe_net_client_init(r->s->ctx, opts, true, &r->err);
    }
    netbe_opts_free(opts);
    (void)i;
}

static void cmd_netdev_del(struct req *r)
{
    netbe_netdev_del(r->s->ctx, arg_str(r, "id"), &r->err);
}

static void cmd_set_link(struct req *r)
{
    struct json_object *up;

    json_object_object_get_ex(r->args, "up", &up);
    netbe_set_link(r->s->ctx, arg_str(r, "name"), json_object_get_boolean(up),
                   &r->err);
}

static struct json_object *mac_string(const uint8_t mac[6])
{
    char buf[NETBE_MAC_STRLEN];

    netbe_mac_format(buf, mac);
    return jstr(buf);
}

/*
 * QEMU's RxFilterInfo of a netbe NIC.  netbe's NICs filter nothing: every
 * frame their peer sends reaches them, whatever its destination.
 */
static struct json_object *rx_filter_info(struct netbe_client *nc)
{
    struct json_object *o = json_object_new_object();
    static const uint8_t zero[6];
    const uint8_t *mac =
        nc->nic && nc->nic->conf ? nc->nic->conf->macaddr : zero;

    put(o, "name", jstr(nc->name));
    put(o, "promiscuous", json_object_new_boolean(true));
    put(o, "multicast", jstr("all"));
    put(o, "unicast", jstr("all"));
    put(o, "vlan", jstr("all"));
    put(o, "broadcast-allowed", json_object_new_boolean(true));
    put(o, "multicast-overflow", json_object_new_boolean(false));
    put(o, "unicast-overflow", json_object_new_boolean(false));
    put(o, "main-mac", mac_string(mac));
    put(o, "vlan-table", json_object_new_array());
    put(o, "unicast-table", json_object_new_array());
    put(o, "multicast-table", json_object_new_array());
    return o;
}

static void cmd_query_rx_filter(struct req *r)
{
    const char *name = arg_str(r, "name");
    struct netbe_client *nc;
    struct json_object *list = json_object_new_array();

    for (nc = netbe_client_first(r->s->ctx); nc; nc = netbe_client_next(nc)) {
        if (name && strcmp(nc->name, name)) {
            continue;
        }
        if (nc->info->type != NETBE_DRIVER_NIC) {
            if (name) {
                netbe_error_setg(&r->err, "net client(%s) isn't a NIC", name);
                json_object_put(list);
                return;
            }
            continue;
        }
        if (nc->queue_index != 0) {
            continue;
        }
        json_object_array_add(list, rx_filter_info(nc));
        if (nc->nic) {
            netbe_nic_rx_filter_queried(nc->nic);
        }
        if (name) {
            break;
        }
    }
    if (name && json_object_array_length(list) == 0) {
        netbe_error_setg(&r->err, "invalid net client name: %s", name);
        json_object_put(list);
        return;
    }
    r->ret = list;
}

/* What a command's log lines say goes to its output, as in QEMU's HMP. */
static void hmp_log_sink(enum netbe_log_level level, const char *msg,
                         void *opaque)
{
    FILE *out = opaque;

    if (level == NETBE_LOG_WARNING) {
        fputs("warning: ", out);
    }
    if (level <= NETBE_LOG_WARNING) {
        fprintf(out, "%s\n", msg);
    }
}

static void cmd_human_monitor_command(struct req *r)
{
    struct json_object *v;
    netbe_log_sink *saved;
    void *saved_opaque;
    char *buf = NULL;
    size_t len = 0, i;
    struct text t = {0};
    FILE *f;

    if (json_object_object_get_ex(r->args, "cpu-index", &v)) {
        /* netbe has no CPUs, as QEMU's -M none */
        netbe_error_setg(&r->err, "Parameter 'cpu-index' expects a CPU number");
        return;
    }
    f = open_memstream(&buf, &len);
    if (!f) {
        abort();
    }
    netbe_log_get_sink(&saved, &saved_opaque);
    netbe_log_set_sink(hmp_log_sink, f);
    /* "quit" here is ignored: QEMU's HMP-in-QMP quits; ours says nothing */
    netbe_monitor_run_command(r->s->ctx, arg_str(r, "command-line"), f);
    netbe_log_set_sink(saved, saved_opaque);
    fclose(f);
    for (i = 0; i < len; i++) {
        text_add(&t, buf[i] == '\n' ? "\r\n" : &buf[i], buf[i] == '\n' ? 2 : 1);
    }
    free(buf);
    r->ret = json_object_new_string_len(t.buf ? t.buf : "", (int)t.len);
    free(t.buf);
}

static void cmd_object_add(struct req *r)
{
    struct json_object *v;
    struct netbe_opts *opts;
    const char *type;

    if (check_tag(r->args, NULL, "qom-type", NULL, &type, &r->err) < 0) {
        return;
    }
    if (!json_object_object_get_ex(r->args, "id", &v)) {
        netbe_error_setg(&r->err, "Parameter 'id' is missing");
        return;
    }
    if (!json_object_is_type(v, json_type_string)) {
        netbe_error_setg(&r->err, "Invalid parameter type for 'id', expected: "
                                  "string");
        return;
    }
    opts = netbe_opts_new();
    netbe_opts_set(opts, "qom-type", type);
    json_object_object_del(r->args, "qom-type");
    if (flatten(opts, NULL, r->args, &r->err) == 0) {
        netbe_object_add_opts(r->s->ctx, opts, &r->err);
    }
    netbe_opts_free(opts);
}

static void cmd_object_del(struct req *r)
{
    netbe_object_del(r->s->ctx, arg_str(r, "id"), &r->err);
}

/* netbe's own: every client's counters (info stats). */
static void cmd_query_stats(struct req *r)
{
    const char *name = arg_str(r, "name");
    struct netbe_client *nc;
    struct json_object *list = json_object_new_array();

    for (nc = netbe_client_first(r->s->ctx); nc; nc = netbe_client_next(nc)) {
        const struct netbe_counters *c = &nc->stats;
        struct json_object *o, *d;

        if (name && strcmp(nc->name, name)) {
            continue;
        }
        o = json_object_new_object();
        put(o, "name", jstr(nc->name));
        put(o, "type", jstr(netbe_driver_name(nc->info->type)));
        put(o, "queue-index", json_object_new_int64(nc->queue_index));
        put(o, "rx-frames", json_object_new_uint64(c->rx_frames));
        put(o, "rx-bytes", json_object_new_uint64(c->rx_bytes));
        put(o, "tx-frames", json_object_new_uint64(c->tx_frames));
        put(o, "tx-bytes", json_object_new_uint64(c->tx_bytes));
        put(o, "queued-frames",
            json_object_new_uint64(nc->incoming_queue->count));
        put(o, "queued-bytes",
            json_object_new_uint64(nc->incoming_queue->bytes));
        put(o, "segmented", json_object_new_uint64(c->sw_segments));
        d = json_object_new_object();
        put(d, "link-down", json_object_new_uint64(c->drop_link_down));
        put(d, "no-peer", json_object_new_uint64(c->drop_no_peer));
        put(d, "oversize", json_object_new_uint64(c->drop_oversize));
        put(d, "queue-full", json_object_new_uint64(c->drop_queue_full));
        put(d, "filter", json_object_new_uint64(c->drop_filter));
        put(d, "malformed", json_object_new_uint64(c->drop_malformed));
        put(d, "error", json_object_new_uint64(c->drop_error));
        put(d, "purged", json_object_new_uint64(c->drop_purged));
        put(o, "drops", d);
        json_object_array_add(list, o);
    }
    if (name && json_object_array_length(list) == 0) {
        netbe_error_set(&r->err, NETBE_ERROR_DEVICE_NOT_FOUND,
                        "Device '%s' not found", name);
        json_object_put(list);
        return;
    }
    r->ret = list;
}

/* netbe's own: the hubs, their ports and a switch's learned table. */
static void cmd_query_switch(struct req *r)
{
    struct netbe_ctx *ctx = r->s->ctx;
    struct json_object *list = json_object_new_array();
    int nhubs = netbe_hub_list(ctx, NULL, 0), i, j, n;
    int *ids = netbe_malloc0((size_t)(nhubs ? nhubs : 1) * sizeof(*ids));
    struct netbe_hub_fdb_entry *fdb =
        netbe_malloc0(NETBE_HUB_FDB_MAX * sizeof(*fdb));

    nhubs = netbe_hub_list(ctx, ids, nhubs);
    for (i = 0; i < nhubs; i++) {
        struct netbe_hub_status st;
        struct json_object *o, *ports, *table;
        struct netbe_client *nc;
        int hid;

        if (netbe_hub_get_status(ctx, ids[i], &st) < 0) {
            continue;
        }
        o = json_object_new_object();
        put(o, "id", json_object_new_int64(st.id));
        put(o, "learning", json_object_new_boolean(st.learning));
        ports = json_object_new_array();
        for (nc = netbe_client_first(ctx); nc; nc = netbe_client_next(nc)) {
            struct json_object *p;

            if (nc->info->type != NETBE_DRIVER_HUBPORT ||
                netbe_hub_id_for_client(nc, &hid) < 0 || hid != st.id) {
                continue;
            }
            p = json_object_new_object();
            put(p, "name", jstr(nc->name));
            if (nc->peer) {
                put(p, "peer", jstr(nc->peer->name));
            }
            json_object_array_add(ports, p);
        }
        put(o, "ports", ports);
        if (st.learning) {
            put(o, "learned", json_object_new_int64(st.learned));
            put(o, "table-size", json_object_new_int64(NETBE_HUB_FDB_MAX));
            put(o, "evictions", json_object_new_uint64(st.evictions));
            put(o, "not-learned", json_object_new_uint64(st.not_learned));
            table = json_object_new_array();
            n = netbe_hub_get_fdb(ctx, st.id, fdb, NETBE_HUB_FDB_MAX);
            for (j = 0; j < n && j < NETBE_HUB_FDB_MAX; j++) {
                struct json_object *e = json_object_new_object();

                put(e, "mac", mac_string(fdb[j].mac));
                put(e, "port", jstr(fdb[j].port->name));
                put(e, "age-ms", json_object_new_int64(fdb[j].age_ms));
                json_object_array_add(table, e);
            }
            put(o, "table", table);
        }
        json_object_array_add(list, o);
    }
    free(fdb);
    free(ids);
    r->ret = list;
}

static const struct qarg args_name[] = {{"name", Q_STR, true}};
static const struct qarg args_id[] = {{"id", Q_STR, false}};
static const struct qarg args_set_link[] = {
    {"name", Q_STR, false},
    {"up", Q_BOOL, false},
};
static const struct qarg args_hmp[] = {
    {"command-line", Q_STR, false},
    {"cpu-index", Q_INT, true},
};

/* query-commands lists them in this order. */
static const struct cmd commands[] = {
    {"qmp_capabilities", cmd_qmp_capabilities, NULL, 0},
    {"query-version", cmd_query_version, NULL, 0},
    {"query-commands", cmd_query_commands, NULL, 0},
    {"quit", cmd_quit, NULL, 0},
    {"netdev_add", cmd_netdev_add, NULL, -1},
    {"netdev_del", cmd_netdev_del, args_id, 1},
    {"set_link", cmd_set_link, args_set_link, 2},
    {"query-rx-filter", cmd_query_rx_filter, args_name, 1},
    {"human-monitor-command", cmd_human_monitor_command, args_hmp, 2},
    {"object-add", cmd_object_add, NULL, -1},
    {"object-del", cmd_object_del, args_id, 1},
    {NETBE_QAPI_PREFIX "query-stats", cmd_query_stats, args_name, 1},
    {NETBE_QAPI_PREFIX "query-switch", cmd_query_switch, NULL, 0},
    {NULL, NULL, NULL, 0},
};

static const struct cmd *cmd_find(const char *name)
{
    const struct cmd *c;

    for (c = commands; c->name; c++) {
        if (!strcmp(c->name, name)) {
            return c;
        }
    }
    return NULL;
}

/* QEMU's qmp_dispatch(): the request's members, the command, its args. */
static void dispatch(struct netbe_qmp_session *s, struct json_object *reqobj)
{
    struct json_object *id = NULL, *args = NULL, *exec = NULL;
    struct req r = {.s = s};
    const struct cmd *c;
    struct member *m;
    size_t i, n;
    bool has_id;

    if (!json_object_is_type(reqobj, json_type_object)) {
        reply_error(s, false, NULL, NETBE_ERROR_GENERIC,
                    "QMP input must be a JSON object");
        return;
    }
    has_id = json_object_object_get_ex(reqobj, "id", &id);
    m = members_sorted(reqobj, &n);
    for (i = 0; i < n; i++) {
        const char *k = m[i].key;
        struct json_object *v = m[i].val;

        if (!strcmp(k, "execute")) {
            if (!json_object_is_type(v, json_type_string)) {
                reply_error(s, has_id, id, NETBE_ERROR_GENERIC,
                            "QMP input member 'execute' must be a string");
                goto out;
            }
            exec = v;
        } else if (!strcmp(k, "arguments")) {
            if (!json_object_is_type(v, json_type_object)) {
                reply_error(s, has_id, id, NETBE_ERROR_GENERIC,
                            "QMP input member 'arguments' must be an object");
                goto out;
            }
            args = v;
        } else if (strcmp(k, "id")) {
            /* "exec-oob" too: out-of-band execution was not offered */
            reply_error(s, has_id, id, NETBE_ERROR_GENERIC,
                        "QMP input member '%s' is unexpected", k);
            goto out;
        }
    }
    if (!exec) {
        reply_error(s, has_id, id, NETBE_ERROR_GENERIC,
                    "QMP input lacks member 'execute'");
        goto out;
    }
    c = cmd_find(json_object_get_string(exec));
    if (!s->negotiated && (!c || c->run != cmd_qmp_capabilities)) {
        reply_error(s, has_id, id, NETBE_ERROR_COMMAND_NOT_FOUND,
                    "Expecting capabilities negotiation with "
                    "'qmp_capabilities'");
        goto out;
    }
    if (!c) {
        reply_error(s, has_id, id, NETBE_ERROR_COMMAND_NOT_FOUND,
                    "The command %s has not been found",
                    json_object_get_string(exec));
        goto out;
    }
    /* the handlers may change their arguments: give them a copy */
    r.args = json_object_new_object();
    if (args) {
        json_object_object_foreach(args, k, v)
        {
            put(r.args, k, json_object_get(v));
        }
    }
    if (c->run == cmd_qmp_capabilities) {
        /* "enable" is a list: the handler checks its type */
        json_object_object_foreach(r.args, k2, v2)
        {
            (void)v2;
            if (strcmp(k2, "enable")) {
                netbe_error_setg(&r.err, "Parameter '%s' is unexpected", k2);
                break;
            }
        }
    } else if (c->nargs >= 0) {
        check_struct(r.args, NULL, c->args, c->nargs, &r.err);
    }
    if (!r.err) {
        c->run(&r);
    }
    reply(s, has_id, id, r.err ? NULL : r.ret, r.err);
    if (r.err) {
        json_object_put(r.ret);
    }
    netbe_error_free(r.err);
    json_object_put(r.args);
    if (c->run == cmd_quit && !r.err && s->quit) {
        s->quit(s->quit_opaque);
    }
out:
    free(m);
}

/* ---- input ---- */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * QEMU's text for a syntax error: a bare word is an "invalid keyword",
 * anything else a value that was expected.
 */
static void parse_error(struct netbe_qmp_session *s, const char *buf,
                        size_t len, size_t at, enum json_tokener_error jerr)
{
    size_t b = at < len ? at : len ? len - 1 : 0, e;

    if (jerr == json_tokener_error_depth) {
        reply_error(s, false, NULL, NETBE_ERROR_GENERIC,
                    "JSON nesting depth limit exceeded");
        return;
    }
    if (jerr == json_tokener_error_parse_utf8_string) {
        reply_error(s, false, NULL, NETBE_ERROR_GENERIC,
                    "JSON parse error, invalid UTF-8 sequence in string");
        return;
    }
    while (b > 0 && isalnum((unsigned char)buf[b - 1])) {
        b--;
    }
    for (e = b; e < len && isalnum((unsigned char)buf[e]); e++) {
    }
    if (len && e > b && isalpha((unsigned char)buf[b]) && e - b < 256) {
        reply_error(s, false, NULL, NETBE_ERROR_GENERIC,
                    "JSON parse error, invalid keyword '%.*s'", (int)(e - b),
                    buf + b);
        return;
    }
    reply_error(s, false, NULL, NETBE_ERROR_GENERIC,
                "JSON parse error, expecting value");
}

static void input_reset(struct netbe_qmp_session *s, bool skip_line)
{
    json_tokener_reset(s->tok);
    s->in_bytes = 0;
    s->in_value = false;
    s->skip_line = skip_line;
}

size_t netbe_qmp_session_feed(struct netbe_qmp_session *s, const char *buf,
                              size_t len)
{
    size_t used = 0;

    while (used < len && !s->quitting) {
        const char *p = buf + used;
        size_t avail = len - used, chunk, end;
        enum json_tokener_error jerr;
        struct json_object *obj;

        if (s->skip_line) {
            const char *nl = memchr(p, '\n', avail);

            if (!nl) {
                return len;
            }
            used += (size_t)(nl - p) + 1;
            s->skip_line = false;
            continue;
        }
        if (!s->in_value) {
            if (is_ws(*p)) {
                used++;
                continue;
            }
            s->in_value = true;
        }
        chunk = avail;
        if (chunk > NETBE_QMP_INPUT_MAX + 1 - s->in_bytes) {
            chunk = NETBE_QMP_INPUT_MAX + 1 - s->in_bytes;
        }
        obj = json_tokener_parse_ex(s->tok, p, (int)chunk);
        jerr = json_tokener_get_error(s->tok);
        end = json_tokener_get_parse_end(s->tok);
        if (jerr == json_tokener_continue) {
            used += chunk;
            s->in_bytes += chunk;
            if (s->in_bytes > NETBE_QMP_INPUT_MAX) {
                reply_error(s, false, NULL, NETBE_ERROR_GENERIC,
                            "JSON token size limit exceeded");
                input_reset(s, p[chunk - 1] != '\n');
                return used;
            }
            continue;
        }
        if (jerr == json_tokener_success) {
            used += end;
            input_reset(s, false);
            dispatch(s, obj);
            json_object_put(obj);
            return used;
        }
        parse_error(s, p, chunk, end, jerr);
        used += end;
        /* the rest of the line goes, unless the error was its end */
        input_reset(s, !(end > 0 && p[end - 1] == '\n'));
        if (s->skip_line) {
            const char *nl = memchr(buf + used, '\n', len - used);

            s->skip_line = !nl;
            used = nl ? (size_t)(nl - buf) + 1 : len;
        }
        return used;
    }
    return used;
}

/* ---- the monitor: a session on stdio or a listening socket ---- */

/* A blocking write of this much never blocks once poll() said POLLOUT. */
#define STDIO_CHUNK 512

struct netbe_qmp {
    struct netbe_ctx *ctx;
    struct netbe_loop *loop;
    bool pretty;
    void (*quit)(void *opaque);
    void *opaque;
    char *name;

    /* a listening socket (unix or TCP): one client at a time */
    int listen_fd;
    void *listen_watch;
    char *path; /* a unix socket's file, to unlink */
    bool is_socket, waiting;

    /* the current client */
    struct netbe_qmp_session *sess;
    int in_fd, out_fd;
    void *in_watch, *out_watch;
    unsigned in_events, out_events;
    bool connected, out_pollable, in_eof, out_blocked, closing;
    bool in_pump;

    /* read, not yet fed: it waits there while the output is high */
    char rbuf[4096];
    size_t rbuf_off, rbuf_len;
};

static void client_close(struct netbe_qmp *mon);

/* epoll refuses regular files and /dev/null; libuv would warn about them. */
static bool fd_pollable(int fd)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    bool ok;

    if (ep < 0) {
        return false;
    }
    ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
    close(ep);
    return ok;
}

static size_t pending(struct netbe_qmp *mon)
{
    size_t n = 0;

    if (mon->sess) {
        netbe_qmp_session_output(mon->sess, &n);
    }
    return n;
}

static void set_events(struct netbe_qmp *mon, void *watch, unsigned *cur,
                       unsigned events)
{
    if (watch && *cur != events) {
        netbe_update_fd(mon->loop, watch, events);
        *cur = events;
    }
}

static void watch_update(struct netbe_qmp *mon)
{
    bool quitting = mon->sess && netbe_qmp_session_quitting(mon->sess);
    bool want_in = mon->connected && !quitting && !mon->in_eof &&
                   mon->rbuf_off == mon->rbuf_len &&
                   pending(mon) <= NETBE_QMP_OUTPUT_HIGH;
    bool want_out = mon->connected && mon->out_blocked;

    if (mon->is_socket) {
        set_events(mon, mon->in_watch, &mon->in_events,
                   (want_in ? NETBE_EV_READ : 0) |
                       (want_out ? NETBE_EV_WRITE : 0));
    } else {
        set_events(mon, mon->in_watch, &mon->in_events,
                   want_in ? NETBE_EV_READ : 0);
        set_events(mon, mon->out_watch, &mon->out_events,
                   want_out ? NETBE_EV_WRITE : 0);
    }
}

/* Write what the client takes now; Return: false when it is gone. */
static bool out_flush(struct netbe_qmp *mon)
{
    while (mon->connected && pending(mon)) {
        size_t len;
        const char *p = netbe_qmp_session_output(mon->sess, &len);
        ssize_t n;

        if (mon->is_socket) {
            n = send(mon->out_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            struct pollfd pfd = {.fd = mon->out_fd, .events = POLLOUT};

            if (mon->out_pollable) {
                if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
                    mon->out_blocked = true;
                    return true;
                }
                if (len > STDIO_CHUNK) {
                    len = STDIO_CHUNK;
                }
            }
            n = write(mon->out_fd, p, len);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            mon->out_blocked = true;
            return true;
        }
        if (n <= 0) {
            /* the reader went away: output has nowhere to go */
            netbe_qmp_session_consume(mon->sess, len);
            if (mon->is_socket) {
                client_close(mon);
                return false;
            }
            return true;
        }
        netbe_qmp_session_consume(mon->sess, (size_t)n);
    }
    mon->out_blocked = false;
    return mon->connected;
}

/*
 * Send, feed what was read while little output waits, and close a
 * client that left (once all it asked for is sent) or that does not read
 * what events it gets.
 */
static void pump(struct netbe_qmp *mon)
{
    if (mon->in_pump) {
        return;
    }
    mon->in_pump = true;
    for (;;) {
        if (!out_flush(mon)) {
            goto out;
        }
        if (netbe_qmp_session_overflowed(mon->sess)) {
            if (mon->is_socket) {
                netbe_warn_report("QMP %s: the client does not read its "
                                  "events, closing its connection",
                                  mon->name);
                client_close(mon);
                goto out;
            }
        }
        if (netbe_qmp_session_quitting(mon->sess) ||
            mon->rbuf_off == mon->rbuf_len ||
            pending(mon) > NETBE_QMP_OUTPUT_HIGH) {
            break;
        }
        mon->rbuf_off +=
            netbe_qmp_session_feed(mon->sess, mon->rbuf + mon->rbuf_off,
                                   mon->rbuf_len - mon->rbuf_off);
    }
    if (mon->in_eof && !pending(mon) && mon->rbuf_off == mon->rbuf_len) {
        client_close(mon);
        goto out;
    }
    watch_update(mon);
out:
    mon->in_pump = false;
}

static void read_client(struct netbe_qmp *mon)
{
    ssize_t n;

    if (mon->rbuf_off < mon->rbuf_len || mon->in_eof) {
        return;
    }
    n = read(mon->in_fd, mon->rbuf, sizeof(mon->rbuf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    if (n <= 0 && !mon->is_socket) {
        /* QEMU keeps running when its stdin ends; so do we */
        netbe_unwatch_fd(mon->loop, mon->in_watch);
        mon->in_watch = NULL;
        mon->in_eof = true;
        return;
    }
    if (n < 0) {
        client_close(mon);
        return;
    }
    if (n == 0) {
        mon->in_eof = true; /* it still gets its replies */
    } else {
        mon->rbuf_off = 0;
        mon->rbuf_len = (size_t)n;
    }
    pump(mon);
}

static void fd_event(void *opaque, int fd, unsigned events)
{
    struct netbe_qmp *mon = opaque;

    if ((events & (NETBE_EV_WRITE | NETBE_EV_ERROR)) && fd == mon->out_fd &&
        mon->out_blocked) {
        mon->out_blocked = false;
        pump(mon);
        if (!mon->connected) {
            return;
        }
    }
    if ((events & (NETBE_EV_READ | NETBE_EV_ERROR)) && fd == mon->in_fd) {
        read_client(mon);
    }
}

/* Events came: send them (from the loop, never from inside the emitter). */
static void session_notify(void *opaque)
{
    struct netbe_qmp *mon = opaque;

    if (!mon->connected || mon->in_pump) {
        return;
    }
    /*
     * A client that does not read what it is sent will not make its
     * socket writable again: end it now.  The session's event callback
     * touches nothing after this, and the emitter holds nothing of ours.
     */
    if (netbe_qmp_session_overflowed(mon->sess) && mon->is_socket) {
        netbe_warn_report("QMP %s: the client does not read its events, "
                          "closing its connection",
                          mon->name);
        client_close(mon);
        return;
    }
    mon->in_pump = true;
    out_flush(mon);
    mon->in_pump = false;
    if (mon->connected) {
        watch_update(mon);
    }
}

static void session_quit(void *opaque)
{
    struct netbe_qmp *mon = opaque;

    if (mon->quit) {
        mon->quit(mon->opaque);
    }
}

static void client_open(struct netbe_qmp *mon)
{
    mon->connected = true;
    mon->in_eof = false;
    mon->rbuf_off = mon->rbuf_len = 0;
    mon->sess = netbe_qmp_session_new(mon->ctx, mon->pretty, session_quit, mon);
    netbe_qmp_session_set_notify(mon->sess, session_notify, mon);
    pump(mon);
}

static void client_close(struct netbe_qmp *mon)
{
    if (!mon->connected || !mon->is_socket) {
        return;
    }
    netbe_unwatch_fd(mon->loop, mon->in_watch);
    mon->in_watch = NULL;
    mon->in_events = 0;
    close(mon->in_fd);
    mon->in_fd = mon->out_fd = -1;
    mon->connected = false;
    mon->out_blocked = false;
    mon->rbuf_off = mon->rbuf_len = 0;
    netbe_qmp_session_free(mon->sess);
    mon->sess = NULL;
    if (mon->listen_watch && !mon->closing) {
        netbe_update_fd(mon->loop, mon->listen_watch, NETBE_EV_READ);
    }
}

static void accept_event(void *opaque, int fd, unsigned events)
{
    struct netbe_qmp *mon = opaque;
    int cfd;

    if (mon->connected) {
        return;
    }
    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        return;
    }
    mon->in_fd = mon->out_fd = cfd;
    mon->in_watch =
        netbe_watch_fd(mon->loop, cfd, NETBE_EV_READ, fd_event, mon);
    if (!mon->in_watch) {
        close(cfd);
        mon->in_fd = mon->out_fd = -1;
        return;
    }
    mon->in_events = NETBE_EV_READ;
    mon->waiting = false;
    /* one client at a time, as QEMU's socket chardev: the next waits */
    netbe_update_fd(mon->loop, mon->listen_watch, 0);
    client_open(mon);
}

/* ---- the device string ---- */

static int listen_unix(struct netbe_qmp *mon, const char *path,
                       struct netbe_error **errp)
{
    int fd = netbe_monitor_listen_unix(path, &mon->path, errp);

    if (fd < 0) {
        return -1;
    }
    mon->listen_fd = fd;
    mon->name = netbe_strdup_printf("unix:%s", mon->path);
    return 0;
}

/* a listening monitor only: "server" must be on */
static int parse_sock(const char *s, struct netbe_monitor_dev *d,
                      struct netbe_error **errp)
{
    if (netbe_monitor_parse_dev(s, d, errp) < 0) {
        return -1;
    }
    if (!d->server) {
        netbe_error_setg(errp, "only a listening monitor socket is "
                               "supported: add server=on");
        free(d->addr);
        d->addr = NULL;
        return -1;
    }
    return 0;
}

/* "HOST:PORT", HOST possibly empty (any) or a [v6] literal. */
static int listen_tcp(struct netbe_qmp *mon, const char *hp,
                      struct netbe_error **errp)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL, *ai;
    const char *colon = strrchr(hp, ':');
    char *host;
    int fd = -1, r, one = 1, err = 0;

    if (!colon || !colon[1]) {
        netbe_error_setg(errp, "host and/or port not specified in '%s'", hp);
        return -1;
    }
    if (hp[0] == '[' && colon > hp && colon[-1] == ']') {
        host = strndup(hp + 1, (size_t)(colon - hp - 2));
    } else {
        host = strndup(hp, (size_t)(colon - hp));
    }
    if (!host) {
        abort();
    }
    r = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
    if (r) {
        netbe_error_setg(errp, "address resolution failed for %s:%s: %s", host,
                         colon + 1, gai_strerror(r));
        free(host);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        netbe_error_setg(errp, "Failed to bind socket: %s", strerror(err));
        free(host);
        return -1;
    }
    mon->listen_fd = fd;
    mon->name = netbe_strdup_printf("tcp:%s", hp);
    free(host);
    return 0;
}

struct netbe_qmp *netbe_qmp_new(struct netbe_ctx *ctx, const char *dev,
                                bool pretty, void (*quit)(void *opaque),
                                void *opaque, struct netbe_error **errp)
{
    struct netbe_qmp *mon = netbe_malloc0(sizeof(*mon));
    struct netbe_monitor_dev d = {0};
    int r;

    mon->ctx = ctx;
    mon->loop = netbe_ctx_loop(ctx);
    mon->pretty = pretty;
    mon->quit = quit;
    mon->opaque = opaque;
    mon->listen_fd = mon->in_fd = mon->out_fd = -1;

    if (!mon->loop) {
        netbe_error_setg(errp, "the monitor needs an event loop");
        goto fail;
    }
    if (!strcmp(dev, "stdio")) {
        mon->in_fd = STDIN_FILENO;
        mon->out_fd = STDOUT_FILENO;
        mon->out_pollable = fd_pollable(STDOUT_FILENO);
        if (fd_pollable(STDIN_FILENO)) {
            mon->in_watch = netbe_watch_fd(mon->loop, STDIN_FILENO,
                                           NETBE_EV_READ, fd_event, mon);
        }
        if (mon->out_pollable) {
            mon->out_watch =
                netbe_watch_fd(mon->loop, STDOUT_FILENO, 0, fd_event, mon);
            if (!mon->out_watch) {
                mon->out_pollable = false;
            }
        }
        mon->name = netbe_strdup("stdio");
        mon->in_events = mon->in_watch ? NETBE_EV_READ : 0;
        client_open(mon);
        return mon;
    }
    if (!strncmp(dev, "unix:", 5)) {
        r = parse_sock(dev + 5, &d, errp);
        r = r < 0 ? r : listen_unix(mon, d.addr, errp);
    } else if (!strncmp(dev, "tcp:", 4)) {
        r = parse_sock(dev + 4, &d, errp);
        r = r < 0 ? r : listen_tcp(mon, d.addr, errp);
    } else {
        netbe_error_setg(errp, "'%s' is not a valid char driver", dev);
        r = -1;
    }
    if (r < 0) {
        goto fail;
    }
    mon->is_socket = true;
    mon->listen_watch = netbe_watch_fd(mon->loop, mon->listen_fd, NETBE_EV_READ,
                                       accept_event, mon);
    if (!mon->listen_watch) {
        netbe_error_setg(errp, "cannot watch the monitor socket %s", d.addr);
        goto fail;
    }
    if (d.wait) {
        /* as the HMP monitor: the caller runs the loop until it came */
        fprintf(stderr,
                "netbe: info: netbe waiting for connection on: "
                "disconnected:%s,server=on\n",
                mon->name);
        mon->waiting = true;
    }
    free(d.addr);
    return mon;

fail:
    free(d.addr);
    netbe_qmp_free(mon);
    return NULL;
}

bool netbe_qmp_waiting(const struct netbe_qmp *mon)
{
    return mon->waiting;
}

void netbe_qmp_free(struct netbe_qmp *mon)
{
    if (!mon) {
        return;
    }
    mon->closing = true;
    if (mon->connected && pending(mon)) {
        /*
         * Last words (the reply to quit): a socket gets what it takes at
         * once, stdio all of it (blocking: nobody waits on the loop now).
         */
        mon->out_pollable = false;
        mon->in_pump = true;
        out_flush(mon);
    }
    if (mon->is_socket) {
        client_close(mon);
    } else {
        if (mon->loop) {
            netbe_unwatch_fd(mon->loop, mon->in_watch);
            netbe_unwatch_fd(mon->loop, mon->out_watch);
        }
        netbe_qmp_session_free(mon->sess);
    }
    if (mon->listen_watch) {
        netbe_unwatch_fd(mon->loop, mon->listen_watch);
    }
    if (mon->listen_fd >= 0) {
        close(mon->listen_fd);
    }
    if (mon->path) {
        unlink(mon->path);
        free(mon->path);
    }
    free(mon->name);
    free(mon);
}
