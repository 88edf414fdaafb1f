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

# A private Postgres for this run (its own directory, so it never meets a developer's cluster); the fixtures read
# COLDSTORE_TEST_POSTGRES. When that already names a server (a CI service), postgres.sh uses it and starts nothing.
export COLDSTORE_PG_DIR="${COLDSTORE_PG_DIR:-/tmp/coldstore-pg-run-$$}"
eval "$(scripts/postgres.sh start)"

# Nothing this run started may outlive it, however it ends (a failure, Ctrl+C, a CI timeout's SIGTERM). The
# fixtures stop their servers and each server watches its test host, but a test host killed outright skips the
# first; this sweep is the last line: every process whose command line names this checkout (s3rver, the HTTP
# interface, CLI children, test hosts), then Postgres.
reap() {
  local pids
  pids=$(pgrep -f -- "$root/(tools|tests|artifacts|src)/" | grep -v -x -e "$$" -e "$BASHPID" || true)
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null || true
    sleep 1
    kill -KILL $pids 2>/dev/null || true
  fi
  scripts/postgres.sh stop >/dev/null 2>&1 || true
}
trap reap EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dotnet build Coldstore.slnx -c Release -nologo -v quiet -clp:ErrorsOnly

rm -rf "$results"
projects=$(find tests -name '*.Tests.csproj' | sort)
expected=$(echo "$projects" | wc -l)
status=0
# Tests known to fail until a later issue lands carry [Trait("Category", "KnownFailing")]: they run, apart, and are
# reported by name and count below, but do not fail the run. Everything else must pass.
known_filter="Category=KnownFailing"
# Test projects run one after another: each loads its own chDB engine, and on two cores running several at
# once only makes each slower and their timing-sensitive races noisier.
for project in $projects; do
  name=$(basename "$project" .csproj)
  echo "== $name" >&2
  dotnet test "$project" -c Release --no-build -nologo --filter "Category!=KnownFailing" \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" "$@" || status=1
  if grep -rqs --include='*.cs' 'KnownFailing' "$(dirname "$project")"; then
    echo "== $name (known failing)" >&2
    dotnet test "$project" -c Release --no-build -nologo --filter "$known_filter" \
      --logger "trx;LogFileName=$name.known-failing.trx" --logger "console;verbosity=minimal" \
      --results-directory "$results/known-failing" "$@" || true
  fi
done

# Known-failing tests: each by name with its outcome.
known_failed=0; known_passed=0
for trx in "$results"/known-failing/*.trx; do
  [ -f "$trx" ] || continue
  while IFS= read -r line; do
    test_name=$(echo "$line" | sed -n 's/.* testName="\([^"]*\)".*/\1/p')
    outcome=$(echo "$line" | sed -n 's/.* outcome="\([^"]*\)".*/\1/p')
    [ -n "$test_name" ] || continue
    if [ "$outcome" = "Passed" ]; then
      known_passed=$((known_passed + 1)); echo "known failing, passed this time: $test_name"
    else
      known_failed=$((known_failed + 1)); echo "known failing: $test_name ($outcome)"
    fi
  done < <(grep -o '<UnitTestResult [^>]*>' "$trx")
done
echo "known failing: $known_failed failed, $known_passed passed (not counted below)"

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
