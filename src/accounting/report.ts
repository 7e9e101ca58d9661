/**
 * The full accounting of one model: parameters, forward/backward FLOPs,
 * AdamW training memory and training time, as one JSON-ready object, and
 * its rendering as a text table.
 */
import { UserError } from '../pipeline/errors.ts';
import type { ModelConfig } from '../model/config.ts';
import { parameterBreakdown } from './parameters.ts';
import type { ParameterComponent } from './parameters.ts';
import { backwardFlops, forwardFlops } from './flops.ts';
import type { MatmulCost } from './flops.ts';
import { DTYPE_BYTES, maxBatch, memoryAtBatch, trainingMemory } from './memory.ts';
import type { ActivationItem, Dtype } from './memory.ts';
import { ADAMW_FLOPS_PER_PARAMETER, stepFlops, trainingTime } from './training.ts';
import { PRESET_NAMES } from './presets.ts';

export interface AccountingOptions {
  dtype: Dtype;
  /** Sequences per batch for the forward FLOPs and the memory figure. */
  batch: number;
  /** Memory budget in GB (10⁹ bytes). */
  memoryGb: number;
  /** Whether the budget was asked for explicitly: then a budget that fits no batch is an error. */
  memoryExplicit: boolean;
  peakTflops: number;
  mfu: number;
  steps: number;
  batchSize: number;
}

export interface AccountingReport {
  model: { source: string; config: ModelConfig };
  assumptions: string[];
  parameters: { dtype: Dtype; components: ParameterComponent[]; total: number; non_embedding: number; bytes: number };
  forward: { tokens: number; matmuls: MatmulCost[]; flops_per_sequence: number; flops_per_token: number; batch: number; flops_per_batch: number };
  backward: { flops_per_sequence: number; flops_per_batch: number };
  memory: {
    dtype: Dtype;
    bytes_per_value: number;
    parameters: number;
    gradients: number;
    optimizer_state: number;
    activations_per_sequence: number;
    activations: ActivationItem[];
    a: number;
    b: number;
    expression: string;
    batch: number;
    bytes_at_batch: number;
    budget_gb: number;
    max_batch: number;
    batch_size_fits: boolean;
  };
  training: {
    batch_size: number;
    tokens_per_step: number;
    forward_flops_per_step: number;
    backward_flops_per_step: number;
    model_flops_per_step: number;
    optimizer_flops_per_step: number;
    steps: number;
    total_flops: number;
    peak_tflops: number;
    mfu: number;
    seconds: number;
    days: number;
  };
}

/** The assumptions behind the numbers, printed with them. */
export function assumptionsFor(config: ModelConfig, dtype: Dtype, source: string): string[] {
  const list = [
    'FLOPs count matrix multiplies only, 2·m·k·n each; attention scores over the full T×T matrix; backward = 2 × forward',
    `every tensor (parameters, gradients, AdamW m and v, activations) is stored in ${dtype} (${DTYPE_BYTES[dtype]} bytes)`,
    `activations: the CS336 2025 handout's list (RMSNorms, QKV, QᵀK, softmax, weighted values, output projection, W1${config.ffn === 'swiglu' ? '/W3' : ''} outputs, ${config.ffn === 'gelu' ? 'GELU' : 'SiLU'}, W2; final RMSNorm, logits, cross-entropy)${config.ffn === 'swiglu' ? '; the gated product SiLU(W1·x)⊙W3·x is not in that list' : ''}`,
    `the AdamW update is counted at ${ADAMW_FLOPS_PER_PARAMETER} FLOPs per parameter, reported apart and left out of the training time (MFU counts model FLOPs)`,
    'GB = 10⁹ bytes',
  ];
  if (PRESET_NAMES.includes(source) && source.startsWith('gpt2-')) {
    list.push('GPT-2 presets: GPT-2 shapes in the CS336 architecture (RoPE, SwiGLU with 3 matrices, pre-norm RMSNorm, untied head) with d_ff = 4·d_model, as in the 2025 handout\'s transformer_accounting (GPT-2 XL: d_ff 6,400); its later revision uses d_ff ≈ 8/3·d_model (XL: --d-ff 4288)');
  }
  return list;
}

/** Accounts for `config` under `opts`. Throws UserError when an explicit memory budget fits no batch. */
export function accountModel(config: ModelConfig, source: string, opts: AccountingOptions): AccountingReport {
  const params = parameterBreakdown(config);
  const fwd = forwardFlops(config);
  const mem = trainingMemory(config, params.total, opts.dtype);
  const budget = opts.memoryGb * 1e9;
  const fits = maxBatch(mem, budget);
  if (fits === 0 && opts.memoryExplicit) {
    throw new UserError(`--memory-gb ${opts.memoryGb}: no batch fits: training needs ${gb(mem.b)} GB for parameters, gradients and AdamW state plus ${gb(mem.a)} GB per sequence of ${fwd.tokens} tokens; raise --memory-gb to at least ${gbCeil(mem.a + mem.b)}, or lower --context or use --dtype bf16`);
  }
  const step = stepFlops(fwd.total, params.total, opts.batchSize);
  const time = trainingTime(step.model, opts.steps, opts.peakTflops, opts.mfu);
  return {
    model: { source, config },
    assumptions: assumptionsFor(config, opts.dtype, source),
    parameters: { dtype: opts.dtype, components: params.components, total: params.total, non_embedding: params.nonEmbedding, bytes: params.total * DTYPE_BYTES[opts.dtype] },
    forward: { tokens: fwd.tokens, matmuls: fwd.matmuls, flops_per_sequence: fwd.total, flops_per_token: fwd.total / fwd.tokens, batch: opts.batch, flops_per_batch: fwd.total * opts.batch },
    backward: { flops_per_sequence: backwardFlops(fwd.total), flops_per_batch: backwardFlops(fwd.total * opts.batch) },
    memory: {
      dtype: opts.dtype,
      bytes_per_value: mem.bytesPerValue,
      parameters: mem.parameters,
      gradients: mem.gradients,
      optimizer_state: mem.optimizerState,
      activations_per_sequence: mem.a,
      activations: mem.activationItems,
      a: mem.a,
      b: mem.b,
      expression: `${mem.a}·batch_size + ${mem.b} bytes`,
      batch: opts.batch,
      bytes_at_batch: memoryAtBatch(mem, opts.batch),
      budget_gb: opts.memoryGb,
      max_batch: fits,
      batch_size_fits: opts.batchSize <= fits,
    },
    training: {
      batch_size: opts.batchSize,
      tokens_per_step: opts.batchSize * fwd.tokens,
      forward_flops_per_step: step.forward,
      backward_flops_per_step: step.backward,
      model_flops_per_step: step.model,
      optimizer_flops_per_step: step.optimizer,
      steps: opts.steps,
      total_flops: time.totalFlops,
      peak_tflops: opts.peakTflops,
      mfu: opts.mfu,
      seconds: time.seconds,
      days: time.days,
    },
  };
}

function gb(bytes: number): string {
  return (bytes / 1e9).toFixed(2);
}

function gbCeil(bytes: number): string {
  return (Math.ceil(bytes / 1e7) / 100).toFixed(2);
}

/** 1234567 → "1,234,567"; from 10¹⁵ (or non-integers) in exponent notation, 1.3865e+16. */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n) || Math.abs(n) >= 1e15) return n.toExponential(4);
  return n.toLocaleString('en-US');
}

/** Bytes in decimal units. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function table(rows: string[][], rightAligned: readonly number[]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()}`);
}

/** The report as text lines (for a terminal). */
export function formatReport(r: AccountingReport): string[] {
  const c = r.model.config;
  const out: string[] = [];
  out.push(`model ${r.model.source}: vocab ${formatCount(c.vocab_size)}, context ${formatCount(c.context_length)}, d_model ${c.d_model}, ${c.num_layers} layers, ${c.num_heads} heads, d_ff ${c.d_ff}; position ${c.position}, ffn ${c.ffn}, norm ${c.norm}${c.parallel ? ', parallel' : ''}${c.tie_embeddings ? ', tied embeddings' : ''}`);
  out.push('');
  out.push(`Parameters (${r.parameters.dtype})`);
  const pRows = [['component', 'formula', 'per layer', 'count', 'share', 'memory']];
  for (const p of r.parameters.components) {
    pRows.push([p.name, p.formula, p.per_layer === undefined ? '' : formatCount(p.per_layer), formatCount(p.count), pct(p.count / r.parameters.total), formatBytes(p.count * DTYPE_BYTES[r.parameters.dtype])]);
  }
  pRows.push(['total', '', '', formatCount(r.parameters.total), '', formatBytes(r.parameters.bytes)]);
  pRows.push(['non-embedding', '', '', formatCount(r.parameters.non_embedding), '', '']);
  out.push(...table(pRows, [2, 3, 4, 5]));
  out.push('');
  out.push(`Forward matmul FLOPs per sequence of ${formatCount(r.forward.tokens)} tokens (2·m·k·n)`);
  const fRows = [['matmul', '(m×k)·(k×n)', 'count', 'FLOPs', 'share']];
  for (const m of r.forward.matmuls) fRows.push([m.name, `(${m.m}×${m.k})·(${m.k}×${m.n})`, `×${m.count}`, formatCount(m.flops), pct(m.share)]);
  fRows.push(['forward total', '', '', formatCount(r.forward.flops_per_sequence), '']);
  fRows.push(['backward (2×)', '', '', formatCount(r.backward.flops_per_sequence), '']);
  out.push(...table(fRows, [2, 3, 4]));
  out.push(`  ${formatCount(Math.round(r.forward.flops_per_token))} FLOPs per token; batch ${r.forward.batch}: forward ${formatCount(r.forward.flops_per_batch)}, backward ${formatCount(r.backward.flops_per_batch)}`);
  out.push('');
  const m = r.memory;
  out.push(`AdamW training memory (${m.dtype}, ${m.bytes_per_value} bytes per value)`);
  const mRows = [['part', 'bytes', '']];
  mRows.push(['parameters', formatCount(m.parameters), formatBytes(m.parameters)]);
  mRows.push(['gradients', formatCount(m.gradients), formatBytes(m.gradients)]);
  mRows.push(['optimizer state (m, v)', formatCount(m.optimizer_state), formatBytes(m.optimizer_state)]);
  mRows.push(['activations per sequence', formatCount(m.a), formatBytes(m.a)]);
  for (const a of m.activations) mRows.push([`  ${a.name} (${a.formula})`, formatCount(a.elements * m.bytes_per_value), formatBytes(a.elements * m.bytes_per_value)]);
  out.push(...table(mRows, [1, 2]));
  out.push(`  total = ${formatCount(m.a)}·batch_size + ${formatCount(m.b)} bytes; at batch ${m.batch}: ${formatBytes(m.bytes_at_batch)}`);
  out.push(`  largest batch in ${m.budget_gb} GB: ${m.max_batch}${m.max_batch === 0 ? ' (none fits)' : ''}${m.batch_size_fits || m.max_batch === 0 ? '' : `; batch_size ${r.training.batch_size} needs gradient accumulation`}`);
  out.push('');
  const t = r.training;
  out.push(`AdamW training: batch_size ${formatCount(t.batch_size)} × ${formatCount(r.forward.tokens)} tokens, ${formatCount(t.steps)} steps`);
  out.push(`  FLOPs per step: forward ${formatCount(t.forward_flops_per_step)} + backward ${formatCount(t.backward_flops_per_step)} = ${formatCount(t.model_flops_per_step)} (+ ${formatCount(t.optimizer_flops_per_step)} for the AdamW update)`);
  out.push(`  ${formatCount(t.total_flops)} FLOPs at ${t.peak_tflops} TFLOP/s × ${t.mfu} MFU: ${formatCount(Math.round(t.seconds))} s = ${t.days.toFixed(1)} days`);
  out.push('');
  out.push('Assumptions:');
  for (const a of r.assumptions) out.push(`  - ${a}`);
  return out;
}
