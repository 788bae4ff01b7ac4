#!/usr/bin/env bash
# Sets up a fresh machine and passes every check: system packages, npm ci, typecheck, lint,
# format check, then every test. Extra arguments select test files (substrings of paths).
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "system packages"
bash scripts/install-system-deps.sh --test
step "npm ci"
npm ci --no-audit --no-fund
step "typecheck"
npx tsc --noEmit -p .
step "lint"
npx eslint .
step "format"
npx prettier --check .
step "tests"
node scripts/run-tests.mjs "$@"
