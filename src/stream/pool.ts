/**
 * The worker-pool stage: runs a task per item on a piscina thread pool and
 * emits results in input order. At most `window` items are in flight, and the
 * stage stops pulling its source while the window is full, so memory stays
 * bounded and backpressure reaches the reader.
 */
import { Transform } from 'node:stream';
import { Piscina } from 'piscina';

export interface OrderedPoolOptions<I, O> {
  /** Worker module URL (its default export is the task function). */
  filename: string | URL;
  /** Threads; 0 runs `inline` on the main thread instead. */
  workers: number;
  /** Max items in flight; default 2 per worker (at least 2). */
  window?: number;
  /** The same task as a function, used when workers = 0 (and for tests). */
  inline?: (item: I) => O | Promise<O>;
  /** Buffers to transfer (not copy) to the worker for an item. */
  transfer?: (item: I) => ArrayBufferLike[];
  /** Extra data for each worker at start-up (e.g. the tokenizer's tables). */
  workerData?: unknown;
}

/** A pool usable both as an async-iterable transform and as a Node stream. */
export class OrderedPool<I, O> {
  readonly #pool: Piscina | null;
  readonly #inline: ((item: I) => O | Promise<O>) | undefined;
  readonly #window: number;
  readonly #transfer: ((item: I) => ArrayBufferLike[]) | undefined;

  constructor(opts: OrderedPoolOptions<I, O>) {
    this.#inline = opts.inline;
    this.#transfer = opts.transfer;
    this.#window = opts.window ?? Math.max(2, 2 * opts.workers);
    if (opts.workers > 0) {
      this.#pool = new Piscina({
        filename: opts.filename instanceof URL ? opts.filename.href : opts.filename,
        minThreads: opts.workers,
        maxThreads: opts.workers,
        idleTimeout: 1000,
        workerData: opts.workerData,
      });
    } else {
      if (!opts.inline) throw new Error('OrderedPool: workers = 0 needs an inline task');
      this.#pool = null;
    }
  }

  /** Runs one item. */
  run(item: I): Promise<O> {
    if (this.#pool) {
      const transferList = this.#transfer?.(item) as Parameters<Piscina['run']>[1] extends { transferList?: infer T } ? T : never;
      return this.#pool.run(item, transferList ? { transferList } : undefined) as Promise<O>;
    }
    return Promise.resolve().then(() => (this.#inline as (item: I) => O | Promise<O>)(item));
  }

  /** Ordered map over an async iterable with a bounded window. */
  async *map(source: AsyncIterable<I> | Iterable<I>): AsyncGenerator<O> {
    const inflight: Promise<O>[] = [];
    try {
      for await (const item of source) {
        const p = this.run(item);
        p.catch(() => {}); // surfaced when awaited in order
        inflight.push(p);
        if (inflight.length >= this.#window) yield await (inflight.shift() as Promise<O>);
      }
      while (inflight.length) yield await (inflight.shift() as Promise<O>);
    } finally {
      await Promise.allSettled(inflight);
    }
  }

  /** The same as a Node object-mode Transform, for stream-chain pipelines. */
  stream(): Transform {
    const inflight: Promise<O>[] = [];
    const pool = this;
    return new Transform({
      objectMode: true,
      highWaterMark: 1,
      transform(item: I, _enc, cb) {
        const p = pool.run(item);
        p.catch(() => {});
        inflight.push(p);
        if (inflight.length < pool.#window) { cb(); return; }
        (inflight.shift() as Promise<O>).then((r) => { this.push(r); cb(); }, cb);
      },
      flush(cb) {
        (async () => {
          while (inflight.length) this.push(await (inflight.shift() as Promise<O>));
        })().then(() => cb(), cb);
      },
    });
  }

  /** Stops the threads. */
  async close(): Promise<void> {
    if (this.#pool) await this.#pool.destroy();
  }
}
