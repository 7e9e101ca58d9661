/**
 * encode: pretokenizes each work unit and applies the BPE merges, on a pool
 * of worker threads (or the calling thread with `workers: 0`), handing the
 * ids on in input order. The core is the native addon's when it is built
 * (`native-tokenizer.ts`), else the TypeScript reference; both give the same
 * ids. A unit's buffer is moved to the thread that encodes it and comes back
 * holding the unit's ids (written over the encoded text), so a unit's bytes
 * are allocated once, by the reader, and never copied.
 */
import type { Stage } from '../pipeline/stage.ts';
import { availableParallelism } from 'node:os';
import { OrderedPool, autoWorkers, slowWorkerStart } from '../pipeline/worker-pool.ts';
import type { EncoderSpec } from '../tokenizer/bpe-encode.ts';
import type { TokenIds } from '../tokenizer/bpe-encode-unit.ts';
import type { EncodeTask, EncodeWorkerData } from '../tokenizer/bpe-encode-worker.ts';
import { createUnitEncoder } from '../tokenizer/native-tokenizer.ts';
import { resolveEngine, type TokenizerEngine } from '../tokenizer/tokenizer-engine.ts';
import type { Ids, Unit } from './items.ts';

const WORKER_URL = new URL('../tokenizer/bpe-encode-worker.ts', import.meta.url);

export interface EncodeUnitsOptions {
  spec: EncoderSpec;
  /** Worker threads; 0 encodes on the calling thread. */
  workers: number;
  /** Units in flight (default 2 per worker). */
  window?: number;
  /** The tokenizer core: 'auto' (native when the addon is built), 'native' or 'ts'. */
  engine?: TokenizerEngine;
}

/**
 * Unit size for an input of `totalBytes` (-1: unknown, e.g. stdin): 4 MB
 * units, but at least ~8 per worker so small inputs still spread out. Each
 * unit costs the main thread about half a millisecond (the stage chain's
 * promises, the pool's messages, the write), which the workers compete with
 * on a small machine: over 1 GB with 2 workers on 2 cores the main thread
 * took 0.46-0.50 CPU-s with 1 MB units and 0.34-0.35 with 4 MB, for 10%
 * more throughput. Since a unit's memory is recycled (formats/chunks.ts),
 * larger units no longer add garbage.
 */
export function unitBytesFor(totalBytes: number, workers: number): number {
  const max = 4 << 20;
  if (totalBytes < 0 || workers <= 1) return max;
  return Math.max(64 << 10, Math.min(max, Math.ceil(totalBytes / (8 * workers))));
}

/**
 * Encode threads for an input of about `totalBytes` of text (-1: unknown)
 * on `cores` cores (`autoWorkers`): one per 128 MB under tsx, 80 MB with
 * Node's own type stripping, never exactly one (the main thread only reads
 * and writes). Each thread also warms its own pretoken
 * cache. Measured on 2 cores, books.txt repeated, 10k vocabulary, process
 * wall, 0 vs 2 threads: under tsx 0.95 vs 1.38 s at 50 MB, 1.69 vs 1.91 s
 * at 160 MB, 2.29 vs 2.14 s at 400 MB, 4.61 vs 3.70 s at 1 GB (even at
 * ~300 MB); with Node's type stripping 0.78 vs 0.97, 1.42 vs 1.45, 2.40 vs
 * 1.77, 4.42 vs 3.34 s (even at ~170 MB); one thread was never faster than
 * none. On diverse text (SpamAssassin bodies repeated, its own 10k
 * vocabulary, tsx) threads pay later: 1.01 vs 1.58 s at 50 MB, 1.97 vs
 * 2.08 s at 185 MB, 2.9-3.7 vs 2.9-3.2 s at 400 MB, 6.7-8.3 vs 4.8-5.4 s at
 * 1 GB; the 256 MB threshold loses nothing there.
 */
export function encodeWorkers(totalBytes: number, cores: number = availableParallelism(), slowStart: boolean = slowWorkerStart()): number {
  return autoWorkers(totalBytes, cores, slowStart ? 128 << 20 : 80 << 20, false);
}

/**
 * The encode stage. Its threads start with it; until they have, the calling
 * thread encodes the units itself. `start()` (optional) waits until every
 * thread has run, so that timing can leave start-up out (the benchmarks);
 * `close()` stops them.
 */
export interface EncodeStage extends Stage<Unit, Ids> {
  /** The core that encodes ('native' or 'ts'), and why 'auto' fell back to TypeScript. */
  readonly engine: 'native' | 'ts';
  readonly fallbackReason?: string;
  /** Units the calling thread encoded (all of them with workers: 0; else those it took while the threads started). */
  readonly unitsOnMainThread: number;
  /** Why a worker thread could not start (the calling thread then did its work), or null. */
  readonly threadStartError: Error | null;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A unit that starts a thread (its code, its encoder) without mattering. */
const warmUpTask = (): EncodeTask => ({ data: new TextEncoder().encode('warm up') });

/** The encode stage over a started pool. */
export function encodeUnits(o: EncodeUnitsOptions): EncodeStage {
  const engine = resolveEngine(o.engine ?? 'auto');
  // The calling thread's encoder, made on first use: all of the work with
  // workers: 0, else the units it encodes while the threads start (each
  // loads the code and the tokenizer, 0.3-0.5 s under tsx), so small inputs
  // never wait for them.
  let inline: ReturnType<typeof createUnitEncoder> | null = null;
  const inlineEncoder = (): ReturnType<typeof createUnitEncoder> => (inline ??= createUnitEncoder(o.spec, engine.engine));
  const workerData: EncodeWorkerData = { spec: o.spec, engine: engine.engine };
  const pool = new OrderedPool<EncodeTask, TokenIds>({
    filename: WORKER_URL,
    workers: o.workers,
    // Two units per thread: the calling thread only helps before the threads have started, when
    // its results wait behind no thread's, so the pool's extra room for helping is not needed.
    window: o.window ?? Math.max(2, 2 * o.workers),
    workerData,
    // The unit's buffer is this stage's: the ids may go over its text.
    inline: (t) => inlineEncoder().encodeUnit(t.data, t.data.buffer as ArrayBuffer),
    transfer: (t) => [t.data.buffer],
    // Only while the threads start: afterwards --workers N means N encoding threads.
    mainThreadHelps: 'while-starting',
    probe: warmUpTask,
  });
  let units = 0;
  return {
    name: 'encode',
    engine: engine.engine,
    ...(engine.fallbackReason ? { fallbackReason: engine.fallbackReason } : {}),
    description: `pretokenize and apply BPE merges (${engine.engine} core) on ${o.workers === 0 ? 'the main thread' : `${o.workers} worker thread${o.workers === 1 ? '' : 's'}`}, ids kept in input order`,
    bytesOf: (r) => r.bytes,
    get unitsOnMainThread() { return o.workers === 0 ? units : pool.itemsOnMainThread; },
    get threadStartError() { return pool.threadStartError; },
    start: () => pool.warmUp(warmUpTask),
    close: async () => { inline?.release(); await pool.close(); },
    async *run(source) {
      // Results come back in order, so each unit's metadata waits in a FIFO.
      const meta: Array<Omit<Ids, 'ids'>> = [];
      async function* tasks(): AsyncGenerator<EncodeTask> {
        for await (const u of source) {
          meta.push({ bytes: u.data.length, file: u.file, offset: u.offset });
          yield { data: u.data };
        }
      }
      for await (const ids of pool.map(tasks())) {
        units++;
        yield { ids, ...(meta.shift() as Omit<Ids, 'ids'>) };
      }
    },
  };
}
