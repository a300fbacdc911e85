"""DPDK's dpdk-testpmd as a second, independent vhost-user front-end.

testpmd's `net_virtio_user` port is a virtio-net driver in user space
that speaks vhost-user to netbe over the device's unix socket: its rings
live in DPDK's memory (with --no-huge, memfd-backed pages it passes to
netbe), and it polls them instead of waiting for calls.  That is a
front-end written by other people than QEMU's, with other habits (no
EVENT_IDX, interrupts off, its own MAC, its own feature set), so what it
shows is the protocol, not QEMU's way of using it.

The test's own peer on netbe's side is a python `-netdev stream` client
(the 4-byte big-endian length protocol, test_switch.VM).

* macswap (hub mode, the learning switch): the peer sends frames of many
  sizes addressed to testpmd's MAC; testpmd swaps the MAC addresses and
  sends each back; every frame must come back, in order, byte for byte
  but for the swapped addresses, and testpmd's port counters, netbe's
  `info stats` and the frames seen must all agree.  Then testpmd quits,
  and its NIC must leave `info network`; a second testpmd with the same
  MAC connects (the switch must have forgotten the first one's port) and
  is killed with SIGKILL: its NIC goes as well, and a third one works.
  The second one takes frames up to 9014 bytes: netbe merges each over
  several of its 2 KiB RX buffers, and testpmd sends it back as a chain.
  All of it once waiting for kicks, once with poll-us=500 (netbe polls
  the rings, kicks off, as DPDK's own vhost port does).
* netdev mode (one front-end at a time): testpmd in rxonly counts exactly
  the frames the peer sent, then in txonly generates UDP frames of its
  own, all of which the peer must receive; a second testpmd takes over
  the device after the first quit.

testpmd runs with --no-huge (no hugepages needed; DPDK then keeps its
memory in memfds, which virtio_user shares with the back-end) and a
--file-prefix of its own, whose runtime directory the test removes.  A
missing dpdk-testpmd is a failure, not a skip: Debian's `dpdk-dev` ships
it (scripts/install-deps.sh --test installs it).
"""
import re
import struct
import subprocess
import time
import uuid

import pytest

import peers
import testpmd
from test_switch import VM, Monitor

PEER_MAC = bytes.fromhex("525400dd0001")
PMD_MAC = "02:00:00:dd:00:02"
PMD_MAC_B = bytes.fromhex(PMD_MAC.replace(":", ""))
ETHERTYPE = b"\x88\xb5"  # local experimental


class Pmd(testpmd.Testpmd):
    """testpmd on one net_virtio_user port at @sock, forwarding @fwd."""

    def __init__(self, sock, log, fwd="macswap", extra=()):
        super().__init__(
            "netbe-test-" + uuid.uuid4().hex[:8],
            ["--no-huge", "-m", "256", "--no-pci",
             f"--vdev=net_virtio_user0,path={sock},queues=1,mac={PMD_MAC}"],
            ["--total-num-mbufs=4096", "--port-topology=loop",
             f"--forward-mode={fwd}"] + list(extra), log=log)

    def port_stats(self):
        """RX/TX packets and bytes of its one port."""
        return self.stats()[0]


class Netbe:
    def __init__(self, netbe_bin, tmp_path, args):
        self.vsock = str(tmp_path / "vu.sock")
        self.lan = str(tmp_path / "lan.sock")
        mon = str(tmp_path / "mon.sock")
        self.log = open(tmp_path / "netbe.log", "a+")
        self.proc = subprocess.Popen(
            [netbe_bin, "-nodefaults", "-v"] +
            [a.format(vsock=self.vsock, lan=self.lan) for a in args] +
            ["-monitor", f"unix:{mon},server=on,wait=off"],
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        peers.wait_for(lambda: peers.unix_listening(self.vsock) and
                       peers.unix_listening(self.lan) and
                       peers.unix_listening(mon), what="netbe")
        self.mon = Monitor(mon)

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stats(self, name):
        return {k: v for k, v in self.mon.stats()[name].items()}

    def stop(self):
        """A clean exit: LeakSanitizer fails it on any leak."""
        self.mon.close()
        assert self.proc.poll() is None, "netbe exited: " + self.text()[-3000:]
        self.proc.terminate()
        assert self.proc.wait(15) == 0, self.text()[-3000:]
        assert "Sanitizer" not in self.text(), self.text()

    def close(self):
        peers.stop(self.proc)
        self.log.close()


SIZES = [60, 64, 61, 128, 255, 512, 1000, 1499, 1514]
# more than one 2 KiB mbuf: several RX buffers merged (MRG_RXBUF), and a
# chain of segments back on TX
JUMBO = [9014, 60, 2049, 4000, 1514, 8000]
# testpmd's port takes frames up to 9018 bytes, in chained mbufs
PMD_JUMBO = ["--max-pkt-len=9018", "--enable-scatter"]


def frame(run, i, size, dst=PMD_MAC_B, src=PEER_MAC):
    head = dst + src + ETHERTYPE + struct.pack("!II", run, i)
    body = bytes((run * 31 + i + k) & 0xff for k in range(size - len(head)))
    return head + body


def wait_frames(vm, n, timeout=20):
    peers.wait_for(lambda: len(vm.frames) >= n, timeout,
                   f"{n} frames at the peer (have {len(vm.frames)})")
    time.sleep(0.2)  # and no more than that
    with vm.lock:
        got, vm.frames[:] = list(vm.frames), []
    return got


def macswap_round(pmd, vm, run, count, sizes=SIZES, chunk=64):
    """Send @count frames to testpmd; each must come back MAC-swapped."""
    before = pmd.port_stats()
    sent = [frame(run, i, sizes[i % len(sizes)]) for i in range(count)]
    # testpmd drops what its TX ring (256 descriptors) cannot take: at
    # most two chunks in flight, so that a frame lost is netbe's
    for k in range(0, count, chunk):
        peers.wait_for(lambda: len(vm.frames) >= k - chunk, 10,
                       f"frames back before {k}")
        vm.send(sent[k:k + chunk])
    got = wait_frames(vm, count)
    want = [f[6:12] + f[0:6] + f[12:] for f in sent]
    assert len(got) == count, (len(got), count)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, (i, g[:32].hex(), w[:32].hex(), len(g), len(w))
    after = pmd.port_stats()
    nbytes = sum(len(f) for f in sent)
    assert after["RX-packets"] - before["RX-packets"] == count, after
    assert after["TX-packets"] - before["TX-packets"] == count, after
    assert after["RX-bytes"] - before["RX-bytes"] == nbytes, after
    assert after["TX-bytes"] - before["TX-bytes"] == nbytes, after
    return nbytes


def frames_bytes(field):
    n, b = field.split("/")
    return int(n), int(b)


def nic_names(nb):
    return re.findall(r"(vu[.\w]*): index=\d+,type=nic,model=vhost-user-net",
                      nb.mon.cmd("info network"))


@pytest.mark.parametrize("poll", ["", ",poll-us=500"])
def test_testpmd_macswap_both_ways(netbe_bin, tmp_path, poll):
    nb = Netbe(netbe_bin, tmp_path, [
        "-device", "vhost-user-net,id=vu,path={vsock},hubid=0" + poll,
        "-netdev", "stream,id=lan,server=on,addr.type=unix,addr.path={lan},"
                   "hubid=0"])
    pmds = []
    vm = None
    pmdlog = open(tmp_path / "testpmd.log", "a+")
    try:
        vm = VM(nb.lan)
        vm.start_reading()
        pmd = Pmd(nb.vsock, pmdlog)
        pmds.append(pmd)
        peers.wait_for(lambda: nic_names(nb) == ["vu.0"], 15, "vu.0")
        pmd.cmd("start")
        # a hundred frames to warm up, then 2000 of 60..1514 bytes
        macswap_round(pmd, vm, 1, 100)
        nbytes = macswap_round(pmd, vm, 2, 2000)
        stats = nb.mon.stats()
        vu = stats["vu.0"]
        # netbe's NIC took from the graph and gave to it what testpmd
        # received and sent, nothing dropped on the way
        rx, rxb = frames_bytes(vu["rx"])
        tx, txb = frames_bytes(vu["tx"])
        assert (rx, tx) == (2100, 2100), vu
        # with the 12-byte vnet header netbe and testpmd negotiated
        assert rxb == txb, vu
        assert rxb - 2100 * 12 == nbytes + macswap_bytes(100), vu
        for name in ("vu.0", "lan.0"):
            for k, v in stats[name].items():
                if k not in ("rx", "tx", "queued_bytes", "segmented"):
                    assert v == "0", (name, k, stats[name])
        pmd.cmd("stop")
        pmd.quit()
        # its NIC and switch port leave with it
        peers.wait_for(lambda: nic_names(nb) == [], 10, "vu.0 gone")
        assert "vu.0: front-end disconnected" in nb.text()

        # the same MAC on a new port: the switch must send there now
        pmd = Pmd(nb.vsock, pmdlog, extra=PMD_JUMBO)
        pmds.append(pmd)
        peers.wait_for(lambda: nic_names(nb) == ["vu.1"], 15, "vu.1")
        pmd.cmd("start")
        macswap_round(pmd, vm, 3, 300, JUMBO, chunk=16)
        pmd.kill()  # no goodbye: the socket just closes
        peers.wait_for(lambda: nic_names(nb) == [], 10, "vu.1 gone")

        pmd = Pmd(nb.vsock, pmdlog)
        pmds.append(pmd)
        peers.wait_for(lambda: nic_names(nb) == ["vu.2"], 15, "vu.2")
        pmd.cmd("start")
        macswap_round(pmd, vm, 4, 300)
        pmd.cmd("stop")
        pmd.quit()
        peers.wait_for(lambda: nic_names(nb) == [], 10, "vu.2 gone")
        assert "Sanitizer" not in nb.text(), nb.text()
        vm.close()
        vm = None
        nb.stop()
    finally:
        if vm:
            vm.close()
        for p in pmds:
            p.close()
        pmdlog.close()
        nb.close()


def macswap_bytes(count):
    return sum(SIZES[i % len(SIZES)] for i in range(count))


def test_testpmd_netdev_mode_rxonly_txonly(netbe_bin, tmp_path):
    nb = Netbe(netbe_bin, tmp_path, [
        "-netdev", "stream,id=lan,server=on,addr.type=unix,addr.path={lan}",
        "-device", "vhost-user-net,id=vu,path={vsock},netdev=lan"])
    pmds = []
    vm = None
    pmdlog = open(tmp_path / "testpmd.log", "a+")
    try:
        vm = VM(nb.lan)
        vm.start_reading()
        peer = ":".join(f"{b:02x}" for b in PEER_MAC)
        pmd = Pmd(nb.vsock, pmdlog, fwd="rxonly",
                      extra=[f"--eth-peer=0,{peer}", "--txpkts=200"])
        pmds.append(pmd)
        peers.wait_for(lambda: "front-end connected" in nb.text(), 15,
                       "testpmd connected")
        pmd.cmd("start")
        # into testpmd: exactly what the peer sent
        sent = [frame(5, i, SIZES[i % len(SIZES)]) for i in range(1000)]
        for k in range(0, len(sent), 50):
            vm.send(sent[k:k + 50])
        nbytes = sum(len(f) for f in sent)
        peers.wait_for(lambda: pmd.port_stats()["RX-packets"] >= 1000, 15,
                       "1000 frames in testpmd")
        time.sleep(0.2)
        st = pmd.port_stats()
        assert (st["RX-packets"], st["RX-bytes"]) == (1000, nbytes), st
        pmd.cmd("stop")
        # out of testpmd: its own UDP frames, as fast as it makes them;
        # netbe passes back-pressure from the peer's socket to the ring
        pmd.cmd("set fwd txonly")
        pmd.cmd("start")
        peers.wait_for(lambda: len(vm.frames) >= 20000, 30,
                       "20000 frames from testpmd")
        pmd.cmd("stop")
        st = pmd.port_stats()
        sent_by_pmd = st["TX-packets"]
        assert st["TX-bytes"] == 200 * sent_by_pmd, st
        got = wait_frames(vm, sent_by_pmd)
        assert len(got) == sent_by_pmd, (len(got), sent_by_pmd)
        for f in got:
            assert len(f) == 200, len(f)
            assert f[0:6] == PEER_MAC and f[6:12] == PMD_MAC_B, f[:14].hex()
            # IPv4, UDP (testpmd's txonly template)
            assert f[12:14] == b"\x08\x00" and f[23] == 17, f[:40].hex()
        vu = nb.mon.stats()["vu"]
        assert frames_bytes(vu["tx"])[0] == sent_by_pmd, vu
        assert frames_bytes(vu["rx"])[0] == 1000, vu
        pmd.quit()

        # one front-end at a time: the next takes over the same NIC
        pmd = Pmd(nb.vsock, pmdlog, fwd="rxonly")
        pmds.append(pmd)
        peers.wait_for(lambda: nb.text().count("front-end connected") == 2,
                       15, "the second testpmd connected")
        pmd.cmd("start")
        vm.send([frame(6, i, 100) for i in range(100)])
        peers.wait_for(lambda: pmd.port_stats()["RX-packets"] >= 100, 15,
                       "100 frames in the second testpmd")
        assert pmd.port_stats()["RX-packets"] == 100
        pmd.kill()
        peers.wait_for(lambda: nb.text().count("front-end disconnected") == 2,
                       15, "the second testpmd gone")
        assert "vu: index=0,type=nic,model=vhost-user-net" in \
            nb.mon.cmd("info network")
        vm.close()
        vm = None
        nb.stop()
    finally:
        if vm:
            vm.close()
        for p in pmds:
            p.close()
        pmdlog.close()
        nb.close()
