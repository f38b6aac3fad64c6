#!/usr/bin/env bash
# Installs the Debian packages ctrain builds and tests with. Idempotent and
# silent when everything is already there.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config clang
      libopenblas-dev libyaml-dev zlib1g-dev libhdf5-dev libcjson-dev libjpeg62-turbo-dev
      libbz2-dev liblzma-dev
      libopenmpi-dev openmpi-bin python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
