/**
 * The sweep's plots as Vega-Lite specs (pure): the combined learning curves
 * of src/plot (loss against steps and against wall-clock, every run on the
 * same axes) with the loss axis capped so that a diverged run does not
 * flatten the others, and, for a sweep over one numeric key, the
 * validation loss against that key's value.
 */
import { learningCurveSpec } from '../plot/learning-curves.ts';
import type { RunCurves } from '../plot/learning-curves.ts';
import { runName } from './grid.ts';
import type { SweepPlan } from './plan.ts';
import { rankingLoss } from './report.ts';
import type { RunRecord } from './state.ts';

/**
 * Loss-axis range for curves: from the lowest finite loss to a little above
 * the highest first-step loss (≈ ln vocab_size), so divergence beyond the
 * starting loss is clipped at the top instead of rescaling the axis.
 */
export function lossAxisRange(runs: readonly RunCurves[]): [number, number] | null {
  let lo = Infinity;
  let start = -Infinity;
  let hi = -Infinity;
  for (const r of runs) {
    const first = r.records.find((m) => Number.isFinite(m.loss));
    if (first) start = Math.max(start, first.loss);
    for (const m of r.records) {
      for (const v of [m.loss, m.val_loss]) {
        if (v === undefined || !Number.isFinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (!Number.isFinite(lo) || !Number.isFinite(start)) return null;
  const top = Math.min(hi, start + 0.25);
  return [Math.floor(lo * 10) / 10, Math.ceil(Math.max(top, lo + 0.1) * 10) / 10];
}

/** Training tokens per optimizer step of a run (batch_size · context_length), from its log. */
function tokensPerStep(r: RunCurves): number {
  const first = r.records[0];
  return first && first.step > 0 ? first.tokens / first.step : 0;
}

/**
 * learningCurveSpec with the loss axis limited to lossAxisRange (points
 * outside are clipped). When the runs consume different numbers of tokens
 * per step (a batch-size sweep), the first panel plots against training
 * tokens instead of steps, so the runs share a meaningful axis.
 */
export function sweepCurveSpec(runs: readonly RunCurves[], title: string): Record<string, unknown> {
  const spec = learningCurveSpec(runs, { title, panelWidth: 420, panelHeight: 300 });
  const panels = spec.hconcat as Record<string, unknown>[];
  const perStep = new Map(runs.map((r) => [r.name, tokensPerStep(r)]));
  if (new Set(perStep.values()).size > 1) {
    const data = spec.data as { values: { run: string; step: number; tokens?: number }[] };
    // tokens = step · tokens-per-step holds for bucket means too (it is linear).
    for (const p of data.values) p.tokens = p.step * (perStep.get(p.run) ?? 0);
    const enc = panels[0].encoding as Record<string, Record<string, unknown>>;
    enc.x = { ...enc.x, field: 'tokens', title: 'training tokens' };
    enc.order = { field: 'tokens' };
  }
  const range = lossAxisRange(runs);
  if (range === null) return spec;
  for (const panel of panels) {
    const enc = panel.encoding as Record<string, Record<string, unknown>>;
    enc.y = { ...enc.y, scale: { ...(enc.y.scale as Record<string, unknown>), domain: range } };
  }
  return spec;
}

/** One point of the loss-vs-value plot. */
export interface ValuePoint {
  value: number;
  loss: number;
  series: string;
  run: string;
}

/**
 * The key to plot the validation loss against: the sweep's `plot_against`
 * (none when false), else the grid's only axis when all its values are
 * numbers (lr, batch_size, ...), else null.
 */
export function numericAxis(plan: SweepPlan): string | null {
  if (plan.spec.plot_against === false) return null;
  if (plan.spec.plot_against !== null) return plan.spec.plot_against;
  const axes = plan.spec.grid;
  if (axes.length !== 1 || axes[0].values.length < 2) return null;
  return axes[0].values.every((v) => typeof v === 'number') ? axes[0].key : null;
}

/**
 * Points for the loss-vs-value plot: each finished, non-diverged run's
 * ranking loss at its value of `key`, in series by its other overrides.
 * Diverged runs are returned separately (drawn as crosses at the top).
 */
export function valuePoints(plan: SweepPlan, records: Record<string, RunRecord | undefined>, key: string): { points: ValuePoint[]; diverged: { value: number; run: string }[] } {
  const points: ValuePoint[] = [];
  const diverged: { value: number; run: string }[] = [];
  for (const run of plan.runs) {
    const value = run.overrides[key];
    if (typeof value !== 'number') continue;
    // Along a grid axis, every other override makes a series; along a key the list entries set, only the grid axes do.
    const gridKeys = new Set(plan.spec.grid.map((a) => a.key));
    const rest = Object.fromEntries(Object.entries(run.overrides).filter(([k]) => k !== key && (gridKeys.has(key) || gridKeys.has(k))));
    const series = Object.keys(rest).length ? runName(rest) : 'runs';
    const r = records[run.name];
    if (r?.status === 'diverged') { diverged.push({ value, run: run.name }); continue; }
    const l = rankingLoss(r);
    if (l !== null) points.push({ value, loss: l, series, run: run.name });
  }
  return { points, diverged };
}

/** Vega-Lite spec: validation loss against the swept value (log x when the values span 10× or more). */
export function lossVsValueSpec(key: string, points: readonly ValuePoint[], diverged: readonly { value: number; run: string }[], lossLabel: string): Record<string, unknown> {
  const all = [...points.map((p) => p.value), ...diverged.map((d) => d.value)];
  const min = Math.min(...all);
  const max = Math.max(...all);
  const log = min > 0 && max / min >= 10;
  const x = { field: 'value', type: 'quantitative', title: key, scale: log ? { type: 'log' } : { zero: false } };
  const top = points.length ? Math.max(...points.map((p) => p.loss)) : 0;
  const layers: Record<string, unknown>[] = [{
    data: { values: points },
    mark: { type: 'line', point: { size: 60 }, strokeWidth: 1.5 },
    encoding: {
      x,
      y: { field: 'loss', type: 'quantitative', title: lossLabel, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: 'series' },
      tooltip: [{ field: 'run' }, { field: 'loss' }],
    },
  }];
  if (diverged.length) {
    layers.push({
      data: { values: diverged.map((d) => ({ ...d, loss: top })) },
      mark: { type: 'point', shape: 'cross', size: 150, color: '#d62728', filled: true },
      encoding: { x, y: { field: 'loss', type: 'quantitative' }, tooltip: [{ field: 'run' }] },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${lossLabel} vs ${key}${diverged.length ? ' (crosses: diverged runs)' : ''}`,
    background: 'white',
    padding: 12,
    width: 420,
    height: 300,
    layer: layers,
    config: { font: 'DejaVu Sans', view: { stroke: '#ccc' } },
  };
}
