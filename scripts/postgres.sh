#!/usr/bin/env bash
# A throwaway Postgres for Coldstore's tests.
#
#   eval "$(scripts/postgres.sh start)"   # starts (or reuses) a cluster and exports COLDSTORE_TEST_POSTGRES
#   scripts/postgres.sh stop              # stops it and deletes its directory
#   scripts/postgres.sh status            # exit 0 when running; prints the connection line
#
# Only the `export COLDSTORE_TEST_POSTGRES=...` line goes to stdout (so `eval` is safe); progress goes to stderr.
# When COLDSTORE_TEST_POSTGRES already names another server (a CI service container, say), `start` uses that one
# and starts nothing, and `stop` leaves it alone; a value of the form this script prints is taken for its own
# cluster (possibly stale), which `start` reuses or starts anew as usual.
# The cluster lives in $COLDSTORE_PG_DIR (default /tmp/coldstore-pg; when run as root it must be a directory the
# `postgres` user can reach), listens on 127.0.0.1 only with trust auth, and runs with fsync off: it is for tests,
# never for data you want to keep. Without server binaries it installs the distribution's postgresql package.
set -euo pipefail

dir="${COLDSTORE_PG_DIR:-/tmp/coldstore-pg}"
data="$dir/data"
portfile="$dir/port"
logfile="$dir/postgres.log"

say() { echo "postgres.sh: $*" >&2; }

# Finds the server binaries: on PATH, else the newest Debian/Ubuntu versioned directory.
find_bin_dir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  local candidate
  candidate="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$candidate" && -x "$candidate/initdb" ]]; then
    echo "$candidate"
    return 0
  fi
  return 1
}

install_postgres() {
  say "Postgres server binaries not found; installing the distribution's postgresql package."
  if [[ "$(id -u)" -ne 0 ]]; then
    say "installing needs root; run as root or install postgresql yourself."
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # The package's own cluster (if its post-install script starts one) is not used; ours is private.
  apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Runs a command as the user that owns the cluster. initdb and postgres refuse to run as root.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

connection_line() {
  echo "export COLDSTORE_TEST_POSTGRES='Host=127.0.0.1;Port=$(cat "$portfile");Username=postgres;Database=postgres'"
}

is_running() {
  [[ -f "$data/PG_VERSION" && -f "$portfile" ]] || return 1
  as_owner "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# A free loopback port: try random ports in the ephemeral-free range until nothing answers.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  say "no free port found"
  exit 1
}

# True when COLDSTORE_TEST_POSTGRES is set to a server this script did not start.
external_server() {
  local value="${COLDSTORE_TEST_POSTGRES:-}"
  [[ -n "$value" ]] || return 1
  # Our own line, left in a shell by an earlier `eval`: not external, whether or not that cluster still runs.
  [[ "$value" =~ ^Host=127\.0\.0\.1\;Port=[0-9]+\;Username=postgres\;Database=postgres$ ]] && return 1
  return 0
}

start() {
  if external_server; then
    say "using the server COLDSTORE_TEST_POSTGRES names; starting none"
    # Quoted for eval: single quotes inside the value are closed, escaped and reopened.
    printf "export COLDSTORE_TEST_POSTGRES='%s'\n" "${COLDSTORE_TEST_POSTGRES//\'/\'\\\'\'}"
    return 0
  fi

  if ! bindir="$(find_bin_dir)"; then
    install_postgres
    bindir="$(find_bin_dir)" || { say "postgresql installed but initdb not found"; exit 1; }
  fi

  if is_running; then
    say "already running from $dir on port $(cat "$portfile")"
    connection_line
    return 0
  fi

  mkdir -p "$dir"
  if [[ "$(id -u)" -eq 0 ]]; then
    # The distribution package creates this user; a hand-built install may not have.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/false postgres
    chown postgres: "$dir"
  fi

  if [[ ! -f "$data/PG_VERSION" ]]; then
    say "initialising a cluster in $data"
    # --no-sync: a test cluster need not survive a power cut; trust auth: it listens on loopback only.
    as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi

  local port
  port="$(free_port)"
  echo "$port" >"$portfile"
  [[ "$(id -u)" -eq 0 ]] && chown postgres: "$portfile"

  say "starting on 127.0.0.1:$port"
  # fsync/synchronous_commit/full_page_writes off keep the tests fast; the socket goes into our own directory
  # so no system-wide /var/run/postgresql is needed.
  as_owner "$bindir/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >&2 || { tail -n 30 "$logfile" >&2 || true; exit 1; }

  # pg_ctl -w waits for the postmaster; also wait until TCP connections are accepted.
  for _ in $(seq 1 100); do
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
      connection_line
      return 0
    fi
    sleep 0.1
  done
  say "server did not accept connections; see $logfile"
  exit 1
}

stop() {
  if external_server; then
    say "COLDSTORE_TEST_POSTGRES names a server this script did not start; leaving it alone"
    return 0
  fi
  bindir="$(find_bin_dir)" || { say "no Postgres binaries; nothing to stop"; return 0; }
  if [[ -f "$data/PG_VERSION" ]]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  rm -rf "$dir"
  say "stopped and removed $dir"
}

status() {
  bindir="$(find_bin_dir)" || exit 1
  if is_running; then
    connection_line
  else
    say "not running (directory $dir)"
    exit 1
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac
