/**
 * Generation with the KV cache: the logits of every step equal a full
 * forward pass over the whole history without the cache; greedy picks their
 * argmax; stop tokens, the context limit, seeding, no leaks; streaming UTF-8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfigInput } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { Rng } from '../src/util/rng.ts';
import { StreamingTextDecoder, generateTokens } from '../src/train/generate.ts';
import type { GenerateOptions } from '../src/train/generate.ts';
import { argmax } from '../src/train/sampling.ts';

await selectBackend('cpu');

async function collect(model: TransformerLM, prompt: number[], options: GenerateOptions, seed = 0): Promise<{ ids: number[]; logits: Float32Array[]; reason: string }> {
  const ids: number[] = [];
  const logits: Float32Array[] = [];
  const gen = generateTokens(model, prompt, { ...options, onLogits: (l) => logits.push(Float32Array.from(l)) }, new Rng(seed));
  for (;;) {
    const r = await gen.next();
    if (r.done) return { ids, logits, reason: r.value };
    ids.push(r.value);
  }
}

async function fullForwardLast(model: TransformerLM, ids: number[]): Promise<Float32Array> {
  const x = tf.tensor2d([ids], [1, ids.length], 'int32');
  const logits = model.forward(x);
  const all = await logits.data();
  tf.dispose([x, logits]);
  const V = model.config.vocab_size;
  return Float32Array.from(all.subarray((ids.length - 1) * V, ids.length * V));
}

const configs: [string, ModelConfigInput][] = [
  ['rope + swiglu (2025 default)', { vocab_size: 24, context_length: 16, d_model: 16, num_layers: 2, num_heads: 2 }],
  ['learned positions + gelu', { vocab_size: 24, context_length: 16, d_model: 16, num_layers: 2, num_heads: 4, position: 'learned', ffn: 'gelu' }],
];

for (const [label, raw] of configs) {
  test(`${label}: cached logits equal full-forward logits at every step; greedy = argmax`, async () => {
    const model = TransformerLM.initialize(resolveModelConfig(raw), new Rng(11));
    const before = tf.memory().numTensors;
    const prompt = [3, 1, 4, 1, 5];
    const { ids, logits, reason } = await collect(model, prompt, { maxTokens: 10, temperature: 0 });
    assert.equal(reason, 'max-tokens');
    assert.equal(ids.length, 10);
    assert.equal(tf.memory().numTensors, before, 'generation leaked tensors');
    const history = [...prompt];
    for (let s = 0; s < ids.length; s++) {
      const ref = await fullForwardLast(model, history);
      let maxErr = 0;
      for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(ref[i] - logits[s][i]));
      assert.ok(maxErr < 1e-5, `step ${s}: max |cached − full| = ${maxErr}`);
      assert.equal(ids[s], argmax(ref));
      history.push(ids[s]);
    }
    model.dispose();
  });
}

test('stop tokens end generation without being yielded; sampling is seeded; generation runs past the context', async () => {
  const model = TransformerLM.initialize(resolveModelConfig(configs[0][1]), new Rng(5));
  const greedy = await collect(model, [7], { maxTokens: 3, temperature: 0 });
  const stopped = await collect(model, [7], { maxTokens: 3, temperature: 0, stopIds: [greedy.ids[1]] });
  assert.equal(stopped.reason, 'stop-token');
  assert.deepEqual(stopped.ids, greedy.ids.slice(0, 1));
  const a = await collect(model, [7, 8], { maxTokens: 40, temperature: 1, topP: 0.9 }, 123);
  const b = await collect(model, [7, 8], { maxTokens: 40, temperature: 1, topP: 0.9 }, 123);
  assert.equal(a.ids.length, 40, 'continues past context_length 16 with the sliding window');
  assert.deepEqual(a.ids, b.ids);
  const c = await collect(model, [7, 8], { maxTokens: 40, temperature: 1 }, 124);
  assert.notDeepEqual(c.ids, a.ids);
  await assert.rejects(collect(model, [], { maxTokens: 2 }), /at least one token/);
  model.dispose();
});

test('StreamingTextDecoder joins characters split across tokens', () => {
  const bytes = new TextEncoder().encode('é🙃!');
  const d = new StreamingTextDecoder();
  const parts = [d.push(bytes.subarray(0, 1)), d.push(bytes.subarray(1, 3)), d.push(bytes.subarray(3, 5)), d.push(bytes.subarray(5)), d.flush()];
  assert.deepEqual(parts, ['', 'é', '', '🙃!', '']);
  const e = new StreamingTextDecoder();
  assert.equal(e.push(new Uint8Array([0xf0, 0x9f])) + e.flush(), '\ufffd');
});
