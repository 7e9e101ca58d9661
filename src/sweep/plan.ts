/**
 * Planning a sweep: expand its runs, build each run's training config
 * (base → budget → overrides) and validate all of them with the trainer's
 * own validation before any run starts, so a typo in the last run of a
 * sweep fails in the first second, not after an hour.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { BACKEND_NAMES } from '../backends/registry.ts';
import { resolveTrainConfig, trainConfigToJson } from '../train/train-config.ts';
import type { RawTrainConfig, TrainConfig } from '../train/train-config.ts';
import { nearest } from '../util/nearest.ts';
import { machineMemory } from '../util/memory.ts';
import type { MachineMemory } from '../util/memory.ts';
import { formatQuantity } from '../pipeline/progress.ts';
import { checkMemory } from '../train/preflight.ts';
import { applyOverrides, expandRuns } from './grid.ts';
import type { Overrides, SweepSpec } from './sweep-file.ts';

/** One run of the plan, with its validated training config. */
export interface PlannedRun {
  name: string;
  overrides: Overrides;
  /** The trainer's run directory: OUT/runs/NAME. */
  dir: string;
  /** The training config file the sweep writes for it: OUT/configs/NAME.json. */
  configPath: string;
  /** The raw config given to the trainer (what configPath holds). */
  raw: RawTrainConfig;
  config: TrainConfig;
}

export interface SweepPlan {
  spec: SweepSpec;
  /** The sweep file (for messages and the report). */
  source: string;
  out: string;
  parallel: number;
  runs: PlannedRun[];
  /** The base config with the budget and no overrides (for the report), or null when it is incomplete on its own. */
  base: TrainConfig | null;
}

/** Command-line overrides of the sweep file. */
export interface PlanOptions {
  out?: string;
  backend?: string;
  parallel?: number;
}

const LENGTH_KEYS = ['max_steps', 'max_tokens'] as const;

/** Merges `upper` over `lower`; a run length given in `upper` replaces the one of `lower`, whichever key each uses. */
function overLength(lower: RawTrainConfig, upper: RawTrainConfig): RawTrainConfig {
  const out: RawTrainConfig = { ...lower };
  if (LENGTH_KEYS.some((k) => upper[k] !== undefined)) for (const k of LENGTH_KEYS) delete out[k];
  for (const [k, v] of Object.entries(upper)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The raw training config of one run: base, then the budget, then the overrides, then the sweep's own settings. */
export function runRawConfig(spec: SweepSpec, overrides: Overrides, dir: string, backend?: string): RawTrainConfig {
  const withBudget = overLength(spec.base, spec.budget as RawTrainConfig);
  const lengthOverride: RawTrainConfig = {};
  for (const k of [...LENGTH_KEYS, 'max_minutes'] as const) if (overrides[k] !== undefined) lengthOverride[k] = overrides[k];
  const raw = applyOverrides(overLength(withBudget, lengthOverride), overrides);
  if (backend !== undefined) raw.backend = backend;
  raw.out = dir;
  return raw;
}

/** The directory of run `name` in sweep directory `out`. */
export function runDir(out: string, name: string): string {
  return join(out, 'runs', name);
}

/**
 * Expands and validates every run. Throws a UserError naming the sweep
 * file, the run and the problem: a config the trainer rejects, a budget
 * without a run length or smaller than one step, a missing data file, an
 * unknown backend.
 */
export function planSweep(spec: SweepSpec, source: string, options: PlanOptions = {}): SweepPlan {
  const out = options.out ?? spec.out;
  const backend = options.backend;
  const specs = expandRuns(spec.grid, spec.runs, source);
  const checkedFiles = new Set<string>();
  const machine = machineMemory();
  const totals: number[] = [];
  const runs = specs.map((r): PlannedRun => {
    const where = `${source}: run "${r.name}"`;
    const dir = runDir(out, r.name);
    const raw = runRawConfig(spec, r.overrides, dir, backend);
    if (raw.max_steps === undefined && raw.max_tokens === undefined) {
      throw new UserError(`${where}: no run length: set "budget": {"max_steps": N} or {"max_tokens": N} (the learning-rate schedule's length), with "max_minutes" as an optional wall-clock cap`);
    }
    const config = resolveTrainConfig(raw, where);
    const tokensPerStep = config.batch_size * config.model.context_length;
    if (config.max_tokens !== null && config.max_tokens < tokensPerStep) {
      throw new UserError(`${where}: the budget of ${config.max_tokens} tokens fits no step of batch_size ${config.batch_size} × context_length ${config.model.context_length} = ${tokensPerStep} tokens; raise "max_tokens" to at least ${tokensPerStep}`);
    }
    if (!(BACKEND_NAMES as readonly string[]).includes(config.backend)) {
      const n = nearest(config.backend, BACKEND_NAMES);
      throw new UserError(`${where}: unknown backend "${config.backend}"${n ? ` (did you mean "${n}"?)` : ''}; choose one of ${BACKEND_NAMES.join(', ')}`);
    }
    for (const [key, path] of [['train_data', config.train_data], ['val_data', config.val_data]] as const) {
      if (path === null || checkedFiles.has(path)) continue;
      if (!existsSync(path)) throw new UserError(`${where}: ${key} ${path} not found; prepare the data first (e.g. bash sweeps/prepare-tinystories.sh) or fix the path`);
      checkedFiles.add(path);
    }
    // A run that cannot fit in memory is refused now, not after the runs before it (src/train/preflight.ts).
    const memory = checkMemory(config.model, { batchSize: config.batch_size, backend: config.backend, where, otherProcess: true }, machine);
    totals.push(memory.estimate.total);
    return { name: r.name, overrides: r.overrides, dir, configPath: join(out, 'configs', `${r.name}.json`), raw, config };
  });
  const parallel = options.parallel ?? spec.parallel;
  checkParallelMemory(totals, parallel, machine, source);
  let base: TrainConfig | null = null;
  try {
    base = resolveTrainConfig(runRawConfig(spec, {}, join(out, 'base'), backend), source);
  } catch {
    base = null; // e.g. a required key that only the overrides supply
  }
  return { spec, source, out, parallel, runs, base };
}

/**
 * Refuses `parallel` concurrent runs whose estimates (the largest ones, as
 * the worst case) together exceed the memory available now.
 */
function checkParallelMemory(totals: readonly number[], parallel: number, machine: MachineMemory, source: string): void {
  if (parallel <= 1 || totals.length <= 1) return;
  const together = Math.min(parallel, totals.length);
  const worst = [...totals].sort((a, b) => b - a).slice(0, together).reduce((a, b) => a + b, 0);
  if (worst <= machine.available) return;
  const largest = Math.max(...totals);
  const fits = Math.max(1, Math.floor(machine.available / largest));
  throw new UserError(`${source}: ${together} runs at once need about ${formatQuantity(worst, 'bytes')} (the largest runs' estimates), but ${formatQuantity(machine.available, 'bytes')} is available (${machine.source}); lower "parallel" (or --parallel) to ${fits}`);
}

/** Keys that may differ between a run's stored config and the plan without making it a different run. */
const VOLATILE_KEYS = new Set(['max_minutes', 'backend', 'out']);

/**
 * The first difference between a run's stored `train-config.json` and its
 * planned config (ignoring the wall-clock cap, backend and path), or null.
 * A difference means the sweep file changed since the run started.
 */
export function configDrift(stored: Record<string, unknown>, planned: TrainConfig): string | null {
  const want = trainConfigToJson(planned);
  // Configs stored before the precision key existed ran in fp32.
  if (!('precision' in stored)) stored = { ...stored, precision: 'fp32' };
  const keys = new Set([...Object.keys(stored), ...Object.keys(want)]);
  for (const k of keys) {
    if (VOLATILE_KEYS.has(k)) continue;
    if (k === 'model') {
      const a = (stored.model ?? {}) as Record<string, unknown>;
      const b = want.model as Record<string, unknown>;
      for (const mk of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (JSON.stringify(a[mk]) !== JSON.stringify(b[mk])) return `model.${mk} was ${JSON.stringify(a[mk])}, the sweep now gives ${JSON.stringify(b[mk])}`;
      }
      continue;
    }
    if (JSON.stringify(stored[k]) !== JSON.stringify(want[k])) return `${k} was ${JSON.stringify(stored[k])}, the sweep now gives ${JSON.stringify(want[k])}`;
  }
  return null;
}
