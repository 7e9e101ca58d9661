/**
 * Training throughput: tokens/s of full training steps (forward, mean
 * cross-entropy, backward, gradient clipping, AdamW — lmpipe's `trainStep`
 * on its TransformerLM) for config S and the CS336 TinyStories config, on
 * lmpipe's native backend, on lmpipe's tfjs cpu backend (config S only, one
 * step: it is ~100x slower) and on a PyTorch reference of the same
 * architecture (bench/torch_train_step.py under Debian's /usr/bin/python3),
 * all in one run. numpy's sgemm GFLOP/s is measured in the same run
 * (bench/sgemm.py) and each system's model FLOPs utilisation is reported
 * against it: (6·N + 12·L·d·T) FLOPs per token, N the matmul parameters.
 * "lmpipe native" is exactly what `--backend native` trains with: the
 * native kernels, the fused model ops and the one-pass AdamW update.
 *
 * bf16 columns (unless --no-bf16): "lmpipe native bf16" is the same with
 * the native backend's matmuls in bf16 with fp32 accumulation (oneDNN, see
 * src/backends/native/precision.ts), trained from the same initial weights
 * as "lmpipe native" with the two alternating step by step, so both see the
 * same machine load; "pytorch bf16 autocast" is the PyTorch reference under
 * torch.autocast('cpu', dtype=torch.bfloat16), alternating likewise with
 * PyTorch fp32. The oneDNN ISA and implementations each one ran are
 * reported (ONEDNN_MAX_CPU_ISA=AVX2 emulates a CPU without avx512_bf16:
 * lmpipe then stays fp32 and says why). MFU stays against the fp32 sgemm
 * peak.
 *
 *   npx tsx bench/train-step.ts [--steps 3] [--configs S,tinystories[,demo]] [--no-torch] [--no-cpu] [--no-bf16] [--threads N]
 *     [--isa baseline|avx2]
 *
 * `--isa` runs the native kernels of that instruction set (default: the
 * best this CPU has), e.g. to measure what AVX2 buys.
 *
 * Human-readable lines go to stderr, one JSON object to stdout.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { selectBackend } from '../src/backends/select.ts';
import { registerNativeBackend } from '../src/backends/native/register.ts';
import { loadNative } from '../src/backends/native/addon.ts';
import type { NativeIsa, NativePrecisionInfo } from '../src/backends/native/addon.ts';
import { bf16Stats, precisionInfo, resetBf16Stats, setMatmulPrecision } from '../src/backends/native/precision.ts';
import { AdamW } from '../src/train/adamw.ts';
import type { Batch } from '../src/train/batch-sampler.ts';
import { trainStep } from '../src/train/train-step.ts';
import { Rng } from '../src/util/rng.ts';

const TORCH_PYTHON = '/usr/bin/python3';
const BATCH = 16;

const CONFIGS: Record<string, ModelConfig> = {
  S: resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 256, num_layers: 4, num_heads: 8, d_ff: 683 }, 'config S'),
  tinystories: resolveModelConfig({ vocab_size: 10000, context_length: 256, d_model: 512, num_layers: 4, num_heads: 16, d_ff: 1344 }, 'CS336 TinyStories'),
  // The demo's model (`npm run demo`, docs/results.md): 1.9 M parameters, where per-op overhead weighs more.
  demo: resolveModelConfig({ vocab_size: 4096, context_length: 128, d_model: 128, num_layers: 4, num_heads: 4, d_ff: 384 }, 'demo'),
};

/** Training FLOPs per token: 6·N (N = matmul weights) + 12·L·d·T (attention scores and mixing, fwd+bwd). */
export function flopsPerToken(c: ModelConfig): number {
  const perLayer = 4 * c.d_model * c.d_model + (c.ffn === 'swiglu' ? 3 : 2) * c.d_model * c.d_ff;
  const n = c.num_layers * perLayer + c.vocab_size * c.d_model;
  return 6 * n + 12 * c.num_layers * c.d_model * c.context_length;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function randomBatch(rng: Rng, c: ModelConfig): Batch {
  const n = BATCH * c.context_length;
  const x = new Int32Array(n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = rng.intBelow(c.vocab_size);
    y[i] = rng.intBelow(c.vocab_size);
  }
  return { x, y, batchSize: BATCH, contextLength: c.context_length, starts: [] };
}

interface StepRun {
  system: string;
  step_s: number;
  best_step_s: number;
  step_times_s: number[];
  warmup_s: number | null;
  tokens_per_s: number;
  loss: number;
  /** lmpipe bf16: per step, the bf16 matmuls' wall seconds and their conversion (thread-seconds / threads). */
  bf16?: { matmul_s: number; convert_s: number; copy_s: number; converted: number; fallbacks: number; impls: string[] };
  /** PyTorch bf16 autocast: the oneDNN primitives it ran (kind:implementation). */
  onednn_impls?: string[];
}

/** Times `steps` lmpipe training steps (after `warmup` untimed ones) on the active backend. */
async function lmpipeSteps(system: string, c: ModelConfig, steps: number, warmup: number): Promise<StepRun> {
  const rng = new Rng(7);
  const model = TransformerLM.initialize(c, rng);
  const optimizer = new AdamW(model.params, { lr: 1e-3, weightDecay: 0.01 });
  const times: number[] = [];
  let loss = NaN;
  let warmupS: number | null = null;
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const batch = randomBatch(rng, c);
      const t0 = performance.now();
      loss = (await trainStep(model, optimizer, batch, 1e-3, 1.0, null)).loss;
      const s = (performance.now() - t0) / 1000;
      if (i < warmup) warmupS = (warmupS ?? 0) + s;
      else times.push(s);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  const stepS = median(times);
  const tokens = BATCH * c.context_length;
  log(`${system}: ${stepS.toFixed(2)} s/step (median of ${times.length}${warmupS !== null ? `, warm-up ${warmupS.toFixed(2)} s` : ', no warm-up'}), ${(tokens / stepS).toFixed(0)} tokens/s, loss ${loss.toFixed(3)}`);
  return { system, step_s: stepS, best_step_s: Math.min(...times), step_times_s: times, warmup_s: warmupS, tokens_per_s: tokens / stepS, loss };
}

/**
 * lmpipe native in fp32 and in bf16 matmuls: two models from the same
 * initial weights, the same batches, their steps alternating (fp32, bf16,
 * fp32, ...) so that both see the same machine load.
 */
async function lmpipePair(c: ModelConfig, steps: number, warmup: number): Promise<StepRun[]> {
  const runs = (['fp32', 'bf16'] as const).map((precision) => {
    const rng = new Rng(7);
    const model = TransformerLM.initialize(c, rng);
    return { precision, rng, model, optimizer: new AdamW(model.params, { lr: 1e-3, weightDecay: 0.01 }), times: [] as number[], warmup: 0, loss: NaN };
  });
  const threads = loadNative().info().threads;
  const stats = { matmul_s: 0, convert_s: 0, copy_s: 0, converted: 0, fallbacks: 0 };
  try {
    for (let i = 0; i < warmup + steps; i++) {
      for (const r of runs) {
        const active = setMatmulPrecision(r.precision);
        if (active.precision !== r.precision) throw new Error(`bf16 unavailable: ${active.reason}`);
        const batch = randomBatch(r.rng, c);
        if (r.precision === 'bf16') resetBf16Stats();
        const t0 = performance.now();
        r.loss = (await trainStep(r.model, r.optimizer, batch, 1e-3, 1.0, null)).loss;
        const s = (performance.now() - t0) / 1000;
        if (i < warmup) r.warmup += s;
        else r.times.push(s);
        if (r.precision === 'bf16' && i >= warmup) {
          const st = bf16Stats();
          if (st) {
            stats.matmul_s += st.wallSeconds / steps;
            stats.convert_s += st.convertSeconds / threads / steps;
            stats.copy_s += st.copySeconds / threads / steps;
            stats.converted += st.converted / steps;
            stats.fallbacks += st.fallbacks;
          }
        }
      }
    }
  } finally {
    setMatmulPrecision('fp32');
    for (const r of runs) {
      r.optimizer.dispose();
      r.model.dispose();
    }
  }
  const tokens = BATCH * c.context_length;
  return runs.map((r) => {
    const stepS = median(r.times);
    const system = r.precision === 'fp32' ? 'lmpipe native' : 'lmpipe native bf16';
    const extra = r.precision === 'bf16' ? `; bf16 matmuls ${(stats.matmul_s).toFixed(2)} s/step, of which converting ${(1000 * stats.convert_s).toFixed(0)} ms (${(stats.converted / 1e6).toFixed(0)} M values), copying ${(1000 * stats.copy_s).toFixed(0)} ms${stats.fallbacks ? `; ${stats.fallbacks} matmuls ran in fp32 (${String(bf16Stats()?.lastError)})` : ''}` : '';
    log(`${system}: ${stepS.toFixed(2)} s/step (median of ${r.times.length}, warm-up ${r.warmup.toFixed(2)} s), ${(tokens / stepS).toFixed(0)} tokens/s, loss ${r.loss.toFixed(3)}${extra}`);
    const run: StepRun = { system, step_s: stepS, best_step_s: Math.min(...r.times), step_times_s: r.times, warmup_s: r.warmup, tokens_per_s: tokens / stepS, loss: r.loss };
    if (r.precision === 'bf16') run.bf16 = { ...stats, impls: precisionInfo()?.impls ?? [] };
    return run;
  });
}

/** Runs a Python helper; returns its stdout JSON (stderr passes through). */
function python(script: string, args: string[]): Record<string, unknown> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const r = spawnSync(TORCH_PYTHON, [path, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${TORCH_PYTHON} ${script} exited with ${r.status ?? r.signal}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '3' },
      configs: { type: 'string', default: 'S,tinystories' },
      'no-torch': { type: 'boolean', default: false },
      'no-cpu': { type: 'boolean', default: false },
      threads: { type: 'string' },
      isa: { type: 'string' },
      'no-bf16': { type: 'boolean', default: false },
    },
  });
  const isaArg = values.isa;
  if (isaArg !== undefined && isaArg !== 'baseline' && isaArg !== 'avx2') throw new Error(`--isa ${isaArg}: choose baseline or avx2`);
  const isa: NativeIsa | undefined = isaArg;
  const steps = Number(values.steps);
  const threads = values.threads ? Number(values.threads) : 2;
  const names = values.configs.split(',').filter((n) => n in CONFIGS);

  // Measured before and after the runs, best taken: on a shared machine a
  // single measurement can land in a busy moment.
  const sgemmRuns: Record<string, unknown>[] = [];
  const measureSgemm = (): void => {
    log(`sgemm reference (numpy, ${TORCH_PYTHON}, ${threads} threads)`);
    sgemmRuns.push(python('./sgemm.py', ['--threads', String(threads), '--sizes', '1024,2048']));
  };
  measureSgemm();

  const info = registerNativeBackend({ threads, isa });
  log(`native backend: ${info.isa} kernels, ${info.threads} threads, ${info.openblasConfig}`);
  const withBf16 = !values['no-bf16'];
  const prec: NativePrecisionInfo | null = withBf16 ? precisionInfo() : null;
  if (prec?.available) log(`native bf16: oneDNN ${prec.version} (${prec.library}, ${prec.runtime}), ISA ${prec.isa}${prec.hardwareBf16 ? '' : ' (no bf16 instructions: emulated)'}, probe ${prec.probeImpl}, conversion ${prec.convertIsa}`);
  else if (prec) log(`native bf16 unavailable, lmpipe runs fp32 only: ${prec.reason}`);

  const results: Record<string, unknown> = {};
  for (const name of names) {
    const c = CONFIGS[name];
    const tokens = BATCH * c.context_length;
    const fpt = flopsPerToken(c);
    log(`\n== ${name}: vocab ${c.vocab_size}, context ${c.context_length}, d_model ${c.d_model}, layers ${c.num_layers}, heads ${c.num_heads}, d_ff ${c.d_ff}, batch ${BATCH} (${(fpt * tokens / 1e9).toFixed(1)} GFLOP/step)`);
    const runs: StepRun[] = [];
    const failures: Record<string, string> = {};

    await selectBackend('native'); // registered above with `threads` and `isa`; this installs the fused ops and AdamW
    if (prec?.available) runs.push(...await lmpipePair(c, steps, 1));
    else runs.push(await lmpipeSteps('lmpipe native', c, steps, 1));

    if (name === 'S' && !values['no-cpu']) {
      await selectBackend('cpu'); // the plain ops and AdamW
      runs.push(await lmpipeSteps('lmpipe tfjs-cpu', c, 1, 0));
    }

    if (!values['no-torch']) {
      const t = python('./torch_train_step.py', [
        '--vocab', String(c.vocab_size), '--context', String(c.context_length), '--d-model', String(c.d_model),
        '--layers', String(c.num_layers), '--heads', String(c.num_heads), '--d-ff', String(c.d_ff),
        '--batch', String(BATCH), '--steps', String(steps), '--threads', String(threads), '--precision', withBf16 ? 'both' : 'fp32',
      ]);
      for (const f of (t.failed ?? []) as Record<string, unknown>[]) failures[`pytorch ${String(f.precision)}`] = String(f.error);
      for (const r of t.runs as Record<string, unknown>[]) {
        const bf16 = r.precision === 'bf16';
        runs.push({
          system: `pytorch ${String(r.torch)}${bf16 ? ' bf16 autocast' : ''}`, step_s: Number(r.step_s), best_step_s: Number(r.best_step_s),
          step_times_s: r.step_times_s as number[], warmup_s: Number(r.warmup_s), tokens_per_s: Number(r.tokens_per_s), loss: Number(r.loss),
          ...(bf16 ? { onednn_impls: t.onednn_impls as string[] } : {}),
        });
      }
    }

    results[name] = { config: c, batch: BATCH, tokens_per_step: tokens, flops_per_token: fpt, runs, failures };
  }
  measureSgemm();
  const peak = Math.max(...sgemmRuns.map((r) => Number(r.gflops)));
  log(`\nsgemm peak (best of ${sgemmRuns.length}): ${peak.toFixed(1)} GFLOP/s`);
  for (const name of names) {
    const entry = results[name] as { flops_per_token: number; runs: StepRun[]; failures: Record<string, string> } & Record<string, unknown>;
    const fpt = entry.flops_per_token;
    log(`\n== ${name}`);
    const withMfu = entry.runs.map((r) => ({ ...r, model_gflops: (fpt * r.tokens_per_s) / 1e9, mfu: (fpt * r.tokens_per_s) / 1e9 / peak }));
    for (const r of withMfu) log(`  ${r.system.padEnd(32)} ${r.tokens_per_s.toFixed(0).padStart(7)} tokens/s  ${r.model_gflops.toFixed(1).padStart(6)} GFLOP/s  MFU ${(100 * r.mfu).toFixed(1)}%`);
    const native = withMfu.find((r) => r.system === 'lmpipe native');
    const nativeBf16 = withMfu.find((r) => r.system === 'lmpipe native bf16');
    const torch = withMfu.find((r) => r.system.startsWith('pytorch') && !r.system.endsWith('bf16 autocast'));
    const torchBf16 = withMfu.find((r) => r.system.startsWith('pytorch') && r.system.endsWith('bf16 autocast'));
    const cpu = withMfu.find((r) => r.system === 'lmpipe tfjs-cpu');
    const ratios: Record<string, number> = {};
    if (native && torch) ratios.native_over_torch = native.tokens_per_s / torch.tokens_per_s;
    if (native && cpu) ratios.native_over_cpu = native.tokens_per_s / cpu.tokens_per_s;
    if (native && nativeBf16) ratios.native_bf16_over_fp32 = nativeBf16.tokens_per_s / native.tokens_per_s;
    if (torch && torchBf16) ratios.torch_bf16_over_fp32 = torchBf16.tokens_per_s / torch.tokens_per_s;
    if (nativeBf16 && torchBf16) ratios.native_bf16_over_torch_bf16 = nativeBf16.tokens_per_s / torchBf16.tokens_per_s;
    for (const [system, error] of Object.entries(entry.failures)) log(`  ${system} failed: ${error}`);
    if (nativeBf16?.bf16) log(`  lmpipe bf16 oneDNN implementations: ${nativeBf16.bf16.impls.join(', ')}`);
    if (torchBf16?.onednn_impls) log(`  pytorch bf16 oneDNN implementations: ${torchBf16.onednn_impls.join(', ') || 'none'}`);
    for (const [k, v] of Object.entries(ratios)) log(`  ${k}: ${v.toFixed(2)}x`);
    results[name] = { ...entry, runs: withMfu, ratios };
  }
  process.stdout.write(`${JSON.stringify({ bench: 'train-step', sgemm: { peak_gflops: peak, runs: sgemmRuns }, native: info, precision: prec, onednn_max_cpu_isa: process.env.ONEDNN_MAX_CPU_ISA ?? null, threads, steps, configs: results })}\n`);
}

await main();
