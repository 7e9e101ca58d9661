/**
 * Cross-entropy over the vocabulary as WGSL kernels. Forward: one workgroup
 * per row reads the logits once, keeping a running (max, scaled sum) per
 * thread that a tree reduction merges into the row's log-sum-exp; it writes
 * the row loss lse − x[target] and the lse (saved for the backward pass).
 * Backward: one elementwise pass, dlogits = (exp(x − lse) − onehot)·dy/n.
 * An out-of-range target gives a NaN row loss (the trainer rejects such
 * batches before they reach the model).
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { ENTRY_ARGS_WGSL, bindingsWgsl, reductionWorkgroupSize, runWgsl, webgpuDevice } from './dispatch.ts';
import type { WgslProgram } from './dispatch.ts';

// 128 fits every device, compatibility mode included.
const ELEMENTWISE_WG = 128;

function forwardProgram(wg: number): WgslProgram {
  return {
    label: `lmpipe_cross_entropy_forward_${wg}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'loss', type: 'f32' }, { name: 'lse', type: 'f32' }], [{ name: 'logits', type: 'f32' }, { name: 'targets', type: 'i32' }], [['vocab', 'u32']])}
var<workgroup> redM: array<f32, ${wg}>;
var<workgroup> redS: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(${ENTRY_ARGS_WGSL}) {
  let row = workgroupIndex(wid, nwg);
  if (row >= params.groups) { return; }
  let V = params.vocab;
  let base = row * V;
  var m = -3.0e38;
  var s = 0.0;
  for (var c = lid; c < V; c = c + ${wg}u) {
    let v = logits[base + c];
    if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else { s = s + exp(v - m); }
  }
  redM[lid] = m;
  redS[lid] = s;
  workgroupBarrier();
  for (var stride = ${wg / 2}u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let m1 = redM[lid];
      let m2 = redM[lid + stride];
      let mm = max(m1, m2);
      redS[lid] = redS[lid] * exp(m1 - mm) + redS[lid + stride] * exp(m2 - mm);
      redM[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let l = redM[0] + log(redS[0]);
    lse[row] = l;
    let t = targets[row];
    // A NaN built at run time (a constant NaN is rejected by WGSL).
    var picked = bitcast<f32>(0x7fc00000u | (V & 0u));
    if (t >= 0 && u32(t) < V) { picked = logits[base + u32(t)]; }
    loss[row] = l - picked;
  }
}`,
  };
}

const backwardProgram: WgslProgram = {
  label: 'lmpipe_cross_entropy_backward',
  code: /* wgsl */ `
${bindingsWgsl([{ name: 'dlogits', type: 'f32' }], [{ name: 'logits', type: 'f32' }, { name: 'lse', type: 'f32' }, { name: 'targets', type: 'i32' }, { name: 'dy', type: 'f32' }], [['total', 'u32'], ['vocab', 'u32'], ['invN', 'f32']])}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${ENTRY_ARGS_WGSL}) {
  let g = workgroupIndex(wid, nwg);
  let i = g * ${ELEMENTWISE_WG}u + lid;
  if (g >= params.groups || i >= params.total) { return; }
  let row = i / params.vocab;
  let col = i - row * params.vocab;
  var p = exp(logits[i] - lse[row]);
  if (i32(col) == targets[row]) { p = p - 1.0; }
  dlogits[i] = p * dy[0] * params.invN;
}`,
};

/** Per-row losses and log-sum-exps of logits (n, V) against int32 targets (n). */
export function crossEntropyForward(logits: TensorInfo, targets: TensorInfo): { loss: TensorInfo; lse: TensorInfo } {
  const [n, V] = logits.shape;
  const wg = reductionWorkgroupSize(webgpuDevice(), V >= 2048 ? 256 : 64);
  const [loss, lse] = runWgsl(forwardProgram(wg), [logits, targets], [{ shape: [n], dtype: 'float32' }, { shape: [n], dtype: 'float32' }], [{ u: V }], n);
  return { loss, lse };
}

/** Gradient of mean(loss) scaled by the upstream scalar `dy`: (n, V). */
export function crossEntropyBackward(logits: TensorInfo, lse: TensorInfo, targets: TensorInfo, dy: TensorInfo): TensorInfo {
  const [n, V] = logits.shape;
  const total = n * V;
  const [dl] = runWgsl(backwardProgram, [logits, lse, targets, dy], [{ shape: [n, V], dtype: 'float32' }], [{ u: total }, { u: V }, { f: 1 / n }], Math.ceil(total / ELEMENTWISE_WG));
  return dl;
}
