#!/usr/bin/env bash
# Makes sure a MySQL-compatible database answers and writes its URL to
# .local/database.env.
#
#   scripts/database.sh up     use $DATABASE_URL if a server answers there,
#                              otherwise start a private MariaDB under .local/
#   scripts/database.sh down   stop the private MariaDB (if this script started it)
#   scripts/database.sh url    print the URL in use
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="$root/.local/mariadb"
env_file="$root/.local/database.env"
port="${PRIVATE_DB_PORT:-3307}"
socket="$state/mysqld.sock"

reachable() { # URL
  python3 - "$1" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
try:
    socket.create_connection((u.hostname or "127.0.0.1", u.port or 3306), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

private_running() {
  [ -S "$socket" ] && mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1
}

start_private() {
  "$root/scripts/install-system-deps.sh"
  mkdir -p "$state"
  chmod 700 "$state"
  if [ ! -d "$state/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$state/data" --user="$(id -un)" \
      --auth-root-authentication-method=socket >"$state/install.log" 2>&1
  fi
  if ! private_running; then
    mariadbd --no-defaults --datadir="$state/data" --socket="$socket" \
      --port="$port" --bind-address=127.0.0.1 --user="$(id -un)" \
      --pid-file="$state/mysqld.pid" --log-error="$state/error.log" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --max-connections=500 --innodb-buffer-pool-size=256M \
      --innodb-flush-log-at-trx-commit=2 --skip-log-bin >/dev/null 2>&1 &
    for _ in $(seq 1 60); do private_running && break; sleep 0.5; done
    private_running || { echo "private MariaDB did not start; see $state/error.log" >&2; exit 1; }
  fi
  if [ ! -f "$state/password" ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$state/password")
  fi
  local pw; pw="$(cat "$state/password")"
  # The private server is for this checkout only: its user may create the
  # per-test databases.
  mariadb --socket="$socket" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS registry CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'registry'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'registry'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'registry'@'127.0.0.1';
SQL
  echo "mysql://registry:$pw@127.0.0.1:$port/registry"
}

case "${1:-up}" in
  up)
    mkdir -p "$root/.local"
    if [ -n "${DATABASE_URL:-}" ] && reachable "$DATABASE_URL"; then
      url="$DATABASE_URL"
    else
      url="$(start_private)"
    fi
    (umask 077; echo "DATABASE_URL=$url" >"$env_file")
    ;;
  down)
    if private_running; then
      mariadb-admin --socket="$socket" -uroot shutdown
    fi
    ;;
  url)
    sed -n 's/^DATABASE_URL=//p' "$env_file"
    ;;
  *) echo "usage: $0 up|down|url" >&2; exit 2 ;;
esac
