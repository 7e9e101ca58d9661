/**
 * Where the accounted model comes from: a preset name or a JSON file (a model
 * `config.json`, or a training config whose `model` key holds one), with
 * optional overrides of the context length and d_ff. Validation is the
 * model's own (`resolveModelConfig`): unknown keys, impossible shapes.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { resolveModelConfig } from '../model/config.ts';
import type { ModelConfig } from '../model/config.ts';
import { presetConfig } from './presets.ts';

export interface ModelSource {
  /** Preset name (exclusive with `configPath`). */
  preset?: string;
  configPath?: string;
  /** Overrides context_length. */
  context?: number;
  /** Overrides d_ff. */
  dFf?: number;
}

/** The model section of a parsed JSON file: its `model` object if present, else the whole object. */
export function modelSection(raw: unknown, source: string): { raw: Record<string, unknown>; source: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError(`${source}: expected a JSON object (a model config.json, or a training config with a "model" object)`);
  }
  const obj = raw as Record<string, unknown>;
  if (obj.model !== undefined) {
    if (obj.model === null || typeof obj.model !== 'object' || Array.isArray(obj.model)) {
      throw new UserError(`${source}: "model" must be an object with the model config keys`);
    }
    return { raw: { ...(obj.model as Record<string, unknown>) }, source: `${source} (model)` };
  }
  return { raw: { ...obj }, source };
}

/** Reads and parses a JSON file, with one-line errors. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read --config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (pass an existing config.json)`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`--config ${path} is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** A validated model config from raw keys plus overrides. */
export function configWithOverrides(raw: Record<string, unknown>, source: string, overrides: Pick<ModelSource, 'context' | 'dFf'>): ModelConfig {
  const merged = { ...raw };
  if (overrides.context !== undefined) merged.context_length = overrides.context;
  if (overrides.dFf !== undefined) merged.d_ff = overrides.dFf;
  return resolveModelConfig(merged, source);
}

/** Resolves the model to account for, with a label naming its source. */
export function loadModelConfig(src: ModelSource): { config: ModelConfig; label: string } {
  if ((src.preset === undefined) === (src.configPath === undefined)) {
    throw new UserError('give exactly one of --model PRESET or --config FILE (see --help)');
  }
  if (src.preset !== undefined) {
    return { config: configWithOverrides({ ...presetConfig(src.preset) }, `preset ${src.preset}`, src), label: src.preset };
  }
  const path = src.configPath as string;
  const section = modelSection(readJsonFile(path), path);
  return { config: configWithOverrides(section.raw, section.source, src), label: path };
}
