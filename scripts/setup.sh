#!/usr/bin/env bash
# Install dependencies, build netbe and start its default network in the
# foreground (Ctrl-C stops it).  Extra arguments go to netbe.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -d build ]; then
    # the unit tests need cmocka, which only the test set-up installs
    meson setup build --buildtype=release -Dtests=false
fi
ninja -C build
exec build/netbe "$@"
