/**
 * Backend-independent helpers for the fused replacements of `ModelOps`
 * entries (`src/backends/native/fused.ts`, `src/backends/webgpu/fused-ops.ts`): the shape
 * predicates that decide whether a fused kernel applies or the plain op must
 * run, and the plumbing of `tf.customGrad`'s argument list.
 */
import type { GradSaveFunc, Tensor } from '@tensorflow/tfjs';
import type { AttentionOptions } from './ops.ts';

/** What `tf.customGrad` passes to its function: the op's inputs, then the save function. */
export type GradArgs = (Tensor | GradSaveFunc)[];

/** Splits customGrad's arguments of an op with `n` tensor inputs into those inputs and the save function. */
export function splitGradArgs(args: GradArgs, n: number): { inputs: Tensor[]; save: GradSaveFunc } {
  return { inputs: args.slice(0, n) as Tensor[], save: args[n] as GradSaveFunc };
}

/** Size of a tensor's last dimension. */
export function lastDim(t: Tensor): number {
  return t.shape[t.shape.length - 1] as number;
}

/** True when two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** RMSNorm's operands fit a fused kernel: a 1-D gain as long as x's last axis. */
export function rmsNormShapesFit(x: Tensor, w: Tensor): boolean {
  return w.rank === 1 && x.rank >= 1 && lastDim(x) === w.shape[0];
}

/** RoPE's operands fit a fused kernel: x (..., T, d) with even d and (T, d) cos/sin tables. */
export function ropeShapesFit(x: Tensor, cos: Tensor, sin: Tensor): boolean {
  return x.rank >= 2 && cos.rank === 2 && lastDim(x) % 2 === 0
    && sameShape(cos.shape, x.shape.slice(-2)) && sameShape(sin.shape, cos.shape);
}

/** Attention options only the plain op implements: an explicit mask, or dropout. */
export function attentionNeedsPlain(options: AttentionOptions): boolean {
  return Boolean(options.mask || (options.dropout && options.dropout.rate > 0));
}

/** q, k, v have one rank (at least 2) and equal leading (batch, head) dims. */
export function attentionLeadDimsMatch(q: Tensor, k: Tensor, v: Tensor): boolean {
  const r = q.rank;
  if (r < 2 || k.rank !== r || v.rank !== r) return false;
  const lead = q.shape.slice(0, -2);
  return sameShape(k.shape.slice(0, -2), lead) && sameShape(v.shape.slice(0, -2), lead);
}
