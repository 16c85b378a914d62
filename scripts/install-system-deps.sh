#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the registry needs to build, test and run
# locally. Idempotent: only missing packages are installed.
set -euo pipefail

packages=(
  build-essential pkg-config
  mariadb-server mariadb-client
  libdlib-dev libopenblas-dev liblapack-dev libblas-dev
  chromium
  zip unzip
  openssl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Ubuntu ships Chromium as a snap stub; accept any chromium binary already present.
if [[ " ${missing[*]} " == *" chromium "* ]] && command -v chromium >/dev/null 2>&1; then
  missing=("${missing[@]/chromium}")
fi

if [ "${#missing[@]}" -gt 0 ] && [ -n "$(echo "${missing[@]}" | tr -d ' ')" ]; then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
