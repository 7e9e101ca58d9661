/**
 * The model's hot primitives on WebGPU as fused WGSL kernels with
 * hand-written backward passes (`tf.customGrad`), same signatures as the
 * plain versions in `src/model/ops.ts`: RMSNorm, RoPE, causal attention
 * (FlashAttention-style, no score matrix in memory) and cross-entropy over
 * the vocabulary. Each op uses its kernels only when tfjs's `webgpu` backend
 * is active and the inputs fit (float32, supported shapes, no explicit
 * attention mask or dropout); otherwise it calls the plain op, so installing
 * them is always safe. `selectBackend('webgpu')` installs them (the
 * `ops` of the backend's runtime, backend.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, TensorInfo } from '@tensorflow/tfjs';
import { DEFAULT_OPS } from '../../model/ops.ts';
import type { AttentionOptions, ModelOps } from '../../model/ops.ts';
import {
  attentionLeadDimsMatch, attentionNeedsPlain, lastDim, rmsNormShapesFit, ropeShapesFit, splitGradArgs,
} from '../../model/op-helpers.ts';
import type { GradArgs } from '../../model/op-helpers.ts';
import { MAX_FUSED_HEAD_DIM, attentionBackward, attentionForward } from './attention.ts';
import type { AttentionShape } from './attention.ts';
import { crossEntropyBackward, crossEntropyForward } from './cross-entropy.ts';
import { webgpuDevice } from './dispatch.ts';
import { rmsNormBackward, rmsNormForward } from './rms-norm.ts';
import { ropeApply } from './rope.ts';

/** Kernel outputs stay far below 2³¹ elements (u32 indexing with headroom). */
const MAX_ELEMENTS = 2 ** 31 - 1;

function tensor(info: TensorInfo): Tensor {
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * The fused kernels apply: webgpu backend active, all float32, nothing empty
 * or larger than one storage binding may be (u32 indexing has headroom too).
 */
function usable(...ts: Tensor[]): boolean {
  if (tf.getBackend() !== 'webgpu') return false;
  const maxBytes = webgpuDevice().limits.maxStorageBufferBindingSize ?? 134217728;
  return ts.every((t) => t.dtype === 'float32' && t.size > 0 && t.size <= MAX_ELEMENTS && t.size * 4 <= maxBytes);
}

/** x / sqrt(mean(x², last axis) + eps) · w. */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  if (!usable(x, w) || !rmsNormShapesFit(x, w)) return DEFAULT_OPS.rmsNorm(x, w, eps);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [xi, wi], save } = splitGradArgs(args, 2);
    const { y, inv } = rmsNormForward(xi, wi, eps);
    const invT = tensor(inv);
    save([xi, wi, invT]);
    return {
      value: tensor(y),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sw, sinv] = saved;
        const { dx, dw } = rmsNormBackward(sx, sw, sinv, dy);
        return [tensor(dx), tensor(dw)];
      },
    };
  }) as (x: Tensor, w: Tensor) => Tensor;
  return f(x, w);
}

/** Rotary embedding with interleaved (T, d) tables; the tables are constants (gradient to x only). */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  if (!usable(x, cos, sin) || !ropeShapesFit(x, cos, sin)) return DEFAULT_OPS.rope(x, cos, sin);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [xi], save } = splitGradArgs(args, 1);
    // Saved (kept by the tape) because the caller's tidy may dispose the tables before backprop.
    save([cos, sin]);
    return {
      value: tensor(ropeApply(xi, cos, sin, false)),
      gradFunc: (dy: Tensor, saved: Tensor[]) => tensor(ropeApply(dy, saved[0], saved[1], true)),
    };
  }) as (x: Tensor) => Tensor;
  return f(x);
}

/** The fused kernels' view of an attention call, or null when the plain op must run. */
export function fusedAttentionShape(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): AttentionShape | null {
  if (!usable(q, k, v) || attentionNeedsPlain(options) || !attentionLeadDimsMatch(q, k, v)) return null;
  const r = q.rank;
  const lead = q.shape.slice(0, -2);
  const d = lastDim(q);
  const tq = q.shape[r - 2] as number;
  const tk = k.shape[r - 2] as number;
  if (lastDim(k) !== d || lastDim(v) !== d || v.shape[r - 2] !== tk || d > MAX_FUSED_HEAD_DIM) return null;
  const causal = options.causal === true;
  const offset = causal ? (options.causalOffset ?? tk - tq) : 0;
  if (offset < 0) return null;
  return { bh: lead.reduce((a, b) => a * b, 1), tq, tk, d, causal, offset };
}

/** softmax(q kᵀ/√d + causal mask) v; see `fusedAttentionShape` for what takes the plain path. */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const shape = fusedAttentionShape(q, k, v, options);
  if (!shape) return DEFAULT_OPS.attention(q, k, v, options);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [qi, ki, vi], save } = splitGradArgs(args, 3);
    const { o, lse } = attentionForward(qi, ki, vi, shape);
    const out = tensor(o);
    save([qi, ki, vi, out, tensor(lse)]);
    return {
      value: out,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sq, sk, sv, so, slse] = saved;
        const g = attentionBackward(sq, sk, sv, so, slse, dy, shape);
        return [tensor(g.dq), tensor(g.dk), tensor(g.dv)];
      },
    };
  }) as (q: Tensor, k: Tensor, v: Tensor) => Tensor;
  return f(q, k, v);
}

/** Mean cross-entropy of logits (..., V) against integer targets (...): one read of the logits each way. */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  const V = lastDim(logits);
  if (!usable(logits) || logits.rank < 1 || targets.size * V !== logits.size || targets.size === 0) return DEFAULT_OPS.crossEntropy(logits, targets);
  const n = targets.size;
  const flatLogits = tf.reshape(logits, [n, V]);
  const flatTargets = tf.reshape(targets.dtype === 'int32' ? targets : tf.cast(targets, 'int32'), [n]);
  const f = tf.customGrad((...args: GradArgs) => {
    const { inputs: [lg], save } = splitGradArgs(args, 1);
    const { loss, lse } = crossEntropyForward(lg, flatTargets);
    save([lg, tensor(lse), flatTargets]);
    return {
      value: tf.mean(tensor(loss)),
      gradFunc: (dy: Tensor, saved: Tensor[]) => tensor(crossEntropyBackward(saved[0], saved[1], saved[2], dy)),
    };
  }) as (x: Tensor) => Tensor;
  return f(flatLogits);
}

/** The fused primitives, for the model's ops table. */
export const WEBGPU_OPS: Readonly<Partial<ModelOps>> = Object.freeze({ rmsNorm, rope, attention, crossEntropy });
