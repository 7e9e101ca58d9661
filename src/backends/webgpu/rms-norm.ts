/**
 * RMSNorm as WGSL kernels: the forward pass (one workgroup per row: sum of
 * squares by tree reduction, then the scaled row and its 1/rms saved for the
 * backward pass), the input gradient (one workgroup per row) and the weight
 * gradient (column sums over blocks of rows, then over the blocks).
 *
 *   y = x·r·w,  r = 1/sqrt(mean(x²) + eps)
 *   dx = r·(w⊙dy − x·r²·Σ(dy⊙w⊙x)/d),  dw = Σ_rows dy⊙x·r
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { ENTRY_ARGS_WGSL, bindingsWgsl, disposeInfo, reductionWorkgroupSize, runWgsl, webgpuDevice } from './dispatch.ts';
import type { WgslProgram } from './dispatch.ts';

/** Rows per block of the weight-gradient partial sums. */
const DW_ROWS = 64;

function rowReduction(wg: number): string {
  return /* wgsl */ `
  workgroupBarrier();
  for (var stride = ${wg / 2}u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { red[lid] = red[lid] + red[lid + stride]; }
    workgroupBarrier();
  }`;
}

function forwardProgram(wg: number): WgslProgram {
  return {
    label: `lmpipe_rmsnorm_forward_${wg}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'y', type: 'f32' }, { name: 'inv', type: 'f32' }], [{ name: 'x', type: 'f32' }, { name: 'w', type: 'f32' }], [['d', 'u32'], ['eps', 'f32']])}
var<workgroup> red: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(${ENTRY_ARGS_WGSL}) {
  let row = workgroupIndex(wid, nwg);
  if (row >= params.groups) { return; }
  let d = params.d;
  let base = row * d;
  var ss = 0.0;
  for (var c = lid; c < d; c = c + ${wg}u) { let v = x[base + c]; ss = ss + v * v; }
  red[lid] = ss;
  ${rowReduction(wg)}
  let r = 1.0 / sqrt(red[0] / f32(d) + params.eps);
  for (var c = lid; c < d; c = c + ${wg}u) { y[base + c] = x[base + c] * r * w[c]; }
  if (lid == 0u) { inv[row] = r; }
}`,
  };
}

function backwardDxProgram(wg: number): WgslProgram {
  return {
    label: `lmpipe_rmsnorm_backward_dx_${wg}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'dx', type: 'f32' }], [{ name: 'x', type: 'f32' }, { name: 'w', type: 'f32' }, { name: 'inv', type: 'f32' }, { name: 'dy', type: 'f32' }], [['d', 'u32']])}
var<workgroup> red: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(${ENTRY_ARGS_WGSL}) {
  let row = workgroupIndex(wid, nwg);
  if (row >= params.groups) { return; }
  let d = params.d;
  let base = row * d;
  var acc = 0.0;
  for (var c = lid; c < d; c = c + ${wg}u) { acc = acc + dy[base + c] * w[c] * x[base + c]; }
  red[lid] = acc;
  ${rowReduction(wg)}
  let r = inv[row];
  let k = r * r * red[0] / f32(d);
  for (var c = lid; c < d; c = c + ${wg}u) { dx[base + c] = r * (w[c] * dy[base + c] - x[base + c] * k); }
}`,
  };
}

function backwardDwPartialProgram(wg: number): WgslProgram {
  return {
    label: `lmpipe_rmsnorm_backward_dw_partial_${wg}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'part', type: 'f32' }], [{ name: 'x', type: 'f32' }, { name: 'inv', type: 'f32' }, { name: 'dy', type: 'f32' }], [['rows', 'u32'], ['d', 'u32'], ['colBlocks', 'u32']])}
@compute @workgroup_size(${wg})
fn main(${ENTRY_ARGS_WGSL}) {
  let g = workgroupIndex(wid, nwg);
  if (g >= params.groups) { return; }
  let block = g / params.colBlocks;
  let col = (g - block * params.colBlocks) * ${wg}u + lid;
  if (col >= params.d) { return; }
  let r0 = block * ${DW_ROWS}u;
  let r1 = min(params.rows, r0 + ${DW_ROWS}u);
  var acc = 0.0;
  for (var r = r0; r < r1; r = r + 1u) { acc = acc + dy[r * params.d + col] * x[r * params.d + col] * inv[r]; }
  part[block * params.d + col] = acc;
}`,
  };
}

function columnSumProgram(wg: number): WgslProgram {
  return {
    label: `lmpipe_column_sum_${wg}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'result', type: 'f32' }], [{ name: 'part', type: 'f32' }], [['blocks', 'u32'], ['d', 'u32']])}
@compute @workgroup_size(${wg})
fn main(${ENTRY_ARGS_WGSL}) {
  let g = workgroupIndex(wid, nwg);
  if (g >= params.groups) { return; }
  let col = g * ${wg}u + lid;
  if (col >= params.d) { return; }
  var acc = 0.0;
  for (var b = 0u; b < params.blocks; b = b + 1u) { acc = acc + part[b * params.d + col]; }
  result[col] = acc;
}`,
  };
}

/** y (same shape as x) and 1/rms per row (rows = x.size / d). */
export function rmsNormForward(x: TensorInfo, w: TensorInfo, eps: number): { y: TensorInfo; inv: TensorInfo } {
  const d = x.shape[x.shape.length - 1];
  const rows = x.shape.reduce((a, b) => a * b, 1) / d;
  const wg = reductionWorkgroupSize(webgpuDevice(), d >= 512 ? 128 : 64);
  const [y, inv] = runWgsl(forwardProgram(wg), [x, w], [{ shape: x.shape.slice(), dtype: 'float32' }, { shape: [rows], dtype: 'float32' }], [{ u: d }, { f: eps }], rows);
  return { y, inv };
}

/** dx (shape of x) and dw (d,) from the saved 1/rms. */
export function rmsNormBackward(x: TensorInfo, w: TensorInfo, inv: TensorInfo, dy: TensorInfo): { dx: TensorInfo; dw: TensorInfo } {
  const d = x.shape[x.shape.length - 1];
  const rows = x.shape.reduce((a, b) => a * b, 1) / d;
  const device = webgpuDevice();
  const wg = reductionWorkgroupSize(device, d >= 512 ? 128 : 64);
  const [dx] = runWgsl(backwardDxProgram(wg), [x, w, inv, dy], [{ shape: x.shape.slice(), dtype: 'float32' }], [{ u: d }], rows);
  const cw = reductionWorkgroupSize(device, 64);
  const colBlocks = Math.ceil(d / cw);
  const blocks = Math.ceil(rows / DW_ROWS);
  const [part] = runWgsl(backwardDwPartialProgram(cw), [x, inv, dy], [{ shape: [blocks, d], dtype: 'float32' }], [{ u: rows }, { u: d }, { u: colBlocks }], blocks * colBlocks);
  const [dw] = runWgsl(columnSumProgram(cw), [part], [{ shape: [d], dtype: 'float32' }], [{ u: blocks }, { u: d }], colBlocks);
  disposeInfo(part);
  return { dx, dw };
}
