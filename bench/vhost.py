#!/usr/bin/python3
"""vhost-user benchmark: netbe against DPDK's own vhost port, the loop
DPDK users run.

Run as root from anywhere (it finds the repository from its own path):

    /usr/bin/python3 bench/vhost.py            # about 4 minutes
    /usr/bin/python3 bench/vhost.py --quick    # one short rep, to try it

It builds <repo>/build if needed (bench/run.py's build(): a release
build).  The generator is one dpdk-testpmd (Debian's dpdk-dev) with two
net_virtio_user ports, each a vhost-user front-end of one of the
forwarder's two sockets S0 and S1, in io forwarding: what port 0
receives it sends out of port 1 and the other way round, and
`start tx_first 16` first sends 16 bursts of 32 frames out of each port.
Those circulate for ever, each direction its own loop:

    generator port 0 --S0--> forwarder --S1--> port 1 --> port 0 --S0--> ...
    generator port 1 --S1--> forwarder --S0--> port 0 --> port 1 --S1--> ...

and each direction runs as fast as the slower of the generator and the
forwarder lets it.  The frames are testpmd's txonly template (IPv4/UDP,
`--txpkts=64` or `--txpkts=1500`: 64 or 1500-byte frames), which io
forwarding passes on unchanged, MAC addresses included.

The forwarders, each run in turn between the same two sockets:

  netbe        build/netbe -nodefaults
                 -device vhost-user-net,id=a,path=S0,hubid=1,learning=off,poll-us=1000
                 -device vhost-user-net,id=b,path=S1,hubid=1,learning=off,poll-us=1000
               two vhost-user devices on one flooding hub (learning=off):
               with exactly two ports, a hub forwards each frame to the
               other port, which is what the anchor does.  A learning
               switch would be wrong here, not just slower: io forwarding
               keeps the source MAC, so the same frames come back into
               the switch from the other port, and it would learn the
               generator's MACs on one port and then the other for ever.
               poll-us=1000: netbe polls idle rings for 1 ms before it
               asks for a kick, as a DPDK port polls all the time, so
               that the generator does not pay an eventfd write per
               burst (README, "vhost-user");
  netbe kicks  the same without poll-us: netbe sleeps until kicked (the
               default; VMs' front-ends batch their kicks, DPDK's do not);
  DPDK         the anchor: a second dpdk-testpmd with two net_vhost ports
               (`--vdev net_vhost0,iface=S0 --vdev net_vhost1,iface=S1`,
               the vhost-user back-end of DPDK's vhost library) in io
               forwarding, polling both.

The forwarder is pinned to the last CPU (netbe with sched_setaffinity,
testpmd with --lcores=0@CPU,1@CPU: its main thread, which only waits for
commands, and its forwarding thread on that CPU), the generator to the
first one the same way; everything runs with --no-huge (memfd-backed
memory, as the tests do).  After --warmup seconds (2) it reads the
generator's port counters (`show port stats all`), again --seconds (5)
later, and reports frames per second received by port 1 (0→1: through
the forwarder from S0 to S1) and by port 0 (1→0), in Mpps, with the
forwarder's CPU (utime+stime from /proc/PID/stat over the interval, as
a share of one CPU, and per frame forwarded).  Each value is the median of --reps (3) runs, the
forwarders alternating (their order rotates every rep), 64 B and 1500 B
each in a fresh forwarder and generator.  It checks that the frames went
through the forwarder: after the generator stopped, netbe's `info stats`
must show at least the frames the generator received delivered to its
NICs a.0 and b.0 (testpmd's forwarder: its ports' TX counters), and it
logs each CPU's load (and the machine's load average), which tells who
limited the rate.

It prints the date, the machine and a markdown table, and writes them to
bench/results-vhost.md (--no-write: do not).  Options: --reps N (3),
--seconds S (5), --warmup S (2), --quick (1 rep of 2 s), --build-dir DIR,
--only NAME[,NAME] (netbe, netbe-kicks, dpdk), --sizes 64,1500,
--poll-us N (1000), --bursts N (16), --wait-quiet S (before each run,
wait up to S seconds for every CPU to be idle: for a shared machine).
"""

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import REPO, build, cpu_seconds, log, machine, median, stop  # noqa
from tap import (Monitor, busy, cpu_times, on_sigterm,  # noqa: E402
                 wait_for)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from testpmd import TESTPMD, Testpmd  # noqa: E402

FWDS = ("netbe", "netbe-kicks", "dpdk")
LABEL = {"netbe": "netbe", "netbe-kicks": "netbe kicks", "dpdk": "DPDK"}
DIRS = ("0→1", "1→0")
# both ends: no hugepages, and fewer mbufs than testpmd's default (which
# does not fit in -m 256 without them)
EAL = ["--no-huge", "-m", "256", "--no-pci"]
PMD = ["--total-num-mbufs=8192", "--forward-mode=io"]


class Pmd(Testpmd):
    """dpdk-testpmd (tests/integration/testpmd.py's driver) named @name,
    with EAL options @eal and testpmd's @pmd, pinned to @cpu."""

    def __init__(self, name, eal, pmd, cpu):
        super().__init__(f"nbbench-{name}-{uuid.uuid4().hex[:6]}",
                         EAL + [f"--lcores=0@{cpu},1@{cpu}"] + eal,
                         PMD + pmd, cpu=cpu, timeout=30)


class Run:
    """One forwarder and one generator for one frame size."""

    def __init__(self, bench, fwd, size):
        self.b, self.fwd, self.size = bench, fwd, size
        self.tmp = tempfile.mkdtemp(prefix="netbe-vhost-bench-")
        self.socks = [os.path.join(self.tmp, f"s{i}.sock") for i in (0, 1)]
        self.proc = self.gen = self.fpmd = self.mon = None
        self.errlog = tempfile.TemporaryFile()

    def start(self):
        a = self.b.args
        if self.fwd.startswith("netbe"):
            poll = f",poll-us={a.poll_us}" if self.fwd == "netbe" else ""
            mon = os.path.join(self.tmp, "mon.sock")
            argv = [self.b.netbe, "-nodefaults", "-monitor",
                    f"unix:{mon},server=on,wait=off"]
            for name, s in zip("ab", self.socks):
                argv += ["-device", f"vhost-user-net,id={name},path={s},"
                                    f"hubid=1,learning=off{poll}"]
            cpu = self.b.fwd_cpu
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self.errlog,
                stderr=self.errlog,
                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
            self.pid = self.proc.pid
            wait_for(lambda: os.path.exists(mon) and
                     all(os.path.exists(s) for s in self.socks) or
                     self.proc.poll() is not None, 15, "netbe's sockets")
            self.check_alive()
            self.mon = Monitor(mon)
        else:
            self.fpmd = Pmd("fwd", [f"--vdev=net_vhost{i},iface={s}"
                                    for i, s in enumerate(self.socks)],
                            ["--auto-start"], self.b.fwd_cpu)
            self.pid = self.fpmd.pid
            wait_for(lambda: all(os.path.exists(s) for s in self.socks), 15,
                     "testpmd's vhost sockets")
        self.gen = Pmd("gen", [f"--vdev=net_virtio_user{i},path={s},queues=1"
                               for i, s in enumerate(self.socks)],
                       [f"--txpkts={self.size}"], self.b.gen_cpu)

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.errlog.seek(0)
            raise RuntimeError(
                f"netbe exited with status {self.proc.returncode}:\n"
                + self.errlog.read().decode(errors="replace"))

    def measure(self):
        a = self.b.args
        self.gen.cmd(f"start tx_first {a.bursts}")
        time.sleep(a.warmup)
        s0, c0, t0, l0 = (self.gen.stats(), cpu_seconds(self.pid),
                          time.monotonic(), cpu_times())
        time.sleep(a.seconds)
        s1, c1, t1, l1 = (self.gen.stats(), cpu_seconds(self.pid),
                          time.monotonic(), cpu_times())
        self.check_alive()
        dt = t1 - t0
        out = {"cpu": (c1 - c0) / dt, "busy": busy(l0, l1), "dt": dt}
        # port 1 receives what crossed from S0 to S1 (0→1)
        for d, port in zip(DIRS, (1, 0)):
            out[d] = (s1[port]["RX-packets"] - s0[port]["RX-packets"]) / dt
        out["ns"] = (c1 - c0) * 1e9 / max(1, dt * (out[DIRS[0]] +
                                                   out[DIRS[1]]))
        self.gen.cmd("stop")
        time.sleep(0.2)
        self.verify(self.gen.stats())
        return out

    def verify(self, gen):
        """The frames the generator received came from the forwarder."""
        if self.mon:
            st = self.mon.stats()
            sent = {0: st["a.0"]["rx_frames"], 1: st["b.0"]["rx_frames"]}
        else:
            fs = self.fpmd.stats()
            sent = {0: fs[0]["TX-packets"], 1: fs[1]["TX-packets"]}
        for port in (0, 1):
            rx = gen[port]["RX-packets"]
            # (read while traffic flows, the two counters need not agree)
            if gen[port]["RX-bytes"] != rx * self.size:
                raise RuntimeError(
                    f"{self.fwd}: port {port} got {gen[port]['RX-bytes']} "
                    f"bytes in {rx} frames of {self.size}")
            if rx == 0 or sent[port] < rx:
                raise RuntimeError(
                    f"{self.fwd}: generator port {port} received {rx} "
                    f"frames, the forwarder sent it {sent[port]}")

    def close(self):
        for p in (self.gen, self.fpmd):
            if p:
                p.close()
        if self.mon:
            self.mon.close()
        if self.proc:
            stop(self.proc)
        self.errlog.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.netbe = os.path.join(args.build_dir, "netbe")
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("bench/vhost.py: needs two CPUs")
        self.fwd_cpu, self.gen_cpu = cpus[-1], cpus[0]

    def run(self, fwd, size):
        r = Run(self, fwd, size)
        try:
            r.start()
            return r.measure()
        finally:
            r.close()


def wait_quiet(limit):
    """Before a run, up to @limit seconds for every CPU to be idle (under
    20% busy over a second): on a shared machine, other work that comes
    and goes would decide which forwarder wins.  Returns the seconds
    waited, or None when the machine never went quiet."""
    start = time.monotonic()
    while True:
        t0 = cpu_times()
        time.sleep(1)
        if max(busy(t0, cpu_times()).values()) < 20:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            return None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--only", help="comma-separated: " + ",".join(FWDS))
    ap.add_argument("--sizes", default="64,1500")
    ap.add_argument("--poll-us", type=int, default=1000)
    ap.add_argument("--bursts", type=int, default=16)
    ap.add_argument("--wait-quiet", type=float, default=0)
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds, args.warmup = 1, 2, 1
    args.build_dir = os.path.abspath(args.build_dir)
    fwds = FWDS
    if args.only:
        fwds = tuple(f for f in FWDS if f in args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    if not os.access(TESTPMD, os.X_OK):
        raise SystemExit(f"bench/vhost.py: {TESTPMD} is missing (Debian's "
                         "dpdk-dev; scripts/install-deps.sh --test)")
    signal.signal(signal.SIGTERM, on_sigterm)

    build(args.build_dir)
    b = Bench(args)
    started = time.monotonic()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load0 = loadavg()
    runs = {(f, s): [] for f in fwds for s in sizes}
    for rep in range(args.reps):
        order = fwds[rep % len(fwds):] + fwds[:rep % len(fwds)]
        for s in sizes:
            for f in order:
                if args.wait_quiet:
                    w = wait_quiet(args.wait_quiet)
                    log(f"waited {w:.0f} s for idle CPUs" if w is not None
                        else "the CPUs did not go idle: running anyway")
                x = b.run(f, s)
                runs[f, s].append(x)
                log(f"rep {rep + 1} {LABEL[f]} {s} B: "
                    + ", ".join(f"{d} {x[d] / 1e6:.3f} Mpps" for d in DIRS)
                    + f", forwarder CPU {100 * x['cpu']:.0f}% "
                    f"({x['ns']:.0f} ns per frame), CPUs busy "
                    + " ".join(f"{c}:{v:.0f}%" for c, v in x["busy"].items())
                    + f", load {loadavg()}")
    load1 = loadavg()

    def mpps(f, s, d):
        if (f, s) not in runs:
            return None
        return median([r[d] for r in runs[f, s]]) / 1e6

    def col(f, s, d):
        m = mpps(f, s, d)
        return "–" if m is None else f"{m:.2f}"

    def ratio(f, g, s, d):
        x, y = mpps(f, s, d), mpps(g, s, d)
        return "–" if x is None or y is None or not y else f"{x / y:.2f}"

    def cpu(f, s):
        if (f, s) not in runs:
            return "–"
        return f"{100 * median([r['cpu'] for r in runs[f, s]]):.0f}%"

    def ns(f, s):
        if (f, s) not in runs:
            return "–"
        return f"{median([r['ns'] for r in runs[f, s]]):.0f}"

    def busy_col(f, s, c):
        return f"{median([r['busy'][c] for r in runs[f, s]]):.0f}%"

    out = [
        "## netbe vs DPDK: vhost-user, testpmd's io loop",
        "",
        f"- date: {date}",
        f"- machine: {machine()}",
        f"- DPDK: {dpkg_version('dpdk-dev')} (dpdk-testpmd, --no-huge)",
        f"- CPUs: forwarder pinned to CPU {b.fwd_cpu}, generator to CPU "
        f"{b.gen_cpu}; load average {load0} before, {load1} after",
        "- command: `/usr/bin/python3 bench/vhost.py"
        + "".join(" " + a for a in sys.argv[1:]) + f"` ({args.reps} runs "
        f"each, median, forwarders alternating; `start tx_first "
        f"{args.bursts}`, {args.warmup:g} s warm-up, {args.seconds:g} s "
        "measured)",
        "",
        "| frame, direction | netbe poll-us | netbe kicks | DPDK vhost "
        "| netbe/DPDK | netbe kicks/DPDK | CPU netbe | CPU netbe kicks "
        "| CPU DPDK | ns/frame netbe | ns/frame netbe kicks "
        "| ns/frame DPDK |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        for d in DIRS:
            out.append(
                f"| {s} B, {d} | {col('netbe', s, d)} "
                f"| {col('netbe-kicks', s, d)} | {col('dpdk', s, d)} "
                f"| {ratio('netbe', 'dpdk', s, d)} "
                f"| {ratio('netbe-kicks', 'dpdk', s, d)} "
                f"| {cpu('netbe', s)} | {cpu('netbe-kicks', s)} "
                f"| {cpu('dpdk', s)} | {ns('netbe', s)} "
                f"| {ns('netbe-kicks', s)} | {ns('dpdk', s)} |")
    out += [
        "",
        "Mpps: frames per second the generator's port received through "
        "the forwarder (0→1: generator port 0 → S0 → forwarder → S1 → "
        "port 1), each direction its own loop of "
        f"{args.bursts}×32 frames. netbe poll-us: `poll-us={args.poll_us}` "
        "on both devices; netbe kicks: without. CPU: the forwarder's "
        "utime+stime over the measured interval, as a share of its one "
        "CPU (DPDK's forwarding thread polls all the time). ns/frame: that "
        "CPU time per frame forwarded (both directions); it is what the "
        "forwarder costs when it is the limit, and for a polling forwarder "
        "that waits for the generator it includes the polling.",
        "",
        f"CPU {b.fwd_cpu} (the forwarder's) / CPU {b.gen_cpu} (the "
        "generator's) busy during the runs, median, from /proc/stat (the "
        "machine's other work included): "
        + "; ".join(f"{LABEL[f]} {s} B {busy_col(f, s, b.fwd_cpu)} / "
                    f"{busy_col(f, s, b.gen_cpu)}"
                    for f in fwds for s in sizes) + ".",
        "",
    ]
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        with open(os.path.join(REPO, "bench", "results-vhost.md"), "w") as f:
            f.write(text)
    log(f"total {time.monotonic() - started:.0f} s")


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                       capture_output=True, text=True)
    return r.stdout or "?"


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("bench/vhost.py: interrupted")
