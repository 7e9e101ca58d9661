/**
 * Test helper: random model parameters shared by the tfjs model and the
 * float64 reference (same float32 values), and small tensor utilities.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { ModelConfig } from '../src/model/config.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfigInput } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import type { ParamArray } from '../src/model/model.ts';
import { initParameters } from '../src/model/params.ts';
import { Rng } from '../src/util/rng.ts';
import type { RefParams } from './model-reference.ts';

/** A tiny config for fast tests (overridable). */
export function tinyConfig(over: Partial<ModelConfigInput> = {}): ModelConfig {
  return resolveModelConfig({ vocab_size: 23, context_length: 12, d_model: 16, num_layers: 2, num_heads: 2, d_ff: 24, ...over });
}

/**
 * Handout-initialized parameters with the RMSNorm gains perturbed away from
 * 1 (so that a wrong gain would show).
 */
export function randomParams(config: ModelConfig, seed: number): Map<string, ParamArray> {
  const rng = new Rng(seed);
  const values = initParameters(config, rng);
  for (const [name, v] of values) {
    if (name.endsWith('ln1.weight') || name.endsWith('ln2.weight') || name === 'ln_final.weight') {
      for (let i = 0; i < v.data.length; i++) v.data[i] = 1 + 0.3 * rng.normal();
    }
  }
  return values;
}

export function toRef(values: Map<string, ParamArray>): RefParams {
  const out: RefParams = new Map();
  for (const [k, v] of values) out.set(k, Float64Array.from(v.data));
  return out;
}

export function toTensors(values: Map<string, ParamArray>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of values) out[k] = tf.tensor(v.data, v.shape, 'float32');
  return out;
}

export function modelFrom(config: ModelConfig, seed: number): { model: TransformerLM; ref: RefParams } {
  const values = randomParams(config, seed);
  return { model: new TransformerLM(config, values), ref: toRef(values) };
}

/** Random token ids (B rows of T). */
export function randomIds(b: number, t: number, vocab: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.intBelow(vocab)));
}

export function idsTensor(ids: number[][]): Tensor {
  return tf.tensor2d(ids.flat(), [ids.length, ids[0].length], 'int32');
}

/** Gaussian float32 values of a shape (row-major) and the same as a tensor. */
export function randomTensor(shape: number[], seed: number, scale = 1): { data: Float32Array; t: Tensor } {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = scale * rng.normal();
  return { data, t: tf.tensor(data, shape, 'float32') };
}
