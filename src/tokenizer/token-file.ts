/**
 * Token files: the encoded corpus as raw little-endian unsigned integers, one
 * per token, with no header, so numpy reads it directly:
 * `np.memmap(path, dtype=np.uint16, mode='r')` (or uint32, see below).
 *
 * Beside each file `F` sits the sidecar `F.json` (format "lmpipe-tokens",
 * version 1):
 *
 *   {
 *     "format": "lmpipe-tokens", "version": 1,
 *     "dtype": "uint16" | "uint32",   // uint16 when vocabSize <= 65536
 *     "itemBytes": 2 | 4,
 *     "tokens": 123456,                // number of ids in F
 *     "sourceBytes": 654321,           // input text bytes they encode
 *     "vocabSize": 50257,
 *     "tokenizerHash": "sha256:<hex>", // the tokenizer identity (tokenizer-identity.ts): ids mean nothing without it
 *     "specialTokens": { "<|endoftext|>": 50256 }
 *   }
 *
 * With a document index (`encode --doc-index`) a third file `F.index`
 * holds, as little-endian uint64, the token offset where each document ends:
 * the position just after each separator id, in order (text after the last
 * separator is an unterminated document, ending at `tokens`). The sidecar
 * then has `"documentIndex": {"file": "F.index", "separatorId": 50256,
 * "documents": N}`. Offsets count from the start of F, so the index of a
 * concatenation is the parts' indexes, each shifted by the tokens before it.
 * F.index belongs to F: writing F replaces it or, without an index, removes it.
 *
 * The writer streams to a temporary name in the target's directory and
 * renames it into place only when complete (the index, then the sidecar
 * last), so Ctrl-C or a crash never leaves a partial file under the final
 * name. An id that does not fit the dtype is an error, never silently
 * truncated.
 *
 * The dtype rule lives in token-dtype.ts; token-reader.ts reads these files.
 */
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { UserError } from '../pipeline/errors.ts';
import { commitTemp, discardTemp, ensureDir, fsyncOrFail, prepareTempFile, settleWriteError, tempPathFor, writeAllSync } from '../util/atomic.ts';
import { LITTLE_ENDIAN_HOST, UINT16_VOCAB_LIMIT, dtypeForVocab, isTokenDtype, itemBytes } from './token-dtype.ts';
import type { TokenDtype } from './token-dtype.ts';

/** The writer's `dtype` type, kept importable from here for the writer's users. */
export type { TokenDtype };

/** Contents of a token file's sidecar JSON. */
export interface TokenFileMeta {
  format: 'lmpipe-tokens';
  version: 1;
  dtype: TokenDtype;
  itemBytes: 2 | 4;
  tokens: number;
  sourceBytes: number;
  vocabSize: number;
  tokenizerHash: string;
  specialTokens: Record<string, number>;
  /** Present on a shard's part (`encode --shard`): which part of which input it encodes. */
  shard?: ShardMeta;
  /** Present when the file has a document index (`F.index`, see the module comment). */
  documentIndex?: DocumentIndexMeta;
}

/** The sidecar's `documentIndex` block. */
export interface DocumentIndexMeta {
  /** The index file's name, beside the token file. */
  file: string;
  /** The id after which a document ends. */
  separatorId: number;
  /** Entries in the index (uint64 each). */
  documents: number;
}

/** The sidecar's `shard` block: a part's place in a sharded job and the input byte ranges it encodes. */
export interface ShardMeta {
  index: number;
  count: number;
  inputs: Array<{ file: string; start: number; end: number }>;
  /** Written by the writer when the part is complete: its tokens, and the documents that end in it (separator tokens). */
  tokens?: number;
  documents?: number;
}

/** What the writer needs to know about the tokenizer (and, for a shard's part, the shard). */
export interface TokenizerInfo {
  vocabSize: number;
  tokenizerHash: string;
  specialTokens: ReadonlyArray<{ text: string; id: number }>;
  shard?: ShardMeta;
  /** Write the document index `F.index`: a document ends after each `separatorId`. */
  documentIndex?: { separatorId: number };
}

/** Path of the sidecar of a token file. */
export function sidecarPath(path: string): string {
  return `${path}.json`;
}

/** Path of the document index of a token file. */
export function indexPath(path: string): string {
  return `${path}.index`;
}

/** The summary's `document_index` field for token file `path`, when it has an index (spread into a pipeline's result). */
export function documentIndexSummary(path: string, meta: TokenFileMeta): { document_index?: { out: string; documents: number } } {
  return meta.documentIndex ? { document_index: { out: indexPath(path), documents: meta.documentIndex.documents } } : {};
}

/** Index entries buffered before they are written (8 bytes each). */
const INDEX_BUFFER = 1 << 16;

/** Index of the first id in a typed array that is ≥ `limit`, or -1 (one monomorphic pass). */
function firstAtLeast16(ids: Uint16Array, limit: number): number {
  for (let i = 0; i < ids.length; i++) if (ids[i] >= limit) return i;
  return -1;
}

function firstAtLeast32(ids: Uint32Array, limit: number): number {
  for (let i = 0; i < ids.length; i++) if (ids[i] >= limit) return i;
  return -1;
}

/** Index of the first element that is not an integer in [0, limit), or -1. */
function firstInvalid(ids: ArrayLike<number>, limit: number): number {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (!(v >= 0 && v < limit && Math.floor(v) === v)) return i;
  }
  return -1;
}

/**
 * The ids as little-endian bytes of `dtype`, checking that each is a valid
 * id (unless `check` is false). Typed arrays hold integers ≥ 0 already, so
 * only the upper bound is checked, in a loop specialised to the array type:
 * the writer runs on the main thread beside the encode workers, and the
 * generic check cost ~1 ms per MB of text there.
 */
function toBytes(ids: ArrayLike<number>, dtype: TokenDtype, vocabSize: number, check: boolean): Uint8Array {
  const bad = !check ? -1 : ids instanceof Uint16Array ? (vocabSize >= UINT16_VOCAB_LIMIT ? -1 : firstAtLeast16(ids, vocabSize))
    : ids instanceof Uint32Array ? firstAtLeast32(ids, vocabSize)
      : firstInvalid(ids, vocabSize);
  if (bad >= 0) {
    throw new Error(`token id ${ids[bad]} at index ${bad} cannot be written: ids must be integers below the vocabulary size ${vocabSize} (dtype ${dtype})`);
  }
  let typed: Uint16Array | Uint32Array;
  if (dtype === 'uint16') {
    typed = ids instanceof Uint16Array ? ids : new Uint16Array(ids.length);
  } else {
    typed = ids instanceof Uint32Array ? ids : new Uint32Array(ids.length);
  }
  if (typed !== ids) typed.set(ids);
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const swapped = new Uint8Array(bytes.length);
  const view = new DataView(swapped.buffer);
  for (let i = 0; i < typed.length; i++) {
    if (dtype === 'uint16') view.setUint16(2 * i, typed[i], true);
    else view.setUint32(4 * i, typed[i], true);
  }
  return swapped;
}

/** What `TokenFileWriter.write` is told about the ids. */
export interface TokenWriteOptions {
  /** Input bytes the ids encode (summed into the sidecar's `sourceBytes`). */
  sourceBytes?: number;
  /** The ids come straight from an encoder of this tokenizer: skip the range check. */
  fromEncoder?: boolean;
}

/** Calls `visit` with each index of `id` in `ids`; a typed array is searched with its native indexOf (2-5x a JS loop: this runs on the writer's main thread). */
function eachOccurrence(ids: ArrayLike<number>, id: number, visit: (i: number) => void): void {
  if (ids instanceof Uint16Array || ids instanceof Uint32Array || ids instanceof Int32Array) {
    for (let i = ids.indexOf(id); i >= 0; i = ids.indexOf(id, i + 1)) visit(i);
    return;
  }
  for (let i = 0; i < ids.length; i++) if (ids[i] === id) visit(i);
}

/** Occurrences of `id` in `ids`. */
function occurrences(ids: ArrayLike<number>, id: number): number {
  let n = 0;
  eachOccurrence(ids, id, () => { n++; });
  return n;
}

/**
 * The document ends of a token file as it is written: the offset after each
 * separator id, buffered as little-endian uint64 (written as two uint32
 * halves: offsets stay below 2^53) and appended to a temporary file.
 */
class DocumentIndexWriter {
  readonly tmp: string;
  private fd: number | null;
  private readonly buf = new DataView(new ArrayBuffer(8 * INDEX_BUFFER));
  private fill = 0;
  private fileBytes = 0;
  documents = 0;
  readonly path: string;
  readonly separatorId: number;

  constructor(path: string, separatorId: number) {
    this.path = path;
    this.separatorId = separatorId;
    this.tmp = tempPathFor(path);
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      throw new UserError(`cannot write document index ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (choose a writable --out location)`);
    }
  }

  /** Records the documents that end in `ids`, whose first id is at offset `base` of the token file. */
  add(ids: ArrayLike<number>, base: number): void {
    eachOccurrence(ids, this.separatorId, (i) => {
      const end = base + i + 1;
      this.buf.setUint32(8 * this.fill, end % 0x1_0000_0000, true);
      this.buf.setUint32(8 * this.fill + 4, Math.floor(end / 0x1_0000_0000), true);
      this.documents++;
      if (++this.fill === INDEX_BUFFER) this.flush();
    });
  }

  /** Writes the buffered entries. */
  flush(): void {
    if (this.fill === 0 || this.fd === null) return;
    const bytes = new Uint8Array(this.buf.buffer, 0, 8 * this.fill);
    writeAllSync(this.fd, bytes, this.path, this.fileBytes);
    this.fileBytes += bytes.length;
    this.fill = 0;
  }

  /** Flushes, syncs and closes the temporary (renamed by the token file's close). */
  finish(): void {
    this.flush();
    if (this.fd === null) return;
    fsyncOrFail(this.fd, this.path, this.fileBytes);
    closeSync(this.fd);
    this.fd = null;
  }

  /** Closes and removes the temporary. */
  discard(): void {
    if (this.fd !== null) {
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = null;
    }
    discardTemp(this.tmp);
  }
}

/**
 * Streams token ids into a token file (or to stdout for `-`, where no
 * sidecar is written; `close` still returns the metadata), and its
 * document index when asked.
 */
export class TokenFileWriter {
  readonly path: string;
  readonly dtype: TokenDtype;
  private readonly info: TokenizerInfo;
  private readonly tmp: string | null;
  private fd: number | null;
  private readonly stdout: Writable | null;
  private tokens = 0;
  private sourceBytes = 0;
  /** A shard's part counts its documents: ids of the document separator (the index's, else the first special token), or -1. */
  private readonly separatorId: number;
  private documents = 0;
  /** Bytes written to the temporary so far. */
  private fileBytes = 0;
  private done = false;
  private readonly index: DocumentIndexWriter | null;

  /** Opens `path` for writing (`-`: stdout, or the given stream for tests). */
  constructor(path: string, info: TokenizerInfo, stdout: Writable = process.stdout) {
    this.path = path;
    this.info = info;
    this.dtype = dtypeForVocab(info.vocabSize);
    this.separatorId = info.shard ? (info.documentIndex?.separatorId ?? info.specialTokens[0]?.id ?? -1) : -1;
    if (path === '-') {
      if (info.documentIndex) throw new UserError('a document index needs a token file: give --out FILE, not -');
      this.tmp = null;
      this.fd = null;
      this.stdout = stdout;
      this.index = null;
    } else {
      ensureDir(dirname(path));
      this.tmp = tempPathFor(path);
      try {
        this.fd = openSync(this.tmp, 'w');
      } catch (e) {
        throw new UserError(`cannot write token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (choose a writable --out location)`);
      }
      this.stdout = null;
      try {
        this.index = info.documentIndex ? new DocumentIndexWriter(indexPath(path), info.documentIndex.separatorId) : null;
      } catch (e) {
        this.abort();
        throw e;
      }
    }
  }

  /**
   * Appends ids (and counts `sourceBytes`, the input bytes they encode).
   * Await it: stdout has backpressure. Every id is checked against the
   * vocabulary size unless `fromEncoder` says they come straight from an
   * encoder of this same tokenizer (its ids index the vocabulary, so they are
   * in range by construction); the encode pipeline does that to keep the
   * main thread, which shares the cores with the workers, free.
   */
  async write(ids: ArrayLike<number>, options: TokenWriteOptions = {}): Promise<void> {
    const sourceBytes = options.sourceBytes ?? 0;
    const fromEncoder = options.fromEncoder === true;
    if (this.done) throw new Error('TokenFileWriter: write after close');
    this.sourceBytes += sourceBytes;
    if (ids.length === 0) return;
    const bytes = toBytes(ids, this.dtype, this.info.vocabSize, !fromEncoder);
    const base = this.tokens;
    this.tokens += ids.length;
    // With an index, its entries are the documents (the same separator): the ids are searched once.
    if (this.separatorId >= 0 && !this.index) this.documents += occurrences(ids, this.separatorId);
    if (this.fd !== null) {
      try {
        writeAllSync(this.fd, bytes, this.path, this.fileBytes);
        this.index?.add(ids, base);
      } catch (e) {
        // Out of space: the temporary goes, the previous token file stays.
        this.abort();
        throw settleWriteError(e, this.path);
      }
      this.fileBytes += bytes.length;
      return;
    }
    const out = this.stdout as Writable;
    // Copy: the caller may reuse its buffer once we return.
    if (!out.write(Buffer.from(bytes))) await new Promise<void>((resolve) => out.once('drain', resolve));
  }

  /** Ids written so far. */
  get tokenCount(): number {
    return this.tokens;
  }

  /** The sidecar contents for what has been written. */
  meta(): TokenFileMeta {
    const specialTokens: Record<string, number> = {};
    for (const s of this.info.specialTokens) specialTokens[s.text] = s.id;
    return {
      format: 'lmpipe-tokens',
      version: 1,
      dtype: this.dtype,
      itemBytes: itemBytes(this.dtype),
      tokens: this.tokens,
      sourceBytes: this.sourceBytes,
      vocabSize: this.info.vocabSize,
      tokenizerHash: this.info.tokenizerHash,
      specialTokens,
      ...(this.info.shard ? { shard: { ...this.info.shard, tokens: this.tokens, documents: this.index ? this.index.documents : this.documents } } : {}),
      ...(this.index ? { documentIndex: { file: basename(this.index.path), separatorId: this.index.separatorId, documents: this.index.documents } } : {}),
    };
  }

  /** Finishes: the file appears under its final name, then its sidecar. */
  async close(): Promise<TokenFileMeta> {
    if (this.done) throw new Error('TokenFileWriter: closed twice');
    this.done = true;
    const meta = this.meta();
    if (this.fd === null) return meta;
    const tmp = this.tmp as string;
    let sideTmp: string;
    try {
      fsyncOrFail(this.fd, this.path, this.fileBytes);
      closeSync(this.fd);
      this.fd = null;
      this.index?.finish();
      // Everything that needs space is written before the previous file is touched.
      sideTmp = prepareTempFile(sidecarPath(this.path), `${JSON.stringify(meta, null, 2)}\n`);
    } catch (e) {
      this.done = false;
      this.abort();
      throw settleWriteError(e, this.path);
    }
    // A stale sidecar or index must not describe the new data, even for a moment.
    rmSync(sidecarPath(this.path), { force: true });
    rmSync(indexPath(this.path), { force: true });
    commitTemp(tmp, this.path);
    if (this.index) commitTemp(this.index.tmp, this.index.path);
    commitTemp(sideTmp, sidecarPath(this.path));
    return meta;
  }

  /** Abandons the output: the temporary file is removed, nothing is renamed. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    if (this.fd !== null) {
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = null;
    }
    if (this.tmp) discardTemp(this.tmp);
    this.index?.discard();
  }
}

/** Whether `path` holds an lmpipe token-file sidecar (format "lmpipe-tokens"). */
function isSidecar(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown }).format === 'lmpipe-tokens';
  } catch {
    return false;
  }
}

/** Why existing `path` is not a token file that encode may replace (null when it is one: it has its sidecar). */
export function notATokenFile(path: string): string | null {
  if (!existsSync(sidecarPath(path))) return `it has no ${basename(sidecarPath(path))} sidecar`;
  return isSidecar(sidecarPath(path)) ? null : `${basename(sidecarPath(path))} is not a token-file sidecar`;
}

/** Why existing `path` is not a token-file sidecar that encode may replace (null when it is one). */
export function notATokenSidecar(path: string): string | null {
  return isSidecar(path) ? null : 'it is not an lmpipe token-file sidecar (format "lmpipe-tokens")';
}

/** Reads and checks a token file's sidecar. */
export function readTokenFileMeta(path: string): TokenFileMeta {
  const side = sidecarPath(path);
  if (!existsSync(side)) {
    throw new UserError(`${side} not found: ${path} has no sidecar, so its dtype and tokenizer are unknown (re-create it with pipelines/encode.ts)`);
  }
  let meta: TokenFileMeta;
  try {
    meta = JSON.parse(readFileSync(side, 'utf8')) as TokenFileMeta;
  } catch (e) {
    throw new UserError(`${side} is not valid JSON (${(e as Error).message}); re-create the token file with pipelines/encode.ts`);
  }
  if (meta.format !== 'lmpipe-tokens' || meta.version !== 1 || !isTokenDtype(meta.dtype)) {
    throw new UserError(`${side} is not an lmpipe token-file sidecar (format "lmpipe-tokens", version 1, dtype uint16|uint32)`);
  }
  return meta;
}

/** A shard part's file name: `part-00003-of-00016.bin` (its sidecar adds `.json`, its document index `.index`). */
const PART_FILE = /^part-\d+-of-\d+\.bin(\.json|\.index)?$/;

/** Why existing directory `dir` is not a directory of token-file parts that encode --shard may add to (null when it is one). */
export function notAPartsDir(dir: string): string | null {
  const other = readdirSync(dir).filter((f) => !f.startsWith('.') && !PART_FILE.test(f));
  return other.length === 0 ? null : `it holds ${other.length} file(s) that are not token-file parts, e.g. ${other[0]}`;
}

/**
 * The sidecar of a complete part at `path` made with tokenizer `tokenizerHash`
 * for exactly `shard` (index, count and input byte ranges), with a document
 * index after `separatorId` when one is asked for (null: without), or null
 * when the part must be (re)made: missing, from another tokenizer or split,
 * with or without an index against the request, or a data or index file
 * whose size does not match its sidecar.
 */
export function completedPart(path: string, tokenizerHash: string, shard: ShardMeta, separatorId: number | null = null): TokenFileMeta | null {
  try {
    const meta = JSON.parse(readFileSync(sidecarPath(path), 'utf8')) as TokenFileMeta;
    if (meta.format !== 'lmpipe-tokens' || meta.tokenizerHash !== tokenizerHash || !meta.shard) return null;
    const spec = (m: ShardMeta): string => JSON.stringify({ index: m.index, count: m.count, inputs: m.inputs });
    if (spec(meta.shard) !== spec(shard)) return null;
    if (statSync(path).size !== meta.tokens * meta.itemBytes) return null;
    if ((meta.documentIndex?.separatorId ?? null) !== separatorId) return null;
    if (meta.documentIndex && statSync(indexPath(path)).size !== 8 * meta.documentIndex.documents) return null;
    return meta;
  } catch {
    return null;
  }
}
