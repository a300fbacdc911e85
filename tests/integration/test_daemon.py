"""The netbe daemon against QEMU 7.2: the same command line and monitor
commands must print the same text (info network, start-up warnings, error
messages), with "netbe: " where QEMU says "qemu-system-x86_64: ".

Also the daemon's own life cycle: pidfile, unix monitor socket, signals,
-daemonize, --version and --help.

QEMU runs are kept short: -M none, no display, quit through the monitor,
a timeout on every run.  Nothing leaves the machine: only unix sockets.
"""

import os
import re
import signal
import socket
import time

import pytest

from conftest import TIMEOUT, pid_alive, wait_for

QEMU_PROG = "qemu-system-x86_64: "
NETBE_PROG = "netbe: "
GREETING = "netbe 0.1.0 monitor - type 'help' for more information\n"
QEMU_GREETING = re.compile(
    r"QEMU 7\.2\.\d+ monitor - type 'help' for more information\n")


def qemu_stderr_as_netbe(err):
    """QEMU's stderr with its program name replaced by ours."""
    return "".join(
        NETBE_PROG + line[len(QEMU_PROG):] if line.startswith(QEMU_PROG)
        else line
        for line in err.splitlines(keepends=True))


def hubport(id_, hub):
    return ["-netdev", f"hubport,id={id_},hubid={hub}"]


P0_P1 = hubport("p0", 0) + hubport("p1", 0)

# (name, command line, monitor lines): each runs on both programs.
MONITOR_CASES = [
    ("one-hub", P0_P1, ["info network"]),
    ("two-hubs",
     hubport("a", 1) + hubport("b", 2) + hubport("c", 1),
     ["info network"]),
    ("no-network", ["-net", "none"], ["info network"]),
    ("netdev_add", P0_P1,
     ["netdev_add hubport,id=p2,hubid=3", "info network",
      "netdev_add hubport,id=p3,hubid=0", "info network"]),
    ("netdev_del", P0_P1,
     ["netdev_del p1", "info network",
      "netdev_add hubport,id=p1,hubid=5", "info network",
      "netdev_del p0", "netdev_del p1", "info network"]),
    ("set_link", P0_P1,
     ["set_link p0 off", "info network", "set_link p0 on", "info network",
      "set_link p1 off", "info network"]),
    ("errors", P0_P1,
     ["netdev_del x", "netdev_del hub0port0", "set_link nosuch on",
      "set_link p0 maybe", "set_link p0", "set_link", "set_link p0 on x",
      "netdev_del", "netdev_del p0 p1", "netdev_add foo,id=z",
      "netdev_add hubport,id=z", "netdev_add nic,id=n",
      "netdev_add hubport,id=z,hubid=0,x=on",
      "netdev_add hubport,id=z,hubid=x",
      "netdev_add hubport,id=z,hubid=1,netdev=nosuch", "netdev_add",
      "foo bar", "   foo", "info foo", "info network x", "quit now", "",
      "   ", "info network"]),
    ("duplicate", P0_P1,
     ["netdev_add hubport,id=p0,hubid=3", "netdev_add hubport,id=1x",
      "info network"]),
    ("quoting", P0_P1,
     ['set_link "p0" off', 'netdev_add "hubport,id=q,hubid=4"',
      'netdev_del "q', 'set_link "p\\x" on', "info network"]),
    ("help", P0_P1,
     ["help set_link", "help netdev_del", "help help",
      "help info network", "help nosuch", "help info nosuch",
      "? set_link"]),
]


@pytest.mark.parametrize("name,args,lines", MONITOR_CASES,
                         ids=[c[0] for c in MONITOR_CASES])
def test_monitor_matches_qemu(procs, netbe, qemu, name, args, lines):
    q_rc, q_greeting, q_answers, q_err = procs.monitor(qemu + args, lines,
                                                       echo=True)
    n_rc, n_greeting, n_answers, n_err = procs.monitor([netbe] + args,
                                                       lines, echo=False)
    assert QEMU_GREETING.fullmatch(q_greeting), q_greeting
    assert n_greeting == GREETING
    for line, q, n in zip(lines, q_answers, n_answers):
        assert n == q, f"answer to {line!r}"
    # start-up warnings, and what HMP argument parsing reports to stderr
    assert n_err == qemu_stderr_as_netbe(q_err)
    assert q_rc == 0
    assert n_rc == 0


def test_help_texts(procs, netbe):
    """netbe's own lines: its types in netdev_add, no emulator to quit."""
    rc, _, answers, _ = procs.monitor(
        [netbe, "-nodefaults"],
        ["help quit", "help netdev_add", "help", "info", "help info"],
        echo=False)
    assert rc == 0
    assert answers[0] == "quit|q  -- quit netbe\n"
    assert answers[1].startswith("netdev_add [")
    assert "hubport" in answers[1].split("]")[0]
    assert answers[1].endswith(
        "],id=str[,prop=value][,...] -- add host network device\n")
    names = [line.split(" ")[0] for line in answers[2].splitlines()]
    assert names == ["help|?", "hostfwd_add", "hostfwd_remove", "info",
                     "netdev_add", "netdev_del", "object_add", "object_del",
                     "quit|q", "set_link"]
    # QEMU's info has dozens of subcommands; netbe has network, stats and
    # usernet
    assert answers[3] == answers[4] == (
        "info network  -- show the network state\n"
        "info stats  -- show every client's frame, byte and drop counters\n"
        "info usernet  -- show user network stack connection states\n")


def test_info_network_text(procs, netbe):
    """Pin the text itself, not only the agreement with QEMU."""
    rc, _, answers, err = procs.monitor(
        [netbe] + P0_P1 + hubport("x", 7),
        ["info network", "netdev_del p0", "info network"], echo=False)
    assert rc == 0
    assert answers == ["hub 7\n \\ x\nhub 0\n \\ p1\n \\ p0\n", "",
                       "hub 7\n \\ x\nhub 0\n \\ p1\n"]
    assert err == ("netbe: warning: hub port x has no peer\n"
                   "netbe: warning: hub port p1 has no peer\n"
                   "netbe: warning: hub port p0 has no peer\n"
                   "netbe: warning: netdev p0 has no peer\n"
                   "netbe: warning: netdev p1 has no peer\n"
                   "netbe: warning: netdev x has no peer\n")


BAD_COMMAND_LINES = [
    ("missing-hubid", ["-netdev", "hubport,id=p0"]),
    ("bad-id", ["-netdev", "hubport,id=1abc,hubid=0"]),
    ("empty-id", ["-net", "none,id="]),
    ("missing-id", ["-netdev", "hubport,hubid=0"]),
    ("missing-type", ["-netdev", "id=x"]),
    ("unknown-type", ["-netdev", "foo,id=x"]),
    ("unknown-net-type", ["-net", "foo"]),
    ("nic-netdev", ["-netdev", "nic,id=x"]),
    ("hubport-net", ["-net", "hubport,hubid=0"]),
    ("bad-number", ["-netdev", "hubport,id=p0,hubid=x"]),
    ("big-number", ["-netdev", "hubport,id=p0,hubid=99999999999"]),
    ("invalid-parameter", ["-netdev", "hubport,id=p0,hubid=0,x=on"]),
    ("no-such-netdev", ["-netdev", "hubport,id=p0,hubid=0,netdev=q"]),
    ("duplicate", hubport("p0", 0) + hubport("p0", 1)),
    ("duplicate-net", ["-net", "none,id=n", "-net", "none,id=n"]),
    ("bad-bool", ["-monitor", "unix:{tmp}/m.sock,server=maybe,wait=off"]),
    # a later error wins over nothing: the first bad option is reported
    ("second-bad", hubport("p0", 0) + ["-netdev", "hubport,id=p1"]),
]


@pytest.mark.parametrize("name,args", BAD_COMMAND_LINES,
                         ids=[c[0] for c in BAD_COMMAND_LINES])
def test_bad_command_line_matches_qemu(procs, netbe, qemu, tmp_path, name,
                                       args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    q_rc, _, q_err = procs.run(qemu + args)
    pidfile = tmp_path / "netbe.pid"
    n_rc, n_out, n_err = procs.run(
        [netbe, "-pidfile", str(pidfile)] + args)
    assert q_rc == 1
    assert n_rc == 1
    assert n_out == b""
    n_lines = n_err.decode().splitlines(keepends=True)
    # one line; QEMU may add a hint line ("Identifiers consist of ...",
    # "parse error: ...") that netbe leaves out
    assert len(n_lines) == 1, n_lines
    assert n_lines[0] == qemu_stderr_as_netbe(q_err.decode()).splitlines(
        keepends=True)[0]
    # nothing left behind
    assert sorted(os.listdir(tmp_path)) == []


def test_short_form_warning_matches_qemu(procs, netbe, qemu):
    args = ["-netdev", "hubport,id=p0,hubid=0,x"]
    q_rc, _, q_err = procs.run(qemu + args)
    n_rc, _, n_err = procs.run([netbe] + args)
    assert (q_rc, n_rc) == (1, 1)
    assert n_err.decode() == qemu_stderr_as_netbe(q_err.decode())


def test_bad_option(procs, netbe):
    assert procs.run([netbe, "-nosuch"]) == (
        1, b"", b"netbe: -nosuch: invalid option\n")
    assert procs.run([netbe, "stray"]) == (
        1, b"", b"netbe: stray: invalid option\n")
    assert procs.run([netbe, "-netdev"]) == (
        1, b"", b"netbe: -netdev: requires an argument\n")
    rc, _, err = procs.run([netbe, "-monitor", "foo:bar"])
    assert (rc, err) == (
        1, b"netbe: -monitor foo:bar: 'foo:bar' is not a valid char driver\n")


def test_netdev_help(procs, netbe, qemu):
    rc, out, err = procs.run([netbe, "-netdev", "help"])
    q_rc, q_out, _ = procs.run(qemu + ["-netdev", "help"])
    assert (rc, q_rc, err) == (0, 0, b"")
    lines = out.decode().splitlines()
    q_lines = q_out.decode().splitlines()
    assert lines[0] == q_lines[0] == "Available netdev backend types:"
    assert "hubport" in lines[1:]
    # netbe lists what it has, in QEMU's order
    known = [t for t in q_lines[1:] if t in lines[1:]]
    assert known == [t for t in lines[1:] if t in q_lines[1:]]

    rc, out, err = procs.run([netbe, "-netdev", "hubport,help"])
    assert (rc, err) == (0, b"")
    assert b"hubid=" in out and b"netdev=" in out

    rc, out, err = procs.run([netbe, "-netdev", "foo,help"])
    assert (rc, out) == (1, b"")
    assert err == (b"netbe: -netdev foo,help: Parameter 'type' expects a "
                   b"netdev backend type\n")

    # the monitor's netdev_add help says the same
    rc, _, answers, _ = procs.monitor([netbe, "-nodefaults"],
                                      ["netdev_add help"], echo=False)
    assert rc == 0
    assert answers == [out_of(procs, netbe)]


def out_of(procs, netbe):
    return procs.run([netbe, "-netdev", "help"])[1].decode()


def test_version_and_help(procs, netbe):
    for opt in ("--version", "-version"):
        assert procs.run([netbe, opt]) == (0, b"netbe version 0.1.0\n", b"")
    for opt in ("--help", "-help", "-h"):
        rc, out, err = procs.run([netbe, opt])
        assert (rc, err) == (0, b"")
        assert out.startswith(b"usage: netbe")
        for word in (b"-netdev", b"-net ", b"-nodefaults", b"-monitor",
                     b"-pidfile", b"-daemonize"):
            assert word in out


def test_long_options(procs, netbe):
    rc, _, answers, err = procs.monitor(
        [netbe, "--netdev", "hubport,id=p0,hubid=0", "--nodefaults"],
        ["info network"], echo=False)
    assert rc == 0
    assert answers == ["hub 0\n \\ p0\n"]


def test_pidfile_removed_on_sigterm(procs, netbe, tmp_path):
    pidfile = tmp_path / "netbe.pid"
    p = procs.popen([netbe, "-nodefaults", "-pidfile", str(pidfile)]
                    + P0_P1)
    wait_for(pidfile.exists, what="the pidfile")
    wait_for(lambda: pidfile.read_text() == f"{p.pid}\n",
             what="the pid in the pidfile")
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, err
    assert not pidfile.exists()
    # only the start-up warnings: no sanitizer report, no leak
    assert err.decode().count("\n") == 4, err
    assert "ERROR" not in err.decode()


def test_pidfile_locked(procs, netbe, tmp_path):
    pidfile = tmp_path / "netbe.pid"
    p = procs.popen([netbe, "-nodefaults", "-pidfile", str(pidfile)])
    wait_for(lambda: pidfile.exists() and pidfile.read_text(),
             what="the pidfile")
    rc, _, err = procs.run([netbe, "-nodefaults", "-pidfile", str(pidfile)])
    assert rc == 1
    assert err.startswith(b"netbe: cannot create PID file: ")
    # the second daemon must not take the first one's file away
    assert pidfile.read_text() == f"{p.pid}\n"
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    assert not pidfile.exists()


class MonitorClient:
    """A client of the unix-socket monitor."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(str(path))
        self.buf = b""

    def read_prompt(self):
        """Everything up to and including the next prompt."""
        while b"(qemu) " not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"monitor closed; got {self.buf!r}")
            self.buf += data
        head, _, self.buf = self.buf.partition(b"(qemu) ")
        return head.decode()

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self.read_prompt()

    def close(self):
        self.sock.close()


def wait_socket(path):
    wait_for(lambda: path.exists(), what=f"socket {path}")


def test_unix_monitor_sequential_clients(procs, netbe, tmp_path):
    path = tmp_path / "mon.sock"
    p = procs.popen([netbe, "-nodefaults", "-monitor",
                     f"unix:{path},server=on,wait=off"] + P0_P1)
    wait_socket(path)
    for _ in range(3):
        c = MonitorClient(path)
        assert c.read_prompt() == GREETING.replace("\n", "\r\n")
        assert c.cmd("info network") == "hub 0\r\n \\ p1\r\n \\ p0\r\n"
        assert c.cmd("netdev_del nosuch") == (
            "Error: Device 'nosuch' not found\r\n")
        c.close()
    # a client that leaves in the middle of a line changes nothing
    c = MonitorClient(path)
    c.read_prompt()
    c.sock.sendall(b"info netw")
    c.close()
    c = MonitorClient(path)
    c.read_prompt()
    assert c.cmd("info network") == "hub 0\r\n \\ p1\r\n \\ p0\r\n"
    c.close()
    assert p.poll() is None
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, err
    assert not path.exists()


def test_unix_monitor_legacy_syntax_and_quit(procs, netbe, tmp_path):
    path = tmp_path / "mon.sock"
    p = procs.popen([netbe, "-nodefaults", "-monitor",
                     f"unix:{path},server,nowait"])
    wait_socket(path)
    c = MonitorClient(path)
    c.read_prompt()
    assert c.cmd("netdev_add hubport,id=h,hubid=2") == ""
    assert c.cmd("info network") == "hub 2\r\n \\ h\r\n"
    c.sock.sendall(b"quit\n")
    p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    assert c.sock.recv(100) == b""
    c.close()
    assert not path.exists()


def test_unix_monitor_long_line(procs, netbe, tmp_path):
    path = tmp_path / "mon.sock"
    p = procs.popen([netbe, "-nodefaults", "-monitor",
                     f"unix:{path},server=on,wait=off"] + P0_P1)
    wait_socket(path)
    c = MonitorClient(path)
    c.read_prompt()
    assert c.cmd("set_link " + "x" * 5000 + " on") == (
        "Error: command line too long (more than 4096 bytes)\r\n")
    # the longest line that fits is still taken
    assert c.cmd("netdev_del " + "y" * (4096 - 11)) == (
        f"Error: Device '{'y' * (4096 - 11)}' not found\r\n")
    assert c.cmd("info network") == "hub 0\r\n \\ p1\r\n \\ p0\r\n"
    c.close()
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0


def test_stdio_monitor_eof_keeps_running(procs, netbe):
    """As QEMU: the end of stdin does not stop the daemon."""
    p = procs.popen([netbe, "-nodefaults", "-monitor", "stdio"])
    p.stdin.close()
    time.sleep(0.5)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=TIMEOUT) == 0
    assert p.stdout.read() == GREETING.replace("\n", "\r\n").encode() + \
        b"(qemu) "


def test_daemonize(procs, netbe, tmp_path):
    pidfile = tmp_path / "netbe.pid"
    path = tmp_path / "mon.sock"
    rc, out, err = procs.run(
        [netbe, "-daemonize", "-pidfile", str(pidfile), "-monitor",
         f"unix:{path},server=on,wait=off"] + P0_P1)
    assert (rc, out) == (0, b"")
    # the parent returned only once the child was ready
    assert pidfile.exists()
    assert path.exists()
    pid = int(pidfile.read_text())
    procs.adopt_pid(pid)
    assert pid_alive(pid)
    # the start-up warnings went to the caller's stderr, the rest nowhere
    assert err.decode().count("warning:") == 4
    c = MonitorClient(path)
    assert c.read_prompt() == GREETING.replace("\n", "\r\n")
    assert c.cmd("info network") == "hub 0\r\n \\ p1\r\n \\ p0\r\n"
    c.sock.sendall(b"quit\n")
    wait_for(lambda: not pid_alive(pid), what="the daemon to exit")
    c.close()
    assert not pidfile.exists()
    assert not path.exists()


def test_daemonize_failure(procs, netbe, tmp_path):
    pidfile = tmp_path / "netbe.pid"
    rc, out, err = procs.run(
        [netbe, "-daemonize", "-pidfile", str(pidfile), "-netdev",
         "hubport,id=p0"])
    assert (rc, out) == (1, b"")
    assert err == b"netbe: -netdev hubport,id=p0: Parameter 'hubid' is " \
                  b"missing\n"
    assert not pidfile.exists()
    rc, _, err = procs.run([netbe, "-daemonize", "-monitor", "stdio"])
    assert rc == 1
    assert err == b"netbe: -monitor stdio: cannot use stdio with -daemonize\n"


def test_unix_monitor_client_that_does_not_read(procs, netbe, tmp_path):
    """Output for a client that never reads is bounded: the daemon stops
    reading it (its sends block), and once it leaves the daemon and the
    next client go on."""
    path = tmp_path / "mon.sock"
    p = procs.popen([netbe, "-nodefaults", "-monitor",
                     f"unix:{path},server=on,wait=off"] + P0_P1)
    wait_socket(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(2)
    s.connect(str(path))
    with pytest.raises(OSError):
        for _ in range(10000):
            s.sendall(b"help\n" * 100)
    s.close()
    c = MonitorClient(path)
    c.read_prompt()
    # CR LF line ends are fine too
    assert c.cmd("info network\r") == "hub 0\r\n \\ p1\r\n \\ p0\r\n"
    c.close()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=TIMEOUT) == 0
