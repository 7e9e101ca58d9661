/**
 * The RoPE/SwiGLU model (no full upstream fixture exists) and every
 * architecture switch against the float64 reference in model-reference.ts,
 * plus the MANIFEST §3 properties: causality, RoPE norm preservation,
 * identity at position 0, relative-position scores; and the KV cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { multiHeadSelfAttention } from '../src/model/attention.ts';
import { transformerBlock } from '../src/model/block.ts';
import { feedForward } from '../src/model/ffn.ts';
import { disposeCache } from '../src/model/model.ts';
import type { KVCache } from '../src/model/model.ts';
import type { ModelConfigInput } from '../src/model/config.ts';
import { RopeTables, applyRope } from '../src/model/rope.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { allclose, maxAbsDiff } from './model-fixtures.ts';
import { idsTensor, modelFrom, randomIds, randomParams, randomTensor, tinyConfig, toRef, toTensors } from './model-helpers.ts';
import { block64, ffn64, lm64, mha64, rope64 } from './model-reference.ts';

await selectBackend('cpu');

const ATOL = 2e-5;
const RTOL = 1e-4;

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = ATOL, rtol = RTOL): void {
  const err = allclose(actual, expected, atol, rtol);
  assert.equal(err, null, err ?? '');
}

test('SwiGLU feed-forward matches the float64 reference', async () => {
  const [T, D, F] = [7, 16, 48];
  const x = randomTensor([1, T, D], 1);
  const w1 = randomTensor([F, D], 2, 0.3);
  const w2 = randomTensor([D, F], 3, 0.3);
  const w3 = randomTensor([F, D], 4, 0.3);
  const y = feedForward(x.t, { w1: w1.t, w2: w2.t, w3: w3.t }, 'swiglu');
  const ref = ffn64(Float64Array.from(x.data), T, D, F, 'swiglu', { w1: w1.data, w2: w2.data, w3: w3.data });
  assertClose(await y.data(), ref);
});

test('causal MHA with RoPE matches the float64 reference (θ = 10000 and θ = 50)', async () => {
  const [T, D, H] = [9, 32, 4];
  const x = randomTensor([1, T, D], 5);
  const w = ['q', 'k', 'v', 'o'].map((_, i) => randomTensor([D, D], 10 + i, 0.25));
  for (const theta of [10000, 50]) {
    const rope = new RopeTables(D / H, theta, 16);
    const { out } = multiHeadSelfAttention(x.t, { q: w[0].t, k: w[1].t, v: w[2].t, output: w[3].t }, { numHeads: H, rope });
    const positions = Array.from({ length: T }, (_, i) => i);
    const ref = mha64(Float64Array.from(x.data), T, D, H, { q: w[0].data, k: w[1].data, v: w[2].data, o: w[3].data }, { theta, positions });
    assertClose(await out.data(), ref);
    rope.dispose();
  }
});

test('pre-norm RoPE/SwiGLU block matches the float64 reference', async () => {
  const config = tinyConfig();
  const values = randomParams(config, 21);
  const x = randomTensor([2, 6, config.d_model], 22);
  const rope = new RopeTables(config.d_model / config.num_heads, config.rope_theta, config.context_length);
  const { out } = transformerBlock(x.t, 1, { config, params: toTensors(values), rope, positionOffset: 0, dropoutSeed: null });
  const got = await out.data();
  const ref = toRef(values);
  const positions = [0, 1, 2, 3, 4, 5];
  for (let b = 0; b < 2; b++) {
    const xb = Float64Array.from(x.data.subarray(b * 6 * 16, (b + 1) * 6 * 16));
    assertClose(got.subarray(b * 96, (b + 1) * 96), block64(config, ref, 1, xb, 6, positions));
  }
  rope.dispose();
});

const SWITCHES: [string, Partial<ModelConfigInput>][] = [
  ['default (rope, swiglu, pre-norm, untied)', {}],
  ['position learned', { position: 'learned' }],
  ['position none (NoPE)', { position: 'none' }],
  ['ffn gelu', { ffn: 'gelu' }],
  ['ffn silu (ungated)', { ffn: 'silu' }],
  ['norm post', { norm: 'post' }],
  ['norm none', { norm: 'none' }],
  ['parallel (pre)', { parallel: true }],
  ['parallel + post', { parallel: true, norm: 'post' }],
  ['parallel + no norm', { parallel: true, norm: 'none' }],
  ['tied embeddings', { tie_embeddings: true }],
  ['rope θ = 100, 3 layers, 4 heads', { rope_theta: 100, num_layers: 3, num_heads: 4 }],
  ['learned + gelu + tied (2024-style)', { position: 'learned', ffn: 'gelu', tie_embeddings: true }],
];

for (const [label, over] of SWITCHES) {
  test(`LM logits match the float64 reference: ${label}`, async () => {
    const config = tinyConfig(over);
    const { model, ref } = modelFrom(config, 100 + label.length);
    const ids = randomIds(3, config.context_length, config.vocab_size, 7);
    const logits = model.forward(idsTensor(ids));
    assert.deepEqual(logits.shape, [3, config.context_length, config.vocab_size]);
    assertClose(await logits.data(), lm64(config, ref, ids));
    logits.dispose();
    model.dispose();
  });
}

test('the parameter set follows the switches (names the checkpoint uses)', () => {
  const names = (over: Partial<ModelConfigInput>): string[] => Object.keys(modelFrom(tinyConfig(over), 1).model.params);
  const base = names({});
  assert.ok(base.includes('layers.1.ffn.w3.weight') && base.includes('lm_head.weight') && base.includes('ln_final.weight'));
  assert.ok(!base.includes('position_embeddings.weight'));
  assert.ok(names({ position: 'learned' }).includes('position_embeddings.weight'));
  assert.ok(!names({ ffn: 'gelu' }).some((n) => n.includes('w3')));
  assert.ok(!names({ tie_embeddings: true }).includes('lm_head.weight'));
  assert.ok(!names({ norm: 'none' }).some((n) => n.includes('ln')));
  assert.ok(!names({ parallel: true }).some((n) => n.includes('ln2')));
  assert.ok(!names({ norm: 'post' }).includes('ln_final.weight'));
});

test('causality: logits at t do not change when later tokens change', async () => {
  for (const over of [{}, { position: 'learned' as const }, { parallel: true, norm: 'post' as const }]) {
    const config = tinyConfig(over);
    const { model } = modelFrom(config, 3);
    const a = randomIds(2, config.context_length, config.vocab_size, 11);
    const b = a.map((row) => row.map((v, i) => (i > 4 ? (v + 5) % config.vocab_size : v)));
    const la = await model.forward(idsTensor(a)).data();
    const lb = await model.forward(idsTensor(b)).data();
    const V = config.vocab_size;
    const T = config.context_length;
    for (let r = 0; r < 2; r++) {
      for (let t = 0; t < T; t++) {
        const sa = la.subarray((r * T + t) * V, (r * T + t + 1) * V);
        const sb = lb.subarray((r * T + t) * V, (r * T + t + 1) * V);
        if (t <= 4) assert.ok(maxAbsDiff(sa, sb) <= 1e-6, `position ${t} changed`);
        else assert.ok(maxAbsDiff(sa, sb) > 1e-4, `position ${t} should see the change`);
      }
    }
    model.dispose();
  }
});

test('RoPE keeps each pair norm, is the identity at position 0, and matches the reference at any positions', async () => {
  const d = 8;
  const T = 10;
  const tables = new RopeTables(d, 10000, 32);
  const x = randomTensor([T, d], 31);
  const positions = [0, 3, 7, 31, 1, 2, 30, 5, 0, 17];
  const y = await applyRope(x.t, tables, tf.tensor1d(positions, 'int32')).data();
  assertClose(y, rope64(Float64Array.from(x.data), T, d, positions, 10000), 1e-6, 1e-5);
  for (let p = 0; p < T; p++) {
    for (let i = 0; i < d / 2; i++) {
      const n0 = Math.hypot(x.data[p * d + 2 * i], x.data[p * d + 2 * i + 1]);
      const n1 = Math.hypot(y[p * d + 2 * i], y[p * d + 2 * i + 1]);
      assert.ok(Math.abs(n0 - n1) <= 1e-5 * (1 + n0), `pair norm at ${p},${i}`);
      if (positions[p] === 0) {
        assert.ok(Math.abs(y[p * d + 2 * i] - x.data[p * d + 2 * i]) <= 1e-7 && Math.abs(y[p * d + 2 * i + 1] - x.data[p * d + 2 * i + 1]) <= 1e-7);
      }
    }
  }
  assert.throws(() => applyRope(x.t, tables, 30), RangeError); // 30 + 10 > 32
  tables.dispose();
});

test('RoPE scores q_m·k_n depend only on m − n', async () => {
  const d = 16;
  const tables = new RopeTables(d, 10000, 64);
  const q = randomTensor([1, d], 41);
  const k = randomTensor([1, d], 42);
  const score = async (m: number, n: number): Promise<number> => {
    const qm = applyRope(q.t, tables, m);
    const kn = applyRope(k.t, tables, n);
    return (await tf.sum(tf.mul(qm, kn)).data())[0];
  };
  for (const delta of [0, 3, 11]) {
    const ref = await score(delta, 0);
    for (const n of [1, 5, 40]) assert.ok(Math.abs((await score(n + delta, n)) - ref) <= 1e-4 * (1 + Math.abs(ref)), `delta ${delta}, n ${n}`);
  }
  assert.ok(Math.abs((await score(7, 0)) - (await score(0, 0))) > 1e-3, 'scores must depend on the offset');
  tables.dispose();
});

test('KV cache: incremental decoding gives the full-sequence logits (rope, learned, none)', async () => {
  for (const position of ['rope', 'learned', 'none'] as const) {
    const config = tinyConfig({ position });
    const { model } = modelFrom(config, 55);
    const ids = randomIds(2, config.context_length, config.vocab_size, 56);
    const full = await model.forward(idsTensor(ids)).data();
    const V = config.vocab_size;
    const T = config.context_length;
    const chunks = [[0, 5], [5, 6], [6, 7], [7, 10], [10, 12]];
    let cache: KVCache | null = null;
    for (const [s, e] of chunks) {
      const step = model.forwardWithCache(idsTensor(ids.map((r) => r.slice(s, e))), cache);
      disposeCache(cache);
      cache = step.cache;
      assert.equal(cache.length, e);
      const got = await step.logits.data();
      step.logits.dispose();
      for (let r = 0; r < 2; r++) {
        const want = full.subarray((r * T + s) * V, (r * T + e) * V);
        const have = got.subarray(r * (e - s) * V, (r + 1) * (e - s) * V);
        assert.ok(maxAbsDiff(have, want) <= 1e-5, `${position}: chunk ${s}..${e} differs by ${maxAbsDiff(have, want)}`);
      }
    }
    assert.throws(() => model.forwardWithCache(idsTensor([[1], [2]]), cache), (e: unknown) => e instanceof UserError && /context_length 12/.test((e as Error).message));
    disposeCache(cache);
    model.dispose();
  }
});

test('a sequence longer than context_length is a UserError', () => {
  const config = tinyConfig();
  const { model } = modelFrom(config, 1);
  assert.throws(() => model.forward(idsTensor(randomIds(1, 13, 23, 1))), UserError);
  model.dispose();
});
