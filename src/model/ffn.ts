/**
 * Position-wise feed-forward networks: SwiGLU (2025 handout),
 * w2(SiLU(w1 x) ⊙ w3 x); the 2024 handout's GELU FFN, w2(GELU(w1 x)); and
 * the ungated SiLU ablation, w2(SiLU(w1 x)).
 */
import type { Tensor } from '@tensorflow/tfjs';
import type { FfnKind } from './config.ts';
import { ops } from './ops.ts';

/** w1, w3: (d_ff, d_model); w2: (d_model, d_ff); w3 only for SwiGLU. */
export interface FfnWeights {
  w1: Tensor;
  w2: Tensor;
  w3?: Tensor | null;
}

/** Applies the feed-forward network of the given kind to x (..., d_model). */
export function feedForward(x: Tensor, w: FfnWeights, kind: FfnKind): Tensor {
  const h = ops.linear(x, w.w1);
  if (kind === 'swiglu') {
    if (!w.w3) throw new Error('SwiGLU feed-forward needs the w3 weight');
    return ops.linear(ops.swiglu(h, ops.linear(x, w.w3)), w.w2);
  }
  return ops.linear(kind === 'gelu' ? ops.gelu(h) : ops.silu(h), w.w2);
}
