/**
 * Training and generation on the webgpu backend (fused WGSL primitives
 * installed) against the cpu backend: 20 optimizer steps (losses, gradient
 * norms, final parameters within 1e-4), greedy generation with the KV cache
 * (same tokens, logits within 1e-4), and the whole training loop
 * (`runTraining`: steps, evaluation, checkpoints, best/) with no
 * synchronous read of GPU data anywhere (WebGPU in Node cannot do them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { resolveModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import type { ParamArray } from '../src/model/model.ts';
import { AdamW } from '../src/train/adamw.ts';
import type { Batch } from '../src/train/batch-sampler.ts';
import { generateTokens } from '../src/train/generate.ts';
import { readMetrics } from '../src/train/metrics.ts';
import { runTraining } from '../src/train/run.ts';
import { resolveTrainConfig } from '../src/train/train-config.ts';
import { trainStep } from '../src/train/train-step.ts';
import { Rng } from '../src/util/rng.ts';
import { wgslDispatchCount } from '../src/backends/webgpu/dispatch.ts';
import { randomParams } from './model-helpers.ts';
import { gpuErrors, maxAbsDiff, useCpu, useWebGPU, webgpuOrSkip } from './webgpu-helpers.ts';

const skip = await webgpuOrSkip();

const dir = mkdtempSync(join(tmpdir(), 'lmpipe-webgpu-train-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Counts synchronous reads of GPU-resident data on the webgpu backend (they throw in Node). */
function countSyncReads(): { count: () => number; restore: () => void } {
  const backend = tf.backend() as unknown as {
    readSync(id: object): unknown;
    tensorMap: { has(id: object): boolean; get(id: object): { values: unknown } };
  };
  const original = backend.readSync;
  let n = 0;
  backend.readSync = function (this: unknown, id: object) {
    if (backend.tensorMap.has(id) && backend.tensorMap.get(id).values == null) n++;
    return original.call(backend, id);
  };
  return { count: () => n, restore: () => { backend.readSync = original; } };
}

const config = resolveModelConfig({ vocab_size: 50, context_length: 16, d_model: 32, num_layers: 2, num_heads: 4, d_ff: 48 });
const initial = randomParams(config, 5);

function batches(n: number): Batch[] {
  const rng = new Rng(11);
  return Array.from({ length: n }, () => {
    const x = new Int32Array(4 * 16);
    const y = new Int32Array(4 * 16);
    for (let i = 0; i < x.length; i++) {
      x[i] = rng.intBelow(50);
      y[i] = (x[i] * 7 + (rng.uniform() < 0.3 ? rng.intBelow(50) : 0)) % 50;
    }
    return { x, y, batchSize: 4, contextLength: 16, starts: [] };
  });
}

interface Trained {
  losses: number[];
  norms: number[];
  params: Map<string, Float32Array>;
}

async function train20(values: ReadonlyMap<string, ParamArray>): Promise<Trained> {
  const model = new TransformerLM(config, values);
  const opt = new AdamW(model.params, { lr: 3e-3, weightDecay: 0.01 });
  const losses: number[] = [];
  const norms: number[] = [];
  try {
    for (const b of batches(20)) {
      const r = await trainStep(model, opt, b, 3e-3, 1.0, null);
      losses.push(r.loss);
      norms.push(r.gradNorm);
    }
    const params = new Map<string, Float32Array>();
    for (const [k, v] of Object.entries(model.params)) params.set(k, Float32Array.from(await v.data()));
    return { losses, norms, params };
  } finally {
    opt.dispose();
    model.dispose();
  }
}

test('20 training steps on webgpu equal the cpu backend within 1e-4 (losses, grad norms, parameters)', { skip }, async () => {
  await useCpu();
  const cpu = await train20(initial);
  await useWebGPU();
  const spy = countSyncReads();
  const before = wgslDispatchCount();
  let gpu: Trained;
  try {
    gpu = await train20(initial);
  } finally {
    spy.restore();
  }
  assert.ok(wgslDispatchCount() > before, 'the fused kernels did not run');
  assert.equal(spy.count(), 0, 'synchronous reads of GPU data during training');
  assert.ok(cpu.losses[19] < cpu.losses[0] - 0.05, `the loss should fall (${cpu.losses[0]} → ${cpu.losses[19]})`);
  assert.ok(maxAbsDiff(gpu.losses, cpu.losses) < 1e-4, `losses differ by ${maxAbsDiff(gpu.losses, cpu.losses)}`);
  assert.ok(maxAbsDiff(gpu.norms, cpu.norms) < 1e-4, `grad norms differ by ${maxAbsDiff(gpu.norms, cpu.norms)}`);
  for (const [name, ref] of cpu.params) {
    const d = maxAbsDiff(gpu.params.get(name)!, ref);
    assert.ok(d < 1e-4, `${name} differs by ${d}`);
  }
});

async function greedy(model: TransformerLM, prompt: number[]): Promise<{ ids: number[]; logits: Float32Array[] }> {
  const ids: number[] = [];
  const logits: Float32Array[] = [];
  // context 16, prompt 5, 14 tokens: crosses the window limit (the cache is rebuilt once).
  for await (const id of generateTokens(model, prompt, { maxTokens: 14, temperature: 0, onLogits: (l) => logits.push(Float32Array.from(l)) }, new Rng(1))) ids.push(id);
  return { ids, logits };
}

test('greedy generation with the KV cache: same tokens and logits (1e-4) as on cpu', { skip }, async () => {
  const prompt = [3, 1, 4, 1, 5];
  await useCpu();
  const cpuModel = new TransformerLM(config, initial);
  const cpu = await greedy(cpuModel, prompt);
  cpuModel.dispose();
  await useWebGPU();
  const gpuModel = new TransformerLM(config, initial);
  const spy = countSyncReads();
  const before = tf.memory().numTensors;
  try {
    const gpu = await greedy(gpuModel, prompt);
    assert.equal(tf.memory().numTensors, before, 'generation leaked tensors');
    assert.equal(spy.count(), 0, 'synchronous reads of GPU data during generation');
    assert.deepEqual(gpu.ids, cpu.ids);
    gpu.logits.forEach((l, s) => assert.ok(maxAbsDiff(l, cpu.logits[s]) < 1e-4, `step ${s}: logits differ by ${maxAbsDiff(l, cpu.logits[s])}`));
  } finally {
    spy.restore();
    gpuModel.dispose();
  }
});

/** A noisy periodic token stream as a uint16 file. */
function tokenFile(name: string, n: number, seed: number): string {
  const rng = new Rng(seed);
  const buf = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) buf.writeUInt16LE(rng.uniform() < 0.2 ? rng.intBelow(32) : (i * 7) % 32, 2 * i);
  const p = join(dir, name);
  writeFileSync(p, buf);
  return p;
}

test('the whole training loop (steps, evaluation, checkpoints) runs on webgpu and logs what cpu logs', { skip }, async () => {
  const train = tokenFile('train.bin', 3000, 1);
  const val = tokenFile('val.bin', 400, 2);
  const cfg = (out: string): ReturnType<typeof resolveTrainConfig> => resolveTrainConfig({
    model: { vocab_size: 32, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 },
    train_data: train, val_data: val, tokenizer: 'some/tokenizer',
    batch_size: 4, max_steps: 10, lr: 1e-2, warmup_steps: 2, eval_interval: 4, eval_batches: 2, checkpoint_interval: 5,
    seed: 3, out: join(dir, out),
  }, 'test');
  await useCpu();
  const cpu = await runTraining(cfg('cpu'), false);
  await useWebGPU();
  const spy = countSyncReads();
  let gpu: Awaited<ReturnType<typeof runTraining>>;
  try {
    gpu = await runTraining(cfg('gpu'), false);
  } finally {
    spy.restore();
  }
  assert.equal(spy.count(), 0, 'synchronous reads of GPU data in the training loop');
  assert.equal(gpu.step, 10);
  assert.equal(gpu.stopped, 'completed');
  const a = readMetrics(join(dir, 'cpu', 'metrics.jsonl'));
  const b = readMetrics(join(dir, 'gpu', 'metrics.jsonl'));
  assert.equal(b.length, a.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i].loss - b[i].loss) < 1e-4, `step ${a[i].step}: loss ${b[i].loss} vs ${a[i].loss}`);
    assert.equal(b[i].val_loss === undefined, a[i].val_loss === undefined);
    if (a[i].val_loss !== undefined) assert.ok(Math.abs(a[i].val_loss! - b[i].val_loss!) < 1e-4, `step ${a[i].step}: val_loss`);
  }
  assert.ok(cpu.best_val_loss !== null && gpu.best_val_loss !== null && Math.abs(cpu.best_val_loss - gpu.best_val_loss) < 1e-4);
});

test('no WebGPU validation or WGSL compile errors', { skip }, async () => {
  await useWebGPU();
  assert.deepEqual(await gpuErrors(), []);
});
