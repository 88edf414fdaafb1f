#!/usr/bin/env bash
# Puts libchdb.so (embedded ClickHouse, pinned in tools/package.json) where Coldstore looks for it:
# tools/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so. Does nothing when it is already there.
# The build runs this automatically when the library is missing.
set -euo pipefail

script_dir="${BASH_SOURCE[0]%/*}"
repo_root="$(cd "$script_dir/.." && pwd)"
library="$repo_root/tools/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so"

if [[ -f "$library" ]]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-native.sh: npm is not installed; install Node.js (with npm) and rerun scripts/fetch-native.sh, or set COLDSTORE_LIBCHDB to an existing libchdb.so." >&2
  exit 1
fi

# npm ci installs exactly what tools/package-lock.json pins, and is quiet about everything else.
if ! npm ci --prefix "$repo_root/tools" --no-audit --no-fund --loglevel=error >&2; then
  echo "fetch-native.sh: 'npm ci --prefix tools' failed (see above); fix the npm error (registry access, disk space) and rerun scripts/fetch-native.sh." >&2
  exit 1
fi

if [[ ! -f "$library" ]]; then
  echo "fetch-native.sh: npm ci finished but $library is still missing; check that tools/package.json pins @chdb/lib-linux-x64-gnu and rerun scripts/fetch-native.sh." >&2
  exit 1
fi
