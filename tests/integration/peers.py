"""Real peers for the integration tests: QEMU 7.2 as a netdev forwarder,
unix-datagram "taps" the test owns, and network namespaces for multicast.

A QEMU (`-M none`) or netbe process joins the netdev under test to a dgram
netdev whose remote is a unix datagram socket owned by the test, through
hub 0.  Frames the test writes into one tap must come out of the other tap
byte-exact and in order.  Unix sockets cross network namespaces, so the
multicast cases run both forwarders in a namespace the test made while the
test itself stays outside.
"""
import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid

QEMU = "qemu-system-x86_64"


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tap:
    """A unix datagram socket the test owns; the forwarder's dgram netdev
    sends to it and receives from `peer_path`.

    A unix datagram socket queues at most net.unix.max_dgram_qlen (10)
    datagrams whatever its buffer size, so a reader thread drains it all
    the time: a tap read only after the sending is done would push the
    forwarder into backpressure and the test's own sendto() would block.
    """

    def __init__(self, directory, name):
        self.path = os.path.join(directory, name + ".test")
        self.peer_path = os.path.join(directory, name + ".fwd")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.frames = []
        self.cond = threading.Condition()
        self.running = True
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while self.running:
            try:
                f = self.sock.recv(1 << 17)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                self.frames.append(f)
                self.cond.notify_all()

    def netdev(self, nid="tap"):
        return (f"dgram,id={nid},local.type=unix,local.path={self.peer_path},"
                f"remote.type=unix,remote.path={self.path}")

    def send(self, frame):
        self.sock.sendto(frame, self.peer_path)

    def recv(self, timeout):
        """The oldest frame not yet taken, or None after `timeout`."""
        with self.cond:
            if not self.frames:
                self.cond.wait(timeout)
            return self.frames.pop(0) if self.frames else None

    def drain(self):
        time.sleep(0.05)
        with self.cond:
            self.frames.clear()

    def close(self):
        self.running = False
        self.reader.join()
        self.sock.close()


def forwarder_args(netdevs):
    """-netdev list joining every netdev but the first two hubports."""
    args = []
    for n in netdevs:
        args += ["-netdev", n]
    return args


def hub_join(ids):
    return [f"hubport,id=hp{i},hubid=0,netdev={nid}" for i, nid in enumerate(ids)]


def in_netns(ns, argv):
    return ["ip", "netns", "exec", ns] + argv if ns else argv


def start_qemu(netdevs, ns=None, log=None):
    argv = [QEMU, "-M", "none", "-nodefaults", "-display", "none",
            "-monitor", "none", "-serial", "none"] + forwarder_args(netdevs)
    return subprocess.Popen(in_netns(ns, argv), stdin=subprocess.DEVNULL,
                            stdout=log or subprocess.DEVNULL,
                            stderr=log or subprocess.DEVNULL)


def start_netbe(binary, netdevs, ns=None, log=None, extra=()):
    argv = [binary] + forwarder_args(netdevs) + list(extra)
    return subprocess.Popen(in_netns(ns, argv), stdin=subprocess.DEVNULL,
                            stdout=log or subprocess.DEVNULL,
                            stderr=log or subprocess.DEVNULL)


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def listening(port, ns=None):
    """True when something listens on 127.0.0.1:port (asked of the kernel,
    not by connecting: a probe would take a one-client server's slot)."""
    out = subprocess.run(in_netns(ns, ["ss", "-Hltn", f"sport = :{port}"]),
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def unix_listening(path):
    if not os.path.exists(path):
        return False
    out = subprocess.run(["ss", "-Hlx", f"src {path}"], capture_output=True,
                         text=True).stdout
    return path in out


@contextlib.contextmanager
def netns():
    """A fresh network namespace with loopback up and able to multicast."""
    name = "netbe-test-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "set", "lo", "multicast", "on"],
                    ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "-n", name] + cmd[1:], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def frames(count, tag):
    """Ethernet-shaped broadcast frames of many sizes, each unique."""
    out = []
    for i in range(count):
        size = [60, 64, 128, 1514, 9000, 65000][i % 6] if i % 7 else 14 + i
        head = b"\xff" * 6 + bytes([0x52, 0x54, 0, 0xab, tag, i & 0xff])
        head += b"\x88\xb5"  # local experimental ethertype
        body = (f"{tag}:{i}:".encode() * (size // 4 + 1))[: size - len(head)]
        out.append(head + body)
    return out


def expect_frames(tap, want, timeout=5.0, ignore=()):
    """Read from `tap` until every frame of `want` arrived, in order.
    Frames in `ignore` (multicast echoes of our own) are skipped."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < len(want) and time.monotonic() < deadline:
        f = tap.recv(max(0.01, deadline - time.monotonic()))
        if f is None:
            break
        if f in ignore:
            continue
        got.append(f)
    return got


@contextlib.contextmanager
def tempdir():
    d = tempfile.mkdtemp(prefix="netbe-it-")
    try:
        yield d
    finally:
        for root, dirs, files in os.walk(d, topdown=False):
            for f in files:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, f))
            for x in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, x))
        with contextlib.suppress(OSError):
            os.rmdir(d)
