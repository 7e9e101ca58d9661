/**
 * Every fused op (src/backends/native/fused.ts, on the native backend) against the
 * model's plain-op version (src/model/ops.ts DEFAULT_OPS, on the stock cpu
 * backend), forward and gradient; and the one-pass AdamW update against
 * src/train/adamw.ts. Each runs once per kernel variant this CPU has
 * (baseline, AVX2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { DEFAULT_OPS, ops } from '../src/model/ops.ts';
import { RopeTables } from '../src/model/rope.ts';
import { AdamW } from '../src/train/adamw.ts';
import { NATIVE_BACKEND } from '../src/backends/native/register.ts';
import { adamwUpdate, attention, crossEntropy, gelu, installNativeOps, rmsNorm, rope, silu, softmax, swiglu } from '../src/backends/native/fused.ts';
import type { Spec } from './native-helpers.ts';
import { assertClose, compareBackends, isaTest, make, nativeSkip, randint, randn, runOn } from './native-helpers.ts';

const skip = nativeSkip();

/** Cotangent shared by the plain and fused gradient runs of one check. */
let lastDy: Spec | null = null;

/** Gradients of sum(f(xs) ⊙ lastDy) with respect to the inputs at `floatInputs`. */
function sharedGrads(f: (...xs: Tensor[]) => Tensor, floatInputs: number[]): (...xs: Tensor[]) => Tensor[] {
  return (...xs: Tensor[]) => {
    const dy = lastDy;
    assert.ok(dy, 'cotangent not set');
    const g = tf.grads((...vs: Tensor[]) => {
      const all = xs.slice();
      floatInputs.forEach((idx, j) => { all[idx] = vs[j]; });
      return tf.sum(tf.mul(f(...all), make(dy)));
    });
    return g(floatInputs.map((i) => xs[i]));
  };
}

/** Forward and gradient comparison with one shared random cotangent. */
async function checkOp(label: string, inputs: Spec[], plain: (...xs: Tensor[]) => Tensor, fused: (...xs: Tensor[]) => Tensor, floatInputs: number[], tol = 1e-5): Promise<void> {
  await compareBackends(label, inputs, plain, tol, fused);
  const outShape = (await runOn('cpu', inputs, plain)).shapes[0];
  lastDy = randn(outShape);
  await compareBackends(`${label} grad`, inputs, sharedGrads(plain, floatInputs), tol, sharedGrads(fused, floatInputs));
}

isaTest('rmsNorm: fused vs plain, forward and gradient (x and w)', { skip }, async () => {
  for (const shape of [[2, 5, 16], [3, 7], [64, 256]]) {
    const d = shape[shape.length - 1];
    await checkOp(`rmsNorm ${shape}`, [randn(shape, 2), randn([d])],
      (x, w) => DEFAULT_OPS.rmsNorm(x, w, 1e-5), (x, w) => rmsNorm(x, w, 1e-5), [0, 1]);
  }
});

isaTest('rope: fused vs plain on (B, H, T, d) with real tables, forward and gradient', { skip }, async () => {
  for (const [b, h, t, d, offset] of [[2, 3, 6, 8, 0], [1, 2, 5, 16, 3], [4, 4, 64, 32, 0]]) {
    const tables = new RopeTables(d, 10000, 80);
    const rows = tables.rows(offset, t);
    const cos: Spec = { shape: [t, d], dtype: 'float32', data: Float32Array.from(rows.cos.dataSync()) };
    const sin: Spec = { shape: [t, d], dtype: 'float32', data: Float32Array.from(rows.sin.dataSync()) };
    tf.dispose([rows.cos, rows.sin]);
    tables.dispose();
    await checkOp(`rope ${[b, h, t, d]}`, [randn([b, h, t, d]), cos, sin],
      (x, c, s) => DEFAULT_OPS.rope(x, c, s), (x, c, s) => rope(x, c, s), [0]);
  }
});

isaTest('attention: causal (with and without offset), non-causal, several tiles; gradients of q, k, v', { skip }, async () => {
  const cases: { q: number[]; k: number[]; dv?: number; causal: boolean; offset?: number }[] = [
    { q: [2, 3, 7, 8], k: [2, 3, 7, 8], causal: true },
    { q: [2, 3, 3, 8], k: [2, 3, 7, 8], causal: true },
    { q: [1, 2, 4, 8], k: [1, 2, 9, 8], causal: true, offset: 2 },
    { q: [2, 2, 5, 4], k: [2, 2, 6, 4], dv: 6, causal: false },
    { q: [1, 2, 150, 16], k: [1, 2, 150, 16], causal: true },
    { q: [3, 70, 12], k: [3, 70, 12], causal: true },
  ];
  for (const c of cases) {
    const vShape = [...c.k.slice(0, -1), c.dv ?? c.k[c.k.length - 1]];
    const opt = { causal: c.causal, causalOffset: c.offset };
    await checkOp(`attention q ${c.q} k ${c.k} causal ${c.causal} offset ${c.offset}`, [randn(c.q), randn(c.k), randn(vShape)],
      (q, k, v) => DEFAULT_OPS.attention(q, k, v, opt), (q, k, v) => attention(q, k, v, opt), [0, 1, 2]);
  }
});

isaTest('crossEntropy: fused vs plain over (B, T, V) logits', { skip }, async () => {
  for (const [b, t, v] of [[2, 5, 11], [3, 4, 1000]]) {
    await checkOp(`crossEntropy ${[b, t, v]}`, [randn([b, t, v], 3), randint([b, t], v)],
      (x, y) => DEFAULT_OPS.crossEntropy(x, y), (x, y) => crossEntropy(x, y), [0]);
  }
  // A target outside the vocabulary is an error on both paths.
  await tf.setBackend(NATIVE_BACKEND);
  const logits = tf.zeros([2, 4]);
  const bad = tf.tensor1d([1, 4], 'int32');
  assert.throws(() => crossEntropy(logits, bad), /target 4 at position 1 is outside the vocabulary \[0, 4\)/);
  tf.dispose([logits, bad]);
});

isaTest('silu, gelu, swiglu and softmax: fused vs plain', { skip }, async () => {
  const x = randn([4, 33], 3);
  await checkOp('silu', [x], (t) => DEFAULT_OPS.silu(t), (t) => silu(t), [0]);
  await checkOp('gelu', [x], (t) => DEFAULT_OPS.gelu(t), (t) => gelu(t), [0]);
  await checkOp('swiglu', [x, randn([4, 33])], (a, b) => tf.mul(DEFAULT_OPS.silu(a), b), (a, b) => swiglu(a, b), [0, 1]);
  await checkOp('softmax', [randn([3, 5, 17], 3)], (t) => DEFAULT_OPS.softmax(t, -1), (t) => softmax(t, -1), [0]);
});

test('fused ops fall back to the plain versions off the native backend', { skip }, async () => {
  const inputs = [randn([2, 3, 4, 8]), randn([2, 3, 4, 8]), randn([2, 3, 4, 8])];
  const plain = await runOn('cpu', inputs, (q, k, v) => DEFAULT_OPS.attention(q, k, v, { causal: true }));
  const fusedOnCpu = await runOn('cpu', inputs, (q, k, v) => attention(q, k, v, { causal: true }));
  assertClose(fusedOnCpu, plain, 0, 'attention on cpu');
  // An explicit mask is outside the fused kernel: the plain path takes it, on native too.
  const maskSpec: Spec = { shape: [4, 4], dtype: 'bool', data: Uint8Array.from([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]) };
  await compareBackends('attention mask', [...inputs, maskSpec],
    (q, k, v, m) => DEFAULT_OPS.attention(q, k, v, { mask: m }), 1e-5, (q, k, v, m) => attention(q, k, v, { mask: m }));
});

test('installNativeOps swaps the model table and restores it', { skip }, () => {
  const before = ops.rmsNorm;
  const restore = installNativeOps();
  assert.equal(ops.rmsNorm, rmsNorm);
  assert.equal(ops.attention, attention);
  restore();
  assert.equal(ops.rmsNorm, before);
});

isaTest('adamwUpdate matches src/train/adamw.ts over three steps', { skip }, async () => {
  const p0 = randn([5, 7]);
  const grads = [randn([5, 7]), randn([5, 7]), randn([5, 7])];
  const opts = { lr: 0.01, betas: [0.9, 0.95] as [number, number], eps: 1e-8, weightDecay: 0.1 };
  await tf.setBackend('cpu');
  const ref = tf.variable(make(p0));
  const opt = new AdamW({ w: ref }, opts);
  for (const g of grads) {
    const gt = make(g);
    opt.applyGradients({ w: gt });
    gt.dispose();
  }
  const expected = Float32Array.from(ref.dataSync());
  opt.dispose();
  ref.dispose();
  await tf.setBackend(NATIVE_BACKEND);
  let p = make(p0);
  let m = tf.zerosLike(p);
  let v = tf.zerosLike(p);
  grads.forEach((g, i) => {
    const t = i + 1;
    const gt = make(g);
    const r = adamwUpdate(p, gt, m, v, {
      alpha: (opts.lr * Math.sqrt(1 - opts.betas[1] ** t)) / (1 - opts.betas[0] ** t),
      beta1: opts.betas[0], beta2: opts.betas[1], eps: opts.eps, decay: opts.lr * opts.weightDecay,
    });
    tf.dispose([p, m, v, gt]);
    ({ param: p, m, v } = r);
  });
  assertClose({ shapes: [p.shape], values: [Float32Array.from(p.dataSync())] }, { shapes: [[5, 7]], values: [expected] }, 1e-6, 'adamw');
  tf.dispose([p, m, v]);
});
