#!/usr/bin/env bash
# Creates (once per machine) the Python virtual environment ctrain tests
# against, with the exact versions of requirements.lock. The environment
# lives outside the work tree (PyTorch is several GB) so every clone on the
# machine shares it; a second run downloads nothing and prints nothing.
# Prints the environment's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${CTRAIN_VENV:-$HOME/.cache/ctrain/venv}
lock="$here/requirements.lock"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ -f "$venv/.ctrain-lock" ] && [ "$(cat "$venv/.ctrain-lock")" = "$want" ]; then
  echo "$venv"
  exit 0
fi
echo "setup: installing Python packages into $venv (once per machine)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --no-deps -r "$lock" >&2
echo "$want" > "$venv/.ctrain-lock"
echo "$venv"
