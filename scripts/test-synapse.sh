#!/usr/bin/env bash
# `npm run test:synapse`: Switchboard against a real Synapse. Installs Synapse if needed (root; see
# scripts/synapse.sh), starts one homeserver with a fresh database, runs test/peers/ (which start
# Switchboard over HTTPS themselves) and stops Synapse again however the run ends.
# Environment: SYNAPSE_PORT picks Synapse's port, SWITCHBOARD_PORT the first of the Switchboard servers' (one per
# test file, numbered up from it); default: free ones. Arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

free_port() { # a loopback port nothing listens on, below the kernel's usual ephemeral range
  node -e '
    const net = require("node:net");
    const tryPort = (n) => { const p = 20000 + Math.floor(Math.random() * 10000);
      const s = net.createServer().once("error", () => n > 0 ? tryPort(n - 1) : process.exit(1));
      s.listen(p, "127.0.0.1", () => s.close(() => console.log(p))); };
    tryPort(50);'
}

export SYNAPSE_PORT=${SYNAPSE_PORT:-$(free_port)}
# Synapse federates to the port in a server name, so names carry theirs.
export SYNAPSE_NAME="127.0.0.1:$SYNAPSE_PORT"

scripts/synapse.sh install
scripts/synapse.sh reset "$SYNAPSE_NAME"
stop_synapse() {
  local status=$?
  scripts/synapse.sh stop "$SYNAPSE_NAME" >/dev/null || true
  if [ "$status" != 0 ]; then echo "Synapse's log: $(scripts/synapse.sh log "$SYNAPSE_NAME")" >&2; fi
}
trap stop_synapse EXIT
scripts/synapse.sh start "$SYNAPSE_NAME" "$SYNAPSE_PORT" >/dev/null
echo "Synapse $SYNAPSE_NAME on http://127.0.0.1:$SYNAPSE_PORT"

# The tests' own clients talk to Switchboard's self-signed HTTPS listener on loopback.
NODE_TLS_REJECT_UNAUTHORIZED=0 npx vitest run --config vitest.peers.config.ts "$@"
