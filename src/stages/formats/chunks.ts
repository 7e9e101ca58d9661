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
 * Chunk memory handed back by the last stage that used it (`recycleChunk`),
 * newest last. A unit's ArrayBuffer goes reader → cut → worker → (ids
 * written over the text) → write; without recycling every megabyte is
 * fresh memory, and on VMs where a page fault costs microseconds the
 * faults, zeroing and the garbage collections external memory triggers cost
 * more than the writing itself: measured on encode (200 MB of books, 10k
 * vocabulary, 2 cores), 207 → 245 MB/s with 1 worker and 278 → 355 MB/s
 * with 2. Bounded: at most SPARE_BYTES are kept.
 */
const spares: ArrayBuffer[] = [];
let spareBytes = 0;
const SPARE_BYTES = 24 << 20;
/** Smaller buffers are left to the allocator (a last chunk of a small file). */
const MIN_RECYCLED = 64 << 10;
/** Sizes chunkBuffer handed out lately: only those are worth keeping. */
const chunkSizes = new Set<number>();

/**
 * A chunk buffer: `n` bytes (not zero-filled) after CHUNK_HEADROOM free ones,
 * in an ArrayBuffer of its own (never Node's shared pool), so the chunk
 * owns it and a stage may move it to a worker thread. A recycled buffer of
 * exactly that size is used when there is one.
 */
export function chunkBuffer(n: number): Buffer {
  const size = CHUNK_HEADROOM + n;
  if (size >= MIN_RECYCLED && !chunkSizes.has(size)) {
    if (chunkSizes.size >= 8) chunkSizes.clear();
    chunkSizes.add(size);
  }
  for (let i = spares.length - 1; i >= 0; i--) {
    const ab = spares[i];
    if (ab.byteLength !== size) continue;
    spares.splice(i, 1);
    spareBytes -= size;
    return Buffer.from(ab, CHUNK_HEADROOM, n);
  }
  return Buffer.allocUnsafeSlow(size).subarray(CHUNK_HEADROOM);
}

/**
 * Hands a unit's ArrayBuffer back for the reader's next chunks, once the
 * caller is done with every view of it: the unit's owner (items.ts), e.g.
 * the write sink after its synchronous write. Buffers that are small,
 * detached (moved to another thread) or beyond the bound are left to the
 * garbage collector; the oldest spares make room for newer ones.
 */
export function recycleChunk(buffer: ArrayBufferLike): void {
  if (!(buffer instanceof ArrayBuffer)) return;
  const size = buffer.byteLength;
  // Only sizes the reader asks for (ids that came back in a new array are another size).
  if (!chunkSizes.has(size) || size > SPARE_BYTES || spares.includes(buffer)) return;
  while (spareBytes + size > SPARE_BYTES) spareBytes -= (spares.shift() as ArrayBuffer).byteLength;
  spares.push(buffer);
  spareBytes += size;
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
