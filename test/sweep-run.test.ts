/**
 * The sweep CLI end to end on a tiny generated token file with the cpu
 * backend: three runs of a few steps, one forced to diverge (lr 1e6), one
 * left half-trained beforehand (resumed, not restarted); the report table
 * and plots; a second invocation trains nothing; a divergence seen while a
 * trainer runs stops it with a checkpoint; errors exit 2 with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSweepFile } from '../src/sweep/sweep-file.ts';
import { planSweep } from '../src/sweep/plan.ts';
import { runPipelineChild } from '../src/sweep/trainer-process.ts';
import { readSweepState } from '../src/sweep/state.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { checkpointStep } from '../src/train/run.ts';
import { runPipeline, summaryOf } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-sweep-run-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const VOCAB = 64;

/** A learnable token stream: a fixed cycle of ids with a little seeded noise. */
function tokenFile(name: string, n: number, seed: number): string {
  const buf = Buffer.alloc(2 * n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const id = s % 10 === 0 ? s % VOCAB : (i * 7) % VOCAB;
    buf.writeUInt16LE(id, 2 * i);
  }
  const p = join(dir, name);
  writeFileSync(p, buf);
  return p;
}
const trainBin = tokenFile('train.bin', 4000, 1);
const validBin = tokenFile('valid.bin', 600, 2);
const sweepOut = join(dir, 'sweep');
const baseConfig = {
  model: { vocab_size: VOCAB, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 },
  train_data: trainBin, val_data: validBin, batch_size: 4, warmup_steps: 1,
  eval_interval: 2, eval_batches: 2, checkpoint_interval: 2, backend: 'cpu',
};
const sweepFile = join(dir, 'tiny.json');
writeFileSync(sweepFile, JSON.stringify({
  name: 'tiny', description: 'three learning rates, one far past divergence', out: sweepOut,
  base: baseConfig, budget: { max_steps: 4 }, grid: { lr: [1e-3, 3e-3, 1e6] },
  divergence: { margin: 1, window: 2 }, parallel: 2, final_eval: true,
}));

test('sweep: runs, divergence marked, half-trained run resumed, report and plots, rerun skips everything', () => {
  // Leave run lr=0.003 half-trained, as an interrupted sweep would.
  const plan = planSweep(readSweepFile(sweepFile), sweepFile);
  const half = plan.runs.find((r) => r.name === 'lr=0.003')!;
  mkdirSync(join(sweepOut, 'configs'), { recursive: true });
  // A sweep copies its file into its directory before any run starts.
  copyFileSync(sweepFile, join(sweepOut, 'sweep.json'));
  writeFileSync(half.configPath, JSON.stringify(half.raw));
  const pre = runPipeline('train', ['--config', half.configPath, '--stop-at-step', '2', '--quiet']);
  assert.equal(pre.status, 0, pre.stderr);
  assert.equal(checkpointStep(half.dir), 2);

  const r = runPipeline('sweep', ['--config', sweepFile, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const s = summaryOf(r);
  assert.deepEqual(s.statuses, { completed: 2, diverged: 1 });
  assert.deepEqual(s.actions, { started: 2, resumed: 1 });

  const state = readSweepState(sweepOut).runs;
  assert.equal(state['lr=0.003'].resumed_from, 2);
  assert.equal(state['lr=0.003'].step, 4);
  assert.deepEqual(readMetrics(join(half.dir, 'metrics.jsonl')).map((m) => m.step), [1, 2, 3, 4], 'resumed: steps 1-2 kept, 3-4 added');
  assert.equal(state['lr=0.001'].status, 'completed');
  assert.equal(state['lr=0.001'].resumed_from, null);
  const div = state['lr=1000000'];
  assert.equal(div.status, 'diverged');
  assert.match(div.reason ?? '', /non-finite|exceeds/);
  for (const name of ['lr=0.001', 'lr=0.003']) {
    const fe = state[name].final_eval_loss;
    assert.ok(fe !== null && Number.isFinite(fe) && fe > 0 && fe < 2 * Math.log(VOCAB), `${name}: full validation loss ${fe}`);
  }
  assert.equal(s.best && (s.best as { run: string }).run !== 'lr=1000000', true);

  const report = readFileSync(join(sweepOut, 'REPORT.md'), 'utf8');
  const rows = report.split('\n').filter((l) => l.startsWith('| lr='));
  assert.equal(rows.length, 3);
  assert.match(rows[0], /^\| lr=0\.001 \| .* \| completed \| 4 \| 128 \| .* \| no \|$/);
  assert.match(rows[2], /^\| lr=1000000 \| .* \| diverged \| .* \| yes \|$/);
  for (const stem of ['curves', 'loss-vs-lr']) {
    assert.ok(existsSync(join(sweepOut, `${stem}.png`)) && existsSync(join(sweepOut, `${stem}.svg`)), stem);
    assert.ok(report.includes(`](${stem}.png)`) && report.includes(`\`${stem}.svg\``), `REPORT.md shows ${stem}.png and names ${stem}.svg`);
  }
  assert.deepEqual([...readFileSync(join(sweepOut, 'curves.png')).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.match(readFileSync(join(sweepOut, 'curves.svg'), 'utf8'), /<svg[\s\S]*lr=0\.003/);

  // A second invocation finds every run final and trains nothing.
  const metricsBefore = plan.runs.map((run) => readFileSync(join(run.dir, 'metrics.jsonl'), 'utf8'));
  const again = runPipeline('sweep', ['--config', sweepFile, '--quiet']);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(summaryOf(again).actions, { skipped: 3 });
  assert.deepEqual(plan.runs.map((run) => readFileSync(join(run.dir, 'metrics.jsonl'), 'utf8')), metricsBefore);
  assert.deepEqual(readSweepState(sweepOut).runs, state);
});

test('a divergence seen while training stops the trainer, which checkpoints its last step', async () => {
  const cfg = join(dir, 'long.json');
  const out = join(dir, 'long');
  writeFileSync(cfg, JSON.stringify({ ...baseConfig, val_data: null, max_steps: 100000, checkpoint_interval: 5, out }));
  const outcome = await runPipelineChild('train', ['--config', cfg, '--quiet'], {
    logPath: join(dir, 'long.log'),
    watch: { metricsPath: join(out, 'metrics.jsonl'), check: (records) => (records.length >= 3 ? 'stop here' : null), intervalMs: 100 },
  });
  assert.equal(outcome.stoppedBecause, 'stop here');
  // The trainer handles SIGTERM after its current step: a clean stop with a checkpoint of that step.
  assert.equal(outcome.signal, null, 'stopped by SIGTERM, not killed');
  assert.equal(outcome.code, 143, outcome.error ?? '');
  assert.equal(outcome.summary?.stopped, 'interrupted');
  assert.equal(outcome.summary?.interrupted, 'SIGTERM');
  const step = outcome.summary?.step as number;
  assert.ok(step >= 3 && step < 100000, `stopped at step ${step}`);
  assert.equal(checkpointStep(out), step);
  assert.equal(readMetrics(join(out, 'metrics.jsonl')).length, step);
});

test('sweep CLI: a bad sweep file exits 2 with one line naming the key, before any run', () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ out: join(dir, 'bad-out'), base: baseConfig, budget: { max_steps: 2 }, grid: { 'model.d_modl': [16] } }));
  const r = runPipeline('sweep', ['--config', bad, '--dry-run']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^sweep: error: .*bad\.json: grid: unknown model config key "model\.d_modl" \(did you mean "model\.d_model"\?\)/);
  assert.equal(existsSync(join(dir, 'bad-out')), false, 'nothing was created');
});
