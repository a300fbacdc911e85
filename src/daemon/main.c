/*
 * main.c - the netbe daemon: QEMU's command line for the network
 * (-netdev, -net, -nodefaults, -monitor, -pidfile, -daemonize), QEMU's
 * order of creating the clients, and a clean exit on SIGINT/SIGTERM or
 * the monitor's quit.
 *
 * A bad command line is one "netbe: -OPTION ARG: MESSAGE" line on stderr
 * and exit status 1, with nothing left behind: no clients, sockets or
 * pidfile.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/monitor.h"
#include "netbe/netbe.h"

/* How often the keep-alive timer fires; it only keeps the loop alive. */
#define KEEPALIVE_MS (3600 * 1000)

/* One -netdev or -net option, as typed, and what it parsed to. */
struct netopt {
    const char *opt; /* "-netdev" or "--netdev", for messages */
    const char *arg;
    struct netbe_opts *opts;
    bool modern; /* created before the others, as QEMU 7.2 does */
};

struct cmdline {
    struct netopt *netdevs, *nets, *devices;
    int n_netdevs, n_nets, n_devices;
    const char **monitors;
    int n_monitors;
    const char *pidfile;
    bool nodefaults, daemonize;
    int verbose;
};

struct daemon {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct netbe_monitor **monitors;
    int n_monitors;
    void *keepalive;
    char *pidfile; /* absolute, so that it can go after chdir("/") */
    int pidfile_fd;
    bool stop; /* a signal or quit came: exit as soon as we can */
};

static void usage(FILE *out)
{
    fputs("usage: netbe [options]\n"
          "\n"
          "Network options (QEMU syntax):\n"
          "-netdev TYPE,id=ID[,prop=value][,...]\n"
          "                create a network backend (repeatable);\n"
          "                '-netdev help' lists the types,\n"
          "                '-netdev TYPE,help' their options\n"
          "-net TYPE[,prop=value][,...]\n"
          "                legacy network client joined to hub 0 "
          "(repeatable);\n"
          "                '-net none' asks for no network\n"
          "-nodefaults     do not create the default network\n"
          "-device vhost-user-net,id=ID,path=PATH,netdev=ID|hubid=N[,...]\n"
          "                serve VMs as their vhost-user back-end "
          "(repeatable);\n"
          "                '-device help' lists the types,\n"
          "                '-device TYPE,help' their options\n"
          "\n"
          "Daemon options:\n"
          "-monitor DEV    HMP monitor on DEV: stdio, "
          "unix:PATH,server=on,wait=off\n"
          "                or none (repeatable)\n"
          "-pidfile FILE   write the process id to FILE\n"
          "-daemonize      detach once everything is set up\n"
          "-v              more messages (repeatable)\n"
          "-d              debug messages\n"
          "-h, -help       print this help and exit\n"
          "-version        print the version and exit\n"
          "\n"
          "Options may also be written with two dashes (--netdev).\n",
          out);
}

/* "netbe: MESSAGE" and exit 1; only before anything was created. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
    va_list ap;

    fputs("netbe: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void cmdline_free(struct cmdline *cl)
{
    int i;

    for (i = 0; i < cl->n_netdevs; i++) {
        netbe_opts_free(cl->netdevs[i].opts);
    }
    for (i = 0; i < cl->n_nets; i++) {
        netbe_opts_free(cl->nets[i].opts);
    }
    for (i = 0; i < cl->n_devices; i++) {
        netbe_opts_free(cl->devices[i].opts);
    }
    free(cl->netdevs);
    free(cl->nets);
    free(cl->devices);
    free(cl->monitors);
}

static void add_netopt(struct netopt **v, int *n, const char *opt,
                       const char *arg)
{
    *v = netbe_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n] = (struct netopt){.opt = opt, .arg = arg};
    ++*n;
}

enum {
    OPT_NETDEV,
    OPT_NET,
    OPT_DEVICE,
    OPT_NODEFAULTS,
    OPT_PIDFILE,
    OPT_DAEMONIZE,
    OPT_MONITOR,
    OPT_DEBUG,
    OPT_VERBOSE,
    OPT_HELP,
    OPT_VERSION
};

static const struct {
    const char *name;
    int id;
    bool arg;
} options[] = {
    {"netdev", OPT_NETDEV, true},
    {"net", OPT_NET, true},
    {"device", OPT_DEVICE, true},
    {"nodefaults", OPT_NODEFAULTS, false},
    {"pidfile", OPT_PIDFILE, true},
    {"daemonize", OPT_DAEMONIZE, false},
    {"monitor", OPT_MONITOR, true},
    {"d", OPT_DEBUG, false},
    {"v", OPT_VERBOSE, false},
    {"h", OPT_HELP, false},
    {"help", OPT_HELP, false},
    {"version", OPT_VERSION, false},
};

static void parse_argv(int argc, char **argv, struct cmdline *cl)
{
    int i;
    size_t k;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *name = a;
        int id = -1;
        bool arg = false;

        if (name[0] == '-' && name[1] == '-' && name[2]) {
            name++;
        }
        if (name[0] != '-') {
            die("%s: invalid option", a);
        }
        for (k = 0; k < NETBE_ARRAY_SIZE(options); k++) {
            if (!strcmp(name + 1, options[k].name)) {
                id = options[k].id;
                arg = options[k].arg;
            }
        }
        if (id < 0) {
            die("%s: invalid option", a);
        }
        if (arg && i + 1 >= argc) {
            die("%s: requires an argument", a);
        }
        switch (id) {
        case OPT_NETDEV:
            add_netopt(&cl->netdevs, &cl->n_netdevs, a, argv[++i]);
            break;
        case OPT_NET:
            add_netopt(&cl->nets, &cl->n_nets, a, argv[++i]);
            break;
        case OPT_DEVICE:
            add_netopt(&cl->devices, &cl->n_devices, a, argv[++i]);
            break;
        case OPT_NODEFAULTS:
            cl->nodefaults = true;
            break;
        case OPT_PIDFILE:
            cl->pidfile = argv[++i];
            break;
        case OPT_DAEMONIZE:
            cl->daemonize = true;
            break;
        case OPT_MONITOR:
            cl->monitors = netbe_realloc(cl->monitors,
                                         (cl->n_monitors + 1) * sizeof(char *));
            cl->monitors[cl->n_monitors++] = argv[++i];
            break;
        case OPT_DEBUG:
            cl->verbose = 2;
            break;
        case OPT_VERBOSE:
            cl->verbose++;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("netbe version %s\n", NETBE_VERSION);
            exit(0);
        }
    }
}

/*
 * What QEMU does while it reads its command line: parse each option
 * list, refuse a malformed or duplicate id ("for netdev", "for net": one
 * id space per option kind), and fully check stream/dgram and JSON
 * netdevs, which QEMU 7.2 parses the "modern" way, up front.
 */
static void parse_netopts(struct netopt *v, int n, bool is_netdev)
{
    struct netbe_error *err = NULL;
    int i, j;

    for (i = 0; i < n; i++) {
        struct netopt *o = &v[i];
        const char *id, *type;
        char *prog;

        /* warnings while parsing name the option, as QEMU's do */
        prog = netbe_strdup_printf("netbe: %s %s", o->opt, o->arg);
        netbe_log_set_prog(prog);
        o->opts = is_netdev ? netbe_opts_parse_any(o->arg, "type", &err)
                            : netbe_opts_parse(o->arg, "type", &err);
        netbe_log_set_prog("netbe");
        free(prog);
        if (!o->opts) {
            goto fail;
        }
        id = netbe_opts_get(o->opts, "id");
        type = netbe_opts_get(o->opts, "type");
        if (id && !netbe_id_wellformed(id)) {
            netbe_error_setg(&err, "Parameter 'id' expects an identifier");
            goto fail;
        }
        for (j = 0; id && j < i; j++) {
            const char *other = netbe_opts_get(v[j].opts, "id");

            if (other && !v[j].modern && !strcmp(other, id)) {
                netbe_error_setg(&err, "Duplicate ID '%s' for %s", id,
                                 is_netdev ? "netdev" : "net");
                goto fail;
            }
        }
        if (!is_netdev) {
            if (!type && netbe_opts_get(o->opts, "help")) {
                /* -net has no help; QEMU takes "help" as a type name */
                netbe_error_setg(&err, "Parameter 'type' does not accept value "
                                       "'help'");
                goto fail;
            }
            continue;
        }
        o->modern =
            o->arg[0] == '{' ||
            (type && (!strcmp(type, "stream") || !strcmp(type, "dgram")));
        if (o->modern && !netbe_opts_get(o->opts, "help")) {
            const struct netbe_backend_type *t = netbe_backend_find(type);

            if (!id) {
                netbe_error_setg(&err, "Parameter 'id' is missing");
                goto fail;
            }
            if (t && netbe_netdev_opts_check(t, o->opts, &err) < 0) {
                goto fail;
            }
        }
    }
    return;

fail:
    die("%s %s: %s", v[i].opt, v[i].arg, netbe_error_msg(err));
}

/*
 * -device: parsed up front as QEMU does ("driver" is the implied key);
 * "-device help" and "-device TYPE,help" print and exit.
 */
static void parse_devices(struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i, r;

    for (i = 0; i < cl->n_devices; i++) {
        struct netopt *o = &cl->devices[i];

        o->opts = netbe_opts_parse_any(o->arg, "driver", &err);
        if (!o->opts) {
            die("%s %s: %s", o->opt, o->arg, netbe_error_msg(err));
        }
        r = netbe_device_help(o->opts, stdout, &err);
        if (r < 0) {
            die("%s %s: %s", o->opt, o->arg, netbe_error_msg(err));
        }
        if (r > 0) {
            cmdline_free(cl);
            exit(0);
        }
    }
}

/* "-netdev help", "-netdev TYPE,help": print and exit before anything. */
static void netdev_help(struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i, r;

    for (i = 0; i < cl->n_netdevs; i++) {
        r = netbe_netdev_help(cl->netdevs[i].opts, stdout, &err);
        if (r < 0) {
            die("%s %s: %s", cl->netdevs[i].opt, cl->netdevs[i].arg,
                netbe_error_msg(err));
        }
        if (r > 0) {
            cmdline_free(cl);
            exit(0);
        }
    }
}

/*
 * Where the default network listens: $XDG_RUNTIME_DIR/netbe when set,
 * else /run/netbe for root and /tmp/netbe-UID for other users.
 */
static char *default_socket_dir(void)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");

    if (xdg && *xdg) {
        return netbe_strdup_printf("%s/netbe", xdg);
    }
    if (geteuid() == 0) {
        return netbe_strdup("/run/netbe");
    }
    return netbe_strdup_printf("/tmp/netbe-%u", (unsigned)geteuid());
}

/* A directory of ours, or a clear error: /tmp is shared. */
static int prepare_socket_dir(const char *dir, struct netbe_error **errp)
{
    struct stat st;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        netbe_error_setg(errp, "cannot create '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        netbe_error_setg(errp, "'%s' is not a directory owned by this user",
                         dir);
        return -1;
    }
    return 0;
}

/*
 * A socket file left by a netbe that died is removed; one that answers
 * belongs to a running netbe, which must not be robbed of it.
 */
static int claim_socket_path(const char *path, struct netbe_error **errp)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, r;

    if (access(path, F_OK) < 0) {
        return 0;
    }
    if (strlen(path) >= sizeof(sun.sun_path)) {
        netbe_error_setg(errp, "socket path '%s' is too long", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        netbe_error_setg(errp, "socket: %s", strerror(errno));
        return -1;
    }
    r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    close(fd);
    if (r == 0) {
        netbe_error_setg(errp,
                         "another netbe already serves the default network "
                         "at '%s' (use -nodefaults or stop it)",
                         path);
        return -1;
    }
    unlink(path);
    return 0;
}

/*
 * The network a plain "netbe" gets: a learning switch (hub 0) with a
 * unix socket at which any number of VMs connect with QEMU's stream
 * netdev.  Prints the QEMU options that join a VM to it.
 */
static int netbe_default_network(struct netbe_ctx *ctx,
                                 struct netbe_error **errp)
{
    char *dir = default_socket_dir();
    char *path = netbe_strdup_printf("%s/default.sock", dir);
    char *spec = NULL;
    uint8_t mac[3];
    int ret = -1;

    if (prepare_socket_dir(dir, errp) < 0 ||
        claim_socket_path(path, errp) < 0) {
        goto out;
    }
    spec = netbe_strdup_printf("stream,id=lan,server=on,addr.type=unix,"
                               "addr.path=%s,hubid=0,learning=on",
                               path);
    if (netbe_netdev_add_str(ctx, spec, true, errp) < 0) {
        goto out;
    }
    /* A suggestion only: every VM on one switch needs its own MAC. */
    if (getentropy(mac, sizeof(mac)) < 0) {
        memset(mac, 0x42, sizeof(mac));
    }
    printf("netbe: default network: a learning switch; VMs join at %s\n"
           "Join a QEMU VM with:\n"
           "  -netdev stream,id=net0,server=off,addr.type=unix,addr.path=%s"
           " -device virtio-net-pci,netdev=net0,mac=52:54:00:%02x:%02x:%02x\n"
           "(give every VM its own mac=)\n",
           path, path, mac[0], mac[1], mac[2]);
    fflush(stdout);
    ret = 0;
out:
    free(spec);
    free(path);
    free(dir);
    return ret;
}

static int create_clients(struct daemon *d, struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    struct netopt *o = NULL;
    int pass, i;

    /* QEMU 7.2: modern netdevs, then the other netdevs, then -net */
    for (pass = 0; pass < 3; pass++) {
        int n = pass < 2 ? cl->n_netdevs : cl->n_nets;

        for (i = 0; i < n; i++) {
            o = pass < 2 ? &cl->netdevs[i] : &cl->nets[i];
            if (pass < 2 && o->modern != (pass == 0)) {
                continue;
            }
            if (netbe_net_client_init(d->ctx, o->opts, pass < 2, &err) < 0) {
                goto fail;
            }
        }
    }
    /* QEMU's order: devices after the netdevs they are peered with */
    for (i = 0; i < cl->n_devices; i++) {
        o = &cl->devices[i];
        if (netbe_device_add(d->ctx, o->opts, &err) < 0) {
            goto fail;
        }
    }
    if (!cl->n_netdevs && !cl->n_nets && !cl->n_devices && !cl->nodefaults &&
        netbe_default_network(d->ctx, &err) < 0) {
        fprintf(stderr, "netbe: %s\n", netbe_error_msg(err));
        netbe_error_free(err);
        return -1;
    }
    return 0;

fail:
    fprintf(stderr, "netbe: %s %s: %s\n", o->opt, o->arg, netbe_error_msg(err));
    netbe_error_free(err);
    return -1;
}

static void quit_cb(void *opaque)
{
    struct daemon *d = opaque;

    d->stop = true;
    netbe_loop_stop(d->loop);
}

static void signal_cb(void *opaque, int signum)
{
    struct daemon *d = opaque;

    netbe_debug("terminating on signal %d", signum);
    d->stop = true;
    netbe_loop_stop(d->loop);
}

/* Nothing to do: an armed timer just keeps an idle loop running. */
static void keepalive_cb(void *opaque)
{
    struct daemon *d = opaque;

    d->loop->ops->timer_mod(d->loop->opaque, d->keepalive,
                            netbe_clock_ms(d->loop) + KEEPALIVE_MS);
}

/*
 * A wait=on monitor: go on only once its first client is there, as QEMU
 * does, but on the loop, so that SIGINT/SIGTERM (or "quit" on a monitor
 * made before) still end the daemon meanwhile.
 */
static void wait_monitor(struct daemon *d, struct netbe_monitor *mon)
{
    while (netbe_monitor_waiting(mon) && !d->stop) {
        netbe_loop_run_once(d->loop, 1);
    }
}

/* Return: 0, -1 on an error, 1 when told to stop while a monitor waited. */
static int create_monitors(struct daemon *d, struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i;

    d->monitors = netbe_malloc0((cl->n_monitors + 1) * sizeof(*d->monitors));
    for (i = 0; i < cl->n_monitors; i++) {
        const char *dev = cl->monitors[i];

        if (!strcmp(dev, "none")) {
            continue;
        }
        if (cl->daemonize && !strcmp(dev, "stdio")) {
            netbe_error_setg(&err, "cannot use stdio with -daemonize");
        } else {
            d->monitors[d->n_monitors] =
                netbe_monitor_new(d->ctx, dev, quit_cb, d, &err);
        }
        if (err) {
            fprintf(stderr, "netbe: -monitor %s: %s\n", dev,
                    netbe_error_msg(err));
            netbe_error_free(err);
            return -1;
        }
        wait_monitor(d, d->monitors[d->n_monitors++]);
        if (d->stop) {
            return 1;
        }
    }
    return 0;
}

/* QEMU's pidfile: locked while we run, so a second daemon cannot take it. */
static int write_pidfile(struct daemon *d, const char *path)
{
    char buf[32];
    int fd, len;

    if (path[0] == '/') {
        d->pidfile = netbe_strdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);

        d->pidfile = netbe_strdup_printf("%s/%s", cwd ? cwd : ".", path);
        free(cwd);
    }
    fd = open(d->pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "netbe: cannot create PID file: %s\n", strerror(errno));
        goto fail;
    }
    if (lockf(fd, F_TLOCK, 0) < 0) {
        fprintf(stderr,
                "netbe: cannot create PID file: Cannot lock pid file: %s\n",
                strerror(errno));
        close(fd);
        goto fail;
    }
    len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, buf, len) != len) {
        fprintf(stderr, "netbe: cannot create PID file: %s\n", strerror(errno));
        unlink(d->pidfile);
        close(fd);
        goto fail;
    }
    d->pidfile_fd = fd;
    return 0;

fail:
    free(d->pidfile);
    d->pidfile = NULL;
    return -1;
}

static void daemon_cleanup(struct daemon *d)
{
    int i;

    for (i = 0; i < d->n_monitors; i++) {
        netbe_monitor_free(d->monitors[i]);
    }
    free(d->monitors);
    d->monitors = NULL;
    d->n_monitors = 0;
    netbe_ctx_free(d->ctx);
    d->ctx = NULL;
    if (d->keepalive) {
        d->loop->ops->timer_free(d->loop->opaque, d->keepalive);
        d->keepalive = NULL;
    }
    if (d->pidfile) {
        unlink(d->pidfile);
        close(d->pidfile_fd);
        free(d->pidfile);
        d->pidfile = NULL;
    }
    netbe_loop_close(d->loop);
}

/*
 * Fork; the parent waits until the child says it is ready (one byte 0
 * on the pipe) and exits 0, or exits 1 when the child failed or died.
 * Return: in the child, the pipe's write end.
 */
static int daemonize_start(void)
{
    int fds[2];
    pid_t pid;
    char status;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        die("cannot daemonize: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        die("cannot daemonize: %s", strerror(errno));
    }
    if (pid > 0) {
        close(fds[1]);
        do {
            n = read(fds[0], &status, 1);
        } while (n < 0 && errno == EINTR);
        exit(n == 1 && status == 0 ? 0 : 1);
    }
    close(fds[0]);
    if (setsid() < 0) {
        die("cannot daemonize: %s", strerror(errno));
    }
    return fds[1];
}

/* Ready: detach from the terminal and let the parent go. */
static void daemonize_finish(int fd)
{
    int null = open("/dev/null", O_RDWR);
    char ok = 0;

    if (chdir("/") < 0) {
        netbe_debug("chdir /: %s", strerror(errno));
    }
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) {
            close(null);
        }
    }
    if (write(fd, &ok, 1) != 1) {
        netbe_debug("cannot tell the parent we are ready");
    }
    close(fd);
}

int main(int argc, char **argv)
{
    struct cmdline cl = {0};
    struct daemon d = {.pidfile_fd = -1};
    int ready_fd = -1, r;

    netbe_log_set_prog("netbe");
    signal(SIGPIPE, SIG_IGN);

    parse_argv(argc, argv, &cl);
    if (cl.verbose) {
        netbe_log_set_level(cl.verbose >= 2 ? NETBE_LOG_DEBUG : NETBE_LOG_INFO);
    }
    parse_netopts(cl.netdevs, cl.n_netdevs, true);
    parse_netopts(cl.nets, cl.n_nets, false);
    netdev_help(&cl);
    parse_devices(&cl);

    /* Fork before the loop exists: libuv does not survive a fork well. */
    if (cl.daemonize) {
        ready_fd = daemonize_start();
    }

    d.loop = netbe_loop_default();
    d.ctx = netbe_ctx_new(d.loop);
    netbe_loop_watch_signal(d.loop, SIGINT, signal_cb, &d);
    netbe_loop_watch_signal(d.loop, SIGTERM, signal_cb, &d);
    netbe_loop_watch_signal(d.loop, SIGHUP, signal_cb, &d);

    /*
     * QEMU's order: the pidfile, then the monitors' character devices,
     * then the netdevs; whatever fails, cleanup undoes the rest.
     */
    if (cl.pidfile && write_pidfile(&d, cl.pidfile) < 0) {
        r = -1;
    } else {
        r = create_monitors(&d, &cl);
    }
    if (r == 0 && create_clients(&d, &cl) < 0) {
        r = -1;
    }
    if (r != 0) {
        /* stopped while waiting for a monitor: a normal exit, as later */
        daemon_cleanup(&d);
        cmdline_free(&cl);
        return r < 0 ? 1 : 0;
    }
    netbe_check_clients(d.ctx);

    d.keepalive = d.loop->ops->timer_new(d.loop->opaque, keepalive_cb, &d);
    keepalive_cb(&d);

    if (cl.daemonize) {
        daemonize_finish(ready_fd);
    }
    netbe_loop_run(d.loop);

    daemon_cleanup(&d);
    cmdline_free(&cl);
    return 0;
}
