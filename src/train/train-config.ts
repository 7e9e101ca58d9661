/**
 * The training configuration: a JSON file (`--config runs/x.json`) whose
 * snake_case keys TRAIN_CONFIG_SCHEMA declares (type, range, default,
 * meaning), plus flag overrides derived from that schema
 * (src/train/train-flags.ts). Validation gives one-line UserErrors naming
 * the source, the key and the fix (unknown keys name the nearest valid
 * key). The resolved config is stored in the run directory
 * (`train-config.json`) so `--resume` continues with it.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { nearest } from '../util/nearest.ts';
import { ARCHITECTURE_DEFAULTS, CS336_TINYSTORIES_CONFIG, DEFAULT_DFF_RULE, MODEL_CONFIG_KEYS, resolveModelConfig } from '../model/config.ts';
import type { ModelConfig } from '../model/config.ts';
import type { ConfigKeySpec } from '../pipeline/config-flags.ts';
import { PRECISION_SETTINGS } from './precision.ts';
import type { PrecisionSetting } from './precision.ts';

/** A resolved, validated training configuration. */
export interface TrainConfig {
  model: ModelConfig;
  train_data: string;
  val_data: string | null;
  tokenizer: string | null;
  batch_size: number;
  /** Total optimizer steps (from max_steps, or max_tokens / (batch_size · context_length) rounded up). */
  max_steps: number;
  max_tokens: number | null;
  lr: number;
  min_lr: number;
  warmup_steps: number;
  weight_decay: number;
  betas: [number, number];
  /** Maximum global gradient L2 norm; 0 disables clipping. */
  grad_clip: number;
  eval_interval: number;
  eval_batches: number;
  checkpoint_interval: number;
  seed: number;
  backend: string;
  /** Matmul precision on the native backend (src/train/precision.ts); stored, so a resume keeps it. */
  precision: PrecisionSetting;
  /** Wall-clock budget in minutes (null: none); the run stops cleanly with a checkpoint. */
  max_minutes: number | null;
  /**
   * Leaderboard mode: time the first warm-up steps, then shorten max_steps
   * (an upper bound here) to what max_minutes fits, so the cosine schedule
   * ends when the budget does. The fitted length is stored with the run.
   */
  fit_to_budget: boolean;
  out: string;
}

/** The resolved config in a run directory, which --resume continues with. */
export const TRAIN_CONFIG_FILE = 'train-config.json';

/** Default warm-up with fit_to_budget (the run length is not known in advance). */
export const FIT_WARMUP_STEPS = 20;

/**
 * Every training-config key: type, range, default (or the rule that gives
 * it: min_lr and warmup_steps are computed in resolveTrainConfig) and a
 * one-line meaning. Validation below reads the ranges; train's flags and
 * their --help defaults are derived from it (src/train/train-flags.ts).
 */
export const TRAIN_CONFIG_SCHEMA = {
  model: { type: 'object', placeholder: 'JSON|FILE', defaultText: 'the CS336 TinyStories model', description: 'model config keys, one flag each below; as a flag, inline JSON or a config.json, merged over the config\'s "model"' },
  train_data: { type: 'string', placeholder: 'FILE', description: 'training token file (uint16, or uint32 per its .json sidecar); required' },
  val_data: { type: 'string', placeholder: 'FILE', description: 'validation token file' },
  tokenizer: { type: 'string', placeholder: 'DIR', description: 'tokenizer directory, recorded for generate' },
  batch_size: { type: 'int', min: 1, default: 32, placeholder: 'B', description: 'sequences per step' },
  max_steps: { type: 'int', min: 1, description: 'optimizer steps (this or max_tokens is required)' },
  max_tokens: { type: 'int', min: 1, description: 'training tokens (steps = ⌈tokens / (batch·context)⌉)' },
  lr: { type: 'number', min: 0, default: 1e-3, description: 'peak learning rate' },
  min_lr: { type: 'number', min: 0, defaultText: 'lr/10', description: 'final learning rate of the cosine schedule' },
  warmup_steps: { type: 'int', min: 0, defaultText: `1% of max_steps; ${FIT_WARMUP_STEPS} with fit_to_budget`, description: 'linear warmup steps' },
  weight_decay: { type: 'number', min: 0, default: 0.1, description: 'decoupled weight decay' },
  betas: { type: 'numbers', count: 2, default: [0.9, 0.95], placeholder: 'B1,B2', description: 'AdamW betas, each in [0, 1)' },
  grad_clip: { type: 'number', min: 0, default: 1.0, description: 'max global gradient L2 norm, 0 = off' },
  eval_interval: { type: 'int', min: 1, default: 100, description: 'steps between validation runs' },
  eval_batches: { type: 'int', min: 1, default: 20, description: 'validation batches per evaluation' },
  checkpoint_interval: { type: 'int', min: 1, default: 500, description: 'steps between checkpoints' },
  seed: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER - 2, default: 0, description: 'seed of initialization, batches and dropout' },
  backend: { type: 'string', default: 'auto', placeholder: 'NAME', description: 'TensorFlow.js backend' },
  precision: { type: 'string', default: 'fp32', choices: PRECISION_SETTINGS, placeholder: 'P', description: 'matmul precision on the native backend: fp32, bf16 (bf16 operands, fp32 accumulation; oneDNN) or auto (bf16 where the CPU has bf16 instructions, else fp32)' },
  max_minutes: { type: 'number', gt: 0, description: 'wall-clock budget of this invocation; stops cleanly with a checkpoint' },
  fit_to_budget: { type: 'boolean', default: false, description: 'leaderboard mode: time the warm-up, then fit max_steps (a cap) to max_minutes so the cosine schedule ends with the budget' },
  out: { type: 'string', placeholder: 'DIR', description: 'run directory (new or empty); required' },
} as const satisfies Record<string, ConfigKeySpec>;

export type TrainConfigKey = keyof typeof TRAIN_CONFIG_SCHEMA;

export const TRAIN_CONFIG_KEYS = Object.keys(TRAIN_CONFIG_SCHEMA) as readonly TrainConfigKey[];

/** Raw (unvalidated) values by key, as read from JSON or flags. */
export type RawTrainConfig = Partial<Record<TrainConfigKey, unknown>>;

/** The defaults of the optional keys with a fixed default (from TRAIN_CONFIG_SCHEMA). */
export const TRAIN_DEFAULTS = {
  batch_size: TRAIN_CONFIG_SCHEMA.batch_size.default,
  lr: TRAIN_CONFIG_SCHEMA.lr.default,
  weight_decay: TRAIN_CONFIG_SCHEMA.weight_decay.default,
  betas: TRAIN_CONFIG_SCHEMA.betas.default,
  grad_clip: TRAIN_CONFIG_SCHEMA.grad_clip.default,
  eval_interval: TRAIN_CONFIG_SCHEMA.eval_interval.default,
  eval_batches: TRAIN_CONFIG_SCHEMA.eval_batches.default,
  checkpoint_interval: TRAIN_CONFIG_SCHEMA.checkpoint_interval.default,
  seed: TRAIN_CONFIG_SCHEMA.seed.default,
  backend: TRAIN_CONFIG_SCHEMA.backend.default,
  precision: TRAIN_CONFIG_SCHEMA.precision.default,
  fit_to_budget: TRAIN_CONFIG_SCHEMA.fit_to_budget.default,
} as const;

/** The model's size keys that the training config may omit (CS336 TinyStories values). */
const MODEL_SIZE_DEFAULTS = {
  vocab_size: CS336_TINYSTORIES_CONFIG.vocab_size,
  context_length: CS336_TINYSTORIES_CONFIG.context_length,
  d_model: CS336_TINYSTORIES_CONFIG.d_model,
  num_layers: CS336_TINYSTORIES_CONFIG.num_layers,
  num_heads: CS336_TINYSTORIES_CONFIG.num_heads,
};

/**
 * Each model key's default in a training config, in words for --help: the
 * sizes of the CS336 TinyStories model, its d_ff with its d_model, and the
 * model schema's architecture defaults.
 */
export const TRAIN_MODEL_DEFAULT_TEXT: Readonly<Record<keyof ModelConfig, string>> = Object.fromEntries(MODEL_CONFIG_KEYS.map((k) => {
  if (k === 'd_ff') return [k, `${CS336_TINYSTORIES_CONFIG.d_ff} with the default d_model and ffn; otherwise ${DEFAULT_DFF_RULE}`];
  const sizes: Partial<Record<keyof ModelConfig, number>> = MODEL_SIZE_DEFAULTS;
  const architecture: Partial<Record<keyof ModelConfig, unknown>> = ARCHITECTURE_DEFAULTS;
  return [k, String(sizes[k] ?? architecture[k])];
})) as Record<keyof ModelConfig, string>;

/**
 * The model size keys a raw config leaves to the defaults (the CS336
 * TinyStories model): all five when it gives no model at all.
 */
export function defaultedModelKeys(raw: RawTrainConfig): string[] {
  const model = isObject(raw.model) ? raw.model : {};
  return Object.keys(MODEL_SIZE_DEFAULTS).filter((k) => model[k] === undefined);
}

/** Reads and parses a training config JSON file (keys checked, values not yet). */
export function readTrainConfigFile(path: string): RawTrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new UserError(`training config ${path} is a directory; give the JSON file (e.g. runs/tinystories-15min.json)`);
    if (code === 'ENOTDIR') throw new UserError(`cannot read training config ${path}: ${dirname(path)} is a file, not a run directory`);
    throw new UserError(`cannot read training config ${path}: ${code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return checkKeys(value, path);
}

/** Checks that `value` is an object with only known keys. */
export function checkKeys(value: unknown, source: string): RawTrainConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`${source}: expected a JSON object with training keys (${TRAIN_CONFIG_KEYS.join(', ')})`);
  }
  const known: readonly string[] = TRAIN_CONFIG_KEYS;
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const n = nearest(key, known);
      throw new UserError(`${source}: unknown key "${key}"${n ? ` (did you mean "${n}"?)` : ''}; valid keys: ${TRAIN_CONFIG_KEYS.join(', ')}`);
    }
  }
  return value as RawTrainConfig;
}

/** Later sources override earlier ones key by key (undefined = not given). `model` objects merge key by key. */
export function mergeRaw(...sources: RawTrainConfig[]): RawTrainConfig {
  const out: RawTrainConfig = {};
  for (const s of sources) {
    for (const [k, v] of Object.entries(s) as [TrainConfigKey, unknown][]) {
      if (v === undefined) continue;
      if (k === 'model' && isObject(out.model) && isObject(v)) out.model = { ...out.model, ...v };
      else out[k] = v;
    }
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fail(source: string, key: string, msg: string): never {
  throw new UserError(`${source}: "${key}" ${msg}`);
}

/** A number key, checked against its schema entry (int, min, gt, max). */
function num(source: string, raw: RawTrainConfig, key: TrainConfigKey): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  const opts: ConfigKeySpec = TRAIN_CONFIG_SCHEMA[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(source, key, `must be a number, got ${JSON.stringify(v)}`);
  if (opts.type === 'int' && !Number.isInteger(v)) fail(source, key, `must be an integer, got ${v}`);
  if (opts.min !== undefined && v < opts.min) fail(source, key, `must be at least ${opts.min}, got ${v}`);
  if (opts.gt !== undefined && !(v > opts.gt)) fail(source, key, `must be greater than ${opts.gt}, got ${v}`);
  if (opts.max !== undefined && v > opts.max) fail(source, key, `must be at most ${opts.max}, got ${v}`);
  return v;
}

function bool(source: string, raw: RawTrainConfig, key: TrainConfigKey): boolean | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(source, key, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function str(source: string, raw: RawTrainConfig, key: TrainConfigKey): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') fail(source, key, `must be a non-empty string (a path), got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Validates merged raw values and fills the defaults. `source` names where
 * the values came from (config path and/or flags) for error messages.
 */
export function resolveTrainConfig(raw: RawTrainConfig, source = 'training config'): TrainConfig {
  checkKeys(raw, source);
  const modelRaw = raw.model ?? {};
  if (!isObject(modelRaw)) fail(source, 'model', 'must be an object of model config keys (vocab_size, d_model, ...)');
  const withSizes: Record<string, unknown> = { ...MODEL_SIZE_DEFAULTS, ...modelRaw };
  // The default model is the handout's TinyStories one, d_ff 1344 included (the generic SwiGLU rule gives 1408).
  if (modelRaw.d_model === undefined && modelRaw.d_ff === undefined && (modelRaw.ffn ?? 'swiglu') === 'swiglu') withSizes.d_ff = CS336_TINYSTORIES_CONFIG.d_ff;
  const model = resolveModelConfig(withSizes, `${source}: model`);

  const train_data = str(source, raw, 'train_data');
  if (!train_data) throw new UserError(`${source}: "train_data" is required (a token file written by pipelines/encode.ts)`);
  const out = str(source, raw, 'out');
  if (!out) throw new UserError(`${source}: "out" is required (the run directory)`);

  const batch_size = num(source, raw, 'batch_size') ?? TRAIN_DEFAULTS.batch_size;
  const maxStepsGiven = num(source, raw, 'max_steps');
  const maxTokensGiven = num(source, raw, 'max_tokens');
  if (maxStepsGiven !== undefined && maxTokensGiven !== undefined) {
    throw new UserError(`${source}: give either "max_steps" or "max_tokens", not both`);
  }
  if (maxStepsGiven === undefined && maxTokensGiven === undefined) {
    throw new UserError(`${source}: the run length is required: set "max_steps" (optimizer steps) or "max_tokens" (training tokens)`);
  }
  const tokensPerStep = batch_size * model.context_length;
  const max_steps = maxStepsGiven ?? Math.ceil(maxTokensGiven! / tokensPerStep);

  const lr = num(source, raw, 'lr') ?? TRAIN_DEFAULTS.lr;
  const min_lr = num(source, raw, 'min_lr') ?? lr / 10;
  if (min_lr > lr) fail(source, 'min_lr', `(${min_lr}) must not exceed "lr" (${lr})`);
  const fit_to_budget = bool(source, raw, 'fit_to_budget') ?? TRAIN_DEFAULTS.fit_to_budget;
  const warmup_steps = num(source, raw, 'warmup_steps') ?? (fit_to_budget ? Math.min(FIT_WARMUP_STEPS, max_steps) : Math.round(max_steps / 100));
  if (warmup_steps > max_steps) fail(source, 'warmup_steps', `(${warmup_steps}) must not exceed the run length of ${max_steps} steps`);
  const weight_decay = num(source, raw, 'weight_decay') ?? TRAIN_DEFAULTS.weight_decay;
  let betas: [number, number] = [TRAIN_DEFAULTS.betas[0], TRAIN_DEFAULTS.betas[1]];
  if (raw.betas !== undefined) {
    const b = raw.betas;
    if (!Array.isArray(b) || b.length !== 2 || !b.every((x) => typeof x === 'number' && x >= 0 && x < 1)) {
      fail(source, 'betas', `must be two numbers in [0, 1), e.g. [0.9, 0.95], got ${JSON.stringify(b)}`);
    }
    betas = [b[0] as number, b[1] as number];
  }
  const grad_clip = num(source, raw, 'grad_clip') ?? TRAIN_DEFAULTS.grad_clip;
  const eval_interval = num(source, raw, 'eval_interval') ?? TRAIN_DEFAULTS.eval_interval;
  const eval_batches = num(source, raw, 'eval_batches') ?? TRAIN_DEFAULTS.eval_batches;
  const checkpoint_interval = num(source, raw, 'checkpoint_interval') ?? TRAIN_DEFAULTS.checkpoint_interval;
  const seed = num(source, raw, 'seed') ?? TRAIN_DEFAULTS.seed;
  const backend = str(source, raw, 'backend') ?? TRAIN_DEFAULTS.backend;
  const precision = raw.precision ?? TRAIN_DEFAULTS.precision;
  if (typeof precision !== 'string' || !(PRECISION_SETTINGS as readonly string[]).includes(precision)) {
    const n = typeof precision === 'string' ? nearest(precision, PRECISION_SETTINGS) : null;
    fail(source, 'precision', `must be one of ${PRECISION_SETTINGS.join(', ')}, got ${JSON.stringify(precision)}${n ? ` (did you mean "${n}"?)` : ''}`);
  }
  const max_minutes = num(source, raw, 'max_minutes') ?? null;
  if (fit_to_budget && max_minutes === null) fail(source, 'fit_to_budget', 'needs "max_minutes" (the wall-clock budget to fit the run to)');
  if (fit_to_budget && warmup_steps < 2) {
    fail(source, 'fit_to_budget', `needs "warmup_steps" of at least 2, got ${warmup_steps}: the run length is fitted during warm-up, where the learning rate does not depend on it`);
  }

  return {
    model,
    train_data,
    val_data: str(source, raw, 'val_data') ?? null,
    tokenizer: str(source, raw, 'tokenizer') ?? null,
    batch_size,
    max_steps,
    max_tokens: maxTokensGiven ?? null,
    lr,
    min_lr,
    warmup_steps,
    weight_decay,
    betas,
    grad_clip,
    eval_interval,
    eval_batches,
    checkpoint_interval,
    seed,
    backend,
    precision: precision as PrecisionSetting,
    max_minutes,
    fit_to_budget,
    out,
  };
}

/** The resolved config as the JSON object stored in the run directory (re-resolvable). */
export function trainConfigToJson(c: TrainConfig): Record<string, unknown> {
  // Store max_steps only: the resolved length is what a resume must reproduce.
  const rest: Partial<TrainConfig> = { ...c };
  delete rest.max_tokens;
  return { ...rest, model: { ...c.model } };
}
