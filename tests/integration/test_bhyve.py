"""bhyve's pull API (netbe/bhyve.h) as an external VMM uses it.

examples/bhyve-frontend.c, compiled against the installed library with
nothing but pkg-config (scripts/test.sh does it and passes the binary in
NETBE_EXAMPLE_BHYVE; without it the test installs the release build and
compiles it the same way), plays a tiny host behind netbe_init(): it
answers ARP, ICMP echo and UDP echo for its address and verifies every
checksum.  Against:

* a tap ("tapnbe...") that the frontend makes inside a namespace of the
  test, with the guest's header length 0, 10 and 12 (the backend's header
  or the frontend's own), with and without the checksum offload: the
  namespace pings it and gets UDP echoes back;
* a stream connection to the netbe daemon's learning switch, whose other
  port is a tap in a namespace: the namespace pings the frontend;
* netbe_rx_disable(): a stream peer that floods a stalled frontend is
  backpressured (its socket stops taking data) and loses nothing; through
  the daemon's switch, which never lets one VM hold up the others, every
  frame is either received after netbe_rx_enable() or counted as dropped
  in the daemon's "info stats"; traffic flows again afterwards.

Interfaces and namespaces have unique names and go at the end of each
test; no frame leaves the test's namespaces, unix sockets or loopback.
"""

import os
import queue
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, TIMEOUT, wait_for
from test_switch import VM, Monitor
from test_tap import Netns, link_exists, sh

FRONTEND_MAC = "52:54:00:be:00:01"
MAC = bytes.fromhex(FRONTEND_MAC.replace(":", ""))
PEER_MAC = bytes.fromhex("525400be0002")
ETH_PROBE = 0x88B5
F_GUEST_CSUM = 1 << 1
F_CSUM = 1 << 0


# ---- the frontend, built as an external VMM builds it ----

def build_examples(out_dir):
    """Install the release build into @out_dir and compile the examples
    against it with pkg-config, as scripts/test.sh does.
    Return: {example name: path}"""
    rel = os.environ.get("NETBE_BIN_RELEASE")
    build = Path(rel).parent if rel else REPO / "build-rel"
    if not (build / "build.ninja").exists():
        build = out_dir / "build"
        sh("meson", "setup", str(build), str(REPO), "--buildtype=release",
           "-Dtests=false")
    r = subprocess.run(["ninja", "-C", str(build)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    root = out_dir / "root"
    sh("meson", "install", "-C", str(build), "--destdir", str(root),
       "--quiet")
    pcs = list(root.rglob("netbe.pc"))
    assert pcs, "meson install put no netbe.pc"
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent))
    prefix = subprocess.run(["pkg-config", "--variable=prefix", "netbe"],
                            env=env, check=True, capture_output=True,
                            text=True).stdout.strip()
    flags = subprocess.run(
        ["pkg-config", f"--define-variable=prefix={root}{prefix}",
         "--cflags", "--libs", "--static", "netbe"],
        env=env, check=True, capture_output=True, text=True).stdout.split()
    out = {}
    for name in ("bhyve-frontend", "push-nic"):
        binary = out_dir / name
        r = subprocess.run(
            ["cc", "-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
             "-o", str(binary), str(REPO / "examples" / f"{name}.c")]
            + flags, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        out[name] = str(binary)
    return out


@pytest.fixture(scope="session")
def examples(tmp_path_factory):
    """The examples scripts/test.sh built (NETBE_EXAMPLE_BHYVE,
    NETBE_EXAMPLE_PUSH), else built here the same way: never skipped."""
    env = {"bhyve-frontend": os.environ.get("NETBE_EXAMPLE_BHYVE"),
           "push-nic": os.environ.get("NETBE_EXAMPLE_PUSH")}
    if all(env.values()):
        for name, path in env.items():
            assert os.access(path, os.X_OK), f"{name}: {path}"
        return env
    return build_examples(tmp_path_factory.mktemp("embed"))


@pytest.fixture
def frontend_bin(examples):
    return examples["bhyve-frontend"]


class Frontend:
    """A running bhyve-frontend; its stdout lines are read by a thread."""

    def __init__(self, binary, backend, ns=None, hdrlen=0, features=0,
                 extra=()):
        argv = [binary, "--mac", FRONTEND_MAC, "--ip", "10.78.0.2",
                "--hdrlen", str(hdrlen), "--features", f"{features:x}"]
        argv += list(extra) + [backend]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.ready = self.expect("ready")
        self.info = dict(kv.split("=") for kv in self.ready.split()[1:])

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01,
                                                  end - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                if self.proc.poll() is not None or time.monotonic() >= end:
                    raise AssertionError(
                        f"bhyve-frontend: no '{prefix}' line; "
                        f"rc={self.proc.poll()} "
                        f"stderr={self._stderr()!r}")
                continue
            if line.startswith(prefix):
                return line

    def _stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def _counters(self):
        """The "counters" line and netbe's info stats after it."""
        line = self.expect("counters")
        out = {"frontend": {k: int(v) for k, v in
                            (kv.split("=") for kv in line.split()[1:])}}
        while True:
            line = self.expect("")
            if line == "end":
                return out
            if ": " not in line or line.startswith("hub "):
                continue
            name, rest = line.split(": ", 1)
            out[name] = dict(kv.split("=") for kv in
                             rest.replace("drop: ", "").split())

    def counters(self):
        self.proc.send_signal(signal.SIGUSR1)
        return self._counters()

    def toggle_rx(self, want):
        self.proc.send_signal(signal.SIGUSR2)
        self.expect(f"rx {want}")

    def stop(self):
        """SIGTERM: the frontend prints its counters and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        c = self._counters()
        assert self.proc.wait(TIMEOUT) == 0, self._stderr()
        assert "ERROR" not in self._stderr()
        return c

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)


@pytest.fixture
def frontends():
    started = []

    def start(*args, **kw):
        f = Frontend(*args, **kw)
        started.append(f)
        return f
    try:
        yield start
    finally:
        for f in started:
            f.kill()


# ---- namespaces ----

@pytest.fixture
def netns():
    ns = Netns(prefix="nbe-", no_ipv6=True)
    try:
        yield ns
    finally:
        ns.cleanup()


def tap_name():
    return "tapnbe" + uuid.uuid4().hex[:6]


def address(ns, ifname, addr="10.78.0.1"):
    wait_for(lambda: link_exists(ns, ifname), what=f"tap {ifname}")
    sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
    sh("ip", "-n", ns, "link", "set", ifname, "up")


def ping(ns, count=3):
    r = sh("ip", "netns", "exec", ns, "ping", "-c", str(count), "-i", "0.2",
           "-W", "2", "10.78.0.2", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def neighbour(ns):
    return sh("ip", "-n", ns, "neigh", "show", "10.78.0.2").stdout


UDP_ECHO = r"""
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for size in (1, 100, 1400, 1472):
    data = os.urandom(size)
    for _ in range(3):
        s.sendto(data, ("10.78.0.2", 7))
        try:
            back, src = s.recvfrom(65536)
        except socket.timeout:
            continue
        break
    else:
        sys.exit(f"no echo of {size} bytes")
    assert back == data and src == ("10.78.0.2", 7), (size, src)
print("ok")
"""


def udp_echo(ns):
    r = sh("ip", "netns", "exec", ns, "python3", "-c", UDP_ECHO, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", \
        r.stdout + r.stderr


def no_errors(c):
    f = c["frontend"]
    for k in ("bad", "bad_offload", "send_errors", "rx_errors"):
        assert f[k] == 0, (k, c)


def no_drops(c):
    """Nothing dropped inside the frontend's netbe (its backend and pull
    NIC): backpressure held the frames back instead."""
    for name, s in c.items():
        if name == "frontend" or "queue_full" not in s:
            continue
        for k in ("queue_full", "purged", "oversize", "malformed", "error",
                  "no_peer", "link_down"):
            assert s[k] == "0", (name, k, c)


# ---- (a) a tap in a namespace ----

TAP_CASES = [
    # (id, backend form, hdrlen, features, netbe's header expected)
    ("bhyve-name-hdr0", "{tap}", 0, 0, 0),
    ("bhyve-name-hdr10", "{tap}", 10, 0, 10),
    ("bhyve-name-hdr12", "{tap}", 12, 0, 12),
    ("vnet-off-hdr12", "tap,ifname={tap},script=no,downscript=no,"
                       "vnet_hdr=off", 12, 0, 0),
    ("csum-hdr12", "{tap}", 12, F_CSUM | F_GUEST_CSUM, 12),
    ("csum-hdr10", "{tap}", 10, F_CSUM | F_GUEST_CSUM, 10),
]


@pytest.mark.parametrize("backend,hdrlen,features,be_len",
                         [c[1:] for c in TAP_CASES],
                         ids=[c[0] for c in TAP_CASES])
def test_tap_ping(frontend_bin, frontends, netns, backend, hdrlen,
                  features, be_len):
    ns = netns.new()
    tap = tap_name()
    fe = frontends(frontend_bin, backend.format(tap=tap), ns=ns,
                   hdrlen=hdrlen, features=features)
    assert int(fe.info["vnet_hdr_len"]) == be_len, fe.ready
    if be_len:
        assert int(fe.info["cap"], 16) & F_GUEST_CSUM, fe.ready
    assert int(fe.info["features"], 16) == features, fe.ready
    address(ns, tap)
    ping(ns)
    assert FRONTEND_MAC in neighbour(ns)  # the frontend answered ARP
    udp_echo(ns)
    c = fe.stop()
    f = c["frontend"]
    assert f["arp_replies"] >= 1 and f["icmp_replies"] >= 3, c
    assert f["udp_replies"] >= 4, c
    no_errors(c)
    if features & F_GUEST_CSUM:
        # the namespace's UDP checksums came partial: the frontend did them
        assert f["csum_completed"] >= 1, c
    else:
        # nothing the frontend did not accept reached it
        assert f["csum_completed"] == 0, c
    assert not link_exists(ns, tap)  # netbe_cleanup() closed it


def test_bad_header_length_refused(frontend_bin, netns):
    ns = netns.new()
    tap = tap_name()
    r = sh("ip", "netns", "exec", ns, frontend_bin, "--hdrlen", "11", tap,
           check=False)
    assert r.returncode == 2 and "--hdrlen" in r.stderr
    r = sh("ip", "netns", "exec", ns, frontend_bin, "netmap:vale0", check=False)
    assert r.returncode == 1 and "netbe_init" in r.stderr, r.stderr


# ---- (b) a stream to the daemon's switch ----

class Daemon:
    def __init__(self, proc, sock, mon, ns, tap):
        self.proc, self.sock, self.ns, self.tap = proc, sock, ns, tap
        self.mon = Monitor(mon)

    def stats(self):
        return self.mon.stats()


@pytest.fixture
def daemon(netbe_bin, netns, tmp_path):
    """netbe in a namespace: a learning switch on a unix socket, and a tap
    of that namespace on it (10.78.0.1)."""
    ns = netns.new()
    tap = tap_name()
    sock, mon = tmp_path / "sw.sock", tmp_path / "mon.sock"
    log = open(tmp_path / "netbe.log", "a+")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, netbe_bin, "-nodefaults",
         "-netdev", f"stream,id=sw,server=on,addr.type=unix,"
                    f"addr.path={sock},hubid=1",
         "-netdev", f"tap,id=t0,ifname={tap},script=no,downscript=no",
         "-netdev", "hubport,id=p0,hubid=1,netdev=t0",
         "-monitor", f"unix:{mon},server=on,wait=off"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    d = None
    try:
        wait_for(lambda: sock.exists() and mon.exists(), what="the daemon")
        address(ns, tap)
        d = Daemon(proc, str(sock), str(mon), ns, tap)
        yield d
        d.mon.close()
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0, "netbe did not exit cleanly"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        print(log.read()[-5000:])
        log.close()


def stream_backend(path):
    return f"stream,server=off,addr.type=unix,addr.path={path}"


def on_switch(d, n):
    wait_for(lambda: len([k for k in d.stats() if k.startswith("sw.")]) == n,
             what=f"{n} VMs on the switch")


@pytest.mark.parametrize("hdrlen", [0, 12])
def test_stream_to_switch_ping(frontend_bin, frontends, daemon, hdrlen):
    fe = frontends(frontend_bin, stream_backend(daemon.sock), hdrlen=hdrlen)
    # a stream carries no header: the frontend keeps its own
    assert fe.info["vnet_hdr_len"] == "0" and fe.info["cap"] == "0x0"
    on_switch(daemon, 1)
    ping(daemon.ns)
    assert FRONTEND_MAC in neighbour(daemon.ns)
    udp_echo(daemon.ns)
    c = fe.stop()
    f = c["frontend"]
    assert f["arp_replies"] >= 1 and f["icmp_replies"] >= 3, c
    no_errors(c)


# ---- (c) netbe_rx_disable(): backpressure, nothing lost silently ----

def probe(i, size=200, src=PEER_MAC):
    head = MAC + src + struct.pack("!H", ETH_PROBE)
    body = struct.pack("!I", i)
    return head + body + b"\0" * (size - len(head) - len(body))


def arp_request(src=PEER_MAC, src_ip="10.78.0.9"):
    return (b"\xff" * 6 + src + b"\x08\x06" +
            struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src +
            socket.inet_aton(src_ip) + b"\0" * 6 +
            socket.inet_aton("10.78.0.2")).ljust(60, b"\0")


def is_arp_reply(f, to=PEER_MAC):
    return (len(f) >= 42 and f[:6] == to and f[6:12] == MAC and
            f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02")


class StreamPeer:
    """A QEMU-stream server (4-byte length, frame) the frontend connects
    to; the test writes to it without blocking to see backpressure."""

    def __init__(self, path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.listener.settimeout(TIMEOUT)
        self.conn = None

    def accept(self):
        self.conn, _ = self.listener.accept()

    def send_until_blocked(self, data, stall=1.0):
        """Write @data without blocking; Return: bytes written by the time
        the socket took nothing for @stall seconds (or all of it)."""
        self.conn.setblocking(False)
        sent, idle = 0, None
        while sent < len(data):
            try:
                sent += self.conn.send(data[sent:sent + (1 << 16)])
                idle = None
            except BlockingIOError:
                now = time.monotonic()
                idle = idle or now
                if now - idle >= stall:
                    break
                time.sleep(0.01)
        self.conn.setblocking(True)
        return sent

    def read_frames(self, want, timeout=TIMEOUT):
        self.conn.settimeout(timeout)
        buf, out = b"", []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while len(buf) >= 4 and \
                    len(buf) >= 4 + struct.unpack("!I", buf[:4])[0]:
                n = struct.unpack("!I", buf[:4])[0]
                out.append(buf[4:4 + n])
                buf = buf[4 + n:]
            if any(want(f) for f in out):
                return out
            try:
                chunk = self.conn.recv(1 << 16)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        raise AssertionError(f"no such frame among {len(out)}")

    def close(self):
        for s in (self.conn, self.listener):
            if s:
                s.close()


def framed(frames):
    return b"".join(struct.pack("!I", len(f)) + f for f in frames)


def test_rx_disabled_backpressures_stream(frontend_bin, frontends,
                                          tmp_path):
    """A stalled frontend stops its backend reading: the peer's socket
    fills and nothing is dropped; after netbe_rx_enable() every frame
    arrives and the frontend answers again."""
    path = str(tmp_path / "peer.sock")
    peer = StreamPeer(path)
    try:
        fe = frontends(frontend_bin, stream_backend(path), hdrlen=12)
        peer.accept()
        peer.conn.sendall(framed([arp_request()]))
        peer.read_frames(is_arp_reply)
        fe.toggle_rx("disabled")
        n = 40000  # 8 MB: past the NIC queue's limits and the socket's
        data = framed([probe(i) for i in range(n)])
        sent = peer.send_until_blocked(data)
        assert sent < len(data), "the stalled frontend took everything"
        c = fe.counters()
        print(f"blocked after {sent} of {len(data)} bytes: {c}")
        assert c["frontend"]["probes"] == 0, c  # disabled: none taken
        assert c["frontend"]["rx"] == 1, c
        fe.toggle_rx("enabled")
        rest = threading.Thread(target=peer.conn.sendall,
                                args=(data[sent:],), daemon=True)
        rest.start()
        wait_for(lambda: fe.counters()["frontend"]["probes"] == n,
                 timeout=30, what="every flooded frame at the frontend")
        rest.join(TIMEOUT)
        peer.conn.sendall(framed([arp_request()]))
        peer.read_frames(is_arp_reply)
        c = fe.stop()
        no_errors(c)
        no_drops(c)
    finally:
        peer.close()


def test_rx_pause_loses_nothing(frontend_bin, frontends, tmp_path):
    """--rx-pause-ms: netbe_rx_disable() after every frame and
    netbe_rx_enable() from a timer: slow, but every frame arrives."""
    path = str(tmp_path / "peer.sock")
    peer = StreamPeer(path)
    try:
        fe = frontends(frontend_bin, stream_backend(path),
                       extra=["--rx-pause-ms", "1"])
        peer.accept()
        n = 300
        peer.conn.sendall(framed([probe(i) for i in range(n)]))
        wait_for(lambda: fe.counters()["frontend"]["probes"] == n,
                 timeout=30, what="every frame through the pauses")
        c = fe.stop()
        assert c["frontend"]["rx_disables"] >= n, c
        no_errors(c)
        no_drops(c)
    finally:
        peer.close()


def daemon_drops(stats):
    return sum(int(s.get("queue_full", 0)) for s in stats.values())


def test_rx_disabled_on_switch_counts_drops(frontend_bin, frontends,
                                            daemon):
    """The switch does not let a stalled VM hold the others up: what the
    stalled frontend cannot take is dropped and counted in info stats;
    received plus counted drops is everything sent, and after
    netbe_rx_enable() the namespace pings the frontend again."""
    fe = frontends(frontend_bin, stream_backend(daemon.sock), hdrlen=10)
    on_switch(daemon, 1)
    ping(daemon.ns, count=1)
    vm = VM(daemon.sock)
    try:
        on_switch(daemon, 2)
        fe.toggle_rx("disabled")
        before = daemon_drops(daemon.stats())
        n = 60000
        for start in range(0, n, 2000):
            vm.send([probe(i) for i in range(start, start + 2000)])
        # the switch read all of it: each frame went somewhere
        wait_for(lambda: int(daemon.stats()["sw.1"]["tx"].split("/")[0])
                 >= n, what="the switch to read the flood")
        assert fe.counters()["frontend"]["probes"] == 0
        dropped = daemon_drops(daemon.stats()) - before
        print(f"{dropped} of {n} dropped: {daemon.stats()}")
        assert dropped > 0, daemon.stats()
        fe.toggle_rx("enabled")

        def settled():
            return (fe.counters()["frontend"]["probes"] + dropped == n and
                    daemon_drops(daemon.stats()) - before == dropped)
        wait_for(settled, timeout=30,
                 what="received + dropped == sent")
        ping(daemon.ns)
        c = fe.stop()
        no_errors(c)
        no_drops(c)  # the drops were the switch's, for this port only
        assert c["frontend"]["icmp_replies"] >= 4, c
    finally:
        vm.close()


# ---- the push example ----

def test_push_nic_reflects_and_backpressures(examples, tmp_path):
    """examples/push-nic.c on its own poll() loop: every frame sent to its
    MAC comes back with the addresses swapped, in order, although its
    ring of 4 says "not now" most of the time; at --max it deletes its
    NIC from inside receive() and exits cleanly."""
    path = str(tmp_path / "peer.sock")
    peer = StreamPeer(path)
    n = 2000
    try:
        p = subprocess.Popen(
            [examples["push-nic"], "--ring", "4", "--hold-ms", "1",
             "--max", str(n + 1), "--mac", FRONTEND_MAC,
             f"stream,id=n0,server=off,addr.type=unix,addr.path={path}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            peer.accept()
            # reflected frames come back while we send: read meanwhile
            sender = threading.Thread(
                target=peer.conn.sendall,
                args=(framed([probe(i) for i in range(n)]),), daemon=True)
            sender.start()
            got = peer.read_frames(
                lambda f: f[14:18] == struct.pack("!I", n - 1), timeout=30)
            sender.join(TIMEOUT)
            assert len(got) == n
            for i, f in enumerate(got):
                assert f[:6] == PEER_MAC and f[6:12] == MAC, i
                assert f[14:18] == struct.pack("!I", i), "lost or reordered"
            peer.conn.sendall(framed([probe(n)]))  # the last: --max
            out, err = p.communicate(timeout=TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert p.returncode == 0, err
        counters = [ln for ln in out.splitlines()
                    if ln.startswith("counters")][0]
        c = dict(kv.split("=") for kv in counters.split()[1:])
        assert int(c["reflected"]) == n and int(c["not_now"]) > 0, out
    finally:
        peer.close()
