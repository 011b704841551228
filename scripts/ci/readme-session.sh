#!/usr/bin/env bash
# Runs the README's standalone-chain session verbatim (the fenced block after the marker
# `<!-- standalone-session -->`) in this checkout, against Anvil, and fails if any command fails.
# CI runs it on its fresh clone, so the session is checked the way a new user would type it.
set -euo pipefail
cd "$(dirname "$0")/../.."

session=$(awk '/<!-- standalone-session -->/ {found=1; next} found && /^```/ {n++; if (n==2) exit; next} found && n==1 {print}' README.md)
if [ -z "$session" ]; then echo "readme-session: no block after <!-- standalone-session --> in README.md" >&2; exit 1; fi

workdir=$(mktemp -d)
pid=""
cleanup() {
  # The session leaves a chain and a worker in the background: end its whole process group.
  if [ -n "$pid" ]; then kill -TERM -- "-$pid" 2>/dev/null || true; sleep 2; kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

printf '%s\n' "$session" > "$workdir/session.sh"
echo "readme-session: running the README's standalone session:"
sed 's/^/  | /' "$workdir/session.sh"
rm -rf .tessera/deployment.json .tessera/ipfs ignition/deployments/chain-31337
setsid bash -euo pipefail "$workdir/session.sh" &
pid=$!
rc=0
wait "$pid" || rc=$?
if [ "$rc" -ne 0 ]; then
  # What the worker did (or why it did not) is in its log: show it with the failure, not after the clone is gone.
  echo "readme-session: the session failed (exit $rc); the end of .tessera/worker.log:" >&2
  grep -v '^\s*$' .tessera/worker.log 2>/dev/null | tail -40 | cut -c1-600 >&2 || echo "  (no worker log)" >&2
  exit "$rc"
fi
echo "readme-session: the README's standalone session passed"
