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
from test_switch import rss_kib

CRLF_GREETING = GREETING.replace("\n", "\r\n")
# Raw control bytes a log line must never carry: all of C0 but the
# newline, and DEL.
CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")


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


# ---- 2. large replies, slow and absent readers ----

def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(n, hard) if hard != resource.RLIM_INFINITY
                            else n, hard))
    return soft, hard


def read_replies(sock, n, deadline, chunk=65536, pause=0.0):
    """Read until @n prompts came; return the text before each."""
    buf = b""
    while buf.count(b"(qemu) ") < n:
        assert time.monotonic() < deadline, f"timed out; got {buf[-200:]!r}"
        data = sock.recv(chunk)
        assert data, f"monitor closed; got {buf[-200:]!r}"
        buf += data
        if pause:
            time.sleep(pause)
    pieces = buf.split(b"(qemu) ")
    assert pieces[n] == b"", pieces[n][:200]
    return [x.decode() for x in pieces[:n]]


VMS = 2500


def test_info_stats_of_thousands_of_vms(procs, netbe, tmp_path):
    """info stats for 2500 VMs is far over any socket buffer (and once
    closed the monitor at 512 KiB): every line must come, in order, to a
    client that reads slowly, and the monitor must stay usable."""
    sock_path = str(tmp_path / "lan.sock")
    mon_path = tmp_path / "mon.sock"
    need = VMS + 200
    old = raise_nofile(need)
    vms = []
    try:
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
            pytest.fail(f"cannot raise RLIMIT_NOFILE to {need}")
        p = procs.popen(
            [netbe, "-nodefaults", "-netdev",
             f"stream,id=lan,server=on,addr.type=unix,addr.path={sock_path},"
             "hubid=0,max-connections=3000",
             "-monitor", f"unix:{mon_path},server=on,wait=off"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(
                resource.RLIMIT_NOFILE, (need, max(need, old[1]))))
        peers.wait_for(lambda: peers.unix_listening(sock_path),
                       what="the switch")
        deadline = time.monotonic() + 60
        for _ in range(VMS):
            assert time.monotonic() < deadline, "connecting took too long"
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(TIMEOUT)
            s.connect(sock_path)
            vms.append(s)
        c = MonitorClient(mon_path)
        c.sock.settimeout(30)
        c.read_prompt()

        def stats():
            c.sock.sendall(b"info stats\n")
            (text,) = read_replies(c.sock, 1, deadline)
            return text.split("\r\n")[:-1]

        vm_line = re.compile(r"lan\.\d+: rx=\d+/\d+ tx=\d+/\d+ queued=\d+ "
                             r"queued_bytes=\d+ "
                             r"drop: link_down=\d+ no_peer=\d+ oversize=\d+ "
                             r"queue_full=\d+ filter=\d+ malformed=\d+ "
                             r"error=\d+ purged=\d+ segmented=\d+")
        lines = []
        while time.monotonic() < deadline:
            lines = stats()
            if sum(1 for x in lines if x.startswith("lan.")) == VMS:
                break
            time.sleep(0.2)
        names = [x.split(": ")[0] for x in lines]
        assert sorted(n for n in names if n.startswith("lan.")) == sorted(
            f"lan.{i}" for i in range(VMS))
        assert all(vm_line.fullmatch(x) for x in lines
                   if x.startswith("lan.")), lines[:3]
        assert len(set(names)) == len(names)
        # over what once closed the monitor
        assert len("\r\n".join(lines)) > 512 * 1024

        # two of them and a small one in one go, read in small pieces:
        # complete, in order, nothing lost between them
        c.sock.sendall(b"info stats\ninfo stats\ninfo network\n")
        a, b, net = read_replies(c.sock, 3, deadline, chunk=16384,
                                 pause=0.001)
        assert [x.split(": ")[0] for x in a.split("\r\n")[:-1]] == names
        assert [x.split(": ")[0] for x in b.split("\r\n")[:-1]] == names
        assert net.startswith("hub 0\r\n")
        assert net.count("lan.") >= VMS
        # and the monitor is still there for a small command
        assert c.cmd("netdev_del nosuch") == (
            "Error: Device 'nosuch' not found\r\n")
        c.close()
        for s in vms:
            s.close()
        vms = []
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
        assert p.returncode == 0
    finally:
        for s in vms:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def test_monitor_client_that_never_reads(procs, netbe, tmp_path):
    """A client that types command after command and never reads: the
    daemon stops reading it once its replies pile up (its sends block),
    its memory stays flat, a second monitor answers meanwhile, and when
    the client reads at last it gets every reply, whole and in order."""
    path_a = tmp_path / "a.sock"
    path_b = tmp_path / "b.sock"
    args = [netbe, "-nodefaults",
            "-monitor", f"unix:{path_a},server=on,wait=off",
            "-monitor", f"unix:{path_b},server=on,wait=off"]
    for i in range(40):
        args += hubport(f"port{i}", i % 4)
    p = procs.popen(args, env=small_quarantine_env(),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wait_socket(path_a)
    wait_socket(path_b)
    b = MonitorClient(path_b)
    b.read_prompt()
    expected = b.cmd("info network")
    assert expected.count("\r\n") == 44

    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.connect(str(path_a))
    a.setblocking(False)
    line = b"info network\n"
    burst = line * 64
    sent = 0
    rss = []
    deadline = time.monotonic() + 20
    blocked_since = None
    # send until the daemon has stopped taking input for a while
    while time.monotonic() < deadline:
        try:
            n = a.send(burst[sent % len(burst):])
            sent += n
            blocked_since = None
        except BlockingIOError:
            if blocked_since is None:
                blocked_since = time.monotonic()
                rss.append(rss_kib(p.pid))
            elif time.monotonic() - blocked_since > 1.0:
                break
            time.sleep(0.01)
        assert sent < 64 << 20, "the daemon never stopped reading"
    else:
        raise AssertionError("sending never blocked")
    rss.append(rss_kib(p.pid))
    # the daemon took only a little: its input is paused, not buffered
    assert sent < 4 << 20, sent
    # meanwhile the other monitor answers and the daemon does not grow
    for _ in range(50):
        assert b.cmd("info network") == expected
    rss.append(rss_kib(p.pid))
    assert max(rss) - min(rss) < 16 * 1024, rss
    assert p.poll() is None

    # now read: every complete command sent got its whole reply
    a.setblocking(True)
    a.settimeout(TIMEOUT)
    n = sent // len(line)
    replies = read_replies(a, n + 1, time.monotonic() + 60)
    assert replies[0] == CRLF_GREETING
    assert replies[1:] == [expected] * n
    # finish the partial line, and the client is served as before
    a.sendall(line[sent % len(line):])
    assert read_replies(a, 1, time.monotonic() + TIMEOUT) == [expected]
    a.close()
    b.close()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=TIMEOUT) == 0


# ---- 3 and 4. control bytes and floods in the log ----

def test_control_bytes_are_escaped(procs, netbe, tmp_path):
    """Monitor input reaches stderr (netdev_add's parse errors, as in
    QEMU) and the replies: raw control bytes must reach neither."""
    path = tmp_path / "mon.sock"
    p = procs.popen([netbe, "-nodefaults", "-monitor",
                     f"unix:{path},server=on,wait=off"] + hubport("p0", 0))
    wait_socket(path)
    c = MonitorClient(path)
    c.read_prompt()
    assert c.cmd("\x1b[2Jfoo\x07\rbar") == (
        "unknown command: '\\x1b[2Jfoo\\x07'\r\n")
    # short-form booleans are warned about on stderr, with the key
    assert c.cmd("netdev_add hubport,id=p1,hubid=1,\x1b]0;owned\x07") == (
        "Error: Invalid parameter '\\x1b]0;owned\\x07'\r\n")
    c.cmd('netdev_add "hubport,id=p2,hubid=1,\\r\x01x"')
    # printable input is still answered as QEMU answers
    assert c.cmd("netdev_del nosuch") == (
        "Error: Device 'nosuch' not found\r\n")
    c.close()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    assert not CONTROL.search(err), err
    assert b"\\x1b]0;owned\\x07" in err
    assert b"\\x0d\\x01x" in err


def test_log_flood_from_one_client_is_rate_limited(procs, netbe, tmp_path):
    """Each bad netdev_add logs a line, as in QEMU; a client sending
    thousands of them gets the 1st, 2nd, 4th, 8th... logged, and the next
    client starts afresh."""
    path = tmp_path / "mon.sock"
    log = tmp_path / "netbe.log"
    with open(log, "wb") as f:
        p = procs.popen([netbe, "-nodefaults", "-monitor",
                         f"unix:{path},server=on,wait=off"]
                        + hubport("p0", 0), stdout=subprocess.DEVNULL,
                        stderr=f)
    wait_socket(path)
    c = MonitorClient(path)
    c.read_prompt()
    deadline = time.monotonic() + 60
    # 3000 lines, in rounds so that neither side's buffers fill up
    for _ in range(30):
        c.sock.sendall(b"netdev_add hubport,id=p0,hubid=1\n" * 100)
        assert read_replies(c.sock, 100, deadline) == [
            'Try "help netdev_add" for more information\r\n'] * 100
    c.close()
    c = MonitorClient(path)
    c.read_prompt()
    c.cmd("netdev_add hubport,id=p0,hubid=1")
    c.close()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=TIMEOUT) == 0
    lines = [x for x in log.read_text().splitlines()
             if not x.endswith(" has no peer")]
    dup = "netbe: Duplicate ID 'p0' for netdev"
    # 1, 2, 4, ..., 2048 of the first client, then the second's first
    assert lines.count(dup) == 12 + 1, lines
    notes = [x for x in lines if "are shown" in x]
    assert len(notes) == 10, lines
    assert notes[0] == ("netbe: warning: monitor unix:" + str(path) +
                        ": 4 messages from this client so far, only the "
                        "1st, 2nd, 4th, 8th... are shown")
    assert len(lines) == 13 + 10, lines
