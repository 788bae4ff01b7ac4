#!/usr/bin/env bash
# Sets up a fresh machine and runs a Tessera node from this checkout.
# The home is $TESSERA_HOME (default ~/.tessera); it is initialized on the first run.
#
#   bash scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh --run
npm ci --no-audit --no-fund

tessera() { node bin/tessera.js "$@"; }

home="${TESSERA_HOME:-$HOME/.tessera}"
export TESSERA_HOME="$home"
if [ ! -f "$home/tessera.toml" ]; then
  tessera init
fi

# The main job. `tessera serve` (the node's protocol server, printing its URL and
# credentials) arrives with the protocol work; until then this shows the node.
main_job() {
  tessera info
  echo
  tessera export list
}
main_job
