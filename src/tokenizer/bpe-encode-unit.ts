/**
 * The unit of work for worker threads and streaming: the encoding of a piece
 * of the input cut where encoding the parts separately gives the same ids as
 * encoding the whole (`safeCutFinder` in `chunking.ts`: after a
 * non-whitespace pretoken, before a special token, or where no merge joins
 * the two sides).
 */
import type { BpeEncoder } from './bpe-encode.ts';
import { IdBuffer } from './bpe-encode.ts';
import { dtypeForVocab, typedArrayFor, type TokenIdArray } from './token-dtype.ts';

/** Token ids in the narrowest type that holds every id of a vocabulary. */
export type TokenIds = TokenIdArray;

/** A scratch buffer grown past this many ids is dropped after use. */
const MAX_KEPT_IDS = 1 << 22;

/** Scratch id buffers, one per encoder, reused across units (less garbage, so lower RSS). */
const scratch = new WeakMap<BpeEncoder, IdBuffer>();

/**
 * Encodes one self-contained piece of text bytes (a work unit cut with
 * `safeCutFinder`) with the TypeScript encoder: uint16 ids when the
 * vocabulary fits, else uint32 (`token-dtype.ts`), written into `out` (from
 * offset 0) when it is large enough, else into a new array of exactly their
 * length — the contract of the native core's `NativeEncoder.encodeUnit`.
 * The ids are complete before `out` is written, so `out` may be the text's
 * own buffer: the encode stage hands a unit's buffer on as its ids.
 */
export function encodeUnit(encoder: BpeEncoder, bytes: Uint8Array, out: ArrayBuffer | null = null): TokenIds {
  let ids = scratch.get(encoder);
  if (!ids) {
    ids = new IdBuffer((bytes.length >> 2) + 16);
    scratch.set(encoder, ids);
  }
  ids.clear();
  encoder.encodeRange(bytes, 0, bytes.length, ids);
  const Ids = typedArrayFor(dtypeForVocab(encoder.spec.vocabSize));
  const n = ids.length;
  const result = out !== null && n * Ids.BYTES_PER_ELEMENT <= out.byteLength ? new Ids(out, 0, n) : new Ids(n);
  result.set(ids.view());
  // A unit holding one huge pretoken grew the scratch buffer: do not keep that memory.
  if (ids.data.length > MAX_KEPT_IDS) scratch.delete(encoder);
  return result;
}
