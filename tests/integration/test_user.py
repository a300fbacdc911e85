"""The user netdev (libslirp NAT) with a real guest, and against QEMU 7.2.

Nothing leaves the machine.  netbe runs in a network namespace of its own
("nbu-..."), where 127.0.0.1 is the only address: what the NAT connects
to can only be the test's own servers there.  `ip netns exec` bind-mounts
/etc/netns/NAME/resolv.conf over /etc/resolv.conf, so libslirp's DNS
forwarder asks the test's DNS server on that 127.0.0.1.  The guest is a
second namespace holding netbe's tap, which joins the user netdev on a
hub:

    guest ns: nbuXXXX (tap) <-> netbe: t0 - hub 1 - u0 (libslirp) <-> netbe ns

It gets a DHCP lease (busybox udhcpc), resolves a name through 10.0.2.3,
fetches from the test's TCP server on 127.0.0.1 via 10.0.2.2, serves
ports reached through hostfwd (command line and hostfwd_add), is kept in
by restrict=on and reaches a guestfwd cmd:.  Hostile guests (garbage
frames, a SYN flood) and a thousand host connections to a forwarded port
leave the daemon, its monitor and its memory in bounds.

The errors, `info network` and `info usernet` (with the FD column, which
counts each program's own descriptors, masked) are compared with QEMU's.
"""

import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import TIMEOUT, split_monitor, wait_for
from test_daemon import GREETING, QEMU_GREETING, qemu_stderr_as_netbe

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

DHCP_SCRIPT = """#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route replace default via "${router%% *}"
  echo "LEASE ip=$ip mask=$mask router=$router dns=$dns"
  ;;
esac
"""

# A DNS server on 127.0.0.1:53: every A query gets 192.0.2.77; it prints
# each name it was asked.
DNS_SERVER = r"""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, a = s.recvfrom(512)
    tid = struct.unpack("!H", q[:2])[0]
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += q[i] + 1
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    print("query", ".".join(labels), qtype, flush=True)
    if qtype == 1:
        ans = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
               + bytes([192, 0, 2, 77]))
        r = struct.pack("!HHHHHH", tid, 0x8180, 1, 1, 0, 0) + question + ans
    else:
        r = struct.pack("!HHHHHH", tid, 0x8180, 1, 0, 0, 0) + question
    s.sendto(r, a)
"""

# A TCP server on 127.0.0.1:PORT answering each connection with a line.
HTTP_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello from the host\n")
    except OSError:
        pass
    c.close()
"""

# In the guest: accept connections on PORT, answer each with a line.
GUEST_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1024)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept()
    try:
        c.sendall(sys.argv[2].encode() + b"\n")
    except OSError:
        pass
    conns.append(c)
"""


def sh(*args, check=True, timeout=TIMEOUT):
    return subprocess.run(args, check=check, capture_output=True, text=True,
                          timeout=timeout)


def in_ns(ns, args):
    return ["ip", "netns", "exec", ns] + list(args)


class Namespaces:
    """Namespaces (and their /etc/netns files) of one test, removed at its
    end whatever happened."""

    def __init__(self):
        self.names = []

    def new(self, resolv=None):
        name = "nbu-" + uuid.uuid4().hex[:8]
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if resolv is not None:
            d = Path("/etc/netns") / name
            d.mkdir(parents=True, exist_ok=True)
            (d / "resolv.conf").write_text(resolv)
        return name

    def cleanup(self):
        for n in self.names:
            for pid in sh("ip", "netns", "pids", n,
                          check=False).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", n, check=False)
            shutil.rmtree(Path("/etc/netns") / n, ignore_errors=True)


@pytest.fixture
def nss():
    n = Namespaces()
    try:
        yield n
    finally:
        n.cleanup()


class Monitor:
    """netbe's HMP monitor on a unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(TIMEOUT)
        self.s.connect(str(path))
        self.read_prompt()

    def read_prompt(self):
        buf = b""
        while not buf.endswith(b"(qemu) "):
            chunk = self.s.recv(65536)
            assert chunk, buf
            buf += chunk
        return buf[:-len(b"(qemu) ")].decode().replace("\r\n", "\n")

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        return self.read_prompt()

    def close(self):
        self.s.close()


class Setup:
    """netbe in namespace `host` with a tap (moved into namespace `guest`)
    and a user netdev on hub 1."""

    def __init__(self, procs, nss, netbe, tmp_path, user_opts="",
                 extra=(), prefix=()):
        self.procs = procs
        self.host = nss.new(resolv="nameserver 127.0.0.1\n")
        self.guest = nss.new()
        self.tap = "nbu" + uuid.uuid4().hex[:8]
        self.mon_path = tmp_path / "mon.sock"
        self.script = tmp_path / "dhcp.sh"
        self.script.write_text(DHCP_SCRIPT)
        self.script.chmod(0o755)
        self.dns = procs.popen(in_ns(self.host, ["python3", "-c",
                                                 DNS_SERVER]),
                               stdin=subprocess.DEVNULL)
        assert self.dns.stdout.readline().strip() == b"ready"
        self.http = procs.popen(in_ns(self.host, ["python3", "-c",
                                                  HTTP_SERVER, "8080"]),
                                stdin=subprocess.DEVNULL)
        assert self.http.stdout.readline().strip() == b"ready"
        args = [netbe, "-nodefaults",
                "-netdev", f"tap,id=t0,ifname={self.tap},script=no,"
                           "downscript=no",
                "-netdev", "user,id=u0" + user_opts,
                "-netdev", "hubport,id=p0,hubid=1,netdev=t0",
                "-netdev", "hubport,id=p1,hubid=1,netdev=u0",
                "-monitor", f"unix:{self.mon_path},server=on,wait=off"]
        self.netbe = procs.popen(in_ns(self.host, list(prefix) + args +
                                       list(extra)),
                                 stdin=subprocess.DEVNULL)
        wait_for(lambda: self.mon_path.exists() or
                 self.netbe.poll() is not None, what="netbe's monitor")
        assert self.netbe.poll() is None, self.netbe.communicate()
        sh("ip", "-n", self.host, "link", "set", self.tap, "netns",
           self.guest)
        sh("ip", "-n", self.guest, "link", "set", self.tap, "up")
        self.mon = Monitor(self.mon_path)

    def guest_run(self, *args, check=True, timeout=TIMEOUT):
        return sh(*in_ns(self.guest, args), check=check, timeout=timeout)

    def lease(self):
        r = self.guest_run(BUSYBOX, "udhcpc", "-i", self.tap, "-n", "-q",
                           "-f", "-t", "5", "-T", "1", "-s",
                           str(self.script), timeout=30)
        m = re.search(r"LEASE ip=(\S+) mask=(\S+) router=(\S*) dns=(.*)",
                      r.stdout)
        assert m, r.stdout + r.stderr
        return m.groups()

    def guest_server(self, port, text):
        p = self.procs.popen(in_ns(self.guest, ["python3", "-c",
                                                GUEST_SERVER, str(port),
                                                text]),
                             stdin=subprocess.DEVNULL)
        assert p.stdout.readline().strip() == b"ready"
        return p

    def fetch(self, timeout=3):
        """What the test's server on netbe's 127.0.0.1:8080 answers the
        guest through 10.0.2.2, or None.  (busybox-static's wget -T
        crashes, hence Python.)"""
        code = ("import socket\n"
                "try:\n"
                "  c = socket.create_connection(('10.0.2.2', 8080), "
                f"timeout={timeout})\n"
                "  c.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
                "  b = b''\n"
                "  while True:\n"
                "    d = c.recv(4096)\n"
                "    if not d: break\n"
                "    b += d\n"
                "  print(b.split(b'\\r\\n\\r\\n', 1)[1].decode(), end='')\n"
                "except OSError as e:\n"
                "  print('ERROR', e)\n")
        out = self.guest_run("python3", "-c", code,
                             timeout=timeout + TIMEOUT).stdout
        return None if out.startswith("ERROR") else out

    def host_connect(self, port):
        """Connect from netbe's namespace to 127.0.0.1:port; the line the
        guest answered, or None."""
        code = ("import socket,sys\n"
                "try:\n"
                f"  c = socket.create_connection(('127.0.0.1', {port}), "
                "timeout=5)\n"
                "  print(c.makefile().readline().strip())\n"
                "except OSError as e:\n"
                "  print('ERROR', e)\n")
        out = sh(*in_ns(self.host, ["python3", "-c", code])).stdout.strip()
        return None if out.startswith("ERROR") else out

    def alive(self):
        assert self.netbe.poll() is None
        assert "type=user" in self.mon.cmd("info network")

    def rss_kb(self):
        pid = self.netbe_pid()
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def netbe_pid(self):
        # ip netns exec execs netbe in place (the prefix too, when exec'ed)
        for pid in sh("ip", "netns", "pids", self.host).stdout.split():
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if exe.endswith("/netbe"):
                return int(pid)
        raise AssertionError("netbe not found")

    def nfds(self):
        return len(os.listdir(f"/proc/{self.netbe_pid()}/fd"))


def test_guest_lease_dns_fetch_and_hostfwd(procs, nss, netbe, tmp_path):
    s = Setup(procs, nss, netbe, tmp_path,
              ",hostfwd=tcp:127.0.0.1:2222-:22,dnssearch=example.test,"
              "domainname=netbe.test")
    ip, mask, router, dns = s.lease()
    assert (ip, mask, router, dns.strip()) == ("10.0.2.15", "24", "10.0.2.2",
                                               "10.0.2.3")

    # a name through 10.0.2.3, answered by the test's server on 127.0.0.1
    r = s.guest_run(BUSYBOX, "nslookup", "www.netbe-test.example",
                    "10.0.2.3")
    assert "192.0.2.77" in r.stdout, r.stdout + r.stderr
    # a TCP server on netbe's 127.0.0.1, through 10.0.2.2
    assert s.fetch() == "hello from the host\n"

    # hostfwd from the command line
    s.guest_server(22, "guest-on-22")
    assert s.host_connect(2222) == "guest-on-22"
    # and one added at run time
    s.guest_server(23, "guest-on-23")
    assert s.host_connect(2223) is None
    assert s.mon.cmd("hostfwd_add u0 tcp:127.0.0.1:2223-10.0.2.15:23") == ""
    assert s.host_connect(2223) == "guest-on-23"
    usernet = s.mon.cmd("info usernet")
    assert usernet.startswith("Hub 1 (u0):\n")
    assert re.search(r"TCP\[HOST_FORWARD\] +\d+ +127\.0\.0\.1  2223 +"
                     r"10\.0\.2\.15    23", usernet), usernet
    assert s.mon.cmd("hostfwd_remove tcp:127.0.0.1:2223") == \
        "host forwarding rule for tcp:127.0.0.1:2223 removed\n"
    assert s.host_connect(2223) is None
    s.alive()


def test_restrict_blocks_outbound(procs, nss, netbe, tmp_path):
    s = Setup(procs, nss, netbe, tmp_path,
              ",restrict=on,hostfwd=tcp:127.0.0.1:2222-:22")
    assert s.lease()[0] == "10.0.2.15"
    assert s.fetch() is None
    # what the host forwards in still comes
    s.guest_server(22, "restricted-guest")
    assert s.host_connect(2222) == "restricted-guest"
    assert "restrict=on" in s.mon.cmd("info network")


def test_guestfwd_cmd(procs, nss, netbe, tmp_path):
    s = Setup(procs, nss, netbe, tmp_path,
              ",guestfwd=tcp:10.0.2.100:1234-cmd:echo guestfwd-says-hi")
    s.lease()
    r = s.guest_run(BUSYBOX, "nc", "-w", "3", "10.0.2.100", "1234",
                    check=False)
    assert r.stdout.strip() == "guestfwd-says-hi", r.stdout + r.stderr


def test_legacy_net_user_joins_hub0(procs, nss, netbe, tmp_path):
    host, guest = nss.new(resolv="nameserver 127.0.0.1\n"), nss.new()
    tap = "nbu" + uuid.uuid4().hex[:8]
    mon = tmp_path / "mon.sock"
    p = procs.popen(in_ns(host, [
        netbe, "-nodefaults", "-net", "user",
        "-net", f"tap,ifname={tap},script=no,downscript=no",
        "-monitor", f"unix:{mon},server=on,wait=off"]),
        stdin=subprocess.DEVNULL)
    wait_for(lambda: mon.exists(), what="monitor")
    sh("ip", "-n", host, "link", "set", tap, "netns", guest)
    sh("ip", "-n", guest, "link", "set", tap, "up")
    script = tmp_path / "dhcp.sh"
    script.write_text(DHCP_SCRIPT)
    script.chmod(0o755)
    r = sh(*in_ns(guest, [BUSYBOX, "udhcpc", "-i", tap, "-n", "-q", "-f",
                          "-t", "5", "-T", "1", "-s", str(script)]),
           timeout=30)
    assert "LEASE ip=10.0.2.15" in r.stdout
    m = Monitor(mon)
    usernet = m.cmd("info usernet")
    assert re.match(r"Hub 0 \(#net\d+\):\n", usernet), usernet
    assert p.poll() is None


def raw_send(s, frames):
    """Send @frames from the guest's side of the tap (AF_PACKET)."""
    code = ("import socket, sys, pickle\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            f"s.bind(({s.tap!r}, 0))\n"
            "for f in pickle.load(sys.stdin.buffer):\n"
            "    s.send(f)\n")
    import pickle
    subprocess.run(in_ns(s.guest, ["python3", "-c", code]),
                   input=pickle.dumps(frames), check=True, timeout=60)


def csum(b):
    if len(b) & 1:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff


def syn(src_mac, sport, dport):
    src, dst = socket.inet_aton("10.0.2.15"), socket.inet_aton("10.0.2.2")
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02,
                      8192, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack(
        "!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6,
                     0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return (b"\x52\x55\x0a\x00\x02\x02" + src_mac + b"\x08\x00" + ip + tcp)


def guest_mac(s):
    out = s.guest_run("cat", f"/sys/class/net/{s.tap}/address").stdout
    return bytes.fromhex(out.strip().replace(":", ""))


def test_hostile_guest(procs, nss, netbe, tmp_path):
    """Garbage frames and a SYN flood: the daemon, its monitor and its
    memory stay in bounds, and the guest's NAT works again after."""
    # a low descriptor limit makes the socket budget (half of it) small
    s = Setup(procs, nss, netbe, tmp_path,
              prefix=["prlimit", "--nofile=256:256", "--"])
    s.lease()
    s.alive()
    rss0 = s.rss_kb()
    fds0 = s.nfds()
    mac = guest_mac(s)

    # garbage: truncated headers, bad lengths, random bytes, huge IPv4
    rnd = os.urandom(1 << 16)
    frames = []
    for i in range(3000):
        n = 14 + (i * 37) % 1500
        f = bytearray(rnd[i:i + n])
        f[12:14] = [b"\x08\x00", b"\x86\xdd", b"\x08\x06"][i % 3]
        if i % 5 == 0 and n > 14:
            f[14] = 0x45  # a plausible IPv4 header with nonsense after
        frames.append(bytes(f))
    raw_send(s, frames)
    s.alive()

    # a SYN flood to a port that listens but never accepts: each SYN
    # would hold a socket
    stall = procs.popen(in_ns(s.host, ["python3", "-c",
        "import socket,time\n"
        "s=socket.socket(); s.bind(('127.0.0.1', 9999)); s.listen(1)\n"
        "print('ready', flush=True); time.sleep(600)"]),
        stdin=subprocess.DEVNULL)
    assert stall.stdout.readline().strip() == b"ready"
    raw_send(s, [syn(mac, 1024 + i, 9999) for i in range(5000)])
    time.sleep(1)
    s.alive()
    assert s.nfds() - fds0 <= 128 + 8, s.nfds()
    stats = s.mon.cmd("info stats")
    m = re.search(r"^u0: .*oversize=(\d+)", stats, re.M)
    assert m and int(m.group(1)) > 0, stats
    assert s.rss_kb() - rss0 < 64 * 1024

    # once the stalled connections go, the NAT serves the guest again
    stall.kill()
    stall.wait()
    wait_for(lambda: s.fetch(timeout=2) == "hello from the host\n",
             timeout=60, what="the NAT after the flood")
    s.alive()


def test_thousand_hostfwd_connections(procs, nss, netbe, tmp_path):
    s = Setup(procs, nss, netbe, tmp_path, ",hostfwd=tcp:127.0.0.1:2222-:22",
              prefix=["prlimit", "--nofile=512:512", "--"])
    s.lease()
    s.guest_server(22, "hello")
    rss0 = s.rss_kb()
    code = ("import socket, resource, time\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))\n"
            "cs = []\n"
            "for i in range(1000):\n"
            "    c = socket.socket(); c.setblocking(False)\n"
            "    c.connect_ex(('127.0.0.1', 2222)); cs.append(c)\n"
            "print('open', flush=True)\n"
            "time.sleep(3)\n"
            "print('done', flush=True)\n")
    storm = procs.popen(in_ns(s.host, ["python3", "-c", code]),
                        stdin=subprocess.DEVNULL)
    assert storm.stdout.readline().strip() == b"open"
    time.sleep(1)
    s.alive()
    assert s.nfds() <= 256 + 16, s.nfds()
    assert s.rss_kb() - rss0 < 64 * 1024
    assert storm.stdout.readline().strip() == b"done"
    storm.wait(timeout=TIMEOUT)
    # the connections went: a new one gets through again
    wait_for(lambda: s.host_connect(2222) == "hello", timeout=60,
             what="hostfwd after the storm")
    s.alive()


# ---- parity with QEMU 7.2 ----

ERROR_CASES = [
    "user,id=u0,net=x",
    "user,id=u0,net=10.0.2.0/3",
    "user,id=u0,net=10.0.2.0/255.255.x",
    "user,id=u0,host=10.0.3.2",
    "user,id=u0,host=x",
    "user,id=u0,dns=x",
    "user,id=u0,dns=10.0.2.2",
    "user,id=u0,dns=1.2.3.4,restrict=on",
    "user,id=u0,dhcpstart=x",
    "user,id=u0,dhcpstart=10.0.3.5",
    "user,id=u0,dhcpstart=10.0.2.2",
    "user,id=u0,ipv6-prefix=x",
    "user,id=u0,ipv6-prefixlen=127",
    "user,id=u0,ipv6-prefixlen=-1",
    "user,id=u0,ipv6-prefixlen=x",
    "user,id=u0,ipv6-net=x",
    "user,id=u0,ipv6-net=fe80::/200",
    "user,id=u0,ipv6-host=x",
    "user,id=u0,ipv6-host=fe81::2",
    "user,id=u0,ipv6-dns=x",
    "user,id=u0,ipv6-dns=fe81::2,restrict=on",
    "user,id=u0,domainname=",
    "user,id=u0,domainname=" + "a" * 256,
    "user,id=u0,hostname=" + "a" * 256,
    "user,id=u0,tftp-server-name=" + "a" * 256,
    "user,id=u0,ipv4=off,net=10.0.0.0/8",
    "user,id=u0,ipv6=off,ipv6-host=::1",
    "user,id=u0,ipv4=off,ipv6=off",
    "user,id=u0,ipv6=on,dns=10.0.2.9",
    "user,id=u0,smbserver=x",
    "user,id=u0,restrict=x",
    "user,id=u0,foo=1",
    "user,id=u0,hostfwd=foo",
    "user,id=u0,hostfwd=x:1",
    "user,id=u0,hostfwd=tcp:1",
    "user,id=u0,hostfwd=tcp:x:1",
    "user,id=u0,hostfwd=tcp::1",
    "user,id=u0,hostfwd=tcp::x-",
    "user,id=u0,hostfwd=tcp::5555x-:22",
    "user,id=u0,hostfwd=tcp::70000-:1",
    "user,id=u0,hostfwd=tcp::1-1",
    "user,id=u0,hostfwd=tcp::1-x:1",
    "user,id=u0,hostfwd=tcp::1-:0",
    "user,id=u0,hostfwd=tcp::1-:22x",
    "user,id=u0,hostfwd=tcp:1.2.3.4:5557-:22",
    "user,id=u0,hostfwd=tcp::5557-:22,hostfwd=tcp::5557-:23",
    "user,id=u0,hostfwd=tcp::5557-:22,hostfwd=foo",
    "user,id=u0,guestfwd=foo",
    "user,id=u0,guestfwd=tcp:10.0.2.100:x-cmd:cat",
    "user,id=u0,guestfwd=udp:10.0.2.100:1-cmd:cat",
    "user,id=u0,guestfwd=tcp:10.0.2.100:65536-cmd:cat",
    "user,id=u0,guestfwd=tcp:10.0.3.100:1-cmd:cat",
    "user,id=u0,guestfwd=tcp:10.0.2.2:1-cmd:cat",
]
if not os.path.exists("/usr/sbin/smbd"):
    ERROR_CASES.append("user,id=u0,smb=/tmp")


@pytest.mark.parametrize("arg", ERROR_CASES)
def test_errors_match_qemu(procs, nss, netbe, qemu, arg):
    ns = nss.new(resolv="nameserver 127.0.0.1\n")
    q_rc, _, q_err = procs.run(in_ns(ns, qemu + ["-netdev", arg]))
    n_rc, _, n_err = procs.run(in_ns(ns, [netbe, "-netdev", arg]))
    assert n_err.decode() == qemu_stderr_as_netbe(q_err.decode())
    assert (q_rc, n_rc) == (1, 1)


def test_chardev_guestfwd_refused_clearly(procs, nss, netbe):
    ns = nss.new(resolv="nameserver 127.0.0.1\n")
    arg = "user,id=u0,guestfwd=tcp:10.0.2.100:1-socket:x"
    rc, _, err = procs.run(in_ns(ns, [netbe, "-netdev", arg]))
    assert rc == 1
    assert err.decode() == (
        f"netbe: -netdev {arg}: guest forwarding rule "
        "'tcp:10.0.2.100:1-socket:x': only the 'cmd:COMMAND' form is "
        "supported so far, not a chardev ('socket:x')\n")


FD_COLUMN = re.compile(r"^(  \S+\]) +\d+ ", re.M)


def mask_fds(text):
    """The FD column counts each program's own descriptors (and its width
    with them)."""
    return FD_COLUMN.sub(lambda m: m.group(1) + " N ", text)


def same_ids(text):
    return re.sub(r"#net\d+", "#netN", text)


def monitor_both(procs, nss, netbe, qemu, args, lines):
    ns = nss.new(resolv="nameserver 127.0.0.1\n")
    outs = []
    for prog, echo in ((qemu, True), ([netbe], False)):
        stdin = "".join(line + "\n" for line in lines) + "quit\n"
        rc, out, err = procs.run(in_ns(ns, prog + args +
                                       ["-monitor", "stdio"]),
                                 stdin.encode())
        greeting, answers = split_monitor(out, echo)
        assert rc == 0, err
        assert len(answers) == len(lines) + 1, (out, err)
        outs.append((greeting, [mask_fds(same_ids(a))
                                for a in answers[:-1]],
                     same_ids(err.decode())))
    (qg, qa, qe), (ng, na, ne) = outs
    assert QEMU_GREETING.fullmatch(qg)
    assert ng == GREETING
    for line, q, n in zip(lines, qa, na):
        assert n == q, f"answer to {line!r}"
    assert ne == qemu_stderr_as_netbe(qe)
    return na


MONITOR_CASES = [
    ("default", ["-netdev", "user,id=u0"], ["info network", "info usernet"]),
    ("restricted-net",
     ["-netdev", "user,id=u0,net=192.168.76.0/24,restrict=on,"
                 "hostfwd=tcp:127.0.0.1:5556-192.168.76.9:0x16,"
                 "hostfwd=udp::5557-:53"],
     ["info network", "info usernet"]),
    ("legacy-and-hub",
     ["-net", "user,restrict=yes", "-netdev", "user,id=u0,ip=10.0.5.0",
      "-netdev", "hubport,id=h0,hubid=0", "-netdev", "user,id=u1",
      "-netdev", "hubport,id=h1,hubid=3,netdev=u1"],
     ["info network", "info usernet"]),
    ("hmp",
     ["-netdev", "user,id=u0", "-netdev", "user,id=u1,net=10.0.3.0/24",
      "-netdev", "hubport,id=h0,hubid=0"],
     ["hostfwd_add tcp::6001-:22", "hostfwd_add u1 tcp::6002-:22",
      "hostfwd_add u1 udp:127.0.0.1:6003-10.0.3.9:53",
      "hostfwd_add nosuch tcp::6004-:22", "hostfwd_add h0 tcp::6004-:22",
      "hostfwd_add foo", "hostfwd_add tcp::6001-:22", "hostfwd_add",
      "hostfwd_add a b c", "info usernet",
      "hostfwd_remove tcp::6001", "hostfwd_remove tcp::6001",
      "hostfwd_remove u1 udp:127.0.0.1:6003", "hostfwd_remove u1 6002",
      "hostfwd_remove u1 :x:6002", "hostfwd_remove u1 x:",
      "hostfwd_remove u1 ::6002x", "hostfwd_remove u1 tcp::6002",
      "hostfwd_remove nosuch tcp::1", "hostfwd_remove",
      "hostfwd_remove a b c", "help hostfwd_add", "help hostfwd_remove",
      "help info usernet", "info usernet"]),
    ("no-user", ["-netdev", "hubport,id=h0,hubid=0"],
     ["hostfwd_add tcp::6001-:22", "hostfwd_remove tcp::6001",
      "info usernet"]),
    ("netdev_add",
     ["-netdev", "hubport,id=h0,hubid=0"],
     ["netdev_add user,id=u9,hostfwd=tcp::6010-:22", "info network",
      "info usernet", "netdev_add user,id=u8,net=x", "netdev_del u9",
      "info usernet", "info network"]),
]


@pytest.mark.parametrize("name,args,lines", MONITOR_CASES,
                         ids=[c[0] for c in MONITOR_CASES])
def test_monitor_matches_qemu(procs, nss, netbe, qemu, name, args, lines):
    answers = monitor_both(procs, nss, netbe, qemu, args, lines)
    assert any(answers) or name == "no-user"
