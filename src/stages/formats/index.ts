/**
 * The reader's formats: which one a file is (by its name), the check of its
 * first bytes against that (magic numbers), and the decoder that turns it
 * into text bytes. One module per format:
 *
 *   text.ts     plain text (and stdin): raw bytes, sniffed for binary data
 *   gzip.ts     .gz, Node's zlib, streaming
 *   zstd.ts     .zst, fzstd, streaming
 *   jsonl.ts    .jsonl / .json (JSON Lines), plain, .gz or .zst: a field per record
 *   parquet.ts  .parquet: a column, row group by row group (hyparquet)
 *
 * `readInputs` (../read-inputs.ts) is the one reader; it asks `openInput`
 * here for each non-text input's decoded bytes.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { UserError } from '../../pipeline/errors.ts';
import { rechunk, type ByteChunk, type Pieces } from './chunks.ts';
import type { RecordOptions } from './jsonl.ts';
import { checkTextStart, magicOf, rawPieces } from './text.ts';

/** Options of the reader (`readInputs`) for its formats. */
export interface ReaderOptions {
  /** JSON Lines field / Parquet column holding each document's text (default `text`). */
  textField?: string;
  /** Skip (and count, as `skipped_records`) records that are not JSON, lack the field, or hold no string, instead of stopping. */
  skipBadRecords?: boolean;
  /**
   * The document separator (the end-of-text special token): its UTF-8 bytes
   * follow each document read from JSON Lines or Parquet. Required for those
   * formats (they are refused without it).
   */
  separator?: string;
  /** Read text-named input as text even when it looks binary (compressed, Parquet, control bytes). */
  forceText?: boolean;
  /**
   * Told the reader's counters (the read stage passes its `ctx.count`):
   * `compressed_bytes` (bytes read from compressed and Parquet inputs),
   * `decoded_bytes` (text bytes decoded from them), `documents` and
   * `skipped_records` (JSON Lines and Parquet records).
   */
  count?: (key: string, n: number) => void;
  /** Told one line on the first skipped record of each input (the read stage passes its `ctx.warn`). */
  warn?: (message: string) => void;
  /** `ts`: the TypeScript paths only (no native JSON Lines extraction); `--engine ts` sets it. Default `auto`. */
  engine?: 'auto' | 'ts';
}

export type Compression = 'none' | 'gzip' | 'zstd';

/** An input's format: its compression and what its (decoded) bytes hold. */
export interface Format {
  /** The name messages and reports use: text, gzip, zstd, jsonl, jsonl.gz, jsonl.zst, parquet. */
  name: string;
  compression: Compression;
  records: 'text' | 'jsonl' | 'parquet';
}

/** File name endings (lower case, longest first) and their formats; any other name is text. */
const EXTENSIONS: readonly [string, Format][] = [
  ['.jsonl.gz', { name: 'jsonl.gz', compression: 'gzip', records: 'jsonl' }],
  ['.json.gz', { name: 'jsonl.gz', compression: 'gzip', records: 'jsonl' }],
  ['.jsonl.zst', { name: 'jsonl.zst', compression: 'zstd', records: 'jsonl' }],
  ['.json.zst', { name: 'jsonl.zst', compression: 'zstd', records: 'jsonl' }],
  ['.jsonl.zstd', { name: 'jsonl.zst', compression: 'zstd', records: 'jsonl' }],
  ['.jsonl', { name: 'jsonl', compression: 'none', records: 'jsonl' }],
  ['.json', { name: 'jsonl', compression: 'none', records: 'jsonl' }],
  ['.parquet', { name: 'parquet', compression: 'none', records: 'parquet' }],
  ['.gz', { name: 'gzip', compression: 'gzip', records: 'text' }],
  ['.zst', { name: 'zstd', compression: 'zstd', records: 'text' }],
  ['.zstd', { name: 'zstd', compression: 'zstd', records: 'text' }],
];

export const TEXT: Format = { name: 'text', compression: 'none', records: 'text' };

/** The format of an input by its name (stdin, `-`, is text). */
export function formatOf(path: string): Format {
  if (path === '-') return TEXT;
  const name = basename(path).toLowerCase();
  for (const [ext, f] of EXTENSIONS) if (name.endsWith(ext) && name.length > ext.length) return f;
  return TEXT;
}

/** True when the input is read as it is (plain text: no decoder, byte ranges allowed, size = bytes out). */
export function isPlainText(path: string): boolean {
  return formatOf(path) === TEXT;
}

/**
 * True when a byte range of the input can be read on its own: plain text
 * (cut at a text cut), JSON Lines that is not compressed (cut at a line
 * start) and Parquet (the row groups that start in the range). A compressed
 * file can only be read from its start.
 */
export function isSplittable(path: string): boolean {
  const fmt = formatOf(path);
  return fmt.compression === 'none';
}

/**
 * Checks what can be checked of the inputs before reading any: each
 * record format has a separator to join its documents with, and no
 * byte range of a compressed input is asked for. Throws a UserError.
 */
export function checkFormats(files: readonly { path: string; start?: number; end?: number }[], o: ReaderOptions): void {
  for (const f of files) {
    const fmt = formatOf(f.path);
    if (fmt.records !== 'text' && !o.separator) {
      throw new UserError(`${f.path} is ${fmt.records === 'parquet' ? 'Parquet' : 'JSON Lines'}: its records are documents, and reading them needs the document separator that goes between them (the end-of-text special token, e.g. '<|endoftext|>'): pass --separator TOKEN`);
    }
    if (!isSplittable(f.path) && (f.start !== undefined || f.end !== undefined)) {
      throw new UserError(`${f.path} is ${fmt.name}: a byte range of it cannot be read (compressed data is read from its start); pass the whole file`);
    }
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** What the first bytes of a file look like, for a mismatch message. */
function looksLike(head: Uint8Array): string {
  if (head.length === 0) return 'it is empty';
  const m = magicOf(head);
  if (m) return `it is ${m.name} data`;
  return `it starts with bytes ${hex(head)}`;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const PAR1 = [0x50, 0x41, 0x52, 0x31];

function startsWith(b: Uint8Array, m: readonly number[], at = 0): boolean {
  return b.length >= at + m.length && m.every((x, i) => b[at + i] === x);
}

/** A zstd frame or skippable frame (magic 0x184D2A5?, little-endian). */
function isZstdStart(head: Uint8Array): boolean {
  return startsWith(head, ZSTD_MAGIC) || (head.length >= 4 && (head[0] & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18);
}

async function readAt(handle: FileHandle, path: string, at: number, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(n);
  try {
    const { bytesRead } = await handle.read(buf, 0, n, at);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw new UserError(`read error in ${path} at byte ${at}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Checks a file's magic numbers against its name's format (text formats are sniffed as they are read). */
async function checkMagic(handle: FileHandle, path: string, size: number, fmt: Format): Promise<void> {
  const head = await readAt(handle, path, 0, 8);
  const ext = fmt.records === 'parquet' ? '.parquet' : fmt.compression === 'gzip' ? '.gz' : '.zst';
  const rename = 'rename it to what it holds (.txt, .jsonl, .gz, .zst, .jsonl.gz, .jsonl.zst, .parquet)';
  if (fmt.compression === 'gzip' && !startsWith(head, GZIP_MAGIC)) {
    throw new UserError(`${path} is named ${ext} but is not gzip data (no 1f 8b magic: ${looksLike(head)}); ${rename}`);
  }
  if (fmt.compression === 'zstd' && !isZstdStart(head)) {
    throw new UserError(`${path} is named ${ext} but is not zstd data (no 28 b5 2f fd magic: ${looksLike(head)}); ${rename}`);
  }
  if (fmt.records === 'parquet') {
    const tail = size >= 12 ? await readAt(handle, path, size - 4, 4) : Buffer.alloc(0);
    if (!startsWith(head, PAR1)) {
      throw new UserError(`${path} is named .parquet but is not Parquet data (no PAR1 magic at its start: ${looksLike(head)}); ${rename}`);
    }
    if (!startsWith(tail, PAR1)) {
      throw new UserError(`${path} is not a whole Parquet file (no PAR1 magic at its end, ${size} bytes): it is truncated or still being written; copy or write it again`);
    }
  }
}

/** Calls `check` on the first `atLeast` bytes of a stream of pieces (or all of them when shorter), passing every piece on. */
async function* sniffed(pieces: AsyncIterable<Uint8Array>, atLeast: number, check: (head: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  let head: Uint8Array[] = [];
  let n = 0;
  let done = false;
  for await (const p of pieces) {
    if (!done) {
      head.push(p);
      n += p.length;
      if (n < atLeast) continue;
      check(Buffer.concat(head, n));
      done = true;
      yield* head;
      head = [];
      continue;
    }
    yield p;
  }
  if (!done) {
    check(Buffer.concat(head, n));
    yield* head;
  }
}

/** Counts the bytes of a stream of pieces under `key`. */
async function* countedPieces(pieces: AsyncIterable<Pieces>, key: string, count?: (key: string, n: number) => void): AsyncGenerator<Pieces> {
  for await (const p of pieces) {
    if (count) {
      let n = 0;
      if (p instanceof Uint8Array) n = p.length;
      else for (const q of p) n += q.length;
      if (n > 0) count(key, n);
    }
    yield p;
  }
}

/** Bytes of decoded text sniffed before the first chunk of a compressed input goes out. */
const DECODED_SNIFF = 64 << 10;

/**
 * The chunks of a non-plain-text input (compressed, JSON Lines, Parquet):
 * checks its magic numbers, decodes it and packs the decoded bytes into
 * chunks of `chunkBytes` (offsets in the decoded stream). `range` reads a
 * byte range of an uncompressed record file (isSplittable): the lines, or
 * the row groups, that start in it.
 */
export async function* readFormatted(handle: FileHandle, path: string, size: number, chunkBytes: number, o: ReaderOptions, range?: { start: number; end: number }): AsyncGenerator<ByteChunk> {
  const fmt = formatOf(path);
  await checkMagic(handle, path, size, fmt);
  const counted = o.count ? (n: number) => o.count!('compressed_bytes', n) : undefined;
  const what = `input file ${path}`;
  let pieces: AsyncIterable<Pieces>;
  // The decoders (and their libraries) load on first use: plain-text runs never pay for them.
  if (fmt.records === 'parquet') {
    const { parquetDocuments } = await import('./parquet.ts');
    pieces = parquetDocuments(handle, path, size, recordOptions(o), counted, range);
  } else {
    const raw: AsyncIterable<Uint8Array> = fmt.compression === 'gzip' ? (await import('./gzip.ts')).gunzipPieces(handle, path, size, counted)
      : fmt.compression === 'zstd' ? (await import('./zstd.ts')).unzstdPieces(handle, path, size, counted)
      : rawPieces(handle, path, 1 << 20, size, undefined, range?.start, range?.end);
    // Decoded bytes that are not what the name says (a .gz of a .gz, of a tar, of Parquet) are refused like text that looks binary.
    const checked = o.forceText ? raw
      : sniffed(raw, DECODED_SNIFF, (head) => checkTextStart(head, fmt.compression === 'none' ? what : `${what} (decoded)`, (range?.start ?? 0) === 0));
    pieces = fmt.records === 'jsonl' ? (await import('./jsonl.ts')).jsonlDocuments(checked, path, { ...recordOptions(o), startByte: range?.start ?? 0 }) : checked;
  }
  if (fmt.compression !== 'none' || fmt.records !== 'text') pieces = countedPieces(pieces, 'decoded_bytes', fmt.compression === 'none' && fmt.records === 'jsonl' ? undefined : o.count);
  yield* rechunk(pieces, path, chunkBytes);
}

function recordOptions(o: ReaderOptions): RecordOptions {
  return {
    textField: o.textField ?? 'text',
    separator: Buffer.from(o.separator ?? '', 'utf8'),
    skipBadRecords: o.skipBadRecords === true,
    ...(o.engine ? { engine: o.engine } : {}),
    ...(o.count ? { count: o.count } : {}),
    ...(o.warn ? { warn: o.warn } : {}),
  };
}

/** The reader options from the format flags (`formatOptions` of src/pipeline/common-options.ts) and the pipeline's separator. */
export function readerOptions(flags: { textField?: string; skipBadRecords?: boolean; forceText?: boolean; engine?: string }, separator: string | undefined): ReaderOptions {
  return {
    ...(flags.engine === 'ts' ? { engine: 'ts' as const } : {}),
    ...(flags.textField !== undefined ? { textField: flags.textField } : {}),
    ...(flags.skipBadRecords ? { skipBadRecords: true } : {}),
    ...(flags.forceText ? { forceText: true } : {}),
    ...(separator ? { separator } : {}),
  };
}
