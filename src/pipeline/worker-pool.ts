/**
 * The one worker pool: runs a task per item on piscina threads and hands the
 * results back in input order. At most `window` items are in flight, and
 * `map` stops pulling its source while the window is full, so memory stays
 * bounded and backpressure reaches the reader.
 *
 * Start-up: a thread loads its module and data (the tokenizer's tables)
 * before its first task, which takes a moment (much longer under tsx's
 * loader, see `workerExecArgv`). With `mainThreadHelps` the calling thread
 * runs an item itself whenever no started thread is idle, while threads are
 * still starting (so a slow start never stalls the run and small inputs
 * never wait for threads at all) and, with `true`, afterwards too if the
 * machine has a core for it beyond the threads' (else three busy threads on
 * two cores slow the threads more than the help gains); `'while-starting'`
 * stops helping once every thread has started, so N threads stay N busy
 * threads. Without it, `warmUp()` starts every thread up front (so timing
 * can leave start-up out) and items wait for a free thread.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Piscina } from 'piscina';

export interface OrderedPoolOptions<I, O> {
  /** Worker module URL (its default export is the task function). */
  filename: string | URL;
  /** Threads; 0 runs `inline` on the main thread instead. */
  workers: number;
  /** Max items in flight; default 2 per worker (at least 2); with `mainThreadHelps`, 2 per worker + 4 (results the calling thread made wait there for earlier ones). */
  window?: number;
  /** The same task as a function: used when workers = 0, and by the main thread when it helps. */
  inline?: (item: I) => O | Promise<O>;
  /** Buffers to transfer (not copy) to the worker for an item. */
  transfer?: (item: I) => ArrayBufferLike[];
  /** Extra data for each worker at start-up (e.g. the tokenizer's tables). */
  workerData?: unknown;
  /** Run an item on the calling thread when no started thread is idle (needs `inline`): while threads start, and with `true` afterwards where a core is spare. */
  mainThreadHelps?: boolean | 'while-starting';
  /** A cheap item each thread runs once at start: when it returns, the thread counts as started. */
  probe?: () => I;
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
 * How many threads pay off for an input of `bytes` (-1: unknown, e.g.
 * stdin, gets one per core) when each needs `bytesPerThread` to earn its
 * start-up (0.3-0.5 s of CPU under tsx, ~40 ms with Node's own type
 * stripping, plus whatever per-thread state it warms): one per that many
 * bytes, at most one per core. With `allowOne` false the answer is never
 * exactly 1 (0 instead): for stages whose main thread has little else to
 * do, one thread only moves the work and adds its start-up. The stages choose `bytesPerThread` from measurements
 * (`encodeWorkers`, `countingWorkers`).
 */
export function autoWorkers(bytes: number, cores: number, bytesPerThread: number, allowOne = true): number {
  const n = bytes < 0 ? cores : Math.max(0, Math.min(cores, Math.floor(bytes / bytesPerThread)));
  return n === 1 && !allowOne ? 0 : n;
}

/** The warning for a run whose threads could not start (`threadStartError`): it finished, on the calling thread, slower. */
export function threadStartWarning(error: Error): string {
  return `worker threads could not start (${error.message.split('\n')[0]}); the main thread did their work, so this run was slower than it should be`;
}

type TransferList = NonNullable<Parameters<Piscina['run']>[1]> extends { transferList?: infer T } ? T : never;

/** An ordered, bounded pool of worker threads (or the calling thread when `workers` is 0). */
export class OrderedPool<I, O> {
  readonly #pool: Piscina | null;
  readonly #inline: ((item: I) => O | Promise<O>) | undefined;
  readonly #window: number;
  readonly #transfer: ((item: I) => ArrayBufferLike[]) | undefined;
  readonly #helps: boolean;
  /** Helping goes on after start-up (where a core is spare). */
  readonly #helpsAfterStart: boolean;
  readonly #workers: number;
  /** The calling thread has a core of its own beside the threads (more cores than threads). */
  readonly #spareCore: boolean;
  #ready = 0;
  #busy = 0;
  #onMain = 0;
  #startError: Error | null = null;
  /** close() has begun: probes it cuts short are not start failures. */
  #closing = false;

  constructor(opts: OrderedPoolOptions<I, O>) {
    this.#inline = opts.inline;
    this.#transfer = opts.transfer;
    this.#helps = (opts.mainThreadHelps === true || opts.mainThreadHelps === 'while-starting') && opts.workers > 0;
    this.#helpsAfterStart = opts.mainThreadHelps === true;
    this.#workers = opts.workers;
    this.#spareCore = opts.workers < availableParallelism();
    if ((opts.workers === 0 || this.#helps) && !opts.inline) throw new Error('OrderedPool: workers = 0 or mainThreadHelps needs an inline task');
    this.#window = opts.window ?? (this.#helps ? 2 * opts.workers + 4 : Math.max(2, 2 * opts.workers));
    if (opts.workers > 0) {
      this.#pool = new Piscina({
        filename: opts.filename instanceof URL ? opts.filename.href : opts.filename,
        minThreads: opts.workers,
        maxThreads: opts.workers,
        idleTimeout: 1000,
        workerData: opts.workerData,
        execArgv: workerExecArgv(),
      });
      // A thread that fails to start is reported to its task as well; that rejection is what counts.
      this.#pool.on('error', () => {});
      if (this.#helps) {
        // A thread counts as started when its probe returns; one that cannot start is never used.
        const probe = opts.probe ?? (() => { throw new Error('OrderedPool: mainThreadHelps needs a probe'); });
        for (let i = 0; i < opts.workers; i++) {
          this.#pool.run(probe()).then(() => { this.#ready++; }, (e: unknown) => {
            // A short run can end before the threads have started; closing the pool then ends their probes.
            if (!this.#closing) this.#startError ??= e instanceof Error ? e : new Error(String(e));
          });
        }
      }
    } else {
      this.#pool = null;
    }
  }

  /** Threads whose probe has returned (with `mainThreadHelps`). */
  get threadsStarted(): number {
    return this.#ready;
  }

  /**
   * Why a thread could not start (its probe failed), with `mainThreadHelps`;
   * null when none failed. The calling thread then keeps running the items
   * a started thread would have taken, so the run still finishes: callers
   * should say so, since it runs slower.
   */
  get threadStartError(): Error | null {
    return this.#startError;
  }

  /** Items the calling thread ran itself while helping. */
  get itemsOnMainThread(): number {
    return this.#onMain;
  }

  /** Runs one item on a thread (or inline when there are none). */
  run(item: I): Promise<O> {
    if (this.#pool) {
      const transferList = this.#transfer?.(item) as TransferList | undefined;
      return this.#pool.run(item, transferList ? { transferList } : undefined) as Promise<O>;
    }
    return this.#runInline(item);
  }

  /** Runs an item on this thread now (so its time is this stage's, not whoever awaits next). */
  #runInline(item: I): Promise<O> {
    try {
      return Promise.resolve((this.#inline as (item: I) => O | Promise<O>)(item));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Starts every thread and waits until each has run `item` (so later timing leaves start-up out). */
  async warmUp(item: () => I): Promise<void> {
    if (!this.#pool) return;
    const n = this.#pool.options.maxThreads;
    await Promise.all(Array.from({ length: 2 * n }, () => this.run(item())));
  }

  /**
   * Ordered map over an async iterable with a bounded window: results are
   * handed on in input order, each as soon as it and those before it are
   * done; the source is not pulled while `window` items are in flight.
   */
  async *map(source: AsyncIterable<I> | Iterable<I>): AsyncGenerator<O> {
    const inflight: Array<{ p: Promise<O>; done: boolean }> = [];
    try {
      for await (const item of source) {
        let p: Promise<O>;
        if (this.#helps && this.#busy >= this.#ready && (this.#ready < this.#workers || (this.#helpsAfterStart && this.#spareCore))) {
          // No started thread is idle: this thread runs the item now — while threads are still starting,
          // or when it has a core of its own (with every core taken by a thread it would only slow them).
          p = this.#runInline(item);
          this.#onMain++;
        } else {
          this.#busy++;
          p = this.run(item).finally(() => { this.#busy--; });
        }
        const entry = { p, done: false };
        p.then(() => { entry.done = true; }, () => { entry.done = true; }); // rejections surface when awaited in order
        inflight.push(entry);
        // Let probes and finished threads report before the next item.
        if (this.#helps) await yieldToEventLoop();
        if (inflight.length >= this.#window) yield await (inflight.shift() as { p: Promise<O> }).p;
        while (inflight.length > 0 && inflight[0].done) yield await (inflight.shift() as { p: Promise<O> }).p;
      }
      while (inflight.length) yield await (inflight.shift() as { p: Promise<O> }).p;
    } finally {
      await Promise.allSettled(inflight.map((e) => e.p));
    }
  }

  /** Stops the threads. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#pool) await this.#pool.destroy();
  }
}
