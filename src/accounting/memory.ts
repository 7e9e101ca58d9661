/**
 * AdamW training memory as `a·batch_size + b` bytes: parameters, gradients
 * and the two AdamW moments (b), plus the activations kept for the backward
 * pass (a, per sequence). The activation list is the CS336 2025 handout's
 * (adamwAccounting), applied to whatever architecture the config describes.
 */
import type { ModelConfig } from '../model/config.ts';
import { finalNorms, normsPerLayer } from './parameters.ts';

export type Dtype = 'fp32' | 'bf16';

/** Bytes per stored value. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = Object.freeze({ fp32: 4, bf16: 2 });

/** One activation of the handout's list, summed over the layers. */
export interface ActivationItem {
  name: string;
  formula: string;
  /** Values stored for one sequence. */
  elements: number;
}

/**
 * Activations stored per sequence of `tokens` tokens. Per layer: RMSNorm
 * outputs, Q/K/V projections, QᵀK scores, softmax probabilities, the weighted
 * sum of values, the output projection, the W1 (and, for SwiGLU, W3) outputs,
 * the SiLU/GELU output and the W2 output; then the final RMSNorm, the logits
 * (output embedding) and the cross-entropy's softmax over the logits.
 */
export function activationItems(config: ModelConfig, tokens: number = config.context_length): ActivationItem[] {
  const { d_model: D, d_ff: F, vocab_size: V, num_layers: L, num_heads: H } = config;
  const T = tokens;
  const norms = normsPerLayer(config);
  const act = config.ffn === 'gelu' ? 'gelu' : 'silu';
  const items: ActivationItem[] = [
    { name: 'rmsnorms', formula: `layers·${norms}·T·D`, elements: L * norms * T * D },
    { name: 'qkv_projections', formula: 'layers·3·T·D', elements: L * 3 * T * D },
    { name: 'qk_scores', formula: 'layers·heads·T²', elements: L * H * T * T },
    { name: 'softmax', formula: 'layers·heads·T²', elements: L * H * T * T },
    { name: 'weighted_values', formula: 'layers·T·D', elements: L * T * D },
    { name: 'output_projection', formula: 'layers·T·D', elements: L * T * D },
    { name: 'ffn_w1', formula: 'layers·T·d_ff', elements: L * T * F },
  ];
  if (config.ffn === 'swiglu') items.push({ name: 'ffn_w3', formula: 'layers·T·d_ff', elements: L * T * F });
  items.push(
    { name: `ffn_${act}`, formula: 'layers·T·d_ff', elements: L * T * F },
    { name: 'ffn_w2', formula: 'layers·T·D', elements: L * T * D },
    { name: 'final_rmsnorm', formula: `${finalNorms(config)}·T·D`, elements: finalNorms(config) * T * D },
    { name: 'logits', formula: 'T·V', elements: T * V },
    { name: 'cross_entropy', formula: 'T·V', elements: T * V },
  );
  return items.filter((i) => i.elements > 0);
}

export interface TrainingMemory {
  dtype: Dtype;
  bytesPerValue: number;
  parameters: number;
  gradients: number;
  /** AdamW first and second moments. */
  optimizerState: number;
  activationItems: ActivationItem[];
  /** Bytes per sequence in the batch (activations). */
  a: number;
  /** Bytes independent of the batch (parameters + gradients + optimizer state). */
  b: number;
}

/** Training memory for `parameterCount` parameters, every tensor stored in `dtype`. */
export function trainingMemory(config: ModelConfig, parameterCount: number, dtype: Dtype, tokens: number = config.context_length): TrainingMemory {
  const bytes = DTYPE_BYTES[dtype];
  const items = activationItems(config, tokens);
  const parameters = parameterCount * bytes;
  const gradients = parameterCount * bytes;
  const optimizerState = 2 * parameterCount * bytes;
  const a = items.reduce((s, i) => s + i.elements, 0) * bytes;
  return { dtype, bytesPerValue: bytes, parameters, gradients, optimizerState, activationItems: items, a, b: parameters + gradients + optimizerState };
}

/** Bytes needed at a given batch size. */
export function memoryAtBatch(mem: TrainingMemory, batch: number): number {
  return mem.a * batch + mem.b;
}

/** The largest batch whose memory fits in `budgetBytes` (0 when none does). */
export function maxBatch(mem: TrainingMemory, budgetBytes: number): number {
  if (budgetBytes < mem.b + mem.a) return 0;
  return Math.floor((budgetBytes - mem.b) / mem.a);
}
