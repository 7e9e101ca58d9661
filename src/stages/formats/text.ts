/**
 * Plain text: the file's bytes as they are, read straight into chunk
 * buffers (no copy), a byte range reading only its range. The first block
 * is sniffed: text whose start is a compressed or Parquet file's magic, or
 * whose bytes are mostly ones text does not have, is refused unless
 * `forceText` (a few stray NUL or control bytes are kept as they are).
 */
import type { FileHandle } from 'node:fs/promises';
import { UserError } from '../../pipeline/errors.ts';
import { chunkBuffer, concatChunk, type ByteChunk } from './chunks.ts';

/** Bytes of the first block the binary sniff looks at. */
export const SNIFF_BYTES = 64 << 10;

/** Known magic numbers at the start of a file: the format's name and how to read it. */
const MAGICS: readonly { name: string; bytes: readonly number[]; fix: string }[] = [
  { name: 'gzip', bytes: [0x1f, 0x8b], fix: "name it .gz (or .jsonl.gz)" },
  { name: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd], fix: "name it .zst (or .jsonl.zst)" },
  { name: 'Parquet', bytes: [0x50, 0x41, 0x52, 0x31], fix: 'name it .parquet' },
  { name: 'bzip2', bytes: [0x42, 0x5a, 0x68], fix: 'decompress it first (bzip2 -d)' },
  { name: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], fix: 'decompress it first (xz -d)' },
  { name: 'zip', bytes: [0x50, 0x4b, 0x03, 0x04], fix: 'extract it first (unzip)' },
];

/** The name of the compressed/container format whose magic `head` starts with, if any. */
export function magicOf(head: Uint8Array): { name: string; fix: string } | undefined {
  for (const m of MAGICS) {
    if (head.length >= m.bytes.length && m.bytes.every((b, i) => head[i] === b)) {
      // "BZh" is also the start of ordinary text: bzip2 needs a block-size digit after it.
      if (m.name === 'bzip2' && !(head[3] >= 0x31 && head[3] <= 0x39 && head[4] === 0x31 && head[5] === 0x41)) continue;
      return m;
    }
  }
  return undefined;
}

/** True for a byte text does not have: C0 controls other than \t \n \v \f \r and ESC, and DEL. */
function isBinaryByte(b: number): boolean {
  return (b < 0x20 && !(b >= 0x09 && b <= 0x0d) && b !== 0x1b) || b === 0x7f;
}

/** How many of `head`'s bytes text does not have, and the position of the first. */
export function binaryBytes(head: Uint8Array): { count: number; first: number } {
  let count = 0;
  let first = -1;
  for (let i = 0; i < head.length; i++) {
    if (isBinaryByte(head[i])) {
      if (count++ === 0) first = i;
    }
  }
  return { count, first };
}

/**
 * Refuses text whose first block looks binary (see the module comment):
 * `what` names the input in the message ("input file x.txt"). `atStart`
 * is false for a byte range that starts inside a file (no magic check there).
 */
export function checkTextStart(head: Uint8Array, what: string, atStart: boolean): void {
  const sample = head.subarray(0, SNIFF_BYTES);
  const magic = atStart ? magicOf(sample) : undefined;
  if (magic) {
    throw new UserError(`${what} is read as text but is ${magic.name} data (its first bytes are the ${magic.name} magic): ${magic.fix}, or pass --force-text to tokenise its raw bytes`);
  }
  const { count, first } = binaryBytes(sample);
  // A few stray NUL/control bytes are text's business; a share above 1% (and more than 8) is not text.
  if (count > 8 && count * 100 > sample.length) {
    throw new UserError(`${what} does not look like text: ${count} of its first ${sample.length} bytes are NUL or control bytes (the first at byte ${first}); pass the text itself, or --force-text to tokenise its raw bytes`);
  }
}

/**
 * Streams a file's bytes (or its byte range [start, end)) in chunks of
 * `chunkBytes`, each read straight into its own chunk buffer; `check` sees
 * the first chunk. One read is kept in flight ahead of the chunk handed on
 * (the reads run on libuv's threads, so the next chunk arrives while the
 * stages after this one work): memory is two chunks. A read error is a
 * UserError naming the file and offset.
 */
export async function* readTextFile(
  handle: FileHandle, path: string, chunkBytes: number, start: number, end: number, check?: (first: Buffer) => void, sizeHint = Number.POSITIVE_INFINITY,
): AsyncGenerator<ByteChunk> {
  /** Starts the read at `offset`; resolves with the buffer and the bytes read. */
  const readAt = (offset: number): { offset: number; want: number; done: Promise<{ buf: Buffer; n: number }> } => {
    // A buffer no larger than what is left of the file (by its size when listed, one byte more to see
    // the end), so a corpus of many small files does not allocate a whole chunk per file; a file
    // that grew since is still read to its end.
    const want = Math.max(0, Math.min(chunkBytes, end - offset, Math.max(1, sizeHint - offset + 1)));
    const buf = chunkBuffer(want);
    const done = want > 0
      ? handle.read(buf, 0, want, offset).then(
        (r) => ({ buf, n: r.bytesRead }),
        (e: unknown) => { throw new UserError(`read error in ${path} at byte ${offset}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); },
      )
      : Promise.resolve({ buf, n: 0 });
    done.catch(() => {}); // surfaced when awaited
    return { offset, want, done };
  };
  let next = readAt(start);
  let first = true;
  for (;;) {
    const { offset, want } = next;
    const { buf, n } = await next.done;
    if (first && check) check(buf.subarray(0, n));
    first = false;
    if (n === 0) {
      yield { file: path, offset, data: buf.subarray(0, 0), last: true };
      return;
    }
    const data = n === want ? buf : buf.subarray(0, n);
    const nextOffset = offset + n;
    // Peek for EOF cheaply: a short read means we are at the end (or the range's).
    const last = n < want || nextOffset >= end;
    if (!last) next = readAt(nextOffset);
    yield { file: path, offset, data, last };
    if (last) return;
  }
}

/** Streams stdin in chunks of `chunkBytes`; `check` sees the first chunk. */
export async function* readStdin(chunkBytes: number, check?: (first: Buffer) => void): AsyncGenerator<ByteChunk> {
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let first = true;
  for await (const part of process.stdin as AsyncIterable<Buffer>) {
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes >= chunkBytes) {
      const data = concatChunk(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      if (first && check) check(data);
      first = false;
      yield { file: '-', offset, data, last: false };
      offset += data.length;
    }
  }
  const data = concatChunk(pending, pendingBytes);
  if (first && check) check(data);
  yield { file: '-', offset, data, last: true };
}

/**
 * Streams a file's raw bytes as pieces of up to `pieceBytes` (each a fresh
 * buffer, no larger than the `size` left, plus one byte to see the end),
 * for the decoders; `counted(n)` is told each read's size. `from`/`to`
 * read only that byte range (a shard's range of a JSON Lines file).
 */
export async function* rawPieces(handle: FileHandle, path: string, pieceBytes: number, size: number, counted?: (n: number) => void, from = 0, to = Number.POSITIVE_INFINITY): AsyncGenerator<Uint8Array> {
  let offset = from;
  for (;;) {
    if (offset >= to) return;
    const want = Math.max(1, Math.min(pieceBytes, size - offset + 1, to - offset));
    const buf = Buffer.allocUnsafeSlow(want);
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buf, 0, want, offset));
    } catch (e) {
      throw new UserError(`read error in ${path} at byte ${offset}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (n === 0) return;
    counted?.(n);
    offset += n;
    yield n === want ? buf : buf.subarray(0, n);
  }
}
