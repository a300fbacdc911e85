"""DPDK's dpdk-testpmd in interactive mode, driven over its stdin/stdout:
test_dpdk.py's front-end and bench/vhost.py's generator and anchor.

Its stdout is a pipe, so stdio would buffer what it prints until exit:
stdbuf makes it unbuffered, and a reader thread collects it.  cmd() types
a line and returns what testpmd printed before the next prompt.
"""
import os
import shutil
import signal
import subprocess
import threading
import time

TESTPMD = "/usr/bin/dpdk-testpmd"
PROMPT = "testpmd> "
STATS = ("RX-packets", "RX-bytes", "TX-packets", "TX-bytes")


def find_testpmd():
    if not os.access(TESTPMD, os.X_OK):
        raise RuntimeError(f"{TESTPMD} not found: apt-get install dpdk-dev "
                           "(scripts/install-deps.sh --test does)")
    return TESTPMD


class Testpmd:
    """testpmd with EAL options @eal and application options @app; its
    hugepage-less files are under /var/run/dpdk/@prefix.  @log, if given,
    gets everything it prints; @cpu pins it; a command not answered
    within @timeout seconds fails."""

    def __init__(self, prefix, eal, app, log=None, cpu=None, timeout=15):
        self.prefix = prefix
        self.timeout = timeout
        self.log = log
        self.out = ""
        self.cond = threading.Condition()
        argv = (["stdbuf", "-o0", "-e0", find_testpmd()] + list(eal) +
                [f"--file-prefix={prefix}", "--", "-i"] + list(app))
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=(None if cpu is None else
                        lambda: os.sched_setaffinity(0, {cpu})))
        self.pid = self.proc.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._until_prompt(0, 60)

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                break
            text = chunk.decode(errors="replace")
            if self.log:
                self.log.write(text)
                self.log.flush()
            with self.cond:
                self.out += text
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _until_prompt(self, start, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                at = self.out.find(PROMPT, start)
                if at >= 0:
                    return self.out[start:at]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 not self.reader.is_alive()):
                    raise AssertionError(f"testpmd {self.prefix}: no "
                                         "prompt:\n" + self.out[-3000:])
                self.cond.wait(min(left, 0.2))

    def cmd(self, line, timeout=None):
        with self.cond:
            mark = len(self.out)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        # the prompt that was there when we typed is before mark
        return self._until_prompt(mark, timeout or self.timeout)

    def stats(self):
        """{port: {RX-packets, RX-bytes, TX-packets, TX-bytes}}"""
        out = {}
        for part in self.cmd("show port stats all").split(
                "NIC statistics for port ")[1:]:
            port = int(part.split()[0])
            w = part.replace(":", " ").split()
            out[port] = {k: int(w[w.index(k) + 1]) for k in STATS}
        return out

    def quit(self):
        """"quit", which must end it cleanly."""
        self.proc.stdin.write(b"quit\n")
        self.proc.stdin.flush()
        assert self.proc.wait(30) == 0, self.out[-3000:]
        self.reader.join(5)
        assert "Bye..." in self.out, self.out[-3000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.reader.join(5)

    def close(self):
        """Whatever state it is in: "quit" if it still listens, then
        SIGKILL, and its files go."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
