#!/bin/sh
# Builds Switchboard as of a git revision into bench/.build/switchboard-<name>, for before/after
# runs of a fix. Files named after the revision are copied over it from the working tree (the fix
# under test), so other uncommitted work in the checkout does not leak into the comparison:
#   sh bench/ab-bundle.sh before HEAD
#   sh bench/ab-bundle.sh after HEAD durable-objects/room.ts durable-objects/destination.ts
#   BENCH_BUNDLE=bench/.build/switchboard-before node bench/.build/run.mjs --quick --only=B1
# The revision is exported with git archive into a temporary directory; the checkout is not touched.
set -e
name="${1:?name}"
rev="${2:?revision}"
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
git -C "$root" archive "$rev" | tar -x -C "$tmp"
for f in "$@"; do cp "$root/$f" "$tmp/$f"; done
ln -s "$root/node_modules" "$tmp/node_modules"
out="$root/bench/.build/switchboard-$name"
(cd "$tmp" && WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false ./node_modules/.bin/wrangler deploy --dry-run --outdir "$out" >/dev/null)
rm -rf "$tmp"
echo "$out"
