/**
 * Sampling functions against hand-computed distributions.
 * Logits ln(1/2, 1/4, 1/8, 1/8) make softmax = (1/2, 1/4, 1/8, 1/8), so every
 * truncation can be worked out by hand (shown per case).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng.ts';
import { argmax, drawFromDistribution, nextTokenDistribution, sampleNextToken } from '../src/train/sampling.ts';
import { allclose } from './train-helpers.ts';

const P = [1 / 2, 1 / 4, 1 / 8, 1 / 8];
const LOGITS = P.map((p) => Math.log(p) + 3); // a constant shift must not matter

function close(actual: ArrayLike<number>, expected: number[]): void {
  assert.equal(allclose(actual, expected, 1e-12, 1e-12), null, `${Array.from(actual)} vs ${expected}`);
}

test('temperature 1 is the softmax; temperature 2 flattens to p^(1/2) normalized; temperature 0 is greedy', () => {
  close(nextTokenDistribution(LOGITS), P);
  const s = P.map(Math.sqrt);
  const z = s.reduce((a, b) => a + b, 0);
  close(nextTokenDistribution(LOGITS, { temperature: 2 }), s.map((x) => x / z));
  // T = 1/2 sharpens to p² normalized: (1/4, 1/16, 1/64, 1/64) / (22/64).
  close(nextTokenDistribution(LOGITS, { temperature: 0.5 }), [16 / 22, 4 / 22, 1 / 22, 1 / 22]);
  close(nextTokenDistribution(LOGITS, { temperature: 0 }), [1, 0, 0, 0]);
  assert.equal(sampleNextToken([0.1, 5, -2, 4.9], { temperature: 0 }, new Rng(1)), 1);
  assert.equal(argmax([1, 3, 3, 2]), 1);
});

test('top-k keeps the k most likely tokens, renormalized', () => {
  close(nextTokenDistribution(LOGITS, { topK: 1 }), [1, 0, 0, 0]);
  close(nextTokenDistribution(LOGITS, { topK: 2 }), [2 / 3, 1 / 3, 0, 0]);
  // k = 3 with a tie at 1/8: the lower id (2) is kept: (1/2, 1/4, 1/8) / (7/8).
  close(nextTokenDistribution(LOGITS, { topK: 3 }), [4 / 7, 2 / 7, 1 / 7, 0]);
  close(nextTokenDistribution(LOGITS, { topK: 10 }), P);
});

test('top-p keeps the smallest most-likely prefix whose mass reaches p', () => {
  close(nextTokenDistribution(LOGITS, { topP: 0.5 }), [1, 0, 0, 0]); // 1/2 reaches 0.5
  close(nextTokenDistribution(LOGITS, { topP: 0.7 }), [2 / 3, 1 / 3, 0, 0]); // 1/2+1/4 = 0.75
  close(nextTokenDistribution(LOGITS, { topP: 0.8 }), [4 / 7, 2 / 7, 1 / 7, 0]); // 0.875
  close(nextTokenDistribution(LOGITS, { topP: 1 }), P);
  // top-k 3 first: (4/7, 2/7, 1/7); its nucleus at 0.6 is (4/7 + 2/7 ≥ 0.6) → (2/3, 1/3).
  close(nextTokenDistribution(LOGITS, { topK: 3, topP: 0.6 }), [2 / 3, 1 / 3, 0, 0]);
  // With temperature 2: q = √p / Σ√p ≈ (0.361, 0.255, 0.180, 0.180); p = 0.6 needs the top two.
  const s = P.map(Math.sqrt);
  close(nextTokenDistribution(LOGITS, { temperature: 2, topP: 0.6 }), [s[0] / (s[0] + s[1]), s[1] / (s[0] + s[1]), 0, 0]);
});

test('bad options are rejected', () => {
  assert.throws(() => nextTokenDistribution(LOGITS, { temperature: -1 }), /temperature/);
  assert.throws(() => nextTokenDistribution(LOGITS, { topP: 0 }), /top-p/);
  assert.throws(() => nextTokenDistribution(LOGITS, { topK: 1.5 }), /top-k/);
});

test('inverse-CDF draws follow the distribution (seeded, 40,000 draws within 5σ)', () => {
  assert.equal(drawFromDistribution([0, 0.5, 0, 0.5], 0), 1);
  assert.equal(drawFromDistribution([0, 0.5, 0, 0.5], 0.5), 3);
  assert.equal(drawFromDistribution([0.3, 0.3, 0.3, 0], 0.9999999), 2, 'rounding never lands on a zero-probability token');
  const rng = new Rng(2024);
  const n = 40_000;
  const expected = [4 / 7, 2 / 7, 1 / 7, 0];
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) counts[sampleNextToken(LOGITS, { topP: 0.8 }, rng)]++;
  assert.equal(counts[3], 0);
  for (let k = 0; k < 3; k++) {
    const sigma = Math.sqrt(n * expected[k] * (1 - expected[k]));
    assert.ok(Math.abs(counts[k] - n * expected[k]) < 5 * sigma, `token ${k}: ${counts[k]} vs ${n * expected[k]}`);
  }
});
