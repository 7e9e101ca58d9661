/**
 * One Transformer block in the configured arrangement:
 * - pre-norm (default):  h = x + A(N1(x));  y = h + F(N2(h))
 * - post-norm:           h = N1(x + A(x));  y = N2(h + F(h))
 * - no norm:             h = x + A(x);      y = h + F(h)
 * - parallel (2024 handout Eq. 14, one norm): pre: y = x + A(N1(x)) + F(N1(x));
 *   post: y = N1(x + A(x) + F(x)); none: y = x + A(x) + F(x)
 * Residual dropout (2024 handout) is applied to each sublayer output before
 * it is added to the residual stream.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { ModelConfig } from './config.ts';
import { multiHeadSelfAttention } from './attention.ts';
import type { LayerKV } from './attention.ts';
import { feedForward } from './ffn.ts';
import { ops } from './ops.ts';
import type { RopeTables } from './rope.ts';

/** Parameter lookup by CS336 name. */
export type ParamMap = Readonly<Record<string, Tensor>>;

/** Per-forward-pass settings shared by all blocks. */
export interface BlockContext {
  config: ModelConfig;
  params: ParamMap;
  rope: RopeTables | null;
  /** Position of the first input token. */
  positionOffset: number;
  /** Explicit token positions for RoPE (int32, (B, T) or (T)). */
  positions?: Tensor | null;
  /** Draws a fresh dropout seed, or null when dropout is inactive (evaluation). */
  dropoutSeed: (() => number) | null;
}

/** Looks up a parameter, with a clear error when it is missing. */
export function param(params: ParamMap, name: string): Tensor {
  const t = params[name];
  if (!t) throw new Error(`missing model parameter "${name}"`);
  return t;
}

function residualDropout(x: Tensor, ctx: BlockContext): Tensor {
  const rate = ctx.config.dropout;
  if (!ctx.dropoutSeed || rate <= 0) return x;
  return ops.dropout(x, { rate, seed: ctx.dropoutSeed() });
}

/** Applies block `layer` to x (B, T, d_model); returns the output and the layer's K/V. */
export function transformerBlock(x: Tensor, layer: number, ctx: BlockContext, past: LayerKV | null = null): { out: Tensor; kv: LayerKV } {
  const { config, params } = ctx;
  const p = `layers.${layer}.`;
  const norm = (name: string, h: Tensor): Tensor => ops.rmsNorm(h, param(params, `${p}${name}.weight`), config.norm_eps);
  const attnDropout = ctx.dropoutSeed && config.dropout > 0 ? { rate: config.dropout, seed: ctx.dropoutSeed() } : null;
  const attn = (h: Tensor): { out: Tensor; kv: LayerKV } => multiHeadSelfAttention(h, {
    q: param(params, `${p}attn.q_proj.weight`),
    k: param(params, `${p}attn.k_proj.weight`),
    v: param(params, `${p}attn.v_proj.weight`),
    output: param(params, `${p}attn.output_proj.weight`),
  }, {
    numHeads: config.num_heads,
    rope: ctx.rope,
    positionOffset: ctx.positionOffset,
    positions: ctx.positions ?? null,
    past,
    dropout: attnDropout,
  });
  const ffn = (h: Tensor): Tensor => feedForward(h, {
    w1: param(params, `${p}ffn.w1.weight`),
    w2: param(params, `${p}ffn.w2.weight`),
    w3: config.ffn === 'swiglu' ? param(params, `${p}ffn.w3.weight`) : null,
  }, config.ffn);

  if (config.parallel) {
    const h = config.norm === 'pre' ? norm('ln1', x) : x;
    const a = attn(h);
    const sum = tf.add(tf.add(x, residualDropout(a.out, ctx)), residualDropout(ffn(h), ctx));
    return { out: config.norm === 'post' ? norm('ln1', sum) : sum, kv: a.kv };
  }
  if (config.norm === 'pre') {
    const a = attn(norm('ln1', x));
    const h = tf.add(x, residualDropout(a.out, ctx));
    return { out: tf.add(h, residualDropout(ffn(norm('ln2', h)), ctx)), kv: a.kv };
  }
  const a = attn(x);
  let h = tf.add(x, residualDropout(a.out, ctx));
  if (config.norm === 'post') h = norm('ln1', h);
  let y = tf.add(h, residualDropout(ffn(h), ctx));
  if (config.norm === 'post') y = norm('ln2', y);
  return { out: y, kv: a.kv };
}
