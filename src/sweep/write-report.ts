/**
 * Writes the sweep's report files into its directory: the plots (PNG and
 * SVG, rendered headless by src/plot) and REPORT.md, all atomically.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import type { RunCurves } from '../plot/learning-curves.ts';
import { svgToPng, vegaLiteToSvg } from '../plot/render.ts';
import type { SweepPlan } from './plan.ts';
import { reportMarkdown } from './report.ts';
import type { ReportPlot } from './report.ts';
import { lossVsValueSpec, numericAxis, sweepCurveSpec, valuePoints } from './report-plots.ts';
import { readRunMetrics } from './runner.ts';
import type { RunRecord } from './state.ts';

export const REPORT_FILE = 'REPORT.md';

async function writePlot(out: string, stem: string, title: string, spec: Record<string, unknown>): Promise<ReportPlot> {
  const svg = await vegaLiteToSvg(spec);
  const png = await svgToPng(svg, { scale: 1.5 });
  writeFileAtomic(join(out, `${stem}.svg`), svg);
  writeFileAtomic(join(out, `${stem}.png`), png);
  return { title, png: `${stem}.png`, svg: `${stem}.svg` };
}

/** Renders the plots and writes OUT/REPORT.md; returns the report's path and the plot files. */
export async function writeSweepReport(plan: SweepPlan, records: Record<string, RunRecord | undefined>, command: string): Promise<{ report: string; plots: ReportPlot[] }> {
  const plots: ReportPlot[] = [];
  const curves: RunCurves[] = [];
  for (const run of plan.runs) {
    const metrics = readRunMetrics(run.dir);
    if (metrics.length > 0) curves.push({ name: run.name, records: metrics });
  }
  if (curves.length > 0) {
    plots.push(await writePlot(plan.out, 'curves', 'Learning curves', sweepCurveSpec(curves, `${plan.spec.name}: training (solid) and validation (dashed) loss`)));
  }
  const key = numericAxis(plan);
  if (key !== null) {
    const { points, diverged } = valuePoints(plan, records, key);
    if (points.length > 0) {
      const label = plan.runs.some((r) => records[r.name]?.final_eval_loss != null) ? 'full validation loss' : 'final validation loss';
      const stem = `loss-vs-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      plots.push(await writePlot(plan.out, stem, `Validation loss vs ${key}`, lossVsValueSpec(key, points, diverged, label)));
    }
  }
  const report = join(plan.out, REPORT_FILE);
  writeFileAtomic(report, reportMarkdown({ plan, records, plots, command }));
  return { report, plots };
}
