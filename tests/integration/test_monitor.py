"""The daemon's HMP monitor under abuse: signals while a wait=on monitor
waits for its first client, replies far larger than a socket buffer, a
client that never reads, control bytes and floods of bad lines.

Every daemon runs under the procs fixture, which kills it whatever
happens; every loop is bounded in time and in count.
"""
import os
import re
import resource
import signal
import socket
import subprocess
import time

import pytest

import peers
from conftest import TIMEOUT, wait_for
from test_daemon import GREETING, MonitorClient, hubport, wait_socket

CRLF_GREETING = GREETING.replace("\n", "\r\n")
# Raw control bytes a log line must never carry: all of C0 but the
# newline, and DEL.
CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def small_quarantine_env():
    """Under ASan, freed memory waits in a quarantine (256 MiB by
    default) and would read as growth; a small one keeps RSS meaningful."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":quarantine_size_mb=4").lstrip(":")
    return env


# ---- 1. wait=on and signals ----

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_waiting_for_first_client(procs, netbe, tmp_path, sig):
    """wait=on blocks start-up until a client comes, as in QEMU; a signal
    in the meantime still ends the daemon cleanly and at once."""
    path = tmp_path / "mon.sock"
    pidfile = tmp_path / "netbe.pid"
    p = procs.popen([netbe, "-nodefaults", "-pidfile", str(pidfile),
                     "-monitor", f"unix:{path},server=on,wait=on"]
                    + hubport("p0", 0))
    wait_socket(path)
    wait_for(pidfile.exists, what="the pidfile")
    # no client: the daemon is waiting, and must not have gone on yet
    time.sleep(0.2)
    assert p.poll() is None
    start = time.monotonic()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("netbe ignored the signal while waiting for "
                             "its first monitor client")
    assert time.monotonic() - start < 5
    assert p.returncode == 0, err
    assert not path.exists()
    assert not pidfile.exists()
    # the waiting line and nothing else: no sanitizer report, no leak
    assert err.decode() == (
        f"netbe: info: netbe waiting for connection on: "
        f"disconnected:unix:{path},server=on\n")


def test_wait_on_goes_on_with_first_client(procs, netbe, tmp_path):
    """The netdevs are made only once the first client is there."""
    path = tmp_path / "mon.sock"
    p = procs.popen([netbe, "-nodefaults", "-monitor",
                     f"unix:{path},server=on,wait=on"]
                    + hubport("p0", 0) + hubport("p1", 0))
    wait_socket(path)
    c = MonitorClient(path)
    assert c.read_prompt() == CRLF_GREETING
    assert c.cmd("info network") == "hub 0\r\n \\ p1\r\n \\ p0\r\n"
    c.sock.sendall(b"quit\n")
    p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    c.close()
    assert not path.exists()
