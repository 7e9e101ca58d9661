/**
 * Training-side behaviour of the model: no tensor leaks over
 * forward+backward+update steps (and cached decoding), dropout semantics,
 * config validation messages, and the handout initialization.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { CS336_TINYSTORIES_CONFIG, defaultDff, resolveModelConfig } from '../src/model/config.ts';
import { TransformerLM, disposeCache } from '../src/model/model.ts';
import type { KVCache } from '../src/model/model.ts';
import { DEFAULT_OPS, ops, overrideOps } from '../src/model/ops.ts';
import { countParameters, initParameters, parameterSpecs } from '../src/model/params.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { maxAbsDiff } from './model-fixtures.ts';
import { idsTensor, modelFrom, randomIds, tinyConfig } from './model-helpers.ts';
import { lm64 } from './model-reference.ts';

await selectBackend('cpu');

test('no tensor leaks across forward+backward+SGD steps (with dropout) and cached decoding', async () => {
  const config = tinyConfig({ dropout: 0.1 });
  const model = TransformerLM.initialize(config, new Rng(1));
  const rng = new Rng(2);
  const rows = randomIds(3, config.context_length + 1, config.vocab_size, 3);
  const x = idsTensor(rows.map((r) => r.slice(0, -1)));
  const y = idsTensor(rows.map((r) => r.slice(1)));
  const vars = model.variables();
  const losses: number[] = [];
  const step = async (): Promise<void> => {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => ops.crossEntropy(model.forward(x, { training: true, rng }), y) as tf.Scalar, vars);
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.05)));
      return value;
    });
    losses.push((await loss.data())[0]);
    loss.dispose();
  };
  await step();
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 4; i++) {
    await step();
    assert.equal(tf.memory().numTensors, baseline, `step ${i + 2} leaked`);
  }
  assert.ok(losses[losses.length - 1] < losses[0], `SGD should reduce the training loss: ${losses.join(', ')}`);

  let cache: KVCache | null = null;
  const decode = async (): Promise<void> => {
    for (let t = 0; t < 4; t++) {
      const ids = idsTensor([[t + 1], [t + 2]]);
      const r = model.forwardWithCache(ids, cache);
      ids.dispose();
      disposeCache(cache);
      cache = r.cache;
      await r.logits.data();
      r.logits.dispose();
    }
    disposeCache(cache);
    cache = null;
  };
  await decode();
  const afterDecode = tf.memory().numTensors;
  await decode();
  assert.equal(tf.memory().numTensors, afterDecode, 'cached decoding leaked');
  model.dispose();
  assert.equal(tf.memory().numTensors, afterDecode - vars.length - 2, 'dispose frees the variables and RoPE tables');
});

test('dropout: off in evaluation, reproducible from the rng in training, different across seeds', async () => {
  const config = tinyConfig({ dropout: 0.2 });
  const { model, ref } = modelFrom(config, 9);
  const ids = randomIds(2, config.context_length, config.vocab_size, 10);
  const evalLogits = await model.forward(idsTensor(ids)).data();
  assert.ok(maxAbsDiff(evalLogits, lm64(config, ref, ids)) < 1e-4, 'evaluation ignores dropout');
  const a = await model.forward(idsTensor(ids), { training: true, rng: new Rng(5) }).data();
  const b = await model.forward(idsTensor(ids), { training: true, rng: new Rng(5) }).data();
  const c = await model.forward(idsTensor(ids), { training: true, rng: new Rng(6) }).data();
  assert.deepEqual(a, b);
  assert.ok(maxAbsDiff(a, c) > 1e-3);
  assert.ok(maxAbsDiff(a, evalLogits) > 1e-3);
  assert.throws(() => model.forward(idsTensor(ids), { training: true }), /needs an rng/);
  model.dispose();
  // dropout 0 in training is exactly evaluation
  const plain = modelFrom(tinyConfig(), 9).model;
  const e = await plain.forward(idsTensor(ids)).data();
  assert.deepEqual(await plain.forward(idsTensor(ids), { training: true, rng: new Rng(1) }).data(), e);
  plain.dispose();
});

test('inverted dropout zeroes about `rate` of the values and scales the rest by 1/(1−rate)', async () => {
  const n = 40_000;
  const rate = 0.3;
  const y = await ops.dropout(tf.ones([n]), { rate, seed: 12345 }).data();
  let zeros = 0;
  for (const v of y) {
    if (v === 0) zeros++;
    else assert.ok(Math.abs(v - 1 / (1 - rate)) < 1e-6);
  }
  const sd = Math.sqrt(n * rate * (1 - rate));
  assert.ok(Math.abs(zeros - n * rate) < 5 * sd, `zeros ${zeros}`);
  assert.deepEqual(await ops.dropout(tf.ones([100]), { rate, seed: 1 }).data(), await ops.dropout(tf.ones([100]), { rate, seed: 1 }).data());
});

test('config validation: clear UserErrors with the nearest valid key or value', () => {
  const base = { vocab_size: 50, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 };
  const msg = (raw: unknown): string => {
    try { resolveModelConfig(raw, 'run/config.json'); } catch (e) { assert.ok(e instanceof UserError, String(e)); return (e as Error).message; }
    return '';
  };
  assert.match(msg({ ...base, d_modle: 3 }), /run\/config\.json: unknown model config key "d_modle" \(did you mean "d_model"\?\)/);
  assert.match(msg({ ...base, num_head: 2 }), /did you mean "num_heads"/);
  assert.match(msg({ ...base, num_heads: 3 }), /d_model \(16\) must be divisible by num_heads \(3\)/);
  assert.match(msg({ ...base, d_model: 18, num_heads: 6 }), /must be even, got 3/);
  assert.equal(resolveModelConfig({ ...base, d_model: 18, num_heads: 6, position: 'learned' }).d_model, 18);
  assert.match(msg({ ...base, ffn: 'swiglo' }), /"ffn" must be one of .* \(did you mean "swiglu"\?\)/);
  assert.match(msg({ ...base, norm: 'prenorm' }), /did you mean "pre"/);
  assert.match(msg({ ...base, dropout: 1 }), /"dropout" must be a number in \[0, 1\)/);
  assert.match(msg({ ...base, parallel: 'yes' }), /"parallel" must be true or false/);
  assert.match(msg({ vocab_size: 5 }), /missing required key "context_length"/);
  assert.match(msg({ ...base, d_ff: 0 }), /"d_ff" must be a positive integer/);
  assert.match(msg([1, 2]), /expected a JSON object/);
  const c = resolveModelConfig(base);
  assert.deepEqual([c.position, c.ffn, c.norm, c.parallel, c.tie_embeddings, c.dropout, c.rope_theta, c.norm_eps], ['rope', 'swiglu', 'pre', false, false, 0, 10000, 1e-5]);
});

test('default d_ff: 8/3·d_model rounded up to a multiple of 64 (SwiGLU), 4·d_model otherwise', () => {
  assert.equal(defaultDff(512, 'swiglu'), 1408); // 1365.3 → 1408
  assert.equal(defaultDff(64, 'swiglu'), 192); // 170.7 → 192
  assert.equal(defaultDff(96, 'swiglu'), 256);
  assert.equal(defaultDff(512, 'gelu'), 2048);
  assert.equal(defaultDff(512, 'silu'), 2048);
  assert.equal(resolveModelConfig({ vocab_size: 5, context_length: 4, d_model: 64, num_layers: 1, num_heads: 4 }).d_ff, 192);
  // Parameter count by the handout's accounting: 2·V·D + L·(4D² + 3·D·d_ff + 2D) + D.
  const [V, D, L, F] = [10000, 512, 4, 1344];
  assert.equal(countParameters(CS336_TINYSTORIES_CONFIG), 2 * V * D + L * (4 * D * D + 3 * D * F + 2 * D) + D);
  assert.equal(countParameters({ ...CS336_TINYSTORIES_CONFIG, tie_embeddings: true }), V * D + L * (4 * D * D + 3 * D * F + 2 * D) + D);
});

test('initialization: truncated normals with the handout scales, unit gains, reproducible from the seed', () => {
  const config = resolveModelConfig({ vocab_size: 300, context_length: 64, d_model: 64, num_layers: 1, num_heads: 4, d_ff: 256, position: 'learned' });
  const a = initParameters(config, new Rng(11));
  const b = initParameters(config, new Rng(11));
  for (const spec of parameterSpecs(config)) {
    const v = a.get(spec.name)!.data;
    assert.deepEqual(v, b.get(spec.name)!.data);
    let s2 = 0;
    let maxAbs = 0;
    for (const x of v) { s2 += x * x; maxAbs = Math.max(maxAbs, Math.abs(x)); }
    const std = Math.sqrt(s2 / v.length);
    if (spec.init === 'ones') {
      assert.ok(v.every((x) => x === 1), spec.name);
    } else {
      const sigma = spec.init === 'embedding' ? 1 : Math.sqrt(2 / (spec.shape[0] + spec.shape[1]));
      assert.ok(maxAbs <= 3 * sigma * (1 + 1e-6), `${spec.name}: |w| ${maxAbs} beyond 3σ`);
      // Truncation at ±3σ leaves std ≈ 0.9866σ.
      assert.ok(Math.abs(std / sigma - 0.9866) < 0.03, `${spec.name}: std ${std} vs σ ${sigma}`);
    }
  }
  assert.notDeepEqual(initParameters(config, new Rng(12)).get('token_embeddings.weight')!.data, a.get('token_embeddings.weight')!.data);
});

test('overrideOps swaps a primitive for the whole model and the returned function restores it', async () => {
  const config = tinyConfig();
  const { model } = modelFrom(config, 8);
  const ids = idsTensor(randomIds(1, 4, config.vocab_size, 9));
  const before = await model.forward(ids).data();
  let calls = 0;
  const original = ops.linear;
  const restore = overrideOps({ linear: (x, w) => { calls++; return original(x, w); } });
  assert.deepEqual(await model.forward(ids).data(), before);
  // 2 layers × (q, k, v, output, w1, w2, w3) + LM head
  assert.equal(calls, 2 * 7 + 1);
  restore();
  assert.equal(ops.linear, original);
  assert.equal(ops.linear, DEFAULT_OPS.linear);
  model.dispose();
});
