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
import { spawn, spawnSync } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { Decompress } from 'fzstd';
import { UserError } from '../../pipeline/errors.ts';
import { rawPieces } from './text.ts';

/** Compressed bytes per push into the decoder (the error offset's resolution). */
const READ_BYTES = 256 << 10;

let cliChecked: boolean | null = null;

/** True when the `zstd` command-line tool (libzstd) runs here. */
function zstdCli(): boolean {
  cliChecked ??= spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;
  return cliChecked;
}

/**
 * Decodes a zstd file. With the `zstd` command-line tool on the PATH the
 * decoding runs in that process (libzstd, about 4× fzstd, and on another
 * core: with the native encoder, fzstd on the main thread was the whole
 * pipeline's limit, 12 MB/s against 41 for `zstd -dc | encode --input -`);
 * it verifies the frames' checksums too. Should it fail, fzstd decodes the
 * file again to name the position (or, if fzstd succeeds, the tool's own
 * message is the error). Without the tool, fzstd decodes (`fzstdPieces`).
 */
export async function* unzstdPieces(handle: FileHandle, path: string, size: number, counted?: (n: number) => void): AsyncGenerator<Uint8Array> {
  if (!zstdCli()) {
    yield* fzstdPieces(handle, path, size, counted);
    return;
  }
  const child = spawn('zstd', ['-dc', '-q', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    // Each piece is a fresh buffer of the child's output (never reused), as rechunk requires.
    for await (const piece of child.stdout as AsyncIterable<Buffer>) yield piece;
    const code = await exited;
    if (code !== 0) {
      // Name the position as the fzstd path does (it throws); if it finds nothing wrong, report the tool's message.
      for await (const _ of fzstdPieces(handle, path, size)) { /* decode to find the error */ }
      throw new UserError(`${path}: zstd -dc failed (${err.trim().split('\n').pop() ?? `exit ${code}`}); check it with zstd -t ${path}`);
    }
    counted?.(size);
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

/** Decodes a zstd file's bytes with fzstd (one or several frames); `counted(n)` is told the compressed bytes read. */
export async function* fzstdPieces(handle: FileHandle, path: string, size: number, counted?: (n: number) => void): AsyncGenerator<Uint8Array> {
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
