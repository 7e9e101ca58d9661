/**
 * The fused WGSL primitives (src/backends/webgpu/) against the plain tfjs-op versions
 * of src/model/ops.ts computed on the cpu backend: forward values and the
 * gradients of a random linear functional of the output, over shapes that
 * exercise several workgroups, tiles, causal offsets and the reduction
 * paths. Each case also checks that the fused kernels actually ran.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { DEFAULT_OPS } from '../src/model/ops.ts';
import type { AttentionOptions } from '../src/model/ops.ts';
import { RopeTables } from '../src/model/rope.ts';
import { Rng } from '../src/util/rng.ts';
import { wgslDispatchCount } from '../src/backends/webgpu/dispatch.ts';
import * as fused from '../src/backends/webgpu/fused-ops.ts';
import { adamwUpdate } from '../src/backends/webgpu/adamw.ts';
import { AdamW } from '../src/train/adamw.ts';
import { allclose } from './model-fixtures.ts';
import { gpuErrors, maxAbsDiff, useCpu, useWebGPU, webgpuOrSkip } from './webgpu-helpers.ts';

const skip = await webgpuOrSkip();

interface Input {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype: 'float32' | 'int32';
  /** Differentiate with respect to this input. */
  grad: boolean;
}

function normal(shape: number[], seed: number, scale = 1, grad = true): Input {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = scale * rng.normal();
  return { shape, data, dtype: 'float32', grad };
}

function ints(shape: number[], below: number, seed: number): Input {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Int32Array.from({ length: n }, () => rng.intBelow(below)), dtype: 'int32', grad: false };
}

function constant(shape: number[], data: Float32Array): Input {
  return { shape, data, dtype: 'float32', grad: false };
}

type Op = (...xs: Tensor[]) => Tensor;

interface Result {
  y: Float32Array;
  grads: Float32Array[];
}

/** Output and gradients of sum(op(inputs) ⊙ r) on the active backend. */
async function evaluate(op: Op, inputs: Input[], upstreamSeed: number): Promise<Result> {
  const ts = inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype));
  const gradIdx = inputs.map((inp, i) => (inp.grad ? i : -1)).filter((i) => i >= 0);
  const withVars = (vars: Tensor[]): Tensor[] => ts.map((t, i) => (gradIdx.includes(i) ? vars[gradIdx.indexOf(i)] : t));
  const y = op(...ts);
  const r = tf.tensor(normal(y.shape, upstreamSeed).data, y.shape);
  const grads = tf.grads((...vars: Tensor[]) => tf.sum(tf.mul(op(...withVars(vars)), r)))(gradIdx.map((i) => ts[i]));
  const out = { y: Float32Array.from(await y.data()), grads: await Promise.all(grads.map(async (g) => Float32Array.from(await g.data()))) };
  tf.dispose([...ts, y, r, ...grads]);
  return out;
}

async function check(label: string, plain: Op, fusedOp: Op, inputs: Input[], kernelPrefix: string, tol = 2e-5): Promise<void> {
  await useCpu();
  const ref = await evaluate(plain, inputs, 99);
  await useWebGPU();
  const before = wgslDispatchCount(kernelPrefix);
  const got = await evaluate(fusedOp, inputs, 99);
  assert.ok(wgslDispatchCount(kernelPrefix) > before, `${label}: the fused ${kernelPrefix} kernels did not run`);
  const fwd = allclose(got.y, ref.y, tol, tol);
  assert.equal(fwd, null, `${label} forward: ${fwd}`);
  assert.equal(got.grads.length, ref.grads.length);
  got.grads.forEach((g, i) => {
    const err = allclose(g, ref.grads[i], tol, tol);
    assert.equal(err, null, `${label} gradient ${i} (max |diff| ${maxAbsDiff(g, ref.grads[i])}): ${err}`);
  });
}

test('RMSNorm: forward, dx and dw (several widths and row counts)', { skip }, async () => {
  for (const [shape, seed] of [[[2, 5, 40], 1], [[3, 16], 2], [[3, 600], 3], [[130, 8], 4]] as [number[], number][]) {
    const d = shape[shape.length - 1];
    const w = normal([d], seed + 10, 0.3);
    for (let i = 0; i < d; i++) w.data[i] += 1;
    await check(`rmsNorm [${shape}]`, (x, g) => DEFAULT_OPS.rmsNorm(x, g, 1e-5), (x, g) => fused.rmsNorm(x, g, 1e-5), [normal(shape, seed), w], 'lmpipe_rmsnorm');
  }
});

test('RoPE: forward and gradient with real tables at an offset, and the exact transpose for arbitrary tables', { skip }, async () => {
  await useCpu();
  const tables = new RopeTables(8, 10000, 16);
  const rows = tables.rows(3, 7);
  const cos = constant([7, 8], Float32Array.from(await rows.cos.data()));
  const sin = constant([7, 8], Float32Array.from(await rows.sin.data()));
  tables.dispose();
  await check('rope tables', DEFAULT_OPS.rope, fused.rope, [normal([2, 3, 7, 8], 1), cos, sin], 'lmpipe_rope');
  await check('rope arbitrary tables', DEFAULT_OPS.rope, fused.rope, [normal([5, 6], 2), { ...normal([5, 6], 3), grad: false }, { ...normal([5, 6], 4), grad: false }], 'lmpipe_rope');
});

const ATTENTION_CASES: [string, number[], number[], AttentionOptions][] = [
  ['causal 7x7', [2, 3, 7, 8], [2, 3, 7, 8], { causal: true }],
  ['causal, 6 cached keys (3 queries, 9 keys)', [2, 3, 3, 8], [2, 3, 9, 8], { causal: true }],
  ['causal, explicit offset 2 (3 queries, 9 keys)', [2, 3, 3, 8], [2, 3, 9, 8], { causal: true, causalOffset: 2 }],
  ['non-causal 5x9', [2, 3, 5, 8], [2, 3, 9, 8], {}],
  ['causal 70x70 (several query blocks and key tiles)', [1, 2, 70, 8], [1, 2, 70, 8], { causal: true }],
  ['one decoding step over 70 keys', [1, 2, 1, 8], [1, 2, 70, 8], { causal: true }],
  ['3-D inputs, head dim 32', [3, 20, 32], [3, 20, 32], { causal: true }],
];

test('attention: forward and dq, dk, dv against softmax(qkᵀ/√d + mask)v', { skip }, async () => {
  let seed = 1;
  for (const [label, qShape, kShape, options] of ATTENTION_CASES) {
    const q = normal(qShape, seed++);
    const k = normal(kShape, seed++);
    const v = normal(kShape, seed++);
    await check(`attention ${label}`, (a, b, c) => DEFAULT_OPS.attention(a, b, c, options), (a, b, c) => fused.attention(a, b, c, options), [q, k, v], 'lmpipe_attention');
  }
});

test('attention with an explicit mask takes the plain path (same result)', { skip }, async () => {
  await useWebGPU();
  const mask = tf.tensor2d([[1, 0, 0], [1, 1, 0], [1, 0, 1]], [3, 3], 'bool');
  const shape = fused.fusedAttentionShape(tf.zeros([1, 3, 4]), tf.zeros([1, 3, 4]), tf.zeros([1, 3, 4]), { mask });
  assert.equal(shape, null);
  const maskData = new Float32Array([1, 0, 0, 1, 1, 0, 1, 0, 1]);
  const withMask = (a: Tensor, b: Tensor, c: Tensor): Tensor => DEFAULT_OPS.attention(a, b, c, { mask: tf.cast(tf.tensor2d(maskData, [3, 3]), 'bool') });
  const inputs = [normal([2, 3, 4], 1), normal([2, 3, 4], 2), normal([2, 3, 4], 3)];
  await useCpu();
  const ref = await evaluate(withMask, inputs, 5);
  await useWebGPU();
  const got = await evaluate((a, b, c) => fused.attention(a, b, c, { mask: tf.cast(tf.tensor2d(maskData, [3, 3]), 'bool') }), inputs, 5);
  assert.equal(allclose(got.y, ref.y, 2e-5, 2e-5), null);
});

test('cross-entropy: loss and dlogits (small and large vocabularies, 1000x logits)', { skip }, async () => {
  const cases: [number[], number, number][] = [[[2, 5, 37], 1, 1], [[4, 300], 2, 1], [[3, 3000], 3, 1], [[6, 50], 4, 1000]];
  for (const [shape, seed, scale] of cases) {
    const V = shape[shape.length - 1];
    const targets = ints(shape.slice(0, -1), V, seed + 20);
    await check(`crossEntropy [${shape}] x${scale}`, DEFAULT_OPS.crossEntropy, fused.crossEntropy, [normal(shape, seed, scale), targets], 'lmpipe_cross_entropy', scale > 1 ? 1e-4 : 2e-5);
  }
});

test('fused AdamW update: 3 steps equal the trainer\'s AdamW on the cpu backend', { skip }, async () => {
  const shape = [37, 29];
  const p0 = normal(shape, 1).data as Float32Array;
  const grads = [normal(shape, 2).data, normal(shape, 3, 0.1).data, normal(shape, 4, 10).data] as Float32Array[];
  const lr = 3e-3;
  const [b1, b2, eps, wd] = [0.9, 0.95, 1e-8, 0.1];
  await useCpu();
  const pv = tf.variable(tf.tensor(p0, shape));
  const opt = new AdamW({ w: pv }, { lr, betas: [b1, b2], eps, weightDecay: wd });
  for (const g of grads) {
    const gt = tf.tensor(g, shape);
    opt.applyGradients({ w: gt }, lr);
    gt.dispose();
  }
  const ref = Float32Array.from(await pv.data());
  opt.dispose();
  pv.dispose();
  await useWebGPU();
  const before = wgslDispatchCount('lmpipe_adamw');
  let p = tf.tensor(p0, shape);
  let m = tf.zeros(shape);
  let v = tf.zeros(shape);
  for (let t = 1; t <= grads.length; t++) {
    const g = tf.tensor(grads[t - 1], shape);
    const r = adamwUpdate(p, g, m, v, { alpha: (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t), beta1: b1, beta2: b2, eps, decay: lr * wd });
    tf.dispose([p, g, m, v]);
    ({ param: p, m, v } = r);
  }
  assert.ok(wgslDispatchCount('lmpipe_adamw') > before, 'the fused AdamW kernel did not run');
  const got = await p.data();
  assert.ok(maxAbsDiff(got, ref) < 1e-6, `parameters differ by ${maxAbsDiff(got, ref)}`);
  tf.dispose([p, m, v]);
});

test('no WebGPU validation or WGSL compile errors', { skip }, async () => {
  await useWebGPU();
  assert.deepEqual(await gpuErrors(), []);
});
