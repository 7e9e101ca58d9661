/**
 * Grid expansion and run naming (pure). The runs of a sweep are the
 * cartesian product of the grid axes (first axis varies slowest), each
 * crossed with every entry of the `runs` list; a run's name is derived from
 * its overrides (`lr=0.003,norm=none`), so its directory says what it is.
 */
import { UserError } from '../pipeline/errors.ts';
import type { RawTrainConfig } from '../train/train-config.ts';
import type { GridAxis, ListEntry, OverrideValue, Overrides } from './sweep-file.ts';

/** One run to train: its name and the overrides applied to the base config. */
export interface RunSpec {
  name: string;
  overrides: Overrides;
}

/** Every combination of the axes' values, first axis slowest; one empty combination for no axes. */
export function cartesian(axes: readonly GridAxis[]): Overrides[] {
  let combos: Overrides[] = [{}];
  for (const axis of axes) {
    const next: Overrides[] = [];
    for (const c of combos) for (const v of axis.values) next.push({ ...c, [axis.key]: v });
    combos = next;
  }
  return combos;
}

/** A value as it appears in a run name: numbers as JavaScript prints them, lists joined by '-'. */
export function formatValue(v: OverrideValue): string {
  if (Array.isArray(v)) return v.map((x) => String(x)).join('-');
  return String(v);
}

/** Characters kept in run names (safe in paths and shells); others become '_'. */
function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9._=,+-]/g, '_');
}

/**
 * The name of a run with these overrides: `key=value` joined by ',', the
 * `model.` prefix dropped (model and training keys never collide), `base`
 * when there are none.
 */
export function runName(overrides: Overrides): string {
  const parts = Object.entries(overrides).map(([k, v]) => `${k.startsWith('model.') ? k.slice(6) : k}=${formatValue(v)}`);
  return parts.length === 0 ? 'base' : sanitize(parts.join(','));
}

/**
 * The runs of a sweep: grid combinations × list entries (either may be
 * absent). A list entry's `name` replaces its part of the derived name.
 * Duplicate names are a UserError naming both.
 */
export function expandRuns(grid: readonly GridAxis[], list: readonly ListEntry[], source = 'sweep'): RunSpec[] {
  const entries: ListEntry[] = list.length > 0 ? [...list] : [{ name: null, overrides: {} }];
  const runs: RunSpec[] = [];
  for (const combo of cartesian(grid)) {
    for (const entry of entries) {
      const overrides: Overrides = { ...combo, ...entry.overrides };
      const gridPart = Object.keys(combo).length > 0 ? runName(combo) : '';
      const entryPart = entry.name !== null ? sanitize(entry.name) : Object.keys(entry.overrides).length > 0 ? runName(entry.overrides) : '';
      const name = [gridPart, entryPart].filter((p) => p !== '').join(',') || 'base';
      runs.push({ name, overrides });
    }
  }
  const seen = new Map<string, number>();
  runs.forEach((r, i) => {
    const j = seen.get(r.name);
    if (j !== undefined) throw new UserError(`${source}: runs ${j + 1} and ${i + 1} are both named "${r.name}"; give the list entries distinct "name"s or distinct overrides`);
    if (r.name.length > 200) throw new UserError(`${source}: run name "${r.name.slice(0, 40)}..." is too long for a directory; give the list entry a short "name"`);
    seen.set(r.name, i);
  });
  return runs;
}

/** The base config with one run's overrides applied (`model.x` keys into the model object). */
export function applyOverrides(base: RawTrainConfig, overrides: Overrides): RawTrainConfig {
  const out: RawTrainConfig = { ...base };
  const baseModel = base.model;
  const model: Record<string, unknown> = baseModel !== null && typeof baseModel === 'object' && !Array.isArray(baseModel) ? { ...baseModel } : {};
  let touchedModel = baseModel !== undefined;
  for (const [k, v] of Object.entries(overrides)) {
    if (k.startsWith('model.')) {
      model[k.slice(6)] = Array.isArray(v) ? [...v] : v;
      touchedModel = true;
    } else {
      (out as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
    }
  }
  if (touchedModel) out.model = model;
  return out;
}
