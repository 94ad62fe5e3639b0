#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages bus needs to build and test, if any is
# missing: compilers (gcc and clang, with their sanitizer and libFuzzer runtimes), CMake,
# pkg-config, liburing, cmocka, libbsd, python3 (tests check JSON with it),
# librdkafka for bus-bridge, its tests and its benchmark (without it they are not
# built), and for bus-peers' comparison with other transports libzmq, hiredis and
# redis-server (without them bus-peers still builds, and skips ZeroMQ and Redis).
# Idempotent and quiet when everything is there.  Runs apt-get through sudo unless
# already root.  The other scripts run it first.
set -euo pipefail

bus_packages=(build-essential cmake pkg-config clang libclang-rt-14-dev liburing-dev libcmocka-dev libbsd-dev python3
    librdkafka-dev libzmq3-dev libhiredis-dev redis-server)

missing=()
for pkg in "${bus_packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "deps.sh: missing ${missing[*]}, and not root without sudo: install them as root" >&2
        exit 1
    }
    sudo=(sudo)
fi
echo "deps.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
