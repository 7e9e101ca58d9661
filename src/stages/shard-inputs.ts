/**
 * Sharding the input: the sorted input list is one byte stream, cut into N
 * contiguous byte ranges of about equal size; each boundary inside a file is
 * moved forward to the next place where the text can be cut (`firstTextCut`:
 * the rule encode and counting already cut by), or to the file's end. So the
 * N shards' outputs, concatenated in order, are byte-identical to a
 * one-process run. Record files are cut between records: uncompressed
 * JSON Lines at the start of a line, Parquet at the start of a row group
 * (a range of a Parquet file reads the row groups that start in it).
 * Compressed files (`.gz`, `.zst`, `.jsonl.gz`, ...) are never cut: each goes
 * whole to one shard, since it can only be decoded from its start. Finding
 * a boundary reads a few kilobytes around it (for Parquet, the footer),
 * never a whole file. Sharding by document (split-corpus) moves a boundary
 * in plain text to just after the next document separator instead, so no
 * document is split between shards (a record is a document already).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { UserError } from '../pipeline/errors.ts';
import type { Shard } from '../pipeline/shard.ts';
import { firstTextCut } from '../tokenizer/chunking.ts';
import type { SpecialMatcher } from '../tokenizer/special-matcher.ts';
import { formatOf, isPlainText, isSplittable } from './formats/index.ts';
import { byteRange, type InputFile } from './read-inputs.ts';

/** A position in the input list: file index and byte offset (offset 0 of file i+1 = the end of file i). */
export interface StreamPosition {
  file: number;
  offset: number;
}

/** Bytes read around a boundary at a time. */
const WINDOW = 64 << 10;

const NEWLINE = 0x0a;

/**
 * The first safe boundary at or after `offset` in `file`: a text cut (or,
 * with `separator`, a document end), a line start (JSON Lines), a row group
 * start (Parquet), or the file's end.
 */
async function safeBoundary(file: InputFile, offset: number, specials: SpecialMatcher, rowGroups: Map<string, number[]>, separator?: Uint8Array): Promise<number> {
  if (offset <= 0 || offset >= file.size) return Math.max(0, Math.min(offset, file.size));
  // A compressed file is not cut: it goes whole to the shard its start falls in.
  if (!isSplittable(file.path)) return file.size;
  const handle = await open(file.path, 'r');
  try {
    if (formatOf(file.path).records === 'parquet') {
      let all = rowGroups.get(file.path);
      if (!all) {
        const { parquetRowGroupStarts } = await import('./formats/parquet.ts');
        all = await parquetRowGroupStarts(handle, file.path, file.size);
        rowGroups.set(file.path, all);
      }
      const starts = all.filter((s) => s >= offset);
      return starts.length > 0 ? Math.min(...starts) : file.size;
    }
    if (!isPlainText(file.path)) return await nextLineStart(handle, file, offset);
    if (separator) return await nextSeparatorEnd(handle, file, offset, separator);
    const back = Math.min(offset, Math.max(64, specials.maxBytes));
    let want = WINDOW;
    for (;;) {
      const start = offset - back;
      const len = Math.min(back + want, file.size - start);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await handle.read(buf, 0, len, start);
      // The window's last bytes may be cut off: search up to a few bytes before its end unless it reaches the file's end.
      const end = start + bytesRead >= file.size ? bytesRead : Math.max(back, bytesRead - Math.max(8, specials.maxBytes));
      const c = firstTextCut(buf, back, end, specials);
      if (c >= 0) return start + c;
      if (start + bytesRead >= file.size) return file.size;
      want *= 2;
    }
  } finally {
    await handle.close();
  }
}

/** The first line start at or after `offset` (just after a newline), or the file's end. */
async function nextLineStart(handle: FileHandle, file: InputFile, offset: number): Promise<number> {
  const buf = Buffer.allocUnsafe(WINDOW);
  for (let at = offset - 1; at < file.size; at += WINDOW) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(WINDOW, file.size - at), at);
    if (bytesRead === 0) break;
    const nl = buf.subarray(0, bytesRead).indexOf(NEWLINE);
    if (nl >= 0) return at + nl + 1;
  }
  return file.size;
}

/** The first position at or after `offset` that ends a `separator` (a document's end), or the file's end. */
async function nextSeparatorEnd(handle: FileHandle, file: InputFile, offset: number, separator: Uint8Array): Promise<number> {
  // A separator ending exactly at `offset` counts, so the search starts a separator's length before it.
  let at = Math.max(0, offset - separator.length);
  let want = WINDOW;
  for (;;) {
    const len = Math.min(want, file.size - at);
    if (len <= 0) return file.size;
    const buf = Buffer.allocUnsafe(len);
    const { bytesRead } = await handle.read(buf, 0, len, at);
    const q = buf.subarray(0, bytesRead).indexOf(separator);
    if (q >= 0) return at + q + separator.length;
    if (at + bytesRead >= file.size) return file.size;
    // The next window overlaps this one by a separator's length less one byte: a match across the two is found whole.
    at += Math.max(1, bytesRead - separator.length + 1);
    want *= 2;
  }
}

/**
 * The boundaries of all N shards (N + 1 positions, the first at the start
 * and the last at the end of the input list), in order. With `separator`,
 * plain-text boundaries are document ends (see the module comment).
 */
export async function shardBoundaries(files: readonly InputFile[], count: number, specials: SpecialMatcher, separator?: Uint8Array): Promise<StreamPosition[]> {
  if (files.some((f) => f.path === '-' || f.size < 0)) throw new UserError('stdin cannot be sharded (each shard reads its own byte range): pass files');
  const total = files.reduce((t, f) => t + f.size, 0);
  const out: StreamPosition[] = [{ file: 0, offset: 0 }];
  // A Parquet file's row group starts, read from its footer once for all the boundaries inside it.
  const rowGroups = new Map<string, number[]>();
  for (let k = 1; k < count; k++) {
    let target = Math.floor((k * total) / count);
    let i = 0;
    while (i < files.length && target >= files[i].size) { target -= files[i].size; i++; }
    let pos: StreamPosition = i >= files.length ? { file: files.length, offset: 0 } : { file: i, offset: await safeBoundary(files[i], target, specials, rowGroups, separator) };
    if (pos.file < files.length && pos.offset >= files[pos.file].size) pos = { file: pos.file + 1, offset: 0 };
    // Boundaries never go backwards (a moved boundary may pass the next target).
    const prev = out[out.length - 1];
    if (pos.file < prev.file || (pos.file === prev.file && pos.offset < prev.offset)) pos = prev;
    out.push(pos);
  }
  out.push({ file: files.length, offset: 0 });
  return out;
}

/** The inputs of shard `shard.index`: byte ranges of the files between its two boundaries (possibly none); with `separator`, cut between documents. */
export async function shardInputs(files: readonly InputFile[], shard: Shard, specials: SpecialMatcher, separator?: Uint8Array): Promise<InputFile[]> {
  const b = await shardBoundaries(files, shard.count, specials, separator);
  return rangesBetween(files, b[shard.index], b[shard.index + 1]);
}

/** The byte ranges of the input list from `from` to `to`. */
export function rangesBetween(files: readonly InputFile[], from: StreamPosition, to: StreamPosition): InputFile[] {
  const out: InputFile[] = [];
  for (let i = from.file; i <= Math.min(to.file, files.length - 1); i++) {
    const start = i === from.file ? from.offset : 0;
    const end = i === to.file ? to.offset : files[i].size;
    // A whole file stays a file (a compressed one cannot be read as a range, even a whole one).
    if (end > start) out.push(start === 0 && end === files[i].size ? files[i] : byteRange(files[i], start, end));
  }
  return out;
}
