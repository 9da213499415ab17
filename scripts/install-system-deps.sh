#!/usr/bin/env bash
# Finds or installs what the tests need outside npm:
#   - Chromium (Debian's package, /usr/bin/chromium) for the end-to-end tier,
#   - the Vulkan loader (libvulkan.so.1) that Dawn loads in Node,
#   - Mesa's lavapipe (>= 23) CPU Vulkan driver, unpacked into .deps/lavapipe/ (project-owned),
#     because Debian 12's own Mesa 22 is refused by Dawn.
# As root on Debian/Ubuntu it installs what is missing; elsewhere it stops with one message
# listing what to install. Idempotent: a second run only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
lvp="$deps/lavapipe"
icd="$lvp/lvp_icd.json"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 ' || missing+=(libvulkan1)
have_lvp() { [ -f "$icd" ] && [ -f "$lvp/libvulkan_lvp.so" ]; }
have_lvp || missing+=(lavapipe)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  cat >&2 <<MSG
Missing for the tests: ${missing[*]}
Install on Debian/Ubuntu (as root): apt-get install chromium libvulkan1 mesa-vulkan-drivers
(Mesa >= 23 is needed for lavapipe; on Debian 12 take mesa-vulkan-drivers from bookworm-backports)
then write $icd pointing at libvulkan_lvp.so, or run this script as root to do it all.
MSG
  exit 1
fi

echo "[deps] installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# lavapipe needs LLVM and a few X client libraries at run time, from the release itself.
lvp_runtime="libdrm2 libwayland-client0 libx11-xcb1 libxcb-dri3-0 libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 libzstd1 libexpat1"
apt-get install -y -qq --no-install-recommends chromium libvulkan1 $lvp_runtime >/dev/null

if ! have_lvp; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  pkgdir="$work/pkg"; mkdir -p "$pkgdir" "$work/lists/partial"
  if [ "$codename" = bookworm ]; then
    # Reuse the machine's own archive URIs (never a hard-coded host) with the backports suite.
    uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
    [ -n "$uri" ] || { echo "[deps] no Debian archive URI found in the apt sources" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$work/bp.sources"
    aopt=(-o Dir::Etc::SourceList="$work/bp.sources" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists")
    apt-get "${aopt[@]}" update -qq
    # The backports Mesa links against this LLVM; install it from the release.
    llvm=$(apt-cache "${aopt[@]}" depends mesa-vulkan-drivers 2>/dev/null | awk '/Depends: libllvm[0-9]+/{print $2; exit}')
    [ -n "$llvm" ] && apt-get install -y -qq --no-install-recommends "$llvm" >/dev/null
    (cd "$pkgdir" && apt-get "${aopt[@]}" download mesa-vulkan-drivers >/dev/null)
  else
    (cd "$pkgdir" && apt-get download mesa-vulkan-drivers >/dev/null)
    apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers >/dev/null || true
  fi
  dpkg -x "$pkgdir"/mesa-vulkan-drivers_*.deb "$work/x"
  so=$(find "$work/x" -name libvulkan_lvp.so | head -n1)
  [ -n "$so" ] || { echo "[deps] libvulkan_lvp.so not found in mesa-vulkan-drivers" >&2; exit 1; }
  mkdir -p "$lvp"
  cp "$so" "$lvp/libvulkan_lvp.so"
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.4.305"}}\n' "$lvp/libvulkan_lvp.so" > "$icd"
  missing_libs=$(ldd "$lvp/libvulkan_lvp.so" | grep 'not found' || true)
  [ -z "$missing_libs" ] || { echo "[deps] lavapipe still lacks: $missing_libs" >&2; exit 1; }
fi
echo "[deps] ready: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), lavapipe at $lvp" >&2
