/**
 * The fused WGSL primitives against tfjs's generic WebGPU kernels, op by
 * op, forward + backward, at the shapes of one layer of a training step
 * (batch B, context T, d_model D, H heads, vocabulary V); both variants run
 * in the same process on the same inputs, and their outputs are compared.
 *
 *   npx tsx bench/webgpu-ops.ts [--shape S|tinystories|small|tiny] [--reps 5]
 *
 * A software adapter is used only with LMPIPE_WEBGPU_ALLOW_SOFTWARE=1.
 * Human-readable lines go to stderr, one JSON object to stdout.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { setupWebGPU } from '../src/backends/webgpu/setup.ts';
import { DEFAULT_OPS } from '../src/model/ops.ts';
import { RopeTables } from '../src/model/rope.ts';
import * as fused from '../src/backends/webgpu/fused-ops.ts';

const SHAPES: Record<string, { B: number; T: number; D: number; H: number; V: number }> = {
  S: { B: 16, T: 256, D: 256, H: 8, V: 10000 },
  tinystories: { B: 16, T: 256, D: 512, H: 16, V: 10000 },
  small: { B: 8, T: 128, D: 128, H: 4, V: 4096 },
  tiny: { B: 4, T: 64, D: 64, H: 4, V: 512 },
};

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Forward + backward of `f` (gradients of sum(f(x)·r)); returns the values read back. */
function fwdBwd(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], r: Tensor | null): Tensor[] {
  return tf.tidy(() => {
    const g = tf.valueAndGrads((...xs: Tensor[]) => {
      const y = f(...xs);
      return (r ? tf.sum(tf.mul(y, r)) : tf.sum(y)) as tf.Scalar;
    })(inputs);
    return [g.value, ...g.grads];
  });
}

async function timeOp(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], r: Tensor | null, reps: number): Promise<{ ms: number; out: Float32Array[] }> {
  let out: Float32Array[] = [];
  const times: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const ts = fwdBwd(f, inputs, r);
    // Reading the (small) loss waits for all queued GPU work of this iteration.
    await ts[0].data();
    const ms = performance.now() - t0;
    if (i > 0) times.push(ms);
    if (i === reps) out = await Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(ts);
  }
  return { ms: median(times), out };
}

function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, k) => {
    let scale = 1e-6;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(b[k][i]));
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - b[k][i]) / scale);
  });
  return m;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { shape: { type: 'string', default: 'S' }, reps: { type: 'string', default: '5' } } });
  const s = SHAPES[values.shape];
  if (!s) throw new Error(`unknown --shape ${values.shape}; choose ${Object.keys(SHAPES).join(', ')}`);
  const reps = Number(values.reps);
  await selectBackend('webgpu');
  const gpu = await setupWebGPU(); // the adapter selectBackend found (memoized)
  log(`webgpu adapter: ${[gpu.adapter.vendor, gpu.adapter.architecture, gpu.adapter.device].filter(Boolean).join(' / ')}; shape ${values.shape} ${JSON.stringify(s)}`);
  const { B, T, D, H, V } = s;
  const dh = D / H;
  const rn = (shape: number[], seed: number, scale = 1): Tensor => tf.keep(tf.randomNormal(shape, 0, scale, 'float32', seed));
  const tables = new RopeTables(dh, 10000, T);
  const rows = tables.rows(0, T);
  const cos = tf.keep(rows.cos);
  const sin = tf.keep(rows.sin);
  const targets = tf.keep(tf.randomUniformInt([B * T], 0, V, 5));
  const w = tf.keep(tf.add(rn([D], 3, 0.1), 1));
  const cases: { name: string; inputs: Tensor[]; r: Tensor | null; plain: (...xs: Tensor[]) => Tensor; fused: (...xs: Tensor[]) => Tensor }[] = [
    { name: 'attention (causal)', inputs: [rn([B, H, T, dh], 1), rn([B, H, T, dh], 2), rn([B, H, T, dh], 3)], r: rn([B, H, T, dh], 4),
      plain: (q, k, v) => DEFAULT_OPS.attention(q, k, v, { causal: true }), fused: (q, k, v) => fused.attention(q, k, v, { causal: true }) },
    { name: 'cross-entropy', inputs: [rn([B * T, V], 6)], r: null,
      plain: (x) => DEFAULT_OPS.crossEntropy(x, targets), fused: (x) => fused.crossEntropy(x, targets) },
    { name: 'rmsnorm', inputs: [rn([B, T, D], 7), w], r: rn([B, T, D], 8),
      plain: (x, g) => DEFAULT_OPS.rmsNorm(x, g, 1e-5), fused: (x, g) => fused.rmsNorm(x, g, 1e-5) },
    { name: 'rope', inputs: [rn([B, H, T, dh], 9)], r: rn([B, H, T, dh], 10),
      plain: (x) => DEFAULT_OPS.rope(x, cos, sin), fused: (x) => fused.rope(x, cos, sin) },
  ];
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    const p = await timeOp(c.plain, c.inputs, c.r, reps);
    const f = await timeOp(c.fused, c.inputs, c.r, reps);
    const diff = maxRelDiff(f.out, p.out);
    log(`  ${c.name.padEnd(20)} plain ${p.ms.toFixed(2).padStart(9)} ms   fused ${f.ms.toFixed(2).padStart(9)} ms   speed-up ${(p.ms / f.ms).toFixed(2)}x   max rel diff ${diff.toExponential(1)}`);
    results.push({ op: c.name, plain_ms: p.ms, fused_ms: f.ms, speedup: p.ms / f.ms, max_rel_diff: diff });
  }
  tables.dispose();
  process.stdout.write(`${JSON.stringify({ bench: 'webgpu-ops', adapter: gpu.adapter, shape: { name: values.shape, ...s }, reps, ops: results })}\n`);
}

await main();
