/**
 * Language-modeling batches from a token source (CS336 `get_batch`):
 * a window of context_length + 1 consecutive tokens gives the inputs x (the
 * first T) and the targets y (the last T, shifted by one).
 *
 * - `sampleBatch`: B windows at uniformly random starts in
 *   [0, length − T − 1], drawn from a seeded `Rng` so a run is reproducible
 *   and resumable (the RNG state goes into checkpoints).
 * - `sequentialBatches`: consecutive non-overlapping windows in file order
 *   (window i starts at i·(T+1)), a shorter tail dropped, for validation.
 */
import type { Rng } from '../util/rng.ts';
import type { TokenSource } from '../tokenizer/token-reader.ts';
import { UserError } from '../pipeline/errors.ts';

/** A batch as row-major (B, T) int32 arrays. */
export interface Batch {
  x: Int32Array;
  y: Int32Array;
  batchSize: number;
  contextLength: number;
  /** Start token of each window. */
  starts: number[];
}

function checkShape(source: TokenSource, batchSize: number, contextLength: number, what: string): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(contextLength) || contextLength < 1) throw new RangeError(`context length must be a positive integer, got ${contextLength}`);
  if (source.length < contextLength + 1) {
    throw new UserError(`${what} has ${source.length} tokens, fewer than context_length + 1 = ${contextLength + 1}; use more data or a shorter context`);
  }
}

/** Fills a batch from the given window starts (one read of T+1 tokens each). */
export function batchAt(source: TokenSource, starts: readonly number[], contextLength: number, window?: Int32Array): Batch {
  const T = contextLength;
  const B = starts.length;
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  const buf = window && window.length >= T + 1 ? window : new Int32Array(T + 1);
  for (let b = 0; b < B; b++) {
    source.read(starts[b], T + 1, buf, 0);
    x.set(buf.subarray(0, T), b * T);
    y.set(buf.subarray(1, T + 1), b * T);
  }
  return { x, y, batchSize: B, contextLength: T, starts: [...starts] };
}

/** Number of distinct window starts: length − T (starts 0 … length − T − 1). */
export function windowCount(length: number, contextLength: number): number {
  return Math.max(0, length - contextLength);
}

/** B random windows (CS336 get_batch), starts drawn from `rng`. */
export function sampleBatch(source: TokenSource, rng: Rng, batchSize: number, contextLength: number, what = 'the training data'): Batch {
  checkShape(source, batchSize, contextLength, what);
  const n = windowCount(source.length, contextLength);
  const starts = new Array<number>(batchSize);
  // intBelow is exact up to 2^32 starts; beyond (a > 8 GB uint16 file) 53-bit uniforms are unbiased enough.
  for (let b = 0; b < batchSize; b++) starts[b] = n <= 4294967296 ? rng.intBelow(n) : Math.floor(rng.uniform() * n);
  return batchAt(source, starts, contextLength);
}

/** Number of non-overlapping windows of T+1 tokens (the tail is dropped). */
export function sequentialWindowCount(length: number, contextLength: number): number {
  return Math.floor(length / (contextLength + 1));
}

/**
 * Consecutive non-overlapping windows (start i·(T+1)) in batches of up to
 * `batchSize`, at most `maxBatches` batches (all when omitted). The last
 * batch may be smaller.
 */
export function* sequentialBatches(source: TokenSource, batchSize: number, contextLength: number, maxBatches = Infinity, what = 'the validation data'): Generator<Batch> {
  checkShape(source, batchSize, contextLength, what);
  const windows = sequentialWindowCount(source.length, contextLength);
  let next = 0;
  const scratch = new Int32Array(contextLength + 1);
  for (let made = 0; made < maxBatches && next < windows; made++) {
    const count = Math.min(batchSize, windows - next);
    const starts = Array.from({ length: count }, (_, i) => (next + i) * (contextLength + 1));
    next += count;
    yield batchAt(source, starts, contextLength, scratch);
  }
}
