/**
 * Sweep planning without training: grid expansion and run names, the
 * merged per-run configs, up-front validation (unknown keys with the
 * nearest valid one, bad override keys and values through the trainer's
 * validation, impossible budgets, missing data), divergence detection,
 * config drift, and the report table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/pipeline/errors.ts';
import { parseSweepSpec } from '../src/sweep/sweep-file.ts';
import type { DivergenceRule } from '../src/sweep/sweep-file.ts';
import { cartesian, expandRuns, runName } from '../src/sweep/grid.ts';
import { configDrift, planSweep } from '../src/sweep/plan.ts';
import { detectDivergence } from '../src/sweep/divergence.ts';
import { reportMarkdown } from '../src/sweep/report.ts';
import type { RunRecord } from '../src/sweep/state.ts';
import { parameterBreakdown } from '../src/accounting/parameters.ts';
import { trainConfigToJson } from '../src/train/train-config.ts';
import type { MetricsRecord } from '../src/train/metrics.ts';

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-sweep-plan-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const trainBin = join(dir, 'train.bin');
const validBin = join(dir, 'valid.bin');
writeFileSync(trainBin, Buffer.alloc(2000));
writeFileSync(validBin, Buffer.alloc(2000));

const MODEL = { vocab_size: 64, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 };

function sweepObject(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    out: join(dir, 'sweep'),
    base: { model: MODEL, train_data: trainBin, val_data: validBin, batch_size: 4, lr: 1e-3, backend: 'cpu' },
    budget: { max_steps: 10 },
    ...extra,
  };
}

function plan(extra: Record<string, unknown> = {}) {
  return planSweep(parseSweepSpec(sweepObject(extra), 'sw.json'), 'sw.json');
}

function userError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

test('grid: cartesian product, first axis slowest, equal to nested loops', () => {
  const axes = [{ key: 'lr', values: [1e-3, 3e-3, 1e-2] }, { key: 'model.norm', values: ['pre', 'none'] }, { key: 'batch_size', values: [8, 16] }];
  const expected: Record<string, unknown>[] = [];
  for (const lr of axes[0].values) for (const norm of axes[1].values) for (const bs of axes[2].values) expected.push({ lr, 'model.norm': norm, batch_size: bs });
  assert.deepEqual(cartesian(axes), expected);
  assert.deepEqual(cartesian([]), [{}]);
});

test('run names: key=value joined by commas, model. prefix dropped, lists joined by -, base when empty', () => {
  assert.equal(runName({ lr: 0.003, 'model.norm': 'none' }), 'lr=0.003,norm=none');
  assert.equal(runName({ betas: [0.9, 0.95] }), 'betas=0.9-0.95');
  assert.equal(runName({ 'model.parallel': true }), 'parallel=true');
  assert.equal(runName({}), 'base');
  assert.equal(runName({ tokenizer: 'a/b c' }), 'tokenizer=a_b_c', 'path separators and spaces never reach a directory name');
});

test('grid × list: every grid point crossed with every entry; list names replace their part', () => {
  const runs = expandRuns(
    [{ key: 'lr', values: [1e-3, 1e-2] }],
    [{ name: null, overrides: { 'model.norm': 'pre' } }, { name: 'nonorm', overrides: { 'model.norm': 'none' } }],
  );
  assert.deepEqual(runs.map((r) => r.name), ['lr=0.001,norm=pre', 'lr=0.001,nonorm', 'lr=0.01,norm=pre', 'lr=0.01,nonorm']);
  assert.deepEqual(runs[3].overrides, { lr: 0.01, 'model.norm': 'none' });
  assert.deepEqual(expandRuns([], []).map((r) => r.name), ['base']);
  assert.throws(() => expandRuns([], [{ name: 'a', overrides: { lr: 1 } }, { name: 'a', overrides: { lr: 2 } }], 'sw.json'), /runs 1 and 2 are both named "a"/);
});

test('plan: base → budget → overrides, model keys merged key by key, each run in OUT/runs/NAME', () => {
  const p = plan({
    grid: { lr: [1e-3, 3e-3] },
    runs: [{ name: 'silu', model: { ffn: 'silu', d_ff: 64 } }, { 'model.norm': 'post', max_steps: 20 }],
  });
  assert.equal(p.runs.length, 4);
  const silu = p.runs.find((r) => r.name === 'lr=0.003,silu')!;
  assert.equal(silu.config.lr, 3e-3);
  assert.equal(silu.config.model.ffn, 'silu');
  assert.equal(silu.config.model.d_ff, 64);
  assert.equal(silu.config.model.d_model, 16, 'base model keys kept');
  assert.equal(silu.config.max_steps, 10, 'the budget applies');
  assert.equal(silu.config.out, join(dir, 'sweep', 'runs', 'lr=0.003,silu'));
  const post = p.runs.find((r) => r.name === 'lr=0.001,norm=post,max_steps=20')!;
  assert.equal(post.config.model.norm, 'post');
  assert.equal(post.config.max_steps, 20, 'an override of the run length replaces the budget');
  // SiLU at d_ff = 4·d_model has the parameter count of SwiGLU at 8/3·d_model (the handout's matching rule): 3·64·24 = 2·96·24.
  const swiglu = planSweep(parseSweepSpec(sweepObject({ grid: { 'model.d_model': [24] }, runs: [{ name: 's', 'model.d_ff': 64 }, { name: 'u', 'model.ffn': 'silu', 'model.d_ff': 96 }] }), 'x.json'), 'x.json');
  assert.equal(parameterBreakdown(swiglu.runs[0].config.model).total, parameterBreakdown(swiglu.runs[1].config.model).total);
});

test('base as a training config file, relative to the sweep file; its unknown keys name the nearest', () => {
  writeFileSync(join(dir, 'base.json'), JSON.stringify({ model: MODEL, train_data: trainBin, batch_size: 4, backend: 'cpu' }));
  const p = planSweep(parseSweepSpec({ out: join(dir, 'o'), base: 'base.json', budget: { max_steps: 3 }, grid: { lr: [0.01] } }, join(dir, 'sw.json')), 'sw.json');
  assert.equal(p.runs[0].config.batch_size, 4);
  assert.equal(p.runs[0].config.lr, 0.01);
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ model: MODEL, train_dta: trainBin }));
  userError(() => parseSweepSpec({ out: 'o', base: 'typo.json' }, join(dir, 'sw.json')), /typo\.json: unknown key "train_dta" \(did you mean "train_data"\?\)/);
});

test('plan: max_tokens budget becomes steps; a budget smaller than one step is refused before anything runs', () => {
  const p = plan({ budget: { max_tokens: 4 * 8 * 5 } });
  assert.equal(p.runs[0].config.max_steps, 5);
  userError(() => plan({ budget: { max_tokens: 31 } }), /fits no step of batch_size 4 × context_length 8 = 32 tokens; raise "max_tokens" to at least 32/);
  userError(() => plan({ budget: { max_minutes: 1 } }), /no run length: set "budget": \{"max_steps": N\}/);
  userError(() => plan({ grid: { batch_size: [4, 64] }, budget: { max_tokens: 256 } }), /run "batch_size=64": the budget of 256 tokens fits no step/);
});

test('validation: unknown keys name the nearest valid key', () => {
  userError(() => parseSweepSpec(sweepObject({ gird: { lr: [1] } }), 'sw.json'), /sw\.json: unknown sweep key "gird" \(did you mean "grid"\?\)/);
  userError(() => parseSweepSpec(sweepObject({ budget: { max_step: 3 } }), 'sw.json'), /unknown budget key "max_step" \(did you mean "max_steps"\?\)/);
  userError(() => parseSweepSpec(sweepObject({ divergence: { margn: 1 } }), 'sw.json'), /unknown divergence key "margn" \(did you mean "margin"\?\)/);
  userError(() => parseSweepSpec(sweepObject({ grid: { lrr: [1e-3] } }), 'sw.json'), /unknown override key "lrr" \(did you mean "lr"\?\)/);
  userError(() => parseSweepSpec(sweepObject({ grid: { 'model.nrom': ['pre'] } }), 'sw.json'), /unknown model config key "model\.nrom" \(did you mean "model\.norm"\?\)/);
  userError(() => parseSweepSpec(sweepObject({ grid: { norm: ['pre'] } }), 'sw.json'), /"norm" is a model config key; write it as "model\.norm"/);
  userError(() => parseSweepSpec(sweepObject({ runs: [{ model: { d_modle: 32 } }] }), 'sw.json'), /runs\[0\]: unknown model config key "model\.d_modle" \(did you mean "model\.d_model"\?\)/);
  userError(() => parseSweepSpec(sweepObject({ grid: { out: ['x'] } }), 'sw.json'), /"out" cannot be overridden/);
  const base = sweepObject();
  (base.base as Record<string, unknown>).batch_sise = 3;
  userError(() => parseSweepSpec(base, 'sw.json'), /unknown key "batch_sise" \(did you mean "batch_size"\?\)/);
});

test('validation: bad override values fail through the trainer validation, naming the run, before any run starts', () => {
  userError(() => plan({ grid: { lr: [1e-3, -1] } }), /sw\.json: run "lr=-1": "lr" must be at least 0, got -1/);
  userError(() => plan({ grid: { 'model.norm': ['pre', 'postt'] } }), /run "norm=postt".*"norm" must be one of "pre", "post", "none", got "postt" \(did you mean "post"\?\)/);
  userError(() => plan({ grid: { 'model.num_heads': [2, 3] } }), /run "num_heads=3".*d_model \(16\) must be divisible by num_heads \(3\)/);
  userError(() => plan({ grid: { backend: ['cpu', 'natve'] } }), /run "backend=natve": unknown backend "natve"/);
  userError(() => plan({ grid: { train_data: [join(dir, 'missing.bin')] } }), /train_data .*missing\.bin not found; prepare the data first/);
  userError(() => parseSweepSpec(sweepObject({ grid: { lr: [] } }), 'sw.json'), /grid "lr" must be a non-empty list/);
  userError(() => parseSweepSpec({ ...sweepObject(), out: undefined }, 'sw.json'), /"out" is required/);
  const withOut = sweepObject();
  (withOut.base as Record<string, unknown>).out = 'x';
  userError(() => parseSweepSpec(withOut, 'sw.json'), /base "out" is not used/);
});

function rec(step: number, loss: number, val?: number): MetricsRecord {
  return { step, tokens: step * 10, lr: 1e-3, loss, grad_norm: 1, tokens_per_s: 100, elapsed_s: step, ...(val !== undefined ? { val_loss: val } : {}) };
}

test('divergence: window mean above first loss + margin, absolute max_loss, non-finite; short finished runs judged on all steps', () => {
  const rule: DivergenceRule = { margin: 1, max_loss: null, window: 3 };
  const falling = [5, 4.8, 4.5, 4.1, 3.9].map((l, i) => rec(i + 1, l));
  assert.equal(detectDivergence(falling, rule), null);
  // One spike to 7 (> 5 + 1) is averaged away: (4.5 + 7 + 4.1) / 3 < 6.
  assert.equal(detectDivergence([5, 4.8, 4.5, 7, 4.1].map((l, i) => rec(i + 1, l)), rule), null);
  // A sustained rise: steps 3-5 average (6 + 6.5 + 7) / 3 = 6.5 > 6.
  const v = detectDivergence([5, 5.5, 6, 6.5, 7].map((l, i) => rec(i + 1, l)), rule);
  assert.equal(v?.step, 5);
  assert.match(v!.reason, /6\.500 over steps 3-5 exceeds the first loss 5\.000 \+ margin 1/);
  assert.equal(detectDivergence([rec(1, 5), rec(2, Number.NaN)], rule)?.step, 2);
  assert.equal(detectDivergence([rec(1, 5), rec(2, 4, Number.POSITIVE_INFINITY)], rule)?.reason, 'non-finite validation loss at step 2');
  // max_loss replaces first + margin: the first full window, (5 + 4.8 + 4.5) / 3 ≈ 4.77, is above 4.
  assert.equal(detectDivergence(falling, { ...rule, max_loss: 4 })?.step, 3);
  const short = [rec(1, 5), rec(2, 9)];
  assert.equal(detectDivergence(short, rule), null, 'fewer steps than the window: undecided while running');
  assert.equal(detectDivergence(short, rule, true)?.step, 2, 'finished: mean of both steps, 7 > 6');
});

test('config drift: a run directory trained with other settings is named with the differing key', () => {
  const p = plan({ grid: { lr: [1e-3] } });
  const stored = trainConfigToJson(p.runs[0].config);
  assert.equal(configDrift(stored, p.runs[0].config), null);
  assert.equal(configDrift({ ...stored, max_minutes: 3, backend: 'native' }, p.runs[0].config), null, 'wall-clock cap and backend may change');
  assert.match(configDrift({ ...stored, lr: 0.01 }, p.runs[0].config)!, /^lr was 0\.01, the sweep now gives 0\.001$/);
  assert.match(configDrift({ ...stored, model: { ...(stored.model as object), d_model: 32 } }, p.runs[0].config)!, /^model\.d_model was 32, the sweep now gives 16$/);
});

test('report: one table row per run with its status, losses and divergence; pending runs listed', () => {
  const p = plan({ grid: { lr: [1e-3, 1e-2, 1] } });
  const base: RunRecord = { status: 'completed', reason: null, step: 10, max_steps: 10, tokens: 320, elapsed_s: 2, tokens_per_s: 160, loss: 3.5, val_loss: 3.61, best_val_loss: 3.6, best_step: 8, final_eval_loss: 3.55, peak_rss_mb: 250.4, resumed_from: null, updated: '' };
  const records: Record<string, RunRecord> = {
    'lr=0.001': base,
    'lr=1': { ...base, status: 'diverged', reason: 'non-finite loss at step 4', step: 3, val_loss: null, best_val_loss: null, best_step: null, final_eval_loss: null },
  };
  const md = reportMarkdown({ plan: p, records, plots: [{ title: 'Learning curves', png: 'curves.png', svg: 'curves.svg' }], command: 'node pipelines/sweep.ts --config sw.json' });
  const rows = md.split('\n').filter((l) => l.startsWith('| lr='));
  assert.equal(rows.length, 3);
  assert.match(rows[0], /^\| lr=0\.001 \| `lr=0\.001` \| .* \| completed \| 10 \| 320 \| 2\.0s \| 160 \| 250 MB \| 3\.6100 \| 3\.6000 \(8\) \| 3\.5500 \| no \|$/);
  assert.match(rows[1], /^\| lr=0\.01 \| .* \| pending \|/);
  assert.match(rows[2], /^\| lr=1 \| .* \| diverged \| 3\/10 \| .* \| yes \|$/);
  assert.match(md, /Best run: \*\*lr=0\.001\*\* \(full validation loss 3\.5500\)/);
  assert.match(md, /- lr=1 \(diverged\): non-finite loss at step 4/);
  assert.match(md, /!\[Learning curves\]\(curves\.png\)/);
});
