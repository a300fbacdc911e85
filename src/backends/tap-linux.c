/*
 * tap-linux.c - the "tap" and "bridge" netdevs on Linux, as QEMU 7.2's
 * net/tap.c, net/tap-linux.c and net/bridge (the helper protocol) do
 * them: the same keys, checks, messages, scripts and info strings.
 *
 * A tap is opened here (/dev/net/tun, TUNSETIFF), taken from the user
 * (fd=, fds=, as libvirt passes them) or from QEMU's setuid bridge helper,
 * which creates it, adds it to a bridge and sends it back over a
 * socketpair with SCM_RIGHTS.  queues=N opens N queues of one
 * IFF_MULTI_QUEUE device, one client each, all named by the netdev id.
 *
 * The vnet header: the device carries one (IFF_VNET_HDR) whenever the
 * kernel can, as QEMU's.  Until the peer says it uses vnet headers too
 * (the using_vnet_hdr hook), frames are plain on the graph: the header is
 * stripped on read and a zero one prepended on write, and the device's
 * offloads stay off, so that the kernel never hands us a GSO frame for a
 * peer that cannot take it.
 *
 * Packet path: the non-blocking fd on the netbe loop; up to READ_BATCH
 * frames per wakeup into one buffer allocated once, sent inside one
 * batch; a frame the peer's queue holds ("not now") stops reading once
 * the batch is read or the queue is at its limits, and reading resumes
 * when the sent-callbacks of all that waited came.  One writev() per received frame (a tap takes one
 * frame per write); EAGAIN is "not now" and the WRITE watch hands the
 * core's queue back.
 *
 * vhost-net is not offered: it needs the guest's memory, which only a NIC
 * in the same process has.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "netbe/log.h"
#include "netbe/net.h"
#include "netbe/util.h"
#include "sockutil.h"
#include "tap-linux.h"

/* Newer than the headers of Debian 12's libc; the kernel may have them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define PATH_NET_TUN "/dev/net/tun"
#define MAX_TAP_QUEUES 1024
/* frames read per wakeup: enough to amortise it, few enough to be fair */
#define READ_BATCH 64
/* virtio_net_hdr, the device's default header */
#define VNET_HDR_LEN 10
/* the longest vnet header: virtio_net_hdr_v1_hash */
#define VNET_HDR_MAX 20
/* pieces of a received frame written as they are; more are gathered */
#define WRITE_IOV_MAX 64

struct tap_warn {
    struct netbe_warn_limit read, write, offload;
};

struct tap {
    struct netbe_client nc; /* first: the core allocates the whole */
    struct netbe_loop *loop;
    int fd;
    void *watch;
    unsigned events;
    bool read_paused;   /* frames wait at the peer: stop reading */
    unsigned waiting;   /* ... this many: reading resumes once all went */
    bool dead;          /* the device went away: watch no more */
    bool write_blocked; /* a write said EAGAIN: watch for WRITE */
    bool using_vnet_hdr;
    bool has_ufo;
    int host_vnet_hdr_len; /* what the device puts in front: 0, 10, 12 */
    uint8_t *rbuf;         /* one frame and its header */
    uint8_t *wbuf;         /* a received frame of too many pieces */
    char *down_script;     /* run at cleanup with @down_script_arg */
    char *down_script_arg;
    struct tap_warn warn;
};

static struct tap *to_tap(struct netbe_client *nc)
{
    return (struct tap *)nc;
}

static const struct netbe_client_info tap_info;

/* ---- device ioctls, as QEMU's tap-linux.c ---- */

/* Return: 1 when @fd's device puts a vnet header in front, 0, or -1. */
static int tap_probe_vnet_hdr(int fd, struct netbe_error **errp)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) != 0) {
        netbe_error_setg(errp, "Unable to query TUNGETIFF on FD %d: %s", fd,
                         strerror(errno));
        return -1;
    }
    return !!(ifr.ifr_flags & IFF_VNET_HDR);
}

/* Whether the device takes header length @len (probed, then restored). */
static bool tap_probe_vnet_hdr_len(int fd, int len)
{
    int orig;

    if (ioctl(fd, TUNGETVNETHDRSZ, &orig) == -1) {
        return false;
    }
    if (ioctl(fd, TUNSETVNETHDRSZ, &len) == -1) {
        return false;
    }
    if (ioctl(fd, TUNSETVNETHDRSZ, &orig) == -1) {
        /* QEMU aborts: the length is now one the peer did not ask for */
        netbe_error_report("TUNSETVNETHDRSZ ioctl() failed: %s",
                           strerror(errno));
        return false;
    }
    return true;
}

static bool tap_probe_has_ufo(int fd)
{
    return ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_UFO) == 0;
}

/*
 * Turn on what @o asks that the kernel has; Return: what is on now (USO
 * and UFO are tried away on kernels without them, as QEMU does UFO).
 */
static struct netbe_offloads tap_fd_set_offload(struct tap *s,
                                                const struct netbe_offloads *o)
{
    struct netbe_offloads on = {0};
    unsigned offload = 0;

    /* a kernel without TUNSETOFFLOAD: nothing to turn off either */
    if (ioctl(s->fd, TUNSETOFFLOAD, 0) != 0 && errno == EINVAL) {
        return on;
    }
    if (o->csum) {
        on.csum = true;
        on.tso4 = o->tso4;
        on.tso6 = o->tso6;
        on.ecn = (o->tso4 || o->tso6) && o->ecn;
        on.ufo = o->ufo;
        /* Linux turns USO on for both families or for neither */
        on.uso4 = on.uso6 = o->uso4 && o->uso6;
    }
    offload |= on.csum ? TUN_F_CSUM : 0;
    offload |= on.tso4 ? TUN_F_TSO4 : 0;
    offload |= on.tso6 ? TUN_F_TSO6 : 0;
    offload |= on.ecn ? TUN_F_TSO_ECN : 0;
    offload |= on.ufo ? TUN_F_UFO : 0;
    offload |= on.uso4 ? TUN_F_USO4 | TUN_F_USO6 : 0;
    if (ioctl(s->fd, TUNSETOFFLOAD, offload) == 0) {
        return on;
    }
    offload &= ~(unsigned)(TUN_F_USO4 | TUN_F_USO6);
    on.uso4 = on.uso6 = false;
    if (ioctl(s->fd, TUNSETOFFLOAD, offload) == 0) {
        return on;
    }
    offload &= ~(unsigned)TUN_F_UFO;
    on.ufo = false;
    if (ioctl(s->fd, TUNSETOFFLOAD, offload) != 0) {
        netbe_warn_limited(&s->warn.offload, "TUNSETOFFLOAD ioctl() failed: %s",
                           strerror(errno));
        memset(&on, 0, sizeof(on));
    }
    return on;
}

static void tap_offloads_off(struct tap *s)
{
    static const struct netbe_offloads none;

    tap_fd_set_offload(s, &none);
    memset(&s->nc.offloads, 0, sizeof(s->nc.offloads));
}

/* ---- scripts and the bridge helper ---- */

static int wait_child(pid_t pid)
{
    int status = 0;

    while (waitpid(pid, &status, 0) != pid) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return status;
}

/*
 * QEMU's launch_script(): run @script with @ifname as its one argument,
 * the tap @fd left open, and wait for it.  Like QEMU it blocks until the
 * script is done: the interface is not usable before.
 */
static int launch_script(const char *script, const char *ifname, int fd,
                         struct netbe_error **errp)
{
    pid_t pid;
    int status;

    pid = fork();
    if (pid < 0) {
        netbe_error_setg(errp, "could not launch network script %s: %s", script,
                         strerror(errno));
        return -1;
    }
    if (pid == 0) {
        char *args[3] = {(char *)script, (char *)ifname, NULL};

        netbe_close_fds_except(fd);
        execv(script, args);
        _exit(1);
    }
    status = wait_child(pid);
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    netbe_error_setg(errp, "network script %s failed with status %d", script,
                     status);
    return -1;
}

/* One fd passed with SCM_RIGHTS, as qemu-bridge-helper sends it. */
static int recv_fd(int c)
{
    union {
        uint8_t buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    struct iovec iov;
    uint8_t req[1];
    ssize_t len;
    int fd;

    memset(&msg, 0, sizeof(msg));
    memset(&u, 0, sizeof(u));
    iov.iov_base = req;
    iov.iov_len = sizeof(req);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    do {
        len = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
    } while (len < 0 && errno == EINTR);
    if (len < 0) {
        return -1;
    }
    cmsg = CMSG_FIRSTHDR(&msg);
    if (len == 0 || !cmsg || cmsg->cmsg_level != SOL_SOCKET ||
        cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
        errno = len == 0 ? ECONNRESET : EBADMSG;
        return -1;
    }
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
    return fd;
}

/*
 * QEMU's net_bridge_run_helper(): run @helper ("--use-vnet --fd=N
 * --br=BR"; a helper with a blank in it is a shell command, given --br=
 * only when it has none) on one end of a socketpair, and receive the tap
 * it opened on the other.
 * Return: the fd, or -1 with QEMU's message
 */
static int run_bridge_helper(const char *helper, const char *bridge,
                             struct netbe_error **errp)
{
    char fd_buf[32], br_buf[IFNAMSIZ + 64];
    bool is_cmd = strchr(helper, ' ') || strchr(helper, '\t');
    int sv[2], fd, saved_errno, status;
    char *cmd = NULL;
    pid_t pid;

    if (socketpair(PF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
        netbe_error_setg(errp, "socketpair() failed: %s", strerror(errno));
        return -1;
    }
    /* everything the child needs is made here: it may not malloc */
    snprintf(fd_buf, sizeof(fd_buf), "--fd=%d", sv[1]);
    snprintf(br_buf, sizeof(br_buf), "--br=%s", bridge);
    if (is_cmd) {
        cmd = netbe_strdup_printf("%s --use-vnet %s %s", helper, fd_buf,
                                  strstr(helper, "--br=") ? "" : br_buf);
    }
    pid = fork();
    if (pid < 0) {
        netbe_error_setg(errp, "Can't fork bridge helper: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        free(cmd);
        return -1;
    }
    if (pid == 0) {
        netbe_close_fds_except(sv[1]);
        fcntl(sv[1], F_SETFD, 0);
        if (is_cmd) {
            char *args[4] = {"sh", "-c", cmd, NULL};

            execv("/bin/sh", args);
        } else {
            char *args[5] = {(char *)helper, "--use-vnet", fd_buf, br_buf,
                             NULL};

            execv(helper, args);
        }
        _exit(1);
    }
    free(cmd);
    close(sv[1]);
    fd = recv_fd(sv[0]);
    saved_errno = errno;
    close(sv[0]);
    status = wait_child(pid);
    /* QEMU 7.2 looks at the helper's status first */
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        netbe_error_setg(errp, "bridge helper failed");
        return -1;
    }
    if (fd < 0) {
        netbe_error_setg(errp, "failed to recv file descriptor: %s",
                         strerror(saved_errno));
        return -1;
    }
    return fd;
}

/*
 * QEMU's tap_open(): a tap named @ifname ("tap%d" when empty; the name
 * the kernel chose is written back), with a vnet header when *@vnet_hdr
 * and the kernel has them (an error when @vnet_hdr_required and it has
 * not), IFF_MULTI_QUEUE when @mq_required.
 * Return: the non-blocking fd, or -1
 */
static int tap_open(char *ifname, size_t ifname_size, int *vnet_hdr,
                    bool vnet_hdr_required, bool mq_required,
                    struct netbe_error **errp)
{
    int len = VNET_HDR_LEN;
    unsigned int features;
    struct ifreq ifr;
    int fd;

    do {
        fd = open(PATH_NET_TUN, O_RDWR | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        netbe_error_setg(errp, "could not open %s: %s", PATH_NET_TUN,
                         strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNGETFEATURES, &features) == -1) {
        netbe_warn_report("TUNGETFEATURES failed: %s", strerror(errno));
        features = 0;
    }
    if (features & IFF_ONE_QUEUE) {
        ifr.ifr_flags |= IFF_ONE_QUEUE;
    }
    if (*vnet_hdr) {
        *vnet_hdr = !!(features & IFF_VNET_HDR);
        if (*vnet_hdr) {
            ifr.ifr_flags |= IFF_VNET_HDR;
        }
        if (vnet_hdr_required && !*vnet_hdr) {
            netbe_error_setg(errp, "vnet_hdr=1 requested, but no kernel "
                                   "support for IFF_VNET_HDR available");
            close(fd);
            return -1;
        }
        /*
         * A persistent tap may keep the length another program set;
         * errors are ignored as QEMU does (old kernels have 10 only).
         */
        ioctl(fd, TUNSETVNETHDRSZ, &len);
    }
    if (mq_required) {
        if (!(features & IFF_MULTI_QUEUE)) {
            netbe_error_setg(errp, "multiqueue required, but no kernel "
                                   "support for IFF_MULTI_QUEUE available");
            close(fd);
            return -1;
        }
        ifr.ifr_flags |= IFF_MULTI_QUEUE;
    }
    /* QEMU cuts a long name to what the kernel holds */
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname[0] ? ifname : "tap%d");
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        if (ifname[0]) {
            netbe_error_setg(errp, "could not configure %s (%s): %s",
                             PATH_NET_TUN, ifr.ifr_name, strerror(errno));
        } else {
            netbe_error_setg(errp, "could not configure %s: %s", PATH_NET_TUN,
                             strerror(errno));
        }
        close(fd);
        return -1;
    }
    snprintf(ifname, ifname_size, "%s", ifr.ifr_name);
    netbe_set_nonblock(fd);
    return fd;
}

/* ---- the packet path ---- */

static void tap_fd_cb(void *opaque, int fd, unsigned events);

static void tap_update(struct tap *s)
{
    unsigned ev;

    if (!s->watch || s->dead) {
        return;
    }
    /*
     * Paused, we still want to hear that the device went away (a tap
     * whose interface was deleted reports an error and reads fail).
     */
    ev = s->read_paused ? NETBE_EV_HUP : NETBE_EV_READ;
    /* while the core holds frames for us, WRITE hands them back */
    if (s->write_blocked || s->nc.receive_disabled) {
        ev |= NETBE_EV_WRITE;
    }
    if (ev != s->events) {
        s->events = ev;
        netbe_update_fd(s->loop, s->watch, ev);
    }
}

/* Write one frame; Return: as receive(). */
static ssize_t tap_write(struct tap *s, const struct iovec *iov, int iovcnt,
                         size_t size)
{
    ssize_t n;

    if (s->fd < 0 || s->dead) {
        s->nc.stats.drop_error++;
        return (ssize_t)size;
    }
    do {
        n = writev(s->fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        return (ssize_t)size;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* the core queues it; the WRITE watch hands the queue back */
        s->write_blocked = true;
        tap_update(s);
        return 0;
    }
    /* EIO: the interface is down, which is no news worth a warning */
    if (errno != EIO) {
        netbe_warn_limited(&s->warn.write, "tap %s: write failed: %s",
                           s->nc.name, strerror(errno));
    }
    return -1; /* counted by the core as drop_error */
}

/*
 * Put @hdr_len bytes of zero header in front of the frame when the
 * device wants a header and the frame has none.
 */
static ssize_t tap_send_frame(struct tap *s, const struct iovec *iov,
                              int iovcnt, size_t hdr_len)
{
    static const uint8_t zero_hdr[VNET_HDR_MAX];
    struct iovec v[WRITE_IOV_MAX + 1];
    size_t size = netbe_iov_size(iov, iovcnt);
    int n = 0;

    if (hdr_len) {
        v[n].iov_base = (void *)zero_hdr;
        v[n].iov_len = hdr_len;
        n++;
    }
    if (iovcnt <= WRITE_IOV_MAX) {
        memcpy(&v[n], iov, (size_t)iovcnt * sizeof(*iov));
        n += iovcnt;
    } else {
        if (size > NETBE_NET_BUFSIZE) {
            s->nc.stats.drop_oversize++;
            return (ssize_t)size;
        }
        netbe_iov_to_buf(iov, iovcnt, 0, s->wbuf, size);
        v[n].iov_base = s->wbuf;
        v[n].iov_len = size;
        n++;
    }
    return tap_write(s, v, n, size);
}

static ssize_t tap_receive_iov(struct netbe_client *nc, const struct iovec *iov,
                               int iovcnt)
{
    struct tap *s = to_tap(nc);

    return tap_send_frame(s, iov, iovcnt,
                          s->using_vnet_hdr ? 0 : (size_t)s->host_vnet_hdr_len);
}

/* A raw frame never carries a header: the device always gets one. */
static ssize_t tap_receive_raw(struct netbe_client *nc, const uint8_t *buf,
                               size_t size)
{
    struct tap *s = to_tap(nc);
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = size};

    return tap_send_frame(s, &iov, 1, (size_t)s->host_vnet_hdr_len);
}

static void tap_sent(struct netbe_client *nc, ssize_t ret)
{
    struct tap *s = to_tap(nc);

    (void)ret;
    if (s->waiting) {
        s->waiting--;
    }
    if (s->read_paused && !s->waiting) {
        s->read_paused = false;
        tap_update(s);
    }
}

/* The device is gone or broken: stop watching it rather than spin. */
static void tap_read_failed(struct tap *s, int err, bool fatal)
{
    netbe_warn_limited(&s->warn.read, "tap %s: read failed: %s", s->nc.name,
                       strerror(err));
    if (fatal && s->watch) {
        s->dead = true;
        s->nc.link_down = true;
        netbe_unwatch_fd(s->loop, s->watch);
        s->watch = NULL;
        /* what the core held for us goes now, counted */
        netbe_flush_queued(&s->nc);
    }
}

static void tap_readable(struct tap *s, unsigned events)
{
    size_t hdr = s->using_vnet_hdr ? 0 : (size_t)s->host_vnet_hdr_len;
    size_t bufsize = NETBE_NET_BUFSIZE + VNET_HDR_MAX;
    int i;

    netbe_batch_begin(s->nc.ctx);
    for (i = 0; i < READ_BATCH && !s->dead; i++) {
        ssize_t n;

        /* told "not now": the rest of the batch while the queue has room */
        if (s->read_paused && !netbe_peer_queue_has_room(&s->nc)) {
            break;
        }
        n = read(s->fd, s->rbuf, bufsize);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                tap_read_failed(s, errno, (events & NETBE_EV_ERROR) != 0);
            }
            break;
        }
        if ((size_t)n <= hdr) {
            /* shorter than the header the device promised */
            s->nc.stats.drop_malformed++;
            continue;
        }
        if (netbe_send_packet_async(&s->nc, s->rbuf + hdr, (size_t)n - hdr,
                                    tap_sent) == 0) {
            s->read_paused = true;
            s->waiting++;
        }
    }
    netbe_batch_end(s->nc.ctx);
}

static void tap_writable(struct tap *s)
{
    s->write_blocked = false;
    netbe_batch_begin(s->nc.ctx);
    netbe_flush_queued(&s->nc);
    netbe_batch_end(s->nc.ctx);
}

static void tap_fd_cb(void *opaque, int fd, unsigned events)
{
    struct tap *s = opaque;

    (void)fd;
    if (events & NETBE_EV_WRITE) {
        tap_writable(s);
    }
    /*
     * Paused, an error is still read: the read fails and tells whether
     * the device is gone.
     */
    if (events & (NETBE_EV_READ | NETBE_EV_ERROR)) {
        if (!s->read_paused) {
            tap_readable(s, events);
        } else if (events & NETBE_EV_ERROR) {
            char c;

            if (read(s->fd, &c, 0) < 0 && errno != EAGAIN) {
                tap_read_failed(s, errno, true);
            }
        }
    }
    tap_update(s);
}

/* ---- vnet hooks, as QEMU's tap_* functions ---- */

static bool tap_has_ufo(struct netbe_client *nc)
{
    return to_tap(nc)->has_ufo;
}

static bool tap_has_vnet_hdr(struct netbe_client *nc)
{
    return to_tap(nc)->host_vnet_hdr_len != 0;
}

static bool tap_has_vnet_hdr_len(struct netbe_client *nc, int len)
{
    struct tap *s = to_tap(nc);

    return s->host_vnet_hdr_len && tap_probe_vnet_hdr_len(s->fd, len);
}

static void tap_using_vnet_hdr(struct netbe_client *nc, bool enable)
{
    struct tap *s = to_tap(nc);

    /* QEMU asserts; a device without headers cannot start using them */
    if (enable && !s->host_vnet_hdr_len) {
        netbe_warn_report("tap %s: vnet headers asked of a tap without them",
                          nc->name);
        return;
    }
    s->using_vnet_hdr = enable;
    nc->vnet_hdr_len = enable ? s->host_vnet_hdr_len : 0;
    if (!enable) {
        /* plain frames from now on: the kernel must segment for us */
        tap_offloads_off(s);
    }
}

static void tap_set_offload(struct netbe_client *nc,
                            const struct netbe_offloads *o)
{
    struct tap *s = to_tap(nc);

    if (s->fd < 0) {
        return;
    }
    /* a peer of plain frames can take no GSO frame, whatever it says */
    if (!s->using_vnet_hdr) {
        tap_offloads_off(s);
        return;
    }
    /* the same offloads both ways: what the device turned on */
    nc->offloads = tap_fd_set_offload(s, o);
}

static void tap_set_vnet_hdr_len(struct netbe_client *nc, int len)
{
    struct tap *s = to_tap(nc);

    if (len != VNET_HDR_LEN && len != 12 && len != 20) {
        netbe_warn_report("tap %s: vnet header length %d refused", nc->name,
                          len);
        nc->vnet_hdr_len = s->using_vnet_hdr ? s->host_vnet_hdr_len : 0;
        return;
    }
    if (ioctl(s->fd, TUNSETVNETHDRSZ, &len) == -1) {
        netbe_warn_report("TUNSETVNETHDRSZ ioctl() failed: %s",
                          strerror(errno));
        nc->vnet_hdr_len = s->using_vnet_hdr ? s->host_vnet_hdr_len : 0;
        return;
    }
    s->host_vnet_hdr_len = len;
    nc->vnet_hdr_len = s->using_vnet_hdr ? len : 0;
}

static bool is_tap(struct netbe_client *nc)
{
    return nc && nc->info == &tap_info;
}

static int tap_set_vnet_le(struct netbe_client *nc, bool is_le)
{
    int arg = is_le ? 1 : 0;

    return ioctl(to_tap(nc)->fd, TUNSETVNETLE, &arg) == 0 ? 0 : -errno;
}

static int tap_set_vnet_be(struct netbe_client *nc, bool is_be)
{
    int arg = is_be ? 1 : 0;

    return ioctl(to_tap(nc)->fd, TUNSETVNETBE, &arg) == 0 ? 0 : -errno;
}

int netbe_tap_fd(struct netbe_client *nc)
{
    return is_tap(nc) ? to_tap(nc)->fd : -1;
}

static void tap_cleanup(struct netbe_client *nc)
{
    struct tap *s = to_tap(nc);
    struct netbe_error *err = NULL;

    /* QEMU runs it with the device still there, for it to undo the setup */
    if (s->down_script) {
        if (launch_script(s->down_script, s->down_script_arg, s->fd, &err) <
            0) {
            netbe_error_report("%s", netbe_error_msg(err));
            netbe_error_free(err);
        }
    }
    netbe_unwatch_fd(s->loop, s->watch);
    s->watch = NULL;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    free(s->rbuf);
    free(s->wbuf);
    free(s->down_script);
    free(s->down_script_arg);
    s->rbuf = s->wbuf = NULL;
    s->down_script = s->down_script_arg = NULL;
}

static const struct netbe_client_info tap_info = {
    .type = NETBE_DRIVER_TAP,
    .size = sizeof(struct tap),
    .receive_iov = tap_receive_iov,
    .receive_raw = tap_receive_raw,
    .cleanup = tap_cleanup,
    .has_ufo = tap_has_ufo,
    .has_vnet_hdr = tap_has_vnet_hdr,
    .has_vnet_hdr_len = tap_has_vnet_hdr_len,
    .using_vnet_hdr = tap_using_vnet_hdr,
    .set_offload = tap_set_offload,
    .set_vnet_hdr_len = tap_set_vnet_hdr_len,
    .set_vnet_le = tap_set_vnet_le,
    .set_vnet_be = tap_set_vnet_be,
};

/*
 * QEMU's net_tap_fd_init(): a client on @fd (non-blocking; it is the
 * client's from now on, closed even on failure).
 * Return: the client, or NULL with @errp
 */
static struct tap *tap_fd_init(struct netbe_ctx *ctx, struct netbe_client *peer,
                               const char *model, const char *name, int fd,
                               int vnet_hdr, struct netbe_error **errp)
{
    struct netbe_loop *loop = netbe_ctx_loop(ctx);
    struct tap *s;

    if (!loop) {
        netbe_error_setg(errp, "tap needs an event loop");
        close(fd);
        return NULL;
    }
    s = to_tap(netbe_client_new(ctx, &tap_info, peer, model, name));
    s->loop = loop;
    s->fd = fd;
    s->host_vnet_hdr_len = vnet_hdr ? VNET_HDR_LEN : 0;
    s->has_ufo = tap_probe_has_ufo(fd);
    tap_offloads_off(s);
    /* a persistent tap may keep another program's header length */
    if (vnet_hdr && tap_probe_vnet_hdr_len(fd, s->host_vnet_hdr_len)) {
        ioctl(fd, TUNSETVNETHDRSZ, &s->host_vnet_hdr_len);
    }
    s->rbuf = netbe_malloc0(NETBE_NET_BUFSIZE + VNET_HDR_MAX);
    s->wbuf = netbe_malloc0(NETBE_NET_BUFSIZE);
    s->events = NETBE_EV_READ;
    s->watch = netbe_watch_fd(loop, fd, s->events, tap_fd_cb, s);
    if (!s->watch) {
        netbe_error_setg(errp, "cannot watch fd %d", fd);
        netbe_client_del(&s->nc);
        return NULL;
    }
    return s;
}

/* ---- options ---- */

struct tap_args {
    const char *ifname, *fd, *fds, *script, *downscript, *br, *helper;
    const char *vhostfd, *vhostfds;
    bool has_sndbuf, has_vnet_hdr, vnet_hdr, has_vhost, vhost, vhostforce;
    bool has_queues;
    uint64_t sndbuf;
    uint32_t queues;
};

static void read_tap_args(const struct netbe_opts *opts, struct tap_args *a)
{
    a->ifname = netbe_opts_get(opts, "ifname");
    a->fd = netbe_opts_get(opts, "fd");
    a->fds = netbe_opts_get(opts, "fds");
    a->script = netbe_opts_get(opts, "script");
    a->downscript = netbe_opts_get(opts, "downscript");
    a->br = netbe_opts_get(opts, "br");
    a->helper = netbe_opts_get(opts, "helper");
    a->vhostfd = netbe_opts_get(opts, "vhostfd");
    a->vhostfds = netbe_opts_get(opts, "vhostfds");
    a->has_sndbuf = netbe_opts_get(opts, "sndbuf") != NULL;
    a->sndbuf = netbe_opts_get_size(opts, "sndbuf", 0);
    a->has_vnet_hdr = netbe_opts_get(opts, "vnet_hdr") != NULL;
    a->vnet_hdr = netbe_opts_get_bool(opts, "vnet_hdr", true);
    a->has_vhost = netbe_opts_get(opts, "vhost") != NULL;
    a->vhost = netbe_opts_get_bool(opts, "vhost", false);
    a->vhostforce = netbe_opts_get_bool(opts, "vhostforce", false);
    a->has_queues = netbe_opts_get(opts, "queues") != NULL;
    a->queues = (uint32_t)netbe_opts_get_number(opts, "queues", 1);
}

/*
 * QEMU's tap_set_sndbuf(): 0 (the default) means as much as the kernel
 * allows; only a sndbuf= the user gave may fail.
 */
static int tap_set_sndbuf(int fd, const struct tap_args *a,
                          struct netbe_error **errp)
{
    int sndbuf = a->sndbuf > INT_MAX ? INT_MAX : (int)a->sndbuf;

    if (!sndbuf) {
        sndbuf = INT_MAX;
    }
    if (ioctl(fd, TUNSETSNDBUF, &sndbuf) == -1 && a->has_sndbuf) {
        netbe_error_setg(errp, "TUNSETSNDBUF ioctl failed: %s",
                         strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * QEMU's net_init_tap_one(): the client on @fd, its send buffer and info
 * string, and the down script to run when it goes.
 * Return: 0, or -1 with @errp (@fd closed either way on failure)
 */
static int tap_one(struct netbe_ctx *ctx, const struct tap_args *a,
                   struct netbe_client *peer, const char *model,
                   const char *name, const char *ifname, const char *script,
                   const char *downscript, int vnet_hdr, int fd,
                   struct netbe_error **errp)
{
    struct tap *s = tap_fd_init(ctx, peer, model, name, fd, vnet_hdr, errp);

    if (!s) {
        return -1;
    }
    if (tap_set_sndbuf(fd, a, errp) < 0) {
        netbe_client_del(&s->nc);
        return -1;
    }
    if (a->fd || a->fds) {
        snprintf(s->nc.info_str, sizeof(s->nc.info_str), "fd=%d", fd);
    } else if (a->helper) {
        snprintf(s->nc.info_str, sizeof(s->nc.info_str), "helper=%s",
                 a->helper);
    } else {
        snprintf(s->nc.info_str, sizeof(s->nc.info_str),
                 "ifname=%s,script=%s,downscript=%s", ifname, script,
                 downscript);
        if (downscript[0] && strcmp(downscript, "no") != 0) {
            s->down_script = netbe_strdup(downscript);
            s->down_script_arg = netbe_strdup(ifname);
        }
    }
    return 0;
}

/* QEMU's get_fds(): "3:4:5" into at most @max strings. */
static int split_fds(const char *str, char **out, int max)
{
    const char *p = str, *end = str + strlen(str);
    int n = 0;

    while (n < max && p < end) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);

        out[n] = netbe_malloc0(len + 1);
        memcpy(out[n], p, len);
        n++;
        if (!colon) {
            break;
        }
        p = colon + 1;
    }
    return n;
}

/*
 * The checks QEMU makes before it opens anything, in its order, and
 * netbe's own for vhost, which it cannot offer.
 */
static int check_tap_args(const struct tap_args *a, struct netbe_client *peer,
                          struct netbe_error **errp)
{
    /* -net joins a hub; a hub port has one queue */
    if (peer && (a->has_queues || a->fds || a->vhostfds)) {
        netbe_error_setg(errp, "Multiqueue tap cannot be used with hubs");
        return -1;
    }
    if (a->fd) {
        if (a->ifname || a->script || a->downscript || a->has_vnet_hdr ||
            a->helper || a->has_queues || a->fds || a->vhostfds) {
            netbe_error_setg(errp, "ifname=, script=, downscript=, vnet_hdr=, "
                                   "helper=, queues=, fds=, and vhostfds= "
                                   "are invalid with fd=");
            return -1;
        }
    } else if (a->fds) {
        if (a->ifname || a->script || a->downscript || a->has_vnet_hdr ||
            a->helper || a->has_queues || a->vhostfd) {
            netbe_error_setg(errp, "ifname=, script=, downscript=, vnet_hdr=, "
                                   "helper=, queues=, and vhostfd= "
                                   "are invalid with fds=");
            return -1;
        }
    } else if (a->helper) {
        if (a->ifname || a->script || a->downscript || a->has_vnet_hdr ||
            a->has_queues || a->vhostfds) {
            netbe_error_setg(errp, "ifname=, script=, downscript=, vnet_hdr=, "
                                   "queues=, and vhostfds= are invalid with "
                                   "helper=");
            return -1;
        }
    } else {
        if (a->vhostfds) {
            netbe_error_setg(errp,
                             "vhostfds= is invalid if fds= wasn't specified");
            return -1;
        }
        /* QEMU 7.2 asserts on queues=0 */
        if (a->queues < 1 || a->queues > MAX_TAP_QUEUES) {
            netbe_error_setg(errp,
                             "Parameter 'queues' expects a number of "
                             "queues from 1 to %d",
                             MAX_TAP_QUEUES);
            return -1;
        }
    }
    /* QEMU's condition for wanting vhost-net */
    if (a->has_vhost ? a->vhost
                     : (a->vhostfd || a->vhostfds || a->vhostforce)) {
        netbe_error_setg(errp,
                         "vhost-net is not available: it needs the guest's "
                         "memory, which only a NIC in the same process has; "
                         "use vhost=off (netbe carries the frames itself)");
        return -1;
    }
    if (a->vhostfd || a->vhostfds) {
        netbe_error_setg(errp, "vhostfd(s)= is not valid without vhost");
        return -1;
    }
    return 0;
}

static int init_from_fd(struct netbe_ctx *ctx, const struct tap_args *a,
                        struct netbe_client *peer, const char *name,
                        struct netbe_error **errp)
{
    int fd, vnet_hdr;

    fd = netbe_fd_param(name, a->fd, errp);
    if (fd < 0) {
        return -1;
    }
    vnet_hdr = tap_probe_vnet_hdr(fd, errp);
    if (vnet_hdr < 0) {
        close(fd);
        return -1;
    }
    return tap_one(ctx, a, peer, "tap", name, NULL, NULL, NULL, vnet_hdr, fd,
                   errp);
}

static int init_from_fds(struct netbe_ctx *ctx, const struct tap_args *a,
                         struct netbe_client *peer, const char *name,
                         struct netbe_error **errp)
{
    char **fds = netbe_malloc0(MAX_TAP_QUEUES * sizeof(*fds));
    int nfds, i, fd, vnet_hdr = 0, ret = -1;

    nfds = split_fds(a->fds, fds, MAX_TAP_QUEUES);
    for (i = 0; i < nfds; i++) {
        fd = netbe_fd_param(name, fds[i], errp);
        if (fd < 0) {
            goto out;
        }
        if (i == 0) {
            vnet_hdr = tap_probe_vnet_hdr(fd, errp);
            if (vnet_hdr < 0) {
                close(fd);
                goto out;
            }
        } else if (vnet_hdr != tap_probe_vnet_hdr(fd, NULL)) {
            netbe_error_setg(errp,
                             "vnet_hdr not consistent across given tap fds");
            close(fd);
            goto out;
        }
        if (tap_one(ctx, a, peer, "tap", name, NULL, NULL, NULL, vnet_hdr, fd,
                    errp) < 0) {
            goto out;
        }
    }
    ret = 0;
out:
    for (i = 0; i < nfds; i++) {
        free(fds[i]);
    }
    free(fds);
    return ret;
}

/* The fd the bridge helper sent, checked as QEMU checks it. */
static int helper_fd(const char *helper, const char *br, int *vnet_hdr,
                     struct netbe_error **errp)
{
    int fd = run_bridge_helper(helper ? helper : NETBE_TAP_DEFAULT_HELPER,
                               br ? br : NETBE_TAP_DEFAULT_BRIDGE, errp);

    if (fd < 0) {
        return -1;
    }
    if (netbe_set_nonblock(fd) < 0) {
        netbe_error_setg(errp, "Failed to set FD nonblocking: %s",
                         strerror(errno));
        close(fd);
        return -1;
    }
    *vnet_hdr = tap_probe_vnet_hdr(fd, errp);
    if (*vnet_hdr < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int init_opened(struct netbe_ctx *ctx, const struct tap_args *a,
                       struct netbe_client *peer, const char *name,
                       struct netbe_error **errp)
{
    const char *script = a->script ? a->script : NETBE_TAP_DEFAULT_SCRIPT;
    const char *downscript =
        a->downscript ? a->downscript : NETBE_TAP_DEFAULT_DOWNSCRIPT;
    bool mq = a->queues > 1;
    char ifname[IFNAMSIZ];
    uint32_t i;

    snprintf(ifname, sizeof(ifname), "%s", a->ifname ? a->ifname : "");
    for (i = 0; i < a->queues; i++) {
        const char *up = i >= 1 ? "no" : script;
        int vnet_hdr = a->has_vnet_hdr ? a->vnet_hdr : 1;
        int fd;

        fd = tap_open(ifname, sizeof(ifname), &vnet_hdr,
                      a->has_vnet_hdr && a->vnet_hdr, mq, errp);
        if (fd < 0) {
            return -1;
        }
        /* the later queues of a multiqueue tap join the first one's name */
        if (up[0] && strcmp(up, "no") != 0 &&
            launch_script(up, ifname, fd, errp) < 0) {
            close(fd);
            return -1;
        }
        if (tap_one(ctx, a, peer, "tap", name, ifname, up,
                    i >= 1 ? "no" : downscript, vnet_hdr, fd, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Whatever a failed init made goes (every queue is named @name). */
static void del_clients(struct netbe_ctx *ctx, const char *name)
{
    struct netbe_client *nc = netbe_find_netdev(ctx, name);

    if (nc && nc->info == &tap_info) {
        netbe_client_del(nc);
    }
}

static int tap_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                    const char *name, struct netbe_client *peer,
                    struct netbe_error **errp)
{
    struct tap_args a = {0};
    int fd, vnet_hdr, r;

    read_tap_args(opts, &a);
    if (check_tap_args(&a, peer, errp) < 0) {
        return -1;
    }
    if (a.fd) {
        r = init_from_fd(ctx, &a, peer, name, errp);
    } else if (a.fds) {
        r = init_from_fds(ctx, &a, peer, name, errp);
    } else if (a.helper) {
        fd = helper_fd(a.helper, a.br, &vnet_hdr, errp);
        r = fd < 0 ? -1
                   : tap_one(ctx, &a, peer, "bridge", name, NULL, NULL, NULL,
                             vnet_hdr, fd, errp);
    } else {
        r = init_opened(ctx, &a, peer, name, errp);
    }
    if (r < 0) {
        del_clients(ctx, name);
    }
    return r;
}

/* QEMU's net_init_bridge(): the helper's tap, a tap client in all but model */
static int bridge_init(struct netbe_ctx *ctx, const struct netbe_opts *opts,
                       const char *name, struct netbe_client *peer,
                       struct netbe_error **errp)
{
    const char *helper = netbe_opts_get(opts, "helper");
    const char *br = netbe_opts_get(opts, "br");
    struct tap *s;
    int fd, vnet_hdr;

    fd = helper_fd(helper, br, &vnet_hdr, errp);
    if (fd < 0) {
        return -1;
    }
    s = tap_fd_init(ctx, peer, "bridge", name, fd, vnet_hdr, errp);
    if (!s) {
        return -1;
    }
    /* QEMU 7.2 prints the helper it was given: "(null)" for the default */
    snprintf(s->nc.info_str, sizeof(s->nc.info_str), "helper=%s,br=%s",
             helper ? helper : "(null)", br ? br : NETBE_TAP_DEFAULT_BRIDGE);
    return 0;
}

static const struct netbe_opt_desc tap_opts[] = {
    {"ifname", NETBE_OPT_STRING, false,
     "interface name (the kernel picks tapN when absent)", NULL},
    {"fd", NETBE_OPT_STRING, false, "an open tap file descriptor", NULL},
    {"fds", NETBE_OPT_STRING, false,
     "open tap file descriptors of one multiqueue tap, fd1:fd2:...", NULL},
    {"script", NETBE_OPT_STRING, false,
     "run with the interface name once it is up, \"no\" for none",
     NETBE_TAP_DEFAULT_SCRIPT},
    {"downscript", NETBE_OPT_STRING, false,
     "run with the interface name when it goes, \"no\" for none",
     NETBE_TAP_DEFAULT_DOWNSCRIPT},
    {"br", NETBE_OPT_STRING, false, "the bridge helper= adds the tap to",
     NETBE_TAP_DEFAULT_BRIDGE},
    {"helper", NETBE_OPT_STRING, false,
     "a program that opens the tap and sends it back (qemu-bridge-helper)",
     NULL},
    {"sndbuf", NETBE_OPT_SIZE, false,
     "send buffer limit of the device, 0 for none", "0"},
    {"vnet_hdr", NETBE_OPT_BOOL, false,
     "virtio-net headers on the device (required when on)",
     "on when the kernel has them"},
    {"vhost", NETBE_OPT_BOOL, false,
     "vhost-net: not available in netbe (it needs the guest's memory)", "off"},
    {"vhostfd", NETBE_OPT_STRING, false, "not available in netbe", NULL},
    {"vhostfds", NETBE_OPT_STRING, false, "not available in netbe", NULL},
    {"vhostforce", NETBE_OPT_BOOL, false, "not available in netbe", "off"},
    {"queues", NETBE_OPT_UINT32, false,
     "queues of a multiqueue tap, one client each", "1"},
    {"poll-us", NETBE_OPT_UINT32, false,
     "vhost-net busy polling: accepted and ignored, as QEMU without vhost",
     "0"},
    {NULL},
};

static const struct netbe_schema tap_schema = {
    .type = "tap",
    .opts = tap_opts,
};

const struct netbe_backend_type netbe_backend_tap = {
    .name = "tap",
    .driver = NETBE_DRIVER_TAP,
    .schema = &tap_schema,
    .netdev_ok = true,
    .net_ok = true,
    .init = tap_init,
};

static const struct netbe_opt_desc bridge_opts[] = {
    {"br", NETBE_OPT_STRING, false, "the bridge to add the tap to",
     NETBE_TAP_DEFAULT_BRIDGE},
    {"helper", NETBE_OPT_STRING, false,
     "the program that opens the tap and sends it back",
     NETBE_TAP_DEFAULT_HELPER},
    {NULL},
};

static const struct netbe_schema bridge_schema = {
    .type = "bridge",
    .opts = bridge_opts,
};

const struct netbe_backend_type netbe_backend_bridge = {
    .name = "bridge",
    .driver = NETBE_DRIVER_BRIDGE,
    .schema = &bridge_schema,
    .netdev_ok = true,
    .net_ok = true,
    .init = bridge_init,
};
