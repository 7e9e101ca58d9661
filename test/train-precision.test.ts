/**
 * The `precision` setting (src/train/precision.ts): config validation and
 * storage, what `auto` resolves to, one-line errors for an explicit bf16
 * that cannot run, fp32 restored after every run, and — on the native
 * backend with bf16 available — a bf16 run resumed from a checkpoint is
 * bit-identical to an uninterrupted bf16 run, with fp32 checkpoints and the
 * precision recorded in train-config.json, state.json and the summary.
 *
 * The native tests skip (with the reason) without the addon or without bf16.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/backends/select.ts';
import { bf16Support, matmulPrecision, setOnednnBlocked } from '../src/backends/native/precision.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { runTraining } from '../src/train/run.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { applyPrecision, precisionLine, resolvePrecision } from '../src/train/precision.ts';
import { resolveTrainConfig, trainConfigToJson } from '../src/train/train-config.ts';
import type { RawTrainConfig } from '../src/train/train-config.ts';
import { evalPipeline } from '../pipelines/eval.ts';
import { generate } from '../pipelines/generate.ts';
import { nativeSkip } from './native-helpers.ts';

const skip = nativeSkip();
const support = skip ? null : bf16Support();
const bf16Skip: string | false = skip || (support && !support.available ? `bf16 unavailable: ${support.reason}` : false);
if (!skip) await selectBackend('native');

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-train-precision-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function tokenFile(name: string, n: number, seed: number): string {
  const rng = new Rng(seed);
  const buf = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) buf.writeUInt16LE(rng.uniform() < 0.2 ? rng.intBelow(64) : (i * 7) % 64, 2 * i);
  const p = join(dir, name);
  writeFileSync(p, buf);
  return p;
}
const trainPath = tokenFile('train.bin', 6000, 1);
const valPath = tokenFile('val.bin', 800, 2);

function config(out: string, extra: RawTrainConfig = {}): ReturnType<typeof resolveTrainConfig> {
  return resolveTrainConfig({
    model: { vocab_size: 64, context_length: 16, d_model: 32, num_layers: 2, num_heads: 2, dropout: 0.1 },
    train_data: trainPath, val_data: valPath,
    batch_size: 4, max_steps: 12, lr: 1e-2, warmup_steps: 2, eval_interval: 4, eval_batches: 2, checkpoint_interval: 5,
    seed: 3, out: join(dir, out), ...extra,
  }, 'test');
}

test('precision: fp32 by default, checked against its choices, stored with the config', () => {
  const c = config('x');
  assert.equal(c.precision, 'fp32');
  assert.equal(config('x', { precision: 'auto' }).precision, 'auto');
  assert.equal(trainConfigToJson(config('x', { precision: 'bf16' })).precision, 'bf16');
  assert.throws(() => config('x', { precision: 'bf61' }), (e: unknown) => e instanceof UserError && e.message === 'test: "precision" must be one of fp32, bf16, auto, got "bf61" (did you mean "bf16"?)');
  assert.throws(() => config('x', { precision: 16 }), (e: unknown) => e instanceof UserError && /"precision" must be one of fp32, bf16, auto, got 16$/.test(e.message));
});

test('resolvePrecision: fp32 anywhere; auto is fp32 off the native backend; an explicit bf16 there is a one-line error', () => {
  assert.deepEqual(resolvePrecision('fp32', 'cpu'), { setting: 'fp32', precision: 'fp32', note: null });
  const auto = resolvePrecision('auto', 'cpu');
  assert.equal(auto.precision, 'fp32');
  assert.match(auto.note ?? '', /the cpu backend has no bf16 matmuls/);
  assert.match(precisionLine(auto), /^matmuls fp32 \(auto: the cpu backend has no bf16 matmuls/);
  assert.throws(() => resolvePrecision('bf16', 'cpu', '--precision'), (e: unknown) => e instanceof UserError && !e.message.includes('\n')
    && /^--precision bf16: the cpu backend has no bf16 matmuls .*; use --backend native, or --precision fp32$/.test(e.message));
});

test('without oneDNN: auto falls back to fp32 with the reason, an explicit bf16 is refused before the run starts', { skip }, async () => {
  setOnednnBlocked(true);
  try {
    const auto = resolvePrecision('auto', 'native');
    assert.equal(auto.precision, 'fp32');
    assert.match(auto.note ?? '', /^bf16 matmuls are unavailable: /);
    assert.throws(() => resolvePrecision('bf16', 'native'), (e: unknown) => e instanceof UserError && !e.message.includes('\n')
      && /^--precision bf16: bf16 matmuls are unavailable: .*libdnnl-dev.*or use --precision fp32$/.test(e.message));
    await assert.rejects(runTraining(config('refused', { precision: 'bf16' }), false), (e: unknown) => e instanceof UserError && /^--precision bf16: /.test(e.message));
    assert.equal(matmulPrecision(), 'fp32');
  } finally {
    setOnednnBlocked(false);
  }
});

test('auto on the native backend: bf16 exactly where the CPU has bf16 instructions', { skip }, () => {
  const s = bf16Support();
  assert.equal(resolvePrecision('auto', 'native').precision, s.available && s.hardwareBf16 ? 'bf16' : 'fp32');
});

test('a bf16 run resumed from a checkpoint is bit-identical to an uninterrupted bf16 run; fp32 is restored after each', { skip: bf16Skip }, async () => {
  const straight = await runTraining(config('bf16-straight', { precision: 'bf16' }), false);
  assert.equal(matmulPrecision(), 'fp32', 'fp32 is restored when the run ends');
  assert.equal(straight.step, 12);
  assert.equal(straight.precision.precision, 'bf16');
  assert.ok((straight.precision.bf16_calls ?? 0) > 0, 'the matmuls ran in bf16');
  assert.equal(straight.precision.fallbacks, 0);
  assert.ok(straight.precision.onednn?.isa, 'oneDNN ISA reported');
  assert.ok((straight.precision.onednn?.impls.length ?? 0) > 0, 'oneDNN implementation reported');

  const paused = await runTraining(config('bf16-paused', { precision: 'bf16' }), false, { stopAtStep: 6 });
  assert.equal(paused.step, 6);
  assert.equal(matmulPrecision(), 'fp32');
  // A resume takes the stored config, precision included (as train --resume does).
  const stored = JSON.parse(readFileSync(join(dir, 'bf16-paused', 'train-config.json'), 'utf8')) as RawTrainConfig;
  assert.equal(stored.precision, 'bf16');
  assert.equal(JSON.parse(readFileSync(join(dir, 'bf16-paused', 'state.json'), 'utf8')).precision, 'bf16');
  const resumed = await runTraining(resolveTrainConfig(stored, 'stored'), true);
  assert.equal(resumed.resumed_from, 6);
  assert.equal(resumed.step, 12);
  assert.equal(matmulPrecision(), 'fp32');

  for (const f of ['model.safetensors', 'optimizer.safetensors']) {
    assert.ok(readFileSync(join(dir, 'bf16-straight', f)).equals(readFileSync(join(dir, 'bf16-paused', f))), `${f} differs`);
  }
  const det = (out: string): object[] => readMetrics(join(dir, out, 'metrics.jsonl')).map(({ step, loss, grad_norm, val_loss }) => ({ step, loss, grad_norm, val_loss }));
  assert.deepEqual(det('bf16-paused'), det('bf16-straight'));
  // Checkpoints stay fp32.
  for (const f of ['model.safetensors', 'optimizer.safetensors', join('best', 'model.safetensors')]) {
    for (const [name, t] of readSafetensors(join(dir, 'bf16-paused', f)).tensors) assert.equal(t.dtype, 'F32', `${f}: ${name}`);
  }

  // The same run in fp32 differs (bf16 really ran), and records fp32.
  const fp32 = await runTraining(config('fp32-straight'), false);
  assert.equal(fp32.precision.precision, 'fp32');
  assert.equal(JSON.parse(readFileSync(join(dir, 'fp32-straight', 'state.json'), 'utf8')).precision, 'fp32');
  assert.notEqual(fp32.loss, straight.loss);
});

test('resuming a bf16 checkpoint in fp32 warns that it is not bit-exact', { skip: bf16Skip }, async () => {
  await runTraining(config('switch', { precision: 'bf16', max_steps: 4 }), false, { stopAtStep: 2 });
  const warnings: string[] = [];
  await runTraining(config('switch', { precision: 'fp32', max_steps: 4 }), true, { warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /trained with bf16 matmuls and continues in fp32; .*not match an uninterrupted run bit for bit/);
});

test('applyPrecision sets bf16 and its restore gives fp32 back', { skip: bf16Skip }, () => {
  const restore = applyPrecision(resolvePrecision('bf16', 'native'));
  assert.equal(matmulPrecision(), 'bf16');
  restore();
  assert.equal(matmulPrecision(), 'fp32');
});

const quiet = { log: () => {}, warn: () => {} };

/** A pipeline's options from its command line (no --help). */
function parsed<T>(p: { parse(argv: readonly string[]): T | 'help' }, argv: string[]): T {
  const o = p.parse(argv);
  assert.notEqual(o, 'help');
  return o as T;
}

test('eval --precision bf16 on the native backend reports what ran and restores fp32', { skip: bf16Skip }, async () => {
  const argv = ['--checkpoint', join(dir, 'bf16-straight'), '--data', valPath, '--backend', 'native'];
  const fp32 = await evalPipeline.run(parsed(evalPipeline, argv), quiet);
  assert.equal(fp32.precision.precision, 'fp32');
  const bf16 = await evalPipeline.run(parsed(evalPipeline, [...argv, '--precision', 'bf16']), quiet);
  assert.equal(matmulPrecision(), 'fp32');
  assert.equal(bf16.precision.precision, 'bf16');
  assert.ok((bf16.precision.bf16_calls ?? 0) > 0);
  assert.ok(Math.abs(bf16.loss - fp32.loss) < 0.02 * fp32.loss, `bf16 ${bf16.loss} vs fp32 ${fp32.loss}`);
});

// Last: these switch the process to the cpu backend.
test('eval and generate refuse --precision bf16 off the native backend, in one line', async () => {
  const refused = (e: unknown): boolean => e instanceof UserError && /^--precision bf16: the cpu backend has no bf16 matmuls \(only the native backend does\); use --backend native, or --precision fp32$/.test(e.message);
  await assert.rejects(evalPipeline.run(parsed(evalPipeline, ['--checkpoint', join(dir, 'none'), '--data', valPath, '--backend', 'cpu', '--precision', 'bf16']), quiet), refused);
  await assert.rejects(generate.run(parsed(generate, ['--checkpoint', join(dir, 'none'), '--backend', 'cpu', '--precision', 'bf16']), quiet), refused);
  assert.equal(matmulPrecision(), 'fp32');
});
