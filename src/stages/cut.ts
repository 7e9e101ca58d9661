/**
 * cut: the one safe-cut re-chunker. Turns a byte stream (read chunks, or
 * the units a document stage let through) into work units of about
 * `unitBytes` that end where processing the parts separately cannot change
 * the result, as a `findCut` function decides (after a special token, where
 * the pretokenizer itself would split, or, for encoding, where no merge can
 * join the two sides). Each input file is cut on its own: a unit never
 * spans two inputs, and an input's end always ends a unit.
 *
 * Memory: one staging buffer holding at most a unit plus the tail without a
 * safe cut yet. A tail longer than `maxHeldBytes` is a UserError naming the
 * input and the offset where it starts (cutting it anyway would change the
 * result); units are at most `maxHeldBytes`, so no longer stretch hides
 * inside one. After a failed search the next one waits until the held bytes
 * double, so a long stretch costs linear, not quadratic, time.
 *
 * Every unit it emits owns its buffer (see items.ts), so the next stage may
 * move it to a worker thread.
 */
import { UserError } from '../pipeline/errors.ts';
import type { Stage } from '../pipeline/stage.ts';
import { longStretchMessage } from '../tokenizer/chunking.ts';
import { ownedBytes, type Unit } from './items.ts';

/** Where a buffer can be cut: `at` in (0, length], or `at` <= 0 when it holds no safe cut yet. */
export interface Cut {
  at: number;
  /** True when the cut splits a piece of text (a document goes on in the next unit), not at a special token. */
  continues: boolean;
}

/** The latest safe cut of buf[0, length), bytes after it possibly following. */
export type FindCut = (buf: Uint8Array, length: number) => Cut;

export interface CutOptions {
  findCut: FindCut;
  /** Target unit size in bytes. */
  unitBytes: number;
  /** Longest stretch without a safe cut held whole; longer is a UserError. */
  maxHeldBytes: number;
  /** What needs the stretch whole, for the error (e.g. 'encode it exactly'). */
  purpose: string;
}

/** Spare bytes after the held bytes in a buffer the cutter makes (the counting fast path reads 8 bytes at a time). */
const SPARE = 8;

/** The name of an input in messages. */
export function inputName(file: string): string {
  return file === '-' ? 'stdin' : file;
}

/**
 * The cutting state for one stream: `push` bytes of the current input,
 * `end` at each input's end. Synchronous, so the streaming encoder
 * (`encode_iterable`) uses it as well as the `cut` stage.
 *
 * Copies: bytes pushed as `owned` (a unit's, see items.ts) are not copied.
 * The cutter takes the chunk's buffer over, puts the few bytes it carries
 * from before into the free bytes in front of the chunk (the reader leaves
 * room there), and hands that buffer on as the next unit; only the bytes
 * after the unit's cut are copied, into the next buffer. Bytes that are not
 * owned (a caller's), or that do not fit, are copied into a buffer of its own.
 */
export class SafeCutter {
  private readonly o: CutOptions;
  /** The held bytes are buf[0, len); buf is a view that may reach further (free room). */
  private buf: Uint8Array = new Uint8Array(0);
  private len = 0;
  /** Input offset of buf[0]. */
  private start = 0;
  private file = '';
  private nextAttempt: number;
  private seq = 0;

  constructor(options: CutOptions) {
    // Units no longer than the stretch held whole: a unit larger than that could hold a longer
    // stretch without a cut (the cut is searched for from the unit's end), which must be refused.
    const maxHeldBytes = Math.max(1, options.maxHeldBytes);
    this.o = { ...options, unitBytes: Math.max(1, Math.min(options.unitBytes, maxHeldBytes)), maxHeldBytes };
    this.nextAttempt = this.o.unitBytes;
  }

  /** Bytes held that no unit holds yet. */
  get heldBytes(): number {
    return this.len;
  }

  /**
   * Appends bytes of input `file` at `offset` (continuing the held bytes);
   * yields every unit that became complete. With `owned`, `data` and the
   * whole ArrayBuffer under it become the cutter's (see items.ts).
   */
  *push(file: string, offset: number, data: Uint8Array, owned = false): Generator<Unit> {
    if (this.len === 0) { this.file = file; this.start = offset; }
    if (data.length === 0) return;
    this.take(data, owned);
    for (;;) {
      if (this.len < this.nextAttempt) return;
      // The latest safe cut among the first nextAttempt bytes (the bytes after them count as not read yet).
      const cut = this.o.findCut(this.buf, this.nextAttempt);
      if (cut.at > 0) {
        yield this.unit(cut.at, cut.continues, false);
        this.nextAttempt = this.o.unitBytes;
        continue; // what is left may hold another unit
      }
      if (this.nextAttempt > this.o.maxHeldBytes) {
        throw new UserError(longStretchMessage(inputName(this.file), this.start, this.o.maxHeldBytes, this.o.purpose));
      }
      this.nextAttempt = Math.min(2 * this.nextAttempt, this.o.maxHeldBytes + 1);
    }
  }

  /** Ends the current input: yields what is held, if anything, as its last unit. */
  *end(file: string, offset: number): Generator<Unit> {
    if (this.len === 0) { this.file = file; this.start = offset; }
    if (this.len > 0) yield this.unit(this.len, false, true);
    this.nextAttempt = this.o.unitBytes;
  }

  /** Adds `data` to the held bytes, adopting its buffer when it is owned and has room in front for them. */
  private take(data: Uint8Array, owned: boolean): void {
    if (owned && data.byteOffset >= this.len && (this.len === 0 || this.buf.length - this.len < data.length)) {
      const at = data.byteOffset - this.len;
      const view = new Uint8Array(data.buffer, at, data.buffer.byteLength - at);
      view.set(this.buf.subarray(0, this.len));
      this.buf = view;
      this.len += data.length;
      return;
    }
    if (this.len + data.length > this.buf.length) {
      // Room for the next attempt, so small pushes do not copy the held bytes each time.
      const bigger = ownedBytes(Math.max(this.len + data.length, Math.min(this.nextAttempt, this.o.maxHeldBytes + 1), 2 * this.len) + SPARE);
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  /**
   * The first `n` held bytes as a unit. The smaller side is copied: usually
   * the unit takes the buffer and the few bytes after the cut move to a new
   * one; when more bytes follow than the unit holds, the unit gets a copy.
   */
  private unit(n: number, continues: boolean, last: boolean): Unit {
    const rest = this.len - n;
    let data: Uint8Array;
    if (n < rest) {
      data = ownedBytes(n + SPARE).subarray(0, n);
      data.set(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
    } else {
      data = this.buf.subarray(0, n);
      const next = ownedBytes(Math.max(2 * rest, 256) + SPARE);
      next.set(this.buf.subarray(n, this.len));
      this.buf = next;
    }
    const unit: Unit = { seq: this.seq++, file: this.file, offset: this.start, data, last, ...(continues ? { continues } : {}) };
    this.len = rest;
    this.start += n;
    return unit;
  }
}

/** The cut stage: re-cuts any unit stream (one input after another) into safe work units. */
export function cutUnits(options: CutOptions & { description?: string }): Stage<Unit, Unit> {
  return {
    name: 'cut',
    description: options.description ?? 'cut the byte stream where processing the parts separately cannot change the result',
    bytesOf: (u) => u.data.length,
    async *run(source) {
      const cutter = new SafeCutter(options);
      for await (const u of source) {
        yield* cutter.push(u.file, u.offset, u.data, true);
        if (u.last) yield* cutter.end(u.file, u.offset + u.data.length);
      }
      if (cutter.heldBytes > 0) throw new Error('cut: the stream ended without the last unit of an input');
    },
  };
}
