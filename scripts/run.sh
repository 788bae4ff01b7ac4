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

# The main job: serve the node. A home without exports gets one, `files`, over ~/Tessera,
# so there is something to browse; the owner credential (kept in the home for local
# commands) is printed so other machines and tools can log in.
main_job() {
  if [ "$(tessera export list --json)" = "[]" ]; then
    mkdir -p "$HOME/Tessera"
    tessera export add files "$HOME/Tessera" --desc "default export made by scripts/run.sh"
  fi
  tessera info
  echo
  node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log("owner credential (id:secret, for --credential): " + c.id + ":" + c.secret);
    console.log("  kept in " + process.argv[1] + "; make narrower ones with: tessera credentials create");
  ' "$home/owner-credential.json"
  echo
  exec node bin/tessera.js serve
}
main_job
