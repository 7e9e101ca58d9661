/**
 * Counts the pretokens of a stream of safe chunks on piscina worker threads
 * and merges the per-chunk counts into one table. A chunk goes to a worker
 * only when one is started (a tiny probe task per thread tells) and idle;
 * otherwise the main thread counts it itself, so thread start-up (slow
 * under a TypeScript loader) never stalls the run. At most one chunk per
 * worker is in flight: memory grows with unique pretokens and the number of
 * threads, never with the corpus.
 */
import { createRequire } from 'node:module';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Piscina } from 'piscina';
import type { SafeChunk } from './chunking.ts';
import {
  PretokenTable, addCountStats, countChunk, emptyCountStats, type CountStats, type PretokenCounts,
} from './pretoken-count.ts';
import type { CountTask, CountTaskResult } from './pretoken-count-worker.ts';
import { SpecialMatcher } from './special-split.ts';

/** Counting result over a whole stream. */
export interface StreamCounts {
  /** Unique pretokens with their counts. */
  counts: PretokenCounts;
  stats: CountStats;
  /** Chunks counted. */
  chunks: number;
  /** Chunks counted on the main thread. */
  chunksOnMain: number;
  /** Non-empty text pieces, not counting a piece twice when a cut split it. */
  documents: number;
}

const TSX_ARG = /(^|[\\/])tsx([\\/]|$)|[\\/]tsx[\\/]dist[\\/]/;

/** True when this Node strips TypeScript types itself (22.18+, 23.6+). */
function nativeTypeScript(): boolean {
  const f = (process.features as { typescript?: unknown }).typescript;
  return typeof f === 'string' && f !== 'false';
}

/**
 * Node flags for the worker threads, or undefined to inherit this process's.
 * Under tsx's ESM loader every worker would start its own loader hooks, which
 * costs about a second per thread. Workers do not need them: piscina loads
 * the worker module with require(), which Node's own type stripping handles,
 * and otherwise tsx's much lighter require hook (tsx/cjs).
 */
export function workerExecArgv(): string[] | undefined {
  const argv = process.execArgv;
  const kept: string[] = [];
  let usesTsx = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if ((a === '--import' || a === '--require' || a === '-r' || a === '--loader' || a === '--experimental-loader')
      && TSX_ARG.test(argv[i + 1] ?? '')) {
      usesTsx = true;
      i++;
      continue;
    }
    if (/^--(import|require|loader|experimental-loader)=/.test(a) && TSX_ARG.test(a.slice(a.indexOf('=') + 1))) {
      usesTsx = true;
      continue;
    }
    kept.push(a);
  }
  if (!usesTsx) return undefined;
  if (nativeTypeScript()) return kept;
  try {
    return [...kept, '--require', createRequire(import.meta.url).resolve('tsx/cjs')];
  } catch {
    return undefined;
  }
}

/** True when worker threads start slowly here (TypeScript compiled per thread by tsx). */
export function slowWorkerStart(): boolean {
  return !nativeTypeScript() && workerExecArgv() !== undefined;
}

/**
 * How many counting threads pay off for an input of `bytes` (-1: unknown,
 * e.g. stdin): one per `bytesPerWorker` of input, at most one per core.
 * Starting a thread costs about 40 ms with Node's own type stripping but
 * 0.3-0.5 s of CPU under tsx, which is as long as counting 30 MB.
 */
export function autoWorkers(bytes: number, cores: number, slowStart = slowWorkerStart()): number {
  if (bytes < 0) return cores;
  const bytesPerWorker = slowStart ? 96 << 20 : 16 << 20;
  return Math.max(0, Math.min(cores, Math.floor(bytes / bytesPerWorker)));
}

/**
 * Counts every chunk of `chunks`. `workers` = 0 counts on the calling thread
 * only. `onChunk(bytes)` reports progress after each chunk is merged.
 */
export async function countStream(
  chunks: AsyncIterable<SafeChunk>,
  specialTokens: readonly string[],
  workers: number,
  onChunk?: (bytes: number) => void,
): Promise<StreamCounts> {
  const table = new PretokenTable(1 << 16);
  const stats = emptyCountStats();
  const matcher = new SpecialMatcher(specialTokens);
  let nChunks = 0;
  let onMain = 0;
  let splitPieces = 0;

  const absorb = (r: CountTaskResult): void => {
    table.addAll(r.counts);
    addCountStats(stats, r.stats);
    nChunks++;
    onChunk?.(r.stats.bytes);
  };
  const taskOf = (c: SafeChunk): CountTask => ({ buffer: c.buf.buffer as ArrayBuffer, length: c.length, specialTokens });

  const pool = workers > 0
    ? new Piscina({
      filename: new URL('./pretoken-count-worker.ts', import.meta.url).href,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: 1000,
      execArgv: workerExecArgv(),
    })
    : null;
  const inflight = new Set<Promise<void>>();
  let ready = 0;
  let failure: unknown = null;
  if (pool) {
    // A thread that fails to start is reported here as well as to its task;
    // the task's rejection is what counts (probes are allowed to fail).
    pool.on('error', () => {});
    for (let i = 0; i < workers; i++) {
      const probe: CountTask = { buffer: new ArrayBuffer(8), length: 0, specialTokens };
      // A thread that cannot start is simply never used: the main thread counts.
      pool.run(probe).then(() => { ready++; }, () => {});
    }
  }
  try {
    for await (const c of chunks) {
      if (failure) throw failure;
      if (c.continues) splitPieces++;
      if (pool && inflight.size < ready) {
        const task = taskOf(c);
        const p: Promise<void> = (pool.run(task, { transferList: [task.buffer] }) as Promise<CountTaskResult>)
          .then(absorb)
          .catch((e: unknown) => { failure ??= e; })
          .finally(() => { inflight.delete(p); });
        inflight.add(p);
      } else {
        // On this thread, count straight into the result table.
        const before = stats.bytes;
        countChunk(c.buf, c.length, matcher, table, stats);
        nChunks++;
        onChunk?.(stats.bytes - before);
        onMain++;
        // Let probes and finished workers report before the next chunk.
        if (pool) await yieldToEventLoop();
      }
    }
    await Promise.all(inflight);
    if (failure) throw failure;
  } finally {
    await Promise.allSettled(inflight);
    if (pool) await pool.destroy();
  }
  // The compact copy replaces the hash table, which becomes garbage here.
  return { counts: table.toCounts(), stats, chunks: nChunks, chunksOnMain: onMain, documents: stats.pieces - splitPieces };
}
