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
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../pipeline/errors.ts';
import { readTokenFileMeta, sidecarPath } from '../tokenizer/token-file.ts';
import { isLegacyTokenizerHash } from '../tokenizer/tokenizer-identity.ts';
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

/**
 * The vocabulary a token file's ids come from, as its sidecar records it;
 * train stores the training data's in state.json (`token_data`) so that
 * eval and generate can refuse data or a tokenizer that means other ids.
 */
export interface TokenDataIdentity {
  vocab_size: number;
  tokenizer_hash: string;
  /** The special tokens the encoder used, in order (they are part of the hash). */
  special_tokens: string[];
}

/** The identity recorded in a sidecar. */
export function tokenDataOf(meta: TokenFileMeta): TokenDataIdentity {
  return { vocab_size: meta.vocabSize, tokenizer_hash: meta.tokenizerHash, special_tokens: Object.keys(meta.specialTokens ?? {}) };
}

/** The identity in the sidecar of token file `path`, or null without one. */
export function tokenDataOfFile(path: string): TokenDataIdentity | null {
  const meta = tokenFileMeta(path);
  return meta ? tokenDataOf(meta) : null;
}

const shortHash = (h: string): string => h.replace(/^sha256:/, '').slice(0, 12);

/**
 * Refuses ids from another tokenizer: `got` (a sidecar's or a loaded
 * tokenizer's vocabulary size and hash, named by `what`) must be `expected`
 * (named by `from`). Hashes are compared when both are of one kind (a
 * tokenizer identity, or both from before it, see tokenizer-identity.ts);
 * a loaded tokenizer passes `matches` (Tokenizer.matchesHash) instead. The
 * one check train (on resume), eval and generate share; `fix` ends the
 * message.
 */
export function checkSameTokenizer(what: string, got: { vocabSize: number; tokenizerHash: string; matches?: (recorded: string) => boolean }, expected: TokenDataIdentity, from: string, fix: string): void {
  const sameVocab = got.vocabSize === expected.vocab_size;
  const sameHash = got.matches ? got.matches(expected.tokenizer_hash)
    : isLegacyTokenizerHash(got.tokenizerHash) !== isLegacyTokenizerHash(expected.tokenizer_hash) || got.tokenizerHash === expected.tokenizer_hash;
  if (sameVocab && sameHash) return;
  const says = (vocab: number, hash: string): string => `${vocab} ids, tokenizer ${shortHash(hash)}…`;
  throw new UserError(`${what} is from another tokenizer than ${from} (${says(got.vocabSize, got.tokenizerHash)} vs ${says(expected.vocab_size, expected.tokenizer_hash)}); ${fix}`);
}

/** The first id at or above a limit in a token file, and the file's largest id. */
export interface IdScan {
  /** Token index of the first id >= the limit, or -1. */
  firstBad: number;
  firstBadId: number;
  maxId: number;
}

const SCAN_CHUNK_BYTES = 1 << 22;
const scans = new Map<string, IdScan>();

/**
 * Scans a token file for ids >= `limit` in 4 MB chunks (bounded memory),
 * remembering the result per file size and modification time so a second
 * check in the same process reads nothing.
 */
export function scanTokenIds(path: string, dtype: TokenDtype, limit: number): IdScan {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${dtype}\0${limit}`;
  const cached = scans.get(key);
  if (cached) return cached;
  const width = bytesPerToken(dtype);
  const fd = openSync(path, 'r');
  const buf = new Uint8Array(SCAN_CHUNK_BYTES);
  let firstBad = -1;
  let firstBadId = 0;
  let maxId = 0;
  try {
    let pos = 0;
    let carry = 0;
    for (;;) {
      const n = readSync(fd, buf, carry, buf.length - carry, pos);
      if (n === 0) break;
      pos += n;
      const have = carry + n;
      const whole = have - (have % width);
      const base = (pos - have) / width;
      const ids = dtype === 'uint16'
        ? new Uint16Array(buf.buffer, 0, whole / 2)
        : new Uint32Array(buf.buffer, 0, whole / 4);
      let m = maxId;
      for (let i = 0; i < ids.length; i++) {
        const v = ids[i];
        if (v > m) {
          m = v;
          if (v >= limit && firstBad < 0) { firstBad = base + i; firstBadId = v; }
        }
      }
      maxId = m;
      carry = have - whole;
      if (carry > 0) buf.copyWithin(0, whole, have);
    }
  } finally {
    closeSync(fd);
  }
  const result = { firstBad, firstBadId, maxId };
  scans.set(key, result);
  return result;
}

/** What a checked token file's ids must match, and who says so. */
export interface TokenExpectation {
  identity: TokenDataIdentity;
  /** Names the source in messages ("train_data out/train.bin", "checkpoint out/run1"). */
  from: string;
}

/** What `checkTokenFile` checks besides the ids fitting the model. */
export interface TokenFileCheck {
  /** The tokenizer the ids must come from, when known. */
  expected?: TokenExpectation | null;
  /** The fewest tokens the file must hold (context_length + 1 for one window). */
  minTokens?: number;
  /** Names a model that cannot change (a checkpoint): the fix is other data, not a larger vocab_size. */
  fixedModel?: string;
}

/**
 * Checks token file `path` (named `what`: "train_data", "--data", ...)
 * before it is used with a model of `modelVocab` ids: it must be a file of
 * at least `minTokens` tokens; with a sidecar, its vocabulary must fit the
 * model and, when `expected` is given, be the same tokenizer's; without
 * one, every id is scanned (scanTokenIds) and the first out-of-range one is
 * reported with its position. Returns the sidecar, or null without one.
 */
export function checkTokenFile(path: string, what: string, modelVocab: number, options: TokenFileCheck = {}): TokenFileMeta | null {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} ${path} not found; encode the text first (pipelines/encode.ts) or fix the path`);
    throw new UserError(`cannot read ${what} ${path}: ${code ?? (e as Error).message}`);
  }
  if (st.isDirectory()) {
    let inside: string[] = [];
    try { inside = readdirSync(path).filter((f) => f.endsWith('.bin')).slice(0, 3); } catch { /* unreadable: no hint */ }
    const hint = inside.length > 0 ? ` such as ${inside.map((f) => join(path, f)).join(', ')}` : ' (pipelines/encode.ts writes one)';
    throw new UserError(`${what} ${path} is a directory; give a token file${hint}`);
  }
  const meta = tokenFileMeta(path);
  const tokens = Math.floor(st.size / bytesPerToken(meta?.dtype ?? 'uint16'));
  if (options.minTokens !== undefined && tokens < options.minTokens) {
    throw new UserError(`${what} ${path} has ${tokens} tokens, fewer than context_length + 1 = ${options.minTokens} for one window; use more data${options.fixedModel ? '' : ' or a shorter context_length'}`);
  }
  const vocabFix = options.fixedModel
    ? `use data encoded with the tokenizer of ${options.fixedModel}`
    : undefined;
  if (meta) {
    if (options.expected) checkSameTokenizer(`${what} ${path}`, meta, options.expected.identity, options.expected.from, 're-encode it with that tokenizer (pipelines/encode.ts) or give data encoded with it');
    if (meta.vocabSize > modelVocab) {
      throw new UserError(`${what} ${path} was encoded with a ${meta.vocabSize}-id tokenizer but model.vocab_size is ${modelVocab}; ${vocabFix ?? `set model.vocab_size to at least ${meta.vocabSize}`}`);
    }
    return meta;
  }
  if (modelVocab >= 0x10000) return null; // no uint16 id can be out of range
  const scan = scanTokenIds(path, 'uint16', modelVocab);
  if (scan.firstBad >= 0) {
    throw new UserError(`${what} ${path}: token ${scan.firstBad} has id ${scan.firstBadId}, outside the model's vocab_size ${modelVocab} (the file has no .json sidecar, so its ids were scanned; the largest is ${scan.maxId}); ${vocabFix ?? `set model.vocab_size to at least ${scan.maxId + 1}, or encode the data with the model's tokenizer`}`);
  }
  return null;
}
