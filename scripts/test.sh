#!/usr/bin/env bash
# Sets up a fresh machine and passes every check: system packages, npm ci, then typecheck,
# lint, format check and every test. The checks all run even if one fails, and the script
# exits non-zero naming the ones that failed. Extra arguments select test files
# (substrings of paths).
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "system packages"
bash scripts/install-system-deps.sh --test
step "npm ci"
npm ci --no-audit --no-fund

failed=()
check() {
  local name=$1
  shift
  step "$name"
  if ! "$@"; then failed+=("$name"); fi
}
check typecheck npx tsc --noEmit -p .
check lint npx eslint .
check format npx prettier --check .
check tests node scripts/run-tests.mjs "$@"

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all checks passed"
