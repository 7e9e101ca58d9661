/**
 * The model's parameters by their CS336 state-dict names, their shapes, and
 * their initialization (2025 handout §3.4.1): Linear weights
 * N(0, 2/(d_in+d_out)) truncated at ±3σ, embeddings N(0, 1) truncated at ±3,
 * RMSNorm gains 1.
 */
import type { ModelConfig } from './config.ts';
import type { Rng } from '../util/rng.ts';

export type InitKind = 'linear' | 'embedding' | 'ones';

/** One parameter: its checkpoint name, shape (torch convention) and init. */
export interface ParamSpec {
  name: string;
  shape: number[];
  init: InitKind;
}

/** Whether blocks carry ln1/ln2 (and whether the LM has ln_final). */
function blockNorms(config: ModelConfig): string[] {
  if (config.norm === 'none') return [];
  return config.parallel ? ['ln1'] : ['ln1', 'ln2'];
}

/**
 * ln_final exists for pre-norm only: a post-norm block already ends with a
 * norm, and `norm: none` removes every norm.
 */
export function hasFinalNorm(config: ModelConfig): boolean {
  return config.norm === 'pre';
}

/** Every parameter of the model, in a stable order. */
export function parameterSpecs(config: ModelConfig): ParamSpec[] {
  const { vocab_size: V, context_length: L, d_model: D, d_ff: F } = config;
  const specs: ParamSpec[] = [{ name: 'token_embeddings.weight', shape: [V, D], init: 'embedding' }];
  if (config.position === 'learned') specs.push({ name: 'position_embeddings.weight', shape: [L, D], init: 'embedding' });
  const norms = blockNorms(config);
  for (let i = 0; i < config.num_layers; i++) {
    const p = `layers.${i}.`;
    if (norms.includes('ln1')) specs.push({ name: `${p}ln1.weight`, shape: [D], init: 'ones' });
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'output_proj']) {
      specs.push({ name: `${p}attn.${proj}.weight`, shape: [D, D], init: 'linear' });
    }
    if (norms.includes('ln2')) specs.push({ name: `${p}ln2.weight`, shape: [D], init: 'ones' });
    specs.push({ name: `${p}ffn.w1.weight`, shape: [F, D], init: 'linear' });
    specs.push({ name: `${p}ffn.w2.weight`, shape: [D, F], init: 'linear' });
    if (config.ffn === 'swiglu') specs.push({ name: `${p}ffn.w3.weight`, shape: [F, D], init: 'linear' });
  }
  if (hasFinalNorm(config)) specs.push({ name: 'ln_final.weight', shape: [D], init: 'ones' });
  if (!config.tie_embeddings) specs.push({ name: 'lm_head.weight', shape: [V, D], init: 'linear' });
  return specs;
}

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Total parameter count. */
export function countParameters(config: ModelConfig): number {
  return parameterSpecs(config).reduce((s, p) => s + shapeSize(p.shape), 0);
}

/** Fresh values for one parameter, drawn from `rng` (row-major, float32). */
export function initParameter(spec: ParamSpec, rng: Rng): Float32Array {
  const out = new Float32Array(shapeSize(spec.shape));
  if (spec.init === 'ones') return out.fill(1);
  if (spec.init === 'embedding') return rng.fillTruncatedNormal(out, 0, 1, -3, 3);
  const [dOut, dIn] = spec.shape;
  const std = Math.sqrt(2 / (dIn + dOut));
  return rng.fillTruncatedNormal(out, 0, std, -3 * std, 3 * std);
}

/** Initial values of every parameter, in `parameterSpecs` order. */
export function initParameters(config: ModelConfig, rng: Rng): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const spec of parameterSpecs(config)) out.set(spec.name, { shape: spec.shape, data: initParameter(spec, rng) });
  return out;
}
