/**
 * Incremental encoding of text that arrives in pieces (lines, stream
 * chunks): `encode_iterable`. The pieces go through the one safe-cut
 * re-chunker (`SafeCutter`, stages/cut.ts), and each unit it completes is
 * encoded at once, so only the unfinished tail is kept (memory is bounded by
 * the longest stretch without a safe cut) and ids come out as soon as they
 * are final. A stretch longer than `maxPendingBytes` is a UserError.
 */
import { SafeCutter } from '../stages/cut.ts';
import type { Unit } from '../stages/items.ts';
import { IdBuffer, type BpeEncoder } from './bpe-encode.ts';
import type { UnitEncoder } from './native-tokenizer.ts';
import { DEFAULT_ENCODE_MAX_PRETOKEN_BYTES, safeCutFinder } from './chunking.ts';

const utf8 = new TextEncoder();

export class StreamEncoder {
  private readonly encoder: BpeEncoder;
  private readonly unit: UnitEncoder | undefined;
  private readonly cutter: SafeCutter;
  /** A high surrogate that ended the previous string piece (its pair may follow). */
  private pendingHigh = '';
  private readonly out = new IdBuffer(1 << 12);
  /** Bytes pushed so far (the offset of the next piece). */
  private offset = 0;

  /**
   * `minBatch`: bytes to gather before trying to emit (small values give ids
   * sooner). `maxPendingBytes`: the longest stretch without a safe cut held.
   * `unit`: encodes the units (the native core, native-tokenizer.ts); by
   * default `encoder` does (the TypeScript reference). Same ids.
   */
  constructor(encoder: BpeEncoder, minBatch = 1 << 14, maxPendingBytes = DEFAULT_ENCODE_MAX_PRETOKEN_BYTES, unit?: UnitEncoder) {
    this.encoder = encoder;
    this.unit = unit;
    this.cutter = new SafeCutter({
      findCut: safeCutFinder(encoder.specials, encoder.joinable),
      unitBytes: Math.max(1, minBatch),
      maxHeldBytes: maxPendingBytes,
      purpose: 'encode it exactly',
    });
  }

  /** Bytes held that are not encoded yet. */
  get pendingBytes(): number {
    return this.cutter.heldBytes;
  }

  /** Adds a piece of text (string or UTF-8 bytes); returns the ids that became final, if any. */
  push(piece: string | Uint8Array): Uint32Array | null {
    let bytes: Uint8Array;
    if (typeof piece === 'string') {
      // Keep a trailing high surrogate until the next piece: with its low half it is one character.
      let s = this.pendingHigh ? this.pendingHigh + piece : piece;
      this.pendingHigh = '';
      const last = s.charCodeAt(s.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.pendingHigh = s[s.length - 1];
        s = s.slice(0, -1);
      }
      bytes = utf8.encode(s);
    } else if (this.pendingHigh) {
      bytes = Buffer.concat([utf8.encode(this.pendingHigh), piece]);
      this.pendingHigh = '';
    } else {
      bytes = piece;
    }
    const ids = this.encodeAll(this.cutter.push('the text', this.offset, bytes));
    this.offset += bytes.length;
    return ids.length > 0 ? ids : null;
  }

  /** Ends the input: returns the ids of everything still pending. */
  finish(): Uint32Array {
    // A lone high surrogate left at the end is encoded as TextEncoder does (U+FFFD).
    const lone = this.pendingHigh ? utf8.encode(this.pendingHigh) : new Uint8Array(0);
    this.pendingHigh = '';
    const cutter = this.cutter;
    const offset = this.offset;
    this.offset = 0;
    return this.encodeAll((function* () {
      yield* cutter.push('the text', offset, lone);
      yield* cutter.end('the text', offset + lone.length);
    })());
  }

  /** The ids of every unit of `units`, in order. */
  private encodeAll(units: Iterable<Unit>): Uint32Array {
    this.out.clear();
    for (const u of units) {
      if (this.unit) {
        const ids = this.unit.encodeUnit(u.data, null);
        this.out.reserve(ids.length);
        this.out.data.set(ids, this.out.length);
        this.out.length += ids.length;
      } else {
        this.encoder.encodeRange(u.data, 0, u.data.length, this.out);
      }
    }
    return this.out.view().slice();
  }
}
