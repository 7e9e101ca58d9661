/**
 * Training checkpoints. A checkpoint directory holds
 *
 *   config.json            the model config (model keys only)
 *   model.safetensors      float32 parameters by CS336 name
 *   optimizer.safetensors  AdamW moments "m.<param>" and "v.<param>";
 *                          __metadata__ {format, step}
 *   state.json             step, tokens, elapsed_s, RNG states, best
 *                          validation loss/step, recorded tokenizer
 *
 * The first two are the model checkpoint that eval and generate read
 * (`--checkpoint DIR`); `best/` holds them plus state.json. Saving replaces
 * the directory atomically (see run-dir.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.ts';
import type { TensorToWrite } from '../io/safetensors.ts';
import { CONFIG_FILE, WEIGHTS_FILE, checkpointFiles, loadCheckpoint } from '../model/checkpoint.ts';
import type { TransformerLM } from '../model/model.ts';
import type { RngState } from '../util/rng.ts';
import type { AdamW, AdamWState, StateArray } from './adamw.ts';
import { replaceDirAtomic, replaceRunDir } from './run-dir.ts';
import { tokenDataOf } from './token-data.ts';
import type { TokenDataIdentity } from './token-data.ts';
import { tokenFileMeta } from '../tokenizer/token-reader.ts';
import { writeFileDurable } from '../util/atomic.ts';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';
const OPTIMIZER_FORMAT = 'lmpipe-adamw-1';

/** Training progress saved with a checkpoint (the schedule position is `step`). */
export interface TrainState {
  step: number;
  tokens: number;
  /** Training wall-clock seconds, accumulated across resumes. */
  elapsed_s: number;
  best_val_loss: number | null;
  best_step: number | null;
  last_loss: number | null;
  last_val_loss: number | null;
  rng: { data: RngState; dropout: RngState };
  /** Tokenizer directory recorded for generation, or null. */
  tokenizer: string | null;
  /** The training data's vocabulary and tokenizer hash (its sidecar's; absent without one, or in older runs). */
  token_data?: TokenDataIdentity | null;
  /** The matmul precision of the steps so far (src/train/precision.ts; absent in older runs: fp32). */
  precision?: 'fp32' | 'bf16';
}

/** Writes config.json and model.safetensors (the model checkpoint format of src/model/checkpoint.ts) into `dir`. */
export async function writeModelFiles(dir: string, model: TransformerLM): Promise<void> {
  const files = checkpointFiles(model.config, await model.exportParameters());
  writeFileDurable(join(dir, WEIGHTS_FILE), files.weights);
  writeFileDurable(join(dir, CONFIG_FILE), files.config);
}

function encodeOptimizer(state: AdamWState): Uint8Array {
  const tensors = new Map<string, TensorToWrite>();
  for (const [kind, src] of [['m', state.m], ['v', state.v]] as const) {
    for (const [name, a] of src) tensors.set(`${kind}.${name}`, { dtype: 'F32', shape: a.shape, data: a.data });
  }
  return encodeSafetensors(tensors, { format: OPTIMIZER_FORMAT, step: String(state.step) });
}

function decodeOptimizer(bytes: Uint8Array, source: string): AdamWState {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (metadata?.format !== OPTIMIZER_FORMAT) throw new UserError(`${source}: not an lmpipe AdamW state (format ${JSON.stringify(metadata?.format)})`);
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new UserError(`${source}: invalid step ${JSON.stringify(metadata.step)}`);
  const m = new Map<string, StateArray>();
  const v = new Map<string, StateArray>();
  for (const [key, t] of tensors) {
    const dot = key.indexOf('.');
    const kind = key.slice(0, dot);
    if ((kind !== 'm' && kind !== 'v') || !(t.data instanceof Float32Array)) throw new UserError(`${source}: unexpected tensor "${key}" (expected m.<param> / v.<param>, float)`);
    (kind === 'm' ? m : v).set(key.slice(dot + 1), { shape: t.shape, data: t.data });
  }
  return { step, m, v };
}

function readState(path: string): TrainState {
  let s: TrainState;
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as TrainState;
  } catch (e) {
    throw new UserError(`${path}: unreadable training state (${(e as Error).message.split('\n')[0]})`);
  }
  if (!Number.isInteger(s.step) || s.step < 0 || !s.rng?.data || !s.rng?.dropout) {
    throw new UserError(`${path}: not an lmpipe training state (needs step and rng.data/rng.dropout)`);
  }
  return s;
}

/** Saves model, optimizer and state as the run's latest checkpoint (OUT itself, atomically). */
export async function saveTrainingCheckpoint(out: string, model: TransformerLM, optimizer: AdamW, state: TrainState): Promise<void> {
  const opt = await optimizer.exportState();
  if (opt.step !== state.step) throw new Error(`optimizer step ${opt.step} != training step ${state.step}`);
  await replaceRunDir(out, async (tmp) => {
    await writeModelFiles(tmp, model);
    writeFileDurable(join(tmp, OPTIMIZER_FILE), encodeOptimizer(opt));
    writeFileDurable(join(tmp, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  });
}

/** Saves the model and state (no optimizer) to `dir` (e.g. OUT/best), atomically. */
export async function saveBestCheckpoint(dir: string, model: TransformerLM, state: TrainState): Promise<void> {
  await replaceDirAtomic(dir, async (tmp) => {
    await writeModelFiles(tmp, model);
    writeFileDurable(join(tmp, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  });
}

/** Loads a full training checkpoint for --resume. */
export async function loadTrainingCheckpoint(dir: string): Promise<{ model: TransformerLM; optimizer: AdamWState; state: TrainState }> {
  const state = readState(join(dir, STATE_FILE));
  const optPath = join(dir, OPTIMIZER_FILE);
  if (!existsSync(optPath)) throw new UserError(`${dir}: ${OPTIMIZER_FILE} is missing; only a full training checkpoint (not best/) can be resumed`);
  const optimizer = decodeOptimizer(readFileSync(optPath), optPath);
  if (optimizer.step !== state.step) throw new UserError(`${dir}: optimizer step ${optimizer.step} and state step ${state.step} disagree (a mixed checkpoint); restore a consistent copy`);
  const model = loadCheckpoint(dir);
  return { model, optimizer, state };
}

/** The tokenizer recorded with a checkpoint (state.json, or the run's train-config.json), or null. */
export function recordedTokenizer(dir: string): string | null {
  for (const p of [join(dir, STATE_FILE), join(dir, 'train-config.json'), join(dir, '..', 'train-config.json')]) {
    if (!existsSync(p)) continue;
    try {
      const t = (JSON.parse(readFileSync(p, 'utf8')) as { tokenizer?: unknown }).tokenizer;
      if (typeof t === 'string' && t) return t;
    } catch {
      // unreadable: try the next place
    }
  }
  return null;
}

/**
 * The vocabulary and tokenizer a checkpoint was trained on: `token_data` of
 * its state.json, else (older runs) the sidecar of the `train_data` named by
 * the run's train-config.json; null when neither is known. `from` names
 * where it was found, for messages.
 */
export function recordedTokenData(dir: string): { identity: TokenDataIdentity; from: string } | null {
  const statePath = join(dir, STATE_FILE);
  if (existsSync(statePath)) {
    try {
      const d = (JSON.parse(readFileSync(statePath, 'utf8')) as { token_data?: unknown }).token_data;
      if (isIdentity(d)) return { identity: d, from: `the training data of ${dir}` };
    } catch {
      // unreadable: try the run's config
    }
  }
  for (const p of [join(dir, 'train-config.json'), join(dir, '..', 'train-config.json')]) {
    if (!existsSync(p)) continue;
    try {
      const data = (JSON.parse(readFileSync(p, 'utf8')) as { train_data?: unknown }).train_data;
      const meta = typeof data === 'string' && existsSync(data) ? tokenFileMeta(data) : null;
      if (meta) return { identity: tokenDataOf(meta), from: `the training data of ${dir} (${data as string})` };
    } catch {
      // unreadable or not a token file: nothing recorded
    }
    return null;
  }
  return null;
}

function isIdentity(v: unknown): v is TokenDataIdentity {
  const d = v as TokenDataIdentity | null | undefined;
  return typeof d === 'object' && d !== null && typeof d.vocab_size === 'number' && typeof d.tokenizer_hash === 'string' && Array.isArray(d.special_tokens);
}
