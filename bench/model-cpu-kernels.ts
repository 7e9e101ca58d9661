/**
 * Benchmark: tfjs stock cpu kernels vs lmpipe's replacements
 * (src/backends/cpu/kernels.ts), in the same process, as ratios:
 *   - one kernel at a time on Transformer-shaped inputs;
 *   - a whole training step (forward + backward of the mean cross-entropy)
 *     and a forward pass of a small RoPE/SwiGLU model.
 * Human-readable lines on stderr, one JSON object on stdout.
 *
 *   npx tsx bench/model-cpu-kernels.ts [--reps 3]
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { installCpuKernels, uninstallCpuKernels } from '../src/backends/cpu/kernels.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { ops } from '../src/model/ops.ts';
import { Rng } from '../src/util/rng.ts';

const repsArg = process.argv.indexOf('--reps');
const REPS = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 3;

await selectBackend('cpu');
const rng = new Rng(1);

function rand(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal();
  return tf.tensor(d, shape);
}
function randInt(shape: number[], below: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Int32Array.from({ length: n }, () => rng.intBelow(below)), shape, 'int32');
}

/** Median wall time (ms) of f, which returns a tensor that is awaited and freed. */
async function time(f: () => Tensor, reps: number): Promise<number> {
  const warm = f();
  await warm.data();
  warm.dispose();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = f();
    await r.data();
    ts.push(performance.now() - t0);
    r.dispose();
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

async function compare(name: string, f: () => Tensor, reps = REPS): Promise<{ name: string; stock_ms: number; lmpipe_ms: number; speedup: number }> {
  uninstallCpuKernels();
  const stock = await time(f, reps);
  installCpuKernels();
  const fast = await time(f, reps);
  const row = { name, stock_ms: +stock.toFixed(2), lmpipe_ms: +fast.toFixed(2), speedup: +(stock / fast).toFixed(1) };
  process.stderr.write(`${name.padEnd(58)} stock ${stock.toFixed(1).padStart(9)} ms   lmpipe ${fast.toFixed(1).padStart(8)} ms   ×${row.speedup}\n`);
  return row;
}

const B = 4;
const T = 64;
const D = 128;
const H = 4;
const V = 1024;
const results = [];

// Embedding gradient: gather backward = UnsortedSegmentSum over the vocabulary.
const table = rand([V, D]);
const ids = randInt([B * T], V);
const dy = rand([B * T, D]);
results.push(await compare(`embedding grad (UnsortedSegmentSum) V=${V} D=${D} N=${B * T}`, () => tf.grad((t: Tensor) => tf.sum(tf.mul(tf.gather(t, ids), dy)))(table), 1));
const x3 = rand([B, T, D]);
const gain = rand([D]);
const rowScale = rand([B, T, 1]);
results.push(await compare(`broadcast mul (B,T,D)·(D) and ·(B,T,1)`, () => tf.mul(tf.mul(x3, gain), rowScale)));
results.push(await compare(`transpose (B,T,H,dh)→(B,H,T,dh)`, () => tf.transpose(tf.reshape(x3, [B, T, H, D / H]), [0, 2, 1, 3])));
results.push(await compare(`RoPE pair swap (reverse of (…, d/2, 2))`, () => tf.reverse(tf.reshape(x3, [-1, D / 2, 2]), -1)));
results.push(await compare(`sum over (B,T) of (B,T,D) (a weight-gain gradient)`, () => tf.sum(x3, [0, 1])));
const w = rand([4 * D, D]);
results.push(await compare(`matmul (B·T,D)·Wᵀ, W (4D,D)`, () => tf.matMul(tf.reshape(x3, [B * T, D]), w, false, true)));
const q = rand([B, H, T, D / H]);
results.push(await compare(`attention scores q·kᵀ (B,H,T,dh)`, () => tf.matMul(q, q, false, true)));

const config = resolveModelConfig({ vocab_size: V, context_length: T, d_model: D, num_layers: 2, num_heads: H });
const model = TransformerLM.initialize(config, new Rng(2));
const x = randInt([B, T], V);
const y = randInt([B, T], V);
const vars = model.variables();
results.push(await compare(`LM forward (V=${V}, d=${D}, 2 layers, B=${B}, T=${T})`, () => model.forward(x)));
results.push(await compare(`LM train step: forward + backward`, () => tf.tidy(() => {
  const { value, grads } = tf.variableGrads(() => ops.crossEntropy(model.forward(x), y) as tf.Scalar, vars);
  tf.dispose(Object.values(grads));
  return value;
}), 1));
model.dispose();

const step = results[results.length - 1];
process.stderr.write(`training step speedup with the replacement kernels: ×${step.speedup}\n`);
process.stdout.write(`${JSON.stringify({ bench: 'model-cpu-kernels', reps: REPS, results })}\n`);
