/**
 * Gradient clipping by the global L2 norm (torch `clip_grad_norm_`, as the
 * CS336 handout asks): with total = ‖all gradients‖₂, every gradient is
 * scaled by min(1, maxNorm/(total + ε)), ε = 1e-6. Parameters without a
 * gradient are skipped. Everything stays on the device: the norm is returned
 * as a scalar tensor so the caller can read it asynchronously (`await
 * norm.data()`), never with dataSync.
 */
import * as tf from '@tensorflow/tfjs';
import type { Scalar, Tensor } from '@tensorflow/tfjs';

export const CLIP_EPS = 1e-6;

/** Global L2 norm of the gradients as a scalar tensor (caller disposes). */
export function globalNorm(grads: Readonly<Record<string, Tensor | null | undefined>>): Scalar {
  return tf.tidy(() => {
    const squares = Object.values(grads).filter((g): g is Tensor => g != null).map((g) => tf.sum(tf.square(g)));
    if (squares.length === 0) return tf.scalar(0);
    return tf.sqrt(tf.addN(squares)) as Scalar;
  });
}

/**
 * Clipped copies of `grads` and their global norm before clipping. The input
 * tensors are not disposed; the returned ones belong to the caller.
 * `maxNorm` of Infinity (or <= 0) disables the scaling but still reports the norm.
 */
export function clipGradNorm(
  grads: Readonly<Record<string, Tensor | null | undefined>>,
  maxNorm: number,
  eps: number = CLIP_EPS,
): { grads: Record<string, Tensor>; norm: Scalar } {
  const norm = globalNorm(grads);
  const out: Record<string, Tensor> = {};
  const enabled = Number.isFinite(maxNorm) && maxNorm > 0;
  const coef = enabled ? tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(norm, eps)), 1)) : null;
  for (const [name, g] of Object.entries(grads)) {
    if (g == null) continue;
    out[name] = coef ? tf.mul(g, coef) : tf.clone(g);
  }
  coef?.dispose();
  return { grads: out, norm };
}
