/**
 * zstd: streaming with fzstd (0.1.1, pinned). Node 20 has no zstd in zlib
 * (it came with Node 22.15 / 23.8), and lmpipe wants no native build or
 * WebAssembly for the reader: fzstd is pure JavaScript, 25 kB, has no
 * dependencies, decodes streams a block at a time, and is the zstd decoder
 * hyparquet-compressors already uses for Parquet pages, so one decoder
 * serves both. It is slower than libzstd (bench/read-formats.ts). Node
 * 22.23's `zlib.createZstdDecompress` is not a drop-in replacement: this
 * reader's tests found that it stops after the first frame of a
 * multi-frame file (`cat a.zst b.zst`) and ends without an error on a
 * truncated file, silently dropping text, so it is not used. Memory is the frame's window (from its header: 2-8 MB at
 * the zstd CLI's usual levels, up to 128 MB for --long/--ultra) plus one
 * read; the file is never held. fzstd does not verify the frames' optional
 * content checksums, so corruption inside a block's literals can go unseen;
 * a truncated stream and corrupt headers, blocks or tables are UserErrors
 * naming the file and the compressed byte offset (the end of the read in
 * which the decoder stopped).
 */
import type { FileHandle } from 'node:fs/promises';
import { Decompress } from 'fzstd';
import { UserError } from '../../pipeline/errors.ts';
import { rawPieces } from './text.ts';

/** Compressed bytes per push into the decoder (the error offset's resolution). */
const READ_BYTES = 256 << 10;

/** Decodes a zstd file's bytes (one or several frames); `counted(n)` is told the compressed bytes read. */
export async function* unzstdPieces(handle: FileHandle, path: string, size: number, counted?: (n: number) => void): AsyncGenerator<Uint8Array> {
  let out: Uint8Array[] = [];
  const d = new Decompress((data) => { if (data.length > 0) out.push(data); });
  let consumed = 0;
  const fail = (e: unknown, at: number): never => {
    const code = (e as { code?: number }).code;
    if (code === 5) {
      throw new UserError(`${path}: the zstd stream is truncated (it ends inside a frame at compressed byte ${at} of ${size}): the file is incomplete; copy or compress it again (zstd -t ${path} checks it)`);
    }
    throw new UserError(`${path}: corrupt zstd data at or before compressed byte ${at} of ${size} (${(e as Error).message}); check it with zstd -t ${path}`);
  };
  for await (const piece of rawPieces(handle, path, READ_BYTES, size)) {
    try {
      d.push(piece);
    } catch (e) {
      fail(e, consumed + piece.length);
    }
    consumed += piece.length;
    counted?.(piece.length);
    if (out.length > 0) {
      const ready = out;
      out = [];
      yield* ready;
    }
  }
  try {
    d.push(new Uint8Array(0), true);
  } catch (e) {
    fail(e, consumed);
  }
  yield* out;
}
