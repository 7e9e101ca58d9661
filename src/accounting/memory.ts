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

/**
 * How a backend runs the model's hot ops, which decides what a step keeps:
 * `fused` (the native backend's kernels) never stores the T×T attention
 * scores (tiles, with the log-sum-exp saved for the backward pass) and takes
 * the cross-entropy straight from the logits; `plain` (the TensorFlow.js
 * ops of cpu, tfjs-node, wasm, webgpu) stores scores, probabilities and
 * every intermediate of the softmaxes.
 */
export type OpsKind = 'fused' | 'plain';

/** Factors on the handout's activation list, by kind of activation. */
export interface ActivationFactors {
  /** logits and cross-entropy (context·vocab per sequence). */
  vocab: number;
  /** attention scores and probabilities (heads·context² per layer); not stored by fused attention. */
  scores: number;
  /** everything else: norms, projections, feed-forward (context·d_model and context·d_ff per layer). */
  layers: number;
}

/**
 * Calibration of `estimateMemory` against the peak RSS (VmHWM) of real runs
 * of pipelines/train.ts (3 AdamW steps and the final checkpoint, float32),
 * fitted per kind of activation: the gradient tape keeps reshaped,
 * transposed, rotated and residual copies the handout's list leaves out,
 * and backward temporaries coexist with them; the native backend keeps
 * freed memory mapped, so its RSS is its high-water mark. Writing a
 * checkpoint copies parameters and moments once more (exported, then
 * encoded), which dominates for large models at small batches.
 */
export const MEMORY_CALIBRATION = Object.freeze({
  /** Node, TensorFlow.js and the addon before any tensor. */
  runtimeBytes: 190 * 2 ** 20,
  training: {
    fused: { vocab: 1.1, scores: 0, layers: 3.3 },
    plain: { vocab: 4.5, scores: 4.5, layers: 3.5 },
  } as Readonly<Record<OpsKind, ActivationFactors>>,
  /** A forward pass only (eval): the activations of the forward pass, held until the batch ends. */
  inference: {
    fused: { vocab: 1, scores: 0, layers: 1.1 },
    plain: { vocab: 2, scores: 2, layers: 1.5 },
  } as Readonly<Record<OpsKind, ActivationFactors>>,
  /** Peak bytes per parameter while a checkpoint is written (weights, moments, their exported and encoded copies). */
  checkpointBytesPerParameter: 37,
});

/** Node's largest typed array (elements): no tensor of a host backend can be bigger. */
export const MAX_TENSOR_ELEMENTS = 2 ** 32;

/** A calibrated estimate of a process's peak resident memory for a model and batch. */
export interface MemoryEstimate {
  /** Parameter count. */
  parameters: number;
  /** Bytes of parameters, plus gradients and both AdamW moments when training. */
  weights: number;
  /** Bytes of activations for the whole batch (calibrated). */
  activations: number;
  /** Activation bytes per sequence of the batch. */
  perSequence: number;
  /** Peak bytes while a checkpoint is written (0 for a forward pass). */
  checkpoint: number;
  /** The runtime's own memory (Node, TensorFlow.js, addon). */
  runtime: number;
  /** runtime + the larger of a step (weights + activations) and a checkpoint. */
  total: number;
  /** The largest single tensor a step creates. */
  largestTensor: { name: string; elements: number };
}

/** Options of `estimateMemory`. */
export interface EstimateOptions {
  batchSize: number;
  /** AdamW training (default) or a forward pass only (eval). */
  training?: boolean;
  ops: OpsKind;
}

/**
 * Peak memory of training `config` with AdamW at `batchSize` sequences of
 * context_length tokens (or of a forward pass, with `training: false`),
 * float32 throughout: the handout's parameters + gradients + moments and
 * activation list, each kind of activation scaled by MEMORY_CALIBRATION,
 * plus the runtime. The one estimate used by train, eval and sweep before
 * they allocate anything.
 */
export function estimateMemory(config: ModelConfig, parameterCount: number, options: EstimateOptions): MemoryEstimate {
  const training = options.training ?? true;
  const mem = trainingMemory(config, parameterCount, 'fp32');
  const f = (training ? MEMORY_CALIBRATION.training : MEMORY_CALIBRATION.inference)[options.ops];
  const sum = (names: readonly string[]): number => mem.activationItems.filter((i) => names.includes(i.name)).reduce((s, i) => s + i.elements, 0);
  const vocab = sum(['logits', 'cross_entropy']);
  const scores = sum(['qk_scores', 'softmax']);
  const all = mem.activationItems.reduce((s, i) => s + i.elements, 0);
  const perSequence = (f.vocab * vocab + f.scores * scores + f.layers * (all - vocab - scores)) * mem.bytesPerValue;
  const weights = training ? mem.b : mem.parameters;
  const activations = perSequence * options.batchSize;
  const checkpoint = training ? MEMORY_CALIBRATION.checkpointBytesPerParameter * parameterCount : 0;
  const runtime = MEMORY_CALIBRATION.runtimeBytes;
  const B = options.batchSize;
  const T = config.context_length;
  const tensors = [
    { name: 'logits (batch·context·vocab)', elements: B * T * config.vocab_size },
    { name: 'token embedding (vocab·d_model)', elements: config.vocab_size * config.d_model },
    { name: 'feed-forward activation (batch·context·d_ff)', elements: B * T * config.d_ff },
  ];
  if (options.ops === 'plain') tensors.push({ name: 'attention scores (batch·heads·context²)', elements: B * config.num_heads * T * T });
  const largestTensor = tensors.reduce((a, b) => (b.elements > a.elements ? b : a));
  return {
    parameters: parameterCount, weights, activations, perSequence, checkpoint, runtime,
    total: runtime + Math.max(weights + activations, checkpoint), largestTensor,
  };
}

/** The largest batch whose estimate fits in `bytes` (0 when not even one sequence does). */
export function largestBatchWithin(estimate: MemoryEstimate, bytes: number): number {
  if (bytes < estimate.runtime + estimate.checkpoint) return 0;
  const room = bytes - estimate.weights - estimate.runtime;
  return room < estimate.perSequence ? 0 : Math.floor(room / estimate.perSequence);
}
