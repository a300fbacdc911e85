"""-netdev passt: netbe starts the host's passt, joins it over the stream
protocol and stops it when the netdev goes.

Everything happens in namespaces the test makes: netbe (and so passt)
runs in a "host" namespace whose only route leads over a veth pair into a
"world" namespace, where the test's own TCP server listens; the "guest" is
a third namespace attached to netbe by a tap.  passt hands the guest a
DHCP lease (the host's address, as passt does), and a connection from the
guest to the world goes through passt's sockets in the host namespace.
"""

import os
import signal
import subprocess
import time

import pytest

from conftest import TIMEOUT, wait_for
from test_tap import in_ns, link_exists, netns, sh  # noqa: F401 (fixture)

HOST_ADDR = "192.168.77.2"
WORLD_ADDR = "192.168.77.1"  # the host's gateway: passt maps it to the host
SERVER_ADDR = "192.168.77.3"  # a server out in the world

# udhcpc's script: apply the lease and say what it was
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "$router" dev "$interface"
    echo "lease $ip/$mask router $router dns $dns" >> "$LEASE_LOG"
    ;;
esac
exit 0
"""

SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
print("listening", flush=True)
s.settimeout(30)
c, peer = s.accept()
c.sendall(sys.argv[3].encode() + b" to " + peer[0].encode() + b"\n")
c.close()
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(c.recv(200).decode().strip(), flush=True)
"""


def world(netns):
    """host and world namespaces joined by a veth pair, the host's
    default route via the world."""
    host, wld = netns.new(), netns.new()
    sh("ip", "-n", host, "link", "add", "nbpv0", "type", "veth", "peer",
       "name", "nbpv1", "netns", wld)
    sh("ip", "-n", host, "addr", "add", f"{HOST_ADDR}/24", "dev", "nbpv0")
    sh("ip", "-n", host, "link", "set", "nbpv0", "up")
    sh("ip", "-n", host, "route", "add", "default", "via", WORLD_ADDR)
    sh("ip", "-n", wld, "addr", "add", f"{WORLD_ADDR}/24", "dev", "nbpv1")
    sh("ip", "-n", wld, "addr", "add", f"{SERVER_ADDR}/24", "dev", "nbpv1")
    sh("ip", "-n", wld, "link", "set", "nbpv1", "up")
    return host, wld


def passt_pids():
    """The passts netbe runs (passt execs itself again as passt.avx2, its
    arguments kept), zombies left out."""
    r = subprocess.run(["pgrep", "-f", "passt.* --foreground --fd 3"],
                       capture_output=True, text=True)
    pids = set()
    for p in r.stdout.split():
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().split(") ")[1][0] != "Z":
                    pids.add(int(p))
        except (OSError, IndexError):
            pass
    return pids


def monitor_cmd(mon, line):
    import socket as so
    s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    s.connect(str(mon))
    s.settimeout(5)
    buf = b""
    while not buf.endswith(b"(qemu) "):
        buf += s.recv(4096)
    s.sendall(line.encode() + b"\n")
    out = b""
    while not out.endswith(b"(qemu) "):
        out += s.recv(4096)
    s.close()
    return out.decode().replace("\r\n", "\n")


def test_passt_gives_the_guest_its_lease_and_the_world(procs, netns,
                                                       netbe, tmp_path):
    host, wld = world(netns)
    guest = netns.new()
    mon = tmp_path / "mon.sock"
    before = passt_pids()
    p = procs.popen(in_ns(host, [
        netbe, "-nodefaults",
        "-netdev", "tap,id=t0,ifname=nbpt0,script=no,downscript=no",
        "-netdev", "passt,id=p0",
        "-netdev", "hubport,id=h0,hubid=1,netdev=t0",
        "-netdev", "hubport,id=h1,hubid=1,netdev=p0",
        "-monitor", f"unix:{mon},server=on,wait=off"]),
        stdin=subprocess.DEVNULL)
    wait_for(lambda: link_exists(host, "nbpt0") and mon.exists(),
             what="netbe's tap and monitor")
    info = monitor_cmd(mon, "info network")
    assert "p0: index=0,type=passt,stream,connected to pid " in info, info
    pid = int(info.split("connected to pid ")[1].split()[0])
    assert pid in passt_pids() - before

    sh("ip", "-n", host, "link", "set", "nbpt0", "netns", guest)
    sh("ip", "-n", guest, "link", "set", "nbpt0", "up")
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    leases = tmp_path / "leases"
    env = dict(os.environ, LEASE_LOG=str(leases))
    r = subprocess.run(in_ns(guest, [
        "busybox", "udhcpc", "-i", "nbpt0", "-n", "-q", "-f", "-t", "5",
        "-T", "2", "-s", str(script)]), capture_output=True, text=True,
        env=env, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    lease = leases.read_text()
    # passt's lease: the host's own address, its gateway
    assert f"lease {HOST_ADDR}/" in lease, lease
    assert f"router {WORLD_ADDR}" in lease, lease

    # out into the world, from the host's address (passt's socket)
    srv = procs.popen(in_ns(wld, ["python3", "-c", SERVER, SERVER_ADDR,
                                  "8080", "world"]))
    assert srv.stdout.readline().strip() == b"listening"
    r = subprocess.run(in_ns(guest, ["python3", "-c", CLIENT, SERVER_ADDR,
                                     "8080"]),
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"world to {HOST_ADDR}"
    # and the gateway's address is the host itself (passt's mapping)
    srv = procs.popen(in_ns(host, ["python3", "-c", SERVER, "127.0.0.1",
                                   "8081", "host"]))
    assert srv.stdout.readline().strip() == b"listening"
    r = subprocess.run(in_ns(guest, ["python3", "-c", CLIENT, WORLD_ADDR,
                                     "8081"]),
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("host to ")
    stats = monitor_cmd(mon, "info stats")
    assert "p0: rx=" in stats

    # the netdev goes: so does its passt
    monitor_cmd(mon, "netdev_del p0")
    wait_for(lambda: pid not in passt_pids(), what="passt stopped")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=TIMEOUT)


def test_passt_that_exits_is_started_again(procs, netns, netbe, tmp_path):
    host, _ = world(netns)
    mon = tmp_path / "mon.sock"
    procs.popen(in_ns(host, [
        netbe, "-nodefaults", "-netdev", "passt,id=p0",
        "-monitor", f"unix:{mon},server=on,wait=off"]),
        stdin=subprocess.DEVNULL)
    wait_for(lambda: mon.exists(), what="the monitor")
    info = monitor_cmd(mon, "info network")
    pid = int(info.split("connected to pid ")[1].split()[0])
    os.kill(pid, signal.SIGKILL)

    def restarted():
        i = monitor_cmd(mon, "info network")
        return ("connected to pid " in i and
                int(i.split("connected to pid ")[1].split()[0]) != pid)

    wait_for(restarted, timeout=10, what="a new passt")


@pytest.mark.parametrize("args,msg", [
    # passt itself refuses: no routable interface in a bare namespace
    ("passt,id=p0", "Device 'passt' could not be initialized"),
    ("passt,id=p0,path=/nonexistent/passt",
     "Error creating daemon: /nonexistent/passt: No such file or directory"),
    ("passt,id=p0,vhost-user=on", "vhost-user=on is not available"),
    ("passt,id=p0,mtu=abc", "Parameter 'mtu' expects an int64 value"),
    ("passt,id=p0,quiet=maybe", "Parameter 'quiet' expects 'on' or 'off'"),
    ("passt,id=p0,foo=1", "Invalid parameter 'foo'"),
])
def test_passt_errors(procs, netns, netbe, args, msg):
    bare = netns.new()
    before = passt_pids()
    rc, _, err = procs.run(in_ns(bare, [netbe, "-nodefaults",
                                        "-netdev", args]))
    assert rc == 1
    assert f"netbe: -netdev {args}: " in err.decode(), err
    assert msg in err.decode(), err
    time.sleep(0.2)
    assert not (passt_pids() - before), "a passt was left running"
