/**
 * The Transformer LM configuration: its keys (snake_case, identical to a
 * checkpoint's config.json), defaults, and validation with one-line
 * `UserError`s that name the source and the fix.
 */
import { UserError } from '../pipeline/errors.ts';
import type { ConfigKeySpec } from '../pipeline/config-flags.ts';
import { closest } from '../util/nearest.ts';

export type PositionKind = 'rope' | 'learned' | 'none';
export type FfnKind = 'swiglu' | 'gelu' | 'silu';
export type NormKind = 'pre' | 'post' | 'none';

/** A complete, validated model configuration. */
export interface ModelConfig {
  vocab_size: number;
  context_length: number;
  d_model: number;
  num_layers: number;
  num_heads: number;
  d_ff: number;
  rope_theta: number;
  norm_eps: number;
  position: PositionKind;
  ffn: FfnKind;
  norm: NormKind;
  parallel: boolean;
  tie_embeddings: boolean;
  dropout: number;
}

/** What a caller may pass: sizes are required, everything else has a default. */
export type ModelConfigInput = Pick<ModelConfig, 'vocab_size' | 'context_length' | 'd_model' | 'num_layers' | 'num_heads'>
  & Partial<ModelConfig>;

const REQUIRED = ['vocab_size', 'context_length', 'd_model', 'num_layers', 'num_heads'] as const;

/** Architecture defaults: the CS336 2025 model (RoPE, SwiGLU, pre-norm, untied, no dropout). */
export const ARCHITECTURE_DEFAULTS = {
  rope_theta: 10000,
  norm_eps: 1e-5,
  position: 'rope',
  ffn: 'swiglu',
  norm: 'pre',
  parallel: false,
  tie_embeddings: false,
  dropout: 0,
} as const satisfies Partial<ModelConfig>;

/** The 2025 handout's TinyStories model (17M non-embedding parameters). */
export const CS336_TINYSTORIES_CONFIG: ModelConfig = {
  vocab_size: 10000,
  context_length: 256,
  d_model: 512,
  num_layers: 4,
  num_heads: 16,
  d_ff: 1344,
  ...ARCHITECTURE_DEFAULTS,
};

/** The default d_ff in words (see defaultDff). */
export const DEFAULT_DFF_RULE = '8/3·d_model rounded up to a multiple of 64 (swiglu) or 4·d_model (gelu, silu)';

/**
 * Every model key with its type, range, default and meaning: the source of
 * the validation below, of train's per-key flags (`--d-model 128`) and of
 * their --help. Sizes have no default here (a training config's come from
 * src/train/train-config.ts).
 */
export const MODEL_CONFIG_SCHEMA = {
  vocab_size: { type: 'int', min: 1, description: 'token ids the model embeds and predicts: at least the tokenizer\'s vocabulary size' },
  context_length: { type: 'int', min: 1, description: 'longest sequence in tokens: the training window' },
  d_model: { type: 'int', min: 1, description: 'width of the residual stream' },
  num_layers: { type: 'int', min: 1, description: 'Transformer blocks' },
  num_heads: { type: 'int', min: 1, description: 'attention heads; must divide d_model' },
  d_ff: { type: 'int', min: 1, defaultText: DEFAULT_DFF_RULE, description: 'inner width of the feed-forward network' },
  rope_theta: { type: 'number', default: ARCHITECTURE_DEFAULTS.rope_theta, description: 'RoPE base Θ, with position rope' },
  norm_eps: { type: 'number', default: ARCHITECTURE_DEFAULTS.norm_eps, description: 'RMSNorm epsilon' },
  position: { type: 'string', placeholder: 'KIND', choices: ['rope', 'learned', 'none'], default: ARCHITECTURE_DEFAULTS.position, description: 'position information: rotary (RoPE), learned absolute embeddings, or none' },
  ffn: { type: 'string', placeholder: 'KIND', choices: ['swiglu', 'gelu', 'silu'], default: ARCHITECTURE_DEFAULTS.ffn, description: 'feed-forward network: gated SwiGLU, or an ungated GELU or SiLU MLP' },
  norm: { type: 'string', placeholder: 'KIND', choices: ['pre', 'post', 'none'], default: ARCHITECTURE_DEFAULTS.norm, description: 'RMSNorm placement: pre-norm, post-norm, or no normalization' },
  parallel: { type: 'boolean', default: ARCHITECTURE_DEFAULTS.parallel, description: 'parallel blocks: attention and feed-forward read the same normalized input' },
  tie_embeddings: { type: 'boolean', default: ARCHITECTURE_DEFAULTS.tie_embeddings, description: 'share the token embedding matrix with the output projection' },
  dropout: { type: 'number', min: 0, default: ARCHITECTURE_DEFAULTS.dropout, description: 'dropout rate in [0, 1) on embeddings, attention and sublayer outputs, in training' },
} as const satisfies Record<keyof ModelConfig, ConfigKeySpec>;

export const MODEL_CONFIG_KEYS = Object.keys(MODEL_CONFIG_SCHEMA) as readonly (keyof ModelConfig)[];

const CHOICES = {
  position: MODEL_CONFIG_SCHEMA.position.choices,
  ffn: MODEL_CONFIG_SCHEMA.ffn.choices,
  norm: MODEL_CONFIG_SCHEMA.norm.choices,
};

/**
 * Default feed-forward width: 4·d_model for the ungated GELU/SiLU FFN; for
 * SwiGLU, 8/3·d_model (same parameter count as a 4·d_model ungated FFN)
 * rounded up to a multiple of 64 for matmul-friendly shapes.
 */
export function defaultDff(dModel: number, ffn: FfnKind): number {
  if (ffn === 'swiglu') return Math.ceil((8 * dModel) / 3 / 64) * 64;
  return 4 * dModel;
}

function fail(source: string, msg: string): never {
  throw new UserError(`${source}: ${msg}`);
}

/**
 * The largest value of a size key: tensor shapes, token ids and the
 * window starts of the batch sampler are 32-bit integers, so a larger size
 * cannot be meant (vocab_size: ids are read into Int32Arrays, so uint32
 * token files hold ids below 2^31 here). Sizes far below this are refused
 * by the memory estimate (src/accounting/memory.ts) before anything is
 * allocated.
 */
export const MAX_MODEL_SIZE = 2 ** 31 - 1;

function positiveInt(source: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    fail(source, `"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (v > MAX_MODEL_SIZE) {
    const why = key === 'vocab_size' ? 'token ids are 32-bit signed integers here' : 'tensor dimensions are 32-bit integers';
    fail(source, `"${key}" is ${v}, beyond what it can mean (${why}: at most ${MAX_MODEL_SIZE})`);
  }
  return v;
}

function positiveNumber(source: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    fail(source, `"${key}" must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function choice<K extends keyof typeof CHOICES>(source: string, key: K, v: unknown): (typeof CHOICES)[K][number] {
  const allowed: readonly string[] = CHOICES[key];
  if (typeof v !== 'string' || !allowed.includes(v)) {
    const hint = typeof v === 'string' ? ` (did you mean "${closest(v, allowed)}"?)` : '';
    fail(source, `"${key}" must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(v)}${hint}`);
  }
  return v as (typeof CHOICES)[K][number];
}

function bool(source: string, key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(source, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Validates a raw config object (e.g. parsed config.json) and fills in the
 * defaults. `source` names where it came from, for the error messages.
 */
export function resolveModelConfig(raw: unknown, source = 'model config'): ModelConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(source, 'expected a JSON object with the model config keys');
  }
  const obj = raw as Record<string, unknown>;
  const known: readonly string[] = MODEL_CONFIG_KEYS;
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      fail(source, `unknown model config key "${key}" (did you mean "${closest(key, known)}"?)`);
    }
  }
  for (const key of REQUIRED) {
    if (obj[key] === undefined) fail(source, `missing required key "${key}" (required: ${REQUIRED.join(', ')})`);
  }
  const get = <K extends keyof ModelConfig>(key: K): unknown => (obj[key] === undefined ? (ARCHITECTURE_DEFAULTS as Partial<ModelConfig>)[key] : obj[key]);

  const vocab_size = positiveInt(source, 'vocab_size', obj.vocab_size);
  const context_length = positiveInt(source, 'context_length', obj.context_length);
  const d_model = positiveInt(source, 'd_model', obj.d_model);
  const num_layers = positiveInt(source, 'num_layers', obj.num_layers);
  const num_heads = positiveInt(source, 'num_heads', obj.num_heads);
  const position = choice(source, 'position', get('position'));
  const ffn = choice(source, 'ffn', get('ffn'));
  const norm = choice(source, 'norm', get('norm'));
  const d_ff = obj.d_ff === undefined ? defaultDff(d_model, ffn) : positiveInt(source, 'd_ff', obj.d_ff);
  const rope_theta = positiveNumber(source, 'rope_theta', get('rope_theta'));
  const norm_eps = positiveNumber(source, 'norm_eps', get('norm_eps'));
  const parallel = bool(source, 'parallel', get('parallel'));
  const tie_embeddings = bool(source, 'tie_embeddings', get('tie_embeddings'));
  const dropout = get('dropout');
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    fail(source, `"dropout" must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  }
  if (d_model % num_heads !== 0) {
    fail(source, `d_model (${d_model}) must be divisible by num_heads (${num_heads}); choose num_heads among the divisors of d_model`);
  }
  const dHead = d_model / num_heads;
  if (position === 'rope' && dHead % 2 !== 0) {
    fail(source, `RoPE rotates pairs of dimensions, so d_model/num_heads must be even, got ${dHead}; change num_heads or d_model, or set "position" to "learned"`);
  }
  return {
    vocab_size, context_length, d_model, num_layers, num_heads, d_ff, rope_theta, norm_eps,
    position, ffn, norm, parallel, tie_embeddings, dropout,
  };
}

/** Per-head width. */
export function headDim(config: ModelConfig): number {
  return config.d_model / config.num_heads;
}
