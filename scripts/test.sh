#!/usr/bin/env bash
# Runs the whole test suite against real engines: embedded chDB, a throwaway Postgres, s3rver, SQLite and
# local directories. Installs what is missing (npm packages, Postgres from apt), builds, runs every test
# project, and ends with one line `N passed, N failed`. Exits non-zero if anything failed or did not run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
results="$root/artifacts/test-results"

command -v dotnet >/dev/null || { echo "test.sh: dotnet is missing; install the .NET 10 SDK." >&2; exit 2; }
command -v npm >/dev/null || { echo "test.sh: npm is missing; install Node.js and npm (apt-get install nodejs npm)." >&2; exit 2; }

# libchdb and s3rver come from npm, pinned in tools/package-lock.json.
scripts/fetch-native.sh >&2

# A private Postgres for this run; the fixtures read COLDSTORE_TEST_POSTGRES.
eval "$(scripts/postgres.sh start)"
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT

dotnet build Coldstore.slnx -c Release -nologo -v quiet -clp:ErrorsOnly

rm -rf "$results"
projects=$(find tests -name '*.Tests.csproj' | sort)
expected=$(echo "$projects" | wc -l)
status=0
# Test projects run one after another: each loads its own chDB engine, and on two cores running several at
# once only makes each slower and their timing-sensitive races noisier.
for project in $projects; do
  name=$(basename "$project" .csproj)
  echo "== $name" >&2
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" "$@" || status=1
done

passed=0; failed=0; found=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  found=$((found + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(echo "$counters" | sed -n 's/.* passed="\([0-9]*\)".*/\1/p'); f=$(echo "$counters" | sed -n 's/.* failed="\([0-9]*\)".*/\1/p')
  e=$(echo "$counters" | sed -n 's/.* error="\([0-9]*\)".*/\1/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
done
if [ "$found" -lt "$expected" ]; then
  echo "test.sh: only $found of $expected test projects produced results; a test host crashed or did not start." >&2
  failed=$((failed + expected - found)); status=1
fi
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
