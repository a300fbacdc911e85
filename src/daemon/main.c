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
#include "control/qmp.h"
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

/* One -qmp DEV, -qmp-pretty DEV or -mon chardev=ID,mode=... */
struct qmpopt {
    const char *opt, *arg;
    bool pretty;
};

struct cmdline {
    struct netopt *netdevs, *nets, *devices;
    int n_netdevs, n_nets, n_devices;
    const char **monitors;
    int n_monitors;
    const char **chardevs; /* -chardev, checked while parsing */
    struct netbe_opts **chardev_opts;
    bool *chardev_mon; /* served by a -mon's monitor, not made here */
    int n_chardevs;
    const char **mons; /* -mon, turned into monitors while parsing */
    int n_mons;
    char **mon_devs;      /* the monitors' DEV strings made for them */
    const char **objects; /* -object, checked while parsing */
    struct netbe_opts **object_opts;
    int n_objects;
    struct qmpopt *qmps; /* -qmp, -qmp-pretty, -mon */
    int n_qmps;
    const char *pidfile;
    bool nodefaults, daemonize;
    int verbose;
};

struct daemon {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct netbe_monitor **monitors;
    int n_monitors;
    struct netbe_qmp **qmps;
    int n_qmps;
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
          "-chardev socket,id=ID,path=PATH|host=HOST,port=PORT"
          "[,server=on|off]\n"
          "                [,wait=on|off][,reconnect=SECONDS]\n"
          "                a character device for the filters "
          "(repeatable);\n"
          "                '-chardev help' lists the backends\n"
          "-object TYPE,id=ID[,prop=value][,...]\n"
          "                a net filter (filter-dump, filter-buffer,\n"
          "                filter-mirror, filter-redirector) or netbe's\n"
          "                switch-dump (repeatable); '-object help' lists "
          "them\n"
          "-monitor DEV    HMP monitor on DEV: stdio, "
          "unix:PATH,server=on,wait=off\n"
          "                or none (repeatable)\n"
          "-qmp DEV        QMP monitor on DEV: stdio, "
          "unix:PATH,server=on,wait=off,\n"
          "                tcp:HOST:PORT,server=on,wait=off (repeatable)\n"
          "-qmp-pretty DEV as -qmp, replies pretty-printed\n"
          "-mon chardev=ID[,mode=readline|control][,pretty=on|off]\n"
          "                a monitor on the listening socket chardev ID\n"
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
    for (i = 0; i < cl->n_chardevs; i++) {
        netbe_opts_free(cl->chardev_opts[i]);
    }
    free(cl->chardevs);
    free(cl->chardev_opts);
    free(cl->chardev_mon);
    for (i = 0; cl->mon_devs && i < cl->n_mons; i++) {
        free(cl->mon_devs[i]);
    }
    free(cl->mon_devs);
    free(cl->mons);
    for (i = 0; i < cl->n_objects; i++) {
        netbe_opts_free(cl->object_opts[i]);
    }
    free(cl->objects);
    free(cl->object_opts);
    free(cl->qmps);
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
    OPT_CHARDEV,
    OPT_OBJECT,
    OPT_QMP,
    OPT_QMP_PRETTY,
    OPT_MON,
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
    {"chardev", OPT_CHARDEV, true},
    {"object", OPT_OBJECT, true},
    {"qmp", OPT_QMP, true},
    {"qmp-pretty", OPT_QMP_PRETTY, true},
    {"mon", OPT_MON, true},
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
        case OPT_CHARDEV:
            cl->chardevs = netbe_realloc(cl->chardevs,
                                         (cl->n_chardevs + 1) * sizeof(char *));
            cl->chardevs[cl->n_chardevs++] = argv[++i];
            break;
        case OPT_OBJECT:
            cl->objects = netbe_realloc(cl->objects,
                                        (cl->n_objects + 1) * sizeof(char *));
            cl->objects[cl->n_objects++] = argv[++i];
            break;
        case OPT_QMP:
        case OPT_QMP_PRETTY:
            cl->qmps =
                netbe_realloc(cl->qmps, (cl->n_qmps + 1) * sizeof(*cl->qmps));
            cl->qmps[cl->n_qmps++] = (struct qmpopt){
                .opt = a, .arg = argv[++i], .pretty = id == OPT_QMP_PRETTY};
            break;
        case OPT_MON:
            cl->mons =
                netbe_realloc(cl->mons, (cl->n_mons + 1) * sizeof(char *));
            cl->mons[cl->n_mons++] = argv[++i];
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
 * -chardev: parsed and checked up front (QEMU reports a bad one before
 * anything exists), "-chardev help" and "-chardev socket,help" answered.
 */
static void parse_chardevs(struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i, j, r;

    cl->chardev_opts =
        netbe_malloc0((cl->n_chardevs + 1) * sizeof(*cl->chardev_opts));
    for (i = 0; i < cl->n_chardevs; i++) {
        struct netbe_opts *o;
        const char *id;

        char *prog = netbe_strdup_printf("netbe: -chardev %s", cl->chardevs[i]);

        netbe_log_set_prog(prog);
        o = netbe_opts_parse(cl->chardevs[i], "backend", &err);
        netbe_log_set_prog("netbe");
        free(prog);
        if (!o) {
            goto fail;
        }
        cl->chardev_opts[i] = o;
        r = netbe_chardev_help(o, stdout, &err);
        if (r > 0) {
            cmdline_free(cl);
            exit(0);
        }
        if (r < 0 || netbe_chardev_check_opts(o, &err) < 0) {
            goto fail;
        }
        id = netbe_opts_get(o, "id");
        for (j = 0; j < i; j++) {
            if (!strcmp(netbe_opts_get(cl->chardev_opts[j], "id"), id)) {
                netbe_error_setg(&err, "Duplicate ID '%s' for chardev", id);
                goto fail;
            }
        }
    }
    return;

fail:
    die("-chardev %s: %s", cl->chardevs[i], netbe_error_msg(err));
}

static const struct netbe_opt_desc mon_opts[] = {
    {.name = "chardev", .type = NETBE_OPT_STRING, .required = true},
    {.name = "mode", .type = NETBE_OPT_STRING},
    {.name = "pretty", .type = NETBE_OPT_BOOL},
    {0},
};

static const struct netbe_schema mon_schema = {.type = "mon", .opts = mon_opts};

/*
 * -mon chardev=ID[,mode=readline|control][,pretty=on|off], as QEMU's: the
 * monitor takes over the socket chardev ID (a listening one: netbe's
 * monitors serve, they do not connect), so that chardev is not made on
 * its own.  Checked and turned into a -monitor or -qmp DEV while the
 * command line is read.
 */
static void parse_mons(struct cmdline *cl)
{
    cl->chardev_mon = netbe_malloc0((cl->n_chardevs + 1) * sizeof(bool));
    cl->mon_devs = netbe_malloc0((cl->n_mons + 1) * sizeof(char *));
    for (int i = 0; i < cl->n_mons; i++) {
        struct netbe_error *err = NULL;
        struct netbe_opts *o = netbe_opts_parse(cl->mons[i], "chardev", &err);
        const char *id, *mode, *path, *host, *port;
        struct netbe_opts *c = NULL;
        bool control;
        int k;

        if (!o || netbe_opts_check(o, &mon_schema, &err) < 0) {
            netbe_opts_free(o);
            die("-mon %s: %s", cl->mons[i], netbe_error_msg(err));
        }
        id = netbe_opts_get(o, "chardev");
        mode = netbe_opts_get(o, "mode");
        if (mode && strcmp(mode, "readline") && strcmp(mode, "control")) {
            netbe_error_setg(
                &err, "Parameter 'mode' does not accept value '%s'", mode);
        }
        for (k = 0; !err && k < cl->n_chardevs; k++) {
            if (!strcmp(netbe_opts_get(cl->chardev_opts[k], "id"), id)) {
                c = cl->chardev_opts[k];
                break;
            }
        }
        if (!err && !c) {
            netbe_error_setg(&err, "chardev \"%s\" not found", id);
        } else if (!err && (cl->chardev_mon[k] ||
                            strcmp(netbe_opts_get(c, "backend"), "socket") ||
                            !netbe_opts_get_bool(c, "server", false))) {
            netbe_error_setg(&err,
                             "chardev '%s': netbe's monitors serve on a "
                             "listening socket chardev (server=on) of their "
                             "own",
                             id);
        }
        control = mode && !strcmp(mode, "control");
        path = c ? netbe_opts_get(c, "path") : NULL;
        host = c ? netbe_opts_get(c, "host") : NULL;
        port = c ? netbe_opts_get(c, "port") : NULL;
        if (!err && !path && !control) {
            netbe_error_setg(&err,
                             "chardev '%s': a readline monitor serves "
                             "on a unix socket (path=) only",
                             id);
        }
        if (err) {
            netbe_opts_free(o);
            die("-mon %s: %s", cl->mons[i], netbe_error_msg(err));
        }
        cl->chardev_mon[k] = true;
        cl->mon_devs[i] =
            path ? netbe_strdup_printf(
                       "unix:%s,server=on,wait=%s", path,
                       netbe_opts_get_bool(c, "wait", true) ? "on" : "off")
                 : netbe_strdup_printf(
                       "tcp:%s:%s,server=on,wait=%s", host ? host : "",
                       port ? port : "",
                       netbe_opts_get_bool(c, "wait", true) ? "on" : "off");
        if (control) {
            cl->qmps =
                netbe_realloc(cl->qmps, (cl->n_qmps + 1) * sizeof(*cl->qmps));
            cl->qmps[cl->n_qmps++] = (struct qmpopt){
                .opt = "-mon",
                .arg = cl->mon_devs[i],
                .pretty = netbe_opts_get_bool(o, "pretty", false)};
        } else {
            cl->monitors = netbe_realloc(cl->monitors,
                                         (cl->n_monitors + 1) * sizeof(char *));
            cl->monitors[cl->n_monitors++] = cl->mon_devs[i];
        }
        netbe_opts_free(o);
    }
}

/*
 * Make the chardevs, in order; a wait=on server holds the rest back until
 * its first client came (as QEMU), on the loop so that a signal still
 * ends the daemon.
 * Return: 0, -1 on an error, 1 when told to stop while one waited.
 */
static int create_chardevs(struct daemon *d, struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i;

    for (i = 0; i < cl->n_chardevs; i++) {
        struct netbe_chardev *chr;
        char fname[512];

        if (cl->chardev_mon[i]) {
            continue; /* a monitor serves it (-mon) */
        }
        chr = netbe_chardev_add_opts(d->ctx, cl->chardev_opts[i], &err);

        if (!chr) {
            fprintf(stderr, "netbe: -chardev %s: %s\n", cl->chardevs[i],
                    netbe_error_msg(err));
            netbe_error_free(err);
            return -1;
        }
        if (netbe_chardev_waiting(chr)) {
            netbe_chardev_filename(chr, fname, sizeof(fname));
            fprintf(stderr,
                    "netbe: -chardev %s: info: netbe waiting for connection "
                    "on: %s\n",
                    cl->chardevs[i], fname);
        }
        while (netbe_chardev_waiting(chr) && !d->stop) {
            netbe_loop_run_once(d->loop, 1);
        }
        if (d->stop) {
            return 1;
        }
    }
    return 0;
}

/*
 * -object: QEMU checks the type, id, keys and their types while it reads
 * the command line (those messages name the option), and makes the
 * objects after the netdevs (those do not).
 */
static void parse_objects(struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i, j, r;

    cl->object_opts =
        netbe_malloc0((cl->n_objects + 1) * sizeof(*cl->object_opts));
    for (i = 0; i < cl->n_objects; i++) {
        struct netbe_opts *o;
        const char *id;

        o = netbe_opts_parse_any(cl->objects[i], NETBE_OBJECT_TYPE_KEY, &err);
        if (!o) {
            goto fail;
        }
        cl->object_opts[i] = o;
        r = netbe_object_help(o, stdout, &err);
        if (r > 0) {
            cmdline_free(cl);
            exit(0);
        }
        if (r < 0 || netbe_object_check_opts(o, &err) < 0) {
            goto fail;
        }
        id = netbe_opts_get(o, "id");
        for (j = 0; j < i; j++) {
            if (!strcmp(netbe_opts_get(cl->object_opts[j], "id"), id)) {
                netbe_error_setg(&err, "Duplicate ID '%s' for object", id);
                goto fail;
            }
        }
    }
    return;

fail:
    die("-object %s: %s", cl->objects[i], netbe_error_msg(err));
}

static int create_objects(struct daemon *d, struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i;

    for (i = 0; i < cl->n_objects; i++) {
        if (netbe_object_add_cmdline(d->ctx, cl->object_opts[i], &err) < 0) {
            fprintf(stderr, "netbe: %s\n", netbe_error_msg(err));
            netbe_error_free(err);
            return -1;
        }
    }
    return 0;
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

static void quit_cb(void *opaque);

/*
 * The network a plain "netbe" gets: a learning switch (hub 0) with a
 * unix socket at which any number of VMs connect with QEMU's stream
 * netdev, user-mode NAT on it (libslirp: DHCP, DNS, the host and the
 * outside world), and, unless -monitor asked for others, an HMP monitor
 * socket beside it for run-time port forwards.  Prints what a VM gets.
 */
static int netbe_default_network(struct daemon *d, struct cmdline *cl,
                                 struct netbe_error **errp)
{
    char *dir = default_socket_dir();
    char *path = netbe_strdup_printf("%s/default.sock", dir);
    char *mon = netbe_strdup_printf("%s/monitor.sock", dir);
    char *vu = netbe_strdup_printf("%s/vhost-user.sock", dir);
    char *spec = NULL, *mondev = NULL;
    bool nat = netbe_backend_find("user") != NULL, has_vu = false;
    uint8_t mac[3];
    int ret = -1;

    if (prepare_socket_dir(dir, errp) < 0 ||
        claim_socket_path(path, errp) < 0) {
        goto out;
    }
    spec = netbe_strdup_printf("stream,id=lan,server=on,addr.type=unix,"
                               "addr.path=%s,hubid=0,learning=on",
                               path);
    if (netbe_netdev_add_str(d->ctx, spec, true, errp) < 0) {
        goto out;
    }
    if (nat && (netbe_netdev_add_str(d->ctx, "user,id=nat", true, errp) < 0 ||
                netbe_netdev_add_str(d->ctx,
                                     "hubport,id=natport,hubid=0,"
                                     "netdev=nat",
                                     true, errp) < 0)) {
        goto out;
    }
    /* and the shared-memory way in: a vhost-user path on the same switch */
    if (claim_socket_path(vu, NULL) == 0) {
        struct netbe_opts *o = netbe_opts_new();
        struct netbe_error *verr = NULL;

        netbe_opts_set(o, "driver", "vhost-user-net");
        netbe_opts_set(o, "id", "vu");
        netbe_opts_set(o, "path", vu);
        netbe_opts_set(o, "hubid", "0");
        has_vu = netbe_device_add(d->ctx, o, &verr) == 0;
        if (!has_vu) {
            netbe_log(NETBE_LOG_WARNING,
                      "default network: no vhost-user "
                      "path: %s",
                      netbe_error_msg(verr));
        }
        netbe_error_free(verr);
        netbe_opts_free(o);
    }
    if (!cl->n_monitors && claim_socket_path(mon, NULL) == 0) {
        mondev = netbe_strdup_printf("unix:%s,server=on,wait=off", mon);
        d->monitors[d->n_monitors] =
            netbe_monitor_new(d->ctx, mondev, quit_cb, d, errp);
        if (!d->monitors[d->n_monitors]) {
            goto out;
        }
        d->n_monitors++;
    }
    /* A suggestion only: every VM on one switch needs its own MAC. */
    if (getentropy(mac, sizeof(mac)) < 0) {
        memset(mac, 0x42, sizeof(mac));
    }
    printf("netbe: default network: a learning switch%s; VMs join at %s\n"
           "Join a QEMU VM with:\n"
           "  -netdev stream,id=net0,server=off,addr.type=unix,addr.path=%s"
           " -device virtio-net-pci,netdev=net0,mac=52:54:00:%02x:%02x:%02x\n"
           "(give every VM its own mac=)\n",
           nat ? " with user-mode NAT" : "", path, path, mac[0], mac[1],
           mac[2]);
    if (nat) {
        printf("Each VM gets by DHCP an address in 10.0.2.0/24 from "
               "10.0.2.15 (16 leases),\n"
               "gateway 10.0.2.2 (the host, and NAT to the outside), "
               "DNS 10.0.2.3.\n");
    }
    if (has_vu) {
        printf("Or join at shared-memory speed over vhost-user (guest RAM "
               "shared with netbe):\n"
               "  -object memory-backend-memfd,id=mem,size=RAM,share=on"
               " -numa node,memdev=mem"
               " -chardev socket,id=vu0,path=%s"
               " -netdev vhost-user,id=net0,chardev=vu0"
               " -device virtio-net-pci,netdev=net0,mac=...\n"
               "(RAM as the VM's -m)\n",
               vu);
    }
    if (mondev) {
        printf("Forward a host port to a VM at run time on the monitor %s:\n"
               "  hostfwd_add nat tcp::2222-10.0.2.15:22\n",
               mon);
    }
    fflush(stdout);
    ret = 0;
out:
    free(spec);
    free(mondev);
    free(mon);
    free(vu);
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
        netbe_default_network(d, cl, &err) < 0) {
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

/*
 * The QMP monitors, after the HMP ones; a wait=on socket holds start-up
 * as -monitor's does.  Return: as create_monitors().
 */
static int create_qmp_monitors(struct daemon *d, struct cmdline *cl)
{
    struct netbe_error *err = NULL;
    int i;

    d->qmps = netbe_malloc0((cl->n_qmps + 1) * sizeof(*d->qmps));
    for (i = 0; i < cl->n_qmps; i++) {
        const struct qmpopt *q = &cl->qmps[i];
        struct netbe_qmp *mon;

        if (cl->daemonize && !strcmp(q->arg, "stdio")) {
            netbe_error_setg(&err, "cannot use stdio with -daemonize");
            mon = NULL;
        } else {
            mon = netbe_qmp_new(d->ctx, q->arg, q->pretty, quit_cb, d, &err);
        }
        if (!mon) {
            fprintf(stderr, "netbe: %s %s: %s\n", q->opt, q->arg,
                    netbe_error_msg(err));
            netbe_error_free(err);
            return -1;
        }
        d->qmps[d->n_qmps++] = mon;
        while (netbe_qmp_waiting(mon) && !d->stop) {
            netbe_loop_run_once(d->loop, 1);
        }
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
    for (i = 0; i < d->n_qmps; i++) {
        netbe_qmp_free(d->qmps[i]);
    }
    free(d->qmps);
    d->qmps = NULL;
    d->n_qmps = 0;
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
    parse_chardevs(&cl);
    parse_mons(&cl);
    parse_objects(&cl);
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
     * QEMU's order: the pidfile, then the character devices (-chardev,
     * then the monitors'), then the netdevs; whatever fails, cleanup
     * undoes the rest.
     */
    if (cl.pidfile && write_pidfile(&d, cl.pidfile) < 0) {
        r = -1;
    } else {
        r = create_chardevs(&d, &cl);
    }
    if (r == 0) {
        r = create_monitors(&d, &cl);
    }
    if (r == 0) {
        r = create_qmp_monitors(&d, &cl);
    }
    if (r == 0 && create_clients(&d, &cl) < 0) {
        r = -1;
    }
    if (r == 0 && create_objects(&d, &cl) < 0) {
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
