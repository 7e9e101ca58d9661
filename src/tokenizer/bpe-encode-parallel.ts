/**
 * Parallel encoding of a byte stream: the input is cut into work units at
 * safe boundaries (so the result cannot depend on where the cuts fall), the
 * units are encoded on a piscina worker pool, and the ids come back in input
 * order. Output is identical for any worker count and chunk size. Memory is
 * bounded: one read chunk, the carried tail, and a window of units in flight.
 * The carried tail is what has no safe cut yet: a long pretoken is cut where
 * no merge can span the cut (`findJunctionCut`), and a stretch longer than
 * `maxHeldBytes` that the merges do not let us cut is a UserError (cutting
 * it anyway would change its ids).
 */
import { open } from 'node:fs/promises';
import { UserError } from '../pipeline/errors.ts';
import type { ByteChunk, InputFile } from '../stream/read.ts';
import { rechunk } from '../stream/rechunk.ts';
import { OrderedPool } from '../stream/pool.ts';
import { BpeEncoder, joinableJunctions, type EncoderSpec } from './bpe-encode.ts';
import { encodeChunk, type TokenIds } from './bpe-encode-chunk.ts';
import type { EncodeResult, EncodeTask } from './bpe-encode-worker.ts';
import { DEFAULT_ENCODE_MAX_PRETOKEN_BYTES, longStretchMessage, safeCutFinder } from './chunking.ts';
import { SpecialMatcher } from './special-split.ts';

/** The ids of one work unit and where its bytes came from. */
export interface EncodedUnit {
  ids: TokenIds;
  /** Input bytes the unit covered. */
  bytes: number;
  file: string;
  /** Byte offset of the unit in its file. */
  offset: number;
}

export interface ParallelEncodeOptions {
  /** Worker threads; 0 encodes on the calling thread. */
  workers: number;
  /** Units in flight (default 2 per worker). */
  window?: number;
  /**
   * Longest stretch without a safe cut held whole (default
   * DEFAULT_ENCODE_MAX_PRETOKEN_BYTES; CLI --max-pretoken-mb): a longer one is a
   * UserError naming the file and the offset where it starts.
   */
  maxHeldBytes?: number;
}

const WORKER_URL = new URL('./bpe-encode-worker.ts', import.meta.url);

/**
 * Read-chunk size (so roughly the work-unit size) for an input of
 * `totalBytes` (-1: unknown, e.g. stdin): 1 MB units (each costs a fraction
 * of a millisecond of overhead; larger ones only add floating garbage and
 * so RSS), but at least ~8 per worker so small inputs still spread out.
 */
export function unitBytesFor(totalBytes: number, workers: number): number {
  const max = 1 << 20;
  if (totalBytes < 0 || workers <= 1) return max;
  return Math.max(64 << 10, Math.min(max, Math.ceil(totalBytes / (8 * workers))));
}

/** How `encode` / `encodeFiles` hand out ids. */
export interface EncodeRunOptions {
  /**
   * Reuse each unit's ids buffer once the consumer asks for the next unit
   * (so `ids` is valid only until then: copy it to keep it). Saves one
   * allocation per unit, which keeps RSS flat on long runs.
   */
  reuseIds?: boolean;
}

/** A unit of input bytes and where they came from. */
interface Unit {
  data: Uint8Array;
  file: string;
  offset: number;
}

/** Input buffers above this size are not kept for reuse (one long stretch should not pin its memory). */
const MAX_SPARE_BYTES = 8 << 20;

/** The name of an input in messages. */
function sourceName(path: string): string {
  return path === '-' ? 'stdin' : path;
}

/** A started worker pool that encodes byte streams; reuse it for several inputs, then `close` it. */
export class ParallelEncoder {
  private readonly pool: OrderedPool<EncodeTask, EncodeResult>;
  private readonly findCut: (buf: Uint8Array, length?: number) => number;
  private readonly options: ParallelEncodeOptions;
  private readonly maxHeld: number;
  /** Input buffers the workers handed back, reused for the next units' bytes. */
  private readonly spare: Uint8Array[] = [];
  /** Ids buffers the consumer is done with (reuseIds), for the workers to write into. */
  private readonly spareIds: ArrayBuffer[] = [];

  constructor(spec: EncoderSpec, options: ParallelEncodeOptions) {
    this.options = options;
    const inlineEncoder = options.workers > 0 ? null : new BpeEncoder(spec);
    this.pool = new OrderedPool<EncodeTask, EncodeResult>({
      filename: WORKER_URL,
      workers: options.workers,
      window: options.window,
      workerData: spec,
      inline: (t) => ({ ids: encodeChunk(inlineEncoder as BpeEncoder, t.input, t.out), input: t.input }),
      transfer: (t) => (t.out ? [t.input.buffer, t.out] : [t.input.buffer]),
    });
    this.findCut = safeCutFinder(new SpecialMatcher(spec.specials.map((s) => s.text)), joinableJunctions(spec));
    this.maxHeld = options.maxHeldBytes ?? DEFAULT_ENCODE_MAX_PRETOKEN_BYTES;
  }

  /**
   * An exclusively owned copy of `data` (it can be moved to a worker, and
   * the caller may overwrite `data`), in a recycled buffer when one is big
   * enough: steady state allocates nothing here.
   */
  private ownedCopy(data: Uint8Array): Uint8Array {
    let buf: Uint8Array | undefined;
    while ((buf = this.spare.pop()) !== undefined && buf.length < data.length) { /* too small: drop it */ }
    if (buf === undefined) buf = new Uint8Array(Math.max(Math.ceil(data.length * 1.25), 64 << 10));
    buf.set(data);
    return buf.subarray(0, data.length);
  }

  /** Makes sure every worker has loaded its code and tables (so timing excludes start-up). */
  async warmUp(): Promise<void> {
    const n = Math.max(1, 2 * this.options.workers);
    await Promise.all(Array.from({ length: n }, () => this.pool.run({ input: new TextEncoder().encode('warm up'), out: null })));
  }

  /**
   * Encodes the byte chunks of `source` (from `readInputs`), yielding each
   * unit's ids in order. Every input file is encoded on its own: no
   * pretoken or merge spans two files.
   */
  async *encode(source: AsyncIterable<ByteChunk>, run: EncodeRunOptions = {}): AsyncGenerator<EncodedUnit, void, undefined> {
    const units = rechunk({
      findCut: this.findCut,
      maxCarryBytes: this.maxHeld,
      onForcedCut: (file, _end, start) => {
        throw new UserError(longStretchMessage(sourceName(file), start ?? 0, this.maxHeld, 'encode it exactly'));
      },
    });
    const self = this;
    async function* owned(): AsyncGenerator<Unit> {
      for await (const u of units(source)) yield { data: self.ownedCopy(u.data), file: u.file, offset: u.offset };
    }
    yield* this.run(owned(), run);
  }

  /**
   * Encodes input files (as listed by `resolveInputs`; `-` is stdin),
   * reading them itself into one reused staging buffer instead of going
   * through `readInputs` + `rechunk`: with recycled unit and ids buffers the
   * steady state allocates nothing, so memory stays flat on long inputs.
   * Same ids as `encode`; each file is encoded on its own.
   */
  async *encodeFiles(files: readonly InputFile[], unitBytes = 1 << 20, run: EncodeRunOptions = {}): AsyncGenerator<EncodedUnit, void, undefined> {
    yield* this.run(this.readUnits(files, unitBytes), run);
  }

  /** Reads files into a staging buffer and yields owned copies of the pieces between safe cuts. */
  private async *readUnits(files: readonly InputFile[], unitBytes: number): AsyncGenerator<Unit> {
    let staging = new Uint8Array(2 * unitBytes);
    for (const f of files) {
      let len = 0;
      let start = 0; // file offset of staging[0]
      // After a failed search for a cut, the next one waits until the held
      // bytes double, so a long stretch costs linear, not quadratic, time.
      let nextAttempt = 0;
      const grow = (need: number): void => {
        if (len + need <= staging.length) return;
        const bigger = new Uint8Array(Math.max(2 * staging.length, len + need));
        bigger.set(staging.subarray(0, len));
        staging = bigger;
      };
      const take = (cut: number): Unit => {
        const unit = { data: this.ownedCopy(staging.subarray(0, cut)), file: f.path, offset: start };
        staging.copyWithin(0, cut, len);
        len -= cut;
        start += cut;
        nextAttempt = 0;
        // Give the memory of a long stretch back once it is encoded.
        if (staging.length > 8 * unitBytes && len < unitBytes) staging = staging.slice(0, 2 * unitBytes);
        return unit;
      };
      const cutNow = (): number => {
        if (len < nextAttempt) return 0;
        const cut = this.findCut(staging, len);
        if (cut > 0) return cut;
        if (len > this.maxHeld) throw new UserError(longStretchMessage(sourceName(f.path), start, this.maxHeld, 'encode it exactly'));
        nextAttempt = Math.min(2 * len, this.maxHeld + 1);
        return 0;
      };
      if (f.path === '-') {
        for await (const piece of process.stdin as AsyncIterable<Buffer>) {
          grow(piece.length);
          staging.set(piece, len);
          len += piece.length;
          if (len >= unitBytes) {
            const cut = cutNow();
            if (cut > 0) yield take(cut);
          }
        }
      } else {
        let handle;
        try {
          handle = await open(f.path, 'r');
        } catch (e) {
          throw new UserError(`cannot open input file ${f.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (was it removed after the run started?)`);
        }
        try {
          for (;;) {
            grow(unitBytes);
            let n: number;
            try {
              ({ bytesRead: n } = await handle.read(staging, len, unitBytes, start + len));
            } catch (e) {
              throw new UserError(`read error in ${f.path} at byte ${start + len}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
            }
            if (n === 0) break;
            len += n;
            const cut = cutNow();
            if (cut > 0) yield take(cut);
          }
        } finally {
          await handle.close();
        }
      }
      if (len > 0) yield take(len);
    }
  }

  /** Sends units through the pool, in order, recycling buffers. */
  private async *run(units: AsyncIterable<Unit>, options: EncodeRunOptions): AsyncGenerator<EncodedUnit, void, undefined> {
    const reuse = options.reuseIds === true;
    // Results come back in order, so the units' metadata waits in a FIFO.
    const meta: Array<Omit<EncodedUnit, 'ids'>> = [];
    const self = this;
    async function* tasks(): AsyncGenerator<EncodeTask> {
      for await (const u of units) {
        meta.push({ bytes: u.data.length, file: u.file, offset: u.offset });
        yield { input: u.data, out: reuse ? self.spareIds.pop() ?? null : null };
      }
    }
    for await (const { ids, input } of this.pool.map(tasks())) {
      // Every unit's bytes are an owned copy (ownedCopy), so the buffer is free to reuse.
      if (this.spare.length < 16 && input.buffer.byteLength >= (64 << 10) && input.buffer.byteLength <= MAX_SPARE_BYTES) this.spare.push(new Uint8Array(input.buffer));
      const m = meta.shift() as Omit<EncodedUnit, 'ids'>;
      yield { ids, ...m };
      if (reuse && this.spareIds.length < 16 && ids.buffer.byteLength <= MAX_SPARE_BYTES) this.spareIds.push(ids.buffer as ArrayBuffer);
    }
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** One-shot form of `ParallelEncoder`: starts a pool, encodes `source`, stops the pool. */
export async function* encodeByteChunks(
  source: AsyncIterable<ByteChunk>,
  spec: EncoderSpec,
  options: ParallelEncodeOptions,
): AsyncGenerator<EncodedUnit, void, undefined> {
  const encoder = new ParallelEncoder(spec, options);
  try {
    yield* encoder.encode(source);
  } finally {
    await encoder.close();
  }
}
