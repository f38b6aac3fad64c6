#!/usr/bin/env bash
# Installs the ctrain built in BUILD_DIR into a temporary prefix, then builds
# examples/minimal against it four ways: CMake (find_package) and make
# (pkg-config), each with the shared and the static library, and runs each.
# Quiet on success except one summary line; non-zero exit on any failure.
# usage: scripts/test-install.sh BUILD_DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
log=$tmp/log

fail() {
  echo "test-install: FAIL: $*" >&2
  [ -s "$log" ] && cat "$log" >&2
  exit 1
}
run() { # quietly; on failure show the output
  "$@" >"$log" 2>&1 || fail "$*"
}

run cmake --install "$build" --prefix "$prefix"
pc=$(find "$prefix" -name ctrain.pc)
[ -n "$pc" ] || fail "no ctrain.pc installed under $prefix"
export PKG_CONFIG_PATH=$(dirname "$pc")
# Nothing else may supply ctrain: not the build tree, not the environment.
unset LD_LIBRARY_PATH CMAKE_PREFIX_PATH ctrain_DIR || true

# The installed example, copied so nothing is written into the source tree.
cp -r "$here/examples/minimal" "$tmp/src"
strict="-Wall -Wextra -Werror -pedantic"

check() { # NAME BINARY LINKAGE(shared|static)
  local name=$1 bin=$2 kind=$3 out
  out=$("$bin" 2>&1) || { echo "$out" >"$log"; fail "$name: the example failed"; }
  echo "$out" >"$log"
  grep -q '^refused as expected: invalid argument: ' "$log" || fail "$name: no refusal of lr=-1"
  grep -q '^ok: loss ' "$log" || fail "$name: the loss did not decrease"
  if [ "$kind" = shared ]; then
    ldd "$bin" >"$log" 2>&1 || true
    grep -q "libctrain\.so.* => $prefix/" "$log" ||
      fail "$name: not linked against the installed libctrain.so"
  else
    readelf -d "$bin" >"$log" 2>&1 || fail "$name: readelf"
    ! grep -q 'NEEDED.*libctrain' "$log" || fail "$name: links libctrain.so, not the archive"
  fi
}

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
for kind in shared static; do
  static=OFF
  [ $kind = static ] && static=ON
  b=$tmp/cmake-$kind
  run cmake -S "$tmp/src" -B "$b" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCTRAIN_EXAMPLE_STATIC=$static \
    -DCMAKE_C_FLAGS="$strict"
  grep -q "^ctrain_DIR:PATH=$prefix/" "$b/CMakeCache.txt" ||
    fail "cmake $kind: find_package(ctrain) did not find the installed package"
  run cmake --build "$b"
  check "cmake $kind" "$b/minimal" $kind

  mkflags=()
  [ $kind = static ] && mkflags=(STATIC=1)
  run make -C "$tmp/src" "${mkflags[@]}" OUT="$tmp/make-$kind" CFLAGS="-O2 $strict"
  check "pkg-config $kind" "$tmp/make-$kind" $kind
done
echo "test-install: examples/minimal built and run against the installed ctrain" \
  "$(pkg-config --modversion ctrain): CMake and pkg-config, shared and static"
