/**
 * gzip: Node's zlib, streaming (a file of several concatenated members, as
 * `cat a.gz b.gz` makes, decodes to the concatenation). Memory is zlib's
 * 32 kB window plus one read and one output piece; the file is never held.
 * A truncated or corrupt stream is a UserError naming the file and the
 * compressed byte offset where zlib stopped.
 */
import type { FileHandle } from 'node:fs/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { UserError } from '../../pipeline/errors.ts';

/** Compressed bytes read per file read. */
const READ_BYTES = 1 << 20;
/** Decoded bytes per output piece. */
const OUT_BYTES = 256 << 10;

/** Decodes a gzip file's bytes; `counted(n)` is told the compressed bytes consumed as decoding goes. */
export function gunzipPieces(handle: FileHandle, path: string, size: number, counted?: (n: number) => void): AsyncGenerator<Uint8Array> {
  return zlibPieces(handle, path, size, 'gzip', () => createGunzip({ chunkSize: OUT_BYTES }), counted);
}

/** Decodes a file through a zlib decompression stream (`name` for messages). */
export async function* zlibPieces(
  handle: FileHandle, path: string, size: number, name: 'gzip' | 'zstd', make: () => Gunzip, counted?: (n: number) => void,
): AsyncGenerator<Uint8Array> {
  const rs = handle.createReadStream({ start: 0, highWaterMark: READ_BYTES, autoClose: false });
  const g = make();
  let readError: unknown;
  rs.on('error', (e) => { readError = e; g.destroy(e); });
  rs.pipe(g);
  let reported = 0;
  try {
    for await (const out of g as AsyncIterable<Buffer>) {
      if (g.bytesWritten > reported) { counted?.(g.bytesWritten - reported); reported = g.bytesWritten; }
      yield out;
    }
    if (g.bytesWritten > reported) counted?.(g.bytesWritten - reported);
  } catch (e) {
    if (readError !== undefined) {
      throw new UserError(`read error in ${path}: ${(readError as NodeJS.ErrnoException).code ?? (readError as Error).message}`);
    }
    const code = (e as NodeJS.ErrnoException).code;
    const msg = (e as Error).message;
    if (code === 'Z_BUF_ERROR' || /unexpected end of file|truncated|incomplete/i.test(msg)) {
      throw new UserError(`${path}: the ${name} stream is truncated (it ends inside a ${name === 'gzip' ? 'member' : 'frame'} at compressed byte ${g.bytesWritten} of ${size}): the file is incomplete; copy or compress it again (${name} -t ${path} checks it)`);
    }
    throw new UserError(`${path}: corrupt ${name} data at ${name === 'gzip' ? '' : 'or before '}compressed byte ${g.bytesWritten} of ${size} (${msg}); check it with ${name} -t ${path}`);
  } finally {
    rs.unpipe(g);
    rs.destroy();
    g.destroy();
  }
}
