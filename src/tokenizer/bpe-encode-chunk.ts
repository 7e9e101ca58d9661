/**
 * The unit of work for worker threads and streaming: the encoding of a piece
 * of the input cut where encoding the parts separately gives the same ids as
 * encoding the whole (`safeCutFinder` in `chunking.ts`: after a
 * non-whitespace pretoken or before a special token).
 */
import type { BpeEncoder } from './bpe-encode.ts';
import { IdBuffer } from './bpe-encode.ts';

/** Token ids in the narrowest type that holds every id of a vocabulary. */
export type TokenIds = Uint16Array | Uint32Array;

/** True when ids of a vocabulary of this size fit in uint16. */
export function fitsUint16(vocabSize: number): boolean {
  return vocabSize <= 0x10000;
}

/** A scratch buffer grown past this many ids is dropped after use. */
const MAX_KEPT_IDS = 1 << 22;

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
  // A unit holding one huge pretoken grew the scratch buffer: do not keep that memory.
  if (ids.data.length > MAX_KEPT_IDS) scratch.delete(encoder);
  return result;
}
