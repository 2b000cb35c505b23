#!/usr/bin/env bash
# Installs the Debian 12 packages fedrec needs to build and test, when they are missing.
# Runs apt-get only if something is missing; uses sudo when not root.
set -euo pipefail
pkgs=(gcc make cmake pkg-config libcjson-dev libinih-dev libcmocka-dev libopenblas-openmp-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
