/**
 * sweep: train a set of runs derived from one base config (a grid of
 * learning rates, batch sizes or architecture switches, or a list of
 * overrides), one trainer process per run, each in OUT/runs/NAME; detect
 * and mark divergence; resume where a previous invocation stopped; write
 * OUT/REPORT.md with a table and the combined learning curves.
 *
 *   npx tsx pipelines/sweep.ts --config sweeps/lr.json
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePipeline, runIfMain } from '../src/pipeline/define.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { backendOverrideOption, configOption, outOption } from '../src/pipeline/common-options.ts';
import { BACKEND_NAMES } from '../src/backends/registry.ts';
import { formatQuantity } from '../src/pipeline/progress.ts';
import { readSweepFile } from '../src/sweep/sweep-file.ts';
import { planSweep } from '../src/sweep/plan.ts';
import { checkDrift, runSweep } from '../src/sweep/runner.ts';
import { LOCK_FILE, lockSweep } from '../src/sweep/lock.ts';
import { SWEEP_STATE_FILE } from '../src/sweep/state.ts';
import { guardOutputs, visibleEntries } from '../src/util/output-guard.ts';
import { readSweepState } from '../src/sweep/state.ts';
import { bestRun } from '../src/sweep/report.ts';
import { writeSweepReport } from '../src/sweep/write-report.ts';
import { formatValue } from '../src/sweep/grid.ts';

export const sweep = definePipeline({
  name: 'sweep',
  gracefulInterrupt: true,
  description: 'train a grid or list of runs from one base config (learning rates, batch sizes, architecture switches), resumably, and report them',
  stages: [
    { name: 'plan', description: 'expand grid × list into runs; validate every run config with the trainer\'s validation' },
    { name: 'train', description: 'pipelines/train.ts per run (child process, --parallel at once), in OUT/runs/NAME; finished runs skipped, unfinished resumed' },
    { name: 'watch', description: 'poll metrics.jsonl; stop and mark a run diverged when its loss exceeds the threshold or goes non-finite' },
    { name: 'evaluate', description: 'final weights on the whole val_data (pipelines/eval.ts) when final_eval is on' },
    { name: 'report', description: 'OUT/REPORT.md table + curves.png/svg (loss vs steps and wall-clock) + loss vs the swept value' },
  ],
  options: {
    config: { ...configOption, required: true, description: 'sweep file (JSON: base, grid and/or runs, budget, out, ...)' },
    out: { ...outOption, required: false, placeholder: 'DIR', description: 'sweep directory', helpDefault: 'the file\'s "out"' },
    backend: { ...backendOverrideOption(BACKEND_NAMES, 'the base config\'s'), description: 'TensorFlow.js backend of every run' },
    parallel: { type: 'int', min: 1, helpDefault: 'the file\'s "parallel", else 1', description: 'runs trained at once' },
    dryRun: { type: 'boolean', description: 'validate and list the runs, train nothing' },
    reportOnly: { type: 'boolean', description: 'rewrite REPORT.md and the plots from the runs so far, train nothing' },
  },
  examples: [
    'npx tsx pipelines/sweep.ts --config sweeps/lr.json',
    'npx tsx pipelines/sweep.ts --config sweeps/lr.json --dry-run',
    'npx tsx pipelines/sweep.ts --config sweeps/post-norm.json --backend native --parallel 2',
  ],
  validate(o) {
    if (o.dryRun && o.reportOnly) throw new UserError('--dry-run and --report-only exclude each other; give one');
  },
  async run(o, ctx) {
    const spec = readSweepFile(o.config);
    const plan = planSweep(spec, o.config, { out: o.out, backend: o.backend, parallel: o.parallel });
    const command = ['node pipelines/sweep.ts --config', o.config, ...(o.out ? ['--out', o.out] : []), ...(o.backend ? ['--backend', o.backend] : []), ...(o.parallel ? ['--parallel', String(o.parallel)] : [])].join(' ');
    const runsList = plan.runs.map((r) => ({ name: r.name, steps: r.config.max_steps, tokens: r.config.max_steps * r.config.batch_size * r.config.model.context_length }));
    if (o.dryRun) {
      checkDrift(plan);
      for (const r of plan.runs) {
        const ov = Object.entries(r.overrides).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
        ctx.log(`${r.name}: ${ov || '(base)'}; ${r.config.max_steps} steps × ${r.config.batch_size}×${r.config.model.context_length} tokens${r.config.max_minutes !== null ? `, ≤ ${r.config.max_minutes} min` : ''} → ${r.dir}`);
      }
      return { sweep: spec.name, out: plan.out, dry_run: true, runs: runsList };
    }

    // OUT is a sweep directory (or new); no run directory may hold its data, since a run
    // that never checkpointed is deleted and started again.
    guardOutputs([
      { path: plan.out, flag: '--out', type: 'dir', what: 'sweep directory', previous: notASweepDir },
      ...plan.runs.map((r) => ({ path: r.dir, flag: '--out', type: 'dir' as const, what: `run directory of ${r.name}` })),
    ], plan.runs.flatMap((r) => [r.config.train_data, ...(r.config.val_data ? [r.config.val_data] : [])]).map((p) => ({ path: p, what: 'training data' })),
    { log: (m) => ctx.log(m) });
    const release = lockSweep(plan.out);
    try {
      checkDrift(plan);
      copyFileSync(o.config, join(plan.out, 'sweep.json'));
      let records = readSweepState(plan.out).runs;
      let interrupted = false;
      const actions: Record<string, number> = {};
      if (!o.reportOnly) {
        ctx.log(`${plan.runs.length} runs → ${plan.out} (${plan.parallel} at a time)`);
        const task = ctx.progress.task('runs', 'items', plan.runs.length);
        let done = 0;
        const result = await runSweep(plan, {
          log: (m) => ctx.log(m),
          signal: ctx.signal,
          onProgress: (run, rec) => task.update(done, `${run.name} step ${rec.step}/${run.config.max_steps} loss ${rec.loss.toFixed(3)} ${formatQuantity(rec.tokens_per_s, 'tokens')}/s`),
          onRunEnd: (run, outcome) => {
            done++;
            const r = outcome.record;
            const val = r.final_eval_loss ?? r.val_loss;
            task.update(done, run.name);
            ctx.log(`${run.name}: ${outcome.action === 'skipped' ? `skipped (${r.status})` : r.status}${r.reason ? ` — ${r.reason}` : ''}; step ${r.step}/${r.max_steps}${val !== null ? `, val loss ${val.toFixed(4)}` : ''}`);
          },
        });
        task.stop();
        records = result.state.runs;
        interrupted = result.interrupted;
        for (const out of result.outcomes) actions[out.action] = (actions[out.action] ?? 0) + 1;
      }
      const { report, plots } = await writeSweepReport(plan, records, command);
      const statuses: Record<string, number> = {};
      for (const r of plan.runs) {
        const s = records[r.name]?.status ?? 'pending';
        statuses[s] = (statuses[s] ?? 0) + 1;
      }
      if (interrupted) throw new UserError(`interrupted; the running trainers were stopped (a rerun resumes each from its last checkpoint) and ${report} shows the runs so far; rerun the same command to resume`);
      const failed = plan.runs.filter((r) => records[r.name]?.status === 'failed');
      if (failed.length > 0) {
        throw new UserError(`${failed.length} of ${plan.runs.length} runs failed (${failed.map((r) => `${r.name}: ${records[r.name]?.reason}`).join('; ')}); logs in ${join(plan.out, 'logs')}; rerun the same command to retry them`);
      }
      const best = bestRun(plan, records);
      return {
        sweep: spec.name,
        out: plan.out,
        runs: plan.runs.length,
        statuses,
        actions,
        best: best ? { run: best.name, val_loss: best.loss } : null,
        report,
        plots: plots.map((p) => join(plan.out, p.png)),
      };
    } finally {
      release();
    }
  },
});

/** Why existing directory `dir` is not a sweep directory (null when it is: it has sweep.json, its state or its lock). */
function notASweepDir(dir: string): string | null {
  const names = visibleEntries(dir);
  return ['sweep.json', SWEEP_STATE_FILE, LOCK_FILE].some((n) => names.includes(n)) ? null : `it has no sweep.json or ${SWEEP_STATE_FILE}`;
}

await runIfMain(sweep, import.meta.url);
