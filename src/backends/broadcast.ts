/**
 * Shape arithmetic shared by the pure-JS cpu kernels (`cpu/kernels.ts`) and
 * the native backend's kernels (`native/kernels-math.ts`): element
 * counts, row-major strides, numpy broadcasting of two shapes, the
 * collapsed iteration plan a strided broadcasting loop runs over, and the
 * matrix sizes of a batched matmul.
 */

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Normalizes a possibly negative axis. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Numpy broadcast of two shapes, or null when incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides (in elements) of an operand of `shape` along each dim of the broadcast `outShape`; 0 where it is broadcast. */
export function broadcastStrides(outShape: readonly number[], shape: readonly number[]): number[] {
  const r = outShape.length;
  const s = stridesOf(shape);
  return outShape.map((_, i) => {
    const k = i - (r - shape.length);
    return k < 0 || shape[k] === 1 ? 0 : s[k];
  });
}

/** Iteration plan of a broadcasting op: collapsed output dims and per-operand strides (0 = broadcast). */
export interface BroadcastPlan {
  outShape: number[];
  dims: number[];
  aStrides: number[];
  bStrides: number[];
}

/**
 * The plan of `a ∘ b` over a known broadcast `outShape`: drops size-1 output
 * dims and merges neighbours that are contiguous in both operands, so the
 * inner loop runs over long rows.
 */
export function collapseBroadcast(outShape: readonly number[], aShape: readonly number[], bShape: readonly number[]): BroadcastPlan {
  const sa = broadcastStrides(outShape, aShape);
  const sb = broadcastStrides(outShape, bShape);
  const dims: number[] = [];
  const da: number[] = [];
  const db: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const n = outShape[i];
    if (n === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && da[k] === sa[i] * n && db[k] === sb[i] * n) {
      dims[k] *= n;
      da[k] = sa[i];
      db[k] = sb[i];
    } else {
      dims.push(n);
      da.push(sa[i]);
      db.push(sb[i]);
    }
  }
  return { outShape: outShape.slice(), dims, aStrides: da, bStrides: db };
}

/** Plans `a ∘ b` (see `collapseBroadcast`), or null when the shapes do not broadcast. */
export function planBroadcast(aShape: readonly number[], bShape: readonly number[]): BroadcastPlan | null {
  const outShape = broadcastShapes(aShape, bShape);
  return outShape ? collapseBroadcast(outShape, aShape, bShape) : null;
}

/** Matrix sizes of a batched product a·b under tfjs's transpose flags: a is (…, m, ka), b is (…, kb, n). */
export function matMulDims(aShape: readonly number[], bShape: readonly number[], transposeA: boolean, transposeB: boolean): { m: number; ka: number; kb: number; n: number } {
  const ra = aShape.length;
  const rb = bShape.length;
  return {
    m: transposeA ? aShape[ra - 1] : aShape[ra - 2],
    ka: transposeA ? aShape[ra - 2] : aShape[ra - 1],
    kb: transposeB ? bShape[rb - 1] : bShape[rb - 2],
    n: transposeB ? bShape[rb - 2] : bShape[rb - 1],
  };
}
