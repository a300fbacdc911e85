"""Small Linux guests for the integration tests.

A guest is the machine's Debian kernel (linux-image-cloud-amd64) booted
under TCG with an initramfs built here from busybox-static and the kernel's
own virtio modules.  Its /init brings eth0 up with the address given on the
kernel command line (or one from DHCP), runs a script given there, and,
when told a peer, pings it until it answers.
Everything a guest sends stays inside the emulated network: its frames
cross netbe over unix sockets and never reach a host interface.
"""
import glob
import gzip
import io
import os
import re
import shutil
import stat
import subprocess

MODULES = ["virtio_pci", "virtio_net"]

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m; done
arg() { sed -n "s/.*netbe\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
ip=$(arg ip); peer=$(arg peer); run=$(arg run)
ip link set lo up
ip link set eth0 up
if [ "$ip" = dhcp ]; then
    cat > /udhcpc.sh <<'EOS'
#!/bin/sh
if [ "$1" = bound ]; then
    ip addr add "$ip/$mask" dev "$interface"
    ip route add default via "$router" dev "$interface"
    echo "nameserver $dns" > /etc/resolv.conf
    echo "NETBE-LEASE $ip/$mask router $router dns $dns"
fi
EOS
    chmod +x /udhcpc.sh
    mkdir -p /etc
    udhcpc -i eth0 -n -q -f -t 20 -T 3 -s /udhcpc.sh || echo "NETBE-NO-LEASE"
    ip=$(ip -4 -o addr show dev eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')
else
    ip addr add "$ip/24" dev eth0
fi
echo "NETBE-GUEST-UP $ip"
if [ -n "$run" ]; then
    echo "$run" | base64 -d > /run.sh
    sh /run.sh
    echo "NETBE-RUN-DONE"
fi
if [ -n "$peer" ]; then
    i=0
    while [ $i -lt 120 ]; do
        if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then
            ping -c 3 -W 2 "$peer" && echo "NETBE-PING-OK $peer" && break
        fi
        i=$((i + 1))
    done
    [ $i -lt 120 ] || echo "NETBE-PING-FAIL $peer"
    poweroff -f
fi
sleep 600
poweroff -f
"""


def kernel():
    """The newest installed kernel image and its release."""
    images = sorted(glob.glob("/boot/vmlinuz-*"))
    if not images:
        raise RuntimeError("no kernel in /boot: scripts/install-deps.sh "
                           "--test installs linux-image-cloud-amd64")
    image = images[-1]
    return image, image.split("vmlinuz-", 1)[1]


def _modules(release):
    paths = []
    for module in MODULES:  # one each: modprobe reads more as parameters
        out = subprocess.run(["modprobe", "--show-depends", "-S", release,
                              module], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            m = re.match(r"insmod (\S+)", line)
            if m and m.group(1) not in paths:
                paths.append(m.group(1))
    return paths


def _newc(entries):
    """A gzip'ed cpio (newc) archive of (name, mode, data) entries."""
    buf = io.BytesIO()

    def put(name, mode, data, ino):
        name_b = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                  len(name_b), 0]
        buf.write(b"070701" + b"".join(b"%08x" % f for f in fields))
        buf.write(name_b)
        buf.write(b"\0" * (-(110 + len(name_b)) % 4))
        buf.write(data)
        buf.write(b"\0" * (-len(data) % 4))

    for ino, (name, mode, data) in enumerate(entries, 1):
        put(name, mode, data, ino)
    put("TRAILER!!!", 0, b"", 0)
    return gzip.compress(buf.getvalue())


def build_initramfs(path):
    image, release = kernel()
    mods = _modules(release)
    d = stat.S_IFDIR | 0o755
    entries = [(n, d, b"") for n in ("bin", "proc", "sys", "dev", "lib",
                                      "lib/modules")]
    with open(shutil.which("busybox") or "/bin/busybox", "rb") as f:
        entries.append(("bin/busybox", stat.S_IFREG | 0o755, f.read()))
    names = []
    for m in mods:
        with open(m, "rb") as f:
            names.append(os.path.basename(m))
            entries.append(("lib/modules/" + names[-1],
                            stat.S_IFREG | 0o644, f.read()))
    entries.append(("modules.order", stat.S_IFREG | 0o644,
                    ("\n".join(names) + "\n").encode()))
    entries.append(("init", stat.S_IFREG | 0o755, INIT.encode()))
    with open(path, "wb") as f:
        f.write(_newc(entries))
    return image


def guest_argv(image, initrd, ip, peer, netdev, mac, run=None):
    """@ip "dhcp" asks for a lease; @run: a shell script the guest runs
    once its network is up (then it pings @peer, if any)."""
    append = f"console=ttyS0 panic=-1 quiet netbe.ip={ip}"
    if peer:
        append += f" netbe.peer={peer}"
    if run:
        import base64
        append += " netbe.run=" + base64.b64encode(run.encode()).decode()
    return ["qemu-system-x86_64", "-M", "pc", "-m", "256", "-nodefaults",
            "-display", "none", "-no-reboot", "-serial", "stdio",
            "-kernel", image, "-initrd", initrd, "-append", append,
            "-netdev", netdev,
            "-device", f"virtio-net-pci,netdev=n0,mac={mac}"]
