/**
 * Chunk buffers and the re-chunker shared by the reader's formats: every
 * chunk the reader yields owns its ArrayBuffer, with CHUNK_HEADROOM free
 * bytes in front of its data (the ownership rules of src/stages/items.ts).
 */

/**
 * Bytes kept free in front of every chunk's data, in the same ArrayBuffer:
 * the cut stage puts the tail it carries from the previous chunk there, so
 * the chunk's bytes are never copied (see stages/cut.ts).
 */
export const CHUNK_HEADROOM = 4096;

/** A piece of one input's (decoded) bytes, in order. `last` marks the end of that input. */
export interface ByteChunk {
  file: string;
  /** Byte offset of `data` in its file (for compressed and record formats: in the decoded stream). */
  offset: number;
  data: Buffer;
  last: boolean;
}

/**
 * A chunk buffer: `n` bytes (not zero-filled) after CHUNK_HEADROOM free ones,
 * in an ArrayBuffer of its own (never Node's shared pool), so the chunk
 * owns it and a stage may move it to a worker thread.
 */
export function chunkBuffer(n: number): Buffer {
  return Buffer.allocUnsafeSlow(CHUNK_HEADROOM + n).subarray(CHUNK_HEADROOM);
}

/** The concatenation of `parts` as a chunk buffer. */
export function concatChunk(parts: readonly Uint8Array[], n: number): Buffer {
  const out = chunkBuffer(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** What a decoder yields: one piece of bytes, or several in order (fewer async steps for many small documents). */
export type Pieces = Uint8Array | readonly Uint8Array[];

/**
 * Packs a stream of decoded pieces (any sizes; a piece's memory must not be
 * reused by its producer) into chunks of exactly `chunkBytes` (the last one
 * shorter, possibly empty, marked `last`). Pieces are held (by reference)
 * until they fill a chunk, then copied once into a fresh chunk buffer, so
 * the last chunk of an input is allocated at its own size (a corpus of many
 * small files does not allocate a whole chunk per file). `check(first)`
 * sees the first chunk's bytes before it goes out (the binary sniff).
 */
export async function* rechunk(
  pieces: AsyncIterable<Pieces>, file: string, chunkBytes: number, check?: (first: Buffer) => void,
): AsyncGenerator<ByteChunk> {
  let held: Uint8Array[] = [];
  let fill = 0;
  let offset = 0;
  let checked = check === undefined;
  for await (const item of pieces) {
    for (let piece of (item instanceof Uint8Array ? [item] : item)) {
      while (piece.length > 0) {
        const n = Math.min(piece.length, chunkBytes - fill);
        held.push(n === piece.length ? piece : piece.subarray(0, n));
        fill += n;
        piece = piece.subarray(n);
        if (fill === chunkBytes) {
          const data = concatChunk(held, fill);
          held = [];
          if (!checked) { check!(data); checked = true; }
          yield { file, offset, data, last: false };
          offset += fill;
          fill = 0;
        }
      }
    }
  }
  const data = concatChunk(held, fill);
  if (!checked) check!(data);
  yield { file, offset, data, last: true };
}
