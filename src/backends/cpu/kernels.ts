/**
 * Replacement kernels for the pure-JS tfjs `cpu` backend where the stock
 * kernels are pathological for a Transformer:
 *
 * - UnsortedSegmentSum (the gradient of `gather`, i.e. of the embedding):
 *   stock loops once per segment over all rows (O(vocab · tokens · d));
 *   here one scatter-add pass.
 * - Add/Sub/Multiply/RealDiv with broadcasting: stock computes index
 *   coordinates per element with array allocations; here strided row loops.
 * - Transpose and Reverse: same per-element coordinate problem; here a
 *   strided copy.
 * - Sum/Mean over non-innermost axes: stock transposes first (slowly); here a
 *   direct (outer, reduced, inner) accumulation.
 * - GatherV2 (batchDims 0): stock per-element coordinates; here row copies.
 * - BatchMatMul: stock runs a generic strided triple loop (~0.3 GFLOP/s);
 *   here both operands are packed so the reduction axis is contiguous and a
 *   2×4 register-blocked dot-product kernel runs over them (~2 GFLOP/s on
 *   one core). This is plain JS; a native backend replaces it later.
 *
 * Every replacement handles float32 (and, where natural, int32) and defers to
 * the stock kernel for anything else, so semantics are unchanged. Sums
 * accumulate in float64 like the stock kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { broadcastShapes, collapseBroadcast, matMulDims, normAxis, sizeOf, stridesOf } from '../broadcast.ts';

type NumArray = Float32Array | Int32Array;

/** The parts of tfjs's MathBackendCPU these kernels use. */
interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: unknown): TensorInfo;
}

interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
}

function valuesOf(backend: CpuBackend, t: TensorInfo): NumArray | null {
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array || v instanceof Int32Array ? v : null;
}

/**
 * Copies `src` into `dst` (row-major over `shape`) reading element
 * (i0, i1, …) at `start + Σ ik·srcStrides[k]`. Adjacent dimensions that are
 * contiguous in the source are merged first so the inner loop is long.
 */
export function stridedCopy(src: NumArray, start: number, shape: readonly number[], srcStrides: readonly number[], dst: NumArray): void {
  const dims: number[] = [];
  const str: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && str[k] === srcStrides[i] * shape[i]) {
      dims[k] *= shape[i];
      str[k] = srcStrides[i];
    } else {
      dims.push(shape[i]);
      str.push(srcStrides[i]);
    }
  }
  if (dims.length === 0) { if (dst.length > 0) dst[0] = src[start]; return; }
  const r = dims.length;
  const inner = dims[r - 1];
  const is = str[r - 1];
  const total = dst.length;
  const idx = new Array<number>(r).fill(0);
  let off = start;
  for (let o = 0; o < total; o += inner) {
    if (is === 1) {
      dst.set(src.subarray(off, off + inner), o);
    } else {
      for (let j = 0, p = off; j < inner; j++, p += is) dst[o + j] = src[p];
    }
    for (let d = r - 2; d >= 0; d--) {
      off += str[d];
      if (++idx[d] < dims[d]) break;
      off -= str[d] * dims[d];
      idx[d] = 0;
    }
  }
}

function like(src: NumArray, n: number): NumArray {
  return src instanceof Float32Array ? new Float32Array(n) : new Int32Array(n);
}

function transposeKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const x = inputs.x;
    const vals = valuesOf(backend, x);
    if (!vals) return stock(args);
    const perm = (attrs?.perm as number[]).map((p) => normAxis(p, x.shape.length));
    const xs = stridesOf(x.shape);
    const outShape = perm.map((p) => x.shape[p]);
    const out = like(vals, vals.length);
    stridedCopy(vals, 0, outShape, perm.map((p) => xs[p]), out);
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

function reverseKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const x = inputs.x;
    const vals = valuesOf(backend, x);
    if (!vals || x.shape.length === 0) return stock(args);
    const rawDims = attrs?.dims as number | number[];
    const dims = (Array.isArray(rawDims) ? rawDims : [rawDims]).map((d) => normAxis(d, x.shape.length));
    const xs = stridesOf(x.shape);
    let start = 0;
    const strides = xs.map((s, i) => {
      if (!dims.includes(i)) return s;
      start += (x.shape[i] - 1) * s;
      return -s;
    });
    const out = like(vals, vals.length);
    stridedCopy(vals, start, x.shape, strides, out);
    return backend.makeTensorInfo(x.shape.slice(), x.dtype, out);
  };
}

const ADD = 0;
const SUB = 1;
const MUL = 2;
const DIV = 3;

/** out[o + j] = a[ao + j·as] ∘ b[bo + j·bs] for j < n. */
function applyRow(op: number, out: Float32Array, o: number, a: Float32Array, ao: number, as: number, b: Float32Array, bo: number, bs: number, n: number): void {
  switch (op) {
    case ADD: for (let j = 0; j < n; j++) out[o + j] = a[ao + j * as] + b[bo + j * bs]; break;
    case SUB: for (let j = 0; j < n; j++) out[o + j] = a[ao + j * as] - b[bo + j * bs]; break;
    case MUL: for (let j = 0; j < n; j++) out[o + j] = a[ao + j * as] * b[bo + j * bs]; break;
    default: for (let j = 0; j < n; j++) out[o + j] = a[ao + j * as] / b[bo + j * bs]; break;
  }
}

/** Element-wise a ∘ b with numpy broadcasting, float32. */
export function broadcastBinary(op: number, aShape: readonly number[], a: Float32Array, bShape: readonly number[], b: Float32Array, outShape: readonly number[]): Float32Array {
  const total = sizeOf(outShape);
  const out = new Float32Array(total);
  if (total === 0) return out;
  // Adjacent dimensions with the same broadcast pattern are merged.
  const { dims, aStrides: da, bStrides: db } = collapseBroadcast(outShape, aShape, bShape);
  if (dims.length === 0) { applyRow(op, out, 0, a, 0, 0, b, 0, 0, 1); return out; }
  const n = dims.length;
  const inner = dims[n - 1];
  const idx = new Array<number>(n).fill(0);
  let ao = 0;
  let bo = 0;
  for (let o = 0; o < total; o += inner) {
    applyRow(op, out, o, a, ao, da[n - 1], b, bo, db[n - 1], inner);
    for (let d = n - 2; d >= 0; d--) {
      ao += da[d];
      bo += db[d];
      if (++idx[d] < dims[d]) break;
      ao -= da[d] * dims[d];
      bo -= db[d] * dims[d];
      idx[d] = 0;
    }
  }
  return out;
}

function binaryKernel(op: number, stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const { a, b } = inputs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const av = valuesOf(backend, a);
    const bv = valuesOf(backend, b);
    const outShape = broadcastShapes(a.shape, b.shape);
    if (!(av instanceof Float32Array) || !(bv instanceof Float32Array) || !outShape) return stock(args);
    return backend.makeTensorInfo(outShape, 'float32', broadcastBinary(op, a.shape, av, b.shape, bv, outShape));
  };
}

/**
 * Sums x over `axes`: one pass when the axes are consecutive
 * (outer × reduced × inner); otherwise the reduced axes are first moved last
 * with a strided copy. Accumulates in float64.
 */
export function reduceSum(vals: NumArray, shape: readonly number[], axes: readonly number[]): { values: Float64Array; outShape: number[] } {
  const rank = shape.length;
  const sorted = [...new Set(axes.map((a) => normAxis(a, rank)))].sort((p, q) => p - q);
  const outShape = shape.filter((_, i) => !sorted.includes(i));
  if (sorted.length === 0) return { values: Float64Array.from(vals), outShape };
  const consecutive = sorted[sorted.length - 1] - sorted[0] === sorted.length - 1;
  let src: NumArray = vals;
  let first = sorted[0];
  let work = shape.slice();
  if (!consecutive) {
    const keep = shape.map((_, i) => i).filter((i) => !sorted.includes(i));
    const perm = [...keep, ...sorted];
    const xs = stridesOf(shape);
    const moved = like(vals, vals.length);
    work = perm.map((p) => shape[p]);
    stridedCopy(vals, 0, work, perm.map((p) => xs[p]), moved);
    src = moved;
    first = keep.length;
  }
  const last = first + sorted.length;
  const outer = sizeOf(work.slice(0, first));
  const reduced = sizeOf(work.slice(first, last));
  const inner = sizeOf(work.slice(last));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    const base = o * reduced * inner;
    if (inner === 1) {
      let s = 0;
      for (let r = 0; r < reduced; r++) s += src[base + r];
      out[o] = s;
    } else {
      const acc = out.subarray(o * inner, (o + 1) * inner);
      for (let r = 0; r < reduced; r++) {
        const row = base + r * inner;
        for (let j = 0; j < inner; j++) acc[j] += src[row + j];
      }
    }
  }
  return { values: out, outShape };
}

function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  const a = axes.map((x) => normAxis(x, shape.length));
  return shape.map((d, i) => (a.includes(i) ? 1 : d));
}

function reductionKernel(mean: boolean, stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const x = inputs.x;
    const vals = valuesOf(backend, x);
    if (x.dtype !== 'float32' || !(vals instanceof Float32Array)) return stock(args);
    const rawAxis = attrs?.axis as number | number[] | null | undefined;
    const axes = rawAxis === null || rawAxis === undefined ? x.shape.map((_, i) => i) : (Array.isArray(rawAxis) ? rawAxis : [rawAxis]);
    const { values, outShape } = reduceSum(vals, x.shape, axes);
    const n = sizeOf(x.shape) / Math.max(1, sizeOf(outShape));
    const out = new Float32Array(values.length);
    for (let i = 0; i < out.length; i++) out[i] = mean ? values[i] / n : values[i];
    return backend.makeTensorInfo(attrs?.keepDims ? keepDimsShape(x.shape, axes) : outShape, 'float32', out);
  };
}

/**
 * out[seg[i]] += x[i] over the leading (segment-id) dimensions, in one pass;
 * ids outside [0, numSegments) are dropped (TensorFlow semantics).
 */
export function segmentSum(x: NumArray, xShape: readonly number[], ids: NumArray, idsRank: number, numSegments: number): { values: NumArray; shape: number[] } {
  const n = sizeOf(xShape.slice(0, idsRank));
  const innerShape = xShape.slice(idsRank);
  const inner = sizeOf(innerShape);
  const acc = new Float64Array(numSegments * inner);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) acc[dst + j] += x[src + j];
  }
  const values = like(x, acc.length);
  for (let i = 0; i < acc.length; i++) values[i] = acc[i];
  return { values, shape: [numSegments, ...innerShape] };
}

function unsortedSegmentSumKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const { x, segmentIds } = inputs;
    const xv = valuesOf(backend, x);
    const ids = valuesOf(backend, segmentIds);
    if (!xv || !(ids instanceof Int32Array) || (x.dtype !== 'float32' && x.dtype !== 'int32')) return stock(args);
    const { values, shape } = segmentSum(xv, x.shape, ids, segmentIds.shape.length, attrs?.numSegments as number);
    return backend.makeTensorInfo(shape, x.dtype, values);
  };
}

function gatherKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const { x, indices } = inputs;
    const xv = valuesOf(backend, x);
    const iv = valuesOf(backend, indices);
    const batchDims = (attrs?.batchDims as number | undefined) ?? 0;
    if (!xv || !(iv instanceof Int32Array) || batchDims !== 0) return stock(args);
    const axis = normAxis(attrs?.axis as number, x.shape.length);
    const outer = sizeOf(x.shape.slice(0, axis));
    const dim = x.shape[axis];
    const inner = sizeOf(x.shape.slice(axis + 1));
    const k = iv.length;
    for (let i = 0; i < k; i++) {
      if (iv[i] < 0 || iv[i] >= dim) throw new Error(`GatherV2: the index value ${iv[i]} is not in [0, ${dim - 1}]`);
    }
    const out = like(xv, outer * k * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < k; i++) {
        const src = (o * dim + iv[i]) * inner;
        out.set(xv.subarray(src, src + inner), (o * k + i) * inner);
      }
    }
    const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

/**
 * C (M, N) = A (M, K) · Btᵀ where Bt is (N, K): rows of A and Bt are
 * contiguous along K. Two rows × four columns per step (eight independent
 * float64 accumulators).
 */
export function matMulPacked(A: Float32Array, aOff: number, Bt: Float32Array, bOff: number, C: Float32Array, cOff: number, M: number, N: number, K: number): void {
  let i = 0;
  for (; i + 1 < M; i += 2) {
    const a0 = aOff + i * K;
    const a1 = a0 + K;
    const c0 = cOff + i * N;
    const c1 = c0 + N;
    let j = 0;
    for (; j + 3 < N; j += 4) {
      const b0 = bOff + j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let s00 = 0; let s01 = 0; let s02 = 0; let s03 = 0;
      let s10 = 0; let s11 = 0; let s12 = 0; let s13 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k];
        const x1 = A[a1 + k];
        const y0 = Bt[b0 + k];
        const y1 = Bt[b1 + k];
        const y2 = Bt[b2 + k];
        const y3 = Bt[b3 + k];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
      }
      C[c0 + j] = s00; C[c0 + j + 1] = s01; C[c0 + j + 2] = s02; C[c0 + j + 3] = s03;
      C[c1 + j] = s10; C[c1 + j + 1] = s11; C[c1 + j + 2] = s12; C[c1 + j + 3] = s13;
    }
    for (; j < N; j++) {
      const b0 = bOff + j * K;
      let s0 = 0;
      let s1 = 0;
      for (let k = 0; k < K; k++) { s0 += A[a0 + k] * Bt[b0 + k]; s1 += A[a1 + k] * Bt[b0 + k]; }
      C[c0 + j] = s0;
      C[c1 + j] = s1;
    }
  }
  for (; i < M; i++) {
    const a0 = aOff + i * K;
    for (let j = 0; j < N; j++) {
      const b0 = bOff + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a0 + k] * Bt[b0 + k];
      C[cOff + i * N + j] = s;
    }
  }
}

/** (batch, R, C) → (batch, C, R), row-major. */
function transposeLast2(src: Float32Array, batch: number, r: number, c: number): Float32Array {
  const out = new Float32Array(src.length);
  stridedCopy(src, 0, [batch, c, r], [r * c, 1, c], out);
  return out;
}

function batchMatMulKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const backend = args.backend as CpuBackend;
    const { a, b } = inputs;
    const av = valuesOf(backend, a);
    const bv = valuesOf(backend, b);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || !(av instanceof Float32Array) || !(bv instanceof Float32Array)) return stock(args);
    const transposeA = attrs?.transposeA === true;
    const transposeB = attrs?.transposeB === true;
    const { m: M, ka: Ka, kb: Kb, n: N } = matMulDims(a.shape, b.shape, transposeA, transposeB);
    const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batchA = sizeOf(a.shape.slice(0, -2));
    const batchB = sizeOf(b.shape.slice(0, -2));
    const batch = Math.max(batchA, batchB);
    // Broadcasting is supported only in the simple forms (equal, or one side 1).
    if (Ka !== Kb || !batchShape || (batchA !== batchB && batchA !== 1 && batchB !== 1) || sizeOf(batchShape) !== batch) return stock(args);
    const K = Ka;
    const A = transposeA ? transposeLast2(av, batchA, K, M) : av;
    const Bt = transposeB ? bv : transposeLast2(bv, batchB, K, N);
    const C = new Float32Array(batch * M * N);
    for (let bi = 0; bi < batch; bi++) {
      matMulPacked(A, (batchA === 1 ? 0 : bi) * M * K, Bt, (batchB === 1 ? 0 : bi) * N * K, C, bi * M * N, M, N, K);
    }
    return backend.makeTensorInfo([...batchShape, M, N], 'float32', C);
  };
}

const REPLACEMENTS: Record<string, (stock: KernelFunc) => KernelFunc> = {
  UnsortedSegmentSum: unsortedSegmentSumKernel,
  Add: (s) => binaryKernel(ADD, s),
  Sub: (s) => binaryKernel(SUB, s),
  Multiply: (s) => binaryKernel(MUL, s),
  RealDiv: (s) => binaryKernel(DIV, s),
  Transpose: transposeKernel,
  Reverse: reverseKernel,
  Sum: (s) => reductionKernel(false, s),
  Mean: (s) => reductionKernel(true, s),
  GatherV2: gatherKernel,
  BatchMatMul: batchMatMulKernel,
};

/** Names of the kernels this module replaces on the cpu backend. */
export const REPLACED_CPU_KERNELS: readonly string[] = Object.keys(REPLACEMENTS);

const stockConfigs = new Map<string, KernelConfig>();

/** True when the replacements are registered. */
export function cpuKernelsInstalled(): boolean {
  return stockConfigs.size > 0;
}

/** Registers the replacement kernels on the cpu backend (idempotent). */
export function installCpuKernels(): void {
  if (cpuKernelsInstalled()) return;
  for (const [name, make] of Object.entries(REPLACEMENTS)) {
    const stock = tf.getKernel(name, 'cpu');
    if (!stock) continue;
    stockConfigs.set(name, stock);
    tf.unregisterKernel(name, 'cpu');
    tf.registerKernel({ kernelName: name, backendName: 'cpu', kernelFunc: make(stock.kernelFunc) });
  }
}

/** Restores the stock kernels (tests compare both). */
export function uninstallCpuKernels(): void {
  for (const [name, stock] of stockConfigs) {
    tf.unregisterKernel(name, 'cpu');
    tf.registerKernel(stock);
  }
  stockConfigs.clear();
}
