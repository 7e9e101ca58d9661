/**
 * The tensor primitives the Transformer is built from, behind one mutable
 * table (`ops`) so that a backend can swap in fused or native kernels
 * (`overrideOps`) without touching the model code. The defaults are written
 * with TensorFlow.js core ops and autograd; none of them reads tensor data
 * synchronously, so they run on backends that forbid `dataSync` (WebGPU).
 *
 * Conventions: weights follow torch (`W: (d_out, d_in)`, `y = x Wᵀ`); float32.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';

/** Attention options. */
export interface AttentionOptions {
  /**
   * Causal masking. With `causalOffset = o` (o cached keys before the
   * queries), query i may attend to keys 0..o+i.
   */
  causal?: boolean;
  causalOffset?: number;
  /** Explicit boolean mask broadcastable to (..., Tq, Tk): true = may attend (2025 polarity). */
  mask?: Tensor | null;
  /** Dropout on the attention probabilities (pass only in training). */
  dropout?: DropoutSpec | null;
}

/** Dropout parameters: keep each value with probability 1 - rate; `seed` makes the mask reproducible. */
export interface DropoutSpec {
  rate: number;
  seed: number;
}

/** The overridable primitive table. */
export interface ModelOps {
  /** y = x Wᵀ for x (..., d_in), W (d_out, d_in). */
  linear(x: Tensor, w: Tensor): Tensor;
  /** Rows of `weight` (vocab, d) selected by integer `ids` of any shape → ids.shape + [d]. */
  embedding(weight: Tensor, ids: Tensor): Tensor;
  /** x / sqrt(mean(x², last axis) + eps) · w. */
  rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor;
  /** Max-subtracted softmax along `axis` with an analytic gradient. */
  softmax(x: Tensor, axis?: number): Tensor;
  /** Mean cross-entropy of `logits` (..., V) against integer `targets` (...). */
  crossEntropy(logits: Tensor, targets: Tensor): Tensor;
  /** x · sigmoid(x). */
  silu(x: Tensor): Tensor;
  /** Exact GELU: x · Φ(x) = ½x(1 + erf(x/√2)). */
  gelu(x: Tensor): Tensor;
  /** SwiGLU's gate, silu(a) ⊙ b, for same-shaped a and b. */
  swiglu(a: Tensor, b: Tensor): Tensor;
  /**
   * Rotary embedding of x (..., T, d) with interleaved tables (T, d):
   * `cos` = [c0, c0, c1, c1, …], `sin` = [−s0, s0, −s1, s1, …], so that
   * out = x·cos + swapPairs(x)·sin.
   */
  rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor;
  /** softmax(q kᵀ/√d + mask) v for q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv). */
  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor;
  /** Inverted dropout: zero with probability `rate`, scale survivors by 1/(1-rate). */
  dropout(x: Tensor, spec: DropoutSpec): Tensor;
}

function linear(x: Tensor, w: Tensor): Tensor {
  const dIn = x.shape[x.shape.length - 1] as number;
  const dOut = w.shape[0] as number;
  if (w.shape.length !== 2 || w.shape[1] !== dIn) {
    throw new Error(`linear: weight shape [${w.shape}] does not match input feature size ${dIn}`);
  }
  if (x.rank === 2) return tf.matMul(x, w, false, true);
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(tf.reshape(x, [-1, dIn]), w, false, true);
  return tf.reshape(y, [...lead, dOut]);
}

function embedding(weight: Tensor, ids: Tensor): Tensor {
  const d = weight.shape[1] as number;
  if (ids.rank === 1) return tf.gather(weight, ids);
  const rows = tf.gather(weight, tf.reshape(ids, [-1]));
  return tf.reshape(rows, [...ids.shape, d]);
}

function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
  return tf.mul(tf.mul(x, inv), w);
}

const softmaxByAxis = new Map<number, (x: Tensor) => Tensor>();

function softmax(x: Tensor, axis = -1): Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  let f = softmaxByAxis.get(ax);
  if (!f) {
    f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const input = args[0] as Tensor;
      const save = args[1] as tf.GradSaveFunc;
      const shifted = tf.sub(input, tf.max(input, ax, true));
      const e = tf.exp(shifted);
      const y = tf.div(e, tf.sum(e, ax, true));
      save([y]);
      return {
        value: y,
        // dL/dx = y ⊙ (dy − Σ(dy ⊙ y))
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const s = saved[0];
          return tf.mul(s, tf.sub(dy, tf.sum(tf.mul(dy, s), ax, true)));
        },
      };
    }) as (x: Tensor) => Tensor;
    softmaxByAxis.set(ax, f);
  }
  return f(x);
}

function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  const V: number = logits.shape[logits.shape.length - 1];
  const flatLogits = tf.reshape(logits, [-1, V]);
  const flatTargets = tf.reshape(tf.cast(targets, 'int32'), [-1]);
  const n: number = flatTargets.shape[0];
  if (flatLogits.shape[0] !== n) {
    throw new Error(`crossEntropy: logits [${logits.shape}] and targets [${targets.shape}] disagree`);
  }
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const lg = args[0] as Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const m = tf.max(lg, -1, true);
    const lse = tf.add(tf.log(tf.sum(tf.exp(tf.sub(lg, m)), -1, true)), m); // (n, 1)
    const picked = tf.gather(lg, tf.reshape(flatTargets, [n, 1]), 1, 1); // (n, 1)
    save([lg, lse]);
    return {
      value: tf.mean(tf.sub(lse, picked)),
      // d mean(lse − x_t) / dx = (softmax(x) − onehot(t)) / n
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [x, l] = saved;
        const p = tf.exp(tf.sub(x, l));
        const oneHot = tf.oneHot(flatTargets, V, 1, 0, 'float32');
        return tf.mul(tf.sub(p, oneHot), tf.div(dy, n));
      },
    };
  }) as (x: Tensor) => Tensor;
  return f(flatLogits);
}

function silu(x: Tensor): Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

function swiglu(a: Tensor, b: Tensor): Tensor {
  return tf.mul(ops.silu(a), b);
}

function gelu(x: Tensor): Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** (x0, x1, x2, x3, …) → (x1, x0, x3, x2, …) along the last axis. */
function swapPairs(x: Tensor): Tensor {
  const d = x.shape[x.shape.length - 1];
  const pairs = tf.reshape(x, [-1, d / 2, 2]);
  return tf.reshape(tf.reverse(pairs, -1), x.shape);
}

function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return tf.add(tf.mul(x, cos), tf.mul(swapPairs(x), sin));
}

/** Additive causal bias (Tq, Tk): 0 where key j <= offset + i, −∞ elsewhere. */
export function causalBias(tq: number, tk: number, offset: number): Tensor {
  const data = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) {
    const last = offset + i;
    for (let j = last + 1; j < tk; j++) data[i * tk + j] = -Infinity;
  }
  return tf.tensor2d(data, [tq, tk]);
}

function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const d = q.shape[q.shape.length - 1];
  let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d));
  const tq = q.shape[q.shape.length - 2];
  const tk = k.shape[k.shape.length - 2];
  if (options.causal) scores = tf.add(scores, causalBias(tq, tk, options.causalOffset ?? tk - tq));
  if (options.mask) {
    const allowed = options.mask.dtype === 'bool' ? options.mask : tf.cast(options.mask, 'bool');
    scores = tf.add(scores, tf.where(allowed, tf.scalar(0), tf.scalar(-Infinity)));
  }
  let probs = ops.softmax(scores, -1);
  if (options.dropout && options.dropout.rate > 0) probs = ops.dropout(probs, options.dropout);
  return tf.matMul(probs, v);
}

function dropout(x: Tensor, spec: DropoutSpec): Tensor {
  if (spec.rate <= 0) return x;
  const keep = tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', spec.seed), spec.rate);
  return tf.mul(x, tf.mul(tf.cast(keep, 'float32'), 1 / (1 - spec.rate)));
}

/** The TensorFlow.js-core implementations (always available for fallbacks). */
export const DEFAULT_OPS: Readonly<ModelOps> = Object.freeze({
  linear, embedding, rmsNorm, softmax, crossEntropy, silu, gelu, swiglu, rope, attention, dropout,
});

/** The live table the model calls through. */
export const ops: ModelOps = { ...DEFAULT_OPS };

/**
 * Replaces some primitives (e.g. with a backend's fused kernels) and returns
 * a function that restores the previous ones.
 */
export function overrideOps(replacements: Partial<ModelOps>): () => void {
  const previous: Partial<ModelOps> = {};
  for (const key of Object.keys(replacements) as (keyof ModelOps)[]) {
    (previous as Record<string, unknown>)[key] = ops[key];
  }
  Object.assign(ops, replacements);
  return () => { Object.assign(ops, previous); };
}
