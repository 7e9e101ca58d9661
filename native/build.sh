#!/usr/bin/env bash
# Builds the lmpipe native kernels: native/build/Release/lmpipe_native.node
# (C++17, Node-API via node-addon-api, linked against OpenBLAS). Needs g++,
# make, python3 (node-gyp) and the OpenBLAS headers/library; optionally the
# oneDNN headers for the bf16 matmul path (native/src/gemm_bf16.cc compiles
# it when <oneapi/dnnl/dnnl.h> exists; the library is loaded at run time,
# never linked, so the addon loads without it):
#   apt-get install g++ make python3 libopenblas-dev libdnnl-dev
# Node's headers are taken from the running node's install prefix
# (e.g. /usr/include/node), so nothing is downloaded; LMPIPE_NODEDIR overrides.
set -euo pipefail
cd "$(dirname "$0")"
nodedir="${LMPIPE_NODEDIR:-$(node -p "require('path').resolve(process.execPath, '..', '..')")}"
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "build:native: no Node headers at $nodedir/include/node (install the Node.js headers, e.g. the nodejs-dev package, or set LMPIPE_NODEDIR to a Node install prefix)" >&2
  exit 1
fi
if ! printf '#include <cblas.h>\n' | g++ -E -x c++ - >/dev/null 2>&1; then
  echo "build:native: cblas.h not found; install OpenBLAS: apt-get install libopenblas-dev" >&2
  exit 1
fi
if ! printf '#include <oneapi/dnnl/dnnl.h>\n' | g++ -E -x c++ - >/dev/null 2>&1; then
  echo "build:native: oneDNN headers not found: building without the bf16 matmul path (apt-get install libdnnl-dev to have it)" >&2
fi
gyp="$(node -p "require.resolve('node-gyp/bin/node-gyp.js')")"
exec node "$gyp" rebuild --nodedir="$nodedir" --jobs "$(nproc 2>/dev/null || echo 2)"
