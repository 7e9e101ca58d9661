/**
 * Incremental encoding of text that arrives in pieces (lines, stream
 * chunks). Only the unfinished tail is kept: the bytes after the last safe
 * cut (see `safeCutFinder`), so memory stays bounded by the longest stretch of
 * input without a safe boundary (`chunking.ts`), and ids come out as soon
 * as they are final. A stretch longer than `maxPendingBytes` is a UserError.
 */
import { UserError } from '../pipeline/errors.ts';
import type { BpeEncoder } from './bpe-encode.ts';
import { IdBuffer } from './bpe-encode.ts';
import { DEFAULT_ENCODE_MAX_PRETOKEN_BYTES, longStretchMessage, safeCutFinder } from './chunking.ts';

const utf8 = new TextEncoder();

export class StreamEncoder {
  private readonly encoder: BpeEncoder;
  private readonly minBatch: number;
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  /** A high surrogate that ended the previous string piece (its pair may follow). */
  private pendingHigh = '';
  /** Try to cut again once this many bytes are pending. */
  private nextAttempt: number;
  private readonly out = new IdBuffer(1 << 12);
  private readonly findCut: (buf: Uint8Array, length?: number) => number;
  private readonly maxPending: number;
  /** Bytes encoded and dropped so far (the input offset of buf[0]). */
  private consumed = 0;

  /**
   * `minBatch`: bytes to gather before trying to emit (small values give ids
   * sooner). `maxPendingBytes`: the longest stretch without a safe cut held.
   */
  constructor(encoder: BpeEncoder, minBatch = 1 << 14, maxPendingBytes = DEFAULT_ENCODE_MAX_PRETOKEN_BYTES) {
    this.encoder = encoder;
    this.minBatch = Math.max(1, minBatch);
    this.nextAttempt = this.minBatch;
    this.findCut = safeCutFinder(encoder.specials, encoder.joinable);
    this.maxPending = Math.max(this.minBatch, maxPendingBytes);
  }

  /** Bytes held that are not encoded yet. */
  get pendingBytes(): number {
    return this.len;
  }

  /** Adds a piece of text (string or UTF-8 bytes); returns the ids that became final, if any. */
  push(piece: string | Uint8Array): Uint32Array | null {
    if (typeof piece === 'string') this.appendString(piece);
    else this.appendBytes(piece);
    if (this.len < this.nextAttempt) return null;
    const cut = this.findCut(this.buf, this.len);
    if (cut <= 0) {
      if (this.len > this.maxPending) {
        throw new UserError(longStretchMessage('the text', this.consumed, this.maxPending, 'encode it exactly'));
      }
      this.nextAttempt = Math.min(this.len * 2, this.maxPending + 1);
      return null;
    }
    const ids = this.take(cut);
    this.nextAttempt = this.len + this.minBatch;
    return ids;
  }

  /** Ends the input: returns the ids of everything still pending. */
  finish(): Uint32Array {
    if (this.pendingHigh) {
      const lone = this.pendingHigh;
      this.pendingHigh = '';
      this.appendEncoded(lone);
    }
    const ids = this.take(this.len);
    this.nextAttempt = this.minBatch;
    this.consumed = 0;
    return ids;
  }

  /** Encodes and drops buf[0, cut). */
  private take(cut: number): Uint32Array {
    this.out.clear();
    this.encoder.encodeRange(this.buf, 0, cut, this.out);
    this.buf.copyWithin(0, cut, this.len);
    this.len -= cut;
    this.consumed += cut;
    // Give memory back after a long unsplittable stretch.
    if (this.buf.length > 1 << 20 && this.len < this.buf.length >> 3) {
      this.buf = this.buf.slice(0, Math.max(1 << 16, this.len * 2));
    }
    return this.out.view().slice();
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const bigger = new Uint8Array(cap);
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  private appendBytes(piece: Uint8Array): void {
    if (this.pendingHigh) {
      this.appendEncoded(this.pendingHigh);
      this.pendingHigh = '';
    }
    this.reserve(piece.length);
    this.buf.set(piece, this.len);
    this.len += piece.length;
  }

  private appendString(piece: string): void {
    // Keep a trailing high surrogate until the next piece: with its low half it is one character.
    let s = this.pendingHigh ? this.pendingHigh + piece : piece;
    this.pendingHigh = '';
    const last = s.charCodeAt(s.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.pendingHigh = s[s.length - 1];
      s = s.slice(0, -1);
    }
    this.appendEncoded(s);
  }

  private appendEncoded(s: string): void {
    this.reserve(s.length * 3);
    const { written } = utf8.encodeInto(s, this.buf.subarray(this.len));
    this.len += written;
  }
}
