/**
 * read: the source stage of the byte pipelines. Streams the resolved
 * --input files (fast-glob patterns, `-` for stdin, byte ranges) with
 * `readInputs`, one input after another, as units of about `chunkBytes`;
 * the last unit of each input is marked `last`. Each unit owns its buffer.
 * Compressed, JSON Lines and Parquet inputs are decoded (`reader` options;
 * src/stages/formats/), and their units are decoded text.
 */
import type { Stage } from '../pipeline/stage.ts';
import { allPlainText, readInputs, totalSize, type InputFile, type ReaderOptions } from './read-inputs.ts';
import type { Unit } from './items.ts';

export interface ReadOptions {
  files: readonly InputFile[];
  /** Read size in bytes. */
  chunkBytes: number;
  /**
   * The reader's format options (text field, bad records, separator,
   * --force-text; src/stages/formats/). Its counters (`compressed_bytes`,
   * `decoded_bytes`, `documents`, `skipped_records`) and warnings go to the
   * stage's report.
   */
  reader?: ReaderOptions;
}

/** The read stage. */
export function readFiles(o: ReadOptions): Stage<void, Unit> {
  const total = allPlainText(o.files) ? totalSize(o.files) : -1;
  return {
    name: 'read',
    description: 'stream the --input files (fast-glob patterns, - for stdin)',
    bytesOf: (u) => u.data.length,
    ...(total > 0 ? { totalBytes: total } : {}),
    async *run(_source, ctx) {
      let seq = 0;
      const reader: ReaderOptions = { ...o.reader, count: (k, n) => ctx.count(k, n), warn: (m) => ctx.warn(m) };
      for await (const c of readInputs(o.files, o.chunkBytes, reader)) yield { seq: seq++, file: c.file, offset: c.offset, data: c.data, last: c.last };
    },
  };
}
