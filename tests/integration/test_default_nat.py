"""Real Linux guests (QEMU TCG) on netbe's default network, which is the
learning switch plus user-mode NAT: each gets its DHCP lease, resolves a
name through 10.0.2.3, fetches from a server on the host's 127.0.0.1 via
10.0.2.2, serves a port the host reaches through hostfwd_add, and they
reach each other, one of them over the default network's vhost-user
path.

No traffic leaves the machine: netbe runs inside a network namespace of
the test's with nothing but loopback, and `ip netns exec` gives it a
resolv.conf (/etc/netns/NAME/resolv.conf) naming the test's own DNS
server on that namespace's 127.0.0.1.
"""
import os
import socket
import subprocess
import uuid

import pytest

import guest
import peers
from conftest import TIMEOUT, wait_for
from test_tap import sh

DNS_SERVER = r"""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    end = q.index(b"\0", 12) + 5
    name = q[12:end - 5]
    qtype = struct.unpack("!H", q[end - 4:end - 2])[0]
    ans = b""
    n = 0
    if name == b"\x04test\x05netbe\x07example\x03org" and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + \
            bytes([198, 51, 100, 7])
        n = 1
    r = struct.pack("!HHHHHH", qid, 0x8180 if n else 0x8183, 1, n, 0, 0)
    s.sendto(r + q[12:end] + ans, peer)
"""

HTTP_SERVER = r"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000))
s.listen(8)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(b"NETBE-FROM-HOST " + peer[0].encode() + b"\n")
    c.close()
"""

# in the guest, once it has its lease
GUEST_RUN = """
nslookup test.netbe.example.org 10.0.2.3 | grep -q 198.51.100.7 && \
    echo NETBE-DNS-OK
nc 10.0.2.2 8000 </dev/null | sed 's/^/NETBE-GOT /'
(while true; do echo NETBE-SERVED | nc -l -p 22; done) &
echo NETBE-SERVING
"""


@pytest.fixture
def nat_ns():
    name = "nbn-" + uuid.uuid4().hex[:8]
    etc = f"/etc/netns/{name}"
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    os.makedirs(etc, exist_ok=True)
    with open(f"{etc}/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.1\n")
    try:
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)
        for f in os.listdir(etc):
            os.unlink(os.path.join(etc, f))
        os.rmdir(etc)


def in_ns(ns, args):
    return ["ip", "netns", "exec", ns] + list(args)


def hmp(path, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    s.settimeout(TIMEOUT)
    buf = b""
    while not buf.endswith(b"(qemu) "):
        buf += s.recv(4096)
    s.sendall(line.encode() + b"\n")
    out = b""
    while not out.endswith(b"(qemu) "):
        out += s.recv(4096)
    s.close()
    return out.decode()


def log_has(f, text):
    f.seek(0)
    return text in f.read()


def test_guests_on_the_default_network_reach_host_and_each_other(
        netbe_bin, tmp_path, nat_ns):
    initrd = str(tmp_path / "initrd.gz")
    image = guest.build_initramfs(initrd)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    sock = tmp_path / "netbe" / "default.sock"
    mon = tmp_path / "netbe" / "monitor.sock"
    logs = {n: open(tmp_path / f"{n}.log", "a+")
            for n in ("netbe", "a", "b", "c")}
    procs = []
    try:
        for prog in (DNS_SERVER, HTTP_SERVER):
            p = subprocess.Popen(in_ns(nat_ns, ["python3", "-c", prog]),
                                 stdout=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL)
            procs.append(p)
            assert p.stdout.readline().strip() == b"ready"
        netbe = subprocess.Popen(in_ns(nat_ns, [netbe_bin]), env=env,
                                 stdin=subprocess.DEVNULL,
                                 stdout=logs["netbe"],
                                 stderr=subprocess.STDOUT)
        procs.append(netbe)
        # the sockets come first, then netbe prints what they are
        wait_for(lambda: sock.exists() and mon.exists() and
                 log_has(logs["netbe"], "hostfwd_add"),
                 what="the default network, its monitor and its banner")
        logs["netbe"].seek(0)
        banner = logs["netbe"].read()
        assert "with user-mode NAT" in banner, banner
        assert "DNS 10.0.2.3" in banner and "hostfwd_add" in banner, banner
        netdev = f"stream,id=n0,server=off,addr.type=unix,addr.path={sock}"
        # the guests run QEMU outside netbe's namespace: they only reach
        # netbe's socket, a file
        a = subprocess.Popen(guest.guest_argv(
            image, initrd, "dhcp", None, netdev, "52:54:00:00:0a:01",
            run=GUEST_RUN), stdin=subprocess.DEVNULL, stdout=logs["a"],
            stderr=subprocess.STDOUT)
        procs.append(a)
        wait_for(lambda: log_has(logs["a"], "NETBE-SERVING"), timeout=240,
                 what="guest A on the network")
        logs["a"].seek(0)
        out = logs["a"].read()
        assert "NETBE-LEASE 10.0.2.15/24 router 10.0.2.2 " \
               "dns 10.0.2.3" in out, out[-3000:]
        assert "NETBE-DNS-OK" in out, out[-3000:]
        # the host saw the NAT's own connection, from its loopback
        assert "NETBE-GOT NETBE-FROM-HOST 127.0.0.1" in out, out[-3000:]

        # a port forward added at run time reaches the guest's server
        reply = hmp(mon, "hostfwd_add nat tcp:127.0.0.1:2222-10.0.2.15:22")
        assert "Error" not in reply, reply
        got = subprocess.run(in_ns(nat_ns, [
            "python3", "-c",
            "import socket; c = socket.create_connection(('127.0.0.1', "
            "2222), timeout=10); print(c.recv(100).decode().strip())"]),
            capture_output=True, text=True, timeout=TIMEOUT)
        assert got.stdout.strip() == "NETBE-SERVED", got.stderr

        # a second guest gets its own lease and reaches the first
        b = subprocess.Popen(guest.guest_argv(
            image, initrd, "dhcp", "10.0.2.15", netdev, "52:54:00:00:0a:02",
            run="nc 10.0.2.2 8000 </dev/null | sed 's/^/NETBE-GOT /'\n"),
            stdin=subprocess.DEVNULL, stdout=logs["b"],
            stderr=subprocess.STDOUT)
        procs.append(b)
        b.wait(timeout=240)
        logs["b"].seek(0)
        out = logs["b"].read()
        assert "NETBE-LEASE 10.0.2.16/" in out, out[-3000:]
        assert "NETBE-GOT NETBE-FROM-HOST" in out, out[-3000:]
        assert "NETBE-PING-OK 10.0.2.15" in out, out[-3000:]
        # a third over the default vhost-user path, on the same switch
        from test_vhost_user import vhost_guest_argv
        vu = tmp_path / "netbe" / "vhost-user.sock"
        assert f"path={vu}" in banner, banner
        c = subprocess.Popen(vhost_guest_argv(
            image, initrd, "dhcp", "10.0.2.15", str(vu),
            "52:54:00:00:0a:03"), stdin=subprocess.DEVNULL,
            stdout=logs["c"], stderr=subprocess.STDOUT)
        procs.append(c)
        c.wait(timeout=240)
        logs["c"].seek(0)
        out = logs["c"].read()
        assert "NETBE-LEASE 10.0.2.17/" in out, out[-3000:]
        assert "NETBE-PING-OK 10.0.2.15" in out, out[-3000:]
        info = hmp(mon, "info usernet")
        assert "10.0.2.15" in info and "2222" in info, info
        assert netbe.poll() is None, "netbe exited"
    finally:
        for p in reversed(procs):
            peers.stop(p)
        for f in logs.values():
            f.close()
