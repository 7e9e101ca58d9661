/**
 * The model on the webgpu backend with the fused WGSL primitives installed:
 * the CS336 conformance fixtures (MANIFEST §3/§4) at the upstream
 * tolerances, and the RoPE/SwiGLU model (no upstream fixture with weights)
 * against the float64 reference of test/model-reference.ts. Calls that
 * take the plain path on WebGPU (explicit masks, explicit RoPE positions,
 * softmax) are covered too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { ops } from '../src/model/ops.ts';
import { RopeTables, applyRope } from '../src/model/rope.ts';
import { multiHeadSelfAttention } from '../src/model/attention.ts';
import { transformerBlock } from '../src/model/block.ts';
import type { ParamMap } from '../src/model/block.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { lmForward } from '../src/model/transformer.ts';
import { wgslDispatchCount } from '../src/backends/webgpu/dispatch.ts';
import { WEBGPU_OPS } from '../src/backends/webgpu/fused-ops.ts';
import { allclose, expectClose, fixture, fixtureTensor as t, hasV2024Fixtures, literalCases, stateDict, weightsOf } from './model-fixtures.ts';
import type { FixtureTensor } from './model-fixtures.ts';
import { idsTensor, modelFrom, randomIds, tinyConfig } from './model-helpers.ts';
import { lm64 } from './model-reference.ts';
import { gpuErrors, webgpuOrSkip } from './webgpu-helpers.ts';

const skipGpu = await webgpuOrSkip();


/** Runs `f` and asserts that fused kernels whose label starts with `prefix` ran. */
async function usesFused<T>(prefix: string, f: () => Promise<T>): Promise<T> {
  const before = wgslDispatchCount(prefix);
  const r = await f();
  assert.ok(wgslDispatchCount(prefix) > before, `expected the fused ${prefix} kernels to run`);
  return r;
}

// Extras: the v2024 tensors live in ../shared only (left out without it);
// the v2025 and literal fixtures are in fixtures/cs336.
const v2024 = hasV2024Fixtures();
const literals = literalCases();

test('the fused primitives are installed in the ops table', { skip: skipGpu }, () => {
  for (const [name, f] of Object.entries(WEBGPU_OPS)) assert.equal(ops[name as keyof typeof ops], f, name);
});

if (v2024) test('v2024 RMSNorm', { skip: skipGpu }, async () => {
  const w = t(stateDict('v2024', 'rmsnorm_weights').get('weight')!);
  await usesFused('lmpipe_rmsnorm', () => expectClose(ops.rmsNorm(t(fixture('v2024', 'in_features')), w, 1e-5), fixture('v2024', 'rmsnorm_expected_output'), 1e-6));
});

if (v2024) test('v2024 scaled dot-product attention: causal (fused) and the explicit mask (plain path)', { skip: skipGpu }, async () => {
  const K = t(fixture('v2024', 'scaled_dot_product_attention_K'));
  const Q = t(fixture('v2024', 'scaled_dot_product_attention_Q'));
  const V = t(fixture('v2024', 'scaled_dot_product_attention_V'));
  const allowed = tf.logicalNot(t(fixture('v2024', 'scaled_dot_product_attention_mask')));
  const expected = fixture('v2024', 'scaled_dot_product_attention_expected_output');
  await usesFused('lmpipe_attention', () => expectClose(ops.attention(Q, K, V, { causal: true }), expected, 1e-6));
  await expectClose(ops.attention(Q, K, V, { mask: allowed }), expected, 1e-6);
});

if (v2024) test('v2024 causal multi-head self-attention', { skip: skipGpu }, async () => {
  const w = weightsOf(stateDict('v2024', 'unbatched_multihead_self_attention_weights'));
  const fuse = (p: string): Tensor => tf.concat([w[`${p}_heads.0.weight`], w[`${p}_heads.1.weight`]], 0);
  const { out } = multiHeadSelfAttention(t(fixture('v2024', 'in_features')), { q: fuse('q'), k: fuse('k'), v: fuse('v'), output: w['output_proj.weight'] }, { numHeads: 2 });
  await expectClose(out, fixture('v2024', 'unbatched_multihead_self_attention_expected_output'), 1e-6);
});

if (v2024) test('v2024 pre-norm Transformer block and Transformer LM (learned positions, GELU)', { skip: skipGpu }, async () => {
  const blockConfig = resolveModelConfig({ vocab_size: 100, context_length: 128, d_model: 64, num_layers: 1, num_heads: 2, d_ff: 256, position: 'learned', ffn: 'gelu' });
  const blockParams = weightsOf(stateDict('v2024', 'transformer_block_weights'), 'layers.0.');
  const { out } = transformerBlock(t(fixture('v2024', 'in_features')), 0, { config: blockConfig, params: blockParams, rope: null, positionOffset: 0, dropoutSeed: null });
  await expectClose(out, fixture('v2024', 'transformer_block_expected_output'), 1e-6);

  const lmConfig = resolveModelConfig({ vocab_size: 100, context_length: 64, d_model: 128, num_layers: 2, num_heads: 2, d_ff: 512, position: 'learned', ffn: 'gelu' });
  const params: ParamMap = weightsOf(stateDict('v2024', 'transformer_lm_weights'));
  const full = lmForward(lmConfig, params, t(fixture('v2024', 'in_indices')), { rope: null }).logits;
  await expectClose(full, fixture('v2024', 'transformer_lm_expected_output'), 1e-4);
  const trunc = lmForward(lmConfig, params, t(fixture('v2024', 'in_indices_truncated')), { rope: null }).logits;
  await expectClose(trunc, fixture('v2024', 'transformer_lm_truncated_expected_output'), 1e-4);
});

test('v2025 attention with a may-attend mask (plain path) and RoPE: fused from an offset, plain with explicit positions', { skip: skipGpu }, async () => {
  const q = t(fixture('v2025_inputs', 'q'));
  const k = t(fixture('v2025_inputs', 'k'));
  const v = t(fixture('v2025_inputs', 'v'));
  await expectClose(ops.attention(q, k, v, { mask: t(fixture('v2025_inputs', 'mask')) }), fixture('v2025', 'test_scaled_dot_product_attention'), 1e-6, 1e-4);
  const x = t(fixture('v2025_inputs', 'in_embeddings'));
  const tables = new RopeTables(64, 10000, 12);
  try {
    await usesFused('lmpipe_rope', () => expectClose(applyRope(x, tables, 0), fixture('v2025', 'test_rope'), 1e-6, 1e-4));
    await expectClose(applyRope(x, tables, t(fixture('v2025_inputs', 'pos_ids'))), fixture('v2025', 'test_rope'), 1e-6, 1e-4);
  } finally {
    tables.dispose();
  }
});

test('cross-entropy and softmax literal cases (incl. 1000x logits)', { skip: skipGpu }, async () => {
  const c = literals['test_cross_entropy'] as Record<string, unknown>;
  const y = tf.tensor1d(c.targets as number[], 'int32');
  const atol = c.atol as number;
  const small = await usesFused('lmpipe_cross_entropy', async () => (await ops.crossEntropy(tf.tensor2d(c.inputs as number[][]), y).data())[0]);
  assert.ok(Math.abs(small - (c.expected as number)) <= atol, `CE ${small}`);
  const large = (await ops.crossEntropy(tf.tensor2d(c.inputs_large as number[][]), y).data())[0];
  assert.ok(Number.isFinite(large) && Math.abs(large - (c.expected_large as number)) <= atol, `large-logit CE ${large}`);
  const s = literals['test_softmax_matches_pytorch'] as { input: number[][]; expected: number[][]; also_input_plus: number };
  const x = tf.tensor2d(s.input);
  assert.equal(allclose(await ops.softmax(x, -1).data(), s.expected.flat(), 1e-6), null);
  assert.equal(allclose(await ops.softmax(tf.add(x, s.also_input_plus), -1).data(), s.expected.flat(), 1e-6), null);
});

test('RoPE + SwiGLU LM (2025 architecture) matches the float64 reference', { skip: skipGpu }, async () => {
  const config = tinyConfig({ num_heads: 4 });
  const { model, ref } = modelFrom(config, 3);
  try {
    const ids = randomIds(2, 12, config.vocab_size, 4);
    const logits = await usesFused('lmpipe_', () => Promise.resolve(model.forward(idsTensor(ids))));
    const err = allclose(await logits.data(), lm64(config, ref, ids), 2e-5, 1e-4);
    assert.equal(err, null, err ?? '');
  } finally {
    model.dispose();
  }
});

test('no WebGPU validation or WGSL compile errors', { skip: skipGpu }, async () => {
  assert.deepEqual(await gpuErrors(), []);
});
