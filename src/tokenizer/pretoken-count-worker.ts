/**
 * The counting task: one unit of bytes in, its unique pretokens with counts
 * out (compact typed arrays), by the native core or the TypeScript one.
 * It is the default export so that piscina can run it on a worker thread; the main thread calls the same function when
 * counting in-process.
 */
import { isMainThread } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { CountStats, PretokenCounts } from './pretoken-count.ts';
import { createUnitCounter, type UnitCounter } from './native-tokenizer.ts';

/** One unit to count; its buffer is moved to the worker. */
export interface CountTask {
  data: Uint8Array;
  specialTokens: readonly string[];
  /** The core that counts (resolved: 'native' only where the addon loads). */
  engine: 'native' | 'ts';
}

/** Unique pretokens of a chunk and its tallies. */
export interface CountTaskResult {
  counts: PretokenCounts;
  stats: CountStats;
  /** The unit's memory, done with (moved back from a worker): the caller may reuse it. */
  spent?: ArrayBuffer;
}

/** The counter of this thread, rebuilt when the special tokens or the engine change. */
let counter: UnitCounter | null = null;
let counterKey = '';

/** Counts one unit. On a worker thread the result's arrays are transferred, not copied. */
export default function countTask(task: CountTask): CountTaskResult {
  const key = `${task.engine}\0${JSON.stringify(task.specialTokens)}`;
  if (!counter || key !== counterKey) {
    counter?.release();
    counter = createUnitCounter(task.specialTokens, task.engine);
    counterKey = key;
  }
  const { counts, stats } = counter.count(task.data, task.data.length);
  const spent = task.data.buffer instanceof ArrayBuffer ? task.data.buffer : undefined;
  const result: CountTaskResult = { counts, stats, ...(spent ? { spent } : {}) };
  if (isMainThread) return result;
  return Piscina.move({
    [Piscina.transferableSymbol]: [counts.bytes.buffer, counts.lens.buffer, counts.counts.buffer, ...(spent ? [spent] : [])],
    [Piscina.valueSymbol]: result,
  } as unknown as ArrayBuffer) as unknown as CountTaskResult;
}
