/**
 * Random access to a token file without loading it: a `TokenSource` reads
 * `count` tokens starting at token `start` into an Int32Array.
 *
 * Node has no memory mapping without native code, so `FileTokenSource`
 * issues one positional read (`fs.readSync(fd, buf, 0, len, pos)`) per
 * window; the OS page cache makes repeated reads of a hot file cheap and
 * memory stays flat whatever the file size. `MemoryTokenSource` holds the
 * tokens in memory (small files, tests, and the benchmark's comparison; see
 * bench/sampler.ts for the measured trade-off).
 *
 * Token files are raw little-endian uint16 (default) or uint32; the dtype
 * comes from the sidecar `<file>.json` written by the encoder
 * (src/tokenizer/token-file.ts), whose token count is checked against the
 * file size.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { readTokenFileMeta, sidecarPath } from '../tokenizer/token-file.ts';
import type { TokenDtype, TokenFileMeta } from '../tokenizer/token-file.ts';

export type { TokenDtype };

/** Random access to a sequence of token ids. */
export interface TokenSource {
  /** Number of tokens. */
  readonly length: number;
  /** Copies tokens [start, start + count) into `out` at `offset`. */
  read(start: number, count: number, out: Int32Array, offset: number): void;
  /** Releases the file (no-op for in-memory sources). */
  close(): void;
}

/** Bytes per token of a dtype. */
export function bytesPerToken(dtype: TokenDtype): number {
  return dtype === 'uint32' ? 4 : 2;
}

/**
 * The dtype recorded in the sidecar `<path>.json` (token-file.ts format,
 * validated there); uint16 when there is no sidecar (a plain
 * numpy-memmap-compatible file).
 */
export function tokenFileDtype(path: string): TokenDtype {
  return existsSync(sidecarPath(path)) ? readTokenFileMeta(path).dtype : 'uint16';
}

/** The sidecar's token count, vocabulary size and dtype, or null without a sidecar. */
export function tokenFileMeta(path: string): TokenFileMeta | null {
  return existsSync(sidecarPath(path)) ? readTokenFileMeta(path) : null;
}

function checkRange(length: number, start: number, count: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > length) {
    throw new RangeError(`token read [${start}, ${start + count}) outside [0, ${length})`);
  }
}

/** Decodes little-endian tokens of `bytes` into `out` at `offset`. */
function decodeInto(bytes: Uint8Array, dtype: TokenDtype, count: number, out: Int32Array, offset: number): void {
  if (dtype === 'uint16') {
    for (let i = 0, j = 0; i < count; i++, j += 2) out[offset + i] = bytes[j] | (bytes[j + 1] << 8);
  } else {
    // Ids >= 2^31 would turn negative; token ids never get there (vocab < 2^31).
    for (let i = 0, j = 0; i < count; i++, j += 4) {
      out[offset + i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
    }
  }
}

/** A token file read with positional reads on an open descriptor. */
export class FileTokenSource implements TokenSource {
  readonly path: string;
  readonly dtype: TokenDtype;
  readonly length: number;
  private fd: number | null;
  private scratch = new Uint8Array(0);

  /** Opens `path`; the dtype defaults to the sidecar's. */
  constructor(path: string, dtype: TokenDtype = tokenFileDtype(path)) {
    this.path = path;
    this.dtype = dtype;
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new UserError(`cannot open token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (encode the data first, e.g. pipelines/encode.ts)`);
    }
    const size = fstatSync(fd).size;
    const width = bytesPerToken(dtype);
    if (size % width !== 0) {
      closeSync(fd);
      throw new UserError(`token file ${path}: ${size} bytes is not a multiple of ${width} (dtype ${dtype}); the file is truncated or its sidecar dtype is wrong`);
    }
    const meta = tokenFileMeta(path);
    if (meta && meta.dtype === dtype && meta.tokens * width !== size) {
      closeSync(fd);
      throw new UserError(`token file ${path}: ${size} bytes but its sidecar says ${meta.tokens} ${dtype} ids; the file is truncated or does not belong to this sidecar`);
    }
    this.fd = fd;
    this.length = size / width;
  }

  read(start: number, count: number, out: Int32Array, offset: number): void {
    if (this.fd === null) throw new Error(`token file ${this.path} is closed`);
    checkRange(this.length, start, count);
    const width = bytesPerToken(this.dtype);
    const len = count * width;
    if (this.scratch.length < len) this.scratch = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, this.scratch, got, len - got, start * width + got);
      if (n === 0) throw new Error(`token file ${this.path}: unexpected end of file at byte ${start * width + got}`);
      got += n;
    }
    decodeInto(this.scratch, this.dtype, count, out, offset);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Tokens held in memory (an array, or a whole file read at once). */
export class MemoryTokenSource implements TokenSource {
  private readonly tokens: ArrayLike<number>;

  constructor(tokens: Uint16Array | Uint32Array | Int32Array | readonly number[]) {
    this.tokens = tokens;
  }

  /** Reads a whole token file into memory. */
  static fromFile(path: string, dtype: TokenDtype = tokenFileDtype(path)): MemoryTokenSource {
    const buf = readFileSync(path);
    const width = bytesPerToken(dtype);
    if (buf.byteLength % width !== 0) {
      throw new UserError(`token file ${path}: ${buf.byteLength} bytes is not a multiple of ${width} (dtype ${dtype}); the file is truncated or its sidecar dtype is wrong`);
    }
    // Large reads get their own aligned ArrayBuffer; copy only when the view would be misaligned.
    const bytes = buf.byteOffset % width === 0 ? buf : Uint8Array.prototype.slice.call(buf);
    const count = bytes.byteLength / width;
    return new MemoryTokenSource(dtype === 'uint16'
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, count)
      : new Uint32Array(bytes.buffer, bytes.byteOffset, count));
  }

  get length(): number {
    return this.tokens.length;
  }

  read(start: number, count: number, out: Int32Array, offset: number): void {
    checkRange(this.tokens.length, start, count);
    const t = this.tokens;
    for (let i = 0; i < count; i++) out[offset + i] = t[start + i];
  }

  close(): void {}
}
