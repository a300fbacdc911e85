#!/usr/bin/python3
"""NAT benchmark: TCP through user-mode NAT, netbe against QEMU 7.2, and
passt through netbe against passt through QEMU, with pasta as the ceiling.

Run as root from anywhere (it finds the repository from its own path):

    /usr/bin/python3 bench/nat.py            # about 4 minutes
    /usr/bin/python3 bench/nat.py --quick    # one short rep, to try it

It builds <repo>/build if needed (bench/run.py's build(): a release
build), then, for each forwarder below, in fresh network namespaces of
its own (named nbnat-*, deleted at the end, also on Ctrl-C):

  * the forwarder runs in namespace H (the "host") and opens tap nbtap0
    with vnet headers (tap,...,vnet_hdr=on,script=no,downscript=no),
    which then moves to namespace G (the "guest": a tap's fd keeps
    working after its device moved);
  * an iperf3 server listens on H's 127.0.0.1:5201 (the host's service)
    and one in G on the port the host's forward leads to;
  * guest→host: `iperf3 -c GATEWAY -p 5201` in G (the NAT's gateway
    address leads to the host's loopback); host→guest: `iperf3 -c
    127.0.0.1 -p FWD` in H (the NAT's port forward leads into G), each for
    --seconds (5 s), the client sending.

The forwarders:

  netbe user    build/netbe -netdev tap,id=t0,... -netdev user,id=u0,
                hostfwd=tcp:127.0.0.1:FWD-10.0.2.15:5201 -netdev hubport,
                id=p0,hubid=1,netdev=t0 -netdev hubport,id=p1,hubid=1,
                netdev=u0; G has 10.0.2.15/24, default route via 10.0.2.2;
  QEMU user     qemu-system-x86_64 -M none -nodefaults -display none
                -monitor none -serial none and the same -netdev arguments;
  netbe passt   build/netbe -netdev passt,id=u0,tcp-ports=FWD (netbe
                starts passt, joined over the stream protocol) and the
                same tap and hubports;
  QEMU stream   `passt --foreground --socket PATH -t FWD` started here,
                QEMU joined to it by -netdev stream,id=u0,server=off,
                addr.type=unix,addr.path=PATH, the same tap and hubports;
  pasta         `pasta --config-net --netns G -t FWD`: passt attaching G
                by a tap of its own, no other forwarder (the ceiling).

passt needs an external routable interface: for the last three, H has a
veth pair into a namespace W, 192.168.77.2/24 and a default route via
192.168.77.1.  passt gives the guest the host's address (G:
192.168.77.2/24, default route via 192.168.77.1, as passt's DHCP lease
says) and maps the gateway's address to the host, so the guest reaches
H's 127.0.0.1:5201 at 192.168.77.1:5201; passt's -t FWD forwards H's port
FWD to G's port FWD.  G's tap has MTU 1500 on the tap rows (--mtu);
pasta's own tap gets pasta's 65520.

It measures TCP goodput (what iperf3's receiver got, Gbit/s) and the
forwarder's CPU (utime+stime from /proc/PID/stat over the iperf3 run:
netbe or QEMU plus, on the passt rows, passt's) per GB of goodput; each
value is the median of --reps runs, the forwarders taking turns (their
order rotates every rep).  The forwarder (and its passt) is pinned to the
last CPU and the iperf3 ends to the others (--no-pin: no pinning).  It
checks that the data went through the forwarder: G's tap counters must
account for iperf3's bytes (not on pasta's host→guest path, which pasta
splices between loopback sockets without its tap; there pasta's CPU
time shows the data went through it), and for netbe the monitor's `info
stats` too.  It logs each CPU's load during every run.

It prints the date, the machine and a markdown table, and writes them to
bench/results-nat.md (--no-write: do not).  Options: --reps N (3),
--seconds S (5), --quick (1 rep of 3 s), --build-dir DIR, --no-pin,
--mtu N (1500), --only NAME[,NAME] (netbe-user, qemu-user, netbe-passt,
qemu-stream, pasta).
"""

import argparse
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (QEMU, QEMU_ARGS, REPO, build, cpu_seconds,  # noqa: E402
                 log, machine, median, qemu_version, stop)
from tap import (Monitor, busy, cpu_times, in_ns, link_exists,  # noqa: E402
                 link_stats, on_sigterm, sh, stale_namespaces, wait_for)

FWDS = ("netbe-user", "qemu-user", "netbe-passt", "qemu-stream", "pasta")
LABEL = {"netbe-user": "netbe user", "qemu-user": "QEMU user",
         "netbe-passt": "netbe passt", "qemu-stream": "QEMU stream→passt",
         "pasta": "pasta"}
DIRS = ("guest→host", "host→guest")
PREFIX = "nbnat-"
PORT = 5201        # the host's service, on H's 127.0.0.1
FWD = 5202         # the host's forwarded port (127.0.0.1:FWD in H)
TAP = "script=no,downscript=no,vnet_hdr=on"
TAPDEV = "nbtap0"
# -netdev user's defaults
USER_GUEST, USER_GW = "10.0.2.15", "10.0.2.2"
# the passt rows: H's address and its gateway in W
HOST_ADDR, WORLD_ADDR = "192.168.77.2", "192.168.77.1"


def passt_binary():
    return "passt"


def dev_stats(ns, ifname):
    """tap.py's link_stats plus the device's drop counters."""
    import json
    out = sh("ip", "-n", ns, "-j", "-s", "link", "show", ifname).stdout
    st = json.loads(out)[0]["stats64"]
    d = link_stats(ns, ifname)
    d.update(rx_dropped=st["rx"]["dropped"], tx_dropped=st["tx"]["dropped"])
    return d


class Setup:
    """One forwarder between H and G, torn down by close()."""

    def __init__(self, bench, fwd):
        self.bench = bench
        self.fwd = fwd
        self.tag = uuid.uuid4().hex[:6]
        self.names = []
        self.procs = []          # iperf3 servers
        self.fwd_procs = []      # forwarder processes we started
        self.pids = []           # pids whose CPU counts as the forwarder's
        self.mon = None
        self.tmp = tempfile.mkdtemp(prefix="netbe-nat-bench-")
        self.errlog = tempfile.TemporaryFile()
        self.user = fwd.endswith("-user")
        self.gw = USER_GW if self.user else WORLD_ADDR
        self.guest_addr = USER_GUEST if self.user else HOST_ADDR
        # hostfwd leads to the guest's 5201, passt's -t FWD to its FWD
        self.guest_port = PORT if self.user else FWD
        self.dev = "nbpv0" if fwd == "pasta" else TAPDEV

    def ns(self, role):
        name = f"{PREFIX}{role}-{self.tag}"
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def world(self):
        """H's veth into W, its default route via W (passt needs an
        external routable interface)."""
        w = self.ns("w")
        h = self.h
        sh("ip", "-n", h, "link", "add", "nbpv0", "type", "veth", "peer",
           "name", "nbpv1", "netns", w)
        sh("ip", "-n", h, "addr", "add", f"{HOST_ADDR}/24", "dev", "nbpv0")
        sh("ip", "-n", h, "link", "set", "nbpv0", "up")
        sh("ip", "-n", h, "route", "add", "default", "via", WORLD_ADDR)
        sh("ip", "-n", w, "addr", "add", f"{WORLD_ADDR}/24", "dev", "nbpv1")
        sh("ip", "-n", w, "link", "set", "nbpv1", "up")

    def popen_fwd(self, args):
        p = subprocess.Popen(in_ns(self.h, args), stdin=subprocess.DEVNULL,
                             stdout=self.errlog, stderr=self.errlog,
                             preexec_fn=self.bench.pin("fwd"))
        self.fwd_procs.append(p)
        self.pids.append(p.pid)
        return p

    def start(self):
        self.h, self.g = self.ns("h"), self.ns("g")
        if not self.user:
            self.world()
        if self.fwd == "pasta":
            self.popen_fwd(["pasta", "--config-net", "--foreground",
                            "--quiet", "--runas", "0:0", "-t", str(FWD),
                            "-T", "none", "-U", "none", "-u", "none",
                            "--netns", f"/run/netns/{self.g}"])
            wait_for(lambda: link_exists(self.g, self.dev) or
                     self.fwd_procs[0].poll() is not None,
                     what="pasta's tap")
            self.check_alive()
            # --config-net: the address and route appear after the link
            wait_for(lambda: "default" in sh(
                "ip", "-n", self.g, "route").stdout, what="pasta's route")
        else:
            if self.fwd == "qemu-stream":
                # passt drops to nobody before it makes its socket
                sdir = os.path.join(self.tmp, "passt")
                os.chmod(self.tmp, 0o711)
                os.mkdir(sdir)
                os.chown(sdir, 65534, 65534)
                path = os.path.join(sdir, "passt.sock")
                self.popen_fwd([passt_binary(), "--foreground", "--quiet",
                                "--socket", path, "-t", str(FWD)])
                wait_for(lambda: os.path.exists(path) or
                         self.fwd_procs[0].poll() is not None,
                         what="passt's socket")
                self.check_alive()
            self.popen_fwd(self.command())
            wait_for(lambda: link_exists(self.h, TAPDEV) or
                     self.fwd_procs[-1].poll() is not None,
                     what=f"tap {TAPDEV}")
            self.check_alive()
            if self.fwd.startswith("netbe"):
                path = os.path.join(self.tmp, "mon.sock")
                wait_for(lambda: os.path.exists(path), what="the monitor")
                self.mon = Monitor(path)
                if self.fwd == "netbe-passt":
                    self.pids.append(self.passt_pid())
            sh("ip", "-n", self.h, "link", "set", TAPDEV, "netns", self.g)
            sh("ip", "-n", self.g, "link", "set", TAPDEV, "mtu",
               str(self.bench.args.mtu))
            sh("ip", "-n", self.g, "addr", "add", f"{self.guest_addr}/24",
               "dev", TAPDEV)
            sh("ip", "-n", self.g, "link", "set", TAPDEV, "up")
            sh("ip", "-n", self.g, "route", "add", "default", "via", self.gw)
        self.server(self.h, "127.0.0.1", PORT)
        self.server(self.g, None, self.guest_port)

    def passt_pid(self):
        """The passt netbe started: `info network` names its pid."""
        def said():
            self.mon.sock.sendall(b"info network\n")
            return self.mon._until_prompt()
        out = ""
        end = time.monotonic() + 10
        while "connected to pid " not in out and time.monotonic() < end:
            out = said()
            time.sleep(0.05)
        if "connected to pid " not in out:
            raise RuntimeError(f"netbe's passt did not start: {out}")
        return int(out.split("connected to pid ")[1].split()[0])

    def server(self, ns, addr, port):
        srv = subprocess.Popen(
            in_ns(ns, ["iperf3", "-s", "-p", str(port), "--forceflush"]
                  + (["-B", addr] if addr else [])),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=self.bench.pin("ends"))
        self.procs.append(srv)
        said = b""
        while b"listening" not in said:
            line = srv.stdout.readline()
            if not line:
                raise RuntimeError(f"iperf3 -s said {said!r}")
            said += line

    def command(self):
        taps = ["-netdev", f"tap,id=t0,ifname={TAPDEV},{TAP}"]
        hub = ["-netdev", "hubport,id=p0,hubid=1,netdev=t0",
               "-netdev", "hubport,id=p1,hubid=1,netdev=u0"]
        if self.user:
            nat = ["-netdev", f"user,id=u0,hostfwd=tcp:127.0.0.1:{FWD}-"
                              f"{USER_GUEST}:{PORT}"]
        elif self.fwd == "netbe-passt":
            nat = ["-netdev", f"passt,id=u0,tcp-ports={FWD}"]
        else:
            nat = ["-netdev", "stream,id=u0,server=off,addr.type=unix,"
                              f"addr.path={self.tmp}/passt/passt.sock"]
        if self.fwd.startswith("qemu"):
            return [QEMU] + QEMU_ARGS + taps + nat + hub
        mon = ["-monitor", f"unix:{self.tmp}/mon.sock,server=on,wait=off"]
        return [self.bench.netbe, "-nodefaults"] + mon + taps + nat + hub

    def check_alive(self):
        for p in self.fwd_procs:
            if p.poll() is not None:
                self.errlog.seek(0)
                raise RuntimeError(
                    f"{self.fwd}: {p.args[4]} exited with status "
                    f"{p.returncode}:\n"
                    + self.errlog.read().decode(errors="replace"))

    def cpu(self):
        return sum(cpu_seconds(p) for p in self.pids)

    def iperf(self, to_guest, seconds):
        """One iperf3 run; returns goodput, CPU and what crossed."""
        import json
        dev0 = dev_stats(self.g, self.dev)
        st0 = self.mon.stats() if self.mon else None
        cpus0 = [cpu_seconds(p) for p in self.pids]
        sys0 = cpu_times()
        t0 = time.monotonic()
        if to_guest:
            ns, cmd = self.h, ["-c", "127.0.0.1", "-p", str(FWD)]
        else:
            ns, cmd = self.g, ["-c", self.gw, "-p", str(PORT)]
        r = subprocess.run(in_ns(ns, ["iperf3"] + cmd +
                                 ["-t", str(seconds), "-J"]),
                           capture_output=True, text=True,
                           timeout=seconds + 30,
                           preexec_fn=self.bench.pin("ends"))
        wall = time.monotonic() - t0
        cpus1 = [cpu_seconds(p) for p in self.pids]
        cpus_busy = busy(sys0, cpu_times())
        self.check_alive()
        try:
            res = json.loads(r.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"{self.fwd}: iperf3 -c failed: "
                               f"{r.stdout}{r.stderr}")
        if "error" in res:
            raise RuntimeError(f"{self.fwd}: iperf3 -c: {res['error']}")
        got = res["end"]["sum_received"]
        out = {"gbps": got["bits_per_second"] / 1e9, "bytes": got["bytes"],
               "cpu": sum(cpus1) - sum(cpus0),
               "cpu_split": [b - a for a, b in zip(cpus0, cpus1)],
               "wall": wall, "busy": cpus_busy,
               "retransmits": res["end"]["sum_sent"].get("retransmits", 0)}
        dev1 = dev_stats(self.g, self.dev)
        # What G's device received (host→guest) or sent (guest→host).
        k = "rx" if to_guest else "tx"
        frames = dev1[f"{k}_packets"] - dev0[f"{k}_packets"]
        nbytes = dev1[f"{k}_bytes"] - dev0[f"{k}_bytes"]
        out["dev_frames"], out["dev_bytes"] = frames, nbytes
        # frames G's kernel dropped at its device: tx_dropped is the
        # tap's queue towards the forwarder overflowing
        out["dev_drops"] = {k2: dev1[k2] - dev0[k2]
                            for k2 in ("rx_dropped", "tx_dropped")}
        spliced = self.fwd == "pasta" and to_guest
        out["spliced"] = spliced
        if not spliced and nbytes < got["bytes"]:
            raise RuntimeError(
                f"{self.fwd}: {self.dev} {k} {nbytes} bytes, iperf3 "
                f"{got['bytes']}: the data did not cross the forwarder")
        if spliced and out["cpu"] <= 0:
            raise RuntimeError("pasta used no CPU: the data did not cross it")
        if self.mon:
            st1 = self.mon.stats()
            # t0's client writes into the tap what it receives from its
            # hub port (rx), and sends to it what it reads (tx).
            d = {k2: st1["t0"][k2] - st0["t0"][k2] for k2 in st1["t0"]}
            key = "rx_bytes" if to_guest else "tx_bytes"
            if d[key] < got["bytes"]:
                raise RuntimeError(f"{self.fwd}: info stats shows {d[key]} "
                                   f"bytes {key} at t0, iperf3 "
                                   f"{got['bytes']}")
            seg = sum(st1[n].get("segmented", 0) - st0[n].get("segmented", 0)
                      for n in st1)
            drops = sum(st1[n].get(k2, 0) - st0[n].get(k2, 0) for n in st1
                        for k2 in ("queue_full", "malformed", "error",
                                   "oversize"))
            fk = "rx_frames" if to_guest else "tx_frames"
            u = {k2: st1["u0"][k2] - st0["u0"][k2] for k2 in st1["u0"]}
            out.update(nb_frames=d[fk], nb_bytes=d[key], segmented=seg,
                       drops=drops,
                       # frames the NAT side sent (host→guest) or got
                       u_frames=u["tx_frames" if to_guest else "rx_frames"],
                       u_bytes=u["tx_bytes" if to_guest else "rx_bytes"])
        return out

    def close(self):
        if self.mon:
            self.mon.close()
        for p in self.procs:
            stop(p)
        for p in reversed(self.fwd_procs):
            stop(p)
        for n in self.names:
            sh("ip", "netns", "del", n, check=False)
        self.errlog.close()
        for name in ("mon.sock", "passt/passt.sock", "passt"):
            try:
                p = os.path.join(self.tmp, name)
                (os.rmdir if os.path.isdir(p) else os.unlink)(p)
            except FileNotFoundError:
                pass
        os.rmdir(self.tmp)


class Bench:
    def __init__(self, args):
        self.args = args
        self.netbe = os.path.join(args.build_dir, "netbe")
        cpus = sorted(os.sched_getaffinity(0))
        self.cpus = cpus if args.pin and len(cpus) >= 2 else None

    def pin(self, role):
        """A preexec_fn pinning the forwarder to the last CPU, the iperf3
        ends to the others (None: no pinning)."""
        if not self.cpus:
            return None
        cpus = {self.cpus[-1]} if role == "fwd" else set(self.cpus[:-1])
        return lambda: os.sched_setaffinity(0, cpus)

    def run(self, fwd):
        """Both directions through a fresh forwarder: guest→host first
        (so that passt has seen the guest before it forwards to it)."""
        s = Setup(self, fwd)
        try:
            s.start()
            out = []
            for to_guest in (False, True):
                try:
                    out.append(s.iperf(to_guest, self.args.seconds))
                except RuntimeError as e:
                    # A path that fails is a result too: the table says so.
                    log(f"{LABEL[fwd]} {DIRS[to_guest]}: FAILED: {e}")
                    out.append(None)
            return out
        finally:
            s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--mtu", type=int, default=1500)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--only", help="comma-separated: " + ",".join(FWDS))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds = 1, 3
    args.build_dir = os.path.abspath(args.build_dir)
    fwds = FWDS
    if args.only:
        fwds = tuple(f for f in FWDS if f in args.only.split(","))
    if os.geteuid() != 0:
        raise SystemExit("bench/nat.py: run as root (network namespaces)")
    for tool in ("iperf3", QEMU, "passt", "pasta"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            raise SystemExit(f"bench/nat.py: {tool} is missing")
    # SIGTERM as Ctrl-C: the finally blocks tear the namespaces down.
    signal.signal(signal.SIGTERM, on_sigterm)

    build(args.build_dir)
    stale_namespaces(PREFIX)
    b = Bench(args)
    started = time.monotonic()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    runs = {f: [] for f in fwds}
    for rep in range(args.reps):
        order = fwds[rep % len(fwds):] + fwds[:rep % len(fwds)]
        for f in order:
            r = b.run(f)
            runs[f].append(r)
            for d, x in zip(DIRS, r):
                if x is None:
                    continue
                extra = ""
                if len(x["cpu_split"]) > 1:
                    extra += " (" + " + ".join(
                        f"{c:.2f}" for c in x["cpu_split"]) + ")"
                if "nb_frames" in x:
                    extra += (
                        f", netbe's tap client {x['nb_frames']} frames of "
                        f"{x['nb_bytes'] / max(x['nb_frames'], 1):.0f} B avg, "
                        f"its NAT side {x['u_frames']} frames of "
                        f"{x['u_bytes'] / max(x['u_frames'], 1):.0f} B avg, "
                        f"segmented={x['segmented']}, drops={x['drops']}")
                dev = ("device spliced around (pasta's loopback path), "
                       if x["spliced"] else "")
                log(f"rep {rep + 1} {LABEL[f]} {d}: {x['gbps']:.2f} Gbit/s, "
                    f"cpu {x['cpu']:.2f} s over {x['wall']:.1f} s, " + dev +
                    f"guest device {x['dev_frames']} frames of "
                    f"{x['dev_bytes'] / max(x['dev_frames'], 1):.0f} B avg, "
                    f"retransmits {x['retransmits']}, its drops "
                    f"rx {x['dev_drops']['rx_dropped']} tx "
                    f"{x['dev_drops']['tx_dropped']}, CPUs busy "
                    + " ".join(f"{c}:{v:.0f}%" for c, v in x["busy"].items())
                    + extra)

    def ok(f, i):
        """The runs of f that completed direction i."""
        return [r[i] for r in runs.get(f, []) if r[i] is not None]

    def failed(f, i):
        return sum(r[i] is None for r in runs.get(f, []))

    def med(f, i, key):
        return median([x[key] for x in ok(f, i)])

    def cpu_gb(f, i):
        return median([x["cpu"] / (x["bytes"] / 1e9) for x in ok(f, i)])

    def note(f, i):
        n = failed(f, i)
        return f" ({n} of {len(runs[f])} failed)" if n else ""

    def col(f, i):
        if f not in runs:
            return "–"
        if not ok(f, i):
            return "failed"
        return f"{med(f, i, 'gbps'):.2f}" + note(f, i)

    def ratio(f, g, i, key="gbps"):
        if not ok(f, i) or not ok(g, i):
            return "–"
        if key == "cpu":
            return f"{cpu_gb(f, i) / cpu_gb(g, i):.2f}"
        return f"{med(f, i, 'gbps') / med(g, i, 'gbps'):.2f}"

    def cpu_col(f, i):
        return f"{cpu_gb(f, i):.2f}" if ok(f, i) else "–"

    def split_col(f, i):
        """netbe's (QEMU's) and passt's share of the CPU per GB."""
        if not ok(f, i):
            return "–"
        parts = list(zip(*[[c / (x["bytes"] / 1e9) for c in x["cpu_split"]]
                           for x in ok(f, i)]))
        return " + ".join(f"{median(list(p)):.2f}" for p in parts)

    def busy_col(f, cpu):
        xs = ok(f, 0) + ok(f, 1)
        return f"{median([x['busy'][cpu] for x in xs]):.0f}%" if xs else "–"

    def drops_col(f, i):
        xs = ok(f, i)
        return (f"{median([x['dev_drops']['tx_dropped'] for x in xs]):.0f}"
                if xs else "–")

    cpus = (f"forwarder (and its passt) pinned to CPU {b.cpus[-1]}, iperf3 "
            f"client and servers to CPU {','.join(map(str, b.cpus[:-1]))}"
            if b.cpus else "not pinned")
    out = [
        "## netbe vs QEMU 7.2 vs pasta: TCP through user-mode NAT",
        "",
        f"- date: {date}",
        f"- machine: {machine()}",
        f"- QEMU: {qemu_version()}",
        f"- passt: Debian {sh('dpkg-query', '-W', '-f=${Version}', 'passt', check=False).stdout or '?'}",
        f"- iperf3: {sh('iperf3', '--version').stdout.split(chr(10))[0]}",
        f"- CPUs: {cpus}",
        "- command: `/usr/bin/python3 bench/nat.py"
        + "".join(" " + a for a in sys.argv[1:]) + f"` ({args.reps} runs "
        f"each, median, forwarders alternating; iperf3 -t {args.seconds} "
        f"per direction; guest tap MTU {args.mtu})",
        "",
        "| direction | netbe user | QEMU user | netbe passt "
        "| QEMU stream→passt | pasta | netbe/QEMU user | netbe/QEMU passt "
        "| CPU/GB netbe user | CPU/GB QEMU user | CPU netbe/QEMU user "
        "| CPU/GB netbe passt | CPU/GB QEMU stream→passt | CPU/GB pasta |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|",
    ]
    for i, d in enumerate(DIRS):
        out.append(
            f"| {d} | {col('netbe-user', i)} | {col('qemu-user', i)} "
            f"| {col('netbe-passt', i)} | {col('qemu-stream', i)} "
            f"| {col('pasta', i)} "
            f"| {ratio('netbe-user', 'qemu-user', i)} "
            f"| {ratio('netbe-passt', 'qemu-stream', i)} "
            f"| {cpu_col('netbe-user', i)} | {cpu_col('qemu-user', i)} "
            f"| {ratio('netbe-user', 'qemu-user', i, 'cpu')} "
            f"| {cpu_col('netbe-passt', i)} | {cpu_col('qemu-stream', i)} "
            f"| {cpu_col('pasta', i)} |")
    out += [
        "",
        "Throughput in Gbit/s: TCP goodput at iperf3's receiver, one "
        "stream, the client sending. guest→host: G's client to the "
        "gateway's port 5201, which the NAT leads to the host's "
        "127.0.0.1:5201; host→guest: the host's client to 127.0.0.1:"
        f"{FWD}, the NAT's port forward into G. CPU/GB in seconds: the "
        "forwarder's utime+stime (/proc/PID/stat) during the iperf3 run "
        "per GB of goodput, passt's included on the passt rows; it "
        "includes the kernel's work in the forwarder's system calls.",
    ]
    pr = [f for f in ("netbe-passt", "qemu-stream") if f in runs]
    if pr:
        out += ["", "The passt rows' CPU/GB split, forwarder + passt, "
                "guest→host / host→guest: "
                + "; ".join(f"{LABEL[f]} {split_col(f, 0)} / "
                            f"{split_col(f, 1)}" for f in pr) + "."]
    nb = [f for f in fwds if f.startswith("netbe")]
    if nb:
        def avg(f, i, fk, bk):
            if not ok(f, i):
                return float("nan")
            return median([x[bk] / max(x[fk], 1) for x in ok(f, i)])

        def mx(f, k):
            return max([x[k] for x in ok(f, 0) + ok(f, 1)] or [0])
        out += ["", "Average frame, netbe's `info stats`, guest→host / "
                "host→guest, tap side → NAT side: " + "; ".join(
                    f"{LABEL[f]} {avg(f, 0, 'nb_frames', 'nb_bytes'):.0f} B "
                    f"→ {avg(f, 0, 'u_frames', 'u_bytes'):.0f} B / "
                    f"{avg(f, 1, 'u_frames', 'u_bytes'):.0f} B → "
                    f"{avg(f, 1, 'nb_frames', 'nb_bytes'):.0f} B "
                    f"(segmented={mx(f, 'segmented')}, "
                    f"drops={mx(f, 'drops')})"
                    for f in nb) + "."]
    tapf = [f for f in fwds if f != "pasta"]
    if tapf:
        out += ["", "Frames G's kernel dropped at its tap's queue towards the "
                "forwarder (tx_dropped: the forwarder did not read them in "
                "time), median per run, guest→host / host→guest: "
                + "; ".join(f"{LABEL[f]} {drops_col(f, 0)} / "
                            f"{drops_col(f, 1)}" for f in tapf) + "."]
    fails = [(f, i) for f in fwds for i in (0, 1) if failed(f, i)]
    if fails:
        out += ["", "Failed runs (iperf3 gave no result; the log says why): "
                + "; ".join(f"{LABEL[f]} {DIRS[i]} {failed(f, i)} of "
                            f"{len(runs[f])}" for f, i in fails) + "."]
    if "pasta" in runs:
        out += ["", "pasta's host→guest path does not cross its tap: pasta "
                "splices a connection from the host's loopback to the "
                "namespace's loopback (its guest→host path does use its "
                "tap, MTU 65520)."]
    if b.cpus:
        fc, ec = b.cpus[-1], b.cpus[0]
        out += ["", f"CPU {fc} (the forwarder's) / CPU {ec} (the iperf3 "
                "ends') busy during the runs, median, from /proc/stat "
                "(the machine's other work included): "
                + "; ".join(f"{LABEL[f]} {busy_col(f, fc)} / "
                            f"{busy_col(f, ec)}" for f in fwds) + "."]
    out.append("")
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        with open(os.path.join(REPO, "bench", "results-nat.md"), "w") as f:
            f.write(text)
    log(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("bench/nat.py: interrupted (namespaces removed)")
