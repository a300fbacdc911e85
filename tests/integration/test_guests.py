"""Two real Linux guests (QEMU TCG) on netbe's default network ping each
other: the first thing a user does with netbe.  netbe runs in a network
namespace of the test's (its NAT must reach nothing real)."""
import os
import subprocess
import time

import guest
import peers
from test_default_nat import in_ns, nat_ns  # noqa: F401 (fixture)


def read_log(f):
    f.seek(0)
    return f.read()


def test_two_guests_ping_on_default_network(netbe_bin, tmp_path, nat_ns):
    initrd = str(tmp_path / "initrd.gz")
    image = guest.build_initramfs(initrd)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    sock = tmp_path / "netbe" / "default.sock"
    logs = {n: open(tmp_path / f"{n}.log", "a+") for n in ("netbe", "a", "b")}
    netbe = subprocess.Popen(in_ns(nat_ns, [netbe_bin]), env=env, stdin=subprocess.DEVNULL,
                             stdout=logs["netbe"], stderr=subprocess.STDOUT)
    procs = [netbe]
    try:
        # the socket comes first, then netbe prints what it is
        peers.wait_for(lambda: sock.exists() and
                       "hostfwd_add" in read_log(logs["netbe"]),
                       what="the default network's socket and banner")
        banner = read_log(logs["netbe"])
        assert f"addr.path={sock}" in banner, banner
        netdev = (f"stream,id=n0,server=off,addr.type=unix,"
                  f"addr.path={sock}")
        b = subprocess.Popen(guest.guest_argv(image, initrd, "192.0.2.2",
                                              None, netdev,
                                              "52:54:00:00:00:02"),
                             stdin=subprocess.DEVNULL, stdout=logs["b"],
                             stderr=subprocess.STDOUT)
        procs.append(b)
        a = subprocess.Popen(guest.guest_argv(image, initrd, "192.0.2.1",
                                              "192.0.2.2", netdev,
                                              "52:54:00:00:00:01"),
                             stdin=subprocess.DEVNULL, stdout=logs["a"],
                             stderr=subprocess.STDOUT)
        procs.append(a)
        a.wait(timeout=240)
        logs["a"].seek(0)
        out = logs["a"].read()
        assert "NETBE-PING-OK 192.0.2.2" in out, out[-3000:]
        assert netbe.poll() is None, "netbe exited"
    finally:
        for p in reversed(procs):
            peers.stop(p)
        for f in logs.values():
            f.close()
