/**
 * One optimizer step and the validation loss, on a TransformerLM:
 * forward → mean cross-entropy → gradients (tf.variableGrads) → clipping by
 * global norm → AdamW at the scheduled learning rate. Loss and gradient norm
 * are read with `await t.data()` (never dataSync, which WebGPU forbids) and
 * checked BEFORE the update, so a non-finite step never touches the
 * parameters.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { TransformerLM } from '../model/model.ts';
import type { Rng } from '../util/rng.ts';
import type { AdamW } from './adamw.ts';
import type { Batch } from './batch-sampler.ts';
import type { TokenSource } from '../tokenizer/token-reader.ts';
import { sequentialBatches } from './batch-sampler.ts';
import { clipGradNorm } from './grad-clip.ts';
import { crossEntropy } from './loss.ts';

/** Raised when the loss or the gradient norm is NaN/±Infinity. */
export class NonFiniteError extends Error {
  readonly loss: number;
  readonly gradNorm: number;
  constructor(loss: number, gradNorm: number) {
    super(`non-finite ${Number.isFinite(loss) ? 'gradient norm' : 'loss'} (loss ${loss}, grad norm ${gradNorm})`);
    this.name = 'NonFiniteError';
    this.loss = loss;
    this.gradNorm = gradNorm;
  }
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** The first id >= vocabSize (or < 0) in `ids`, or -1. */
export function firstOutOfVocab(ids: Int32Array, vocabSize: number): number {
  for (let i = 0; i < ids.length; i++) if (ids[i] >= vocabSize || ids[i] < 0) return i;
  return -1;
}

function batchTensors(batch: Batch): { x: Tensor; y: Tensor } {
  const shape: [number, number] = [batch.batchSize, batch.contextLength];
  return { x: tf.tensor2d(batch.x, shape, 'int32'), y: tf.tensor2d(batch.y, shape, 'int32') };
}

/**
 * Forward + backward + clip + AdamW update for one batch. Throws
 * NonFiniteError (parameters unchanged) when the loss or norm is not finite.
 */
export async function trainStep(
  model: TransformerLM,
  optimizer: AdamW,
  batch: Batch,
  lr: number,
  gradClip: number,
  dropoutRng: Rng | null,
): Promise<StepResult> {
  const { x, y } = batchTensors(batch);
  const vars = model.variables();
  const nameOf = new Map<string, string>();
  for (const [name, v] of Object.entries(model.params)) nameOf.set(v.name, name);
  let value: Tensor | null = null;
  let rawGrads: Record<string, Tensor> = {};
  let clipped: Record<string, Tensor> = {};
  let norm: Tensor | null = null;
  try {
    const r = tf.variableGrads(() => {
      const logits = model.forward(x, { training: true, rng: dropoutRng });
      const loss = crossEntropy(logits, y);
      logits.dispose();
      return loss as tf.Scalar;
    }, vars);
    value = r.value;
    for (const [varName, g] of Object.entries(r.grads)) rawGrads[nameOf.get(varName) ?? varName] = g;
    const c = clipGradNorm(rawGrads, gradClip);
    clipped = c.grads;
    norm = c.norm;
    const [lossData, normData] = await Promise.all([value.data(), norm.data()]);
    const loss = lossData[0];
    const gradNorm = normData[0];
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new NonFiniteError(loss, gradNorm);
    optimizer.applyGradients(clipped, lr);
    return { loss, gradNorm };
  } finally {
    tf.dispose([x, y, ...(value ? [value] : []), ...(norm ? [norm] : []), ...Object.values(rawGrads), ...Object.values(clipped)]);
    rawGrads = {};
    clipped = {};
  }
}

/**
 * Mean next-token loss over the first `maxBatches` batches of consecutive
 * non-overlapping windows of `source` (the same windows every time, so
 * evaluations are comparable across steps and runs).
 */
export async function evaluate(
  model: TransformerLM,
  source: TokenSource,
  batchSize: number,
  maxBatches: number,
): Promise<{ loss: number; tokens: number }> {
  const T = model.config.context_length;
  let sum = 0;
  let tokens = 0;
  for (const batch of sequentialBatches(source, batchSize, T, maxBatches)) {
    const { x, y } = batchTensors(batch);
    const loss = tf.tidy(() => {
      const logits = model.forward(x);
      return crossEntropy(logits, y);
    });
    const data = await loss.data();
    tf.dispose([x, y, loss]);
    const n = batch.batchSize * T;
    sum += data[0] * n;
    tokens += n;
  }
  return { loss: sum / tokens, tokens };
}
