"""The net filters (-object, HMP object_add/object_del) against real
peers and QEMU 7.2 as the oracle:

* filter-dump: tshark reads netbe's pcap; the frames in it are those the
  test sent, in order, with their lengths and maxlen truncation; a FIFO
  as the file gives a live capture, and a FIFO without a reader never
  holds traffic up;
* filter-buffer: frames come out in bursts at the interval, none lost,
  in order;
* filter-mirror and filter-redirector between netbe and QEMU 7.2's own
  filters, both ways, with and without vnet_hdr_support; a redirector's
  indev peer that sends garbage loses its connection only;
* filters added and removed while traffic flows: no frame lost or
  reordered;
* netbe's captures of a switch: one VM (filter-dump on its name) and the
  whole switch (switch-dump), started and stopped at run time;
* messages, "info network" lines and help compared with QEMU's.

Each test uses its own directory for sockets and files.
"""
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import ANSI_ESCAPE, PROMPT, QEMU_BASE, qemu_bin, wait_for
from peers import Tap, frames, expect_frames, unix_listening

TSHARK = "/usr/bin/tshark"


def need_tshark():
    if not os.access(TSHARK, os.X_OK):
        pytest.fail("tshark is not installed (scripts/install-deps.sh --test)")


class Hmp:
    """An HMP monitor on a unix socket; cmd() returns one answer's text."""

    def __init__(self, path, echo=False, timeout=10):
        self.echo = echo
        self.sock = socket.socket(socket.AF_UNIX)
        wait_for(lambda: os.path.exists(path), what=f"monitor {path}")
        self.sock.connect(path)
        self.sock.settimeout(timeout)
        self.buf = b""
        self._until_prompt()

    def _until_prompt(self):
        while True:
            text = ANSI_ESCAPE.sub(b"", self.buf)
            i = text.find(PROMPT.encode())
            if i >= 0:
                self.buf = b""
                return text[:i].decode("utf-8", "replace")
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("monitor closed")
            self.buf += data

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        out = self._until_prompt()
        if self.echo:
            end = out.find("\r\n")
            out = "" if end < 0 else out[end + 2:]
        return out.replace("\r\n", "\n")

    def close(self):
        self.sock.close()


def tap_netdev(tap, nid):
    return tap.netdev(nid)


def start(procs, argv):
    p = procs.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    return p


def netbe_two_taps(procs, netbe, d, extra=()):
    """netbe with taps a and b on hub 0 and a monitor; -> (proc, hmp, a, b)"""
    a, b = Tap(d, "a"), Tap(d, "b")
    mon = os.path.join(d, "mon.sock")
    argv = [netbe, "-nodefaults",
            "-netdev", a.netdev("ta"), "-netdev", b.netdev("tb"),
            "-netdev", "hubport,id=pa,hubid=0,netdev=ta",
            "-netdev", "hubport,id=pb,hubid=0,netdev=tb",
            "-monitor", f"unix:{mon},server=on,wait=off"] + list(extra)
    p = start(procs, argv)
    hmp = Hmp(mon)
    return p, hmp, a, b


def clean_exit(p):
    """SIGTERM netbe; it exits 0 with no sanitizer report (ASan build)."""
    p.terminate()
    _, err = p.communicate(timeout=20)
    err = err.decode("utf-8", "replace")
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    assert p.returncode == 0, err
    return err


def read_pcap(path):
    """(linktype, snaplen, [(caplen, len, data)]) of a classic pcap."""
    with open(path, "rb") as f:
        raw = f.read()
    magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert magic == 0xA1B2C3D4, hex(magic)
    recs, off = [], 24
    while off < len(raw):
        _, _, caplen, length = struct.unpack("<IIII", raw[off:off + 16])
        recs.append((caplen, length, raw[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    assert off == len(raw)
    return linktype, snaplen, recs


def tshark_fields(path, *fields):
    argv = [TSHARK, "-r", path, "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines()]


def send_all(tap, fs, pause=0.0):
    for f in fs:
        tap.send(f)
        if pause:
            time.sleep(pause)


# ---- filter-dump ----

def test_dump_pcap_read_by_tshark(procs, netbe, tmp_path):
    need_tshark()
    d = str(tmp_path)
    pcap = os.path.join(d, "a.pcap")
    short = os.path.join(d, "short.pcap")
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-object", f"filter-dump,id=d0,netdev=ta,file={pcap}",
         "-object", f"filter-dump,id=d1,netdev=ta,file={short},maxlen=100,"
                    "queue=tx"])
    fs = frames(24, 1)
    send_all(a, fs)
    assert expect_frames(b, fs) == fs
    back = frames(3, 2)
    send_all(b, back)  # RX of ta: into d0 (queue=all), not d1 (tx)
    assert expect_frames(a, back) == back
    assert hmp.cmd("object_del d0") == ""
    assert hmp.cmd("object_del d1") == ""

    linktype, snaplen, recs = read_pcap(pcap)
    assert (linktype, snaplen) == (1, 65536)
    assert [r[2] for r in recs] == fs + back
    assert all(r[0] == r[1] == len(r[2]) for r in recs)
    rows = tshark_fields(pcap, "frame.len", "frame.cap_len", "eth.src")
    assert [(int(r[0]), int(r[1])) for r in rows] == \
        [(len(f), len(f)) for f in fs + back]
    assert rows[0][2] == "52:54:00:ab:01:00"

    linktype, snaplen, recs = read_pcap(short)
    assert snaplen == 100
    assert [(r[0], r[1]) for r in recs] == \
        [(min(len(f), 100), len(f)) for f in fs]
    assert [r[2] for r in recs] == [f[:100] for f in fs]
    rows = tshark_fields(short, "frame.len", "frame.cap_len")
    assert [(int(x), int(y)) for x, y in rows] == \
        [(len(f), min(len(f), 100)) for f in fs]
    clean_exit(p)
    a.close()
    b.close()


def test_dump_fifo_live_and_without_reader(procs, netbe, tmp_path):
    need_tshark()
    d = str(tmp_path)
    fifo = os.path.join(d, "live.fifo")
    os.mkfifo(fifo)
    p, hmp, a, b = netbe_two_taps(procs, netbe, d)
    # no reader: traffic is not held up, frames are simply not captured
    assert hmp.cmd(f"object_add filter-dump,id=live,netdev=ta,file={fifo}") \
        == ""
    fs = frames(12, 3)
    send_all(a, fs)
    assert expect_frames(b, fs) == fs
    # a reader comes: it gets a pcap stream from then on
    ts = procs.popen([TSHARK, "-l", "-r", fifo, "-T", "fields",
                      "-e", "frame.len", "-e", "eth.src"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # the FIFO is looked at every 100 ms
    fs2 = frames(10, 4)
    send_all(a, fs2, pause=0.01)
    assert expect_frames(b, fs2) == fs2
    time.sleep(0.3)
    assert hmp.cmd("object_del live") == ""  # closes the FIFO: EOF
    out, err = ts.communicate(timeout=30)
    rows = [line.split("\t") for line in out.decode().splitlines()]
    assert [int(r[0]) for r in rows] == [len(f) for f in fs2], err
    assert all(r[1] == "52:54:00:ab:04:%02x" % i for i, r in enumerate(rows))
    clean_exit(p)
    a.close()
    b.close()


def test_dump_fifo_reader_that_never_reads(procs, netbe, tmp_path):
    """A FIFO reader that stops reading costs bounded memory, and traffic
    goes on unhindered."""
    d = str(tmp_path)
    fifo = os.path.join(d, "slow.fifo")
    os.mkfifo(fifo)
    p, hmp, a, b = netbe_two_taps(procs, netbe, d)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        hmp.cmd(f"object_add filter-dump,id=s,netdev=ta,file={fifo}")
        big = frames(60, 5) * 10  # ~ 3 MiB through a 64 KiB pipe
        for i in range(0, len(big), 30):
            send_all(a, big[i:i + 30])
            got = expect_frames(b, big[i:i + 30])
            assert got == big[i:i + 30]
        rss = int(open(f"/proc/{p.pid}/status").read().split("VmRSS:")[1]
                  .split()[0])
        assert rss < 200 * 1024, rss  # KiB; ASan build
        assert hmp.cmd("object_del s") == ""
    finally:
        os.close(reader)
    clean_exit(p)
    a.close()
    b.close()


# ---- filter-buffer ----

def test_buffer_releases_in_bursts(procs, netbe, tmp_path):
    d = str(tmp_path)
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-object", "filter-buffer,id=fb,netdev=ta,queue=tx,interval=400000"])
    for burst in range(3):
        fs = frames(30, 10 + burst)
        t0 = time.monotonic()
        send_all(a, fs)
        got, times = [], []
        deadline = t0 + 3
        while len(got) < len(fs) and time.monotonic() < deadline:
            f = b.recv(0.05)
            if f is not None:
                got.append(f)
                times.append(time.monotonic())
        assert got == fs
        # all of a burst came at one release, within the interval
        assert times[-1] - times[0] < 0.2, (times[0] - t0, times[-1] - t0)
        assert times[0] - t0 < 0.5
    # netbe's counters: nothing dropped
    stats = hmp.cmd("info stats")
    assert re.search(r"ta: rx=\S+ tx=90/", stats), stats
    # off: held frames go at once, then everything passes
    fs = frames(5, 20)
    send_all(a, fs)
    time.sleep(0.05)
    assert hmp.cmd("object_del fb") == ""
    assert expect_frames(b, fs, timeout=1) == fs
    clean_exit(p)
    a.close()
    b.close()


# ---- run-time add and remove while traffic flows ----

def test_filters_added_and_removed_while_traffic_flows(procs, netbe,
                                                       tmp_path):
    d = str(tmp_path)
    mirror_sock = os.path.join(d, "m.sock")
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-chardev", f"socket,id=mc,path={mirror_sock},server=on,wait=off"])
    # someone reads the mirror
    wait_for(lambda: unix_listening(mirror_sock), what="mirror chardev")
    msock = socket.socket(socket.AF_UNIX)
    msock.connect(mirror_sock)
    mirrored = bytearray()
    stop = threading.Event()

    def drain():
        msock.settimeout(0.1)
        while not stop.is_set():
            try:
                data = msock.recv(1 << 16)
            except socket.timeout:
                continue
            if not data:
                return
            mirrored.extend(data)

    t = threading.Thread(target=drain, daemon=True)
    t.start()

    total = 1500
    fs = [b"\xff" * 6 + b"\x52\x54\x00\x00\x00\x01\x88\xb5" +
          struct.pack(">I", i) + bytes(46) for i in range(total)]

    def sender():
        for f in fs:
            a.send(f)
            time.sleep(0.001)

    st = threading.Thread(target=sender)
    st.start()
    n = 0
    while st.is_alive():
        k = n % 4
        if k == 0:
            hmp.cmd("object_add filter-buffer,id=x,netdev=ta,interval=20000")
        elif k == 1:
            hmp.cmd("object_add filter-mirror,id=y,netdev=ta,outdev=mc,"
                    "position=head")
        elif k == 2:
            hmp.cmd(f"object_add filter-dump,id=z,netdev=tb,"
                    f"file={d}/z{n}.pcap,position=head")
            hmp.cmd("object_del x")
        else:
            hmp.cmd("object_del y")
            hmp.cmd("object_del z")
        n += 1
        time.sleep(0.02)
    st.join()
    for i in ("x", "y", "z"):
        hmp.cmd(f"object_del {i}")
    got = expect_frames(b, fs, timeout=10)
    assert len(got) == total
    assert got == fs
    assert n > 20
    stop.set()
    t.join()
    msock.close()
    # whatever was mirrored is whole frames, in order
    seqs, off = [], 0
    while off + 4 <= len(mirrored):
        (ln,) = struct.unpack(">I", mirrored[off:off + 4])
        if off + 4 + ln > len(mirrored):
            break
        seqs.append(struct.unpack(">I", mirrored[off + 18:off + 22])[0])
        off += 4 + ln
    assert seqs == sorted(seqs) and len(seqs) > 0
    assert "drop:" in hmp.cmd("info stats")
    clean_exit(p)
    a.close()
    b.close()


# ---- mirror and redirector with QEMU 7.2 ----

def qemu_one_tap(procs, tap, extra):
    """QEMU with netdev q0 (a test tap) on hub 0 with a sink (a second
    tap, drained: a QEMU hub port alone would hold q0 up), and what extra
    says."""
    sink = Tap(os.path.dirname(tap.path), "qsink")
    argv = [qemu_bin()] + QEMU_BASE + [
        "-monitor", "none", "-serial", "none",
        "-netdev", tap.netdev("q0"),
        "-netdev", "hubport,id=qh,hubid=0,netdev=q0",
        "-netdev", sink.netdev("q1"),
        "-netdev", "hubport,id=qh1,hubid=0,netdev=q1"] + list(extra)
    return start(procs, argv)


@pytest.mark.parametrize("vnet", ["off", "on"])
def test_netbe_mirror_to_qemu_redirector(procs, netbe, tmp_path, vnet):
    d = str(tmp_path)
    sock = os.path.join(d, "mirror.sock")
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-chardev", f"socket,id=m,path={sock},server=on,wait=off",
         "-object", f"filter-mirror,id=mi,netdev=ta,queue=tx,outdev=m,"
                    f"vnet_hdr_support={vnet}"])
    wait_for(lambda: unix_listening(sock), what="netbe's chardev")
    q = Tap(d, "q")
    # QEMU's redirector puts what it reads into q0 (queue=rx: to q0)
    qemu_one_tap(procs, q, [
        "-chardev", f"socket,id=in,path={sock}",
        "-object", f"filter-redirector,id=r,netdev=q0,queue=rx,indev=in,"
                   f"vnet_hdr_support={vnet}"])
    wait_for(lambda: "filter-mirror" in hmp.cmd("info network"))
    time.sleep(0.5)
    fs = frames(18, 30)
    send_all(a, fs, pause=0.002)
    assert expect_frames(b, fs) == fs  # mirrored, not taken
    assert expect_frames(q, fs) == fs
    clean_exit(p)
    for t in (a, b, q):
        t.close()


@pytest.mark.parametrize("vnet", ["off", "on"])
def test_qemu_mirror_to_netbe_redirector(procs, netbe, tmp_path, vnet):
    d = str(tmp_path)
    sock = os.path.join(d, "redir.sock")
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-chardev", f"socket,id=in,path={sock},server=on,wait=off",
         "-object", f"filter-redirector,id=r,netdev=tb,queue=rx,indev=in,"
                    f"vnet_hdr_support={vnet}"])
    wait_for(lambda: unix_listening(sock), what="netbe's chardev")
    q = Tap(d, "q")
    qemu_one_tap(procs, q, [
        "-chardev", f"socket,id=out,path={sock}",
        "-object", f"filter-mirror,id=m,netdev=q0,queue=tx,outdev=out,"
                   f"vnet_hdr_support={vnet}"])
    time.sleep(1.0)
    fs = frames(18, 31)
    send_all(q, fs, pause=0.002)
    # QEMU's q0 sent them (to its hub, alone): its mirror sent copies to
    # netbe, whose redirector delivers them to tb, out to tap b
    assert expect_frames(b, fs) == fs
    clean_exit(p)
    for t in (a, b, q):
        t.close()


def test_qemu_redirector_outdev_to_netbe_redirector_indev(procs, netbe,
                                                          tmp_path):
    """QEMU's redirector takes q0's frames to netbe (QEMU the chardev
    server, netbe a client with reconnect=), whose redirector injects
    them as sent by ta (queue=tx): they reach tap b through the hub."""
    d = str(tmp_path)
    sock = os.path.join(d, "q.sock")
    q = Tap(d, "q")
    qemu_one_tap(procs, q, [
        "-chardev", f"socket,id=out,path={sock},server=on,wait=off",
        "-object", "filter-redirector,id=r,netdev=q0,queue=tx,outdev=out"])
    wait_for(lambda: unix_listening(sock), what="QEMU's chardev")
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-chardev", f"socket,id=in,path={sock},reconnect=1",
         "-object", "filter-redirector,id=nr,netdev=ta,queue=tx,indev=in"])
    time.sleep(0.5)
    fs = frames(12, 32)
    send_all(q, fs, pause=0.002)
    assert expect_frames(b, fs) == fs
    clean_exit(p)
    for t in (a, b, q):
        t.close()


def test_redirector_indev_garbage_closes_that_chardev_only(procs, netbe,
                                                           tmp_path):
    d = str(tmp_path)
    sock = os.path.join(d, "in.sock")
    p, hmp, a, b = netbe_two_taps(
        procs, netbe, d,
        ["-chardev", f"socket,id=in,path={sock},server=on,wait=off",
         "-object", "filter-redirector,id=r,netdev=tb,queue=rx,indev=in"])
    wait_for(lambda: unix_listening(sock), what="chardev")
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(struct.pack(">I", 1 << 30) + b"x" * 100)  # oversized
    s.settimeout(5)
    assert s.recv(10) == b""  # netbe closed it
    s.close()
    # the daemon and its other traffic go on; a new peer is served
    fs = frames(4, 33)
    send_all(a, fs)
    assert expect_frames(b, fs) == fs
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    good = frames(3, 34)
    s.sendall(b"".join(struct.pack(">I", len(f)) + f for f in good))
    assert expect_frames(b, good) == good
    s.close()
    assert p.poll() is None
    assert "oversized packet received" in clean_exit(p)
    a.close()
    b.close()


# ---- captures of a switch ----

class Vm:
    """A VM on netbe's switch: QEMU's stream framing over a unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.s.settimeout(5)
        self.buf = b""

    def send(self, f):
        self.s.sendall(struct.pack(">I", len(f)) + f)

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    f, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return f
            self.buf += self.s.recv(1 << 16)


def test_switch_port_and_whole_switch_capture(procs, netbe, tmp_path):
    need_tshark()
    d = str(tmp_path)
    sw = os.path.join(d, "sw.sock")
    mon = os.path.join(d, "mon.sock")
    p = start(procs, [netbe, "-nodefaults", "-netdev",
                  f"stream,id=lan,server=on,addr.type=unix,addr.path={sw},"
                  f"hubid=1,learning=on",
                  "-monitor", f"unix:{mon},server=on,wait=off"])
    hmp = Hmp(mon)
    vms = [Vm(sw) for _ in range(3)]
    wait_for(lambda: "lan.2" in hmp.cmd("info network"))

    def frame(src, i):
        return (b"\xff" * 6 + bytes([0x52, 0x54, 0, 0, 1, src]) +
                b"\x88\xb5" + struct.pack(">I", i) + bytes(50))

    # started at run time
    one, whole = os.path.join(d, "one.pcap"), os.path.join(d, "all.pcap")
    assert hmp.cmd(f"object_add filter-dump,id=vm1,netdev=lan.1,"
                   f"file={one}") == ""
    assert hmp.cmd(f"object_add switch-dump,id=sw,hubid=1,file={whole}") \
        == ""
    assert "type=filter-dump" in hmp.cmd("info network")
    sent = []
    for i in range(6):
        for k, vm in enumerate(vms):
            f = frame(k, i)
            vm.send(f)
            sent.append(f)
            for j, other in enumerate(vms):
                if j != k:
                    assert other.recv() == f
    assert hmp.cmd("object_del sw") == ""
    assert hmp.cmd("object_del vm1") == ""
    assert hmp.cmd("object_del sw") == "Error: object 'sw' not found\n"
    _, _, recs = read_pcap(whole)
    assert [r[2] for r in recs] == sent
    rows = tshark_fields(whole, "eth.src")
    assert [r[0] for r in rows] == \
        ["52:54:00:00:01:%02x" % (i % 3) for i in range(18)]
    _, _, recs = read_pcap(one)
    # lan.1's own frames (tx) and everyone else's to it (rx), in order
    want = [f for f in sent]
    assert [r[2] for r in recs] == want
    for vm in vms:
        vm.s.close()
    clean_exit(p)


# ---- messages and info network vs QEMU ----

CLI_CASES = [
    "filter-redirector,id=r1,netdev=n0",
    "filter-redirector,id=r1,netdev=n0,indev=c0,outdev=c0",
    "filter-mirror,id=r1,netdev=n0",
    "filter-mirror,id=r1,netdev=n0,outdev=zz",
    "filter-mirror,id=r1,outdev=c0",
    "filter-mirror,id=r1,netdev=zz,outdev=c0",
    "filter-mirror,netdev=n0,outdev=c0",
    "filter-mirror,id=1x,netdev=n0,outdev=c0",
    "filter-mirror,id=m,netdev=n0,outdev=c0,queue=foo",
    "filter-mirror,id=m,netdev=n0,outdev=c0,status=foo",
    "filter-mirror,id=m,netdev=n0,outdev=c0,position=foo",
    "filter-mirror,id=m,netdev=n0,outdev=c0,position=id=zz",
    "filter-mirror,id=m,netdev=n0,outdev=c0,insert=foo",
    "filter-mirror,id=m,netdev=n0,outdev=c0,bogus=1",
    "filter-mirror,id=m,netdev=n0,outdev=c0,vnet_hdr_support=maybe",
    "filter-foo,id=m,netdev=n0",
    "filter-dump,id=m,netdev=n0",
    "filter-dump,id=m,netdev=n0,file=/nonexist/x",
    "filter-dump,id=m,netdev=n0,file=DIR/x.pcap,maxlen=0",
    "filter-dump,id=m,netdev=n0,file=DIR/x.pcap,maxlen=-1",
    "filter-dump,id=m,netdev=n0,file=DIR/x.pcap,maxlen=99999999999",
    "filter-buffer,id=m,netdev=n0",
    "filter-buffer,id=m,netdev=n0,interval=0",
    "filter-buffer,id=m,netdev=n0,interval=abc",
    "id=x",
    "filter-dump",
]


def first_line_after(prog, err):
    lines = [ln for ln in err.splitlines()
             if "has no peer" not in ln and "terminating" not in ln]
    return "\n".join(ln.replace(prog, "P", 1) for ln in lines)


@pytest.mark.parametrize("case", CLI_CASES)
def test_object_errors_as_qemu(procs, netbe, qemu, tmp_path, case):
    d = str(tmp_path)
    case = case.replace("DIR", d)

    def run(binary, prog, extra_base):
        argv = [binary] + extra_base + [
            "-chardev", f"socket,id=c0,path={d}/{prog}c.sock,server=on,"
                        "wait=off",
            "-netdev", f"stream,id=n0,server=on,addr.type=unix,"
                       f"addr.path={d}/{prog}s.sock",
            "-object", case]
        rc, out, err = procs.run(argv, timeout=10)
        return rc, first_line_after(prog, err.decode())

    qrc, qerr = run(qemu[0], "qemu-system-x86_64",
                    QEMU_BASE + ["-monitor", "none"])
    nrc, nerr = run(netbe, "netbe", ["-nodefaults"])
    assert nrc == qrc == 1
    assert nerr == qerr.replace(f"{d}/qemu-system-x86_64", f"{d}/netbe")


def test_info_network_filters_as_qemu(procs, netbe, qemu, tmp_path):
    d = str(tmp_path)
    tail = []
    for prog in ("q", "n"):
        tail.append([
            "-chardev", f"socket,id=c0,path={d}/{prog}0,server=on,wait=off",
            "-chardev", f"socket,id=c1,path={d}/{prog}1,server=on,wait=off",
            "-chardev", f"socket,id=c2,path={d}/{prog}2,server=on,wait=off",
            "-chardev", f"socket,id=c3,path={d}/{prog}3,server=on,wait=off",
            "-netdev", f"stream,id=n0,server=on,addr.type=unix,"
                       f"addr.path={d}/{prog}s",
            "-object", "filter-mirror,id=m0,netdev=n0,outdev=c0",
            "-object", "filter-redirector,id=r0,netdev=n0,indev=c1,"
                       "outdev=c2,vnet_hdr_support=on",
            "-object", f"filter-dump,id=f0,netdev=n0,file={d}/x.pcap",
            "-object", "filter-buffer,id=f1,netdev=n0,interval=1000,"
                       "queue=rx,position=head",
            "-object", f"filter-dump,id=f2,netdev=n0,file={d}/y.pcap,"
                       "maxlen=100,status=off,position=id=f0,insert=before",
            "-object", "filter-redirector,id=r1,netdev=n0,outdev=c3,"
                       "queue=tx,position=id=m0,insert=before",
        ])
    _, _, qans, _ = procs.monitor(qemu + tail[0], ["info network"],
                                  echo=True)
    _, _, nans, _ = procs.monitor([netbe, "-nodefaults"] + tail[1],
                                  ["info network"], echo=False)
    assert nans[0].replace(f"{d}/n", f"{d}/q") == qans[0]
    assert "filters:\n  - f1: type=filter-buffer" in nans[0]


HMP_CASES = [
    "object_add filter-dump,id=f0,netdev=n0,file=DIR/z.pcap",
    "object_add filter-dump,id=f0,netdev=n0,file=DIR/z.pcap",
    "object_add filter-dump,id=f1,netdev=n0",
    "object_add filter-foo,id=f1,netdev=n0",
    "object_add filter-dump,id=f1,netdev=zz,file=DIR/z.pcap",
    "object_add filter-dump,id=1f,netdev=n0,file=DIR/z.pcap",
    "object_add filter-dump,id=f2,netdev=n0,file=DIR/z.pcap,bogus=1",
    "object_add filter-buffer,id=f3,netdev=n0,interval=0",
    "object_add",
    "object_add filter-buffer,help",
    "info network",
    "object_del f0",
    "object_del f0",
    "object_del",
    "object_del f0 x",
    "info network",
    "help object_add",
    "help object_del",
]


def test_hmp_object_add_del_as_qemu(procs, netbe, qemu, tmp_path):
    # over a unix socket: QEMU's stdio monitor stops reading after an
    # object_add of a duplicate id
    d = str(tmp_path)
    lines = [c.replace("DIR", d) for c in HMP_CASES]
    answers = []
    for argv, echo, tag in ((qemu, True, "q"),
                            ([netbe, "-nodefaults"], False, "n")):
        mon = f"{d}/{tag}mon.sock"
        start(procs, argv + [
            "-netdev", f"stream,id=n0,server=on,addr.type=unix,"
                       f"addr.path={d}/{tag}s",
            "-monitor", f"unix:{mon},server=on,wait=off"])
        hmp = Hmp(mon, echo=echo)
        answers.append([hmp.cmd(line) for line in lines])
        hmp.close()
    qans, nans = answers
    assert nans == qans


def test_object_help(procs, netbe):
    rc, out, _ = procs.run([netbe, "-object", "help"])
    assert rc == 0
    assert out.decode() == ("List of user creatable objects:\n"
                            "  filter-buffer\n  filter-dump\n"
                            "  filter-mirror\n  filter-redirector\n"
                            "  switch-dump\n")
    for t in ("filter-dump", "filter-mirror", "filter-redirector",
              "filter-buffer"):
        q = subprocess.run([qemu_bin()] + QEMU_BASE + ["-object", f"{t},help"],
                           capture_output=True, timeout=10)
        rc, out, _ = procs.run([netbe, "-object", f"{t},help"])
        assert rc == 0
        assert out == q.stdout
