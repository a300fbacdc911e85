#!/usr/bin/python3
"""Tap benchmark: TCP through tap -> switch -> tap, netbe against QEMU 7.2
and the kernel's own bridge.

Run as root from anywhere (it finds the repository from its own path):

    /usr/bin/python3 bench/tap.py            # about 5 minutes
    /usr/bin/python3 bench/tap.py --quick    # one short rep, to try it

It builds <repo>/build if needed (bench/run.py's build(): a release
build), then, for each forwarder below, in fresh network namespaces of
its own (named nbbench-*, deleted at the end, also on Ctrl-C):

  * the forwarder runs in namespace F and opens taps nbtap0 and nbtap1
    with vnet headers (tap,...,vnet_hdr=on,script=no,downscript=no);
  * nbtap0 moves to namespace A (10.211.0.1/24), nbtap1 to namespace B
    (10.211.0.2/24): a tap's fd keeps working after its device moved;
  * `iperf3 -s` runs in B and `iperf3 -c` in A, for --seconds (10 s) in
    each direction (A->B, then B->A with -R).

The forwarders:

  netbe switch  build/netbe with the two taps on a learning switch, the
                form README documents: a stream listener with hubid=1
                makes hub 1 a switch, `-netdev hubport,hubid=1,netdev=T`
                puts each tap on it;
  netbe hub     build/netbe with exactly QEMU's arguments (hubports on
                QEMU's flooding hub 0);
  QEMU          qemu-system-x86_64 -M none -nodefaults -display none
                -monitor none -serial none, the same -netdev arguments
                (QEMU turns the taps' offloads off across a hub);
  kernel        no forwarder: a veth pair from A and from B into a third
                namespace whose Linux bridge joins them (the ceiling).

It measures TCP goodput (what iperf3's receiver got, Gbit/s) and the
forwarder's CPU (utime+stime of its process from /proc/PID/stat, over the
iperf3 run) per GB of goodput; each value is the median of --reps runs,
the forwarders taking turns (their order rotates every rep).  The
forwarder is pinned to the last CPU and both iperf3 ends to the others
(--no-pin: no pinning); the kernel bridge has no process of its own, so
its iperf3 ends are not pinned: it may use every CPU, as the ends and
the forwarder together do on the other paths.  It logs how busy each CPU
was during every run, which tells who limits the rate.  It checks that
the frames went through the forwarder: the receiving tap's (or veth's)
kernel counters must account for iperf3's bytes, and for netbe the
monitor's `info stats` (frames and bytes the receiving tap client sent,
`segmented=`) must too.  The average size of the frames written into the
receiving device shows whether GSO frames crossed.

It prints the date, the machine and a markdown table, and writes them to
bench/results-tap.md (--no-write: do not).  Options: --reps N (3),
--seconds S (10), --quick (1 rep of 3 s), --build-dir DIR, --no-pin,
--only NAME[,NAME] (netbe-switch, netbe-hub, qemu, kernel).
"""

import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (QEMU, QEMU_ARGS, REPO, build, cpu_seconds,  # noqa: E402
                 log, machine, median, qemu_version, stop)

NETBE_ARGS = ["-nodefaults"]
FWDS = ("netbe-switch", "netbe-hub", "qemu", "kernel")
LABEL = {"netbe-switch": "netbe switch", "netbe-hub": "netbe hub 0",
         "qemu": "QEMU", "kernel": "kernel bridge"}
NET = "10.211.0"
ADDR_A, ADDR_B = f"{NET}.1", f"{NET}.2"
DIRS = ("A→B", "B→A")
PREFIX = "nbbench-"
PORT = 5201
TAP = "script=no,downscript=no,vnet_hdr=on"


def sh(*args, check=True, timeout=30):
    return subprocess.run(args, check=check, capture_output=True, text=True,
                          timeout=timeout)


def in_ns(ns, args):
    return ["ip", "netns", "exec", ns] + list(args)


def link_stats(ns, ifname):
    """The kernel's counters of a device in a namespace."""
    out = sh("ip", "-n", ns, "-j", "-s", "link", "show", ifname).stdout
    st = json.loads(out)[0]["stats64"]
    return {"rx_packets": st["rx"]["packets"], "rx_bytes": st["rx"]["bytes"],
            "tx_packets": st["tx"]["packets"], "tx_bytes": st["tx"]["bytes"]}


def link_exists(ns, ifname):
    return sh("ip", "-n", ns, "link", "show", ifname,
              check=False).returncode == 0


def cpu_times():
    """(busy, total) clock ticks per CPU from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v]
                idle = v[3] + v[4]
                out[int(name[3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def busy(t0, t1):
    """Percent busy per CPU between two cpu_times()."""
    return {c: 100 * (t1[c][0] - t0[c][0]) / max(t1[c][1] - t0[c][1], 1)
            for c in t1}


def wait_for(pred, timeout=10, what="it"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Monitor:
    """netbe's HMP monitor on a unix socket."""

    PROMPT = b"(qemu) "

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self._until_prompt()

    def _until_prompt(self):
        buf = b""
        while not buf.endswith(self.PROMPT):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("netbe's monitor closed")
            buf += chunk
        return buf[:-len(self.PROMPT)].decode().replace("\r\n", "\n")

    def stats(self):
        """info stats: {client: {field: int}}, rx/tx split into frames and
        bytes."""
        self.sock.sendall(b"info stats\n")
        out = {}
        for line in self._until_prompt().splitlines():
            name, _, rest = line.partition(": ")
            if name.startswith("hub ") or "=" not in rest:
                continue
            fields = {}
            for kv in rest.replace("drop: ", "").split():
                k, _, v = kv.partition("=")
                if "/" in v:
                    f, b = v.split("/")
                    fields[k + "_frames"], fields[k + "_bytes"] = \
                        int(f), int(b)
                else:
                    fields[k] = int(v)
            out[name] = fields
        return out

    def close(self):
        self.sock.close()


class Setup:
    """One forwarder between namespaces A and B, torn down by close()."""

    def __init__(self, bench, fwd):
        self.bench = bench
        self.fwd = fwd
        self.tag = uuid.uuid4().hex[:6]
        self.names = []
        self.procs = []
        self.proc = None
        self.mon = None
        self.tmp = tempfile.mkdtemp(prefix="netbe-tap-bench-")
        self.errlog = tempfile.TemporaryFile()

    def ns(self, role):
        name = f"{PREFIX}{role}-{self.tag}"
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def start(self):
        self.a, self.b = self.ns("a"), self.ns("b")
        if self.fwd == "kernel":
            self.dev_a, self.dev_b = "veth0", "veth1"
            br = self.ns("br")
            sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
            for dev, ns, port in ((self.dev_a, self.a, "pa"),
                                  (self.dev_b, self.b, "pb")):
                sh("ip", "-n", br, "link", "add", port, "type", "veth",
                   "peer", "name", dev, "netns", ns)
                sh("ip", "-n", br, "link", "set", port, "master", "br0")
                sh("ip", "-n", br, "link", "set", port, "up")
            sh("ip", "-n", br, "link", "set", "br0", "up")
        else:
            self.dev_a, self.dev_b = "nbtap0", "nbtap1"
            f = self.ns("f")
            self.proc = subprocess.Popen(
                in_ns(f, self.command()), stdin=subprocess.DEVNULL,
                stdout=self.errlog, stderr=self.errlog,
                preexec_fn=self.bench.pin("fwd"))
            for dev, ns in ((self.dev_a, self.a), (self.dev_b, self.b)):
                wait_for(lambda: link_exists(f, dev) or
                         self.proc.poll() is not None, what=f"tap {dev}")
                self.check_alive()
                sh("ip", "-n", f, "link", "set", dev, "netns", ns)
            if self.fwd.startswith("netbe"):
                path = os.path.join(self.tmp, "mon.sock")
                wait_for(lambda: os.path.exists(path), what="the monitor")
                self.mon = Monitor(path)
        for dev, ns, addr in ((self.dev_a, self.a, ADDR_A),
                              (self.dev_b, self.b, ADDR_B)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        srv = subprocess.Popen(
            in_ns(self.b, ["iperf3", "-s", "-B", ADDR_B, "-p", str(PORT),
                           "--forceflush"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=self.pin_ends())
        self.procs.append(srv)
        said = b""
        while b"listening" not in said:
            line = srv.stdout.readline()
            if not line:
                raise RuntimeError(f"iperf3 -s said {said!r}")
            said += line
        # The first frames teach the switch both MACs (and ARP resolves).
        r = sh(*in_ns(self.a, ["ping", "-c", "3", "-i", "0.2", "-W", "2",
                               ADDR_B]), check=False)
        if r.returncode != 0:
            self.check_alive()
            raise RuntimeError(f"{self.fwd}: no ping from A to B:\n"
                               + r.stdout + r.stderr)

    def pin_ends(self):
        """The kernel bridge has no process to pin: its iperf3 ends may
        use every CPU, as the ends plus the forwarder do on the others'
        paths."""
        return None if self.fwd == "kernel" else self.bench.pin("ends")

    def command(self):
        taps = ["-netdev", f"tap,id=a,ifname=nbtap0,{TAP}",
                "-netdev", f"tap,id=b,ifname=nbtap1,{TAP}"]
        mon = ["-monitor",
               f"unix:{self.tmp}/mon.sock,server=on,wait=off"]
        hub0 = ["-netdev", "hubport,id=pa,hubid=0,netdev=a",
                "-netdev", "hubport,id=pb,hubid=0,netdev=b"]
        if self.fwd == "qemu":
            return [QEMU] + QEMU_ARGS + taps + hub0
        netbe = [self.bench.netbe] + NETBE_ARGS + mon
        if self.fwd == "netbe-hub":
            return netbe + taps + hub0
        # A stream listener with hubid=1 makes hub 1 a learning switch
        # (README, "A switch for many VMs"); no VM joins it here.
        return netbe + taps + [
            "-netdev", f"stream,id=sw,server=on,addr.type=unix,"
                       f"addr.path={self.tmp}/sw.sock,hubid=1,learning=on",
            "-netdev", "hubport,id=pa,hubid=1,netdev=a",
            "-netdev", "hubport,id=pb,hubid=1,netdev=b"]

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.errlog.seek(0)
            raise RuntimeError(
                f"{self.fwd} exited with status {self.proc.returncode}:\n"
                + self.errlog.read().decode(errors="replace"))

    def iperf(self, reverse, seconds):
        """One iperf3 run; returns goodput, CPU and what crossed."""
        rx_ns, rx_dev = (self.a, self.dev_a) if reverse else \
            (self.b, self.dev_b)
        dev0 = link_stats(rx_ns, rx_dev)
        st0 = self.mon.stats() if self.mon else None
        cpu0 = cpu_seconds(self.proc.pid) if self.proc else 0.0
        sys0 = cpu_times()
        t0 = time.monotonic()
        cmd = ["iperf3", "-c", ADDR_B, "-p", str(PORT), "-t", str(seconds),
               "-J"] + (["-R"] if reverse else [])
        r = subprocess.run(in_ns(self.a, cmd), capture_output=True,
                           text=True, timeout=seconds + 30,
                           preexec_fn=self.pin_ends())
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(self.proc.pid) if self.proc else 0.0
        cpus_busy = busy(sys0, cpu_times())
        self.check_alive()
        try:
            res = json.loads(r.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"iperf3 -c failed: {r.stdout}{r.stderr}")
        if "error" in res:
            raise RuntimeError(f"iperf3 -c: {res['error']}")
        got = res["end"]["sum_received"]
        out = {"gbps": got["bits_per_second"] / 1e9, "bytes": got["bytes"],
               "cpu": cpu1 - cpu0, "wall": wall, "busy": cpus_busy,
               "retransmits": res["end"]["sum_sent"].get("retransmits", 0)}
        dev1 = link_stats(rx_ns, rx_dev)
        frames = dev1["rx_packets"] - dev0["rx_packets"]
        nbytes = dev1["rx_bytes"] - dev0["rx_bytes"]
        out["dev_frames"], out["dev_bytes"] = frames, nbytes
        if nbytes < got["bytes"]:
            raise RuntimeError(
                f"{self.fwd}: {rx_dev} received {nbytes} bytes, iperf3 "
                f"{got['bytes']}: the data did not cross the forwarder")
        if self.mon:
            st1 = self.mon.stats()
            # The receiving tap's client receives from its hub port (rx)
            # what it writes into its device.
            c = "a" if reverse else "b"
            d = {k: st1[c][k] - st0[c][k] for k in st1[c]}
            if d["rx_bytes"] < got["bytes"]:
                raise RuntimeError(f"{self.fwd}: info stats shows "
                                   f"{d['rx_bytes']} bytes to {c}, iperf3 "
                                   f"{got['bytes']}")
            seg = sum(st1[n].get("segmented", 0) - st0[n].get("segmented", 0)
                      for n in st1)
            drops = sum(st1[n].get(k, 0) - st0[n].get(k, 0) for n in st1
                        for k in ("queue_full", "malformed", "error",
                                  "oversize"))
            out.update(nb_frames=d["rx_frames"], nb_bytes=d["rx_bytes"],
                       segmented=seg, drops=drops)
        return out

    def close(self):
        if self.mon:
            self.mon.close()
        for p in self.procs:
            stop(p)
        if self.proc:
            stop(self.proc)
        for n in self.names:
            sh("ip", "netns", "del", n, check=False)
        self.errlog.close()
        for name in ("mon.sock", "sw.sock"):
            try:
                os.unlink(os.path.join(self.tmp, name))
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
        """Both directions through a fresh forwarder."""
        s = Setup(self, fwd)
        try:
            s.start()
            return [s.iperf(rev, self.args.seconds) for rev in (False, True)]
        finally:
            s.close()


def stale_namespaces(prefix=PREFIX):
    """Remove namespaces that an interrupted earlier run of ours left."""
    out = sh("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            sh("ip", "netns", "del", name, check=False)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
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
        raise SystemExit("bench/tap.py: run as root (network namespaces)")
    for tool in ("iperf3", QEMU):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            raise SystemExit(f"bench/tap.py: {tool} is missing "
                             "(scripts/install-deps.sh --test)")
    # SIGTERM as Ctrl-C: the finally blocks tear the namespaces down.
    signal.signal(signal.SIGTERM, on_sigterm)

    build(args.build_dir)
    stale_namespaces()
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
                extra = ""
                if "nb_frames" in x:
                    extra = (f", netbe sent {x['nb_frames']} frames of "
                             f"{x['nb_bytes'] / max(x['nb_frames'], 1):.0f} B"
                             f" avg, segmented={x['segmented']}, "
                             f"drops={x['drops']}")
                log(f"rep {rep + 1} {LABEL[f]} {d}: {x['gbps']:.2f} Gbit/s, "
                    f"cpu {x['cpu']:.2f} s over {x['wall']:.1f} s, "
                    f"device got {x['dev_frames']} frames of "
                    f"{x['dev_bytes'] / max(x['dev_frames'], 1):.0f} B avg, "
                    f"retransmits {x['retransmits']}, CPUs busy "
                    + " ".join(f"{c}:{v:.0f}%" for c, v in x["busy"].items())
                    + extra)

    def med(f, i, key):
        return median([r[i][key] for r in runs[f]])

    def cpu_gb(f, i):
        return median([r[i]["cpu"] / (r[i]["bytes"] / 1e9) for r in runs[f]])

    def col(f, i):
        return f"{med(f, i, 'gbps'):.2f} Gbit/s" if f in runs else "–"

    def ratio(f, g, i):
        if f not in runs or g not in runs:
            return "–"
        return f"{med(f, i, 'gbps') / med(g, i, 'gbps'):.2f}"

    def cpu_col(f, i):
        return f"{cpu_gb(f, i):.2f} s" if f in runs else "–"

    def frame_col(f, i):
        m = median([r[i]["dev_bytes"] / r[i]["dev_frames"] for r in runs[f]])
        return f"{m:.0f}"

    def busy_col(f, cpu):
        m = median([r[i]["busy"][cpu] for r in runs[f] for i in (0, 1)])
        return f"{m:.0f}%"

    cpus = (f"forwarder pinned to CPU {b.cpus[-1]}, iperf3 client and "
            f"server to CPU {','.join(map(str, b.cpus[:-1]))}; kernel bridge: "
            "iperf3 not pinned" if b.cpus else "not pinned")
    out = [
        "## netbe vs QEMU 7.2 vs the kernel: TCP, tap → switch → tap",
        "",
        f"- date: {date}",
        f"- machine: {machine()}",
        f"- QEMU: {qemu_version()}",
        f"- iperf3: {sh('iperf3', '--version').stdout.split(chr(10))[0]}",
        f"- CPUs: {cpus}",
        "- command: `/usr/bin/python3 bench/tap.py"
        + "".join(" " + a for a in sys.argv[1:]) + f"` ({args.reps} runs "
        f"each, median, forwarders alternating; iperf3 -t {args.seconds} "
        "per direction)",
        "",
        "| direction | netbe switch | netbe hub 0 | QEMU | kernel bridge "
        "| netbe/QEMU | netbe/kernel | CPU/GB netbe | CPU/GB netbe hub 0 "
        "| CPU/GB QEMU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, d in enumerate(DIRS):
        out.append(
            f"| {d} | {col('netbe-switch', i)} | {col('netbe-hub', i)} "
            f"| {col('qemu', i)} | {col('kernel', i)} "
            f"| {ratio('netbe-switch', 'qemu', i)} "
            f"| {ratio('netbe-switch', 'kernel', i)} "
            f"| {cpu_col('netbe-switch', i)} | {cpu_col('netbe-hub', i)} "
            f"| {cpu_col('qemu', i)} |")
    out += [
        "",
        "Gbit/s: TCP goodput at iperf3's receiver (one stream, MTU 1500). "
        "A→B: the client in A sends; B→A: the same with -R. netbe = the "
        "switch form. CPU/GB: the forwarder's utime+stime "
        "(/proc/PID/stat) during the iperf3 run per GB of goodput; it "
        "includes the kernel's work in the forwarder's system calls (a "
        "write into a tap runs the receiving namespace's TCP input in the "
        "writer's context).",
        "",
        "Average size of the frames written into the receiving device "
        "(its kernel counters), A→B / B→A: "
        + "; ".join(f"{LABEL[f]} {frame_col(f, 0)} B / {frame_col(f, 1)} B"
                    for f in fwds) + "."
    ]
    nb = [f for f in fwds if f.startswith("netbe")]
    if nb:
        out[-1] += " netbe's `info stats` (largest of any run): " + "; ".join(
            f"{LABEL[f]} segmented="
            f"{max(r[i]['segmented'] for r in runs[f] for i in (0, 1))}, "
            f"drops={max(r[i]['drops'] for r in runs[f] for i in (0, 1))}"
            for f in nb) + "."
    if b.cpus:
        fc, ec = b.cpus[-1], b.cpus[0]
        fw = [f for f in fwds if f != "kernel"]
        if fw:
            out += ["", f"CPU {fc} (the forwarder's) / CPU {ec} (the iperf3 "
                    "ends') busy during the runs, median, from /proc/stat "
                    "(the machine's other work included): "
                    + "; ".join(f"{LABEL[f]} {busy_col(f, fc)} / "
                                f"{busy_col(f, ec)}" for f in fw) + "."]
    out.append("")
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        with open(os.path.join(REPO, "bench", "results-tap.md"), "w") as f:
            f.write(text)
    log(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("bench/tap.py: interrupted (namespaces removed)")
