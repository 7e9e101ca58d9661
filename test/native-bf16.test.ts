/**
 * The native backend's bf16 matmul (native/src/gemm_bf16.cc, oneDNN loaded
 * at run time; src/backends/native/precision.ts): the fp32 → bf16 rounding
 * (nearest even, every conversion variant bit-identical); bf16 products
 * against fp64 references, for every transpose combination, batch offsets
 * (strided and broadcast) and odd shapes — within bf16 rounding of the exact
 * product, and within fp32 accumulation error of the product of the
 * bf16-rounded inputs (which tells fp32 accumulation from bf16); fp32 mode
 * unchanged bit for bit; a TransformerLM forward + backward in bf16 close to
 * fp32; and the fallback to fp32, with its reason, when oneDNN is blocked or
 * has no bf16 matmul for the CPU (ONEDNN_MAX_CPU_ISA=AVX2 in a child).
 *
 * Skips (with the reason) without the addon, and the bf16 tests without oneDNN.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { tryLoadNative } from '../src/backends/native/addon.ts';
import type { NativeAddon, NativeBf16ConvertIsa } from '../src/backends/native/addon.ts';
import {
  bf16Stats, bf16Support, matmulPrecision, resetBf16Stats, roundToBf16, setMatmulPrecision, setOnednnBlocked, withMatmulPrecision,
} from '../src/backends/native/precision.ts';
import { NATIVE_BACKEND } from '../src/backends/native/register.ts';
import { installNativeOps } from '../src/backends/native/fused.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { initParameters } from '../src/model/params.ts';
import { crossEntropy } from '../src/train/loss.ts';
import { Rng } from '../src/util/rng.ts';
import { nativeSkip } from './native-helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const skip = nativeSkip();
const addon = tryLoadNative() as NativeAddon;
const support = skip ? null : bf16Support();
const bf16Skip: string | false = skip || (support && !support.available ? `bf16 unavailable: ${support.reason}` : false);

/** Reference fp32 → bf16 → fp32 rounding on the bit pattern (nearest even; NaN stays a quiet NaN). */
function refRound(x: Float32Array): Float32Array {
  const u = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  for (let i = 0; i < u.length; i++) {
    const v = u[i];
    if ((v & 0x7fffffff) >>> 0 > 0x7f800000) u[i] = ((v | 0x00400000) & 0xffff0000) >>> 0;
    else u[i] = ((v + 0x7fff + ((v >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
  return new Float32Array(u.buffer);
}

function bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}

test('bf16 rounding: nearest even on the bit pattern, every conversion variant identical', { skip }, () => {
  const special = new Uint32Array([
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, // ±0, ±1
    0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, // ties to even (down, up), just above / below a tie
    0x00000001, 0x00008000, 0x00018000, 0x807fffff, // denormals, rounded (not flushed)
    0x7f7fffff, 0xff7fffff, 0x7f7f7fff, // largest finite: rounds to ±inf; just below stays finite
    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff, // ±inf, NaNs (a signalling one stays NaN)
  ]);
  const rng = new Rng(3);
  const n = 1000 + 7; // tails after the 32- and 16-wide loops
  const x = new Float32Array(n);
  x.set(new Float32Array(special.buffer));
  for (let i = special.length; i < n; i++) x[i] = (rng.uniform() - 0.5) * 2 ** (rng.intBelow(60) - 30);
  const want = refRound(x);
  const variants = addon.precisionInfo().convertIsas;
  assert.equal(variants[0], 'scalar');
  for (const v of variants) {
    const got = roundToBf16(x, v);
    const gb = bits(got), wb = bits(want);
    for (let i = 0; i < n; i++) assert.equal(gb[i], wb[i], `${v}: x[${i}] = 0x${bits(x)[i].toString(16)} → 0x${gb[i].toString(16)}, want 0x${wb[i].toString(16)}`);
    assert.ok(Number.isNaN(got[special.length - 1]) && Number.isNaN(got[special.length - 3]), 'NaN stays NaN');
  }
  assert.equal(want[12], Infinity);
  assert.throws(() => addon.bf16Round(x, new Float32Array(n), 'sse9' as NativeBf16ConvertIsa), /not a conversion variant/);
});

interface Case { m: number; n: number; k: number; batch: number; aoff: number[]; boff: number[]; aLen: number; bLen: number }

/** Cases: single products (tiny, k = 1, odd sizes, sizes the pool splits by rows and by columns) and batches. */
function cases(): Case[] {
  const out: Case[] = [];
  const single = (m: number, n: number, k: number): void => { out.push({ m, n, k, batch: 1, aoff: [0], boff: [0], aLen: m * k, bLen: k * n }); };
  single(1, 1, 1);
  single(1, 5, 1);
  single(7, 3, 1);
  single(1, 40, 33);
  single(17, 33, 19);
  single(64, 64, 64);
  single(130, 70, 45);
  single(300, 257, 129); // ≥ 4 MFLOP: row blocks across the pool
  single(40, 600, 200); // wider than tall: column blocks
  // A batch with strided offsets that do not start at 0, and one with a broadcast B.
  const [m, n, k] = [9, 21, 35];
  out.push({ m, n, k, batch: 3, aoff: [5, 5 + m * k, 5 + 2 * m * k], boff: [3, 3 + k * n, 3 + 2 * k * n], aLen: 5 + 3 * m * k, bLen: 3 + 3 * k * n });
  out.push({ m, n, k, batch: 4, aoff: [0, m * k, 2 * m * k, 3 * m * k], boff: [7, 7, 7, 7], aLen: 4 * m * k, bLen: 7 + k * n });
  // A big batch entry the pool splits (batch 1 with a non-zero offset).
  out.push({ m: 200, n: 150, k: 160, batch: 1, aoff: [11], boff: [13], aLen: 11 + 200 * 160, bLen: 13 + 160 * 150 });
  return out;
}

/** Element (i, j) of op(X) for a row-major stored matrix at `off`: op(X) is r×c, stored c×r when transposed. */
function at(x: Float32Array | Float64Array, off: number, i: number, j: number, r: number, c: number, t: boolean): number {
  return t ? x[off + j * r + i] : x[off + i * c + j];
}

test('bf16 matmul: within bf16 rounding of fp32, and fp32 accumulation of the bf16-rounded inputs, every transpose, batch and odd shape', { skip: bf16Skip }, () => {
  const rng = new Rng(11);
  const z = (n: number): Float64Array => new Float64Array(n);
  for (const cs of cases()) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const { m, n, k, batch } = cs;
        const what = `${batch}×(${m}×${k})·(${k}×${n}) ta=${ta} tb=${tb}`;
        const a = new Float32Array(cs.aLen).map(() => rng.uniform() * 2 - 1);
        const b = new Float32Array(cs.bLen).map(() => rng.uniform() * 2 - 1);
        const ar = refRound(a), br = refRound(b);
        const c = new Float32Array(batch * m * n);
        const aoff = Float64Array.from(cs.aoff), boff = Float64Array.from(cs.boff);
        resetBf16Stats();
        assert.equal(addon.setPrecision('bf16'), 'bf16');
        addon.matmul(a, b, c, batch, aoff, boff, m, n, k, ta, tb);
        addon.setPrecision('fp32');
        const stats = bf16Stats();
        assert.equal(stats?.calls, 1, `${what}: ran on the bf16 path`);
        assert.equal(stats?.fallbacks, 0, `${what}: ${stats?.lastError}`);
        const c32 = new Float32Array(batch * m * n);
        addon.matmul(a, b, c32, batch, aoff, boff, m, n, k, ta, tb);
        let errNum = 0, errDen = 0, roundNum = 0, differs = false;
        const exact = z(1), rounded = z(1), absSum = z(1);
        for (let e = 0; e < batch; e++) {
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              exact[0] = 0; rounded[0] = 0; absSum[0] = 0;
              for (let p = 0; p < k; p++) {
                const av = at(a, cs.aoff[e], i, p, m, k, ta), bv = at(b, cs.boff[e], p, j, k, n, tb);
                const arv = at(ar, cs.aoff[e], i, p, m, k, ta), brv = at(br, cs.boff[e], p, j, k, n, tb);
                exact[0] += av * bv;
                rounded[0] += arv * brv;
                absSum[0] += Math.abs(av * bv);
              }
              const got = c[e * m * n + i * n + j];
              if (got !== c32[e * m * n + i * n + j]) differs = true;
              // Products of bf16 values are exact in fp32, so the only error
              // against the fp64 product of the rounded inputs is fp32
              // summation: at most k·2^-24·Σ|a·b| in any order. bf16
              // accumulation would err by ~2^-9·Σ|a·b|, far above it.
              const accTol = k * 2 ** -24 * absSum[0] * 1.01 + 1e-30;
              assert.ok(Math.abs(got - rounded[0]) <= accTol, `${what}: c[${e},${i},${j}] = ${got}, bf16-rounded reference ${rounded[0]} (tolerance ${accTol})`);
              // Rounding an input to bf16 (8 significant bits) moves it by at
              // most 2^-8 relative, so each product by at most 2^-7 + 2^-16.
              const bfTol = (2 ** -7 + 2 ** -16 + k * 2 ** -24) * absSum[0] * 1.01 + 1e-30;
              assert.ok(Math.abs(got - exact[0]) <= bfTol, `${what}: c[${e},${i},${j}] = ${got}, exact ${exact[0]}`);
              errNum += (got - exact[0]) ** 2;
              errDen += exact[0] ** 2;
              roundNum += (got - rounded[0]) ** 2;
            }
          }
        }
        const rel = Math.sqrt(errNum / errDen), relRounded = Math.sqrt(roundNum / errDen);
        // Independent rounding errors of random-sign terms: ~0.8·2^-8 whatever k is.
        assert.ok(rel <= 2 ** -7 * 1.01, `${what}: normwise error vs fp32 ${rel}`);
        assert.ok(relRounded <= 1e-5, `${what}: normwise error vs the bf16-rounded fp64 product ${relRounded}`);
        if (k > 1 && m * n > 1) assert.ok(differs, `${what}: bf16 result is not the fp32 one (the bf16 path really ran)`);
      }
    }
  }
  const info = addon.precisionInfo();
  assert.ok(info.impls.length > 0 && info.primitives > 0);
});

test('fp32 mode is unchanged: the same bits before bf16, after switching back, and while oneDNN is blocked', { skip }, () => {
  const rng = new Rng(5);
  const [m, n, k] = [150, 260, 170];
  const a = new Float32Array(m * k).map(() => rng.uniform() - 0.5);
  const b = new Float32Array(k * n).map(() => rng.uniform() - 0.5);
  const z = new Float64Array([0]);
  const run = (ta: boolean, tb: boolean): Float32Array => {
    const c = new Float32Array(m * n);
    addon.matmul(a, b, c, 1, z, z, m, n, k, ta, tb);
    return c;
  };
  assert.equal(addon.setPrecision('fp32'), 'fp32');
  for (const [ta, tb] of [[false, false], [true, true], [true, false], [false, true]] as const) {
    const before = run(ta, tb);
    const active = addon.setPrecision('bf16');
    const inBf16 = run(ta, tb);
    addon.setPrecision('fp32');
    const after = run(ta, tb);
    setOnednnBlocked(true);
    const blocked = run(ta, tb);
    setOnednnBlocked(false);
    assert.deepEqual(bits(after), bits(before), 'fp32 after bf16: same bits');
    assert.deepEqual(bits(blocked), bits(before), 'fp32 while blocked: same bits');
    if (active === 'bf16') assert.notDeepEqual(bits(inBf16), bits(before), 'bf16 is a different computation');
  }
});

test('fallback: with oneDNN blocked, bf16 is unavailable with a reason, requests stay fp32, an active bf16 returns to fp32', { skip }, async () => {
  try {
    setMatmulPrecision('bf16');
    setOnednnBlocked(true);
    assert.equal(matmulPrecision(), 'fp32', 'blocking switches bf16 off');
    const s = bf16Support();
    assert.equal(s.available, false);
    assert.match(s.reason ?? '', /blocked/);
    const choice = setMatmulPrecision('bf16');
    assert.deepEqual(choice, { precision: 'fp32', reason: s.reason });
    assert.equal(addon.setPrecision('bf16'), 'fp32');
    await withMatmulPrecision('bf16', (c) => { assert.equal(c.precision, 'fp32'); });
  } finally {
    setOnednnBlocked(false);
    setMatmulPrecision('fp32');
  }
  // Unblocked, it is as before.
  assert.equal(bf16Support().available, support?.available);
  assert.throws(() => addon.setPrecision('fp16' as 'bf16'), /"fp32" or "bf16"/);
});

/** Runs `code` (an ES module) in a child node with `env` added; returns its last stdout line as JSON. */
async function child(code: string, env: Record<string, string>): Promise<Record<string, unknown>> {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  p.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const status = await new Promise<number | null>((resolve, reject) => { p.once('error', reject); p.once('close', resolve); });
  assert.equal(status, 0, stderr);
  return JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
}

test('fallback: oneDNN without a bf16 matmul for the CPU (ONEDNN_MAX_CPU_ISA=AVX2) leaves fp32 active and says why', { skip: bf16Skip }, async () => {
  const r = await child(`
    import { bf16Support, setMatmulPrecision } from './src/backends/native/precision.ts';
    import { loadNative } from './src/backends/native/addon.ts';
    const a = loadNative();
    const choice = setMatmulPrecision('bf16');
    const c = new Float32Array(4), z = new Float64Array([0]);
    a.matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 0, 0, 1]), c, 1, z, z, 2, 2, 2, false, false);
    console.log(JSON.stringify({ support: bf16Support(), choice, c: Array.from(c) }));`, { ONEDNN_MAX_CPU_ISA: 'AVX2' });
  const s = r.support as { available: boolean; reason: string; isa: string; hardwareBf16: boolean };
  assert.equal(s.available, false);
  assert.equal(s.isa, 'avx2');
  assert.equal(s.hardwareBf16, false);
  assert.match(s.reason, /no bf16 matmul on this CPU \(effective ISA avx2\)/);
  assert.deepEqual(r.choice, { precision: 'fp32', reason: s.reason });
  assert.deepEqual(r.c, [1, 2, 3, 4]);
});

// ------------------------------------------------------------ the model
const config = resolveModelConfig({ vocab_size: 97, context_length: 32, d_model: 64, num_layers: 2, num_heads: 4, d_ff: 176 });

/** Loss and gradients of one batch (forward, mean cross-entropy, backward) on the native backend with the fused ops. */
function lossAndGrads(model: TransformerLM, x: Tensor, y: Tensor): { loss: number; grads: Map<string, Float32Array> } {
  const nameOf = new Map<string, string>();
  for (const [name, v] of Object.entries(model.params)) nameOf.set(v.name, name);
  const r = tf.variableGrads(() => crossEntropy(model.forward(x, { training: true, rng: null }), y) as tf.Scalar, model.variables());
  const grads = new Map<string, Float32Array>();
  for (const [name, g] of Object.entries(r.grads)) {
    grads.set(nameOf.get(name) ?? name, g.dataSync() as Float32Array);
    g.dispose();
  }
  const loss = r.value.dataSync()[0];
  r.value.dispose();
  return { loss, grads };
}

test('TransformerLM forward + backward in bf16 is within bf16 tolerance of fp32 (loss; gradients by relative norm)', { skip: bf16Skip }, async () => {
  assert.ok(await tf.setBackend(NATIVE_BACKEND));
  const restore = installNativeOps();
  const model = new TransformerLM(config, initParameters(config, new Rng(21)));
  const rng = new Rng(8);
  const B = 4, T = config.context_length;
  const xs = new Int32Array(B * T).map(() => rng.intBelow(config.vocab_size));
  const ys = new Int32Array(B * T).map(() => rng.intBelow(config.vocab_size));
  const x = tf.tensor2d(xs, [B, T], 'int32'), y = tf.tensor2d(ys, [B, T], 'int32');
  try {
    setMatmulPrecision('fp32');
    const f32 = lossAndGrads(model, x, y);
    resetBf16Stats();
    const bf = await withMatmulPrecision('bf16', (c) => {
      assert.equal(c.precision, 'bf16');
      return lossAndGrads(model, x, y);
    });
    assert.equal(matmulPrecision(), 'fp32', 'restored');
    const stats = bf16Stats();
    // Forward: 4 per layer (q, k, v, o) + 3 (SwiGLU) + the LM head; backward: two per forward product.
    assert.ok((stats?.calls ?? 0) >= 3 * (7 * config.num_layers + 1), `bf16 matmuls ran: ${JSON.stringify(stats)}`);
    assert.equal(stats?.fallbacks, 0, `no bf16 matmul ran in fp32: ${stats?.lastError}`);
    assert.ok(Math.abs(bf.loss - f32.loss) / f32.loss < 2e-3, `loss fp32 ${f32.loss}, bf16 ${bf.loss}`);
    assert.notEqual(bf.loss, f32.loss, 'bf16 changed the computation');
    const worst: string[] = [];
    for (const [name, g32] of f32.grads) {
      const g16 = bf.grads.get(name) as Float32Array;
      let num = 0, den = 0;
      for (let i = 0; i < g32.length; i++) { num += (g16[i] - g32[i]) ** 2; den += g32[i] ** 2; }
      const rel = Math.sqrt(num / den);
      worst.push(`${name} ${rel.toExponential(2)}`);
      assert.ok(rel < 3e-2, `gradient ${name}: relative error ${rel}`);
    }
    process.stderr.write(`bf16 vs fp32: loss ${f32.loss} vs ${bf.loss}; gradient relative errors ${worst.join(', ')}\n`);
  } finally {
    x.dispose();
    y.dispose();
    model.dispose();
    restore();
    setMatmulPrecision('fp32');
  }
});
