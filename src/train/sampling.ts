/**
 * Next-token sampling from logits (pure functions on one row of logits):
 * temperature scaling, top-k and top-p (nucleus) truncation, then a draw.
 * Temperature 0 means greedy (argmax). Probabilities are computed in
 * float64 with max subtraction.
 */
import type { Rng } from '../util/rng.ts';

export interface SamplingOptions {
  /** Softmax temperature; 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined = all). */
  topP?: number;
}

/** Validates sampling options (RangeError naming the bad value). */
export function checkSamplingOptions(o: SamplingOptions): void {
  const { temperature = 1, topK = 0, topP = 1 } = o;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`top-k must be an integer >= 0 (0 = off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must lie in (0, 1], got ${topP}`);
}

/** Index of the largest logit (first one on ties). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * The distribution the sampler draws from: softmax(logits / temperature),
 * restricted to the top-k tokens, then to the top-p nucleus, renormalized.
 * Temperature 0 gives a one-hot distribution on the argmax. Tokens tied at
 * the cut-off are ordered by id (lower id kept first) so the result is
 * deterministic.
 */
export function nextTokenDistribution(logits: ArrayLike<number>, options: SamplingOptions = {}): Float64Array {
  checkSamplingOptions(options);
  const { temperature = 1, topK = 0, topP = 1 } = options;
  const V = logits.length;
  const probs = new Float64Array(V);
  if (V === 0) return probs;
  if (temperature === 0) {
    probs[argmax(logits)] = 1;
    return probs;
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const e = Math.exp((logits[i] - max) / temperature);
    probs[i] = e;
    sum += e;
  }
  for (let i = 0; i < V; i++) probs[i] /= sum;
  const limitK = topK > 0 && topK < V;
  if (!limitK && topP >= 1) return probs;

  // Most likely first; ties by id for determinism.
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  let keep = limitK ? topK : V;
  if (topP < 1) {
    // Renormalize within the top-k first, then take the smallest prefix reaching topP.
    let kept = 0;
    for (let r = 0; r < keep; r++) kept += probs[order[r]];
    let cum = 0;
    for (let r = 0; r < keep; r++) {
      cum += probs[order[r]] / kept;
      if (cum >= topP) { keep = r + 1; break; }
    }
  }
  const out = new Float64Array(V);
  let total = 0;
  for (let r = 0; r < keep; r++) total += probs[order[r]];
  for (let r = 0; r < keep; r++) out[order[r]] = probs[order[r]] / total;
  return out;
}

/** Inverse-CDF draw from `probs` with a uniform `u` in [0, 1). */
export function drawFromDistribution(probs: ArrayLike<number>, u: number): number {
  let cum = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    cum += probs[i];
    last = i;
    if (u < cum) return i;
  }
  return last; // rounding: u at the very top of the range
}

/** Samples the next token id from one row of logits. */
export function sampleNextToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Rng): number {
  if ((options.temperature ?? 1) === 0) return argmax(logits);
  return drawFromDistribution(nextTokenDistribution(logits, options), rng.uniform());
}
