"""QMP: netbe's machine monitor against QEMU 7.2's, and under abuse.

A raw client speaks QMP over a unix socket to netbe and to
qemu-system-x86_64 -M none with the same arguments; every reply must be
the same text (the version, the "oob" capability netbe does not offer,
timestamps and temporary paths aside).  Then what QEMU 7.2 does not
have: QEMU 8.0's NETDEV_STREAM_CONNECTED/DISCONNECTED events, netbe's
switch-port events and commands, several monitors at once, and bad input
(malformed JSON, a 1 MiB line, nesting bombs, a client that never reads)
that must cost one monitor at most, never the daemon or its memory.

Every process runs under the procs fixture; sockets live in the test's
tmp_path.
"""
import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import QEMU_BASE, TIMEOUT, qemu_bin, wait_for
from test_daemon import qemu_stderr_as_netbe
from test_monitor import small_quarantine_env
from test_switch import rss_kib

VERSION_RE = re.compile(
    r'\{"qemu": \{"micro": \d+, "minor": \d+, "major": \d+\}, '
    r'"package": "[^"]*"\}')
PRETTY_VERSION_RE = re.compile(
    r'\{\r\n( +)"qemu": \{\r\n +"micro": \d+,\r\n +"minor": \d+,\r\n'
    r' +"major": \d+\r\n +\},\r\n +"package": "[^"]*"\r\n +\}')
TIMESTAMP_RE = re.compile(r'"seconds": \d+, "microseconds": \d+')


class QmpClient:
    """Raw QMP: bytes out, "\\r\\n"-terminated messages in."""

    def __init__(self, path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.events = []

    def recv_msg(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"QMP closed; got {self.buf!r}")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode()

    def recv_pretty(self):
        """One -qmp-pretty message: up to a "}" alone on its line."""
        while b"\r\n}\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"QMP closed; got {self.buf!r}")
            self.buf += data
        msg, _, self.buf = self.buf.partition(b"\r\n}\r\n")
        return msg.decode() + "\r\n}"

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, execute, arguments=None, **kw):
        msg = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        msg.update(kw)
        self.send(json.dumps(msg) + "\n")
        while True:
            reply = json.loads(self.recv_msg())
            if "event" not in reply:
                return reply
            self.events.append(reply)

    def negotiate(self):
        greeting = json.loads(self.recv_msg())
        assert "QMP" in greeting
        assert self.cmd("qmp_capabilities") == {"return": {}}
        return greeting

    def event(self, name=None):
        while True:
            msg = (self.events.pop(0) if self.events
                   else json.loads(self.recv_msg()))
            if "event" in msg and (name is None or msg["event"] == name):
                return msg

    def no_message(self, wait=0.3):
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = None
        finally:
            self.sock.settimeout(TIMEOUT)
        assert not data and not self.buf, (self.buf, data)

    def close(self):
        self.sock.close()


def wait_socket(path):
    wait_for(path.exists, what=f"socket {path}")


def start(procs, prog, path, args=(), opt="-qmp", env=None):
    own = [opt, f"unix:{path},server=on,wait=off"] if opt else []
    p = procs.popen(prog + own + list(args), env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL)
    wait_socket(path)
    return p


def normalise(text, tmp):
    text = VERSION_RE.sub("VERSION", text)
    text = PRETTY_VERSION_RE.sub(r"VERSION", text)
    text = TIMESTAMP_RE.sub('"seconds": S, "microseconds": U', text)
    text = text.replace('"capabilities": ["oob"]', '"capabilities": []')
    text = text.replace('"capabilities": [\r\n            "oob"\r\n'
                        '        ]', '"capabilities": [\r\n        ]')
    return text.replace(str(tmp), "TMP")


def hubport(id_, hub):
    return ["-netdev", f"hubport,id={id_},hubid={hub}"]


# Each line gets exactly one reply, from QEMU and from netbe.  {tmp} is
# the program's own directory.
CASES = [
    ("negotiation", [
        '{"execute": "query-version"}',
        '{"execute": "nosuch"}',
        '{"execute": "qmp_capabilities", "id": 5}',
        '{"execute": "qmp_capabilities"}',
        '{"execute": "qmp_capabilities", "arguments": {"x": 1}}',
        '{"execute": "query-version", "id": "v"}',
    ]),
    ("ids", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "query-version", "id": {"a": [1, 2], "b": {}}}',
        '{"execute": "query-version", "id": null}',
        '{"execute": "query-version", "id": "\\/\\b\\u007f\\u0000x\\u00e9"}',
        '{"execute": "query-version", "id": 1.5e3}',
        '{"execute": "query-version", "id": -0.0}',
        '{"execute": "query-version", "id": 0.1}',
        '{"execute": "query-version", "id": 12345678901234567890}',
        "{'execute': 'query-version', 'id': 'a\"b'}",
        '{"execute": "q\\u00e9\\ud83d\\ude00/", "id": true}',
    ]),
    ("framing", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "query-version", "id": 1} '
        '{"execute": "query-version", "id": 2}',
        '{"execute":\n "query-version",\n "id": 3}',
    ]),
    ("dispatch-errors", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "nosuch", "id": 1}',
        '{"foo": 1}',
        '{"id": 7}',
        '{"execute": 1}',
        '{"execute": "query-version", "arguments": 1}',
        '{"execute": "query-version", "arguments": {"x": 1}}',
        '{"execute": "query-version", "id": 8, "control": 1}',
        '{"exec-oob": "query-version", "id": 9}',
        '[1, 2]',
        '42',
        '"str"',
        '{"execute": }',
        'garbage',
        '}',
        '{"execute": "query-version", "id": 10}',
    ]),
    ("commands", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "set_link", "arguments": {"name": "x"}}',
        '{"execute": "set_link", "arguments": {"name": "x", "up": "yes"}}',
        '{"execute": "set_link", "arguments": {"name": 1, "up": true}}',
        '{"execute": "set_link", "arguments": {"name": "x", "up": true}}',
        '{"execute": "set_link", "arguments": {"name": "p0", "up": false}}',
        '{"execute": "netdev_del", "arguments": {"id": "x"}}',
        '{"execute": "netdev_del", "arguments": {}}',
        '{"execute": "netdev_del"}',
        '{"execute": "query-rx-filter"}',
        '{"execute": "query-rx-filter", "arguments": {"name": "x"}}',
        '{"execute": "query-rx-filter", "arguments": {"name": "p0"}}',
        '{"execute": "query-rx-filter", "arguments": {"name": 5}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info nosuch"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "netdev_add foo,id=x"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network", "cpu-index": 0}}',
        '{"execute": "human-monitor-command", "arguments": {}}',
        '{"execute": "netdev_del", "arguments": {"id": "p1"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network"}}',
    ]),
    ("netdev_add", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h0", "hubid": 0}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h0", "hubid": 0}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "1h", "hubid": 0}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h1", "hubid": "0"}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h1"}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h1", "hubid": 5000000000}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h1", "hubid": 1.5}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h1", "hubid": 1, "x": 2}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": "h1", "hubid": 1, "netdev": "nosuch"}}',
        '{"execute": "netdev_add", "arguments": {"type": "foo", "id": "h1"}}',
        '{"execute": "netdev_add", "arguments": {"id": "h1"}}',
        '{"execute": "netdev_add", "arguments": {"type": 5}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"hubid": 1}}',
        '{"execute": "netdev_add", "arguments": {"type": "hubport", '
        '"id": 5, "hubid": 1}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s0", "server": true, "addr": {"type": "unix", '
        '"path": "{tmp}/s0.sock"}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "server": "on", "addr": {"type": "unix", '
        '"path": "{tmp}/s1.sock"}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": "x"}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": {"type": "inet", "host": "127.0.0.1", '
        '"port": 5}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": {"type": "inet", "host": "127.0.0.1"}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": {"type": "bad"}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": {"port": "1"}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": {"type": "unix", "path": "/x", "foo": 1}}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1"}}',
        '{"execute": "netdev_add", "arguments": {"type": "stream", '
        '"id": "s1", "addr": {"type": "inet", "host": "127.0.0.1", '
        '"port": "1", "to": 70000}}}',
        '{"execute": "netdev_add", "arguments": {"type": "dgram", '
        '"id": "d0"}}',
        '{"execute": "netdev_add", "arguments": {"type": "socket", '
        '"id": "k0", "listen": 5}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network"}}',
        '{"execute": "netdev_del", "arguments": {"id": "s0"}}',
        '{"execute": "netdev_del", "arguments": {"id": "h0"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network"}}',
    ]),
    ("objects", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "object-add", "arguments": {"qom-type": '
        '"filter-buffer", "id": "f0", "netdev": "p0", "interval": 1000}}',
        '{"execute": "object-add", "arguments": {"qom-type": '
        '"filter-buffer", "id": "f0", "netdev": "p0", "interval": 1000}}',
        '{"execute": "object-add", "arguments": {"qom-type": '
        '"filter-dump", "id": "f1", "netdev": "p1", '
        '"file": "{tmp}/d.pcap", "maxlen": 64}}',
        '{"execute": "object-add", "arguments": {"qom-type": '
        '"filter-buffer", "id": "f2", "netdev": "nosuch", "interval": 5}}',
        '{"execute": "object-add", "arguments": {"qom-type": "nosuch", '
        '"id": "f3"}}',
        '{"execute": "object-add", "arguments": {"qom-type": '
        '"filter-buffer", "id": "f4", "netdev": "p0"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network"}}',
        '{"execute": "object-del", "arguments": {"id": "f0"}}',
        '{"execute": "object-del", "arguments": {"id": "f0"}}',
        '{"execute": "object-del", "arguments": {"id": "f1"}}',
        '{"execute": "human-monitor-command", '
        '"arguments": {"command-line": "info network"}}',
    ]),
    ("quit", [
        '{"execute": "qmp_capabilities"}',
        '{"execute": "quit", "id": "bye"}',
    ]),
]


def run_lines(procs, prog, path, tmp, lines, pretty=False, args=()):
    p = start(procs, prog, path, list(args) + hubport("p0", 0)
              + hubport("p1", 0), "-qmp-pretty" if pretty else "-qmp")
    c = QmpClient(path)
    recv = c.recv_pretty if pretty else c.recv_msg
    out = [recv()]
    # QEMU 7.2 may send the machine's RESUME event before its greeting
    # (a monitor that connects before its OPENED event ran is not yet in
    # negotiation mode): the greeting is what is compared
    while '"event"' in out[0]:
        out = [recv()]
    for line in lines:
        c.send(line.replace("{tmp}", str(tmp)) + "\n")
        # "quit" sends an event first; two messages then
        n = 2 if '"quit"' in line else 1
        out.append("\n".join(recv() for _ in range(n)))
    c.close()
    if any('"quit"' in line for line in lines):
        p.wait(timeout=TIMEOUT)
    return [normalise(x, tmp) for x in out]


@pytest.mark.parametrize("name,lines", CASES, ids=[c[0] for c in CASES])
def test_replies_match_qemu(procs, netbe, tmp_path, name, lines):
    qdir = tmp_path / "qemu"
    ndir = tmp_path / "netbe"
    qdir.mkdir()
    ndir.mkdir()
    want = run_lines(procs, [qemu_bin()] + QEMU_BASE, qdir / "q.sock", qdir,
                     lines)
    got = run_lines(procs, [netbe, "-nodefaults"], ndir / "q.sock", ndir,
                    lines)
    for line, w, g in zip(["greeting"] + lines, want, got):
        assert g == w, f"for {line!r}"


def test_pretty_matches_qemu(procs, netbe, tmp_path):
    lines = ['{"execute": "qmp_capabilities", "id": [1, {"a": []}, [], {}]}',
             '{"execute": "query-rx-filter"}',
             '{"execute": "nosuch"}',
             '{"execute": "query-version"}',
             '{"execute": "human-monitor-command", '
             '"arguments": {"command-line": "info network"}}']
    qdir = tmp_path / "qemu"
    ndir = tmp_path / "netbe"
    qdir.mkdir()
    ndir.mkdir()
    want = run_lines(procs, [qemu_bin()] + QEMU_BASE, qdir / "q.sock", qdir,
                     lines, pretty=True)
    got = run_lines(procs, [netbe, "-nodefaults"], ndir / "q.sock", ndir,
                    lines, pretty=True)
    assert got == want


# ---- events ----

def stream_peer(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(str(path))
    return s


def check_ts(msg):
    ts = msg["timestamp"]
    assert set(ts) == {"seconds", "microseconds"}
    assert abs(ts["seconds"] - time.time()) < 60
    assert 0 <= ts["microseconds"] < 1000000


def test_stream_events(procs, netbe, tmp_path):
    """QEMU 8.0's NETDEV_STREAM_CONNECTED/DISCONNECTED: a unix server
    names its own path, a TCP server the peer, a client the server."""
    srv = tmp_path / "srv.sock"
    lsn = tmp_path / "client-target.sock"
    target = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    target.bind(str(lsn))
    target.listen(1)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    tcp.close()
    q = tmp_path / "q.sock"
    start(procs, [netbe, "-nodefaults"], q, [
        "-netdev", f"stream,id=s0,server=on,addr.type=unix,"
        f"addr.path={srv}",
        "-netdev", f"stream,id=t0,server=on,addr.type=inet,"
        f"addr.host=127.0.0.1,addr.port={port}"])
    c = QmpClient(q)
    c.negotiate()

    peer = stream_peer(srv)
    ev = c.event()
    check_ts(ev)
    assert ev["event"] == "NETDEV_STREAM_CONNECTED"
    assert ev["data"] == {"netdev-id": "s0",
                          "addr": {"type": "unix", "path": str(srv)}}
    peer.close()
    ev = c.event()
    assert ev["event"] == "NETDEV_STREAM_DISCONNECTED"
    assert ev["data"] == {"netdev-id": "s0"}

    t = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    ev = c.event()
    assert ev["event"] == "NETDEV_STREAM_CONNECTED"
    assert ev["data"] == {"netdev-id": "t0", "addr": {
        "type": "inet", "host": "127.0.0.1",
        "port": str(t.getsockname()[1])}}
    t.close()
    assert c.event()["data"] == {"netdev-id": "t0"}

    # a client netdev added at run time connects to our listener
    r = c.cmd("netdev_add", {"type": "stream", "id": "c0",
                             "addr": {"type": "unix", "path": str(lsn)}})
    assert r == {"return": {}}
    conn, _ = target.accept()
    ev = c.event()
    assert ev["event"] == "NETDEV_STREAM_CONNECTED"
    assert ev["data"] == {"netdev-id": "c0",
                          "addr": {"type": "unix", "path": str(lsn)}}
    conn.close()
    assert c.event() ["data"] == {"netdev-id": "c0"}
    # the raw text is QEMU's layout: timestamp, event, data
    peer = stream_peer(srv)
    line = c.recv_msg()
    assert re.fullmatch(
        r'\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, '
        r'"event": "NETDEV_STREAM_CONNECTED", "data": \{"netdev-id": "s0", '
        r'"addr": \{"path": "[^"]+", "type": "unix"\}\}\}', line), line
    peer.close()
    c.event("NETDEV_STREAM_DISCONNECTED")
    c.no_message()


def test_switch_port_events_and_commands(procs, netbe, tmp_path):
    """netbe's own, named with QAPI's downstream prefix."""
    srv = tmp_path / "sw.sock"
    q = tmp_path / "q.sock"
    start(procs, [netbe, "-nodefaults"], q, [
        "-netdev", f"stream,id=lan,server=on,addr.type=unix,"
        f"addr.path={srv},hubid=1"])
    c = QmpClient(q)
    c.negotiate()
    names = [x["name"] for x in c.cmd("query-commands")["return"]]
    assert "__org.netbe_query-stats" in names
    assert "__org.netbe_query-switch" in names

    vm = stream_peer(srv)
    ev = c.event()
    assert ev["event"] == "__org.netbe_SWITCH_PORT_JOINED"
    port = ev["data"]["port"]
    assert ev["data"] == {"netdev-id": "lan.0", "listener": "lan", "hub": 1,
                          "port": port}
    ev = c.event()
    assert ev["event"] == "NETDEV_STREAM_CONNECTED"
    assert ev["data"]["netdev-id"] == "lan.0"
    # a frame from a MAC the switch learns
    frame = bytes.fromhex("ffffffffffff" "525400000001" "0800") + bytes(50)
    vm.sendall(len(frame).to_bytes(4, "big") + frame)

    def learned():
        sw = c.cmd("__org.netbe_query-switch")["return"]
        return sw and sw[0].get("table")
    wait_for(learned, what="the switch to learn the MAC")
    sw = c.cmd("__org.netbe_query-switch")["return"]
    assert sw[0]["id"] == 1 and sw[0]["learning"] is True
    assert sw[0]["ports"] == [{"name": port, "peer": "lan.0"}]
    assert sw[0]["learned"] == 1 and sw[0]["table-size"] == 1024
    assert sw[0]["table"][0]["mac"] == "52:54:00:00:00:01"
    assert sw[0]["table"][0]["port"] == port
    stats = c.cmd("__org.netbe_query-stats", {"name": "lan.0"})["return"]
    assert len(stats) == 1 and stats[0]["tx-frames"] == 1
    assert stats[0]["tx-bytes"] == len(frame)
    assert stats[0]["drops"]["link-down"] == 0
    assert c.cmd("__org.netbe_query-stats", {"name": "zz"}) == {
        "error": {"class": "DeviceNotFound", "desc": "Device 'zz' not found"}}

    vm.close()
    assert c.event()["event"] == "NETDEV_STREAM_DISCONNECTED"
    ev = c.event()
    assert ev["event"] == "__org.netbe_SWITCH_PORT_LEFT"
    assert ev["data"] == {"netdev-id": "lan.0", "listener": "lan", "hub": 1,
                          "port": port}


# ---- several monitors ----

def test_several_monitors(procs, netbe, tmp_path):
    """Each monitor has its own state: negotiation, pretty layout, events
    (only negotiated monitors get them)."""
    a, b, pr = tmp_path / "a.sock", tmp_path / "b.sock", tmp_path / "p.sock"
    srv = tmp_path / "srv.sock"
    start(procs, [netbe, "-nodefaults"], a, [
        "-qmp", f"unix:{b},server=on,wait=off",
        "-qmp-pretty", f"unix:{pr},server=on,wait=off",
        "-netdev", f"stream,id=s0,server=on,addr.type=unix,"
        f"addr.path={srv}"])
    wait_socket(b)
    wait_socket(pr)
    ca, cb, cp = QmpClient(a), QmpClient(b), QmpClient(pr)
    ca.negotiate()
    json.loads(cb.recv_msg())  # b stays in negotiation mode
    assert "\r\n" in cp.recv_pretty()
    cp.send('{"execute": "qmp_capabilities"}\n')
    assert cp.recv_pretty() == '{\r\n    "return": {\r\n    }\r\n}'
    assert cb.cmd("query-version")["error"]["class"] == "CommandNotFound"
    peer = stream_peer(srv)
    assert ca.event()["event"] == "NETDEV_STREAM_CONNECTED"
    assert '"event": "NETDEV_STREAM_CONNECTED"' in cp.recv_pretty()
    cb.no_message()
    peer.close()
    assert ca.event()["event"] == "NETDEV_STREAM_DISCONNECTED"
    # a client that leaves frees its monitor for the next one
    ca.close()
    ca = QmpClient(a)
    ca.negotiate()
    assert "return" in ca.cmd("query-version")
    for c in (ca, cb, cp):
        c.close()


def test_stdio_and_tcp(procs, netbe, tmp_path):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    tcp.close()
    lines = (b'{"execute": "qmp_capabilities"}\n'
             b'{"execute": "query-rx-filter", "id": 1}\n')
    p = procs.popen([netbe, "-nodefaults", "-qmp", "stdio", "-qmp",
                     f"tcp:127.0.0.1:{port},server=on,wait=off"])
    p.stdin.write(lines)
    p.stdin.flush()
    out = b""
    while out.count(b"\r\n") < 3:
        out += p.stdout.read1(4096)
    msgs = out.decode().split("\r\n")
    assert msgs[1] == '{"return": {}}'
    assert msgs[2] == '{"return": [], "id": 1}'
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    f = s.makefile("rb")
    assert b'"QMP"' in f.readline()
    s.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n')
    assert f.readline() == b'{"return": {}}\r\n'
    assert b'"SHUTDOWN"' in f.readline()
    assert f.readline() == b'{"return": {}}\r\n'
    assert p.wait(timeout=TIMEOUT) == 0


# ---- bad input ----

def test_bad_input(procs, netbe, tmp_path):
    """Each bad input gets QEMU's error text (or the monitor resyncs at
    the next line); the monitor, the daemon and a second monitor go on."""
    a, b = tmp_path / "a.sock", tmp_path / "b.sock"
    p = start(procs, [netbe, "-nodefaults"], a,
              ["-qmp", f"unix:{b},server=on,wait=off"])
    wait_socket(b)
    c = QmpClient(a)
    c.negotiate()
    other = QmpClient(b)
    other.negotiate()

    def err(desc):
        return {"error": {"class": "GenericError", "desc": desc}}

    def ok():
        assert "return" in c.cmd("query-version", id="after")
        assert "return" in other.cmd("query-version")

    cases = [
        (b"{\"execute\": }\n", "JSON parse error, expecting value"),
        (b"nonsense here\n", "JSON parse error, invalid keyword 'nonsense'"),
        (b"[" * 2000 + b"\n", "JSON nesting depth limit exceeded"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n",
         "JSON nesting depth limit exceeded"),
        (b'{"execute": "query-version", "id": "' + b"a" * (1 << 20)
         + b'"}\n', "JSON token size limit exceeded"),
        (b'"' + b"x" * (1 << 20) + b'\n', "JSON token size limit exceeded"),
        (b"\xff\xfe{}\n", None),
        (b'{"execute": "x\xff"}\n',
         "JSON parse error, invalid UTF-8 sequence in string"),
    ]
    for data, desc in cases:
        c.send(data)
        reply = json.loads(c.recv_msg())
        if desc:
            assert reply == err(desc), data[:40]
        else:
            assert "error" in reply
        ok()
    # 1024 levels are fine, as in QEMU
    deep = b"[" * 1023 + b"]" * 1023
    c.send(b'{"execute": "query-version", "id": ' + deep + b"}\n")
    assert c.recv_msg().endswith(', "id": ' + deep.decode() + "}")
    # wrong types and unknown commands, many times over
    for i in range(200):
        c.send(b'{"execute": "set_link", "arguments": {"name": [], '
               b'"up": 1}}\n{"execute": "nosuch%d"}\n' % i)
        assert c.recv_msg() == ('{"error": {"class": "GenericError", "desc": '
                                '"Invalid parameter type for \'name\', '
                                'expected: string"}}')
        assert "CommandNotFound" in c.recv_msg()
    ok()
    # a client that closes in the middle of a value changes nothing
    c.send(b'{"execute": "query-ver')
    c.close()
    c = QmpClient(a)
    c.negotiate()
    ok()
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    _, err_out = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    # no sanitizer report
    assert b"ERROR" not in err_out and b"runtime error" not in err_out


def test_client_that_never_reads(procs, netbe, tmp_path):
    """A client that sends and never reads: the daemon stops reading it
    once its replies pile up; when events pile up too its connection ends
    (the others go on, memory stays flat), and its monitor takes the next
    client."""
    a, b = tmp_path / "a.sock", tmp_path / "b.sock"
    srv = tmp_path / "srv.sock"
    p = start(procs, [netbe, "-nodefaults"], a,
              ["-qmp", f"unix:{b},server=on,wait=off",
               "-netdev", f"stream,id=lan,server=on,addr.type=unix,"
               f"addr.path={srv},hubid=0,max-connections=1000"],
              env=small_quarantine_env())
    wait_socket(b)
    other = QmpClient(b)
    other.negotiate()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(str(a))
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    s.setblocking(False)
    cmd = b'{"execute": "query-commands"}\n' * 64
    sent, blocked_since, rss = 0, None, []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            sent += s.send(cmd)
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
    assert sent < 4 << 20, sent
    assert "return" in other.cmd("query-version")

    # events now: VMs join and leave until the silent client is dropped
    closed = False
    for i in range(3000):
        vm = stream_peer(srv)
        vm.close()
        if i % 50 == 0:
            assert "return" in other.cmd("query-version")
            rss.append(rss_kib(p.pid))
            # a new client is accepted once the silent one was dropped
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(0.2)
            try:
                probe.connect(str(a))
                closed = b'"QMP"' in probe.recv(4096)
            except (socket.timeout, BlockingIOError):
                closed = False
            probe.close()
            if closed:
                break
    assert closed, "the client that never reads was never dropped"
    assert max(rss) - min(rss) < 24 * 1024, rss
    # the events still reach the monitor that reads
    assert other.event("__org.netbe_SWITCH_PORT_LEFT")
    other.close()
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    _, err_out = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0
    assert b"does not read its events, closing its connection" in err_out
    assert b"ERROR" not in err_out and b"runtime error" not in err_out


def test_mon_chardev(procs, netbe, tmp_path):
    """-mon chardev=ID,mode=control serves QMP on the chardev's socket,
    mode=readline (the default) HMP."""
    q, h = tmp_path / "q.sock", tmp_path / "h.sock"
    start(procs, [netbe, "-nodefaults"], q, [
        "-chardev", f"socket,id=c0,path={q},server=on,wait=off",
        "-chardev", f"socket,id=c1,path={h},server=on,wait=off",
        "-mon", "chardev=c0,mode=control", "-mon", "c1"], opt=None)
    c = QmpClient(str(q))
    greeting = json.loads(c.recv_msg())
    assert "QMP" in greeting
    c.send('{"execute": "qmp_capabilities"}\n')
    assert json.loads(c.recv_msg()) == {"return": {}}
    c.close()
    wait_socket(h)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(h))
    s.settimeout(TIMEOUT)
    buf = b""
    while b"(qemu) " not in buf:
        buf += s.recv(4096)
    assert b"monitor" in buf
    s.close()


@pytest.mark.parametrize("args", [
    ["-mon", "chardev=nosuch"],
    ["-mon", "mode=control"],
    ["-chardev", "socket,id=c0,path={tmp}/m.sock,server=on,wait=off",
     "-mon", "chardev=c0,mode=foo"],
    ["-chardev", "socket,id=c0,path={tmp}/m.sock,server=on,wait=off",
     "-mon", "chardev=c0,bogus=1"],
])
def test_mon_errors_match_qemu(procs, netbe, tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    q_rc, _, q_err = procs.run([qemu_bin()] + QEMU_BASE + args)
    n_rc, _, n_err = procs.run([netbe, "-nodefaults"] + args)
    assert (q_rc, n_rc) == (1, 1)
    assert n_err.decode() == qemu_stderr_as_netbe(q_err.decode())
