/**
 * Stages and the one runner that wires them.
 *
 * A stage is an object: a name, a one-line description (for --help), and a
 * transform from an async iterable of its input items to an async iterable
 * of its output items. The first stage of a pipeline (a reader) ignores its
 * source; the last one is a sink, which consumes its source and returns the
 * pipeline's result. Items belong to the stage that receives them: a stage
 * never reuses a buffer it has passed on (recycling, where a stage wants it,
 * stays inside that stage).
 *
 * The links are pull iterators (async generators calling each other's
 * `next()`), not Node streams: a stage runs only when the stage after it asks
 * for an item, so every link holds at most the one item in hand, memory is
 * bounded by what each stage keeps itself (its window of work in flight, its
 * carried tail), and backpressure needs no buffering policy. Stages that want
 * parallelism (the worker pool) keep their own bounded window.
 *
 * The runner meters every link: items and bytes out of each stage, and the
 * time spent in it. A stage's own time is the time its `next()` calls took
 * minus the time its source's `next()` calls took, so the times add up to the
 * wall time and show where it goes (a pool stage's time is the main thread
 * waiting for its workers).
 */
import type { ProgressReporter, ProgressTask, ProgressUnit } from './progress.ts';

/** What a running stage can use. */
export interface StageContext {
  /** Aborted on SIGINT/SIGTERM: stop pulling and return. */
  readonly signal: AbortSignal;
  /** One informational line on stderr. */
  log(message: string): void;
  /** One warning line on stderr, also listed in the summary. */
  warn(message: string): void;
  /** Adds `n` to a named counter of this stage, reported in the summary's `stages` block. */
  count(key: string, n?: number): void;
}

/** A transform over items: `I` in, `O` out. */
export interface Stage<I, O> {
  readonly name: string;
  readonly description: string;
  /** Input bytes an output item stands for (drives the stage's byte count and rate). */
  bytesOf?(item: O): number;
  /** The expected total of what `bytesOf` counts, when known (for progress bars). */
  totalBytes?: number;
  run(source: AsyncIterable<I>, ctx: StageContext): AsyncIterable<O>;
}

/** The last stage: consumes its source, returns the pipeline's result. */
export interface Sink<I, R> {
  readonly name: string;
  readonly description: string;
  consume(source: AsyncIterable<I>, ctx: StageContext): Promise<R>;
}

/** Per-stage figures in a pipeline's summary. */
export interface StageReport {
  seconds: number;
  items: number;
  bytes?: number;
  [counter: string]: number | undefined;
}

/** The runner's result: the sink's result and one report per stage, in order. */
export interface StagesResult<R> {
  result: R;
  stages: Record<string, StageReport>;
}

/** A chain of stages from a source stage to a sink, type-checked link by link. */
export interface Chain<R> {
  readonly stages: ReadonlyArray<{ readonly name: string; readonly description: string }>;
  /** @internal the untyped links, in order (the last is the sink) */
  readonly links: readonly AnyLink[];
  readonly _result?: R;
}

type AnyStage = Stage<never, unknown>;
type AnySink = Sink<never, unknown>;
type AnyLink = AnyStage | AnySink;

/* Overloads: a chain is a source, 0-6 transforms and a sink whose item types match. */
export function chain<A, R>(s0: Stage<void, A>, sink: Sink<A, R>): Chain<R>;
export function chain<A, B, R>(s0: Stage<void, A>, s1: Stage<A, B>, sink: Sink<B, R>): Chain<R>;
export function chain<A, B, C, R>(s0: Stage<void, A>, s1: Stage<A, B>, s2: Stage<B, C>, sink: Sink<C, R>): Chain<R>;
export function chain<A, B, C, D, R>(s0: Stage<void, A>, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, sink: Sink<D, R>): Chain<R>;
export function chain<A, B, C, D, E, R>(s0: Stage<void, A>, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, sink: Sink<E, R>): Chain<R>;
export function chain<A, B, C, D, E, F, R>(s0: Stage<void, A>, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>, sink: Sink<F, R>): Chain<R>;
export function chain<A, B, C, D, E, F, G, R>(s0: Stage<void, A>, s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>, s4: Stage<D, E>, s5: Stage<E, F>, s6: Stage<F, G>, sink: Sink<G, R>): Chain<R>;
/** Declares a pipeline body: its stages in order, ending with a sink. */
export function chain(...links: AnyLink[]): Chain<unknown> {
  return { stages: links.map((l) => ({ name: l.name, description: l.description })), links };
}

/** A stage that passes items through unchanged: the stand-in for an optional stage that is off. */
export function passThrough<T>(name: string): Stage<T, T> {
  return { name, description: 'off', run: (source) => source };
}

/** Options of `runChain`. */
export interface RunChainOptions {
  signal: AbortSignal;
  log(message: string): void;
  warn(message: string): void;
  /** Where each stage gets its progress bar / line; none when omitted. */
  progress?: ProgressReporter;
}

interface Meter {
  name: string;
  items: number;
  bytes: number;
  counters: Map<string, number>;
  /** Time inside this link's next() calls, its sources' included. */
  inclusive: number;
  task: ProgressTask | null;
}

function newMeter(name: string): Meter {
  return { name, items: 0, bytes: 0, counters: new Map(), inclusive: 0, task: null };
}

/** Wraps a link's output: counts items and bytes, times next(), updates the progress task. */
async function* metered<T>(source: AsyncIterable<T>, meter: Meter, bytesOf: ((item: T) => number) | undefined, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (signal.aborted) throw new Error('interrupted');
      const t0 = performance.now();
      const r = await it.next();
      meter.inclusive += performance.now() - t0;
      if (r.done) return;
      meter.items++;
      if (bytesOf) {
        const b = bytesOf(r.value);
        meter.bytes += b;
        meter.task?.increment(b);
      } else {
        meter.task?.increment(1);
      }
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

/** Counts the items a sink takes (its time is measured around the whole of `consume`). */
async function* counted<T>(source: AsyncIterable<T>, meter: Meter): AsyncGenerator<T> {
  for await (const item of source) {
    meter.items++;
    yield item;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const PASS_DESCRIPTION = 'off';

/**
 * Runs a chain: wires the links, meters them, and returns the sink's result
 * with per-stage reports (stages that are switched off are left out).
 */
export async function runChain<R>(c: Chain<R>, options: RunChainOptions): Promise<StagesResult<R>> {
  const links = c.links;
  const meters = links.map((l) => newMeter(l.name));
  const ctxFor = (m: Meter): StageContext => ({
    signal: options.signal,
    log: options.log,
    warn: options.warn,
    count: (key, n = 1) => { m.counters.set(key, (m.counters.get(key) ?? 0) + n); },
  });
  const t0 = performance.now();
  let flow: AsyncIterable<unknown> = (async function* () { /* the source stage ignores its input */ })();
  for (let i = 0; i < links.length - 1; i++) {
    const stage = links[i] as Stage<unknown, unknown>;
    const m = meters[i];
    if (options.progress && stage.description !== PASS_DESCRIPTION) {
      const unit: ProgressUnit = stage.bytesOf ? 'bytes' : 'items';
      m.task = options.progress.task(stage.name, unit, stage.totalBytes !== undefined && stage.totalBytes > 0 ? stage.totalBytes : undefined);
    }
    flow = metered(stage.run(flow, ctxFor(m)), m, stage.bytesOf?.bind(stage), options.signal);
  }
  const sink = links[links.length - 1] as Sink<unknown, R>;
  const sinkMeter = meters[meters.length - 1];
  let result: R;
  try {
    result = await sink.consume(counted(flow, sinkMeter), ctxFor(sinkMeter));
  } finally {
    for (const m of meters) m.task?.stop();
  }
  sinkMeter.inclusive = performance.now() - t0;
  const stages: Record<string, StageReport> = {};
  for (let i = 0; i < links.length; i++) {
    if (links[i].description === PASS_DESCRIPTION) continue;
    const m = meters[i];
    // Exclusive time: this link's time minus its nearest metered source's.
    const below = i > 0 ? meters[i - 1].inclusive : 0;
    const report: StageReport = { seconds: round3(Math.max(0, m.inclusive - below) / 1000), items: m.items };
    const stage = links[i] as Partial<Stage<unknown, unknown>>;
    if (stage.bytesOf) report.bytes = m.bytes;
    for (const [k, v] of m.counters) report[k] = v;
    stages[links[i].name] = report;
  }
  return { result, stages };
}
