/**
 * Forward-pass FLOPs of every matrix multiply, 2·m·k·n each (the handout's
 * rule), for one sequence of `tokens` tokens. Only matmuls are counted:
 * norms, softmax, activations and RoPE are O(tokens·D) and left out, as in the
 * handout. Attention scores are counted over the full T×T matrix (the causal
 * mask is applied after a dense matmul).
 */
import type { ModelConfig } from '../model/config.ts';

/** One kind of matrix multiply and how often the forward pass performs it. */
export interface MatmulCost {
  /** Stable key (JSON). */
  name: string;
  description: string;
  /** (m×k)·(k×n) */
  m: number;
  k: number;
  n: number;
  /** Executions per forward pass (layers, or layers × heads). */
  count: number;
  /** 2·m·k·n·count. */
  flops: number;
  /** flops / total forward FLOPs. */
  share: number;
}

export interface ForwardFlops {
  tokens: number;
  matmuls: MatmulCost[];
  total: number;
}

/** Forward matmul FLOPs for one sequence of `tokens` tokens (default: the context length). */
export function forwardFlops(config: ModelConfig, tokens: number = config.context_length): ForwardFlops {
  const { d_model: D, d_ff: F, vocab_size: V, num_layers: L, num_heads: H } = config;
  const T = tokens;
  const dh = D / H;
  const rows: Omit<MatmulCost, 'flops' | 'share'>[] = [
    { name: 'attn.q_proj', description: 'query projection x·W_Qᵀ', m: T, k: D, n: D, count: L },
    { name: 'attn.k_proj', description: 'key projection x·W_Kᵀ', m: T, k: D, n: D, count: L },
    { name: 'attn.v_proj', description: 'value projection x·W_Vᵀ', m: T, k: D, n: D, count: L },
    { name: 'attn.scores', description: 'attention scores Q·Kᵀ, per head', m: T, k: dh, n: T, count: L * H },
    { name: 'attn.weighted_values', description: 'softmax(Q·Kᵀ)·V, per head', m: T, k: T, n: dh, count: L * H },
    { name: 'attn.output_proj', description: 'output projection ·W_Oᵀ', m: T, k: D, n: D, count: L },
    { name: 'ffn.w1', description: config.ffn === 'swiglu' ? 'gate projection x·W1ᵀ' : 'up projection x·W1ᵀ', m: T, k: D, n: F, count: L },
  ];
  if (config.ffn === 'swiglu') rows.push({ name: 'ffn.w3', description: 'up projection x·W3ᵀ', m: T, k: D, n: F, count: L });
  rows.push(
    { name: 'ffn.w2', description: 'down projection h·W2ᵀ', m: T, k: F, n: D, count: L },
    { name: 'lm_head', description: config.tie_embeddings ? 'logits x·Eᵀ (tied embedding matrix)' : 'logits x·W_headᵀ', m: T, k: D, n: V, count: 1 },
  );
  const withFlops = rows.map((r) => ({ ...r, flops: 2 * r.m * r.k * r.n * r.count, share: 0 }));
  const total = withFlops.reduce((s, r) => s + r.flops, 0);
  for (const r of withFlops) r.share = r.flops / total;
  return { tokens: T, matmuls: withFlops, total };
}

/**
 * Backward-pass FLOPs: twice the forward (each matmul needs one product for
 * the gradient of each operand), the convention of Kaplan et al. (2020) and
 * Hoffmann et al. (2022) that the handout adopts.
 */
export function backwardFlops(forward: number): number {
  return 2 * forward;
}
