/**
 * Parquet: the `textField` column, one document per row, read with
 * hyparquet (1.31.5, pinned; pure JavaScript) and hyparquet-compressors for
 * ZSTD, GZIP, BROTLI, SNAPPY and LZ4 pages. The footer is read first, then
 * each row group's column chunk by byte range, one row group at a time:
 * memory is the footer plus one row group's column (compressed and decoded),
 * never the whole file, and no other column is read. Values are taken as
 * raw bytes (no UTF-8 decode and re-encode), so a document's bytes are the
 * ones stored. Each document is followed by the separator, as in JSON
 * Lines. A file without the column is a UserError listing the columns; a
 * null value is a bad record (an error naming the row, or skipped with
 * `skipBadRecords`).
 *
 * A byte range of a Parquet file (a shard's, src/stages/shard-inputs.ts)
 * holds the row groups whose first page starts inside it (the rule Hadoop
 * and Spark use to split Parquet): the shards' boundaries are moved to row
 * group starts, so every row group is read by exactly one shard.
 */
import type { FileHandle } from 'node:fs/promises';
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData, type RowGroup } from 'hyparquet';
import { compressors as jsCompressors } from 'hyparquet-compressors';
import * as zlib from 'node:zlib';
import { UserError } from '../../pipeline/errors.ts';
import type { Pieces } from './chunks.ts';
import type { RecordOptions } from './jsonl.ts';

type Codec = (input: Uint8Array, outputLength: number) => Uint8Array;
/**
 * Page decompressors: hyparquet-compressors' pure-JS ones (SNAPPY, LZ4, and
 * ZSTD through fzstd), with Node's zlib for GZIP and BROTLI pages, several
 * times faster than the JS inflate.
 */
const compressors: Record<string, Codec> = {
  ...(jsCompressors as Record<string, Codec>),
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
};

/** Footer bytes fetched first (hyparquet fetches the rest of a larger footer itself). */
const FOOTER_FETCH = 64 << 10;

/** A file as hyparquet's AsyncBuffer: byte ranges read on demand; `counted(n)` is told each read's size. */
function fileBuffer(handle: FileHandle, path: string, size: number, counted?: (n: number) => void): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const e = Math.min(end ?? size, size);
      const n = Math.max(0, e - start);
      const buf = Buffer.allocUnsafeSlow(n);
      let at = 0;
      while (at < n) {
        let r: number;
        try {
          ({ bytesRead: r } = await handle.read(buf, at, n - at, start + at));
        } catch (err) {
          throw new UserError(`read error in ${path} at byte ${start + at}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        if (r === 0) throw new UserError(`${path} ended at byte ${start + at} while reading its Parquet data (was it truncated or changed during the run?)`);
        at += r;
      }
      counted?.(n);
      return buf.buffer as ArrayBuffer;
    },
  };
}

function wrap(e: unknown, what: string): never {
  if (e instanceof UserError) throw e;
  throw new UserError(`${what}: ${(e as Error).message}; the file may be truncated or corrupt`);
}

async function readMetadata(file: AsyncBuffer, path: string): Promise<FileMetaData> {
  try {
    return await parquetMetadataAsync(file, { initialFetchSize: FOOTER_FETCH });
  } catch (e) {
    wrap(e, `${path}: cannot read the Parquet footer`);
  }
}

/** The file offset of a row group's first page (dictionary or data page, whichever comes first, over all its columns). */
function rowGroupStart(rg: RowGroup): number {
  let start = Number.POSITIVE_INFINITY;
  for (const c of rg.columns) {
    const m = c.meta_data;
    if (!m) continue;
    start = Math.min(start, Number(m.data_page_offset));
    if (m.dictionary_page_offset !== undefined && m.dictionary_page_offset > 0n) start = Math.min(start, Number(m.dictionary_page_offset));
  }
  return Number.isFinite(start) ? start : Number(rg.file_offset ?? 0n);
}

/** Where each row group of a Parquet file starts (reads the footer only). */
export async function parquetRowGroupStarts(handle: FileHandle, path: string, size: number): Promise<number[]> {
  const metadata = await readMetadata(fileBuffer(handle, path, size), path);
  return metadata.row_groups.map(rowGroupStart);
}

/**
 * Streams the documents of a Parquet file's `textField` column, row group
 * by row group; with `range`, only the row groups that start in it.
 */
export async function* parquetDocuments(
  handle: FileHandle, path: string, size: number, o: RecordOptions, counted?: (n: number) => void, range?: { start: number; end: number },
): AsyncGenerator<Pieces> {
  const file = fileBuffer(handle, path, size, counted);
  const metadata = await readMetadata(file, path);
  const schema = parquetSchema(metadata);
  const column = schema.children.find((c) => c.element.name === o.textField);
  if (column === undefined) {
    const names = schema.children.map((c) => JSON.stringify(c.element.name)).join(', ') || 'none';
    throw new UserError(`${path} has no column ${JSON.stringify(o.textField)} (its columns: ${names}); pass --text-field NAME to read another one`);
  }
  if (column.children.length > 0 || column.element.type !== 'BYTE_ARRAY') {
    const kind = column.children.length > 0 ? 'a nested column' : `of type ${column.element.type}`;
    throw new UserError(`${path}: column ${JSON.stringify(o.textField)} is ${kind}, not a string column; pass --text-field NAME to read a string column`);
  }
  let groupStart = 0;
  let warned = false;
  for (let g = 0; g < metadata.row_groups.length; g++) {
    const rows = Number(metadata.row_groups[g].num_rows);
    const groupEnd = groupStart + rows;
    const at = rowGroupStart(metadata.row_groups[g]);
    if (rows === 0 || (range && (at < range.start || at >= range.end))) {
      groupStart = groupEnd;
      continue;
    }
    let values: unknown[] = [];
    try {
      await parquetRead({
        file, metadata, columns: [o.textField], rowStart: groupStart, rowEnd: groupEnd, compressors, utf8: false,
        // Keep string values as their stored bytes.
        parsers: { stringFromBytes: (b: Uint8Array) => b as unknown as string },
        onComplete: (r: unknown[][]) => { values = r.map((row) => row[0]); },
      });
    } catch (e) {
      wrap(e, `${path}: cannot read column ${JSON.stringify(o.textField)} of row group ${g} (rows ${groupStart}-${groupEnd - 1})`);
    }
    const out: Uint8Array[] = [];
    let documents = 0;
    let skipped = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v instanceof Uint8Array) {
        out.push(v, o.separator);
        documents++;
        continue;
      }
      const reason = `${path}: row ${groupStart + i} (row group ${g}) has no text (its ${JSON.stringify(o.textField)} is ${v === null || v === undefined ? 'null' : typeof v})`;
      if (!o.skipBadRecords) throw new UserError(`${reason}; pass --skip-bad-records to skip such rows`);
      if (!warned) o.warn?.(`${reason}; skipping such rows (--skip-bad-records), counted as skipped_records`);
      warned = true;
      skipped++;
    }
    if (documents > 0) o.count?.('documents', documents);
    if (skipped > 0) o.count?.('skipped_records', skipped);
    values = [];
    yield out;
    groupStart = groupEnd;
  }
}
