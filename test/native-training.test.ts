/**
 * End to end: 50 training steps (lmpipe's trainStep: forward, cross-entropy,
 * backward, clipping, AdamW) of a tiny TransformerLM on a learnable token
 * stream, once on the stock cpu backend with the plain ops and once on the
 * native backend with the fused ops, from the same initial weights and
 * batches. The loss curves agree within 1e-4 and the loss goes down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { resolveModelConfig } from '../src/model/config.ts';
import { TransformerLM } from '../src/model/model.ts';
import { initParameters } from '../src/model/params.ts';
import { AdamW } from '../src/train/adamw.ts';
import type { Batch } from '../src/train/batch-sampler.ts';
import { trainStep } from '../src/train/train-step.ts';
import { NATIVE_BACKEND } from '../src/backends/native/register.ts';
import { installNativeOps } from '../src/backends/native/fused.ts';
import { Rng } from '../src/util/rng.ts';
import { nativeSkip } from './native-helpers.ts';

const skip = nativeSkip();

const config = resolveModelConfig({ vocab_size: 61, context_length: 16, d_model: 32, num_layers: 2, num_heads: 4, d_ff: 48 });
const STEPS = 50;
const B = 4;

/** Windows of a deterministic stream (x → 7x + 3 mod V with occasional random resets), so there is something to learn. */
function batches(): Batch[] {
  const rng = new Rng(99);
  const T = config.context_length;
  const V = config.vocab_size;
  const out: Batch[] = [];
  for (let s = 0; s < STEPS; s++) {
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      let tok = rng.intBelow(V);
      for (let t = 0; t <= T; t++) {
        const next = rng.intBelow(10) === 0 ? rng.intBelow(V) : (7 * tok + 3) % V;
        if (t < T) x[b * T + t] = tok;
        if (t > 0) y[b * T + t - 1] = tok;
        tok = next;
      }
    }
    out.push({ x, y, batchSize: B, contextLength: T, starts: [] });
  }
  return out;
}

async function lossCurve(backend: string): Promise<number[]> {
  assert.ok(await tf.setBackend(backend));
  const restore = backend === NATIVE_BACKEND ? installNativeOps() : (): void => {};
  const model = new TransformerLM(config, initParameters(config, new Rng(5)));
  const optimizer = new AdamW(model.params, { lr: 3e-3, weightDecay: 0.01 });
  const losses: number[] = [];
  try {
    for (const batch of batches()) losses.push((await trainStep(model, optimizer, batch, 3e-3, 1.0, null)).loss);
  } finally {
    optimizer.dispose();
    model.dispose();
    restore();
  }
  return losses;
}

test('50 training steps: native + fused ops follow the stock cpu loss curve within 1e-4', { skip }, async () => {
  const reference = await lossCurve('cpu');
  const native = await lossCurve(NATIVE_BACKEND);
  assert.equal(native.length, STEPS);
  let worst = 0;
  for (let i = 0; i < STEPS; i++) worst = Math.max(worst, Math.abs(native[i] - reference[i]));
  assert.ok(worst <= 1e-4, `max |loss difference| ${worst} > 1e-4 (cpu ${reference.slice(-3)}, native ${native.slice(-3)})`);
  assert.ok(reference[STEPS - 1] < reference[0] - 0.5, `the loss should fall: ${reference[0]} → ${reference[STEPS - 1]}`);
});
