/*
 * passt.c - the "passt" netdev, as QEMU 10.1 has it: netbe starts the
 * host's passt(1) with the options the netdev's keys map to, carries its
 * frames over a socket pair (QEMU's stream wire format: 4-byte length,
 * then the frame) and stops it when the netdev goes.
 *
 * passt gets its end of the pair as fd 3 ("--fd 3"), as QEMU hands it.
 * Unlike QEMU, netbe runs it in the foreground ("--foreground") and keeps
 * the pid fork() gave: QEMU lets it daemonize and reads a pid file, which
 * passt cannot write when it was started as root (it drops to "nobody"
 * first).  When passt exits, it is started again (as QEMU does), at most
 * once a second.
 *
 * The connection is lpconn.c's, as the stream netdev's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "lpconn.h"
#include "netbe/log.h"
#include "netbe/net.h"
#include "netbe/util.h"
#include "sockutil.h"

#define RESTART_MS 1000
/* passt ends on SIGTERM at once; this long the loop waits for it */
#define STOP_WAIT_MS 50
/*
 * passt checks its options and the host's interfaces in a few ms and
 * exits when they do not suit it; this long it gets at start-up to do so,
 * where QEMU waits for it to go into the background.
 */
#define START_GRACE_MS 150
#define MAX_ARGS 128

struct passt {
    struct netbe_client nc; /* first: the core allocates info->size */
    struct netbe_lpconn conn;
    struct netbe_lpconn_warn warn_conn;
    struct netbe_warn_limit warn_restart;
    struct netbe_loop *loop;
    char **argv; /* NULL-terminated, malloc'ed strings */
    pid_t pid;   /* the running passt, or 0 */
    void *restart_timer;
};

static struct passt *to_passt(struct netbe_client *nc)
{
    return (struct passt *)nc;
}

/* ---- the passt process ---- */

/* Reap an exited passt. Return: whether none is left. */
static bool reap_passt(struct passt *s)
{
    int status;
    pid_t r;

    if (s->pid <= 0) {
        return true;
    }
    do {
        r = waitpid(s->pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == s->pid || r < 0) {
        s->pid = 0;
    }
    return s->pid == 0;
}

/*
 * SIGTERM and @wait_ms for passt to go (a passt that hangs must not stall
 * every VM on the loop), then SIGKILL; reaped.  @wait_ms 0: SIGKILL at
 * once (it was told to go before).
 */
static void stop_passt(struct passt *s, int wait_ms)
{
    if (reap_passt(s)) {
        return;
    }
    if (wait_ms) {
        kill(s->pid, SIGTERM);
        for (int i = 0; i < wait_ms / 10; i++) {
            if (reap_passt(s)) {
                return;
            }
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
    }
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
}

/*
 * Start passt on a new socket pair and carry frames on our end.  At
 * start-up (@grace) wait START_GRACE_MS for a passt that does not like
 * its options to exit, as QEMU waits for it; a restart does not block
 * the loop so: a passt that exits at once ends the connection and is
 * started again RESTART_MS later.
 * Return: 0, or -1 with @errp
 */
static int start_passt(struct passt *s, bool grace, struct netbe_error **errp)
{
    int sv[2], ep[2], status, err = 0;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        netbe_error_setg(errp, "socketpair() failed: %s", strerror(errno));
        return -1;
    }
    /* the child's exec failure, told through a pipe that exec closes */
    if (pipe2(ep, O_CLOEXEC) < 0) {
        netbe_error_setg(errp, "pipe() failed: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    snprintf(s->nc.info_str, sizeof(s->nc.info_str), "launching passt");
    pid = fork();
    if (pid < 0) {
        netbe_error_setg(errp, "Error creating daemon: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        close(ep[0]);
        close(ep[1]);
        return -1;
    }
    if (pid == 0) {
        /* passt's end as fd 3, the error pipe as fd 4, nothing else */
        int e = fcntl(ep[1], F_DUPFD_CLOEXEC, 5);

        if (e < 0 || dup2(sv[1], 3) < 0 || dup3(e, 4, O_CLOEXEC) < 0) {
            _exit(127);
        }
        netbe_close_fds_from(5);
        e = 4;
        signal(SIGPIPE, SIG_DFL);
        execvp(s->argv[0], s->argv);
        err = errno;
        if (write(e, &err, sizeof(err)) < 0) {
            /* nobody to tell */
        }
        _exit(127);
    }
    close(sv[1]);
    close(ep[1]);
    if (read(ep[0], &err, sizeof(err)) == (ssize_t)sizeof(err)) {
        close(ep[0]);
        close(sv[0]);
        waitpid(pid, &status, 0);
        netbe_error_setg(errp, "Error creating daemon: %s: %s", s->argv[0],
                         strerror(err));
        return -1;
    }
    close(ep[0]);
    /* a passt that does not like its options or the host exits at once */
    for (int i = 0; grace && i < START_GRACE_MS / 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            close(sv[0]);
            /* QEMU's words for an init that failed without saying why */
            netbe_error_setg(errp, "Device 'passt' could not be initialized");
            return -1;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (netbe_set_nonblock(sv[0]) < 0 ||
        netbe_lpconn_attach(&s->conn, sv[0], false) < 0) {
        netbe_error_setg(errp, "cannot watch the socket to passt");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    s->pid = pid;
    s->nc.link_down = false;
    snprintf(s->nc.info_str, sizeof(s->nc.info_str),
             "stream,connected to pid %d", (int)pid);
    return 0;
}

static void restart_cb(void *opaque)
{
    struct passt *s = opaque;
    struct netbe_error *err = NULL;

    /* the old one had a second to go after SIGTERM: no more */
    stop_passt(s, 0);
    if (start_passt(s, false, &err) < 0) {
        netbe_warn_limited(&s->warn_restart, "%s: %s", s->nc.name,
                           netbe_error_msg(err));
        netbe_error_free(err);
        s->loop->ops->timer_mod(s->loop->opaque, s->restart_timer,
                                netbe_clock_ms(s->loop) + RESTART_MS);
    }
}

/* ---- the connection ---- */

static void sent_cb(struct netbe_client *sender, ssize_t ret)
{
    netbe_lpconn_sent(&to_passt(sender)->conn);
}

/*
 * passt went (it exited or closed its end): the link is down until a new
 * passt runs, a second from now, as QEMU starts it again.
 */
static void conn_ended(struct netbe_lpconn *c, enum netbe_lpconn_end why,
                       int err, const char *msg)
{
    struct passt *s = to_passt(c->nc);

    if (why == NETBE_LPCONN_MALFORMED) {
        netbe_warn_limited(&s->warn_restart, "%s: %s", s->nc.name, msg);
    }
    /* on the loop: no waiting for it (restart_cb reaps what is left) */
    if (s->pid > 0 && !reap_passt(s)) {
        kill(s->pid, SIGTERM);
        reap_passt(s);
    }
    s->nc.link_down = true;
    snprintf(s->nc.info_str, sizeof(s->nc.info_str),
             "passt exited, restarting");
    if (s->nc.receive_disabled) {
        netbe_batch_begin(s->nc.ctx);
        netbe_flush_queued(&s->nc);
        netbe_batch_end(s->nc.ctx);
    }
    s->loop->ops->timer_mod(s->loop->opaque, s->restart_timer,
                            netbe_clock_ms(s->loop) + RESTART_MS);
}

static const struct netbe_lpconn_ops conn_ops = {
    .prefix = "passt ",
    .sent = sent_cb,
    .ended = conn_ended,
};

static ssize_t passt_receive_iov(struct netbe_client *nc,
                                 const struct iovec *iov, int iovcnt)
{
    return netbe_lpconn_receive(&to_passt(nc)->conn, iov, iovcnt);
}

static void passt_flush(struct netbe_client *nc)
{
    netbe_lpconn_flush(&to_passt(nc)->conn);
}

static void free_argv(char **argv)
{
    for (int i = 0; argv && argv[i]; i++) {
        free(argv[i]);
    }
    free(argv);
}

static void passt_cleanup(struct netbe_client *nc)
{
    struct passt *s = to_passt(nc);

    netbe_lpconn_destroy(&s->conn);
    stop_passt(s, STOP_WAIT_MS);
    if (s->restart_timer) {
        s->loop->ops->timer_free(s->loop->opaque, s->restart_timer);
        s->restart_timer = NULL;
    }
    free_argv(s->argv);
    s->argv = NULL;
}

static const struct netbe_client_info passt_info = {
    .type = NETBE_DRIVER_PASST,
    .size = sizeof(struct passt),
    .receive_iov = passt_receive_iov,
    .flush = passt_flush,
    .cleanup = passt_cleanup,
};

/* ---- the command line, as QEMU 10.1 maps the keys ---- */

struct argv_builder {
    char **v;
    int n;
};

static void arg_add(struct argv_builder *b, char *s)
{
    if (b->n < MAX_ARGS - 1) {
        b->v[b->n++] = s;
    } else {
        free(s);
    }
}

/* --OPT VALUE for a string key */
static const struct {
    const char *key, *opt;
} str_keys[] = {
    {"address", "--address"},
    {"netmask", "--netmask"},
    {"mac", "--mac-addr"},
    {"gateway", "--gateway"},
    {"interface", "--interface"},
    {"outbound", "--outbound"},
    {"outbound-if4", "--outbound-if4"},
    {"outbound-if6", "--outbound-if6"},
    {"dns", "--dns"},
    {"fqdn", "--fqdn"},
    {"map-host-loopback", "--map-host-loopback"},
    {"map-guest-addr", "--map-guest-addr"},
    {"dns-forward", "--dns-forward"},
    {"dns-host", "--dns-host"},
};

/* a bool key that adds OPT when it is off ("--no-tcp") or on */
static const struct {
    const char *key, *opt;
    bool when;
} bool_keys[] = {
    {"dhcp-dns", "--no-dhcp-dns", false},
    {"dhcp-search", "--no-dhcp-search", false},
    {"tcp", "--no-tcp", false},
    {"udp", "--no-udp", false},
    {"icmp", "--no-icmp", false},
    {"dhcp", "--no-dhcp", false},
    {"ndp", "--no-ndp", false},
    {"dhcpv6", "--no-dhcpv6", false},
    {"ra", "--no-ra", false},
    {"freebind", "--freebind", true},
    {"ipv4", "--ipv6-only", false},
    {"ipv6", "--ipv4-only", false},
};

/* Every value of a repeated @key joined by @sep, or NULL when none. */
static char *joined(const struct netbe_opts *opts, const char *key,
                    const char *sep)
{
    char *out = NULL;

    for (size_t i = 0; i < opts->n; i++) {
        char *next;

        if (strcmp(opts->v[i].key, key) != 0) {
            continue;
        }
        next = out ? netbe_strdup_printf("%s%s%s", out, sep, opts->v[i].value)
                   : netbe_strdup(opts->v[i].value);
        free(out);
        out = next;
    }
    return out;
}

static char **build_argv(const struct netbe_opts *opts)
{
    struct argv_builder b = {.v = netbe_malloc0(MAX_ARGS * sizeof(char *))};
    const char *path = netbe_opts_get(opts, "path");
    const char *mtu = netbe_opts_get(opts, "mtu");
    char *list;

    arg_add(&b, netbe_strdup(path ? path : "passt"));
    /* quiet unless asked otherwise, as QEMU */
    if (netbe_opts_get_bool(opts, "quiet", true)) {
        arg_add(&b, netbe_strdup("--quiet"));
    }
    if (mtu) {
        arg_add(&b, netbe_strdup("--mtu"));
        arg_add(&b, netbe_strdup(mtu));
    }
    for (size_t i = 0; i < NETBE_ARRAY_SIZE(str_keys); i++) {
        const char *v = netbe_opts_get(opts, str_keys[i].key);

        if (v) {
            arg_add(&b, netbe_strdup(str_keys[i].opt));
            arg_add(&b, netbe_strdup(v));
        }
    }
    for (size_t i = 0; i < NETBE_ARRAY_SIZE(bool_keys); i++) {
        if (netbe_opts_get(opts, bool_keys[i].key) &&
            netbe_opts_get_bool(opts, bool_keys[i].key, false) ==
                bool_keys[i].when) {
            arg_add(&b, netbe_strdup(bool_keys[i].opt));
        }
    }
    if ((list = joined(opts, "search", " "))) {
        arg_add(&b, netbe_strdup("--search"));
        arg_add(&b, list);
    }
    if ((list = joined(opts, "tcp-ports", ","))) {
        arg_add(&b, netbe_strdup("--tcp-ports"));
        arg_add(&b, list);
    }
    if ((list = joined(opts, "udp-ports", ","))) {
        arg_add(&b, netbe_strdup("--udp-ports"));
        arg_add(&b, list);
    }
    for (size_t i = 0; i < opts->n; i++) {
        if (!strcmp(opts->v[i].key, "param")) {
            arg_add(&b, netbe_strdup(opts->v[i].value));
        }
    }
    /* ours: in the foreground, so that its pid is fork()'s; the socket */
    arg_add(&b, netbe_strdup("--foreground"));
    arg_add(&b, netbe_strdup("--fd"));
    arg_add(&b, netbe_strdup("3"));
    b.v[b.n] = NULL;
    return b.v;
}

static int passt_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                      const char *name, struct netbe_client *peer,
                      struct netbe_error **errp)
{
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    struct passt *s;

    if (!loop) {
        netbe_error_setg(errp, "passt needs an event loop");
        return -1;
    }
    if (netbe_opts_get_bool(opts, "vhost-user", false)) {
        netbe_error_setg(errp, "passt: vhost-user=on is not available: "
                               "netbe is no vhost-user front-end; "
                               "its frames go over the stream socket");
        return -1;
    }
    s = to_passt(netbe_client_new(ctx, &passt_info, peer, "passt", name));
    s->loop = loop;
    s->nc.link_down = true;
    s->argv = build_argv(opts);
    s->restart_timer = loop->ops->timer_new(loop->opaque, restart_cb, s);
    netbe_lpconn_init(&s->conn, &s->nc, &conn_ops, &s->warn_conn, NULL);
    if (start_passt(s, true, errp) < 0) {
        netbe_client_del(&s->nc);
        return -1;
    }
    return 0;
}

static const struct netbe_opt_desc passt_opts[] = {
    {.name = "path",
     .type = NETBE_OPT_STRING,
     .help = "the passt program to run",
     .def = "passt, from PATH"},
    {.name = "quiet",
     .type = NETBE_OPT_BOOL,
     .help = "no informational messages from passt (--quiet)",
     .def = "on"},
    {.name = "vhost-user",
     .type = NETBE_OPT_BOOL,
     .help = "refused when on: frames go over the stream socket"},
    {.name = "mtu", .type = NETBE_OPT_INT, .help = "MTU to assign (--mtu)"},
    {.name = "address", .type = NETBE_OPT_STRING, .help = "--address"},
    {.name = "netmask", .type = NETBE_OPT_STRING, .help = "--netmask"},
    {.name = "mac", .type = NETBE_OPT_STRING, .help = "--mac-addr"},
    {.name = "gateway", .type = NETBE_OPT_STRING, .help = "--gateway"},
    {.name = "interface", .type = NETBE_OPT_STRING, .help = "--interface"},
    {.name = "outbound", .type = NETBE_OPT_STRING, .help = "--outbound"},
    {.name = "outbound-if4",
     .type = NETBE_OPT_STRING,
     .help = "--outbound-if4"},
    {.name = "outbound-if6",
     .type = NETBE_OPT_STRING,
     .help = "--outbound-if6"},
    {.name = "dns", .type = NETBE_OPT_STRING, .help = "--dns"},
    {.name = "search",
     .type = NETBE_OPT_STRING,
     .help = "a search domain (repeatable; --search)"},
    {.name = "fqdn", .type = NETBE_OPT_STRING, .help = "--fqdn"},
    {.name = "dhcp-dns", .type = NETBE_OPT_BOOL, .help = "off: --no-dhcp-dns"},
    {.name = "dhcp-search",
     .type = NETBE_OPT_BOOL,
     .help = "off: --no-dhcp-search"},
    {.name = "map-host-loopback",
     .type = NETBE_OPT_STRING,
     .help = "--map-host-loopback"},
    {.name = "map-guest-addr",
     .type = NETBE_OPT_STRING,
     .help = "--map-guest-addr"},
    {.name = "dns-forward", .type = NETBE_OPT_STRING, .help = "--dns-forward"},
    {.name = "dns-host", .type = NETBE_OPT_STRING, .help = "--dns-host"},
    {.name = "tcp", .type = NETBE_OPT_BOOL, .help = "off: --no-tcp"},
    {.name = "udp", .type = NETBE_OPT_BOOL, .help = "off: --no-udp"},
    {.name = "icmp", .type = NETBE_OPT_BOOL, .help = "off: --no-icmp"},
    {.name = "dhcp", .type = NETBE_OPT_BOOL, .help = "off: --no-dhcp"},
    {.name = "ndp", .type = NETBE_OPT_BOOL, .help = "off: --no-ndp"},
    {.name = "dhcpv6", .type = NETBE_OPT_BOOL, .help = "off: --no-dhcpv6"},
    {.name = "ra", .type = NETBE_OPT_BOOL, .help = "off: --no-ra"},
    {.name = "freebind", .type = NETBE_OPT_BOOL, .help = "on: --freebind"},
    {.name = "ipv4", .type = NETBE_OPT_BOOL, .help = "off: --ipv6-only"},
    {.name = "ipv6", .type = NETBE_OPT_BOOL, .help = "off: --ipv4-only"},
    {.name = "tcp-ports",
     .type = NETBE_OPT_STRING,
     .help = "TCP ports to forward (repeatable; --tcp-ports)"},
    {.name = "udp-ports",
     .type = NETBE_OPT_STRING,
     .help = "UDP ports to forward (repeatable; --udp-ports)"},
    {.name = "param",
     .type = NETBE_OPT_STRING,
     .help = "one more argument for passt (repeatable)"},
    {0},
};

static const struct netbe_schema passt_schema = {
    .type = "passt",
    .opts = passt_opts,
};

const struct netbe_backend_type netbe_backend_passt = {
    .name = "passt",
    .driver = NETBE_DRIVER_PASST,
    .schema = &passt_schema,
    .netdev_ok = true,
    .net_ok = true,
    .init = passt_init,
};
