#!/usr/bin/env bash
# Serves ClickHouse's HTTP interface over the embedded engine (chDB), for tests and for trying the CLI's server
# path without a ClickHouse server: scripts/clickhouse-http.sh --port P --dir D [--user U --password P] [--verbose]
# Prints "clickhouse-http listening on http://127.0.0.1:P …" once it answers, and serves until SIGTERM or Ctrl+C.
# Then: COLDSTORE_CLICKHOUSE=http://127.0.0.1:P ./coldstore init   (see README, "Tests").
# Builds the interface (Release, into artifacts/clickhouse-http) the first time and whenever its sources change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/artifacts/clickhouse-http"
dll="$out/Coldstore.ClickHouseHttp.dll"
command -v dotnet >/dev/null 2>&1 || { echo "clickhouse-http.sh: the .NET SDK is not installed (dotnet not on PATH); install .NET 10." >&2; exit 2; }
stale() {
  [ ! -f "$dll" ] && return 0
  [ -n "$(find "$root/tests/Coldstore.ClickHouseHttp" "$root/src/Coldstore.ClickHouse.Chdb" "$root/src/Coldstore.Core" \
      "$root/Directory.Build.props" "$root/Directory.Packages.props" -newer "$dll" \
      \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \) -not -path '*/obj/*' -print -quit)" ]
}
if stale; then
  echo "clickhouse-http.sh: building the interface…" >&2
  log="$(mktemp)"
  if ! dotnet build "$root/tests/Coldstore.ClickHouseHttp/Coldstore.ClickHouseHttp.csproj" -c Release -o "$out" -nologo -v quiet -clp:ErrorsOnly >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "clickhouse-http.sh: the build failed (see above)." >&2
    exit 2
  fi
  rm -f "$log"
  touch "$dll"
fi
exec dotnet "$dll" "$@"
