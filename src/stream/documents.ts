/**
 * Document boundaries in a byte stream: documents are separated by a
 * separator (usually `<|endoftext|>`). Used to cut work units at document
 * ends and to route whole documents (train/validation split).
 */
import type { ByteChunk } from './read.ts';

/** Index just past the last separator in `buf`, or 0 when there is none. */
export function lastSeparatorEnd(buf: Buffer, sep: Buffer): number {
  const i = buf.lastIndexOf(sep);
  return i < 0 ? 0 : i + sep.length;
}

/** Splits `buf` into documents (separators removed); empty documents are kept as empty buffers. */
export function splitDocuments(buf: Buffer, sep: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const i = buf.indexOf(sep, start);
    if (i < 0) break;
    out.push(buf.subarray(start, i));
    start = i + sep.length;
  }
  out.push(buf.subarray(start));
  return out;
}

/**
 * Deterministic uniform [0, 1) value for document `index` under `seed`
 * (a 32-bit integer hash, so the split does not depend on chunking).
 */
export function documentDraw(seed: number, index: number): number {
  let h = (Math.imul(index ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** One step of a document stream (see `documentEvents`). */
export type DocumentEvent =
  /** A non-empty document begins: its number (0, 1, ... over all inputs), its file and the offset of its first byte. */
  | { kind: 'start'; index: number; file: string; offset: number }
  /** Bytes of the current document, in order (separators left out). Valid until the next event is pulled. */
  | { kind: 'data'; data: Buffer }
  /** The current document ended, after `bytes` bytes. */
  | { kind: 'end'; bytes: number };

/** Length of the longest suffix of buf[from, len) that is a proper prefix of `sep`. */
function partialSeparator(buf: Buffer, from: number, sep: Buffer): number {
  for (let k = Math.min(sep.length - 1, buf.length - from); k > 0; k--) {
    if (buf.compare(sep, 0, k, buf.length - k, buf.length) === 0) return k;
  }
  return 0;
}

/**
 * The documents of a byte stream (read chunks, as `readInputs` yields them),
 * as events, without ever holding a whole document: a document is the
 * non-empty text between two separators (leftmost matches, as a whole-text
 * split finds them) or a separator and a file's start or end, so a document
 * of any size streams through in the chunks it arrived in. Only a possible
 * start of a separator at a chunk's end (under `sep.length` bytes) is held
 * back. Empty documents get no number. `onChunk(bytes)` reports each chunk
 * consumed (for progress).
 */
export async function* documentEvents(
  chunks: AsyncIterable<ByteChunk>, sep: Buffer, onChunk?: (bytes: number) => void,
): AsyncGenerator<DocumentEvent, void, undefined> {
  let index = 0;
  let inDoc = false;
  let docBytes = 0;
  let held: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    const buf = held.length > 0 ? Buffer.concat([held, chunk.data]) : chunk.data;
    const base = chunk.offset - held.length; // file offset of buf[0]
    held = Buffer.alloc(0);
    let pos = 0;
    for (;;) {
      const i = buf.indexOf(sep, pos);
      const end = i >= 0 ? i : chunk.last ? buf.length : buf.length - partialSeparator(buf, pos, sep);
      if (end > pos) {
        if (!inDoc) {
          yield { kind: 'start', index: index++, file: chunk.file, offset: base + pos };
          inDoc = true;
          docBytes = 0;
        }
        docBytes += end - pos;
        yield { kind: 'data', data: buf.subarray(pos, end) };
      }
      if (i < 0) {
        if (chunk.last) {
          if (inDoc) yield { kind: 'end', bytes: docBytes };
          inDoc = false;
        } else {
          held = Buffer.from(buf.subarray(end));
        }
        break;
      }
      if (inDoc) yield { kind: 'end', bytes: docBytes };
      inDoc = false;
      pos = i + sep.length;
    }
    onChunk?.(chunk.data.length);
  }
  if (inDoc) yield { kind: 'end', bytes: docBytes };
}
