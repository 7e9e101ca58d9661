/**
 * Model checkpoints: a directory holding `config.json` (the model config)
 * and `model.safetensors` (float32 parameters under their CS336 names),
 * written atomically (temporary directory + rename). Loading validates the
 * tensor set against the config with errors that name the tensor and the
 * expected shape.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, encodeSafetensors } from '../io/safetensors.ts';
import type { DecodedTensor, TensorToWrite } from '../io/safetensors.ts';
import { UserError } from '../pipeline/errors.ts';
import { writeDirAtomic, writeFileDurable } from '../util/atomic.ts';
import { resolveModelConfig } from './config.ts';
import type { ModelConfig } from './config.ts';
import { TransformerLM } from './model.ts';
import type { ParamArray } from './model.ts';
import { parameterSpecs } from './params.ts';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

/** Serialized checkpoint files for a config and parameter values (pure). */
export function checkpointFiles(config: ModelConfig, values: ReadonlyMap<string, ParamArray>, metadata: Record<string, string> = {}): { config: string; weights: Uint8Array } {
  const tensors = new Map<string, TensorToWrite>();
  for (const spec of parameterSpecs(config)) {
    const v = values.get(spec.name);
    if (!v) throw new Error(`checkpoint: missing parameter ${spec.name}`);
    tensors.set(spec.name, { dtype: 'F32', shape: spec.shape, data: v.data });
  }
  return {
    config: `${JSON.stringify(config, null, 2)}\n`,
    weights: encodeSafetensors(tensors, { format: 'pt', producer: 'lmpipe', ...metadata }),
  };
}

/**
 * Writes `model` to directory `dir` atomically: readers see the previous
 * checkpoint or the new one, never a mix.
 */
export async function saveCheckpoint(dir: string, model: TransformerLM, metadata: Record<string, string> = {}): Promise<void> {
  const files = checkpointFiles(model.config, await model.exportParameters(), metadata);
  await writeDirAtomic(dir, (tmp) => {
    writeFileDurable(join(tmp, WEIGHTS_FILE), files.weights);
    writeFileDurable(join(tmp, CONFIG_FILE), files.config);
  });
}

/** Reads and validates a checkpoint's config.json. */
export function readCheckpointConfig(dir: string): ModelConfig {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`checkpoint ${dir} is not a directory (a checkpoint directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  }
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path)) throw new UserError(`checkpoint ${dir} has no ${CONFIG_FILE} (a checkpoint directory holds ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return resolveModelConfig(raw, path);
}

/**
 * Checks that `tensors` are exactly the parameters of `config` with the
 * right shapes (floating point), and returns them as float32 arrays.
 */
export function matchParameters(config: ModelConfig, tensors: ReadonlyMap<string, DecodedTensor>, source: string): Map<string, ParamArray> {
  const specs = parameterSpecs(config);
  const out = new Map<string, ParamArray>();
  const arch = `position ${config.position}, ffn ${config.ffn}, norm ${config.norm}${config.parallel ? ', parallel' : ''}${config.tie_embeddings ? ', tied embeddings' : ''}`;
  for (const spec of specs) {
    const t = tensors.get(spec.name);
    if (!t) {
      const missing = specs.filter((s) => !tensors.has(s.name)).length;
      throw new UserError(`${source}: missing tensor "${spec.name}" (expected shape [${spec.shape.join(', ')}])${missing > 1 ? ` and ${missing - 1} more` : ''}; the weights do not match config.json (${arch})`);
    }
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new UserError(`${source}: tensor "${spec.name}" has shape [${t.shape.join(', ')}], expected [${spec.shape.join(', ')}] from config.json`);
    }
    if (!(t.data instanceof Float32Array)) {
      throw new UserError(`${source}: tensor "${spec.name}" is ${t.dtype}; parameters must be floating point (F32, F16, BF16 or F64)`);
    }
    out.set(spec.name, { shape: spec.shape, data: t.data });
  }
  const expected = new Set(specs.map((s) => s.name));
  const extra = [...tensors.keys()].filter((k) => !expected.has(k));
  if (extra.length > 0) {
    throw new UserError(`${source}: unexpected tensor "${extra[0]}"${extra.length > 1 ? ` and ${extra.length - 1} more` : ''}, not a parameter of the model described by config.json (${arch})`);
  }
  return out;
}

/** Reads a checkpoint directory: validated config and parameter values. */
export function readCheckpoint(dir: string): { config: ModelConfig; values: Map<string, ParamArray> } {
  const config = readCheckpointConfig(dir);
  const path = join(dir, WEIGHTS_FILE);
  if (!existsSync(path)) throw new UserError(`checkpoint ${dir} has no ${WEIGHTS_FILE}`);
  const { tensors } = readSafetensors(path);
  return { config, values: matchParameters(config, tensors, path) };
}

/** Loads a checkpoint directory into a model. */
export function loadCheckpoint(dir: string): TransformerLM {
  const { config, values } = readCheckpoint(dir);
  return new TransformerLM(config, values);
}
