/**
 * Accounting against numbers worked out by hand (the arithmetic is in the
 * comments) and against published CS336 worked answers; bad input gives
 * one-line UserErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelConfig } from '../src/model/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { UserError } from '../src/pipeline/errors.ts';
import { parameterBreakdown } from '../src/accounting/parameters.ts';
import { forwardFlops } from '../src/accounting/flops.ts';
import { activationItems, maxBatch, memoryAtBatch, trainingMemory } from '../src/accounting/memory.ts';
import { stepFlops, trainingTime } from '../src/accounting/training.ts';
import { loadModelConfig } from '../src/accounting/model-source.ts';
import { accountModel } from '../src/accounting/report.ts';
import type { AccountingOptions } from '../src/accounting/report.ts';

const preset = (name: string, over: { context?: number; dFf?: number } = {}): ModelConfig => loadModelConfig({ preset: name, ...over }).config;
const flopsOf = (c: ModelConfig, name: string): number => forwardFlops(c).matmuls.find((m) => m.name === name)?.flops ?? 0;

const OPTS: AccountingOptions = { dtype: 'fp32', batch: 1, memoryGb: 80, memoryExplicit: true, peakTflops: 19.5, mfu: 0.5, steps: 400_000, batchSize: 1024 };

test('GPT-2 XL (handout shape, d_ff 6,400, SwiGLU): parameters by hand', () => {
  const c = preset('gpt2-xl');
  assert.deepEqual([c.vocab_size, c.context_length, c.num_layers, c.d_model, c.num_heads, c.d_ff], [50257, 1024, 48, 1600, 25, 6400]);
  const p = parameterBreakdown(c);
  const by = Object.fromEntries(p.components.map((x) => [x.name, x.count]));
  // token embeddings: 50,257 · 1,600 = 80,411,200
  assert.equal(by.token_embeddings, 80_411_200);
  assert.equal(by.position_embeddings, 0); // RoPE has no parameters
  // attention: 48 · 4 · 1,600² = 48 · 10,240,000 = 491,520,000
  assert.equal(by.attention, 491_520_000);
  // SwiGLU: 48 · 3 · 1,600 · 6,400 = 48 · 30,720,000 = 1,474,560,000
  assert.equal(by.ffn, 1_474_560_000);
  // RMSNorm gains: (48 · 2 + 1) · 1,600 = 97 · 1,600 = 155,200
  assert.equal(by.norms, 155_200);
  // untied LM head: 1,600 · 50,257 = 80,411,200
  assert.equal(by.lm_head, 80_411_200);
  // 80,411,200 + 491,520,000 + 1,474,560,000 + 155,200 + 80,411,200 = 2,127,057,600
  assert.equal(p.total, 2_127_057_600);
  // fp32: 2,127,057,600 · 4 B = 8,508,230,400 B ≈ 8.51 GB
  assert.equal(accountModel(c, 'gpt2-xl', OPTS).parameters.bytes, 8_508_230_400);
  assert.equal(accountModel(c, 'gpt2-xl', { ...OPTS, dtype: 'bf16' }).parameters.bytes, 4_254_115_200);
});

test('GPT-2 XL: forward matmul FLOPs by hand (T = 1,024)', () => {
  const c = preset('gpt2-xl');
  // each projection: 2 · 1,024 · 1,600 · 1,600 · 48 layers = 251,658,240,000
  for (const n of ['attn.q_proj', 'attn.k_proj', 'attn.v_proj', 'attn.output_proj']) assert.equal(flopsOf(c, n), 251_658_240_000, n);
  // Q·Kᵀ: per head 2 · 1,024 · 64 · 1,024 = 134,217,728; · 25 heads · 48 layers = 161,061,273,600
  assert.equal(flopsOf(c, 'attn.scores'), 161_061_273_600);
  assert.equal(flopsOf(c, 'attn.weighted_values'), 161_061_273_600);
  // each FFN matrix: 2 · 1,024 · 1,600 · 6,400 · 48 = 1,006,632,960,000 (d_ff, not d_model: 4× the d_model·d_model mistake)
  for (const n of ['ffn.w1', 'ffn.w2', 'ffn.w3']) assert.equal(flopsOf(c, n), 1_006_632_960_000, n);
  // LM head: 2 · 1,024 · 1,600 · 50,257 = 164,682,137,600
  assert.equal(flopsOf(c, 'lm_head'), 164_682_137_600);
  // 4 · 251,658,240,000 + 2 · 161,061,273,600 + 3 · 1,006,632,960,000 + 164,682,137,600 = 4,513,336,524,800
  const f = forwardFlops(c);
  assert.equal(f.total, 4_513_336_524_800);
  assert.ok(Math.abs(f.matmuls.reduce((s, m) => s + m.share, 0) - 1) < 1e-12);
  // FFN share: 3,019,898,880,000 / 4,513,336,524,800 = 66.91 %
  assert.equal((100 * 3 * flopsOf(c, 'ffn.w1') / f.total).toFixed(2), '66.91');
});

test('GPT-2 XL at context 16,384: the T² terms grow 256×, the rest 16×', () => {
  const c = preset('gpt2-xl', { context: 16384 });
  // Q·Kᵀ: 2 · 16,384² · 1,600 · 48 = 41,231,686,041,600 (= 256 · 161,061,273,600)
  assert.equal(flopsOf(c, 'attn.scores'), 41_231_686_041_600);
  // total: 16 · (4,513,336,524,800 − 2 · 161,061,273,600) + 256 · 2 · 161,061,273,600
  //      = 16 · 4,191,213,977,600 + 82,463,372,083,200 = 67,059,423,641,600 + 82,463,372,083,200 = 149,522,795,724,800
  assert.equal(forwardFlops(c).total, 149_522_795_724_800);
});

test('GPT-2 XL: AdamW memory a·batch + b and the largest batch in 80 GB, by hand', () => {
  const c = preset('gpt2-xl');
  const m = trainingMemory(c, 2_127_057_600, 'fp32');
  // b = 4 values (param, grad, m, v) · 4 B · 2,127,057,600 = 34,032,921,600 B
  assert.equal(m.b, 34_032_921_600);
  assert.equal(m.optimizerState, 17_016_460_800);
  // activations per sequence (T = 1,024, D = 1,600, F = 6,400, H = 25, V = 50,257), values:
  //   per layer: norms 2·T·D + QKV 3·T·D + weighted values T·D + out proj T·D + W2 T·D = 8·1,024·1,600 = 13,107,200
  //              W1, W3, SiLU 3·T·F = 3·1,024·6,400 = 19,660,800;  QᵀK and softmax 2·H·T² = 50·1,048,576 = 52,428,800
  //              = 85,196,800; · 48 layers = 4,089,446,400
  //   final norm T·D = 1,638,400; logits and cross-entropy 2·T·V = 2 · 51,463,168 = 102,926,336
  //   = 4,194,011,136 values · 4 B = 16,776,044,544 B
  assert.equal(m.a, 16_776_044_544);
  assert.equal(memoryAtBatch(m, 2), 2 * 16_776_044_544 + 34_032_921_600);
  // (80e9 − 34,032,921,600) / 16,776,044,544 = 45,967,078,400 / 16,776,044,544 = 2.74 → 2
  assert.equal(maxBatch(m, 80e9), 2);
  assert.equal(maxBatch(m, 34_032_921_600 + 3 * 16_776_044_544), 3); // exactly fitting counts
  assert.equal(maxBatch(m, 34_032_921_600 + 16_776_044_544 - 1), 0);
});

test('GPT-2 XL: FLOPs per AdamW step and days on one A100 at 50% MFU, by hand', () => {
  const c = preset('gpt2-xl');
  const s = stepFlops(forwardFlops(c).total, 2_127_057_600, 1024);
  // forward: 1,024 · 4,513,336,524,800 = 4,621,656,601,395,200; forward + backward = 3× = 13,864,969,804,185,600
  assert.equal(s.forward, 4_621_656_601_395_200);
  assert.equal(s.model, 3 * 4_621_656_601_395_200);
  const t = trainingTime(s.model, 400_000, 19.5, 0.5);
  // 400,000 · 1.38649698e16 = 5.54598792e21 FLOPs / (19.5e12 · 0.5 FLOP/s) = 5.68819e8 s / 86,400 = 6,583.6 days
  assert.ok(Math.abs(t.days - 6583.556) < 0.01, String(t.days));
});

test('published worked answers (d_ff ≈ 8/3·d_model, rounded to a multiple of 64)', () => {
  // Parameter and forward-FLOP totals of a public CS336 write-up for the later handout revision.
  const cases: [string, number, number, number][] = [
    ['gpt2-small', 2048, 162_148_608, 291_648_307_200],
    ['gpt2-medium', 2752, 406_539_264, 830_172_299_264],
    ['gpt2-large', 3392, 833_591_040, 1_768_530_903_040],
    ['gpt2-xl', 4288, 1_640_452_800, 3_516_769_894_400],
  ];
  for (const [name, dFf, params, flops] of cases) {
    const c = preset(name, { dFf });
    assert.equal(parameterBreakdown(c).total, params, name);
    assert.equal(forwardFlops(c).total, flops, name);
  }
  assert.equal(forwardFlops(preset('gpt2-xl', { dFf: 4288, context: 16384 })).total, 133_577_729_638_400);
});

test('the handout answer for its ungated d_ff = 4·d_model FFN: N(16·T·D + 2·H·T²) + T·D + 2·T·V activations', () => {
  const c = resolveModelConfig({ vocab_size: 50257, context_length: 1024, num_layers: 48, d_model: 1600, num_heads: 25, d_ff: 6400, ffn: 'silu' });
  const [T, D, H, V, N] = [1024, 1600, 25, 50257, 48];
  const total = activationItems(c).reduce((s, i) => s + i.elements, 0);
  assert.equal(total, N * (16 * T * D + 2 * H * T * T) + T * D + 2 * T * V);
  // parameters with two FFN matrices of 4·D²: 2·V·D + N(12·D² + 2·D) + D
  assert.equal(parameterBreakdown(c).total, 2 * V * D + N * (12 * D * D + 2 * D) + D);
});

test('TinyStories model: about 17M non-embedding parameters, as the handout says', () => {
  const c = preset('cs336-tinystories');
  const p = parameterBreakdown(c);
  // per layer 4·512² + 3·512·1,344 + 2·512 = 1,048,576 + 2,064,384 + 1,024 = 3,113,984; · 4 = 12,455,936
  // + final norm 512 + LM head 10,000·512 = 5,120,000 → 17,576,448
  assert.equal(p.nonEmbedding, 17_576_448);
  assert.equal(p.total, 17_576_448 + 5_120_000);
});

test('architecture switches change exactly the affected counts', () => {
  const base = { vocab_size: 100, context_length: 32, d_model: 64, num_layers: 3, num_heads: 4, d_ff: 96 } as const;
  const count = (over: Partial<ModelConfig>): Record<string, number> => Object.fromEntries(parameterBreakdown(resolveModelConfig({ ...base, ...over })).components.map((x) => [x.name, x.count]));
  const sw = count({});
  assert.equal(sw.ffn, 3 * 3 * 64 * 96);
  assert.equal(count({ ffn: 'gelu' }).ffn, 3 * 2 * 64 * 96);
  assert.equal(count({ ffn: 'silu' }).ffn, 3 * 2 * 64 * 96);
  assert.equal(count({ tie_embeddings: true }).lm_head, 0);
  assert.equal(count({ position: 'learned' }).position_embeddings, 32 * 64);
  assert.equal(count({ norm: 'none' }).norms, 0);
  assert.equal(count({ norm: 'post' }).norms, 3 * 2 * 64); // no final norm after post-norm blocks
  assert.equal(count({ parallel: true }).norms, (3 + 1) * 64);
  assert.deepEqual({ ...count({ parallel: true }), norms: 0 }, { ...sw, norms: 0 });
  const flops = (over: Partial<ModelConfig>): number => forwardFlops(resolveModelConfig({ ...base, ...over })).total;
  // tied embeddings keep the LM head matmul; parallel blocks do the same matmuls
  assert.equal(flops({ tie_embeddings: true }), flops({}));
  assert.equal(flops({ parallel: true }), flops({}));
  assert.equal(flops({}) - flops({ ffn: 'gelu' }), 2 * 32 * 64 * 96 * 3);
});

test('bad input: one-line UserErrors that name the fix', (t) => {
  const oneLine = (fn: () => unknown, pattern: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof UserError && !e.message.includes('\n') && pattern.test(e.message));
  };
  oneLine(() => loadModelConfig({ preset: 'gpt2-xxl' }), /unknown model preset 'gpt2-xxl' \(did you mean 'gpt2-xl'\?\)/);
  oneLine(() => loadModelConfig({ preset: 'tinystories' }), /did you mean 'cs336-tinystories'/);
  oneLine(() => loadModelConfig({}), /exactly one of --model/);
  const dir = mkdtempSync(join(tmpdir(), 'lmpipe-acct-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, body: string): string => { const p = join(dir, name); writeFileSync(p, body); return p; };
  oneLine(() => loadModelConfig({ configPath: write('typo.json', JSON.stringify({ vocab_size: 10, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2, d_modle: 3 })) }), /unknown model config key "d_modle" \(did you mean "d_model"\?\)/);
  oneLine(() => loadModelConfig({ configPath: write('heads.json', JSON.stringify({ model: { vocab_size: 10, context_length: 8, d_model: 30, num_layers: 1, num_heads: 4 } })) }), /d_model \(30\) must be divisible by num_heads \(4\)/);
  oneLine(() => loadModelConfig({ configPath: write('bad.json', '{"vocab_size": 10,') }), /is not valid JSON/);
  oneLine(() => loadModelConfig({ configPath: join(dir, 'missing.json') }), /cannot read --config .*ENOENT/);
  oneLine(() => loadModelConfig({ preset: 'gpt2-small', context: 0 }), /context_length/);
  // a training config's "model" key, missing keys from the model defaults
  const fromTraining = loadModelConfig({ configPath: write('train.json', JSON.stringify({ lr: 1e-3, model: { vocab_size: 10, context_length: 8, d_model: 16, num_layers: 1, num_heads: 2 } })) }).config;
  assert.equal(fromTraining.ffn, 'swiglu');
  assert.equal(fromTraining.d_ff, 64); // 8/3 · 16 rounded up to a multiple of 64
  // a budget that fits no batch: an error when asked for explicitly, a zero otherwise
  const xl = preset('gpt2-xl');
  oneLine(() => accountModel(xl, 'gpt2-xl', { ...OPTS, memoryGb: 40 }), /--memory-gb 40: no batch fits: .*34\.03 GB.*16\.78 GB per sequence.*at least 50\.81/);
  assert.equal(accountModel(xl, 'gpt2-xl', { ...OPTS, memoryGb: 40, memoryExplicit: false }).memory.max_batch, 0);
});
