/**
 * Native replacements for tfjs's arithmetic kernels: BatchMatMul and
 * _FusedMatMul (OpenBLAS), broadcasting binary and comparison ops, unary
 * math, reductions and Softmax. Each handles float32 on the native (cpu
 * class) backend and defers to the stock kernel for anything else (other
 * dtypes, shapes the stock kernel rejects), so error messages and semantics
 * stay tfjs's own.
 */
import type { KernelFunc } from '@tensorflow/tfjs';
import type { NativeAddon } from './addon.ts';
import type { KernelArgs, NativeKernel } from './cpu-data.ts';
import { callStock, f32Values } from './cpu-data.ts';
import { broadcastShapes, broadcastStrides, matMulDims, normAxis, planBroadcast, sizeOf } from '../broadcast.ts';

/** Op codes shared with native/src/kernels.h. */
export const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, Pow: 6, SquaredDifference: 7 } as const;
export const COMPARE_OPS = { Equal: 0, NotEqual: 1, Less: 2, LessEqual: 3, Greater: 4, GreaterEqual: 5 } as const;
export const UNARY_OPS = {
  Exp: 0, Log: 1, Sqrt: 2, Rsqrt: 3, Neg: 4, Sigmoid: 5, Tanh: 6, Square: 7, Abs: 8, Relu: 9, Erf: 10,
  Reciprocal: 11, Sin: 12, Cos: 13, Log1p: 14, Softplus: 15, Elu: 16, Relu6: 17, Expm1: 18, LeakyRelu: 19, Step: 20,
} as const;
const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

/** A broadcasting float32 a ∘ b: arithmetic (float32 result) or comparison (bool result). */
function broadcastKernel(addon: NativeAddon, op: number, stock: KernelFunc, compare: boolean): NativeKernel {
  return (args) => {
    const { a, b } = args.inputs;
    const av = f32Values(args.backend, a);
    const bv = f32Values(args.backend, b);
    if (!a || !b || !av || !bv) return callStock(stock, args);
    const plan = planBroadcast(a.shape, b.shape);
    if (!plan) return callStock(stock, args);
    const n = sizeOf(plan.outShape);
    if (compare) {
      const out = new Uint8Array(n);
      addon.compare(op, av, bv, out, plan.dims, plan.aStrides, plan.bStrides);
      return args.backend.makeTensorInfo(plan.outShape, 'bool', out);
    }
    const out = new Float32Array(n);
    addon.binary(op, av, bv, out, plan.dims, plan.aStrides, plan.bStrides);
    return args.backend.makeTensorInfo(plan.outShape, 'float32', out);
  };
}

function unaryKernel(addon: NativeAddon, op: number, stock: KernelFunc): NativeKernel {
  return (args) => {
    const x = args.inputs.x;
    const xv = f32Values(args.backend, x);
    if (!x || !xv) return callStock(stock, args);
    const out = new Float32Array(xv.length);
    const alpha = typeof args.attrs?.alpha === 'number' ? args.attrs.alpha : 0;
    addon.unary(op, xv, out, alpha);
    return args.backend.makeTensorInfo(x.shape.slice(), 'float32', out);
  };
}

/**
 * Reduction over `axes` of x: as (outer, r, inner) when the axes are
 * adjacent, else after a native transpose that moves them last.
 */
function reduceKernel(addon: NativeAddon, op: number, axisAttr: string, stock: KernelFunc): NativeKernel {
  return (args) => {
    const x = args.inputs.x;
    const xv = f32Values(args.backend, x);
    if (!x || !xv) return callStock(stock, args);
    const rank = x.shape.length;
    const raw = args.attrs?.[axisAttr] as number | number[] | null | undefined;
    const list = raw == null ? x.shape.map((_, i) => i) : Array.isArray(raw) ? raw : [raw];
    const axes = [...new Set(list.map((a) => normAxis(a, rank)))].sort((p, q) => p - q);
    if (axes.some((a) => a < 0 || a >= rank)) return callStock(stock, args);
    const keepDims = args.attrs?.keepDims === true;
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const r = axes.reduce((p, a) => p * x.shape[a], 1);
    if (r === 0 || sizeOf(x.shape) === 0) return callStock(stock, args);
    const out = new Float32Array(sizeOf(outShape));
    const contiguous = axes.length === 0 || axes[axes.length - 1] - axes[0] === axes.length - 1;
    if (contiguous) {
      const first = axes.length ? axes[0] : rank;
      const last = axes.length ? axes[axes.length - 1] : rank - 1;
      const outer = sizeOf(x.shape.slice(0, first));
      const inner = sizeOf(x.shape.slice(last + 1));
      addon.reduce(op, xv, out, outer, axes.length ? r : 1, inner);
    } else {
      const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
      const perm = [...kept, ...axes];
      const moved = new Float32Array(xv.length);
      addon.transpose(xv, moved, x.shape.slice(), perm);
      addon.reduce(op, moved, out, sizeOf(kept.map((i) => x.shape[i])), r, 1);
    }
    return args.backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/** Batch offsets (in elements) of each operand for broadcast batch dims. */
function batchOffsets(outBatch: readonly number[], batchShape: readonly number[], matrixSize: number): Float64Array {
  const total = sizeOf(outBatch);
  const offsets = new Float64Array(total);
  const r = outBatch.length;
  const stepFor = broadcastStrides(outBatch, batchShape).map((s) => s * matrixSize);
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let t = 0; t < total; t++) {
    offsets[t] = off;
    for (let d = r - 1; d >= 0; d--) {
      off += stepFor[d];
      if (++idx[d] < outBatch[d]) break;
      off -= stepFor[d] * outBatch[d];
      idx[d] = 0;
    }
  }
  return offsets;
}

/** a·b with tfjs's BatchMatMul semantics, or null when the stock kernel should decide. */
function nativeMatMul(addon: NativeAddon, args: KernelArgs): { shape: number[]; values: Float32Array } | null {
  const { a, b } = args.inputs;
  const av = f32Values(args.backend, a);
  const bv = f32Values(args.backend, b);
  if (!a || !b || !av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
  const ta = args.attrs?.transposeA === true;
  const tb = args.attrs?.transposeB === true;
  const { m, ka: k, kb, n } = matMulDims(a.shape, b.shape, ta, tb);
  if (k !== kb) return null;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outBatch = broadcastShapes(batchA, batchB);
  if (!outBatch) return null;
  const batch = sizeOf(outBatch);
  const values = new Float32Array(batch * m * n);
  if (batch > 0) {
    addon.matmul(av, bv, values, batch, batchOffsets(outBatch, batchA, m * k), batchOffsets(outBatch, batchB, k * n), m, n, k, ta, tb);
  }
  return { shape: [...outBatch, m, n], values };
}

function batchMatMulKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const r = nativeMatMul(addon, args);
    if (!r) return callStock(stock, args);
    return args.backend.makeTensorInfo(r.shape, 'float32', r.values);
  };
}

const FUSED_ACTIVATIONS: Record<string, number | null> = {
  linear: null,
  relu: UNARY_OPS.Relu,
  relu6: UNARY_OPS.Relu6,
  elu: UNARY_OPS.Elu,
  sigmoid: UNARY_OPS.Sigmoid,
  leakyrelu: UNARY_OPS.LeakyRelu,
};

/** _FusedMatMul: matmul, + bias (broadcast), activation — all in place on the product. */
function fusedMatMulKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const activation = String(args.attrs?.activation ?? 'linear');
    if (!(activation in FUSED_ACTIVATIONS) || args.inputs.preluActivationWeights) return callStock(stock, args);
    const bias = args.inputs.bias;
    const biasValues = bias ? f32Values(args.backend, bias) : null;
    if (bias && !biasValues) return callStock(stock, args);
    const r = nativeMatMul(addon, args);
    if (!r) return callStock(stock, args);
    let shape = r.shape;
    let values = r.values;
    if (bias && biasValues) {
      const plan = planBroadcast(shape, bias.shape);
      if (!plan) return callStock(stock, args);
      if (sizeOf(plan.outShape) !== values.length) {
        // The bias widens the product: write a fresh broadcast result.
        const widened = new Float32Array(sizeOf(plan.outShape));
        addon.binary(BINARY_OPS.Add, values, biasValues, widened, plan.dims, plan.aStrides, plan.bStrides);
        values = widened;
      } else {
        addon.binary(BINARY_OPS.Add, values, biasValues, values, plan.dims, plan.aStrides, plan.bStrides);
      }
      shape = plan.outShape;
    }
    const act = FUSED_ACTIVATIONS[activation];
    if (act !== null && act !== undefined) {
      const alpha = typeof args.attrs?.leakyreluAlpha === 'number' ? args.attrs.leakyreluAlpha : 0.2;
      addon.unary(act, values, values, alpha);
    }
    return args.backend.makeTensorInfo(shape, 'float32', values);
  };
}

function softmaxKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const x = args.inputs.logits;
    const xv = f32Values(args.backend, x);
    if (!x || !xv || x.shape.length === 0) return callStock(stock, args);
    const rank = x.shape.length;
    const dim = typeof args.attrs?.dim === 'number' ? normAxis(args.attrs.dim, rank) : rank - 1;
    if (dim !== rank - 1) return callStock(stock, args);
    const cols = x.shape[rank - 1];
    const out = new Float32Array(xv.length);
    if (cols > 0) addon.softmax(xv, out, xv.length / cols, cols);
    return args.backend.makeTensorInfo(x.shape.slice(), 'float32', out);
  };
}

/** Kernel name → native implementation wrapping the stock one. */
export function mathKernels(addon: NativeAddon): Record<string, (stock: KernelFunc) => NativeKernel> {
  const table: Record<string, (stock: KernelFunc) => NativeKernel> = {
    BatchMatMul: (s) => batchMatMulKernel(addon, s),
    _FusedMatMul: (s) => fusedMatMulKernel(addon, s),
    Softmax: (s) => softmaxKernel(addon, s),
    Sum: (s) => reduceKernel(addon, REDUCE_OPS.Sum, 'axis', s),
    Mean: (s) => reduceKernel(addon, REDUCE_OPS.Mean, 'axis', s),
    Max: (s) => reduceKernel(addon, REDUCE_OPS.Max, 'reductionIndices', s),
    Min: (s) => reduceKernel(addon, REDUCE_OPS.Min, 'axis', s),
  };
  for (const [name, op] of Object.entries(BINARY_OPS)) table[name] = (s) => broadcastKernel(addon, op, s, false);
  for (const [name, op] of Object.entries(COMPARE_OPS)) table[name] = (s) => broadcastKernel(addon, op, s, true);
  for (const [name, op] of Object.entries(UNARY_OPS)) table[name] = (s) => unaryKernel(addon, op, s);
  return table;
}

