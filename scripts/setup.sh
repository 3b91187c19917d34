#!/usr/bin/env bash
# Installs everything a fresh Debian machine with Node 20 needs, idempotently:
# the system oracles (only when missing), pnpm, the workspace's packages, and a build.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
APT_PKGS=()
need() { command -v "$1" >/dev/null 2>&1 || APT_PKGS+=("$2"); }
need clang-19 clang-19
need llvm-mc-19 llvm-19
need llvm-objdump-19 llvm-19
need bpftool bpftool
need qemu-aarch64 qemu-user
need qemu-system-aarch64 qemu-system-arm
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need chromium chromium
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || APT_PKGS+=(libc6-dev-arm64-cross)

if [ ${#APT_PKGS[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system oracles: ${APT_PKGS[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PKGS[@]}" >/dev/null
  else
    echo "setup: missing ${APT_PKGS[*]} and cannot apt-get (need root on Debian); oracle tests will skip" >&2
  fi
fi

# the arm64 kernel oracle's image (Debian's arm64 kernel package, unpacked, not installed)
bash packages/jit-arm64/oracle/fetch-kernel.sh || echo "setup: cannot fetch the arm64 kernel image; its oracle tests will skip" >&2

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || true
fi
PNPM=(pnpm)
[ "$(pnpm --version 2>/dev/null || true)" = "$PNPM_VERSION" ] || PNPM=(npx -y "pnpm@$PNPM_VERSION")

log=$(mktemp)
if ! "${PNPM[@]}" install --frozen-lockfile --reporter=append-only >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup: pnpm install failed" >&2
  exit 1
fi
rm -f "$log"
"${PNPM[@]}" exec tsc -b
node apps/cli/scripts/copy-examples.mjs
node apps/cli/scripts/bundle.mjs
echo "setup: done"
