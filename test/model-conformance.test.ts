/**
 * CS336 conformance (MANIFEST §3 model components, §4 softmax/cross-entropy
 * and the GELU/SiLU literals): the tfjs model primitives against the
 * upstream fixtures at the upstream tolerances, on the stock cpu backend
 * and again on the native backend with its kernels and fused ops installed
 * (as `--backend native` runs them). The v2025 and literal fixtures are in
 * fixtures/cs336; the v2024 ones (weights for every component) are extras
 * that run when ../shared is present.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { selectBackend } from '../src/backends/select.ts';
import { ops } from '../src/model/ops.ts';
import { RopeTables, applyRope } from '../src/model/rope.ts';
import { multiHeadSelfAttention } from '../src/model/attention.ts';
import { feedForward } from '../src/model/ffn.ts';
import { transformerBlock } from '../src/model/block.ts';
import type { ParamMap } from '../src/model/block.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { lmForward } from '../src/model/transformer.ts';
import { allclose, expectClose, fixture, fixtureTensor as t, hasV2024Fixtures, literalCases, stateDict, weightsOf } from './model-fixtures.ts';
import type { FixtureTensor } from './model-fixtures.ts';
import { nativeSkip } from './native-helpers.ts';

const backends: ReadonlyArray<{ name: 'cpu' | 'native'; skip: string | false }> = [
  { name: 'cpu', skip: false },
  { name: 'native', skip: nativeSkip() },
];

for (const backend of backends) describe(`on the ${backend.name} backend`, { skip: backend.skip }, () => {
  before(async () => {
    await selectBackend(backend.name);
  });

  // Extras: the v2024 tensors live in ../shared only (left out without it).
  const v2024 = hasV2024Fixtures();

  if (v2024) test('v2024 positionwise feed-forward (GELU) matches the fixture', async () => {
    const sd = stateDict('v2024', 'positionwise_feedforward_weights');
    const w = weightsOf(sd);
    const y = tf.tidy(() => feedForward(t(fixture('v2024', 'in_features')), { w1: w['w1.weight'], w2: w['w2.weight'] }, 'gelu'));
    await expectClose(y, fixture('v2024', 'positionwise_feedforward_expected_output'), 1e-6);
  });

  if (v2024) test('v2024 RMSNorm matches the fixture', async () => {
    const w = t(stateDict('v2024', 'rmsnorm_weights').get('weight')!);
    const y = ops.rmsNorm(t(fixture('v2024', 'in_features')), w, 1e-5);
    await expectClose(y, fixture('v2024', 'rmsnorm_expected_output'), 1e-6);
  });

  if (v2024) test('v2024 scaled dot-product attention, 3-D and 4-D (mask 1 = masked out)', async () => {
    const K = t(fixture('v2024', 'scaled_dot_product_attention_K'));
    const Q = t(fixture('v2024', 'scaled_dot_product_attention_Q'));
    const V = t(fixture('v2024', 'scaled_dot_product_attention_V'));
    const masked = t(fixture('v2024', 'scaled_dot_product_attention_mask'));
    const allowed = tf.logicalNot(masked);
    const expected = fixture('v2024', 'scaled_dot_product_attention_expected_output');
    const full = ops.attention(Q, K, V, { mask: allowed });
    await expectClose(full, expected, 1e-6);
    const first = ops.attention(Q.slice([0], [1]).squeeze([0]), K.slice([0], [1]).squeeze([0]), V.slice([0], [1]).squeeze([0]), { mask: allowed });
    const n = 16 * 32 * 64;
    await expectClose(first, { shape: [16, 32, 64], dtype: 'float32', data: (expected.data as Float32Array).subarray(0, n) }, 1e-6);
    // The fixture mask is exactly the causal one: the built-in causal path must agree.
    await expectClose(ops.attention(Q, K, V, { causal: true }), expected, 1e-6);
  });

  if (v2024) test('v2024 causal multi-head self-attention (per-head weights fused by rows)', async () => {
    const sd = stateDict('v2024', 'unbatched_multihead_self_attention_weights');
    const w = weightsOf(sd);
    const fuse = (p: string): Tensor => tf.concat([w[`${p}_heads.0.weight`], w[`${p}_heads.1.weight`]], 0);
    const { out } = multiHeadSelfAttention(t(fixture('v2024', 'in_features')), {
      q: fuse('q'), k: fuse('k'), v: fuse('v'), output: w['output_proj.weight'],
    }, { numHeads: 2 });
    await expectClose(out, fixture('v2024', 'unbatched_multihead_self_attention_expected_output'), 1e-6);
  });

  const v2024BlockConfig = resolveModelConfig({
    vocab_size: 100, context_length: 128, d_model: 64, num_layers: 1, num_heads: 2, d_ff: 256,
    position: 'learned', ffn: 'gelu',
  });

  if (v2024) test('v2024 pre-norm Transformer block matches the fixture', async () => {
    const params = weightsOf(stateDict('v2024', 'transformer_block_weights'), 'layers.0.');
    const { out } = transformerBlock(t(fixture('v2024', 'in_features')), 0, {
      config: v2024BlockConfig, params, rope: null, positionOffset: 0, dropoutSeed: null,
    });
    await expectClose(out, fixture('v2024', 'transformer_block_expected_output'), 1e-6);
  });

  const v2024LmConfig = resolveModelConfig({
    vocab_size: 100, context_length: 64, d_model: 128, num_layers: 2, num_heads: 2, d_ff: 512,
    position: 'learned', ffn: 'gelu',
  });

  if (v2024) test('v2024 Transformer LM (learned positions, GELU) and truncated input match the fixtures', async () => {
    const params: ParamMap = weightsOf(stateDict('v2024', 'transformer_lm_weights'));
    const full = lmForward(v2024LmConfig, params, t(fixture('v2024', 'in_indices')), { rope: null }).logits;
    await expectClose(full, fixture('v2024', 'transformer_lm_expected_output'), 1e-4);
    const trunc = lmForward(v2024LmConfig, params, t(fixture('v2024', 'in_indices_truncated')), { rope: null }).logits;
    await expectClose(trunc, fixture('v2024', 'transformer_lm_truncated_expected_output'), 1e-4);
  });

  test('v2025 scaled dot-product attention, 3-D and 4-D (mask 1 = may attend)', async () => {
    const q = t(fixture('v2025_inputs', 'q'));
    const k = t(fixture('v2025_inputs', 'k'));
    const v = t(fixture('v2025_inputs', 'v'));
    const mask = t(fixture('v2025_inputs', 'mask'));
    await expectClose(ops.attention(q, k, v, { mask }), fixture('v2025', 'test_scaled_dot_product_attention'), 1e-6, 1e-4);
    const r4 = (x: Tensor): Tensor => x.reshape([2, 2, ...x.shape.slice(1)]);
    await expectClose(ops.attention(r4(q), r4(k), r4(v), { mask: r4(mask) }), fixture('v2025', 'test_4d_scaled_dot_product_attention'), 1e-6, 1e-4);
  });

  test('v2025 RoPE (interleaved pairs, θ = 10000, explicit token positions)', async () => {
    const x = t(fixture('v2025_inputs', 'in_embeddings'));
    const pos = t(fixture('v2025_inputs', 'pos_ids'));
    const tables = new RopeTables(64, 10000, 12);
    try {
      await expectClose(applyRope(x, tables, pos), fixture('v2025', 'test_rope'), 1e-6, 1e-4);
      await expectClose(applyRope(x, tables, 0), fixture('v2025', 'test_rope'), 1e-6, 1e-4);
    } finally {
      tables.dispose();
    }
  });

  const literals = literalCases();

  test('softmax literal cases, also shifted by +100 (stability)', async () => {
    const c = literals['test_softmax_matches_pytorch'] as { input: number[][]; expected: number[][]; also_input_plus: number };
    const x = tf.tensor2d(c.input);
    const exp = c.expected.flat();
    assert.equal(allclose(await ops.softmax(x, -1).data(), exp, 1e-6), null);
    assert.equal(allclose(await ops.softmax(tf.add(x, c.also_input_plus), -1).data(), exp, 1e-6), null);
    // Softmax along axis 0 equals the transposed last-axis softmax.
    const alongRows = await ops.softmax(tf.transpose(x), 0).data();
    assert.equal(allclose(alongRows, await tf.transpose(ops.softmax(x, -1)).data(), 1e-7), null);
  });

  test('cross-entropy literal cases, including the 1000·x logits (log-sum-exp)', async () => {
    const c = literals['test_cross_entropy'] as Record<string, unknown>;
    const inputs = c.inputs as number[][];
    const targets = c.targets as number[];
    const x = tf.tensor2d(inputs);
    const y = tf.tensor1d(targets, 'int32');
    const expected = c.expected as number;
    const expectedLarge = c.expected_large as number;
    assert.equal(typeof expected, 'number');
    const atol = c.atol as number;
    assert.ok(Math.abs((await ops.crossEntropy(x, y).data())[0] - expected) <= atol);
    const large = (await ops.crossEntropy(tf.tensor2d(c.inputs_large as number[][]), y).data())[0];
    assert.ok(Number.isFinite(large) && Math.abs(large - expectedLarge) <= atol, `large-logit CE ${large}`);
  });

  test('GELU (exact erf) and SiLU literal cases', async () => {
    const g = literals['test_gelu (v2024)'] as { input: number[][]; expected: number[][]; atol: number };
    assert.equal(allclose(await ops.gelu(tf.tensor2d(g.input)).data(), g.expected.flat(), g.atol), null);
    const s = literals['test_silu_matches_pytorch (v2025)'] as { input: number[][]; expected: number[][]; atol: number };
    assert.equal(allclose(await ops.silu(tf.tensor2d(s.input)).data(), s.expected.flat(), s.atol), null);
  });
});
