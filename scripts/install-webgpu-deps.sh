#!/usr/bin/env bash
# Installs a WebGPU-capable software GPU so the webgpu backend's tests run on
# machines without a GPU (CI): Mesa's lavapipe (Vulkan on the CPU) and the
# Vulkan loader. Dawn (npm `webgpu`) rejects Debian 12's lavapipe (Mesa 22.3)
# but accepts Mesa >= 24; on Debian 12 that comes from bookworm-backports,
# whose apt source is derived from the machine's own Debian entries (same
# mirror, suite + "-backports"). Newer Debian/Ubuntu releases get it from
# their own suites. If Vulkan cannot be installed, the EGL/GLES packages are
# installed instead: lmpipe then falls back to Dawn's OpenGL ES backend on
# Mesa's llvmpipe (slower, compatibility mode).
#
# Idempotent; needs root (or sudo) and apt. Usage: scripts/install-webgpu-deps.sh
set -euo pipefail

log() { echo "[install-webgpu-deps] $*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else log "needs root (or sudo) for apt-get"; exit 1; fi
fi
if ! command -v apt-get >/dev/null; then
  log "apt-get not found: install Mesa >= 24 with lavapipe (mesa-vulkan-drivers) and libvulkan1 by other means"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^[0-9]+://; s/^([0-9]+).*/\1/'; }
if [ -n "$(mesa_version)" ] && [ "$(mesa_version)" -ge 24 ] && ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  log "lavapipe from Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) and the Vulkan loader are installed"
  exit 0
fi

# shellcheck disable=SC1091
. /etc/os-release
CODENAME="${VERSION_CODENAME:-}"
TARGET=()
if [ "${ID:-}" = debian ] && [ "$CODENAME" = bookworm ]; then
  SRC=/etc/apt/sources.list.d/lmpipe-bookworm-backports.list
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # The mirror that serves the machine's bookworm main suite (deb822 or one-line format).
    URI=$(grep -hs -A3 -E '^Types:.*deb' /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk '/^URIs:/{u=$2} /^Suites:/{ for (i = 2; i <= NF; i++) if ($i == "bookworm" && u != "" && u !~ /security/) { print u; exit } }')
    if [ -z "$URI" ]; then
      URI=$(grep -hsE '^deb +(\[[^]]*\] +)?[a-z]+://[^ ]+ +bookworm +' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -v security | sed -E 's/^deb +(\[[^]]*\] +)?([^ ]+).*/\2/' | head -1)
    fi
    if [ -z "$URI" ]; then
      log "could not find the Debian mirror of bookworm in /etc/apt; add bookworm-backports yourself"
      exit 1
    fi
    log "adding bookworm-backports from $URI"
    echo "deb $URI bookworm-backports main" | $SUDO tee "$SRC" >/dev/null
  fi
  TARGET=(-t bookworm-backports)
fi

$SUDO apt-get update -qq
if $SUDO apt-get install -y -qq --no-install-recommends "${TARGET[@]}" mesa-vulkan-drivers libvulkan1 >/dev/null; then
  log "installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) and libvulkan1"
  if [ "$(mesa_version)" -lt 24 ]; then
    log "warning: Mesa $(mesa_version) is older than 24; Dawn may reject lavapipe (lmpipe then tries OpenGL ES)"
  fi
else
  log "Vulkan packages failed to install; installing EGL/GLES for Dawn's OpenGL ES backend instead"
  $SUDO apt-get install -y -qq --no-install-recommends libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri >/dev/null
fi
