/**
 * Rotary position embedding (RoFormer; CS336 2025 §3.5.3): the interleaved
 * pair (x[2i], x[2i+1]) at position p is rotated by the angle p·θ^(−2i/d).
 * The cos/sin tables are computed once in float64 for every position up to
 * `maxSeqLen` and stored float32 in the interleaved layout `ops.rope` takes.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { ops } from './ops.ts';

/** Precomputed interleaved tables: cos (L, d), signed sin (L, d). */
export class RopeTables {
  readonly dim: number;
  readonly theta: number;
  readonly maxSeqLen: number;
  readonly cos: tf.Tensor2D;
  readonly sin: tf.Tensor2D;

  constructor(dim: number, theta: number, maxSeqLen: number) {
    if (dim % 2 !== 0) throw new RangeError(`RoPE needs an even dimension, got ${dim}`);
    this.dim = dim;
    this.theta = theta;
    this.maxSeqLen = maxSeqLen;
    const c = new Float32Array(maxSeqLen * dim);
    const s = new Float32Array(maxSeqLen * dim);
    for (let p = 0; p < maxSeqLen; p++) {
      for (let i = 0; i < dim / 2; i++) {
        const angle = p * Math.pow(theta, (-2 * i) / dim);
        const cv = Math.cos(angle);
        const sv = Math.sin(angle);
        const o = p * dim + 2 * i;
        c[o] = cv;
        c[o + 1] = cv;
        s[o] = -sv;
        s[o + 1] = sv;
      }
    }
    this.cos = tf.keep(tf.tensor2d(c, [maxSeqLen, dim]));
    this.sin = tf.keep(tf.tensor2d(s, [maxSeqLen, dim]));
  }

  /**
   * Table rows for the given positions: a start offset (positions
   * offset..offset+length-1) or an explicit int32 tensor of positions.
   */
  rows(positions: number | Tensor, length: number): { cos: Tensor; sin: Tensor } {
    if (typeof positions === 'number') {
      if (positions < 0 || positions + length > this.maxSeqLen) {
        throw new RangeError(`RoPE positions ${positions}..${positions + length - 1} exceed the table length ${this.maxSeqLen}`);
      }
      return {
        cos: tf.slice(this.cos, [positions, 0], [length, this.dim]),
        sin: tf.slice(this.sin, [positions, 0], [length, this.dim]),
      };
    }
    const idx = tf.cast(positions, 'int32');
    return { cos: ops.embedding(this.cos, idx), sin: ops.embedding(this.sin, idx) };
  }

  /** Frees the tables. */
  dispose(): void {
    this.cos.dispose();
    this.sin.dispose();
  }
}

/**
 * Applies RoPE to x (..., T, d). `positions` is a start offset or an int32
 * tensor of token positions broadcastable to (..., T).
 */
export function applyRope(x: Tensor, tables: RopeTables, positions: number | Tensor = 0): Tensor {
  const t = x.shape[x.shape.length - 2];
  const d = x.shape[x.shape.length - 1];
  if (d !== tables.dim) throw new RangeError(`RoPE table dimension ${tables.dim} does not match input dimension ${d}`);
  const { cos, sin } = tables.rows(positions, t);
  return ops.rope(x, cos, sin);
}
