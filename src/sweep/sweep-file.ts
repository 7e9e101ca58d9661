/**
 * The sweep file (`sweeps/NAME.json`): a base training config, the runs to
 * derive from it (a grid, a list of overrides, or both crossed), a budget
 * per run, divergence detection and the output directory.
 *
 *   {
 *     "name": "lr", "description": "learning-rate sweep",
 *     "out": "out/sweeps/lr",
 *     "base": { "model": {...}, "train_data": "...", "val_data": "...", "batch_size": 32, ... },
 *        (or "base": "tinystories-base.json": a training config file, relative to the sweep file)
 *     "budget": { "max_steps": 400, "max_minutes": 3 },
 *     "grid": { "lr": [1e-3, 3e-3, 1e-2] },
 *     "runs": [ { "name": "silu", "model.ffn": "silu", "model.d_ff": 512 } ],
 *     "divergence": { "margin": 1.0, "window": 5 },
 *     "parallel": 1, "final_eval": true,
 *     "plot_against": "lr"   (the numeric key of the loss-vs-value plot; default: the grid's only axis; false: none)
 *   }
 *
 * Paths inside training configs (train_data, ...) are relative to the
 * working directory, as for pipelines/train.ts.
 *
 * This module checks the file's structure and keys (one-line UserErrors
 * naming the nearest valid key); the per-run training configs are checked
 * by the trainer's own validation in plan.ts.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { nearest } from '../util/nearest.ts';
import { MODEL_CONFIG_KEYS } from '../model/config.ts';
import { TRAIN_CONFIG_KEYS, checkKeys, readTrainConfigFile } from '../train/train-config.ts';
import type { RawTrainConfig } from '../train/train-config.ts';

/** A JSON value an override may set. */
export type OverrideValue = number | string | boolean | null | readonly (number | string | boolean)[];

/** Overrides of one run, by flat key: `lr`, `batch_size`, `model.norm`, ... (in file order). */
export type Overrides = Record<string, OverrideValue>;

/** One axis of the grid. */
export interface GridAxis {
  key: string;
  values: OverrideValue[];
}

/** One entry of the `runs` list. */
export interface ListEntry {
  /** Explicit run name (else derived from the overrides). */
  name: string | null;
  overrides: Overrides;
}

/** When a run counts as diverged (besides a non-finite loss, which always does). */
export interface DivergenceRule {
  /** Diverged when the mean of the last `window` training losses exceeds the first step's loss plus this. */
  margin: number;
  /** Absolute threshold instead of first loss + margin. */
  max_loss: number | null;
  /** Training steps averaged before comparing with the threshold. */
  window: number;
}

export interface SweepBudget {
  max_minutes?: number;
  max_steps?: number;
  max_tokens?: number;
}

/** A structurally valid sweep file. */
export interface SweepSpec {
  name: string;
  description: string | null;
  out: string;
  base: RawTrainConfig;
  budget: SweepBudget;
  grid: GridAxis[];
  runs: ListEntry[];
  divergence: DivergenceRule;
  /** Concurrent training processes. */
  parallel: number;
  /** Evaluate each finished run's final weights on the whole val_data (pipelines/eval.ts). */
  final_eval: boolean;
  /** Numeric override key to plot the validation loss against; null: the grid's only numeric axis; false: no such plot. */
  plot_against: string | false | null;
}

/** The most runs one sweep file may expand to (each is a training process; a larger grid is a typo, not a plan). */
export const MAX_SWEEP_RUNS = 1000;

export const SWEEP_KEYS = ['name', 'description', 'out', 'base', 'budget', 'grid', 'runs', 'divergence', 'parallel', 'final_eval', 'plot_against'] as const;
export const BUDGET_KEYS = ['max_minutes', 'max_steps', 'max_tokens'] as const;
export const DIVERGENCE_KEYS = ['margin', 'max_loss', 'window'] as const;
export const DIVERGENCE_DEFAULTS: DivergenceRule = { margin: 1.0, max_loss: null, window: 5 };

/** Training keys a run may override (`out` belongs to the sweep, `model` is set key by key). */
export const OVERRIDE_TRAIN_KEYS: readonly string[] = TRAIN_CONFIG_KEYS.filter((k) => k !== 'out' && k !== 'model');

/** Every valid flat override key. */
export function overrideKeys(): string[] {
  return [...OVERRIDE_TRAIN_KEYS, ...MODEL_CONFIG_KEYS.map((k) => `model.${k}`)];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function unknownKey(source: string, where: string, key: string, valid: readonly string[]): never {
  const n = nearest(key, valid);
  throw new UserError(`${source}: unknown ${where} key "${key}"${n ? ` (did you mean "${n}"?)` : ''}; valid keys: ${valid.join(', ')}`);
}

function checkObjectKeys(source: string, where: string, value: Record<string, unknown>, valid: readonly string[]): void {
  for (const k of Object.keys(value)) if (!valid.includes(k)) unknownKey(source, where, k, valid);
}

/**
 * Checks one flat override key: a training key, or `model.` + a model key.
 * A bare model key (`norm`) is pointed to its `model.` form.
 */
export function checkOverrideKey(key: string, source: string): void {
  if (key === 'out') throw new UserError(`${source}: "out" cannot be overridden: each run trains in OUT/runs/NAME (set the sweep's "out" instead)`);
  if (key === 'model') return;
  if (key.startsWith('model.')) {
    const sub = key.slice('model.'.length);
    if ((MODEL_CONFIG_KEYS as readonly string[]).includes(sub)) return;
    const n = nearest(sub, MODEL_CONFIG_KEYS);
    throw new UserError(`${source}: unknown model config key "${key}"${n ? ` (did you mean "model.${n}"?)` : ''}; model keys: ${MODEL_CONFIG_KEYS.join(', ')}`);
  }
  if (OVERRIDE_TRAIN_KEYS.includes(key)) return;
  if ((MODEL_CONFIG_KEYS as readonly string[]).includes(key)) {
    throw new UserError(`${source}: "${key}" is a model config key; write it as "model.${key}"`);
  }
  unknownKey(source, 'override', key, overrideKeys());
}

function checkValue(v: unknown, source: string, key: string): OverrideValue {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean')) return v as OverrideValue;
  throw new UserError(`${source}: "${key}" must be a number, string, boolean or a list of them, got ${JSON.stringify(v)}`);
}

/**
 * Flattens one override object: `{"model": {"norm": "none"}, "lr": 1e-3}`
 * → `{"model.norm": "none", "lr": 1e-3}`, checking every key.
 */
export function flattenOverrides(value: Record<string, unknown>, source: string): Overrides {
  const out: Overrides = {};
  for (const [k, v] of Object.entries(value)) {
    checkOverrideKey(k, source);
    if (k === 'model') {
      if (!isObject(v)) throw new UserError(`${source}: "model" must be an object of model config keys, e.g. {"norm": "none"}`);
      for (const [mk, mv] of Object.entries(v)) {
        checkOverrideKey(`model.${mk}`, source);
        out[`model.${mk}`] = checkValue(mv, source, `model.${mk}`);
      }
    } else {
      out[k] = checkValue(v, source, k);
    }
  }
  return out;
}

function positive(source: string, key: string, v: unknown, int: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (int && !Number.isInteger(v))) {
    throw new UserError(`${source}: "${key}" must be a positive ${int ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validates the structure of a parsed sweep file; `source` names it in errors. */
export function parseSweepSpec(value: unknown, source: string): SweepSpec {
  if (!isObject(value)) throw new UserError(`${source}: expected a JSON object with sweep keys (${SWEEP_KEYS.join(', ')})`);
  checkObjectKeys(source, 'sweep', value, SWEEP_KEYS);

  const defaultName = basename(source, extname(source));
  const name = value.name ?? defaultName;
  if (typeof name !== 'string' || name === '') throw new UserError(`${source}: "name" must be a non-empty string`);
  const description = value.description ?? null;
  if (description !== null && typeof description !== 'string') throw new UserError(`${source}: "description" must be a string`);
  const out = value.out;
  if (typeof out !== 'string' || out === '') throw new UserError(`${source}: "out" is required: the sweep directory, e.g. "out/sweeps/${name}"`);

  let base = value.base ?? {};
  if (typeof base === 'string') base = readTrainConfigFile(resolve(dirname(source), base));
  if (!isObject(base)) throw new UserError(`${source}: "base" must be an object (the training config every run starts from) or the path of a training config file, relative to the sweep file`);
  checkKeys(base, `${source}: base`);
  if (base.out !== undefined) throw new UserError(`${source}: base "out" is not used: each run trains in OUT/runs/NAME; remove it (set the sweep's "out")`);
  if (base.model !== undefined && !isObject(base.model)) throw new UserError(`${source}: base "model" must be an object of model config keys`);

  const budgetRaw = value.budget ?? {};
  if (!isObject(budgetRaw)) throw new UserError(`${source}: "budget" must be an object with ${BUDGET_KEYS.join(', ')}`);
  checkObjectKeys(source, 'budget', budgetRaw, BUDGET_KEYS);
  const budget: SweepBudget = {};
  if (budgetRaw.max_minutes !== undefined) budget.max_minutes = positive(source, 'budget.max_minutes', budgetRaw.max_minutes, false);
  if (budgetRaw.max_steps !== undefined) budget.max_steps = positive(source, 'budget.max_steps', budgetRaw.max_steps, true);
  if (budgetRaw.max_tokens !== undefined) budget.max_tokens = positive(source, 'budget.max_tokens', budgetRaw.max_tokens, true);

  const grid: GridAxis[] = [];
  if (value.grid !== undefined) {
    if (!isObject(value.grid)) throw new UserError(`${source}: "grid" must be an object of key → list of values, e.g. {"lr": [1e-3, 3e-3]}`);
    for (const [key, values] of Object.entries(value.grid)) {
      checkOverrideKey(key, `${source}: grid`);
      if (key === 'model') throw new UserError(`${source}: grid: give model keys one by one, e.g. "model.norm": ["pre", "none"]`);
      if (!Array.isArray(values) || values.length === 0) throw new UserError(`${source}: grid "${key}" must be a non-empty list of values`);
      grid.push({ key, values: values.map((v) => checkValue(v, `${source}: grid`, key)) });
    }
  }

  const runs: ListEntry[] = [];
  if (value.runs !== undefined) {
    if (!Array.isArray(value.runs) || value.runs.length === 0) throw new UserError(`${source}: "runs" must be a non-empty list of override objects`);
    value.runs.forEach((entry, i) => {
      const where = `${source}: runs[${i}]`;
      if (!isObject(entry)) throw new UserError(`${where}: expected an object of overrides, e.g. {"model.norm": "post"}`);
      const { name: entryName, ...rest } = entry;
      if (entryName !== undefined && (typeof entryName !== 'string' || entryName === '')) throw new UserError(`${where}: "name" must be a non-empty string`);
      runs.push({ name: (entryName as string | undefined) ?? null, overrides: flattenOverrides(rest, where) });
    });
  }

  const count = grid.reduce((n, a) => n * a.values.length, 1) * Math.max(1, runs.length);
  if (count > MAX_SWEEP_RUNS) {
    const sizes = [...grid.map((a) => `${a.values.length} ${a.key}`), ...(runs.length > 0 ? [`${runs.length} runs entries`] : [])].join(' × ');
    throw new UserError(`${source}: the grid expands to ${count} runs (${sizes}), more than the ${MAX_SWEEP_RUNS} a sweep may hold; sweep fewer values per axis, or split it into several sweep files`);
  }

  const divRaw = value.divergence ?? {};
  if (!isObject(divRaw)) throw new UserError(`${source}: "divergence" must be an object with ${DIVERGENCE_KEYS.join(', ')}`);
  checkObjectKeys(source, 'divergence', divRaw, DIVERGENCE_KEYS);
  const divergence: DivergenceRule = { ...DIVERGENCE_DEFAULTS };
  if (divRaw.margin !== undefined) divergence.margin = positive(source, 'divergence.margin', divRaw.margin, false);
  if (divRaw.max_loss !== undefined && divRaw.max_loss !== null) divergence.max_loss = positive(source, 'divergence.max_loss', divRaw.max_loss, false);
  if (divRaw.window !== undefined) divergence.window = positive(source, 'divergence.window', divRaw.window, true);

  const parallel = value.parallel === undefined ? 1 : positive(source, 'parallel', value.parallel, true);
  const finalEval = value.final_eval ?? true;
  if (typeof finalEval !== 'boolean') throw new UserError(`${source}: "final_eval" must be true or false`);

  const plotAgainst = value.plot_against ?? null;
  if (plotAgainst !== null && plotAgainst !== false) {
    if (typeof plotAgainst !== 'string') throw new UserError(`${source}: "plot_against" must be an override key such as "batch_size", or false for no loss-vs-value plot`);
    checkOverrideKey(plotAgainst, `${source}: plot_against`);
    const used = grid.some((a) => a.key === plotAgainst) || runs.some((r) => r.overrides[plotAgainst] !== undefined);
    if (!used) throw new UserError(`${source}: "plot_against" names "${plotAgainst}", which no grid axis or run overrides; name a swept key`);
  }

  return { name, description, out, base: base as RawTrainConfig, budget, grid, runs, divergence, parallel, final_eval: finalEval, plot_against: plotAgainst };
}

/** Reads and validates a sweep file. */
export function readSweepFile(path: string): SweepSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new UserError(`sweep file ${path} is a directory; give the sweep's JSON file (e.g. sweeps/lr.json)`);
    throw new UserError(`cannot read sweep file ${path}: ${code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return parseSweepSpec(value, path);
}
