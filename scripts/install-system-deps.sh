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
  python3-venv
  nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Ubuntu ships Chromium as a snap stub; accept any chromium binary already present.
# A browser or Node.js installed another way (NodeSource, nvm) will do.
for p in chromium nodejs npm; do
  command=$p
  [ "$p" = nodejs ] && command=node
  if [[ " ${missing[*]} " == *" $p "* ]] && command -v "$command" >/dev/null 2>&1; then
    missing=("${missing[@]/$p}")
  fi
done

if [ "${#missing[@]}" -gt 0 ] && [ -n "$(echo "${missing[@]}" | tr -d ' ')" ]; then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Rust comes from rustup, which Debian's stable releases do not package;
# rust-toolchain.toml then picks the version.
if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is missing: install it with rustup (https://rustup.rs):" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain none" >&2
  echo "then open a new shell (or source ~/.cargo/env) and run make again." >&2
  exit 1
fi
