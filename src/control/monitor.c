/*
 * monitor.c - QEMU's HMP text monitor for the daemon: the "(qemu) "
 * prompt, command parsing with QEMU 7.2's messages (monitor/hmp.c), the
 * network commands, and the stdio or unix-socket transport on a
 * netbe_loop.
 *
 * Output follows QEMU's monitor byte for byte where it can: every "\n"
 * goes out as "\r\n", errors of a command read "Error: MESSAGE", argument
 * errors are followed by 'Try "help CMD" for more information'.  Unlike
 * QEMU's readline, nothing typed is echoed back: a terminal echoes by
 * itself and a program does not want its input back.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/monitor.h"
#include "netbe/netbe.h"
#ifdef NETBE_HAVE_SLIRP
#include "backends/user.h"
#endif

#define GREETING                                                               \
    "netbe " NETBE_VERSION " monitor - type 'help' for more "                  \
    "information\n"
#define PROMPT "(qemu) "
/* A blocking write of this much never blocks once poll() said POLLOUT. */
#define STDIO_CHUNK 512
/* QEMU's HMP splits help arguments into at most this many words. */
#define MAX_ARGS 16

/* ---- command parsing (QEMU's monitor/hmp.c rules) ---- */

struct hmp {
    struct netbe_ctx *ctx;
    FILE *out;
    const char *line;    /* the whole line, for the messages */
    const char *args_at; /* just after the command name(s) */
    const struct cmd *cmd;
    bool quit;
};

struct cmd {
    const char *name; /* "quit|q": '|' separates aliases */
    const char *params;
    const char *help;
    void (*run)(struct hmp *h, const char *p);
    const struct cmd *sub; /* "info" has subcommands */
};

static const char *skip_ws(const char *p)
{
    while (isspace((unsigned char)*p)) {
        p++;
    }
    return p;
}

/* Is @name one of the '|'-separated names of @list? */
static bool cmd_matches(const char *name, const char *list)
{
    size_t len = strlen(name);
    const char *p = list;

    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);

        if (n == len && !memcmp(p, name, len)) {
            return true;
        }
        if (!bar) {
            return false;
        }
        p = bar + 1;
    }
}

static const struct cmd *cmd_find(const struct cmd *table, const char *name)
{
    for (; table->name; table++) {
        if (cmd_matches(name, table->name)) {
            return table;
        }
    }
    return NULL;
}

/*
 * One word, or a "double-quoted" string with \n \r \\ \' \" escapes.
 * Return: 0 with *@val malloc'ed, -1 at the end of the line or on a bad
 * string (which is reported here, as QEMU does).
 */
static int get_str(struct hmp *h, const char **pp, char **val)
{
    const char *p = skip_ws(*pp);
    char *buf = netbe_malloc0(strlen(p) + 1);
    char *q = buf;

    if (!*p) {
        goto fail;
    }
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\') {
                char c = p[1];

                switch (c) {
                case 'n':
                    *q++ = '\n';
                    break;
                case 'r':
                    *q++ = '\r';
                    break;
                case '\\':
                case '\'':
                case '"':
                    *q++ = c;
                    break;
                case '\0':
                    /*
                     * A backslash that ends the line: QEMU prints it as
                     * an unsupported escape with a NUL byte in the text;
                     * the string is simply unterminated.
                     */
                    fputs("unterminated string\n", h->out);
                    goto fail;
                default:
                    fprintf(h->out, "unsupported escape code: '\\%c'\n", c);
                    goto fail;
                }
                p += 2;
            } else {
                *q++ = *p++;
            }
        }
        if (*p != '"') {
            fputs("unterminated string\n", h->out);
            goto fail;
        }
        p++;
    } else {
        while (*p && !isspace((unsigned char)*p)) {
            *q++ = *p++;
        }
    }
    *q = '\0';
    *pp = p;
    *val = buf;
    return 0;

fail:
    free(buf);
    *pp = p;
    return -1;
}

static void try_help(struct hmp *h)
{
    const char *end = h->args_at;

    while (end > h->line && isspace((unsigned char)end[-1])) {
        end--;
    }
    fprintf(h->out, "Try \"help %.*s\" for more information\n",
            (int)(end - h->line), h->line);
}

/* An 's' argument. */
static int arg_string(struct hmp *h, const char **pp, char **val)
{
    if (get_str(h, pp, val) < 0) {
        fprintf(h->out, "%s: string expected\n", h->cmd->name);
        try_help(h);
        return -1;
    }
    return 0;
}

/* A 'b' argument: exactly "on" or "off". */
static int arg_bool(struct hmp *h, const char **pp, bool *val)
{
    const char *beg = skip_ws(*pp), *p = beg;

    while (isgraph((unsigned char)*p)) {
        p++;
    }
    if (p - beg == 2 && !memcmp(beg, "on", 2)) {
        *val = true;
    } else if (p - beg == 3 && !memcmp(beg, "off", 3)) {
        *val = false;
    } else {
        fputs("Expected 'on' or 'off'\n", h->out);
        try_help(h);
        return -1;
    }
    *pp = p;
    return 0;
}

static int arg_end(struct hmp *h, const char *p)
{
    if (*skip_ws(p)) {
        fprintf(h->out, "%s: extraneous characters at the end of line\n",
                h->cmd->name);
        try_help(h);
        return -1;
    }
    return 0;
}

static void report(struct hmp *h, struct netbe_error *err)
{
    if (err) {
        fprintf(h->out, "Error: %s\n", netbe_error_msg(err));
        netbe_error_free(err);
    }
}

/* ---- help ---- */

static const struct cmd top_cmds[];

static void print_params(struct hmp *h, const struct cmd *c)
{
    const struct netbe_backend_type *const *t;
    const char *sep = "";

    if (strcmp(c->name, "netdev_add")) {
        fputs(c->params, h->out);
        return;
    }
    /* QEMU lists its types here; ours are what this build has. */
    fputc('[', h->out);
    for (t = netbe_backend_types(); *t; t++) {
        if ((*t)->netdev_ok) {
            fprintf(h->out, "%s%s", sep, (*t)->name);
            sep = "|";
        }
    }
    fputs("],id=str[,prop=value][,...]", h->out);
}

static void help_dump_one(struct hmp *h, const struct cmd *c, char **args,
                          int nprefix)
{
    int i;

    for (i = 0; i < nprefix; i++) {
        fprintf(h->out, "%s ", args[i]);
    }
    fprintf(h->out, "%s ", c->name);
    print_params(h, c);
    fprintf(h->out, " -- %s\n", c->help);
}

static void help_dump(struct hmp *h, const struct cmd *table, char **args,
                      int nargs, int idx)
{
    const struct cmd *c;
    int i;

    if (idx >= nargs) {
        for (c = table; c->name; c++) {
            help_dump_one(h, c, args, idx);
        }
        return;
    }
    c = cmd_find(table, args[idx]);
    if (c && c->sub) {
        help_dump(h, c->sub, args, nargs, idx + 1);
    } else if (c) {
        help_dump_one(h, c, args, idx);
    } else {
        fputs("unknown command: '", h->out);
        for (i = 0; i <= idx; i++) {
            fprintf(h->out, "%s%s", args[i], i == idx ? "'\n" : " ");
        }
    }
}

static void help_cmd(struct hmp *h, const char *words)
{
    char *args[MAX_ARGS];
    int nargs = 0, i;
    const char *p = words;

    while (p && *(p = skip_ws(p))) {
        if (nargs == MAX_ARGS || get_str(h, &p, &args[nargs]) < 0) {
            goto out;
        }
        nargs++;
    }
    help_dump(h, top_cmds, args, nargs, 0);
out:
    for (i = 0; i < nargs; i++) {
        free(args[i]);
    }
}

/* ---- the commands ---- */

static void run_help(struct hmp *h, const char *p)
{
    p = skip_ws(p);
    help_cmd(h, *p ? p : NULL);
}

/* "info" alone lists its subcommands. */
static void run_info(struct hmp *h, const char *p)
{
    help_cmd(h, "info");
}

static void run_info_network(struct hmp *h, const char *p)
{
    if (arg_end(h, p) == 0) {
        netbe_info_network(h->ctx, h->out);
    }
}

/* netbe's own: every client's counters, drops by cause. */
static void run_info_stats(struct hmp *h, const char *p)
{
    if (arg_end(h, p) == 0) {
        netbe_info_stats(h->ctx, h->out);
    }
}

static void run_quit(struct hmp *h, const char *p)
{
    if (arg_end(h, p) == 0) {
        h->quit = true;
    }
}

static void run_set_link(struct hmp *h, const char *p)
{
    struct netbe_error *err = NULL;
    char *name;
    bool up;

    if (arg_string(h, &p, &name) < 0) {
        return;
    }
    if (arg_bool(h, &p, &up) == 0 && arg_end(h, p) == 0) {
        netbe_set_link(h->ctx, name, up, &err);
        report(h, err);
    }
    free(name);
}

static void run_netdev_del(struct hmp *h, const char *p)
{
    struct netbe_error *err = NULL;
    char *id;

    if (arg_string(h, &p, &id) < 0) {
        return;
    }
    if (arg_end(h, p) == 0) {
        netbe_netdev_del(h->ctx, id, &err);
        report(h, err);
    }
    free(id);
}

/*
 * QEMU parses the option string while it parses the arguments, and that
 * stage reports to the program's stderr, not to the monitor, before the
 * "Try help" line: the syntax, a bad id, a netdev id already taken.
 */
static struct netbe_opts *parse_netdev_opts(struct hmp *h, const char *str)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts = netbe_opts_parse_any(str, "type", &err);
    struct netbe_client *nc;
    const char *id;

    if (opts) {
        id = netbe_opts_get(opts, "id");
        if (id && !netbe_id_wellformed(id)) {
            /* with QEMU's hint, as its error_report_err() prints it */
            netbe_error_setg(&err, "Parameter 'id' expects an identifier\n"
                                   "Identifiers consist of letters, digits, "
                                   "'-', '.', '_', starting with a letter.");
        } else if (id && (nc = netbe_find_netdev(h->ctx, id)) &&
                   nc->is_netdev) {
            netbe_error_setg(&err, "Duplicate ID '%s' for netdev", id);
        }
    }
    if (err) {
        netbe_error_report("%s", netbe_error_msg(err));
        netbe_error_free(err);
        netbe_opts_free(opts);
        return NULL;
    }
    return opts;
}

static void run_netdev_add(struct hmp *h, const char *p)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts;
    char *str;

    p = skip_ws(p);
    if (!*p) {
        opts = netbe_opts_new();
    } else {
        if (get_str(h, &p, &str) < 0) {
            try_help(h);
            return;
        }
        opts = parse_netdev_opts(h, str);
        free(str);
        if (!opts) {
            try_help(h);
            return;
        }
    }
    if (arg_end(h, p) < 0) {
        netbe_opts_free(opts);
        return;
    }
    if (netbe_netdev_help(opts, h->out, &err) == 0) {
        netbe_net_client_init(h->ctx, opts, true, &err);
    }
    report(h, err);
    netbe_opts_free(opts);
}

/* QEMU's object_add: errors of every stage go to the monitor. */
static void run_object_add(struct hmp *h, const char *p)
{
    struct netbe_error *err = NULL;
    struct netbe_opts *opts;
    char *str;

    if (arg_string(h, &p, &str) < 0) {
        return;
    }
    if (arg_end(h, p) < 0) {
        free(str);
        return;
    }
    opts = netbe_opts_parse_any(str, NETBE_OBJECT_TYPE_KEY, &err);
    free(str);
    if (opts && netbe_object_help(opts, h->out, &err) == 0) {
        netbe_object_add_opts(h->ctx, opts, &err);
    }
    report(h, err);
    netbe_opts_free(opts);
}

static void run_object_del(struct hmp *h, const char *p)
{
    struct netbe_error *err = NULL;
    char *id;

    if (arg_string(h, &p, &id) < 0) {
        return;
    }
    if (arg_end(h, p) == 0) {
        netbe_object_del(h->ctx, id, &err);
        report(h, err);
    }
    free(id);
}

#ifdef NETBE_HAVE_SLIRP
/*
 * QEMU's "arg1:s,arg2:s?": with two arguments the first names the user
 * netdev, with one the first user netdev is meant.
 * Return: the netdev (or NULL, QEMU's message printed) and *@rule
 */
static struct netbe_client *user_args(struct hmp *h, const char *p, char **arg1,
                                      char **arg2)
{
    struct netbe_client *nc;

    *arg1 = *arg2 = NULL;
    if (arg_string(h, &p, arg1) < 0) {
        return NULL;
    }
    if (*skip_ws(p) && arg_string(h, &p, arg2) < 0) {
        return NULL;
    }
    if (arg_end(h, p) < 0) {
        return NULL;
    }
    nc = netbe_user_lookup(h->ctx, *arg2 ? *arg1 : NULL, h->out);
    if (nc && !*arg2) {
        *arg2 = *arg1;
        *arg1 = NULL;
    }
    return nc;
}

static void run_hostfwd_add(struct hmp *h, const char *p)
{
    struct netbe_error *err = NULL;
    struct netbe_client *nc;
    char *a1, *rule;

    nc = user_args(h, p, &a1, &rule);
    if (nc && netbe_user_hostfwd_add(nc, rule, &err) < 0) {
        /* QEMU's error_report_err(): the message alone */
        fprintf(h->out, "%s\n", netbe_error_msg(err));
        netbe_error_free(err);
    }
    free(a1);
    free(rule);
}

static void run_hostfwd_remove(struct hmp *h, const char *p)
{
    struct netbe_client *nc;
    char *a1, *src;
    int r;

    nc = user_args(h, p, &a1, &src);
    if (nc) {
        r = netbe_user_hostfwd_remove(nc, src);
        if (r < 0) {
            fputs("invalid format\n", h->out);
        } else {
            fprintf(h->out, "host forwarding rule for %s %s\n", src,
                    r ? "removed" : "not found");
        }
    }
    free(a1);
    free(src);
}

static void run_info_usernet(struct hmp *h, const char *p)
{
    if (arg_end(h, p) == 0) {
        netbe_user_info_usernet(h->ctx, h->out);
    }
}
#endif

static const struct cmd info_cmds[] = {
    {"network", "", "show the network state", run_info_network, NULL},
    {"stats", "", "show every client's frame, byte and drop counters",
     run_info_stats, NULL},
#ifdef NETBE_HAVE_SLIRP
    {"usernet", "", "show user network stack connection states",
     run_info_usernet, NULL},
#endif
    {NULL, NULL, NULL, NULL, NULL},
};

/* Sorted by name, as QEMU sorts its table for "help". */
static const struct cmd top_cmds[] = {
    {"help|?", "[cmd]", "show the help", run_help, NULL},
#ifdef NETBE_HAVE_SLIRP
    {"hostfwd_add",
     "[netdev_id] [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport",
     "redirect TCP or UDP connections from host to guest (requires -net "
     "user)",
     run_hostfwd_add, NULL},
    {"hostfwd_remove", "[netdev_id] [tcp|udp]:[hostaddr]:hostport",
     "remove host-to-guest TCP or UDP redirection", run_hostfwd_remove, NULL},
#endif
    {"info", "[subcommand]", "show various information about the system state",
     run_info, info_cmds},
    {"netdev_add", "", "add host network device", run_netdev_add, NULL},
    {"netdev_del", "id", "remove host network device", run_netdev_del, NULL},
    {"object_add", "[qom-type=]type,id=str[,prop=value][,...]",
     "create QOM object", run_object_add, NULL},
    {"object_del", "id", "destroy QOM object", run_object_del, NULL},
    {"quit|q", "", "quit netbe", run_quit, NULL},
    {"set_link", "name on|off", "change the link status of a network adapter",
     run_set_link, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/*
 * The command name ends at a space or '/' (QEMU's print format syntax).
 * Return: after the name, or NULL for an empty line; *@name malloc'ed.
 */
static const char *get_name(const char *p, char **name)
{
    const char *start;

    p = skip_ws(p);
    if (!*p) {
        return NULL;
    }
    start = p;
    while (*p && *p != '/' && !isspace((unsigned char)*p)) {
        p++;
    }
    *name = strndup(start, p - start);
    if (!*name) {
        abort();
    }
    return p;
}

bool netbe_monitor_run_command(struct netbe_ctx *ctx, const char *line,
                               FILE *out)
{
    struct hmp h = {.ctx = ctx, .out = out, .line = line};
    const struct cmd *table = top_cmds, *c = NULL;
    const char *p = line, *next;
    char *name;

    for (;;) {
        next = get_name(p, &name);
        if (!next) {
            break; /* an empty line, or "info" alone */
        }
        c = cmd_find(table, name);
        free(name);
        if (!c) {
            fprintf(out, "unknown command: '%.*s'\n", (int)(next - line), line);
            return false;
        }
        p = skip_ws(next);
        if (!c->sub || !*p) {
            break;
        }
        table = c->sub;
    }
    if (!c) {
        return false;
    }
    h.cmd = c;
    h.args_at = p;
    c->run(&h, p);
    return h.quit;
}

/* ---- transport ---- */

/*
 * While more output than this waits to be sent, the client's next line is
 * neither read nor run: a monitor holds at most this plus one command's
 * reply, however much its client types without reading, and the socket's
 * own buffers push back on the client.  A reply itself may be any size.
 */
#define OUT_HIGH (64 * 1024)
/* A drained output buffer larger than this goes back to malloc. */
#define OUT_KEEP (16 * 1024)

struct netbe_monitor {
    struct netbe_ctx *ctx;
    struct netbe_loop *loop;
    void (*quit)(void *opaque);
    void *opaque;
    char *name; /* "stdio" or "unix:PATH", for log lines */

    char *path; /* of the unix socket we made, unlinked at the end */
    int listen_fd;
    void *listen_watch;
    bool waiting; /* wait=on, and the first client has not come yet */

    /* the current client: stdio (two fds) or one socket */
    int in_fd, out_fd;
    void *in_watch, *out_watch;
    unsigned in_events, out_events; /* what each watch asks for now */
    bool connected, is_socket, out_pollable, quitting;
    bool in_eof; /* the socket client sent all it will send */

    /* read, not yet run: it waits there while the output is high */
    char rbuf[4096];
    size_t rbuf_off, rbuf_len;

    char in[NETBE_MONITOR_LINE_MAX + 1];
    size_t in_len;
    bool too_long; /* discarding the rest of an overlong line */

    /* out[out_off..out_len) is still to send, already as it goes out */
    char *out;
    size_t out_off, out_len, out_cap;
    bool out_blocked; /* the last write would have blocked */

    /* log lines the current client's commands caused (rate limit) */
    uint64_t nlogs;
    netbe_log_sink *saved_sink;
    void *saved_sink_opaque;
};

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

/*
 * Bytes that a terminal or whoever reads a log would act on: every C0
 * control but the newline, and DEL.  A client's input may hold any byte,
 * and the monitor repeats parts of it in replies and log lines.
 */
static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\n') || c == 0x7f;
}

/* @c as the 4 characters "\xNN" at @dst. */
static size_t put_hex(char *dst, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";

    dst[0] = '\\';
    dst[1] = 'x';
    dst[2] = hex[c >> 4];
    dst[3] = hex[c & 15];
    return 4;
}

static size_t out_pending(const struct netbe_monitor *mon)
{
    return mon->out_len - mon->out_off;
}

/* Nothing left to send: reset, and give a big buffer back. */
static void out_reset(struct netbe_monitor *mon)
{
    mon->out_off = mon->out_len = 0;
    mon->out_blocked = false;
    if (mon->out_cap > OUT_KEEP) {
        free(mon->out);
        mon->out = NULL;
        mon->out_cap = 0;
    }
}

static void client_close(struct netbe_monitor *mon);
static void fd_event(void *opaque, int fd, unsigned events);

static void set_events(struct netbe_monitor *mon, void *watch, unsigned *cur,
                       unsigned events)
{
    if (watch && *cur != events) {
        netbe_update_fd(mon->loop, watch, events);
        *cur = events;
    }
}

/*
 * Ask the loop only for what can be used now: input while little output
 * waits and no earlier input does, output while a write would block.
 */
static void watch_update(struct netbe_monitor *mon)
{
    bool want_in = mon->connected && !mon->quitting && !mon->in_eof &&
                   mon->rbuf_off == mon->rbuf_len &&
                   out_pending(mon) <= OUT_HIGH;
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

/*
 * Write what we can without blocking.  The socket is non-blocking; stdio
 * stays blocking (its file description may be shared with stderr or the
 * parent's terminal), so it gets small writes only after poll() said
 * there is room.
 */
static void out_flush(struct netbe_monitor *mon)
{
    ssize_t n;

    while (mon->connected && out_pending(mon)) {
        const char *p = mon->out + mon->out_off;
        size_t len = out_pending(mon);

        if (mon->is_socket) {
            n = send(mon->out_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            struct pollfd pfd = {.fd = mon->out_fd, .events = POLLOUT};

            if (mon->out_pollable) {
                if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
                    errno = EAGAIN;
                    n = -1;
                    goto check;
                }
                if (len > STDIO_CHUNK) {
                    len = STDIO_CHUNK;
                }
            }
            n = write(mon->out_fd, p, len);
        }
    check:
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            mon->out_blocked = true;
            return;
        }
        if (n <= 0) {
            /* the reader went away: output has nowhere to go */
            out_reset(mon);
            if (mon->is_socket) {
                client_close(mon);
            }
            return;
        }
        mon->out_off += n;
    }
    out_reset(mon);
}

/*
 * Queue @len bytes of @text, "\n" becoming "\r\n" as in QEMU's monitor
 * and a control byte (only an echo of the client's input holds one)
 * "\xNN".  Nothing is refused here: the queue stays bounded because no
 * input is run while it is above OUT_HIGH.
 */
static void out_put(struct netbe_monitor *mon, const char *text, size_t len)
{
    size_t i, need = 0;
    char *q;

    if (!mon->connected) {
        return;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = text[i];

        need += c == '\n' ? 2 : is_ctl(c) ? 4 : 1;
    }
    if (mon->out_len + need > mon->out_cap && mon->out_off) {
        memmove(mon->out, mon->out + mon->out_off, out_pending(mon));
        mon->out_len -= mon->out_off;
        mon->out_off = 0;
    }
    if (mon->out_len + need > mon->out_cap) {
        size_t cap = 2 * mon->out_cap;

        if (cap < mon->out_len + need) {
            cap = mon->out_len + need;
        }
        mon->out = netbe_realloc(mon->out, cap);
        mon->out_cap = cap;
    }
    q = mon->out + mon->out_len;
    for (i = 0; i < len; i++) {
        unsigned char c = text[i];

        if (c == '\n') {
            *q++ = '\r';
            *q++ = '\n';
        } else if (is_ctl(c)) {
            q += put_hex(q, c);
        } else {
            *q++ = c;
        }
    }
    mon->out_len = q - mon->out;
}

static void out_puts(struct netbe_monitor *mon, const char *s)
{
    out_put(mon, s, strlen(s));
}

/*
 * What a client's command logs: QEMU prints it (a netdev_add that does
 * not parse), but a client that repeats a bad line must not fill the log.
 * Of each client's messages only the 1st, 2nd, 4th, 8th... get through,
 * as the stream listener does with refusals; and as they quote the
 * client's bytes, control bytes are escaped.
 */
static void log_sink(enum netbe_log_level level, const char *msg, void *opaque)
{
    struct netbe_monitor *mon = opaque;
    char esc[4 * 1024];
    size_t n = 0;
    const char *p;

    mon->nlogs++;
    if (mon->nlogs & (mon->nlogs - 1)) {
        return;
    }
    for (p = msg; *p && n + 5 <= sizeof(esc); p++) {
        if (is_ctl(*p)) {
            n += put_hex(esc + n, *p);
        } else {
            esc[n++] = *p;
        }
    }
    esc[n] = '\0';
    netbe_log_set_sink(mon->saved_sink, mon->saved_sink_opaque);
    if (mon->nlogs > 2) {
        netbe_warn_report("monitor %s: %" PRIu64 " messages from this client "
                          "so far, only the 1st, 2nd, 4th, 8th... are shown",
                          mon->name, mon->nlogs);
    }
    netbe_log(level, "%s", esc);
    netbe_log_set_sink(log_sink, mon);
}

static void run_line(struct netbe_monitor *mon, const char *line)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    bool quit;

    if (!f) {
        abort();
    }
    netbe_log_get_sink(&mon->saved_sink, &mon->saved_sink_opaque);
    netbe_log_set_sink(log_sink, mon);
    quit = netbe_monitor_run_command(mon->ctx, line, f);
    netbe_log_set_sink(mon->saved_sink, mon->saved_sink_opaque);
    if (!quit) {
        fputs(PROMPT, f);
    }
    fclose(f);
    out_put(mon, buf, len);
    free(buf);
    if (quit) {
        /* QEMU prints no prompt after quit and reads nothing more */
        mon->quitting = true;
        if (mon->quit) {
            mon->quit(mon->opaque);
        }
    }
}

/*
 * Split what was read into lines and run them, until the output is high.
 * A line longer than the buffer is refused as a whole when its newline
 * comes; the connection stays.
 */
static void run_input(struct netbe_monitor *mon)
{
    while (mon->rbuf_off < mon->rbuf_len && mon->connected && !mon->quitting &&
           out_pending(mon) <= OUT_HIGH) {
        char c = mon->rbuf[mon->rbuf_off++];

        if (c != '\n') {
            if (mon->in_len == NETBE_MONITOR_LINE_MAX) {
                mon->too_long = true;
                mon->in_len = 0;
            }
            mon->in[mon->in_len++] = c;
            continue;
        }
        if (mon->in_len && mon->in[mon->in_len - 1] == '\r') {
            mon->in_len--;
        }
        mon->in[mon->in_len] = '\0';
        mon->in_len = 0;
        if (mon->too_long) {
            mon->too_long = false;
            out_puts(mon, "Error: command line too long (more than "
                          "4096 bytes)\n" PROMPT);
        } else {
            run_line(mon, mon->in);
        }
    }
}

/*
 * Send what the client takes, run what it typed while little output
 * waits, and once it has left close it when all it asked for is sent.
 */
static void pump(struct netbe_monitor *mon)
{
    for (;;) {
        out_flush(mon);
        if (!mon->connected) {
            return;
        }
        if (mon->quitting || mon->rbuf_off == mon->rbuf_len ||
            out_pending(mon) > OUT_HIGH) {
            break;
        }
        run_input(mon);
    }
    if (mon->in_eof && !out_pending(mon) && mon->rbuf_off == mon->rbuf_len) {
        client_close(mon);
        return;
    }
    watch_update(mon);
}

static void read_client(struct netbe_monitor *mon)
{
    ssize_t n;

    if (mon->rbuf_off < mon->rbuf_len || mon->in_eof) {
        return; /* the last read is not used up yet */
    }
    n = read(mon->in_fd, mon->rbuf, sizeof(mon->rbuf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
    }
    if (n <= 0 && !mon->is_socket) {
        /* QEMU keeps running when its stdin ends; so do we */
        netbe_unwatch_fd(mon->loop, mon->in_watch);
        mon->in_watch = NULL;
        return;
    }
    if (n < 0) {
        client_close(mon); /* reset: nobody is left to answer */
        return;
    }
    if (n == 0) {
        /* a client that shut its side down still gets its replies */
        mon->in_eof = true;
    } else {
        mon->rbuf_off = 0;
        mon->rbuf_len = n;
    }
    pump(mon);
}

static void fd_event(void *opaque, int fd, unsigned events)
{
    struct netbe_monitor *mon = opaque;

    if ((events & NETBE_EV_WRITE) && fd == mon->out_fd) {
        mon->out_blocked = false;
        pump(mon);
        if (!mon->connected) {
            return;
        }
    }
    if ((events & NETBE_EV_READ) && fd == mon->in_fd && !mon->quitting) {
        read_client(mon);
    }
}

static void client_open(struct netbe_monitor *mon)
{
    mon->connected = true;
    mon->in_eof = false;
    mon->rbuf_off = mon->rbuf_len = 0;
    mon->in_len = 0;
    mon->too_long = false;
    mon->nlogs = 0;
    out_reset(mon);
    out_puts(mon, GREETING PROMPT);
    pump(mon);
}

/* The socket client left: wait for the next one. */
static void client_close(struct netbe_monitor *mon)
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
    mon->rbuf_off = mon->rbuf_len = 0;
    out_reset(mon);
    if (mon->listen_watch && !mon->quitting) {
        netbe_update_fd(mon->loop, mon->listen_watch, NETBE_EV_READ);
    }
}

static void start_client(struct netbe_monitor *mon, int fd)
{
    mon->in_fd = mon->out_fd = fd;
    mon->in_watch = netbe_watch_fd(mon->loop, fd, NETBE_EV_READ, fd_event, mon);
    if (!mon->in_watch) {
        close(fd);
        mon->in_fd = mon->out_fd = -1;
        return;
    }
    mon->in_events = NETBE_EV_READ;
    mon->waiting = false;
    /* one client at a time; the others wait in the backlog */
    netbe_update_fd(mon->loop, mon->listen_watch, 0);
    client_open(mon);
}

static void accept_event(void *opaque, int fd, unsigned events)
{
    struct netbe_monitor *mon = opaque;
    int cfd;

    if (mon->connected || mon->quitting) {
        return;
    }
    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        return; /* EAGAIN, or a client that gave up already */
    }
    start_client(mon, cfd);
}

/* ---- the device string ---- */

static int parse_onoff(const char *key, const char *v, bool *out,
                       struct netbe_error **errp)
{
    if (netbe_parse_bool(v, out) < 0) {
        netbe_error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return -1;
    }
    return 0;
}

int netbe_monitor_parse_dev(const char *s, struct netbe_monitor_dev *d,
                            struct netbe_error **errp)
{
    char *buf = netbe_malloc0(strlen(s) + 1), *q = buf;
    const char *p = s;

    while (*p && !(*p == ',' && p[1] != ',')) {
        if (*p == ',') {
            p++;
        }
        *q++ = *p++;
    }
    d->addr = buf;
    d->server = false;
    d->wait = true;
    while (*p == ',') {
        const char *el = ++p;
        size_t len = strcspn(el, ",");
        char *item = strndup(el, len), *eq;
        int r = 0;

        if (!item) {
            abort();
        }
        p = el + len;
        eq = strchr(item, '=');
        if (!strcmp(item, "server")) {
            d->server = true;
        } else if (!strcmp(item, "nowait")) {
            d->wait = false;
        } else if (eq && !strncmp(item, "server=", 7)) {
            r = parse_onoff("server", eq + 1, &d->server, errp);
        } else if (eq && !strncmp(item, "wait=", 5)) {
            r = parse_onoff("wait", eq + 1, &d->wait, errp);
        } else {
            if (eq) {
                *eq = '\0';
            }
            netbe_error_setg(errp, "Invalid parameter '%s'", item);
            r = -1;
        }
        free(item);
        if (r < 0) {
            free(d->addr);
            d->addr = NULL;
            return -1;
        }
    }
    return 0;
}

int netbe_monitor_listen_unix(const char *path, char **abs_path,
                              struct netbe_error **errp)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (!*path) {
        netbe_error_setg(errp, "chardev: socket: no path given");
        return -1;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        netbe_error_setg(errp, "UNIX socket path '%s' is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "Failed to create Unix socket: %s",
                         strerror(errno));
        return -1;
    }
    /* QEMU replaces a stale socket file, and so do we */
    if (unlink(path) < 0 && errno != ENOENT) {
        netbe_error_setg(errp, "Failed to unlink socket %s: %s", path,
                         strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        netbe_error_setg(errp, "Failed to bind socket to %s: %s", path,
                         strerror(errno));
        close(fd);
        return -1;
    }
    /* absolute, to unlink the right file after a daemon's chdir("/") */
    if (path[0] == '/') {
        *abs_path = netbe_strdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);

        *abs_path = netbe_strdup_printf("%s/%s", cwd ? cwd : ".", path);
        free(cwd);
    }
    if (listen(fd, 1) < 0) {
        netbe_error_setg(errp, "Failed to listen on socket: %s",
                         strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * "unix:PATH[,...]" for the HMP monitor: a listening socket (its file
 * name kept in mon->path) or a clear error; @u is the parsed string.
 */
static int unix_open(struct netbe_monitor *mon, const char *s,
                     struct netbe_monitor_dev *u, struct netbe_error **errp)
{
    int fd;

    if (netbe_monitor_parse_dev(s, u, errp) < 0) {
        return -1;
    }
    if (!*u->addr) {
        netbe_error_setg(errp, "chardev: socket: no path given");
        return -1;
    }
    if (!u->server) {
        netbe_error_setg(errp, "only a listening monitor socket is "
                               "supported: add server=on");
        return -1;
    }
    fd = netbe_monitor_listen_unix(u->addr, &mon->path, errp);
    if (fd < 0) {
        return -1;
    }
    mon->listen_fd = fd;
    return 0;
}

struct netbe_monitor *netbe_monitor_new(struct netbe_ctx *ctx, const char *dev,
                                        void (*quit)(void *opaque),
                                        void *opaque, struct netbe_error **errp)
{
    struct netbe_monitor *mon = netbe_malloc0(sizeof(*mon));
    struct netbe_monitor_dev u = {0};

    mon->ctx = ctx;
    mon->loop = netbe_ctx_loop(ctx);
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
    if (strncmp(dev, "unix:", 5)) {
        netbe_error_setg(errp, "'%s' is not a valid char driver", dev);
        goto fail;
    }
    if (unix_open(mon, dev + 5, &u, errp) < 0) {
        goto fail;
    }
    mon->name = netbe_strdup_printf("unix:%s", mon->path);
    mon->is_socket = true;
    mon->listen_watch = netbe_watch_fd(mon->loop, mon->listen_fd, NETBE_EV_READ,
                                       accept_event, mon);
    if (!mon->listen_watch) {
        netbe_error_setg(errp, "cannot watch the monitor socket %s", u.addr);
        goto fail;
    }
    if (u.wait) {
        /*
         * QEMU blocks in accept() here.  We return, and the caller runs
         * the loop until netbe_monitor_waiting() says the client came,
         * so that a signal meanwhile is still heard.
         */
        fprintf(stderr,
                "netbe: info: netbe waiting for connection on: "
                "disconnected:unix:%s,server=on\n",
                mon->path);
        mon->waiting = true;
    }
    free(u.addr);
    return mon;

fail:
    free(u.addr);
    netbe_monitor_free(mon);
    return NULL;
}

void netbe_monitor_free(struct netbe_monitor *mon)
{
    if (!mon) {
        return;
    }
    if (mon->connected && !mon->is_socket && out_pending(mon)) {
        /* last words to stdio, blocking: nobody waits on the loop now */
        mon->out_pollable = false;
        out_flush(mon);
    }
    if (mon->is_socket) {
        client_close(mon);
    } else if (mon->loop) {
        netbe_unwatch_fd(mon->loop, mon->in_watch);
        netbe_unwatch_fd(mon->loop, mon->out_watch);
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
    free(mon->out);
    free(mon->name);
    free(mon);
}

bool netbe_monitor_waiting(const struct netbe_monitor *mon)
{
    return mon->waiting;
}
