"""The tap and bridge netdevs against real taps and QEMU 7.2.

Every test makes its own network namespaces (and the interfaces in them)
and removes them at its end; netbe and QEMU run inside a namespace, so no
tap and no frame is ever seen on the host's own network.

* two namespaces, each with a tap of netbe's on one learning switch (or
  on hub 0, the way QEMU users join taps with -net): ping and a TCP
  transfer between them, with the device's vnet header on and off;
* QEMU 7.2 with the same -netdev tap/bridge arguments prints the same
  "info network" and the same errors;
* fd= as libvirt passes it, scripts run with QEMU's arguments, QEMU's own
  bridge helper with an /etc/qemu/bridge.conf made (and removed) here.
"""

import fcntl
import hashlib
import os
import re
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import TIMEOUT, split_monitor, wait_for
from test_daemon import GREETING, QEMU_GREETING, qemu_stderr_as_netbe

HELPER = "/usr/lib/qemu/qemu-bridge-helper"
BRIDGE_CONF = Path("/etc/qemu/bridge.conf")

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True,
                          timeout=TIMEOUT)


class Netns:
    """Network namespaces of one test, deleted (with their links) at its
    end; named @prefix + random hex, IPv6 off in them when @no_ipv6 (no
    router solicitations or MLD for tests that count every frame)."""

    def __init__(self, prefix="nbt-", no_ipv6=False):
        self.names = []
        self.prefix = prefix
        self.no_ipv6 = no_ipv6

    def new(self):
        name = self.prefix + uuid.uuid4().hex[:8]
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if self.no_ipv6:
            for key in ("all", "default"):
                sh("ip", "netns", "exec", name, "sysctl", "-qw",
                   f"net.ipv6.conf.{key}.disable_ipv6=1")
        return name

    def cleanup(self):
        for n in self.names:
            sh("ip", "netns", "del", n, check=False)


@pytest.fixture
def netns():
    ns = Netns()
    try:
        yield ns
    finally:
        ns.cleanup()


def in_ns(ns, args):
    return ["ip", "netns", "exec", ns] + list(args)


def link_exists(ns, ifname):
    return sh("ip", "-n", ns, "link", "show", ifname,
              check=False).returncode == 0


def same_ids(text):
    """-net's generated ids ("#net" + counter + two random digits)."""
    return re.sub(r"#net\d+", "#netN", text)


def monitor_run(procs, args, lines, echo, **kw):
    """procs.monitor(), with Popen keywords (pass_fds); -net's random ids
    made equal."""
    stdin = "".join(line + "\n" for line in lines) + "quit\n"
    p = procs.popen(args + ["-monitor", "stdio"], **kw)
    out, err = p.communicate(stdin.encode(), timeout=TIMEOUT)
    greeting, answers = split_monitor(out, echo)
    assert len(answers) == len(lines) + 1, (out, err)
    return (p.returncode, greeting, [same_ids(a) for a in answers[:-1]],
            err.decode())


def compare_with_qemu(procs, netns, netbe, qemu, args, fresh=True, **kw):
    """The same command line in fresh namespaces (so that the kernel's
    tapN names match): info network and stderr must match."""
    ns_q = netns.new()
    ns_n = netns.new() if fresh else ns_q
    q = monitor_run(procs, in_ns(ns_q, qemu + args), ["info network"],
                    echo=True, **kw)
    n = monitor_run(procs, in_ns(ns_n, [netbe] + args), ["info network"],
                    echo=False, **kw)
    assert QEMU_GREETING.fullmatch(q[1]), q
    assert n[1] == GREETING
    assert n[2] == q[2], args
    assert n[3] == qemu_stderr_as_netbe(q[3]), args
    assert (q[0], n[0]) == (0, 0)
    return n[2][0]


INFO_CASES = [
    ("ifname", ["-netdev", "tap,id=t0,ifname=nbq0,script=no,downscript=no"]),
    ("kernel-name", ["-netdev", "tap,id=t0,script=no,downscript=no"]),
    ("vnet-off",
     ["-netdev", "tap,id=t0,ifname=nbq0,script=no,downscript=no,"
                 "vnet_hdr=off,sndbuf=1M,poll-us=50"]),
    ("vnet-on", ["-netdev", "tap,id=t0,ifname=nbq0,script=no,downscript=no,"
                            "vnet_hdr=on,vhost=off,vhostforce=off"]),
    ("long-name", ["-netdev", "tap,id=t0,ifname=0123456789abcdefghij,"
                              "script=no,downscript=no"]),
    ("default-downscript", ["-netdev", "tap,id=t0,ifname=nbq0,script=no"]),
    ("queues-2",
     ["-netdev", "tap,id=t0,ifname=nbq0,script=no,downscript=no,queues=2"]),
    ("queues-2-kernel-name",
     ["-netdev", "tap,id=t0,script=no,downscript=no,queues=2"]),
    ("hub0", ["-net", "tap,ifname=nbq0,script=no,downscript=no",
              "-net", "tap,script=no,downscript=no"]),
    ("empty-ifname", ["-netdev", "tap,id=t0,ifname=,script=no,downscript=no"]),
    ("empty-script", ["-netdev", "tap,id=t0,ifname=nbq0,script=,downscript="]),
    ("br-without-helper",
     ["-netdev", "tap,id=t0,br=nbnobr,ifname=nbq0,script=no,downscript=no"]),
    ("hubport",
     ["-netdev", "tap,id=t0,ifname=nbq0,script=no,downscript=no",
      "-netdev", "hubport,id=p0,hubid=2,netdev=t0"]),
]


@pytest.mark.parametrize("name,args", INFO_CASES,
                         ids=[c[0] for c in INFO_CASES])
def test_info_network_matches_qemu(procs, netns, netbe, qemu, name, args):
    info = compare_with_qemu(procs, netns, netbe, qemu, args)
    assert "type=tap" in info


ERROR_CASES = [
    "tap,id=t0,fd=3,ifname=x",
    "tap,id=t0,fds=3:4,queues=2",
    "tap,id=t0,fd=abc",
    "tap,id=t0,fd=99",
    "tap,id=t0,fds=98:99",
    "tap,id=t0,helper=/bin/false,ifname=x",
    "tap,id=t0,helper=/bin/false",
    "tap,id=t0,vhostfds=3",
    "tap,id=t0,ifname=nbq0,script=no,downscript=no,vhostfd=5,vhost=off",
    "tap,id=t0,ifname=nbq0,script=/nonexistent,downscript=no",
    "tap,id=t0,ifname=nbq0,script=no,sndbuf=abc",
    "tap,id=t0,ifname=nbq0,script=no,queues=abc",
    "tap,id=t0,ifname=nbq0,script=no,poll-us=-1",
    "tap,id=t0,ifname=nbq0,script=no,foo=1",
    "tap,id=t0,ifname=nbq0,script=no,vnet_hdr=maybe",
    "tap,id=t0,ifname=nbq0,script=no,vhost=maybe",
    "tap,id=t0,fd=3,queues=2",
    "tap,id=t0,fd=3,script=no",
    "tap,id=t0,fd=3,vnet_hdr=on",
    "tap,id=t0,fds=3:4,queues=3",
    "tap,id=t0,ifname=nbq0,script=no,downscript=no,sndbuf=-5",
    "tap,id=t0,ifname=nbq0,script=no,downscript=no,sndbuf=1Q",
    "tap,id=t0,ifname=nbq0,script=no,downscript=no,poll-us=abc",
    "bridge,id=b0,helper=/bin/false",
    "bridge,id=b0,br=x,helper=/nonexistent",
    "bridge,id=b0,foo=bar",
]


@pytest.mark.parametrize("arg", ERROR_CASES)
def test_errors_match_qemu(procs, netns, netbe, qemu, arg):
    ns = netns.new()
    q_rc, _, q_err = procs.run(in_ns(ns, qemu + ["-netdev", arg]))
    n_rc, _, n_err = procs.run(in_ns(ns, [netbe, "-netdev", arg]))
    assert n_err.decode() == qemu_stderr_as_netbe(q_err.decode())
    assert (q_rc, n_rc) == (1, 1)
    assert not link_exists(ns, "nbq0")


@pytest.mark.parametrize("queues", ["0", "1025"])
def test_queues_out_of_range_refused_clearly(procs, netns, netbe, queues):
    """QEMU 7.2 asserts on queues=0 and opens 256 queues before the kernel
    says E2BIG on queues=1025; netbe says what the range is."""
    ns = netns.new()
    arg = f"tap,id=t0,ifname=nbq0,script=no,downscript=no,queues={queues}"
    rc, _, err = procs.run(in_ns(ns, [netbe, "-netdev", arg]))
    assert rc == 1
    assert err.decode() == (f"netbe: -netdev {arg}: Parameter 'queues' "
                            "expects a number of queues from 1 to 1024\n")
    assert not link_exists(ns, "nbq0")


def test_legacy_multiqueue_error_matches_qemu(procs, netns, netbe, qemu):
    ns = netns.new()
    arg = ["-net", "tap,ifname=nbq0,script=no,downscript=no,queues=2"]
    q_rc, _, q_err = procs.run(in_ns(ns, qemu + arg))
    n_rc, _, n_err = procs.run(in_ns(ns, [netbe] + arg))
    assert n_err.decode() == qemu_stderr_as_netbe(q_err.decode())
    assert (q_rc, n_rc) == (1, 1)


@pytest.mark.parametrize("opts", ["vhost=on", "vhostforce=on", "vhostfd=5",
                                  "vhostfds=5:6,fds=3:4"])
def test_vhost_refused_clearly(procs, netns, netbe, opts):
    """QEMU 7.2 here asserts (vhost=on) or fails to open /dev/vhost-net;
    netbe says why it cannot, and leaves no tap behind."""
    ns = netns.new()
    rc, _, err = procs.run(in_ns(ns, [
        netbe, "-netdev", f"tap,id=t0,ifname=nbq0,script=no,{opts}"]))
    assert rc == 1
    err = err.decode()
    if "fds=" in opts:
        assert "are invalid with fds=" in err or "vhost-net" in err, err
    else:
        assert "vhost-net is not available: it needs the guest's memory" \
            in err, err
    assert not link_exists(ns, "nbq0")


# ---- traffic between two namespaces ----

SERVER = r"""
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
s.settimeout(20)
print("listening", flush=True)
c, _ = s.accept()
c.settimeout(20)
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
"""

CLIENT = r"""
import socket, sys
data = open(sys.argv[2], "rb").read()
c = socket.create_connection((sys.argv[1], 5001), timeout=20)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
c.recv(1)
"""


def move_and_address(host_ns, ifname, ns, addr):
    wait_for(lambda: link_exists(host_ns, ifname), what=f"tap {ifname}")
    sh("ip", "-n", host_ns, "link", "set", ifname, "netns", ns)
    sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
    sh("ip", "-n", ns, "link", "set", ifname, "up")


def two_vms(procs, netns, netbe, netdevs, tmp_path):
    """netbe in its own namespace with taps nbA and nbB, moved into
    namespaces A (10.77.0.1) and B (10.77.0.2).  Return (A, B, netbe)."""
    host = netns.new()
    a, b = netns.new(), netns.new()
    p = procs.popen(in_ns(host, [netbe, "-nodefaults"] + netdevs),
                    stdin=subprocess.DEVNULL)
    move_and_address(host, "nbA", a, "10.77.0.1")
    move_and_address(host, "nbB", b, "10.77.0.2")
    assert p.poll() is None, p.communicate()
    return a, b, p


def ping_and_transfer(procs, a, b, tmp_path, size=4 << 20):
    r = sh(*in_ns(a, ["ping", "-c", "3", "-i", "0.2", "-W", "2",
                      "10.77.0.2"]), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    data = os.urandom(size)
    src = tmp_path / "data"
    src.write_bytes(data)
    srv = procs.popen(in_ns(b, ["python3", "-c", SERVER, "10.77.0.2"]))
    assert srv.stdout.readline().strip() == b"listening"
    cli = procs.popen(in_ns(a, ["python3", "-c", CLIENT, "10.77.0.2",
                                str(src)]))
    out, err = srv.communicate(timeout=30)
    cli.communicate(timeout=30)
    n, digest = out.split()
    assert int(n) == size, err
    assert digest.decode() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("vnet", ["on", "off"])
def test_switch_ping_and_tcp(procs, netns, netbe, tmp_path, vnet):
    sock = tmp_path / "sw.sock"
    tap = f"script=no,downscript=no,vnet_hdr={vnet}"
    netdevs = [
        "-netdev", f"stream,id=sw,server=on,addr.type=unix,"
                   f"addr.path={sock},hubid=1",
        "-netdev", f"tap,id=t0,ifname=nbA,{tap}",
        "-netdev", f"tap,id=t1,ifname=nbB,{tap}",
        "-netdev", "hubport,id=p0,hubid=1,netdev=t0",
        "-netdev", "hubport,id=p1,hubid=1,netdev=t1",
    ]
    a, b, _ = two_vms(procs, netns, netbe, netdevs, tmp_path)
    ping_and_transfer(procs, a, b, tmp_path)


def csum16(data, start=0):
    if len(data) & 1:
        data += b"\0"
    total = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return total


def taps_and_stream_vm(procs, netns, netbe, tmp_path):
    """Taps nbA and nbB with vnet headers (namespaces A and B) and a
    stream VM on switch 1 with learning off (so that the VM hears A's
    frames for B too), and a monitor.  Return (A, B, VM, Monitor)."""
    from test_switch import VM, Monitor

    sock, mon = tmp_path / "sw.sock", tmp_path / "mon.sock"
    tap = "script=no,downscript=no,vnet_hdr=on"
    netdevs = [
        "-netdev", f"stream,id=sw,server=on,addr.type=unix,"
                   f"addr.path={sock},hubid=1,learning=off,queue-bytes=64M",
        "-netdev", f"tap,id=t0,ifname=nbA,{tap}",
        "-netdev", f"tap,id=t1,ifname=nbB,{tap}",
        "-netdev", "hubport,id=p0,hubid=1,netdev=t0",
        "-netdev", "hubport,id=p1,hubid=1,netdev=t1",
        "-monitor", f"unix:{mon},server=on,wait=off",
    ]
    a, b, _ = two_vms(procs, netns, netbe, netdevs, tmp_path)
    wait_for(lambda: sock.exists() and mon.exists(), what="the switch")
    vm = VM(str(sock))
    vm.start_reading()
    return a, b, vm, Monitor(str(mon))


def test_switch_keeps_offloads(procs, netns, netbe, tmp_path):
    """Two taps with vnet headers on the switch exchange GSO frames as
    they are; a stream VM on the same switch, which takes no offloads,
    gets every TCP segment MTU-sized with checksums that verify, and the
    payload adds up to what was sent."""
    size = 4 << 20
    a, b, vm, m = taps_and_stream_vm(procs, netns, netbe, tmp_path)
    ping_and_transfer(procs, a, b, tmp_path, size=size)
    stats = m.stats()

    # A's data reached B in GSO frames, far fewer than MTU-sized ones
    mss_frames = size // 1448
    assert int(stats["t1"]["rx"].split("/")[0]) < mss_frames // 4, stats
    assert int(stats["p1"]["segmented"]) == 0, stats

    # the stream VM got segments: each one MTU-sized, checksums right
    def payload():
        with vm.lock:
            frames = list(vm.frames)
        got = 0
        for f in frames:
            assert len(f) <= 1514, len(f)
            if f[12:14] != b"\x08\x00" or f[23] != 6:
                continue
            ip = f[14:34]
            assert csum16(ip) == 0xffff
            tot = struct.unpack("!H", ip[2:4])[0]
            tcp = f[34:14 + tot]
            pseudo = csum16(ip[12:20] + struct.pack("!HH", 6, len(tcp)))
            assert csum16(tcp, pseudo) == 0xffff, "bad TCP checksum"
            off = (tcp[12] >> 4) * 4
            if ip[12:16] == bytes([10, 77, 0, 1]) and \
                    struct.unpack("!H", tcp[2:4])[0] == 5001:
                got += len(tcp) - off
        return got

    wait_for(lambda: payload() >= size, timeout=20,
             what="all of A's payload at the stream VM")
    sw_port = [n for n in stats if n.startswith("hub1port")]
    assert sum(int(stats[n]["segmented"]) for n in sw_port) >= mss_frames
    assert int(m.stats()["sw.0"]["queue_full"]) == 0
    m.close()
    vm.close()


UDP_RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[1], 5002))
print("listening", flush=True)
s.settimeout(5)
n = size = 0
want = int(sys.argv[2])
try:
    while n < want:
        b = s.recv(65536)
        assert b == bytes([n % 251]) * len(b), "datagram out of order"
        n += 1
        size += len(b)
        s.settimeout(2)
except socket.timeout:
    pass
print(n, size, flush=True)
"""

# SOL_UDP, UDP_SEGMENT: one send() of SENDS bytes, cut into GSO datagrams
UDP_SENDER = r"""
import socket, sys, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.setsockopt(17, 103, int(sys.argv[2]))
c.connect((sys.argv[1], 5002))
seg, per, sends = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
k = 0
for i in range(sends):
    c.send(b"".join(bytes([(k + j) % 251]) * seg for j in range(per)))
    k += per
    time.sleep(0.01)
"""


def tun_has_uso():
    """Whether this kernel's tun takes UDP segmentation offload."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        ifr = struct.pack("16sH", b"", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
        fcntl.ioctl(fd, 0x400454D0, 0x1 | 0x20 | 0x40)  # CSUM|USO4|USO6
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def test_switch_keeps_udp_gso(procs, netns, netbe, tmp_path):
    """UDP GSO (USO) crosses the switch too: A's UDP_SEGMENT sends reach
    B's tap as GSO frames where the kernel takes USO, every datagram in
    order; the stream VM, which takes no offloads, gets each datagram cut
    out with a UDP checksum that verifies."""
    seg, per, sends = 1400, 10, 60
    a, b, vm, m = taps_and_stream_vm(procs, netns, netbe, tmp_path)
    # a ping first: the switch has asked both taps for offloads by then
    r = sh(*in_ns(a, ["ping", "-c", "2", "-i", "0.2", "-W", "2",
                      "10.77.0.2"]), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    rx_before = int(m.stats()["t1"]["rx"].split("/")[0])
    srv = procs.popen(in_ns(b, ["python3", "-c", UDP_RECEIVER, "10.77.0.2",
                                str(per * sends)]))
    assert srv.stdout.readline().strip() == b"listening"
    cli = procs.popen(in_ns(a, ["python3", "-c", UDP_SENDER, "10.77.0.2",
                                str(seg), str(per), str(sends)]))
    cli.communicate(timeout=30)
    out, err = srv.communicate(timeout=30)
    n, size = map(int, out.split())
    assert (n, size) == (per * sends, per * sends * seg), err
    stats = m.stats()
    frames = int(stats["t1"]["rx"].split("/")[0]) - rx_before
    if tun_has_uso():
        # whole GSO frames crossed: about one per send, not one per datagram
        assert frames < per * sends // 4, stats
        assert int(stats["p1"]["segmented"]) == 0, stats
    else:
        assert frames >= per * sends, stats

    def datagrams():
        with vm.lock:
            got = list(vm.frames)
        count = 0
        for f in got:
            assert len(f) <= 1514, len(f)
            if f[12:14] != b"\x08\x00" or f[23] != 17:
                continue
            ip = f[14:34]
            assert csum16(ip) == 0xffff
            tot = struct.unpack("!H", ip[2:4])[0]
            udp = f[34:14 + tot]
            if struct.unpack("!H", udp[2:4])[0] != 5002:
                continue
            pseudo = csum16(ip[12:20] + struct.pack("!HH", 17, len(udp)))
            assert csum16(udp, pseudo) == 0xffff, "bad UDP checksum"
            assert len(udp) == 8 + seg
            count += 1
        return count

    wait_for(lambda: datagrams() >= per * sends, timeout=20,
             what="every datagram at the stream VM")
    m.close()
    vm.close()


def test_hub0_ping_and_tcp(procs, netns, netbe, tmp_path):
    """Taps on QEMU's flooding hub 0, as -net joins them."""
    netdevs = ["-net", "tap,ifname=nbA,script=no,downscript=no",
               "-net", "tap,ifname=nbB,script=no,downscript=no"]
    a, b, _ = two_vms(procs, netns, netbe, netdevs, tmp_path)
    ping_and_transfer(procs, a, b, tmp_path, size=1 << 20)


# ---- fd=, scripts, the bridge helper ----

def open_tap(name, vnet):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet else 0)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
    return fd


def test_fd_passing_as_libvirt(procs, netns, netbe, qemu, tmp_path):
    """libvirt opens the tap and passes its fd; the info line says fd=N."""
    ns = netns.new()
    fd = open_tap("nbf0", vnet=True)
    try:
        # the tap lives in the test's namespace, never the host's
        sh("ip", "link", "set", "nbf0", "netns", ns)
        args = ["-netdev", f"tap,id=t0,fd={fd}"]
        info = compare_with_qemu(procs, netns, netbe, qemu, args,
                                 pass_fds=(fd,))
        assert info == f"t0: index=0,type=tap,fd={fd}\n"
    finally:
        os.close(fd)


def test_fd_passing_carries_frames(procs, netns, netbe, tmp_path):
    host = netns.new()
    a, b = netns.new(), netns.new()
    fda, fdb = open_tap("nbA", True), open_tap("nbB", False)
    try:
        sh("ip", "link", "set", "nbA", "netns", host)
        sh("ip", "link", "set", "nbB", "netns", host)
        procs.popen(in_ns(host, [
            netbe, "-nodefaults", "-netdev", f"tap,id=t0,fd={fda}",
            "-netdev", f"tap,id=t1,fd={fdb}",
            "-netdev", "hubport,id=p0,hubid=0,netdev=t0",
            "-netdev", "hubport,id=p1,hubid=0,netdev=t1"]),
            pass_fds=(fda, fdb), stdin=subprocess.DEVNULL)
    finally:
        os.close(fda)
        os.close(fdb)
    move_and_address(host, "nbA", a, "10.77.0.1")
    move_and_address(host, "nbB", b, "10.77.0.2")
    ping_and_transfer(procs, a, b, tmp_path, size=1 << 20)


def test_scripts_run_as_qemu_runs_them(procs, netns, netbe, qemu, tmp_path):
    """script= and downscript= get the interface name as their one
    argument, in QEMU and in netbe alike; downscript when the tap goes."""
    script = tmp_path / "ifupdown"
    script.write_text("#!/bin/sh\n"
                      "echo \"$0|$#|$*|$(cat /sys/class/net/$1/operstate)\""
                      " >> \"$(dirname \"$0\")/$PROG.log\"\n")
    script.chmod(0o755)
    args = ["-netdev", f"tap,id=t0,ifname=nbs0,script={script},"
                       f"downscript={script}"]
    for prog, cmd in (("qemu", qemu), ("netbe", [netbe])):
        ns = netns.new()
        env = dict(os.environ, PROG=prog)
        rc, _, answers, _ = monitor_run(procs, in_ns(ns, cmd + args),
                                        ["info network"], echo=prog == "qemu",
                                        env=env)
        assert rc == 0
        assert answers[0] == (f"t0: index=0,type=tap,ifname=nbs0,"
                              f"script={script},downscript={script}\n")
    q = (tmp_path / "qemu.log").read_text()
    n = (tmp_path / "netbe.log").read_text()
    assert n == q
    assert n.splitlines()[0].startswith(f"{script}|1|nbs0|")
    assert len(n.splitlines()) == 2  # up and down


@pytest.fixture
def bridge_conf():
    """/etc/qemu/bridge.conf allowing the test's bridges; whatever was
    there before comes back."""
    made_dir = not BRIDGE_CONF.parent.exists()
    old = BRIDGE_CONF.read_bytes() if BRIDGE_CONF.exists() else None
    BRIDGE_CONF.parent.mkdir(exist_ok=True)
    BRIDGE_CONF.write_text("allow nbbr0\n")
    try:
        yield
    finally:
        if old is not None:
            BRIDGE_CONF.write_bytes(old)
        else:
            BRIDGE_CONF.unlink()
            if made_dir:
                BRIDGE_CONF.parent.rmdir()


BRIDGE_CASES = [
    ["-netdev", "bridge,id=b0,br=nbbr0"],
    ["-netdev", f"bridge,id=b0,br=nbbr0,helper={HELPER}"],
    ["-netdev", f"bridge,id=b0,br=nbbr0,helper={HELPER} --br=nbbr0"],
    ["-netdev", f"tap,id=t0,br=nbbr0,helper={HELPER}"],
    ["-net", "bridge,br=nbbr0"],
]


@pytest.mark.parametrize("args", BRIDGE_CASES, ids=lambda a: a[1])
def test_bridge_helper_matches_qemu(procs, netns, netbe, qemu, bridge_conf,
                                    args):
    assert os.access(HELPER, os.X_OK), "QEMU's bridge helper is missing"
    infos = []
    for cmd, echo in ((qemu, True), ([netbe], False)):
        ns = netns.new()
        sh("ip", "-n", ns, "link", "add", "nbbr0", "type", "bridge")
        infos.append(monitor_run(procs, in_ns(ns, cmd + args),
                                 ["info network"], echo=echo))
    q, n = infos
    assert n[2] == q[2]
    assert n[3] == qemu_stderr_as_netbe(q[3])
    assert (q[0], n[0]) == (0, 0)


def test_bridge_helper_tap_joins_bridge(procs, netns, netbe, bridge_conf):
    ns = netns.new()
    sh("ip", "-n", ns, "link", "add", "nbbr0", "type", "bridge")
    p = procs.popen(in_ns(ns, [netbe, "-nodefaults", "-netdev",
                               "bridge,id=b0,br=nbbr0"]),
                    stdin=subprocess.DEVNULL)

    def member():
        r = sh("ip", "-n", ns, "-o", "link", "show", "master", "nbbr0",
               check=False)
        return "tap" in r.stdout

    wait_for(member, what="the helper's tap on the bridge")
    assert p.poll() is None
    p.terminate()
    p.communicate(timeout=TIMEOUT)
    # the tap went with the daemon
    wait_for(lambda: not member(), what="the tap to go")
