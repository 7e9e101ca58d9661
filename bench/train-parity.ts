/**
 * Training parity with PyTorch: the same Transformer LM, the same initial
 * weights, the same batches and the same hyperparameters, trained by lmpipe
 * (pipelines/train.ts, per backend) and by a float32 PyTorch reference
 * (bench/train_parity.py under Debian's /usr/bin/python3, which has torch);
 * the loss must agree within --tolerance (relative) at every step, and the
 * validation loss at every evaluation.
 *
 *   npx tsx bench/train-parity.ts [--steps 200] [--backends native[,cpu]] [--out out/parity] [--plot-dir DIR]
 *                                 [--precision fp32|bf16] [--tolerance R]
 *
 * `--precision bf16` trains lmpipe with bf16 matmuls (native backend) and
 * PyTorch under `torch.autocast('cpu', dtype=torch.bfloat16)`; the default
 * tolerance is then 2% (issue 17's bar), else 1%.
 *
 * How "the same" is guaranteed, from lmpipe's own outputs:
 * - data: tinystories split (split-corpus), a BPE tokenizer (train-bpe) and
 *   uint16 token files (encode), all by the pipelines;
 * - initial weights: the trainer's step-0 checkpoint (`--stop-at-step 0`),
 *   read by the python script with a small safetensors reader;
 * - batches: the trainer's sampler (`sampleBatch`, Rng(seed + 1)) replayed
 *   here and written as window starts; after each lmpipe run the replayed
 *   RNG state is checked against the data RNG state in its state.json;
 * - hyperparameters: the python script reads the run's train-config.json.
 *
 * Human-readable lines go to stderr, one JSON object to stdout; the exit
 * code is 1 when a curve is outside the tolerance.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { learningCurveSpec } from '../src/plot/learning-curves.ts';
import type { RunCurves } from '../src/plot/learning-curves.ts';
import { plottingAvailable, svgToPng, vegaLiteToSvg } from '../src/plot/render.ts';
import { sampleBatch } from '../src/train/batch-sampler.ts';
import { readMetrics } from '../src/train/metrics.ts';
import type { MetricsRecord } from '../src/train/metrics.ts';
import { TokenFileReader } from '../src/tokenizer/token-reader.ts';
import { Rng } from '../src/util/rng.ts';
import type { RngState } from '../src/util/rng.ts';
import { sharedPath } from '../src/util/shared-data.ts';

const TORCH_PYTHON = '/usr/bin/python3';
const CORPUS = sharedPath('corpora', 'tinystories.txt');
const root = fileURLToPath(new URL('..', import.meta.url));

/** The parity run's training config (model small enough for ~1 minute per system on 2 cores). */
export function parityConfig(dataDir: string, tokenizerDir: string, steps: number): Record<string, unknown> {
  return {
    model: { vocab_size: 1024, context_length: 64, d_model: 64, num_layers: 2, num_heads: 4, d_ff: 192, rope_theta: 10000 },
    train_data: join(dataDir, 'train.bin'),
    val_data: join(dataDir, 'valid.bin'),
    tokenizer: tokenizerDir,
    batch_size: 8,
    max_steps: steps,
    lr: 3e-3,
    min_lr: 3e-4,
    warmup_steps: Math.round(steps / 10),
    weight_decay: 0.1,
    betas: [0.9, 0.95],
    // The gradient norm of this model stays in 0.4–0.75: 0.5 clips most steps but not all, so both branches are compared.
    grad_clip: 0.5,
    eval_interval: Math.max(1, Math.round(steps / 8)),
    eval_batches: 8,
    checkpoint_interval: steps,
    seed: 0,
  };
}

/** Per-run agreement with the reference: worst relative differences over all steps. */
export interface CurveComparison {
  steps: number;
  /** max over steps of |loss − ref| / |ref|. */
  max_rel_loss_diff: number;
  max_rel_loss_diff_step: number;
  /** Relative loss difference at step 1 (same weights, same batch: forward-pass agreement). */
  rel_loss_diff_step1: number;
  rel_loss_diff_final: number;
  /** max over evaluations of |val − ref val| / |ref val| (null without evaluations). */
  max_rel_val_diff: number | null;
  evaluations: number;
  max_rel_grad_norm_diff: number;
  within_tolerance: boolean;
}

/** Relative difference |a − b| / |b|. */
export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/**
 * Compares a run's metrics with the reference's step by step. Both must
 * log the same steps (a missing or extra step is an error, not a pass).
 */
export function compareCurves(run: readonly MetricsRecord[], ref: readonly MetricsRecord[], tolerance: number): CurveComparison {
  if (run.length !== ref.length || run.some((r, i) => r.step !== ref[i].step)) {
    throw new Error(`the runs logged different steps (${run.length} vs ${ref.length} records)`);
  }
  if (run.length === 0) throw new Error('no steps to compare');
  let maxLoss = -1;
  let maxLossStep = 0;
  let maxVal: number | null = null;
  let evaluations = 0;
  let maxNorm = 0;
  for (let i = 0; i < run.length; i++) {
    const d = relDiff(run[i].loss, ref[i].loss);
    // NaN compares false: a non-finite loss must fail, so it becomes Infinity.
    const dl = Number.isNaN(d) ? Infinity : d;
    if (dl > maxLoss) { maxLoss = dl; maxLossStep = run[i].step; }
    maxNorm = Math.max(maxNorm, relDiff(run[i].grad_norm, ref[i].grad_norm));
    const rv = ref[i].val_loss;
    const v = run[i].val_loss;
    if ((rv === undefined) !== (v === undefined)) throw new Error(`step ${run[i].step}: only one run evaluated`);
    if (rv !== undefined && v !== undefined) {
      const dv = relDiff(v, rv);
      maxVal = Math.max(maxVal ?? 0, Number.isNaN(dv) ? Infinity : dv);
      evaluations++;
    }
  }
  return {
    steps: run.length,
    max_rel_loss_diff: maxLoss,
    max_rel_loss_diff_step: maxLossStep,
    rel_loss_diff_step1: relDiff(run[0].loss, ref[0].loss),
    rel_loss_diff_final: relDiff(run[run.length - 1].loss, ref[ref.length - 1].loss),
    max_rel_val_diff: maxVal,
    evaluations,
    max_rel_grad_norm_diff: maxNorm,
    within_tolerance: maxLoss <= tolerance && (maxVal === null || maxVal <= tolerance),
  };
}

/** Vega-Lite spec of |relative loss difference| per step, one line per lmpipe backend (log scale). */
export function relDiffSpec(runs: readonly RunCurves[], ref: readonly MetricsRecord[], tolerance: number): Record<string, unknown> {
  const values: { run: string; step: number; rel: number }[] = [];
  for (const r of runs) {
    r.records.forEach((m, i) => values.push({ run: r.name, step: m.step, rel: Math.max(relDiff(m.loss, ref[i].loss), 1e-9) }));
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'training loss: |lmpipe − PyTorch| / PyTorch (0 drawn at 1e-9)',
    background: 'white',
    padding: 12,
    width: 560,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step' },
          y: { field: 'rel', type: 'quantitative', title: 'relative difference', scale: { type: 'log' } },
          color: { field: 'run', type: 'nominal', title: 'run' },
        },
      },
      {
        data: { values: [{ tol: tolerance }] },
        mark: { type: 'rule', color: '#c00', strokeDash: [6, 3] },
        encoding: { y: { field: 'tol', type: 'quantitative' } },
      },
    ],
    config: { font: 'DejaVu Sans', view: { stroke: '#ccc' } },
  };
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** Runs a command; resolves with its stdout (stderr passes through unless quiet). Rejects on a non-zero exit. */
function run(cmd: string, args: string[], quietStderr = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', quietStderr ? 'pipe' : 'inherit'] });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => { out += d; });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}${err ? `:\n${err.slice(-2000)}` : ''}`));
    });
  });
}

/** Runs `pipelines/NAME.ts` with this process's runtime (tsx or type stripping) and returns its JSON summary. */
async function pipeline(name: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await run(process.execPath, [...process.execArgv, join(root, 'pipelines', `${name}.ts`), ...args, '--quiet'], true);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

function sameRngState(a: RngState, b: RngState): boolean {
  return a.algorithm === b.algorithm && a.s.every((w, i) => w === b.s[i]);
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      steps: { type: 'string', default: '200' },
      backends: { type: 'string', default: 'native' },
      out: { type: 'string', default: 'out/parity' },
      'plot-dir': { type: 'string' },
      tolerance: { type: 'string' },
      precision: { type: 'string', default: 'fp32' },
      python: { type: 'string', default: TORCH_PYTHON },
    },
  });
  const steps = Number(a.steps);
  const precision = a.precision;
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision ${precision}: give fp32 or bf16`);
  const tolerance = Number(a.tolerance ?? (precision === 'bf16' ? '0.02' : '0.01'));
  const backends = a.backends.split(',').map((s) => s.trim()).filter(Boolean);
  const out = a.out;
  const plotDir = a['plot-dir'] ?? out;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${a.steps}`);
  if (!existsSync(CORPUS)) throw new Error(`${CORPUS} not found (the shared corpora folder)`);
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();

  // 1. Data, by the pipelines.
  const dataDir = join(out, 'data');
  const tokDir = join(out, 'tokenizer');
  await pipeline('split-corpus', ['--input', CORPUS, '--val-fraction', '0.1', '--out-dir', dataDir]);
  rmSync(tokDir, { recursive: true, force: true });
  const tok = await pipeline('train-bpe', ['--input', join(dataDir, 'train.txt'), '--vocab-size', '1024', '--special-token', '<|endoftext|>', '--out', tokDir]);
  for (const split of ['train', 'valid']) {
    await pipeline('encode', ['--tokenizer', tokDir, '--input', join(dataDir, `${split}.txt`), '--out', join(dataDir, `${split}.bin`)]);
  }
  log(`data: tinystories → ${dataDir} (tokenizer vocab ${String(tok.vocab_size)})`);

  // 2. Config and the trainer's initial weights.
  const config = parityConfig(dataDir, tokDir, steps);
  const configPath = join(out, 'train-config.json');
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const initDir = join(out, 'init');
  rmSync(initDir, { recursive: true, force: true });
  await pipeline('train', ['--config', configPath, '--backend', 'cpu', '--stop-at-step', '0', '--out', initDir]);

  // 3. The batches: the trainer's sampler replayed from its seed.
  const B = config.batch_size as number;
  const T = (config.model as { context_length: number }).context_length;
  const dataRng = new Rng((config.seed as number) + 1);
  const source = new TokenFileReader(config.train_data as string);
  const starts: number[][] = [];
  try {
    for (let s = 0; s < steps; s++) starts.push(sampleBatch(source, dataRng, B, T).starts);
  } finally {
    source.close();
  }
  const batchesPath = join(out, 'batches.json');
  writeFileSync(batchesPath, `${JSON.stringify({ batch_size: B, context_length: T, train_data: config.train_data, starts })}\n`);

  // 4. lmpipe, per backend.
  const lmpipe: Record<string, { dir: string; wall_s: number; tokens_per_s: number; batches_verified: boolean }> = {};
  for (const backend of backends) {
    const dir = join(out, `lmpipe-${backend}`);
    rmSync(dir, { recursive: true, force: true });
    const ts = performance.now();
    const summary = await pipeline('train', ['--config', configPath, '--backend', backend, '--precision', precision, '--out', dir]);
    const wall = (performance.now() - ts) / 1000;
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { rng: { data: RngState } };
    const verified = sameRngState(state.rng.data, dataRng.state());
    if (!verified) throw new Error(`${dir}: the data RNG state differs from the replayed sampler's; the batch files would not be the ones trained on`);
    lmpipe[backend] = { dir, wall_s: wall, tokens_per_s: summary.tokens_per_s as number, batches_verified: verified };
    log(`lmpipe ${backend}: ${steps} steps in ${wall.toFixed(1)} s (${(summary.tokens_per_s as number).toFixed(0)} tokens/s), final loss ${(summary.loss as number).toFixed(4)}; batch order verified`);
  }

  // 5. PyTorch.
  const torchDir = join(out, 'pytorch');
  rmSync(torchDir, { recursive: true, force: true });
  const pyOut = await run(a.python, [join(root, 'bench', 'train_parity.py'), '--config', join(lmpipe[backends[0]]?.dir ?? out, 'train-config.json'),
    '--init', join(initDir, 'model.safetensors'), '--batches', batchesPath, '--out', torchDir, ...backends.flatMap((b) => ['--compare', lmpipe[b].dir])]);
  const torch = JSON.parse(pyOut.trim().split('\n').at(-1) ?? '{}') as { torch: string; elapsed_s: number; tokens_per_s: number; weights: { run: string; max_rel_weight_diff: number; tensor: string }[] };
  log(`pytorch ${torch.torch}: ${steps} steps in ${torch.elapsed_s.toFixed(1)} s (${torch.tokens_per_s.toFixed(0)} tokens/s)`);

  // 6. Compare.
  const ref = readMetrics(join(torchDir, 'metrics.jsonl'));
  const results: Record<string, CurveComparison & { wall_s: number; tokens_per_s: number; max_rel_weight_diff: number | null }> = {};
  const curves: RunCurves[] = [{ name: `PyTorch ${torch.torch}`, records: ref }];
  for (const backend of backends) {
    const records = readMetrics(join(lmpipe[backend].dir, 'metrics.jsonl'));
    const c = compareCurves(records, ref, tolerance);
    const w = torch.weights.find((x) => x.run === lmpipe[backend].dir);
    results[backend] = { ...c, wall_s: lmpipe[backend].wall_s, tokens_per_s: lmpipe[backend].tokens_per_s, max_rel_weight_diff: w?.max_rel_weight_diff ?? null };
    curves.push({ name: `lmpipe ${backend}`, records });
    log(`lmpipe ${backend} vs PyTorch: max relative loss difference ${c.max_rel_loss_diff.toExponential(2)} (step ${c.max_rel_loss_diff_step}), step 1 ${c.rel_loss_diff_step1.toExponential(2)}, final ${c.rel_loss_diff_final.toExponential(2)}; `
      + `validation ${c.max_rel_val_diff === null ? 'n/a' : c.max_rel_val_diff.toExponential(2)} over ${c.evaluations} evaluations; grad norm ${c.max_rel_grad_norm_diff.toExponential(2)} → ${c.within_tolerance ? 'PASS' : 'FAIL'} (tolerance ${tolerance})`);
  }

  // 7. Plots.
  const plots: string[] = [];
  if (await plottingAvailable()) {
    mkdirSync(plotDir, { recursive: true });
    const curvesPng = join(plotDir, 'train-parity.png');
    writeFileSync(curvesPng, await svgToPng(await vegaLiteToSvg(learningCurveSpec(curves, { title: `training parity: lmpipe vs PyTorch (${steps} steps, same weights and batches)` }))));
    const diffPng = join(plotDir, 'train-parity-reldiff.png');
    writeFileSync(diffPng, await svgToPng(await vegaLiteToSvg(relDiffSpec(curves.slice(1), ref, tolerance))));
    plots.push(curvesPng, diffPng);
    log(`plots: ${plots.join(', ')}`);
  } else {
    log('plots skipped: vega/vega-lite/resvg not installed');
  }

  const pass = Object.values(results).every((r) => r.within_tolerance);
  process.stdout.write(`${JSON.stringify({
    bench: 'train-parity',
    pass,
    tolerance,
    precision,
    steps,
    config: { ...config, train_data: undefined, val_data: undefined, tokenizer: undefined },
    torch: { version: torch.torch, elapsed_s: torch.elapsed_s, tokens_per_s: torch.tokens_per_s },
    lmpipe: results,
    plots,
    wall_s: (performance.now() - t0) / 1000,
  })}\n`);
  if (!pass) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    log(`train-parity: ${(e as Error).message}`);
    process.exitCode = 2;
  });
}
