/**
 * plot: learning curves of one or more training runs on the same axes —
 * loss against steps and against wall-clock time, training (solid) and
 * validation (dashed) — written as SVG and PNG, rendered headless
 * (vega-lite → vega → SVG, resvg → PNG).
 *
 *   npx tsx pipelines/plot.ts out/run-a out/run-b --out curves.png
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import type { OptionSpecs } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { outOption } from '../src/pipeline/common-options.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { guardOutputs } from '../src/util/output-guard.ts';
import { learningCurveSpec } from '../src/plot/learning-curves.ts';
import { svgToPng, vegaLiteToSvg } from '../src/plot/render.ts';
import { loadRuns } from '../src/plot/runs.ts';

const options = {
  run: { type: 'string', multiple: true, required: true, placeholder: 'RUN', description: 'run directory (or its metrics.jsonl); repeatable, or give runs as plain arguments' },
  out: { ...outOption, placeholder: 'FILE.png', description: 'output PNG; the SVG is written next to it (same name, .svg)' },
  name: { type: 'string', multiple: true, placeholder: 'LABEL', description: 'legend label of the i-th run (default: its directory name); repeatable' },
  title: { type: 'string', default: 'learning curves', description: 'plot title' },
  scale: { type: 'number', default: 2, min: 0.25, max: 8, description: 'PNG pixels per SVG unit' },
  maxPoints: { type: 'int', default: 1500, min: 10, description: 'training points per run (bucket means beyond that)' },
} satisfies OptionSpecs;

export const plot = definePipeline({
  name: 'plot',
  description: 'plot learning curves of training runs (loss vs steps and vs wall-clock) to PNG and SVG',
  stages: [
    { name: 'read', description: 'read each run\'s metrics.jsonl' },
    { name: 'render', description: 'vega-lite → SVG (vega) → PNG (resvg, DejaVu fonts)' },
    { name: 'write', description: 'write FILE.png and FILE.svg atomically' },
  ],
  options,
  positional: 'run',
  examples: ['npx tsx pipelines/plot.ts out/run-a out/run-b --out curves.png', 'npx tsx pipelines/plot.ts --run out/run-a --name baseline --out a.png'],
  validate(o) {
    const ext = extname(o.out).toLowerCase();
    if (ext !== '.png' && ext !== '.svg') throw new UserError(`--out ${o.out}: give a .png (or .svg) file name`);
  },
  async run(o, ctx) {
    const stem = join(dirname(o.out), basename(o.out, extname(o.out)));
    guardOutputs(['svg', 'png'].map((ext) => ({ path: `${stem}.${ext}`, flag: '--out', type: 'file' as const, what: 'plot' })),
      o.run.map((r) => ({ path: existsSync(r) && statSync(r).isDirectory() ? join(r, 'metrics.jsonl') : r, what: 'run' })),
      { log: (m) => ctx.log(m) });
    const runs = loadRuns(o.run, o.name);
    ctx.log(`plotting ${runs.length} run(s): ${runs.map((r) => `${r.name} (${r.records.length} steps)`).join(', ')}`);
    const svg = await vegaLiteToSvg(learningCurveSpec(runs, { title: o.title, maxPoints: o.maxPoints }));
    const png = await svgToPng(svg, { scale: o.scale });
    writeFileAtomic(`${stem}.svg`, svg);
    writeFileAtomic(`${stem}.png`, png);
    return {
      runs: runs.map((r) => ({ name: r.name, steps: r.records.length, last_step: r.records[r.records.length - 1].step })),
      png: `${stem}.png`,
      svg: `${stem}.svg`,
    };
  },
});

await runIfMain(plot, import.meta.url);
