/**
 * The cpu replacement kernels give the stock tfjs kernels' results: every
 * case runs once with the stock kernels and once with the replacements.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { REPLACED_CPU_KERNELS, cpuKernelsInstalled, installCpuKernels, uninstallCpuKernels } from '../src/backends/cpu/kernels.ts';
import { Rng } from '../src/util/rng.ts';

await selectBackend('cpu');
after(() => installCpuKernels());

const rng = new Rng(20240601);
function rand(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal();
  return tf.tensor(d, shape, 'float32');
}
function randInt(shape: number[], below: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Int32Array.from({ length: n }, () => rng.intBelow(below)), shape, 'int32');
}

/** Runs f with the stock kernels and with the replacements; returns both results. */
async function both(f: () => Tensor): Promise<{ stock: { shape: number[]; data: ArrayLike<number> }; fast: { shape: number[]; data: ArrayLike<number> } }> {
  uninstallCpuKernels();
  assert.equal(cpuKernelsInstalled(), false);
  const s = f();
  const stock = { shape: s.shape, data: await s.data() };
  installCpuKernels();
  assert.equal(cpuKernelsInstalled(), true);
  const q = f();
  const fast = { shape: q.shape, data: await q.data() };
  s.dispose();
  q.dispose();
  return { stock, fast };
}

async function expectSame(f: () => Tensor, relTol = 0): Promise<void> {
  const { stock, fast } = await both(f);
  assert.deepEqual(fast.shape, stock.shape);
  assert.equal(fast.data.length, stock.data.length);
  for (let i = 0; i < stock.data.length; i++) {
    const e = stock.data[i];
    const a = fast.data[i];
    if (relTol === 0) {
      assert.ok(Object.is(a, e) || a === e, `element ${i}: ${a} != stock ${e}`);
    } else {
      assert.ok(Math.abs(a - e) <= relTol * (1 + Math.abs(e)), `element ${i}: ${a} vs stock ${e}`);
    }
  }
}

test('the module replaces the kernels it lists, and uninstall restores the stock ones', () => {
  installCpuKernels();
  const replaced = REPLACED_CPU_KERNELS.map((n) => tf.getKernel(n, 'cpu')?.kernelFunc);
  uninstallCpuKernels();
  const stock = REPLACED_CPU_KERNELS.map((n) => tf.getKernel(n, 'cpu')?.kernelFunc);
  REPLACED_CPU_KERNELS.forEach((n, i) => assert.notEqual(replaced[i], stock[i], n));
  installCpuKernels();
  installCpuKernels(); // idempotent
  REPLACED_CPU_KERNELS.forEach((n, i) => assert.equal(typeof tf.getKernel(n, 'cpu')?.kernelFunc, 'function', `${n} ${i}`));
});

test('UnsortedSegmentSum: scatter-add equals stock, including repeated ids and the embedding gradient', async () => {
  const x = rand([40, 6]);
  const ids = randInt([40], 9) as tf.Tensor1D; // 9 segments, repeats certain
  await expectSame(() => tf.unsortedSegmentSum(x, ids, 11));
  const xi = randInt([12, 3], 100);
  const idsI = randInt([12], 4) as tf.Tensor1D;
  await expectSame(() => tf.unsortedSegmentSum(xi, idsI, 4));
  // The gradient of an embedding lookup (gather) goes through UnsortedSegmentSum.
  const table = rand([13, 8]);
  const tok = randInt([3, 7], 13);
  const dy = rand([3, 7, 8]);
  await expectSame(() => tf.grad((t: Tensor) => tf.sum(tf.mul(tf.gather(t, tok), dy)))(table));
});

test('broadcasting Add/Sub/Multiply/RealDiv equal stock', async () => {
  const pairs: [number[], number[]][] = [
    [[2, 3, 4], [4]], [[2, 3, 4], [2, 3, 1]], [[2, 1, 4], [1, 3, 1]], [[], [3, 4]], [[5], [5]],
    [[2, 3, 4, 5], [3, 1, 5]], [[3, 1], [1, 4]], [[1], [2, 2]], [[6, 7, 8], [6, 7, 8]],
  ];
  for (const [sa, sb] of pairs) {
    const a = rand(sa);
    const b = tf.add(rand(sb), 3); // keep divisors away from 0
    await expectSame(() => tf.add(a, b));
    await expectSame(() => tf.sub(b, a));
    await expectSame(() => tf.mul(a, b));
    await expectSame(() => tf.div(a, b));
  }
  const ia = randInt([3, 4], 50);
  const ib = randInt([4], 50);
  await expectSame(() => tf.add(ia, ib)); // int32 falls back to stock
});

test('Transpose and Reverse equal stock', async () => {
  const x = rand([2, 3, 4, 5]);
  for (const perm of [[0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 3, 2], [0, 1, 2, 3]]) {
    await expectSame(() => tf.transpose(x, perm));
  }
  const xi = randInt([3, 1, 4], 9);
  await expectSame(() => tf.transpose(xi, [2, 0, 1]));
  for (const dims of [[-1], [0, 2], [1], [0, 1, 2, 3]]) await expectSame(() => tf.reverse(x, dims));
  await expectSame(() => tf.reverse(tf.reshape(x, [-1, 2]), -1));
});

test('Sum and Mean over any axes equal stock', async () => {
  const x = rand([3, 4, 5, 6]);
  for (const axes of [[0, 1], [1], [0, 2], [3], [1, 2, 3], [0, 3], [0, 1, 2, 3]]) {
    for (const keepDims of [false, true]) {
      await expectSame(() => tf.sum(x, axes, keepDims));
      await expectSame(() => tf.mean(x, axes, keepDims), 1e-6);
    }
  }
  await expectSame(() => tf.sum(x));
  const xi = randInt([4, 5], 10);
  await expectSame(() => tf.sum(xi, 0)); // int32 → stock
});

test('GatherV2 (any axis, batchDims 0 and 1) equals stock', async () => {
  const x = rand([6, 5, 4]);
  const i0 = randInt([3, 2], 6);
  const i1 = randInt([7], 5);
  const i2 = randInt([2], 4);
  await expectSame(() => tf.gather(x, i0, 0));
  await expectSame(() => tf.gather(x, i1, 1));
  await expectSame(() => tf.gather(x, i2, 2));
  const xi = randInt([5, 3], 100);
  const ii = randInt([4], 5);
  await expectSame(() => tf.gather(xi, ii, 0));
  const x2 = rand([6, 5]);
  const ib = randInt([6, 1], 5);
  await expectSame(() => tf.gather(x2, ib, 1, 1));
  installCpuKernels();
  assert.throws(() => tf.gather(x, tf.tensor1d([6], 'int32'), 0), /index value 6/);
});

test('BatchMatMul (transposes, batch broadcasting, odd sizes) equals stock to float32 rounding', async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 9], false, false],
    [[7, 5], [9, 5], false, true],
    [[5, 7], [5, 9], true, false],
    [[5, 7], [9, 5], true, true],
    [[3, 7, 13], [3, 13, 6], false, false],
    [[2, 3, 5, 8], [2, 3, 6, 8], false, true],
    [[4, 9, 16], [16, 3], false, false],
    [[1, 9, 16], [4, 16, 3], false, false],
    [[4, 1, 16], [4, 16, 1], false, false],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    const a = rand(sa);
    const b = rand(sb);
    await expectSame(() => tf.matMul(a, b, ta, tb), 1e-5);
  }
});
