/**
 * The accounting against the real model: parameter counts against the
 * instantiated lmpipe TransformerLM, and matmul FLOPs against the
 * BatchMatMul kernels it actually runs (tf.profile, 2·m·k·n per call), for
 * tiny configs covering every architecture switch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfig, ModelConfigInput } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { ops } from '../src/model/ops.ts';
import { Rng } from '../src/util/rng.ts';
import { ffnMatrices, parameterBreakdown } from '../src/accounting/parameters.ts';
import { forwardFlops } from '../src/accounting/flops.ts';

await tf.setBackend('cpu');

const BASE: ModelConfigInput = { vocab_size: 37, context_length: 12, d_model: 16, num_layers: 2, num_heads: 4, d_ff: 24 };
const VARIANTS: [string, Partial<ModelConfig>][] = [
  ['default (rope, swiglu, pre-norm, untied)', {}],
  ['gelu + learned positions', { ffn: 'gelu', position: 'learned' }],
  ['silu + no positions + tied', { ffn: 'silu', position: 'none', tie_embeddings: true }],
  ['post-norm', { norm: 'post' }],
  ['no norm', { norm: 'none', num_layers: 3 }],
  ['parallel pre-norm, tied', { parallel: true, tie_embeddings: true }],
  ['parallel post-norm, gelu', { parallel: true, norm: 'post', ffn: 'gelu' }],
  ['one head, d_ff default', { num_heads: 1, d_ff: undefined, d_model: 8 }],
];
const configOf = (over: Partial<ModelConfig>): ModelConfig => {
  const raw: Record<string, unknown> = { ...BASE, ...over };
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  return resolveModelConfig(raw, 'test');
};

/** Which accounting component a parameter of the model belongs to, from its name. */
function componentOf(name: string): string {
  if (name === 'token_embeddings.weight') return 'token_embeddings';
  if (name === 'position_embeddings.weight') return 'position_embeddings';
  if (name === 'lm_head.weight') return 'lm_head';
  if (/^layers\.\d+\.attn\./.test(name)) return 'attention';
  if (/^layers\.\d+\.ffn\./.test(name)) return 'ffn';
  if (/(^|\.)ln(1|2|_final)\.weight$/.test(name)) return 'norms';
  throw new Error(`unexpected parameter ${name}`);
}

test('parameter counts equal the instantiated model, component by component', () => {
  for (const [label, over] of VARIANTS) {
    const config = configOf(over);
    const model = TransformerLM.initialize(config, new Rng(7));
    try {
      const actual: Record<string, number> = { token_embeddings: 0, position_embeddings: 0, attention: 0, ffn: 0, norms: 0, lm_head: 0 };
      const layer0: Record<string, number> = { attention: 0, ffn: 0, norms: 0 };
      for (const [name, v] of Object.entries(model.params)) {
        actual[componentOf(name)] += v.size;
        if (name.startsWith('layers.0.')) layer0[componentOf(name)] += v.size;
      }
      const b = parameterBreakdown(config);
      assert.deepEqual(Object.fromEntries(b.components.map((c) => [c.name, c.count])), actual, label);
      const perLayer = b.components.filter((c) => c.per_layer !== undefined);
      assert.deepEqual(Object.fromEntries(perLayer.map((c) => [c.name, c.per_layer])), layer0, `${label}: per layer`);
      assert.equal(b.total, model.variables().reduce((s, v) => s + v.size, 0), label);
    } finally {
      model.dispose();
    }
  }
});

/** Kernels that contract tensors; only BatchMatMul may appear, so no matmul escapes the count. */
const CONTRACTIONS = /matmul|conv|einsum|dot/i;

/**
 * FLOPs of the matmul kernels run by `fn`: for output (..., M, N) and first
 * operand (..., r, c), the inner size is K = r·c/M whichever operand is
 * transposed, and the cost 2·(batch·M·N)·K.
 */
async function matmulFlops(fn: () => tf.TensorContainer): Promise<{ flops: number; calls: number }> {
  const info = await tf.profile(fn);
  let flops = 0;
  let calls = 0;
  for (const k of info.kernels) {
    if (!CONTRACTIONS.test(k.name)) continue;
    assert.equal(k.name, 'BatchMatMul', `unexpected contraction kernel ${k.name}`);
    const out = k.outputShapes[0];
    const a = k.inputShapes[0];
    const m = out[out.length - 2];
    const k2 = (a[a.length - 2] * a[a.length - 1]) / m;
    assert.ok(Number.isInteger(k2), `shapes [${a}] → [${out}]`);
    flops += 2 * out.reduce((p, d) => p * d, 1) * k2;
    calls++;
  }
  tf.dispose(info.result as tf.TensorContainer);
  return { flops, calls };
}

function randomIds(config: ModelConfig, batch: number, rng: Rng): tf.Tensor {
  const n = batch * config.context_length;
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.nextUint32() % config.vocab_size;
  return tf.tensor2d(data, [batch, config.context_length], 'int32');
}

test('forward FLOPs equal the matmuls the model runs, and backward is twice the forward', async () => {
  for (const [label, over] of VARIANTS) {
    const config = configOf(over);
    const rng = new Rng(11);
    const model = TransformerLM.initialize(config, rng);
    const ids = randomIds(config, 2, rng);
    const targets = randomIds(config, 2, rng);
    try {
      const expected = forwardFlops(config);
      const one = await matmulFlops(() => model.forward(tf.slice(ids, [0, 0], [1, config.context_length])));
      assert.equal(one.flops, expected.total, `${label}: one sequence`);
      // one kernel per projection, two batched over heads for attention, one per FFN matrix, one LM head
      assert.equal(one.calls, config.num_layers * (4 + 2 + ffnMatrices(config)) + 1, `${label}: kernel calls`);
      const two = await matmulFlops(() => model.forward(ids));
      assert.equal(two.flops, 2 * expected.total, `${label}: batch of 2`);
      const train = await matmulFlops(() => {
        const { value, grads } = tf.variableGrads(() => ops.crossEntropy(model.forward(ids), targets) as tf.Scalar, model.variables());
        return [value, ...Object.values(grads)];
      });
      assert.equal(train.flops - two.flops, 2 * two.flops, `${label}: backward = 2 × forward`);
    } finally {
      tf.dispose([ids, targets]);
      model.dispose();
    }
  }
});
