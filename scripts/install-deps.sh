#!/usr/bin/env bash
# Install what netbe needs from Debian 12's packages.
#   scripts/install-deps.sh         build dependencies
#   scripts/install-deps.sh --test  and everything the tests drive
set -euo pipefail

# libslirp-dev (and glib, which its .pc needs) for -netdev user, the NAT
# of the default network; libpcap-dev: filter-dump and switch-dump write
# pcap files with libpcap.
build_pkgs=(gcc pkg-config meson ninja-build libuv1-dev libjson-c-dev
            libslirp-dev libglib2.0-dev libpcap-dev)
# The guests of the integration tests boot the cloud kernel with busybox.
# iputils-ping pings between the namespaces of the tap tests.
# ethtool turns a veth's offloads off (test_vnet_kernel's oracle).
# g++ compiles the public headers as a C++ VMM would (scripts/test.sh).
# passt is what -netdev passt starts (test_passt.py).
# iperf3 drives TCP through taps in bench/tap.py (tap -> switch -> tap).
# tshark reads the pcap files and FIFOs of the filter tests.
# dpdk-dev, not dpdk, ships /usr/bin/dpdk-testpmd (Debian 12's dpdk is
# only dpdk-devbind.py and friends): DPDK's virtio_user port is the
# second vhost-user front-end of test_dpdk.py, and its vhost port the
# forwarder netbe is measured against in bench/vhost.py.
# clang and libclang-rt-14-dev (libclang_rt.fuzzer-x86_64.a, which a
# --no-install-recommends clang lacks) build the libFuzzer targets.
test_pkgs=(libcmocka-dev python3 python3-pytest qemu-system-x86 iproute2
           busybox-static procps kmod linux-image-cloud-amd64
           clang libclang-rt-14-dev iputils-ping ethtool g++ iperf3
           passt tshark dpdk-dev)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root to install: ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
