#!/usr/bin/env bash
# Builds the benchmark (Release) and runs it: bench/run.sh [--scenario single|fleet|scaling|erase|all] [--events N] [--repeat R]
# [--warmup W] [--fleet NxM] [--sizes A,B,…] [--erase-chunks K] [--json] [--dir DIR] [--out DIR] (bench/run.sh --help lists them).
# The tables (latest.md) and the chart (bench.png) go to bench/results unless --out names another directory.
# chDB keeps its data directory open until the process exits, so the program cannot delete it; this script gives it
# a temporary directory and removes that afterwards (unless --dir names one, which is kept).
# libchdb.so: COLDSTORE_LIBCHDB if set, else tools/node_modules (scripts/fetch-native.sh fetches it).
# Build output goes to stderr so `--json` stays clean on stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$root/bench/Coldstore.Bench/Coldstore.Bench.csproj"
dll="$root/bench/Coldstore.Bench/bin/Release/net10.0/Coldstore.Bench.dll"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "bench/run.sh: the .NET SDK is not installed (dotnet not on PATH); install .NET 10." >&2
  exit 2
fi
if [[ -z "${COLDSTORE_LIBCHDB:-}" ]]; then
  bash "$root/scripts/fetch-native.sh"
fi

echo "bench/run.sh: building (Release)…" >&2
log="$(mktemp)"
if ! dotnet build "$project" -c Release -nologo -v quiet -clp:ErrorsOnly >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "bench/run.sh: the build failed (see above)." >&2
  exit 2
fi
rm -f "$log"

args=("$@")
workdir=""
if [[ " $* " != *" --dir "* ]]; then
  workdir="$(mktemp -d "${TMPDIR:-/tmp}/coldstore-bench-XXXXXX")"
  trap 'rm -rf "$workdir"' EXIT
  args+=(--dir "$workdir")
fi
if [[ " $* " != *" --out "* && " $* " != *" --help "* && " $* " != *" -h "* ]]; then
  args+=(--out "$root/bench/results")
fi
# Not exec: the trap must run after the benchmark exits.
dotnet "$dll" "${args[@]}"
