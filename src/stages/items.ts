/**
 * The items that flow between stages. Each is owned by the stage that
 * receives it: the sender never touches an item's buffers again.
 *
 * Ownership of bytes: a unit owns the whole ArrayBuffer under its `data`
 * (no other item, and no stage, keeps a view of it), so the stage that
 * receives it may move that ArrayBuffer to a worker thread, or write into
 * its bytes outside `data` (the cut stage puts its carried tail in front of
 * a read chunk's bytes instead of copying the chunk). Stages make new bytes
 * with `ownedBytes`/`ownedCopy` (never Node's pooled small Buffers, whose
 * ArrayBuffer is shared) and copy out a part of a unit they keep.
 */
import type { TokenIds } from '../tokenizer/bpe-encode-unit.ts';

/**
 * A work unit: bytes of one input that can be processed on their own
 * (they end at a safe cut, see stages/cut.ts), numbered in stream order.
 * With document-aligned cuts a unit is whole documents, each followed by the
 * separator except, at the end of an input, the last.
 */
export interface Unit {
  seq: number;
  file: string;
  offset: number;
  data: Uint8Array;
  /** True when the unit ends where its input ends. */
  last: boolean;
  /**
   * True when the unit ends inside a document that goes on in the next unit
   * (read-documents cuts a document longer than a read chunk; no separator
   * is ever cut). Document stages join such pieces first (`wholeDocuments`).
   */
  continues?: boolean;
  /**
   * Number of the document in progress at the unit's first byte, or else of
   * the next one to start: non-empty documents are numbered 0, 1, ... over
   * all inputs (the split's per-document draw uses it).
   */
  docIndex?: number;
  /** Numbers of the non-empty documents of the unit, in order, once a document stage dropped some. */
  docs?: number[];
}

/** The token ids of one unit and where its bytes came from. */
export interface Ids {
  ids: TokenIds;
  /** Input bytes the ids stand for. */
  bytes: number;
  file: string;
  offset: number;
}

/** `n` bytes in an ArrayBuffer of their own, not zero-filled (for bytes that are written before they are read). */
export function ownedBytes(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** A copy of `data` in an ArrayBuffer of its own. */
export function ownedCopy(data: Uint8Array): Uint8Array {
  const out = ownedBytes(data.length);
  out.set(data);
  return out;
}

/** The concatenation of `parts` in an ArrayBuffer of its own. */
export function ownedConcat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = ownedBytes(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
