/**
 * The seeded RNG: xoshiro128** known-answer vector, state round trips, and
 * distribution checks of the derived draws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng.ts';

test('xoshiro128** from state {1,2,3,4} gives the reference implementation outputs', () => {
  // Published vector of Blackman & Vigna's xoshiro128starstar.c (also rand_xoshiro's test).
  const r = Rng.fromState({ algorithm: 'xoshiro128**', s: [1, 2, 3, 4] });
  const got = Array.from({ length: 10 }, () => r.nextUint32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
});

test('same seed → same stream; different seeds differ; seeds above 2^32 use the high bits', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const d = new Rng(42 + 2 ** 32);
  const sa = Array.from({ length: 8 }, () => a.nextUint32());
  assert.deepEqual(Array.from({ length: 8 }, () => b.nextUint32()), sa);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.nextUint32()), sa);
  assert.notDeepEqual(Array.from({ length: 8 }, () => d.nextUint32()), sa);
  assert.throws(() => new Rng(-1), RangeError);
  assert.throws(() => new Rng(1.5), RangeError);
});

test('state() / fromState() / clone() continue the exact stream and survive JSON', () => {
  const r = new Rng(7);
  for (let i = 0; i < 13; i++) r.normal();
  const saved = JSON.parse(JSON.stringify(r.state()));
  const copy = r.clone();
  const next = Array.from({ length: 20 }, () => r.uniform());
  const resumed = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 20 }, () => resumed.uniform()), next);
  assert.deepEqual(Array.from({ length: 20 }, () => copy.uniform()), next);
  assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', s: [0, 0, 0, 0] }), /all-zero/);
  assert.throws(() => Rng.fromState({ algorithm: 'xoshiro128**', s: [1, 2, 3] as unknown as [number, number, number, number] }), /invalid RngState/);
});

test('uniform is in [0,1) with mean 1/2 and variance 1/12', () => {
  const r = new Rng(1);
  const n = 200_000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    assert.ok(u >= 0 && u < 1);
    s += u;
    s2 += u * u;
  }
  const mean = s / n;
  const variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(1 / 12 / n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 12) < 0.002, `variance ${variance}`);
});

test('intBelow is unbiased over a non-power-of-two range (chi-square)', () => {
  const r = new Rng(2);
  const k = 7;
  const n = 70_000;
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) counts[r.intBelow(k)]++;
  const e = n / k;
  const chi2 = counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
  assert.ok(chi2 < 30, `chi2 ${chi2} (df 6; p ≈ 4e-5 at 30)`);
  assert.throws(() => r.intBelow(0), RangeError);
});

test('normal has mean 0, variance 1 and the right tail mass; truncated normal respects its bounds', () => {
  const r = new Rng(3);
  const n = 200_000;
  let s = 0;
  let s2 = 0;
  let beyond2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
    if (Math.abs(z) > 2) beyond2++;
  }
  assert.ok(Math.abs(s / n) < 0.015, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.02, `variance ${s2 / n}`);
  assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.003, `P(|z|>2) ${beyond2 / n}`);
  const out = r.fillTruncatedNormal(new Float32Array(100_000), 0, 0.5, -1.5, 1.5);
  let m2 = 0;
  for (const v of out) { assert.ok(v >= -1.5 && v <= 1.5); m2 += v * v; }
  // Variance of N(0, σ²) truncated at ±3σ: σ²(1 − 2·3·φ(3)/(2Φ(3)−1)) ≈ 0.9733 σ².
  assert.ok(Math.abs(m2 / out.length - 0.9733 * 0.25) < 0.005, `truncated variance ${m2 / out.length}`);
});
