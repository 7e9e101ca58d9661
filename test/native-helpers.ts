/**
 * Helpers for the native-backend tests: registering the backend (tests skip
 * when the addon is not built, and fail when CI=true), running a test once
 * per kernel variant the CPU runs (`isaTest`), running one computation on
 * the stock `cpu` backend and on `native` from the same input values, and a
 * normwise relative error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { tryLoadNative } from '../src/backends/native/addon.ts';
import type { NativeIsa } from '../src/backends/native/addon.ts';
import { NATIVE_BACKEND, registerNativeBackend } from '../src/backends/native/register.ts';
import { Rng } from '../src/util/rng.ts';

/** `skip` option for node:test: a reason when the addon is missing (outside CI), else false. */
export function nativeSkip(): string | false {
  if (tryLoadNative()) {
    registerNativeBackend();
    return false;
  }
  if (process.env.CI === 'true') {
    throw new Error('native addon is not built; CI must run `npm run build:native` before the tests');
  }
  return 'native addon not built (npm run build:native)';
}

/** The kernel variants (instruction sets) this CPU runs, baseline first; none without the addon. */
export function nativeIsas(): NativeIsa[] {
  return tryLoadNative()?.isas() ?? [];
}

/**
 * Registers `name` once per kernel variant this CPU runs (`name [baseline]`,
 * `name [avx2]`), each run with that variant active, so that every path of
 * the native ISA dispatch is tested; the default variant is restored after.
 */
export function isaTest(name: string, options: { skip: string | false }, fn: () => Promise<void>): void {
  const addon = tryLoadNative();
  if (!addon) {
    test(name, options, fn);
    return;
  }
  const isas = addon.isas();
  const best = isas[isas.length - 1];
  for (const isa of isas) {
    test(`${name} [${isa}]`, options, async () => {
      addon.setIsa(isa);
      try {
        await fn();
      } finally {
        addon.setIsa(best);
      }
    });
  }
}

/** A value-level description of a tensor, so it can be recreated on any backend. */
export interface Spec {
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  data: Float32Array | Int32Array | Uint8Array;
}

const rng = new Rng(5_2024);

/** Normal(0, scale) float32 values. */
export function randn(shape: number[], scale = 1): Spec {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * scale;
  return { shape, dtype: 'float32', data };
}

/** Uniform [lo, hi) float32 values. */
export function randu(shape: number[], lo: number, hi: number): Spec {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rng.uniform();
  return { shape, dtype: 'float32', data };
}

/** Integers in [0, below). */
export function randint(shape: number[], below: number): Spec {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.intBelow(below);
  return { shape, dtype: 'int32', data };
}

/** Materializes a spec as a tensor on the active backend. */
export function make(s: Spec): Tensor {
  return tf.tensor(s.data.slice(), s.shape, s.dtype);
}

/** Plain results of a computation: shapes and values of each output tensor. */
export interface Result {
  shapes: number[][];
  values: Float32Array[];
}

/**
 * Runs `f` on the given backend with fresh tensors made from `inputs`;
 * returns every output's shape and values (as float32).
 */
export async function runOn(backend: string, inputs: Spec[], f: (...xs: Tensor[]) => Tensor | Tensor[]): Promise<Result> {
  assert.ok(await tf.setBackend(backend), `backend ${backend} did not initialize`);
  const xs = inputs.map(make);
  const out = tf.tidy(() => {
    const r = f(...xs);
    return Array.isArray(r) ? r : [r];
  });
  const result: Result = { shapes: out.map((t) => t.shape.slice()), values: out.map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>)) };
  tf.dispose([...xs, ...out]);
  return result;
}

/**
 * Normwise relative error max|a−b| / max|b| (elements equal as values,
 * including ±Infinity and NaN in the same place, count as exact).
 */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'result sizes differ');
  let scale = 0;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    if (!Number.isFinite(a) || !Number.isFinite(e)) return Infinity;
    err = Math.max(err, Math.abs(a - e));
  }
  return scale === 0 ? err : err / scale;
}

/** Asserts two results agree in shapes and within `tol` normwise relative error per output. */
export function assertClose(actual: Result, expected: Result, tol: number, label: string): void {
  assert.deepEqual(actual.shapes, expected.shapes, `${label}: shapes differ`);
  for (let i = 0; i < expected.values.length; i++) {
    assert.equal(actual.values[i].length, expected.values[i].length, `${label}: output ${i} sizes differ`);
    const e = relError(actual.values[i], expected.values[i]);
    assert.ok(e <= tol, `${label}: output ${i} relative error ${e} > ${tol}`);
  }
}

/** Runs `f` on stock cpu and on native (optionally a different function there) and compares. */
export async function compareBackends(
  label: string,
  inputs: Spec[],
  f: (...xs: Tensor[]) => Tensor | Tensor[],
  tol = 1e-5,
  nativeF: (...xs: Tensor[]) => Tensor | Tensor[] = f,
): Promise<void> {
  const expected = await runOn('cpu', inputs, f);
  const actual = await runOn(NATIVE_BACKEND, inputs, nativeF);
  assertClose(actual, expected, tol, label);
}

/**
 * Gradients of sum(f(xs) ⊙ dy) with respect to every float input (dy a
 * fixed random cotangent), as a function usable with compareBackends.
 */
export function gradsOf(f: (...xs: Tensor[]) => Tensor, dyShape: number[], floatInputs: number[]): (...xs: Tensor[]) => Tensor[] {
  const dy = randn(dyShape);
  return (...xs: Tensor[]) => {
    const g = tf.grads((...vs: Tensor[]) => {
      const all = xs.slice();
      floatInputs.forEach((idx, j) => { all[idx] = vs[j]; });
      return tf.sum(tf.mul(f(...all), make(dy)));
    });
    return g(floatInputs.map((i) => xs[i]));
  };
}
