/**
 * Scaled dot-product attention as WGSL kernels in the FlashAttention manner:
 * the (Tq, Tk) score matrix never exists in memory.
 *
 * - Forward: one thread per query row, a workgroup per block of queries of
 *   one (batch·head); key/value tiles are staged in workgroup memory and
 *   each thread keeps an online softmax (running max, sum and weighted
 *   value sum). Writes the output and the row log-sum-exp L.
 * - dQ: the same layout; p = exp(s − L), dS = p·(dO·v − Δ) with
 *   Δ = rowsum(dO ⊙ O) (also written out for the next kernel).
 * - dK, dV: one thread per key row, query tiles staged in workgroup memory.
 *
 * Causal masking follows `ops.attention`: query i sees keys 0..offset+i.
 * Tiles are sized from the device's workgroup-memory limit; the kernels are
 * specialized per head dimension (private row arrays of constant length).
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { ENTRY_ARGS_WGSL, bindingsWgsl, disposeInfo, floorPow2, runWgsl, webgpuDevice } from './dispatch.ts';
import type { GpuDeviceLike, UniformValue, WgslProgram } from './dispatch.ts';

/** Largest head dimension the kernels take (larger ones use the plain ops). */
export const MAX_FUSED_HEAD_DIM = 64;

/** Threads (query or key rows) per workgroup. */
const ROWS = 64;

interface Tiling {
  /** Key rows per staged tile (forward, dQ). */
  keyTile: number;
  /** Query rows per staged tile (dK/dV). */
  queryTile: number;
  /** Threads per workgroup. */
  rows: number;
}

/** Tile sizes that fit the device's workgroup memory for head dimension d. */
export function attentionTiling(device: GpuDeviceLike, d: number): Tiling {
  const bytes = device.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const threads = Math.min(ROWS, floorPow2(device.limits.maxComputeInvocationsPerWorkgroup ?? 128));
  return {
    keyTile: Math.min(64, floorPow2(bytes / (2 * d * 4))),
    queryTile: Math.min(64, floorPow2(bytes / (2 * d * 4 + 2 * 4))),
    rows: threads,
  };
}

const PARAMS: [string, 'u32' | 'f32'][] = [['tq', 'u32'], ['tk', 'u32'], ['causal', 'u32'], ['offset', 'u32'], ['scale', 'f32'], ['blocks', 'u32']];

/** Shared prologue of the query-row kernels: block/row indices, the key range. */
function queryRowPrologue(rows: number): string {
  return /* wgsl */ `
  let g = workgroupIndex(wid, nwg);
  if (g >= params.groups) { return; }
  let bh = g / params.blocks;
  let qb = g - bh * params.blocks;
  let i = qb * ${rows}u + lid;
  let valid = i < params.tq;
  let iq = min(i, params.tq - 1u);
  let row = bh * params.tq + iq;
  var kEnd = params.tk;
  if (params.causal != 0u) { kEnd = min(params.tk, params.offset + min(qb * ${rows}u + ${rows}u, params.tq)); }
  let lim = params.offset + iq + 1u;
  let kvBase = bh * params.tk * D;`;
}

/** Stages keys and values [t0, t0+n) of this head in workgroup memory. */
function stageKV(rows: number): string {
  return /* wgsl */ `
    let n = min(BK, kEnd - t0);
    for (var e = lid; e < n * D; e = e + ${rows}u) {
      ks[e] = k[kvBase + t0 * D + e];
      vs[e] = v[kvBase + t0 * D + e];
    }
    workgroupBarrier();
    var jEnd = n;
    if (params.causal != 0u) { jEnd = select(0u, min(n, lim - t0), lim > t0); }`;
}

function forwardProgram(d: number, t: Tiling): WgslProgram {
  return {
    label: `lmpipe_attention_forward_d${d}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'o', type: 'f32' }, { name: 'lse', type: 'f32' }], [{ name: 'q', type: 'f32' }, { name: 'k', type: 'f32' }, { name: 'v', type: 'f32' }], PARAMS)}
const D = ${d}u;
const BK = ${t.keyTile}u;
var<workgroup> ks: array<f32, ${t.keyTile * d}>;
var<workgroup> vs: array<f32, ${t.keyTile * d}>;
@compute @workgroup_size(${t.rows})
fn main(${ENTRY_ARGS_WGSL}) {
  ${queryRowPrologue(t.rows)}
  var qr: array<f32, ${d}>;
  var acc: array<f32, ${d}>;
  for (var c = 0u; c < D; c = c + 1u) { qr[c] = q[row * D + c] * params.scale; acc[c] = 0.0; }
  var m = -3.0e38;
  var l = 0.0;
  for (var t0 = 0u; t0 < kEnd; t0 = t0 + BK) {
    ${stageKV(t.rows)}
    for (var j = 0u; j < jEnd; j = j + 1u) {
      var s = 0.0;
      for (var c = 0u; c < D; c = c + 1u) { s = s + qr[c] * ks[j * D + c]; }
      if (s > m) {
        let corr = exp(m - s);
        l = l * corr;
        for (var c = 0u; c < D; c = c + 1u) { acc[c] = acc[c] * corr; }
        m = s;
      }
      let p = exp(s - m);
      l = l + p;
      for (var c = 0u; c < D; c = c + 1u) { acc[c] = acc[c] + p * vs[j * D + c]; }
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = 1.0 / l;
    for (var c = 0u; c < D; c = c + 1u) { o[row * D + c] = acc[c] * inv; }
    lse[row] = m + log(l);
  }
}`,
  };
}

function backwardDqProgram(d: number, t: Tiling): WgslProgram {
  return {
    label: `lmpipe_attention_backward_dq_d${d}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'dq', type: 'f32' }, { name: 'delta', type: 'f32' }], [{ name: 'q', type: 'f32' }, { name: 'k', type: 'f32' }, { name: 'v', type: 'f32' }, { name: 'o', type: 'f32' }, { name: 'lse', type: 'f32' }, { name: 'dout', type: 'f32' }], PARAMS)}
const D = ${d}u;
const BK = ${t.keyTile}u;
var<workgroup> ks: array<f32, ${t.keyTile * d}>;
var<workgroup> vs: array<f32, ${t.keyTile * d}>;
@compute @workgroup_size(${t.rows})
fn main(${ENTRY_ARGS_WGSL}) {
  ${queryRowPrologue(t.rows)}
  var qr: array<f32, ${d}>;
  var dor: array<f32, ${d}>;
  var acc: array<f32, ${d}>;
  var di = 0.0;
  for (var c = 0u; c < D; c = c + 1u) {
    qr[c] = q[row * D + c] * params.scale;
    dor[c] = dout[row * D + c];
    di = di + dor[c] * o[row * D + c];
    acc[c] = 0.0;
  }
  let li = lse[row];
  for (var t0 = 0u; t0 < kEnd; t0 = t0 + BK) {
    ${stageKV(t.rows)}
    for (var j = 0u; j < jEnd; j = j + 1u) {
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < D; c = c + 1u) {
        s = s + qr[c] * ks[j * D + c];
        dp = dp + dor[c] * vs[j * D + c];
      }
      let ds = exp(s - li) * (dp - di);
      for (var c = 0u; c < D; c = c + 1u) { acc[c] = acc[c] + ds * ks[j * D + c]; }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var c = 0u; c < D; c = c + 1u) { dq[row * D + c] = acc[c] * params.scale; }
    delta[row] = di;
  }
}`,
  };
}

function backwardDkvProgram(d: number, t: Tiling): WgslProgram {
  const bq = t.queryTile;
  return {
    label: `lmpipe_attention_backward_dkv_d${d}`,
    code: /* wgsl */ `
${bindingsWgsl([{ name: 'dk', type: 'f32' }, { name: 'dv', type: 'f32' }], [{ name: 'q', type: 'f32' }, { name: 'k', type: 'f32' }, { name: 'v', type: 'f32' }, { name: 'dout', type: 'f32' }, { name: 'lse', type: 'f32' }, { name: 'delta', type: 'f32' }], PARAMS)}
const D = ${d}u;
const BQ = ${bq}u;
var<workgroup> qs: array<f32, ${bq * d}>;
var<workgroup> dos: array<f32, ${bq * d}>;
var<workgroup> ls: array<f32, ${bq}>;
var<workgroup> dls: array<f32, ${bq}>;
@compute @workgroup_size(${t.rows})
fn main(${ENTRY_ARGS_WGSL}) {
  let g = workgroupIndex(wid, nwg);
  if (g >= params.groups) { return; }
  let bh = g / params.blocks;
  let kb = g - bh * params.blocks;
  let j = kb * ${t.rows}u + lid;
  let valid = j < params.tk;
  let jk = min(j, params.tk - 1u);
  let krow = bh * params.tk + jk;
  var kr: array<f32, ${d}>;
  var vr: array<f32, ${d}>;
  var dka: array<f32, ${d}>;
  var dva: array<f32, ${d}>;
  for (var c = 0u; c < D; c = c + 1u) { kr[c] = k[krow * D + c]; vr[c] = v[krow * D + c]; dka[c] = 0.0; dva[c] = 0.0; }
  // Queries before iStart see none of this block's keys (causal).
  var iStart = 0u;
  let firstKey = kb * ${t.rows}u;
  if (params.causal != 0u && firstKey > params.offset) { iStart = firstKey - params.offset; }
  let qBase = bh * params.tq;
  for (var i0 = iStart; i0 < params.tq; i0 = i0 + BQ) {
    let n = min(BQ, params.tq - i0);
    for (var e = lid; e < n * D; e = e + ${t.rows}u) {
      qs[e] = q[(qBase + i0) * D + e] * params.scale;
      dos[e] = dout[(qBase + i0) * D + e];
    }
    for (var e = lid; e < n; e = e + ${t.rows}u) {
      ls[e] = lse[qBase + i0 + e];
      dls[e] = delta[qBase + i0 + e];
    }
    workgroupBarrier();
    // Query i sees key j when offset + i >= j.
    var iiStart = 0u;
    if (params.causal != 0u && jk > params.offset + i0) { iiStart = jk - params.offset - i0; }
    for (var ii = iiStart; ii < n; ii = ii + 1u) {
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < D; c = c + 1u) {
        s = s + qs[ii * D + c] * kr[c];
        dp = dp + dos[ii * D + c] * vr[c];
      }
      let p = exp(s - ls[ii]);
      let ds = p * (dp - dls[ii]);
      for (var c = 0u; c < D; c = c + 1u) {
        dva[c] = dva[c] + p * dos[ii * D + c];
        dka[c] = dka[c] + ds * qs[ii * D + c];
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var c = 0u; c < D; c = c + 1u) { dk[krow * D + c] = dka[c]; dv[krow * D + c] = dva[c]; }
  }
}`,
  };
}

/** Attention geometry: q (..., Tq, D), k and v (..., Tk, D) with equal leading dims. */
export interface AttentionShape {
  /** Product of the leading dims (batch·heads). */
  bh: number;
  tq: number;
  tk: number;
  d: number;
  causal: boolean;
  /** Causal offset (cached keys before the first query), >= 0. */
  offset: number;
}

function uniforms(s: AttentionShape, blocks: number): UniformValue[] {
  return [{ u: s.tq }, { u: s.tk }, { u: s.causal ? 1 : 0 }, { u: s.offset }, { f: 1 / Math.sqrt(s.d) }, { u: blocks }];
}

/** Output (shape of q) and row log-sum-exp (bh·Tq). */
export function attentionForward(q: TensorInfo, k: TensorInfo, v: TensorInfo, s: AttentionShape): { o: TensorInfo; lse: TensorInfo } {
  const t = attentionTiling(webgpuDevice(), s.d);
  const blocks = Math.ceil(s.tq / t.rows);
  const [o, lse] = runWgsl(forwardProgram(s.d, t), [q, k, v], [{ shape: q.shape.slice(), dtype: 'float32' }, { shape: [s.bh * s.tq], dtype: 'float32' }], uniforms(s, blocks), s.bh * blocks);
  return { o, lse };
}

/** Gradients with respect to q, k and v from the saved output and log-sum-exp. */
export function attentionBackward(q: TensorInfo, k: TensorInfo, v: TensorInfo, o: TensorInfo, lse: TensorInfo, dout: TensorInfo, s: AttentionShape): { dq: TensorInfo; dk: TensorInfo; dv: TensorInfo } {
  const t = attentionTiling(webgpuDevice(), s.d);
  const qBlocks = Math.ceil(s.tq / t.rows);
  const [dq, delta] = runWgsl(backwardDqProgram(s.d, t), [q, k, v, o, lse, dout], [{ shape: q.shape.slice(), dtype: 'float32' }, { shape: [s.bh * s.tq], dtype: 'float32' }], uniforms(s, qBlocks), s.bh * qBlocks);
  const kBlocks = Math.ceil(s.tk / t.rows);
  const [dk, dv] = runWgsl(backwardDkvProgram(s.d, t), [q, k, v, dout, lse, delta], [{ shape: k.shape.slice(), dtype: 'float32' }, { shape: v.shape.slice(), dtype: 'float32' }], uniforms(s, kBlocks), s.bh * kBlocks);
  disposeInfo(delta);
  return { dq, dk, dv };
}
