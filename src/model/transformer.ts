/**
 * The Transformer language model as a pure function of its parameters:
 * token embedding (+ learned positions) → dropout → blocks → final RMSNorm
 * (pre-norm only) → LM head (tied to the embedding when configured) → logits.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { UserError } from '../pipeline/errors.ts';
import type { Rng } from '../util/rng.ts';
import type { LayerKV } from './attention.ts';
import { param, transformerBlock } from './block.ts';
import type { BlockContext, ParamMap } from './block.ts';
import type { ModelConfig } from './config.ts';
import { ops } from './ops.ts';
import { hasFinalNorm } from './params.ts';
import type { RopeTables } from './rope.ts';

/** Keys/values of every layer for the tokens seen so far. */
export interface KVCache {
  layers: LayerKV[];
  /** Number of cached positions. */
  length: number;
}

export interface LmForwardOptions {
  /** RoPE tables (required when config.position is 'rope'). */
  rope: RopeTables | null;
  /** Training mode enables dropout (needs `rng`). */
  training?: boolean;
  /** Source of dropout seeds (consumed only in training with dropout > 0). */
  rng?: Rng | null;
  /** Cache of earlier tokens: the input continues after them. */
  cache?: KVCache | null;
}

/** Frees a cache's tensors. */
export function disposeCache(cache: KVCache | null | undefined): void {
  if (!cache) return;
  for (const l of cache.layers) { l.k.dispose(); l.v.dispose(); }
}

/**
 * Logits (B, T, vocab) for token ids (B, T) int32, and the K/V cache that
 * includes these tokens. Call inside `tf.tidy` (or dispose the results).
 */
export function lmForward(config: ModelConfig, params: ParamMap, ids: Tensor, options: LmForwardOptions): { logits: Tensor; cache: KVCache } {
  if (ids.rank !== 2) throw new RangeError(`token ids must be (batch, seq), got shape [${ids.shape}]`);
  const T = ids.shape[1] as number;
  const cache = options.cache ?? null;
  const offset = cache ? cache.length : 0;
  if (offset + T > config.context_length) {
    throw new UserError(`sequence of ${offset + T} tokens exceeds the model's context_length ${config.context_length}; use at most ${config.context_length} tokens per window`);
  }
  if (cache && cache.layers.length !== config.num_layers) {
    throw new RangeError(`KV cache has ${cache.layers.length} layers, the model ${config.num_layers}`);
  }
  if (config.position === 'rope' && !options.rope) throw new Error('lmForward: RoPE tables are required for position "rope"');
  const training = options.training === true && config.dropout > 0;
  if (training && !options.rng) throw new Error('lmForward: training with dropout needs an rng');
  const rng = options.rng ?? null;
  const dropoutSeed = training && rng ? (): number => rng.nextUint32() : null;

  const intIds = ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32');
  let x = ops.embedding(param(params, 'token_embeddings.weight'), intIds);
  if (config.position === 'learned') {
    const table = param(params, 'position_embeddings.weight');
    x = tf.add(x, tf.slice(table, [offset, 0], [T, config.d_model]));
  }
  if (dropoutSeed) x = ops.dropout(x, { rate: config.dropout, seed: dropoutSeed() });

  const ctx: BlockContext = {
    config,
    params,
    rope: config.position === 'rope' ? options.rope : null,
    positionOffset: offset,
    dropoutSeed,
  };
  const layers: LayerKV[] = [];
  for (let i = 0; i < config.num_layers; i++) {
    const r = transformerBlock(x, i, ctx, cache ? cache.layers[i] : null);
    x = r.out;
    layers.push(r.kv);
  }
  if (hasFinalNorm(config)) x = ops.rmsNorm(x, param(params, 'ln_final.weight'), config.norm_eps);
  const head = config.tie_embeddings ? param(params, 'token_embeddings.weight') : param(params, 'lm_head.weight');
  return { logits: ops.linear(x, head), cache: { layers, length: offset + T } };
}
