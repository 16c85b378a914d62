#!/usr/bin/env bash
# Makes sure a MySQL-compatible database answers and writes its URL to
# .local/database.env.
#
#   scripts/database.sh up     use $DATABASE_URL if a server there lets its
#                              user in (with $DATABASE_TLS_CA, the CA of its TLS
#                              certificate), otherwise start a private MariaDB
#                              under .local/ that serves TLS from a local CA
#   scripts/database.sh down   stop the private MariaDB (if this script started it)
#   scripts/database.sh url    print the URL in use
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="$root/.local/mariadb"
env_file="$root/.local/database.env"
port="${PRIVATE_DB_PORT:-3307}"
socket="$state/mysqld.sock"
tls="$state/tls"

# Whether a server answers at URL and lets its user in (over TLS with CA,
# when given): a server that answers with other credentials (another
# checkout's) is not this one's.
usable() { # URL CA
  python3 - "$1" "$2" <<'PY'
import os, shutil, subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
client = shutil.which("mariadb")
if client is None:
    sys.exit(1)
args = [client, "--no-defaults", "-h", u.hostname or "127.0.0.1", "-P", str(u.port or 3306),
        "-u", urllib.parse.unquote(u.username or ""), "-N", "-e", "SELECT 1"]
if sys.argv[2]:
    args += ["--ssl-ca", sys.argv[2]]
env = dict(os.environ, MYSQL_PWD=urllib.parse.unquote(u.password or ""))
try:
    ok = subprocess.run(args, env=env, capture_output=True, timeout=10).returncode == 0
except subprocess.TimeoutExpired:
    ok = False
sys.exit(0 if ok else 1)
PY
}

private_running() {
  [ -S "$socket" ] && mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1
}

# A local certificate authority and the server's certificate for 127.0.0.1,
# so that clients verify the server as they verify Aurora's.
make_certificates() {
  [ -f "$tls/server.pem" ] && [ -f "$tls/ca.pem" ] && return 0
  mkdir -p "$tls"
  chmod 700 "$tls"
  openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" -subj "/CN=Face Registry local database CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -nodes -newkey rsa:2048 -sha256 \
    -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
  openssl x509 -req -sha256 -days 3650 -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
  rm -f "$tls/server.csr" "$tls/server.ext"
  chmod 600 "$tls"/*.key
}

private_serves_tls() {
  [ "$(mariadb --socket="$socket" -uroot -N -e "SELECT @@have_ssl" 2>/dev/null)" = "YES" ]
}

start_private() {
  "$root/scripts/install-system-deps.sh"
  mkdir -p "$state"
  chmod 700 "$state"
  if [ ! -d "$state/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$state/data" --user="$(id -un)" \
      --auth-root-authentication-method=socket >"$state/install.log" 2>&1
  fi
  make_certificates
  # A server started before it served TLS is restarted with it.
  if private_running && ! private_serves_tls; then
    mariadb-admin --socket="$socket" -uroot shutdown
    for _ in $(seq 1 60); do private_running || break; sleep 0.5; done
  fi
  if ! private_running; then
    mariadbd --no-defaults --datadir="$state/data" --socket="$socket" \
      --port="$port" --bind-address=127.0.0.1 --user="$(id -un)" --skip-name-resolve \
      --ssl-ca="$tls/ca.pem" --ssl-cert="$tls/server.pem" --ssl-key="$tls/server.key" \
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
  # per-test databases, and the users each local stack's database has (as
  # RDS creates a cluster's master user).
  mariadb --socket="$socket" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS registry CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'registry'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'registry'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'registry'@'127.0.0.1' WITH GRANT OPTION;
SQL
  echo "mysql://registry:$pw@127.0.0.1:$port/registry"
}

case "${1:-up}" in
  up)
    mkdir -p "$root/.local"
    if [ -n "${DATABASE_URL:-}" ] && usable "$DATABASE_URL" "${DATABASE_TLS_CA:-}"; then
      url="$DATABASE_URL"
      ca="${DATABASE_TLS_CA:-}"
    else
      if [ -n "${DATABASE_URL:-}" ]; then
        echo "DATABASE_URL does not let its user in (or nothing answers there): using a private MariaDB under .local/" >&2
      fi
      url="$(start_private)"
      ca="$tls/ca.pem"
    fi
    (umask 077; printf 'DATABASE_URL=%s\nDATABASE_TLS_CA=%s\n' "$url" "$ca" >"$env_file")
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
