/**
 * The integer type of the ids in a token file: uint16 when every id of the
 * vocabulary fits (≤ 65,536 ids: GPT-2's 50,257 and TinyStories' 10,000),
 * else uint32. The one place that decides it and knows its width, so the
 * encoder, the writer, the reader, the training checks and the benchmarks
 * cannot disagree.
 */
import { endianness } from 'node:os';

/** A token file's id type (the sidecar's "dtype"). */
export type TokenDtype = 'uint16' | 'uint32';

/** Ids as a typed array of their file's dtype. */
export type TokenIdArray = Uint16Array | Uint32Array;

/** The largest vocabulary whose ids all fit in uint16. */
export const UINT16_VOCAB_LIMIT = 0x10000;

/** The narrowest dtype that holds every id of a vocabulary of this size. */
export function dtypeForVocab(vocabSize: number): TokenDtype {
  return vocabSize <= UINT16_VOCAB_LIMIT ? 'uint16' : 'uint32';
}

/** Bytes per id (the sidecar's "itemBytes"). */
export function itemBytes(dtype: TokenDtype): 2 | 4 {
  return dtype === 'uint16' ? 2 : 4;
}

/** The typed-array constructor of a dtype (host byte order; token files are little-endian). */
export function typedArrayFor(dtype: TokenDtype): Uint16ArrayConstructor | Uint32ArrayConstructor {
  return dtype === 'uint16' ? Uint16Array : Uint32Array;
}

/**
 * Whether typed arrays of this host can view token-file bytes directly
 * (token files are little-endian; a big-endian host swaps them).
 */
export const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Whether a sidecar's "dtype" value names a token dtype. */
export function isTokenDtype(value: unknown): value is TokenDtype {
  return value === 'uint16' || value === 'uint32';
}
