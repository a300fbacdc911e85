"""netbe's switch for many VMs, under load and abuse.

A stream listener with hubid= takes any number of VM connections, each its
own client and hub port.  These tests are what a user relies on: one VM
that stops reading costs the others nothing and netbe's memory stays
bounded; a peer that sends garbage, a huge length or half a frame loses
only its own connection; malformed -netdev strings fail like QEMU's.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import peers
from test_daemon import qemu_stderr_as_netbe

PROMPT = b"(qemu) "


def frame(tag, i, size=60):
    head = b"\xff" * 6 + bytes([0x52, 0x54, 0, 0x11, tag, 0]) + b"\x88\xb5"
    body = struct.pack("!I", i)
    return head + body + b"\0" * (size - len(head) - len(body))


class VM:
    """A QEMU-stream peer: 4-byte big-endian length, then the frame."""

    def __init__(self, path, rcvbuf=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(path)
        self.frames = []
        self.lock = threading.Lock()
        self.reader = None
        self.closed = False

    def send(self, frames):
        self.sock.sendall(b"".join(struct.pack("!I", len(f)) + f
                                   for f in frames))

    def start_reading(self):
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        # one bytearray and an offset: slicing the rest off after each
        # frame would copy it again and again
        buf = bytearray()
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            buf += chunk
            got = []
            off = 0
            while len(buf) - off >= 4:
                n = struct.unpack_from("!I", buf, off)[0]
                if len(buf) - off < 4 + n:
                    break
                got.append(bytes(buf[off + 4:off + 4 + n]))
                off += 4 + n
            del buf[:off]
            with self.lock:
                self.frames.extend(got)

    def count(self, tag):
        with self.lock:
            return sum(1 for f in self.frames if f[10] == tag)

    def count_from(self, mac):
        with self.lock:
            return sum(1 for f in self.frames if f[6:12] == mac)

    def numbers(self, tag):
        with self.lock:
            return [struct.unpack("!I", f[14:18])[0] for f in self.frames
                    if f[10] == tag]

    def close(self):
        # a reader thread blocked in recv() keeps the socket open past
        # close(); shutdown() ends the connection for real
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Monitor:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self._until_prompt()

    def _until_prompt(self):
        buf = b""
        self.sock.settimeout(10)
        while not buf.endswith(PROMPT):
            chunk = self.sock.recv(65536)
            assert chunk, "monitor closed"
            buf += chunk
        return buf[:-len(PROMPT)].decode().replace("\r\n", "\n")

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self._until_prompt()

    def stats(self):
        out = {}
        for line in self.cmd("info stats").splitlines():
            name, rest = line.split(": ", 1)
            fields = dict(kv.split("=") for kv in rest.replace("drop: ", "")
                          .split())
            out[name] = fields
        return out

    def close(self):
        self.sock.close()


@pytest.fixture
def switch(netbe_bin, tmp_path):
    sock = str(tmp_path / "lan.sock")
    mon = str(tmp_path / "mon.sock")
    log = open(tmp_path / "netbe.log", "a+")
    # Under ASan, freed memory waits in a quarantine (256 MiB by default)
    # and would read as growth; a small one keeps RSS meaningful.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":quarantine_size_mb=4").lstrip(":")
    proc = subprocess.Popen(
        [netbe_bin, "-nodefaults", "-netdev",
         f"stream,id=lan,server=on,addr.type=unix,addr.path={sock},hubid=0,"
         "learning=off",
         "-monitor", f"unix:{mon},server=on,wait=off"],
        env=env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        peers.wait_for(lambda: peers.unix_listening(sock)
                       and peers.unix_listening(mon), what="netbe")
        m = Monitor(mon)
        yield proc, sock, m, log
        m.close()
        # a clean exit: under ASan, LeakSanitizer fails it on any leak
        proc.terminate()
        assert proc.wait(10) == 0, "netbe did not exit cleanly"
    finally:
        peers.stop(proc)
        log.seek(0)
        print(log.read()[-5000:])
        log.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def clients(mon):
    """Every client name info network shows, hub ports and peers alike."""
    return re.findall(r"([\w.#-]+): ", mon.cmd("info network"))


def wait_clients(mon, n):
    peers.wait_for(lambda: len([c for c in clients(mon)
                                if c.startswith("lan.")]) == n,
                   what=f"{n} VMs on the switch")


def test_stalled_vm_costs_the_others_nothing(switch):
    proc, sock, mon, log = switch
    a, b, c = VM(sock), VM(sock), VM(sock, rcvbuf=4096)
    wait_clients(mon, 3)
    b.start_reading()
    base = rss_kib(proc.pid)
    peak = base
    total = 60000
    for start in range(0, total, 1000):
        a.send([frame(1, i) for i in range(start, start + 1000)])
        time.sleep(0.002)
        peak = max(peak, rss_kib(proc.pid))
    peers.wait_for(lambda: b.count(1) == total, timeout=30,
                   what="every frame at the reading VM")
    assert b.numbers(1) == list(range(total)), "lost or reordered at B"
    # c never read: at most QEMU's 10000 frames wait for it, the rest are
    # dropped and counted; memory stays bounded
    stats = mon.stats()
    c_name = sorted(n for n in stats if n.startswith("lan."))[2]
    assert int(stats[c_name]["queue_full"]) > 0, stats[c_name]
    assert int(stats[c_name]["queued"]) <= 10000
    assert peak - base < 64 * 1024, f"RSS grew {peak - base} KiB"
    # c reads again: what waited arrives in order, then new traffic flows
    c.start_reading()
    peers.wait_for(lambda: int(mon.stats()[c_name]["queued"]) == 0,
                   timeout=30, what="c's queue to drain")
    a.send([frame(2, i) for i in range(500)])
    peers.wait_for(lambda: c.count(2) == 500 and b.count(2) == 500,
                   timeout=30, what="traffic to resume")
    got = c.numbers(1)
    assert got == sorted(got), "c's queued frames reordered"
    assert c.numbers(2) == list(range(500))
    assert proc.poll() is None


def exchange_ok(sock, tag):
    """Two fresh VMs still talk through the switch."""
    x, y = VM(sock), VM(sock)
    y.start_reading()
    time.sleep(0.1)
    x.send([frame(tag, i) for i in range(100)])
    peers.wait_for(lambda: y.count(tag) == 100, what="frames between VMs")
    assert y.numbers(tag) == list(range(100))
    x.close()
    y.close()


@pytest.mark.parametrize("payload,logged", [
    (struct.pack("!I", 0xffffffff), "oversized packet"),  # huge length
    (struct.pack("!I", 70000) + b"x" * 100, "oversized packet"),
    (struct.pack("!I", 100) + b"y" * 10, "in the middle of a frame"),
    (b"", None),                                          # connect, close
    # 00 01 02 03 reads as a legal 66051-byte length; the rest is short
    (bytes(range(256)) * 64, "in the middle of a frame"),  # garbage
], ids=["huge-length", "over-limit", "truncated", "connect-close",
        "garbage"])
def test_bad_peer_loses_only_its_connection(switch, payload, logged):
    proc, sock, mon, log = switch
    good_a, good_b = VM(sock), VM(sock)
    good_b.start_reading()
    wait_clients(mon, 2)
    bad = VM(sock)
    wait_clients(mon, 3)
    if payload:
        bad.sock.sendall(payload)
    if payload.startswith(struct.pack("!I", 0xffffffff)) or \
            payload.startswith(struct.pack("!I", 70000)):
        # netbe closes the connection by itself
        bad.sock.settimeout(5)
        assert bad.sock.recv(100) == b""
    bad.close()
    wait_clients(mon, 2)
    good_a.send([frame(3, i) for i in range(200)])
    peers.wait_for(lambda: good_b.count(3) == 200, what="good traffic")
    assert good_b.numbers(3) == list(range(200))
    assert proc.poll() is None
    # one warning line names what the bad peer did, and nothing else did
    log.seek(0)
    warnings = [l for l in log.read().splitlines() if "warning" in l]
    if logged:
        assert len(warnings) == 1 and logged in warnings[0], warnings
    else:
        assert warnings == []
    good_a.close()
    good_b.close()


def test_a_thousand_connects(switch):
    """Connect storms cost nothing that stays: after a first round of a
    thousand connects (some refused over max-connections), a second round
    leaves file descriptors and memory where the first left them."""
    proc, sock, mon, log = switch

    def storm():
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.close()
        wait_clients(mon, 0)

    exchange_ok(sock, 4)
    wait_clients(mon, 0)
    fds = nfds(proc.pid)
    storm()
    assert nfds(proc.pid) == fds, "file descriptors leaked"
    rss = rss_kib(proc.pid)
    storm()
    assert nfds(proc.pid) == fds, "file descriptors leaked"
    assert rss_kib(proc.pid) - rss < 4 * 1024, "memory grew"
    exchange_ok(sock, 5)
    assert proc.poll() is None


def test_switch_learns_and_stops_flooding(netbe_bin, tmp_path):
    sock = str(tmp_path / "lan.sock")
    mon_path = str(tmp_path / "mon.sock")
    proc = subprocess.Popen(
        [netbe_bin, "-nodefaults", "-netdev",
         f"stream,id=lan,server=on,addr.type=unix,addr.path={sock},hubid=0",
         "-monitor", f"unix:{mon_path},server=on,wait=off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        peers.wait_for(lambda: peers.unix_listening(sock)
                       and peers.unix_listening(mon_path), what="netbe")
        mon = Monitor(mon_path)
        a, b, c = VM(sock), VM(sock), VM(sock)
        for v in (a, b, c):
            v.start_reading()
        wait_clients(mon, 3)
        mac = lambda n: bytes([0x52, 0x54, 0, 0, 0, n])
        uni = lambda dst, src, i: (mac(dst) + mac(src) + b"\x88\xb5"
                                   + struct.pack("!I", i) + b"\0" * 42)
        # b announces itself; then a's frames to b reach b only
        b.send([uni(0xff, 2, 0)[:0] + b"\xff" * 6 + mac(2) + b"\x88\xb5"
                + b"\0" * 46])
        peers.wait_for(lambda: len(a.frames) == 1 and len(c.frames) == 1,
                       what="b's broadcast flooded")
        a.send([uni(2, 1, i) for i in range(50)])
        peers.wait_for(lambda: len(b.frames) == 50, what="unicast to b")
        time.sleep(0.3)
        assert len(c.frames) == 1, "unicast to a learned MAC was flooded"
        mon.close()
    finally:
        peers.stop(proc)


BAD_NETDEVS = [
    "stream,id=s",
    "stream,id=s,server=on",
    "stream,id=s,addr.type=unix",
    "stream,id=s,addr.type=inet,addr.host=127.0.0.1",
    "stream,id=s,addr.type=foo",
    "stream,id=s,server=maybe,addr.type=unix,addr.path=/nonexistent/x",
    "stream,id=s,addr.type=unix,addr.path=/nonexistent/x,foo=1",
    "dgram,id=d",
    "dgram,id=d,local.type=unix",
    "dgram,id=d,remote.type=inet,remote.host=127.0.0.1,remote.port=1",
    "socket,id=k",
    "socket,id=k,listen=127.0.0.1:1,connect=127.0.0.1:2",
    "socket,id=k,udp=127.0.0.1:1",
    "socket,id=k,listen=127.0.0.1:1,localaddr=127.0.0.1:2",
    "socket,id=k,connect=nocolon",
    "socket,id=k,mcast=127.0.0.1:5000",
]


@pytest.mark.parametrize("spec", BAD_NETDEVS)
def test_malformed_netdev_matches_qemu(procs, netbe, qemu, spec):
    q_rc, _, q_err = procs.run(qemu + ["-netdev", spec])
    n_rc, n_out, n_err = procs.run([netbe, "-nodefaults", "-netdev", spec])
    assert (q_rc, n_rc) == (1, 1)
    assert n_out == b""
    want = qemu_stderr_as_netbe(q_err.decode()).splitlines(keepends=True)[0]
    assert n_err.decode().splitlines(keepends=True)[0] == want


def test_flow_resumes_after_a_slow_reader(netbe_bin, tmp_path):
    """stream -> hub -> stream under a flood: the reader slows down (netbe
    must hold frames and stop reading the writer), then reads at full
    speed again, and forwarding must resume.  This once stalled for good:
    a batch-end flush emptied the output buffer and nothing asked for the
    write event that releases the held frames."""
    ins, outs = str(tmp_path / "in.sock"), str(tmp_path / "out.sock")
    proc = subprocess.Popen(
        [netbe_bin, "-nodefaults",
         "-netdev", f"stream,id=in,server=on,addr.type=unix,addr.path={ins}",
         "-netdev", f"stream,id=out,server=on,addr.type=unix,addr.path={outs}",
         "-netdev", "hubport,id=h0,hubid=0,netdev=in",
         "-netdev", "hubport,id=h1,hubid=0,netdev=out"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        peers.wait_for(lambda: peers.unix_listening(ins)
                       and peers.unix_listening(outs), what="netbe")
        sink = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sink.connect(outs)
        gen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        gen.connect(ins)
        f = frame(6, 0, 1514)
        chunk = (struct.pack("!I", len(f)) + f) * 100

        def flood():
            gen.settimeout(0.2)
            while not stop.is_set():
                try:
                    gen.sendall(chunk)
                except socket.timeout:
                    pass
                except OSError:
                    return

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        sink.settimeout(0.2)

        def read_for(seconds, pause=0.0):
            got, end = 0, time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    got += len(sink.recv(1 << 20))
                except socket.timeout:
                    pass
                if pause:
                    time.sleep(pause)
            return got

        assert read_for(0.5) > 0
        for cycle in range(10):
            read_for(0.5, pause=0.05)    # a slow reader: backpressure
            resumed = read_for(0.4)      # reading at full speed again
            assert resumed > 100 * 1518, (
                f"cycle {cycle}: only {resumed} bytes after resuming")
        assert proc.poll() is None
    finally:
        stop.set()
        peers.stop(proc)


def test_dead_connections_free_their_slots(netbe_bin, tmp_path):
    """A connect storm whose peers are gone before netbe reads them must
    not keep VMs out: at max-connections netbe first drops the connections
    that already hung up."""
    sock = str(tmp_path / "lan.sock")
    mon_path = str(tmp_path / "mon.sock")
    log = open(tmp_path / "netbe.log", "a+")
    proc = subprocess.Popen(
        [netbe_bin, "-nodefaults", "-netdev",
         f"stream,id=lan,server=on,addr.type=unix,addr.path={sock},hubid=0,"
         "learning=off,max-connections=4",
         "-monitor", f"unix:{mon_path},server=on,wait=off"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        peers.wait_for(lambda: peers.unix_listening(sock)
                       and peers.unix_listening(mon_path), what="netbe")
        mon = Monitor(mon_path)
        # every connect lands in the backlog and closes before netbe runs,
        # then two real VMs: one accept batch takes them all at once
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            for _ in range(40):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock)
                s.close()
            a, b = VM(sock), VM(sock)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        b.start_reading()
        wait_clients(mon, 2)
        a.send([frame(6, i) for i in range(50)])
        peers.wait_for(lambda: b.count(6) == 50, what="frames between VMs")
        assert "refused" not in mon.cmd("info network")
        assert not b.closed
        a.close()
        b.close()
        mon.close()
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        peers.stop(proc)
        log.seek(0)
        print(log.read()[-3000:])
        log.close()
