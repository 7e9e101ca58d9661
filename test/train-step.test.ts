/**
 * trainStep / evaluate on a tiny TransformerLM: the loss falls on a
 * learnable sequence, no tensor leaks, a non-finite loss is detected before
 * the update (parameters untouched), and evaluate equals a direct
 * computation of the mean cross-entropy over the same windows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { Rng } from '../src/util/rng.ts';
import { AdamW } from '../src/train/adamw.ts';
import { sampleBatch } from '../src/train/batch-sampler.ts';
import { MemoryTokenSource } from '../src/tokenizer/token-reader.ts';
import { NonFiniteError, evaluate, trainStep } from '../src/train/train-step.ts';

await selectBackend('cpu');

const config = resolveModelConfig({ vocab_size: 16, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 });
// A periodic sequence is perfectly predictable from the previous token.
const data = new MemoryTokenSource(Array.from({ length: 400 }, (_, i) => (i * 5) % 16));

test('loss falls over 40 steps on a periodic sequence, with no tensor leak', async () => {
  const model = TransformerLM.initialize(config, new Rng(1));
  const opt = new AdamW(model.params, { lr: 1e-2, weightDecay: 0 });
  const rng = new Rng(2);
  const losses: number[] = [];
  let tensorsAfterFirst = -1;
  for (let s = 0; s < 40; s++) {
    const r = await trainStep(model, opt, sampleBatch(data, rng, 4, 8), 1e-2, 1.0, null);
    assert.ok(r.gradNorm > 0);
    losses.push(r.loss);
    if (s === 0) tensorsAfterFirst = tf.memory().numTensors; // moments exist from step 1 on
  }
  assert.equal(tf.memory().numTensors, tensorsAfterFirst, 'steady tensor count');
  assert.ok(losses[0] > Math.log(16) - 1, `initial loss ${losses[0]} near ln 16`);
  assert.ok(losses[39] < losses[0] / 3, `loss fell from ${losses[0]} to ${losses[39]}`);
  opt.dispose();
  model.dispose();
});

test('a non-finite loss throws NonFiniteError before the update', async () => {
  const model = TransformerLM.initialize(config, new Rng(1));
  const opt = new AdamW(model.params, { lr: 1e-2 });
  const emb = model.params['token_embeddings.weight'];
  tf.tidy(() => emb.assign(tf.fill(emb.shape, Number.NaN)));
  const before = await model.params['lm_head.weight'].data();
  await assert.rejects(trainStep(model, opt, sampleBatch(data, new Rng(3), 2, 8), 1e-2, 1.0, null), NonFiniteError);
  assert.deepEqual(await model.params['lm_head.weight'].data(), before);
  assert.equal(opt.step, 0);
  opt.dispose();
  model.dispose();
});

test('evaluate = mean cross-entropy over the consecutive windows, computed directly', async () => {
  const model = TransformerLM.initialize(config, new Rng(4));
  const src = new MemoryTokenSource(Array.from({ length: 50 }, (_, i) => (i * i) % 16));
  // T = 8: windows of 9 tokens at 0, 9, 18, 27, 36 (5 windows), tail of 5 dropped; first 2 batches of 2 = 4 windows.
  const { loss, tokens } = await evaluate(model, src, 2, 2);
  assert.equal(tokens, 4 * 8);
  const ids = Array.from({ length: 50 }, (_, i) => (i * i) % 16);
  let sum = 0;
  for (const start of [0, 9, 18, 27]) {
    const x = tf.tensor2d([ids.slice(start, start + 8)], [1, 8], 'int32');
    const logits = await model.forward(x).data();
    for (let t = 0; t < 8; t++) {
      const row = Array.from(logits.subarray(t * 16, t * 16 + 16));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      sum += lse - row[ids[start + t + 1]];
    }
    x.dispose();
  }
  assert.ok(Math.abs(loss - sum / 32) < 1e-5, `${loss} vs ${sum / 32}`);
  model.dispose();
});
