/**
 * count: splits each work unit on special tokens, pretokenizes the pieces
 * (GPT-2 pattern) and counts the pretokens, on worker threads; the calling
 * thread counts a unit itself whenever no started thread is idle (thread
 * start-up is slow under tsx, and small inputs never wait for it). Each unit
 * becomes a compact table of its unique pretokens; the `tally` sink adds
 * them up, in the native addon's hash table when the native core counted
 * (else in the TypeScript `PretokenTable`). Memory grows with unique
 * pretokens and the threads, never with the corpus.
 */
import type { Sink, Stage } from '../pipeline/stage.ts';
import { OrderedPool } from '../pipeline/worker-pool.ts';
import { addCountStats, emptyCountStats, type CountStats, type PretokenCounts } from '../tokenizer/pretoken-count.ts';
import countTask, { type CountTask, type CountTaskResult } from '../tokenizer/pretoken-count-worker.ts';
import type { Unit } from './items.ts';
import { recycleChunk } from './formats/chunks.ts';
import { resolveEngine, type TokenizerEngine } from '../tokenizer/tokenizer-engine.ts';
import { createUnitTally, type UnitTally } from '../tokenizer/native-tokenizer.ts';

/** The pretokens of one unit. */
export interface UnitCounts extends CountTaskResult {
  /** The unit ends inside a piece of text that the next unit goes on with. */
  continues: boolean;
  /** The core that counted it; the tally sink adds natively what the native core counted. */
  engine: 'native' | 'ts';
}

export interface CountPretokensOptions {
  specialTokens: readonly string[];
  /** Counting threads; 0 counts on the calling thread only. */
  workers: number;
  /** The tokenizer core: 'auto' (native when the addon is built), 'native' or 'ts'. */
  engine?: TokenizerEngine;
}

/** The count stage; `close()` stops its threads. */
export interface CountStage extends Stage<Unit, UnitCounts> {
  /** The core that counts, and why 'auto' fell back to TypeScript. */
  readonly engine: 'native' | 'ts';
  readonly fallbackReason?: string;
  /** Units the calling thread counted itself. */
  readonly unitsOnMainThread: number;
  /** Why a worker thread could not start (the calling thread then did its work), or null. */
  readonly threadStartError: Error | null;
  close(): Promise<void>;
}

/** The count stage. */
export function countPretokens(o: CountPretokensOptions): CountStage {
  const specialTokens = [...o.specialTokens];
  const { engine, fallbackReason } = resolveEngine(o.engine ?? 'auto');
  const pool = new OrderedPool<CountTask, CountTaskResult>({
    filename: new URL('../tokenizer/pretoken-count-worker.ts', import.meta.url),
    workers: o.workers,
    inline: countTask,
    transfer: (t) => [t.data.buffer],
    mainThreadHelps: true,
    probe: () => ({ data: new Uint8Array(8), specialTokens, engine }),
  });
  return {
    name: 'count',
    engine,
    ...(fallbackReason ? { fallbackReason } : {}),
    description: `split on special tokens, pretokenize (GPT-2 pattern) and count pretokens (${engine} core) on worker threads`,
    bytesOf: (r) => r.stats.bytes,
    get unitsOnMainThread() { return pool.itemsOnMainThread; },
    get threadStartError() { return pool.threadStartError; },
    close: () => pool.close(),
    async *run(source) {
      const continues: boolean[] = [];
      async function* tasks(): AsyncGenerator<CountTask> {
        for await (const u of source) {
          continues.push(u.continues === true);
          yield { data: u.data, specialTokens, engine };
        }
      }
      for await (const { spent, ...r } of pool.map(tasks())) {
        // The unit's bytes are counted: their memory can hold the reader's next chunk.
        if (spent) recycleChunk(spent);
        yield { ...r, continues: continues.shift() as boolean, engine };
      }
    },
  };
}

/** Counting result over a whole stream. */
export interface StreamCounts {
  /** Unique pretokens with their counts. */
  counts: PretokenCounts;
  stats: CountStats;
  /** Units counted. */
  units: number;
  /** Non-empty text pieces, not counting a piece twice when a cut split it. */
  documents: number;
}

/** How the tally sink adds up. */
export interface TallyOptions {
  /**
   * The table: 'native' (the addon's, when this build has it; else
   * TypeScript) or 'ts'. Default: the engine that counted the first unit.
   */
  engine?: 'native' | 'ts';
}

/**
 * The tally sink: adds every unit's counts into one table; `onBytes(total)`
 * reports the bytes counted so far. It runs on the main thread, which also
 * reads and cuts, so natively counted units are added natively (same sums
 * as the TypeScript table; entry order differs, which nothing downstream
 * depends on).
 */
export function tallyCounts(onBytes?: (bytes: number) => void, o: TallyOptions = {}): Sink<UnitCounts, StreamCounts> {
  return {
    name: 'tally',
    description: 'add up the units\' pretoken counts',
    async consume(source) {
      let table: UnitTally | null = null;
      const stats = emptyCountStats();
      let units = 0;
      let splitPieces = 0;
      try {
        for await (const r of source) {
          table ??= createUnitTally(o.engine ?? r.engine);
          table.add(r.counts);
          addCountStats(stats, r.stats);
          units++;
          if (r.continues) splitPieces++;
          onBytes?.(stats.bytes);
        }
        table ??= createUnitTally('ts');
        // The compact copy replaces the hash table, whose memory is given up here.
        return { counts: table.take(), stats, units, documents: stats.pieces - splitPieces };
      } finally {
        table?.release();
      }
    },
  };
}
