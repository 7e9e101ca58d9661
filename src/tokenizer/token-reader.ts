/**
 * Reading token files (format: token-file.ts): `TokenFileReader` is the one
 * reader, used by training, evaluation, the data checks, the benchmarks and
 * the tests. It serves the batch sampler as a `TokenSource` and returns ids
 * in the file's own dtype for whoever wants them as they are.
 *
 * Two ways to get at the bytes, one behaviour:
 * - memory-mapped (the default where the native addon is built, on
 *   little-endian hosts): the file is mapped through the addon
 *   (native/src/map_file.cc) in segments of up to 1 GiB, and a read is a
 *   copy out of the page cache with no system call, which is what a batch
 *   sampler drawing thousands of random windows wants;
 * - positional reads (the fallback, and `access: 'read'`): one
 *   `fs.readSync(fd, buf, 0, len, pos)` per request.
 * Either way memory stays flat whatever the file size (mapped pages are the
 * OS page cache's: they count in RSS once touched, but the kernel can drop
 * them). `MemoryTokenSource` holds the ids in memory instead (small files,
 * tests, and the comparison in bench/sampler.ts).
 *
 * The dtype comes from the optional sidecar `<file>.json` (uint16 without
 * one: a plain numpy-memmap-compatible file), whose token count is checked
 * against the file size.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../pipeline/errors.ts';
import { tryLoadNative, type NativeAddon } from '../backends/native/addon.ts';
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

/** How a reader gets at the file's bytes: memory-mapped, or positional reads. */
export type TokenFileAccess = 'map' | 'read';

/** Bytes per mapped segment: 1 GiB, a multiple of every page size and id width (typed arrays stay far below 2^32 elements). */
const MAP_SEGMENT_BYTES = 1 << 30;

/** The addon when it can map files on this host, else null. */
function mapper(): NativeAddon | null {
  if (!LITTLE_ENDIAN_HOST) return null;
  const addon = tryLoadNative();
  return addon && typeof addon.mapFile === 'function' ? addon : null;
}

/** How to open a token file. */
export interface TokenFileReaderOptions {
  /** 'map' (needs the native addon), 'read', or 'auto' (the default: 'map' where the addon is built, else 'read'). */
  access?: TokenFileAccess | 'auto';
  /** Bytes per mapped segment (tests; default 1 GiB; a multiple of the page size). */
  segmentBytes?: number;
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
  /** How the bytes are read. */
  readonly access: TokenFileAccess;
  private fd: number | null;
  private closed = false;
  private scratch = new Uint8Array(0);
  /** The mapped file in segments, each viewed in the file's dtype; empty when not mapped. */
  private segments: ArrayBuffer[] = [];
  private views: TokenIdArray[] = [];
  private idsPerSegment = 0;
  private addon: NativeAddon | null = null;

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
    const want = options.access ?? 'auto';
    const addon = want === 'read' ? null : mapper();
    if (want === 'map' && !addon) {
      closeSync(fd);
      throw new UserError(`token file ${path}: memory mapping needs the native addon on a little-endian host (npm run build:native); use positional reads instead`);
    }
    this.access = addon ? 'map' : 'read';
    if (addon) {
      const segmentBytes = options.segmentBytes ?? MAP_SEGMENT_BYTES;
      try {
        this.segments = size === 0 ? [] : addon.mapFile(path, segmentBytes);
      } catch (e) {
        throw new UserError(`cannot map token file ${path}: ${(e as Error).message}`);
      } finally {
        closeSync(fd);
        this.fd = null;
      }
      const mapped = this.segments.reduce((n, b) => n + b.byteLength, 0);
      if (mapped !== size) {
        addon.unmapFile(this.segments);
        throw new UserError(`token file ${path} changed size while being opened (${size} then ${mapped} bytes); open it again when its writer is done`);
      }
      this.addon = addon;
      const View = typedArrayFor(this.dtype);
      this.views = this.segments.map((b) => new View(b));
      this.idsPerSegment = segmentBytes / width;
    }
  }

  /** Copies ids [start, start + count) into `out` at `offset` (TokenSource). */
  read(start: number, count: number, out: Int32Array, offset: number): void {
    checkRange(this.length, start, count);
    if (this.access === 'map') {
      this.copyMapped(start, count, out, offset);
      return;
    }
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
    if (this.access === 'map') {
      const ids = new (typedArrayFor(this.dtype))(n);
      this.copyMapped(start, n, ids, 0);
      return ids;
    }
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
    if (this.addon) this.addon.unmapFile(this.segments);
    this.segments = [];
    this.views = [];
    this.closed = true;
  }

  /** Copies ids [start, start + count) of the mapped file into `out` at `offset`, segment by segment. */
  private copyMapped(start: number, count: number, out: Int32Array | TokenIdArray, offset: number): void {
    if (this.closed) throw new Error(`token file ${this.path} is closed`);
    let k = Math.floor(start / this.idsPerSegment);
    let i = start - k * this.idsPerSegment;
    let o = offset;
    let left = count;
    while (left > 0) {
      const view = this.views[k];
      const n = Math.min(left, view.length - i);
      out.set(view.subarray(i, i + n), o);
      o += n;
      left -= n;
      k++;
      i = 0;
    }
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
