"""Shared fixtures of the netbe integration tests.

The tests run the netbe daemon (env NETBE_BIN, default build/netbe under
the repository root) and, for reference, QEMU 7.2's qemu-system-x86_64
(env QEMU_BIN), and compare what the two print.  Every process a test
starts is killed when the test ends, whatever happened.

QEMU's HMP monitor echoes what it reads through its readline, with
terminal escape sequences ("\\x1b[K", "\\x1b[D"), and ends every output
line with "\\r\\n".  netbe does not echo (a terminal echoes by itself).
split_monitor() undoes both differences so that the text of each command's
answer can be compared byte for byte:

* the escape sequences are removed;
* the output is cut at each "(qemu) " prompt; the first piece is the
  greeting, each further piece is the answer to one input line;
* for QEMU, the first line of each piece is the echo of the input line and
  is dropped;
* "\\r\\n" becomes "\\n".
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 15

# A netbe started without network options creates the default network in
# $XDG_RUNTIME_DIR/netbe: keep it out of the user's (or root's /run/netbe).
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="netbe-xdg-")

ANSI_ESCAPE = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
PROMPT = "(qemu) "


def netbe_bin():
    path = os.environ.get("NETBE_BIN", str(REPO / "build" / "netbe"))
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"netbe binary {path} not found: build it or set NETBE_BIN")
    return path


def qemu_bin():
    path = os.environ.get("QEMU_BIN") or shutil.which("qemu-system-x86_64")
    if not path:
        raise RuntimeError("qemu-system-x86_64 not found: set QEMU_BIN")
    return path


# What QEMU needs to start a machine that does nothing, quickly.
QEMU_BASE = ["-M", "none", "-nodefaults", "-display", "none"]


def split_monitor(raw, echo):
    """Return (greeting, [answer to each input line]) of a monitor."""
    text = ANSI_ESCAPE.sub(b"", raw).decode("utf-8", "replace")
    pieces = text.split(PROMPT)
    answers = []
    for piece in pieces[1:]:
        if echo:
            end = piece.find("\r\n")
            piece = "" if end < 0 else piece[end + 2:]
        answers.append(piece.replace("\r\n", "\n"))
    return pieces[0].replace("\r\n", "\n"), answers


class Procs:
    """Processes of one test; all of them are killed at its end."""

    def __init__(self):
        self.procs = []
        self.pids = []

    def popen(self, args, **kw):
        kw.setdefault("stdin", subprocess.PIPE)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def adopt_pid(self, pid):
        """A process we did not start directly (a daemonized child)."""
        self.pids.append(pid)

    def run(self, args, stdin=b"", timeout=TIMEOUT):
        """Run to the end; return (returncode, stdout, stderr)."""
        p = self.popen(args)
        try:
            out, err = p.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError(
                f"{args} did not finish within {timeout}s; "
                f"stdout={out!r} stderr={err!r}")
        return p.returncode, out, err

    def monitor(self, args, lines, echo):
        """Run with -monitor stdio, type @lines then quit.

        Return (returncode, greeting, answers, stderr text); the answer to
        "quit" is not included.
        """
        stdin = "".join(line + "\n" for line in lines) + "quit\n"
        rc, out, err = self.run(args + ["-monitor", "stdio"],
                                stdin.encode())
        greeting, answers = split_monitor(out, echo)
        assert len(answers) == len(lines) + 1, (out, err)
        assert answers[-1] == "", answers
        return rc, greeting, answers[:-1], err.decode()

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=TIMEOUT)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def procs():
    p = Procs()
    try:
        yield p
    finally:
        p.kill_all()


@pytest.fixture
def netbe():
    return netbe_bin()


# the name other test files ask for
netbe_bin_fixture = pytest.fixture(name="netbe_bin")(netbe_bin)


@pytest.fixture
def qemu():
    return [qemu_bin()] + QEMU_BASE


def wait_for(cond, timeout=TIMEOUT, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
