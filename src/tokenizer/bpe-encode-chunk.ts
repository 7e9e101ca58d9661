/**
 * The unit of work for worker threads and streaming: a piece of the input
 * cut where encoding the parts separately gives the same ids as encoding the
 * whole (`findChunkCut` in `chunking.ts`: after a non-whitespace pretoken or
 * before a special token), and the encoding of one such piece.
 */
import type { BpeEncoder } from './bpe-encode.ts';
import { IdBuffer } from './bpe-encode.ts';
import { findChunkCut, specialSpans } from './chunking.ts';
import type { SpecialMatcher } from './special-split.ts';

/**
 * The cut finder for `rechunk` (src/stream/rechunk.ts): the largest safe cut
 * of a buffer that more bytes may follow, or 0 when there is none yet.
 */
export function safeCutFinder(specials: SpecialMatcher): (buf: Uint8Array, length?: number) => number {
  const bytes = specials.tokenBytes;
  return (buf, length = buf.length) => {
    // findChunkCut's last-resort scan treats the buffer end as the text end:
    // it would cut a word before a character whose bytes are not all here
    // yet, so that character is held back; and it can land inside a special
    // token still incomplete at the end (e.g. "<|e"), so each cut is checked
    // against every (partial) occurrence; a rejected cut is retried before
    // it, a few times, after which the caller waits for more bytes.
    let end = completeCharsEnd(buf, length);
    for (let tries = 0; tries < 8 && end > 0; tries++) {
      const cut = findChunkCut(buf, end, bytes).at;
      if (cut <= 0) return 0;
      if (bytes.length === 0 || !specialSpans(buf, length, cut, bytes)) return cut;
      end = cut;
    }
    return 0;
  };
}

/** End of the last complete UTF-8 character in buf[0, length) (drops a truncated trailing one). */
export function completeCharsEnd(buf: Uint8Array, length: number): number {
  let k = length - 1;
  const stop = Math.max(0, length - 4);
  while (k > stop && (buf[k] & 0xc0) === 0x80) k--;
  if (k < 0) return length;
  const c = buf[k];
  const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return k + need > length ? k : length;
}

/** Token ids in the narrowest type that holds every id of a vocabulary. */
export type TokenIds = Uint16Array | Uint32Array;

/** True when ids of a vocabulary of this size fit in uint16. */
export function fitsUint16(vocabSize: number): boolean {
  return vocabSize <= 0x10000;
}

/** Scratch id buffers, one per encoder, reused across chunks (less garbage, so lower RSS). */
const scratch = new WeakMap<BpeEncoder, IdBuffer>();

/**
 * Encodes one self-contained piece of text bytes (a work unit cut with
 * `safeCutFinder`): uint16 ids when the vocabulary fits, else uint32. The
 * ids are written into `out` when it is large enough (a recycled buffer),
 * else into a new buffer with some headroom for the next reuse.
 */
export function encodeChunk(encoder: BpeEncoder, bytes: Uint8Array, out: ArrayBuffer | null = null): TokenIds {
  let ids = scratch.get(encoder);
  if (!ids) {
    ids = new IdBuffer((bytes.length >> 2) + 16);
    scratch.set(encoder, ids);
  }
  ids.clear();
  encoder.encodeRange(bytes, 0, bytes.length, ids);
  const n = ids.length;
  const narrow = fitsUint16(encoder.spec.vocabSize);
  const item = narrow ? 2 : 4;
  const buffer = out !== null && out.byteLength >= n * item ? out : new ArrayBuffer(Math.ceil(n * 1.25 + 16) * item);
  const result = narrow ? new Uint16Array(buffer, 0, n) : new Uint32Array(buffer, 0, n);
  result.set(ids.view());
  return result;
}
