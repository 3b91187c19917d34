#!/usr/bin/env bash
# Fetches Debian's arm64 Linux kernel image (the data of the linux-image-*-cloud-arm64 package
# of Debian 13 "trixie", 6.12) for the arm64 kernel oracle (src/node/kernel-oracle.ts) and leaves it
# at $BPF_ARM64_KERNEL, default ${XDG_CACHE_HOME:-~/.cache}/bpf-toolchain/arm64-kernel/vmlinuz.
# The package is downloaded with apt (a private package list for arm64, so the machine's own
# apt sources and architectures stay as they are) and unpacked with dpkg-deb: nothing is
# installed. Idempotent: does nothing when the image is there.
set -euo pipefail
SUITE=${BPF_ARM64_KERNEL_SUITE:-trixie}
FLAVOUR=${BPF_ARM64_KERNEL_FLAVOUR:-cloud-arm64}
# the same place as src/node/kernel-oracle.ts (os.homedir(): $HOME, else the passwd entry)
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
out=${BPF_ARM64_KERNEL:-${XDG_CACHE_HOME:-$home/.cache}/bpf-toolchain/arm64-kernel/vmlinuz}
[ -s "$out" ] && exit 0
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || { echo "fetch-kernel: no $keyring (not Debian?)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
# the archive this machine's apt already uses (its first Debian main-archive URI), so the
# script names no mirror of its own; BPF_ARM64_KERNEL_MIRROR overrides it
mirror=${BPF_ARM64_KERNEL_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *\([^ ]*\/debian\)\/\{0,1\}$/\1/p' | head -1)
fi
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\)\/\{0,1\} .*/\2/p' | head -1)
fi
[ -n "$mirror" ] || { echo "fetch-kernel: no Debian archive in this machine's apt sources; set BPF_ARM64_KERNEL_MIRROR" >&2; exit 1; }
echo "deb [arch=arm64 signed-by=$keyring] $mirror $SUITE main" >"$work/sources.list"
APT=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Dir::State::status=/dev/null
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq)
apt-get "${APT[@]}" update
# the meta package names the current image package
pkg=$(apt-cache "${APT[@]}" depends "linux-image-$FLAVOUR" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -1)
[ -n "$pkg" ] || { echo "fetch-kernel: linux-image-$FLAVOUR not found in $SUITE" >&2; exit 1; }
(cd "$work" && apt-get "${APT[@]}" download "$pkg:arm64" 2>/dev/null)
mkdir -p "$work/x" "$(dirname "$out")"
dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work/x" ./boot
cp "$work"/x/boot/vmlinuz-* "$out.tmp"
cp "$work"/x/boot/config-* "$(dirname "$out")/config"
mv "$out.tmp" "$out"
echo "fetch-kernel: $pkg -> $out"
