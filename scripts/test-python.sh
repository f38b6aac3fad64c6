#!/usr/bin/env bash
# Installs the ctrain Python package (C library built by scikit-build-core
# through CMakeLists.txt, incrementally in build-python/) into the project's
# virtual environment and runs the Python tests. Quiet unless something
# fails. Extra arguments go to pytest (e.g. -k adam, -x); --install-only
# installs and stops (for the benchmarks).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=$("$here/scripts/setup-python.sh")/bin/python
cd "$here"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$py" -m pip install --no-build-isolation --no-deps -q . >"$log" 2>&1; then
  cat "$log"; exit 1
fi
[ "${1:-}" = "--install-only" ] && exit 0
# tests must exercise the installed package, not the source tree
cd "$here/tests/python"
exec "$py" -m pytest -q -p no:cacheprovider "$@" .
