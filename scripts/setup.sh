#!/usr/bin/env bash
# One-time setup after `npm ci`: the system packages of the native CPU
# backend (g++, make, OpenBLAS; oneDNN for its optional bf16 matmuls) when
# apt is available and we are root, then
# the native build. If the build cannot happen, lmpipe still works: training
# falls back to the (much slower) JavaScript cpu backend with a one-line warning.
# `--torch` also installs PyTorch (Debian's python3-torch, about 600 MB with its
# libraries) for the PyTorch bridge (scripts/torch/) and its test; the demo
# does not need it.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--torch" ] && ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing python3-torch (apt)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >/dev/null) \
      || echo "[setup] apt-get install python3-torch failed; the PyTorch bridge test will be skipped" >&2
  else
    echo "[setup] PyTorch missing; as root run: apt-get install python3-torch (or pip install torch)" >&2
  fi
fi

have_blas() { printf '#include <cblas.h>\n' | g++ -E -x c++ - >/dev/null 2>&1; }
have_dnnl() { printf '#include <oneapi/dnnl/dnnl.h>\n' | g++ -E -x c++ - >/dev/null 2>&1; }
if ! have_blas || ! command -v make >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing g++ make libopenblas-dev (apt)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ make python3 libopenblas-dev >/dev/null) \
      || echo "[setup] apt-get failed; continuing without the native backend" >&2
  else
    echo "[setup] OpenBLAS headers or make missing; as root run: apt-get install g++ make libopenblas-dev libdnnl-dev (continuing without the native backend)" >&2
  fi
fi
# Optional, installed on its own so that its absence never costs the native
# backend: oneDNN gives it bf16 matmuls (native/src/gemm_bf16.cc).
if have_blas && ! have_dnnl; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing libdnnl-dev (apt; the native backend's bf16 matmuls)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libdnnl-dev >/dev/null) \
      || echo "[setup] apt-get install libdnnl-dev failed; the native backend will have fp32 matmuls only" >&2
  fi
fi
if bash native/build.sh >/tmp/lmpipe-native-build.log 2>&1; then
  echo "[setup] native backend built (native/build/Release/lmpipe_native.node)" >&2
else
  echo "[setup] native backend build failed (log: /tmp/lmpipe-native-build.log); training will use the JS cpu backend" >&2
  tail -5 /tmp/lmpipe-native-build.log >&2
fi
exit 0
