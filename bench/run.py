#!/usr/bin/python3
"""Forwarder benchmark: netbe against QEMU 7.2 on the same -netdev graph.

Run from anywhere (it finds the repository from its own path):

    /usr/bin/python3 bench/run.py

It builds <repo>/build if needed (`meson setup build --buildtype=release`,
then `ninja -C build netbe bench/gen bench/sink`), then runs the same work
through the netbe daemon (build/netbe) and through

    qemu-system-x86_64 -M none -nodefaults -display none -monitor none \
        -serial none

with the same -netdev arguments:

  udp:    dgram 'in' (generator -> it) + dgram 'out' (it -> sink), both on
          127.0.0.1, joined by two hubports on hub 0;
  stream: stream servers 'in' and 'out' on unix sockets (4-byte big-endian
          length + frame), joined the same way.

For 64 and 1500 byte Ethernet broadcast frames it measures
  (a) forwarder CPU time per frame (utime+stime from /proc/PID/stat over
      the measured interval / frames delivered) at a fixed offered rate
      that neither forwarder drops at (delivered == sent is checked; the
      rate is halved until both pass), and
  (b) the delivered rate under a flood (frames/s reaching the sink over a
      fixed interval while the generator sends as fast as it can),
each the median of --reps runs, alternating the forwarders.  The
forwarder runs pinned to a CPU of its own (the last one), the generator
and sink on the others, so that a flood measures what one core of
forwarder does.  It prints the date, the machine and a markdown table,
and writes them to bench/results.md.

Options: --build-dir DIR (an already configured build, e.g. a release
build elsewhere), --quick (1 rep, short intervals: to try the harness),
--self-test (QEMU in both columns: validates the harness without netbe),
--no-write (do not touch bench/results.md), --only udp|stream,
--no-pin (let the scheduler place the processes), --no-gso (flood UDP
with plain sendmmsg; by default the flood generator uses UDP GSO, which
the kernel cuts into the same one-frame datagrams before they reach the
forwarder, so that the generator costs less than the forwarders it feeds
on a small machine).
"""

import argparse
import datetime
import json
import os
import platform
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QEMU = "qemu-system-x86_64"
QEMU_ARGS = ["-M", "none", "-nodefaults", "-display", "none",
             "-monitor", "none", "-serial", "none"]
NETBE_ARGS = ["-nodefaults", "-monitor", "none"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIZES = (64, 1500)
KINDS = ("udp", "stream")
KIND_LABEL = {"udp": "UDP→hub→UDP", "stream": "stream→hub→stream"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build(build_dir):
    """Configure (first time only) and build the three programs we run."""
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        subprocess.run(["meson", "setup", build_dir, "--buildtype=release"],
                       cwd=REPO, check=True, stdout=sys.stderr)
    # Only our targets: a half-written unit test elsewhere must not stop us.
    subprocess.run(["ninja", "-C", build_dir, "netbe", "bench/gen",
                    "bench/sink"], cwd=REPO, check=True, stdout=sys.stderr)


def free_udp_ports(n):
    """n distinct free UDP ports on 127.0.0.1 (held open while choosing)."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name may hold spaces; the fields after it do not.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def netdev_args(kind, ports, sockdir):
    if kind == "udp":
        p1, p2, g, s = ports
        return [
            "-netdev",
            f"dgram,id=in,local.type=inet,local.host=127.0.0.1,"
            f"local.port={p1},remote.type=inet,remote.host=127.0.0.1,"
            f"remote.port={g}",
            "-netdev",
            f"dgram,id=out,local.type=inet,local.host=127.0.0.1,"
            f"local.port={p2},remote.type=inet,remote.host=127.0.0.1,"
            f"remote.port={s}",
            "-netdev", "hubport,id=h0,hubid=0,netdev=in",
            "-netdev", "hubport,id=h1,hubid=0,netdev=out",
        ]
    return [
        "-netdev",
        f"stream,id=in,server=on,addr.type=unix,addr.path={sockdir}/in.sock",
        "-netdev",
        f"stream,id=out,server=on,addr.type=unix,"
        f"addr.path={sockdir}/out.sock",
        "-netdev", "hubport,id=h0,hubid=0,netdev=in",
        "-netdev", "hubport,id=h1,hubid=0,netdev=out",
    ]


class LineReader:
    """JSON lines from a child's stdout, with a timeout."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""

    def next(self, timeout, watch=None):
        """The next line, or None on timeout or when watch has exited."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [],
                                    min(left, 0.1))
            if not r:
                if watch is not None and watch.poll() is not None:
                    return None
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def stop(proc, sig=signal.SIGTERM, timeout=5):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, args):
        self.args = args
        bd = args.build_dir
        self.gen = os.path.join(bd, "bench", "gen")
        self.sink = os.path.join(bd, "bench", "sink")
        self.netbe = os.path.join(bd, "netbe")
        cpus = sorted(os.sched_getaffinity(0))
        self.cpus = cpus if args.pin and len(cpus) >= 2 else None
        if args.self_test:
            self.fwd_cmd = {"netbe": [QEMU] + QEMU_ARGS,
                            "qemu": [QEMU] + QEMU_ARGS}
        else:
            self.fwd_cmd = {"netbe": [self.netbe] + NETBE_ARGS,
                            "qemu": [QEMU] + QEMU_ARGS}

    def pin(self, role):
        """A preexec_fn that pins the forwarder to the last CPU and the
        generator and sink to the others (None: no pinning)."""
        if not self.cpus:
            return None
        cpus = {self.cpus[-1]} if role == "fwd" else set(self.cpus[:-1])
        return lambda: os.sched_setaffinity(0, cpus)

    def endpoints(self, kind, ports, sockdir):
        """(gen args, sink args) for the two ends of the forwarder."""
        if kind == "udp":
            p1, p2, g, s = ports
            return (["udp", "--src-port", str(g), "--dst-port", str(p1)],
                    ["udp", "--port", str(s)])
        return (["stream", "--path", f"{sockdir}/in.sock"],
                ["stream", "--path", f"{sockdir}/out.sock"])

    def run_once(self, fwd, kind, size, rate=None, frames=None,
                 duration=None):
        """One measurement with a fresh forwarder.

        Fixed rate: rate and frames given; the sink stops at frames or
        after 1 s idle.  Flood: duration given; the sink counts for that
        long from the first measured frame.
        """
        sockdir = tempfile.mkdtemp(prefix="netbe-bench-")
        ports = free_udp_ports(4)
        cmd = self.fwd_cmd[fwd] + netdev_args(kind, ports, sockdir)
        errlog = tempfile.TemporaryFile()
        fproc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                 stdout=errlog, stderr=errlog,
                                 preexec_fn=self.pin("fwd"))
        gproc = sproc = None
        try:
            gargs, sargs = self.endpoints(kind, ports, sockdir)
            sargs += ["--size", str(size), "--idle", "1", "--wait", "20"]
            gargs += ["--size", str(size), "--probe"]
            if duration is None:
                sargs += ["--count", str(frames)]
                gargs += ["--count", str(frames), "--rate", str(rate)]
            else:
                sargs += ["--duration", str(duration)]
                gargs += ["--duration", str(duration + 1.5)]
                if kind == "udp" and self.args.gso:
                    gargs += ["--gso"]
            sproc = subprocess.Popen([self.sink] + sargs,
                                     stdout=subprocess.PIPE,
                                     preexec_fn=self.pin("ends"))
            sread = LineReader(sproc)
            if sread.next(15, fproc) != {"ready": True}:
                raise RuntimeError(f"{fwd}: sink did not connect")
            gproc = subprocess.Popen([self.gen] + gargs,
                                     stdout=subprocess.PIPE,
                                     preexec_fn=self.pin("ends"))
            if sread.next(15, fproc) != {"probe": True}:
                raise RuntimeError(f"{fwd}: no probe frame got through")
            # Let probes still in flight land; the sink ignores them.
            time.sleep(0.05)
            cpu0 = cpu_seconds(fproc.pid)
            t0 = time.monotonic()
            gproc.send_signal(signal.SIGUSR1)
            res = sread.next(duration + 30 if duration else
                             frames / rate + 30, fproc)
            cpu1 = cpu_seconds(fproc.pid)
            t1 = time.monotonic()
            if res is None:
                raise RuntimeError(f"{fwd}: sink gave no result")
            if duration is not None:
                stop(gproc)
            gres = LineReader(gproc).next(10)
            if gres is None:
                raise RuntimeError(f"{fwd}: generator gave no result")
        except RuntimeError as e:
            errlog.seek(0)
            msg = str(e)
            if fproc.poll() is not None:
                msg += f" (forwarder exited with status {fproc.returncode})"
            raise SystemExit(f"{msg}\n{' '.join(cmd)}\nforwarder said:\n"
                             + errlog.read().decode(errors="replace"))
        finally:
            for p in (gproc, sproc):
                if p:
                    stop(p)
            stop(fproc)
            errlog.close()
            for name in ("in.sock", "out.sock"):
                try:
                    os.unlink(os.path.join(sockdir, name))
                except FileNotFoundError:
                    pass
            os.rmdir(sockdir)
        if res["bad"] or res["framing_error"]:
            raise RuntimeError(f"{fwd}: sink saw bad frames: {res}")
        return {
            "sent": gres["frames"],
            "delivered": res["frames"],
            "sink_seconds": res["seconds"],
            "cpu": cpu1 - cpu0,
            "wall": t1 - t0,
            "end": res["end"],
            "offered": gres["frames"] / gres["seconds"],
            "sink_drops": res.get("sink_drops", 0),
        }

    def gen_alone(self, kind, size, duration):
        """Generator straight into the sink: the ceiling of the harness."""
        sockdir = tempfile.mkdtemp(prefix="netbe-bench-")
        path = f"{sockdir}/direct.sock"
        port = free_udp_ports(2)
        if kind == "udp":
            sargs = ["udp", "--port", str(port[0])]
            gargs = ["udp", "--src-port", str(port[1]), "--dst-port",
                     str(port[0])]
            if self.args.gso:
                gargs += ["--gso"]
        else:
            sargs = ["stream", "--path", path, "--listen"]
            gargs = ["stream", "--path", path]
        sproc = subprocess.Popen([self.sink] + sargs + [
            "--size", str(size), "--duration", str(duration)],
            stdout=subprocess.PIPE, preexec_fn=self.pin("ends"))
        sread = LineReader(sproc)
        sread.next(10)
        gproc = subprocess.Popen([self.gen] + gargs + [
            "--size", str(size), "--duration", str(duration + 0.5)],
            stdout=subprocess.PIPE, preexec_fn=self.pin("ends"))
        gres = LineReader(gproc).next(duration + 10)
        res = sread.next(duration + 10)
        stop(gproc)
        stop(sproc)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.rmdir(sockdir)
        return (gres["frames"] / gres["seconds"],
                res["frames"] / res["seconds"] if res["seconds"] else 0)


def median(xs):
    return statistics.median(xs)


def fmt_rate(r):
    if r >= 1e6:
        return f"{r / 1e6:.2f} M"
    return f"{r / 1e3:.1f} k"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def qemu_version():
    out = subprocess.run([QEMU, "--version"], capture_output=True,
                         text=True).stdout
    return out.splitlines()[0] if out else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rate", type=int, default=20000,
                    help="first fixed rate tried, frames/s")
    ap.add_argument("--fixed-seconds", type=float, default=5.0)
    ap.add_argument("--flood-seconds", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-gso", dest="gso", action="store_false",
                    help="UDP flood with plain sendmmsg, not UDP GSO")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the forwarder to a CPU of its own")
    ap.add_argument("--only", choices=KINDS,
                    help="run only the udp or the stream rows")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
        args.fixed_seconds = 1.0
        args.flood_seconds = 1.0
    args.build_dir = os.path.abspath(args.build_dir)

    build(args.build_dir)
    b = Bench(args)
    started = time.monotonic()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    fwds = ("netbe", "qemu")
    rows = []
    details = []

    for kind in KINDS:
        if args.only and kind != args.only:
            continue
        for size in SIZES:
            label = f"{KIND_LABEL[kind]}, {size} B"
            g_rate, g_deliv = b.gen_alone(kind, size, args.flood_seconds)
            log(f"{label}: generator alone sends {fmt_rate(g_rate)}fps, "
                f"sink gets {fmt_rate(g_deliv)}fps")

            # (a) fixed rate, halved until neither forwarder drops.
            rate = args.rate
            while True:
                frames = int(rate * args.fixed_seconds)
                runs = {f: [] for f in fwds}
                dropped = None
                for _ in range(args.reps):
                    for f in fwds:
                        r = b.run_once(f, kind, size, rate=rate,
                                       frames=frames)
                        log(f"  fixed {rate} fps {f}: sent {r['sent']} "
                            f"delivered {r['delivered']} cpu "
                            f"{r['cpu']:.2f}s over {r['wall']:.2f}s")
                        if r["delivered"] != r["sent"]:
                            if r["sink_drops"] > 0:
                                log(f"  WARNING: the sink itself dropped "
                                    f"{r['sink_drops']}")
                            dropped = f
                            break
                        runs[f].append(r)
                    if dropped:
                        break
                if not dropped:
                    break
                if rate <= 1000:
                    raise SystemExit(f"{label}: {dropped} drops even at "
                                     f"{rate} fps")
                rate //= 2
                log(f"  {dropped} dropped: retrying at {rate} fps")
            cpu = {f: median([r["cpu"] / r["delivered"] * 1e6
                              for r in runs[f]]) for f in fwds}

            # (b) flood.
            flood = {f: [] for f in fwds}
            stalls = {f: 0 for f in fwds}
            fcpu = {f: [] for f in fwds}
            for _ in range(args.reps):
                for f in fwds:
                    r = b.run_once(f, kind, size,
                                   duration=args.flood_seconds)
                    dr = r["delivered"] / r["sink_seconds"]
                    flood[f].append(dr)
                    fcpu[f].append(r["cpu"] / r["wall"] * 100)
                    log(f"  flood {f}: sent {r['sent']} delivered "
                        f"{r['delivered']} = {fmt_rate(dr)}fps, cpu "
                        f"{r['cpu'] / r['wall'] * 100:.0f}%")
                    if kind == "udp" and r["offered"] < 1.5 * dr:
                        log(f"  WARNING: the generator offered only "
                            f"{fmt_rate(r['offered'])}fps: it may be what "
                            f"limits {f}")
                    if r["sink_drops"] > 0:
                        log(f"  WARNING: the sink's socket dropped "
                            f"{r['sink_drops']}: the sink may limit {f}")
                    if r["end"] != "duration":
                        # The sink saw nothing for 1 s, or EOF: a stall.
                        stalls[f] += 1
                        log(f"  WARNING: {f} stopped delivering during the "
                            f"flood (sink ended by {r['end']})")
            fl = {f: median(flood[f]) for f in fwds}
            best = max(fl.values())
            if best > 0.5 * min(g_rate, g_deliv):
                log(f"  WARNING: the generator/sink (alone "
                    f"{fmt_rate(min(g_rate, g_deliv))}fps) may limit the "
                    f"flood ({fmt_rate(best)}fps)")
            rows.append((label, rate, cpu, fl, stalls,
                         {f: median(fcpu[f]) for f in fwds}))
            details.append((label, g_rate, g_deliv))

    title = "netbe vs QEMU 7.2: hub forwarding"
    if args.self_test:
        title += " (SELF-TEST: QEMU in both columns)"
    out = [
        f"## {title}",
        "",
        f"- date: {date}",
        f"- machine: {machine()}",
        f"- QEMU: {qemu_version()}",
        "- CPUs: " + (f"forwarder pinned to CPU {b.cpus[-1]}, generator and "
                      f"sink to CPU {','.join(map(str, b.cpus[:-1]))}"
                      if b.cpus else "not pinned"),
        f"- command: `/usr/bin/python3 bench/run.py` "
        f"({args.reps} runs each, median; fixed rate for "
        f"{args.fixed_seconds:g} s, flood for {args.flood_seconds:g} s)",
        "",
        "| path, frame | fixed rate | CPU/frame netbe | CPU/frame QEMU "
        "| netbe/QEMU | flood netbe | flood QEMU | netbe/QEMU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    any_stall = False
    for label, rate, cpu, fl, stalls, _ in rows:
        mark = {f: " †" if stalls[f] else "" for f in fwds}
        any_stall = any_stall or any(stalls.values())
        out.append(
            f"| {label} | {rate / 1000:g} kfps "
            f"| {cpu['netbe']:.2f} µs | {cpu['qemu']:.2f} µs "
            f"| {cpu['netbe'] / cpu['qemu']:.2f} "
            f"| {fmt_rate(fl['netbe'])}fps{mark['netbe']} "
            f"| {fmt_rate(fl['qemu'])}fps{mark['qemu']} "
            f"| {fl['netbe'] / fl['qemu']:.2f} |")
    out += [
        "",
        "CPU/frame: forwarder utime+stime (/proc/PID/stat) over the run "
        "/ frames delivered, at the fixed offered rate (one clock tick, "
        f"{1000 // CLK_TCK} ms, is "
        + ", ".join(sorted({f"{1e6 / CLK_TCK / (r * args.fixed_seconds):.2f}"
                            f" µs at {r / 1000:g} kfps"
                            for _, r, *_ in rows}))
        + "); every run delivered all frames sent. "
        "Flood: frames/s reaching the sink while the generator sends as "
        "fast as it can"
        + (" (UDP: through UDP GSO, one datagram per frame on the wire; "
           "QEMU's socket gets them one by one, netbe asks for UDP_GRO and "
           "gets each run in one receive, which it cuts into frames)"
           if args.gso else "")
        + "; the forwarder's CPU use during the flood was "
        + "; ".join(f"{label}: netbe {c['netbe']:.0f}%, QEMU "
                    f"{c['qemu']:.0f}%" for label, *_, c in rows)
        + ". Generator straight into the sink (no forwarder): "
        + "; ".join(f"{label} {fmt_rate(min(g, d))}fps"
                    for label, g, d in details) + ".",
        "",
    ]
    if any_stall:
        out[-1:-1] = [
            "",
            "† in at least one run the forwarder stopped delivering before "
            "the end of the flood window (the sink saw no frame for 1 s, or "
            "the connection closed); the rate counts the whole window.",
        ]
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        with open(os.path.join(REPO, "bench", "results.md"), "w") as f:
            f.write(text)
    log(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
