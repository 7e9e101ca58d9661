#!/usr/bin/env bash
# Packs what scripts/device/run-h200.sh needs on a GPU machine that has no
# Node, no npm registry and maybe no Vulkan loader, into ONE file under 64 MiB:
#   out/device-pack/lmpipe-device.tar.xz
#     lmpipe/node                     Node 22 (npm package node@22.23.3), stripped
#     lmpipe/entry-*.mjs              esbuild bundles: WebGPU tests, train-step and op benches
#                                     (tfjs + tfjs-backend-webgpu inside; one tfjs-core)
#     lmpipe/node_modules/webgpu/     Dawn's dawn.node for linux-x64 (loaded at run time)
#     lmpipe/libvulkan1_*.deb         the Vulkan loader, unpacked only if the machine lacks one
#
# Usage: scripts/device/pack.sh [OUTDIR]   (default out/device-pack; out/ is git-ignored)
# Then, in a session with a device: run(command="bash scripts/device/run-h200.sh",
# carry=["out/device-pack"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTDIR="${1:-out/device-pack}"
NODE22="${LMPIPE_NODE22:-.ci/tools/node_modules/node/bin/node}"
LIMIT=$((60 * 1024 * 1024))

for f in node_modules/.bin/esbuild node_modules/webgpu/dist/linux-x64/dawn.node node_modules/@tensorflow/tfjs-backend-webgpu/package.json; do
  [ -e "$f" ] || { echo "pack: $f is missing; run npm ci (and npm install webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0)" >&2; exit 2; }
done
if [ ! -x "$NODE22" ]; then
  echo "pack: no Node 22 binary at $NODE22; run .ci/run once (it installs node@22.23.3 under .ci/tools) or set LMPIPE_NODE22" >&2
  exit 2
fi

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
P="$STAGE/lmpipe"
mkdir -p "$P/node_modules/webgpu/dist/linux-x64"

echo "pack: bundling (esbuild)" >&2
node_modules/.bin/esbuild scripts/device/entry-tests.ts scripts/device/entry-train-bench.ts scripts/device/entry-ops-bench.ts \
  --bundle --platform=node --format=esm --target=node22 --outdir="$P" --out-extension:.js=.mjs \
  --external:webgpu --log-level=warning \
  --banner:js="import { createRequire as __lmpipeCreateRequire } from 'node:module'; const require = __lmpipeCreateRequire(import.meta.url);"

cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$P/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$P/node_modules/webgpu/dist/linux-x64/"
cp "$NODE22" "$P/node"
strip "$P/node" 2>/dev/null || echo "pack: strip failed; the node binary stays unstripped" >&2
"$P/node" --version >/dev/null

if command -v apt-get >/dev/null; then
  # Debian's loader (amd64); a download only, nothing is installed here.
  (cd "$P" && apt-get download libvulkan1:amd64 >/dev/null 2>&1) || echo "pack: could not download libvulkan1 (the device must then have a Vulkan loader)" >&2
fi

mkdir -p "$OUTDIR"
echo "pack: compressing" >&2
tar -C "$STAGE" -cf - lmpipe | xz -T0 -6 > "$OUTDIR/lmpipe-device.tar.xz.tmp"
mv "$OUTDIR/lmpipe-device.tar.xz.tmp" "$OUTDIR/lmpipe-device.tar.xz"
SIZE=$(stat -c %s "$OUTDIR/lmpipe-device.tar.xz")
echo "pack: $OUTDIR/lmpipe-device.tar.xz: $((SIZE / 1024 / 1024)) MiB ($(cd "$STAGE" && du -sm lmpipe | cut -f1) MiB unpacked)" >&2
if [ "$SIZE" -gt "$LIMIT" ]; then
  echo "pack: larger than 60 MiB; the device tool carries at most 64 MiB with the working tree" >&2
  exit 1
fi
