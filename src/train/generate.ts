/**
 * Autoregressive generation with the model's KV cache: the prompt is run
 * once (prefill), then each new token is fed alone with the cache of the
 * earlier ones. When the window reaches the model's context_length, the
 * cache is rebuilt from the last ⌈context_length/2⌉ tokens (a sliding
 * window; recomputing every step instead would cost O(context) per token).
 * Logits are read with `await t.data()`.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { TransformerLM } from '../model/model.ts';
import { disposeCache } from '../model/model.ts';
import type { KVCache } from '../model/model.ts';
import type { Rng } from '../util/rng.ts';
import { checkSamplingOptions, sampleNextToken } from './sampling.ts';
import type { SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  /** Maximum number of new tokens. */
  maxTokens: number;
  /** Token ids that end generation (not yielded), e.g. <|endoftext|>. */
  stopIds?: readonly number[];
  /** Called with the last-position logits of every step (tests, inspection). */
  onLogits?: (logits: Float32Array) => void;
}

/** Why generation ended. */
export type StopReason = 'stop-token' | 'max-tokens';

/** Last-position logits of (1, T, V) as a Float32Array (async read). */
async function lastLogits(logits: Tensor): Promise<Float32Array> {
  const [, T, V] = logits.shape as [number, number, number];
  const row = tf.tidy(() => tf.reshape(tf.slice(logits, [0, T - 1, 0], [1, 1, V]), [V]));
  const data = await row.data();
  row.dispose();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

/**
 * Yields new token ids one at a time (streaming). Returns the stop reason.
 * The prompt must hold at least one token; only its last context_length
 * tokens are used.
 */
export async function* generateTokens(
  model: TransformerLM,
  prompt: readonly number[],
  options: GenerateOptions,
  rng: Rng,
): AsyncGenerator<number, StopReason> {
  checkSamplingOptions(options);
  if (prompt.length === 0) throw new RangeError('generation needs a prompt of at least one token (e.g. <|endoftext|>)');
  const ctx = model.config.context_length;
  const stop = new Set(options.stopIds ?? []);
  const history = [...prompt];
  let cache: KVCache | null = null;

  const run = async (ids: number[], past: KVCache | null): Promise<Float32Array> => {
    const x = tf.tensor2d([ids], [1, ids.length], 'int32');
    const { logits, cache: next } = model.forwardWithCache(x, past);
    x.dispose();
    disposeCache(cache);
    cache = next;
    try {
      return await lastLogits(logits);
    } finally {
      logits.dispose();
    }
  };

  try {
    let logits = await run(history.slice(-ctx), null);
    for (let n = 0; n < options.maxTokens; n++) {
      options.onLogits?.(logits);
      const id = sampleNextToken(logits, options, rng);
      if (stop.has(id)) return 'stop-token';
      yield id;
      history.push(id);
      if (n + 1 === options.maxTokens) break;
      const c = cache as KVCache | null;
      if (c && c.length < ctx) logits = await run([id], c);
      else logits = await run(history.slice(-Math.ceil(ctx / 2)), null);
    }
    return 'max-tokens';
  } finally {
    disposeCache(cache);
  }
}

/**
 * Incremental UTF-8 decoding of token bytes: a character split across
 * tokens is emitted once complete; invalid sequences become U+FFFD.
 */
export class StreamingTextDecoder {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  /** Text completed by these bytes. */
  push(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Whatever is pending at the end (an incomplete character becomes U+FFFD). */
  flush(): string {
    return this.decoder.decode();
  }
}
