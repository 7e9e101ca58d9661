/**
 * Reading token files (format: token-file.ts): `TokenFileReader` is the one
 * reader, used by training, evaluation, the data checks, the benchmarks and
 * the tests. It serves the batch sampler as a `TokenSource` and returns ids
 * in the file's own dtype for whoever wants them as they are.
 *
 * Node has no memory mapping without native code, so the reader issues one
 * positional read (`fs.readSync(fd, buf, 0, len, pos)`) per request; the OS
 * page cache makes repeated reads of a hot file cheap and memory stays flat
 * whatever the file size. `MemoryTokenSource` holds the ids in memory
 * instead (small files, tests, and the comparison in bench/sampler.ts).
 *
 * The dtype comes from the optional sidecar `<file>.json` (uint16 without
 * one: a plain numpy-memmap-compatible file), whose token count is checked
 * against the file size.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { readTokenFileMeta, sidecarPath } from './token-file.ts';
import type { TokenFileMeta } from './token-file.ts';
import { LITTLE_ENDIAN_HOST, itemBytes, typedArrayFor } from './token-dtype.ts';
import type { TokenDtype, TokenIdArray } from './token-dtype.ts';

/** Random access to a sequence of token ids (what the batch sampler reads). */
export interface TokenSource {
  /** Number of tokens. */
  readonly length: number;
  /** Copies tokens [start, start + count) into `out` at `offset`. */
  read(start: number, count: number, out: Int32Array, offset: number): void;
  /** Releases the file (no-op for in-memory sources). */
  close(): void;
}

/** The sidecar of token file `path` (checked), or null when it has none. */
export function tokenFileMeta(path: string): TokenFileMeta | null {
  return existsSync(sidecarPath(path)) ? readTokenFileMeta(path) : null;
}

/** The dtype recorded in the sidecar of `path`; uint16 when there is no sidecar. */
export function tokenFileDtype(path: string): TokenDtype {
  return tokenFileMeta(path)?.dtype ?? 'uint16';
}

/** How to open a token file. */
export interface TokenFileReaderOptions {
  /** Read the file as this dtype instead of its sidecar's (the sidecar's count is then not checked). */
  dtype?: TokenDtype;
  /** Refuse a file without a sidecar (an encoder's output must have one). */
  requireSidecar?: boolean;
}

function checkRange(length: number, start: number, count: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > length) {
    throw new RangeError(`token read [${start}, ${start + count}) outside [0, ${length})`);
  }
}

/**
 * A token file opened for positional reads: `read` fills the sampler's
 * Int32Arrays, `readIds`/`readAll` return ids in the file's dtype.
 */
export class TokenFileReader implements TokenSource {
  readonly path: string;
  readonly dtype: TokenDtype;
  /** The sidecar, or null for a file without one. */
  readonly meta: TokenFileMeta | null;
  /** Number of ids in the file. */
  readonly length: number;
  private fd: number | null;
  private scratch = new Uint8Array(0);

  constructor(path: string, options: TokenFileReaderOptions = {}) {
    this.path = path;
    this.meta = options.requireSidecar ? readTokenFileMeta(path) : tokenFileMeta(path);
    this.dtype = options.dtype ?? this.meta?.dtype ?? 'uint16';
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new UserError(`cannot open token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (encode the data first, e.g. pipelines/encode.ts)`);
    }
    const size = fstatSync(fd).size;
    const width = itemBytes(this.dtype);
    if (size % width !== 0) {
      closeSync(fd);
      throw new UserError(`token file ${path}: ${size} bytes is not a multiple of ${width} (dtype ${this.dtype}); the file is truncated or its sidecar dtype is wrong`);
    }
    const meta = this.meta;
    if (meta && meta.dtype === this.dtype && meta.tokens * width !== size) {
      closeSync(fd);
      throw new UserError(`token file ${path}: ${size} bytes but its sidecar says ${meta.tokens} ${this.dtype} ids (${meta.tokens * width} bytes); the file is truncated or does not belong to this sidecar`);
    }
    this.fd = fd;
    this.length = size / width;
  }

  /** Copies ids [start, start + count) into `out` at `offset` (TokenSource). */
  read(start: number, count: number, out: Int32Array, offset: number): void {
    checkRange(this.length, start, count);
    const len = count * itemBytes(this.dtype);
    if (this.scratch.length < len) this.scratch = new Uint8Array(len);
    this.fill(start, this.scratch, len);
    // Ids >= 2^31 would turn negative in the Int32Array; token ids never get there (vocab_size < 2^31).
    if (LITTLE_ENDIAN_HOST) out.set(new (typedArrayFor(this.dtype))(this.scratch.buffer, 0, count), offset);
    else out.set(decodeLittleEndian(this.scratch, this.dtype, count), offset);
  }

  /** Ids [start, start + count) in the file's dtype (count clipped at the end of the file). */
  readIds(start: number, count: number): TokenIdArray {
    if (!(Number.isInteger(start) && start >= 0 && start <= this.length)) {
      throw new RangeError(`token index ${start} is outside ${this.path} (${this.length} ids)`);
    }
    const n = Math.max(0, Math.min(count, this.length - start));
    const bytes = new Uint8Array(n * itemBytes(this.dtype));
    this.fill(start, bytes, bytes.length);
    return LITTLE_ENDIAN_HOST ? new (typedArrayFor(this.dtype))(bytes.buffer, 0, n) : decodeLittleEndian(bytes, this.dtype, n);
  }

  /** All ids (loads the whole file). */
  readAll(): TokenIdArray {
    return this.readIds(0, this.length);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** Reads `len` bytes from id `start` on into `into`, looping over short reads. */
  private fill(start: number, into: Uint8Array, len: number): void {
    if (this.fd === null) throw new Error(`token file ${this.path} is closed`);
    const pos = start * itemBytes(this.dtype);
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, into, got, len - got, pos + got);
      if (n === 0) throw new UserError(`token file ${this.path} ended early at byte ${pos + got} (it changed while being read)`);
      got += n;
    }
  }
}

/** Little-endian ids of `bytes` as a typed array (the big-endian host's path). */
function decodeLittleEndian(bytes: Uint8Array, dtype: TokenDtype, count: number): TokenIdArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new (typedArrayFor(dtype))(count);
  for (let i = 0; i < count; i++) out[i] = dtype === 'uint16' ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true);
  return out;
}

/** Tokens held in memory (an array, or a whole file read at once). */
export class MemoryTokenSource implements TokenSource {
  private readonly tokens: ArrayLike<number>;

  constructor(tokens: Uint16Array | Uint32Array | Int32Array | readonly number[]) {
    this.tokens = tokens;
  }

  /** Reads a whole token file into memory (with the reader's checks). */
  static fromFile(path: string, options: TokenFileReaderOptions = {}): MemoryTokenSource {
    const reader = new TokenFileReader(path, options);
    try {
      return new MemoryTokenSource(reader.readAll());
    } finally {
      reader.close();
    }
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
