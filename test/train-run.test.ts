/**
 * The training loop on a tiny model: resume continues bit-identically
 * (N steps, checkpoint, resume, M steps == N + M straight: parameters,
 * optimizer moments, logged losses), metrics.jsonl keys, best/ checkpoint,
 * a non-finite loss stops with the step named and the last good checkpoint
 * left, and refusing to overwrite a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/backends/select.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { runTraining } from '../src/train/run.ts';
import { cosineLr } from '../src/train/lr-schedule.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { loadTrainingCheckpoint } from '../src/train/checkpoint.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { resolveTrainConfig } from '../src/train/train-config.ts';
import type { RawTrainConfig } from '../src/train/train-config.ts';

await selectBackend('cpu');

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-train-run-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A noisy periodic token stream (learnable, not trivial), as a uint16 file. */
function tokenFile(name: string, n: number, seed: number): string {
  const rng = new Rng(seed);
  const buf = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) buf.writeUInt16LE(rng.uniform() < 0.2 ? rng.intBelow(32) : (i * 7) % 32, 2 * i);
  const p = join(dir, name);
  writeFileSync(p, buf);
  return p;
}
const trainPath = tokenFile('train.bin', 3000, 1);
const valPath = tokenFile('val.bin', 400, 2);

function config(out: string, extra: RawTrainConfig = {}): ReturnType<typeof resolveTrainConfig> {
  return resolveTrainConfig({
    model: { vocab_size: 32, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2, dropout: 0.1 },
    train_data: trainPath, val_data: valPath, tokenizer: 'some/tokenizer',
    batch_size: 4, max_steps: 12, lr: 1e-2, warmup_steps: 2, eval_interval: 4, eval_batches: 2, checkpoint_interval: 5,
    seed: 3, out: join(dir, out), ...extra,
  }, 'test');
}

/** The deterministic fields of each metrics record (timings excluded). */
function deterministic(out: string): object[] {
  return readMetrics(join(dir, out, 'metrics.jsonl')).map(({ step, tokens, lr, loss, grad_norm, val_loss }) => ({ step, tokens, lr, loss, grad_norm, val_loss }));
}

test('N steps + resume + M steps is bit-identical to N + M steps straight (with dropout)', async () => {
  const straight = await runTraining(config('straight'), false);
  assert.equal(straight.step, 12);
  assert.equal(straight.stopped, 'completed');

  const paused = await runTraining(config('paused'), false, { stopAtStep: 7 });
  assert.equal(paused.stopped, 'stop_at_step');
  assert.equal(paused.step, 7);
  assert.equal(JSON.parse(readFileSync(join(dir, 'paused', 'state.json'), 'utf8')).step, 7);
  const resumed = await runTraining(config('paused'), true);
  assert.equal(resumed.resumed_from, 7);
  assert.equal(resumed.step, 12);

  for (const f of ['model.safetensors', 'optimizer.safetensors']) {
    assert.ok(readFileSync(join(dir, 'straight', f)).equals(readFileSync(join(dir, 'paused', f))), `${f} differs`);
  }
  assert.deepEqual(deterministic('paused'), deterministic('straight'));
  const a = JSON.parse(readFileSync(join(dir, 'straight', 'state.json'), 'utf8'));
  const b = JSON.parse(readFileSync(join(dir, 'paused', 'state.json'), 'utf8'));
  assert.deepEqual(b.rng, a.rng);
  assert.equal(b.tokenizer, 'some/tokenizer');
});

test('metrics.jsonl has one line per step with the required keys; best/ holds the best validation model', async () => {
  const records = readMetrics(join(dir, 'straight', 'metrics.jsonl'));
  assert.deepEqual(records.map((r) => r.step), Array.from({ length: 12 }, (_, i) => i + 1));
  for (const r of records) {
    for (const k of ['step', 'tokens', 'lr', 'loss', 'grad_norm', 'tokens_per_s', 'elapsed_s']) assert.equal(typeof (r as unknown as Record<string, unknown>)[k], 'number', k);
    assert.equal(r.tokens, r.step * 4 * 8);
    assert.equal('val_loss' in r, r.step % 4 === 0 || r.step === 12, `val_loss at step ${r.step}`);
  }
  assert.equal(records[0].lr, 0, 'warmup starts at 0');
  assert.ok(Math.abs(records[2].lr - 1e-2) < 1e-15, 'peak after 2 warmup steps');
  assert.ok(records.every((r, i) => i === 0 || r.elapsed_s >= records[i - 1].elapsed_s));
  const vals = records.filter((r) => r.val_loss !== undefined).map((r) => r.val_loss!);
  const bestState = JSON.parse(readFileSync(join(dir, 'straight', 'best', 'state.json'), 'utf8'));
  assert.equal(bestState.best_val_loss, Math.min(...vals));
  const best = loadCheckpoint(join(dir, 'straight', 'best'));
  assert.equal(best.config.vocab_size, 32);
  best.dispose();
  const { model, optimizer, state } = await loadTrainingCheckpoint(join(dir, 'straight'));
  assert.equal(state.step, 12);
  assert.equal(optimizer.step, 12);
  assert.deepEqual([...optimizer.m.keys()], Object.keys(model.params));
  model.dispose();
  assert.ok(existsSync(join(dir, 'straight', 'train-config.json')));
  const { tensors } = readSafetensors(join(dir, 'straight', 'model.safetensors'));
  assert.ok(tensors.has('layers.0.ffn.w3.weight'));
});

test('a fresh run refuses an existing run directory; --resume needs a checkpoint', async () => {
  await assert.rejects(runTraining(config('straight'), false), (e: unknown) => e instanceof UserError && /already holds a run \(checkpoint at step 12\); continue it with --resume/.test(e.message));
  await assert.rejects(runTraining(config('nothing-here'), true), (e: unknown) => e instanceof UserError && /no checkpoint found/.test(e.message));
});

test('a non-finite loss stops the run naming the step; the last good checkpoint stays', async () => {
  // lr 1e30 without decay: after step 1 the weights are ~1e30 (finite); RMSNorm then squares them to Infinity.
  const cfg = config('diverge', { lr: 1e30, min_lr: 0, warmup_steps: 0, weight_decay: 0, checkpoint_interval: 1, val_data: undefined, model: { vocab_size: 32, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 } });
  await assert.rejects(runTraining({ ...cfg, val_data: null }, false), (e: unknown) => e instanceof UserError && /^step 2: non-finite loss .*last good checkpoint \(step 1\)/.test(e.message));
  assert.equal(JSON.parse(readFileSync(join(dir, 'diverge', 'state.json'), 'utf8')).step, 1);
  assert.equal(readMetrics(join(dir, 'diverge', 'metrics.jsonl')).length, 1);
});

test('a wall-clock budget stops cleanly with a checkpoint', async () => {
  // 1e-9 minutes (60 ns) is spent before the first step can start.
  const r = await runTraining(config('budget', { max_minutes: 1e-9 }), false);
  assert.equal(r.stopped, 'max_minutes');
  assert.equal(r.step, 0);
  assert.equal(JSON.parse(readFileSync(join(dir, 'budget', 'state.json'), 'utf8')).step, 0);
  const resumed = await runTraining(config('budget', { max_steps: 2 }), true);
  assert.equal(resumed.step, 2);
});

test('fit_to_budget: the run length is fitted during warm-up so the cosine schedule ends with the budget', async () => {
  const budgetS = 4;
  const r = await runTraining(config('fit', {
    max_steps: 1_000_000, max_minutes: budgetS / 60, fit_to_budget: true, warmup_steps: 10, eval_interval: 50, checkpoint_interval: 100_000,
  }), false);
  const stored = JSON.parse(readFileSync(join(dir, 'fit', 'train-config.json'), 'utf8')) as { max_steps: number; fit_to_budget: boolean };
  assert.equal(stored.fit_to_budget, false, 'the stored config holds the fitted length, so --resume keeps it');
  assert.equal(stored.max_steps, r.max_steps);
  assert.ok(r.max_steps > 10 && r.max_steps < 1_000_000, `fitted ${r.max_steps} steps`);
  assert.ok(r.stopped === 'completed' || r.stopped === 'max_minutes', r.stopped);
  assert.ok(r.elapsed_s <= budgetS + 1, `elapsed ${r.elapsed_s} s`);
  // The schedule ran (nearly) to its end: the last learning rate is close to min_lr.
  const m = readMetrics(join(dir, 'fit', 'metrics.jsonl'));
  const lr = 1e-2;
  const minLr = lr / 10;
  assert.ok(m[m.length - 1].lr <= minLr + 0.25 * (lr - minLr), `last lr ${m[m.length - 1].lr}`);
  // Warm-up steps are those of the unfitted schedule (the fit happens at the last of them).
  for (let i = 0; i < 10; i++) assert.equal(m[i].lr, cosineLr(i, lr, minLr, 10, 1_000_000));
});

test('token ids outside the vocabulary are a UserError naming the file and position', async () => {
  const bad = join(dir, 'bad.bin');
  const buf = Buffer.alloc(2 * 100);
  for (let i = 0; i < 100; i++) buf.writeUInt16LE(i === 50 ? 40 : 1, 2 * i);
  writeFileSync(bad, buf);
  await assert.rejects(runTraining(config('badvocab', { train_data: bad, val_data: undefined, max_steps: 200 }), false), (e: unknown) => e instanceof UserError && /bad\.bin: token 50 has id 40, outside the model's vocab_size 32/.test(e.message));
});
