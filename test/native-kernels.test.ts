/**
 * Every native kernel against the stock tfjs `cpu` kernel (the reference):
 * the same computation runs on `cpu` and on `native` from the same input
 * values, forward and gradient, including broadcasting, odd sizes and sizes
 * large enough to be split across threads. The kernels compiled per
 * instruction set run once per variant this CPU has (baseline, AVX2).
 * Tolerance: normwise relative error 1e-5 (float32).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { NATIVE_BACKEND } from '../src/backends/native/register.ts';
import type { Spec } from './native-helpers.ts';
import { compareBackends, gradsOf, isaTest, make, nativeSkip, randint, randn, randu, runOn } from './native-helpers.ts';

const skip = nativeSkip();

test('BatchMatMul: transposes, batch broadcasting, odd and thread-split sizes, gradients', { skip }, async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [3, 5], true, true],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [5, 3], true, false],
    [[8, 33, 17], [8, 17, 29], false, false],
    [[300, 200], [100, 200], false, true], // split along rows
    [[100, 200], [200, 301], false, false], // split along columns
    [[257, 130], [257, 190], true, false],
  ];
  for (const [as, bs, ta, tb] of cases) {
    const a = randn(as);
    const b = randn(bs);
    const label = `matMul ${as} x ${bs} ${ta} ${tb}`;
    const f = (x: Tensor, y: Tensor): Tensor => tf.matMul(x, y, ta, tb);
    await compareBackends(label, [a, b], f);
    const outShape = await runOn('cpu', [a, b], f);
    if (as.length !== bs.length || as.slice(0, -2).some((d, i) => d !== bs[i])) continue; // tfjs has no gradient for broadcast batches
    await compareBackends(`${label} grad`, [a, b], gradsOf(f, outShape.shapes[0], [0, 1]));
  }
  // Batch broadcasting: stock tfjs-cpu returns too few values here ([2,3,7,4] with
  // 84 values), so the reference is the product of explicitly broadcast operands.
  const a = randn([2, 1, 7, 5]);
  const b = randn([3, 5, 4]);
  await compareBackends('matMul broadcast batches', [a, b],
    (x, y) => tf.matMul(tf.broadcastTo(x, [2, 3, 7, 5]), tf.broadcastTo(y, [2, 3, 5, 4])), 1e-5,
    (x, y) => tf.matMul(x, y));
});

isaTest('_FusedMatMul: bias broadcast and activations', { skip }, async () => {
  for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
    const a = randn([9, 6]);
    const b = randn([6, 11]);
    const bias = randn([11]);
    const f = (x: Tensor, y: Tensor, z: Tensor): Tensor => tf.fused.matMul({ a: x, b: y, bias: z, activation, leakyreluAlpha: 0.1 });
    await compareBackends(`fused ${activation}`, [a, b, bias], f);
    await compareBackends(`fused ${activation} grad`, [a, b, bias], gradsOf(f, [9, 11], [0, 1, 2]));
  }
});

isaTest('binary ops with broadcasting, and their gradients', { skip }, async () => {
  const shapes: [number[], number[]][] = [
    [[3, 1, 5], [4, 1]],
    [[2, 3, 4], [4]],
    [[], [5, 6]],
    [[1], [7]],
    [[6, 1], [1, 9]],
    [[300, 257], [300, 257]],
    [[64, 1, 513], [64, 3, 1]],
  ];
  const ops: [string, (a: Tensor, b: Tensor) => Tensor, boolean][] = [
    ['add', tf.add, true], ['sub', tf.sub, true], ['mul', tf.mul, true], ['div', tf.div, true],
    ['maximum', tf.maximum, true], ['minimum', tf.minimum, true], ['pow', tf.pow, false],
    ['squaredDifference', tf.squaredDifference, true],
  ];
  for (const [as, bs] of shapes) {
    const a = randu(as, 0.2, 2);
    const b = randn(bs);
    for (const [name, op, grad] of ops) {
      const label = `${name} [${as}] [${bs}]`;
      await compareBackends(label, [a, b], op);
      // tfjs's Maximum/Minimum/SquaredDifference gradients do not reduce over broadcast dims.
      const sameShape = as.length === bs.length && as.every((d, i) => d === bs[i]);
      if (grad && (sameShape || !['maximum', 'minimum', 'squaredDifference'].includes(name))) {
        const out = (await runOn('cpu', [a, b], op)).shapes[0];
        await compareBackends(`${label} grad`, [a, b], gradsOf(op, out, [0, 1]));
      }
    }
  }
});

isaTest('comparison ops give identical booleans', { skip }, async () => {
  const a = randint([4, 1, 6], 3);
  const b = randint([5, 1], 3);
  const af: Spec = { ...a, dtype: 'float32', data: Float32Array.from(a.data) };
  const bf: Spec = { ...b, dtype: 'float32', data: Float32Array.from(b.data) };
  for (const op of [tf.equal, tf.notEqual, tf.less, tf.lessEqual, tf.greater, tf.greaterEqual]) {
    await compareBackends(op.name, [af, bf], (x, y) => tf.cast(op(x, y), 'float32'), 0);
  }
});

isaTest('unary ops, including extreme values and threaded sizes, and gradients', { skip }, async () => {
  const general = randn([3, 1001], 3);
  const positive = randu([3, 1001], 0.01, 20);
  const extreme: Spec = { shape: [12], dtype: 'float32', data: Float32Array.from([-200, -104, -88, -87.3, -20, -1e-8, 0, 1e-8, 20, 88.5, 89, 200]) };
  const big = randn([200_003], 4);
  const ops: [string, (x: Tensor) => Tensor, Spec][] = [
    ['exp', tf.exp, general], ['log', tf.log, positive], ['sqrt', tf.sqrt, positive], ['rsqrt', tf.rsqrt, positive],
    ['neg', tf.neg, general], ['sigmoid', tf.sigmoid, general], ['tanh', tf.tanh, general], ['square', tf.square, general],
    ['abs', tf.abs, general], ['relu', tf.relu, general], ['reciprocal', tf.reciprocal, positive], ['sin', tf.sin, general],
    ['cos', tf.cos, general], ['log1p', tf.log1p, positive], ['softplus', tf.softplus, general], ['elu', tf.elu, general],
    ['relu6', tf.relu6, general], ['expm1', tf.expm1, general], ['leakyRelu', (x) => tf.leakyRelu(x, 0.15), general],
    ['step', (x) => tf.step(x, 0.3), general],
    ['exp extreme', tf.exp, extreme], ['sigmoid extreme', tf.sigmoid, extreme], ['softplus extreme', tf.softplus, extreme],
    ['exp big', tf.exp, big], ['sigmoid big', tf.sigmoid, big],
  ];
  for (const [name, op, x] of ops) {
    await compareBackends(name, [x], op);
    if (!name.includes('extreme') && name !== 'step') await compareBackends(`${name} grad`, [x], gradsOf(op, x.shape, [0]));
  }
  // tfjs's erf is the Abramowitz–Stegun approximation (|error| <= 1.5e-7); the native one is libm's erff.
  await compareBackends('erf', [general], tf.erf, 2e-7);
});

isaTest('reductions over every axis pattern, keepDims, NaN, long rows', { skip }, async () => {
  const x = randn([3, 4, 5, 6]);
  const axesList: (number | number[] | undefined)[] = [0, 1, 3, -1, [0, 1], [1, 2], [0, 2], [1, 3], [0, 1, 2, 3], undefined];
  for (const axes of axesList) {
    for (const keep of [false, true]) {
      for (const [name, op] of [['sum', tf.sum], ['mean', tf.mean], ['max', tf.max], ['min', tf.min]] as const) {
        await compareBackends(`${name} axes ${String(axes)} keep ${keep}`, [x], (t) => op(t, axes, keep));
      }
    }
  }
  const long = randn([1, 300_001]);
  const wide = randn([4100, 3, 130]);
  for (const [name, op] of [['sum', tf.sum], ['mean', tf.mean], ['max', tf.max], ['min', tf.min]] as const) {
    await compareBackends(`${name} long row`, [long], (t) => op(t, 1));
    await compareBackends(`${name} column sums`, [wide], (t) => op(t, 0));
    await compareBackends(`${name} middle`, [wide], (t) => op(t, 1));
  }
  const withNaN: Spec = { shape: [2, 3], dtype: 'float32', data: Float32Array.from([1, NaN, 3, 4, 5, 6]) };
  await compareBackends('max NaN', [withNaN], (t) => tf.max(t, 1), 0);
  await compareBackends('min NaN', [withNaN], (t) => tf.min(t, 1), 0);
  await compareBackends('sum grad', [x], gradsOf((t) => tf.sum(t, [0, 2]), [4, 6], [0]));
  await compareBackends('mean grad', [x], gradsOf((t) => tf.mean(t, -1), [3, 4, 5], [0]));
  await compareBackends('max grad', [x], gradsOf((t) => tf.max(t, 1), [3, 5, 6], [0]));
});

isaTest('softmax and logSoftmax, forward and gradient', { skip }, async () => {
  for (const shape of [[4, 9], [2, 3, 300], [1, 10_000]]) {
    const x = randn(shape, 4);
    await compareBackends(`softmax ${shape}`, [x], (t) => tf.softmax(t));
    await compareBackends(`softmax ${shape} grad`, [x], gradsOf((t) => tf.softmax(t), shape, [0]));
    await compareBackends(`logSoftmax ${shape} grad`, [x], gradsOf((t) => tf.logSoftmax(t), shape, [0]));
  }
});

test('transpose of float, int and bool tensors', { skip }, async () => {
  const x = randn([2, 3, 4, 5]);
  const ints = randint([3, 4, 5], 100);
  for (const perm of [[0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 3, 2], [2, 3, 0, 1]]) {
    await compareBackends(`transpose ${perm}`, [x], (t) => tf.transpose(t, perm), 0);
  }
  await compareBackends('transpose grad', [x], gradsOf((t) => tf.transpose(t, [0, 2, 3, 1]), [2, 4, 5, 3], [0]));
  await compareBackends('transpose int32', [ints], (t) => tf.cast(tf.transpose(t, [2, 0, 1]), 'float32'), 0);
  await compareBackends('transpose bool', [ints], (t) => tf.cast(tf.transpose(tf.greater(t, 50), [1, 2, 0]), 'float32'), 0);
  const big = randn([16, 256, 8, 32]);
  await compareBackends('transpose heads', [big], (t) => tf.transpose(t, [0, 2, 1, 3]), 0);
});

test('gather (any axis, nd indices), its gradient and unsortedSegmentSum', { skip }, async () => {
  const x = randn([10, 6, 3]);
  const idx = randint([7], 10);
  const idx2 = randint([2, 4], 6);
  await compareBackends('gather axis 0', [x, idx], (t, i) => tf.gather(t, i), 0);
  await compareBackends('gather axis 1 nd', [x, idx2], (t, i) => tf.gather(t, i, 1), 0);
  await compareBackends('gather int32', [randint([10, 4], 50), idx], (t, i) => tf.cast(tf.gather(t, i), 'float32'), 0);
  await compareBackends('gather grad', [x, idx], gradsOf((t, i) => tf.gather(t, i), [7, 6, 3], [0]));
  const emb = randn([50, 16]);
  const ids = randint([4, 9], 50);
  await compareBackends('embedding grad', [emb, ids], gradsOf((t, i) => tf.gather(t, tf.reshape(i, [-1])), [36, 16], [0]));
  const data = randn([12, 5]);
  const seg: Spec = { shape: [12], dtype: 'int32', data: Int32Array.from([0, 3, 3, 1, 0, 7, 3, 2, 2, 0, 6, 1]) };
  await compareBackends('unsortedSegmentSum', [data, seg], (t, s) => tf.unsortedSegmentSum(t, s as tf.Tensor1D, 8));
  // An index outside the table fails on both backends.
  for (const backend of ['cpu', NATIVE_BACKEND]) {
    await tf.setBackend(backend);
    const t = make(x);
    const bad = tf.tensor1d([1, 10], 'int32');
    assert.throws(() => tf.gather(t, bad), /index value 10 is not in \[0, 9\]/, backend);
    tf.dispose([t, bad]);
  }
});

test('slice and concat, forward and gradient', { skip }, async () => {
  const x = randn([4, 5, 6]);
  const y = randn([4, 2, 6]);
  await compareBackends('slice', [x], (t) => tf.slice(t, [1, 0, 2], [2, -1, 3]), 0);
  await compareBackends('slice rows', [x], (t) => tf.slice(t, [1, 0, 0], [2, 5, 6]), 0);
  await compareBackends('slice int', [randint([5, 7], 9)], (t) => tf.cast(tf.slice(t, [1, 2], [3, 4]), 'float32'), 0);
  await compareBackends('slice grad', [x], gradsOf((t) => tf.slice(t, [1, 1, 1], [2, 3, 4]), [2, 3, 4], [0]));
  await compareBackends('concat axis 1', [x, y], (a, b) => tf.concat([a, b, a], 1), 0);
  await compareBackends('concat axis 0', [x, x], (a, b) => tf.concat([a, b], 0), 0);
  await compareBackends('concat axis 2', [x, x], (a, b) => tf.concat([a, b], -1), 0);
  await compareBackends('concat grad', [x, y], gradsOf((a, b) => tf.concat([a, b], 1), [4, 7, 6], [0, 1]));
});

test('kernels defer to stock for other dtypes (int32 arithmetic)', { skip }, async () => {
  const a = randint([3, 4], 20);
  const b = randint([4], 20);
  await compareBackends('int add', [a, b], (x, y) => tf.cast(tf.add(x, y), 'float32'), 0);
  await compareBackends('int sum', [a], (x) => tf.cast(tf.sum(x, 1), 'float32'), 0);
  await compareBackends('int matmul', [a, a], (x, y) => tf.cast(tf.matMul(x, y, false, true), 'float32'), 0);
});
