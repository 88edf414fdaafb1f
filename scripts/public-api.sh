#!/usr/bin/env bash
# Brings every published library's PublicAPI.Unshipped.txt in line with its code, after a deliberate change to the
# public API (the build fails with RS0016 / RS0017 until the files say it). Review the diff before committing: every
# line it adds or removes is a change users of the package see.
#   scripts/public-api.sh                 # every project under src/ that has PublicAPI.Unshipped.txt
#   scripts/public-api.sh Coldstore.Core  # just these
# Removed symbols: a line of PublicAPI.Unshipped.txt is deleted; a line of PublicAPI.Shipped.txt is kept and marked
# `*REMOVED*` in PublicAPI.Unshipped.txt (the analyzer's convention). Added symbols: the analyzer's own code fix
# (dotnet format) writes them. At a release, move the lines of Unshipped into Shipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ $# -gt 0 ]]; then
  projects=("$@")
else
  projects=()
  for file in src/*/PublicAPI.Unshipped.txt; do
    projects+=("$(basename "$(dirname "$file")")")
  done
fi

for project in "${projects[@]}"; do
  dir="src/$project"
  [[ -f "$dir/PublicAPI.Unshipped.txt" ]] || { echo "public-api.sh: $dir/PublicAPI.Unshipped.txt not found" >&2; exit 2; }
  echo "public-api.sh: $project" >&2
  log="$(mktemp)"
  # RS0017 has no code fix: read the declared lines that no longer match a public symbol off a build.
  dotnet build "$dir/$project.csproj" -c Release -nologo -v quiet --no-incremental \
    -p:TreatWarningsAsErrors=false -p:WarningsAsErrors= >"$log" 2>&1 || true
  # No removed symbol is no failure (grep's exit 1 would end the script under pipefail).
  { grep -oE "PublicAPI\.(Shipped|Unshipped)\.txt\([0-9]+,[0-9]+\): warning RS0017: Symbol '.*' is part of the declared API" "$log" || true; } |
    sort -u |
    while IFS= read -r hit; do
      file="${hit%%(*}"
      symbol="${hit#*Symbol \'}"
      symbol="${symbol%\' is part of the declared API}"
      if [[ "$file" == "PublicAPI.Unshipped.txt" ]]; then
        SYMBOL="$symbol" python3 - "$dir/PublicAPI.Unshipped.txt" <<'EOF'
import os, sys
path, symbol = sys.argv[1], os.environ["SYMBOL"]
with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
with open(path, "w", encoding="utf-8") as f:
    f.write("".join(line + "\n" for line in lines if line != symbol))
EOF
      else
        printf '*REMOVED*%s\n' "$symbol" >>"$dir/PublicAPI.Unshipped.txt"
      fi
    done
  rm -f "$log"
  # The fixer sometimes drops a record's generated members while it adds others (seen when a record gains a
  # property): run it again until a build finds nothing missing.
  for _ in 1 2 3; do
    dotnet format analyzers "$dir/$project.csproj" --diagnostics RS0016 --severity warn
    if ! dotnet build "$dir/$project.csproj" -c Release -nologo -v quiet -p:TreatWarningsAsErrors=false -p:WarningsAsErrors= 2>&1 |
      grep -q "warning RS0016"; then
      break
    fi
  done
done
git -C "$root" diff --stat -- 'src/*/PublicAPI.*.txt' >&2
