/**
 * Fused operations with hand-written backward passes (`tf.customGrad`) for
 * the Transformer's hot paths, with the same signatures as the plain-op
 * versions in `src/model/ops.ts`: RMSNorm, RoPE, causal attention (scores
 * exist one tile at a time; the backward pass recomputes them from the saved
 * log-sum-exp), SiLU/GELU, SwiGLU, softmax, cross-entropy straight from the
 * logits, and a one-pass AdamW update.
 *
 * Each op runs its native kernels when the active backend is `native` and
 * the inputs are float32; otherwise (another backend, an option the kernel
 * does not cover such as an explicit attention mask or dropout) it calls the
 * plain version, so installing these ops is always safe:
 *
 *   registerNativeBackend(); await tf.setBackend('native');
 *   const restore = installNativeOps();   // the model now calls the fused ops
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { DEFAULT_OPS, overrideOps } from '../../model/ops.ts';
import type { AttentionOptions, ModelOps } from '../../model/ops.ts';
import {
  attentionLeadDimsMatch, attentionNeedsPlain, lastDim, rmsNormShapesFit, ropeShapesFit, sameShape, splitGradArgs,
} from '../../model/op-helpers.ts';
import type { GradArgs } from '../../model/op-helpers.ts';
import { onNativeBackend } from './register.ts';
import { ACTIVATIONS, FUSED_KERNELS } from './kernels-fused.ts';
import { plainAdamWUpdate, type AdamWStepParams } from '../../train/adamw.ts';

function run(name: string, inputs: Record<string, Tensor>, attrs: Record<string, number | boolean> = {}): Tensor[] {
  const out = tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as Tensor | Tensor[];
  return Array.isArray(out) ? out : [out];
}

/** Native kernels apply: native backend active and every tensor float32. */
function usable(...ts: Tensor[]): boolean {
  return onNativeBackend() && ts.every((t) => t.dtype === 'float32');
}

/** x / sqrt(mean(x², last axis) + eps) · w. */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  if (!usable(x, w) || !rmsNormShapesFit(x, w)) return DEFAULT_OPS.rmsNorm(x, w, eps);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [xi, wi], save } = splitGradArgs(args, 2);
    const [y, inv] = run(FUSED_KERNELS.rmsNorm, { x: xi, w: wi }, { eps });
    save([xi, wi, inv]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sw, sinv] = saved;
        return run(FUSED_KERNELS.rmsNormGrad, { x: sx, w: sw, inv: sinv, dy });
      },
    };
  }) as (x: Tensor, w: Tensor) => Tensor;
  return f(x, w);
}

/**
 * Rotary embedding with interleaved tables (see ModelOps.rope). The tables
 * are treated as constants: gradients flow to x only.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  if (!usable(x, cos, sin) || !ropeShapesFit(x, cos, sin)) return DEFAULT_OPS.rope(x, cos, sin);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [xi], save } = splitGradArgs(args, 1);
    const [y] = run(FUSED_KERNELS.rope, { x: xi, cos, sin }, { backward: false });
    save([cos, sin]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => run(FUSED_KERNELS.rope, { x: dy, cos: saved[0], sin: saved[1] }, { backward: true }),
    };
  }) as (x: Tensor) => Tensor;
  return f(x);
}

/**
 * softmax(q kᵀ/√d + causal mask) v for q (..., Tq, d), k (..., Tk, d),
 * v (..., Tk, dv) with equal leading dims. An explicit mask, dropout, or a
 * negative causal offset take the plain path.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const plain = (): Tensor => DEFAULT_OPS.attention(q, k, v, options);
  if (!usable(q, k, v) || attentionNeedsPlain(options) || !attentionLeadDimsMatch(q, k, v)) return plain();
  const r = q.rank;
  const d = lastDim(q);
  const tq = q.shape[r - 2] as number;
  const tk = k.shape[r - 2] as number;
  if (lastDim(k) !== d || v.shape[r - 2] !== tk || tk === 0) return plain();
  const causalOffset = options.causal ? (options.causalOffset ?? tk - tq) : -1;
  if (options.causal && causalOffset < 0) return plain();
  const attrs = { scale: 1 / Math.sqrt(d), causalOffset };
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [qi, ki, vi], save } = splitGradArgs(args, 3);
    const [o, lse] = run(FUSED_KERNELS.attention, { q: qi, k: ki, v: vi }, attrs);
    save([qi, ki, vi, o, lse]);
    return {
      value: o,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sq, sk, sv, so, slse] = saved;
        return run(FUSED_KERNELS.attentionGrad, { q: sq, k: sk, v: sv, o: so, lse: slse, dy }, attrs);
      },
    };
  }) as (q: Tensor, k: Tensor, v: Tensor) => Tensor;
  return f(q, k, v);
}

/** Mean cross-entropy of logits (..., V) against integer targets (...), from the logits in one pass each way. */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  if (!usable(logits) || logits.rank < 1) return DEFAULT_OPS.crossEntropy(logits, targets);
  const V = lastDim(logits);
  const flat = tf.reshape(logits, [-1, V]);
  const t = tf.reshape(targets.dtype === 'int32' ? targets : tf.cast(targets, 'int32'), [-1]);
  if (flat.shape[0] !== t.shape[0]) return DEFAULT_OPS.crossEntropy(logits, targets);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [lg], save } = splitGradArgs(args, 1);
    const [loss, lse] = run(FUSED_KERNELS.crossEntropy, { logits: lg, targets: t });
    save([lg, t, lse]);
    return {
      value: loss,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sl, st, slse] = saved;
        return run(FUSED_KERNELS.crossEntropyGrad, { logits: sl, targets: st, lse: slse, dy });
      },
    };
  }) as (x: Tensor) => Tensor;
  return f(flat);
}

function activation(kind: keyof typeof ACTIVATIONS, x: Tensor): Tensor {
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [xi], save } = splitGradArgs(args, 1);
    const [y] = run(FUSED_KERNELS.activation, { x: xi }, { kind: ACTIVATIONS[kind] });
    save([xi]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => run(FUSED_KERNELS.activationGrad, { x: saved[0], dy }, { kind: ACTIVATIONS[kind] }),
    };
  }) as (x: Tensor) => Tensor;
  return f(x);
}

/** x · sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return usable(x) ? activation('silu', x) : DEFAULT_OPS.silu(x);
}

/** Exact GELU, x · Φ(x). */
export function gelu(x: Tensor): Tensor {
  return usable(x) ? activation('gelu', x) : DEFAULT_OPS.gelu(x);
}

/** SwiGLU's gate: silu(a) ⊙ b for same-shaped a, b (one pass each way). */
export function swiglu(a: Tensor, b: Tensor): Tensor {
  if (!usable(a, b) || !sameShape(a.shape, b.shape)) return tf.mul(DEFAULT_OPS.silu(a), b);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [ai, bi], save } = splitGradArgs(args, 2);
    const [y] = run(FUSED_KERNELS.swiglu, { a: ai, b: bi });
    save([ai, bi]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => run(FUSED_KERNELS.swigluGrad, { a: saved[0], b: saved[1], dy }),
    };
  }) as (a: Tensor, b: Tensor) => Tensor;
  return f(a, b);
}

/** Max-subtracted softmax along `axis`; native on the last axis. */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  if (!usable(x) || x.rank < 1 || ax !== x.rank - 1) return DEFAULT_OPS.softmax(x, axis);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [xi], save } = splitGradArgs(args, 1);
    const y = tf.engine().runKernel('Softmax', { logits: xi }, { dim: -1 }) as Tensor;
    save([y]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => run(FUSED_KERNELS.softmaxGrad, { y: saved[0], dy }),
    };
  }) as (x: Tensor) => Tensor;
  return f(x);
}


/**
 * One AdamW update of a parameter in one pass, the same arithmetic as
 * `src/train/adamw.ts` (m, v, then θ − α_t·m/(√v+ε), then θ − decay·θ).
 * Returns new tensors (nothing is modified in place); on other backends it
 * computes the same with tfjs ops.
 */
export function adamwUpdate(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWStepParams): { param: Tensor; m: Tensor; v: Tensor } {
  if (usable(p, g, m, v) && sameShape(p.shape, g.shape) && sameShape(p.shape, m.shape) && sameShape(p.shape, v.shape)) {
    const [param, m1, v1] = run(FUSED_KERNELS.adamw, { p, g, m, v }, { ...h });
    return { param, m: m1, v: v1 };
  }
  return plainAdamWUpdate(p, g, m, v, h);
}

/** The fused replacements for the model's primitive table. */
export const NATIVE_MODEL_OPS: Readonly<Partial<ModelOps>> = Object.freeze({
  rmsNorm, rope, attention, crossEntropy, silu, gelu, swiglu, softmax,
});

/**
 * Makes the model call the fused ops (through `overrideOps`); returns the
 * function that restores the previous table.
 */
export function installNativeOps(): () => void {
  return overrideOps(NATIVE_MODEL_OPS);
}
