/**
 * A Transformer LM instance: its config, its parameters as trainable
 * `tf.Variable`s (by CS336 name) and its RoPE tables. Thin stateful wrapper
 * around the pure `lmForward`.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.ts';
import type { ModelConfig } from './config.ts';
import { headDim } from './config.ts';
import { initParameters, parameterSpecs, shapeSize } from './params.ts';
import { RopeTables } from './rope.ts';
import { disposeCache, lmForward } from './transformer.ts';
import type { KVCache } from './transformer.ts';

/** Plain parameter values: row-major float32 with their shape. */
export interface ParamArray {
  shape: number[];
  data: Float32Array;
}

export interface ForwardOptions {
  /** Training mode: dropout active (drawn from `rng`). */
  training?: boolean;
  rng?: Rng | null;
}

export class TransformerLM {
  readonly config: ModelConfig;
  /** Trainable parameters by CS336 name, in `parameterSpecs` order. */
  readonly params: Readonly<Record<string, tf.Variable>>;
  private readonly rope: RopeTables | null;
  private disposed = false;

  /**
   * Builds a model from parameter values (shapes must match the config;
   * `loadCheckpoint` validates with user-facing errors first).
   */
  constructor(config: ModelConfig, values: ReadonlyMap<string, ParamArray>) {
    this.config = config;
    const params: Record<string, tf.Variable> = {};
    for (const spec of parameterSpecs(config)) {
      const v = values.get(spec.name);
      if (!v) throw new Error(`missing parameter ${spec.name}`);
      if (v.shape.length !== spec.shape.length || v.shape.some((d, i) => d !== spec.shape[i]) || v.data.length !== shapeSize(spec.shape)) {
        throw new Error(`parameter ${spec.name} has shape [${v.shape}], expected [${spec.shape}]`);
      }
      const initial = tf.tensor(v.data, spec.shape, 'float32');
      params[spec.name] = tf.variable(initial, true);
      initial.dispose(); // the variable holds its own reference to the data

    }
    this.params = params;
    this.rope = config.position === 'rope' ? new RopeTables(headDim(config), config.rope_theta, config.context_length) : null;
  }

  /** A freshly initialized model (2025 handout initialization) drawn from `rng`. */
  static initialize(config: ModelConfig, rng: Rng): TransformerLM {
    return new TransformerLM(config, initParameters(config, rng));
  }

  /** The variables in a stable order (for optimizers and `tf.variableGrads`). */
  variables(): tf.Variable[] {
    return parameterSpecs(this.config).map((s) => this.params[s.name]);
  }

  /** Logits (B, T, vocab) for ids (B, T). The caller owns (disposes) the result. */
  forward(ids: Tensor, options: ForwardOptions = {}): Tensor {
    this.assertAlive();
    return tf.tidy(() => lmForward(this.config, this.params, ids, {
      rope: this.rope, training: options.training, rng: options.rng ?? null,
    }).logits);
  }

  /**
   * Incremental decoding: logits for `ids` continuing after `cache` (null:
   * from position 0) and the extended cache. The previous cache stays valid;
   * dispose it with `disposeCache` when no longer needed.
   */
  forwardWithCache(ids: Tensor, cache: KVCache | null): { logits: Tensor; cache: KVCache } {
    this.assertAlive();
    const flat = tf.tidy(() => {
      const r = lmForward(this.config, this.params, ids, { rope: this.rope, cache });
      return [r.logits, ...r.cache.layers.flatMap((l) => [l.k, l.v])];
    });
    const layers = [];
    for (let i = 1; i < flat.length; i += 2) layers.push({ k: flat[i], v: flat[i + 1] });
    const length = (cache ? cache.length : 0) + (ids.shape[1] as number);
    return { logits: flat[0], cache: { layers, length } };
  }

  /** Parameter values read asynchronously (checkpointing). */
  async exportParameters(): Promise<Map<string, ParamArray>> {
    this.assertAlive();
    const out = new Map<string, ParamArray>();
    for (const spec of parameterSpecs(this.config)) {
      const data = await this.params[spec.name].data();
      out.set(spec.name, { shape: spec.shape.slice(), data: data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>) });
    }
    return out;
  }

  /** Frees the variables and tables. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of Object.values(this.params)) v.dispose();
    this.rope?.dispose();
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('TransformerLM used after dispose()');
  }
}

export { disposeCache };
export type { KVCache };
