/**
 * The counting task: one unit of bytes in, its unique pretokens with counts
 * out (compact typed arrays). It is the default export so that piscina can
 * run it on a worker thread; the main thread calls the same function when
 * counting in-process.
 */
import { isMainThread } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { PretokenTable, countChunk, emptyCountStats, type CountStats, type PretokenCounts } from './pretoken-count.ts';
import { SpecialMatcher } from './special-split.ts';

/** One unit to count; its buffer is moved to the worker. */
export interface CountTask {
  data: Uint8Array;
  specialTokens: readonly string[];
}

/** Unique pretokens of a chunk and its tallies. */
export interface CountTaskResult {
  counts: PretokenCounts;
  stats: CountStats;
}

let table: PretokenTable | null = null;
let matcherKey = '';
let matcher: SpecialMatcher | null = null;

/** Counts one chunk. On a worker thread the result's arrays are transferred, not copied. */
export default function countTask(task: CountTask): CountTaskResult {
  const key = JSON.stringify(task.specialTokens);
  if (!matcher || key !== matcherKey) {
    matcher = new SpecialMatcher(task.specialTokens);
    matcherKey = key;
  }
  // A table kept between tasks avoids re-growing it for every chunk.
  if (!table || isMainThread) table = new PretokenTable(1 << 16);
  else table.clear();
  const stats = emptyCountStats();
  countChunk(task.data, task.data.length, matcher, table, stats);
  const counts = table.toCounts();
  const result: CountTaskResult = { counts, stats };
  if (isMainThread) return result;
  return Piscina.move({
    [Piscina.transferableSymbol]: [counts.bytes.buffer, counts.lens.buffer, counts.counts.buffer],
    [Piscina.valueSymbol]: result,
  } as unknown as ArrayBuffer) as unknown as CountTaskResult;
}
