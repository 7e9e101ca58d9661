/**
 * Parameter counts by component, from the architecture's shapes alone (no
 * model is built): embeddings V·D, attention 4·D² per layer, FFN 3·D·F
 * (SwiGLU) or 2·D·F (GELU/SiLU) per layer, RMSNorm gains D each, LM head V·D
 * unless tied.
 */
import type { ModelConfig } from '../model/config.ts';

/** One row of the parameter table. */
export interface ParameterComponent {
  /** Stable key (JSON). */
  name: string;
  /** The formula, for humans. */
  formula: string;
  count: number;
  /** Parameters of one block, for the per-layer components. */
  per_layer?: number;
}

export interface ParameterBreakdown {
  components: ParameterComponent[];
  total: number;
  /** Everything but the token and position embeddings (the handout's "non-embedding" count keeps the LM head). */
  nonEmbedding: number;
}

/**
 * RMSNorms inside one block: two (before/after attention and FFN) in the
 * sequential arrangement, one shared by both branches in the parallel one,
 * none with `norm: none`.
 */
export function normsPerLayer(config: ModelConfig): number {
  if (config.norm === 'none') return 0;
  return config.parallel ? 1 : 2;
}

/** The final RMSNorm exists only for pre-norm (a post-norm block already ends with one). */
export function finalNorms(config: ModelConfig): number {
  return config.norm === 'pre' ? 1 : 0;
}

/** Weight matrices of one feed-forward network: w1, w2 (+ w3 for SwiGLU). */
export function ffnMatrices(config: ModelConfig): number {
  return config.ffn === 'swiglu' ? 3 : 2;
}

/** Parameters of every component and the total. */
export function parameterBreakdown(config: ModelConfig): ParameterBreakdown {
  const { vocab_size: V, context_length: T, d_model: D, d_ff: F, num_layers: L } = config;
  const nNorms = L * normsPerLayer(config) + finalNorms(config);
  const components: ParameterComponent[] = [
    { name: 'token_embeddings', formula: 'V·D', count: V * D },
    { name: 'position_embeddings', formula: config.position === 'learned' ? 'context·D' : `0 (position: ${config.position})`, count: config.position === 'learned' ? T * D : 0 },
    { name: 'attention', formula: 'layers·4·D²', count: L * 4 * D * D, per_layer: 4 * D * D },
    { name: 'ffn', formula: `layers·${ffnMatrices(config)}·D·d_ff`, count: L * ffnMatrices(config) * D * F, per_layer: ffnMatrices(config) * D * F },
    { name: 'norms', formula: `${nNorms}·D (RMSNorm gains)`, count: nNorms * D, per_layer: normsPerLayer(config) * D },
    { name: 'lm_head', formula: config.tie_embeddings ? '0 (tied to token embeddings)' : 'V·D', count: config.tie_embeddings ? 0 : V * D },
  ];
  const total = components.reduce((s, c) => s + c.count, 0);
  const embeddings = components[0].count + components[1].count;
  return { components, total, nonEmbedding: total - embeddings };
}
