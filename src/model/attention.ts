/**
 * Causal multi-head self-attention with optional RoPE and a key/value cache
 * for incremental decoding. The cache holds each layer's keys (after RoPE)
 * and values as (batch, heads, T_past, d_head); attending with it gives the
 * same result as recomputing the whole prefix.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { ops } from './ops.ts';
import type { DropoutSpec } from './ops.ts';
import { applyRope } from './rope.ts';
import type { RopeTables } from './rope.ts';

/** Projection weights, each (d_model, d_model) in torch layout (heads stacked along rows). */
export interface AttentionWeights {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  output: Tensor;
}

/** One layer's cached keys and values, (B, H, T_past, d_head). */
export interface LayerKV {
  k: Tensor;
  v: Tensor;
}

export interface SelfAttentionOptions {
  numHeads: number;
  /** RoPE tables (null: no rotary embedding). */
  rope?: RopeTables | null;
  /** Position of the first input token for RoPE (default: the cached length). */
  positionOffset?: number;
  /** Explicit token positions (int32, broadcastable to (B, T)); overrides `positionOffset` for RoPE. */
  positions?: Tensor | null;
  /** Cached keys/values of earlier tokens. */
  past?: LayerKV | null;
  /** Attention-probability dropout (training only). */
  dropout?: DropoutSpec | null;
}

/** (B, T, H·dh) → (B, H, T, dh). */
export function splitHeads(x: Tensor, numHeads: number): Tensor {
  const [b, t, d] = x.shape;
  return tf.transpose(tf.reshape(x, [b, t, numHeads, d / numHeads]), [0, 2, 1, 3]);
}

/** (B, H, T, dh) → (B, T, H·dh). */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, dh] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * dh]);
}

/**
 * Causal self-attention of x (B, T, d_model). Returns the output and this
 * layer's keys/values including `past` (for the next decoding step).
 */
export function multiHeadSelfAttention(x: Tensor, w: AttentionWeights, options: SelfAttentionOptions): { out: Tensor; kv: LayerKV } {
  const { numHeads } = options;
  const past = options.past ?? null;
  const pastLen = past ? past.k.shape[2] : 0;
  const offset = options.positionOffset ?? pastLen;
  let q = splitHeads(ops.linear(x, w.q), numHeads);
  let k = splitHeads(ops.linear(x, w.k), numHeads);
  const vNew = splitHeads(ops.linear(x, w.v), numHeads);
  if (options.rope) {
    // Positions (B, T) must broadcast over the head axis of (B, H, T, dh).
    const pos = options.positions ? (options.positions.rank === 2 ? tf.expandDims(options.positions, 1) : options.positions) : offset;
    q = applyRope(q, options.rope, pos);
    k = applyRope(k, options.rope, pos);
  }
  const kAll = past ? tf.concat([past.k, k], 2) : k;
  const vAll = past ? tf.concat([past.v, vNew], 2) : vNew;
  const heads = ops.attention(q, kAll, vAll, { causal: true, causalOffset: pastLen, dropout: options.dropout ?? null });
  return { out: ops.linear(mergeHeads(heads), w.output), kv: { k: kAll, v: vAll } };
}
