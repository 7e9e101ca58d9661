/**
 * Matmul microbenchmark of the native backend's precisions: the matmul
 * shapes of one lmpipe training step (recorded from a real `trainStep` of
 * config S and of the CS336 TinyStories config on the native backend, batch
 * 16), each timed on the fp32 path (OpenBLAS sgemm) and on the bf16 path
 * (oneDNN bf16×bf16→fp32, operands converted per call), alternating in the
 * same run, median of `--reps`. Reports GFLOP/s per shape, the matmul time
 * of a whole step in each precision, and the bf16 path's conversion cost:
 * all of it, and the part spent on weights (each weight matrix is converted
 * twice per step: forward and input gradient), which a once-per-step weight
 * cache could save.
 *
 *   npx tsx bench/matmul-bf16.ts [--configs S,tinystories] [--reps 5] [--threads 2]
 *
 * Human-readable lines go to stderr, one JSON object to stdout.
 */
import { parseArgs } from 'node:util';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { selectBackend } from '../src/backends/select.ts';
import { loadNative } from '../src/backends/native/addon.ts';
import { registerNativeBackend } from '../src/backends/native/register.ts';
import { AdamW } from '../src/train/adamw.ts';
import { trainStep } from '../src/train/train-step.ts';
import { Rng } from '../src/util/rng.ts';

const BATCH = 16;
const CONFIGS: Record<string, ModelConfig> = {
  S: resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 256, num_layers: 4, num_heads: 8, d_ff: 683 }, 'config S'),
  tinystories: resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 512, num_layers: 4, num_heads: 16, d_ff: 1344 }, 'CS336 TinyStories'),
};

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Shape { batch: number; m: number; n: number; k: number; ta: boolean; tb: boolean; aBroadcast: boolean; bBroadcast: boolean; count: number }

const addon = loadNative();

/** The matmul calls of one training step of `c` (forward, backward; AdamW has none). */
async function stepShapes(c: ModelConfig): Promise<Shape[]> {
  const rng = new Rng(3);
  const model = TransformerLM.initialize(c, rng);
  const optimizer = new AdamW(model.params, { lr: 1e-3, weightDecay: 0.01 });
  const n = BATCH * c.context_length;
  const x = new Int32Array(n).map(() => rng.intBelow(c.vocab_size));
  const y = new Int32Array(n).map(() => rng.intBelow(c.vocab_size));
  const shapes = new Map<string, Shape>();
  const original = addon.matmul;
  addon.matmul = (a, b, out, batch, aoff, boff, m, nn, k, ta, tb) => {
    const aBroadcast = aoff.every((v) => v === aoff[0]) && batch > 1;
    const bBroadcast = boff.every((v) => v === boff[0]) && batch > 1;
    const key = `${batch} ${m} ${nn} ${k} ${ta} ${tb} ${aBroadcast} ${bBroadcast}`;
    const s = shapes.get(key);
    if (s) s.count += 1;
    else shapes.set(key, { batch, m, n: nn, k, ta, tb, aBroadcast, bBroadcast, count: 1 });
    original.call(addon, a, b, out, batch, aoff, boff, m, nn, k, ta, tb);
  };
  try {
    await trainStep(model, optimizer, { x, y, batchSize: BATCH, contextLength: c.context_length, starts: [] }, 1e-3, 1.0, null);
  } finally {
    addon.matmul = original;
    optimizer.dispose();
    model.dispose();
  }
  return [...shapes.values()];
}

interface ShapeResult extends Shape { fp32_s: number; bf16_s: number; fp32_gflops: number; bf16_gflops: number; speedup: number; convert_share: number; copy_share: number; converted: number; convert_s: number }

function timeShape(s: Shape, reps: number): ShapeResult {
  const rng = new Rng(1);
  const aLen = (s.aBroadcast ? 1 : s.batch) * s.m * s.k, bLen = (s.bBroadcast ? 1 : s.batch) * s.k * s.n;
  const a = new Float32Array(aLen).map(() => rng.uniform() - 0.5);
  const b = new Float32Array(bLen).map(() => rng.uniform() - 0.5);
  const c = new Float32Array(s.batch * s.m * s.n);
  const aoff = new Float64Array(s.batch).map((_, i) => (s.aBroadcast ? 0 : i * s.m * s.k));
  const boff = new Float64Array(s.batch).map((_, i) => (s.bBroadcast ? 0 : i * s.k * s.n));
  const once = (): number => {
    const t0 = performance.now();
    addon.matmul(a, b, c, s.batch, aoff, boff, s.m, s.n, s.k, s.ta, s.tb);
    return (performance.now() - t0) / 1000;
  };
  const f32: number[] = [];
  const b16: number[] = [];
  addon.setPrecision('bf16');
  once(); // primitive creation
  addon.resetPrecisionStats();
  for (let r = 0; r < reps; r++) {
    addon.setPrecision('fp32');
    f32.push(once());
    addon.setPrecision('bf16');
    b16.push(once());
  }
  addon.setPrecision('fp32');
  const st = addon.precisionInfo().stats;
  const threads = addon.info().threads;
  const flops = 2 * s.batch * s.m * s.n * s.k;
  const fp32S = median(f32), bf16S = median(b16);
  return {
    ...s, fp32_s: fp32S, bf16_s: bf16S, fp32_gflops: flops / fp32S / 1e9, bf16_gflops: flops / bf16S / 1e9, speedup: fp32S / bf16S,
    // Thread-seconds over threads over wall seconds: the share of the bf16 call.
    convert_share: st.convertSeconds / threads / st.wallSeconds, copy_share: st.copySeconds / threads / st.wallSeconds,
    converted: st.converted / reps, convert_s: st.convertSeconds / reps,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { configs: { type: 'string', default: 'S,tinystories' }, reps: { type: 'string', default: '5' }, threads: { type: 'string', default: '2' } },
  });
  const reps = Number(values.reps);
  const threads = Number(values.threads);
  registerNativeBackend({ threads });
  await selectBackend('native');
  const info = addon.precisionInfo();
  if (!info.available) throw new Error(`bf16 unavailable: ${info.reason}`);
  log(`native: ${addon.info().threads} threads, OpenBLAS ${addon.info().openblasCore}; oneDNN ${info.version} (${info.library}), ISA ${info.isa}, probe impl ${info.probeImpl}, conversion ${info.convertIsa}`);
  const out: Record<string, unknown> = {};
  for (const name of values.configs.split(',').filter((n) => n in CONFIGS)) {
    const c = CONFIGS[name];
    const shapes = await stepShapes(c);
    log(`\n== ${name}: ${shapes.reduce((s, x) => s + x.count, 0)} matmuls per step, ${shapes.length} shapes (batch ${BATCH}, ${BATCH * c.context_length} tokens)`);
    log(`  ${'batch × (m×k)·(k×n) ta tb'.padEnd(34)} ${'count'.padStart(5)} ${'fp32 GF/s'.padStart(9)} ${'bf16 GF/s'.padStart(9)} ${'speedup'.padStart(7)} ${'convert'.padStart(7)} ${'copy'.padStart(5)}`);
    const results: ShapeResult[] = [];
    for (const s of shapes) {
      const r = timeShape(s, reps);
      results.push(r);
      const label = `${r.batch} × (${r.m}×${r.k})·(${r.k}×${r.n}) ${r.ta ? 'T' : '-'} ${r.tb ? 'T' : '-'}${r.bBroadcast ? ' bcast' : ''}`;
      log(`  ${label.padEnd(34)} ${String(r.count).padStart(5)} ${r.fp32_gflops.toFixed(1).padStart(9)} ${r.bf16_gflops.toFixed(1).padStart(9)} ${r.speedup.toFixed(2).padStart(6)}x ${(100 * r.convert_share).toFixed(1).padStart(6)}% ${(100 * r.copy_share).toFixed(1).padStart(4)}%`);
    }
    const fp32Step = results.reduce((s, r) => s + r.count * r.fp32_s, 0);
    const bf16Step = results.reduce((s, r) => s + r.count * r.bf16_s, 0);
    const convertStep = results.reduce((s, r) => s + r.count * r.convert_s, 0) / threads;
    const converted = results.reduce((s, r) => s + r.count * r.converted, 0);
    const perValue = convertStep / converted; // wall seconds per converted value (all threads)
    const perLayer = 4 * c.d_model * c.d_model + 3 * c.d_model * c.d_ff;
    const weights = c.num_layers * perLayer + c.vocab_size * c.d_model;
    const weightConvertS = 2 * weights * perValue;
    log(`  matmuls per step: fp32 ${(1000 * fp32Step).toFixed(0)} ms, bf16 ${(1000 * bf16Step).toFixed(0)} ms (${(fp32Step / bf16Step).toFixed(2)}x); bf16 conversion ${(1000 * convertStep).toFixed(1)} ms per step (${(converted / 1e6).toFixed(1)} M values, ${(converted / convertStep / 1e9).toFixed(2)} G values/s)`);
    log(`  of which weights (${(weights / 1e6).toFixed(2)} M matmul weights, converted twice): ${(1000 * weightConvertS).toFixed(2)} ms per step = ${(100 * weightConvertS / bf16Step).toFixed(2)}% of the bf16 matmul time`);
    out[name] = { shapes: results, fp32_matmul_s: fp32Step, bf16_matmul_s: bf16Step, convert_s: convertStep, converted, weights, weight_convert_s: weightConvertS };
  }
  process.stdout.write(`${JSON.stringify({ bench: 'matmul-bf16', threads, reps, onednn: addon.precisionInfo(), openblas: addon.info().openblasCore, configs: out })}\n`);
}

await main();
