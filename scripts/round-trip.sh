#!/usr/bin/env bash
# The main job on the embedded defaults (or whatever COLDSTORE_* says): initialise, create a workspace, ingest
# generated events, archive them, restore them, and prove the round trip exact by full-row checksums.
# Usage: scripts/round-trip.sh [EVENTS]   (default 100000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
events="${1:-100000}"
cs() { "$root/coldstore" "$@"; }

cs init
id=$(cs workspace create --name "round-trip-$(date +%Y%m%d-%H%M%S)-$$")
echo "workspace $id" >&2
cs ingest --workspace "$id" --generate "$events" --seed 1
before=$(cs checksum "$id")
cs archive "$id"
cs status "$id"
cs verify "$id"
cs restore "$id"
after=$(cs checksum "$id")
echo "before:  $before" >&2
echo "after:   $after" >&2
if [ "$before" = "$after" ]; then
  echo "round trip exact: every row of user_events_v2 and internal_events came back as it was" >&2
else
  echo "round trip NOT exact" >&2
  exit 1
fi
