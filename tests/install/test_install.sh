#!/usr/bin/env bash
# test_install.sh BUILD_DIR [CC] [CMAKE] - installs the build into a temporary
# prefix, then builds one small program against it the two ways a user would:
# a CMake project with find_package(bus 0.1) + bus::bus, and a plain compiler line
# from `pkg-config --cflags --libs bus`.  Both must compile warning-free under
# -std=c11 -Werror and run.  The prefix is removed afterwards.
set -euo pipefail

build=${1:?usage: test_install.sh BUILD_DIR [CC] [CMAKE]}
cc=${2:-cc}
cmake=${3:-cmake}
build=$(cd "$build" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bus-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { printf 'test_install: %s\n' "$*"; }
fail() { printf 'test_install: FAILED: %s\n' "$*" >&2; exit 1; }

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }

for f in include/bus.h include/bus/err.h \
         share/cmake/bus/busConfig.cmake share/cmake/bus/busConfigVersion.cmake \
         share/cmake/bus/busTargets.cmake share/pkgconfig/bus.pc; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
done
# Every program built into build/tools is installed to bin.
for t in "$build"/tools/*; do
    if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
    [ -x "$prefix/bin/${t##*/}" ] || fail "tool not installed: bin/${t##*/}"
done

# The user's program: needs no live bus.
mkdir "$tmp/app"
cat >"$tmp/app/app.c" <<'EOF'
#include <bus.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    /* Kafka's murmur2("foobar") is -790332482: partition 166 of 1000. */
    int32_t part = bus_partition_for_key("foobar", 6, 1000);
    const char *msg = bus_strerror(BUS_EOFFSET);
    if (part != 166 || msg == NULL || strlen(msg) == 0 ||
        strcmp(BUS_VERSION_STRING, "0.1.0") != 0) {
        fprintf(stderr, "app: partition %d, strerror '%s', version %s\n", (int)part,
                msg ? msg : "(null)", BUS_VERSION_STRING);
        return 1;
    }
    printf("app: bus %s, foobar -> partition %d\n", BUS_VERSION_STRING, (int)part);
    return 0;
}
EOF

cat >"$tmp/app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.21)
project(app LANGUAGES C)
find_package(bus 0.1 REQUIRED)
add_executable(app app.c)
set_target_properties(app PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(app PRIVATE -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(app PRIVATE bus::bus)
EOF

step "find_package(bus 0.1) with CMAKE_PREFIX_PATH=$prefix"
"$cmake" -S "$tmp/app" -B "$tmp/app-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log" >&2; fail "configure of the find_package user"; }
"$cmake" --build "$tmp/app-build" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; fail "build of the find_package user"; }
"$tmp/app-build/app" || fail "the find_package user's program"

# A newer major version must be refused (SameMajorVersion).
sed -i 's/find_package(bus 0.1 REQUIRED)/find_package(bus 1 REQUIRED)/' "$tmp/app/CMakeLists.txt"
if "$cmake" -S "$tmp/app" -B "$tmp/app-build-v1" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >"$tmp/configure-v1.log" 2>&1; then
    fail "find_package(bus 1) accepted bus 0.1"
fi

step "pkg-config with PKG_CONFIG_PATH=$prefix/share/pkgconfig"
export PKG_CONFIG_PATH=$prefix/share/pkgconfig
version=$(pkg-config --modversion bus) || fail "pkg-config does not find bus"
[ "$version" = 0.1.0 ] || fail "pkg-config --modversion bus: $version, want 0.1.0"
cflags=$(pkg-config --cflags bus)
libs=$(pkg-config --libs bus)
step "$cc -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags app.c $libs"
# shellcheck disable=SC2086 # the flags are words
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags "$tmp/app/app.c" -o "$tmp/app-pc" $libs ||
    fail "build of the pkg-config user"
"$tmp/app-pc" || fail "the pkg-config user's program"

step "passed"
