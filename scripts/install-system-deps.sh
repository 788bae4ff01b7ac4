#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Tessera needs, skipping what is already installed.
# Idempotent: a second run installs nothing and does not touch apt.
#
#   bash scripts/install-system-deps.sh           # everything the tests need (default)
#   bash scripts/install-system-deps.sh --run     # only what running a node needs
#   bash scripts/install-system-deps.sh --bench   # the test set plus the benchmark peers
set -euo pipefail

mode=test
case "${1:-}" in
  --run) mode=run ;;
  --test | '') mode=test ;;
  --bench) mode=bench ;;
  *) echo "usage: $0 [--run|--test|--bench]" >&2; exit 22 ;;
esac

# Needed to install and run: node-gyp compiles the native addon (binding.gyp) at `npm ci`.
run_pkgs=(python3 make g++)
# Needed only by tests: FUSE mounts (fuse3: libfuse3.so.3, which `tessera mount-fs` loads, and
# fusermount3), WebDAV clients (davfs2, rclone) and the litmus WebDAV conformance suite.
test_pkgs=(fuse3 davfs2 rclone litmus)
# The peers the benchmarks compare against: sshd + sshfs, rclone (serve webdav/sftp), curl.
bench_pkgs=(openssh-server sshfs rclone curl)

pkgs=("${run_pkgs[@]}")
if [ "$mode" = test ] || [ "$mode" = bench ]; then pkgs+=("${test_pkgs[@]}"); fi
if [ "$mode" = bench ]; then pkgs+=("${bench_pkgs[@]}"); fi

# Node.js itself comes from the machine (Debian's nodejs is too old): check, don't install.
if ! command -v node >/dev/null 2>&1; then
  echo "install-system-deps: Node.js >= 20.19 is required and 'node' is not on PATH" >&2
  exit 2
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "install-system-deps: Node.js >= 20.19 is required, found $(node --version)" >&2
  exit 22
fi

missing=()
for pkg in "${pkgs[@]}"; do
  if command -v dpkg-query >/dev/null 2>&1; then
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
  elif ! command -v "$pkg" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all present (${pkgs[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 2
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "install-system-deps: missing ${missing[*]}; run as root (or install sudo)" >&2
    exit 13
  fi
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
