/**
 * Native replacements for tfjs's data-movement kernels: Transpose, GatherV2
 * (batchDims 0), UnsortedSegmentSum (the gradient of gather, i.e. of the
 * embedding: one scatter-add pass instead of one pass per segment), Slice
 * and Concat. Anything unusual (strings, complex, batched gathers) goes to
 * the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { NativeAddon } from './addon.ts';
import type { NativeKernel } from './cpu-data.ts';
import { allocLike, callStock, f32Values, i32Values, typedValues } from './cpu-data.ts';
import { normAxis, sizeOf } from '../broadcast.ts';

function transposeKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const x = args.inputs.x;
    const xv = typedValues(args.backend, x);
    if (!x || !xv) return callStock(stock, args);
    const rank = x.shape.length;
    const perm = (args.attrs?.perm as number[]).map((p) => normAxis(p, rank));
    const outShape = perm.map((p) => x.shape[p]);
    const out = allocLike(xv, xv.length);
    if (xv.length > 0) addon.transpose(xv, out, x.shape.slice(), perm);
    return args.backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

function gatherKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const { x, indices } = args.inputs;
    const xv = typedValues(args.backend, x);
    const iv = i32Values(args.backend, indices);
    const batchDims = (args.attrs?.batchDims as number | undefined) ?? 0;
    if (!x || !indices || !xv || !iv || batchDims !== 0 || x.shape.length === 0) return callStock(stock, args);
    const rank = x.shape.length;
    const axis = normAxis(Number(args.attrs?.axis ?? 0), rank);
    const outer = sizeOf(x.shape.slice(0, axis));
    const dim = x.shape[axis];
    const inner = sizeOf(x.shape.slice(axis + 1));
    const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    const out = allocLike(xv, sizeOf(outShape));
    const bad = addon.gather(xv, iv, out, outer, dim, iv.length, inner);
    if (bad >= 0) throw new Error(`GatherV2: the index value ${iv[bad]} is not in [0, ${dim - 1}]`);
    return args.backend.makeTensorInfo(outShape, x.dtype, out);
  };
}

function segmentSumKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const { x, segmentIds } = args.inputs;
    const xv = f32Values(args.backend, x);
    const ids = i32Values(args.backend, segmentIds);
    const segments = Number(args.attrs?.numSegments);
    if (!x || !segmentIds || !xv || !ids || !Number.isInteger(segments) || segments < 0) return callStock(stock, args);
    const idRank = segmentIds.shape.length;
    if (x.shape.length < idRank || segmentIds.shape.some((d, i) => d !== x.shape[i])) return callStock(stock, args);
    const rowShape = x.shape.slice(idRank);
    const inner = sizeOf(rowShape);
    const out = new Float32Array(segments * inner);
    if (ids.length > 0 && inner > 0) addon.scatterAdd(xv, ids, out, ids.length, inner, segments);
    return args.backend.makeTensorInfo([segments, ...rowShape], 'float32', out);
  };
}

function sliceKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const x = args.inputs.x;
    const xv = typedValues(args.backend, x);
    if (!x || !xv || x.shape.length === 0) return callStock(stock, args);
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs?.begin as number[], args.attrs?.size as number[]);
    tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
    const out = allocLike(xv, sizeOf(size));
    if (out.length > 0) addon.slice(xv, out, x.shape.slice(), begin, size);
    return args.backend.makeTensorInfo(size.slice(), x.dtype, out);
  };
}

function concatKernel(addon: NativeAddon, stock: KernelFunc): NativeKernel {
  return (args) => {
    const list = Object.values(args.inputs).filter((t): t is TensorInfo => t !== undefined);
    if (list.length === 0) return callStock(stock, args);
    const dtype = list[0].dtype;
    const values = list.map((t) => typedValues(args.backend, t));
    if (list.some((t) => t.dtype !== dtype) || values.some((v) => v === null)) return callStock(stock, args);
    const rank = list[0].shape.length;
    if (rank === 0) return callStock(stock, args);
    const axis = normAxis(Number(args.attrs?.axis ?? 0), rank);
    const shapes = list.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, axis);
    const outShape = tf.backend_util.computeOutShape(shapes, axis);
    const vals = values as (Float32Array | Int32Array | Uint8Array)[];
    const out = allocLike(vals[0], sizeOf(outShape));
    if (out.length > 0) {
      const outer = sizeOf(outShape.slice(0, axis));
      addon.concat(vals, shapes.map((s) => sizeOf(s.slice(axis))), out, outer);
    }
    return args.backend.makeTensorInfo(outShape, dtype, out);
  };
}

/** Kernel name → native implementation wrapping the stock one. */
export function layoutKernels(addon: NativeAddon): Record<string, (stock: KernelFunc) => NativeKernel> {
  return {
    Transpose: (s) => transposeKernel(addon, s),
    GatherV2: (s) => gatherKernel(addon, s),
    UnsortedSegmentSum: (s) => segmentSumKernel(addon, s),
    Slice: (s) => sliceKernel(addon, s),
    Concat: (s) => concatKernel(addon, s),
  };
}
