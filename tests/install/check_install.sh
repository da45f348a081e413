#!/usr/bin/env bash
# Installs a built orca into a fresh prefix and uses it as a project would:
#   1. cmake --install into a temporary prefix;
#   2. a CMake project (consumer/) with find_package(orca) and the orca:: targets,
#      built and run;
#   3. the same program built with pkg-config's flags alone, and run;
#   4. cpack -G DEB: the orca package holds /usr/bin/orca, which runs (--version)
#      and depends on the Debian runtime libraries it links; liborca-dev holds the
#      headers, libraries, CMake and pkg-config files.
# Usage: check_install.sh BUILD_DIR CONSUMER_SOURCE_DIR CXX_COMPILER
set -euo pipefail
build=$1 consumer=$2 cxx=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_install: $*" >&2; exit 1; }

echo "== cmake --install"
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in bin/orca include/orca/orca.hpp include/orca/jobs/redis_broker.hpp \
         include/orca/resilience/resilience.hpp share/orca/prometheus/orca-alerts.yml \
         share/orca/prometheus/alertmanager.yml share/orca/grafana/orca.json; do
  [ -e "$tmp/prefix/$f" ] || fail "missing from the install: $f"
done

echo "== find_package(orca)"
cmake -S "$consumer" -B "$tmp/cmake-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
"$tmp/cmake-build/orca_consumer"

echo "== pkg-config orca"
pc_dir=$(dirname "$(find "$tmp/prefix" -name orca.pc)")
flags=$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs orca)
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++20 -O1 "$consumer/main.cpp" -o "$tmp/pkg-config-consumer" $flags
"$tmp/pkg-config-consumer"

echo "== cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$tmp/deb" >/dev/null)
bin_deb=$(ls "$tmp"/deb/orca_*.deb) || fail "no orca_*.deb"
dev_deb=$(ls "$tmp"/deb/liborca-dev_*.deb) || fail "no liborca-dev_*.deb"
depends=$(dpkg-deb -f "$bin_deb" Depends)
echo "orca depends on: $depends"
for lib in libsqlite3 libhiredis libhttp-parser libstdc++6 libc6; do
  [[ $depends == *"$lib"* ]] || fail "the orca package does not depend on $lib"
done
dpkg-deb -x "$bin_deb" "$tmp/unpacked"
version=$("$tmp/unpacked/usr/bin/orca" --version)
echo "$version"
[[ $version == "orca $(dpkg-deb -f "$bin_deb" Version)"* ]] || fail "orca --version: $version"
[ -e "$tmp/unpacked/usr/share/orca/prometheus/orca-alerts.yml" ] ||
  fail "the orca package lacks /usr/share/orca/prometheus/orca-alerts.yml"
contents=$(dpkg-deb -c "$dev_deb")
for f in ./usr/include/orca/orca.hpp /liborca.a /liborca_resilience.a /cmake/orca/orcaConfig.cmake \
         /pkgconfig/orca.pc; do
  [[ $contents == *"$f"* ]] || fail "liborca-dev lacks $f"
done
echo "check_install: the install, find_package, pkg-config and both .deb packages work"
