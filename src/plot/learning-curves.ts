/**
 * Learning curves as a Vega-Lite specification (pure): several runs on the
 * same axes, two panels — loss against optimizer steps and against
 * wall-clock time — with the training loss as a solid line and the
 * validation loss as a dashed line with points, one colour per run.
 */
import type { MetricsRecord } from '../train/metrics.ts';

/** A run to plot: its label and its metrics records. */
export interface RunCurves {
  name: string;
  records: readonly MetricsRecord[];
}

/** One plotted point. */
export interface CurvePoint {
  run: string;
  split: 'train' | 'validation';
  step: number;
  wall: number;
  loss: number;
}

export interface CurveOptions {
  title?: string;
  /** Training points kept per run (bucket means beyond that); default 1500. */
  maxPoints?: number;
  /** Size of each panel in pixels. */
  panelWidth?: number;
  panelHeight?: number;
}

/**
 * Averages consecutive training records into at most `maxPoints` buckets
 * (step, time and loss are bucket means), so a long run stays a readable
 * line and a small SVG. Non-finite losses are dropped.
 */
export function downsampleTrain(records: readonly MetricsRecord[], maxPoints: number): { step: number; elapsed_s: number; loss: number }[] {
  const finite = records.filter((r) => Number.isFinite(r.loss));
  if (finite.length <= maxPoints) return finite.map((r) => ({ step: r.step, elapsed_s: r.elapsed_s, loss: r.loss }));
  const out: { step: number; elapsed_s: number; loss: number }[] = [];
  const size = finite.length / maxPoints;
  for (let b = 0; b < maxPoints; b++) {
    const lo = Math.floor(b * size);
    const hi = Math.floor((b + 1) * size);
    let s = 0;
    let t = 0;
    let l = 0;
    for (let i = lo; i < hi; i++) { s += finite[i].step; t += finite[i].elapsed_s; l += finite[i].loss; }
    const n = hi - lo;
    out.push({ step: s / n, elapsed_s: t / n, loss: l / n });
  }
  return out;
}

/** Wall-clock unit for the longest run: seconds, minutes or hours. */
export function wallUnit(maxSeconds: number): { label: string; divisor: number } {
  if (maxSeconds >= 3 * 3600) return { label: 'hours', divisor: 3600 };
  if (maxSeconds >= 180) return { label: 'minutes', divisor: 60 };
  return { label: 'seconds', divisor: 1 };
}

/** The plotted points of every run (train downsampled, every validation point). */
export function curvePoints(runs: readonly RunCurves[], maxPoints = 1500): { points: CurvePoint[]; wallLabel: string } {
  let maxWall = 0;
  for (const r of runs) for (const m of r.records) if (m.elapsed_s > maxWall) maxWall = m.elapsed_s;
  const unit = wallUnit(maxWall);
  const points: CurvePoint[] = [];
  for (const run of runs) {
    for (const p of downsampleTrain(run.records, maxPoints)) {
      points.push({ run: run.name, split: 'train', step: p.step, wall: p.elapsed_s / unit.divisor, loss: p.loss });
    }
    for (const m of run.records) {
      if (m.val_loss !== undefined && Number.isFinite(m.val_loss)) {
        points.push({ run: run.name, split: 'validation', step: m.step, wall: m.elapsed_s / unit.divisor, loss: m.val_loss });
      }
    }
  }
  return { points, wallLabel: `wall-clock (${unit.label})` };
}

/** The Vega-Lite spec (a plain JSON object) for `runs`. */
export function learningCurveSpec(runs: readonly RunCurves[], options: CurveOptions = {}): Record<string, unknown> {
  const { points, wallLabel } = curvePoints(runs, options.maxPoints ?? 1500);
  const width = options.panelWidth ?? 420;
  const height = options.panelHeight ?? 300;
  const names = runs.map((r) => r.name);
  const panel = (field: 'step' | 'wall', title: string): Record<string, unknown> => ({
    width,
    height,
    mark: { type: 'line', point: false, strokeWidth: 1.5, clip: true },
    encoding: {
      x: { field, type: 'quantitative', title },
      y: { field: 'loss', type: 'quantitative', title: 'loss (nats/token)', scale: { zero: false } },
      color: { field: 'run', type: 'nominal', title: 'run', scale: { domain: names } },
      strokeDash: { field: 'split', type: 'nominal', title: 'split', scale: { domain: ['train', 'validation'], range: [[1, 0], [6, 3]] } },
      detail: { field: 'split' },
      order: { field },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title ?? 'learning curves',
    background: 'white',
    padding: 12,
    data: { values: points },
    hconcat: [panel('step', 'step'), panel('wall', wallLabel)],
    resolve: { scale: { y: 'shared' } },
    config: { font: 'DejaVu Sans', view: { stroke: '#ccc' } },
  };
}
