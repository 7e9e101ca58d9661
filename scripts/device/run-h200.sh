#!/usr/bin/env bash
# Runs lmpipe's WebGPU backend on a GPU machine (the device tool's NVIDIA
# H200) from the pack that scripts/device/pack.sh makes, in one call:
#   1. correctness: the WebGPU op tests (fused WGSL kernels vs plain ops on the
#      cpu backend) and the training tests (20 steps == cpu within 1e-4, KV-cache
#      generation, the whole training loop) — CI=true, so nothing may skip;
#   2. op benchmark (fused vs tfjs generic kernels) at config S and TinyStories shapes;
#   3. training throughput, tokens/s, of config S and the CS336 TinyStories
#      config (batch 16), fused and plain, with MFU against the H200's dense
#      fp32 peak (67 TFLOP/s, NVIDIA datasheet; see /work/.library/device/H200.md).
# Results (at most 8 files) go to $OUT on the device, else out/device-results.
#
# Usage: run-h200.sh [--rehearsal] [--carried-vulkan] [--peak-tflops N] [PACKDIR]
#   --rehearsal       software adapter allowed, tiny configs: proves the pack and the script work here
#   --carried-vulkan  use the carried Vulkan loader even if the machine has one (to rehearse that path)
#   --peak-tflops N   the fp32 peak MFU is reported against (default 67, the H200's)
#   PACKDIR           where pack.sh put lmpipe-device.tar.xz (default out/device-pack)
#
# Device session:  run(command="bash scripts/device/run-h200.sh", carry=["out/device-pack"], timeout_s=540)
# Rehearsal here:  bash scripts/device/run-h200.sh --rehearsal
set -uo pipefail
cd "$(dirname "$0")/../.."
REHEARSAL=0
CARRIED_VULKAN=0
PEAK_TFLOPS=67
PACKDIR=out/device-pack
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearsal) REHEARSAL=1 ;;
    --carried-vulkan) CARRIED_VULKAN=1 ;;
    --peak-tflops) PEAK_TFLOPS="${2:?--peak-tflops needs a number}"; shift ;;
    -*) echo "run-h200: unknown option $1" >&2; exit 2 ;;
    *) PACKDIR="$1" ;;
  esac
  shift
done
PACK="$PACKDIR/lmpipe-device.tar.xz"
RESULTS="${OUT:-$PWD/out/device-results}"
mkdir -p "$RESULTS"
LOG="$RESULTS/run.log"
: > "$LOG"
say() { echo "[run-h200] $*" | tee -a "$LOG" >&2; }

[ -f "$PACK" ] || { say "missing $PACK: run scripts/device/pack.sh first and carry out/device-pack"; exit 2; }
WORK="$(mktemp -d /tmp/lmpipe-device.XXXXXX)"
# tar needs the xz binary; python3's tarfile (always on the CUDA image) is the fallback.
tar -C "$WORK" -xJf "$PACK" 2>/dev/null || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$PACK" "$WORK" \
  || { say "could not unpack $PACK"; exit 2; }
chmod +x "$WORK/lmpipe/node"
L="$WORK/lmpipe"
NODE="$L/node"

# Vulkan loader: the machine's, else the carried Debian one (unpacked privately, not into /).
# --carried-vulkan uses the carried one anyway (to rehearse that path).
if [ "$CARRIED_VULKAN" = 1 ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  deb=$(ls "$L"/libvulkan1_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then
    mkdir -p "$WORK/vk"
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$WORK/vk"
    else (cd "$WORK/vk" && ar x "$deb" && tar -xf data.tar.*); fi
    export LD_LIBRARY_PATH="$WORK/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "using the carried Vulkan loader ($(basename "$deb"))"
  else
    say "no Vulkan loader on the machine and none carried"
  fi
fi
# NVIDIA's Vulkan driver (ICD); its libraries may live outside the default search path.
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ "$REHEARSAL" != 1 ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$ICD" ]; then
  export VK_DRIVER_FILES="$ICD" VK_ICD_FILENAMES="$ICD"
fi
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
if [ "$REHEARSAL" = 1 ]; then
  export LMPIPE_WEBGPU_ALLOW_SOFTWARE=1
  TRAIN_CONFIGS=tiny; OP_SHAPES=tiny; STEPS=2; WARMUP=1
else
  export LMPIPE_WEBGPU_ALLOW_SOFTWARE=0
  TRAIN_CONFIGS=S,tinystories; OP_SHAPES="S tinystories"; STEPS=5; WARMUP=2
fi

{
  echo "date: $(date -u +%FT%TZ)"; echo "uname: $(uname -srm)"; echo "node: $("$NODE" --version)"
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
} > "$RESULTS/env.txt" 2>&1
say "env: $(tr '\n' ' ' < "$RESULTS/env.txt")"

status=0
say "1/3 correctness tests"
(cd "$L" && CI=true timeout 240 "$NODE" --test entry-tests.mjs) > "$RESULTS/tests.log" 2>&1 || { status=1; say "tests FAILED (see tests.log)"; }
grep -E '^# (pass|fail)' "$RESULTS/tests.log" | tee -a "$LOG" >&2

say "2/3 op benchmark"
for s in $OP_SHAPES; do
  (cd "$L" && timeout 150 "$NODE" entry-ops-bench.mjs --shape "$s" --reps 10) > "$RESULTS/ops-$s.json" 2>> "$LOG" || { status=1; say "op bench $s FAILED"; }
done

say "3/3 training throughput"
(cd "$L" && timeout 300 "$NODE" entry-train-bench.mjs --configs "$TRAIN_CONFIGS" --steps "$STEPS" --warmup "$WARMUP" --peak-tflops "$PEAK_TFLOPS") > "$RESULTS/train-step.json" 2>> "$LOG" || { status=1; say "train bench FAILED"; }

# One-screen summary from the JSON (the carried node reads it).
"$NODE" -e '
const fs = require("fs");
const [dir, peak] = process.argv.slice(1);
const read = (f) => { try { return JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8").trim().split("\n").pop()); } catch { return null; } };
const t = read("train-step.json");
if (t) {
  console.log(`adapter: ${[t.adapter.vendor, t.adapter.architecture, t.adapter.device, t.adapter.description].filter(Boolean).join(" / ")}${t.adapter.software ? " (SOFTWARE)" : ""}`);
  for (const [name, c] of Object.entries(t.configs)) for (const r of c.runs)
    console.log(`${name.padEnd(12)} ${r.variant.padEnd(14)} ${r.tokens_per_s.toFixed(0).padStart(9)} tokens/s  ${(r.step_s * 1e3).toFixed(1).padStart(8)} ms/step  ${r.model_tflops.toFixed(2).padStart(7)} TFLOP/s  ${(100 * r.mfu).toFixed(2)}% of ${peak} TFLOP/s fp32`);
  if (t.webgpu_errors.length) console.log(`WebGPU errors: ${t.webgpu_errors.length}`);
}
for (const f of fs.readdirSync(dir).filter((f) => f.startsWith("ops-"))) {
  const o = read(f);
  if (o) for (const r of o.ops) console.log(`${o.shape.name.padEnd(12)} ${r.op.padEnd(20)} plain ${r.plain_ms.toFixed(2)} ms  fused ${r.fused_ms.toFixed(2)} ms  (${r.speedup.toFixed(2)}x)`);
}' "$RESULTS" "$PEAK_TFLOPS" | tee "$RESULTS/summary.txt" | tee -a "$LOG" >&2

rm -rf "$WORK"
say "done (status $status); results in $RESULTS"
exit $status
