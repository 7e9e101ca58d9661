/**
 * Training throughput on the webgpu backend: tokens/s of full training
 * steps (lmpipe's `trainStep`: forward, mean cross-entropy, backward, global
 * gradient clipping, AdamW) as `--backend webgpu` trains (variant `fused`:
 * the fused WGSL primitives and one-pass AdamW) and, in the same run, with
 * tfjs's generic WebGPU kernels only (variant `plain`: the plain ops and
 * AdamW; the ratio is the fused kernels' gain), optionally also on the tfjs
 * cpu backend. Model FLOPs per step are
 * 3 × the forward matmul FLOPs of src/accounting (the handout's count); the
 * utilisation is reported against --peak-tflops when given (H200 dense
 * fp32: ~67 TFLOP/s by NVIDIA's datasheet).
 *
 *   npx tsx bench/webgpu-train-step.ts [--configs S,tinystories] [--steps 5]
 *     [--warmup 2] [--variants fused,plain] [--cpu] [--peak-tflops 67]
 *
 * Configs: S (vocab 10k, ctx 256, d 256, 4 layers, 8 heads, d_ff 683,
 * batch 16), tinystories (CS336: d 512, 16 heads, d_ff 1344, batch 16),
 * small (vocab 4096, ctx 128, d 128, 4 layers, 4 heads, d_ff 344, batch 8)
 * and tiny (vocab 512, ctx 64, d 64, 2 layers, 4 heads, d_ff 172, batch 4)
 * for software adapters. A software adapter is used only with
 * LMPIPE_WEBGPU_ALLOW_SOFTWARE=1. Human-readable lines go to stderr, one
 * JSON object to stdout.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { forwardFlops } from '../src/accounting/flops.ts';
import { selectBackend } from '../src/backends/select.ts';
import { setupWebGPU } from '../src/backends/webgpu/setup.ts';
import { DEFAULT_OPS, overrideOps } from '../src/model/ops.ts';
import { webgpuErrors } from '../src/backends/webgpu/patches.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { AdamW, plainAdamWUpdate, setAdamWUpdate } from '../src/train/adamw.ts';
import type { Batch } from '../src/train/batch-sampler.ts';
import { trainStep } from '../src/train/train-step.ts';
import { Rng } from '../src/util/rng.ts';
import { wgslCompileErrors } from '../src/backends/webgpu/dispatch.ts';

interface BenchConfig {
  model: ModelConfig;
  batch: number;
}

const CONFIGS: Record<string, BenchConfig> = {
  S: { model: resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 256, num_layers: 4, num_heads: 8, d_ff: 683 }, 'config S'), batch: 16 },
  tinystories: { model: resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 512, num_layers: 4, num_heads: 16, d_ff: 1344 }, 'CS336 TinyStories'), batch: 16 },
  small: { model: resolveModelConfig({ vocab_size: 4096, context_length: 128, d_model: 128, num_layers: 4, num_heads: 4, d_ff: 344 }, 'small'), batch: 8 },
  tiny: { model: resolveModelConfig({ vocab_size: 512, context_length: 64, d_model: 64, num_layers: 2, num_heads: 4, d_ff: 172 }, 'tiny'), batch: 4 },
};

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function randomBatch(rng: Rng, c: BenchConfig): Batch {
  const n = c.batch * c.model.context_length;
  const x = new Int32Array(n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = rng.intBelow(c.model.vocab_size);
    y[i] = rng.intBelow(c.model.vocab_size);
  }
  return { x, y, batchSize: c.batch, contextLength: c.model.context_length, starts: [] };
}

interface Run {
  variant: string;
  step_s: number;
  best_step_s: number;
  step_times_s: number[];
  warmup_s: number;
  tokens_per_s: number;
  model_tflops: number;
  mfu: number | null;
  losses: number[];
}

/** Times training steps on the active backend; the same seeds for every variant. */
async function timeSteps(variant: string, c: BenchConfig, steps: number, warmup: number, flopsPerStep: number, peak: number | null): Promise<Run> {
  const rng = new Rng(7);
  const model = TransformerLM.initialize(c.model, rng);
  const optimizer = new AdamW(model.params, { lr: 1e-3, weightDecay: 0.01 });
  const times: number[] = [];
  const losses: number[] = [];
  let warmupS = 0;
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const batch = randomBatch(rng, c);
      const t0 = performance.now();
      // trainStep awaits the loss, so each step's GPU work is finished when it returns.
      const r = await trainStep(model, optimizer, batch, 1e-3, 1.0, null);
      const s = (performance.now() - t0) / 1000;
      losses.push(r.loss);
      if (i < warmup) warmupS += s;
      else times.push(s);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  const stepS = median(times);
  const tokens = c.batch * c.model.context_length;
  const tflops = flopsPerStep / stepS / 1e12;
  const run: Run = {
    variant, step_s: stepS, best_step_s: Math.min(...times), step_times_s: times, warmup_s: warmupS,
    tokens_per_s: tokens / stepS, model_tflops: tflops, mfu: peak ? tflops / peak : null, losses,
  };
  log(`  ${variant.padEnd(14)} ${(stepS * 1000).toFixed(1).padStart(9)} ms/step  ${run.tokens_per_s.toFixed(0).padStart(8)} tokens/s  ${tflops.toFixed(3).padStart(7)} TFLOP/s${run.mfu !== null ? `  MFU ${(100 * run.mfu).toFixed(2)}%` : ''}  (warm-up ${warmupS.toFixed(1)} s, loss ${losses[losses.length - 1].toFixed(4)})`);
  return run;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      configs: { type: 'string', default: 'S,tinystories' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      variants: { type: 'string', default: 'fused,plain' },
      cpu: { type: 'boolean', default: false },
      'peak-tflops': { type: 'string' },
    },
  });
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const peak = values['peak-tflops'] ? Number(values['peak-tflops']) : null;
  const variants = values.variants.split(',').filter((v) => v === 'fused' || v === 'plain');
  const names = values.configs.split(',').filter((n) => n in CONFIGS);
  if (names.length === 0) throw new Error(`no known config in --configs ${values.configs}; choose from ${Object.keys(CONFIGS).join(', ')}`);

  await selectBackend('webgpu');
  const gpu = await setupWebGPU(); // the adapter selectBackend found (memoized)
  const adapter = { ...gpu.adapter, software: gpu.software, featureLevel: gpu.featureLevel };
  log(`webgpu adapter: ${[gpu.adapter.vendor, gpu.adapter.architecture, gpu.adapter.device, gpu.adapter.description].filter(Boolean).join(' / ')}${gpu.software ? ` (software: ${gpu.software})` : ''}`);
  const limits = (tf.backend() as unknown as { device: { limits: Record<string, number> } }).device.limits;
  const deviceLimits = {
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
  };

  const results: Record<string, unknown> = {};
  for (const name of names) {
    const c = CONFIGS[name];
    const m = c.model;
    const flopsPerStep = 3 * forwardFlops(m).total * c.batch;
    log(`\n== ${name}: vocab ${m.vocab_size}, context ${m.context_length}, d_model ${m.d_model}, layers ${m.num_layers}, heads ${m.num_heads}, d_ff ${m.d_ff}, batch ${c.batch} (${(flopsPerStep / 1e9).toFixed(1)} GFLOP/step)`);
    const runs: Run[] = [];
    for (const variant of variants) {
      await selectBackend('webgpu');
      if (variant === 'plain') {
        // tfjs's generic kernels only: the backend's fused ops and AdamW taken out again.
        overrideOps(DEFAULT_OPS);
        setAdamWUpdate(plainAdamWUpdate);
      }
      runs.push(await timeSteps(`webgpu ${variant}`, c, steps, warmup, flopsPerStep, peak));
    }
    if (values.cpu) {
      await selectBackend('cpu');
      runs.push(await timeSteps('tfjs cpu', c, 1, 0, flopsPerStep, peak));
    }
    const by = (v: string): Run | undefined => runs.find((r) => r.variant === v);
    const ratios: Record<string, number> = {};
    const fused = by('webgpu fused');
    const plain = by('webgpu plain');
    const cpu = by('tfjs cpu');
    if (fused && plain) ratios.fused_over_plain = fused.tokens_per_s / plain.tokens_per_s;
    if (fused && cpu) ratios.fused_over_cpu = fused.tokens_per_s / cpu.tokens_per_s;
    for (const [k, v] of Object.entries(ratios)) log(`  ${k}: ${v.toFixed(2)}x`);
    if (fused && plain) {
      // Same seeds, same math: the variants' losses must agree (a cheap correctness check on the device).
      const diff = Math.max(...fused.losses.map((l, i) => Math.abs(l - plain.losses[i])));
      log(`  max |loss fused − loss plain| over ${fused.losses.length} steps: ${diff.toExponential(2)}`);
      ratios.max_loss_diff_fused_plain = diff;
    }
    results[name] = { config: m, batch: c.batch, tokens_per_step: c.batch * m.context_length, model_flops_per_step: flopsPerStep, runs, ratios };
  }
  const errors = [...webgpuErrors(), ...wgslCompileErrors()];
  if (errors.length) log(`\nWebGPU errors: ${errors.join(' | ')}`);
  process.stdout.write(`${JSON.stringify({ bench: 'webgpu-train-step', adapter, limits: deviceLimits, steps, warmup, peak_tflops: peak, configs: results, webgpu_errors: errors })}\n`);
}

await main();
