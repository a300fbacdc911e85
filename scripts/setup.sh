#!/usr/bin/env bash
# Install dependencies, build netbe and start its default network in the
# foreground (Ctrl-C stops it).  Extra arguments go to netbe.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -d build ]; then
    meson setup build --buildtype=release
fi
ninja -C build
exec build/netbe "$@"
