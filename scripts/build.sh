#!/usr/bin/env bash
# Configures and builds ctrain in DIR with BUILD_TYPE; extra
# arguments go to cmake. Quiet unless something fails.
set -euo pipefail
dir=$1 type=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
py=$("$here/scripts/setup-python.sh")/bin/python
# Configure every time (about a second): new test files are picked up.
if ! out=$(cmake -S "$here" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" \
            -DCTRAIN_PYTHON="$py" "$@" 2>&1); then
  echo "$out"; exit 1
fi
if ! out=$(ninja -C "$dir" --quiet 2>&1); then
  echo "$out"; exit 1
fi
printf '%s\n' "$out" | grep -v -e '^ninja: no work to do' -e '^$' || true
